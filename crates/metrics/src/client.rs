//! The gateway side's metrics: calls per remote plugin, connections, reconnects, retries,
//! fail-open.

use std::sync::OnceLock;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

use crate::calls::{CallMetrics, CallNames};
use crate::certs::{earliest_not_after_pem, CertExpiry, CertExpiryError};
use crate::labels::{CertRole, Outcome};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ConnLabels {
    plugin: String,
    transport: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PluginLabels {
    plugin: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FailOpenLabels {
    plugin: String,
    hook: String,
    reason: &'static str,
}

/// Every metric of the gateway side (`plugwire call --metrics`, or a process embedding the
/// client crate).
pub struct ClientMetrics {
    enabled: bool,
    registry: Registry,
    calls: CallMetrics,
    opened: Family<ConnLabels, Counter>,
    reconnects: Family<PluginLabels, Counter>,
    retries: Family<ConnLabels, Counter>,
    fail_open: Family<FailOpenLabels, Counter>,
    certs: CertExpiry,
}

static GLOBAL: OnceLock<ClientMetrics> = OnceLock::new();

impl ClientMetrics {
    /// The process-wide instance, on unless [`crate::env::init`] found `ENABLE_METRICS` off.
    pub fn global() -> &'static ClientMetrics {
        GLOBAL.get_or_init(|| ClientMetrics::new(crate::env::decided()))
    }

    /// A separate instance (tests).
    pub fn new(enabled: bool) -> Self {
        let mut registry = Registry::default();
        let calls = CallMetrics::register(
            &mut registry,
            CallNames {
                calls: "plugwire_client_calls",
                violations: "plugwire_client_violations",
                duration: "plugwire_client_call_duration",
                what: "Hook calls made to remote plugins",
            },
            enabled,
        );
        let opened = Family::<ConnLabels, Counter>::default();
        registry.register(
            "plugwire_client_connections_opened",
            "Transport connections opened to plugin servers (TCP, TLS, Unix socket; child processes for stdio)",
            opened.clone(),
        );
        let reconnects = Family::<PluginLabels, Counter>::default();
        registry.register(
            "plugwire_client_reconnects",
            "MCP sessions re-initialized after a failure (dropped connection, server restart, forgotten session)",
            reconnects.clone(),
        );
        let retries = Family::<ConnLabels, Counter>::default();
        registry.register(
            "plugwire_client_retries",
            "Calls sent a second time over gRPC or the raw socket after a failure that made repeating them safe (UNAVAILABLE, a connection lost before the request was sent)",
            retries.clone(),
        );
        let fail_open = Family::<FailOpenLabels, Counter>::default();
        registry.register(
            "plugwire_client_fail_open",
            "Requests let through although a remote plugin failed (fail-open policy), by plugin, hook and reason",
            fail_open.clone(),
        );
        let certs = CertExpiry::default();
        registry.register(
            "plugwire_certificate_expiry_seconds",
            "Seconds until notAfter of each certificate file loaded (the earliest in the file; negative once expired)",
            certs.gauge.clone(),
        );
        ClientMetrics {
            enabled,
            registry,
            calls,
            opened,
            reconnects,
            retries,
            fail_open,
            certs,
        }
    }

    /// Whether metrics are on.
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// The per plugin × hook call metrics.
    pub fn calls(&self) -> &CallMetrics {
        &self.calls
    }

    /// Records one call to a remote plugin.
    pub fn call(
        &self,
        plugin: &str,
        hook: &str,
        outcome: Outcome,
        violation_code: Option<&str>,
        elapsed: Duration,
    ) {
        self.calls
            .record(plugin, hook, outcome, violation_code, elapsed);
    }

    /// Counts a connection opened for `plugin` over `transport` (`http`, `https`, `unix`,
    /// `stdio`; `grpc`, `grpcs`, `grpc_uds`, `unix_socket`).
    pub fn connection_opened(&self, plugin: &str, transport: &'static str) {
        if self.enabled {
            self.opened
                .get_or_create(&ConnLabels {
                    plugin: plugin.to_string(),
                    transport,
                })
                .inc();
        }
    }

    /// Counts one session re-initialization for `plugin`.
    pub fn reconnect(&self, plugin: &str) {
        if self.enabled {
            self.reconnects
                .get_or_create(&PluginLabels {
                    plugin: plugin.to_string(),
                })
                .inc();
        }
    }

    /// Counts one call of `plugin` sent again over `transport` (`grpc`, `grpcs`, `grpc_uds`,
    /// `unix_socket`).
    pub fn retry(&self, plugin: &str, transport: &'static str) {
        if self.enabled {
            self.retries
                .get_or_create(&ConnLabels {
                    plugin: plugin.to_string(),
                    transport,
                })
                .inc();
        }
    }

    /// Counts one request let through although `plugin` failed on `hook`; `reason` is
    /// `unreachable`, `timeout`, `invalid_answer` or `error` (the label the
    /// `PlugwireGatewayFailOpen` alert groups by).
    pub fn fail_open(&self, plugin: &str, hook: &str, reason: &'static str) {
        if self.enabled {
            self.fail_open
                .get_or_create(&FailOpenLabels {
                    plugin: plugin.to_string(),
                    hook: hook.to_string(),
                    reason,
                })
                .inc();
        }
    }

    /// The current count of [`ClientMetrics::fail_open`] for one label set (tests, CLI
    /// summaries); 0 when never counted.
    pub fn fail_open_count(&self, plugin: &str, hook: &str, reason: &'static str) -> u64 {
        self.fail_open
            .get(&FailOpenLabels {
                plugin: plugin.to_string(),
                hook: hook.to_string(),
                reason,
            })
            .map_or(0, |c| c.get())
    }

    /// Records the expiry of the client identity or CA bundle from its PEM contents.
    pub fn certificate_pem(
        &self,
        role: CertRole,
        path: &str,
        pem: &[u8],
    ) -> Result<(), CertExpiryError> {
        if !self.enabled {
            return Ok(());
        }
        self.certs.set(role, path, earliest_not_after_pem(pem)?);
        Ok(())
    }

    /// The exposition text.
    pub fn encode(&self) -> String {
        self.certs.refresh();
        crate::expose::encode(&self.registry)
    }
}
