//! Opening connections: TCP, TCP+TLS, or a Unix socket, and counting every one opened.
//!
//! The count is how tests (and `plugwire call --repeat`) prove that connections are reused:
//! N calls at concurrency c must open at most c connections.

use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpStream, UnixStream};
use tokio_rustls::client::TlsStream;

use crate::error::TlsFailure;
use crate::identity::ReloadingConnector;

/// Counters shared by every connection a client (or a whole process) opens.
#[derive(Debug, Default)]
pub struct ConnectionStats {
    opened: AtomicU64,
    requests: AtomicU64,
}

impl ConnectionStats {
    /// A fresh set of counters.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }
    /// Transport connections opened so far (TCP or Unix socket connects, for MCP, gRPC and the raw
    /// socket alike; child processes for stdio).
    pub fn connections_opened(&self) -> u64 {
        self.opened.load(Ordering::Relaxed)
    }
    /// Requests sent so far: JSON-RPC requests and notifications, gRPC calls, raw-socket request
    /// frames (a retried call counts each time it is sent).
    pub fn requests_sent(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }
    pub(crate) fn count_connection(&self) {
        self.opened.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn count_request(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
    }
}

/// Where and how to connect.
#[derive(Clone)]
pub(crate) enum Endpoint {
    /// Plain TCP to host:port.
    Tcp { host: String, port: u16 },
    /// TCP then TLS; `server_name` is what the certificate is checked against. The connector
    /// re-reads its files when they change (new connections only).
    Tls {
        host: String,
        port: u16,
        connector: Arc<ReloadingConnector>,
        server_name: ServerName<'static>,
        /// The host as written in the URL, for messages.
        url_host: String,
        /// The resolved settings, so failures can name the key or variable to change.
        settings: Arc<plugwire_tls::ClientTlsSettings>,
    },
    /// A Unix domain socket (Streamable HTTP over it; TLS never applies).
    Unix { path: PathBuf },
}

/// Why a connection could not be opened.
#[derive(Debug)]
pub(crate) enum ConnectError {
    /// Socket-level failure (refused, unreachable, no such socket file).
    Io(io::Error),
    /// The TLS handshake failed: what was refused, how to fix it, and rustls' error.
    Tls(TlsFailure),
}

impl Endpoint {
    /// Opens one connection; counts it as soon as the socket is connected.
    pub(crate) async fn connect(&self, stats: &ConnectionStats) -> Result<Stream, ConnectError> {
        match self {
            Endpoint::Tcp { host, port } => {
                let tcp = TcpStream::connect((host.as_str(), *port))
                    .await
                    .map_err(ConnectError::Io)?;
                stats.count_connection();
                let _ = tcp.set_nodelay(true);
                Ok(Stream::Tcp(tcp))
            }
            Endpoint::Tls {
                host,
                port,
                connector,
                server_name,
                ..
            } => {
                let tcp = TcpStream::connect((host.as_str(), *port))
                    .await
                    .map_err(ConnectError::Io)?;
                stats.count_connection();
                let _ = tcp.set_nodelay(true);
                let tls = connector
                    .connector()
                    .connect(server_name.clone(), tcp)
                    .await
                    .map_err(|e| handshake_error(e, self))?;
                Ok(Stream::Tls(Box::new(tls)))
            }
            Endpoint::Unix { path } => {
                let unix = UnixStream::connect(path).await.map_err(ConnectError::Io)?;
                stats.count_connection();
                Ok(Stream::Unix(unix))
            }
        }
    }
}

/// A TLS handshake that broke. rustls' error (a certificate refused, an alert) is a TLS failure,
/// never retried; a peer that went away before any TLS message said why (reset, closed: a
/// server stopping or restarting) is a connection failure, which recovery retries like a refused
/// connect.
fn handshake_error(e: io::Error, endpoint: &Endpoint) -> ConnectError {
    let gone = matches!(
        e.kind(),
        io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::UnexpectedEof
            | io::ErrorKind::BrokenPipe
    );
    if gone && find_rustls_error(&e).is_none() {
        let words = format!("the connection closed during the TLS handshake: {e}");
        return ConnectError::Io(io::Error::new(e.kind(), words));
    }
    ConnectError::Tls(TlsFailure::handshake(e, endpoint))
}

/// Explains a TLS failure on this endpoint in the terms of the gateway's settings (which of
/// the YAML keys / env variables to change).
pub(crate) fn explain_tls(err: &rustls::Error, endpoint: &Endpoint) -> String {
    match endpoint {
        Endpoint::Tls { settings, .. } if answered_without_tls(err) => {
            let url = sibling_key(&settings.yaml_prefix, "url");
            format!(
                "{WITHOUT_TLS} (plain HTTP, as a plugin server without TLS answers): to call it \
                 without TLS write http:// instead of https:// in `{url}`; otherwise check that \
                 the port is the server's TLS port"
            )
        }
        Endpoint::Tls {
            url_host, settings, ..
        } => explain_tls_for(err, url_host, settings),
        _ => format!("TLS error: {err}"),
    }
}

/// The start of the explanation of a server that does not speak TLS on the port.
pub(crate) const WITHOUT_TLS: &str = "the server answered without TLS";

/// Whether the server's first answer to our ClientHello was not a TLS record (rustls reads its
/// first byte as a record type it does not know): the port speaks plaintext, plain HTTP/1.1
/// (its status line) or a plaintext HTTP/2 gRPC port (its SETTINGS frame).
pub(crate) fn answered_without_tls(err: &rustls::Error) -> bool {
    matches!(
        err,
        rustls::Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType)
    )
}

