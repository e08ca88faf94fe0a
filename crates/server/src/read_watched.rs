//! A Unix-socket connection watched for readability only, for the raw socket and gRPC over a
//! Unix socket.
//!
//! tokio's `UnixStream` registers every socket for both directions, edge-triggered. On a
//! request/answer protocol that costs a wake-up per call: the client reading our answer frees
//! space in our send buffer, which is a "writable" edge, so the worker parked in `epoll_wait`
//! wakes, finds nothing to do and parks again, before the client's next request wakes it for
//! real (measured with `strace -tt`: two `epoll_wait` returns per call, the first `EPOLLOUT`
//! alone, on both the raw socket and gRPC over a Unix socket). An answer almost always fits in
//! the send buffer, so writability only matters when a write comes back short: then, and only
//! until that write is done, a duplicate of the socket's descriptor is registered for
//! writability (the epoll set keys registrations by descriptor, so the read registration stays
//! as it is).

use std::io::{self, IoSlice, Read, Write};
use std::net::Shutdown;
use std::os::unix::net::UnixStream as StdStream;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncRead, AsyncWrite, Interest, ReadBuf};

/// A non-blocking Unix stream registered for reads; writes go straight to the socket.
pub(crate) struct ReadWatched {
    read: AsyncFd<StdStream>,
    /// The duplicate registered for writability, only while a write waits for room.
    write: Option<AsyncFd<StdStream>>,
}

impl ReadWatched {
    /// Takes over an accepted tokio stream (one deregistration, one registration).
    pub(crate) fn new(stream: tokio::net::UnixStream) -> io::Result<Self> {
        let std = stream.into_std()?;
        Ok(ReadWatched {
            read: AsyncFd::with_interest(std, Interest::READABLE)?,
            write: None,
        })
    }

    /// Reads what is there into `buf` (0 at EOF). No byte is taken from the socket unless this
    /// returns it, so a dropped read loses nothing.
    pub(crate) fn poll_read_into(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        loop {
            let mut ready = ready!(self.read.poll_read_ready(cx))?;
            match ready.try_io(|s| s.get_ref().read(buf)) {
                Ok(Ok(n)) => {
                    // A short read emptied the socket: the next read would only say EAGAIN, so
                    // wait for the next edge instead (tokio's own streams do the same).
                    if n > 0 && n < buf.len() {
                        ready.clear_ready();
                    }
                    return Poll::Ready(Ok(n));
                }
                Ok(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                Ok(Err(e)) => return Poll::Ready(Err(e)),
                Err(_would_block) => {}
            }
        }
    }

    /// Writes with `write`: at once when the send buffer has room (the usual case), else under
    /// the writability registration of the module doc, dropped again once the write is done.
    fn poll_write_with(
        &mut self,
        cx: &mut Context<'_>,
        write: impl Fn(&StdStream) -> io::Result<usize>,
    ) -> Poll<io::Result<usize>> {
        if self.write.is_none() {
            match write(self.read.get_ref()) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    let dup = self.read.get_ref().try_clone()?;
                    self.write = Some(AsyncFd::with_interest(dup, Interest::WRITABLE)?);
                }
                done => return Poll::Ready(done),
            }
        }
        let Some(waiting) = &self.write else {
            return Poll::Ready(Err(io::ErrorKind::NotConnected.into()));
        };
        let written = loop {
            let mut ready = ready!(waiting.poll_write_ready(cx))?;
            match ready.try_io(|s| write(s.get_ref())) {
                Ok(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                Ok(done) => break done,
                Err(_would_block) => {}
            }
        };
        self.write = None;
        Poll::Ready(written)
    }
}

impl AsyncRead for ReadWatched {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let n = ready!(self.poll_read_into(cx, buf.initialize_unfilled()))?;
        buf.advance(n);
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for ReadWatched {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().poll_write_with(cx, |s| {
            let mut s = s;
            s.write(buf)
        })
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().poll_write_with(cx, |s| {
            let mut s = s;
            s.write_vectored(bufs)
        })
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(self.read.get_ref().shutdown(Shutdown::Write))
    }
}
