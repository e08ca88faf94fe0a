//! Builds the [`Remote`] of a `grpc:` or `unix_socket:` external entry.
//!
//! gRPC: `target` (`host:port`, TLS when the entry has `tls:` or any
//! `PLUGINS_GRPC_CLIENT_MTLS_*` variable is set, else plaintext as upstream's insecure channel)
//! or `uds` (an absolute socket path, never TLS). The package starts as `cpex` (1.1.0); a server
//! that answers `UNIMPLEMENTED` is asked again under `mcpgateway.plugins` (1.0.x), see
//! [`crate::grpc`]. Raw socket: `path`, `reconnect_attempts`, `reconnect_delay`, `timeout`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use plugwire_framework::{GrpcClientConfig, GrpcClientTLSConfig, UnixSocketClientConfig};
use plugwire_grpc::Era;
use plugwire_tls::{ClientTlsLayer, TlsError};
use rustls::pki_types::ServerName;

use crate::connector::ConnectionStats;
use crate::error::{Cause, ClientError};
use crate::grpc::{GrpcClient, GrpcOptions, GrpcTarget};
use crate::identity::{Alpn, ReloadingConnector};
use crate::options::ClientOptions;
use crate::plugin::Remote;
use crate::raw_socket::{RawSocketClient, RawSocketOptions};

/// How long a gRPC connection attempt may take at most (the call timeout when shorter).
const GRPC_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

fn tls_layer(t: &GrpcClientTLSConfig) -> ClientTlsLayer {
    ClientTlsLayer {
        certfile: t.files.certfile.as_ref().map(PathBuf::from),
        keyfile: t.files.keyfile.as_ref().map(PathBuf::from),
        ca_bundle: t.files.ca_bundle.as_ref().map(PathBuf::from),
        keyfile_password: t.files.keyfile_password.clone(),
        verify: t.own.verify,
        check_hostname: None,
        server_name: t.own.server_name.clone(),
        ca_crl: t.files.ca_crl.as_ref().map(PathBuf::from),
    }
}

/// The gRPC transport of entry `plugin`. Errors name `plugins[<name>].grpc...` or the variable.
pub fn grpc_remote(
    plugin: &str,
    cfg: &GrpcClientConfig,
    options: &ClientOptions,
) -> Result<Remote, ClientError> {
    let config_err = |message: String| ClientError::config(plugin, message);
    let uds = cfg.uds.as_deref().map(str::trim).filter(|u| !u.is_empty());
    let target = match (uds, cfg.target.as_deref().map(str::trim)) {
        (Some(path), _) => GrpcTarget::Unix(PathBuf::from(path)),
        (None, Some(target)) if !target.is_empty() => {
            if let Some(problem) = target_problem(target) {
                return Err(config_err(format!("key `grpc.target`: {problem}")));
            }
            let layer = cfg.tls.as_ref().map(tls_layer);
            let settings =
                plugwire_tls::resolve_grpc_client_tls(plugin, layer.as_ref(), options.env.as_ref())
                    .map_err(|e| tls_err(plugin, target, e))?;
            match settings {
                None => GrpcTarget::Plain {
                    target: target.to_string(),
                },
                Some(s) => {
                    let connector = ReloadingConnector::with_alpn(plugin, Arc::new(s), Alpn::H2)
                        .map_err(|e| tls_err(plugin, target, e))?;
                    // Reloaded with the HTTP entries' connectors (`ClientIdentities::reload`).
                    options.identities.add(&connector);
                    GrpcTarget::Tls {
                        target: target.to_string(),
                        connector,
                        server_name: server_name(target).map_err(|m| {
                            config_err(format!("key `grpc.target` ({target}): {m}"))
                        })?,
                    }
                }
            }
        }
        _ => {
            return Err(config_err(
                "key `grpc`: set `target` (host:port) or `uds` (absolute socket path)".into(),
            ))
        }
    };
    let client = GrpcClient::with_stats(
        plugin,
        GrpcOptions {
            target,
            era: Era::Cpex,
            timeout: options.call_timeout,
            connect_timeout: options.call_timeout.min(GRPC_CONNECT_TIMEOUT),
        },
        options.stats.clone(),
    )?;
    Ok(Remote::Grpc(client))
}