/// `prefix` (`plugins[X].grpc.tls`) with its last part replaced by `field`
/// (`plugins[X].grpc.target`): the entry's other keys, for messages.
fn sibling_key(prefix: &str, field: &str) -> String {
    match prefix.strip_suffix(".tls") {
        Some(section) => format!("{section}.{field}"),
        None => field.to_string(),
    }
}

/// [`explain_tls_for`] for a `grpc:` entry's `target` (`host:port`): the cases whose fix differs
/// from an MCP entry's. A host the certificate does not name is fixed with `grpc.tls.server_name`
/// (a gRPC entry has no `check_hostname`) or a target host the certificate names; a server that
/// answers in plaintext is called without `grpc.tls`.
pub(crate) fn explain_grpc_tls(
    err: &rustls::Error,
    target: &str,
    settings: &plugwire_tls::ClientTlsSettings,
) -> String {
    use rustls::CertificateError as C;
    let host = crate::remote::target_host(target);
    match err {
        rustls::Error::InvalidCertificate(
            C::NotValidForName | C::NotValidForNameContext { .. },
        ) => grpc_name_mismatch(err, host, target, settings),
        _ if answered_without_tls(err) => {
            // Without a `tls` block the variables turned TLS on; with one, they are ignored.
            let drop_tls = if from_variables(settings) {
                "unset the PLUGINS_GRPC_CLIENT_MTLS_* variables, which turn TLS on for an entry \
                 without `grpc.tls`,"
                    .to_string()
            } else {
                format!("drop `{}` from the entry", settings.yaml_prefix)
            };
            format!(
                "{WITHOUT_TLS} (plaintext HTTP/2, as a gRPC port without TLS answers): to call it \
                 in plaintext, {drop_tls} (`plugwire health` takes grpc:// for such a port); \
                 otherwise serve TLS on it (PLUGINS_GRPC_SERVER_SSL_ENABLED=true and the server's \
                 certificate)"
            )
        }
        _ => explain_tls_for(err, host, settings),
    }
}

/// Whether a `grpc:` entry's TLS settings come from the `PLUGINS_GRPC_CLIENT_MTLS_*` variables:
/// they are read only for an entry without a `grpc.tls` block, and then none of its values
/// comes from YAML.
fn from_variables(settings: &plugwire_tls::ClientTlsSettings) -> bool {
    let o = &settings.origins;
    [
        &o.certfile,
        &o.keyfile,
        &o.ca_bundle,
        &o.keyfile_password,
        &o.verify,
        &o.server_name,
        &o.ca_crl,
    ]
    .into_iter()
    .any(|o| matches!(o, plugwire_tls::Origin::Env(_)))
}

