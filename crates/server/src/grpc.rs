//! The plugin service over gRPC (HTTP/2 from hyper, messages from tonic and prost): TCP with
//! TLS, or a Unix socket.
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
//! The connections are served by our own loop over hyper's HTTP/2 server rather than tonic's
//! transport (see the `h2` module), each one's writes corked until its task waits, so one
//! answer leaves in one write (see the `cork` module).

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::Stream;
use plugwire_grpc::pb::cpex as pb;
use plugwire_grpc::pb::mcpgateway::plugins as old;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream, UnixListener};
use tokio::sync::mpsc;
use tokio_rustls::server::TlsStream;
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
mod cork;
mod h2;
mod inline;
mod service;
mod uds;
mod unary;

use accept::{Control, Gate, Guarded, H2Acceptor};
pub use h2::PluginGrpc;
use uds::UdsConn;

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
) -> io::Result<()> {
    let control = Control::new(&limits);
    let gate = control.gate();
    let (tx, rx) = mpsc::channel::<io::Result<Guarded<TlsStream<TcpStream>>>>(64);
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
                    let _ = tx.send(Ok(slot.wrap(s))).await;
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
) -> io::Result<()> {
    let control = Control::new(&limits);
    let listener = Arc::new(listener);
    let incoming = accepting(control.gate(), move || {
        let l = Arc::clone(&listener);
        async move { l.accept().await.and_then(|(s, _)| UdsConn::new(s)) }
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
) -> io::Result<()> {
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

/// Serves the connections of `incoming` (see the `h2` module) until the drain starts, then
/// waits for them to close; [`Control::run`] bounds that wait by the drain deadline.
async fn serve_incoming<S, IO>(
    backend: Arc<dyn Backend>,
    incoming: S,
    control: &Control,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()>
where
    S: Stream<Item = io::Result<IO>> + Send + 'static,
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let server = h2::serve(PluginGrpc::new(backend), incoming, control.gate());
    control.run(server, shutdown).await
}

/// The TLS connections the handshake tasks hand over.
struct Receiver(mpsc::Receiver<io::Result<Guarded<TlsStream<TcpStream>>>>);

impl Stream for Receiver {
    type Item = io::Result<Guarded<TlsStream<TcpStream>>>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.0.poll_recv(cx)
    }
}
