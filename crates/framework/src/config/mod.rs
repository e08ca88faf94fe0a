//! The plugins YAML (Python `models.py`): the same files ContextForge users already have.
//!
//! Types here are pure serde data. Loading, templating and validation live in `load.rs` and
//! `template.rs`; `ConfigError` in `error.rs`.

mod eras;
mod error;
mod load;
pub mod read;
mod settings;
mod template;
mod tls;
mod transports;

use std::collections::{BTreeSet, HashSet};
use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use crate::serde_util::{lax, list_of, null_as_default};
use crate::{HookType, JsonMap};

pub use eras::{
    capability_error, mode_help, Capability, Compat, LegacyBehaviour, OnError, Phase, PluginMode,
    MODE_NAMES,
};
pub use error::ConfigError;
pub use load::{
    resolve_config_path, ConfigSide, DEFAULT_GATEWAY_CONFIG, DEFAULT_SERVER_CONFIG,
    PLUGINS_CONFIG_FILE, PLUGINS_CONFIG_PATH, PLUGINS_PLUGIN_TIMEOUT,
};
pub use settings::{
    DEFAULT_EXECUTION_POOL, PLUGINS_COMPAT, PLUGINS_EXECUTION_POOL, PLUGINS_FAIL_ON_PLUGIN_ERROR,
};
pub use template::render_template;
pub use tls::{
    GrpcClientTLSConfig, GrpcClientTlsKeys, GrpcServerTLSConfig, GrpcServerTlsKeys,
    MCPClientTLSConfig, MCPServerTLSConfig, McpClientTlsKeys, McpServerTlsKeys, TlsConfig,
    TlsFiles,
};
pub use transports::{
    grpc_target_problem, unix_socket_path_problem, GrpcClientConfig, GrpcServerConfig,
    GrpcTargetProblem, MCPServerConfig, ServerLimitsConfig, UnixSocketClientConfig,
    UnixSocketServerConfig, MAX_UNIX_SOCKET_PATH,
};

/// The `kind` of an entry served by a remote plugin server.
pub const EXTERNAL_KIND: &str = "external";

/// The whole file.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(expecting = "a mapping with `plugins:` and `plugin_settings:`")]
pub struct Config {
    /// The `plugins:` entries, in file order.
    #[serde(default, deserialize_with = "plugin_list")]
    pub plugins: Vec<PluginConfig>,
    /// Directories Python searches for plugin code (plugwire registers kinds in code instead).
    #[serde(default, deserialize_with = "null_as_default")]
    pub plugin_dirs: Vec<String>,
    /// Required by Python; plugwire defaults it (a file Python accepts still loads the same).
    #[serde(default, deserialize_with = "null_as_default")]
    pub plugin_settings: PluginSettings,
    /// `plugwire serve`'s MCP-over-HTTP settings (env overrides applied by the server).
    #[serde(default)]
    pub server_settings: Option<MCPServerConfig>,
    /// Typed and validated; served by the gRPC transport (env overrides applied by the settings
    /// layer).
    #[serde(default)]
    pub grpc_server_settings: Option<GrpcServerConfig>,
    /// Typed and validated. cpex reads no field of it (the path comes from the environment).
    #[serde(default)]
    pub unix_socket_server_settings: Option<UnixSocketServerConfig>,
    /// Where the config came from (a path, or `<string>`), for error messages.
    #[serde(skip)]
    pub source: Option<PathBuf>,
    /// Keys of the server blocks and of the entries' transport sections that plugwire does not
    /// read, spelled in full (`unix_socket_server_settings.pth`, `plugins[0].grpc.tls.verfy`):
    /// ignored, as the Python runtime ignores them, and logged as a WARN when loaded (usually
    /// a typo; docs/decisions.md #104).
    #[serde(skip)]
    pub unknown_keys: Vec<String>,
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
#[serde(expecting = "a mapping")]
pub struct PluginSettings {
    /// Parsed and ignored, as in Python: execution is always sequential (docs/decisions.md #6).
    #[serde(default, deserialize_with = "lax::bool")]
    pub parallel_execution_within_band: bool,
    /// Per-plugin call timeout in seconds (honoured; `PLUGINS_PLUGIN_TIMEOUT` overrides).
    #[serde(default = "default_timeout", deserialize_with = "lax::i64")]
    pub plugin_timeout: i64,
    /// `true`: a plugin that fails to load or initialize stops start-up (`PLUGINS_FAIL_ON_PLUGIN_ERROR` wins).
    #[serde(default, deserialize_with = "lax::bool")]
    pub fail_on_plugin_error: bool,
    /// Parsed and round-tripped; the gateway reads it.
    #[serde(default, deserialize_with = "lax::bool")]
    pub enable_plugin_api: bool,
    /// Parsed and round-tripped; the gateway reads it.
    #[serde(default = "default_health_interval", deserialize_with = "lax::i64")]
    pub plugin_health_check_interval: i64,
    /// Parsed and round-tripped; the gateway reads it.
    #[serde(default, deserialize_with = "lax::bool")]
    pub include_user_info: bool,
    /// plugwire only (cpex reads `PLUGINS_EXECUTION_POOL`, which wins): bound on concurrent and
    /// background plugin work; unset = 10, 0 = unbounded.
    #[serde(
        default,
        deserialize_with = "lax::opt_i64",
        skip_serializing_if = "Option::is_none"
    )]
    pub execution_pool: Option<i64>,
    /// plugwire only: the 1.0.x switch (`"1.0"`); `PLUGINS_COMPAT` wins. Unset = 1.1.0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compat: Option<Compat>,
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
            execution_pool: None,
            compat: None,
        }
    }
}

