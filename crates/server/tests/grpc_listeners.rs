//! `plugwire serve`'s gRPC listener as start-up builds it, on real sockets: the YAML's
//! `grpc_server_settings` (parsed by the framework) and the `PLUGINS_GRPC_SERVER_*` variables
//! resolved, TLS built from the files, the socket bound, then served by `grpc::run_*` (the
//! steps of crates/cli/src/serve_extra.rs `prepare`, `bind_grpc` and `serve`, a private module
//! of the binary, repeated here with the same library calls). What is checked: a Unix socket
//! path that is a regular file is refused and left alone, a stale socket file is replaced and
//! served with mode 0600; an encrypted key is decrypted by `keyfile_password` (YAML or
//! variable) and mTLS served, a wrong password fails before anything is bound, naming the key
//! and the setting; ALPN negotiates `h2`; `grpc.health.v1.Health/Watch` answers `SERVING`
//! first, then `NOT_SERVING` and its end on the drain. Env comes from a HashMap, never from the
//! process environment.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::Command;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use common::tls_ports::{attempt, H2_PREFACE};
use common::{certs, tls_client, FakeBackend};
use hyper::client::conn::http2;
use hyper_util::rt::{TokioExecutor, TokioIo};
use plugwire_certs::Layout;
use plugwire_server::raw_socket;
use plugwire_server::serve::{self, vars};
use plugwire_server::{
    resolve_grpc_server_settings, Backend, ConnLimits, GrpcServerSettings, ServerError, TlsSource,
};
use plugwire_tls::ReloadableServerConfig;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream, UnixListener, UnixStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

type Env = HashMap<&'static str, &'static str>;

fn env(pairs: &[(&'static str, &'static str)]) -> Env {
    pairs.iter().copied().collect()
}

/// The password the encrypted keys of these tests are protected by.
const PASSWORD: &str = "s3cret";

/// `plugwire serve`'s checked gRPC settings and TLS config: nothing bound yet.
struct Prepared {
    settings: GrpcServerSettings,
    tls: Option<Arc<ReloadableServerConfig>>,
}

/// Start-up's first step for gRPC: `grpc_server_settings` of the plugins YAML `yaml` (parsed as
/// `plugwire serve` parses it) under `env`, and the TLS config built from its files, so a bad
/// file, key or password fails here, before any socket is bound.
fn prepare(yaml: &str, env: &Env) -> Result<Prepared, ServerError> {
    let config =
        plugwire_framework::Config::load_str(yaml, "plugins.yaml", &plugwire_framework::EmptyEnv)
            .unwrap();
    let layer = config
        .grpc_server_settings
        .as_ref()
        .map(serve::grpc_settings_layer);
    let settings = resolve_grpc_server_settings(layer.as_ref(), env)?;
    let tls = match &settings.tls {
        Some(t) => Some(Arc::new(ReloadableServerConfig::new(t.clone())?)),
        None => None,
    };
    Ok(Prepared { settings, tls })
}

/// The bound gRPC listener.
enum Listener {
    Tls(TcpListener, TlsSource),
    Plain(TcpListener),
    Unix(UnixListener),
}

impl Prepared {
    /// Start-up's second step: the gRPC socket bound (a Unix socket with mode 0600).
    fn bind(&self) -> Result<Listener, ServerError> {
        let e = &self.settings.endpoint;
        if let Some(uds) = &e.uds {
            let l = raw_socket::bind_unix_0600(&uds.value, &uds.origin.to_string())?;
            return Ok(Listener::Unix(l));
        }
        let origin = format!("host from {}, port from {}", e.host.origin, e.port.origin);
        let addr = serve::resolve(&e.host.value, e.port.value, &origin)?;
        let l = serve::bind_tcp(addr, "gRPC port", &origin)?;
        Ok(match &self.tls {
            Some(cfg) => Listener::Tls(l, TlsSource::Reloadable(Arc::clone(cfg))),
            None => Listener::Plain(l),
        })
    }
}

