//! Reading a plugins YAML file: bounded in size, and with duplicate keys refused.
//!
//! Without a bound, `PLUGINS_CONFIG_PATH=/dev/zero` (or a runaway generated file) is read until
//! memory runs out, with no message. Duplicate keys are silently "last one wins" in a plain
//! YAML→JSON parse: a second, empty `plugins:` serves no plugins, two `name:` keys serve the
//! entry under the second name. Both are refused here, naming the file (and line and key).

use std::io::Read;
use std::path::Path;

use plugwire_env::Env;

use super::error::ConfigError;

pub use plugwire_env::vars::PLUGINS_CONFIG_MAX_BYTES;

/// Default size limit: 4 MiB, some thousand times a large real config.
pub const DEFAULT_CONFIG_MAX_BYTES: u64 = 4 * 1024 * 1024;

/// Reads `path` as UTF-8, refusing it when larger than the limit (`PLUGINS_CONFIG_MAX_BYTES`,
/// default 4 MiB). Reads at most limit + 1 bytes, so an endless file is refused at once.
pub fn read_bounded(path: &Path, env: &dyn Env) -> Result<String, ConfigError> {
    let limit = max_bytes(env)?;
    let io_err = |source: std::io::Error| {
        if source.kind() == std::io::ErrorKind::NotFound {
            ConfigError::NotFound {
                path: path.to_path_buf(),
            }
        } else {
            ConfigError::Read {
                path: path.to_path_buf(),
                source,
            }
        }
    };
    let file = std::fs::File::open(path).map_err(io_err)?;
    let mut bytes = Vec::new();
    file.take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(io_err)?;
    if bytes.len() as u64 > limit {
        return Err(ConfigError::Read {
            path: path.to_path_buf(),
            source: std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!(
                    "larger than {limit} bytes (is it the right file? {PLUGINS_CONFIG_MAX_BYTES} raises the limit)"
                ),
            ),
        });
    }
    String::from_utf8(bytes).map_err(|e| ConfigError::Read {
        path: path.to_path_buf(),
        source: std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!(
                "not UTF-8 text (invalid byte at offset {})",
                e.utf8_error().valid_up_to()
            ),
        ),
    })
}

fn max_bytes(env: &dyn Env) -> Result<u64, ConfigError> {
    match env.get(PLUGINS_CONFIG_MAX_BYTES) {
        None => Ok(DEFAULT_CONFIG_MAX_BYTES),
        Some(v) => v
            .parse::<u64>()
            .ok()
            .filter(|n| *n >= 1024)
            .ok_or_else(|| ConfigError::Env {
                var: PLUGINS_CONFIG_MAX_BYTES.into(),
                value: v.clone(),
                message: format!(
                    "expected a number of bytes of at least 1024, e.g. {DEFAULT_CONFIG_MAX_BYTES} (the default)"
                ),
            }),
    }
}

/// Parses rendered YAML text into JSON, refusing duplicate keys in any mapping (the error names
/// `file`, the line and the key).
pub fn parse_yaml(rendered: &str, file: &str) -> Result<serde_json::Value, ConfigError> {
    let yaml_err = |e: yaml_serde::Error| ConfigError::Yaml {
        file: file.to_owned(),
        message: e.to_string(),
    };
    // A YAML `Mapping` refuses a key it already holds; the JSON map the config is read into
    // would keep the last one silently.
    if let Err(e) = yaml_serde::from_str::<yaml_serde::Value>(rendered) {
        let msg = e.to_string();
        // yaml_serde words it `[path: ]duplicate entry with key "k" [at line L column C]`,
        // the position being the mapping's start: the duplicate's own line is found below.
        const MARK: &str = "duplicate entry with key ";
        let found = msg.find(MARK).and_then(|at| {
            let quoted = msg[at + MARK.len()..].split(" at line").next()?;
            let key = serde_json::from_str::<String>(quoted).ok()?;
            let within = msg[..at].trim_end_matches(": ");
            Some((key, within))
        });
        return Err(match found {
            Some((key, within)) => ConfigError::Yaml {
                file: file.to_owned(),
                message: format!(
                    "{}duplicate key {key:?}{} (a key may appear once per mapping; merge the two or remove one)",
                    duplicate_line(rendered, &key).map_or_else(String::new, |l| format!("line {l}: ")),
                    if within.is_empty() { String::new() } else { format!(" in {within}") },
                ),
            },
            None => yaml_err(e),
        });
    }
    yaml_serde::from_str(rendered).map_err(yaml_err)
}

