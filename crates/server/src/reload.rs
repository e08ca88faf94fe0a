//! Live reload: the plugins YAML (SIGHUP, `plugwire serve --watch-config`) and, on SIGHUP,
//! the TLS material of every listener, without dropping a call.
//!
//! Every transport serves one [`SwappableBackend`]. A reload loads the new YAML with the same
//! loader as start-up, builds and initializes every plugin, and only then swaps the backend
//! in one atomic store: a call takes the backend in use when it starts and keeps it to the
//! end, so in-flight calls finish on the old plugins, and the old manager is shut down once
//! the last of them returns. A file that does not load, a plugin whose config is refused or
//! whose `initialize()` fails under `fail_on_plugin_error`, or `server_settings` that would not
//! start the server: the reload fails with that error, logged with the file, and the old
//! config keeps serving. So does a file that is empty (or only whitespace): at start-up that
//! would be a config without plugins, but a file that turns empty under a running server is
//! almost always a save caught half-way (truncated, not yet written), and serving it would
//! drop every plugin, guardrails included. To serve no plugins, write `plugins: []`.
//!
//! `--watch-config` waits, after a change event, until the file's size, mtime and inode have
//! stayed the same for [`WATCH_SETTLE`] (at most [`WATCH_SETTLE_MAX`]) before it reads it, so
//! a writer that truncates and then writes is read once, whole. Writing a temporary file and
//! renaming it over the config is the one way that is never seen half-written.
//!
//! The TLS settings of each TLS listener (`server_settings.tls`, `grpc_server_settings.tls`:
//! `allowed_clients`, CA bundle, CRL, certificate and key files, policy) are re-resolved from
//! the new file (each set variable still wins), loaded and built before anything is swapped,
//! so a broken one fails the reload and the old config, TLS included, stays. They are put in
//! use right after the plugins: new connections see them, established ones keep theirs.
//!
//! Bound sockets are not re-bound: when the new file changes a setting that only a restart
//! applies (host, port, Unix socket, turning a listener's TLS on or off), a WARN names the keys.
//! The connection limits (`server_settings.limits.*`: connection cap, body timeout and rate,
//! drain timeout) are given to the listeners when they start and are not re-read either: each
//! one a reload changes is named in the same WARN (`plugwire serve` puts [`limits_view`] in its
//! bind view).
//!
//! Metrics: `plugwire_config_generation` +1 per successful reload; the last reload's time and
//! result; the call series of the new plugin set created at zero; the expiry of each
//! certificate after every TLS reload ([`follow_certificates`]).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use plugwire_framework::{Config, PluginRegistry};
use plugwire_mcp::{InvokeHookArgs, InvokeHookResponse, RawInvokeHookArgs, TextResultWriter};
use plugwire_metrics::{CertRole, ServerMetrics};
use plugwire_tls::{
    log_reload, CertInfo, DirWatch, LoadedServerTls, ReloadOutcome, ReloadTrigger,
    ReloadableServerConfig, StagedTls, GRPC_SERVER_TLS, MCP_SERVER_TLS,
};
use serde_json::Value;
use tokio::sync::mpsc;

use crate::backend::{Backend, DecodedCall, ProtoAnswer, ProtoArgs};
use crate::error::ServerError;
use crate::limits::{resolve_limits_with, yaml_keys};
use crate::manager_backend::{build_manager, initialize_manager, ManagerBackend};

/// The `Backend` every transport serves: the plugin manager in use, replaced whole by a reload.
pub struct SwappableBackend {
    current: ArcSwap<ManagerBackend>,
}

impl SwappableBackend {
    /// Serves `backend` until the first reload.
    pub fn new(backend: ManagerBackend) -> Self {
        SwappableBackend {
            current: ArcSwap::from_pointee(backend),
        }
    }

    /// The backend in use. A full `Arc` (not a borrow): the caller keeps that backend alive,
    /// and counted, for as long as it holds it.
    pub fn current(&self) -> Arc<ManagerBackend> {
        self.current.load_full()
    }

