//! The gRPC port's TLS refusal matrix on real sockets, with the server's TLS config built by
//! `serve::prepare` as `plugwire serve` builds it: no client certificate, a foreign CA, an
//! expired gateway certificate, a server-only certificate used as a client's, a TLS 1.1-only
//! ClientHello and plaintext HTTP/2 are each refused, logged with their reason and counted once
//! in `plugwire_tls_handshakes_total{listener="grpc"}` under the result the MCP port gives them
//! (tests/metrics.rs); the gateway's certificate is served. This binary is the only one of its
//! process with TLS listeners, so the counts are exact.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use common::tls_ports::{attempt, counts, TlsPorts, H2_PREFACE};
use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// [`attempt`] with the HTTP/2 preface.
async fn attempt_h2(addr: SocketAddr, c: &TlsConnector) -> bool {
    attempt(addr, c, H2_PREFACE).await
}

/// Sends `bytes` on a plain TCP connection and reads until the server closes it.
async fn send_raw(addr: SocketAddr, bytes: &[u8]) -> Vec<u8> {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(bytes).await.unwrap();
    let mut got = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), tcp.read_to_end(&mut got)).await;
    got
}

#[tokio::test]
async fn the_grpc_port_refuses_logs_and_counts_as_the_mcp_port() {
    let logs = Logs::global();
    let dir = tempfile::tempdir().unwrap();
    let l = certs(dir.path());
    let ports = TlsPorts::start(&l, &HashMap::new()).await;
    let addr = ports.grpc;
    let ca = l.ca_cert();
    let h2 = |id: Option<&plugwire_certs::IdentityPaths>| {
        tls_client(&ca, id.map(|i| (i.cert.as_path(), i.key.as_path())), b"h2")
    };
    // The gateway's certificate is served.
    assert!(attempt_h2(addr, &h2(Some(&l.gateway()))).await);
    let text = logs.text();
    assert!(text.contains("TLS handshake ok"), "{text}");
    // No client certificate.
    assert!(!attempt_h2(addr, &h2(None)).await);
    assert!(
        logs.text().contains("sent no certificate"),
        "{}",
        logs.text()
    );
    // A gateway certificate from another CA (same CA name, another key: a bad signature).
    let other_dir = tempfile::tempdir().unwrap();
    assert!(!attempt_h2(addr, &h2(Some(&certs(other_dir.path()).gateway()))).await);
    // An expired gateway certificate from the right CA.
    let exp_dir = tempfile::tempdir().unwrap();
    let expired_gateway = gateway_with(&l, exp_dir.path(), &expired()).gateway();
    assert!(!attempt_h2(addr, &h2(Some(&expired_gateway))).await);
    assert!(logs.text().contains("expired"), "{}", logs.text());
    // The plugin's server-only certificate presented as a client's.
    assert!(!attempt_h2(addr, &h2(Some(&l.plugin("alpha")))).await);
    assert!(logs.text().contains("clientAuth"), "{}", logs.text());
    // A TLS 1.1-only ClientHello: an alert or a close, never a session.
    let answer = send_raw(addr, &tls11_client_hello()).await;
    assert!(answer.is_empty() || answer[0] == 0x15, "{answer:?}");
    // Plaintext HTTP/2 to the TLS port: closed without an answer.
    assert!(send_raw(addr, H2_PREFACE).await.is_empty());
    assert!(logs.text().contains("plaintext"), "{}", logs.text());

    let want = counts(&[
        ("accepted", 1.0),
        ("expired", 1.0),
        ("no_cert", 1.0),
        ("other", 1.0),
        ("protocol_version", 1.0),
        ("unknown_ca", 1.0),
        ("wrong_eku", 1.0),
    ]);
    assert_eq!(ports.handshakes("grpc", 7.0).await, want, "{}", logs.text());
    // Nothing reached the MCP port.
    assert_eq!(ports.handshakes("main", 0.0).await, vec![]);
    ports.stop().await;
}
