//! Start-up: settings → TLS config → bound sockets → serving.
//!
//! Every check that can fail (settings, TLS files, key/cert match, port range, host resolution,
//! port in use, Unix socket in use) runs in [`prepare`] and [`bind`], before anything is
//! accepted, so a misconfigured server exits with one clear message instead of half-starting.
//!
//! A process with several listeners (`plugwire serve --transport http,grpc,unix`) runs in two
//! phases. The check phase resolves every listener's settings ([`prepare`] here, the gRPC and
//! raw-socket ones in the CLI), then [`check_listeners`] over all of their [`Claim`]s: no two
//! listeners of the process on one address, and no socket path that is a live socket or not a
//! socket at all. Only then is anything bound; a bind that still fails (a port another process
//! holds, a directory the process may not write to) drops what was bound before it, and each
//! Unix socket file is a [`SocketFile`] that removes itself on drop: no socket file of the failed
//! process remains, and nothing was served.

use std::future::Future;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use plugwire_env::Env;
use plugwire_framework::{GrpcServerConfig, MCPServerConfig, TlsFiles};
use plugwire_tls::{CertificateStatus, ClientCertPolicy, ReloadableServerConfig, ServerTlsLayer};
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::watch;

use crate::backend::Backend;
use crate::error::ServerError;
use crate::host::HostPolicy;
use crate::http::{App, DEFAULT_MAX_BODY_BYTES};
use crate::listen::{serve_health, serve_tcp, serve_unix, ConnLimits, TlsSource};
use crate::raw_socket::SocketFile;
use crate::settings::{resolve_server_settings, ServerSettings, ServerSettingsLayer};
use crate::transport::GrpcServerLayer;

/// Every variable name, from the one list (`plugwire_env::vars`).
pub use crate::claims::{check_listeners, named, Claim, ListenAddr};
pub use plugwire_env::vars;

/// Offset of the plain health port when TLS is on (as the Python runtime).
pub const HEALTH_PORT_OFFSET: u16 = 1000;

/// Options that are not part of `server_settings`.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Request body (and stdio line) limit.
    pub max_body_bytes: usize,
    /// Extra Host names (docs/decisions.md #10).
    pub allowed_hosts: Vec<String>,
    /// Timeouts.
    pub limits: ConnLimits,
    /// How often the certificate, key and CA files are re-read in case the directory watcher
    /// missed a change (file systems without change events); changed files are used for new
    /// connections (cert-manager renewals, `plugwire certs ... --force`) without a restart.
    pub cert_reload_interval: Duration,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            allowed_hosts: Vec::new(),
            limits: ConnLimits::default(),
            cert_reload_interval: Duration::from_secs(10),
        }
    }
}

impl ServeOptions {
    /// Command-line values win over the environment, which wins over the defaults.
    pub fn resolve(
        env: &dyn Env,
        cli_max_body: Option<u64>,
        cli_allowed_hosts: &[String],
    ) -> Result<Self, ServerError> {
        Self::resolve_with(None, env, cli_max_body, cli_allowed_hosts)
    }

    /// [`ServeOptions::resolve`] with `server_settings.limits` of `yaml` under the variables.
    pub fn resolve_with(
        yaml: Option<&MCPServerConfig>,
        env: &dyn Env,
        cli_max_body: Option<u64>,
        cli_allowed_hosts: &[String],
    ) -> Result<Self, ServerError> {
        let yaml_limits = yaml.and_then(|y| y.limits.as_ref());
        let mut o = ServeOptions {
            limits: crate::limits::resolve_limits_with(yaml_limits, env)?,
            ..ServeOptions::default()
        };
        let max = match cli_max_body {
            Some(n) => Some(("--max-body-bytes".to_string(), n.to_string())),
            None => env
                .get(vars::PLUGINS_SERVER_MAX_BODY_BYTES)
                .map(|v| (vars::PLUGINS_SERVER_MAX_BODY_BYTES.to_string(), v)),
        };
        if let Some((setting, value)) = max {
            o.max_body_bytes = value
                .trim()
                .parse::<usize>()
                .ok()
                .filter(|n| *n >= 1024)
                .ok_or_else(|| ServerError::InvalidOption {
                    setting,
                    value: value.clone(),
                    message: "expected a number of bytes of at least 1024, e.g. 16777216 (16 MiB, the default)".into(),
                })?;
        }
        o.allowed_hosts = if cli_allowed_hosts.is_empty() {
            env.get(vars::PLUGINS_SERVER_ALLOWED_HOSTS)
                .map(|v| {
                    v.split(',')
                        .map(|s| s.trim().to_string())
                        .filter(|s| !s.is_empty())
                        .collect()
                })
                .unwrap_or_default()
        } else {
            cli_allowed_hosts.to_vec()
        };
        let setting = if cli_allowed_hosts.is_empty() {
            vars::PLUGINS_SERVER_ALLOWED_HOSTS
        } else {
            "--allowed-host"
        };
        for entry in &o.allowed_hosts {
            if let Some(message) = crate::host::allowed_host_problem(entry) {
                return Err(ServerError::InvalidOption {
                    setting: setting.to_string(),
                    value: entry.clone(),
                    message,
                });
            }
        }
        Ok(o)
    }
}

