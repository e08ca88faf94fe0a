//! What the raw-socket and gRPC clients count, into the caller's `ConnectionStats` and the
//! gateway-side metrics, as the MCP transports do: every socket they connect, every request they
//! send, and a call they send a second time (`plugwire_client_retries_total`). And which failed
//! calls are sent a second time at all: only those the server cannot have acted on (a raw-socket
//! frame not written whole, a gRPC stream refused or left out by `GOAWAY`) and reads, never a hook
//! the server may have run. The peers are scripted Unix-socket servers, so when a connection
//! breaks is decided by the test.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use plugwire_client::grpc::{GrpcClient, GrpcOptions, GrpcTarget};
use plugwire_client::raw_socket::{RawSocketClient, RawSocketOptions};
use plugwire_client::ConnectionStats;
use plugwire_grpc::frame::{self, HEADER_LEN};
use plugwire_grpc::pb::cpex as pb;
use plugwire_grpc::Era;
use plugwire_mcp::InvokeHookArgs;
use plugwire_metrics::ClientMetrics;
use prost::Message;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::oneshot;

/// Reads one request frame from `conn`.
async fn read_request(conn: &mut UnixStream) -> Vec<u8> {
    next_request(conn)
        .await
        .expect("the client closed before a request")
}

/// The next request frame's body on `conn`, or `None` once the client has closed it.
async fn next_request(conn: &mut UnixStream) -> Option<Vec<u8>> {
    let mut header = [0u8; HEADER_LEN];
    conn.read_exact(&mut header).await.ok()?;
    let mut body = vec![0u8; frame::body_len(header).unwrap()];
    conn.read_exact(&mut body).await.unwrap();
    Some(body)
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
                while next_request(&mut conn).await.is_some() {
                    let answer = pb::GetPluginConfigResponse::default();
                    conn.write_all(&frame::encode(&answer).unwrap())
                        .await
                        .unwrap();
                }
            });
        }
    })
}

