//! Start-up: settings precedence as `plugwire serve` applies it, and every bad-input case
//! failing before anything is served, with the setting named. Env comes from a HashMap, never
//! from the process environment.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::path::Path;

use plugwire_certs::{issue_all, Layout, Options};
use plugwire_framework::{MCPServerConfig, MCPServerTLSConfig, McpServerTlsKeys, TlsFiles};
use plugwire_server::serve::{self, MainListener, ServeOptions};
use plugwire_server::ServerError;

fn env(pairs: &[(&'static str, &'static str)]) -> HashMap<&'static str, &'static str> {
    pairs.iter().copied().collect()
}

fn tls_yaml(l: &Layout, reqs: Option<i64>, ca: bool) -> MCPServerConfig {
    let p = l.plugin("alpha");
    MCPServerConfig {
        host: Some("127.0.0.1".into()),
        port: Some(9000),
        uds: None,
        tls: Some(MCPServerTLSConfig {
            files: TlsFiles {
                certfile: Some(p.cert.display().to_string()),
                keyfile: Some(p.key.display().to_string()),
                ca_bundle: ca.then(|| l.ca_cert().display().to_string()),
                ..Default::default()
            },
            own: McpServerTlsKeys {
                ssl_cert_reqs: reqs,
                ..Default::default()
            },
        }),
        limits: None,
    }
}

fn certs(dir: &Path) -> Layout {
    issue_all(dir, &["alpha", "beta"], &Options::ecdsa()).unwrap();
    Layout::new(dir)
}

#[test]
fn env_wins_field_by_field() {
    let dir = tempfile::tempdir().unwrap();
    let l = certs(dir.path());
    let yaml = tls_yaml(&l, Some(2), true);

    let p = serve::prepare(Some(&yaml), &env(&[])).unwrap();
    assert_eq!(p.settings.port, 9000);
    assert!(p.tls.is_some());

    let p = serve::prepare(
        Some(&yaml),
        &env(&[
            ("PLUGINS_SERVER_PORT", "9100"),
            ("PLUGINS_SERVER_HOST", "0.0.0.0"),
        ]),
    )
    .unwrap();
    assert_eq!(
        (p.settings.host.as_str(), p.settings.port),
        ("0.0.0.0", 9100)
    );
    assert!(p.tls.is_some(), "TLS from the YAML stays on");

    let p = serve::prepare(
        Some(&yaml),
        &env(&[("PLUGINS_SERVER_SSL_ENABLED", "false")]),
    )
    .unwrap();
    assert!(
        p.tls.is_none(),
        "SSL_ENABLED=false turns the YAML's TLS off"
    );

    let p = serve::prepare(None, &env(&[])).unwrap();
    assert_eq!(
        (p.settings.host.as_str(), p.settings.port),
        ("127.0.0.1", 8000)
    );
    assert!(p.tls.is_none());
}

