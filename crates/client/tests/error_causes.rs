//! `ClientError`: the sentence an operator reads (`Display`, unchanged wording) and the typed
//! cause a program reads (`source()` down to the `io::Error`, `rustls::Error` or
//! `serde_json::Error`), for real failures against real sockets.
#![allow(clippy::unwrap_used)]

mod common;

use std::error::Error as _;
use std::time::Duration;

use common::*;
use plugwire_client::error::{ErrorKind, TlsFailure};
use plugwire_client::{ClientError, ClientOptions, ExternalPlugin};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

fn options() -> ClientOptions {
    ClientOptions {
        env: env(&[]),
        ..ClientOptions::default()
    }
}

/// A server that goes away during the TLS handshake (closing the connection before any TLS
/// message: a server stopping or restarting) is a connection failure, which start-up and
/// recovery retry, not a TLS refusal, which they never retry.
#[tokio::test]
async fn a_connection_closed_during_the_tls_handshake_is_a_retried_connect_failure() {
    install_crypto();
    let pki = Pki::new();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepted = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    let counted = accepted.clone();
    let closer = tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            drop(tcp);
        }
    });
    let url = format!("https://localhost:{port}/mcp");
    let mcp = json!({"proto": "STREAMABLEHTTP", "url": url, "tls": {"ca_bundle": pki.ca()},
        "reconnect_attempts": 2, "reconnect_delay": 0.01});
    let plugin = ExternalPlugin::new(entry(mcp), &options()).unwrap();
    let err = plugin.connect().await.unwrap_err();
    assert_eq!(err.code(), "CONNECT_ERROR", "{err}");
    assert!(err.is_recoverable());
    assert!(
        err.to_string().contains("closed during the TLS handshake"),
        "{err}"
    );
    assert_eq!(
        accepted.load(std::sync::atomic::Ordering::SeqCst),
        2,
        "tried again, as a refused connect is"
    );
    closer.abort();
}

#[tokio::test]
async fn a_refused_connect_has_the_os_error_as_its_source() {
    // A port that was just free: nothing listens there.
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        l.local_addr().unwrap().port()
    };
    let url = format!("http://127.0.0.1:{port}/mcp");
    let plugin = ExternalPlugin::new(
        entry(json!({"proto": "STREAMABLEHTTP", "url": url})),
        &options(),
    )
    .unwrap();
    let err = plugin.connect().await.unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Connect { .. }), "{err:?}");
    assert_eq!(err.code(), "CONNECT_ERROR");
    assert!(err.is_recoverable());
    let io = err
        .source()
        .and_then(|s| s.downcast_ref::<std::io::Error>())
        .expect("the io::Error is the source");
    assert_eq!(io.kind(), std::io::ErrorKind::ConnectionRefused);
    assert_eq!(
        err.to_string(),
        format!(
            "external plugin 'Scrubber': cannot connect to {url}: {io} \
             (is the plugin server running? method initialize)"
        )
    );
    assert_eq!(err.context().plugin, "Scrubber");
    assert_eq!(err.context().endpoint.as_deref(), Some(url.as_str()));
}

#[tokio::test]
async fn an_unknown_ca_has_the_rustls_error_as_its_source() {
    install_crypto();
    let server_pki = Pki::new();
    // A CA of another name, which never issued the server's certificate.
    let other_ca = {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "Some Other CA");
        params.self_signed(&key).unwrap().pem()
    };
    let bundle = server_pki.dir.path().join("other-ca.crt");
    std::fs::write(&bundle, other_ca).unwrap();
    let server = start_tcp(Some(server_pki.server_config(false))).await;
    let url = format!("https://127.0.0.1:{}/mcp", server.port());
    let mcp = json!({"proto": "STREAMABLEHTTP", "url": url, "tls": {"ca_bundle": bundle}});
    let plugin = ExternalPlugin::new(entry(mcp), &options()).unwrap();
    let err = plugin.connect().await.unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Tls(_)), "{err:?}");
    assert_eq!(err.code(), "TLS_ERROR");
    assert!(!err.is_recoverable(), "TLS failures are never retried");
    let rustls_err = err
        .source()
        .and_then(|s| s.downcast_ref::<rustls::Error>())
        .expect("the rustls::Error is the source");
    assert_eq!(
        rustls_err,
        &rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer)
    );
    let ErrorKind::Tls(TlsFailure { explanation, .. }) = err.kind() else {
        unreachable!()
    };
    assert_eq!(
        err.to_string(),
        format!("external plugin 'Scrubber': TLS with {url} failed: {explanation}")
    );
    assert!(
        explanation.contains("ca_bundle"),
        "names the key: {explanation}"
    );
    server.stop().await;
}

