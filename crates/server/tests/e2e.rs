//! The Python captures replayed against plugwire serve's stack (framework PluginManager +
//! built-in SearchReplace and DenyList) over every transport: our answers must equal the
//! Python runtime's, byte for byte inside the text content.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;

use common::*;
use http::StatusCode;
use plugwire_server::{ConnLimits, HostPolicy, DEFAULT_MAX_BODY_BYTES};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::oneshot;

async fn replay_over(conn: &mut Conn) {
    for (name, req, theirs) in replay_pairs() {
        let r = conn.rpc(req).await;
        assert_eq!(r.status, StatusCode::OK, "{name}");
        assert_eq!(r.headers["content-type"], "application/json");
        assert_same_answer(&name, &r.json(), &theirs);
    }
    // initialize and tools/list: same shapes (our serverInfo.version and descriptions differ).
    let r = conn.rpc(wire_sample("01-initialize.request.json")).await;
    let mut ours = r.json();
    let theirs = wire_sample("01-initialize.response.json");
    assert_eq!(
        ours["result"]["serverInfo"]["version"],
        env!("CARGO_PKG_VERSION")
    );
    ours["result"]["serverInfo"]["version"] = theirs["result"]["serverInfo"]["version"].clone();
    assert_eq!(ours, theirs);
    let r = conn.rpc(wire_sample("04-tools_list.request.json")).await;
    let ours = r.json();
    let theirs = wire_sample("04-tools_list.response.json");
    for (o, t) in ours["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .zip(theirs["result"]["tools"].as_array().unwrap())
    {
        assert_eq!(o["name"], t["name"]);
        assert_eq!(o["inputSchema"], t["inputSchema"]);
        assert_eq!(o.get("outputSchema"), t.get("outputSchema"));
    }
}

fn peer_app(backend: Arc<dyn plugwire_server::Backend>) -> Arc<plugwire_server::App> {
    app(backend, DEFAULT_MAX_BODY_BYTES, HostPolicy::new(true, &[]))
}

#[tokio::test]
async fn replay_over_plain_http() {
    let srv = start_plain(peer_app(peer_backend().await)).await;
    let mut c = Conn::tcp(srv.addr).await;
    replay_over(&mut c).await;
    srv.shutdown().await;
}

#[tokio::test]
async fn replay_over_unix_socket() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plugins.sock");
    let listener = tokio::net::UnixListener::bind(&path).unwrap();
    let (tx, rx) = oneshot::channel::<()>();
    let handle = tokio::spawn(plugwire_server::serve_unix(
        listener,
        peer_app(peer_backend().await),
        ConnLimits::default(),
        async move {
            let _ = rx.await;
        },
    ));
    let stream = tokio::net::UnixStream::connect(&path).await.unwrap();
    let mut c = Conn::over(stream, "localhost").await;
    replay_over(&mut c).await;
    // A non-loopback Host over the socket is refused (FastMCP's UDS rule).
    let stream = tokio::net::UnixStream::connect(&path).await.unwrap();
    let mut c = Conn::over(stream, "evil.example").await;
    let r = c.rpc(json!({"jsonrpc":"2.0","id":1,"method":"ping"})).await;
    assert_eq!(r.status, StatusCode::MISDIRECTED_REQUEST);
    let _ = tx.send(());
    handle.await.unwrap();
}

async fn ask<W, R>(w: &mut W, lines: &mut tokio::io::Lines<R>, v: &Value) -> Value
where
    W: tokio::io::AsyncWrite + Unpin,
    R: tokio::io::AsyncBufRead + Unpin,
{
    let mut line = serde_json::to_vec(v).unwrap();
    line.push(b'\n');
    w.write_all(&line).await.unwrap();
    let answer = lines.next_line().await.unwrap().unwrap();
    serde_json::from_str(&answer).unwrap()
}

