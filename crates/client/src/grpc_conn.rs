//! One kept HTTP/2 connection for the gRPC transport, driven with the `h2` crate directly, and
//! a unary call on it.
//!
//! Why not tonic's `Channel`: the `Channel` hands every request to a buffer task, which hands it
//! to hyper's connection task, which spawns one more task per request to wait for the answer;
//! each hop is a wake-up and a trip through the scheduler per call, in the client and (as the
//! request's frames leave at different moments) in the server. Here the caller's task opens
//! the stream itself, queues the request's HEADERS and its only DATA frame (`END_STREAM` set)
//! before it yields, so the connection task writes both in one write, and the answer wakes the
//! caller directly.
//!
//! A connection that ended (the server went away, an IO error, `GOAWAY`) is replaced on the
//! next call. A connect that fails is tried again after a pause (up to [`RECONNECT_ATTEMPTS`]
//! more times, pausing [`RECONNECT_DELAY`] × attempt, within the call's deadline), so a server
//! that restarts (a rolling update, a crashed process brought back by its supervisor) is
//! bridged instead of failing every call made meanwhile. One connect sequence runs at a time:
//! calls that waited for a sequence that failed fail with its error at once, so an unreachable
//! server gets one sequence of attempts, not one per waiting call. Errors are reported as tonic's `Status`,
//! with the codes tonic gave, so that the transport's rules (`UNAVAILABLE` retried once: only
//! when the request was never sent) stay. A TLS failure (a certificate refused by either side)
//! is not tried again, since waiting does not fix a certificate: its `Status` carries the rustls
//! error as its source, for the transport to explain in the terms of the entry's settings.

use std::future::{poll_fn, Future};
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use h2::client::SendRequest;
use http::{HeaderMap, HeaderValue, Method, Request, StatusCode, Uri};
use tokio::io::{AsyncRead, AsyncWrite};
use tonic::{Code, Status};

use crate::retry::SharedFailure;
use crate::tls_alert::{PeerSlot, TlsWatch};

/// hyper's HTTP/2 client defaults, which tonic's `Channel` used: a 2 MiB stream window and a
/// 5 MiB connection window, so that answers never wait for a `WINDOW_UPDATE` and the client
/// sends one only every few megabytes.
const STREAM_WINDOW: u32 = 2 * 1024 * 1024;
const CONNECTION_WINDOW: u32 = 5 * 1024 * 1024;
/// The largest answer accepted (tonic's default decoding limit).
const MAX_ANSWER: usize = 4 * 1024 * 1024;
/// Connects tried after a failed one, and the pause before the n-th of them
/// (`RECONNECT_DELAY` × n): the raw-socket entry's defaults (`reconnect_attempts: 3`,
/// `reconnect_delay: 0.1`), which a `grpc:` entry has no keys for.
pub(crate) const RECONNECT_ATTEMPTS: u32 = 3;
pub(crate) const RECONNECT_DELAY: Duration = Duration::from_millis(100);

/// One failed connect: its error's words, the TLS error that refused it, the socket's error
/// kind.
type Attempt = (String, Option<rustls::Error>, Option<io::ErrorKind>);

/// A connect sequence that failed: `UNAVAILABLE` with these words, and with this as the
/// status's source, so that the call is not retried (the sequence already retried) and, when the
/// socket itself could not connect, the client reports a connect failure (`CONNECT_ERROR`:
/// nothing was sent) rather than a lost connection.
#[derive(Debug, Clone, Default)]
pub(crate) struct ConnectFailed {
    /// The last attempt's error (`timed out`, or the connect's own words).
    pub(crate) last: String,
    /// The socket's error, when connecting the socket was what failed.
    pub(crate) socket: Option<io::ErrorKind>,
    pub(crate) attempts: u32,
}

impl ConnectFailed {
    fn status(&self) -> Status {
        let mut status = Status::unavailable(self.to_string());
        status.set_source(Arc::new(self.clone()));
        status
    }

    /// The failed connect sequence behind `status`, if that is what it reports.
    pub(crate) fn of(status: &Status) -> Option<&ConnectFailed> {
        let source = std::error::Error::source(status)?;
        source.downcast_ref::<ConnectFailed>()
    }
}

/// The status message: the last error and the number of attempts.
impl std::fmt::Display for ConnectFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let attempts = crate::unix_hint::attempts_and_hint(self.attempts, None);
        write!(f, "connect: {} {attempts}", self.last)
    }
}

impl std::error::Error for ConnectFailed {}

/// A connection that is open, and whether its task has ended.
#[derive(Clone)]
struct Live {
    sender: SendRequest<Bytes>,
    closed: Arc<AtomicBool>,
    /// What the peer said before the connection ended: its TLS error, or its first bytes.
    peer: PeerSlot,
}

