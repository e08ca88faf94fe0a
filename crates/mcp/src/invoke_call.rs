//! The hot path's request: a `tools/call` of `invoke_hook`, decoded from the body in one pass.
//!
//! Every hook call a gateway makes is this one request. Decoding it through the generic
//! [`crate::parse_message`] builds a `Value` tree of the whole body, converts `params` into
//! [`crate::CallToolParams`] (rebuilding every map) and copies the payload out again; that was
//! most of the server's CPU per call (docs/benchmarks.md, "Findings"). [`InvokeHookCall::parse`]
//! instead reads the envelope into typed fields and keeps `payload` and `context` as raw JSON
//! text for the framework to decode straight into its typed models.
//!
//! It accepts only requests the generic path would answer the same way, and says `None` for
//! anything else (a notification, another method or tool, a member of an unexpected type,
//! duplicate members): the caller then takes the generic JSON-RPC dispatch, which words the
//! envelope's and the arguments' errors (the hook call itself goes to the same backend entry
//! point either way). [`TextResultWriter`] (`invoke_call_answer.rs`) writes the answer
//! envelope byte for byte as the generic path does.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Map;

pub use crate::invoke_call_answer::{AnswerKind, TextResultWriter};
use crate::jsonrpc::{RequestId, JSONRPC_VERSION};
use crate::methods;
use crate::plugin_tools::{InvokeHookArgs, INVOKE_HOOK};

/// `invoke_hook` arguments with the payload and context still as JSON text (both objects).
#[derive(Debug, Deserialize)]
pub struct RawInvokeHookArgs<'a> {
    /// One of the 12 hook names, e.g. `tool_pre_invoke`.
    pub hook_type: String,
    /// The server-side plugin name (exact match).
    pub plugin_name: String,
    /// The hook payload, a JSON object.
    #[serde(borrow)]
    pub payload: &'a RawValue,
    /// The `PluginContext`, a JSON object.
    #[serde(borrow)]
    pub context: &'a RawValue,
}

impl RawInvokeHookArgs<'_> {
    /// The `Value` form (test fakes that answer from JSON values). Cannot fail for arguments
    /// that came through [`InvokeHookCall::parse`] (both members were checked to be objects).
    pub fn to_args(&self) -> Result<InvokeHookArgs, serde_json::Error> {
        Ok(InvokeHookArgs {
            hook_type: self.hook_type.clone(),
            plugin_name: self.plugin_name.clone(),
            payload: serde_json::from_str::<Map<_, _>>(self.payload.get())?,
            context: serde_json::from_str::<Map<_, _>>(self.context.get())?,
        })
    }
}

/// A JSON-RPC request `tools/call` whose tool is `invoke_hook`, with well-typed arguments.
#[derive(Debug)]
pub struct InvokeHookCall<'a> {
    /// The request id, echoed in the answer.
    pub id: RequestId,
    /// The tool's arguments.
    pub args: RawInvokeHookArgs<'a>,
}

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow)]
    jsonrpc: Cow<'a, str>,
    id: RequestId,
    #[serde(borrow)]
    method: Cow<'a, str>,
    #[serde(borrow)]
    params: Params<'a>,
}

#[derive(Deserialize)]
struct Params<'a> {
    #[serde(borrow)]
    name: Cow<'a, str>,
    #[serde(borrow)]
    arguments: RawInvokeHookArgs<'a>,
}

