//! `PluginManager`: runs the plugins of a hook with the semantics of either ContextForge era, and
//! runs one named plugin for the server.
//!
//! # Layout
//! - `phases`: the 1.1.0 chain (the default): SEQUENTIAL → TRANSFORM → AUDIT → CONCURRENT →
//!   FIRE_AND_FORGET, priority within a phase, `on_error`, execution records.
//! - `legacy`: the 1.0.0 chain under the 1.0.x switch: pure priority order, the 1.0.0 modes.
//! - `single`: one named plugin for `plugwire serve`'s `invoke_hook` (both eras).
//! - `background`: the bounded queue of fire_and_forget calls.
//! - `call`: one plugin call (timeout, panic capture) and the payload rules both chains share.
//! - `failure`: the failure policy for remote plugins (fail closed with a violation naming the
//!   plugin, or fail open, logged and counted).
//!
//! Every plugin call runs under `tokio::time::timeout` with its panics caught: a panic becomes a
//! `PluginError` (kind `Panic`), a hang is cancelled after the timeout (kind `Timeout`). A plugin
//! that blocks its thread without ever awaiting cannot be pre-empted (as in Python, where it blocks
//! the event loop); plugins with CPU-heavy work should use `tokio::task::spawn_blocking`.

mod background;
mod call;
mod failure;
mod legacy;
mod phases;
mod single;

use std::collections::{BTreeSet, HashMap};
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

pub use call::MAX_PAYLOAD_CHARS;
pub use failure::{FailureCause, PLUGIN_UNAVAILABLE};

use crate::{
    Compat, Config, ConfigError, GlobalContext, HookPayload, HookType, OnError, Plugin,
    PluginCondition, PluginContext, PluginError, PluginErrorKind, PluginMode, PluginRegistry,
    PluginResult,
};
use background::Background;
use call::join_error_text;

/// Per-plugin contexts of one request, returned by `invoke_hook` and passed back on the next hook
/// (pre → post) so each plugin finds its `state` again. Keys come from [`context_key`].
pub type PluginContextTable = HashMap<String, PluginContext>;

/// The table key of a plugin's context: request id and plugin name.
pub fn context_key(request_id: &str, plugin_name: &str) -> String {
    // Made on every plugin call: joined directly, not through the formatter.
    [request_id, ":", plugin_name].concat()
}

/// Metadata key naming the plugin whose decision `http_auth_check_permission` returns.
pub const DECISION_PLUGIN_KEY: &str = "_decision_plugin";

/// What a chain returns: the combined result and the contexts of the plugins that ran.
#[derive(Debug, Clone)]
pub struct HookOutcome {
    /// On a block: `continue_processing: false` and the violation, whose `plugin_name` is set.
    pub result: PluginResult,
    /// The plugin contexts to pass back on the matching post hook.
    pub contexts: PluginContextTable,
}

#[derive(Clone)]
pub(crate) struct HookEntry {
    plugin: Arc<dyn Plugin>,
    name: String,
    kind: String,
    mode: PluginMode,
    on_error: OnError,
    priority: i64,
    conditions: Vec<PluginCondition>,
    /// Per-process random id for execution records.
    id: Arc<str>,
    config_keys: Vec<String>,
    /// The entry's own `timeout:`, else the manager's.
    timeout: Option<Duration>,
}

/// Names of plugins taken out by `on_error: disable`, shared with background tasks.
type DisabledSet = Arc<Disabled>;

/// Stamps of [`Disabled`]'s changes, process-wide: a stamp is never given twice, so a manager
/// that replaced another (a reload) cannot show a stamp its predecessor showed.
static DISABLED_STAMPS: AtomicU64 = AtomicU64::new(0);

/// The runtime-disabled plugins, and the stamp of their last change: a watcher (the server's
/// metrics, after every call) compares one integer instead of copying the names out of the lock.
#[derive(Default)]
struct Disabled {
    names: Mutex<BTreeSet<String>>,
    /// 0 until the first change, then the process-wide stamp of the last one.
    stamp: AtomicU64,
}

impl Disabled {
    fn names(&self) -> std::sync::MutexGuard<'_, BTreeSet<String>> {
        self.names.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds `name`; a new stamp when it was not there yet.
    fn insert(&self, name: &str) {
        if self.names().insert(name.to_owned()) {
            self.changed();
        }
    }

