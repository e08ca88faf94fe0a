//! JSON-RPC 2.0 messages as MCP uses them.
//!
//! A body is parsed into one [`Message`]. MCP 2025-06-18 removed JSON-RPC batching and the
//! Python peers never send batches, so a JSON array is reported as [`ParseError::Batch`]
//! (the server answers it with HTTP 400); nothing else about the message is strict beyond
//! what JSON-RPC 2.0 itself requires (`"jsonrpc": "2.0"`, a string `method`, an `id` that is a
//! string or a number). Unknown members are ignored everywhere.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Number, Value};

/// Standard JSON-RPC error codes.
pub mod codes {
    /// The body is not JSON.
    pub const PARSE_ERROR: i64 = -32700;
    /// JSON, but not a JSON-RPC 2.0 message.
    pub const INVALID_REQUEST: i64 = -32600;
    /// The method is not one we serve.
    pub const METHOD_NOT_FOUND: i64 = -32601;
    /// The method's params are unusable.
    pub const INVALID_PARAMS: i64 = -32602;
    /// Something broke inside the server.
    pub const INTERNAL_ERROR: i64 = -32603;
}

/// The JSON-RPC version string every message carries.
pub const JSONRPC_VERSION: &str = "2.0";

/// A request id: MCP allows a string or a number (never null). Echoed back verbatim,
/// so a number keeps its exact JSON spelling.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum RequestId {
    /// A numeric id (the Python client counts from 0 per session).
    Number(Number),
    /// A string id (rmcp and others may use strings).
    String(String),
}

impl From<i64> for RequestId {
    fn from(n: i64) -> Self {
        RequestId::Number(n.into())
    }
}

impl From<&str> for RequestId {
    fn from(s: &str) -> Self {
        RequestId::String(s.to_string())
    }
}

impl std::fmt::Display for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RequestId::Number(n) => write!(f, "{n}"),
            RequestId::String(s) => write!(f, "{s:?}"),
        }
    }
}

/// A request: expects exactly one response with the same id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Request {
    /// Always "2.0".
    pub jsonrpc: String,
    /// Echoed in the response.
    pub id: RequestId,
    /// The MCP method, e.g. `tools/call`.
    pub method: String,
    /// Method parameters; absent and `null` are the same.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params: Option<Value>,
}

impl Request {
    /// A request with the given id, method and params.
    pub fn new(id: impl Into<RequestId>, method: impl Into<String>, params: Option<Value>) -> Self {
        Request {
            jsonrpc: JSONRPC_VERSION.to_string(),
            id: id.into(),
            method: method.into(),
            params,
        }
    }
}

/// A notification: no id, no response (HTTP 202 on Streamable HTTP).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    /// Always "2.0".
    pub jsonrpc: String,
    /// E.g. `notifications/initialized`.
    pub method: String,
    /// Parameters, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params: Option<Value>,
}

impl Notification {
    /// A notification with the given method and params.
    pub fn new(method: impl Into<String>, params: Option<Value>) -> Self {
        Notification {
            jsonrpc: JSONRPC_VERSION.to_string(),
            method: method.into(),
            params,
        }
    }
}

/// A successful response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Response {
    /// Always "2.0".
    pub jsonrpc: String,
    /// The id of the request this answers.
    pub id: RequestId,
    /// The method's result.
    pub result: Value,
}

impl Response {
    /// A success response for `id`.
    pub fn new(id: RequestId, result: Value) -> Self {
        Response {
            jsonrpc: JSONRPC_VERSION.to_string(),
            id,
            result,
        }
    }
}

/// The `error` member of an error response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorObject {
    /// One of [`codes`] or an application code.
    pub code: i64,
    /// Human-readable; says what to fix.
    pub message: String,
    /// Optional extra detail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
}

/// An error response. `id` is `null` when the request's id could not be read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorResponse {
    /// Always "2.0".
    pub jsonrpc: String,
    /// The failed request's id, or `null`.
    pub id: Option<RequestId>,
    /// What went wrong.
    pub error: ErrorObject,
}

