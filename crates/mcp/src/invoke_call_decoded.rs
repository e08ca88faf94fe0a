//! The hot path's request decoded in one read: the envelope, the payload and the context.
//!
//! [`crate::InvokeHookCall::parse`] reads the envelope and keeps `payload` and `context` as raw
//! text, which serde_json can only do by scanning over them; the plugin side then reads the
//! same bytes again to decode them (profiled: the scan alone was about a tenth of the server's
//! instructions per call). [`InvokeHookCall::parse_decoded`] decodes both where they stand,
//! with an [`ArgsDecoder`] that knows the payload type of each hook (this crate does not know
//! the framework's types). The hook must be known when the payload comes, i.e. `hook_type`
//! before `payload`, as every client writes it.
//!
//! The body is read by `plugwire_json`'s `SliceDeserializer`, which either gives serde_json's
//! values or declines; where it declines, serde_json reads the same text (docs/decisions.md #99).
//!
//! It answers only when the two-pass path would decode the same values: any other body (a
//! member out of that order, a repeated member, a payload or context that is not an object or
//! does not decode, an unknown hook) gives `None`, and the caller takes the two-pass path,
//! which decides and words the answer as it always has. So a request is never answered
//! differently by this path, only sooner.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use plugwire_json::read_seed;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::Deserialize;

use crate::invoke_call::InvokeHookCall;
use crate::jsonrpc::{RequestId, JSONRPC_VERSION};
use crate::methods;
use crate::plugin_tools::INVOKE_HOOK;

/// Decodes a hook call's payload and context straight from the request's JSON (the server's
/// plugin manager implements it with its typed models).
pub trait ArgsDecoder {
    /// The decoded payload (with whatever the decoder keeps of the hook, e.g. its parsed name).
    type Payload;
    /// The decoded context.
    type Context;

    /// Decodes the payload of hook `hook_type`; an error (an unknown hook included) sends the
    /// request down the two-pass path. `d` yields only JSON objects.
    fn payload<'de, D: Deserializer<'de>>(
        &self,
        hook_type: &str,
        d: D,
    ) -> Result<Self::Payload, D::Error>;

    /// Decodes the context; `d` yields only JSON objects.
    fn context<'de, D: Deserializer<'de>>(&self, d: D) -> Result<Self::Context, D::Error>;
}

/// A `tools/call invoke_hook` request with its payload and context already decoded.
#[derive(Debug)]
pub struct DecodedInvokeHookCall<'a, P, C> {
    /// The request id, echoed in the answer.
    pub id: RequestId,
    /// The hook name as sent.
    pub hook_type: Cow<'a, str>,
    /// The server-side plugin name (exact match).
    pub plugin_name: Cow<'a, str>,
    /// The decoded payload.
    pub payload: P,
    /// The decoded context.
    pub context: C,
}

impl InvokeHookCall<'_> {
    /// The call with payload and context decoded by `decoder`, when `body` is such a request
    /// and the one read can decode it; `None` sends the caller to [`InvokeHookCall::parse`].
    pub fn parse_decoded<'a, A: ArgsDecoder>(
        body: &'a [u8],
        decoder: &A,
    ) -> Option<DecodedInvokeHookCall<'a, A::Payload, A::Context>> {
        // Checked once as a whole (a JSON text is UTF-8): reading from a `str`, serde_json does
        // not check each string again as it decodes it (profiled: ~4k instructions per call).
        let text = std::str::from_utf8(body).ok()?;
        // Our reader first; where it declines, serde_json reads the same text, held to what
        // the generic path's `Value` accepts (`plugwire_json::read_seed`).
        read_seed(text, EnvelopeVisitor { decoder })?
    }
}

/// A string member, borrowed from the body when it has no escapes.
#[derive(Deserialize)]
struct Text<'a>(#[serde(borrow)] Cow<'a, str>);

