//! Streamable HTTP rules (README decisions 9-12) over real loopback sockets with a plain hyper
//! client and a fake backend (so misbehaving plugins are easy to stage).
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use http::{Method, StatusCode};
use plugwire_server::{HostPolicy, DEFAULT_MAX_BODY_BYTES};
use serde_json::json;

fn loopback_app() -> Arc<plugwire_server::App> {
    app(
        Arc::new(FakeBackend),
        DEFAULT_MAX_BODY_BYTES,
        HostPolicy::new(true, &[]),
    )
}

#[tokio::test]
async fn initialize_is_json_without_session_and_negotiates() {
    let srv = start_plain(loopback_app()).await;
    let mut c = Conn::tcp(srv.addr).await;
    for (asked, answered) in [
        ("2025-11-25", "2025-11-25"),
        ("2025-06-18", "2025-06-18"),
        ("2025-03-26", "2025-03-26"),
        ("2024-11-05", "2024-11-05"),
        ("2031-01-01", "2025-11-25"),
    ] {
        let r = c
            .rpc(json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{
                "protocolVersion": asked, "capabilities": {}, "clientInfo": {"name":"t","version":"0"}}}))
            .await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.headers["content-type"], "application/json");
        assert!(r.headers.get("mcp-session-id").is_none());
        let v = r.json();
        assert_eq!(v["id"], 0);
        assert_eq!(v["result"]["protocolVersion"], answered);
        assert_eq!(v["result"]["serverInfo"]["name"], "MCP Plugin Server");
        assert_eq!(
            v["result"]["instructions"],
            "External plugin server for ContextForge"
        );
    }
    srv.shutdown().await;
}