#[tokio::test]
async fn replay_over_stdio() {
    // Two pipes, as stdin and stdout are: closing ours of stdin is EOF for the server.
    let (mut client_write, server_read) = tokio::io::duplex(1 << 20);
    let (server_write, client_read) = tokio::io::duplex(1 << 20);
    let backend = peer_backend().await;
    let server = tokio::spawn(plugwire_server::serve_stdio(
        backend,
        server_read,
        server_write,
        1 << 20,
        std::time::Duration::from_secs(5),
        std::future::pending(),
    ));
    let mut lines = BufReader::new(client_read).lines();
    for (name, req, theirs) in replay_pairs() {
        let ours = ask(&mut client_write, &mut lines, &req).await;
        assert_same_answer(&name, &ours, &theirs);
    }
    // Notifications get no answer; garbage gets a JSON-RPC error line and the loop goes on.
    client_write
        .write_all(b"{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}\nnot json\n\n")
        .await
        .unwrap();
    let err: Value = serde_json::from_str(&lines.next_line().await.unwrap().unwrap()).unwrap();
    assert_eq!(err["error"]["code"], -32700);
    assert_eq!(err["id"], Value::Null);
    let ping = json!({"jsonrpc":"2.0","id":"p","method":"ping"});
    let pong = ask(&mut client_write, &mut lines, &ping).await;
    assert_eq!(pong, json!({"jsonrpc":"2.0","id":"p","result":{}}));
    // EOF ends the server cleanly.
    drop(client_write);
    server.await.unwrap().unwrap();
}

#[tokio::test]
async fn stdio_line_over_limit_is_skipped_with_an_error() {
    let (mut client_write, server_read) = tokio::io::duplex(1 << 16);
    let (server_write, client_read) = tokio::io::duplex(1 << 16);
    let server = tokio::spawn(plugwire_server::serve_stdio(
        Arc::new(FakeBackend),
        server_read,
        server_write,
        2048,
        std::time::Duration::from_secs(5),
        std::future::pending(),
    ));
    let mut lines = BufReader::new(client_read).lines();
    let writer = tokio::spawn(async move {
        let mut big = vec![b'x'; 100_000];
        big.push(b'\n');
        client_write.write_all(&big).await.unwrap();
        client_write
            .write_all(b"{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"ping\"}\n")
            .await
            .unwrap();
        client_write
    });
    let first: Value = serde_json::from_str(&lines.next_line().await.unwrap().unwrap()).unwrap();
    assert!(first["error"]["message"]
        .as_str()
        .unwrap()
        .contains("longer than 2048 bytes"));
    let second: Value = serde_json::from_str(&lines.next_line().await.unwrap().unwrap()).unwrap();
    assert_eq!(second["id"], 2);
    drop(writer.await.unwrap());
    server.await.unwrap().unwrap();
}

