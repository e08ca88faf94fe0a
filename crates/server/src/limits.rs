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
//! The YAML keys `server_settings.limits.*` named in [`yaml_keys`] are reserved for these
//! settings; until the config model carries them, the variables are the way to set them.

use std::time::Duration;

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

/// The YAML keys reserved for the same settings (the variables win, as for every
/// `PLUGINS_SERVER_*` setting).
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
    let mut l = ConnLimits::default();
    if let Some(n) = count(env, vars::PLUGINS_SERVER_MAX_CONNECTIONS, 1)? {
        l.max_connections = n as usize;
    }
    if let Some(d) = seconds(env, vars::PLUGINS_SERVER_BODY_TIMEOUT)? {
        l.body_timeout = d;
    }
    if let Some(n) = count(env, vars::PLUGINS_SERVER_BODY_MIN_RATE, 0)? {
        l.min_body_rate = n;
    }
    if let Some(d) = seconds(env, vars::PLUGINS_SERVER_DRAIN_TIMEOUT)? {
        l.drain_timeout = d;
    }
    Ok(l)
}

fn set(env: &dyn Env, name: &str) -> Option<String> {
    env.get(name)
}

fn count(env: &dyn Env, name: &str, min: u64) -> Result<Option<u64>, ServerError> {
    let Some(value) = set(env, name) else {
        return Ok(None);
    };
    match value.trim().parse::<u64>() {
        Ok(n) if n >= min && n <= u64::from(u32::MAX) => Ok(Some(n)),
        _ => Err(ServerError::InvalidOption {
            setting: name.to_string(),
            value,
            message: format!("expected a whole number from {min} to {}", u32::MAX),
        }),
    }
}

fn seconds(env: &dyn Env, name: &str) -> Result<Option<Duration>, ServerError> {
    let Some(value) = set(env, name) else {
        return Ok(None);
    };
    match value.trim().parse::<f64>() {
        Ok(s) if s > 0.0 && s <= 86_400.0 => Ok(Some(Duration::from_secs_f64(s))),
        _ => Err(ServerError::InvalidOption {
            setting: name.to_string(),
            value,
            message: "expected a number of seconds above 0 and at most 86400, e.g. 30 or 0.5"
                .into(),
        }),
    }
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
