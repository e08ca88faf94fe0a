//! Loading and validating the plugins YAML: render templates, parse, check each key so an error can
//! name the file, the plugin and the key, then apply the cross-field rules (docs/decisions.md #15).

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

use plugwire_env::Env;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::{
    render_template, AppliedTo, Compat, Config, ConfigError, GrpcClientConfig, GrpcServerConfig,
    MCPClientConfig, OnError, PluginCondition, PluginConfig, PluginMode, PluginSettings,
    TransportType, UnixSocketClientConfig, UnixSocketServerConfig, EXTERNAL_KIND,
};
use crate::serde_util::lax;
use crate::{HookType, JsonMap};

pub use plugwire_env::vars::{PLUGINS_CONFIG_FILE, PLUGINS_CONFIG_PATH, PLUGINS_PLUGIN_TIMEOUT};
/// Python server's fallback when `PLUGINS_CONFIG_PATH` is unset.
pub const DEFAULT_SERVER_CONFIG: &str = "./resources/plugins/config.yaml";
/// Python gateway's fallback when `PLUGINS_CONFIG_FILE` is unset.
pub const DEFAULT_GATEWAY_CONFIG: &str = "plugins/config.yaml";

/// Which side reads the config: decides the env variable and the default path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigSide {
    /// The plugin server: `PLUGINS_CONFIG_PATH`.
    Server,
    /// The gateway / client side: `PLUGINS_CONFIG_FILE`.
    Gateway,
}

/// `--config` wins, then the side's env variable (empty = unset), then the Python default path.
pub fn resolve_config_path(cli: Option<&Path>, side: ConfigSide, env: &dyn Env) -> PathBuf {
    if let Some(p) = cli {
        return p.to_path_buf();
    }
    let (var, default) = match side {
        ConfigSide::Server => (PLUGINS_CONFIG_PATH, DEFAULT_SERVER_CONFIG),
        ConfigSide::Gateway => (PLUGINS_CONFIG_FILE, DEFAULT_GATEWAY_CONFIG),
    };
    PathBuf::from(env.get(var).as_deref().unwrap_or(default))
}

impl PluginSettings {
    /// The per-plugin timeout: `PLUGINS_PLUGIN_TIMEOUT` if set (a positive number of seconds),
    /// else `plugin_timeout`.
    pub fn effective_timeout(&self, env: &dyn Env) -> Result<Duration, ConfigError> {
        if let Some(v) = env.get(PLUGINS_PLUGIN_TIMEOUT) {
            let secs: f64 = v.parse().map_err(|_| ConfigError::Env {
                var: PLUGINS_PLUGIN_TIMEOUT.to_owned(),
                value: v.clone(),
                message: "must be a positive number of seconds, e.g. 30".to_owned(),
            })?;
            if !(secs.is_finite() && secs > 0.0) {
                return Err(ConfigError::Env {
                    var: PLUGINS_PLUGIN_TIMEOUT.to_owned(),
                    value: v,
                    message: "must be a positive number of seconds, e.g. 30".to_owned(),
                });
            }
            return Ok(Duration::from_secs_f64(secs));
        }
        Ok(Duration::from_secs(self.plugin_timeout.max(1) as u64))
    }
}

impl Config {
    /// Read, render (`{{ env.VAR }}`), parse and validate a plugins YAML file.
    pub fn load(path: impl AsRef<Path>, env: &dyn Env) -> Result<Config, ConfigError> {
        let path = path.as_ref();
        let text = super::read::read_bounded(path, env)?;
        let mut cfg = Self::load_str(&text, &path.display().to_string(), env)?;
        cfg.source = Some(path.to_path_buf());
        Ok(cfg)
    }

    /// Like `load`, from text; `source` names it in error messages.
    pub fn load_str(text: &str, source: &str, env: &dyn Env) -> Result<Config, ConfigError> {
        let rendered = render_template(text, source, env)?;
        let value: Value = if rendered.trim().is_empty() {
            Value::Null
        } else {
            super::read::parse_yaml(&rendered, source)?
        };
        let mut cfg = parse_value(value, source)?;
        cfg.source = Some(PathBuf::from(source));
        validate(&cfg, source)?;
        cfg.plugin_settings.apply_env(env)?;
        Ok(cfg)
    }
}

