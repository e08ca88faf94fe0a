//! The hook points, named exactly as on the wire: the 12 of the 1.0.0 framework, and the 11 that
//! cpex 0.1.4 (ContextForge 1.1.0) registers once its identity and message hook modules are
//! imported — 23 in all. A config may name any of them; an unknown name is a start-up error that
//! lists them all.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// One hook point. The string form (`as_str`) is what travels in `hook_type` and in a config's `hooks:` list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum HookType {
    /// `prompt_pre_fetch`: before a prompt template is rendered.
    PromptPreFetch,
    /// `prompt_post_fetch`: after a prompt is rendered.
    PromptPostFetch,
    /// `tool_pre_invoke`: before a tool is called.
    ToolPreInvoke,
    /// `tool_post_invoke`: after a tool answered.
    ToolPostInvoke,
    /// `resource_pre_fetch`: before a resource is fetched.
    ResourcePreFetch,
    /// `resource_post_fetch`: after a resource was fetched.
    ResourcePostFetch,
    /// `agent_pre_invoke`: before an agent is called.
    AgentPreInvoke,
    /// `agent_post_invoke`: after an agent answered.
    AgentPostInvoke,
    /// `http_pre_request`: an incoming HTTP request, before authentication.
    HttpPreRequest,
    /// `http_post_request`: after the gateway answered an HTTP request.
    HttpPostRequest,
    /// `http_auth_resolve_user`: custom authentication.
    HttpAuthResolveUser,
    /// `http_auth_check_permission`: custom authorization.
    HttpAuthCheckPermission,
    /// cpex `identity_resolve`: [`crate::IdentityPayload`] in, [`crate::IdentityResult`] out.
    IdentityResolve,
    /// cpex `token_delegate`: [`crate::DelegationPayload`] in, [`crate::DelegationResult`] out.
    TokenDelegate,
    /// cpex `evaluate`: generic message evaluation ([`crate::MessagePayload`] in and out).
    Evaluate,
    /// cpex `cmf.tool_pre_invoke` ([`crate::MessagePayload`]).
    CmfToolPreInvoke,
    /// cpex `cmf.tool_post_invoke` ([`crate::MessagePayload`]).
    CmfToolPostInvoke,
    /// cpex `cmf.llm_input` ([`crate::MessagePayload`]).
    CmfLlmInput,
    /// cpex `cmf.llm_output` ([`crate::MessagePayload`]).
    CmfLlmOutput,
    /// cpex `cmf.resource_pre_fetch` ([`crate::MessagePayload`]).
    CmfResourcePreFetch,
    /// cpex `cmf.resource_post_fetch` ([`crate::MessagePayload`]).
    CmfResourcePostFetch,
    /// cpex `cmf.prompt_pre_fetch` ([`crate::MessagePayload`]).
    CmfPromptPreFetch,
    /// cpex `cmf.prompt_post_fetch` ([`crate::MessagePayload`]).
    CmfPromptPostFetch,
}

impl HookType {
    /// Every hook: the 12 of 1.0.0 in the order the Python registry prints them, then cpex's 11.
    pub const ALL: [HookType; 23] = [
        HookType::PromptPreFetch,
        HookType::PromptPostFetch,
        HookType::ToolPreInvoke,
        HookType::ToolPostInvoke,
        HookType::ResourcePreFetch,
        HookType::ResourcePostFetch,
        HookType::AgentPreInvoke,
        HookType::AgentPostInvoke,
        HookType::HttpPreRequest,
        HookType::HttpPostRequest,
        HookType::HttpAuthResolveUser,
        HookType::HttpAuthCheckPermission,
        HookType::IdentityResolve,
        HookType::TokenDelegate,
        HookType::Evaluate,
        HookType::CmfToolPreInvoke,
        HookType::CmfToolPostInvoke,
        HookType::CmfLlmInput,
        HookType::CmfLlmOutput,
        HookType::CmfResourcePreFetch,
        HookType::CmfResourcePostFetch,
        HookType::CmfPromptPreFetch,
        HookType::CmfPromptPostFetch,
    ];

