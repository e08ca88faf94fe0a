//! `PIIFilterPlugin` (Python `plugins.pii_filter.pii_filter` at b896, and the `cpex_pii_filter`
//! package of later releases): detects and masks, or blocks on, personal data in prompt arguments,
//! rendered prompts, tool arguments and tool results.
//!
//! Config keys and defaults are the Python `PIIFilterConfig`'s (every `detect_*` on, `redact`,
//! `[REDACTED]`, no blocking). Tool arguments and results are walked recursively, including JSON
//! documents inside strings. Blocking uses the Python codes `PII_DETECTED` (prompt arguments; the
//! gateway maps it to HTTP 422), `PII_DETECTED_IN_TOOL_ARGS` and `PII_DETECTED_IN_TOOL_RESULT`.
//! Detection summaries go to `context.metadata["pii_detections"]` as in Python; values never do,
//! and logs carry types only.
//!
//! The `cpex_pii_filter` kinds follow that package where it differs ([`Flavor::Cpex`]): 11
//! detectors (no AWS/API keys; those keys are ignored, as the package ignores unknown keys),
//! `log_detections` and `include_detection_details` off by default, an unknown masking strategy
//! means `redact`, a custom pattern needs a `description`, and the input limits
//! ([`limits::Limits`]) are enforced.

pub mod detect;
pub mod limits;
pub mod types;
pub mod walk;

use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use plugwire_framework::{
    JsonMap, ModifiedPayload, Plugin, PluginConfig, PluginContext, PluginError, PluginErrorKind,
    PluginResult, PluginViolation, PromptPosthookPayload, PromptPrehookPayload,
    ToolPostInvokePayload, ToolPreInvokePayload,
};
use serde_json::{json, Value};

use crate::cpex::Flavor;
use crate::settings::Settings;
pub use detect::{CustomPattern, Detection, Detectors, MaskStrategy, PiiDetector, PiiType};
pub use walk::{Found, Walker};

/// Our short kind.
pub const KIND: &str = "pii_filter";
/// The in-tree Python kind path (b896).
pub const PYTHON_KIND: &str = "plugins.pii_filter.pii_filter.PIIFilterPlugin";
/// The `cpex-pii-filter` package's top-level kind (upstream `plugins/config.yaml` since 6f2).
pub const CPEX_KIND: &str = crate::cpex::PII_KINDS[1];
/// The `cpex-pii-filter` package's canonical kind.
pub const CPEX_CANONICAL_KIND: &str = crate::cpex::PII_KINDS[0];

/// Violation code of a block on prompt arguments.
pub const CODE_PROMPT: &str = "PII_DETECTED";
/// Violation code of a block on tool arguments.
pub const CODE_TOOL_ARGS: &str = "PII_DETECTED_IN_TOOL_ARGS";
/// Violation code of a block on a tool result.
pub const CODE_TOOL_RESULT: &str = "PII_DETECTED_IN_TOOL_RESULT";

const DETECT_KEYS: [&str; 13] = [
    "detect_ssn",
    "detect_bsn",
    "detect_credit_card",
    "detect_email",
    "detect_phone",
    "detect_ip_address",
    "detect_date_of_birth",
    "detect_passport",
    "detect_driver_license",
    "detect_bank_account",
    "detect_medical_record",
    "detect_aws_keys",
    "detect_api_keys",
];

const OTHER_KEYS: [&str; 11] = [
    "default_mask_strategy",
    "redaction_text",
    "block_on_detection",
    "log_detections",
    "include_detection_details",
    "custom_patterns",
    "whitelist_patterns",
    "credit_card_luhn_check",
    // cpex-pii-filter limits: accepted so its configs load; we scan everything in linear time.
    "max_text_bytes",
    "max_nested_depth",
    "max_collection_items",
];

