//! The gRPC port's operations, as the MCP port's: the connection cap refuses the (cap+1)th
//! connection; a drain answers the call in flight, refuses new connections, and closes what
//! is still busy at the deadline; and a Unix-socket client sending grpcio's `:authority` (the
//! percent-encoded socket path) is answered instead of reset.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use common::{install_crypto, server_manager, Pki};
use plugwire_client::grpc::{GrpcClient, GrpcOptions, GrpcTarget};
use plugwire_grpc::hpack;
use plugwire_grpc::Era;
use plugwire_mcp::{InvokeHookArgs, RawInvokeHookArgs, TextResultWriter};
use plugwire_server::{Backend, ConnLimits, ManagerBackend};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;
use tokio::sync::{oneshot, Notify};

/// A backend whose hook calls wait until released, so a test can hold a call in flight.
struct Held {
    inner: ManagerBackend,
    entered: Arc<Notify>,
    release: Arc<Notify>,
}

#[async_trait::async_trait]
impl Backend for Held {
    fn plugin_configs(&self) -> Vec<Value> {
        self.inner.plugin_configs()
    }
    async fn invoke_hook(&self, args: RawInvokeHookArgs<'_>, out: &mut TextResultWriter) {
        self.entered.notify_one();
        self.release.notified().await;
        self.inner.invoke_hook(args, out).await
    }
}

struct Server {
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

async fn unix_server(path: &Path, backend: Arc<dyn Backend>, limits: ConnLimits) -> Server {
    let listener = plugwire_server::raw_socket::bind_unix_0600(path, "test").unwrap();
    let (stop, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        plugwire_server::grpc::run_unix(listener, backend, limits, async {
            let _ = rx.await;
        })
        .await
        .unwrap();
    });
    Server { stop, task }
}

fn client(path: &Path) -> GrpcClient {
    GrpcClient::new(
        "Scrubber",
        GrpcOptions {
            target: GrpcTarget::Unix(path.to_path_buf()),
            era: Era::Cpex,
            timeout: Duration::from_secs(20),
            connect_timeout: Duration::from_secs(5),
        },
    )
    .unwrap()
}

fn args(q: &str) -> InvokeHookArgs {
    let Value::Object(payload) = json!({"name": "search", "args": {"q": q}}) else {
        unreachable!()
    };
    let Value::Object(context) = json!({"state": {}, "metadata": {},
        "global_context": {"request_id": "r1", "state": {}, "metadata": {}}})
    else {
        unreachable!()
    };
    InvokeHookArgs {
        hook_type: "tool_pre_invoke".into(),
        plugin_name: "Scrubber".into(),
        payload,
        context,
    }
}

/// Whether the server serves this connection: an HTTP/2 server speaks first (its SETTINGS),
/// a refused connection is closed without a byte.
async fn served<S: AsyncReadExt + Unpin>(conn: &mut S) -> bool {
    let mut buf = [0u8; 9];
    match tokio::time::timeout(Duration::from_secs(10), conn.read(&mut buf)).await {
        Ok(Ok(n)) => n > 0,
        Ok(Err(_)) => false,
        Err(_) => panic!("the server neither served nor closed the connection"),
    }
}

