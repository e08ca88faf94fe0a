//! Decoding `tools/call` answers as the Python 1.0.0 client does: walk the text contents in
//! order; the first JSON object holding `result` or `error` decides; its `context` (state,
//! metadata, global_context.state only) is copied back into the caller's context.

use plugwire_framework::{
    capability_error, Capability, HookType, OnError, PluginConfig, PluginContext, PluginError,
    PluginErrorKind, PluginErrorModel, PluginMode, PluginResult,
};
use plugwire_mcp::{
    plugin_config_from_result, CallToolResult, InvokeHookResponse, ResponseDecodeError,
};
use serde_json::Value;

fn protocol_error(plugin: &str, url: &str, code: &str, message: String) -> PluginError {
    PluginError::new(
        PluginErrorKind::Transport,
        plugin,
        format!("external plugin '{plugin}' ({url}): {message}"),
    )
    .with_code(code)
}

/// A tool-level error (`isError: true`: unknown tool, bad arguments), `what` then its texts.
fn tool_error(plugin: &str, url: &str, what: &str, call_result: &CallToolResult) -> PluginError {
    let texts = call_result.texts().collect::<Vec<_>>().join("\n");
    protocol_error(plugin, url, "TOOL_ERROR", format!("{what}: {texts}"))
}

/// Decodes an `invoke_hook` answer into the hook's result, updating `ctx`. Which text item
/// decides is [`InvokeHookResponse::from_result`]'s job (the Python 1.0.0 walk); this turns the
/// answer into framework types and each failure into a coded `PluginError`.
pub fn decode_invoke_hook(
    plugin: &str,
    url: &str,
    hook: HookType,
    call_result: &CallToolResult,
    ctx: &mut PluginContext,
) -> Result<PluginResult, PluginError> {
    // The Python client ignores `isError` (and then fails on the text as JSON); saying that the
    // server refused the call is the clearer message.
    if call_result.is_error {
        let what = "the server rejected the invoke_hook call";
        return Err(tool_error(plugin, url, what, call_result));
    }
    let invalid_response = || {
        let dump = serde_json::to_vec(call_result).unwrap_or_default();
        protocol_error(
            plugin,
            url,
            "INVALID_RESPONSE",
            format!(
                "Received invalid response: no text content with 'result' or 'error'. Result = {}",
                crate::http::snippet(&dump)
            ),
        )
    };
    let answer = InvokeHookResponse::from_result(call_result).map_err(|e| match e {
        ResponseDecodeError::NotJson { snippet, reason } => protocol_error(
            plugin,
            url,
            "JSON_DECODE_ERROR",
            format!(
                "Error trying to decode json: {reason}; text starts with {:?}",
                snippet.chars().take(120).collect::<String>()
            ),
        ),
        _ => invalid_response(),
    })?;
    decode_answer(plugin, url, hook, answer, ctx)
}