#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "lowercase")]
enum EnvelopeField {
    Jsonrpc,
    Id,
    Method,
    Params,
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "lowercase")]
enum ParamsField {
    Name,
    Arguments,
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "snake_case")]
enum ArgsField {
    HookType,
    PluginName,
    Payload,
    Context,
    #[serde(other)]
    Other,
}

/// Sets `slot` once; a repeated member is an error, as for the derived envelope of `parse`
/// (the generic path keeps the last one: it decides such requests).
fn set_once<T, E: de::Error>(slot: &mut Option<T>, v: T, name: &'static str) -> Result<(), E> {
    if slot.replace(v).is_some() {
        return Err(E::duplicate_field(name));
    }
    Ok(())
}

/// `Ok(None)`: well-formed, but not a call this path answers (checked after the whole read).
type Decoded<'a, A> =
    Option<DecodedInvokeHookCall<'a, <A as ArgsDecoder>::Payload, <A as ArgsDecoder>::Context>>;

struct EnvelopeVisitor<'d, A> {
    decoder: &'d A,
}

// By hand: a derive would ask `A: Clone`, and only the reference is copied.
impl<A> Clone for EnvelopeVisitor<'_, A> {
    fn clone(&self) -> Self {
        Self {
            decoder: self.decoder,
        }
    }
}

impl<'de, A: ArgsDecoder> DeserializeSeed<'de> for EnvelopeVisitor<'_, A> {
    type Value = Decoded<'de, A>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de, A: ArgsDecoder> Visitor<'de> for EnvelopeVisitor<'_, A> {
    type Value = Decoded<'de, A>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON-RPC request object")
    }

    fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
        let (mut jsonrpc, mut id, mut method, mut params) = (None, None, None, None);
        while let Some(key) = map.next_key::<EnvelopeField>()? {
            match key {
                EnvelopeField::Jsonrpc => {
                    set_once(&mut jsonrpc, map.next_value::<Text>()?, "jsonrpc")?
                }
                EnvelopeField::Id => set_once(&mut id, map.next_value::<RequestId>()?, "id")?,
                EnvelopeField::Method => {
                    set_once(&mut method, map.next_value::<Text>()?, "method")?
                }
                EnvelopeField::Params => {
                    let seed = ParamsSeed {
                        decoder: self.decoder,
                    };
                    set_once(&mut params, map.next_value_seed(seed)?, "params")?
                }
                EnvelopeField::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        let wanted = jsonrpc.is_some_and(|v| v.0 == JSONRPC_VERSION)
            && method.is_some_and(|m| m.0 == methods::TOOLS_CALL);
        let (Some(id), Some(Some((name, args)))) = (id, params) else {
            return Ok(None);
        };
        Ok((wanted && name.0 == INVOKE_HOOK).then(|| args.into_call(id)))
    }
}

struct ParamsSeed<'d, A> {
    decoder: &'d A,
}

/// The tool name and the arguments; `None` when either is missing.
type ParamsValue<'a, A> = Option<(Text<'a>, Args<'a, A>)>;

impl<'de, A: ArgsDecoder> DeserializeSeed<'de> for ParamsSeed<'_, A> {
    type Value = ParamsValue<'de, A>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de, A: ArgsDecoder> Visitor<'de> for ParamsSeed<'_, A> {
    type Value = ParamsValue<'de, A>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("tools/call params")
    }

    fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
        let (mut name, mut args) = (None, None);
        while let Some(key) = map.next_key::<ParamsField>()? {
            match key {
                ParamsField::Name => set_once(&mut name, map.next_value::<Text>()?, "name")?,
                ParamsField::Arguments => {
                    let seed = ArgsSeed {
                        decoder: self.decoder,
                    };
                    set_once(&mut args, map.next_value_seed(seed)?, "arguments")?
                }
                ParamsField::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(name.zip(args.flatten()))
    }
}

/// The decoded `invoke_hook` arguments.
struct Args<'a, A: ArgsDecoder> {
    hook_type: Cow<'a, str>,
    plugin_name: Cow<'a, str>,
    payload: A::Payload,
    context: A::Context,
}

