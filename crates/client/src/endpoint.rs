//! From a plugin entry's `mcp:` block (plus `PLUGINS_CLIENT_MTLS_*`) to a transport: URL parsing,
//! TLS resolution (env wins field by field, docs/decisions.md #1; only for STREAMABLEHTTP without `uds`),
//! Unix socket, or child process.

use std::path::PathBuf;
use std::sync::Arc;

use http::Uri;
use plugwire_framework::{MCPClientConfig, MCPClientTLSConfig, TransportType};
use plugwire_tls::{ClientTlsLayer, ClientTlsSettings, Env};
use rustls::pki_types::ServerName;

use crate::connector::Endpoint;
use crate::error::ClientError;
use crate::http::HttpTransport;
use crate::identity::ReloadingConnector;
use crate::options::ClientOptions;
use crate::session::Transport;
use crate::stdio::{StdioSpec, StdioTransport};

fn config_error(plugin: &str, message: impl Into<String>) -> ClientError {
    ClientError::config(plugin, message)
}

/// The parts of an `http(s)://host[:port]/path` URL the client needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ParsedUrl {
    pub(crate) https: bool,
    /// Host without IPv6 brackets (for connecting and for the certificate name).
    pub(crate) host: String,
    pub(crate) port: u16,
    /// `Host` header value as written in the URL (brackets and explicit port kept).
    pub(crate) authority: String,
    pub(crate) path: String,
}

pub(crate) fn parse_url(plugin: &str, url: &str) -> Result<ParsedUrl, ClientError> {
    let uri: Uri = url.trim().parse().map_err(|e| {
        config_error(
            plugin,
            format!("mcp.url {url:?} is not a valid URL ({e}); expected e.g. https://localhost:8000/mcp"),
        )
    })?;
    let https = match uri.scheme_str() {
        Some("https") => true,
        Some("http") => false,
        Some(other) => {
            return Err(config_error(
                plugin,
                format!("mcp.url {url:?} has scheme {other:?}; use http:// or https://"),
            ))
        }
        None => {
            return Err(config_error(
                plugin,
                format!("mcp.url {url:?} has no scheme; write it as https://HOST:PORT/mcp"),
            ))
        }
    };
    let authority = uri
        .authority()
        .ok_or_else(|| config_error(plugin, format!("mcp.url {url:?} has no host")))?;
    if authority.as_str().contains('@') {
        return Err(config_error(
            plugin,
            format!("mcp.url {url:?} carries credentials (user@host); they are not supported"),
        ));
    }
    let host = authority
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    if host.is_empty() {
        return Err(config_error(plugin, format!("mcp.url {url:?} has no host")));
    }
    let port = authority.port_u16().unwrap_or(if https { 443 } else { 80 });
    let path = uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| "/".to_string());
    Ok(ParsedUrl {
        https,
        host,
        port,
        authority: authority.as_str().to_string(),
        path,
    })
}

/// YAML `mcp.tls` as the TLS crate's layer (env is applied on top by `resolve_client_tls`).
pub(crate) fn tls_layer(tls: &MCPClientTLSConfig) -> ClientTlsLayer {
    ClientTlsLayer {
        certfile: tls.files.certfile.as_ref().map(PathBuf::from),
        keyfile: tls.files.keyfile.as_ref().map(PathBuf::from),
        ca_bundle: tls.files.ca_bundle.as_ref().map(PathBuf::from),
        keyfile_password: tls.files.keyfile_password.clone(),
        verify: tls.own.verify,
        check_hostname: tls.own.check_hostname,
        server_name: tls.own.server_name.clone(),
        ca_crl: tls.files.ca_crl.as_ref().map(PathBuf::from),
    }
}

/// Resolves TLS for an https URL: YAML `mcp.tls` overridden field by field by
/// `PLUGINS_CLIENT_MTLS_*`, then built into a connector that reloads its files when they change.
fn tls_connector(
    plugin: &str,
    url: &str,
    tls: Option<&MCPClientTLSConfig>,
    env: &dyn Env,
) -> Result<(Arc<ReloadingConnector>, Arc<ClientTlsSettings>), ClientError> {
    let layer = tls.map(tls_layer);
    let tls_err = |e: plugwire_tls::TlsError| ClientError::tls_setup(plugin, url, e);
    let settings = plugwire_tls::resolve_client_tls_named(plugin, layer.as_ref(), env)
        .map_err(tls_err)?
        // Neither YAML nor env says anything: verify against the system bundle, no client cert.
        .unwrap_or_default();
    let settings = Arc::new(settings);
    let connector = ReloadingConnector::new(plugin, settings.clone()).map_err(tls_err)?;
    Ok((connector, settings))
}

