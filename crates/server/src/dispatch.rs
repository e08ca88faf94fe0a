//! Stateless JSON-RPC dispatch, shared by Streamable HTTP and stdio.
//!
//! Nothing here remembers anything between messages: `tools/call` works without a prior
//! `initialize` (docs/decisions.md #11), and every `tools/call` gets a normal result, with plugin
//! errors inside it (#12). Only an unknown *method* gets a JSON-RPC error object.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures::FutureExt;

use plugwire_mcp::plugin_tools::{
    list_tools_result, plugin_config_result, plugin_configs_result, unknown_tool,
};
use plugwire_mcp::{
    codes, methods, CallToolParams, CallToolResult, ErrorResponse, GetPluginConfigArgs,
    InitializeResult, InvokeHookArgs, InvokeHookCall, InvokeHookResponse, Message, ProtocolVersion,
    RawInvokeHookArgs, Request, Response, TextResultWriter, GET_PLUGIN_CONFIG, GET_PLUGIN_CONFIGS,
    INVOKE_HOOK,
};
use serde_json::value::RawValue;
use serde_json::{json, Value};

use crate::backend::{Backend, DecodedCall, ProtoAnswer, ProtoArgs};

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
            Ok(a) => CallToolResult::text(invoke_hook_text(backend.as_ref(), &a).await),
            Err(e) => e.to_result(),
        },
        other => unknown_tool(other),
    }
}

/// The hot path: answers a `tools/call invoke_hook` request straight from the body (see
/// [`plugwire_mcp::invoke_call`]), or `None` when the body is anything else, for
/// [`handle_message`] to answer. The bytes are the ones the generic path would send.
pub async fn answer_invoke_hook(backend: &Arc<dyn Backend>, body: &[u8]) -> Option<Vec<u8>> {
    if let Some(call) = backend.decode_call(body) {
        let mut out = TextResultWriter::new(&call.id);
        invoke_decoded_isolated(backend.as_ref(), call, &mut out).await;
        return Some(out.finish());
    }
    let call = InvokeHookCall::parse(body)?;
    let mut out = TextResultWriter::new(&call.id);
    invoke_isolated(backend.as_ref(), call.args, &mut out).await;
    Some(out.finish())
}

/// The hook call of the transports that hold the arguments as JSON values (gRPC and the raw
/// socket, whose messages carry `google.protobuf.Struct`s): [`Backend::invoke_hook_json`],
/// with a panicking backend answered as over MCP (see [`invoke_isolated`]).
pub async fn invoke_hook_args(backend: &dyn Backend, args: InvokeHookArgs) -> InvokeHookResponse {
    // Copies for the panic message: the call takes the arguments.
    let (plugin_name, hook) = (args.plugin_name.clone(), args.hook_type.clone());
    let answered = catch_backend_panic(&plugin_name, &hook, backend.invoke_hook_json(args)).await;
    answered.unwrap_or_else(|what| InvokeHookResponse::failure_message(&plugin_name, what))
}

/// The hook call of the transports that answer with a proto message (gRPC and the raw
/// socket): [`Backend::invoke_hook_proto`], a panicking backend answered as over MCP.
pub async fn invoke_hook_proto(backend: &dyn Backend, args: ProtoArgs) -> ProtoAnswer {
    let (plugin_name, hook) = (args.plugin_name.clone(), args.hook_type.clone());
    let answered = catch_backend_panic(&plugin_name, &hook, backend.invoke_hook_proto(args)).await;
    answered.unwrap_or_else(|what| {
        ProtoAnswer::from_response(InvokeHookResponse::failure_message(&plugin_name, what))
    })
}

/// [`Backend::invoke_hook_json`] of a backend that only reads text: the arguments rendered as
/// JSON text for [`Backend::invoke_hook`], its answer text read back (no panic catching here:
/// the caller's covers it).
pub(crate) async fn invoke_through_text<B: Backend + ?Sized>(
    backend: &B,
    args: &InvokeHookArgs,
) -> InvokeHookResponse {
    let mut out = TextResultWriter::text_only();
    match args_as_text(args) {
        Ok(raw) => backend.invoke_hook(raw.borrowed(), &mut out).await,
        Err(what) => return InvokeHookResponse::failure_message(&args.plugin_name, what),
    }
    let text = String::from_utf8_lossy(out.written_since(0));
    serde_json::from_str(&text).unwrap_or_else(|e| {
        let what = format!("the plugin's answer is not JSON: {e}");
        InvokeHookResponse::failure_message(&args.plugin_name, what)
    })
}

