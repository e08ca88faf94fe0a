//! A raw-socket fake MCP plugin server: full control over the bytes of each answer, so tests can
//! send SSE, forget sessions (404), and send malformed, truncated or oversized answers.
#![allow(dead_code)]

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// How `tools/call invoke_hook` is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A normal answer as SSE, with a session id.
    Sse,
    /// 404 for the current session once; the next `initialize` issues a new session.
    ForgetSession,
    /// Body that is not JSON.
    Garbage,
    /// Content-Length larger than what is sent, then close.
    Truncated,
    /// A very large JSON body.
    Oversized(usize),
    /// Close the connection without answering.
    Hangup,
    /// A normal SSE answer, then close the connection (a keep-alive timeout right after).
    SseThenClose,
    /// Never answer (keep the connection open).
    Stall,
}

pub struct Fake {
    pub mode: Mutex<Mode>,
    pub initializes: AtomicU32,
    pub connections: AtomicU32,
    pub invokes: AtomicU32,
    /// This many coming `initialize` requests get a cut-off answer (a server still starting).
    pub fail_initializes: AtomicU32,
    /// Requests that came without `mcp-session-id` after the handshake (answered 400).
    pub missing_session: AtomicU32,
    /// How long after answering `notifications/initialized` (202) the session counts as
    /// initialized, as the MCP SDK answers 202 before it queues the notification. Until then
    /// `tools/list` waits (it is queued behind it) and a `tools/call` that overtook it is
    /// refused as the SDK refuses it (`refused_early` counts those).
    pub initialized_after_ms: AtomicU64,
    pub refused_early: AtomicU32,
    session: Mutex<u32>,
    /// The session whose `notifications/initialized` has been processed.
    initialized: Arc<Mutex<u32>>,
}

impl Fake {
    pub fn set(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }
}

pub async fn start(mode: Mode) -> (u16, Arc<Fake>, tokio::task::JoinHandle<()>) {
    let fake = Arc::new(Fake {
        mode: Mutex::new(mode),
        initializes: AtomicU32::new(0),
        connections: AtomicU32::new(0),
        invokes: AtomicU32::new(0),
        fail_initializes: AtomicU32::new(0),
        missing_session: AtomicU32::new(0),
        initialized_after_ms: AtomicU64::new(0),
        refused_early: AtomicU32::new(0),
        session: Mutex::new(0),
        initialized: Arc::new(Mutex::new(0)),
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let f = fake.clone();
    let task = tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            f.connections.fetch_add(1, Ordering::SeqCst);
            let f = f.clone();
            tokio::spawn(async move {
                let _ = serve_conn(tcp, f).await;
            });
        }
    });
    (port, fake, task)
}

fn result_text(text: String) -> Value {
    json!({"content": [{"type": "text", "text": text}], "isError": false})
}

/// The config of the plugin asked for (any name: every entry of a test can have its own).
fn config_json(name: &str) -> Value {
    json!({"name": name, "kind": "fake.Scrubber", "hooks": ["tool_pre_invoke"],
        "mode": "enforce", "priority": 10, "conditions": [], "config": null, "tags": []})
}

