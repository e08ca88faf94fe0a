//! Decoding `tools/call` answers as the Python 1.0.0 client does: walk the text contents in
//! order; the first JSON object holding `result` or `error` decides; its `context` (state,
//! metadata, global_context.state only) is copied back into the caller's context.

use plugwire_framework::{
    HookType, PluginConfig, PluginContext, PluginError, PluginErrorKind, PluginErrorModel,
    PluginResult,
};
use serde_json::Value;

/// The text items of a `CallToolResult`, in order (non-text contents are skipped).
fn texts(call_result: &Value) -> Vec<&str> {
    call_result
        .get("content")
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter(|c| c.get("type").and_then(Value::as_str) == Some("text"))
                .filter_map(|c| c.get("text").and_then(Value::as_str))
                .collect()
        })
        .unwrap_or_default()
}

fn is_error(call_result: &Value) -> bool {
    call_result.get("isError").and_then(Value::as_bool) == Some(true)
}

fn protocol_error(plugin: &str, url: &str, code: &str, message: String) -> PluginError {
    PluginError::new(
        PluginErrorKind::Transport,
        plugin,
        format!("external plugin '{plugin}' ({url}): {message}"),
    )
    .with_code(code)
}

/// Decodes an `invoke_hook` answer into the hook's result, updating `ctx`.
pub fn decode_invoke_hook(
    plugin: &str,
    url: &str,
    hook: HookType,
    call_result: &Value,
    ctx: &mut PluginContext,
) -> Result<PluginResult, PluginError> {
    if is_error(call_result) {
        let text = texts(call_result).join("\n");
        return Err(protocol_error(
            plugin,
            url,
            "TOOL_ERROR",
            format!("the server rejected the invoke_hook call: {text}"),
        ));
    }
    for text in texts(call_result) {
        let value: Value = serde_json::from_str(text).map_err(|e| {
            protocol_error(
                plugin,
                url,
                "JSON_DECODE_ERROR",
                format!(
                    "Error trying to decode json: {e}; text starts with {:?}",
                    text.chars().take(120).collect::<String>()
                ),
            )
        })?;
        let Some(object) = value.as_object() else {
            continue;
        };
        if !object.contains_key("result") && !object.contains_key("error") {
            continue;
        }
        if let Some(context) = object.get("context").filter(|c| !c.is_null()) {
            let returned = PluginContext::from_json(context.clone()).map_err(|e| {
                protocol_error(
                    plugin,
                    url,
                    "INVALID_CONTEXT",
                    format!("invalid context in invoke_hook answer: {e}"),
                )
            })?;
            ctx.state = returned.state;
            ctx.metadata = returned.metadata;
            ctx.global_context.state = returned.global_context.state;
        }
        if let Some(result) = object.get("result") {
            return PluginResult::from_json(hook, result.clone()).map_err(|e| {
                protocol_error(
                    plugin,
                    url,
                    "INVALID_RESULT",
                    format!("invalid {} result: {e}", hook.as_str()),
                )
            });
        }
        if let Some(error) = object.get("error") {
            let model = PluginErrorModel::from_json(error.clone()).map_err(|e| {
                protocol_error(
                    plugin,
                    url,
                    "INVALID_ERROR",
                    format!("invalid error object in invoke_hook answer: {e}"),
                )
            })?;
            return Err(PluginError::from_model(model));
        }
    }
    Err(protocol_error(
        plugin,
        url,
        "INVALID_RESPONSE",
        format!(
            "Received invalid response: no text content with 'result' or 'error'. Result = {}",
            crate::http::snippet(call_result.to_string().as_bytes())
        ),
    ))
}

