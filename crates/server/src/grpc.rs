//! The plugin service over gRPC (tonic, HTTP/2): TCP with TLS, or a Unix socket.
//!
//! Served under both proto package names, `/cpex.PluginService/...` (ContextForge 1.1.0) and
//! `/mcpgateway.plugins.PluginService/...` (1.0.x), so either era's gateway works against one
//! process; each package's own `Health/Check` (always `SERVING`, as upstream); and the standard
//! `grpc.health.v1.Health`, which upstream lacks, for Kubernetes gRPC probes and
//! `grpc_health_probe`. Every call goes to the same [`Backend`] as MCP, through the same JSON
//! forms, so a hook gives the same result over both.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::Stream;
use plugwire_grpc::convert;
use plugwire_grpc::pb::cpex as pb;
use plugwire_grpc::pb::mcpgateway::plugins as old;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream, UnixListener, UnixStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tonic::service::Routes;
use tonic::transport::server::Connected;
use tonic::{Request, Response, Status};

use crate::backend::Backend;
use crate::listen::TlsSource;
use crate::tls_log;

/// How long a client has to complete the TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The service implementation shared by both packages.
#[derive(Clone)]
pub struct PluginGrpc {
    backend: Arc<dyn Backend>,
}

impl PluginGrpc {
    /// Wraps the backend every transport uses.
    pub fn new(backend: Arc<dyn Backend>) -> Self {
        Self { backend }
    }

    async fn invoke(&self, req: pb::InvokeHookRequest) -> Result<pb::InvokeHookResponse, Status> {
        let args =
            convert::request_to_args(&req).map_err(|e| Status::invalid_argument(e.to_string()))?;
        let answer = self.backend.invoke_hook(args).await;
        Ok(convert::response_to_proto(&answer))
    }

    fn config(&self, name: &str) -> pb::GetPluginConfigResponse {
        convert::config_response(self.backend.plugin_config(name).as_ref())
    }

    fn configs(&self) -> pb::GetPluginConfigsResponse {
        convert::configs_response(&self.backend.plugin_configs())
    }

    /// Every service of the module doc, ready for a tonic server.
    pub fn routes(self) -> Routes {
        let (_reporter, standard_health) = tonic_health::server::health_reporter();
        Routes::new(pb::plugin_service_server::PluginServiceServer::new(
            self.clone(),
        ))
        .add_service(old::plugin_service_server::PluginServiceServer::new(
            self.clone(),
        ))
        .add_service(pb::health_server::HealthServer::new(UpstreamHealth))
        .add_service(old::health_server::HealthServer::new(UpstreamHealth))
        .add_service(standard_health)
    }
}

// Both packages' traits have the same methods over the same message types; one macro keeps
// the two implementations from drifting apart.
macro_rules! plugin_service {
    ($svc:path) => {
        #[tonic::async_trait]
        impl $svc for PluginGrpc {
            async fn get_plugin_config(
                &self,
                request: Request<pb::GetPluginConfigRequest>,
            ) -> Result<Response<pb::GetPluginConfigResponse>, Status> {
                Ok(Response::new(self.config(&request.get_ref().name)))
            }

            async fn get_plugin_configs(
                &self,
                _request: Request<pb::GetPluginConfigsRequest>,
            ) -> Result<Response<pb::GetPluginConfigsResponse>, Status> {
                Ok(Response::new(self.configs()))
            }

            async fn invoke_hook(
                &self,
                request: Request<pb::InvokeHookRequest>,
            ) -> Result<Response<pb::InvokeHookResponse>, Status> {
                self.invoke(request.into_inner()).await.map(Response::new)
            }
        }
    };
}

plugin_service!(pb::plugin_service_server::PluginService);
plugin_service!(old::plugin_service_server::PluginService);

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

