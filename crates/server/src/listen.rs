//! Accept loops: TCP (plain or TLS), Unix socket, and the plain health port.
//!
//! Each connection runs in its own task, under a permit of its listener's connection cap; with
//! TLS the handshake runs there too, under a timeout, so a slow or silent client never holds
//! up the accept loop or anyone else. On shutdown the listener is closed at once and every
//! connection drains (see [`crate::drain`]) for at most the drain timeout.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UnixListener};
use tokio::sync::{watch, Semaphore};
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;

use crate::drain::{Drain, Phase};
use crate::health::CertificateHealth;
use crate::http::{self, App, BodyLimits};
use crate::observe;
use crate::self_wake::RepollOnSelfWake;
use crate::{limits, tls_log};
use plugwire_metrics::Transport;

/// Where a TLS listener gets its rustls config: fixed, or re-read from the certificate files
/// (each new connection takes the current one; established connections keep theirs).
#[derive(Debug, Clone)]
pub enum TlsSource {
    /// One config for the listener's lifetime.
    Fixed(Arc<rustls::ServerConfig>),
    /// Swapped when the files change (plugwire-tls polls them).
    Reloadable(Arc<plugwire_tls::ReloadableServerConfig>),
}

impl TlsSource {
    /// The config a new connection uses.
    pub fn config(&self) -> Arc<rustls::ServerConfig> {
        match self {
            TlsSource::Fixed(c) => Arc::clone(c),
            TlsSource::Reloadable(r) => r.current(),
        }
    }
}

impl From<Arc<rustls::ServerConfig>> for TlsSource {
    fn from(c: Arc<rustls::ServerConfig>) -> Self {
        TlsSource::Fixed(c)
    }
}

/// Per-connection and per-listener limits (see [`crate::limits`] for the variables).
#[derive(Debug, Clone, Copy)]
pub struct ConnLimits {
    /// Longest a TLS handshake (or the first byte of it) may take.
    pub handshake_timeout: Duration,
    /// Longest a connection may go without a request in progress, counted from the end of the
    /// last answer (or of the TLS handshake): a client's time to send a request's headers
    /// (slowloris guard), and how long a kept-alive connection may stay idle. Enforced by
    /// `Drain::run`, one timer per connection.
    pub header_read_timeout: Duration,
    /// Longest shutdown waits for in-flight requests before closing connections anyway.
    pub drain_timeout: Duration,
    /// Longest a request body may take in full (then 408 and the connection is closed).
    pub body_timeout: Duration,
    /// Slowest average body rate in bytes/s, checked after [`limits::BODY_RATE_GRACE`]
    /// (0: no rate check).
    pub min_body_rate: u64,
    /// Most open connections per listener; more are refused at accept.
    pub max_connections: usize,
}

impl Default for ConnLimits {
    fn default() -> Self {
        ConnLimits {
            handshake_timeout: Duration::from_secs(10),
            header_read_timeout: Duration::from_secs(30),
            drain_timeout: limits::DEFAULT_DRAIN_TIMEOUT,
            body_timeout: limits::DEFAULT_BODY_TIMEOUT,
            min_body_rate: limits::DEFAULT_BODY_MIN_RATE,
            max_connections: limits::DEFAULT_MAX_CONNECTIONS,
        }
    }
}

impl ConnLimits {
    /// The body limits the HTTP layer applies.
    pub fn body(&self) -> BodyLimits {
        BodyLimits {
            timeout: self.body_timeout,
            min_rate: self.min_body_rate,
        }
    }
}

/// Serves `/mcp` and `/health` on a bound TCP listener, over TLS when `tls` is given, until
/// `shutdown` completes; then drains.
pub async fn serve_tcp(
    listener: TcpListener,
    app: Arc<App>,
    tls: Option<TlsSource>,
    limits: ConnLimits,
    shutdown: impl Future<Output = ()>,
) {
    let listener = Arc::new(listener);
    let certificate = CertificateHealth::of(tls.as_ref());
    accept_loop(
        move || {
            let l = Arc::clone(&listener);
            async move { l.accept().await }
        },
        move |(tcp, peer): (TcpStream, SocketAddr), drain: Drain| {
            let app = Arc::clone(&app);
            let tls = tls.clone();
            let certificate = certificate.clone();
            let transport = if tls.is_some() {
                Transport::Https
            } else {
                Transport::Http
            };
            let conn = RepollOnSelfWake::new(async move {
                let _ = tcp.set_nodelay(true);
                match tls {
                    None => serve_main_io(tcp, app, limits, certificate, drain).await,
                    Some(source) => {
                        let acceptor = TlsAcceptor::from(source.config());
                        let conn = Conn {
                            app,
                            limits,
                            certificate,
                        };
                        tls_connection(tcp, peer, acceptor, conn, drain).await
                    }
                }
            });
            tokio::spawn(observe::counted(transport, conn));
        },
        limits,
        "main",
        shutdown,
    )
    .await
}

