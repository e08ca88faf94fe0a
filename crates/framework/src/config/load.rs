//! Loading and validating the plugins YAML: render templates, parse, decode in one serde pass
//! whose errors name the file, the plugin and the key, then apply the cross-field rules
//! (docs/decisions.md #15).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use plugwire_env::Env;
use serde_json::Value;
use serde_path_to_error::Segment;

use super::{
    render_template, Config, ConfigError, MCPClientConfig, PluginConfig, PluginSettings,
    TransportType, EXTERNAL_KIND,
};
use crate::JsonMap;

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
        let mut cfg = decode(value, source)?;
        cfg.source = Some(PathBuf::from(source));
        validate(&cfg, source)?;
        cfg.plugin_settings.apply_env(env)?;
        Ok(cfg)
    }
}

/// One serde pass over the parsed YAML. The structs in this module describe every key once; a
/// failure carries its path, which [`located`] turns into the plugin's name and the key.
fn decode(value: Value, file: &str) -> Result<Config, ConfigError> {
    let value = if value.is_null() {
        Value::Object(JsonMap::new())
    } else {
        value
    };
    let mut cfg: Config =
        serde_path_to_error::deserialize(&value).map_err(|e| located(e, &value, file))?;
    for u in unknown_keys(&value) {
        let known = u
            .known
            .iter()
            .map(|k| format!("`{k}`"))
            .collect::<Vec<_>>()
            .join(", ");
        let message = format!(
            "unknown key, ignored as the Python runtime ignores it (a typo?); the keys read \
             here are {known}"
        );
        let warning = ConfigError::invalid(file, u.plugin.as_deref(), &u.key, message);
        tracing::warn!(file, key = %u.full, "{warning}");
        cfg.unknown_keys.push(u.full);
    }
    // pydantic's `model_fields_set`: the keys each entry spells out.
    if let Some(Value::Array(entries)) = value.get("plugins") {
        for (p, entry) in cfg.plugins.iter_mut().zip(entries) {
            if let Value::Object(m) = entry {
                p.set_fields = m.keys().cloned().collect();
            }
        }
    }
    Ok(cfg)
}

/// A key no field reads, in a block whose keys are checked.
struct UnknownKey {
    /// From the top (`plugins[0].grpc.tls.verfy`).
    full: String,
    /// The entry's usable `name`, when the key is in one; `key` is then relative to it.
    plugin: Option<String>,
    /// As an error names it: relative to the entry when `plugin` is set, else `full`.
    key: String,
    /// The keys the block reads.
    known: Vec<&'static str>,
}

/// The keys of the server blocks and of the entries' transport sections that no field reads
/// (docs/decisions.md #104). Other sections are not checked: the entry itself and
/// `plugin_settings` gain keys with upstream releases, and `config:` is the plugin's.
/// `server_settings.limits` refuses unknown keys while decoding.
fn unknown_keys(root: &Value) -> Vec<UnknownKey> {
    use super::{
        GrpcClientConfig, GrpcClientTLSConfig, GrpcServerConfig, GrpcServerTLSConfig,
        MCPClientTLSConfig, MCPServerConfig, MCPServerTLSConfig, UnixSocketClientConfig,
        UnixSocketServerConfig,
    };
    use crate::serde_util::struct_fields;

    let top = [
        (
            "server_settings",
            struct_fields::<MCPServerConfig>().to_vec(),
        ),
        ("server_settings.tls", MCPServerTLSConfig::keys()),
        (
            "grpc_server_settings",
            struct_fields::<GrpcServerConfig>().to_vec(),
        ),
        ("grpc_server_settings.tls", GrpcServerTLSConfig::keys()),
        (
            "unix_socket_server_settings",
            struct_fields::<UnixSocketServerConfig>().to_vec(),
        ),
    ];
    let in_entry = [
        ("mcp", struct_fields::<MCPClientConfig>().to_vec()),
        ("mcp.tls", MCPClientTLSConfig::keys()),
        ("grpc", struct_fields::<GrpcClientConfig>().to_vec()),
        ("grpc.tls", GrpcClientTLSConfig::keys()),
        (
            "unix_socket",
            struct_fields::<UnixSocketClientConfig>().to_vec(),
        ),
    ];
    let mut out = Vec::new();
    for (path, known) in &top {
        unknown_in(root, path, known, None, &mut out);
    }
    if let Some(Value::Array(entries)) = root.get("plugins") {
        for (i, entry) in entries.iter().enumerate() {
            let name = entry["name"].as_str().filter(|n| !n.trim().is_empty());
            for (path, known) in &in_entry {
                unknown_in(entry, path, known, Some((i, name)), &mut out);
            }
        }
    }
    out
}

