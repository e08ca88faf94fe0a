//! Stateless MCP Streamable HTTP on hyper 1: `/mcp` and `/health`.
//!
//! Every answer is `application/json` (docs/decisions.md #9): the Python client then keeps its
//! connections instead of reconnecting (and re-handshaking TLS) after each call. No
//! `mcp-session-id` is issued and any or none is accepted (#11). HTTP errors exist only
//! for requests that are not JSON-RPC at all (400), too large (413), for a refused Host (421)
//! or for a method `/mcp` does not serve (405), for a body that stalls (408), a non-JSON
//! `content-type` (415) or an `accept` without JSON (406); every JSON-RPC request gets 200
//! (#12).

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::{Body as _, Incoming};
use plugwire_mcp::headers::{APPLICATION_JSON, MCP_PATH, MCP_PROTOCOL_VERSION};
use plugwire_mcp::{codes, parse_message, ErrorResponse, ProtocolVersion};

use crate::backend::Backend;
use crate::dispatch;
use crate::health::{self, CertificateHealth};
use crate::host::HostPolicy;

/// The body `/health` answers, compact as the Python runtime sends it (plugwire adds keys
/// only when it has something to report, see [`crate::health`]).
pub const HEALTH_BODY: &str = r#"{"status":"healthy"}"#;

/// Default request body limit: far above anything a gateway sends (docs/decisions.md #12).
pub const DEFAULT_MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// What the HTTP layer of one listener needs.
pub struct App {
    /// The plugins.
    pub backend: Arc<dyn Backend>,
    /// Bodies above this get 413 (`PLUGINS_SERVER_MAX_BODY_BYTES`).
    pub max_body_bytes: usize,
    /// Host/Origin check of this listener.
    pub host_policy: HostPolicy,
}

/// The response type of every route.
pub type HttpResponse = Response<Full<Bytes>>;

/// How long a request body may take (see [`crate::limits`]).
#[derive(Debug, Clone, Copy)]
pub struct BodyLimits {
    /// The whole body must arrive within this.
    pub timeout: Duration,
    /// Slowest average rate in bytes/s after [`crate::limits::BODY_RATE_GRACE`] (0: none).
    pub min_rate: u64,
}

impl Default for BodyLimits {
    fn default() -> Self {
        crate::listen::ConnLimits::default().body()
    }
}

/// The main port's service: `/mcp` and `/health`, with the default body limits.
pub async fn handle(app: Arc<App>, req: Request<Incoming>) -> Result<HttpResponse, Infallible> {
    handle_with(
        &app,
        BodyLimits::default(),
        &CertificateHealth::default(),
        req,
    )
    .await
}

/// The main port's service with explicit body limits; `/health` reports `certificate`.
/// Borrows the app: the connection owns it, so a call clones no process-wide `Arc` (whose
/// count every connection would otherwise bounce between the cores).
pub async fn handle_with(
    app: &App,
    body: BodyLimits,
    certificate: &CertificateHealth,
    req: Request<Incoming>,
) -> Result<HttpResponse, Infallible> {
    // The request line is copied for the log only when debug logging is on (hot path).
    let logged = tracing::enabled!(tracing::Level::DEBUG)
        .then(|| (req.method().clone(), req.uri().path().to_string()));
    let resp = route(app, body, certificate, req).await;
    if let Some((method, path)) = logged {
        tracing::debug!(%method, %path, status = resp.status().as_u16(), "request");
    }
    Ok(resp)
}

/// The plain-HTTP health port (port+1000 when TLS is on): `/health` (with the `certificate`
/// of the TLS port) and the metrics routes only.
pub async fn handle_health_only(
    certificate: &CertificateHealth,
    req: Request<Incoming>,
) -> Result<HttpResponse, Infallible> {
    if let Some(r) = crate::metrics_route::route(req.method(), req.uri().path()) {
        return Ok(r);
    }
    Ok(match req.uri().path() {
        "/health" => health_with(req.method(), &[], certificate),
        _ => text(StatusCode::NOT_FOUND, "Not Found"),
    })
}

