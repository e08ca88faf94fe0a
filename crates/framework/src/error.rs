//! Plugin errors: the wire model (`PluginErrorModel`) and the typed in-memory error (`PluginError`).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::serde_util::{some_empty_map, some_empty_string};
use crate::{HookType, JsonMap};

/// The JSON-RPC code Python uses for every plugin error (`PluginErrorModel.mcp_error_code` default).
pub const DEFAULT_MCP_ERROR_CODE: i64 = -32603;

/// `PluginErrorModel` of 1.0.0: what travels in `{"plugin_name", "error": ...}`.
/// Key order and defaults as the Python model (`code: ""`, `details: {}`, `mcp_error_code: -32603`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PluginErrorModel {
    /// Human-readable cause.
    pub message: String,
    /// The plugin that failed.
    pub plugin_name: String,
    /// Error code (free text).
    #[serde(default = "some_empty_string")]
    pub code: Option<String>,
    /// Extra details (free-form).
    #[serde(default = "some_empty_map")]
    pub details: Option<JsonMap>,
    #[serde(
        default = "default_error_code",
        deserialize_with = "null_as_default_error_code"
    )]
    /// JSON-RPC error code the gateway should answer with.
    pub mcp_error_code: i64,
}

fn default_error_code() -> i64 {
    DEFAULT_MCP_ERROR_CODE
}

/// A Python peer may send `mcp_error_code: null`; it means the default code, not a failed call.
/// Lives here rather than in `serde_util` so that module stays free of error-model knowledge
/// (and the two modules do not import each other).
fn null_as_default_error_code<'de, D: serde::Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    Ok(Option::<i64>::deserialize(d)?.unwrap_or(DEFAULT_MCP_ERROR_CODE))
}

impl PluginErrorModel {
    /// A model with the Python defaults (`code: ""`, `details: {}`, `-32603`).
    pub fn new(plugin_name: impl Into<String>, message: impl Into<String>) -> Self {
        PluginErrorModel {
            message: message.into(),
            plugin_name: plugin_name.into(),
            code: Some(String::new()),
            details: Some(JsonMap::new()),
            mcp_error_code: DEFAULT_MCP_ERROR_CODE,
        }
    }

    /// The 5-key JSON object, explicit nulls.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }

    /// Decode from the wire; missing or ill-typed required fields give a typed error.
    pub fn from_json(value: serde_json::Value) -> Result<Self, PayloadError> {
        serde_json::from_value(value).map_err(|e| PayloadError::new("PluginErrorModel", e))
    }
}

/// What went wrong when running a plugin. Callers match on this to decide between
/// "return an error" and "log and continue"; the wire form is always the `model`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PluginErrorKind {
    /// The plugin did not answer within the configured timeout.
    Timeout,
    /// The plugin panicked; the manager caught it.
    Panic,
    /// The plugin returned an error (or a remote plugin answered with an `error` object).
    Plugin,
    /// A payload or context did not decode as the hook's type.
    InvalidPayload,
    /// No plugin with that name is registered for that hook.
    UnknownPlugin,
    /// The hook name is not one of the known hooks.
    UnknownHook,
    /// Construction or `initialize()` failed.
    Initialization,
    /// A transport failure talking to an external plugin (client crate).
    Transport,
}

/// A plugin failure: a kind for control flow plus the wire model.
#[derive(Debug, Clone, PartialEq)]
pub struct PluginError {
    /// What kind of failure, for policy decisions (timeout vs. error).
    pub kind: PluginErrorKind,
    /// Boxed so `Result<T, PluginError>` stays small (clippy `result_large_err` in every crate).
    pub model: Box<PluginErrorModel>,
}

impl PluginError {
    /// An error with an explicit kind and message.
    pub fn new(
        kind: PluginErrorKind,
        plugin_name: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        PluginError {
            kind,
            model: Box::new(PluginErrorModel::new(plugin_name, message)),
        }
    }

    /// A plugin's own failure (what plugin authors return).
    pub fn plugin(plugin_name: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(PluginErrorKind::Plugin, plugin_name, message)
    }

    /// Wrap a model received from the wire (kind `Plugin`).
    pub fn from_model(model: PluginErrorModel) -> Self {
        PluginError {
            kind: PluginErrorKind::Plugin,
            model: Box::new(model),
        }
    }

    /// The Python timeout message: `Plugin X exceeded Ns timeout`.
    pub fn timeout(plugin_name: &str, timeout: std::time::Duration) -> Self {
        let secs = timeout.as_secs_f64();
        let shown = if secs.fract() == 0.0 {
            format!("{}", secs as u64)
        } else {
            format!("{secs}")
        };
        Self::new(
            PluginErrorKind::Timeout,
            plugin_name,
            format!("Plugin {plugin_name} exceeded {shown}s timeout"),
        )
    }

    /// A caught panic.
    pub fn panic(plugin_name: &str, detail: &str) -> Self {
        Self::new(
            PluginErrorKind::Panic,
            plugin_name,
            format!("Plugin {plugin_name} panicked: {detail}"),
        )
    }

    /// A payload/context that failed validation.
    pub fn invalid_payload(plugin_name: &str, err: &PayloadError) -> Self {
        Self::new(
            PluginErrorKind::InvalidPayload,
            plugin_name,
            err.to_string(),
        )
    }

    /// The exact Python text for an unknown plugin or a plugin without that hook (two spaces included).
    pub fn unknown_plugin(plugin_name: &str, hook: HookType) -> Self {
        Self::new(
            PluginErrorKind::UnknownPlugin,
            plugin_name,
            format!(
                "Unable to find {hook} for plugin {plugin_name}.  Make sure the plugin is registered."
            ),
        )
    }

    /// A hook string that is not one of the known hooks.
    pub fn unknown_hook(plugin_name: &str, hook: &str) -> Self {
        Self::new(
            PluginErrorKind::UnknownHook,
            plugin_name,
            format!(
                "Unknown hook type '{hook}'; the known hooks are: {}",
                HookType::known_list()
            ),
        )
    }

    /// What kind of failure, for policy decisions (timeout vs. error).
    pub fn kind(&self) -> PluginErrorKind {
        self.kind
    }

    /// Human-readable cause.
    pub fn message(&self) -> &str {
        &self.model.message
    }

    /// The plugin that failed.
    pub fn plugin_name(&self) -> &str {
        &self.model.plugin_name
    }

    /// Builder: set the error `code` string.
    pub fn with_code(mut self, code: impl Into<String>) -> Self {
        self.model.code = Some(code.into());
        self
    }

    /// Builder: set `details`.
    pub fn with_details(mut self, details: JsonMap) -> Self {
        self.model.details = Some(details);
        self
    }
}

impl fmt::Display for PluginError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.model.message)
    }
}

impl std::error::Error for PluginError {}

/// A payload, result or context from the wire that does not have the expected shape.
/// The message names the model and the serde reason (field name and expected type).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {model}: {message}")]
pub struct PayloadError {
    /// The model being decoded, e.g. `ToolPreInvokePayload` or `PluginContext`.
    pub model: String,
    /// What was wrong.
    pub message: String,
}

impl PayloadError {
    /// An error decoding `model`.
    pub fn new(model: impl Into<String>, err: impl fmt::Display) -> Self {
        PayloadError {
            model: model.into(),
            message: err.to_string(),
        }
    }
}
