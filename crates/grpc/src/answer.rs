//! The server's `InvokeHookResponse` encoded straight from the typed result.
//!
//! The answer's `result` is the plugin's result as a `Struct`: written by
//! [`crate::struct_writer`] in one pass from the typed value, instead of serializing it into a
//! `serde_json::Value` tree and encoding that (the two passes were a third of a raw-socket
//! call's instructions). The bytes are the ones [`crate::convert::response_into_proto`] gives
//! for the same answer held as a value (`same_bytes_as_the_value_path` holds them together), so
//! a peer cannot tell which path answered.

use prost::bytes::{Buf, BufMut};
use prost::encoding::{self, skip_field, DecodeContext, WireType};
use prost::{DecodeError, Message};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::convert::{context_from_json, sanitize_denial_metadata};
use crate::pb::cpex as pb;
use crate::struct_writer::{put_str, write_struct_field, WriteError};

/// A message already encoded, sent as it is (a tonic codec's or a raw-socket frame's message).
/// Decoding one keeps nothing: it is only ever sent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Encoded(pub Vec<u8>);

impl Encoded {
    /// Any message, encoded now.
    pub fn of(msg: &impl Message) -> Self {
        Encoded(msg.encode_to_vec())
    }
}

impl Message for Encoded {
    fn encode_raw(&self, buf: &mut impl BufMut) {
        buf.put_slice(&self.0);
    }

    fn merge_field(
        &mut self,
        tag: u32,
        wire_type: WireType,
        buf: &mut impl Buf,
        ctx: DecodeContext,
    ) -> Result<(), DecodeError> {
        skip_field(wire_type, tag, buf, ctx)
    }

    fn encoded_len(&self) -> usize {
        self.0.len()
    }

    fn clear(&mut self) {
        self.0.clear();
    }
}

/// A success answer: `plugin_name`; `result`, the typed `result` written as a `Struct` except
/// its `denial_metadata` member, which travels typed and sanitized in `result_base` (as the
/// Python peers expect, see [`sanitize_denial_metadata`]); `context` when the plugin left one
/// (the JSON answer form of the context).
pub fn success<R: Serialize + ?Sized>(
    plugin_name: &str,
    result: &R,
    denial_metadata: Option<&Map<String, Value>>,
    context: Option<&Map<String, Value>>,
) -> Result<Encoded, WriteError> {
    let mut out = Vec::with_capacity(1024);
    // Fields in number order, as prost writes them.
    if !plugin_name.is_empty() {
        put_str(1, plugin_name, &mut out);
    }
    write_struct_field(2, result, Some("denial_metadata"), &mut out)?;
    if let Some(ctx) = context {
        encoding::message::encode(3, &context_from_json(ctx), &mut out);
    }
    if let Some(dm) = denial_metadata {
        let base = pb::PluginResultBase {
            denial_metadata: Some(sanitize_denial_metadata(dm)),
            ..Default::default()
        };
        encoding::message::encode(5, &base, &mut out);
    }
    Ok(Encoded(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::convert::response_into_proto;
    use crate::test_support::obj;
    use plugwire_mcp::InvokeHookResponse;
    use serde_json::json;

    #[test]
    fn same_bytes_as_the_value_path() {
        let dm = obj(json!({"hits": 3, "ratio": 0.5, "bad key!": 1, "ok": true}));
        let ctx = obj(json!({
            "state": {"seen": 1},
            "global_context": {"request_id": "r1", "user": "alice", "tenant_id": null,
                               "state": {"g": "x"}, "metadata": {}},
            "metadata": {},
        }));
        let result = json!({
            "continue_processing": false,
            "modified_payload": {"name": "t", "args": {"n": 3, "s": "é\n".repeat(100)}},
            "violation": null,
            "denial_metadata": dm,
            "retry_delay_ms": 0,
        });
        for (dm, ctx) in [(None, None), (Some(&dm), Some(&ctx))] {
            let mut result = result.clone();
            if dm.is_none() {
                result
                    .as_object_mut()
                    .unwrap()
                    .shift_remove("denial_metadata");
            }
            let ours = success("P", &result, dm, ctx).unwrap();
            let answer = InvokeHookResponse::success("P", result, ctx.cloned().map(Value::Object));
            let theirs = response_into_proto(answer);
            if dm.is_none() {
                assert_eq!(ours, Encoded::of(&theirs));
            }
            // The denial metadata is a proto map (a `HashMap`): its entries come in no fixed
            // order, so with it the messages are compared decoded.
            let decoded = pb::InvokeHookResponse::decode(ours.0.as_slice()).unwrap();
            assert_eq!(decoded, theirs);
        }
    }

    #[test]
    fn encoded_is_sent_as_it_is() {
        let msg = pb::GetPluginConfigRequest { name: "x".into() };
        let encoded = Encoded::of(&msg);
        assert_eq!(encoded.encode_to_vec(), msg.encode_to_vec());
        assert_eq!(encoded.encoded_len(), msg.encoded_len());
    }
}
