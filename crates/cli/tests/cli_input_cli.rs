//! Edges of `plugwire call` and `plugwire health` input and output that need no plugin server
//! (built-in plugins only): a float-seconds option outside its range, and a stdout or stderr
//! whose reader is gone (`plugwire … | head -1`, `2>&1 | true`) or that cannot be written.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

mod common;

use common::*;

/// A tool call the deny-list of [`DENY_YAML`] lets through (`plugwire call` exits 0).
const ALLOWED: &str = r#"{"name":"search","args":{"q":"hello"}}"#;
/// A tool call the deny-list of [`DENY_YAML`] blocks (`plugwire call` exits 3, logs a warning).
const BLOCKED: &str = r#"{"name":"search","args":{"q":"innovative"}}"#;

/// [`DENY_YAML`] written to `DIR/plugins.yaml`.
fn deny_config(dir: &Path) -> PathBuf {
    let path = dir.join("plugins.yaml");
    std::fs::write(&path, DENY_YAML).unwrap();
    path
}

/// `plugwire ARGS` with an empty environment (no `PLUGINS_*`, `RUST_LOG` from the developer's
/// shell) and the given streams, waited for with a bound.
fn run(args: &[&str], stdout: Stdio, stderr: Stdio) -> Output {
    let child = Command::new(BIN)
        .env_clear()
        .args(args)
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr)
        .spawn()
        .unwrap();
    wait_bounded(child)
}

/// The write end of a pipe whose read end is already closed: the child's first write to it
/// fails with EPIPE, whatever the timing (the reader is gone before the child starts).
fn reader_gone() -> Stdio {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    Stdio::from(writer)
}

/// `call --config CFG --hook tool_pre_invoke --payload PAYLOAD EXTRA...`.
fn call_args<'a>(cfg: &'a str, payload: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "call",
        "--config",
        cfg,
        "--hook",
        "tool_pre_invoke",
        "--payload",
        payload,
    ];
    args.extend_from_slice(extra);
    args
}

fn stderr_of(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Exited with `code` and did not panic (stderr shown otherwise).
fn assert_exit(out: &Output, code: i32) {
    let err = stderr_of(out);
    assert_eq!(out.status.code(), Some(code), "stderr: {err}");
    assert!(!err.contains("panicked"), "stderr: {err}");
}

/// `--timeout` of `call` and of both forms of `health` refuses every value outside (0, 86400]
/// (too large for a `Duration`, zero, NaN, infinite, negative, above a day, rounding to 0 ns)
/// as a usage error naming the option and the range, before any connect: 1e300 used to panic
/// in `Duration::from_secs_f64` (exit 101), and the URL form would otherwise exit 1 for the
/// closed port.
#[test]
fn timeout_outside_its_range_is_a_usage_error_naming_the_option() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = deny_config(dir.path());
    let cfg = cfg.to_str().unwrap();
    let closed_port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let url = format!("http://127.0.0.1:{closed_port}");
    for value in ["1e300", "0", "NaN", "inf", "-1", "86400.5", "1e-300"] {
        let timeout = format!("--timeout={value}");
        let commands: [Vec<&str>; 3] = [
            call_args(cfg, ALLOWED, &[&timeout]),
            vec!["health", &url, &timeout],
            vec!["health", "--config", cfg, &timeout],
        ];
        for args in commands {
            let out = run(&args, Stdio::piped(), Stdio::piped());
            assert_exit(&out, 2);
            let err = stderr_of(&out);
            assert!(
                err.contains("--timeout") && err.contains("above 0 and at most 86400"),
                "{args:?}: {err}"
            );
            assert!(out.stdout.is_empty(), "{args:?} printed a result");
        }
    }
}

/// The range's edges are accepted: a whole day, and a millisecond.
#[test]
fn timeout_at_the_edges_of_its_range_is_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = deny_config(dir.path());
    let cfg = cfg.to_str().unwrap();
    for value in ["86400", "0.001"] {
        let timeout = format!("--timeout={value}");
        let out = run(
            &call_args(cfg, ALLOWED, &[&timeout]),
            Stdio::piped(),
            Stdio::piped(),
        );
        assert_exit(&out, 0);
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["result"]["continue_processing"], true, "{v}");
        let out = run(
            &["health", "--config", cfg, &timeout],
            Stdio::piped(),
            Stdio::piped(),
        );
        assert_exit(&out, 0);
    }
}

/// A stdout whose reader is gone ends the output quietly: the command still exits with its own
/// verdict (call 0 allowed, 3 blocked; health --config 0 all loaded), no panic (exit 101) and
/// no message. `health --config` used `println!`, which panicked with "failed printing to
/// stdout: Broken pipe".
#[test]
fn closed_stdout_ends_the_output_with_the_commands_own_exit_code() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = deny_config(dir.path());
    let cfg = cfg.to_str().unwrap();
    let cases: [(Vec<&str>, i32); 3] = [
        (call_args(cfg, ALLOWED, &[]), 0),
        (call_args(cfg, BLOCKED, &[]), 3),
        (vec!["health", "--config", cfg], 0),
    ];
    for (args, code) in cases {
        let out = run(&args, reader_gone(), Stdio::piped());
        assert_exit(&out, code);
        assert!(
            !stderr_of(&out).contains("cannot write to stdout"),
            "{args:?}: {}",
            stderr_of(&out)
        );
    }
}

/// A stdout that cannot take the output for another reason (`> /dev/full`) is named on
/// stderr, and a command that would have succeeded exits 1 (its result was lost); a blocked
/// call keeps its 3.
#[cfg(target_os = "linux")]
#[test]
fn stdout_write_error_is_reported_and_fails_a_success() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = deny_config(dir.path());
    let cfg = cfg.to_str().unwrap();
    let full = || Stdio::from(std::fs::File::create("/dev/full").unwrap());
    let cases: [(Vec<&str>, i32); 3] = [
        (call_args(cfg, ALLOWED, &[]), 1),
        (call_args(cfg, BLOCKED, &[]), 3),
        (vec!["health", "--config", cfg], 1),
    ];
    for (args, code) in cases {
        let out = run(&args, full(), Stdio::piped());
        assert_exit(&out, code);
        let err = stderr_of(&out);
        assert!(err.contains("cannot write to stdout"), "{args:?}: {err}");
    }
}

/// A stderr whose reader is gone (`2>&1 | true` after stdout was read, a closed log pipe) is
/// not a panic: a usage message (exit 2) and the blocked call's warning logs are dropped, the
/// exit code and the stdout result stay. Both used to panic ("failed printing to stderr"; the
/// logger reported its own failed write with `eprintln!`).
#[test]
fn closed_stderr_is_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = deny_config(dir.path());
    let cfg = cfg.to_str().unwrap();
    let out = run(
        &call_args(cfg, ALLOWED, &["--timeout=0"]),
        Stdio::piped(),
        reader_gone(),
    );
    assert_eq!(out.status.code(), Some(2));
    let out = run(&call_args(cfg, BLOCKED, &[]), Stdio::piped(), reader_gone());
    assert_eq!(out.status.code(), Some(3));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["result"]["continue_processing"], false, "{v}");
    assert_eq!(v["violation_plugin"], "DenyListPlugin", "{v}");
}
