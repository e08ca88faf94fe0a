//! What a `grpc:` entry's failures tell the operator to change, against plugwire's gRPC server
//! in this process on 127.0.0.1:0: a certificate that does not name the target's host (the fix
//! is `grpc.tls.server_name` or a target host the certificate names, never the MCP-only
//! `check_hostname`, nor an MCP URL), a TLS entry at a plaintext gRPC port (the server answered
//! without TLS: drop `grpc.tls`), and each advertised fix working; a target without a port
//! refused when the entry is built; and the line a config's build error reads as (no
//! `key `config`` before an external entry's own key).
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{ctx, env, install_crypto, server_manager, tool_payload, Pki, Running};
use plugwire_client::error::ErrorKind;
use plugwire_client::{ClientError, ClientOptions, ExternalPlugin};
use plugwire_framework::{Config, Plugin, PluginConfig, PluginManager, PluginRegistry};
use plugwire_server::{Backend, ConnLimits, ManagerBackend};
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// A plugwire gRPC server in this process on 127.0.0.1:0, serving the `Scrubber` plugin.
struct Grpc {
    port: u16,
    server: Running,
}

impl Grpc {
    /// Over TLS with `tls`, else in plaintext HTTP/2 (the "insecure port").
    async fn start(tls: Option<Arc<rustls::ServerConfig>>) -> Grpc {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let backend: Arc<dyn Backend> = Arc::new(ManagerBackend::new(server_manager().await));
        let (stop, rx) = oneshot::channel::<()>();
        let shutdown = async {
            let _ = rx.await;
        };
        let limits = ConnLimits::default();
        let task = tokio::spawn(async move {
            let served = match tls {
                Some(tls) => {
                    plugwire_server::grpc::run_tls(listener, tls.into(), backend, limits, shutdown)
                        .await
                }
                None => plugwire_server::grpc::run_plain(listener, backend, limits, shutdown).await,
            };
            served.unwrap();
        });
        Grpc {
            port,
            server: Running { stop, task },
        }
    }

    async fn stop(self) {
        self.server.stop().await;
    }
}

/// Client options whose environment holds only `vars`.
fn options(vars: &[(&str, &str)]) -> ClientOptions {
    ClientOptions {
        env: env(vars),
        call_timeout: Duration::from_secs(10),
        ..ClientOptions::default()
    }
}

/// The external entry `Scrubber` with this `grpc:` section.
fn grpc_entry(grpc: Value) -> PluginConfig {
    PluginConfig::from_json(json!({"name": "Scrubber", "kind": "external", "grpc": grpc})).unwrap()
}

/// The failure of the entry's first connection: a TLS one, never retried.
async fn tls_error(grpc: Value, vars: &[(&str, &str)]) -> ClientError {
    let plugin = ExternalPlugin::new(grpc_entry(grpc), &options(vars)).unwrap();
    let err = plugin.connect().await.unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Tls(_)), "{err:?}");
    assert_eq!(err.code(), "TLS_ERROR", "{err}");
    err
}

/// The entry connects and its hook runs (`crap` scrubbed).
async fn works(grpc: Value, vars: &[(&str, &str)]) {
    let plugin = ExternalPlugin::new(grpc_entry(grpc.clone()), &options(vars)).unwrap();
    plugin
        .initialize()
        .await
        .unwrap_or_else(|e| panic!("{grpc} with {vars:?}: {e}"));
    let result = plugin
        .invoke(tool_payload("crap"), &mut ctx("r"))
        .await
        .unwrap();
    let modified = serde_json::to_value(&result.modified_payload).unwrap();
    assert_eq!(modified["args"], json!({"q": "crud"}), "{grpc}: {modified}");
    plugin.shutdown().await;
}

