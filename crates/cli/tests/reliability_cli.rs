//! `plugwire serve` as a process under signals and hostile config files: SIGHUP never kills,
//! SIGINT drains like SIGTERM, an endless or oversized config and duplicate keys are refused
//! quickly with the file named. Time bounds only prove "does not hang".
#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

mod common;

use common::*;

fn health(sock: &Path) -> String {
    let mut s = UnixStream::connect(sock).unwrap();
    s.write_all(b"GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out.lines().next().unwrap_or("").to_string()
}

#[test]
fn sighup_reloads_and_never_stops_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let (child, sock) = serve_yaml_in(dir.path(), DENY_YAML, &[]);
    assert!(health(&sock).contains("200"));
    signal(&child, "-HUP");
    std::thread::sleep(Duration::from_millis(300));
    signal(&child, "-HUP");
    // Still serving after two SIGHUPs.
    assert!(health(&sock).contains("200"));
    signal(&child, "-INT");
    let out = wait_bounded(child);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{:?}: {err}", out.status);
    // SIGHUP means "reload" (docs/server.md, Live reload): logged, both reloaded, no call lost.
    assert_eq!(err.matches("SIGHUP: reloading").count(), 2, "{err}");
    assert_eq!(err.matches("result=\"reloaded\"").count(), 2, "{err}");
    assert!(err.contains("SIGINT: draining"), "{err}");
}

fn refused_config(path: &Path) -> String {
    let child = serve_cmd()
        .env("PLUGINS_CONFIG_PATH", path)
        .env("PLUGINS_SERVER_UDS", "/nonexistent-dir/never.sock")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = wait_bounded(child);
    assert_eq!(out.status.code(), Some(1));
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn dev_zero_and_oversized_configs_are_refused_quickly() {
    let err = refused_config(Path::new("/dev/zero"));
    assert!(
        err.contains("/dev/zero") && err.contains("larger than"),
        "{err}"
    );
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big.yaml");
    let mut text = String::from(DENY_YAML);
    while text.len() <= 4 * 1024 * 1024 {
        text.push_str("# padding padding padding padding padding padding padding padding\n");
    }
    std::fs::write(&big, text).unwrap();
    let err = refused_config(&big);
    assert!(
        err.contains("big.yaml") && err.contains("PLUGINS_CONFIG_MAX_BYTES"),
        "{err}"
    );
}

#[test]
fn duplicate_keys_are_refused_with_file_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dup.yaml");
    std::fs::write(&path, format!("{DENY_YAML}plugins:\n")).unwrap();
    let err = refused_config(&path);
    assert!(err.contains("dup.yaml"), "{err}");
    assert!(err.contains("line 8: duplicate key \"plugins\""), "{err}");
    std::fs::write(&path, format!("{DENY_YAML}    name: Other\n")).unwrap();
    let err = refused_config(&path);
    assert!(err.contains("duplicate key \"name\""), "{err}");
}

/// `server_settings.limits.*` in the YAML sets the limits, each `PLUGINS_SERVER_*` variable
/// wins over its key, and a bad value or a misspelt key is refused naming the key.
#[test]
fn limits_from_yaml_apply_and_the_variable_wins() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("p.sock");
    let cfg = dir.path().join("plugins.yaml");
    std::fs::write(
        &cfg,
        format!("{DENY_YAML}server_settings:\n  limits:\n    max_connections: 1\n"),
    )
    .unwrap();
    let serve = |extra: &[(&str, &str)]| {
        let _ = std::fs::remove_file(&sock);
        serve_on_socket(&cfg, &sock, extra)
    };
    // One connection held open: a second one is closed at accept under the YAML cap of 1.
    let child = serve(&[]);
    let held = UnixStream::connect(&sock).unwrap();
    assert_eq!(try_health(&sock), "", "a second connection was served");
    drop(held);
    signal(&child, "-TERM");
    let out = wait_bounded(child);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("PLUGINS_SERVER_MAX_CONNECTIONS"), "{err}");
    // The variable wins over the key.
    let child = serve(&[("PLUGINS_SERVER_MAX_CONNECTIONS", "4")]);
    let held = UnixStream::connect(&sock).unwrap();
    assert!(health(&sock).contains("200"));
    drop(held);
    signal(&child, "-TERM");
    assert!(wait_bounded(child).status.success());

    for (limits, key) in [
        (
            "max_connections: 0",
            "server_settings.limits.max_connections",
        ),
        ("body_timeout: soon", "server_settings.limits.body_timeout"),
        ("max_conections: 3", "server_settings.limits.max_conections"),
    ] {
        let bad = dir.path().join("bad.yaml");
        std::fs::write(
            &bad,
            format!("{DENY_YAML}server_settings:\n  limits:\n    {limits}\n"),
        )
        .unwrap();
        let err = refused_config(&bad);
        assert!(err.contains(key), "{limits}: {err}");
    }
}

/// [`health`] for a connection the server may close at once: any I/O error reads as "".
fn try_health(sock: &Path) -> String {
    let mut out = String::new();
    let Ok(mut s) = UnixStream::connect(sock) else {
        return out;
    };
    let req = b"GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
    if s.write_all(req).is_ok() {
        let _ = s.read_to_string(&mut out);
    }
    out
}