    fn clear(&self) {
        self.names().clear();
        self.changed();
    }

    fn contains(&self, name: &str) -> bool {
        // No plugin was ever taken out (the normal case): no lock on the call path.
        self.stamp.load(Ordering::Acquire) != 0 && self.names().contains(name)
    }

    fn changed(&self) {
        let stamp = DISABLED_STAMPS.fetch_add(1, Ordering::Relaxed) + 1;
        self.stamp.store(stamp, Ordering::Release);
    }
}

/// Holds the plugins of one config.
pub struct PluginManager {
    config: Config,
    /// Enabled, constructed plugins in file order.
    plugins: Vec<Arc<dyn Plugin>>,
    /// Per hook, pure priority order (the 1.0.x chain and single-plugin lookup).
    hooks: HashMap<HookType, Vec<HookEntry>>,
    /// Per hook, phase order then priority (the 1.1.0 chain).
    phased: HashMap<HookType, Vec<HookEntry>>,
    timeout: Duration,
    fail_on_plugin_error: bool,
    compat: Compat,
    pool: Option<usize>,
    background: Background,
    disabled: DisabledSet,
    /// Plugins whose start-up failed and that were left out (`fail_on_plugin_error: false`),
    /// with the reason: what a gateway operator asks "is my guardrail running?" about.
    not_loaded: Vec<(String, String)>,
}

impl std::fmt::Debug for PluginManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginManager")
            .field("plugins", &self.plugin_names())
            .field("timeout", &self.timeout)
            .field("fail_on_plugin_error", &self.fail_on_plugin_error)
            .field("compat", &self.compat)
            .finish()
    }
}

/// 32 random hex digits (the randomness of std's hasher keys; no extra dependency).
fn random_id() -> String {
    let a = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(a);
    format!("{a:016x}{:016x}", h.finish())
}

impl PluginManager {
    /// Build every enabled entry through `registry`. Disabled entries are never resolved. An unknown
    /// kind or a constructor error (bad `config:`) fails here, naming file, plugin and key.
    /// Timeout, era, pool and `fail_on_plugin_error` come from `plugin_settings` (with the
    /// environment already applied by [`Config::load`]); see [`PluginManager::set_timeout`].
    pub fn new(config: Config, registry: &PluginRegistry) -> Result<Self, ConfigError> {
        let file = config.source_name();
        let mut plugins = Vec::new();
        for entry in &config.plugins {
            if entry.mode == PluginMode::Disabled {
                tracing::debug!(plugin = %entry.name, "plugin disabled; not loaded");
                continue;
            }
            match registry.create(entry.clone()) {
                None => {
                    return Err(ConfigError::UnknownKind {
                        file,
                        plugin: entry.name.clone(),
                        kind: entry.kind.clone(),
                        known: registry.kinds().join(", "),
                    })
                }
                Some(Err(error)) => {
                    return Err(ConfigError::Plugin {
                        file,
                        plugin: entry.name.clone(),
                        error: Box::new(error),
                    })
                }
                Some(Ok(p)) => plugins.push(p),
            }
        }
        let s = &config.plugin_settings;
        let timeout = Duration::from_secs(s.plugin_timeout.max(1) as u64);
        let (fail_on_plugin_error, compat, pool) =
            (s.fail_on_plugin_error, s.compat(), s.execution_pool());
        let mut m = PluginManager {
            config,
            plugins,
            hooks: HashMap::new(),
            phased: HashMap::new(),
            timeout,
            fail_on_plugin_error,
            compat,
            pool,
            background: Background::new(pool),
            disabled: Arc::default(),
            not_loaded: Vec::new(),
        };
        m.rebuild_hooks();
        Ok(m)
    }

    /// Replace the per-plugin timeout (e.g. with `PluginSettings::effective_timeout`, which applies
    /// `PLUGINS_PLUGIN_TIMEOUT`).
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// Builder form of [`PluginManager::set_timeout`].
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Choose the era (normally from `plugin_settings.compat` / `PLUGINS_COMPAT`).
    pub fn set_compat(&mut self, compat: Compat) {
        self.compat = compat;
    }

    /// Replace the execution pool (`None` = unbounded). Only before the first call.
    pub fn set_execution_pool(&mut self, pool: Option<usize>) {
        self.pool = pool;
        self.background = Background::new(pool);
    }