/// A certificate for `localhost` (no IP SAN) at a `127.0.0.1:PORT` target: the advice names
/// `plugins[Scrubber].grpc.tls.server_name` (where the entry reads it: the YAML key when the
/// entry has `grpc.tls`, which hides the variables; the variable when the identity came from
/// them) and a `localhost:PORT` target, never `check_hostname` (a `grpc.tls` has none) nor an
/// MCP URL; and both fixes work.
#[tokio::test]
async fn a_host_the_certificate_does_not_name_is_fixed_by_server_name_or_the_target() {
    install_crypto();
    // Default SANs only (scrubber, mcp-plugin-scrubber, localhost): no IP SAN.
    let pki = Pki::with(plugwire_certs::Options::ecdsa());
    let server = Grpc::start(Some(pki.server_config(true))).await;
    let port = server.port;
    let target = format!("127.0.0.1:{port}");
    let (ca, cert, key) = (pki.ca(), pki.client_cert(), pki.client_key());
    let tls = json!({"certfile": cert, "keyfile": key, "ca_bundle": ca});

    let err = tls_error(json!({"target": target, "tls": tls}), &[]).await;
    let rustls_err = std::error::Error::source(&err)
        .and_then(|s| s.downcast_ref::<rustls::Error>())
        .expect("the rustls::Error is the source");
    assert!(
        matches!(rustls_err, rustls::Error::InvalidCertificate(_)),
        "{rustls_err:?}"
    );
    let msg = err.to_string();
    for wanted in [
        "not valid for the host `127.0.0.1` in `plugins[Scrubber].grpc.target`",
        "(1) set YAML key `plugins[Scrubber].grpc.tls.server_name` to a name the certificate \
         carries, such as `localhost`",
        "PLUGINS_GRPC_CLIENT_MTLS_SERVER_NAME is not read for an entry with `grpc.tls`",
        &format!("such as `localhost:{port}`"),
        "--san IP:127.0.0.1",
    ] {
        assert!(msg.contains(wanted), "missing {wanted:?}: {msg}");
    }
    for wrong in ["check_hostname", "PLUGINS_CLIENT_MTLS_", "https://", "/mcp"] {
        assert!(!msg.contains(wrong), "names {wrong:?}: {msg}");
    }

    // The identity from the variables (no `grpc.tls`): the variable is the place to set.
    let vars = [
        ("PLUGINS_GRPC_CLIENT_MTLS_CA_BUNDLE", ca.as_str()),
        ("PLUGINS_GRPC_CLIENT_MTLS_CERTFILE", cert.as_str()),
        ("PLUGINS_GRPC_CLIENT_MTLS_KEYFILE", key.as_str()),
    ];
    let msg = tls_error(json!({"target": target}), &vars)
        .await
        .to_string();
    assert!(
        msg.contains(
            "(1) set environment variable PLUGINS_GRPC_CLIENT_MTLS_SERVER_NAME to a name the \
             certificate carries, such as `localhost`"
        ),
        "{msg}"
    );
    assert!(
        !msg.contains("YAML key") && !msg.contains("check_hostname"),
        "{msg}"
    );

    // Fix 1, in each place: the pinned name.
    let mut pinned = tls.clone();
    pinned["server_name"] = json!("localhost");
    works(json!({"target": target, "tls": pinned}), &[]).await;
    let with_name = [
        &vars[..],
        &[("PLUGINS_GRPC_CLIENT_MTLS_SERVER_NAME", "localhost")],
    ]
    .concat();
    works(json!({"target": target}), &with_name).await;
    // Fix 2: a target host the certificate names.
    works(
        json!({"target": format!("localhost:{port}"), "tls": tls}),
        &[],
    )
    .await;
    server.stop().await;
}

/// A TLS entry at a plaintext gRPC port: rustls reads the server's HTTP/2 SETTINGS frame as a
/// record of no known type ("InvalidContentType"); the message says the server answered
/// without TLS and to drop `grpc.tls` (or unset the variables that turned TLS on), and calling
/// it without TLS works.
#[tokio::test]
async fn a_tls_entry_at_a_plaintext_port_is_told_the_server_answered_without_tls() {
    install_crypto();
    let server = Grpc::start(None).await;
    let target = format!("127.0.0.1:{}", server.port);

    let err = tls_error(json!({"target": target, "tls": {"verify": false}}), &[]).await;
    let rustls_err = std::error::Error::source(&err)
        .and_then(|s| s.downcast_ref::<rustls::Error>())
        .expect("the rustls::Error is the source");
    assert_eq!(
        rustls_err,
        &rustls::Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType)
    );
    let msg = err.to_string();
    for wanted in [
        "the server answered without TLS (plaintext HTTP/2",
        "drop `plugins[Scrubber].grpc.tls` from the entry",
        "`plugwire health` takes grpc://",
    ] {
        assert!(msg.contains(wanted), "missing {wanted:?}: {msg}");
    }
    assert!(!msg.contains("corrupt message"), "{msg}");

    // TLS turned on by a variable (no `grpc.tls`): unsetting the variables is the fix.
    let vars = [("PLUGINS_GRPC_CLIENT_MTLS_VERIFY", "false")];
    let msg = tls_error(json!({"target": target}), &vars)
        .await
        .to_string();
    assert!(
        msg.contains("the server answered without TLS")
            && msg.contains("unset the PLUGINS_GRPC_CLIENT_MTLS_* variables"),
        "{msg}"
    );
    assert!(!msg.contains("drop `"), "{msg}");

    // The fix: no TLS.
    works(json!({"target": target}), &[]).await;
    server.stop().await;
}