type Check = fn(&Value) -> Result<(), String>;

fn lax_i64(v: &Value) -> Result<(), String> {
    lax::to_i64(v).map(|_| ())
}

fn lax_f64(v: &Value) -> Result<(), String> {
    lax::to_f64(v).map(|_| ())
}

fn lax_opt_i64(v: &Value) -> Result<(), String> {
    if v.is_null() {
        return Ok(());
    }
    lax_i64(v)
}

fn lax_opt_f64(v: &Value) -> Result<(), String> {
    if v.is_null() {
        return Ok(());
    }
    lax_f64(v)
}

fn lax_opt_bool(v: &Value) -> Result<(), String> {
    if v.is_null() {
        return Ok(());
    }
    lax::to_bool(v).map(|_| ())
}

fn cert_reqs(v: &Value) -> Result<(), String> {
    lax_opt_i64(v).map_err(|e| {
        format!("{e}; use 0 (no client certificate), 1 (optional) or 2 (required), not the Python CERT_* name")
    })
}

/// Unknown names fail; a non-list silently reads as empty (as cpex).
fn capabilities(v: &Value) -> Result<(), String> {
    let Value::Array(items) = v else {
        return Ok(());
    };
    for i in items {
        match i.as_str() {
            Some(s) if super::Capability::parse(s).is_some() => {}
            Some(s) => return Err(super::capability_error(s)),
            None => return Err(format!("expected a capability name, found {i}")),
        }
    }
    Ok(())
}

fn chk<T: DeserializeOwned>(v: &Value) -> Result<(), String> {
    serde_json::from_value::<T>(v.clone())
        .map(|_| ())
        .map_err(|e| e.to_string())
}

fn check_keys(
    map: &JsonMap,
    checks: &[(&str, Check)],
    file: &str,
    plugin: Option<&str>,
    prefix: &str,
) -> Result<(), ConfigError> {
    for (key, check) in checks {
        if let Some(v) = map.get(*key) {
            check(v)
                .map_err(|m| ConfigError::invalid(file, plugin, format!("{prefix}{key}"), m))?;
        }
    }
    Ok(())
}

fn as_object<'a>(
    v: &'a Value,
    file: &str,
    plugin: Option<&str>,
    key: &str,
) -> Result<Option<&'a JsonMap>, ConfigError> {
    match v {
        Value::Null => Ok(None),
        Value::Object(m) => Ok(Some(m)),
        other => Err(ConfigError::invalid(
            file,
            plugin,
            key,
            format!("expected a mapping, found {}", kind_of(other)),
        )),
    }
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

const SETTINGS_CHECKS: &[(&str, Check)] = &[
    ("parallel_execution_within_band", lax_opt_bool),
    ("plugin_timeout", lax_i64),
    ("fail_on_plugin_error", lax_opt_bool),
    ("enable_plugin_api", lax_opt_bool),
    ("plugin_health_check_interval", lax_i64),
    ("include_user_info", lax_opt_bool),
    ("execution_pool", lax_opt_i64),
    ("compat", chk::<Option<Compat>>),
];

const SERVER_CHECKS: &[(&str, Check)] = &[
    ("host", chk::<Option<String>>),
    ("port", lax_opt_i64),
    ("uds", chk::<Option<String>>),
];

/// `server_settings.limits` is plugwire's own, so a misspelt key there is an error, not
/// silently ignored.
const SERVER_LIMITS_CHECKS: &[(&str, Check)] = &[
    ("max_connections", lax_opt_i64),
    ("body_timeout", lax_opt_f64),
    ("body_min_rate", lax_opt_i64),
    ("drain_timeout", lax_opt_f64),
];

