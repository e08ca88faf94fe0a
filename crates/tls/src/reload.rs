//! Certificate hot reload: a [`ReloadableServerConfig`] holds the current `Arc<ServerConfig>`;
//! the listener takes [`ReloadableServerConfig::current`] for each new connection, so rotated
//! files (cert-manager renewals, `plugwire certs ... --force`) are picked up without a restart,
//! while established connections keep the config they started with.
//!
//! Changes are detected by comparing the bytes loaded ([`crate::loaded`]) with the bytes read
//! now (not mtimes: Kubernetes swaps secret volumes through symlinks); each file is read once
//! per check, and the same bytes are the ones loaded. A half-written rotation (new
//! certificate, old key) fails to load; the old config stays in use and the failure is logged
//! once, until the files change again.
//!
//! The settings themselves can be replaced too ([`ReloadableServerConfig::stage`] +
//! [`ReloadableServerConfig::commit`]): a plugins-config reload re-resolves `server_settings.tls`
//! (a new `allowed_clients`, CA bundle, CRL, certificate path...) and swaps the whole material
//! once it has loaded and built.
//!
//! Each config put in use is also published on a `tokio::sync::watch` channel
//! ([`ReloadableServerConfig::subscribe`]) for listeners that hold a config (gRPC, metrics);
//! the material it was built from is [`ReloadableServerConfig::loaded`] (the certificate's
//! validity, checked at each load, is read from there by `/health`).
//!
//! Three things trigger a reload: the directory watcher (inotify on Linux; sees a Kubernetes
//! `..data` symlink swap at once), a poll every few seconds (the fallback for file systems
//! without change events, e.g. some network mounts), and SIGHUP ([`ReloadableServerConfig::reload_by`]).
//! Each attempt is one log event ([`crate::watch::log_reload`]).

use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use arc_swap::ArcSwap;
use rustls::ServerConfig;

use crate::error::TlsError;
use crate::loaded::{files_of, Fingerprint, LoadedServerTls, ServerTlsFiles};
use crate::server_config::build_server_config;
use crate::server_tls::ServerTlsSettings;
use crate::validity::CertificateStatus;
use crate::watch::{log_reload, DirWatch, ReloadOutcome, ReloadTrigger};

/// What is in use, and the last material that failed (not retried until it changes).
#[derive(Debug)]
struct State {
    settings: Arc<ServerTlsSettings>,
    loaded: Arc<LoadedServerTls>,
    failed: Option<Fingerprint>,
}

/// The server config, swappable when the files (or the settings) change.
#[derive(Debug)]
pub struct ReloadableServerConfig {
    state: Mutex<State>,
    current: ArcSwap<ServerConfig>,
    /// Every config put in use, for subscribers.
    publish: tokio::sync::watch::Sender<Arc<ServerConfig>>,
}

/// New settings loaded and built, not yet in use ([`ReloadableServerConfig::stage`]).
#[derive(Debug)]
pub struct StagedTls {
    settings: Arc<ServerTlsSettings>,
    loaded: Arc<LoadedServerTls>,
    config: Arc<ServerConfig>,
}

fn load_and_build(
    settings: &ServerTlsSettings,
    files: ServerTlsFiles,
) -> Result<(Arc<LoadedServerTls>, Arc<ServerConfig>), TlsError> {
    let loaded = LoadedServerTls::from_files(settings, files)?;
    let config = build_server_config(&loaded)?;
    Ok((Arc::new(loaded), config))
}

impl ReloadableServerConfig {
    /// Loads the files of `settings` and builds the first config; fails like
    /// [`LoadedServerTls::load`] and [`build_server_config`].
    pub fn new(settings: ServerTlsSettings) -> Result<Self, TlsError> {
        let (loaded, config) = load_and_build(&settings, ServerTlsFiles::read(&settings))?;
        let (publish, _) = tokio::sync::watch::channel(Arc::clone(&config));
        Ok(ReloadableServerConfig {
            state: Mutex::new(State {
                settings: Arc::new(settings),
                loaded,
                failed: None,
            }),
            current: ArcSwap::new(config),
            publish,
        })
    }

