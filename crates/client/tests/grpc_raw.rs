//! gRPC and raw Unix-socket transports end to end: plugwire's servers (crates/server) against
//! plugwire's clients, over TLS, mTLS and Unix sockets, both package names, both health
//! services, bad frames, restarts, and the same answers as the backend gives MCP.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{install_crypto, server_manager, Pki, Running};
use plugwire_client::error::ErrorKind;
use plugwire_client::grpc::{GrpcClient, GrpcOptions, GrpcTarget};
use plugwire_client::identity::{Alpn, ReloadingConnector};
use plugwire_client::raw_socket::{RawSocketClient, RawSocketOptions};
use plugwire_client::{ClientError, ClientOptions, ExternalPlugin, Remote};
use plugwire_framework::{HookPayload, Plugin, PluginConfig};
use plugwire_grpc::Era;
use plugwire_mcp::{InvokeHookArgs, InvokeHookResponse};
use plugwire_server::{Backend, ConnLimits, ManagerBackend};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::oneshot;

async fn backend() -> Arc<dyn Backend> {
    Arc::new(ManagerBackend::new(server_manager().await))
}

async fn grpc_tls(listener: tokio::net::TcpListener, tls: Arc<rustls::ServerConfig>) -> Running {
    let backend = backend().await;
    let (stop, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        plugwire_server::grpc::run_tls(
            listener,
            tls.into(),
            backend,
            ConnLimits::default(),
            async {
                let _ = rx.await;
            },
        )
        .await
        .unwrap();
    });
    Running { stop, task }
}

async fn grpc_unix(path: &std::path::Path) -> Running {
    let listener = plugwire_server::raw_socket::bind_unix_0600(path, "test").unwrap();
    let backend = backend().await;
    let (stop, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        plugwire_server::grpc::run_unix(listener, backend, ConnLimits::default(), async {
            let _ = rx.await;
        })
        .await
        .unwrap();
    });
    Running { stop, task }
}

async fn raw_server(path: &std::path::Path) -> Running {
    let listener = plugwire_server::raw_socket::bind_unix_0600(path, "test").unwrap();
    let backend = backend().await;
    let (stop, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let opts = plugwire_server::raw_socket::RawSocketOptions::default();
        plugwire_server::raw_socket::run(listener, backend, opts, async {
            let _ = rx.await;
        })
        .await;
    });
    Running { stop, task }
}

fn roots(ca: &std::path::Path) -> rustls::RootCertStore {
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(ca).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    roots
}

/// A gateway config trusting `trust`'s CA, presenting `pki`'s gateway certificate if `cert`.
fn client_config(pki: &Pki, trust: &Pki, cert: bool) -> Arc<rustls::ClientConfig> {
    let b = rustls::ClientConfig::builder().with_root_certificates(roots(&trust.layout.ca_cert()));
    let c = if cert {
        let certs = CertificateDer::pem_file_iter(&pki.layout.gateway().cert)
            .unwrap()
            .map(|c| c.unwrap())
            .collect();
        let key = PrivateKeyDer::from_pem_file(&pki.layout.gateway().key).unwrap();
        b.with_client_auth_cert(certs, key).unwrap()
    } else {
        b.with_no_client_auth()
    };
    Arc::new(c)
}

fn tls_client(
    addr: std::net::SocketAddr,
    config: Arc<rustls::ClientConfig>,
    era: Era,
) -> GrpcClient {
    GrpcClient::new(
        "Scrubber",
        GrpcOptions {
            target: GrpcTarget::Tls {
                target: addr.to_string(),
                connector: ReloadingConnector::fixed("Scrubber", config, Alpn::H2),
                server_name: ServerName::try_from("127.0.0.1".to_string()).unwrap(),
            },
            era,
            timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(5),
        },
    )
    .unwrap()
}

fn args(q: &str) -> InvokeHookArgs {
    let Value::Object(payload) = json!({"name": "search", "args": {"q": q, "n": 3, "ratio": 0.5}})
    else {
        unreachable!()
    };
    let Value::Object(context) = json!({
        "state": {}, "metadata": {},
        "global_context": {"request_id": "r1", "user": "alice", "state": {"k": 1}, "metadata": {}}
    }) else {
        unreachable!()
    };
    InvokeHookArgs {
        hook_type: "tool_pre_invoke".into(),
        plugin_name: "Scrubber".into(),
        payload,
        context,
    }
}

