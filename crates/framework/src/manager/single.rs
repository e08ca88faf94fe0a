//! One named plugin for `plugwire serve`'s `invoke_hook` tool, with the server's own mode and
//! `on_error`.

use serde_json::Value;

use super::call::{call_plugin, Input};
use super::{HookEntry, PluginManager};
use crate::{
    Compat, HookPayload, HookType, JsonMap, LegacyBehaviour, ModifiedPayload, OnError, Phase,
    PluginContext, PluginError, PluginErrorKind, PluginResult,
};

impl PluginManager {
    /// Run one named plugin for the server's `invoke_hook` tool: exact-name lookup, no chain, no
    /// conditions, no phases, no background task, no records, no global-state merge; the
    /// server's own `mode`/`on_error` decide (the gateway applies its own mode to the reply).
    /// See [`PluginManager::run_single`] for each era's reply shapes.
    /// Returns the result and the plugin's context after the call.
    ///
    /// The payload is the request's JSON text: it is decoded only once the plugin is found, so
    /// an unknown plugin is reported before an invalid payload (the order the answers have
    /// always had), and a 1.0.0 enforce block, which echoes the input, decodes it again from
    /// the same text rather than every call copying it in case of a block. Every transport of
    /// `plugwire serve` reaches the plugins through here.
    pub async fn invoke_plugin(
        &self,
        plugin_name: &str,
        hook: HookType,
        payload: &str,
        context: PluginContext,
    ) -> Result<(PluginResult, PluginContext), PluginError> {
        let entry = self.single_entry(plugin_name, hook)?;
        let input = HookPayload::from_json_str(hook, payload)
            .map_err(|e| PluginError::invalid_payload(plugin_name, &e))?;
        let echo = || HookPayload::from_json_str(hook, payload).ok();
        let mut ctx = context;
        let r = self.run_single(entry, Input::Owned(input), &mut ctx, echo);
        Ok((r.await?, ctx))
    }

    /// [`PluginManager::invoke_plugin`] for a payload already decoded into a JSON object (the
    /// gRPC and raw-socket servers, whose messages carry it as a `google.protobuf.Struct`):
    /// decoded straight from the map, with no JSON text in between. Same lookup, same order of
    /// checks, same error wording (the `Value` decoder is the one the text decoder's messages
    /// are made to match; a map has no repeated member). The payload is taken by move, except
    /// where a 1.0.0 enforce block may echo the input: there it is decoded by reference and
    /// kept, to be decoded again only on a block.
    pub async fn invoke_plugin_json(
        &self,
        plugin_name: &str,
        hook: HookType,
        payload: JsonMap,
        mut context: Box<PluginContext>,
    ) -> Result<(PluginResult, Box<PluginContext>), PluginError> {
        let entry = self.single_entry(plugin_name, hook)?;
        let invalid = |e| PluginError::invalid_payload(plugin_name, &e);
        let payload = Value::Object(payload);
        // The models stay boxed down to the plugin's call, as in `invoke_plugin_decoded`: the
        // futures on the way hold pointers, not the models.
        if self.may_echo_input(entry) {
            let input = Box::new(HookPayload::from_json_ref(hook, &payload).map_err(invalid)?);
            let echo = || HookPayload::from_json_ref(hook, &payload).ok();
            let r = self.run_single(entry, Input::Boxed(input), &mut context, echo);
            return Ok((r.await?, context));
        }
        let input = Box::new(HookPayload::from_json(hook, payload).map_err(invalid)?);
        // Only a 1.0.0 enforce entry ever calls the echo (see `single_1_0`).
        let r = self.run_single(entry, Input::Boxed(input), &mut context, || None);
        Ok((r.await?, context))
    }

    /// [`PluginManager::invoke_plugin`] for a payload the caller already decoded (the MCP
    /// server's one-pass read of the request, `HookPayload::deserialize_for`), valid by
    /// construction, so only the lookup can fail. Where a 1.0.0 enforce block may echo the
    /// input, a copy is kept before the call: the value decoding the text again would give.
    ///
    /// The payload and context stay boxed, as the caller decoded them, down to the plugin's
    /// call: the futures on the way hold pointers, not the models (profiled: moving them by
    /// value through each layer was a large share of a call's `memcpy`).
    pub async fn invoke_plugin_decoded(
        &self,
        plugin_name: &str,
        hook: HookType,
        payload: Box<HookPayload>,
        mut context: Box<PluginContext>,
    ) -> Result<(PluginResult, Box<PluginContext>), PluginError> {
        let entry = self.single_entry(plugin_name, hook)?;
        let may_echo = self.may_echo_input(entry);
        let kept = may_echo.then(|| (*payload).clone());
        let r = self.run_single(entry, Input::Boxed(payload), &mut context, || kept);
        Ok((r.await?, context))
    }

