//! Client certificate reload: the TLS material of an `https://` or TLS `grpc:` entry (client
//! certificate, key, CA bundle) is re-read when its files change, and new connections use the new material while
//! connections already open (and the calls in flight on them) keep what they started with.
//!
//! Changes are found by comparing file contents, not mtimes (a Kubernetes Secret volume swaps a
//! `..data` symlink, and cert-manager may rewrite files within the same second). The check runs
//! when a connection is about to be opened, at most every [`RELOAD_CHECK_INTERVAL`], so an idle
//! gateway reads nothing, and on demand through [`ClientIdentities::reload`] (an embedding
//! gateway calls it on SIGHUP or from its own file watcher). A half-written rotation (new
//! certificate, old key) fails to build: the old material stays in use and the failure is logged
//! once per file state, until the files change again. Every successful load records the
//! seconds until `notAfter` of the client certificate and the CA bundle
//! (`plugwire_certificate_expiry_seconds{role="client"|"ca"}`).

use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use plugwire_metrics::{CertRole, ClientMetrics};
use plugwire_tls::rustls::ClientConfig;
use plugwire_tls::{ClientTlsFiles, ClientTlsSettings, LoadedClientTls, TlsError};
use tokio_rustls::TlsConnector;

/// How often, at most, the files are compared before opening a connection.
pub const RELOAD_CHECK_INTERVAL: Duration = Duration::from_secs(10);

/// Contents of the certificate, key, CA and CRL files (`None`: not configured or unreadable),
/// each read once per check: the same bytes are compared and loaded.
type Fingerprint = Vec<Option<Vec<u8>>>;

#[derive(Debug)]
struct State {
    /// What the connector in use was built from.
    loaded: Fingerprint,
    /// The last contents that failed to build (logged once).
    failed: Option<Fingerprint>,
    last_check: Instant,
}

/// The TLS connector of one endpoint, swapped when its files change.
pub struct ReloadingConnector {
    plugin: String,
    settings: Arc<ClientTlsSettings>,
    alpn: Alpn,
    current: ArcSwap<TlsConnector>,
    state: Mutex<State>,
}

impl std::fmt::Debug for ReloadingConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReloadingConnector")
            .field("plugin", &self.plugin)
            .field("certfile", &self.settings.certfile)
            .field("ca_bundle", &self.settings.ca_bundle)
            .finish_non_exhaustive()
    }
}

/// Reads the files once: what to compare, and (when they differ) what to load.
fn read(s: &ClientTlsSettings) -> (Fingerprint, Result<ClientTlsFiles, TlsError>) {
    let files = ClientTlsFiles::read(s);
    let print = files
        .as_ref()
        .map(ClientTlsFiles::fingerprint)
        .unwrap_or_default();
    (print, files)
}

/// Loads the files read and builds the client config from them.
fn load(
    s: &ClientTlsSettings,
    files: Result<ClientTlsFiles, TlsError>,
) -> Result<Arc<ClientConfig>, TlsError> {
    let loaded = LoadedClientTls::from_files(s, files?)?;
    plugwire_tls::build_client_config_from(s, &loaded)
}

/// Which application protocol a connector offers in the handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alpn {
    /// None (Streamable HTTP on HTTP/1.1).
    None,
    /// `h2` (gRPC).
    H2,
}

fn connector_for(config: Arc<ClientConfig>, alpn: Alpn) -> TlsConnector {
    match alpn {
        Alpn::None => TlsConnector::from(config),
        Alpn::H2 => {
            let mut config = (*config).clone();
            config.alpn_protocols = vec![b"h2".to_vec()];
            TlsConnector::from(Arc::new(config))
        }
    }
}

impl ReloadingConnector {
    /// Builds the first connector (no ALPN: Streamable HTTP); errors are the TLS crate's
    /// (naming the file, key or variable).
    pub fn new(plugin: &str, settings: Arc<ClientTlsSettings>) -> Result<Arc<Self>, TlsError> {
        Self::with_alpn(plugin, settings, Alpn::None)
    }

    /// Builds the first connector offering `alpn` (`h2` for gRPC); every reload keeps it.
    pub fn with_alpn(
        plugin: &str,
        settings: Arc<ClientTlsSettings>,
        alpn: Alpn,
    ) -> Result<Arc<Self>, TlsError> {
        let (print, files) = read(&settings);
        let config = load(&settings, files)?;
        let this = Self::assemble(plugin, settings, connector_for(config, alpn), alpn);
        this.record_expiry(&print);
        this.lock().loaded = print;
        Ok(Arc::new(this))
    }

    /// A connector over a config built elsewhere (an embedder's, a test's): there are no files
    /// to compare, so it never reloads.
    pub fn fixed(plugin: &str, config: Arc<ClientConfig>, alpn: Alpn) -> Arc<Self> {
        let settings = Arc::new(ClientTlsSettings::default());
        let this = Self::assemble(plugin, settings, connector_for(config, alpn), alpn);
        this.lock().loaded = read(&this.settings).0;
        Arc::new(this)
    }

