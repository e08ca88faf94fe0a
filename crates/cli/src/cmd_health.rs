//! `plugwire health URL`: ask a plugin server for `GET /health`. `plugwire health --config FILE`:
//! start a gateway config's plugins and say which are loaded (`cmd_health_config`).
//!
//! Works on the main port (https with the gateway's TLS settings, or http) and on the plain
//! port+1000 health server. TLS flags map to `mcp.tls` keys; `PLUGINS_CLIENT_MTLS_*` override them
//! field by field, as for plugin entries. Exit code 0 healthy, 1 unhealthy or unreachable,
//! 2 bad arguments.
//!
//! `grpcs://host:port`, `grpc://host:port` and `grpc+unix:///path` ask the standard
//! `grpc.health.v1.Health/Check` (what Kubernetes gRPC probes ask; plugwire serves it), and,
//! when the server lacks it (upstream's Python servers), the plugin service's own
//! `Health/Check` (package `cpex`, else `mcpgateway.plugins`). The answer names the service
//! that answered. The TLS flags map to `grpc.tls`, `PLUGINS_GRPC_CLIENT_MTLS_*` when none is
//! given; `unix:///path` (the raw socket, which has
//! no health message) makes one `GetPluginConfigs` round trip and prints the plugin names.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use plugwire_client::grpc::HealthService;
use plugwire_client::health::{check_health, describe_for_cli};
use plugwire_client::remote;
use plugwire_client::ClientOptions;
use plugwire_env::Env;
use plugwire_framework::{
    GrpcClientConfig, GrpcClientTLSConfig, GrpcClientTlsKeys, MCPClientTLSConfig, McpClientTlsKeys,
    TlsFiles, UnixSocketClientConfig,
};

/// Ask a plugin server for its health.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Server URL: https://localhost:8000, its MCP URL (…/mcp), the plain http://…:PORT+1000,
    /// grpcs://host:port, grpc://host:port, grpc+unix:///path or unix:///path (raw socket).
    #[arg(value_name = "URL", required_unless_present = "config")]
    url: Option<String>,
    /// Instead of a URL: a gateway plugins YAML. Every enabled plugin is started as the gateway
    /// would start it and reported as loaded or not loaded, with the reason (exit 1 if any is not).
    #[arg(long, value_name = "FILE", conflicts_with = "url")]
    config: Option<PathBuf>,
    /// CA bundle that issued the server certificate (mcp.tls.ca_bundle).
    #[arg(long, value_name = "FILE")]
    ca_bundle: Option<PathBuf>,
    /// Client certificate for mTLS (mcp.tls.certfile).
    #[arg(long, value_name = "FILE")]
    certfile: Option<PathBuf>,
    /// Client private key (mcp.tls.keyfile).
    #[arg(long, value_name = "FILE")]
    keyfile: Option<PathBuf>,
    /// Password of an encrypted client key (mcp.tls.keyfile_password).
    #[arg(long, value_name = "PASSWORD")]
    keyfile_password: Option<String>,
    /// Do not verify the server certificate at all (mcp.tls.verify: false). Testing only.
    #[arg(long)]
    no_verify: bool,
    /// Verify the chain but not the host name (mcp.tls.check_hostname: false).
    #[arg(long)]
    no_check_hostname: bool,
    /// The identity the server certificate must carry, checked instead of the URL's host
    /// (mcp.tls.server_name, grpc.tls.server_name), e.g. localhost when the URL has an IP.
    #[arg(long, value_name = "NAME")]
    server_name: Option<String>,
    /// Connect through this Unix socket instead of TCP (the URL still gives Host and path).
    #[arg(long, value_name = "PATH")]
    uds: Option<String>,
    /// Seconds to wait for the answer.
    #[arg(long, default_value_t = 5.0, value_name = "SECS")]
    timeout: f64,
}

impl Args {
    #[allow(dead_code)]
    pub fn wants_stdio(&self) -> bool {
        false
    }

