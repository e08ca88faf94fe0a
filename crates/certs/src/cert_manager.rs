//! `plugwire certs cert-manager`: the cert-manager resources for the same plugin list that
//! `plugwire certs all` reads, so local certificates and Kubernetes certificates come from one
//! file.
//!
//! The chain is the one cert-manager documents for a private CA: a self-signed bootstrap
//! `Issuer` signs a CA `Certificate`, a CA `Issuer` on that CA's Secret signs the gateway's
//! client certificate and one server certificate per `kind: external` plugin. Every leaf Secret
//! then carries `tls.crt`, `tls.key` and `ca.crt` (the CA issuer fills `ca.crt`), so no pod
//! ever mounts the CA's private key.
//!
//! Leaves are short-lived (90 days) and renewed 30 days before expiry with a fresh key
//! (`rotationPolicy: Always`); `plugwire serve` picks the renewed Secret up without a restart.
//! The CA keeps its key on renewal (`rotationPolicy: Never`): a renewed CA certificate with the
//! same subject and key still verifies every leaf issued before, so a CA renewal never breaks
//! trust between a gateway and a plugin whose Secrets were written at different times.

use std::collections::BTreeSet;

use serde_json::{json, Value};

use crate::names::validate_plugin_name;
use crate::profile::{KeyType, CA_SUBJECT, GATEWAY_SUBJECT, PLUGIN_O_OU};

/// Default name of the CA `Issuer` that signs the gateway and plugin certificates.
pub const DEFAULT_ISSUER: &str = "plugwire-ca-issuer";
/// Name of the self-signed bootstrap `Issuer`.
pub const BOOTSTRAP_ISSUER: &str = "plugwire-selfsigned";
/// Name of the CA `Certificate` and of its Secret.
pub const CA_CERTIFICATE: &str = "plugwire-ca";
/// Name of the gateway's client `Certificate`.
pub const GATEWAY_CERTIFICATE: &str = "mcp-gateway-client";
/// Default lifetime of leaf certificates in days (short-lived: renewal is automatic).
pub const DEFAULT_LEAF_DAYS: u32 = 90;
/// Default renewal window of leaf certificates in days (renewal starts this long before expiry).
pub const DEFAULT_RENEW_DAYS: u32 = 30;
/// Lifetime of the CA in days (10 years); it is renewed one year before expiry with its key.
pub const CA_DAYS: u32 = 3650;
const CA_RENEW_DAYS: u32 = 365;

/// What went wrong; every message names the option at fault.
#[derive(Debug, thiserror::Error)]
pub enum CertManagerError {
    /// A Kubernetes object name or namespace that the API server would refuse.
    #[error("{option} {value:?} is not a valid Kubernetes name: {reason}")]
    InvalidName {
        /// The option at fault.
        option: &'static str,
        /// Its value.
        value: String,
        /// Why the API server would refuse it.
        reason: &'static str,
    },
    /// A plugin name that cannot become a certificate (see `plugwire certs plugin`).
    #[error("plugin {name:?}: {source}")]
    Plugin {
        /// The plugin.
        name: String,
        /// Why its name cannot be used.
        source: Box<crate::error::CertsError>,
    },
    /// Lifetime and renewal window that cert-manager would refuse or never renew.
    #[error("--renew-days {renew} must be at least 1 and smaller than --days {days}")]
    Window {
        /// `--days`.
        days: u32,
        /// `--renew-days`.
        renew: u32,
    },
    /// A gateway URI SAN without a scheme.
    #[error("--gateway-uri {0:?} is not a URI: expected scheme:rest, e.g. spiffe://cluster.local/ns/mcp/sa/gateway")]
    InvalidUri(String),
    /// Serialising to YAML failed (not expected).
    #[error("cannot write YAML: {0}")]
    Yaml(String),
}

/// How to generate the resources.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertManagerOptions {
    /// `metadata.namespace` of every resource and the namespace of the Service DNS names.
    pub namespace: Option<String>,
    /// Name of the CA `Issuer` that signs the leaves.
    pub issuer: String,
    /// Key algorithm of every key (RSA 4096 or ECDSA P-256, as `plugwire certs` offers).
    pub key_type: KeyType,
    /// Optional URI SAN of the gateway certificate (an identity policy can match it).
    pub gateway_uri: Option<String>,
    /// Lifetime of leaf certificates in days.
    pub days: u32,
    /// Renewal window of leaf certificates in days.
    pub renew_days: u32,
}

impl Default for CertManagerOptions {
    fn default() -> Self {
        Self {
            namespace: None,
            issuer: DEFAULT_ISSUER.to_string(),
            key_type: KeyType::Rsa4096,
            gateway_uri: None,
            days: DEFAULT_LEAF_DAYS,
            renew_days: DEFAULT_RENEW_DAYS,
        }
    }
}

