//! Rust client ↔ Rust server (plugwire-server's run API on 127.0.0.1:0 or a Unix socket),
//! TLS off / TLS / mTLS: results, context, errors, and connection reuse.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;

use common::*;
use plugwire_client::{ClientOptions, ConnectionStats, ExternalPlugin};
use plugwire_framework::{Plugin, PluginErrorKind};
use serde_json::{json, Value};

fn options(stats: &Arc<ConnectionStats>) -> ClientOptions {
    ClientOptions {
        stats: stats.clone(),
        env: env(&[]),
        ..ClientOptions::default()
    }
}

/// The behaviour every transport must show, plus reuse: 30 calls at concurrency 3.
async fn exercise(plugin: Arc<ExternalPlugin>, stats: &Arc<ConnectionStats>) {
    plugin.initialize().await.unwrap();
    assert_eq!(
        plugin.config().priority,
        50,
        "remote priority comes through"
    );

    let mut c = ctx("req-1");
    let r = plugin.invoke(tool_payload("crap"), &mut c).await.unwrap();
    assert!(r.continue_processing);
    assert_eq!(r.modified_payload.unwrap().to_json()["args"]["q"], "crud");
    assert_eq!(c.state["calls"], 1, "context state is copied back");
    let r = plugin.invoke(tool_payload("crap"), &mut c).await.unwrap();
    assert!(r.continue_processing);
    assert_eq!(c.state["calls"], 2, "state travels to the server and back");

    let blocked = plugin
        .invoke(tool_payload("forbidden"), &mut ctx("req-2"))
        .await
        .unwrap();
    assert!(!blocked.continue_processing);
    assert_eq!(blocked.violation.unwrap().code, "PROHIBITED_CONTENT");

    let err = plugin
        .invoke(tool_payload("boom"), &mut ctx("req-3"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), PluginErrorKind::Plugin);
    assert!(
        err.message().contains("boom requested"),
        "{}",
        err.message()
    );

    let before = stats.connections_opened();
    let mut tasks = Vec::new();
    for w in 0..3 {
        let plugin = plugin.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..10 {
                let r = plugin
                    .invoke(tool_payload("crap"), &mut ctx(&format!("r{w}-{i}")))
                    .await
                    .unwrap();
                assert!(r.continue_processing);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let opened = stats.connections_opened() - before;
    assert!(
        opened <= 3,
        "30 calls at concurrency 3 opened {opened} connections"
    );
    plugin.shutdown().await;
}

#[tokio::test]
async fn plain_http() {
    let server = start_tcp(None).await;
    let stats = ConnectionStats::new();
    let cfg = entry(
        json!({"proto": "STREAMABLEHTTP", "url": format!("http://127.0.0.1:{}/mcp", server.port())}),
    );
    let plugin = Arc::new(ExternalPlugin::new(cfg, &options(&stats)).unwrap());
    exercise(plugin.clone(), &stats).await;
    // plugwire serve is stateless: no session id.
    assert!(plugin
        .session()
        .expect("an MCP plugin")
        .session_id()
        .is_none());
    // Sequential calls before the burst all went over one connection.
    assert!(stats.connections_opened() <= 4);
    server.stop().await;
}

#[tokio::test]
async fn unix_socket() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_unix(dir.path()).await;
    let stats = ConnectionStats::new();
    let sock = server.socket.clone().unwrap();
    let cfg = entry(
        json!({"proto": "STREAMABLEHTTP", "url": "http://localhost/mcp",
        "uds": sock.display().to_string()}),
    );
    let plugin = Arc::new(ExternalPlugin::new(cfg, &options(&stats)).unwrap());
    assert!(plugin.url().contains("uds="), "{}", plugin.url());
    exercise(plugin, &stats).await;
    server.stop().await;
}

#[tokio::test]
async fn tls_server_auth_only() {
    install_crypto();
    let pki = Pki::new();
    let server = start_tcp(Some(pki.server_config(false))).await;
    let stats = ConnectionStats::new();
    let cfg = entry(json!({"proto": "STREAMABLEHTTP",
        "url": format!("https://localhost:{}/mcp", server.port()),
        "tls": {"ca_bundle": pki.ca()}}));
    let plugin = Arc::new(ExternalPlugin::new(cfg, &options(&stats)).unwrap());
    exercise(plugin, &stats).await;
    server.stop().await;
}

#[tokio::test]
async fn mtls_with_yaml_settings() {
    install_crypto();
    let pki = Pki::new();
    let server = start_tcp(Some(pki.server_config(true))).await;
    let stats = ConnectionStats::new();
    let cfg = entry(json!({"proto": "STREAMABLEHTTP",
        "url": format!("https://localhost:{}/mcp", server.port()),
        "tls": {"ca_bundle": pki.ca(), "certfile": pki.client_cert(), "keyfile": pki.client_key()}}));
    let plugin = Arc::new(ExternalPlugin::new(cfg, &options(&stats)).unwrap());
    exercise(plugin, &stats).await;
    server.stop().await;
}

#[tokio::test]
async fn mtls_from_env_overrides_yaml_field_by_field() {
    install_crypto();
    let pki = Pki::new();
    let server = start_tcp(Some(pki.server_config(true))).await;
    let stats = ConnectionStats::new();
    // The YAML points at a CA that does not exist; the env var replaces just that field and
    // adds the client identity.
    let cfg = entry(json!({"proto": "STREAMABLEHTTP",
        "url": format!("https://127.0.0.1:{}/mcp", server.port()),
        "tls": {"ca_bundle": "/nonexistent/ca.crt"}}));
    let opts = ClientOptions {
        stats: stats.clone(),
        env: env(&[
            ("PLUGINS_CLIENT_MTLS_CA_BUNDLE", &pki.ca()),
            ("PLUGINS_CLIENT_MTLS_CERTFILE", &pki.client_cert()),
            ("PLUGINS_CLIENT_MTLS_KEYFILE", &pki.client_key()),
        ]),
        ..ClientOptions::default()
    };
    let plugin = Arc::new(ExternalPlugin::new(cfg, &opts).unwrap());
    // IP-literal URL with an IP SAN in the certificate (docs/decisions.md #13).
    exercise(plugin, &stats).await;
    server.stop().await;
}

#[tokio::test]
async fn env_tls_never_applies_to_unix_sockets() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_unix(dir.path()).await;
    let stats = ConnectionStats::new();
    let cfg = entry(
        json!({"proto": "STREAMABLEHTTP", "url": "https://localhost/mcp",
        "uds": server.socket.clone().unwrap().display().to_string()}),
    );
    let opts = ClientOptions {
        stats: stats.clone(),
        env: env(&[("PLUGINS_CLIENT_MTLS_CA_BUNDLE", "/nonexistent/ca.crt")]),
        ..ClientOptions::default()
    };
    let plugin = Arc::new(ExternalPlugin::new(cfg, &opts).unwrap());
    exercise(plugin, &stats).await;
    server.stop().await;
}

