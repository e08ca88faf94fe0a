//! Which transports `plugwire serve` runs, and the settings of the gRPC and raw Unix-socket
//! servers (the MCP server's are in [`crate::settings`]).
//!
//! The transport is never guessed from whether stdin is a terminal (docs/decisions.md #4): it is
//! `--transport`, else `PLUGINS_TRANSPORT`, else `http`; `--stdio` is kept as a shorthand. An
//! unknown name is a start-up error naming the setting and the valid names
//! (docs/decisions.md #31), where it used to be silently served as HTTP.

use std::path::PathBuf;

use plugwire_env::{layer_plain, vars, Env, Key, Origin, Sourced};
use plugwire_tls::{resolve_server_tls, ServerTlsLayer, ServerTlsSettings, GRPC_SERVER_TLS};

use crate::error::ServerError;
use crate::settings::{check_uds, refuse_uds_with_tls, resolve_endpoint, Endpoint, EndpointNames};

/// One way of serving plugins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    /// MCP over Streamable HTTP (plain, TLS or a Unix socket): `server_settings`.
    Http,
    /// MCP as newline-delimited JSON-RPC on stdin/stdout; runs alone.
    Stdio,
    /// gRPC: `grpc_server_settings`.
    Grpc,
    /// Length-prefixed frames on a Unix socket: `unix_socket_server_settings`.
    Unix,
}

/// The names `PLUGINS_TRANSPORT` and `--transport` accept, for messages.
pub const VALID_TRANSPORTS: &str = "http, stdio, grpc or unix";

impl Transport {
    /// The name as written in `PLUGINS_TRANSPORT`.
    pub fn name(self) -> &'static str {
        match self {
            Transport::Http => "http",
            Transport::Stdio => "stdio",
            Transport::Grpc => "grpc",
            Transport::Unix => "unix",
        }
    }

    fn parse(word: &str) -> Option<Self> {
        match word.trim().to_ascii_lowercase().as_str() {
            "http" | "streamablehttp" => Some(Transport::Http),
            "stdio" => Some(Transport::Stdio),
            "grpc" => Some(Transport::Grpc),
            "unix" => Some(Transport::Unix),
            _ => None,
        }
    }
}

/// The transports one process serves, in the order given, without repeats.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transports {
    /// At least one; `[Stdio]` alone when stdio is chosen.
    pub list: Vec<Transport>,
    /// Where the choice came from (`--transport`, `PLUGINS_TRANSPORT`, `--stdio`, default).
    pub origin: String,
}

impl Transports {
    /// Whether `t` is served.
    pub fn contains(&self, t: Transport) -> bool {
        self.list.contains(&t)
    }

    /// Whether this is the stdio transport (which runs alone).
    pub fn is_stdio(&self) -> bool {
        self.list == [Transport::Stdio]
    }
}

/// Parses a transport list: `http`, `grpc`, `http,grpc`, ... `origin` names the setting.
pub fn parse_transports(text: &str, origin: &str) -> Result<Transports, ServerError> {
    let mut list = Vec::new();
    for word in text.split(',').map(str::trim).filter(|w| !w.is_empty()) {
        let t = Transport::parse(word).ok_or_else(|| ServerError::UnknownTransport {
            origin: origin.to_string(),
            value: word.to_string(),
            valid: VALID_TRANSPORTS,
        })?;
        if !list.contains(&t) {
            list.push(t);
        }
    }
    if list.is_empty() {
        return Err(ServerError::UnknownTransport {
            origin: origin.to_string(),
            value: text.to_string(),
            valid: VALID_TRANSPORTS,
        });
    }
    if list.len() > 1 && list.contains(&Transport::Stdio) {
        return Err(ServerError::TransportConflict {
            origin: origin.to_string(),
            message:
                "stdio owns stdin and stdout and runs alone: choose stdio, or a list without it",
        });
    }
    Ok(Transports {
        list,
        origin: origin.to_string(),
    })
}

/// `--stdio`, else `--transport`, else `PLUGINS_TRANSPORT`, else `http`.
pub fn resolve_transports(
    stdio_flag: bool,
    cli: Option<&str>,
    env: &dyn Env,
) -> Result<Transports, ServerError> {
    if stdio_flag {
        if let Some(t) = cli.filter(|t| !t.trim().eq_ignore_ascii_case("stdio")) {
            return Err(ServerError::TransportConflict {
                origin: format!("--stdio and --transport {t}"),
                message: "--stdio means --transport stdio: give one of the two",
            });
        }
        return parse_transports("stdio", "--stdio");
    }
    if let Some(t) = cli {
        return parse_transports(t, "--transport");
    }
    match env.get(vars::PLUGINS_TRANSPORT) {
        Some(v) => parse_transports(&v, &Origin::Env(vars::PLUGINS_TRANSPORT).to_string()),
        None => Ok(Transports {
            list: vec![Transport::Http],
            origin: Origin::Default.to_string(),
        }),
    }
}

