//! The *load* step of server TLS: resolved settings (paths) → material in memory.
//!
//! Server TLS is built in three steps, each with one job:
//!
//! 1. **resolve** ([`crate::server_tls`]): YAML + variables → [`ServerTlsSettings`], paths and
//!    policies with where each came from. No file is read.
//! 2. **load** (here): every file read **once** ([`ServerTlsFiles::read`]), then parsed and
//!    checked ([`LoadedServerTls::from_files`]): the certificate chain, the key (decrypted, and
//!    matched against the leaf), the validity period (warn, or refuse with
//!    `require_valid_certificate`), the CA bundle and the CRLs (signed by a CA of the bundle).
//!    Errors name the file and the YAML key or variable it came from.
//! 3. **build** ([`crate::server_config::build_server_config`]): loaded material → a rustls
//!    `ServerConfig`, a pure function without file I/O.
//!
//! The client-certificate policy of the loaded material carries its CA ([`ClientAuth`]), so
//! "client certificates required but nothing to verify them with" cannot reach the build step:
//! the one check for it is the resolve → load transition ([`LoadedServerTls::from_files`]).
//!
//! The bytes that were loaded are kept ([`LoadedServerTls::fingerprint`]): a reload reads the
//! files again and rebuilds only when they differ ([`crate::reload`]); `/health` and the expiry
//! metrics read the loaded chain, not the files.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use rustls::pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;
use rustls::RootCertStore;

use crate::crl::parse_crls;
use crate::error::{Origin, TlsError};
use crate::identity::AllowList;
use crate::pem::{has_private_key, identity_from, parse_certificates, parse_private_key};
use crate::server_config::{provider, roots_from};
use crate::server_tls::{missing_ca_bundle, ClientCertPolicy, ServerTlsSettings};
use crate::validity::{check_chain, status_of, CertificateStatus};

/// What a reload compares: the bytes of each file (`None`: unreadable), in a fixed order.
pub type Fingerprint = Vec<Option<Vec<u8>>>;

/// One file as read: its bytes or why it could not be read.
#[derive(Debug)]
pub(crate) struct FileRead {
    what: &'static str,
    path: PathBuf,
    origin: Origin,
    bytes: Result<Vec<u8>, std::io::Error>,
}

impl FileRead {
    pub(crate) fn read(what: &'static str, path: &Path, origin: &Origin) -> Self {
        FileRead {
            what,
            path: path.to_path_buf(),
            origin: origin.clone(),
            bytes: std::fs::read(path),
        }
    }

    pub(crate) fn print(&self) -> Option<Vec<u8>> {
        self.bytes.as_ref().ok().cloned()
    }

    /// The bytes, or the "cannot be read" error naming the file and its setting.
    pub(crate) fn take(self) -> Result<(Vec<u8>, PathBuf, Origin), TlsError> {
        match self.bytes {
            Ok(b) => Ok((b, self.path, self.origin)),
            Err(err) => Err(TlsError::FileUnreadable {
                what: self.what,
                path: self.path,
                origin: self.origin,
                err,
            }),
        }
    }
}

/// The bytes of every file a server TLS config is built from, each read once.
#[derive(Debug)]
pub struct ServerTlsFiles {
    cert: FileRead,
    key: Option<FileRead>,
    ca: Option<FileRead>,
    crl: Option<FileRead>,
}

impl ServerTlsFiles {
    /// Reads the certificate, key, CA bundle and CRL files of `settings` (each that is set).
    /// Never fails: an unreadable file is reported when the bytes are loaded, and still
    /// compares (as unreadable) for a reload.
    pub fn read(settings: &ServerTlsSettings) -> Self {
        let o = &settings.origins;
        ServerTlsFiles {
            cert: FileRead::read("certificate file", &settings.certfile, &o.certfile),
            key: settings
                .keyfile
                .as_deref()
                .map(|k| FileRead::read("key file", k, &o.keyfile)),
            ca: settings
                .ca_bundle
                .as_deref()
                .map(|c| FileRead::read("CA bundle", c, &o.ca_bundle)),
            crl: settings
                .ca_crl
                .as_deref()
                .map(|c| FileRead::read("CRL file", c, &o.ca_crl)),
        }
    }

    /// The bytes read, for comparison with the material in use.
    pub fn fingerprint(&self) -> Fingerprint {
        [
            Some(&self.cert),
            self.key.as_ref(),
            self.ca.as_ref(),
            self.crl.as_ref(),
        ]
        .into_iter()
        .flatten()
        .map(FileRead::print)
        .collect()
    }
}

/// The files of `settings`, for the directory watcher.
pub fn files_of(settings: &ServerTlsSettings) -> Vec<&Path> {
    [
        Some(&settings.certfile),
        settings.keyfile.as_ref(),
        settings.ca_bundle.as_ref(),
        settings.ca_crl.as_ref(),
    ]
    .into_iter()
    .flatten()
    .map(PathBuf::as_path)
    .collect()
}

