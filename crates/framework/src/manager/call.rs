//! One plugin call (timeout, panic capture) and the payload rules shared by both eras' chains.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use serde_json::Value;

use crate::{
    HookPayload, HookType, ModifiedPayload, Plugin, PluginContext, PluginError, PluginErrorKind,
    PluginResult,
};

/// The chain refuses prompt/tool `args` or a tool `result` longer than this (both eras do).
pub const MAX_PAYLOAD_CHARS: usize = 1_000_000;

pub(super) fn hook_is_cross_typed(hook: HookType) -> bool {
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
pub(super) fn accept_modification(
    hook: HookType,
    input: &mut HookPayload,
    current: &mut Option<ModifiedPayload>,
    m: ModifiedPayload,
    plugin: &str,
) -> bool {
    match accept_into(hook, input, m, plugin) {
        None => false,
        Some(Accepted::Input) => {
            *current = Some(ModifiedPayload::Payload(input.clone()));
            true
        }
        Some(Accepted::Result(m)) => {
            *current = Some(m);
            true
        }
    }
}

/// What the chain's `modified_payload` became after an accepted modification.
// Returned once per modification and matched at once; boxing the large variant would add an
// allocation to every modifying call.
#[allow(clippy::large_enum_variant)]
pub(super) enum Accepted {
    /// The new input itself: a same-hook payload replaced it, and the chain's result is the
    /// same payload. Said rather than copied, so a chain that keeps its result lazily (the
    /// 1.1.0 chain) copies the payload only when it needs two of them.
    Input,
    /// Something other than the input (an `http_*` headers or decision result).
    Result(ModifiedPayload),
}

/// [`accept_modification`] without deciding how the chain keeps its result; `None` = ignored.
pub(super) fn accept_into(
    hook: HookType,
    input: &mut HookPayload,
    m: ModifiedPayload,
    plugin: &str,
) -> Option<Accepted> {
    if m.hook_type() != hook {
        tracing::warn!(plugin, %hook, returned = %m.hook_type(), "modified_payload of another hook ignored");
        return None;
    }
    let accepted = match (input, m) {
        (HookPayload::HttpPreRequest(p), ModifiedPayload::HttpPreRequestHeaders(h)) => {
            p.headers = h.clone();
            Accepted::Result(ModifiedPayload::HttpPreRequestHeaders(h))
        }
        (
            HookPayload::HttpPreRequest(p),
            ModifiedPayload::Payload(HookPayload::HttpPreRequest(full)),
        ) => {
            p.headers = full.headers.clone();
            Accepted::Result(ModifiedPayload::HttpPreRequestHeaders(full.headers))
        }
        (HookPayload::HttpPostRequest(p), ModifiedPayload::HttpPostRequestHeaders(h)) => {
            p.headers = h.clone();
            Accepted::Result(ModifiedPayload::HttpPostRequestHeaders(h))
        }
        (
            HookPayload::HttpPostRequest(p),
            ModifiedPayload::Payload(HookPayload::HttpPostRequest(full)),
        ) => {
            p.headers = full.headers.clone();
            Accepted::Result(ModifiedPayload::HttpPostRequestHeaders(full.headers))
        }
        (HookPayload::HttpAuthResolveUser(_), m @ ModifiedPayload::ResolvedUser(_))
        | (HookPayload::HttpAuthCheckPermission(_), m @ ModifiedPayload::PermissionDecision(_))
        | (HookPayload::IdentityResolve(_), m @ ModifiedPayload::IdentityResult(_))
        | (HookPayload::TokenDelegate(_), m @ ModifiedPayload::DelegationResult(_)) => {
            Accepted::Result(m)
        }
        (inp, ModifiedPayload::Payload(m)) if !hook_is_cross_typed(hook) => {
            *inp = m;
            Accepted::Input
        }
        (_, m) => {
            tracing::warn!(plugin, %hook, "modified_payload of an unexpected type ignored: {:?}", m.hook_type());
            return None;
        }
    };
    Some(accepted)
}

/// The payload a plugin call gets: its own copy (the server's single-plugin path owns the
/// request's payload) or the chain's, lent (see [`Plugin::invoke_lent`]).
// Built at the call and consumed there; boxing the owned payload would add an allocation to
// every call of the server's single-plugin path.
#[allow(clippy::large_enum_variant)]
pub(super) enum Input<'a> {
    Owned(HookPayload),
    /// The server's decoded payload, kept boxed down to the plugin's call: each layer of
    /// futures on the way moves a pointer, not the payload (profiled: `memcpy` per call).
    Boxed(Box<HookPayload>),
    Lent(&'a HookPayload),
}

/// Run one plugin call under the timeout, catching a panic. The context is the caller's, so it
/// stays as the plugin left it whatever happens (Python mutates it in place too).
///
/// The call runs in the caller's task, not a spawned one: a spawn per call costs a cross-thread
/// wake-up on every hook (the largest latency item at concurrency 1), and it buys nothing for
/// async plugins, whose future is dropped (cancelled) when the timeout fires, exactly as an
/// aborted task would be. A plugin that blocks its thread cannot be interrupted either way (as
/// in Python, where it blocks the event loop).
pub(super) async fn call_plugin(
    plugin: &Arc<dyn Plugin>,
    name: &str,
    payload: Input<'_>,
    ctx: &mut PluginContext,
    timeout: Duration,
) -> Result<PluginResult, PluginError> {
    let call = match payload {
        Input::Owned(p) => plugin.invoke(p, ctx),
        Input::Boxed(p) => plugin.invoke(*p, ctx),
        Input::Lent(p) => plugin.invoke_lent(p, ctx),
    };
    let call = AssertUnwindSafe(call).catch_unwind();
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
pub(super) fn join_error_text(e: tokio::task::JoinError) -> String {
    if e.is_panic() {
        panic_text(&*e.into_panic())
    } else {
        "task cancelled".to_owned()
    }
}

/// Python's `len(str(v))`, approximated: a string's characters, otherwise the characters of
/// its JSON text (Python's repr differs in quoting and spacing, not in scale).
fn text_len(v: &Value) -> usize {
    match v {
        Value::String(s) => s.chars().count(),
        other => {
            // Counted as it is written: the check runs on every hook call, and rendering each
            // argument into a `String` first cost an allocation per value.
            let mut count = CharCount(0);
            match serde_json::to_writer(&mut count, other) {
                Ok(()) => count.0,
                Err(_) => other.to_string().chars().count(),
            }
        }
    }
}

/// Counts the characters of the UTF-8 text written to it (bytes that start a character).
struct CharCount(usize);

impl std::io::Write for CharCount {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.iter().filter(|b| (**b & 0xC0) != 0x80).count();
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The chain's size guard (`PayloadSizeError` in Python): the summed length of prompt/tool
/// `args` values, else of a tool `result`, must not exceed [`MAX_PAYLOAD_CHARS`]. This is the
/// check that applies to every plugin; `max_content_size` is not it (see `docs/eras.md`).
pub(super) fn check_payload_size(payload: &HookPayload) -> Result<(), PluginError> {
    let size = match payload {
        HookPayload::PromptPreFetch(p) => p
            .args
            .iter()
            .flat_map(|a| a.values())
            .map(|v| v.chars().count())
            .sum(),
        HookPayload::ToolPreInvoke(p) => p.args.iter().flat_map(|a| a.values()).map(text_len).sum(),
        HookPayload::ToolPostInvoke(p) => text_len(&p.result),
        _ => 0,
    };
    if size > MAX_PAYLOAD_CHARS {
        return Err(PluginError::new(
            PluginErrorKind::InvalidPayload,
            "",
            format!("Payload size {size} exceeds limit of {MAX_PAYLOAD_CHARS} characters"),
        )
        .with_code("PAYLOAD_SIZE_ERROR"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn text_len_counts_the_characters_of_the_json_text() {
        let v = json!({"naïve": ["été", 1.5, null, {"k": "a\"b\n✓"}], "n": -3});
        assert_eq!(text_len(&v), v.to_string().chars().count());
        assert_ne!(text_len(&v), v.to_string().len());
        assert_eq!(text_len(&json!("été")), 3);
        assert_eq!(text_len(&json!(12345)), 5);
    }
}