/// A gRPC listener served until [`Running::stop`].
struct Running {
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl Running {
    fn start(listener: Listener) -> Running {
        let backend: Arc<dyn Backend> = Arc::new(FakeBackend);
        let limits = ConnLimits::default();
        let (stop, rx) = oneshot::channel::<()>();
        let stopped = async {
            let _ = rx.await;
        };
        let task = tokio::spawn(async move {
            match listener {
                Listener::Tls(l, tls) => {
                    plugwire_server::grpc::run_tls(l, tls, backend, limits, stopped).await
                }
                Listener::Plain(l) => {
                    plugwire_server::grpc::run_plain(l, backend, limits, stopped).await
                }
                Listener::Unix(l) => {
                    plugwire_server::grpc::run_unix(l, backend, limits, stopped).await
                }
            }
            .unwrap();
        });
        Running { stop, task }
    }

    async fn stop(self) {
        let _ = self.stop.send(());
        tokio::time::timeout(Duration::from_secs(20), self.task)
            .await
            .expect("the gRPC server did not stop")
            .unwrap();
    }
}

/// One HTTP/2 connection (hyper's client) as the tower service tonic's generated clients call.
#[derive(Clone)]
struct H2(http2::SendRequest<tonic::body::Body>);

type H2Answer = http::Response<hyper::body::Incoming>;

impl tower_service::Service<http::Request<tonic::body::Body>> for H2 {
    type Response = H2Answer;
    type Error = hyper::Error;
    type Future = Pin<Box<dyn Future<Output = Result<H2Answer, hyper::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), hyper::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<tonic::body::Body>) -> Self::Future {
        Box::pin(self.0.send_request(req))
    }
}

/// The standard health client over `io`, and the task driving its connection (abort it to
/// close the connection).
async fn health_client<IO>(io: IO) -> (HealthClient<H2>, JoinHandle<()>)
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (send, conn) = http2::handshake(TokioExecutor::new(), TokioIo::new(io))
        .await
        .expect("HTTP/2 handshake");
    let driver = tokio::spawn(async move {
        let _ = conn.await;
    });
    let origin = http::Uri::from_static("http://localhost");
    (HealthClient::with_origin(H2(send), origin), driver)
}

/// `grpc.health.v1.Health/Check` for the whole server (service "").
async fn check(client: &mut HealthClient<H2>) -> i32 {
    let request = HealthCheckRequest {
        service: String::new(),
    };
    tokio::time::timeout(Duration::from_secs(10), client.check(request))
        .await
        .expect("no health answer")
        .expect("health check failed")
        .into_inner()
        .status
}

const SERVING: i32 = ServingStatus::Serving as i32;

/// Runs openssl (as crates/tls/tests/keys.rs does to make encrypted keys).
fn openssl(args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "openssl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `key` as an encrypted PKCS#8 file `name` in `dir` (openssl's default PBES2 cipher),
/// protected by [`PASSWORD`].
fn encrypt_pkcs8(dir: &Path, key: &Path, name: &str) -> PathBuf {
    let enc = dir.join(name);
    let passout = format!("pass:{PASSWORD}");
    openssl(&[
        "pkcs8",
        "-topk8",
        "-in",
        key.to_str().unwrap(),
        "-out",
        enc.to_str().unwrap(),
        "-passout",
        &passout,
    ]);
    let text = std::fs::read_to_string(&enc).unwrap();
    assert!(text.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"));
    enc
}

/// A plugins YAML whose `grpc_server_settings` listens on 127.0.0.1 port 0 with plugin
/// `alpha`'s certificate, `keyfile` as its key, `l`'s CA for client certificates (client_auth
/// left at its default, require), and `password` as `keyfile_password` if given.
fn tls_yaml(l: &Layout, keyfile: &Path, password: Option<&str>) -> String {
    let password = password.map_or_else(String::new, |p| format!("    keyfile_password: {p:?}\n"));
    format!(
        "plugins: []\ngrpc_server_settings:\n  host: 127.0.0.1\n  port: 0\n  tls:\n    certfile: {:?}\n    keyfile: {:?}\n    ca_bundle: {:?}\n{password}",
        l.plugin("alpha").cert,
        keyfile,
        l.ca_cert()
    )
}

/// A TCP connection to `addr` with `c`, as `localhost`.
async fn tls_connect(
    addr: std::net::SocketAddr,
    c: &tokio_rustls::TlsConnector,
) -> tokio_rustls::client::TlsStream<TcpStream> {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    c.connect(name, tcp).await.expect("TLS handshake")
}

/// A socket file nobody listens on, as a killed server leaves it.
fn stale_socket(path: &Path) {
    drop(std::os::unix::net::UnixListener::bind(path).unwrap());
    use std::os::unix::fs::FileTypeExt;
    let meta = std::fs::symlink_metadata(path).unwrap();
    assert!(meta.file_type().is_socket());
    assert!(std::os::unix::net::UnixStream::connect(path).is_err());
}

/// A `grpc_server_settings.uds` (or `PLUGINS_GRPC_SERVER_UDS`) path that is a regular file
/// stops start-up with an error naming the path and the setting, and the file is neither
/// removed nor changed.
#[tokio::test]
async fn grpc_unix_socket_refuses_a_regular_file_and_leaves_it_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("grpc.sock");
    std::fs::write(&path, "not a socket").unwrap();
    let path_text: &'static str = Box::leak(path.display().to_string().into_boxed_str());

    let from_yaml = format!("plugins: []\ngrpc_server_settings:\n  uds: {path_text:?}\n");
    let from_env = env(&[(vars::PLUGINS_GRPC_SERVER_UDS, path_text)]);
    for (yaml, env, setting) in [
        (from_yaml.as_str(), env(&[]), "grpc_server_settings.uds"),
        ("plugins: []\n", from_env, vars::PLUGINS_GRPC_SERVER_UDS),
    ] {
        let prepared = prepare(yaml, &env).unwrap();
        let Err(err) = prepared.bind() else {
            panic!("a regular file was bound as the gRPC socket ({setting})");
        };
        assert!(matches!(err, ServerError::UdsNotSocket { .. }), "{err}");
        let text = err.to_string();
        assert!(
            text.contains(path_text) && text.contains(setting),
            "{setting}: {text}"
        );
        let meta = std::fs::symlink_metadata(&path).unwrap();
        assert!(meta.file_type().is_file(), "{setting}: replaced");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "not a socket");
    }
}

