//! `OutputLengthGuardPlugin` (Python `plugins.output_length_guard.output_length_guard`): keeps tool
//! output within length bounds, by truncating it or by blocking the call.
//!
//! Lengths are counted in characters (`limit_mode: character`, `min_chars`/`max_chars`) or in
//! estimated tokens (`limit_mode: token`, `min_tokens`/`max_tokens`, one token per
//! `chars_per_token` characters, rounded up). Handled result shapes, as in Python: an MCP
//! `CallToolResult` object (`content[]` text items, or `structuredContent` walked recursively with
//! `content` regenerated from it), a string, an object with a top-level `text`, a list of content
//! items, a list of strings. Strings that are numbers are never cut. `truncate` only shortens
//! over-long text (short text passes, annotated in metadata); `block` stops the call with code
//! `OUTPUT_LENGTH_VIOLATION` (HTTP 422, MCP -32000) when text is out of bounds either way.
//! The `cpex_output_length_guard` kinds follow that package where it differs ([`crate::olg_cpex`]).

use async_trait::async_trait;
use plugwire_framework::{
    JsonMap, Plugin, PluginConfig, PluginContext, PluginError, PluginResult, PluginViolation,
    ToolPostInvokePayload,
};
use serde_json::{json, Value};

use crate::cpex::Flavor;
use crate::olg_cpex::{self, Guard, StructureLimits};
use crate::olg_text::is_numeric;
pub use crate::olg_text::truncate;
use crate::settings::Settings;

/// Our short kind.
pub const KIND: &str = "output_length_guard";
/// The Python kind path.
pub const PYTHON_KIND: &str =
    "plugins.output_length_guard.output_length_guard.OutputLengthGuardPlugin";
/// The violation code.
pub const CODE: &str = "OUTPUT_LENGTH_VIOLATION";

/// Truncate or block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// Cut the text down to `max_chars`.
    Truncate,
    /// Refuse the answer.
    Block,
}

/// Characters or estimated tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitMode {
    /// Limits count characters.
    Character,
    /// Limits count estimated tokens (`chars_per_token`).
    Token,
}

/// The parsed `config:` block.
#[derive(Debug, Clone)]
pub struct LengthSettings {
    /// Shorter answers are blocked (0 = no minimum).
    pub min_chars: usize,
    /// Longer answers are truncated or blocked.
    pub max_chars: Option<usize>,
    /// Token-mode minimum.
    pub min_tokens: usize,
    /// Token-mode maximum.
    pub max_tokens: Option<usize>,
    /// How many characters count as one token.
    pub chars_per_token: f64,
    /// Characters or tokens.
    pub limit_mode: LimitMode,
    /// What happens above the maximum.
    pub strategy: Strategy,
    /// Appended to truncated text.
    pub ellipsis: String,
    /// Truncate at a word boundary.
    pub word_boundary: bool,
    /// Whose behaviour this entry follows (from its kind).
    pub flavor: Flavor,
    /// The package's `structuredContent` limits (cpex kinds only).
    pub structure: Option<StructureLimits>,
}

const KEYS: [&str; 12] = [
    "min_chars",
    "max_chars",
    "min_tokens",
    "max_tokens",
    "chars_per_token",
    "limit_mode",
    "strategy",
    "ellipsis",
    "word_boundary",
    // Safety limits of the Python version: accepted so its configs load (we walk in linear time).
    "max_text_length",
    "max_structure_size",
    "max_recursion_depth",
];