/// One `plugins:` entry. Serializes in the Python key order with explicit nulls (what
/// `get_plugin_config` returns).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(expecting = "a plugin entry (a mapping)")]
pub struct PluginConfig {
    /// Unique name; external plugins are looked up by it.
    pub name: String,
    /// Description (informational).
    #[serde(default)]
    pub description: Option<String>,
    /// Author (informational).
    #[serde(default)]
    pub author: Option<String>,
    /// Which implementation: a registered kind string, or `external`.
    pub kind: String,
    /// Namespace (informational).
    #[serde(default)]
    pub namespace: Option<String>,
    /// Version (informational).
    #[serde(default)]
    pub version: Option<String>,
    /// The hooks the plugin is called for.
    #[serde(default, deserialize_with = "null_as_default")]
    pub hooks: Vec<HookType>,
    /// Tags (informational).
    #[serde(default, deserialize_with = "null_as_default")]
    pub tags: Vec<String>,
    /// As written (either era's name); see [`PluginMode::phase`] for the 1.1.0 reading.
    #[serde(default, deserialize_with = "null_as_default")]
    pub mode: PluginMode,
    /// `None` when the source does not set it: `enforce_ignore_error` then means `ignore`
    /// (cpex's setdefault), everything else `fail`. Serialized as the effective value.
    #[serde(default)]
    pub on_error: Option<OnError>,
    /// Lower runs first.
    #[serde(default = "default_priority", deserialize_with = "lax::i64")]
    pub priority: i64,
    /// Understood and round-tripped, not enforced: cpex enforces it only for `kind: isolated_venv`,
    /// which plugwire does not run (see `docs/eras.md`).
    #[serde(default = "default_max_content_size", deserialize_with = "lax::i64")]
    pub max_content_size: i64,
    /// When the plugin runs; empty = always.
    #[serde(default, deserialize_with = "condition_list")]
    pub conditions: Vec<PluginCondition>,
    /// Templates the plugin applies to (read by plugins, not the manager).
    #[serde(default)]
    pub applied_to: Option<AppliedTo>,
    /// Known values only; sorted on output; a non-list value reads as empty (as cpex).
    #[serde(default, deserialize_with = "eras::de_capabilities")]
    pub capabilities: BTreeSet<Capability>,
    /// The plugin's own settings (`config:`).
    #[serde(default)]
    pub config: Option<JsonMap>,
    /// `kind: external` over MCP.
    #[serde(default)]
    pub mcp: Option<MCPClientConfig>,
    /// `kind: external` over gRPC.
    #[serde(default)]
    pub grpc: Option<GrpcClientConfig>,
    /// `kind: external` over the raw Unix-socket transport.
    #[serde(default)]
    pub unix_socket: Option<UnixSocketClientConfig>,
    /// plugwire's per-entry call timeout in seconds (`timeout:`), overriding
    /// `plugin_settings.plugin_timeout` for this plugin. Python ignores the key (unknown keys are
    /// dropped there), and it is never serialized: a plugin server's value must not become the
    /// gateway's timeout through the config merge (see `docs/failure-policy.md`).
    #[serde(default, skip_serializing)]
    pub timeout: Option<f64>,
    /// The keys present in the source (YAML entry or remote JSON): pydantic's "explicitly set"
    /// fields. The client merges a remote config under the locally set keys
    /// (docs/decisions.md #23).
    #[serde(skip)]
    pub set_fields: BTreeSet<String>,
}

fn plugin_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<PluginConfig>, D::Error> {
    list_of(d, "a list of plugin entries")
}

