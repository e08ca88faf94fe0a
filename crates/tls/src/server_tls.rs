//! Server TLS settings, for every server side (MCP's `server_settings.tls` + `PLUGINS_SERVER_SSL_*`,
//! gRPC's `grpc_server_settings.tls` + `PLUGINS_GRPC_SERVER_SSL_*`): built-in defaults, then the
//! YAML block, then each set variable, field by field (docs/decisions.md #1). Python does the
//! opposite (a YAML block makes it ignore env entirely); we follow the guide, which promises that
//! env wins. The two sides differ only in their [`ServerTlsNames`].

use std::path::{Path, PathBuf};

use plugwire_env::{layer, layer_plain, Key, Sourced};

use crate::env::{vars, Env};
use crate::error::{Origin, Setting, TlsError};
use crate::identity::AllowList;
use crate::layered::LayeredFiles;

/// The YAML `tls` block of a server section as given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerTlsLayer {
    /// `tls.certfile`.
    pub certfile: Option<PathBuf>,
    /// `tls.keyfile`.
    pub keyfile: Option<PathBuf>,
    /// `tls.ca_bundle`.
    pub ca_bundle: Option<PathBuf>,
    /// `tls.keyfile_password`.
    pub keyfile_password: Option<String>,
    /// MCP: `tls.ssl_cert_reqs` (0/1/2; checked here).
    pub ssl_cert_reqs: Option<i64>,
    /// gRPC: `tls.client_auth` (`none`/`optional`/`require`, any case; checked here).
    pub client_auth: Option<String>,
    /// `tls.require_valid_certificate`: refuse an expired or not-yet-valid certificate.
    pub require_valid_certificate: Option<bool>,
    /// `tls.allowed_clients`: client identities allowed to call ([`crate::identity`]).
    pub allowed_clients: Option<Vec<String>>,
    /// `tls.ca_crl`: CRL file(s) of the CA bundle, checked for every client certificate.
    pub ca_crl: Option<PathBuf>,
}

/// Client-certificate policy: MCP spells it `ssl_cert_reqs` 0/1/2 (docs/decisions.md #3: an
/// integer), gRPC `client_auth` none/optional/require.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClientCertPolicy {
    /// 0: no client certificate asked for.
    None,
    /// 1: asked for; a presented one must verify, none is accepted.
    Optional,
    /// 2: required (mTLS), the default.
    Required,
}

impl ClientCertPolicy {
    /// The `ssl_cert_reqs` integer.
    pub fn as_int(self) -> u8 {
        match self {
            ClientCertPolicy::None => 0,
            ClientCertPolicy::Optional => 1,
            ClientCertPolicy::Required => 2,
        }
    }

    /// From the `ssl_cert_reqs` integer.
    pub fn from_int(v: i64) -> Option<Self> {
        match v {
            0 => Some(ClientCertPolicy::None),
            1 => Some(ClientCertPolicy::Optional),
            2 => Some(ClientCertPolicy::Required),
            _ => None,
        }
    }

    /// From the gRPC `client_auth` word, any case.
    pub fn from_word(v: &str) -> Option<Self> {
        match v.trim().to_ascii_lowercase().as_str() {
            "none" => Some(ClientCertPolicy::None),
            "optional" => Some(ClientCertPolicy::Optional),
            "require" | "required" => Some(ClientCertPolicy::Required),
            _ => None,
        }
    }
}

impl std::fmt::Display for ClientCertPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientCertPolicy::None => f.write_str("ssl_cert_reqs=0 (no client certificate)"),
            ClientCertPolicy::Optional => {
                f.write_str("ssl_cert_reqs=1 (client certificate optional, verified when sent)")
            }
            ClientCertPolicy::Required => {
                f.write_str("ssl_cert_reqs=2 (client certificate required, mTLS)")
            }
        }
    }
}

/// How the client-certificate policy is spelled on one side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicySpelling {
    /// `ssl_cert_reqs`: 0, 1, 2 (MCP).
    CertReqs,
    /// `client_auth`: none, optional, require (gRPC).
    ClientAuth,
}