/// The keys of the mapping at `path` (dotted, under `base`) that are not in `known`. `entry`:
/// the index and usable name of the `plugins:` entry `base` is.
fn unknown_in(
    base: &Value,
    path: &str,
    known: &[&'static str],
    entry: Option<(usize, Option<&str>)>,
    out: &mut Vec<UnknownKey>,
) {
    let Some(Value::Object(block)) = path.split('.').try_fold(base, |v, k| v.get(k)) else {
        return;
    };
    for k in block.keys().filter(|k| !known.contains(&k.as_str())) {
        let key = format!("{path}.{k}");
        let (full, plugin, key) = match entry {
            None => (key.clone(), None, key),
            Some((i, Some(name))) => (format!("plugins[{i}].{key}"), Some(name.to_owned()), key),
            Some((i, None)) => {
                let full = format!("plugins[{i}].{key}");
                (full.clone(), None, full)
            }
        };
        out.push(UnknownKey {
            full,
            plugin,
            key,
            known: known.to_vec(),
        });
    }
}

/// A serde error at `path` as a [`ConfigError::Invalid`]: the entry named by its `name` when it
/// has a usable one (else `plugins[i]` stays in the key), the key spelled in full, and serde's
/// wording made plain ("expected a mapping, found the string \"x\"").
fn located(
    e: serde_path_to_error::Error<serde_json::Error>,
    root: &Value,
    file: &str,
) -> ConfigError {
    let segments: Vec<&Segment> = e.path().iter().collect();
    let found = segments.iter().try_fold(root, |v, s| match s {
        Segment::Map { key } => v.get(key),
        Segment::Seq { index } => v.get(index),
        _ => None,
    });
    let mut plugin = None;
    let mut rest = &segments[..];
    if let [Segment::Map { key }, Segment::Seq { index }, tail @ ..] = rest {
        let name = (key == "plugins")
            .then(|| root[key.as_str()][index]["name"].as_str())
            .flatten()
            .filter(|n| !n.trim().is_empty());
        if name.is_some() {
            plugin = name;
            rest = tail;
        }
    }
    let mut key = String::new();
    for s in rest {
        match s {
            Segment::Seq { index } => key.push_str(&format!("[{index}]")),
            Segment::Map { key: k } => {
                if !key.is_empty() {
                    key.push('.');
                }
                key.push_str(k);
            }
            _ => {}
        }
    }
    let inner = e.into_inner().to_string();
    let message = if let Some(field) = missing_field(&inner) {
        if !key.is_empty() {
            key.push('.');
        }
        key.push_str(field);
        missing_help(field)
    } else if let Some(rest) = inner.strip_prefix("unknown field `") {
        // `x`, expected one of `a`, `b`: the key itself is on the path already.
        let listed = rest.split_once(", ").map_or("", |(_, l)| l);
        format!("unknown key; {listed}")
    } else {
        plain_wording(&inner, found)
    };
    if key.is_empty() {
        key.push_str("(top level)");
    }
    ConfigError::invalid(file, plugin, key, message)
}

fn missing_field(message: &str) -> Option<&str> {
    message.strip_prefix("missing field `")?.strip_suffix('`')
}

/// What to write for a required key that is absent.
fn missing_help(field: &str) -> String {
    match field {
        "name" => "every plugin entry needs a `name`",
        "kind" => "missing; set the plugin kind (e.g. `search_replace`, a Python class path, or `external`)",
        "proto" => "missing; set STREAMABLEHTTP (with url) or STDIO (with script or cmd)",
        _ => "missing; this key is required",
    }
    .to_owned()
}

/// serde's "invalid type: string \"x\", expected a sequence" as "expected a list, found the
/// string \"x\"", with YAML's words for the kinds. Other messages (the lax coercions', the
/// enums' lists of names) are already plain and pass through.
fn plain_wording(message: &str, found: Option<&Value>) -> String {
    let Some(rest) = message
        .strip_prefix("invalid type: ")
        .or_else(|| message.strip_prefix("invalid value: "))
    else {
        return message.to_owned();
    };
    let Some((serde_found, expected)) = rest.rsplit_once(", expected ") else {
        return message.to_owned();
    };
    let expected = match expected {
        "a sequence" => "a list",
        "a map" => "a mapping",
        "f32" | "f64" => "a number",
        "i8" | "i16" | "i32" | "i64" | "u8" | "u16" | "u32" | "u64" => "an integer",
        other => other,
    };
    let found = match found {
        Some(Value::Null) => "null".to_owned(),
        Some(Value::Bool(b)) => format!("the boolean {b}"),
        Some(Value::Number(n)) => format!("the number {n}"),
        Some(Value::String(s)) => format!("the string {s:?}"),
        Some(Value::Array(_)) => "a list".to_owned(),
        Some(Value::Object(_)) => "a mapping".to_owned(),
        None => serde_found.to_owned(),
    };
    format!("expected {expected}, found {found}")
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
        if let Some(r) = tls.own.ssl_cert_reqs {
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
        if p.name.trim().is_empty() {
            return Err(ConfigError::invalid(
                file,
                None,
                format!("plugins[{i}].name"),
                "the plugin name must not be empty",
            ));
        }
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

/// An entry-level error: names the file, the plugin and the key.
type EntryError<'a> = dyn Fn(&str, String) -> ConfigError + 'a;

/// The cross-field rules of one plugin entry, in the order their errors are reported.
fn validate_entry(p: &PluginConfig, file: &str) -> Result<(), ConfigError> {
    let plugin = Some(p.name.as_str());
    let err = |key: &str, msg: String| ConfigError::invalid(file, plugin, key, msg);
    check_kind_and_timeout(p, &err)?;
    if p.kind == EXTERNAL_KIND {
        check_external_sections(p, &err)?;
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
    match mcp.proto {
        TransportType::Stdio => check_mcp_stdio(mcp, &err),
        TransportType::StreamableHttp | TransportType::Sse => check_mcp_http(mcp, &err),
        other => Err(err(
            "mcp.proto",
            format!("{other} is not supported for `mcp`; use STREAMABLEHTTP, SSE or STDIO"),
        )),
    }
}

/// `kind` is set and `timeout` is a sane number of seconds.
fn check_kind_and_timeout(p: &PluginConfig, err: &EntryError) -> Result<(), ConfigError> {
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
    Ok(())
}

/// An external entry carries no `config` (it lives on the plugin server) and exactly one
/// transport section.
fn check_external_sections(p: &PluginConfig, err: &EntryError) -> Result<(), ConfigError> {
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
        0 => Err(err(
            "mcp",
            "an external plugin needs exactly one transport section: `mcp:` (with `proto` and `url`, or `script`/`cmd` for STDIO), `grpc:` or `unix_socket:`".to_owned(),
        )),
        1 => Ok(()),
        _ => Err(err(
            "mcp",
            "an external plugin must have exactly one of `mcp:`, `grpc:`, `unix_socket:`; remove the others".to_owned(),
        )),
    }
}

/// A non-blank optional string.
fn has_text(o: &Option<String>) -> bool {
    o.as_deref().is_some_and(|s| !s.trim().is_empty())
}

/// STDIO: exactly one of `script`/`cmd`, and none of the HTTP-only keys.
fn check_mcp_stdio(mcp: &MCPClientConfig, err: &EntryError) -> Result<(), ConfigError> {
    if has_text(&mcp.script) == mcp.cmd.is_some() {
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
            "is only valid for STREAMABLEHTTP and SSE; STDIO uses `script` or `cmd`".to_owned(),
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
    Ok(())
}

/// STREAMABLEHTTP / SSE: a `url`, none of the STDIO-only keys, and a sound `uds`/`tls` pair.
fn check_mcp_http(mcp: &MCPClientConfig, err: &EntryError) -> Result<(), ConfigError> {
    if !has_text(&mcp.url) {
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
        check_mcp_uds(mcp, uds, err)?;
    }
    if let Some(tls) = &mcp.tls {
        if tls.files.keyfile.is_some() && tls.files.certfile.is_none() {
            return Err(err(
                "mcp.tls.keyfile",
                "needs `certfile` as well".to_owned(),
            ));
        }
    }
    Ok(())
}

/// `uds` is for STREAMABLEHTTP only, absolute and short enough, and never together with `tls`.
fn check_mcp_uds(mcp: &MCPClientConfig, uds: &str, err: &EntryError) -> Result<(), ConfigError> {
    if mcp.proto != TransportType::StreamableHttp {
        return Err(err(
            "mcp.uds",
            "is only valid for STREAMABLEHTTP".to_owned(),
        ));
    }
    if let Some(problem) = super::transports::unix_socket_path_problem(Path::new(uds)) {
        return Err(err("mcp.uds", problem));
    }
    if mcp.tls.is_some() {
        return Err(err(
            "mcp.tls",
            "cannot be combined with `uds`: a Unix socket connection does not use TLS; remove one of them".to_owned(),
        ));
    }
    Ok(())
}
