//! The client's typed error, built the way rustls builds its own: one [`Context`] saying where
//! (plugin, endpoint, operation) and one [`ErrorKind`] saying what, whose variants keep the
//! real cause (an `io::Error`, a `rustls::Error`, a `hyper::Error`, a gRPC status, a
//! `serde_json::Error`, the TLS crate's settings error) as a typed [`Cause`].
//!
//! Why both a sentence and a cause: an operator reading a gateway log needs one line that names
//! the plugin, the endpoint, what failed and which key to change, so [`ClientError`]'s `Display`
//! keeps the wording log readers and the CLI's tests know; a program that wants to react to
//! the cause (a refused connection, an unknown CA) walks [`std::error::Error::source`] and
//! downcasts, instead of parsing that sentence.
//!
//! The kind also decides what the rest of the crate does with a failure: whether a fresh
//! connection may heal it ([`ClientError::is_recoverable`]: never a TLS failure, a malformed
//! answer or a timeout) and its machine-readable code ([`ClientError::code`]), from which the
//! failure policy ([`crate::policy`]) reads unreachable / timeout / invalid answer.

use std::error::Error as StdError;
use std::fmt;
use std::io;
use std::time::Duration;

/// Where a failure happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Context {
    /// Gateway-side plugin name.
    pub plugin: String,
    /// The endpoint as shown to users (`https://host:port/mcp`, `grpcs://host:port`,
    /// `grpc+unix:///path`, `stdio:...`); `None` before one is known (configuration errors).
    pub endpoint: Option<String>,
    /// The JSON-RPC method or gRPC call in flight (`tools/call`, `GET /health`), when one was.
    pub operation: Option<String>,
}

/// The typed cause underneath a failure; [`ClientError::source`](std::error::Error::source)
/// returns the inner error itself, so `downcast_ref::<io::Error>()` and friends work.
#[derive(Debug)]
#[non_exhaustive]
pub enum Cause {
    /// A socket, pipe or child-process failure.
    Io(io::Error),
    /// What rustls refused (certificate verification, an alert from the peer).
    Rustls(rustls::Error),
    /// An HTTP/1.1 connection or body failure.
    Hyper(hyper::Error),
    /// A request that could not be built.
    Http(http::Error),
    /// A gRPC status (from the server, or tonic's for a broken channel).
    Grpc(tonic::Status),
    /// JSON that did not (de)serialize.
    Json(serde_json::Error),
    /// TLS settings that do not resolve or load (names the file, key or variable).
    TlsSettings(plugwire_tls::TlsError),
    /// A cause of another type (e.g. the raw-socket framing's error, a decoder's).
    Other(Box<dyn StdError + Send + Sync + 'static>),
}

impl Cause {
    /// The inner error, for `source()` and downcasting.
    pub fn as_error(&self) -> &(dyn StdError + 'static) {
        match self {
            Cause::Io(e) => e,
            Cause::Rustls(e) => e,
            Cause::Hyper(e) => e,
            Cause::Http(e) => e,
            Cause::Grpc(e) => e,
            Cause::Json(e) => e,
            Cause::TlsSettings(e) => e,
            Cause::Other(e) => e.as_ref(),
        }
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self.as_error(), f)
    }
}

macro_rules! cause_from {
    ($($variant:ident($ty:ty)),* $(,)?) => {$(
        impl From<$ty> for Cause {
            fn from(e: $ty) -> Self {
                Cause::$variant(e)
            }
        }
    )*};
}