/// The certificate does not name the target's host: the three ways out for a `grpc:` entry.
fn grpc_name_mismatch(
    err: &rustls::Error,
    host: &str,
    target: &str,
    settings: &plugwire_tls::ClientTlsSettings,
) -> String {
    let presented = plugwire_tls::names_presented(err);
    let valid_for = if presented.is_empty() {
        String::new()
    } else {
        format!(" (it is valid for: {})", presented.join(", "))
    };
    // rustls writes a DNS name as `DnsName("localhost")`.
    let names: Vec<&str> = presented
        .iter()
        .filter_map(|p| p.strip_prefix("DnsName(\"")?.strip_suffix("\")"))
        .collect();
    let example = names
        .iter()
        .find(|n| **n == "localhost")
        .or(names.first())
        .copied()
        .unwrap_or("localhost");
    let port = target.rsplit_once(':').map_or("PORT", |(_, p)| p);
    let san = plugwire_tls::san_for_host(host);
    // Only the place the entry reads: its `tls` block hides every variable.
    let var = settings.names.server_name;
    let (server_name, unread) = if from_variables(settings) {
        (format!("environment variable {var}"), String::new())
    } else {
        let key = format!("YAML key `{}.server_name`", settings.yaml_prefix);
        (key, format!("; {var}{GRPC_VAR_UNREAD}"))
    };
    let target_key = sibling_key(&settings.yaml_prefix, "target");
    format!(
        "the plugin server's certificate is not valid for the host `{host}` in `{target_key}`\
         {valid_for}. Fix it in one of three ways: (1) set {server_name} to a name the \
         certificate carries, such as `{example}` (checked instead of the target's host, while \
         the connection still goes to {target}{unread}); (2) use a host the certificate names in \
         `{target_key}`, such as `{example}:{port}`; (3) reissue the plugin certificate with that \
         name: plugwire certs plugin NAME --san {san} --force"
    )
}

/// After a variable's name: the remark that a `grpc.tls` block hides it (`plugwire health`
/// words it for its options).
pub(crate) const GRPC_VAR_UNREAD: &str = " is not read for an entry with `grpc.tls`";

/// [`explain_tls`] for a connection to `host` with `settings` (MCP's endpoints, gRPC's target).
pub(crate) fn explain_tls_for(
    err: &rustls::Error,
    host: &str,
    settings: &plugwire_tls::ClientTlsSettings,
) -> String {
    use rustls::CertificateError as C;
    let other_key = match err {
        rustls::Error::InvalidCertificate(C::BadSignature) => "another key",
        rustls::Error::InvalidCertificate(
            C::UnsupportedSignatureAlgorithmForPublicKeyContext { .. },
        ) => "another type of key (RSA and ECDSA)",
        _ => return plugwire_tls::explain_client_handshake_error(err, host, settings),
    };
    // Two CAs with the same name (e.g. `certs all` run twice in different places, or with
    // another `--key-type`).
    let bundle = settings
        .ca_bundle
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| plugwire_tls::SYSTEM_CA_BUNDLE.to_string());
    format!(
        "the plugin server's certificate does not verify: the CA bundle {bundle} holds a CA with \
         the issuer's name but {other_key} (was the CA regenerated?): set {} to the CA that issued \
         the plugin server's certificate",
        settings.setting("ca_bundle")
    )
}

/// The rustls error inside a hyper / tokio-rustls error chain, if any.
pub(crate) fn find_rustls_error<'a>(
    err: &'a (dyn std::error::Error + 'static),
) -> Option<&'a rustls::Error> {
    plugwire_tls::rustls_error_in(err)
}

/// One connection, whichever kind; `Unpin` so the hyper adapters need no pinning tricks.
pub(crate) enum Stream {
    Tcp(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
    Unix(UnixStream),
}

impl Stream {
    /// Wraps the stream for hyper.
    pub(crate) fn into_hyper(self) -> TokioIo<Stream> {
        TokioIo::new(self)
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
            Stream::Unix(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
            Stream::Unix(s) => Pin::new(s).poll_write(cx, buf),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
            Stream::Unix(s) => Pin::new(s).poll_flush(cx),
        }
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
            Stream::Unix(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}
