//! `ExternalPlugin`: a `kind: external` entry of the gateway's plugins YAML, served by a remote
//! plugin server (Python or plugwire) over MCP, gRPC or the raw Unix socket ([`Remote`]).

use std::sync::{Arc, OnceLock};

use plugwire_framework::{
    FailureCause, HookPayload, HookType, Plugin, PluginConfig, PluginContext, PluginError,
    PluginErrorKind, PluginResult,
};
use plugwire_mcp::plugin_tools::plugin_config_result;
use plugwire_mcp::{
    CallToolResult, GetPluginConfigArgs, InvokeHookArgs, GET_PLUGIN_CONFIG, GET_PLUGIN_CONFIGS,
};
use serde_json::Value;

use crate::connector::ConnectionStats;
use crate::decode::{decode_answer, decode_plugin_config};
use crate::endpoint::build_transport;
use crate::error::ClientError;
use crate::grpc::GrpcClient;
use crate::merge::merge_configs;
use crate::options::ClientOptions;
use crate::raw_socket::RawSocketClient;
use crate::session::{Session, StartPolicy};

/// The transport an [`ExternalPlugin`] calls through. gRPC and raw-socket answers are put in
/// the MCP tool-result shape, so decoding, merging and error policy are shared by all three.
// One per plugin for the process's life: boxing the large MCP session would buy nothing.
#[allow(clippy::large_enum_variant)]
pub enum Remote {
    /// MCP (Streamable HTTP or stdio), with its handshake and session recovery.
    Mcp(Session),
    /// gRPC on one multiplexed HTTP/2 channel.
    Grpc(GrpcClient),
    /// The raw Unix-socket protocol on a small pool.
    RawSocket(RawSocketClient),
}

impl std::fmt::Debug for Remote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Remote").field(&self.url()).finish()
    }
}

impl Remote {
    /// The endpoint, for messages.
    pub fn url(&self) -> &str {
        match self {
            Remote::Mcp(s) => s.url(),
            Remote::Grpc(g) => g.url(),
            Remote::RawSocket(r) => r.url(),
        }
    }

    async fn connect(&self) -> Result<(), ClientError> {
        match self {
            Remote::Mcp(s) => s.connect().await.map(drop),
            // Connections open on the first call, which `connect` makes next.
            Remote::Grpc(_) | Remote::RawSocket(_) => Ok(()),
        }
    }

    async fn get_plugin_config(&self, name: &str) -> Result<CallToolResult, ClientError> {
        let config = match self {
            Remote::Mcp(s) => {
                let args = GetPluginConfigArgs {
                    name: name.to_string(),
                };
                return s.call_tool(GET_PLUGIN_CONFIG, args.to_arguments()).await;
            }
            Remote::Grpc(g) => g.get_plugin_config(name).await?,
            Remote::RawSocket(r) => r.get_plugin_config(name).await?,
        };
        Ok(plugin_config_result(config.as_ref()))
    }

    /// The names of the plugins the server serves (`get_plugin_configs` / `GetPluginConfigs`):
    /// for the message when an entry's name is not one of them, and `plugwire health`.
    /// `plugin` names the asker in errors.
    pub async fn plugin_names(&self, plugin: &str) -> Result<Vec<String>, ClientError> {
        let configs = match self {
            Remote::Mcp(s) => {
                let result = s
                    .call_tool(GET_PLUGIN_CONFIGS, serde_json::Map::new())
                    .await?;
                // One text item per plugin, each its config as a JSON object.
                result
                    .texts()
                    .map(|t| {
                        serde_json::from_str::<Value>(t)
                            .ok()
                            .filter(Value::is_object)
                    })
                    .collect::<Option<Vec<_>>>()
                    .ok_or_else(|| {
                        let detail = "a text item is not a plugin config object";
                        ClientError::malformed(plugin, s.url(), GET_PLUGIN_CONFIGS, detail, None)
                    })?
            }
            Remote::Grpc(g) => g.get_plugin_configs().await?,
            Remote::RawSocket(r) => r.get_plugin_configs().await?,
        };
        Ok(configs
            .iter()
            .filter_map(|c| c.get("name").and_then(Value::as_str))
            .map(str::to_string)
            .collect())
    }

