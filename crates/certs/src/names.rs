//! Plugin names and extra subject alternative names: validated before anything is written,
//! because a name becomes a directory, a certificate subject and a DNS SAN.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use crate::error::{CertsError, Result};

/// The two plugins created when the default config file does not exist (as the seed guide says).
pub const EXAMPLE_PLUGINS: [&str; 2] = ["example-plugin-a", "example-plugin-b"];

/// Longest accepted plugin name: `mcp-plugin-<name>` must stay a valid 63-octet DNS label.
pub const MAX_PLUGIN_NAME_LEN: usize = 52;

/// Checks a plugin name: `[A-Za-z0-9_.-]+`, not starting with `.`, every dot-separated part
/// non-empty and not starting or ending with `-`, short enough that `mcp-plugin-<name>` is a
/// valid DNS label (docs/decisions.md #8): the name and `mcp-plugin-<name>` become DNS SANs, and
/// the same rule as `--san DNS:` applies to them. `_` and upper case are accepted (`my_plugin`,
/// `DenyListPlugin`), as the `--san DNS:` check accepts them.
pub fn validate_plugin_name(name: &str) -> Result<()> {
    let invalid = |reason| {
        Err(CertsError::InvalidPluginName {
            name: name.to_string(),
            reason,
        })
    };
    if name.is_empty() {
        return invalid("the name is empty");
    }
    if name.starts_with('.') {
        return invalid("it starts with '.'");
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')))
    {
        return Err(CertsError::InvalidPluginName {
            name: name.to_string(),
            reason: match bad {
                ' ' => "it contains a space",
                '/' | '\\' => "it contains a path separator",
                '$' => "it contains '$'",
                _ => "it contains a character other than letters, digits, '_', '-' and '.'",
            },
        });
    }
    if name.len() > MAX_PLUGIN_NAME_LEN {
        return invalid(
            "it is longer than 52 characters (mcp-plugin-<name> must fit a 63-character DNS label)",
        );
    }
    if name.ends_with('.') {
        return invalid("it ends with '.', which leaves an empty DNS label in DNS:<name>");
    }
    if name.contains("..") {
        return invalid("it contains '..', an empty DNS label in DNS:<name>");
    }
    if name.split('.').any(|label| label.starts_with('-')) {
        return invalid("a dot-separated part starts with '-', which a DNS label must not");
    }
    if name.split('.').any(|label| label.ends_with('-')) {
        return invalid("a dot-separated part ends with '-', which a DNS label must not");
    }
    Ok(())
}

/// One extra subject alternative name for plugin certificates (`--san`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum San {
    /// `DNS:<name>`; matched case-insensitively by TLS clients.
    Dns(String),
    /// `IP:<address>`, so that `check_hostname: true` works with an IP URL.
    Ip(IpAddr),
    /// `URI:<scheme://authority/path>`, e.g. a SPIFFE ID that a server's `allowed_clients` or a
    /// client's `server_name` names.
    Uri(String),
}

impl fmt::Display for San {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            San::Dns(name) => write!(f, "DNS:{name}"),
            San::Ip(ip) => write!(f, "IP:{ip}"),
            San::Uri(uri) => write!(f, "URI:{uri}"),
        }
    }
}

impl FromStr for San {
    type Err = CertsError;

    /// Accepts `DNS:name`, `IP:address`, `URI:scheme://...` (prefix in any case), or a bare
    /// value: a URI if it holds `://`, an address if it parses as one, a DNS name otherwise.
    fn from_str(value: &str) -> Result<Self> {
        let invalid = |reason: String| CertsError::InvalidSan {
            value: value.to_string(),
            reason,
        };
        let trimmed = value.trim();
        let (kind, rest) = match trimmed.split_once(':') {
            Some((k, r)) if k.eq_ignore_ascii_case("dns") => ("dns", r),
            Some((k, r)) if k.eq_ignore_ascii_case("ip") => ("ip", r),
            Some((k, r)) if k.eq_ignore_ascii_case("uri") => ("uri", r),
            _ if trimmed.contains("://") => ("uri", trimmed),
            _ => ("auto", trimmed),
        };
        match kind {
            "ip" => rest
                .trim()
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<IpAddr>()
                .map(San::Ip)
                .map_err(|_| invalid(format!("{rest:?} is not an IPv4 or IPv6 address"))),
            "uri" => validate_uri(rest.trim())
                .map(|()| San::Uri(rest.trim().to_string()))
                .map_err(invalid),
            "dns" => validate_dns_name(rest.trim())
                .map(|()| San::Dns(rest.trim().to_string()))
                .map_err(invalid),
            _ => {
                if let Ok(ip) = rest.parse::<IpAddr>() {
                    return Ok(San::Ip(ip));
                }
                validate_dns_name(rest)
                    .map(|()| San::Dns(rest.to_string()))
                    .map_err(invalid)
            }
        }
    }
}

/// A URI SAN: `scheme://authority[/path]` with a non-empty authority (a SPIFFE ID's trust
/// domain), printable ASCII without spaces, and no empty path segment.
fn validate_uri(uri: &str) -> std::result::Result<(), String> {
    let Some((scheme, rest)) = uri.split_once("://") else {
        return Err(
            "a URI SAN needs scheme://authority, e.g. spiffe://cluster.local/ns/mcp/sa/gateway"
                .into(),
        );
    };
    if scheme.is_empty()
        || !scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
    {
        return Err(format!("{scheme:?} is not a URI scheme"));
    }
    if let Some(c) = uri.chars().find(|c| !c.is_ascii_graphic()) {
        return Err(format!("it contains {c:?}"));
    }
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    if authority.is_empty() {
        return Err("it has no authority (for a SPIFFE ID: the trust domain)".into());
    }
    if !path.is_empty() && path.split('/').any(str::is_empty) || rest.ends_with('/') {
        return Err("its path has an empty segment (`//` or a trailing `/`)".into());
    }
    Ok(())
}

