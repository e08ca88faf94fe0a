//! The `grpc:` and `unix_socket:` sections of an external entry and the top-level
//! `server_settings`, `grpc_server_settings` and `unix_socket_server_settings`, typed and validated as cpex validates
//! them. Whether a transport is implemented is the client's and server's business, not the
//! model's: a valid section loads here, and the side that cannot serve it says so.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{GrpcClientTLSConfig, GrpcServerTLSConfig, MCPServerTLSConfig};
use crate::serde_util::lax;

/// `grpc:` of an external entry: exactly one of `target` (`host:port`) or `uds` (absolute path).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(expecting = "a mapping")]
pub struct GrpcClientConfig {
    /// `host:port` of the gRPC plugin server.
    #[serde(default)]
    pub target: Option<String>,
    /// Unix socket instead of `target`.
    #[serde(default)]
    pub uds: Option<String>,
    /// mTLS to it.
    #[serde(default)]
    pub tls: Option<GrpcClientTLSConfig>,
}

/// `unix_socket:` of an external entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(expecting = "a mapping")]
pub struct UnixSocketClientConfig {
    /// Socket path of the plugin server.
    pub path: String,
    /// Reconnects before the plugin counts as down.
    #[serde(default = "default_attempts", deserialize_with = "lax::i64")]
    pub reconnect_attempts: i64,
    /// Seconds between reconnects.
    #[serde(default = "default_delay", deserialize_with = "lax::f64")]
    pub reconnect_delay: f64,
    /// Seconds per call.
    #[serde(default = "default_socket_timeout", deserialize_with = "lax::f64")]
    pub timeout: f64,
}

fn default_attempts() -> i64 {
    3
}

fn default_delay() -> f64 {
    0.1
}

fn default_socket_timeout() -> f64 {
    30.0
}

/// `grpc_server_settings` (cpex defaults: host 127.0.0.1, port 50051). Unset fields stay `None`
/// so the settings layer can fill them from `PLUGINS_GRPC_SERVER_*`. An unknown key is ignored
/// and logged (docs/decisions.md #104).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(expecting = "a mapping")]
pub struct GrpcServerConfig {
    /// Bind address.
    #[serde(default)]
    pub host: Option<String>,
    /// TCP port (default 50051).
    #[serde(default, deserialize_with = "lax::opt_i64")]
    pub port: Option<i64>,
    /// Unix socket instead of TCP.
    #[serde(default)]
    pub uds: Option<String>,
    /// TLS; unset = plaintext.
    #[serde(default)]
    pub tls: Option<GrpcServerTLSConfig>,
}

/// `server_settings`. Unset fields stay `None` so env variables can override field by field;
/// Python's defaults are host `127.0.0.1`, port `8000`, `ssl_cert_reqs` 2. An unknown key is
/// ignored and logged (docs/decisions.md #104), except under `limits`, where it is an error.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(expecting = "a mapping")]
pub struct MCPServerConfig {
    /// Bind address.
    #[serde(default)]
    pub host: Option<String>,
    /// TCP port.
    #[serde(default, deserialize_with = "lax::opt_i64")]
    pub port: Option<i64>,
    /// Unix socket path instead of TCP (excludes TLS).
    #[serde(default)]
    pub uds: Option<String>,
    /// TLS; unset = plain HTTP.
    #[serde(default)]
    pub tls: Option<MCPServerTLSConfig>,
    /// `server_settings.limits` (plugwire only): connection cap, body timeout and rate, drain
    /// deadline; each `PLUGINS_SERVER_*` limit variable overrides its key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<ServerLimitsConfig>,
}

/// `server_settings.limits`: the same settings as the `PLUGINS_SERVER_{MAX_CONNECTIONS,
/// BODY_TIMEOUT,BODY_MIN_RATE,DRAIN_TIMEOUT}` variables (ranges are checked by the server).
/// plugwire's own block, so a misspelt key is refused rather than silently ignored.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(expecting = "a mapping", deny_unknown_fields)]
pub struct ServerLimitsConfig {
    /// Most open connections per listener.
    #[serde(default, deserialize_with = "lax::opt_i64")]
    pub max_connections: Option<i64>,
    /// Seconds a request body may take in full.
    #[serde(default, deserialize_with = "lax::opt_f64")]
    pub body_timeout: Option<f64>,
    /// Slowest average body rate, bytes per second (0: off).
    #[serde(default, deserialize_with = "lax::opt_i64")]
    pub body_min_rate: Option<i64>,
    /// Seconds a shutdown drain waits for open connections.
    #[serde(default, deserialize_with = "lax::opt_f64")]
    pub drain_timeout: Option<f64>,
}

/// `unix_socket_server_settings` (cpex parses `path` and never reads it; the socket path comes
/// from `PLUGINS_UNIX_SOCKET_PATH`). An unknown key is ignored and logged (docs/decisions.md
/// #104): `pth:` would otherwise serve on the default path unnoticed.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(expecting = "a mapping")]
pub struct UnixSocketServerConfig {
    /// Socket path to listen on.
    #[serde(default)]
    pub path: Option<String>,
}

