//! What a failed connect to a Unix socket path most likely means, for the three transports
//! that use one (an MCP entry's `mcp.uds`, `grpc.uds`, `unix_socket.path`). The kernel's words
//! alone mislead: a regular file at the path answers "connection refused", like a socket whose
//! server is gone, and "permission denied" does not say that connecting needs write permission,
//! which a plugin server's sockets give their owner only (the gRPC and raw sockets are 0600).

use std::io;
use std::path::Path;

/// Which of a plugin server's listeners an entry expects, to name the settings that make
/// `plugwire serve` (or the Python runtime) listen there: it serves MCP alone by default.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Served {
    /// An `mcp:` entry's `uds`.
    Mcp,
    /// A `grpc:` entry.
    Grpc,
    /// A `unix_socket:` entry.
    Raw,
}

impl Served {
    fn listening(self) -> &'static str {
        match self {
            Served::Mcp => "with `server_settings.uds` (PLUGINS_SERVER_UDS) at this path",
            Served::Grpc => {
                "with `--transport grpc` (or PLUGINS_TRANSPORT) and `grpc_server_settings.uds` \
                 (PLUGINS_GRPC_SERVER_UDS) at this path"
            }
            Served::Raw => "with `--transport unix` (or PLUGINS_TRANSPORT) and PLUGINS_UNIX_SOCKET_PATH at this path",
        }
    }
}

/// A few words after the error, or `None` when the error says enough.
pub(crate) fn unix_connect_hint(
    path: &Path,
    kind: io::ErrorKind,
    served: Served,
) -> Option<String> {
    use std::os::unix::fs::FileTypeExt;
    match kind {
        io::ErrorKind::NotFound => Some(format!(
            "no socket at this path: is the plugin server running {}?",
            served.listening()
        )),
        io::ErrorKind::PermissionDenied => Some(
            "connecting needs write permission on the socket, and a plugin server's sockets are \
             writable by their owner only: run the gateway as the server's user"
                .to_string(),
        ),
        io::ErrorKind::ConnectionRefused => match std::fs::metadata(path) {
            Ok(meta) if meta.file_type().is_socket() => Some(
                "a socket file with no server behind it: did the server stop without removing it?"
                    .to_string(),
            ),
            Ok(_) => Some(
                "the path is not a socket: is it the socket path the server listens on?"
                    .to_string(),
            ),
            Err(_) => None,
        },
        _ => None,
    }
}

/// [`unix_connect_hint`] for an MCP entry's endpoint (`None` over TCP).
pub(crate) fn mcp_connect_hint(
    endpoint: &crate::connector::Endpoint,
    kind: io::ErrorKind,
) -> Option<String> {
    match endpoint {
        crate::connector::Endpoint::Unix { path } => unix_connect_hint(path, kind, Served::Mcp),
        _ => None,
    }
}

/// What a refused TCP connect to a `grpc:` entry's `target` most likely means.
pub(crate) fn grpc_tcp_connect_hint(kind: io::ErrorKind) -> Option<String> {
    (kind == io::ErrorKind::ConnectionRefused).then(|| {
        "nothing listens on this port: is the plugin server running with `--transport grpc` (or \
         PLUGINS_TRANSPORT) on it (PLUGINS_GRPC_SERVER_PORT, default 50051)?"
            .to_string()
    })
}

/// Words for the errors another transport's server gives an HTTP/1.1 (MCP) client, `""` for
/// any other error: an HTTP/2 server's first frame is no status line (a parse error, or a
/// message before any request when it comes first), and a raw-socket server closes on an HTTP
/// request without answering.
pub(crate) fn http1_other_server_hint(e: &hyper::Error, unix: bool) -> &'static str {
    let unasked = e.is_canceled() && crate::http::error_chain(e).contains("unexpected message");
    if e.is_parse() || (unix && unasked) {
        " (the server does not speak HTTP/1.1: if it is a plugin server's gRPC port or socket, \
         call it with a `grpc:` entry)"
    } else if unix && e.is_incomplete_message() {
        " (the server closed the connection without answering: if this is a plugin server's raw \
         socket (PLUGINS_UNIX_SOCKET_PATH), call it with a `unix_socket:` entry)"
    } else {
        ""
    }
}

/// `(after N attempts)`, with `hint` inside the parentheses when there is one.
pub(crate) fn attempts_and_hint(attempts: u32, hint: Option<String>) -> String {
    let tries = if attempts == 1 { "attempt" } else { "attempts" };
    match hint {
        Some(hint) => format!("(after {attempts} {tries}; {hint})"),
        None => format!("(after {attempts} {tries})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_state_of_the_path_is_told_apart() {
        let dir = tempfile::tempdir().expect("temp dir");
        let missing = dir.path().join("missing.sock");
        let hint = unix_connect_hint(&missing, io::ErrorKind::NotFound, Served::Raw);
        assert!(hint.is_some_and(
            |h| h.contains("no socket at this path") && h.contains("--transport unix")
        ));
        let hint = unix_connect_hint(&missing, io::ErrorKind::NotFound, Served::Grpc);
        assert!(hint.is_some_and(|h| h.contains("PLUGINS_GRPC_SERVER_UDS")));

        let file = dir.path().join("file");
        std::fs::write(&file, b"x").expect("write");
        let hint = unix_connect_hint(&file, io::ErrorKind::ConnectionRefused, Served::Mcp);
        assert!(hint.is_some_and(|h| h.contains("not a socket")));

        let stale = dir.path().join("stale.sock");
        drop(std::os::unix::net::UnixListener::bind(&stale).expect("bind"));
        let hint = unix_connect_hint(&stale, io::ErrorKind::ConnectionRefused, Served::Mcp);
        assert!(hint.is_some_and(|h| h.contains("no server behind it")));

        let hint = unix_connect_hint(&stale, io::ErrorKind::PermissionDenied, Served::Mcp);
        assert!(hint.is_some_and(|h| h.contains("the server's user")));
        assert_eq!(
            unix_connect_hint(&stale, io::ErrorKind::TimedOut, Served::Mcp),
            None
        );
        assert!(grpc_tcp_connect_hint(io::ErrorKind::ConnectionRefused).is_some());
        assert_eq!(grpc_tcp_connect_hint(io::ErrorKind::TimedOut), None);
        assert_eq!(attempts_and_hint(4, None), "(after 4 attempts)");
        let once = attempts_and_hint(1, Some("no socket".into()));
        assert_eq!(once, "(after 1 attempt; no socket)");
    }
}
