//! `ExternalPlugin`: a `kind: external` entry of the gateway's plugins YAML, served by a remote
//! plugin server (Python or plugwire) over MCP.

use std::sync::{Arc, OnceLock};

use plugwire_framework::{
    HookPayload, Plugin, PluginConfig, PluginContext, PluginError, PluginErrorKind, PluginResult,
};
use plugwire_mcp::{GetPluginConfigArgs, InvokeHookArgs, GET_PLUGIN_CONFIG, INVOKE_HOOK};
use serde_json::Value;

use crate::connector::ConnectionStats;
use crate::decode::{decode_invoke_hook, decode_plugin_config};
use crate::endpoint::build_transport;
use crate::error::ClientError;
use crate::merge::merge_configs;
use crate::options::ClientOptions;
use crate::session::{Session, StartPolicy};

/// A plugin that runs on a plugin server. Each hook is one `tools/call invoke_hook` on a kept
/// connection; the merged config (remote, overridden by the local entry) is what the manager sees
/// after `initialize`.
pub struct ExternalPlugin {
    local: PluginConfig,
    merged: OnceLock<PluginConfig>,
    session: Session,
    stats: Arc<ConnectionStats>,
}

impl std::fmt::Debug for ExternalPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExternalPlugin")
            .field("name", &self.local.name)
            .field("url", &self.session.url())
            .finish_non_exhaustive()
    }
}

/// Converts a transport/protocol failure into the framework's error, keeping the whole sentence
/// (plugin, URL, what failed) as the message and the variant as the `code`.
pub fn to_plugin_error(kind: PluginErrorKind, plugin: &str, err: &ClientError) -> PluginError {
    PluginError::new(kind, plugin, err.to_string()).with_code(err.code())
}

impl ExternalPlugin {
    /// Validates the entry and prepares the transport; nothing is opened until `initialize`.
    /// Errors name the plugin and the YAML key or env variable at fault.
    pub fn new(config: PluginConfig, options: &ClientOptions) -> Result<Self, ClientError> {
        let name = config.name.clone();
        let mcp = config.mcp.as_ref().ok_or_else(|| {
            let other = if config.grpc.is_some() {
                Some("grpc")
            } else if config.unix_socket.is_some() {
                Some("unix_socket")
            } else {
                None
            };
            ClientError::Config {
                plugin: name.clone(),
                message: match other {
                    Some(t) => format!(
                        "key `{t}`: plugwire's client implements the `mcp` transport only, not \
                         `{t}`; serve plugin {name} over MCP (Streamable HTTP or STDIO) and give \
                         the entry an `mcp:` section instead"
                    ),
                    None => format!("Must set 'mcp' section for external plugin {name}"),
                },
            }
        })?;
        if config.is_set("config") && config.config.is_some() {
            return Err(ClientError::Config {
                plugin: name.clone(),
                message: format!(
                    "Cannot have {name} plugin defined as 'external' with 'config' set. 'config' \
                     section settings can only be set on the plugin server."
                ),
            });
        }
        let transport = build_transport(&name, mcp, options)?;
        Ok(Self {
            session: Session::new(
                name,
                transport,
                options.call_timeout,
                StartPolicy::from_config(mcp.reconnect_attempts, mcp.reconnect_delay),
            ),
            local: config,
            merged: OnceLock::new(),
            stats: options.stats.clone(),
        })
    }

    /// The connection counters this plugin reports into.
    pub fn stats(&self) -> &Arc<ConnectionStats> {
        &self.stats
    }

    /// The endpoint (URL, `uds` or stdio command), for messages.
    pub fn url(&self) -> &str {
        self.session.url()
    }

    /// The MCP session (handshake details, direct tool calls).
    pub fn session(&self) -> &Session {
        &self.session
    }

    fn name(&self) -> &str {
        &self.local.name
    }

    /// Connects, handshakes, fetches and merges the remote config. Idempotent.
    pub async fn connect(&self) -> Result<(), ClientError> {
        self.session.connect().await?;
        if self.merged.get().is_some() {
            return Ok(());
        }
        let args = GetPluginConfigArgs {
            name: self.name().to_string(),
        };
        let answer = self
            .session
            .call_tool(GET_PLUGIN_CONFIG, args.to_arguments())
            .await?;
        let not_plugin = |message: String| ClientError::NotAPluginServer {
            plugin: self.name().to_string(),
            url: self.url().to_string(),
            message,
        };
        let (remote, remote_json) = decode_plugin_config(self.name(), self.url(), &answer)
            .map_err(|e| not_plugin(e.message().to_string()))?
            .ok_or_else(|| {
                not_plugin(format!(
                    "Unable to retrieve configuration for external plugin: the server has no plugin named '{}' \
                     (get_plugin_config returned {{}}); check the name against the server's config",
                    self.name()
                ))
            })?;
        let merged =
            merge_configs(&self.local, &remote, &remote_json).map_err(|e| ClientError::Config {
                plugin: self.name().to_string(),
                message: format!(
                    "remote config from {} conflicts with the local entry: {e}",
                    self.url()
                ),
            })?;
        let _ = self.merged.set(merged);
        Ok(())
    }

    /// One hook call: `invoke_hook` with the request forms of payload and context.
    pub async fn invoke_hook(
        &self,
        payload: &HookPayload,
        ctx: &mut PluginContext,
    ) -> Result<PluginResult, PluginError> {
        if self.merged.get().is_none() {
            return Err(PluginError::new(
                PluginErrorKind::Transport,
                self.name(),
                format!(
                    "external plugin '{}' ({}): Plugin session not initialized",
                    self.name(),
                    self.url()
                ),
            ));
        }
        let hook = payload.hook_type();
        // Payloads and contexts are structs and maps: they always serialize to objects.
        let (Value::Object(payload), Value::Object(context)) =
            (payload.to_request_json(), ctx.to_request_json())
        else {
            return Err(PluginError::new(
                PluginErrorKind::Transport,
                self.name(),
                format!(
                    "external plugin '{}' ({}): the {} payload or context is not a JSON object",
                    self.name(),
                    self.url(),
                    hook.as_str()
                ),
            ));
        };
        let args = InvokeHookArgs {
            hook_type: hook.as_str().to_string(),
            plugin_name: self.name().to_string(),
            payload,
            context,
        };
        let answer = self
            .session
            .call_tool(INVOKE_HOOK, args.to_arguments())
            .await
            .map_err(|e| to_plugin_error(PluginErrorKind::Transport, self.name(), &e))?;
        decode_invoke_hook(self.name(), self.url(), hook, &answer, ctx)
    }
}

#[async_trait::async_trait]
impl Plugin for ExternalPlugin {
    fn config(&self) -> &PluginConfig {
        self.merged.get().unwrap_or(&self.local)
    }

    async fn initialize(&self) -> Result<(), PluginError> {
        self.connect()
            .await
            .map_err(|e| to_plugin_error(PluginErrorKind::Initialization, self.name(), &e))
    }

    async fn shutdown(&self) {
        self.session.close().await;
    }

    async fn invoke(
        &self,
        payload: HookPayload,
        ctx: &mut PluginContext,
    ) -> Result<PluginResult, PluginError> {
        self.invoke_hook(&payload, ctx).await
    }
}
