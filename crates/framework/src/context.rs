//! Request contexts: `GlobalContext` (shared by the chain), `PluginContext` (one plugin's view, whose
//! `state` lives from a pre hook to its post hook), `UserContext`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::serde_util::{null_as_default, strip_top_level_nulls};
use crate::{JsonMap, PayloadError};

/// The authenticated user as the 1.0.0 gateway describes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserContext {
    /// The user's id.
    pub user_id: String,
    /// E-mail address.
    #[serde(default)]
    pub email: Option<String>,
    /// Display name.
    #[serde(default)]
    pub full_name: Option<String>,
    /// Admin flag.
    #[serde(default, deserialize_with = "null_as_default")]
    pub is_admin: bool,
    /// Group memberships.
    #[serde(default, deserialize_with = "null_as_default")]
    pub groups: Vec<String>,
    /// Roles.
    #[serde(default, deserialize_with = "null_as_default")]
    pub roles: Vec<String>,
    /// Current team.
    #[serde(default)]
    pub team_id: Option<String>,
    /// Team memberships.
    #[serde(default)]
    pub teams: Option<Vec<String>>,
    /// Department, when known.
    #[serde(default)]
    pub department: Option<String>,
    /// Extra attributes (free-form).
    #[serde(default, deserialize_with = "null_as_default")]
    pub attributes: JsonMap,
    /// How the user authenticated.
    #[serde(default)]
    pub auth_method: Option<String>,
    /// ISO 8601 date-time, kept as the string the peer sent.
    #[serde(default)]
    pub authenticated_at: Option<String>,
    /// Whether it is a service account.
    #[serde(default)]
    pub service_account: Option<String>,
    /// Subjects the request was delegated through.
    #[serde(default, deserialize_with = "null_as_default")]
    pub delegation_chain: Vec<String>,
}

impl UserContext {
    /// A user with only the id set.
    pub fn new(user_id: impl Into<String>) -> Self {
        UserContext {
            user_id: user_id.into(),
            email: None,
            full_name: None,
            is_admin: false,
            groups: Vec::new(),
            roles: Vec::new(),
            team_id: None,
            teams: None,
            department: None,
            attributes: JsonMap::new(),
            auth_method: None,
            authenticated_at: None,
            service_account: None,
            delegation_chain: Vec::new(),
        }
    }
}

/// Shared request context. `user` is a string, an object or null, as in Python.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GlobalContext {
    /// The gateway's request id.
    pub request_id: String,
    /// The user as the gateway sends it (a string or an object).
    #[serde(default)]
    pub user: Option<Value>,
    /// The typed user, when the gateway sends one (1.1.0).
    #[serde(default)]
    pub user_context: Option<UserContext>,
    /// The tenant; what `conditions.tenant_ids` matches.
    #[serde(default)]
    pub tenant_id: Option<String>,
    /// The virtual server; what `conditions.server_ids` matches.
    #[serde(default)]
    pub server_id: Option<String>,
    /// Content type of the request, matched by `conditions.content_types`.
    #[serde(default)]
    pub content_type: Option<String>,
    /// State shared by all plugins of one request.
    #[serde(default, deserialize_with = "null_as_default")]
    pub state: JsonMap,
    /// Request metadata shared by all plugins.
    #[serde(default, deserialize_with = "null_as_default")]
    pub metadata: JsonMap,
}

impl GlobalContext {
    /// A context for one request, the other fields empty.
    pub fn new(request_id: impl Into<String>) -> Self {
        GlobalContext {
            request_id: request_id.into(),
            user: None,
            user_context: None,
            tenant_id: None,
            server_id: None,
            content_type: None,
            state: JsonMap::new(),
            metadata: JsonMap::new(),
        }
    }

    /// The 8-key object with explicit nulls (response form).
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// Request form: `None` model fields omitted (also inside `user_context`); a `user` object keeps its nulls.
    pub fn to_request_json(&self) -> Value {
        let mut v = self.to_json();
        strip_top_level_nulls(&mut v, &[]);
        if let Some(uc) = v.get_mut("user_context") {
            strip_top_level_nulls(uc, &[]);
        }
        v
    }

    /// Decodes the wire form; unknown keys are ignored, as pydantic does.
    pub fn from_json(v: Value) -> Result<Self, PayloadError> {
        serde_json::from_value(v).map_err(|e| PayloadError::new("GlobalContext", e))
    }
}

/// One plugin's context for one request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PluginContext {
    /// The plugin's own state, carried from a pre hook to its post hook.
    #[serde(default, deserialize_with = "null_as_default")]
    pub state: JsonMap,
    /// The request-wide context.
    pub global_context: GlobalContext,
    /// The plugin's own metadata.
    #[serde(default, deserialize_with = "null_as_default")]
    pub metadata: JsonMap,
}

impl PluginContext {
    /// A context for one plugin around a request's global context.
    pub fn new(global_context: GlobalContext) -> Self {
        PluginContext {
            state: JsonMap::new(),
            global_context,
            metadata: JsonMap::new(),
        }
    }

    /// True when `state`, `metadata` and `global_context.state` are all empty: the Python server then
    /// omits `context` from its reply.
    pub fn is_empty(&self) -> bool {
        self.state.is_empty() && self.metadata.is_empty() && self.global_context.state.is_empty()
    }

    /// One key of the plugin's own state.
    pub fn get_state(&self, key: &str) -> Option<&Value> {
        self.state.get(key)
    }

    /// Sets one key of the plugin's own state, kept until the matching post hook.
    pub fn set_state(&mut self, key: impl Into<String>, value: Value) {
        self.state.insert(key.into(), value);
    }

    /// Response form: `{state, global_context (8 keys, nulls), metadata}`.
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// Request form (Python client, `exclude_none=True`).
    pub fn to_request_json(&self) -> Value {
        let mut m = JsonMap::new();
        m.insert("state".into(), Value::Object(self.state.clone()));
        m.insert(
            "global_context".into(),
            self.global_context.to_request_json(),
        );
        m.insert("metadata".into(), Value::Object(self.metadata.clone()));
        Value::Object(m)
    }

    /// Decodes the wire form; unknown keys are ignored, as pydantic does.
    pub fn from_json(v: Value) -> Result<Self, PayloadError> {
        serde_json::from_value(v).map_err(|e| PayloadError::new("PluginContext", e))
    }

    /// [`PluginContext::from_json`] from the JSON text, without building a `Value`: the same
    /// contexts accepted and the same error messages.
    pub fn from_json_str(text: &str) -> Result<Self, PayloadError> {
        crate::payloads::decode_text(text).map_err(|e| PayloadError::new("PluginContext", e))
    }
}
