//! `plugwire serve --transport http,grpc,unix` as a user runs it: one process serving MCP (on a
//! Unix socket), gRPC with mTLS (127.0.0.1, port 0, the bound port read from the start-up line)
//! and the raw Unix socket; `plugwire call` through each gives the same JSON result, and counts
//! the connections it opens and the requests it sends over each the same way.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Output;

use serde_json::Value;

mod common;

use common::transports::{cmd, grpc_mtls_server_env, hook_call, make_certs, p, Server};
use common::REPLACE_YAML;

/// `plugwire serve --transport http,grpc,unix` serving `ReplaceBadWordsPlugin`: MCP on
/// `DIR/mcp.sock`, gRPC with mTLS on 127.0.0.1:0, the raw socket on `DIR/raw.sock`; the start-up
/// line names all three.
fn start_server(dir: &Path) -> Server {
    let mut env = grpc_mtls_server_env(dir);
    env.push(("PLUGINS_SERVER_UDS", p(dir, "mcp.sock")));
    env.push(("PLUGINS_UNIX_SOCKET_PATH", p(dir, "raw.sock")));
    let server = Server::start(dir, REPLACE_YAML, "http,grpc,unix", &env);
    let line = &server.line;
    for listener in [
        "gRPC at grpcs://",
        "MCP at http+unix://",
        "raw socket at unix://",
        "ALPN h2",
    ] {
        assert!(line.contains(listener), "{line}");
    }
    server
}

fn call(dir: &Path, gateway: &str) -> Output {
    call_with(dir, gateway, &[])
}

fn call_with(dir: &Path, gateway: &str, extra: &[&str]) -> Output {
    let payload = r#"{"name":"search","args":{"q":"what crap","n":3}}"#;
    hook_call(dir, gateway, payload)
        .arg("--compact")
        .args(extra)
        .output()
        .unwrap()
}

/// 12 calls at concurrency 4 through `gateway`, with the gateway-side metrics: the `stats` of
/// the JSON result, and the `plugwire_client_connections_opened_total` line for `transport`.
fn repeated(dir: &Path, gateway: &str, transport: &str) -> (Value, String) {
    let args = ["--repeat", "12", "--concurrency", "4", "--metrics"];
    let out = call_with(dir, gateway, &args);
    assert!(out.status.success(), "{out:?}");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let label = format!(
        "plugwire_client_connections_opened_total{{plugin=\"ReplaceBadWordsPlugin\",transport=\"{transport}\"}} "
    );
    let metrics = String::from_utf8_lossy(&out.stderr);
    let line = metrics.lines().find(|l| l.starts_with(&label));
    let line = line.unwrap_or_else(|| panic!("no {label} in:\n{metrics}"));
    (v["stats"].clone(), line.to_string())
}

/// `plugwire call` through entries given another transport's socket of the server: a
/// `unix_socket:` entry at the MCP socket, an `mcp:` entry at the raw socket, `grpc:` entries at
/// the raw and the MCP sockets.
fn crossed_entries(dir: &Path) -> [Output; 4] {
    let d = dir.display();
    let entry = "  - name: ReplaceBadWordsPlugin\n    kind: external\n";
    let mcp_at = |sock: &str| {
        format!("plugins:\n{entry}    mcp:\n      proto: STREAMABLEHTTP\n      url: http://localhost/mcp\n      uds: {d}/{sock}\n")
    };
    let grpc_at = |sock: &str| format!("plugins:\n{entry}    grpc:\n      uds: {d}/{sock}\n");
    let unix_at =
        |sock: &str| format!("plugins:\n{entry}    unix_socket:\n      path: {d}/{sock}\n");
    [
        call(dir, &unix_at("mcp.sock")),
        call(dir, &mcp_at("raw.sock")),
        call(dir, &grpc_at("raw.sock")),
        call(dir, &grpc_at("mcp.sock")),
    ]
}

/// Asserts that every one of `outs` failed with all of `words` on stderr.
fn failed_saying(outs: &[Output], words: &[&str]) {
    for out in outs {
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{out:?}");
        assert!(words.iter().all(|w| stderr.contains(w)), "{stderr}");
    }
}

/// The call's JSON without what differs per run or per transport by nature: the plugin id
/// (random per process), durations, and the client's MCP connection counters.
fn json(out: &Output) -> Value {
    assert!(out.status.success(), "{out:?}");
    let mut v: Value = serde_json::from_slice(&out.stdout).unwrap();
    v.as_object_mut().unwrap().remove("stats");
    for e in v["result"]["executions"].as_array_mut().unwrap() {
        let e = e.as_object_mut().unwrap();
        assert!(e.remove("plugin_id").is_some() && e.remove("duration_ns").is_some());
    }
    v
}