#[test]
fn bad_tls_input_fails_with_the_setting_named() {
    let dir = tempfile::tempdir().unwrap();
    let l = certs(dir.path());

    let err = serve::prepare(Some(&tls_yaml(&l, Some(2), false)), &env(&[])).unwrap_err();
    assert!(
        err.to_string().contains("PLUGINS_SERVER_SSL_CA_CERTS"),
        "{err}"
    );

    // A key that belongs to another certificate.
    let mut yaml = tls_yaml(&l, Some(0), false);
    yaml.tls.as_mut().unwrap().files.keyfile = Some(l.plugin("beta").key.display().to_string());
    let err = serve::prepare(Some(&yaml), &env(&[])).unwrap_err();
    assert!(matches!(err, ServerError::Tls(_)), "{err}");
    assert!(err.to_string().contains("does not belong"), "{err}");

    // An unreadable certificate file.
    let mut yaml = tls_yaml(&l, Some(0), false);
    yaml.tls.as_mut().unwrap().files.certfile =
        Some(dir.path().join("missing.crt").display().to_string());
    let err = serve::prepare(Some(&yaml), &env(&[])).unwrap_err();
    assert!(err.to_string().contains("missing.crt"), "{err}");

    // TLS enabled from env with no files anywhere.
    let err = serve::prepare(None, &env(&[("PLUGINS_SERVER_SSL_ENABLED", "1")])).unwrap_err();
    assert!(
        err.to_string().contains("PLUGINS_SERVER_SSL_CERTFILE"),
        "{err}"
    );

    // With TLS on the health port is port + 1000: it must fit.
    let err = serve::prepare(
        Some(&tls_yaml(&l, Some(2), true)),
        &env(&[("PLUGINS_SERVER_PORT", "65000")]),
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            ServerError::HealthPortOutOfRange {
                health_port: 66000,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("PLUGINS_SERVER_PORT"), "{err}");

    // UDS and TLS together.
    let sock = dir.path().join("p.sock").display().to_string();
    let mut yaml = tls_yaml(&l, Some(0), false);
    yaml.uds = Some(sock);
    let err = serve::prepare(Some(&yaml), &env(&[])).unwrap_err();
    assert!(err.to_string().contains("Unix"), "{err}");
}

#[tokio::test]
async fn port_in_use_is_reported_before_serving() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let port: &'static str = Box::leak(port.into_boxed_str());
    let p = serve::prepare(None, &env(&[("PLUGINS_SERVER_PORT", port)])).unwrap();
    let err = serve::bind(&p).unwrap_err();
    assert!(matches!(err, ServerError::PortInUse { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("already in use") && text.contains("PLUGINS_SERVER_PORT"),
        "{text}"
    );
}

#[tokio::test]
async fn unix_socket_binding_rules() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("p.sock");
    let yaml = MCPServerConfig {
        uds: Some(sock.display().to_string()),
        ..Default::default()
    };
    let p = serve::prepare(Some(&yaml), &env(&[])).unwrap();

    // A live server on the path: refused.
    let live = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    let err = serve::bind(&p).unwrap_err();
    assert!(matches!(err, ServerError::UdsInUse { .. }), "{err}");
    drop(live);

    // A stale socket file (its server is gone): replaced.
    let bound = serve::bind(&p).unwrap();
    assert!(matches!(bound.main, MainListener::Unix { .. }));
    assert!(bound.describe().contains("http+unix://"));
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let backend: std::sync::Arc<dyn plugwire_server::Backend> = std::sync::Arc::new(NoPlugins);
    let server = tokio::spawn(async move {
        bound
            .serve(backend, &ServeOptions::default(), async move {
                let _ = rx.await;
            })
            .await
    });
    tokio::task::yield_now().await;
    let _ = tx.send(());
    server.await.unwrap();
    assert!(!sock.exists(), "removed on shutdown");

    // A regular file at the path: never replaced.
    std::fs::write(&sock, "data").unwrap();
    let err = serve::bind(&p).unwrap_err();
    assert!(matches!(err, ServerError::UdsNotSocket { .. }), "{err}");
    assert_eq!(std::fs::read_to_string(&sock).unwrap(), "data");
}

struct NoPlugins;

#[async_trait::async_trait]
impl plugwire_server::Backend for NoPlugins {
    fn plugin_configs(&self) -> Vec<serde_json::Value> {
        Vec::new()
    }
    async fn invoke_hook(
        &self,
        args: plugwire_mcp::RawInvokeHookArgs<'_>,
        out: &mut plugwire_mcp::TextResultWriter,
    ) {
        let answer =
            plugwire_mcp::InvokeHookResponse::failure_message(&args.plugin_name, "no plugins");
        out.push_str(&answer.to_text());
    }
}

#[test]
fn serve_options_precedence_and_validation() {
    let o = ServeOptions::resolve(&env(&[]), None, &[]).unwrap();
    assert_eq!(o.max_body_bytes, 16 * 1024 * 1024);
    assert!(o.allowed_hosts.is_empty());

    let e = env(&[
        ("PLUGINS_SERVER_MAX_BODY_BYTES", "2048"),
        ("PLUGINS_SERVER_ALLOWED_HOSTS", " a.svc , b:8000 ,,"),
    ]);
    let o = ServeOptions::resolve(&e, None, &[]).unwrap();
    assert_eq!(o.max_body_bytes, 2048);
    assert_eq!(o.allowed_hosts, ["a.svc", "b:8000"]);
    let o = ServeOptions::resolve(&e, Some(4096), &["c".to_string()]).unwrap();
    assert_eq!(o.max_body_bytes, 4096, "the flag wins");
    assert_eq!(o.allowed_hosts, ["c"]);

    let err = ServeOptions::resolve(&env(&[("PLUGINS_SERVER_MAX_BODY_BYTES", "10")]), None, &[])
        .unwrap_err();
    assert!(
        err.to_string().contains("PLUGINS_SERVER_MAX_BODY_BYTES"),
        "{err}"
    );
    let err = ServeOptions::resolve(&env(&[]), Some(1), &[]).unwrap_err();
    assert!(err.to_string().contains("--max-body-bytes"), "{err}");
}

#[test]
fn transport_is_explicit() {
    fn stdio(flag: bool, e: &[(&'static str, &'static str)]) -> bool {
        plugwire_server::resolve_transports(flag, None, &env(e))
            .unwrap()
            .is_stdio()
    }
    assert!(!stdio(false, &[]));
    assert!(stdio(true, &[]));
    assert!(stdio(false, &[("PLUGINS_TRANSPORT", "STDIO")]));
    assert!(!stdio(false, &[("PLUGINS_TRANSPORT", "http")]));
}
