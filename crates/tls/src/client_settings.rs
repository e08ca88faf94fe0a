//! Client (gateway-side) TLS settings: a plugin entry's YAML `tls` block and the client
//! variables. MCP (`mcp.tls` + `PLUGINS_CLIENT_MTLS_*`): each set variable wins over the YAML,
//! field by field (docs/decisions.md #1; Python uses the variables only when `mcp.tls` is
//! absent); callers apply this only to `STREAMABLEHTTP` entries without `uds`. gRPC
//! (`grpc.tls` with `PLUGINS_GRPC_CLIENT_MTLS_*`): the variables apply only when the entry has no
//! `tls` block, as upstream does (docs/decisions.md #31).

use std::path::PathBuf;

use plugwire_env::{layer_bool, layer_plain, Key, Sourced};

use crate::env::{vars, Env};
use crate::error::{Origin, Setting, TlsError};
use crate::layered::LayeredFiles;
use crate::server_tls::check_readable;

/// The variables of one client side, and how they combine with the YAML.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientTlsNames {
    /// Certificate file.
    pub certfile: &'static str,
    /// Key file.
    pub keyfile: &'static str,
    /// CA bundle.
    pub ca_bundle: &'static str,
    /// Key password.
    pub keyfile_password: &'static str,
    /// `verify`.
    pub verify: &'static str,
    /// `check_hostname` (`None`: not a setting on this side, always true).
    pub check_hostname: Option<&'static str>,
    /// `server_name`: the pinned server identity.
    pub server_name: &'static str,
    /// `ca_crl`.
    pub ca_crl: &'static str,
    /// `true`: variables apply field by field over the YAML; `false`: only when the entry has
    /// no `tls` block at all.
    pub env_over_yaml: bool,
}

/// `mcp.tls` + `PLUGINS_CLIENT_MTLS_*`.
pub const MCP_CLIENT_TLS: ClientTlsNames = ClientTlsNames {
    certfile: vars::PLUGINS_CLIENT_MTLS_CERTFILE,
    keyfile: vars::PLUGINS_CLIENT_MTLS_KEYFILE,
    ca_bundle: vars::PLUGINS_CLIENT_MTLS_CA_BUNDLE,
    keyfile_password: vars::PLUGINS_CLIENT_MTLS_KEYFILE_PASSWORD,
    verify: vars::PLUGINS_CLIENT_MTLS_VERIFY,
    check_hostname: Some(vars::PLUGINS_CLIENT_MTLS_CHECK_HOSTNAME),
    server_name: vars::PLUGINS_CLIENT_MTLS_SERVER_NAME,
    ca_crl: vars::PLUGINS_CLIENT_MTLS_CA_CRL,
    env_over_yaml: true,
};

/// `grpc.tls` + `PLUGINS_GRPC_CLIENT_MTLS_*`.
pub const GRPC_CLIENT_TLS: ClientTlsNames = ClientTlsNames {
    certfile: vars::PLUGINS_GRPC_CLIENT_MTLS_CERTFILE,
    keyfile: vars::PLUGINS_GRPC_CLIENT_MTLS_KEYFILE,
    ca_bundle: vars::PLUGINS_GRPC_CLIENT_MTLS_CA_BUNDLE,
    keyfile_password: vars::PLUGINS_GRPC_CLIENT_MTLS_KEYFILE_PASSWORD,
    verify: vars::PLUGINS_GRPC_CLIENT_MTLS_VERIFY,
    check_hostname: None,
    server_name: vars::PLUGINS_GRPC_CLIENT_MTLS_SERVER_NAME,
    ca_crl: vars::PLUGINS_GRPC_CLIENT_MTLS_CA_CRL,
    env_over_yaml: false,
};

impl ClientTlsNames {
    fn var(&self, field: &str) -> &'static str {
        match field {
            "certfile" => self.certfile,
            "keyfile" => self.keyfile,
            "ca_bundle" => self.ca_bundle,
            "keyfile_password" => self.keyfile_password,
            "verify" => self.verify,
            "server_name" => self.server_name,
            "ca_crl" => self.ca_crl,
            _ => self
                .check_hostname
                .unwrap_or(vars::PLUGINS_CLIENT_MTLS_CHECK_HOSTNAME),
        }
    }

    fn all(&self) -> impl Iterator<Item = &'static str> + '_ {
        [
            self.certfile,
            self.keyfile,
            self.ca_bundle,
            self.keyfile_password,
            self.verify,
            self.server_name,
            self.ca_crl,
        ]
        .into_iter()
        .chain(self.check_hostname)
    }
}

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
    /// `mcp.tls.server_name`: identity the server certificate must carry.
    pub server_name: Option<String>,
    /// `mcp.tls.ca_crl`: CRL file checked for the server certificate.
    pub ca_crl: Option<PathBuf>,
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
    /// Pinned server identity (DNS name, IP or URI SAN), checked instead of the URL host.
    pub server_name: Option<String>,
    /// CRL file checked for the server certificate.
    pub ca_crl: Option<PathBuf>,
    /// Where each value came from.
    pub origins: ClientTlsOrigins,
    /// YAML prefix used in messages, e.g. `mcp.tls` or `plugins[MyFilter].mcp.tls`.
    pub yaml_prefix: String,
    /// The variables of this side, for messages.
    pub names: ClientTlsNames,
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
    /// Of `server_name`.
    pub server_name: Origin,
    /// Of `ca_crl`.
    pub ca_crl: Origin,
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
            server_name: None,
            ca_crl: None,
            origins: ClientTlsOrigins {
                certfile: Origin::Default,
                keyfile: Origin::Default,
                ca_bundle: Origin::Default,
                keyfile_password: Origin::Default,
                verify: Origin::Default,
                check_hostname: Origin::Default,
                server_name: Origin::Default,
                ca_crl: Origin::Default,
            },
            yaml_prefix: "mcp.tls".to_string(),
            names: MCP_CLIENT_TLS,
        }
    }
}