/// Opens connections (the transport's `connect`) and keeps the last one open.
pub(crate) struct H2Conn<C> {
    connect: C,
    /// `http://authority`, the request URI's prefix (the scheme tonic's `Channel` sent too).
    base: String,
    connect_timeout: Duration,
    current: Mutex<Option<Live>>,
    /// One connect sequence at a time: concurrent calls after a loss wait for the same new
    /// connection.
    connecting: tokio::sync::Mutex<()>,
    /// Failed connect sequences, shared with the calls that waited for them.
    failures: SharedFailure<ConnectFailed>,
}

impl<C> std::fmt::Debug for H2Conn<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("H2Conn").field("base", &self.base).finish()
    }
}

impl<C, F, T> H2Conn<C>
where
    C: Fn() -> F + Send + Sync,
    F: Future<Output = std::io::Result<T>> + Send,
    T: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    /// Nothing is opened until the first call.
    pub(crate) fn new(connect: C, authority: &str, connect_timeout: Duration) -> Self {
        Self {
            connect,
            base: format!("http://{authority}"),
            connect_timeout,
            current: Mutex::new(None),
            connecting: tokio::sync::Mutex::new(()),
            failures: SharedFailure::default(),
        }
    }

    /// The open connection, or a new one. Failing here means nothing was sent: `UNAVAILABLE`.
    async fn live(&self) -> Result<Live, Status> {
        if let Some(live) = self.open_one() {
            return Ok(live);
        }
        let seen = self.failures.seen();
        let _one = self.connecting.lock().await;
        if let Some(live) = self.open_one() {
            return Ok(live);
        }
        // A sequence that failed while this call waited for it has answered for it too.
        if let Some(failed) = self.failures.since(seen) {
            return Err(failed.status());
        }
        let live = self.connect_sequence().await?;
        *self.lock() = Some(live.clone());
        Ok(live)
    }

    /// A connect, then up to [`RECONNECT_ATTEMPTS`] more, pausing [`RECONNECT_DELAY`] × n
    /// before the n-th; the last error's words when none succeeds.
    async fn connect_sequence(&self) -> Result<Live, Status> {
        let connect = || async {
            match tokio::time::timeout(self.connect_timeout, self.open()).await {
                Ok(Ok(live)) => Ok(live),
                Ok(Err(e)) => {
                    let tls = plugwire_tls::rustls_error_in(e.as_ref()).cloned();
                    let socket = e.downcast_ref::<io::Error>().map(io::Error::kind);
                    Err((e.to_string(), tls, socket))
                }
                Err(_) => Err(("timed out".to_string(), None, None)),
            }
        };
        let log = |(message, ..): &Attempt, retry: u32| {
            tracing::debug!(
                "gRPC connect failed (connect: {message}); retry {retry} of {RECONNECT_ATTEMPTS}"
            );
        };
        let retryable = |(_, tls, _): &Attempt| tls.is_none();
        crate::retry::linear(RECONNECT_ATTEMPTS, RECONNECT_DELAY, connect, retryable, log)
            .await
            .map_err(|((message, tls, socket), attempts)| match tls {
                Some(tls) => {
                    with_tls_source(Status::unavailable(format!("connect: {message}")), tls)
                }
                None => {
                    let failed = ConnectFailed {
                        last: message,
                        socket,
                        attempts,
                    };
                    self.failures.record(failed.clone());
                    failed.status()
                }
            })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Live>> {
        crate::relock(&self.current)
    }

    fn open_one(&self) -> Option<Live> {
        let guard = self.lock();
        guard
            .as_ref()
            .filter(|l| !l.closed.load(Ordering::Acquire))
            .cloned()
    }

    async fn open(&self) -> Result<Live, Box<dyn std::error::Error + Send + Sync>> {
        let (io, peer) = TlsWatch::new((self.connect)().await?);
        let handshake = h2::client::Builder::new()
            .initial_window_size(STREAM_WINDOW)
            .initial_connection_window_size(CONNECTION_WINDOW)
            .enable_push(false)
            .handshake::<_, Bytes>(io)
            .await;
        let (sender, conn) = match handshake {
            Ok(pair) => pair,
            Err(e) => match peer.tls_error() {
                Some(refused) => return Err(Box::new(refused.clone())),
                None => return Err(Box::new(e)),
            },
        };
        let closed = Arc::new(AtomicBool::new(false));
        let flag = closed.clone();
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!("gRPC connection ended: {e}");
            }
            flag.store(true, Ordering::Release);
        });
        Ok(Live {
            sender,
            closed,
            peer,
        })
    }

    /// Forgets `live` if it is still the kept connection, so the next call opens another.
    fn drop_live(&self, live: &Live) {
        let mut guard = self.lock();
        if guard
            .as_ref()
            .is_some_and(|l| Arc::ptr_eq(&l.closed, &live.closed))
        {
            *guard = None;
        }
    }

    /// One unary call: `message` is the encoded request (without the gRPC prefix); returns the
    /// answer's message bytes. `timeout` bounds the whole call (tonic's `Endpoint::timeout`,
    /// reported as tonic did: `CANCELLED`, "Timeout expired").
    pub(crate) async fn unary(
        &self,
        path: &str,
        message: Bytes,
        timeout: Duration,
    ) -> Result<Bytes, Status> {
        match tokio::time::timeout(timeout, self.call(path, message)).await {
            Ok(r) => r,
            Err(_) => Err(Status::cancelled("Timeout expired")),
        }
    }

    async fn call(&self, path: &str, message: Bytes) -> Result<Bytes, Status> {
        let live = self.live().await?;
        let request = request(&self.base, path)?;
        let mut sender = live.sender.clone();
        let sent = match poll_fn(|cx| sender.poll_ready(cx)).await {
            Ok(()) => sender.send_request(request, false),
            Err(e) => Err(e),
        };
        let (answer, mut body) = sent.map_err(|e| {
            // The connection was already gone: the request never left.
            self.drop_live(&live);
            let status = Status::unavailable(format!("connection lost before sending: {e}"));
            with_peer_cause(status, &live)
        })?;
        // Queued right behind HEADERS, before this task yields: both leave in one write.
        let stream_failed = |e: h2::Error| {
            if not_processed(&e) {
                // The server is going away: this connection takes no more calls.
                self.drop_live(&live);
            }
            with_peer_cause(status_from_h2(e), &live)
        };
        body.send_data(message, true).map_err(stream_failed)?;
        let answer = answer.await.map_err(stream_failed)?;
        read_answer(answer).await
    }
}