/// The YAML keys and variables of one server side's TLS settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerTlsNames {
    /// YAML path of the `tls` block, e.g. `server_settings.tls`.
    pub tls_key: &'static str,
    /// Turns TLS on or off.
    pub enabled: &'static str,
    /// Certificate file.
    pub certfile: &'static str,
    /// Key file.
    pub keyfile: &'static str,
    /// CA bundle.
    pub ca_bundle: &'static str,
    /// Key password.
    pub keyfile_password: &'static str,
    /// Client-certificate policy.
    pub policy: &'static str,
    /// How the policy is spelled.
    pub spelling: PolicySpelling,
    /// Refuse an invalid certificate.
    pub require_valid: &'static str,
    /// Client identity allow-list (comma-separated in the variable).
    pub allowed_clients: &'static str,
    /// CRL file.
    pub ca_crl: &'static str,
}

/// `server_settings.tls` + `PLUGINS_SERVER_SSL_*` (the MCP server).
pub const MCP_SERVER_TLS: ServerTlsNames = ServerTlsNames {
    tls_key: "server_settings.tls",
    enabled: vars::PLUGINS_SERVER_SSL_ENABLED,
    certfile: vars::PLUGINS_SERVER_SSL_CERTFILE,
    keyfile: vars::PLUGINS_SERVER_SSL_KEYFILE,
    ca_bundle: vars::PLUGINS_SERVER_SSL_CA_CERTS,
    keyfile_password: vars::PLUGINS_SERVER_SSL_KEYFILE_PASSWORD,
    policy: vars::PLUGINS_SERVER_SSL_CERT_REQS,
    spelling: PolicySpelling::CertReqs,
    require_valid: vars::PLUGINS_SERVER_SSL_REQUIRE_VALID_CERT,
    allowed_clients: vars::PLUGINS_SERVER_SSL_ALLOWED_CLIENTS,
    ca_crl: vars::PLUGINS_SERVER_SSL_CA_CRL,
};

/// `grpc_server_settings.tls` + `PLUGINS_GRPC_SERVER_SSL_*` (the gRPC server).
pub const GRPC_SERVER_TLS: ServerTlsNames = ServerTlsNames {
    tls_key: "grpc_server_settings.tls",
    enabled: vars::PLUGINS_GRPC_SERVER_SSL_ENABLED,
    certfile: vars::PLUGINS_GRPC_SERVER_SSL_CERTFILE,
    keyfile: vars::PLUGINS_GRPC_SERVER_SSL_KEYFILE,
    ca_bundle: vars::PLUGINS_GRPC_SERVER_SSL_CA_CERTS,
    keyfile_password: vars::PLUGINS_GRPC_SERVER_SSL_KEYFILE_PASSWORD,
    policy: vars::PLUGINS_GRPC_SERVER_SSL_CLIENT_AUTH,
    spelling: PolicySpelling::ClientAuth,
    // One switch for the whole process: a certificate is either refused or warned about.
    require_valid: vars::PLUGINS_SERVER_SSL_REQUIRE_VALID_CERT,
    allowed_clients: vars::PLUGINS_GRPC_SERVER_SSL_ALLOWED_CLIENTS,
    ca_crl: vars::PLUGINS_GRPC_SERVER_SSL_CA_CRL,
};

impl ServerTlsNames {
    /// The [`Key`] of one field of the `tls` block.
    pub fn key(&self, field: &str) -> Setting {
        let var = match field {
            "certfile" => self.certfile,
            "keyfile" => self.keyfile,
            "ca_bundle" => self.ca_bundle,
            "keyfile_password" => self.keyfile_password,
            "require_valid_certificate" => self.require_valid,
            "allowed_clients" => self.allowed_clients,
            "ca_crl" => self.ca_crl,
            _ => self.policy,
        };
        Key::new(self.tls_key, field, var)
    }

