//! The addresses the listeners of one `plugwire serve` process will take ([`Claim`]), and the
//! check phase's last step over all of them ([`check_listeners`]): two listeners on one address
//! are refused naming both settings, before anything is bound (see the module doc of `serve`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use plugwire_env::Origin;

use crate::error::ServerError;

/// Where a setting came from, for a message that must let the user find it: a built-in default
/// names the variable that would change it.
pub fn named(origin: Option<&Origin>, var: &str) -> String {
    match origin {
        None | Some(Origin::Default) => format!("the built-in default of {var}"),
        Some(o) => o.to_string(),
    }
}

/// An address a listener binds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListenAddr {
    /// A TCP address (port 0: any free port, which never clashes).
    Tcp(SocketAddr),
    /// A Unix socket path, its directory resolved (so `/run/a/../p.sock` is `/run/p.sock`).
    Unix(PathBuf),
}

impl ListenAddr {
    /// Whether binding both would fail: the same socket path, or the same TCP port of one
    /// address family where the addresses are equal or either is unspecified (`0.0.0.0` or
    /// `::`, which takes the port on every address of its family).
    pub fn clashes(&self, other: &ListenAddr) -> bool {
        match (self, other) {
            (ListenAddr::Tcp(a), ListenAddr::Tcp(b)) => {
                a.port() != 0
                    && a.port() == b.port()
                    && a.is_ipv4() == b.is_ipv4()
                    && (a.ip() == b.ip() || a.ip().is_unspecified() || b.ip().is_unspecified())
            }
            (ListenAddr::Unix(a), ListenAddr::Unix(b)) => a == b,
            _ => false,
        }
    }
}

impl std::fmt::Display for ListenAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ListenAddr::Tcp(a) => write!(f, "{a}"),
            ListenAddr::Unix(p) => write!(f, "the Unix socket {}", p.display()),
        }
    }
}

/// One address a listener of this process will bind, with what the listener is and the
/// settings that chose the address.
#[derive(Debug, Clone)]
pub struct Claim {
    /// E.g. "the gRPC port".
    pub what: &'static str,
    /// The address.
    pub addr: ListenAddr,
    /// The settings, as errors name them: "environment variable PLUGINS_GRPC_SERVER_UDS".
    pub origin: String,
}

impl Claim {
    /// A TCP address.
    pub fn tcp(what: &'static str, addr: SocketAddr, origin: String) -> Claim {
        Claim {
            what,
            addr: ListenAddr::Tcp(addr),
            origin,
        }
    }

    /// A Unix socket path (absolute, its directory existing, as the settings checks leave it).
    pub fn unix(what: &'static str, path: &Path, origin: String) -> Claim {
        let dir = path.parent().and_then(|d| std::fs::canonicalize(d).ok());
        let path = match (dir, path.file_name()) {
            (Some(dir), Some(name)) => dir.join(name),
            _ => path.to_path_buf(),
        };
        Claim {
            what,
            addr: ListenAddr::Unix(path),
            origin,
        }
    }
}

/// The check phase's last step, over every listener of the process, before any is bound: two
/// listeners on one address are an error naming both settings, and each Unix socket path must
/// be free or a stale socket (a live socket or another kind of file is an error naming its
/// setting). Binding can still fail on what only a bind finds out: a port another process
/// holds, a directory the process may not write to.
pub fn check_listeners(claims: &[Claim]) -> Result<(), ServerError> {
    for (i, later) in claims.iter().enumerate() {
        if let Some(first) = claims[..i].iter().find(|c| c.addr.clashes(&later.addr)) {
            let addr = if first.addr == later.addr {
                first.addr.to_string()
            } else {
                format!(
                    "{} and {}, the same port (an unspecified address takes it on every address)",
                    first.addr, later.addr
                )
            };
            return Err(ServerError::AddressClash {
                addr,
                first: format!("{} ({})", first.what, first.origin),
                second: format!("{} ({})", later.what, later.origin),
            });
        }
    }
    for c in claims {
        if let ListenAddr::Unix(path) = &c.addr {
            crate::raw_socket::check_unix_socket_path(path, &c.origin)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tcp(a: &str) -> ListenAddr {
        ListenAddr::Tcp(a.parse().expect("a socket address"))
    }

    /// Same port and family: equal addresses clash, and an unspecified address clashes with any
    /// address; another port, another family or port 0 (any free port) never does.
    #[test]
    fn tcp_addresses_clash_on_the_same_port_and_family() {
        let clash = |a: &str, b: &str| tcp(a).clashes(&tcp(b)) && tcp(b).clashes(&tcp(a));
        assert!(clash("127.0.0.1:8000", "127.0.0.1:8000"));
        assert!(clash("0.0.0.0:8000", "127.0.0.1:8000"));
        assert!(clash("0.0.0.0:8000", "10.1.2.3:8000"));
        assert!(clash("[::]:8000", "[::1]:8000"));
        assert!(!clash("127.0.0.1:8000", "127.0.0.2:8000"));
        assert!(!clash("127.0.0.1:8000", "127.0.0.1:8001"));
        assert!(!clash("0.0.0.0:8000", "[::1]:8000"));
        assert!(!clash("127.0.0.1:0", "127.0.0.1:0"));
        assert!(!clash("0.0.0.0:0", "127.0.0.1:0"));
    }

    /// Socket paths are compared with their directory resolved: `dir/x/../a.sock` is
    /// `dir/a.sock`; a TCP address never clashes with a path.
    #[test]
    fn socket_paths_clash_with_their_directory_resolved() {
        let dir = tempfile::tempdir().expect("a temp dir");
        std::fs::create_dir(dir.path().join("x")).expect("a sub dir");
        let a = Claim::unix("a", &dir.path().join("a.sock"), String::new());
        let b = Claim::unix("b", &dir.path().join("x/../a.sock"), String::new());
        let c = Claim::unix("c", &dir.path().join("x/a.sock"), String::new());
        assert!(a.addr.clashes(&b.addr));
        assert!(!a.addr.clashes(&c.addr));
        assert!(!a.addr.clashes(&tcp("127.0.0.1:8000")));
    }

    /// The clash error names both listeners with their settings and the address; a path that is
    /// a directory is refused before binding, naming its setting.
    #[test]
    fn check_listeners_names_both_settings() {
        let claims = [
            Claim::tcp(
                "the MCP port",
                "127.0.0.1:8000".parse().expect("addr"),
                "A".into(),
            ),
            Claim::tcp(
                "the gRPC port",
                "0.0.0.0:8000".parse().expect("addr"),
                "B".into(),
            ),
        ];
        let err = check_listeners(&claims).expect_err("a clash").to_string();
        assert!(
            err.contains("the MCP port (A) and the gRPC port (B)")
                && err.contains("127.0.0.1:8000 and 0.0.0.0:8000"),
            "{err}"
        );
        let dir = tempfile::tempdir().expect("a temp dir");
        let claims = [Claim::unix("the raw socket", dir.path(), "C".into())];
        let err = check_listeners(&claims)
            .expect_err("a directory")
            .to_string();
        assert!(err.contains("(C) exists and is not a Unix socket"), "{err}");
    }
}
