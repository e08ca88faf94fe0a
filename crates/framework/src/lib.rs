#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

pub mod conditions;
pub mod config;
pub mod context;
pub mod error;
pub mod hooks;
pub mod manager;
pub mod modified;
pub mod payloads;
pub mod payloads_cpex;
mod payloads_moved;
mod payloads_seeded;
pub mod plugin;
mod request_form;
pub mod result;
mod result_wire;
mod serde_util;

/// A JSON object (insertion order kept).
pub type JsonMap = serde_json::Map<String, serde_json::Value>;

pub use conditions::payload_matches;
pub use config::{
    capability_error, mode_help, normalize_content_type, render_template, resolve_config_path,
    unix_socket_path_problem, AppliedTo, Capability, Compat, Config, ConfigError, ConfigSide,
    GrpcClientConfig, GrpcClientTLSConfig, GrpcClientTlsKeys, GrpcServerConfig,
    GrpcServerTLSConfig, GrpcServerTlsKeys, LegacyBehaviour, MCPClientConfig, MCPClientTLSConfig,
    MCPServerConfig, MCPServerTLSConfig, McpClientTlsKeys, McpServerTlsKeys, OnError, Phase,
    PluginCondition, PluginConfig, PluginMode, PluginSettings, PromptTemplate, ResourceTemplate,
    ServerLimitsConfig, TlsConfig, TlsFiles, ToolTemplate, TransportType, UnixSocketClientConfig,
    UnixSocketServerConfig, DEFAULT_EXECUTION_POOL, EXTERNAL_KIND, MAX_UNIX_SOCKET_PATH,
    MODE_NAMES, PLUGINS_COMPAT, PLUGINS_CONFIG_FILE, PLUGINS_CONFIG_PATH, PLUGINS_EXECUTION_POOL,
    PLUGINS_FAIL_ON_PLUGIN_ERROR, PLUGINS_PLUGIN_TIMEOUT,
};
pub use context::{GlobalContext, PluginContext, UserContext};
pub use error::{
    PayloadError, PluginError, PluginErrorKind, PluginErrorModel, DEFAULT_MCP_ERROR_CODE,
};
pub use hooks::{HookType, UnknownHookError};
pub use manager::{
    context_key, FailureCause, HookOutcome, PluginContextTable, PluginManager, MAX_PAYLOAD_CHARS,
    PLUGIN_UNAVAILABLE,
};
pub use modified::ModifiedPayload;
pub use payloads::{
    AgentPostInvokePayload, AgentPreInvokePayload, HookPayload, HttpAuthCheckPermissionPayload,
    HttpAuthCheckPermissionResultPayload, HttpAuthResolveUserPayload, HttpHeaderPayload,
    HttpPostRequestPayload, HttpPreRequestPayload, PromptArgs, PromptPosthookPayload,
    PromptPrehookPayload, ResourcePostFetchPayload, ResourcePreFetchPayload, ToolPostInvokePayload,
    ToolPreInvokePayload,
};
pub use payloads_cpex::{
    AttenuationConfig, Channel, DelegationPayload, DelegationResult, IdentityPayload,
    IdentityResult, Message, MessageHookType, MessagePayload, Role, SecretStr,
};
pub use plugin::{Plugin, PluginConstructor, PluginRegistry};
/// The environment seam config loading takes (re-exported so embedders and plugin crates need
/// no second dependency to call [`Config::load`]).
pub use plugwire_env::{EmptyEnv, Env, ProcessEnv};
pub use result::{ExecutionRecord, PluginResult, PluginViolation, ResultSeed};
pub use result_wire::NullOr;

/// The plugin author's guide (`docs/plugin-authoring.md`); its example is compiled and run as a doctest.
#[doc = include_str!("../../../docs/plugin-authoring.md")]
pub mod guide {}

/// Re-exported so plugin crates use the same `#[async_trait]` as the trait.
pub use async_trait::async_trait;