    /// Whether a block by `entry` may answer with the input echoed (a 1.0.0 enforce entry, see
    /// `single_1_0`), so the input must be kept.
    fn may_echo_input(&self, entry: &HookEntry) -> bool {
        self.compat == Compat::V1_0
            && entry.mode.legacy_behaviour(entry.on_error) == Some(LegacyBehaviour::Enforce)
    }

    /// The entry of `plugin_name` for `hook`, looked up before the payload is decoded (an
    /// unknown plugin is reported before an invalid payload).
    fn single_entry(&self, plugin_name: &str, hook: HookType) -> Result<&HookEntry, PluginError> {
        self.hooks
            .get(&hook)
            .and_then(|v| v.iter().find(|e| e.name == plugin_name))
            .ok_or_else(|| PluginError::unknown_plugin(plugin_name, hook))
    }

    /// One call. 1.1.0 (default): a sequential/concurrent block answers `continue_processing:
    /// false` with `modified_payload` and `metadata` null, violation and `denial_metadata` kept;
    /// a transform/audit block answers "continue" without the violation (transform keeps its
    /// modification, audit's is dropped); fire_and_forget passes the result through. An error
    /// with `on_error: fail` is returned; with ignore/disable it becomes the default result,
    /// except a timeout, which is still returned (as the cpex server does); `disable` also lists
    /// the plugin in [`PluginManager::runtime_disabled`] and later calls get the default result.
    /// 1.0.x switch: an enforce block echoes the input and has `metadata` null, other blocks
    /// pass through; errors are returned for enforce (or `fail_on_plugin_error`), else swallowed.
    /// The context is the caller's, left as the plugin left it.
    async fn run_single(
        &self,
        e: &HookEntry,
        payload: Input<'_>,
        ctx: &mut PluginContext,
        echo: impl FnOnce() -> Option<HookPayload>,
    ) -> Result<PluginResult, PluginError> {
        if self.compat == Compat::V1_1 && self.is_runtime_disabled(&e.name) {
            return Ok(PluginResult::pass());
        }
        let timeout = self.timeout_for(e);
        let res = call_plugin(&e.plugin, &e.name, payload, ctx, timeout).await;
        match self.compat {
            Compat::V1_0 => self.single_1_0(e, res, echo),
            Compat::V1_1 => self.single_1_1(e, res),
        }
    }

    fn single_1_0(
        &self,
        e: &HookEntry,
        res: Result<PluginResult, PluginError>,
        echo: impl FnOnce() -> Option<HookPayload>,
    ) -> Result<PluginResult, PluginError> {
        let enforce = e.mode.legacy_behaviour(e.on_error) == Some(LegacyBehaviour::Enforce);
        match res {
            Ok(mut r) => {
                if let Some(v) = r.violation.as_mut() {
                    v.plugin_name = Some(e.name.clone());
                }
                if !r.continue_processing && enforce {
                    return Ok(PluginResult {
                        continue_processing: false,
                        modified_payload: echo().map(ModifiedPayload::Payload),
                        violation: r.violation,
                        metadata: None,
                        ..PluginResult::pass()
                    });
                }
                Ok(r)
            }
            Err(err) if self.fail_on_plugin_error || enforce => Err(err),
            Err(err) => {
                tracing::warn!(plugin = %e.name, mode = %e.mode, error = %err, "plugin failed; ignored because of its mode");
                Ok(PluginResult::pass())
            }
        }
    }

    fn single_1_1(
        &self,
        e: &HookEntry,
        res: Result<PluginResult, PluginError>,
    ) -> Result<PluginResult, PluginError> {
        let mut r = match res {
            Ok(r) => r,
            Err(err) => {
                if e.on_error == OnError::Fail || err.kind() == PluginErrorKind::Timeout {
                    return Err(err);
                }
                if e.on_error == OnError::Disable {
                    self.disable(&e.name, &err);
                } else {
                    tracing::warn!(plugin = %e.name, error = %err, "plugin failed; ignored (on_error: ignore)");
                }
                return Ok(PluginResult::pass());
            }
        };
        if let Some(v) = r.violation.as_mut() {
            v.plugin_name = Some(e.name.clone());
        }
        if r.continue_processing {
            return Ok(r);
        }
        Ok(match e.mode.phase() {
            Some(Phase::Sequential | Phase::Concurrent) => PluginResult {
                continue_processing: false,
                modified_payload: None,
                violation: r.violation,
                metadata: None,
                denial_metadata: r.denial_metadata,
                ..PluginResult::pass()
            },
            Some(phase @ (Phase::Transform | Phase::Audit)) => {
                r.continue_processing = true;
                r.violation = None;
                if phase == Phase::Audit {
                    r.modified_payload = None;
                }
                r
            }
            _ => r,
        })
    }
}
