//! `PluginResult` (6 keys) and `PluginViolation` (7 keys), the 1.0.0 shapes.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::serde_util::{null_as_default, null_as_true, some_empty_map};
use crate::{HookPayload, HookType, JsonMap, PayloadError};

/// Why a plugin blocked. `plugin_name` is kept in memory (the manager fills it in) and never serialized,
/// exactly like the Python private attribute.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PluginViolation {
    pub reason: String,
    pub description: String,
    pub code: String,
    #[serde(default = "some_empty_map")]
    pub details: Option<JsonMap>,
    #[serde(default)]
    pub mcp_error_code: Option<i64>,
    #[serde(default)]
    pub http_status_code: Option<i64>,
    #[serde(default)]
    pub http_headers: Option<BTreeMap<String, String>>,
    #[serde(skip)]
    pub plugin_name: Option<String>,
}

impl PluginViolation {
    /// A violation with `details: {}` and everything else unset.
    pub fn new(
        reason: impl Into<String>,
        description: impl Into<String>,
        code: impl Into<String>,
    ) -> Self {
        PluginViolation {
            reason: reason.into(),
            description: description.into(),
            code: code.into(),
            details: Some(JsonMap::new()),
            mcp_error_code: None,
            http_status_code: None,
            http_headers: None,
            plugin_name: None,
        }
    }

    /// Builder: set `details`.
    pub fn with_details(mut self, details: JsonMap) -> Self {
        self.details = Some(details);
        self
    }

    /// The 7-key JSON object with explicit nulls.
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    pub fn from_json(v: Value) -> Result<Self, PayloadError> {
        serde_json::from_value(v).map_err(|e| PayloadError::new("PluginViolation", e))
    }
}

/// What a plugin (or a whole chain) decided.
#[derive(Debug, Clone, PartialEq)]
pub struct PluginResult {
    pub continue_processing: bool,
    pub modified_payload: Option<HookPayload>,
    pub violation: Option<PluginViolation>,
    /// `None` is legal and is what Python sends on an enforce block from a single-plugin call.
    pub metadata: Option<JsonMap>,
    pub http_headers: Option<BTreeMap<String, String>>,
    pub retry_delay_ms: u64,
}

impl Default for PluginResult {
    fn default() -> Self {
        Self::pass()
    }
}

/// Wire helper: the raw result with `modified_payload` still untyped.
#[derive(Deserialize)]
struct RawResult {
    #[serde(
        default = "crate::serde_util::default_true",
        deserialize_with = "null_as_true"
    )]
    continue_processing: bool,
    #[serde(default)]
    modified_payload: Option<Value>,
    #[serde(default)]
    violation: Option<PluginViolation>,
    #[serde(default = "some_empty_map")]
    metadata: Option<JsonMap>,
    #[serde(default)]
    http_headers: Option<BTreeMap<String, String>>,
    #[serde(default, deserialize_with = "null_as_default")]
    retry_delay_ms: u64,
}

impl PluginResult {
    /// Continue, nothing changed: `{true, null, null, {}, null, 0}`.
    pub fn pass() -> Self {
        PluginResult {
            continue_processing: true,
            modified_payload: None,
            violation: None,
            metadata: Some(JsonMap::new()),
            http_headers: None,
            retry_delay_ms: 0,
        }
    }

    /// Continue with a modified payload.
    pub fn modified(payload: impl Into<HookPayload>) -> Self {
        PluginResult {
            modified_payload: Some(payload.into()),
            ..Self::pass()
        }
    }

    /// Stop with a violation.
    pub fn block(violation: PluginViolation) -> Self {
        PluginResult {
            continue_processing: false,
            violation: Some(violation),
            ..Self::pass()
        }
    }

    /// Builder: insert one metadata key (creating the map if it was null).
    pub fn with_metadata(mut self, key: impl Into<String>, value: Value) -> Self {
        self.metadata
            .get_or_insert_with(JsonMap::new)
            .insert(key.into(), value);
        self
    }

    /// The 6-key JSON object, in the Python key order, explicit nulls (response form).
    pub fn to_json(&self) -> Value {
        // Strings, numbers, maps and `Value`s only: serialization cannot fail.
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// Decode a result of `hook` from the wire. Accepts the b896 4-key shape too (defaults).
    /// A `modified_payload` must be null or a complete payload of the hook's result type.
    pub fn from_json(hook: HookType, v: Value) -> Result<Self, PayloadError> {
        let raw: RawResult =
            serde_json::from_value(v).map_err(|e| PayloadError::new("PluginResult", e))?;
        let modified_payload = match raw.modified_payload {
            None | Some(Value::Null) => None,
            Some(p) => Some(HookPayload::result_from_json(hook, p).map_err(|e| {
                PayloadError::new("PluginResult", format!("modified_payload: {e}"))
            })?),
        };
        Ok(PluginResult {
            continue_processing: raw.continue_processing,
            modified_payload,
            violation: raw.violation,
            metadata: raw.metadata,
            http_headers: raw.http_headers,
            retry_delay_ms: raw.retry_delay_ms,
        })
    }
}

/// Serializes as [`PluginResult::to_json`] (6 keys in the Python order, explicit nulls), written
/// straight from the typed fields.
impl Serialize for PluginResult {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("PluginResult", 6)?;
        st.serialize_field("continue_processing", &self.continue_processing)?;
        st.serialize_field("modified_payload", &self.modified_payload)?;
        st.serialize_field("violation", &self.violation)?;
        st.serialize_field("metadata", &self.metadata)?;
        st.serialize_field("http_headers", &self.http_headers)?;
        st.serialize_field("retry_delay_ms", &self.retry_delay_ms)?;
        st.end()
    }
}
