//! Manager semantics of ContextForge 1.0.0 (run under the 1.0.x switch) with small test plugins.

#![allow(clippy::unwrap_used)] // tests may unwrap (team rules)

use std::sync::{Arc, Mutex};
use std::time::Duration;

use plugwire_framework::*;
use serde_json::{json, Value};

/// A plugin whose behaviour comes from its `config:`:
/// `action`: pass | tag | block | error | panic | hang; `tag`: appended to args.trail;
/// `meta`: metadata to return; `global`: written to global_context.state; `state`: written to ctx.state.
struct TestPlugin {
    cfg: PluginConfig,
    log: Arc<Mutex<Vec<String>>>,
}

impl TestPlugin {
    fn opt(&self, key: &str) -> Option<&Value> {
        self.cfg.config.as_ref().and_then(|c| c.get(key))
    }
    fn action(&self) -> &str {
        self.opt("action").and_then(Value::as_str).unwrap_or("pass")
    }
}

#[async_trait]
impl Plugin for TestPlugin {
    fn config(&self) -> &PluginConfig {
        &self.cfg
    }

    async fn initialize(&self) -> Result<(), PluginError> {
        if self.opt("fail_init").is_some() {
            return Err(PluginError::plugin(&self.cfg.name, "cannot connect"));
        }
        Ok(())
    }

    async fn shutdown(&self) {
        self.log
            .lock()
            .unwrap()
            .push(format!("shutdown:{}", self.cfg.name));
    }

    async fn tool_pre_invoke(
        &self,
        mut payload: ToolPreInvokePayload,
        ctx: &mut PluginContext,
    ) -> Result<PluginResult, PluginError> {
        self.log.lock().unwrap().push(self.cfg.name.clone());
        if let Some(s) = self.opt("state") {
            ctx.set_state("seen", s.clone());
        }
        if let Some(g) = self.opt("global") {
            ctx.global_context
                .state
                .insert(self.cfg.name.clone(), g.clone());
        }
        let mut result = PluginResult::pass();
        if let Some(Value::Object(m)) = self.opt("meta") {
            result.metadata = Some(m.clone());
        }
        match self.action() {
            "tag" => {
                let args = payload.args.get_or_insert_with(JsonMap::new);
                let trail = args
                    .get("trail")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned();
                args.insert("trail".into(), json!(format!("{trail}{}", self.cfg.name)));
                result.modified_payload = Some(payload.into());
            }
            "block" => {
                result.continue_processing = false;
                result.violation = Some(PluginViolation::new("no", "blocked", "BLOCKED"));
            }
            "error" => return Err(PluginError::plugin(&self.cfg.name, "boom")),
            "panic" => panic!("plugin exploded"),
            "hang" => std::future::pending::<()>().await,
            _ => {}
        }
        Ok(result)
    }

    async fn tool_post_invoke(
        &self,
        payload: ToolPostInvokePayload,
        ctx: &mut PluginContext,
    ) -> Result<PluginResult, PluginError> {
        // Echo what the pre hook left in state, to test persistence.
        let seen = ctx.get_state("seen").cloned().unwrap_or(Value::Null);
        Ok(PluginResult::modified(ToolPostInvokePayload {
            result: seen,
            ..payload
        }))
    }

    async fn prompt_pre_fetch(
        &self,
        _payload: PromptPrehookPayload,
        _ctx: &mut PluginContext,
    ) -> Result<PluginResult, PluginError> {
        self.log.lock().unwrap().push(self.cfg.name.clone());
        Ok(PluginResult::pass())
    }

    async fn http_pre_request(
        &self,
        payload: HttpPreRequestPayload,
        _ctx: &mut PluginContext,
    ) -> Result<PluginResult, PluginError> {
        self.log.lock().unwrap().push(self.cfg.name.clone());
        let mut h = payload.headers.clone();
        let n = h.len();
        h.insert(format!("x-{}", self.cfg.name.to_lowercase()), n.to_string());
        Ok(PluginResult {
            modified_payload: Some(ModifiedPayload::HttpPreRequestHeaders(h)),
            ..PluginResult::pass()
        })
    }
}