    async fn close(&self) {
        match self {
            Remote::Mcp(s) => s.close().await,
            Remote::Grpc(_) => {}
            Remote::RawSocket(r) => r.close(),
        }
    }
}

/// A plugin that runs on a plugin server. Each hook is one `tools/call invoke_hook` on a kept
/// connection; the merged config (remote, overridden by the local entry) is what the manager sees
/// after `initialize`.
pub struct ExternalPlugin {
    local: PluginConfig,
    merged: OnceLock<PluginConfig>,
    remote: Remote,
    stats: Arc<ConnectionStats>,
}

impl std::fmt::Debug for ExternalPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExternalPlugin")
            .field("name", &self.local.name)
            .field("url", &self.remote.url())
            .finish_non_exhaustive()
    }
}

/// Converts a transport/protocol failure into the framework's error, keeping the whole sentence
/// (plugin, URL, what failed) as the message and the variant as the `code`.
pub fn to_plugin_error(kind: PluginErrorKind, plugin: &str, err: &ClientError) -> PluginError {
    PluginError::new(kind, plugin, err.to_string()).with_code(err.code())
}

/// A failure to build a config's plugins ([`plugwire_framework::PluginManager::new`]) as one
/// line. The framework puts "plugin 'X': key \`config\`:" before any constructor's error, since a
/// built-in plugin's constructor reads its `config:`; an external plugin's never does (that key
/// is refused on an external entry), and its error starts with "external plugin 'X': " and names
/// the key, variable or file at fault itself (`grpc.target`, `plugins[X].grpc.tls.certfile`,
/// `mcp.url`). For those the framework's words are left out: "FILE: external plugin 'X': ...".
/// Every other error reads as the framework writes it.
pub fn describe_build_error(err: &plugwire_framework::ConfigError) -> String {
    if let plugwire_framework::ConfigError::Plugin {
        file,
        plugin,
        error,
    } = err
    {
        let message = error.message();
        if message.starts_with(&format!("external plugin '{plugin}': ")) {
            return format!("{file}: {message}");
        }
    }
    err.to_string()
}

impl ExternalPlugin {
    /// Validates the entry and prepares the transport; nothing is opened until `initialize`.
    /// Errors name the plugin and the YAML key or env variable at fault.
    pub fn new(config: PluginConfig, options: &ClientOptions) -> Result<Self, ClientError> {
        let name = config.name.clone();
        let options = &options.for_entry(&config);
        if let Some(g) = &config.grpc {
            let remote = crate::remote::grpc_remote(&name, g, options)?;
            return Self::with_remote(config, remote, options);
        }
        if let Some(u) = &config.unix_socket {
            let stats = options.stats.clone();
            let remote =
                crate::remote::unix_socket_remote_with(&name, u, config.call_timeout(), stats)?;
            return Self::with_remote(config, remote, options);
        }
        let mcp = config.mcp.as_ref().ok_or_else(|| {
            ClientError::config(
                &name,
                format!("Must set 'mcp' section for external plugin {name}"),
            )
        })?;
        let transport = build_transport(&name, mcp, options)?;
        let session = Session::new(
            name,
            transport,
            options.call_timeout,
            StartPolicy::from_config(mcp.reconnect_attempts, mcp.reconnect_delay),
        );
        Self::with_remote(config, Remote::Mcp(session), options)
    }

    /// An entry served over a transport the caller built (gRPC or raw socket from a `grpc:` /
    /// `unix_socket:` entry). The remote config is fetched and merged for every transport,
    /// the raw socket included (upstream's raw-socket client skips the merge, so an entry
    /// without local `hooks:` is never called there).
    pub fn with_remote(
        config: PluginConfig,
        remote: Remote,
        options: &ClientOptions,
    ) -> Result<Self, ClientError> {
        let name = config.name.clone();
        if config.is_set("config") && config.config.is_some() {
            return Err(ClientError::config(
                &name,
                format!(
                    "Cannot have {name} plugin defined as 'external' with 'config' set. 'config' \
                     section settings can only be set on the plugin server."
                ),
            ));
        }
        Ok(Self {
            remote,
            local: config,
            merged: OnceLock::new(),
            stats: options.stats.clone(),
        })
    }

