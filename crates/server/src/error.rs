//! Start-up errors of `plugwire serve`. Each names the setting (YAML key and/or environment
//! variable) and says how to fix it; all of them happen before the server accepts anything.

use std::io;
use std::path::PathBuf;

use plugwire_env::Origin;

/// Why the server cannot start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// The plugins YAML is missing or invalid.
    #[error(transparent)]
    Config(#[from] plugwire_framework::ConfigError),
    /// `server_settings` / `PLUGINS_SERVER_*` are invalid, or the TLS files are unusable.
    #[error(transparent)]
    Tls(#[from] plugwire_tls::TlsError),
    /// A plugin failed to initialize.
    #[error("plugin initialization failed: {0}")]
    PluginInit(#[source] plugwire_framework::PluginError),
    /// A server option (`--max-body-bytes`, `PLUGINS_SERVER_*` of this crate) is invalid.
    #[error("invalid {setting} {value:?}: {message}")]
    InvalidOption {
        /// The flag and/or variable.
        setting: String,
        /// The value given.
        value: String,
        /// What is expected.
        message: String,
    },
    /// A port that is not an integer in the setting's range (1..=65535, or 0..=65535 where 0
    /// asks for any free port).
    #[error("invalid port {value:?} in {origin}: it must be an integer from {range}")]
    InvalidPort {
        /// Where it came from.
        origin: Origin,
        /// What it held.
        value: String,
        /// What is accepted, e.g. "1 to 65535".
        range: &'static str,
    },
    /// An empty or blank host.
    #[error("invalid host {value:?} in {origin}: give an address or name to bind, e.g. 127.0.0.1 or 0.0.0.0")]
    InvalidHost {
        /// Where it came from.
        origin: Origin,
        /// What it held.
        value: String,
    },
    /// A Unix socket path that is relative.
    #[error("Unix socket path {path:?} in {origin} must be absolute")]
    UdsNotAbsolute {
        /// Where it came from.
        origin: Origin,
        /// The path.
        path: PathBuf,
    },
    /// A Unix socket path the kernel would refuse (longer than `sun_path` holds).
    #[error("the Unix socket path in {origin} {problem}")]
    UdsPath {
        /// Where it came from.
        origin: Origin,
        /// What is wrong with it, with the path.
        problem: String,
    },
    /// A Unix socket path whose directory does not exist.
    #[error("the directory {parent:?} of the Unix socket path {path:?} in {origin} does not exist: create it first")]
    UdsParentMissing {
        /// Where it came from.
        origin: Origin,
        /// The socket path.
        path: PathBuf,
        /// Its parent directory.
        parent: PathBuf,
    },
    /// TLS and a Unix socket together.
    #[error("TLS is not supported on a Unix domain socket ({uds_origin} sets one, {tls_origin} turns TLS on): a Unix socket is protected by its file permissions and never leaves the host. Remove one of the two")]
    UdsWithTls {
        /// Where the socket path came from.
        uds_origin: Origin,
        /// Where TLS was turned on.
        tls_origin: Origin,
    },
    /// A transport name plugwire does not know.
    #[error("unknown transport {value:?} in {origin}: use {valid}, or a comma-separated list of them (e.g. http,grpc)")]
    UnknownTransport {
        /// `PLUGINS_TRANSPORT` or `--transport`.
        origin: String,
        /// The name given.
        value: String,
        /// The names plugwire knows.
        valid: &'static str,
    },
    /// A transport combination that cannot run in one process.
    #[error("{message} ({origin})")]
    TransportConflict {
        /// `PLUGINS_TRANSPORT` or `--transport`.
        origin: String,
        /// Why.
        message: &'static str,
    },
    /// A transport this binary cannot serve yet.
    #[error("transport {transport} is not built into this binary yet ({origin})")]
    TransportNotBuilt {
        /// The transport.
        transport: &'static str,
        /// `PLUGINS_TRANSPORT` or `--transport`.
        origin: String,
    },
    /// The host name does not resolve to an address.
    #[error("cannot resolve the bind host {host:?} ({origin}): {reason}")]
    Resolve {
        /// The host.
        host: String,
        /// Where it came from.
        origin: String,
        /// Resolver error.
        reason: String,
    },
    /// The TCP port is taken.
    #[error("{what} {addr} is already in use ({origin}): stop the process using it or choose another port")]
    PortInUse {
        /// "port" or "health port (port + 1000)".
        what: &'static str,
        /// The address.
        addr: String,
        /// The setting that chose the port.
        origin: String,
    },
    /// Any other bind failure (permission denied for ports < 1024, address not local, ...).
    #[error("cannot listen on {addr} ({origin}): {source}")]
    Bind {
        /// The address.
        addr: String,
        /// The setting that chose it.
        origin: String,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// With TLS on, the plain health server needs port + 1000.
    #[error("with TLS on, the plain-HTTP health server listens on port + 1000 = {health_port}, which is above 65535: choose a port of at most 64535 ({origin})")]
    HealthPortOutOfRange {
        /// port + 1000.
        health_port: u32,
        /// The setting that chose the port.
        origin: String,
    },
    /// Two listeners of this process set to one address (found before anything is bound).
    #[error("{first} and {second} are both set to listen on {addr}: each listener needs its own address; change one of the two settings")]
    AddressClash {
        /// The shared address (both, when one is an unspecified address covering the other).
        addr: String,
        /// The listener configured first, with the settings that chose its address.
        first: String,
        /// The other one.
        second: String,
    },
    /// Another server is listening on the Unix socket.
    #[error("the Unix socket {path:?} ({origin}) is in use by a running server: stop it or choose another path")]
    UdsInUse {
        /// The socket path.
        path: PathBuf,
        /// The setting.
        origin: String,
    },
    /// The Unix socket path exists and is not a socket.
    #[error("{path:?} ({origin}) exists and is not a Unix socket; refusing to replace it. Choose another path")]
    UdsNotSocket {
        /// The path.
        path: PathBuf,
        /// The setting.
        origin: String,
    },
    /// The Unix socket could not be created.
    #[error("cannot listen on the Unix socket {path:?} ({origin}): {source}")]
    UdsBind {
        /// The path.
        path: PathBuf,
        /// The setting.
        origin: String,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// stdio failed.
    #[error("stdio transport failed: {0}")]
    Stdio(#[source] io::Error),
}