async fn route(
    app: &App,
    body: BodyLimits,
    certificate: &CertificateHealth,
    req: Request<Incoming>,
) -> HttpResponse {
    let path = req.uri().path();
    if path == "/health" {
        return health_with(req.method(), &app.backend.runtime_disabled(), certificate);
    }
    if let Some(r) = crate::metrics_route::route(req.method(), path) {
        return r;
    }
    if path != MCP_PATH && path != "/mcp/" {
        return text(StatusCode::NOT_FOUND, "Not Found");
    }
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| req.uri().authority().map(|a| a.as_str()));
    if !app.host_policy.allows_host(host) {
        tracing::warn!(
            host = host.unwrap_or("<none>"),
            "refused Host header (421); add the name to PLUGINS_SERVER_ALLOWED_HOSTS to accept it"
        );
        return text(StatusCode::MISDIRECTED_REQUEST, "Invalid Host header");
    }
    let origin = req
        .headers()
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok());
    if !app.host_policy.allows_origin(origin) {
        tracing::warn!(origin, "refused Origin header (403)");
        return text(StatusCode::FORBIDDEN, "Invalid Origin header");
    }
    match *req.method() {
        Method::POST => post(app, body, req).await,
        // Stateless: there is no session to terminate, and DELETE is how the Python client
        // says goodbye (with the session id some other server gave it).
        Method::DELETE => json_response(StatusCode::OK, Bytes::new()),
        // 405, never "200 and close": that puts the Python client in a GET loop
        // (docs/decisions.md #17).
        _ => {
            let mut r = rpc_error(
                StatusCode::METHOD_NOT_ALLOWED,
                codes::INVALID_REQUEST,
                "Method Not Allowed: this stateless MCP endpoint serves POST (and DELETE); it has no server-to-client stream",
            );
            r.headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("POST, DELETE"));
            r
        }
    }
}

async fn post(app: &App, body_limits: BodyLimits, req: Request<Incoming>) -> HttpResponse {
    if let Some(v) = req.headers().get(MCP_PROTOCOL_VERSION) {
        let v = v.to_str().unwrap_or("<not ASCII>");
        if v.parse::<ProtocolVersion>().is_err() {
            return rpc_error(
                StatusCode::BAD_REQUEST,
                codes::INVALID_REQUEST,
                &format!(
                    "Bad Request: unsupported {MCP_PROTOCOL_VERSION} {v:?} (supported: 2024-11-05, 2025-03-26, 2025-06-18, 2025-11-25)"
                ),
            );
        }
    }
    if let Some(refusal) = check_media_types(req.headers()) {
        return refusal;
    }
    let limit = app.max_body_bytes;
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return too_large(limit);
    }
    let body = match read_body(req.into_body(), limit, declared, body_limits).await {
        Ok(b) => b,
        Err(BodyError::TooLarge) => return too_large(limit),
        Err(BodyError::Stalled(why)) => {
            tracing::warn!("request body {why}; answered 408 and closed the connection");
            let mut r = rpc_error(
                StatusCode::REQUEST_TIMEOUT,
                codes::INVALID_REQUEST,
                &format!("Request Timeout: the request body {why}"),
            );
            r.headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
            return r;
        }
        Err(BodyError::Read(e)) => {
            tracing::debug!("reading request body failed: {e}");
            return rpc_error(
                StatusCode::BAD_REQUEST,
                codes::PARSE_ERROR,
                &format!("Parse error: could not read the request body: {e}"),
            );
        }
    };
    if let Some(answer) = dispatch::answer_invoke_hook(&app.backend, &body).await {
        return json_response(StatusCode::OK, Bytes::from(answer));
    }
    let msg = match parse_message(&body) {
        Ok(m) => m,
        Err(e) => {
            tracing::debug!("not JSON-RPC (400): {e}");
            let err = e.to_response();
            return json_response(StatusCode::BAD_REQUEST, to_bytes(&err));
        }
    };
    match dispatch::handle_message(&app.backend, msg).await {
        Some(v) => json_response(StatusCode::OK, to_bytes(&v)),
        None => json_response(StatusCode::ACCEPTED, Bytes::new()),
    }
}

