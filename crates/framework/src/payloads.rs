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

use crate::payloads_cpex::{
    DelegationPayload, DelegationResult, IdentityPayload, IdentityResult, MessagePayload,
};
use crate::serde_util::{some_empty_map, strip_top_level_nulls, write_request_form, NullRule};
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
    pub prompt_id: String,
    #[serde(default = "some_empty_args")]
    pub args: Option<PromptArgs>,
}

/// `prompt_post_fetch`. `result` is required but may be null; a missing one decodes as null.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PromptPosthookPayload {
    pub prompt_id: String,
    #[serde(default)]
    pub result: Value,
}

/// `tool_pre_invoke`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolPreInvokePayload {
    pub name: String,
    #[serde(default = "some_empty_map")]
    pub args: Option<JsonMap>,
    #[serde(default)]
    pub headers: Option<HttpHeaderPayload>,
}

/// `tool_post_invoke`. `result` is required but may be null; a missing one decodes as null.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolPostInvokePayload {
    pub name: String,
    #[serde(default)]
    pub result: Value,
}

/// `resource_pre_fetch`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResourcePreFetchPayload {
    pub uri: String,
    #[serde(default = "some_empty_map")]
    pub metadata: Option<JsonMap>,
}

/// `resource_post_fetch`. `content` is required but may be null; a missing one decodes as null.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResourcePostFetchPayload {
    pub uri: String,
    #[serde(default)]
    pub content: Value,
}

/// `agent_pre_invoke`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentPreInvokePayload {
    pub agent_id: String,
    pub messages: Vec<Value>,
    #[serde(default)]
    pub tools: Option<Vec<String>>,
    #[serde(default)]
    pub headers: Option<HttpHeaderPayload>,
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub system_prompt: Option<String>,
    #[serde(default = "some_empty_map")]
    pub parameters: Option<JsonMap>,
}

/// `agent_post_invoke`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentPostInvokePayload {
    pub agent_id: String,
    pub messages: Vec<Value>,
    #[serde(default)]
    pub tool_calls: Option<Vec<JsonMap>>,
}

/// `http_pre_request`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HttpPreRequestPayload {
    pub path: String,
    pub method: String,
    #[serde(default)]
    pub client_host: Option<String>,
    #[serde(default)]
    pub client_port: Option<i64>,
    pub headers: HttpHeaderPayload,
}

/// `http_post_request`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HttpPostRequestPayload {
    pub path: String,
    pub method: String,
    #[serde(default)]
    pub client_host: Option<String>,
    #[serde(default)]
    pub client_port: Option<i64>,
    pub headers: HttpHeaderPayload,
    #[serde(default)]
    pub response_headers: Option<HttpHeaderPayload>,
    #[serde(default)]
    pub status_code: Option<i64>,
}

/// `http_auth_resolve_user`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HttpAuthResolveUserPayload {
    #[serde(default)]
    pub credentials: Option<JsonMap>,
    pub headers: HttpHeaderPayload,
    #[serde(default)]
    pub client_host: Option<String>,
    #[serde(default)]
    pub client_port: Option<i64>,
}

/// `http_auth_check_permission`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HttpAuthCheckPermissionPayload {
    pub user_email: String,
    pub permission: String,
    #[serde(default)]
    pub resource_type: Option<String>,
    #[serde(default)]
    pub team_id: Option<String>,
    #[serde(default, deserialize_with = "crate::serde_util::null_as_default")]
    pub is_admin: bool,
    #[serde(default)]
    pub auth_method: Option<String>,
    #[serde(default)]
    pub client_host: Option<String>,
    #[serde(default)]
    pub user_agent: Option<String>,
}

/// The `modified_payload` type of `http_auth_check_permission` results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HttpAuthCheckPermissionResultPayload {
    pub granted: bool,
    #[serde(default)]
    pub reason: Option<String>,
}

