//! Who may call: the server's allow-list of client identities (`allowed_clients`) and the
//! identities a peer certificate presents (DNS SANs, URI SANs such as SPIFFE IDs, subject CNs).
//!
//! # Entry syntax
//! - `spiffe://td/ns/gw/sa/gateway`, or any `scheme://authority/path`: a URI SAN, compared
//!   exactly. `*` as the whole *last* path segment matches exactly one segment
//!   (`spiffe://td/ns/gw/sa/*` allows every service account of namespace `gw`, not
//!   `spiffe://td/ns/gw/sa/a/b`).
//! - `gateway.example.com`: a DNS SAN or the subject CN, ASCII case-insensitive. `*.example.com`
//!   matches exactly one label (`a.example.com`, not `a.b.example.com` nor `example.com`).
//! - `DNS:x`, `URI:x`, `CN:x` restrict an entry to one kind (a CN with spaces: `CN:My Gateway`).
//!
//! Anything else is refused when the settings are resolved, so an entry that can never match
//! (a `spiffe://` without trust domain, an empty entry, a wildcard in the middle) stops the
//! server before it listens instead of silently refusing every caller.

use std::fmt;

use rustls_pki_types::CertificateDer;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::error::{Origin, TlsError};

/// A resolved `allowed_clients`: at least one entry, each one able to match something.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowList {
    /// The entries, in the order given.
    pub entries: Vec<IdentityPattern>,
    /// Where the list came from (YAML key or variable), for logs and errors.
    pub origin: Origin,
}

impl AllowList {
    /// Parses every entry; the first bad one is an error naming `origin` (the key or variable).
    pub fn parse<S: AsRef<str>>(entries: &[S], origin: &Origin) -> Result<Self, TlsError> {
        if entries.is_empty() {
            return Err(TlsError::EmptyAllowList {
                origin: origin.clone(),
            });
        }
        let entries = entries
            .iter()
            .map(|e| {
                IdentityPattern::parse(e.as_ref()).map_err(|reason| {
                    TlsError::InvalidAllowedClient {
                        origin: origin.clone(),
                        entry: e.as_ref().to_string(),
                        reason,
                    }
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(AllowList {
            entries,
            origin: origin.clone(),
        })
    }

    /// Whether any entry matches one of the presented identities.
    pub fn permits(&self, ids: &PresentedIdentities) -> bool {
        self.entries.iter().any(|e| e.matches(ids))
    }
}

impl fmt::Display for AllowList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list: Vec<&str> = self.entries.iter().map(|e| e.written.as_str()).collect();
        f.write_str(&list.join(", "))
    }
}

/// Which identities of a certificate an entry is compared with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Unprefixed name: DNS SANs and CNs.
    Name,
    Dns,
    Cn,
    Uri,
}

/// How the text is compared.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Matcher {
    /// Whole value (lower-cased for names).
    Exact(String),
    /// `*.rest`: one non-empty label, then `.rest` (stored lower-cased, with its dot).
    OneLabel(String),
    /// `prefix/*`: one non-empty path segment after `prefix/` (stored with its slash).
    OneSegment(String),
}

/// One allow-list entry, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityPattern {
    written: String,
    kind: Kind,
    matcher: Matcher,
}

impl fmt::Display for IdentityPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.written)
    }
}

/// The identities one certificate presents.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PresentedIdentities {
    /// DNS SANs.
    pub dns: Vec<String>,
    /// URI SANs (SPIFFE IDs).
    pub uris: Vec<String>,
    /// Subject common names.
    pub common_names: Vec<String>,
}

impl PresentedIdentities {
    /// The identities of a DER certificate; `None` when it does not parse.
    pub fn parse(der: &CertificateDer<'_>) -> Option<Self> {
        let (_, cert) = X509Certificate::from_der(der.as_ref()).ok()?;
        let mut ids = PresentedIdentities::default();
        if let Ok(Some(san)) = cert.subject_alternative_name() {
            for name in &san.value.general_names {
                match name {
                    GeneralName::DNSName(d) => ids.dns.push((*d).to_string()),
                    GeneralName::URI(u) => ids.uris.push((*u).to_string()),
                    _ => {}
                }
            }
        }
        ids.common_names = cert
            .subject()
            .iter_common_name()
            .filter_map(|cn| cn.as_str().ok().map(str::to_string))
            .collect();
        Some(ids)
    }
}

impl fmt::Display for PresentedIdentities {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let all: Vec<String> = self
            .dns
            .iter()
            .map(|d| format!("DNS:{d}"))
            .chain(self.uris.iter().map(|u| format!("URI:{u}")))
            .chain(self.common_names.iter().map(|c| format!("CN={c}")))
            .collect();
        if all.is_empty() {
            f.write_str("no DNS SAN, URI SAN or CN")
        } else {
            f.write_str(&all.join(", "))
        }
    }
}