/// The keys `cpex-pii-filter` reads (its manifest's `default_configs`).
const CPEX_KEYS: [&str; 19] = [
    "detect_ssn",
    "detect_bsn",
    "detect_credit_card",
    "detect_email",
    "detect_phone",
    "detect_ip_address",
    "detect_date_of_birth",
    "detect_passport",
    "detect_driver_license",
    "detect_bank_account",
    "detect_medical_record",
    "default_mask_strategy",
    "redaction_text",
    "block_on_detection",
    "log_detections",
    "include_detection_details",
    "max_text_bytes",
    "max_nested_depth",
    "max_collection_items",
];
/// `custom_patterns` and `whitelist_patterns`, read by both flavours.
const CPEX_LIST_KEYS: [&str; 2] = ["custom_patterns", "whitelist_patterns"];

/// The parsed `config:` block.
#[derive(Debug, Clone)]
pub struct PiiFilterSettings {
    /// Which built-in detectors run.
    pub detectors: Detectors,
    /// Masking of built-in detections.
    pub default_mask_strategy: MaskStrategy,
    /// Text of the `redact` strategy.
    pub redaction_text: String,
    /// Block instead of masking.
    pub block_on_detection: bool,
    /// Log each detection (types and counts, never values).
    pub log_detections: bool,
    /// Put types and counts in the result metadata.
    pub include_detection_details: bool,
    /// Extra patterns.
    pub custom_patterns: Vec<CustomPattern>,
    /// Matches of these are never reported.
    pub whitelist_patterns: Vec<String>,
    /// Whose behaviour this entry follows (from its kind).
    pub flavor: Flavor,
    /// The package's input limits (cpex kinds only).
    pub limits: Option<limits::Limits>,
}

impl PiiFilterSettings {
    fn parse(config: &PluginConfig, flavor: Flavor) -> Result<Self, PluginError> {
        let known: Vec<&str> = match flavor {
            Flavor::Python => DETECT_KEYS
                .iter()
                .chain(OTHER_KEYS.iter())
                .copied()
                .collect(),
            Flavor::Cpex => CPEX_KEYS
                .iter()
                .chain(CPEX_LIST_KEYS.iter())
                .copied()
                .collect(),
        };
        let cpex = flavor.is_cpex();
        let s = Settings::new(config, "PIIFilterPlugin", &known);
        let b = |k: &str| s.bool(k, true);
        let detectors = Detectors {
            ssn: b("detect_ssn")?,
            bsn: b("detect_bsn")?,
            credit_card: b("detect_credit_card")?,
            email: b("detect_email")?,
            phone: b("detect_phone")?,
            ip_address: b("detect_ip_address")?,
            date_of_birth: b("detect_date_of_birth")?,
            passport: b("detect_passport")?,
            driver_license: b("detect_driver_license")?,
            bank_account: b("detect_bank_account")?,
            medical_record: b("detect_medical_record")?,
            // The package has no AWS/API key detectors.
            aws_keys: !cpex && b("detect_aws_keys")?,
            api_keys: !cpex && b("detect_api_keys")?,
            luhn_check: b("credit_card_luhn_check")?,
        };
        let default_mask_strategy = mask_strategy(&s, "default_mask_strategy", cpex)?;
        let limits = if cpex {
            Some(limits::Limits::parse(&s)?)
        } else {
            // Accepted so the package's configs load under the Python kinds too; not enforced.
            for k in ["max_text_bytes", "max_nested_depth", "max_collection_items"] {
                s.opt_int(k, 0)?;
            }
            None
        };
        let custom_patterns = custom_patterns(&s, default_mask_strategy, cpex)?;
        Ok(PiiFilterSettings {
            detectors,
            default_mask_strategy,
            redaction_text: s.string("redaction_text", "[REDACTED]")?,
            block_on_detection: s.bool("block_on_detection", false)?,
            log_detections: s.bool("log_detections", !cpex)?,
            include_detection_details: s.bool("include_detection_details", !cpex)?,
            custom_patterns,
            whitelist_patterns: s.string_list("whitelist_patterns")?,
            flavor,
            limits,
        })
    }
}

