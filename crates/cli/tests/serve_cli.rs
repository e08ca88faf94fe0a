//! `plugwire serve` as a process: Unix socket serving with SIGTERM drain, stdio with a clean
//! stdout, and the start-up errors that must name the setting to fix.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

mod common;

use common::*;

const PLUGINS: &str = concat!(
    r#"
plugins:
  - name: ReplaceBadWordsPlugin
    kind: plugins.regex_filter.search_replace.SearchReplacePlugin
    hooks: ["prompt_pre_fetch", "tool_pre_invoke", "tool_post_invoke"]
    config:
      words:
        - search: crap
          replace: crud
"#,
    common::deny_entry!()
);

fn write_config(dir: &Path, extra: &str) -> PathBuf {
    let path = dir.join("plugins.yaml");
    std::fs::write(&path, format!("{PLUGINS}{extra}")).unwrap();
    path
}

#[test]
fn serves_a_unix_socket_and_exits_0_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("p.sock");
    let cfg = write_config(dir.path(), "");
    let child = serve_cmd()
        .arg("--config")
        .arg(&cfg)
        .env("PLUGINS_SERVER_UDS", &sock)
        .stderr(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut child = KillOnDrop::new(child);
    wait_for_socket(&sock, &mut child);

    let (status, body) = uds_request(&sock, "GET", "/health", "").unwrap();
    assert!(status.contains("200"), "{status}");
    assert_eq!(body, r#"{"status":"healthy"}"#);

    let call = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"invoke_hook","arguments":{"hook_type":"tool_pre_invoke","plugin_name":"ReplaceBadWordsPlugin","payload":{"name":"t","args":{"a":"crap"}},"context":{"global_context":{"request_id":"r1"}}}}}"#;
    let (status, body) = uds_request(&sock, "POST", "/mcp", call).unwrap();
    assert!(status.contains("200"), "{status}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let answer: serde_json::Value =
        serde_json::from_str(v["result"]["content"][0]["text"].as_str().unwrap()).unwrap();
    assert_eq!(answer["result"]["modified_payload"]["args"]["a"], "crud");

    signal(&child, "-TERM");
    let out = child.into_inner().wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{:?}: {err}", out.status);
    assert!(err.contains("serving MCP at http+unix://"), "{err}");
    assert!(
        err.contains("ReplaceBadWordsPlugin, DenyListPlugin"),
        "{err}"
    );
    assert!(out.stdout.is_empty(), "HTTP mode writes nothing to stdout");
    assert!(!sock.exists(), "the socket file is removed on shutdown");
}

#[test]
fn stdio_mode_keeps_stdout_for_json_rpc_only() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), "");
    let mut child = serve_cmd()
        .arg("--stdio")
        .env("PLUGINS_CONFIG_PATH", &cfg)
        .env("LOG_LEVEL", "DEBUG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        let mut stdin = child.stdin.take().unwrap();
        writeln!(stdin, r#"{{"jsonrpc":"2.0","id":0,"method":"initialize","params":{{"protocolVersion":"2025-11-25","capabilities":{{}},"clientInfo":{{"name":"t","version":"0"}}}}}}"#).unwrap();
        writeln!(
            stdin,
            r#"{{"jsonrpc":"2.0","method":"notifications/initialized"}}"#
        )
        .unwrap();
        writeln!(stdin, r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"invoke_hook","arguments":{{"hook_type":"prompt_pre_fetch","plugin_name":"DenyListPlugin","payload":{{"prompt_id":"p","args":{{"u":"so innovative"}}}},"context":{{"global_context":{{"request_id":"r"}}}}}}}}}}"#).unwrap();
        writeln!(stdin, r#"{{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{{"name":"get_plugin_config","arguments":{{"name":"denylistplugin"}}}}}}"#).unwrap();
        // Dropping stdin is EOF: the server answers what it has and exits.
    }
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("stdio"), "logs go to stderr: {err}");
    let mut ids = Vec::new();
    for line in BufReader::new(&out.stdout[..]).lines() {
        let line = line.unwrap();
        let v: serde_json::Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("stdout line is not JSON ({e}): {line}"));
        assert_eq!(v["jsonrpc"], "2.0");
        ids.push(v["id"].as_i64().unwrap());
        if v["id"] == 1 {
            let text = v["result"]["content"][0]["text"].as_str().unwrap();
            assert!(text.contains("\"continue_processing\": false"), "{text}");
        }
    }
    ids.sort();
    assert_eq!(ids, [0, 1, 2]);
}

