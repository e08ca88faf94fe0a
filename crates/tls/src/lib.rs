//! plugwire-tls: TLS settings and rustls configs for both sides of the external-plugin link.
//!
//! The server (`plugwire serve`) and the gateway-side client resolve their settings here, with
//! environment variables overriding the YAML field by field (spec decision 1; the Python code
//! does the opposite), then build rustls configs on aws-lc-rs with TLS 1.2/1.3 only. Everything a
//! user can get wrong fails at start-up with a [`TlsError`] naming the YAML key or variable.
//!
//! # Layout
//! - [`env`](mod@env): the [`Env`] trait (process env or a `HashMap`), [`vars`] names, bool parsing.
//! - [`error`]: [`TlsError`] and [`Origin`] (YAML key / env var / default a value came from).
//! - [`server_settings`]: `server_settings` + `PLUGINS_SERVER_*` → [`ServerSettings`].
//! - [`client_settings`]: `mcp.tls` + `PLUGINS_CLIENT_MTLS_*` → [`ClientTlsSettings`].
//! - [`pem`]: certificates and keys in every form (PKCS#8, encrypted PKCS#8, PKCS#1, SEC1,
//!   key inside the certificate file), key/certificate match.
//! - [`certinfo`]: subject, issuer, version, EKUs of a peer certificate, for messages.
//! - [`server_config`]: [`build_server_config`] with the `ssl_cert_reqs` policy and the
//!   v3 / clientAuth checks; [`describe_server_handshake_error`].
//! - [`client_config`]: [`build_client_config`] (CA bundle trust, `verify`, `check_hostname`,
//!   client certificate); [`explain_client_handshake_error`].
//! - [`reload`]: [`ReloadableServerConfig`], certificate hot reload.

#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod certinfo;
pub mod client_config;
pub mod client_settings;
pub mod env;
pub mod error;
pub mod pem;
pub mod reload;
pub mod server_config;
pub mod server_settings;

pub use certinfo::CertInfo;
pub use client_config::{
    build_client_config, explain_client_handshake_error, rustls_error_in, server_name,
    SYSTEM_CA_BUNDLE,
};
pub use client_settings::{
    resolve_client_tls, resolve_client_tls_named, ClientTlsLayer, ClientTlsOrigins,
    ClientTlsSettings,
};
pub use env::{vars, Env, ProcessEnv};
pub use error::{Origin, Setting, TlsError};
pub use reload::ReloadableServerConfig;
pub use server_config::{
    build_server_config, describe_certificate_error, describe_server_handshake_error, provider,
    CertRefusal,
};
pub use server_settings::{
    resolve_server_settings, ClientCertPolicy, ServerSettings, ServerSettingsLayer, ServerTlsLayer,
    ServerTlsOrigins, ServerTlsSettings, DEFAULT_HOST, DEFAULT_PORT,
};

/// Re-exported so dependents use the same rustls as the configs built here.
pub use rustls;