/// A masking strategy key. The package reads an unknown strategy as `redact`; Python refuses it.
fn mask_strategy(set: &Settings<'_>, key: &str, cpex: bool) -> Result<MaskStrategy, PluginError> {
    match set.string(key, "redact")?.parse::<MaskStrategy>() {
        Err(_) if cpex => Ok(MaskStrategy::Redact),
        other => other.map_err(|e| set.error(key, e)),
    }
}

/// The `custom_patterns` list (the package requires a `description` on each).
fn custom_patterns(
    s: &Settings<'_>,
    default_mask_strategy: MaskStrategy,
    cpex: bool,
) -> Result<Vec<CustomPattern>, PluginError> {
    let mut out = Vec::new();
    for (i, item) in s
        .object_list("custom_patterns")?
        .unwrap_or_default()
        .into_iter()
        .enumerate()
    {
        let c = s.nested(item, format!("custom_patterns[{i}]."));
        let pii_type = c
            .string("type", "custom")?
            .parse::<PiiType>()
            .map_err(|e| c.error("type", e))?;
        let pattern = c.required_string("pattern")?;
        // Python defaults a custom pattern to `redact`; an explicit `default_mask_strategy`
        // is what an operator expects to apply when the pattern names none.
        let strategy = if c.raw("mask_strategy").is_some() {
            mask_strategy(&c, "mask_strategy", cpex)?
        } else if s.raw("default_mask_strategy").is_some() {
            default_mask_strategy
        } else {
            MaskStrategy::Redact
        };
        let enabled = c.bool("enabled", true)?;
        if cpex {
            c.required_string("description")?;
        } else {
            c.opt_string("description")?;
        }
        out.push(CustomPattern {
            pii_type,
            pattern,
            strategy,
            enabled,
        });
    }
    Ok(out)
}

/// The plugin.
#[derive(Debug)]
pub struct PiiFilterPlugin {
    config: PluginConfig,
    settings: PiiFilterSettings,
    detector: PiiDetector,
    detections: AtomicU64,
    masked: AtomicU64,
}

fn type_names(types: &[PiiType]) -> Vec<Value> {
    types
        .iter()
        .map(|t| Value::String(t.as_str().to_owned()))
        .collect()
}

impl PiiFilterPlugin {
    /// Builds the plugin from its entry; a bad `config:` is an error naming the key.
    pub fn new(config: PluginConfig) -> Result<Self, PluginError> {
        let flavor = Flavor::of(&config.kind, &crate::cpex::PII_KINDS);
        let settings = PiiFilterSettings::parse(&config, flavor)?;
        let detector = PiiDetector::new(
            &settings.detectors,
            &settings.custom_patterns,
            &settings.whitelist_patterns,
            &settings.redaction_text,
        )
        .map_err(|(i, whitelist, msg)| {
            let key = if whitelist {
                format!("whitelist_patterns[{i}]")
            } else {
                format!("custom_patterns[{i}].pattern")
            };
            crate::settings::config_error(&config, "PIIFilterPlugin", &key, msg)
        })?;
        Ok(PiiFilterPlugin {
            config,
            settings,
            detector,
            detections: AtomicU64::new(0),
            masked: AtomicU64::new(0),
        })
    }

    /// The compiled detector (usable without the framework).
    pub fn detector(&self) -> &PiiDetector {
        &self.detector
    }

    /// The parsed settings.
    pub fn settings(&self) -> &PiiFilterSettings {
        &self.settings
    }

    /// The package's input limits (cpex kinds): over a limit the call fails, as the package raises.
    fn within_limits(
        &self,
        check: impl FnOnce(&limits::Limits) -> Result<(), String>,
    ) -> Result<(), PluginError> {
        let Some(l) = &self.settings.limits else {
            return Ok(());
        };
        check(l).map_err(|m| {
            tracing::warn!(plugin = %self.config.name, "PII scan refused: {m}");
            PluginError::new(PluginErrorKind::Plugin, self.config.name.clone(), m)
        })
    }

