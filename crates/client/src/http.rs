//! Streamable HTTP on a small pool of hyper 1 HTTP/1.1 connections.
//!
//! Why our own pool: a connection goes back to the pool only after its answer has been read to
//! its end (JSON or a whole SSE stream), so N calls at concurrency c open at most c connections,
//! and the count is exact (`ConnectionStats`). The Python client drops its connection after every
//! SSE answer; we don't.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::HeaderName;
use http::{header, HeaderValue, Method, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use plugwire_mcp::headers::{
    ACCEPT_JSON_AND_SSE, APPLICATION_JSON, MCP_PROTOCOL_VERSION, MCP_SESSION_ID, TEXT_EVENT_STREAM,
};
use plugwire_mcp::{message_from_value, Message};
use serde_json::Value;

use crate::connector::{ConnectError, ConnectionStats, Endpoint};
use crate::error::{Cause, ClientError, TlsFailure};
use session_state::HttpSession;

#[path = "http_session.rs"]
mod session_state;

/// The MCP header names, built once per transport (not `const`: a `HeaderName` holds `Bytes`).
struct SessionHeaders {
    session_id: HeaderName,
    protocol_version: HeaderName,
}

/// One plugin's HTTP endpoint: URL, pool, session headers.
pub(crate) struct HttpTransport {
    plugin: String,
    /// What error messages show: the URL, plus the socket path for `uds`.
    display: String,
    endpoint: Endpoint,
    /// `Host` header value (from the URL, also for Unix sockets).
    host: String,
    /// `host` validated once (`None`: invalid, and building the request says so as before).
    host_value: Option<HeaderValue>,
    /// Path and query of the MCP endpoint.
    path: String,
    /// `path` parsed once (`None`: invalid, and building the request says so as before).
    uri: Option<Uri>,
    names: SessionHeaders,
    /// Never held across an await: a std mutex, no async lock round trip per call.
    idle: std::sync::Mutex<Vec<SendRequest<Full<Bytes>>>>,
    session: std::sync::Mutex<HttpSession>,
    /// Wakes the calls that wait for a handshake under way.
    handshake_over: tokio::sync::Notify,
    stats: Arc<ConnectionStats>,
    max_body: usize,
}

/// A successful POST's whole body, not parsed yet; `is_sse` from its `content-type`.
pub(crate) struct RawBody {
    /// The body's bytes: hyper's own buffer when the answer came in one frame (no copy).
    pub(crate) body: Bytes,
    pub(crate) is_sse: bool,
}

/// What a POST brought back: the JSON-RPC messages (possibly none, for 202). Values that are
/// not JSON-RPC messages are dropped: only an answer to our request id matters.
pub(crate) struct Answer {
    pub(crate) messages: Vec<Message>,
}

impl HttpTransport {
    pub(crate) fn new(
        plugin: String,
        display: String,
        endpoint: Endpoint,
        host: String,
        path: String,
        stats: Arc<ConnectionStats>,
        max_body: usize,
    ) -> Self {
        Self {
            plugin,
            display,
            endpoint,
            host_value: HeaderValue::from_str(&host).ok(),
            host,
            uri: path.parse().ok(),
            names: SessionHeaders {
                session_id: HeaderName::from_static(MCP_SESSION_ID),
                protocol_version: HeaderName::from_static(MCP_PROTOCOL_VERSION),
            },
            path,
            idle: std::sync::Mutex::new(Vec::new()),
            session: std::sync::Mutex::new(HttpSession::default()),
            handshake_over: tokio::sync::Notify::new(),
            stats,
            max_body,
        }
    }

    pub(crate) fn display(&self) -> &str {
        &self.display
    }

    fn with_idle<T>(&self, f: impl FnOnce(&mut Vec<SendRequest<Full<Bytes>>>) -> T) -> T {
        f(&mut crate::relock(&self.idle))
    }

    /// Forgets the session (before a fresh `initialize`) and every idle connection (after a
    /// restart they are all stale).
    pub(crate) async fn reset(&self) {
        self.set_session(|s| *s = HttpSession::default());
        self.with_idle(Vec::clear);
    }

    /// Takes a ready idle connection (`true`: reused), or opens a new one.
    async fn checkout(
        &self,
        method: &str,
    ) -> Result<(SendRequest<Full<Bytes>>, bool), ClientError> {
        loop {
            let candidate = self.with_idle(Vec::pop);
            match candidate {
                Some(mut sender) => {
                    if sender.is_closed() {
                        continue;
                    }
                    if sender.ready().await.is_ok() {
                        return Ok((sender, true));
                    }
                }
                None => break,
            }
        }
        Ok((self.connect_new(method).await?, false))
    }

    /// Opens, handshakes (TLS) and starts one new HTTP/1.1 connection.
    async fn connect_new(&self, method: &str) -> Result<SendRequest<Full<Bytes>>, ClientError> {
        let stream = self
            .endpoint
            .connect(&self.stats)
            .await
            .map_err(|e| match e {
                ConnectError::Io(io) => {
                    let hint = crate::unix_hint::mcp_connect_hint(&self.endpoint, io.kind());
                    let hint = hint.unwrap_or_else(|| "is the plugin server running?".into());
                    let hint = format!("({hint} method {method})");
                    ClientError::connect(&self.plugin, &self.display, io, Some(hint))
                }
                ConnectError::Tls(failure) => {
                    ClientError::tls(&self.plugin, &self.display, failure)
                }
            })?;
        crate::metrics::connection_opened(&self.plugin, &self.endpoint);
        let (sender, conn) = hyper::client::conn::http1::handshake(stream.into_hyper())
            .await
            .map_err(|e| self.hyper_error(e, method))?;
        tokio::spawn(async move {
            // Ends when the server closes or the sender is dropped; errors show up on the request.
            let _ = conn.await;
        });
        Ok(sender)
    }

    fn hyper_error(&self, e: hyper::Error, method: &str) -> ClientError {
        // A TLS alert (e.g. the server refusing our client certificate) arrives on the first read.
        if let Some(tls) = crate::connector::find_rustls_error(&e) {
            return ClientError::tls(
                &self.plugin,
                &self.display,
                TlsFailure::rustls(tls, &self.endpoint),
            );
        }
        let unix = matches!(self.endpoint, Endpoint::Unix { .. });
        let hint = crate::unix_hint::http1_other_server_hint(&e, unix);
        ClientError::lost(
            &self.plugin,
            &self.display,
            format!("{method}: {}{hint}", error_chain(&e)),
            Cause::from(e),
        )
    }

    /// POSTs one JSON-RPC message and reads the whole answer.
    pub(crate) async fn post(&self, method: &str, body: &Message) -> Result<Answer, ClientError> {
        let bytes = encode(body).map_err(|e| {
            ClientError::config_caused(
                &self.plugin,
                format!("cannot serialize the {method} request: {e}"),
                Cause::from(e),
            )
        })?;
        let raw = self.post_bytes(method, bytes).await?;
        self.parse_answer(method, &raw)
    }

    /// POSTs an encoded JSON-RPC message and reads the whole answer, checking the status (and
    /// recognising a lost session) but not parsing the body: the `invoke_hook` fast path decodes
    /// it straight into typed results.
    pub(crate) async fn post_bytes(
        &self,
        method: &str,
        bytes: Vec<u8>,
    ) -> Result<RawBody, ClientError> {
        let session = self.session_for(method).await;
        let request = self.request(&session, bytes)?;

        let (mut sender, mut reused) = self.checkout(method).await?;
        self.stats.count_request();
        let mut request = request;
        let response = loop {
            match sender.try_send_request(request).await {
                Ok(response) => break response,
                Err(mut e) => match e.take_message() {
                    // The pooled connection closed (e.g. the server's keep-alive timeout) before
                    // our request went out: nothing reached the server, so a fresh connection
                    // may carry it without re-initializing.
                    Some(unsent) if reused => {
                        tracing::debug!(plugin = %self.plugin, "pooled connection closed before {method} was sent; using a new one");
                        sender = self.connect_new(method).await?;
                        reused = false;
                        request = unsent;
                    }
                    _ => return Err(self.hyper_error(e.into_error(), method)),
                },
            }
        };
        let status = response.status();
        // Only two headers matter; copying the whole map cost an allocation per header.
        let issued_id = response
            .headers()
            .get(MCP_SESSION_ID)
            .filter(|id| id.to_str().is_ok() && session.id.as_ref() != Some(*id))
            .cloned();
        let is_sse = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| starts_with_ignore_case(v.as_bytes(), TEXT_EVENT_STREAM));
        let body = self.read_body(response.into_body(), method).await?;
        // Read to its end: the connection can serve the next call.
        if !sender.is_closed() {
            self.with_idle(|idle| idle.push(sender));
        }

        if let Some(id) = issued_id {
            self.set_session(|s| s.id = Some(id));
        }
        if status == StatusCode::NOT_FOUND {
            if let Some(id) = session.id_str() {
                return Err(ClientError::session_lost(
                    &self.plugin,
                    &self.display,
                    id.to_string(),
                    404,
                ));
            }
        }
        // Some servers answer a forgotten (or missing) session with 400 and say so in the body.
        if status == StatusCode::BAD_REQUEST
            && String::from_utf8_lossy(&body)
                .to_ascii_lowercase()
                .contains("session")
        {
            return Err(ClientError::session_lost(
                &self.plugin,
                &self.display,
                session.id_str().unwrap_or("(none)").to_string(),
                400,
            ));
        }
        if !status.is_success() {
            return Err(ClientError::http_status(
                &self.plugin,
                &self.display,
                method,
                status.as_u16(),
                snippet(&body),
            ));
        }
        Ok(RawBody { body, is_sse })
    }

    /// The POST of `bytes` with the session's headers. The request is assembled from parts
    /// validated once (URI, `Host`, static values), not through `http`'s builder, which parses
    /// the URI and every header name and value again on each call. Same headers, same order.
    fn request(
        &self,
        session: &HttpSession,
        bytes: Vec<u8>,
    ) -> Result<Request<Full<Bytes>>, ClientError> {
        let (Some(uri), Some(host)) = (&self.uri, &self.host_value) else {
            return self.request_checked(session, bytes);
        };
        let mut request = Request::new(Full::new(Bytes::from(bytes)));
        *request.method_mut() = Method::POST;
        *request.uri_mut() = uri.clone();
        let headers = request.headers_mut();
        headers.reserve(6);
        headers.append(header::HOST, host.clone());
        headers.append(
            header::ACCEPT,
            HeaderValue::from_static(ACCEPT_JSON_AND_SSE),
        );
        headers.append(
            header::CONTENT_TYPE,
            HeaderValue::from_static(APPLICATION_JSON),
        );
        headers.append(header::USER_AGENT, HeaderValue::from_static(USER_AGENT));
        if let Some(id) = &session.id {
            headers.append(self.names.session_id.clone(), id.clone());
        }
        if let Some(v) = session.version {
            headers.append(
                self.names.protocol_version.clone(),
                HeaderValue::from_static(v.as_str()),
            );
        }
        Ok(request)
    }

    /// [`HttpTransport::request`] through `http`'s builder, for a path or host that did not
    /// validate: the builder's error names what is wrong.
    fn request_checked(
        &self,
        session: &HttpSession,
        bytes: Vec<u8>,
    ) -> Result<Request<Full<Bytes>>, ClientError> {
        let mut builder = Request::builder()
            .method(Method::POST)
            .uri(self.path.as_str())
            .header(header::HOST, self.host.as_str())
            .header(header::ACCEPT, ACCEPT_JSON_AND_SSE)
            .header(header::CONTENT_TYPE, APPLICATION_JSON)
            .header(header::USER_AGENT, USER_AGENT);
        if let Some(id) = &session.id {
            builder = builder.header(MCP_SESSION_ID, id.clone());
        }
        if let Some(v) = session.version {
            builder = builder.header(MCP_PROTOCOL_VERSION, v.as_str());
        }
        builder.body(Full::new(Bytes::from(bytes))).map_err(|e| {
            ClientError::config_caused(
                &self.plugin,
                format!("cannot build the HTTP request for {}: {e}", self.display),
                Cause::from(e),
            )
        })
    }

    /// The JSON-RPC messages of an answer (none for an empty body, e.g. a 202).
    pub(crate) fn parse_answer(&self, method: &str, raw: &RawBody) -> Result<Answer, ClientError> {
        let RawBody { body, is_sse } = raw;
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Answer {
                messages: Vec::new(),
            });
        }
        let messages = if *is_sse {
            plugwire_mcp::sse::decode_messages(body)
                .map_err(|e| self.malformed(method, e.to_string(), Cause::Other(Box::new(e))))?
        } else {
            let value: Value = serde_json::from_slice(body).map_err(|e| {
                self.malformed(
                    method,
                    format!("body is not JSON ({e}); starts with {}", snippet(body)),
                    Cause::from(e),
                )
            })?;
            vec![value]
        };
        // A JSON-RPC batch answer is flattened.
        let messages = messages
            .into_iter()
            .flat_map(|m| match m {
                Value::Array(items) => items,
                other => vec![other],
            })
            .filter_map(|m| message_from_value(m).ok())
            .collect();
        Ok(Answer { messages })
    }

    async fn read_body(
        &self,
        mut body: hyper::body::Incoming,
        method: &str,
    ) -> Result<Bytes, ClientError> {
        // An answer usually arrives as one frame: keep hyper's buffer as it is, and copy only
        // when a second frame comes (into a buffer sized from `content-length` when sent).
        let mut first: Option<Bytes> = None;
        let mut rest: Vec<u8> = Vec::new();
        let mut len = 0usize;
        while let Some(frame) = body.frame().await {
            // A body that ends early means the connection went away mid-answer (typically a
            // server shutting down): a connection loss, so the call is recovered and retried.
            let frame = frame.map_err(|e| self.hyper_error(e, method).cut_off(method))?;
            if let Ok(data) = frame.into_data() {
                if len + data.len() > self.max_body {
                    return Err(ClientError::too_large(
                        &self.plugin,
                        &self.display,
                        method,
                        self.max_body,
                    ));
                }
                len += data.len();
                match first.take() {
                    None if rest.is_empty() => first = Some(data),
                    None => rest.extend_from_slice(&data),
                    Some(head) => {
                        let hint = hyper::body::Body::size_hint(&body).lower();
                        let hint = usize::try_from(hint).unwrap_or(0).min(self.max_body);
                        rest.reserve(len + hint);
                        rest.extend_from_slice(&head);
                        rest.extend_from_slice(&data);
                    }
                }
            }
        }
        Ok(first.unwrap_or_else(|| Bytes::from(rest)))
    }

    fn malformed(&self, method: &str, message: String, cause: Cause) -> ClientError {
        ClientError::malformed(&self.plugin, &self.display, method, message, cause)
    }

    /// Best-effort `DELETE` of the session on shutdown (as the Python client does).
    pub(crate) async fn close(&self, timeout: Duration) {
        let Some(id) = self.session_id() else {
            self.with_idle(Vec::clear);
            return;
        };
        let request = Request::builder()
            .method(Method::DELETE)
            .uri(self.path.as_str())
            .header(header::HOST, self.host.as_str())
            .header(MCP_SESSION_ID, id.as_str())
            .body(Full::new(Bytes::new()));
        if let Ok(request) = request {
            let attempt = async {
                let (mut sender, _) = self.checkout("DELETE").await.ok()?;
                let response = sender.send_request(request).await.ok()?;
                let _ = response.into_body().collect().await;
                Some(())
            };
            let _ = tokio::time::timeout(timeout, attempt).await;
        }
        self.reset().await;
    }
}

