//! `GET /metrics/prometheus` (ContextForge's path) and `GET /metrics`, on the main port and on
//! the health port: the exposition of [`ServerMetrics::global`], or ContextForge's 503 answer
//! when `ENABLE_METRICS` is off. No Host check: a scraper addresses the pod by IP.

use bytes::Bytes;
use http::{header, HeaderValue, Method, Response, StatusCode};
use http_body_util::Full;
use plugwire_metrics::expose::{is_metrics_path, CONTENT_TYPE, DISABLED_BODY};
use plugwire_metrics::ServerMetrics;

use crate::http::HttpResponse;

/// The answer for a scrape path, `None` for any other path (the caller routes it).
pub fn route(method: &Method, path: &str) -> Option<HttpResponse> {
    is_metrics_path(path).then(|| answer(ServerMetrics::global(), method))
}

/// The answer of `metrics` to a request on a scrape path.
pub fn answer(metrics: &ServerMetrics, method: &Method) -> HttpResponse {
    if method != Method::GET && method != Method::HEAD {
        let mut r = respond(
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain; charset=utf-8",
            Bytes::from_static(b"Method Not Allowed"),
        );
        r.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return r;
    }
    if !metrics.enabled() {
        return respond(
            StatusCode::SERVICE_UNAVAILABLE,
            "application/json",
            Bytes::from_static(DISABLED_BODY.as_bytes()),
        );
    }
    respond(StatusCode::OK, CONTENT_TYPE, Bytes::from(metrics.encode()))
}

fn respond(status: StatusCode, content_type: &'static str, body: Bytes) -> HttpResponse {
    let mut r = Response::new(Full::new(body));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}
