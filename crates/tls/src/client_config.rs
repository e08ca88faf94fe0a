//! The rustls `ClientConfig` a gateway uses to call plugin servers: trust is the CA bundle only
//! (the system bundle file when none is configured), `check_hostname: false` verifies the chain
//! but not the name, `verify: false` accepts any certificate (still checking the handshake
//! signature) with a loud warning, and a client certificate is sent when configured.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::sign::SingleCertAndKey;
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, OtherError, SignatureScheme};

use crate::certinfo::CertInfo;
use crate::client_loaded::{LoadedClientTls, ServerTrust};
use crate::client_settings::ClientTlsSettings;
use crate::error::TlsError;
use crate::identity::{PresentedIdentities, ServerPin};
use crate::server_config::{describe_certificate_error, provider, CertRefusal};

/// Used when `verify` is on and no CA bundle is configured (Debian/Ubuntu/Alpine path).
pub const SYSTEM_CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// The rustls server name for a URL host: DNS name, IPv4 or IPv6 literal (brackets allowed).
/// IP literals are accepted on purpose (docs/decisions.md #13); they verify against IP SANs.
pub fn server_name(host: &str) -> Result<ServerName<'static>, TlsError> {
    let h = host.trim();
    let h = h
        .strip_prefix('[')
        .and_then(|s| s.strip_suffix(']'))
        .unwrap_or(h);
    ServerName::try_from(h.to_string()).map_err(|_| TlsError::InvalidServerName {
        host: host.to_string(),
    })
}

/// Builds the client config for one plugin entry's resolved settings: loads the files (each
/// read once, [`LoadedClientTls::load`]) and builds from them.
pub fn build_client_config(settings: &ClientTlsSettings) -> Result<Arc<ClientConfig>, TlsError> {
    build_client_config_from(settings, &LoadedClientTls::load(settings)?)
}

