#![doc = include_str!("../README.md")]
#![warn(missing_docs)]
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
mod leftovers;
mod names;
mod profile;
mod request;
mod revoke;

pub use cert_manager::{
    cert_manager_resources, cert_manager_yaml, CertManagerError, CertManagerOptions,
};
pub use check::{
    check, CertReport, CheckOptions, CheckReport, LeftoverFile, Status, DEFAULT_WARN_DAYS,
};
pub use config::{external_plugin_names, plugin_names, ConfigSource, PluginList, DEFAULT_CONFIG};
pub use error::{CertsError, Result};
pub use fsio::{interrupt, Undone, CERT_MODE, KEY_MODE};
pub use issue::{issue, issue_all};
pub use k8s_check::{check_k8s, K8S_CA, K8S_CERT, K8S_KEY};
pub use layout::{Identity, IdentityPaths, Layout, DEFAULT_DIR};
pub use names::{plugin_sans, validate_plugin_name, San, EXAMPLE_PLUGINS};
pub use profile::{KeyType, CA_SUBJECT, DEFAULT_DAYS, GATEWAY_SUBJECT, MAX_DAYS, PLUGIN_O_OU};
pub use request::{Event, Expiry, Options, Outcome, Progress, Request, Summary};
pub use revoke::{revoke, Revocation, DEFAULT_CRL_DAYS};
