//! Hook payloads, field for field the 1.0.0 pydantic models; cpex's 11 newer hooks are in
//! [`crate::payloads_cpex`] and join [`HookPayload`] here.
//!
//! Optional fields decode from `null`, from absence and from a value. Fields that are
//! `Optional[...] = {}` in Python keep the difference: absent decodes to `Some({})`, `null` to `None`,
//! so a payload echoes back exactly as Python would. Unknown keys are dropped (pydantic `extra="ignore"`);
//! free-form values (`args`, `result`, `content`, `messages`) are kept verbatim, nulls included.

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::payloads_cpex::{DelegationPayload, IdentityPayload, MessagePayload};
use crate::request_form::{write_request_form, NullRule};
use crate::serde_util::{some_empty_map, strip_top_level_nulls};
use crate::{HookType, JsonMap, PayloadError, PluginContext};

/// `HttpHeaderPayload`: a RootModel whose JSON is the bare `{str: str}` object. Order is kept.
pub type HttpHeaderPayload = IndexMap<String, String>;

/// Prompt arguments: strings only (`dict[str, str]` in Python; a number is a validation error).
pub type PromptArgs = IndexMap<String, String>;

fn some_empty_args() -> Option<PromptArgs> {
    Some(PromptArgs::new())
}

/// `prompt_pre_fetch`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PromptPrehookPayload {
    /// The prompt (template) name; what `conditions.prompts` matches.
    pub prompt_id: String,
    /// The prompt arguments a plugin may rewrite; absent decodes to `{}`, as Python.
    #[serde(default = "some_empty_args")]
    pub args: Option<PromptArgs>,
}

/// `prompt_post_fetch`. `result` is required but may be null; a missing one decodes as null.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PromptPosthookPayload {
    /// The prompt (template) name; what `conditions.prompts` matches.
    pub prompt_id: String,
    /// The rendered prompt (`PromptResult`), kept as JSON.
    #[serde(default)]
    pub result: Value,
}

/// `tool_pre_invoke`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolPreInvokePayload {
    /// The tool name; what `conditions.tools` matches.
    pub name: String,
    /// The tool arguments a plugin may rewrite; absent decodes to `{}`, as Python.
    #[serde(default = "some_empty_map")]
    pub args: Option<JsonMap>,
    /// Headers that will go to the tool's server, when the gateway passes them.
    #[serde(default)]
    pub headers: Option<HttpHeaderPayload>,
}

/// `tool_post_invoke`. `result` is required but may be null; a missing one decodes as null.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolPostInvokePayload {
    /// The tool name; what `conditions.tools` matches.
    pub name: String,
    /// The tool's answer, kept as JSON (any shape).
    #[serde(default)]
    pub result: Value,
}

/// `resource_pre_fetch`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResourcePreFetchPayload {
    /// The resource URI; what `conditions.resources` matches.
    pub uri: String,
    /// Request metadata; absent decodes to `{}`, as Python.
    #[serde(default = "some_empty_map")]
    pub metadata: Option<JsonMap>,
}

/// `resource_post_fetch`. `content` is required but may be null; a missing one decodes as null.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResourcePostFetchPayload {
    /// The resource URI; what `conditions.resources` matches.
    pub uri: String,
    /// The fetched content (`ResourceContent`), kept as JSON.
    #[serde(default)]
    pub content: Value,
}

/// `agent_pre_invoke`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentPreInvokePayload {
    /// The agent; what `conditions.agents` matches.
    pub agent_id: String,
    /// The conversation, kept as JSON messages.
    pub messages: Vec<Value>,
    /// Tools the agent may use.
    #[serde(default)]
    pub tools: Option<Vec<String>>,
    /// Headers that will go to the agent.
    #[serde(default)]
    pub headers: Option<HttpHeaderPayload>,
    /// Model override.
    #[serde(default)]
    pub model: Option<String>,
    /// System prompt override.
    #[serde(default)]
    pub system_prompt: Option<String>,
    /// Model parameters; absent decodes to `{}`, as Python.
    #[serde(default = "some_empty_map")]
    pub parameters: Option<JsonMap>,
}

