//! The production [`Backend`]: plugwire-framework's `PluginManager`.

use std::borrow::Borrow;
use std::sync::Arc;

use plugwire_framework::{
    GlobalContext, HookPayload, HookType, PayloadError, PluginContext, PluginError, PluginManager,
    PluginResult,
};
use plugwire_grpc::pb::cpex as pb;
use plugwire_grpc::pb::cpex::global_context::UserValue;
use plugwire_mcp::{
    ArgsDecoder, InvokeHookArgs, InvokeHookCall, InvokeHookResponse, RawInvokeHookArgs,
    TextResultWriter,
};
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use crate::backend::{AnswerKind, Backend, DecodedCall, ProtoAnswer, ProtoArgs};
use plugwire_grpc::answer;

/// Serves the plugins of one `PluginManager` (already initialized).
pub struct ManagerBackend {
    manager: Arc<PluginManager>,
    /// The config dump, computed once: every entry of the YAML (disabled ones too, as Python
    /// lists them), with all keys and explicit nulls, `mode` in the form both eras accept
    /// (`PluginConfig::to_wire_json`).
    configs: Vec<Value>,
}

impl ManagerBackend {
    /// Wraps an initialized manager.
    pub fn new(manager: Arc<PluginManager>) -> Self {
        let configs = manager
            .config()
            .plugins
            .iter()
            .map(|p| p.to_wire_json())
            .collect();
        ManagerBackend { manager, configs }
    }

    /// The manager, for shutdown.
    pub fn manager(&self) -> &Arc<PluginManager> {
        &self.manager
    }
}

#[async_trait::async_trait]
impl Backend for ManagerBackend {
    fn plugin_configs(&self) -> Vec<Value> {
        self.configs.clone()
    }

    fn runtime_disabled(&self) -> Vec<String> {
        self.manager.runtime_disabled()
    }

    fn runtime_disabled_stamp(&self) -> u64 {
        self.manager.runtime_disabled_stamp()
    }

    fn plugin_config(&self, name: &str) -> Option<Value> {
        self.manager
            .config()
            .plugin_ignore_case(name)
            .map(|p| p.to_wire_json())
    }

    async fn invoke_hook(&self, args: RawInvokeHookArgs<'_>, out: &mut TextResultWriter) {
        let name = args.plugin_name.as_str();
        let ran = match self.hook(name, &args.hook_type) {
            Ok(hook) => match PluginContext::from_json_str(args.context.get()) {
                Ok(ctx) => {
                    let payload = args.payload.get();
                    self.manager.invoke_plugin(name, hook, payload, ctx).await
                }
                Err(e) => Err(PluginError::invalid_payload(name, &e)),
            },
            Err(e) => Err(e),
        };
        write_text_answer(name, &args.hook_type, ran, out);
    }

    fn decode_call<'a>(&self, body: &'a [u8]) -> Option<DecodedCall<'a>> {
        InvokeHookCall::parse_decoded(body, &TypedArgs)
    }

    async fn invoke_decoded(&self, call: DecodedCall<'_>, out: &mut TextResultWriter) {
        let name = &*call.plugin_name;
        let (hook, payload) = call.payload;
        // Both models stay boxed down to the plugin's call (the manager unboxes the payload
        // there): the futures on the way hold pointers.
        let manager = &self.manager;
        let ran = manager.invoke_plugin_decoded(name, hook, payload, call.context);
        write_text_answer(name, &call.hook_type, ran.await, out);
    }

    async fn invoke_hook_json(&self, args: InvokeHookArgs) -> InvokeHookResponse {
        let InvokeHookArgs {
            hook_type,
            plugin_name,
            payload,
            context,
        } = args;
        let name = plugin_name.as_str();
        let context = || PluginContext::from_json(Value::Object(context)).map(Box::new);
        match self.run_json(name, &hook_type, payload, context).await {
            Ok((result, ctx)) => HookAnswer::new(name, &result, &ctx)
                .to_response()
                .unwrap_or_else(|e| HookAnswer::unencodable(name, &e)),
            Err(e) => HookAnswer::failure(name, &hook_type, e),
        }
    }

    async fn invoke_hook_proto(&self, args: ProtoArgs) -> ProtoAnswer {
        let ProtoArgs {
            hook_type,
            plugin_name,
            payload,
            context,
        } = args;
        let name = plugin_name.as_str();
        let context = || Ok(Box::new(context_from_proto(context.map(|c| *c))));
        match self.run_json(name, &hook_type, payload, context).await {
            Ok((result, ctx)) => HookAnswer::new(name, &result, &ctx)
                .to_proto()
                .unwrap_or_else(|e| ProtoAnswer::from_response(HookAnswer::unencodable(name, &e))),
            Err(e) => ProtoAnswer::from_response(HookAnswer::failure(name, &hook_type, e)),
        }
    }
}