    /// The per-plugin call timeout.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The timeout of one call of `e`: its entry's `timeout:` when set, else the manager's.
    fn timeout_for(&self, e: &HookEntry) -> Duration {
        e.timeout.unwrap_or(self.timeout)
    }

    /// The era whose semantics this manager follows.
    pub fn compat(&self) -> Compat {
        self.compat
    }

    /// `fail_on_plugin_error`: a plugin that fails to initialize aborts start-up; under the 1.0.x
    /// switch also every run-time plugin error fails the chain, whatever the mode.
    pub fn fail_on_plugin_error(&self) -> bool {
        self.fail_on_plugin_error
    }

    /// The execution pool (`None` = unbounded).
    pub fn execution_pool(&self) -> Option<usize> {
        self.pool
    }

    /// Plugins taken out at run time by `on_error: disable`, sorted. They stay out for the life
    /// of the manager (`/health` reports them).
    pub fn runtime_disabled(&self) -> Vec<String> {
        self.disabled.names().iter().cloned().collect()
    }

    /// A stamp that changes whenever [`PluginManager::runtime_disabled`] does: 0 while no
    /// plugin was ever taken out, then a value no other manager of this process ever showed
    /// (so a watcher that saw a replaced manager's stamp still notices this one's change).
    /// One atomic load: cheap enough to check after every call.
    pub fn runtime_disabled_stamp(&self) -> u64 {
        self.disabled.stamp.load(Ordering::Acquire)
    }

    /// Bring runtime-disabled plugins back (cpex's `reset_runtime_disabled`).
    pub fn reset_runtime_disabled(&self) {
        self.disabled.clear();
    }

    fn is_runtime_disabled(&self, name: &str) -> bool {
        self.disabled.contains(name)
    }

    /// fire_and_forget calls dropped because the background queue was full.
    pub fn background_overflowed(&self) -> u64 {
        self.background.overflowed()
    }

    /// fire_and_forget calls still running.
    pub fn background_pending(&self) -> usize {
        self.background.pending()
    }

    /// The config the manager was built from.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Enabled plugins whose `initialize` failed and that were left out, with the error text
    /// (empty with `fail_on_plugin_error: true`, where such a failure stops start-up instead).
    pub fn not_loaded(&self) -> &[(String, String)] {
        &self.not_loaded
    }

    /// Names of the loaded (enabled) plugins, in file order.
    pub fn plugin_names(&self) -> Vec<String> {
        self.plugins
            .iter()
            .map(|p| p.config().name.clone())
            .collect()
    }

    /// A loaded plugin by exact name.
    pub fn plugin(&self, name: &str) -> Option<Arc<dyn Plugin>> {
        self.plugins
            .iter()
            .find(|p| p.config().name == name)
            .cloned()
    }

    /// Whether any plugin is registered for `hook` (skip building payloads otherwise).
    pub fn has_hooks_for(&self, hook: HookType) -> bool {
        self.hooks.get(&hook).is_some_and(|v| !v.is_empty())
    }

    /// Plugin names registered for `hook`, in this era's execution order.
    pub fn plugins_for(&self, hook: HookType) -> Vec<String> {
        self.ordered(hook)
            .map(|v| v.iter().map(|e| e.name.clone()).collect())
            .unwrap_or_default()
    }

    fn ordered(&self, hook: HookType) -> Option<&Vec<HookEntry>> {
        match self.compat {
            Compat::V1_0 => self.hooks.get(&hook),
            Compat::V1_1 => self.phased.get(&hook),
        }
    }