impl<'a, A: ArgsDecoder> Args<'a, A> {
    fn into_call(self, id: RequestId) -> DecodedInvokeHookCall<'a, A::Payload, A::Context> {
        DecodedInvokeHookCall {
            id,
            hook_type: self.hook_type,
            plugin_name: self.plugin_name,
            payload: self.payload,
            context: self.context,
        }
    }
}

struct ArgsSeed<'d, A> {
    decoder: &'d A,
}

impl<'de, A: ArgsDecoder> DeserializeSeed<'de> for ArgsSeed<'_, A> {
    type Value = Option<Args<'de, A>>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de, A: ArgsDecoder> Visitor<'de> for ArgsSeed<'_, A> {
    type Value = Option<Args<'de, A>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("invoke_hook arguments")
    }

    fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
        let (mut hook_type, mut plugin_name) = (None::<Text<'de>>, None);
        let (mut payload, mut context) = (None, None);
        while let Some(key) = map.next_key::<ArgsField>()? {
            match key {
                ArgsField::HookType => set_once(&mut hook_type, map.next_value()?, "hook_type")?,
                ArgsField::PluginName => {
                    set_once(&mut plugin_name, map.next_value::<Text>()?, "plugin_name")?
                }
                ArgsField::Payload => {
                    let Some(hook) = hook_type.as_ref() else {
                        return Err(de::Error::custom("payload before hook_type"));
                    };
                    let seed = PayloadSeed {
                        decoder: self.decoder,
                        hook: &hook.0,
                    };
                    set_once(&mut payload, map.next_value_seed(seed)?, "payload")?
                }
                ArgsField::Context => {
                    let seed = ContextSeed {
                        decoder: self.decoder,
                    };
                    set_once(&mut context, map.next_value_seed(seed)?, "context")?
                }
                ArgsField::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(match (hook_type, plugin_name, payload, context) {
            (Some(h), Some(p), Some(payload), Some(context)) => Some(Args {
                hook_type: h.0,
                plugin_name: p.0,
                payload,
                context,
            }),
            _ => None,
        })
    }
}

struct PayloadSeed<'d, A> {
    decoder: &'d A,
    hook: &'d str,
}

impl<'de, A: ArgsDecoder> DeserializeSeed<'de> for PayloadSeed<'_, A> {
    type Value = A::Payload;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<A::Payload, D::Error> {
        self.decoder.payload(self.hook, ObjectOnly(d, PhantomData))
    }
}

struct ContextSeed<'d, A> {
    decoder: &'d A,
}

impl<'de, A: ArgsDecoder> DeserializeSeed<'de> for ContextSeed<'_, A> {
    type Value = A::Context;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<A::Context, D::Error> {
        self.decoder.context(ObjectOnly(d, PhantomData))
    }
}

/// A deserializer that yields only a JSON object, whatever the type asks for: serde's derived
/// structs also accept an array (their fields in order), which the two-pass path refuses as a
/// payload or context.
struct ObjectOnly<'de, D>(D, PhantomData<&'de ()>);

impl<'de, D: Deserializer<'de>> Deserializer<'de> for ObjectOnly<'de, D> {
    type Error = D::Error;

    fn deserialize_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value, D::Error> {
        self.0.deserialize_map(v)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map struct enum
        identifier ignored_any
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Map, Value};

    /// Decodes both as JSON objects, and refuses hooks named `unknown`.
    struct Maps;

    impl ArgsDecoder for Maps {
        type Payload = Map<String, Value>;
        type Context = Map<String, Value>;

        fn payload<'de, D: Deserializer<'de>>(
            &self,
            hook_type: &str,
            d: D,
        ) -> Result<Self::Payload, D::Error> {
            if hook_type == "unknown" {
                return Err(de::Error::custom("unknown hook"));
            }
            Map::deserialize(d)
        }

