//! Reading certificates and private keys from PEM files, in every form docs/decisions.md #14 lists:
//! PKCS#8, encrypted PKCS#8 (with the password setting), PKCS#1 RSA, SEC1 EC, and a key inside
//! the certificate file (`client.pem`). Legacy `Proc-Type: 4,ENCRYPTED` keys get an error that
//! says how to convert them.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::error::{Origin, Setting, TlsError};

/// The names of the settings involved in loading one identity, for messages.
#[derive(Debug, Clone)]
pub struct KeySettings {
    /// Certificate file setting.
    pub certfile: Setting,
    /// Key file setting.
    pub keyfile: Setting,
    /// Key password setting.
    pub password: Setting,
}

const ENCRYPTED_BEGIN: &str = "-----BEGIN ENCRYPTED PRIVATE KEY-----";
const ENCRYPTED_END: &str = "-----END ENCRYPTED PRIVATE KEY-----";

/// Whether a file holds any private key block (plain, encrypted or legacy), so "key inside the
/// certfile" can be decided. Unreadable files answer false.
pub fn file_has_private_key(path: &Path) -> bool {
    std::fs::read(path).is_ok_and(|b| has_private_key(&b))
}

/// Whether PEM bytes hold any private key block (plain, encrypted or legacy).
pub fn has_private_key(bytes: &[u8]) -> bool {
    String::from_utf8_lossy(bytes)
        .lines()
        .any(|l| l.starts_with("-----BEGIN ") && l.contains("PRIVATE KEY-----"))
}

fn read(what: &'static str, path: &Path, origin: &Origin) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|err| TlsError::FileUnreadable {
        what,
        path: path.to_path_buf(),
        origin: origin.clone(),
        err,
    })
}

/// Every certificate in a PEM file, in order (leaf first for a chain file).
pub fn load_certificates(
    what: &'static str,
    path: &Path,
    origin: &Origin,
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let bytes = read(what, path, origin)?;
    parse_certificates(what, &bytes, path, origin)
}

/// Every certificate in PEM `bytes` read from `path`, in order; errors name the file.
pub fn parse_certificates(
    what: &'static str,
    bytes: &[u8],
    path: &Path,
    origin: &Origin,
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let no_certs = |detail: String| TlsError::NoCertificates {
        what,
        path: path.to_path_buf(),
        origin: origin.clone(),
        detail,
    };
    let certs = CertificateDer::pem_slice_iter(bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| no_certs(format!("; the PEM is damaged: {e}")))?;
    if certs.is_empty() {
        return Err(no_certs(String::new()));
    }
    Ok(certs)
}

/// The private key in `path`, decrypting encrypted PKCS#8 with `password`.
pub fn load_private_key(
    path: &Path,
    origin: &Origin,
    password: Option<(&str, &Origin)>,
    password_setting: &Setting,
) -> Result<PrivateKeyDer<'static>, TlsError> {
    let bytes = read("key file", path, origin)?;
    parse_private_key(&bytes, path, origin, password, password_setting)
}

/// The private key in PEM `bytes` read from `path`, decrypting encrypted PKCS#8 with
/// `password`; errors name the file and the password setting.
pub fn parse_private_key(
    bytes: &[u8],
    path: &Path,
    origin: &Origin,
    password: Option<(&str, &Origin)>,
    password_setting: &Setting,
) -> Result<PrivateKeyDer<'static>, TlsError> {
    let text = String::from_utf8_lossy(bytes);
    if text.contains("Proc-Type: 4,ENCRYPTED") {
        return Err(TlsError::LegacyEncryptedKey {
            path: path.to_path_buf(),
            origin: origin.clone(),
            password: password_setting.clone(),
        });
    }
    if let Some(start) = text.find(ENCRYPTED_BEGIN) {
        let Some((pw, pw_origin)) = password else {
            return Err(TlsError::EncryptedKeyWithoutPassword {
                path: path.to_path_buf(),
                origin: origin.clone(),
                password: password_setting.clone(),
            });
        };
        let block = match text[start..].find(ENCRYPTED_END) {
            Some(end) => &text[start..start + end + ENCRYPTED_END.len()],
            None => &text[start..],
        };
        return decrypt_pkcs8(block, pw)
            .map(|der| PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(der)))
            .map_err(|reason| TlsError::KeyDecrypt {
                path: path.to_path_buf(),
                origin: origin.clone(),
                password_origin: pw_origin.clone(),
                reason,
            });
    }
    match PrivateKeyDer::from_pem_slice(bytes) {
        Ok(key) => {
            if password.is_some() {
                tracing::debug!(file = %path.display(), "a key password is configured but the key is not encrypted; ignoring the password");
            }
            Ok(key)
        }
        Err(rustls_pki_types::pem::Error::NoItemsFound) => Err(TlsError::NoPrivateKey {
            path: path.to_path_buf(),
            origin: origin.clone(),
        }),
        Err(e) => Err(TlsError::InvalidKey {
            path: path.to_path_buf(),
            origin: origin.clone(),
            reason: format!("the PEM is damaged: {e}"),
        }),
    }
}

