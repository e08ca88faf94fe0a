//! `plugwire call`: run one hook through the whole chain of a gateway-side plugins config
//! (built-in plugins and `kind: external` entries), as a gateway would, and print the result.
//!
//! Exit codes: 0 the chain let the payload through, 3 a plugin blocked it (violation printed),
//! 1 a plugin error stopped the chain (or some repeated calls failed), 2 bad arguments or config.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use plugwire_client::{ClientOptions, ConnectionStats};
use plugwire_env::Env;
use plugwire_framework::{
    resolve_config_path, Config, ConfigSide, GlobalContext, HookPayload, HookType, PluginManager,
    PluginMode, PluginRegistry, PluginResult,
};
use serde_json::{json, Value};

/// Run a hook through the plugins of a gateway-side config and print the result as JSON.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Gateway-side plugins YAML (default: $PLUGINS_CONFIG_FILE, else plugins/config.yaml).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Hook to run, e.g. tool_pre_invoke or prompt_pre_fetch.
    #[arg(long, value_name = "HOOK")]
    hook: String,
    /// The hook's payload as JSON, e.g. '{"name":"search","args":{"q":"hello"}}'.
    #[arg(long, value_name = "JSON")]
    payload: String,
    /// Global context as JSON (request_id, user, tenant_id, server_id, ...); request_id defaults.
    #[arg(long, value_name = "JSON")]
    context: Option<String>,
    /// Run the hook this many times (reports calls and connections opened).
    #[arg(long, default_value_t = 1, value_name = "N")]
    repeat: u64,
    /// Calls in flight at once when repeating.
    #[arg(long, default_value_t = 1, value_name = "C")]
    concurrency: u64,
    /// Per-request timeout towards external plugin servers, in seconds.
    #[arg(long, default_value_t = 30.0, value_name = "SECS")]
    timeout: f64,
    /// Print compact JSON even on a terminal.
    #[arg(long)]
    compact: bool,
    /// After the calls, print the gateway-side metrics (Prometheus text) to stderr; stdout
    /// keeps only the JSON result.
    #[arg(long)]
    metrics: bool,
}

impl Args {
    #[allow(dead_code)]
    pub fn wants_stdio(&self) -> bool {
        false
    }
}

/// A usage or configuration problem: message to stderr, exit 2.
fn usage(message: impl std::fmt::Display) -> ExitCode {
    errln!("plugwire call: {message}");
    ExitCode::from(2)
}

