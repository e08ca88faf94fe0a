//! cpex's newer hooks end to end in the framework: accepted in config (and an unknown hook refused
//! with its name), dispatched to a Rust plugin that implements them with typed payloads, chained,
//! and answered with the usual error for a plugin that does not list the hook.

#![allow(clippy::unwrap_used)] // tests may unwrap (team rules)

use plugwire_framework::*;
use serde_json::json;

const NEW_HOOKS: [&str; 11] = [
    "identity_resolve",
    "token_delegate",
    "evaluate",
    "cmf.tool_pre_invoke",
    "cmf.tool_post_invoke",
    "cmf.llm_input",
    "cmf.llm_output",
    "cmf.resource_pre_fetch",
    "cmf.resource_post_fetch",
    "cmf.prompt_pre_fetch",
    "cmf.prompt_post_fetch",
];

#[test]
fn every_new_hook_loads_and_an_unknown_one_is_named() {
    assert_eq!(HookType::ALL.len(), 23);
    for name in NEW_HOOKS {
        let yaml = format!("plugins: [{{name: P, kind: k, hooks: [\"{name}\"]}}]");
        let c = Config::load_str(&yaml, "hooks.yaml", &EmptyEnv).unwrap();
        let h = c.plugins[0].hooks[0];
        assert_eq!(h.as_str(), name);
        assert!(h.is_cpex_only());
    }
    let yaml = "plugins: [{name: P, kind: k, hooks: [\"cmf.llm_inputs\"]}]";
    let e = Config::load_str(yaml, "hooks.yaml", &EmptyEnv)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("cmf.llm_inputs") && e.contains("hooks.yaml"),
        "{e}"
    );
    for name in NEW_HOOKS {
        assert!(e.contains(name), "the message lists {name}: {e}");
    }
    // The bare MessageHookType values are not hooks in cpex either.
    assert!("llm_input".parse::<HookType>().is_err());
}

/// Resolves the token "good" to alice, mints a token per target, and appends a text part to
/// every message it sees (tagged with its name, so chaining is visible).
struct IdentityPlugin(PluginConfig);

#[async_trait]
impl Plugin for IdentityPlugin {
    fn config(&self) -> &PluginConfig {
        &self.0
    }

    async fn identity_resolve(
        &self,
        p: IdentityPayload,
        _ctx: &mut PluginContext,
    ) -> Result<PluginResult, PluginError> {
        let mut r = IdentityResult::default();
        if p.raw_token.expose_secret() == "good" {
            r.subject = json!({"id": "alice", "type": "user"}).as_object().cloned();
        } else {
            r.rejected = true;
            r.reject_reason = if p.raw_token.is_redacted() {
                "token redacted in transit".into()
            } else {
                "bad token".into()
            };
        }
        Ok(PluginResult::modified(r))
    }

    async fn token_delegate(
        &self,
        p: DelegationPayload,
        _ctx: &mut PluginContext,
    ) -> Result<PluginResult, PluginError> {
        let r = DelegationResult {
            delegated_token: Some(format!("for-{}", p.target_name)),
            cache_ttl: p.route_attenuation.and_then(|a| a.ttl_seconds),
            ..DelegationResult::default()
        };
        Ok(PluginResult::modified(r))
    }

    async fn cmf_tool_pre_invoke(
        &self,
        mut p: MessagePayload,
        _ctx: &mut PluginContext,
    ) -> Result<PluginResult, PluginError> {
        p.message
            .content
            .push(json!({"content_type": "text", "text": self.0.name}));
        let m = HookPayload::message(HookType::CmfToolPreInvoke, p).unwrap();
        Ok(PluginResult::modified(m))
    }
}