/// Decrypts one `ENCRYPTED PRIVATE KEY` PEM block (PBES2: PBKDF2 or scrypt with AES-CBC, what
/// `openssl pkcs8 -topk8` writes). Returns the PKCS#8 DER, or a reason.
fn decrypt_pkcs8(pem_block: &str, password: &str) -> Result<Vec<u8>, String> {
    use pkcs8::der::Decode;
    let (_label, doc) = pkcs8::der::Document::from_pem(pem_block)
        .map_err(|e| format!("the encrypted key's PEM is damaged: {e}"))?;
    let info = pkcs8::EncryptedPrivateKeyInfo::from_der(doc.as_bytes()).map_err(|e| {
        format!("unsupported key encryption ({e}); re-encrypt it with: openssl pkcs8 -topk8 -v2 aes-256-cbc -in plain.key -out new.key")
    })?;
    let wrong = "wrong password (or a damaged key file)".to_string();
    let secret = info
        .decrypt(password.as_bytes())
        .map_err(|_| wrong.clone())?;
    // A wrong password can still unpad correctly by chance; the result then is not PKCS#8.
    pkcs8::PrivateKeyInfo::from_der(secret.as_bytes()).map_err(|_| wrong)?;
    Ok(secret.as_bytes().to_vec())
}

/// A loaded certificate chain and key, checked to belong together.
#[derive(Debug)]
pub struct Identity {
    /// The certificate chain, leaf first.
    pub certs: Vec<CertificateDer<'static>>,
    /// The private key.
    pub key: PrivateKeyDer<'static>,
    /// Ready for a rustls resolver.
    pub certified: Arc<CertifiedKey>,
}

/// Loads a certificate chain and its key (from `keyfile`, or from `certfile` when `None`) and
/// checks that the key matches the leaf certificate.
pub fn load_identity(
    certfile: (&Path, &Origin),
    keyfile: Option<(&Path, &Origin)>,
    password: Option<(&str, &Origin)>,
    names: &KeySettings,
    provider: &CryptoProvider,
) -> Result<Identity, TlsError> {
    let (cert_path, cert_origin) = certfile;
    let certs = load_certificates("certificate file", cert_path, cert_origin)?;
    let (key_path, key_origin) = keyfile.unwrap_or(certfile);
    let key = load_private_key(key_path, key_origin, password, &names.password)?;
    identity_from(certs, certfile, key, (key_path, key_origin), provider)
}

/// Pairs a parsed chain with its key: checks the key is usable and matches the leaf. The paths
/// and origins only name the sources in errors (no file is read here).
pub fn identity_from(
    certs: Vec<CertificateDer<'static>>,
    certfile: (&Path, &Origin),
    key: PrivateKeyDer<'static>,
    keyfile: (&Path, &Origin),
    provider: &CryptoProvider,
) -> Result<Identity, TlsError> {
    let ((cert_path, cert_origin), (key_path, key_origin)) = (certfile, keyfile);
    let signing = provider
        .key_provider
        .load_private_key(key.clone_key())
        .map_err(|e| TlsError::InvalidKey {
            path: key_path.to_path_buf(),
            origin: key_origin.clone(),
            reason: format!(
                "{e}; supported keys are RSA (2048 bits or more), ECDSA P-256/P-384/P-521 and Ed25519"
            ),
        })?;
    // Compare public keys ourselves (x509-parser) rather than with `CertifiedKey::keys_match`,
    // which parses with webpki and so fails on X.509 v1 certificates: the Python Makefile's v1
    // gateway certificate must still work as our client's identity towards a Python server.
    let leaf = certs.first().ok_or_else(|| TlsError::NoCertificates {
        what: "certificate file",
        path: cert_path.to_path_buf(),
        origin: cert_origin.clone(),
        detail: String::new(),
    })?;
    let cert_spki = x509_parser::parse_x509_certificate(leaf.as_ref())
        .map(|(_, c)| c.tbs_certificate.subject_pki.raw.to_vec())
        .map_err(|e| TlsError::NoCertificates {
            what: "certificate file",
            path: cert_path.to_path_buf(),
            origin: cert_origin.clone(),
            detail: format!("; its first certificate cannot be parsed: {e}"),
        })?;
    match signing.public_key() {
        Some(key_spki) if key_spki.as_ref() != cert_spki.as_slice() => {
            return Err(TlsError::KeyMismatch {
                certfile: PathBuf::from(cert_path),
                certfile_origin: cert_origin.clone(),
                keyfile: key_path.to_path_buf(),
                keyfile_origin: key_origin.clone(),
            })
        }
        Some(_) => {}
        None => {
            tracing::debug!(file = %key_path.display(), "cannot compare this key type with the certificate; skipping the match check");
        }
    }
    let certified = CertifiedKey::new(certs.clone(), signing);
    Ok(Identity {
        certs,
        key,
        certified: Arc::new(certified),
    })
}
