//! Client-only micro harness: `calls` `tool_pre_invoke` hooks against an in-process
//! `plugwire serve`, through one of three callers:
//!
//! - `plugin`: plugwire-client's `ExternalPlugin` called directly, one call at a time;
//! - `client`: the benchmark's gateway (`plugwire_bench::pwclient`: the framework's
//!   `PluginManager` with one external entry), `c` concurrent workers, as `make bench` runs it;
//! - `load`: the benchmark's load generator (`plugwire_bench::load`), `c` workers, the yardstick.
//!
//! over plain HTTP (`http`, 127.0.0.1, port 0) or mTLS (`tls`, ECDSA material from
//! `plugwire_bench::certgen` in a temp dir; the load generator is mTLS only).
//!
//! Why this shape: wall-clock figures mean nothing on a loaded machine, instruction counts do.
//! The server runs on its own OS thread (a current-thread runtime named `server`) and the caller
//! on the main thread (another current-thread runtime), so under
//! `valgrind --tool=callgrind --separate-threads=yes` the main thread's count is the caller's
//! alone. Run it for N and 3N calls and divide the difference by 2N: start-up, certificates,
//! handshakes and warm-up cancel out.
//!
//! ```sh
//! cargo build --release --example client_calls -p plugwire-bench
//! # client_calls CALLS [plugin|client|load] [CONCURRENCY] [http|tls] [CALLER_THREADS]
//! valgrind --tool=callgrind --separate-threads=yes target/release/examples/client_calls 2000 client 16 tls
//! ```

use std::sync::Arc;

use plugwire_bench::certgen::CertDir;
use plugwire_bench::load::{LoadSpec, Session, Target};
use plugwire_bench::payload::{RequestTemplate, PLUGIN_NAME};
use plugwire_bench::pwclient::Gateway;
use plugwire_client::{ClientOptions, ExternalPlugin};
use plugwire_framework::{
    Config, GlobalContext, HookPayload, HookType, PluginConfig, PluginContext, PluginManager,
};
use plugwire_server::{App, ConnLimits, HostPolicy, ManagerBackend, TlsSource};
use serde_json::json;

type Error = Box<dyn std::error::Error + Send + Sync>;

/// With the `mimalloc` feature, the allocator the shipped `plugwire` binary uses.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Serves `plugwire_bench::suite::SERVER_YAML` (over mTLS with `tls`) until `stop` fires;
/// reports the port on `port`.
fn server_thread(
    tls: Option<TlsSource>,
    port: std::sync::mpsc::Sender<u16>,
    stop: tokio::sync::oneshot::Receiver<()>,
) -> Result<(), Error> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let config = Config::load_str(
            plugwire_bench::suite::SERVER_YAML,
            "server.yaml",
            &plugwire_framework::EmptyEnv,
        )?;
        let mut manager = PluginManager::new(config, &plugwire_plugins::builtin_registry())?;
        manager.initialize().await?;
        let app = Arc::new(App {
            backend: Arc::new(ManagerBackend::new(Arc::new(manager))),
            max_body_bytes: plugwire_server::DEFAULT_MAX_BODY_BYTES,
            host_policy: HostPolicy::new(true, &[]),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        port.send(listener.local_addr()?.port())?;
        plugwire_server::serve_tcp(listener, app, tls, ConnLimits::default(), async {
            let _ = stop.await;
        })
        .await;
        Ok::<(), Error>(())
    })
}

/// What to run, from the command line.
struct Run {
    calls: usize,
    caller: String,
    concurrency: usize,
    certs: Option<CertDir>,
    port: u16,
    dir: std::path::PathBuf,
}

