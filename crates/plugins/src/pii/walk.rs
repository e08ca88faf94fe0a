//! Recursive masking of JSON values: objects, arrays, strings, and JSON documents inside strings
//! (parsed, masked, re-serialized compactly as Python's `orjson.dumps` does).

use serde_json::Value;

use super::detect::{PiiDetector, PiiType};

/// How many levels of "JSON inside a string inside JSON" are parsed; deeper strings are scanned as
/// plain text (masks contain no quotes or backslashes, so the embedded JSON stays valid).
const MAX_JSON_IN_STRING_DEPTH: usize = 8;

/// What was found at one place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// Python-style path: `args.user.email`, `result.items[2]`, `args.payload(json).ssn`.
    pub path: String,
    /// Types found there.
    pub types: Vec<PiiType>,
    /// How many detections.
    pub count: usize,
}

/// Collects detections while masking a value tree.
pub struct Walker<'a> {
    det: &'a PiiDetector,
    /// Where something was found, in walk order.
    pub found: Vec<Found>,
}

impl<'a> Walker<'a> {
    /// A walker masking with `det`.
    pub fn new(det: &'a PiiDetector) -> Self {
        Walker {
            det,
            found: Vec::new(),
        }
    }

    /// Mask one string; `Some(new)` when something was masked.
    pub fn string(&mut self, s: &str, path: &str, json_depth: usize) -> Option<String> {
        let t = s.trim_start();
        if json_depth < MAX_JSON_IN_STRING_DEPTH && (t.starts_with('{') || t.starts_with('[')) {
            if let Ok(mut v) = serde_json::from_str::<Value>(s) {
                let inner = format!("{path}(json)");
                if self.value(&mut v, &inner, json_depth + 1) {
                    if let Ok(text) = serde_json::to_string(&v) {
                        return Some(text);
                    }
                }
                // Nothing in its strings: still scan the raw text, as Python does, so PII in
                // numbers or keys is not let through.
            }
        }
        let detections = self.det.detect(s);
        if detections.is_empty() {
            return None;
        }
        // Detector order, as Python's per-type dict.
        let mut types: Vec<PiiType> = detections.iter().map(|d| d.pii_type).collect();
        types.sort();
        types.dedup();
        self.found.push(Found {
            path: path.to_owned(),
            types,
            count: detections.len(),
        });
        Some(self.det.mask(s, &detections))
    }

    /// Mask a value tree in place; true when anything changed.
    pub fn value(&mut self, v: &mut Value, path: &str, json_depth: usize) -> bool {
        match v {
            Value::String(s) => match self.string(s, path, json_depth) {
                Some(new) => {
                    *s = new;
                    true
                }
                None => false,
            },
            Value::Array(items) => {
                let mut changed = false;
                for (i, item) in items.iter_mut().enumerate() {
                    if matches!(item, Value::String(_) | Value::Array(_) | Value::Object(_)) {
                        changed |= self.value(item, &format!("{path}[{i}]"), json_depth);
                    }
                }
                changed
            }
            Value::Object(map) => {
                let mut changed = false;
                for (k, item) in map.iter_mut() {
                    if matches!(item, Value::String(_) | Value::Array(_) | Value::Object(_)) {
                        changed |= self.value(item, &format!("{path}.{k}"), json_depth);
                    }
                }
                changed
            }
            _ => false,
        }
    }

    /// Distinct types over everything found, in detector order.
    pub fn types(&self) -> Vec<PiiType> {
        let mut out: Vec<PiiType> = self
            .found
            .iter()
            .flat_map(|f| f.types.iter().copied())
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// Detections over all paths.
    pub fn total(&self) -> usize {
        self.found.iter().map(|f| f.count).sum()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::super::detect::Detectors;
    use super::*;
    use serde_json::json;

    #[test]
    fn nested_values_and_json_strings_are_masked() {
        let det = PiiDetector::new(&Detectors::default(), &[], &[], "[R]").unwrap();
        let mut w = Walker::new(&det);
        let mut v = json!({
            "user": {"email": "alice@example.com", "age": 42, "tags": ["ok", "ssn 123-45-6789"]},
            "payload": "{\"contact\": {\"mail\": \"bob@example.org\"}, \"n\": 1}",
            "plain": "nothing here",
            "none": null
        });
        assert!(w.value(&mut v, "args", 0));
        assert_eq!(v["user"]["email"], "a***e@example.com");
        assert_eq!(v["user"]["age"], 42);
        assert_eq!(v["user"]["tags"][1], "ssn ***-**-6789");
        assert_eq!(
            v["payload"],
            "{\"contact\":{\"mail\":\"b***b@example.org\"},\"n\":1}"
        );
        assert_eq!(v["none"], Value::Null);
        let paths: Vec<&str> = w.found.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "args.user.email",
                "args.user.tags[1]",
                "args.payload(json).contact.mail"
            ]
        );
        assert_eq!(w.types(), [PiiType::Ssn, PiiType::Email]);
        assert_eq!(w.total(), 3);
    }

    #[test]
    fn unchanged_json_strings_keep_their_formatting() {
        let det = PiiDetector::new(&Detectors::default(), &[], &[], "[R]").unwrap();
        let mut w = Walker::new(&det);
        let mut v = json!({
            "doc": "{ \"a\" : \"no pii\" }",
            "broken": "{not json 123-45-6789",
            "numbers": "[123456782, 7]",
        });
        assert!(w.value(&mut v, "args", 0));
        assert_eq!(v["doc"], "{ \"a\" : \"no pii\" }");
        assert_eq!(v["broken"], "{not json ***-**-6789");
        // PII in JSON numbers is caught by the raw-text scan (as in Python).
        assert_eq!(v["numbers"], "[*****6782, 7]");
    }
}
