//! The `grpc:` and `unix_socket:` sections of an external entry and the top-level
//! `grpc_server_settings` / `unix_socket_server_settings`, typed and validated as cpex validates
//! them. Whether a transport is implemented is the client's and server's business, not the
//! model's: a valid section loads here, and the side that cannot serve it says so.

use std::path::Path;

use serde::{Deserialize, Serialize, Serializer};

use crate::serde_util::lax;

/// `grpc:` of an external entry: exactly one of `target` (`host:port`) or `uds` (absolute path).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
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

/// `grpc.tls`. `verify` is `None` when unset so env can override it field by field; it
/// serializes as its default `true`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct GrpcClientTLSConfig {
    /// Certificate (chain) file.
    #[serde(default)]
    pub certfile: Option<String>,
    /// Private key file.
    #[serde(default)]
    pub keyfile: Option<String>,
    /// CA bundle the peer's certificate must chain to.
    #[serde(default)]
    pub ca_bundle: Option<String>,
    /// Password of an encrypted PKCS#8 key.
    #[serde(default)]
    pub keyfile_password: Option<String>,
    #[serde(
        default,
        serialize_with = "ser_default_true",
        deserialize_with = "lax::opt_bool"
    )]
    /// `false`: accept any server certificate (dangerous; for tests).
    pub verify: Option<bool>,
    /// Identity the gRPC plugin server's certificate must carry (plugwire only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_name: Option<String>,
    /// CRL file checked for the gRPC plugin server's certificate (plugwire only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_crl: Option<String>,
}

fn ser_default_true<S: Serializer>(v: &Option<bool>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_bool(v.unwrap_or(true))
}

/// `unix_socket:` of an external entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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

/// `grpc_server_settings.tls`. `client_auth` is `none`, `optional` or `require` (case-insensitive,
/// cpex's default `require`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct GrpcServerTLSConfig {
    /// Certificate (chain) file.
    #[serde(default)]
    pub certfile: Option<String>,
    /// Private key file.
    #[serde(default)]
    pub keyfile: Option<String>,
    /// CA bundle the peer's certificate must chain to.
    #[serde(default)]
    pub ca_bundle: Option<String>,
    /// Password of an encrypted PKCS#8 key.
    #[serde(default)]
    pub keyfile_password: Option<String>,
    /// Client certificate policy: `none`, `optional` or `require`.
    #[serde(default)]
    pub client_auth: Option<String>,
    /// Client identities allowed to call (plugwire only; see `server_settings.tls`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_clients: Option<Vec<String>>,
    /// CRL file checked for every gRPC client certificate (plugwire only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_crl: Option<String>,
}

/// `unix_socket_server_settings` (cpex parses `path` and never reads it; the socket path comes
/// from `PLUGINS_UNIX_SOCKET_PATH`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct UnixSocketServerConfig {
    /// Socket path to listen on.
    #[serde(default)]
    pub path: Option<String>,
}

/// A problem with one key: `(key relative to the entry, message)`.
pub(crate) type KeyProblem = (String, String);

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
            if !Path::new(u).is_absolute() {
                return Err((
                    "grpc.uds".into(),
                    format!("must be an absolute path, found {u:?}"),
                ));
            }
            if self.tls.is_some() {
                return p(
                    "tls",
                    "cannot be combined with `uds`: a Unix socket connection does not use TLS",
                );
            }
        }
        if let Some(tls) = &self.tls {
            if tls.keyfile.is_some() && tls.certfile.is_none() {
                return p("tls.keyfile", "needs `certfile` as well");
            }
        }
        Ok(())
    }
}

impl UnixSocketClientConfig {
    /// `path` must be absolute; the retry numbers must not be negative.
    pub(crate) fn check(&self) -> Result<(), KeyProblem> {
        if !Path::new(&self.path).is_absolute() {
            return Err((
                "unix_socket.path".into(),
                format!("must be an absolute path, found {:?}", self.path),
            ));
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
            if !Path::new(u).is_absolute() {
                return Err((k("uds"), format!("must be an absolute path, found {u:?}")));
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
            if blank(&tls.certfile) || blank(&tls.keyfile) {
                return Err((k("tls"), "TLS needs both `certfile` and `keyfile`".into()));
            }
            if let Some(a) = &tls.client_auth {
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