cause_from!(
    Io(io::Error),
    Rustls(rustls::Error),
    Hyper(hyper::Error),
    Http(http::Error),
    Grpc(tonic::Status),
    Json(serde_json::Error),
    TlsSettings(plugwire_tls::TlsError),
    Other(Box<dyn StdError + Send + Sync + 'static>),
);

/// A TLS handshake that failed: the explanation in the terms of the gateway's settings (which
/// key or variable to change) and what rustls (or the socket under it) reported.
#[derive(Debug)]
pub struct TlsFailure {
    /// Which check failed and how to fix it.
    pub explanation: String,
    /// The rustls error, or the I/O error when the handshake broke without one.
    pub cause: Option<Cause>,
}

impl TlsFailure {
    /// A failure with its explanation and cause.
    pub fn new(explanation: impl Into<String>, cause: impl Into<Cause>) -> Self {
        Self {
            explanation: explanation.into(),
            cause: Some(cause.into()),
        }
    }

    /// A handshake on `endpoint` that failed with `e`: rustls' error when the chain holds one
    /// (explained in the terms of the gateway's settings), else the I/O error.
    pub(crate) fn handshake(e: io::Error, endpoint: &crate::connector::Endpoint) -> Self {
        match crate::connector::find_rustls_error(&e).cloned() {
            Some(err) => Self::new(crate::connector::explain_tls(&err, endpoint), err),
            None => Self::new(format!("TLS handshake failed: {e}"), e),
        }
    }

    /// A rustls error met after the handshake (e.g. the server's alert refusing our
    /// certificate arrives on the first read), explained for `endpoint`.
    pub(crate) fn rustls(err: &rustls::Error, endpoint: &crate::connector::Endpoint) -> Self {
        Self::new(crate::connector::explain_tls(err, endpoint), err.clone())
    }
}

/// What failed. `Display` is the part of the sentence after `external plugin '<name>': `.
#[derive(Debug)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The plugin entry cannot work as written (bad URL, missing key, conflicting settings).
    Config {
        /// What is wrong and how to fix it (names the YAML key or env variable).
        message: String,
        /// The underlying error, when there is one.
        cause: Option<Cause>,
    },
    /// TLS settings could not be resolved or built (files, keys, env variables).
    TlsSetup {
        /// Usually the TLS crate's error (names the file/key/variable).
        cause: Cause,
    },
    /// The TCP connect or Unix socket connect failed.
    Connect {
        /// The OS error.
        cause: io::Error,
        /// What to check, or how often it was tried, appended after the OS error.
        hint: Option<String>,
    },
    /// The plugin server's child process (stdio) could not be started.
    Spawn {
        /// The OS error.
        cause: io::Error,
    },
    /// The TLS handshake or certificate verification failed (never retried: it will not heal).
    Tls(TlsFailure),
    /// The connection broke while a request was in flight (server restart, network loss).
    ConnectionLost {
        /// What was going on, in words (includes the cause's text, as logs always showed it).
        detail: String,
        /// The underlying error.
        cause: Option<Cause>,
    },
    /// The server answered 404 for our `mcp-session-id`: it forgot the session (restart).
    SessionLost {
        /// The session id the server refused.
        session_id: String,
        /// 404 (the MCP rule), or 400 with a body about the session.
        status: u16,
    },
    /// A non-success HTTP status.
    HttpStatus {
        /// The status code.
        status: u16,
        /// The start of the body, for the log.
        body: String,
    },
    /// The answer was bigger than the configured limit; the connection was dropped.
    ResponseTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The answer was not a JSON-RPC response we can use (truncated, not JSON, wrong shape).
    Malformed {
        /// What was wrong.
        detail: String,
        /// The decoder's error, when there is one.
        cause: Option<Cause>,
    },
    /// A JSON-RPC error object came back.
    Rpc {
        /// JSON-RPC error code.
        code: i64,
        /// JSON-RPC error message.
        message: String,
    },
    /// The server is reachable but is not a usable plugin server (protocol version, tools,
    /// config, a gRPC status such as `UNIMPLEMENTED`).
    NotAPluginServer {
        /// What was missing.
        detail: String,
        /// The underlying error (e.g. the gRPC status).
        cause: Option<Cause>,
    },
    /// The call did not complete within the per-call timeout.
    Timeout {
        /// The timeout that expired.
        timeout: Duration,
    },
}

/// What went wrong while talking to an external plugin server: where ([`Context`]) and what
/// ([`ErrorKind`]). Boxed: a `Result` of it stays one pointer wide on the call path, and
/// errors are the rare case.
#[derive(Debug)]
pub struct ClientError(Box<Inner>);

#[derive(Debug)]
struct Inner {
    context: Context,
    kind: ErrorKind,
}

impl ClientError {
    /// An error from its parts (the constructors below cover every use in this crate).
    pub fn new(context: Context, kind: ErrorKind) -> Self {
        Self(Box::new(Inner { context, kind }))
    }

    fn at(plugin: &str, endpoint: &str, operation: Option<&str>, kind: ErrorKind) -> Self {
        Self::new(
            Context {
                plugin: plugin.to_string(),
                endpoint: Some(endpoint.to_string()),
                operation: operation.map(str::to_string),
            },
            kind,
        )
    }

    /// The entry cannot work as written.
    pub fn config(plugin: &str, message: impl Into<String>) -> Self {
        Self::config_caused(plugin, message, None::<Cause>)
    }

    /// The entry cannot work as written, because of `cause`.
    pub fn config_caused(
        plugin: &str,
        message: impl Into<String>,
        cause: impl Into<Option<Cause>>,
    ) -> Self {
        let kind = ErrorKind::Config {
            message: message.into(),
            cause: cause.into(),
        };
        Self::new(
            Context {
                plugin: plugin.to_string(),
                endpoint: None,
                operation: None,
            },
            kind,
        )
    }