/// The Kubernetes Service name of a plugin: `mcp-plugin-<name>` lower-cased with `_` and `.`
/// turned into `-`, because Service names must be RFC 1035 labels while plugin names may use
/// upper case, `_` and `.`.
pub fn plugin_service_name(name: &str) -> Result<String, CertManagerError> {
    validate_plugin_name(name).map_err(|e| CertManagerError::Plugin {
        name: name.to_string(),
        source: Box::new(e),
    })?;
    let label: String = format!("mcp-plugin-{name}")
        .chars()
        .map(|c| match c {
            '_' | '.' => '-',
            c => c.to_ascii_lowercase(),
        })
        .collect();
    let label = label.trim_end_matches('-').to_string();
    check_label("plugin service name", &label)?;
    Ok(label)
}

/// The Secret the cert-manager `Certificate` of a plugin writes.
pub fn plugin_secret_name(name: &str) -> Result<String, CertManagerError> {
    Ok(format!("{}-tls", plugin_service_name(name)?))
}

/// The Secret holding the gateway's client certificate.
pub fn gateway_secret_name() -> String {
    format!("{GATEWAY_CERTIFICATE}-tls")
}

/// RFC 1035 label: what Kubernetes accepts for Service names and namespaces.
fn check_label(option: &'static str, value: &str) -> Result<(), CertManagerError> {
    let invalid = |reason| {
        Err(CertManagerError::InvalidName {
            option,
            value: value.to_string(),
            reason,
        })
    };
    if value.is_empty() || value.len() > 63 {
        return invalid("it must be 1 to 63 characters long");
    }
    if !value
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        return invalid("use lower-case letters, digits and '-'");
    }
    if !value.starts_with(|c: char| c.is_ascii_lowercase()) || value.ends_with('-') {
        return invalid("it must start with a letter and end with a letter or digit");
    }
    Ok(())
}

/// Every resource as one multi-document YAML stream: bootstrap Issuer, CA Certificate, CA
/// Issuer, gateway Certificate, then one Certificate per plugin in the given order.
pub fn cert_manager_yaml(
    plugins: &[String],
    options: &CertManagerOptions,
) -> Result<String, CertManagerError> {
    let resources = cert_manager_resources(plugins, options)?;
    let mut out = String::from(
        "# Generated by `plugwire certs cert-manager` from the plugins config: do not edit by hand.\n",
    );
    for resource in &resources {
        out.push_str("---\n");
        let text =
            yaml_serde::to_string(resource).map_err(|e| CertManagerError::Yaml(e.to_string()))?;
        out.push_str(&text);
    }
    Ok(out)
}

/// The resources as JSON values (for callers that render them differently).
pub fn cert_manager_resources(
    plugins: &[String],
    options: &CertManagerOptions,
) -> Result<Vec<Value>, CertManagerError> {
    if let Some(ns) = &options.namespace {
        check_label("--namespace", ns)?;
    }
    check_subdomain("--issuer", &options.issuer)?;
    if options.renew_days == 0 || options.renew_days >= options.days {
        return Err(CertManagerError::Window {
            days: options.days,
            renew: options.renew_days,
        });
    }
    if let Some(uri) = &options.gateway_uri {
        let valid_scheme = uri.split_once(':').is_some_and(|(scheme, rest)| {
            !rest.is_empty()
                && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        });
        if !valid_scheme || uri.contains(char::is_whitespace) {
            return Err(CertManagerError::InvalidUri(uri.clone()));
        }
    }
    let g = Generator { options };
    let mut resources = vec![
        g.issuer(BOOTSTRAP_ISSUER, json!({ "selfSigned": {} })),
        g.ca_certificate(),
        g.issuer(
            &options.issuer,
            json!({ "ca": { "secretName": CA_CERTIFICATE } }),
        ),
        g.gateway_certificate(),
    ];
    for name in plugins {
        resources.push(g.plugin_certificate(name)?);
    }
    Ok(resources)
}

/// RFC 1123 subdomain: what Kubernetes accepts for most object names (Issuer names).
fn check_subdomain(option: &'static str, value: &str) -> Result<(), CertManagerError> {
    if value.len() > 253 {
        return Err(CertManagerError::InvalidName {
            option,
            value: value.to_string(),
            reason: "it is longer than 253 characters",
        });
    }
    for part in value.split('.') {
        let ok = !part.is_empty()
            && part.len() <= 63
            && part
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && !part.starts_with('-')
            && !part.ends_with('-');
        if !ok {
            return Err(CertManagerError::InvalidName {
                option,
                value: value.to_string(),
                reason: "use lower-case letters, digits, '-' and '.', starting and ending with a letter or digit",
            });
        }
    }
    Ok(())
}

struct Generator<'a> {
    options: &'a CertManagerOptions,
}

