//! A connection that keeps the TLS error that ended it, for the gRPC transport.
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
//!   error is lost on its way to the stream's status. This stream records it ([`TlsSlot`]), and
//!   the transport explains it in the terms of the entry's settings.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The first TLS error a [`TlsWatch`] met, shared with whoever reports the connection's end.
pub(crate) type TlsSlot = Arc<OnceLock<rustls::Error>>;

/// Wraps one connection (see the module doc). On a connection without TLS it only passes
/// bytes through: its errors never hold a rustls error.
pub(crate) struct TlsWatch<S> {
    io: S,
    slot: TlsSlot,
    /// A write error kept while waiting for the socket to become readable (see the module doc).
    failed_write: Option<io::Error>,
    /// Whether that wait happened already: it happens once per connection at most.
    waited: bool,
}

impl<S: AsyncRead + AsyncWrite + Unpin> TlsWatch<S> {
    /// The wrapped connection and the slot its TLS error will be put in.
    pub(crate) fn new(io: S) -> (Self, TlsSlot) {
        let slot = TlsSlot::default();
        (
            Self {
                io,
                slot: slot.clone(),
                failed_write: None,
                waited: false,
            },
            slot,
        )
    }

    /// Records the rustls error inside `e`, if any, and gives `e` back.
    fn record(&self, e: io::Error) -> io::Error {
        if let Some(tls) = plugwire_tls::rustls_error_in(&e) {
            let _ = self.slot.set(tls.clone());
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
                Poll::Ready(Ok(())) if !buf.filled().is_empty() => continue,
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
        match Pin::new(&mut this.io).poll_read(cx, buf) {
            Poll::Ready(Err(e)) => Poll::Ready(Err(this.record(e))),
            other => other,
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