    fn state(&self) -> Result<MutexGuard<'_, State>, TlsError> {
        self.state.lock().map_err(|_| TlsError::Rustls {
            context: "certificate reload state".to_string(),
            err: rustls::Error::General("lock poisoned".to_string()),
        })
    }

    /// A receiver that sees every config put in use (the current one first); the material
    /// behind it is [`Self::loaded`].
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<Arc<ServerConfig>> {
        self.publish.subscribe()
    }

    /// The config new connections should use.
    pub fn current(&self) -> Arc<ServerConfig> {
        self.current.load_full()
    }

    /// The material the config in use was built from.
    pub fn loaded(&self) -> Option<Arc<LoadedServerTls>> {
        self.state.lock().ok().map(|s| Arc::clone(&s.loaded))
    }

    /// The validity of the certificate in use, for `/health` and logs (from the loaded chain).
    pub fn certificate(&self) -> Option<CertificateStatus> {
        self.loaded().map(|l| l.certificate().clone())
    }

    /// The settings the config in use is built from.
    pub fn settings(&self) -> Option<Arc<ServerTlsSettings>> {
        self.state.lock().ok().map(|s| Arc::clone(&s.settings))
    }

    /// Puts material in use and publishes it (the caller holds the state).
    fn put(
        &self,
        st: &mut State,
        settings: Arc<ServerTlsSettings>,
        loaded: Arc<LoadedServerTls>,
        config: Arc<ServerConfig>,
    ) {
        st.settings = settings;
        st.loaded = loaded;
        st.failed = None;
        self.current.store(Arc::clone(&config));
        self.publish.send_replace(config);
    }

    /// Loads and builds from the files unconditionally; on error the old config stays in use.
    pub fn reload(&self) -> Result<(), TlsError> {
        let mut st = self.state()?;
        let settings = Arc::clone(&st.settings);
        let (loaded, config) = load_and_build(&settings, ServerTlsFiles::read(&settings))?;
        self.put(&mut st, settings, loaded, config);
        Ok(())
    }

    /// What SIGHUP does: re-reads the files and, when they differ from the ones in use,
    /// loads and builds (files that failed before are tried again: the operator asked). Logs
    /// one reload event. `Ok(true)`: a new config is in use; `Ok(false)`: the files are
    /// unchanged.
    pub fn reload_by(&self, trigger: ReloadTrigger) -> Result<bool, TlsError> {
        let result = self.reload_files(true);
        self.log(trigger, &result);
        result
    }

    /// Rebuilds when a file's contents changed. `Ok(true)`: a new config is in use;
    /// `Ok(false)`: nothing changed (or the same broken files as last time);
    /// `Err`: the files changed but do not load, the old config stays in use.
    pub fn reload_if_changed(&self) -> Result<bool, TlsError> {
        self.reload_if_changed_by(ReloadTrigger::Call)
    }

    /// [`Self::reload_if_changed`], logging a reload event when something changed.
    fn reload_if_changed_by(&self, trigger: ReloadTrigger) -> Result<bool, TlsError> {
        let result = self.reload_files(false);
        if !matches!(result, Ok(false)) {
            self.log(trigger, &result);
        }
        result
    }

    /// Reads the files once; loads and builds when the bytes differ from the material in use
    /// (and, unless `retry_failed`, from the last bytes that failed).
    fn reload_files(&self, retry_failed: bool) -> Result<bool, TlsError> {
        let mut st = self.state()?;
        let files = ServerTlsFiles::read(&st.settings);
        let print = files.fingerprint();
        if *st.loaded.fingerprint() == print
            || (!retry_failed && st.failed.as_ref() == Some(&print))
        {
            return Ok(false);
        }
        let settings = Arc::clone(&st.settings);
        match load_and_build(&settings, files) {
            Ok((loaded, config)) => {
                self.put(&mut st, settings, loaded, config);
                Ok(true)
            }
            Err(e) => {
                st.failed = Some(print);
                Err(e)
            }
        }
    }

    /// Loads and builds new `settings` (re-resolved from a reloaded plugins config) without
    /// putting them in use: a failure leaves everything as it is, so the caller can validate
    /// the whole config before [`Self::commit`].
    pub fn stage(&self, settings: ServerTlsSettings) -> Result<StagedTls, TlsError> {
        let (loaded, config) = load_and_build(&settings, ServerTlsFiles::read(&settings))?;
        Ok(StagedTls {
            settings: Arc::new(settings),
            loaded,
            config,
        })
    }

    /// Puts staged material in use, unless it is what is in use already (same settings, same
    /// bytes). Logs one reload event when it changed something; returns whether it did.
    pub fn commit(&self, staged: StagedTls, trigger: ReloadTrigger) -> bool {
        let Ok(mut st) = self.state() else {
            return false;
        };
        if *st.settings == *staged.settings
            && st.loaded.fingerprint() == staged.loaded.fingerprint()
        {
            return false;
        }
        let file = staged.settings.certfile.clone();
        self.put(&mut st, staged.settings, staged.loaded, staged.config);
        drop(st);
        log_reload("tls", &file, trigger, ReloadOutcome::Reloaded);
        true
    }

    fn certfile(&self) -> PathBuf {
        self.settings()
            .map(|s| s.certfile.clone())
            .unwrap_or_default()
    }

    fn log(&self, trigger: ReloadTrigger, result: &Result<bool, TlsError>) {
        let outcome = match result {
            Ok(true) => ReloadOutcome::Reloaded,
            Ok(false) => ReloadOutcome::Unchanged,
            Err(e) => ReloadOutcome::Failed(e),
        };
        log_reload("tls", &self.certfile(), trigger, outcome);
    }

    /// The files to watch now, and a watcher on their directories (`None` if it cannot start).
    fn watcher(&self, every: Duration) -> (Vec<PathBuf>, Option<DirWatch>) {
        let files: Vec<PathBuf> = self
            .settings()
            .map(|s| files_of(&s).into_iter().map(PathBuf::from).collect())
            .unwrap_or_default();
        let refs: Vec<&std::path::Path> = files.iter().map(PathBuf::as_path).collect();
        let dirs = match DirWatch::new(&refs) {
            Ok(w) => Some(w),
            Err(e) => {
                tracing::warn!(certfile = %self.certfile().display(), error = %e, "cannot watch the certificate directories; checking them every {every:?} instead");
                None
            }
        };
        (files, dirs)
    }

    /// Watches the files' directories (see [`crate::watch`]) and polls them every `every`,
    /// until `shutdown` completes, swapping the config when they change; a rotation that does
    /// not load is logged (once) and the old config kept. Without a working watcher (no
    /// inotify instances left, say) the poll alone carries on, with a warning. When new
    /// settings name other files ([`Self::commit`]), their directories are watched instead.
    pub async fn watch(self: Arc<Self>, every: Duration, shutdown: impl Future<Output = ()>) {
        let (mut files, mut dirs) = self.watcher(every);
        let mut published = self.subscribe();
        tokio::pin!(shutdown);
        loop {
            let trigger = tokio::select! {
                _ = &mut shutdown => return,
                _ = tokio::time::sleep(every) => Some(ReloadTrigger::Poll),
                () = async {
                    match &dirs {
                        Some(d) => d.changed().await,
                        None => std::future::pending().await,
                    }
                } => Some(ReloadTrigger::Watch),
                changed = published.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    None
                }
            };
            match trigger {
                // Logged inside; the old config stays in use on error.
                Some(t) => {
                    let _ = self.reload_if_changed_by(t);
                }
                None => {
                    let now: Vec<PathBuf> = self
                        .settings()
                        .map(|s| files_of(&s).into_iter().map(PathBuf::from).collect())
                        .unwrap_or_default();
                    if now != files {
                        (files, dirs) = self.watcher(every);
                    }
                }
            }
        }
    }
}
