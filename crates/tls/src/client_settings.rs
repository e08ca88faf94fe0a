//! Client (gateway-side) TLS settings: the plugin entry's YAML `mcp.tls`, then each set
//! `PLUGINS_CLIENT_MTLS_*` variable, field by field (decision 1). Python uses the variables only
//! when `mcp.tls` is absent. Callers apply this only to `STREAMABLEHTTP` entries without `uds`.

use std::path::PathBuf;

use crate::env::{get, get_bool, vars, Env};
use crate::error::{Origin, Setting, TlsError};
use crate::server_settings::check_readable;

/// The YAML `mcp.tls` block of a plugin entry as given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientTlsLayer {
    /// `mcp.tls.certfile`: client certificate, or a cert+key bundle (`client.pem`).
    pub certfile: Option<PathBuf>,
    /// `mcp.tls.keyfile`.
    pub keyfile: Option<PathBuf>,
    /// `mcp.tls.ca_bundle`.
    pub ca_bundle: Option<PathBuf>,
    /// `mcp.tls.keyfile_password`.
    pub keyfile_password: Option<String>,
    /// `mcp.tls.verify` (default true).
    pub verify: Option<bool>,
    /// `mcp.tls.check_hostname` (default true).
    pub check_hostname: Option<bool>,
}

/// Resolved client TLS settings; the files were checked readable when resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientTlsSettings {
    /// Client certificate (chain) file, possibly holding the key too; `None`: no client cert.
    pub certfile: Option<PathBuf>,
    /// Client key file; `None` with a certfile means the key is inside the certfile.
    pub keyfile: Option<PathBuf>,
    /// CA bundle the server certificate must chain to; `None`: the system bundle.
    pub ca_bundle: Option<PathBuf>,
    /// Password of an encrypted PKCS#8 key.
    pub keyfile_password: Option<String>,
    /// `false`: accept any server certificate (dangerous; logged loudly).
    pub verify: bool,
    /// `false`: verify the chain but not the host name.
    pub check_hostname: bool,
    /// Where each value came from.
    pub origins: ClientTlsOrigins,
    /// YAML prefix used in messages, e.g. `mcp.tls` or `plugins[MyFilter].mcp.tls`.
    pub yaml_prefix: String,
}

/// Where each client TLS value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientTlsOrigins {
    /// Of `certfile`.
    pub certfile: Origin,
    /// Of `keyfile` (the certfile's when the key is inside it).
    pub keyfile: Origin,
    /// Of `ca_bundle`.
    pub ca_bundle: Origin,
    /// Of `keyfile_password`.
    pub keyfile_password: Origin,
    /// Of `verify`.
    pub verify: Origin,
    /// Of `check_hostname`.
    pub check_hostname: Origin,
}

impl Default for ClientTlsSettings {
    /// Verify against the system bundle, check host names, no client certificate.
    fn default() -> Self {
        ClientTlsSettings {
            certfile: None,
            keyfile: None,
            ca_bundle: None,
            keyfile_password: None,
            verify: true,
            check_hostname: true,
            origins: ClientTlsOrigins {
                certfile: Origin::Default,
                keyfile: Origin::Default,
                ca_bundle: Origin::Default,
                keyfile_password: Origin::Default,
                verify: Origin::Default,
                check_hostname: Origin::Default,
            },
            yaml_prefix: "mcp.tls".to_string(),
        }
    }
}

impl ClientTlsSettings {
    /// The two places a field can be set, for messages.
    pub fn setting(&self, field: &str) -> Setting {
        client_setting(&self.yaml_prefix, field)
    }

    pub(crate) fn key_settings(&self) -> crate::pem::KeySettings {
        crate::pem::KeySettings {
            certfile: self.setting("certfile"),
            keyfile: self.setting("keyfile"),
            password: self.setting("keyfile_password"),
        }
    }
}

fn client_setting(prefix: &str, field: &str) -> Setting {
    let env = match field {
        "certfile" => vars::PLUGINS_CLIENT_MTLS_CERTFILE,
        "keyfile" => vars::PLUGINS_CLIENT_MTLS_KEYFILE,
        "ca_bundle" => vars::PLUGINS_CLIENT_MTLS_CA_BUNDLE,
        "keyfile_password" => vars::PLUGINS_CLIENT_MTLS_KEYFILE_PASSWORD,
        "verify" => vars::PLUGINS_CLIENT_MTLS_VERIFY,
        _ => vars::PLUGINS_CLIENT_MTLS_CHECK_HOSTNAME,
    };
    Setting {
        yaml: format!("{prefix}.{field}"),
        env,
    }
}

/// [`resolve_client_tls_named`] without a plugin name (messages say `mcp.tls.FIELD`).
pub fn resolve_client_tls(
    yaml: Option<&ClientTlsLayer>,
    env: &dyn Env,
) -> Result<Option<ClientTlsSettings>, TlsError> {
    resolve_with_prefix("mcp.tls".to_string(), yaml, env)
}

