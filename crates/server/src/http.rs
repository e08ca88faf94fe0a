//! Stateless MCP Streamable HTTP on hyper 1: `/mcp` and `/health`.
//!
//! Every answer is `application/json` (README decision 9): the Python client then keeps its
//! connections instead of reconnecting (and re-handshaking TLS) after each call. No
//! `mcp-session-id` is issued and any or none is accepted (decision 11). HTTP errors exist only
//! for requests that are not JSON-RPC at all (400), too large (413), for a refused Host (421)
//! or for a method `/mcp` does not serve (405); every JSON-RPC request gets 200 (decision 12).

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::Incoming;
use plugwire_mcp::headers::{APPLICATION_JSON, MCP_PATH, MCP_PROTOCOL_VERSION};
use plugwire_mcp::{codes, parse_message, ErrorResponse, ProtocolVersion};

use crate::backend::Backend;
use crate::dispatch;
use crate::host::HostPolicy;

/// The body `/health` answers, compact as the Python runtime sends it.
pub const HEALTH_BODY: &str = r#"{"status":"healthy"}"#;

/// Default request body limit: far above anything a gateway sends (README decision 12).
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

/// The main port's service: `/mcp` and `/health`.
pub async fn handle(app: Arc<App>, req: Request<Incoming>) -> Result<HttpResponse, Infallible> {
    // The request line is copied for the log only when debug logging is on (hot path).
    let logged = tracing::enabled!(tracing::Level::DEBUG)
        .then(|| (req.method().clone(), req.uri().path().to_string()));
    let resp = route(&app, req).await;
    if let Some((method, path)) = logged {
        tracing::debug!(%method, %path, status = resp.status().as_u16(), "request");
    }
    Ok(resp)
}

/// The plain-HTTP health port (port+1000 when TLS is on): `/health` only.
pub async fn handle_health_only(req: Request<Incoming>) -> Result<HttpResponse, Infallible> {
    Ok(match req.uri().path() {
        "/health" => health(req.method()),
        _ => text(StatusCode::NOT_FOUND, "Not Found"),
    })
}

async fn route(app: &App, req: Request<Incoming>) -> HttpResponse {
    let path = req.uri().path();
    if path == "/health" {
        return health_with(req.method(), &app.backend.runtime_disabled());
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
        Method::POST => post(app, req).await,
        // Stateless: there is no session to terminate, and DELETE is how the Python client
        // says goodbye (with the session id some other server gave it).
        Method::DELETE => json_response(StatusCode::OK, Bytes::new()),
        // 405, never "200 and close": that puts the Python client in a GET loop (finding 12).
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

async fn post(app: &App, req: Request<Incoming>) -> HttpResponse {
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
    let limit = app.max_body_bytes;
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return too_large(limit);
    }
    let body = match Limited::new(req.into_body(), limit).collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => return too_large(limit),
        Err(e) => {
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

fn too_large(limit: usize) -> HttpResponse {
    rpc_error(
        StatusCode::PAYLOAD_TOO_LARGE,
        codes::INVALID_REQUEST,
        &format!(
            "Request body larger than {limit} bytes; raise PLUGINS_SERVER_MAX_BODY_BYTES (or --max-body-bytes) on the plugin server"
        ),
    )
}

/// `/health` of the main port: [`HEALTH_BODY`], plus `runtime_disabled` (the names of plugins
/// that `on_error: disable` took out) when there are any, so `plugwire health` can show them.
/// The Python runtime's body has one key; a Python health check reads only `status`.
fn health_with(method: &Method, disabled: &[String]) -> HttpResponse {
    if disabled.is_empty() || !(method == Method::GET || method == Method::HEAD) {
        return health(method);
    }
    let body = serde_json::json!({"status": "healthy", "runtime_disabled": disabled});
    json_response(StatusCode::OK, Bytes::from(body.to_string()))
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