    /// Puts `next` in use; returns the one it replaces.
    pub fn swap(&self, next: Arc<ManagerBackend>) -> Arc<ManagerBackend> {
        self.current.swap(next)
    }
}

#[async_trait::async_trait]
impl Backend for SwappableBackend {
    fn plugin_configs(&self) -> Vec<Value> {
        self.current().plugin_configs()
    }

    fn plugin_config(&self, name: &str) -> Option<Value> {
        self.current().plugin_config(name)
    }

    fn runtime_disabled(&self) -> Vec<String> {
        self.current().runtime_disabled()
    }

    fn runtime_disabled_stamp(&self) -> u64 {
        // A new manager's stamps are never an old one's: a reload cannot hide a change.
        self.current.load().runtime_disabled_stamp()
    }

    async fn invoke_hook(&self, args: RawInvokeHookArgs<'_>, out: &mut TextResultWriter) {
        self.current().invoke_hook(args, out).await;
    }

    fn decode_call<'a>(&self, body: &'a [u8]) -> Option<DecodedCall<'a>> {
        // Decoding reads no config: any backend's decoding is the one in use.
        self.current.load().decode_call(body)
    }

    async fn invoke_decoded(&self, call: DecodedCall<'_>, out: &mut TextResultWriter) {
        self.current().invoke_decoded(call, out).await;
    }

    async fn invoke_hook_json(&self, args: InvokeHookArgs) -> InvokeHookResponse {
        self.current().invoke_hook_json(args).await
    }

    async fn invoke_hook_proto(&self, args: ProtoArgs) -> ProtoAnswer {
        self.current().invoke_hook_proto(args).await
    }
}

/// The settings a reload cannot apply, as (`yaml key`, value) pairs, resolved from a config
/// the way start-up resolves them (variables win). Values are compared, never logged (a key
/// password may be among them).
pub type BindView = Vec<(String, String)>;

/// Resolves a config's [`BindView`]; an error means the config would not start the server.
pub type BindViewFn = Box<dyn Fn(&Config) -> Result<BindView, ServerError> + Send + Sync>;

/// The resolved `server_settings.limits` of a config (variables win, as at start-up), as
/// (`yaml key`, value) pairs: the listeners take them at start-up, so a reload that changes
/// one WARNs that it needs a restart. An error means the config would not start the server.
pub fn limits_view(config: &Config, env: &dyn plugwire_env::Env) -> Result<BindView, ServerError> {
    let yaml = config
        .server_settings
        .as_ref()
        .and_then(|s| s.limits.as_ref());
    let l = resolve_limits_with(yaml, env)?;
    Ok(vec![
        (
            yaml_keys::MAX_CONNECTIONS.to_string(),
            l.max_connections.to_string(),
        ),
        (
            yaml_keys::BODY_TIMEOUT.to_string(),
            format!("{:?}", l.body_timeout),
        ),
        (
            yaml_keys::BODY_MIN_RATE.to_string(),
            l.min_body_rate.to_string(),
        ),
        (
            yaml_keys::DRAIN_TIMEOUT.to_string(),
            format!("{:?}", l.drain_timeout),
        ),
    ])
}

/// How long the plugins YAML must stay unchanged (size, mtime, inode) after a change event
/// before `--watch-config` reads it.
pub const WATCH_SETTLE: Duration = Duration::from_millis(300);
/// The longest `--watch-config` waits for the file to settle; then it reads it anyway (an
/// empty or unparsable file still never replaces the running config).
pub const WATCH_SETTLE_MAX: Duration = Duration::from_secs(3);

/// The environment the loader renders `{{ env.VAR }}` with and reads settings from.
pub type EnvFn = Arc<dyn plugwire_env::Env + Send + Sync>;

/// Reloads the plugins YAML (and, on SIGHUP, the TLS material) of a running server.
pub struct ConfigReloader {
    path: PathBuf,
    env: EnvFn,
    registry: Arc<PluginRegistry>,
    backend: Arc<SwappableBackend>,
    bind_view: BindViewFn,
    /// What the sockets were bound with.
    bound: BindView,
    /// The file's bytes at the last load attempt: the watcher reloads only when they differ.
    loaded: Mutex<Option<Vec<u8>>>,
    generation: AtomicU64,
    tls: Vec<Arc<ReloadableServerConfig>>,
    /// One reload at a time.
    running: tokio::sync::Mutex<()>,
}