    fn assemble(
        plugin: &str,
        settings: Arc<ClientTlsSettings>,
        connector: TlsConnector,
        alpn: Alpn,
    ) -> Self {
        ReloadingConnector {
            plugin: plugin.to_string(),
            settings,
            alpn,
            current: ArcSwap::from_pointee(connector),
            state: Mutex::new(State {
                loaded: Vec::new(),
                failed: None,
                last_check: Instant::now(),
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        crate::relock(&self.state)
    }

    /// The resolved settings (for messages).
    pub fn settings(&self) -> &Arc<ClientTlsSettings> {
        &self.settings
    }

    /// The connector for a new connection, after comparing the files if the last check is
    /// older than [`RELOAD_CHECK_INTERVAL`].
    pub fn connector(&self) -> Arc<TlsConnector> {
        let due = {
            let mut s = self.lock();
            let due = s.last_check.elapsed() >= RELOAD_CHECK_INTERVAL;
            if due {
                s.last_check = Instant::now();
            }
            due
        };
        if due {
            // Logged inside; the old connector stays in use on failure.
            let _ = self.reload_if_changed();
        }
        self.current.load_full()
    }

    /// Re-reads the files; when their contents differ from what is in use, builds and swaps in
    /// a new connector. `Ok(true)`: swapped; `Ok(false)`: unchanged; `Err`: the new files do
    /// not build (the old connector stays).
    pub fn reload_if_changed(&self) -> Result<bool, String> {
        let (print, files) = read(&self.settings);
        {
            let s = self.lock();
            if s.loaded == print {
                return Ok(false);
            }
            if s.failed.as_ref() == Some(&print) {
                return Err(format!(
                    "plugin '{}': the changed TLS files still do not load",
                    self.plugin
                ));
            }
        }
        match load(&self.settings, files) {
            Ok(config) => {
                self.current
                    .store(Arc::new(connector_for(config, self.alpn)));
                self.record_expiry(&print);
                let mut s = self.lock();
                s.loaded = print;
                s.failed = None;
                tracing::info!(plugin = %self.plugin, certfile = ?self.settings.certfile, ca_bundle = ?self.settings.ca_bundle, "client TLS material reloaded; new connections use it");
                Ok(true)
            }
            Err(e) => {
                let message = format!("plugin '{}': {e}", self.plugin);
                tracing::error!(plugin = %self.plugin, error = %e, "client TLS files changed but do not load; the previous certificate stays in use");
                self.lock().failed = Some(print);
                Err(message)
            }
        }
    }

    /// Seconds until `notAfter` of the client certificate and of the CA bundle just loaded.
    fn record_expiry(&self, print: &Fingerprint) {
        let m = ClientMetrics::global();
        let files = [
            (CertRole::Client, &self.settings.certfile, print.first()),
            (CertRole::Ca, &self.settings.ca_bundle, print.get(2)),
        ];
        for (role, path, pem) in files {
            if let (Some(path), Some(Some(pem))) = (path, pem) {
                let shown = path.display().to_string();
                if let Err(e) = m.certificate_pem(role, &shown, pem) {
                    tracing::debug!(plugin = %self.plugin, file = %shown, error = %e, "no expiry metric for this file");
                }
            }
        }
    }
}

/// Every reloading connector built with one [`crate::ClientOptions`], so an embedding gateway
/// can reload them all at once.
#[derive(Debug, Default)]
pub struct ClientIdentities {
    list: Mutex<Vec<Weak<ReloadingConnector>>>,
}

impl ClientIdentities {
    /// An empty set.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    pub(crate) fn add(&self, c: &Arc<ReloadingConnector>) {
        let mut list = crate::relock(&self.list);
        list.retain(|w| w.strong_count() > 0);
        list.push(Arc::downgrade(c));
    }

    /// Re-reads the TLS files of every endpoint now. Returns how many swapped in new material;
    /// the errors of those whose new files do not load (they keep the old material).
    pub fn reload(&self) -> Result<usize, Vec<String>> {
        let live: Vec<Arc<ReloadingConnector>> = crate::relock(&self.list)
            .iter()
            .filter_map(Weak::upgrade)
            .collect();
        let (mut swapped, mut errors) = (0, Vec::new());
        for c in live {
            match c.reload_if_changed() {
                Ok(true) => swapped += 1,
                Ok(false) => {}
                Err(e) => errors.push(e),
            }
        }
        if errors.is_empty() {
            Ok(swapped)
        } else {
            Err(errors)
        }
    }

    /// Calls [`ClientIdentities::reload`] every `every` until `shutdown` resolves (for a gateway
    /// that wants the files polled even while no new connection is opened).
    pub async fn watch(
        self: Arc<Self>,
        every: Duration,
        shutdown: impl std::future::Future<Output = ()>,
    ) {
        tokio::pin!(shutdown);
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = &mut shutdown => return,
                _ = tick.tick() => {
                    // Failures are logged by each connector.
                    let _ = self.reload();
                }
            }
        }
    }
}