const USER_AGENT: &str = concat!("plugwire/", env!("CARGO_PKG_VERSION"));

/// A message as compact JSON, serialized straight from its struct: the same bytes as
/// `serde_json::to_vec(&message.to_value())` (struct fields in declaration order, as the
/// order-preserving `Value` kept them) without building the `Value` tree first.
pub(crate) fn encode(message: &Message) -> serde_json::Result<Vec<u8>> {
    match message {
        Message::Request(m) => serde_json::to_vec(m),
        Message::Notification(m) => serde_json::to_vec(m),
        Message::Response(m) => serde_json::to_vec(m),
        Message::Error(m) => serde_json::to_vec(m),
    }
}

/// `prefix` (lower case) at the start of `value`, ASCII case ignored, without a lowered copy.
fn starts_with_ignore_case(value: &[u8], prefix: &str) -> bool {
    value.len() >= prefix.len() && value[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
}

/// The start of a body, printable, for error messages.
pub(crate) fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(200)]);
    let mut s: String = text
        .chars()
        .filter(|c| !c.is_control() || *c == ' ')
        .collect();
    if body.len() > 200 {
        s.push('…');
    }
    if s.is_empty() {
        "(empty body)".to_string()
    } else {
        s
    }
}

/// `e: cause: cause` in one line.
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use plugwire_mcp::{Notification, Request, RequestId};
    use serde_json::json;

    /// The one-pass encoding writes exactly the bytes the `Value` round trip wrote.
    #[test]
    fn encode_matches_the_value_round_trip() {
        let params = json!({"name": "invoke_hook", "arguments": {
            "hook_type": "tool_pre_invoke", "plugin_name": "P",
            "payload": {"name": "t", "args": {"z": 1, "a": "é\u{1}\"", "n": null, "f": 1.5}},
            "context": {"state": {}, "global_context": {"request_id": "r"}, "metadata": {}}}});
        let messages = [
            Message::Request(Request::new(RequestId::from(7), "tools/call", Some(params))),
            Message::Request(Request::new(
                RequestId::from("x"),
                "tools/list",
                Some(json!({})),
            )),
            Message::Notification(Notification::new("notifications/initialized", None)),
        ];
        for m in &messages {
            let old = serde_json::to_vec(&m.to_value()).expect("serializes");
            assert_eq!(encode(m).expect("serializes"), old);
        }
    }

    #[test]
    fn content_type_prefix_ignores_case_only() {
        assert!(starts_with_ignore_case(
            b"Text/Event-Stream; charset=utf-8",
            TEXT_EVENT_STREAM
        ));
        assert!(!starts_with_ignore_case(
            b"application/json",
            TEXT_EVENT_STREAM
        ));
        assert!(!starts_with_ignore_case(b"text/event", TEXT_EVENT_STREAM));
    }
}
