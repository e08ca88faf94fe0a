//! Generic MCP tool shapes: `tools/list` and `tools/call` params and results.
//!
//! Every struct keeps unknown members in `extra` (flattened), so a newer peer's additions
//! (`_meta`, `annotations`, `title`, ...) decode and survive a round trip.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// One entry of `tools/list`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Tool {
    /// What `tools/call` names.
    pub name: String,
    /// For humans and LLMs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// JSON Schema of the arguments object (`null` when a sloppy server leaves it out: a
    /// client only needs the name).
    #[serde(default)]
    pub input_schema: Value,
    /// JSON Schema of `structuredContent`; when present the result MUST carry it (the Python
    /// client validates it, `docs/decisions.md` #21).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_schema: Option<Value>,
    /// Members we do not model.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `tools/list` result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListToolsResult {
    /// The tools (absent reads as none, so the client can say which tools are missing).
    #[serde(default)]
    pub tools: Vec<Tool>,
    /// Pagination cursor (we never page).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// `tools/call` params.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallToolParams {
    /// The tool.
    pub name: String,
    /// The arguments object; absent means `{}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arguments: Option<Map<String, Value>>,
    /// `_meta` and anything else.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl ListToolsResult {
    /// The tool names, in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.tools.iter().map(|t| t.name.as_str())
    }
}

impl CallToolParams {
    /// A call of `name` with `arguments`.
    pub fn new(name: impl Into<String>, arguments: Map<String, Value>) -> Self {
        CallToolParams {
            name: name.into(),
            arguments: Some(arguments),
            extra: Map::new(),
        }
    }
}

/// One content item of a tool result. Only `text` items matter to plugins; other kinds
/// (`image`, `resource`, ...) decode with their members in `extra`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Content {
    /// `text`, `image`, `audio`, `resource`, `resource_link`, ...
    #[serde(rename = "type")]
    pub kind: String,
    /// The text of a `text` item.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Everything else (`annotations`, `_meta`, image data, ...).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Content {
    /// A `text` item.
    pub fn text(text: impl Into<String>) -> Self {
        Content {
            kind: "text".to_string(),
            text: Some(text.into()),
            extra: Map::new(),
        }
    }

    /// The text if this is a `text` item.
    pub fn as_text(&self) -> Option<&str> {
        if self.kind == "text" {
            self.text.as_deref()
        } else {
            None
        }
    }
}

/// `tools/call` result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CallToolResult {
    /// The content items, in order.
    #[serde(default)]
    pub content: Vec<Content>,
    /// Typed result, present when the tool advertises an `outputSchema`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub structured_content: Option<Value>,
    /// A tool-level failure (bad arguments, unknown tool). Plugin errors are NOT reported
    /// here: they travel inside a normal result (`docs/decisions.md` #12).
    #[serde(default)]
    pub is_error: bool,
    /// `_meta` and anything else.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl CallToolResult {
    /// A successful result with one text item.
    pub fn text(text: impl Into<String>) -> Self {
        CallToolResult {
            content: vec![Content::text(text)],
            structured_content: None,
            is_error: false,
            extra: Map::new(),
        }
    }

    /// A tool-level error (`isError: true`) with one text item, as FastMCP reports them.
    pub fn error(message: impl Into<String>) -> Self {
        CallToolResult {
            is_error: true,
            ..CallToolResult::text(message)
        }
    }

    /// The texts of the `text` items, in order.
    pub fn texts(&self) -> impl Iterator<Item = &str> {
        self.content.iter().filter_map(Content::as_text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn result_round_trip_keeps_unknown_members() {
        let v = json!({
            "content": [
                {"type": "image", "data": "AAAA", "mimeType": "image/png"},
                {"type": "text", "text": "hi", "annotations": {"priority": 1}}
            ],
            "isError": false,
            "_meta": {"k": 1}
        });
        let r: CallToolResult = serde_json::from_value(v.clone()).unwrap();
        assert_eq!(r.texts().collect::<Vec<_>>(), vec!["hi"]);
        assert_eq!(serde_json::to_value(&r).unwrap(), v);
    }

    #[test]
    fn sparse_tool_lists_decode() {
        let r: ListToolsResult =
            serde_json::from_value(json!({"tools": [{"name": "a"}, {"name": "b"}]})).unwrap();
        assert_eq!(r.names().collect::<Vec<_>>(), ["a", "b"]);
        let r: ListToolsResult = serde_json::from_value(json!({})).unwrap();
        assert!(r.tools.is_empty());
    }

    #[test]
    fn missing_is_error_means_false() {
        let r: CallToolResult = serde_json::from_value(json!({"content": []})).unwrap();
        assert!(!r.is_error);
        let e = CallToolResult::error("boom");
        assert_eq!(
            serde_json::to_value(&e).unwrap(),
            json!({"content": [{"type": "text", "text": "boom"}], "isError": true})
        );
    }
}
