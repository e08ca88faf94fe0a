//! plugwire-framework: the part of plugwire that decides what a plugin does with a prompt, a tool
//! call or a resource, independent of any network.
//!
//! It reads the ContextForge plugins YAML unchanged, defines the hooks (1.0.0's 12, cpex's 11) and
//! their payloads with JSON that is field for field the Python models (they travel to and from
//! Python peers), and
//! runs plugins with the Python manager's semantics: priority order, payload chaining, modes,
//! conditions, per-plugin timeouts.
//!
//! # Layout
//! - `hooks`: [`HookType`], the 23 hook names (1.0.0's 12 and cpex's 11).
//! - `payloads`: one struct per 1.0.0 hook payload, [`HookPayload`] (enum over all hooks).
//! - `payloads_cpex`: the payloads of cpex's hooks ([`IdentityPayload`], [`DelegationPayload`],
//!   [`MessagePayload`], their results, [`SecretStr`]).
//! - `result`: [`PluginResult`] (6 keys of 1.0.0 + 3 of 1.1.0), [`ExecutionRecord`], [`PluginViolation`].
//! - `context`: [`GlobalContext`], [`PluginContext`], [`UserContext`].
//! - `error`: [`PluginErrorModel`] (wire), [`PluginError`] (typed), [`PayloadError`].
//! - `config`: the YAML model ([`Config`], [`PluginConfig`], ...), loading, `{{ env.VAR }}` templating.
//! - `plugin`: the [`Plugin`] trait and the [`PluginRegistry`] of `kind` constructors.
//! - `conditions`: condition matching.
//! - `manager`: [`PluginManager`] (chain and single-plugin execution, both eras).
//!
//! # Two JSON forms
//! `to_json()` is the response form (explicit nulls, as the Python server sends);
//! `to_request_json()` is the request form (`None` model fields omitted, as the Python client sends,
//! but `result`/`content`/`messages` always present and nulls inside free-form values kept).

pub mod conditions;
pub mod config;
pub mod context;
pub mod error;
pub mod hooks;
pub mod manager;
pub mod payloads;
pub mod payloads_cpex;
pub mod plugin;
pub mod result;
mod serde_util;

/// A JSON object (insertion order kept).
pub type JsonMap = serde_json::Map<String, serde_json::Value>;

pub use conditions::payload_matches;
pub use config::{
    capability_error, mode_help, normalize_content_type, render_template, resolve_config_path,
    AppliedTo, Capability, Compat, Config, ConfigError, ConfigSide, GrpcClientConfig,
    GrpcClientTLSConfig, GrpcServerConfig, GrpcServerTLSConfig, LegacyBehaviour, MCPClientConfig,
    MCPClientTLSConfig, MCPServerConfig, MCPServerTLSConfig, OnError, Phase, PluginCondition,
    PluginConfig, PluginMode, PluginSettings, PromptTemplate, ResourceTemplate, ServerLimitsConfig,
    ToolTemplate, TransportType, UnixSocketClientConfig, UnixSocketServerConfig,
    DEFAULT_EXECUTION_POOL, EXTERNAL_KIND, MODE_NAMES, PLUGINS_COMPAT, PLUGINS_CONFIG_FILE,
    PLUGINS_CONFIG_PATH, PLUGINS_EXECUTION_POOL, PLUGINS_FAIL_ON_PLUGIN_ERROR,
    PLUGINS_PLUGIN_TIMEOUT,
};
pub use context::{GlobalContext, PluginContext, UserContext};
pub use error::{
    PayloadError, PluginError, PluginErrorKind, PluginErrorModel, DEFAULT_MCP_ERROR_CODE,
};
pub use hooks::{HookType, UnknownHookError};
pub use manager::{context_key, HookOutcome, PluginContextTable, PluginManager, MAX_PAYLOAD_CHARS};
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
pub use result::{ExecutionRecord, PluginResult, PluginViolation};

/// The plugin author's guide (`docs/plugin-authoring.md`); its example is compiled and run as a doctest.
#[doc = include_str!("../../../docs/plugin-authoring.md")]
pub mod guide {}

/// Re-exported so plugin crates use the same `#[async_trait]` as the trait.
pub use async_trait::async_trait;
