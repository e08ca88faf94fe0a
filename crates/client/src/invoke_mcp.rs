//! The MCP hook call's hot path: the `invoke_hook` arguments written in one pass from the typed
//! payload and context, and the answer decoded straight into the typed result and context.
//!
//! Why: a hook call used to build the arguments as a `serde_json::Value` tree, parse the answer
//! body into another, convert that into a `CallToolResult`, parse its text into a third and
//! convert that into the typed result — most of the client's CPU per call. The fast path reads
//! the JSON-RPC envelope with borrowed types and the answer text with the result's payload as
//! borrowed raw JSON. It only takes answers of the shape `plugwire serve` and the Python
//! runtime send as JSON (one object, our id, a `result` with `content` items and `isError`,
//! the first text item an object with a non-null `result`); anything else — SSE, an error
//! answer, extra members, a text that does not decode — goes through the generic path
//! (`Session::body_to_result`, then [`crate::decode::decode_invoke_hook`]) on the same bytes,
//! so results and error messages are those of the generic path.

use std::borrow::Cow;
use std::marker::PhantomData;

use plugwire_framework::{
    HookPayload, HookType, NullOr, PluginContext, PluginError, PluginErrorKind, PluginResult,
    ResultSeed,
};
use plugwire_json::read_seed;
use plugwire_mcp::{RequestId, INVOKE_HOOK};
use serde::de::{DeserializeSeed, Deserializer, Error as _, IgnoredAny, MapAccess, Visitor};
use serde::Deserialize;

use crate::answer_text;
use crate::decode::decode_invoke_hook;
use crate::plugin::to_plugin_error;
use crate::session::{Session, ToolReply};

/// One hook call over an MCP session.
pub(crate) async fn invoke_hook(
    session: &Session,
    plugin: &str,
    payload: &HookPayload,
    ctx: &mut PluginContext,
) -> Result<PluginResult, PluginError> {
    let hook = payload.hook_type();
    let arguments = encode_arguments(hook, plugin, payload, ctx).map_err(|e| {
        PluginError::new(
            PluginErrorKind::Transport,
            plugin,
            format!(
                "external plugin '{plugin}' ({}): the {} payload or context does not serialize: {e}",
                session.url(),
                hook.as_str()
            ),
        )
    })?;
    let transport = |e| to_plugin_error(PluginErrorKind::Transport, plugin, &e);
    let result = match session
        .call_tool_bytes(INVOKE_HOOK, &arguments)
        .await
        .map_err(transport)?
    {
        ToolReply::Result(result) => result,
        ToolReply::Body(body, id) => {
            if !body.is_sse {
                if let Some(decoded) = decode_fast(hook, &body.body, &id) {
                    let (result, context) = decoded;
                    if let Some(returned) = context {
                        ctx.state = returned.state;
                        ctx.metadata = returned.metadata;
                        ctx.global_context.state = returned.global_context.state;
                    }
                    return Ok(result);
                }
            }
            session.body_to_result(&body, &id).map_err(transport)?
        }
    };
    decode_invoke_hook(plugin, session.url(), hook, &result, ctx)
}

/// The `invoke_hook` arguments object, in the Python client's member order (`hook_type`,
/// `plugin_name`, `payload`, `context`), payload and context in their request forms: the
/// bytes `InvokeHookArgs::to_arguments` gave from the `Value` forms.
pub(crate) fn encode_arguments(
    hook: HookType,
    plugin: &str,
    payload: &HookPayload,
    ctx: &PluginContext,
) -> serde_json::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(1024);
    out.extend_from_slice(b"{\"hook_type\":");
    serde_json::to_writer(&mut out, hook.as_str())?;
    out.extend_from_slice(b",\"plugin_name\":");
    serde_json::to_writer(&mut out, plugin)?;
    out.extend_from_slice(b",\"payload\":");
    payload.write_request_json(&mut out)?;
    out.extend_from_slice(b",\"context\":");
    ctx.write_request_json(&mut out)?;
    out.push(b'}');
    Ok(out)
}

