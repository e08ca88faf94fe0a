//! [`Metered`]: a [`Backend`] decorator that times every hook call and counts its outcome in
//! `plugwire_hook_*` (see `docs/metrics.md`). It wraps any backend, so the plugin manager and
//! the test fakes are measured the same way and neither knows about metrics.
//!
//! The hot path's answer is text written straight into the response; rather than decode it
//! again, the outcome is read from the pretty-printed JSON's layout: the printer indents
//! every level by two spaces and escapes every newline inside strings, so a key at a given
//! depth is found by searching for a newline, that many spaces and the quoted key, which no
//! payload content can imitate. A few byte searches per call, no allocation.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::Instant;

use memchr::memmem::{self, Finder};
use plugwire_mcp::{InvokeHookArgs, InvokeHookResponse, RawInvokeHookArgs, TextResultWriter};
use plugwire_metrics::{Outcome, ServerMetrics};
use serde_json::Value;

use crate::backend::Backend;

/// Creates the call series of every configured plugin × hook of `backend` at zero (at start and
/// after a config reload), so a scrape shows every pair before its first call.
pub fn preregister_calls<B: Backend + ?Sized>(backend: &B, metrics: &ServerMetrics) {
    let configs = backend.plugin_configs();
    let pairs = configs.iter().flat_map(|c| {
        let name = c.get("name").and_then(Value::as_str).unwrap_or("");
        let hooks = c.get("hooks").and_then(Value::as_array);
        hooks
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(move |h| (name, h))
    });
    metrics.calls().preregister(pairs);
}

/// Wraps a backend and records every `invoke_hook` into `metrics`.
pub struct Metered<B: ?Sized> {
    inner: Arc<B>,
    metrics: &'static ServerMetrics,
    /// How many runtime-disabled plugins (`on_error: disable`) the gauge already shows: the
    /// manager's set only grows, so a changed length is the cue to publish it.
    disabled_seen: AtomicUsize,
}

impl<B: Backend + ?Sized> Metered<B> {
    /// Wraps `inner`; the series of every configured plugin × hook are created now, at zero.
    pub fn new(inner: Arc<B>, metrics: &'static ServerMetrics) -> Self {
        preregister_calls(&*inner, metrics);
        Metered {
            inner,
            metrics,
            disabled_seen: AtomicUsize::new(0),
        }
    }

    /// The wrapped backend.
    pub fn inner(&self) -> &Arc<B> {
        &self.inner
    }

    /// Publishes `plugwire_plugin_disabled` when a call took a plugin out (`on_error: disable`).
    /// Checked after every call because the reply does not say so: with `disable` the failed
    /// call answers "continue" like a successful one.
    fn publish_disabled(&self) {
        let disabled = self.inner.runtime_disabled();
        if disabled.len() != self.disabled_seen.swap(disabled.len(), Ordering::Relaxed) {
            for name in &disabled {
                self.metrics.plugin_disabled(name, true);
            }
        }
    }
}

#[async_trait::async_trait]
impl<B: Backend + ?Sized> Backend for Metered<B> {
    fn plugin_configs(&self) -> Vec<Value> {
        self.inner.plugin_configs()
    }

    fn plugin_config(&self, name: &str) -> Option<Value> {
        self.inner.plugin_config(name)
    }

    fn runtime_disabled(&self) -> Vec<String> {
        self.inner.runtime_disabled()
    }

    async fn invoke_hook(&self, args: RawInvokeHookArgs<'_>, out: &mut TextResultWriter) {
        if !self.metrics.enabled() {
            return self.inner.invoke_hook(args, out).await;
        }
        let start = Instant::now();
        let mark = out.mark();
        // The names are moved into the call; keep copies on the stack, not the heap.
        let (plugin, hook) = (Name::new(&args.plugin_name), Name::new(&args.hook_type));
        self.inner.invoke_hook(args, out).await;
        let (outcome, code) = classify_text(out.written_since(mark));
        self.metrics.hook_call(
            plugin.as_str(),
            hook.as_str(),
            outcome,
            code,
            start.elapsed(),
        );
        self.publish_disabled();
    }

