//! What the gateway side records into `plugwire_client_*` (plugwire-metrics): each call to a
//! remote plugin by outcome and latency, connections opened, sessions re-initialized, calls
//! retried. The call sites elsewhere in this crate are one line each.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use plugwire_framework::{PluginError, PluginErrorKind, PluginResult};
use plugwire_metrics::{ClientMetrics, Outcome};

use crate::connector::{ConnectionStats, Endpoint};

/// How a call ended, as the client sees it: the remote answer's violation or modification, or
/// the error (a timeout, whether the framework's or the transport's, is its own outcome).
pub fn classify(result: &Result<PluginResult, PluginError>) -> (Outcome, Option<&str>) {
    match result {
        Ok(r) => match (&r.violation, &r.modified_payload) {
            (Some(v), _) => (Outcome::Violation, Some(v.code.as_str())),
            (None, Some(_)) => (Outcome::Modified, None),
            (None, None) => (Outcome::Continue, None),
        },
        Err(e) if e.kind == PluginErrorKind::Timeout => (Outcome::Timeout, None),
        Err(e) if e.model.code.as_deref() == Some("TIMEOUT") => (Outcome::Timeout, None),
        Err(_) => (Outcome::Error, None),
    }
}

/// Records one finished call of `plugin`'s `hook` started at `start`.
pub(crate) fn record_call(
    plugin: &str,
    hook: &str,
    result: &Result<PluginResult, PluginError>,
    start: Instant,
) {
    let m = ClientMetrics::global();
    if m.enabled() {
        let (outcome, code) = classify(result);
        m.call(plugin, hook, outcome, code, start.elapsed());
    }
}

/// Counts one connection opened for `plugin` to `endpoint`.
pub(crate) fn connection_opened(plugin: &str, endpoint: &Endpoint) {
    let transport = match endpoint {
        Endpoint::Tcp { .. } => "http",
        Endpoint::Tls { .. } => "https",
        Endpoint::Unix { .. } => "unix",
    };
    ClientMetrics::global().connection_opened(plugin, transport);
}

/// What a gRPC or raw-socket client counts, into the same places as the MCP transports: the
/// caller's [`ConnectionStats`] (`plugwire call`'s `stats`, a gateway's own counters),
/// `plugwire_client_connections_opened_total` / `plugwire_client_retries_total` under
/// `transport` (`grpc`, `grpcs`, `grpc_uds`, `unix_socket`), and the client's own totals
/// (`retries()`, `connects()`): one call per event.
#[derive(Debug, Clone)]
pub(crate) struct TransportCounters(Arc<Counts>);

#[derive(Debug)]
struct Counts {
    plugin: Box<str>,
    transport: &'static str,
    stats: Arc<ConnectionStats>,
    connects: AtomicU64,
    retries: AtomicU64,
}

impl TransportCounters {
    pub(crate) fn new(plugin: &str, transport: &'static str, stats: Arc<ConnectionStats>) -> Self {
        Self(Arc::new(Counts {
            plugin: plugin.into(),
            transport,
            stats,
            connects: AtomicU64::new(0),
            retries: AtomicU64::new(0),
        }))
    }

    /// A socket connected (before any TLS handshake, as the MCP transports count).
    pub(crate) fn connection_opened(&self) {
        let c = &self.0;
        c.connects.fetch_add(1, Ordering::Relaxed);
        c.stats.count_connection();
        ClientMetrics::global().connection_opened(&c.plugin, c.transport);
    }

    /// A request about to be written (a retry counts again).
    pub(crate) fn request_sent(&self) {
        self.0.stats.count_request();
    }

    /// A call about to be sent a second time.
    pub(crate) fn retry(&self) {
        let c = &self.0;
        c.retries.fetch_add(1, Ordering::Relaxed);
        ClientMetrics::global().retry(&c.plugin, c.transport);
    }

    /// Connections this client opened.
    pub(crate) fn connects(&self) -> u64 {
        self.0.connects.load(Ordering::Relaxed)
    }

    /// Calls this client sent a second time.
    pub(crate) fn retries(&self) -> u64 {
        self.0.retries.load(Ordering::Relaxed)
    }
}

/// Counts one stdio child process started for `plugin`.
pub(crate) fn child_started(plugin: &str) {
    ClientMetrics::global().connection_opened(plugin, "stdio");
}

/// Counts one MCP session re-initialization of `plugin`.
pub(crate) fn reconnect(plugin: &str) {
    ClientMetrics::global().reconnect(plugin);
}