fn fails(mut cmd: Command) -> String {
    let Output {
        status,
        stdout,
        stderr,
    } = cmd.output().unwrap();
    let err = String::from_utf8_lossy(&stderr).into_owned();
    assert_eq!(status.code(), Some(1), "expected exit 1: {err}");
    assert!(stdout.is_empty());
    err
}

#[test]
fn start_up_errors_name_the_setting() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), "");

    // Port in use.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let mut c = serve_cmd();
    c.arg("--config")
        .arg(&cfg)
        .env("PLUGINS_SERVER_PORT", &port);
    let err = fails(c);
    assert!(
        err.contains("already in use") && err.contains("PLUGINS_SERVER_PORT"),
        "{err}"
    );

    // TLS on without a certificate.
    let mut c = serve_cmd();
    c.arg("--config")
        .arg(&cfg)
        .env("PLUGINS_SERVER_SSL_ENABLED", "true");
    let err = fails(c);
    assert!(err.contains("PLUGINS_SERVER_SSL_CERTFILE"), "{err}");

    // UDS together with TLS (from the YAML).
    let tls_cfg = dir.path().join("tls.yaml");
    std::fs::write(
        &tls_cfg,
        format!(
            "{PLUGINS}server_settings:\n  uds: {}\n  tls:\n    certfile: {}\n    keyfile: {}\n    ssl_cert_reqs: 0\n",
            dir.path().join("x.sock").display(),
            cfg.display(),
            cfg.display()
        ),
    )
    .unwrap();
    let mut c = serve_cmd();
    c.arg("--config").arg(&tls_cfg);
    let err = fails(c);
    assert!(err.contains("Unix"), "{err}");

    // A bad port value.
    let mut c = serve_cmd();
    c.arg("--config")
        .arg(&cfg)
        .env("PLUGINS_SERVER_PORT", "70000");
    let err = fails(c);
    assert!(
        err.contains("PLUGINS_SERVER_PORT") && err.contains("70000"),
        "{err}"
    );

    // A missing config file.
    let mut c = serve_cmd();
    c.arg("--config").arg(dir.path().join("nope.yaml"));
    let err = fails(c);
    assert!(err.contains("nope.yaml"), "{err}");

    // A bad body limit.
    let mut c = serve_cmd();
    c.arg("--config")
        .arg(&cfg)
        .env("PLUGINS_SERVER_MAX_BODY_BYTES", "lots");
    let err = fails(c);
    assert!(err.contains("PLUGINS_SERVER_MAX_BODY_BYTES"), "{err}");
    drop(taken);
}

#[test]
fn unknown_transports_and_bad_grpc_tls_stop_start_up_with_a_named_error() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "");
    type Row<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a [&'a str]);
    let rows: [Row; 3] = [
        (
            &[],
            &[("PLUGINS_TRANSPORT", "grcp")],
            &["PLUGINS_TRANSPORT", "\"grcp\"", "http, stdio, grpc or unix"],
        ),
        (
            &["--transport", "http,sse"],
            &[],
            &["--transport", "\"sse\""],
        ),
        (
            &[],
            &[
                ("PLUGINS_TRANSPORT", "grpc"),
                ("PLUGINS_GRPC_SERVER_SSL_ENABLED", "true"),
                (
                    "PLUGINS_GRPC_SERVER_SSL_CERTFILE",
                    "/nonexistent/server.pem",
                ),
                ("PLUGINS_GRPC_SERVER_SSL_KEYFILE", "/nonexistent/server.key"),
            ],
            &[
                "PLUGINS_GRPC_SERVER_SSL_CERTFILE",
                "/nonexistent/server.pem",
            ],
        ),
    ];
    for (args, envs, wants) in rows {
        let out = serve_cmd()
            .arg("--config")
            .arg(&config)
            .args(args)
            .envs(envs.iter().copied())
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?} {envs:?}: {err}");
        for w in wants {
            assert!(err.contains(w), "{args:?} {envs:?}: missing {w}: {err}");
        }
    }
}