/// Builds the client config from loaded material; `settings` gives the policies (`verify`,
/// `check_hostname`, `server_name`) and the names for messages. No file is read here.
pub fn build_client_config_from(
    settings: &ClientTlsSettings,
    loaded: &LoadedClientTls,
) -> Result<Arc<ClientConfig>, TlsError> {
    let provider = provider();
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|err| TlsError::Rustls {
            context: "selecting TLS 1.2 and 1.3".to_string(),
            err,
        })?;
    let verifier: Arc<dyn ServerCertVerifier> = match &loaded.trust {
        Some(trust) if settings.verify => server_checks(settings, trust, &provider)?,
        _ => {
            tracing::warn!(
                "TLS VERIFICATION IS OFF ({} is false): any server certificate is accepted, so anyone on the network path can impersonate the plugin server. Use this only for debugging",
                settings.setting("verify")
            );
            Arc::new(AcceptAnyServerCert {
                provider: provider.clone(),
            })
        }
    };
    let builder = builder
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let mut config = match &loaded.identity {
        Some(identity) => builder
            .with_client_cert_resolver(Arc::new(SingleCertAndKey::from(Arc::clone(identity)))),
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// webpki verification against the loaded trust store, with the host-name policy and pin.
fn server_checks(
    settings: &ClientTlsSettings,
    trust: &ServerTrust,
    provider: &Arc<CryptoProvider>,
) -> Result<Arc<dyn ServerCertVerifier>, TlsError> {
    let mut builder =
        WebPkiServerVerifier::builder_with_provider(Arc::clone(&trust.roots), provider.clone());
    if !trust.crls.is_empty() {
        // Leaves only: see crate::crl for why.
        builder = builder
            .with_crls(trust.crls.clone())
            .only_check_end_entity_revocation();
    }
    let inner = builder.build().map_err(|e| TlsError::InvalidCaBundle {
        path: trust.bundle.clone(),
        origin: trust.origin.clone(),
        reason: e.to_string(),
    })?;
    let pin = match &settings.server_name {
        Some(name) => {
            Some(
                ServerPin::parse(name).map_err(|reason| TlsError::InvalidServerNamePin {
                    origin: settings.origins.server_name.clone(),
                    value: name.clone(),
                    reason,
                })?,
            )
        }
        None => None,
    };
    if pin.is_none() && !settings.check_hostname {
        tracing::info!(
            "{} is false: plugin server certificates are verified against {} but their host names are not checked",
            settings.setting("check_hostname"),
            trust.bundle.display()
        );
    }
    Ok(Arc::new(ServerChecks {
        inner,
        check_hostname: settings.check_hostname,
        ca_bundle: trust.bundle.clone(),
        pin: pin.map(|p| (p, settings.setting("server_name").to_string())),
    }))
}

/// webpki server verification, optionally ignoring only the host-name check, or checking a
/// pinned identity (`server_name`) instead of the URL host.
struct ServerChecks {
    inner: Arc<WebPkiServerVerifier>,
    check_hostname: bool,
    ca_bundle: PathBuf,
    /// The pinned identity and the setting that pinned it (for messages).
    pin: Option<(ServerPin, String)>,
}

/// webpki checks the name only after the chain, validity, EKU and revocation have passed, so a
/// name error means everything else is fine.
fn is_name_error(result: &Result<ServerCertVerified, rustls::Error>) -> bool {
    matches!(
        result,
        Err(rustls::Error::InvalidCertificate(
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
        ))
    )
}

impl ServerChecks {
    /// With a pin, the pinned identity replaces the URL host (whatever `check_hostname` says):
    /// a DNS/IP pin is handed to webpki as the name; a URI pin needs the chain to verify (any
    /// name) and the URI among the certificate's URI SANs.
    fn verify_pinned(
        &self,
        pin: &ServerPin,
        setting: &str,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        url_name: &ServerName<'_>,
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let (name, uri) = match pin {
            ServerPin::Name(n) => (n, None),
            ServerPin::Uri(u) => (url_name, Some(u)),
        };
        let result = self
            .inner
            .verify_server_cert(end_entity, intermediates, name, &[], now);
        let found = match uri {
            None if is_name_error(&result) => false,
            None => return self.explain(result, end_entity, url_name),
            Some(_) if result.is_err() && !is_name_error(&result) => {
                return self.explain(result, end_entity, url_name)
            }
            Some(u) => {
                PresentedIdentities::parse(end_entity).is_some_and(|ids| ids.uris.contains(u))
            }
        };
        if found {
            return Ok(ServerCertVerified::assertion());
        }
        let presented = PresentedIdentities::parse(end_entity)
            .map(|ids| ids.to_string())
            .unwrap_or_else(|| "an unparseable certificate".into());
        let reason = CertRefusal::ServerIdentityMismatch {
            expected: match pin {
                ServerPin::Name(n) => n.to_str().into_owned(),
                ServerPin::Uri(u) => u.clone(),
            },
            presented,
            setting: setting.to_string(),
        };
        tracing::debug!(server = ?url_name, %reason, "server certificate refused");
        Err(rustls::Error::InvalidCertificate(CertificateError::Other(
            OtherError(Arc::new(reason)),
        )))
    }

    /// Logs a refusal (debug: the caller reports the error) and passes the result on.
    fn explain(
        &self,
        result: Result<ServerCertVerified, rustls::Error>,
        end_entity: &CertificateDer<'_>,
        server_name: &ServerName<'_>,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if let Err(rustls::Error::InvalidCertificate(ce)) = &result {
            let info = CertInfo::parse(end_entity);
            tracing::debug!(server = ?server_name, reason = %describe_certificate_error(ce, info.as_ref(), Some(&self.ca_bundle)), "server certificate refused");
        }
        result
    }
}

impl fmt::Debug for ServerChecks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerChecks")
            .field("check_hostname", &self.check_hostname)
            .field("ca_bundle", &self.ca_bundle)
            .finish()
    }
}

impl ServerCertVerifier for ServerChecks {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if let Some((pin, setting)) = &self.pin {
            return self.verify_pinned(pin, setting, end_entity, intermediates, server_name, now);
        }
        let result = self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        );
        if !self.check_hostname && is_name_error(&result) {
            tracing::debug!(server = ?server_name, "server certificate accepted without host-name check (check_hostname=false)");
            return Ok(ServerCertVerified::assertion());
        }
        self.explain(result, end_entity, server_name)
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

/// `verify: false`: any certificate, but the handshake signature is still checked so the
/// connection is at least bound to the presented certificate's key.
#[derive(Debug)]
struct AcceptAnyServerCert {
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for AcceptAnyServerCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// The rustls error inside an I/O error from tokio-rustls / hyper, if there is one.
pub fn rustls_error_in<'a>(
    err: &'a (dyn std::error::Error + 'static),
) -> Option<&'a rustls::Error> {
    let mut cur: Option<&'a (dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cur {
        if let Some(r) = e.downcast_ref::<rustls::Error>() {
            return Some(r);
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            if let Some(inner) = io.get_ref() {
                if let Some(r) = inner.downcast_ref::<rustls::Error>() {
                    return Some(r);
                }
            }
        }
        cur = e.source();
    }
    None
}