/// Decodes a `get_plugin_config` answer: the first text content, a JSON object; `{}` means the
/// server has no plugin of that name (`Ok(None)`).
pub fn decode_plugin_config(
    plugin: &str,
    url: &str,
    call_result: &Value,
) -> Result<Option<(PluginConfig, Value)>, PluginError> {
    if is_error(call_result) {
        return Err(protocol_error(
            plugin,
            url,
            "TOOL_ERROR",
            format!(
                "get_plugin_config failed on the server: {}",
                texts(call_result).join("\n")
            ),
        ));
    }
    let Some(text) = texts(call_result).into_iter().next() else {
        return Err(protocol_error(
            plugin,
            url,
            "INVALID_RESPONSE",
            "get_plugin_config returned no text content".into(),
        ));
    };
    let value: Value = serde_json::from_str(text).map_err(|e| {
        protocol_error(
            plugin,
            url,
            "JSON_DECODE_ERROR",
            format!("get_plugin_config returned text that is not JSON: {e}"),
        )
    })?;
    match &value {
        Value::Object(m) if m.is_empty() => Ok(None),
        Value::Null => Ok(None),
        Value::Object(_) => {
            let cfg = PluginConfig::from_json(value.clone()).map_err(|e| {
                protocol_error(
                    plugin,
                    url,
                    "INVALID_CONFIG",
                    format!("the remote plugin config does not decode: {e}"),
                )
            })?;
            Ok(Some((cfg, value)))
        }
        _ => Err(protocol_error(
            plugin,
            url,
            "INVALID_CONFIG",
            "get_plugin_config returned JSON that is not an object".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use plugwire_framework::GlobalContext;
    use serde_json::json;

    fn ctx() -> PluginContext {
        let mut c = PluginContext::new(GlobalContext::new("req-1"));
        c.global_context.metadata.insert("keep".into(), json!(1));
        c
    }

    fn wrap(text: &str) -> Value {
        json!({"content": [{"type": "image", "data": "x"}, {"type": "text", "text": text}], "isError": false})
    }

    #[test]
    fn result_and_context_are_applied() {
        let text = json!({"plugin_name": "P", "result": {"continue_processing": true,
            "modified_payload": {"name": "search", "args": {"q": "h***o"}}, "violation": null,
            "metadata": null, "http_headers": null, "retry_delay_ms": 0},
            "context": {"state": {"seen": 1}, "metadata": {"m": 2},
                "global_context": {"request_id": "other", "state": {"g": 3}, "metadata": {"lost": true}}}})
        .to_string();
        let mut c = ctx();
        let r =
            decode_invoke_hook("P", "u", HookType::ToolPreInvoke, &wrap(&text), &mut c).unwrap();
        assert!(r.continue_processing);
        assert!(r.metadata.is_none());
        assert!(r.modified_payload.is_some());
        assert_eq!(c.state["seen"], 1);
        assert_eq!(c.metadata["m"], 2);
        assert_eq!(c.global_context.state["g"], 3);
        // Only the three maps come back; the rest of the global context is ours.
        assert_eq!(c.global_context.request_id, "req-1");
        assert_eq!(c.global_context.metadata["keep"], 1);
    }

    #[test]
    fn error_object_becomes_plugin_error_with_its_model() {
        let text = r#"{"plugin_name":"P","error":{"message":"ValueError('boom')","plugin_name":"P","code":"","details":{},"mcp_error_code":-32603}}"#;
        let err = decode_invoke_hook("P", "u", HookType::ToolPreInvoke, &wrap(text), &mut ctx())
            .unwrap_err();
        assert_eq!(err.kind(), PluginErrorKind::Plugin);
        assert_eq!(err.message(), "ValueError('boom')");
    }

    #[test]
    fn bad_shapes_are_typed_errors() {
        let mut c = ctx();
        let e = decode_invoke_hook("P", "u", HookType::ToolPreInvoke, &wrap("not json"), &mut c)
            .unwrap_err();
        assert_eq!(e.model.code.as_deref(), Some("JSON_DECODE_ERROR"));
        let e = decode_invoke_hook(
            "P",
            "u",
            HookType::ToolPreInvoke,
            &wrap("{\"x\":1}"),
            &mut c,
        )
        .unwrap_err();
        assert_eq!(e.model.code.as_deref(), Some("INVALID_RESPONSE"));
        let tool_err = json!({"content": [{"type": "text", "text": "Unknown tool: invoke_hook"}], "isError": true});
        let e =
            decode_invoke_hook("P", "u", HookType::ToolPreInvoke, &tool_err, &mut c).unwrap_err();
        assert_eq!(e.model.code.as_deref(), Some("TOOL_ERROR"));
        assert!(e.message().contains("Unknown tool"), "{}", e.message());
        let bad_payload =
            json!({"plugin_name": "P", "result": {"modified_payload": {}}}).to_string();
        let e = decode_invoke_hook(
            "P",
            "u",
            HookType::ToolPreInvoke,
            &wrap(&bad_payload),
            &mut c,
        )
        .unwrap_err();
        assert_eq!(e.model.code.as_deref(), Some("INVALID_RESULT"));
        let e =
            decode_invoke_hook("P", "u", HookType::ToolPreInvoke, &json!({}), &mut c).unwrap_err();
        assert_eq!(e.model.code.as_deref(), Some("INVALID_RESPONSE"));
    }

    #[test]
    fn empty_remote_config_means_not_found() {
        let none = decode_plugin_config("P", "u", &wrap("{}")).unwrap();
        assert!(none.is_none());
        let text = r#"{"name":"P","kind":"x.Y","hooks":["tool_pre_invoke"],"priority":5,"mode":"enforce","config":{"a":1}}"#;
        let (cfg, _) = decode_plugin_config("P", "u", &wrap(text))
            .unwrap()
            .unwrap();
        assert_eq!(cfg.priority, 5);
        assert!(cfg.is_set("config"));
    }
}