        fn context<'de, D: Deserializer<'de>>(&self, d: D) -> Result<Self::Context, D::Error> {
            Map::deserialize(d)
        }
    }

    /// A struct, which serde would also read from an array.
    #[derive(Debug, Deserialize, PartialEq)]
    struct Pair {
        a: u8,
        b: u8,
    }

    struct Pairs;

    impl ArgsDecoder for Pairs {
        type Payload = Pair;
        type Context = Pair;

        fn payload<'de, D: Deserializer<'de>>(&self, _: &str, d: D) -> Result<Pair, D::Error> {
            Pair::deserialize(d)
        }

        fn context<'de, D: Deserializer<'de>>(&self, d: D) -> Result<Pair, D::Error> {
            Pair::deserialize(d)
        }
    }

    fn call(id: Value) -> Value {
        json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {
            "name": "invoke_hook", "_meta": {"progressToken": 3},
            "arguments": {"hook_type": "tool_pre_invoke", "plugin_name": "P\u{e9}",
                "payload": {"name": "t", "args": {"q": "a \"quoted\" \u{e9}"}},
                "context": {"global_context": {"request_id": "r"}}, "extra": [1]}}})
    }

    fn body(v: &Value) -> Vec<u8> {
        serde_json::to_vec(v).unwrap()
    }

    #[test]
    fn decodes_what_the_two_pass_parse_reads() {
        for id in [json!(0), json!(7), json!("abc"), json!(1.5)] {
            let b = body(&call(id));
            let two = InvokeHookCall::parse(&b).expect("two-pass");
            let one = InvokeHookCall::parse_decoded(&b, &Maps).expect("one read");
            assert_eq!(one.id, two.id);
            assert_eq!(one.hook_type, two.args.hook_type);
            assert_eq!(one.plugin_name, two.args.plugin_name);
            let raw = two.args.to_args().unwrap();
            assert_eq!(one.payload, raw.payload);
            assert_eq!(one.context, raw.context);
            // Names without escapes are borrowed from the body.
            assert!(matches!(one.plugin_name, Cow::Borrowed(_)));
        }
    }

    #[test]
    fn leaves_to_the_two_pass_path_what_it_does_not_take() {
        let mut cases = vec![json!([call(json!(1))])];
        let edits: Vec<fn(&mut Value)> = vec![
            |v| v["id"] = json!(null),
            |v| v["jsonrpc"] = json!("1.0"),
            |v| v["method"] = json!("tools/list"),
            |v| v["params"]["name"] = json!("get_plugin_config"),
            |v| v["params"]["arguments"]["payload"] = json!([1]),
            |v| v["params"]["arguments"]["context"] = json!(null),
            |v| v["params"]["arguments"]["plugin_name"] = json!(5),
            |v| v["params"]["arguments"]["hook_type"] = json!("unknown"),
            |v| {
                v["params"]["arguments"]
                    .as_object_mut()
                    .unwrap()
                    .remove("context");
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
        // `payload` before `hook_type`: the hook is not known when the payload comes.
        let args = &call(json!(1))["params"]["arguments"];
        let mut reordered = Map::new();
        for k in ["payload", "hook_type", "plugin_name", "context"] {
            reordered.insert(k.into(), args[k].clone());
        }
        let mut v = call(json!(1));
        v["params"]["arguments"] = Value::Object(reordered);
        assert!(
            InvokeHookCall::parse(&body(&v)).is_some(),
            "two-pass takes it"
        );
        cases.push(v);
        for v in cases {
            assert!(
                InvokeHookCall::parse_decoded(&body(&v), &Maps).is_none(),
                "{v}"
            );
        }
        let dups = [
            r#"{"jsonrpc":"2.0","id":1,"id":2,"method":"tools/call","params":{"name":"invoke_hook","arguments":{"hook_type":"h","plugin_name":"p","payload":{},"context":{}}}}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"invoke_hook","arguments":{"hook_type":"h","plugin_name":"p","payload":{},"payload":{},"context":{}}}}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"invoke_hook","arguments":{"hook_type":"h","plugin_name":"p","payload":{},"context":{}}}} x"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"invoke_hook","arguments":{"hook_type":"h","plugin_name":"p","payload":{"a":"\ud800"},"context":{}}}}"#,
            // A number out of range where serde_json skips it (an ignored member).
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"invoke_hook","_meta":{"x":1e999},"arguments":{"hook_type":"h","plugin_name":"p","payload":{},"context":{}}}}"#,
        ];
        for b in dups {
            assert!(
                InvokeHookCall::parse_decoded(b.as_bytes(), &Maps).is_none(),
                "{b}"
            );
        }
    }

    /// A `\uD800`..`\uDFFF` escape outside a high+low pair makes the body something the
    /// generic path refuses, wherever it is: both fast parses leave such a body to that path.
    /// (Each string either fast path keeps is decoded by our reader or by serde_json, which
    /// refuse a lone surrogate, and what serde_json would only skip is first held to the generic
    /// path's rules: `plugwire_json::read_seed`. First found by fuzzing: the fast path answered
    /// a body the generic path refuses with 400.)
    #[test]
    fn lone_surrogates_anywhere_go_down_the_generic_path() {
        let template = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"invoke_hook","_meta":{"m":"META","SKIPPED":1},"arguments":{"hook_type":"tool_pre_invoke","plugin_name":"P","payload":{"name":"t","args":{"q":"PAYLOAD","KEY":1}},"context":{"global_context":{"request_id":"CONTEXT"}},"extra":["EXTRA"]}}}"#;
        // Values and keys, read or skipped (the last two kinds found by the request fuzzer).
        let places = ["META", "PAYLOAD", "KEY", "CONTEXT", "EXTRA", "SKIPPED"];
        let lone = [
            r#"\ud800"#,
            r#"\udc00"#,
            r#"x\ud83d\u0041"#,
            r#"\ud83d x \ude00"#,
            r#"\n\t\\ \"\ud800"#,
            r#"\\\ud800"#,
        ];
        let fine = [
            r#"\ud83d\ude00 \u00e9"#,
            r#"\\ud800 \\\\udc00"#,
            r#"\u0041"#,
        ];
        for place in places {
            for (text, refused) in lone
                .iter()
                .map(|t| (t, true))
                .chain(fine.iter().map(|t| (t, false)))
            {
                let body = template.replace(place, text);
                let generic = serde_json::from_str::<Value>(&body);
                assert_eq!(generic.is_err(), refused, "{body}");
                let two = InvokeHookCall::parse(body.as_bytes());
                let one = InvokeHookCall::parse_decoded(body.as_bytes(), &Maps);
                assert_eq!(two.is_none(), refused, "two-pass: {body}");
                assert_eq!(one.is_none(), refused, "one read: {body}");
            }
        }
    }

    #[test]
    fn payload_and_context_must_be_objects_even_for_structs() {
        let with = |payload: Value, context: Value| {
            let mut v = call(json!(1));
            v["params"]["arguments"]["payload"] = payload;
            v["params"]["arguments"]["context"] = context;
            body(&v)
        };
        let ok = with(json!({"a": 1, "b": 2}), json!({"b": 4, "a": 3}));
        let one = InvokeHookCall::parse_decoded(&ok, &Pairs).expect("objects");
        assert_eq!(
            (one.payload, one.context),
            (Pair { a: 1, b: 2 }, Pair { a: 3, b: 4 })
        );
        let arrays = with(json!([1, 2]), json!({"a": 3, "b": 4}));
        assert!(InvokeHookCall::parse_decoded(&arrays, &Pairs).is_none());
        let arrays = with(json!({"a": 1, "b": 2}), json!([3, 4]));
        assert!(InvokeHookCall::parse_decoded(&arrays, &Pairs).is_none());
    }
}