/// Turns a client-side handshake failure into a message for the operator. `host` is the URL's
/// host; `settings` the entry's resolved TLS settings.
pub fn explain_client_handshake_error(
    err: &rustls::Error,
    host: &str,
    settings: &ClientTlsSettings,
) -> String {
    use rustls::{AlertDescription as A, Error as E};
    let bundle = settings
        .ca_bundle
        .clone()
        .unwrap_or_else(|| PathBuf::from(SYSTEM_CA_BUNDLE));
    match err {
        E::InvalidCertificate(
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
        ) => name_mismatch_message(err, host, settings),
        E::InvalidCertificate(CertificateError::Other(OtherError(e)))
            if matches!(e.downcast_ref::<CertRefusal>(), Some(CertRefusal::ServerIdentityMismatch { .. })) =>
        {
            format!(
                "the plugin server's certificate does not carry the pinned identity: {e}. Point {} at an identity from the certificate's SANs, or reissue the plugin certificate with it (plugwire certs plugin NAME --san ... --force)",
                settings.setting("server_name")
            )
        }
        E::InvalidCertificate(CertificateError::UnknownIssuer) => format!(
            "the plugin server's certificate was not issued by a CA in the CA bundle {} ({}): set {} to the CA that issued the plugin's certificate (e.g. certs/mcp/ca/ca.crt)",
            bundle.display(),
            settings.origins.ca_bundle,
            settings.setting("ca_bundle"),
        ),
        E::InvalidCertificate(
            ce @ (CertificateError::Expired | CertificateError::ExpiredContext { .. }),
        ) => format!(
            "the plugin server's certificate has expired ({}): reissue it, e.g. plugwire certs plugin NAME --force, and restart the plugin server",
            expired_detail(ce)
        ),
        E::InvalidCertificate(
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. },
        ) => "the plugin server's certificate is not valid yet: check the clocks of both machines".to_string(),
        E::InvalidCertificate(ce) => format!(
            "the plugin server's certificate was refused: {}",
            describe_certificate_error(ce, None, Some(&bundle))
        ),
        E::AlertReceived(A::CertificateRequired) | E::AlertReceived(A::HandshakeFailure)
            if settings.certfile.is_none() =>
        {
            format!(
                "the plugin server requires a client certificate (mTLS) and none is configured: set {} (and {})",
                settings.setting("certfile"),
                settings.setting("keyfile")
            )
        }
        // DecryptError: the server could not verify our certificate's signature (a CA with the
        // same name as the one it trusts, but another key).
        E::AlertReceived(a @ (A::BadCertificate | A::UnknownCA | A::CertificateExpired | A::UnsupportedCertificate | A::CertificateUnknown | A::CertificateRequired | A::AccessDenied | A::DecryptError)) => {
            format!(
                "the plugin server refused our client certificate {} (alert {a:?}); its log says why. Check it was issued by the CA the server trusts, is not expired, is X.509 v3 and allows clientAuth (plugwire certs gateway)",
                settings
                    .certfile
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default()
            )
        }
        other => format!("TLS handshake failed: {other}"),
    }
}

/// The names a certificate refused for a host carries, as rustls reports them
/// (`DnsName("localhost")`, `IpAddress(...)`); empty when it does not say.
pub fn names_presented(err: &rustls::Error) -> &[String] {
    match err {
        rustls::Error::InvalidCertificate(CertificateError::NotValidForNameContext {
            presented,
            ..
        }) => presented,
        _ => &[],
    }
}

/// The `--san` value that would make a reissued certificate valid for `host` (brackets of an
/// IPv6 address dropped): `IP:…` for an address, `DNS:…` for a name.
pub fn san_for_host(host: &str) -> String {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if bare.parse::<std::net::IpAddr>().is_ok() {
        format!("IP:{bare}")
    } else {
        format!("DNS:{bare}")
    }
}

/// The certificate does not name the URL's host: the three ways out, with the names the
/// certificate does carry when rustls reports them.
fn name_mismatch_message(err: &rustls::Error, host: &str, settings: &ClientTlsSettings) -> String {
    let presented = match names_presented(err) {
        [] => String::new(),
        names => format!(" (it is valid for: {})", names.join(", ")),
    };
    let san = san_for_host(host);
    format!(
        "the plugin server's certificate is not valid for the host `{host}` in the URL{presented}. Fix it in one of three ways: \
         (1) use a DNS name from the certificate's SANs in the URL, such as `localhost` (https://localhost:PORT/mcp); \
         (2) set {} to false (the certificate chain is still verified); \
         (3) reissue the plugin certificate with that name: plugwire certs plugin NAME --san {san} --force",
        settings.setting("check_hostname")
    )
}

fn expired_detail(ce: &CertificateError) -> String {
    match ce {
        CertificateError::ExpiredContext { time, not_after } => format!(
            "not valid after Unix time {}, now {}",
            not_after.as_secs(),
            time.as_secs()
        ),
        _ => "its not-after date has passed".to_string(),
    }
}
