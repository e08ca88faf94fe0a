//! What the MCP layer needs from the plugins: the config dump and single-plugin hook calls.
//!
//! The HTTP and stdio layers only see this trait, so they are tested with small fakes (a
//! panicking or hanging plugin) and run in production over the framework's `PluginManager`
//! ([`crate::ManagerBackend`]).

use plugwire_mcp::{InvokeHookArgs, InvokeHookResponse, RawInvokeHookArgs, TextResultWriter};
use serde_json::Value;

/// The plugin side of the three tools.
#[async_trait::async_trait]
pub trait Backend: Send + Sync + 'static {
    /// Every plugin entry of the server's config, as the Python `PluginConfig.model_dump()`.
    fn plugin_configs(&self) -> Vec<Value>;

    /// One entry by name, case-insensitively; `None` when unknown.
    fn plugin_config(&self, name: &str) -> Option<Value> {
        // Python compares `name.lower()`: Unicode-aware, not ASCII-only.
        let wanted = name.to_lowercase();
        self.plugin_configs().into_iter().find(|c| {
            c.get("name")
                .and_then(Value::as_str)
                .is_some_and(|n| n.to_lowercase() == wanted)
        })
    }

    /// Runs one hook of one plugin (no chain, no conditions). Every failure (unknown plugin or
    /// hook, bad payload or context, plugin error, timeout) is an `error` answer, never a panic.
    async fn invoke_hook(&self, args: InvokeHookArgs) -> InvokeHookResponse;

    /// The same call with the payload and context still as JSON text, writing the result's
    /// text straight into the response: the server's hot path, which lets a backend decode
    /// into its own types and skip every intermediate `Value`. The text must be exactly
    /// `invoke_hook(args.to_args()).to_text()`; this default is that, so other backends need
    /// not implement it.
    async fn invoke_hook_into(&self, args: RawInvokeHookArgs<'_>, out: &mut TextResultWriter) {
        out.push_str(&invoke_hook_through_values(self, &args).await);
    }

    /// Plugins taken out at run time (`on_error: disable`), reported by `/health`.
    fn runtime_disabled(&self) -> Vec<String> {
        Vec::new()
    }
}

/// [`Backend::invoke_hook`] for raw arguments: converts them to `Value` maps and returns the
/// answer's text. The default hot path, and the fallback of a backend whose own raw decoding
/// failed (the `Value` path words every error).
pub async fn invoke_hook_through_values<B: Backend + ?Sized>(
    backend: &B,
    args: &RawInvokeHookArgs<'_>,
) -> String {
    match args.to_args() {
        Ok(a) => backend.invoke_hook(a).await.to_text(),
        Err(e) => InvokeHookResponse::failure_message(
            &args.plugin_name,
            format!("invoke_hook arguments are not JSON objects: {e}"),
        )
        .to_text(),
    }
}