fn condition_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<PluginCondition>, D::Error> {
    list_of(d, "a list of conditions")
}

fn default_priority() -> i64 {
    100
}

/// cpex's default `max_content_size` (bytes).
pub const DEFAULT_MAX_CONTENT_SIZE: i64 = 10_000_000;

fn default_max_content_size() -> i64 {
    DEFAULT_MAX_CONTENT_SIZE
}

impl PluginConfig {
    /// A minimal entry (mode sequential, priority 100), handy in tests and for programmatic configs.
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
            mode: PluginMode::Sequential,
            on_error: None,
            priority: default_priority(),
            max_content_size: DEFAULT_MAX_CONTENT_SIZE,
            conditions: Vec::new(),
            applied_to: None,
            capabilities: BTreeSet::new(),
            config: None,
            mcp: None,
            grpc: None,
            unix_socket: None,
            timeout: None,
            set_fields: BTreeSet::new(),
        }
    }

    /// The 1.1.0 `on_error`: the explicit value, else `ignore` for `enforce_ignore_error` (cpex
    /// migrates it with a setdefault), else `fail`.
    pub fn effective_on_error(&self) -> OnError {
        self.on_error.unwrap_or(match self.mode {
            PluginMode::EnforceIgnoreError => OnError::Ignore,
            _ => OnError::Fail,
        })
    }

    /// The entry's own call timeout (`timeout:`), if set; validated positive and finite by the
    /// loader (a value built in code that is not is ignored).
    pub fn call_timeout(&self) -> Option<std::time::Duration> {
        self.timeout
            .and_then(|s| std::time::Duration::try_from_secs_f64(s).ok())
            .filter(|d| !d.is_zero())
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

    /// The 19-key object in cpex's key order, explicit nulls; `mode` as written and `on_error`
    /// effective. (What `plugwire serve` sends is chosen by the server, see `docs/eras.md`.)
    pub fn to_json(&self) -> Value {
        let mut v = serde_json::to_value(self).unwrap_or(Value::Null);
        if let Some(m) = v.as_object_mut() {
            m.insert(
                "on_error".into(),
                Value::String(self.effective_on_error().as_str().into()),
            );
        }
        v
    }

    /// The mode name to report to a gateway of either era: the name as written when it is a
    /// 1.0.x name (the author wrote the file for 1.0.x, and the explicit `on_error` beside it
    /// gives a 1.1.0 gateway the exact meaning); else the 1.0.x name with the same meaning
    /// (`sequential`+`fail` → `enforce`, `sequential`+`ignore` → `enforce_ignore_error`,
    /// `transform`+`ignore` → `permissive`, `disabled`); else the 1.1.0 name, which only a 1.1.0
    /// gateway accepts. The table is in `docs/eras.md`.
    pub fn wire_mode(&self) -> PluginMode {
        if self.mode.is_legacy_name() {
            return self.mode;
        }
        match (self.mode, self.effective_on_error()) {
            (PluginMode::Sequential, OnError::Fail) => PluginMode::Enforce,
            (PluginMode::Sequential, OnError::Ignore) => PluginMode::EnforceIgnoreError,
            (PluginMode::Transform, OnError::Ignore) => PluginMode::Permissive,
            (m, _) => m,
        }
    }

    /// [`PluginConfig::to_json`] with `mode` as [`PluginConfig::wire_mode`]: what `plugwire
    /// serve` answers to `get_plugin_config(s)`, accepted by both eras' gateways where a 1.0.x
    /// name exists.
    pub fn to_wire_json(&self) -> Value {
        let mut v = self.to_json();
        if let Some(m) = v.as_object_mut() {
            m.insert(
                "mode".into(),
                Value::String(self.wire_mode().as_str().into()),
            );
        }
        v
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

/// A `conditions:` item. OR across items, AND within one; empty lists mean "not specified";
/// set-valued fields serialize as arrays, or `null` when empty (docs/decisions.md #20).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(expecting = "a mapping")]
pub struct PluginCondition {
    /// Virtual server ids.
    #[serde(default, serialize_with = "ser_set")]
    pub server_ids: Option<BTreeSet<String>>,
    /// Tenant ids.
    #[serde(default, serialize_with = "ser_set")]
    pub tenant_ids: Option<BTreeSet<String>>,
    /// Tool names.
    #[serde(default, serialize_with = "ser_set")]
    pub tools: Option<BTreeSet<String>>,
    /// Prompt names.
    #[serde(default, serialize_with = "ser_set")]
    pub prompts: Option<BTreeSet<String>>,
    /// Resource URIs.
    #[serde(default, serialize_with = "ser_set")]
    pub resources: Option<BTreeSet<String>>,
    /// Agent ids.
    #[serde(default, serialize_with = "ser_set")]
    pub agents: Option<BTreeSet<String>>,
    /// User patterns (substring match, as Python).
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
#[serde(expecting = "a mapping")]
pub struct AppliedTo {
    /// Tool templates.
    #[serde(default)]
    pub tools: Option<Vec<ToolTemplate>>,
    /// Prompt templates.
    #[serde(default)]
    pub prompts: Option<Vec<PromptTemplate>>,
    /// Resource templates.
    #[serde(default)]
    pub resources: Option<Vec<ResourceTemplate>>,
}

/// An `applied_to.tools` item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(expecting = "a mapping")]
pub struct ToolTemplate {
    /// Context keys the plugin wants.
    #[serde(default)]
    pub context: Option<Vec<String>>,
    /// Free-form extensions.
    #[serde(default)]
    pub extensions: Option<JsonMap>,
    /// The tool.
    pub tool_name: String,
    /// Fields the plugin looks at.
    #[serde(default)]
    pub fields: Option<Vec<String>>,
    /// Whether the plugin looks at the result too.
    #[serde(default, deserialize_with = "null_as_default")]
    pub result: bool,
}

/// An `applied_to.prompts` item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(expecting = "a mapping")]
pub struct PromptTemplate {
    /// Context keys the plugin wants.
    #[serde(default)]
    pub context: Option<Vec<String>>,
    /// Free-form extensions.
    #[serde(default)]
    pub extensions: Option<JsonMap>,
    /// The prompt.
    pub prompt_name: String,
    /// Fields the plugin looks at.
    #[serde(default)]
    pub fields: Option<Vec<String>>,
    /// Whether the plugin looks at the result too.
    #[serde(default, deserialize_with = "null_as_default")]
    pub result: bool,
}

/// An `applied_to.resources` item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(expecting = "a mapping")]
pub struct ResourceTemplate {
    /// Context keys the plugin wants.
    #[serde(default)]
    pub context: Option<Vec<String>>,
    /// Free-form extensions.
    #[serde(default)]
    pub extensions: Option<JsonMap>,
    /// The resource.
    pub resource_uri: String,
    /// Fields the plugin looks at.
    #[serde(default)]
    pub fields: Option<Vec<String>>,
    /// Whether the plugin looks at the result too.
    #[serde(default, deserialize_with = "null_as_default")]
    pub result: bool,
}

/// `mcp.proto`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TransportType {
    /// `SSE` (Python only; refused with a clear error).
    #[serde(rename = "SSE")]
    Sse,
    /// `HTTP`.
    #[serde(rename = "HTTP")]
    Http,
    /// `STDIO`: a child process.
    #[serde(rename = "STDIO")]
    Stdio,
    /// `STREAMABLEHTTP`: MCP over HTTP, plugwire's main transport.
    #[serde(rename = "STREAMABLEHTTP")]
    StreamableHttp,
    /// `GRPC`: cpex's gRPC transport.
    #[serde(rename = "GRPC")]
    Grpc,
}

impl TransportType {
    /// The YAML spelling (`STREAMABLEHTTP`, ...).
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
#[serde(expecting = "a mapping")]
pub struct MCPClientConfig {
    /// Transport.
    pub proto: TransportType,
    /// The plugin server's MCP endpoint.
    #[serde(default)]
    pub url: Option<String>,
    /// `proto: STDIO`: a Python script to run instead of `cmd`.
    #[serde(default)]
    pub script: Option<String>,
    /// `proto: STDIO`: command and arguments of the plugin server.
    #[serde(default)]
    pub cmd: Option<Vec<String>>,
    /// Environment of that command.
    #[serde(default)]
    pub env: Option<std::collections::BTreeMap<String, String>>,
    /// Working directory of that command.
    #[serde(default)]
    pub cwd: Option<String>,
    /// Unix socket to reach the server over HTTP.
    #[serde(default)]
    pub uds: Option<String>,
    /// mTLS to the plugin server.
    #[serde(default)]
    pub tls: Option<MCPClientTLSConfig>,
    /// Reconnects before the plugin counts as down.
    #[serde(default = "default_reconnect_attempts", deserialize_with = "lax::i64")]
    pub reconnect_attempts: i64,
    /// Seconds between reconnects.
    #[serde(default = "default_reconnect_delay", deserialize_with = "lax::f64")]
    pub reconnect_delay: f64,
}

fn default_reconnect_attempts() -> i64 {
    3
}

fn default_reconnect_delay() -> f64 {
    0.1
}