/// `agent_post_invoke`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentPostInvokePayload {
    /// The agent; what `conditions.agents` matches.
    pub agent_id: String,
    /// The conversation, kept as JSON messages.
    pub messages: Vec<Value>,
    /// Tool calls the agent made.
    #[serde(default)]
    pub tool_calls: Option<Vec<JsonMap>>,
}

/// `http_pre_request`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HttpPreRequestPayload {
    /// Request path.
    pub path: String,
    /// HTTP method.
    pub method: String,
    /// Client address, when known.
    #[serde(default)]
    pub client_host: Option<String>,
    /// Client port, when known.
    #[serde(default)]
    pub client_port: Option<i64>,
    /// Request headers, in their order.
    pub headers: HttpHeaderPayload,
}

/// `http_post_request`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HttpPostRequestPayload {
    /// Request path.
    pub path: String,
    /// HTTP method.
    pub method: String,
    /// Client address, when known.
    #[serde(default)]
    pub client_host: Option<String>,
    /// Client port, when known.
    #[serde(default)]
    pub client_port: Option<i64>,
    /// Request headers, in their order.
    pub headers: HttpHeaderPayload,
    /// Headers of the gateway's answer.
    #[serde(default)]
    pub response_headers: Option<HttpHeaderPayload>,
    /// Status code of the gateway's answer.
    #[serde(default)]
    pub status_code: Option<i64>,
}

/// `http_auth_resolve_user`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HttpAuthResolveUserPayload {
    /// Credentials the gateway extracted (free-form).
    #[serde(default)]
    pub credentials: Option<JsonMap>,
    /// Request headers, in their order.
    pub headers: HttpHeaderPayload,
    /// Client address, when known.
    #[serde(default)]
    pub client_host: Option<String>,
    /// Client port, when known.
    #[serde(default)]
    pub client_port: Option<i64>,
}

/// `http_auth_check_permission`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HttpAuthCheckPermissionPayload {
    /// Who asks.
    pub user_email: String,
    /// The permission asked for (e.g. `tools.invoke`).
    pub permission: String,
    /// Kind of resource the permission is about.
    #[serde(default)]
    pub resource_type: Option<String>,
    /// Team scope of the request.
    #[serde(default)]
    pub team_id: Option<String>,
    /// Whether the gateway already knows the user as an admin.
    #[serde(default, deserialize_with = "crate::serde_util::null_as_default")]
    pub is_admin: bool,
    /// How the user authenticated.
    #[serde(default)]
    pub auth_method: Option<String>,
    /// Client address, when known.
    #[serde(default)]
    pub client_host: Option<String>,
    /// The client's User-Agent.
    #[serde(default)]
    pub user_agent: Option<String>,
}

/// The `modified_payload` type of `http_auth_check_permission` results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HttpAuthCheckPermissionResultPayload {
    /// The decision.
    pub granted: bool,
    /// Why, for logs.
    #[serde(default)]
    pub reason: Option<String>,
}

/// The input payload of a hook: one variant per hook (23). The nine message hooks share
/// [`MessagePayload`], which is also their result type. What a plugin returns is a
/// [`crate::ModifiedPayload`]: the six result-only forms of the cross-typed hooks live there, so
/// they cannot be passed to a hook as its input.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum HookPayload {
    /// `prompt_pre_fetch`: before a prompt template is rendered.
    PromptPreFetch(PromptPrehookPayload),
    /// `prompt_post_fetch`: after a prompt is rendered.
    PromptPostFetch(PromptPosthookPayload),
    /// `tool_pre_invoke`: before a tool is called.
    ToolPreInvoke(ToolPreInvokePayload),
    /// `tool_post_invoke`: after a tool answered.
    ToolPostInvoke(ToolPostInvokePayload),
    /// `resource_pre_fetch`: before a resource is fetched.
    ResourcePreFetch(ResourcePreFetchPayload),
    /// `resource_post_fetch`: after a resource was fetched.
    ResourcePostFetch(ResourcePostFetchPayload),
    /// `agent_pre_invoke`: before an agent is called.
    AgentPreInvoke(AgentPreInvokePayload),
    /// `agent_post_invoke`: after an agent answered.
    AgentPostInvoke(AgentPostInvokePayload),
    /// `http_pre_request`: an incoming HTTP request, before authentication.
    HttpPreRequest(HttpPreRequestPayload),
    /// `http_post_request`: after the gateway answered an HTTP request.
    HttpPostRequest(HttpPostRequestPayload),
    /// `http_auth_resolve_user`: custom authentication.
    HttpAuthResolveUser(HttpAuthResolveUserPayload),
    /// `http_auth_check_permission`: custom authorization.
    HttpAuthCheckPermission(HttpAuthCheckPermissionPayload),
    /// cpex `identity_resolve`: who the caller is.
    IdentityResolve(IdentityPayload),
    /// cpex `token_delegate`: a token for a downstream call.
    TokenDelegate(DelegationPayload),
    /// cpex `evaluate`: generic message evaluation.
    Evaluate(MessagePayload),
    /// cpex `cmf.tool_pre_invoke`.
    CmfToolPreInvoke(MessagePayload),
    /// cpex `cmf.tool_post_invoke`.
    CmfToolPostInvoke(MessagePayload),
    /// cpex `cmf.llm_input`.
    CmfLlmInput(MessagePayload),
    /// cpex `cmf.llm_output`.
    CmfLlmOutput(MessagePayload),
    /// cpex `cmf.resource_pre_fetch`.
    CmfResourcePreFetch(MessagePayload),
    /// cpex `cmf.resource_post_fetch`.
    CmfResourcePostFetch(MessagePayload),
    /// cpex `cmf.prompt_pre_fetch`.
    CmfPromptPreFetch(MessagePayload),
    /// cpex `cmf.prompt_post_fetch`.
    CmfPromptPostFetch(MessagePayload),
}