/// Maps the YAML `server_settings` block into the settings layer.
pub fn settings_layer(cfg: &MCPServerConfig) -> ServerSettingsLayer {
    ServerSettingsLayer {
        host: cfg.host.clone(),
        port: cfg.port,
        uds: cfg.uds.as_ref().map(PathBuf::from),
        tls: cfg.tls.as_ref().map(|t| ServerTlsLayer {
            ssl_cert_reqs: t.own.ssl_cert_reqs,
            require_valid_certificate: t.own.require_valid_certificate,
            allowed_clients: t.own.allowed_clients.clone(),
            ..files_layer(&t.files)
        }),
    }
}

/// Maps the YAML `grpc_server_settings` block into the settings layer (start-up and config
/// reload use this one mapping).
pub fn grpc_settings_layer(cfg: &GrpcServerConfig) -> GrpcServerLayer {
    GrpcServerLayer {
        host: cfg.host.clone(),
        port: cfg.port,
        uds: cfg.uds.as_ref().map(PathBuf::from),
        tls: cfg.tls.as_ref().map(|t| ServerTlsLayer {
            client_auth: t.own.client_auth.clone(),
            allowed_clients: t.own.allowed_clients.clone(),
            ..files_layer(&t.files)
        }),
    }
}

/// The file keys every server TLS block shares, with no policy key set: each block adds its own.
fn files_layer(files: &TlsFiles) -> ServerTlsLayer {
    ServerTlsLayer {
        certfile: files.certfile.as_ref().map(PathBuf::from),
        keyfile: files.keyfile.as_ref().map(PathBuf::from),
        ca_bundle: files.ca_bundle.as_ref().map(PathBuf::from),
        keyfile_password: files.keyfile_password.clone(),
        ca_crl: files.ca_crl.as_ref().map(PathBuf::from),
        ..ServerTlsLayer::default()
    }
}

/// Resolved settings plus the built TLS config: everything checked, nothing bound.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// Host, port, UDS, TLS files and policy, with where each came from.
    pub settings: ServerSettings,
    /// The rustls config when TLS is on (reloadable when built from files).
    pub tls: Option<TlsSource>,
    /// The TCP address `host` resolved to (`None` on a Unix socket).
    pub addr: Option<SocketAddr>,
}

/// Resolves `server_settings` + `PLUGINS_SERVER_*` (env wins, docs/decisions.md #1), loads the
/// TLS files (each read once, then checked: cert, key, password, CA bundle, CRL) and builds the
/// TLS config from them.
pub fn prepare(yaml: Option<&MCPServerConfig>, env: &dyn Env) -> Result<Prepared, ServerError> {
    let layer = yaml.map(settings_layer);
    let settings = resolve_server_settings(layer.as_ref(), env)?;
    let tls = match &settings.tls {
        Some(t) => Some(TlsSource::Reloadable(Arc::new(
            ReloadableServerConfig::new(t.clone())?,
        ))),
        None => None,
    };
    if tls.is_some() && settings.uds.is_none() {
        let health = u32::from(settings.port) + u32::from(HEALTH_PORT_OFFSET);
        if health > u32::from(u16::MAX) {
            return Err(ServerError::HealthPortOutOfRange {
                health_port: health,
                origin: settings.port_origin.to_string(),
            });
        }
    }
    let addr = match settings.uds {
        Some(_) => None,
        None => Some(resolve(
            &settings.host,
            settings.port,
            &tcp_origin(&settings),
        )?),
    };
    Ok(Prepared {
        settings,
        tls,
        addr,
    })
}

/// "host from ..., port from ...": the settings that chose a TCP address, for its errors.
fn tcp_origin(s: &ServerSettings) -> String {
    format!("host from {}, port from {}", s.host_origin, s.port_origin)
}

