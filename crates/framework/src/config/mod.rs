//! The plugins YAML (Python `models.py`): the same files ContextForge users already have.
//!
//! Types here are pure serde data. Loading, templating and validation live in `load.rs` and
//! `template.rs`; `ConfigError` in `error.rs`.

mod error;
mod load;
pub mod read;
mod template;

use std::collections::{BTreeSet, HashSet};
use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use crate::serde_util::{lax, null_as_default};
use crate::{HookType, JsonMap};

pub use error::ConfigError;
pub use load::{
    resolve_config_path, ConfigSide, DEFAULT_GATEWAY_CONFIG, DEFAULT_SERVER_CONFIG,
    PLUGINS_CONFIG_FILE, PLUGINS_CONFIG_PATH, PLUGINS_PLUGIN_TIMEOUT,
};
pub use template::render_template;

/// The `kind` of an entry served by a remote plugin server.
pub const EXTERNAL_KIND: &str = "external";

/// The whole file.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Config {
    #[serde(default, deserialize_with = "null_as_default")]
    pub plugins: Vec<PluginConfig>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub plugin_dirs: Vec<String>,
    /// Required by Python; plugwire defaults it (a file Python accepts still loads the same).
    #[serde(default, deserialize_with = "null_as_default")]
    pub plugin_settings: PluginSettings,
    #[serde(default)]
    pub server_settings: Option<MCPServerConfig>,
    /// Parsed and kept, not used (gRPC transport is not implemented).
    #[serde(default)]
    pub grpc_server_settings: Option<Value>,
    /// Parsed and kept, not used (raw unix-socket transport is not implemented).
    #[serde(default)]
    pub unix_socket_server_settings: Option<Value>,
    /// Where the config came from (a path, or `<string>`), for error messages.
    #[serde(skip)]
    pub source: Option<PathBuf>,
}

impl Config {
    /// The source for messages: the file path or `<string>`.
    pub fn source_name(&self) -> String {
        self.source
            .as_ref()
            .map_or_else(|| "<string>".to_owned(), |p| p.display().to_string())
    }

    /// Exact-name lookup.
    pub fn plugin(&self, name: &str) -> Option<&PluginConfig> {
        self.plugins.iter().find(|p| p.name == name)
    }

    /// Case-insensitive lookup, as the Python server's `get_plugin_config` does.
    pub fn plugin_ignore_case(&self, name: &str) -> Option<&PluginConfig> {
        let lower = name.to_lowercase();
        self.plugins.iter().find(|p| p.name.to_lowercase() == lower)
    }
}

/// `plugin_settings`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PluginSettings {
    /// Parsed and ignored, as in Python: execution is always sequential (decision 6).
    #[serde(default, deserialize_with = "lax::bool")]
    pub parallel_execution_within_band: bool,
    /// Per-plugin call timeout in seconds (honoured; `PLUGINS_PLUGIN_TIMEOUT` overrides).
    #[serde(default = "default_timeout", deserialize_with = "lax::i64")]
    pub plugin_timeout: i64,
    #[serde(default, deserialize_with = "lax::bool")]
    pub fail_on_plugin_error: bool,
    #[serde(default, deserialize_with = "lax::bool")]
    pub enable_plugin_api: bool,
    #[serde(default = "default_health_interval", deserialize_with = "lax::i64")]
    pub plugin_health_check_interval: i64,
    #[serde(default, deserialize_with = "lax::bool")]
    pub include_user_info: bool,
}

fn default_timeout() -> i64 {
    30
}

fn default_health_interval() -> i64 {
    60
}

impl Default for PluginSettings {
    fn default() -> Self {
        PluginSettings {
            parallel_execution_within_band: false,
            plugin_timeout: default_timeout(),
            fail_on_plugin_error: false,
            enable_plugin_api: false,
            plugin_health_check_interval: default_health_interval(),
            include_user_info: false,
        }
    }
}

/// `mode:` of an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PluginMode {
    /// Stop the chain on a violation and on an error.
    #[default]
    Enforce,
    /// Stop the chain on a violation; log errors and continue.
    EnforceIgnoreError,
    /// Log violations and errors; never stop.
    Permissive,
    /// Never loaded.
    Disabled,
}

impl PluginMode {
    pub const fn as_str(self) -> &'static str {
        match self {
            PluginMode::Enforce => "enforce",
            PluginMode::EnforceIgnoreError => "enforce_ignore_error",
            PluginMode::Permissive => "permissive",
            PluginMode::Disabled => "disabled",
        }
    }
}