impl ConfigReloader {
    /// A reloader for the config at `path` now served by `backend` (generation 1). `bound` is
    /// the [`BindView`] the sockets were bound with; `tls` the listeners' reloadable configs.
    pub fn new(
        path: PathBuf,
        env: EnvFn,
        registry: Arc<PluginRegistry>,
        backend: Arc<SwappableBackend>,
        bind_view: BindViewFn,
        bound: BindView,
        tls: Vec<Arc<ReloadableServerConfig>>,
    ) -> Self {
        let loaded = std::fs::read(&path).ok();
        ConfigReloader {
            path,
            env,
            registry,
            backend,
            bind_view,
            bound,
            loaded: Mutex::new(loaded),
            generation: AtomicU64::new(1),
            tls,
            running: tokio::sync::Mutex::new(()),
        }
    }

    /// The generation in use: 1 at start-up, +1 per successful reload.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// The plugins YAML's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What SIGHUP does: every listener's TLS material, then the plugins YAML. Each is one
    /// reload event in the log; the config's result is returned.
    pub async fn reload_all(&self, trigger: ReloadTrigger) -> Result<u64, ServerError> {
        for r in &self.tls {
            // Logged inside; the old config stays in use on error.
            let _ = r.reload_by(trigger);
        }
        self.reload_config(trigger).await
    }

    /// Loads, validates and builds the plugins YAML in full, then swaps it in. On success the
    /// new generation; on error the old config keeps serving. Either way one log event.
    pub async fn reload_config(&self, trigger: ReloadTrigger) -> Result<u64, ServerError> {
        let _one = self.running.lock().await;
        let bytes = std::fs::read(&self.path).ok();
        let result = self.load_and_swap(trigger).await;
        // Remembered whether it loaded or not: the watcher retries only a file that changed
        // again, not the same broken one at every event in its directory.
        if let Ok(mut l) = self.loaded.lock() {
            *l = bytes;
        }
        let metrics = ServerMetrics::global();
        match &result {
            Ok(generation) => {
                metrics.config_loaded(*generation, true);
                log_reload("config", &self.path, trigger, ReloadOutcome::Reloaded);
            }
            Err(e) => {
                metrics.config_loaded(self.generation(), false);
                log_reload("config", &self.path, trigger, ReloadOutcome::Failed(e));
            }
        }
        result
    }