const SERVER_TLS_CHECKS: &[(&str, Check)] = &[
    ("certfile", chk::<Option<String>>),
    ("keyfile", chk::<Option<String>>),
    ("ca_bundle", chk::<Option<String>>),
    ("keyfile_password", chk::<Option<String>>),
    ("ssl_cert_reqs", cert_reqs),
    ("require_valid_certificate", lax_opt_bool),
];

const ENTRY_CHECKS: &[(&str, Check)] = &[
    ("kind", chk::<String>),
    ("description", chk::<Option<String>>),
    ("author", chk::<Option<String>>),
    ("namespace", chk::<Option<String>>),
    ("version", chk::<Option<String>>),
    ("hooks", chk::<Option<Vec<HookType>>>),
    ("tags", chk::<Option<Vec<String>>>),
    ("mode", chk::<Option<PluginMode>>),
    ("on_error", chk::<Option<OnError>>),
    ("priority", lax_i64),
    ("max_content_size", lax_i64),
    ("capabilities", capabilities),
    ("grpc", chk::<Option<GrpcClientConfig>>),
    ("unix_socket", chk::<Option<UnixSocketClientConfig>>),
    ("applied_to", chk::<Option<AppliedTo>>),
    ("config", chk::<Option<JsonMap>>),
    ("timeout", chk::<Option<f64>>),
];

const CONDITION_CHECKS: &[(&str, Check)] = &[
    ("server_ids", chk::<Option<BTreeSet<String>>>),
    ("tenant_ids", chk::<Option<BTreeSet<String>>>),
    ("tools", chk::<Option<BTreeSet<String>>>),
    ("prompts", chk::<Option<BTreeSet<String>>>),
    ("resources", chk::<Option<BTreeSet<String>>>),
    ("agents", chk::<Option<BTreeSet<String>>>),
    ("user_patterns", chk::<Option<Vec<String>>>),
    ("content_types", chk::<Option<Vec<String>>>),
];

const MCP_CHECKS: &[(&str, Check)] = &[
    ("proto", chk::<TransportType>),
    ("url", chk::<Option<String>>),
    ("script", chk::<Option<String>>),
    ("cmd", chk::<Option<Vec<String>>>),
    (
        "env",
        chk::<Option<std::collections::BTreeMap<String, String>>>,
    ),
    ("cwd", chk::<Option<String>>),
    ("uds", chk::<Option<String>>),
    ("reconnect_attempts", lax_i64),
    ("reconnect_delay", lax_f64),
];

const MCP_TLS_CHECKS: &[(&str, Check)] = &[
    ("certfile", chk::<Option<String>>),
    ("keyfile", chk::<Option<String>>),
    ("ca_bundle", chk::<Option<String>>),
    ("keyfile_password", chk::<Option<String>>),
    ("verify", lax_opt_bool),
    ("check_hostname", lax_opt_bool),
];

