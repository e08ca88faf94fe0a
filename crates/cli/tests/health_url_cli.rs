//! What `plugwire health URL` and `plugwire call` say when the URL or the entry is wrong: a URL
//! with an unknown scheme or none, a gRPC URL without `host:port` and a socket URL without an
//! absolute path are usage errors (exit 2) naming the URL argument, before any connect; a
//! grpcs:// URL at a plaintext gRPC port is told the server answered without TLS, and a
//! certificate that does not name the URL's host is told `--server-name`, each fix working; and
//! an entry whose TLS settings do not load names its own key, not `key `config``. Servers are
//! `plugwire serve` children on 127.0.0.1:0.
#![allow(clippy::unwrap_used)]

use std::path::Path;

mod common;

use common::transports::{
    cmd, grpc_mtls_server_env, hook_call, make_certs, Server, GATEWAY_IDENTITY_FLAGS,
};
use common::REPLACE_YAML;

/// Every scheme the URL argument takes, as the usage error lists them.
const SCHEMES: [&str; 6] = [
    "http://",
    "https://",
    "grpc://",
    "grpcs://",
    "grpc+unix:///",
    "unix:///",
];

/// `plugwire health ARGS`: exit code and stderr.
fn health(dir: &Path, args: &[&str]) -> (Option<i32>, String) {
    let out = cmd(dir)
        .env("RUST_LOG", "warn")
        .arg("health")
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

/// A URL whose scheme plugwire does not know (a typo, none at all) is a usage error naming the
/// URL argument and listing every accepted scheme, not an `mcp.url` the operator never wrote.
#[test]
fn an_unknown_scheme_or_none_is_a_usage_error_listing_every_scheme() {
    let tmp = tempfile::tempdir().unwrap();
    for (url, why) in [
        ("grcp://127.0.0.1:50051", "has the unknown scheme \"grcp\""),
        ("ftp://localhost/x", "has the unknown scheme \"ftp\""),
        ("127.0.0.1:50051", "has no scheme"),
    ] {
        let (code, stderr) = health(tmp.path(), &[url]);
        assert_eq!(code, Some(2), "{url}: {stderr}");
        let said = format!("plugwire health: the URL argument {url:?} {why}");
        assert!(stderr.contains(&said), "{url}: {stderr}");
        for scheme in SCHEMES {
            assert!(stderr.contains(scheme), "{url}: {scheme} missing: {stderr}");
        }
        assert!(!stderr.contains("mcp.url"), "{url}: {stderr}");
    }
}

/// A gRPC URL without `host:port` is a usage error at once (no connect attempts, which used
/// to end in "invalid socket address (after 4 attempts)", exit 1); so is a socket URL without an
/// absolute path.
#[test]
fn a_grpc_url_without_host_port_or_a_relative_socket_is_a_usage_error() {
    let tmp = tempfile::tempdir().unwrap();
    for (url, why) in [
        ("grpc://localhost", "needs host:port after grpc://"),
        ("grpcs://localhost", "needs host:port after grpcs://"),
        ("grpc://localhost:", "needs host:port after grpc://"),
        ("grpc://:50051", "needs host:port after grpc://"),
        ("grpc+unix://grpc.sock", "needs an absolute socket path"),
        ("unix://raw.sock", "needs an absolute socket path"),
    ] {
        let (code, stderr) = health(tmp.path(), &[url]);
        assert_eq!(code, Some(2), "{url}: {stderr}");
        let said = format!("plugwire health: the URL argument {url:?} {why}");
        assert!(stderr.contains(&said), "{url}: {stderr}");
        assert!(
            !stderr.contains("attempt") && !stderr.contains("invalid socket address"),
            "{url}: nothing was tried: {stderr}"
        );
    }
}

/// grpcs:// at a plaintext gRPC port: the server answered without TLS, ask grpc:// (the
/// explanation of an entry speaks of its `grpc.tls`, which the command line has not); and
/// grpc:// is healthy.
#[test]
fn grpcs_at_a_plaintext_grpc_port_is_told_to_ask_grpc() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let env = [
        ("PLUGINS_GRPC_SERVER_HOST", "127.0.0.1".to_string()),
        ("PLUGINS_GRPC_SERVER_PORT", "0".to_string()),
    ];
    let server = Server::start(dir, REPLACE_YAML, "grpc", &env);
    let addr = server.at("grpc://");
    let (code, stderr) = health(dir, &[&format!("grpcs://{addr}")]);
    assert_eq!(code, Some(1), "{stderr}");
    let said = format!(
        "plugwire health: TLS with grpcs://{addr} failed: the server answered without TLS \
         (plaintext HTTP/2, as a gRPC port without TLS answers): ask grpc://{addr} to call it \
         without TLS"
    );
    assert!(stderr.contains(&said), "{stderr}");
    assert!(!stderr.contains("InvalidContentType"), "{stderr}");
    let (code, stderr) = health(dir, &[&format!("grpc://{addr}")]);
    assert_eq!(code, Some(0), "{stderr}");
}