    /// The connection counters this plugin reports into.
    pub fn stats(&self) -> &Arc<ConnectionStats> {
        &self.stats
    }

    /// The endpoint (URL, `uds`, stdio command, gRPC target or socket path), for messages.
    pub fn url(&self) -> &str {
        self.remote.url()
    }

    /// The MCP session (handshake details, direct tool calls); `None` over gRPC / raw socket.
    pub fn session(&self) -> Option<&Session> {
        match &self.remote {
            Remote::Mcp(s) => Some(s),
            _ => None,
        }
    }

    /// The transport.
    pub fn remote(&self) -> &Remote {
        &self.remote
    }

    fn name(&self) -> &str {
        &self.local.name
    }

    /// Connects, handshakes, fetches and merges the remote config. Idempotent.
    pub async fn connect(&self) -> Result<(), ClientError> {
        self.remote.connect().await?;
        if self.merged.get().is_some() {
            return Ok(());
        }
        let answer = self.remote.get_plugin_config(self.name()).await?;
        let not_plugin = |message: String| {
            ClientError::not_plugin_server(self.name(), self.url(), message, None)
        };
        let decoded = decode_plugin_config(self.name(), self.url(), &answer)
            .map_err(|e| not_plugin(e.message().to_string()))?;
        let Some((remote, remote_json)) = decoded else {
            let served = match self.remote.plugin_names(self.name()).await {
                Ok(names) if names.is_empty() => "; the server serves no plugin".to_string(),
                Ok(names) => format!("; the server serves: {}", names.join(", ")),
                Err(_) => String::new(),
            };
            return Err(not_plugin(format!(
                "Unable to retrieve configuration for external plugin: the server has no plugin named '{}' \
                 (get_plugin_config returned {{}}){served}; the entry's `name` must be one of the server's",
                self.name()
            )));
        };
        let merged = merge_configs(&self.local, &remote, &remote_json).map_err(|e| {
            let message = format!(
                "remote config from {} conflicts with the local entry: {e}",
                self.url()
            );
            ClientError::config(self.name(), message)
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
        // gRPC and the raw socket give the answer decoded: it goes to the typed result without
        // the MCP answer's text between.
        let answer = match &self.remote {
            Remote::Mcp(session) => {
                return crate::invoke_mcp::invoke_hook(session, self.name(), payload, ctx).await
            }
            Remote::Grpc(g) => g.invoke_hook(self.request_args(payload, ctx)?).await,
            Remote::RawSocket(r) => r.invoke_hook(self.request_args(payload, ctx)?).await,
        }
        .map_err(|e| to_plugin_error(PluginErrorKind::Transport, self.name(), &e))?;
        decode_answer(self.name(), self.url(), hook, answer, ctx)
    }

    /// The request forms of payload and context, as gRPC and the raw socket send them.
    fn request_args(
        &self,
        payload: &HookPayload,
        ctx: &PluginContext,
    ) -> Result<InvokeHookArgs, PluginError> {
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
        Ok(InvokeHookArgs {
            hook_type: hook.as_str().to_string(),
            plugin_name: self.name().to_string(),
            payload,
            context,
        })
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
        self.remote.close().await;
    }

    fn failure_cause(&self, err: &PluginError) -> Option<FailureCause> {
        crate::policy::failure_cause(err)
    }

    fn fail_open(&self, hook: HookType, cause: FailureCause) {
        crate::policy::record_fail_open(self.name(), hook.as_str(), cause);
    }

    async fn invoke(
        &self,
        payload: HookPayload,
        ctx: &mut PluginContext,
    ) -> Result<PluginResult, PluginError> {
        self.invoke_lent(&payload, ctx).await
    }

    /// The payload is only read (encoded into the request), so the manager lends it.
    async fn invoke_lent(
        &self,
        payload: &HookPayload,
        ctx: &mut PluginContext,
    ) -> Result<PluginResult, PluginError> {
        let (start, hook) = (std::time::Instant::now(), payload.hook_type());
        let result = self.invoke_hook(payload, ctx).await;
        crate::metrics::record_call(self.name(), hook.as_str(), &result, start);
        result
    }
}