/// These tests pin the ContextForge 1.0.0 semantics, so they run under the 1.0.x switch, set
/// through the environment seam as an operator would (`PLUGINS_COMPAT=1.0`). The 1.1.0 table
/// is in `tests/eras.rs`.
fn compat_1_0() -> std::collections::HashMap<&'static str, &'static str> {
    std::collections::HashMap::from([(PLUGINS_COMPAT, "1.0")])
}

struct Harness {
    log: Arc<Mutex<Vec<String>>>,
    registry: PluginRegistry,
}

fn harness() -> Harness {
    let log = Arc::new(Mutex::new(Vec::new()));
    let mut registry = PluginRegistry::new();
    let l = log.clone();
    registry.register(&["test", "tests.TestPlugin"], move |cfg| {
        if cfg
            .config
            .as_ref()
            .is_some_and(|c| c.contains_key("bad_config"))
        {
            return Err(PluginError::plugin(
                &cfg.name,
                "pattern `(` does not compile",
            ));
        }
        Ok(Arc::new(TestPlugin {
            cfg,
            log: l.clone(),
        }) as Arc<dyn Plugin>)
    });
    Harness { log, registry }
}

async fn manager(h: &Harness, yaml: &str) -> PluginManager {
    let cfg = Config::load_str(yaml, "test.yaml", &compat_1_0()).unwrap();
    let mut m = PluginManager::new(cfg, &h.registry).unwrap();
    m.set_timeout(Duration::from_millis(100));
    m.initialize().await.unwrap();
    m
}

fn tool_pre(name: &str) -> HookPayload {
    ToolPreInvokePayload {
        name: name.into(),
        args: Some(JsonMap::new()),
        headers: None,
    }
    .into()
}

fn trail(r: &PluginResult) -> String {
    match &r.modified_payload {
        Some(ModifiedPayload::Payload(HookPayload::ToolPreInvoke(p))) => p.args.as_ref().unwrap()
            ["trail"]
            .as_str()
            .unwrap()
            .to_owned(),
        other => panic!("no tool payload: {other:?}"),
    }
}

#[tokio::test]
async fn priority_order_is_stable_and_payloads_chain() {
    let h = harness();
    let m = manager(
        &h,
        r#"
plugins:
  - {name: B, kind: test, hooks: [tool_pre_invoke], priority: 20, config: {action: tag}}
  - {name: A, kind: test, hooks: [tool_pre_invoke], priority: 10, config: {action: tag}}
  - {name: C, kind: test, hooks: [tool_pre_invoke], priority: 20, config: {action: tag}}
  - {name: N, kind: test, hooks: [tool_pre_invoke], priority: -5, config: {action: tag}}
plugin_settings: {}
"#,
    )
    .await;
    assert_eq!(m.plugins_for(HookType::ToolPreInvoke), ["N", "A", "B", "C"]);
    let mut g = GlobalContext::new("r1");
    let out = m.invoke_hook(tool_pre("t"), &mut g, None).await.unwrap();
    assert!(out.result.continue_processing);
    assert_eq!(trail(&out.result), "NABC");
    assert_eq!(*h.log.lock().unwrap(), ["N", "A", "B", "C"]);
    assert_eq!(out.contexts.len(), 4);
}

#[tokio::test]
async fn no_plugins_for_a_hook_passes() {
    let h = harness();
    let m = manager(&h, "plugins: []\nplugin_settings: {}\n").await;
    assert!(!m.has_hooks_for(HookType::ToolPreInvoke));
    let out = m
        .invoke_hook(tool_pre("t"), &mut GlobalContext::new("r"), None)
        .await
        .unwrap();
    assert_eq!(out.result, PluginResult::pass());
}

