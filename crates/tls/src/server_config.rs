//! The rustls `ServerConfig` of `plugwire serve`: TLS 1.2/1.3 on aws-lc-rs, ALPN http/1.1, and the
//! client-certificate policy of `ssl_cert_reqs`, with checks webpki alone does not explain well:
//! X.509 v1 certificates (what the Python Makefile issues to the gateway) and EKUs without
//! clientAuth are refused with a message that says so, and every refusal is logged with the
//! certificate's subject and the precise reason (docs/decisions.md #2).

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{VerifierBuilderError, WebPkiClientVerifier};
use rustls::sign::SingleCertAndKey;
use rustls::{
    CertificateError, DigitallySignedStruct, DistinguishedName, OtherError, RootCertStore,
    ServerConfig, SignatureScheme,
};

use crate::certinfo::CertInfo;
use crate::error::{Origin, TlsError};
use crate::identity::{AllowList, PresentedIdentities};
use crate::loaded::{ClientAuth, ClientRoots, LoadedServerTls};
use crate::pem::load_certificates;
use crate::server_tls::ServerTlsSettings;

/// The only crypto provider plugwire uses (never ring).
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// Loads a CA bundle into a root store; every certificate in it must be usable.
pub fn load_roots(path: &Path, origin: &Origin) -> Result<RootCertStore, TlsError> {
    roots_from(load_certificates("CA bundle", path, origin)?, path, origin)
}

/// A root store of the CA certificates read from `path` (named in errors).
pub(crate) fn roots_from(
    certs: Vec<CertificateDer<'static>>,
    path: &Path,
    origin: &Origin,
) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    let (added, ignored) = roots.add_parsable_certificates(certs);
    if added == 0 {
        return Err(TlsError::InvalidCaBundle {
            path: path.to_path_buf(),
            origin: origin.clone(),
            reason: format!("none of its {ignored} certificate(s) can be used as a trust anchor"),
        });
    }
    if ignored > 0 {
        tracing::warn!(file = %path.display(), ignored, "some certificates in the CA bundle cannot be used as trust anchors and are ignored");
    }
    Ok(roots)
}

/// Loads the files of `settings` and builds the server config: resolve → load → build in one
/// call, for callers that do not keep the material (a reloadable listener keeps it, see
/// [`crate::ReloadableServerConfig`]).
pub fn load_server_config(settings: &ServerTlsSettings) -> Result<Arc<ServerConfig>, TlsError> {
    build_server_config(&LoadedServerTls::load(settings)?)
}

/// Builds the server config from loaded material: TLS 1.2/1.3, ALPN http/1.1, the server's
/// chain and key, and the client-certificate policy with its CA. No file is read here; what
/// can fail is rustls refusing the material (a CRL webpki cannot use, say).
pub fn build_server_config(loaded: &LoadedServerTls) -> Result<Arc<ServerConfig>, TlsError> {
    let provider = provider();
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|err| TlsError::Rustls {
            context: "selecting TLS 1.2 and 1.3".to_string(),
            err,
        })?;
    let builder = match &loaded.client_auth {
        ClientAuth::None => builder.with_no_client_auth(),
        ClientAuth::Optional(roots) | ClientAuth::Required(roots) => {
            let optional = matches!(loaded.client_auth, ClientAuth::Optional(_));
            let verifier =
                ClientCertChecks::new(roots, optional, loaded.allowed_clients.clone(), provider)?;
            builder.with_client_cert_verifier(Arc::new(verifier))
        }
    };
    let mut config = builder.with_cert_resolver(Arc::new(SingleCertAndKey::from(Arc::clone(
        loaded.certified(),
    ))));
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Why our verifier refused a client certificate before webpki looked at it.
///
/// `Debug` prints the same text as `Display`: rustls formats `CertificateError::Other` with
/// `{:?}`, so this keeps a plain `err.to_string()` of the handshake error readable.
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum CertRefusal {
    /// Not X.509 v3 (rustls-webpki cannot use v1 certificates).
    #[error("client certificate {subject:?} is X.509 v{version}; only v3 certificates are accepted (the Python Makefile issues a v1 gateway certificate). Regenerate it with: plugwire certs gateway --force")]
    NotV3 {
        /// Subject DN.
        subject: String,
        /// 1 or 2.
        version: u32,
    },
    /// EKU extension present without clientAuth (e.g. a plugin's server certificate).
    #[error("client certificate {subject:?} has {ekus} but not clientAuth, so it cannot authenticate a client (is it a plugin's server certificate?). Use the gateway certificate (plugwire certs gateway)")]
    NoClientAuthEku {
        /// Subject DN.
        subject: String,
        /// What the extension lists.
        ekus: String,
    },
    /// Not a parseable X.509 certificate.
    #[error("the client sent something that is not a parseable X.509 certificate")]
    Unparseable,
    /// A valid certificate from the CA whose identities are not on `allowed_clients`.
    #[error("client certificate {subject:?} presents {presented}, none of which is allowed by allowed_clients ({origin}: {allowed})")]
    NotAllowed {
        /// Subject DN.
        subject: String,
        /// Its DNS SANs, URI SANs and CNs.
        presented: String,
        /// The allow-list.
        allowed: String,
        /// Where the allow-list came from.
        origin: String,
    },
    /// A plugin server certificate without the pinned identity (`server_name`, client side).
    #[error("the server certificate presents {presented}, not the pinned identity {expected:?} ({setting})")]
    ServerIdentityMismatch {
        /// The pinned identity.
        expected: String,
        /// What the certificate presents.
        presented: String,
        /// The setting that pinned it.
        setting: String,
    },
}