/// A stale socket file at `PLUGINS_GRPC_SERVER_UDS` (its server killed) is replaced by a
/// socket of mode 0600 that serves gRPC; while served, binding the path again is refused as
/// in use.
#[tokio::test]
async fn grpc_unix_socket_replaces_a_stale_socket_and_serves_it_with_mode_0600() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("grpc.sock");
    stale_socket(&path);
    let path_text: &'static str = Box::leak(path.display().to_string().into_boxed_str());
    let env = env(&[(vars::PLUGINS_GRPC_SERVER_UDS, path_text)]);

    let prepared = prepare("plugins: []\n", &env).unwrap();
    let server = Running::start(prepared.bind().unwrap());
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "mode {mode:o}");

    let (mut client, driver) = health_client(UnixStream::connect(&path).await.unwrap()).await;
    assert_eq!(check(&mut client).await, SERVING);

    // A live socket is never replaced.
    let Err(err) = prepared.bind() else {
        panic!("a live gRPC socket was replaced");
    };
    assert!(matches!(err, ServerError::UdsInUse { .. }), "{err}");
    assert_eq!(check(&mut client).await, SERVING);

    drop(client);
    driver.abort();
    server.stop().await;
}

/// An encrypted key (PKCS#8) is decrypted with `grpc_server_settings.tls.keyfile_password`,
/// or with `PLUGINS_GRPC_SERVER_SSL_KEYFILE_PASSWORD` alone, and the port serves mTLS: the
/// gateway's certificate gets answers, a client without one is refused.
#[tokio::test]
async fn grpc_tls_decrypts_the_key_with_its_password_and_serves_mtls() {
    let dir = tempfile::tempdir().unwrap();
    let l = certs(&dir.path().join("pki"));
    let enc = encrypt_pkcs8(dir.path(), &l.plugin("alpha").key, "alpha-enc.key");
    let ca = l.ca_cert();
    let gateway = l.gateway();
    let with_cert = tls_client(&ca, Some((&gateway.cert, &gateway.key)), b"h2");
    let without_cert = tls_client(&ca, None, b"h2");

    for (yaml, env) in [
        (tls_yaml(&l, &enc, Some(PASSWORD)), env(&[])),
        (
            tls_yaml(&l, &enc, None),
            env(&[(vars::PLUGINS_GRPC_SERVER_SSL_KEYFILE_PASSWORD, PASSWORD)]),
        ),
    ] {
        let prepared = prepare(&yaml, &env).unwrap();
        let listener = prepared.bind().unwrap();
        let Listener::Tls(tcp, _) = &listener else {
            panic!("TLS settings did not give a TLS listener");
        };
        let addr = tcp.local_addr().unwrap();
        let server = Running::start(listener);

        let (mut client, driver) = health_client(tls_connect(addr, &with_cert).await).await;
        assert_eq!(check(&mut client).await, SERVING);
        assert!(
            !attempt(addr, &without_cert, H2_PREFACE).await,
            "served a client without a certificate"
        );

        drop(client);
        driver.abort();
        server.stop().await;
    }
}