impl LengthSettings {
    fn parse(config: &PluginConfig, flavor: Flavor) -> Result<Self, PluginError> {
        let s = Settings::new(config, "OutputLengthGuardPlugin", &KEYS);
        let usize_of = |k: &str, min: i64| -> Result<Option<usize>, PluginError> {
            Ok(s.opt_int(k, min)?.map(|n| n as usize))
        };
        let cpex = flavor.is_cpex();
        let min_chars = usize_of("min_chars", 0)?.unwrap_or(0);
        let min_tokens = usize_of("min_tokens", 0)?.unwrap_or(0);
        let (max_chars, max_tokens, structure) = if cpex {
            let max = |k: &str| olg_cpex::max_or_none(&s, k);
            let limits = StructureLimits::parse(&s)?;
            (max("max_chars")?, max("max_tokens")?, Some(limits))
        } else {
            // Accepted so the Python plugin's later configs load; not enforced.
            for k in [
                "max_text_length",
                "max_structure_size",
                "max_recursion_depth",
            ] {
                s.opt_int(k, 1)?;
            }
            (usize_of("max_chars", 1)?, usize_of("max_tokens", 1)?, None)
        };
        let chars_per_token = match cpex {
            true => olg_cpex::chars_per_token(&s)?,
            false => s.opt_float("chars_per_token")?.unwrap_or(4.0),
        };
        if !(chars_per_token.is_finite() && chars_per_token > 0.0) {
            return Err(s.error("chars_per_token", "must be a positive number (default 4)"));
        }
        let (limit_mode, strategy) = modes(&s)?;
        if let Some(max) = max_chars {
            if min_chars > max {
                return Err(s.error(
                    "min_chars",
                    format!("min_chars ({min_chars}) cannot be greater than max_chars ({max})"),
                ));
            }
        }
        if let Some(max) = max_tokens {
            if min_tokens > max {
                return Err(s.error(
                    "min_tokens",
                    format!("min_tokens ({min_tokens}) cannot be greater than max_tokens ({max})"),
                ));
            }
        }
        Ok(LengthSettings {
            min_chars,
            max_chars,
            min_tokens,
            max_tokens,
            chars_per_token,
            limit_mode,
            strategy,
            ellipsis: s.string("ellipsis", "…")?,
            word_boundary: s.bool("word_boundary", false)?,
            flavor,
            structure,
        })
    }

    /// (min, max) in the active unit.
    fn bounds(&self) -> (usize, Option<usize>) {
        match self.limit_mode {
            LimitMode::Character => (self.min_chars, self.max_chars),
            LimitMode::Token => (self.min_tokens, self.max_tokens),
        }
    }

    /// Length of `chars` characters in the active unit.
    fn measure(&self, chars: usize) -> usize {
        match self.limit_mode {
            LimitMode::Character => chars,
            // The package rounds the estimate down, the Python plugin up.
            LimitMode::Token if self.flavor.is_cpex() => chars / self.chars_per_token as usize,
            LimitMode::Token => (chars as f64 / self.chars_per_token).ceil() as usize,
        }
    }

    /// The character budget for a maximum in the active unit.
    fn char_budget(&self, max: usize) -> usize {
        match self.limit_mode {
            LimitMode::Character => max,
            LimitMode::Token => (max as f64 * self.chars_per_token).floor() as usize,
        }
    }
}

/// `limit_mode` and `strategy`.
fn modes(s: &Settings<'_>) -> Result<(LimitMode, Strategy), PluginError> {
    let limit_mode = match s
        .string("limit_mode", "character")?
        .trim()
        .to_ascii_lowercase()
        .as_str()
    {
        "character" | "characters" | "char" | "chars" => LimitMode::Character,
        "token" | "tokens" => LimitMode::Token,
        other => {
            return Err(s.error(
                "limit_mode",
                format!("{other:?} is not one of: character, token"),
            ))
        }
    };
    let strategy = match s
        .string("strategy", "truncate")?
        .trim()
        .to_ascii_lowercase()
        .as_str()
    {
        "truncate" => Strategy::Truncate,
        "block" => Strategy::Block,
        other => {
            return Err(s.error(
                "strategy",
                format!("invalid strategy {other:?}; must be one of: block, truncate"),
            ))
        }
    };
    Ok((limit_mode, strategy))
}

/// The plugin.
#[derive(Debug)]
pub struct OutputLengthGuardPlugin {
    config: PluginConfig,
    settings: LengthSettings,
}