/// A [`flaky_server`] in `dir`, and a client of `plugin` (the metrics' label) counting into the
/// returned stats.
fn flaky_client(
    dir: &Path,
    plugin: &str,
) -> (
    tokio::task::JoinHandle<()>,
    RawSocketClient,
    Arc<ConnectionStats>,
) {
    let path = dir.join("flaky.sock");
    let server = flaky_server(&path);
    let stats = ConnectionStats::new();
    let mut options = RawSocketOptions::new(&path);
    options.reconnect_delay = Duration::from_millis(10);
    let client = RawSocketClient::with_stats(plugin, options, stats.clone());
    (server, client, stats)
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
    let (server, client, stats) = flaky_client(dir.path(), "FlakyRaw");

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

/// A `tool_pre_invoke` call for `plugin`.
fn hook_args(plugin: &str) -> InvokeHookArgs {
    serde_json::from_value(json!({
        "hook_type": "tool_pre_invoke",
        "plugin_name": plugin,
        "payload": {"name": "search", "args": {"q": "x"}},
        "context": {"state": {}, "global_context": {"request_id": "r1"}, "metadata": {}},
    }))
    .unwrap()
}

#[tokio::test]
async fn a_hook_whose_request_was_sent_is_not_repeated_after_a_lost_connection() {
    let dir = tempfile::tempdir().unwrap();
    let (server, client, stats) = flaky_client(dir.path(), "FlakyHook");

    // The server read the whole request, then the connection broke: it may have run the hook.
    let err = client
        .invoke_hook(hook_args("FlakyHook"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("InvokeHook"), "{err}");
    assert_eq!(
        client.retries(),
        0,
        "a hook the server may have run is not sent again"
    );
    assert_eq!(stats.requests_sent(), 1);
    assert_eq!(stats.connections_opened(), 1);

    // The next call is sent on a new connection.
    client.invoke_hook(hook_args("FlakyHook")).await.unwrap();
    assert_eq!(stats.connections_opened(), 2);
    assert_eq!(stats.requests_sent(), 2);
    assert_eq!(client.retries(), 0);
    server.abort();
}

/// What the scripted gRPC server does with one request.
#[derive(Clone, Copy, Debug)]
enum Step {
    /// Answer it: an `InvokeHookResponse` from plugin `Scripted`, `grpc-status: 0`.
    Answer,
    /// Refuse its stream with `REFUSED_STREAM` (what a server at its stream limit does: the
    /// request was not processed).
    Refuse,
    /// Read it whole, then close the connection without answering.
    Cut,
}

/// An `InvokeHookResponse` from `plugin` whose result lets the call go on.
fn hook_answer(plugin: String) -> pb::InvokeHookResponse {
    let result = json!({"continue_processing": true});
    pb::InvokeHookResponse {
        plugin_name: plugin,
        result: Some(plugwire_grpc::structs::to_struct(
            result.as_object().unwrap(),
        )),
        ..Default::default()
    }
}

/// [`hook_answer`] from plugin `Scripted`, as a gRPC message.
fn answer_message() -> Bytes {
    let body = hook_answer("Scripted".into()).encode_to_vec();
    let mut message = BytesMut::with_capacity(5 + body.len());
    message.put_u8(0);
    message.put_u32(u32::try_from(body.len()).unwrap());
    message.put_slice(&body);
    message.freeze()
}

/// Serves h2 on `path`. Connection `n` takes its requests' fates from `scripts[n]` in order, and
/// answers every request after its script (and every request of connections past the scripts).
fn scripted_grpc(path: &Path, scripts: Vec<Vec<Step>>) -> tokio::task::JoinHandle<()> {
    let listener = UnixListener::bind(path).unwrap();
    tokio::spawn(async move {
        let mut scripts = scripts.into_iter();
        while let Ok((io, _)) = listener.accept().await {
            let script = scripts.next().unwrap_or_default();
            tokio::spawn(serve_script(io, script));
        }
    })
}

async fn serve_script(io: UnixStream, script: Vec<Step>) {
    let mut conn = h2::server::handshake(io).await.unwrap();
    let mut steps = script.into_iter();
    while let Some(Ok((request, mut respond))) = conn.accept().await {
        let step = steps.next().unwrap_or(Step::Answer);
        if let Step::Refuse = step {
            respond.send_reset(h2::Reason::REFUSED_STREAM);
            continue;
        }
        let mut body = request.into_body();
        while let Some(Ok(chunk)) = body.data().await {
            let _ = body.flow_control().release_capacity(chunk.len());
        }
        if let Step::Cut = step {
            // The connection and the socket go with `conn`.
            return;
        }
        let head = http::Response::builder()
            .header("content-type", "application/grpc")
            .body(())
            .unwrap();
        let mut send = respond.send_response(head, false).unwrap();
        send.send_data(answer_message(), false).unwrap();
        let mut trailers = http::HeaderMap::new();
        trailers.insert("grpc-status", http::HeaderValue::from_static("0"));
        send.send_trailers(trailers).unwrap();
    }
}

/// A client of `plugin` (the metrics' label; the scripted server answers for any name).
fn grpc_client(path: &Path, plugin: &str, stats: &Arc<ConnectionStats>) -> GrpcClient {
    let options = GrpcOptions {
        target: GrpcTarget::Unix(path.to_path_buf()),
        era: Era::Cpex,
        timeout: Duration::from_secs(10),
        connect_timeout: Duration::from_secs(5),
    };
    GrpcClient::with_stats(plugin, options, stats.clone()).unwrap()
}

#[tokio::test]
async fn a_grpc_hook_refused_unprocessed_is_sent_once_more_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("grpc.sock");
    let server = scripted_grpc(&path, vec![vec![Step::Refuse]]);
    let stats = ConnectionStats::new();
    let client = grpc_client(&path, "RefusedOnce", &stats);

    let answer = client.invoke_hook(hook_args("Scripted")).await.unwrap();
    assert_eq!(answer.plugin_name, "Scripted");
    assert!(answer.result.is_some(), "{answer:?}");
    assert_eq!(client.retries(), 1);
    assert_eq!(stats.requests_sent(), 2, "the refused send and the retry");
    assert_eq!(
        stats.connections_opened(),
        1,
        "the stream was refused, not the connection"
    );
    let label = r#"{plugin="RefusedOnce",transport="grpc_uds"}"#;
    let retries = format!("plugwire_client_retries_total{label}");
    assert_eq!(series_value(&retries).as_deref(), Some("1"));

    // A second refusal in a row is the call's answer: one retry per call.
    drop(client);
    server.abort();
    let path = dir.path().join("grpc2.sock");
    let server = scripted_grpc(&path, vec![vec![Step::Refuse, Step::Refuse]]);
    let client = grpc_client(&path, "RefusedTwice", &ConnectionStats::new());
    let err = client.invoke_hook(hook_args("Scripted")).await.unwrap_err();
    assert!(err.to_string().contains("Unavailable"), "{err}");
    assert_eq!(client.retries(), 1);
    server.abort();
}

#[tokio::test]
async fn a_grpc_hook_whose_connection_broke_after_sending_is_not_repeated() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("grpc.sock");
    let server = scripted_grpc(&path, vec![vec![Step::Cut]]);
    let stats = ConnectionStats::new();
    let client = grpc_client(&path, "CutAfterSend", &stats);

    // The server read the request: it may have run the hook.
    let err = client.invoke_hook(hook_args("Scripted")).await.unwrap_err();
    assert!(err.to_string().contains("InvokeHook"), "{err}");
    assert_eq!(
        client.retries(),
        0,
        "a hook the server may have run is not sent again"
    );
    assert_eq!(stats.requests_sent(), 1);

    // The broken connection is replaced by the next call.
    let answer = client.invoke_hook(hook_args("Scripted")).await.unwrap();
    assert_eq!(answer.plugin_name, "Scripted");
    assert_eq!(stats.connections_opened(), 2);
    assert_eq!(client.retries(), 0);
    server.abort();
}

