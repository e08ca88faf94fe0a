//! The four file settings every TLS block has (certificate, key, CA bundle, key password),
//! layered from YAML and variables the same way on the server and the client side.

use std::path::PathBuf;

use plugwire_env::{layer_plain, Key, Sourced};

use crate::env::Env;

/// The file settings of one TLS block, each with where it came from. Nothing is read here.
pub(crate) struct LayeredFiles {
    pub(crate) certfile: Option<Sourced<PathBuf>>,
    pub(crate) keyfile: Option<Sourced<PathBuf>>,
    pub(crate) ca_bundle: Option<Sourced<PathBuf>>,
    pub(crate) password: Option<Sourced<String>>,
}

impl LayeredFiles {
    /// Each field from its YAML value or its variable (`key` names both); an empty password
    /// is no password.
    pub(crate) fn layer(
        env: &dyn Env,
        key: &dyn Fn(&str) -> Key,
        certfile: &Option<PathBuf>,
        keyfile: &Option<PathBuf>,
        ca_bundle: &Option<PathBuf>,
        password: &Option<String>,
    ) -> Self {
        let path = |field: &str, v: &Option<PathBuf>| {
            layer_plain(env, &key(field), v.clone(), PathBuf::from)
        };
        LayeredFiles {
            certfile: path("certfile", certfile),
            keyfile: path("keyfile", keyfile),
            ca_bundle: path("ca_bundle", ca_bundle),
            password: layer_plain(
                env,
                &key("keyfile_password"),
                password.clone().filter(|p| !p.is_empty()),
                |v| v,
            ),
        }
    }
}