impl fmt::Debug for CertRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

fn refuse(reason: CertRefusal) -> rustls::Error {
    rustls::Error::InvalidCertificate(CertificateError::Other(OtherError(Arc::new(reason))))
}

/// Wraps webpki's client verifier (chain, validity, CRL) with the v3 and EKU checks before it,
/// the allow-list after it, and precise logging.
struct ClientCertChecks {
    inner: Arc<dyn ClientCertVerifier>,
    ca_bundle: PathBuf,
    allowed: Option<AllowList>,
}

impl fmt::Debug for ClientCertChecks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCertChecks")
            .field("ca_bundle", &self.ca_bundle)
            .finish()
    }
}

impl ClientCertChecks {
    fn new(
        roots: &ClientRoots,
        optional: bool,
        allowed: Option<AllowList>,
        provider: Arc<CryptoProvider>,
    ) -> Result<Self, TlsError> {
        let mut builder = WebPkiClientVerifier::builder_with_provider(roots.roots(), provider);
        if optional {
            builder = builder.allow_unauthenticated();
        }
        if !roots.crls().is_empty() {
            // Leaves only: see crate::crl for why.
            builder = builder
                .with_crls(roots.crls().to_vec())
                .only_check_end_entity_revocation();
        }
        let (ca_bundle, ca_origin) = roots.bundle();
        let inner = builder.build().map_err(|e| match (&e, roots.crl_file()) {
            (VerifierBuilderError::InvalidCrl(_), Some((crl, crl_origin))) => {
                TlsError::InvalidCrl {
                    path: crl.to_path_buf(),
                    origin: crl_origin.clone(),
                    reason: e.to_string(),
                }
            }
            _ => TlsError::InvalidCaBundle {
                path: ca_bundle.to_path_buf(),
                origin: ca_origin.clone(),
                reason: e.to_string(),
            },
        })?;
        Ok(ClientCertChecks {
            inner,
            ca_bundle: ca_bundle.to_path_buf(),
            allowed,
        })
    }

    /// The allow-list, after the chain verified: a certificate from the CA whose identities are
    /// not listed is refused in the handshake and logged with what it presented.
    fn check_allowed(
        &self,
        end_entity: &CertificateDer<'_>,
        info: &CertInfo,
    ) -> Result<(), rustls::Error> {
        let Some(list) = &self.allowed else {
            return Ok(());
        };
        let ids = PresentedIdentities::parse(end_entity).unwrap_or_default();
        if list.permits(&ids) {
            return Ok(());
        }
        let reason = CertRefusal::NotAllowed {
            subject: info.subject.clone(),
            presented: ids.to_string(),
            allowed: list.to_string(),
            origin: list.origin.to_string(),
        };
        tracing::warn!(subject = %info.subject, presented = %ids, %reason, "client certificate refused: not on the allow-list");
        Err(refuse(reason))
    }
}

/// Explains a certificate error about `info` (the peer's leaf), naming the CA bundle for
/// unknown issuers. Used for both client and server certificates.
pub fn describe_certificate_error(
    err: &CertificateError,
    info: Option<&CertInfo>,
    ca_bundle: Option<&std::path::Path>,
) -> String {
    let bundle = ca_bundle
        .map(|p| format!("the CA bundle {}", p.display()))
        .unwrap_or_else(|| "the trusted CA bundle".to_string());
    match err {
        CertificateError::Expired | CertificateError::ExpiredContext { .. } => match info {
            Some(i) => format!("expired: it was valid until {}", i.not_after),
            None => "expired".to_string(),
        },
        CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => match info {
            Some(i) => format!(
                "not yet valid: it is valid from {} (check the clocks of both machines)",
                i.not_before
            ),
            None => "not yet valid".to_string(),
        },
        CertificateError::UnknownIssuer => match info {
            Some(i) => format!(
                "unknown issuer: it was issued by \"{}\", which does not chain to {bundle}",
                i.issuer
            ),
            None => format!("unknown issuer: it does not chain to {bundle}"),
        },
        CertificateError::InvalidPurpose | CertificateError::InvalidPurposeContext { .. } => {
            match info {
                Some(i) => format!("wrong EKU: the certificate has {}", i.ekus_text()),
                None => "wrong EKU (extended key usage) for this use".to_string(),
            }
        }
        CertificateError::BadSignature => {
            "bad signature: the certificate was not signed by the key of the CA it names (was the CA regenerated? use the ca.crt that issued it)".to_string()
        }
        CertificateError::UnsupportedSignatureAlgorithmForPublicKeyContext { .. } => {
            "bad signature: the certificate was signed with another type of key than the one of the CA it names (an RSA CA and an ECDSA CA with the same name: was the CA regenerated with another key type? use the ca.crt that issued it)".to_string()
        }
        CertificateError::Revoked => {
            "revoked: its serial number is listed in the configured CRL (ca_crl)".to_string()
        }
        CertificateError::UnknownRevocationStatus => "unknown revocation status: the configured CRL (ca_crl) has no list from its issuer; the CRL file must cover every CA that issues certificates".to_string(),
        CertificateError::BadEncoding => "not a valid X.509 certificate".to_string(),
        CertificateError::Other(OtherError(e)) => e.to_string(),
        other => format!("{other:?}"),
    }
}

