//! Recovery the Python 1.0.0 client lacks (server restart, lost session, dropped connection),
//! and typed errors (never a panic) for malformed, truncated and oversized answers.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use common::fake::{self, Mode};
use common::*;
use plugwire_client::{ClientOptions, ConnectionStats, ExternalPlugin};
use plugwire_framework::{Plugin, PluginErrorKind};
use serde_json::json;

fn plugin_for(port: u16, stats: &Arc<ConnectionStats>, max: usize) -> Arc<ExternalPlugin> {
    let cfg =
        entry(json!({"proto": "STREAMABLEHTTP", "url": format!("http://127.0.0.1:{port}/mcp")}));
    let opts = ClientOptions {
        stats: stats.clone(),
        env: env(&[]),
        call_timeout: Duration::from_secs(10),
        max_response_bytes: max,
        ..ClientOptions::default()
    };
    Arc::new(ExternalPlugin::new(cfg, &opts).unwrap())
}

#[tokio::test]
async fn server_restart_on_the_same_port_during_a_stream_of_calls() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = serve_on(listener, None).await;
    let stats = ConnectionStats::new();
    let plugin = plugin_for(addr.port(), &stats, 1 << 20);
    plugin.initialize().await.unwrap();

    // A stream of calls from two workers while the server goes away and comes back.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut workers = Vec::new();
    for w in 0..2 {
        let plugin = plugin.clone();
        let stop = stop.clone();
        workers.push(tokio::spawn(async move {
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                let _ = plugin
                    .invoke(tool_payload("crap"), &mut ctx(&format!("w{w}-{i}")))
                    .await;
                i += 1;
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    server.stop().await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    let server = serve_on(listener, None).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.await.unwrap();
    }
    // Every call after the restart succeeds, on new connections.
    for i in 0..10 {
        let r = plugin
            .invoke(tool_payload("crap"), &mut ctx(&format!("after-{i}")))
            .await
            .unwrap_or_else(|e| panic!("call {i} after restart failed: {e}"));
        assert_eq!(r.modified_payload.unwrap().to_json()["args"]["q"], "crud");
    }
    assert!(stats.connections_opened() >= 2);
    plugin.shutdown().await;
    server.stop().await;
}

#[tokio::test]
async fn unreachable_server_is_a_typed_error_naming_plugin_and_url() {
    // Bind then drop: a port nobody listens on.
    let port = {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        l.local_addr().unwrap().port()
    };
    let stats = ConnectionStats::new();
    let plugin = plugin_for(port, &stats, 1 << 20);
    let err = plugin.initialize().await.unwrap_err();
    assert_eq!(err.kind(), PluginErrorKind::Initialization);
    assert!(err.message().contains("Scrubber"), "{}", err.message());
    assert!(
        err.message().contains(&format!("127.0.0.1:{port}")),
        "{}",
        err.message()
    );
    assert_eq!(err.model.code.as_deref(), Some("CONNECT_ERROR"));
    // Not initialized: a hook call is a typed error, not a silent pass.
    let err = plugin
        .invoke(tool_payload("x"), &mut ctx("r"))
        .await
        .unwrap_err();
    assert!(
        err.message().contains("not initialized"),
        "{}",
        err.message()
    );
}

#[tokio::test]
async fn sse_answers_keep_the_connection_and_the_session() {
    let (port, fake, task) = fake::start(Mode::Sse).await;
    let stats = ConnectionStats::new();
    let plugin = plugin_for(port, &stats, 1 << 20);
    plugin.initialize().await.unwrap();
    for i in 0..20 {
        let r = plugin
            .invoke(tool_payload("a"), &mut ctx(&format!("r{i}")))
            .await
            .unwrap();
        assert!(r.continue_processing);
    }
    assert_eq!(fake.connections.load(Ordering::SeqCst), 1);
    assert_eq!(stats.connections_opened(), 1);
    assert_eq!(fake.initializes.load(Ordering::SeqCst), 1);
    task.abort();
}

#[tokio::test]
async fn a_404_for_a_lost_session_reinitializes_and_retries_once() {
    let (port, fake, task) = fake::start(Mode::Sse).await;
    let stats = ConnectionStats::new();
    let plugin = plugin_for(port, &stats, 1 << 20);
    plugin.initialize().await.unwrap();
    plugin
        .invoke(tool_payload("a"), &mut ctx("r1"))
        .await
        .unwrap();
    fake.set(Mode::ForgetSession);
    let r = plugin
        .invoke(tool_payload("b"), &mut ctx("r2"))
        .await
        .unwrap();
    assert_eq!(r.modified_payload.unwrap().to_json()["args"]["q"], "b");
    assert_eq!(fake.initializes.load(Ordering::SeqCst), 2);
    // And the session keeps working afterwards.
    plugin
        .invoke(tool_payload("c"), &mut ctx("r3"))
        .await
        .unwrap();
    task.abort();
}

/// Calls that start while another call re-establishes the session wait for its handshake:
/// sent on the new session id before `notifications/initialized` is processed, the MCP SDK
/// refuses them (`-32602`), and it answers that notification `202` before processing it.
#[tokio::test]
async fn calls_during_a_reinitialization_wait_for_its_handshake() {
    let (port, fake, task) = fake::start(Mode::Sse).await;
    fake.initialized_after_ms.store(300, Ordering::SeqCst);
    let stats = ConnectionStats::new();
    let plugin = plugin_for(port, &stats, 1 << 20);
    plugin.initialize().await.unwrap();

    // One call meets a forgotten session and re-initializes (300 ms until the new session
    // counts as initialized); others start 50 ms later, inside that window.
    fake.set(Mode::ForgetSession);
    let first = {
        let plugin = plugin.clone();
        tokio::spawn(async move { plugin.invoke(tool_payload("a"), &mut ctx("r0")).await })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(
        fake.initializes.load(Ordering::SeqCst),
        2,
        "re-initializing"
    );
    let mut calls = Vec::new();
    for i in 1..=8 {
        let plugin = plugin.clone();
        calls.push(tokio::spawn(async move {
            plugin
                .invoke(tool_payload("b"), &mut ctx(&format!("r{i}")))
                .await
        }));
    }
    first.await.unwrap().unwrap();
    for (i, call) in calls.into_iter().enumerate() {
        let r = call
            .await
            .unwrap()
            .unwrap_or_else(|e| panic!("call {} failed: {}", i + 1, e.message()));
        assert_eq!(r.modified_payload.unwrap().to_json()["args"]["q"], "b");
    }
    assert_eq!(fake.refused_early.load(Ordering::SeqCst), 0);
    assert_eq!(fake.initializes.load(Ordering::SeqCst), 2);
    task.abort();
}

#[tokio::test]
async fn a_failed_reinitialization_is_repeated_before_the_next_call() {
    let (port, fake, task) = fake::start(Mode::Sse).await;
    let stats = ConnectionStats::new();
    let plugin = plugin_for(port, &stats, 1 << 20);
    plugin.initialize().await.unwrap();
    // The session is forgotten and the server is not ready for the next initializes yet: every
    // attempt of one re-initialization (`reconnect_attempts`, 3 by default) fails.
    fake.set(Mode::ForgetSession);
    fake.fail_initializes.store(3, Ordering::SeqCst);
    let err = plugin
        .invoke(tool_payload("a"), &mut ctx("r1"))
        .await
        .unwrap_err();
    assert_eq!(
        err.model.code.as_deref(),
        Some("CONNECTION_LOST"),
        "{}",
        err.message()
    );
    assert!(err.message().contains("initialize"), "{}", err.message());
    // The next call first re-initializes, then succeeds on the new session.
    let before = fake.invokes.load(Ordering::SeqCst);
    let r = plugin
        .invoke(tool_payload("b"), &mut ctx("r2"))
        .await
        .unwrap();
    assert_eq!(r.modified_payload.unwrap().to_json()["args"]["q"], "b");
    assert_eq!(fake.initializes.load(Ordering::SeqCst), 1 + 3 + 1);
    assert_eq!(fake.invokes.load(Ordering::SeqCst), before + 1);
    assert_eq!(
        fake.missing_session.load(Ordering::SeqCst),
        0,
        "no call went out without a session"
    );
    task.abort();
}

/// A server still starting when a lost session is re-established (its first `initialize`s fail):
/// the re-initialization is tried again, as at start-up, and the call goes through.
#[tokio::test]
async fn a_reinitialization_is_tried_again_while_the_server_starts() {
    let (port, fake, task) = fake::start(Mode::Sse).await;
    let stats = ConnectionStats::new();
    let plugin = plugin_for(port, &stats, 1 << 20);
    plugin.initialize().await.unwrap();
    fake.set(Mode::ForgetSession);
    fake.fail_initializes.store(2, Ordering::SeqCst);
    let r = plugin
        .invoke(tool_payload("a"), &mut ctx("r1"))
        .await
        .unwrap_or_else(|e| panic!("bridged: {}", e.message()));
    assert_eq!(r.modified_payload.unwrap().to_json()["args"]["q"], "a");
    assert_eq!(fake.initializes.load(Ordering::SeqCst), 1 + 3);
    task.abort();
}

/// A server that keeps failing `initialize`: one call's re-initialization makes its attempts
/// (here 3, a second apart), and the calls queued behind it fail at once with its words
/// instead of each making the same attempts in a row.
#[tokio::test]
async fn calls_queued_behind_a_failing_reinitialization_share_its_failure() {
    let (port, fake, task) = fake::start(Mode::Sse).await;
    let url = format!("http://127.0.0.1:{port}/mcp");
    let cfg = entry(json!({"proto": "STREAMABLEHTTP", "url": url,
        "reconnect_attempts": 3, "reconnect_delay": 1.0}));
    let opts = ClientOptions {
        env: env(&[]),
        call_timeout: Duration::from_secs(20),
        ..ClientOptions::default()
    };
    let plugin = Arc::new(ExternalPlugin::new(cfg, &opts).unwrap());
    plugin.initialize().await.unwrap();
    fake.set(Mode::ForgetSession);
    fake.fail_initializes.store(1000, Ordering::SeqCst);
    // Each call meets the forgotten session; their backoff pauses (0 to 1.6 s) all end inside
    // the first re-initialization's attempts (at 0, 1 and 3 s).
    let calls: Vec<_> = (0..6)
        .map(|i| {
            let plugin = plugin.clone();
            tokio::spawn(async move {
                plugin
                    .invoke(tool_payload("a"), &mut ctx(&format!("r{i}")))
                    .await
            })
        })
        .collect();
    let mut shared = 0;
    for call in calls {
        let err = call
            .await
            .unwrap()
            .expect_err("the server never initializes");
        assert_eq!(
            err.model.code.as_deref(),
            Some("CONNECTION_LOST"),
            "{}",
            err.message()
        );
        if err.message().contains("could not be re-established") {
            shared += 1;
        }
    }
    assert_eq!(shared, 5, "all but the call that made the attempts");
    assert_eq!(fake.initializes.load(Ordering::SeqCst), 1 + 3);
    task.abort();
}

#[tokio::test]
async fn idle_connections_closed_by_the_server_are_replaced_without_a_new_session() {
    let (port, fake, task) = fake::start(Mode::Sse).await;
    let stats = ConnectionStats::new();
    let plugin = plugin_for(port, &stats, 1 << 20);
    plugin.initialize().await.unwrap();
    fake.set(Mode::SseThenClose);
    for i in 0..10 {
        let r = plugin
            .invoke(tool_payload("a"), &mut ctx(&format!("r{i}")))
            .await
            .unwrap();
        assert!(r.continue_processing);
    }
    assert_eq!(
        fake.initializes.load(Ordering::SeqCst),
        1,
        "no re-initialization"
    );
    assert!(stats.connections_opened() >= 10);
    task.abort();
}

#[tokio::test]
async fn a_dropped_connection_is_retried_on_a_fresh_one() {
    let (port, fake, task) = fake::start(Mode::Sse).await;
    let stats = ConnectionStats::new();
    let plugin = plugin_for(port, &stats, 1 << 20);
    plugin.initialize().await.unwrap();
    fake.set(Mode::Hangup);
    let err = plugin
        .invoke(tool_payload("a"), &mut ctx("r1"))
        .await
        .unwrap_err();
    // Retried once (after re-initializing), then a typed error.
    assert_eq!(
        err.model.code.as_deref(),
        Some("CONNECTION_LOST"),
        "{}",
        err.message()
    );
    assert!(fake.initializes.load(Ordering::SeqCst) >= 2);
    fake.set(Mode::Sse);
    plugin
        .invoke(tool_payload("a"), &mut ctx("r2"))
        .await
        .unwrap();
    task.abort();
}

#[tokio::test]
async fn malformed_truncated_and_oversized_answers_are_typed_errors() {
    let (port, fake, task) = fake::start(Mode::Sse).await;
    let stats = ConnectionStats::new();
    let plugin = plugin_for(port, &stats, 64 * 1024);
    plugin.initialize().await.unwrap();

    fake.set(Mode::Garbage);
    let err = plugin
        .invoke(tool_payload("a"), &mut ctx("r1"))
        .await
        .unwrap_err();
    assert_eq!(
        err.model.code.as_deref(),
        Some("MALFORMED_RESPONSE"),
        "{}",
        err.message()
    );
    assert!(err.message().contains("Scrubber") && err.message().contains("127.0.0.1"));

    // A cut-off answer is a lost connection: recovered (re-initialized) and retried once.
    fake.set(Mode::Truncated);
    let inits = fake.initializes.load(Ordering::SeqCst);
    let err = plugin
        .invoke(tool_payload("a"), &mut ctx("r2"))
        .await
        .unwrap_err();
    assert_eq!(
        err.model.code.as_deref(),
        Some("CONNECTION_LOST"),
        "{}",
        err.message()
    );
    assert!(err.message().contains("cut off"), "{}", err.message());
    assert_eq!(fake.initializes.load(Ordering::SeqCst), inits + 1);

    fake.set(Mode::Oversized(1 << 20));
    let err = plugin
        .invoke(tool_payload("a"), &mut ctx("r3"))
        .await
        .unwrap_err();
    assert_eq!(
        err.model.code.as_deref(),
        Some("RESPONSE_TOO_LARGE"),
        "{}",
        err.message()
    );
    assert!(err.message().contains("65536"), "{}", err.message());

    fake.set(Mode::Sse);
    plugin
        .invoke(tool_payload("a"), &mut ctx("r4"))
        .await
        .unwrap();
    task.abort();
}

#[tokio::test]
async fn a_server_that_is_not_a_plugin_server_is_refused() {
    // An HTTP server that answers every POST with an empty JSON-RPC result.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        while let Ok((mut tcp, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let _ = tcp.read(&mut buf).await;
                let body = r#"{"jsonrpc":"2.0","id":0,"result":{"protocolVersion":"1999-01-01"}}"#;
                let resp = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = tcp.write_all(resp.as_bytes()).await;
            });
        }
    });
    let stats = ConnectionStats::new();
    let plugin = plugin_for(port, &stats, 1 << 20);
    let err = plugin.initialize().await.unwrap_err();
    assert_eq!(
        err.model.code.as_deref(),
        Some("NOT_A_PLUGIN_SERVER"),
        "{}",
        err.message()
    );
    assert!(err.message().contains("1999-01-01"), "{}", err.message());
    task.abort();
}
