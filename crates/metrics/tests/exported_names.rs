//! Every metric family the Kubernetes alerts and dashboard may use (tests/k8s/metric-names.txt)
//! is really exported once its event has happened. A live scrape only shows families that have a
//! series, so the k8s suite checks its scrape against that list and this test proves the list.

#![allow(clippy::unwrap_used)] // tests may unwrap (team rules)

use std::collections::BTreeSet;
use std::time::Duration;

use plugwire_metrics::{
    CertRole, ClientMetrics, HandshakeResult, Outcome, ServerMetrics, Transport,
};

fn exported(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            if let Some(name) = rest.split_whitespace().next() {
                names.insert(name.to_string());
            }
        } else if !line.starts_with('#') && !line.is_empty() {
            let end = line.find(['{', ' ']).unwrap_or(line.len());
            names.insert(line[..end].to_string());
        }
    }
    names
}

#[test]
fn every_listed_family_is_exported_after_its_event() {
    let server = ServerMetrics::new(true);
    server.set_info("MCP Plugin Server", "http", true);
    server.hook_call(
        "P",
        "tool_pre_invoke",
        Outcome::Violation,
        Some("deny"),
        Duration::from_millis(1),
    );
    server.tls_handshake("main", HandshakeResult::Accepted);
    let _open = server.connection_opened(Transport::Http);
    server.certificate_not_after(CertRole::Server, "/tls/tls.crt", 2_000_000_000);
    server.config_loaded(1, true);
    server.plugin_disabled("P", true);
    let client = ClientMetrics::new(true);
    client.call(
        "P",
        "tool_pre_invoke",
        Outcome::Error,
        None,
        Duration::from_millis(1),
    );
    client.connection_opened("P", "https");
    client.reconnect("P");
    client.retry("P", "grpcs");
    client.fail_open("P", "tool_pre_invoke", "unreachable");
    let names = exported(&(server.encode() + &client.encode()));

    let list = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/k8s/metric-names.txt"),
    )
    .unwrap();
    let missing: Vec<&str> = list
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter(|name| {
            let base = name.strip_suffix("_total").unwrap_or(name);
            !names.contains(*name) && !names.contains(base)
        })
        .collect();
    assert!(
        missing.is_empty(),
        "not exported: {missing:?}\nexported: {names:?}"
    );
}
