//! Accept loops: TCP (plain or TLS), Unix socket, and the plain health port.
//!
//! Each connection runs in its own task; with TLS the handshake runs there too, under a
//! timeout, so a slow or silent client never holds up the accept loop or anyone else. On
//! shutdown the loop stops accepting, tells every open connection to finish its in-flight
//! request and close (hyper's graceful shutdown), and waits up to the drain timeout.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UnixListener};
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

use crate::http::{self, App};
use crate::observe;
use crate::tls_log;
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

/// Per-connection limits.
#[derive(Debug, Clone, Copy)]
pub struct ConnLimits {
    /// Longest a TLS handshake (or the first byte of it) may take.
    pub handshake_timeout: Duration,
    /// Longest a client may take to send a request's headers (slowloris guard).
    pub header_read_timeout: Duration,
    /// Longest shutdown waits for in-flight requests before closing connections anyway.
    pub drain_timeout: Duration,
}

impl Default for ConnLimits {
    fn default() -> Self {
        ConnLimits {
            handshake_timeout: Duration::from_secs(10),
            header_read_timeout: Duration::from_secs(30),
            drain_timeout: Duration::from_secs(30),
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
    accept_loop(
        move || {
            let l = Arc::clone(&listener);
            async move { l.accept().await }
        },
        move |(tcp, peer): (TcpStream, SocketAddr), watcher, stopping| {
            let app = Arc::clone(&app);
            let tls = tls.clone();
            let transport = if tls.is_some() {
                Transport::Https
            } else {
                Transport::Http
            };
            tokio::spawn(observe::counted(transport, async move {
                let _ = tcp.set_nodelay(true);
                match tls {
                    None => serve_main_io(tcp, app, limits, watcher).await,
                    Some(source) => {
                        let acceptor = TlsAcceptor::from(source.config());
                        tls_connection(tcp, peer, acceptor, app, limits, watcher, stopping).await
                    }
                }
            }));
        },
        limits.drain_timeout,
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
        move |(stream, _addr), watcher, _stopping| {
            let app = Arc::clone(&app);
            tokio::spawn(observe::counted(
                Transport::Unix,
                serve_main_io(stream, app, limits, watcher),
            ));
        },
        limits.drain_timeout,
        shutdown,
    )
    .await
}

/// Serves only `/health`, in plain HTTP (the port+1000 server of a TLS deployment, so probes
/// need no client certificate).
pub async fn serve_health(
    listener: TcpListener,
    limits: ConnLimits,
    shutdown: impl Future<Output = ()>,
) {
    let listener = Arc::new(listener);
    accept_loop(
        move || {
            let l = Arc::clone(&listener);
            async move { l.accept().await }
        },
        move |(tcp, _peer): (TcpStream, SocketAddr), watcher, _stopping| {
            tokio::spawn(observe::counted(
                Transport::Http,
                serve_health_io(tcp, limits, watcher),
            ));
        },
        limits.drain_timeout,
        shutdown,
    )
    .await
}

async fn accept_loop<T, F, A, C>(
    mut accept: A,
    on_conn: C,
    drain_timeout: Duration,
    shutdown: impl Future<Output = ()>,
) where
    A: FnMut() -> F,
    F: Future<Output = io::Result<T>>,
    C: Fn(T, Watcher, Stopping),
{
    let graceful = GracefulShutdown::new();
    let (stopping_tx, stopping) = watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            res = accept() => match res {
                Ok(conn) => on_conn(conn, graceful.watcher(), Stopping(stopping.clone())),
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning, keep serving.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }
    let _ = stopping_tx.send(true);
    let open = graceful.count();
    if open > 0 {
        tracing::info!(connections = open, "draining in-flight requests");
    }
    if tokio::time::timeout(drain_timeout, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            "connections still busy after {}s; closing them",
            drain_timeout.as_secs()
        );
    }
}

/// Tells connections still in their TLS handshake that the server is stopping: they are
/// dropped instead of holding up the drain (they have no request in flight).
#[derive(Clone)]
struct Stopping(watch::Receiver<bool>);

impl Stopping {
    async fn wait(&mut self) {
        let _ = self.0.wait_for(|v| *v).await;
    }
}

fn http1_builder(limits: ConnLimits) -> http1::Builder {
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .keep_alive(true);
    builder
}

/// Serves `/mcp` + `/health` on one connection; the watcher lets shutdown finish the
/// in-flight request, then close.
async fn serve_main_io<I>(io: I, app: Arc<App>, limits: ConnLimits, watcher: Watcher)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let builder = http1_builder(limits);
    let conn = builder.serve_connection(
        TokioIo::new(io),
        service_fn(move |req| http::handle(Arc::clone(&app), req)),
    );
    if let Err(e) = watcher.watch(conn).await {
        tracing::debug!("connection closed with error: {e}");
    }
}

/// Serves `/health` only on one connection.
async fn serve_health_io<I>(io: I, limits: ConnLimits, watcher: Watcher)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let builder = http1_builder(limits);
    let conn = builder.serve_connection(TokioIo::new(io), service_fn(http::handle_health_only));
    if let Err(e) = watcher.watch(conn).await {
        tracing::debug!("health connection closed with error: {e}");
    }
}

/// The TLS side of a connection: refuse plaintext clearly, handshake under a timeout, log
/// the outcome, then serve HTTP.
async fn tls_connection(
    mut tcp: TcpStream,
    peer: SocketAddr,
    acceptor: TlsAcceptor,
    app: Arc<App>,
    limits: ConnLimits,
    watcher: Watcher,
    mut stopping: Stopping,
) {
    let mut first = [0u8; 8];
    let peeked = tokio::select! {
        _ = stopping.wait() => return,
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
        _ = stopping.wait() => return,
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
    serve_main_io(stream, app, limits, watcher).await
}
