//! `PluginResult` (the 6 keys of 1.0.0 plus the 3 of 1.1.0) and `PluginViolation` (7 keys).
//!
//! The three 1.1.0 keys (`modified_extensions`, `denial_metadata`, `executions`) are written only
//! when they carry something, so a result without them is byte-for-byte the 1.0.0 answer; a
//! 1.0.0 peer ignores them when present (pydantic ignores unknown keys) and a 1.1.0 peer fills
//! their defaults when absent. Decoding tolerates them absent and ignores unknown future keys.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::payloads_seeded::ModifiedPayloadSeed;
use crate::result_wire::{RawResult, RawResultSeed};
use crate::serde_util::some_empty_map;
use crate::{HookType, JsonMap, ModifiedPayload, PayloadError};

/// Why a plugin blocked. `plugin_name` is kept in memory (the manager fills it in) and never serialized,
/// exactly like the Python private attribute.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PluginViolation {
    /// Short reason.
    pub reason: String,
    /// Longer explanation.
    pub description: String,
    /// Machine-readable code (e.g. `DENY_LIST`).
    pub code: String,
    /// Extra details (free-form); `{}` by default, as Python.
    #[serde(default = "some_empty_map")]
    pub details: Option<JsonMap>,
    /// JSON-RPC error code the gateway answers the refusal with.
    #[serde(default)]
    pub mcp_error_code: Option<i64>,
    /// HTTP status the gateway answers the refusal with.
    #[serde(default)]
    pub http_status_code: Option<i64>,
    /// Headers the gateway adds to its refusal.
    #[serde(default)]
    pub http_headers: Option<BTreeMap<String, String>>,
    /// Filled in by the manager; never on the wire (a private attribute in Python).
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

    /// Decodes the 7-key wire object.
    pub fn from_json(v: Value) -> Result<Self, PayloadError> {
        serde_json::from_value(v).map_err(|e| PayloadError::new("PluginViolation", e))
    }
}

/// What a plugin (or a whole chain) decided.
#[derive(Debug, Clone, PartialEq)]
pub struct PluginResult {
    /// `false`: stop the chain (a block, with `violation`).
    pub continue_processing: bool,
    /// What the plugin changed: the hook's own payload type, or a cross-typed hook's result.
    pub modified_payload: Option<ModifiedPayload>,
    /// Why the plugin blocked.
    pub violation: Option<PluginViolation>,
    /// `None` is legal and is what Python sends on an enforce block from a single-plugin call.
    pub metadata: Option<JsonMap>,
    /// Headers the gateway adds to its answer.
    pub http_headers: Option<BTreeMap<String, String>>,
    /// Rate limiters: how long the client should wait before retrying.
    pub retry_delay_ms: u64,
    /// 1.1.0: extensions a plugin rewrote (kept as JSON; only in-process plugins set it).
    pub modified_extensions: Option<Value>,
    /// 1.1.0: opt-in denial telemetry of a blocking plugin.
    pub denial_metadata: Option<JsonMap>,
    /// 1.1.0: one record per plugin the gateway-side chain evaluated.
    pub executions: Vec<ExecutionRecord>,
}

/// What the gateway-side chain records for each plugin it evaluated (1.1.0 `executions`).
/// Disabled, condition-skipped and runtime-disabled plugins, and cancelled concurrent
/// siblings, get none.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ExecutionRecord {
    /// A per-process random id of the plugin (32 hex digits).
    pub plugin_id: String,
    /// The plugin's `name`.
    pub plugin_name: String,
    /// The plugin's `kind`.
    pub plugin_kind: String,
    /// The hook.
    pub hook_name: String,
    /// The 1.1.0 mode name (legacy names migrated).
    pub mode: String,
    /// `completed`, `error` or `timeout` (an ignored error is recorded `completed`).
    pub status: String,
    /// What the plugin asked for (`continue_processing`); null when it returned nothing.
    pub requested_allow: Option<bool>,
    /// Whether the chain went on after this plugin.
    pub effective_allow: bool,
    /// Null when the plugin has no conditions, else whether they matched.
    pub matched: Option<bool>,
    /// Whether anything of the plugin's result was used (a modification or a block).
    pub applied: bool,
    /// Whether the plugin returned a modified payload.
    pub payload_modified: bool,
    /// Whether the plugin rewrote the extensions.
    pub extensions_modified: bool,
    /// Wall time of the call; 0 for concurrent and fire_and_forget plugins.
    pub duration_ns: u64,
    /// Why it blocked or failed, if it did.
    pub reason: Option<String>,
    /// `plugin_timeout`, `plugin_error`, `plugin_violation` or the violation's code.
    pub error_code: Option<String>,
    /// Names (never values) of the plugin's `config:` keys, at most 64.
    pub config_keys: Vec<String>,
}

impl Default for ExecutionRecord {
    fn default() -> Self {
        ExecutionRecord {
            plugin_id: String::new(),
            plugin_name: String::new(),
            plugin_kind: String::new(),
            hook_name: String::new(),
            mode: String::new(),
            status: "completed".into(),
            requested_allow: None,
            effective_allow: true,
            matched: None,
            applied: false,
            payload_modified: false,
            extensions_modified: false,
            duration_ns: 0,
            reason: None,
            error_code: None,
            config_keys: Vec::new(),
        }
    }
}

