//! Smoke test of the harness against plugwire itself: the server crate's TLS listener with the
//! real plugins, in this process on 127.0.0.1:0 with mTLS, driven by the load generator and by
//! the plugwire gateway client exactly as `make bench` drives `plugwire serve`.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use plugwire_bench::load::{self, LoadSpec, Target};
use plugwire_bench::payload::RequestTemplate;
use plugwire_bench::{certgen, pwclient, suite, tlsfiles};
use plugwire_framework::Config;
use plugwire_server::{
    build_manager, initialize_manager, serve_tcp, App, ConnLimits, HostPolicy, ManagerBackend,
    TlsSource, DEFAULT_MAX_BODY_BYTES,
};

/// `plugwire serve`'s backend over the benchmark's server config, initialized.
async fn bench_backend() -> Arc<dyn plugwire_server::Backend> {
    let no_env = plugwire_framework::EmptyEnv;
    let config = Config::load_str(suite::SERVER_YAML, "bench server.yaml", &no_env).unwrap();
    let registry = plugwire_plugins::builtin_registry();
    let manager = initialize_manager(build_manager(config, &registry, &no_env).unwrap())
        .await
        .unwrap();
    Arc::new(ManagerBackend::new(manager))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generator_and_plugwire_client_drive_plugwire_serve() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let certs = certgen::generate(dir.path(), "example-plugin-a").unwrap();

    let app = Arc::new(App {
        backend: bench_backend().await,
        max_body_bytes: DEFAULT_MAX_BODY_BYTES,
        host_policy: HostPolicy::new(true, &[]),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let tls = TlsSource::Fixed(tlsfiles::server_config(&certs.plugin()).unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve_tcp(
        listener,
        app,
        Some(tls),
        ConnLimits::default(),
        async {
            let _ = stopped.await;
        },
    ));

    // The load generator: stateless server, so no session id; every answer checked.
    let client_tls = tlsfiles::client_config(&certs.gateway()).unwrap();
    let target = Arc::new(Target::new(addr, "localhost", "/mcp", client_tls));
    let session = target.open_session().await.unwrap();
    assert!(session.id.is_none(), "plugwire serve is stateless");
    let spec = LoadSpec {
        concurrency: 4,
        calls: 200,
        new_connection_per_call: false,
        warmup_per_worker: 1,
    };
    let r = load::run(
        target.clone(),
        session.clone(),
        RequestTemplate::invoke_hook(),
        spec,
        None,
    )
    .await;
    assert_eq!(r.errors, 0, "{:?}", r.first_error);
    assert_eq!(r.latencies.len(), 200);
    assert_eq!(r.connections, 4);
    let spec = LoadSpec {
        concurrency: 2,
        calls: 10,
        new_connection_per_call: true,
        warmup_per_worker: 0,
    };
    let r = load::run(target, session, RequestTemplate::invoke_hook(), spec, None).await;
    assert_eq!((r.errors, r.connections), (0, 10), "{:?}", r.first_error);

    // The plugwire gateway client through its PluginManager.
    let yaml = dir.path().join("gateway.yaml");
    std::fs::write(&yaml, suite::gateway_yaml(addr.port(), &certs)).unwrap();
    let gw = Arc::new(pwclient::Gateway::connect(&yaml).await.unwrap());
    let s = pwclient::run(gw.clone(), 4, 100, std::process::id()).await;
    assert_eq!(s.errors, 0, "{:?}", s.first_error);
    assert!(s.calls_per_sec > 0.0);
    assert!(s.connections.unwrap() <= 4, "{:?}", s.connections);
    assert_eq!(s.calls, 100);
    // A spent budget: the workers warm up, then take no timed call, and the sample says so.
    let s = pwclient::run_within(
        gw.clone(),
        2,
        100,
        std::process::id(),
        Some(std::time::Duration::ZERO),
    )
    .await;
    assert_eq!((s.calls, s.errors), (0, 0), "{:?}", s.first_error);
    gw.shutdown().await;

    let _ = stop.send(());
    server.await.unwrap();
}

/// The limit server must answer exactly what plugwire answers (same bytes to encrypt and send),
/// or "× limit" would compare different work.
#[tokio::test]
async fn limit_answer_is_byte_for_byte_plugwires_answer() {
    let backend = bench_backend().await;
    let body = RequestTemplate::invoke_hook().with_id(1);
    let ours = plugwire_server::dispatch::answer_invoke_hook(&backend, &body)
        .await
        .expect("the benchmark request takes the hot path");
    assert_eq!(
        String::from_utf8(ours).unwrap(),
        String::from_utf8(plugwire_bench::limit::fixed_answer().to_vec()).unwrap()
    );
}