impl fmt::Display for PluginMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One `plugins:` entry. Serializes in the Python key order with explicit nulls (what
/// `get_plugin_config` returns).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PluginConfig {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub author: Option<String>,
    pub kind: String,
    #[serde(default)]
    pub namespace: Option<String>,
    #[serde(default)]
    pub version: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub hooks: Vec<HookType>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub tags: Vec<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub mode: PluginMode,
    #[serde(default = "default_priority", deserialize_with = "lax::i64")]
    pub priority: i64,
    #[serde(default, deserialize_with = "null_as_default")]
    pub conditions: Vec<PluginCondition>,
    #[serde(default)]
    pub applied_to: Option<AppliedTo>,
    #[serde(default)]
    pub config: Option<JsonMap>,
    #[serde(default)]
    pub mcp: Option<MCPClientConfig>,
    /// Kept verbatim; plugwire does not implement the gRPC transport.
    #[serde(default)]
    pub grpc: Option<Value>,
    /// Kept verbatim; plugwire does not implement the raw unix-socket transport.
    #[serde(default)]
    pub unix_socket: Option<Value>,
    /// The keys present in the source (YAML entry or remote JSON): pydantic's "explicitly set"
    /// fields. The client merges a remote config under the locally set keys (protocol.md §4).
    #[serde(skip)]
    pub set_fields: BTreeSet<String>,
}

fn default_priority() -> i64 {
    100
}

impl PluginConfig {
    /// A minimal entry (mode enforce, priority 100), handy in tests and for programmatic configs.
    pub fn new(name: impl Into<String>, kind: impl Into<String>) -> Self {
        PluginConfig {
            name: name.into(),
            description: None,
            author: None,
            kind: kind.into(),
            namespace: None,
            version: None,
            hooks: Vec::new(),
            tags: Vec::new(),
            mode: PluginMode::Enforce,
            priority: default_priority(),
            conditions: Vec::new(),
            applied_to: None,
            config: None,
            mcp: None,
            grpc: None,
            unix_socket: None,
            set_fields: BTreeSet::new(),
        }
    }

    /// Was `key` present in the source? (pydantic `model_fields_set`)
    pub fn is_set(&self, key: &str) -> bool {
        self.set_fields.contains(key)
    }

    /// Decode an entry from JSON (e.g. a remote `get_plugin_config` answer), recording the keys present.
    pub fn from_json(value: Value) -> Result<Self, crate::PayloadError> {
        let keys: BTreeSet<String> = value
            .as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();
        let mut cfg: PluginConfig = serde_json::from_value(value)
            .map_err(|e| crate::PayloadError::new("PluginConfig", e))?;
        cfg.set_fields = keys;
        Ok(cfg)
    }

    /// The 16-key object of `get_plugin_config`, explicit nulls.
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// `config:` as a JSON object (empty when absent), for plugin constructors.
    pub fn config_value(&self) -> Value {
        Value::Object(self.config.clone().unwrap_or_default())
    }

    /// True for `kind: external`.
    pub fn is_external(&self) -> bool {
        self.kind == EXTERNAL_KIND
    }
}

/// A `conditions:` item. OR across items, AND within one (framework.md §3.8). Empty lists mean
/// "not specified". Set-valued fields serialize as arrays, or `null` when empty (finding 20).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct PluginCondition {
    #[serde(default, serialize_with = "ser_set")]
    pub server_ids: Option<BTreeSet<String>>,
    #[serde(default, serialize_with = "ser_set")]
    pub tenant_ids: Option<BTreeSet<String>>,
    #[serde(default, serialize_with = "ser_set")]
    pub tools: Option<BTreeSet<String>>,
    #[serde(default, serialize_with = "ser_set")]
    pub prompts: Option<BTreeSet<String>>,
    #[serde(default, serialize_with = "ser_set")]
    pub resources: Option<BTreeSet<String>>,
    #[serde(default, serialize_with = "ser_set")]
    pub agents: Option<BTreeSet<String>>,
    #[serde(default)]
    pub user_patterns: Option<Vec<String>>,
    /// Lower-cased with parameters stripped when decoded (`Application/JSON; charset=utf-8` → `application/json`).
    #[serde(default, deserialize_with = "de_content_types")]
    pub content_types: Option<Vec<String>>,
}

fn ser_set<S: Serializer>(v: &Option<BTreeSet<String>>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(set) if !set.is_empty() => set.serialize(s),
        _ => s.serialize_none(),
    }
}

/// Strip parameters and lower-case a media type, as Python does on both sides of the comparison.
pub fn normalize_content_type(ct: &str) -> String {
    ct.split(';').next().unwrap_or("").trim().to_lowercase()
}

fn de_content_types<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    let v = Option::<Vec<String>>::deserialize(d)?;
    Ok(v.map(|list| {
        let mut seen = HashSet::new();
        list.iter()
            .map(|c| normalize_content_type(c))
            .filter(|c| seen.insert(c.clone()))
            .collect()
    }))
}

