//! `plugwire serve`: host the plugins of a YAML file for a gateway, over MCP Streamable HTTP
//! (plain, TLS or mTLS), a Unix socket, or stdio; gRPC and the raw Unix socket alongside. The
//! work is in `plugwire-server`; this file is the command line: arguments, config loading,
//! signals (SIGHUP reloads, `plugwire_server::reload`), exit codes.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use plugwire_env::Env;
use plugwire_framework::{resolve_config_path, Config, ConfigSide, PluginManager, PluginRegistry};
use plugwire_server::reload::{BindView, ConfigReloader, SwappableBackend};
use plugwire_server::serve::{self, ServeOptions};
use plugwire_server::transport::{
    resolve_grpc_server_settings, resolve_transports, resolve_unix_socket_settings, Transport,
    Transports,
};
use plugwire_server::{resolve_server_settings, Backend, ManagerBackend, ServerError};
use plugwire_tls::{ReloadableServerConfig, ServerTlsSettings};
use tokio::sync::mpsc;

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
    /// Reload the plugins YAML as soon as the file changes (SIGHUP always reloads it, with
    /// the certificates). A file that does not load is logged and the running config kept.
    #[arg(long)]
    pub watch_config: bool,
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

type SharedEnv = Arc<dyn Env + Send + Sync>;

/// Runs the server until SIGTERM/SIGINT (or stdin EOF in stdio mode). Exit code 0 after a
/// clean drain, 1 when start-up fails (the message names the file, key or variable).
pub fn run(args: Args, env: SharedEnv) -> ExitCode {
    let builder = tokio::runtime::Builder::new_multi_thread();
    let runtime = match crate::runtime(builder, "serve", ExitCode::FAILURE) {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    // Stops with the runtime, when `run` returns.
    runtime.spawn(crate::alloc::return_freed_memory());
    let result = runtime.block_on(serve_main(args, env));
    // Everything the server had to do is done: calls answered (or abandoned after the drain
    // timeout), answers flushed, listeners closed, plugins shut down. What may be left is a
    // blocking read of stdin (stdio mode) that nothing can cancel while a gateway holds the
    // pipe open; dropping the runtime would wait for it, so it is not waited for.
    runtime.shutdown_background();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            errln!("plugwire serve: {e}");
            ExitCode::FAILURE
        }
    }
}

/// One future fanned out: every transport (and the reloader) stops on the same signal.
fn fan_out(
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> impl Fn() -> std::pin::Pin<Box<dyn Future<Output = ()> + Send>> + Clone {
    let (tx, rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = tx.send(true);
    });
    move || {
        let mut rx = rx.clone();
        Box::pin(async move {
            let _ = rx.wait_for(|v| *v).await;
        })
    }
}

/// What a reload needs besides the backend.
struct ReloadParts {
    path: PathBuf,
    env: SharedEnv,
    registry: Arc<PluginRegistry>,
    transports: Transports,
    bound: BindView,
    tls: Vec<Arc<ReloadableServerConfig>>,
}

impl ReloadParts {
    fn start(
        self,
        backend: Arc<SwappableBackend>,
        signals: mpsc::Receiver<()>,
        watch_config: bool,
        stop: impl Future<Output = ()> + Send + 'static,
    ) {
        let ReloadParts {
            path,
            env,
            registry,
            transports,
            bound,
            tls,
        } = self;
        let view_env = Arc::clone(&env);
        let reloader = ConfigReloader::new(
            path,
            env,
            registry,
            backend,
            Box::new(move |cfg| bind_view(cfg, &transports, &*view_env)),
            bound,
            tls,
        );
        tokio::spawn(Arc::new(reloader).run(signals, watch_config, stop));
    }
}