/// Serves `/mcp` and `/health` on a Unix socket (never TLS) until `shutdown` completes.
pub async fn serve_unix(
    listener: UnixListener,
    app: Arc<App>,
    limits: ConnLimits,
    shutdown: impl Future<Output = ()>,
) {
    let listener = Arc::new(listener);
    accept_loop(
        move || {
            let l = Arc::clone(&listener);
            async move { l.accept().await }
        },
        move |(stream, _addr), drain: Drain| {
            let app = Arc::clone(&app);
            tokio::spawn(observe::counted(
                Transport::Unix,
                RepollOnSelfWake::new(serve_main_io(
                    stream,
                    app,
                    limits,
                    CertificateHealth::default(),
                    drain,
                )),
            ));
        },
        limits,
        "unix",
        shutdown,
    )
    .await
}

/// Serves only `/health`, in plain HTTP (the port+1000 server of a TLS deployment, so probes
/// need no client certificate); `certificate` is the TLS port's, for `/health` to report.
pub async fn serve_health(
    listener: TcpListener,
    limits: ConnLimits,
    certificate: CertificateHealth,
    shutdown: impl Future<Output = ()>,
) {
    let listener = Arc::new(listener);
    accept_loop(
        move || {
            let l = Arc::clone(&listener);
            async move { l.accept().await }
        },
        move |(tcp, _peer): (TcpStream, SocketAddr), drain: Drain| {
            tokio::spawn(observe::counted(
                Transport::Http,
                serve_health_io(tcp, limits, certificate.clone(), drain),
            ));
        },
        limits,
        "health",
        shutdown,
    )
    .await
}

/// Accepts until `shutdown`, each connection under a permit of the listener's cap; then closes
/// the listener at once (new connections are refused, not left in the backlog) and drains.
async fn accept_loop<T, F, A, C>(
    mut accept: A,
    on_conn: C,
    limits: ConnLimits,
    listener: &'static str,
    shutdown: impl Future<Output = ()>,
) where
    A: FnMut() -> F,
    F: Future<Output = io::Result<T>>,
    C: Fn(T, Drain),
{
    let cap = limits.max_connections.clamp(1, Semaphore::MAX_PERMITS);
    let permits = Arc::new(Semaphore::new(cap));
    let (phase_tx, phase) = watch::channel(Phase::Serving);
    let mut refusals = Refusals::default();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            res = accept() => match res {
                Ok(conn) => match Arc::clone(&permits).try_acquire_owned() {
                    Ok(permit) => on_conn(conn, Drain::new(phase.clone(), permit)),
                    // Dropping the stream closes it: the peer sees the refusal at once
                    // instead of waiting in a queue that grows without bound.
                    Err(_) => refusals.note(listener, cap),
                },
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning, keep serving.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }
    // Closes the listening socket (the closure owns the last reference to it).
    drop(accept);
    let _ = phase_tx.send(Phase::Draining);
    let open = cap - permits.available_permits();
    if open > 0 {
        tracing::info!(listener, connections = open, "draining in-flight requests");
    }
    let all_closed = permits.acquire_many(cap as u32);
    if tokio::time::timeout(limits.drain_timeout, all_closed)
        .await
        .is_err()
    {
        tracing::warn!(
            listener,
            "connections still busy after {:.1}s (PLUGINS_SERVER_DRAIN_TIMEOUT); closing them",
            limits.drain_timeout.as_secs_f64()
        );
        let _ = phase_tx.send(Phase::Closed);
        // Each connection task returns on `Closed`; give them a moment to drop their sockets.
        let _ =
            tokio::time::timeout(Duration::from_secs(1), permits.acquire_many(cap as u32)).await;
    }
}

/// Counts connections refused over the cap, logged at most once a second.
#[derive(Default)]
pub(crate) struct Refusals {
    since_log: u64,
    last_log: Option<Instant>,
}

impl Refusals {
    pub(crate) fn note(&mut self, listener: &str, cap: usize) {
        self.since_log += 1;
        if self
            .last_log
            .is_none_or(|t| t.elapsed() >= Duration::from_secs(1))
        {
            tracing::warn!(
                listener,
                refused = self.since_log,
                "connection refused: {cap} connections open (PLUGINS_SERVER_MAX_CONNECTIONS)"
            );
            self.since_log = 0;
            self.last_log = Some(Instant::now());
        }
    }
}

fn http1_builder() -> http1::Builder {
    let mut builder = http1::Builder::new();
    // No timer: the header-read timeout is `Drain::run`'s idle limit, one timer per
    // connection instead of hyper's one per request.
    builder.header_read_timeout(None).keep_alive(true);
    builder
}