/// `applied_to:`. Not interpreted by the framework; plugins may read it.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct AppliedTo {
    #[serde(default)]
    pub tools: Option<Vec<ToolTemplate>>,
    #[serde(default)]
    pub prompts: Option<Vec<PromptTemplate>>,
    #[serde(default)]
    pub resources: Option<Vec<ResourceTemplate>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolTemplate {
    #[serde(default)]
    pub context: Option<Vec<String>>,
    #[serde(default)]
    pub extensions: Option<JsonMap>,
    pub tool_name: String,
    #[serde(default)]
    pub fields: Option<Vec<String>>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub result: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PromptTemplate {
    #[serde(default)]
    pub context: Option<Vec<String>>,
    #[serde(default)]
    pub extensions: Option<JsonMap>,
    pub prompt_name: String,
    #[serde(default)]
    pub fields: Option<Vec<String>>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub result: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResourceTemplate {
    #[serde(default)]
    pub context: Option<Vec<String>>,
    #[serde(default)]
    pub extensions: Option<JsonMap>,
    pub resource_uri: String,
    #[serde(default)]
    pub fields: Option<Vec<String>>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub result: bool,
}

/// `mcp.proto`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TransportType {
    #[serde(rename = "SSE")]
    Sse,
    #[serde(rename = "HTTP")]
    Http,
    #[serde(rename = "STDIO")]
    Stdio,
    #[serde(rename = "STREAMABLEHTTP")]
    StreamableHttp,
    #[serde(rename = "GRPC")]
    Grpc,
}

impl TransportType {
    pub const fn as_str(self) -> &'static str {
        match self {
            TransportType::Sse => "SSE",
            TransportType::Http => "HTTP",
            TransportType::Stdio => "STDIO",
            TransportType::StreamableHttp => "STREAMABLEHTTP",
            TransportType::Grpc => "GRPC",
        }
    }
}

impl fmt::Display for TransportType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The `mcp:` block of an external entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MCPClientConfig {
    pub proto: TransportType,
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub script: Option<String>,
    #[serde(default)]
    pub cmd: Option<Vec<String>>,
    #[serde(default)]
    pub env: Option<std::collections::BTreeMap<String, String>>,
    #[serde(default)]
    pub cwd: Option<String>,
    #[serde(default)]
    pub uds: Option<String>,
    #[serde(default)]
    pub tls: Option<MCPClientTLSConfig>,
    #[serde(default = "default_reconnect_attempts", deserialize_with = "lax::i64")]
    pub reconnect_attempts: i64,
    #[serde(default = "default_reconnect_delay", deserialize_with = "lax::f64")]
    pub reconnect_delay: f64,
}

fn default_reconnect_attempts() -> i64 {
    3
}

fn default_reconnect_delay() -> f64 {
    0.1
}

/// `mcp.tls`. `verify`/`check_hostname` are `None` when the YAML does not set them, so env
/// variables can override field by field (docs/decisions.md #1); they serialize as their default `true`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct MCPClientTLSConfig {
    #[serde(default)]
    pub certfile: Option<String>,
    #[serde(default)]
    pub keyfile: Option<String>,
    #[serde(default)]
    pub ca_bundle: Option<String>,
    #[serde(default)]
    pub keyfile_password: Option<String>,
    #[serde(
        default,
        serialize_with = "ser_default_true",
        deserialize_with = "lax::opt_bool"
    )]
    pub verify: Option<bool>,
    #[serde(
        default,
        serialize_with = "ser_default_true",
        deserialize_with = "lax::opt_bool"
    )]
    pub check_hostname: Option<bool>,
}

fn ser_default_true<S: Serializer>(v: &Option<bool>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_bool(v.unwrap_or(true))
}

/// `server_settings`. Unset fields stay `None` so env variables can override field by field;
/// Python's defaults are host `127.0.0.1`, port `8000`, `ssl_cert_reqs` 2.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct MCPServerConfig {
    #[serde(default)]
    pub host: Option<String>,
    #[serde(default, deserialize_with = "lax::opt_i64")]
    pub port: Option<i64>,
    #[serde(default)]
    pub uds: Option<String>,
    #[serde(default)]
    pub tls: Option<MCPServerTLSConfig>,
}

/// `server_settings.tls`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct MCPServerTLSConfig {
    #[serde(default)]
    pub certfile: Option<String>,
    #[serde(default)]
    pub keyfile: Option<String>,
    #[serde(default)]
    pub ca_bundle: Option<String>,
    #[serde(default)]
    pub keyfile_password: Option<String>,
    /// 0 = no client cert, 1 = optional, 2 = required (docs/decisions.md #3: an integer).
    #[serde(default, deserialize_with = "lax::opt_i64")]
    pub ssl_cert_reqs: Option<i64>,
    /// `true`: refuse an expired or not-yet-valid certificate instead of warning (plugwire only;
    /// `PLUGINS_SERVER_SSL_REQUIRE_VALID_CERT` overrides).
    #[serde(
        default,
        deserialize_with = "lax::opt_bool",
        skip_serializing_if = "Option::is_none"
    )]
    pub require_valid_certificate: Option<bool>,
}