fn mode_yaml(mode: &str, action: &str, fail_on_error: bool) -> String {
    format!(
        r#"
plugin_settings: {{fail_on_plugin_error: {fail_on_error}}}
plugins:
  - {{name: A, kind: test, hooks: [tool_pre_invoke], priority: 1, config: {{action: tag, meta: {{who: A, a: 1}}}}}}
  - {{name: X, kind: test, mode: {mode}, hooks: [tool_pre_invoke], priority: 2, config: {{action: {action}, meta: {{who: X}}}}}}
  - {{name: Z, kind: test, hooks: [tool_pre_invoke], priority: 3, config: {{action: tag}}}}
"#
    )
}

#[tokio::test]
async fn enforce_stops_on_violation_and_on_every_failure() {
    let h = harness();
    let m = manager(&h, &mode_yaml("enforce", "block", false)).await;
    let out = m
        .invoke_hook(tool_pre("t"), &mut GlobalContext::new("r"), None)
        .await
        .unwrap();
    let r = out.result;
    assert!(!r.continue_processing);
    let v = r.violation.as_ref().unwrap();
    assert_eq!(v.code, "BLOCKED");
    assert_eq!(v.plugin_name.as_deref(), Some("X"));
    assert_eq!(
        trail(&r),
        "A",
        "the blocking plugin's input (A's output) is echoed"
    );
    assert_eq!(
        r.metadata.as_ref().unwrap()["who"],
        "X",
        "blocker's metadata kept, last writer wins"
    );
    assert_eq!(r.metadata.as_ref().unwrap()["a"], 1);
    assert!(
        !h.log.lock().unwrap().contains(&"Z".to_owned()),
        "Z must not run"
    );

    for (action, kind) in [
        ("error", PluginErrorKind::Plugin),
        ("hang", PluginErrorKind::Timeout),
        ("panic", PluginErrorKind::Panic),
    ] {
        let h = harness();
        let m = manager(&h, &mode_yaml("enforce", action, false)).await;
        let e = m
            .invoke_hook(tool_pre("t"), &mut GlobalContext::new("r"), None)
            .await
            .unwrap_err();
        assert_eq!(e.kind(), kind, "{action}");
        assert_eq!(e.plugin_name(), "X");
        if action == "hang" {
            assert_eq!(e.message(), "Plugin X exceeded 0.1s timeout");
        }
        assert!(!h.log.lock().unwrap().contains(&"Z".to_owned()));
    }
}

#[tokio::test]
async fn enforce_ignore_error_stops_on_violation_and_skips_failures() {
    let h = harness();
    let m = manager(&h, &mode_yaml("enforce_ignore_error", "block", false)).await;
    let out = m
        .invoke_hook(tool_pre("t"), &mut GlobalContext::new("r"), None)
        .await
        .unwrap();
    assert!(!out.result.continue_processing);
    assert_eq!(
        out.result.violation.unwrap().plugin_name.as_deref(),
        Some("X")
    );
    assert!(!h.log.lock().unwrap().contains(&"Z".to_owned()));

    for action in ["error", "hang", "panic"] {
        let h = harness();
        let m = manager(&h, &mode_yaml("enforce_ignore_error", action, false)).await;
        let out = m
            .invoke_hook(tool_pre("t"), &mut GlobalContext::new("r"), None)
            .await
            .unwrap();
        assert!(out.result.continue_processing, "{action}");
        assert_eq!(
            trail(&out.result),
            "AZ",
            "{action}: skipped plugin contributes nothing, Z runs"
        );
        assert_eq!(out.result.metadata.as_ref().unwrap()["who"], "A");
    }
}

