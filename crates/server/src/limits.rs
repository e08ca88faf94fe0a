//! Resource limits of the HTTP listeners, and the variables that set them.
//!
//! A peer — with or without a client certificate — must not be able to hold a connection, its
//! buffers or the shutdown for long. Each phase of a connection has a bound:
//!
//! | phase | bound | variable | default |
//! |---|---|---|---|
//! | TLS handshake (and its first byte) | `handshake_timeout` | — | 10 s (each) |
//! | request headers, and idle keep-alive | `header_read_timeout` | — | 30 s |
//! | request body, whole | `body_timeout` | `PLUGINS_SERVER_BODY_TIMEOUT` | 30 s |
//! | request body, average rate after [`BODY_RATE_GRACE`] | `min_body_rate` | `PLUGINS_SERVER_BODY_MIN_RATE` | 1024 B/s |
//! | open connections per listener | `max_connections` | `PLUGINS_SERVER_MAX_CONNECTIONS` | 1024 |
//! | shutdown drain | `drain_timeout` | `PLUGINS_SERVER_DRAIN_TIMEOUT` | 30 s |
//!
//! Memory buffered per connection is at most the body limit (`PLUGINS_SERVER_MAX_BODY_BYTES`)
//! plus hyper's header buffer (about 400 KiB), and only for as long as the timeouts above allow;
//! so a listener holds at most `max_connections` × that.
//!
//! Each setting is also a YAML key under `server_settings.limits` ([`yaml_keys`]); a set
//! variable wins over its key, field by field, as for every `PLUGINS_SERVER_*` setting.

use std::time::Duration;

use plugwire_env::{layer, Key, Origin};
use plugwire_framework::ServerLimitsConfig;
use plugwire_tls::Env;

use crate::error::ServerError;
use crate::listen::ConnLimits;

/// Environment variables of the limits.
pub mod vars {
    /// Most open connections per listener; more are refused at accept (closed, with a WARN).
    pub const PLUGINS_SERVER_MAX_CONNECTIONS: &str = "PLUGINS_SERVER_MAX_CONNECTIONS";
    /// Seconds a request body may take in full (answered 408 and closed after that).
    pub const PLUGINS_SERVER_BODY_TIMEOUT: &str = "PLUGINS_SERVER_BODY_TIMEOUT";
    /// Slowest average body rate in bytes per second (0 turns the check off).
    pub const PLUGINS_SERVER_BODY_MIN_RATE: &str = "PLUGINS_SERVER_BODY_MIN_RATE";
    /// Seconds shutdown waits for in-flight requests before closing connections anyway.
    pub const PLUGINS_SERVER_DRAIN_TIMEOUT: &str = "PLUGINS_SERVER_DRAIN_TIMEOUT";
}

/// The YAML keys of the same settings (the variables win, as for every `PLUGINS_SERVER_*`
/// setting).
pub mod yaml_keys {
    /// See [`super::vars::PLUGINS_SERVER_MAX_CONNECTIONS`].
    pub const MAX_CONNECTIONS: &str = "server_settings.limits.max_connections";
    /// See [`super::vars::PLUGINS_SERVER_BODY_TIMEOUT`].
    pub const BODY_TIMEOUT: &str = "server_settings.limits.body_timeout";
    /// See [`super::vars::PLUGINS_SERVER_BODY_MIN_RATE`].
    pub const BODY_MIN_RATE: &str = "server_settings.limits.body_min_rate";
    /// See [`super::vars::PLUGINS_SERVER_DRAIN_TIMEOUT`].
    pub const DRAIN_TIMEOUT: &str = "server_settings.limits.drain_timeout";
}

