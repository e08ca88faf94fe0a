//! `plugwire serve --transport http,grpc,unix` start-up as a user meets its failures: every
//! listener is checked before any is bound (an unresolvable host, a socket path that is a
//! directory, a regular file or a live socket, two listeners on one address), and a bind that
//! still fails (a port another process holds, a directory where no socket can be created) leaves
//! no socket file of the failed process behind, while a server already running on the other
//! paths keeps its sockets and keeps serving. Servers run as children on 127.0.0.1 port 0 and
//! Unix sockets in a temporary directory.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Stdio;

mod common;

use common::transports::{cmd, make_certs, p, serve_transports, Server};
use common::{uds_request, wait_bounded, REPLACE_YAML};

/// A first server in `dir` on all three transports: MCP at `mcp1.sock`, gRPC (plaintext) on
/// 127.0.0.1 port 0, the raw socket at `raw1.sock`.
fn first_server(dir: &Path) -> Server {
    let env = [
        ("PLUGINS_SERVER_UDS", p(dir, "mcp1.sock")),
        ("PLUGINS_GRPC_SERVER_PORT", "0".to_string()),
        ("PLUGINS_UNIX_SOCKET_PATH", p(dir, "raw1.sock")),
    ];
    Server::start(dir, REPLACE_YAML, "http,grpc,unix", &env)
}

/// Every entry of `dir` with its device and inode: a file created, removed or replaced shows.
fn entries(dir: &Path) -> BTreeMap<String, (u64, u64)> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let m = std::fs::symlink_metadata(e.path()).unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                (m.dev(), m.ino()),
            )
        })
        .collect()
}

/// A temporary directory holding the plugins YAML `server.yaml` (which [`first_server`] writes
/// too).
fn config_dir() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("server.yaml"), REPLACE_YAML).unwrap();
    tmp
}

/// `plugwire serve --transport TRANSPORTS` of `DIR/server.yaml` with `env`, which must fail:
/// exit code 1, and its stderr.
fn start_fails(dir: &Path, transports: &str, env: &[(&str, String)]) -> String {
    let child = serve_transports(dir, transports, env)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = wait_bounded(child);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    stderr
}

/// [`start_fails`] in a directory holding `first`'s sockets: the message contains each of
/// `words`, the directory holds exactly what it held before (no socket file of the failed
/// process, `first`'s files the same files), and `first` still answers on all three sockets.
fn fails_beside(first: &Server, dir: &Path, env: &[(&str, String)], words: &[&str]) {
    let before = entries(dir);
    let stderr = start_fails(dir, "http,grpc,unix", env);
    for w in words {
        assert!(stderr.contains(w), "{w:?} not in: {stderr}");
    }
    assert_eq!(entries(dir), before, "the directory changed: {stderr}");
    still_serves(first, dir);
}

/// `first` answers `/health` on its MCP socket, and `plugwire health` over gRPC and the raw
/// socket says healthy.
fn still_serves(first: &Server, dir: &Path) {
    let (status, body) = uds_request(&dir.join("mcp1.sock"), "GET", "/health", "").unwrap();
    assert!(status.contains("200"), "{status} {body}");
    let grpc = format!("grpc://{}", first.at("grpc://"));
    let raw = format!("unix://{}", p(dir, "raw1.sock"));
    for url in [grpc, raw] {
        let out = cmd(dir).args(["health", &url]).output().unwrap();
        assert!(out.status.success(), "{url}: {out:?}");
    }
}

/// The gRPC port is held by a running server: the second exits 1 naming
/// `PLUGINS_GRPC_SERVER_PORT`, and its MCP socket, bound before the gRPC port failed, is removed
/// again (as is nothing of the first server's).
#[test]
fn grpc_port_in_use_leaves_no_socket_and_the_first_server_serves() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let first = first_server(dir);
    let port = first.at("grpc://").rsplit(':').next().unwrap().to_string();
    let env = [
        ("PLUGINS_SERVER_UDS", p(dir, "mcp2.sock")),
        ("PLUGINS_GRPC_SERVER_PORT", port.clone()),
        ("PLUGINS_UNIX_SOCKET_PATH", p(dir, "raw2.sock")),
    ];
    let words = ["already in use", "PLUGINS_GRPC_SERVER_PORT", port.as_str()];
    fails_beside(&first, dir, &env, &words);
}

