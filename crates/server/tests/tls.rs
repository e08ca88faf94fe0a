//! TLS and mTLS at the socket level: certificates from plugwire-certs (ECDSA), the server built
//! by `serve::prepare` (the same path as `plugwire serve`), a client built by plugwire-tls.
//! The full refusal matrix is covered in memory by plugwire-tls; here: real sockets, the
//! health port, plaintext on the TLS port, a silent client, and the log lines.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashMap;
use std::sync::Arc;

use common::*;
use http::{Method, StatusCode};
use plugwire_certs::{issue, issue_all, Layout, Options, Request};
use plugwire_server::serve::{self, ServeOptions};
use plugwire_tls::{build_client_config, resolve_client_tls, ClientTlsLayer};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio_rustls::TlsConnector;

struct TlsServer {
    addr: std::net::SocketAddr,
    health: std::net::SocketAddr,
    stop: oneshot::Sender<()>,
    handle: tokio::task::JoinHandle<()>,
}

impl TlsServer {
    async fn stop(self) {
        let _ = self.stop.send(());
        self.handle.await.unwrap();
    }
}

/// Starts a TLS server on 127.0.0.1:0 (+ its health port on another port 0).
async fn start_tls(l: &Layout, reqs: i64) -> TlsServer {
    start_tls_with(l, reqs, Arc::new(FakeBackend)).await
}

async fn start_tls_with(
    l: &Layout,
    reqs: i64,
    backend: Arc<dyn plugwire_server::Backend>,
) -> TlsServer {
    start_tls_opts(l, reqs, backend, ServeOptions::default()).await
}

async fn start_tls_opts(
    l: &Layout,
    reqs: i64,
    backend: Arc<dyn plugwire_server::Backend>,
    opts: ServeOptions,
) -> TlsServer {
    let env: HashMap<&str, &str> = HashMap::new();
    let prepared = serve::prepare(Some(&server_yaml(l, reqs)), &env).unwrap();
    let (bound, addr, health_addr) = tls_ports::bind_mcp(&prepared).await;
    let desc = bound.describe();
    assert!(desc.contains(&format!("https://{addr}/mcp")), "{desc}");
    assert!(
        desc.contains(&format!("http://{health_addr}/health")),
        "{desc}"
    );
    let (tx, rx) = oneshot::channel::<()>();
    let handle = tokio::spawn(async move {
        bound
            .serve(backend, &opts, async move {
                let _ = rx.await;
            })
            .await
    });
    TlsServer {
        addr,
        health: health_addr,
        stop: tx,
        handle,
    }
}

/// A kept-alive HTTP connection over TLS.
async fn tls_conn(addr: std::net::SocketAddr, c: &TlsConnector) -> Conn {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let tls = c.connect(name, tcp).await.unwrap();
    Conn::over(tls, &format!("localhost:{}", addr.port())).await
}

/// One tools/list over TLS; `Err` with the error text when the handshake or request fails.
async fn tls_call(addr: std::net::SocketAddr, c: &TlsConnector) -> Result<Reply, String> {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let tls = c.connect(name, tcp).await.map_err(|e| e.to_string())?;
    let mut conn = Conn::over(tls, &format!("localhost:{}", addr.port())).await;
    let body = serde_json::to_vec(&json!({"jsonrpc":"2.0","id":1,"method":"tools/list"})).unwrap();
    conn.send(Method::POST, "/mcp", &[], body)
        .await
        .map_err(|e| e.to_string())
}