impl IdentityPattern {
    /// Parses one entry; the error says what is wrong with it (the caller names the setting).
    pub fn parse(entry: &str) -> Result<Self, String> {
        let written = entry.trim();
        if written.is_empty() {
            return Err("the entry is empty".into());
        }
        let (kind, text) = match written.split_once(':') {
            Some((p, rest)) if p.eq_ignore_ascii_case("dns") => (Kind::Dns, rest.trim()),
            Some((p, rest)) if p.eq_ignore_ascii_case("cn") => (Kind::Cn, rest.trim()),
            Some((p, rest)) if p.eq_ignore_ascii_case("uri") => (Kind::Uri, rest.trim()),
            _ if written.contains("://") => (Kind::Uri, written),
            _ => (Kind::Name, written),
        };
        if text.is_empty() {
            return Err("nothing follows the prefix".into());
        }
        let matcher = match kind {
            Kind::Uri => uri_matcher(text)?,
            _ => name_matcher(text, kind)?,
        };
        Ok(IdentityPattern {
            written: written.to_string(),
            kind,
            matcher,
        })
    }

    /// Whether the certificate's identities include one this entry allows.
    pub fn matches(&self, ids: &PresentedIdentities) -> bool {
        let names = |list: &[String]| list.iter().any(|n| self.matches_text(n, true));
        match self.kind {
            Kind::Name => names(&ids.dns) || names(&ids.common_names),
            Kind::Dns => names(&ids.dns),
            Kind::Cn => names(&ids.common_names),
            Kind::Uri => ids.uris.iter().any(|u| self.matches_text(u, false)),
        }
    }

    fn matches_text(&self, presented: &str, fold_case: bool) -> bool {
        let owned;
        let value = if fold_case {
            owned = presented.to_ascii_lowercase();
            owned.as_str()
        } else {
            presented
        };
        match &self.matcher {
            Matcher::Exact(want) => value == want,
            Matcher::OneLabel(suffix) => value
                .strip_suffix(suffix.as_str())
                .is_some_and(|label| !label.is_empty() && !label.contains('.')),
            Matcher::OneSegment(prefix) => value
                .strip_prefix(prefix.as_str())
                .is_some_and(|seg| !seg.is_empty() && !seg.contains(['/', '?', '#'])),
        }
    }
}

fn name_matcher(text: &str, kind: Kind) -> Result<Matcher, String> {
    let lower = text.to_ascii_lowercase();
    if !lower.contains('*') {
        if kind == Kind::Dns {
            check_dns_labels(&lower)?;
        }
        return Ok(Matcher::Exact(lower));
    }
    if lower == "*" {
        return Err("a lone `*` would allow every certificate the CA issued; remove allowed_clients instead".into());
    }
    match lower.strip_prefix("*.") {
        Some(rest) if !rest.contains('*') => {
            check_dns_labels(rest)?;
            Ok(Matcher::OneLabel(format!(".{rest}")))
        }
        _ => Err("a wildcard is only allowed as the whole first label (`*.example.com`)".into()),
    }
}

fn check_dns_labels(name: &str) -> Result<(), String> {
    for label in name.split('.') {
        if label.is_empty() {
            return Err(format!("{name:?} has an empty DNS label"));
        }
        if !label
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(format!(
                "{name:?} is not a DNS name (letters, digits, '-', '_' and dots); write CN:... for a common name"
            ));
        }
    }
    Ok(())
}

fn uri_matcher(text: &str) -> Result<Matcher, String> {
    let Some((scheme, rest)) = text.split_once("://") else {
        return Err(
            "a URI entry needs scheme://authority, e.g. spiffe://cluster.local/ns/gw/sa/gateway"
                .into(),
        );
    };
    let scheme_ok = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    if !scheme_ok {
        return Err(format!("{scheme:?} is not a URI scheme"));
    }
    let spiffe = scheme.eq_ignore_ascii_case("spiffe");
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    if authority.is_empty() {
        return Err(if spiffe {
            "the SPIFFE ID has no trust domain (spiffe://TRUST-DOMAIN/path)".into()
        } else {
            "the URI has no authority (scheme://HOST/path)".into()
        });
    }
    if authority.contains('*') {
        return Err(
            "a wildcard is only allowed as the whole last path segment (spiffe://td/ns/gw/sa/*)"
                .into(),
        );
    }
    if spiffe {
        check_spiffe(authority, path)?;
    }
    let mut segments: Vec<&str> = path.split('/').skip(1).collect();
    if path.is_empty() {
        segments.clear();
    }
    if segments.iter().any(|s| s.is_empty()) {
        return Err("the path has an empty segment (`//` or a trailing `/`)".into());
    }
    match segments.iter().position(|s| s.contains('*')) {
        None => Ok(Matcher::Exact(text.to_string())),
        Some(i) if i + 1 == segments.len() && segments[i] == "*" => {
            let prefix = &text[..text.len() - 1];
            Ok(Matcher::OneSegment(prefix.to_string()))
        }
        Some(_) => Err(
            "a wildcard is only allowed as the whole last path segment (spiffe://td/ns/gw/sa/*)"
                .into(),
        ),
    }
}