/// The line (1-based) of the second `key:` of one block mapping, for the error message. Block
/// style only (what config files use); `None` for flow mappings or anything unusual.
fn duplicate_line(text: &str, key: &str) -> Option<usize> {
    // Keys seen so far per column, for the mappings still open.
    let mut scopes: Vec<(usize, Vec<String>)> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let first = line.len() - line.trim_start_matches(' ').len();
        let rest = &line[first..];
        if rest.is_empty() || rest.starts_with('#') {
            continue;
        }
        // A line closes every mapping indented deeper than it starts.
        scopes.retain(|(col, _)| *col <= first);
        let (mut col, mut rest) = (first, rest);
        while let Some(r) = rest.strip_prefix("- ") {
            let skipped = r.len() - r.trim_start_matches(' ').len();
            col += 2 + skipped;
            rest = &r[skipped..];
            // An item starts a new mapping at its key's column.
            scopes.retain(|(c, _)| *c < col);
        }
        let Some(k) = line_key(rest) else { continue };
        match scopes.iter_mut().find(|(c, _)| *c == col) {
            Some((_, keys)) if keys.contains(&k) => {
                if k == key {
                    return Some(i + 1);
                }
            }
            Some((_, keys)) => keys.push(k),
            None => scopes.push((col, vec![k])),
        }
    }
    None
}

/// The key of a `key: value` (or `key:`) line, unquoted.
fn line_key(rest: &str) -> Option<String> {
    let (raw, _) = rest
        .split_once(": ")
        .or_else(|| rest.strip_suffix(':').map(|k| (k, "")))?;
    let raw = raw.trim();
    let unquoted = raw
        .strip_prefix('"')
        .and_then(|r| r.strip_suffix('"'))
        .or_else(|| raw.strip_prefix('\'').and_then(|r| r.strip_suffix('\'')))
        .unwrap_or(raw);
    (!unquoted.is_empty() && !unquoted.starts_with(['{', '[', '#'])).then(|| unquoted.to_string())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    use plugwire_env::EmptyEnv;
    use std::collections::HashMap;

    #[test]
    fn endless_file_is_refused_at_once_naming_it() {
        let started = std::time::Instant::now();
        let e = read_bounded(Path::new("/dev/zero"), &EmptyEnv).unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains("/dev/zero") && msg.contains("larger than 4194304 bytes"),
            "{msg}"
        );
        assert!(msg.contains(PLUGINS_CONFIG_MAX_BYTES), "{msg}");
        // Generous: proves it did not read gigabytes.
        assert!(started.elapsed() < std::time::Duration::from_secs(20));
    }

    #[test]
    fn oversized_file_is_refused_and_the_limit_is_settable() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.yaml");
        std::fs::write(&path, format!("# {}\nplugins: []\n", "x".repeat(5000))).unwrap();
        let small = HashMap::from([(PLUGINS_CONFIG_MAX_BYTES, "2048")]);
        let e = read_bounded(&path, &small).unwrap_err().to_string();
        assert!(
            e.contains("big.yaml") && e.contains("larger than 2048"),
            "{e}"
        );
        assert!(read_bounded(&path, &EmptyEnv).is_ok());
        let bad = HashMap::from([(PLUGINS_CONFIG_MAX_BYTES, "lots")]);
        let e = read_bounded(&path, &bad).unwrap_err().to_string();
        assert!(e.contains(PLUGINS_CONFIG_MAX_BYTES), "{e}");
    }

    #[test]
    fn duplicate_keys_are_refused_anywhere_with_line_and_key() {
        let cases = [
            ("plugins:\n  - name: A\n    kind: k\nplugins:\n", "plugins", 4),
            ("plugins:\n  - name: A\n    kind: k\n    name: B\n", "name", 4),
            (
                "plugins:\n  - name: A\n    kind: k\n    config:\n      words: []\n      words: [x]\n",
                "words",
                6,
            ),
            ("server_settings:\n  tls:\n    certfile: a\n    certfile: b\n", "certfile", 4),
        ];
        for (text, key, line) in cases {
            let e = parse_yaml(text, "dup.yaml").unwrap_err().to_string();
            assert!(e.contains("dup.yaml"), "{e}");
            assert!(e.contains(&format!("{key:?}")), "{key}: {e}");
            assert!(e.contains(&format!("line {line}")), "{key}: {e}");
        }
        assert!(parse_yaml("plugins:\n  - name: A\n  - name: B\n", "ok.yaml").is_ok());
    }
}