#[tokio::test]
async fn permissive_logs_and_continues() {
    let h = harness();
    let m = manager(&h, &mode_yaml("permissive", "block", false)).await;
    let out = m
        .invoke_hook(tool_pre("t"), &mut GlobalContext::new("r"), None)
        .await
        .unwrap();
    assert!(out.result.continue_processing);
    assert!(
        out.result.violation.is_none(),
        "violation dropped from the final result"
    );
    assert_eq!(trail(&out.result), "AZ");
    assert_eq!(
        out.result.metadata.as_ref().unwrap()["who"],
        "X",
        "permissive metadata kept"
    );
    for action in ["error", "hang", "panic"] {
        let h = harness();
        let m = manager(&h, &mode_yaml("permissive", action, false)).await;
        let out = m
            .invoke_hook(tool_pre("t"), &mut GlobalContext::new("r"), None)
            .await
            .unwrap();
        assert!(out.result.continue_processing, "{action}");
        assert_eq!(trail(&out.result), "AZ", "{action}");
    }
}

#[tokio::test]
async fn fail_on_plugin_error_makes_every_failure_fatal() {
    for mode in ["permissive", "enforce_ignore_error"] {
        for (action, kind) in [
            ("error", PluginErrorKind::Plugin),
            ("hang", PluginErrorKind::Timeout),
            ("panic", PluginErrorKind::Panic),
        ] {
            let h = harness();
            let m = manager(&h, &mode_yaml(mode, action, true)).await;
            let e = m
                .invoke_hook(tool_pre("t"), &mut GlobalContext::new("r"), None)
                .await
                .unwrap_err();
            assert_eq!(e.kind(), kind, "{mode} {action}");
        }
    }
}

#[tokio::test]
async fn disabled_entries_are_never_resolved() {
    let h = harness();
    let m = manager(
        &h,
        r#"
plugin_settings: {}
plugins:
  - {name: Off, kind: cpex_pii_filter.PIIFilterPlugin, mode: disabled, hooks: [tool_pre_invoke]}
  - {name: On, kind: test, hooks: [tool_pre_invoke], config: {action: tag}}
"#,
    )
    .await;
    assert_eq!(m.plugin_names(), ["On"]);
    let out = m
        .invoke_hook(tool_pre("t"), &mut GlobalContext::new("r"), None)
        .await
        .unwrap();
    assert_eq!(trail(&out.result), "On");
}

#[test]
fn unknown_kind_and_bad_plugin_config_fail_at_construction() {
    let h = harness();
    let cfg = Config::load_str(
        "plugin_settings: {}\nplugins:\n  - {name: P, kind: nope.Plugin, hooks: [tool_pre_invoke]}\n",
        "conf/plugins.yaml",
        &compat_1_0(),
    )
    .unwrap();
    let e = PluginManager::new(cfg, &h.registry)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("conf/plugins.yaml")
            && e.contains("'P'")
            && e.contains("kind")
            && e.contains("nope.Plugin"),
        "{e}"
    );
    assert!(e.contains("tests.TestPlugin"), "lists the known kinds: {e}");

    let cfg = Config::load_str(
        "plugin_settings: {}\nplugins:\n  - {name: Q, kind: test, config: {bad_config: 1}}\n",
        "conf/plugins.yaml",
        &compat_1_0(),
    )
    .unwrap();
    let e = PluginManager::new(cfg, &h.registry)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("conf/plugins.yaml")
            && e.contains("'Q'")
            && e.contains("config")
            && e.contains("does not compile"),
        "{e}"
    );
}

#[tokio::test]
async fn global_state_merges_from_enforce_modes_only() {
    let h = harness();
    let m = manager(
        &h,
        r#"
plugin_settings: {}
plugins:
  - {name: E, kind: test, hooks: [tool_pre_invoke], config: {global: 1}}
  - {name: I, kind: test, mode: enforce_ignore_error, hooks: [tool_pre_invoke], config: {global: 2}}
  - {name: P, kind: test, mode: permissive, hooks: [tool_pre_invoke], config: {global: 3}}
"#,
    )
    .await;
    let mut g = GlobalContext::new("r");
    m.invoke_hook(tool_pre("t"), &mut g, None).await.unwrap();
    assert_eq!(g.state.get("E"), Some(&json!(1)));
    assert_eq!(g.state.get("I"), Some(&json!(2)));
    assert_eq!(
        g.state.get("P"),
        None,
        "permissive global writes are discarded"
    );
}

