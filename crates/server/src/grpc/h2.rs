//! The HTTP/2 server under the gRPC services: our own accept loop driving hyper's
//! `server::conn::http2` per connection, with one service ([`PluginGrpc`]) that dispatches on
//! the path.
//!
//! tonic's transport server was this plus what plugwire does not use: an axum router in front
//! of the services, per-call tower layers (error recovery, load shedding and concurrency limits
//! left unset, the `grpc-timeout` deadline, connect info in the request's extensions), the
//! request body boxed into tonic's own, and hyper-util's HTTP/1-or-2 connection sniffing. Those
//! were 6-8k instructions of a gRPC call's ~140k (callgrind). The HTTP/2 settings are tonic's:
//! no limit on concurrent streams, no keep-alive pings, flow-control windows at hyper's
//! defaults (1 MiB per connection, so hyper sends a `WINDOW_UPDATE` every few hundred calls,
//! not per call); except that answers carry no `date` header (see [`builder`]). A call's deadline is the
//! client's to keep: when it passes, the client resets the stream and hyper drops the call.
//!
//! Each connection runs in its own task, and its calls in that task too (see the `inline`
//! module), its writes corked until the task waits (see the `cork` module): on the drain it
//! sends `GOAWAY` and finishes the calls in flight; the loop then waits for every connection to
//! close (bounded by the drain deadline, see the `accept` module).

use std::convert::Infallible;
use std::io;
use std::sync::Arc;

use futures::{Stream, StreamExt};
use hyper::body::Incoming;
use hyper::server::conn::http2;
use hyper_util::rt::{TokioIo, TokioTimer};
use plugwire_grpc::pb::cpex as pb;
use plugwire_grpc::pb::mcpgateway::plugins as old;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;
use tonic::body::Body;
use tonic::codegen::http;
use tonic::server::NamedService;
use tonic::Status;
use tonic_health::pb::health_server::HealthServer as StandardHealthServer;
use tonic_health::server::{HealthReporter, HealthService};
use tonic_health::ServingStatus;

use super::cork::{self, Corked};
use super::inline::{InlineExec, Streams};
use super::service::{self, Answer, Package, PluginService};
use super::{Gate, UpstreamHealth};
use crate::backend::Backend;

type CpexHealth = pb::health_server::HealthServer<UpstreamHealth>;
type OldHealth = old::health_server::HealthServer<UpstreamHealth>;
type StandardHealth = StandardHealthServer<HealthService>;

/// Every service of the module doc of `grpc`, for one backend, as one hyper service: a call
/// goes to the service its path names (`/<service>/<method>`); an unknown service is
/// `UNIMPLEMENTED`, as an unknown method of a known one.
#[derive(Clone)]
pub struct PluginGrpc {
    cpex: PluginService<service::Cpex>,
    mcpgateway: PluginService<service::Mcpgateway>,
    cpex_health: CpexHealth,
    old_health: OldHealth,
    standard_health: StandardHealth,
    /// The standard service's statuses, to report the drain to its `Watch` streams.
    standard_status: HealthReporter,
}

impl PluginGrpc {
    /// Wraps the backend every transport uses.
    pub fn new(backend: Arc<dyn Backend>) -> Self {
        // The standard service answers `SERVING` for the server as a whole (service "").
        let reporter = HealthReporter::new();
        PluginGrpc {
            cpex: PluginService::new(Arc::clone(&backend)),
            mcpgateway: PluginService::new(backend),
            cpex_health: CpexHealth::new(UpstreamHealth),
            old_health: OldHealth::new(UpstreamHealth),
            standard_health: StandardHealth::new(HealthService::from_health_reporter(
                reporter.clone(),
            )),
            standard_status: reporter,
        }
    }

    /// On the drain: `NOT_SERVING` to every `Watch` stream of the standard service, which then
    /// ends. A gRPC client that health-checks its channel keeps one such stream open for the
    /// connection's life; without an end it would hold the connection, and the drain, until the
    /// drain deadline. `Check` answers `NOT_SERVING` from then on.
    async fn report_draining(&self) {
        let mut status = self.standard_status.clone();
        status
            .set_service_status("", ServingStatus::NotServing)
            .await;
        // Dropping the service's sender ends its watchers' streams after that last status.
        status.clear_service_status("").await;
        status
            .set_service_status("", ServingStatus::NotServing)
            .await;
    }
}

