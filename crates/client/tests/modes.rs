//! The client returns typed errors; the framework's manager applies the entry's mode: a dead
//! plugin server blocks the request in `enforce` (a `PLUGIN_UNAVAILABLE` violation naming the
//! plugin) and is skipped in `permissive`. Plus the per-call timeout.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use common::fake::{self, Mode};
use common::*;
use plugwire_client::{register_external_with, ClientOptions, ConnectionStats, ExternalPlugin};
use plugwire_framework::{Config, GlobalContext, Plugin, PluginManager, PluginRegistry};
use serde_json::json;

/// `compat`: the era (`PLUGINS_COMPAT`), `1.0` or `1.1`.
async fn manager_for(port: u16, mode: &str, compat: &str) -> PluginManager {
    let yaml = format!(
        "plugins:\n  - name: Scrubber\n    kind: external\n    mode: {mode}\n    mcp:\n      proto: STREAMABLEHTTP\n      url: http://127.0.0.1:{port}/mcp\n"
    );
    let era = std::collections::HashMap::from([("PLUGINS_COMPAT", compat)]);
    let config = Config::load_str(&yaml, "gateway.yaml", &era).unwrap();
    let mut registry = PluginRegistry::new();
    register_external_with(
        &mut registry,
        ClientOptions {
            env: env(&[]),
            ..ClientOptions::default()
        },
    );
    let mut m = PluginManager::new(config, &registry).unwrap();
    m.initialize().await.unwrap();
    assert_eq!(m.plugin_names(), vec!["Scrubber".to_string()]);
    m
}

/// The request is blocked, and the violation says which plugin was unavailable.
fn assert_unavailable(result: &plugwire_framework::PluginResult) {
    assert!(!result.continue_processing, "fail closed");
    let v = result.violation.as_ref().unwrap();
    assert_eq!(v.code, plugwire_framework::PLUGIN_UNAVAILABLE);
    assert_eq!(v.plugin_name.as_deref(), Some("Scrubber"));
    assert!(v.reason.contains("Scrubber"), "{}", v.reason);
    assert!(v.description.contains("Scrubber"), "{}", v.description);
}

#[tokio::test]
async fn enforce_fails_closed_and_permissive_passes_when_the_server_is_gone() {
    let server = start_tcp(None).await;
    // The 1.0.x meaning of the names (under the switch); 1.1.0 is checked below.
    let enforce = manager_for(server.port(), "enforce", "1.0").await;
    let permissive = manager_for(server.port(), "permissive", "1.0").await;
    let permissive_1_1 = manager_for(server.port(), "permissive", "1.1").await;
    let ignore_1_1 = manager_for(server.port(), "transform\n    on_error: ignore", "1.1").await;

    // While the server runs, both modes get the modified payload through the chain.
    for m in [&enforce, &permissive] {
        let mut g = GlobalContext::new("r1");
        let out = m
            .invoke_hook(tool_payload("crap"), &mut g, None)
            .await
            .unwrap();
        assert_eq!(
            out.result.modified_payload.unwrap().to_json()["args"]["q"],
            "crud"
        );
    }

    server.stop().await;
    // Fail closed is a block with a violation naming the plugin (the failure policy).
    let mut g = GlobalContext::new("r2");
    let out = enforce
        .invoke_hook(tool_payload("crap"), &mut g, None)
        .await
        .unwrap();
    assert_unavailable(&out.result);
    let mut g = GlobalContext::new("r3");
    let out = permissive
        .invoke_hook(tool_payload("crap"), &mut g, None)
        .await
        .unwrap();
    assert!(
        out.result.continue_processing,
        "permissive lets the call through"
    );
    assert!(out.result.modified_payload.is_none());
    // ContextForge 1.1.0: permissive is transform + on_error fail, so the request fails;
    // on_error: ignore lets it through.
    let mut g = GlobalContext::new("r4");
    let out = permissive_1_1
        .invoke_hook(tool_payload("crap"), &mut g, None)
        .await
        .unwrap();
    assert_unavailable(&out.result);
    let out = ignore_1_1
        .invoke_hook(tool_payload("crap"), &mut g, None)
        .await
        .unwrap();
    assert!(out.result.continue_processing && out.result.modified_payload.is_none());
}

#[tokio::test]
async fn a_stalled_answer_is_a_timeout_and_is_not_retried() {
    let (port, fake, task) = fake::start(Mode::Sse).await;
    let cfg =
        entry(json!({"proto": "STREAMABLEHTTP", "url": format!("http://127.0.0.1:{port}/mcp")}));
    let opts = ClientOptions {
        stats: ConnectionStats::new(),
        env: env(&[]),
        call_timeout: Duration::from_millis(300),
        ..ClientOptions::default()
    };
    let plugin = ExternalPlugin::new(cfg, &opts).unwrap();
    plugin.initialize().await.unwrap();
    fake.set(Mode::Stall);
    let err = plugin
        .invoke(tool_payload("a"), &mut ctx("r1"))
        .await
        .unwrap_err();
    assert_eq!(
        err.model.code.as_deref(),
        Some("TIMEOUT"),
        "{}",
        err.message()
    );
    assert!(err.message().contains("timed out"), "{}", err.message());
    assert_eq!(
        fake.initializes.load(Ordering::SeqCst),
        1,
        "a timeout is not retried"
    );
    assert_eq!(fake.invokes.load(Ordering::SeqCst), 1);
    // The stalled connection is not reused: the next call works on a fresh one.
    fake.set(Mode::Sse);
    plugin
        .invoke(tool_payload("b"), &mut ctx("r2"))
        .await
        .unwrap();
    task.abort();
}
