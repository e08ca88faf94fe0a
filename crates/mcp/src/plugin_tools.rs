//! The three tools of a ContextForge external plugin server, with the 1.0.0 argument and
//! result shapes (`docs/decisions.md` #7, #12, #21, #27, #28).
//!
//! Results are one text item holding JSON, pretty-printed with two spaces as the Python
//! runtime does (the Python client does not care, humans reading captures do). Payloads,
//! contexts, results and errors stay `serde_json::Value` here: their typed models belong to
//! `plugwire-framework`, and this crate must not depend on it.

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::jsonrpc::json_kind;
use crate::tools::{CallToolResult, Content, ListToolsResult, Tool};

/// Lists every plugin config of the server.
pub const GET_PLUGIN_CONFIGS: &str = "get_plugin_configs";
/// One plugin config by (case-insensitive) name.
pub const GET_PLUGIN_CONFIG: &str = "get_plugin_config";
/// Runs one hook of one plugin.
pub const INVOKE_HOOK: &str = "invoke_hook";

/// `mcp_error_code` of a plugin error that carries no other code (JSON-RPC internal error).
pub const DEFAULT_PLUGIN_ERROR_CODE: i64 = -32603;

/// The `tools/list` entries, with the input schemas FastMCP generates. `get_plugin_configs`
/// advertises FastMCP's `outputSchema`, so its result carries `structuredContent`.
pub fn plugin_tools() -> Vec<Tool> {
    vec![
        Tool {
            name: GET_PLUGIN_CONFIGS.to_string(),
            description: Some(
                "Get the plugin configurations installed on the server.".to_string(),
            ),
            input_schema: json!({
                "properties": {},
                "title": "get_plugin_configsArguments",
                "type": "object"
            }),
            output_schema: Some(json!({
                "properties": {
                    "result": {
                        "items": {"additionalProperties": true, "type": "object"},
                        "title": "Result",
                        "type": "array"
                    }
                },
                "required": ["result"],
                "title": "get_plugin_configsOutput",
                "type": "object"
            })),
            extra: Map::new(),
        },
        Tool {
            name: GET_PLUGIN_CONFIG.to_string(),
            description: Some(
                "Get the plugin configuration for a specific plugin (case-insensitive name; {} when unknown)."
                    .to_string(),
            ),
            input_schema: json!({
                "properties": {"name": {"title": "Name", "type": "string"}},
                "required": ["name"],
                "title": "get_plugin_configArguments",
                "type": "object"
            }),
            output_schema: None,
            extra: Map::new(),
        },
        Tool {
            name: INVOKE_HOOK.to_string(),
            description: Some(
                "Execute a hook for a plugin. Returns {plugin_name, result, context?} or {plugin_name, error}."
                    .to_string(),
            ),
            input_schema: json!({
                "properties": {
                    "hook_type": {"title": "Hook Type", "type": "string"},
                    "plugin_name": {"title": "Plugin Name", "type": "string"},
                    "payload": {"additionalProperties": true, "title": "Payload", "type": "object"},
                    "context": {"additionalProperties": true, "title": "Context", "type": "object"}
                },
                "required": ["hook_type", "plugin_name", "payload", "context"],
                "title": "invoke_hookArguments",
                "type": "object"
            }),
            output_schema: None,
            extra: Map::new(),
        },
    ]
}

/// The whole `tools/list` answer.
pub fn list_tools_result() -> ListToolsResult {
    ListToolsResult {
        tools: plugin_tools(),
        next_cursor: None,
    }
}

/// The `isError: true` answer to an unknown tool, worded as FastMCP does
/// (`docs/decisions.md` #21).
pub fn unknown_tool(name: &str) -> CallToolResult {
    CallToolResult::error(format!("Unknown tool: {name}"))
}

/// Pretty JSON (2-space indent), as `pydantic_core.to_json(indent=2)` writes it.
pub fn to_pretty_text(v: &Value) -> String {
    // Serializing a `Value` cannot fail.
    serde_json::to_string_pretty(v).unwrap_or_default()
}

/// `get_plugin_config` answer: the config dump, or `{}` when the plugin is unknown
/// (`docs/decisions.md` #21).
pub fn plugin_config_result(config: Option<&Value>) -> CallToolResult {
    match config {
        Some(v) => CallToolResult::text(to_pretty_text(v)),
        None => CallToolResult::text("{}"),
    }
}

