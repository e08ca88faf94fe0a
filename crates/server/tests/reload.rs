//! Live reload under continuous mTLS calls: the plugins YAML (through the reload SIGHUP
//! triggers), a broken YAML (old config kept), the server certificate replaced in place and by
//! a Kubernetes-style `..data` symlink swap (the poll set to an hour, so only the directory
//! watcher can see it), and the CA bundle replaced. A client loop on 127.0.0.1:0 opens a new
//! mTLS connection per call throughout, and must count zero failures.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::reload::{mtls_connector, reloading_backend, search_replace_yaml};
use common::{invoke, Conn};
use plugwire_certs::{issue_all, Layout, Options};
use plugwire_framework::Config;
use plugwire_server::reload::{spawn_tls_watch, ConfigReloader};
use plugwire_server::{serve_tcp, App, Backend, ConnLimits, HostPolicy, TlsSource};
use plugwire_tls::{ClientCertPolicy, ReloadTrigger, ReloadableServerConfig, ServerTlsSettings};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use serde_json::json;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio_rustls::TlsConnector;

/// Two PKIs: `one` (CA, gateway, plugins alpha and beta) and `two` (another CA and gateway).
struct World {
    _dir: tempfile::TempDir,
    one: Layout,
    two: Layout,
    root: PathBuf,
}

fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let opts = Options::ecdsa().with_sans(&["IP:127.0.0.1"]);
    issue_all(dir.path().join("one"), &["alpha", "beta"], &opts).unwrap();
    issue_all(dir.path().join("two"), &["x"], &opts).unwrap();
    World {
        one: Layout::new(dir.path().join("one")),
        two: Layout::new(dir.path().join("two")),
        root: dir.path().to_path_buf(),
        _dir: dir,
    }
}

struct Server {
    addr: std::net::SocketAddr,
    reloader: Arc<ConfigReloader>,
    hup: mpsc::Sender<()>,
    stop: watch::Sender<bool>,
    handle: tokio::task::JoinHandle<()>,
}

/// A server as `plugwire serve` wires it: one swappable backend, the reloader fed by the
/// channel the SIGHUP handler writes to, the certificate watch with a one-hour poll.
async fn start(config: &Path, cert: &Path, key: &Path, ca: &Path) -> Server {
    let settings = ServerTlsSettings::new(
        cert,
        Some(key.to_path_buf()),
        Some(ca.to_path_buf()),
        ClientCertPolicy::Required,
    );
    let tls = Arc::new(ReloadableServerConfig::new(settings).unwrap());
    let loaded = Config::load(config, &plugwire_env::EmptyEnv).unwrap();
    let (swappable, reloader) = reloading_backend(config, loaded, &tls).await;
    let reloader = Arc::new(reloader);
    let (stop_tx, stop_rx) = watch::channel(false);
    let stop = move || {
        let mut rx = stop_rx.clone();
        async move {
            let _ = rx.wait_for(|v| *v).await;
        }
    };
    let (hup, signals) = mpsc::channel(1);
    tokio::spawn(Arc::clone(&reloader).run(signals, false, stop()));
    spawn_tls_watch(&tls, Duration::from_secs(3600), &stop);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = Arc::new(App {
        backend: swappable as Arc<dyn Backend>,
        max_body_bytes: plugwire_server::DEFAULT_MAX_BODY_BYTES,
        host_policy: HostPolicy::new(true, &[]),
    });
    let handle = tokio::spawn(serve_tcp(
        listener,
        app,
        Some(TlsSource::Reloadable(tls)),
        ConnLimits::default(),
        stop(),
    ));
    Server {
        addr,
        reloader,
        hup,
        stop: stop_tx,
        handle,
    }
}

impl Server {
    async fn shutdown(self) {
        let _ = self.stop.send(true);
        self.handle.await.unwrap();
    }
}

/// One call on a new connection: the replaced word, and the served certificate's DER.
async fn call(addr: std::net::SocketAddr, c: &TlsConnector) -> Result<(String, Vec<u8>), String> {
    let tcp = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let tls = c.connect(name, tcp).await.map_err(|e| e.to_string())?;
    let served = tls.get_ref().1.peer_certificates().unwrap()[0].to_vec();
    let mut conn = Conn::over(tls, &format!("localhost:{}", addr.port())).await;
    let body = invoke(
        1,
        "ReplaceBadWordsPlugin",
        "tool_pre_invoke",
        json!({"name": "t", "args": {"a": "crap"}}),
    );
    let reply = conn
        .send(
            http::Method::POST,
            "/mcp",
            &[
                ("content-type", "application/json"),
                ("accept", "application/json, text/event-stream"),
            ],
            serde_json::to_vec(&body).unwrap(),
        )
        .await
        .map_err(|e| e.to_string())?;
    if reply.status != http::StatusCode::OK {
        return Err(format!("HTTP {}", reply.status));
    }
    let answer = reply.hook_answer();
    let word = answer["result"]["modified_payload"]["args"]["a"]
        .as_str()
        .ok_or_else(|| format!("no modified payload: {answer}"))?;
    Ok((word.to_string(), served))
}