    fn policy_field(&self) -> &'static str {
        match self.spelling {
            PolicySpelling::CertReqs => "ssl_cert_reqs",
            PolicySpelling::ClientAuth => "client_auth",
        }
    }

    /// The file variables that only make sense with TLS on.
    fn file_vars(&self) -> [&'static str; 7] {
        [
            self.keyfile,
            self.certfile,
            self.ca_bundle,
            self.policy,
            self.keyfile_password,
            self.allowed_clients,
            self.ca_crl,
        ]
    }
}

/// Resolved server TLS settings: paths and policies, with where each came from. No file has
/// been read yet; [`crate::LoadedServerTls::load`] reads and checks them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerTlsSettings {
    /// Certificate chain file (may also hold the key).
    pub certfile: PathBuf,
    /// Private key file; `None` means the key is inside `certfile`.
    pub keyfile: Option<PathBuf>,
    /// CA bundle client certificates must chain to.
    pub ca_bundle: Option<PathBuf>,
    /// Password of an encrypted PKCS#8 key.
    pub keyfile_password: Option<String>,
    /// `ssl_cert_reqs` / `client_auth`.
    pub client_auth: ClientCertPolicy,
    /// Refuse (instead of warn about) an expired or not-yet-valid certificate.
    pub require_valid_certificate: bool,
    /// Client identities allowed to call; `None`: every certificate the CA issued.
    pub allowed_clients: Option<AllowList>,
    /// CRL file checked for every client certificate (re-read on reload).
    pub ca_crl: Option<PathBuf>,
    /// Where each value came from.
    pub origins: ServerTlsOrigins,
    /// The keys and variables of this side, for messages.
    pub names: ServerTlsNames,
}

/// Where each server TLS value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerTlsOrigins {
    /// What turned TLS on (`server_settings.tls` or `PLUGINS_SERVER_SSL_ENABLED`).
    pub enabled_by: Origin,
    /// Of `certfile`.
    pub certfile: Origin,
    /// Of `keyfile` (the certfile's origin when the key is inside it).
    pub keyfile: Origin,
    /// Of `ca_bundle`.
    pub ca_bundle: Origin,
    /// Of `keyfile_password`.
    pub keyfile_password: Origin,
    /// Of `ssl_cert_reqs`.
    pub ssl_cert_reqs: Origin,
    /// Of `require_valid_certificate`.
    pub require_valid_certificate: Origin,
    /// Of `ca_crl`.
    pub ca_crl: Origin,
}

impl ServerTlsSettings {
    /// Settings built in code (tests, embedding) for the MCP server; origins are "default".
    pub fn new(
        certfile: impl Into<PathBuf>,
        keyfile: Option<PathBuf>,
        ca_bundle: Option<PathBuf>,
        client_auth: ClientCertPolicy,
    ) -> Self {
        ServerTlsSettings {
            certfile: certfile.into(),
            keyfile,
            ca_bundle,
            keyfile_password: None,
            client_auth,
            require_valid_certificate: false,
            allowed_clients: None,
            ca_crl: None,
            origins: ServerTlsOrigins {
                enabled_by: Origin::Default,
                certfile: Origin::Default,
                keyfile: Origin::Default,
                ca_bundle: Origin::Default,
                keyfile_password: Origin::Default,
                ssl_cert_reqs: Origin::Default,
                require_valid_certificate: Origin::Default,
                ca_crl: Origin::Default,
            },
            names: MCP_SERVER_TLS,
        }
    }
}

/// Checks that a configured file can be opened now, so a typo fails at start-up.
pub(crate) fn check_readable(
    what: &'static str,
    path: &Path,
    origin: &Origin,
) -> Result<(), TlsError> {
    let unreadable = |err| TlsError::FileUnreadable {
        what,
        path: path.to_path_buf(),
        origin: origin.clone(),
        err,
    };
    if path.is_dir() {
        return Err(unreadable(std::io::Error::other(
            "it is a directory, not a file",
        )));
    }
    std::fs::File::open(path).map(drop).map_err(unreadable)
}

