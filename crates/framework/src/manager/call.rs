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

/// At least [`text_len`] of `v`, from lengths alone: a string's bytes (at least its
/// characters); otherwise at least the length of the JSON text serde_json writes (a string inside
/// it at most six bytes per byte, as `\u00XX`, plus its quotes; a number at most 24 characters).
fn text_len_bound(v: &Value) -> usize {
    /// The longest JSON text of a number (`-1.7976931348623157e308` is 23 characters; the
    /// workspace's serde_json has no `arbitrary_precision`, so every number is an f64, i64 or
    /// u64).
    const NUMBER: usize = 24;
    fn json_bound(v: &Value) -> usize {
        match v {
            Value::Null | Value::Bool(_) => 5,
            Value::Number(_) => NUMBER,
            Value::String(s) => 2 + 6 * s.len(),
            Value::Array(items) => 2 + items.iter().map(|i| 1 + json_bound(i)).sum::<usize>(),
            Value::Object(members) => {
                let each = |(k, v): (&String, &Value)| 2 + 6 * k.len() + 2 + json_bound(v);
                2 + members.iter().map(each).sum::<usize>()
            }
        }
    }
    match v {
        Value::String(s) => s.len(),
        other => json_bound(other),
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

/// What the size guard measures, summed: each prompt argument by `text`, each tool argument and
/// a tool result by `value`; other hooks are not measured.
fn guarded_size(
    payload: &HookPayload,
    text: impl Fn(&str) -> usize,
    value: impl Fn(&Value) -> usize,
) -> usize {
    match payload {
        HookPayload::PromptPreFetch(p) => p
            .args
            .iter()
            .flat_map(|a| a.values())
            .map(|s| text(s))
            .sum(),
        HookPayload::ToolPreInvoke(p) => p.args.iter().flat_map(|a| a.values()).map(&value).sum(),
        HookPayload::ToolPostInvoke(p) => value(&p.result),
        _ => 0,
    }
}

/// The chain's size guard (`PayloadSizeError` in Python): the summed length of prompt/tool
/// `args` values, else of a tool `result`, must not exceed [`MAX_PAYLOAD_CHARS`]. This is the
/// check that applies to every plugin; `max_content_size` is not it (see `docs/eras.md`).
pub(super) fn check_payload_size(payload: &HookPayload) -> Result<(), PluginError> {
    // Almost every payload is far below the limit: a bound from lengths alone (no character
    // counting, no rendering of the JSON text) settles it; the count runs only near the limit.
    if guarded_size(payload, str::len, text_len_bound) <= MAX_PAYLOAD_CHARS {
        return Ok(());
    }
    let size = guarded_size(payload, |s| s.chars().count(), text_len);
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
    fn the_bound_is_never_below_the_count() {
        let values = [
            json!({"naïve": ["été", 1.5, null, {"k": "a\"b\n✓\u{1}"}], "n": -3}),
            json!("\u{0}\u{1f}\"\\"),
            json!([
                [],
                {},
                [null, true, false],
                -1.7976931348623157e308,
                u64::MAX,
                i64::MIN
            ]),
            json!({"\u{7}": "\u{7}", "": ""}),
            json!(0.1),
        ];
        for v in &values {
            assert!(text_len_bound(v) >= text_len(v), "{v}");
            let inside = json!([v]);
            assert!(text_len_bound(&inside) >= text_len(&inside), "{inside}");
        }
    }

    #[test]
    fn payloads_near_the_limit_are_counted_exactly() {
        use crate::payloads::{HookPayload, ToolPreInvokePayload};
        // Characters of two bytes each: the byte bound exceeds the limit, the count does not.
        let args = |text: String| {
            let payload = json!({"name": "t", "args": {"q": text}});
            let p: ToolPreInvokePayload = serde_json::from_value(payload).expect("a tool payload");
            HookPayload::ToolPreInvoke(p)
        };
        assert!(check_payload_size(&args("é".repeat(MAX_PAYLOAD_CHARS))).is_ok());
        let err = check_payload_size(&args("é".repeat(MAX_PAYLOAD_CHARS + 1)))
            .expect_err("one character over the limit");
        assert_eq!(err.model.code.as_deref(), Some("PAYLOAD_SIZE_ERROR"));
    }

    #[test]
    fn text_len_counts_the_characters_of_the_json_text() {
        let v = json!({"naïve": ["été", 1.5, null, {"k": "a\"b\n✓"}], "n": -3});
        assert_eq!(text_len(&v), v.to_string().chars().count());
        assert_ne!(text_len(&v), v.to_string().len());
        assert_eq!(text_len(&json!("été")), 3);
        assert_eq!(text_len(&json!(12345)), 5);
    }
}