impl ErrorResponse {
    /// An error response with `code` and `message`.
    pub fn new(id: Option<RequestId>, code: i64, message: impl Into<String>) -> Self {
        ErrorResponse {
            jsonrpc: JSONRPC_VERSION.to_string(),
            id,
            error: ErrorObject {
                code,
                message: message.into(),
                data: None,
            },
        }
    }
}

/// Any single JSON-RPC message.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    /// Has `method` and `id`.
    Request(Request),
    /// Has `method`, no `id`.
    Notification(Notification),
    /// Has `result`.
    Response(Response),
    /// Has `error`.
    Error(ErrorResponse),
}

impl Message {
    /// Serializes the message as compact JSON.
    pub fn to_value(&self) -> Value {
        let v = match self {
            Message::Request(m) => serde_json::to_value(m),
            Message::Notification(m) => serde_json::to_value(m),
            Message::Response(m) => serde_json::to_value(m),
            Message::Error(m) => serde_json::to_value(m),
        };
        // Serializing these plain structs cannot fail (string keys, no maps with non-string keys).
        v.unwrap_or(Value::Null)
    }

    /// The id a response or an error response answers (`None` for requests, notifications and
    /// errors with a `null` id). A client routes answers by it.
    pub fn response_id(&self) -> Option<&RequestId> {
        match self {
            Message::Response(r) => Some(&r.id),
            Message::Error(e) => e.id.as_ref(),
            Message::Request(_) | Message::Notification(_) => None,
        }
    }

    /// Client side: the outcome of request `id` if this message answers it (`Ok(result)` or
    /// `Err(error)`); `None` for anything else (another id, a server request, a notification).
    pub fn into_reply_to(self, id: &RequestId) -> Option<Result<Value, ErrorObject>> {
        match self {
            Message::Response(r) if &r.id == id => Some(Ok(r.result)),
            Message::Error(e) if e.id.as_ref() == Some(id) => Some(Err(e.error)),
            _ => None,
        }
    }
}

/// Why a body is not a usable JSON-RPC message.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// Not JSON at all (truncated, not UTF-8, nested deeper than serde_json's limit of 128, ...).
    #[error("request body is not valid JSON: {0}")]
    NotJson(#[source] serde_json::Error),
    /// A JSON array: JSON-RPC batching, which MCP 2025-06-18 removed.
    #[error("JSON-RPC batches (JSON arrays) are not supported: MCP 2025-06-18 removed batching; send one message per request")]
    Batch,
    /// JSON, but not a JSON-RPC 2.0 message.
    #[error("not a JSON-RPC 2.0 message: {reason}")]
    Invalid {
        /// The id if one could be read, so the error response can carry it.
        id: Option<RequestId>,
        /// What is wrong.
        reason: String,
    },
}

impl ParseError {
    /// The JSON-RPC error code that reports this failure.
    pub fn code(&self) -> i64 {
        match self {
            ParseError::NotJson(_) => codes::PARSE_ERROR,
            ParseError::Batch | ParseError::Invalid { .. } => codes::INVALID_REQUEST,
        }
    }

    /// The error response to send back (id `null` unless it could be read).
    pub fn to_response(&self) -> ErrorResponse {
        let id = match self {
            ParseError::Invalid { id, .. } => id.clone(),
            _ => None,
        };
        ErrorResponse::new(id, self.code(), self.to_string())
    }
}

/// Parses one body (bytes from HTTP or one stdio line) into a message.
pub fn parse_message(body: &[u8]) -> Result<Message, ParseError> {
    let value: Value = serde_json::from_slice(body).map_err(ParseError::NotJson)?;
    message_from_value(value)
}

