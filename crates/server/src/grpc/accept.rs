//! The gRPC listeners' operations, the same as the MCP port's: a per-listener connection cap
//! (`PLUGINS_SERVER_MAX_CONNECTIONS`, refused at accept with the same rate-limited WARN), the
//! TLS handshake in the connection's own task under the handshake timeout with the same
//! refusal logging and `plugwire_tls_handshakes_total` metric (listener `grpc`), the TLS
//! config taken per connection (so certificate reloads reach new connections), and the drain:
//! on shutdown the listener is closed at once, HTTP/2 `GOAWAY` tells clients to open no new
//! streams, calls in flight are answered, and whatever is still open at the drain deadline
//! (`PLUGINS_SERVER_DRAIN_TIMEOUT`) is closed.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use plugwire_metrics::{ConnectionGuard, HandshakeResult, ServerMetrics, Transport};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio_rustls::TlsAcceptor;

use crate::listen::{ConnLimits, Refusals, TlsSource};
use crate::{observe, tls_log};

/// The `listener` label of the gRPC port's handshakes and refusals.
pub(crate) const LISTENER: &str = "grpc";

/// One listener's cap and drain state, shared by its accept loop and connections (the gRPC
/// port's, and the raw socket's, which has the same operations).
#[derive(Clone)]
pub(crate) struct Gate {
    permits: Arc<Semaphore>,
    cap: usize,
    listener: &'static str,
    transport: Transport,
    draining: watch::Receiver<bool>,
    closed: watch::Receiver<bool>,
}

/// The owner of a [`Gate`]: starts the drain and closes what is left at the deadline.
pub(crate) struct Control {
    gate: Gate,
    draining: watch::Sender<bool>,
    closed: watch::Sender<bool>,
    drain_timeout: Duration,
}

impl Control {
    /// The gRPC port's.
    pub(crate) fn new(limits: &ConnLimits) -> Self {
        Self::labelled(limits, LISTENER, Transport::Grpc)
    }

    /// A listener's, with its `listener` log/metric label and its open-connections transport.
    pub(crate) fn labelled(
        limits: &ConnLimits,
        listener: &'static str,
        transport: Transport,
    ) -> Self {
        let cap = limits.max_connections.clamp(1, Semaphore::MAX_PERMITS);
        let (draining, draining_rx) = watch::channel(false);
        let (closed, closed_rx) = watch::channel(false);
        Control {
            gate: Gate {
                permits: Arc::new(Semaphore::new(cap)),
                cap,
                listener,
                transport,
                draining: draining_rx,
                closed: closed_rx,
            },
            draining,
            closed,
            drain_timeout: limits.drain_timeout,
        }
    }

    pub(crate) fn gate(&self) -> Gate {
        self.gate.clone()
    }

    /// Runs `server` (which must stop accepting once [`Gate::stopping`] completes) until
    /// `shutdown`, then drains it for at most the drain timeout.
    pub(crate) async fn run<F, E>(
        &self,
        server: F,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), E>
    where
        F: Future<Output = Result<(), E>>,
    {
        tokio::pin!(server);
        tokio::select! {
            r = &mut server => return r,
            () = shutdown => {}
        }
        let _ = self.draining.send(true);
        let open = self.gate.cap - self.gate.permits.available_permits();
        if open > 0 {
            tracing::info!(
                listener = self.gate.listener,
                connections = open,
                "draining in-flight calls"
            );
        }
        match tokio::time::timeout(self.drain_timeout, &mut server).await {
            Ok(r) => r,
            Err(_) => {
                tracing::warn!(
                    listener = self.gate.listener,
                    "connections still busy after {:.1}s (PLUGINS_SERVER_DRAIN_TIMEOUT); closing them",
                    self.drain_timeout.as_secs_f64()
                );
                let _ = self.closed.send(true);
                match tokio::time::timeout(Duration::from_secs(1), server).await {
                    Ok(r) => r,
                    Err(_) => Ok(()),
                }
            }
        }
    }
}

impl Gate {
    /// Completes when the drain starts: accept loops stop (closing the listener) and
    /// handshakes in progress are dropped.
    pub(crate) async fn stopping(&self) {
        let mut rx = self.draining.clone();
        let _ = rx.wait_for(|d| *d).await;
    }

    /// The drain's two signals for one connection to watch: started, and deadline passed.
    pub(crate) fn signals(&self) -> (watch::Receiver<bool>, watch::Receiver<bool>) {
        (self.draining.clone(), self.closed.clone())
    }