/// A DNS SAN: dot-separated labels of letters, digits, '-' and '_', none starting or ending with
/// '-', an optional leading `*.` wildcard, at most 253 characters.
fn validate_dns_name(name: &str) -> std::result::Result<(), String> {
    if name.is_empty() {
        return Err("the name is empty".into());
    }
    if name.len() > 253 {
        return Err("the name is longer than 253 characters".into());
    }
    let body = name.strip_prefix("*.").unwrap_or(name);
    for label in body.split('.') {
        if label.is_empty() {
            return Err(
                "it has an empty label (two dots in a row, or a leading/trailing dot)".into(),
            );
        }
        if label.len() > 63 {
            return Err(format!("label {label:?} is longer than 63 characters"));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(format!(
                "label {label:?} starts or ends with '-', which a DNS label must not"
            ));
        }
        if let Some(c) = label
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_')))
        {
            return Err(format!("it contains {c:?}"));
        }
    }
    Ok(())
}

/// The SANs every plugin certificate carries, in this order, then the extras (duplicates dropped,
/// compared case-insensitively as TLS clients do).
pub fn plugin_sans(name: &str, extra: &[San]) -> Vec<San> {
    let mut sans = vec![
        San::Dns(name.to_string()),
        San::Dns(format!("mcp-plugin-{name}")),
        San::Dns("localhost".to_string()),
    ];
    for san in extra {
        let duplicate = sans.iter().any(|have| match (have, san) {
            (San::Dns(a), San::Dns(b)) => a.eq_ignore_ascii_case(b),
            (a, b) => a == b,
        });
        if !duplicate {
            sans.push(san.clone());
        }
    }
    sans
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_names_users_have() {
        for name in [
            "DenyListPlugin",
            "example-plugin-a",
            "my_plugin.v2",
            "a",
            "x-1",
            "my_plugin",
            "_private",
            "a_",
            "v1.2-beta",
        ] {
            validate_plugin_name(name).unwrap();
        }
    }

    #[test]
    fn refuses_unsafe_names() {
        for name in [
            "",
            ".hidden",
            "..",
            "a b",
            "a/b",
            "../x",
            "$HOME",
            "a%b",
            "ä",
            &"x".repeat(53),
            "a..b",
            "x.",
            "-x",
            "x-",
            "a.-b",
            "a-.b",
        ] {
            let err = validate_plugin_name(name).unwrap_err();
            assert!(
                err.to_string().contains("invalid plugin name"),
                "{name}: {err}"
            );
        }
    }

    #[test]
    fn parses_sans() {
        assert_eq!(
            "DNS:a.example".parse::<San>().unwrap(),
            San::Dns("a.example".into())
        );
        assert_eq!(
            "ip:127.0.0.1".parse::<San>().unwrap(),
            San::Ip([127, 0, 0, 1].into())
        );
        assert_eq!(
            "IP:[::1]".parse::<San>().unwrap(),
            San::Ip("::1".parse().unwrap())
        );
        assert_eq!(
            "10.0.0.1".parse::<San>().unwrap(),
            San::Ip([10, 0, 0, 1].into())
        );
        assert_eq!(
            "svc.ns.svc".parse::<San>().unwrap(),
            San::Dns("svc.ns.svc".into())
        );
        assert!("IP:localhost".parse::<San>().is_err());
        assert!("DNS:a..b".parse::<San>().is_err());
        assert!("DNS:a b".parse::<San>().is_err());
        assert!("DNS:".parse::<San>().is_err());
        for bad in ["DNS:-bad", "DNS:bad-", "DNS:a.-b.c", "DNS:*.-x", "-bad"] {
            let err = bad.parse::<San>().unwrap_err().to_string();
            assert!(err.contains("starts or ends with '-'"), "{bad}: {err}");
        }
        assert_eq!(
            "DNS:my_svc.x-1.example".parse::<San>().unwrap(),
            San::Dns("my_svc.x-1.example".into())
        );
        let spiffe = "spiffe://cluster.local/ns/mcp/sa/gateway";
        assert_eq!(
            format!("URI:{spiffe}").parse::<San>().unwrap(),
            San::Uri(spiffe.into())
        );
        assert_eq!(spiffe.parse::<San>().unwrap(), San::Uri(spiffe.into()));
        for bad in [
            "URI:spiffe://",
            "URI:gateway",
            "URI:spiffe://td/a//b",
            "URI:spiffe://td/a b",
        ] {
            assert!(bad.parse::<San>().is_err(), "{bad}");
        }
    }

    #[test]
    fn plugin_sans_start_with_the_three_defaults_and_drop_duplicates() {
        let extra = [
            "DNS:LOCALHOST".parse().unwrap(),
            "IP:127.0.0.1".parse().unwrap(),
        ];
        let sans = plugin_sans("p", &extra);
        let text: Vec<String> = sans.iter().map(ToString::to_string).collect();
        assert_eq!(
            text,
            ["DNS:p", "DNS:mcp-plugin-p", "DNS:localhost", "IP:127.0.0.1"]
        );
    }
}
