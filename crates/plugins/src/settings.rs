//! Reading a plugin's `config:` block key by key, so every error names the plugin and the key.
//!
//! Python validates these blocks with pydantic in lax mode: unknown keys are ignored, `"true"` is a
//! bool and `"10"` an int (which matters when a value comes from `{{ env.VAR }}` inside quotes).
//! We accept the same inputs and warn about unknown keys, which are usually typos.

use plugwire_framework::{JsonMap, PluginConfig, PluginError, PluginErrorKind};
use serde_json::Value;

/// A constructor error: the plugin's type name and the offending key are in the message; the
/// instance name travels in the error model (the config loader adds file and plugin name).
pub(crate) fn config_error(
    config: &PluginConfig,
    plugin_type: &str,
    key: &str,
    message: impl std::fmt::Display,
) -> PluginError {
    PluginError::new(
        PluginErrorKind::Initialization,
        config.name.clone(),
        format!("{plugin_type} config key `{key}`: {message}"),
    )
}

/// Typed access to one `config:` object (or a nested object inside it, with a key prefix).
pub(crate) struct Settings<'a> {
    pub(crate) config: &'a PluginConfig,
    pub(crate) plugin_type: &'static str,
    map: JsonMap,
    prefix: String,
}

impl<'a> Settings<'a> {
    /// The entry's `config:` block; `known` lists the keys the plugin reads (others are warned about).
    pub(crate) fn new(config: &'a PluginConfig, plugin_type: &'static str, known: &[&str]) -> Self {
        let map = config.config.clone().unwrap_or_default();
        let unknown: Vec<&str> = map
            .keys()
            .map(String::as_str)
            .filter(|k| !known.contains(k))
            .collect();
        if !unknown.is_empty() {
            tracing::warn!(
                plugin = %config.name,
                "{plugin_type}: ignoring unknown config keys {unknown:?} (known keys: {known:?})"
            );
        }
        Settings {
            config,
            plugin_type,
            map,
            prefix: String::new(),
        }
    }

    /// A nested object (e.g. one `words[]` item) read with `prefix` in front of every key name.
    pub(crate) fn nested(&self, map: JsonMap, prefix: String) -> Settings<'a> {
        Settings {
            config: self.config,
            plugin_type: self.plugin_type,
            map,
            prefix,
        }
    }

    /// The full key name for messages (`words[1].search`).
    pub(crate) fn key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    pub(crate) fn error(&self, key: &str, message: impl std::fmt::Display) -> PluginError {
        config_error(self.config, self.plugin_type, &self.key(key), message)
    }

    /// The raw value, `None` when absent or null.
    pub(crate) fn raw(&self, key: &str) -> Option<&Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    pub(crate) fn bool(&self, key: &str, default: bool) -> Result<bool, PluginError> {
        match self.raw(key) {
            None => Ok(default),
            Some(Value::Bool(b)) => Ok(*b),
            Some(Value::Number(n)) if n.as_i64() == Some(0) => Ok(false),
            Some(Value::Number(n)) if n.as_i64() == Some(1) => Ok(true),
            Some(Value::String(s)) => match s.trim().to_ascii_lowercase().as_str() {
                "true" | "yes" | "on" | "1" | "t" | "y" => Ok(true),
                "false" | "no" | "off" | "0" | "f" | "n" => Ok(false),
                _ => Err(self.error(key, format!("expected true or false, got {s:?}"))),
            },
            Some(other) => Err(self.error(key, format!("expected true or false, got {other}"))),
        }
    }

    pub(crate) fn string(&self, key: &str, default: &str) -> Result<String, PluginError> {
        Ok(self.opt_string(key)?.unwrap_or_else(|| default.to_owned()))
    }

    pub(crate) fn required_string(&self, key: &str) -> Result<String, PluginError> {
        self.opt_string(key)?
            .ok_or_else(|| self.error(key, "is required (a string)"))
    }

    pub(crate) fn opt_string(&self, key: &str) -> Result<Option<String>, PluginError> {
        match self.raw(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            // pydantic refuses numbers for `str` fields in 2.x; so do we, with a hint.
            Some(other) => Err(self.error(
                key,
                format!("expected a string, got {other} (quote it in the YAML)"),
            )),
        }
    }

    /// An integer that must be `>= min`; `None` when absent or null.
    pub(crate) fn opt_int(&self, key: &str, min: i64) -> Result<Option<i64>, PluginError> {
        let n = match self.raw(key) {
            None => return Ok(None),
            Some(Value::Number(n)) => match n.as_i64() {
                Some(i) => i,
                None => match n.as_f64() {
                    Some(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => f as i64,
                    _ => return Err(self.error(key, format!("expected an integer, got {n}"))),
                },
            },
            Some(Value::String(s)) => s
                .trim()
                .parse::<i64>()
                .map_err(|_| self.error(key, format!("expected an integer, got {s:?}")))?,
            Some(other) => return Err(self.error(key, format!("expected an integer, got {other}"))),
        };
        if n < min {
            return Err(self.error(key, format!("must be >= {min}, got {n}")));
        }
        Ok(Some(n))
    }

    pub(crate) fn opt_float(&self, key: &str) -> Result<Option<f64>, PluginError> {
        match self.raw(key) {
            None => Ok(None),
            Some(Value::Number(n)) => Ok(n.as_f64()),
            Some(Value::String(s)) => s
                .trim()
                .parse::<f64>()
                .map(Some)
                .map_err(|_| self.error(key, format!("expected a number, got {s:?}"))),
            Some(other) => Err(self.error(key, format!("expected a number, got {other}"))),
        }
    }

    /// A list of strings (absent or null = empty).
    pub(crate) fn string_list(&self, key: &str) -> Result<Vec<String>, PluginError> {
        match self.raw(key) {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, v)| match v {
                    Value::String(s) => Ok(s.clone()),
                    other => Err(self.error(
                        &format!("{key}[{i}]"),
                        format!("expected a string, got {other}"),
                    )),
                })
                .collect(),
            Some(other) => Err(self.error(key, format!("expected a list of strings, got {other}"))),
        }
    }

    /// A list of objects (absent or null = `None`).
    pub(crate) fn object_list(&self, key: &str) -> Result<Option<Vec<JsonMap>>, PluginError> {
        match self.raw(key) {
            None => Ok(None),
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, v)| match v {
                    Value::Object(m) => Ok(m.clone()),
                    other => Err(self.error(
                        &format!("{key}[{i}]"),
                        format!("expected a mapping, got {other}"),
                    )),
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(other) => Err(self.error(key, format!("expected a list, got {other}"))),
        }
    }
}
