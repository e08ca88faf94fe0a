//! What a call to [`PluginService`] answers, frame by frame: the headers, every body frame and
//! the trailers, for a success and for each way a request can be wrong. The expected answers
//! were recorded from tonic's `server::Grpc::unary` (which served `InvokeHook` before it was
//! answered by hand), so they hold the hand-written path to the same bytes.

use std::convert::Infallible;
use std::fmt::Write as _;

use bytes::Bytes;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use plugwire_mcp::{InvokeHookResponse, RawInvokeHookArgs, TextResultWriter};
use serde_json::{json, Value};

use super::*;

/// One plugin whose hook always continues.
struct Continue;

#[async_trait::async_trait]
impl Backend for Continue {
    fn plugin_configs(&self) -> Vec<Value> {
        vec![json!({"name": "P", "hooks": ["tool_pre_invoke"]})]
    }
    async fn invoke_hook(&self, args: RawInvokeHookArgs<'_>, out: &mut TextResultWriter) {
        let result = json!({"continue_processing": true});
        let answer = InvokeHookResponse::success(args.plugin_name.to_string(), result, None);
        out.push_str(&answer.to_text());
    }
}

/// A request message: `hook_type`, `plugin_name` (empty ones are left out, as prost does).
fn request(hook: &str, plugin: &str) -> Vec<u8> {
    pb::InvokeHookRequest {
        hook_type: hook.into(),
        plugin_name: plugin.into(),
        ..Default::default()
    }
    .encode_to_vec()
}

/// `message` with the gRPC prefix: `flag`, then its length (big-endian).
fn framed(flag: u8, message: &[u8]) -> Vec<u8> {
    let len = u32::try_from(message.len()).expect("test message under 4 GiB");
    let mut out = vec![flag];
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(message);
    out
}

/// `bytes` as DATA frames cut at `cuts`.
fn data_frames(bytes: &[u8], cuts: &[usize]) -> Vec<Frame<Bytes>> {
    let mut frames = Vec::new();
    let mut start = 0;
    for &cut in cuts.iter().chain(std::iter::once(&bytes.len())) {
        frames.push(Frame::data(Bytes::copy_from_slice(&bytes[start..cut])));
        start = cut;
    }
    frames
}

/// Calls `path` (under package `P`) with `headers` and a body of `frames`, and renders the
/// answer: the status, each header, each DATA frame in hex, each trailer, in order.
async fn call<P: Package>(
    path: &str,
    headers: &[(&'static str, &'static str)],
    frames: Vec<Frame<Bytes>>,
) -> String {
    let body = StreamBody::new(futures::stream::iter(
        frames.into_iter().map(Ok::<_, Infallible>),
    ));
    let mut req = http::Request::builder()
        .method("POST")
        .uri(format!("http://localhost/{}/{path}", P::SERVICE))
        .header("content-type", "application/grpc")
        .header("te", "trailers");
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    let req = req.body(body).expect("a valid request");
    let service = PluginService::<P>::new(Arc::new(Continue));
    let Ok(answer) = service.call(req).await;
    let (parts, mut body) = answer.into_parts();
    let mut out = format!("{:?} {}\n", parts.version, parts.status);
    for (name, value) in &parts.headers {
        let _ = writeln!(out, "h {name}: {}", value.to_str().unwrap_or("<bytes>"));
    }
    while let Some(frame) = body.frame().await {
        let frame = frame.expect("the answer body does not fail");
        match frame.into_data() {
            Ok(data) => {
                let hex: String = data.iter().map(|b| format!("{b:02x}")).collect();
                let _ = writeln!(out, "d {hex}");
            }
            Err(frame) => {
                let trailers = frame.into_trailers().expect("data or trailers");
                for (name, value) in &trailers {
                    let _ = writeln!(out, "t {name}: {}", value.to_str().unwrap_or("<bytes>"));
                }
            }
        }
    }
    out
}

/// The answer to `request("tool_pre_invoke", "P")`: one DATA frame, then `grpc-status: 0`.
const SUCCESS: &str = "HTTP/2.0 200 OK\nh content-type: application/grpc\n\
    d 00000000200a0150121b0a190a13636f6e74696e75655f70726f63657373696e6712022001\n\
    t grpc-status: 0\n";

/// A trailers-only answer with `status` and `message` (percent-encoded).
fn refused(status: u8, message: &str) -> String {
    format!(
        "HTTP/1.1 200 OK\nh content-type: application/grpc\nh grpc-status: {status}\n\
         h grpc-message: {message}\n"
    )
}

#[tokio::test]
async fn success_in_one_frame_under_both_packages() {
    let body = framed(0, &request("tool_pre_invoke", "P"));
    let cpex = call::<Cpex>("InvokeHook", &[], data_frames(&body, &[])).await;
    assert_eq!(cpex, SUCCESS);
    let old = call::<Mcpgateway>("InvokeHook", &[], data_frames(&body, &[])).await;
    assert_eq!(old, SUCCESS);
}

#[tokio::test]
async fn success_with_the_prefix_and_message_split_and_request_trailers() {
    let body = framed(0, &request("tool_pre_invoke", "P"));
    let mut frames = data_frames(&body, &[2, 4, 9]);
    frames.push(Frame::trailers(http::HeaderMap::new()));
    assert_eq!(call::<Cpex>("InvokeHook", &[], frames).await, SUCCESS);
}

