//! The gateway-side failure policy: a remote plugin that is unreachable, times out or answers
//! garbage blocks the request with a `PLUGIN_UNAVAILABLE` violation naming it (fail closed:
//! `on_error: fail`, the default, in the modes that may block: sequential, transform, concurrent,
//! and the 1.0.x names 1.1.0 reads as them) or lets it through with one count in
//! `plugwire_client_fail_open_total` and one WARN event (fail open: `on_error: ignore`, and the
//! observers audit and fire_and_forget whatever `on_error` says). fire_and_forget never holds
//! the request: it returns while the background call is still waiting on the server. Each case
//! has its own plugin name, so the process-wide counter and the captured log lines are exact.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use common::fake::{self, Mode};
use common::*;
use plugwire_client::{register_external_with, ClientOptions};
use plugwire_framework::{
    Config, GlobalContext, PluginManager, PluginRegistry, PLUGIN_UNAVAILABLE,
};
use plugwire_metrics::ClientMetrics;

/// Every case: `mode`, `on_error` as written (`None` = the key left out, so the default or the
/// 1.0.x name's migration decides), and whether the request must be blocked (fail closed).
const CASES: &[(&str, Option<&str>, bool)] = &[
    ("sequential", Some("fail"), true),
    ("sequential", Some("ignore"), false),
    ("transform", Some("fail"), true),
    ("transform", Some("ignore"), false),
    ("audit", Some("fail"), false),
    ("audit", Some("ignore"), false),
    ("concurrent", Some("fail"), true),
    ("concurrent", Some("ignore"), false),
    ("concurrent", None, true),
    ("fire_and_forget", Some("fail"), false),
    ("fire_and_forget", Some("ignore"), false),
    ("fire_and_forget", None, false),
    // 1.0.x names as 1.1.0 reads them: enforce = sequential; enforce_ignore_error = sequential
    // with `on_error: ignore`; permissive = transform (whose errors now fail the request).
    ("enforce", None, true),
    ("enforce_ignore_error", None, false),
    ("permissive", None, true),
];

/// Everything logged by this test binary (a process-wide subscriber, so the events of the
/// background fire_and_forget tasks are captured too).
fn logs() -> &'static Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        #[derive(Clone)]
        struct Buf(Arc<Mutex<Vec<u8>>>);
        impl std::io::Write for Buf {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let buf = Arc::new(Mutex::new(Vec::new()));
        let writer = Buf(buf.clone());
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::INFO)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::set_global_default(subscriber).unwrap();
        buf
    })
}

/// The fail-open events logged for plugin `name` with `cause`.
fn fail_open_lines(name: &str, cause: &str) -> usize {
    let text = String::from_utf8_lossy(&logs().lock().unwrap()).into_owned();
    let (plugin, cause) = (format!("plugin={name} "), format!("cause=\"{cause}\" "));
    text.lines()
        .filter(|l| l.contains("WARN") && l.contains("(fail-open)"))
        .filter(|l| l.contains(&plugin) && l.contains(&cause))
        .count()
}

/// One manager with one external entry `name` against the fake on `port`. `timeout` is the
/// per-entry key (seconds): the manager's `plugin_timeout` stays 30 s.
async fn manager(
    port: u16,
    name: &str,
    mode: &str,
    on_error: Option<&str>,
    timeout: f64,
) -> PluginManager {
    let on_error = on_error.map_or(String::new(), |v| format!("    on_error: {v}\n"));
    let yaml = format!(
        "plugins:\n  - name: {name}\n    kind: external\n    mode: {mode}\n{on_error}    \
         timeout: {timeout}\n    mcp:\n      proto: STREAMABLEHTTP\n      url: http://127.0.0.1:{port}/mcp\n      \
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

/// Waits until the manager's fire_and_forget calls have ended (each is bounded by its entry's
/// timeout, so this returns; the deadline only turns a hang into a failure).
async fn drain_background(m: &PluginManager, name: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while m.background_pending() > 0 {
        assert!(
            Instant::now() < deadline,
            "{name}: background calls never ended"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Builds one manager per case of `cause` while the fake answers, then breaks the fake, then
/// checks every case: blocked with a violation naming the plugin when the case fails closed,
/// continued otherwise, with exactly one fail-open count and one WARN event per request.
async fn check_cause(cause: &'static str) {
    logs();
    let (port, fake, mut task) = fake::start(Mode::Sse).await;
    let mut cases = Vec::new();
    for &(mode, on_error, closed) in CASES {
        let name = format!("{cause}_{mode}_{}", on_error.unwrap_or("default"));
        let m = manager(port, &name, mode, on_error, 0.3).await;
        // While the server answers, the request goes through.
        let mut g = GlobalContext::new("warm");
        let out = m
            .invoke_hook(tool_payload("a"), &mut g, None)
            .await
            .unwrap();
        assert!(out.result.continue_processing, "{name}");
        drain_background(&m, &name).await;
        cases.push((name, closed, m));
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
    for (name, closed, m) in &cases {
        let closed = *closed;
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
        // fire_and_forget reports its failure from the background task.
        drain_background(m, name).await;
        let expected = if closed { 0 } else { 2 };
        assert_eq!(
            metrics.fail_open_count(name, "tool_pre_invoke", cause),
            expected,
            "{name}: fail-open count"
        );
        assert_eq!(
            fail_open_lines(name, cause),
            expected as usize,
            "{name}: one fail-open event per request; log:\n{}",
            String::from_utf8_lossy(&logs().lock().unwrap())
                .lines()
                .filter(|l| l.contains(name.as_str()))
                .collect::<Vec<_>>()
                .join("\n")
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

/// A fire_and_forget plugin whose server never answers does not hold the request: with a 30 s
/// call timeout and `on_error: fail`, every request returns (continued, nothing changed) while
/// its background call is still waiting at the server, and nothing is counted before the call
/// ends.
#[tokio::test]
async fn fire_and_forget_never_holds_the_request() {
    logs();
    let name = "faf_stalled";
    let (port, fake, task) = fake::start(Mode::Sse).await;
    let m = manager(port, name, "fire_and_forget", Some("fail"), 30.0).await;
    let mut g = GlobalContext::new("warm");
    m.invoke_hook(tool_payload("a"), &mut g, None)
        .await
        .unwrap();
    drain_background(&m, name).await;
    let before = fake.invokes.load(std::sync::atomic::Ordering::SeqCst);
    fake.set(Mode::Stall);
    for i in 0..3 {
        let mut g = GlobalContext::new(format!("r{i}"));
        let out = m
            .invoke_hook(tool_payload("a"), &mut g, None)
            .await
            .unwrap();
        assert!(out.result.continue_processing, "request {i} continued");
        assert!(out.result.violation.is_none());
        assert!(out.result.modified_payload.is_none());
    }
    // All three calls are still running (the server never answers, the timeout is 30 s) ...
    assert_eq!(
        m.background_pending(),
        3,
        "the requests returned before their calls"
    );
    // ... and they do reach the server after the requests have returned.
    let deadline = Instant::now() + Duration::from_secs(30);
    while fake.invokes.load(std::sync::atomic::Ordering::SeqCst) < before + 3 {
        assert!(
            Instant::now() < deadline,
            "the background calls never reached the server"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(m.background_pending(), 3);
    let metrics = ClientMetrics::global();
    for cause in ["unreachable", "timeout", "invalid_answer", "error"] {
        assert_eq!(metrics.fail_open_count(name, "tool_pre_invoke", cause), 0);
    }
    drop(m);
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