/// A problem with one key: `(key relative to the entry, message)`.
pub(crate) type KeyProblem = (String, String);

/// The longest Unix socket path Linux accepts: `sun_path` holds 108 bytes with the final NUL.
/// A longer path fails only when the socket is bound or connected, with the kernel's terse
/// "path must be shorter than SUN_LEN"; checked at load instead, naming the key.
pub const MAX_UNIX_SOCKET_PATH: usize = 107;

/// What is wrong with `path` as a Unix socket path (relative, or longer than
/// [`MAX_UNIX_SOCKET_PATH`] bytes), in words that follow the key's name.
pub fn unix_socket_path_problem(path: &Path) -> Option<String> {
    if !path.is_absolute() {
        return Some(format!("must be an absolute path, found {path:?}"));
    }
    let len = path.as_os_str().len();
    (len > MAX_UNIX_SOCKET_PATH).then(|| {
        format!(
            "is {len} bytes long ({path:?}): a Unix socket path can be at most \
             {MAX_UNIX_SOCKET_PATH} bytes, choose a shorter one"
        )
    })
}

fn blank(o: &Option<String>) -> bool {
    o.as_deref().is_none_or(|s| s.trim().is_empty())
}

impl GrpcClientConfig {
    /// cpex's rules: exactly one of `target`/`uds`; `target` has a `:`; `uds` is absolute; no
    /// `tls` with `uds`; a `keyfile` needs a `certfile`.
    pub(crate) fn check(&self) -> Result<(), KeyProblem> {
        let p = |k: &str, m: &str| Err((format!("grpc.{k}"), m.to_owned()));
        match (blank(&self.target), blank(&self.uds)) {
            (true, true) => return p("target", "set exactly one of `target` (host:port) or `uds`"),
            (false, false) => {
                return p("uds", "set exactly one of `target` or `uds`, not both");
            }
            _ => {}
        }
        if let Some(t) = self.target.as_deref().filter(|t| !t.trim().is_empty()) {
            let t = t.trim();
            if let Some(problem) = grpc_target_problem(t) {
                return Err((
                    "grpc.target".into(),
                    format!(
                        "must be host:port with a port from 1 to 65535 and no scheme, e.g. \
                         localhost:50051 or [::1]:50051 (TLS comes from `tls:`, a Unix socket \
                         from `uds:`); {}",
                        yaml_target_problem(t, &problem)
                    ),
                ));
            }
        }
        if let Some(u) = self.uds.as_deref().filter(|u| !u.trim().is_empty()) {
            if let Some(problem) = unix_socket_path_problem(Path::new(u)) {
                return Err(("grpc.uds".into(), problem));
            }
            if self.tls.is_some() {
                return p(
                    "tls",
                    "cannot be combined with `uds`: a Unix socket connection does not use TLS",
                );
            }
        }
        if let Some(tls) = &self.tls {
            if tls.files.keyfile.is_some() && tls.files.certfile.is_none() {
                return p("tls.keyfile", "needs `certfile` as well");
            }
        }
        Ok(())
    }
}

/// The longest number of seconds a timeout or pause in the plugins YAML may be: a day, as the
/// entry's `timeout:` and the server's `limits` timeouts.
const MAX_SECONDS: f64 = 86_400.0;

/// Why a `grpc.target` is not the `host:port` plugwire's client connects to over TCP. grpcio
/// also takes `dns:///host:port`, `ipv4:…`, `unix:…`, and URLs (`grpc://…`) slip in by habit;
/// each would fail only when the first call connects, after the retries meant for a server that
/// restarts. One check for the YAML (at load) and the client (an entry built in code, a
/// `plugwire health` URL); each words it for its own setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GrpcTargetProblem {
    /// `scheme://…`: the scheme.
    Scheme(String),
    /// grpcio's resolver prefix without `//` (`dns:host:port`, `unix:/path`).
    ResolverPrefix(&'static str),
    /// No `:port`.
    NoPort,
    /// Nothing before the `:port`.
    NoHost,
    /// An IPv6 address without brackets (`::1:50051`).
    BareIpv6,
    /// A host with `/` or whitespace: the host.
    BadHost(String),
    /// A port that is not 1..65535: the port as written.
    BadPort(String),
}

