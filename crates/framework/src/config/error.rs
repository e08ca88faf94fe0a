//! Configuration errors. Every message names the file, and where it applies the plugin and the key,
//! and says how to fix it (docs/decisions.md #15).

use std::path::PathBuf;

use crate::PluginError;

/// A config file that cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file does not exist (an error, not silent defaults: docs/decisions.md #5).
    #[error("plugin config file {} does not exist; point PLUGINS_CONFIG_PATH (server), PLUGINS_CONFIG_FILE (gateway) or --config at an existing file", path.display())]
    NotFound {
        /// The file.
        path: PathBuf,
    },
    /// The file exists but cannot be read.
    #[error("cannot read plugin config file {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A `{{ env.VAR }}` template names a variable that is not set.
    #[error("{file}:{line}: template variable `{variable}` is not set in the environment; export it, or give a default with `{{{{ env.{variable} | default('value') }}}}`")]
    UnsetVariable {
        /// The file (or `<string>`).
        file: String,
        /// 1-based line.
        line: usize,
        /// The variable.
        variable: String,
    },
    /// A template expression that cannot be rendered.
    #[error("{file}:{line}: {message}")]
    Template {
        /// The file (or `<string>`).
        file: String,
        /// 1-based line.
        line: usize,
        /// What is wrong and how to fix it.
        message: String,
    },
    /// The rendered text is not valid YAML.
    #[error("{file}: invalid YAML: {message}")]
    Yaml {
        /// The file (or `<string>`).
        file: String,
        /// What is wrong and how to fix it.
        message: String,
    },
    /// A key has a wrong value. `plugin` is the entry's name when the key is inside a `plugins:` entry.
    #[error("{file}: {}key `{key}`: {message}", plugin_prefix(.plugin))]
    Invalid {
        /// The file (or `<string>`).
        file: String,
        /// The `plugins:` entry.
        plugin: Option<String>,
        /// The key, spelled in full.
        key: String,
        /// What is wrong and how to fix it.
        message: String,
    },
    /// An enabled entry whose `kind` no registered plugin provides.
    #[error("{file}: plugin '{plugin}': key `kind`: unknown kind `{kind}`; known kinds: {known}. Fix the kind, or set `mode: disabled` to keep an entry plugwire cannot run")]
    UnknownKind {
        /// The file (or `<string>`).
        file: String,
        /// The `plugins:` entry.
        plugin: String,
        /// The unknown kind.
        kind: String,
        /// Every registered kind, for the message.
        known: String,
    },
    /// A plugin constructor rejected its `config:` (e.g. a regex that does not compile).
    #[error("{file}: plugin '{plugin}': key `config`: {error}")]
    Plugin {
        /// The file (or `<string>`).
        file: String,
        /// The `plugins:` entry.
        plugin: String,
        /// The constructor's error.
        error: Box<PluginError>,
    },
    /// An environment variable (e.g. `PLUGINS_PLUGIN_TIMEOUT`) has a value that cannot be used.
    #[error("environment variable {var}={value:?}: {message}")]
    Env {
        /// The variable.
        var: String,
        /// Its (trimmed) value.
        value: String,
        /// What is wrong and how to fix it.
        message: String,
    },
}

fn plugin_prefix(plugin: &Option<String>) -> String {
    match plugin {
        Some(p) => format!("plugin '{p}': "),
        None => String::new(),
    }
}

impl ConfigError {
    pub(crate) fn invalid(
        file: &str,
        plugin: Option<&str>,
        key: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        ConfigError::Invalid {
            file: file.to_owned(),
            plugin: plugin.map(str::to_owned),
            key: key.into(),
            message: message.into(),
        }
    }
}