/// `get_plugin_configs` answer: one text item per plugin plus `structuredContent`
/// `{"result": [...]}`, as FastMCP packs a `list[dict]` (`docs/decisions.md` #21).
pub fn plugin_configs_result(configs: Vec<Value>) -> CallToolResult {
    let content = configs
        .iter()
        .map(|c| Content::text(to_pretty_text(c)))
        .collect();
    CallToolResult {
        content,
        structured_content: Some(json!({ "result": configs })),
        is_error: false,
        extra: Map::new(),
    }
}

/// One failed check of a tool's arguments (pydantic's wording, so the text reads like the
/// Python server's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgIssue {
    /// The argument name.
    pub field: &'static str,
    /// `Field required`, `Input should be a valid string`, ...
    pub message: &'static str,
    /// pydantic's error type (`missing`, `string_type`, `dict_type`).
    pub kind: &'static str,
}

/// The arguments of a tool call did not validate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.text())]
pub struct ToolArgsError {
    /// The tool.
    pub tool: &'static str,
    /// Each failed check.
    pub issues: Vec<ArgIssue>,
}

impl ToolArgsError {
    /// The message FastMCP would send (`docs/decisions.md` #21):
    /// `Error executing tool invoke_hook: 1 validation error for invoke_hookArguments\ncontext\n  Field required [type=missing]`.
    pub fn text(&self) -> String {
        let n = self.issues.len();
        let mut s = format!(
            "Error executing tool {tool}: {n} validation error{plural} for {tool}Arguments",
            tool = self.tool,
            plural = if n == 1 { "" } else { "s" }
        );
        for i in &self.issues {
            s.push_str(&format!("\n{}\n  {} [type={}]", i.field, i.message, i.kind));
        }
        s
    }

    /// The `isError: true` tool result carrying [`ToolArgsError::text`].
    pub fn to_result(&self) -> CallToolResult {
        CallToolResult::error(self.text())
    }
}

fn take_string(
    args: &Map<String, Value>,
    field: &'static str,
    issues: &mut Vec<ArgIssue>,
) -> String {
    match args.get(field) {
        Some(Value::String(s)) => s.clone(),
        None => {
            issues.push(ArgIssue {
                field,
                message: "Field required",
                kind: "missing",
            });
            String::new()
        }
        Some(_) => {
            issues.push(ArgIssue {
                field,
                message: "Input should be a valid string",
                kind: "string_type",
            });
            String::new()
        }
    }
}

fn take_object(
    args: &Map<String, Value>,
    field: &'static str,
    issues: &mut Vec<ArgIssue>,
) -> Map<String, Value> {
    match args.get(field) {
        Some(Value::Object(m)) => m.clone(),
        None => {
            issues.push(ArgIssue {
                field,
                message: "Field required",
                kind: "missing",
            });
            Map::new()
        }
        Some(_) => {
            issues.push(ArgIssue {
                field,
                message: "Input should be a valid dictionary",
                kind: "dict_type",
            });
            Map::new()
        }
    }
}

/// `get_plugin_config` arguments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetPluginConfigArgs {
    /// Plugin name, matched case-insensitively.
    pub name: String,
}

impl GetPluginConfigArgs {
    /// Validates a `tools/call` arguments object (extra members are ignored, as pydantic does).
    pub fn from_arguments(args: &Map<String, Value>) -> Result<Self, ToolArgsError> {
        let mut issues = Vec::new();
        let name = take_string(args, "name", &mut issues);
        if issues.is_empty() {
            Ok(GetPluginConfigArgs { name })
        } else {
            Err(ToolArgsError {
                tool: GET_PLUGIN_CONFIG,
                issues,
            })
        }
    }

    /// The arguments object.
    pub fn to_arguments(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("name".into(), Value::String(self.name.clone()));
        m
    }
}

/// `invoke_hook` arguments (`docs/decisions.md` #19, #21).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InvokeHookArgs {
    /// One of the 12 hook names, e.g. `tool_pre_invoke`.
    pub hook_type: String,
    /// The server-side plugin name (exact match).
    pub plugin_name: String,
    /// The hook payload as JSON.
    pub payload: Map<String, Value>,
    /// The `PluginContext` as JSON.
    pub context: Map<String, Value>,
}

