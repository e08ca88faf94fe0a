//! [`Metered`]: a [`Backend`] decorator that times every hook call and counts its outcome in
//! `plugwire_hook_*` (see `docs/metrics.md`). It wraps any backend, so the plugin manager and
//! the test fakes are measured the same way and neither knows about metrics.
//!
//! The hot path's answer is text written straight into the response. The plugin manager's
//! backend records what it says as it writes it (`TextResultWriter::record_kind`); for a
//! backend that does not, rather than decode the text again, the outcome is read from the
//! pretty-printed JSON's layout: the printer indents
//! every level by two spaces and escapes every newline inside strings, so a key at a given
//! depth is found by searching for a newline, that many spaces and the quoted key, which no
//! payload content can imitate. A few byte searches per call, no allocation. The MCP answer
//! holds that text already escaped for the JSON-RPC string: the same markers are searched in
//! their escaped form, each match checked to start outside an escape.

use std::borrow::Cow;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::Instant;

use memchr::memmem::{self, Finder};
use plugwire_mcp::{InvokeHookArgs, InvokeHookResponse, RawInvokeHookArgs, TextResultWriter};
use plugwire_metrics::{Outcome, ServerMetrics};
use serde_json::Value;

use crate::backend::{AnswerKind, Backend, DecodedCall, ProtoAnswer, ProtoArgs};

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
    /// The backend's `runtime_disabled_stamp` when the gauge of runtime-disabled plugins
    /// (`on_error: disable`) was last published: a changed stamp is the cue to publish it.
    disabled_seen: AtomicU64,
}

impl<B: Backend + ?Sized> Metered<B> {
    /// Wraps `inner`; the series of every configured plugin × hook are created now, at zero.
    pub fn new(inner: Arc<B>, metrics: &'static ServerMetrics) -> Self {
        preregister_calls(&*inner, metrics);
        Metered {
            inner,
            metrics,
            disabled_seen: AtomicU64::new(0),
        }
    }

    /// The wrapped backend.
    pub fn inner(&self) -> &Arc<B> {
        &self.inner
    }

    /// Times `call` and records it under its plugin and hook, with the outcome `classify` reads
    /// from the answer (the entries that answer with a value; the text entry reads its writer).
    async fn timed<A>(
        &self,
        (plugin, hook): (Name, Name),
        call: impl Future<Output = A> + Send,
        classify: impl for<'a> Fn(&'a A) -> (Outcome, Option<&'a str>) + Send,
    ) -> A {
        let start = Instant::now();
        let answer = call.await;
        let (outcome, code) = classify(&answer);
        let elapsed = start.elapsed();
        self.metrics
            .hook_call(plugin.as_str(), hook.as_str(), outcome, code, elapsed);
        self.publish_disabled();
        answer
    }

    /// Records a text entry's call that started at `start` and wrote its answer into `out`
    /// from `mark` on.
    /// The outcome is the one the backend recorded as it wrote the answer
    /// ([`TextResultWriter::record_kind`]: the plugin manager does); only a backend that did
    /// not record it (test fakes) has its text read ([`classify_text`]).
    fn record_text(
        &self,
        (plugin, hook): (&str, &str),
        out: &mut TextResultWriter,
        mark: usize,
        start: Instant,
    ) {
        let elapsed = start.elapsed();
        match out.take_kind() {
            Some(kind) => {
                let (outcome, code) = classify_kind(&kind);
                self.metrics.hook_call(plugin, hook, outcome, code, elapsed);
            }
            None => {
                let (outcome, code) = classify_text(out.written_since(mark), out.text_is_escaped());
                let code = code.as_deref();
                self.metrics.hook_call(plugin, hook, outcome, code, elapsed);
            }
        }
        self.publish_disabled();
    }