/// The result and returned context of a plain JSON answer to `id`, or `None` when the answer
/// is not of the fast path's shape or does not decode (the generic path then decides).
fn decode_fast(
    hook: HookType,
    body: &[u8],
    id: &RequestId,
) -> Option<(PluginResult, Option<PluginContext>)> {
    // `plugwire serve`'s exact form: the text unescaped in one pass (see `answer_text`). The
    // serde reading below would give the same text, so its decoding decides alone.
    if let Some(text) = answer_text::compact_text(body, id) {
        return decode_text(hook, &text);
    }
    let envelope: ObjectOnly<Envelope<'_>> = serde_json::from_slice(body).ok()?;
    let Envelope {
        jsonrpc,
        id: answered,
        result,
    } = envelope.0;
    if jsonrpc != "2.0" || RequestId::from(answered) != *id {
        return None;
    }
    let result = result.0;
    if result.is_error {
        return None;
    }
    // The Python client's walk: the first text item decides when it holds a result.
    let text = result.content.iter().find_map(|c| {
        (c.0.kind == "text")
            .then_some(c.0.text.as_deref())
            .flatten()
    })?;
    decode_text(hook, text)
}

/// The result and returned context of an answer text: read by `plugwire_json`'s reader, or by
/// serde_json where that reader declines, on a text a `Value` would decode (docs/decisions.md #99).
fn decode_text(hook: HookType, text: &str) -> Option<(PluginResult, Option<PluginContext>)> {
    let answer = read_seed(text, AnswerSeed(hook))?;
    Some((answer.result?, answer.context))
}

/// A JSON-RPC response, with no other member.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Envelope<'a> {
    #[serde(borrow)]
    jsonrpc: Cow<'a, str>,
    id: i64,
    #[serde(borrow)]
    result: ObjectOnly<ToolResult<'a>>,
}

/// A `CallToolResult` with content items and `isError` only.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ToolResult<'a> {
    #[serde(borrow)]
    content: Vec<ObjectOnly<Content<'a>>>,
    #[serde(default, rename = "isError")]
    is_error: bool,
}

/// A content item with `type` and `text` only.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Content<'a> {
    #[serde(borrow, rename = "type")]
    kind: Cow<'a, str>,
    #[serde(borrow, default)]
    text: Option<Cow<'a, str>>,
}

/// The answer text: other members (`plugin_name`) are not checked, as in the Python client; a
/// `null` context counts as absent, a `null` result is left to the generic path to report.
struct Answer {
    result: Option<PluginResult>,
    context: Option<PluginContext>,
}

/// Reads the answer text (a JSON object only) in one pass, the result decoded where it sits
/// ([`ResultSeed`]): setting its text aside first cost a second scan of the whole payload. A
/// repeated `result` or `context` is refused (the generic path then decides), as the derived
/// struct this replaces did.
#[derive(Clone, Copy)]
struct AnswerSeed(HookType);

impl<'de> DeserializeSeed<'de> for AnswerSeed {
    type Value = Answer;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Answer, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for AnswerSeed {
    type Value = Answer;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an invoke_hook answer object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Answer, A::Error> {
        let (mut result, mut context) = (None, None);
        let (mut seen_result, mut seen_context) = (false, false);
        while let Some(key) = map.next_key::<AnswerKey>()? {
            match key {
                AnswerKey::Result if std::mem::replace(&mut seen_result, true) => {
                    return Err(A::Error::duplicate_field("result"));
                }
                AnswerKey::Result => result = map.next_value_seed(NullOr(ResultSeed(self.0)))?,
                AnswerKey::Context if std::mem::replace(&mut seen_context, true) => {
                    return Err(A::Error::duplicate_field("context"));
                }
                // Decoded where it sits, as `PluginContext::from_json_str` decodes its text (a
                // repeated member inside it, which that function tolerates, fails here and the
                // generic path decides).
                AnswerKey::Context => context = map.next_value::<Option<PluginContext>>()?,
                AnswerKey::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(Answer { result, context })
    }
}

/// A member name of the answer text, compared where it sits (no `String` per key).
enum AnswerKey {
    Result,
    Context,
    Other,
}

impl<'de> Deserialize<'de> for AnswerKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Keys;
        impl Visitor<'_> for Keys {
            type Value = AnswerKey;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a member name")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<AnswerKey, E> {
                Ok(match v {
                    "result" => AnswerKey::Result,
                    "context" => AnswerKey::Context,
                    _ => AnswerKey::Other,
                })
            }
        }
        d.deserialize_identifier(Keys)
    }
}