#[tokio::test]
async fn plugin_state_persists_from_pre_to_post_hook() {
    let h = harness();
    let m = manager(
        &h,
        r#"
plugin_settings: {}
plugins:
  - {name: S, kind: test, hooks: [tool_pre_invoke, tool_post_invoke], config: {state: remembered}}
"#,
    )
    .await;
    let mut g = GlobalContext::new("req-7");
    let pre = m.invoke_hook(tool_pre("t"), &mut g, None).await.unwrap();
    assert_eq!(
        pre.contexts[&context_key("req-7", "S")].state["seen"],
        "remembered"
    );
    let post_payload: HookPayload = ToolPostInvokePayload {
        name: "t".into(),
        result: Value::Null,
    }
    .into();
    let post = m
        .invoke_hook(post_payload.clone(), &mut g, Some(pre.contexts))
        .await
        .unwrap();
    match post.result.modified_payload {
        Some(ModifiedPayload::Payload(HookPayload::ToolPostInvoke(p))) => {
            assert_eq!(p.result, "remembered")
        }
        other => panic!("{other:?}"),
    }
    // Without the table, the state is gone.
    let fresh = m.invoke_hook(post_payload, &mut g, None).await.unwrap();
    match fresh.result.modified_payload {
        Some(ModifiedPayload::Payload(HookPayload::ToolPostInvoke(p))) => {
            assert_eq!(p.result, Value::Null)
        }
        other => panic!("{other:?}"),
    }
}

async fn ran(
    m: &PluginManager,
    h: &Harness,
    payload: HookPayload,
    g: &mut GlobalContext,
) -> Vec<String> {
    h.log.lock().unwrap().clear();
    m.invoke_hook(payload, g, None).await.unwrap();
    h.log.lock().unwrap().clone()
}

#[tokio::test]
async fn conditions_select_plugins() {
    let h = harness();
    let m = manager(
        &h,
        r#"
plugin_settings: {}
plugins:
  - {name: Tool, kind: test, hooks: [tool_pre_invoke, prompt_pre_fetch, http_pre_request], conditions: [{tools: [weather]}]}
  - {name: Server, kind: test, hooks: [tool_pre_invoke], conditions: [{server_ids: [s1]}]}
  - {name: Tenant, kind: test, hooks: [tool_pre_invoke], conditions: [{tenant_ids: [t1]}]}
  - {name: Either, kind: test, hooks: [tool_pre_invoke], conditions: [{server_ids: [s9]}, {tools: [weather], user_patterns: [ali]}]}
  - {name: Json, kind: test, hooks: [tool_pre_invoke], conditions: [{content_types: ["Application/JSON; charset=utf-8"]}]}
  - {name: Prompt, kind: test, hooks: [prompt_pre_fetch], conditions: [{prompts: [greet], server_ids: [], tenant_ids: []}]}
  - {name: Empty, kind: test, hooks: [tool_pre_invoke], conditions: [{tools: [], server_ids: []}]}
"#,
    )
    .await;
    let mut g = GlobalContext::new("r");
    assert_eq!(ran(&m, &h, tool_pre("other"), &mut g).await, ["Empty"]);
    assert_eq!(
        ran(&m, &h, tool_pre("weather"), &mut g).await,
        ["Tool", "Empty"]
    );
    g.user = Some(json!("alice@example.com"));
    assert_eq!(
        ran(&m, &h, tool_pre("weather"), &mut g).await,
        ["Tool", "Either", "Empty"]
    );
    g.user = Some(json!({"ali": true}));
    assert_eq!(
        ran(&m, &h, tool_pre("weather"), &mut g).await,
        ["Tool", "Either", "Empty"],
        "dict user: key membership"
    );
    g.user = None;
    g.server_id = Some("s1".into());
    g.tenant_id = Some("t1".into());
    g.content_type = Some("application/json; charset=UTF-8".into());
    assert_eq!(
        ran(&m, &h, tool_pre("x"), &mut g).await,
        ["Server", "Tenant", "Json", "Empty"]
    );
    let prompt = |id: &str| {
        HookPayload::from(PromptPrehookPayload {
            prompt_id: id.into(),
            args: None,
        })
    };
    // `tools` is only checked on tool hooks, so Tool runs on prompts.
    assert_eq!(
        ran(&m, &h, prompt("greet"), &mut g).await,
        ["Tool", "Prompt"]
    );
    assert_eq!(ran(&m, &h, prompt("other"), &mut g).await, ["Tool"]);
    // http hooks have no payload field: only the context part of a condition counts.
    let http: HookPayload = HttpPreRequestPayload {
        path: "/".into(),
        method: "GET".into(),
        client_host: None,
        client_port: None,
        headers: Default::default(),
    }
    .into();
    assert_eq!(ran(&m, &h, http, &mut g).await, ["Tool"]);
}

