//! `google.protobuf.Struct` held as the JSON object it stands for.
//!
//! The generated messages use [`JsonStruct`] for every `Struct` field (prost `extern_path`), so
//! a request's payload is decoded from the wire straight into the `serde_json` form the backend
//! takes, and an answer encoded straight from it: no `prost_types::Struct` in between, whose
//! ordered maps of boxed values cost more than the rest of a raw-socket call (profiled: decode,
//! convert, convert back and encode were three quarters of the server's instructions per call).
//!
//! The wire format is `Struct`'s exactly (field numbers of `struct.proto`): `Struct { map<string,
//! Value> fields = 1 }`, `Value { oneof kind { NullValue null_value = 1; double number_value =
//! 2; string string_value = 3; bool bool_value = 4; Struct struct_value = 5; ListValue
//! list_value = 6 } }`, `ListValue { repeated Value values = 1 }`. Numbers follow the policy of
//! [`crate::structs`]; keys keep the order they came in (as over MCP, where the JSON text's
//! order is kept), a repeated key keeps its last value, and a `Value` with no kind set is
//! `null`, as in the Python runtime. Nesting is bounded by prost's recursion limit.

use prost::bytes::{Buf, BufMut};
use prost::encoding::{
    self, decode_varint, encode_key, encode_varint, encoded_len_varint, skip_field, DecodeContext,
    WireType,
};
use prost::{DecodeError, Message};
use serde_json::{Map, Value};

use crate::structs::number;

/// A `google.protobuf.Struct` message as a JSON object.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct JsonStruct(pub Map<String, Value>);

impl From<Map<String, Value>> for JsonStruct {
    fn from(m: Map<String, Value>) -> Self {
        JsonStruct(m)
    }
}

impl Message for JsonStruct {
    fn encode_raw(&self, buf: &mut impl BufMut) {
        encode_struct_body(&self.0, buf);
    }

    fn merge_field(
        &mut self,
        tag: u32,
        wire_type: WireType,
        buf: &mut impl Buf,
        ctx: DecodeContext,
    ) -> Result<(), DecodeError> {
        if tag == 1 && wire_type == WireType::LengthDelimited {
            // The whole entry in one chunk: read from the slice (see `json_struct_fast`); on
            // anything it does not take, prost decodes the same bytes below.
            if let Some((key, value, used)) = crate::json_struct_fast::entry_at(buf.chunk()) {
                buf.advance(used);
                self.0.insert(key, value);
                return Ok(());
            }
        }
        merge_entry(&mut self.0, tag, wire_type, buf, ctx)
    }

    fn encoded_len(&self) -> usize {
        struct_body_len(&self.0)
    }

    fn clear(&mut self) {
        self.0.clear();
    }
}

/// One field of a `Struct` decoded by prost: an entry inserted, anything else skipped.
fn merge_entry(
    map: &mut Map<String, Value>,
    tag: u32,
    wire_type: WireType,
    buf: &mut impl Buf,
    ctx: DecodeContext,
) -> Result<(), DecodeError> {
    if tag != 1 {
        return skip_field(wire_type, tag, buf, ctx);
    }
    let mut entry = Entry::default();
    encoding::message::merge(wire_type, &mut entry, buf, ctx)?;
    map.insert(entry.key, entry.value.0);
    Ok(())
}

/// A `Struct` nested in a `Value` that prost decodes: prost only, all the way down, so the
/// fast path never starts again below an entry it gave up (prost's recursion limit then
/// counts every level, as before).
#[derive(Debug, Default)]
pub(crate) struct ProstStruct(pub(crate) Map<String, Value>);

impl Message for ProstStruct {
    fn encode_raw(&self, buf: &mut impl BufMut) {
        encode_struct_body(&self.0, buf);
    }

    fn merge_field(
        &mut self,
        tag: u32,
        wire_type: WireType,
        buf: &mut impl Buf,
        ctx: DecodeContext,
    ) -> Result<(), DecodeError> {
        merge_entry(&mut self.0, tag, wire_type, buf, ctx)
    }

    fn encoded_len(&self) -> usize {
        struct_body_len(&self.0)
    }

    fn clear(&mut self) {
        self.0.clear();
    }
}

/// One map entry of `Struct.fields` (decode only: encoding writes straight from the map).
#[derive(Debug, Default)]
struct Entry {
    key: String,
    value: JsonValue,
}

impl Message for Entry {
    fn encode_raw(&self, buf: &mut impl BufMut) {
        encode_entry(&self.key, &self.value.0, buf);
    }