/// Answers every HTTP request with 200 and a body that is not JSON.
async fn garbage_server() -> (u16, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 16 * 1024];
                let mut seen = Vec::new();
                while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tcp.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => seen.extend_from_slice(&buf[..n]),
                    }
                }
                let body = "<html>not json</html>";
                let answer = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                    body.len()
                );
                let _ = tcp.write_all(answer.as_bytes()).await;
            });
        }
    });
    (port, task)
}

#[tokio::test]
async fn a_garbage_answer_has_the_serde_error_as_its_source() {
    let (port, task) = garbage_server().await;
    let url = format!("http://127.0.0.1:{port}/mcp");
    let plugin = ExternalPlugin::new(
        entry(json!({"proto": "STREAMABLEHTTP", "url": url})),
        &options(),
    )
    .unwrap();
    let err = plugin.connect().await.unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Malformed { .. }), "{err:?}");
    assert_eq!(err.code(), "MALFORMED_RESPONSE");
    assert!(!err.is_recoverable());
    let json_err = err
        .source()
        .and_then(|s| s.downcast_ref::<serde_json::Error>())
        .expect("the serde_json::Error is the source");
    assert!(json_err.is_syntax(), "{json_err}");
    assert_eq!(
        err.to_string(),
        format!(
            "external plugin 'Scrubber': malformed answer from {url} to initialize: \
             body is not JSON ({json_err}); starts with <html>not json</html>"
        )
    );
    task.abort();
}

#[test]
fn every_kind_keeps_its_sentence() {
    let (p, u, m) = ("P", "http://h:1/mcp", "tools/call");
    let refused = || std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
    let cases: Vec<(ClientError, String)> = vec![
        (
            ClientError::config(p, "key `mcp.url`: missing"),
            "external plugin 'P': invalid configuration: key `mcp.url`: missing".into(),
        ),
        (
            ClientError::tls_setup(
                p,
                u,
                plugwire_client::error::Cause::Other("no such file".into()),
            ),
            "external plugin 'P': TLS settings for http://h:1/mcp: no such file".into(),
        ),
        (
            ClientError::connect(p, u, refused(), Some("(after 4 attempts)".into())),
            format!(
                "external plugin 'P': cannot connect to http://h:1/mcp: {} (after 4 attempts)",
                refused()
            ),
        ),
        (
            ClientError::spawn(p, "stdio:x", refused()),
            format!(
                "external plugin 'P': cannot connect to stdio:x: cannot start the plugin server \
                 process: {} (check mcp.script / mcp.cmd and mcp.cwd)",
                refused()
            ),
        ),
        (
            ClientError::tls(
                p,
                u,
                TlsFailure::new("unknown CA: set ca_bundle", rustls::Error::DecryptError),
            ),
            "external plugin 'P': TLS with http://h:1/mcp failed: unknown CA: set ca_bundle".into(),
        ),
        (
            ClientError::lost(p, u, "tools/call: reset", None),
            "external plugin 'P': connection to http://h:1/mcp lost: tools/call: reset".into(),
        ),
        (
            ClientError::session_lost(p, u, "s1".into(), 404),
            "external plugin 'P': http://h:1/mcp no longer knows MCP session s1 (HTTP 404)".into(),
        ),
        (
            ClientError::http_status(p, u, m, 500, "oops".into()),
            "external plugin 'P': http://h:1/mcp answered HTTP 500 to tools/call: oops".into(),
        ),
        (
            ClientError::too_large(p, u, m, 10),
            "external plugin 'P': the answer of http://h:1/mcp to tools/call exceeds the \
             10-byte limit"
                .into(),
        ),
        (
            ClientError::malformed(p, u, m, "not JSON", None),
            "external plugin 'P': malformed answer from http://h:1/mcp to tools/call: not JSON"
                .into(),
        ),
        (
            ClientError::rpc(p, u, m, -32601, "no such method".into()),
            "external plugin 'P': http://h:1/mcp answered tools/call with JSON-RPC error \
             -32601: no such method"
                .into(),
        ),
        (
            ClientError::not_plugin_server(p, u, "no invoke_hook tool", None),
            "external plugin 'P': http://h:1/mcp is not a usable plugin server: no invoke_hook \
             tool"
                .into(),
        ),
        (
            ClientError::timeout(p, u, m, Duration::from_secs(1)),
            "external plugin 'P': tools/call on http://h:1/mcp timed out after 1s".into(),
        ),
    ];
    for (err, expected) in &cases {
        assert_eq!(&err.to_string(), expected);
        let detail = expected.strip_prefix("external plugin 'P': ").unwrap();
        assert_eq!(
            err.detail(),
            detail,
            "detail is the sentence without the prefix"
        );
    }
    // The retry decisions, by kind.
    let recoverable: Vec<&str> = cases
        .iter()
        .filter(|(e, _)| e.is_recoverable())
        .map(|(e, _)| e.code())
        .collect();
    assert_eq!(
        recoverable,
        [
            "CONNECT_ERROR",
            "CONNECT_ERROR",
            "CONNECTION_LOST",
            "SESSION_LOST"
        ]
    );
    // Sources: the typed cause where there is one, none where the kind has none.
    let tls = &cases[4].0;
    assert_eq!(
        tls.source().unwrap().downcast_ref::<rustls::Error>(),
        Some(&rustls::Error::DecryptError)
    );
    assert!(
        cases[6].0.source().is_none(),
        "a forgotten session has no cause"
    );
}

