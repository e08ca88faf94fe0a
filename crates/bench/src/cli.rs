//! Command line of the `plugwire-bench` binary.

use std::net::ToSocketAddrs;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};

use crate::error::{BenchError, Result};
use crate::load::{LoadSpec, Target};
use crate::payload::RequestTemplate;
use crate::tlsfiles::Identity;

#[derive(Debug, Parser)]
#[command(
    name = "plugwire-bench",
    about = "plugwire benchmarks (see docs/benchmarks.md)"
)]
struct Cli {
    /// Tokio worker threads of this process (load generator side).
    #[arg(long, global = true, default_value_t = 2)]
    threads: usize,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// The whole benchmark; writes the report (docs/benchmarks.md).
    Run(Box<crate::args::SuiteArgs>),
    /// Rewrite the report from the JSON a `run` saved (same measurements, current findings.md).
    Render(crate::args::RenderArgs),
    /// One measurement: `tools/call invoke_hook` against URL, result as JSON on stdout.
    Load(LoadArgs),
    /// The limit server: mTLS HTTP/1.1, fixed JSON answer. Prints `port N`, runs until killed
    /// or stdin closes.
    LimitServer(LimitArgs),
    /// ECDSA P-256 test material (CA, gateway, one plugin) in the `plugwire certs all` layout.
    GenCerts(GenCertsArgs),
}

#[derive(Debug, clap::Args)]
struct GenCertsArgs {
    #[arg(long)]
    dir: PathBuf,
    #[arg(long, default_value = "bench-plugin")]
    plugin: String,
}

#[derive(Debug, clap::Args)]
struct TlsArgs {
    /// CA bundle that signs the peer.
    #[arg(long)]
    ca: PathBuf,
    /// Our certificate.
    #[arg(long)]
    cert: PathBuf,
    /// Our key.
    #[arg(long)]
    key: PathBuf,
}

impl TlsArgs {
    fn identity(&self) -> Identity {
        Identity {
            ca: self.ca.clone(),
            cert: self.cert.clone(),
            key: self.key.clone(),
        }
    }
}

#[derive(Debug, clap::Args)]
struct LoadArgs {
    /// https://HOST:PORT/PATH of the MCP endpoint.
    #[arg(long)]
    url: String,
    #[command(flatten)]
    tls: TlsArgs,
    #[arg(short = 'c', long, default_value_t = 16)]
    concurrency: usize,
    #[arg(long, default_value_t = 1000)]
    calls: usize,
    /// A new connection (TLS handshake) for every call.
    #[arg(long)]
    new_connection_per_call: bool,
    /// Server pid, to report its CPU per call.
    #[arg(long)]
    server_pid: Option<u32>,
}

#[derive(Debug, clap::Args)]
struct LimitArgs {
    #[arg(long, default_value_t = 0)]
    port: u16,
    #[command(flatten)]
    tls: TlsArgs,
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cli.threads.max(1))
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("plugwire-bench: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = match cli.command {
        Command::Run(args) => rt.block_on(crate::suite::run(*args, cli.threads)),
        Command::Render(args) => crate::suite::render(args),
        Command::Load(args) => rt.block_on(load_cmd(args)),
        Command::LimitServer(args) => rt.block_on(limit_cmd(args)),
        Command::GenCerts(args) => crate::certgen::generate(&args.dir, &args.plugin).map(|_| ()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("plugwire-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Splits `https://host:port/path`.
pub fn parse_url(url: &str) -> Result<(String, u16, String)> {
    let bad = |why: &str| BenchError::Run {
        what: format!("URL {url:?}"),
        reason: why.into(),
    };
    let rest = url
        .strip_prefix("https://")
        .ok_or_else(|| bad("must start with https://"))?;
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let (host, port) = authority
        .rsplit_once(':')
        .ok_or_else(|| bad("needs an explicit port"))?;
    let port = port.parse().map_err(|_| bad("bad port"))?;
    let path = if path.is_empty() { "/" } else { path };
    Ok((host.to_string(), port, path.to_string()))
}

async fn load_cmd(args: LoadArgs) -> Result<()> {
    let (host, port, path) = parse_url(&args.url)?;
    let addr = (host.as_str(), port)
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| BenchError::Run {
            what: format!("resolving {host}"),
            reason: "no address".into(),
        })?;
    let tls = crate::tlsfiles::client_config(&args.tls.identity())?;
    let target = Arc::new(Target::new(addr, &host, &path, tls));
    let session = target.open_session().await?;
    let spec = LoadSpec {
        concurrency: args.concurrency.max(1),
        calls: args.calls,
        new_connection_per_call: args.new_connection_per_call,
        warmup_per_worker: if args.new_connection_per_call { 0 } else { 2 },
    };
    let r = crate::load::run(
        target,
        session,
        RequestTemplate::invoke_hook(),
        spec,
        args.server_pid,
    )
    .await;
    let out = serde_json::json!({
        "concurrency": r.concurrency, "calls": r.calls, "ok": r.ok, "errors": r.errors,
        "causes": r.causes,
        "first_error": r.first_error, "calls_per_sec": r.calls_per_sec(),
        "p50_us": r.p50().as_secs_f64() * 1e6, "p99_us": r.p99().as_secs_f64() * 1e6,
        "connections": r.connections,
        "server_cpu_per_call_us": r.server_cpu_per_call().map(|d| d.as_secs_f64() * 1e6),
    });
    println!("{out}");
    Ok(())
}

async fn limit_cmd(args: LimitArgs) -> Result<()> {
    let tls = crate::tlsfiles::server_config(&args.tls.identity())?;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", args.port)).await?;
    println!("port {}", listener.local_addr()?.port());
    // Stop when the parent closes our stdin (or kills us).
    let stdin_closed = async {
        let mut buf = [0u8; 64];
        let mut stdin = tokio::io::stdin();
        loop {
            match tokio::io::AsyncReadExt::read(&mut stdin, &mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    };
    crate::limit::serve(listener, tls, crate::limit::fixed_answer(), stdin_closed).await;
    Ok(())
}
