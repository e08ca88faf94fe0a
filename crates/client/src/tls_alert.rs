//! A connection that keeps what its peer said before it ended, for the gRPC transport's
//! messages.
//!
//! Why: with TLS 1.3 the client's handshake is over before the server has checked the client's
//! certificate. A server that refuses it (none sent, an unknown CA, expired) sends an alert and
//! closes; the HTTP/2 client has meanwhile written its connection preface. Two things then hide
//! the alert from the caller:
//! - if that write meets the closed socket first, the error is "broken pipe", a connection error
//!   that looks worth retrying and names nothing to fix. The alert arrived before the reset
//!   (Linux keeps queued data readable after one), so on such a write error this stream reads
//!   once more, and fails the write with the TLS error that read gives. The runtime may not have
//!   seen the socket become readable yet: then the write waits for that (the reset itself makes
//!   the socket readable, so the wait is short and always ends), and reads then;
//! - `h2` keeps only the kind and text of an I/O error, not the error itself, so the rustls
//!   error is lost on its way to the stream's status. This stream records it ([`PeerState`]),
//!   and the transport explains it in the terms of the entry's settings.
//!
//! On a connection without TLS it records whether the peer sent anything at all, and whether
//! its first bytes were a TLS record: a plaintext client at a TLS port gets an alert or a bare
//! close, and the transport can then say that the port wants TLS.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// What a [`TlsWatch`] learned about its peer, shared with whoever reports the connection's end.
#[derive(Debug, Default)]
pub(crate) struct PeerState {
    tls: OnceLock<rustls::Error>,
    /// [`HEARD_NOTHING`], [`HEARD_TLS`], [`HEARD_HTTP1`] or [`HEARD_OTHER`]: what the first
    /// bytes read were.
    heard: AtomicU8,
}

const HEARD_NOTHING: u8 = 0;
const HEARD_TLS: u8 = 1;
const HEARD_OTHER: u8 = 2;
const HEARD_HTTP1: u8 = 3;

/// What the peer's first bytes were, as far as a plaintext client can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FirstWords {
    /// Nothing was read before the connection ended.
    Nothing,
    /// A TLS record (an alert or a handshake message): the peer speaks TLS.
    Tls,
    /// An HTTP/1.x status line: the peer is an HTTP/1.1 server (an MCP endpoint).
    Http1,
    /// Anything else.
    Other,
}

impl PeerState {
    /// The first TLS error met on the connection (a certificate refused by either side).
    pub(crate) fn tls_error(&self) -> Option<&rustls::Error> {
        self.tls.get()
    }

    /// What the peer's first bytes were.
    pub(crate) fn first_words(&self) -> FirstWords {
        match self.heard.load(Ordering::Acquire) {
            HEARD_NOTHING => FirstWords::Nothing,
            HEARD_TLS => FirstWords::Tls,
            HEARD_HTTP1 => FirstWords::Http1,
            _ => FirstWords::Other,
        }
    }

    fn heard(&self, first: &[u8]) {
        // A TLS record starts with its type (alert 21, handshake 22) and version 3.x.
        let kind = if matches!(first, [21 | 22, 3, ..]) {
            HEARD_TLS
        } else if first.starts_with(b"HTTP/1.") {
            HEARD_HTTP1
        } else {
            HEARD_OTHER
        };
        let _ =
            self.heard
                .compare_exchange(HEARD_NOTHING, kind, Ordering::AcqRel, Ordering::Acquire);
    }
}

/// Why a plaintext connection ended before the peer spoke HTTP/2 (see the module doc); the
/// source of such a call's `Status`, for the transport to suggest TLS.
#[derive(Debug, thiserror::Error)]
pub(crate) enum NoHttp2 {
    /// The peer closed without sending a byte.
    #[error("the server closed the connection without sending anything")]
    Silence,
    /// The peer's first bytes were a TLS record.
    #[error("the server answered with TLS")]
    Tls,
    /// The peer answered with an HTTP/1.x status line.
    #[error("the server answered HTTP/1.1")]
    Http1,
}

impl PeerState {
    /// Why the connection never carried HTTP/2 from the peer, if that is what its first words
    /// (or their absence) say.
    pub(crate) fn no_http2(&self) -> Option<NoHttp2> {
        match self.first_words() {
            FirstWords::Nothing => Some(NoHttp2::Silence),
            FirstWords::Tls => Some(NoHttp2::Tls),
            FirstWords::Http1 => Some(NoHttp2::Http1),
            FirstWords::Other => None,
        }
    }
}

/// Shared [`PeerState`].
pub(crate) type PeerSlot = Arc<PeerState>;