/// The answer the backend gives MCP for the same arguments, as JSON, reduced to what the proto
/// carries: the result or error whole, and the three context maps the gateway applies
/// (`user_context` and `content_type` have no proto field).
async fn mcp_answer(a: &InvokeHookArgs) -> Value {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": {"name": "invoke_hook", "arguments": a.to_arguments()}});
    let body = serde_json::to_vec(&body).unwrap();
    let reply = plugwire_server::dispatch::answer_invoke_hook(&backend().await, &body)
        .await
        .expect("an invoke_hook call");
    let reply: Value = serde_json::from_slice(&reply).unwrap();
    let text = reply["result"]["content"][0]["text"].as_str().unwrap();
    comparable(serde_json::from_str(text).unwrap())
}

fn comparable(answer: Value) -> Value {
    let ctx = &answer["context"];
    json!({
        "plugin_name": answer["plugin_name"],
        "result": answer["result"],
        "error": answer["error"],
        "state": ctx["state"],
        "metadata": ctx["metadata"],
        "global_state": ctx["global_context"]["state"],
    })
}

async fn answer_of(
    fut: impl std::future::Future<Output = Result<InvokeHookResponse, ClientError>>,
) -> Value {
    comparable(serde_json::to_value(fut.await.unwrap()).unwrap())
}

/// Every method through a gRPC client, checked against the backend's MCP answer.
async fn every_grpc_method(c: &GrpcClient) {
    let config = c.get_plugin_config("scrubber").await.unwrap().unwrap();
    assert_eq!(config["name"], json!("Scrubber"));
    assert_eq!(
        config["priority"],
        json!(50),
        "integers come back as integers"
    );
    assert!(c.get_plugin_config("Nope").await.unwrap().is_none());
    assert_eq!(c.get_plugin_configs().await.unwrap().len(), 1);
    let a = args("crap");
    let answer = answer_of(c.invoke_hook(a.clone())).await;
    assert_eq!(
        answer["result"]["modified_payload"]["args"]["q"],
        json!("crud")
    );
    assert!(
        answer["result"]["modified_payload"]["args"]["n"].is_i64(),
        "3 stays 3"
    );
    assert_eq!(answer["state"]["calls"], json!(1));
    assert_eq!(answer, mcp_answer(&a).await);
    let blocked = answer_of(c.invoke_hook(args("forbidden"))).await;
    assert_eq!(
        blocked["result"]["violation"]["code"],
        json!("PROHIBITED_CONTENT")
    );
    assert_eq!(blocked, mcp_answer(&args("forbidden")).await);
    assert!(c.health().await.unwrap());
}

async fn standard_health(c: &GrpcClient) -> i32 {
    let mut h = tonic_health::pb::health_client::HealthClient::new(c.channel());
    h.check(tonic_health::pb::HealthCheckRequest {
        service: String::new(),
    })
    .await
    .unwrap()
    .into_inner()
    .status
}

#[tokio::test]
async fn grpc_mtls_serves_every_method_under_both_packages_and_both_health_services() {
    install_crypto();
    let pki = Pki::new();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let srv = grpc_tls(listener, pki.server_config(true)).await;
    for era in [Era::Cpex, Era::Mcpgateway] {
        let c = tls_client(addr, client_config(&pki, &pki, true), era);
        every_grpc_method(&c).await;
        assert_eq!(standard_health(&c).await, 1, "grpc.health.v1 SERVING");
    }
    srv.stop().await;
}

#[tokio::test]
async fn grpc_tls_without_client_auth_and_over_a_unix_socket() {
    install_crypto();
    let pki = Pki::new();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let srv = grpc_tls(listener, pki.server_config(false)).await;
    every_grpc_method(&tls_client(
        addr,
        client_config(&pki, &pki, false),
        Era::Cpex,
    ))
    .await;
    srv.stop().await;

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("grpc.sock");
    let srv = grpc_unix(&path).await;
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    for era in [Era::Cpex, Era::Mcpgateway] {
        let c = GrpcClient::new(
            "Scrubber",
            GrpcOptions {
                target: GrpcTarget::Unix(path.clone()),
                era,
                timeout: Duration::from_secs(10),
                connect_timeout: Duration::from_secs(5),
            },
        )
        .unwrap();
        every_grpc_method(&c).await;
        assert_eq!(standard_health(&c).await, 1);
    }
    srv.stop().await;
}

