//! The gRPC transport: one HTTP/2 connection (`grpc_conn`, on the `h2` crate) that multiplexes
//! every concurrent call of a plugin, over TLS (our rustls config, ALPN `h2`) or a Unix socket.
//!
//! A lost connection is replaced on the next call. A call that fails with `UNAVAILABLE` is
//! retried once (and counted): that code is reported only when the request never reached
//! the server (a refused stream, a stream the server's `GOAWAY` left out, the connection known
//! dead before sending),
//! so even a hook call is safe to repeat. Any other failure (a connection dropped mid-call) is
//! returned as is: the plugin may already have run. So is a failed connect sequence: it already
//! made its `1 + RECONNECT_ATTEMPTS` tries, as the raw socket's does.
//!
//! The package starts as configured (`cpex`); a call answered `UNIMPLEMENTED` under `cpex` is
//! asked once more under `mcpgateway.plugins` (a ContextForge 1.0.x server), and when that
//! works the client keeps the old package for every later call.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hyper_util::rt::TokioIo;
use plugwire_grpc::pb::cpex as pb;
use plugwire_grpc::{convert, Era};
use plugwire_mcp::{InvokeHookArgs, InvokeHookResponse};
use rustls::pki_types::ServerName;
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncWrite};
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Status};

use crate::connector::explain_grpc_tls;
use crate::error::{Cause, ClientError, TlsFailure};
use crate::grpc_conn::{frame, ConnectFailed, H2Conn};
use crate::identity::ReloadingConnector;
use crate::metrics::TransportCounters;
use crate::tls_alert::NoHttp2;
use crate::ConnectionStats;

/// Where the plugin server listens.
#[derive(Debug, Clone)]
pub enum GrpcTarget {
    /// `host:port` over TCP with TLS; the certificate is checked against `server_name`.
    Tls {
        /// `host:port` as written in the entry.
        target: String,
        /// The client TLS material (roots, optional client certificate; ALPN `h2`), re-read
        /// when its files change so that the next new connection presents a rotated
        /// certificate ([`ReloadingConnector`]; connections already open keep theirs).
        connector: Arc<ReloadingConnector>,
        /// The name the server certificate must carry (the target's host, as upstream).
        server_name: ServerName<'static>,
    },
    /// `host:port` over plain TCP (upstream's "insecure channel", when no TLS is configured).
    Plain {
        /// `host:port`.
        target: String,
    },
    /// An absolute Unix socket path (never TLS).
    Unix(PathBuf),
}

/// Everything a gRPC plugin transport needs; the config model maps its `grpc:` entry onto this.
#[derive(Debug, Clone)]
pub struct GrpcOptions {
    /// The server.
    pub target: GrpcTarget,
    /// Which package name to call (`cpex` for 1.1.0 servers, `mcpgateway.plugins` for 1.0.x).
    pub era: Era,
    /// Per-call deadline, kept by the client (a call past it is dropped, its stream reset).
    pub timeout: Duration,
    /// How long a connection attempt may take.
    pub connect_timeout: Duration,
}

/// A kept gRPC connection to one plugin server.
#[derive(Debug)]
pub struct GrpcClient {
    plugin: String,
    display: String,
    era: Era,
    /// Set once a `cpex` call was answered `UNIMPLEMENTED` and the `mcpgateway.plugins` retry
    /// worked: the server is 1.0.x, and every later call uses the old package directly.
    old_package: AtomicBool,
    conn: H2Conn<Connector>,
    timeout: Duration,
    /// For [`GrpcClient::channel`] only (other services, tests); the calls never use it.
    endpoint: Endpoint,
    target: GrpcTarget,
    counters: TransportCounters,
}

trait Io: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Io for T {}

type Connecting = Pin<Box<dyn Future<Output = std::io::Result<Pin<Box<dyn Io>>>> + Send>>;
/// Opens one connection to the target (boxed: the target decides the stream's type).
type Connector = Box<dyn Fn() -> Connecting + Send + Sync>;

impl GrpcClient {
    /// Prepares the channel; nothing is opened until the first call.
    pub fn new(plugin: &str, options: GrpcOptions) -> Result<Self, ClientError> {
        Self::with_stats(plugin, options, ConnectionStats::new())
    }