impl InvokeHookArgs {
    /// Validates a `tools/call` arguments object. Each of the four members must be present with
    /// the right JSON type; the payload and context contents are the framework's to check.
    pub fn from_arguments(args: &Map<String, Value>) -> Result<Self, ToolArgsError> {
        let mut issues = Vec::new();
        let hook_type = take_string(args, "hook_type", &mut issues);
        let plugin_name = take_string(args, "plugin_name", &mut issues);
        let payload = take_object(args, "payload", &mut issues);
        let context = take_object(args, "context", &mut issues);
        if issues.is_empty() {
            Ok(InvokeHookArgs {
                hook_type,
                plugin_name,
                payload,
                context,
            })
        } else {
            Err(ToolArgsError {
                tool: INVOKE_HOOK,
                issues,
            })
        }
    }

    /// The arguments object, in the Python client's member order.
    pub fn to_arguments(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("hook_type".into(), Value::String(self.hook_type.clone()));
        m.insert(
            "plugin_name".into(),
            Value::String(self.plugin_name.clone()),
        );
        m.insert("payload".into(), Value::Object(self.payload.clone()));
        m.insert("context".into(), Value::Object(self.context.clone()));
        m
    }
}

/// The JSON object inside an `invoke_hook` text result: `{plugin_name, result, context?}` on
/// success, `{plugin_name, error}` on failure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InvokeHookResponse {
    /// The plugin that ran (or was asked for).
    pub plugin_name: String,
    /// `PluginResult` JSON (6 keys) on success.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<Value>,
    /// `PluginErrorModel` JSON on failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<Value>,
    /// The updated `PluginContext`, only when its state/metadata/global state is non-empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<Value>,
}

impl InvokeHookResponse {
    /// A success answer.
    pub fn success(plugin_name: impl Into<String>, result: Value, context: Option<Value>) -> Self {
        InvokeHookResponse {
            plugin_name: plugin_name.into(),
            result: Some(result),
            error: None,
            context,
        }
    }

    /// A failure answer carrying a `PluginErrorModel` JSON object.
    pub fn failure(plugin_name: impl Into<String>, error: Value) -> Self {
        InvokeHookResponse {
            plugin_name: plugin_name.into(),
            result: None,
            error: Some(error),
            context: None,
        }
    }

    /// A failure answer built from a message alone (`code ""`, `details {}`, `mcp_error_code
    /// -32603`), for errors that happen outside any plugin (a panic, a shutdown).
    pub fn failure_message(plugin_name: &str, message: impl Into<String>) -> Self {
        InvokeHookResponse::failure(plugin_name, error_model(plugin_name, message))
    }

    /// The pretty JSON text of the answer.
    pub fn to_text(&self) -> String {
        to_pretty_text(&serde_json::to_value(self).unwrap_or(Value::Null))
    }

    /// The tool result (`isError: false`, always: errors travel inside, `docs/decisions.md` #12).
    pub fn to_result(&self) -> CallToolResult {
        CallToolResult::text(self.to_text())
    }

    /// Client side: finds the answer in a tool result as the Python 1.0.0 client does
    /// (`client.py:463-480`): the text items in order; a text that is not JSON stops the walk
    /// with [`ResponseDecodeError::NotJson`]; JSON that is not an object, or an object with
    /// neither `result` nor `error`, is skipped; the first object with either decides.
    ///
    /// Lenient where the Python client is: `plugin_name` is not checked (empty when absent), a
    /// `null` `context` counts as absent, and a present `result`/`error` member is kept even
    /// when `null`, so the caller's validation reports it.
    pub fn from_result(r: &CallToolResult) -> Result<Self, ResponseDecodeError> {
        let mut last_err = ResponseDecodeError::NoText;
        for text in r.texts() {
            match serde_json::from_str::<Value>(text) {
                Ok(Value::Object(mut obj))
                    if obj.contains_key("result") || obj.contains_key("error") =>
                {
                    let plugin_name = match obj.get("plugin_name") {
                        Some(Value::String(s)) => s.clone(),
                        _ => String::new(),
                    };
                    return Ok(InvokeHookResponse {
                        plugin_name,
                        result: obj.remove("result"),
                        error: obj.remove("error"),
                        context: obj.remove("context").filter(|c| !c.is_null()),
                    });
                }
                Ok(other) => {
                    last_err = ResponseDecodeError::NoResultOrError(json_kind(&other).to_string())
                }
                Err(e) => return Err(not_json(text, &e)),
            }
        }
        Err(last_err)
    }
}

