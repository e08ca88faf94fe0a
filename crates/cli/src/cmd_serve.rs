//! `plugwire serve`: host the plugins of a YAML file for a gateway, over MCP Streamable HTTP
//! (plain, TLS or mTLS), a Unix socket, or stdio; gRPC and the raw Unix socket alongside. The work is in `plugwire-server`; this file
//! is the command line: arguments, config loading, signals, exit codes.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use plugwire_env::Env;
use plugwire_framework::{resolve_config_path, Config, ConfigSide, PluginRegistry};
use plugwire_server::serve::{self, ServeOptions};
use plugwire_server::transport::{resolve_transports, Transport, Transports};
use plugwire_server::{ManagerBackend, ServerError};

use crate::serve_extra;

/// `plugwire serve` arguments. Everything else comes from the YAML's `server_settings` and the
/// `PLUGINS_SERVER_*` variables (the variables win, field by field).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Plugins YAML to serve [default: $PLUGINS_CONFIG_PATH, else ./resources/plugins/config.yaml].
    #[arg(long, short = 'c', value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Speak newline-delimited JSON-RPC on stdin/stdout instead of HTTP (for gateways that
    /// launch the plugin server as a child process). Same as --transport stdio.
    #[arg(long)]
    pub stdio: bool,
    /// Transports to serve: http, stdio, grpc, unix, or a comma list such as http,grpc
    /// [default: $PLUGINS_TRANSPORT, else http].
    #[arg(long, value_name = "LIST")]
    pub transport: Option<String>,
    /// Largest accepted request body in bytes [default: $PLUGINS_SERVER_MAX_BODY_BYTES, else 16777216].
    #[arg(long, value_name = "BYTES")]
    pub max_body_bytes: Option<u64>,
    /// Also accept this Host header (repeatable; `name`, `name:port` or `name:*`)
    /// [default: $PLUGINS_SERVER_ALLOWED_HOSTS, comma-separated].
    #[arg(long = "allowed-host", value_name = "HOST")]
    pub allowed_hosts: Vec<String>,
}

impl Args {
    /// Whether this run speaks stdio (main.rs keeps every log line off stdout then). A bad
    /// transport setting is reported by [`run`]; here it only means "not stdio".
    pub fn wants_stdio(&self, env: &dyn Env) -> bool {
        self.transports(env).is_ok_and(|t| t.is_stdio())
    }

    fn transports(&self, env: &dyn Env) -> Result<Transports, ServerError> {
        resolve_transports(self.stdio, self.transport.as_deref(), env)
    }
}

/// Runs the server until SIGTERM/SIGINT (or stdin EOF in stdio mode). Exit code 0 after a
/// clean drain, 1 when start-up fails (the message names the file, key or variable).
pub fn run(args: Args, env: &dyn Env) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("plugwire serve: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve_main(args, env)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("plugwire serve: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn serve_main(args: Args, env: &dyn Env) -> Result<(), ServerError> {
    let env_fn = |name: &str| env.var(name);
    let transports = args.transports(env)?;
    let stdio = transports.is_stdio();
    let path = resolve_config_path(args.config.as_deref(), ConfigSide::Server, &env_fn);
    let config = Config::load(&path, &env_fn)?;
    let opts = ServeOptions::resolve_with(
        config.server_settings.as_ref(),
        env,
        args.max_body_bytes,
        &args.allowed_hosts,
    )?;

    let mut registry = PluginRegistry::new();
    plugwire_plugins::register_builtins(&mut registry);

    if stdio {
        let manager = plugwire_server::build_manager(config, &registry, &env_fn)?;
        let manager = plugwire_server::initialize_manager(manager).await?;
        let backend = plugwire_server::observe::metered(ManagerBackend::new(Arc::clone(&manager)));
        plugwire_server::observe::server_started("stdio", None);
        tracing::info!(
            config = %path.display(),
            plugins = %manager.plugin_names().join(", "),
            "serving MCP on stdin/stdout (stdio transport)"
        );
        let result = plugwire_server::serve_stdio(
            backend,
            tokio::io::stdin(),
            tokio::io::stdout(),
            opts.max_body_bytes,
            opts.limits.drain_timeout,
            shutdown_signal(),
        )
        .await
        .map_err(ServerError::Stdio);
        manager.shutdown().await;
        return result;
    }

    // Everything is resolved and every TLS file read before anything is bound, so a bad
    // setting of any transport stops start-up with nothing listening.
    let shutdown = shutdown_signal();
    let http = if transports.contains(Transport::Http) {
        Some(serve::prepare(config.server_settings.as_ref(), env)?)
    } else {
        None
    };
    let extra = serve_extra::prepare(
        config.grpc_server_settings.as_ref(),
        config.unix_socket_server_settings.as_ref(),
        &transports,
        env,
    )?;
    let manager = plugwire_server::build_manager(config, &registry, &env_fn)?;
    let bound_http = http.as_ref().map(serve::bind).transpose()?;
    let bound_extra = extra.bind()?;
    let manager = plugwire_server::initialize_manager(manager).await?;
    // One manager and one metered backend for every transport: a hook gives the same answer
    // (and the same metrics) whichever way it arrives.
    let backend = plugwire_server::observe::metered(ManagerBackend::new(Arc::clone(&manager)));
    for t in &transports.list {
        let tls = match t {
            Transport::Http => http.as_ref().and_then(|p| p.settings.tls.as_ref()),
            _ => None,
        };
        plugwire_server::observe::server_started(t.name(), tls);
    }
    let mut listening: Vec<String> = bound_http.iter().map(|b| b.describe()).collect();
    listening.extend(bound_extra.describe());
    tracing::info!(
        config = %path.display(),
        plugins = %manager.plugin_names().join(", "),
        "{}",
        listening.join("; ")
    );

    // One signal future, fanned out: every transport stops on the same SIGTERM/SIGINT.
    let (tx, rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = tx.send(true);
    });
    let stop = move || {
        let mut rx = rx.clone();
        async move {
            let _ = rx.wait_for(|v| *v).await;
        }
    };
    let http_task = async {
        if let Some(b) = bound_http {
            b.serve(Arc::clone(&backend), &opts, stop()).await;
        }
    };
    tokio::join!(http_task, bound_extra.serve(Arc::clone(&backend), &stop));
    manager.shutdown().await;
    tracing::info!("stopped");
    Ok(())
}

/// Completes on SIGTERM or SIGINT; SIGHUP is logged and ignored. The future is created (and
/// so its handlers installed on the runtime) before the sockets are bound: a SIGTERM sent as soon
/// as the socket appears is a drain, never the default "killed by signal 15".
fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    plugwire_server::signals::shutdown_signal()
}
