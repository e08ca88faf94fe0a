//! Merging the remote plugin config under the local entry (docs/decisions.md #23): top-level
//! keys the local YAML set explicitly win, everything else comes from the server; then the
//! checks that catch a combination that cannot work, before the first hook call finds out.

use plugwire_framework::{PluginConfig, PluginMode};
use serde_json::Value;

/// Why a remote config cannot be used with the local entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergeError(pub String);

impl std::fmt::Display for MergeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// `remote.update(local)` over the explicitly set keys, as the Python client does.
/// `remote_json` is the object the server sent (all its keys count as set).
pub fn merge_configs(
    local: &PluginConfig,
    remote: &PluginConfig,
    remote_json: &Value,
) -> Result<PluginConfig, MergeError> {
    let name = &local.name;
    if remote.name != local.name {
        // The server found it case-insensitively, but invoke_hook looks it up by exact name.
        return Err(MergeError(format!(
            "the server calls this plugin '{}' but the gateway entry is named '{}'; hook calls are \
             matched by exact name, so rename the gateway entry to '{}'",
            remote.name, name, remote.name
        )));
    }
    if remote.mode == PluginMode::Disabled {
        return Err(MergeError(format!(
            "plugin '{name}' has mode: disabled on the server, so the server does not run it; \
             enable it in the server's config"
        )));
    }
    if local.is_set("config") && local.config.is_some() {
        return Err(MergeError(format!(
            "Cannot have {name} plugin defined as 'external' with 'config' set. 'config' section \
             settings can only be set on the plugin server."
        )));
    }

    let mut merged = remote_json.as_object().cloned().unwrap_or_default();
    let local_json = local.to_json();
    for key in &local.set_fields {
        if let Some(v) = local_json.get(key) {
            merged.insert(key.clone(), v.clone());
        }
    }
    let mut out = PluginConfig::from_json(Value::Object(merged))
        .map_err(|e| MergeError(format!("the merged config does not validate: {e}")))?;
    // Kept as parsed: re-serializing would turn "unset" TLS flags into explicit values and stop
    // PLUGINS_CLIENT_MTLS_* from overriding them.
    out.mcp = local.mcp.clone();
    out.kind = local.kind.clone();
    // Gateway-only: the remote side never decides how long the gateway waits for it.
    out.timeout = local.timeout;
    out.set_fields = remote
        .set_fields
        .union(&local.set_fields)
        .cloned()
        .collect();

    if local.is_set("hooks") {
        let missing: Vec<&str> = local
            .hooks
            .iter()
            .filter(|h| !remote.hooks.contains(h))
            .map(|h| h.as_str())
            .collect();
        if !missing.is_empty() {
            return Err(MergeError(format!(
                "the gateway entry lists hooks {} that the server's plugin does not implement \
                 (it implements: {}); remove them from `hooks:` or add them on the server",
                missing.join(", "),
                if remote.hooks.is_empty() {
                    "none".to_string()
                } else {
                    remote
                        .hooks
                        .iter()
                        .map(|h| h.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                }
            )));
        }
    }
    if out.hooks.is_empty() {
        tracing::warn!(plugin = %name, "external plugin has no hooks after merging the remote config; it will never be called");
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use plugwire_framework::{HookType, MCPClientConfig, MCPClientTLSConfig, TransportType};
    use serde_json::json;

    fn local(yaml_keys: Value) -> PluginConfig {
        PluginConfig::from_json(yaml_keys).unwrap()
    }

    fn remote() -> (PluginConfig, Value) {
        let v = json!({"name": "Filter", "description": "remote", "author": "a",
            "kind": "plugins.deny.DenyListPlugin", "namespace": null, "version": "0.1",
            "hooks": ["prompt_pre_fetch", "tool_pre_invoke"], "tags": ["t"], "mode": "enforce",
            "priority": 150, "conditions": [{"prompts": ["p1"]}], "applied_to": null,
            "config": {"words": ["x"]}, "mcp": null, "grpc": null, "unix_socket": null});
        (PluginConfig::from_json(v.clone()).unwrap(), v)
    }

    #[test]
    fn local_set_keys_win_and_the_rest_is_remote() {
        let l = local(json!({"name": "Filter", "kind": "external", "priority": 10,
            "mcp": {"proto": "STREAMABLEHTTP", "url": "https://localhost:1/mcp", "tls": {"ca_bundle": "/ca"}}}));
        let (r, rj) = remote();
        let m = merge_configs(&l, &r, &rj).unwrap();
        assert_eq!(m.priority, 10);
        assert_eq!(m.kind, "external");
        assert_eq!(m.mode, PluginMode::Enforce);
        assert_eq!(
            m.hooks,
            vec![HookType::PromptPreFetch, HookType::ToolPreInvoke]
        );
        assert_eq!(m.conditions.len(), 1);
        assert_eq!(m.config.as_ref().unwrap()["words"], json!(["x"]));
        assert_eq!(m.description.as_deref(), Some("remote"));
        // TLS flags the YAML did not set stay unset (env may override them).
        let tls: &MCPClientTLSConfig = m.mcp.as_ref().unwrap().tls.as_ref().unwrap();
        assert_eq!(tls.own.verify, None);
        let mcp: &MCPClientConfig = m.mcp.as_ref().unwrap();
        assert_eq!(mcp.proto, TransportType::StreamableHttp);
    }

    #[test]
    fn local_conditions_replace_remote_wholesale() {
        let l = local(
            json!({"name": "Filter", "kind": "external", "conditions": [],
            "mcp": {"proto": "STDIO", "script": "x.py"}}),
        );
        let (r, rj) = remote();
        let m = merge_configs(&l, &r, &rj).unwrap();
        assert!(m.conditions.is_empty());
    }

    #[test]
    fn conflicts_are_errors() {
        let (r, rj) = remote();
        let l = local(
            json!({"name": "filter", "kind": "external", "mcp": {"proto": "STDIO", "script": "x.py"}}),
        );
        assert!(merge_configs(&l, &r, &rj)
            .unwrap_err()
            .0
            .contains("rename the gateway entry to 'Filter'"));
        let l = local(
            json!({"name": "Filter", "kind": "external", "hooks": ["tool_post_invoke"],
            "mcp": {"proto": "STDIO", "script": "x.py"}}),
        );
        assert!(merge_configs(&l, &r, &rj)
            .unwrap_err()
            .0
            .contains("tool_post_invoke"));
        let l = local(
            json!({"name": "Filter", "kind": "external", "config": {"a": 1},
            "mcp": {"proto": "STDIO", "script": "x.py"}}),
        );
        assert!(merge_configs(&l, &r, &rj)
            .unwrap_err()
            .0
            .contains("'config' set"));
        let mut rd = rj.clone();
        rd["mode"] = json!("disabled");
        let r2 = PluginConfig::from_json(rd.clone()).unwrap();
        let l = local(
            json!({"name": "Filter", "kind": "external", "mode": "permissive",
            "mcp": {"proto": "STDIO", "script": "x.py"}}),
        );
        assert!(merge_configs(&l, &r2, &rd)
            .unwrap_err()
            .0
            .contains("disabled on the server"));
    }
}
