//! Server settings: built-in defaults, then the YAML `server_settings` block, then each set
//! `PLUGINS_SERVER_*` variable, field by field (decision 1). Python does the opposite (a YAML
//! block makes it ignore env entirely); we follow the guide, which promises env wins.

use std::path::{Path, PathBuf};

use crate::env::{get, get_bool, vars, Env};
use crate::error::{Origin, Setting, TlsError};

/// Default bind address (the Python code's default, not its docstring's 0.0.0.0).
pub const DEFAULT_HOST: &str = "127.0.0.1";
/// Default TCP port.
pub const DEFAULT_PORT: u16 = 8000;

/// The YAML `server_settings` block as given (the server crate maps the framework's config into it).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerSettingsLayer {
    /// `server_settings.host`.
    pub host: Option<String>,
    /// `server_settings.port`; wide so an out-of-range value gets our error, not serde's.
    pub port: Option<i64>,
    /// `server_settings.uds`.
    pub uds: Option<PathBuf>,
    /// `server_settings.tls`; its presence turns TLS on unless `PLUGINS_SERVER_SSL_ENABLED=false`.
    pub tls: Option<ServerTlsLayer>,
}

/// The YAML `server_settings.tls` block as given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerTlsLayer {
    /// `server_settings.tls.certfile`.
    pub certfile: Option<PathBuf>,
    /// `server_settings.tls.keyfile`.
    pub keyfile: Option<PathBuf>,
    /// `server_settings.tls.ca_bundle`.
    pub ca_bundle: Option<PathBuf>,
    /// `server_settings.tls.keyfile_password`.
    pub keyfile_password: Option<String>,
    /// `server_settings.tls.ssl_cert_reqs` (0/1/2; checked here).
    pub ssl_cert_reqs: Option<i64>,
}

/// Client-certificate policy, Python's `ssl_cert_reqs` (decision 3: an integer).
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

/// Resolved server settings: what `plugwire serve` binds and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerSettings {
    /// Bind address.
    pub host: String,
    /// TCP port (the health server, with TLS on, is port + 1000).
    pub port: u16,
    /// Unix socket path instead of TCP (never with TLS).
    pub uds: Option<PathBuf>,
    /// TLS, when on.
    pub tls: Option<ServerTlsSettings>,
    /// Where `host` came from.
    pub host_origin: Origin,
    /// Where `port` came from (for "port in use" messages).
    pub port_origin: Origin,
    /// Where `uds` came from.
    pub uds_origin: Option<Origin>,
}

/// Resolved server TLS settings; the files were checked readable when resolved.
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
    /// `ssl_cert_reqs`.
    pub client_auth: ClientCertPolicy,
    /// Where each value came from.
    pub origins: ServerTlsOrigins,
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
}

impl ServerTlsSettings {
    /// Settings built in code (tests, embedding); origins are "default".
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
            origins: ServerTlsOrigins {
                enabled_by: Origin::Default,
                certfile: Origin::Default,
                keyfile: Origin::Default,
                ca_bundle: Origin::Default,
                keyfile_password: Origin::Default,
                ssl_cert_reqs: Origin::Default,
            },
        }
    }
}

fn yaml(key: &str) -> Origin {
    Origin::Yaml(format!("server_settings.{key}"))
}

fn setting(key: &str, env: &'static str) -> Setting {
    Setting {
        yaml: format!("server_settings.{key}"),
        env,
    }
}

/// The server's names for the certfile / keyfile / password settings.
pub(crate) fn server_key_settings() -> crate::pem::KeySettings {
    crate::pem::KeySettings {
        certfile: setting("tls.certfile", vars::PLUGINS_SERVER_SSL_CERTFILE),
        keyfile: setting("tls.keyfile", vars::PLUGINS_SERVER_SSL_KEYFILE),
        password: setting(
            "tls.keyfile_password",
            vars::PLUGINS_SERVER_SSL_KEYFILE_PASSWORD,
        ),
    }
}

/// Env value if set, else the YAML value, with its origin.
fn pick<T>(
    env: &dyn Env,
    var: &'static str,
    conv: impl Fn(String) -> T,
    yaml_val: Option<T>,
    yaml_key: &str,
) -> Option<(T, Origin)> {
    match get(env, var) {
        Some(v) => Some((conv(v), Origin::Env(var))),
        None => yaml_val.map(|v| (v, yaml(yaml_key))),
    }
}

