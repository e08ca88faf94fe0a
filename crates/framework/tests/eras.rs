//! ContextForge 1.1.0 semantics (the default era): the mode × on_error × outcome table, phase
//! order, the legacy-name mapping, the server's single-plugin replies, the fire_and_forget queue
//! and the payload size guard.

#![allow(clippy::unwrap_used)] // tests may unwrap (team rules)

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use plugwire_framework::*;
use serde_json::{json, Value};

/// `action`: pass | tag | block | error | panic | hang. `tag` appends the plugin name to
/// `args.trail`; every call appends `name:<trail seen>` to the log.
struct P {
    cfg: PluginConfig,
    log: Arc<Mutex<Vec<String>>>,
}

#[async_trait]
impl Plugin for P {
    fn config(&self) -> &PluginConfig {
        &self.cfg
    }

    async fn tool_pre_invoke(
        &self,
        mut payload: ToolPreInvokePayload,
        ctx: &mut PluginContext,
    ) -> Result<PluginResult, PluginError> {
        let c = self.cfg.config.clone().unwrap_or_default();
        let args = payload.args.get_or_insert_with(JsonMap::new);
        let seen = args
            .get("trail")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        self.log
            .lock()
            .unwrap()
            .push(format!("{}:{seen}", self.cfg.name));
        ctx.global_context
            .state
            .insert(self.cfg.name.clone(), json!(true));
        let mut r = PluginResult::pass().with_metadata(self.cfg.name.clone(), json!(1));
        match c.get("action").and_then(Value::as_str).unwrap_or("pass") {
            "tag" => {
                args.insert("trail".into(), json!(format!("{seen}{}", self.cfg.name)));
                r.modified_payload = Some(payload.into());
            }
            "block" => {
                let mut d = JsonMap::new();
                d.insert("score".into(), json!(3));
                r.continue_processing = false;
                r.violation = Some(PluginViolation::new("no", "blocked", "BLOCKED"));
                r.denial_metadata = Some(d);
            }
            "error" => return Err(PluginError::plugin(&self.cfg.name, "boom")),
            "panic" => panic!("plugin exploded"),
            "hang" => std::future::pending::<()>().await,
            _ => {}
        }
        Ok(r)
    }
}

fn registry(log: &Arc<Mutex<Vec<String>>>) -> PluginRegistry {
    let mut reg = PluginRegistry::new();
    let l = log.clone();
    reg.register(&["p"], move |cfg| {
        Ok(Arc::new(P {
            cfg,
            log: l.clone(),
        }) as Arc<dyn Plugin>)
    });
    reg
}

async fn manager_env(yaml: &str, env: &dyn Env) -> (PluginManager, Arc<Mutex<Vec<String>>>) {
    let log = Arc::new(Mutex::new(Vec::new()));
    let cfg = Config::load_str(yaml, "eras.yaml", env).unwrap();
    let mut m = PluginManager::new(cfg, &registry(&log)).unwrap();
    m.set_timeout(Duration::from_millis(100));
    m.initialize().await.unwrap();
    (m, log)
}

async fn manager(yaml: &str) -> (PluginManager, Arc<Mutex<Vec<String>>>) {
    manager_env(yaml, &EmptyEnv).await
}

fn entry(name: &str, mode: &str, extra: &str, action: &str) -> String {
    format!("  - {{name: {name}, kind: p, hooks: [tool_pre_invoke], mode: {mode}, {extra} config: {{action: {action}}}}}\n")
}

fn tool_pre() -> HookPayload {
    ToolPreInvokePayload {
        name: "t".into(),
        args: Some(JsonMap::new()),
        headers: None,
    }
    .into()
}

fn trail(r: &PluginResult) -> Option<String> {
    match &r.modified_payload {
        Some(ModifiedPayload::Payload(HookPayload::ToolPreInvoke(p))) => p.args.as_ref().unwrap()
            ["trail"]
            .as_str()
            .map(str::to_owned),
        None => None,
        other => panic!("unexpected payload {other:?}"),
    }
}

const MODES: [&str; 5] = [
    "sequential",
    "transform",
    "audit",
    "concurrent",
    "fire_and_forget",
];
const ON_ERROR: [&str; 3] = ["fail", "ignore", "disable"];
const OUTCOMES: [&str; 6] = ["pass", "tag", "block", "error", "hang", "panic"];

