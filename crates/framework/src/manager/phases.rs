//! The ContextForge 1.1.0 chain (the default).
//!
//! After dropping disabled, runtime-disabled and condition-unmatched plugins, the plugins run in
//! phases, priority (then file order) within a phase:
//! - SEQUENTIAL, serially: modifications chain; a block halts the chain (its own modification is
//!   dropped; the halt result carries the payload as earlier plugins left it, or null).
//! - TRANSFORM, serially: modifications chain; a block is logged and dropped.
//! - AUDIT, serially: sees the payload; its modification and block are dropped.
//! - CONCURRENT, in parallel on the payload left by the serial phases, at most
//!   `PLUGINS_EXECUTION_POOL` at once: modifications dropped; the first block halts and cancels
//!   the siblings still running.
//! - FIRE_AND_FORGET, in the background (also when an earlier phase halted), each on a copy of
//!   the ORIGINAL payload with a fresh context; the result is discarded, errors logged.
//!
//! Errors follow `on_error`: `fail` returns the error (the request fails), `ignore` logs it and
//! counts the plugin as "continue, unchanged", `disable` does the same and takes the plugin out
//! for the manager's life. A remote plugin that gives no verdict (unreachable, timed out,
//! garbage) follows the failure policy instead (`failure`): fail closed is a block with a
//! violation naming the plugin, fail open is logged and counted. Global `state`/`metadata`
//! writes are merged back from sequential, transform and concurrent plugins; metadata of every
//! phase but fire_and_forget is merged into the result; one execution record per evaluated
//! plugin.

use std::time::Instant;

use futures::StreamExt;
use serde_json::Value;

use super::call::{accept_into, call_plugin, Accepted, Input};
use super::failure::{self, Decision};
use super::{
    context_key, HookEntry, HookOutcome, PluginContextTable, PluginManager, DECISION_PLUGIN_KEY,
};
use crate::conditions::payload_matches;
use crate::result::ExecutionRecord;
use crate::{
    GlobalContext, HookPayload, HookType, JsonMap, ModifiedPayload, OnError, Phase, PluginContext,
    PluginError, PluginErrorKind, PluginResult, PluginViolation,
};

/// What the chain has built so far.
struct Chain {
    hook: HookType,
    local: PluginContextTable,
    out: PluginContextTable,
    /// The payload the next plugin receives.
    input: HookPayload,
    /// The chain's `modified_payload` so far.
    current: Current,
    combined: JsonMap,
    max_retry: u64,
    decision_plugin: Option<String>,
    extensions: Option<Value>,
    records: Vec<ExecutionRecord>,
}

type Selected<'a> = (&'a HookEntry, Option<bool>);

/// The chain's `modified_payload` so far. A same-hook modification is both the next plugin's
/// input and the chain's result; keeping it once (`Input`) instead of twice saves a copy of the
/// payload per modifying plugin, and the result takes the input when the chain ends.
// One per chain, never moved on its own; boxing `Other` would add an allocation per result.
#[allow(clippy::large_enum_variant)]
enum Current {
    None,
    /// The same payload as `Chain::input`.
    Input,
    Other(ModifiedPayload),
}

impl Chain {
    /// A copy of the `modified_payload` so far, for a halt result (the chain does not go on).
    fn current_copy(&self) -> Option<ModifiedPayload> {
        match &self.current {
            Current::None => None,
            Current::Input => Some(ModifiedPayload::Payload(self.input.clone())),
            Current::Other(m) => Some(m.clone()),
        }
    }

    /// The `modified_payload` of a chain that ran to its end.
    fn into_current(self) -> Option<ModifiedPayload> {
        match self.current {
            Current::None => None,
            Current::Input => Some(ModifiedPayload::Payload(self.input)),
            Current::Other(m) => Some(m),
        }
    }
}