/// The typed result (or error) of a decoded `invoke_hook` answer; the returned context's
/// `state`, `metadata` and global `state` go into `ctx`. gRPC and the raw socket start here.
pub fn decode_answer(
    plugin: &str,
    url: &str,
    hook: HookType,
    answer: InvokeHookResponse,
    ctx: &mut PluginContext,
) -> Result<PluginResult, PluginError> {
    if let Some(context) = answer.context {
        let returned = PluginContext::from_json(context).map_err(|e| {
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
    match (answer.result, answer.error) {
        (Some(result), _) => PluginResult::from_json(hook, result).map_err(|e| {
            protocol_error(
                plugin,
                url,
                "INVALID_RESULT",
                format!("invalid {} result: {e}", hook.as_str()),
            )
        }),
        (None, Some(error)) => {
            let model = PluginErrorModel::from_json(error).map_err(|e| {
                protocol_error(
                    plugin,
                    url,
                    "INVALID_ERROR",
                    format!("invalid error object in invoke_hook answer: {e}"),
                )
            })?;
            Err(PluginError::from_model(model))
        }
        // `from_result` and the proto conversion only give answers that hold one of the two.
        (None, None) => Err(protocol_error(
            plugin,
            url,
            "INVALID_RESPONSE",
            "Received invalid response: no 'result' or 'error'".into(),
        )),
    }
}

/// Decodes a `get_plugin_config` answer (first text item, a JSON object); `{}` means the server
/// has no plugin of that name (`Ok(None)`).
pub fn decode_plugin_config(
    plugin: &str,
    url: &str,
    call_result: &CallToolResult,
) -> Result<Option<(PluginConfig, Value)>, PluginError> {
    if call_result.is_error {
        let what = "get_plugin_config failed on the server";
        return Err(tool_error(plugin, url, what, call_result));
    }
    let remote = plugin_config_from_result(call_result).map_err(|e| match e {
        ResponseDecodeError::NoText => protocol_error(
            plugin,
            url,
            "INVALID_RESPONSE",
            "get_plugin_config returned no text content".into(),
        ),
        ResponseDecodeError::NotJson { reason, .. } => protocol_error(
            plugin,
            url,
            "JSON_DECODE_ERROR",
            format!("get_plugin_config returned text that is not JSON: {reason}"),
        ),
        _ => protocol_error(
            plugin,
            url,
            "INVALID_CONFIG",
            "get_plugin_config returned JSON that is not an object".into(),
        ),
    })?;
    let Some(remote) = remote else {
        return Ok(None);
    };
    let value = Value::Object(remote);
    if let Some(why) = vocabulary_problem(&value) {
        return Err(protocol_error(
            plugin,
            url,
            "INVALID_CONFIG",
            format!("the remote plugin config is refused: {why}"),
        ));
    }
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

/// The keys whose values come from a fixed vocabulary (which grows between eras), checked one
/// by one so the message names the key and lists the valid values of both eras.
fn vocabulary_problem(value: &Value) -> Option<String> {
    fn check<T: serde::de::DeserializeOwned>(value: &Value, key: &str) -> Option<String> {
        let v = value.get(key)?;
        serde_json::from_value::<Option<T>>(v.clone())
            .err()
            .map(|e| format!("key `{key}`: {e}"))
    }
    check::<PluginMode>(value, "mode")
        .or_else(|| check::<OnError>(value, "on_error"))
        .or_else(|| {
            let Value::Array(items) = value.get("capabilities")? else {
                return None;
            };
            items.iter().find_map(|i| match i.as_str() {
                Some(c) if Capability::parse(c).is_some() => None,
                Some(c) => Some(format!("key `capabilities`: {}", capability_error(c))),
                None => Some(format!(
                    "key `capabilities`: expected a capability name, found {i}"
                )),
            })
        })
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

    fn result(v: Value) -> CallToolResult {
        serde_json::from_value(v).unwrap()
    }

    fn wrap(text: &str) -> CallToolResult {
        result(
            json!({"content": [{"type": "image", "data": "x"}, {"type": "text", "text": text}], "isError": false}),
        )
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
        let e = decode_invoke_hook("P", "u", HookType::ToolPreInvoke, &result(tool_err), &mut c)
            .unwrap_err();
        assert_eq!(e.model.code.as_deref(), Some("TOOL_ERROR"));
        assert_eq!(
            e.message(),
            "external plugin 'P' (u): the server rejected the invoke_hook call: Unknown tool: invoke_hook"
        );
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
        let e = decode_invoke_hook(
            "P",
            "u",
            HookType::ToolPreInvoke,
            &result(json!({})),
            &mut c,
        )
        .unwrap_err();
        assert_eq!(e.model.code.as_deref(), Some("INVALID_RESPONSE"));
        assert_eq!(
            e.message(),
            "external plugin 'P' (u): Received invalid response: no text content with 'result' or 'error'. \
             Result = {\"content\":[],\"isError\":false}"
        );
    }

    #[test]
    fn texts_are_walked_in_order_until_result_or_error() {
        let two = |a: &str, b: &str| {
            result(json!({"content": [{"type": "text", "text": a}, {"type": "text", "text": b}]}))
        };
        let pass = r#"{"plugin_name":"P","result":{"continue_processing":true}}"#;
        // JSON without `result`/`error` is skipped ...
        let r = decode_invoke_hook(
            "P",
            "u",
            HookType::ToolPreInvoke,
            &two("{\"note\":1}", pass),
            &mut ctx(),
        );
        assert!(r.unwrap().continue_processing);
        // ... but text that is not JSON ends the walk, as in the Python client.
        let e = decode_invoke_hook(
            "P",
            "u",
            HookType::ToolPreInvoke,
            &two("oops", pass),
            &mut ctx(),
        )
        .unwrap_err();
        assert_eq!(e.model.code.as_deref(), Some("JSON_DECODE_ERROR"));
        assert_eq!(
            e.message(),
            "external plugin 'P' (u): Error trying to decode json: expected value at line 1 column 1; \
             text starts with \"oops\""
        );
        // A present `result: null` is reported, not mistaken for an error answer.
        let e = decode_invoke_hook(
            "P",
            "u",
            HookType::ToolPreInvoke,
            &wrap(r#"{"result":null,"error":{"message":"m"}}"#),
            &mut ctx(),
        )
        .unwrap_err();
        assert_eq!(e.model.code.as_deref(), Some("INVALID_RESULT"));
    }

    #[test]
    fn empty_remote_config_means_not_found() {
        let none = decode_plugin_config("P", "u", &wrap("{}")).unwrap();
        assert!(none.is_none());
        let e = decode_plugin_config("P", "u", &wrap("[]")).unwrap_err();
        assert_eq!(e.model.code.as_deref(), Some("INVALID_CONFIG"));
        let e = decode_plugin_config("P", "u", &wrap("nope")).unwrap_err();
        assert_eq!(e.model.code.as_deref(), Some("JSON_DECODE_ERROR"));
        let text = r#"{"name":"P","kind":"x.Y","hooks":["tool_pre_invoke"],"priority":5,"mode":"enforce","config":{"a":1}}"#;
        let (cfg, _) = decode_plugin_config("P", "u", &wrap(text))
            .unwrap()
            .unwrap();
        assert_eq!(cfg.priority, 5);
        assert!(cfg.is_set("config"));
    }

    #[test]
    fn a_1_1_0_config_decodes_and_an_unknown_mode_is_named() {
        // The cpex server's answer (its capture's keys, plus a capability and a future key).
        let text = r#"{"name":"P","description":null,"author":null,"kind":"m.P","namespace":null,
            "version":"0.1.0","hooks":["tool_pre_invoke"],"tags":[],"mode":"transform",
            "on_error":"ignore","priority":150,"max_content_size":5000,"conditions":[],
            "applied_to":null,"capabilities":["read_subject","append_labels"],"config":{"w":1},
            "mcp":null,"grpc":null,"unix_socket":null,"some_future_key":{"x":1}}"#;
        let (cfg, _) = decode_plugin_config("P", "u", &wrap(text))
            .unwrap()
            .unwrap();
        assert_eq!(cfg.mode, PluginMode::Transform);
        assert_eq!(cfg.effective_on_error(), OnError::Ignore);
        assert_eq!(cfg.max_content_size, 5000);
        assert_eq!(
            cfg.to_json()["capabilities"],
            serde_json::json!(["append_labels", "read_subject"])
        );
        for (text, key, listed) in [
            (
                r#"{"name":"P","kind":"k","mode":"strict"}"#,
                "mode",
                "fire_and_forget",
            ),
            (
                r#"{"name":"P","kind":"k","mode":"Sequential"}"#,
                "mode",
                "enforce_ignore_error",
            ),
            (
                r#"{"name":"P","kind":"k","on_error":"retry"}"#,
                "on_error",
                "disable",
            ),
            (
                r#"{"name":"P","kind":"k","capabilities":["read_x"]}"#,
                "capabilities",
                "read_subject",
            ),
        ] {
            let e = decode_plugin_config("P", "u", &wrap(text)).unwrap_err();
            assert_eq!(e.model.code.as_deref(), Some("INVALID_CONFIG"));
            let m = e.message();
            assert!(
                m.contains("'P'") && m.contains(&format!("key `{key}`")) && m.contains(listed),
                "{m}"
            );
        }
    }
}
