//! plugwire-mcp: the narrow MCP subset a ContextForge external plugin server and its gateway
//! client speak, as plain data: no sockets, no async, no I/O.
//!
//! The server (`plugwire-server`) and the client (`plugwire-client`) are thin hyper code over
//! these types; keeping the wire shapes in one crate keeps both sides agreeing with each other
//! and with the Python 1.0.0 captures (`tests/wire.rs` checks them against `tests/wire-samples/`).
//!
//! # Layout
//! - [`jsonrpc`]: JSON-RPC 2.0 messages, ids, error codes, and [`jsonrpc::parse_message`] that
//!   tells "not JSON" from "not JSON-RPC" from "batch" (the server answers all three HTTP 400).
//! - [`version`]: [`ProtocolVersion`] (2024-11-05 ... 2025-11-25) and its negotiation.
//! - [`lifecycle`]: `initialize` params and result, the plugin server's identity and capabilities.
//! - [`tools`]: generic `tools/list` / `tools/call` shapes ([`CallToolResult`], [`Content`]).
//! - [`plugin_tools`]: the three plugin tools: names, input schemas, argument validation with
//!   FastMCP's wording, the `{plugin_name, result|error, context?}` answer, and the client-side
//!   decoding of `invoke_hook` / `get_plugin_config` results by the Python 1.0.0 rules.
//! - [`invoke_call`]: the hot path's request (`tools/call invoke_hook`) decoded in one pass,
//!   payload and context left as raw JSON, and the answer envelope written without a `Value`.
//! - [`headers`]: HTTP header names and content types of Streamable HTTP.
//! - `sse`: decoding `text/event-stream` bodies into JSON-RPC messages (client side).

#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod headers;
pub mod invoke_call;
pub mod jsonrpc;
pub mod lifecycle;
pub mod plugin_tools;
pub mod tools;
pub mod version;

pub mod sse;

pub use invoke_call::{InvokeHookCall, RawInvokeHookArgs, TextResultWriter};
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