    async fn load_and_swap(&self, trigger: ReloadTrigger) -> Result<u64, ServerError> {
        let env = &*self.env;
        let text = plugwire_framework::config::read::read_bounded(&self.path, env)?;
        if text.trim().is_empty() {
            return Err(ServerError::Config(plugwire_framework::ConfigError::Read {
                path: self.path.clone(),
                source: std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    "the file is empty: taken for a save caught half-way, so the running config \
                     stays (write the file whole, e.g. to a temporary file renamed over it; to \
                     serve no plugins, write `plugins: []`)",
                ),
            }));
        }
        let mut config = Config::load_str(&text, &self.path.display().to_string(), env)?;
        config.source = Some(self.path.clone());
        let view = (self.bind_view)(&config)?;
        let staged = self.stage_tls(&config)?;
        let manager = build_manager(config, &self.registry, env)?;
        let manager = initialize_manager(manager).await?;
        let next = Arc::new(ManagerBackend::new(manager));
        crate::metered::preregister_calls(&*next, ServerMetrics::global());
        // Counted before the swap: whoever sees the new config answer sees its generation too.
        let generation = self.generation.fetch_add(1, Ordering::SeqCst) + 1;
        let old = self.backend.swap(next);
        let mut live: Vec<&'static str> = Vec::new();
        for (tls, next) in staged {
            live.push(tls.settings().map_or("", |s| s.names.tls_key));
            // Logged inside when it changed something.
            tls.commit(next, trigger);
        }
        self.warn_restart_needed(&view, &live);
        for name in old.runtime_disabled() {
            ServerMetrics::global().plugin_disabled(&name, false);
        }
        tokio::spawn(retire(old));
        Ok(generation)
    }

    /// Re-resolves each TLS listener's settings from `config` (variables win, as at
    /// start-up), then loads and builds them, nothing put in use yet. A listener whose TLS the
    /// new file turns off is left as it is (that needs a restart; the WARN names the key).
    fn stage_tls(
        &self,
        config: &Config,
    ) -> Result<Vec<(Arc<ReloadableServerConfig>, StagedTls)>, ServerError> {
        let env = &*self.env;
        let mut staged = Vec::new();
        for tls in &self.tls {
            let Some(now) = tls.settings() else { continue };
            let next = if now.names == MCP_SERVER_TLS {
                let layer = config
                    .server_settings
                    .as_ref()
                    .map(crate::serve::settings_layer);
                crate::settings::resolve_server_settings(layer.as_ref(), env)?.tls
            } else if now.names == GRPC_SERVER_TLS {
                let layer = config
                    .grpc_server_settings
                    .as_ref()
                    .map(crate::serve::grpc_settings_layer);
                crate::transport::resolve_grpc_server_settings(layer.as_ref(), env)?.tls
            } else {
                None
            };
            if let Some(next) = next {
                staged.push((Arc::clone(tls), tls.stage(next)?));
            }
        }
        Ok(staged)
    }

    /// WARNs about changed keys a reload cannot apply (bind settings and limits); `live` are
    /// the `tls` keys it applied.
    fn warn_restart_needed(&self, view: &BindView, live: &[&str]) {
        let mut changed = changed_keys(&self.bound, view);
        changed.retain(|k| !live.contains(k));
        if !changed.is_empty() {
            tracing::warn!(
                file = %self.path.display(),
                keys = %changed.join(", "),
                "config reloaded, but these settings changed and apply only after a restart (the sockets stay bound as they are): {}",
                changed.join(", ")
            );
        }
    }

    /// Whether the file differs from the one last loaded (the watcher's filter).
    fn file_changed(&self) -> bool {
        let now = std::fs::read(&self.path).ok();
        self.loaded.lock().map_or(true, |l| *l != now)
    }

    /// Serves reload requests until `shutdown`: each message on `signals` (SIGHUP) reloads
    /// everything; with `watch_config`, a change of the YAML's contents reloads the config.
    pub async fn run(
        self: Arc<Self>,
        mut signals: mpsc::Receiver<()>,
        watch_config: bool,
        shutdown: impl std::future::Future<Output = ()>,
    ) {
        let watch = if watch_config {
            match DirWatch::new(&[self.path.as_path()]) {
                Ok(w) => Some(w),
                Err(e) => {
                    tracing::warn!(file = %self.path.display(), error = %e, "cannot watch the plugins config; it reloads on SIGHUP only");
                    None
                }
            }
        } else {
            None
        };
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = &mut shutdown => return,
                Some(()) = signals.recv() => {
                    let _ = self.reload_all(ReloadTrigger::Signal).await;
                }
                () = async {
                    match &watch {
                        Some(w) => w.changed().await,
                        None => std::future::pending().await,
                    }
                } => {
                    // A writer that truncates, then writes, is read once it is done.
                    tokio::select! {
                        _ = &mut shutdown => return,
                        () = settle(&self.path) => {}
                    }
                    if self.file_changed() {
                        let _ = self.reload_config(ReloadTrigger::Watch).await;
                    }
                }
            }
        }
    }
}

/// What tells a file's writes apart without reading it: size, mtime and inode (a rename over
/// it is a new inode). `None` while it does not exist.
fn stamp(path: &Path) -> Option<(u64, Option<SystemTime>, u64)> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path).ok()?;
    Some((m.len(), m.modified().ok(), m.ino()))
}

/// Returns once `path` has not changed for [`WATCH_SETTLE`], or after [`WATCH_SETTLE_MAX`].
async fn settle(path: &Path) {
    let started = tokio::time::Instant::now();
    let mut last = stamp(path);
    loop {
        tokio::time::sleep(WATCH_SETTLE).await;
        let now = stamp(path);
        if now == last || started.elapsed() >= WATCH_SETTLE_MAX {
            return;
        }
        last = now;
    }
}