    fn merge_field(
        &mut self,
        tag: u32,
        wire_type: WireType,
        buf: &mut impl Buf,
        ctx: DecodeContext,
    ) -> Result<(), DecodeError> {
        match tag {
            1 => encoding::string::merge(wire_type, &mut self.key, buf, ctx),
            2 => encoding::message::merge(wire_type, &mut self.value, buf, ctx),
            _ => skip_field(wire_type, tag, buf, ctx),
        }
    }

    fn encoded_len(&self) -> usize {
        entry_body_len(&self.key, &self.value.0)
    }

    fn clear(&mut self) {
        self.key.clear();
        self.value.0 = Value::Null;
    }
}

/// A `google.protobuf.Value` message as a JSON value.
#[derive(Debug, Default)]
struct JsonValue(Value);

impl Message for JsonValue {
    fn encode_raw(&self, buf: &mut impl BufMut) {
        encode_value_body(&self.0, buf);
    }

    fn merge_field(
        &mut self,
        tag: u32,
        wire_type: WireType,
        buf: &mut impl Buf,
        ctx: DecodeContext,
    ) -> Result<(), DecodeError> {
        self.0 = match tag {
            1 => {
                encoding::check_wire_type(WireType::Varint, wire_type)?;
                decode_varint(buf)?;
                Value::Null
            }
            2 => {
                let mut f = 0.0;
                encoding::double::merge(wire_type, &mut f, buf, ctx)?;
                number(f)
            }
            3 => {
                let mut s = String::new();
                encoding::string::merge(wire_type, &mut s, buf, ctx)?;
                Value::String(s)
            }
            4 => {
                let mut b = false;
                encoding::bool::merge(wire_type, &mut b, buf, ctx)?;
                Value::Bool(b)
            }
            5 => {
                let mut s = ProstStruct::default();
                encoding::message::merge(wire_type, &mut s, buf, ctx)?;
                Value::Object(s.0)
            }
            6 => {
                let mut l = JsonList::default();
                encoding::message::merge(wire_type, &mut l, buf, ctx)?;
                Value::Array(l.0)
            }
            _ => return skip_field(wire_type, tag, buf, ctx),
        };
        Ok(())
    }

    fn encoded_len(&self) -> usize {
        value_body_len(&self.0)
    }

    fn clear(&mut self) {
        self.0 = Value::Null;
    }
}

/// A `google.protobuf.ListValue` message as a JSON array.
#[derive(Debug, Default)]
struct JsonList(Vec<Value>);

impl Message for JsonList {
    fn encode_raw(&self, buf: &mut impl BufMut) {
        encode_list_body(&self.0, buf);
    }

    fn merge_field(
        &mut self,
        tag: u32,
        wire_type: WireType,
        buf: &mut impl Buf,
        ctx: DecodeContext,
    ) -> Result<(), DecodeError> {
        if tag != 1 {
            return skip_field(wire_type, tag, buf, ctx);
        }
        let mut v = JsonValue::default();
        encoding::message::merge(wire_type, &mut v, buf, ctx)?;
        self.0.push(v.0);
        Ok(())
    }

    fn encoded_len(&self) -> usize {
        list_body_len(&self.0)
    }

    fn clear(&mut self) {
        self.0.clear();
    }
}

/// A length-delimited field: key, length, then the body.
fn delimited_len(tag: u32, body: usize) -> usize {
    encoding::key_len(tag) + encoded_len_varint(body as u64) + body
}

fn struct_body_len(m: &Map<String, Value>) -> usize {
    m.iter()
        .map(|(k, v)| delimited_len(1, entry_body_len(k, v)))
        .sum()
}

fn entry_body_len(key: &str, v: &Value) -> usize {
    delimited_len(1, key.len()) + delimited_len(2, value_body_len(v))
}

fn list_body_len(l: &[Value]) -> usize {
    l.iter().map(|v| delimited_len(1, value_body_len(v))).sum()
}

fn value_body_len(v: &Value) -> usize {
    match v {
        // Field 1 (enum, varint 0) or 4 (bool): key byte + one varint byte.
        Value::Null | Value::Bool(_) => 2,
        // Field 2, fixed64.
        Value::Number(_) => 9,
        Value::String(s) => delimited_len(3, s.len()),
        Value::Object(m) => delimited_len(5, struct_body_len(m)),
        Value::Array(l) => delimited_len(6, list_body_len(l)),
    }
}

fn encode_struct_body(m: &Map<String, Value>, buf: &mut impl BufMut) {
    for (k, v) in m {
        encode_key(1, WireType::LengthDelimited, buf);
        encode_varint(entry_body_len(k, v) as u64, buf);
        encode_entry(k, v, buf);
    }
}

fn encode_entry(key: &str, v: &Value, buf: &mut impl BufMut) {
    encode_key(1, WireType::LengthDelimited, buf);
    encode_varint(key.len() as u64, buf);
    buf.put_slice(key.as_bytes());
    encode_key(2, WireType::LengthDelimited, buf);
    encode_varint(value_body_len(v) as u64, buf);
    encode_value_body(v, buf);
}