#[tokio::test]
async fn grpc_refusals() {
    install_crypto();
    let pki = Pki::new();
    let foreign = Pki::new();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let srv = grpc_tls(listener, pki.server_config(true)).await;
    // Each refusal is a TLS error that says what to fix, never retried. No client certificate
    // where one is required: the server's alert may meet the client's first write (a broken
    // pipe) or its first read, so several fresh clients try.
    for _ in 0..12 {
        let c = tls_client(addr, client_config(&pki, &pki, false), Era::Cpex);
        let text = refused_by_tls(&c).await;
        assert!(
            text.contains("requires a client certificate (mTLS)"),
            "{text}"
        );
    }
    // A client certificate from a CA the server does not trust.
    let c = tls_client(addr, client_config(&foreign, &pki, true), Era::Cpex);
    let text = refused_by_tls(&c).await;
    assert!(text.contains("refused our client certificate"), "{text}");
    // A server certificate from a CA the client does not trust.
    let c = tls_client(addr, client_config(&pki, &foreign, true), Era::Cpex);
    let text = refused_by_tls(&c).await;
    assert!(text.contains("certificate does not verify"), "{text}");
    // Plaintext HTTP/2 to the TLS port.
    let c = GrpcClient::new(
        "Scrubber",
        GrpcOptions {
            target: GrpcTarget::Plain {
                target: addr.to_string(),
            },
            era: Era::Cpex,
            timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(5),
        },
    )
    .unwrap();
    // The TLS port closes or answers with an alert: the message points at TLS.
    let err = c.get_plugin_config("Scrubber").await.unwrap_err();
    assert!(err.to_string().contains("if this port serves TLS"), "{err}");
    // (A TLS 1.1-only ClientHello, and the server's log and metric of each refusal:
    // crates/server/tests/grpc_refusals.rs.)
    // The server still serves a good client afterwards.
    every_grpc_method(&tls_client(
        addr,
        client_config(&pki, &pki, true),
        Era::Cpex,
    ))
    .await;
    srv.stop().await;

    // An expired server certificate.
    let mut old = plugwire_certs::Options::ecdsa().with_sans(&["IP:127.0.0.1"]);
    old.not_before = Some(time::OffsetDateTime::now_utc() - time::Duration::days(30));
    old.days = 2;
    let old = Pki::with(old);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let srv = grpc_tls(listener, old.server_config(true)).await;
    let c = tls_client(addr, client_config(&old, &old, true), Era::Cpex);
    let text = refused_by_tls(&c).await;
    assert!(text.contains("expired"), "{text}");
    srv.stop().await;
}

/// The explanation of the TLS failure a call through `c` ends with (asserting it is one, and
/// that the call was not sent again).
async fn refused_by_tls(c: &GrpcClient) -> String {
    let err = c.get_plugin_config("Scrubber").await.unwrap_err();
    let ErrorKind::Tls(failure) = err.kind() else {
        panic!("not a TLS error: {err}");
    };
    assert_eq!(c.retries(), 0, "a refused certificate was retried: {err}");
    failure.explanation.clone()
}

#[tokio::test]
async fn grpc_missing_fields_get_a_status_not_a_panic() {
    install_crypto();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("grpc.sock");
    let srv = grpc_unix(&path).await;
    let c = GrpcClient::new(
        "Scrubber",
        GrpcOptions {
            target: GrpcTarget::Unix(path.clone()),
            era: Era::Cpex,
            timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(5),
        },
    )
    .unwrap();
    let mut a = args("x");
    a.plugin_name.clear();
    let err = c.invoke_hook(a.clone()).await.unwrap_err();
    assert!(err.to_string().contains("plugin_name"), "{err}");
    every_grpc_method(&c).await;
    srv.stop().await;
}

fn raw_client(path: &std::path::Path) -> RawSocketClient {
    let mut o = RawSocketOptions::new(path);
    o.reconnect_delay = Duration::from_millis(20);
    RawSocketClient::new("Scrubber", o)
}