/// Required-but-nullable fields that a request must always carry (docs/decisions.md #19).
const ALWAYS_SENT: &[&str] = &["result", "content", "messages"];

/// Where a payload is decoded from: an already-parsed `Value`, or the JSON text itself (the
/// server's fast path, which skips building a `Value` tree per request).
pub(crate) trait JsonSource {
    fn decode<T: serde::de::DeserializeOwned>(self, model: &str) -> Result<T, PayloadError>;
}

impl JsonSource for Value {
    fn decode<T: serde::de::DeserializeOwned>(self, model: &str) -> Result<T, PayloadError> {
        serde_json::from_value(self).map_err(|e| PayloadError::new(model, e))
    }
}

/// By reference: the value stays with the caller (to be decoded again, e.g. for an echo).
impl JsonSource for &Value {
    fn decode<T: serde::de::DeserializeOwned>(self, model: &str) -> Result<T, PayloadError> {
        T::deserialize(self).map_err(|e| PayloadError::new(model, e))
    }
}

impl JsonSource for &str {
    fn decode<T: serde::de::DeserializeOwned>(self, model: &str) -> Result<T, PayloadError> {
        decode_text(self).map_err(|e| PayloadError::new(model, e))
    }
}

/// Decodes JSON text straight into `T`, with the answer decoding the text's `Value` would give:
/// what a payload taken out of a parsed request always got, so every transport words an invalid
/// payload alike. Streaming differs in two ways, both handled here. Its messages end in
/// ` at line L column C`, a position inside the payload alone, which would mislead as a
/// position in the request; it is dropped. And a repeated member of a struct is an error for
/// it, where a JSON object (Python's `json`, a `Value`) keeps the last one. So on any failure
/// the text is decoded again through a `Value`, which decides: the failure may be a repeated
/// member, or come from a first occurrence that the last one replaces (found by fuzzing: a
/// context whose first `global_context` lacked its `request_id` was refused here and accepted
/// by the `Value` path). Valid input never pays the second pass.
pub(crate) fn decode_text<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, String> {
    if let Ok(v) = serde_json::from_str(text) {
        return Ok(v);
    }
    serde_json::from_str::<Value>(text)
        .and_then(serde_json::from_value)
        .map_err(|e| without_position(&e))
}

/// The message of a serde_json error without its ` at line L column C` suffix.
fn without_position(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    match text.strip_suffix(&suffix) {
        Some(message) if e.line() != 0 => message.to_string(),
        _ => text,
    }
}

fn decode<T: serde::de::DeserializeOwned>(
    model: &str,
    v: impl JsonSource,
) -> Result<T, PayloadError> {
    v.decode(model)
}