/// Default of `max_connections`: far above what a gateway's pool opens (tens), low enough that
/// a flood is refused long before file descriptors run out.
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;
/// Default of `body_timeout`.
pub const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_secs(30);
/// Default of `min_body_rate`, bytes per second: a 1 MiB body may take 17 minutes at this rate,
/// so only a peer that is (nearly) stalled is cut.
pub const DEFAULT_BODY_MIN_RATE: u64 = 1024;
/// Default of `drain_timeout`: below Kubernetes' default 30 s grace period is not needed
/// because a drain ends as soon as the last connection is closed.
pub const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(30);
/// The minimum body rate is checked only after this much time, so the first round trips of a
/// slow link do not count against it.
pub const BODY_RATE_GRACE: Duration = Duration::from_secs(5);
/// During a drain, a connection with no request in progress for this long is closed; one that
/// sends a request before then is answered (with `connection: close`).
pub const DRAIN_IDLE_GRACE: Duration = Duration::from_secs(1);

/// [`ConnLimits::default()`] with the `PLUGINS_SERVER_*` limit variables applied.
pub fn resolve_limits(env: &dyn Env) -> Result<ConnLimits, ServerError> {
    resolve_limits_with(None, env)
}

/// [`ConnLimits::default()`], then the `server_settings.limits` keys of `yaml`, then each set
/// `PLUGINS_SERVER_*` limit variable. Errors name the key or the variable that gave the value.
pub fn resolve_limits_with(
    yaml: Option<&ServerLimitsConfig>,
    env: &dyn Env,
) -> Result<ConnLimits, ServerError> {
    let y = yaml.cloned().unwrap_or_default();
    let key = |field: &str, var| Key::new("server_settings.limits", field, var);
    let mut l = ConnLimits::default();
    let max = key("max_connections", vars::PLUGINS_SERVER_MAX_CONNECTIONS);
    if let Some(n) = count(env, &max, y.max_connections, 1)? {
        l.max_connections = n as usize;
    }
    let body = key("body_timeout", vars::PLUGINS_SERVER_BODY_TIMEOUT);
    if let Some(d) = seconds(env, &body, y.body_timeout)? {
        l.body_timeout = d;
    }
    let rate = key("body_min_rate", vars::PLUGINS_SERVER_BODY_MIN_RATE);
    if let Some(n) = count(env, &rate, y.body_min_rate, 0)? {
        l.min_body_rate = n;
    }
    let drain = key("drain_timeout", vars::PLUGINS_SERVER_DRAIN_TIMEOUT);
    if let Some(d) = seconds(env, &drain, y.drain_timeout)? {
        l.drain_timeout = d;
    }
    Ok(l)
}

fn invalid(origin: &Origin, value: String, message: String) -> ServerError {
    let setting = match origin {
        Origin::Env(var) => (*var).to_string(),
        other => other.to_string(),
    };
    ServerError::InvalidOption {
        setting,
        value,
        message,
    }
}

fn count(
    env: &dyn Env,
    key: &Key,
    yaml: Option<i64>,
    min: u64,
) -> Result<Option<u64>, ServerError> {
    let max = u64::from(u32::MAX);
    let message = || format!("expected a whole number from {min} to {max}");
    let in_range = |n: u64| (min..=max).contains(&n);
    let v = layer(
        env,
        key,
        yaml,
        |n, o| match u64::try_from(n) {
            Ok(n) if in_range(n) => Ok(n),
            _ => Err(invalid(o, n.to_string(), message())),
        },
        |v, o| match v.parse::<u64>() {
            Ok(n) if in_range(n) => Ok(n),
            _ => Err(invalid(o, v.clone(), message())),
        },
    )?;
    Ok(v.map(|s| s.value))
}

