//! `plugwire serve` stopping and reporting as a process: stdio mode stops on SIGTERM/SIGINT
//! while the gateway still holds stdin open, and settings that used to silence the server
//! (`LOG_LEVEL` typos, `ENABLE_METRICS` spellings other than `true`/`false`) are reported.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::Stdio;
use std::sync::mpsc;

mod common;

use common::*;

/// `DIR/plugins.yaml` holding [`DENY_YAML`].
fn write_config(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("plugins.yaml");
    std::fs::write(&path, DENY_YAML).unwrap();
    path
}

const INITIALIZE: &str = r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"0"}}}"#;
const DENIED_CALL: &str = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"invoke_hook","arguments":{"hook_type":"prompt_pre_fetch","plugin_name":"DenyListPlugin","payload":{"prompt_id":"p","args":{"u":"so innovative"}},"context":{"global_context":{"request_id":"r"}}}}}"#;

/// `plugwire serve --stdio` with stdin held open: two calls answered, then `sig`; the process
/// must exit 0 by itself (the stdin pipe still open), log the drain and `stopped`, and have
/// written only JSON-RPC lines on stdout. Before the fix it waited for stdin's EOF for ever
/// (the runtime waited for its blocking stdin read), and `wait_bounded` fails on that hang.
fn stdio_stops_on_signal_with_stdin_open(sig: &str, name: &str) {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path());
    let child = serve_cmd()
        .arg("--stdio")
        .arg("--config")
        .arg(&cfg)
        .env("PLUGINS_SERVER_DRAIN_TIMEOUT", "2")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut child = KillOnDrop::new(child);
    // Held until the process has exited: the gateway never closes the pipe.
    let mut stdin = child.stdin.take().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, lines) = mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    writeln!(stdin, "{INITIALIZE}").unwrap();
    writeln!(stdin, "{DENIED_CALL}").unwrap();
    stdin.flush().unwrap();
    let mut answers: Vec<serde_json::Value> = (0..2)
        .map(|_| {
            let line = lines.recv_timeout(NO_HANG).expect("an answer on stdout");
            serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("stdout line is not JSON ({e}): {line}"))
        })
        .collect();
    answers.sort_by_key(|v| v["id"].as_i64());
    assert_eq!(answers[0]["id"], 0, "{answers:?}");
    assert!(
        answers[0]["result"]["serverInfo"].is_object(),
        "{answers:?}"
    );
    let text = answers[1]["result"]["content"][0]["text"].as_str().unwrap();
    assert!(text.contains("\"continue_processing\": false"), "{text}");

    signal(&child, sig);
    let out = wait_bounded(child);
    drop(stdin);
    reader.join().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{:?}: {err}", out.status);
    assert!(
        err.contains(&format!("{name}: draining in-flight requests")),
        "{err}"
    );
    assert!(err.contains("stopped"), "the stopped line is logged: {err}");
    // Nothing else reached stdout after the two answers.
    let extra: Vec<String> = lines.try_iter().collect();
    assert!(extra.is_empty(), "unexpected stdout lines: {extra:?}");
}

/// SIGTERM (Kubernetes' stop) ends stdio mode although the gateway keeps stdin open.
#[test]
fn stdio_exits_0_on_sigterm_while_stdin_stays_open() {
    stdio_stops_on_signal_with_stdin_open("-TERM", "SIGTERM");
}

/// SIGINT (a terminal's Ctrl-C) does the same.
#[test]
fn stdio_exits_0_on_sigint_while_stdin_stays_open() {
    stdio_stops_on_signal_with_stdin_open("-INT", "SIGINT");
}

/// `plugwire serve --stdio` with stdin at EOF and `extra` environment: (exit success, stderr).
fn stdio_run(extra: &[(&str, &str)]) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path());
    let child = serve_cmd()
        .arg("--stdio")
        .arg("--config")
        .arg(&cfg)
        .envs(extra.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = wait_bounded(child);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// An unknown LOG_LEVEL is reported naming the variable, the value and the accepted names,
/// and logging goes on at INFO (the start-up line is there), as an unknown LOG_FORMAT does.
/// Before, `verbose` parsed as a filter for a module named so and every line was dropped.
#[test]
fn unknown_log_level_is_reported_and_info_is_used() {
    for bad in ["verbose", "inof"] {
        let (ok, err) = stdio_run(&[("LOG_LEVEL", bad)]);
        assert!(ok, "{err}");
        assert!(err.contains(&format!("LOG_LEVEL=\"{bad}\"")), "{err}");
        assert!(err.contains("WARNING") && err.contains("CRITICAL"), "{err}");
        assert!(
            err.contains("serving MCP on stdin/stdout"),
            "INFO lines still logged: {err}"
        );
    }
    // A ContextForge name in any case is taken, silently: WARNING drops the INFO lines.
    let (ok, err) = stdio_run(&[("LOG_LEVEL", "warning")]);
    assert!(ok, "{err}");
    assert!(!err.contains("LOG_LEVEL"), "{err}");
    assert!(!err.contains("serving MCP"), "WARNING hides INFO: {err}");
}

/// ENABLE_METRICS=yes keeps ContextForge's meaning (off: the scrape answers 503) but says so
/// at start-up with a WARN naming the variable and the value; `false` is quiet.
#[test]
fn enable_metrics_other_than_true_or_false_is_warned_about() {
    let dir = tempfile::tempdir().unwrap();
    let (child, sock) = serve_yaml_in(dir.path(), DENY_YAML, &[("ENABLE_METRICS", "yes")]);
    let (status, body) = uds_request(&sock, "GET", "/metrics/prometheus", "").unwrap();
    assert!(status.contains("503"), "{status}");
    assert!(body.contains("Metrics collection is disabled"), "{body}");
    signal(&child, "-TERM");
    let out = wait_bounded(child);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    let warn = err
        .lines()
        .find(|l| l.contains("ENABLE_METRICS=\"yes\""))
        .unwrap_or_else(|| panic!("no line names ENABLE_METRICS=\"yes\": {err}"));
    assert!(warn.contains("WARN"), "{warn}");
    assert!(warn.contains("metrics are off"), "{warn}");

    let (ok, err) = stdio_run(&[("ENABLE_METRICS", "false")]);
    assert!(ok, "{err}");
    assert!(!err.contains("ENABLE_METRICS"), "false is a setting: {err}");
}