/// The connection target of a STREAMABLEHTTP entry: Unix socket, TLS or plain TCP, and the text
/// error messages show for it.
pub(crate) fn build_endpoint(
    plugin: &str,
    mcp: &MCPClientConfig,
    url: &str,
    parsed: &ParsedUrl,
    options: &ClientOptions,
) -> Result<(Endpoint, String), ClientError> {
    Ok(match mcp.uds.as_deref().filter(|u| !u.trim().is_empty()) {
        Some(uds) => {
            if mcp.tls.is_some() {
                return Err(config_error(
                    plugin,
                    "mcp.tls cannot be used with mcp.uds (a Unix socket is local; remove one of them)",
                ));
            }
            let path = PathBuf::from(uds);
            if !path.is_absolute() {
                return Err(config_error(
                    plugin,
                    format!("MCP client uds path must be absolute: {uds}"),
                ));
            }
            (Endpoint::Unix { path }, format!("{url} (uds={uds})"))
        }
        None if parsed.https => {
            let (connector, settings) =
                tls_connector(plugin, url, mcp.tls.as_ref(), options.env.as_ref())?;
            options.identities.add(&connector);
            let server_name = ServerName::try_from(parsed.host.clone()).map_err(|e| {
                config_error(
                    plugin,
                    format!(
                        "mcp.url host {:?} is not a valid DNS name or IP address: {e}",
                        parsed.host
                    ),
                )
            })?;
            (
                Endpoint::Tls {
                    host: parsed.host.clone(),
                    port: parsed.port,
                    connector,
                    server_name,
                    url_host: parsed.host.clone(),
                    settings,
                },
                url.to_string(),
            )
        }
        None => {
            if mcp.tls.is_some() {
                tracing::warn!(plugin = %plugin, url = %url, "mcp.tls is set but the URL is http://; TLS is NOT used (write https:// to use it)");
            }
            (
                Endpoint::Tcp {
                    host: parsed.host.clone(),
                    port: parsed.port,
                },
                url.to_string(),
            )
        }
    })
}

/// Builds the transport for one plugin entry.
pub(crate) fn build_transport(
    plugin: &str,
    mcp: &MCPClientConfig,
    options: &ClientOptions,
) -> Result<Transport, ClientError> {
    match mcp.proto {
        TransportType::StreamableHttp => {
            let url = mcp.url.as_deref().filter(|u| !u.trim().is_empty()).ok_or_else(|| {
                config_error(plugin, "proto STREAMABLEHTTP needs mcp.url (e.g. https://localhost:8000/mcp)")
            })?;
            let parsed = parse_url(plugin, url)?;
            let (endpoint, display) = build_endpoint(plugin, mcp, url, &parsed, options)?;
            Ok(Transport::Http(HttpTransport::new(
                plugin.to_string(),
                display,
                endpoint,
                parsed.authority,
                parsed.path,
                options.stats.clone(),
                options.max_response_bytes,
            )))
        }
        TransportType::Stdio => {
            if mcp.url.is_some() || mcp.uds.is_some() || mcp.tls.is_some() {
                return Err(config_error(
                    plugin,
                    "proto STDIO takes script or cmd (with env, cwd); remove mcp.url, mcp.uds and mcp.tls",
                ));
            }
            let mut spec = match (mcp.script.as_deref(), mcp.cmd.as_deref()) {
                (Some(script), None) if !script.trim().is_empty() => StdioSpec::from_script(script),
                (None, Some([program, args @ ..])) if !program.trim().is_empty() => StdioSpec {
                    program: program.clone(),
                    args: args.to_vec(),
                    env: Vec::new(),
                    cwd: None,
                },
                (Some(_), Some(_)) => {
                    return Err(config_error(plugin, "set either mcp.script or mcp.cmd, not both"))
                }
                _ => {
                    return Err(config_error(
                        plugin,
                        "proto STDIO needs mcp.script (a .py/.sh file or an executable) or mcp.cmd (a non-empty list)",
                    ))
                }
            };
            spec.env = mcp
                .env
                .iter()
                .flatten()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            spec.cwd = mcp.cwd.as_ref().map(PathBuf::from);
            if let Some(cwd) = &spec.cwd {
                if !cwd.is_dir() {
                    return Err(config_error(
                        plugin,
                        format!("mcp.cwd {} is not a directory", cwd.display()),
                    ));
                }
            }
            Ok(Transport::Stdio(StdioTransport::new(
                plugin.to_string(),
                spec,
                options.stats.clone(),
                options.max_response_bytes,
            )))
        }
        other => Err(config_error(
            plugin,
            format!(
                "mcp.proto {other} is not supported (the Python client does not connect it either); use STREAMABLEHTTP or STDIO"
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_with_defaults_and_ip_literals() {
        let p = parse_url("p", "https://localhost:8000/mcp").unwrap();
        assert_eq!(
            (p.https, p.host.as_str(), p.port, p.path.as_str()),
            (true, "localhost", 8000, "/mcp")
        );
        let p = parse_url("p", "http://127.0.0.1/mcp/").unwrap();
        assert_eq!((p.https, p.host.as_str(), p.port), (false, "127.0.0.1", 80));
        let p = parse_url("p", "https://[::1]:9/x?y=1").unwrap();
        assert_eq!(
            (p.host.as_str(), p.authority.as_str(), p.path.as_str()),
            ("::1", "[::1]:9", "/x?y=1")
        );
        let p = parse_url("p", "https://plugin").unwrap();
        assert_eq!((p.port, p.path.as_str()), (443, "/"));
    }

    #[test]
    fn bad_urls_name_the_key() {
        for bad in [
            "ftp://x/mcp",
            "localhost:8000/mcp",
            "https://u:p@host/mcp",
            "not a url",
        ] {
            let e = parse_url("p", bad).unwrap_err().to_string();
            assert!(e.contains("mcp.url"), "{bad}: {e}");
        }
    }
}