fn encode_list_body(l: &[Value], buf: &mut impl BufMut) {
    for v in l {
        encode_key(1, WireType::LengthDelimited, buf);
        encode_varint(value_body_len(v) as u64, buf);
        encode_value_body(v, buf);
    }
}

fn encode_value_body(v: &Value, buf: &mut impl BufMut) {
    match v {
        Value::Null => {
            encode_key(1, WireType::Varint, buf);
            encode_varint(0, buf);
        }
        Value::Bool(b) => {
            encode_key(4, WireType::Varint, buf);
            encode_varint(u64::from(*b), buf);
        }
        Value::Number(n) => {
            encode_key(2, WireType::SixtyFourBit, buf);
            buf.put_f64_le(n.as_f64().unwrap_or(f64::NAN));
        }
        Value::String(s) => {
            encode_key(3, WireType::LengthDelimited, buf);
            encode_varint(s.len() as u64, buf);
            buf.put_slice(s.as_bytes());
        }
        Value::Object(m) => {
            encode_key(5, WireType::LengthDelimited, buf);
            encode_varint(struct_body_len(m) as u64, buf);
            encode_struct_body(m, buf);
        }
        Value::Array(l) => {
            encode_key(6, WireType::LengthDelimited, buf);
            encode_varint(list_body_len(l) as u64, buf);
            encode_list_body(l, buf);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::obj;
    use prost_types::{value::Kind, ListValue, Struct, Value as PbValue};
    use serde_json::json;

    fn sample() -> Map<String, Value> {
        obj(json!({
            "s": "text", "n": 3, "f": 2.5, "t": true, "z": null,
            "o": {"inner": [1, "x", null, false, {"deep": {}}], "empty": []},
            "": ""
        }))
    }

    /// The same object as prost's own `Struct`, built by hand (not through this module).
    fn reference(m: &Map<String, Value>) -> Struct {
        fn val(v: &Value) -> PbValue {
            let kind = match v {
                Value::Null => Kind::NullValue(0),
                Value::Bool(b) => Kind::BoolValue(*b),
                Value::Number(n) => Kind::NumberValue(n.as_f64().unwrap()),
                Value::String(s) => Kind::StringValue(s.clone()),
                Value::Array(a) => Kind::ListValue(ListValue {
                    values: a.iter().map(val).collect(),
                }),
                Value::Object(m) => Kind::StructValue(reference(m)),
            };
            PbValue { kind: Some(kind) }
        }
        Struct {
            fields: m.iter().map(|(k, v)| (k.clone(), val(v))).collect(),
        }
    }

    #[test]
    fn decodes_what_prost_types_encodes() {
        let m = sample();
        let bytes = reference(&m).encode_to_vec();
        let back = JsonStruct::decode(bytes.as_slice()).unwrap();
        assert_eq!(back.0, m);
        assert!(
            back.0["n"].is_i64(),
            "integral doubles read back as integers"
        );
    }

    #[test]
    fn prost_types_decodes_what_it_encodes() {
        let m = sample();
        let ours = JsonStruct(m.clone()).encode_to_vec();
        assert_eq!(ours.len(), JsonStruct(m.clone()).encoded_len());
        let theirs = Struct::decode(ours.as_slice()).unwrap();
        assert_eq!(theirs, reference(&m));
    }

    #[test]
    fn keys_keep_their_wire_order_and_the_last_repeat_wins() {
        let mut bytes = JsonStruct(obj(json!({"b": 1, "a": 2}))).encode_to_vec();
        bytes.extend(JsonStruct(obj(json!({"b": 3}))).encode_to_vec());
        let back = JsonStruct::decode(bytes.as_slice()).unwrap().0;
        assert_eq!(back.keys().collect::<Vec<_>>(), ["b", "a"]);
        assert_eq!(back["b"], json!(3));
    }

    #[test]
    fn unset_kind_is_null_and_garbage_is_an_error() {
        let s = Struct {
            fields: [("k".to_string(), PbValue { kind: None })].into(),
        };
        let back = JsonStruct::decode(s.encode_to_vec().as_slice()).unwrap();
        assert_eq!(back.0["k"], Value::Null);
        assert!(JsonStruct::decode(&[0x0a, 0x05, 0x0a][..]).is_err());
    }

    #[test]
    fn nesting_beyond_the_recursion_limit_is_refused() {
        let mut v = json!(1);
        for _ in 0..200 {
            v = json!({ "k": v });
        }
        let bytes = JsonStruct(obj(v)).encode_to_vec();
        assert!(JsonStruct::decode(bytes.as_slice()).is_err());
    }
}
