//! The plugin service over gRPC (tonic, HTTP/2): TCP with TLS, or a Unix socket.
//!
//! Served under both proto package names, `/cpex.PluginService/...` (ContextForge 1.1.0) and
//! `/mcpgateway.plugins.PluginService/...` (1.0.x), so either era's gateway works against one
//! process; each package's own `Health/Check` (always `SERVING`, as upstream); and the standard
//! `grpc.health.v1.Health`, which upstream lacks, for Kubernetes gRPC probes and
//! `grpc_health_probe`. Every call goes to the same [`Backend`] as MCP, whose answer over gRPC
//! is the encoding of the answer MCP gets, so a hook gives the same result over both.
//!
//! Operations are the MCP port's (see the `accept` module): the connection cap, handshake logging and
//! metrics, per-connection TLS config (certificate reloads), and the graceful drain. On a
//! Unix socket, the `:authority` the Python client sends is repaired first (see the `uds` module).

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::Stream;
use plugwire_grpc::pb::cpex as pb;
use plugwire_grpc::pb::mcpgateway::plugins as old;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream, UnixListener};
use tokio::sync::mpsc;
use tonic::service::Routes;
use tonic::transport::server::Connected;
use tonic::{Request, Response, Status};

use crate::backend::Backend;
use crate::listen::{ConnLimits, Refusals, TlsSource};