fn tls_err(plugin: &str, target: &str, e: TlsError) -> ClientError {
    ClientError::tls_setup(plugin, &format!("grpcs://{target}"), e)
}

/// The host of a `host:port` gRPC target (an IPv6 address without its brackets).
pub(crate) fn target_host(target: &str) -> &str {
    target
        .rsplit_once(':')
        .map_or(target, |(h, _)| h)
        .trim_start_matches('[')
        .trim_end_matches(']')
}

/// What keeps `target` from being `host:port` (a connect to it could only fail, after the
/// retries meant for a server that restarts), `None` when it is one: the framework's check of
/// `grpc.target`, in words for an entry built in code or a `plugwire health` URL.
pub fn target_problem(target: &str) -> Option<String> {
    use plugwire_framework::config::GrpcTargetProblem as P;
    let example = "e.g. localhost:50051 or [::1]:50051";
    Some(
        match plugwire_framework::config::grpc_target_problem(target)? {
            P::Scheme(scheme) => {
                format!("{target:?} has a scheme ({scheme}://): write host:port only, {example}")
            }
            P::ResolverPrefix(prefix) => format!(
            "{target:?} uses grpcio's `{prefix}:` form, which plugwire's client does not take: \
             write host:port, {example}"
        ),
            P::NoPort => format!("{target:?} has no port: write host:port, {example}"),
            P::NoHost => format!("{target:?} has no host: write host:port, {example}"),
            P::BareIpv6 => {
                format!("{target:?}: an IPv6 address goes in brackets, e.g. [::1]:50051")
            }
            P::BadHost(host) => format!(
                "{target:?}: the host {host:?} is not a host name or address: write host:port, \
             {example}"
            ),
            P::BadPort(port) => format!(
                "{target:?}: the port {port:?} is not a number from 1 to 65535: write host:port, \
             {example}"
            ),
        },
    )
}

/// The name the server certificate must carry: the target's host (IP or DNS name).
fn server_name(target: &str) -> Result<ServerName<'static>, String> {
    let host = target_host(target);
    ServerName::try_from(host.to_string())
        .map_err(|e| format!("'{host}' is not a host name or IP address: {e}"))
}

/// The raw-socket transport of entry `plugin`.
pub fn unix_socket_remote(
    plugin: &str,
    cfg: &UnixSocketClientConfig,
) -> Result<Remote, ClientError> {
    unix_socket_remote_with(plugin, cfg, None, ConnectionStats::new())
}

/// [`unix_socket_remote`] with the entry's `timeout:` (when set) capping `unix_socket.timeout`,
/// so a timed-out call drops its connection instead of being cut by the manager mid-read, and
/// connections and requests counted into `stats`.
pub fn unix_socket_remote_with(
    plugin: &str,
    cfg: &UnixSocketClientConfig,
    entry_timeout: Option<Duration>,
    stats: Arc<ConnectionStats>,
) -> Result<Remote, ClientError> {
    let secs = |key: &str, v: f64| {
        Duration::try_from_secs_f64(v).map_err(|e| {
            let message = format!("key `unix_socket.{key}`: {v} is not a number of seconds >= 0");
            ClientError::config_caused(plugin, message, Cause::Other(Box::new(e)))
        })
    };
    let mut o = RawSocketOptions::new(PathBuf::from(cfg.path.trim()));
    o.reconnect_attempts = u32::try_from(cfg.reconnect_attempts.max(0)).unwrap_or(u32::MAX);
    o.reconnect_delay = secs("reconnect_delay", cfg.reconnect_delay)?;
    o.timeout = secs("timeout", cfg.timeout)?;
    if let Some(t) = entry_timeout {
        o.timeout = o.timeout.min(t);
    }
    Ok(Remote::RawSocket(RawSocketClient::with_stats(
        plugin, o, stats,
    )))
}
