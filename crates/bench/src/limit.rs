//! The limit: a minimal hyper + rustls HTTP/1.1 server that reads each request body and answers
//! a fixed JSON body (the same bytes `plugwire serve` would answer), doing no parsing at all.
//! Whatever `plugwire serve` spends beyond this is MCP, JSON and plugin work.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::Response;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use rustls::ServerConfig;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::payload::{tool_payload, PLUGIN_NAME};

/// The JSON-RPC answer SearchReplace gives to [`crate::payload::RequestTemplate::invoke_hook`]
/// (id 1), in the 1.0.0 shape: one text content holding the result JSON. The same bytes
/// `plugwire serve` answers (`tests/smoke_plugwire.rs` checks it), so the two servers send and
/// encrypt the same amount.
pub fn fixed_answer() -> Bytes {
    let mut payload = tool_payload();
    if let Some(Value::Object(args)) = payload.get_mut("args") {
        for v in args.values_mut() {
            if let Value::String(s) = v {
                *s = s.replace("crap", "crud").replace("crud", "yikes");
            }
        }
    }
    let result = json!({"plugin_name": PLUGIN_NAME, "result": {
        "continue_processing": true, "modified_payload": payload, "violation": null,
        "metadata": {}, "http_headers": null, "retry_delay_ms": 0}});
    // Two-space indent, as the Python runtime (and so plugwire) writes the text.
    let text = serde_json::to_string_pretty(&result).unwrap_or_default();
    let body = json!({"jsonrpc": "2.0", "id": 1, "result": {
        "content": [{"type": "text", "text": text}], "isError": false}});
    Bytes::from(body.to_string())
}

/// Serves `answer` to every request until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    tls: Arc<ServerConfig>,
    answer: Bytes,
    shutdown: impl Future<Output = ()>,
) {
    let acceptor = TlsAcceptor::from(tls);
    tokio::pin!(shutdown);
    loop {
        let (tcp, _) = tokio::select! {
            _ = &mut shutdown => return,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(_) => continue,
            },
        };
        let acceptor = acceptor.clone();
        let answer = answer.clone();
        tokio::spawn(async move {
            let _ = tcp.set_nodelay(true);
            let Ok(Ok(tls)) =
                tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await
            else {
                return;
            };
            let svc = service_fn(move |req: http::Request<Incoming>| {
                let answer = answer.clone();
                async move {
                    // Read the body, as any real server must, then answer.
                    let _ = req.into_body().collect().await?;
                    Ok::<_, hyper::Error>(
                        Response::builder()
                            .header(CONTENT_TYPE, "application/json")
                            .body(Full::new(answer))
                            .unwrap_or_default(),
                    )
                }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(tls), svc)
                .await;
        });
    }
}