#[tokio::test]
async fn http_header_results_chain_into_the_next_plugin() {
    let h = harness();
    let m = manager(
        &h,
        r#"
plugin_settings: {}
plugins:
  - {name: A, kind: test, hooks: [http_pre_request], priority: 1}
  - {name: B, kind: test, hooks: [http_pre_request], priority: 2}
"#,
    )
    .await;
    let http: HookPayload = HttpPreRequestPayload {
        path: "/".into(),
        method: "GET".into(),
        client_host: None,
        client_port: None,
        headers: Default::default(),
    }
    .into();
    let out = m
        .invoke_hook(http, &mut GlobalContext::new("r"), None)
        .await
        .unwrap();
    assert_eq!(
        out.result.modified_payload.unwrap().to_json(),
        json!({"x-a": "0", "x-b": "1"})
    );
}

fn single_yaml(mode: &str, action: &str) -> String {
    format!(
        r#"
plugin_settings: {{}}
plugins:
  - {{name: Solo, kind: test, mode: {mode}, hooks: [tool_pre_invoke], conditions: [{{tools: [never]}}], config: {{action: {action}, meta: {{m: 1}}, state: s}}}}
"#
    )
}

fn ctx() -> PluginContext {
    PluginContext::new(GlobalContext::new("r"))
}

#[tokio::test]
async fn single_plugin_call_ignores_conditions_and_uses_the_1_0_0_block_shape() {
    let h = harness();
    let payload = json!({"name": "echo", "args": {"text": "x"}});
    let m = manager(&h, &single_yaml("enforce", "pass")).await;
    let (r, c) = m
        .invoke_plugin("Solo", HookType::ToolPreInvoke, &payload.to_string(), ctx())
        .await
        .unwrap();
    assert!(r.continue_processing);
    assert_eq!(c.state["seen"], "s", "context comes back");
    assert_eq!(
        h.log.lock().unwrap().len(),
        1,
        "conditions are not evaluated server-side"
    );

    let m = manager(&h, &single_yaml("enforce", "block")).await;
    let (r, _) = m
        .invoke_plugin("Solo", HookType::ToolPreInvoke, &payload.to_string(), ctx())
        .await
        .unwrap();
    assert_eq!(r.to_json()["metadata"], Value::Null);
    assert_eq!(
        r.to_json()["modified_payload"],
        json!({"name": "echo", "args": {"text": "x"}, "headers": null})
    );
    // A payload decoded by the caller: the same reply, the echo included.
    let decoded = HookPayload::from_json_str(HookType::ToolPreInvoke, &payload.to_string());
    let (d, _) = m
        .invoke_plugin_decoded(
            "Solo",
            HookType::ToolPreInvoke,
            Box::new(decoded.unwrap()),
            Box::new(ctx()),
        )
        .await
        .unwrap();
    assert_eq!(d, r);
    assert_eq!(r.violation.unwrap().plugin_name.as_deref(), Some("Solo"));

    for mode in ["permissive", "enforce_ignore_error"] {
        let m = manager(&h, &single_yaml(mode, "block")).await;
        let (r, _) = m
            .invoke_plugin("Solo", HookType::ToolPreInvoke, &payload.to_string(), ctx())
            .await
            .unwrap();
        assert!(
            !r.continue_processing,
            "{mode}: block passed through unchanged"
        );
        assert_eq!(r.metadata.unwrap()["m"], 1);
        assert!(r.modified_payload.is_none());
    }
}

