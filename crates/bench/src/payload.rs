//! The request every pair sends: `tools/call invoke_hook` with a `tool_pre_invoke` payload of
//! about 1 KiB that SearchReplace rewrites (`crap` → `crud` → `yikes`), so each call does the
//! real work: JSON decode, two regex passes over every top-level string, JSON encode.

use bytes::{BufMut, Bytes, BytesMut};
use serde_json::{json, Value};

/// Name of the plugin in the server config the benchmark writes.
pub const PLUGIN_NAME: &str = "ReplaceBadWordsPlugin";
/// Substring every correct answer contains (the second rule's replacement).
pub const EXPECTED_MARKER: &[u8] = b"yikes";

/// The tool payload (`name`, `args`, `headers`) of a `tool_pre_invoke` hook.
pub fn tool_payload() -> Value {
    json!({
        "name": "search_documents",
        "args": {
            "query": "why does the crap build fail on the release branch",
            "description": "Search the engineering knowledge base for incident reports, runbooks and \
                design notes. Results include the crap that nobody wanted to document, ranked by \
                relevance and recency. The index covers the wiki, the ticket tracker and the \
                postmortem archive of the last three years.",
            "notes": "user pasted a stack trace: thread 'main' panicked at src/main.rs:42:5 - \
                called `Result::unwrap()` on an `Err` value: crap",
            "collection": "engineering-kb",
            "language": "en",
            "limit": 20,
            "offset": 0,
            "include_archived": false,
            "filters": {"team": "platform", "since": "2024-01-01", "tags": ["build", "ci", "release"]}
        },
        "headers": {
            "x-request-id": "0f8b5c1e-7a43-4f0e-9d7c-3b1e2a9c4d55",
            "x-trace": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "user-agent": "plugwire-bench/0.1"
        }
    })
}

/// The plugin context the gateway would send.
pub fn context() -> Value {
    json!({
        "state": {},
        "global_context": {
            "request_id": "bench-req-000001",
            "user": "alice@example.com",
            "tenant_id": "team-platform",
            "server_id": "srv-knowledge-base",
            "state": {},
            "metadata": {}
        },
        "metadata": {}
    })
}

/// A JSON-RPC body template: everything but the `id`, which must be unique per request for a
/// stateful server (the Python runtime routes answers by request id).
#[derive(Debug, Clone)]
pub struct RequestTemplate {
    prefix: Bytes,
}

impl RequestTemplate {
    /// The `invoke_hook` call.
    pub fn invoke_hook() -> Self {
        let body = json!({
            "jsonrpc": "2.0",
            "method": "tools/call",
            "params": {
                "name": "invoke_hook",
                "arguments": {
                    "hook_type": "tool_pre_invoke",
                    "plugin_name": PLUGIN_NAME,
                    "payload": tool_payload(),
                    "context": context()
                }
            }
        });
        Self::from_value(&body)
    }

    /// Any JSON-RPC request object without `id`.
    pub fn from_value(body: &Value) -> Self {
        let mut text = body.to_string();
        text.pop(); // the closing brace; `body` is an object
        text.push_str(",\"id\":");
        Self {
            prefix: Bytes::from(text),
        }
    }

    /// The body with this request id.
    pub fn with_id(&self, id: u64) -> Bytes {
        let mut b = BytesMut::with_capacity(self.prefix.len() + 24);
        b.put_slice(&self.prefix);
        b.put_slice(id.to_string().as_bytes());
        b.put_u8(b'}');
        b.freeze()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_is_valid_json_rpc_of_about_one_kib() {
        let body = RequestTemplate::invoke_hook().with_id(42);
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["id"], 42);
        assert_eq!(v["params"]["arguments"]["hook_type"], "tool_pre_invoke");
        assert!(
            (900..1600).contains(&body.len()),
            "body is {} bytes",
            body.len()
        );
    }
}
