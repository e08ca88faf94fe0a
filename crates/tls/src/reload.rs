//! Certificate hot reload: a [`ReloadableServerConfig`] holds the current `Arc<ServerConfig>`;
//! the listener takes [`ReloadableServerConfig::current`] for each new connection, so rotated
//! files (cert-manager renewals, `plugwire certs ... --force`) are picked up without a restart,
//! while established connections keep the config they started with.
//!
//! Changes are detected by comparing file contents (not mtimes: Kubernetes swaps secret
//! volumes through symlinks). A half-written rotation (new certificate, old key) fails to build;
//! the old config stays in use and the failure is logged once, until the files change again.
//!
//! Each config put in use is also published on a `tokio::sync::watch` channel
//! ([`ReloadableServerConfig::subscribe`]) for listeners that hold a config (gRPC, metrics),
//! and the certificate's validity is checked at start and at each reload
//! ([`crate::validity`]).

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;
use rustls::ServerConfig;

use crate::error::TlsError;
use crate::server_config::build_server_config;
use crate::server_tls::ServerTlsSettings;
use crate::validity::{check_certificate, CertificateStatus};

/// Contents of the certificate, key, CA and CRL files (`None` for an unreadable one).
type Fingerprint = Vec<Option<Vec<u8>>>;

/// The server config, swappable when the certificate files change.
#[derive(Debug)]
pub struct ReloadableServerConfig {
    settings: ServerTlsSettings,
    current: ArcSwap<ServerConfig>,
    /// What the current config was built from, and the last fingerprint that failed to build.
    state: Mutex<(Fingerprint, Option<Fingerprint>)>,
    /// The validity of the certificate in use.
    status: Mutex<CertificateStatus>,
    /// Every config put in use, for subscribers.
    publish: tokio::sync::watch::Sender<Arc<ServerConfig>>,
}

fn fingerprint(s: &ServerTlsSettings) -> Fingerprint {
    [
        Some(&s.certfile),
        s.keyfile.as_ref(),
        s.ca_bundle.as_ref(),
        s.ca_crl.as_ref(),
    ]
    .into_iter()
    .map(|p| p.and_then(|p| std::fs::read(p).ok()))
    .collect()
}

impl ReloadableServerConfig {
    /// Builds the first config; fails like [`build_server_config`].
    pub fn new(settings: ServerTlsSettings) -> Result<Self, TlsError> {
        let print = fingerprint(&settings);
        let status = check_certificate(&settings)?;
        let config = build_server_config(&settings)?;
        let (publish, _) = tokio::sync::watch::channel(Arc::clone(&config));
        Ok(ReloadableServerConfig {
            settings,
            current: ArcSwap::new(config),
            state: Mutex::new((print, None)),
            status: Mutex::new(status),
            publish,
        })
    }

    /// A receiver that sees every config put in use (the current one first).
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<Arc<ServerConfig>> {
        self.publish.subscribe()
    }

    /// The validity of the certificate in use, for `/health` and logs.
    pub fn certificate(&self) -> Option<CertificateStatus> {
        self.status.lock().ok().map(|s| s.clone())
    }

    /// Checks validity, builds, and puts the result in use (on error nothing changes).
    fn rebuild(&self, print: Fingerprint) -> Result<(), TlsError> {
        let status = check_certificate(&self.settings)?;
        let config = build_server_config(&self.settings)?;
        self.current.store(Arc::clone(&config));
        self.publish.send_replace(config);
        if let Ok(mut st) = self.status.lock() {
            *st = status;
        }
        if let Ok(mut st) = self.state.lock() {
            *st = (print, None);
        }
        Ok(())
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
        self.rebuild(fingerprint(&self.settings))?;
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
        match self.rebuild(print.clone()) {
            Ok(()) => {
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
