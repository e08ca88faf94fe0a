//! The gRPC and raw Unix-socket transports of `plugwire serve`: settings from the YAML's
//! `grpc_server_settings` / `unix_socket_server_settings` (each set `PLUGINS_GRPC_SERVER_*` /
//! `PLUGINS_UNIX_SOCKET_PATH` variable wins, field by field), the host resolved and TLS built
//! and checked before any socket is bound, then the listeners. They serve the same backend as
//! MCP.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use plugwire_env::vars;
use plugwire_env::Env;
use plugwire_framework::{GrpcServerConfig, UnixSocketServerConfig};
use plugwire_server::raw_socket::{self, RawSocketOptions, SocketFile};
use plugwire_server::serve::{self, named, Claim, ServeOptions};
use plugwire_server::transport::{
    resolve_grpc_server_settings, resolve_unix_socket_settings, GrpcServerLayer,
    GrpcServerSettings, Transport, Transports, UnixSocketLayer, UnixSocketSettings,
};
use plugwire_server::{Backend, ServerError, TlsSource};
use plugwire_tls::{ClientCertPolicy, ReloadableServerConfig};
use tokio::net::{TcpListener, UnixListener};

/// Maps the YAML `grpc_server_settings` block into the settings layer (the server crate's
/// mapping, which a config reload uses too).
pub fn grpc_layer(cfg: &GrpcServerConfig) -> GrpcServerLayer {
    serve::grpc_settings_layer(cfg)
}

/// Maps the YAML `unix_socket_server_settings` block into the settings layer.
pub fn unix_layer(cfg: &UnixSocketServerConfig) -> UnixSocketLayer {
    UnixSocketLayer {
        path: cfg.path.as_ref().map(PathBuf::from),
    }
}

/// The gRPC listener's settings, checked: its TCP address resolved (`None` on a Unix socket)
/// and its TLS config built.
struct GrpcPrepared {
    settings: GrpcServerSettings,
    addr: Option<SocketAddr>,
    tls: Option<Arc<ReloadableServerConfig>>,
}

/// Resolved and checked (host resolved, TLS material read), nothing bound.
pub struct Prepared {
    grpc: Option<GrpcPrepared>,
    unix: Option<UnixSocketSettings>,
}

/// Resolves the settings of the gRPC and raw-socket transports in `transports`, resolves the
/// gRPC host and builds the gRPC TLS config, so a bad file, key, host or variable stops
/// start-up before anything listens.
pub fn prepare(
    grpc_yaml: Option<&GrpcServerConfig>,
    unix_yaml: Option<&UnixSocketServerConfig>,
    transports: &Transports,
    env: &dyn Env,
) -> Result<Prepared, ServerError> {
    let grpc = if transports.contains(Transport::Grpc) {
        let layer = grpc_yaml.map(grpc_layer);
        let settings = resolve_grpc_server_settings(layer.as_ref(), env)?;
        let tls = match &settings.tls {
            // Reloadable like the MCP port's: watched, polled and reloaded on SIGHUP.
            Some(t) => Some(Arc::new(ReloadableServerConfig::new(t.clone())?)),
            None => None,
        };
        let e = &settings.endpoint;
        let addr = match e.uds {
            Some(_) => None,
            None => Some(serve::resolve(
                &e.host.value,
                e.port.value,
                &tcp_origin(&settings),
            )?),
        };
        Some(GrpcPrepared {
            settings,
            addr,
            tls,
        })
    } else {
        None
    };
    let unix = if transports.contains(Transport::Unix) {
        let layer = unix_yaml.map(unix_layer);
        Some(resolve_unix_socket_settings(layer.as_ref(), env)?)
    } else {
        None
    };
    Ok(Prepared { grpc, unix })
}

/// "host from ..., port from ...": the settings that chose the gRPC TCP address.
fn tcp_origin(s: &GrpcServerSettings) -> String {
    let e = &s.endpoint;
    format!("host from {}, port from {}", e.host.origin, e.port.origin)
}

enum GrpcListener {
    Tls(TcpListener, Arc<ReloadableServerConfig>, ClientCertPolicy),
    Plain(TcpListener),
    /// The socket file is removed when this is dropped.
    Unix(UnixListener, SocketFile),
}

/// Sockets bound, nothing accepted yet. Dropping it (a later start-up step failed) removes the
/// socket files it created.
pub struct Bound {
    grpc: Option<GrpcListener>,
    unix: Option<(UnixListener, SocketFile)>,
}

impl Prepared {
    /// The gRPC listener's TLS config, which SIGHUP reloads (`None` without gRPC TLS).
    pub fn reloadable_tls(&self) -> Option<Arc<ReloadableServerConfig>> {
        self.grpc.as_ref().and_then(|g| g.tls.clone())
    }