#[tokio::test]
async fn mtls_required_serves_the_gateway_and_refuses_others() {
    let logs = Logs::global();
    let dir = tempfile::tempdir().unwrap();
    let l = certs(dir.path());
    let srv = start_tls(&l, 2).await;
    let gw = l.gateway();

    // The gateway identity works.
    let ok = tls_client(&l.ca_cert(), Some((&gw.cert, &gw.key)), b"");
    let r = tls_call(srv.addr, &ok).await.unwrap();
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["result"]["tools"].as_array().unwrap().len(), 3);
    let text = logs.text();
    assert!(text.contains("TLS handshake ok"), "{text}");
    assert!(text.contains("client_subject"), "{text}");

    // No client certificate: refused, and the log says why.
    let none = tls_client(&l.ca_cert(), None, b"");
    assert!(tls_call(srv.addr, &none).await.is_err());
    let text = logs.text();
    assert!(text.contains("sent no certificate"), "{text}");

    // A gateway certificate from another CA.
    let other_dir = tempfile::tempdir().unwrap();
    let other = certs(other_dir.path());
    let og = other.gateway();
    let foreign = tls_client(&l.ca_cert(), Some((&og.cert, &og.key)), b"");
    assert!(tls_call(srv.addr, &foreign).await.is_err());
    // Same CA name, different key: webpki reports a bad signature (an unrelated CA name gives
    // "unknown issuer"); either way the log names the refused certificate.
    let text = logs.text();
    assert!(
        text.contains("bad signature") || text.contains("unknown issuer"),
        "{text}"
    );

    // An expired gateway certificate from the right CA.
    let exp_dir = tempfile::tempdir().unwrap();
    let exp = gateway_with(&l, exp_dir.path(), &expired()).gateway();
    let expired = tls_client(&l.ca_cert(), Some((&exp.cert, &exp.key)), b"");
    assert!(tls_call(srv.addr, &expired).await.is_err());
    assert!(logs.text().contains("expired"), "{}", logs.text());

    // A plugin's server-only certificate used as a client certificate.
    let p = l.plugin("alpha");
    let wrong_eku = tls_client(&l.ca_cert(), Some((&p.cert, &p.key)), b"");
    assert!(tls_call(srv.addr, &wrong_eku).await.is_err());
    assert!(logs.text().contains("clientAuth"), "{}", logs.text());

    // Plaintext HTTP to the TLS port: a clear 400, never served.
    let mut tcp = TcpStream::connect(srv.addr).await.unwrap();
    tcp.write_all(b"GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    tcp.read_to_end(&mut buf).await.unwrap();
    let reply = String::from_utf8_lossy(&buf);
    assert!(reply.starts_with("HTTP/1.1 400"), "{reply}");
    assert!(reply.contains("HTTPS only"), "{reply}");
    assert!(!reply.contains("healthy"));
    assert!(logs.text().contains("plaintext HTTP"), "{}", logs.text());

    // The plain health port needs no certificate; it keeps Python's `status` and reports the
    // TLS port's certificate.
    let mut c = Conn::tcp(srv.health).await;
    let r = c.send(Method::GET, "/health", &[], "").await.unwrap();
    assert_eq!(r.status, StatusCode::OK);
    let h = r.json();
    assert_eq!(h["status"], "healthy", "{h}");
    assert_eq!(h["certificate"]["state"], "valid", "{h}");
    assert!(h["certificate"]["days_left"].as_i64().unwrap() > 800, "{h}");
    let r = c
        .send(
            Method::POST,
            "/mcp",
            &[],
            r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#,
        )
        .await
        .unwrap();
    assert_eq!(
        r.status,
        StatusCode::NOT_FOUND,
        "health port serves /health only"
    );

    // Still serving the gateway after all that.
    assert_eq!(
        tls_call(srv.addr, &ok).await.unwrap().status,
        StatusCode::OK
    );
    srv.stop().await;
}

/// `/health` reports the certificate in use on both ports: valid with its days left, and an
/// expired one as `expired` (the server starts with a WARN, and keeps `status: healthy` and 200
/// so a liveness probe does not restart-loop over something a restart cannot fix).
#[tokio::test]
async fn health_reports_the_certificate_validity() {
    let dir = tempfile::tempdir().unwrap();
    let l = certs(dir.path());
    let srv = start_tls(&l, 1).await;
    let mut c = tls_conn(srv.addr, &tls_client(&l.ca_cert(), None, b"")).await;
    let r = c.send(Method::GET, "/health", &[], "").await.unwrap();
    let h = r.json();
    assert_eq!(h["status"], "healthy", "{h}");
    assert_eq!(h["certificate"]["state"], "valid", "{h}");
    let not_after = h["certificate"]["not_after"].as_str().unwrap();
    assert!(not_after.ends_with('Z') && not_after.contains('T'), "{h}");
    srv.stop().await;

    let exp_dir = tempfile::tempdir().unwrap();
    let past = time::OffsetDateTime::now_utc() - time::Duration::days(30);
    let expired = Options {
        not_before: Some(past),
        days: 2,
        ..Options::ecdsa().with_sans(&["IP:127.0.0.1"])
    };
    issue_all(exp_dir.path(), &["alpha"], &expired).unwrap();
    let srv = start_tls(&Layout::new(exp_dir.path()), 1).await;
    let mut c = Conn::tcp(srv.health).await;
    let r = c.send(Method::GET, "/health", &[], "").await.unwrap();
    assert_eq!(r.status, StatusCode::OK);
    let h = r.json();
    assert_eq!(h["status"], "healthy", "{h}");
    assert_eq!(h["certificate"]["state"], "expired", "{h}");
    assert!(h["certificate"]["days_left"].as_i64().unwrap() < -20, "{h}");
    srv.stop().await;
}

