//! Proto messages ⇄ the JSON forms of the framework and the MCP transport.
//!
//! The server turns a request into the same [`InvokeHookArgs`] an MCP `tools/call` gives the
//! backend, and the backend's [`InvokeHookResponse`] into the proto answer; the client does the
//! reverse. So a hook's result does not depend on the transport beyond what the proto cannot
//! carry: `GlobalContext.user_context` and `content_type` have no field (they are dropped on the
//! way out and absent on the way in), and the three string ids travel as `""` for "none" (an
//! empty string reads back as `null`, except `request_id`, which the framework requires).

use plugwire_mcp::plugin_tools::{error_model, DEFAULT_PLUGIN_ERROR_CODE};
use plugwire_mcp::{InvokeHookArgs, InvokeHookResponse};
use serde_json::{Map, Value};

use crate::pb::cpex as pb;
use crate::pb::cpex::global_context::UserValue;
use crate::structs::{
    from_opt_struct, from_struct, from_struct_owned, into_struct, number, to_struct,
};

/// A request the server cannot hand to a plugin, with the field at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("InvokeHookRequest.{field} is required and was empty")]
pub struct MissingField {
    /// The proto field name.
    pub field: &'static str,
}

/// The JSON `PluginContext` request form of a proto context (absent → an empty context with an
/// empty `request_id`, which is what the Python client sends for no context at all).
pub fn context_to_json(ctx: Option<&pb::PluginContext>) -> Map<String, Value> {
    let gc = ctx.and_then(|c| c.global_context.as_ref());
    let mut g = Map::new();
    let id = |s: Option<&String>| match s {
        Some(s) if !s.is_empty() => Value::String(s.clone()),
        _ => Value::Null,
    };
    g.insert(
        "request_id".into(),
        Value::String(gc.map(|g| g.request_id.clone()).unwrap_or_default()),
    );
    let user = match gc.and_then(|g| g.user_value.as_ref()) {
        Some(UserValue::UserString(s)) => Value::String(s.clone()),
        Some(UserValue::UserStruct(s)) => Value::Object(from_struct(s)),
        None => Value::Null,
    };
    g.insert("user".into(), user);
    g.insert("tenant_id".into(), id(gc.map(|g| &g.tenant_id)));
    g.insert("server_id".into(), id(gc.map(|g| &g.server_id)));
    let gstate = from_opt_struct(gc.and_then(|g| g.state.as_ref()));
    let gmeta = from_opt_struct(gc.and_then(|g| g.metadata.as_ref()));
    g.insert("state".into(), Value::Object(gstate));
    g.insert("metadata".into(), Value::Object(gmeta));
    let mut m = Map::new();
    let state = from_opt_struct(ctx.and_then(|c| c.state.as_ref()));
    let meta = from_opt_struct(ctx.and_then(|c| c.metadata.as_ref()));
    m.insert("state".into(), Value::Object(state));
    m.insert("global_context".into(), Value::Object(g));
    m.insert("metadata".into(), Value::Object(meta));
    m
}

fn obj<'a>(m: &'a Map<String, Value>, key: &str) -> Option<&'a Map<String, Value>> {
    m.get(key).and_then(Value::as_object)
}