    /// TLS settings of `url` that do not resolve or load.
    pub fn tls_setup(plugin: &str, url: &str, cause: impl Into<Cause>) -> Self {
        let cause = cause.into();
        Self::at(plugin, url, None, ErrorKind::TlsSetup { cause })
    }

    /// A connect that failed; `hint` is appended to the OS error.
    pub fn connect(plugin: &str, url: &str, cause: io::Error, hint: Option<String>) -> Self {
        Self::at(plugin, url, None, ErrorKind::Connect { cause, hint })
    }

    /// A child process that could not be started.
    pub fn spawn(plugin: &str, url: &str, cause: io::Error) -> Self {
        Self::at(plugin, url, None, ErrorKind::Spawn { cause })
    }

    /// A refused TLS handshake.
    pub fn tls(plugin: &str, url: &str, failure: TlsFailure) -> Self {
        Self::at(plugin, url, None, ErrorKind::Tls(failure))
    }

    /// A connection lost mid-request; `detail` is the sentence logs show.
    pub fn lost(
        plugin: &str,
        url: &str,
        detail: impl Into<String>,
        cause: impl Into<Option<Cause>>,
    ) -> Self {
        let kind = ErrorKind::ConnectionLost {
            detail: detail.into(),
            cause: cause.into(),
        };
        Self::at(plugin, url, None, kind)
    }

    /// A session the server no longer knows.
    pub fn session_lost(plugin: &str, url: &str, session_id: String, status: u16) -> Self {
        Self::at(
            plugin,
            url,
            None,
            ErrorKind::SessionLost { session_id, status },
        )
    }

    /// A non-success HTTP status to `method`.
    pub fn http_status(plugin: &str, url: &str, method: &str, status: u16, body: String) -> Self {
        Self::at(
            plugin,
            url,
            Some(method),
            ErrorKind::HttpStatus { status, body },
        )
    }

    /// An answer to `method` over the size limit.
    pub fn too_large(plugin: &str, url: &str, method: &str, limit: usize) -> Self {
        Self::at(
            plugin,
            url,
            Some(method),
            ErrorKind::ResponseTooLarge { limit },
        )
    }

    /// An answer to `method` that does not decode.
    pub fn malformed(
        plugin: &str,
        url: &str,
        method: &str,
        detail: impl Into<String>,
        cause: impl Into<Option<Cause>>,
    ) -> Self {
        let kind = ErrorKind::Malformed {
            detail: detail.into(),
            cause: cause.into(),
        };
        Self::at(plugin, url, Some(method), kind)
    }

    /// A JSON-RPC error object in answer to `method`.
    pub fn rpc(plugin: &str, url: &str, method: &str, code: i64, message: String) -> Self {
        Self::at(plugin, url, Some(method), ErrorKind::Rpc { code, message })
    }

    /// A reachable server that is not a usable plugin server.
    pub fn not_plugin_server(
        plugin: &str,
        url: &str,
        detail: impl Into<String>,
        cause: impl Into<Option<Cause>>,
    ) -> Self {
        let kind = ErrorKind::NotAPluginServer {
            detail: detail.into(),
            cause: cause.into(),
        };
        Self::at(plugin, url, None, kind)
    }

    /// `method` did not complete within `timeout`.
    pub fn timeout(plugin: &str, url: &str, method: &str, timeout: Duration) -> Self {
        Self::at(plugin, url, Some(method), ErrorKind::Timeout { timeout })
    }

    /// Where it happened.
    pub fn context(&self) -> &Context {
        &self.0.context
    }

    /// What happened.
    pub fn kind(&self) -> &ErrorKind {
        &self.0.kind
    }

    /// Whether the entry itself is wrong (the CLI exits 2 for these, 1 for the rest).
    pub fn is_config(&self) -> bool {
        matches!(self.0.kind, ErrorKind::Config { .. })
    }

    /// Errors after which a fresh connection and a fresh MCP session may succeed
    /// (server restarted, connection dropped, session forgotten). TLS failures, malformed answers
    /// and timeouts are not retried: repeating them would fail the same way or double the wait.
    pub fn is_recoverable(&self) -> bool {
        matches!(
            self.0.kind,
            ErrorKind::ConnectionLost { .. }
                | ErrorKind::SessionLost { .. }
                | ErrorKind::Connect { .. }
                | ErrorKind::Spawn { .. }
        )
    }