/// Serves gRPC over TLS on a bound TCP listener until `shutdown` completes. ALPN is forced to
/// `h2` (gRPC is HTTP/2 only; the Python client insists on it); rustls speaks TLS 1.2 and 1.3
/// only, so older clients are refused by the handshake. Handshakes run in their own tasks under
/// [`HANDSHAKE_TIMEOUT`] and are logged like the MCP port's. With a reloadable `tls`, each new
/// connection takes the config in use (a reloaded certificate is served at once).
pub async fn run_tls(
    listener: TcpListener,
    tls: impl Into<TlsSource>,
    backend: Arc<dyn Backend>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), tonic::transport::Error> {
    let source = tls.into();
    let h2 = |base: &Arc<rustls::ServerConfig>| {
        let mut config = (**base).clone();
        config.alpn_protocols = vec![b"h2".to_vec()];
        TlsAcceptor::from(Arc::new(config))
    };
    let (tx, rx) = mpsc::channel::<io::Result<TlsConn>>(64);
    let accept = tokio::spawn(async move {
        // The h2 copy is made again only when the source's config changed (a reload).
        let mut base = source.config();
        let mut acceptor = h2(&base);
        loop {
            let (tcp, peer) = match listener.accept().await {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!("gRPC accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let current = source.config();
            if !Arc::ptr_eq(&current, &base) {
                acceptor = h2(&current);
                base = current;
            }
            let (acceptor, tx) = (acceptor.clone(), tx.clone());
            tokio::spawn(async move {
                if let Some(conn) = handshake(tcp, peer, acceptor).await {
                    let _ = tx.send(Ok(conn)).await;
                }
            });
        }
    });
    let result = serve_incoming(backend, Receiver(rx), shutdown).await;
    accept.abort();
    result
}

/// Serves gRPC in plaintext HTTP/2 on a Unix socket (never TLS, as upstream) until `shutdown`.
pub async fn run_unix(
    listener: UnixListener,
    backend: Arc<dyn Backend>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), tonic::transport::Error> {
    let incoming = futures::stream::unfold(listener, |l| async move {
        loop {
            match l.accept().await {
                Ok((s, _)) => return Some((Ok::<UnixStream, io::Error>(s), l)),
                Err(e) => {
                    tracing::warn!("gRPC accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    });
    serve_incoming(backend, incoming, shutdown).await
}

/// Serves gRPC in plaintext HTTP/2 on TCP (upstream's "insecure port", used when
/// `grpc_server_settings` has no TLS) until `shutdown`.
pub async fn run_plain(
    listener: TcpListener,
    backend: Arc<dyn Backend>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), tonic::transport::Error> {
    let incoming = futures::stream::unfold(listener, |l| async move {
        loop {
            match l.accept().await {
                Ok((s, _)) => {
                    let _ = s.set_nodelay(true);
                    return Some((Ok::<TcpStream, io::Error>(s), l));
                }
                Err(e) => {
                    tracing::warn!("gRPC accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    });
    serve_incoming(backend, incoming, shutdown).await
}

async fn serve_incoming<S, IO>(
    backend: Arc<dyn Backend>,
    incoming: S,
    shutdown: impl Future<Output = ()>,
) -> Result<(), tonic::transport::Error>
where
    S: Stream<Item = io::Result<IO>> + Send + 'static,
    IO: AsyncRead + AsyncWrite + Connected + Unpin + Send + 'static,
{
    tonic::transport::Server::builder()
        .add_routes(PluginGrpc::new(backend).routes())
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await
}

/// Refuses plaintext (an HTTP/2 preface starts with `P`, not the TLS record type 0x16), then
/// handshakes under the timeout; every failure is one debug line naming the peer and reason.
async fn handshake(tcp: TcpStream, peer: SocketAddr, acceptor: TlsAcceptor) -> Option<TlsConn> {
    let _ = tcp.set_nodelay(true);
    let mut first = [0u8; 1];
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, tcp.peek(&mut first)).await {
        Ok(Ok(1)) if first[0] == 0x16 => {}
        Ok(Ok(1)) => {
            tracing::debug!(%peer, first_byte = first[0], "gRPC TLS handshake failed: the client sent plaintext to the TLS port");
            return None;
        }
        _ => {
            tracing::debug!(%peer, "gRPC TLS handshake failed: the client sent nothing");
            return None;
        }
    }
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
        Err(_) => {
            tracing::debug!(%peer, "gRPC TLS handshake failed: not completed in time");
            None
        }
        Ok(Err(e)) => {
            tracing::debug!(%peer, "gRPC TLS handshake failed: {}", tls_log::describe_error(&e));
            None
        }
        Ok(Ok(s)) => {
            tls_log::log_success(peer, s.get_ref().1);
            Some(TlsConn(s))
        }
    }
}

struct Receiver(mpsc::Receiver<io::Result<TlsConn>>);

impl Stream for Receiver {
    type Item = io::Result<TlsConn>;
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