    /// Publishes `plugwire_plugin_disabled` when a call took a plugin out (`on_error: disable`).
    /// Checked after every call because the reply does not say so: with `disable` the failed
    /// call answers "continue" like a successful one. The backend's stamp is one load; the
    /// names are copied only when it moved.
    fn publish_disabled(&self) {
        let stamp = self.inner.runtime_disabled_stamp();
        if stamp != self.disabled_seen.swap(stamp, Ordering::Relaxed) {
            for name in &self.inner.runtime_disabled() {
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

    fn runtime_disabled_stamp(&self) -> u64 {
        self.inner.runtime_disabled_stamp()
    }

    async fn invoke_hook(&self, args: RawInvokeHookArgs<'_>, out: &mut TextResultWriter) {
        if !self.metrics.enabled() {
            return self.inner.invoke_hook(args, out).await;
        }
        // The names are moved into the call; keep copies on the stack, not the heap.
        let names = (Name::new(&args.plugin_name), Name::new(&args.hook_type));
        let mark = out.mark();
        // Only what this call's backend records counts.
        out.take_kind();
        let start = Instant::now();
        self.inner.invoke_hook(args, out).await;
        self.record_text((names.0.as_str(), names.1.as_str()), out, mark, start);
    }

    fn decode_call<'a>(&self, body: &'a [u8]) -> Option<DecodedCall<'a>> {
        self.inner.decode_call(body)
    }

    async fn invoke_decoded(&self, call: DecodedCall<'_>, out: &mut TextResultWriter) {
        if !self.metrics.enabled() {
            return self.inner.invoke_decoded(call, out).await;
        }
        // The names are the request body's own text (it outlives the call): kept borrowed, no
        // copy and no UTF-8 check per call (profiled: 0.3k instructions a call for the two
        // copies). Only a name the request spelled with escapes is an owned copy.
        let names = (call.plugin_name.clone(), call.hook_type.clone());
        let mark = out.mark();
        out.take_kind();
        let start = Instant::now();
        self.inner.invoke_decoded(call, out).await;
        self.record_text((&names.0, &names.1), out, mark, start);
    }

    async fn invoke_hook_json(&self, args: InvokeHookArgs) -> InvokeHookResponse {
        if !self.metrics.enabled() {
            return self.inner.invoke_hook_json(args).await;
        }
        let names = (Name::new(&args.plugin_name), Name::new(&args.hook_type));
        let call = self.inner.invoke_hook_json(args);
        self.timed(names, call, classify_answer).await
    }

    async fn invoke_hook_proto(&self, args: ProtoArgs) -> ProtoAnswer {
        if !self.metrics.enabled() {
            return self.inner.invoke_hook_proto(args).await;
        }
        let names = (Name::new(&args.plugin_name), Name::new(&args.hook_type));
        let call = self.inner.invoke_hook_proto(args);
        self.timed(names, call, |answer| classify_kind(&answer.kind))
            .await
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

/// The markers the outcome is read from, in one of the two forms the writer holds its text in
/// (`TextResultWriter::text_is_escaped`): as printed, or escaped for the JSON-RPC string (each
/// newline written `\n`, each quote `\"`, each backslash `\\`).
struct Markers {
    /// A member of the answer object: a newline, two spaces, a quote. Strings have their
    /// newlines escaped and deeper members have more spaces before their quote, so only the
    /// answer's own members match.
    member: Finder<'static>,
    modified: Finder<'static>,
    violation: Finder<'static>,
    error: Vec<u8>,
    result: Vec<u8>,
    message: Finder<'static>,
    code: Finder<'static>,
    quote: &'static [u8],
    /// In the escaped form a marker found after an odd run of backslashes is not one: it
    /// starts inside an escape (`\\n  \"` is a printed `\n` in a string, then two spaces and
    /// its closing quote).
    escaped: bool,
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

/// [`classify_answer`] for an answer the backend gave as proto bytes, from the kind it gave
/// with them (`AnswerKind::of_response` reads a value as [`classify_answer`] does).
pub fn classify_kind(kind: &AnswerKind) -> (Outcome, Option<&str>) {
    match kind {
        AnswerKind::Continue => (Outcome::Continue, None),
        AnswerKind::Modified => (Outcome::Modified, None),
        AnswerKind::Violation(code) => (Outcome::Violation, code.as_deref()),
        AnswerKind::Failed(message) => (error_outcome(message.as_bytes()), None),
    }
}

impl Markers {
    fn new(escaped: bool) -> Self {
        let form = |plain: &[u8]| -> Vec<u8> {
            if !escaped {
                return plain.to_vec();
            }
            let mut w = TextResultWriter::new(&plugwire_mcp::RequestId::from(0));
            let mark = w.mark();
            w.push_str(std::str::from_utf8(plain).unwrap_or_default());
            w.written_since(mark).to_vec()
        };
        let finder = |plain: &[u8]| Finder::new(&form(plain)).into_owned();
        Markers {
            member: finder(b"\n  \""),
            modified: finder(b"\n    \"modified_payload\": "),
            violation: finder(b"\n    \"violation\": "),
            error: form(b"\n  \"error\": "),
            result: form(b"\n  \"result\": {"),
            message: finder(b"\n    \"message\": "),
            code: finder(b"\n      \"code\": "),
            quote: if escaped { b"\\\"" } else { b"\"" },
            escaped,
        }
    }

    /// The first match of `finder` in `text` at or after `from` that is a marker.
    fn find(&self, finder: &Finder<'_>, text: &[u8], mut from: usize) -> Option<usize> {
        loop {
            let at = from + finder.find(text.get(from..)?)?;
            let backslashes = text[..at].iter().rev().take_while(|&&b| b == b'\\').count();
            if !self.escaped || backslashes % 2 == 0 {
                return Some(at);
            }
            from = at + 1;
        }
    }

    /// The string value after the marker `key` (first occurrence) as printed, without the
    /// quotes; `None` for a missing key or a value that is not a string. The printer's escapes
    /// are left as they are.
    fn string_value<'a>(&self, text: &'a [u8], key: &Finder<'_>) -> Option<Cow<'a, [u8]>> {
        let at = self.find(key, text, 0)? + key.needle().len();
        let rest = text.get(at..)?.strip_prefix(self.quote)?;
        if !self.escaped {
            return printed_string(rest).map(Cow::Borrowed);
        }
        // Undo the outer escaping while reading the printed string.
        let mut printed = Vec::new();
        let mut in_escape = false;
        let mut i = 0;
        while i < rest.len() {
            let b = match rest[i] {
                b'\\' => {
                    i += 1;
                    match rest.get(i)? {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 0x08,
                        b'f' => 0x0c,
                        b'u' => return None,
                        &other => other,
                    }
                }
                b => b,
            };
            i += 1;
            if in_escape {
                in_escape = false;
            } else if b == b'\\' {
                in_escape = true;
            } else if b == b'"' {
                return Some(Cow::Owned(printed));
            }
            printed.push(b);
        }
        None
    }
}

/// The text of a string as printed (its content between the quotes), with the printer's escapes
/// decoded, so the code label is the plugin's code whatever the transport (most codes have no
/// escape and are borrowed as they are).
fn decoded(printed: Cow<'_, [u8]>) -> Option<Cow<'_, str>> {
    if !printed.contains(&b'\\') {
        return match printed {
            Cow::Borrowed(c) => std::str::from_utf8(c).ok().map(Cow::Borrowed),
            Cow::Owned(c) => String::from_utf8(c).ok().map(Cow::Owned),
        };
    }
    let mut quoted = Vec::with_capacity(printed.len() + 2);
    quoted.push(b'"');
    quoted.extend_from_slice(&printed);
    quoted.push(b'"');
    serde_json::from_slice::<String>(&quoted)
        .ok()
        .map(Cow::Owned)
}

/// The printed string at the start of `rest` (after its opening quote), up to its closing
/// quote.
fn printed_string(rest: &[u8]) -> Option<&[u8]> {
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

static PRINTED: LazyLock<Markers> = LazyLock::new(|| Markers::new(false));
static ESCAPED: LazyLock<Markers> = LazyLock::new(|| Markers::new(true));

/// The outcome of an answer's pretty-printed text (`{"plugin_name", "result"|"error",
/// "context"}`, in that order, as the writer puts them), as printed or escaped for the
/// JSON-RPC string (`escaped`), and the violation's code.
///
/// The second member says `result` or `error` (found after the short `plugin_name`, instead of
/// looking for `error` through the whole text first); in a result, `modified_payload` comes
/// right after `continue_processing`, and `violation` is the one search that crosses the
/// payload. The finders are built once, not per call.
pub fn classify_text(text: &[u8], escaped: bool) -> (Outcome, Option<Cow<'_, str>>) {
    let m: &Markers = if escaped { &ESCAPED } else { &PRINTED };
    let second = m
        .find(&m.member, text, 0)
        .and_then(|first| m.find(&m.member, text, first + 1));
    let Some(second) = second else {
        return (Outcome::Error, None);
    };
    let member = &text[second..];
    if member.starts_with(&m.error) {
        let message = m.string_value(member, &m.message).unwrap_or_default();
        return (error_outcome(&message), None);
    }
    if !member.starts_with(&m.result) {
        return (Outcome::Error, None);
    }
    let result = member;
    let modified = m.find(&m.modified, result, 0);
    // `violation` follows the payload: search from there.
    if let Some(v) = m.find(&m.violation, result, modified.unwrap_or(0)) {
        let after = &result[v + m.violation.needle().len()..];
        if !after.starts_with(b"null") {
            let code = m.string_value(after, &m.code).and_then(decoded);
            return (Outcome::Violation, code);
        }
    }
    if let Some(at) = modified {
        let after = &result[at + m.modified.needle().len()..];
        if !after.starts_with(b"null") {
            return (Outcome::Modified, None);
        }
    }
    (Outcome::Continue, None)
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

    /// The outcome read from the printed text, checked to be the same from its escaped form
    /// and from the answer as a value.
    fn classify(answer: InvokeHookResponse) -> (Outcome, Option<String>) {
        let text = answer.to_text();
        let (o, c) = classify_text(text.as_bytes(), false);
        let printed = (o, c.map(|c| c.into_owned()));
        let mut w = TextResultWriter::new(&plugwire_mcp::RequestId::from(1));
        w.push_str(&text);
        let (o, c) = classify_text(w.written_since(0), true);
        assert_eq!((o, c.map(|c| c.into_owned())), printed, "{text}");
        let (o, c) = classify_answer(&answer);
        assert_eq!((o, c.map(str::to_string)), printed, "{text}");
        let kind = AnswerKind::of_response(&answer);
        let (o, c) = classify_kind(&kind);
        assert_eq!((o, c.map(str::to_string)), printed, "{text}");
        printed
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

    /// A backend whose runtime-disabled list and stamp the test sets.
    #[derive(Default)]
    struct Disabling(std::sync::Mutex<(Vec<String>, u64)>);

    #[async_trait::async_trait]
    impl Backend for Disabling {
        fn plugin_configs(&self) -> Vec<Value> {
            Vec::new()
        }
        async fn invoke_hook(&self, _: RawInvokeHookArgs<'_>, _: &mut TextResultWriter) {}
        fn runtime_disabled(&self) -> Vec<String> {
            self.0.lock().unwrap().0.clone()
        }
        fn runtime_disabled_stamp(&self) -> u64 {
            self.0.lock().unwrap().1
        }
    }

    /// The gauge follows the stamp, not the list's length: a reload's new manager that takes
    /// out one plugin after the old one had taken out one is still published.
    #[test]
    fn a_changed_stamp_publishes_the_disabled_plugins() {
        let metrics: &'static ServerMetrics = Box::leak(Box::new(ServerMetrics::new(true)));
        let backend = Arc::new(Disabling::default());
        let m = Metered::new(backend.clone(), metrics);
        let shown = |plugin: &str| {
            let line = format!("plugwire_plugin_disabled{{plugin=\"{plugin}\"}} 1");
            metrics.encode().contains(&line)
        };
        m.publish_disabled();
        assert!(!shown("A"));
        *backend.0.lock().unwrap() = (vec!["A".into()], 5);
        m.publish_disabled();
        assert!(shown("A"), "{}", metrics.encode());
        // The reload: the old plugin back in service (as the reload does), a new one out.
        metrics.plugin_disabled("A", false);
        *backend.0.lock().unwrap() = (vec!["B".into()], 9);
        m.publish_disabled();
        assert!(shown("B") && !shown("A"), "{}", metrics.encode());
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
        assert_eq!(classify_text(b"not json", false), (Outcome::Error, None));
        assert_eq!(classify_text(b"not json", true), (Outcome::Error, None));
    }

    #[test]
    fn markers_inside_escaped_strings_do_not_count() {
        // Strings that end in a newline and two spaces, or hold a printed marker, or quotes
        // and backslashes next to the code: the escaped form has the marker's bytes after an
        // odd run of backslashes.
        let tricky = json!({"a": "x\n  ", "b": "\n  \"error\": ", "c": "\\\n    \"violation\": {",
                            "d": "\\"});
        let modified = InvokeHookResponse::success("p\n  ", result(tricky, Value::Null), None);
        assert_eq!(classify(modified), (Outcome::Modified, None));
        let v = json!({"reason": "r\n", "description": "\\", "code": "A\"B\\C\n",
                       "details": {}});
        let blocked = InvokeHookResponse::success("p", result(Value::Null, v), None);
        assert_eq!(
            classify(blocked),
            (Outcome::Violation, Some("A\"B\\C\n".to_string()))
        );
        let slow = InvokeHookResponse::failure_message("p\"", "Plugin p\" exceeded 1s timeout");
        assert_eq!(classify(slow), (Outcome::Timeout, None));
    }
}
