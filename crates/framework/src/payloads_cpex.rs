//! Payloads of the 11 hooks that only cpex 0.1.4 (ContextForge 1.1.0) registers, field for field
//! its pydantic models.
//!
//! - `identity_resolve`: [`IdentityPayload`] in, [`IdentityResult`] as the result's `modified_payload`.
//! - `token_delegate`: [`DelegationPayload`] in, [`DelegationResult`] as the result's `modified_payload`.
//! - `evaluate` and the eight `cmf.*` hooks: [`MessagePayload`] in and out.
//!
//! # Secrets on the wire
//! `IdentityPayload.raw_token` and `DelegationPayload.bearer_token` are pydantic `SecretStr`s, which
//! serialize as `"**********"` (an empty secret as `""`). So over any external transport (MCP,
//! gRPC, Unix socket) a plugin receives the redacted text, never the real credential: an
//! `identity_resolve` or `token_delegate` plugin that needs the token must run in-process.
//! [`SecretStr`] does the same on encode, so plugwire never sends a credential a Python peer would
//! not; in-process Rust plugins read the real value with [`SecretStr::expose_secret`].
//!
//! The subject and delegation extensions are carried as free-form JSON objects: their contents are
//! cpex's business, and a free-form value echoes back exactly as it came.

use indexmap::IndexMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{json, Value};

use crate::JsonMap;

/// What pydantic prints for a non-empty `SecretStr`.
pub const REDACTED: &str = "**********";

/// A credential that never leaves the process in clear: it encodes as `"**********"` (`""` when
/// empty) and its `Debug` form is redacted, as pydantic's `SecretStr`.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct SecretStr(String);

impl SecretStr {
    /// Wraps a secret; it prints and serializes masked.
    pub fn new(secret: impl Into<String>) -> Self {
        SecretStr(secret.into())
    }

    /// The real value (in-process only; a value decoded from the wire is already `"**********"`).
    pub fn expose_secret(&self) -> &str {
        &self.0
    }

    /// True when this value came from a peer that redacted it (the only form a wire peer sends).
    pub fn is_redacted(&self) -> bool {
        self.0 == REDACTED
    }

    fn wire_form(&self) -> &'static str {
        if self.0.is_empty() {
            ""
        } else {
            REDACTED
        }
    }
}

impl std::fmt::Debug for SecretStr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretStr({:?})", self.wire_form())
    }
}

impl From<&str> for SecretStr {
    fn from(s: &str) -> Self {
        SecretStr::new(s)
    }
}

impl Serialize for SecretStr {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.wire_form())
    }
}

impl<'de> Deserialize<'de> for SecretStr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(SecretStr)
    }
}

fn bearer() -> String {
    "bearer".into()
}

/// `identity_resolve` input: the credential taken from the inbound request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IdentityPayload {
    /// The credential to resolve; masked (`**********`) when it crosses a wire.
    pub raw_token: SecretStr,
    /// How the credential was extracted: `bearer` (default), `mtls`, `api_key`, `custom`.
    /// A plain string in cpex, so any value is kept.
    #[serde(default = "bearer")]
    pub source: String,
    /// Request headers.
    #[serde(default)]
    pub headers: IndexMap<String, String>,
    /// Client address, when known.
    #[serde(default)]
    pub client_host: Option<String>,
    /// Client port, when known.
    #[serde(default)]
    pub client_port: Option<i64>,
}

fn status_401() -> i64 {
    401
}

/// `identity_resolve` result (the `modified_payload`): a resolved subject, or a rejection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IdentityResult {
    /// cpex `SubjectExtension` (free-form).
    #[serde(default)]
    pub subject: Option<JsonMap>,
    /// cpex `DelegationExtension` (free-form).
    #[serde(default)]
    pub delegation: Option<JsonMap>,
    /// `true`: refuse the caller.
    #[serde(default)]
    pub rejected: bool,
    /// HTTP status the gateway answers a rejected caller with (default 401).
    #[serde(default = "status_401")]
    pub reject_status: i64,
    /// Why, when rejected.
    #[serde(default)]
    pub reject_reason: String,
    /// Claims of the token, for plugins later in the chain.
    #[serde(default)]
    pub raw_claims: JsonMap,
}

impl Default for IdentityResult {
    fn default() -> Self {
        IdentityResult {
            subject: None,
            delegation: None,
            rejected: false,
            reject_status: 401,
            reject_reason: String::new(),
            raw_claims: JsonMap::new(),
        }
    }
}

/// `DelegationPayload.route_attenuation` (cpex `AttenuationConfig`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AttenuationConfig {
    /// Capabilities the delegated token keeps.
    #[serde(default)]
    pub capabilities: Vec<String>,
    /// Resources the delegated token is limited to.
    #[serde(default)]
    pub resource_template: Option<String>,
    /// Actions the delegated token may perform.
    #[serde(default)]
    pub actions: Vec<String>,
    /// Lifetime of the delegated token.
    #[serde(default)]
    pub ttl_seconds: Option<i64>,
}

