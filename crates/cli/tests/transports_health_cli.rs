//! `plugwire serve`'s gRPC and raw-socket transports as a user checks them: `plugwire health`
//! succeeding over every URL form and through a gateway config, the raw socket closing a
//! connection that sends an oversized or undecodable frame (with a log line naming why) while it
//! keeps serving the others, and an encrypted gateway key for gRPC mTLS unlocked by
//! `keyfile_password` or its variable. Servers run as children on 127.0.0.1:0 and Unix sockets
//! in a temporary directory (transports_cli.rs covers one process serving all three transports
//! and the failures of entries pointed at the wrong socket).
#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::{Command, Output};

use serde_json::{json, Value};

mod common;

use common::transports::{
    cmd, grpc_mtls_server_env, hook_call, make_certs, p, Server, GATEWAY_IDENTITY_FLAGS,
};
use common::{NO_HANG, REPLACE_AND_DENY_YAML};

/// `plugwire serve --transport grpc,unix`: gRPC with mTLS (the certificates of [`make_certs`])
/// on 127.0.0.1:0 and the raw socket at `DIR/raw.sock`; and the gRPC port.
fn grpcs_and_raw(dir: &Path) -> (Server, String) {
    make_certs(dir);
    let mut env = grpc_mtls_server_env(dir);
    env.push(("PLUGINS_UNIX_SOCKET_PATH", p(dir, "raw.sock")));
    let server = Server::start(dir, REPLACE_AND_DENY_YAML, "grpc,unix", &env);
    assert!(
        server.line.contains("client_auth=require, mTLS"),
        "{}",
        server.line
    );
    let port = server.grpcs_port();
    (server, port)
}

/// The `grpc:` entry of `ReplaceBadWordsPlugin` at `localhost:PORT`, then `tls` (its lines, as
/// indented under the entry) when given.
fn grpc_entry(port: &str, tls: &str) -> String {
    format!("  - name: ReplaceBadWordsPlugin\n    kind: external\n    grpc:\n      target: localhost:{port}\n{tls}")
}

/// `plugwire health ARGS` with `env`: exit code, stdout as JSON, stderr.
fn health(dir: &Path, args: &[&str], env: &[(&str, String)]) -> (Option<i32>, Value, String) {
    let out = cmd(dir)
        .env("RUST_LOG", "warn")
        .arg("health")
        .args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let json = serde_json::from_str(&stdout).unwrap_or(Value::Null);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    (out.status.code(), json, stderr)
}

/// The gateway's mTLS identity for gRPC as `PLUGINS_GRPC_CLIENT_MTLS_*`, with key `keyfile`.
fn grpc_client_env(dir: &Path, keyfile: &str) -> Vec<(&'static str, String)> {
    vec![
        (
            "PLUGINS_GRPC_CLIENT_MTLS_CERTFILE",
            p(dir, "out/gateway/client.crt"),
        ),
        ("PLUGINS_GRPC_CLIENT_MTLS_KEYFILE", p(dir, keyfile)),
        (
            "PLUGINS_GRPC_CLIENT_MTLS_CA_BUNDLE",
            p(dir, "out/ca/ca.crt"),
        ),
    ]
}

/// `plugwire health` exits 0 and says "healthy" for gRPC over mTLS (`grpcs://`, the identity
/// given by flags or by `PLUGINS_GRPC_CLIENT_MTLS_*`), gRPC over a Unix socket
/// (`grpc+unix://`) and the raw socket (`unix://`, which lists the served plugins).
#[test]
fn health_is_healthy_over_grpcs_grpc_unix_and_the_raw_socket() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (_grpcs, port) = grpcs_and_raw(dir);
    let uds = [("PLUGINS_GRPC_SERVER_UDS", p(dir, "grpc.sock"))];
    let grpc_uds = Server::start(dir, REPLACE_AND_DENY_YAML, "grpc", &uds);
    assert!(grpc_uds.line.contains("grpc+unix://"), "{}", grpc_uds.line);

    let grpcs = format!("grpcs://localhost:{port}");
    let identity = GATEWAY_IDENTITY_FLAGS;
    let by_flags: Vec<&str> = [&[grpcs.as_str()][..], &identity].concat();
    let by_env = grpc_client_env(dir, "out/gateway/client.key");
    let grpc_unix = format!("grpc+unix://{}", p(dir, "grpc.sock"));
    let raw = format!("unix://{}", p(dir, "raw.sock"));
    let serving = json!({"status": "SERVING", "service": "grpc.health.v1.Health"});
    let listed =
        json!({"status": "healthy", "plugins": ["ReplaceBadWordsPlugin", "DenyListPlugin"]});
    for (url, args, env, answer) in [
        (&grpcs, by_flags, &[][..], &serving),
        (&grpcs, vec![grpcs.as_str()], &by_env[..], &serving),
        (&grpc_unix, vec![grpc_unix.as_str()], &[][..], &serving),
        (&raw, vec![raw.as_str()], &[][..], &listed),
    ] {
        let (code, report, stderr) = health(dir, &args, env);
        assert_eq!(code, Some(0), "{args:?}: {report}\n{stderr}");
        assert_eq!(&report, answer, "{args:?}");
        let healthy = format!("plugwire health: {url} is healthy");
        assert!(stderr.contains(&healthy), "{args:?}: {stderr}");
    }
}