    async fn invoke_hook_json(&self, args: InvokeHookArgs) -> InvokeHookResponse {
        if !self.metrics.enabled() {
            return self.inner.invoke_hook_json(args).await;
        }
        let start = Instant::now();
        let (plugin, hook) = (Name::new(&args.plugin_name), Name::new(&args.hook_type));
        let answer = self.inner.invoke_hook_json(args).await;
        let (outcome, code) = classify_answer(&answer);
        self.metrics.hook_call(
            plugin.as_str(),
            hook.as_str(),
            outcome,
            code,
            start.elapsed(),
        );
        self.publish_disabled();
        answer
    }
}

/// A copy of a plugin or hook name: inline up to 96 bytes (every real name), on the heap
/// beyond, so the hot path allocates nothing for its labels.
enum Name {
    Inline([u8; 96], u8),
    Heap(String),
}

impl Name {
    fn new(s: &str) -> Self {
        let bytes = s.as_bytes();
        match u8::try_from(bytes.len()) {
            Ok(len) if bytes.len() <= 96 => {
                let mut buf = [0u8; 96];
                buf[..bytes.len()].copy_from_slice(bytes);
                Name::Inline(buf, len)
            }
            _ => Name::Heap(s.to_string()),
        }
    }

    fn as_str(&self) -> &str {
        match self {
            // Copied whole from a `str`: always UTF-8.
            Name::Inline(buf, len) => std::str::from_utf8(&buf[..usize::from(*len)]).unwrap_or(""),
            Name::Heap(s) => s,
        }
    }
}

/// A member of the answer object: a newline, two spaces, a quote. Strings have their newlines
/// escaped and deeper members have more spaces before their quote, so only the answer's own
/// members match.
static MEMBER: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"\n  \""));
static MODIFIED: LazyLock<Finder<'static>> =
    LazyLock::new(|| Finder::new(b"\n    \"modified_payload\": "));
static VIOLATION: LazyLock<Finder<'static>> =
    LazyLock::new(|| Finder::new(b"\n    \"violation\": "));

/// The outcome of an answer's pretty-printed text (`{"plugin_name", "result"|"error",
/// "context"}`, in that order, as the writer puts them).
///
/// The second member says `result` or `error` (found after the short `plugin_name`, instead of
/// looking for `error` through the whole text first); in a result, `modified_payload` comes
/// right after `continue_processing`, and `violation` is the one search that crosses the
/// payload. The finders are built once, not per call.
pub fn classify_text(text: &[u8]) -> (Outcome, Option<&str>) {
    let second = MEMBER
        .find(text)
        .and_then(|first| MEMBER.find(&text[first + 1..]).map(|i| first + 1 + i));
    let Some(second) = second else {
        return (Outcome::Error, None);
    };
    let member = &text[second..];
    if member.starts_with(b"\n  \"error\": ") {
        let message = string_value(member, b"\n    \"message\": ").unwrap_or(b"");
        return (error_outcome(message), None);
    }
    if !member.starts_with(b"\n  \"result\": {") {
        return (Outcome::Error, None);
    }
    let result = member;
    let modified = MODIFIED.find(result);
    // `violation` follows the payload: search from there.
    let from = modified.unwrap_or(0);
    if let Some(v) = VIOLATION.find(&result[from..]).map(|v| from + v) {
        let after = &result[v + b"\n    \"violation\": ".len()..];
        if !after.starts_with(b"null") {
            let code = string_value(after, b"\n      \"code\": ")
                .and_then(|c| std::str::from_utf8(c).ok());
            return (Outcome::Violation, code);
        }
    }
    if let Some(m) = modified {
        let after = &result[m + b"\n    \"modified_payload\": ".len()..];
        if !after.starts_with(b"null") {
            return (Outcome::Modified, None);
        }
    }
    (Outcome::Continue, None)
}

/// [`classify_text`] for an answer held as a value (gRPC, the raw socket): the same outcome
/// for the same answer. As there, a `result` decides when present, and only an object counts.
pub fn classify_answer(answer: &InvokeHookResponse) -> (Outcome, Option<&str>) {
    let result = match (&answer.result, &answer.error) {
        (Some(Value::Object(result)), _) => result,
        (None, Some(error)) => {
            let message = error.get("message").and_then(Value::as_str).unwrap_or("");
            return (error_outcome(message.as_bytes()), None);
        }
        _ => return (Outcome::Error, None),
    };
    if let Some(v) = result.get("violation").filter(|v| !v.is_null()) {
        return (Outcome::Violation, v.get("code").and_then(Value::as_str));
    }
    if result.get("modified_payload").is_some_and(|m| !m.is_null()) {
        return (Outcome::Modified, None);
    }
    (Outcome::Continue, None)
}

