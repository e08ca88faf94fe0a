//! Reading certificates and keys back from disk: used to reuse an existing CA, to check that
//! a key belongs to its certificate, and by `check`.

use std::path::Path;

use rcgen::KeyPair;
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::error::{CertsError, Result};
use crate::fsio;

/// The DER of the first `CERTIFICATE` block of a PEM file.
pub(crate) fn read_cert_der(path: &Path) -> Result<Vec<u8>> {
    let bytes = fsio::read(path)?;
    cert_der_from_pem(&bytes).map_err(|reason| CertsError::Parse {
        path: path.to_path_buf(),
        reason,
    })
}

/// The DER of the first `CERTIFICATE` block in `pem`.
pub(crate) fn cert_der_from_pem(pem: &[u8]) -> std::result::Result<Vec<u8>, String> {
    for block in x509_parser::pem::Pem::iter_from_buffer(pem) {
        match block {
            Ok(block) if block.label == "CERTIFICATE" => return Ok(block.contents),
            Ok(_) => continue,
            Err(e) => return Err(format!("not a PEM certificate ({e})")),
        }
    }
    Err("no '-----BEGIN CERTIFICATE-----' block found".into())
}

/// Parses DER into a certificate, with a readable error.
pub(crate) fn parse(der: &[u8]) -> std::result::Result<X509Certificate<'_>, String> {
    X509Certificate::from_der(der)
        .map(|(_, cert)| cert)
        .map_err(|e| format!("not a valid X.509 certificate ({e})"))
}

/// Reads a private key (PKCS#8, PKCS#1 or SEC1 PEM).
pub(crate) fn read_key(path: &Path) -> Result<KeyPair> {
    let bytes = fsio::read(path)?;
    let text = String::from_utf8(bytes).map_err(|_| CertsError::Parse {
        path: path.to_path_buf(),
        reason: "not a PEM file (not UTF-8 text)".into(),
    })?;
    KeyPair::from_pem(&text).map_err(|e| CertsError::Parse {
        path: path.to_path_buf(),
        reason: format!(
            "not an unencrypted PEM private key ({e}); plugwire certs writes and reads PKCS#8, PKCS#1 and SEC1 keys"
        ),
    })
}

/// Whether `key` is the private half of the certificate's public key.
pub(crate) fn key_matches(key: &KeyPair, cert: &X509Certificate<'_>) -> bool {
    key.public_key_raw() == cert.public_key().subject_public_key.data.as_ref()
}

/// Whether `cert` names `ca` as issuer and carries a valid signature by `ca`'s key.
pub(crate) fn issued_by(cert: &X509Certificate<'_>, ca: &X509Certificate<'_>) -> bool {
    cert.issuer().as_raw() == ca.subject().as_raw()
        && cert.verify_signature(Some(ca.public_key())).is_ok()
}