    /// Sort per hook by priority (and by phase for the 1.1.0 order); the stable sort keeps file
    /// order for ties. Reads each plugin's `config()` now, so remote configs merged during
    /// `initialize` are honoured.
    fn rebuild_hooks(&mut self) {
        let mut hooks: HashMap<HookType, Vec<HookEntry>> = HashMap::new();
        for p in &self.plugins {
            let c = p.config();
            if c.mode == PluginMode::Disabled {
                continue;
            }
            let id: Arc<str> = random_id().into();
            for h in &c.hooks {
                let list = hooks.entry(*h).or_default();
                if list.iter().any(|e| e.name == c.name) {
                    continue;
                }
                list.push(HookEntry {
                    plugin: p.clone(),
                    name: c.name.clone(),
                    kind: c.kind.chars().take(256).collect(),
                    mode: c.mode,
                    on_error: c.effective_on_error(),
                    priority: c.priority,
                    conditions: c.conditions.clone(),
                    id: id.clone(),
                    config_keys: c
                        .config
                        .as_ref()
                        .map(|m| m.keys().take(64).cloned().collect())
                        .unwrap_or_default(),
                    timeout: c.call_timeout(),
                });
            }
        }
        for list in hooks.values_mut() {
            list.sort_by_key(|e| e.priority);
        }
        let mut phased = hooks.clone();
        for list in phased.values_mut() {
            list.sort_by_key(|e| (e.mode.phase(), e.priority));
        }
        self.hooks = hooks;
        self.phased = phased;
    }

    /// Initialize every plugin in file order. A failure is logged and that plugin dropped, unless
    /// `fail_on_plugin_error` is set: then it is returned (as Python does).
    pub async fn initialize(&mut self) -> Result<(), PluginError> {
        let mut kept = Vec::with_capacity(self.plugins.len());
        for p in std::mem::take(&mut self.plugins) {
            let name = p.config().name.clone();
            let task = {
                let p = p.clone();
                tokio::spawn(async move { p.initialize().await })
            };
            let outcome = match task.await {
                Ok(r) => r,
                Err(e) => Err(PluginError::panic(&name, &join_error_text(e))),
            };
            match outcome {
                Ok(()) => kept.push(p),
                Err(e) if self.fail_on_plugin_error => {
                    self.plugins = kept;
                    self.rebuild_hooks();
                    return Err(PluginError::new(
                        PluginErrorKind::Initialization,
                        name.clone(),
                        format!("Plugin initialization failed: {name} - {e}"),
                    ));
                }
                Err(e) => {
                    self.not_loaded.push((name.clone(), e.to_string()));
                    tracing::error!(plugin = %name, error = %e, "plugin failed to initialize; skipped (set PLUGINS_FAIL_ON_PLUGIN_ERROR=true or plugin_settings.fail_on_plugin_error to abort instead)");
                }
            }
        }
        self.plugins = kept;
        self.rebuild_hooks();
        Ok(())
    }

    /// Let background (fire_and_forget) calls finish (within the plugin timeout + 1 s), cancel the rest,
    /// then shut every plugin down in reverse order. Panics and hangs (bounded by the timeout)
    /// are logged.
    pub async fn shutdown(&self) {
        // Each background call runs under the plugin timeout, so one that started just before
        // shutdown ends by itself within it; the extra second lets it report its error.
        let grace = self.timeout.saturating_add(Duration::from_secs(1));
        self.background.shutdown(grace).await;
        for p in self.plugins.iter().rev() {
            let name = p.config().name.clone();
            let p = p.clone();
            let task = tokio::spawn(async move { p.shutdown().await });
            let abort = task.abort_handle();
            match tokio::time::timeout(self.timeout, task).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    tracing::warn!(plugin = %name, error = %join_error_text(e), "plugin shutdown panicked")
                }
                Err(_) => {
                    abort.abort();
                    tracing::warn!(plugin = %name, "plugin shutdown timed out");
                }
            }
        }
    }

    /// Run the chain for `payload`'s hook, with this manager's era (see `phases` and `legacy`).
    /// Conditions are checked against the original payload. Pass the returned `contexts` back on
    /// the matching post hook. An `Err` is a failure the era makes fatal (e.g. `on_error: fail`).
    pub async fn invoke_hook(
        &self,
        payload: HookPayload,
        global: &mut GlobalContext,
        contexts: Option<PluginContextTable>,
    ) -> Result<HookOutcome, PluginError> {
        let hook = payload.hook_type();
        let Some(entries) = self.ordered(hook).filter(|v| !v.is_empty()) else {
            return Ok(HookOutcome {
                result: PluginResult::pass(),
                contexts: PluginContextTable::new(),
            });
        };
        call::check_payload_size(&payload)?;
        match self.compat {
            Compat::V1_0 => self.chain_1_0(entries, payload, global, contexts).await,
            Compat::V1_1 => self.chain_1_1(entries, payload, global, contexts).await,
        }
    }
}