    /// A slot under the cap for a connection just accepted, or `None`: the caller drops the
    /// stream, so the peer sees the refusal at once.
    pub(crate) fn admit(&self, refusals: &mut Refusals) -> Option<Slot> {
        match Arc::clone(&self.permits).try_acquire_owned() {
            Ok(permit) => Some(Slot {
                _permit: permit,
                _open: ServerMetrics::global().connection_opened(self.transport),
                closed: self.closed.clone(),
            }),
            Err(_) => {
                refusals.note(self.listener, self.cap);
                None
            }
        }
    }
}

/// A connection's place under the cap (and in the open-connections gauge) for its lifetime.
pub(crate) struct Slot {
    _permit: OwnedSemaphorePermit,
    _open: ConnectionGuard,
    closed: watch::Receiver<bool>,
}

impl Slot {
    /// `io`, closed by the drain deadline.
    pub(crate) fn wrap<IO>(self, io: IO) -> Guarded<IO> {
        let mut closed = self.closed.clone();
        Guarded {
            io,
            deadline: Box::pin(async move {
                let _ = closed.wait_for(|c| *c).await;
            }),
            _slot: self,
        }
    }
}

/// A served connection: holds its [`Slot`], and fails its reads once the drain deadline has
/// passed, which ends the HTTP/2 connection.
pub(crate) struct Guarded<IO> {
    io: IO,
    deadline: Pin<Box<dyn Future<Output = ()> + Send>>,
    _slot: Slot,
}

impl<IO: AsyncRead + Unpin> AsyncRead for Guarded<IO> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.deadline.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "drain deadline passed",
            )));
        }
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

write_through_to_io!(impl<IO: AsyncWrite> for Guarded<IO>);

/// The config a new TLS connection uses: the source's current one with ALPN `h2` (gRPC is
/// HTTP/2 only; the Python client insists on it). Rebuilt only when the source swaps configs.
pub(crate) struct H2Acceptor {
    source: TlsSource,
    last: Option<(Arc<rustls::ServerConfig>, TlsAcceptor)>,
}

impl H2Acceptor {
    pub(crate) fn new(source: TlsSource) -> Self {
        H2Acceptor { source, last: None }
    }

    pub(crate) fn current(&mut self) -> TlsAcceptor {
        let config = self.source.config();
        if let Some((seen, acceptor)) = &self.last {
            if Arc::ptr_eq(seen, &config) {
                return acceptor.clone();
            }
        }
        let mut h2 = (*config).clone();
        h2.alpn_protocols = vec![b"h2".to_vec()];
        let acceptor = TlsAcceptor::from(Arc::new(h2));
        self.last = Some((config, acceptor.clone()));
        acceptor
    }
}

fn count_handshake(result: HandshakeResult) {
    ServerMetrics::global().tls_handshake(LISTENER, result);
}

/// Refuses plaintext (an HTTP/2 preface starts with `P`, not the TLS record type 0x16), then
/// handshakes under the timeout; every failure is one debug line naming the peer and reason,
/// and counted. A drain that starts meanwhile drops the connection (it has sent no call).
pub(crate) async fn handshake(
    tcp: TcpStream,
    peer: SocketAddr,
    acceptor: TlsAcceptor,
    timeout: Duration,
    gate: &Gate,
) -> Option<tokio_rustls::server::TlsStream<TcpStream>> {
    let _ = tcp.set_nodelay(true);
    let mut first = [0u8; 1];
    let peeked = tokio::select! {
        () = gate.stopping() => return None,
        r = tokio::time::timeout(timeout, tcp.peek(&mut first)) => r,
    };
    match peeked {
        Ok(Ok(1)) if first[0] == 0x16 => {}
        Ok(Ok(1)) => {
            count_handshake(HandshakeResult::Other);
            tracing::debug!(%peer, first_byte = first[0], "gRPC TLS handshake failed: the client sent plaintext to the TLS port (use TLS, or the Unix socket)");
            return None;
        }
        _ => {
            count_handshake(HandshakeResult::Other);
            tracing::debug!(%peer, "gRPC TLS handshake failed: the client sent nothing for {}s or closed", timeout.as_secs());
            return None;
        }
    }
    let accepted = tokio::select! {
        () = gate.stopping() => return None,
        r = tokio::time::timeout(timeout, acceptor.accept(tcp)) => r,
    };
    match accepted {
        Err(_) => {
            count_handshake(HandshakeResult::Other);
            tracing::debug!(%peer, "gRPC TLS handshake failed: not completed within {}s", timeout.as_secs());
            None
        }
        Ok(Err(e)) => {
            count_handshake(observe::classify(&e));
            tracing::debug!(%peer, "gRPC TLS handshake failed: {}", tls_log::describe_error(&e));
            None
        }
        Ok(Ok(s)) => {
            count_handshake(HandshakeResult::Accepted);
            tls_log::log_success(peer, s.get_ref().1);
            Some(s)
        }
    }
}
