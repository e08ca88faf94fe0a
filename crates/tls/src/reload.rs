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
//!
//! Three things trigger a reload: the directory watcher (inotify on Linux; sees a Kubernetes
//! `..data` symlink swap at once), a poll every few seconds (the fallback for file systems
//! without change events, e.g. some network mounts), and SIGHUP ([`ReloadableServerConfig::reload_by`]).
//! Each attempt is one log event ([`crate::watch::log_reload`]).

use std::future::Future;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;
use rustls::ServerConfig;

use crate::error::TlsError;
use crate::server_config::build_server_config;
use crate::server_tls::ServerTlsSettings;
use crate::validity::{check_certificate, CertificateStatus};
use crate::watch::{log_reload, DirWatch, ReloadOutcome, ReloadTrigger};

/// Contents of the certificate, key, CA and CRL files (`None` for an unreadable one).
type Fingerprint = Vec<Option<Vec<u8>>>;

/// Every file the config is built from: what is compared for a change, and whose
/// directories are watched.
fn files(s: &ServerTlsSettings) -> Vec<&Path> {
    [
        Some(&s.certfile),
        s.keyfile.as_ref(),
        s.ca_bundle.as_ref(),
        s.ca_crl.as_ref(),
    ]
    .into_iter()
    .flatten()
    .map(|p| p.as_path())
    .collect()
}

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
    files(s)
        .into_iter()
        .map(|p| std::fs::read(p).ok())
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
        self.reload_by(ReloadTrigger::Call).map(drop)
    }

    /// What SIGHUP does: re-reads the files and, when they differ from the ones in use,
    /// rebuilds (files that failed before are tried again: the operator asked). Logs one
    /// reload event. `Ok(true)`: a new config is in use; `Ok(false)`: the files are unchanged.
    pub fn reload_by(&self, trigger: ReloadTrigger) -> Result<bool, TlsError> {
        let print = fingerprint(&self.settings);
        let unchanged = self.state.lock().map(|st| st.0 == print).unwrap_or(false);
        let result = if unchanged {
            Ok(false)
        } else {
            self.rebuild(print).map(|()| true)
        };
        self.log(trigger, &result);
        result
    }

    fn log(&self, trigger: ReloadTrigger, result: &Result<bool, TlsError>) {
        let outcome = match result {
            Ok(true) => ReloadOutcome::Reloaded,
            Ok(false) => ReloadOutcome::Unchanged,
            Err(e) => ReloadOutcome::Failed(e),
        };
        log_reload("tls", &self.settings.certfile, trigger, outcome);
    }

    /// Rebuilds when a file's contents changed. `Ok(true)`: a new config is in use;
    /// `Ok(false)`: nothing changed (or the same broken files as last time);
    /// `Err`: the files changed but do not build, the old config stays in use.
    pub fn reload_if_changed(&self) -> Result<bool, TlsError> {
        self.reload_if_changed_by(ReloadTrigger::Call)
    }

    /// [`Self::reload_if_changed`], logging a reload event when something changed.
    fn reload_if_changed_by(&self, trigger: ReloadTrigger) -> Result<bool, TlsError> {
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
        let result = self.rebuild(print.clone()).map(|()| true);
        if result.is_err() {
            if let Ok(mut st) = self.state.lock() {
                st.1 = Some(print);
            }
        }
        self.log(trigger, &result);
        result
    }

    /// Watches the files' directories (see [`crate::watch`]) and polls them every `every`,
    /// until `shutdown` completes, swapping the config when they change; a rotation that does
    /// not build is logged (once) and the old config kept. Without a working watcher (no
    /// inotify instances left, say) the poll alone carries on, with a warning.
    pub async fn watch(self: Arc<Self>, every: Duration, shutdown: impl Future<Output = ()>) {
        let dirs = match DirWatch::new(&files(&self.settings)) {
            Ok(w) => Some(w),
            Err(e) => {
                tracing::warn!(certfile = %self.settings.certfile.display(), error = %e, "cannot watch the certificate directories; checking them every {every:?} instead");
                None
            }
        };
        tokio::pin!(shutdown);
        loop {
            let trigger = tokio::select! {
                _ = &mut shutdown => return,
                _ = tokio::time::sleep(every) => ReloadTrigger::Poll,
                () = async {
                    match &dirs {
                        Some(d) => d.changed().await,
                        None => std::future::pending().await,
                    }
                } => ReloadTrigger::Watch,
            };
            // Logged inside; the old config stays in use on error.
            let _ = self.reload_if_changed_by(trigger);
        }
    }
}
