//! What the `cpex-output-length-guard` package does unlike the Python output length guard, for
//! entries with a `cpex_output_length_guard` kind:
//!
//! - `max_chars` / `max_tokens` of 0 mean "no maximum" (Python refuses 0); `chars_per_token` is an
//!   integer from 1 to 10; `max_structure_size` (10..=100000, default 10000) and
//!   `max_recursion_depth` (10..=1000, default 100) are enforced on `structuredContent`.
//! - Over those limits, `block` stops the call with `STRUCTURE_SIZE_VIOLATION` or
//!   `STRUCTURE_DEPTH_VIOLATION`; `truncate` leaves that part of the structure unchanged.
//! - In token mode, output over `max_tokens` is blocked with `OUTPUT_TOKEN_VIOLATION` instead of
//!   `OUTPUT_LENGTH_VIOLATION` (under the minimum stays `OUTPUT_LENGTH_VIOLATION`).
//! - `max_text_length` is not implemented: accepted at its default (1000000), refused otherwise.

use plugwire_framework::{JsonMap, PluginError, PluginViolation};
use serde_json::Value;

use crate::cpex::{ranged_int, unimplemented_int};
use crate::settings::Settings;

/// Violation code of a token-limit block.
pub const TOKEN_CODE: &str = "OUTPUT_TOKEN_VIOLATION";
/// Violation code of too large structured content.
pub const STRUCTURE_SIZE_CODE: &str = "STRUCTURE_SIZE_VIOLATION";
/// Violation code of too deeply nested structured content.
pub const STRUCTURE_DEPTH_CODE: &str = "STRUCTURE_DEPTH_VIOLATION";

const PACKAGE: &str = "cpex-output-length-guard";

/// The package's limits on structured content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StructureLimits {
    /// Most nodes a `structuredContent` tree may hold.
    pub max_structure_size: usize,
    /// Deepest nesting a `structuredContent` tree may have.
    pub max_recursion_depth: usize,
}

/// What the walk does with one node of `structuredContent`.
pub(crate) enum Guard {
    /// Within limits: process it.
    Walk,
    /// Over a limit in `truncate` mode: leave it as it is.
    Keep,
    /// Over a limit in `block` mode.
    Block(Box<PluginViolation>),
}

impl StructureLimits {
    pub(crate) fn parse(s: &Settings<'_>) -> Result<Self, PluginError> {
        unimplemented_int(s, "max_text_length", 1_000_000, PACKAGE)?;
        Ok(StructureLimits {
            max_structure_size: ranged_int(s, "max_structure_size", 10_000, 10, 100_000)? as usize,
            max_recursion_depth: ranged_int(s, "max_recursion_depth", 100, 10, 1000)? as usize,
        })
    }

    /// Check one node at `depth` (the structure itself is depth 0) before it is walked.
    pub(crate) fn guard(&self, v: &Value, path: &str, depth: usize, block: bool) -> Guard {
        let location = if path.is_empty() { "root" } else { path };
        let (reason, description, code, details) = if depth > self.max_recursion_depth {
            (
                "Recursion depth exceeds security limit",
                format!(
                    "Nesting depth {depth} exceeds limit of {}",
                    self.max_recursion_depth
                ),
                STRUCTURE_DEPTH_CODE,
                [
                    ("depth", Value::from(depth)),
                    ("max_depth", Value::from(self.max_recursion_depth)),
                ],
            )
        } else {
            let (kind, len) = match v {
                Value::Array(a) => ("List", a.len()),
                Value::Object(m) => ("Dict", m.len()),
                _ => return Guard::Walk,
            };
            if len <= self.max_structure_size {
                return Guard::Walk;
            }
            (
                "Structure size exceeds security limit",
                format!(
                    "{kind} has {len} items, exceeding limit of {}",
                    self.max_structure_size
                ),
                STRUCTURE_SIZE_CODE,
                [
                    ("size", Value::from(len)),
                    ("max_size", Value::from(self.max_structure_size)),
                ],
            )
        };
        tracing::warn!(code, location, "{description}");
        if !block {
            return Guard::Keep;
        }
        let mut d: JsonMap = details.into_iter().map(|(k, v)| (k.into(), v)).collect();
        d.insert("location".into(), Value::from(location));
        let mut violation = PluginViolation::new(reason, description, code).with_details(d);
        violation.http_status_code = Some(422);
        violation.mcp_error_code = Some(-32000);
        Guard::Block(Box::new(violation))
    }
}

/// `max_chars` / `max_tokens` as the package reads them: absent, null or 0 = no maximum.
pub(crate) fn max_or_none(s: &Settings<'_>, key: &str) -> Result<Option<usize>, PluginError> {
    Ok(s.opt_int(key, 0)?.filter(|n| *n > 0).map(|n| n as usize))
}

/// `chars_per_token` as the package reads it: an integer from 1 to 10 (default 4).
pub(crate) fn chars_per_token(s: &Settings<'_>) -> Result<f64, PluginError> {
    Ok(ranged_int(s, "chars_per_token", 4, 1, 10)? as f64)
}