fn manager() -> PluginManager {
    let yaml = r#"
plugins:
  - {name: A, kind: identity, priority: 1,
     hooks: [identity_resolve, token_delegate, "cmf.tool_pre_invoke"]}
  - {name: B, kind: identity, priority: 2, hooks: ["cmf.tool_pre_invoke"]}
"#;
    let mut reg = PluginRegistry::new();
    reg.register(&["identity"], |c| {
        Ok(std::sync::Arc::new(IdentityPlugin(c)))
    });
    let config = Config::load_str(yaml, "cpex.yaml", &EmptyEnv).unwrap();
    PluginManager::new(config, &reg).unwrap()
}

fn identity(token: &str) -> HookPayload {
    HookPayload::from_json(HookType::IdentityResolve, json!({"raw_token": token})).unwrap()
}

#[tokio::test]
async fn a_rust_plugin_gets_typed_payloads_through_the_manager() {
    let m = manager();
    let mut g = GlobalContext::new("r1");
    let out = m.invoke_hook(identity("good"), &mut g, None).await.unwrap();
    match out.result.modified_payload {
        Some(ModifiedPayload::IdentityResult(r)) => {
            assert!(!r.rejected);
            assert_eq!(r.subject.unwrap()["id"], "alice");
        }
        other => panic!("{other:?}"),
    }
    let out = m.invoke_hook(identity("nope"), &mut g, None).await.unwrap();
    assert!(
        matches!(out.result.modified_payload, Some(ModifiedPayload::IdentityResult(r)) if r.rejected)
    );

    let d = json!({"target_name": "hr_tool", "route_attenuation": {"ttl_seconds": 60}});
    let payload = HookPayload::from_json(HookType::TokenDelegate, d).unwrap();
    let out = m.invoke_hook(payload, &mut g, None).await.unwrap();
    match out.result.modified_payload {
        Some(ModifiedPayload::DelegationResult(r)) => {
            assert_eq!(r.delegated_token.as_deref(), Some("for-hr_tool"));
            assert_eq!(r.cache_ttl, Some(60));
        }
        other => panic!("{other:?}"),
    }

    // Message hooks chain: B sees A's part.
    let msg = json!({"message": {"role": "user", "content": [{"content_type": "text", "text": "hi"}]},
                     "hook": "tool_pre_invoke"});
    let payload = HookPayload::from_json(HookType::CmfToolPreInvoke, msg).unwrap();
    let out = m.invoke_hook(payload, &mut g, None).await.unwrap();
    let texts: Vec<String> = out
        .result
        .modified_payload
        .unwrap()
        .as_message()
        .unwrap()
        .message
        .content
        .iter()
        .map(|c| c["text"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(texts, ["hi", "A", "B"]);

    // No plugin lists `cmf.llm_input`: the hook passes through.
    let payload =
        HookPayload::from_json(HookType::CmfLlmInput, json!({"message": {"role": "user"}}))
            .unwrap();
    let out = m.invoke_hook(payload, &mut g, None).await.unwrap();
    assert!(out.result.continue_processing && out.result.modified_payload.is_none());
}

#[tokio::test]
async fn single_plugin_calls_answer_as_for_any_hook() {
    let m = manager();
    let ctx = || PluginContext::new(GlobalContext::new("r2"));
    // As `invoke_hook` over a wire: the token arrives redacted and the plugin sees that.
    let (r, _) = m
        .invoke_plugin(
            "A",
            HookType::IdentityResolve,
            &json!({"raw_token": "**********"}).to_string(),
            ctx(),
        )
        .await
        .unwrap();
    let j = r.to_json();
    assert_eq!(j["modified_payload"]["rejected"], true);
    assert_eq!(
        j["modified_payload"]["reject_reason"],
        "token redacted in transit"
    );
    // B does not list identity_resolve: the same error as for any hook a plugin lacks.
    let e = m
        .invoke_plugin(
            "B",
            HookType::IdentityResolve,
            &json!({"raw_token": "x"}).to_string(),
            ctx(),
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind(), PluginErrorKind::UnknownPlugin);
    assert_eq!(
        e.message(),
        "Unable to find identity_resolve for plugin B.  Make sure the plugin is registered."
    );
}
