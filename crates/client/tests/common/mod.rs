//! Shared test support: a small plugin, a plugwire server on 127.0.0.1:0 (plain, TLS, mTLS) or a
//! Unix socket, ECDSA certificates from plugwire-certs, and helpers to build client entries.
#![allow(dead_code)]

pub mod fake;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use plugwire_framework::{
    async_trait, Config, GlobalContext, HookPayload, HookType, Plugin, PluginConfig, PluginContext,
    PluginError, PluginManager, PluginRegistry, PluginResult, PluginViolation,
    ToolPreInvokePayload,
};
use plugwire_server::{App, ConnLimits, HostPolicy, ManagerBackend};
use serde_json::{json, Value};
use tokio::sync::oneshot;

/// Replaces "crap" with "crud" in tool args, blocks "forbidden", counts calls in `ctx.state`.
pub struct Scrubber {
    config: PluginConfig,
}

#[async_trait]
impl Plugin for Scrubber {
    fn config(&self) -> &PluginConfig {
        &self.config
    }

    async fn tool_pre_invoke(
        &self,
        mut payload: ToolPreInvokePayload,
        ctx: &mut PluginContext,
    ) -> Result<PluginResult, PluginError> {
        let n = ctx.get_state("calls").and_then(Value::as_i64).unwrap_or(0);
        ctx.set_state("calls", json!(n + 1));
        let text = serde_json::to_string(&payload.args).unwrap_or_default();
        if text.contains("boom") {
            return Err(PluginError::plugin(&self.config.name, "boom requested"));
        }
        if text.contains("forbidden") {
            return Ok(PluginResult::block(PluginViolation::new(
                "Prohibited content",
                "found a forbidden word",
                "PROHIBITED_CONTENT",
            )));
        }
        let scrubbed = text.replace("crap", "crud");
        payload.args = serde_json::from_str(&scrubbed).unwrap();
        Ok(PluginResult::modified(payload))
    }
}

pub fn registry() -> PluginRegistry {
    let mut r = PluginRegistry::new();
    r.register(&["tests.Scrubber"], |config| {
        Ok(Arc::new(Scrubber { config }) as Arc<dyn Plugin>)
    });
    r
}

pub const SERVER_YAML: &str = r#"
plugins:
  - name: Scrubber
    kind: tests.Scrubber
    hooks: [tool_pre_invoke]
    mode: enforce
    priority: 50
    config: {}
"#;

/// An initialized manager for the server side.
pub async fn server_manager() -> Arc<PluginManager> {
    let config =
        Config::load_str(SERVER_YAML, "server.yaml", &plugwire_framework::EmptyEnv).unwrap();
    let mut m = PluginManager::new(config, &registry()).unwrap();
    m.initialize().await.unwrap();
    Arc::new(m)
}

/// A running plugwire server; dropping `stop` (or sending) shuts it down.
pub struct Server {
    pub addr: Option<SocketAddr>,
    pub socket: Option<PathBuf>,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Server {
    pub fn port(&self) -> u16 {
        self.addr.unwrap().port()
    }
    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        let _ = self.task.await;
    }
}

/// A server task of a transport test (gRPC or the raw socket), stopped by [`Running::stop`]:
/// the stop signal, then the task's end within a bound (a hung drain fails the test).
pub struct Running {
    pub stop: oneshot::Sender<()>,
    pub task: tokio::task::JoinHandle<()>,
}

impl Running {
    pub async fn stop(self) {
        let _ = self.stop.send(());
        tokio::time::timeout(std::time::Duration::from_secs(20), self.task)
            .await
            .expect("server did not stop")
            .unwrap();
    }
}

fn app(manager: Arc<PluginManager>) -> Arc<App> {
    Arc::new(App {
        backend: Arc::new(ManagerBackend::new(manager)),
        max_body_bytes: plugwire_server::DEFAULT_MAX_BODY_BYTES,
        host_policy: HostPolicy::new(true, &[]),
    })
}

fn limits() -> ConnLimits {
    ConnLimits {
        drain_timeout: std::time::Duration::from_millis(200),
        ..ConnLimits::default()
    }
}