pub fn run(args: Args, env: Arc<dyn Env + Send + Sync>) -> ExitCode {
    let builder = tokio::runtime::Builder::new_multi_thread();
    let runtime = match crate::runtime(builder, "call", ExitCode::from(2)) {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    runtime.block_on(run_async(args, env))
}

struct Prepared {
    manager: Arc<PluginManager>,
    stats: Arc<ConnectionStats>,
    payload: HookPayload,
    global: GlobalContext,
}

async fn prepare(args: &Args, env: Arc<dyn Env + Send + Sync>) -> Result<Prepared, String> {
    let hook: HookType = args.hook.parse().map_err(|e| format!("--hook: {e}"))?;
    let payload_json: Value = serde_json::from_str(&args.payload)
        .map_err(|e| format!("--payload is not valid JSON: {e}"))?;
    let payload = HookPayload::from_json(hook, payload_json)
        .map_err(|e| format!("--payload does not fit hook {hook}: {e}"))?;
    let global = match &args.context {
        None => GlobalContext::new("plugwire-call-1"),
        Some(text) => {
            let mut v: Value = serde_json::from_str(text)
                .map_err(|e| format!("--context is not valid JSON: {e}"))?;
            let Some(obj) = v.as_object_mut() else {
                return Err("--context must be a JSON object (the global context)".into());
            };
            obj.entry("request_id")
                .or_insert_with(|| json!("plugwire-call-1"));
            GlobalContext::from_json(v).map_err(|e| format!("--context: {e}"))?
        }
    };
    if args.repeat == 0 || args.concurrency == 0 {
        return Err("--repeat and --concurrency must be at least 1".into());
    }
    let call_timeout = crate::seconds_option("--timeout", args.timeout)?;

    let path = resolve_config_path(args.config.as_deref(), ConfigSide::Gateway, &*env);
    let config = Config::load(&path, &*env).map_err(|e| e.to_string())?;
    let timeout = config
        .plugin_settings
        .effective_timeout(&*env)
        .map_err(|e| e.to_string())?;
    let enabled: Vec<String> = config
        .plugins
        .iter()
        .filter(|p| p.mode != PluginMode::Disabled)
        .map(|p| p.name.clone())
        .collect();

    let stats = ConnectionStats::new();
    let mut registry = PluginRegistry::new();
    plugwire_plugins::register_builtins(&mut registry);
    plugwire_client::register_external_with(
        &mut registry,
        ClientOptions {
            stats: stats.clone(),
            call_timeout,
            env: Arc::clone(&env),
            ..ClientOptions::default()
        },
    );
    let mut manager = PluginManager::new(config, &registry)
        .map_err(|e| plugwire_client::describe_build_error(&e))?;
    manager.set_timeout(timeout);
    manager.initialize().await.map_err(|e| e.to_string())?;
    // The manager skips plugins that fail to start (as the Python gateway does); for a command an
    // operator runs by hand that would silently test a different chain, so it is an error here.
    let running = manager.plugin_names();
    let missing: Vec<&String> = enabled.iter().filter(|n| !running.contains(n)).collect();
    if !missing.is_empty() {
        manager.shutdown().await;
        return Err(format!(
            "plugin(s) {} of {} failed to initialize (the reason is logged above); not running a partial chain",
            missing
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            path.display()
        ));
    }
    Ok(Prepared {
        manager: Arc::new(manager),
        stats,
        payload,
        global,
    })
}

/// One call's JSON: the chain result, the violating plugin, and the global context after it.
fn result_json(result: &PluginResult, global: &GlobalContext) -> Value {
    let mut out = json!({"result": result.to_json()});
    if let Some(v) = &result.violation {
        if let Some(name) = &v.plugin_name {
            out["violation_plugin"] = json!(name);
        }
    }
    out["global_context"] = global.to_json();
    out
}

async fn run_async(args: Args, env: Arc<dyn Env + Send + Sync>) -> ExitCode {
    let prepared = match prepare(&args, env).await {
        Ok(p) => p,
        Err(message) => return usage(message),
    };
    let Prepared {
        manager,
        stats,
        payload,
        global,
    } = prepared;

    let mut output;
    let code;
    if args.repeat == 1 {
        let mut g = global.clone();
        match manager.invoke_hook(payload, &mut g, None).await {
            Ok(outcome) => {
                code = if outcome.result.continue_processing {
                    0
                } else {
                    3
                };
                output = result_json(&outcome.result, &g);
            }
            Err(e) => {
                code = 1;
                output = json!({"error": e.model});
            }
        }
    } else {
        let (last, failures, blocked) = repeat_calls(&manager, &payload, &global, &args).await;
        output = last.unwrap_or_else(|| json!({}));
        code = if failures > 0 {
            1
        } else if blocked > 0 {
            3
        } else {
            0
        };
        output["failures"] = json!(failures);
        output["blocked"] = json!(blocked);
    }
    output["stats"] = json!({
        "calls": args.repeat,
        "concurrency": args.concurrency.min(args.repeat),
        "connections_opened": stats.connections_opened(),
        "requests_sent": stats.requests_sent(),
    });
    manager.shutdown().await;
    print_json(&output, args.compact);
    if args.metrics {
        print_metrics();
    }
    ExitCode::from(code)
}

/// Runs `repeat` calls with `concurrency` workers; returns the last output, failures and blocks.
async fn repeat_calls(
    manager: &Arc<PluginManager>,
    payload: &HookPayload,
    global: &GlobalContext,
    args: &Args,
) -> (Option<Value>, u64, u64) {
    let next = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let workers = args.concurrency.min(args.repeat);
    let mut tasks = Vec::new();
    for _ in 0..workers {
        let manager = manager.clone();
        let payload = payload.clone();
        let global = global.clone();
        let next = next.clone();
        let repeat = args.repeat;
        tasks.push(tokio::spawn(async move {
            let (mut last, mut failures, mut blocked) = (None, 0u64, 0u64);
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= repeat {
                    break;
                }
                let mut g = global.clone();
                g.request_id = format!("{}-{i}", global.request_id);
                match manager.invoke_hook(payload.clone(), &mut g, None).await {
                    Ok(outcome) => {
                        if !outcome.result.continue_processing {
                            blocked += 1;
                        }
                        last = Some(Ok((outcome.result, g)));
                    }
                    Err(e) => {
                        failures += 1;
                        tracing::error!("call {i} failed: {e}");
                        last = Some(Err(e.model));
                    }
                }
            }
            // Only the last outcome is printed: it is turned into JSON once, not after every
            // call (that conversion cost about a third of a call's CPU in this loop).
            let last = last.map(|outcome| match outcome {
                Ok((result, g)) => result_json(&result, &g),
                Err(model) => json!({ "error": model }),
            });
            (last, failures, blocked)
        }));
    }
    let (mut last, mut failures, mut blocked) = (None, 0, 0);
    for t in tasks {
        match t.await {
            Ok((l, f, b)) => {
                if l.is_some() {
                    last = l;
                }
                failures += f;
                blocked += b;
            }
            Err(e) => {
                failures += 1;
                tracing::error!("a worker panicked: {e}");
            }
        }
    }
    (last, failures, blocked)
}

/// The exposition of the client metrics on stderr (or why there is none).
fn print_metrics() {
    let m = plugwire_metrics::ClientMetrics::global();
    if m.enabled() {
        err!("{}", m.encode());
    } else {
        errln!("plugwire call: --metrics: metrics are disabled (ENABLE_METRICS is not \"true\")");
    }
}

/// Pretty JSON on a terminal (plus a one-line verdict on stderr), compact JSON otherwise.
fn print_json(value: &Value, compact: bool) {
    let terminal = std::io::stdout().is_terminal();
    let text = if terminal && !compact {
        serde_json::to_string_pretty(value)
    } else {
        serde_json::to_string(value)
    }
    .unwrap_or_else(|_| value.to_string());
    outln!("{text}");
    if terminal {
        let verdict = match value.pointer("/result/continue_processing") {
            Some(Value::Bool(true)) => "allowed".to_string(),
            Some(Value::Bool(false)) => format!(
                "BLOCKED by {}: {}",
                value
                    .get("violation_plugin")
                    .and_then(Value::as_str)
                    .unwrap_or("a plugin"),
                value
                    .pointer("/result/violation/reason")
                    .and_then(Value::as_str)
                    .unwrap_or("")
            ),
            _ if value.get("error").is_some() => "ERROR (see \"error\")".to_string(),
            _ => String::new(),
        };
        if !verdict.is_empty() {
            errln!("plugwire call: {verdict}");
        }
    }
}
