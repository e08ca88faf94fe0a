//! HTTP header names and media types of MCP Streamable HTTP.

/// Session id header. plugwire's server never issues one (stateless, docs/decisions.md #11) and
/// ignores any it receives; the client echoes one if a (Python) server issues it.
pub const MCP_SESSION_ID: &str = "mcp-session-id";
/// The negotiated protocol version, sent by clients on every request after `initialize`.
pub const MCP_PROTOCOL_VERSION: &str = "mcp-protocol-version";
/// Media type of a JSON answer (what plugwire's server always sends, docs/decisions.md #9).
pub const APPLICATION_JSON: &str = "application/json";
/// Media type of an SSE answer (what the Python runtime sends).
pub const TEXT_EVENT_STREAM: &str = "text/event-stream";
/// The `Accept` value a Streamable HTTP client sends on POST.
pub const ACCEPT_JSON_AND_SSE: &str = "application/json, text/event-stream";
/// The default endpoint path.
pub const MCP_PATH: &str = "/mcp";