#[tokio::test]
async fn optional_and_no_client_auth() {
    let dir = tempfile::tempdir().unwrap();
    let l = certs(dir.path());
    let gw = l.gateway();
    let other_dir = tempfile::tempdir().unwrap();
    let og = certs(other_dir.path()).gateway();

    let srv = start_tls(&l, 1).await;
    let none = tls_client(&l.ca_cert(), None, b"");
    assert_eq!(
        tls_call(srv.addr, &none).await.unwrap().status,
        StatusCode::OK
    );
    let ok = tls_client(&l.ca_cert(), Some((&gw.cert, &gw.key)), b"");
    assert_eq!(
        tls_call(srv.addr, &ok).await.unwrap().status,
        StatusCode::OK
    );
    // Optional still verifies a certificate that is sent.
    let foreign = tls_client(&l.ca_cert(), Some((&og.cert, &og.key)), b"");
    assert!(tls_call(srv.addr, &foreign).await.is_err());
    srv.stop().await;

    let srv = start_tls(&l, 0).await;
    assert_eq!(
        tls_call(srv.addr, &none).await.unwrap().status,
        StatusCode::OK
    );
    srv.stop().await;
}

#[tokio::test]
async fn a_silent_client_does_not_block_others() {
    let dir = tempfile::tempdir().unwrap();
    let l = certs(dir.path());
    let srv = start_tls(&l, 2).await;
    let gw = l.gateway();
    // Connect and say nothing (and a half-sent ClientHello); the accept loop goes on.
    let _silent = TcpStream::connect(srv.addr).await.unwrap();
    let mut half = TcpStream::connect(srv.addr).await.unwrap();
    half.write_all(&[0x16, 0x03, 0x01]).await.unwrap();
    let ok = tls_client(&l.ca_cert(), Some((&gw.cert, &gw.key)), b"");
    for _ in 0..3 {
        assert_eq!(
            tls_call(srv.addr, &ok).await.unwrap().status,
            StatusCode::OK
        );
    }
    srv.stop().await;
}

#[tokio::test]
async fn python_style_client_pem_bundle_works() {
    // The gateway's client.pem holds cert + key (what the Python client loads with keyfile unset).
    let dir = tempfile::tempdir().unwrap();
    let l = certs(dir.path());
    let srv = start_tls(&l, 2).await;
    let bundle = l.gateway().bundle.unwrap();
    let env: HashMap<&str, &str> = HashMap::new();
    let layer = ClientTlsLayer {
        certfile: Some(bundle),
        ca_bundle: Some(l.ca_cert()),
        ..Default::default()
    };
    let settings = resolve_client_tls(Some(&layer), &env).unwrap().unwrap();
    let c = TlsConnector::from(build_client_config(&settings).unwrap());
    assert_eq!(tls_call(srv.addr, &c).await.unwrap().status, StatusCode::OK);
    srv.stop().await;
}

#[tokio::test]
async fn python_captures_replay_over_mtls() {
    let dir = tempfile::tempdir().unwrap();
    let l = certs(dir.path());
    let srv = start_tls_with(&l, 2, peer_backend().await).await;
    let gw = l.gateway();
    let ok = tls_client(&l.ca_cert(), Some((&gw.cert, &gw.key)), b"");
    let mut conn = tls_conn(srv.addr, &ok).await;
    for (name, req, theirs) in replay_pairs() {
        let r = conn.rpc(req).await;
        assert_eq!(r.status, StatusCode::OK, "{name}");
        assert_same_answer(&name, &r.json(), &theirs);
    }
    srv.stop().await;
}

/// The server certificate a fresh connection is given.
async fn served_cert(addr: std::net::SocketAddr, c: &TlsConnector) -> Vec<u8> {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let tls = c.connect(name, tcp).await.unwrap();
    tls.get_ref().1.peer_certificates().unwrap()[0].to_vec()
}

#[tokio::test]
async fn rotated_certificate_files_are_used_without_restart() {
    let dir = tempfile::tempdir().unwrap();
    let l = certs(dir.path());
    let opts = ServeOptions {
        cert_reload_interval: std::time::Duration::from_millis(20),
        ..ServeOptions::default()
    };
    let srv = start_tls_opts(&l, 2, Arc::new(FakeBackend), opts).await;
    let gw = l.gateway();
    let c = tls_client(&l.ca_cert(), Some((&gw.cert, &gw.key)), b"");
    let before = served_cert(srv.addr, &c).await;
    let mut kept = Conn::over(
        {
            let tcp = TcpStream::connect(srv.addr).await.unwrap();
            let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
            c.connect(name, tcp).await.unwrap()
        },
        "localhost",
    )
    .await;

    // Rotate the plugin certificate in place (same CA), as cert-manager or `--force` does.
    let force = Options {
        force: true,
        ..Options::ecdsa().with_sans(&["IP:127.0.0.1"])
    };
    issue(dir.path(), &Request::plugin("alpha"), &force, &()).unwrap();
    let mut rotated = false;
    for _ in 0..500 {
        if served_cert(srv.addr, &c).await != before {
            rotated = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(rotated, "new connections never got the rotated certificate");
    // A connection opened before the rotation keeps working.
    let r = kept
        .post(r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    srv.stop().await;
}
