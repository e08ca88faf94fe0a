//! Host (and Origin) header policy against DNS rebinding, as FastMCP applies it
//! (docs/decisions.md #10).
//!
//! Bound to a loopback address or a Unix socket, a browser tricked into calling
//! `http://evil.example` that resolves to 127.0.0.1 must not reach the plugins: only loopback
//! Host names (plus a configured list) pass. Bound to any other address the server is meant
//! to be reached by names we cannot know (Kubernetes Service names), so every Host passes
//! unless an allow-list is configured. A refused Host gets HTTP 421, as FastMCP answers.

/// The names a loopback-bound server always accepts (any port).
pub const LOOPBACK_HOSTS: [&str; 3] = ["localhost", "127.0.0.1", "[::1]"];

/// Which `Host` values reach `/mcp`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostPolicy {
    /// Anything (non-loopback bind without an allow-list).
    Any,
    /// Loopback names plus these entries.
    Loopback(Vec<String>),
    /// Only these entries (non-loopback bind with an allow-list).
    List(Vec<String>),
}

impl HostPolicy {
    /// The policy for a listener: `loopback_bind` is true for loopback addresses and Unix
    /// sockets; `allowed` is the configured list (`PLUGINS_SERVER_ALLOWED_HOSTS`).
    /// Entries are `name` (any port), `name:*` (any port) or `name:port`.
    pub fn new(loopback_bind: bool, allowed: &[String]) -> Self {
        let allowed: Vec<String> = allowed
            .iter()
            .map(|s| s.trim().to_ascii_lowercase())
            .filter(|s| !s.is_empty())
            .collect();
        if loopback_bind {
            HostPolicy::Loopback(allowed)
        } else if allowed.is_empty() {
            HostPolicy::Any
        } else {
            HostPolicy::List(allowed)
        }
    }

    /// Whether a request with this `Host` header may proceed. A missing Host passes only
    /// under [`HostPolicy::Any`] (FastMCP refuses it when protection is on).
    pub fn allows_host(&self, host: Option<&str>) -> bool {
        match self {
            HostPolicy::Any => true,
            HostPolicy::Loopback(list) => host.is_some_and(|h| {
                let (name, _) = split_host_port(h);
                LOOPBACK_HOSTS.iter().any(|l| name.eq_ignore_ascii_case(l)) || matches(list, h)
            }),
            HostPolicy::List(list) => host.is_some_and(|h| matches(list, h)),
        }
    }

    /// Whether a request with this `Origin` header may proceed. No Origin (every non-browser
    /// client) always passes; a browser Origin must name an allowed host.
    pub fn allows_origin(&self, origin: Option<&str>) -> bool {
        match (self, origin) {
            (HostPolicy::Any, _) | (_, None) => true,
            (_, Some(o)) => {
                let authority = o.split_once("://").map_or(o, |(_, rest)| rest);
                let authority = authority.split('/').next().unwrap_or("");
                self.allows_host(Some(authority))
            }
        }
    }
}

/// Why `entry` of the allow-list could never match a `Host` header, or `None` when it can (an
/// empty entry is ignored). An entry is `name`, `name:port` or `name:*`; the name is a DNS name,
/// an IPv4 address or a bracketed IPv6 address. Refused, because [`HostPolicy`] would compare
/// them literally and refuse every request: a scheme (`http://gw`), a path, user or query, a
/// wildcard in the name (`*`, `*.example.com`: not supported), an IPv6 address without
/// brackets, and a port that is not a number from 1 to 65535 or `*`.
pub fn allowed_host_problem(entry: &str) -> Option<String> {
    let e = entry.trim();
    if e.is_empty() {
        return None;
    }
    if let Some((scheme, rest)) = e.split_once("://") {
        let name = rest.split('/').next().unwrap_or(rest);
        return Some(format!(
            "a Host header has no scheme: give the name alone, e.g. {name:?}, not {scheme}://"
        ));
    }
    if let Some(c) = e
        .chars()
        .find(|c| matches!(c, '/' | '?' | '#' | '@') || c.is_whitespace())
    {
        return Some(format!(
            "a Host header is a name and an optional port only ({c:?} is not part of one): \
             give `name`, `name:port` or `name:*`"
        ));
    }
    let (name, port) = split_host_port(e);
    if let Some(inner) = name.strip_prefix('[') {
        let ok = inner
            .strip_suffix(']')
            .is_some_and(|a| a.parse::<std::net::Ipv6Addr>().is_ok());
        if !ok {
            return Some("not an IPv6 address in brackets, e.g. [::1] or [::1]:8000".into());
        }
    } else if name.contains('*') {
        return Some(
            "wildcards are not supported in a name: list each name (a name without a port \
             accepts any port; `name:*` says so explicitly)"
                .into(),
        );
    } else if name.contains(':') {
        return Some("write an IPv6 address in brackets, e.g. [::1] or [::1]:8000".into());
    } else if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
    {
        return Some(
            "expected a host name or address (letters, digits, '-', '.', '_'), optionally \
             with :port or :*"
                .into(),
        );
    }
    match port {
        None | Some("*") => None,
        Some(p) if p.parse::<u16>().is_ok_and(|n| n != 0) => None,
        Some(p) => Some(format!(
            "the port {p:?} is not a number from 1 to 65535 (or * for any port)"
        )),
    }
}