#[tokio::test]
async fn single_plugin_call_mode_decides_errors() {
    let h = harness();
    let payload = json!({"name": "echo"});
    for (action, kind) in [
        ("error", PluginErrorKind::Plugin),
        ("hang", PluginErrorKind::Timeout),
        ("panic", PluginErrorKind::Panic),
    ] {
        let m = manager(&h, &single_yaml("enforce", action)).await;
        let e = m
            .invoke_plugin("Solo", HookType::ToolPreInvoke, &payload.to_string(), ctx())
            .await
            .unwrap_err();
        assert_eq!(e.kind(), kind);
        assert_eq!(e.model.plugin_name, "Solo");
        for mode in ["permissive", "enforce_ignore_error"] {
            let m = manager(&h, &single_yaml(mode, action)).await;
            let (r, _) = m
                .invoke_plugin("Solo", HookType::ToolPreInvoke, &payload.to_string(), ctx())
                .await
                .unwrap();
            assert_eq!(
                r.to_json(),
                PluginResult::pass().to_json(),
                "{mode} {action}: swallowed"
            );
        }
    }
}

#[tokio::test]
async fn single_plugin_call_lookup_and_payload_errors() {
    let h = harness();
    let m = manager(&h, &single_yaml("enforce", "pass")).await;
    let e = m
        .invoke_plugin(
            "solo",
            HookType::ToolPreInvoke,
            &json!({"name": "x"}).to_string(),
            ctx(),
        )
        .await
        .unwrap_err();
    assert_eq!(
        e.kind(),
        PluginErrorKind::UnknownPlugin,
        "exact-name lookup"
    );
    assert_eq!(
        e.message(),
        "Unable to find tool_pre_invoke for plugin solo.  Make sure the plugin is registered."
    );
    let e = m
        .invoke_plugin(
            "Solo",
            HookType::ToolPostInvoke,
            &json!({"name": "x"}).to_string(),
            ctx(),
        )
        .await
        .unwrap_err();
    assert_eq!(
        e.kind(),
        PluginErrorKind::UnknownPlugin,
        "plugin without that hook"
    );
    let e = m
        .invoke_plugin(
            "Solo",
            HookType::ToolPreInvoke,
            &json!({"args": {}}).to_string(),
            ctx(),
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind(), PluginErrorKind::InvalidPayload);
    assert!(e.message().contains("name"), "{}", e.message());
}

#[tokio::test]
async fn initialize_failures_skip_or_abort() {
    let yaml = |fail: bool| {
        format!(
            "plugin_settings: {{fail_on_plugin_error: {fail}}}\nplugins:\n  - {{name: Bad, kind: test, hooks: [tool_pre_invoke], config: {{fail_init: 1}}}}\n  - {{name: Good, kind: test, hooks: [tool_pre_invoke]}}\n"
        )
    };
    let h = harness();
    let mut m = PluginManager::new(
        Config::load_str(&yaml(false), "x.yaml", &compat_1_0()).unwrap(),
        &h.registry,
    )
    .unwrap();
    m.initialize().await.unwrap();
    assert_eq!(m.plugin_names(), ["Good"]);
    assert_eq!(m.plugins_for(HookType::ToolPreInvoke), ["Good"]);
    let mut m = PluginManager::new(
        Config::load_str(&yaml(true), "x.yaml", &compat_1_0()).unwrap(),
        &h.registry,
    )
    .unwrap();
    let e = m.initialize().await.unwrap_err();
    assert_eq!(e.kind(), PluginErrorKind::Initialization);
    assert!(
        e.message().contains("Bad") && e.message().contains("cannot connect"),
        "{}",
        e.message()
    );
}

