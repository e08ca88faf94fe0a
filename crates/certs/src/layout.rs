//! Where each file lives: exactly the tree the ContextForge Makefile creates (plus
//! `gateway/client.pem`), so existing configs and compose files keep working.

use std::fmt;
use std::path::{Path, PathBuf};

/// The default certificate directory, relative to the working directory.
pub const DEFAULT_DIR: &str = "certs/mcp";

/// One certificate owner in the tree.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Identity {
    /// `ca/ca.key`, `ca/ca.crt`.
    Ca,
    /// `gateway/client.key`, `client.crt`, `ca.crt`, `client.pem`.
    Gateway,
    /// `plugins/<name>/server.key`, `server.crt`, `ca.crt`.
    Plugin(String),
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Identity::Ca => f.write_str("CA"),
            Identity::Gateway => f.write_str("gateway client certificate"),
            Identity::Plugin(name) => write!(f, "plugin '{name}' certificate"),
        }
    }
}

/// Paths of one identity's files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityPaths {
    /// The directory holding the files.
    pub dir: PathBuf,
    /// The private key (PKCS#8 PEM, 0600).
    pub key: PathBuf,
    /// The certificate (PEM, 0644).
    pub cert: PathBuf,
    /// The copy of `ca/ca.crt` beside a leaf (None for the CA itself).
    pub ca_copy: Option<PathBuf>,
    /// `gateway/client.pem`, certificate followed by key (0600), for curl and `certfile`-only configs.
    pub bundle: Option<PathBuf>,
}

/// The certificate tree rooted at one directory (default `certs/mcp`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    root: PathBuf,
}

impl Layout {
    /// A layout rooted at `root`; nothing is touched on disk.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `<root>/ca`.
    pub fn ca_dir(&self) -> PathBuf {
        self.root.join("ca")
    }

    /// `<root>/ca/ca.crt`: the trust anchor both sides load.
    pub fn ca_cert(&self) -> PathBuf {
        self.ca_dir().join("ca.crt")
    }

    /// `<root>/ca/ca.key`.
    pub fn ca_key(&self) -> PathBuf {
        self.ca_dir().join("ca.key")
    }

    /// `<root>/ca/ca.crl`: the CA's revocation list (`plugwire certs revoke`), for `ca_crl`.
    pub fn ca_crl(&self) -> PathBuf {
        self.ca_dir().join("ca.crl")
    }

    /// `<root>/plugins`.
    pub fn plugins_dir(&self) -> PathBuf {
        self.root.join("plugins")
    }

    /// The files of one identity.
    pub fn paths(&self, identity: &Identity) -> IdentityPaths {
        match identity {
            Identity::Ca => IdentityPaths {
                dir: self.ca_dir(),
                key: self.ca_key(),
                cert: self.ca_cert(),
                ca_copy: None,
                bundle: None,
            },
            Identity::Gateway => {
                let dir = self.root.join("gateway");
                IdentityPaths {
                    key: dir.join("client.key"),
                    cert: dir.join("client.crt"),
                    ca_copy: Some(dir.join("ca.crt")),
                    bundle: Some(dir.join("client.pem")),
                    dir,
                }
            }
            Identity::Plugin(name) => {
                let dir = self.plugins_dir().join(name);
                IdentityPaths {
                    key: dir.join("server.key"),
                    cert: dir.join("server.crt"),
                    ca_copy: Some(dir.join("ca.crt")),
                    bundle: None,
                    dir,
                }
            }
        }
    }

    /// Shorthand for the gateway's files.
    pub fn gateway(&self) -> IdentityPaths {
        self.paths(&Identity::Gateway)
    }

    /// Shorthand for one plugin's files.
    pub fn plugin(&self, name: &str) -> IdentityPaths {
        self.paths(&Identity::Plugin(name.to_string()))
    }
}

/// The command that regenerates an identity, for "already exists" messages.
pub(crate) fn regenerate_hint(identity: &Identity, root: &Path) -> String {
    let dir = if root == Path::new(DEFAULT_DIR) {
        String::new()
    } else {
        format!(" --dir {}", root.display())
    };
    match identity {
        Identity::Ca => format!("plugwire certs ca --force{dir} (then re-issue the leaves: plugwire certs all --force{dir})"),
        Identity::Gateway => format!("plugwire certs gateway --force{dir}"),
        Identity::Plugin(name) => format!("plugwire certs plugin {name} --force{dir}"),
    }
}

impl Layout {
    /// Names of the plugin directories under `plugins/`, sorted (what `check` lists).
    pub fn existing_plugins(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.plugins_dir())
            .map(|entries| {
                entries
                    .filter_map(|e| e.ok())
                    .filter(|e| e.file_type().map(|t| t.is_dir()).unwrap_or(false))
                    .filter_map(|e| e.file_name().to_str().map(str::to_string))
                    .filter(|n| !n.starts_with('.'))
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }

    /// The gateway and plugin identities whose certificate exists on disk.
    pub fn existing_leaves(&self) -> Vec<Identity> {
        let mut leaves = Vec::new();
        if self.gateway().cert.exists() {
            leaves.push(Identity::Gateway);
        }
        for name in self.existing_plugins() {
            let identity = Identity::Plugin(name);
            if self.paths(&identity).cert.exists() {
                leaves.push(identity);
            }
        }
        leaves
    }
}