fn seconds(env: &dyn Env, key: &Key, yaml: Option<f64>) -> Result<Option<Duration>, ServerError> {
    let message =
        || "expected a number of seconds above 0 and at most 86400, e.g. 30 or 0.5".to_string();
    let check = |s: f64, shown: String, o: &Origin| {
        if s > 0.0 && s <= 86_400.0 {
            Ok(Duration::from_secs_f64(s))
        } else {
            Err(invalid(o, shown, message()))
        }
    };
    let v = layer(
        env,
        key,
        yaml,
        |s, o| check(s, s.to_string(), o),
        |v, o| match v.parse::<f64>() {
            Ok(s) => check(s, v.clone(), o),
            Err(_) => Err(invalid(o, v.clone(), message())),
        },
    )?;
    Ok(v.map(|s| s.value))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    struct Map(HashMap<&'static str, &'static str>);
    impl Env for Map {
        fn var(&self, name: &str) -> Option<String> {
            self.0.get(name).map(|v| v.to_string())
        }
    }

    #[test]
    fn defaults_and_overrides() {
        let l = resolve_limits(&Map(HashMap::new())).unwrap();
        assert_eq!(l.max_connections, DEFAULT_MAX_CONNECTIONS);
        assert_eq!(l.body_timeout, DEFAULT_BODY_TIMEOUT);
        let l = resolve_limits(&Map(HashMap::from([
            (vars::PLUGINS_SERVER_MAX_CONNECTIONS, "7"),
            (vars::PLUGINS_SERVER_BODY_TIMEOUT, "0.5"),
            (vars::PLUGINS_SERVER_BODY_MIN_RATE, "0"),
            (vars::PLUGINS_SERVER_DRAIN_TIMEOUT, "5"),
        ])))
        .unwrap();
        assert_eq!(l.max_connections, 7);
        assert_eq!(l.body_timeout, Duration::from_millis(500));
        assert_eq!(l.min_body_rate, 0);
        assert_eq!(l.drain_timeout, Duration::from_secs(5));
    }

    #[test]
    fn yaml_keys_apply_and_each_variable_wins_over_its_key() {
        let yaml = ServerLimitsConfig {
            max_connections: Some(9),
            body_timeout: Some(2.5),
            body_min_rate: Some(10),
            drain_timeout: Some(4.0),
        };
        let l = resolve_limits_with(Some(&yaml), &Map(HashMap::new())).unwrap();
        assert_eq!(l.max_connections, 9);
        assert_eq!(l.body_timeout, Duration::from_millis(2500));
        assert_eq!(l.min_body_rate, 10);
        assert_eq!(l.drain_timeout, Duration::from_secs(4));
        let env = Map(HashMap::from([
            (vars::PLUGINS_SERVER_MAX_CONNECTIONS, "3"),
            (vars::PLUGINS_SERVER_DRAIN_TIMEOUT, " "),
        ]));
        let l = resolve_limits_with(Some(&yaml), &env).unwrap();
        assert_eq!(l.max_connections, 3, "the variable wins");
        assert_eq!(l.drain_timeout, Duration::from_secs(4), "blank is unset");
        assert_eq!(l.min_body_rate, 10, "field by field");
    }

    #[test]
    fn bad_yaml_values_name_the_key() {
        for (yaml, key) in [
            (
                ServerLimitsConfig {
                    max_connections: Some(0),
                    ..Default::default()
                },
                yaml_keys::MAX_CONNECTIONS,
            ),
            (
                ServerLimitsConfig {
                    body_min_rate: Some(-1),
                    ..Default::default()
                },
                yaml_keys::BODY_MIN_RATE,
            ),
            (
                ServerLimitsConfig {
                    body_timeout: Some(0.0),
                    ..Default::default()
                },
                yaml_keys::BODY_TIMEOUT,
            ),
            (
                ServerLimitsConfig {
                    drain_timeout: Some(1e9),
                    ..Default::default()
                },
                yaml_keys::DRAIN_TIMEOUT,
            ),
        ] {
            let e = resolve_limits_with(Some(&yaml), &Map(HashMap::new())).unwrap_err();
            assert!(e.to_string().contains(key), "{e}");
        }
    }

    #[test]
    fn bad_values_name_the_variable() {
        for (var, value) in [
            (vars::PLUGINS_SERVER_MAX_CONNECTIONS, "0"),
            (vars::PLUGINS_SERVER_MAX_CONNECTIONS, "many"),
            (vars::PLUGINS_SERVER_BODY_TIMEOUT, "-1"),
            (vars::PLUGINS_SERVER_DRAIN_TIMEOUT, "NaN"),
        ] {
            let e = resolve_limits(&Map(HashMap::from([(var, value)]))).unwrap_err();
            assert!(e.to_string().contains(var), "{e}");
        }
    }
}
