//! The raw socket's operations, as the other listeners': the connection cap closes the
//! (cap+1)th connection at accept and a freed slot is reused; a drain refuses new connections,
//! answers the call in flight and a request sent on a kept connection meanwhile, then closes;
//! and a call still busy at the drain deadline is cut.
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
use tokio::sync::Notify;

/// One plugin whose hook calls wait until released, so a test can hold a call in flight.
#[derive(Default)]
struct Held {
    entered: Notify,
    release: Notify,
}

#[async_trait::async_trait]
impl Backend for Held {
    fn plugin_configs(&self) -> Vec<Value> {
        vec![json!({"name": "Scrubber", "hooks": ["tool_pre_invoke"]})]
    }
    async fn invoke_hook(&self, args: RawInvokeHookArgs<'_>, out: &mut TextResultWriter) {
        self.entered.notify_one();
        self.release.notified().await;
        let answer = InvokeHookResponse::success(
            args.plugin_name.to_string(),
            json!({"continue_processing": true}),
            None,
        );
        out.push_str(&answer.to_text());
    }
}

fn invoke_frame() -> Vec<u8> {
    frame::encode(&pb::InvokeHookRequest {
        hook_type: "tool_pre_invoke".into(),
        plugin_name: "Scrubber".into(),
        ..Default::default()
    })
    .unwrap()
}

fn configs_frame() -> Vec<u8> {
    frame::encode(&pb::GetPluginConfigsRequest {}).unwrap()
}

/// The next answer's body, or `None` at EOF.
async fn read_answer(conn: &mut UnixStream) -> Option<Vec<u8>> {
    let mut header = [0u8; 4];
    let read = tokio::time::timeout(Duration::from_secs(20), conn.read_exact(&mut header))
        .await
        .expect("the server neither answered nor closed the connection");
    read.ok()?;
    let mut body = vec![0u8; u32::from_be_bytes(header) as usize];
    conn.read_exact(&mut body).await.unwrap();
    Some(body)
}

/// Whether `conn` gets `GetPluginConfigs` answered (false: closed by the server).
async fn served(conn: &mut UnixStream) -> bool {
    if conn.write_all(&configs_frame()).await.is_err() {
        return false;
    }
    match read_answer(conn).await {
        Some(body) => {
            let r: pb::GetPluginConfigsResponse = frame::decode(&body, "configs").unwrap();
            assert_eq!(r.configs.len(), 1);
            true
        }
        None => false,
    }
}

fn continued(body: &[u8]) -> bool {
    let r: pb::InvokeHookResponse = frame::decode(body, "InvokeHookResponse").unwrap();
    assert_eq!(r.plugin_name, "Scrubber");
    let result = plugwire_grpc::structs::from_opt_struct(r.result.as_ref());
    result.get("continue_processing") == Some(&json!(true))
}

#[tokio::test]
async fn the_connection_over_the_cap_is_closed_and_a_freed_slot_is_reused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("raw.sock");
    let options = RawSocketOptions {
        max_connections: 2,
        ..RawSocketOptions::default()
    };
    let srv = RawServer::start(&path, Arc::new(Held::default()), options);
    let mut first = UnixStream::connect(&path).await.unwrap();
    assert!(served(&mut first).await);
    let mut second = UnixStream::connect(&path).await.unwrap();
    assert!(served(&mut second).await);
    let mut third = UnixStream::connect(&path).await.unwrap();
    assert!(
        !served(&mut third).await,
        "the third connection is over the cap of 2"
    );
    // Both admitted connections keep being served.
    assert!(served(&mut first).await);

    drop(first);
    let mut admitted = false;
    for _ in 0..100 {
        let mut again = UnixStream::connect(&path).await.unwrap();
        if served(&mut again).await {
            admitted = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        admitted,
        "a slot freed by a closed connection is never reused"
    );
    drop((second, third));
    let task = srv.drain(&path).await;
    tokio::time::timeout(Duration::from_secs(20), task)
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn a_drain_answers_the_call_in_flight_and_a_request_sent_meanwhile_then_closes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("raw.sock");
    let backend = Arc::new(Held::default());
    let srv = RawServer::start(&path, backend.clone(), RawSocketOptions::default());
    let mut busy = UnixStream::connect(&path).await.unwrap();
    let mut kept = UnixStream::connect(&path).await.unwrap();
    assert!(served(&mut kept).await);
    busy.write_all(&invoke_frame()).await.unwrap();
    backend.entered.notified().await;

    let task = srv.drain(&path).await;
    // A kept connection's next request, sent while the drain runs, is answered.
    assert!(
        served(&mut kept).await,
        "a request on a kept connection during the drain"
    );
    backend.release.notify_one();
    let body = read_answer(&mut busy).await.expect("the call in flight");
    assert!(continued(&body));
    // Then both connections are closed, and the server returns.
    assert!(read_answer(&mut busy).await.is_none());
    assert!(read_answer(&mut kept).await.is_none());
    tokio::time::timeout(Duration::from_secs(20), task)
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn a_call_still_busy_at_the_drain_deadline_is_cut() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("raw.sock");
    let backend = Arc::new(Held::default());
    let options = RawSocketOptions {
        drain_timeout: Duration::from_millis(200),
        ..RawSocketOptions::default()
    };
    let srv = RawServer::start(&path, backend.clone(), options);
    let mut busy = UnixStream::connect(&path).await.unwrap();
    busy.write_all(&invoke_frame()).await.unwrap();
    backend.entered.notified().await;
    let task = srv.drain(&path).await;
    // Never released: the deadline closes the connection without an answer.
    assert!(read_answer(&mut busy).await.is_none());
    tokio::time::timeout(Duration::from_secs(20), task)
        .await
        .unwrap()
        .unwrap();
}