/// The CA (and CRLs) client certificates are verified with.
#[derive(Debug)]
pub struct ClientRoots {
    certs: Vec<CertificateDer<'static>>,
    roots: Arc<RootCertStore>,
    crls: Vec<CertificateRevocationListDer<'static>>,
    bundle: PathBuf,
    bundle_origin: Origin,
    crl_file: Option<(PathBuf, Origin)>,
}

impl ClientRoots {
    /// Roots from CA certificates in memory (tests, embedding); messages name `<memory>`.
    pub fn new(cas: Vec<CertificateDer<'static>>) -> Result<Self, TlsError> {
        Self::parsed(cas, Path::new("<memory>"), &Origin::Default)
    }

    fn parsed(
        certs: Vec<CertificateDer<'static>>,
        bundle: &Path,
        origin: &Origin,
    ) -> Result<Self, TlsError> {
        let roots = roots_from(certs.clone(), bundle, origin)?;
        Ok(ClientRoots {
            certs,
            roots: Arc::new(roots),
            crls: Vec::new(),
            bundle: bundle.to_path_buf(),
            bundle_origin: origin.clone(),
            crl_file: None,
        })
    }

    /// The CA bundle as read (and the CRL file, when set), parsed and checked.
    fn from_bytes(
        (bytes, path, origin): (Vec<u8>, PathBuf, Origin),
        crl: Option<FileRead>,
    ) -> Result<Self, TlsError> {
        let certs = parse_certificates("CA bundle", &bytes, &path, &origin)?;
        let mut roots = ClientRoots::parsed(certs, &path, &origin)?;
        if let Some(crl) = crl {
            let (bytes, crl_path, crl_origin) = crl.take()?;
            roots.crls = parse_crls(bytes, &crl_path, &crl_origin, &roots.certs, &path)?;
            roots.crl_file = Some((crl_path, crl_origin));
        }
        Ok(roots)
    }

    /// Adds CRLs (DER, in memory); each must be issued and signed by a CA of these roots.
    pub fn with_crls(
        mut self,
        crls: Vec<CertificateRevocationListDer<'static>>,
    ) -> Result<Self, TlsError> {
        let path = Path::new("<memory>");
        for crl in crls {
            let mut checked = parse_crls(
                crl.to_vec(),
                path,
                &Origin::Default,
                &self.certs,
                &self.bundle,
            )?;
            self.crls.append(&mut checked);
        }
        self.crl_file = Some((path.to_path_buf(), Origin::Default));
        Ok(self)
    }

    /// The CA certificates, as loaded.
    pub fn certs(&self) -> &[CertificateDer<'static>] {
        &self.certs
    }

    /// The trust anchors.
    pub fn roots(&self) -> Arc<RootCertStore> {
        Arc::clone(&self.roots)
    }

    /// The CRLs (empty without `ca_crl`).
    pub fn crls(&self) -> &[CertificateRevocationListDer<'static>] {
        &self.crls
    }

    /// The CA bundle file and its origin, for messages.
    pub fn bundle(&self) -> (&Path, &Origin) {
        (&self.bundle, &self.bundle_origin)
    }

    /// The CRL file and its origin, for messages.
    pub fn crl_file(&self) -> Option<(&Path, &Origin)> {
        self.crl_file.as_ref().map(|(p, o)| (p.as_path(), o))
    }
}

/// Who must present a client certificate, with what verifies it: there is no "required"
/// without roots.
#[derive(Debug, Clone)]
pub enum ClientAuth {
    /// No client certificate asked for (`ssl_cert_reqs: 0`, `client_auth: none`).
    None,
    /// Asked for; a presented one must verify, none is accepted.
    Optional(Arc<ClientRoots>),
    /// Required (mTLS).
    Required(Arc<ClientRoots>),
}

impl ClientAuth {
    /// The roots, unless no client certificate is asked for.
    pub fn roots(&self) -> Option<&Arc<ClientRoots>> {
        match self {
            ClientAuth::None => None,
            ClientAuth::Optional(r) | ClientAuth::Required(r) => Some(r),
        }
    }

    /// The policy without its CA.
    pub fn policy(&self) -> ClientCertPolicy {
        match self {
            ClientAuth::None => ClientCertPolicy::None,
            ClientAuth::Optional(_) => ClientCertPolicy::Optional,
            ClientAuth::Required(_) => ClientCertPolicy::Required,
        }
    }
}

/// Server TLS material in memory, checked: what [`crate::build_server_config`] builds from.
#[derive(Debug, Clone)]
pub struct LoadedServerTls {
    certified: Arc<CertifiedKey>,
    /// Who must present a client certificate, and the CA that verifies it.
    pub client_auth: ClientAuth,
    /// Client identities allowed to call; `None`: every certificate the CA issued.
    pub allowed_clients: Option<AllowList>,
    status: CertificateStatus,
    print: Fingerprint,
}

