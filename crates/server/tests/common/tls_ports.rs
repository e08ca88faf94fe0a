//! `plugwire serve`'s TLS listeners on real sockets, for the refusal tests of both ports: the
//! MCP port and its plain health port (`Bound::serve`), and a gRPC TLS port served with the same
//! TLS config, all on 127.0.0.1 port 0; and the handshake counts read from a scrape.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http::{Method, StatusCode};
use plugwire_certs::Layout;
use plugwire_server::serve::{self, Bound, MainListener, ServeOptions};
use plugwire_server::{Backend, ConnLimits};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_rustls::TlsConnector;

use super::{server_yaml, Conn, FakeBackend};

/// The HTTP/2 client preface and an empty SETTINGS frame: a gRPC server answers with its own
/// SETTINGS.
pub const H2_PREFACE: &[u8] =
    b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00";

/// Handshake, then `request`, then read: true when the server answered with bytes. In TLS 1.3
/// the server checks the client certificate after the client's Finished, so its refusal (an
/// alert) is seen on the first read.
pub async fn attempt(addr: SocketAddr, c: &TlsConnector, request: &[u8]) -> bool {
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

/// The MCP port of `prepared` and its health port, bound on 127.0.0.1 port 0, with their
/// addresses.
pub async fn bind_mcp(prepared: &serve::Prepared) -> (Bound, SocketAddr, SocketAddr) {
    let main = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let health = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (addr, health_addr) = (main.local_addr().unwrap(), health.local_addr().unwrap());
    let bound = Bound {
        main: MainListener::Tcp(main),
        health: Some(health),
        tls: prepared.tls.clone(),
        client_auth: prepared.settings.tls.as_ref().map(|t| t.client_auth),
        loopback: true,
    };
    (bound, addr, health_addr)
}

/// The three ports, served until [`TlsPorts::stop`].
pub struct TlsPorts {
    pub mcp: SocketAddr,
    pub health: SocketAddr,
    pub grpc: SocketAddr,
    stops: Vec<oneshot::Sender<()>>,
    tasks: Vec<JoinHandle<()>>,
}

impl TlsPorts {
    /// Serves plugin `alpha` of `l` with client certificates required, settings from `env`.
    pub async fn start(l: &Layout, env: &HashMap<&str, &str>) -> TlsPorts {
        let prepared = serve::prepare(Some(&server_yaml(l, 2)), env).unwrap();
        let tls = prepared.tls.clone().unwrap();
        let (bound, mcp, health_addr) = bind_mcp(&prepared).await;
        let grpc = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let grpc_addr = grpc.local_addr().unwrap();
        let backend: Arc<dyn Backend> = Arc::new(FakeBackend);
        let (stop_http, rx_http) = oneshot::channel::<()>();
        let http = tokio::spawn({
            let backend = backend.clone();
            async move {
                let stop = async move {
                    let _ = rx_http.await;
                };
                bound.serve(backend, &ServeOptions::default(), stop).await
            }
        });
        let (stop_grpc, rx_grpc) = oneshot::channel::<()>();
        let grpc_task = tokio::spawn(async move {
            let stop = async {
                let _ = rx_grpc.await;
            };
            let limits = ConnLimits::default();
            plugwire_server::grpc::run_tls(grpc, tls, backend, limits, stop)
                .await
                .unwrap();
        });
        TlsPorts {
            mcp,
            health: health_addr,
            grpc: grpc_addr,
            stops: vec![stop_http, stop_grpc],
            tasks: vec![http, grpc_task],
        }
    }

    /// Stops every port and waits for its task.
    pub async fn stop(self) {
        for stop in self.stops {
            let _ = stop.send(());
        }
        for task in self.tasks {
            task.await.unwrap();
        }
    }

    /// `plugwire_tls_handshakes_total` of `listener` by `result` (the non-zero ones, sorted),
    /// once the server has counted `want` handshakes there: a client can see a refusal before
    /// the server's task counts it.
    pub async fn handshakes(&self, listener: &str, want: f64) -> Vec<(String, f64)> {
        let mut counts = Vec::new();
        for _ in 0..400 {
            counts = scrape_handshakes(self.health, listener).await;
            if counts.iter().map(|(_, v)| v).sum::<f64>() >= want {
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        counts
    }
}

/// One scrape of the health port: `plugwire_tls_handshakes_total` of `listener`, non-zero
/// results sorted by name.
async fn scrape_handshakes(health: SocketAddr, listener: &str) -> Vec<(String, f64)> {
    let mut c = Conn::tcp(health).await;
    let r = c
        .send(Method::GET, "/metrics/prometheus", &[], "")
        .await
        .unwrap();
    assert_eq!(r.status, StatusCode::OK);
    let text = String::from_utf8(r.body.to_vec()).unwrap();
    let l = format!("listener=\"{listener}\"");
    let mut counts: Vec<(String, f64)> = text
        .lines()
        .filter(|line| line.starts_with("plugwire_tls_handshakes_total{") && line.contains(&l))
        .map(|line| {
            let (series, value) = line.rsplit_once(' ').unwrap();
            let result = series.split("result=\"").nth(1).unwrap();
            let result = result.split('"').next().unwrap().to_string();
            (result, value.parse::<f64>().unwrap())
        })
        .filter(|(_, v)| *v > 0.0)
        .collect();
    counts.sort_by(|a, b| a.0.cmp(&b.0));
    counts
}

/// `[(result, count)]` as [`TlsPorts::handshakes`] gives them.
pub fn counts(pairs: &[(&str, f64)]) -> Vec<(String, f64)> {
    let mut v: Vec<(String, f64)> = pairs.iter().map(|(r, n)| (r.to_string(), *n)).collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}
