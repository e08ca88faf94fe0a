//! The plugwire gateway client as a load source: the framework's `PluginManager` with one
//! `kind: external` entry (plugwire-client's `ExternalPlugin`), in this process, the way a Rust
//! gateway would call a plugin server. Its connections are counted by plugwire-client's own
//! `ConnectionStats`.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use plugwire_client::{ClientOptions, ConnectionStats};
use plugwire_framework::{
    Config, GlobalContext, HookPayload, HookType, ModifiedPayload, PluginManager, PluginRegistry,
};
use tokio::sync::Barrier;

use crate::error::{BenchError, Result};
use crate::measure::{accepted_since, CpuMark, Sample};
use crate::payload;
use crate::procfs;
use crate::stats::quantile;

/// A connected gateway-side manager.
pub struct Gateway {
    manager: PluginManager,
    stats: Arc<ConnectionStats>,
    payload: HookPayload,
    global: GlobalContext,
}

fn err(what: &str, e: impl std::fmt::Display) -> BenchError {
    BenchError::Run {
        what: format!("plugwire client: {what}"),
        reason: e.to_string(),
    }
}

impl Gateway {
    /// Loads `gateway_yaml` and initializes (MCP handshake, remote config) every plugin.
    pub async fn connect(gateway_yaml: &Path) -> Result<Self> {
        let config = Config::load(gateway_yaml, &plugwire_framework::ProcessEnv)
            .map_err(|e| err("config", e))?;
        let stats = ConnectionStats::new();
        let mut registry = PluginRegistry::new();
        plugwire_client::register_external_with(
            &mut registry,
            ClientOptions {
                stats: stats.clone(),
                ..ClientOptions::default()
            },
        );
        let mut manager = PluginManager::new(config, &registry).map_err(|e| err("manager", e))?;
        manager
            .initialize()
            .await
            .map_err(|e| err("initialize", e))?;
        let payload = HookPayload::from_json(HookType::ToolPreInvoke, payload::tool_payload())
            .map_err(|e| err("payload", e))?;
        let global = GlobalContext::from_json(payload::context()["global_context"].clone())
            .map_err(|e| err("context", e))?;
        Ok(Self {
            manager,
            stats,
            payload,
            global,
        })
    }

    async fn call(&self) -> Result<()> {
        let mut global = self.global.clone();
        let outcome = self
            .manager
            .invoke_hook(self.payload.clone(), &mut global, None)
            .await
            .map_err(|e| err("invoke_hook", e))?;
        // Read the typed result, as a gateway would: no JSON rendering per call.
        let ok = match &outcome.result.modified_payload {
            Some(ModifiedPayload::Payload(HookPayload::ToolPreInvoke(p))) => p
                .args
                .as_ref()
                .and_then(|a| a.get("query"))
                .and_then(|q| q.as_str())
                .is_some_and(|q| q.contains("yikes")),
            _ => false,
        };
        if !ok {
            return Err(err(
                "invoke_hook",
                format!("unexpected result: {}", outcome.result.to_json()),
            ));
        }
        Ok(())
    }

    pub async fn shutdown(&self) {
        self.manager.shutdown().await;
    }
}

/// `calls` hook calls at `concurrency` through `gw` (after `2 × concurrency` untimed ones).
pub async fn run(gw: Arc<Gateway>, concurrency: usize, calls: usize, server_pid: u32) -> Sample {
    run_within(gw, concurrency, calls, server_pid, None).await
}

/// [`run`], but the workers take no new call once `budget` has passed since the clock started:
/// a transport far slower than expected then costs the suite `budget`, not hours, and the
/// sample says how many calls were made.
pub async fn run_within(
    gw: Arc<Gateway>,
    concurrency: usize,
    calls: usize,
    server_pid: u32,
    budget: Option<Duration>,
) -> Sample {
    let ports0 = procfs::passive_opens();
    let conns0 = gw.stats.connections_opened();
    let next = Arc::new(AtomicUsize::new(0));
    let barrier = Arc::new(Barrier::new(concurrency + 1));
    let handles: Vec<_> = (0..concurrency)
        .map(|_| {
            let (gw, next, barrier) = (gw.clone(), next.clone(), barrier.clone());
            tokio::spawn(async move {
                let mut lat = Vec::with_capacity(calls / concurrency + 1);
                let mut errors = 0usize;
                let mut first: Option<String> = None;
                for _ in 0..2 {
                    if let Err(e) = gw.call().await {
                        first.get_or_insert(format!("warm-up: {e}"));
                    }
                }
                barrier.wait().await;
                let started = Instant::now();
                while next.fetch_add(1, Ordering::Relaxed) < calls
                    && budget.is_none_or(|b| started.elapsed() < b)
                {
                    let t0 = Instant::now();
                    match gw.call().await {
                        Ok(()) => lat.push(t0.elapsed()),
                        Err(e) => {
                            errors += 1;
                            first.get_or_insert(e.to_string());
                        }
                    }
                }
                (lat, errors, first)
            })
        })
        .collect();
    barrier.wait().await;
    let server0 = CpuMark::now(Some(server_pid));
    let me0 = CpuMark::now(Some(std::process::id()));
    let t0 = Instant::now();
    let mut latencies: Vec<Duration> = Vec::with_capacity(calls);
    let mut errors = 0;
    let mut first_error = None;
    for h in handles {
        match h.await {
            Ok((lat, e, first)) => {
                latencies.extend(lat);
                errors += e;
                if first_error.is_none() {
                    first_error = first;
                }
            }
            Err(e) => {
                errors += 1;
                first_error.get_or_insert(format!("worker panicked: {e}"));
            }
        }
    }
    let elapsed = t0.elapsed();
    latencies.sort_unstable();
    let calls = latencies.len() + errors;
    Sample {
        calls,
        errors,
        first_error,
        calls_per_sec: (calls - errors.min(calls)) as f64 / elapsed.as_secs_f64(),
        p50_us: quantile(&latencies, 0.5).as_secs_f64() * 1e6,
        p99_us: quantile(&latencies, 0.99).as_secs_f64() * 1e6,
        server_cpu_us: server0.since(Some(server_pid), calls),
        client_cpu_us: me0.since(Some(std::process::id()), calls),
        client_loop_cpu_us: None,
        connections: usize::try_from(gw.stats.connections_opened() - conns0).ok(),
        tcp_opened: accepted_since(ports0),
    }
}