#[tokio::test]
async fn identity_encoding_is_accepted() {
    let body = framed(0, &request("tool_pre_invoke", "P"));
    let headers = [("grpc-encoding", "identity")];
    let answer = call::<Cpex>("InvokeHook", &headers, data_frames(&body, &[])).await;
    assert_eq!(answer, SUCCESS);
}

#[tokio::test]
async fn a_second_message_is_decoded_and_ignored() {
    let mut body = framed(0, &request("tool_pre_invoke", "P"));
    body.extend(framed(0, &request("other", "Q")));
    let answer = call::<Cpex>("InvokeHook", &[], data_frames(&body, &[])).await;
    assert_eq!(answer, SUCCESS);
}

#[tokio::test]
async fn missing_names_are_invalid_argument() {
    let body = framed(0, &request("tool_pre_invoke", ""));
    let answer = call::<Cpex>("InvokeHook", &[], data_frames(&body, &[])).await;
    assert_eq!(
        answer,
        refused(
            3,
            "InvokeHookRequest.plugin_name%20is%20required%20and%20was%20empty",
        )
    );
    let body = framed(0, &request("", "P"));
    let answer = call::<Cpex>("InvokeHook", &[], data_frames(&body, &[])).await;
    assert_eq!(
        answer,
        refused(
            3,
            "InvokeHookRequest.hook_type%20is%20required%20and%20was%20empty",
        )
    );
}

#[tokio::test]
async fn garbage_is_internal() {
    let body = framed(0, &[0x0a, 0x05, b'a']);
    let answer = call::<Cpex>("InvokeHook", &[], data_frames(&body, &[])).await;
    assert_eq!(
        answer,
        refused(
            13,
            "failed%20to%20decode%20Protobuf%20message:%20InvokeHookRequest.hook_type:\
         %20buffer%20underflow",
        )
    );
}

#[tokio::test]
async fn a_bad_second_message_fails_the_call() {
    let mut body = framed(0, &request("tool_pre_invoke", "P"));
    body.extend(framed(0, &[0xff]));
    let answer = call::<Cpex>("InvokeHook", &[], data_frames(&body, &[])).await;
    assert_eq!(
        answer,
        refused(
            13,
            "failed%20to%20decode%20Protobuf%20message:%20invalid%20varint"
        )
    );
}

#[tokio::test]
async fn compression_is_refused() {
    let body = framed(1, &request("tool_pre_invoke", "P"));
    let answer = call::<Cpex>("InvokeHook", &[], data_frames(&body, &[])).await;
    assert_eq!(
        answer,
        refused(
            13,
            "protocol%20error:%20received%20message%20with%20compressed-flag%20but%20no\
         %20grpc-encoding%20was%20specified",
        )
    );
    let body = framed(2, &request("tool_pre_invoke", "P"));
    let answer = call::<Cpex>("InvokeHook", &[], data_frames(&body, &[])).await;
    assert_eq!(
        answer,
        refused(
            13,
            "protocol%20error:%20received%20message%20with%20invalid%20compression%20flag:%202\
         %20(valid%20flags%20are%200%20and%201),%20while%20sending%20request",
        )
    );
    let body = framed(0, &request("tool_pre_invoke", "P"));
    let headers = [("grpc-encoding", "gzip")];
    let answer = call::<Cpex>("InvokeHook", &headers, data_frames(&body, &[])).await;
    assert_eq!(answer, "HTTP/1.1 200 OK\nh content-type: application/grpc\n\
         h grpc-accept-encoding: identity\nh grpc-status: 12\n\
         h grpc-message: Content%20is%20compressed%20with%20%60gzip%60%20which%20isn't%20supported\n");
}

#[tokio::test]
async fn an_oversized_message_is_refused_from_its_prefix() {
    let mut prefix = vec![0];
    prefix.extend_from_slice(&(4 * 1024 * 1024 + 1u32).to_be_bytes());
    let answer = call::<Cpex>("InvokeHook", &[], data_frames(&prefix, &[])).await;
    assert_eq!(
        answer,
        refused(
            11,
            "Error,%20decoded%20message%20length%20too%20large:%20found%204194305%20bytes,\
         %20the%20limit%20is:%204194304%20bytes",
        )
    );
}

#[tokio::test]
async fn an_empty_or_cut_body_is_internal() {
    let answer = call::<Cpex>("InvokeHook", &[], Vec::new()).await;
    assert_eq!(answer, refused(13, "Missing%20request%20message."));
    let body = framed(0, &request("tool_pre_invoke", "P"));
    let cut = &body[..body.len() - 1];
    let answer = call::<Cpex>("InvokeHook", &[], data_frames(cut, &[3])).await;
    assert_eq!(answer, refused(13, "Unexpected%20EOF%20decoding%20stream."));
    let answer = call::<Cpex>("InvokeHook", &[], data_frames(&body[..3], &[])).await;
    assert_eq!(answer, refused(13, "Unexpected%20EOF%20decoding%20stream."));
}

#[tokio::test]
async fn an_unknown_method_is_unimplemented() {
    let body = framed(0, &request("tool_pre_invoke", "P"));
    let answer = call::<Cpex>("Nope", &[], data_frames(&body, &[])).await;
    assert_eq!(
        answer,
        "HTTP/1.1 200 OK\nh content-type: application/grpc\nh grpc-status: 12\n"
    );
}
