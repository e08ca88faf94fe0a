//! cpex's newer hooks over `plugwire serve`'s `invoke_hook`: a plugin that lists the hook answers
//! with its typed result; one that does not gets the usual in-result "Unable to find" error.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;

use common::*;
use plugwire_framework::{
    async_trait, Config, IdentityPayload, IdentityResult, MessagePayload, Plugin, PluginConfig,
    PluginContext, PluginError, PluginRegistry, PluginResult,
};
use plugwire_server::{HostPolicy, DEFAULT_MAX_BODY_BYTES};
use serde_json::json;

struct Resolver(PluginConfig);

#[async_trait]
impl Plugin for Resolver {
    fn config(&self) -> &PluginConfig {
        &self.0
    }

    async fn identity_resolve(
        &self,
        p: IdentityPayload,
        _ctx: &mut PluginContext,
    ) -> Result<PluginResult, PluginError> {
        // Over a wire the token is always redacted, so this plugin can only see that.
        let r = IdentityResult {
            rejected: p.raw_token.is_redacted(),
            reject_reason: format!("source {}", p.source),
            ..IdentityResult::default()
        };
        Ok(PluginResult::modified(r))
    }

    async fn cmf_llm_input(
        &self,
        _p: MessagePayload,
        ctx: &mut PluginContext,
    ) -> Result<PluginResult, PluginError> {
        ctx.set_state("saw", json!("cmf.llm_input"));
        Ok(PluginResult::pass())
    }
}

const YAML: &str = r#"
plugins:
  - {name: Resolver, kind: resolver, hooks: [identity_resolve, "cmf.llm_input"]}
  - {name: Other, kind: resolver, hooks: [tool_pre_invoke]}
"#;

async fn backend() -> Arc<dyn plugwire_server::Backend> {
    let env = plugwire_framework::EmptyEnv;
    let config = Config::load_str(YAML, "cpex.yaml", &env).unwrap();
    let mut registry = PluginRegistry::new();
    registry.register(&["resolver"], |c| {
        Ok(Arc::new(Resolver(c)) as Arc<dyn Plugin>)
    });
    let manager = plugwire_server::build_manager(config, &registry, &env).unwrap();
    let manager = plugwire_server::initialize_manager(manager).await.unwrap();
    Arc::new(plugwire_server::ManagerBackend::new(manager))
}

#[tokio::test]
async fn invoke_hook_dispatches_cpex_hooks() {
    let app = app(
        backend().await,
        DEFAULT_MAX_BODY_BYTES,
        HostPolicy::new(true, &[]),
    );
    let srv = start_plain(app).await;
    let mut c = Conn::tcp(srv.addr).await;

    let payload = json!({"raw_token": "**********", "source": "api_key", "headers": {}});
    let a = c
        .rpc(invoke(1, "Resolver", "identity_resolve", payload.clone()))
        .await
        .hook_answer();
    assert_eq!(a["plugin_name"], "Resolver");
    let m = &a["result"]["modified_payload"];
    assert_eq!(m["rejected"], true, "{a}");
    assert_eq!(m["reject_reason"], "source api_key");
    assert_eq!(m["reject_status"], 401);

    let msg = json!({"message": {"role": "user", "content": []}, "hook": "llm_input"});
    let a = c
        .rpc(invoke(2, "Resolver", "cmf.llm_input", msg))
        .await
        .hook_answer();
    assert_eq!(a["result"]["continue_processing"], true, "{a}");
    assert_eq!(a["context"]["state"]["saw"], "cmf.llm_input", "{a}");

    // A plugin that does not list the hook: the same in-result error as for any hook.
    let a = c
        .rpc(invoke(3, "Other", "identity_resolve", payload))
        .await
        .hook_answer();
    assert_eq!(
        a["error"]["message"],
        "Unable to find identity_resolve for plugin Other.  Make sure the plugin is registered."
    );
    srv.shutdown().await;
}