    fn tls(&self) -> Option<MCPClientTLSConfig> {
        let path = |p: &Option<PathBuf>| p.as_ref().map(|p| p.display().to_string());
        let any = self.ca_bundle.is_some()
            || self.certfile.is_some()
            || self.keyfile.is_some()
            || self.keyfile_password.is_some()
            || self.no_verify
            || self.no_check_hostname
            || self.server_name.is_some();
        any.then(|| MCPClientTLSConfig {
            files: TlsFiles {
                certfile: path(&self.certfile),
                keyfile: path(&self.keyfile),
                ca_bundle: path(&self.ca_bundle),
                keyfile_password: self.keyfile_password.clone(),
                ca_crl: None,
            },
            own: McpClientTlsKeys {
                verify: self.no_verify.then_some(false),
                check_hostname: self.no_check_hostname.then_some(false),
                server_name: self.server_name.clone(),
            },
        })
    }
}

pub fn run(args: Args, env: Arc<dyn Env + Send + Sync>) -> ExitCode {
    let timeout = match crate::seconds_option("--timeout", args.timeout) {
        Ok(timeout) => timeout,
        Err(message) => {
            errln!("plugwire health: {message}");
            return ExitCode::from(2);
        }
    };
    if let Some(config) = &args.config {
        return crate::cmd_health_config::run(config, env, timeout);
    }
    let Some(url) = args.url.as_deref() else {
        errln!("plugwire health: give a server URL or --config FILE");
        return ExitCode::from(2);
    };
    let url = match check_url(url) {
        Ok(url) => url,
        Err(message) => {
            errln!("plugwire health: {message}");
            return ExitCode::from(2);
        }
    };
    let builder = tokio::runtime::Builder::new_current_thread();
    let runtime = match crate::runtime(builder, "health", ExitCode::from(2)) {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    let options = ClientOptions::default();
    // tonic's lazy channel spawns its worker on creation: build it inside the runtime.
    let other = {
        let _guard = runtime.enter();
        other_transport(&args, &url, timeout, &env)
    };
    if let Some(remote) = other {
        return runtime.block_on(check_other(&url, remote));
    }
    let tls = args.tls();
    let outcome = runtime.block_on(check_health(&url, tls, args.uds.clone(), &options, timeout));
    match outcome {
        Ok(report) if report.healthy => {
            outln!("{}", report.body.trim());
            errln!("plugwire health: {} is healthy", report.url);
            ExitCode::SUCCESS
        }
        Ok(report) => {
            outln!("{}", report.body.trim());
            errln!(
                "plugwire health: {} answered HTTP {} without \"status\": \"healthy\"",
                report.url,
                report.status
            );
            ExitCode::from(1)
        }
        Err(e) if e.is_config() => {
            errln!("plugwire health: {}", describe_for_cli(&e));
            ExitCode::from(2)
        }
        Err(e) => {
            errln!("plugwire health: {}", describe_for_cli(&e));
            ExitCode::from(1)
        }
    }
}

/// The URL argument's schemes, for its usage errors.
const SCHEMES: &str = "http:// or https:// (MCP; --uds PATH for its Unix socket), grpc:// or \
                       grpcs:// (gRPC, host:port), grpc+unix:///PATH (gRPC on a Unix socket) or \
                       unix:///PATH (raw socket)";

/// The URL argument with its scheme in lower case, or why no server can be asked at it (a
/// usage error, before any connect): no scheme or an unknown one, a gRPC URL without
/// `host:port`, a socket URL without an absolute path.
fn check_url(url: &str) -> Result<String, String> {
    let url = url.trim();
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(format!(
            "the URL argument {url:?} has no scheme; write one of {SCHEMES}"
        ));
    };
    let scheme = scheme.to_ascii_lowercase();
    let normalized = format!("{scheme}://{rest}");
    match scheme.as_str() {
        "http" | "https" => Ok(normalized),
        "grpc" | "grpcs" => match plugwire_client::remote::target_problem(rest) {
            None => Ok(normalized),
            Some(problem) => Err(format!(
                "the URL argument {url:?} needs host:port after {scheme}:// ({problem})"
            )),
        },
        "grpc+unix" | "unix" if rest.starts_with('/') => Ok(normalized),
        "grpc+unix" | "unix" => Err(format!(
            "the URL argument {url:?} needs an absolute socket path after {scheme}://, e.g. \
             {scheme}:///run/plugins/server.sock"
        )),
        other => Err(format!(
            "the URL argument {url:?} has the unknown scheme {other:?}; accepted: {SCHEMES}"
        )),
    }
}

