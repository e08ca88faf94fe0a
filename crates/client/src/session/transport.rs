//! The session's transports, HTTP and stdio, behind one dispatch: a request and its answer, a
//! `tools/call` whose arguments are encoded already (sent in one pass over HTTP), a notification,
//! a reset after a lost session. What is sent and what came back are the types below; the
//! session (the parent module) decides what an answer means.

use plugwire_mcp::jsonrpc::ErrorObject;
use plugwire_mcp::{methods, CallToolResult, Message, Request, RequestId};
use serde_json::{Map, Value};

use crate::error::{Cause, ClientError, ErrorKind};
use crate::http::{HttpTransport, RawBody};
use crate::stdio::StdioTransport;

pub(crate) enum Transport {
    Http(HttpTransport),
    Stdio(StdioTransport),
}

impl Transport {
    pub(super) fn display(&self) -> &str {
        match self {
            Transport::Http(t) => t.display(),
            Transport::Stdio(t) => t.display(),
        }
    }

    /// Sends a request and returns the answer to it: its `result`, or its JSON-RPC error.
    /// Other messages (server requests, notifications, answers to other ids) are passed over.
    pub(super) async fn request(
        &self,
        method: &str,
        request: &mut Request,
    ) -> Result<Reply, Exchange> {
        let id = request.id.clone();
        // Lent to the transport and taken back, so the caller keeps its params for a retry.
        let message = Message::Request(std::mem::replace(
            request,
            Request::new(RequestId::from(0), "", None),
        ));
        let answers = match self {
            Transport::Http(t) => t.post(method, &message).await.map(|a| a.messages),
            Transport::Stdio(t) => t.send(method, &message).await.map(Vec::from_iter),
        };
        if let Message::Request(back) = message {
            *request = back;
        }
        answers
            .map_err(Exchange::Error)?
            .into_iter()
            .find_map(|m| m.into_reply_to(&id))
            .ok_or(Exchange::NoResponse)
    }

    /// Sends `outgoing` under `id`. A `tools/call` with encoded arguments goes out in one
    /// pass over HTTP and comes back as the unparsed body; stdio (a line protocol that parses
    /// its answers anyway) sends it as a request.
    pub(super) async fn exchange(
        &self,
        method: &str,
        outgoing: &mut Outgoing<'_>,
        id: &RequestId,
        plugin: &str,
    ) -> Result<Incoming, Exchange> {
        match (outgoing, self) {
            (Outgoing::Request(request), _) => {
                request.id = id.clone();
                self.request(method, request).await.map(Incoming::Reply)
            }
            (Outgoing::ToolCall { name, arguments }, Transport::Http(t)) => {
                let bytes = encode_tool_call(id, name, arguments).map_err(|e| {
                    Exchange::Error(ClientError::config_caused(
                        plugin,
                        format!("cannot serialize the {method} request: {e}"),
                        Cause::from(e),
                    ))
                })?;
                let body = t.post_bytes(method, bytes).await.map_err(Exchange::Error)?;
                Ok(Incoming::Body(body, id.clone()))
            }
            (Outgoing::ToolCall { name, arguments }, Transport::Stdio(_)) => {
                let arguments = serde_json::from_slice(arguments).map_err(|e| {
                    Exchange::Error(ClientError::config_caused(
                        plugin,
                        format!("cannot serialize the {method} request: {e}"),
                        Cause::from(e),
                    ))
                })?;
                let params = call_tool_params(name, arguments);
                let mut request = Request::new(id.clone(), methods::TOOLS_CALL, Some(params));
                self.request(method, &mut request)
                    .await
                    .map(Incoming::Reply)
            }
        }
    }

    pub(super) async fn notify(&self, method: &str, message: Message) -> Result<(), ClientError> {
        match self {
            // A notification has no answer; a body we cannot parse does not matter.
            Transport::Http(t) => match t.post(method, &message).await {
                Ok(_) => Ok(()),
                Err(e) if matches!(e.kind(), ErrorKind::Malformed { .. }) => Ok(()),
                Err(e) => Err(e),
            },
            Transport::Stdio(t) => t.send(method, &message).await.map(|_| ()),
        }
    }

    pub(super) async fn reset(&self) {
        match self {
            Transport::Http(t) => t.reset().await,
            Transport::Stdio(t) => t.reset().await,
        }
    }
}

/// The outcome of one request: its `result`, or the error object the server sent.
pub(super) type Reply = Result<Value, ErrorObject>;

/// What one exchange sends: a JSON-RPC request, or a `tools/call` whose arguments are JSON
/// bytes already (the hook call, written in one pass from typed values).
pub(super) enum Outgoing<'a> {
    Request(Request),
    ToolCall { name: &'a str, arguments: &'a [u8] },
}

/// What one exchange brought back: the reply to our id, or (HTTP tool calls) the whole body
/// not yet parsed, with the id it must answer.
pub(super) enum Incoming {
    Reply(Reply),
    Body(RawBody, RequestId),
}

/// A `tools/call` answer: the decoded result, or the HTTP body for the caller's typed decoding
/// (turned into a result by [`Session::body_to_result`] when that does not apply).
pub(crate) enum ToolReply {
    Result(CallToolResult),
    Body(RawBody, RequestId),
}

pub(super) enum Exchange {
    Error(ClientError),
    NoResponse,
}

/// `tools/call` params as JSON: what `serde_json::to_value(&CallToolParams::new(name, arguments))`
/// gives (`name`, then `arguments`; no `_meta`), built by moving the arguments in instead of
/// serializing a deep copy of them on every call.
pub(crate) fn call_tool_params(name: &str, arguments: Map<String, Value>) -> Value {
    let mut params = Map::with_capacity(2);
    params.insert("name".to_string(), Value::String(name.to_string()));
    params.insert("arguments".to_string(), Value::Object(arguments));
    Value::Object(params)
}

/// A `tools/call` request with encoded arguments: the bytes [`crate::http::encode`] writes for
/// the same request with the arguments as a `Value` (member order `jsonrpc`, `id`, `method`,
/// `params`; `name` then `arguments`).
pub(crate) fn encode_tool_call(
    id: &RequestId,
    name: &str,
    arguments: &[u8],
) -> serde_json::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(arguments.len() + 96);
    out.extend_from_slice(b"{\"jsonrpc\":\"2.0\",\"id\":");
    serde_json::to_writer(&mut out, id)?;
    out.extend_from_slice(b",\"method\":\"tools/call\",\"params\":{\"name\":");
    serde_json::to_writer(&mut out, name)?;
    out.extend_from_slice(b",\"arguments\":");
    out.extend_from_slice(arguments);
    out.extend_from_slice(b"}}");
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use plugwire_mcp::INVOKE_HOOK;
    use serde_json::json;

    #[test]
    fn call_tool_params_equal_the_serialized_struct() {
        let arguments =
            json!({"hook_type": "tool_pre_invoke", "payload": {"b": 1, "a": [1, {"z": null}]}});
        let Value::Object(arguments) = arguments else {
            unreachable!("a json! object literal")
        };
        let typed = serde_json::to_value(plugwire_mcp::CallToolParams::new(
            INVOKE_HOOK,
            arguments.clone(),
        ))
        .expect("serializes");
        let moved = call_tool_params(INVOKE_HOOK, arguments);
        assert_eq!(moved, typed);
        // Same bytes too (key order included), which is what goes on the wire.
        assert_eq!(
            serde_json::to_string(&moved).expect("serializes"),
            serde_json::to_string(&typed).expect("serializes")
        );
    }
}
