//! `plugwire serve`: host the plugins of a YAML file for a gateway, over MCP Streamable HTTP
//! (plain, TLS or mTLS), a Unix socket, or stdio. The work is in `plugwire-server`; this file
//! is the command line: arguments, config loading, signals, exit codes.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use plugwire_framework::{resolve_config_path, Config, ConfigSide, PluginRegistry};
use plugwire_server::serve::{self, ServeOptions};
use plugwire_server::{Backend, ManagerBackend, ServerError};
use plugwire_tls::{Env, ProcessEnv};

/// `plugwire serve` arguments. Everything else comes from the YAML's `server_settings` and the
/// `PLUGINS_SERVER_*` variables (the variables win, field by field).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Plugins YAML to serve [default: $PLUGINS_CONFIG_PATH, else ./resources/plugins/config.yaml].
    #[arg(long, short = 'c', value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Speak newline-delimited JSON-RPC on stdin/stdout instead of HTTP (for gateways that
    /// launch the plugin server as a child process). Same as PLUGINS_TRANSPORT=stdio.
    #[arg(long)]
    pub stdio: bool,
    /// Largest accepted request body in bytes [default: $PLUGINS_SERVER_MAX_BODY_BYTES, else 16777216].
    #[arg(long, value_name = "BYTES")]
    pub max_body_bytes: Option<u64>,
    /// Also accept this Host header (repeatable; `name`, `name:port` or `name:*`)
    /// [default: $PLUGINS_SERVER_ALLOWED_HOSTS, comma-separated].
    #[arg(long = "allowed-host", value_name = "HOST")]
    pub allowed_hosts: Vec<String>,
}

impl Args {
    /// Whether this run speaks stdio (main.rs keeps every log line off stdout then).
    pub fn wants_stdio(&self) -> bool {
        serve::wants_stdio(self.stdio, &ProcessEnv)
    }
}

/// Runs the server until SIGTERM/SIGINT (or stdin EOF in stdio mode). Exit code 0 after a
/// clean drain, 1 when start-up fails (the message names the file, key or variable).
pub fn run(args: Args) -> ExitCode {
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
    match runtime.block_on(serve_main(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("plugwire serve: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn serve_main(args: Args) -> Result<(), ServerError> {
    let env = ProcessEnv;
    let env_fn = |name: &str| env.var(name);
    let stdio = args.wants_stdio();
    let path = resolve_config_path(args.config.as_deref(), ConfigSide::Server, &env_fn);
    let config = Config::load(&path, &env_fn)?;
    let opts = ServeOptions::resolve(&env, args.max_body_bytes, &args.allowed_hosts)?;

    let mut registry = PluginRegistry::new();
    plugwire_plugins::register_builtins(&mut registry);

    if stdio {
        let manager = plugwire_server::build_manager(config, &registry, &env_fn)?;
        let manager = plugwire_server::initialize_manager(manager).await?;
        let backend: Arc<dyn Backend> = Arc::new(ManagerBackend::new(Arc::clone(&manager)));
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

    let prepared = serve::prepare(config.server_settings.as_ref(), &env)?;
    let manager = plugwire_server::build_manager(config, &registry, &env_fn)?;
    let bound = serve::bind(&prepared)?;
    let manager = plugwire_server::initialize_manager(manager).await?;
    let backend: Arc<dyn Backend> = Arc::new(ManagerBackend::new(Arc::clone(&manager)));
    tracing::info!(
        config = %path.display(),
        plugins = %manager.plugin_names().join(", "),
        "{}",
        bound.describe()
    );
    bound.serve(backend, &opts, shutdown_signal()).await;
    manager.shutdown().await;
    tracing::info!("stopped");
    Ok(())
}

/// Completes on SIGTERM or SIGINT; SIGHUP is logged and ignored.
async fn shutdown_signal() {
    plugwire_server::signals::shutdown_signal().await
}