impl ClientCertVerifier for ClientCertChecks {
    fn offer_client_auth(&self) -> bool {
        self.inner.offer_client_auth()
    }

    fn client_auth_mandatory(&self) -> bool {
        self.inner.client_auth_mandatory()
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let Some(info) = CertInfo::parse(end_entity) else {
            tracing::warn!(reason = %CertRefusal::Unparseable, "client certificate refused");
            return Err(refuse(CertRefusal::Unparseable));
        };
        if info.version != 3 {
            let reason = CertRefusal::NotV3 {
                subject: info.subject.clone(),
                version: info.version,
            };
            tracing::warn!(subject = %info.subject, issuer = %info.issuer, %reason, "client certificate refused: X.509 v{}", info.version);
            return Err(refuse(reason));
        }
        if info.ekus.is_some() && !info.client_auth {
            let reason = CertRefusal::NoClientAuthEku {
                subject: info.subject.clone(),
                ekus: info.ekus_text(),
            };
            tracing::warn!(subject = %info.subject, issuer = %info.issuer, %reason, "client certificate refused: wrong EKU");
            return Err(refuse(reason));
        }
        match self
            .inner
            .verify_client_cert(end_entity, intermediates, now)
        {
            Ok(ok) => {
                self.check_allowed(end_entity, &info)?;
                tracing::debug!(subject = %info.subject, issuer = %info.issuer, "client certificate accepted");
                Ok(ok)
            }
            Err(e) => {
                let reason = match &e {
                    rustls::Error::InvalidCertificate(ce) => {
                        describe_certificate_error(ce, Some(&info), Some(&self.ca_bundle))
                    }
                    other => other.to_string(),
                };
                tracing::warn!(subject = %info.subject, issuer = %info.issuer, %reason, "client certificate refused");
                Err(e)
            }
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// A one-line explanation of a server-side handshake failure, for the server's log.
pub fn describe_server_handshake_error(err: &rustls::Error) -> String {
    use rustls::{AlertDescription as A, Error as E, PeerIncompatible as P};
    match err {
        E::NoCertificatesPresented => "the client sent no certificate, but ssl_cert_reqs=2 requires one (mTLS): configure the gateway's client certificate (mcp.tls.certfile/keyfile, e.g. certs/mcp/gateway/client.pem)".to_string(),
        E::InvalidCertificate(ce) => format!("client certificate refused: {}", describe_certificate_error(ce, None, None)),
        E::PeerIncompatible(
            P::ServerDoesNotSupportTls12Or13
            | P::SupportedVersionsExtensionRequired
            | P::SignatureAlgorithmsExtensionRequired
            | P::Tls12NotOffered
            | P::Tls12NotOfferedOrEnabled,
        ) => {
            "the client offers no TLS version this server accepts (TLS 1.0/1.1?): only TLS 1.2 and 1.3 are served".to_string()
        }
        E::PeerIncompatible(p) => format!("the client is incompatible: {p:?}"),
        E::InvalidMessage(_) => "the peer did not speak TLS (plain HTTP sent to the TLS port? use https://)".to_string(),
        E::NoApplicationProtocol => "the client offered no ALPN protocol this server speaks (only http/1.1)".to_string(),
        E::AlertReceived(A::UnknownCA | A::BadCertificate | A::CertificateUnknown) => format!(
            "the client refused this server's certificate ({:?}): give the client the CA bundle that issued it (e.g. certs/mcp/ca/ca.crt), and check the URL's host is in the certificate",
            match err { E::AlertReceived(a) => *a, _ => A::HandshakeFailure }
        ),
        E::AlertReceived(a) => format!("the client aborted the handshake with alert {a:?}"),
        other => other.to_string(),
    }
}