impl HookPayload {
    /// The hook this payload is the input of.
    pub fn hook_type(&self) -> HookType {
        match self {
            HookPayload::PromptPreFetch(_) => HookType::PromptPreFetch,
            HookPayload::PromptPostFetch(_) => HookType::PromptPostFetch,
            HookPayload::ToolPreInvoke(_) => HookType::ToolPreInvoke,
            HookPayload::ToolPostInvoke(_) => HookType::ToolPostInvoke,
            HookPayload::ResourcePreFetch(_) => HookType::ResourcePreFetch,
            HookPayload::ResourcePostFetch(_) => HookType::ResourcePostFetch,
            HookPayload::AgentPreInvoke(_) => HookType::AgentPreInvoke,
            HookPayload::AgentPostInvoke(_) => HookType::AgentPostInvoke,
            HookPayload::HttpPreRequest(_) => HookType::HttpPreRequest,
            HookPayload::HttpPostRequest(_) => HookType::HttpPostRequest,
            HookPayload::HttpAuthResolveUser(_) => HookType::HttpAuthResolveUser,
            HookPayload::HttpAuthCheckPermission(_) => HookType::HttpAuthCheckPermission,
            HookPayload::IdentityResolve(_) => HookType::IdentityResolve,
            HookPayload::TokenDelegate(_) => HookType::TokenDelegate,
            HookPayload::Evaluate(_) => HookType::Evaluate,
            HookPayload::CmfToolPreInvoke(_) => HookType::CmfToolPreInvoke,
            HookPayload::CmfToolPostInvoke(_) => HookType::CmfToolPostInvoke,
            HookPayload::CmfLlmInput(_) => HookType::CmfLlmInput,
            HookPayload::CmfLlmOutput(_) => HookType::CmfLlmOutput,
            HookPayload::CmfResourcePreFetch(_) => HookType::CmfResourcePreFetch,
            HookPayload::CmfResourcePostFetch(_) => HookType::CmfResourcePostFetch,
            HookPayload::CmfPromptPreFetch(_) => HookType::CmfPromptPreFetch,
            HookPayload::CmfPromptPostFetch(_) => HookType::CmfPromptPostFetch,
        }
    }

    /// The payload of a message hook (`evaluate`, `cmf.*`) as the variant of `hook`; `None` when
    /// `hook` is not a message hook.
    pub fn message(hook: HookType, p: MessagePayload) -> Option<Self> {
        Some(match hook {
            HookType::Evaluate => Self::Evaluate(p),
            HookType::CmfToolPreInvoke => Self::CmfToolPreInvoke(p),
            HookType::CmfToolPostInvoke => Self::CmfToolPostInvoke(p),
            HookType::CmfLlmInput => Self::CmfLlmInput(p),
            HookType::CmfLlmOutput => Self::CmfLlmOutput(p),
            HookType::CmfResourcePreFetch => Self::CmfResourcePreFetch(p),
            HookType::CmfResourcePostFetch => Self::CmfResourcePostFetch(p),
            HookType::CmfPromptPreFetch => Self::CmfPromptPreFetch(p),
            HookType::CmfPromptPostFetch => Self::CmfPromptPostFetch(p),
            _ => return None,
        })
    }

    /// The [`MessagePayload`] of a message-hook variant.
    pub fn as_message(&self) -> Option<&MessagePayload> {
        match self {
            HookPayload::Evaluate(p)
            | HookPayload::CmfToolPreInvoke(p)
            | HookPayload::CmfToolPostInvoke(p)
            | HookPayload::CmfLlmInput(p)
            | HookPayload::CmfLlmOutput(p)
            | HookPayload::CmfResourcePreFetch(p)
            | HookPayload::CmfResourcePostFetch(p)
            | HookPayload::CmfPromptPreFetch(p)
            | HookPayload::CmfPromptPostFetch(p) => Some(p),
            _ => None,
        }
    }

    /// Decode a hook's input payload (`tool_pre_invoke`'s of the plain shape by move, see
    /// `payloads_moved`).
    pub fn from_json(hook: HookType, v: Value) -> Result<Self, PayloadError> {
        if hook != HookType::ToolPreInvoke {
            return Self::decode_input(hook, v);
        }
        match ToolPreInvokePayload::from_value_moved(v) {
            Ok(p) => Ok(Self::ToolPreInvoke(p)),
            Err(v) => Self::decode_input(hook, v),
        }
    }

