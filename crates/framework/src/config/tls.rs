//! The four TLS blocks: `server_settings.tls`, `grpc_server_settings.tls`, `mcp.tls` and
//! `grpc.tls`. The keys they all have (the files and the key password) are described once, in
//! [`TlsFiles`]; each block adds its own keys in a small struct of its own (`*TlsKeys`), and
//! [`TlsConfig`] joins the two into one YAML mapping.
//!
//! Why not `#[serde(flatten)]` on the way in: serde buffers a flattened mapping and decodes it
//! afterwards, out of sight of the path tracking, so `mcp.tls.certfile: 5` would be reported at
//! `mcp.tls`. [`TlsConfig`]'s own `Deserialize` reads the shared keys as it meets them and hands
//! the rest to the block's derived struct, so every error keeps its full key.

use std::marker::PhantomData;

use serde::de::{DeserializeSeed, IntoDeserializer, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::serde_util::lax;

/// The keys every TLS block has.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct TlsFiles {
    /// Certificate (chain) file.
    pub certfile: Option<String>,
    /// Private key file.
    pub keyfile: Option<String>,
    /// CA bundle the peer's certificate must chain to.
    pub ca_bundle: Option<String>,
    /// Password of an encrypted PKCS#8 key.
    pub keyfile_password: Option<String>,
    /// CRL file (PEM or DER) checked for the peer's certificate (plugwire only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca_crl: Option<String>,
}

impl TlsFiles {
    /// The shared keys, as [`TlsFiles::slot`] reads them.
    pub(crate) const KEYS: [&'static str; 5] = [
        "certfile",
        "keyfile",
        "ca_bundle",
        "keyfile_password",
        "ca_crl",
    ];

    /// The field a shared key is read into; `None` for a key of the block's own.
    fn slot(&mut self, key: &str) -> Option<&mut Option<String>> {
        Some(match key {
            "certfile" => &mut self.certfile,
            "keyfile" => &mut self.keyfile,
            "ca_bundle" => &mut self.ca_bundle,
            "keyfile_password" => &mut self.keyfile_password,
            "ca_crl" => &mut self.ca_crl,
            _ => return None,
        })
    }
}

/// One TLS block: the shared keys plus the block's own (`K`), written as one YAML mapping.
/// Unknown keys are ignored, as pydantic ignores them (the loader logs them: decision 104).
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct TlsConfig<K> {
    /// The files and the key password.
    #[serde(flatten)]
    pub files: TlsFiles,
    /// The keys only this block has.
    #[serde(flatten)]
    pub own: K,
}

impl<'de, K: Deserialize<'de>> TlsConfig<K> {
    /// Every key the block reads: the shared ones and the block's own.
    pub(crate) fn keys() -> Vec<&'static str> {
        let mut keys = TlsFiles::KEYS.to_vec();
        keys.extend_from_slice(crate::serde_util::struct_fields::<K>());
        keys
    }
}

/// `mcp.tls`.
pub type MCPClientTLSConfig = TlsConfig<McpClientTlsKeys>;
/// `grpc.tls`.
pub type GrpcClientTLSConfig = TlsConfig<GrpcClientTlsKeys>;
/// `server_settings.tls`.
pub type MCPServerTLSConfig = TlsConfig<McpServerTlsKeys>;
/// `grpc_server_settings.tls`.
pub type GrpcServerTLSConfig = TlsConfig<GrpcServerTlsKeys>;

/// `mcp.tls`'s own keys. `verify`/`check_hostname` are `None` when the YAML does not set them, so
/// env variables can override field by field (docs/decisions.md #1); they serialize as their
/// default `true`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct McpClientTlsKeys {
    /// `false`: accept any server certificate (dangerous; for tests).
    #[serde(
        default,
        serialize_with = "ser_default_true",
        deserialize_with = "lax::opt_bool"
    )]
    pub verify: Option<bool>,
    /// `false`: verify the chain but not the host name.
    #[serde(
        default,
        serialize_with = "ser_default_true",
        deserialize_with = "lax::opt_bool"
    )]
    pub check_hostname: Option<bool>,
    /// Identity the plugin server's certificate must carry (DNS SAN, IP or URI SAN such as a
    /// SPIFFE ID), checked instead of the URL host (plugwire only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_name: Option<String>,
}

/// `grpc.tls`'s own keys: as `mcp.tls` without `check_hostname` (cpex's gRPC client has none).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct GrpcClientTlsKeys {
    /// `false`: accept any server certificate (dangerous; for tests).
    #[serde(
        default,
        serialize_with = "ser_default_true",
        deserialize_with = "lax::opt_bool"
    )]
    pub verify: Option<bool>,
    /// Identity the gRPC plugin server's certificate must carry (plugwire only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_name: Option<String>,
}