#[tokio::test]
async fn stateless_session_rules() {
    let srv = start_plain(loopback_app()).await;
    let mut c = Conn::tcp(srv.addr).await;
    // tools/call with no initialize, with a session id we never issued.
    let r = c
        .send(
            Method::POST,
            "/mcp",
            &[
                ("mcp-session-id", "4d4b22418c434504a87f1806e629f386"),
                ("mcp-protocol-version", "2025-11-25"),
            ],
            serde_json::to_vec(&invoke(5, "Echo", "tool_pre_invoke", json!({"name": "x"})))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.hook_answer()["plugin_name"], "Echo");

    let r = c
        .rpc(json!({"jsonrpc":"2.0","method":"notifications/initialized"}))
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    assert!(r.body.is_empty());

    // A client answering a server request (we never send any) also gets 202.
    let r = c.rpc(json!({"jsonrpc":"2.0","id":1,"result":{}})).await;
    assert_eq!(r.status, StatusCode::ACCEPTED);

    let r = c
        .send(Method::GET, "/mcp", &[("accept", "text/event-stream")], "")
        .await
        .unwrap();
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(r.headers["allow"], "POST, DELETE");

    let r = c
        .send(
            Method::DELETE,
            "/mcp",
            &[("mcp-session-id", "whatever")],
            "",
        )
        .await
        .unwrap();
    assert_eq!(r.status, StatusCode::OK);

    let r = c.send(Method::GET, "/health", &[], "").await.unwrap();
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(&r.body[..], br#"{"status":"healthy"}"#);

    let r = c.send(Method::GET, "/nope", &[], "").await.unwrap();
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    srv.shutdown().await;
}

#[tokio::test]
async fn tool_and_plugin_errors_are_http_200() {
    let srv = start_plain(loopback_app()).await;
    let mut c = Conn::tcp(srv.addr).await;

    let r = c
        .rpc(json!({"jsonrpc":"2.0","id":1,"method":"tools/list"}))
        .await;
    let names: Vec<_> = r.json()["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        names,
        ["get_plugin_configs", "get_plugin_config", "invoke_hook"]
    );

    // Unknown tool: isError true, FastMCP's words.
    let r = c
        .rpc(json!({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"no_such_tool","arguments":{}}}))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let v = r.json();
    assert_eq!(v["result"]["isError"], true);
    assert_eq!(
        v["result"]["content"][0]["text"],
        "Unknown tool: no_such_tool"
    );

    // Missing argument.
    let r = c
        .rpc(json!({"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"invoke_hook","arguments":{
            "hook_type":"tool_pre_invoke","plugin_name":"Echo","payload":{"name":"x"}}}}))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let v = r.json();
    assert_eq!(v["result"]["isError"], true);
    assert!(v["result"]["content"][0]["text"]
        .as_str()
        .unwrap()
        .contains("context\n  Field required"));

    // Ill-typed params.
    let r = c
        .rpc(json!({"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"arguments":{}}}))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["result"]["isError"], true);

    // Unknown plugin: the Python error shape inside a normal result.
    let r = c
        .rpc(invoke(
            5,
            "NoSuchPlugin",
            "tool_pre_invoke",
            json!({"name": "x"}),
        ))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let a = r.hook_answer();
    assert_eq!(a["plugin_name"], "NoSuchPlugin");
    assert_eq!(a["error"]["mcp_error_code"], -32603);
    assert!(a.get("result").is_none());

    // A panicking plugin: an error answer, and the same connection keeps serving.
    let r = c
        .rpc(invoke(6, "Panic", "tool_pre_invoke", json!({"name": "x"})))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let a = r.hook_answer();
    assert!(
        a["error"]["message"]
            .as_str()
            .unwrap()
            .contains("boom from a plugin"),
        "{a}"
    );
    let r = c
        .rpc(invoke(7, "Echo", "tool_pre_invoke", json!({"name": "y"})))
        .await;
    assert_eq!(r.hook_answer()["result"]["modified_payload"]["name"], "y");

    // get_plugin_config: case-insensitive, {} when unknown; get_plugin_configs structured.
    let r = c
        .rpc(json!({"jsonrpc":"2.0","id":8,"method":"tools/call","params":{"name":"get_plugin_config","arguments":{"name":"eCHO"}}}))
        .await;
    let text = r.json()["result"]["content"][0]["text"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&text).unwrap()["name"],
        "Echo"
    );
    let r = c
        .rpc(json!({"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"get_plugin_config","arguments":{"name":"nope"}}}))
        .await;
    assert_eq!(r.json()["result"]["content"][0]["text"], "{}");
    let r = c
        .rpc(json!({"jsonrpc":"2.0","id":10,"method":"tools/call","params":{"name":"get_plugin_configs","arguments":{}}}))
        .await;
    let v = r.json();
    assert_eq!(v["result"]["content"].as_array().unwrap().len(), 2);
    assert_eq!(
        v["result"]["structuredContent"]["result"][1]["name"],
        "Panic"
    );

    // Unknown method: JSON-RPC error, still HTTP 200; ping answers {}.
    let r = c
        .rpc(json!({"jsonrpc":"2.0","id":"s","method":"sampling/createMessage"}))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["error"]["code"], -32601);
    assert_eq!(r.json()["id"], "s");
    let r = c
        .rpc(json!({"jsonrpc":"2.0","id":11,"method":"ping"}))
        .await;
    assert_eq!(r.json()["result"], json!({}));
    srv.shutdown().await;
}

#[tokio::test]
async fn bodies_that_are_not_json_rpc_get_400_and_the_server_keeps_serving() {
    let srv = start_plain(app(
        Arc::new(FakeBackend),
        64 * 1024,
        HostPolicy::new(true, &[]),
    ))
    .await;
    let deep = "[".repeat(50_000);
    let deep_obj = format!("{}1{}", "{\"a\":".repeat(5_000), "}".repeat(5_000));
    let cases: Vec<(Vec<u8>, i64)> = vec![
        (
            br#"{"jsonrpc":"2.0","id":1,"method":"tools/li"#.to_vec(),
            -32700,
        ),
        (b"\xff\xfe\xfd{\"jsonrpc\":\"2.0\"}".to_vec(), -32700),
        (deep.into_bytes(), -32700),
        (deep_obj.into_bytes(), -32700),
        (b"".to_vec(), -32700),
        (b"null".to_vec(), -32600),
        (
            br#"[{"jsonrpc":"2.0","id":1,"method":"ping"}]"#.to_vec(),
            -32600,
        ),
        (br#"{"hello":"world"}"#.to_vec(), -32600),
        (
            br#"{"jsonrpc":"2.0","id":true,"method":"ping"}"#.to_vec(),
            -32600,
        ),
    ];
    let mut c = Conn::tcp(srv.addr).await;
    for (body, code) in cases {
        let shown = String::from_utf8_lossy(&body[..body.len().min(40)]).to_string();
        let r = c.post(body).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{shown}");
        assert_eq!(r.json()["error"]["code"], code, "{shown}");
        // Same connection, next request fine.
        let r = c.rpc(json!({"jsonrpc":"2.0","id":1,"method":"ping"})).await;
        assert_eq!(r.status, StatusCode::OK);
    }
    // Over the limit: 413, declared by Content-Length.
    let mut c = Conn::tcp(srv.addr).await;
    let r = c.post(vec![b' '; 64 * 1024 + 1]).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(r.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("PLUGINS_SERVER_MAX_BODY_BYTES"));
    // Exactly at the limit is fine (whitespace around a valid message).
    let mut c = Conn::tcp(srv.addr).await;
    let mut body = br#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#.to_vec();
    body.resize(64 * 1024, b' ');
    assert_eq!(c.post(body).await.status, StatusCode::OK);
    // A fresh connection still serves.
    let mut c = Conn::tcp(srv.addr).await;
    let r = c
        .rpc(invoke(1, "Echo", "tool_pre_invoke", json!({"name": "z"})))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    srv.shutdown().await;
}

#[tokio::test]
async fn huge_body_over_default_limit_is_413() {
    let srv = start_plain(loopback_app()).await;
    let mut c = Conn::tcp(srv.addr).await;
    let r = c.post(vec![b'x'; DEFAULT_MAX_BODY_BYTES + 1]).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    let mut c = Conn::tcp(srv.addr).await;
    let r = c.rpc(json!({"jsonrpc":"2.0","id":1,"method":"ping"})).await;
    assert_eq!(r.status, StatusCode::OK);
    srv.shutdown().await;
}

#[tokio::test]
async fn host_and_origin_policy() {
    let srv = start_plain(loopback_app()).await;
    let ping = serde_json::to_vec(&json!({"jsonrpc":"2.0","id":1,"method":"ping"})).unwrap();
    for (host, status) in [
        ("localhost:8000", StatusCode::OK),
        ("127.0.0.1", StatusCode::OK),
        ("[::1]:9", StatusCode::OK),
        ("plugin-server:18100", StatusCode::MISDIRECTED_REQUEST),
        ("evil.example", StatusCode::MISDIRECTED_REQUEST),
    ] {
        let tcp = tokio::net::TcpStream::connect(srv.addr).await.unwrap();
        let mut c = Conn::over(tcp, host).await;
        let r = c.post(ping.clone()).await;
        assert_eq!(r.status, status, "{host}");
        if status == StatusCode::MISDIRECTED_REQUEST {
            assert_eq!(&r.body[..], b"Invalid Host header");
            // /health is not behind the Host check (probes use any name).
            let r = c.send(Method::GET, "/health", &[], "").await.unwrap();
            assert_eq!(r.status, StatusCode::OK);
        }
    }
    let mut c = Conn::tcp(srv.addr).await;
    let r = c
        .send(
            Method::POST,
            "/mcp",
            &[("origin", "https://evil.example")],
            ping.clone(),
        )
        .await
        .unwrap();
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    srv.shutdown().await;

    // Non-loopback bind policy: any Host; with a list: only the list.
    let srv = start_plain(app(
        Arc::new(FakeBackend),
        1 << 20,
        HostPolicy::new(false, &[]),
    ))
    .await;
    let tcp = tokio::net::TcpStream::connect(srv.addr).await.unwrap();
    let mut c = Conn::over(tcp, "mcp-plugin-a.plugins.svc:8000").await;
    assert_eq!(c.post(ping.clone()).await.status, StatusCode::OK);
    srv.shutdown().await;
    let srv = start_plain(app(
        Arc::new(FakeBackend),
        1 << 20,
        HostPolicy::new(false, &["plugin-a.svc".to_string()]),
    ))
    .await;
    let tcp = tokio::net::TcpStream::connect(srv.addr).await.unwrap();
    let mut c = Conn::over(tcp, "other.svc:8000").await;
    assert_eq!(
        c.post(ping.clone()).await.status,
        StatusCode::MISDIRECTED_REQUEST
    );
    let tcp = tokio::net::TcpStream::connect(srv.addr).await.unwrap();
    let mut c = Conn::over(tcp, "plugin-a.svc:8000").await;
    assert_eq!(c.post(ping).await.status, StatusCode::OK);
    srv.shutdown().await;
}

#[tokio::test]
async fn unsupported_protocol_version_header_is_400() {
    let srv = start_plain(loopback_app()).await;
    let mut c = Conn::tcp(srv.addr).await;
    let r = c
        .send(
            Method::POST,
            "/mcp",
            &[("mcp-protocol-version", "1999-01-01")],
            r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#,
        )
        .await
        .unwrap();
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("1999-01-01"));
    srv.shutdown().await;
}

#[tokio::test]
async fn restart_on_same_port_keeps_a_client_working() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let srv = start_on(listener, loopback_app()).await;
    let mut c = Conn::tcp(addr).await;
    let r = c
        .rpc(invoke(1, "Echo", "tool_pre_invoke", json!({"name": "a"})))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    srv.shutdown().await;

    // The old connection is gone; a new process on the same port serves the next call with
    // no initialize and no session.
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    let srv = start_on(listener, loopback_app()).await;
    let mut c = Conn::tcp(addr).await;
    let r = c
        .rpc(invoke(2, "Echo", "tool_pre_invoke", json!({"name": "b"})))
        .await;
    assert_eq!(r.hook_answer()["result"]["modified_payload"]["name"], "b");
    srv.shutdown().await;
}

#[tokio::test]
async fn shutdown_drains_in_flight_calls() {
    let srv = start_plain(loopback_app()).await;
    let mut c = Conn::tcp(srv.addr).await;
    let call = tokio::spawn(async move {
        c.rpc(invoke(1, "Slow", "tool_pre_invoke", json!({"name": "s"})))
            .await
    });
    // Let the request reach the plugin, then ask the server to stop.
    tokio::time::sleep(Duration::from_millis(100)).await;
    srv.shutdown().await;
    let r = call.await.unwrap();
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.hook_answer()["plugin_name"], "Slow");
}
