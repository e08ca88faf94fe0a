//! `PluginManager`: runs the plugins of a hook in priority order with modes, conditions and
//! timeouts (framework.md §3), and runs one named plugin for the server (corrections.md finding 11).
//!
//! Every plugin call runs under `tokio::time::timeout` with its panics caught: a panic becomes a
//! `PluginError` (kind `Panic`), a hang is cancelled after the timeout (kind `Timeout`). A plugin
//! that blocks its thread without ever awaiting cannot be pre-empted (as in Python, where it blocks
//! the event loop); plugins with CPU-heavy work should use `tokio::task::spawn_blocking`.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use serde_json::Value;

use crate::conditions::payload_matches;
use crate::{
    Config, ConfigError, GlobalContext, HookPayload, HookType, JsonMap, Plugin, PluginCondition,
    PluginContext, PluginError, PluginErrorKind, PluginMode, PluginRegistry, PluginResult,
};

/// Per-plugin contexts of one request, returned by `invoke_hook` and passed back on the next hook
/// (pre → post) so each plugin finds its `state` again. Keys come from [`context_key`].
pub type PluginContextTable = HashMap<String, PluginContext>;

/// The table key of a plugin's context: request id and plugin name.
pub fn context_key(request_id: &str, plugin_name: &str) -> String {
    format!("{request_id}:{plugin_name}")
}

/// Metadata key naming the plugin whose decision `http_auth_check_permission` returns.
pub const DECISION_PLUGIN_KEY: &str = "_decision_plugin";

/// What a chain returns: the combined result and the contexts of the plugins that ran.
#[derive(Debug, Clone)]
pub struct HookOutcome {
    /// On a block: `continue_processing: false` and the violation, whose `plugin_name` is set.
    pub result: PluginResult,
    pub contexts: PluginContextTable,
}

#[derive(Clone)]
struct HookEntry {
    plugin: Arc<dyn Plugin>,
    name: String,
    mode: PluginMode,
    priority: i64,
    conditions: Vec<PluginCondition>,
}

/// Holds the plugins of one config.
pub struct PluginManager {
    config: Config,
    /// Enabled, constructed plugins in file order.
    plugins: Vec<Arc<dyn Plugin>>,
    hooks: HashMap<HookType, Vec<HookEntry>>,
    timeout: Duration,
    fail_on_plugin_error: bool,
}

impl std::fmt::Debug for PluginManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginManager")
            .field("plugins", &self.plugin_names())
            .field("timeout", &self.timeout)
            .field("fail_on_plugin_error", &self.fail_on_plugin_error)
            .finish()
    }
}