/// Every mode × on_error × outcome, one plugin, checked against cpex's executor: who may
/// modify, who may block, which errors fail the request, what `disable` does, what is recorded.
#[tokio::test]
async fn mode_on_error_outcome_table() {
    for mode in MODES {
        for on_error in ON_ERROR {
            for action in OUTCOMES {
                let case = format!("{mode}/{on_error}/{action}");
                let yaml = format!(
                    "plugins:\n{}",
                    entry("X", mode, &format!("on_error: {on_error},"), action)
                );
                let (m, _) = manager(&yaml).await;
                let mut g = GlobalContext::new("r");
                let out = m.invoke_hook(tool_pre(), &mut g, None).await;
                let faf = mode == "fire_and_forget";
                let failing = matches!(action, "error" | "hang" | "panic");
                if failing && on_error == "fail" && !faf {
                    let e = out.expect_err(&case);
                    let kind = match action {
                        "error" => PluginErrorKind::Plugin,
                        "hang" => PluginErrorKind::Timeout,
                        _ => PluginErrorKind::Panic,
                    };
                    assert_eq!(e.kind(), kind, "{case}");
                    continue;
                }
                let r = out.unwrap_or_else(|e| panic!("{case}: {e}")).result;
                let may_modify = matches!(mode, "sequential" | "transform");
                let may_block = matches!(mode, "sequential" | "concurrent");
                let expect_trail = (action == "tag" && may_modify).then(|| "X".to_owned());
                assert_eq!(trail(&r), expect_trail, "{case}: modification");
                let blocked = action == "block" && may_block;
                assert_eq!(r.continue_processing, !blocked, "{case}: continue");
                assert_eq!(r.violation.is_some(), blocked, "{case}: violation");
                if blocked {
                    let v = r.violation.as_ref().unwrap();
                    assert_eq!(v.plugin_name.as_deref(), Some("X"), "{case}");
                    assert_eq!(r.denial_metadata, None, "{case}: a halt carries none");
                }
                // Metadata of every mode except fire_and_forget reaches the result.
                let has_meta = r.metadata.as_ref().unwrap().contains_key("X");
                assert_eq!(has_meta, !faf && !failing, "{case}: metadata");
                // Global state: merged from sequential, transform, concurrent.
                let merged = g.state.contains_key("X");
                let merges = matches!(mode, "sequential" | "transform" | "concurrent");
                assert_eq!(merged, merges && !failing, "{case}: global state");
                assert_eq!(r.executions.len(), 1, "{case}: one record");
                let rec = &r.executions[0];
                assert_eq!(rec.mode, mode, "{case}");
                assert_eq!(rec.plugin_name, "X");
                assert_eq!(rec.plugin_id.len(), 32, "{case}");
                let status = if action == "hang" && !faf {
                    "timeout"
                } else {
                    "completed"
                };
                assert_eq!(rec.status, status, "{case}");
                assert_eq!(rec.effective_allow, !blocked, "{case}");
                if faf {
                    m.shutdown().await;
                }
                let disabled = failing && on_error == "disable";
                let listed = m.runtime_disabled();
                assert_eq!(listed.len(), usize::from(disabled), "{case}: {listed:?}");
            }
        }
    }
}

#[tokio::test]
async fn disable_takes_the_plugin_out_for_later_calls() {
    let (m, log) = manager(&format!(
        "plugins:\n{}",
        entry("X", "sequential", "on_error: disable,", "error")
    ))
    .await;
    let mut g = GlobalContext::new("r");
    assert_eq!(m.runtime_disabled_stamp(), 0, "nothing taken out yet");
    m.invoke_hook(tool_pre(), &mut g, None).await.unwrap();
    let taken_out = m.runtime_disabled_stamp();
    assert_ne!(taken_out, 0, "the change is stamped");
    let r = m.invoke_hook(tool_pre(), &mut g, None).await.unwrap();
    assert_eq!(log.lock().unwrap().len(), 1, "not called again");
    assert!(
        r.result.executions.is_empty(),
        "no record for a disabled plugin"
    );
    assert_eq!(m.runtime_disabled(), ["X"]);
    assert_eq!(
        m.runtime_disabled_stamp(),
        taken_out,
        "no change, same stamp"
    );
    m.reset_runtime_disabled();
    let reset = m.runtime_disabled_stamp();
    assert!(
        reset > taken_out,
        "a reset is a change: {reset} after {taken_out}"
    );
    m.invoke_hook(tool_pre(), &mut g, None).await.unwrap();
    assert_eq!(log.lock().unwrap().len(), 2);
    // Taken out again: a new stamp, never one shown before (by this or any other manager).
    assert!(m.runtime_disabled_stamp() > reset);
}