/// Check every key on its own (so the message names it), then decode the whole.
fn parse_value(value: Value, file: &str) -> Result<Config, ConfigError> {
    let top = match &value {
        Value::Null => JsonMap::new(),
        Value::Object(m) => m.clone(),
        other => {
            return Err(ConfigError::invalid(
                file,
                None,
                "(top level)",
                format!(
                    "expected a mapping with `plugins:` and `plugin_settings:`, found {}",
                    kind_of(other)
                ),
            ))
        }
    };
    check_keys(
        &top,
        &[
            ("plugin_dirs", chk::<Option<Vec<String>>>),
            ("grpc_server_settings", chk::<Option<GrpcServerConfig>>),
            (
                "unix_socket_server_settings",
                chk::<Option<UnixSocketServerConfig>>,
            ),
        ],
        file,
        None,
        "",
    )?;
    if let Some(v) = top.get("plugin_settings") {
        if let Some(m) = as_object(v, file, None, "plugin_settings")? {
            check_keys(m, SETTINGS_CHECKS, file, None, "plugin_settings.")?;
        }
    }
    if let Some(v) = top.get("server_settings") {
        if let Some(m) = as_object(v, file, None, "server_settings")? {
            check_keys(m, SERVER_CHECKS, file, None, "server_settings.")?;
            if let Some(t) = m.get("tls") {
                if let Some(tm) = as_object(t, file, None, "server_settings.tls")? {
                    check_keys(tm, SERVER_TLS_CHECKS, file, None, "server_settings.tls.")?;
                }
            }
            if let Some(lv) = m.get("limits") {
                if let Some(lm) = as_object(lv, file, None, "server_settings.limits")? {
                    check_keys(
                        lm,
                        SERVER_LIMITS_CHECKS,
                        file,
                        None,
                        "server_settings.limits.",
                    )?;
                    if let Some(k) = lm
                        .keys()
                        .find(|k| !SERVER_LIMITS_CHECKS.iter().any(|(n, _)| n == k))
                    {
                        return Err(ConfigError::invalid(
                            file,
                            None,
                            format!("server_settings.limits.{k}"),
                            "unknown key; the limits are max_connections, body_timeout, body_min_rate and drain_timeout",
                        ));
                    }
                }
            }
        }
    }
    let mut set_fields: Vec<BTreeSet<String>> = Vec::new();
    match top.get("plugins") {
        None | Some(Value::Null) => {}
        Some(Value::Array(entries)) => {
            for (i, entry) in entries.iter().enumerate() {
                set_fields.push(check_entry(entry, i, file)?);
            }
        }
        Some(other) => {
            return Err(ConfigError::invalid(
                file,
                None,
                "plugins",
                format!(
                    "expected a list of plugin entries, found {}",
                    kind_of(other)
                ),
            ))
        }
    }
    let value = if value.is_null() {
        Value::Object(JsonMap::new())
    } else {
        value
    };
    let mut cfg: Config = serde_json::from_value(value)
        .map_err(|e| ConfigError::invalid(file, None, "(top level)", e.to_string()))?;
    for (p, keys) in cfg.plugins.iter_mut().zip(set_fields) {
        p.set_fields = keys;
    }
    Ok(cfg)
}

fn check_entry(entry: &Value, i: usize, file: &str) -> Result<BTreeSet<String>, ConfigError> {
    let Value::Object(m) = entry else {
        return Err(ConfigError::invalid(
            file,
            None,
            format!("plugins[{i}]"),
            format!(
                "expected a plugin entry (a mapping), found {}",
                kind_of(entry)
            ),
        ));
    };
    let name = match m.get("name") {
        Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
        Some(Value::String(_)) => {
            return Err(ConfigError::invalid(
                file,
                None,
                format!("plugins[{i}].name"),
                "the plugin name must not be empty",
            ))
        }
        Some(other) => {
            return Err(ConfigError::invalid(
                file,
                None,
                format!("plugins[{i}].name"),
                format!("expected a string, found {}", kind_of(other)),
            ))
        }
        None => {
            return Err(ConfigError::invalid(
                file,
                None,
                format!("plugins[{i}].name"),
                "every plugin entry needs a `name`",
            ))
        }
    };
    let plugin = Some(name.as_str());
    if !m.contains_key("kind") {
        return Err(ConfigError::invalid(
            file,
            plugin,
            "kind",
            "missing; set the plugin kind (e.g. `search_replace`, a Python class path, or `external`)",
        ));
    }
    check_keys(m, ENTRY_CHECKS, file, plugin, "")?;
    if let Some(v) = m.get("conditions") {
        match v {
            Value::Null => {}
            Value::Array(items) => {
                for (j, item) in items.iter().enumerate() {
                    let key = format!("conditions[{j}]");
                    if let Some(cm) = as_object(item, file, plugin, &key)? {
                        check_keys(cm, CONDITION_CHECKS, file, plugin, &format!("{key}."))?;
                    }
                    chk::<PluginCondition>(item)
                        .map_err(|e| ConfigError::invalid(file, plugin, &key, e))?;
                }
            }
            other => {
                return Err(ConfigError::invalid(
                    file,
                    plugin,
                    "conditions",
                    format!("expected a list of conditions, found {}", kind_of(other)),
                ))
            }
        }
    }
    if let Some(v) = m.get("mcp") {
        if let Some(mm) = as_object(v, file, plugin, "mcp")? {
            if !mm.contains_key("proto") {
                return Err(ConfigError::invalid(
                    file,
                    plugin,
                    "mcp.proto",
                    "missing; set STREAMABLEHTTP (with url) or STDIO (with script or cmd)",
                ));
            }
            check_keys(mm, MCP_CHECKS, file, plugin, "mcp.")?;
            if let Some(t) = mm.get("tls") {
                if let Some(tm) = as_object(t, file, plugin, "mcp.tls")? {
                    check_keys(tm, MCP_TLS_CHECKS, file, plugin, "mcp.tls.")?;
                }
            }
            chk::<MCPClientConfig>(v).map_err(|e| ConfigError::invalid(file, plugin, "mcp", e))?;
        }
    }
    chk::<PluginConfig>(entry).map_err(|e| ConfigError::invalid(file, plugin, "(entry)", e))?;
    Ok(m.keys().cloned().collect())
}