#[tokio::test]
async fn raw_socket_every_method_and_same_answers_as_mcp() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("raw.sock");
    let srv = raw_server(&path).await;
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let c = raw_client(&path);
    let config = c.get_plugin_config("Scrubber").await.unwrap().unwrap();
    assert_eq!(config["priority"], json!(50));
    assert!(c.get_plugin_config("Nope").await.unwrap().is_none());
    assert_eq!(c.get_plugin_configs().await.unwrap().len(), 1);
    for q in ["crap", "forbidden", "fine"] {
        let a = args(q);
        assert_eq!(
            answer_of(c.invoke_hook(a.clone())).await,
            mcp_answer(&a).await,
            "{q}"
        );
    }
    assert_eq!(c.connects(), 1, "one kept connection for sequential calls");
    srv.stop().await;
}

#[tokio::test]
async fn raw_socket_bad_frames_close_only_that_connection() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("raw.sock");
    let srv = raw_server(&path).await;
    let good = raw_client(&path);
    assert!(good.get_plugin_config("Scrubber").await.unwrap().is_some());
    // Oversized: 16 MiB + 1 announced.
    let mut s = tokio::net::UnixStream::connect(&path).await.unwrap();
    s.write_all(&(16 * 1024 * 1024 + 1u32).to_be_bytes())
        .await
        .unwrap();
    let mut buf = [0u8; 8];
    assert_eq!(s.read(&mut buf).await.unwrap(), 0, "closed");
    // Garbage that is no protobuf message.
    let mut s = tokio::net::UnixStream::connect(&path).await.unwrap();
    s.write_all(&[0, 0, 0, 8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff])
        .await
        .unwrap();
    assert_eq!(s.read(&mut buf).await.unwrap(), 0, "closed");
    // A valid message of no known shape is answered, not closed.
    let mut s = tokio::net::UnixStream::connect(&path).await.unwrap();
    let odd = plugwire_grpc::pb::cpex::InvokeHookRequest {
        plugin_name: "Plugin".into(),
        ..Default::default()
    };
    s.write_all(&plugwire_grpc::frame::encode(&odd).unwrap())
        .await
        .unwrap();
    let mut header = [0u8; 4];
    s.read_exact(&mut header).await.unwrap();
    let mut body = vec![0u8; u32::from_be_bytes(header) as usize];
    s.read_exact(&mut body).await.unwrap();
    let r: plugwire_grpc::pb::cpex::InvokeHookResponse =
        plugwire_grpc::frame::decode(&body, "InvokeHookResponse").unwrap();
    assert_eq!(r.error.unwrap().code, "UNKNOWN_MESSAGE");
    // The good client's kept connection still works.
    assert!(good.get_plugin_config("Scrubber").await.unwrap().is_some());
    assert_eq!(good.connects(), 1);
    srv.stop().await;
}

#[tokio::test]
async fn raw_socket_refuses_a_path_that_is_not_a_socket() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("file");
    std::fs::write(&path, b"x").unwrap();
    let err =
        plugwire_server::raw_socket::bind_unix_0600(&path, "PLUGINS_UNIX_SOCKET_PATH").unwrap_err();
    assert!(
        err.to_string().contains("PLUGINS_UNIX_SOCKET_PATH"),
        "{err}"
    );
}

#[tokio::test]
async fn raw_socket_client_survives_a_restart_and_times_out_without_desync() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("raw.sock");
    let srv = raw_server(&path).await;
    let c = raw_client(&path);
    assert!(c.invoke_hook(args("crap")).await.unwrap().result.is_some());
    srv.stop().await;
    // The stale socket file of the stopped server is replaced.
    let srv = raw_server(&path).await;
    let a = args("crap");
    assert_eq!(
        answer_of(c.invoke_hook(a.clone())).await,
        mcp_answer(&a).await
    );
    assert_eq!(c.connects(), 2);
    // And no retry: the stopped server's drain closed the kept connection before `stop`
    // returned, and this (current-thread) runtime polled its I/O driver before the test went on,
    // so the check before use read the EOF and the request was written once, on a new
    // connection. Had the check missed it, the write would have failed with a broken pipe
    // (not sent) and the call been retried once: 1.
    assert_eq!(c.retries(), 0, "the restart cost a reconnect, not a retry");
    srv.stop().await;

    // A server that never answers: the call times out and its connection is dropped.
    let silent_path = dir.path().join("silent.sock");
    let silent = tokio::net::UnixListener::bind(&silent_path).unwrap();
    let hold = tokio::spawn(async move {
        let mut kept = Vec::new();
        while let Ok((s, _)) = silent.accept().await {
            kept.push(s);
        }
    });
    let mut o = RawSocketOptions::new(&silent_path);
    o.timeout = Duration::from_millis(100);
    let c = RawSocketClient::new("Scrubber", o);
    let err = c.invoke_hook(args("x")).await.unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Timeout { .. }), "{err}");
    let _ = c.invoke_hook(args("x")).await.unwrap_err();
    assert_eq!(c.connects(), 2, "a timed-out connection is never reused");
    assert_eq!(c.retries(), 0, "a timed-out hook is not sent again");
    hold.abort();
}