    /// [`GrpcClient::new`], counting connections opened and requests sent into `stats` (an
    /// [`crate::ExternalPlugin`] passes its `ClientOptions::stats`).
    pub fn with_stats(
        plugin: &str,
        options: GrpcOptions,
        stats: Arc<ConnectionStats>,
    ) -> Result<Self, ClientError> {
        let display = match &options.target {
            GrpcTarget::Tls { target, .. } => format!("grpcs://{target}"),
            GrpcTarget::Plain { target } => format!("grpc://{target}"),
            GrpcTarget::Unix(p) => format!("grpc+unix://{}", p.display()),
        };
        let authority = match &options.target {
            GrpcTarget::Tls { target, .. } | GrpcTarget::Plain { target } => target.clone(),
            GrpcTarget::Unix(_) => "localhost".to_string(),
        };
        let endpoint = Endpoint::from_shared(format!("http://{authority}"))
            .map_err(|e| {
                let message = format!("grpc target '{authority}' is not host:port: {e}");
                ClientError::config_caused(plugin, message, Cause::Other(Box::new(e)))
            })?
            .timeout(options.timeout)
            .connect_timeout(options.connect_timeout)
            .tcp_nodelay(true);
        let transport = match &options.target {
            GrpcTarget::Tls { .. } => "grpcs",
            GrpcTarget::Plain { .. } => "grpc",
            GrpcTarget::Unix(_) => "grpc_uds",
        };
        let counters = TransportCounters::new(plugin, transport, stats);
        let target = Arc::new(options.target.clone());
        let connector: Connector = {
            let counters = counters.clone();
            Box::new(move || {
                let (target, counters) = (target.clone(), counters.clone());
                Box::pin(async move { connect(&target, &counters).await })
            })
        };
        Ok(Self {
            plugin: plugin.to_string(),
            display,
            era: options.era,
            old_package: AtomicBool::new(false),
            conn: H2Conn::new(connector, &authority, options.connect_timeout),
            timeout: options.timeout,
            endpoint,
            target: options.target,
            counters,
        })
    }

    /// The endpoint, for messages (`grpcs://host:port`, `grpc+unix:///path`).
    pub fn url(&self) -> &str {
        &self.display
    }

    /// A tonic channel to the same server, for other services (e.g. `grpc.health.v1`'s
    /// generated client). It opens its own connection on first use; the calls of this client
    /// do not go through it.
    pub fn channel(&self) -> Channel {
        let (target, counters) = (self.target.clone(), self.counters.clone());
        let connector = tower::service_fn(move |_uri: http::Uri| {
            let (target, counters) = (target.clone(), counters.clone());
            async move { connect(&target, &counters).await.map(TokioIo::new) }
        });
        self.endpoint.clone().connect_with_connector_lazy(connector)
    }

    /// The package in use: the configured one, or `mcpgateway.plugins` once the server proved
    /// to be 1.0.x.
    pub fn era(&self) -> Era {
        if self.old_package.load(Ordering::Relaxed) {
            Era::Mcpgateway
        } else {
            self.era
        }
    }

    /// Calls retried after `UNAVAILABLE` (see the module doc).
    pub fn retries(&self) -> u64 {
        self.counters.retries()
    }

    /// One call of `path` with the framed request: the decoded answer, or the gRPC status.
    async fn call<Resp>(&self, path: &str, request: Bytes) -> Result<Resp, Status>
    where
        Resp: prost::Message + Default,
    {
        self.counters.request_sent();
        let answer = self.conn.unary(path, request, self.timeout).await?;
        Resp::decode(answer)
            .map_err(|e| Status::internal(format!("failed to decode Protobuf message: {e}")))
    }

