//! The client's typed error: every variant says which plugin, which endpoint and what failed, so
//! an operator reading a gateway log knows where to look without a debugger.

use std::time::Duration;

/// What went wrong while talking to an external plugin server.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The plugin entry cannot work as written (bad URL, missing key, conflicting settings).
    #[error("external plugin '{plugin}': invalid configuration: {message}")]
    Config {
        /// Gateway-side plugin name.
        plugin: String,
        /// What is wrong and how to fix it (names the YAML key or env variable).
        message: String,
    },
    /// TLS settings could not be resolved or built (files, keys, env variables).
    #[error("external plugin '{plugin}': TLS settings for {url}: {message}")]
    TlsSetup {
        /// Gateway-side plugin name.
        plugin: String,
        /// The endpoint.
        url: String,
        /// The TLS crate's message (names the file/key/variable).
        message: String,
    },
    /// The TCP connect, Unix socket connect or child spawn failed.
    #[error("external plugin '{plugin}': cannot connect to {url}: {message}")]
    Connect {
        /// Gateway-side plugin name.
        plugin: String,
        /// The endpoint.
        url: String,
        /// The OS error, in words.
        message: String,
    },
    /// The TLS handshake or certificate verification failed (never retried: it will not heal).
    #[error("external plugin '{plugin}': TLS with {url} failed: {message}")]
    Tls {
        /// Gateway-side plugin name.
        plugin: String,
        /// The endpoint.
        url: String,
        /// Which check failed and how to fix it.
        message: String,
    },
    /// The connection broke while a request was in flight (server restart, network loss).
    #[error("external plugin '{plugin}': connection to {url} lost: {message}")]
    ConnectionLost {
        /// Gateway-side plugin name.
        plugin: String,
        /// The endpoint.
        url: String,
        /// The underlying error.
        message: String,
    },
    /// The server answered 404 for our `mcp-session-id`: it forgot the session (restart).
    #[error(
        "external plugin '{plugin}': {url} no longer knows MCP session {session_id} (HTTP {status})"
    )]
    SessionLost {
        /// Gateway-side plugin name.
        plugin: String,
        /// The endpoint.
        url: String,
        /// The session id the server refused.
        session_id: String,
        /// 404 (the MCP rule), or 400 with a body about the session.
        status: u16,
    },
    /// A non-success HTTP status.
    #[error("external plugin '{plugin}': {url} answered HTTP {status} to {method}: {body}")]
    HttpStatus {
        /// Gateway-side plugin name.
        plugin: String,
        /// The endpoint.
        url: String,
        /// The JSON-RPC method we sent.
        method: String,
        /// The status code.
        status: u16,
        /// The start of the body, for the log.
        body: String,
    },
    /// The answer was bigger than the configured limit; the connection was dropped.
    #[error("external plugin '{plugin}': the answer of {url} to {method} exceeds the {limit}-byte limit")]
    ResponseTooLarge {
        /// Gateway-side plugin name.
        plugin: String,
        /// The endpoint.
        url: String,
        /// The JSON-RPC method we sent.
        method: String,
        /// The limit in bytes.
        limit: usize,
    },
    /// The answer was not a JSON-RPC response we can use (truncated, not JSON, wrong shape).
    #[error("external plugin '{plugin}': malformed answer from {url} to {method}: {message}")]
    Malformed {
        /// Gateway-side plugin name.
        plugin: String,
        /// The endpoint.
        url: String,
        /// The JSON-RPC method we sent.
        method: String,
        /// What was wrong.
        message: String,
    },
    /// A JSON-RPC error object came back.
    #[error(
        "external plugin '{plugin}': {url} answered {method} with JSON-RPC error {code}: {message}"
    )]
    Rpc {
        /// Gateway-side plugin name.
        plugin: String,
        /// The endpoint.
        url: String,
        /// The JSON-RPC method we sent.
        method: String,
        /// JSON-RPC error code.
        code: i64,
        /// JSON-RPC error message.
        message: String,
    },
    /// The server is reachable but is not a usable plugin server (protocol version, tools, config).
    #[error("external plugin '{plugin}': {url} is not a usable plugin server: {message}")]
    NotAPluginServer {
        /// Gateway-side plugin name.
        plugin: String,
        /// The endpoint.
        url: String,
        /// What was missing.
        message: String,
    },
    /// The call did not complete within the per-call timeout.
    #[error("external plugin '{plugin}': {method} on {url} timed out after {timeout:?}")]
    Timeout {
        /// Gateway-side plugin name.
        plugin: String,
        /// The endpoint.
        url: String,
        /// The JSON-RPC method we sent.
        method: String,
        /// The timeout that expired.
        timeout: Duration,
    },
}

impl ClientError {
    /// Errors after which a fresh connection and a fresh MCP session may succeed
    /// (server restarted, connection dropped, session forgotten). TLS failures, malformed answers
    /// and timeouts are not retried: repeating them would fail the same way or double the wait.
    pub fn is_recoverable(&self) -> bool {
        matches!(
            self,
            ClientError::ConnectionLost { .. }
                | ClientError::SessionLost { .. }
                | ClientError::Connect { .. }
        )
    }

    /// A short machine-readable code, used as the `code` of the framework's `PluginError`.
    pub fn code(&self) -> &'static str {
        match self {
            ClientError::Config { .. } => "CONFIG_ERROR",
            ClientError::TlsSetup { .. } => "TLS_CONFIG_ERROR",
            ClientError::Connect { .. } => "CONNECT_ERROR",
            ClientError::Tls { .. } => "TLS_ERROR",
            ClientError::ConnectionLost { .. } => "CONNECTION_LOST",
            ClientError::SessionLost { .. } => "SESSION_LOST",
            ClientError::HttpStatus { .. } => "HTTP_ERROR",
            ClientError::ResponseTooLarge { .. } => "RESPONSE_TOO_LARGE",
            ClientError::Malformed { .. } => "MALFORMED_RESPONSE",
            ClientError::Rpc { .. } => "JSONRPC_ERROR",
            ClientError::NotAPluginServer { .. } => "NOT_A_PLUGIN_SERVER",
            ClientError::Timeout { .. } => "TIMEOUT",
        }
    }
}
