//! The certificate profiles: what goes into the CA, the gateway client certificate and the
//! plugin server certificates. X.509 v3 with key usages everywhere (docs/decisions.md #2), where
//! the ContextForge Makefile writes a v1 gateway certificate and no key usages at all.

use std::fmt;
use std::str::FromStr;

use rand::RngCore;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose, SanType, SerialNumber,
};
use time::{Duration, OffsetDateTime};

use crate::error::{CertsError, Result};
use crate::names::San;

/// The CA subject (the Makefile's b896 subject, as the seed guide shows it).
pub const CA_SUBJECT: [&str; 3] = ["MCP-Gateway-CA", "MCPGateway", "Plugins"];
/// The gateway client subject.
pub const GATEWAY_SUBJECT: [&str; 3] = ["mcp-gateway-client", "MCPGateway", "Gateway"];
/// Organization and unit of plugin subjects (CN is `mcp-plugin-<name>`).
pub const PLUGIN_O_OU: [&str; 2] = ["MCPGateway", "Plugins"];

/// Default validity in days (`MCP_CERT_DAYS`).
pub const DEFAULT_DAYS: u32 = 825;
/// Largest accepted validity (100 years).
pub const MAX_DAYS: u32 = 36_500;

/// The kind of key generated for new identities.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KeyType {
    /// RSA 4096, SHA-256 signatures: what the seed promises and the default. Takes seconds.
    #[default]
    Rsa4096,
    /// ECDSA P-256, SHA-256 signatures: instant, what tests use.
    EcdsaP256,
}

impl KeyType {
    /// The `--key-type` spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyType::Rsa4096 => "rsa4096",
            KeyType::EcdsaP256 => "ecdsa-p256",
        }
    }

    /// Whether generating a key is slow enough to deserve progress output.
    pub fn is_slow(self) -> bool {
        matches!(self, KeyType::Rsa4096)
    }

    /// Generates a fresh key pair.
    pub fn generate(self) -> Result<KeyPair> {
        let result = match self {
            KeyType::Rsa4096 => {
                KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_4096)
            }
            KeyType::EcdsaP256 => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256),
        };
        result.map_err(|e| CertsError::Crypto {
            what: format!("generating a {} key", self.as_str()),
            reason: e.to_string(),
        })
    }
}

impl fmt::Display for KeyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for KeyType {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "rsa4096" | "rsa-4096" | "rsa" => Ok(KeyType::Rsa4096),
            "ecdsa-p256" | "ecdsa" | "p256" | "ec" => Ok(KeyType::EcdsaP256),
            other => Err(format!(
                "unknown key type {other:?}: use rsa4096 (default) or ecdsa-p256"
            )),
        }
    }
}

/// Whether a key is RSA (RSA leaves also get keyEncipherment; ECDSA keys cannot encipher).
fn is_rsa(key: &KeyPair) -> bool {
    key.algorithm() == &rcgen::PKCS_RSA_SHA256
        || key.algorithm() == &rcgen::PKCS_RSA_SHA384
        || key.algorithm() == &rcgen::PKCS_RSA_SHA512
}

/// The validity window: from `not_before` (default now, whole seconds) for `days` days.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Validity {
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
}

impl Validity {
    pub fn new(not_before: Option<OffsetDateTime>, days: u32) -> Self {
        let start = not_before
            .unwrap_or_else(OffsetDateTime::now_utc)
            .replace_nanosecond(0)
            .unwrap_or_else(|_| OffsetDateTime::now_utc());
        Self {
            not_before: start,
            not_after: start + Duration::days(i64::from(days)),
        }
    }
}

/// A random positive 16-byte serial (RFC 5280 wants unpredictable serials; no `ca.srl`).
fn random_serial() -> SerialNumber {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    // Positive and exactly 16 octets in DER: top bit clear, first byte non-zero.
    bytes[0] = (bytes[0] & 0x7f) | 0x01;
    SerialNumber::from_slice(&bytes)
}

fn subject(cn: &str, o: &str, ou: &str) -> DistinguishedName {
    // Order CN, O, OU as the Makefile's -subj; &str becomes UTF8String as OpenSSL writes it.
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    dn.push(DnType::OrganizationName, o);
    dn.push(DnType::OrganizationalUnitName, ou);
    dn
}

fn base(validity: Validity, dn: DistinguishedName) -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name = dn;
    params.not_before = validity.not_before;
    params.not_after = validity.not_after;
    params.serial_number = Some(random_serial());
    params
}

/// CA: basicConstraints CA:TRUE (critical), keyUsage keyCertSign + cRLSign (critical), SKID, AKID.
pub(crate) fn ca_params(validity: Validity) -> CertificateParams {
    let [cn, o, ou] = CA_SUBJECT;
    let mut params = base(validity, subject(cn, o, ou));
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params.use_authority_key_identifier_extension = true;
    params
}

/// Shared leaf settings: CA:FALSE, SKID, AKID, digitalSignature (+ keyEncipherment for RSA).
fn leaf_params(validity: Validity, dn: DistinguishedName, key: &KeyPair) -> CertificateParams {
    let mut params = base(validity, dn);
    params.is_ca = IsCa::ExplicitNoCa;
    params.use_authority_key_identifier_extension = true;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    if is_rsa(key) {
        params.key_usages.push(KeyUsagePurpose::KeyEncipherment);
    }
    params
}

/// Gateway client: extendedKeyUsage clientAuth, and the SANs asked for (`--uri-san`: a SPIFFE
/// ID for the servers' `allowed_clients`); none by default, as before.
pub(crate) fn gateway_params(
    validity: Validity,
    key: &KeyPair,
    sans: &[San],
) -> Result<CertificateParams> {
    let [cn, o, ou] = GATEWAY_SUBJECT;
    let mut params = leaf_params(validity, subject(cn, o, ou), key);
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    params.subject_alt_names = san_types(sans)?;
    Ok(params)
}

/// Plugin server: extendedKeyUsage serverAuth and the SANs (defaults first, then extras).
pub(crate) fn plugin_params(
    validity: Validity,
    name: &str,
    sans: &[San],
    key: &KeyPair,
) -> Result<CertificateParams> {
    let [o, ou] = PLUGIN_O_OU;
    let mut params = leaf_params(validity, subject(&format!("mcp-plugin-{name}"), o, ou), key);
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.subject_alt_names = san_types(sans)?;
    Ok(params)
}

fn san_types(sans: &[San]) -> Result<Vec<SanType>> {
    fn invalid(san: &San) -> impl FnOnce(rcgen::Error) -> CertsError + '_ {
        move |e| CertsError::InvalidSan {
            value: san.to_string(),
            reason: e.to_string(),
        }
    }
    sans.iter()
        .map(|san| match san {
            San::Dns(dns) => dns
                .clone()
                .try_into()
                .map(SanType::DnsName)
                .map_err(invalid(san)),
            San::Ip(ip) => Ok(SanType::IpAddress(*ip)),
            San::Uri(uri) => uri
                .clone()
                .try_into()
                .map(SanType::URI)
                .map_err(invalid(san)),
        })
        .collect()
}

/// Maps rcgen's signing error to ours, naming what was being signed.
pub(crate) fn signing_error(what: &str) -> impl FnOnce(rcgen::Error) -> CertsError + '_ {
    move |e| CertsError::Crypto {
        what: format!("signing the {what}"),
        reason: e.to_string(),
    }
}