async fn serve_main(args: Args, env: SharedEnv) -> Result<(), ServerError> {
    // main.rs decided ENABLE_METRICS before logging existed; a value that turned metrics off
    // without saying "false" is reported now, first, so a failed start-up shows it too.
    if let Some(warning) = plugwire_metrics::env::unrecognised_value(&*env) {
        tracing::warn!("{warning}");
    }
    let transports = args.transports(&*env)?;
    // Installed before anything is bound: a SIGTERM sent as soon as the socket appears is a
    // drain, never the default "killed by signal 15"; a SIGHUP is never a kill.
    let (shutdown, reload_requests) = plugwire_server::signals::install();
    let path = resolve_config_path(args.config.as_deref(), ConfigSide::Server, &*env);
    let config = Config::load(&path, &*env)?;
    let opts = ServeOptions::resolve_with(
        config.server_settings.as_ref(),
        &*env,
        args.max_body_bytes,
        &args.allowed_hosts,
    )?;

    let mut registry = PluginRegistry::new();
    plugwire_plugins::register_builtins(&mut registry);
    let registry = Arc::new(registry);
    let parts = ReloadParts {
        path,
        bound: bind_view(&config, &transports, &*env)?,
        env,
        registry,
        transports,
        tls: Vec::new(),
    };
    let start = Startup {
        config,
        opts,
        parts,
        reload_requests,
        watch_config: args.watch_config,
    };
    if start.parts.transports.is_stdio() {
        serve_stdio_mode(start, shutdown).await
    } else {
        serve_listeners(start, shutdown).await
    }
}

/// What serving starts from once the config is loaded and the options resolved.
struct Startup {
    config: Config,
    opts: ServeOptions,
    parts: ReloadParts,
    reload_requests: mpsc::Receiver<()>,
    watch_config: bool,
}

/// One manager behind one metered backend for every transport: a hook gives the same answer
/// (and the same metrics) whichever way it arrives; a reload swaps it for all of them.
fn shared_backend(manager: Arc<PluginManager>) -> (Arc<SwappableBackend>, Arc<dyn Backend>) {
    let swappable = Arc::new(SwappableBackend::new(ManagerBackend::new(manager)));
    let backend = plugwire_server::observe::metered_arc(swappable.clone() as Arc<dyn Backend>);
    (swappable, backend)
}

/// `--stdio`: newline-delimited JSON-RPC on stdin/stdout until EOF or a stop signal. After a
/// signal the process exits once the calls in flight are answered, even while stdin stays
/// open (see [`run`]).
async fn serve_stdio_mode(
    start: Startup,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let Startup {
        config,
        opts,
        parts,
        reload_requests,
        watch_config,
    } = start;
    let manager = plugwire_server::build_manager(config, &parts.registry, &*parts.env)?;
    let manager = plugwire_server::initialize_manager(manager).await?;
    let plugins = manager.plugin_names().join(", ");
    let (swappable, backend) = shared_backend(manager);
    plugwire_server::observe::server_started("stdio", None);
    tracing::info!(config = %parts.path.display(), %plugins, "serving MCP on stdin/stdout (stdio transport)");
    let stop = fan_out(shutdown);
    parts.start(
        Arc::clone(&swappable),
        reload_requests,
        watch_config,
        stop(),
    );
    let result = plugwire_server::serve_stdio(
        backend,
        tokio::io::stdin(),
        tokio::io::stdout(),
        opts.max_body_bytes,
        opts.limits.drain_timeout,
        stop(),
    )
    .await
    .map_err(ServerError::Stdio);
    swappable.current().manager().shutdown().await;
    if result.is_ok() {
        tracing::info!("stopped");
    }
    result
}

