//! `plugwire`: certificates, an external plugin server and a gateway-side client for
//! ContextForge-compatible MCP plugins, secured by mutual TLS.
//!
//! Each subcommand lives in its own module; `main` only parses arguments, sets up logging,
//! installs the one crypto provider (aws-lc-rs), and creates the one [`ProcessEnv`]: the only
//! place that touches the process environment. Every other module takes a `&dyn Env`.

mod alloc;
mod cmd_call;
mod cmd_certs;
mod cmd_health;
mod cmd_health_config;
mod cmd_serve;
mod logging;
mod serve_extra;

use std::process::ExitCode;

use std::sync::Arc;

use plugwire_env::{Env, ProcessEnv};

/// mimalloc instead of glibc malloc: the server allocates per request on one worker thread and
/// frees on another, which made glibc's arena locks the largest cost under load (perf, see
/// docs/benchmarks.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "plugwire",
    version,
    about = "mTLS external plugins for MCP gateways (ContextForge-compatible)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    log: logging::LogArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create and check the mTLS certificates under certs/mcp (CA, gateway, plugins).
    Certs(cmd_certs::Args),
    /// Serve the plugins of a config file over MCP (Streamable HTTP, TLS/mTLS, Unix socket or stdio).
    Serve(cmd_serve::Args),
    /// Run a hook through the plugins of a gateway-side config and print the result.
    Call(cmd_call::Args),
    /// Ask a plugin server for its health.
    Health(cmd_health::Args),
}

/// The async runtime of `plugwire COMMAND`, every driver enabled. When it cannot start, the
/// reason goes to stderr and the error is the command's start-up exit code.
fn runtime(
    mut builder: tokio::runtime::Builder,
    command: &str,
    failure: ExitCode,
) -> Result<tokio::runtime::Runtime, ExitCode> {
    builder.enable_all().build().map_err(|e| {
        eprintln!("plugwire {command}: cannot start the async runtime: {e}");
        failure
    })
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if matches!(cli.command, Command::Serve(_)) {
        alloc::set_purge_delay(&ProcessEnv);
    }
    // aws-lc-rs is the only provider compiled in; installing it makes every rustls config agree.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let env: Arc<dyn Env + Send + Sync> = Arc::new(ProcessEnv);
    // Before anything records: `ENABLE_METRICS` is decided once, from this one environment.
    plugwire_metrics::env::init(&*env);
    let stdio_mode = matches!(&cli.command, Command::Serve(args) if args.wants_stdio(&*env));
    logging::init(&*env, stdio_mode, &cli.log);
    match cli.command {
        Command::Certs(args) => cmd_certs::run(args),
        Command::Serve(args) => cmd_serve::run(args, Arc::clone(&env)),
        Command::Call(args) => cmd_call::run(args, env),
        Command::Health(args) => cmd_health::run(args, env),
    }
}
