//! Stateless JSON-RPC dispatch, shared by Streamable HTTP and stdio.
//!
//! Nothing here remembers anything between messages: `tools/call` works without a prior
//! `initialize` (README decision 11), and every `tools/call` gets a normal result, with plugin
//! errors inside it (decision 12). Only an unknown *method* gets a JSON-RPC error object.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures::FutureExt;

use plugwire_mcp::plugin_tools::{
    list_tools_result, plugin_config_result, plugin_configs_result, unknown_tool,
};
use plugwire_mcp::{
    codes, methods, CallToolParams, CallToolResult, ErrorResponse, GetPluginConfigArgs,
    InitializeResult, InvokeHookArgs, InvokeHookResponse, Message, ProtocolVersion, Request,
    Response, GET_PLUGIN_CONFIG, GET_PLUGIN_CONFIGS, INVOKE_HOOK,
};
use serde_json::{json, Value};

use crate::backend::Backend;

/// The version string in `serverInfo.version`.
pub const SERVER_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Handles one message; `None` for notifications and for responses sent by the client
/// (Streamable HTTP answers those 202, stdio answers nothing).
pub async fn handle_message(backend: &Arc<dyn Backend>, msg: Message) -> Option<Value> {
    match msg {
        Message::Request(req) => Some(handle_request(backend, req).await),
        Message::Notification(n) => {
            tracing::debug!(method = %n.method, "notification");
            None
        }
        Message::Response(_) | Message::Error(_) => None,
    }
}

/// Answers one request (a success or error response as JSON).
pub async fn handle_request(backend: &Arc<dyn Backend>, req: Request) -> Value {
    let Request {
        id, method, params, ..
    } = req;
    let result = match method.as_str() {
        methods::INITIALIZE => {
            let requested = params
                .as_ref()
                .and_then(|p| p.get("protocolVersion"))
                .and_then(Value::as_str)
                .unwrap_or(ProtocolVersion::LATEST.as_str());
            to_value(&InitializeResult::plugin_server(requested, SERVER_VERSION))
        }
        methods::PING => json!({}),
        methods::TOOLS_LIST => to_value(&list_tools_result()),
        methods::TOOLS_CALL => to_value(&call_tool(backend, params).await),
        methods::PROMPTS_LIST => json!({"prompts": []}),
        methods::RESOURCES_LIST => json!({"resources": []}),
        methods::RESOURCE_TEMPLATES_LIST => json!({"resourceTemplates": []}),
        other => {
            tracing::debug!(method = other, "unknown method");
            let err = ErrorResponse::new(
                Some(id),
                codes::METHOD_NOT_FOUND,
                format!("Method not found: {other}"),
            );
            return to_value(&err);
        }
    };
    to_value(&Response::new(id, result))
}

/// `tools/call`: argument problems and unknown tools give `isError: true` (as FastMCP);
/// everything about the plugin itself travels in a normal result.
async fn call_tool(backend: &Arc<dyn Backend>, params: Option<Value>) -> CallToolResult {
    let params: CallToolParams = match serde_json::from_value(params.unwrap_or(Value::Null)) {
        Ok(p) => p,
        Err(e) => {
            return CallToolResult::error(format!(
            "Invalid tools/call params: {e} (expected {{\"name\": string, \"arguments\": object}})"
        ))
        }
    };
    let args = params.arguments.unwrap_or_default();
    match params.name.as_str() {
        GET_PLUGIN_CONFIGS => plugin_configs_result(backend.plugin_configs()),
        GET_PLUGIN_CONFIG => match GetPluginConfigArgs::from_arguments(&args) {
            Ok(a) => plugin_config_result(backend.plugin_config(&a.name).as_ref()),
            Err(e) => e.to_result(),
        },
        INVOKE_HOOK => match InvokeHookArgs::from_arguments(&args) {
            Ok(a) => invoke_isolated(backend, a).await.to_result(),
            Err(e) => e.to_result(),
        },
        other => unknown_tool(other),
    }
}

/// Runs the hook so that a panicking backend becomes an `error` answer and the connection
/// (and the gateway's session) lives on. The panic is caught in place rather than by spawning
/// a task: the framework's manager already runs each plugin in a task of its own (with the
/// timeout), so a second spawn per call would only add scheduling to the hot path.
async fn invoke_isolated(backend: &Arc<dyn Backend>, args: InvokeHookArgs) -> InvokeHookResponse {
    let plugin_name = args.plugin_name.clone();
    let hook = args.hook_type.clone();
    match AssertUnwindSafe(backend.invoke_hook(args))
        .catch_unwind()
        .await
    {
        Ok(resp) => resp,
        Err(payload) => {
            let detail = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "non-string panic payload".to_string());
            let what = format!("plugin {plugin_name} panicked in {hook}: {detail}");
            tracing::error!(plugin = %plugin_name, hook = %hook, "{what}");
            InvokeHookResponse::failure_message(&plugin_name, what)
        }
    }
}

fn to_value<T: serde::Serialize>(v: &T) -> Value {
    // Our own response structs always serialize.
    serde_json::to_value(v).unwrap_or(Value::Null)
}
