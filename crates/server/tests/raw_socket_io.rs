//! The raw socket's own reading and writing: requests that arrive together in one write (the
//! client pipelined them) are each answered in order; a request trickling in a few bytes at a
//! time is answered once whole; an answer much larger than the socket's send buffer (so the
//! write comes back short and the rest waits for writability) arrives whole, and the connection
//! keeps serving after it; a large request followed by small ones is served too. The idle
//! timeout (`RawSocketOptions::idle`) closes a connection that sends nothing for that long, and
//! counts from each answer, so a client calling more often keeps its connection.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::raw_socket::RawServer;
use plugwire_grpc::frame;
use plugwire_grpc::pb::cpex as pb;
use plugwire_mcp::{InvokeHookResponse, RawInvokeHookArgs, TextResultWriter};
use plugwire_server::raw_socket::RawSocketOptions;
use plugwire_server::Backend;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

/// Length of the description in the large config (well over a Unix socket's send buffer).
const BIG: usize = 4 << 20;

/// Two plugins: `Small` with a short config, `Large` with a 4 MiB description; a hook call
/// answers with the request's payload `name` echoed back.
struct Configs;

#[async_trait::async_trait]
impl Backend for Configs {
    fn plugin_configs(&self) -> Vec<Value> {
        vec![
            json!({"name": "Small", "hooks": ["tool_pre_invoke"]}),
            json!({"name": "Large", "description": "x".repeat(BIG)}),
        ]
    }
    async fn invoke_hook(&self, args: RawInvokeHookArgs<'_>, out: &mut TextResultWriter) {
        let payload: Value = serde_json::from_str(args.payload.get()).unwrap_or(Value::Null);
        let answer = InvokeHookResponse::success(
            args.plugin_name.to_string(),
            json!({"continue_processing": true, "echo": payload["name"]}),
            None,
        );
        out.push_str(&answer.to_text());
    }
}

fn config_frame(name: &str) -> Vec<u8> {
    frame::encode(&pb::GetPluginConfigRequest { name: name.into() }).unwrap()
}

/// A hook call whose payload `name` is `tag` (and whose other fields make it ~`pad` bytes).
fn invoke_frame(tag: &str, pad: usize) -> Vec<u8> {
    let payload = json!({"name": tag, "args": {"pad": "p".repeat(pad)}});
    frame::encode(&pb::InvokeHookRequest {
        hook_type: "tool_pre_invoke".into(),
        plugin_name: "Small".into(),
        payload: Some(plugwire_grpc::structs::to_struct(
            payload.as_object().unwrap(),
        )),
        ..Default::default()
    })
    .unwrap()
}

async fn read_answer(conn: &mut UnixStream) -> Vec<u8> {
    let mut header = [0u8; 4];
    tokio::time::timeout(Duration::from_secs(20), conn.read_exact(&mut header))
        .await
        .expect("the server neither answered nor closed the connection")
        .expect("the server closed the connection");
    let mut body = vec![0u8; u32::from_be_bytes(header) as usize];
    conn.read_exact(&mut body).await.unwrap();
    body
}

fn echoed(body: &[u8]) -> Value {
    let r: pb::InvokeHookResponse = frame::decode(body, "InvokeHookResponse").unwrap();
    assert_eq!(r.plugin_name, "Small");
    let result = plugwire_grpc::structs::from_opt_struct(r.result.as_ref());
    result.get("echo").cloned().unwrap_or(Value::Null)
}

