//! `InvokeHook` answered on the HTTP/2 request itself, without tonic's `server::Grpc::unary`.
//!
//! tonic's unary path wraps a call in its own `Request` and `Response` (metadata maps built
//! from and back into header maps), decodes through a `Streaming` decoder and encodes through
//! an `EncodeBody` stream; ~15k instructions of a gRPC call's ~127k went there (callgrind).
//! For the hot method this module does what that path does, and nothing else:
//!
//! - a `grpc-encoding` other than `identity` is `UNIMPLEMENTED` with
//!   `grpc-accept-encoding: identity` (we accept no compression);
//! - the body is read to its end, each gRPC message (1-byte flag, 4-byte big-endian length)
//!   decoded as it completes: the first is the request, later ones are decoded and dropped; a
//!   prefix may be cut across DATA frames; a flag other than 0 is `INTERNAL`, a length over
//!   4 MiB `OUT_OF_RANGE` as soon as the prefix is read, a message that does not parse
//!   `INTERNAL`, no message or a cut one `INTERNAL`;
//! - the answer is `content-type: application/grpc`, one DATA frame (prefix + the encoded
//!   answer), then the trailer `grpc-status: 0`; an error is trailers-only.
//!
//! The status codes and messages are tonic's (its wording included, since clients log it), and
//! errors are still built and percent-encoded by `tonic::Status`. The `service_tests` module
//! holds both paths to the same frames.

use std::convert::Infallible;
use std::pin::{pin, Pin};
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes, BytesMut};
use http::header::{HeaderMap, HeaderValue, CONTENT_TYPE};
use hyper::body::{Body as HttpBody, Frame};
use plugwire_grpc::answer::Encoded;
use plugwire_grpc::pb::cpex as pb;
use prost::Message;
use tonic::body::Body;
use tonic::codegen::StdError;
use tonic::metadata::MetadataValue;
use tonic::{Code, Status};

use crate::backend::{Backend, ProtoArgs};

/// tonic's default limit on a received message (4 MiB), kept so the same requests are refused.
const MAX_MESSAGE: usize = 4 * 1024 * 1024;
/// The gRPC message prefix: compressed flag, then the length.
const PREFIX: usize = 5;

/// Answers one `InvokeHook` call (see the module doc); a request without both names is
/// `INVALID_ARGUMENT` naming the field.
pub(super) async fn invoke_hook<B>(backend: Arc<dyn Backend>, req: http::Request<B>) -> Answer
where
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<StdError> + Send + 'static,
{
    if let Err(status) = identity_only(req.headers()) {
        return status.into_http();
    }
    let request = match read_request(req.into_body()).await {
        Ok(request) => request,
        Err(status) => return status.into_http(),
    };
    let args = match ProtoArgs::from_request(request) {
        Ok(args) => args,
        Err(e) => return Status::invalid_argument(e.to_string()).into_http(),
    };
    let answer = crate::dispatch::invoke_hook_proto(backend.as_ref(), args).await;
    answered(answer.message)
}

/// The answer as hyper takes it.
type Answer = http::Response<Body>;

/// Refuses a compressed request: `grpc-encoding` absent or `identity` only.
fn identity_only(headers: &HeaderMap) -> Result<(), Status> {
    let Some(encoding) = headers.get("grpc-encoding") else {
        return Ok(());
    };
    let encoding = encoding.as_bytes();
    if encoding == b"identity" {
        return Ok(());
    }
    let named = match std::str::from_utf8(encoding) {
        Ok(s) => s.to_owned(),
        Err(_) => format!("{encoding:?}"),
    };
    let mut status = Status::unimplemented(format!(
        "Content is compressed with `{named}` which isn't supported"
    ));
    status.metadata_mut().insert(
        "grpc-accept-encoding",
        MetadataValue::from_static("identity"),
    );
    Err(status)
}

/// Reads the body to its end and gives its first message (see the module doc).
async fn read_request<B>(body: B) -> Result<pb::InvokeHookRequest, Status>
where
    B: HttpBody<Data = Bytes>,
    B::Error: Into<StdError>,
{
    let mut body = pin!(body);
    let mut unread = Unread::default();
    let mut first = None;
    loop {
        while let Some(message) = unread.next_message()? {
            first.get_or_insert(message);
        }
        if body.is_end_stream() {
            break;
        }
        match std::future::poll_fn(|cx| body.as_mut().poll_frame(cx)).await {
            // Request trailers carry nothing a call reads.
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    unread.push(data);
                }
            }
            Some(Err(e)) => {
                let status = Status::from_error(e.into());
                // The client cancelled: the body ends here, as tonic reads it.
                if status.code() == Code::Cancelled {
                    return first.ok_or_else(missing);
                }
                return Err(status);
            }
            None => break,
        }
    }
    if unread.is_empty() {
        first.ok_or_else(missing)
    } else {
        Err(Status::internal("Unexpected EOF decoding stream."))
    }
}