    fn count(&self, n: usize, masked: bool) {
        self.detections.fetch_add(n as u64, Ordering::Relaxed);
        if masked {
            self.masked.fetch_add(n as u64, Ordering::Relaxed);
        }
    }

    fn log(&self, place: &str, types: &[PiiType]) {
        if self.settings.log_detections {
            let names: Vec<&str> = types.iter().map(|t| t.as_str()).collect();
            tracing::warn!(plugin = %self.config.name, "PII detected in {place}: {}", names.join(", "));
        }
    }

    /// Record a summary under `context.metadata["pii_detections"][section]`.
    fn record(&self, ctx: &mut PluginContext, section: &str, list_key: &str, w: &Walker<'_>) {
        if !self.settings.include_detection_details || w.found.is_empty() {
            return;
        }
        let places: Vec<Value> = w
            .found
            .iter()
            .map(|f| Value::String(f.path.clone()))
            .collect();
        let summary = json!({
            "detected": true,
            list_key: places,
            "types": type_names(&w.types()),
            "total_count": w.total(),
        });
        let entry = ctx
            .metadata
            .entry("pii_detections")
            .or_insert_with(|| Value::Object(JsonMap::new()));
        if !entry.is_object() {
            *entry = Value::Object(JsonMap::new());
        }
        if let Value::Object(m) = entry {
            m.insert(section.to_owned(), summary);
        }
    }

    fn stats(&self, ctx: &mut PluginContext) {
        ctx.metadata.insert(
            "pii_filter_stats".into(),
            json!({
                "total_detections": self.detections.load(Ordering::Relaxed),
                "total_masked": self.masked.load(Ordering::Relaxed),
            }),
        );
    }
}

#[async_trait]
impl Plugin for PiiFilterPlugin {
    fn config(&self) -> &PluginConfig {
        &self.config
    }

    async fn prompt_pre_fetch(
        &self,
        mut payload: PromptPrehookPayload,
        ctx: &mut PluginContext,
    ) -> Result<PluginResult, PluginError> {
        let Some(args) = payload.args.as_mut().filter(|a| !a.is_empty()) else {
            return Ok(PluginResult::pass());
        };
        self.within_limits(|l| {
            l.size(args.len(), "mapping")?;
            args.values().try_for_each(|a| l.text(a))
        })?;
        let mut w = Walker::new(&self.detector);
        for (key, value) in args.iter_mut() {
            let before = w.found.len();
            let masked = w.string(value, key, usize::MAX);
            let Some(masked) = masked else { continue };
            let found = &w.found[before..];
            let mut types: Vec<PiiType> = found.iter().flat_map(|f| f.types.clone()).collect();
            types.sort();
            types.dedup();
            let count: usize = found.iter().map(|f| f.count).sum();
            self.log(&format!("prompt argument '{key}'"), &types);
            if self.settings.block_on_detection {
                self.count(count, false);
                let mut details = JsonMap::new();
                details.insert("field".into(), Value::String(key.clone()));
                details.insert("types".into(), Value::Array(type_names(&types)));
                details.insert("count".into(), Value::from(count));
                return Ok(PluginResult::block(
                    PluginViolation::new(
                        "PII detected in prompt",
                        format!("Sensitive information detected in argument '{key}'"),
                        CODE_PROMPT,
                    )
                    .with_details(details),
                ));
            }
            self.count(count, true);
            *value = masked;
        }
        if w.found.is_empty() {
            return Ok(PluginResult::pass());
        }
        // Python replaces the whole `pii_detections` entry here (this is the first hook of a request).
        ctx.metadata.remove("pii_detections");
        self.record(ctx, "pre_fetch", "fields", &w);
        Ok(PluginResult::modified(payload))
    }