fn config_name_and_description_len(body: &[u8]) -> (String, usize) {
    let r: pb::GetPluginConfigResponse = frame::decode(body, "config").unwrap();
    let config = plugwire_grpc::structs::from_opt_struct(r.config.as_ref());
    let text = |key: &str| {
        config
            .get(key)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    (text("name"), text("description").len())
}

#[tokio::test]
async fn pipelined_and_trickled_requests_are_each_answered_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("raw.sock");
    let server = RawServer::start(&path, Arc::new(Configs), RawSocketOptions::default());
    let mut conn = UnixStream::connect(&path).await.unwrap();

    // Three requests in one write: the server reads them together and must answer all three.
    let mut three = invoke_frame("one", 10);
    three.extend(invoke_frame("two", 3000));
    three.extend(invoke_frame("three", 10));
    conn.write_all(&three).await.unwrap();
    for tag in ["one", "two", "three"] {
        assert_eq!(echoed(&read_answer(&mut conn).await), json!(tag));
    }

    // One request a few bytes at a time, its header split too.
    let trickled = invoke_frame("trickled", 100);
    for chunk in trickled.chunks(3) {
        conn.write_all(chunk).await.unwrap();
        conn.flush().await.unwrap();
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    assert_eq!(echoed(&read_answer(&mut conn).await), json!("trickled"));

    // A request larger than the server's usual read buffer, then a small one in the same write.
    let mut large_then_small = invoke_frame("large", 200_000);
    large_then_small.extend(invoke_frame("after", 10));
    conn.write_all(&large_then_small).await.unwrap();
    assert_eq!(echoed(&read_answer(&mut conn).await), json!("large"));
    assert_eq!(echoed(&read_answer(&mut conn).await), json!("after"));

    drop(conn);
    server.stop().await;
}

#[tokio::test]
async fn an_answer_larger_than_the_send_buffer_arrives_whole_and_the_connection_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("raw.sock");
    let server = RawServer::start(&path, Arc::new(Configs), RawSocketOptions::default());
    let mut conn = UnixStream::connect(&path).await.unwrap();

    for _ in 0..2 {
        conn.write_all(&config_frame("Large")).await.unwrap();
        // Read late, so the server's send buffer fills and its write has to wait.
        tokio::time::sleep(Duration::from_millis(50)).await;
        let (name, len) = config_name_and_description_len(&read_answer(&mut conn).await);
        assert_eq!((name.as_str(), len), ("Large", BIG));

        conn.write_all(&config_frame("Small")).await.unwrap();
        let (name, len) = config_name_and_description_len(&read_answer(&mut conn).await);
        assert_eq!((name.as_str(), len), ("Small", 0));
    }

    drop(conn);
    server.stop().await;
}

/// Idle timeout of the idle tests: long enough that a busy machine's scheduling delays stay
/// well inside it, short enough to wait for.
const IDLE: Duration = Duration::from_millis(300);

/// Options with [`IDLE`] as the idle timeout.
fn with_idle() -> RawSocketOptions {
    RawSocketOptions {
        idle: IDLE,
        ..RawSocketOptions::default()
    }
}

/// A connection that sends nothing for longer than `idle` is closed by the server (EOF, no
/// answer), not before: it served a call first, and stayed open at least half of `idle` after.
#[tokio::test]
async fn a_connection_silent_for_longer_than_idle_is_closed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("raw.sock");
    let server = RawServer::start(&path, Arc::new(Configs), with_idle());
    let mut conn = UnixStream::connect(&path).await.unwrap();
    conn.write_all(&invoke_frame("first", 10)).await.unwrap();
    assert_eq!(echoed(&read_answer(&mut conn).await), json!("first"));

    let quiet_from = tokio::time::Instant::now();
    let mut byte = [0u8; 1];
    let read = tokio::time::timeout(Duration::from_secs(5), conn.read(&mut byte))
        .await
        .expect("a silent connection was still open 5 s later (idle 300 ms)");
    assert_eq!(read.unwrap(), 0, "the server sent bytes instead of closing");
    // The idle timer starts once the answer is written, a moment before it is read here.
    assert!(
        quiet_from.elapsed() >= IDLE / 2,
        "closed after {:?}, before the idle timeout",
        quiet_from.elapsed()
    );

    server.stop().await;
}

/// A connection calling at intervals shorter than `idle` (50 ms with `idle` 300 ms), for well
/// over `idle` in total, is never closed: the timeout counts from the last answer, not from the
/// connection's start.
#[tokio::test]
async fn a_connection_calling_more_often_than_idle_stays_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("raw.sock");
    let server = RawServer::start(&path, Arc::new(Configs), with_idle());
    let mut conn = UnixStream::connect(&path).await.unwrap();

    let started = tokio::time::Instant::now();
    for i in 0..12 {
        let tag = format!("call-{i}");
        conn.write_all(&invoke_frame(&tag, 10)).await.unwrap();
        assert_eq!(echoed(&read_answer(&mut conn).await), json!(tag));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // 12 pauses of 50 ms: the connection has lived twice the idle timeout.
    assert!(started.elapsed() >= IDLE * 2);
    conn.write_all(&invoke_frame("last", 10)).await.unwrap();
    assert_eq!(echoed(&read_answer(&mut conn).await), json!("last"));

    drop(conn);
    server.stop().await;
}
