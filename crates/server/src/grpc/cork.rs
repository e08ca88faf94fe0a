//! A connection's writes held back ("corked") until its task is about to wait, so everything
//! one poll of the connection produced leaves in one write: one system call, and over TLS one
//! record.
//!
//! h2's frame writer flushes a `DATA` payload above 256 bytes before it encodes the next frame,
//! so every gRPC answer (`HEADERS` + `DATA`, then the trailers) left in two writes, and the
//! client was woken twice per call; h2 has no setting for it. Here the IO hyper is given
//! ([`Corked`]) only appends writes to a buffer and treats a flush as done, and the connection's
//! driver (`Streams::poll` in the `inline` module), which knows when a poll of the connection
//! and its calls is over, writes the buffer out through [`Release`] right before the task
//! returns `Pending` (several answers at once when several calls ended in that poll).
//!
//! What keeps it safe:
//! - The buffer is bounded ([`CAP`]): a write that does not fit first writes the buffer out,
//!   and returns `Pending` when the socket takes nothing, so hyper still feels backpressure.
//! - Nothing stays corked while the task waits: the driver releases before every `Pending`; a
//!   release the socket cannot take at once returns `Pending` with the task's waker registered
//!   on the socket, so the task is woken to finish it.
//! - A shutdown (h2 closing the connection after `GOAWAY`) writes the buffer out first.
//! - A failed write fails every later read and write, so hyper ends the connection.
//!
//! The IO sits behind a mutex shared by [`Corked`] (owned by hyper) and [`Release`] (owned by
//! the driver); both are used only from the connection's task, so the lock is never contended.

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{ready, Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The most bytes held back. Above it writes reach the socket during the poll (h2 writes at
/// most its own 16 KiB frames and a `DATA` payload at a time, so a handful of answers fit).
pub(super) const CAP: usize = 64 * 1024;

/// The buffer capacity a connection keeps between writes: a poll's answers fit (about 1 KiB
/// each), and an idle connection does not hold [`CAP`] after a burst.
const KEEP: usize = 16 * 1024;

/// The IO given to hyper: reads go straight through, writes are corked (see the module doc).
pub(super) struct Corked<IO>(Arc<Mutex<Cork<IO>>>);

/// Writes out what a [`Corked`] IO holds back; the connection's driver calls it before its task
/// waits.
pub(super) trait Release: Send + Sync {
    /// Writes every corked byte to the socket and flushes it. `Pending` (with `cx`'s waker
    /// registered on the socket) when the socket cannot take them all yet.
    fn poll_release(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>>;
}

/// `io` corked, and the [`Release`] of its writes.
pub(super) fn cork<IO>(io: IO) -> (Corked<IO>, Arc<dyn Release>)
where
    IO: AsyncWrite + Unpin + Send + 'static,
{
    let shared = Arc::new(Mutex::new(Cork {
        io,
        buf: Vec::new(),
        sent: 0,
        dirty: false,
        failed: None,
    }));
    (Corked(Arc::clone(&shared)), shared)
}

struct Cork<IO> {
    io: IO,
    /// Corked bytes; `buf[..sent]` have been written already.
    buf: Vec<u8>,
    sent: usize,
    /// Bytes were written since the last complete flush of `io` (TLS may hold some back).
    dirty: bool,
    /// A write failed: every later operation fails with this kind.
    failed: Option<io::ErrorKind>,
}

impl<IO: AsyncWrite + Unpin> Cork<IO> {
    fn check(&self) -> io::Result<()> {
        match self.failed {
            Some(kind) => Err(io::Error::new(
                kind,
                "an earlier write on this connection failed",
            )),
            None => Ok(()),
        }
    }

    fn held(&self) -> usize {
        self.buf.len() - self.sent
    }

    /// Writes the corked bytes out and flushes `io`.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.check()?;
        if !self.dirty {
            return Poll::Ready(Ok(()));
        }
        let drained = ready!(self.poll_drain_dirty(cx));
        if let Err(e) = &drained {
            self.failed = Some(e.kind());
        }
        Poll::Ready(drained)
    }

    fn poll_drain_dirty(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.sent < self.buf.len() {
            let n = ready!(Pin::new(&mut self.io).poll_write(cx, &self.buf[self.sent..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.sent += n;
        }
        self.buf.clear();
        self.buf.shrink_to(KEEP);
        self.sent = 0;
        ready!(Pin::new(&mut self.io).poll_flush(cx))?;
        self.dirty = false;
        Poll::Ready(Ok(()))
    }

    /// Corks as much of `bufs` as fits under [`CAP`], writing the buffer out first when they
    /// do not all fit; `Pending` only when nothing fits and the socket takes nothing.
    fn poll_cork(&mut self, cx: &mut Context<'_>, bufs: &[IoSlice<'_>]) -> Poll<io::Result<usize>> {
        self.check()?;
        let total: usize = bufs.iter().map(|b| b.len()).sum();
        if total == 0 {
            return Poll::Ready(Ok(0));
        }
        if self.held() + total > CAP {
            // Pending here is fine as long as some room is left; the waker is registered.
            if let Poll::Ready(Err(e)) = self.poll_drain(cx) {
                return Poll::Ready(Err(e));
            }
        }
        let mut room = CAP.saturating_sub(self.held());
        if room == 0 {
            return Poll::Pending;
        }
        let mut corked = 0;
        for b in bufs {
            let n = b.len().min(room);
            self.buf.extend_from_slice(&b[..n]);
            corked += n;
            room -= n;
            if room == 0 {
                break;
            }
        }
        self.dirty = true;
        Poll::Ready(Ok(corked))
    }
}

fn lock<IO>(shared: &Mutex<Cork<IO>>) -> MutexGuard<'_, Cork<IO>> {
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

impl<IO> Release for Mutex<Cork<IO>>
where
    IO: AsyncWrite + Unpin + Send,
{
    fn poll_release(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        lock(self).poll_drain(cx)
    }
}

impl<IO: AsyncRead + AsyncWrite + Unpin> AsyncRead for Corked<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let mut cork = lock(&self.0);
        cork.check()?;
        Pin::new(&mut cork.io).poll_read(cx, buf)
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Corked<IO> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        lock(&self.0).poll_cork(cx, &[IoSlice::new(buf)])
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        lock(&self.0).poll_cork(cx, bufs)
    }

    /// Vectored, so that h2 hands over a frame's header and payload in one call.
    fn is_write_vectored(&self) -> bool {
        true
    }

    /// Done at once: the bytes leave when the driver releases them (see the module doc).
    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(lock(&self.0).check())
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut cork = lock(&self.0);
        ready!(cork.poll_drain(cx))?;
        Pin::new(&mut cork.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
#[path = "cork_tests.rs"]
mod tests;
