//! The Streamable HTTP session as [`HttpTransport`] keeps it: the id and protocol version the
//! server issued, and whether its handshake is over (calls wait for a handshake under way).

use http::HeaderValue;
use plugwire_mcp::{methods, ProtocolVersion};

use super::HttpTransport;

/// Session state a Streamable HTTP server may issue. The id is kept as the header value the
/// server sent: every call sends it back, and cloning a `HeaderValue` shares its bytes instead
/// of copying and re-validating a string per call.
#[derive(Debug, Default, Clone)]
pub(super) struct HttpSession {
    /// The handshake of this session is complete (see [`HttpTransport::handshake_over`]).
    pub(super) open: bool,
    pub(super) id: Option<HeaderValue>,
    pub(super) version: Option<ProtocolVersion>,
}

impl HttpSession {
    pub(super) fn id_str(&self) -> Option<&str> {
        self.id.as_ref().and_then(|v| v.to_str().ok())
    }
}

impl HttpTransport {
    pub(super) fn session(&self) -> HttpSession {
        crate::relock(&self.session).clone()
    }

    pub(super) fn set_session(&self, f: impl FnOnce(&mut HttpSession)) {
        f(&mut crate::relock(&self.session))
    }

    /// Ends a handshake: the session is open to calls when it succeeded, and the calls that
    /// waited for it go on either way (after a failure they meet it, and recover as usual).
    pub(crate) fn handshake_over(&self, succeeded: bool) {
        self.set_session(|s| s.open = succeeded);
        self.handshake_over.notify_waiters();
    }

    /// The session to send `method` in. The handshake's own messages go out at once; any other
    /// message waits while a handshake is under way (from [`HttpTransport::reset`] to
    /// [`HttpTransport::handshake_over`]). Why: a server issues the new session id in its
    /// `initialize` answer, and ContextForge's (the MCP SDK's) answers `202` to
    /// `notifications/initialized` before it queues it, so a call sent on the new id before
    /// the handshake ends can reach the session first and be refused with `-32602`
    /// (`Received request before initialization was complete`). Concurrent calls met that
    /// whenever another call re-established the session.
    pub(super) async fn session_for(&self, method: &str) -> HttpSession {
        let session = self.session();
        if session.open
            || matches!(
                method,
                methods::INITIALIZE | methods::INITIALIZED | methods::TOOLS_LIST
            )
        {
            return session;
        }
        let over = self.handshake_over.notified();
        tokio::pin!(over);
        over.as_mut().enable();
        let session = self.session();
        if session.open {
            return session;
        }
        over.await;
        self.session()
    }

    /// Records the negotiated protocol version; sent as `mcp-protocol-version` from now on.
    pub(crate) fn set_protocol_version(&self, version: ProtocolVersion) {
        self.set_session(|s| s.version = Some(version));
    }

    /// The session id the server issued, if any.
    pub(crate) fn session_id(&self) -> Option<String> {
        self.session().id_str().map(str::to_string)
    }
}