/// Calls without pause until stopped, counting successes and keeping every failure.
struct Load {
    done: Arc<AtomicBool>,
    ok: Arc<AtomicU64>,
    failures: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

fn load(addr: std::net::SocketAddr, c: TlsConnector) -> Load {
    let done = Arc::new(AtomicBool::new(false));
    let ok = Arc::new(AtomicU64::new(0));
    let failures = Arc::new(Mutex::new(Vec::new()));
    let (d, o, f) = (Arc::clone(&done), Arc::clone(&ok), Arc::clone(&failures));
    let task = tokio::spawn(async move {
        while !d.load(Ordering::SeqCst) {
            match call(addr, &c).await {
                Ok(_) => o.fetch_add(1, Ordering::SeqCst),
                Err(e) => {
                    f.lock().unwrap().push(e);
                    0
                }
            };
        }
    });
    Load {
        done,
        ok,
        failures,
        task,
    }
}

impl Load {
    /// Stops the loop; asserts it made calls and none failed.
    async fn finish(self) {
        self.done.store(true, Ordering::SeqCst);
        self.task.await.unwrap();
        let failures = self.failures.lock().unwrap();
        assert!(
            failures.is_empty(),
            "{} failed calls: {:?}",
            failures.len(),
            &failures[..failures.len().min(5)]
        );
        assert!(self.ok.load(Ordering::SeqCst) > 0, "no call made");
    }

    /// Waits until the loop has made `n` more calls (the load really ran across a reload).
    async fn more_calls(&self, n: u64) {
        let target = self.ok.load(Ordering::SeqCst) + n;
        eventually("more calls", || async {
            self.ok.load(Ordering::SeqCst) >= target
        })
        .await;
    }
}

/// Polls `cond` until it holds; fails after a generous deadline (no timing is asserted).
async fn eventually<F, Fut>(what: &str, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..3000 {
        if cond().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("never happened: {what}");
}

fn der(path: &Path) -> Vec<u8> {
    CertificateDer::from_pem_file(path).unwrap().to_vec()
}

/// Copies the CA and a plugin identity of `one` into `dir` as tls.crt / tls.key / ca.crt.
fn live_files(w: &World, dir: &Path, plugin: &str) -> (PathBuf, PathBuf, PathBuf) {
    std::fs::create_dir_all(dir).unwrap();
    let p = w.one.plugin(plugin);
    let (cert, key, ca) = (dir.join("tls.crt"), dir.join("tls.key"), dir.join("ca.crt"));
    std::fs::copy(&p.cert, &cert).unwrap();
    std::fs::copy(&p.key, &key).unwrap();
    std::fs::copy(w.one.ca_cert(), &ca).unwrap();
    (cert, key, ca)
}

fn gateway(l: &Layout, ca: &Path) -> TlsConnector {
    let g = l.gateway();
    mtls_connector(ca, &g.cert, &g.key)
}

/// The start of every reload test: the plugins config (`crud`) at `plugins.yaml`, a server on
/// `cert`/`key`/`ca` (plugin `alpha`'s identity) serving it, the first CA's gateway client, and
/// a continuous load with 5 calls through. Returns the config path, server, client and load.
async fn serving_under_load(
    w: &World,
    cert: &Path,
    key: &Path,
    ca: &Path,
) -> (PathBuf, Server, TlsConnector, Load) {
    let config = w.root.join("plugins.yaml");
    std::fs::write(&config, search_replace_yaml("crud")).unwrap();
    let server = start(&config, cert, key, ca).await;
    let client = gateway(&w.one, &w.one.ca_cert());
    let (replaced, served) = call(server.addr, &client).await.unwrap();
    assert_eq!(replaced, "crud");
    assert_eq!(served, der(&w.one.plugin("alpha").cert));
    let load = load(server.addr, client.clone());
    load.more_calls(5).await;
    (config, server, client, load)
}

#[tokio::test]
async fn plugins_config_reloads_under_load_and_a_broken_file_keeps_the_old_one() {
    let w = world();
    let (cert, key, ca) = live_files(&w, &w.root.join("live"), "alpha");
    let (config, server, client, load) = serving_under_load(&w, &cert, &key, &ca).await;

    // What SIGHUP does: a message on the reload channel.
    std::fs::write(&config, search_replace_yaml("nice")).unwrap();
    server.hup.send(()).await.unwrap();
    eventually("the new config answers", || async {
        call(server.addr, &client).await.unwrap().0 == "nice"
    })
    .await;
    assert_eq!(server.reloader.generation(), 2);
    load.more_calls(5).await;

    // A file that does not build (unknown kind): refused with the file and the reason, the
    // running config keeps answering.
    std::fs::write(
        &config,
        "plugins:\n  - name: Broken\n    kind: no.such.Kind\n    hooks: [tool_pre_invoke]\n",
    )
    .unwrap();
    let err = server
        .reloader
        .reload_all(ReloadTrigger::Signal)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains(&config.display().to_string()), "{err}");
    assert!(err.contains("no.such.Kind"), "{err}");
    // Not YAML at all: refused too.
    std::fs::write(&config, "plugins: [unclosed\n").unwrap();
    let err = server
        .reloader
        .reload_config(ReloadTrigger::Signal)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains(&config.display().to_string()), "{err}");
    assert_eq!(
        server.reloader.generation(),
        2,
        "failed reloads do not count"
    );
    load.more_calls(5).await;
    assert_eq!(call(server.addr, &client).await.unwrap().0, "nice");

