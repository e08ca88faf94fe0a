//! `google.protobuf.Struct` ⇄ `serde_json::Value`: the number policy, and the conversions
//! between the generated messages' [`JsonStruct`] and JSON objects.
//!
//! Every number in a `Struct` is a double. Upstream's Python peers convert with
//! `json_format.ParseDict`/`MessageToDict`, so a payload's `count: 3` comes back as `3.0`, and
//! the same hook gives `3` over MCP but `3.0` over gRPC. plugwire normalises instead: a double
//! that is integral and within ±2^53 (where every integer is exact) is read back as an
//! integer. Why: the same hook must give the same result over MCP, gRPC and the raw socket, and
//! a plugin must see the same payload whichever transport carried it; the Python gateway
//! accepts integers wherever it accepts floats (pydantic `int` fields take them as they are,
//! free-form dicts keep them, and `3 == 3.0` in Python). The price: a float that happens to be
//! integral (`2.0`) comes back as `2`, which no JSON consumer can tell apart by value. Integers
//! beyond ±2^53 lose precision, as upstream (the encoding cannot carry them); NaN and
//! infinities cannot be JSON and come back as `null`.

use serde_json::{Map, Number, Value};

pub use crate::json_struct::JsonStruct;

/// 2^53: every integer of at most this magnitude is exact in a double.
pub const MAX_EXACT_INTEGER: f64 = 9_007_199_254_740_992.0;

/// A JSON object as a `Struct` (numbers become doubles on the wire).
pub fn to_struct(map: &Map<String, Value>) -> JsonStruct {
    JsonStruct(map.clone())
}

/// [`to_struct`] taking the object (no copy: the server's answer path).
pub fn into_struct(map: Map<String, Value>) -> JsonStruct {
    JsonStruct(map)
}

/// A `Struct` as a JSON object, keys in the order they came in on the wire.
pub fn from_struct(s: &JsonStruct) -> Map<String, Value> {
    s.0.clone()
}

/// [`from_struct`] taking the `Struct` (no copy: the server's request path).
pub fn from_struct_owned(s: JsonStruct) -> Map<String, Value> {
    s.0
}

/// An optional `Struct` as a JSON object; absent is empty.
pub fn from_opt_struct(s: Option<&JsonStruct>) -> Map<String, Value> {
    s.map(from_struct).unwrap_or_default()
}

/// The number policy of the module doc: integral doubles within ±2^53 become integers.
pub fn number(f: f64) -> Value {
    if !f.is_finite() {
        return Value::Null;
    }
    if f.fract() == 0.0 && f.abs() <= MAX_EXACT_INTEGER {
        // Exact: integral and within the range where f64 and i64 agree.
        #[allow(clippy::cast_possible_truncation)]
        return Value::Number(Number::from(f as i64));
    }
    Number::from_f64(f).map_or(Value::Null, Value::Number)
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;
    use serde_json::json;

    /// Through the wire: encoded as a `Struct` field, decoded back.
    fn round_trip(v: Value) -> Value {
        let mut m = Map::new();
        m.insert("v".into(), v);
        let bytes = to_struct(&m).encode_to_vec();
        let mut back = from_struct_owned(JsonStruct::decode(bytes.as_slice()).unwrap());
        back.remove("v").unwrap()
    }

    #[test]
    fn integral_doubles_come_back_as_integers() {
        assert_eq!(round_trip(json!(3)), json!(3));
        assert!(round_trip(json!(3)).is_i64());
        assert_eq!(round_trip(json!(-7)), json!(-7));
        assert_eq!(round_trip(json!(2.0)), json!(2));
        assert_eq!(round_trip(json!(2.5)), json!(2.5));
        assert_eq!(round_trip(json!(1e300)), json!(1e300));
        assert_eq!(
            round_trip(json!(9_007_199_254_740_992_i64)),
            json!(9_007_199_254_740_992_i64)
        );
        // Beyond 2^53 the double is kept as a float: the integer cannot be trusted.
        assert!(round_trip(json!(18_014_398_509_481_984_i64)).is_f64());
        assert_eq!(number(f64::NAN), Value::Null);
        assert_eq!(number(f64::INFINITY), Value::Null);
    }

    #[test]
    fn nested_values_survive() {
        let v = json!({"a": [1, "x", null, true, {"b": 0.25}], "c": {}, "d": []});
        assert_eq!(round_trip(v.clone()), v);
        let Value::Object(m) = v else { unreachable!() };
        assert_eq!(from_struct(&to_struct(&m)), m);
        assert_eq!(from_struct_owned(into_struct(m.clone())), m);
    }
}