/// Cross-field rules (docs/decisions.md #15).
fn validate(cfg: &Config, file: &str) -> Result<(), ConfigError> {
    let s = &cfg.plugin_settings;
    if s.plugin_timeout <= 0 {
        return Err(ConfigError::invalid(
            file,
            None,
            "plugin_settings.plugin_timeout",
            format!(
                "must be a positive number of seconds, found {}",
                s.plugin_timeout
            ),
        ));
    }
    if let Some(tls) = cfg.server_settings.as_ref().and_then(|s| s.tls.as_ref()) {
        if let Some(r) = tls.ssl_cert_reqs {
            if !(0..=2).contains(&r) {
                return Err(ConfigError::invalid(
                    file,
                    None,
                    "server_settings.tls.ssl_cert_reqs",
                    format!("must be 0 (no client certificate), 1 (optional) or 2 (required), found {r}"),
                ));
            }
        }
    }
    if let Some(g) = &cfg.grpc_server_settings {
        g.check()
            .map_err(|(key, m)| ConfigError::invalid(file, None, key, m))?;
    }
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (i, p) in cfg.plugins.iter().enumerate() {
        if let Some(first) = seen.insert(p.name.as_str(), i) {
            return Err(ConfigError::invalid(
                file,
                Some(&p.name),
                "name",
                format!(
                    "duplicate plugin name: entries {} and {} are both named '{}'; plugin names must be unique",
                    first + 1,
                    i + 1,
                    p.name
                ),
            ));
        }
        validate_entry(p, file)?;
    }
    Ok(())
}

