//! Decoding a `text/event-stream` body (Server-Sent Events) into JSON-RPC messages.
//!
//! The Python runtime (FastMCP) answers every POST with an SSE stream holding one `message` event
//! per JSON-RPC message, then closes the stream. The client reads the whole body to its end (so
//! the connection goes back to the pool) and then hands it to [`decode_messages`]. No I/O here.
//!
//! Parsing follows the WHATWG event-stream rules that matter for MCP: lines end in `\n`, `\r\n`
//! or `\r`; `data:` lines of one event are joined with `\n`; an empty line dispatches the event;
//! lines starting with `:` are comments; `event:`, `id:` and `retry:` are kept or ignored; a single
//! space after the colon is stripped; an event that is still open at the end of the body is
//! dispatched too (a server that forgets the final blank line still gets its answer through).

use serde_json::Value;

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field; `None` means the default type `message`.
    pub event: Option<String>,
    /// The `id:` field, kept so that a caller could resume a stream (we never do).
    pub id: Option<String>,
    /// The joined `data:` lines.
    pub data: String,
}

impl SseEvent {
    /// MCP sends JSON-RPC messages only as events of type `message` (or without a type).
    pub fn is_message(&self) -> bool {
        matches!(self.event.as_deref(), None | Some("message"))
    }
}

/// Why an event stream could not be turned into JSON-RPC messages.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SseError {
    /// The body is not UTF-8 (event streams are UTF-8 by definition).
    #[error("event stream is not valid UTF-8 (at byte {0})")]
    NotUtf8(usize),
    /// A `message` event whose data is not JSON.
    #[error(
        "event {index} of the event stream is not JSON: {source}; data starts with {snippet:?}"
    )]
    BadJson {
        /// 0-based index of the message event.
        index: usize,
        /// The first characters of the data, for the error message.
        snippet: String,
        /// The JSON error.
        #[source]
        source: serde_json::Error,
    },
}

/// Splits an event-stream body into events.
pub fn decode_events(body: &[u8]) -> Result<Vec<SseEvent>, SseError> {
    let text = std::str::from_utf8(body).map_err(|e| SseError::NotUtf8(e.valid_up_to()))?;
    // A BOM may start the stream.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut events = Vec::new();
    let mut event: Option<String> = None;
    let mut id: Option<String> = None;
    let mut data = String::new();
    let mut has_data = false;

    for line in split_lines(text) {
        if line.is_empty() {
            if has_data {
                events.push(SseEvent {
                    event: event.take(),
                    id: id.clone(),
                    data: std::mem::take(&mut data),
                });
            }
            event = None;
            has_data = false;
            data.clear();
            continue;
        }
        if line.starts_with(':') {
            continue;
        }
        let (field, value) = match line.find(':') {
            Some(pos) => {
                let value = &line[pos + 1..];
                (&line[..pos], value.strip_prefix(' ').unwrap_or(value))
            }
            None => (line, ""),
        };
        match field {
            "data" => {
                if has_data {
                    data.push('\n');
                }
                data.push_str(value);
                has_data = true;
            }
            "event" => event = Some(value.to_string()),
            "id" if !value.contains('\0') => id = Some(value.to_string()),
            _ => {} // `retry` and unknown fields are ignored.
        }
    }
    if has_data {
        events.push(SseEvent { event, id, data });
    }
    Ok(events)
}

/// Decodes every `message` event of the body as one JSON value (a JSON-RPC message or batch).
/// Events with empty data (keep-alive primes) are skipped.
pub fn decode_messages(body: &[u8]) -> Result<Vec<Value>, SseError> {
    let mut out = Vec::new();
    for (index, ev) in decode_events(body)?
        .into_iter()
        .filter(|e| e.is_message() && !e.data.trim().is_empty())
        .enumerate()
    {
        let value = serde_json::from_str(&ev.data).map_err(|source| SseError::BadJson {
            index,
            snippet: ev.data.chars().take(80).collect(),
            source,
        })?;
        out.push(value);
    }
    Ok(out)
}

/// Lines split on `\r\n`, `\n` or a lone `\r`, as the event-stream grammar says.
fn split_lines(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        match rest.find(['\r', '\n']) {
            Some(pos) => {
                let line = &rest[..pos];
                let skip = if rest[pos..].starts_with("\r\n") {
                    2
                } else {
                    1
                };
                rest = &rest[pos + skip..];
                Some(line)
            }
            None => {
                let line = rest;
                rest = "";
                Some(line)
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_runtime_answer_decodes() {
        let body = b"event: message\r\ndata: {\"jsonrpc\":\"2.0\",\"id\":0,\"result\":{}}\r\n\r\n";
        let msgs = decode_messages(body).unwrap();
        assert_eq!(msgs.len(), 1);
        assert_eq!(msgs[0]["id"], 0);
    }

    #[test]
    fn multi_line_data_is_joined_and_comments_skipped() {
        let body = b": ping\n\ndata: {\"a\":\ndata: 1}\nid: 7\n\nevent: other\ndata: x\n\n";
        let events = decode_events(body).unwrap();
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].data, "{\"a\":\n1}");
        assert_eq!(events[0].id.as_deref(), Some("7"));
        assert!(!events[1].is_message());
        let msgs = decode_messages(body).unwrap();
        assert_eq!(msgs, vec![serde_json::json!({"a": 1})]);
    }

    #[test]
    fn unterminated_last_event_is_dispatched() {
        let body = b"data: {\"id\":3}";
        assert_eq!(decode_messages(body).unwrap()[0]["id"], 3);
    }

    #[test]
    fn lone_cr_line_endings_and_empty_prime_events() {
        let body = b"id: 1\rdata:\r\rdata:{\"x\":true}\r\r";
        let msgs = decode_messages(body).unwrap();
        assert_eq!(msgs, vec![serde_json::json!({"x": true})]);
    }

    #[test]
    fn bad_json_and_bad_utf8_are_errors() {
        let err = decode_messages(b"data: {not json\n\n").unwrap_err();
        assert!(matches!(err, SseError::BadJson { index: 0, .. }), "{err}");
        let err = decode_messages(b"data: \xff\xfe\n\n").unwrap_err();
        assert!(matches!(err, SseError::NotUtf8(6)), "{err}");
    }

    #[test]
    fn empty_body_has_no_messages() {
        assert!(decode_messages(b"").unwrap().is_empty());
    }
}
