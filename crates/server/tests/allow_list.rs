//! The allow-list of client identities on real sockets: a client certificate the CA issued but
//! whose identities are not on `allowed_clients` is refused in the TLS handshake, on the MCP
//! (HTTP) port and on the gRPC port, and each refusal is one count of
//! `plugwire_tls_handshakes_total{result="policy"}` for its listener, read by scraping
//! `/metrics/prometheus` on the plain health port. The gRPC listener is served with the same
//! TLS config (built from `PLUGINS_SERVER_SSL_ALLOWED_CLIENTS`): what is tested here is that its
//! accept path refuses and counts as the MCP port's does. This binary is the only one of its
//! process with TLS listeners, so the counts are exact.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashMap;
use std::path::Path;

use common::tls_ports::{attempt, counts, TlsPorts, H2_PREFACE};
use common::*;
use plugwire_certs::{Layout, Options};

/// The one identity on the allow-list: a SPIFFE ID in a URI SAN.
const ALLOWED: &str = "spiffe://cluster.local/ns/gw/sa/gateway";

/// The PKI: a CA and plugin `alpha` in `dir`; the standard gateway certificate (CN and DNS SAN
/// only, so not on the list) in `dir`, and a second gateway certificate from the same CA with
/// the allowed URI SAN in `dir/allowed`.
fn pki(dir: &Path) -> (Layout, Layout) {
    let from = certs(dir);
    let options = Options {
        gateway_sans: vec![format!("URI:{ALLOWED}").parse().unwrap()],
        ..Options::ecdsa()
    };
    let allowed = gateway_with(&from, &dir.join("allowed"), &options);
    (from, allowed)
}

const HTTP_REQUEST: &[u8] = b"GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n";
#[tokio::test]
async fn a_client_not_on_the_allow_list_is_refused_and_counted_as_policy() {
    let dir = tempfile::tempdir().unwrap();
    let (l, allowed) = pki(dir.path());
    let env: HashMap<&str, &str> = HashMap::from([(
        plugwire_env::vars::PLUGINS_SERVER_SSL_ALLOWED_CLIENTS,
        ALLOWED,
    )]);
    let ports = TlsPorts::start(&l, &env).await;
    let (addr, grpc_addr) = (ports.mcp, ports.grpc);
    let (gw, ok) = (l.gateway(), allowed.gateway());
    let ca = l.ca_cert();
    let with = |id: &plugwire_certs::IdentityPaths, alpn: &'static [u8]| {
        tls_client(&ca, Some((id.cert.as_path(), id.key.as_path())), alpn)
    };
    // MCP over HTTPS: the allowed identity is served, the other one refused.
    assert!(attempt(addr, &with(&ok, b""), HTTP_REQUEST).await);
    assert!(!attempt(addr, &with(&gw, b""), HTTP_REQUEST).await);
    assert!(!attempt(addr, &with(&gw, b""), HTTP_REQUEST).await);
    let mcp_counts = counts(&[("accepted", 1.0), ("policy", 2.0)]);
    assert_eq!(ports.handshakes("main", 3.0).await, mcp_counts);
    // gRPC: the same.
    assert!(attempt(grpc_addr, &with(&ok, b"h2"), H2_PREFACE).await);
    assert!(!attempt(grpc_addr, &with(&gw, b"h2"), H2_PREFACE).await);
    let grpc_counts = counts(&[("accepted", 1.0), ("policy", 1.0)]);
    assert_eq!(ports.handshakes("grpc", 2.0).await, grpc_counts);
    // The MCP listener's counts did not move.
    assert_eq!(ports.handshakes("main", 3.0).await, mcp_counts);
    ports.stop().await;
}
