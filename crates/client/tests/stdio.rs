//! `proto: STDIO`: a child process speaking newline-delimited JSON-RPC. The child here is a small
//! Python script written by the test (python3 is on every machine that runs the interop tests);
//! `plugwire serve --stdio` is exercised by the CLI tests. Covers `script` and `cmd`/`env`/`cwd`,
//! stderr pass-through, logs on stdout being ignored, and restart after the child dies.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;

use common::*;
use plugwire_client::{ClientOptions, ConnectionStats, ExternalPlugin};
use plugwire_framework::Plugin;
use serde_json::json;

const SERVER_PY: &str = r#"
import json, os, sys
tag = os.environ.get("STDIO_TAG", "none")
cwd = os.path.basename(os.getcwd())
sys.stderr.write("fake stdio plugin server starting\n")
print("this log line on stdout is not JSON-RPC", flush=True)
for line in sys.stdin:
    msg = json.loads(line)
    if "id" not in msg:
        continue
    mid, method = msg["id"], msg.get("method")
    if method == "initialize":
        res = {"protocolVersion": "2025-06-18", "capabilities": {"tools": {}}, "serverInfo": {"name": "py", "version": "0"}}
    elif method == "tools/list":
        res = {"tools": [{"name": n, "inputSchema": {"type": "object"}} for n in ("get_plugin_configs", "get_plugin_config", "invoke_hook")]}
    elif msg["params"]["name"] == "get_plugin_config":
        cfg = {"name": "Scrubber", "kind": "py.Scrubber", "hooks": ["tool_pre_invoke"], "mode": "enforce", "priority": 7}
        res = {"content": [{"type": "text", "text": json.dumps(cfg)}], "isError": False}
    else:
        payload = msg["params"]["arguments"]["payload"]
        if payload["args"].get("q") == "crash":
            sys.exit(3)
        payload["args"]["q"] = payload["args"]["q"].replace("crap", "crud") + "|" + tag + "|" + cwd
        out = {"plugin_name": "Scrubber", "result": {"continue_processing": True, "modified_payload": payload,
               "violation": None, "metadata": {}}, "context": {"state": {"pid": os.getpid()}, "metadata": {},
               "global_context": {"request_id": "x", "state": {}, "metadata": {}}}}
        res = {"content": [{"type": "text", "text": json.dumps(out)}], "isError": False}
    sys.stdout.write(json.dumps({"jsonrpc": "2.0", "id": mid, "result": res}) + "\n")
    sys.stdout.flush()
"#;

fn write_server(dir: &Path) -> String {
    let path = dir.join("server.py");
    std::fs::write(&path, SERVER_PY).unwrap();
    path.display().to_string()
}

fn options(stats: &std::sync::Arc<ConnectionStats>) -> ClientOptions {
    ClientOptions {
        stats: stats.clone(),
        env: env(&[]),
        ..ClientOptions::default()
    }
}

#[tokio::test]
async fn script_transport_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let script = write_server(dir.path());
    let stats = ConnectionStats::new();
    let plugin = ExternalPlugin::new(
        entry(json!({"proto": "STDIO", "script": script})),
        &options(&stats),
    )
    .unwrap();
    plugin.initialize().await.unwrap();
    assert_eq!(plugin.config().priority, 7);
    let mut c = ctx("r1");
    for _ in 0..5 {
        let r = plugin.invoke(tool_payload("crap"), &mut c).await.unwrap();
        let q = r.modified_payload.unwrap().to_json()["args"]["q"].clone();
        assert!(q.as_str().unwrap().starts_with("crud|none|"), "{q}");
    }
    assert!(c.state["pid"].as_i64().unwrap() > 0);
    assert_eq!(stats.connections_opened(), 1, "one child for every call");
    plugin.shutdown().await;
}

#[tokio::test]
async fn cmd_env_cwd_and_restart_after_the_child_dies() {
    let dir = tempfile::tempdir().unwrap();
    let script = write_server(dir.path());
    let work = dir.path().join("workdir");
    std::fs::create_dir(&work).unwrap();
    let stats = ConnectionStats::new();
    let cfg = entry(json!({"proto": "STDIO", "cmd": ["python3", script],
        "env": {"STDIO_TAG": "tagged"}, "cwd": work.display().to_string()}));
    let plugin = ExternalPlugin::new(cfg, &options(&stats)).unwrap();
    plugin.initialize().await.unwrap();
    let mut c = ctx("r1");
    let r = plugin.invoke(tool_payload("crap"), &mut c).await.unwrap();
    assert_eq!(
        r.modified_payload.unwrap().to_json()["args"]["q"],
        "crud|tagged|workdir"
    );
    let first_pid = c.state["pid"].clone();

    // The child exits while answering: the call is retried on a fresh child, which exits too,
    // so the caller gets a typed error; the next normal call works on a third child.
    let err = plugin
        .invoke(tool_payload("crash"), &mut ctx("r2"))
        .await
        .unwrap_err();
    assert_eq!(
        err.model.code.as_deref(),
        Some("CONNECTION_LOST"),
        "{}",
        err.message()
    );
    let mut c2 = ctx("r3");
    let r = plugin.invoke(tool_payload("crap"), &mut c2).await.unwrap();
    assert!(r.continue_processing);
    assert_ne!(c2.state["pid"], first_pid);
    assert_eq!(stats.connections_opened(), 3);
    plugin.shutdown().await;
}

#[tokio::test]
async fn stdio_entries_reject_http_keys_and_missing_commands() {
    let e = ExternalPlugin::new(
        entry(json!({"proto": "STDIO", "script": "x.py", "url": "http://localhost/mcp"})),
        &ClientOptions::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("mcp.url"), "{e}");
    let e = ExternalPlugin::new(entry(json!({"proto": "STDIO"})), &ClientOptions::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("mcp.script") && e.contains("mcp.cmd"), "{e}");
    let e = ExternalPlugin::new(
        entry(json!({"proto": "SSE", "url": "http://x/sse"})),
        &ClientOptions::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("SSE") && e.contains("STREAMABLEHTTP"), "{e}");
}

#[tokio::test]
async fn a_missing_program_is_a_typed_connect_error() {
    let plugin = ExternalPlugin::new(
        entry(json!({"proto": "STDIO", "cmd": ["/nonexistent/plugin-server"]})),
        &ClientOptions::default(),
    )
    .unwrap();
    let err = plugin.initialize().await.unwrap_err();
    assert_eq!(
        err.model.code.as_deref(),
        Some("CONNECT_ERROR"),
        "{}",
        err.message()
    );
    assert!(
        err.message().contains("/nonexistent/plugin-server"),
        "{}",
        err.message()
    );
}