/// What a main-port connection serves with.
struct Conn {
    app: Arc<App>,
    limits: ConnLimits,
    certificate: CertificateHealth,
}

/// What every request of one main-port connection shares.
struct MainCtx {
    app: Arc<App>,
    body: BodyLimits,
    certificate: CertificateHealth,
    track: crate::drain::Tracker,
}

/// Serves `/mcp` + `/health` on one connection until it closes or the drain ends it.
async fn serve_main_io<I>(
    io: I,
    app: Arc<App>,
    limits: ConnLimits,
    certificate: CertificateHealth,
    drain: Drain,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    // One `Arc` per connection, cloned per request: the shared ones (app, certificate, drain
    // phase) are cloned once here instead of on every call.
    let ctx = Arc::new(MainCtx {
        app,
        body: limits.body(),
        certificate,
        track: drain.tracker(),
    });
    let svc = service_fn(move |req| {
        let ctx = Arc::clone(&ctx);
        async move {
            let _busy = ctx.track.begin();
            let resp = http::handle_with(&ctx.app, ctx.body, &ctx.certificate, req).await;
            Ok::<_, std::convert::Infallible>(ctx.track.finish(resp?))
        }
    });
    let conn = http1_builder().serve_connection(TokioIo::new(io), svc);
    if let Err(e) = drain.run(conn, limits.header_read_timeout).await {
        tracing::debug!("connection closed with error: {e}");
    }
}

/// Serves `/health` only on one connection.
async fn serve_health_io<I>(io: I, limits: ConnLimits, certificate: CertificateHealth, drain: Drain)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let ctx = Arc::new((drain.tracker(), certificate));
    let svc = service_fn(move |req| {
        let ctx = Arc::clone(&ctx);
        async move {
            let (track, certificate) = &*ctx;
            let _busy = track.begin();
            let resp = http::handle_health_only(certificate, req).await;
            Ok::<_, std::convert::Infallible>(track.finish(resp?))
        }
    });
    let conn = http1_builder().serve_connection(TokioIo::new(io), svc);
    if let Err(e) = drain.run(conn, limits.header_read_timeout).await {
        tracing::debug!("health connection closed with error: {e}");
    }
}

/// The TLS side of a connection: refuse plaintext clearly, handshake under a timeout, log
/// the outcome, then serve HTTP.
async fn tls_connection(
    mut tcp: TcpStream,
    peer: SocketAddr,
    acceptor: TlsAcceptor,
    conn: Conn,
    mut drain: Drain,
) {
    let limits = conn.limits;
    let mut first = [0u8; 8];
    let peeked = tokio::select! {
        _ = drain.stopping() => return,
        r = tokio::time::timeout(limits.handshake_timeout, tcp.peek(&mut first)) => r,
    };
    let n = match peeked {
        Err(_) => {
            observe::handshake_other();
            tracing::debug!(%peer, "TLS handshake failed: the client sent nothing for {}s", limits.handshake_timeout.as_secs());
            return;
        }
        Ok(Err(e)) => {
            observe::handshake_other();
            tracing::debug!(%peer, "TLS handshake failed: {e}");
            return;
        }
        Ok(Ok(n)) => n,
    };
    if n == 0 {
        observe::handshake_other();
        tracing::debug!(%peer, "TLS handshake failed: the client closed the connection without sending anything");
        return;
    }
    if first[0] != 0x16 {
        observe::handshake_other();
        // 0x16 starts every TLS handshake record; a letter means someone spoke HTTP.
        if first[0].is_ascii_alphabetic() {
            tracing::debug!(%peer, "TLS handshake failed: the client sent plaintext HTTP to the TLS port (use https://)");
            let body = "This port serves HTTPS only (TLS is enabled): use https:// and, if required, a client certificate.\n";
            let resp = format!(
                "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = tcp.write_all(resp.as_bytes()).await;
            let _ = tcp.shutdown().await;
        } else {
            tracing::debug!(%peer, first_byte = first[0], "TLS handshake failed: the client did not start with a TLS ClientHello");
        }
        return;
    }
    let accepted = tokio::select! {
        _ = drain.stopping() => return,
        r = tokio::time::timeout(limits.handshake_timeout, acceptor.accept(tcp)) => r,
    };
    let stream = match accepted {
        Err(_) => {
            observe::handshake_other();
            tracing::debug!(%peer, "TLS handshake failed: not completed within {}s", limits.handshake_timeout.as_secs());
            return;
        }
        Ok(Err(e)) => {
            observe::handshake_failed(&e);
            tracing::debug!(%peer, "TLS handshake failed: {}", tls_log::describe_error(&e));
            return;
        }
        Ok(Ok(s)) => s,
    };
    observe::handshake_accepted();
    tls_log::log_success(peer, stream.get_ref().1);
    serve_main_io(stream, conn.app, limits, conn.certificate, drain).await
}