/// A Unix socket path nobody serves, through each transport that uses one: a connect failure
/// (`CONNECT_ERROR`, the OS error as its source; over gRPC it used to read as a lost connection),
/// whose sentence tells a missing socket from a path that is not a socket.
#[tokio::test]
async fn an_unreachable_unix_socket_is_a_connect_failure_that_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.sock");
    let file = dir.path().join("file");
    std::fs::write(&file, b"not a socket").unwrap();
    let cases = [
        (&missing, "No such file", "no socket at this path"),
        (&file, "refused", "the path is not a socket"),
    ];
    let mut calls = Vec::new();
    for (path, os_words, hint) in cases {
        let p = path.display().to_string();
        let mcp = json!({"proto": "STREAMABLEHTTP", "url": "http://localhost/mcp", "uds": p});
        let grpc = json!({"grpc": {"uds": p}});
        let raw = json!({"unix_socket": {"path": p, "reconnect_delay": 0.01}});
        for config in [entry(mcp), external_entry(grpc), external_entry(raw)] {
            let plugin = ExternalPlugin::new(config, &options()).unwrap();
            calls.push(async move { (plugin.connect().await.unwrap_err(), os_words, hint) });
        }
    }
    for (err, os_words, hint) in futures::future::join_all(calls).await {
        assert!(matches!(err.kind(), ErrorKind::Connect { .. }), "{err:?}");
        assert_eq!(err.code(), "CONNECT_ERROR", "{err}");
        let io = err
            .source()
            .and_then(|s| s.downcast_ref::<std::io::Error>());
        assert!(io.is_some(), "the io::Error is the source: {err:?}");
        let text = err.to_string();
        assert!(text.contains("cannot connect to"), "{text}");
        assert!(text.contains(os_words) && text.contains(hint), "{text}");
    }
}

/// An external entry named `Scrubber` with `transport` (a `grpc:` or `unix_socket:` section).
fn external_entry(transport: serde_json::Value) -> plugwire_framework::PluginConfig {
    let mut config = json!({"name": "Scrubber", "kind": "external"});
    config
        .as_object_mut()
        .unwrap()
        .extend(transport.as_object().unwrap().clone());
    plugwire_framework::PluginConfig::from_json(config).unwrap()
}