impl hyper::service::Service<http::Request<Incoming>> for PluginGrpc {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = Answer;

    fn call(&self, req: http::Request<Incoming>) -> Answer {
        let service = req
            .uri()
            .path()
            .strip_prefix('/')
            .and_then(|p| p.split_once('/'))
            .map(|(service, _)| service);
        match service {
            Some(service::Cpex::SERVICE) => self.cpex.call(req),
            Some(service::Mcpgateway::SERVICE) => self.mcpgateway.call(req),
            Some(CpexHealth::NAME) => tower_call(self.cpex_health.clone(), req),
            Some(OldHealth::NAME) => tower_call(self.old_health.clone(), req),
            Some(StandardHealth::NAME) => tower_call(self.standard_health.clone(), req),
            _ => Box::pin(async { Ok(Status::unimplemented("").into_http()) }),
        }
    }
}

/// One call to a tonic-generated server (a tower service), as the health services are served;
/// they are off the hot path, so a box per call is of no account.
fn tower_call<S>(mut svc: S, req: http::Request<Incoming>) -> Answer
where
    S: tower_service::Service<
            http::Request<Incoming>,
            Response = http::Response<Body>,
            Error = Infallible,
        > + Send
        + 'static,
    S::Future: Send + 'static,
{
    Box::pin(async move {
        futures::future::poll_fn(|cx| svc.poll_ready(cx)).await?;
        svc.call(req).await
    })
}

/// The HTTP/2 settings of the module doc, for one connection whose streams run on `exec`.
fn builder(exec: InlineExec) -> http2::Builder<InlineExec> {
    let mut builder = http2::Builder::new(exec);
    builder
        .timer(TokioTimer::new())
        .max_concurrent_streams(None)
        // No `date` on answers: gRPC clients do not read it (C-core, grpc-go and tonic alike),
        // and it cost a header and its HPACK encoding per answer.
        .auto_date_header(false);
    builder
}

/// Serves every connection of `incoming` until the drain starts (which also ends `incoming`,
/// closing the listener), then waits for the connections to close.
pub(super) async fn serve<S, IO>(grpc: PluginGrpc, incoming: S, gate: Gate) -> io::Result<()>
where
    S: Stream<Item = io::Result<IO>>,
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    // Each connection's task holds a sender; `recv` gives `None` once all are gone.
    let (alive, mut all_closed) = mpsc::channel::<()>(1);
    {
        let mut incoming = std::pin::pin!(incoming);
        loop {
            let io = tokio::select! {
                () = gate.stopping() => break,
                io = incoming.next() => match io {
                    Some(Ok(io)) => io,
                    Some(Err(e)) => {
                        tracing::debug!("gRPC connection not served: {e}");
                        continue;
                    }
                    None => break,
                },
            };
            let exec = InlineExec::default();
            let (io, release) = cork::cork(io);
            let conn = builder(exec.clone()).serve_connection(TokioIo::new(io), grpc.clone());
            tokio::spawn(connection(
                conn,
                Streams::new(exec, release),
                gate.clone(),
                alive.clone(),
            ));
        }
    }
    grpc.report_draining().await;
    drop(alive);
    let _ = all_closed.recv().await;
    Ok(())
}

/// Drives one connection and its calls (see the `inline` module) to its end; on the drain,
/// `GOAWAY` and the calls in flight finished.
async fn connection<IO>(
    conn: http2::Connection<TokioIo<Corked<IO>>, PluginGrpc, InlineExec>,
    mut streams: Streams,
    gate: Gate,
    _alive: mpsc::Sender<()>,
) where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut conn = std::pin::pin!(conn);
    let ended = tokio::select! {
        r = streams.drive(conn.as_mut()) => r,
        () = gate.stopping() => {
            conn.as_mut().graceful_shutdown();
            streams.drive(conn).await
        }
    };
    if let Err(e) = ended {
        tracing::debug!("gRPC connection ended: {e}");
    }
}
