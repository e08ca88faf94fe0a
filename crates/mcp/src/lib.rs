#![doc = include_str!("../README.md")]
#![warn(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod headers;
pub mod invoke_call;
mod invoke_call_answer;
mod invoke_call_decoded;
pub mod jsonrpc;
pub mod lifecycle;
pub mod plugin_tools;
pub mod tools;
pub mod version;

pub mod sse;

pub use invoke_call::{AnswerKind, InvokeHookCall, RawInvokeHookArgs, TextResultWriter};
pub use invoke_call_decoded::{ArgsDecoder, DecodedInvokeHookCall};
pub use jsonrpc::{
    codes, message_from_value, parse_message, ErrorObject, ErrorResponse, Message, Notification,
    ParseError, Request, RequestId, Response,
};
pub use lifecycle::{InitializeParams, InitializeResult};
pub use plugin_tools::{
    plugin_config_from_result, GetPluginConfigArgs, InvokeHookArgs, InvokeHookResponse,
    ResponseDecodeError, GET_PLUGIN_CONFIG, GET_PLUGIN_CONFIGS, INVOKE_HOOK,
};
pub use tools::{CallToolParams, CallToolResult, Content, ListToolsResult, Tool};
pub use version::ProtocolVersion;

/// MCP method names used by the plugin protocol.
pub mod methods {
    /// Handshake request.
    pub const INITIALIZE: &str = "initialize";
    /// Handshake completion notification.
    pub const INITIALIZED: &str = "notifications/initialized";
    /// Liveness request (answered `{}`).
    pub const PING: &str = "ping";
    /// Lists the tools.
    pub const TOOLS_LIST: &str = "tools/list";
    /// Calls a tool.
    pub const TOOLS_CALL: &str = "tools/call";
    /// Always empty on a plugin server (advertised, as the Python runtime does).
    pub const PROMPTS_LIST: &str = "prompts/list";
    /// Always empty on a plugin server.
    pub const RESOURCES_LIST: &str = "resources/list";
    /// Always empty on a plugin server.
    pub const RESOURCE_TEMPLATES_LIST: &str = "resources/templates/list";
    /// Prefix of every notification method.
    pub const NOTIFICATION_PREFIX: &str = "notifications/";
}