/// Phases run in a fixed order whatever the priorities; priority orders within a phase;
/// concurrent plugins see the payload the serial phases left; fire_and_forget sees the original.
#[tokio::test]
async fn phases_run_in_order_and_see_the_right_payload() {
    let yaml = format!(
        "plugins:\n{}{}{}{}{}",
        entry("Faf", "fire_and_forget", "priority: 0,", "tag"),
        entry("Conc", "concurrent", "priority: 1,", "tag"),
        entry("Aud", "audit", "priority: 2,", "tag"),
        entry("Tr", "transform", "priority: 3,", "tag"),
        entry("Seq", "sequential", "priority: 50,", "tag"),
    );
    let (m, log) = manager(&yaml).await;
    assert_eq!(
        m.plugins_for(HookType::ToolPreInvoke),
        ["Seq", "Tr", "Aud", "Conc", "Faf"]
    );
    let r = m
        .invoke_hook(tool_pre(), &mut GlobalContext::new("r"), None)
        .await
        .unwrap()
        .result;
    m.shutdown().await;
    assert_eq!(
        trail(&r).as_deref(),
        Some("SeqTr"),
        "audit and concurrent changes dropped"
    );
    assert_eq!(
        *log.lock().unwrap(),
        ["Seq:", "Tr:Seq", "Aud:SeqTr", "Conc:SeqTr", "Faf:"]
    );
    let modes: Vec<_> = r.executions.iter().map(|e| e.mode.as_str()).collect();
    assert_eq!(
        modes,
        [
            "sequential",
            "transform",
            "audit",
            "concurrent",
            "fire_and_forget"
        ]
    );
    assert_eq!(
        r.executions[3].duration_ns, 0,
        "concurrent records have no duration"
    );
}

/// A sequential block halts the chain; the halt carries the payload as earlier plugins left it,
/// and fire_and_forget plugins are still scheduled.
#[tokio::test]
async fn a_sequential_block_halts_but_background_plugins_still_run() {
    let yaml = format!(
        "plugins:\n{}{}{}{}",
        entry("A", "sequential", "priority: 1,", "tag"),
        entry("B", "sequential", "priority: 2,", "block"),
        entry("C", "transform", "", "tag"),
        entry("F", "fire_and_forget", "", "pass"),
    );
    let (m, log) = manager(&yaml).await;
    let r = m
        .invoke_hook(tool_pre(), &mut GlobalContext::new("r"), None)
        .await
        .unwrap()
        .result;
    m.shutdown().await;
    assert!(!r.continue_processing);
    assert_eq!(trail(&r).as_deref(), Some("A"));
    assert_eq!(*log.lock().unwrap(), ["A:", "B:A", "F:"]);
}

