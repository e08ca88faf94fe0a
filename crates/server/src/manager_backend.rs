//! The production [`Backend`]: plugwire-framework's `PluginManager`.

use std::sync::Arc;

use plugwire_framework::{HookType, PluginContext, PluginError, PluginManager, PluginResult};
use plugwire_mcp::{InvokeHookResponse, RawInvokeHookArgs, TextResultWriter};
use serde::Serialize;
use serde_json::Value;

use crate::backend::Backend;

/// Serves the plugins of one `PluginManager` (already initialized).
pub struct ManagerBackend {
    manager: Arc<PluginManager>,
    /// The config dump, computed once: every entry of the YAML (disabled ones too, as Python
    /// lists them), with all keys and explicit nulls, `mode` in the form both eras accept
    /// (`PluginConfig::to_wire_json`).
    configs: Vec<Value>,
}

impl ManagerBackend {
    /// Wraps an initialized manager.
    pub fn new(manager: Arc<PluginManager>) -> Self {
        let configs = manager
            .config()
            .plugins
            .iter()
            .map(|p| p.to_wire_json())
            .collect();
        ManagerBackend { manager, configs }
    }

    /// The manager, for shutdown.
    pub fn manager(&self) -> &Arc<PluginManager> {
        &self.manager
    }
}

#[async_trait::async_trait]
impl Backend for ManagerBackend {
    fn plugin_configs(&self) -> Vec<Value> {
        self.configs.clone()
    }

    fn runtime_disabled(&self) -> Vec<String> {
        self.manager.runtime_disabled()
    }

    fn plugin_config(&self, name: &str) -> Option<Value> {
        self.manager
            .config()
            .plugin_ignore_case(name)
            .map(|p| p.to_wire_json())
    }

    async fn invoke_hook(&self, args: RawInvokeHookArgs<'_>, out: &mut TextResultWriter) {
        let name = args.plugin_name.as_str();
        match self.run(&args).await {
            Ok((result, ctx)) => {
                let answer = HookAnswer {
                    plugin_name: name,
                    result: &result,
                    // Python returns the context only when the plugin left something in it.
                    context: (!ctx.is_empty()).then_some(&ctx),
                };
                let mark = out.mark();
                if let Err(e) = out.write_pretty(&answer) {
                    out.truncate(mark);
                    let what = format!("cannot encode the result: {e}");
                    out.push_str(&InvokeHookResponse::failure_message(name, what).to_text());
                }
            }
            Err(e) => {
                tracing::debug!(plugin = %name, hook = %args.hook_type, "hook error: {e}");
                out.push_str(&InvokeHookResponse::failure(name, e.model.to_json()).to_text());
            }
        }
    }
}

/// The success answer `{plugin_name, result, context?}`, serialized from the typed result: the
/// same text as `InvokeHookResponse::success(..).to_text()`, without the `Value` copies.
#[derive(Serialize)]
struct HookAnswer<'a> {
    plugin_name: &'a str,
    result: &'a PluginResult,
    #[serde(skip_serializing_if = "Option::is_none")]
    context: Option<&'a PluginContext>,
}

impl ManagerBackend {
    /// Decodes the hook name and the context straight from the request text and runs the
    /// plugin, which decodes the payload. The checks keep the order the answers have always
    /// had (hook name, context, plugin, payload), and each failure is worded as decoding the
    /// same JSON as a `Value` words it (tests/invoke_errors.rs holds the recorded answers).
    async fn run(
        &self,
        args: &RawInvokeHookArgs<'_>,
    ) -> Result<(PluginResult, PluginContext), PluginError> {
        let name = args.plugin_name.as_str();
        let hook: HookType = args
            .hook_type
            .parse()
            .map_err(|_| PluginError::unknown_hook(name, &args.hook_type))?;
        let ctx = PluginContext::from_json_str(args.context.get())
            .map_err(|e| PluginError::invalid_payload(name, &e))?;
        self.manager
            .invoke_plugin(name, hook, args.payload.get(), ctx)
            .await
    }
}

/// Builds the manager from a loaded config: plugins constructed, the effective timeout
/// (`plugin_timeout`, or `PLUGINS_PLUGIN_TIMEOUT`, docs/decisions.md #6) applied. Not yet
/// initialized: call [`initialize_manager`] after the sockets are bound.
pub fn build_manager(
    config: plugwire_framework::Config,
    registry: &plugwire_framework::PluginRegistry,
    env: &dyn plugwire_env::Env,
) -> Result<PluginManager, crate::ServerError> {
    let timeout = config.plugin_settings.effective_timeout(env)?;
    Ok(PluginManager::new(config, registry)?.with_timeout(timeout))
}

/// Runs every plugin's `initialize()`. A failing plugin is logged and skipped, as in Python,
/// unless `plugin_settings.fail_on_plugin_error` is set: then start-up stops with its error.
pub async fn initialize_manager(
    mut manager: PluginManager,
) -> Result<Arc<PluginManager>, crate::ServerError> {
    manager
        .initialize()
        .await
        .map_err(crate::ServerError::PluginInit)?;
    Ok(Arc::new(manager))
}
