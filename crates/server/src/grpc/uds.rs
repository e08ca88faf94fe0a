//! A Unix-socket connection whose request headers pass through
//! [`plugwire_grpc::authority::AuthorityRewriter`] on their way to the HTTP/2 server, so the
//! Python gRPC client's `:authority` (the percent-encoded socket path, which h2 refuses with
//! `RST_STREAM(PROTOCOL_ERROR)`) reaches hyper as `localhost`. A connection whose first request
//! has a valid authority (plugwire's own client) is handed on as read from then on. Writes go
//! straight through. The socket is watched for reads only (see `read_watched`).

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use plugwire_grpc::authority::AuthorityRewriter;
use tokio::io::{AsyncRead, ReadBuf};
use tokio::net::UnixStream;

use crate::read_watched::ReadWatched;

/// Bytes read from the socket per call.
const READ_CHUNK: usize = 16 * 1024;

/// See the module doc.
pub(crate) struct UdsConn {
    io: ReadWatched,
    rewriter: AuthorityRewriter,
    raw: Box<[u8]>,
    ready: Vec<u8>,
    pos: usize,
    logged: bool,
}

impl UdsConn {
    pub(crate) fn new(io: UnixStream) -> io::Result<Self> {
        Ok(UdsConn {
            io: ReadWatched::new(io)?,
            rewriter: AuthorityRewriter::default(),
            raw: vec![0u8; READ_CHUNK].into_boxed_slice(),
            ready: Vec::new(),
            pos: 0,
            logged: false,
        })
    }
}

impl AsyncRead for UdsConn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            if this.pos < this.ready.len() {
                let n = (this.ready.len() - this.pos).min(buf.remaining());
                buf.put_slice(&this.ready[this.pos..this.pos + n]);
                this.pos += n;
                if this.pos == this.ready.len() {
                    this.ready.clear();
                    this.pos = 0;
                }
                return Poll::Ready(Ok(()));
            }
            let n = match this.io.poll_read_into(cx, &mut this.raw) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Ready(Ok(0)) => return Poll::Ready(Ok(())),
                Poll::Ready(Ok(n)) => n,
            };
            if this.rewriter.passes_through() {
                // Nothing left to re-write on this connection: on to hyper as read (through
                // our buffer, which is initialised once, where hyper's is not).
                let now = n.min(buf.remaining());
                buf.put_slice(&this.raw[..now]);
                this.ready.extend_from_slice(&this.raw[now..n]);
                return Poll::Ready(Ok(()));
            }
            if let Err(e) = this.rewriter.feed(&this.raw[..n], &mut this.ready) {
                tracing::debug!("gRPC Unix-socket connection closed: {e}");
                return Poll::Ready(Err(io::Error::new(io::ErrorKind::InvalidData, e)));
            }
            if !this.logged && this.rewriter.rewritten() > 0 {
                this.logged = true;
                tracing::debug!(
                    "gRPC Unix-socket client sent an invalid :authority (a socket path); served as localhost"
                );
            }
        }
    }
}

write_through_to_io!(impl<> for UdsConn);