/// The legacy names map as cpex maps them, and the 1.0.x switch restores their 1.0.0 meaning.
#[tokio::test]
async fn legacy_names_map_as_cpex_and_the_switch_restores_1_0() {
    let c = Config::load_str(
        "plugins:\n  - {name: A, kind: p, mode: enforce}\n  - {name: B, kind: p, mode: enforce_ignore_error}\n  - {name: C, kind: p, mode: enforce_ignore_error, on_error: fail}\n  - {name: D, kind: p, mode: permissive}\n",
        "x.yaml",
        &EmptyEnv,
    )
    .unwrap();
    let got: Vec<_> = c
        .plugins
        .iter()
        .map(|p| (p.mode.migrated().as_str(), p.effective_on_error().as_str()))
        .collect();
    assert_eq!(
        got,
        [
            ("sequential", "fail"),
            ("sequential", "ignore"),
            ("sequential", "fail"),
            ("transform", "fail")
        ]
    );
    // Difference 1: a permissive plugin's error aborts in 1.1.0, is skipped in 1.0.x.
    let yaml = format!("plugins:\n{}", entry("D", "permissive", "", "error"));
    let (m, _) = manager(&yaml).await;
    assert!(m
        .invoke_hook(tool_pre(), &mut GlobalContext::new("r"), None)
        .await
        .is_err());
    let yaml10 = format!(
        "plugin_settings: {{compat: '1.0'}}\nplugins:\n{}",
        entry("D", "permissive", "", "error")
    );
    let (m, _) = manager(&yaml10).await;
    assert_eq!(m.compat(), Compat::V1_0);
    assert!(
        m.invoke_hook(tool_pre(), &mut GlobalContext::new("r"), None)
            .await
            .unwrap()
            .result
            .continue_processing
    );
    // The variable wins over the YAML key.
    let env = HashMap::from([(PLUGINS_COMPAT, "1.1")]);
    let (m, _) = manager_env(&yaml10, &env).await;
    assert_eq!(m.compat(), Compat::V1_1);
    // Difference 5: pure priority order under the switch.
    let yaml = format!(
        "plugin_settings: {{compat: '1.0'}}\nplugins:\n{}{}",
        entry("T", "permissive", "priority: 1,", "tag"),
        entry("S", "enforce", "priority: 2,", "tag"),
    );
    let (m, _) = manager(&yaml).await;
    assert_eq!(m.plugins_for(HookType::ToolPreInvoke), ["T", "S"]);
}

/// `plugwire serve`'s single-plugin replies (the server's own mode and on_error).
#[tokio::test]
async fn server_single_plugin_replies() {
    let yaml = format!(
        "plugins:\n{}{}{}{}{}{}",
        entry("S", "sequential", "", "block"),
        entry("T", "transform", "", "block"),
        entry("F", "fire_and_forget", "", "block"),
        entry("I", "sequential", "on_error: ignore,", "error"),
        entry("H", "sequential", "on_error: ignore,", "hang"),
        entry("E", "enforce", "", "error"),
    );
    let (m, _) = manager(&yaml).await;
    let ctx = || PluginContext::new(GlobalContext::new("r"));
    let payload = tool_pre().to_json().to_string();
    let call = |n: &'static str| m.invoke_plugin(n, HookType::ToolPreInvoke, &payload, ctx());
    let (r, _) = call("S").await.unwrap();
    assert!(!r.continue_processing && r.modified_payload.is_none() && r.metadata.is_none());
    assert_eq!(r.violation.unwrap().code, "BLOCKED");
    assert_eq!(
        r.denial_metadata.unwrap()["score"],
        3,
        "kept on a sequential block"
    );
    let (r, _) = call("T").await.unwrap();
    assert!(r.continue_processing && r.violation.is_none());
    let (r, _) = call("F").await.unwrap();
    assert!(
        !r.continue_processing,
        "fire_and_forget passes the result through"
    );
    let (r, _) = call("I").await.unwrap();
    assert_eq!(r, PluginResult::pass());
    let e = call("H").await.unwrap_err();
    assert_eq!(
        e.kind(),
        PluginErrorKind::Timeout,
        "an ignored timeout is still an error reply"
    );
    assert!(call("E").await.is_err());
}

/// The background queue is bounded, never makes the caller wait, counts what it drops, and is
/// drained (here: cancelled) on shutdown.
#[tokio::test(start_paused = true)]
async fn fire_and_forget_queue_is_bounded_and_cancelled_on_shutdown() {
    let yaml = format!(
        "plugin_settings: {{execution_pool: 1}}\nplugins:\n{}",
        entry("F", "fire_and_forget", "", "hang")
    );
    let (mut m, log) = manager(&yaml).await;
    m.set_timeout(Duration::from_secs(3600));
    assert_eq!(m.execution_pool(), Some(1));
    let mut g = GlobalContext::new("r");
    // The plugin never returns, yet the calls do.
    m.invoke_hook(tool_pre(), &mut g, None).await.unwrap();
    m.invoke_hook(tool_pre(), &mut g, None).await.unwrap();
    tokio::task::yield_now().await;
    assert_eq!(m.background_pending(), 1);
    assert_eq!(
        m.background_overflowed(),
        1,
        "the second call found the queue full"
    );
    assert_eq!(log.lock().unwrap().len(), 1);
    m.shutdown().await;
    assert_eq!(m.background_pending(), 0, "cancelled at shutdown");
    // The environment wins over the YAML value; 0 = unbounded.
    let env = HashMap::from([(PLUGINS_EXECUTION_POOL, "0")]);
    let (m, _) = manager_env(&yaml, &env).await;
    assert_eq!(m.execution_pool(), None);
}

