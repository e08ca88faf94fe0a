//! The harness against the in-process limit server over real loopback sockets: the generator
//! keeps its connections, counts them, checks every answer, and measures handshakes.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use bytes::Bytes;
use plugwire_bench::load::{self, LoadSpec, Target};
use plugwire_bench::payload::RequestTemplate;
use plugwire_bench::{certgen, limit, tlsfiles};

async fn start_limit(
    dir: &std::path::Path,
    answer: Bytes,
) -> (Arc<Target>, tokio::sync::oneshot::Sender<()>) {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let certs = certgen::generate(dir, "bench-plugin").unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tlsfiles::server_config(&certs.plugin()).unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(limit::serve(listener, server, answer, async {
        let _ = rx.await;
    }));
    let client = tlsfiles::client_config(&certs.gateway()).unwrap();
    (Arc::new(Target::new(addr, "localhost", "/mcp", client)), tx)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kept_alive_connections_are_one_per_worker() {
    let dir = tempfile::tempdir().unwrap();
    let (target, _stop) = start_limit(dir.path(), limit::fixed_answer()).await;
    let session = target.open_session().await.unwrap();
    assert!(session.id.is_none());
    let spec = LoadSpec {
        concurrency: 4,
        calls: 200,
        new_connection_per_call: false,
        warmup_per_worker: 1,
    };
    let r = load::run(
        target.clone(),
        session,
        RequestTemplate::invoke_hook(),
        spec,
        Some(std::process::id()),
    )
    .await;
    assert_eq!(r.errors, 0, "{:?}", r.first_error);
    assert_eq!(r.latencies.len(), 200);
    assert_eq!(r.connections, 4);
    assert!(r.p50() <= r.p99());
    assert!(r.server_cpu.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_connection_per_call_opens_one_per_call() {
    let dir = tempfile::tempdir().unwrap();
    let (target, _stop) = start_limit(dir.path(), limit::fixed_answer()).await;
    let spec = LoadSpec {
        concurrency: 2,
        calls: 20,
        new_connection_per_call: true,
        warmup_per_worker: 0,
    };
    let r = load::run(
        target,
        Default::default(),
        RequestTemplate::invoke_hook(),
        spec,
        None,
    )
    .await;
    assert_eq!(r.errors, 0, "{:?}", r.first_error);
    assert_eq!(r.connections, 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_answer_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let (target, _stop) = start_limit(
        dir.path(),
        Bytes::from_static(b"{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}"),
    )
    .await;
    let spec = LoadSpec {
        concurrency: 1,
        calls: 5,
        new_connection_per_call: false,
        warmup_per_worker: 0,
    };
    let r = load::run(
        target,
        Default::default(),
        RequestTemplate::invoke_hook(),
        spec,
        None,
    )
    .await;
    assert_eq!(r.errors, 5);
    assert!(r.first_error.unwrap().contains("unexpected answer"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limit_server_binary_is_measured_from_outside() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let certs = certgen::generate(dir.path(), "bench-plugin").unwrap();
    let exe = std::path::Path::new(env!("CARGO_BIN_EXE_plugwire-bench"));
    let mut server = plugwire_bench::procs::Server::start_limit(exe, &certs.plugin()).unwrap();
    let client = tlsfiles::client_config(&certs.gateway()).unwrap();
    let target = Arc::new(Target::new(
        ([127, 0, 0, 1], server.port).into(),
        "localhost",
        "/mcp",
        client,
    ));
    let spec = LoadSpec {
        concurrency: 2,
        calls: 100,
        new_connection_per_call: false,
        warmup_per_worker: 1,
    };
    let r = load::run(
        target,
        Default::default(),
        RequestTemplate::invoke_hook(),
        spec,
        Some(server.pid()),
    )
    .await;
    assert_eq!(r.errors, 0, "{:?}", r.first_error);
    assert!(r.server_cpu.is_some());
    assert!(plugwire_bench::procfs::rss_kib(server.pid()).unwrap() > 0);
    server.stop();
    assert!(plugwire_bench::procfs::rss_kib(server.pid()).is_none());
}
