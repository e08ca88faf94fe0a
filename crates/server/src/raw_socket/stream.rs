//! A connection's socket, watched for readability only.
//!
//! tokio's `UnixStream` registers every socket for both directions, edge-triggered. On this
//! protocol that costs a wake-up per call: the client reading our answer frees space in our
//! send buffer, which is a "writable" edge, so the worker parked in `epoll_wait` wakes, finds
//! nothing to do and parks again, before the client's next request wakes it for real (measured
//! with `strace -tt`: two `epoll_wait` returns per call, the first `EPOLLOUT` alone). An answer
//! almost always fits in the send buffer, so writability only matters when a write comes back
//! short: then, and only until that answer is out, the socket is registered for both.

use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream as StdStream;

use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

/// A non-blocking Unix stream registered for reads; writes go straight to the socket.
pub(super) struct Stream {
    /// `None` only while a write re-registers it (a dropped write future drops the connection).
    fd: Option<AsyncFd<StdStream>>,
}

impl Stream {
    /// Takes over an accepted tokio stream (one deregistration, one registration).
    pub(super) fn new(stream: tokio::net::UnixStream) -> io::Result<Self> {
        let std = stream.into_std()?;
        Ok(Stream {
            fd: Some(AsyncFd::with_interest(std, Interest::READABLE)?),
        })
    }

    fn fd(&self) -> io::Result<&AsyncFd<StdStream>> {
        self.fd.as_ref().ok_or_else(lost)
    }

    /// Reads what is there into `buf` (0 at EOF). Cancel-safe: no byte is taken from the socket
    /// unless this returns it.
    pub(super) async fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let fd = self.fd()?;
        loop {
            let mut ready = fd.readable().await?;
            match ready.try_io(|s| s.get_ref().read(buf)) {
                Ok(Ok(n)) => {
                    // A short read emptied the socket: the next read would only say EAGAIN, so
                    // wait for the next edge instead (tokio's own streams do the same).
                    if n > 0 && n < buf.len() {
                        ready.clear_ready();
                    }
                    return Ok(n);
                }
                Ok(Err(e)) if e.kind() == io::ErrorKind::Interrupted => continue,
                Ok(Err(e)) => return Err(e),
                Err(_would_block) => continue,
            }
        }
    }

    /// Writes all of `data`: one `sendto` when the send buffer has room (the usual case),
    /// else the rest waits for writability under a temporary registration for both directions.
    pub(super) async fn write_all(&mut self, data: &[u8]) -> io::Result<()> {
        let mut sent = 0;
        while sent < data.len() {
            match self.fd()?.get_ref().write(&data[sent..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => sent += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    return self.write_slowly(&data[sent..]).await;
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// The rest of an answer larger than the send buffer's room, awaiting writability.
    async fn write_slowly(&mut self, data: &[u8]) -> io::Result<()> {
        let std = self.fd.take().ok_or_else(lost)?.into_inner();
        let both = AsyncFd::with_interest(std, Interest::READABLE | Interest::WRITABLE)?;
        let mut sent = 0;
        while sent < data.len() {
            let mut ready = both.writable().await?;
            match ready.try_io(|s| s.get_ref().write(&data[sent..])) {
                Ok(Ok(0)) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(Ok(n)) => sent += n,
                Ok(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                Ok(Err(e)) => return Err(e),
                Err(_would_block) => {}
            }
        }
        let std = both.into_inner();
        self.fd = Some(AsyncFd::with_interest(std, Interest::READABLE)?);
        Ok(())
    }
}

fn lost() -> io::Error {
    io::Error::other("raw socket stream lost during an interrupted write")
}