/// 415 for a body declared as something else than JSON, 406 for a client that accepts no JSON
/// answer. Missing headers are accepted: both Python clients (ContextForge 1.0.0 and 1.1.0)
/// always send `content-type: application/json` and `accept: application/json,
/// text/event-stream`, so refusing explicit mismatches costs them nothing, while a hand-written
/// `curl` without headers keeps working (the body must still be JSON-RPC).
fn check_media_types(headers: &http::HeaderMap) -> Option<HttpResponse> {
    // Compared in place (no lower-cased copies): this runs on every call.
    fn essence(v: &str) -> &str {
        v.split(';').next().unwrap_or("").trim()
    }
    fn is_json(v: &str) -> bool {
        v.eq_ignore_ascii_case(APPLICATION_JSON)
            || v.len() > 5
                && v.is_char_boundary(v.len() - 5)
                && v[v.len() - 5..].eq_ignore_ascii_case("+json")
    }
    // What every gateway sends, recognised whole before the general parse below (profiled:
    // splitting and trimming the two headers was over a thousand instructions per call).
    let exactly = |name, value: &[u8]| {
        let mut all = headers.get_all(name).iter();
        all.next().is_some_and(|v| v.as_bytes() == value) && all.next().is_none()
    };
    if exactly(header::CONTENT_TYPE, APPLICATION_JSON.as_bytes())
        && (exactly(header::ACCEPT, b"application/json, text/event-stream")
            || exactly(header::ACCEPT, APPLICATION_JSON.as_bytes()))
    {
        return None;
    }
    if let Some(ct) = headers.get(header::CONTENT_TYPE) {
        let ct = essence(ct.to_str().unwrap_or("<not ASCII>"));
        if !is_json(ct) {
            let ct = ct.to_ascii_lowercase();
            return Some(rpc_error(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                codes::INVALID_REQUEST,
                &format!("Unsupported Media Type: content-type {ct:?}; send the JSON-RPC body as application/json"),
            ));
        }
    }
    let mut ranges = headers
        .get_all(header::ACCEPT)
        .iter()
        .flat_map(|v| v.to_str().unwrap_or("").split(','))
        .map(essence)
        .filter(|r| !r.is_empty())
        .peekable();
    let any = ranges.peek().is_some();
    let json_ok = ranges.any(|r| {
        r.eq_ignore_ascii_case(APPLICATION_JSON)
            || r.eq_ignore_ascii_case("application/*")
            || r == "*/*"
    });
    if any && !json_ok {
        return Some(rpc_error(
            StatusCode::NOT_ACCEPTABLE,
            codes::INVALID_REQUEST,
            "Not Acceptable: this server answers application/json; accept application/json (MCP clients send `accept: application/json, text/event-stream`)",
        ));
    }
    None
}

enum BodyError {
    TooLarge,
    /// Why, in words that end "… the request body {why}".
    Stalled(String),
    Read(hyper::Error),
}

/// Reads a body of at most `limit` bytes under the body timeout and minimum rate. A stalled
/// body would otherwise hold its connection and the bytes received so far for ever.
async fn read_body(
    mut body: Incoming,
    limit: usize,
    declared: Option<u64>,
    t: BodyLimits,
) -> Result<Bytes, BodyError> {
    let start = tokio::time::Instant::now();
    // Reserve what the header announces (at most 1 MiB up front: a declared length costs
    // nothing to send), so a body is not copied again as it grows.
    let reserve = declared.map_or(0, |n| n.min(1 << 20) as usize);
    let mut buf = BodyBuf::new(reserve);
    // Fast path: a gateway's request body usually arrives with its headers, so the frames are
    // taken while they are ready and the two timers below (a timer-wheel entry each, created,
    // polled and cancelled on every call) are set up only when the body has to be waited for.
    // A body that is all there cannot stall, and the clock starts before this loop.
    loop {
        let ready = std::future::poll_fn(|cx| {
            std::task::Poll::Ready(std::pin::Pin::new(&mut body).poll_frame(cx))
        })
        .await;
        match ready {
            std::task::Poll::Pending => break,
            std::task::Poll::Ready(frame) => {
                if let Some(done) = take_frame(frame, &mut buf, limit) {
                    return done;
                }
            }
        }
    }
    let deadline = start + t.timeout;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            frame = body.frame() => {
                if let Some(done) = take_frame(frame, &mut buf, limit) {
                    return done;
                }
            }
            _ = tokio::time::sleep_until(deadline) => {
                return Err(BodyError::Stalled(format!(
                    "did not arrive within {:.1}s ({} bytes received); PLUGINS_SERVER_BODY_TIMEOUT sets the limit",
                    t.timeout.as_secs_f64(),
                    buf.len()
                )));
            }
            _ = tick.tick() => {
                let elapsed = start.elapsed();
                if t.min_rate > 0 && elapsed >= crate::limits::BODY_RATE_GRACE {
                    let expected = t.min_rate as f64 * elapsed.as_secs_f64();
                    if (buf.len() as f64) < expected {
                        return Err(BodyError::Stalled(format!(
                            "arrived slower than {} bytes/s ({} bytes in {:.1}s); PLUGINS_SERVER_BODY_MIN_RATE sets the limit",
                            t.min_rate,
                            buf.len(),
                            elapsed.as_secs_f64()
                        )));
                    }
                }
            }
        }
    }
}