/// `AsyncWrite` for a connection wrapper that only changes how it reads (a drain deadline, the
/// Unix-socket `:authority` rewrite): every write goes straight to its `io` field.
macro_rules! write_through_to_io {
    (impl<$($g:ident $(: $b:path)?),*> for $t:ty) => {
        impl<$($g: $($b +)? Unpin),*> tokio::io::AsyncWrite for $t {
            fn poll_write(
                mut self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &[u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                std::pin::Pin::new(&mut self.io).poll_write(cx, buf)
            }
            fn poll_flush(
                mut self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                std::pin::Pin::new(&mut self.io).poll_flush(cx)
            }
            fn poll_shutdown(
                mut self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                std::pin::Pin::new(&mut self.io).poll_shutdown(cx)
            }
            fn poll_write_vectored(
                mut self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                bufs: &[std::io::IoSlice<'_>],
            ) -> std::task::Poll<std::io::Result<usize>> {
                std::pin::Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
            }
            fn is_write_vectored(&self) -> bool {
                self.io.is_write_vectored()
            }
        }
    };
}

pub(crate) mod accept;
mod service;
mod uds;

use accept::{Control, Gate, Guarded, H2Acceptor};
use service::PluginService;
use uds::UdsConn;

/// Every service of the module doc, for one backend.
#[derive(Clone)]
pub struct PluginGrpc {
    backend: Arc<dyn Backend>,
}

impl PluginGrpc {
    /// Wraps the backend every transport uses.
    pub fn new(backend: Arc<dyn Backend>) -> Self {
        Self { backend }
    }

    /// Every service of the module doc, ready for a tonic server. The plugin service of each
    /// package is dispatched by hand (see the `service` module), so that `InvokeHook` answers
    /// with the bytes the backend writes straight from the typed result.
    pub fn routes(self) -> Routes {
        let (_reporter, standard_health) = tonic_health::server::health_reporter();
        let backend = self.backend;
        Routes::new(PluginService::<service::Cpex>::new(Arc::clone(&backend)))
            .add_service(PluginService::<service::Mcpgateway>::new(backend))
            .add_service(pb::health_server::HealthServer::new(UpstreamHealth))
            .add_service(old::health_server::HealthServer::new(UpstreamHealth))
            .add_service(standard_health)
    }
}

/// Upstream's own `Health/Check`: always `SERVING`, whatever service is named.
#[derive(Debug, Clone, Copy)]
pub struct UpstreamHealth;

macro_rules! upstream_health {
    ($svc:path) => {
        #[tonic::async_trait]
        impl $svc for UpstreamHealth {
            async fn check(
                &self,
                _request: Request<pb::HealthCheckRequest>,
            ) -> Result<Response<pb::HealthCheckResponse>, Status> {
                Ok(Response::new(pb::HealthCheckResponse {
                    status: pb::health_check_response::ServingStatus::Serving.into(),
                }))
            }
        }
    };
}

upstream_health!(pb::health_server::Health);
upstream_health!(old::health_server::Health);

/// Serves gRPC over TLS on a bound TCP listener until `shutdown` completes, then drains (see
/// [`accept`]). Each connection takes the TLS config `tls` holds at that moment (a
/// [`TlsSource::Reloadable`] follows certificate rotations), with ALPN forced to `h2`; rustls
/// speaks TLS 1.2 and 1.3 only, so older clients are refused by the handshake. Handshakes run
/// in their own tasks under the handshake timeout and are logged and counted like the MCP
/// port's.
pub async fn run_tls(
    listener: TcpListener,
    tls: TlsSource,
    backend: Arc<dyn Backend>,
    limits: ConnLimits,
    shutdown: impl Future<Output = ()>,
) -> Result<(), tonic::transport::Error> {
    let control = Control::new(&limits);
    let gate = control.gate();
    let (tx, rx) = mpsc::channel::<io::Result<Guarded<TlsConn>>>(64);
    let accept = tokio::spawn(async move {
        let mut acceptor = H2Acceptor::new(tls);
        let mut refusals = Refusals::default();
        loop {
            let (tcp, peer) = tokio::select! {
                () = gate.stopping() => return,
                r = listener.accept() => match r {
                    Ok(c) => c,
                    Err(e) => {
                        tracing::warn!("gRPC accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                },
            };
            let Some(slot) = gate.admit(&mut refusals) else {
                continue;
            };
            let (acceptor, tx, gate) = (acceptor.current(), tx.clone(), gate.clone());
            let timeout = limits.handshake_timeout;
            tokio::spawn(async move {
                if let Some(s) = accept::handshake(tcp, peer, acceptor, timeout, &gate).await {
                    let _ = tx.send(Ok(slot.wrap(TlsConn(s)))).await;
                }
            });
        }
    });
    let result = serve_incoming(backend, Receiver(rx), &control, shutdown).await;
    accept.abort();
    result
}

/// Serves gRPC in plaintext HTTP/2 on a Unix socket (never TLS, as upstream) until `shutdown`,
/// then drains. Request headers pass through [`uds::UdsConn`], which repairs the
/// `:authority` the Python client sends on a Unix socket.
pub async fn run_unix(
    listener: UnixListener,
    backend: Arc<dyn Backend>,
    limits: ConnLimits,
    shutdown: impl Future<Output = ()>,
) -> Result<(), tonic::transport::Error> {
    let control = Control::new(&limits);
    let listener = Arc::new(listener);
    let incoming = accepting(control.gate(), move || {
        let l = Arc::clone(&listener);
        async move { l.accept().await.map(|(s, _)| UdsConn::new(s)) }
    });
    serve_incoming(backend, incoming, &control, shutdown).await
}

/// Serves gRPC in plaintext HTTP/2 on TCP (upstream's "insecure port", used when
/// `grpc_server_settings` has no TLS) until `shutdown`, then drains.
pub async fn run_plain(
    listener: TcpListener,
    backend: Arc<dyn Backend>,
    limits: ConnLimits,
    shutdown: impl Future<Output = ()>,
) -> Result<(), tonic::transport::Error> {
    let control = Control::new(&limits);
    let listener = Arc::new(listener);
    let incoming = accepting(control.gate(), move || {
        let l = Arc::clone(&listener);
        async move {
            let (s, _) = l.accept().await?;
            let _ = s.set_nodelay(true);
            Ok(s)
        }
    });
    serve_incoming(backend, incoming, &control, shutdown).await
}

/// The accepted connections of a listener, each under the cap; the stream ends (dropping the
/// listener, so new connections are refused) when the drain starts.
fn accepting<A, F, IO>(gate: Gate, accept: A) -> impl Stream<Item = io::Result<Guarded<IO>>>
where
    A: Fn() -> F,
    F: Future<Output = io::Result<IO>>,
{
    futures::stream::unfold(
        (gate, accept, Refusals::default()),
        |(gate, accept, mut refusals)| async move {
            loop {
                let io = tokio::select! {
                    () = gate.stopping() => return None,
                    r = accept() => match r {
                        Ok(io) => io,
                        Err(e) => {
                            tracing::warn!("gRPC accept failed: {e}");
                            tokio::time::sleep(Duration::from_millis(100)).await;
                            continue;
                        }
                    },
                };
                if let Some(slot) = gate.admit(&mut refusals) {
                    return Some((Ok(slot.wrap(io)), (gate, accept, refusals)));
                }
            }
        },
    )
}

async fn serve_incoming<S, IO>(
    backend: Arc<dyn Backend>,
    incoming: S,
    control: &Control,
    shutdown: impl Future<Output = ()>,
) -> Result<(), tonic::transport::Error>
where
    S: Stream<Item = io::Result<IO>> + Send + 'static,
    IO: AsyncRead + AsyncWrite + Connected + Unpin + Send + 'static,
{
    let gate = control.gate();
    let server = tonic::transport::Server::builder()
        .add_routes(PluginGrpc::new(backend).routes())
        .serve_with_incoming_shutdown(incoming, async move { gate.stopping().await });
    control.run(server, shutdown).await
}

struct Receiver(mpsc::Receiver<io::Result<Guarded<TlsConn>>>);

impl Stream for Receiver {
    type Item = io::Result<Guarded<TlsConn>>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.0.poll_recv(cx)
    }
}
/// A server-side TLS connection, as tonic wants it (`Connected`).
pub struct TlsConn(tokio_rustls::server::TlsStream<TcpStream>);

impl Connected for TlsConn {
    type ConnectInfo = Option<SocketAddr>;
    fn connect_info(&self) -> Self::ConnectInfo {
        self.0.get_ref().0.peer_addr().ok()
    }
}

impl AsyncRead for TlsConn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for TlsConn {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.0.is_write_vectored()
    }
}