/// Client side: the config in a `get_plugin_config` result as the Python 1.0.0 client reads it
/// (`client.py:524-530`): the first text item, as JSON; `{}` (the server's "unknown plugin")
/// and `null` are `None`.
pub fn plugin_config_from_result(
    r: &CallToolResult,
) -> Result<Option<Map<String, Value>>, ResponseDecodeError> {
    let text = r.texts().next().ok_or(ResponseDecodeError::NoText)?;
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(m)) if m.is_empty() => Ok(None),
        Ok(Value::Null) => Ok(None),
        Ok(Value::Object(m)) => Ok(Some(m)),
        Ok(other) => Err(ResponseDecodeError::NotAnObject(
            json_kind(&other).to_string(),
        )),
        Err(e) => Err(not_json(text, &e)),
    }
}

fn not_json(text: &str, e: &serde_json::Error) -> ResponseDecodeError {
    ResponseDecodeError::NotJson {
        snippet: text.chars().take(200).collect(),
        reason: e.to_string(),
    }
}

/// Why a tool result does not hold the answer a client expects.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ResponseDecodeError {
    /// No text content at all.
    #[error("the tool result has no text content")]
    NoText,
    /// A text item that is not JSON (e.g. a FastMCP `isError` message).
    #[error("the tool result text is not JSON ({reason}): {snippet}")]
    NotJson {
        /// The start of the text (200 characters at most).
        snippet: String,
        /// The JSON error.
        reason: String,
    },
    /// No JSON object with `result` or `error` (the kind of the last JSON text seen).
    #[error("the tool result JSON ({0}) has neither \"result\" nor \"error\"")]
    NoResultOrError(String),
    /// `get_plugin_config` answered JSON that is not an object.
    #[error("the tool result JSON is {0}, not an object")]
    NotAnObject(String),
}