fn tool() -> String {
    "tool".into()
}

fn caller() -> String {
    "caller".into()
}

/// `token_delegate` input: the downstream target a token is needed for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DelegationPayload {
    /// The downstream target (tool, server, agent).
    pub target_name: String,
    /// `tool` (default), `agent`, `resource`, `service`.
    #[serde(default = "tool")]
    pub target_type: String,
    /// Audience the delegated token is for.
    #[serde(default)]
    pub target_audience: Option<String>,
    /// Permissions the target requires.
    #[serde(default)]
    pub required_permissions: Vec<String>,
    /// Trust domain of the target.
    #[serde(default)]
    pub trust_domain: Option<String>,
    /// `caller` (default), `target`, `both`.
    #[serde(default = "caller")]
    pub auth_enforced_by: String,
    /// How to narrow the token for this route.
    #[serde(default)]
    pub route_attenuation: Option<AttenuationConfig>,
    /// The caller's token to exchange; masked over the wire.
    #[serde(default)]
    pub bearer_token: Option<SecretStr>,
}

/// What an empty cpex `DelegationExtension()` encodes as (the default of `delegation_update`).
fn empty_delegation_extension() -> JsonMap {
    match json!({
        "chain": [], "depth": 0, "origin_subject_id": null,
        "actor_subject_id": null, "delegated": false, "age_seconds": 0.0
    }) {
        Value::Object(m) => m,
        _ => JsonMap::new(),
    }
}

/// `token_delegate` result (the `modified_payload`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DelegationResult {
    /// A plain string in cpex (not a `SecretStr`): it travels in clear.
    #[serde(default)]
    pub delegated_token: Option<String>,
    /// cpex `DelegationExtension` (free-form).
    #[serde(default = "empty_delegation_extension")]
    pub delegation_update: JsonMap,
    /// Headers the gateway adds to the downstream call.
    #[serde(default)]
    pub forwarded_headers: IndexMap<String, String>,
    /// Key under which the gateway may cache the token.
    #[serde(default)]
    pub cache_key: Option<String>,
    /// How long the gateway may cache it, in seconds.
    #[serde(default)]
    pub cache_ttl: Option<i64>,
}

impl Default for DelegationResult {
    fn default() -> Self {
        DelegationResult {
            delegated_token: None,
            delegation_update: empty_delegation_extension(),
            forwarded_headers: IndexMap::new(),
            cache_key: None,
            cache_ttl: None,
        }
    }
}

/// Who is speaking in a CMF [`Message`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// System instructions.
    System,
    /// Developer instructions.
    Developer,
    /// The end user.
    User,
    /// The model.
    Assistant,
    /// A tool's output.
    Tool,
}

/// A CMF [`Message`]'s output classification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// Reasoning not shown to the user.
    Analysis,
    /// Side remarks (tool preambles).
    Commentary,
    /// The answer shown to the user.
    Final,
}

fn schema_2_0() -> String {
    "2.0".into()
}

/// A CMF message (one conversation turn). cpex forbids unknown keys here, and so do we.
/// `content` parts (text, thinking, tool calls, resources, ...) are kept as free-form JSON values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Message {
    /// Message schema version (`2.0`).
    #[serde(default = "schema_2_0")]
    pub schema_version: String,
    /// Who wrote it.
    pub role: Role,
    /// Content parts (text, thinking, tool calls...), kept as JSON.
    #[serde(default)]
    pub content: Vec<Value>,
    /// Which channel of a reasoning model the message is on.
    #[serde(default)]
    pub channel: Option<Channel>,
}

impl Message {
    /// A schema 2.0 message with no content parts and no channel.
    pub fn new(role: Role) -> Self {
        Message {
            schema_version: schema_2_0(),
            role,
            content: Vec::new(),
            channel: None,
        }
    }
}

/// Where in the pipeline a [`MessagePayload`] is evaluated (metadata only: dispatch is by hook name).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageHookType {
    /// `evaluate`.
    #[default]
    Evaluate,
    /// `llm_input`.
    LlmInput,
    /// `llm_output`.
    LlmOutput,
    /// `tool_pre_invoke`.
    ToolPreInvoke,
    /// `tool_post_invoke`.
    ToolPostInvoke,
    /// `prompt_pre_fetch`.
    PromptPreFetch,
    /// `prompt_post_fetch`.
    PromptPostFetch,
    /// `resource_pre_fetch`.
    ResourcePreFetch,
    /// `resource_post_fetch`.
    ResourcePostFetch,
}

/// Input and result of `evaluate` and the eight `cmf.*` hooks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessagePayload {
    /// The message.
    pub message: Message,
    /// Which message hook this is for; tells a plugin where in the flow the message is.
    #[serde(default)]
    pub hook: MessageHookType,
}