/// A raw-socket path that cannot take a socket is refused before anything is bound, naming
/// `PLUGINS_UNIX_SOCKET_PATH` (a directory, a regular file: both left as they are) or the gRPC
/// socket's variable (the first server's live raw socket); neither the MCP nor the gRPC socket
/// of the failed process remains.
#[test]
fn raw_path_that_is_a_directory_or_a_file_or_live_leaves_no_socket() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let first = first_server(dir);
    std::fs::create_dir(dir.join("a-dir")).unwrap();
    std::fs::write(dir.join("a-file"), "data").unwrap();
    let with_raw = |grpc_uds: &str, raw: &str| {
        vec![
            ("PLUGINS_SERVER_UDS", p(dir, "mcp2.sock")),
            ("PLUGINS_GRPC_SERVER_UDS", p(dir, grpc_uds)),
            ("PLUGINS_UNIX_SOCKET_PATH", p(dir, raw)),
        ]
    };
    let not_socket = "exists and is not a Unix socket";
    let raw_var = "PLUGINS_UNIX_SOCKET_PATH";
    fails_beside(
        &first,
        dir,
        &with_raw("g2.sock", "a-dir"),
        &[not_socket, raw_var],
    );
    fails_beside(
        &first,
        dir,
        &with_raw("g2.sock", "a-file"),
        &[not_socket, raw_var],
    );
    assert_eq!(std::fs::read_to_string(dir.join("a-file")).unwrap(), "data");
    let in_use = "is in use by a running server";
    fails_beside(
        &first,
        dir,
        &with_raw("g2.sock", "raw1.sock"),
        &[in_use, raw_var],
    );
    let grpc_var = "PLUGINS_GRPC_SERVER_UDS";
    fails_beside(
        &first,
        dir,
        &with_raw("raw1.sock", "raw2.sock"),
        &[in_use, grpc_var],
    );
}

/// A raw socket that fails only when bound (a directory where no socket can be created, here
/// in /proc) comes after the MCP and gRPC sockets were created: both are removed before exit.
#[test]
fn a_failed_raw_bind_removes_the_sockets_bound_before_it() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let first = first_server(dir);
    let env = [
        ("PLUGINS_SERVER_UDS", p(dir, "mcp2.sock")),
        ("PLUGINS_GRPC_SERVER_UDS", p(dir, "g2.sock")),
        (
            "PLUGINS_UNIX_SOCKET_PATH",
            "/proc/plugwire-test.sock".to_string(),
        ),
    ];
    let words = [
        "cannot listen on the Unix socket",
        "PLUGINS_UNIX_SOCKET_PATH",
    ];
    fails_beside(&first, dir, &env, &words);
}

/// A gRPC host that does not resolve is found in the check phase: exit 1 naming
/// `PLUGINS_GRPC_SERVER_HOST`, and the MCP socket was never created.
#[test]
fn an_unresolvable_grpc_host_stops_start_up_before_binding() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let first = first_server(dir);
    let env = [
        ("PLUGINS_SERVER_UDS", p(dir, "mcp2.sock")),
        ("PLUGINS_GRPC_SERVER_HOST", "not..a.host".to_string()),
        ("PLUGINS_UNIX_SOCKET_PATH", p(dir, "raw2.sock")),
    ];
    let words = ["cannot resolve the bind host", "PLUGINS_GRPC_SERVER_HOST"];
    fails_beside(&first, dir, &env, &words);
}

/// Two transports given one Unix socket path (as written or through `..`) are refused before
/// binding, naming both settings and the path, with no file left; not blamed on another server.
#[test]
fn two_transports_on_one_socket_path_name_both_settings() {
    let tmp = config_dir();
    let dir = tmp.path();
    std::fs::create_dir(dir.join("sub")).unwrap();
    let same = p(dir, "same.sock");
    let canonical = std::fs::canonicalize(dir).unwrap().join("same.sock");
    let cases = [
        (
            "PLUGINS_SERVER_UDS",
            "PLUGINS_GRPC_SERVER_UDS",
            same.clone(),
        ),
        (
            "PLUGINS_SERVER_UDS",
            "PLUGINS_UNIX_SOCKET_PATH",
            p(dir, "sub/../same.sock"),
        ),
        (
            "PLUGINS_GRPC_SERVER_UDS",
            "PLUGINS_UNIX_SOCKET_PATH",
            same.clone(),
        ),
    ];
    for (a, b, path_b) in cases {
        let mut env = vec![
            ("PLUGINS_SERVER_UDS", p(dir, "mcp.sock")),
            ("PLUGINS_GRPC_SERVER_UDS", p(dir, "grpc.sock")),
            ("PLUGINS_UNIX_SOCKET_PATH", p(dir, "raw.sock")),
        ];
        for (var, value) in [(a, same.clone()), (b, path_b)] {
            env.retain(|(k, _)| *k != var);
            env.push((var, value));
        }
        let before = entries(dir);
        let stderr = start_fails(dir, "http,grpc,unix", &env);
        let both = format!(
            "(environment variable {a}) and the {} (environment variable {b}) are both set to \
             listen on the Unix socket {}",
            if b == "PLUGINS_GRPC_SERVER_UDS" {
                "gRPC Unix socket"
            } else {
                "raw socket"
            },
            canonical.display()
        );
        assert!(stderr.contains(&both), "{both:?} not in: {stderr}");
        assert!(!stderr.contains("in use"), "{stderr}");
        assert_eq!(entries(dir), before, "{stderr}");
    }
}