/// Outcome for one string.
struct Checked {
    text: Option<String>,
    meta: JsonMap,
    violation: Option<PluginViolation>,
}

impl OutputLengthGuardPlugin {
    /// Builds the plugin from its entry; a bad `config:` is an error naming the key.
    pub fn new(config: PluginConfig) -> Result<Self, PluginError> {
        let flavor = Flavor::of(&config.kind, &crate::cpex::OUTPUT_LENGTH_GUARD_KINDS);
        let settings = LengthSettings::parse(&config, flavor)?;
        Ok(OutputLengthGuardPlugin { config, settings })
    }

    /// The parsed settings.
    pub fn settings(&self) -> &LengthSettings {
        &self.settings
    }

    fn violation(&self, length: usize, location: Option<&str>) -> PluginViolation {
        let (min, max) = self.settings.bounds();
        let strategy = match self.settings.strategy {
            Strategy::Block => "block",
            Strategy::Truncate => "truncate",
        };
        let shown_max = max.map_or("None".to_owned(), |m| m.to_string());
        let at = location.map(|l| format!(" at {l}")).unwrap_or_default();
        let mut details = JsonMap::new();
        details.insert("length".into(), Value::from(length));
        details.insert("min".into(), Value::from(min));
        details.insert("max".into(), max.map_or(Value::Null, Value::from));
        details.insert("strategy".into(), Value::from(strategy));
        if let Some(l) = location {
            details.insert("location".into(), Value::from(l));
        }
        let over_tokens = self.settings.flavor.is_cpex()
            && self.settings.limit_mode == LimitMode::Token
            && max.is_some_and(|m| length > m);
        let code = if over_tokens {
            olg_cpex::TOKEN_CODE
        } else {
            CODE
        };
        let mut v = PluginViolation::new(
            "Output length out of bounds",
            format!("Result length {length} not in [{min}, {shown_max}]{at}"),
            code,
        )
        .with_details(details);
        v.http_status_code = Some(422);
        v.mcp_error_code = Some(-32000);
        v
    }

    /// Check one string: new text when truncated, metadata, violation when blocking.
    fn check(&self, text: &str, location: Option<&str>) -> Checked {
        let chars = text.chars().count();
        let mut meta = JsonMap::new();
        meta.insert("original_length".into(), Value::from(chars));
        if is_numeric(text) {
            meta.insert("numeric".into(), Value::Bool(true));
            meta.insert("within_bounds".into(), Value::Bool(true));
            return Checked {
                text: None,
                meta,
                violation: None,
            };
        }
        let (min, max) = self.settings.bounds();
        let length = self.settings.measure(chars);
        let below = min > 0 && length < min;
        let above = max.is_some_and(|m| length > m);
        meta.insert("within_bounds".into(), Value::Bool(!(below || above)));
        if !(below || above) {
            return Checked {
                text: None,
                meta,
                violation: None,
            };
        }
        if self.settings.strategy == Strategy::Block {
            return Checked {
                text: None,
                meta,
                violation: Some(self.violation(length, location)),
            };
        }
        match max {
            Some(m) if above => {
                let budget = self.settings.char_budget(m);
                let new = truncate(
                    text,
                    budget,
                    &self.settings.ellipsis,
                    self.settings.word_boundary,
                );
                meta.insert("truncated".into(), Value::Bool(true));
                meta.insert("new_length".into(), Value::from(new.chars().count()));
                Checked {
                    text: Some(new),
                    meta,
                    violation: None,
                }
            }
            _ => {
                meta.insert("truncated".into(), Value::Bool(false));
                Checked {
                    text: None,
                    meta,
                    violation: None,
                }
            }
        }
    }