/// The answer text for arguments held as JSON values, for the generic `tools/call` (the rare
/// well-formed call the one-pass decoding leaves to it, e.g. one with a repeated member).
async fn invoke_hook_text(backend: &dyn Backend, args: &InvokeHookArgs) -> String {
    // Only the text is used, not the JSON-RPC envelope around it.
    let mut out = TextResultWriter::text_only();
    match args_as_text(args) {
        Ok(raw) => invoke_isolated(backend, raw.borrowed(), &mut out).await,
        Err(what) => {
            let answer = InvokeHookResponse::failure_message(&args.plugin_name, what);
            out.push_str(&answer.to_text());
        }
    }
    String::from_utf8_lossy(out.written_since(0)).into_owned()
}

/// The payload and context of `args` written out as JSON text, for [`Backend::invoke_hook`].
struct TextArgs<'a> {
    args: &'a InvokeHookArgs,
    payload: Box<RawValue>,
    context: Box<RawValue>,
}

impl TextArgs<'_> {
    fn borrowed(&self) -> RawInvokeHookArgs<'_> {
        RawInvokeHookArgs {
            hook_type: self.args.hook_type.clone(),
            plugin_name: self.args.plugin_name.clone(),
            payload: &self.payload,
            context: &self.context,
        }
    }
}

/// `Err` is the error answer's message.
fn args_as_text(args: &InvokeHookArgs) -> Result<TextArgs<'_>, String> {
    let as_text = |m: &serde_json::Map<String, Value>| {
        serde_json::to_string(m).and_then(RawValue::from_string)
    };
    match (as_text(&args.payload), as_text(&args.context)) {
        (Ok(payload), Ok(context)) => Ok(TextArgs {
            args,
            payload,
            context,
        }),
        // Maps with string keys always serialize; kept an answer rather than a panic.
        (Err(e), _) | (_, Err(e)) => {
            Err(format!("invoke_hook arguments are not JSON objects: {e}"))
        }
    }
}

/// Runs the hook so that a panicking backend becomes an `error` answer and the connection
/// (and the gateway's session) lives on. The panic is caught in place rather than by spawning
/// a task: a spawn per call would only add a cross-thread wake-up to the hot path. (The
/// framework's manager also catches plugin panics; this covers the backend itself.)
async fn invoke_isolated(
    backend: &dyn Backend,
    args: RawInvokeHookArgs<'_>,
    out: &mut TextResultWriter,
) {
    let plugin_name = args.plugin_name.clone();
    let hook = args.hook_type.clone();
    let mark = out.mark();
    let answered = catch_backend_panic(&plugin_name, &hook, backend.invoke_hook(args, out)).await;
    answer_failure_after_panic(out, mark, &plugin_name, answered);
}

/// [`invoke_isolated`] for a call the backend decoded in one read.
async fn invoke_decoded_isolated(
    backend: &dyn Backend,
    call: DecodedCall<'_>,
    out: &mut TextResultWriter,
) {
    // Borrowed from the body (copied only if they held escapes).
    let plugin_name = call.plugin_name.clone();
    let hook = call.hook_type.clone();
    let mark = out.mark();
    let answered =
        catch_backend_panic(&plugin_name, &hook, backend.invoke_decoded(call, out)).await;
    answer_failure_after_panic(out, mark, &plugin_name, answered);
}

/// When the backend panicked (`Err`), whatever it wrote since `mark` is dropped and the answer
/// is the failure naming the plugin instead.
fn answer_failure_after_panic(
    out: &mut TextResultWriter,
    mark: usize,
    plugin_name: &str,
    answered: Result<(), String>,
) {
    if let Err(what) = answered {
        out.truncate(mark);
        out.push_str(&InvokeHookResponse::failure_message(plugin_name, what).to_text());
    }
}

/// Awaits `fut`; a panic becomes `Err` with a message naming the plugin and hook (also logged).
async fn catch_backend_panic<T>(
    plugin_name: &str,
    hook: &str,
    fut: impl std::future::Future<Output = T>,
) -> Result<T, String> {
    AssertUnwindSafe(fut)
        .catch_unwind()
        .await
        .map_err(|payload| {
            let detail = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "non-string panic payload".to_string());
            let what = format!("plugin {plugin_name} panicked in {hook}: {detail}");
            tracing::error!(plugin = %plugin_name, hook = %hook, "{what}");
            what
        })
}

fn to_value<T: serde::Serialize>(v: &T) -> Value {
    // Our own response structs always serialize.
    serde_json::to_value(v).unwrap_or(Value::Null)
}