#[tokio::test]
async fn context_state_round_trips_and_blocks_are_reported() {
    let srv = start_plain(peer_app(peer_backend().await)).await;
    let mut c = Conn::tcp(srv.addr).await;
    // Every hook of each plugin, through the same connection.
    for (plugin, hook, payload) in [
        (
            "ReplaceBadWordsPlugin",
            "prompt_pre_fetch",
            json!({"prompt_id": "p", "args": {"a": "crap"}}),
        ),
        (
            "ReplaceBadWordsPlugin",
            "tool_pre_invoke",
            json!({"name": "t", "args": {"a": "crap"}}),
        ),
        (
            "ReplaceBadWordsPlugin",
            "tool_post_invoke",
            json!({"name": "t", "result": {"text": "crap"}}),
        ),
        (
            "DenyListPlugin",
            "prompt_pre_fetch",
            json!({"prompt_id": "p", "args": {"a": "so innovative"}}),
        ),
        (
            "DenyListPlugin",
            "tool_pre_invoke",
            json!({"name": "t", "args": {"a": "so innovative"}}),
        ),
    ] {
        let a = c.rpc(invoke(1, plugin, hook, payload)).await.hook_answer();
        assert_eq!(a["plugin_name"], plugin, "{a}");
        let result = &a["result"];
        if plugin == "DenyListPlugin" {
            assert_eq!(result["continue_processing"], false, "{hook}: {a}");
            assert_eq!(result["violation"]["code"], "deny", "{a}");
        } else {
            assert_eq!(result["continue_processing"], true, "{a}");
            let text = result["modified_payload"].to_string();
            assert!(
                text.contains("yikes") && !text.contains("crap"),
                "{hook}: {a}"
            );
        }
    }
    // Bad context (no request_id): an error answer, not an HTTP error.
    let mut req = invoke(
        2,
        "DenyListPlugin",
        "tool_pre_invoke",
        json!({"name": "t", "args": {}}),
    );
    req["params"]["arguments"]["context"] = json!({"global_context": {}});
    let a = c.rpc(req).await.hook_answer();
    assert!(
        a["error"]["message"]
            .as_str()
            .unwrap()
            .contains("request_id"),
        "{a}"
    );
    // Bad payload for the hook.
    let a = c
        .rpc(invoke(
            3,
            "DenyListPlugin",
            "tool_pre_invoke",
            json!({"args": "nope"}),
        ))
        .await
        .hook_answer();
    assert!(a.get("error").is_some(), "{a}");
    // Unknown hook name.
    let a = c
        .rpc(invoke(4, "DenyListPlugin", "tool_pre_fetch", json!({})))
        .await
        .hook_answer();
    assert!(
        a["error"]["message"]
            .as_str()
            .unwrap()
            .contains("tool_pre_fetch"),
        "{a}"
    );
    srv.shutdown().await;
}

/// Plugins that hang or panic, run by the real PluginManager.
struct Misbehaving(plugwire_framework::PluginConfig);

#[async_trait::async_trait]
impl plugwire_framework::Plugin for Misbehaving {
    fn config(&self) -> &plugwire_framework::PluginConfig {
        &self.0
    }
    async fn tool_pre_invoke(
        &self,
        _payload: plugwire_framework::payloads::ToolPreInvokePayload,
        _ctx: &mut plugwire_framework::PluginContext,
    ) -> Result<plugwire_framework::PluginResult, plugwire_framework::PluginError> {
        if self.0.name == "Hangs" {
            std::future::pending::<()>().await;
        }
        panic!("plugin bug");
    }
}

#[tokio::test]
async fn hanging_and_panicking_plugins_answer_errors_and_the_connection_lives() {
    let yaml = r#"
plugins:
  - name: Hangs
    kind: test.misbehaving
    hooks: ["tool_pre_invoke"]
  - name: Panics
    kind: test.misbehaving
    hooks: ["tool_pre_invoke"]
"#;
    let env = std::collections::HashMap::from([("PLUGINS_PLUGIN_TIMEOUT", "0.2")]);
    let config = plugwire_framework::Config::load_str(yaml, "m.yaml", &env).unwrap();
    let mut registry = plugwire_framework::PluginRegistry::new();
    registry.register(&["test.misbehaving"], |c| {
        Ok(Arc::new(Misbehaving(c)) as Arc<dyn plugwire_framework::Plugin>)
    });
    let manager = plugwire_server::build_manager(config, &registry, &env).unwrap();
    let manager = plugwire_server::initialize_manager(manager).await.unwrap();
    let backend = Arc::new(plugwire_server::ManagerBackend::new(manager));
    let srv = start_plain(peer_app(backend)).await;
    let mut c = Conn::tcp(srv.addr).await;
    for plugin in ["Hangs", "Panics", "Hangs"] {
        let r = c
            .rpc(invoke(1, plugin, "tool_pre_invoke", json!({"name": "t"})))
            .await;
        assert_eq!(r.status, StatusCode::OK);
        let a = r.hook_answer();
        assert_eq!(a["plugin_name"], plugin);
        let msg = a["error"]["message"].as_str().unwrap();
        if plugin == "Hangs" {
            assert!(msg.contains("timeout"), "{msg}");
        } else {
            assert!(
                msg.contains("plugin bug") || msg.contains("panick"),
                "{msg}"
            );
        }
    }
    srv.shutdown().await;
}
