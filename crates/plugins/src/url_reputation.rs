//! `URLReputationPlugin` (Python `plugins.url_reputation.url_reputation`, later the
//! `cpex_url_reputation` package): an allow/deny filter on the URI of every resource fetch.
//!
//! Order of checks: `whitelist_domains` and `allowed_patterns` allow at once; then
//! `blocked_domains` (the host or any subdomain of it), `blocked_patterns` (substring of the URI, as
//! the Python plugin matches them), `block_non_secure_http` (plain `http://`), and with
//! `use_heuristic_check` a host whose name looks generated (Shannon entropy above
//! `entropy_threshold`) or mixes in non-ASCII characters (look-alike spoofing). Every block uses
//! code `URL_REPUTATION_BLOCK`.

use async_trait::async_trait;
use plugwire_framework::{
    JsonMap, Plugin, PluginConfig, PluginContext, PluginError, PluginResult, PluginViolation,
    ResourcePreFetchPayload,
};
use serde_json::Value;

use crate::settings::Settings;

/// Our short kind.
pub const KIND: &str = "url_reputation";
/// The in-tree Python kind path.
pub const PYTHON_KIND: &str = "plugins.url_reputation.url_reputation.URLReputationPlugin";
/// The external package's kind path (upstream `plugins/config.yaml` since 6f2).
pub const CPEX_KIND: &str = "cpex_url_reputation.URLReputationPlugin";
/// The violation code.
pub const CODE: &str = "URL_REPUTATION_BLOCK";

/// The parsed `config:` block.
#[derive(Debug, Clone)]
pub struct UrlSettings {
    /// Domains always allowed.
    pub whitelist_domains: Vec<String>,
    /// URL patterns always allowed.
    pub allowed_patterns: Vec<String>,
    /// Domains always blocked.
    pub blocked_domains: Vec<String>,
    /// URL patterns always blocked.
    pub blocked_patterns: Vec<String>,
    /// Block high-entropy or IP-only hosts.
    pub use_heuristic_check: bool,
    /// Host name entropy above which the heuristic blocks.
    pub entropy_threshold: f64,
    /// Block `http://` URLs.
    pub block_non_secure_http: bool,
}

/// Why a URL is refused.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Not refused.
    Allowed,
    /// The host is in `blocked_domains`.
    BlockedDomain(String),
    /// The URL matches a `blocked_patterns` entry.
    BlockedPattern(String),
    /// Plain `http://` with `block_non_secure_http`.
    Insecure,
    /// The heuristic check flagged the host.
    Suspicious {
        /// The host.
        host: String,
        /// What the heuristic found.
        why: String,
    },
}

fn normalize_domain(d: &str) -> String {
    d.trim()
        .trim_start_matches("*.")
        .trim_start_matches('.')
        .trim_end_matches('.')
        .to_ascii_lowercase()
}