impl PluginManager {
    /// Build every enabled entry through `registry`. Disabled entries are never resolved. An unknown
    /// kind or a constructor error (bad `config:`) fails here, naming file, plugin and key.
    /// The timeout is `plugin_settings.plugin_timeout`; see [`PluginManager::set_timeout`].
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
        let timeout = Duration::from_secs(config.plugin_settings.plugin_timeout.max(1) as u64);
        let fail_on_plugin_error = config.plugin_settings.fail_on_plugin_error;
        let mut m = PluginManager {
            config,
            plugins,
            hooks: HashMap::new(),
            timeout,
            fail_on_plugin_error,
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

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// `plugin_settings.fail_on_plugin_error`: every plugin error fails the chain, whatever the mode.
    pub fn fail_on_plugin_error(&self) -> bool {
        self.fail_on_plugin_error
    }

    pub fn config(&self) -> &Config {
        &self.config
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

    /// Plugin names registered for `hook`, in execution order.
    pub fn plugins_for(&self, hook: HookType) -> Vec<String> {
        self.hooks
            .get(&hook)
            .map(|v| v.iter().map(|e| e.name.clone()).collect())
            .unwrap_or_default()
    }

    /// Sort per hook by priority; the stable sort keeps file order for ties. Reads each plugin's
    /// `config()` now, so remote configs merged during `initialize` are honoured.
    fn rebuild_hooks(&mut self) {
        let mut hooks: HashMap<HookType, Vec<HookEntry>> = HashMap::new();
        for p in &self.plugins {
            let c = p.config();
            if c.mode == PluginMode::Disabled {
                continue;
            }
            for h in &c.hooks {
                let list = hooks.entry(*h).or_default();
                if list.iter().any(|e| e.name == c.name) {
                    continue;
                }
                list.push(HookEntry {
                    plugin: p.clone(),
                    name: c.name.clone(),
                    mode: c.mode,
                    priority: c.priority,
                    conditions: c.conditions.clone(),
                });
            }
        }
        for list in hooks.values_mut() {
            list.sort_by_key(|e| e.priority);
        }
        self.hooks = hooks;
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
                    tracing::error!(plugin = %name, error = %e, "plugin failed to initialize; skipped (set plugin_settings.fail_on_plugin_error to abort instead)");
                }
            }
        }
        self.plugins = kept;
        self.rebuild_hooks();
        Ok(())
    }

    /// Shut every plugin down in reverse order. Panics and hangs (bounded by the timeout) are logged.
    pub async fn shutdown(&self) {
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

    /// Run the chain for `payload`'s hook.
    ///
    /// Plugins run by priority (ties in file order); each receives the payload as modified by the
    /// ones before. Conditions are checked against the original payload. `enforce` stops on a
    /// violation and on an error (returned as `Err`); `enforce_ignore_error` stops on a violation and
    /// logs errors; `permissive` logs both and continues. `fail_on_plugin_error` turns every error into
    /// `Err`. Enforce-mode plugins' writes to `global_context.state`/`metadata` are merged into
    /// `global`. Pass the returned `contexts` back on the matching post hook.
    pub async fn invoke_hook(
        &self,
        payload: HookPayload,
        global: &mut GlobalContext,
        contexts: Option<PluginContextTable>,
    ) -> Result<HookOutcome, PluginError> {
        let hook = payload.hook_type();
        let mut local = contexts.unwrap_or_default();
        let mut out = PluginContextTable::new();
        let Some(entries) = self.hooks.get(&hook).filter(|v| !v.is_empty()) else {
            return Ok(HookOutcome {
                result: PluginResult::pass(),
                contexts: out,
            });
        };
        if payload.is_result_only() {
            return Err(PluginError::new(
                PluginErrorKind::InvalidPayload,
                "",
                format!("a {hook} result payload is not a hook input"),
            ));
        }
        let original = payload;
        let mut input = original.clone();
        let mut current: Option<HookPayload> = None;
        let mut combined = JsonMap::new();
        let mut max_retry = 0u64;
        let mut decision_plugin: Option<String> = None;

        for e in entries {
            if e.mode == PluginMode::Disabled {
                continue;
            }
            if !payload_matches(&e.conditions, hook, &original, global) {
                tracing::debug!(plugin = %e.name, %hook, "conditions not met; skipped");
                continue;
            }
            let key = context_key(&global.request_id, &e.name);
            let mut ctx = local
                .remove(&key)
                .unwrap_or_else(|| PluginContext::new(global.clone()));
            ctx.global_context = global.clone();
            let res = call_plugin(&e.plugin, &e.name, input.clone(), &mut ctx, self.timeout).await;
            // As the plugin left it, also after an error (Python mutates the context in place).
            out.insert(key, ctx);
            let mut r = match res {
                Ok(r) => r,
                Err(err) => {
                    if self.fail_on_plugin_error || e.mode == PluginMode::Enforce {
                        tracing::error!(plugin = %e.name, %hook, error = %err, "plugin failed");
                        return Err(err);
                    }
                    tracing::warn!(plugin = %e.name, %hook, mode = %e.mode, error = %err, "plugin failed; ignored because of its mode");
                    continue;
                }
            };
            if matches!(e.mode, PluginMode::Enforce | PluginMode::EnforceIgnoreError) {
                if let Some(c) = out.get(&context_key(&global.request_id, &e.name)) {
                    for (k, v) in &c.global_context.state {
                        global.state.insert(k.clone(), v.clone());
                    }
                    for (k, v) in &c.global_context.metadata {
                        global.metadata.insert(k.clone(), v.clone());
                    }
                }
            }
            if let Some(meta) = &r.metadata {
                for (k, v) in meta {
                    if k != DECISION_PLUGIN_KEY {
                        combined.insert(k.clone(), v.clone());
                    }
                }
            }
            max_retry = max_retry.max(r.retry_delay_ms);
            if let Some(v) = r.violation.as_mut() {
                v.plugin_name = Some(e.name.clone());
            }
            let blocked = !r.continue_processing;
            if blocked && e.mode == PluginMode::Enforce {
                tracing::warn!(plugin = %e.name, %hook, "blocked by plugin");
                // The 1.0.0 executor echoes the blocking plugin's input as the modified payload.
                let echoed = if hook_is_cross_typed(hook) {
                    current.clone()
                } else {
                    Some(input.clone())
                };
                return Ok(HookOutcome {
                    result: self.block_result(hook, echoed, r.violation, combined, decision_plugin),
                    contexts: out,
                });
            }
            if let Some(m) = r.modified_payload.take() {
                if accept_modification(hook, &mut input, &mut current, m, &e.name) {
                    decision_plugin = Some(e.name.clone());
                }
            }
            if blocked {
                match e.mode {
                    PluginMode::EnforceIgnoreError => {
                        tracing::warn!(plugin = %e.name, %hook, "blocked by plugin (enforce_ignore_error)");
                        return Ok(HookOutcome {
                            result: self.block_result(
                                hook,
                                current,
                                r.violation,
                                combined,
                                decision_plugin,
                            ),
                            contexts: out,
                        });
                    }
                    _ => {
                        let v = r.violation.as_ref();
                        tracing::warn!(plugin = %e.name, %hook, code = v.map(|v| v.code.as_str()).unwrap_or(""), reason = v.map(|v| v.reason.as_str()).unwrap_or(""), "permissive plugin would block; continuing");
                    }
                }
            }
        }
        if hook == HookType::HttpAuthCheckPermission {
            if let Some(d) = decision_plugin {
                combined.insert(DECISION_PLUGIN_KEY.into(), Value::String(d));
            }
        }
        Ok(HookOutcome {
            result: PluginResult {
                continue_processing: true,
                modified_payload: current,
                violation: None,
                metadata: Some(combined),
                http_headers: None,
                retry_delay_ms: max_retry,
            },
            contexts: out,
        })
    }

    fn block_result(
        &self,
        hook: HookType,
        modified_payload: Option<HookPayload>,
        violation: Option<crate::PluginViolation>,
        mut combined: JsonMap,
        decision_plugin: Option<String>,
    ) -> PluginResult {
        if hook == HookType::HttpAuthCheckPermission {
            if let Some(d) = decision_plugin {
                combined.insert(DECISION_PLUGIN_KEY.into(), Value::String(d));
            }
        }
        PluginResult {
            continue_processing: false,
            modified_payload,
            violation,
            metadata: Some(combined),
            http_headers: None,
            retry_delay_ms: 0,
        }
    }

    /// Run one named plugin for the server's `invoke_hook` tool: exact-name lookup, no chain, no
    /// conditions, no global-state merge. The plugin's own mode decides errors: `enforce` (or
    /// `fail_on_plugin_error`) returns them, the other modes swallow them and return
    /// `PluginResult::pass()`. An enforce block returns `metadata: None` and the input payload as
    /// `modified_payload` (the 1.0.0 shape); other blocks pass through unchanged.
    /// Returns the result and the plugin's context after the call.
    pub async fn invoke_hook_for_plugin(
        &self,
        plugin_name: &str,
        hook: HookType,
        payload: Value,
        context: PluginContext,
    ) -> Result<(PluginResult, PluginContext), PluginError> {
        let entry = self.single_entry(plugin_name, hook)?;
        let payload = HookPayload::from_json(hook, payload)
            .map_err(|e| PluginError::invalid_payload(plugin_name, &e))?;
        self.run_copying_echo(entry, payload, context).await
    }

    /// Typed form of [`PluginManager::invoke_hook_for_plugin`].
    pub async fn invoke_plugin(
        &self,
        plugin_name: &str,
        payload: HookPayload,
        context: PluginContext,
    ) -> Result<(PluginResult, PluginContext), PluginError> {
        let entry = self.single_entry(plugin_name, payload.hook_type())?;
        self.run_copying_echo(entry, payload, context).await
    }

    /// [`PluginManager::invoke_plugin`] for a caller that can rebuild the input payload itself:
    /// an enforce block echoes the input, and `echo` supplies it only then, instead of a copy
    /// made before every call. The server passes a closure that decodes the request text again.
    pub async fn invoke_plugin_echo_with(
        &self,
        plugin_name: &str,
        payload: HookPayload,
        context: PluginContext,
        echo: impl FnOnce() -> Option<HookPayload>,
    ) -> Result<(PluginResult, PluginContext), PluginError> {
        let entry = self.single_entry(plugin_name, payload.hook_type())?;
        self.run_single(entry, payload, context, echo).await
    }

    /// [`PluginManager::run_single`] with the echo copied before the call, for callers that
    /// cannot rebuild the input afterwards.
    async fn run_copying_echo(
        &self,
        entry: &HookEntry,
        payload: HookPayload,
        context: PluginContext,
    ) -> Result<(PluginResult, PluginContext), PluginError> {
        // Only an enforce block echoes the input; avoid copying large payloads otherwise.
        let echo = (entry.mode == PluginMode::Enforce).then(|| payload.clone());
        self.run_single(entry, payload, context, move || echo).await
    }

    fn single_entry(&self, plugin_name: &str, hook: HookType) -> Result<&HookEntry, PluginError> {
        self.hooks
            .get(&hook)
            .and_then(|v| v.iter().find(|e| e.name == plugin_name))
            .ok_or_else(|| PluginError::unknown_plugin(plugin_name, hook))
    }

    async fn run_single(
        &self,
        e: &HookEntry,
        payload: HookPayload,
        mut ctx: PluginContext,
        echo: impl FnOnce() -> Option<HookPayload>,
    ) -> Result<(PluginResult, PluginContext), PluginError> {
        let res = call_plugin(&e.plugin, &e.name, payload, &mut ctx, self.timeout).await;
        match res {
            Ok(mut r) => {
                if let Some(v) = r.violation.as_mut() {
                    v.plugin_name = Some(e.name.clone());
                }
                if !r.continue_processing && e.mode == PluginMode::Enforce {
                    let r = PluginResult {
                        continue_processing: false,
                        modified_payload: echo(),
                        violation: r.violation,
                        metadata: None,
                        http_headers: None,
                        retry_delay_ms: 0,
                    };
                    return Ok((r, ctx));
                }
                Ok((r, ctx))
            }
            Err(err) => {
                if self.fail_on_plugin_error || e.mode == PluginMode::Enforce {
                    Err(err)
                } else {
                    tracing::warn!(plugin = %e.name, mode = %e.mode, error = %err, "plugin failed; ignored because of its mode");
                    Ok((PluginResult::pass(), ctx))
                }
            }
        }
    }
}