/// MCP and gRPC given one TCP port (the same host, `localhost` against `127.0.0.1`, or
/// `0.0.0.0` against `127.0.0.1`), or gRPC given the MCP health port (port + 1000, with TLS on),
/// are refused before binding, naming both settings and the address, not blamed on the process
/// that happens to hold the port.
#[test]
fn two_transports_on_one_tcp_port_name_both_settings() {
    let tmp = config_dir();
    let dir = tmp.path();
    // Held for the whole test: a bind would fail as "already in use", so the messages below
    // can only come from the check phase.
    let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = held.local_addr().unwrap().port().to_string();
    let same_port = |mcp_host: &str, grpc_host: &str| {
        vec![
            ("PLUGINS_SERVER_HOST", mcp_host.to_string()),
            ("PLUGINS_SERVER_PORT", port.clone()),
            ("PLUGINS_GRPC_SERVER_HOST", grpc_host.to_string()),
            ("PLUGINS_GRPC_SERVER_PORT", port.clone()),
        ]
    };
    let names = "port from environment variable PLUGINS_SERVER_PORT) and the gRPC port (";
    for (mcp_host, grpc_host, at) in [
        (
            "127.0.0.1",
            "127.0.0.1",
            format!("listen on 127.0.0.1:{port}:"),
        ),
        (
            "localhost",
            "127.0.0.1",
            format!("listen on 127.0.0.1:{port}:"),
        ),
        (
            "127.0.0.1",
            "0.0.0.0",
            format!("127.0.0.1:{port} and 0.0.0.0:{port}"),
        ),
    ] {
        let before = entries(dir);
        let stderr = start_fails(dir, "http,grpc", &same_port(mcp_host, grpc_host));
        assert!(stderr.contains(names), "{stderr}");
        assert!(stderr.contains("PLUGINS_GRPC_SERVER_PORT"), "{stderr}");
        assert!(stderr.contains(&at), "{at:?} not in: {stderr}");
        assert!(!stderr.contains("in use"), "{stderr}");
        assert_eq!(entries(dir), before, "{stderr}");
    }

    make_certs(dir);
    let health = (held.local_addr().unwrap().port() + 1000).to_string();
    let env = [
        ("PLUGINS_SERVER_PORT", port.clone()),
        ("PLUGINS_SERVER_SSL_ENABLED", "true".to_string()),
        (
            "PLUGINS_SERVER_SSL_CERTFILE",
            p(dir, "out/plugins/example-plugin-a/server.crt"),
        ),
        (
            "PLUGINS_SERVER_SSL_KEYFILE",
            p(dir, "out/plugins/example-plugin-a/server.key"),
        ),
        ("PLUGINS_SERVER_SSL_CA_CERTS", p(dir, "out/ca/ca.crt")),
        ("PLUGINS_GRPC_SERVER_PORT", health.clone()),
    ];
    let stderr = start_fails(dir, "http,grpc", &env);
    let names = "the MCP health port (port + 1000) (host from the built-in default of PLUGINS_SERVER_HOST, port from environment variable PLUGINS_SERVER_PORT) and the gRPC port";
    assert!(stderr.contains(names), "{stderr}");
    assert!(
        stderr.contains("port from environment variable PLUGINS_GRPC_SERVER_PORT"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("listen on 127.0.0.1:{health}:")),
        "{stderr}"
    );
}

/// `PLUGINS_GRPC_SERVER_PORT` out of range says what it accepts: 0 (any free port) to 65535;
/// `PLUGINS_SERVER_PORT` (no port 0: its health port is derived from it) says 1 to 65535.
#[test]
fn the_port_variables_say_what_they_accept() {
    let tmp = config_dir();
    let dir = tmp.path();
    let grpc = [("PLUGINS_GRPC_SERVER_PORT", "70000".to_string())];
    let stderr = start_fails(dir, "grpc", &grpc);
    let said = "invalid port \"70000\" in environment variable PLUGINS_GRPC_SERVER_PORT: it must be an integer from 0 to 65535 (0: any free port)";
    assert!(stderr.contains(said), "{stderr}");
    let mcp = [("PLUGINS_SERVER_PORT", "0".to_string())];
    let stderr = start_fails(dir, "http", &mcp);
    let said = "invalid port \"0\" in environment variable PLUGINS_SERVER_PORT: it must be an integer from 1 to 65535";
    assert!(stderr.contains(said), "{stderr}");
}