/// Writes the answer text of a call that `ran` (both MCP entries).
fn write_text_answer(
    name: &str,
    hook_type: &str,
    ran: Result<(PluginResult, impl Borrow<PluginContext>), PluginError>,
    out: &mut TextResultWriter,
) {
    // What the answer says is recorded as it is written: the metrics layer then need not
    // read it back out of the text (profiled: half of its cost per call).
    let failed = match ran {
        Ok((result, ctx)) => {
            let answer = HookAnswer::new(name, &result, ctx.borrow());
            let mark = out.mark();
            match answer.write_text(&mut *out) {
                Ok(()) => return out.record_kind(answer.kind()),
                Err(e) => {
                    out.truncate(mark);
                    HookAnswer::unencodable(name, &e)
                }
            }
        }
        Err(e) => HookAnswer::failure(name, hook_type, e),
    };
    out.push_str(&failed.to_text());
    out.record_kind(AnswerKind::of_response(&failed));
}

/// The framework's models for [`InvokeHookCall::parse_decoded`]. An unknown hook, like any
/// payload or context that does not decode, ends the one read: the two-pass path then answers
/// the request, with the error words it always had.
struct TypedArgs;

impl ArgsDecoder for TypedArgs {
    type Payload = (HookType, Box<HookPayload>);
    type Context = Box<PluginContext>;

    fn payload<'de, D: Deserializer<'de>>(
        &self,
        hook_type: &str,
        d: D,
    ) -> Result<Self::Payload, D::Error> {
        let hook: HookType = hook_type.parse().map_err(D::Error::custom)?;
        HookPayload::deserialize_for(hook, d).map(|p| (hook, Box::new(p)))
    }

    fn context<'de, D: Deserializer<'de>>(&self, d: D) -> Result<Self::Context, D::Error> {
        PluginContext::deserialize(d).map(Box::new)
    }
}

impl ManagerBackend {
    /// The call of [`Backend::invoke_hook_json`] and [`Backend::invoke_hook_proto`], which
    /// differ only in the form of the context they get and of the answer they give.
    async fn run_json(
        &self,
        name: &str,
        hook_type: &str,
        payload: serde_json::Map<String, Value>,
        context: impl FnOnce() -> Result<Box<PluginContext>, PayloadError>,
    ) -> Result<(PluginResult, Box<PluginContext>), PluginError> {
        let hook = self.hook(name, hook_type)?;
        let ctx = context().map_err(|e| PluginError::invalid_payload(name, &e))?;
        self.manager
            .invoke_plugin_json(name, hook, payload, ctx)
            .await
    }

    /// The hook named by the request. Both entries check in the order the answers have always
    /// had (hook name, context, plugin, payload), and word each failure as decoding the same
    /// JSON as a `Value` words it (tests/invoke_errors.rs holds the recorded answers).
    fn hook(&self, plugin_name: &str, hook_type: &str) -> Result<HookType, PluginError> {
        hook_type
            .parse()
            .map_err(|_| PluginError::unknown_hook(plugin_name, hook_type))
    }
}

/// The success answer `{plugin_name, result, context?}`, serialized from the typed result: the
/// one place that knows the answer's shape, for both backend entries (as text for MCP, as the
/// value [`plugwire_mcp::InvokeHookResponse`] for gRPC and the raw socket), so they give the
/// same answer (`answer_forms_agree` below holds them to it).
#[derive(Serialize)]
struct HookAnswer<'a> {
    plugin_name: &'a str,
    result: &'a PluginResult,
    #[serde(skip_serializing_if = "Option::is_none")]
    context: Option<&'a PluginContext>,
}

impl<'a> HookAnswer<'a> {
    fn new(plugin_name: &'a str, result: &'a PluginResult, ctx: &'a PluginContext) -> Self {
        HookAnswer {
            plugin_name,
            result,
            // Python returns the context only when the plugin left something in it.
            context: (!ctx.is_empty()).then_some(ctx),
        }
    }

    /// The pretty text: the same as `InvokeHookResponse::success(..).to_text()`, without the
    /// `Value` copies.
    fn write_text(&self, out: &mut TextResultWriter) -> serde_json::Result<()> {
        out.write_pretty(self)
    }

    /// The answer as a value, serialized straight from the typed result.
    fn to_response(&self) -> serde_json::Result<InvokeHookResponse> {
        let context = self.context.map(serde_json::to_value).transpose()?;
        Ok(InvokeHookResponse::success(
            self.plugin_name,
            serde_json::to_value(self.result)?,
            context,
        ))
    }