fn hook_is_cross_typed(hook: HookType) -> bool {
    matches!(
        hook,
        HookType::HttpPreRequest
            | HookType::HttpPostRequest
            | HookType::HttpAuthResolveUser
            | HookType::HttpAuthCheckPermission
            | HookType::IdentityResolve
            | HookType::TokenDelegate
    )
}

/// Apply a plugin's `modified_payload`. Same-hook payloads replace the input; the `http_*` result
/// types become the chain's result (headers are also fed into the next plugin's input). A payload
/// of another hook is ignored with a warning. Returns whether it was accepted.
fn accept_modification(
    hook: HookType,
    input: &mut HookPayload,
    current: &mut Option<HookPayload>,
    m: HookPayload,
    plugin: &str,
) -> bool {
    if m.hook_type() != hook {
        tracing::warn!(plugin, %hook, returned = %m.hook_type(), "modified_payload of another hook ignored");
        return false;
    }
    match (input, m) {
        (HookPayload::HttpPreRequest(p), HookPayload::HttpPreRequestHeaders(h)) => {
            p.headers = h.clone();
            *current = Some(HookPayload::HttpPreRequestHeaders(h));
        }
        (HookPayload::HttpPreRequest(p), HookPayload::HttpPreRequest(full)) => {
            p.headers = full.headers.clone();
            *current = Some(HookPayload::HttpPreRequestHeaders(full.headers));
        }
        (HookPayload::HttpPostRequest(p), HookPayload::HttpPostRequestHeaders(h)) => {
            p.headers = h.clone();
            *current = Some(HookPayload::HttpPostRequestHeaders(h));
        }
        (HookPayload::HttpPostRequest(p), HookPayload::HttpPostRequest(full)) => {
            p.headers = full.headers.clone();
            *current = Some(HookPayload::HttpPostRequestHeaders(full.headers));
        }
        (HookPayload::HttpAuthResolveUser(_), m @ HookPayload::ResolvedUser(_))
        | (HookPayload::HttpAuthCheckPermission(_), m @ HookPayload::PermissionDecision(_))
        | (HookPayload::IdentityResolve(_), m @ HookPayload::IdentityResult(_))
        | (HookPayload::TokenDelegate(_), m @ HookPayload::DelegationResult(_)) => {
            *current = Some(m);
        }
        (inp, m) if !m.is_result_only() && !hook_is_cross_typed(hook) => {
            *inp = m.clone();
            *current = Some(m);
        }
        (_, m) => {
            tracing::warn!(plugin, %hook, "modified_payload of an unexpected type ignored: {:?}", m.hook_type());
            return false;
        }
    }
    true
}

