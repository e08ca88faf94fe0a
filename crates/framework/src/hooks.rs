//! The 12 hook points of the 1.0.0 framework, named exactly as on the wire.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// One hook point. The string form (`as_str`) is what travels in `hook_type` and in a config's `hooks:` list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum HookType {
    PromptPreFetch,
    PromptPostFetch,
    ToolPreInvoke,
    ToolPostInvoke,
    ResourcePreFetch,
    ResourcePostFetch,
    AgentPreInvoke,
    AgentPostInvoke,
    HttpPreRequest,
    HttpPostRequest,
    HttpAuthResolveUser,
    HttpAuthCheckPermission,
}

impl HookType {
    /// Every hook, in the order the Python registry prints them.
    pub const ALL: [HookType; 12] = [
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
    ];

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
        }
    }

    /// The 12 names joined with ", ", for error messages that must list them.
    pub fn known_list() -> String {
        HookType::ALL
            .iter()
            .map(|h| h.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The payload field a condition's `tools`/`prompts`/`resources`/`agents` list is matched against
    /// (framework.md §3.8). The `http_*` hooks have none.
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

/// A hook name that is not one of the 12.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown hook `{name}`; the known hooks are: {}",
    HookType::known_list()
)]
pub struct UnknownHookError {
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