/// Wraps one connection (see the module doc).
pub(crate) struct TlsWatch<S> {
    io: S,
    slot: PeerSlot,
    /// A write error kept while waiting for the socket to become readable (see the module doc).
    failed_write: Option<io::Error>,
    /// Whether that wait happened already: it happens once per connection at most.
    waited: bool,
    /// Whether the peer's first bytes were recorded (reads after that pay nothing).
    heard: bool,
}

impl<S: AsyncRead + AsyncWrite + Unpin> TlsWatch<S> {
    /// The wrapped connection and the slot its TLS error will be put in.
    pub(crate) fn new(io: S) -> (Self, PeerSlot) {
        let slot = PeerSlot::default();
        (
            Self {
                io,
                slot: slot.clone(),
                failed_write: None,
                waited: false,
                heard: false,
            },
            slot,
        )
    }

    /// Records the rustls error inside `e`, if any, and gives `e` back.
    fn record(&self, e: io::Error) -> io::Error {
        if let Some(tls) = plugwire_tls::rustls_error_in(&e) {
            let _ = self.slot.tls.set(tls.clone());
        }
        e
    }

    /// A failed write: when the peer is gone, the TLS error a read finds (its alert) instead of
    /// `e`; `Pending` while the socket is not known to be readable yet, the first time.
    fn write_failed(&mut self, cx: &mut Context<'_>, e: io::Error) -> Poll<io::Error> {
        if !matches!(
            e.kind(),
            io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset
        ) {
            return Poll::Ready(self.record(e));
        }
        let mut scratch = [0u8; 512];
        // A few reads at most: records queued before the alert (a session ticket) come first.
        for _ in 0..4 {
            let mut buf = ReadBuf::new(&mut scratch);
            match Pin::new(&mut self.io).poll_read(cx, &mut buf) {
                Poll::Ready(Err(read)) if plugwire_tls::rustls_error_in(&read).is_some() => {
                    return Poll::Ready(self.record(read))
                }
                Poll::Ready(Ok(())) if !buf.filled().is_empty() => {
                    // A plaintext connection's peer may have answered only now (a TLS alert).
                    if !self.heard {
                        self.slot.heard(buf.filled());
                        self.heard = true;
                    }
                    continue;
                }
                Poll::Pending if !self.waited => {
                    // The read registered this task for readability.
                    self.waited = true;
                    self.failed_write = Some(e);
                    return Poll::Pending;
                }
                _ => break,
            }
        }
        Poll::Ready(e)
    }

    /// Runs the write `op`, unless an earlier one failed and waits (see `write_failed`).
    fn write_with<T>(
        &mut self,
        cx: &mut Context<'_>,
        op: impl FnOnce(Pin<&mut S>, &mut Context<'_>) -> Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        let e = match self.failed_write.take() {
            Some(e) => e,
            None => match op(Pin::new(&mut self.io), cx) {
                Poll::Ready(Err(e)) => e,
                other => return other,
            },
        };
        self.write_failed(cx, e).map(Err)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for TlsWatch<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.io).poll_read(cx, buf) {
            Poll::Ready(Err(e)) => Poll::Ready(Err(this.record(e))),
            Poll::Ready(Ok(())) => {
                if !this.heard {
                    if let Some(first) = buf.filled().get(before..).filter(|b| !b.is_empty()) {
                        this.slot.heard(first);
                        this.heard = true;
                    }
                }
                Poll::Ready(Ok(()))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for TlsWatch<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut()
            .write_with(cx, |io, cx| io.poll_write(cx, buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.get_mut()
            .write_with(cx, |io, cx| io.poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().write_with(cx, |io, cx| io.poll_flush(cx))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_bytes_decide_what_the_peer_spoke() {
        let silent = PeerState::default();
        assert!(matches!(silent.no_http2(), Some(NoHttp2::Silence)));

        // A TLS alert record (decode_error), what rustls answers a plaintext client.
        let tls = PeerState::default();
        tls.heard(&[21, 3, 3, 0, 2, 2, 50]);
        tls.heard(&[0, 0, 0, 4, 0]);
        assert!(
            matches!(tls.no_http2(), Some(NoHttp2::Tls)),
            "the first bytes count"
        );

        // An HTTP/1.1 answer (an MCP server's 400 to the HTTP/2 preface).
        let h1 = PeerState::default();
        h1.heard(b"HTTP/1.1 400 Bad Request\r\n");
        assert!(matches!(h1.no_http2(), Some(NoHttp2::Http1)));

        // An HTTP/2 SETTINGS frame: the peer speaks HTTP/2, no hint.
        let h2 = PeerState::default();
        h2.heard(&[0, 0, 0, 4, 0, 0, 0, 0, 0]);
        h2.heard(&[21, 3, 3]);
        assert!(h2.no_http2().is_none());
        assert_eq!(h2.first_words(), FirstWords::Other);
    }
}
