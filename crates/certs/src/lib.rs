//! plugwire-certs: the certificate authority behind `plugwire certs` and `make certs-mcp-*`.
//!
//! It creates the tree the ContextForge Makefile creates (`ca/`, `gateway/`, `plugins/<name>/`)
//! with correct X.509 v3 profiles: a CA with keyCertSign/cRLSign, a gateway certificate with
//! clientAuth, plugin certificates with serverAuth and the SANs `<name>`, `mcp-plugin-<name>`,
//! `localhost` (plus extras). Keys are PKCS#8 PEM (0600), certificates PEM (0644), serials are
//! 16 random bytes, and every identity is written atomically. Nothing existing is overwritten
//! unless `force` is set.
//!
//! # For other crates' tests
//!
//! ```no_run
//! use plugwire_certs::{issue_all, Layout, Options};
//! # fn main() -> Result<(), plugwire_certs::CertsError> {
//! let dir = std::path::Path::new("/tmp/some-tempdir");
//! // CA + gateway + two plugins, ECDSA P-256 (instant), with an IP SAN on the plugin certs.
//! issue_all(dir, &["alpha", "beta"], &Options::ecdsa().with_sans(&["IP:127.0.0.1"]))?;
//! let layout = Layout::new(dir);
//! let ca = layout.ca_cert();                   // trust anchor for both sides
//! let gateway = layout.gateway();              // .cert, .key, .bundle (client.pem)
//! let alpha = layout.plugin("alpha");          // .cert, .key, .ca_copy
//! # let _ = (ca, gateway, alpha); Ok(()) }
//! ```
//!
//! For expired or not-yet-valid material set [`Options::not_before`] (and `days`). For full
//! control use [`issue`] with a [`Request`] and a [`Progress`] callback.
//!
//! # Layout
//!
//! - `issue`: what exists, what to create, signing, never-overwrite rules.
//! - `request`: [`Request`], [`Options`], [`Outcome`], [`Summary`], progress [`Event`]s.
//! - `keygen`: parallel key generation with progress.
//! - `profile`: key types, subjects and the extensions of the CA, gateway and plugin profiles.
//! - `layout`: file names and directories of the tree.
//! - `names`: plugin-name validation and `--san` parsing.
//! - `config`: the `kind: external` plugin names of a plugins YAML (`all`).
//! - `check`: expiry, issuer and key checks with exit codes 0/1/2.
//! - `cert_manager`: cert-manager Issuers and Certificates for the same plugin list (Kubernetes).
//! - `k8s_check`: `check` for mounted Kubernetes Secrets (`tls.crt`, `tls.key`, `ca.crt`).
//! - `fsio`: all-or-nothing writes (temp file + rename) with exact modes.
//! - `inspect`: reading certificates and keys back.
//! - `error`: [`CertsError`].

#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod cert_manager;
mod check;
mod config;
mod error;
mod fsio;
mod inspect;
mod issue;
mod k8s_check;
mod keygen;
mod layout;
mod names;
mod profile;
mod request;

pub use cert_manager::{
    cert_manager_resources, cert_manager_yaml, CertManagerError, CertManagerOptions,
};
pub use check::{check, CertReport, CheckOptions, CheckReport, Status, DEFAULT_WARN_DAYS};
pub use config::{external_plugin_names, plugin_names, ConfigSource, PluginList, DEFAULT_CONFIG};
pub use error::{CertsError, Result};
pub use fsio::{CERT_MODE, KEY_MODE};
pub use issue::{issue, issue_all};
pub use k8s_check::{check_k8s, K8S_CA, K8S_CERT, K8S_KEY};
pub use layout::{Identity, IdentityPaths, Layout, DEFAULT_DIR};
pub use names::{plugin_sans, validate_plugin_name, San, EXAMPLE_PLUGINS};
pub use profile::{KeyType, CA_SUBJECT, DEFAULT_DAYS, GATEWAY_SUBJECT, MAX_DAYS, PLUGIN_O_OU};
pub use request::{Event, Options, Outcome, Progress, Request, Summary};