    /// [`HookPayload::from_json`] without taking the value (its strings are copied): for a
    /// caller that may need to decode the same input again.
    pub fn from_json_ref(hook: HookType, v: &Value) -> Result<Self, PayloadError> {
        Self::decode_input(hook, v)
    }

    /// [`HookPayload::from_json`] from the JSON text, without building a `Value`: the same
    /// payloads accepted (a repeated member: the last one wins) and the same error messages.
    pub fn from_json_str(hook: HookType, text: &str) -> Result<Self, PayloadError> {
        Self::decode_input(hook, text)
    }

    pub(crate) fn decode_input(hook: HookType, v: impl JsonSource) -> Result<Self, PayloadError> {
        Ok(match hook {
            HookType::PromptPreFetch => Self::PromptPreFetch(decode("PromptPrehookPayload", v)?),
            HookType::PromptPostFetch => Self::PromptPostFetch(decode("PromptPosthookPayload", v)?),
            HookType::ToolPreInvoke => Self::ToolPreInvoke(decode("ToolPreInvokePayload", v)?),
            HookType::ToolPostInvoke => Self::ToolPostInvoke(decode("ToolPostInvokePayload", v)?),
            HookType::ResourcePreFetch => {
                Self::ResourcePreFetch(decode("ResourcePreFetchPayload", v)?)
            }
            HookType::ResourcePostFetch => {
                Self::ResourcePostFetch(decode("ResourcePostFetchPayload", v)?)
            }
            HookType::AgentPreInvoke => Self::AgentPreInvoke(decode("AgentPreInvokePayload", v)?),
            HookType::AgentPostInvoke => {
                Self::AgentPostInvoke(decode("AgentPostInvokePayload", v)?)
            }
            HookType::HttpPreRequest => Self::HttpPreRequest(decode("HttpPreRequestPayload", v)?),
            HookType::HttpPostRequest => {
                Self::HttpPostRequest(decode("HttpPostRequestPayload", v)?)
            }
            HookType::HttpAuthResolveUser => {
                Self::HttpAuthResolveUser(decode("HttpAuthResolveUserPayload", v)?)
            }
            HookType::HttpAuthCheckPermission => {
                Self::HttpAuthCheckPermission(decode("HttpAuthCheckPermissionPayload", v)?)
            }
            HookType::IdentityResolve => Self::IdentityResolve(decode("IdentityPayload", v)?),
            HookType::TokenDelegate => Self::TokenDelegate(decode("DelegationPayload", v)?),
            // The nine message hooks (every other hook is matched above).
            message_hook => {
                let p: MessagePayload = decode("MessagePayload", v)?;
                Self::message(message_hook, p).ok_or_else(|| {
                    PayloadError::new("MessagePayload", format!("{message_hook} takes no message"))
                })?
            }
        })
    }