/// `plugwire health --config` with a `grpc:` entry over mTLS (`tls:`) and a `unix_socket:`
/// entry: both plugins start as the gateway would start them, both are reported loaded, exit 0.
#[test]
fn health_config_reports_grpc_mtls_and_raw_socket_entries_loaded() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (_server, port) = grpcs_and_raw(dir);
    let tls = format!(
        "      tls:\n        certfile: {}\n        keyfile: {}\n        ca_bundle: {}\n",
        p(dir, "out/gateway/client.crt"),
        p(dir, "out/gateway/client.key"),
        p(dir, "out/ca/ca.crt"),
    );
    let raw = format!(
        "  - name: DenyListPlugin\n    kind: external\n    unix_socket:\n      path: {}\n",
        p(dir, "raw.sock")
    );
    let yaml = format!("plugins:\n{}{raw}", grpc_entry(&port, &tls));
    std::fs::write(dir.join("gw.yaml"), yaml).unwrap();

    let (code, report, stderr) = health(dir, &["--config", "gw.yaml"], &[]);
    assert_eq!(code, Some(0), "{report}\n{stderr}");
    let loaded = |name: &str| json!({"name": name, "kind": "external", "loaded": true});
    assert_eq!(
        report["plugins"],
        json!([loaded("ReplaceBadWordsPlugin"), loaded("DenyListPlugin")]),
        "{stderr}"
    );
}

/// One frame on `s` (4-byte big-endian length, then `body`) and the body of the answer frame.
fn exchange(s: &mut UnixStream, body: &[u8]) -> Vec<u8> {
    let len = u32::try_from(body.len()).unwrap();
    s.write_all(&[&len.to_be_bytes()[..], body].concat())
        .unwrap();
    let mut header = [0u8; 4];
    s.read_exact(&mut header).unwrap();
    let mut answer = vec![0; u32::from_be_bytes(header) as usize];
    s.read_exact(&mut answer).unwrap();
    answer
}

/// A new connection to the raw socket; reads fail rather than hang past [`NO_HANG`].
fn connect(sock: &Path) -> UnixStream {
    let s = UnixStream::connect(sock).unwrap();
    s.set_read_timeout(Some(NO_HANG)).unwrap();
    s
}

/// Asserts that the empty request (`GetPluginConfigs`) on `s` is answered with the served
/// plugins' configs.
fn answers(s: &mut UnixStream) {
    let configs = exchange(s, &[]);
    let text = String::from_utf8_lossy(&configs);
    assert!(
        text.contains("ReplaceBadWordsPlugin") && text.contains("DenyListPlugin"),
        "{text:?}"
    );
}

/// A raw-socket connection that sends a length over 16 MiB, or a valid length followed by
/// bytes that are no protobuf message, is closed with a WARN line naming the reason; a
/// connection opened before it and one opened after it are still answered.
#[test]
fn raw_socket_closes_on_an_oversized_or_undecodable_frame_and_keeps_serving() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let sock = dir.join("raw.sock");
    let mut server = Server::start(
        dir,
        REPLACE_AND_DENY_YAML,
        "unix",
        &[("PLUGINS_UNIX_SOCKET_PATH", p(dir, "raw.sock"))],
    );
    let mut kept = connect(&sock);
    answers(&mut kept);

    // 16 MiB + 1 announced; field 1 with wire type 7 (which does not exist), 4 times.
    let oversized = (16u32 * 1024 * 1024 + 1).to_be_bytes().to_vec();
    let garbage = [&4u32.to_be_bytes()[..], &[0x0f; 4]].concat();
    let reasons = [
        "raw socket connection closed: frame of 16777217 bytes exceeds the 16777216-byte limit",
        "raw socket connection closed: frame body is not a valid plugin service request protobuf message",
    ];
    for (frame, reason) in [(oversized, reasons[0]), (garbage, reasons[1])] {
        let mut bad = connect(&sock);
        bad.write_all(&frame).unwrap();
        let mut rest = Vec::new();
        let read = bad.read_to_end(&mut rest);
        // Closed: EOF with no answer (a reset is a close too), not a timeout.
        assert!(
            matches!(&read, Ok(0))
                || matches!(&read, Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset),
            "{read:?} {rest:?}"
        );
        let line = server.wait_for_log(|l| l.contains(reason));
        assert!(
            line.is_some_and(|l| l.contains(" WARN ")),
            "{}",
            server.seen.join("\n")
        );
        answers(&mut kept);
        answers(&mut connect(&sock));
    }
    let url = format!("unix://{}", sock.display());
    let listed = health(dir, &[url.as_str()], &[]);
    assert_eq!(listed.0, Some(0), "{listed:?}");
}