/// `(scheme, host)` of a URL the way `urllib.parse` sees them: the host is lower-cased, without
/// user info, port, brackets or a trailing dot. `None` host for URIs without an authority.
pub fn scheme_and_host(uri: &str) -> (Option<String>, Option<String>) {
    let Some(colon) = uri.find(':') else {
        return (None, None);
    };
    let scheme = &uri[..colon];
    let valid_scheme = !scheme.is_empty()
        && scheme
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
    if !valid_scheme {
        return (None, None);
    }
    let scheme = Some(scheme.to_ascii_lowercase());
    let Some(rest) = uri[colon + 1..].strip_prefix("//") else {
        return (scheme, None);
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let hostport = authority.rsplit('@').next().unwrap_or("");
    let host = if let Some(v6) = hostport.strip_prefix('[') {
        v6.split(']').next().unwrap_or("")
    } else {
        hostport.split(':').next().unwrap_or("")
    };
    let host = host.trim_end_matches('.').to_lowercase();
    (scheme, (!host.is_empty()).then_some(host))
}

fn matches_domain(host: &str, domains: &[String]) -> bool {
    domains.iter().any(|d| {
        host == d
            || host
                .strip_suffix(d.as_str())
                .is_some_and(|p| p.ends_with('.'))
    })
}

/// Shannon entropy (bits per character) of the registrable part of a host name.
fn entropy(s: &str) -> f64 {
    let mut counts = std::collections::HashMap::new();
    let mut n = 0usize;
    for c in s.chars() {
        *counts.entry(c).or_insert(0usize) += 1;
        n += 1;
    }
    if n == 0 {
        return 0.0;
    }
    counts
        .values()
        .map(|&c| {
            let p = c as f64 / n as f64;
            -p * p.log2()
        })
        .sum()
}

impl UrlSettings {
    fn parse(config: &PluginConfig) -> Result<Self, PluginError> {
        let s = Settings::new(
            config,
            "URLReputationPlugin",
            &[
                "whitelist_domains",
                "allowed_patterns",
                "blocked_domains",
                "blocked_patterns",
                "use_heuristic_check",
                "entropy_threshold",
                "block_non_secure_http",
            ],
        );
        let domains = |k: &str| -> Result<Vec<String>, PluginError> {
            let list = s.string_list(k)?;
            list.iter()
                .enumerate()
                .map(|(i, d)| {
                    let n = normalize_domain(d);
                    if n.is_empty() || n.contains('/') {
                        Err(s.error(
                            &format!("{k}[{i}]"),
                            format!("{d:?} is not a domain name (write e.g. example.com)"),
                        ))
                    } else {
                        Ok(n)
                    }
                })
                .collect()
        };
        let patterns = |k: &str| -> Result<Vec<String>, PluginError> {
            let list = s.string_list(k)?;
            if let Some(i) = list.iter().position(String::is_empty) {
                return Err(s.error(
                    &format!("{k}[{i}]"),
                    "is empty, which would match every URL",
                ));
            }
            Ok(list)
        };
        let entropy_threshold = s.opt_float("entropy_threshold")?.unwrap_or(3.65);
        if !(entropy_threshold.is_finite() && entropy_threshold > 0.0) {
            return Err(s.error(
                "entropy_threshold",
                "must be a positive number (default 3.65)",
            ));
        }
        Ok(UrlSettings {
            whitelist_domains: domains("whitelist_domains")?,
            allowed_patterns: patterns("allowed_patterns")?,
            blocked_domains: domains("blocked_domains")?,
            blocked_patterns: patterns("blocked_patterns")?,
            use_heuristic_check: s.bool("use_heuristic_check", false)?,
            entropy_threshold,
            block_non_secure_http: s.bool("block_non_secure_http", true)?,
        })
    }

    /// Decide on one URI.
    pub fn check(&self, uri: &str) -> Verdict {
        let (scheme, host) = scheme_and_host(uri);
        if let Some(h) = &host {
            if matches_domain(h, &self.whitelist_domains) {
                return Verdict::Allowed;
            }
        }
        if self
            .allowed_patterns
            .iter()
            .any(|p| uri.contains(p.as_str()))
        {
            return Verdict::Allowed;
        }
        if let Some(h) = &host {
            if matches_domain(h, &self.blocked_domains) {
                return Verdict::BlockedDomain(h.clone());
            }
        }
        if let Some(p) = self
            .blocked_patterns
            .iter()
            .find(|p| uri.contains(p.as_str()))
        {
            return Verdict::BlockedPattern(p.clone());
        }
        if self.block_non_secure_http && scheme.as_deref() == Some("http") {
            return Verdict::Insecure;
        }
        if self.use_heuristic_check {
            if let Some(h) = &host {
                if !h.is_ascii() {
                    return Verdict::Suspicious {
                        host: h.clone(),
                        why: "contains non-ASCII characters (possible look-alike domain)".into(),
                    };
                }
                let labels: Vec<&str> = h.split('.').collect();
                let name = if labels.len() >= 2 {
                    labels[labels.len() - 2]
                } else {
                    h.as_str()
                };
                let e = entropy(name);
                if h.parse::<std::net::IpAddr>().is_err() && e > self.entropy_threshold {
                    return Verdict::Suspicious {
                        host: h.clone(),
                        why: format!(
                            "looks generated (entropy {e:.2} > {})",
                            self.entropy_threshold
                        ),
                    };
                }
            }
        }
        Verdict::Allowed
    }
}

/// The plugin.
#[derive(Debug)]
pub struct UrlReputationPlugin {
    config: PluginConfig,
    settings: UrlSettings,
}

impl UrlReputationPlugin {
    /// Builds the plugin from its entry; a bad `config:` is an error naming the key.
    pub fn new(config: PluginConfig) -> Result<Self, PluginError> {
        let settings = UrlSettings::parse(&config)?;
        Ok(UrlReputationPlugin { config, settings })
    }

    /// The parsed settings.
    pub fn settings(&self) -> &UrlSettings {
        &self.settings
    }
}

fn violation(reason: &str, description: String, key: &str, value: &str) -> PluginViolation {
    let mut details = JsonMap::new();
    details.insert(key.into(), Value::String(value.to_owned()));
    PluginViolation::new(reason, description, CODE).with_details(details)
}

#[async_trait]
impl Plugin for UrlReputationPlugin {
    fn config(&self) -> &PluginConfig {
        &self.config
    }

    async fn resource_pre_fetch(
        &self,
        payload: ResourcePreFetchPayload,
        _ctx: &mut PluginContext,
    ) -> Result<PluginResult, PluginError> {
        let v = match self.settings.check(&payload.uri) {
            Verdict::Allowed => return Ok(PluginResult::pass()),
            Verdict::BlockedDomain(host) => violation(
                "Blocked domain",
                format!("Domain {host} is blocked"),
                "domain",
                &host,
            ),
            Verdict::BlockedPattern(p) => violation(
                "Blocked pattern",
                format!("URL matches blocked pattern: {p}"),
                "pattern",
                &p,
            ),
            Verdict::Insecure => violation(
                "Insecure URL",
                "Non-HTTPS URLs are blocked (block_non_secure_http)".to_owned(),
                "scheme",
                "http",
            ),
            Verdict::Suspicious { host, why } => violation(
                "Suspicious domain",
                format!("Domain {host} {why}"),
                "domain",
                &host,
            ),
        };
        tracing::warn!(plugin = %self.config.name, "resource fetch blocked: {}", v.description);
        Ok(PluginResult::block(v))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_parsed_like_urllib() {
        assert_eq!(
            scheme_and_host("https://User:pw@Sub.Example.COM.:8443/a?b#c"),
            (Some("https".into()), Some("sub.example.com".into()))
        );
        assert_eq!(
            scheme_and_host("http://[::1]:80/"),
            (Some("http".into()), Some("::1".into()))
        );
        assert_eq!(
            scheme_and_host("file:///etc/passwd"),
            (Some("file".into()), None)
        );
        assert_eq!(scheme_and_host("no scheme here"), (None, None));
        assert_eq!(
            scheme_and_host("https://bücher.de/x"),
            (Some("https".into()), Some("bücher.de".into()))
        );
    }

    #[test]
    fn subdomains_match_but_lookalike_suffixes_do_not() {
        let d = vec!["evil.com".to_owned()];
        assert!(matches_domain("evil.com", &d));
        assert!(matches_domain("a.b.evil.com", &d));
        assert!(!matches_domain("notevil.com", &d));
    }

    #[test]
    fn entropy_separates_words_from_random_labels() {
        assert!(entropy("google") < 3.0);
        assert!(entropy("x7k2qz9v4mwp8r") > 3.65);
    }
}