fn main() -> Result<(), Error> {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let mut args = std::env::args().skip(1);
    let calls: usize = match args.next() {
        Some(n) => n.parse().map_err(|e| format!("calls {n:?}: {e}"))?,
        None => 2000,
    };
    let caller = args.next().unwrap_or_else(|| "plugin".into());
    let concurrency: usize = match args.next() {
        Some(n) => n.parse().map_err(|e| format!("concurrency {n:?}: {e}"))?,
        None => 1,
    };
    let tls = match args.next().as_deref() {
        None | Some("http") => false,
        Some("tls") => true,
        Some(other) => return Err(format!("transport {other:?}: http or tls").into()),
    };
    let dir = tempfile::tempdir()?;
    let certs = if tls {
        Some(plugwire_bench::certgen::generate(dir.path(), PLUGIN_NAME)?)
    } else {
        None
    };
    let server_tls = match &certs {
        Some(c) => Some(TlsSource::Fixed(plugwire_bench::tlsfiles::server_config(
            &c.plugin(),
        )?)),
        None => None,
    };

    let (port_tx, port_rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel();
    let server = std::thread::Builder::new()
        .name("server".into())
        .spawn(move || server_thread(server_tls, port_tx, stop_rx))?;
    let port = port_rx.recv()?;
    let run = Run {
        calls,
        caller,
        concurrency,
        certs,
        port,
        dir: dir.path().to_path_buf(),
    };
    // Worker threads of the caller's runtime: none (a current-thread runtime, for callgrind's
    // per-thread counts) unless given; `make bench` runs the gateway on a multi-thread runtime,
    // which `perf` on this harness reproduces with e.g. `20000 client 64 tls 2`.
    let rt = match args.next() {
        None => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?,
        Some(n) => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(n.parse().map_err(|e| format!("threads {n:?}: {e}"))?)
            .enable_all()
            .build()?,
    };
    let summary = rt.block_on(drive(run));
    let _ = stop_tx.send(());
    server.join().map_err(|_| "server thread panicked")??;
    println!("{}", summary?);
    Ok(())
}

async fn drive(run: Run) -> Result<String, Error> {
    match run.caller.as_str() {
        "plugin" if run.certs.is_none() => plugin_calls(run.port, run.calls).await,
        "client" => gateway_calls(&run).await,
        "load" => load_calls(&run).await,
        other => Err(format!("caller {other:?}: plugin (http only), client or load").into()),
    }
}

/// `ExternalPlugin::invoke_hook` directly, one call at a time.
async fn plugin_calls(port: u16, calls: usize) -> Result<String, Error> {
    let entry = PluginConfig::from_json(json!({
        "name": "ReplaceBadWordsPlugin",
        "kind": "external",
        "mcp": {"proto": "STREAMABLEHTTP", "url": format!("http://127.0.0.1:{port}/mcp")},
    }))?;
    let plugin = ExternalPlugin::new(entry, &ClientOptions::default())?;
    plugin.connect().await?;
    let payload = HookPayload::from_json(
        HookType::ToolPreInvoke,
        plugwire_bench::payload::tool_payload(),
    )?;
    let global =
        GlobalContext::from_json(plugwire_bench::payload::context()["global_context"].clone())?;
    let mut last = None;
    for _ in 0..calls {
        let mut ctx = PluginContext::new(global.clone());
        last = Some(plugin.invoke_hook(&payload, &mut ctx).await?);
    }
    let modified = last
        .and_then(|r| r.modified_payload)
        .map(|p| p.to_json().to_string())
        .unwrap_or_default();
    Ok(format!("{calls} calls; last modified payload: {modified}"))
}

/// The benchmark's gateway (`PluginManager` + external entry) at `c` workers.
async fn gateway_calls(run: &Run) -> Result<String, Error> {
    let yaml = match &run.certs {
        Some(certs) => plugwire_bench::suite::gateway_yaml(run.port, certs),
        None => format!(
            "plugin_settings:\n  plugin_timeout: 30\n  fail_on_plugin_error: false\nplugin_dirs: []\n\
             plugins:\n  - name: {PLUGIN_NAME}\n    kind: external\n    mode: enforce\n    \
             priority: 150\n    mcp:\n      proto: STREAMABLEHTTP\n      url: http://127.0.0.1:{}/mcp\n",
            run.port
        ),
    };
    let path = run.dir.join("gateway.yaml");
    std::fs::write(&path, yaml)?;
    let gw = Arc::new(Gateway::connect(&path).await?);
    let sample =
        plugwire_bench::pwclient::run(gw.clone(), run.concurrency, run.calls, std::process::id())
            .await;
    gw.shutdown().await;
    if let Some(e) = sample.first_error {
        return Err(e.into());
    }
    Ok(format!(
        "client: {} calls at c={}, {} errors",
        sample.calls, run.concurrency, sample.errors
    ))
}

/// The load generator at `c` workers (mTLS only).
async fn load_calls(run: &Run) -> Result<String, Error> {
    let certs = run
        .certs
        .as_ref()
        .ok_or("the load generator is mTLS only")?;
    let tls = plugwire_bench::tlsfiles::client_config(&certs.gateway())?;
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], run.port));
    let target = Arc::new(Target::new(addr, "localhost", "/mcp", tls));
    let spec = LoadSpec {
        concurrency: run.concurrency,
        calls: run.calls,
        new_connection_per_call: false,
        warmup_per_worker: 2,
    };
    let result = plugwire_bench::load::run(
        target,
        Session::default(),
        RequestTemplate::invoke_hook(),
        spec,
        None,
    )
    .await;
    if let Some(e) = result.first_error {
        return Err(e.into());
    }
    Ok(format!(
        "load: {} calls at c={}, {} errors",
        result.calls, run.concurrency, result.errors
    ))
}