/// `T` from a JSON object only: serde's derived structs also accept an array of their fields
/// in order, which the generic path (maps and `Value` objects) refuses.
struct ObjectOnly<T>(T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for ObjectOnly<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Objects<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for Objects<T> {
            type Value = T;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
                T::deserialize(serde::de::value::MapAccessDeserializer::new(map))
            }
        }
        d.deserialize_map(Objects(PhantomData)).map(ObjectOnly)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use plugwire_framework::{GlobalContext, PluginViolation};
    use plugwire_mcp::{
        CallToolResult, InvokeHookArgs, InvokeHookResponse, Message, Request, Response,
    };
    use serde_json::{json, Value};

    fn payload() -> HookPayload {
        HookPayload::from_json(
            HookType::ToolPreInvoke,
            json!({"name": "search", "args": {"q": "crap \"x\"\n", "n": null, "f": 0.5},
                   "headers": {"h": "v"}}),
        )
        .unwrap()
    }

    fn context() -> PluginContext {
        let mut g = GlobalContext::new("req-1");
        g.user = Some(json!({"email": null}));
        g.server_id = Some("s".into());
        let mut c = PluginContext::new(g);
        c.set_state("k", json!([1, null]));
        c
    }

    /// The request bytes are those of the `Value` path: `to_request_json` forms, moved into
    /// `InvokeHookArgs`, its arguments object, the `tools/call` params and the message.
    #[test]
    fn request_bytes_equal_the_value_path() {
        let (p, c) = (payload(), context());
        let (Value::Object(pv), Value::Object(cv)) = (p.to_request_json(), c.to_request_json())
        else {
            unreachable!("objects")
        };
        let args = InvokeHookArgs {
            hook_type: "tool_pre_invoke".into(),
            plugin_name: "Plug\"in".into(),
            payload: pv,
            context: cv,
        };
        let params = crate::session::call_tool_params(INVOKE_HOOK, args.to_arguments());
        for id in [
            RequestId::from(0),
            RequestId::from(i64::MAX),
            RequestId::from("s-1"),
        ] {
            let old = crate::http::encode(&Message::Request(Request::new(
                id.clone(),
                "tools/call",
                Some(params.clone()),
            )))
            .unwrap();
            let arguments = encode_arguments(HookType::ToolPreInvoke, "Plug\"in", &p, &c).unwrap();
            let new =
                crate::session::transport::encode_tool_call(&id, INVOKE_HOOK, &arguments).unwrap();
            assert_eq!(
                String::from_utf8(new).unwrap(),
                String::from_utf8(old).unwrap()
            );
        }
    }

    fn body(id: i64, result: &CallToolResult) -> Vec<u8> {
        let response = Response::new(RequestId::from(id), serde_json::to_value(result).unwrap());
        serde_json::to_vec(&response).unwrap()
    }

    /// What the generic path makes of the same body.
    fn generic(body: &[u8], id: i64) -> (Result<PluginResult, PluginError>, PluginContext) {
        let messages = vec![serde_json::from_slice::<Value>(body).unwrap()];
        let reply = messages
            .into_iter()
            .filter_map(|m| plugwire_mcp::message_from_value(m).ok())
            .find_map(|m| m.into_reply_to(&RequestId::from(id)))
            .unwrap()
            .unwrap();
        let result: CallToolResult = serde_json::from_value(reply).unwrap();
        let mut ctx = context();
        let r = decode_invoke_hook("P", "u", HookType::ToolPreInvoke, &result, &mut ctx);
        (r, ctx)
    }

    #[test]
    fn typed_answers_decode_as_the_generic_path_does() {
        let modified = HookPayload::from_json(
            HookType::ToolPreInvoke,
            json!({"name": "search", "args": {"q": "crud \"x\"\n\u{e9}"}}),
        )
        .unwrap();
        let mut violation = PluginViolation::new("no", "d", "C");
        if let Some(details) = violation.details.as_mut() {
            details.insert("a".into(), Value::Null);
        }
        let block = PluginResult::block(violation);
        let mut returned = context();
        returned.set_state("seen", json!(true));
        returned.metadata.insert("m".into(), json!({"x": 1}));
        returned
            .global_context
            .state
            .insert("g".into(), json!(null));
        let answers = [
            InvokeHookResponse::success("P", PluginResult::modified(modified).to_json(), None),
            InvokeHookResponse::success("P", PluginResult::pass().to_json(), None),
            InvokeHookResponse::success("P", block.to_json(), Some(returned.to_json())),
        ];
        for answer in answers {
            let b = body(41, &answer.to_result());
            let (fast, fast_ctx) = decode_fast(HookType::ToolPreInvoke, &b, &RequestId::from(41))
                .expect("the fast path takes this answer");
            let (slow, slow_ctx) = generic(&b, 41);
            assert_eq!(fast, slow.unwrap());
            let mut ctx = context();
            if let Some(r) = fast_ctx {
                ctx.state = r.state;
                ctx.metadata = r.metadata;
                ctx.global_context.state = r.global_context.state;
            }
            assert_eq!(ctx, slow_ctx);
        }
    }

    #[test]
    fn other_shapes_are_left_to_the_generic_path() {
        let pass = InvokeHookResponse::success("P", PluginResult::pass().to_json(), None);
        let ok = body(3, &pass.to_result());
        let hook = HookType::ToolPreInvoke;
        assert!(decode_fast(hook, &ok, &RequestId::from(3)).is_some());
        let text = |t: &str| body(3, &CallToolResult::text(t));
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("another id", body(4, &pass.to_result())),
            (
                "an error answer",
                text(&InvokeHookResponse::failure_message("P", "boom").to_text()),
            ),
            (
                "a null result",
                text(r#"{"result": null, "error": {"message": "m"}}"#),
            ),
            (
                "a text that is not an object",
                text(r#"[{"continue_processing": true}]"#),
            ),
            ("a text that is not JSON", text("oops")),
            (
                "a bad modified payload",
                text(r#"{"result": {"modified_payload": {}}}"#),
            ),
            ("isError", body(3, &CallToolResult::error(pass.to_text()))),
            (
                "an array envelope",
                format!("[{}]", String::from_utf8(ok.clone()).unwrap()).into_bytes(),
            ),
            (
                "an extra member",
                String::from_utf8(ok.clone())
                    .unwrap()
                    .replacen('{', "{\"x\":1,", 1)
                    .into_bytes(),
            ),
            (
                "a result given as an array",
                br#"{"jsonrpc":"2.0","id":3,"result":[[],false]}"#.to_vec(),
            ),
            (
                "a repeated result in the text",
                text(r#"{"result": {"continue_processing": true}, "result": {}}"#),
            ),
            (
                "a repeated context in the text",
                text(r#"{"result": {}, "context": null, "context": null}"#),
            ),
            ("text after the answer", text(r#"{"result": {}} {}"#)),
            (
                "a number out of range in a member the fast path skips",
                text(r#"{"result": {}, "plugin_name": [1e999]}"#),
            ),
            (
                "a repeated member inside the context",
                text(
                    r#"{"result": {}, "context": {"state": {}, "state": {"a": 1},
                        "global_context": {"request_id": "r"}}}"#,
                ),
            ),
            (
                "a context without its global context",
                text(r#"{"result": {}, "context": {"state": {"a": 1}}}"#),
            ),
            (
                "a context whose user holds a lone surrogate",
                text(
                    r#"{"result": {}, "context": {"global_context":
                        {"request_id": "r", "user": "\udc00"}}}"#,
                ),
            ),
            (
                "a lone surrogate in a key of a member the fast path skips",
                text(r#"{"result": {}, "x": {"\ud800": 1}}"#),
            ),
            (
                "a context whose user_context lacks its user_id",
                text(
                    r#"{"result": {}, "context": {"global_context":
                        {"request_id": "r", "user_context": {"email": "e"}}}}"#,
                ),
            ),
        ];
        for (what, b) in cases {
            assert!(
                decode_fast(hook, &b, &RequestId::from(3)).is_none(),
                "{what}"
            );
            // A refused context is the generic path's error, as before (a bad escape is met
            // there while reading the whole text, before the context is decoded).
            if what.starts_with("a context") {
                let e = generic(&b, 3).0.expect_err(what).to_string();
                let why = if what.contains("surrogate") {
                    "lone leading surrogate"
                } else {
                    "invalid context in invoke_hook answer"
                };
                assert!(e.contains(why), "{what}: {e}");
            }
        }
        // Other members of the text are passed over, a null context counts as absent.
        let loose =
            text(r#"{"plugin_name": "P", "x": [1, {"y": 2}], "result": {}, "context": null}"#);
        let (r, ctx) = decode_fast(hook, &loose, &RequestId::from(3)).expect("decodes");
        assert!(r.continue_processing && r.modified_payload.is_none() && ctx.is_none());
        // The first text item decides when it holds a result; items of other kinds are passed over.
        let mut two = CallToolResult::text(pass.to_text());
        two.content
            .insert(0, plugwire_mcp::Content::text("{\"note\": 1}"));
        assert!(decode_fast(hook, &body(3, &two), &RequestId::from(3)).is_none());
    }
}