fn validate_entry(p: &PluginConfig, file: &str) -> Result<(), ConfigError> {
    let plugin = Some(p.name.as_str());
    let err = |key: &str, msg: String| ConfigError::invalid(file, plugin, key, msg);
    if p.kind.trim().is_empty() {
        return Err(err("kind", "must not be empty".to_owned()));
    }
    if let Some(t) = p.timeout {
        if !(t.is_finite() && t > 0.0 && t <= 86_400.0) {
            return Err(err(
                "timeout",
                format!("must be a number of seconds above 0 (at most 86400), found {t}"),
            ));
        }
    }
    if p.kind == EXTERNAL_KIND {
        if p.config.as_ref().is_some_and(|c| !c.is_empty()) {
            return Err(err(
                "config",
                format!(
                    "Cannot have {} plugin defined as 'external' with 'config' set. 'config' section settings can only be set on the plugin server.",
                    p.name
                ),
            ));
        }
        let sections = [p.mcp.is_some(), p.grpc.is_some(), p.unix_socket.is_some()];
        match sections.iter().filter(|s| **s).count() {
            0 => {
                return Err(err(
                    "mcp",
                    "an external plugin needs exactly one transport section: `mcp:` (with `proto` and `url`, or `script`/`cmd` for STDIO), `grpc:` or `unix_socket:`".to_owned(),
                ))
            }
            1 => {}
            _ => {
                return Err(err(
                    "mcp",
                    "an external plugin must have exactly one of `mcp:`, `grpc:`, `unix_socket:`; remove the others".to_owned(),
                ))
            }
        }
    }
    if p.max_content_size <= 0 {
        return Err(err(
            "max_content_size",
            format!(
                "must be a positive number of bytes (default 10000000), found {}",
                p.max_content_size
            ),
        ));
    }
    if let Some(g) = &p.grpc {
        g.check().map_err(|(key, m)| err(&key, m))?;
    }
    if let Some(u) = &p.unix_socket {
        u.check().map_err(|(key, m)| err(&key, m))?;
    }
    let Some(mcp) = &p.mcp else { return Ok(()) };
    let has = |o: &Option<String>| o.as_deref().is_some_and(|s| !s.trim().is_empty());
    match mcp.proto {
        TransportType::Stdio => {
            let script = has(&mcp.script);
            let cmd = mcp.cmd.is_some();
            if script == cmd {
                return Err(err(
                    "mcp.script",
                    "STDIO needs exactly one of `script` or `cmd`".to_owned(),
                ));
            }
            if let Some(c) = &mcp.cmd {
                if c.is_empty() || c.iter().any(|a| a.trim().is_empty()) {
                    return Err(err(
                        "mcp.cmd",
                        "must be a non-empty list of non-blank strings, e.g. [\"plugwire\", \"serve\", \"--stdio\"]".to_owned(),
                    ));
                }
            }
            if mcp.url.is_some() {
                return Err(err(
                    "mcp.url",
                    "is only valid for STREAMABLEHTTP and SSE; STDIO uses `script` or `cmd`"
                        .to_owned(),
                ));
            }
            if mcp.uds.is_some() {
                return Err(err(
                    "mcp.uds",
                    "is only valid for STREAMABLEHTTP".to_owned(),
                ));
            }
            if mcp.tls.is_some() {
                return Err(err(
                    "mcp.tls",
                    "TLS configuration is only valid for HTTP/SSE transports".to_owned(),
                ));
            }
        }
        TransportType::StreamableHttp | TransportType::Sse => {
            if !has(&mcp.url) {
                return Err(err(
                    "mcp.url",
                    format!(
                        "{} needs `url`, e.g. https://plugins.internal:8000/mcp",
                        mcp.proto
                    ),
                ));
            }
            for (key, set) in [
                ("mcp.script", mcp.script.is_some()),
                ("mcp.cmd", mcp.cmd.is_some()),
                ("mcp.env", mcp.env.is_some()),
                ("mcp.cwd", mcp.cwd.is_some()),
            ] {
                if set {
                    return Err(err(key, "is only valid for STDIO".to_owned()));
                }
            }
            if let Some(uds) = &mcp.uds {
                if mcp.proto != TransportType::StreamableHttp {
                    return Err(err(
                        "mcp.uds",
                        "is only valid for STREAMABLEHTTP".to_owned(),
                    ));
                }
                if !Path::new(uds).is_absolute() {
                    return Err(err(
                        "mcp.uds",
                        format!("must be an absolute path, found {uds:?}"),
                    ));
                }
                if mcp.tls.is_some() {
                    return Err(err(
                        "mcp.tls",
                        "cannot be combined with `uds`: a Unix socket connection does not use TLS; remove one of them".to_owned(),
                    ));
                }
            }
            if let Some(tls) = &mcp.tls {
                if tls.keyfile.is_some() && tls.certfile.is_none() {
                    return Err(err(
                        "mcp.tls.keyfile",
                        "needs `certfile` as well".to_owned(),
                    ));
                }
            }
        }
        other => {
            return Err(err(
                "mcp.proto",
                format!("{other} is not supported for `mcp`; use STREAMABLEHTTP, SSE or STDIO"),
            ))
        }
    }
    Ok(())
}
