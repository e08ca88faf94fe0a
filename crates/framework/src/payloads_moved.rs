//! The hot hook's payload decoded from a decoded JSON object by move.
//!
//! `serde_json::from_value` rebuilds every map it deserializes, even into a field that is
//! itself a JSON map: each key is inserted (and hashed) again and each nested value rebuilt
//! (profiled: an eighth of a raw-socket call, for the benchmark's ~1 KiB `tool_pre_invoke`
//! payload). A payload whose members already have the field types is taken apart here
//! instead, moving the maps; any other shape goes to serde as before, so what is accepted and
//! every error message stay serde's (`moved_matches_serde` holds the two together).

use serde_json::Value;

use crate::payloads::{HttpHeaderPayload, ToolPreInvokePayload};
use crate::JsonMap;

impl ToolPreInvokePayload {
    /// The payload from `v` by move when its shape is the plain one (`name` a string; `args`
    /// an object, null or absent; `headers` an object of strings, null or absent; other
    /// members ignored, as serde ignores them); otherwise `v` back, untouched.
    pub(crate) fn from_value_moved(v: Value) -> Result<Self, Value> {
        let Value::Object(m) = v else {
            return Err(v);
        };
        // Keys are compared while walking the map, not looked up: each lookup hashes its key
        // (SipHash), and a lookup and a removal for each of the three members was most of this
        // function (profiled). A map has no repeated key, so one walk sees each member once.
        let mut has_name = false;
        for (k, v) in &m {
            let fits = match k.as_str() {
                "name" => {
                    has_name = v.is_string();
                    has_name
                }
                "args" => matches!(v, Value::Object(_) | Value::Null),
                "headers" => match v {
                    Value::Null => true,
                    Value::Object(h) => h.values().all(Value::is_string),
                    _ => false,
                },
                _ => true,
            };
            if !fits {
                return Err(Value::Object(m));
            }
        }
        if !has_name {
            return Err(Value::Object(m));
        }
        let mut payload = ToolPreInvokePayload {
            name: String::new(),
            args: Some(JsonMap::new()),
            headers: None,
        };
        for (k, v) in m {
            match (k.as_str(), v) {
                ("name", Value::String(s)) => payload.name = s,
                ("args", Value::Object(a)) => payload.args = Some(a),
                ("args", _) => payload.args = None,
                ("headers", Value::Object(h)) => {
                    payload.headers = Some(
                        h.into_iter()
                            .filter_map(|(k, v)| match v {
                                Value::String(s) => Some((k, s)),
                                _ => None,
                            })
                            .collect::<HttpHeaderPayload>(),
                    )
                }
                _ => {}
            }
        }
        Ok(payload)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn moved_matches_serde() {
        let cases = [
            json!({"name": "t", "args": {"a": {"b": [1, "x", null]}, "n": 2.5}, "headers": {"x": "y"}}),
            json!({"name": "t"}),
            json!({"name": "t", "args": null, "headers": null, "extra": [1]}),
            json!({"name": "", "args": {}, "headers": {}}),
            // Members in any order, with others between them.
            json!({"headers": {"b": "2", "a": "1"}, "x": 1, "args": {"k": [true]}, "name": "t"}),
            json!({"extra": {"name": 3}, "name": "t", "args": null}),
            // Not the plain shape: serde decides (and words the errors).
            json!({"name": 3}),
            json!({"args": {}}),
            json!({"name": "t", "args": [1]}),
            json!({"name": "t", "headers": {"x": 1}}),
            json!({"name": "t", "headers": "x"}),
            json!({"args": {}, "headers": null, "name": null}),
            json!({"name": "t", "args": {}, "headers": {"x": "y", "z": null}}),
            json!([1]),
            json!(null),
        ];
        for v in cases {
            let serde = serde_json::from_value::<ToolPreInvokePayload>(v.clone());
            match ToolPreInvokePayload::from_value_moved(v.clone()) {
                Ok(moved) => assert_eq!(Ok(moved), serde.map_err(|e| e.to_string()), "{v}"),
                Err(back) => assert_eq!(back, v, "{v}: given back untouched"),
            }
        }
        // The plain shapes all take the moving path.
        assert!(ToolPreInvokePayload::from_value_moved(json!({"name": "t"})).is_ok());
        assert!(ToolPreInvokePayload::from_value_moved(json!({"name": 3})).is_err());
    }
}