/// A wrong (or missing) password for an encrypted key fails at the TLS step of start-up,
/// before any socket is bound, with an error naming the key file and the setting the password
/// came from (the variable wins over the YAML).
#[tokio::test]
async fn grpc_tls_with_a_wrong_key_password_fails_before_listening() {
    let dir = tempfile::tempdir().unwrap();
    let l = certs(&dir.path().join("pki"));
    let enc = encrypt_pkcs8(dir.path(), &l.plugin("alpha").key, "alpha-enc.key");
    let pw = vars::PLUGINS_GRPC_SERVER_SSL_KEYFILE_PASSWORD;

    let cases = [
        // The variable, wrong, wins over the YAML's right password.
        (
            tls_yaml(&l, &enc, Some(PASSWORD)),
            env(&[(pw, "wrong")]),
            vec!["wrong password", "alpha-enc.key", pw],
        ),
        // The YAML's, wrong.
        (
            tls_yaml(&l, &enc, Some("wrong")),
            env(&[]),
            vec![
                "wrong password",
                "alpha-enc.key",
                "grpc_server_settings.tls.keyfile_password",
            ],
        ),
        // None at all: both places to give it are named.
        (
            tls_yaml(&l, &enc, None),
            env(&[]),
            vec![
                "encrypted",
                "alpha-enc.key",
                "grpc_server_settings.tls.keyfile_password",
                pw,
            ],
        ),
    ];
    for (yaml, env, wanted) in cases {
        let Err(err) = prepare(&yaml, &env) else {
            panic!("served with a bad key password: {wanted:?}");
        };
        assert!(matches!(err, ServerError::Tls(_)), "{err:?}");
        let text = err.to_string();
        for w in &wanted {
            assert!(text.contains(w), "{w:?} missing from: {text}");
        }
    }
}

/// A rustls client offering ALPN `h2` to the gRPC TLS port negotiates `h2` (gRPC clients,
/// the Python one first, insist on it), and HTTP/2 is then served on that connection.
#[tokio::test]
async fn grpc_tls_negotiates_h2_by_alpn() {
    let dir = tempfile::tempdir().unwrap();
    let l = certs(dir.path());
    let prepared = prepare(&tls_yaml(&l, &l.plugin("alpha").key, None), &env(&[])).unwrap();
    let listener = prepared.bind().unwrap();
    let Listener::Tls(tcp, _) = &listener else {
        panic!("TLS settings did not give a TLS listener");
    };
    let addr = tcp.local_addr().unwrap();
    let server = Running::start(listener);

    let gateway = l.gateway();
    let c = tls_client(&l.ca_cert(), Some((&gateway.cert, &gateway.key)), b"h2");
    let tls = tls_connect(addr, &c).await;
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let (mut client, driver) = health_client(tls).await;
    assert_eq!(check(&mut client).await, SERVING);

    drop(client);
    driver.abort();
    server.stop().await;
}

/// `grpc.health.v1.Health/Watch` (server streaming, what Kubernetes-style watchers and gRPC
/// clients' channel health checks call) answers `SERVING` as its first message, on the
/// plaintext TCP port `grpc_server_settings` without TLS gives; on the drain it sends
/// `NOT_SERVING` and ends, so an open watch does not hold the shutdown to the drain deadline
/// (30 s by default, more than [`Running::stop`] waits).
#[tokio::test]
async fn standard_health_watch_answers_serving_then_ends_on_the_drain() {
    let yaml = "plugins: []\ngrpc_server_settings:\n  host: 127.0.0.1\n  port: 0\n";
    let prepared = prepare(yaml, &env(&[])).unwrap();
    let listener = prepared.bind().unwrap();
    let Listener::Plain(tcp) = &listener else {
        panic!("settings without TLS did not give a plaintext listener");
    };
    let addr = tcp.local_addr().unwrap();
    let server = Running::start(listener);

    let (mut client, driver) = health_client(TcpStream::connect(addr).await.unwrap()).await;
    let request = HealthCheckRequest {
        service: String::new(),
    };
    let mut stream = tokio::time::timeout(Duration::from_secs(10), client.watch(request))
        .await
        .expect("no answer to Watch")
        .expect("Watch refused")
        .into_inner();
    let first = tokio::time::timeout(Duration::from_secs(10), stream.message())
        .await
        .expect("no first Watch message")
        .expect("Watch stream failed")
        .expect("Watch stream ended without a message");
    assert_eq!(first.status, SERVING);

    let stopping = tokio::spawn(server.stop());
    let last = tokio::time::timeout(Duration::from_secs(10), stream.message())
        .await
        .expect("no Watch message on the drain")
        .expect("Watch stream failed on the drain")
        .expect("Watch stream ended without NOT_SERVING");
    assert_eq!(last.status, ServingStatus::NotServing as i32);
    let end = tokio::time::timeout(Duration::from_secs(10), stream.message())
        .await
        .expect("the Watch stream did not end on the drain");
    assert!(matches!(end, Ok(None)), "{end:?}");
    stopping.await.expect("the server's stop panicked");
    drop(client);
    driver.abort();
}