    async fn unary<Req, Resp>(&self, method: &'static str, req: Req) -> Result<Resp, ClientError>
    where
        Req: prost::Message,
        Resp: prost::Message + Default,
    {
        let mut first = true;
        let mut era = self.era();
        // Encoded once: a retry sends the same bytes.
        let request = frame(&req);
        loop {
            let result = self
                .call(&era.plugin_method_path(method), request.clone())
                .await;
            match result {
                Ok(r) => {
                    if era != self.era() {
                        self.old_package.store(true, Ordering::Relaxed);
                    }
                    return Ok(r);
                }
                Err(s) if s.code() == Code::Unimplemented && era == Era::Cpex => {
                    // A 1.0.x server knows the service only as `mcpgateway.plugins`.
                    tracing::debug!(plugin = %self.plugin, "gRPC {method} unimplemented under package cpex, retrying under mcpgateway.plugins");
                    era = Era::Mcpgateway;
                }
                // A certificate refused: repeating the call cannot help.
                Err(s) if plugwire_tls::rustls_error_in(&s).is_some() => {
                    return Err(self.error(method, s))
                }
                // A failed connect sequence has made its own attempts (`RECONNECT_ATTEMPTS`),
                // as the raw socket's does; another sequence would double them.
                Err(s) if ConnectFailed::of(&s).is_some() => return Err(self.error(method, s)),
                Err(s) if first && s.code() == Code::Unavailable => {
                    first = false;
                    self.counters.retry();
                    tracing::debug!(plugin = %self.plugin, "gRPC {method} unavailable ({}), retrying once", s.message());
                }
                Err(s) => return Err(self.error(method, s)),
            }
        }
    }

    /// A failed call as a [`ClientError`] whose cause is the gRPC status.
    fn error(&self, method: &str, status: Status) -> ClientError {
        let (plugin, url) = (self.plugin.as_str(), self.display.as_str());
        if let Some(failure) = self.tls_failure(&status) {
            return ClientError::tls(plugin, url, failure);
        }
        // The socket never connected: nothing was sent, as the other transports say it.
        if let Some(failed) = ConnectFailed::of(&status) {
            if let Some(kind) = failed.socket {
                use crate::unix_hint::{grpc_tcp_connect_hint, unix_connect_hint, Served};
                let why = match &self.target {
                    GrpcTarget::Unix(path) => unix_connect_hint(path, kind, Served::Grpc),
                    GrpcTarget::Tls { .. } | GrpcTarget::Plain { .. } => {
                        grpc_tcp_connect_hint(kind)
                    }
                };
                let hint = crate::unix_hint::attempts_and_hint(failed.attempts, why);
                return ClientError::connect(
                    plugin,
                    url,
                    std::io::Error::new(kind, failed.last.clone()),
                    Some(hint),
                );
            }
        }
        let hint = self.wrong_server_hint(&status);
        let (code, message) = (status.code(), status.message());
        match code {
            Code::DeadlineExceeded => {
                let detail = format!("{method}: deadline exceeded: {message}");
                ClientError::lost(plugin, url, detail, Cause::from(status))
            }
            Code::Unavailable | Code::Unknown | Code::Internal | Code::Cancelled => {
                let detail = format!("{method}: gRPC {code:?}: {message}{hint}");
                ClientError::lost(plugin, url, detail, Cause::from(status))
            }
            _ => {
                let detail = format!("{method} answered gRPC status {code:?}: {message}");
                ClientError::not_plugin_server(plugin, url, detail, Cause::from(status))
            }
        }
    }

    /// A TLS failure behind `status` (a certificate refused by either side), explained in the
    /// terms of the entry's settings (`grpc.tls.*`, `PLUGINS_GRPC_CLIENT_MTLS_*`), as the MCP
    /// transport explains its own.
    fn tls_failure(&self, status: &Status) -> Option<TlsFailure> {
        let err = plugwire_tls::rustls_error_in(status)?;
        let explanation = match &self.target {
            GrpcTarget::Tls {
                target, connector, ..
            } => explain_grpc_tls(err, target, connector.settings()),
            _ => format!("TLS error: {err}"),
        };
        Some(TlsFailure::new(explanation, err.clone()))
    }

    /// For a connection that ended before the server said anything in HTTP/2, the words that
    /// say what it is instead: a TLS port (a bare close or a TLS alert to a plaintext TCP
    /// target), an MCP server (an HTTP/1.1 answer), or not the gRPC socket (a Unix socket that
    /// closed in silence, as a raw-socket server does); empty otherwise.
    fn wrong_server_hint(&self, status: &Status) -> String {
        let Some(why) = std::error::Error::source(status).and_then(|e| e.downcast_ref::<NoHttp2>())
        else {
            return String::new();
        };
        match (&self.target, why) {
            (_, NoHttp2::Http1) => format!(
                " ({why}: it serves MCP, not gRPC; such a server is called by an `mcp:` entry \
                 (`url`, or `uds` for its Unix socket))"
            ),
            (GrpcTarget::Plain { .. }, _) => format!(
                " ({why}: if this port serves TLS, give the entry `grpc.tls` or set \
                 PLUGINS_GRPC_CLIENT_MTLS_CA_BUNDLE and the client certificate variables; \
                 `plugwire health` takes grpcs://)"
            ),
            (GrpcTarget::Unix(_), NoHttp2::Silence) => format!(
                " ({why}: is this the server's gRPC socket (`grpc_server_settings.uds`)? A raw \
                 socket (PLUGINS_UNIX_SOCKET_PATH) is called by a `unix_socket:` entry)"
            ),
            _ => String::new(),
        }
    }

    /// `GetPluginConfig`: the server's entry as JSON, `None` when it has no such plugin.
    pub async fn get_plugin_config(&self, name: &str) -> Result<Option<Value>, ClientError> {
        let req = pb::GetPluginConfigRequest { name: name.into() };
        let resp: pb::GetPluginConfigResponse = self.unary("GetPluginConfig", req).await?;
        Ok(convert::config_from_response(&resp))
    }

    /// `GetPluginConfigs`: every entry of the server.
    pub async fn get_plugin_configs(&self) -> Result<Vec<Value>, ClientError> {
        let resp: pb::GetPluginConfigsResponse = self
            .unary("GetPluginConfigs", pb::GetPluginConfigsRequest {})
            .await?;
        Ok(resp
            .configs
            .iter()
            .map(|c| Value::Object(plugwire_grpc::structs::from_struct(c)))
            .collect())
    }

    /// `InvokeHook`, answered in the MCP answer's shape.
    pub async fn invoke_hook(
        &self,
        args: InvokeHookArgs,
    ) -> Result<InvokeHookResponse, ClientError> {
        let resp: pb::InvokeHookResponse = self
            .unary("InvokeHook", convert::args_to_request(args))
            .await?;
        Ok(convert::response_from_proto(resp))
    }

    /// The package's own `Health/Check`: `true` when the server says `SERVING`.
    pub async fn health(&self) -> Result<bool, ClientError> {
        self.check_at(self.era().health_check_path())
            .await
            .map_err(|s| self.error("Health/Check", s))
    }

    /// What `plugwire health` asks: the standard `grpc.health.v1.Health/Check` (overall
    /// status, service `""`), which Kubernetes probes use and plugwire serves; when the server
    /// lacks it (`UNIMPLEMENTED`: upstream's Python servers), the package's own `Health/Check`,
    /// under `cpex` and then `mcpgateway.plugins`. Says which service answered.
    pub async fn health_check(&self) -> Result<(HealthService, bool), ClientError> {
        match self.check_at(STANDARD_HEALTH_CHECK.to_string()).await {
            Ok(ok) => return Ok((HealthService::Standard, ok)),
            Err(s) if s.code() == Code::Unimplemented => {}
            Err(s) => return Err(self.error(STANDARD_HEALTH_CHECK, s)),
        }
        let mut era = self.era();
        loop {
            match self.check_at(era.health_check_path()).await {
                Ok(ok) => {
                    if era != self.era() {
                        self.old_package.store(true, Ordering::Relaxed);
                    }
                    return Ok((HealthService::Upstream(era), ok));
                }
                Err(s) if s.code() == Code::Unimplemented && era == Era::Cpex => {
                    era = Era::Mcpgateway;
                }
                Err(s) => return Err(self.error("Health/Check", s)),
            }
        }
    }

    /// One health `Check` at `path`. The standard service's messages have the same fields and
    /// numbers as upstream's (`service = 1`; `status = 1`, `SERVING = 1`), so one pair of
    /// types serves both.
    async fn check_at(&self, path: String) -> Result<bool, tonic::Status> {
        let request = frame(&pb::HealthCheckRequest::default());
        let resp: pb::HealthCheckResponse = self.call(&path, request).await?;
        Ok(resp.status == pb::health_check_response::ServingStatus::Serving as i32)
    }
}

/// The standard gRPC health check's method path.
pub const STANDARD_HEALTH_CHECK: &str = "/grpc.health.v1.Health/Check";

/// Which health service answered [`GrpcClient::health_check`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HealthService {
    /// `grpc.health.v1.Health`.
    Standard,
    /// The plugin protocol's own `<package>.Health`.
    Upstream(Era),
}