fn parse_policy(
    names: &ServerTlsNames,
    y: &ServerTlsLayer,
    env: &dyn Env,
) -> Result<Sourced<ClientCertPolicy>, TlsError> {
    let key = names.key(names.policy_field());
    let got = match names.spelling {
        PolicySpelling::CertReqs => layer(
            env,
            &key,
            y.ssl_cert_reqs,
            |n, o| {
                ClientCertPolicy::from_int(n).ok_or_else(|| TlsError::InvalidCertReqs {
                    origin: o.clone(),
                    value: n.to_string(),
                })
            },
            |v, o| {
                v.parse::<i64>()
                    .ok()
                    .and_then(ClientCertPolicy::from_int)
                    .ok_or_else(|| TlsError::InvalidCertReqs {
                        origin: o.clone(),
                        value: v.clone(),
                    })
            },
        )?,
        PolicySpelling::ClientAuth => {
            let word = |v: String, o: &Origin| {
                ClientCertPolicy::from_word(&v).ok_or_else(|| TlsError::InvalidClientAuth {
                    origin: o.clone(),
                    value: v.clone(),
                })
            };
            layer(env, &key, y.client_auth.clone(), word, word)?
        }
    };
    Ok(got.unwrap_or_else(|| Sourced::default_value(ClientCertPolicy::Required)))
}

/// What turned TLS on, or `None` when it stays off.
fn enabled_by(
    y: Option<&ServerTlsLayer>,
    env: &dyn Env,
    names: &ServerTlsNames,
) -> Result<Option<Origin>, TlsError> {
    match env.get_bool(names.enabled)? {
        Some(false) => Ok(None),
        Some(true) => Ok(Some(Origin::Env(names.enabled))),
        None if y.is_some() => Ok(Some(Origin::Yaml(names.tls_key.to_string()))),
        None => {
            // The YAML chose no TLS. A TLS file variable set anyway is a mistake we refuse
            // rather than serve plaintext the operator did not ask for.
            match names.file_vars().into_iter().find(|v| env.get(v).is_some()) {
                Some(var) => Err(TlsError::TlsVarWithoutTls {
                    var,
                    enabled_var: names.enabled,
                    tls_key: names.tls_key,
                }),
                None => Ok(None),
            }
        }
    }
}

/// Resolves one server side's TLS (docs/decisions.md #1): `Ok(None)` when TLS is off.
///
/// Every value is validated here, before any socket opens: the policy spelling, TLS without a
/// certificate, the allow-list. No file is read: the files (readable, their contents, and
/// whether a policy that asks for client certificates has a CA bundle to verify them) are the
/// load step's, [`crate::LoadedServerTls::load`].
pub fn resolve_server_tls(
    y: Option<&ServerTlsLayer>,
    env: &dyn Env,
    names: &ServerTlsNames,
) -> Result<Option<ServerTlsSettings>, TlsError> {
    let Some(enabled_by) = enabled_by(y, env, names)? else {
        return Ok(None);
    };
    let empty = ServerTlsLayer::default();
    let y = y.unwrap_or(&empty);
    let LayeredFiles {
        certfile,
        keyfile,
        ca_bundle,
        password,
    } = LayeredFiles::layer(
        env,
        &|field| names.key(field),
        &y.certfile,
        &y.keyfile,
        &y.ca_bundle,
        &y.keyfile_password,
    );
    let policy = parse_policy(names, y, env)?;
    let require_valid = plugwire_env::layer_bool(
        env,
        &names.key("require_valid_certificate"),
        y.require_valid_certificate,
    )?
    .unwrap_or_else(|| Sourced::default_value(false));

    let Some(certfile) = certfile else {
        return Err(match keyfile {
            Some(k) => TlsError::KeyfileWithoutCertfile {
                keyfile_origin: k.origin,
                certfile: names.key("certfile"),
            },
            None => TlsError::MissingCertificate {
                enabled_by,
                certfile: names.key("certfile"),
                keyfile: names.key("keyfile"),
            },
        });
    };
    // No file is opened here: whether each can be read, whether a key is inside the certfile
    // (no keyfile), and whether a CA bundle is there when client certificates are asked for
    // are checked when the files are loaded (crate::loaded), from the bytes read there once.
    let (allowed_clients, ca_crl) = resolve_caller_policy(names, y, env, &policy)?;

    let origin_of = |v: Option<&Origin>| v.cloned().unwrap_or(Origin::Default);
    Ok(Some(ServerTlsSettings {
        origins: ServerTlsOrigins {
            enabled_by,
            keyfile: origin_of(
                keyfile
                    .as_ref()
                    .map(|k| &k.origin)
                    .or(Some(&certfile.origin)),
            ),
            certfile: certfile.origin,
            ca_bundle: origin_of(ca_bundle.as_ref().map(|c| &c.origin)),
            keyfile_password: origin_of(password.as_ref().map(|p| &p.origin)),
            ssl_cert_reqs: policy.origin,
            require_valid_certificate: require_valid.origin,
            ca_crl: origin_of(ca_crl.as_ref().map(|c| &c.origin)),
        },
        certfile: certfile.value,
        keyfile: keyfile.map(|k| k.value),
        ca_bundle: ca_bundle.map(|c| c.value),
        keyfile_password: password.map(|p| p.value),
        client_auth: policy.value,
        require_valid_certificate: require_valid.value,
        allowed_clients,
        ca_crl: ca_crl.map(|c| c.value),
        names: names.clone(),
    }))
}