fn text(m: &Map<String, Value>, key: &str) -> String {
    m.get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// A JSON `PluginContext` (request form or answer form) as the proto message.
pub fn context_from_json(ctx: &Map<String, Value>) -> pb::PluginContext {
    let global_context = obj(ctx, "global_context").map(|g| pb::GlobalContext {
        request_id: text(g, "request_id"),
        server_id: text(g, "server_id"),
        tenant_id: text(g, "tenant_id"),
        user_value: match g.get("user") {
            Some(Value::String(s)) => Some(UserValue::UserString(s.clone())),
            Some(Value::Object(o)) => Some(UserValue::UserStruct(to_struct(o))),
            _ => None,
        },
        metadata: obj(g, "metadata").map(to_struct),
        state: obj(g, "state").map(to_struct),
    });
    pb::PluginContext {
        global_context,
        state: obj(ctx, "state").map(to_struct),
        metadata: obj(ctx, "metadata").map(to_struct),
    }
}

/// Server side: a proto request as the backend's arguments. Empty `hook_type` or `plugin_name`
/// cannot name a hook and is refused (the gRPC layer answers `INVALID_ARGUMENT` with this text).
pub fn request_to_args(req: &pb::InvokeHookRequest) -> Result<InvokeHookArgs, MissingField> {
    if req.hook_type.is_empty() {
        return Err(MissingField { field: "hook_type" });
    }
    if req.plugin_name.is_empty() {
        return Err(MissingField {
            field: "plugin_name",
        });
    }
    Ok(InvokeHookArgs {
        hook_type: req.hook_type.clone(),
        plugin_name: req.plugin_name.clone(),
        payload: from_opt_struct(req.payload.as_ref()),
        context: context_to_json(req.context.as_ref()),
    })
}

/// [`request_to_args`] taking the request: the payload's strings are moved into the JSON
/// form instead of copied (the server's hot path).
pub fn request_into_args(req: pb::InvokeHookRequest) -> Result<InvokeHookArgs, MissingField> {
    if req.hook_type.is_empty() {
        return Err(MissingField { field: "hook_type" });
    }
    if req.plugin_name.is_empty() {
        return Err(MissingField {
            field: "plugin_name",
        });
    }
    let context = context_to_json(req.context.as_ref());
    Ok(InvokeHookArgs {
        hook_type: req.hook_type,
        plugin_name: req.plugin_name,
        payload: req.payload.map(from_struct_owned).unwrap_or_default(),
        context,
    })
}

/// Client side: the arguments as a proto request.
pub fn args_to_request(args: InvokeHookArgs) -> pb::InvokeHookRequest {
    // The payload is moved, not copied: it is the large part of a request.
    let context = Some(context_from_json(&args.context));
    pb::InvokeHookRequest {
        hook_type: args.hook_type,
        plugin_name: args.plugin_name,
        payload: Some(into_struct(args.payload)),
        context,
    }
}

/// Server side: the backend's answer as the proto answer. The whole `PluginResult` goes into
/// `result` except `denial_metadata`, which travels typed (and sanitized) in `result_base`, as
/// the Python peers expect; `context` only when the answer has one.
pub fn response_to_proto(resp: &InvokeHookResponse) -> pb::InvokeHookResponse {
    let mut out = pb::InvokeHookResponse {
        plugin_name: resp.plugin_name.clone(),
        ..Default::default()
    };
    if let Some(Value::Object(result)) = &resp.result {
        let mut result = result.clone();
        if let Some(Value::Object(dm)) = result.shift_remove("denial_metadata") {
            out.result_base = Some(pb::PluginResultBase {
                denial_metadata: Some(sanitize_denial_metadata(&dm)),
                ..Default::default()
            });
        }
        out.result = Some(into_struct(result));
    }
    if let Some(Value::Object(ctx)) = &resp.context {
        out.context = Some(context_from_json(ctx));
    }
    if let Some(Value::Object(err)) = &resp.error {
        out.error = Some(pb::PluginError {
            message: text(err, "message"),
            plugin_name: text(err, "plugin_name"),
            code: text(err, "code"),
            details: obj(err, "details").map(to_struct),
            mcp_error_code: err
                .get("mcp_error_code")
                .and_then(Value::as_i64)
                .and_then(|c| i32::try_from(c).ok())
                .unwrap_or(DEFAULT_PLUGIN_ERROR_CODE as i32),
        });
    }
    out
}

/// [`response_to_proto`] taking the answer: the result's strings are moved into the proto
/// message instead of copied (the server's hot path).
pub fn response_into_proto(resp: InvokeHookResponse) -> pb::InvokeHookResponse {
    let InvokeHookResponse {
        plugin_name,
        result,
        error,
        context,
    } = resp;
    let mut out = response_to_proto(&InvokeHookResponse {
        plugin_name,
        result: None,
        error,
        context,
    });
    if let Some(Value::Object(mut result)) = result {
        if let Some(Value::Object(dm)) = result.shift_remove("denial_metadata") {
            out.result_base = Some(pb::PluginResultBase {
                denial_metadata: Some(sanitize_denial_metadata(&dm)),
                ..Default::default()
            });
        }
        out.result = Some(into_struct(result));
    }
    out
}

/// Client side: the proto answer in the MCP answer's shape. An `error` with a non-empty message
/// wins (the Python client's rule); otherwise `result`, with `result_base.denial_metadata` put
/// back in; an answer with neither is an error answer saying so.
pub fn response_from_proto(resp: pb::InvokeHookResponse) -> InvokeHookResponse {
    let name = resp.plugin_name;
    if let Some(err) = resp.error.filter(|e| !e.message.is_empty()) {
        let mut e = Map::new();
        e.insert("message".into(), Value::String(err.message));
        e.insert("plugin_name".into(), Value::String(err.plugin_name));
        e.insert("code".into(), Value::String(err.code));
        e.insert(
            "details".into(),
            Value::Object(from_opt_struct(err.details.as_ref())),
        );
        e.insert("mcp_error_code".into(), Value::from(err.mcp_error_code));
        return InvokeHookResponse::failure(name, Value::Object(e));
    }
    let Some(result) = resp.result else {
        let error = error_model(&name, "InvokeHookResponse carried neither result nor error");
        return InvokeHookResponse::failure(name, error);
    };
    // The result is moved out of the message: it holds the (possibly modified) payload.
    let mut result = from_struct_owned(result);
    let dm = resp
        .result_base
        .as_ref()
        .and_then(|b| b.denial_metadata.as_ref());
    if let Some(dm) = dm {
        result.insert("denial_metadata".into(), denial_metadata_to_json(dm));
    }
    let context = resp
        .context
        .as_ref()
        .map(|c| Value::Object(context_to_json(Some(c))));
    InvokeHookResponse::success(name, Value::Object(result), context)
}

/// Denial telemetry as the typed message, with the documented limits: at most 16 keys of
/// `[A-Za-z0-9._-]{1,64}`, values booleans, signed 64-bit integers or finite floats; other
/// entries are dropped, and more than 16 keys give an empty map.
pub fn sanitize_denial_metadata(dm: &Map<String, Value>) -> pb::DenialMetadata {
    use pb::denial_metric::Value as M;
    let mut fields = std::collections::HashMap::new();
    if dm.len() > 16 {
        return pb::DenialMetadata { fields };
    }
    let key_ok = |k: &str| {
        (1..=64).contains(&k.len())
            && k.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    };
    for (k, v) in dm.iter().filter(|(k, _)| key_ok(k)) {
        let metric = match v {
            Value::Bool(b) => M::Boolean(*b),
            Value::Number(n) => match (n.as_i64(), n.as_f64()) {
                (Some(i), _) => M::Integer(i),
                (None, Some(f)) if f.is_finite() && !n.is_u64() => M::Floating(f),
                _ => continue,
            },
            _ => continue,
        };
        fields.insert(
            k.clone(),
            pb::DenialMetric {
                value: Some(metric),
            },
        );
    }
    pb::DenialMetadata { fields }
}

/// The typed denial telemetry as a JSON object (keys sorted, for a stable order).
pub fn denial_metadata_to_json(dm: &pb::DenialMetadata) -> Value {
    use pb::denial_metric::Value as M;
    let mut keys: Vec<_> = dm.fields.keys().collect();
    keys.sort();
    let mut m = Map::new();
    for k in keys {
        let v = match dm.fields[k].value {
            Some(M::Boolean(b)) => Value::Bool(b),
            Some(M::Integer(i)) => Value::from(i),
            Some(M::Floating(f)) => number(f),
            None => Value::Null,
        };
        m.insert(k.clone(), v);
    }
    Value::Object(m)
}

/// `GetPluginConfig`'s answer: unknown plugin → `found: false` and no config.
pub fn config_response(config: Option<&Value>) -> pb::GetPluginConfigResponse {
    match config.and_then(Value::as_object) {
        Some(c) => pb::GetPluginConfigResponse {
            found: true,
            config: Some(to_struct(c)),
        },
        None => pb::GetPluginConfigResponse::default(),
    }
}

/// `GetPluginConfigs`' answer.
pub fn configs_response(configs: &[Value]) -> pb::GetPluginConfigsResponse {
    pb::GetPluginConfigsResponse {
        configs: configs
            .iter()
            .filter_map(Value::as_object)
            .map(to_struct)
            .collect(),
    }
}

/// Client side: `GetPluginConfig`'s answer as the MCP tool's JSON (`{}` when not found).
pub fn config_from_response(resp: &pb::GetPluginConfigResponse) -> Option<Value> {
    resp.found
        .then(|| Value::Object(from_opt_struct(resp.config.as_ref())))
}

#[cfg(test)]
#[path = "convert_tests.rs"]
mod tests;
