//! `plugwire health --config FILE`: the gateway side's view of its guardrails. A plugin whose
//! start-up fails (an unreachable server, a remote config with a mode neither era knows, a TLS
//! refusal) is logged and left out by the manager, as ContextForge does with
//! `fail_on_plugin_error: false`; an operator needs to see that without reading logs. Every
//! enabled plugin of the file is started exactly as `plugwire call` starts it, then reported
//! as loaded or not loaded with the reason. Exit 0 when all are loaded, 1 otherwise, 2 when the
//! file itself is wrong.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use plugwire_client::ClientOptions;
use plugwire_env::Env;
use plugwire_framework::{Config, PluginManager, PluginMode, PluginRegistry};
use serde_json::{json, Value};

/// Loads `path`, starts its plugins (each start bounded by `timeout`) and prints the report.
pub fn run(path: &Path, env: Arc<dyn Env + Send + Sync>, timeout: Duration) -> ExitCode {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.worker_threads(2);
    let runtime = match crate::runtime(builder, "health", ExitCode::from(2)) {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    runtime.block_on(report(path, env, timeout))
}

async fn report(path: &Path, env: Arc<dyn Env + Send + Sync>, timeout: Duration) -> ExitCode {
    let config = match Config::load(path, &*env) {
        Ok(c) => c,
        Err(e) => {
            errln!("plugwire health: {e}");
            return ExitCode::from(2);
        }
    };
    let enabled: Vec<(String, String)> = config
        .plugins
        .iter()
        .filter(|p| p.mode != PluginMode::Disabled)
        .map(|p| (p.name.clone(), p.kind.clone()))
        .collect();
    let mut registry = PluginRegistry::new();
    plugwire_plugins::register_builtins(&mut registry);
    plugwire_client::register_external_with(
        &mut registry,
        ClientOptions {
            call_timeout: timeout,
            env: Arc::clone(&env),
            ..ClientOptions::default()
        },
    );
    let mut manager = match PluginManager::new(config, &registry) {
        Ok(m) => m,
        Err(e) => {
            errln!(
                "plugwire health: {}",
                plugwire_client::describe_build_error(&e)
            );
            return ExitCode::from(2);
        }
    };
    // With fail_on_plugin_error the first failure stops start-up: report it for that plugin.
    let stopped = manager.initialize().await.err();
    let loaded = manager.plugin_names();
    let plugins: Vec<Value> = enabled
        .iter()
        .map(|(name, kind)| {
            let reason = manager
                .not_loaded()
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, e)| e.clone())
                .or_else(|| {
                    stopped
                        .as_ref()
                        .filter(|e| e.plugin_name() == name)
                        .map(|e| e.to_string())
                });
            match (loaded.contains(name), reason) {
                (true, _) => json!({"name": name, "kind": kind, "loaded": true}),
                (false, reason) => json!({
                    "name": name,
                    "kind": kind,
                    "loaded": false,
                    "error": reason.unwrap_or_else(|| "not started (start-up stopped at an earlier plugin)".into()),
                }),
            }
        })
        .collect();
    manager.shutdown().await;
    let all_loaded = plugins.iter().all(|p| p["loaded"] == json!(true));
    let body = json!({"config": path.display().to_string(), "plugins": plugins});
    outln!(
        "{}",
        serde_json::to_string_pretty(&body).unwrap_or_else(|_| body.to_string())
    );
    if all_loaded {
        ExitCode::SUCCESS
    } else {
        errln!(
            "plugwire health: not every plugin of {} is loaded",
            path.display()
        );
        ExitCode::from(1)
    }
}