impl Default for PluginResult {
    fn default() -> Self {
        Self::pass()
    }
}

/// Records that do not decode (a future shape) are dropped, never fatal: a gateway discards a
/// plugin's own records anyway.
fn lenient_records(v: Option<Value>) -> Vec<ExecutionRecord> {
    match v {
        Some(Value::Array(items)) => items
            .into_iter()
            .filter_map(|i| serde_json::from_value(i).ok())
            .collect(),
        _ => Vec::new(),
    }
}

impl PluginResult {
    /// Continue, nothing changed: `{true, null, null, {}, null, 0}`.
    pub fn pass() -> Self {
        RawResult::<ModifiedPayload>::absent().into_result(None)
    }

    /// Continue with a modified payload.
    pub fn modified(payload: impl Into<ModifiedPayload>) -> Self {
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
        let mut raw: RawResult<Value> =
            serde_json::from_value(v).map_err(|e| PayloadError::new("PluginResult", e))?;
        let modified_payload = match raw.modified_payload.take() {
            None | Some(Value::Null) => None,
            Some(p) => Some(ModifiedPayload::from_json(hook, p).map_err(modified_payload_error)?),
        };
        Ok(raw.into_result(modified_payload))
    }

    /// [`PluginResult::from_json`] from the JSON text, without a `Value` tree: the client's hot
    /// path. Accepts what `from_json` accepts (a duplicated key aside, which this refuses); the
    /// error messages differ (they name lines and columns), so a caller that reports errors
    /// decodes again with `from_json` on failure.
    pub fn from_json_str(hook: HookType, text: &str) -> Result<Self, PayloadError> {
        let raw: RawResult<&serde_json::value::RawValue> =
            serde_json::from_str(text).map_err(|e| PayloadError::new("PluginResult", e))?;
        Self::from_raw_text(hook, raw)
    }

    fn from_raw_text(
        hook: HookType,
        mut raw: RawResult<&serde_json::value::RawValue>,
    ) -> Result<Self, PayloadError> {
        // A `null` payload deserializes as `None` already.
        let modified_payload = match raw.modified_payload.take() {
            None => None,
            Some(p) => Some(
                ModifiedPayload::from_json_str(hook, p.get()).map_err(modified_payload_error)?,
            ),
        };
        Ok(raw.into_result(modified_payload))
    }
}

/// [`PluginResult::from_json_str`] as a step of a larger decode: a result of `hook` read where
/// it sits in an enclosing document (the client's answer text), its `modified_payload` decoded
/// in place as the hook's payload (`result_wire`), so no part of the document is scanned
/// twice. Accepts what `from_json_str` accepts, except a member repeated inside the modified
/// payload, which this refuses (the client's generic path then decides).
#[derive(Debug, Clone, Copy)]
pub struct ResultSeed(pub HookType);

impl<'de> serde::de::DeserializeSeed<'de> for ResultSeed {
    type Value = PluginResult;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<PluginResult, D::Error> {
        let mut raw = RawResultSeed(ModifiedPayloadSeed(self.0)).deserialize(d)?;
        let modified_payload = raw.modified_payload.take();
        Ok(raw.into_result(modified_payload))
    }
}

fn modified_payload_error(e: PayloadError) -> PayloadError {
    PayloadError::new("PluginResult", format!("modified_payload: {e}"))
}

impl<P> RawResult<P> {
    fn into_result(self, modified_payload: Option<ModifiedPayload>) -> PluginResult {
        PluginResult {
            continue_processing: self.continue_processing,
            modified_payload,
            violation: self.violation,
            metadata: self.metadata,
            http_headers: self.http_headers,
            retry_delay_ms: self.retry_delay_ms,
            modified_extensions: self.modified_extensions.filter(|v| !v.is_null()),
            // A non-object denial_metadata is not something a gateway can use; drop it.
            denial_metadata: match self.denial_metadata {
                Some(Value::Object(m)) => Some(m),
                _ => None,
            },
            executions: lenient_records(self.executions),
        }
    }
}

/// Serializes as [`PluginResult::to_json`]: the 6 keys of 1.0.0 with explicit nulls, and each of
/// the 3 keys of 1.1.0 only when it carries something, all in cpex's key order.
impl Serialize for PluginResult {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut st = s.serialize_map(None)?;
        st.serialize_entry("continue_processing", &self.continue_processing)?;
        st.serialize_entry("modified_payload", &self.modified_payload)?;
        if let Some(x) = &self.modified_extensions {
            st.serialize_entry("modified_extensions", x)?;
        }
        st.serialize_entry("violation", &self.violation)?;
        st.serialize_entry("metadata", &self.metadata)?;
        if let Some(d) = &self.denial_metadata {
            st.serialize_entry("denial_metadata", d)?;
        }
        st.serialize_entry("http_headers", &self.http_headers)?;
        st.serialize_entry("retry_delay_ms", &self.retry_delay_ms)?;
        if !self.executions.is_empty() {
            st.serialize_entry("executions", &self.executions)?;
        }
        st.end()
    }
}