/// What one call contributes to the chain after `on_error` and the failure policy.
// As large as the `Option<PluginResult>` it replaces and moved once per call; boxing the common
// variant would add an allocation to every hook call.
#[allow(clippy::large_enum_variant)]
enum Step {
    /// The plugin's result.
    Use(PluginResult),
    /// An error let through: continue, unchanged.
    Skip,
    /// Fail closed: block the request with this violation.
    Halt(Box<PluginViolation>),
}

impl PluginManager {
    pub(super) async fn chain_1_1(
        &self,
        entries: &[HookEntry],
        payload: HookPayload,
        global: &mut GlobalContext,
        contexts: Option<PluginContextTable>,
    ) -> Result<HookOutcome, PluginError> {
        let hook = payload.hook_type();
        let (mut serial, mut concurrent, mut faf) = (Vec::new(), Vec::new(), Vec::new());
        for e in entries {
            let Some(phase) = e.mode.phase() else {
                continue;
            };
            if self.is_runtime_disabled(&e.name) {
                continue;
            }
            let matched = if e.conditions.is_empty() {
                None
            } else if payload_matches(&e.conditions, hook, &payload, global) {
                Some(true)
            } else {
                tracing::debug!(plugin = %e.name, %hook, "conditions not met; skipped");
                continue;
            };
            match phase {
                Phase::Concurrent => concurrent.push((e, matched)),
                Phase::FireAndForget => faf.push((e, matched)),
                _ => serial.push((e, phase, matched)),
            }
        }
        // Only fire_and_forget plugins need the original payload once the chain has started.
        let original = (!faf.is_empty()).then(|| payload.clone());
        let mut c = Chain {
            hook,
            local: contexts.unwrap_or_default(),
            out: PluginContextTable::new(),
            input: payload,
            current: Current::None,
            combined: JsonMap::new(),
            max_retry: 0,
            decision_plugin: None,
            extensions: None,
            records: Vec::new(),
        };
        let mut halt = None;
        for (e, phase, matched) in serial {
            halt = self.serial_step(e, phase, matched, &mut c, global).await?;
            if halt.is_some() {
                break;
            }
        }
        if halt.is_none() && !concurrent.is_empty() {
            halt = self.concurrent_phase(&concurrent, &mut c, global).await?;
        }
        if let Some(original) = &original {
            self.schedule_background(&faf, original, global, &mut c.records);
        }
        let records = std::mem::take(&mut c.records);
        let out = std::mem::take(&mut c.out);
        let mut result = match halt {
            Some(r) => r,
            None => {
                if hook == HookType::HttpAuthCheckPermission {
                    if let Some(d) = c.decision_plugin.take() {
                        c.combined
                            .insert(DECISION_PLUGIN_KEY.into(), Value::String(d));
                    }
                }
                let (combined, max_retry, extensions) = (
                    std::mem::take(&mut c.combined),
                    c.max_retry,
                    c.extensions.take(),
                );
                PluginResult {
                    modified_payload: c.into_current(),
                    metadata: Some(combined),
                    retry_delay_ms: max_retry,
                    modified_extensions: extensions,
                    ..PluginResult::pass()
                }
            }
        };
        result.executions = records;
        Ok(HookOutcome {
            result,
            contexts: out,
        })
    }

    /// The context a plugin gets: its own from the previous hook, with the current global view;
    /// with its key in the context tables (made once per plugin call: the chain files the
    /// context back under the same key, and plugins never change the request id).
    fn take_context(
        &self,
        e: &HookEntry,
        c: &mut Chain,
        global: &GlobalContext,
    ) -> (String, PluginContext) {
        let key = context_key(&global.request_id, &e.name);
        let ctx = match c.local.remove(&key) {
            Some(mut ctx) => {
                ctx.global_context = global.clone();
                ctx
            }
            None => PluginContext::new(global.clone()),
        };
        (key, ctx)
    }

