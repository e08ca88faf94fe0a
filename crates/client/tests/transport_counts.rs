//! What the raw-socket client counts, into the caller's `ConnectionStats` and the gateway-side
//! metrics, as the MCP transports do: every socket it connects, every request frame it sends,
//! and a call it sends a second time (`plugwire_client_retries_total`). The peer is a scripted
//! Unix-socket server, so when a connection breaks is decided by the test.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::time::Duration;

use plugwire_client::raw_socket::{RawSocketClient, RawSocketOptions};
use plugwire_client::ConnectionStats;
use plugwire_grpc::frame::{self, HEADER_LEN};
use plugwire_grpc::pb::cpex as pb;
use plugwire_metrics::ClientMetrics;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};

/// Reads one request frame from `conn`.
async fn read_request(conn: &mut UnixStream) -> Vec<u8> {
    let mut header = [0u8; HEADER_LEN];
    conn.read_exact(&mut header).await.unwrap();
    let mut body = vec![0u8; frame::body_len(header).unwrap()];
    conn.read_exact(&mut body).await.unwrap();
    body
}

/// Closes its first connection after reading the request (the call was sent, no answer came),
/// then answers `GetPluginConfig` with `found: false` on every later connection.
fn flaky_server(path: &Path) -> tokio::task::JoinHandle<()> {
    let listener = UnixListener::bind(path).unwrap();
    tokio::spawn(async move {
        let (mut first, _) = listener.accept().await.unwrap();
        read_request(&mut first).await;
        drop(first);
        while let Ok((mut conn, _)) = listener.accept().await {
            tokio::spawn(async move {
                loop {
                    let mut header = [0u8; HEADER_LEN];
                    if conn.read_exact(&mut header).await.is_err() {
                        return;
                    }
                    let mut body = vec![0u8; frame::body_len(header).unwrap()];
                    conn.read_exact(&mut body).await.unwrap();
                    let answer = pb::GetPluginConfigResponse::default();
                    conn.write_all(&frame::encode(&answer).unwrap())
                        .await
                        .unwrap();
                }
            });
        }
    })
}

/// The value of the exposition line that starts with `series`, if any.
fn series_value(series: &str) -> Option<String> {
    let text = ClientMetrics::global().encode();
    text.lines()
        .find_map(|l| l.strip_prefix(series))
        .map(|v| v.trim().to_string())
}

#[tokio::test]
async fn a_read_repeated_after_a_lost_connection_is_counted_once_with_both_sends() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("flaky.sock");
    let server = flaky_server(&path);
    let stats = ConnectionStats::new();
    let mut options = RawSocketOptions::new(&path);
    options.reconnect_delay = Duration::from_millis(10);
    let client = RawSocketClient::with_stats("FlakyRaw", options, stats.clone());

    // A config read is safe to repeat: the second connection answers it.
    assert_eq!(client.get_plugin_config("FlakyRaw").await.unwrap(), None);
    assert_eq!(client.retries(), 1);
    assert_eq!(
        stats.connections_opened(),
        2,
        "the lost one and its replacement"
    );
    assert_eq!(
        stats.requests_sent(),
        2,
        "the request counts each time it is sent"
    );
    let label = r#"{plugin="FlakyRaw",transport="unix_socket"}"#;
    let retries = format!("plugwire_client_retries_total{label}");
    assert_eq!(series_value(&retries).as_deref(), Some("1"));
    let opened = format!("plugwire_client_connections_opened_total{label}");
    assert_eq!(series_value(&opened).as_deref(), Some("2"));

    // The kept connection carries the next call: nothing new is opened.
    assert_eq!(client.get_plugin_config("FlakyRaw").await.unwrap(), None);
    assert_eq!(stats.connections_opened(), 2);
    assert_eq!(stats.requests_sent(), 3);
    assert_eq!(client.retries(), 1);
    server.abort();
}