    /// The 11 hooks only cpex registers. A 1.0.x peer does not know them (its client refuses to
    /// call them and its server answers "Unable to find"), and the 1.1.0 gateway itself has no
    /// call site for them: they are reached through cpex APIs or plugwire's own manager.
    pub const fn is_cpex_only(self) -> bool {
        matches!(
            self,
            HookType::IdentityResolve
                | HookType::TokenDelegate
                | HookType::Evaluate
                | HookType::CmfToolPreInvoke
                | HookType::CmfToolPostInvoke
                | HookType::CmfLlmInput
                | HookType::CmfLlmOutput
                | HookType::CmfResourcePreFetch
                | HookType::CmfResourcePostFetch
                | HookType::CmfPromptPreFetch
                | HookType::CmfPromptPostFetch
        )
    }

    /// True for the hooks whose payload is a [`crate::MessagePayload`].
    pub const fn is_message_hook(self) -> bool {
        self.is_cpex_only() && !matches!(self, HookType::IdentityResolve | HookType::TokenDelegate)
    }

    /// The Python string for this hook.
    pub const fn as_str(self) -> &'static str {
        match self {
            HookType::PromptPreFetch => "prompt_pre_fetch",
            HookType::PromptPostFetch => "prompt_post_fetch",
            HookType::ToolPreInvoke => "tool_pre_invoke",
            HookType::ToolPostInvoke => "tool_post_invoke",
            HookType::ResourcePreFetch => "resource_pre_fetch",
            HookType::ResourcePostFetch => "resource_post_fetch",
            HookType::AgentPreInvoke => "agent_pre_invoke",
            HookType::AgentPostInvoke => "agent_post_invoke",
            HookType::HttpPreRequest => "http_pre_request",
            HookType::HttpPostRequest => "http_post_request",
            HookType::HttpAuthResolveUser => "http_auth_resolve_user",
            HookType::HttpAuthCheckPermission => "http_auth_check_permission",
            HookType::IdentityResolve => "identity_resolve",
            HookType::TokenDelegate => "token_delegate",
            HookType::Evaluate => "evaluate",
            HookType::CmfToolPreInvoke => "cmf.tool_pre_invoke",
            HookType::CmfToolPostInvoke => "cmf.tool_post_invoke",
            HookType::CmfLlmInput => "cmf.llm_input",
            HookType::CmfLlmOutput => "cmf.llm_output",
            HookType::CmfResourcePreFetch => "cmf.resource_pre_fetch",
            HookType::CmfResourcePostFetch => "cmf.resource_post_fetch",
            HookType::CmfPromptPreFetch => "cmf.prompt_pre_fetch",
            HookType::CmfPromptPostFetch => "cmf.prompt_post_fetch",
        }
    }

    /// All 23 names joined with ", ", for error messages that must list them.
    pub fn known_list() -> String {
        HookType::ALL
            .iter()
            .map(|h| h.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The payload field a condition's `tools`/`prompts`/`resources`/`agents` list is matched against
    /// (the 1.0.0 condition rules). The `http_*` hooks and cpex's new hooks have none.
    pub(crate) fn condition_field(self) -> Option<ConditionField> {
        match self {
            HookType::ToolPreInvoke | HookType::ToolPostInvoke => Some(ConditionField::Tools),
            HookType::PromptPreFetch | HookType::PromptPostFetch => Some(ConditionField::Prompts),
            HookType::ResourcePreFetch | HookType::ResourcePostFetch => {
                Some(ConditionField::Resources)
            }
            HookType::AgentPreInvoke | HookType::AgentPostInvoke => Some(ConditionField::Agents),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ConditionField {
    Tools,
    Prompts,
    Resources,
    Agents,
}

impl fmt::Display for HookType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A hook name that is not one of the 23.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown hook `{name}`; the known hooks are: {}",
    HookType::known_list()
)]
pub struct UnknownHookError {
    /// The name that was not recognised.
    pub name: String,
}

impl FromStr for HookType {
    type Err = UnknownHookError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        HookType::ALL
            .iter()
            .copied()
            .find(|h| h.as_str() == s)
            .ok_or_else(|| UnknownHookError { name: s.to_owned() })
    }
}

impl Serialize for HookType {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for HookType {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}
