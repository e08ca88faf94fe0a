//! `GET /health` against a plugin server (the main port over TLS, or the plain port+1000 server),
//! with the same TLS settings and env variables as plugin entries.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{header, Method, Request};
use http_body_util::{BodyExt, Empty, Limited};
use plugwire_framework::{MCPClientConfig, MCPClientTLSConfig, TransportType};
use plugwire_mcp::headers::APPLICATION_JSON;

use crate::connector::{ConnectError, ConnectionStats, Endpoint};
use crate::endpoint::{build_endpoint, parse_url};
use crate::error::{Cause, ClientError, ErrorKind, TlsFailure};
use crate::options::ClientOptions;

/// What `/health` answered.
#[derive(Debug, Clone)]
pub struct HealthReport {
    /// The URL actually requested.
    pub url: String,
    /// HTTP status.
    pub status: u16,
    /// The body (`{"status":"healthy"}` from a healthy server).
    pub body: String,
    /// True for 200 with `"status": "healthy"`.
    pub healthy: bool,
}

/// The health URL for what a user typed: a base URL, an MCP URL ending in `/mcp`, or the
/// `/health` URL itself.
pub fn health_url(url: &str) -> String {
    let trimmed = url.trim().trim_end_matches('/');
    if trimmed.ends_with("/health") {
        trimmed.to_string()
    } else if let Some(base) = trimmed.strip_suffix("/mcp") {
        format!("{base}/health")
    } else {
        format!("{trimmed}/health")
    }
}

/// Requests `/health`; TLS settings as for a plugin entry (`tls` overridden by
/// `PLUGINS_CLIENT_MTLS_*` from `options.env`).
pub async fn check_health(
    url: &str,
    tls: Option<MCPClientTLSConfig>,
    uds: Option<String>,
    options: &ClientOptions,
    timeout: Duration,
) -> Result<HealthReport, ClientError> {
    const WHO: &str = "health";
    let target = health_url(url);
    let parsed = parse_url(WHO, &target)?;
    let mcp = MCPClientConfig {
        proto: TransportType::StreamableHttp,
        url: Some(target.clone()),
        script: None,
        cmd: None,
        env: None,
        cwd: None,
        uds,
        tls,
        reconnect_attempts: 0,
        reconnect_delay: 0.0,
    };
    let (endpoint, display) = build_endpoint(WHO, &mcp, &target, &parsed, options)?;
    let stats = Arc::new(ConnectionStats::default());
    let work = async {
        let stream = endpoint.connect(&stats).await.map_err(|e| match e {
            ConnectError::Io(io) => {
                let hint = crate::unix_hint::mcp_connect_hint(&endpoint, io.kind());
                ClientError::connect(WHO, &display, io, hint.map(|h| format!("({h})")))
            }
            ConnectError::Tls(failure) => ClientError::tls(WHO, &display, failure),
        })?;
        let unix = matches!(endpoint, Endpoint::Unix { .. });
        let lost = |e: Cause| {
            let hint = match e.as_error().downcast_ref::<hyper::Error>() {
                Some(h) => crate::unix_hint::http1_other_server_hint(h, unix),
                None => "",
            };
            let detail = format!("{}{hint}", crate::http::error_chain(e.as_error()));
            ClientError::lost(WHO, &display, detail, e)
        };
        let (mut sender, conn) = hyper::client::conn::http1::handshake(stream.into_hyper())
            .await
            .map_err(|e| lost(e.into()))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        let request = Request::builder()
            .method(Method::GET)
            .uri(parsed.path.as_str())
            .header(header::HOST, parsed.authority.as_str())
            .header(header::ACCEPT, APPLICATION_JSON)
            .body(Empty::<Bytes>::new())
            .map_err(|e| lost(e.into()))?;
        let response = sender.send_request(request).await.map_err(|e| {
            match crate::connector::find_rustls_error(&e) {
                Some(tls) => ClientError::tls(WHO, &display, TlsFailure::rustls(tls, &endpoint)),
                None => lost(e.into()),
            }
        })?;
        let status = response.status().as_u16();
        let body = Limited::new(response.into_body(), 64 * 1024)
            .collect()
            .await
            .map_err(|e| {
                ClientError::lost(
                    WHO,
                    &display,
                    format!("reading the body: {e}"),
                    Cause::Other(e),
                )
            })?
            .to_bytes();
        let body = String::from_utf8_lossy(&body).into_owned();
        let healthy = status == 200
            && serde_json::from_str::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| {
                    v.get("status")
                        .and_then(|s| s.as_str())
                        .map(|s| s == "healthy")
                })
                .unwrap_or(false);
        Ok(HealthReport {
            url: display.clone(),
            status,
            body,
            healthy,
        })
    };
    match tokio::time::timeout(timeout, work).await {
        Ok(r) => r,
        Err(_) => Err(ClientError::timeout(WHO, &target, "GET /health", timeout)),
    }
}

