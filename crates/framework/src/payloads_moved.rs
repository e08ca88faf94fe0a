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
        let Value::Object(mut m) = v else {
            return Err(v);
        };
        let plain = matches!(m.get("name"), Some(Value::String(_)))
            && matches!(m.get("args"), None | Some(Value::Object(_) | Value::Null))
            && match m.get("headers") {
                None | Some(Value::Null) => true,
                Some(Value::Object(h)) => h.values().all(Value::is_string),
                Some(_) => false,
            };
        if !plain {
            return Err(Value::Object(m));
        }
        let name = match m.swap_remove("name") {
            Some(Value::String(s)) => s,
            _ => String::new(),
        };
        let args = match m.swap_remove("args") {
            None => Some(JsonMap::new()),
            Some(Value::Object(a)) => Some(a),
            Some(_) => None,
        };
        let headers = match m.swap_remove("headers") {
            Some(Value::Object(h)) => Some(
                h.into_iter()
                    .filter_map(|(k, v)| match v {
                        Value::String(s) => Some((k, s)),
                        _ => None,
                    })
                    .collect::<HttpHeaderPayload>(),
            ),
            _ => None,
        };
        Ok(ToolPreInvokePayload {
            name,
            args,
            headers,
        })
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
            // Not the plain shape: serde decides (and words the errors).
            json!({"name": 3}),
            json!({"args": {}}),
            json!({"name": "t", "args": [1]}),
            json!({"name": "t", "headers": {"x": 1}}),
            json!({"name": "t", "headers": "x"}),
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
