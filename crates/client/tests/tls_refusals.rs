//! The client-side refusal matrix: wrong CA, host-name mismatch (and its three fixes), expired
//! server certificate, missing client certificate; and `verify: false`.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use plugwire_client::{ClientOptions, ConnectionStats, ExternalPlugin};
use plugwire_framework::Plugin;
use serde_json::{json, Value};

fn options() -> ClientOptions {
    ClientOptions {
        stats: ConnectionStats::new(),
        env: env(&[]),
        ..ClientOptions::default()
    }
}

async fn init_error(url: String, tls: Value) -> String {
    let cfg = entry(json!({"proto": "STREAMABLEHTTP", "url": url, "tls": tls}));
    let plugin = ExternalPlugin::new(cfg, &options()).unwrap();
    let err = plugin.initialize().await.unwrap_err();
    assert_eq!(
        err.model.code.as_deref(),
        Some("TLS_ERROR"),
        "{}",
        err.message()
    );
    assert!(err.message().contains("Scrubber"), "{}", err.message());
    err.message().to_string()
}

async fn init_ok(url: String, tls: Value) {
    let cfg = entry(json!({"proto": "STREAMABLEHTTP", "url": url, "tls": tls}));
    let plugin = ExternalPlugin::new(cfg, &options()).unwrap();
    plugin.initialize().await.unwrap();
    let r = plugin
        .invoke(tool_payload("crap"), &mut ctx("r"))
        .await
        .unwrap();
    assert!(r.continue_processing);
    plugin.shutdown().await;
}

#[tokio::test]
async fn server_certificate_from_another_ca_is_refused() {
    install_crypto();
    let server_pki = Pki::new();
    let other = Pki::new();
    let server = start_tcp(Some(server_pki.server_config(false))).await;
    let msg = init_error(
        format!("https://localhost:{}/mcp", server.port()),
        json!({"ca_bundle": other.ca()}),
    )
    .await;
    // Both test CAs carry the same name, so webpki reports a bad signature, not an unknown issuer.
    assert!(msg.contains("CA"), "{msg}");
    assert!(
        msg.contains("ca_bundle") && msg.contains(&other.ca()),
        "{msg}"
    );
    server.stop().await;
}

#[tokio::test]
async fn host_name_mismatch_names_the_three_fixes_and_each_fix_works() {
    install_crypto();
    // Default SANs only (scrubber, mcp-plugin-scrubber, localhost): no IP SAN.
    let pki = Pki::with(plugwire_certs::Options::ecdsa());
    let server = start_tcp(Some(pki.server_config(false))).await;
    let port = server.port();
    let msg = init_error(
        format!("https://127.0.0.1:{port}/mcp"),
        json!({"ca_bundle": pki.ca(), "check_hostname": true}),
    )
    .await;
    assert!(msg.contains("127.0.0.1"), "{msg}");
    assert!(
        msg.contains("localhost"),
        "fix 1 (a SAN name) missing: {msg}"
    );
    assert!(
        msg.contains("check_hostname"),
        "fix 2 (turn the check off) missing: {msg}"
    );
    assert!(
        msg.contains("--san IP:127.0.0.1"),
        "fix 3 (reissue with an IP SAN) missing: {msg}"
    );
    // Fix 1: a name from the SANs.
    init_ok(
        format!("https://localhost:{port}/mcp"),
        json!({"ca_bundle": pki.ca()}),
    )
    .await;
    // Fix 2: check_hostname off (the chain is still verified).
    init_ok(
        format!("https://127.0.0.1:{port}/mcp"),
        json!({"ca_bundle": pki.ca(), "check_hostname": false}),
    )
    .await;
    server.stop().await;
    // Fix 3: a certificate with the IP SAN.
    let pki_ip = Pki::new();
    let server = start_tcp(Some(pki_ip.server_config(false))).await;
    init_ok(
        format!("https://127.0.0.1:{}/mcp", server.port()),
        json!({"ca_bundle": pki_ip.ca()}),
    )
    .await;
    server.stop().await;
}

#[tokio::test]
async fn expired_server_certificate_is_refused() {
    install_crypto();
    let mut opts = plugwire_certs::Options::ecdsa();
    opts.not_before = Some(time::OffsetDateTime::now_utc() - time::Duration::days(30));
    opts.days = 2;
    let pki = Pki::with(opts);
    let server = start_tcp(Some(pki.server_config(false))).await;
    let msg = init_error(
        format!("https://localhost:{}/mcp", server.port()),
        json!({"ca_bundle": pki.ca()}),
    )
    .await;
    assert!(msg.contains("expired"), "{msg}");
    server.stop().await;
}

#[tokio::test]
async fn mtls_server_refuses_a_client_without_certificate() {
    install_crypto();
    let pki = Pki::new();
    let server = start_tcp(Some(pki.server_config(true))).await;
    let msg = init_error(
        format!("https://localhost:{}/mcp", server.port()),
        json!({"ca_bundle": pki.ca()}),
    )
    .await;
    assert!(msg.contains("client certificate"), "{msg}");
    assert!(msg.contains("certfile"), "{msg}");
    server.stop().await;
}

#[tokio::test]
async fn verify_false_accepts_an_untrusted_certificate() {
    install_crypto();
    let pki = Pki::new();
    let other = Pki::new();
    let server = start_tcp(Some(pki.server_config(false))).await;
    init_ok(
        format!("https://localhost:{}/mcp", server.port()),
        json!({"ca_bundle": other.ca(), "verify": false}),
    )
    .await;
    server.stop().await;
}

#[tokio::test]
async fn missing_tls_files_fail_at_construction_naming_the_key() {
    let cfg = entry(
        json!({"proto": "STREAMABLEHTTP", "url": "https://localhost:1/mcp",
        "tls": {"ca_bundle": "/nonexistent/ca.crt"}}),
    );
    let err = ExternalPlugin::new(cfg, &options())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("ca_bundle") && err.contains("/nonexistent/ca.crt"),
        "{err}"
    );
    assert!(err.contains("Scrubber"), "{err}");
}

/// An https:// URL at a plain-HTTP port: rustls reads the server's HTTP/1.1 answer as a record
/// of no known type; the message says the server answered without TLS and to write http:// in
/// the entry's `mcp.url` (not "received corrupt message of type InvalidContentType"), and the
/// http:// URL works.
#[tokio::test]
async fn an_https_url_at_a_plain_http_port_is_told_the_server_answered_without_tls() {
    install_crypto();
    let server = start_tcp(None).await;
    let port = server.port();
    let msg = init_error(
        format!("https://127.0.0.1:{port}/mcp"),
        json!({"verify": false}),
    )
    .await;
    assert!(
        msg.contains("the server answered without TLS (plain HTTP")
            && msg.contains("write http:// instead of https:// in `plugins[Scrubber].mcp.url`"),
        "{msg}"
    );
    assert!(!msg.contains("corrupt message"), "{msg}");
    let cfg =
        entry(json!({"proto": "STREAMABLEHTTP", "url": format!("http://127.0.0.1:{port}/mcp")}));
    let plugin = ExternalPlugin::new(cfg, &options()).unwrap();
    plugin.initialize().await.unwrap();
    plugin.shutdown().await;
    server.stop().await;
}