    /// The answer as the bytes of the proto answer, written straight from the typed result
    /// (see [`plugwire_grpc::answer`]): the same bytes as encoding [`HookAnswer::to_response`]'s
    /// value (`answer_forms_agree` below).
    fn to_proto(&self) -> Result<ProtoAnswer, String> {
        let context = match self.context.map(serde_json::to_value).transpose() {
            Ok(Some(Value::Object(m))) => Some(m),
            Ok(_) => None,
            Err(e) => return Err(e.to_string()),
        };
        let dm = self.result.denial_metadata.as_ref();
        let message = answer::success(self.plugin_name, self.result, dm, context.as_ref())
            .map_err(|e| e.to_string())?;
        Ok(ProtoAnswer {
            message,
            kind: self.kind(),
        })
    }

    /// What metrics count for this answer: as [`AnswerKind::of_response`] reads its value.
    fn kind(&self) -> AnswerKind {
        let r = self.result;
        match (&r.violation, &r.modified_payload) {
            (Some(v), _) => AnswerKind::Violation(Some(v.code.clone())),
            (None, Some(_)) => AnswerKind::Modified,
            (None, None) => AnswerKind::Continue,
        }
    }

    /// A result that does not serialize (a plugin's own data can make that happen).
    fn unencodable(plugin_name: &str, e: &dyn std::fmt::Display) -> InvokeHookResponse {
        let what = format!("cannot encode the result: {e}");
        InvokeHookResponse::failure_message(plugin_name, what)
    }

    /// A failed call: the plugin's error model.
    fn failure(plugin_name: &str, hook_type: &str, e: PluginError) -> InvokeHookResponse {
        tracing::debug!(plugin = %plugin_name, hook = %hook_type, "hook error: {e}");
        InvokeHookResponse::failure(plugin_name, e.model.to_json())
    }
}

/// The typed context of a proto request: what `PluginContext::from_json` makes of
/// `plugwire_grpc::convert::context_to_json`'s JSON form (`typed_context_matches_the_json_one`
/// below), built by move with no JSON object in between (profiled: the two conversions were a
/// tenth of a raw-socket call). Like that form it cannot fail: an absent context is an empty
/// one with an empty `request_id`, the empty string ids are `None`, and the proto has no
/// `user_context` or `content_type`.
fn context_from_proto(ctx: Option<pb::PluginContext>) -> PluginContext {
    let pb::PluginContext {
        global_context,
        state,
        metadata,
    } = ctx.unwrap_or_default();
    let g = global_context.unwrap_or_default();
    let id = |s: String| (!s.is_empty()).then_some(s);
    let user = match g.user_value {
        Some(UserValue::UserString(s)) => Some(Value::String(s)),
        Some(UserValue::UserStruct(s)) => Some(Value::Object(s.0)),
        None => None,
    };
    let mut global = GlobalContext::new(g.request_id);
    global.user = user;
    global.tenant_id = id(g.tenant_id);
    global.server_id = id(g.server_id);
    global.state = g.state.map(|s| s.0).unwrap_or_default();
    global.metadata = g.metadata.map(|s| s.0).unwrap_or_default();
    let mut ctx = PluginContext::new(global);
    ctx.state = state.map(|s| s.0).unwrap_or_default();
    ctx.metadata = metadata.map(|s| s.0).unwrap_or_default();
    ctx
}

/// Builds the manager from a loaded config: plugins constructed, the effective timeout
/// (`plugin_timeout`, or `PLUGINS_PLUGIN_TIMEOUT`, docs/decisions.md #6) applied. Not yet
/// initialized: call [`initialize_manager`] after the sockets are bound.
pub fn build_manager(
    config: plugwire_framework::Config,
    registry: &plugwire_framework::PluginRegistry,
    env: &dyn plugwire_env::Env,
) -> Result<PluginManager, crate::ServerError> {
    let timeout = config.plugin_settings.effective_timeout(env)?;
    Ok(PluginManager::new(config, registry)?.with_timeout(timeout))
}