fn parse_port(text: &str, origin: Origin) -> Result<u16, TlsError> {
    let bad = || TlsError::InvalidPort {
        origin: origin.clone(),
        value: text.to_string(),
    };
    let n: i64 = text.trim().parse().map_err(|_| bad())?;
    port_in_range(n).ok_or_else(bad)
}

fn port_in_range(n: i64) -> Option<u16> {
    u16::try_from(n).ok().filter(|p| *p != 0)
}

fn parse_cert_reqs(text: &str, origin: Origin) -> Result<ClientCertPolicy, TlsError> {
    text.trim()
        .parse::<i64>()
        .ok()
        .and_then(ClientCertPolicy::from_int)
        .ok_or(TlsError::InvalidCertReqs {
            origin,
            value: text.to_string(),
        })
}

/// Checks a Unix socket path: absolute, with an existing parent directory.
pub(crate) fn check_uds(path: &Path, origin: &Origin) -> Result<(), TlsError> {
    if !path.is_absolute() {
        return Err(TlsError::UdsNotAbsolute {
            origin: origin.clone(),
            path: path.to_path_buf(),
        });
    }
    let parent = path.parent().unwrap_or(Path::new("/"));
    if !parent.is_dir() {
        return Err(TlsError::UdsParentMissing {
            origin: origin.clone(),
            path: path.to_path_buf(),
            parent: parent.to_path_buf(),
        });
    }
    // As Python: a world-writable directory (without the sticky bit) lets any local user
    // replace the socket; worth a warning, not a refusal (/tmp-style dirs are common in tests).
    if let Ok(meta) = std::fs::metadata(parent) {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode();
        if mode & 0o002 != 0 && mode & 0o1000 == 0 {
            tracing::warn!(dir = %parent.display(), "the Unix socket's directory is world-writable: any local user could replace the socket");
        }
    }
    Ok(())
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

/// Resolves the server settings (decision 1): defaults, then `yaml`, then each set variable.
///
/// Every value is validated here, before any socket opens: port range, `ssl_cert_reqs`, the
/// Unix socket path, UDS+TLS, TLS without a certificate, a client-certificate policy without a
/// CA bundle, and that every TLS file is readable.
pub fn resolve_server_settings(
    yaml_layer: Option<&ServerSettingsLayer>,
    env: &dyn Env,
) -> Result<ServerSettings, TlsError> {
    let empty = ServerSettingsLayer::default();
    let y = yaml_layer.unwrap_or(&empty);

    let (host, host_origin) = match get(env, vars::PLUGINS_SERVER_HOST) {
        Some(h) => (h.trim().to_string(), Origin::Env(vars::PLUGINS_SERVER_HOST)),
        None => match &y.host {
            Some(h) if h.trim().is_empty() => {
                return Err(TlsError::InvalidHost {
                    origin: yaml("host"),
                    value: h.clone(),
                })
            }
            Some(h) => (h.trim().to_string(), yaml("host")),
            None => (DEFAULT_HOST.to_string(), Origin::Default),
        },
    };

    let (port, port_origin) = match get(env, vars::PLUGINS_SERVER_PORT) {
        Some(p) => {
            let origin = Origin::Env(vars::PLUGINS_SERVER_PORT);
            (parse_port(&p, origin.clone())?, origin)
        }
        None => match y.port {
            Some(n) => (
                port_in_range(n).ok_or(TlsError::InvalidPort {
                    origin: yaml("port"),
                    value: n.to_string(),
                })?,
                yaml("port"),
            ),
            None => (DEFAULT_PORT, Origin::Default),
        },
    };

    let uds = pick(
        env,
        vars::PLUGINS_SERVER_UDS,
        |v| PathBuf::from(v.trim()),
        y.uds.clone(),
        "uds",
    );
    if let Some((path, origin)) = &uds {
        check_uds(path, origin)?;
    }

    let tls = resolve_server_tls(y.tls.as_ref(), env)?;
    if let (Some((_, uds_origin)), Some(tls)) = (&uds, &tls) {
        return Err(TlsError::UdsWithTls {
            uds_origin: uds_origin.clone(),
            tls_origin: tls.origins.enabled_by.clone(),
        });
    }

    let (uds, uds_origin) = match uds {
        Some((p, o)) => (Some(p), Some(o)),
        None => (None, None),
    };
    Ok(ServerSettings {
        host,
        port,
        uds,
        tls,
        host_origin,
        port_origin,
        uds_origin,
    })
}

fn resolve_server_tls(
    y: Option<&ServerTlsLayer>,
    env: &dyn Env,
) -> Result<Option<ServerTlsSettings>, TlsError> {
    let enabled_by = match get_bool(env, vars::PLUGINS_SERVER_SSL_ENABLED)? {
        Some(false) => return Ok(None),
        Some(true) => Origin::Env(vars::PLUGINS_SERVER_SSL_ENABLED),
        None if y.is_some() => yaml("tls"),
        None => {
            // The YAML chose no TLS. A TLS file variable set anyway is a mistake we refuse
            // rather than serve plaintext the operator did not ask for.
            let tls_vars = &vars::SERVER[4..];
            if let Some(var) = tls_vars.iter().find(|v| get(env, v).is_some()) {
                return Err(TlsError::TlsVarWithoutTls { var });
            }
            return Ok(None);
        }
    };
    let empty = ServerTlsLayer::default();
    let y = y.unwrap_or(&empty);
    let path = |v: String| PathBuf::from(v.trim());

    let certfile = pick(
        env,
        vars::PLUGINS_SERVER_SSL_CERTFILE,
        path,
        y.certfile.clone(),
        "tls.certfile",
    );
    let keyfile = pick(
        env,
        vars::PLUGINS_SERVER_SSL_KEYFILE,
        path,
        y.keyfile.clone(),
        "tls.keyfile",
    );
    let ca_bundle = pick(
        env,
        vars::PLUGINS_SERVER_SSL_CA_CERTS,
        path,
        y.ca_bundle.clone(),
        "tls.ca_bundle",
    );
    let password = pick(
        env,
        vars::PLUGINS_SERVER_SSL_KEYFILE_PASSWORD,
        |v| v,
        y.keyfile_password.clone().filter(|p| !p.is_empty()),
        "tls.keyfile_password",
    );
    let (client_auth, cert_reqs_origin) = match get(env, vars::PLUGINS_SERVER_SSL_CERT_REQS) {
        Some(v) => {
            let origin = Origin::Env(vars::PLUGINS_SERVER_SSL_CERT_REQS);
            (parse_cert_reqs(&v, origin.clone())?, origin)
        }
        None => match y.ssl_cert_reqs {
            Some(n) => (
                ClientCertPolicy::from_int(n).ok_or(TlsError::InvalidCertReqs {
                    origin: yaml("tls.ssl_cert_reqs"),
                    value: n.to_string(),
                })?,
                yaml("tls.ssl_cert_reqs"),
            ),
            None => (ClientCertPolicy::Required, Origin::Default),
        },
    };

    let names = server_key_settings();
    let (certfile, certfile_origin) = match certfile {
        Some(c) => c,
        None => {
            return Err(match keyfile {
                Some((_, keyfile_origin)) => TlsError::KeyfileWithoutCertfile {
                    keyfile_origin,
                    certfile: names.certfile,
                },
                None => TlsError::MissingCertificate {
                    enabled_by,
                    certfile: names.certfile,
                    keyfile: names.keyfile,
                },
            })
        }
    };
    check_readable("certificate file", &certfile, &certfile_origin)?;
    if let Some((k, o)) = &keyfile {
        check_readable("key file", k, o)?;
    } else if !crate::pem::file_has_private_key(&certfile) {
        return Err(TlsError::MissingKey {
            keyfile: names.keyfile,
            certfile,
            certfile_origin,
        });
    }
    if let Some((c, o)) = &ca_bundle {
        check_readable("CA bundle", c, o)?;
    }
    if client_auth != ClientCertPolicy::None && ca_bundle.is_none() {
        return Err(TlsError::MissingCaBundle {
            cert_reqs: client_auth.as_int(),
            cert_reqs_origin,
            ca_bundle: setting("tls.ca_bundle", vars::PLUGINS_SERVER_SSL_CA_CERTS),
        });
    }

    let keyfile_origin = keyfile
        .as_ref()
        .map(|(_, o)| o.clone())
        .unwrap_or_else(|| certfile_origin.clone());
    Ok(Some(ServerTlsSettings {
        origins: ServerTlsOrigins {
            enabled_by,
            certfile: certfile_origin,
            keyfile: keyfile_origin,
            ca_bundle: ca_bundle
                .as_ref()
                .map(|(_, o)| o.clone())
                .unwrap_or(Origin::Default),
            keyfile_password: password
                .as_ref()
                .map(|(_, o)| o.clone())
                .unwrap_or(Origin::Default),
            ssl_cert_reqs: cert_reqs_origin,
        },
        certfile,
        keyfile: keyfile.map(|(k, _)| k),
        ca_bundle: ca_bundle.map(|(c, _)| c),
        keyfile_password: password.map(|(p, _)| p),
        client_auth,
    }))
}
