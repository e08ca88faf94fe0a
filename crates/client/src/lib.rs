//! plugwire-client: the gateway side of ContextForge external plugins.
//!
//! A `kind: external` entry of the gateway's plugins YAML becomes an [`ExternalPlugin`]: on
//! `initialize` it connects (Streamable HTTP over TCP, TLS/mTLS or a Unix socket, or a stdio
//! child), runs the MCP handshake, fetches the remote plugin config and merges the local entry
//! over it; each hook is then one `tools/call invoke_hook` on a kept connection.
//!
//! Why not rmcp's client: it turns connection pooling off and reconnects against SSE servers.
//! This client reads every answer (JSON or a whole SSE stream) to its end so the connection
//! returns to the pool, which keeps N calls at concurrency c on at most c connections, even
//! against the Python runtime's SSE answers. It also recovers what the Python client cannot: a
//! restarted server, a dropped connection, or a 404 for a forgotten session leads to a fresh
//! handshake and one retry of the call.
//!
//! # Layout
//! - [`connector`]: opening TCP / TLS / Unix connections, counting them ([`ConnectionStats`]),
//!   and explaining TLS failures in the terms of the gateway's settings.
//! - `http`: Streamable HTTP on a small pool of hyper 1 HTTP/1.1 connections; session headers;
//!   body size cap; JSON and SSE answers.
//! - `stdio`: a child process speaking newline-delimited JSON-RPC.
//! - [`session`]: the MCP handshake, `tools/call`, and recovery with bounded backoff, over
//!   `session::transport` (HTTP or stdio behind one dispatch). Every wire shape (JSON-RPC
//!   messages, `initialize`, `tools/list`, `tools/call`, protocol versions, header names, SSE
//!   framing) comes from `plugwire-mcp`, the crate the server speaks too.
//! - `retry`: the linear-backoff retry of connects and handshakes, and the failure of one
//!   sequence shared with the calls queued for it.
//! - `endpoint`: turning an `mcp:` block (+ `PLUGINS_CLIENT_MTLS_*`) into a transport.
//! - `invoke_mcp`: the MCP hook call's hot path: arguments written in one pass from the typed
//!   payload and context, the answer decoded straight into typed results.
//! - [`decode`]: `invoke_hook` / `get_plugin_config` answers (found by `plugwire-mcp` with the
//!   Python 1.0.0 rules) turned into framework types and coded errors.
//! - [`metrics`]: calls, connections and reconnects recorded into `plugwire_client_*`.
//! - [`merge`]: remote config under the locally set keys, and the conflicts that cannot work.
//! - [`plugin`]: [`ExternalPlugin`], the framework `Plugin` implementation, over a [`Remote`]
//!   (MCP session, gRPC channel or raw-socket pool).
//! - [`grpc`]: the gRPC transport ([`grpc::GrpcClient`]): one multiplexed HTTP/2 channel, TLS or
//!   Unix socket, either package name.
//! - [`raw_socket`]: the raw Unix-socket transport ([`raw_socket::RawSocketClient`]): framed
//!   protobuf on a small pool, reconnect with backoff, timeouts that drop the connection.
//! - [`options`]: [`ClientOptions`] (timeout, answer size cap, env source, shared counters).
//! - [`policy`]: which remote failures mean "no verdict" (unreachable, timeout, invalid
//!   answer) for the manager's failure policy, and the fail-open counter.
//! - [`health`]: `GET /health` with the same TLS settings (behind `plugwire health`).
//! - [`identity`]: client certificate reload for HTTP and gRPC entries: files compared before
//!   new connections (at most every 10 s) and on demand
//!   ([`identity::ClientIdentities::reload`]); expiry metrics.
//! - [`error`]: [`ClientError`]: one context (plugin, endpoint, operation) and a kind whose
//!   variants keep the typed cause (`io`, `rustls`, `hyper`, gRPC status, `serde_json`).
//!
//! User guide: `docs/client.md`.

#![cfg_attr(test, allow(clippy::unwrap_used))]

mod answer_text;
pub mod connector;
pub mod decode;
mod endpoint;
pub mod error;
pub mod grpc;
mod grpc_conn;
pub mod health;
mod http;
pub mod identity;
mod invoke_mcp;
pub mod merge;
pub mod metrics;
pub mod options;
pub mod plugin;
pub mod policy;
pub mod raw_socket;
pub mod remote;
mod retry;
pub mod session;
mod stdio;
mod tls_alert;
mod unix_hint;

use std::sync::Arc;

use plugwire_framework::{Plugin, PluginErrorKind, PluginRegistry, EXTERNAL_KIND};

pub use connector::ConnectionStats;
pub use error::ClientError;
pub use options::{ClientOptions, DEFAULT_CALL_TIMEOUT, DEFAULT_MAX_RESPONSE_BYTES};
pub use plugin::{describe_build_error, to_plugin_error, ExternalPlugin, Remote};

/// Registers the `external` kind with default options (process env, 30 s per call).
pub fn register_external(registry: &mut PluginRegistry) {
    register_external_with(registry, ClientOptions::default());
}

/// Registers the `external` kind with explicit options, e.g. a shared [`ConnectionStats`] so a
/// caller can report how many connections all external plugins opened.
pub fn register_external_with(registry: &mut PluginRegistry, options: ClientOptions) {
    registry.register(&[EXTERNAL_KIND], move |config| {
        let name = config.name.clone();
        let plugin = ExternalPlugin::new(config, &options)
            .map_err(|e| to_plugin_error(PluginErrorKind::Initialization, &name, &e))?;
        Ok(Arc::new(plugin) as Arc<dyn Plugin>)
    });
}

/// Locks `m`, taking the value as it is when a thread panicked while holding it: the callers'
/// updates under these locks leave it whole.
pub(crate) fn relock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