impl HealthService {
    /// The service's full name, e.g. `grpc.health.v1.Health` or `cpex.Health`.
    pub fn name(self) -> String {
        match self {
            HealthService::Standard => "grpc.health.v1.Health".to_string(),
            HealthService::Upstream(era) => format!("{}.Health", era.package()),
        }
    }
}

/// Opens one connection for the channel, counted as soon as the socket is connected.
async fn connect(
    target: &GrpcTarget,
    counters: &TransportCounters,
) -> std::io::Result<Pin<Box<dyn Io>>> {
    match target {
        GrpcTarget::Unix(path) => {
            let unix = tokio::net::UnixStream::connect(path).await?;
            counters.connection_opened();
            Ok(Box::pin(unix))
        }
        GrpcTarget::Plain { target } => {
            let tcp = tokio::net::TcpStream::connect(target.as_str()).await?;
            counters.connection_opened();
            let _ = tcp.set_nodelay(true);
            Ok(Box::pin(tcp))
        }
        GrpcTarget::Tls {
            target,
            connector,
            server_name,
        } => {
            let tcp = tokio::net::TcpStream::connect(target.as_str()).await?;
            counters.connection_opened();
            let _ = tcp.set_nodelay(true);
            // Compares the files first when the last check is old enough (see `identity`).
            let tls = connector
                .connector()
                .connect(server_name.clone(), tcp)
                .await?;
            Ok(Box::pin(tls))
        }
    }
}