/// The identity a client pins for a plugin server (`server_name`): a DNS name or IP address,
/// verified by webpki exactly like a URL host (certificate wildcards included), or a URI SAN
/// (`spiffe://...`), compared exactly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerPin {
    /// A DNS name or IP address.
    Name(rustls_pki_types::ServerName<'static>),
    /// A URI SAN.
    Uri(String),
}

impl ServerPin {
    /// Parses a pin; the error says what is wrong (the caller names the setting).
    pub fn parse(text: &str) -> Result<Self, String> {
        let t = text.trim();
        if t.is_empty() {
            return Err("it is empty".into());
        }
        if t.contains("://") {
            return match uri_matcher(t)? {
                Matcher::Exact(u) => Ok(ServerPin::Uri(u)),
                _ => Err("a pinned identity is exact: no wildcard".into()),
            };
        }
        let bare = t.trim_start_matches('[').trim_end_matches(']');
        rustls_pki_types::ServerName::try_from(bare.to_string())
            .map(ServerPin::Name)
            .map_err(|_| {
                "it is neither a DNS name, an IP address nor a URI (spiffe://...); wildcards are not allowed".into()
            })
    }
}

/// SPIFFE ID rules (trust domain `[a-z0-9._-]`, path segments without `.`/`..`, no query or
/// fragment), so a typo is caught now rather than refusing every caller later.
fn check_spiffe(trust_domain: &str, path: &str) -> Result<(), String> {
    if !trust_domain
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '-' | '_'))
    {
        return Err(format!(
            "the SPIFFE trust domain {trust_domain:?} may only hold lower-case letters, digits, '.', '-' and '_' (no port, no user)"
        ));
    }
    if path.contains(['?', '#']) {
        return Err("a SPIFFE ID has no query or fragment".into());
    }
    if path.split('/').any(|s| s == "." || s == "..") {
        return Err("a SPIFFE ID path has no `.` or `..` segments".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(dns: &[&str], uris: &[&str], cns: &[&str]) -> PresentedIdentities {
        let v = |l: &[&str]| l.iter().map(|s| s.to_string()).collect();
        PresentedIdentities {
            dns: v(dns),
            uris: v(uris),
            common_names: v(cns),
        }
    }

    #[test]
    fn wildcards_match_one_label_or_segment() {
        let p = IdentityPattern::parse("*.example.com").unwrap();
        assert!(p.matches(&ids(&["A.example.com"], &[], &[])));
        assert!(!p.matches(&ids(&["a.b.example.com"], &[], &[])));
        assert!(!p.matches(&ids(&["example.com"], &[], &[])));
        let p = IdentityPattern::parse("spiffe://td/ns/gw/sa/*").unwrap();
        assert!(p.matches(&ids(&[], &["spiffe://td/ns/gw/sa/gateway"], &[])));
        assert!(!p.matches(&ids(&[], &["spiffe://td/ns/gw/sa/a/b"], &[])));
        assert!(!p.matches(&ids(&[], &["spiffe://td/ns/gw/sa/"], &[])));
        assert!(!p.matches(&ids(&["spiffe://td/ns/gw/sa/x"], &[], &[])));
    }

    #[test]
    fn kinds_restrict_what_is_compared() {
        let cn = IdentityPattern::parse("CN:My Gateway").unwrap();
        assert!(cn.matches(&ids(&[], &[], &["my gateway"])));
        assert!(!cn.matches(&ids(&["my gateway"], &[], &[])));
        let dns = IdentityPattern::parse("DNS:gw.local").unwrap();
        assert!(!dns.matches(&ids(&[], &[], &["gw.local"])));
        let name = IdentityPattern::parse("gw.local").unwrap();
        assert!(name.matches(&ids(&[], &[], &["gw.local"])));
        assert!(name.matches(&ids(&["GW.local"], &[], &[])));
    }

    #[test]
    fn malformed_entries_say_why() {
        for (bad, why) in [
            ("", "empty"),
            ("spiffe://", "trust domain"),
            ("spiffe:///ns/x", "trust domain"),
            ("spiffe://td/ns//x", "empty segment"),
            ("spiffe://td/ns/x/", "empty segment"),
            ("spiffe://td/*/x", "last path segment"),
            ("spiffe://td/ns/x*", "last path segment"),
            ("spiffe://*.td/x", "last path segment"),
            ("spiffe://TD/x", "trust domain"),
            ("a.*.com", "first label"),
            ("*", "lone"),
            ("DNS:", "nothing follows"),
            ("DNS:my gateway", "not a DNS name"),
            ("URI:gateway", "scheme://"),
        ] {
            let err = IdentityPattern::parse(bad).unwrap_err();
            assert!(err.contains(why), "{bad:?}: {err}");
        }
    }
}