/// An encrypted PKCS#8 copy of the gateway's client key at `DIR/enc.key`, password `s3cret`
/// (as crates/tls/tests/keys.rs makes them: `openssl pkcs8 -topk8`, PBES2 AES-256-CBC).
fn encrypted_client_key(dir: &Path) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args([
            "pkcs8",
            "-topk8",
            "-v2",
            "aes-256-cbc",
            "-in",
            "out/gateway/client.key",
        ])
        .args(["-out", "enc.key", "-passout", "pass:s3cret"])
        .output()
        .expect("openssl runs");
    assert!(out.status.success(), "{out:?}");
    let pem = std::fs::read_to_string(dir.join("enc.key")).unwrap();
    assert!(
        pem.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"),
        "{pem}"
    );
}

/// `plugwire call` of `tool_pre_invoke` through the gateway config `yaml`, with `env`.
fn call(dir: &Path, yaml: &str, env: &[(&str, String)]) -> Output {
    let payload = r#"{"name":"search","args":{"q":"what crap"}}"#;
    hook_call(dir, &format!("plugins:\n{yaml}"), payload)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .unwrap()
}

/// Asserts that the call went through the plugin (`crap` → `crud`).
fn replaced(out: &Output) {
    assert!(out.status.success(), "{out:?}");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        v["result"]["modified_payload"]["args"]["q"], "what crud",
        "{v}"
    );
}

/// Asserts that the call failed as a config error (exit 2) with all of `words` on stderr.
fn refused(out: &Output, words: &[&str]) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(words.iter().all(|w| stderr.contains(w)), "{stderr}");
}

/// An encrypted gateway key for gRPC mTLS works with `grpc.tls.keyfile_password`, and with
/// `PLUGINS_GRPC_CLIENT_MTLS_KEYFILE_PASSWORD` (with the other `PLUGINS_GRPC_CLIENT_MTLS_*`)
/// for an entry without `tls:`; a wrong or missing password is a config error naming the
/// setting that holds it.
#[test]
fn grpc_client_key_password_from_yaml_or_environment() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (_server, port) = grpcs_and_raw(dir);
    encrypted_client_key(dir);
    let tls = |password: &str| {
        let files = format!(
            "        certfile: {}\n        keyfile: {}\n        ca_bundle: {}\n",
            p(dir, "out/gateway/client.crt"),
            p(dir, "enc.key"),
            p(dir, "out/ca/ca.crt"),
        );
        format!("      tls:\n{files}        keyfile_password: {password}\n")
    };
    let env = |password: Option<&str>| {
        let mut env = grpc_client_env(dir, "enc.key");
        env.extend(password.map(|pw| ("PLUGINS_GRPC_CLIENT_MTLS_KEYFILE_PASSWORD", pw.into())));
        env
    };
    let yaml_key = "YAML key `plugins[ReplaceBadWordsPlugin].grpc.tls.keyfile_password`";
    let variable = "environment variable PLUGINS_GRPC_CLIENT_MTLS_KEYFILE_PASSWORD";

    replaced(&call(dir, &grpc_entry(&port, &tls("s3cret")), &[]));
    replaced(&call(dir, &grpc_entry(&port, ""), &env(Some("s3cret"))));
    let wrong = "wrong password";
    refused(
        &call(dir, &grpc_entry(&port, &tls("s3cre")), &[]),
        &[wrong, "enc.key", yaml_key],
    );
    refused(
        &call(dir, &grpc_entry(&port, ""), &env(Some("s3cre"))),
        &[wrong, "enc.key", variable],
    );
    // Without a password the key cannot be used at all: proof that it is encrypted.
    refused(
        &call(dir, &grpc_entry(&port, ""), &env(None)),
        &[
            "is encrypted",
            "no password is configured",
            yaml_key,
            variable,
        ],
    );
}
