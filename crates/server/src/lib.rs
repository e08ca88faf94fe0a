//! plugwire-server: the external plugin runtime behind `plugwire serve`.
//!
//! A ContextForge gateway calls it over MCP (Streamable HTTP at `/mcp`, over TLS/mTLS, a Unix
//! socket, or stdio) with three tools: `get_plugin_configs`, `get_plugin_config`,
//! `invoke_hook`. It is stateless (no `mcp-session-id`; a gateway survives our restarts) and
//! answers every valid `tools/call` with HTTP 200, plugin errors inside the result, because
//! any other answer permanently breaks a Python 1.0.0 gateway's plugin (README decisions
//! 9-12). See `docs/server.md` for the user guide.
//!
//! # Layout
//! - [`backend`]: the [`Backend`] trait the MCP layer calls (config dump, one hook call).
//! - [`dispatch`]: JSON-RPC method dispatch, shared by HTTP and stdio; panics become errors.
//! - [`http`]: the hyper service: `/mcp`, `/health`, body limit, Host policy, status codes.
//! - [`health`]: the `/health` body: `status`, `runtime_disabled`, the TLS `certificate`.
//! - [`host`]: the Host/Origin policy (docs/decisions.md #10).
//! - [`listen`]: accept loops (TCP plain/TLS, Unix socket, health port), TLS handshake in the
//!   connection's task under a timeout, the per-listener connection cap.
//! - `drain`: graceful drain of a kept-alive connection without losing a request already sent.
//! - [`limits`]: timeouts, minimum body rate, connection cap, drain deadline, and their variables.
//! - [`signals`]: SIGTERM/SIGINT start the drain; SIGHUP asks for a reload.
//! - [`reload`]: live reload of the plugins YAML ([`reload::SwappableBackend`], in-flight calls
//!   finish on the old plugins) and, on SIGHUP, of every listener's TLS material.
//! - [`tls_log`]: handshake logging (peer, client certificate subject/issuer, failure reason).
//! - [`stdio`]: newline-delimited JSON-RPC on stdin/stdout.
//! - [`settings`]: host, port and Unix socket of `server_settings` (+ `PLUGINS_SERVER_*`).
//! - [`transport`]: which transports run (`PLUGINS_TRANSPORT`, `--transport`), and the gRPC and
//!   raw Unix-socket settings.
//! - [`serve`]: start-up: settings (YAML + env) → TLS config → bound sockets → serving.
//! - [`claims`]: the addresses a process's listeners take, checked for clashes before any bind.
//! - [`warm`]: seeding aws-lc's random generator before healthy, so the first call does not.
//! - [`manager_backend`]: [`ManagerBackend`], the framework's `PluginManager` as a [`Backend`].
//! - [`metered`]: [`metered::Metered`], a [`Backend`] decorator counting and timing hook calls.
//! - [`observe`]: one-line metric hooks for the accept loops and start-up.
//! - [`metrics_route`]: `/metrics/prometheus` and `/metrics` (plugwire-metrics' exposition).
//! - [`error`]: [`ServerError`], every start-up failure with the setting to fix.
//! - [`grpc`]: the plugin service over gRPC (both package names, both health services), TLS
//!   or Unix socket; `grpc::run_tls` / `grpc::run_unix`.
//! - [`raw_socket`]: the raw Unix-socket protocol (length-prefixed protobuf); `raw_socket::run`.
//! - `self_wake`: an HTTP/1.1 connection's task that wakes itself (hyper, once per request) is
//!   polled again at once instead of yielding to another worker.
//! - `read_watched`: a Unix-socket connection watched for reads only (raw socket, gRPC on a
//!   Unix socket), so a client reading an answer does not wake a worker.

#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod backend;
pub mod claims;
pub mod dispatch;
mod drain;
pub mod error;
pub mod grpc;
pub mod health;
pub mod host;
pub mod http;
pub mod limits;
pub mod listen;
pub mod manager_backend;
pub mod metered;
pub mod metrics_route;
pub mod observe;
pub mod raw_socket;
mod read_watched;
pub mod reload;
mod self_wake;
pub mod serve;
pub mod settings;
pub mod signals;
pub mod stdio;
pub mod tls_log;
pub mod transport;
pub mod warm;

pub use backend::Backend;
pub use error::ServerError;
pub use host::HostPolicy;
pub use http::{App, DEFAULT_MAX_BODY_BYTES};
pub use limits::resolve_limits;
pub use listen::{serve_health, serve_tcp, serve_unix, ConnLimits, TlsSource};
pub use manager_backend::{build_manager, initialize_manager, ManagerBackend};
pub use settings::{resolve_server_settings, ServerSettings, ServerSettingsLayer};
pub use stdio::serve_stdio;
pub use transport::{
    resolve_grpc_server_settings, resolve_transports, resolve_unix_socket_settings,
    GrpcServerLayer, GrpcServerSettings, Transport, Transports, UnixSocketLayer,
    UnixSocketSettings,
};