    fn record(&self, e: &HookEntry, hook: HookType, matched: Option<bool>) -> ExecutionRecord {
        ExecutionRecord {
            // `str`'s own copy: `Arc<str>::to_string` goes through the formatter.
            plugin_id: String::from(&*e.id),
            plugin_name: e.name.clone(),
            plugin_kind: e.kind.clone(),
            hook_name: hook.as_str().to_owned(),
            mode: e.mode.phase().map_or("disabled", Phase::as_str).to_owned(),
            matched,
            config_keys: e.config_keys.clone(),
            ..ExecutionRecord::default()
        }
    }

    /// `on_error` and the failure policy applied to a call's outcome: `Err` = the request fails.
    fn on_error(
        &self,
        e: &HookEntry,
        hook: HookType,
        res: Result<PluginResult, PluginError>,
        rec: &mut ExecutionRecord,
    ) -> Result<Step, PluginError> {
        let err = match res {
            Ok(r) => return Ok(Step::Use(r)),
            Err(err) => err,
        };
        // Observers (audit, fire_and_forget) never stop a request, also when their server is down.
        let may_block = matches!(
            e.mode.phase(),
            Some(Phase::Sequential | Phase::Transform | Phase::Concurrent)
        );
        let closed = e.on_error == OnError::Fail && may_block;
        let timeout = err.kind() == PluginErrorKind::Timeout;
        let mut on_error = e.on_error;
        let cause = match failure::decide(e.plugin.as_ref(), &e.name, &err, closed) {
            Decision::Closed(v) => {
                tracing::error!(plugin = %e.name, %hook, error = %err, "remote plugin unavailable (on_error: fail); the request is blocked");
                if timeout {
                    rec.status = "timeout".into();
                }
                rec.effective_allow = false;
                rec.applied = true;
                rec.error_code = Some(v.code.clone());
                rec.reason = Some(v.reason.chars().take(256).collect());
                return Ok(Step::Halt(v));
            }
            Decision::Open(cause) => {
                if on_error == OnError::Fail {
                    on_error = OnError::Ignore;
                }
                Some(cause)
            }
            Decision::AsWritten(cause) => cause,
        };
        match on_error {
            OnError::Fail => {
                tracing::error!(plugin = %e.name, %hook, error = %err, "plugin failed (on_error: fail); the request fails");
                return Err(err);
            }
            // A remote plugin's fail-open event below is the one warning.
            OnError::Ignore if cause.is_some() => {}
            OnError::Ignore => {
                tracing::warn!(plugin = %e.name, %hook, error = %err, "plugin failed; ignored (on_error: ignore)");
            }
            OnError::Disable => {
                self.disable(&e.name, &err);
            }
        }
        if let Some(cause) = cause {
            failure::opened(e.plugin.as_ref(), &e.name, hook, cause, &err);
        }
        // cpex records a swallowed error as completed; only a timeout is distinguished.
        if timeout {
            rec.status = "timeout".into();
        }
        rec.error_code = Some(
            if timeout {
                "plugin_timeout"
            } else {
                "plugin_error"
            }
            .into(),
        );
        rec.reason = Some(err.message().chars().take(256).collect());
        Ok(Step::Skip)
    }

    pub(super) fn disable(&self, name: &str, err: &PluginError) {
        disable_in(&self.disabled, name, err);
    }

