//! The ContextForge 1.0.0 chain, used under the 1.0.x switch (`PLUGINS_COMPAT=1.0`).
//!
//! Plugins run by priority (ties in file order), whatever their mode; each receives the payload
//! as modified by the ones before. `enforce` stops on a violation and on an error (returned as
//! `Err`); `enforce_ignore_error` stops on a violation and logs errors; `permissive` logs both and
//! continues. `fail_on_plugin_error` turns every error into `Err`. Enforce-mode plugins' writes to
//! `global_context.state`/`metadata` are merged into `global`. 1.1.0 mode names take the nearest
//! 1.0.0 behaviour ([`crate::PluginMode::legacy_behaviour`]). A remote plugin that gives no
//! verdict follows the failure policy (`failure`): closed where an error would be fatal (a
//! block with a violation naming the plugin), open otherwise (logged and counted).

use serde_json::Value;

use super::call::{accept_modification, call_plugin, hook_is_cross_typed, Input};
use super::failure::{self, Decision};
use super::{
    context_key, HookEntry, HookOutcome, PluginContextTable, PluginManager, DECISION_PLUGIN_KEY,
};
use crate::conditions::payload_matches;
use crate::{
    GlobalContext, HookPayload, HookType, JsonMap, LegacyBehaviour, ModifiedPayload, PluginContext,
    PluginError, PluginResult,
};

impl PluginManager {
    pub(super) async fn chain_1_0(
        &self,
        entries: &[HookEntry],
        payload: HookPayload,
        global: &mut GlobalContext,
        contexts: Option<PluginContextTable>,
    ) -> Result<HookOutcome, PluginError> {
        let hook = payload.hook_type();
        let mut local = contexts.unwrap_or_default();
        let mut out = PluginContextTable::new();
        let original = payload;
        let mut input = original.clone();
        let mut current: Option<ModifiedPayload> = None;
        let mut combined = JsonMap::new();
        let mut max_retry = 0u64;
        let mut decision_plugin: Option<String> = None;

        for e in entries {
            let Some(behaviour) = e.mode.legacy_behaviour(e.on_error) else {
                continue;
            };
            if !payload_matches(&e.conditions, hook, &original, global) {
                tracing::debug!(plugin = %e.name, %hook, "conditions not met; skipped");
                continue;
            }
            let key = context_key(&global.request_id, &e.name);
            let mut ctx = local
                .remove(&key)
                .unwrap_or_else(|| PluginContext::new(global.clone()));
            ctx.global_context = global.clone();
            let timeout = self.timeout_for(e);
            let res = call_plugin(&e.plugin, &e.name, Input::Lent(&input), &mut ctx, timeout).await;
            // As the plugin left it, also after an error (Python mutates the context in place).
            out.insert(key, ctx);
            let mut r = match res {
                Ok(r) => r,
                Err(err) => {
                    let fatal = self.fail_on_plugin_error || behaviour == LegacyBehaviour::Enforce;
                    let cause = match failure::decide(e.plugin.as_ref(), &e.name, &err, fatal) {
                        Decision::Closed(v) => {
                            tracing::error!(plugin = %e.name, %hook, error = %err, "remote plugin unavailable; the request is blocked");
                            return Ok(HookOutcome {
                                result: self.block_result(
                                    hook,
                                    current,
                                    Some(*v),
                                    combined,
                                    decision_plugin,
                                ),
                                contexts: out,
                            });
                        }
                        Decision::Open(cause) => Some(cause),
                        Decision::AsWritten(cause) => cause,
                    };
                    if fatal && cause.is_none_or(|c| !c.is_unavailable()) {
                        tracing::error!(plugin = %e.name, %hook, error = %err, "plugin failed");
                        return Err(err);
                    }
                    match cause {
                        Some(cause) => {
                            failure::opened(e.plugin.as_ref(), &e.name, hook, cause, &err)
                        }
                        None => {
                            tracing::warn!(plugin = %e.name, %hook, mode = %e.mode, error = %err, "plugin failed; ignored because of its mode")
                        }
                    }
                    continue;
                }
            };
            if behaviour != LegacyBehaviour::Permissive {
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
            if blocked && behaviour == LegacyBehaviour::Enforce {
                tracing::warn!(plugin = %e.name, %hook, "blocked by plugin");
                // The 1.0.0 executor echoes the blocking plugin's input as the modified payload.
                let echoed = if hook_is_cross_typed(hook) {
                    current.clone()
                } else {
                    Some(ModifiedPayload::Payload(input.clone()))
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
                match behaviour {
                    LegacyBehaviour::EnforceIgnoreError => {
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
                retry_delay_ms: max_retry,
                ..PluginResult::pass()
            },
            contexts: out,
        })
    }

    pub(super) fn block_result(
        &self,
        hook: HookType,
        modified_payload: Option<ModifiedPayload>,
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
            ..PluginResult::pass()
        }
    }
}