/// A certificate for `localhost` at grpcs://127.0.0.1:PORT: the advice is `--server-name`
/// (never `check_hostname`, which gRPC has not, nor an MCP URL) or a `localhost:PORT` URL,
/// and `--server-name localhost` is healthy.
#[test]
fn a_host_the_certificate_does_not_name_is_told_server_name_which_works() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    make_certs(dir);
    let server = Server::start(dir, REPLACE_YAML, "grpc", &grpc_mtls_server_env(dir));
    let port = server.grpcs_port();
    let url = format!("grpcs://127.0.0.1:{port}");
    let identity: Vec<&str> = [&[url.as_str()][..], &GATEWAY_IDENTITY_FLAGS].concat();
    let (code, stderr) = health(dir, &identity);
    assert_eq!(code, Some(1), "{stderr}");
    for wanted in [
        "not valid for the host `127.0.0.1` in the URL",
        "(1) set option --server-name to a name the certificate carries, such as `localhost`",
        "without TLS options, environment variable PLUGINS_GRPC_CLIENT_MTLS_SERVER_NAME does \
         the same",
        &format!("such as `localhost:{port}`"),
    ] {
        assert!(stderr.contains(wanted), "missing {wanted:?}: {stderr}");
    }
    for wrong in ["check_hostname", "https://", "/mcp", "plugins[health]"] {
        assert!(!stderr.contains(wrong), "names {wrong:?}: {stderr}");
    }
    let fixed = [&identity[..], &["--server-name", "localhost"]].concat();
    let (code, stderr) = health(dir, &fixed);
    assert_eq!(code, Some(0), "{stderr}");
}

/// `plugwire call` with a `grpc:` entry whose certificate file does not exist: exit 2, the
/// line names the entry's key (`plugins[X].grpc.tls.certfile`) and the file, without the
/// framework's `key `config`` (a key that entry does not have) before it.
#[test]
fn a_grpc_entry_whose_tls_file_is_missing_names_its_key_not_config() {
    let tmp = tempfile::tempdir().unwrap();
    let gateway = r#"
plugins:
  - name: Scrubber
    kind: external
    hooks: [tool_pre_invoke]
    grpc:
      target: localhost:50051
      tls: {certfile: missing/client.crt, keyfile: missing/client.key, ca_bundle: missing/ca.crt}
"#;
    let payload = r#"{"name": "search", "args": {"q": "x"}}"#;
    let out = hook_call(tmp.path(), gateway, payload).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    let said = "plugwire call: gateway.yaml: external plugin 'Scrubber': TLS settings for \
                grpcs://localhost:50051: ";
    assert!(stderr.contains(said), "{stderr}");
    assert!(
        stderr.contains("YAML key `plugins[Scrubber].grpc.tls.certfile`")
            && stderr.contains("missing/client.crt"),
        "{stderr}"
    );
    assert!(!stderr.contains("key `config`"), "{stderr}");
}