/// Whether a stream failed because the server's `GOAWAY` left it out: h2 fails exactly the
/// streams above the frame's last stream id with it, those the server says it did not and will
/// not process (RFC 9113, 6.8), so the request is safe to send again on a new connection.
fn not_processed(e: &h2::Error) -> bool {
    e.is_go_away() && e.is_remote()
}

/// The request's head: what tonic's `Channel` sent, minus its `user-agent`.
fn request(base: &str, path: &str) -> Result<Request<()>, Status> {
    let uri: Uri = format!("{base}{path}")
        .parse()
        .map_err(|e| Status::internal(format!("bad method path: {e}")))?;
    let mut req = Request::new(());
    *req.method_mut() = Method::POST;
    *req.uri_mut() = uri;
    let headers = req.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/grpc"),
    );
    headers.insert(http::header::TE, HeaderValue::from_static("trailers"));
    Ok(req)
}

/// `message` behind the gRPC prefix (uncompressed, length), in one buffer: one DATA frame.
pub(crate) fn frame<M: prost::Message>(message: &M) -> Bytes {
    let len = message.encoded_len();
    let mut buf = BytesMut::with_capacity(5 + len);
    buf.put_u8(0);
    // Requests are far below 4 GiB; a larger one is refused by the server's limit anyway.
    buf.put_u32(u32::try_from(len).unwrap_or(u32::MAX));
    // Cannot fail: the buffer was sized by `encoded_len`.
    let _ = message.encode(&mut buf);
    buf.freeze()
}

/// The answer's status and message: a trailers-only error, the HTTP status when there is no
/// `grpc-status`, else the one message and the trailers' status (as tonic's unary path).
async fn read_answer(answer: http::Response<h2::RecvStream>) -> Result<Bytes, Status> {
    let (head, mut body) = answer.into_parts();
    if let Some(status) = Status::from_header_map(&head.headers) {
        if status.code() != Code::Ok {
            return Err(status);
        }
    }
    let mut data = BytesMut::new();
    let mut first: Option<Bytes> = None;
    while let Some(chunk) = poll_fn(|cx| body.poll_data(cx)).await {
        let chunk = chunk.map_err(status_from_h2)?;
        let _ = body.flow_control().release_capacity(chunk.len());
        if first.is_none() && data.is_empty() {
            first = Some(chunk);
        } else {
            if let Some(f) = first.take() {
                data.extend_from_slice(&f);
            }
            data.extend_from_slice(&chunk);
        }
        if first.as_ref().map_or(data.len(), Bytes::len) > MAX_ANSWER + 5 {
            return Err(Status::out_of_range("answer larger than 4 MiB"));
        }
    }
    let trailers = poll_fn(|cx| body.poll_trailers(cx))
        .await
        .map_err(status_from_h2)?;
    final_status(head.status, trailers.as_ref())?;
    let bytes = first.unwrap_or_else(|| data.freeze());
    decode_one(bytes)
}

