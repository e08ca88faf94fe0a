//! `plugwire health URL`: ask a plugin server for `GET /health`.
//!
//! Works on the main port (https with the gateway's TLS settings, or http) and on the plain
//! port+1000 health server. TLS flags map to `mcp.tls` keys; `PLUGINS_CLIENT_MTLS_*` override them
//! field by field, as for plugin entries. Exit code 0 healthy, 1 unhealthy or unreachable,
//! 2 bad arguments.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use plugwire_client::health::{check_health, describe_for_cli};
use plugwire_client::ClientOptions;
use plugwire_framework::MCPClientTLSConfig;

/// Ask a plugin server for its health.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Server URL: https://localhost:8000, its MCP URL (…/mcp), or the plain http://…:PORT+1000.
    #[arg(value_name = "URL")]
    url: String,
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
            || self.no_check_hostname;
        any.then(|| MCPClientTLSConfig {
            certfile: path(&self.certfile),
            keyfile: path(&self.keyfile),
            ca_bundle: path(&self.ca_bundle),
            keyfile_password: self.keyfile_password.clone(),
            verify: self.no_verify.then_some(false),
            check_hostname: self.no_check_hostname.then_some(false),
        })
    }
}

pub fn run(args: Args) -> ExitCode {
    if !(args.timeout.is_finite() && args.timeout > 0.0) {
        eprintln!("plugwire health: --timeout must be a positive number of seconds");
        return ExitCode::from(2);
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("plugwire health: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let options = ClientOptions::default();
    let timeout = Duration::from_secs_f64(args.timeout);
    let tls = args.tls();
    let outcome = runtime.block_on(check_health(
        &args.url,
        tls,
        args.uds.clone(),
        &options,
        timeout,
    ));
    match outcome {
        Ok(report) if report.healthy => {
            println!("{}", report.body.trim());
            eprintln!("plugwire health: {} is healthy", report.url);
            ExitCode::SUCCESS
        }
        Ok(report) => {
            println!("{}", report.body.trim());
            eprintln!(
                "plugwire health: {} answered HTTP {} without \"status\": \"healthy\"",
                report.url, report.status
            );
            ExitCode::from(1)
        }
        Err(e @ plugwire_client::ClientError::Config { .. }) => {
            eprintln!("plugwire health: {}", describe_for_cli(&e));
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("plugwire health: {}", describe_for_cli(&e));
            ExitCode::from(1)
        }
    }
}