/// Serves on an already bound listener (tests that restart on the same port bind it themselves).
pub async fn serve_on(
    listener: tokio::net::TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
) -> Server {
    let addr = listener.local_addr().unwrap();
    let manager = server_manager().await;
    let (tx, rx) = oneshot::channel::<()>();
    let tls = tls.map(plugwire_server::TlsSource::Fixed);
    let task = tokio::spawn(async move {
        plugwire_server::serve_tcp(listener, app(manager), tls, limits(), async {
            let _ = rx.await;
        })
        .await;
    });
    Server {
        addr: Some(addr),
        socket: None,
        stop: Some(tx),
        task,
    }
}

pub async fn start_tcp(tls: Option<Arc<rustls::ServerConfig>>) -> Server {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    serve_on(listener, tls).await
}

pub async fn start_unix(dir: &Path) -> Server {
    let path = dir.join("plugin.sock");
    let listener = tokio::net::UnixListener::bind(&path).unwrap();
    let manager = server_manager().await;
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        plugwire_server::serve_unix(listener, app(manager), limits(), async {
            let _ = rx.await;
        })
        .await;
    });
    Server {
        addr: None,
        socket: Some(path),
        stop: Some(tx),
        task,
    }
}

/// ECDSA test PKI: CA, gateway (client) and the plugin `scrubber` with an extra IP SAN.
pub struct Pki {
    pub dir: tempfile::TempDir,
    pub layout: plugwire_certs::Layout,
}

impl Pki {
    pub fn new() -> Self {
        Self::with(plugwire_certs::Options::ecdsa().with_sans(&["IP:127.0.0.1"]))
    }
    pub fn with(options: plugwire_certs::Options) -> Self {
        let dir = tempfile::tempdir().unwrap();
        plugwire_certs::issue_all(dir.path(), &["scrubber"], &options).unwrap();
        let layout = plugwire_certs::Layout::new(dir.path());
        Pki { dir, layout }
    }
    pub fn ca(&self) -> String {
        self.layout.ca_cert().display().to_string()
    }
    pub fn client_cert(&self) -> String {
        self.layout.gateway().cert.display().to_string()
    }
    pub fn client_key(&self) -> String {
        self.layout.gateway().key.display().to_string()
    }

    /// A rustls server config for the plugin identity; client certs required when `mtls`.
    pub fn server_config(&self, mtls: bool) -> Arc<rustls::ServerConfig> {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let p = self.layout.plugin("scrubber");
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&p.cert)
            .unwrap()
            .map(|c| c.unwrap())
            .collect();
        let key = PrivateKeyDer::from_pem_file(&p.key).unwrap();
        let builder = rustls::ServerConfig::builder();
        let builder = if mtls {
            let mut roots = rustls::RootCertStore::empty();
            for c in CertificateDer::pem_file_iter(self.layout.ca_cert()).unwrap() {
                roots.add(c.unwrap()).unwrap();
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder(Arc::new(roots))
                .build()
                .unwrap();
            builder.with_client_cert_verifier(verifier)
        } else {
            builder.with_no_client_auth()
        };
        let mut config = builder.with_single_cert(certs, key).unwrap();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Arc::new(config)
    }
}

/// A gateway-side entry for the Scrubber plugin.
pub fn entry(mcp: Value) -> PluginConfig {
    PluginConfig::from_json(json!({"name": "Scrubber", "kind": "external", "mcp": mcp})).unwrap()
}

pub fn tool_payload(q: &str) -> HookPayload {
    HookPayload::from_json(
        HookType::ToolPreInvoke,
        json!({"name": "search", "args": {"q": q}}),
    )
    .unwrap()
}

pub fn ctx(id: &str) -> PluginContext {
    PluginContext::new(GlobalContext::new(id))
}

/// An env source with only the given variables (the process env is never touched).
pub fn env(vars: &[(&str, &str)]) -> Arc<std::collections::HashMap<String, String>> {
    Arc::new(
        vars.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    )
}

pub fn install_crypto() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}
