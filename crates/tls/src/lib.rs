#![doc = include_str!("../README.md")]
#![warn(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod certinfo;
pub mod client_config;
pub mod client_loaded;
pub mod client_settings;
pub mod crl;
pub mod env;
pub mod error;
pub mod identity;
mod layered;
pub mod loaded;
pub mod pem;
pub mod reload;
pub mod server_config;
pub mod server_tls;
pub mod validity;
pub mod watch;

pub use certinfo::CertInfo;
pub use client_config::{
    build_client_config, build_client_config_from, explain_client_handshake_error, names_presented,
    rustls_error_in, san_for_host, server_name, SYSTEM_CA_BUNDLE,
};
pub use client_loaded::{ClientTlsFiles, LoadedClientTls};
pub use client_settings::{
    resolve_client_tls, resolve_client_tls_for, resolve_client_tls_named, resolve_grpc_client_tls,
    ClientTlsLayer, ClientTlsNames, ClientTlsOrigins, ClientTlsSettings, GRPC_CLIENT_TLS,
    MCP_CLIENT_TLS,
};
pub use env::{vars, Env, ProcessEnv};
pub use error::{Origin, Setting, TlsError};
pub use identity::{AllowList, IdentityPattern, PresentedIdentities};
pub use loaded::{ClientAuth, ClientRoots, LoadedServerTls, ServerTlsFiles};
pub use plugwire_env::{Key, Sourced};
pub use reload::{ReloadableServerConfig, StagedTls};
pub use server_config::{
    build_server_config, describe_certificate_error, describe_server_handshake_error,
    load_server_config, provider, CertRefusal,
};
pub use server_tls::{
    resolve_server_tls, ClientCertPolicy, PolicySpelling, ServerTlsLayer, ServerTlsNames,
    ServerTlsOrigins, ServerTlsSettings, GRPC_SERVER_TLS, MCP_SERVER_TLS,
};
pub use validity::{certificate_status, check_certificate, status_of, CertificateStatus};
pub use watch::{log_reload, DirWatch, ReloadOutcome, ReloadTrigger};

/// Re-exported so dependents use the same rustls as the configs built here.
pub use rustls;
