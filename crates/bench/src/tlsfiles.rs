//! rustls configurations built from PEM files, independent of `plugwire-tls` so the harness
//! measures the servers and not whatever our own client-side TLS code does.

use std::path::Path;
use std::sync::Arc;

use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::error::{BenchError, Result};

/// The three files one side of an mTLS link needs.
#[derive(Debug, Clone)]
pub struct Identity {
    /// CA bundle that signs the peer.
    pub ca: std::path::PathBuf,
    /// Our certificate.
    pub cert: std::path::PathBuf,
    /// Our private key (PKCS#8, PKCS#1 or SEC1).
    pub key: std::path::PathBuf,
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

fn certs(path: &Path) -> Result<Vec<CertificateDer<'static>>> {
    let certs: Vec<_> = CertificateDer::pem_file_iter(path)
        .map_err(|e| BenchError::Pem {
            path: path.into(),
            reason: e.to_string(),
        })?
        .collect::<Result<_, _>>()
        .map_err(|e| BenchError::Pem {
            path: path.into(),
            reason: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(BenchError::Pem {
            path: path.into(),
            reason: "no CERTIFICATE block".into(),
        });
    }
    Ok(certs)
}

fn key(path: &Path) -> Result<PrivateKeyDer<'static>> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| BenchError::Pem {
        path: path.into(),
        reason: e.to_string(),
    })
}

fn roots(path: &Path) -> Result<RootCertStore> {
    let mut store = RootCertStore::empty();
    for c in certs(path)? {
        store.add(c)?;
    }
    Ok(store)
}

/// Client side of mTLS: trust only `id.ca`, present `id.cert`. Session resumption is off, so
/// every new connection is a full handshake (certificates, signatures), as the Python client's
/// are; a handshake benchmark with resumption would measure a ticket lookup instead.
pub fn client_config(id: &Identity) -> Result<Arc<ClientConfig>> {
    let mut config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots(&id.ca)?)
        .with_client_auth_cert(certs(&id.cert)?, key(&id.key)?)?;
    config.resumption = rustls::client::Resumption::disabled();
    Ok(Arc::new(config))
}

/// Server side of mTLS (client certificate required), HTTP/1.1 only.
pub fn server_config(id: &Identity) -> Result<Arc<ServerConfig>> {
    let verifier =
        WebPkiClientVerifier::builder_with_provider(Arc::new(roots(&id.ca)?), provider())
            .build()
            .map_err(|e| BenchError::Pem {
                path: id.ca.clone(),
                reason: e.to_string(),
            })?;
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs(&id.cert)?, key(&id.key)?)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}