#[test]
fn one_process_serves_mcp_grpc_mtls_and_raw_socket_with_the_same_results() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    make_certs(dir);
    let server = start_server(dir);
    let port = server.grpcs_port();
    let d = dir.display();
    let entry = "  - name: ReplaceBadWordsPlugin\n    kind: external\n";
    let mcp_entry = format!(
        "plugins:\n{entry}    mcp:\n      proto: STREAMABLEHTTP\n      url: http://localhost/mcp\n      uds: {d}/mcp.sock\n"
    );
    let mcp = call(dir, &mcp_entry);
    let grpc_entry = format!(
        "plugins:\n{entry}    grpc:\n      target: localhost:{port}\n      tls:\n        certfile: {d}/out/gateway/client.crt\n        keyfile: {d}/out/gateway/client.key\n        ca_bundle: {d}/out/ca/ca.crt\n"
    );
    let grpc = call(dir, &grpc_entry);
    let raw_entry = format!("plugins:\n{entry}    unix_socket:\n      path: {d}/raw.sock\n");
    let raw = call(dir, &raw_entry);
    // An entry whose name the server does not serve: the message lists the names it does.
    let misnamed: Vec<Output> = [&mcp_entry, &grpc_entry, &raw_entry]
        .iter()
        .map(|e| call(dir, &e.replace("ReplaceBadWordsPlugin", "ReplaceBadWords")))
        .collect();
    let grpc_repeated = repeated(dir, &grpc_entry, "grpcs");
    let raw_repeated = repeated(dir, &raw_entry, "unix_socket");
    // Without a client certificate the mTLS port refuses the call, and the message says which
    // setting is missing. The server's alert may meet the client's first write (a broken pipe)
    // or its first read, whichever comes first in that run: several runs, the same message.
    let no_cert: Vec<Output> = (0..8)
        .map(|_| {
            call(
                dir,
                &format!(
                    "plugins:\n{entry}    grpc:\n      target: localhost:{port}\n      tls:\n        ca_bundle: {d}/out/ca/ca.crt\n"
                ),
            )
        })
        .collect();
    let crossed = crossed_entries(dir);
    let health = |args: &[String]| cmd(dir).arg("health").args(args).output().unwrap();
    let sock = |name: &str| dir.join(name).display().to_string();
    let health_mcp_at_raw = health(&[
        "--uds".into(),
        sock("raw.sock"),
        "http://localhost/mcp".into(),
    ]);
    let health_raw_at_mcp = health(&[format!("unix://{}", sock("mcp.sock"))]);
    let (status, log) = server.terminate();

    let mcp = json(&mcp);
    assert!(mcp.to_string().contains("what crud"), "{mcp}");
    assert_eq!(json(&grpc), mcp, "gRPC result differs from MCP");
    assert_eq!(json(&raw), mcp, "raw socket result differs from MCP");
    failed_saying(
        &misnamed,
        &[
            "no plugin named 'ReplaceBadWords'",
            "the server serves: ReplaceBadWordsPlugin;",
        ],
    );
    failed_saying(
        &no_cert,
        &[
            "requires a client certificate (mTLS)",
            "PLUGINS_GRPC_CLIENT_MTLS_CERTFILE",
        ],
    );
    // GetPluginConfig, then the 12 hook calls. gRPC multiplexes them on one connection; the raw
    // socket (one call in flight per connection) opens one per concurrent call at most.
    let (stats, line) = grpc_repeated;
    assert_eq!(stats["requests_sent"], 13, "gRPC: {stats}");
    assert_eq!(stats["connections_opened"], 1, "gRPC: {stats}");
    assert!(line.ends_with(" 1"), "{line}");
    let (stats, line) = raw_repeated;
    assert_eq!(stats["requests_sent"], 13, "raw socket: {stats}");
    let opened = stats["connections_opened"].as_u64().unwrap();
    assert!((1..=4).contains(&opened), "raw socket: {stats}");
    assert!(line.ends_with(&format!(" {opened}")), "{line}");
    let [unix_to_mcp, mcp_to_raw, grpc_to_raw, grpc_to_mcp] = crossed;
    failed_saying(
        &[unix_to_mcp],
        &["answered HTTP/1.1: this socket serves MCP", "`mcp:` entry"],
    );
    failed_saying(
        &[mcp_to_raw, health_mcp_at_raw],
        &["call it with a `unix_socket:` entry"],
    );
    failed_saying(&[health_raw_at_mcp], &["this socket serves MCP"]);
    failed_saying(
        &[grpc_to_raw, grpc_to_mcp],
        &["is this the server's gRPC socket", "`unix_socket:` entry"],
    );
    assert!(
        log.contains("raw socket connection closed: the client sent HTTP (\"POST\""),
        "{log}"
    );
    assert_eq!(status.code(), Some(0), "serve did not exit 0 on SIGTERM");
    assert!(!dir.join("raw.sock").exists(), "raw socket not removed");
}
