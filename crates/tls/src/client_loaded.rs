//! The *load* step of client TLS (a gateway calling plugin servers): each file of a resolved
//! [`ClientTlsSettings`] read once into memory ([`ClientTlsFiles`]), then parsed and checked
//! into [`LoadedClientTls`]: the trust store (the CA bundle, or the system bundle when none is
//! configured and `verify` is on), the CRLs (signed by a CA of that bundle), and the client
//! certificate with its key (decrypted, matched against the leaf). The build step,
//! [`crate::client_config::build_client_config_from`], reads no file.
//!
//! The loaded bytes are kept ([`LoadedClientTls::fingerprint`]) so a connector that reloads
//! compares them with the files now, reading each once per check.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::CertificateRevocationListDer;
use rustls::sign::CertifiedKey;
use rustls::RootCertStore;

use crate::client_config::SYSTEM_CA_BUNDLE;
use crate::client_settings::ClientTlsSettings;
use crate::crl::parse_crls;
use crate::error::{Origin, TlsError};
use crate::loaded::{FileRead, Fingerprint};
use crate::pem::{identity_from, parse_certificates, parse_private_key};
use crate::server_config::{provider, roots_from};

/// The bytes of every file a client TLS config is built from, each read once.
#[derive(Debug)]
pub struct ClientTlsFiles {
    cert: Option<FileRead>,
    key: Option<FileRead>,
    ca: Option<FileRead>,
    crl: Option<FileRead>,
}

/// The CA bundle the server certificate is verified with: the configured one, else the system
/// bundle when it exists; `Ok(None)` with `verify: false`.
fn trust_file(settings: &ClientTlsSettings) -> Result<Option<(PathBuf, Origin)>, TlsError> {
    if !settings.verify {
        return Ok(None);
    }
    match &settings.ca_bundle {
        Some(ca) => Ok(Some((ca.clone(), settings.origins.ca_bundle.clone()))),
        None if Path::new(SYSTEM_CA_BUNDLE).is_file() => {
            tracing::debug!(
                "no CA bundle configured ({}); trusting the system bundle {SYSTEM_CA_BUNDLE}",
                settings.setting("ca_bundle")
            );
            Ok(Some((PathBuf::from(SYSTEM_CA_BUNDLE), Origin::Default)))
        }
        None => Err(TlsError::NoTrustStore {
            ca_bundle: settings.setting("ca_bundle"),
            system_bundle: SYSTEM_CA_BUNDLE,
        }),
    }
}

impl ClientTlsFiles {
    /// Reads the client certificate, key, CA bundle (or system bundle) and CRL files of
    /// `settings`; fails only when `verify` is on and there is no bundle at all.
    pub fn read(settings: &ClientTlsSettings) -> Result<Self, TlsError> {
        let o = &settings.origins;
        let ca = trust_file(settings)?.map(|(p, origin)| FileRead::read("CA bundle", &p, &origin));
        let crl = match &ca {
            Some(_) => settings
                .ca_crl
                .as_deref()
                .map(|c| FileRead::read("CRL file", c, &o.ca_crl)),
            None => None,
        };
        Ok(ClientTlsFiles {
            cert: settings
                .certfile
                .as_deref()
                .map(|c| FileRead::read("certificate file", c, &o.certfile)),
            key: match &settings.certfile {
                Some(_) => settings
                    .keyfile
                    .as_deref()
                    .map(|k| FileRead::read("key file", k, &o.keyfile)),
                None => None,
            },
            ca,
            crl,
        })
    }

    /// The bytes read, for comparison with the material in use.
    pub fn fingerprint(&self) -> Fingerprint {
        [&self.cert, &self.key, &self.ca, &self.crl]
            .into_iter()
            .map(|f| f.as_ref().and_then(FileRead::print))
            .collect()
    }
}

/// The trust store a server certificate is verified with.
#[derive(Debug)]
pub struct ServerTrust {
    /// The trust anchors.
    pub roots: Arc<RootCertStore>,
    /// The CRLs (empty without `ca_crl`).
    pub crls: Vec<CertificateRevocationListDer<'static>>,
    /// The bundle they were read from, for messages.
    pub bundle: PathBuf,
    /// Where the bundle setting came from.
    pub origin: Origin,
}

/// Client TLS material in memory, checked.
#[derive(Debug, Clone)]
pub struct LoadedClientTls {
    /// `None` with `verify: false`.
    pub trust: Option<Arc<ServerTrust>>,
    /// The client certificate and key; `None`: no client certificate.
    pub identity: Option<Arc<CertifiedKey>>,
    print: Fingerprint,
}

impl LoadedClientTls {
    /// Reads every file of `settings` once and loads it ([`Self::from_files`]).
    pub fn load(settings: &ClientTlsSettings) -> Result<Self, TlsError> {
        Self::from_files(settings, ClientTlsFiles::read(settings)?)
    }

    /// Parses and checks `files` (read from `settings`); errors name the file and setting.
    pub fn from_files(
        settings: &ClientTlsSettings,
        files: ClientTlsFiles,
    ) -> Result<Self, TlsError> {
        let print = files.fingerprint();
        let trust = match files.ca {
            None => None,
            Some(ca) => {
                let (bytes, bundle, origin) = ca.take()?;
                let certs = parse_certificates("CA bundle", &bytes, &bundle, &origin)?;
                let roots = roots_from(certs.clone(), &bundle, &origin)?;
                let crls = match files.crl {
                    Some(crl) => {
                        let (b, path, crl_origin) = crl.take()?;
                        parse_crls(b, &path, &crl_origin, &certs, &bundle)?
                    }
                    None => Vec::new(),
                };
                Some(Arc::new(ServerTrust {
                    roots: Arc::new(roots),
                    crls,
                    bundle,
                    origin,
                }))
            }
        };
        let identity = match files.cert {
            Some(cert) => Some(load_identity(settings, cert, files.key)?),
            None => None,
        };
        Ok(LoadedClientTls {
            trust,
            identity,
            print,
        })
    }

    /// Material from memory (tests, embedding): the trust store (`None`: no verification) and
    /// the client certificate with its key. Nothing to compare on reload: the fingerprint is
    /// empty.
    pub fn new(trust: Option<Arc<ServerTrust>>, identity: Option<Arc<CertifiedKey>>) -> Self {
        LoadedClientTls {
            trust,
            identity,
            print: Vec::new(),
        }
    }

    /// The bytes this material was loaded from.
    pub fn fingerprint(&self) -> &Fingerprint {
        &self.print
    }
}

/// The client certificate and its key (from the keyfile, or from the certificate file when
/// no keyfile is set), checked to belong together.
fn load_identity(
    settings: &ClientTlsSettings,
    cert: FileRead,
    key: Option<FileRead>,
) -> Result<Arc<CertifiedKey>, TlsError> {
    let (cert_bytes, cert_path, cert_origin) = cert.take()?;
    let chain = parse_certificates("certificate file", &cert_bytes, &cert_path, &cert_origin)?;
    let (key_bytes, key_path, key_origin) = match key {
        Some(k) => k.take()?,
        None => (cert_bytes, cert_path.clone(), cert_origin.clone()),
    };
    let o = &settings.origins;
    let password = settings
        .keyfile_password
        .as_deref()
        .map(|p| (p, &o.keyfile_password));
    let key = parse_private_key(
        &key_bytes,
        &key_path,
        &key_origin,
        password,
        &settings.setting("keyfile_password"),
    )?;
    let identity = identity_from(
        chain,
        (&cert_path, &cert_origin),
        key,
        (&key_path, &key_origin),
        &provider(),
    )?;
    Ok(identity.certified)
}