/// Who may call: `allowed_clients` (only with client certificates required: with an optional
/// certificate a client that sends none would bypass the list) and `ca_crl` (only when client
/// certificates are asked for at all). The CRL file is read and checked when the material is
/// loaded, so a reload re-checks it.
fn resolve_caller_policy(
    names: &ServerTlsNames,
    y: &ServerTlsLayer,
    env: &dyn Env,
    policy: &Sourced<ClientCertPolicy>,
) -> Result<(Option<AllowList>, Option<Sourced<PathBuf>>), TlsError> {
    let allowed = layer(
        env,
        &names.key("allowed_clients"),
        y.allowed_clients.clone(),
        |list, o| AllowList::parse(&list, o),
        |v, o| AllowList::parse(&v.split(',').collect::<Vec<_>>(), o),
    )?;
    if let Some(list) = &allowed {
        if policy.value != ClientCertPolicy::Required {
            return Err(TlsError::AllowListWithoutRequiredCert {
                origin: list.origin.clone(),
                policy: policy.value.to_string(),
                policy_origin: policy.origin.clone(),
                policy_setting: names.key(names.policy_field()),
            });
        }
    }
    let ca_crl = layer_plain(env, &names.key("ca_crl"), y.ca_crl.clone(), PathBuf::from);
    if let Some(c) = &ca_crl {
        if policy.value == ClientCertPolicy::None {
            return Err(TlsError::Ineffective {
                setting: names.key("ca_crl"),
                origin: c.origin.clone(),
                because: "when no client certificate is asked for",
                fix: "ask for client certificates (ssl_cert_reqs 2 / client_auth require), or remove ca_crl",
            });
        }
    }
    Ok((allowed.map(|a| a.value), ca_crl))
}

/// "client certificates asked for, nothing to verify them with", in this side's spelling.
pub(crate) fn missing_ca_bundle(
    names: &ServerTlsNames,
    policy: ClientCertPolicy,
    origin: Origin,
) -> TlsError {
    let (cert_reqs, no_client_auth) = match names.spelling {
        PolicySpelling::CertReqs => (
            format!("ssl_cert_reqs={}", policy.as_int()),
            "ssl_cert_reqs to 0",
        ),
        PolicySpelling::ClientAuth => (
            format!(
                "client_auth={}",
                match policy {
                    ClientCertPolicy::Optional => "optional",
                    _ => "require",
                }
            ),
            "client_auth to none",
        ),
    };
    TlsError::MissingCaBundle {
        cert_reqs,
        no_client_auth,
        cert_reqs_origin: origin,
        ca_bundle: names.key("ca_bundle"),
    }
}