async fn serve_conn(tcp: tokio::net::TcpStream, fake: Arc<Fake>) -> std::io::Result<()> {
    let (r, mut w) = tcp.into_split();
    let mut reader = BufReader::new(r);
    loop {
        // Request line + headers.
        let mut content_length = 0usize;
        let mut session: Option<String> = None;
        let mut first = String::new();
        if reader.read_line(&mut first).await? == 0 {
            return Ok(());
        }
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).await? == 0 {
                return Ok(());
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((k, v)) = line.split_once(':') {
                let k = k.trim().to_ascii_lowercase();
                if k == "content-length" {
                    content_length = v.trim().parse().unwrap_or(0);
                } else if k == "mcp-session-id" {
                    session = Some(v.trim().to_string());
                }
            }
        }
        let mut body = vec![0u8; content_length];
        reader.read_exact(&mut body).await?;
        if first.starts_with("DELETE") {
            w.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                .await?;
            continue;
        }
        let msg: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let method = msg["method"].as_str().unwrap_or("").to_string();
        let id = msg["id"].clone();
        let mode = *fake.mode.lock().unwrap();
        let current = format!("s{}", *fake.session.lock().unwrap());

        if method == "initialize" {
            fake.initializes.fetch_add(1, Ordering::SeqCst);
            let failing = fake
                .fail_initializes
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok();
            if failing {
                w.write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{\"js")
                    .await?;
                w.shutdown().await?;
                return Ok(());
            }
            let n = {
                let mut s = fake.session.lock().unwrap();
                *s += 1;
                *s
            };
            let answer = json!({"jsonrpc": "2.0", "id": id, "result": {"protocolVersion": "2025-03-26",
                "capabilities": {"tools": {}}, "serverInfo": {"name": "fake", "version": "0"}}});
            write_sse(&mut w, &answer, Some(&format!("s{n}"))).await?;
            continue;
        }
        if session.is_none() {
            // As the Python SDK answers a stateful endpoint without a session id.
            fake.missing_session.fetch_add(1, Ordering::SeqCst);
            let body = r#"{"jsonrpc":"2.0","id":"server-error","error":{"code":-32600,"message":"Bad Request: Missing session ID"}}"#;
            let head = format!(
                "HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
                body.len()
            );
            w.write_all(head.as_bytes()).await?;
            w.write_all(body.as_bytes()).await?;
            continue;
        }
        if session.as_deref() != Some(current.as_str()) {
            w.write_all(b"HTTP/1.1 404 Not Found\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}")
                .await?;
            continue;
        }
        let number: u32 = current[1..].parse().unwrap_or(0);
        if method.starts_with("notifications/") {
            w.write_all(b"HTTP/1.1 202 Accepted\r\ncontent-length: 0\r\n\r\n")
                .await?;
            if method == "notifications/initialized" {
                let after = fake.initialized_after_ms.load(Ordering::SeqCst);
                let initialized = fake.initialized.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(std::time::Duration::from_millis(after)).await;
                    *initialized.lock().unwrap() = number;
                });
            }
            continue;
        }
        let is_initialized = || *fake.initialized.lock().unwrap() == number;
        if method == "tools/list" {
            for _ in 0..1000 {
                if is_initialized() {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
            let answer = json!({"jsonrpc": "2.0", "id": id, "result": {"tools": [
                {"name": "get_plugin_configs", "inputSchema": {"type": "object"}},
                {"name": "get_plugin_config", "inputSchema": {"type": "object"}},
                {"name": "invoke_hook", "inputSchema": {"type": "object"}}]}});
            write_sse(&mut w, &answer, Some(&current)).await?;
            continue;
        }
        let tool = msg["params"]["name"].as_str().unwrap_or("");
        if tool == "get_plugin_config" {
            let answer = json!({"jsonrpc": "2.0", "id": id, "result": result_text(config_json(msg["params"]["arguments"]["name"].as_str().unwrap_or("Scrubber")).to_string())});
            write_sse(&mut w, &answer, Some(&current)).await?;
            continue;
        }
        if !is_initialized() {
            // The MCP SDK's answer to a request before `notifications/initialized` is processed.
            fake.refused_early.fetch_add(1, Ordering::SeqCst);
            let answer = json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32602,
                "message": "Invalid request parameters", "data": ""}});
            write_sse(&mut w, &answer, Some(&current)).await?;
            continue;
        }
        // invoke_hook
        fake.invokes.fetch_add(1, Ordering::SeqCst);
        let payload = msg["params"]["arguments"]["payload"].clone();
        let text = json!({"plugin_name": "Scrubber", "result": {"continue_processing": true,
            "modified_payload": payload, "violation": null, "metadata": {}}})
        .to_string();
        let answer = json!({"jsonrpc": "2.0", "id": id, "result": result_text(text)});
        match mode {
            Mode::Sse => write_sse(&mut w, &answer, Some(&current)).await?,
            Mode::ForgetSession => {
                // Forget: the next request with this id gets 404, a new initialize gets a new id.
                *fake.session.lock().unwrap() += 1;
                fake.set(Mode::Sse);
                w.write_all(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n")
                    .await?;
            }
            Mode::Garbage => {
                let body = b"<html>definitely not json</html>";
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
                    body.len()
                );
                w.write_all(head.as_bytes()).await?;
                w.write_all(body).await?;
            }
            Mode::Truncated => {
                let body = answer.to_string();
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
                    body.len() + 500
                );
                w.write_all(head.as_bytes()).await?;
                w.write_all(&body.as_bytes()[..body.len() / 2]).await?;
                w.shutdown().await?;
                return Ok(());
            }
            Mode::Oversized(n) => {
                let filler = "x".repeat(n);
                let big =
                    json!({"jsonrpc": "2.0", "id": id, "result": result_text(filler)}).to_string();
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
                    big.len()
                );
                w.write_all(head.as_bytes()).await?;
                let _ = w.write_all(big.as_bytes()).await;
                return Ok(());
            }
            Mode::Hangup => return Ok(()),
            Mode::Stall => {
                tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
                return Ok(());
            }
            Mode::SseThenClose => {
                write_sse(&mut w, &answer, Some(&current)).await?;
                w.shutdown().await?;
                return Ok(());
            }
        }
    }
}

async fn write_sse(
    w: &mut tokio::net::tcp::OwnedWriteHalf,
    msg: &Value,
    session: Option<&str>,
) -> std::io::Result<()> {
    // Chunked SSE like uvicorn: one `message` event, then the terminating chunk.
    let event = format!("event: message\r\ndata: {msg}\r\n\r\n");
    let mut head = String::from(
        "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\ntransfer-encoding: chunked\r\n",
    );
    if let Some(s) = session {
        head.push_str(&format!("mcp-session-id: {s}\r\n"));
    }
    head.push_str("\r\n");
    w.write_all(head.as_bytes()).await?;
    w.write_all(format!("{:x}\r\n{event}\r\n", event.len()).as_bytes())
        .await?;
    w.write_all(b"0\r\n\r\n").await?;
    w.flush().await
}