#[tokio::test]
async fn required_but_null_fields_are_sent_and_null_model_fields_omitted() {
    // tool_post_invoke with result: null must reach the server (Python rejects a missing result).
    let server = start_tcp(None).await;
    let stats = ConnectionStats::new();
    let cfg = entry(
        json!({"proto": "STREAMABLEHTTP", "url": format!("http://127.0.0.1:{}/mcp", server.port())}),
    );
    let plugin = ExternalPlugin::new(cfg, &options(&stats)).unwrap();
    plugin.initialize().await.unwrap();
    let payload = plugwire_framework::HookPayload::from_json(
        plugwire_framework::HookType::ToolPostInvoke,
        json!({"name": "search", "result": null}),
    )
    .unwrap();
    let req = payload.to_request_json();
    assert_eq!(req.get("result"), Some(&Value::Null));
    // The Scrubber has no tool_post_invoke: the server answers with an `error` object naming it.
    let err = plugin
        .invoke_hook(&payload, &mut ctx("req-9"))
        .await
        .unwrap_err();
    assert!(
        err.message().contains("tool_post_invoke"),
        "{}",
        err.message()
    );
    let mut g = ctx("req-10");
    g.global_context.tenant_id = None;
    let wire = g.to_request_json();
    assert!(wire["global_context"].get("tenant_id").is_none());
    server.stop().await;
}
