//! Certificate hot reload: a [`ReloadableServerConfig`] holds the current `Arc<ServerConfig>`;
//! the listener takes [`ReloadableServerConfig::current`] for each new connection, so rotated
//! files (cert-manager renewals, `plugwire certs ... --force`) are picked up without a restart,
//! while established connections keep the config they started with.
//!
//! Changes are detected by comparing file contents (not mtimes: Kubernetes swaps secret
//! volumes through symlinks). A half-written rotation (new certificate, old key) fails to build;
//! the old config stays in use and the failure is logged once, until the files change again.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;
use rustls::ServerConfig;

use crate::error::TlsError;
use crate::server_config::build_server_config;
use crate::server_settings::ServerTlsSettings;

/// Contents of the certificate, key and CA files (`None` for an unreadable one).
type Fingerprint = Vec<Option<Vec<u8>>>;

/// The server config, swappable when the certificate files change.
#[derive(Debug)]
pub struct ReloadableServerConfig {
    settings: ServerTlsSettings,
    current: ArcSwap<ServerConfig>,
    /// What the current config was built from, and the last fingerprint that failed to build.
    state: Mutex<(Fingerprint, Option<Fingerprint>)>,
}

fn fingerprint(s: &ServerTlsSettings) -> Fingerprint {
    [Some(&s.certfile), s.keyfile.as_ref(), s.ca_bundle.as_ref()]
        .into_iter()
        .map(|p| p.and_then(|p| std::fs::read(p).ok()))
        .collect()
}

impl ReloadableServerConfig {
    /// Builds the first config; fails like [`build_server_config`].
    pub fn new(settings: ServerTlsSettings) -> Result<Self, TlsError> {
        let print = fingerprint(&settings);
        let config = build_server_config(&settings)?;
        Ok(ReloadableServerConfig {
            settings,
            current: ArcSwap::new(config),
            state: Mutex::new((print, None)),
        })
    }

    /// The config new connections should use.
    pub fn current(&self) -> Arc<ServerConfig> {
        self.current.load_full()
    }

    /// The settings the config is built from.
    pub fn settings(&self) -> &ServerTlsSettings {
        &self.settings
    }

    /// Rebuilds from the files unconditionally; on error the old config stays in use.
    pub fn reload(&self) -> Result<(), TlsError> {
        let print = fingerprint(&self.settings);
        let config = build_server_config(&self.settings)?;
        self.current.store(config);
        if let Ok(mut st) = self.state.lock() {
            *st = (print, None);
        }
        tracing::info!(certfile = %self.settings.certfile.display(), "TLS certificate reloaded");
        Ok(())
    }

    /// Rebuilds when a file's contents changed. `Ok(true)`: a new config is in use;
    /// `Ok(false)`: nothing changed (or the same broken files as last time);
    /// `Err`: the files changed but do not build, the old config stays in use.
    pub fn reload_if_changed(&self) -> Result<bool, TlsError> {
        let print = fingerprint(&self.settings);
        {
            let st = self.state.lock().map_err(|_| TlsError::Rustls {
                context: "certificate reload state".to_string(),
                err: rustls::Error::General("lock poisoned".to_string()),
            })?;
            if st.0 == print || st.1.as_ref() == Some(&print) {
                return Ok(false);
            }
        }
        match build_server_config(&self.settings) {
            Ok(config) => {
                self.current.store(config);
                if let Ok(mut st) = self.state.lock() {
                    *st = (print, None);
                }
                tracing::info!(certfile = %self.settings.certfile.display(), "TLS certificate files changed: new connections use the new certificate");
                Ok(true)
            }
            Err(e) => {
                if let Ok(mut st) = self.state.lock() {
                    st.1 = Some(print);
                }
                Err(e)
            }
        }
    }

    /// Polls the files every `every` until `shutdown` completes, swapping the config when they
    /// change; a rotation that does not build is logged at WARN (once) and the old config kept.
    pub async fn watch(self: Arc<Self>, every: Duration, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = &mut shutdown => return,
                _ = tokio::time::sleep(every) => {
                    if let Err(e) = self.reload_if_changed() {
                        tracing::warn!(error = %e, "TLS certificate files changed but cannot be used; still serving the previous certificate");
                    }
                }
            }
        }
    }
}
