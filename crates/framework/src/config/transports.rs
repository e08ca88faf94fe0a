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
/// so the settings layer can fill them from `PLUGINS_GRPC_SERVER_*`.
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
/// Python's defaults are host `127.0.0.1`, port `8000`, `ssl_cert_reqs` 2.
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
/// from `PLUGINS_UNIX_SOCKET_PATH`).
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
            if !t.contains(':') {
                return Err((
                    "grpc.target".into(),
                    format!("must be host:port, e.g. localhost:50051, found {t:?}"),
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

impl UnixSocketClientConfig {
    /// `path` must be absolute and short enough; the retry numbers must not be negative.
    pub(crate) fn check(&self) -> Result<(), KeyProblem> {
        if let Some(problem) = unix_socket_path_problem(Path::new(&self.path)) {
            return Err(("unix_socket.path".into(), problem));
        }
        if self.reconnect_attempts < 0 {
            return Err((
                "unix_socket.reconnect_attempts".into(),
                "must be 0 or more".into(),
            ));
        }
        for (k, v) in [
            ("reconnect_delay", self.reconnect_delay),
            ("timeout", self.timeout),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return Err((
                    format!("unix_socket.{k}"),
                    format!("must be a non-negative number of seconds, found {v}"),
                ));
            }
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
