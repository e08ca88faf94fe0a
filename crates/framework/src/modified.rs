//! [`ModifiedPayload`]: what a plugin may return as `modified_payload`.
//!
//! Most hooks return a payload of their own input type. Six hooks return another shape: the two
//! `http_*_request` hooks the headers to use, `http_auth_resolve_user` a user object,
//! `http_auth_check_permission` a decision, cpex's `identity_resolve` and `token_delegate` their
//! result models. Those six shapes are results only: no hook takes them as input. They live here,
//! apart from [`HookPayload`] (the inputs), so that handing a result to a hook as its input is a
//! compile error instead of a check at run time:
//!
//! ```compile_fail
//! use plugwire_framework::{HookPayload, IdentityResult};
//! fn as_input(r: IdentityResult) -> HookPayload {
//!     r.into() // no `From<IdentityResult> for HookPayload`: a result is not an input
//! }
//! ```
//!
//! ```compile_fail
//! use plugwire_framework::{HookPayload, HttpHeaderPayload};
//! fn as_input(h: HttpHeaderPayload) -> HookPayload {
//!     HookPayload::HttpPreRequestHeaders(h) // no such input variant
//! }
//! ```
//!
//! ```
//! use plugwire_framework::{IdentityResult, ModifiedPayload, PluginResult};
//! fn answer(r: IdentityResult) -> PluginResult {
//!     PluginResult::modified(r) // the place a result belongs
//! }
//! # let _ = answer;
//! # let _ = ModifiedPayload::is_result_only;
//! ```

use serde::Serialize;
use serde_json::Value;

use crate::payloads::JsonSource;
use crate::{
    DelegationResult, HookPayload, HookType, HttpAuthCheckPermissionResultPayload,
    HttpHeaderPayload, IdentityResult, JsonMap, PayloadError,
};

/// A plugin's `modified_payload`: its hook's input type ([`ModifiedPayload::Payload`]), or the
/// result form of one of the six cross-typed hooks. Serializes as the bare payload object, so the
/// wire form is the one the Python models give.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ModifiedPayload {
    /// A payload of the hook's input type. The two `http_*_request` hooks accept it too and keep
    /// its headers (a Python plugin may return the whole payload).
    Payload(HookPayload),
    /// Result of `http_pre_request`: the headers to use.
    HttpPreRequestHeaders(HttpHeaderPayload),
    /// Result of `http_post_request`: the headers to use.
    HttpPostRequestHeaders(HttpHeaderPayload),
    /// Result of `http_auth_resolve_user`: the resolved user as a free-form object.
    ResolvedUser(JsonMap),
    /// Result of `http_auth_check_permission`.
    PermissionDecision(HttpAuthCheckPermissionResultPayload),
    /// Result of `identity_resolve`.
    IdentityResult(IdentityResult),
    /// Result of `token_delegate`.
    DelegationResult(DelegationResult),
}

impl ModifiedPayload {
    /// The hook this result belongs to: the manager ignores a result of another hook.
    pub fn hook_type(&self) -> HookType {
        match self {
            ModifiedPayload::Payload(p) => p.hook_type(),
            ModifiedPayload::HttpPreRequestHeaders(_) => HookType::HttpPreRequest,
            ModifiedPayload::HttpPostRequestHeaders(_) => HookType::HttpPostRequest,
            ModifiedPayload::ResolvedUser(_) => HookType::HttpAuthResolveUser,
            ModifiedPayload::PermissionDecision(_) => HookType::HttpAuthCheckPermission,
            ModifiedPayload::IdentityResult(_) => HookType::IdentityResolve,
            ModifiedPayload::DelegationResult(_) => HookType::TokenDelegate,
        }
    }

    /// True for the six result forms (everything but [`ModifiedPayload::Payload`]).
    pub fn is_result_only(&self) -> bool {
        !matches!(self, ModifiedPayload::Payload(_))
    }

    /// The input-shaped payload, when it is one.
    pub fn as_payload(&self) -> Option<&HookPayload> {
        match self {
            ModifiedPayload::Payload(p) => Some(p),
            _ => None,
        }
    }

    /// The [`crate::MessagePayload`] of a message hook's result.
    pub fn as_message(&self) -> Option<&crate::MessagePayload> {
        self.as_payload().and_then(HookPayload::as_message)
    }

    /// Decode the `modified_payload` of a `hook` result: the hook's payload type, except the six
    /// cross-typed hooks, whose result form is decoded.
    pub fn from_json(hook: HookType, v: Value) -> Result<Self, PayloadError> {
        Self::decode(hook, v)
    }

    /// [`ModifiedPayload::from_json`] from the JSON text.
    pub fn from_json_str(hook: HookType, text: &str) -> Result<Self, PayloadError> {
        Self::decode(hook, text)
    }

    pub(crate) fn decode(hook: HookType, v: impl JsonSource) -> Result<Self, PayloadError> {
        Ok(match hook {
            HookType::HttpPreRequest => Self::HttpPreRequestHeaders(v.decode("HttpHeaderPayload")?),
            HookType::HttpPostRequest => {
                Self::HttpPostRequestHeaders(v.decode("HttpHeaderPayload")?)
            }
            HookType::HttpAuthResolveUser => Self::ResolvedUser(v.decode("dict")?),
            HookType::HttpAuthCheckPermission => {
                Self::PermissionDecision(v.decode("HttpAuthCheckPermissionResultPayload")?)
            }
            HookType::IdentityResolve => Self::IdentityResult(v.decode("IdentityResult")?),
            HookType::TokenDelegate => Self::DelegationResult(v.decode("DelegationResult")?),
            _ => Self::Payload(HookPayload::decode_input(hook, v)?),
        })
    }

    /// The response form: every model field present, `None` as `null`.
    pub fn to_json(&self) -> Value {
        // Strings, numbers, maps and `Value`s only: serialization cannot fail.
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// Serializes as the bare payload object (explicit nulls), straight from the typed value.
impl Serialize for ModifiedPayload {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            ModifiedPayload::Payload(p) => p.serialize(s),
            ModifiedPayload::HttpPreRequestHeaders(p)
            | ModifiedPayload::HttpPostRequestHeaders(p) => p.serialize(s),
            ModifiedPayload::ResolvedUser(p) => p.serialize(s),
            ModifiedPayload::PermissionDecision(p) => p.serialize(s),
            ModifiedPayload::IdentityResult(p) => p.serialize(s),
            ModifiedPayload::DelegationResult(p) => p.serialize(s),
        }
    }
}

impl From<HookPayload> for ModifiedPayload {
    fn from(p: HookPayload) -> Self {
        ModifiedPayload::Payload(p)
    }
}

impl From<HttpAuthCheckPermissionResultPayload> for ModifiedPayload {
    fn from(p: HttpAuthCheckPermissionResultPayload) -> Self {
        ModifiedPayload::PermissionDecision(p)
    }
}

impl From<IdentityResult> for ModifiedPayload {
    fn from(p: IdentityResult) -> Self {
        ModifiedPayload::IdentityResult(p)
    }
}

impl From<DelegationResult> for ModifiedPayload {
    fn from(p: DelegationResult) -> Self {
        ModifiedPayload::DelegationResult(p)
    }
}