/// `server_settings.tls`'s own keys.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct McpServerTlsKeys {
    /// 0 = no client cert, 1 = optional, 2 = required (docs/decisions.md #3: an integer).
    #[serde(default, deserialize_with = "cert_reqs")]
    pub ssl_cert_reqs: Option<i64>,
    /// `true`: refuse an expired or not-yet-valid certificate instead of warning (plugwire only;
    /// `PLUGINS_SERVER_SSL_REQUIRE_VALID_CERT` overrides).
    #[serde(
        default,
        deserialize_with = "lax::opt_bool",
        skip_serializing_if = "Option::is_none"
    )]
    pub require_valid_certificate: Option<bool>,
    /// Client identities allowed to call: DNS names, `spiffe://` IDs, CNs, with `*.x` / `.../*`
    /// wildcards (plugwire only; `PLUGINS_SERVER_SSL_ALLOWED_CLIENTS` overrides).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_clients: Option<Vec<String>>,
}

/// `grpc_server_settings.tls`'s own keys. `client_auth` is `none`, `optional` or `require`
/// (case-insensitive, cpex's default `require`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct GrpcServerTlsKeys {
    /// Client certificate policy: `none`, `optional` or `require`.
    #[serde(default)]
    pub client_auth: Option<String>,
    /// Client identities allowed to call (plugwire only; see `server_settings.tls`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_clients: Option<Vec<String>>,
}

fn ser_default_true<S: Serializer>(v: &Option<bool>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_bool(v.unwrap_or(true))
}

/// `ssl_cert_reqs` is the integer uvicorn takes; Python users may write the `ssl.CERT_*` name.
fn cert_reqs<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    lax::opt_i64(d).map_err(|e| {
        serde::de::Error::custom(format!(
            "{e}; use 0 (no client certificate), 1 (optional) or 2 (required), not the Python CERT_* name"
        ))
    })
}

impl<'de, K: Deserialize<'de>> Deserialize<'de> for TlsConfig<K> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(BlockVisitor(PhantomData))
    }
}

struct BlockVisitor<K>(PhantomData<K>);

impl<'de, K: Deserialize<'de>> Visitor<'de> for BlockVisitor<K> {
    type Value = TlsConfig<K>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a mapping")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        let mut files = TlsFiles::default();
        let own = K::deserialize(OwnKeys {
            map,
            files: &mut files,
        })?;
        Ok(TlsConfig { files, own })
    }
}

/// The block's mapping as the block's own struct sees it: the shared keys are read into `files`
/// on the way past. Values are read from the original mapping, so their keys stay on the path.
struct OwnKeys<'f, A> {
    map: A,
    files: &'f mut TlsFiles,
}

impl<'de, A: MapAccess<'de>> Deserializer<'de> for OwnKeys<'_, A> {
    type Error = A::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, A::Error> {
        visitor.visit_map(self)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map struct enum
        identifier ignored_any
    }
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for OwnKeys<'_, A> {
    type Error = A::Error;

    fn next_key_seed<S: DeserializeSeed<'de>>(
        &mut self,
        seed: S,
    ) -> Result<Option<S::Value>, A::Error> {
        while let Some(key) = self.map.next_key::<String>()? {
            match self.files.slot(&key) {
                Some(slot) => *slot = self.map.next_value()?,
                None => return seed.deserialize(key.into_deserializer()).map(Some),
            }
        }
        Ok(None)
    }

    fn next_value_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<S::Value, A::Error> {
        self.map.next_value_seed(seed)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// `TlsFiles::KEYS` is the list `slot` reads and the struct serializes: a shared key added
    /// to one and not the others would be logged as unknown, or read and never listed.
    #[test]
    fn shared_keys_are_the_slots_and_the_fields() {
        let mut files = TlsFiles::default();
        for k in TlsFiles::KEYS {
            assert!(files.slot(k).is_some(), "{k} has no slot");
        }
        assert!(files.slot("client_auth").is_none());
        let all = TlsFiles {
            ca_crl: Some(String::new()),
            ..TlsFiles::default()
        };
        let v = serde_json::to_value(all).unwrap();
        let serialized: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        let mut listed = TlsFiles::KEYS.to_vec();
        listed.sort_unstable();
        let mut serialized = serialized;
        serialized.sort_unstable();
        assert_eq!(serialized, listed);
        assert_eq!(
            GrpcServerTLSConfig::keys(),
            [
                "certfile",
                "keyfile",
                "ca_bundle",
                "keyfile_password",
                "ca_crl",
                "client_auth",
                "allowed_clients"
            ]
        );
    }
}
