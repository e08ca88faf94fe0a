//! `DenyListPlugin` (Python `plugins.deny_filter.deny`): blocks a prompt (or a tool call) whose
//! arguments contain a deny word.
//!
//! A word matches as a case-sensitive substring of a string argument (`word in value`), arguments
//! are checked in order and the first hit blocks with the violation the Python reference server
//! sends (wire samples 14 and 17): reason "Prompt not allowed", description "A deny word was found in
//! the prompt", code `deny`, details `{"arg": <argument name>}`. The code is not in the gateway's
//! HTTP mapping, so a client sees a JSON-RPC error -32602.
//!
//! `prompt_pre_fetch` returns the payload unchanged when nothing matched (sample 12).
//! `tool_pre_invoke` (the reference server's extension; upstream's class only has the prompt hook)
//! checks top-level string arguments; when nothing matched it records `deny_checked: true` in the
//! plugin's context state and returns no payload (sample 15).

use async_trait::async_trait;
use plugwire_framework::{
    JsonMap, Plugin, PluginConfig, PluginContext, PluginError, PluginResult, PluginViolation,
    PromptPrehookPayload, ToolPreInvokePayload,
};
use serde_json::Value;

use crate::settings::Settings;

/// Our short kind.
pub const KIND: &str = "deny_list";
/// The Python kind path.
pub const PYTHON_KIND: &str = "plugins.deny_filter.deny.DenyListPlugin";

/// The violation code (not mapped to an HTTP status by the gateway).
pub const CODE: &str = "deny";

/// The plugin.
#[derive(Debug)]
pub struct DenyListPlugin {
    config: PluginConfig,
    words: Vec<String>,
}

impl DenyListPlugin {
    /// Builds the plugin from its entry; a bad `config:` is an error naming the key.
    pub fn new(config: PluginConfig) -> Result<Self, PluginError> {
        let s = Settings::new(&config, "DenyListPlugin", &["words"]);
        if s.raw("words").is_none() {
            return Err(s.error("words", "is required: a list of words to deny"));
        }
        let words = s.string_list("words")?;
        if let Some(i) = words.iter().position(String::is_empty) {
            return Err(s.error(
                &format!("words[{i}]"),
                "is empty, which would deny every argument; remove it",
            ));
        }
        Ok(DenyListPlugin { config, words })
    }

    /// The first argument (in order) containing a deny word.
    pub fn find<'a>(&self, args: impl IntoIterator<Item = (&'a str, &'a str)>) -> Option<&'a str> {
        args.into_iter()
            .find(|(_, value)| self.words.iter().any(|w| value.contains(w.as_str())))
            .map(|(k, _)| k)
    }

    fn violation(arg: &str) -> PluginViolation {
        let mut details = JsonMap::new();
        details.insert("arg".into(), Value::String(arg.to_owned()));
        PluginViolation::new(
            "Prompt not allowed",
            "A deny word was found in the prompt",
            CODE,
        )
        .with_details(details)
    }
}

#[async_trait]
impl Plugin for DenyListPlugin {
    fn config(&self) -> &PluginConfig {
        &self.config
    }

    async fn prompt_pre_fetch(
        &self,
        payload: PromptPrehookPayload,
        _ctx: &mut PluginContext,
    ) -> Result<PluginResult, PluginError> {
        let hit = payload.args.as_ref().and_then(|args| {
            self.find(args.iter().map(|(k, v)| (k.as_str(), v.as_str())))
                .map(str::to_owned)
        });
        if let Some(arg) = hit {
            tracing::warn!(plugin = %self.config.name, "deny word detected in prompt argument '{arg}'");
            let mut r = PluginResult::block(Self::violation(&arg));
            r.modified_payload = Some(payload.into());
            return Ok(r);
        }
        Ok(PluginResult::modified(payload))
    }

    async fn tool_pre_invoke(
        &self,
        payload: ToolPreInvokePayload,
        ctx: &mut PluginContext,
    ) -> Result<PluginResult, PluginError> {
        let hit = payload.args.as_ref().and_then(|args| {
            self.find(
                args.iter()
                    .filter_map(|(k, v)| v.as_str().map(|s| (k.as_str(), s))),
            )
            .map(str::to_owned)
        });
        if let Some(arg) = hit {
            tracing::warn!(plugin = %self.config.name, tool = %payload.name, "deny word detected in tool argument '{arg}'");
            let mut r = PluginResult::block(Self::violation(&arg));
            r.modified_payload = Some(payload.into());
            return Ok(r);
        }
        // Only a call that passed the check is marked (a blocked call's context stays empty, as in
        // wire sample 17, so the server sends no `context` with the violation).
        ctx.set_state("deny_checked", Value::Bool(true));
        Ok(PluginResult::pass())
    }
}
