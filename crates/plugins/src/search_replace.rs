//! `SearchReplacePlugin` (Python `plugins.regex_filter.search_replace`): regex rewriting of prompt
//! arguments, rendered prompt messages, tool arguments and tool results.
//!
//! Configured exactly like the Python plugin: `words: [{search, replace}]`, applied in list order,
//! each rule seeing the previous rule's output, every match replaced. What it touches is what the
//! Python plugin touches: top-level string values of prompt/tool `args`, `messages[].content.text` of
//! a rendered prompt, and the top-level string values of a dict tool result or a string result.
//! It never blocks. Like Python it returns the (rewritten) payload whenever there was something to
//! look at, changed or not (wire samples 13, 16, 18).

use async_trait::async_trait;
use plugwire_framework::{
    Plugin, PluginConfig, PluginContext, PluginError, PluginResult, PromptPosthookPayload,
    PromptPrehookPayload, ToolPostInvokePayload, ToolPreInvokePayload,
};
use serde_json::Value;

use crate::pyre::{apply_all, SubRule};
use crate::settings::Settings;

/// Our short kind.
pub const KIND: &str = "search_replace";
/// The Python kind path, so existing config files load unchanged.
pub const PYTHON_KIND: &str = "plugins.regex_filter.search_replace.SearchReplacePlugin";

/// The compiled rules, usable without the framework (e.g. by other plugins or benchmarks).
#[derive(Debug, Clone)]
pub struct SearchReplace {
    rules: Vec<SubRule>,
}

impl SearchReplace {
    /// From `(search, replace)` pairs in Python syntax.
    pub fn new<'a>(
        words: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, crate::pyre::PyRegexError> {
        let rules = words
            .into_iter()
            .map(|(s, r)| SubRule::new(s, r))
            .collect::<Result<_, _>>()?;
        Ok(SearchReplace { rules })
    }

    /// The rewritten text, `None` when no rule matched.
    pub fn apply(&self, text: &str) -> Option<String> {
        apply_all(&self.rules, text)
    }

    /// Rewrite in place; true when something changed.
    pub fn apply_in_place(&self, text: &mut String) -> bool {
        match self.apply(text) {
            Some(new) if new != *text => {
                *text = new;
                true
            }
            _ => false,
        }
    }

    /// Rewrite the top-level string values of a JSON object (nested values are left alone, as in Python).
    pub fn apply_top_level(&self, map: &mut plugwire_framework::JsonMap) -> bool {
        let mut changed = false;
        for v in map.values_mut() {
            if let Value::String(s) = v {
                changed |= self.apply_in_place(s);
            }
        }
        changed
    }
}

/// The plugin.
#[derive(Debug)]
pub struct SearchReplacePlugin {
    config: PluginConfig,
    rules: SearchReplace,
}

impl SearchReplacePlugin {
    /// Build from a config entry; a bad `words` entry names its index and key.
    pub fn new(config: PluginConfig) -> Result<Self, PluginError> {
        let s = Settings::new(&config, "SearchReplacePlugin", &["words"]);
        let Some(items) = s.object_list("words")? else {
            return Err(s.error(
                "words",
                "is required: a list of {search: <regex>, replace: <text>} entries",
            ));
        };
        let mut rules = Vec::with_capacity(items.len());
        for (i, item) in items.into_iter().enumerate() {
            let w = s.nested(item, format!("words[{i}]."));
            let search = w.required_string("search")?;
            let replace = w.required_string("replace")?;
            let rule = SubRule::new(&search, &replace).map_err(|e| {
                let key = if e.0.starts_with("replacement") {
                    "replace"
                } else {
                    "search"
                };
                w.error(key, e)
            })?;
            rules.push(rule);
        }
        Ok(SearchReplacePlugin {
            config,
            rules: SearchReplace { rules },
        })
    }

    /// The compiled rules.
    pub fn rules(&self) -> &SearchReplace {
        &self.rules
    }
}

#[async_trait]
impl Plugin for SearchReplacePlugin {
    fn config(&self) -> &PluginConfig {
        &self.config
    }

    async fn prompt_pre_fetch(
        &self,
        mut payload: PromptPrehookPayload,
        _ctx: &mut PluginContext,
    ) -> Result<PluginResult, PluginError> {
        let Some(args) = payload.args.as_mut().filter(|a| !a.is_empty()) else {
            return Ok(PluginResult::pass());
        };
        for v in args.values_mut() {
            self.rules.apply_in_place(v);
        }
        Ok(PluginResult::modified(payload))
    }

    async fn prompt_post_fetch(
        &self,
        mut payload: PromptPosthookPayload,
        _ctx: &mut PluginContext,
    ) -> Result<PluginResult, PluginError> {
        let Some(messages) = crate::prompt_messages(&mut payload.result) else {
            return Ok(PluginResult::pass());
        };
        // Python assumes text content and fails on an image; we rewrite text and skip the rest.
        for m in messages.iter_mut() {
            if let Some(Value::String(text)) = m.get_mut("content").and_then(|c| c.get_mut("text"))
            {
                self.rules.apply_in_place(text);
            }
        }
        Ok(PluginResult::modified(payload))
    }

    async fn tool_pre_invoke(
        &self,
        mut payload: ToolPreInvokePayload,
        _ctx: &mut PluginContext,
    ) -> Result<PluginResult, PluginError> {
        let Some(args) = payload.args.as_mut().filter(|a| !a.is_empty()) else {
            return Ok(PluginResult::pass());
        };
        self.rules.apply_top_level(args);
        Ok(PluginResult::modified(payload))
    }

    async fn tool_post_invoke(
        &self,
        mut payload: ToolPostInvokePayload,
        _ctx: &mut PluginContext,
    ) -> Result<PluginResult, PluginError> {
        match &mut payload.result {
            Value::Object(map) if !map.is_empty() => {
                self.rules.apply_top_level(map);
            }
            Value::String(s) if !s.is_empty() => {
                self.rules.apply_in_place(s);
            }
            _ => return Ok(PluginResult::pass()),
        }
        Ok(PluginResult::modified(payload))
    }
}