/// Classifies an already-parsed JSON value.
pub fn message_from_value(value: Value) -> Result<Message, ParseError> {
    let mut obj = match value {
        Value::Object(obj) => obj,
        Value::Array(_) => return Err(ParseError::Batch),
        other => {
            return Err(invalid(
                None,
                format!("expected a JSON object, got {}", json_kind(&other)),
            ))
        }
    };
    let id = match obj.get("id") {
        None => None,
        Some(Value::Null) => None,
        Some(v) => match serde_json::from_value::<RequestId>(v.clone()) {
            Ok(id) => Some(id),
            Err(_) => {
                return Err(invalid(
                    None,
                    format!("\"id\" must be a string or a number, got {}", json_kind(v)),
                ))
            }
        },
    };
    match obj.get("jsonrpc") {
        Some(Value::String(s)) if s == JSONRPC_VERSION => {}
        Some(v) => return Err(invalid(id, format!("\"jsonrpc\" must be \"2.0\", got {v}"))),
        None => return Err(invalid(id, "the \"jsonrpc\": \"2.0\" member is missing")),
    }
    let has_id_member = obj.contains_key("id");
    if let Some(method) = obj.get("method") {
        let Value::String(method) = method else {
            return Err(invalid(
                id,
                format!("\"method\" must be a string, got {}", json_kind(method)),
            ));
        };
        let method = method.clone();
        let params = match obj.remove("params") {
            None | Some(Value::Null) => None,
            Some(p @ (Value::Object(_) | Value::Array(_))) => Some(p),
            Some(p) => {
                return Err(invalid(
                    id,
                    format!(
                        "\"params\" must be an object or an array, got {}",
                        json_kind(&p)
                    ),
                ))
            }
        };
        return Ok(match id {
            Some(id) => Message::Request(Request {
                jsonrpc: JSONRPC_VERSION.to_string(),
                id,
                method,
                params,
            }),
            None if has_id_member => {
                return Err(invalid(None, "a request's \"id\" must not be null"));
            }
            None => Message::Notification(Notification {
                jsonrpc: JSONRPC_VERSION.to_string(),
                method,
                params,
            }),
        });
    }
    if let Some(result) = obj.remove("result") {
        let Some(id) = id else {
            return Err(invalid(None, "a response needs an \"id\""));
        };
        return Ok(Message::Response(Response {
            jsonrpc: JSONRPC_VERSION.to_string(),
            id,
            result,
        }));
    }
    if let Some(error) = obj.remove("error") {
        let error: ErrorObject = serde_json::from_value(error)
            .map_err(|e| invalid(id.clone(), format!("malformed \"error\" member: {e}")))?;
        return Ok(Message::Error(ErrorResponse {
            jsonrpc: JSONRPC_VERSION.to_string(),
            id,
            error,
        }));
    }
    Err(invalid(
        id,
        "the object has none of \"method\", \"result\" or \"error\"",
    ))
}

fn invalid(id: Option<RequestId>, reason: impl Into<String>) -> ParseError {
    ParseError::Invalid {
        id,
        reason: reason.into(),
    }
}