impl Prepared {
    /// The validity of the server certificate in use (`None` without TLS), for `/health`.
    pub fn certificate(&self) -> Option<CertificateStatus> {
        certificate_of(self.tls.as_ref())
    }

    /// The TLS config SIGHUP reloads (`None` without TLS).
    pub fn reloadable_tls(&self) -> Option<Arc<ReloadableServerConfig>> {
        match &self.tls {
            Some(TlsSource::Reloadable(r)) => Some(Arc::clone(r)),
            _ => None,
        }
    }

    /// The addresses this MCP server will listen on (its port and, with TLS, the health port
    /// at port + 1000; or its Unix socket), for [`check_listeners`].
    pub fn claims(&self) -> Vec<Claim> {
        let s = &self.settings;
        if let Some(path) = &s.uds {
            let origin = named(s.uds_origin.as_ref(), vars::PLUGINS_SERVER_UDS);
            return vec![Claim::unix("the MCP Unix socket", path, origin)];
        }
        let Some(addr) = self.addr else {
            return Vec::new();
        };
        let origin = format!(
            "host from {}, port from {}",
            named(Some(&s.host_origin), vars::PLUGINS_SERVER_HOST),
            named(Some(&s.port_origin), vars::PLUGINS_SERVER_PORT)
        );
        let mut out = vec![Claim::tcp("the MCP port", addr, origin.clone())];
        if self.tls.is_some() {
            if let Some(health) = s.port.checked_add(HEALTH_PORT_OFFSET) {
                let at = SocketAddr::new(addr.ip(), health);
                out.push(Claim::tcp("the MCP health port (port + 1000)", at, origin));
            }
        }
        out
    }
}

fn certificate_of(tls: Option<&TlsSource>) -> Option<CertificateStatus> {
    match tls {
        Some(TlsSource::Reloadable(r)) => r.certificate(),
        _ => None,
    }
}

/// The main listener.
#[derive(Debug)]
pub enum MainListener {
    /// TCP (plain or TLS).
    Tcp(TcpListener),
    /// A Unix socket (removed again on shutdown).
    Unix {
        /// The listener.
        listener: UnixListener,
        /// Its path.
        path: PathBuf,
        /// The socket file, removed when this is dropped (served or not).
        file: SocketFile,
    },
}

/// Sockets bound and ready; nothing accepted yet.
#[derive(Debug)]
pub struct Bound {
    /// `/mcp` + `/health`.
    pub main: MainListener,
    /// Plain `/health` on port + 1000 when TLS is on.
    pub health: Option<TcpListener>,
    /// TLS for the main listener.
    pub tls: Option<TlsSource>,
    /// Client-certificate policy (for the start-up line).
    pub client_auth: Option<ClientCertPolicy>,
    /// Whether the bind address is loopback (or a Unix socket): decides the Host policy.
    pub loopback: bool,
}

/// Binds the sockets of `prepared`. Must run inside a Tokio runtime.
pub fn bind(prepared: &Prepared) -> Result<Bound, ServerError> {
    let s = &prepared.settings;
    let client_auth = s.tls.as_ref().map(|t| t.client_auth);
    if let Some(path) = &s.uds {
        let origin = s
            .uds_origin
            .as_ref()
            .map_or_else(|| "server_settings.uds".to_string(), |o| o.to_string());
        let (listener, file) = bind_unix(path, &origin)?;
        return Ok(Bound {
            main: MainListener::Unix {
                listener,
                path: path.clone(),
                file,
            },
            health: None,
            tls: None,
            client_auth: None,
            loopback: true,
        });
    }
    let origin = tcp_origin(s);
    let addr = match prepared.addr {
        Some(addr) => addr,
        None => resolve(&s.host, s.port, &origin)?,
    };
    let main = bind_tcp(addr, "port", &origin)?;
    let health = match prepared.tls {
        Some(_) => {
            let health_addr = SocketAddr::new(addr.ip(), s.port + HEALTH_PORT_OFFSET);
            Some(bind_tcp(health_addr, "health port (port + 1000)", &origin)?)
        }
        None => None,
    };
    Ok(Bound {
        main: MainListener::Tcp(main),
        health,
        tls: prepared.tls.clone(),
        client_auth,
        loopback: addr.ip().is_loopback(),
    })
}