/// The gRPC or raw-socket transport `url` (checked by [`check_url`]) names, built as a `grpc:` /
/// `unix_socket:` entry would be; `None` for MCP URLs.
fn other_transport(
    args: &Args,
    url: &str,
    timeout: Duration,
    env: &Arc<dyn Env + Send + Sync>,
) -> Option<Result<plugwire_client::Remote, plugwire_client::ClientError>> {
    let tls = args.tls().map(|t| GrpcClientTLSConfig {
        files: t.files,
        own: GrpcClientTlsKeys {
            verify: t.own.verify,
            server_name: t.own.server_name,
        },
    });
    let options = ClientOptions {
        call_timeout: timeout,
        env: Arc::clone(env),
        ..ClientOptions::default()
    };
    let grpc = |target: Option<&str>, uds: Option<&str>, tls| {
        let cfg = GrpcClientConfig {
            target: target.map(str::to_string),
            uds: uds.map(str::to_string),
            tls,
        };
        remote::grpc_remote("health", &cfg, &options)
    };
    if let Some(t) = url.strip_prefix("grpcs://") {
        // TLS even without flags: from PLUGINS_GRPC_CLIENT_MTLS_* when one is set (a `tls`
        // block, even an empty one, hides them, as in an entry), else the system roots, as for
        // an https URL.
        let from_env = plugwire_env::vars::GRPC_CLIENT
            .iter()
            .any(|v| env.get(v).is_some());
        let tls = tls.or_else(|| (!from_env).then(GrpcClientTLSConfig::default));
        return Some(grpc(Some(t), None, tls));
    }
    if let Some(t) = url.strip_prefix("grpc://") {
        return Some(grpc(Some(t), None, None));
    }
    if let Some(p) = url.strip_prefix("grpc+unix://") {
        return Some(grpc(None, Some(p), None));
    }
    let p = url.strip_prefix("unix://")?;
    let cfg = UnixSocketClientConfig {
        path: p.to_string(),
        reconnect_attempts: 0,
        reconnect_delay: 0.1,
        timeout: timeout.as_secs_f64(),
    };
    Some(remote::unix_socket_remote("health", &cfg))
}

async fn check_other(
    url: &str,
    remote: Result<plugwire_client::Remote, plugwire_client::ClientError>,
) -> ExitCode {
    use plugwire_client::Remote;
    let remote = match remote {
        Ok(r) => r,
        Err(e) => {
            errln!("plugwire health: {}", describe_for_cli(&e));
            return ExitCode::from(2);
        }
    };
    let outcome = match &remote {
        Remote::Grpc(g) => g.health_check().await.map(|(service, ok)| {
            let status = if ok { "SERVING" } else { "NOT_SERVING" };
            let mut report = serde_json::json!({"status": status, "service": service.name()});
            if let HealthService::Upstream(era) = service {
                report["package"] = era.package().into();
            }
            outln!("{report}");
            ok
        }),
        Remote::RawSocket(_) => remote.plugin_names("health").await.map(|names| {
            outln!(
                "{}",
                serde_json::json!({"status": "healthy", "plugins": names})
            );
            true
        }),
        Remote::Mcp(_) => Ok(false),
    };
    match outcome {
        Ok(true) => {
            errln!("plugwire health: {url} is healthy");
            ExitCode::SUCCESS
        }
        Ok(false) => {
            errln!("plugwire health: {url} is not serving");
            ExitCode::from(1)
        }
        Err(e) => {
            errln!("plugwire health: {}", describe_for_cli(&e));
            ExitCode::from(1)
        }
    }
}