    /// The response form: every model field present, `None` as `null` (what the Python server sends).
    pub fn to_json(&self) -> Value {
        // These types contain only strings, numbers, maps and `Value`s: serialization cannot fail.
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// The request form (Python client, `exclude_none=True`): `None` model fields are omitted,
    /// `result`/`content`/`messages` are always sent, nulls inside free-form values are kept.
    pub fn to_request_json(&self) -> Value {
        let mut v = self.to_json();
        strip_top_level_nulls(&mut v, ALWAYS_SENT);
        v
    }

    /// Appends [`HookPayload::to_request_json`]'s compact JSON bytes to `out`, written in one
    /// pass from the typed payload (no `Value` tree): the client sends one per hook call.
    pub fn write_request_json(&self, out: &mut Vec<u8>) -> serde_json::Result<()> {
        static PAYLOAD: NullRule = NullRule::strip(ALWAYS_SENT);
        write_request_form(self, &PAYLOAD, out)
    }

    /// The value a condition's `tools`/`prompts`/`resources`/`agents` list is matched against.
    pub fn condition_value(&self) -> Option<&str> {
        match self {
            HookPayload::PromptPreFetch(p) => Some(&p.prompt_id),
            HookPayload::PromptPostFetch(p) => Some(&p.prompt_id),
            HookPayload::ToolPreInvoke(p) => Some(&p.name),
            HookPayload::ToolPostInvoke(p) => Some(&p.name),
            HookPayload::ResourcePreFetch(p) => Some(&p.uri),
            HookPayload::ResourcePostFetch(p) => Some(&p.uri),
            HookPayload::AgentPreInvoke(p) => Some(&p.agent_id),
            HookPayload::AgentPostInvoke(p) => Some(&p.agent_id),
            _ => None,
        }
    }
}

macro_rules! from_payload {
    ($($ty:ty => $variant:ident),* $(,)?) => {
        $(impl From<$ty> for HookPayload {
            fn from(p: $ty) -> Self { HookPayload::$variant(p) }
        }
        /// So `PluginResult::modified(payload)` takes the hook's own payload type.
        impl From<$ty> for crate::ModifiedPayload {
            fn from(p: $ty) -> Self { crate::ModifiedPayload::Payload(HookPayload::$variant(p)) }
        })*
    };
}

from_payload!(
    PromptPrehookPayload => PromptPreFetch,
    PromptPosthookPayload => PromptPostFetch,
    ToolPreInvokePayload => ToolPreInvoke,
    ToolPostInvokePayload => ToolPostInvoke,
    ResourcePreFetchPayload => ResourcePreFetch,
    ResourcePostFetchPayload => ResourcePostFetch,
    AgentPreInvokePayload => AgentPreInvoke,
    AgentPostInvokePayload => AgentPostInvoke,
    HttpPreRequestPayload => HttpPreRequest,
    HttpPostRequestPayload => HttpPostRequest,
    HttpAuthResolveUserPayload => HttpAuthResolveUser,
    HttpAuthCheckPermissionPayload => HttpAuthCheckPermission,
    IdentityPayload => IdentityResolve,
    DelegationPayload => TokenDelegate,
);

/// Serializes as [`HookPayload::to_json`] (the bare payload object, explicit nulls), straight
/// from the typed payload: no intermediate `Value` on the server's answer path.
impl Serialize for HookPayload {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            HookPayload::PromptPreFetch(p) => p.serialize(s),
            HookPayload::PromptPostFetch(p) => p.serialize(s),
            HookPayload::ToolPreInvoke(p) => p.serialize(s),
            HookPayload::ToolPostInvoke(p) => p.serialize(s),
            HookPayload::ResourcePreFetch(p) => p.serialize(s),
            HookPayload::ResourcePostFetch(p) => p.serialize(s),
            HookPayload::AgentPreInvoke(p) => p.serialize(s),
            HookPayload::AgentPostInvoke(p) => p.serialize(s),
            HookPayload::HttpPreRequest(p) => p.serialize(s),
            HookPayload::HttpPostRequest(p) => p.serialize(s),
            HookPayload::HttpAuthResolveUser(p) => p.serialize(s),
            HookPayload::HttpAuthCheckPermission(p) => p.serialize(s),
            HookPayload::IdentityResolve(p) => p.serialize(s),
            HookPayload::TokenDelegate(p) => p.serialize(s),
            HookPayload::Evaluate(p)
            | HookPayload::CmfToolPreInvoke(p)
            | HookPayload::CmfToolPostInvoke(p)
            | HookPayload::CmfLlmInput(p)
            | HookPayload::CmfLlmOutput(p)
            | HookPayload::CmfResourcePreFetch(p)
            | HookPayload::CmfResourcePostFetch(p)
            | HookPayload::CmfPromptPreFetch(p)
            | HookPayload::CmfPromptPostFetch(p) => p.serialize(s),
        }
    }
}

/// The request form of a context, next to the payload's because the client writes both per call
/// (the context module keeps the `Value` forms).
impl PluginContext {
    /// Appends [`PluginContext::to_request_json`]'s compact JSON bytes to `out` in one pass:
    /// `state` and `metadata` verbatim, the global context without its `None` fields (nor
    /// those of its `user_context`), a `user` object with its nulls.
    pub fn write_request_json(&self, out: &mut Vec<u8>) -> serde_json::Result<()> {
        static USER_CONTEXT: NullRule = NullRule::strip(&[]);
        static GLOBAL: NullRule = NullRule {
            strip: true,
            keep: &[],
            children: &[("user_context", &USER_CONTEXT)],
        };
        static CONTEXT: NullRule = NullRule {
            strip: false,
            keep: &[],
            children: &[("global_context", &GLOBAL)],
        };
        write_request_form(self, &CONTEXT, out)
    }
}