/// Splits `name[:port]`, keeping IPv6 brackets: `[::1]:80` → (`[::1]`, Some(`80`)).
fn split_host_port(h: &str) -> (&str, Option<&str>) {
    let h = h.trim();
    if h.starts_with('[') {
        match h.find(']') {
            Some(end) => {
                let (name, rest) = h.split_at(end + 1);
                (name, rest.strip_prefix(':'))
            }
            None => (h, None),
        }
    } else {
        match h.rsplit_once(':') {
            Some((name, port)) => (name, Some(port)),
            None => (h, None),
        }
    }
}

fn matches(list: &[String], host: &str) -> bool {
    let (name, port) = split_host_port(host);
    list.iter().any(|entry| {
        let (ename, eport) = split_host_port(entry);
        if !ename.eq_ignore_ascii_case(name) {
            return false;
        }
        match eport {
            None | Some("*") => true,
            Some(p) => port == Some(p),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn loopback_bind_accepts_loopback_names_only() {
        let p = HostPolicy::new(true, &[]);
        for ok in [
            "localhost:8000",
            "LOCALHOST",
            "127.0.0.1:1",
            "[::1]:443",
            "[::1]",
        ] {
            assert!(p.allows_host(Some(ok)), "{ok}");
        }
        for bad in [
            "plugin-server:18100",
            "evil.example",
            "127.0.0.2:80",
            "localhost.evil:80",
        ] {
            assert!(!p.allows_host(Some(bad)), "{bad}");
        }
        assert!(!p.allows_host(None));
    }

    #[test]
    fn configured_names_extend_loopback() {
        let p = HostPolicy::new(true, &list(&["plugin-server", "api:8443", "x:*"]));
        assert!(p.allows_host(Some("plugin-server:18100")));
        assert!(p.allows_host(Some("api:8443")));
        assert!(!p.allows_host(Some("api:8444")));
        assert!(p.allows_host(Some("x:1")));
        assert!(p.allows_host(Some("localhost:1")));
    }

    #[test]
    fn non_loopback_bind_accepts_anything_without_a_list() {
        let p = HostPolicy::new(false, &[]);
        assert_eq!(p, HostPolicy::Any);
        assert!(p.allows_host(Some("mcp-plugin-a.ns.svc:8000")));
        assert!(p.allows_host(None));
        let p = HostPolicy::new(false, &list(&["svc.ns"]));
        assert!(p.allows_host(Some("svc.ns:8000")));
        assert!(!p.allows_host(Some("localhost:8000")));
    }

    #[test]
    fn allow_list_entries_that_can_never_match_are_named() {
        for ok in [
            "gw",
            "GW.example:8443",
            "x:*",
            "10.0.0.1",
            "[::1]",
            "[::1]:80",
            "svc_a.ns",
            " ",
        ] {
            assert_eq!(allowed_host_problem(ok), None, "{ok}");
        }
        for (bad, says) in [
            ("http://gw.example", "no scheme"),
            ("*", "wildcards"),
            ("*.example.com", "wildcards"),
            ("gw:abc", "\"abc\""),
            ("gw:0", "\"0\""),
            ("gw:70000", "\"70000\""),
            ("gw/mcp", "'/'"),
            ("::1", "brackets"),
            ("[::1", "brackets"),
            (":8000", "host name"),
        ] {
            let problem = allowed_host_problem(bad).unwrap_or_default();
            assert!(problem.contains(says), "{bad}: {problem}");
        }
    }

    #[test]
    fn origin_checked_like_host() {
        let p = HostPolicy::new(true, &[]);
        assert!(p.allows_origin(None));
        assert!(p.allows_origin(Some("http://localhost:3000")));
        assert!(p.allows_origin(Some("http://[::1]:3000/")));
        assert!(!p.allows_origin(Some("https://evil.example")));
        assert!(HostPolicy::Any.allows_origin(Some("https://evil.example")));
    }
}