/// Run one plugin call under the timeout, catching a panic. The context is the caller's, so it
/// stays as the plugin left it whatever happens (Python mutates it in place too).
///
/// The call runs in the caller's task, not a spawned one: a spawn per call costs a cross-thread
/// wake-up on every hook (the largest latency item at concurrency 1), and it buys nothing for
/// async plugins, whose future is dropped (cancelled) when the timeout fires, exactly as an
/// aborted task would be. A plugin that blocks its thread cannot be interrupted either way (as
/// in Python, where it blocks the event loop).
async fn call_plugin(
    plugin: &Arc<dyn Plugin>,
    name: &str,
    payload: HookPayload,
    ctx: &mut PluginContext,
    timeout: Duration,
) -> Result<PluginResult, PluginError> {
    let call = AssertUnwindSafe(plugin.invoke(payload, ctx)).catch_unwind();
    match tokio::time::timeout(timeout, call).await {
        Ok(Ok(r)) => r.map_err(|mut e| {
            if e.model.plugin_name.is_empty() {
                e.model.plugin_name = name.to_owned();
            }
            e
        }),
        Ok(Err(panic)) => Err(PluginError::panic(name, &panic_text(&*panic))),
        Err(_) => Err(PluginError::timeout(name, timeout)),
    }
}

/// The message of a panic payload (`&str` or `String`, as `panic!` makes them).
fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic with a non-string payload".to_owned()
    }
}

/// The message of a spawned task's failure (initialize and shutdown run in tasks of their own).
fn join_error_text(e: tokio::task::JoinError) -> String {
    if e.is_panic() {
        panic_text(&*e.into_panic())
    } else {
        "task cancelled".to_owned()
    }
}
