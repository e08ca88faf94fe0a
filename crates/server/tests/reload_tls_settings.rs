//! A plugins-config reload applies `server_settings.tls` without a restart: a new
//! `allowed_clients` lets the newly listed client in and refuses the removed one in the
//! handshake; a reload whose TLS settings do not load fails and keeps the old list in use.
#![allow(clippy::unwrap_used)]

mod common;
// The TLS crate's rcgen test PKI (files in a tempdir; here the files are the point: the YAML
// names them).
#[path = "../../tls/tests/common/mod.rs"]
mod pki;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use common::reload::{mtls_connector, reloading_backend, search_replace_yaml};
use common::Conn;
use pki::{p, Pki, Validity, CLIENT_AUTH};
use plugwire_framework::Config;
use plugwire_server::reload::ConfigReloader;
use plugwire_server::{serve_tcp, App, Backend, ConnLimits, HostPolicy};
use plugwire_tls::ReloadTrigger;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_rustls::TlsConnector;

/// The plugins YAML with TLS on the MCP port, allowing `allowed` only.
fn yaml(server: &(PathBuf, PathBuf), ca: &Path, allowed: &str) -> String {
    format!(
        r#"
server_settings:
  tls:
    certfile: {}
    keyfile: {}
    ca_bundle: {}
    ssl_cert_reqs: 2
    allowed_clients: [{allowed}]
{}"#,
        p(&server.0),
        p(&server.1),
        p(ca),
        search_replace_yaml("yikes"),
    )
}

/// `GET /health` on a new mTLS connection: `Ok` with the status, or why it failed (a client
/// refused in the handshake learns it at connect or at its first request, by TLS version).
async fn health(addr: SocketAddr, c: &TlsConnector) -> Result<u16, String> {
    let tcp = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let tls = c.connect(name, tcp).await.map_err(|e| e.to_string())?;
    let mut conn = Conn::over(tls, &format!("localhost:{}", addr.port())).await;
    conn.send(http::Method::GET, "/health", &[], Vec::new())
        .await
        .map(|r| r.status.as_u16())
        .map_err(|e| e.to_string())
}

/// The server of `config` as `plugwire serve` runs it, on 127.0.0.1:0.
struct Served {
    addr: SocketAddr,
    reloader: ConfigReloader,
    stop: watch::Sender<bool>,
    handle: tokio::task::JoinHandle<()>,
}

async fn serve(config: &Path) -> Served {
    // Wired as `plugwire serve` wires it: prepare (resolve, load, build), one swappable
    // backend, the reloader holding the listener's reloadable TLS.
    let env = plugwire_env::EmptyEnv;
    let loaded = Config::load(config, &env).unwrap();
    let prepared = plugwire_server::serve::prepare(loaded.server_settings.as_ref(), &env).unwrap();
    let tls = prepared.reloadable_tls().unwrap();
    let (swappable, reloader) = reloading_backend(config, loaded, &tls).await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = Arc::new(App {
        backend: swappable as Arc<dyn Backend>,
        max_body_bytes: plugwire_server::DEFAULT_MAX_BODY_BYTES,
        host_policy: HostPolicy::new(true, &[]),
    });
    let (stop, stopped) = watch::channel(false);
    let handle = tokio::spawn(serve_tcp(
        listener,
        app,
        prepared.tls.clone(),
        ConnLimits::default(),
        async move {
            let mut rx = stopped;
            let _ = rx.wait_for(|v| *v).await;
        },
    ));
    Served {
        addr,
        reloader,
        stop,
        handle,
    }
}

#[tokio::test]
async fn reloaded_allow_list_admits_the_new_client_and_refuses_the_removed_one() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path(), "main");
    let server = pki.server("plugin");
    let alice = pki.leaf(
        "alice",
        "alice",
        &["alice.internal"],
        CLIENT_AUTH,
        Validity::Now,
    );
    let bob = pki.leaf("bob", "bob", &["bob.internal"], CLIENT_AUTH, Validity::Now);
    let config = dir.path().join("plugins.yaml");
    std::fs::write(&config, yaml(&server, &pki.ca_crt, "alice.internal")).unwrap();

    let served = serve(&config).await;
    let (addr, reloader) = (served.addr, &served.reloader);
    let (as_alice, as_bob) = (
        mtls_connector(&pki.ca_crt, &alice.0, &alice.1),
        mtls_connector(&pki.ca_crt, &bob.0, &bob.1),
    );

    assert_eq!(
        health(addr, &as_alice).await,
        Ok(200),
        "alice is on the list"
    );
    assert!(
        health(addr, &as_bob).await.is_err(),
        "bob is not on the list"
    );

    // The operator swaps the list: bob in, alice out; the config reload applies it.
    std::fs::write(&config, yaml(&server, &pki.ca_crt, "bob.internal")).unwrap();
    reloader.reload_config(ReloadTrigger::Signal).await.unwrap();
    assert_eq!(
        health(addr, &as_bob).await,
        Ok(200),
        "bob is on the new list"
    );
    let refused = health(addr, &as_alice).await;
    assert!(refused.is_err(), "alice was removed: {refused:?}");

    // A list entry that cannot match anything: the reload fails and the old list stays.
    std::fs::write(&config, yaml(&server, &pki.ca_crt, "\"spiffe://\"")).unwrap();
    let err = reloader.reload_config(ReloadTrigger::Signal).await;
    let err = err
        .expect_err("a malformed SPIFFE ID is refused")
        .to_string();
    assert!(err.contains("allowed_clients"), "{err}");
    assert_eq!(health(addr, &as_bob).await, Ok(200), "the old list stays");
    assert!(health(addr, &as_alice).await.is_err(), "the old list stays");

    // A CA bundle that does not exist: refused when loaded, the old TLS stays.
    let missing = dir.path().join("nope.crt");
    std::fs::write(&config, yaml(&server, &missing, "alice.internal")).unwrap();
    let err = reloader.reload_config(ReloadTrigger::Signal).await;
    let err = err.expect_err("a missing CA bundle is refused").to_string();
    assert!(err.contains("nope.crt"), "{err}");
    assert_eq!(health(addr, &as_bob).await, Ok(200), "the old TLS stays");

    let _ = served.stop.send(true);
    served.handle.await.unwrap();
}
