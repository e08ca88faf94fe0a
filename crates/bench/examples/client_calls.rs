//! Client-only micro harness: `calls` `tool_pre_invoke` hooks through plugwire-client's
//! `ExternalPlugin` against an in-process `plugwire serve` (plain HTTP on 127.0.0.1, port 0).
//!
//! Why this shape: wall-clock figures mean nothing on a loaded machine, instruction counts do.
//! The server runs on its own OS thread (a current-thread runtime named `server`) and the client
//! on the main thread (another current-thread runtime), so under
//! `valgrind --tool=callgrind --separate-threads=yes` the main thread's count is the client's
//! alone. Run it for N and 2N calls and divide the difference by N: start-up and the MCP
//! handshake cancel out.
//!
//! ```sh
//! cargo build --release --example client_calls -p plugwire-bench
//! valgrind --tool=callgrind --separate-threads=yes target/release/examples/client_calls 2000
//! ```

use std::sync::Arc;

use plugwire_client::{ClientOptions, ExternalPlugin};
use plugwire_framework::{
    Config, GlobalContext, HookPayload, HookType, PluginConfig, PluginContext, PluginManager,
};
use plugwire_server::{App, ConnLimits, HostPolicy, ManagerBackend};
use serde_json::json;

type Error = Box<dyn std::error::Error + Send + Sync>;

/// Serves `plugwire_bench::suite::SERVER_YAML` until `stop` fires; reports the port on `port`.
fn server_thread(
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
        plugwire_server::serve_tcp(listener, app, None, ConnLimits::default(), async {
            let _ = stop.await;
        })
        .await;
        Ok::<(), Error>(())
    })
}

fn main() -> Result<(), Error> {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let calls: u64 = match std::env::args().nth(1) {
        Some(n) => n.parse().map_err(|e| format!("calls {n:?}: {e}"))?,
        None => 2000,
    };
    let (port_tx, port_rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel();
    let server = std::thread::Builder::new()
        .name("server".into())
        .spawn(move || server_thread(port_tx, stop_rx))?;
    let port = port_rx.recv()?;

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let summary = rt.block_on(async move {
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
        Ok::<String, Error>(modified)
    })?;
    let _ = stop_tx.send(());
    server.join().map_err(|_| "server thread panicked")??;
    println!("{calls} calls; last modified payload: {summary}");
    Ok(())
}
