//! One package's `PluginService`: `InvokeHook` answered by hand, the rest on tonic's
//! `server::Grpc`.
//!
//! `InvokeHook`, the method every hook call is, is answered on the HTTP request itself (see the
//! `unary` module): the same frames as tonic's unary path, without its per-call wrappers, and
//! with the bytes the backend encoded straight from the typed result
//! ([`Backend::invoke_hook_proto`]) rather than a `pb::InvokeHookResponse` whose `Struct` is a
//! tree of JSON values. The two config methods are off the hot path and answered as the
//! generated server answered them, through tonic's unary path with tonic's codec settings (no
//! compression, default message sizes) and one change to the codec: a request is decoded from
//! one slice ([`SliceCodec`]). An unknown method is `UNIMPLEMENTED` as there.

use std::convert::Infallible;
use std::future::Future;
use std::marker::PhantomData;
use std::sync::Arc;

use bytes::Bytes;
use futures::future::BoxFuture;
use futures::FutureExt;
use plugwire_grpc::convert;
use plugwire_grpc::pb::cpex as pb;
use prost::bytes::Buf;
use prost::Message;
use tonic::body::Body;
use tonic::codec::{Codec, DecodeBuf, Decoder};
use tonic::codegen::{http, Body as HttpBody, StdError};
use tonic::server::{Grpc, UnaryService};
use tonic::{Request, Response, Status};
use tonic_prost::ProstEncoder;

use super::unary;
use crate::backend::Backend;

/// A proto package the plugin service is served under.
pub(crate) trait Package: Send + Sync + 'static {
    /// `<package>.PluginService`.
    const SERVICE: &'static str;
}

/// ContextForge 1.1.0's package.
pub(crate) struct Cpex;
/// ContextForge 1.0.x's package.
pub(crate) struct Mcpgateway;

impl Package for Cpex {
    const SERVICE: &'static str = "cpex.PluginService";
}
impl Package for Mcpgateway {
    const SERVICE: &'static str = "mcpgateway.plugins.PluginService";
}

/// The plugin service of package `P`.
pub(crate) struct PluginService<P> {
    backend: Arc<dyn Backend>,
    package: PhantomData<fn() -> P>,
}

impl<P> PluginService<P> {
    pub(crate) fn new(backend: Arc<dyn Backend>) -> Self {
        PluginService {
            backend,
            package: PhantomData,
        }
    }
}

impl<P> Clone for PluginService<P> {
    fn clone(&self) -> Self {
        Self::new(Arc::clone(&self.backend))
    }
}

/// A call's answer, as the HTTP/2 server takes it.
pub(crate) type Answer = BoxFuture<'static, Result<http::Response<Body>, Infallible>>;

/// A unary method as a closure.
struct Unary<F>(F);

impl<Req, Resp, F, Fut> UnaryService<Req> for Unary<F>
where
    F: FnMut(Request<Req>) -> Fut,
    Fut: Future<Output = Result<Response<Resp>, Status>>,
{
    type Response = Resp;
    type Future = Fut;
    fn call(&mut self, request: Request<Req>) -> Fut {
        (self.0)(request)
    }
}

impl<P: Package> PluginService<P> {
    /// Answers one call whose path is under `/<package>.PluginService/`.
    pub(crate) fn call<B>(&self, req: http::Request<B>) -> Answer
    where
        B: HttpBody<Data = Bytes> + Send + 'static,
        B::Error: Into<StdError> + Send + 'static,
    {
        let method = req
            .uri()
            .path()
            .strip_prefix('/')
            .and_then(|p| p.strip_prefix(P::SERVICE))
            .and_then(|p| p.strip_prefix('/'));
        let backend = Arc::clone(&self.backend);
        match method {
            Some("InvokeHook") => Box::pin(unary::invoke_hook(backend, req).map(Ok)),
            Some("GetPluginConfig") => Box::pin(async move {
                let codec = SliceCodec::<_, pb::GetPluginConfigRequest>::default();
                let method = Unary(move |r: Request<pb::GetPluginConfigRequest>| {
                    let config = backend.plugin_config(&r.get_ref().name);
                    let answer = convert::config_response(config.as_ref());
                    std::future::ready(Ok(Response::new(answer)))
                });
                Ok(Grpc::new(codec).unary(method, req).await)
            }),
            Some("GetPluginConfigs") => Box::pin(async move {
                let codec = SliceCodec::<_, pb::GetPluginConfigsRequest>::default();
                let method = Unary(move |_: Request<pb::GetPluginConfigsRequest>| {
                    let answer = convert::configs_response(&backend.plugin_configs());
                    std::future::ready(Ok(Response::new(answer)))
                });
                Ok(Grpc::new(codec).unary(method, req).await)
            }),
            _ => Box::pin(async { Ok(Status::unimplemented("").into_http()) }),
        }
    }
}

/// prost's codec, except that a request is decoded from the message's bytes as one slice:
/// tonic hands the decoder a `DecodeBuf` over a `BytesMut`, and prost reading through it pays
/// the `Buf` bookkeeping for every field and value (profiled: about 4 % of a gRPC call, in
/// `BytesMut::advance_unchecked`), where reading a slice is a pointer bump. The bytes are the
/// same, so the message and every decode error are too.
struct SliceCodec<E, D>(PhantomData<fn() -> (E, D)>);

impl<E, D> Default for SliceCodec<E, D> {
    fn default() -> Self {
        SliceCodec(PhantomData)
    }
}

impl<E, D> Codec for SliceCodec<E, D>
where
    E: Message + Send + 'static,
    D: Message + Default + Send + 'static,
{
    type Encode = E;
    type Decode = D;
    type Encoder = ProstEncoder<E>;
    type Decoder = SliceDecoder<D>;

    fn encoder(&mut self) -> Self::Encoder {
        ProstEncoder::default()
    }

    fn decoder(&mut self) -> Self::Decoder {
        SliceDecoder(PhantomData)
    }
}

/// The decoder of [`SliceCodec`].
struct SliceDecoder<D>(PhantomData<fn() -> D>);

impl<D: Message + Default> Decoder for SliceDecoder<D> {
    type Item = D;
    type Error = Status;

    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<D>, Status> {
        let len = buf.remaining();
        let decoded = match buf.chunk().get(..len) {
            Some(bytes) => {
                let decoded = D::decode(bytes);
                buf.advance(len);
                decoded
            }
            // Not contiguous (tonic's buffer always is): read through the buffer.
            None => D::decode(&mut *buf),
        };
        // As prost's codec: a message that does not parse is INTERNAL.
        decoded
            .map(Some)
            .map_err(|e| Status::internal(e.to_string()))
    }
}

#[cfg(test)]
#[path = "service_tests.rs"]
mod tests;
