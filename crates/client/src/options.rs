//! Knobs shared by every external plugin a registry creates.

use std::sync::Arc;
use std::time::Duration;

use plugwire_framework::PluginConfig;
use plugwire_tls::Env;

use crate::connector::ConnectionStats;
use crate::identity::ClientIdentities;

/// Default per-call timeout of the transport (the Python gateway's plugin timeout is 30 s too).
/// An entry's own `timeout:` replaces it for that plugin; the manager's `plugin_timeout` bounds
/// the whole hook call either way (see `docs/failure-policy.md` for the trade-off).
pub const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// Default cap on one answer (an HTTP body or a stdio line): far above any hook result, low
/// enough that a broken server cannot exhaust the gateway's memory.
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 16 * 1024 * 1024;

/// Options for [`crate::ExternalPlugin`]s.
#[derive(Clone)]
pub struct ClientOptions {
    /// Where connection and request counts go (shared, so a CLI can report totals).
    pub stats: Arc<ConnectionStats>,
    /// Bound on one JSON-RPC exchange, connect included.
    pub call_timeout: Duration,
    /// Largest answer accepted; bigger ones are a typed error and the connection is dropped.
    pub max_response_bytes: usize,
    /// Source of `PLUGINS_CLIENT_MTLS_*` (the process env in production, a map in tests).
    pub env: Arc<dyn Env + Send + Sync>,
    /// The client TLS material of every `https://` entry built with these options, reloadable
    /// at once ([`ClientIdentities::reload`]) when the certificate files were rotated.
    pub identities: Arc<ClientIdentities>,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            stats: ConnectionStats::new(),
            call_timeout: DEFAULT_CALL_TIMEOUT,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            env: Arc::new(plugwire_tls::ProcessEnv),
            identities: ClientIdentities::new(),
        }
    }
}

impl ClientOptions {
    /// These options for one entry: its `timeout:` (when set) bounds each exchange, so the
    /// transport gives up, drops the connection and reports a timeout at the same moment the
    /// manager would stop waiting.
    pub fn for_entry(&self, config: &PluginConfig) -> ClientOptions {
        let mut o = self.clone();
        if let Some(t) = config.call_timeout() {
            o.call_timeout = t;
        }
        o
    }
}

impl std::fmt::Debug for ClientOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientOptions")
            .field("stats", &self.stats)
            .field("call_timeout", &self.call_timeout)
            .field("max_response_bytes", &self.max_response_bytes)
            .finish_non_exhaustive()
    }
}
