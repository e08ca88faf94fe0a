//! `initialize`: what the client offers and what the plugin server answers.
//!
//! The answer mirrors the Python 1.0.0 runtime (docs/decisions.md #22): the same server
//! name and instructions, and the same capability set. The Python client checks neither.

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::version::ProtocolVersion;

/// `serverInfo.name` of every ContextForge plugin server.
pub const SERVER_NAME: &str = "MCP Plugin Server";
/// `instructions` of the ContextForge 1.0.0 plugin server.
pub const SERVER_INSTRUCTIONS: &str = "External plugin server for ContextForge";

/// `clientInfo` / `serverInfo`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Implementation {
    /// Program name.
    pub name: String,
    /// Program version.
    pub version: String,
    /// Anything else (`title`, `icons`, ...), kept so nothing is lost on a round trip.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Implementation {
    /// A name and a version.
    pub fn new(name: impl Into<String>, version: impl Into<String>) -> Self {
        Implementation {
            name: name.into(),
            version: version.into(),
            extra: Map::new(),
        }
    }
}

/// `initialize` params. The version is a plain string: the server must see versions it does
/// not know to answer them with its newest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InitializeParams {
    /// The version the client wants.
    pub protocol_version: String,
    /// Client capabilities (we need none of them).
    #[serde(default)]
    pub capabilities: Value,
    /// Who is calling; optional here because some minimal clients leave it out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_info: Option<Implementation>,
}

impl InitializeParams {
    /// What a plugwire client sends.
    pub fn new(version: ProtocolVersion, client_name: &str, client_version: &str) -> Self {
        InitializeParams {
            protocol_version: version.as_str().to_string(),
            capabilities: json!({}),
            client_info: Some(Implementation::new(client_name, client_version)),
        }
    }
}

/// `initialize` result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InitializeResult {
    /// The negotiated version (a string so that a client can report one it does not know;
    /// empty when missing, so the client reports it as unsupported rather than unreadable).
    #[serde(default)]
    pub protocol_version: String,
    /// Server capabilities; kept as JSON so any server's answer decodes.
    #[serde(default)]
    pub capabilities: Value,
    /// Who answers (empty when a server leaves it out: the client needs only the version).
    #[serde(default)]
    pub server_info: Implementation,
    /// Free text for the client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instructions: Option<String>,
}

impl InitializeResult {
    /// The answer of a plugwire plugin server to a client that asked for `requested`.
    pub fn plugin_server(requested: &str, server_version: &str) -> Self {
        InitializeResult {
            protocol_version: ProtocolVersion::negotiate(requested).as_str().to_string(),
            capabilities: plugin_server_capabilities(),
            server_info: Implementation::new(SERVER_NAME, server_version),
            instructions: Some(SERVER_INSTRUCTIONS.to_string()),
        }
    }

    /// The negotiated version, if it is one we support.
    pub fn version(&self) -> Result<ProtocolVersion, crate::version::UnsupportedVersion> {
        self.protocol_version.parse()
    }
}

/// The capability set the Python 1.0.0 runtime advertises (prompts and resources are empty
/// lists there, as here).
pub fn plugin_server_capabilities() -> Value {
    json!({
        "experimental": {},
        "prompts": {"listChanged": false},
        "resources": {"subscribe": false, "listChanged": false},
        "tools": {"listChanged": false}
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answer_for_unknown_version_is_latest() {
        let r = InitializeResult::plugin_server("1999-01-01", "0.1.0");
        assert_eq!(r.protocol_version, "2025-11-25");
        let r = InitializeResult::plugin_server("2025-03-26", "0.1.0");
        assert_eq!(r.version().unwrap(), ProtocolVersion::V2025_03_26);
    }

    #[test]
    fn client_reads_a_sparse_answer_and_sends_the_python_shape() {
        let r: InitializeResult =
            serde_json::from_value(json!({"protocolVersion": "1999-01-01"})).unwrap();
        assert_eq!(r.protocol_version, "1999-01-01");
        assert!(r.version().is_err());
        assert_eq!(r.server_info.name, "");
        let p = InitializeParams::new(ProtocolVersion::LATEST, "plugwire", "1.2.3");
        assert_eq!(
            serde_json::to_string(&p).unwrap(),
            r#"{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"plugwire","version":"1.2.3"}}"#
        );
    }

    #[test]
    fn params_tolerate_missing_client_info_and_extra_keys() {
        let p: InitializeParams = serde_json::from_value(json!({
            "protocolVersion": "2025-06-18", "capabilities": {"roots": {}}, "future": 1
        }))
        .unwrap();
        assert!(p.client_info.is_none());
    }
}