/// Answers every `InvokeHook` request on `conn` with a [`hook_answer`] from the request's plugin,
/// counting each request read whole into `served`, until the client closes.
async fn answer_hooks(mut conn: UnixStream, served: Arc<AtomicUsize>) {
    while let Some(body) = next_request(&mut conn).await {
        let request = pb::InvokeHookRequest::decode(body.as_slice()).unwrap();
        served.fetch_add(1, Ordering::SeqCst);
        let answer = hook_answer(request.plugin_name);
        conn.write_all(&frame::encode(&answer).unwrap())
            .await
            .unwrap();
    }
}

/// A client of `plugin` on `path` that counts into the returned stats, reconnecting quickly.
fn raw_client(path: &Path, plugin: &str) -> (RawSocketClient, Arc<ConnectionStats>) {
    let stats = ConnectionStats::new();
    let mut options = RawSocketOptions::new(path);
    options.reconnect_delay = Duration::from_millis(10);
    (
        RawSocketClient::with_stats(plugin, options, stats.clone()),
        stats,
    )
}

/// Answers one hook on its first connection, then stops reading it (`shutdown(SHUT_RD)`) while
/// keeping it open, and says so on the returned channel. The client's kept connection still
/// looks alive (nothing to read, no EOF), but a write to it fails with a broken pipe: the next
/// request cannot be written. Every later connection is answered.
fn stops_reading_after_one_hook(
    path: &Path,
    served: Arc<AtomicUsize>,
) -> (tokio::task::JoinHandle<()>, oneshot::Receiver<()>) {
    let listener = UnixListener::bind(path).unwrap();
    let (stopped, stopped_rx) = oneshot::channel();
    let server = tokio::spawn(async move {
        let (mut first, _) = listener.accept().await.unwrap();
        let body = read_request(&mut first).await;
        let request = pb::InvokeHookRequest::decode(body.as_slice()).unwrap();
        served.fetch_add(1, Ordering::SeqCst);
        let answer = hook_answer(request.plugin_name);
        first
            .write_all(&frame::encode(&answer).unwrap())
            .await
            .unwrap();
        let first = first.into_std().unwrap();
        first.shutdown(std::net::Shutdown::Read).unwrap();
        stopped.send(()).unwrap();
        while let Ok((conn, _)) = listener.accept().await {
            tokio::spawn(answer_hooks(conn, served.clone()));
        }
        // Held open until the test aborts the server: closing it would show the client an EOF,
        // and the kept connection would be replaced before use instead of failing the write.
        drop(first);
    });
    (server, stopped_rx)
}

/// One `InvokeHook` through `client`, answered by the plugin `UnwrittenHook`.
async fn answered_by_unwritten_hook(client: &RawSocketClient) {
    let answer = client
        .invoke_hook(hook_args("UnwrittenHook"))
        .await
        .unwrap();
    assert_eq!(answer.plugin_name, "UnwrittenHook");
    assert!(answer.result.is_some(), "{answer:?}");
}