impl ClientTlsSettings {
    /// The two places a field can be set, for messages.
    pub fn setting(&self, field: &str) -> Setting {
        Key::new(&self.yaml_prefix, field, self.names.var(field))
    }
}

/// [`resolve_client_tls_named`] without a plugin name (messages say `mcp.tls.FIELD`).
pub fn resolve_client_tls(
    yaml: Option<&ClientTlsLayer>,
    env: &dyn Env,
) -> Result<Option<ClientTlsSettings>, TlsError> {
    resolve_client_tls_for("mcp.tls".to_string(), yaml, env, &MCP_CLIENT_TLS)
}

/// Resolves one plugin entry's MCP TLS (docs/decisions.md #1): `mcp.tls`, then each set
/// `PLUGINS_CLIENT_MTLS_*` variable. `Ok(None)` when neither gives anything (plain HTTP, or the
/// caller's own default). Messages name the plugin: `plugins[NAME].mcp.tls.certfile`.
pub fn resolve_client_tls_named(
    plugin: &str,
    yaml: Option<&ClientTlsLayer>,
    env: &dyn Env,
) -> Result<Option<ClientTlsSettings>, TlsError> {
    resolve_client_tls_for(
        format!("plugins[{plugin}].mcp.tls"),
        yaml,
        env,
        &MCP_CLIENT_TLS,
    )
}

/// Resolves one plugin entry's gRPC TLS: `grpc.tls` when the entry has one, else the
/// `PLUGINS_GRPC_CLIENT_MTLS_*` variables (as upstream). `Ok(None)`: neither.
pub fn resolve_grpc_client_tls(
    plugin: &str,
    yaml: Option<&ClientTlsLayer>,
    env: &dyn Env,
) -> Result<Option<ClientTlsSettings>, TlsError> {
    resolve_client_tls_for(
        format!("plugins[{plugin}].grpc.tls"),
        yaml,
        env,
        &GRPC_CLIENT_TLS,
    )
}

/// The one client resolver: `prefix` names the YAML block in messages, `names` the variables.
pub fn resolve_client_tls_for(
    prefix: String,
    yaml: Option<&ClientTlsLayer>,
    env: &dyn Env,
    names: &ClientTlsNames,
) -> Result<Option<ClientTlsSettings>, TlsError> {
    let any_env = names.all().any(|v| env.get(v).is_some());
    if yaml.is_none() && !any_env {
        return Ok(None);
    }
    // Where variables apply only without a YAML block, a block hides them all.
    let no_env: std::collections::HashMap<String, String> = Default::default();
    let env: &dyn Env = if names.env_over_yaml || yaml.is_none() {
        env
    } else {
        &no_env
    };
    let empty = ClientTlsLayer::default();
    let y = yaml.unwrap_or(&empty);
    let key = |field: &str| Key::new(&prefix, field, names.var(field));
    let files = ClientFiles::layer(env, &key, y);
    let flag = |field: &str, v: Option<bool>| -> Result<Sourced<bool>, TlsError> {
        Ok(layer_bool(env, &key(field), v)?.unwrap_or_else(|| Sourced::default_value(true)))
    };
    let verify = flag("verify", y.verify)?;
    let check_hostname = match names.check_hostname {
        Some(_) => flag("check_hostname", y.check_hostname)?,
        None => Sourced::default_value(true),
    };
    files.check(&key)?;
    let (server_name, ca_crl) = resolve_identity_checks(env, &key, y, verify.value)?;
    Ok(Some(files.into_settings(
        verify,
        check_hostname,
        (server_name, ca_crl),
        prefix,
        names,
    )))
}

/// The file settings of a client TLS block, checked for the client side.
struct ClientFiles(LayeredFiles);

impl ClientFiles {
    fn layer(env: &dyn Env, key: &dyn Fn(&str) -> Key, y: &ClientTlsLayer) -> Self {
        ClientFiles(LayeredFiles::layer(
            env,
            key,
            &y.certfile,
            &y.keyfile,
            &y.ca_bundle,
            &y.keyfile_password,
        ))
    }