/// The chain's fixed 1,000,000-character guard on args/result applies in both eras.
#[tokio::test]
async fn oversized_payloads_are_refused_by_the_chain() {
    for settings in ["{}", "{compat: '1.0'}"] {
        let yaml = format!(
            "plugin_settings: {settings}\nplugins:\n{}",
            entry("X", "sequential", "", "pass")
        );
        let (m, log) = manager(&yaml).await;
        let mut args = JsonMap::new();
        args.insert("a".into(), json!("x".repeat(MAX_PAYLOAD_CHARS)));
        let ok: HookPayload = ToolPreInvokePayload {
            name: "t".into(),
            args: Some(args.clone()),
            headers: None,
        }
        .into();
        m.invoke_hook(ok, &mut GlobalContext::new("r"), None)
            .await
            .unwrap();
        args.insert("b".into(), json!("y"));
        let big: HookPayload = ToolPreInvokePayload {
            name: "t".into(),
            args: Some(args),
            headers: None,
        }
        .into();
        let e = m
            .invoke_hook(big, &mut GlobalContext::new("r"), None)
            .await
            .unwrap_err();
        assert_eq!(
            e.model.code.as_deref(),
            Some("PAYLOAD_SIZE_ERROR"),
            "{settings}"
        );
        assert_eq!(log.lock().unwrap().len(), 1, "no plugin saw it");
    }
}

/// The three 1.1.0 result keys appear only when they carry something, in cpex's key order, so a
/// result without them is the 1.0.0 answer byte for byte; decoding tolerates them absent, null,
/// present, malformed records and unknown future keys.
#[test]
fn results_carry_the_new_keys_only_when_used() {
    let plain = PluginResult::pass();
    assert_eq!(
        serde_json::to_string(&plain).unwrap(),
        r#"{"continue_processing":true,"modified_payload":null,"violation":null,"metadata":{},"http_headers":null,"retry_delay_ms":0}"#
    );
    let mut d = JsonMap::new();
    d.insert("score".into(), json!(3));
    let blocked = PluginResult {
        denial_metadata: Some(d),
        executions: vec![ExecutionRecord::default()],
        modified_extensions: Some(json!({"custom": {}})),
        ..PluginResult::block(PluginViolation::new("r", "d", "c"))
    };
    let v = blocked.to_json();
    let keys: Vec<_> = v.as_object().unwrap().keys().cloned().collect();
    assert_eq!(
        keys,
        [
            "continue_processing",
            "modified_payload",
            "modified_extensions",
            "violation",
            "metadata",
            "denial_metadata",
            "http_headers",
            "retry_delay_ms",
            "executions"
        ]
    );
    let back = PluginResult::from_json(HookType::ToolPreInvoke, v).unwrap();
    assert_eq!(back.denial_metadata.unwrap()["score"], 3);
    assert_eq!(back.executions.len(), 1);
    // The cpex server's 9-key answer (nulls and []) and a future key decode.
    let cpex = json!({"continue_processing": true, "modified_payload": null, "modified_extensions": null,
        "violation": null, "metadata": {}, "denial_metadata": null, "http_headers": null,
        "retry_delay_ms": 0, "executions": [{"plugin_name": "x", "status": 7}, {"plugin_name": "y"}],
        "next_year": {"a": 1}});
    let r = PluginResult::from_json(HookType::ToolPreInvoke, cpex).unwrap();
    assert_eq!(
        r.executions.len(),
        1,
        "a record that does not decode is dropped"
    );
    assert_eq!(r.to_json(), {
        let mut p = PluginResult::pass().to_json();
        p["executions"] = json!([ExecutionRecord {
            plugin_name: "y".into(),
            ..Default::default()
        }]);
        p
    });
}