/// A hook whose request could not be written on the kept connection (the server stopped
/// reading it, the write failed with a broken pipe) is sent once more on a new connection,
/// answered, and counted as a retry; the server ran it once.
#[tokio::test]
async fn a_hook_whose_request_could_not_be_written_is_sent_again_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("unread.sock");
    let served = Arc::new(AtomicUsize::new(0));
    let (server, stopped) = stops_reading_after_one_hook(&path, served.clone());
    let (client, stats) = raw_client(&path, "UnwrittenHook");

    answered_by_unwritten_hook(&client).await;
    assert_eq!(client.retries(), 0);
    stopped.await.unwrap();

    // The kept connection passes the check before use; the write on it fails.
    answered_by_unwritten_hook(&client).await;
    assert_eq!(client.retries(), 1, "the unwritten request is sent again");
    assert_eq!(
        stats.connections_opened(),
        2,
        "the kept one and its replacement"
    );
    assert_eq!(
        stats.requests_sent(),
        3,
        "the first call, the failed send and the retry"
    );
    assert_eq!(
        served.load(Ordering::SeqCst),
        2,
        "the server read each call's request once"
    );
    let label = r#"{plugin="UnwrittenHook",transport="unix_socket"}"#;
    let retries = format!("plugwire_client_retries_total{label}");
    assert_eq!(series_value(&retries).as_deref(), Some("1"));

    // The replacement is kept for the next call.
    client
        .invoke_hook(hook_args("UnwrittenHook"))
        .await
        .unwrap();
    assert_eq!(stats.connections_opened(), 2);
    assert_eq!(client.retries(), 1);
    server.abort();
}

/// Reads only the header of the request on each of its first `cuts` connections, then closes
/// the connection with the rest of the frame unread; answers every later connection. A request
/// larger than a socket buffer can hold is then cut while being written, never written whole.
fn cuts_requests_short(
    path: &Path,
    cuts: usize,
    served: Arc<AtomicUsize>,
) -> tokio::task::JoinHandle<()> {
    let listener = UnixListener::bind(path).unwrap();
    tokio::spawn(async move {
        for _ in 0..cuts {
            let (mut conn, _) = listener.accept().await.unwrap();
            let mut header = [0u8; HEADER_LEN];
            conn.read_exact(&mut header).await.unwrap();
            assert!(frame::body_len(header).unwrap() > BIG_ARG);
            drop(conn);
        }
        while let Ok((conn, _)) = listener.accept().await {
            tokio::spawn(answer_hooks(conn, served.clone()));
        }
    })
}

/// Bytes of the argument that makes a request larger than a Unix socket's buffer (about 200 KiB
/// on Linux), so that writing it blocks until the server reads.
const BIG_ARG: usize = 4 * 1024 * 1024;

/// A hook call whose request is too large to sit in the socket's buffers.
fn big_hook_args(plugin: &str) -> InvokeHookArgs {
    let mut args = hook_args(plugin);
    args.payload["args"]["q"] = json!("x".repeat(BIG_ARG));
    args
}

/// A hook whose request frame was cut part-way through its write (the server read its header
/// and closed) is sent once more on a new connection and counted; a second cut in a row is the
/// call's answer (one retry per call).
#[tokio::test]
async fn a_hook_cut_while_its_request_was_written_is_sent_once_more() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cut.sock");
    let served = Arc::new(AtomicUsize::new(0));
    let server = cuts_requests_short(&path, 1, served.clone());
    let (client, stats) = raw_client(&path, "CutHook");

    let answer = client.invoke_hook(big_hook_args("CutHook")).await.unwrap();
    assert_eq!(answer.plugin_name, "CutHook");
    assert!(answer.result.is_some(), "{answer:?}");
    assert_eq!(client.retries(), 1);
    assert_eq!(stats.connections_opened(), 2);
    assert_eq!(stats.requests_sent(), 2);
    assert_eq!(served.load(Ordering::SeqCst), 1);
    let label = r#"{plugin="CutHook",transport="unix_socket"}"#;
    let retries = format!("plugwire_client_retries_total{label}");
    assert_eq!(series_value(&retries).as_deref(), Some("1"));
    server.abort();

    let path = dir.path().join("cut2.sock");
    let served = Arc::new(AtomicUsize::new(0));
    let server = cuts_requests_short(&path, 2, served.clone());
    let (client, stats) = raw_client(&path, "CutTwice");
    let err = client
        .invoke_hook(big_hook_args("CutTwice"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("InvokeHook"), "{err}");
    assert_eq!(client.retries(), 1, "one retry per call");
    assert_eq!(stats.connections_opened(), 2);
    assert_eq!(served.load(Ordering::SeqCst), 0);
    server.abort();
}
