//! The plugin server's metrics: one registry, one process-wide instance.

use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::calls::{CallMetrics, CallNames};
use crate::certs::{earliest_not_after_pem, CertExpiry, CertExpiryError};
use crate::labels::{CertRole, HandshakeResult, Outcome, Transport};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct InfoLabels {
    server_name: String,
    transport: String,
    ssl_enabled: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HandshakeLabels {
    listener: String,
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TransportLabels {
    transport: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PluginLabels {
    plugin: String,
}

/// Every metric `plugwire serve` exposes.
pub struct ServerMetrics {
    enabled: bool,
    registry: Registry,
    calls: CallMetrics,
    info: Family<InfoLabels, Gauge>,
    handshakes: Family<HandshakeLabels, Counter>,
    open: [Gauge; 5],
    certs: CertExpiry,
    config_generation: Gauge,
    config_reload_time: Gauge,
    config_reload_success: Gauge,
    disabled: Family<PluginLabels, Gauge>,
}

static GLOBAL: OnceLock<ServerMetrics> = OnceLock::new();

impl ServerMetrics {
    /// The process-wide instance, on unless [`crate::env::init`] found `ENABLE_METRICS` off. Call sites in
    /// every layer (accept loop, TLS loading, plugin manager) record here, as ContextForge's
    /// server records into the Python client's default registry.
    pub fn global() -> &'static ServerMetrics {
        GLOBAL.get_or_init(|| ServerMetrics::new(crate::env::decided()))
    }

    /// A separate instance (tests; embedding several servers in one process).
    pub fn new(enabled: bool) -> Self {
        let mut registry = Registry::default();
        let calls = CallMetrics::register(
            &mut registry,
            CallNames {
                calls: "plugwire_hook_calls",
                violations: "plugwire_hook_violations",
                duration: "plugwire_hook_duration",
                what: "Hook calls served",
            },
            enabled,
        );
        let info = Family::<InfoLabels, Gauge>::default();
        registry.register("plugin_info", "Plugin server information", info.clone());
        let handshakes = Family::<HandshakeLabels, Counter>::default();
        registry.register(
            "plugwire_tls_handshakes",
            "TLS handshakes by listener and result (accepted, or the reason for the refusal)",
            handshakes.clone(),
        );
        let open_family = Family::<TransportLabels, Gauge>::default();
        registry.register(
            "plugwire_open_connections",
            "Connections open now, by transport",
            open_family.clone(),
        );
        let open = Transport::ALL.map(|t| {
            open_family.get_or_create_owned(&TransportLabels {
                transport: t.as_str(),
            })
        });
        let certs = CertExpiry::default();
        registry.register(
            "plugwire_certificate_expiry_seconds",
            "Seconds until notAfter of each certificate file loaded (the earliest in the file; negative once expired)",
            certs.gauge.clone(),
        );
        let config_generation = Gauge::default();
        registry.register(
            "plugwire_config_generation",
            "Generation of the plugins config in use (1 at start-up, +1 per successful reload)",
            config_generation.clone(),
        );
        let config_reload_time = Gauge::default();
        registry.register(
            "plugwire_config_last_reload_timestamp_seconds",
            "Unix time of the last config load or reload attempt",
            config_reload_time.clone(),
        );
        let config_reload_success = Gauge::default();
        registry.register(
            "plugwire_config_last_reload_success",
            "1 when the last config load or reload attempt succeeded, 0 when it failed",
            config_reload_success.clone(),
        );
        let disabled = Family::<PluginLabels, Gauge>::default();
        registry.register(
            "plugwire_plugin_disabled",
            "1 for a plugin taken out of service after an error (on_error: disable)",
            disabled.clone(),
        );
        ServerMetrics {
            enabled,
            registry,
            calls,
            info,
            handshakes,
            open,
            certs,
            config_generation,
            config_reload_time,
            config_reload_success,
            disabled,
        }
    }

    /// Whether metrics are on (`ENABLE_METRICS`).
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// The registry, for callers that add their own families.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The per plugin × hook call metrics.
    pub fn calls(&self) -> &CallMetrics {
        &self.calls
    }

    /// Records one served hook call.
    pub fn hook_call(
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

    /// Sets ContextForge's `plugin_info` gauge: `transport` is `http` or `stdio` as there.
    pub fn set_info(&self, server_name: &str, transport: &str, ssl_enabled: bool) {
        if !self.enabled {
            return;
        }
        self.info
            .get_or_create(&InfoLabels {
                server_name: server_name.to_string(),
                transport: transport.to_string(),
                ssl_enabled: if ssl_enabled { "true" } else { "false" },
            })
            .set(1);
    }

    /// Creates every result series of a listener at zero (a rate alert needs the zero).
    pub fn preregister_listener(&self, listener: &str) {
        if !self.enabled {
            return;
        }
        for r in HandshakeResult::ALL {
            let _ = self.handshakes.get_or_create(&HandshakeLabels {
                listener: listener.to_string(),
                result: r.as_str(),
            });
        }
    }

    /// Records one TLS handshake on `listener` (e.g. `main`).
    pub fn tls_handshake(&self, listener: &str, result: HandshakeResult) {
        if !self.enabled {
            return;
        }
        self.handshakes
            .get_or_create(&HandshakeLabels {
                listener: listener.to_string(),
                result: result.as_str(),
            })
            .inc();
    }

    /// Counts a connection as open until the returned guard is dropped.
    pub fn connection_opened(&self, transport: Transport) -> ConnectionGuard {
        if !self.enabled {
            return ConnectionGuard(None);
        }
        let g = &self.open[transport.index()];
        g.inc();
        ConnectionGuard(Some(g.clone()))
    }

    /// Connections open now on `transport`.
    pub fn open_connections(&self, transport: Transport) -> i64 {
        self.open[transport.index()].get()
    }

    /// Records the expiry of a certificate file from its PEM contents (called when it is
    /// loaded and at every reload). `path` is the label: the path as configured.
    pub fn certificate_pem(
        &self,
        role: CertRole,
        path: &str,
        pem: &[u8],
    ) -> Result<(), CertExpiryError> {
        if !self.enabled {
            return Ok(());
        }
        let not_after = earliest_not_after_pem(pem)?;
        self.certs.set(role, path, not_after);
        Ok(())
    }

    /// Records the expiry of a certificate file given its `notAfter` in Unix seconds.
    pub fn certificate_not_after(&self, role: CertRole, path: &str, not_after_unix: i64) {
        if self.enabled {
            self.certs.set(role, path, not_after_unix);
        }
    }

    /// Records a config load or reload attempt: on success `generation` becomes current.
    pub fn config_loaded(&self, generation: u64, success: bool) {
        if !self.enabled {
            return;
        }
        if success {
            self.config_generation
                .set(i64::try_from(generation).unwrap_or(i64::MAX));
        }
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        self.config_reload_time.set(now);
        self.config_reload_success.set(i64::from(success));
    }

    /// Marks a plugin as disabled (taken out after an error) or back in service.
    pub fn plugin_disabled(&self, plugin: &str, disabled: bool) {
        if !self.enabled {
            return;
        }
        self.disabled
            .get_or_create(&PluginLabels {
                plugin: plugin.to_string(),
            })
            .set(i64::from(disabled));
    }

    /// The exposition text (OpenMetrics, which Prometheus scrapes natively).
    pub fn encode(&self) -> String {
        self.certs.refresh();
        crate::expose::encode(&self.registry)
    }
}

/// Keeps one connection counted in `plugwire_open_connections`; decrements on drop.
#[derive(Debug)]
#[must_use = "the connection stops being counted when the guard is dropped"]
pub struct ConnectionGuard(Option<Gauge>);

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        if let Some(g) = &self.0 {
            g.dec();
        }
    }
}