    /// Walk structured content at `depth`; `Err` on the first violation.
    fn walk(&self, v: &mut Value, path: &str, depth: usize) -> Result<bool, Box<PluginViolation>> {
        if let Some(limits) = &self.settings.structure {
            match limits.guard(v, path, depth, self.settings.strategy == Strategy::Block) {
                Guard::Walk => {}
                Guard::Keep => return Ok(false),
                Guard::Block(violation) => return Err(violation),
            }
        }
        match v {
            Value::String(s) => {
                let loc = if path.is_empty() { "root" } else { path };
                let c = self.check(s, Some(loc));
                if let Some(violation) = c.violation {
                    return Err(Box::new(violation));
                }
                match c.text {
                    Some(t) => {
                        *s = t;
                        Ok(true)
                    }
                    None => Ok(false),
                }
            }
            Value::Array(items) => {
                let mut changed = false;
                for (i, item) in items.iter_mut().enumerate() {
                    changed |= self.walk(item, &format!("{path}[{i}]"), depth + 1)?;
                }
                Ok(changed)
            }
            Value::Object(map) => {
                let mut changed = false;
                for (k, item) in map.iter_mut() {
                    let p = if path.is_empty() {
                        k.clone()
                    } else {
                        format!("{path}.{k}")
                    };
                    changed |= self.walk(item, &p, depth + 1)?;
                }
                Ok(changed)
            }
            _ => Ok(false),
        }
    }

    /// Text items of an MCP content list; `Err` on a violation (with that item's metadata).
    fn content_items(&self, items: &mut [Value]) -> Result<bool, Box<(PluginViolation, JsonMap)>> {
        let mut changed = false;
        for item in items.iter_mut() {
            if item.get("type").and_then(Value::as_str) != Some("text") {
                continue;
            }
            if let Some(Value::String(text)) = item.get_mut("text") {
                let c = self.check(text, None);
                if let Some(v) = c.violation {
                    return Err(Box::new((v, c.meta)));
                }
                if let Some(t) = c.text {
                    *text = t;
                    changed = true;
                }
            }
        }
        Ok(changed)
    }
}

/// Text shown in `content` after `structuredContent` was cut: a single-key object shows its value,
/// a string itself, anything else compact JSON (as Python does).
fn text_representation(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Object(m) if m.len() == 1 => m
            .values()
            .next()
            .map(text_representation)
            .unwrap_or_default(),
        other => serde_json::to_string(other).unwrap_or_default(),
    }
}

fn with_meta(mut r: PluginResult, meta: JsonMap) -> PluginResult {
    r.metadata = Some(meta);
    r
}

fn obj(v: Value) -> JsonMap {
    match v {
        Value::Object(m) => m,
        _ => JsonMap::new(),
    }
}

/// What the guard decided about one tool result (changed in place when `Changed`).
enum Verdict {
    /// Too long (or too short) with `strategy: block`.
    Block(Box<PluginViolation>, JsonMap),
    /// Truncated in place; the metadata says what was done.
    Changed(JsonMap),
    /// Checked and left as it was.
    Unchanged(JsonMap),
    /// Nothing the guard reads (an object without `text`): no metadata either.
    Pass,
}

impl Verdict {
    fn of(changed: bool, meta: JsonMap) -> Self {
        if changed {
            Verdict::Changed(meta)
        } else {
            Verdict::Unchanged(meta)
        }
    }
}

impl OutputLengthGuardPlugin {
    /// Dispatches on the shape of the result, as the Python plugin does.
    fn verdict(&self, result: &mut Value) -> Verdict {
        match result {
            // An MCP CallToolResult.
            Value::Object(map) if map.get("content").is_some_and(Value::is_array) => {
                self.call_tool_result(map)
            }
            Value::String(s) => self.one_text(s),
            Value::Object(map) => match map.get_mut("text") {
                Some(Value::String(text)) => self.one_text(text),
                _ => Verdict::Pass,
            },
            Value::Array(items) if items.first().is_some_and(|f| f.get("type").is_some()) => {
                match self.content_items(items) {
                    Err(e) => {
                        let (v, meta) = *e;
                        Verdict::Block(Box::new(v), meta)
                    }
                    Ok(changed) => {
                        Verdict::of(changed, obj(json!({"mcp_content_processed": true})))
                    }
                }
            }
            Value::Array(items) if items.iter().all(Value::is_string) => self.string_list(items),
            other => {
                let kind = match other {
                    Value::Null => "NoneType",
                    Value::Bool(_) => "bool",
                    Value::Number(_) => "number",
                    _ => "list",
                };
                Verdict::Unchanged(obj(
                    json!({"skipped": true, "reason": format!("unsupported_type_{kind}")}),
                ))
            }
        }
    }

