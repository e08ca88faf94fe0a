//! The allow-list of client identities on real sockets: a client certificate the CA issued but
//! whose identities are not on `allowed_clients` is refused in the TLS handshake, on the MCP
//! (HTTP) port and on the gRPC port, and each refusal is one count of
//! `plugwire_tls_handshakes_total{result="policy"}` for its listener, read by scraping
//! `/metrics/prometheus` on the plain health port. The gRPC listener is served with the same
//! TLS config (built from `PLUGINS_SERVER_SSL_ALLOWED_CLIENTS`): what is tested here is that its
//! accept path refuses and counts as the MCP port's does. This binary is the only one of its
//! process with TLS listeners, so the counts are exact.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use http::{Method, StatusCode};
use plugwire_certs::{issue, issue_all, Layout, Options, Request};
use plugwire_server::serve::{self, Bound, MainListener, ServeOptions};
use plugwire_server::{Backend, ConnLimits};
use plugwire_tls::{build_client_config, resolve_client_tls, ClientTlsLayer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio_rustls::TlsConnector;

/// The one identity on the allow-list: a SPIFFE ID in a URI SAN.
const ALLOWED: &str = "spiffe://cluster.local/ns/gw/sa/gateway";

/// The PKI: a CA and plugin `alpha` in `dir`; the standard gateway certificate (CN and DNS SAN
/// only, so not on the list) in `dir`, and a second gateway certificate from the same CA with
/// the allowed URI SAN in `dir/allowed`.
fn pki(dir: &Path) -> (Layout, Layout) {
    issue_all(
        dir,
        &["alpha"],
        &Options::ecdsa().with_sans(&["IP:127.0.0.1"]),
    )
    .unwrap();
    let from = Layout::new(dir);
    let to = dir.join("allowed");
    let ca_dir = Layout::new(&to).ca_dir();
    std::fs::create_dir_all(&ca_dir).unwrap();
    for entry in std::fs::read_dir(from.ca_dir()).unwrap() {
        let e = entry.unwrap();
        std::fs::copy(e.path(), ca_dir.join(e.file_name())).unwrap();
    }
    let options = Options {
        gateway_sans: vec![format!("URI:{ALLOWED}").parse().unwrap()],
        ..Options::ecdsa()
    };
    issue(&to, &Request::gateway(), &options, &()).unwrap();
    (from, Layout::new(&to))
}

/// A client presenting `identity`, with ALPN `alpn` (gRPC needs `h2`).
fn client(ca: &Path, identity: (&Path, &Path), alpn: &[u8]) -> TlsConnector {
    let env: HashMap<&str, &str> = HashMap::new();
    let layer = ClientTlsLayer {
        certfile: Some(identity.0.to_path_buf()),
        keyfile: Some(identity.1.to_path_buf()),
        ca_bundle: Some(ca.to_path_buf()),
        ..Default::default()
    };
    let settings = resolve_client_tls(Some(&layer), &env).unwrap().unwrap();
    let mut config = (*build_client_config(&settings).unwrap()).clone();
    if !alpn.is_empty() {
        config.alpn_protocols = vec![alpn.to_vec()];
    }
    TlsConnector::from(Arc::new(config))
}

/// Handshake, then `request`, then read: true when the server answered with bytes. In TLS 1.3
/// the server checks the client certificate after the client's Finished, so its refusal (an
/// alert) is seen on the first read.
async fn attempt(addr: SocketAddr, c: &TlsConnector, request: &[u8]) -> bool {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let Ok(mut tls) = c.connect(name, tcp).await else {
        return false;
    };
    if tls.write_all(request).await.is_err() {
        return false;
    }
    let mut buf = [0u8; 64];
    matches!(tls.read(&mut buf).await, Ok(n) if n > 0)
}

const HTTP_REQUEST: &[u8] = b"GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n";
/// The HTTP/2 client preface and an empty SETTINGS frame: a gRPC server answers with its own
/// SETTINGS.
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00";

/// `plugwire_tls_handshakes_total` of `listener` and `result`, from a scrape of the health port.
async fn handshakes(health: SocketAddr, listener: &str, result: &str) -> f64 {
    let mut c = Conn::tcp(health).await;
    let r = c
        .send(Method::GET, "/metrics/prometheus", &[], "")
        .await
        .unwrap();
    assert_eq!(r.status, StatusCode::OK);
    let text = String::from_utf8(r.body.to_vec()).unwrap();
    let (l, res) = (
        format!("listener=\"{listener}\""),
        format!("result=\"{result}\""),
    );
    text.lines()
        .filter(|line| line.starts_with("plugwire_tls_handshakes_total{"))
        .filter(|line| line.contains(&l) && line.contains(&res))
        .map(|line| line.rsplit_once(' ').unwrap().1.parse::<f64>().unwrap())
        .sum()
}

/// Waits until the server has counted `want` handshakes of `listener` (a client can see the
/// refusal before the server's task counts it), then returns the scrape's counts.
async fn settled(health: SocketAddr, listener: &str, want: f64) -> (f64, f64, f64) {
    let mut counts = (0.0, 0.0, 0.0);
    for _ in 0..400 {
        counts = (
            handshakes(health, listener, "accepted").await,
            handshakes(health, listener, "policy").await,
            handshakes(health, listener, "other").await,
        );
        if counts.0 + counts.1 + counts.2 >= want {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    counts
}

#[tokio::test]
async fn a_client_not_on_the_allow_list_is_refused_and_counted_as_policy() {
    let dir = tempfile::tempdir().unwrap();
    let (l, allowed) = pki(dir.path());
    let env: HashMap<&str, &str> = HashMap::from([(
        plugwire_env::vars::PLUGINS_SERVER_SSL_ALLOWED_CLIENTS,
        ALLOWED,
    )]);
    let prepared = serve::prepare(Some(&server_yaml(&l, 2)), &env).unwrap();
    let tls = prepared.tls.clone().unwrap();
    let main = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let health = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let grpc = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (addr, health_addr) = (main.local_addr().unwrap(), health.local_addr().unwrap());
    let grpc_addr = grpc.local_addr().unwrap();
    let bound = Bound {
        main: MainListener::Tcp(main),
        health: Some(health),
        tls: prepared.tls.clone(),
        client_auth: prepared.settings.tls.as_ref().map(|t| t.client_auth),
        loopback: true,
    };
    let backend: Arc<dyn Backend> = Arc::new(FakeBackend);
    let (stop_http, rx_http) = oneshot::channel::<()>();
    let http = tokio::spawn({
        let backend = backend.clone();
        async move {
            bound
                .serve(backend, &ServeOptions::default(), async move {
                    let _ = rx_http.await;
                })
                .await
        }
    });
    let (stop_grpc, rx_grpc) = oneshot::channel::<()>();
    let grpc_task = tokio::spawn(async move {
        plugwire_server::grpc::run_tls(grpc, tls, backend, ConnLimits::default(), async {
            let _ = rx_grpc.await;
        })
        .await
    });

    let (gw, ok) = (l.gateway(), allowed.gateway());
    let ca = l.ca_cert();
    // MCP over HTTPS: the allowed identity is served, the other one refused.
    assert!(attempt(addr, &client(&ca, (&ok.cert, &ok.key), b""), HTTP_REQUEST).await);
    assert!(!attempt(addr, &client(&ca, (&gw.cert, &gw.key), b""), HTTP_REQUEST).await);
    assert!(!attempt(addr, &client(&ca, (&gw.cert, &gw.key), b""), HTTP_REQUEST).await);
    assert_eq!(settled(health_addr, "main", 3.0).await, (1.0, 2.0, 0.0));
    // gRPC: the same.
    let h2 = |id: &plugwire_certs::IdentityPaths| client(&ca, (&id.cert, &id.key), b"h2");
    assert!(attempt(grpc_addr, &h2(&ok), H2_PREFACE).await);
    assert!(!attempt(grpc_addr, &h2(&gw), H2_PREFACE).await);
    assert_eq!(settled(health_addr, "grpc", 2.0).await, (1.0, 1.0, 0.0));
    // The MCP listener's counts did not move.
    assert_eq!(settled(health_addr, "main", 3.0).await, (1.0, 2.0, 0.0));

    let _ = stop_http.send(());
    let _ = stop_grpc.send(());
    http.await.unwrap();
    grpc_task.await.unwrap().unwrap();
}
