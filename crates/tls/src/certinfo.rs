//! The few facts about a peer certificate that make a refusal message useful: subject, issuer,
//! X.509 version, EKUs and validity, parsed with x509-parser (webpki does not expose them).

use std::fmt;

use rustls_pki_types::CertificateDer;
use x509_parser::prelude::{FromDer, X509Certificate};

/// Facts about one certificate, for logs and messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertInfo {
    /// Subject DN, e.g. `CN=mcp-gateway, O=...`.
    pub subject: String,
    /// Issuer DN.
    pub issuer: String,
    /// X.509 version as written on certificates: 1, 2 or 3.
    pub version: u32,
    /// `None`: no EKU extension. `Some(list)`: the purposes it names (`serverAuth`, ...).
    pub ekus: Option<Vec<String>>,
    /// Whether the EKU extension (when present) includes clientAuth.
    pub client_auth: bool,
    /// Whether the EKU extension (when present) includes serverAuth.
    pub server_auth: bool,
    /// Start of validity, readable.
    pub not_before: String,
    /// End of validity, readable.
    pub not_after: String,
    /// Start of validity, Unix seconds.
    pub not_before_unix: i64,
    /// End of validity, Unix seconds.
    pub not_after_unix: i64,
    /// Subject alternative names, as `DNS:x` / `IP:y`.
    pub sans: Vec<String>,
}

impl CertInfo {
    /// Parses a DER certificate; `None` when it is not one.
    pub fn parse(der: &CertificateDer<'_>) -> Option<CertInfo> {
        let (_, cert) = X509Certificate::from_der(der.as_ref()).ok()?;
        let (ekus, client_auth, server_auth) = match cert.extended_key_usage() {
            Ok(Some(ext)) => {
                let e = ext.value;
                let mut list = Vec::new();
                for (on, name) in [
                    (e.any, "anyExtendedKeyUsage"),
                    (e.server_auth, "serverAuth"),
                    (e.client_auth, "clientAuth"),
                    (e.code_signing, "codeSigning"),
                    (e.email_protection, "emailProtection"),
                    (e.time_stamping, "timeStamping"),
                    (e.ocsp_signing, "OCSPSigning"),
                ] {
                    if on {
                        list.push(name.to_string());
                    }
                }
                list.extend(e.other.iter().map(|o| o.to_id_string()));
                (Some(list), e.client_auth, e.server_auth)
            }
            // Absent, or present but unparseable (webpki then refuses it anyway).
            Ok(None) | Err(_) => (None, true, true),
        };
        let sans = match cert.subject_alternative_name() {
            Ok(Some(ext)) => ext
                .value
                .general_names
                .iter()
                .map(|n| match n {
                    x509_parser::extensions::GeneralName::DNSName(d) => format!("DNS:{d}"),
                    x509_parser::extensions::GeneralName::IPAddress(b) => format_ip(b),
                    other => format!("{other}"),
                })
                .collect(),
            _ => Vec::new(),
        };
        let validity = cert.validity();
        Some(CertInfo {
            subject: cert.subject().to_string(),
            issuer: cert.issuer().to_string(),
            version: cert.version().0 + 1,
            ekus,
            client_auth,
            server_auth,
            not_before: validity.not_before.to_string(),
            not_after: validity.not_after.to_string(),
            not_before_unix: validity.not_before.timestamp(),
            not_after_unix: validity.not_after.timestamp(),
            sans,
        })
    }

    /// The EKU list for messages.
    pub fn ekus_text(&self) -> String {
        match &self.ekus {
            None => "no EKU extension".to_string(),
            Some(l) if l.is_empty() => "an empty EKU extension".to_string(),
            Some(l) => format!("EKU {}", l.join(", ")),
        }
    }
}

fn format_ip(bytes: &[u8]) -> String {
    match bytes.len() {
        4 => format!("IP:{}.{}.{}.{}", bytes[0], bytes[1], bytes[2], bytes[3]),
        16 => {
            let mut a = [0u8; 16];
            a.copy_from_slice(bytes);
            format!("IP:{}", std::net::Ipv6Addr::from(a))
        }
        _ => "IP:?".to_string(),
    }
}

impl fmt::Display for CertInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "subject \"{}\", issuer \"{}\"",
            self.subject, self.issuer
        )
    }
}