impl Generator<'_> {
    fn metadata(&self, name: &str, component: &str) -> Value {
        let mut meta = serde_json::Map::new();
        meta.insert("name".into(), json!(name));
        if let Some(ns) = &self.options.namespace {
            meta.insert("namespace".into(), json!(ns));
        }
        meta.insert(
            "labels".into(),
            json!({
                "app.kubernetes.io/part-of": "plugwire",
                "app.kubernetes.io/component": component,
                "app.kubernetes.io/managed-by": "plugwire-certs",
            }),
        );
        Value::Object(meta)
    }

    fn issuer(&self, name: &str, spec: Value) -> Value {
        json!({
            "apiVersion": "cert-manager.io/v1",
            "kind": "Issuer",
            "metadata": self.metadata(name, "issuer"),
            "spec": spec,
        })
    }

    /// `privateKey` in PKCS#8 (what `plugwire certs` writes; cert-manager defaults to PKCS#1).
    fn private_key(&self, rotation: &str) -> Value {
        let (algorithm, size) = match self.options.key_type {
            KeyType::Rsa4096 => ("RSA", 4096),
            KeyType::EcdsaP256 => ("ECDSA", 256),
        };
        json!({
            "algorithm": algorithm,
            "size": size,
            "encoding": "PKCS8",
            "rotationPolicy": rotation,
        })
    }

    fn ca_certificate(&self) -> Value {
        let [cn, o, ou] = CA_SUBJECT;
        json!({
            "apiVersion": "cert-manager.io/v1",
            "kind": "Certificate",
            "metadata": self.metadata(CA_CERTIFICATE, "ca"),
            "spec": {
                "isCA": true,
                "commonName": cn,
                "subject": { "organizations": [o], "organizationalUnits": [ou] },
                "secretName": CA_CERTIFICATE,
                "duration": hours(CA_DAYS),
                "renewBefore": hours(CA_RENEW_DAYS),
                "privateKey": self.private_key("Never"),
                "usages": ["cert sign", "crl sign", "digital signature"],
                "issuerRef": { "name": BOOTSTRAP_ISSUER, "kind": "Issuer", "group": "cert-manager.io" },
            },
        })
    }

    fn leaf_spec(&self, cn: &str, o: &str, ou: &str, secret: &str, usage: &str) -> Value {
        json!({
            "commonName": cn,
            "subject": { "organizations": [o], "organizationalUnits": [ou] },
            "secretName": secret,
            "duration": hours(self.options.days),
            "renewBefore": hours(self.options.renew_days),
            "privateKey": self.private_key("Always"),
            "usages": [usage, "digital signature"],
            "issuerRef": { "name": self.options.issuer, "kind": "Issuer", "group": "cert-manager.io" },
        })
    }

    fn gateway_certificate(&self) -> Value {
        let [cn, o, ou] = GATEWAY_SUBJECT;
        let mut spec = self.leaf_spec(cn, o, ou, &gateway_secret_name(), "client auth");
        if let (Some(uri), Some(map)) = (&self.options.gateway_uri, spec.as_object_mut()) {
            map.insert("uris".into(), json!([uri]));
        }
        json!({
            "apiVersion": "cert-manager.io/v1",
            "kind": "Certificate",
            "metadata": self.metadata(GATEWAY_CERTIFICATE, "gateway"),
            "spec": spec,
        })
    }

    fn plugin_certificate(&self, name: &str) -> Result<Value, CertManagerError> {
        let service = plugin_service_name(name)?;
        let [o, ou] = PLUGIN_O_OU;
        let cn = format!("mcp-plugin-{name}");
        let mut spec = self.leaf_spec(&cn, o, ou, &format!("{service}-tls"), "server auth");
        if let Some(map) = spec.as_object_mut() {
            map.insert(
                "dnsNames".into(),
                json!(self.plugin_dns_names(name, &service)),
            );
        }
        let mut meta = self.metadata(&service, "plugin");
        if let Some(labels) = meta.get_mut("labels").and_then(Value::as_object_mut) {
            labels.insert("plugwire.dev/plugin-service".into(), json!(service));
        }
        if let Some(map) = meta.as_object_mut() {
            // The exact plugin name (it may not be a valid label value).
            map.insert(
                "annotations".into(),
                json!({ "plugwire.dev/plugin-name": name }),
            );
        }
        Ok(json!({
            "apiVersion": "cert-manager.io/v1",
            "kind": "Certificate",
            "metadata": meta,
            "spec": spec,
        }))
    }

    /// The names `plugwire certs plugin` puts in a certificate (`<name>`, `mcp-plugin-<name>`,
    /// `localhost`) plus the Service's in-cluster names, so `check_hostname` works whichever
    /// URL the gateway uses. Duplicates (ignoring case, as TLS does) are dropped.
    fn plugin_dns_names(&self, name: &str, service: &str) -> Vec<String> {
        let mut names = vec![
            name.to_string(),
            format!("mcp-plugin-{name}"),
            "localhost".to_string(),
            service.to_string(),
        ];
        if let Some(ns) = &self.options.namespace {
            names.push(format!("{service}.{ns}"));
            names.push(format!("{service}.{ns}.svc"));
            names.push(format!("{service}.{ns}.svc.cluster.local"));
        }
        let mut seen = BTreeSet::new();
        names.retain(|n| seen.insert(n.to_ascii_lowercase()));
        names
    }
}

/// cert-manager durations are Go durations; hours are the largest unit it accepts.
fn hours(days: u32) -> String {
    format!("{}h", u64::from(days) * 24)
}

#[cfg(test)]
#[path = "cert_manager_tests.rs"]
mod tests;