/// `Ok` when the trailers say so; their error, or one inferred from the HTTP status.
fn final_status(http: StatusCode, trailers: Option<&HeaderMap>) -> Result<(), Status> {
    if let Some(status) = trailers.and_then(Status::from_header_map) {
        return if status.code() == Code::Ok {
            Ok(())
        } else {
            Err(status)
        };
    }
    // grpc/doc/http-grpc-status-mapping.md, as tonic maps it.
    let code = match http {
        StatusCode::BAD_REQUEST => Code::Internal,
        StatusCode::UNAUTHORIZED => Code::Unauthenticated,
        StatusCode::FORBIDDEN => Code::PermissionDenied,
        StatusCode::NOT_FOUND => Code::Unimplemented,
        StatusCode::TOO_MANY_REQUESTS
        | StatusCode::BAD_GATEWAY
        | StatusCode::SERVICE_UNAVAILABLE
        | StatusCode::GATEWAY_TIMEOUT => Code::Unavailable,
        _ => Code::Unknown,
    };
    Err(Status::new(
        code,
        format!("grpc-status header missing, mapped from HTTP status code {http}"),
    ))
}

/// The one message of a unary answer, without its prefix.
fn decode_one(mut bytes: Bytes) -> Result<Bytes, Status> {
    if bytes.is_empty() {
        return Err(Status::internal("Missing response message."));
    }
    if bytes.len() < 5 {
        return Err(Status::internal(
            "answer cut inside the gRPC message prefix",
        ));
    }
    let flag = bytes.get_u8();
    let len = bytes.get_u32() as usize;
    if flag != 0 {
        return Err(Status::internal(format!(
            "protocol error: received message with compressed-flag {flag} but no grpc-encoding was asked for"
        )));
    }
    if bytes.len() != len {
        return Err(Status::internal(format!(
            "answer message of {} bytes, its prefix says {len}",
            bytes.len()
        )));
    }
    Ok(bytes)
}

/// An h2 error on a stream that was sent, with tonic's codes (`code_from_h2`): only
/// `REFUSED_STREAM` and a stream a `GOAWAY` left out (neither processed) are `UNAVAILABLE`; a
/// cut connection is `UNKNOWN`. (tonic made the second `INTERNAL`, so a server's graceful
/// shutdown failed the calls it had refused instead of letting them be sent again.)
fn status_from_h2(e: h2::Error) -> Status {
    if not_processed(&e) {
        // `UNAVAILABLE`: the transport's one retry applies, as for a refused stream.
        let message = format!("the server went away before taking the request: {e}");
        return Status::unavailable(message);
    }
    let code = match e.reason() {
        Some(
            h2::Reason::NO_ERROR
            | h2::Reason::PROTOCOL_ERROR
            | h2::Reason::INTERNAL_ERROR
            | h2::Reason::FLOW_CONTROL_ERROR
            | h2::Reason::SETTINGS_TIMEOUT
            | h2::Reason::FRAME_SIZE_ERROR
            | h2::Reason::COMPRESSION_ERROR
            | h2::Reason::CONNECT_ERROR,
        ) => Code::Internal,
        Some(h2::Reason::REFUSED_STREAM) => Code::Unavailable,
        Some(h2::Reason::CANCEL) => Code::Cancelled,
        Some(h2::Reason::ENHANCE_YOUR_CALM) => Code::ResourceExhausted,
        Some(h2::Reason::INADEQUATE_SECURITY) => Code::PermissionDenied,
        _ => Code::Unknown,
    };
    Status::new(code, format!("h2 protocol error: {e}"))
}

/// `status` with the TLS failure that caused it as its source (see the module doc).
fn with_tls_source(mut status: Status, tls: rustls::Error) -> Status {
    status.set_source(Arc::new(tls));
    status
}

/// `status`, with what ended `live` as its source: the TLS error, or the peer's silence or TLS
/// answer on a connection that never heard HTTP/2 from it.
fn with_peer_cause(mut status: Status, live: &Live) -> Status {
    if let Some(tls) = live.peer.tls_error() {
        return with_tls_source(status, tls.clone());
    }
    if let Some(why) = live.peer.no_http2() {
        status.set_source(Arc::new(why));
    }
    status
}

#[cfg(test)]
#[path = "grpc_conn_tests.rs"]
mod tests;