    load.finish().await;
    server.shutdown().await;
}

#[tokio::test]
async fn certificate_replaced_in_place_is_seen_by_the_watcher() {
    let w = world();
    let (cert, key, ca) = live_files(&w, &w.root.join("live"), "alpha");
    let (_config, server, client, load) = serving_under_load(&w, &cert, &key, &ca).await;

    // Overwritten in place (as `plugwire certs ... --force` does); the poll is an hour away.
    let beta = w.one.plugin("beta");
    std::fs::copy(&beta.key, &key).unwrap();
    std::fs::copy(&beta.cert, &cert).unwrap();
    let want = der(&beta.cert);
    eventually("the new certificate is served", || async {
        call(server.addr, &client).await.unwrap().1 == want
    })
    .await;
    load.more_calls(5).await;

    // The CA bundle replaced by one with a second CA: its clients are accepted from then on,
    // the first CA's keep working.
    let other = gateway(&w.two, &w.one.ca_cert());
    assert!(
        call(server.addr, &other).await.is_err(),
        "the second CA is not trusted yet"
    );
    let mut bundle = std::fs::read(w.one.ca_cert()).unwrap();
    bundle.extend(std::fs::read(w.two.ca_cert()).unwrap());
    std::fs::write(&ca, bundle).unwrap();
    eventually("the second CA's client is accepted", || async {
        call(server.addr, &other).await.is_ok()
    })
    .await;
    load.more_calls(5).await;

    load.finish().await;
    server.shutdown().await;
}

#[tokio::test]
async fn certificate_swapped_by_a_kubernetes_symlink_is_seen_by_the_watcher() {
    let w = world();
    // A mounted Secret: tls.crt -> ..data/tls.crt, ..data -> ..v1.
    let secret = w.root.join("secret");
    live_files(&w, &secret.join("..v1"), "alpha");
    std::os::unix::fs::symlink("..v1", secret.join("..data")).unwrap();
    for f in ["tls.crt", "tls.key", "ca.crt"] {
        std::os::unix::fs::symlink(format!("..data/{f}"), secret.join(f)).unwrap();
    }
    let (cert, key, ca) = (
        secret.join("tls.crt"),
        secret.join("tls.key"),
        secret.join("ca.crt"),
    );
    let (_config, server, client, load) = serving_under_load(&w, &cert, &key, &ca).await;

    // The kubelet's update: a new directory, a new symlink renamed over ..data.
    live_files(&w, &secret.join("..v2"), "beta");
    std::os::unix::fs::symlink("..v2", secret.join("..data_tmp")).unwrap();
    std::fs::rename(secret.join("..data_tmp"), secret.join("..data")).unwrap();
    let want = der(&w.one.plugin("beta").cert);
    eventually("the swapped certificate is served", || async {
        call(server.addr, &client).await.unwrap().1 == want
    })
    .await;
    load.more_calls(5).await;

    load.finish().await;
    server.shutdown().await;
}
