//! Which plugins `all` creates certificates for: the `kind: external` entries of the plugins
//! config, in file order. Unlike the Makefile, a broken config is an error (docs/decisions.md #8).

use std::path::{Path, PathBuf};

use yaml_serde::Value;

use crate::error::{CertsError, Result};
use crate::names::{validate_plugin_name, EXAMPLE_PLUGINS};

/// The config read when none is given (relative to the working directory).
pub const DEFAULT_CONFIG: &str = "plugins/external/config.yaml";

/// Where the plugin list comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigSource {
    /// `plugins/external/config.yaml` (or another default path); missing → the two examples.
    Default(PathBuf),
    /// A path the user gave (`--config`, `MCP_PLUGIN_CONFIG`); missing → error.
    Explicit(PathBuf),
}

impl ConfigSource {
    /// `Explicit(path)` if given, else `Default(plugins/external/config.yaml)`.
    pub fn from_option(path: Option<PathBuf>) -> Self {
        match path {
            Some(path) => ConfigSource::Explicit(path),
            None => ConfigSource::Default(PathBuf::from(DEFAULT_CONFIG)),
        }
    }

    /// The path either way.
    pub fn path(&self) -> &Path {
        match self {
            ConfigSource::Default(p) | ConfigSource::Explicit(p) => p,
        }
    }
}

/// The plugin list and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginList {
    /// Plugin names, in file order.
    pub names: Vec<String>,
    /// `true` when the default config was missing and the examples are used.
    pub examples: bool,
}

/// Reads the plugin names for `all`.
pub fn plugin_names(source: &ConfigSource) -> Result<PluginList> {
    let path = source.path();
    if !path.exists() {
        return match source {
            ConfigSource::Default(_) => Ok(PluginList {
                names: EXAMPLE_PLUGINS.iter().map(|s| s.to_string()).collect(),
                examples: true,
            }),
            ConfigSource::Explicit(p) => Err(CertsError::ConfigMissing { path: p.clone() }),
        };
    }
    let text = std::fs::read_to_string(path).map_err(|source| CertsError::ConfigRead {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(PluginList {
        names: external_plugin_names(path, &text)?,
        examples: false,
    })
}

/// The `name`s of the `kind: external` entries of a plugins YAML document.
pub fn external_plugin_names(path: &Path, text: &str) -> Result<Vec<String>> {
    let invalid = |message: String| CertsError::ConfigInvalid {
        path: path.to_path_buf(),
        message,
    };
    let doc: Value =
        yaml_serde::from_str(text).map_err(|e| invalid(format!("not valid YAML: {e}")))?;
    let plugins =
        match &doc {
            Value::Mapping(map) => match map.get("plugins") {
                None => return Ok(Vec::new()),
                Some(Value::Sequence(seq)) => seq,
                Some(Value::Null) => return Err(invalid(
                    "`plugins:` is empty (null): give a list of plugin entries, or remove the key"
                        .into(),
                )),
                Some(_) => {
                    return Err(invalid(
                        "`plugins:` must be a list of plugin entries".into(),
                    ))
                }
            },
            Value::Null => {
                return Err(invalid(
                    "the file is empty: expected a mapping with a `plugins:` list".into(),
                ))
            }
            _ => {
                return Err(invalid(
                    "the top level must be a mapping with a `plugins:` list".into(),
                ))
            }
        };
    let mut names: Vec<String> = Vec::new();
    for (index, entry) in plugins.iter().enumerate() {
        let Value::Mapping(entry) = entry else {
            return Err(invalid(format!(
                "plugins[{index}] is not a mapping (each entry needs `name:` and `kind:`)"
            )));
        };
        if entry.get("kind").and_then(Value::as_str) != Some("external") {
            continue;
        }
        let name = match entry.get("name") {
            Some(Value::String(name)) if !name.trim().is_empty() => name.trim().to_string(),
            Some(Value::String(_)) | None | Some(Value::Null) => {
                return Err(invalid(format!(
                    "plugins[{index}] (kind: external) has no `name`: add `name: <plugin-name>`"
                )))
            }
            Some(other) => {
                return Err(invalid(format!(
                    "plugins[{index}] (kind: external): `name` must be a string, found {}",
                    kind_of(other)
                )))
            }
        };
        validate_plugin_name(&name).map_err(|e| invalid(format!("plugins[{index}]: {e}")))?;
        if names.contains(&name) {
            return Err(invalid(format!(
                "plugins[{index}]: duplicate plugin name {name:?}; plugin names must be unique"
            )));
        }
        names.push(name);
    }
    Ok(names)
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Sequence(_) => "a list",
        Value::Mapping(_) => "a mapping",
        Value::Tagged(_) => "a tagged value",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(text: &str) -> Result<Vec<String>> {
        external_plugin_names(Path::new("cfg.yaml"), text)
    }

    #[test]
    fn external_entries_in_file_order() {
        let text = "plugins:\n  - name: B\n    kind: external\n  - name: Local\n    kind: plugins.x.Y\n  - name: A\n    kind: external\n    mcp: {proto: STREAMABLEHTTP, url: 'https://b:8000/mcp'}\nplugin_settings: {}\n";
        assert_eq!(names(text).unwrap(), ["B", "A"]);
    }

    #[test]
    fn no_plugins_key_means_no_plugins() {
        assert!(names("plugin_dirs: []\n").unwrap().is_empty());
        assert!(names("plugins: []\n").unwrap().is_empty());
    }

    #[test]
    fn broken_configs_name_the_file_and_entry() {
        let cases = [
            ("plugins: [\n", "not valid YAML"),
            ("", "empty"),
            ("- a\n", "top level"),
            ("plugins:\n", "null"),
            ("plugins: 3\n", "must be a list"),
            ("plugins:\n  - 7\n", "plugins[0] is not a mapping"),
            (
                "plugins:\n  - kind: external\n",
                "plugins[0] (kind: external) has no `name`",
            ),
            (
                "plugins:\n  - {name: ok, kind: x}\n  - {name: 5, kind: external}\n",
                "plugins[1]",
            ),
            (
                "plugins:\n  - {name: 'a b', kind: external}\n",
                "invalid plugin name",
            ),
            (
                "plugins:\n  - {name: a, kind: external}\n  - {name: a, kind: external}\n",
                "duplicate",
            ),
        ];
        for (text, expected) in cases {
            let err = names(text).unwrap_err().to_string();
            assert!(err.contains("cfg.yaml"), "{text:?}: {err}");
            assert!(err.contains(expected), "{text:?}: {err}");
        }
    }

    #[test]
    fn missing_default_gives_examples_and_missing_explicit_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nope.yaml");
        let list = plugin_names(&ConfigSource::Default(path.clone())).unwrap();
        assert!(list.examples);
        assert_eq!(list.names, EXAMPLE_PLUGINS);
        let err = plugin_names(&ConfigSource::Explicit(path)).unwrap_err();
        assert!(err.to_string().contains("nope.yaml"), "{err}");
    }
}
