//! What the plugin tests share: a built-in by kind, one hook call with a fresh context, the
//! tool payloads they feed, and the modified payload as JSON. Each test binary uses a part.
#![allow(dead_code, clippy::unwrap_used)]

use std::sync::Arc;

use plugwire_framework::{
    GlobalContext, HookPayload, ModifiedPayload, Plugin, PluginConfig, PluginContext, PluginError,
    PluginResult, ToolPostInvokePayload, ToolPreInvokePayload,
};
use serde_json::Value;

/// The built-in of `kind` named `P` with `config`, or its construction error.
pub fn build(kind: &str, config: Value) -> Result<Arc<dyn Plugin>, PluginError> {
    let mut c = PluginConfig::new("P", kind);
    c.config = config.as_object().cloned();
    plugwire_plugins::builtin_registry()
        .create(c)
        .expect("kind registered")
}

/// [`build`] that must succeed.
pub fn plugin(kind: &str, config: Value) -> Arc<dyn Plugin> {
    build(kind, config).unwrap_or_else(|e| panic!("{kind}: {e}"))
}

/// A fresh context of request `req-1`.
pub fn ctx() -> PluginContext {
    PluginContext::new(GlobalContext::new("req-1"))
}

/// One hook call with a fresh context; the result and the context it left.
pub async fn try_run(
    p: &Arc<dyn Plugin>,
    payload: impl Into<HookPayload>,
) -> Result<(PluginResult, PluginContext), PluginError> {
    let mut c = ctx();
    let r = p.invoke(payload.into(), &mut c).await?;
    Ok((r, c))
}

/// `crm_update` called with `args` (an object, else no arguments).
pub fn tool_pre(args: Value) -> ToolPreInvokePayload {
    ToolPreInvokePayload {
        name: "crm_update".into(),
        args: args.as_object().cloned(),
        headers: None,
    }
}

/// `crm_lookup` returning `result`.
pub fn tool_post(result: Value) -> ToolPostInvokePayload {
    ToolPostInvokePayload {
        name: "crm_lookup".into(),
        result,
    }
}

/// The modified payload as JSON; `null` when the plugin changed nothing.
pub fn out(r: &PluginResult) -> Value {
    r.modified_payload
        .as_ref()
        .map_or(Value::Null, ModifiedPayload::to_json)
}