    async fn serial_step(
        &self,
        e: &HookEntry,
        phase: Phase,
        matched: Option<bool>,
        c: &mut Chain,
        global: &mut GlobalContext,
    ) -> Result<Option<PluginResult>, PluginError> {
        let (key, mut ctx) = self.take_context(e, c, global);
        let started = Instant::now();
        let timeout = self.timeout_for(e);
        let res = call_plugin(&e.plugin, &e.name, Input::Lent(&c.input), &mut ctx, timeout).await;
        let mut rec = self.record(e, c.hook, matched);
        rec.duration_ns = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        let outcome = self.on_error(e, c.hook, res, &mut rec);
        let mut r = match outcome? {
            Step::Use(r) => r,
            Step::Skip => {
                c.out.insert(key, ctx);
                c.records.push(rec);
                return Ok(None);
            }
            Step::Halt(v) => {
                c.out.insert(key, ctx);
                c.records.push(rec);
                return Ok(Some(self.halt(c, *v)));
            }
        };
        if phase != Phase::Audit {
            merge_global(global, &ctx);
        }
        c.out.insert(key, ctx);
        take_common(e, &mut r, c, &mut rec);
        if r.modified_extensions.is_some() {
            rec.extensions_modified = true;
            c.extensions = r.modified_extensions.take();
        }
        let blocked = !r.continue_processing;
        if blocked && phase == Phase::Sequential {
            tracing::warn!(plugin = %e.name, hook = %c.hook, "blocked by plugin");
            mark_block(&mut rec, &r);
            c.records.push(rec);
            // The blocking plugin's own modification is dropped.
            let combined = std::mem::take(&mut c.combined);
            let halt = self.block_result(
                c.hook,
                c.current_copy(),
                r.violation,
                combined,
                c.decision_plugin.take(),
            );
            return Ok(Some(halt));
        }
        if blocked {
            let v = r.violation.as_ref();
            tracing::warn!(plugin = %e.name, hook = %c.hook, mode = phase.as_str(), code = v.map(|v| v.code.as_str()).unwrap_or(""), "plugin would block; its violation is dropped (it cannot block in this mode)");
        }
        if let Some(m) = r.modified_payload.take() {
            if phase == Phase::Transform || phase == Phase::Sequential {
                rec.payload_modified = true;
                rec.applied = true;
                if let Some(accepted) = accept_into(c.hook, &mut c.input, m, &e.name) {
                    c.current = match accepted {
                        Accepted::Input => Current::Input,
                        Accepted::Result(m) => Current::Other(m),
                    };
                    c.decision_plugin = Some(e.name.clone());
                }
            } else {
                tracing::debug!(plugin = %e.name, hook = %c.hook, "audit plugin's modification discarded");
            }
        }
        c.records.push(rec);
        Ok(None)
    }