#[tokio::test]
async fn shutdown_runs_in_reverse_order() {
    let h = harness();
    let m = manager(
        &h,
        "plugin_settings: {}\nplugins:\n  - {name: A, kind: test}\n  - {name: B, kind: test}\n  - {name: C, kind: test}\n",
    )
    .await;
    m.shutdown().await;
    assert_eq!(
        *h.log.lock().unwrap(),
        ["shutdown:C", "shutdown:B", "shutdown:A"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_plugin_does_not_poison_the_manager() {
    let h = harness();
    let m = Arc::new(manager(&h, &mode_yaml("permissive", "panic", false)).await);
    let mut tasks = Vec::new();
    for i in 0..8 {
        let m = m.clone();
        tasks.push(tokio::spawn(async move {
            m.invoke_hook(
                tool_pre("t"),
                &mut GlobalContext::new(format!("r{i}")),
                None,
            )
            .await
        }));
    }
    for t in tasks {
        let out = t.await.unwrap().unwrap();
        assert_eq!(trail(&out.result), "AZ");
    }
}

/// Grants or denies by config; exercises the cross-typed `http_auth_check_permission` result.
struct Decider(PluginConfig);

#[async_trait]
impl Plugin for Decider {
    fn config(&self) -> &PluginConfig {
        &self.0
    }
    async fn http_auth_check_permission(
        &self,
        _payload: HttpAuthCheckPermissionPayload,
        _ctx: &mut PluginContext,
    ) -> Result<PluginResult, PluginError> {
        let granted = self
            .0
            .config
            .as_ref()
            .is_some_and(|c| c.contains_key("grant"));
        Ok(PluginResult {
            modified_payload: Some(ModifiedPayload::PermissionDecision(
                HttpAuthCheckPermissionResultPayload {
                    granted,
                    reason: Some(self.0.name.clone()),
                },
            )),
            ..PluginResult::pass()
        }
        .with_metadata("_decision_plugin", json!("forged")))
    }
}

#[tokio::test]
async fn permission_decisions_name_the_deciding_plugin() {
    let mut reg = PluginRegistry::new();
    reg.register(
        &["decider"],
        |c| Ok(Arc::new(Decider(c)) as Arc<dyn Plugin>),
    );
    let cfg = Config::load_str(
        "plugin_settings: {}\nplugins:\n  - {name: First, kind: decider, hooks: [http_auth_check_permission], priority: 1, config: {grant: 1}}\n  - {name: Second, kind: decider, hooks: [http_auth_check_permission], priority: 2}\n",
        "x.yaml",
        &compat_1_0(),
    )
    .unwrap();
    let mut m = PluginManager::new(cfg, &reg).unwrap();
    m.initialize().await.unwrap();
    let payload: HookPayload = HttpAuthCheckPermissionPayload {
        user_email: "a@b".into(),
        permission: "tools.execute".into(),
        resource_type: None,
        team_id: None,
        is_admin: false,
        auth_method: None,
        client_host: None,
        user_agent: None,
    }
    .into();
    let out = m
        .invoke_hook(payload, &mut GlobalContext::new("r"), None)
        .await
        .unwrap();
    assert_eq!(
        out.result.to_json()["modified_payload"],
        json!({"granted": false, "reason": "Second"})
    );
    assert_eq!(
        out.result.metadata.unwrap()["_decision_plugin"],
        "Second",
        "plugins cannot forge it"
    );
}