#[tokio::test]
async fn grpc_client_survives_a_server_restart() {
    install_crypto();
    let pki = Pki::new();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let srv = grpc_tls(listener, pki.server_config(true)).await;
    let c = tls_client(addr, client_config(&pki, &pki, true), Era::Cpex);
    assert!(c.invoke_hook(args("crap")).await.unwrap().result.is_some());
    srv.stop().await;
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    let srv = grpc_tls(listener, pki.server_config(true)).await;
    let a = args("crap");
    assert_eq!(
        answer_of(c.invoke_hook(a.clone())).await,
        mcp_answer(&a).await
    );
    // No retry: the server's drain sent `GOAWAY` to the idle kept connection, h2 closes an idle
    // connection on `GOAWAY`, and the server's side (so `stop`) ended only once the client had
    // answered it, in the same poll of the client's connection task that marked it closed. The
    // call above therefore opened a new connection at once. A call on a connection that had
    // read the `GOAWAY` but was not yet marked closed would fail "before sending"
    // (`UNAVAILABLE`) and be retried: 1.
    assert_eq!(c.retries(), 0, "the restart cost a reconnect, not a retry");
    srv.stop().await;
}

/// A server that is not there gets one connect sequence (1 + 3 attempts), not a second one from
/// the call's retry of `UNAVAILABLE`, and the words say how many attempts were made.
#[tokio::test]
async fn an_absent_grpc_server_gets_one_connect_sequence() {
    let dir = tempfile::tempdir().unwrap();
    let c = GrpcClient::new(
        "Scrubber",
        GrpcOptions {
            target: GrpcTarget::Unix(dir.path().join("absent.sock")),
            era: Era::Cpex,
            timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(5),
        },
    )
    .unwrap();
    let err = c.invoke_hook(args("crap")).await.unwrap_err();
    assert_eq!(err.code(), "CONNECT_ERROR", "{err}");
    assert!(err.to_string().contains("after 4 attempts"), "{err}");
    assert_eq!(c.retries(), 0, "the connect sequence was run twice: {err}");
}

fn external_entry() -> PluginConfig {
    // No local `hooks`: they must come from the server's config (the merge).
    PluginConfig::from_json(json!({"name": "Scrubber", "kind": "external"})).unwrap()
}

#[tokio::test]
async fn external_plugin_over_grpc_and_raw_socket_merges_the_remote_config() {
    install_crypto();
    let dir = tempfile::tempdir().unwrap();
    let raw_path = dir.path().join("raw.sock");
    let grpc_path = dir.path().join("grpc.sock");
    let raw = raw_server(&raw_path).await;
    let grpc = grpc_unix(&grpc_path).await;
    let remotes = [
        Remote::RawSocket(raw_client(&raw_path)),
        Remote::Grpc(
            GrpcClient::new(
                "Scrubber",
                GrpcOptions {
                    target: GrpcTarget::Unix(grpc_path.clone()),
                    era: Era::Mcpgateway,
                    timeout: Duration::from_secs(10),
                    connect_timeout: Duration::from_secs(5),
                },
            )
            .unwrap(),
        ),
    ];
    for remote in remotes {
        let plugin =
            ExternalPlugin::with_remote(external_entry(), remote, &ClientOptions::default())
                .unwrap();
        plugin.initialize().await.unwrap();
        assert_eq!(
            plugin.config().hooks.len(),
            1,
            "hooks merged from the server"
        );
        assert_eq!(plugin.config().priority, 50);
        let mut ctx = common::ctx("r1");
        let payload: HookPayload = common::tool_payload("crap");
        let result = plugin.invoke(payload, &mut ctx).await.unwrap();
        let modified = serde_json::to_value(&result.modified_payload).unwrap();
        assert!(modified.to_string().contains("crud"), "{modified}");
        assert_eq!(
            ctx.state["calls"],
            json!(1),
            "the returned context is applied"
        );
        plugin.shutdown().await;
    }
    raw.stop().await;
    grpc.stop().await;
}
