//! The vocabulary of a certificate run: what is asked for ([`Request`]), how new material is
//! made ([`Options`]), what happened ([`Outcome`], [`Summary`]) and the progress events a CLI
//! prints ([`Event`], [`Progress`]).

use std::path::Path;

use time::OffsetDateTime;

use crate::layout::{Identity, IdentityPaths, Layout};
use crate::names::San;
use crate::profile::{KeyType, DEFAULT_DAYS};

/// How new identities are made.
#[derive(Debug, Clone)]
pub struct Options {
    /// Key type of newly generated keys (default RSA-4096).
    pub key_type: KeyType,
    /// Validity in days (default 825, `MCP_CERT_DAYS`).
    pub days: u32,
    /// Extra SANs added to every plugin certificate issued by this call.
    pub extra_sans: Vec<San>,
    /// SANs of the gateway certificate issued by this call (none by default; `--uri-san`).
    pub gateway_sans: Vec<San>,
    /// Replace the requested identities even if they exist.
    pub force: bool,
    /// Start of the validity window (default: now). Tests use it to make expired or
    /// not-yet-valid material.
    pub not_before: Option<OffsetDateTime>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            key_type: KeyType::Rsa4096,
            days: DEFAULT_DAYS,
            extra_sans: Vec::new(),
            gateway_sans: Vec::new(),
            force: false,
            not_before: None,
        }
    }
}

impl Options {
    /// ECDSA P-256 keys: instant, for tests and demos.
    pub fn ecdsa() -> Self {
        Self {
            key_type: KeyType::EcdsaP256,
            ..Self::default()
        }
    }

    /// Adds extra plugin SANs (`"DNS:x"`, `"IP:127.0.0.1"`); panics on an invalid value, so
    /// use it with literals in tests.
    #[allow(clippy::expect_used)]
    pub fn with_sans(mut self, sans: &[&str]) -> Self {
        for san in sans {
            self.extra_sans
                .push(san.parse().expect("with_sans takes valid SAN literals"));
        }
        self
    }
}

/// Which identities a call asks for. The CA is always ensured (created when missing); it is
/// replaced under `force` only when it is itself requested.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Request {
    /// The CA itself is a target (`ca`, `all`).
    pub ca: bool,
    /// The gateway client identity.
    pub gateway: bool,
    /// Plugin server identities, in order.
    pub plugins: Vec<String>,
}

impl Request {
    /// `plugwire certs ca`.
    pub fn ca() -> Self {
        Self {
            ca: true,
            ..Self::default()
        }
    }

    /// `plugwire certs gateway`.
    pub fn gateway() -> Self {
        Self {
            gateway: true,
            ..Self::default()
        }
    }

    /// `plugwire certs plugin NAME`.
    pub fn plugin(name: impl Into<String>) -> Self {
        Self {
            plugins: vec![name.into()],
            ..Self::default()
        }
    }

    /// `plugwire certs all`: CA, gateway and these plugins.
    pub fn all<S: AsRef<str>>(plugins: &[S]) -> Self {
        Self {
            ca: true,
            gateway: true,
            plugins: plugins.iter().map(|p| p.as_ref().to_string()).collect(),
        }
    }
}

/// What happened to one identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// It did not exist and was created.
    Created,
    /// It existed and was replaced (`force`).
    Replaced,
    /// It existed and was left alone.
    Existing,
}

/// Progress and result notifications, for a CLI to print.
#[derive(Debug)]
#[non_exhaustive]
pub enum Event<'a> {
    /// The CA is missing and is created first although only leaves were asked for.
    CaMissing {
        /// Where the CA is created.
        ca_dir: &'a Path,
    },
    /// Key generation begins (`count` keys in parallel).
    KeygenStarted {
        /// How many keys.
        count: usize,
        /// Their algorithm.
        key_type: KeyType,
    },
    /// One key is ready.
    KeyReady {
        /// The identity.
        identity: &'a Identity,
        /// Keys ready so far.
        done: usize,
        /// Keys in all.
        total: usize,
    },
    /// An identity was written (created or replaced).
    Written {
        /// The identity.
        identity: &'a Identity,
        /// Its files.
        paths: &'a IdentityPaths,
        /// Created or replaced.
        outcome: Outcome,
    },
    /// An identity exists and was left alone.
    Exists {
        /// The identity.
        identity: &'a Identity,
        /// Its files.
        paths: &'a IdentityPaths,
        /// The command that would replace it.
        hint: &'a str,
        /// Set when its certificate has expired or expires within
        /// [`DEFAULT_WARN_DAYS`](crate::DEFAULT_WARN_DAYS): kept all the same, but it needs
        /// renewing (`--force`).
        expiry: Option<Expiry>,
    },
    /// A derived file of an existing identity was missing and was added (`ca.crt` copy,
    /// `client.pem`); nothing existing was changed.
    Completed {
        /// The file added.
        path: &'a Path,
    },
    /// Something the user should know that is not an error.
    Warning {
        /// What to tell the user.
        message: &'a str,
    },
}

/// The end of validity of an existing certificate that was kept although it has expired or
/// expires soon ([`Event::Exists`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expiry {
    /// Its notAfter.
    pub not_after: OffsetDateTime,
    /// Whole days from now until `not_after`; negative once it has expired.
    pub days_left: i64,
    /// It has expired.
    pub expired: bool,
}

impl Expiry {
    /// `Some` when `not_after` is past, or within `warn_days` of `now`.
    pub(crate) fn of(
        not_after: OffsetDateTime,
        now: OffsetDateTime,
        warn_days: u32,
    ) -> Option<Self> {
        let left = not_after - now;
        if left >= time::Duration::days(i64::from(warn_days)) {
            return None;
        }
        Some(Expiry {
            not_after,
            days_left: left.whole_days(),
            expired: not_after < now,
        })
    }
}

impl std::fmt::Display for Expiry {
    /// `expired on 2025-01-02 03:04:05 UTC (3 days ago)` or `expires on … (in 12 days)`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let when = crate::check::human(self.not_after);
        if self.expired {
            write!(f, "expired on {when} ({} days ago)", -self.days_left)
        } else {
            write!(f, "expires on {when} (in {} days)", self.days_left)
        }
    }
}

/// Receives [`Event`]s; called from key-generation threads, hence `Sync`.
pub trait Progress: Sync {
    /// One notification.
    fn event(&self, event: &Event<'_>);
}

/// No progress output.
impl Progress for () {
    fn event(&self, _event: &Event<'_>) {}
}

impl<F: Fn(&Event<'_>) + Sync> Progress for F {
    fn event(&self, event: &Event<'_>) {
        self(event)
    }
}

/// The result of one call.
#[derive(Debug, Clone)]
pub struct Summary {
    /// The tree the files are in.
    pub layout: Layout,
    /// Every identity touched or found, CA first, in request order.
    pub outcomes: Vec<(Identity, Outcome)>,
}

impl Summary {
    /// The outcome for one identity, if it was part of the call.
    pub fn outcome(&self, identity: &Identity) -> Option<Outcome> {
        self.outcomes
            .iter()
            .find(|(i, _)| i == identity)
            .map(|(_, o)| *o)
    }
}