    /// A CallToolResult: its structured content when present (the text content is then
    /// rewritten from it), else each content item.
    fn call_tool_result(&self, map: &mut JsonMap) -> Verdict {
        let struct_key = ["structuredContent", "structured_content"]
            .into_iter()
            .find(|k| map.get(*k).is_some_and(|v| !v.is_null()));
        if let Some(key) = struct_key {
            let mut structured = map.get(key).cloned().unwrap_or(Value::Null);
            return match self.walk(&mut structured, "", 0) {
                Err(v) => Verdict::Block(
                    v,
                    obj(json!({"structured_content_blocked": true, "location": key})),
                ),
                Ok(false) => Verdict::Unchanged(obj(
                    json!({"mcp_result_processed": true, "items_modified": false, "structured_content_processed": false}),
                )),
                Ok(true) => {
                    let text = text_representation(&structured);
                    map.insert(key.to_owned(), structured);
                    map.insert("content".into(), json!([{"type": "text", "text": text}]));
                    Verdict::Changed(obj(
                        json!({"mcp_result_processed": true, "items_modified": true, "structured_content_processed": true}),
                    ))
                }
            };
        }
        let items = map.get_mut("content").and_then(Value::as_array_mut);
        let changed = match items.map(|i| self.content_items(i)) {
            Some(Err(e)) => {
                let (v, meta) = *e;
                return Verdict::Block(Box::new(v), meta);
            }
            Some(Ok(c)) => c,
            None => false,
        };
        Verdict::of(
            changed,
            obj(json!({"mcp_result_processed": true, "items_modified": changed})),
        )
    }

    /// One text, truncated in place when needed.
    fn one_text(&self, text: &mut String) -> Verdict {
        let c = self.check(text, None);
        if let Some(v) = c.violation {
            return Verdict::Block(Box::new(v), c.meta);
        }
        match c.text {
            Some(t) => {
                *text = t;
                Verdict::Changed(c.meta)
            }
            None => Verdict::Unchanged(c.meta),
        }
    }

    /// A list of strings: each checked; the first block stops with its index.
    fn string_list(&self, items: &mut [Value]) -> Verdict {
        let mut metas = Vec::with_capacity(items.len());
        let mut changed = false;
        let total = items.len();
        for (idx, item) in items.iter_mut().enumerate() {
            let Value::String(s) = item else { continue };
            let c = self.check(s, None);
            metas.push(Value::Object(c.meta));
            if let Some(v) = c.violation {
                return Verdict::Block(
                    Box::new(v),
                    obj(json!({"items": metas, "violation_index": idx, "total_items": total})),
                );
            }
            if let Some(t) = c.text {
                *s = t;
                changed = true;
            }
        }
        Verdict::of(changed, obj(json!({"items": metas})))
    }
}

#[async_trait]
impl Plugin for OutputLengthGuardPlugin {
    fn config(&self) -> &PluginConfig {
        &self.config
    }

    async fn tool_post_invoke(
        &self,
        mut payload: ToolPostInvokePayload,
        _ctx: &mut PluginContext,
    ) -> Result<PluginResult, PluginError> {
        Ok(match self.verdict(&mut payload.result) {
            Verdict::Block(v, meta) => with_meta(PluginResult::block(*v), meta),
            Verdict::Changed(meta) => with_meta(PluginResult::modified(payload), meta),
            Verdict::Unchanged(meta) => with_meta(PluginResult::pass(), meta),
            Verdict::Pass => PluginResult::pass(),
        })
    }
}
