//! The raw Unix-socket protocol: framing and request sniffing (no I/O).
//!
//! Each message is a 4-byte big-endian unsigned length followed by that many bytes of one
//! protobuf message of the plugin service; at most [`MAX_FRAME_LEN`] bytes each way; a length
//! of 0 is an empty message (all fields default). Requests carry no type tag, so the server
//! guesses with the upstream order ([`sniff`]); the client knows which answer type it asked for.

use prost::Message;

use crate::pb::cpex as pb;

/// 16 MiB: the largest message either side accepts.
pub const MAX_FRAME_LEN: usize = 16 * 1024 * 1024;

/// Bytes of the length prefix.
pub const HEADER_LEN: usize = 4;

/// A frame that breaks the protocol; the connection it came on cannot be trusted any more.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The length prefix announces more than [`MAX_FRAME_LEN`].
    #[error("frame of {len} bytes exceeds the {MAX_FRAME_LEN}-byte limit")]
    TooLarge {
        /// The announced (or encoded) length.
        len: u64,
    },
    /// The body is not a protobuf message of the expected type.
    #[error("frame body is not a valid {what} protobuf message: {reason}")]
    Undecodable {
        /// The message type expected.
        what: &'static str,
        /// prost's reason.
        reason: String,
    },
}

/// The body length a header announces, checked against the limit.
pub fn body_len(header: [u8; HEADER_LEN]) -> Result<usize, FrameError> {
    let len = u32::from_be_bytes(header);
    let len = usize::try_from(len).map_err(|_| FrameError::TooLarge { len: len.into() })?;
    if len > MAX_FRAME_LEN {
        return Err(FrameError::TooLarge { len: len as u64 });
    }
    Ok(len)
}

/// One message as a whole frame (header + body).
pub fn encode(msg: &impl Message) -> Result<Vec<u8>, FrameError> {
    let mut out = Vec::new();
    encode_into(msg, &mut out)?;
    Ok(out)
}

/// One message as a whole frame (header + body) into `out`, which is cleared first: a
/// connection reuses one buffer for every answer, and header and body leave in one write.
/// On error `out` is left empty.
pub fn encode_into(msg: &impl Message, out: &mut Vec<u8>) -> Result<(), FrameError> {
    out.clear();
    let len = msg.encoded_len();
    if len > MAX_FRAME_LEN {
        return Err(FrameError::TooLarge { len: len as u64 });
    }
    out.reserve(HEADER_LEN + len);
    // `len` ≤ 16 MiB fits in u32.
    out.extend_from_slice(&(len as u32).to_be_bytes());
    msg.encode_raw(out);
    Ok(())
}

/// Decodes a body as the answer type the client asked for.
pub fn decode<M: Message + Default>(body: &[u8], what: &'static str) -> Result<M, FrameError> {
    M::decode(body).map_err(|e| FrameError::Undecodable {
        what,
        reason: e.to_string(),
    })
}

/// What a request body was taken for.
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    /// `hook_type` and `plugin_name` both non-empty.
    InvokeHook(Box<pb::InvokeHookRequest>),
    /// Otherwise a non-empty `name` (a `GetPluginConfigRequest` also parses as an
    /// `InvokeHookRequest`, `name` and `hook_type` both being field 1, hence the order).
    GetPluginConfig(pb::GetPluginConfigRequest),
    /// Otherwise a body of at most 2 bytes (an empty message, or one empty field).
    GetPluginConfigs,
    /// A valid message of none of these shapes: answered with [`unknown_message_response`].
    Unknown,
}

/// The upstream sniffing order (see [`Request`]). A body that is no protobuf message at all and
/// longer than 2 bytes is an error: the peer speaks something else, and the connection is
/// closed rather than answered.
pub fn sniff(body: &[u8]) -> Result<Request, FrameError> {
    // Decoded requests are moved, not cloned: an invoke request carries the whole payload.
    let invoke = match pb::InvokeHookRequest::decode(body) {
        Ok(req) if !req.hook_type.is_empty() && !req.plugin_name.is_empty() => {
            return Ok(Request::InvokeHook(Box::new(req)));
        }
        other => other.map(|_| ()),
    };
    let config = match pb::GetPluginConfigRequest::decode(body) {
        Ok(req) if !req.name.is_empty() => return Ok(Request::GetPluginConfig(req)),
        other => other.map(|_| ()),
    };
    if body.len() <= 2 {
        return Ok(Request::GetPluginConfigs);
    }
    match (invoke, config) {
        (Err(e), Err(_)) => Err(FrameError::Undecodable {
            what: "plugin service request",
            reason: e.to_string(),
        }),
        _ => Ok(Request::Unknown),
    }
}

/// The answer to a request of no known shape, as upstream words it.
pub fn unknown_message_response() -> pb::InvokeHookResponse {
    pb::InvokeHookResponse {
        error: Some(pb::PluginError {
            message: "Unknown message type".into(),
            code: "UNKNOWN_MESSAGE".into(),
            mcp_error_code: plugwire_mcp::plugin_tools::DEFAULT_PLUGIN_ERROR_CODE as i32,
            ..Default::default()
        }),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_limits() {
        assert_eq!(body_len([0, 0, 0, 0]), Ok(0));
        assert_eq!(body_len([0x01, 0, 0, 0]), Ok(MAX_FRAME_LEN));
        assert_eq!(
            body_len([0x01, 0, 0, 1]),
            Err(FrameError::TooLarge {
                len: MAX_FRAME_LEN as u64 + 1
            })
        );
        assert!(body_len([0xff; 4]).is_err());
    }

    #[test]
    fn encode_matches_the_upstream_capture() {
        // `00 00 00 10` + `0a 0e "DenyListPlugin"`, as the Python client sends it.
        let frame = encode(&pb::GetPluginConfigRequest {
            name: "DenyListPlugin".into(),
        })
        .unwrap();
        let mut want = vec![0, 0, 0, 0x10, 0x0a, 0x0e];
        want.extend_from_slice(b"DenyListPlugin");
        assert_eq!(frame, want);
        assert_eq!(
            sniff(&frame[HEADER_LEN..]).unwrap(),
            Request::GetPluginConfig(pb::GetPluginConfigRequest {
                name: "DenyListPlugin".into()
            })
        );
    }

    #[test]
    fn sniffing_order() {
        let invoke = pb::InvokeHookRequest {
            hook_type: "tool_pre_invoke".into(),
            plugin_name: "P".into(),
            ..Default::default()
        };
        assert!(matches!(
            sniff(&invoke.encode_to_vec()),
            Ok(Request::InvokeHook(_))
        ));
        assert_eq!(sniff(&[]), Ok(Request::GetPluginConfigs));
        // Only a plugin name: valid protobuf, no known shape.
        let odd = pb::InvokeHookRequest {
            plugin_name: "Plugin".into(),
            ..Default::default()
        };
        assert_eq!(sniff(&odd.encode_to_vec()), Ok(Request::Unknown));
        assert!(matches!(
            sniff(b"GET / HTTP/1.1\r\n"),
            Err(FrameError::Undecodable { .. })
        ));
        assert_eq!(
            unknown_message_response().error.unwrap().code,
            "UNKNOWN_MESSAGE"
        );
    }
}