/// The raw bytes of the string value after `key` (first occurrence), without the quotes;
/// `None` for a missing key or a value that is not a string. Escapes are left as they are.
fn string_value<'a>(text: &'a [u8], key: &[u8]) -> Option<&'a [u8]> {
    let at = memmem::find(text, key)? + key.len();
    let rest = text.get(at..)?.strip_prefix(b"\"")?;
    let mut i = 0;
    while i < rest.len() {
        match rest[i] {
            b'\\' => i += 2,
            b'"' => return Some(&rest[..i]),
            _ => i += 1,
        }
    }
    None
}

/// A plugin error, or the manager's timeout (worded `Plugin X exceeded Ns timeout`, as the
/// Python manager words it: the wire carries no other sign of a timeout).
fn error_outcome(message: &[u8]) -> Outcome {
    if message.ends_with(b"s timeout")
        && message.starts_with(b"Plugin ")
        && memmem::find(message, b" exceeded ").is_some()
    {
        Outcome::Timeout
    } else {
        Outcome::Error
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use plugwire_mcp::InvokeHookResponse;
    use serde_json::json;

    /// Classifies the answer's text, and checks that the answer as a value gets the same.
    fn classify(answer: InvokeHookResponse) -> (Outcome, Option<String>) {
        let text = answer.to_text();
        let (o, c) = classify_text(text.as_bytes());
        assert_eq!(classify_answer(&answer), (o, c), "{text}");
        (o, c.map(str::to_string))
    }

    fn result(modified: Value, violation: Value) -> Value {
        json!({"continue_processing": violation.is_null(), "modified_payload": modified,
               "violation": violation, "metadata": {}, "http_headers": null, "retry_delay_ms": 0})
    }

    #[test]
    fn answers_are_classified_from_their_text() {
        let ok = InvokeHookResponse::success("p", result(Value::Null, Value::Null), None);
        assert_eq!(classify(ok), (Outcome::Continue, None));
        // A payload that *contains* the words of a violation is still only "modified".
        let tricky = json!({"name": "x", "args": {"violation": {"code": "FAKE"}, "text": "\n    \"violation\": {"}});
        let modified = InvokeHookResponse::success("p", result(tricky, Value::Null), None);
        assert_eq!(classify(modified), (Outcome::Modified, None));
        let v = json!({"reason": "r", "description": "d", "code": "PII_DETECTED",
                       "details": {"code": "inner"}, "mcp_error_code": null});
        let blocked = InvokeHookResponse::success("p", result(Value::Null, v), None);
        assert_eq!(
            classify(blocked),
            (Outcome::Violation, Some("PII_DETECTED".to_string()))
        );
        // A returned context comes after `result`; its members do not count.
        let ctx =
            json!({"state": {"violation": {"code": "CTX"}}, "metadata": {"modified_payload": 1}});
        let with_ctx =
            InvokeHookResponse::success("p", result(Value::Null, Value::Null), Some(ctx));
        assert_eq!(classify(with_ctx), (Outcome::Continue, None));
        let v = json!({"reason": "r", "description": "d", "code": "X1", "details": {}});
        let ctx = json!({"state": {}, "metadata": {}});
        let blocked_ctx = InvokeHookResponse::success("p", result(Value::Null, v), Some(ctx));
        assert_eq!(
            classify(blocked_ctx),
            (Outcome::Violation, Some("X1".to_string()))
        );
        let err = InvokeHookResponse::failure_message("p", "boom");
        assert_eq!(classify(err), (Outcome::Error, None));
        let slow = InvokeHookResponse::failure_message("p", "Plugin p exceeded 0.05s timeout");
        assert_eq!(classify(slow), (Outcome::Timeout, None));
    }

    #[test]
    fn names_keep_their_text_inline_or_not() {
        assert_eq!(Name::new("tool_pre_invoke").as_str(), "tool_pre_invoke");
        assert_eq!(Name::new("é".repeat(48).as_str()).as_str(), "é".repeat(48));
        let long = "x".repeat(200);
        assert!(matches!(Name::new(&long), Name::Heap(_)));
        assert_eq!(Name::new(&long).as_str(), long);
    }

    #[test]
    fn unknown_text_is_an_error() {
        assert_eq!(classify_text(b"not json"), (Outcome::Error, None));
    }
}