/// A payload of any hook: one variant per hook input (23), plus the "cross-type"
/// `modified_payload` types that the four `http_*` hooks and cpex's `identity_resolve` and
/// `token_delegate` return. Those six appear only in `PluginResult::modified_payload`, never as a
/// hook input. The nine message hooks share [`MessagePayload`], which is also their result type.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum HookPayload {
    PromptPreFetch(PromptPrehookPayload),
    PromptPostFetch(PromptPosthookPayload),
    ToolPreInvoke(ToolPreInvokePayload),
    ToolPostInvoke(ToolPostInvokePayload),
    ResourcePreFetch(ResourcePreFetchPayload),
    ResourcePostFetch(ResourcePostFetchPayload),
    AgentPreInvoke(AgentPreInvokePayload),
    AgentPostInvoke(AgentPostInvokePayload),
    HttpPreRequest(HttpPreRequestPayload),
    HttpPostRequest(HttpPostRequestPayload),
    HttpAuthResolveUser(HttpAuthResolveUserPayload),
    HttpAuthCheckPermission(HttpAuthCheckPermissionPayload),
    /// Result of `http_pre_request`: the headers to use.
    HttpPreRequestHeaders(HttpHeaderPayload),
    /// Result of `http_post_request`: the headers to use.
    HttpPostRequestHeaders(HttpHeaderPayload),
    /// Result of `http_auth_resolve_user`: the resolved user as a free-form object.
    ResolvedUser(JsonMap),
    /// Result of `http_auth_check_permission`.
    PermissionDecision(HttpAuthCheckPermissionResultPayload),
    IdentityResolve(IdentityPayload),
    TokenDelegate(DelegationPayload),
    Evaluate(MessagePayload),
    CmfToolPreInvoke(MessagePayload),
    CmfToolPostInvoke(MessagePayload),
    CmfLlmInput(MessagePayload),
    CmfLlmOutput(MessagePayload),
    CmfResourcePreFetch(MessagePayload),
    CmfResourcePostFetch(MessagePayload),
    CmfPromptPreFetch(MessagePayload),
    CmfPromptPostFetch(MessagePayload),
    /// Result of `identity_resolve`.
    IdentityResult(IdentityResult),
    /// Result of `token_delegate`.
    DelegationResult(DelegationResult),
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

impl JsonSource for &str {
    fn decode<T: serde::de::DeserializeOwned>(self, model: &str) -> Result<T, PayloadError> {
        serde_json::from_str(self).map_err(|e| PayloadError::new(model, e))
    }
}

fn decode<T: serde::de::DeserializeOwned>(
    model: &str,
    v: impl JsonSource,
) -> Result<T, PayloadError> {
    v.decode(model)
}

impl HookPayload {
    /// The hook this payload belongs to (for the result-only variants: the hook that returns them).
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
            HookPayload::HttpPreRequest(_) | HookPayload::HttpPreRequestHeaders(_) => {
                HookType::HttpPreRequest
            }
            HookPayload::HttpPostRequest(_) | HookPayload::HttpPostRequestHeaders(_) => {
                HookType::HttpPostRequest
            }
            HookPayload::HttpAuthResolveUser(_) | HookPayload::ResolvedUser(_) => {
                HookType::HttpAuthResolveUser
            }
            HookPayload::HttpAuthCheckPermission(_) | HookPayload::PermissionDecision(_) => {
                HookType::HttpAuthCheckPermission
            }
            HookPayload::IdentityResolve(_) | HookPayload::IdentityResult(_) => {
                HookType::IdentityResolve
            }
            HookPayload::TokenDelegate(_) | HookPayload::DelegationResult(_) => {
                HookType::TokenDelegate
            }
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

    /// True for the four result-only variants (never a valid hook input).
    pub fn is_result_only(&self) -> bool {
        matches!(
            self,
            HookPayload::HttpPreRequestHeaders(_)
                | HookPayload::HttpPostRequestHeaders(_)
                | HookPayload::ResolvedUser(_)
                | HookPayload::PermissionDecision(_)
                | HookPayload::IdentityResult(_)
                | HookPayload::DelegationResult(_)
        )
    }