/// Default gRPC port (as upstream).
pub const DEFAULT_GRPC_PORT: u16 = 50051;

/// `grpc_server_settings` + `PLUGINS_GRPC_SERVER_{HOST,PORT,UDS}`.
pub const GRPC_ENDPOINT: EndpointNames = EndpointNames {
    section: "grpc_server_settings",
    host: vars::PLUGINS_GRPC_SERVER_HOST,
    port: vars::PLUGINS_GRPC_SERVER_PORT,
    uds: vars::PLUGINS_GRPC_SERVER_UDS,
    default_port: DEFAULT_GRPC_PORT,
    allow_port_zero: true,
};

/// The YAML `grpc_server_settings` block as given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GrpcServerLayer {
    /// `grpc_server_settings.host`.
    pub host: Option<String>,
    /// `grpc_server_settings.port`.
    pub port: Option<i64>,
    /// `grpc_server_settings.uds`.
    pub uds: Option<PathBuf>,
    /// `grpc_server_settings.tls` (`client_auth`: none/optional/require, default require).
    pub tls: Option<ServerTlsLayer>,
}

/// Resolved gRPC server settings: what the gRPC transport binds and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrpcServerSettings {
    /// Host, port or Unix socket, each with its origin.
    pub endpoint: Endpoint,
    /// TLS when on (never with a Unix socket). Load and build it with
    /// `plugwire_tls::ReloadableServerConfig` (or `LoadedServerTls::load` + `build_server_config`),
    /// then set ALPN `h2`.
    pub tls: Option<ServerTlsSettings>,
}

/// Resolves `grpc_server_settings` + `PLUGINS_GRPC_SERVER_*`: each set variable wins over the
/// YAML, field by field (upstream's "a YAML block hides every variable" is not copied,
/// docs/decisions.md #1).
pub fn resolve_grpc_server_settings(
    yaml: Option<&GrpcServerLayer>,
    env: &dyn Env,
) -> Result<GrpcServerSettings, ServerError> {
    let empty = GrpcServerLayer::default();
    let y = yaml.unwrap_or(&empty);
    let endpoint = resolve_endpoint(&GRPC_ENDPOINT, y.host.clone(), y.port, y.uds.clone(), env)?;
    let tls = resolve_server_tls(y.tls.as_ref(), env, &GRPC_SERVER_TLS)?;
    refuse_uds_with_tls(endpoint.uds.as_ref(), tls.as_ref())?;
    Ok(GrpcServerSettings { endpoint, tls })
}

/// Default path of the raw Unix-socket transport (as upstream).
pub const DEFAULT_UNIX_SOCKET_PATH: &str = "/tmp/mcpgateway-plugins.sock";

/// The YAML `unix_socket_server_settings` block as given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UnixSocketLayer {
    /// `unix_socket_server_settings.path`.
    pub path: Option<PathBuf>,
}

/// Resolved raw Unix-socket settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnixSocketSettings {
    /// The socket path (absolute, its directory exists), with its origin.
    pub path: Sourced<PathBuf>,
}

/// Resolves the raw socket path: `PLUGINS_UNIX_SOCKET_PATH`, else its older spelling
/// `UNIX_SOCKET_PATH`, else `unix_socket_server_settings.path` (which upstream parses but never
/// reads; we honour it), else `/tmp/mcpgateway-plugins.sock`.
pub fn resolve_unix_socket_settings(
    yaml: Option<&UnixSocketLayer>,
    env: &dyn Env,
) -> Result<UnixSocketSettings, ServerError> {
    let yaml_path = yaml.and_then(|y| y.path.clone());
    let key = |var| Key::new("unix_socket_server_settings", "path", var);
    let path = layer_plain(
        env,
        &key(vars::PLUGINS_UNIX_SOCKET_PATH),
        None,
        PathBuf::from,
    )
    .or_else(|| layer_plain(env, &key(vars::UNIX_SOCKET_PATH), yaml_path, PathBuf::from))
    .unwrap_or_else(|| Sourced::default_value(PathBuf::from(DEFAULT_UNIX_SOCKET_PATH)));
    check_uds(&path.value, &path.origin)?;
    Ok(UnixSocketSettings { path })
}