    /// The addresses the gRPC listener and the raw socket will listen on, for
    /// [`serve::check_listeners`].
    pub fn claims(&self) -> Vec<Claim> {
        let mut out = Vec::new();
        if let Some(g) = &self.grpc {
            let e = &g.settings.endpoint;
            match (&e.uds, g.addr) {
                (Some(uds), _) => {
                    let origin = named(Some(&uds.origin), vars::PLUGINS_GRPC_SERVER_UDS);
                    out.push(Claim::unix("the gRPC Unix socket", &uds.value, origin));
                }
                (None, Some(addr)) => {
                    let origin = format!(
                        "host from {}, port from {}",
                        named(Some(&e.host.origin), vars::PLUGINS_GRPC_SERVER_HOST),
                        named(Some(&e.port.origin), vars::PLUGINS_GRPC_SERVER_PORT)
                    );
                    out.push(Claim::tcp("the gRPC port", addr, origin));
                }
                (None, None) => {}
            }
        }
        if let Some(u) = &self.unix {
            let origin = named(Some(&u.path.origin), vars::PLUGINS_UNIX_SOCKET_PATH);
            out.push(Claim::unix("the raw socket", &u.path.value, origin));
        }
        out
    }

    /// Binds the gRPC listener (TCP, or a Unix socket with mode 0600) and the raw socket (0600).
    /// When the raw socket fails, the gRPC socket file bound before it is removed again.
    pub fn bind(self) -> Result<Bound, ServerError> {
        let grpc = match self.grpc {
            None => None,
            Some(g) => Some(bind_grpc(g)?),
        };
        let unix = match self.unix {
            None => None,
            Some(u) => {
                let origin = u.path.origin.to_string();
                Some(raw_socket::bind_unix_0600_owned(&u.path.value, &origin)?)
            }
        };
        Ok(Bound { grpc, unix })
    }
}

fn bind_grpc(g: GrpcPrepared) -> Result<GrpcListener, ServerError> {
    let e = &g.settings.endpoint;
    if let Some(uds) = &e.uds {
        let (l, file) = raw_socket::bind_unix_0600_owned(&uds.value, &uds.origin.to_string())?;
        return Ok(GrpcListener::Unix(l, file));
    }
    let origin = tcp_origin(&g.settings);
    let addr = match g.addr {
        Some(addr) => addr,
        None => serve::resolve(&e.host.value, e.port.value, &origin)?,
    };
    let l = serve::bind_tcp(addr, "gRPC port", &origin)?;
    Ok(match (g.tls, &g.settings.tls) {
        (Some(cfg), Some(t)) => GrpcListener::Tls(l, cfg, t.client_auth),
        _ => GrpcListener::Plain(l),
    })
}

impl Bound {
    /// What listens where, for the one start-up line (bound addresses, so port 0 shows the
    /// port the system chose).
    pub fn describe(&self) -> Vec<String> {
        let mut out = Vec::new();
        let addr = |l: &TcpListener| {
            l.local_addr()
                .map_or_else(|_| "?".to_string(), |a| a.to_string())
        };
        match &self.grpc {
            Some(GrpcListener::Tls(l, _, policy)) => {
                let policy = match policy {
                    ClientCertPolicy::None => "client_auth=none",
                    ClientCertPolicy::Optional => "client_auth=optional",
                    ClientCertPolicy::Required => "client_auth=require, mTLS",
                };
                out.push(format!(
                    "gRPC at grpcs://{} (TLS 1.2/1.3, ALPN h2, {policy})",
                    addr(l)
                ));
            }
            Some(GrpcListener::Plain(l)) => {
                out.push(format!("gRPC at grpc://{} (plaintext, no TLS)", addr(l)));
            }
            Some(GrpcListener::Unix(_, f)) => {
                out.push(format!(
                    "gRPC at grpc+unix://{} (no TLS)",
                    f.path().display()
                ));
            }
            None => {}
        }
        if let Some((_, f)) = &self.unix {
            out.push(format!("raw socket at unix://{}", f.path().display()));
        }
        out
    }

    /// Serves both until `shutdown()` futures complete (the gRPC port with the MCP port's
    /// connection cap, drain deadline and certificate reloading: watched, polled every
    /// `opts.cert_reload_interval` and reloaded on SIGHUP), then removes the socket files.
    pub async fn serve<F, Fut>(self, backend: Arc<dyn Backend>, opts: &ServeOptions, shutdown: F)
    where
        F: Fn() -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let limits = opts.limits;
        let grpc = async {
            let result = match self.grpc {
                None => return,
                Some(GrpcListener::Tls(l, cfg, _)) => {
                    plugwire_server::reload::spawn_tls_watch(
                        &cfg,
                        opts.cert_reload_interval,
                        &shutdown,
                    );
                    let tls = TlsSource::Reloadable(cfg);
                    let backend = Arc::clone(&backend);
                    plugwire_server::grpc::run_tls(l, tls, backend, limits, shutdown()).await
                }
                Some(GrpcListener::Plain(l)) => {
                    let backend = Arc::clone(&backend);
                    plugwire_server::grpc::run_plain(l, backend, limits, shutdown()).await
                }
                Some(GrpcListener::Unix(l, file)) => {
                    let backend = Arc::clone(&backend);
                    let r = plugwire_server::grpc::run_unix(l, backend, limits, shutdown()).await;
                    drop(file);
                    r
                }
            };
            if let Err(e) = result {
                tracing::error!("gRPC server stopped: {e}");
            }
        };
        let unix = async {
            if let Some((l, file)) = self.unix {
                raw_socket::run(
                    l,
                    Arc::clone(&backend),
                    RawSocketOptions::with_limits(&limits),
                    shutdown(),
                )
                .await;
                drop(file);
            }
        };
        tokio::join!(grpc, unix);
    }
}