    /// Every named file is readable now, a key file has its certificate, and a certificate
    /// without a key file holds the key itself: a wrong path fails at start-up, not at the
    /// first call.
    fn check(&self, key: &dyn Fn(&str) -> Key) -> Result<(), TlsError> {
        let LayeredFiles {
            certfile,
            keyfile,
            ca_bundle,
            ..
        } = &self.0;
        if let (None, Some(k)) = (certfile, keyfile) {
            return Err(TlsError::KeyfileWithoutCertfile {
                keyfile_origin: k.origin.clone(),
                certfile: key("certfile"),
            });
        }
        if let Some(c) = certfile {
            check_readable("client certificate file", &c.value, &c.origin)?;
            match keyfile {
                Some(k) => check_readable("client key file", &k.value, &k.origin)?,
                None if !crate::pem::file_has_private_key(&c.value) => {
                    return Err(TlsError::MissingKey {
                        keyfile: key("keyfile"),
                        certfile: c.value.clone(),
                        certfile_origin: c.origin.clone(),
                    })
                }
                None => {}
            }
        }
        if let Some(c) = ca_bundle {
            check_readable("CA bundle", &c.value, &c.origin)?;
        }
        Ok(())
    }

    /// The resolved settings; a key inside the certificate file has the certificate's origin.
    fn into_settings(
        self,
        verify: Sourced<bool>,
        check_hostname: Sourced<bool>,
        (server_name, ca_crl): IdentityChecks,
        prefix: String,
        names: &ClientTlsNames,
    ) -> ClientTlsSettings {
        let LayeredFiles {
            certfile,
            keyfile,
            ca_bundle,
            password,
        } = self.0;
        let origin_of = |v: Option<&Origin>| v.cloned().unwrap_or(Origin::Default);
        let keyfile_origin = origin_of(
            keyfile
                .as_ref()
                .map(|k| &k.origin)
                .or(certfile.as_ref().map(|c| &c.origin)),
        );
        ClientTlsSettings {
            origins: ClientTlsOrigins {
                certfile: origin_of(certfile.as_ref().map(|c| &c.origin)),
                keyfile: keyfile_origin,
                ca_bundle: origin_of(ca_bundle.as_ref().map(|c| &c.origin)),
                keyfile_password: origin_of(password.as_ref().map(|p| &p.origin)),
                verify: verify.origin,
                check_hostname: check_hostname.origin,
                server_name: origin_of(server_name.as_ref().map(|s| &s.origin)),
                ca_crl: origin_of(ca_crl.as_ref().map(|c| &c.origin)),
            },
            certfile: certfile.map(|c| c.value),
            keyfile: keyfile.map(|k| k.value),
            ca_bundle: ca_bundle.map(|c| c.value),
            keyfile_password: password.map(|p| p.value),
            verify: verify.value,
            check_hostname: check_hostname.value,
            server_name: server_name.map(|s| s.value),
            ca_crl: ca_crl.map(|c| c.value),
            yaml_prefix: prefix,
            names: names.clone(),
        }
    }
}

/// The pinned server name and the CRL file, each with where it came from.
type IdentityChecks = (Option<Sourced<String>>, Option<Sourced<PathBuf>>);

/// `server_name` (checked to be a DNS name, IP address or URI now, so a typo fails at start-up)
/// and `ca_crl` (readable now, checked against the CA bundle when the config is built). Both
/// need `verify` on: with it off nothing is checked, and silently ignoring a pin or a CRL the
/// operator configured would be worse than refusing to start.
fn resolve_identity_checks(
    env: &dyn Env,
    key: &dyn Fn(&str) -> Key,
    y: &ClientTlsLayer,
    verify: bool,
) -> Result<IdentityChecks, TlsError> {
    let server_name = plugwire_env::layer(
        env,
        &key("server_name"),
        y.server_name.clone(),
        check_pin,
        check_pin,
    )?;
    let ca_crl = layer_plain(env, &key("ca_crl"), y.ca_crl.clone(), PathBuf::from);
    if let Some(c) = &ca_crl {
        check_readable("CRL file", &c.value, &c.origin)?;
    }
    let given = [
        server_name.as_ref().map(|s| ("server_name", &s.origin)),
        ca_crl.as_ref().map(|c| ("ca_crl", &c.origin)),
    ];
    if let (false, Some((field, origin))) = (verify, given.into_iter().flatten().next()) {
        return Err(TlsError::Ineffective {
            setting: key(field),
            origin: origin.clone(),
            because: "while verify is false (no server certificate is checked)",
            fix: "set verify to true, or remove it",
        });
    }
    Ok((server_name, ca_crl))
}

fn check_pin(value: String, origin: &Origin) -> Result<String, TlsError> {
    crate::identity::ServerPin::parse(&value)
        .map(|_| value.trim().to_string())
        .map_err(|reason| TlsError::InvalidServerNamePin {
            origin: origin.clone(),
            value,
            reason,
        })
}
