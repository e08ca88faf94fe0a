//! MCP protocol versions and their negotiation.
//!
//! The Python 1.0.0 client asks for 2025-11-25 and accepts any of the four versions below in
//! the answer (`docs/decisions.md` #18); the server echoes a supported request, else it
//! answers its newest version.

use std::fmt;
use std::str::FromStr;

/// The MCP protocol versions both sides speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ProtocolVersion {
    /// The first Streamable-HTTP-less revision (HTTP+SSE era); rmcp still offers it.
    V2024_11_05,
    /// Introduced Streamable HTTP.
    V2025_03_26,
    /// Removed JSON-RPC batching; added `structuredContent`/`outputSchema`.
    V2025_06_18,
    /// What the Python 1.0.0 client sends.
    V2025_11_25,
}

impl ProtocolVersion {
    /// Every supported version, oldest first.
    pub const ALL: [ProtocolVersion; 4] = [
        ProtocolVersion::V2024_11_05,
        ProtocolVersion::V2025_03_26,
        ProtocolVersion::V2025_06_18,
        ProtocolVersion::V2025_11_25,
    ];

    /// The newest supported version: the answer when a client asks for one we do not know.
    pub const LATEST: ProtocolVersion = ProtocolVersion::V2025_11_25;

    /// The version a Streamable HTTP server assumes when `mcp-protocol-version` is absent.
    pub const HTTP_DEFAULT: ProtocolVersion = ProtocolVersion::V2025_03_26;

    /// The wire string.
    pub fn as_str(self) -> &'static str {
        match self {
            ProtocolVersion::V2024_11_05 => "2024-11-05",
            ProtocolVersion::V2025_03_26 => "2025-03-26",
            ProtocolVersion::V2025_06_18 => "2025-06-18",
            ProtocolVersion::V2025_11_25 => "2025-11-25",
        }
    }

    /// `2024-11-05, 2025-03-26, 2025-06-18, 2025-11-25`, for error messages.
    pub fn supported_list() -> String {
        ProtocolVersion::ALL.map(ProtocolVersion::as_str).join(", ")
    }

    /// Server side: the version to answer an `initialize` that asked for `requested`.
    pub fn negotiate(requested: &str) -> ProtocolVersion {
        requested.parse().unwrap_or(ProtocolVersion::LATEST)
    }
}

impl fmt::Display for ProtocolVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A version string we do not support.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unsupported MCP protocol version {0:?} (supported: {list})", list = ProtocolVersion::supported_list())]
pub struct UnsupportedVersion(pub String);

impl FromStr for ProtocolVersion {
    type Err = UnsupportedVersion;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ProtocolVersion::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| UnsupportedVersion(s.to_string()))
    }
}

impl serde::Serialize for ProtocolVersion {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for ProtocolVersion {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiation_echoes_supported_else_latest() {
        for v in ProtocolVersion::ALL {
            assert_eq!(ProtocolVersion::negotiate(v.as_str()), v);
        }
        assert_eq!(
            ProtocolVersion::negotiate("2099-01-01"),
            ProtocolVersion::V2025_11_25
        );
        assert_eq!(ProtocolVersion::negotiate(""), ProtocolVersion::LATEST);
    }

    #[test]
    fn parse_and_order() {
        assert!("2025-06-18".parse::<ProtocolVersion>().is_ok());
        let err = "2025-13-01".parse::<ProtocolVersion>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "unsupported MCP protocol version \"2025-13-01\" (supported: 2024-11-05, 2025-03-26, 2025-06-18, 2025-11-25)"
        );
        assert!(ProtocolVersion::V2024_11_05 < ProtocolVersion::LATEST);
        let json = serde_json::to_string(&ProtocolVersion::V2025_03_26).unwrap();
        assert_eq!(json, "\"2025-03-26\"");
    }
}