/// Resolves a bind host (bracketed IPv6 accepted); errors name `origin`.
pub fn resolve(host: &str, port: u16, origin: &str) -> Result<SocketAddr, ServerError> {
    // Bracketed IPv6 literals (`[::1]`) are accepted as written in URLs.
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    let mut addrs = (bare, port)
        .to_socket_addrs()
        .map_err(|e| ServerError::Resolve {
            host: host.to_string(),
            origin: origin.to_string(),
            reason: e.to_string(),
        })?;
    addrs.next().ok_or_else(|| ServerError::Resolve {
        host: host.to_string(),
        origin: origin.to_string(),
        reason: "no address".into(),
    })
}

/// Binds a TCP listener; "in use" and other failures name `what` and `origin`.
pub fn bind_tcp(
    addr: SocketAddr,
    what: &'static str,
    origin: &str,
) -> Result<TcpListener, ServerError> {
    let std = std::net::TcpListener::bind(addr).map_err(|e| {
        if e.kind() == io::ErrorKind::AddrInUse {
            ServerError::PortInUse {
                what,
                addr: addr.to_string(),
                origin: origin.to_string(),
            }
        } else {
            ServerError::Bind {
                addr: addr.to_string(),
                origin: origin.to_string(),
                source: e,
            }
        }
    })?;
    let bind_err = |e: io::Error| ServerError::Bind {
        addr: addr.to_string(),
        origin: origin.to_string(),
        source: e,
    };
    std.set_nonblocking(true).map_err(bind_err)?;
    TcpListener::from_std(std).map_err(bind_err)
}

/// Binds a Unix socket, replacing a stale socket file left by a crashed server but never a
/// live one or a non-socket file.
fn bind_unix(path: &Path, origin: &str) -> Result<(UnixListener, SocketFile), ServerError> {
    crate::raw_socket::bind_unix_socket(path, origin, None)
}

impl Bound {
    /// The validity of the server certificate in use (`None` without TLS), for `/health`: it
    /// follows reloads.
    pub fn certificate(&self) -> Option<CertificateStatus> {
        certificate_of(self.tls.as_ref())
    }

    /// The start-up line: what listens where, with which client-certificate policy.
    pub fn describe(&self) -> String {
        match &self.main {
            MainListener::Unix { path, .. } => {
                format!(
                    "serving MCP at http+unix://{}:/mcp (Unix socket, no TLS)",
                    path.display()
                )
            }
            MainListener::Tcp(l) => {
                let addr = l
                    .local_addr()
                    .map_or_else(|_| "?".to_string(), |a| a.to_string());
                match (&self.tls, self.client_auth) {
                    (Some(_), policy) => {
                        let policy = policy.map_or_else(String::new, |p| p.to_string());
                        let health = self
                            .health
                            .as_ref()
                            .and_then(|h| h.local_addr().ok())
                            .map_or_else(|| "?".to_string(), |a| a.to_string());
                        format!(
                            "serving MCP at https://{addr}/mcp (TLS 1.2/1.3, {policy}); plain health check at http://{health}/health"
                        )
                    }
                    (None, _) => format!("serving MCP at http://{addr}/mcp (plain HTTP, no TLS)"),
                }
            }
        }
    }

    /// Serves until `shutdown` completes, then drains in-flight requests and removes the Unix
    /// socket file.
    pub async fn serve(
        self,
        backend: Arc<dyn Backend>,
        opts: &ServeOptions,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) {
        let (tx, rx) = watch::channel(false);
        tokio::spawn(async move {
            shutdown.await;
            let _ = tx.send(true);
        });
        let stop = move || {
            let mut rx = rx.clone();
            async move {
                let _ = rx.wait_for(|v| *v).await;
            }
        };
        let app = Arc::new(App {
            backend,
            max_body_bytes: opts.max_body_bytes,
            host_policy: HostPolicy::new(self.loopback, &opts.allowed_hosts),
        });
        let limits = opts.limits;
        crate::warm::warm_up();
        let cert = crate::health::CertificateHealth::of(self.tls.as_ref());
        let health = self
            .health
            .map(|h| tokio::spawn(serve_health(h, limits, cert, stop())));
        if let Some(TlsSource::Reloadable(r)) = &self.tls {
            crate::reload::spawn_tls_watch(r, opts.cert_reload_interval, &stop);
        }
        match self.main {
            MainListener::Tcp(l) => {
                serve_tcp(l, app, self.tls, limits, stop()).await;
            }
            MainListener::Unix { listener, file, .. } => {
                serve_unix(listener, app, limits, stop()).await;
                drop(file);
            }
        }
        if let Some(h) = health {
            let _ = h.await;
        }
    }
}