impl<'a> InvokeHookCall<'a> {
    /// The call, when `body` is exactly such a request; `None` sends the caller down the
    /// generic path.
    pub fn parse(body: &'a [u8]) -> Option<Self> {
        // What serde_json skips (a member ignored, a raw value) is not held to the rules the
        // generic path's `Value` is: the UTF-8 of bytes (so the text is checked as a whole) and
        // a number's range (`1e999`; `read_checked`). Both were found by the request fuzzer.
        // This path only runs where the one-pass decode declined, so the hot path does not pay.
        let text = std::str::from_utf8(body).ok()?;
        let env: Envelope<'a> = plugwire_json::read_checked(text)?;
        let is_object = |v: &RawValue| v.get().starts_with('{');
        let wanted = env.jsonrpc == JSONRPC_VERSION
            && env.method == methods::TOOLS_CALL
            && env.params.name == INVOKE_HOOK
            && is_object(env.params.arguments.payload)
            && is_object(env.params.arguments.context);
        wanted.then_some(InvokeHookCall {
            id: env.id,
            args: env.params.arguments,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{parse_message, Message};
    use serde_json::json;

    fn body(v: serde_json::Value) -> Vec<u8> {
        serde_json::to_vec(&v).unwrap()
    }

    fn call(id: serde_json::Value) -> serde_json::Value {
        json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {
            "name": "invoke_hook", "_meta": {"progressToken": 3},
            "arguments": {"hook_type": "tool_pre_invoke", "plugin_name": "P",
                "payload": {"name": "t", "args": {"q": "a \"quoted\" \u{e9}"}},
                "context": {"global_context": {"request_id": "r"}}}}})
    }

    #[test]
    fn parses_the_hot_request_and_agrees_with_the_generic_path() {
        for id in [json!(0), json!(7), json!("abc"), json!(1.5)] {
            let b = body(call(id.clone()));
            let c = InvokeHookCall::parse(&b).expect("fast path");
            let Ok(Message::Request(req)) = parse_message(&b) else {
                panic!("generic path")
            };
            assert_eq!(c.id, req.id);
            let generic_args = req.params.unwrap()["arguments"].clone();
            let ours = serde_json::to_value(c.args.to_args().unwrap()).unwrap();
            assert_eq!(ours, generic_args);
            assert_eq!(
                c.args.payload.get(),
                r#"{"name":"t","args":{"q":"a \"quoted\" é"}}"#
            );
        }
    }

    #[test]
    fn anything_else_goes_down_the_generic_path() {
        let mut cases = vec![
            json!({"jsonrpc": "2.0", "method": "tools/call", "params": {}}),
            json!([call(json!(1))]),
        ];
        let edits: Vec<fn(&mut serde_json::Value)> = vec![
            |v| v["id"] = json!(null),
            |v| v["jsonrpc"] = json!("1.0"),
            |v| v["method"] = json!("tools/list"),
            |v| v["params"]["name"] = json!("get_plugin_config"),
            |v| v["params"]["arguments"]["payload"] = json!([1]),
            |v| v["params"]["arguments"]["context"] = json!(null),
            |v| v["params"]["arguments"]["plugin_name"] = json!(5),
            |v| {
                v["params"]["arguments"]
                    .as_object_mut()
                    .unwrap()
                    .remove("hook_type");
            },
            |v| {
                v.as_object_mut().unwrap().remove("params");
            },
        ];
        for edit in edits {
            let mut v = call(json!(1));
            edit(&mut v);
            cases.push(v);
        }
        for v in cases {
            assert!(InvokeHookCall::parse(&body(v.clone())).is_none(), "{v}");
        }
        // Duplicate members: the generic path keeps the last one, so leave it to that path.
        let dup = br#"{"jsonrpc":"2.0","id":1,"id":2,"method":"tools/call","params":{"name":"invoke_hook","arguments":{"hook_type":"h","plugin_name":"p","payload":{},"context":{}}}}"#;
        assert!(InvokeHookCall::parse(dup).is_none());
        assert!(InvokeHookCall::parse(b"{not json").is_none());
        // Invalid UTF-8 in a member the fast path skips: the generic path refuses the body.
        let good = br#"{"method":"tools/call","params":{"name":"invoke_hook","arguments":{
            "hook_type":"prompt_pre_fetch","plk_type":"prompt_pre_Qetch","plugin_name":"P",
            "payload":{"prompt_id":"t"},"context":{"global_context":{"request_id":"r"}}}},
            "jsonrpc":"2.0","id":4}"#
            .to_vec();
        assert!(InvokeHookCall::parse(&good).is_some());
        let mut bad = good.clone();
        let at = bad.iter().position(|&b| b == b'Q').unwrap();
        bad[at] = 0xff;
        assert!(std::str::from_utf8(&bad).is_err());
        assert!(InvokeHookCall::parse(&bad).is_none());
        // A number out of range, in the payload or in a member the fast path skips.
        for (from, to) in [
            (&br#""prompt_id":"t""#[..], &br#""prompt_id":1e999"#[..]),
            (
                &br#""plk_type":"prompt_pre_Qetch""#[..],
                &br#""plk_type":[-1e400]"#[..],
            ),
        ] {
            let text = String::from_utf8(good.clone()).unwrap();
            let edited = text.replace(
                std::str::from_utf8(from).unwrap(),
                std::str::from_utf8(to).unwrap(),
            );
            assert_ne!(edited, text);
            assert!(serde_json::from_str::<serde_json::Value>(&edited).is_err());
            assert!(
                InvokeHookCall::parse(edited.as_bytes()).is_none(),
                "{edited}"
            );
        }
    }
}
