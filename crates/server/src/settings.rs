//! Where `plugwire serve` listens: host, port and Unix socket of each server section, resolved
//! from built-in defaults, then the YAML section, then each set variable, field by field
//! (docs/decisions.md #1). TLS is resolved by `plugwire-tls`; this module only decides where.
//!
//! The MCP section (`server_settings` + `PLUGINS_SERVER_*`) is [`resolve_server_settings`]; the
//! gRPC and raw Unix-socket sections and the transport choice are in [`crate::transport`]. Both
//! use [`resolve_endpoint`], so a port or socket rule is written once.

use std::path::{Path, PathBuf};

use plugwire_env::{layer, layer_plain, vars, Env, Key, Origin, Sourced};
use plugwire_tls::{resolve_server_tls, ServerTlsLayer, ServerTlsSettings, MCP_SERVER_TLS};

use crate::error::ServerError;

/// Default bind address (the Python code's default, not its docstring's 0.0.0.0).
pub const DEFAULT_HOST: &str = "127.0.0.1";
/// Default TCP port of the MCP server.
pub const DEFAULT_PORT: u16 = 8000;

/// The YAML `server_settings` block as given (the serve step maps the framework's config here).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerSettingsLayer {
    /// `server_settings.host`.
    pub host: Option<String>,
    /// `server_settings.port`; wide so an out-of-range value gets our error, not serde's.
    pub port: Option<i64>,
    /// `server_settings.uds`.
    pub uds: Option<PathBuf>,
    /// `server_settings.tls`; its presence turns TLS on unless `PLUGINS_SERVER_SSL_ENABLED=false`.
    pub tls: Option<ServerTlsLayer>,
}

/// Resolved MCP server settings: what `plugwire serve` binds and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerSettings {
    /// Bind address.
    pub host: String,
    /// TCP port (the health server, with TLS on, is port + 1000).
    pub port: u16,
    /// Unix socket path instead of TCP (never with TLS).
    pub uds: Option<PathBuf>,
    /// TLS, when on.
    pub tls: Option<ServerTlsSettings>,
    /// Where `host` came from.
    pub host_origin: Origin,
    /// Where `port` came from (for "port in use" messages).
    pub port_origin: Origin,
    /// Where `uds` came from.
    pub uds_origin: Option<Origin>,
}

/// The YAML keys and variables of one section's bind address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EndpointNames {
    /// YAML section, e.g. `server_settings`.
    pub section: &'static str,
    /// Host variable.
    pub host: &'static str,
    /// Port variable.
    pub port: &'static str,
    /// Unix socket variable.
    pub uds: &'static str,
    /// Port when neither gives one.
    pub default_port: u16,
    /// Whether port 0 ("any free port", the bound one is printed at start-up) is accepted. Not
    /// for MCP, whose TLS health port is derived from the main one.
    pub allow_port_zero: bool,
}

/// `server_settings` + `PLUGINS_SERVER_{HOST,PORT,UDS}`.
pub const MCP_ENDPOINT: EndpointNames = EndpointNames {
    section: "server_settings",
    host: vars::PLUGINS_SERVER_HOST,
    port: vars::PLUGINS_SERVER_PORT,
    uds: vars::PLUGINS_SERVER_UDS,
    default_port: DEFAULT_PORT,
    allow_port_zero: false,
};

/// A resolved bind address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// Bind host.
    pub host: Sourced<String>,
    /// TCP port.
    pub port: Sourced<u16>,
    /// Unix socket instead of TCP.
    pub uds: Option<Sourced<PathBuf>>,
}

fn port_in_range(n: i64, allow_zero: bool) -> Option<u16> {
    u16::try_from(n).ok().filter(|p| *p != 0 || allow_zero)
}