/// What keeps `target` (trimmed, not empty) from being `host:port`, `None` when it is one.
pub fn grpc_target_problem(target: &str) -> Option<GrpcTargetProblem> {
    if let Some((scheme, _)) = target.split_once("://") {
        return Some(GrpcTargetProblem::Scheme(scheme.to_string()));
    }
    // `dns:53` is still host `dns`, port 53.
    if let Some(prefix) = ["dns", "ipv4", "ipv6", "unix", "unix-abstract", "vsock"]
        .into_iter()
        .find(|s| {
            target
                .strip_prefix(s)
                .and_then(|r| r.strip_prefix(':'))
                .is_some_and(|r| !r.bytes().all(|b| b.is_ascii_digit()))
        })
    {
        return Some(GrpcTargetProblem::ResolverPrefix(prefix));
    }
    let Some((host, port)) = target.rsplit_once(':') else {
        return Some(GrpcTargetProblem::NoPort);
    };
    if host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .is_empty()
    {
        return Some(GrpcTargetProblem::NoHost);
    }
    // A connect resolves `host:port`, which reads `::1:50051` as no address at all.
    if host.contains(':') && !(host.starts_with('[') && host.ends_with(']')) {
        return Some(GrpcTargetProblem::BareIpv6);
    }
    if host.contains(|c: char| c == '/' || c.is_whitespace()) {
        return Some(GrpcTargetProblem::BadHost(host.to_string()));
    }
    match port.parse::<u16>() {
        Ok(p) if p > 0 => None,
        _ => Some(GrpcTargetProblem::BadPort(port.to_string())),
    }
}

/// [`GrpcTargetProblem`] in the words of the YAML key `grpc.target`.
fn yaml_target_problem(target: &str, problem: &GrpcTargetProblem) -> String {
    match problem {
        GrpcTargetProblem::Scheme(scheme) => {
            format!("found {target:?}, which starts with the scheme `{scheme}://`")
        }
        GrpcTargetProblem::ResolverPrefix(prefix) => {
            format!("found {target:?}: grpcio's `{prefix}:` form is not taken by plugwire's client")
        }
        GrpcTargetProblem::NoPort => format!("found {target:?}, which has no `:port`"),
        GrpcTargetProblem::NoHost => format!("found {target:?}, which has no host"),
        GrpcTargetProblem::BareIpv6 => {
            format!("found {target:?}: write an IPv6 address in brackets, e.g. [::1]:50051")
        }
        GrpcTargetProblem::BadHost(host) => {
            format!("found {target:?}, whose host {host:?} is not a host name or address")
        }
        GrpcTargetProblem::BadPort(port) => {
            format!("found {target:?}, whose port {port:?} is not 1..65535")
        }
    }
}

impl UnixSocketClientConfig {
    /// `path` must be absolute and short enough; `reconnect_attempts` 0 or more (0: no
    /// retry); `reconnect_delay` 0 or more seconds (0: no pause); `timeout` above 0 (a call
    /// cannot succeed in no time); the delay and the timeout at most a day. The same rules as
    /// the MCP entry's retries and the server's `limits` timeouts (docs/decisions.md #105).
    pub(crate) fn check(&self) -> Result<(), KeyProblem> {
        if let Some(problem) = unix_socket_path_problem(Path::new(&self.path)) {
            return Err(("unix_socket.path".into(), problem));
        }
        if self.reconnect_attempts < 0 {
            return Err((
                "unix_socket.reconnect_attempts".into(),
                format!(
                    "must be 0 or more (0: no retry), found {}",
                    self.reconnect_attempts
                ),
            ));
        }
        let d = self.reconnect_delay;
        if !(d.is_finite() && (0.0..=MAX_SECONDS).contains(&d)) {
            return Err((
                "unix_socket.reconnect_delay".into(),
                format!(
                    "must be a number of seconds from 0 (no pause) to {MAX_SECONDS}, found {d}"
                ),
            ));
        }
        let t = self.timeout;
        if !(t.is_finite() && t > 0.0 && t <= MAX_SECONDS) {
            return Err((
                "unix_socket.timeout".into(),
                format!("must be a number of seconds above 0 (at most {MAX_SECONDS}), found {t}"),
            ));
        }
        Ok(())
    }
}

impl GrpcServerConfig {
    /// TLS needs `certfile` and `keyfile`; no TLS with `uds`; `client_auth` is known; `uds` is
    /// absolute.
    pub(crate) fn check(&self) -> Result<(), KeyProblem> {
        let k = |s: &str| format!("grpc_server_settings.{s}");
        if let Some(u) = &self.uds {
            if let Some(problem) = unix_socket_path_problem(Path::new(u)) {
                return Err((k("uds"), problem));
            }
            if self.tls.is_some() {
                return Err((k("tls"), "cannot be combined with `uds`".into()));
            }
        }
        if let Some(port) = self.port {
            if !(0..=65535).contains(&port) {
                return Err((k("port"), format!("must be 0..65535, found {port}")));
            }
        }
        if let Some(tls) = &self.tls {
            if blank(&tls.files.certfile) || blank(&tls.files.keyfile) {
                return Err((k("tls"), "TLS needs both `certfile` and `keyfile`".into()));
            }
            if let Some(a) = &tls.own.client_auth {
                if !matches!(a.to_lowercase().as_str(), "none" | "optional" | "require") {
                    return Err((
                        k("tls.client_auth"),
                        format!("must be none, optional or require, found {a:?}"),
                    ));
                }
            }
        }
        Ok(())
    }
}