impl LoadedServerTls {
    /// Reads every file of `settings` once and loads it ([`Self::from_files`]).
    pub fn load(settings: &ServerTlsSettings) -> Result<Self, TlsError> {
        Self::from_files(settings, ServerTlsFiles::read(settings))
    }

    /// Parses and checks `files` (read from `settings`): the resolve → load step. Fails with
    /// an error naming the setting and file: client certificates asked for without a CA
    /// bundle, an unreadable or damaged file, no key, a wrong password, a key that does not
    /// match the certificate, a certificate outside its validity period with
    /// `require_valid_certificate`, a CRL not signed by the CA.
    pub fn from_files(
        settings: &ServerTlsSettings,
        files: ServerTlsFiles,
    ) -> Result<Self, TlsError> {
        let print = files.fingerprint();
        let o = &settings.origins;
        // The one place "client certificates asked for, nothing to verify them with" is
        // checked: after it, ClientAuth carries the CA.
        // Unreadable files first (certificate, key, CA bundle), as named at start-up before.
        let (cert_bytes, cert_path, cert_origin) = files.cert.take()?;
        let key_file = files.key.map(FileRead::take).transpose()?;
        let ca = match (
            settings.client_auth,
            files.ca.map(FileRead::take).transpose()?,
        ) {
            (ClientCertPolicy::None, _) => None,
            (policy, None) => {
                return Err(missing_ca_bundle(
                    &settings.names,
                    policy,
                    o.ssl_cert_reqs.clone(),
                ))
            }
            (_, Some(ca)) => Some(ca),
        };
        let chain = parse_certificates("certificate file", &cert_bytes, &cert_path, &cert_origin)?;
        let status = check_chain(settings, &chain)?;
        let password = settings
            .keyfile_password
            .as_deref()
            .map(|p| (p, &o.keyfile_password));
        let password_setting = settings.names.key("keyfile_password");
        let (key_bytes, key_path, key_origin) = match key_file {
            Some(k) => k,
            None if has_private_key(&cert_bytes) => {
                (cert_bytes, cert_path.clone(), cert_origin.clone())
            }
            None => {
                return Err(TlsError::MissingKey {
                    keyfile: settings.names.key("keyfile"),
                    certfile: cert_path,
                    certfile_origin: cert_origin,
                })
            }
        };
        let key = parse_private_key(
            &key_bytes,
            &key_path,
            &key_origin,
            password,
            &password_setting,
        )?;
        let identity = identity_from(
            chain,
            (&cert_path, &cert_origin),
            key,
            (&key_path, &key_origin),
            &provider(),
        )?;
        let roots = match ca {
            None => None,
            Some(ca) => Some(Arc::new(ClientRoots::from_bytes(ca, files.crl)?)),
        };
        let client_auth = match (settings.client_auth, roots) {
            (ClientCertPolicy::Optional, Some(r)) => ClientAuth::Optional(r),
            (ClientCertPolicy::Required, Some(r)) => ClientAuth::Required(r),
            _ => ClientAuth::None,
        };
        Ok(LoadedServerTls {
            certified: identity.certified,
            client_auth,
            allowed_clients: settings.allowed_clients.clone(),
            status,
            print,
        })
    }

    /// Material from memory (tests, embedding): a chain (leaf first), its key and the policy.
    /// The key must match the leaf; messages name `<memory>`.
    pub fn new(
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
        client_auth: ClientAuth,
    ) -> Result<Self, TlsError> {
        let here = (Path::new("<memory>"), &Origin::Default);
        let status = status_of(&chain, here.0, here.1, SystemTime::now())?;
        let identity = identity_from(chain, here, key, here, &provider())?;
        Ok(LoadedServerTls {
            certified: identity.certified,
            client_auth,
            allowed_clients: None,
            status,
            print: Vec::new(),
        })
    }

    /// With a client allow-list (checked after the chain verifies).
    pub fn with_allowed_clients(mut self, list: Option<AllowList>) -> Self {
        self.allowed_clients = list;
        self
    }

    /// The certificate chain (leaf first) and key the server presents.
    pub fn certified(&self) -> &Arc<CertifiedKey> {
        &self.certified
    }

    /// The server certificate chain, leaf first.
    pub fn chain(&self) -> &[CertificateDer<'static>] {
        &self.certified.cert
    }

    /// The validity of the leaf, as checked at load (for `/health` and logs).
    pub fn certificate(&self) -> &CertificateStatus {
        &self.status
    }

    /// The bytes this material was loaded from (empty when built in memory).
    pub fn fingerprint(&self) -> &Fingerprint {
        &self.print
    }
}