/// Runs every plugin's `initialize()`. A failing plugin is logged and skipped, as in Python,
/// unless `plugin_settings.fail_on_plugin_error` is set: then start-up stops with its error.
pub async fn initialize_manager(
    mut manager: PluginManager,
) -> Result<Arc<PluginManager>, crate::ServerError> {
    manager
        .initialize()
        .await
        .map_err(crate::ServerError::PluginInit)?;
    Ok(Arc::new(manager))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn text(answer: &HookAnswer<'_>) -> String {
        let mut out = TextResultWriter::text_only();
        answer
            .write_text(&mut out)
            .expect("a typed result serializes");
        String::from_utf8_lossy(out.written_since(0)).into_owned()
    }

    #[test]
    fn typed_context_matches_the_json_one() {
        use plugwire_grpc::convert::context_to_json;
        use plugwire_grpc::json_struct::JsonStruct;
        let map = |v: Value| match v {
            Value::Object(m) => Some(JsonStruct(m)),
            _ => None,
        };
        let full = pb::PluginContext {
            global_context: Some(pb::GlobalContext {
                request_id: "r1".into(),
                server_id: "s".into(),
                tenant_id: String::new(),
                user_value: Some(UserValue::UserStruct(
                    map(json!({"id": 1, "n": null})).unwrap(),
                )),
                metadata: map(json!({"m": [1, "x"]})),
                state: map(json!({"g": {"deep": true}})),
            }),
            state: map(json!({"seen": 1})),
            metadata: None,
        };
        let mut user_string = full.clone();
        if let Some(g) = user_string.global_context.as_mut() {
            g.user_value = Some(UserValue::UserString(String::new()));
            g.tenant_id = "t".into();
        }
        let no_global = pb::PluginContext {
            global_context: None,
            ..full.clone()
        };
        for ctx in [Some(full), Some(user_string), Some(no_global), None] {
            let json = PluginContext::from_json(Value::Object(context_to_json(ctx.as_ref())));
            assert_eq!(
                Ok(context_from_proto(ctx.clone())),
                json.map_err(|e| e.to_string())
            );
        }
    }

    /// The kind `write_text_answer` records is what the metrics layer would read from the text
    /// it wrote (`classify_text`), for every outcome: continue, modified, a violation with its
    /// code, an error, a timeout.
    #[test]
    fn recorded_kinds_say_what_the_text_says() {
        use crate::metered::{classify_kind, classify_text};
        use std::time::Duration;
        let hook = HookType::ToolPreInvoke;
        let result = |v: Value| PluginResult::from_json(hook, v).expect("a valid result");
        let ctx = PluginContext::from_json(json!({"global_context": {"request_id": "r"}}))
            .expect("a valid context");
        let modified = json!({"modified_payload": {"name": "t", "args": {"violation": 1}}});
        let blocked = json!({"continue_processing": false,
            "violation": {"reason": "r", "description": "d", "code": "A\"B\n", "details": {}}});
        let ran = [
            Ok(result(json!({}))),
            Ok(result(modified)),
            Ok(result(blocked)),
            Err(PluginError::unknown_hook("P", "nope")),
            Err(PluginError::timeout("P", Duration::from_millis(50))),
        ];
        let mut seen = Vec::new();
        for ran in ran {
            for mut out in [
                TextResultWriter::text_only(),
                TextResultWriter::new(&plugwire_mcp::RequestId::from(1)),
            ] {
                let ran = ran.clone().map(|r| (r, ctx.clone()));
                write_text_answer("P", "tool_pre_invoke", ran, &mut out);
                let kind = out.take_kind().expect("the manager's answers are recorded");
                let (outcome, code) = classify_kind(&kind);
                let read = classify_text(out.written_since(0), out.text_is_escaped());
                assert_eq!((outcome, code), (read.0, read.1.as_deref()), "{kind:?}");
                seen.push(outcome);
            }
        }
        use plugwire_metrics::Outcome::*;
        let all = [Continue, Modified, Violation, Error, Timeout];
        assert_eq!(seen, all.iter().flat_map(|o| [*o, *o]).collect::<Vec<_>>());
    }

    #[test]
    fn answer_forms_agree() {
        let hook = HookType::ToolPreInvoke;
        let result = json!({
            "continue_processing": false,
            "modified_payload": {"name": "t", "args": {"n": 3, "f": 3.0, "s": "é\n\"", "l": [1, null]}},
            "violation": {"reason": "r", "description": "d", "code": "X", "details": {"k": [true]}},
            "metadata": {"m": {"deep": 1}},
            "retry_delay_ms": 5,
        });
        let result = PluginResult::from_json(hook, result).expect("a valid result");
        let ctx = PluginContext::from_json(json!({
            "state": {"seen": 1},
            "global_context": {"request_id": "r1", "user": "alice", "state": {"g": "x"}},
            "metadata": {},
        }))
        .expect("a valid context");
        let empty = PluginContext::from_json(json!({"global_context": {"request_id": "r2"}}))
            .expect("a valid context");
        for ctx in [&ctx, &empty] {
            let answer = HookAnswer::new("P", &result, ctx);
            let value = answer.to_response().expect("a typed result serializes");
            assert_eq!(text(&answer), value.to_text());
            let proto = answer.to_proto().expect("a typed result encodes");
            assert_eq!(proto, ProtoAnswer::from_response(value.clone()));
            // The context only when the plugin left something in it.
            assert_eq!(value.context.is_some(), !ctx.is_empty());
        }
    }
}