#[tokio::test]
async fn the_connection_over_the_cap_is_refused_and_a_freed_slot_is_reused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("grpc.sock");
    let backend = Arc::new(ManagerBackend::new(server_manager().await));
    let limits = ConnLimits {
        max_connections: 2,
        ..ConnLimits::default()
    };
    let srv = unix_server(&path, backend, limits).await;
    let mut first = UnixStream::connect(&path).await.unwrap();
    assert!(served(&mut first).await);
    let mut second = UnixStream::connect(&path).await.unwrap();
    assert!(served(&mut second).await);
    let mut third = UnixStream::connect(&path).await.unwrap();
    assert!(
        !served(&mut third).await,
        "the third connection is over the cap of 2"
    );

    // Closing one frees its slot (once the server has seen it close).
    drop(first);
    let mut admitted = false;
    for _ in 0..100 {
        let mut again = UnixStream::connect(&path).await.unwrap();
        if served(&mut again).await {
            admitted = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        admitted,
        "a slot freed by a closed connection is never reused"
    );
    // Silent connections would hold the drain until its deadline.
    drop((second, third));
    let _ = srv.stop.send(());
    tokio::time::timeout(Duration::from_secs(20), srv.task)
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn tls_port_refuses_the_connection_over_the_cap() {
    install_crypto();
    let pki = Pki::new();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let backend: Arc<dyn Backend> = Arc::new(ManagerBackend::new(server_manager().await));
    let limits = ConnLimits {
        max_connections: 1,
        ..ConnLimits::default()
    };
    let (stop, rx) = oneshot::channel::<()>();
    let tls = pki.server_config(false).into();
    let task = tokio::spawn(async move {
        plugwire_server::grpc::run_tls(listener, tls, backend, limits, async {
            let _ = rx.await;
        })
        .await
        .unwrap();
    });
    // The first connection sends nothing yet: it holds the only slot, waiting for its
    // ClientHello (the server stays silent before a handshake).
    let mut first = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut second = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut buf = [0u8; 1];
    let closed = tokio::time::timeout(Duration::from_secs(8), second.read(&mut buf)).await;
    assert!(
        matches!(closed, Ok(Ok(0)) | Ok(Err(_))),
        "the connection over the cap was not closed: {closed:?}"
    );
    let waiting = tokio::time::timeout(Duration::from_millis(300), first.read(&mut buf)).await;
    assert!(
        waiting.is_err(),
        "the first connection was closed: {waiting:?}"
    );
    first.shutdown().await.unwrap();
    let _ = stop.send(());
    tokio::time::timeout(Duration::from_secs(20), task)
        .await
        .unwrap()
        .unwrap();
}

fn held_backend() -> (
    Arc<Notify>,
    Arc<Notify>,
    impl std::future::Future<Output = Arc<dyn Backend>>,
) {
    let entered = Arc::new(Notify::new());
    let release = Arc::new(Notify::new());
    let (e, r) = (Arc::clone(&entered), Arc::clone(&release));
    let make = async move {
        Arc::new(Held {
            inner: ManagerBackend::new(server_manager().await),
            entered: e,
            release: r,
        }) as Arc<dyn Backend>
    };
    (entered, release, make)
}

#[tokio::test]
async fn drain_answers_the_call_in_flight_and_refuses_new_connections() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("grpc.sock");
    let (entered, release, make) = held_backend();
    let srv = unix_server(&path, make.await, ConnLimits::default()).await;
    let c = client(&path);
    let call = tokio::spawn(async move { c.invoke_hook(args("crap")).await });
    entered.notified().await;

    let _ = srv.stop.send(());
    // The listener closes at once: new connections are refused while the call is still held.
    let mut refused = false;
    for _ in 0..200 {
        if UnixStream::connect(&path).await.is_err() {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(refused, "new connections are still accepted while draining");
    assert!(
        !srv.task.is_finished(),
        "the server stopped before its call was answered"
    );

    release.notify_one();
    let answer = call.await.unwrap().unwrap();
    assert_eq!(
        answer.result.unwrap()["modified_payload"]["args"]["q"],
        json!("crud"),
        "the call in flight is answered in full"
    );
    tokio::time::timeout(Duration::from_secs(20), srv.task)
        .await
        .expect("the drain did not end after its last call")
        .unwrap();
}

#[tokio::test]
async fn drain_deadline_closes_a_call_that_never_ends() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("grpc.sock");
    let (entered, _release, make) = held_backend();
    let limits = ConnLimits {
        drain_timeout: Duration::from_millis(200),
        ..ConnLimits::default()
    };
    let srv = unix_server(&path, make.await, limits).await;
    let c = client(&path);
    let call = tokio::spawn(async move { c.invoke_hook(args("crap")).await });
    entered.notified().await;
    let _ = srv.stop.send(());
    tokio::time::timeout(Duration::from_secs(20), srv.task)
        .await
        .expect("the server waited past its drain deadline")
        .unwrap();
    let outcome = tokio::time::timeout(Duration::from_secs(20), call)
        .await
        .unwrap()
        .unwrap();
    assert!(
        outcome.is_err(),
        "a call cut by the deadline cannot succeed: {outcome:?}"
    );
}

/// The client preface, SETTINGS, and one `grpc.health.v1.Health/Check` call whose headers
/// carry `:authority` as grpcio writes it on a Unix socket.
fn grpcio_style_request(authority: &str) -> Vec<u8> {
    fn frame(out: &mut Vec<u8>, kind: u8, flags: u8, stream: u32, payload: &[u8]) {
        let len = payload.len();
        out.extend_from_slice(&[(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags]);
        out.extend_from_slice(&stream.to_be_bytes());
        out.extend_from_slice(payload);
    }
    let mut block = vec![0x83, 0x86]; // :method POST, :scheme http
    let path = b"/grpc.health.v1.Health/Check";
    block.push(0x44); // :path, incremental indexing
    block.push(path.len() as u8);
    block.extend_from_slice(path);
    block.push(0x41); // :authority, incremental indexing (as grpc-core does)
    block.push(authority.len() as u8);
    block.extend_from_slice(authority.as_bytes());
    for (n, v) in [("content-type", "application/grpc"), ("te", "trailers")] {
        block.extend_from_slice(&[0x00, n.len() as u8]);
        block.extend_from_slice(n.as_bytes());
        block.push(v.len() as u8);
        block.extend_from_slice(v.as_bytes());
    }
    let mut out = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    frame(&mut out, 0x4, 0, 0, &[]);
    frame(&mut out, 0x1, 0x4, 1, &block);
    frame(&mut out, 0x0, 0x1, 1, &[0, 0, 0, 0, 0]); // empty HealthCheckRequest
    out
}

#[tokio::test]
async fn a_percent_encoded_socket_path_as_authority_is_answered_not_reset() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("grpc.sock");
    let backend = Arc::new(ManagerBackend::new(server_manager().await));
    let srv = unix_server(&path, backend, ConnLimits::default()).await;
    let mut conn = UnixStream::connect(&path).await.unwrap();
    let authority = path.display().to_string().replace('/', "%2F");
    conn.write_all(&grpcio_style_request(&authority))
        .await
        .unwrap();

    // Read frames until stream 1 ends: a reset (the bug) or the response with trailers.
    let mut decoder = hpack::Decoder::new(4096);
    let mut data = Vec::new();
    let mut status = None;
    let mut buf = Vec::new();
    loop {
        while buf.len() >= 9 {
            let len = usize::from(buf[0]) << 16 | usize::from(buf[1]) << 8 | usize::from(buf[2]);
            if buf.len() < 9 + len {
                break;
            }
            let (kind, flags) = (buf[3], buf[4]);
            let stream = u32::from_be_bytes([buf[5], buf[6], buf[7], buf[8]]) & 0x7fff_ffff;
            let payload = buf[9..9 + len].to_vec();
            buf.drain(..9 + len);
            assert!(
                !(kind == 0x3 && stream == 1),
                "stream 1 was reset: {payload:?}"
            );
            if kind == 0x1 && stream == 1 {
                for (n, v) in decoder.decode(&payload).unwrap() {
                    if n == b"grpc-status" {
                        status = Some(String::from_utf8(v).unwrap());
                    }
                }
            }
            if kind == 0x0 && stream == 1 {
                data.extend_from_slice(&payload);
            }
            if stream == 1 && flags & 0x1 != 0 {
                assert_eq!(status.as_deref(), Some("0"), "grpc-status");
                // One message: not compressed, 2 bytes, field 1 = SERVING (1).
                assert_eq!(data, vec![0, 0, 0, 0, 2, 0x08, 0x01]);
                let _ = srv.stop.send(());
                drop(conn);
                tokio::time::timeout(Duration::from_secs(20), srv.task)
                    .await
                    .unwrap()
                    .unwrap();
                return;
            }
        }
        let mut chunk = [0u8; 4096];
        let n = tokio::time::timeout(Duration::from_secs(10), conn.read(&mut chunk))
            .await
            .expect("no answer")
            .unwrap();
        assert!(n > 0, "the server closed the connection without answering");
        buf.extend_from_slice(&chunk[..n]);
    }
}

#[tokio::test]
async fn health_check_asks_the_standard_service_then_upstreams() {
    use plugwire_client::grpc::HealthService;
    use plugwire_grpc::pb::mcpgateway::plugins::health_server::HealthServer;

    let dir = tempfile::tempdir().unwrap();
    // plugwire serves grpc.health.v1: that answers.
    let path = dir.path().join("plugwire.sock");
    let backend = Arc::new(ManagerBackend::new(server_manager().await));
    let srv = unix_server(&path, backend, ConnLimits::default()).await;
    let (service, serving) = client(&path).health_check().await.unwrap();
    assert_eq!((service, serving), (HealthService::Standard, true));
    assert_eq!(service.name(), "grpc.health.v1.Health");
    let _ = srv.stop.send(());
    srv.task.await.unwrap();

    // A server with only the 1.0.x package's own Health (as upstream's Python server): the
    // standard check is UNIMPLEMENTED, then `cpex.Health` too, then `mcpgateway.plugins.Health`.
    let path = dir.path().join("upstream.sock");
    let listener = tokio::net::UnixListener::bind(&path).unwrap();
    let incoming = futures::stream::unfold(listener, |l| async move {
        let accepted = l.accept().await.map(|(s, _)| s);
        Some((accepted, l))
    });
    let (stop, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(HealthServer::new(plugwire_server::grpc::UpstreamHealth))
            .serve_with_incoming_shutdown(incoming, async {
                let _ = rx.await;
            }),
    );
    let c = client(&path);
    let (service, serving) = c.health_check().await.unwrap();
    assert_eq!(
        (service, serving),
        (HealthService::Upstream(Era::Mcpgateway), true)
    );
    assert_eq!(service.name(), "mcpgateway.plugins.Health");
    assert_eq!(
        c.era(),
        Era::Mcpgateway,
        "the old package is kept from then on"
    );
    let _ = stop.send(());
    task.await.unwrap().unwrap();
}
