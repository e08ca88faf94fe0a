//! The input limits of the `cpex-pii-filter` package (`max_text_bytes`, `max_nested_depth`,
//! `max_collection_items`). The package refuses to scan input over a limit and raises an error
//! instead, so the plugin call fails and the plugin's mode / `on_error` decides what happens to the
//! request; we do the same, with the package's messages. The Python plugin has no such limits.

use plugwire_framework::PluginError;
use serde_json::Value;

use crate::cpex::ranged_int;
use crate::settings::Settings;

/// The three limits, checked at start-up against the package's ranges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest string scanned, in UTF-8 bytes (default 10 MiB, at most 100 MiB).
    pub max_text_bytes: usize,
    /// Deepest nesting scanned; the top-level value is depth 0 (default 32, at most 1000).
    pub max_nested_depth: usize,
    /// Most entries in one object or list (default 4096, at most 1 000 000).
    pub max_collection_items: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_text_bytes: 10 * 1024 * 1024,
            max_nested_depth: 32,
            max_collection_items: 4096,
        }
    }
}

impl Limits {
    pub(crate) fn parse(s: &Settings<'_>) -> Result<Self, PluginError> {
        let d = Limits::default();
        let get = |k: &str, default: usize, max: i64| -> Result<usize, PluginError> {
            Ok(ranged_int(s, k, default as i64, 1, max)? as usize)
        };
        Ok(Limits {
            max_text_bytes: get("max_text_bytes", d.max_text_bytes, 100 * 1024 * 1024)?,
            max_nested_depth: get("max_nested_depth", d.max_nested_depth, 1000)?,
            max_collection_items: get("max_collection_items", d.max_collection_items, 1_000_000)?,
        })
    }

    /// Check a string; the message is the package's.
    pub fn text(&self, text: &str) -> Result<(), String> {
        if text.len() > self.max_text_bytes {
            return Err(format!(
                "Input exceeds maximum supported size of {} bytes",
                self.max_text_bytes
            ));
        }
        Ok(())
    }

    /// Check a value and everything inside it, `depth` being the value's own depth.
    pub fn value(&self, v: &Value, depth: usize) -> Result<(), String> {
        if depth > self.max_nested_depth {
            return Err(format!(
                "Nested data exceeds maximum depth of {}",
                self.max_nested_depth
            ));
        }
        match v {
            Value::String(s) => self.text(s),
            Value::Array(items) => self.collection(items.iter(), "list", depth),
            Value::Object(map) => self.collection(map.values(), "mapping", depth),
            _ => Ok(()),
        }
    }

    /// Check a list (`what` = "list") or mapping's values at `depth` without building a `Value`.
    pub fn collection<'a>(
        &self,
        items: impl ExactSizeIterator<Item = &'a Value>,
        what: &str,
        depth: usize,
    ) -> Result<(), String> {
        self.size(items.len(), what)?;
        items.into_iter().try_for_each(|i| self.value(i, depth + 1))
    }

    /// Check the number of entries of a list or mapping (`what`).
    pub fn size(&self, len: usize, what: &str) -> Result<(), String> {
        if len > self.max_collection_items {
            return Err(format!(
                "Nested {what} exceeds maximum size of {} items",
                self.max_collection_items
            ));
        }
        Ok(())
    }
}