/// HTTP, gRPC and the raw Unix socket: check every listener, bind them all, then serve them
/// until a stop signal has drained them.
async fn serve_listeners(
    start: Startup,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let Startup {
        config,
        opts,
        mut parts,
        reload_requests,
        watch_config,
    } = start;
    let env = Arc::clone(&parts.env);
    // Check phase: every setting resolved, every host resolved, every TLS file read, and the
    // listeners' addresses checked against each other and the socket paths against the disk,
    // before anything is bound; a bad setting of any transport stops start-up with nothing
    // listening and nothing created.
    let http = if parts.transports.contains(Transport::Http) {
        Some(serve::prepare(config.server_settings.as_ref(), &*env)?)
    } else {
        None
    };
    let extra = serve_extra::prepare(
        config.grpc_server_settings.as_ref(),
        config.unix_socket_server_settings.as_ref(),
        &parts.transports,
        &*env,
    )?;
    let claims: Vec<_> = http
        .iter()
        .flat_map(serve::Prepared::claims)
        .chain(extra.claims())
        .collect();
    serve::check_listeners(&claims)?;
    parts.tls = http
        .as_ref()
        .and_then(|p| p.reloadable_tls())
        .into_iter()
        .chain(extra.reloadable_tls())
        .collect();
    let manager = plugwire_server::build_manager(config, &parts.registry, &*env)?;
    // Bind phase. A bind that fails (a port another process holds, a directory this process
    // may not write to), or a plugin that fails to initialize, returns with the listeners bound
    // so far dropped: each removes the socket file it created, and none has accepted anything.
    let bound_http = http.as_ref().map(serve::bind).transpose()?;
    let bound_extra = extra.bind()?;
    let manager = plugwire_server::initialize_manager(manager).await?;
    let plugins = manager.plugin_names().join(", ");
    let (swappable, backend) = shared_backend(manager);
    announce_started(&parts.transports, http.as_ref());
    let mut listening: Vec<String> = bound_http.iter().map(|b| b.describe()).collect();
    listening.extend(bound_extra.describe());
    tracing::info!(config = %parts.path.display(), %plugins, "{}", listening.join("; "));

    let stop = fan_out(shutdown);
    parts.start(
        Arc::clone(&swappable),
        reload_requests,
        watch_config,
        stop(),
    );
    let http_task = async {
        if let Some(b) = bound_http {
            b.serve(Arc::clone(&backend), &opts, stop()).await;
        }
    };
    let extra_task = bound_extra.serve(Arc::clone(&backend), &opts, &stop);
    tokio::join!(http_task, extra_task);
    swappable.current().manager().shutdown().await;
    tracing::info!("stopped");
    Ok(())
}

/// The `plugin_info` start-up metric of each transport (only HTTP carries TLS settings here).
fn announce_started(transports: &Transports, http: Option<&serve::Prepared>) {
    for t in &transports.list {
        let tls = match t {
            Transport::Http => http.and_then(|p| p.settings.tls.as_ref()),
            _ => None,
        };
        plugwire_server::observe::server_started(t.name(), tls);
    }
}

/// The settings of `config` that a reload cannot apply (the sockets stay bound), resolved as
/// start-up resolves them, for the transports in use. An error here fails a reload: the file
/// would not start the server.
fn bind_view(
    config: &Config,
    transports: &Transports,
    env: &dyn Env,
) -> Result<BindView, ServerError> {
    let mut view = BindView::new();
    let mut put = |key: &str, value: String| view.push((key.to_string(), value));
    let uds = |p: Option<&Path>| p.map(|p| p.display().to_string()).unwrap_or_default();
    if transports.contains(Transport::Http) {
        let layer = config.server_settings.as_ref().map(serve::settings_layer);
        let s = resolve_server_settings(layer.as_ref(), env)?;
        put("server_settings.host", s.host);
        put("server_settings.port", s.port.to_string());
        put("server_settings.uds", uds(s.uds.as_deref()));
        put("server_settings.tls", tls_view(s.tls.as_ref()));
    }
    if transports.contains(Transport::Grpc) {
        let layer = config
            .grpc_server_settings
            .as_ref()
            .map(serve_extra::grpc_layer);
        let s = resolve_grpc_server_settings(layer.as_ref(), env)?;
        put("grpc_server_settings.host", s.endpoint.host.value);
        put(
            "grpc_server_settings.port",
            s.endpoint.port.value.to_string(),
        );
        put(
            "grpc_server_settings.uds",
            uds(s.endpoint.uds.as_ref().map(|u| u.value.as_path())),
        );
        put("grpc_server_settings.tls", tls_view(s.tls.as_ref()));
    }
    if transports.contains(Transport::Unix) {
        let layer = config
            .unix_socket_server_settings
            .as_ref()
            .map(serve_extra::unix_layer);
        let s = resolve_unix_socket_settings(layer.as_ref(), env)?;
        put(
            "unix_socket_server_settings.path",
            s.path.value.display().to_string(),
        );
    }
    // The listeners take the limits at start-up too.
    view.extend(plugwire_server::reload::limits_view(config, env)?);
    Ok(view)
}

/// The TLS block as a comparable value: the files and policy a listener was built from. A
/// reload re-reads the same files; other files need a restart. Compared, never logged.
fn tls_view(tls: Option<&ServerTlsSettings>) -> String {
    format!(
        "{:?}",
        tls.map(|t| (
            &t.certfile,
            &t.keyfile,
            &t.ca_bundle,
            &t.keyfile_password,
            t.client_auth,
            t.require_valid_certificate
        ))
    )
}