fn missing() -> Status {
    Status::internal("Missing request message.")
}

/// The body's bytes not yet decoded: the last DATA frame as it came when it alone is unread
/// (the usual case: one frame, one message, decoded in place), else the frames joined.
#[derive(Default)]
struct Unread {
    frame: Bytes,
    joined: BytesMut,
}

impl Unread {
    fn push(&mut self, data: Bytes) {
        if self.is_empty() {
            self.frame = data;
            return;
        }
        if !self.frame.is_empty() {
            self.joined.extend_from_slice(&self.frame);
            self.frame = Bytes::new();
        }
        self.joined.extend_from_slice(&data);
    }

    fn is_empty(&self) -> bool {
        self.frame.is_empty() && self.joined.is_empty()
    }

    fn bytes(&self) -> &[u8] {
        if self.joined.is_empty() {
            &self.frame
        } else {
            &self.joined
        }
    }

    fn advance(&mut self, n: usize) {
        if self.joined.is_empty() {
            self.frame.advance(n);
        } else {
            self.joined.advance(n);
        }
    }

    /// The next whole message, decoded; `None` until one is complete. The prefix is checked
    /// as soon as it is complete, so an oversized message is refused before it is read.
    fn next_message(&mut self) -> Result<Option<pb::InvokeHookRequest>, Status> {
        let bytes = self.bytes();
        let Some(&[flag, a, b, c, d]) = bytes.get(..PREFIX) else {
            return Ok(None);
        };
        match flag {
            0 => {}
            1 => {
                return Err(Status::internal(
                    "protocol error: received message with compressed-flag but no \
                     grpc-encoding was specified",
                ))
            }
            f => {
                return Err(Status::internal(format!(
                    "protocol error: received message with invalid compression flag: {f} \
                     (valid flags are 0 and 1), while sending request"
                )))
            }
        }
        let len = u32::from_be_bytes([a, b, c, d]) as usize;
        if len > MAX_MESSAGE {
            return Err(Status::out_of_range(format!(
                "Error, decoded message length too large: found {len} bytes, the limit is: \
                 {MAX_MESSAGE} bytes"
            )));
        }
        let Some(message) = bytes.get(PREFIX..PREFIX + len) else {
            let have = bytes.len();
            self.joined.reserve(PREFIX + len - have);
            return Ok(None);
        };
        // As prost's codec: a message that does not parse is INTERNAL.
        let decoded =
            pb::InvokeHookRequest::decode(message).map_err(|e| Status::internal(e.to_string()))?;
        self.advance(PREFIX + len);
        Ok(Some(decoded))
    }
}

/// The success answer: `message` in one DATA frame, then `grpc-status: 0`.
fn answered(message: Encoded) -> Answer {
    let Encoded(message) = message;
    let body = match u32::try_from(message.len()) {
        Ok(len) => {
            let mut data = Vec::with_capacity(PREFIX + message.len());
            data.push(0);
            data.extend_from_slice(&len.to_be_bytes());
            data.extend_from_slice(&message);
            let mut trailers = HeaderMap::with_capacity(1);
            trailers.insert(Status::GRPC_STATUS, HeaderValue::from_static("0"));
            Answered {
                data: Some(Bytes::from(data)),
                trailers: Some(trailers),
            }
        }
        // As tonic's encoder: after the headers, trailers with the status.
        Err(_) => {
            let status = Status::resource_exhausted(format!(
                "Cannot return body with more than 4GB of data but got {} bytes",
                message.len()
            ));
            let mut trailers = HeaderMap::with_capacity(3);
            let _ = status.add_header(&mut trailers);
            Answered {
                data: None,
                trailers: Some(trailers),
            }
        }
    };
    let mut answer = http::Response::new(Body::new(body));
    *answer.version_mut() = http::Version::HTTP_2;
    answer
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
    answer
}

/// A body of at most one DATA frame, then trailers. No size hint (hyper would add a
/// `content-length`, which tonic's answers do not carry).
struct Answered {
    data: Option<Bytes>,
    trailers: Option<HeaderMap>,
}

impl HttpBody for Answered {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = self.get_mut();
        let frame = match this.data.take() {
            Some(data) => Some(Frame::data(data)),
            None => this.trailers.take().map(Frame::trailers),
        };
        Poll::Ready(frame.map(Ok))
    }

    fn is_end_stream(&self) -> bool {
        self.data.is_none() && self.trailers.is_none()
    }
}