    /// A short machine-readable code, used as the `code` of the framework's `PluginError` (and
    /// read back by the failure policy).
    pub fn code(&self) -> &'static str {
        match self.0.kind {
            ErrorKind::Config { .. } => "CONFIG_ERROR",
            ErrorKind::TlsSetup { .. } => "TLS_CONFIG_ERROR",
            ErrorKind::Connect { .. } | ErrorKind::Spawn { .. } => "CONNECT_ERROR",
            ErrorKind::Tls(_) => "TLS_ERROR",
            ErrorKind::ConnectionLost { .. } => "CONNECTION_LOST",
            ErrorKind::SessionLost { .. } => "SESSION_LOST",
            ErrorKind::HttpStatus { .. } => "HTTP_ERROR",
            ErrorKind::ResponseTooLarge { .. } => "RESPONSE_TOO_LARGE",
            ErrorKind::Malformed { .. } => "MALFORMED_RESPONSE",
            ErrorKind::Rpc { .. } => "JSONRPC_ERROR",
            ErrorKind::NotAPluginServer { .. } => "NOT_A_PLUGIN_SERVER",
            ErrorKind::Timeout { .. } => "TIMEOUT",
        }
    }

    /// The sentence without the `external plugin '<name>': ` prefix (for a command line that
    /// has no plugin entry, such as `plugwire health`).
    pub fn detail(&self) -> String {
        Detail(self).to_string()
    }

    /// For a connection lost while reading the answer to `method`: says the answer was cut
    /// off (other kinds are returned unchanged).
    pub fn cut_off(mut self, method: &str) -> Self {
        if let ErrorKind::ConnectionLost { detail, cause } = &mut self.0.kind {
            let chain = match cause {
                Some(c) => crate::http::error_chain(c.as_error()),
                None => detail.clone(),
            };
            *detail = format!("{method}: the answer was cut off ({chain})");
        }
        self
    }
}

struct Detail<'a>(&'a ClientError);

impl fmt::Display for Detail<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Context {
            endpoint,
            operation,
            ..
        } = self.0.context();
        let url = endpoint.as_deref().unwrap_or("(no endpoint)");
        let method = operation.as_deref().unwrap_or("(request)");
        match self.0.kind() {
            ErrorKind::Config { message, .. } => write!(f, "invalid configuration: {message}"),
            ErrorKind::TlsSetup { cause } => write!(f, "TLS settings for {url}: {cause}"),
            ErrorKind::Connect { cause, hint } => {
                write!(f, "cannot connect to {url}: {cause}")?;
                match hint {
                    Some(h) => write!(f, " {h}"),
                    None => Ok(()),
                }
            }
            ErrorKind::Spawn { cause } => write!(
                f,
                "cannot connect to {url}: cannot start the plugin server process: {cause} \
                 (check mcp.script / mcp.cmd and mcp.cwd)"
            ),
            ErrorKind::Tls(t) => write!(f, "TLS with {url} failed: {}", t.explanation),
            ErrorKind::ConnectionLost { detail, .. } => {
                write!(f, "connection to {url} lost: {detail}")
            }
            ErrorKind::SessionLost { session_id, status } => write!(
                f,
                "{url} no longer knows MCP session {session_id} (HTTP {status})"
            ),
            ErrorKind::HttpStatus { status, body } => {
                write!(f, "{url} answered HTTP {status} to {method}: {body}")
            }
            ErrorKind::ResponseTooLarge { limit } => write!(
                f,
                "the answer of {url} to {method} exceeds the {limit}-byte limit"
            ),
            ErrorKind::Malformed { detail, .. } => {
                write!(f, "malformed answer from {url} to {method}: {detail}")
            }
            ErrorKind::Rpc { code, message } => write!(
                f,
                "{url} answered {method} with JSON-RPC error {code}: {message}"
            ),
            ErrorKind::NotAPluginServer { detail, .. } => {
                write!(f, "{url} is not a usable plugin server: {detail}")
            }
            ErrorKind::Timeout { timeout } => {
                write!(f, "{method} on {url} timed out after {timeout:?}")
            }
        }
    }
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "external plugin '{}': {}",
            self.0.context.plugin,
            Detail(self)
        )
    }
}

impl StdError for ClientError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        let cause = match &self.0.kind {
            ErrorKind::Config { cause, .. }
            | ErrorKind::ConnectionLost { cause, .. }
            | ErrorKind::Malformed { cause, .. }
            | ErrorKind::NotAPluginServer { cause, .. } => cause.as_ref(),
            ErrorKind::TlsSetup { cause } => Some(cause),
            ErrorKind::Connect { cause, .. } | ErrorKind::Spawn { cause } => return Some(cause),
            ErrorKind::Tls(t) => t.cause.as_ref(),
            ErrorKind::SessionLost { .. }
            | ErrorKind::HttpStatus { .. }
            | ErrorKind::ResponseTooLarge { .. }
            | ErrorKind::Rpc { .. }
            | ErrorKind::Timeout { .. } => None,
        };
        cause.map(Cause::as_error)
    }
}