/// The error in the terms of the `plugwire health` command line: its flags instead of the YAML
/// keys of a plugin entry, "the URL" instead of the entry's `mcp.url` / `grpc.target`, and
/// without the plugin-name prefix.
pub fn describe_for_cli(err: &ClientError) -> String {
    if let Some(text) = without_tls_for_cli(err) {
        return text;
    }
    let mut text = err.detail();
    for (field, flag) in [
        ("certfile", "--certfile"),
        ("keyfile", "--keyfile"),
        ("ca_bundle", "--ca-bundle"),
        ("keyfile_password", "--keyfile-password"),
        ("verify", "--no-verify"),
        ("check_hostname", "--no-check-hostname"),
        ("server_name", "--server-name"),
    ] {
        for transport in ["mcp", "grpc"] {
            text = text.replace(
                &format!("YAML key `plugins[health].{transport}.tls.{field}`"),
                &format!("option {flag}"),
            );
        }
    }
    // A `grpc.tls` block hides the variables; the command line gives one when a TLS option is.
    let var = plugwire_tls::GRPC_CLIENT_TLS.server_name;
    let text = text.replace(
        &format!("; {var}{}", crate::connector::GRPC_VAR_UNREAD),
        &format!("; without TLS options, environment variable {var} does the same"),
    );
    text.replace("invalid configuration: mcp.url ", "the URL ")
        .replace("`plugins[health].grpc.target`", "the URL")
        .replace("`plugins[health].mcp.url`", "the URL")
        .replace("plugins[health].mcp.tls.", "--")
        .replace("plugins[health].grpc.tls.", "--")
}

/// For a TLS URL whose server answered without TLS: the same URL without TLS to ask instead
/// (the entry's explanation speaks of its `tls` block and `mcp.url`, which the command line
/// does not have).
fn without_tls_for_cli(err: &ClientError) -> Option<String> {
    let ErrorKind::Tls(failure) = err.kind() else {
        return None;
    };
    match &failure.cause {
        Some(Cause::Rustls(e)) if crate::connector::answered_without_tls(e) => {}
        _ => return None,
    }
    let url = err.context().endpoint.as_deref()?;
    let (plain, what) = if let Some(rest) = url.strip_prefix("grpcs://") {
        (
            format!("grpc://{rest}"),
            "plaintext HTTP/2, as a gRPC port without TLS answers",
        )
    } else if let Some(rest) = url.strip_prefix("https://") {
        (
            format!("http://{rest}"),
            "plain HTTP, as a plugin server without TLS answers",
        )
    } else {
        return None;
    };
    Some(format!(
        "TLS with {url} failed: {} ({what}): ask {plain} to call it without TLS",
        crate::connector::WITHOUT_TLS
    ))
}

#[cfg(test)]
mod tests {
    use super::health_url;

    #[test]
    fn health_url_forms() {
        assert_eq!(
            health_url("https://localhost:8000"),
            "https://localhost:8000/health"
        );
        assert_eq!(
            health_url("https://localhost:8000/"),
            "https://localhost:8000/health"
        );
        assert_eq!(
            health_url("http://localhost:9000/mcp"),
            "http://localhost:9000/health"
        );
        assert_eq!(
            health_url("http://localhost:9000/health"),
            "http://localhost:9000/health"
        );
    }
}
