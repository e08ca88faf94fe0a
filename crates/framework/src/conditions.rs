//! Condition matching (docs/decisions.md #20): OR across conditions, AND within one, exact and
//! case-sensitive except content types. An empty list counts as "not specified".

use std::collections::BTreeSet;

use serde_json::Value;

use crate::config::normalize_content_type;
use crate::hooks::ConditionField;
use crate::{GlobalContext, HookPayload, HookType, PluginCondition};

/// Should a plugin with these `conditions` run for this hook, payload and context?
pub fn payload_matches(
    conditions: &[PluginCondition],
    hook: HookType,
    payload: &HookPayload,
    global: &GlobalContext,
) -> bool {
    conditions.is_empty()
        || conditions
            .iter()
            .any(|c| condition_matches(c, hook, payload, global))
}

fn specified(set: &Option<BTreeSet<String>>) -> Option<&BTreeSet<String>> {
    set.as_ref().filter(|s| !s.is_empty())
}

fn opt_in(value: Option<&str>, set: &BTreeSet<String>) -> bool {
    value.is_some_and(|v| !v.is_empty() && set.contains(v))
}

fn condition_matches(
    c: &PluginCondition,
    hook: HookType,
    payload: &HookPayload,
    g: &GlobalContext,
) -> bool {
    if let Some(ids) = specified(&c.server_ids) {
        if !opt_in(g.server_id.as_deref(), ids) {
            return false;
        }
    }
    if let Some(ids) = specified(&c.tenant_ids) {
        if !opt_in(g.tenant_id.as_deref(), ids) {
            return false;
        }
    }
    if let Some(types) = c.content_types.as_ref().filter(|t| !t.is_empty()) {
        match g.content_type.as_deref().filter(|s| !s.is_empty()) {
            Some(ct) => {
                let ct = normalize_content_type(ct);
                if !types.contains(&ct) {
                    return false;
                }
            }
            None => return false,
        }
    }
    if let Some(patterns) = c.user_patterns.as_ref().filter(|p| !p.is_empty()) {
        if !user_matches(g.user.as_ref(), patterns) {
            return false;
        }
    }
    if let Some(field) = hook.condition_field() {
        let set = match field {
            ConditionField::Tools => &c.tools,
            ConditionField::Prompts => &c.prompts,
            ConditionField::Resources => &c.resources,
            ConditionField::Agents => &c.agents,
        };
        if let Some(set) = specified(set) {
            if !opt_in(payload.condition_value(), set) {
                return false;
            }
        }
    }
    true
}

/// Python's `any(p in user for p in patterns)`: substring for a string user, key membership for an
/// object user, element membership for a list. A missing or empty user never matches.
fn user_matches(user: Option<&Value>, patterns: &[String]) -> bool {
    match user {
        Some(Value::String(s)) if !s.is_empty() => patterns.iter().any(|p| s.contains(p.as_str())),
        Some(Value::Object(m)) if !m.is_empty() => patterns.iter().any(|p| m.contains_key(p)),
        Some(Value::Array(a)) if !a.is_empty() => patterns
            .iter()
            .any(|p| a.iter().any(|v| v.as_str() == Some(p.as_str()))),
        _ => false,
    }
}