/// A target without a port (or with a scheme) is refused when the entry is built, naming
/// `grpc.target`, instead of being tried four times as an unreachable server.
#[test]
fn a_target_that_is_not_host_port_is_refused_when_the_entry_is_built() {
    for (target, words) in [
        ("localhost", "has no port"),
        ("localhost:", "is not a number from 1 to 65535"),
        ("localhost:http", "is not a number from 1 to 65535"),
        ("grpc://localhost:50051", "has a scheme"),
        ("::1:50051", "in brackets"),
    ] {
        let err =
            ExternalPlugin::new(grpc_entry(json!({"target": target})), &options(&[])).unwrap_err();
        assert!(err.is_config(), "{target}: {err}");
        let msg = err.to_string();
        assert!(
            msg.contains("key `grpc.target`") && msg.contains(words),
            "{target}: {msg}"
        );
    }
    for target in ["localhost:50051", "[::1]:50051", "127.0.0.1:1"] {
        let built = ExternalPlugin::new(grpc_entry(json!({"target": target})), &options(&[]));
        assert!(built.is_ok(), "{target}: {:?}", built.err());
    }
}

/// A config whose external entry cannot be built (a TLS file that does not exist) reads as
/// `FILE: external plugin 'X': ...` naming the entry's own key: the framework's
/// `plugin 'X': key `config`: ` (meant for a built-in plugin's `config:`) is not put before it.
/// Other build errors keep the framework's sentence.
#[test]
fn a_build_error_of_an_external_entry_names_its_own_key_not_config() {
    let yaml = r#"
plugins:
  - name: Scrubber
    kind: external
    hooks: [tool_pre_invoke]
    grpc:
      target: localhost:50051
      tls: {certfile: /nonexistent/client.crt, keyfile: /nonexistent/client.key}
"#;
    let config = Config::load_str(yaml, "gateway.yaml", &plugwire_framework::EmptyEnv).unwrap();
    let mut registry = PluginRegistry::new();
    plugwire_client::register_external_with(&mut registry, options(&[]));
    let err = PluginManager::new(config, &registry).unwrap_err();
    let framework = err.to_string();
    assert!(
        framework.contains("key `config`"),
        "the framework's own sentence: {framework}"
    );
    let line = plugwire_client::describe_build_error(&err);
    assert!(
        line.starts_with("gateway.yaml: external plugin 'Scrubber': TLS settings for grpcs://"),
        "{line}"
    );
    assert!(
        line.contains("YAML key `plugins[Scrubber].grpc.tls.certfile`")
            && line.contains("/nonexistent/client.crt"),
        "{line}"
    );
    assert!(!line.contains("key `config`"), "{line}");

    // A built-in plugin's constructor error keeps the framework's sentence.
    let yaml = r#"
plugins:
  - name: Broken
    kind: tests.Broken
    hooks: [tool_pre_invoke]
    config: {}
"#;
    let config = Config::load_str(yaml, "gateway.yaml", &plugwire_framework::EmptyEnv).unwrap();
    let mut registry = PluginRegistry::new();
    registry.register(&["tests.Broken"], |config| {
        Err(plugwire_framework::PluginError::plugin(
            &config.name,
            "bad words",
        ))
    });
    let err = PluginManager::new(config, &registry).unwrap_err();
    assert_eq!(plugwire_client::describe_build_error(&err), err.to_string());
    assert!(
        err.to_string()
            .contains("plugin 'Broken': key `config`: bad words"),
        "{err}"
    );
}