    /// Run the concurrent plugins on the payload as the serial phases left it; the first block
    /// halts the chain and drops (cancels) the calls still running.
    async fn concurrent_phase(
        &self,
        list: &[Selected<'_>],
        c: &mut Chain,
        global: &mut GlobalContext,
    ) -> Result<Option<PluginResult>, PluginError> {
        let mut calls = Vec::with_capacity(list.len());
        for (e, matched) in list {
            let (key, mut ctx) = self.take_context(e, c, global);
            let input = c.input.clone();
            let timeout = self.timeout_for(e);
            calls.push(async move {
                let res =
                    call_plugin(&e.plugin, &e.name, Input::Owned(input), &mut ctx, timeout).await;
                (*e, *matched, key, ctx, res)
            });
        }
        let width = self.pool.unwrap_or(list.len()).max(1);
        let mut running = futures::stream::iter(calls).buffer_unordered(width);
        while let Some((e, matched, key, ctx, res)) = running.next().await {
            let mut rec = self.record(e, c.hook, matched);
            let mut r = match self.on_error(e, c.hook, res, &mut rec)? {
                Step::Use(r) => r,
                Step::Skip => {
                    c.out.insert(key, ctx);
                    c.records.push(rec);
                    continue;
                }
                Step::Halt(v) => {
                    c.out.insert(key, ctx);
                    c.records.push(rec);
                    return Ok(Some(self.halt(c, *v)));
                }
            };
            merge_global(global, &ctx);
            c.out.insert(key, ctx);
            take_common(e, &mut r, c, &mut rec);
            if !r.continue_processing {
                tracing::warn!(plugin = %e.name, hook = %c.hook, "blocked by concurrent plugin; cancelling the others");
                mark_block(&mut rec, &r);
                c.records.push(rec);
                let combined = std::mem::take(&mut c.combined);
                return Ok(Some(self.block_result(
                    c.hook,
                    c.current_copy(),
                    r.violation,
                    combined,
                    c.decision_plugin.take(),
                )));
            }
            c.records.push(rec);
        }
        Ok(None)
    }

    /// Queue the fire_and_forget plugins: each gets the ORIGINAL payload and a fresh context;
    /// the record is a spawn-time placeholder (as cpex's).
    fn schedule_background(
        &self,
        list: &[Selected<'_>],
        original: &HookPayload,
        global: &GlobalContext,
        records: &mut Vec<ExecutionRecord>,
    ) {
        for (e, matched) in list {
            records.push(self.record(e, original.hook_type(), *matched));
            let (plugin, name, payload) = (e.plugin.clone(), e.name.clone(), original.clone());
            let mut ctx = PluginContext::new(global.clone());
            let (timeout, on_error, disabled) =
                (self.timeout_for(e), e.on_error, self.disabled.clone());
            let hook = original.hook_type();
            self.background.spawn(&e.name, async move {
                // The result is discarded whatever it says; only errors are reported.
                let input = Input::Owned(payload);
                if let Err(err) = call_plugin(&plugin, &name, input, &mut ctx, timeout).await {
                    if on_error == OnError::Disable {
                        disable_in(&disabled, &name, &err);
                    }
                    match plugin.failure_cause(&err) {
                        // A remote plugin's failure is a fail-open decision like any other.
                        Some(cause) => failure::opened(plugin.as_ref(), &name, hook, cause, &err),
                        None if on_error != OnError::Disable => {
                            tracing::warn!(plugin = %name, %hook, error = %err, "fire_and_forget plugin failed");
                        }
                        None => {}
                    }
                }
            });
        }
    }
}

impl PluginManager {
    /// The halt result of a fail-closed remote plugin: the payload as earlier plugins left it,
    /// as for a sequential block.
    fn halt(&self, c: &mut Chain, violation: PluginViolation) -> PluginResult {
        let combined = std::mem::take(&mut c.combined);
        self.block_result(
            c.hook,
            c.current_copy(),
            Some(violation),
            combined,
            c.decision_plugin.take(),
        )
    }
}

fn disable_in(set: &super::DisabledSet, name: &str, err: &PluginError) {
    tracing::error!(plugin = %name, error = %err, "plugin failed and is disabled for the life of this process (on_error: disable)");
    set.insert(name);
}

/// A plugin's writes to the global `state`/`metadata` (an update: deleted keys stay).
fn merge_global(global: &mut GlobalContext, ctx: &PluginContext) {
    for (k, v) in &ctx.global_context.state {
        global.state.insert(k.clone(), v.clone());
    }
    for (k, v) in &ctx.global_context.metadata {
        global.metadata.insert(k.clone(), v.clone());
    }
}

/// What every non-background phase takes from a result: metadata, retry delay, the violation's
/// plugin name, `requested_allow`.
fn take_common(e: &HookEntry, r: &mut PluginResult, c: &mut Chain, rec: &mut ExecutionRecord) {
    if let Some(meta) = &r.metadata {
        for (k, v) in meta {
            if k != DECISION_PLUGIN_KEY {
                c.combined.insert(k.clone(), v.clone());
            }
        }
    }
    c.max_retry = c.max_retry.max(r.retry_delay_ms);
    if let Some(v) = r.violation.as_mut() {
        v.plugin_name = Some(e.name.clone());
    }
    rec.requested_allow = Some(r.continue_processing);
}

fn mark_block(rec: &mut ExecutionRecord, r: &PluginResult) {
    rec.effective_allow = false;
    rec.applied = true;
    let v = r.violation.as_ref();
    rec.error_code = Some(v.map_or("plugin_violation".into(), |v| {
        v.code.chars().take(256).collect()
    }));
    rec.reason = v.map(|v| v.reason.chars().take(256).collect());
}