    async fn prompt_post_fetch(
        &self,
        mut payload: PromptPosthookPayload,
        ctx: &mut PluginContext,
    ) -> Result<PluginResult, PluginError> {
        let Some(messages) = crate::prompt_messages(&mut payload.result) else {
            return Ok(PluginResult::pass());
        };
        self.within_limits(|l| l.collection(messages.iter(), "list", 0))?;
        let mut w = Walker::new(&self.detector);
        for m in messages.iter_mut() {
            let role = m
                .get("role")
                .and_then(Value::as_str)
                .unwrap_or("unknown")
                .to_owned();
            if let Some(Value::String(text)) = m.get_mut("content").and_then(|c| c.get_mut("text"))
            {
                if let Some(masked) = w.string(text, &format!("message_{role}"), usize::MAX) {
                    *text = masked;
                }
            }
        }
        let changed = !w.found.is_empty();
        if changed {
            self.count(w.total(), true);
            self.log("rendered prompt", &w.types());
            self.record(ctx, "post_fetch", "messages", &w);
        }
        self.stats(ctx);
        Ok(modified_if(changed, payload))
    }

    async fn tool_pre_invoke(
        &self,
        mut payload: ToolPreInvokePayload,
        ctx: &mut PluginContext,
    ) -> Result<PluginResult, PluginError> {
        let Some(args) = payload.args.as_mut().filter(|a| !a.is_empty()) else {
            return Ok(PluginResult::pass());
        };
        self.within_limits(|l| l.collection(args.values(), "mapping", 0))?;
        let mut w = Walker::new(&self.detector);
        let mut changed = false;
        for (k, v) in args.iter_mut() {
            changed |= w.value(v, &format!("args.{k}"), 0);
        }
        if w.found.is_empty() {
            return Ok(PluginResult::pass());
        }
        let types = w.types();
        self.log(&format!("arguments of tool '{}'", payload.name), &types);
        if self.settings.block_on_detection {
            self.count(w.total(), false);
            let mut details = JsonMap::new();
            details.insert("detected_types".into(), Value::Array(type_names(&types)));
            details.insert("total_count".into(), Value::from(w.total()));
            return Ok(PluginResult::block(
                PluginViolation::new(
                    "PII detected in tool arguments",
                    "Detected PII in tool arguments",
                    CODE_TOOL_ARGS,
                )
                .with_details(details),
            ));
        }
        self.count(w.total(), true);
        self.record(ctx, "tool_pre_invoke", "arguments", &w);
        Ok(modified_if(changed, payload))
    }

    async fn tool_post_invoke(
        &self,
        mut payload: ToolPostInvokePayload,
        ctx: &mut PluginContext,
    ) -> Result<PluginResult, PluginError> {
        self.within_limits(|l| l.value(&payload.result, 0))?;
        let is_string = payload.result.is_string();
        let mut w = Walker::new(&self.detector);
        let changed = w.value(&mut payload.result, "result", 0);
        if !w.found.is_empty() {
            let types = w.types();
            self.log(&format!("result of tool '{}'", payload.name), &types);
            if self.settings.block_on_detection {
                self.count(w.total(), false);
                let mut details = JsonMap::new();
                details.insert("detected_types".into(), Value::Array(type_names(&types)));
                let description = if is_string {
                    details.insert("count".into(), Value::from(w.total()));
                    let names: Vec<&str> = types.iter().map(|t| t.as_str()).collect();
                    format!("Detected {} in tool output", names.join(", "))
                } else {
                    details.insert("total_count".into(), Value::from(w.total()));
                    "Detected PII in nested tool result data".to_owned()
                };
                return Ok(PluginResult::block(
                    PluginViolation::new(
                        "PII detected in tool result",
                        description,
                        CODE_TOOL_RESULT,
                    )
                    .with_details(details),
                ));
            }
            self.count(w.total(), true);
            self.record(ctx, "tool_post_invoke", "fields", &w);
        }
        self.stats(ctx);
        Ok(modified_if(changed, payload))
    }
}

/// The payload as modified when a field was masked, else a pass (nothing to send back).
fn modified_if(changed: bool, payload: impl Into<ModifiedPayload>) -> PluginResult {
    if changed {
        PluginResult::modified(payload)
    } else {
        PluginResult::pass()
    }
}
