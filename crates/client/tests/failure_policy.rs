//! The gateway-side failure policy: a remote plugin that is unreachable, times out or answers
//! garbage blocks the request with a `PLUGIN_UNAVAILABLE` violation naming it (fail closed:
//! `on_error: fail` in sequential and transform) or lets it through with one count in
//! `plugwire_client_fail_open_total` (fail open: `on_error: ignore`, and audit whatever
//! `on_error` says). Each case has its own plugin name, so the process-wide counter is exact.
#![allow(clippy::unwrap_used)]

mod common;

use common::fake::{self, Mode};
use common::*;
use plugwire_client::{register_external_with, ClientOptions};
use plugwire_framework::{
    Config, GlobalContext, PluginManager, PluginRegistry, PLUGIN_UNAVAILABLE,
};
use plugwire_metrics::ClientMetrics;

const MODES: [&str; 3] = ["sequential", "transform", "audit"];
const ON_ERROR: [&str; 2] = ["fail", "ignore"];

/// One manager with one external entry `name` against the fake on `port`. `timeout: 0.3` is
/// the per-entry key: the manager's `plugin_timeout` stays 30 s.
async fn manager(port: u16, name: &str, mode: &str, on_error: &str) -> PluginManager {
    let yaml = format!(
        "plugins:\n  - name: {name}\n    kind: external\n    mode: {mode}\n    on_error: {on_error}\n    \
         timeout: 0.3\n    mcp:\n      proto: STREAMABLEHTTP\n      url: http://127.0.0.1:{port}/mcp\n      \
         reconnect_attempts: 1\n      reconnect_delay: 0.01\n"
    );
    let config = Config::load_str(&yaml, "gateway.yaml", &plugwire_framework::EmptyEnv).unwrap();
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
    assert_eq!(m.plugin_names(), vec![name.to_string()], "{name} loaded");
    m
}

/// Builds the six managers (3 modes × 2 on_error) of `cause` while the fake answers, then
/// breaks the fake, then checks every case: blocked with a violation naming the plugin for
/// `on_error: fail` in sequential and transform, continued (and counted once per request)
/// otherwise.
async fn check_cause(cause: &'static str) {
    let (port, fake, mut task) = fake::start(Mode::Sse).await;
    let mut cases = Vec::new();
    for mode in MODES {
        for on_error in ON_ERROR {
            let name = format!("{cause}_{mode}_{on_error}");
            let m = manager(port, &name, mode, on_error).await;
            // While the server answers, the request goes through.
            let mut g = GlobalContext::new("warm");
            let out = m
                .invoke_hook(tool_payload("a"), &mut g, None)
                .await
                .unwrap();
            assert!(out.result.continue_processing, "{name}");
            cases.push((name, mode, on_error, m));
        }
    }
    match cause {
        "unreachable" => {
            // The listener is gone (its port refuses connections) and the kept connections
            // hang up at the next request: every reconnect is refused.
            task.abort();
            let _ = (&mut task).await;
            fake.set(Mode::Hangup);
        }
        // Accepts, reads, never answers: the entry's `timeout: 0.3` (not the manager's 30 s)
        // ends each call.
        "timeout" => fake.set(Mode::Stall),
        // HTTP 200 with a body that is not JSON-RPC.
        _ => fake.set(Mode::Garbage),
    }
    let metrics = ClientMetrics::global();
    for (name, mode, on_error, m) in &cases {
        let closed = *on_error == "fail" && *mode != "audit";
        for i in 0..2 {
            let mut g = GlobalContext::new(format!("r{i}"));
            let out = m
                .invoke_hook(tool_payload("a"), &mut g, None)
                .await
                .unwrap_or_else(|e| panic!("{name}: the chain must not error: {e}"));
            if closed {
                assert!(!out.result.continue_processing, "{name}: blocked");
                let v = out.result.violation.as_ref().unwrap();
                assert_eq!(v.code, PLUGIN_UNAVAILABLE, "{name}");
                assert_eq!(v.plugin_name.as_deref(), Some(name.as_str()), "{name}");
                assert!(v.reason.contains(name.as_str()), "{name}: {}", v.reason);
                assert!(
                    v.description.contains(name.as_str()),
                    "{name}: {}",
                    v.description
                );
                assert_eq!(v.http_status_code, Some(503), "{name}");
                let details = v.details.as_ref().unwrap();
                assert_eq!(details["cause"], cause, "{name}: {details:?}");
                assert_eq!(details["plugin"], name.as_str(), "{name}");
            } else {
                assert!(out.result.continue_processing, "{name}: continued");
                assert!(out.result.violation.is_none(), "{name}");
                assert!(out.result.modified_payload.is_none(), "{name}");
            }
        }
        let expected = if closed { 0 } else { 2 };
        assert_eq!(
            metrics.fail_open_count(name, "tool_pre_invoke", cause),
            expected,
            "{name}: fail-open count"
        );
        for other in ["unreachable", "timeout", "invalid_answer", "error"] {
            if other != cause {
                assert_eq!(
                    metrics.fail_open_count(name, "tool_pre_invoke", other),
                    0,
                    "{name}: {other}"
                );
            }
        }
    }
    task.abort();
}

#[tokio::test]
async fn an_unreachable_plugin_server() {
    check_cause("unreachable").await;
}

#[tokio::test]
async fn a_plugin_server_that_never_answers() {
    check_cause("timeout").await;
}

#[tokio::test]
async fn a_plugin_server_that_answers_garbage() {
    check_cause("invalid_answer").await;
}

#[tokio::test]
async fn the_per_entry_timeout_must_be_positive() {
    let yaml = "plugins:\n  - name: P\n    kind: external\n    timeout: 0\n    mcp:\n      proto: STREAMABLEHTTP\n      url: http://127.0.0.1:1/mcp\n";
    let err = Config::load_str(yaml, "gateway.yaml", &plugwire_framework::EmptyEnv).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("timeout") && text.contains("gateway.yaml"),
        "{text}"
    );
}
