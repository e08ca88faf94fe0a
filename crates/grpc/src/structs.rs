//! `google.protobuf.Struct` ⇄ `serde_json::Value`.
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

use prost_types::{value::Kind, ListValue, Struct, Value as PbValue};
use serde_json::{Map, Number, Value};

/// 2^53: every integer of at most this magnitude is exact in a double.
pub const MAX_EXACT_INTEGER: f64 = 9_007_199_254_740_992.0;

/// A JSON object as a `Struct`.
pub fn to_struct(map: &Map<String, Value>) -> Struct {
    Struct {
        fields: map
            .iter()
            .map(|(k, v)| (k.clone(), to_pb_value(v)))
            .collect(),
    }
}

/// One JSON value as a protobuf `Value`. Numbers become doubles (that is all a `Struct` holds).
pub fn to_pb_value(v: &Value) -> PbValue {
    let kind = match v {
        Value::Null => Kind::NullValue(0),
        Value::Bool(b) => Kind::BoolValue(*b),
        Value::Number(n) => Kind::NumberValue(n.as_f64().unwrap_or(f64::NAN)),
        Value::String(s) => Kind::StringValue(s.clone()),
        Value::Array(a) => Kind::ListValue(ListValue {
            values: a.iter().map(to_pb_value).collect(),
        }),
        Value::Object(m) => Kind::StructValue(to_struct(m)),
    };
    PbValue { kind: Some(kind) }
}

/// A `Struct` as a JSON object (keys in the map's order, which is sorted: a protobuf map has
/// no order of its own).
pub fn from_struct(s: &Struct) -> Map<String, Value> {
    s.fields
        .iter()
        .map(|(k, v)| (k.clone(), from_pb_value(v)))
        .collect()
}

/// An optional `Struct` as a JSON object; absent is empty.
pub fn from_opt_struct(s: Option<&Struct>) -> Map<String, Value> {
    s.map(from_struct).unwrap_or_default()
}

/// One protobuf `Value` as JSON. An unset kind is `null`, as in the Python runtime.
pub fn from_pb_value(v: &PbValue) -> Value {
    match &v.kind {
        None | Some(Kind::NullValue(_)) => Value::Null,
        Some(Kind::BoolValue(b)) => Value::Bool(*b),
        Some(Kind::NumberValue(f)) => number(*f),
        Some(Kind::StringValue(s)) => Value::String(s.clone()),
        Some(Kind::ListValue(l)) => Value::Array(l.values.iter().map(from_pb_value).collect()),
        Some(Kind::StructValue(s)) => Value::Object(from_struct(s)),
    }
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
    use serde_json::json;

    fn round_trip(v: Value) -> Value {
        from_pb_value(&to_pb_value(&v))
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
    }

    #[test]
    fn unset_kind_is_null() {
        assert_eq!(from_pb_value(&PbValue { kind: None }), Value::Null);
    }
}