/// The keys whose value differs between what is bound and a reloaded config (present in one
/// only counts as changed).
fn changed_keys<'a>(bound: &'a BindView, view: &'a BindView) -> Vec<&'a str> {
    let differs = |a: &BindView, k: &str, v: &str| !a.iter().any(|(ak, av)| ak == k && av == v);
    let mut keys: Vec<&str> = Vec::new();
    for (k, v) in view.iter().chain(bound.iter()) {
        if (differs(bound, k, v) || differs(view, k, v)) && !keys.contains(&k.as_str()) {
            keys.push(k);
        }
    }
    keys
}

/// Shuts a replaced manager down once the calls still running on it have returned (each is
/// bounded by the plugin timeout, so this wait is too; past twice that, it shuts down anyway).
async fn retire(old: Arc<ManagerBackend>) {
    let limit = old.manager().timeout().saturating_mul(2);
    let started = tokio::time::Instant::now();
    while Arc::strong_count(&old) > 1 && started.elapsed() < limit {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    old.manager().shutdown().await;
}

/// Keeps `plugwire_certificate_expiry_seconds` of a listener's certificate and CA bundle up
/// to date: now, and after every config `tls` puts in use, until `shutdown`. Read from the
/// loaded material, not the files.
pub async fn follow_certificates(
    tls: Arc<ReloadableServerConfig>,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let mut rx = tls.subscribe();
    let record = || {
        if let (Some(s), Some(l)) = (tls.settings(), tls.loaded()) {
            record_expiry(&s.certfile, &s.ca_bundle, &l);
        }
    };
    record();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => return,
            changed = rx.changed() => {
                if changed.is_err() {
                    return;
                }
                record();
            }
        }
    }
}

/// Records the earliest `notAfter` of the loaded chain and of the loaded CA bundle.
fn record_expiry(certfile: &Path, ca_bundle: &Option<PathBuf>, loaded: &LoadedServerTls) {
    let earliest = |certs: &[plugwire_tls::rustls::pki_types::CertificateDer<'_>]| {
        certs
            .iter()
            .filter_map(CertInfo::parse)
            .map(|i| i.not_after_unix)
            .min()
    };
    let metrics = ServerMetrics::global();
    if let Some(t) = earliest(loaded.chain()) {
        metrics.certificate_not_after(CertRole::Server, &certfile.display().to_string(), t);
    }
    let roots = loaded.client_auth.roots();
    if let (Some(ca), Some(t)) = (ca_bundle, roots.and_then(|r| earliest(r.certs()))) {
        metrics.certificate_not_after(CertRole::Ca, &ca.display().to_string(), t);
    }
}

/// Starts the certificate watch of a listener (directory watch + poll every `poll`) and its
/// expiry metrics, both until a `stop()` future completes.
pub fn spawn_tls_watch<F, Fut>(tls: &Arc<ReloadableServerConfig>, poll: Duration, stop: &F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    tokio::spawn(Arc::clone(tls).watch(poll, stop()));
    tokio::spawn(follow_certificates(Arc::clone(tls), stop()));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(pairs: &[(&str, &str)]) -> BindView {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn changed_keys_names_each_differing_key_once() {
        let bound = view(&[
            ("server_settings.host", "127.0.0.1"),
            ("server_settings.port", "8000"),
        ]);
        assert!(changed_keys(&bound, &bound.clone()).is_empty());
        let moved = view(&[
            ("server_settings.host", "127.0.0.1"),
            ("server_settings.port", "9000"),
        ]);
        assert_eq!(changed_keys(&bound, &moved), ["server_settings.port"]);
        let grpc = view(&[
            ("server_settings.host", "0.0.0.0"),
            ("server_settings.port", "8000"),
            ("grpc_server_settings.port", "50051"),
        ]);
        assert_eq!(
            changed_keys(&bound, &grpc),
            ["server_settings.host", "grpc_server_settings.port"]
        );
    }
}
