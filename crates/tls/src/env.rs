//! Where settings come from: the process environment behind a trait, so the
//! "env overrides YAML" rules can be unit-tested with a `HashMap` instead of `set_var`.

use std::collections::HashMap;

use crate::error::TlsError;

/// A source of environment variables. Names are exact (upper case), as decision 1 says.
pub trait Env {
    /// The raw value of `name`, or `None` when it is not set.
    fn var(&self, name: &str) -> Option<String>;
}

/// The real process environment.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        // A value that is not valid UTF-8 cannot be a path we print nor a number; treat it as
        // lossy text so the error that follows names the variable instead of ignoring it.
        std::env::var_os(name).map(|v| v.to_string_lossy().into_owned())
    }
}

impl Env for HashMap<String, String> {
    fn var(&self, name: &str) -> Option<String> {
        self.get(name).cloned()
    }
}

impl Env for HashMap<&str, &str> {
    fn var(&self, name: &str) -> Option<String> {
        self.get(name).map(|v| (*v).to_string())
    }
}

/// Names of every environment variable this crate reads, in one place (linkerd2-proxy habit).
pub mod vars {
    /// Bind address of `plugwire serve`.
    pub const PLUGINS_SERVER_HOST: &str = "PLUGINS_SERVER_HOST";
    /// TCP port of `plugwire serve` (1-65535).
    pub const PLUGINS_SERVER_PORT: &str = "PLUGINS_SERVER_PORT";
    /// Unix socket path; excludes TLS.
    pub const PLUGINS_SERVER_UDS: &str = "PLUGINS_SERVER_UDS";
    /// Turns server TLS on (`true`) or off (`false`, even if the YAML has `tls`).
    pub const PLUGINS_SERVER_SSL_ENABLED: &str = "PLUGINS_SERVER_SSL_ENABLED";
    /// Server private key file.
    pub const PLUGINS_SERVER_SSL_KEYFILE: &str = "PLUGINS_SERVER_SSL_KEYFILE";
    /// Server certificate (chain) file.
    pub const PLUGINS_SERVER_SSL_CERTFILE: &str = "PLUGINS_SERVER_SSL_CERTFILE";
    /// CA bundle that client certificates must chain to.
    pub const PLUGINS_SERVER_SSL_CA_CERTS: &str = "PLUGINS_SERVER_SSL_CA_CERTS";
    /// Client certificate policy: 0 none, 1 optional, 2 required.
    pub const PLUGINS_SERVER_SSL_CERT_REQS: &str = "PLUGINS_SERVER_SSL_CERT_REQS";
    /// Password of an encrypted PKCS#8 server key.
    pub const PLUGINS_SERVER_SSL_KEYFILE_PASSWORD: &str = "PLUGINS_SERVER_SSL_KEYFILE_PASSWORD";

    /// Gateway client certificate file (or cert+key bundle).
    pub const PLUGINS_CLIENT_MTLS_CERTFILE: &str = "PLUGINS_CLIENT_MTLS_CERTFILE";
    /// Gateway client private key file.
    pub const PLUGINS_CLIENT_MTLS_KEYFILE: &str = "PLUGINS_CLIENT_MTLS_KEYFILE";
    /// CA bundle plugin server certificates must chain to.
    pub const PLUGINS_CLIENT_MTLS_CA_BUNDLE: &str = "PLUGINS_CLIENT_MTLS_CA_BUNDLE";
    /// `false` accepts any server certificate (dangerous).
    pub const PLUGINS_CLIENT_MTLS_VERIFY: &str = "PLUGINS_CLIENT_MTLS_VERIFY";
    /// `false` verifies the chain but not the host name.
    pub const PLUGINS_CLIENT_MTLS_CHECK_HOSTNAME: &str = "PLUGINS_CLIENT_MTLS_CHECK_HOSTNAME";
    /// Password of an encrypted PKCS#8 client key.
    pub const PLUGINS_CLIENT_MTLS_KEYFILE_PASSWORD: &str = "PLUGINS_CLIENT_MTLS_KEYFILE_PASSWORD";

    /// Every server variable, for docs and diagnostics.
    pub const SERVER: [&str; 9] = [
        PLUGINS_SERVER_HOST,
        PLUGINS_SERVER_PORT,
        PLUGINS_SERVER_UDS,
        PLUGINS_SERVER_SSL_ENABLED,
        PLUGINS_SERVER_SSL_KEYFILE,
        PLUGINS_SERVER_SSL_CERTFILE,
        PLUGINS_SERVER_SSL_CA_CERTS,
        PLUGINS_SERVER_SSL_CERT_REQS,
        PLUGINS_SERVER_SSL_KEYFILE_PASSWORD,
    ];
    /// Every client variable, for docs and diagnostics.
    pub const CLIENT: [&str; 6] = [
        PLUGINS_CLIENT_MTLS_CERTFILE,
        PLUGINS_CLIENT_MTLS_KEYFILE,
        PLUGINS_CLIENT_MTLS_CA_BUNDLE,
        PLUGINS_CLIENT_MTLS_VERIFY,
        PLUGINS_CLIENT_MTLS_CHECK_HOSTNAME,
        PLUGINS_CLIENT_MTLS_KEYFILE_PASSWORD,
    ];
}

/// The value of `name`, with an empty (or all-blank) value counted as unset (decision 1).
pub fn get(env: &dyn Env, name: &str) -> Option<String> {
    env.var(name).filter(|v| !v.trim().is_empty())
}

/// Parses a boolean the way decision 1 spells it: `1/0/true/false/yes/no/on/off`, any case.
pub fn parse_bool(text: &str) -> Option<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" => Some(false),
        _ => None,
    }
}

/// Reads the boolean variable `name`: unset/empty gives `None`, a bad spelling an error naming it.
pub fn get_bool(env: &dyn Env, name: &'static str) -> Result<Option<bool>, TlsError> {
    match get(env, name) {
        None => Ok(None),
        Some(v) => parse_bool(&v).map(Some).ok_or(TlsError::InvalidBool {
            var: name,
            value: v,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bool_spellings() {
        for t in ["1", "true", "TRUE", "Yes", "on", " On "] {
            assert_eq!(parse_bool(t), Some(true), "{t}");
        }
        for f in ["0", "false", "False", "NO", "off"] {
            assert_eq!(parse_bool(f), Some(false), "{f}");
        }
        for bad in ["maybe", "t", "y", "2", ""] {
            assert_eq!(parse_bool(bad), None, "{bad}");
        }
    }

    #[test]
    fn empty_is_unset() {
        let env: HashMap<String, String> = [
            ("A".to_string(), String::new()),
            ("B".to_string(), "  ".to_string()),
        ]
        .into();
        assert_eq!(get(&env, "A"), None);
        assert_eq!(get(&env, "B"), None);
        assert_eq!(get(&env, "C"), None);
    }

    #[test]
    fn bad_bool_names_the_variable() {
        let env: HashMap<String, String> = [("X_VERIFY".to_string(), "maybe".to_string())].into();
        let err = get_bool(&env, "X_VERIFY").unwrap_err().to_string();
        assert!(err.contains("X_VERIFY") && err.contains("maybe"), "{err}");
    }
}
