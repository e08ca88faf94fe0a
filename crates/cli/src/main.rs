//! `plugwire`: certificates, an external plugin server and a gateway-side client for
//! ContextForge-compatible MCP plugins, secured by mutual TLS.
//!
//! Each subcommand lives in its own module; `main` only parses arguments, sets up logging,
//! installs the one crypto provider (aws-lc-rs), and creates the one [`ProcessEnv`]: the only
//! place that touches the process environment. Every other module takes a `&dyn Env`.
//!
//! Every subcommand writes its own output through `outln!`/`out!` (stdout) and `errln!`/`err!`
//! (stderr), never `println!`/`eprintln!`, which panic when the stream is gone
//! (`plugwire … | head -1`): see the `output` module.

/// Like `print!`, through `output::stdout`: a closed stdout stops the output, never panics.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::output::stdout(format_args!($($arg)*))
    };
}

/// Like `println!`, through `output::stdout`: a closed stdout stops the output, never panics.
macro_rules! outln {
    () => {
        $crate::output::stdout(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::output::stdout(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// Like `eprint!`, through `output::stderr`: a closed stderr is ignored, never a panic.
macro_rules! err {
    ($($arg:tt)*) => {
        $crate::output::stderr(format_args!($($arg)*))
    };
}

/// Like `eprintln!`, through `output::stderr`: a closed stderr is ignored, never a panic.
macro_rules! errln {
    ($($arg:tt)*) => {
        $crate::output::stderr(format_args!("{}\n", format_args!($($arg)*)))
    };
}

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

/// The standard streams of the subcommands, which must not panic when a reader goes away.
///
/// Decision for a closed stdout (`plugwire health URL | true`, `plugwire call … | head -c1`,
/// `| grep -q`): the write error `BrokenPipe` ends the output quietly (no message: the reader
/// chose to stop), later writes are skipped, and the command finishes with its normal exit code
/// (health's verdict, call's 0/1/3). Not 141: the code was decided by the work, not by the
/// reader, and `set -o pipefail` scripts that stop reading early (`| grep -q`, `| head -1`)
/// must not see a failure that did not happen. Rust ignores SIGPIPE, so the writes see the
/// error instead of the process being killed; no `unsafe` signal handling is needed.
///
/// Any other write error on stdout (`> /dev/full`, EIO) means output was lost: it is named once
/// on stderr and a command that would have exited 0 exits 1 (`exit_code`).
///
/// stderr: a failed write (closed pipe, `2>&-`) is ignored; there is nowhere left to report it.
/// The logger writes to stderr the same way (`logging::init`).
mod output {
    use std::fmt;
    use std::io::{ErrorKind, Write};
    use std::process::ExitCode;
    use std::sync::atomic::{AtomicBool, Ordering};

    /// stdout failed once: nothing more is written to it.
    static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);
    /// stdout failed with something other than a closed reader: the output was lost.
    static STDOUT_LOST: AtomicBool = AtomicBool::new(false);

    /// Writes `text` to stdout and flushes it, so a failure is seen here and not lost at exit.
    pub fn stdout(text: fmt::Arguments<'_>) {
        if STDOUT_CLOSED.load(Ordering::Relaxed) {
            return;
        }
        let mut out = std::io::stdout().lock();
        let Err(e) = out.write_fmt(text).and_then(|()| out.flush()) else {
            return;
        };
        STDOUT_CLOSED.store(true, Ordering::Relaxed);
        if e.kind() != ErrorKind::BrokenPipe {
            STDOUT_LOST.store(true, Ordering::Relaxed);
            stderr(format_args!("plugwire: cannot write to stdout: {e}\n"));
        }
    }

    /// Writes `text` to stderr; an error is ignored (stderr is where it would be reported).
    pub fn stderr(text: fmt::Arguments<'_>) {
        let _ = std::io::stderr().lock().write_fmt(text);
    }

    /// The process exit code for a command that returned `code`: 1 instead of success when its
    /// stdout output was lost to an error other than a closed reader.
    pub fn exit_code(code: ExitCode) -> ExitCode {
        if code == ExitCode::SUCCESS && STDOUT_LOST.load(Ordering::Relaxed) {
            ExitCode::FAILURE
        } else {
            code
        }
    }
}

/// A float-seconds option (`--timeout`) as a [`Duration`](std::time::Duration), or the usage
/// error naming `option` and the accepted range: above 0 (after rounding to nanoseconds) and at
/// most one day, as the server's seconds settings. NaN, infinities, 0, negatives and values too
/// large for a `Duration` are all refused here, never panicking in `from_secs_f64`.
fn seconds_option(option: &str, value: f64) -> Result<std::time::Duration, String> {
    const MAX_SECS: f64 = 86_400.0;
    match std::time::Duration::try_from_secs_f64(value) {
        Ok(d) if value <= MAX_SECS && !d.is_zero() => Ok(d),
        _ => Err(format!(
            "{option} {value:?}: expected a number of seconds above 0 and at most {MAX_SECS} \
             (one day), e.g. 30 or 0.5"
        )),
    }
}

/// The async runtime of `plugwire COMMAND`, every driver enabled. When it cannot start, the
/// reason goes to stderr and the error is the command's start-up exit code.
fn runtime(
    mut builder: tokio::runtime::Builder,
    command: &str,
    failure: ExitCode,
) -> Result<tokio::runtime::Runtime, ExitCode> {
    builder.enable_all().build().map_err(|e| {
        errln!("plugwire {command}: cannot start the async runtime: {e}");
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
    let code = match cli.command {
        Command::Certs(args) => cmd_certs::run(args),
        Command::Serve(args) => cmd_serve::run(args, Arc::clone(&env)),
        Command::Call(args) => cmd_call::run(args, env),
        Command::Health(args) => cmd_health::run(args, env),
    };
    output::exit_code(code)
}