    /// Decode a hook's input payload.
    pub fn from_json(hook: HookType, v: Value) -> Result<Self, PayloadError> {
        Self::decode_input(hook, v)
    }

    /// [`HookPayload::from_json`] from the JSON text. Accepts the same payloads; its error
    /// messages also name the line and column, so callers that must report exactly what
    /// [`HookPayload::from_json`] reports decode again that way on failure.
    pub fn from_json_str(hook: HookType, text: &str) -> Result<Self, PayloadError> {
        Self::decode_input(hook, text)
    }

    fn decode_input(hook: HookType, v: impl JsonSource) -> Result<Self, PayloadError> {
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

    /// Decode a `modified_payload` of a `hook` result: the hook's payload type, except the cross-type
    /// `http_*` results (headers, a user object, a permission decision).
    pub fn result_from_json(hook: HookType, v: Value) -> Result<Self, PayloadError> {
        Self::decode_result(hook, v)
    }

    /// [`HookPayload::result_from_json`] from the JSON text (same acceptance; error messages
    /// also name the line and column).
    pub fn result_from_json_str(hook: HookType, text: &str) -> Result<Self, PayloadError> {
        Self::decode_result(hook, text)
    }

    fn decode_result(hook: HookType, v: impl JsonSource) -> Result<Self, PayloadError> {
        Ok(match hook {
            HookType::HttpPreRequest => {
                Self::HttpPreRequestHeaders(decode("HttpHeaderPayload", v)?)
            }
            HookType::HttpPostRequest => {
                Self::HttpPostRequestHeaders(decode("HttpHeaderPayload", v)?)
            }
            HookType::HttpAuthResolveUser => Self::ResolvedUser(decode("dict", v)?),
            HookType::HttpAuthCheckPermission => {
                Self::PermissionDecision(decode("HttpAuthCheckPermissionResultPayload", v)?)
            }
            HookType::IdentityResolve => Self::IdentityResult(decode("IdentityResult", v)?),
            HookType::TokenDelegate => Self::DelegationResult(decode("DelegationResult", v)?),
            _ => Self::decode_input(hook, v)?,
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
        if !matches!(self, HookPayload::ResolvedUser(_)) {
            strip_top_level_nulls(&mut v, ALWAYS_SENT);
        }
        v
    }

    /// Appends [`HookPayload::to_request_json`]'s compact JSON bytes to `out`, written in one
    /// pass from the typed payload (no `Value` tree): the client sends one per hook call.
    pub fn write_request_json(&self, out: &mut Vec<u8>) -> serde_json::Result<()> {
        static PAYLOAD: NullRule = NullRule::strip(ALWAYS_SENT);
        // A resolved user is a free-form dict: its nulls are data.
        static FREE_FORM: NullRule = NullRule {
            strip: false,
            keep: &[],
            children: &[],
        };
        let rule = if matches!(self, HookPayload::ResolvedUser(_)) {
            &FREE_FORM
        } else {
            &PAYLOAD
        };
        write_request_form(self, rule, out)
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
    HttpAuthCheckPermissionResultPayload => PermissionDecision,
    IdentityPayload => IdentityResolve,
    DelegationPayload => TokenDelegate,
    IdentityResult => IdentityResult,
    DelegationResult => DelegationResult,
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
            HookPayload::HttpPreRequestHeaders(p) | HookPayload::HttpPostRequestHeaders(p) => {
                p.serialize(s)
            }
            HookPayload::ResolvedUser(p) => p.serialize(s),
            HookPayload::PermissionDecision(p) => p.serialize(s),
            HookPayload::IdentityResolve(p) => p.serialize(s),
            HookPayload::TokenDelegate(p) => p.serialize(s),
            HookPayload::IdentityResult(p) => p.serialize(s),
            HookPayload::DelegationResult(p) => p.serialize(s),
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