/// A `PluginErrorModel` JSON object with only a message (the Python
/// `convert_exception_to_error` shape).
pub fn error_model(plugin_name: &str, message: impl Into<String>) -> Value {
    json!({
        "message": message.into(),
        "plugin_name": plugin_name,
        "code": "",
        "details": {},
        "mcp_error_code": DEFAULT_PLUGIN_ERROR_CODE
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => panic!("not an object"),
        }
    }

    #[test]
    fn invoke_hook_args_validate_like_fastmcp() {
        let err = InvokeHookArgs::from_arguments(&args(json!({
            "hook_type": "tool_pre_invoke", "plugin_name": "P", "payload": {"name": "x"}
        })))
        .unwrap_err();
        assert_eq!(
            err.text(),
            "Error executing tool invoke_hook: 1 validation error for invoke_hookArguments\ncontext\n  Field required [type=missing]"
        );
        let err = InvokeHookArgs::from_arguments(&args(json!({
            "hook_type": 3, "plugin_name": "P", "payload": [], "context": {}
        })))
        .unwrap_err();
        assert_eq!(err.issues.len(), 2);
        assert!(err.text().starts_with(
            "Error executing tool invoke_hook: 2 validation errors for invoke_hookArguments\nhook_type\n  Input should be a valid string"
        ));
        assert!(err
            .text()
            .contains("payload\n  Input should be a valid dictionary [type=dict_type]"));
        assert!(err.to_result().is_error);
    }

    #[test]
    fn invoke_hook_args_round_trip_and_ignore_extra() {
        let a = InvokeHookArgs::from_arguments(&args(json!({
            "hook_type": "tool_pre_invoke", "plugin_name": "P",
            "payload": {"name": "x"}, "context": {"global_context": {"request_id": "r"}}, "zz": 1
        })))
        .unwrap();
        let keys: Vec<_> = a.to_arguments().keys().cloned().collect();
        assert_eq!(keys, ["hook_type", "plugin_name", "payload", "context"]);
        assert_eq!(
            InvokeHookArgs::from_arguments(&a.to_arguments()).unwrap(),
            a
        );
    }

    #[test]
    fn get_plugin_config_args() {
        assert_eq!(
            GetPluginConfigArgs::from_arguments(&args(json!({"name": "X"})))
                .unwrap()
                .name,
            "X"
        );
        let e = GetPluginConfigArgs::from_arguments(&Map::new()).unwrap_err();
        assert!(e
            .text()
            .contains("for get_plugin_configArguments\nname\n  Field required"));
    }

    #[test]
    fn failure_message_shape() {
        let r = InvokeHookResponse::failure_message("P", "boom");
        assert_eq!(
            serde_json::to_value(&r).unwrap(),
            json!({"plugin_name": "P", "error": {"message": "boom", "plugin_name": "P",
                   "code": "", "details": {}, "mcp_error_code": -32603}})
        );
        let back = InvokeHookResponse::from_result(&r.to_result()).unwrap();
        assert_eq!(back, r);
    }

    fn texts(items: &[&str]) -> CallToolResult {
        CallToolResult {
            content: items.iter().map(|t| Content::text(*t)).collect(),
            ..CallToolResult::text("")
        }
    }

    #[test]
    fn from_result_walks_texts_like_the_python_client() {
        // JSON without `result`/`error` (object or not) and non-text items are skipped.
        let mut r = texts(&["[1]", r#"{"plugin_name":"P"}"#]);
        r.content.insert(
            0,
            serde_json::from_value(json!({"type": "image", "data": "x"})).unwrap(),
        );
        assert_eq!(
            InvokeHookResponse::from_result(&r),
            Err(ResponseDecodeError::NoResultOrError("an object".into()))
        );
        r.content.push(Content::text(
            r#"{"result":{"continue_processing":true},"context":null}"#,
        ));
        r.content
            .push(Content::text(r#"{"plugin_name":"Q","error":{}}"#));
        let first = InvokeHookResponse::from_result(&r).unwrap();
        assert_eq!(first.plugin_name, "", "plugin_name is not required");
        assert_eq!(first.result, Some(json!({"continue_processing": true})));
        assert_eq!((first.error, first.context), (None, None));
        // A present but null `result` is kept for the caller to reject.
        let null_result = InvokeHookResponse::from_result(&texts(&[r#"{"result":null}"#]));
        assert_eq!(null_result.unwrap().result, Some(Value::Null));
        assert_eq!(
            InvokeHookResponse::from_result(&texts(&[])),
            Err(ResponseDecodeError::NoText)
        );
    }

    #[test]
    fn from_result_stops_at_the_first_text_that_is_not_json() {
        let r = texts(&["not json", r#"{"plugin_name":"P","result":{}}"#]);
        let Err(ResponseDecodeError::NotJson { snippet, reason }) =
            InvokeHookResponse::from_result(&r)
        else {
            panic!("a later valid text must not be reached")
        };
        assert_eq!(snippet, "not json");
        assert_eq!(reason, "expected ident at line 1 column 2");
        let long = "x".repeat(500);
        let Err(ResponseDecodeError::NotJson { snippet, .. }) =
            InvokeHookResponse::from_result(&texts(&[&long]))
        else {
            panic!()
        };
        assert_eq!(snippet.len(), 200);
    }

    #[test]
    fn plugin_config_answer_round_trips() {
        let cfg = json!({"name": "P", "kind": "x.Y", "priority": 5});
        let decoded = plugin_config_from_result(&plugin_config_result(Some(&cfg))).unwrap();
        assert_eq!(decoded.map(Value::Object), Some(cfg));
        assert_eq!(
            plugin_config_from_result(&plugin_config_result(None)),
            Ok(None)
        );
        assert_eq!(
            plugin_config_from_result(&texts(&["null", "{\"a\":1}"])),
            Ok(None)
        );
        assert_eq!(
            plugin_config_from_result(&texts(&["[1]"])),
            Err(ResponseDecodeError::NotAnObject("an array".into()))
        );
        assert!(matches!(
            plugin_config_from_result(&texts(&["Unknown tool"])),
            Err(ResponseDecodeError::NotJson { .. })
        ));
        assert_eq!(
            plugin_config_from_result(&texts(&[])),
            Err(ResponseDecodeError::NoText)
        );
    }
}