/// "a string", "an array", ... for error messages.
pub(crate) fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Params as an object map (absent or `null` → empty); `None` when they are an array.
pub fn params_object(params: Option<&Value>) -> Option<Map<String, Value>> {
    match params {
        None | Some(Value::Null) => Some(Map::new()),
        Some(Value::Object(m)) => Some(m.clone()),
        Some(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn request_with_number_and_string_ids() {
        let m = parse_message(br#"{"jsonrpc":"2.0","id":7,"method":"tools/list"}"#).unwrap();
        let Message::Request(r) = m else { panic!() };
        assert_eq!(r.id, RequestId::from(7));
        assert_eq!(r.params, None);
        let m = parse_message(br#"{"jsonrpc":"2.0","id":"a-1","method":"ping","params":null}"#)
            .unwrap();
        let Message::Request(r) = m else { panic!() };
        assert_eq!(r.id, RequestId::from("a-1"));
    }

    #[test]
    fn id_is_echoed_verbatim() {
        for raw in ["0", "-3", "1.5", "12345678901234567890", "\"x\""] {
            let body = format!(r#"{{"jsonrpc":"2.0","id":{raw},"method":"ping"}}"#);
            let Message::Request(r) = parse_message(body.as_bytes()).unwrap() else {
                panic!()
            };
            let out = serde_json::to_string(&Response::new(r.id, json!({}))).unwrap();
            assert!(out.contains(&format!("\"id\":{raw}")), "{out}");
        }
    }

    #[test]
    fn notification_and_responses() {
        assert!(matches!(
            parse_message(br#"{"method":"notifications/initialized","jsonrpc":"2.0"}"#).unwrap(),
            Message::Notification(n) if n.method == "notifications/initialized"
        ));
        assert!(matches!(
            parse_message(br#"{"jsonrpc":"2.0","id":1,"result":{}}"#).unwrap(),
            Message::Response(_)
        ));
        assert!(matches!(
            parse_message(br#"{"jsonrpc":"2.0","id":null,"error":{"code":-1,"message":"m"}}"#)
                .unwrap(),
            Message::Error(e) if e.error.code == -1 && e.id.is_none()
        ));
    }

    #[test]
    fn bad_bodies_are_classified() {
        assert!(matches!(
            parse_message(b"{\"jsonrpc\":").unwrap_err(),
            ParseError::NotJson(_)
        ));
        assert!(matches!(
            parse_message(b"\xff\xfe{}").unwrap_err(),
            ParseError::NotJson(_)
        ));
        let deep = "[".repeat(10_000);
        assert!(matches!(
            parse_message(deep.as_bytes()).unwrap_err(),
            ParseError::NotJson(_)
        ));
        assert!(matches!(
            parse_message(b"[]").unwrap_err(),
            ParseError::Batch
        ));
        for body in [
            &br#"42"#[..],
            br#"{"id":1,"method":"ping"}"#,
            br#"{"jsonrpc":"1.0","id":1,"method":"ping"}"#,
            br#"{"jsonrpc":"2.0","id":1,"method":5}"#,
            br#"{"jsonrpc":"2.0","id":{},"method":"ping"}"#,
            br#"{"jsonrpc":"2.0","id":null,"method":"ping"}"#,
            br#"{"jsonrpc":"2.0","id":1,"method":"ping","params":3}"#,
            br#"{"jsonrpc":"2.0","id":1}"#,
        ] {
            let err = parse_message(body).unwrap_err();
            assert_eq!(err.code(), codes::INVALID_REQUEST, "{err}");
        }
        let err = parse_message(br#"{"jsonrpc":"1.0","id":9,"method":"ping"}"#).unwrap_err();
        assert_eq!(err.to_response().id, Some(RequestId::from(9)));
    }

    #[test]
    fn replies_are_matched_by_id() {
        let id = RequestId::from(4);
        let ok = parse_message(br#"{"jsonrpc":"2.0","id":4,"result":{"a":1}}"#).unwrap();
        assert_eq!(ok.response_id(), Some(&id));
        assert_eq!(ok.into_reply_to(&id), Some(Ok(json!({"a": 1}))));
        let err =
            parse_message(br#"{"jsonrpc":"2.0","id":4,"error":{"code":-32601,"message":"no"}}"#)
                .unwrap();
        let Some(Err(e)) = err.into_reply_to(&id) else {
            panic!("not an error reply")
        };
        assert_eq!(
            (e.code, e.message.as_str()),
            (codes::METHOD_NOT_FOUND, "no")
        );
        let other = parse_message(br#"{"jsonrpc":"2.0","id":5,"result":{}}"#).unwrap();
        assert_eq!(other.into_reply_to(&id), None);
        let string_id = parse_message(br#"{"jsonrpc":"2.0","id":"4","result":{}}"#).unwrap();
        assert_eq!(string_id.into_reply_to(&id), None);
        // A server request with the same id is not an answer.
        let request = parse_message(br#"{"jsonrpc":"2.0","id":4,"method":"ping"}"#).unwrap();
        assert_eq!(request.response_id(), None);
        assert_eq!(request.into_reply_to(&id), None);
        let null_id =
            parse_message(br#"{"jsonrpc":"2.0","id":null,"error":{"code":-1,"message":"m"}}"#)
                .unwrap();
        assert_eq!(null_id.response_id(), None);
    }

    #[test]
    fn error_response_serializes_null_id() {
        let e = ErrorResponse::new(None, codes::PARSE_ERROR, "bad");
        assert_eq!(
            serde_json::to_value(&e).unwrap(),
            json!({"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"bad"}})
        );
    }
}