/// Adds one frame to `buf`; `Some` when the body is complete (or failed).
fn take_frame(
    frame: Option<Result<hyper::body::Frame<Bytes>, hyper::Error>>,
    buf: &mut BodyBuf,
    limit: usize,
) -> Option<Result<Bytes, BodyError>> {
    match frame {
        None => Some(Ok(buf.take())),
        Some(Err(e)) => Some(Err(BodyError::Read(e))),
        Some(Ok(frame)) => {
            if let Ok(data) = frame.into_data() {
                if buf.len() + data.len() > limit {
                    return Some(Err(BodyError::TooLarge));
                }
                buf.push(data);
            }
            None
        }
    }
}

/// A body being read. A gateway's body usually comes as one frame (a slice of hyper's read
/// buffer): that frame is kept as it is, and only a second frame starts a buffer the frames
/// are copied into (no allocation and copy of the whole body per call).
struct BodyBuf {
    first: Option<Bytes>,
    rest: BytesMut,
    /// What the header announced (capped), reserved once a buffer is needed.
    reserve: usize,
}

impl BodyBuf {
    fn new(reserve: usize) -> Self {
        BodyBuf {
            first: None,
            rest: BytesMut::new(),
            reserve,
        }
    }

    fn len(&self) -> usize {
        self.first.as_ref().map_or(0, Bytes::len) + self.rest.len()
    }

    fn push(&mut self, data: Bytes) {
        if self.first.is_none() && self.rest.is_empty() {
            self.first = Some(data);
            return;
        }
        if let Some(first) = self.first.take() {
            self.rest
                .reserve(self.reserve.max(first.len() + data.len()));
            self.rest.extend_from_slice(&first);
        }
        self.rest.extend_from_slice(&data);
    }

    /// The whole body.
    fn take(&mut self) -> Bytes {
        match self.first.take() {
            Some(first) => first,
            None => std::mem::take(&mut self.rest).freeze(),
        }
    }
}

fn too_large(limit: usize) -> HttpResponse {
    rpc_error(
        StatusCode::PAYLOAD_TOO_LARGE,
        codes::INVALID_REQUEST,
        &format!(
            "Request body larger than {limit} bytes; raise PLUGINS_SERVER_MAX_BODY_BYTES (or --max-body-bytes) on the plugin server"
        ),
    )
}

/// `/health`: [`HEALTH_BODY`], plus `runtime_disabled` (the names of plugins that
/// `on_error: disable` took out) when there are any, so `plugwire health` can show them, and
/// the TLS `certificate` validity ([`crate::health`]). The Python runtime's body has one key;
/// a Python health check reads only `status`.
fn health_with(
    method: &Method,
    disabled: &[String],
    certificate: &CertificateHealth,
) -> HttpResponse {
    if !(method == Method::GET || method == Method::HEAD) {
        return health(method);
    }
    match health::body(disabled, certificate) {
        Some(body) => json_response(StatusCode::OK, Bytes::from(body)),
        None => health(method),
    }
}

fn health(method: &Method) -> HttpResponse {
    if method == Method::GET || method == Method::HEAD {
        json_response(StatusCode::OK, Bytes::from_static(HEALTH_BODY.as_bytes()))
    } else {
        let mut r = text(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed");
        r.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        r
    }
}

fn rpc_error(status: StatusCode, code: i64, message: &str) -> HttpResponse {
    json_response(status, to_bytes(&ErrorResponse::new(None, code, message)))
}

fn to_bytes<T: serde::Serialize>(v: &T) -> Bytes {
    Bytes::from(serde_json::to_vec(v).unwrap_or_default())
}

fn json_response(status: StatusCode, body: Bytes) -> HttpResponse {
    let mut r = Response::new(Full::new(body));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(APPLICATION_JSON),
    );
    r
}

fn text(status: StatusCode, body: &'static str) -> HttpResponse {
    let mut r = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One frame is the body as it came (no copy); more frames are joined in order, and the
    /// length counts every frame either way (the size limit reads it).
    #[test]
    fn a_body_in_one_frame_is_kept_and_frames_are_joined_in_order() {
        let one = Bytes::from_static(b"{\"jsonrpc\":\"2.0\"}");
        let mut buf = BodyBuf::new(64);
        buf.push(one.clone());
        assert_eq!(buf.len(), one.len());
        let taken = buf.take();
        assert_eq!(taken, one);
        assert_eq!(taken.as_ptr(), one.as_ptr());

        for parts in [
            &["ab", "", "cd", "e"][..],
            &["", "x"],
            &["", ""],
            &["abc", "def"],
        ] {
            let mut buf = BodyBuf::new(2);
            for p in parts {
                buf.push(Bytes::from(p.to_string()));
            }
            let whole: String = parts.concat();
            assert_eq!(buf.len(), whole.len());
            assert_eq!(buf.take(), Bytes::from(whole));
        }
        assert_eq!(BodyBuf::new(0).take(), Bytes::new());
    }
}