/// Host, port and socket of one section: each set variable wins over the YAML.
pub fn resolve_endpoint(
    names: &EndpointNames,
    host: Option<String>,
    port: Option<i64>,
    uds: Option<PathBuf>,
    env: &dyn Env,
) -> Result<Endpoint, ServerError> {
    let key = |field: &str, var| Key::new(names.section, field, var);
    let host = layer(
        env,
        &key("host", names.host),
        host,
        |h: String, o| match h.trim() {
            "" => Err(ServerError::InvalidHost {
                origin: o.clone(),
                value: h.clone(),
            }),
            t => Ok(t.to_string()),
        },
        |v, _| Ok(v),
    )?
    .unwrap_or_else(|| Sourced::default_value(DEFAULT_HOST.to_string()));
    let range = if names.allow_port_zero {
        "0 to 65535 (0: any free port)"
    } else {
        "1 to 65535"
    };
    let bad_port = |o: &Origin, value: String| ServerError::InvalidPort {
        origin: o.clone(),
        value,
        range,
    };
    let port = layer(
        env,
        &key("port", names.port),
        port,
        |n, o| port_in_range(n, names.allow_port_zero).ok_or_else(|| bad_port(o, n.to_string())),
        |v, o| {
            v.parse::<i64>()
                .ok()
                .and_then(|n| port_in_range(n, names.allow_port_zero))
                .ok_or_else(|| bad_port(o, v.clone()))
        },
    )?
    .unwrap_or_else(|| Sourced::default_value(names.default_port));
    let uds = layer_plain(env, &key("uds", names.uds), uds, PathBuf::from);
    if let Some(u) = &uds {
        check_uds(&u.value, &u.origin)?;
    }
    Ok(Endpoint { host, port, uds })
}

/// Checks a Unix socket path: absolute, no longer than the kernel accepts, with an existing
/// parent directory.
pub fn check_uds(path: &Path, origin: &Origin) -> Result<(), ServerError> {
    if !path.is_absolute() {
        return Err(ServerError::UdsNotAbsolute {
            origin: origin.clone(),
            path: path.to_path_buf(),
        });
    }
    if let Some(problem) = plugwire_framework::unix_socket_path_problem(path) {
        return Err(ServerError::UdsPath {
            origin: origin.clone(),
            problem,
        });
    }
    let parent = path.parent().unwrap_or(Path::new("/"));
    if !parent.is_dir() {
        return Err(ServerError::UdsParentMissing {
            origin: origin.clone(),
            path: path.to_path_buf(),
            parent: parent.to_path_buf(),
        });
    }
    // As Python: a world-writable directory (without the sticky bit) lets any local user
    // replace the socket; worth a warning, not a refusal (/tmp-style dirs are common in tests).
    if let Ok(meta) = std::fs::metadata(parent) {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode();
        if mode & 0o002 != 0 && mode & 0o1000 == 0 {
            tracing::warn!(dir = %parent.display(), "the Unix socket's directory is world-writable: any local user could replace the socket");
        }
    }
    Ok(())
}

/// A Unix socket and TLS together are refused: the socket is protected by its file mode.
pub(crate) fn refuse_uds_with_tls(
    uds: Option<&Sourced<PathBuf>>,
    tls: Option<&ServerTlsSettings>,
) -> Result<(), ServerError> {
    match (uds, tls) {
        (Some(u), Some(t)) => Err(ServerError::UdsWithTls {
            uds_origin: u.origin.clone(),
            tls_origin: t.origins.enabled_by.clone(),
        }),
        _ => Ok(()),
    }
}

/// Resolves the MCP server settings (docs/decisions.md #1): defaults, then `yaml`, then each
/// set variable.
///
/// Every value is validated here, before any socket opens: port range, the Unix socket path,
/// UDS+TLS, and everything `plugwire_tls::resolve_server_tls` checks.
pub fn resolve_server_settings(
    yaml: Option<&ServerSettingsLayer>,
    env: &dyn Env,
) -> Result<ServerSettings, ServerError> {
    let empty = ServerSettingsLayer::default();
    let y = yaml.unwrap_or(&empty);
    let ep = resolve_endpoint(&MCP_ENDPOINT, y.host.clone(), y.port, y.uds.clone(), env)?;
    let tls = resolve_server_tls(y.tls.as_ref(), env, &MCP_SERVER_TLS)?;
    refuse_uds_with_tls(ep.uds.as_ref(), tls.as_ref())?;
    Ok(ServerSettings {
        host: ep.host.value,
        port: ep.port.value,
        host_origin: ep.host.origin,
        port_origin: ep.port.origin,
        uds_origin: ep.uds.as_ref().map(|u| u.origin.clone()),
        uds: ep.uds.map(|u| u.value),
        tls,
    })
}