/// Resolves one plugin entry's TLS (decision 1): `mcp.tls`, then each set
/// `PLUGINS_CLIENT_MTLS_*` variable. `Ok(None)` when neither gives anything (plain HTTP, or the
/// caller's own default). Messages name the plugin: `plugins[NAME].mcp.tls.certfile`.
pub fn resolve_client_tls_named(
    plugin: &str,
    yaml: Option<&ClientTlsLayer>,
    env: &dyn Env,
) -> Result<Option<ClientTlsSettings>, TlsError> {
    resolve_with_prefix(format!("plugins[{plugin}].mcp.tls"), yaml, env)
}

fn resolve_with_prefix(
    prefix: String,
    yaml: Option<&ClientTlsLayer>,
    env: &dyn Env,
) -> Result<Option<ClientTlsSettings>, TlsError> {
    let any_env = vars::CLIENT.iter().any(|v| get(env, v).is_some());
    if yaml.is_none() && !any_env {
        return Ok(None);
    }
    let empty = ClientTlsLayer::default();
    let y = yaml.unwrap_or(&empty);
    let yaml_origin = |field: &str| Origin::Yaml(format!("{prefix}.{field}"));

    let path_field =
        |var: &'static str, yv: &Option<PathBuf>, field: &str| -> Option<(PathBuf, Origin)> {
            match get(env, var) {
                Some(v) => Some((PathBuf::from(v.trim()), Origin::Env(var))),
                None => yv.clone().map(|p| (p, yaml_origin(field))),
            }
        };
    let bool_field =
        |var: &'static str, yv: Option<bool>, field: &str| -> Result<(bool, Origin), TlsError> {
            Ok(match get_bool(env, var)? {
                Some(b) => (b, Origin::Env(var)),
                None => match yv {
                    Some(b) => (b, yaml_origin(field)),
                    None => (true, Origin::Default),
                },
            })
        };

    let certfile = path_field(vars::PLUGINS_CLIENT_MTLS_CERTFILE, &y.certfile, "certfile");
    let keyfile = path_field(vars::PLUGINS_CLIENT_MTLS_KEYFILE, &y.keyfile, "keyfile");
    let ca_bundle = path_field(
        vars::PLUGINS_CLIENT_MTLS_CA_BUNDLE,
        &y.ca_bundle,
        "ca_bundle",
    );
    let password = match get(env, vars::PLUGINS_CLIENT_MTLS_KEYFILE_PASSWORD) {
        Some(p) => Some((p, Origin::Env(vars::PLUGINS_CLIENT_MTLS_KEYFILE_PASSWORD))),
        None => y
            .keyfile_password
            .clone()
            .filter(|p| !p.is_empty())
            .map(|p| (p, yaml_origin("keyfile_password"))),
    };
    let (verify, verify_origin) = bool_field(vars::PLUGINS_CLIENT_MTLS_VERIFY, y.verify, "verify")?;
    let (check_hostname, check_origin) = bool_field(
        vars::PLUGINS_CLIENT_MTLS_CHECK_HOSTNAME,
        y.check_hostname,
        "check_hostname",
    )?;

    if let (None, Some((_, keyfile_origin))) = (&certfile, &keyfile) {
        return Err(TlsError::KeyfileWithoutCertfile {
            keyfile_origin: keyfile_origin.clone(),
            certfile: client_setting(&prefix, "certfile"),
        });
    }
    if let Some((c, o)) = &certfile {
        check_readable("client certificate file", c, o)?;
        match &keyfile {
            Some((k, ko)) => check_readable("client key file", k, ko)?,
            None if !crate::pem::file_has_private_key(c) => {
                return Err(TlsError::MissingKey {
                    keyfile: client_setting(&prefix, "keyfile"),
                    certfile: c.clone(),
                    certfile_origin: o.clone(),
                })
            }
            None => {}
        }
    }
    if let Some((c, o)) = &ca_bundle {
        check_readable("CA bundle", c, o)?;
    }

    let origin_of = |v: &Option<(PathBuf, Origin)>| {
        v.as_ref()
            .map(|(_, o)| o.clone())
            .unwrap_or(Origin::Default)
    };
    let keyfile_origin = match (&keyfile, &certfile) {
        (Some((_, o)), _) | (None, Some((_, o))) => o.clone(),
        (None, None) => Origin::Default,
    };
    Ok(Some(ClientTlsSettings {
        origins: ClientTlsOrigins {
            certfile: origin_of(&certfile),
            keyfile: keyfile_origin,
            ca_bundle: origin_of(&ca_bundle),
            keyfile_password: password
                .as_ref()
                .map(|(_, o)| o.clone())
                .unwrap_or(Origin::Default),
            verify: verify_origin,
            check_hostname: check_origin,
        },
        certfile: certfile.map(|(p, _)| p),
        keyfile: keyfile.map(|(p, _)| p),
        ca_bundle: ca_bundle.map(|(p, _)| p),
        keyfile_password: password.map(|(p, _)| p),
        verify,
        check_hostname,
        yaml_prefix: prefix,
    }))
}
