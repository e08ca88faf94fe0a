//! Resource limits and graceful drain: stalled bodies, the connection cap, no call lost on
//! shutdown, the listener closed during the drain. Timeouts here only prove "does not hang".
#![allow(clippy::unwrap_used)]

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use http::StatusCode;
use plugwire_server::{ConnLimits, HostPolicy, DEFAULT_MAX_BODY_BYTES};
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

/// Generous bound that proves "closed, not held for ever".
const NO_HANG: Duration = Duration::from_secs(15);

async fn start_with(limits: ConnLimits) -> TestServer {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = app(
        Arc::new(FakeBackend),
        DEFAULT_MAX_BODY_BYTES,
        HostPolicy::new(true, &[]),
    );
    let (tx, rx) = oneshot::channel::<()>();
    let handle = tokio::spawn(plugwire_server::serve_tcp(
        listener,
        app,
        None,
        limits,
        async move {
            let _ = rx.await;
        },
    ));
    TestServer {
        addr,
        stop: Some(tx),
        handle,
    }
}

fn raw_request(addr: SocketAddr, body: &[u8]) -> Vec<u8> {
    let mut r = format!(
        "POST /mcp HTTP/1.1\r\nhost: localhost:{}\r\ncontent-type: application/json\r\naccept: application/json, text/event-stream\r\ncontent-length: {}\r\n\r\n",
        addr.port(),
        body.len()
    )
    .into_bytes();
    r.extend_from_slice(body);
    r
}

/// Reads one response: (status line, lower-cased head, body), or None on EOF before any byte.
async fn read_response<R: tokio::io::AsyncBufRead + Unpin>(
    r: &mut R,
) -> Option<(String, String, Vec<u8>)> {
    let mut head = String::new();
    loop {
        let mut line = String::new();
        let n = r.read_line(&mut line).await.unwrap_or(0);
        if n == 0 {
            assert!(head.is_empty(), "EOF inside a response head: {head:?}");
            return None;
        }
        head.push_str(&line);
        if line == "\r\n" {
            break;
        }
    }
    let lower = head.to_ascii_lowercase();
    let len: usize = lower
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .map(|v| v.trim().parse().unwrap())
        .unwrap_or(0);
    let mut body = vec![0; len];
    r.read_exact(&mut body).await.unwrap();
    let status = head.lines().next().unwrap_or_default().to_string();
    Some((status, lower, body))
}

fn echo_call(id: i64) -> Vec<u8> {
    serde_json::to_vec(&invoke(
        id,
        "Echo",
        "tool_pre_invoke",
        json!({"name": "t", "args": {}}),
    ))
    .unwrap()
}

#[tokio::test]
async fn stalled_body_is_closed_within_the_timeout_while_a_call_is_served() {
    let srv = start_with(ConnLimits {
        body_timeout: Duration::from_secs(1),
        ..ConnLimits::default()
    })
    .await;
    // Headers announce 1000 bytes; 10 arrive, then nothing.
    let mut stalled = TcpStream::connect(srv.addr).await.unwrap();
    let full = raw_request(srv.addr, &[b' '; 1000]);
    let cut = full.len() - 990;
    stalled.write_all(&full[..cut]).await.unwrap();

    let mut legit = Conn::tcp(srv.addr).await;
    let r = legit
        .rpc(invoke(
            1,
            "Echo",
            "tool_pre_invoke",
            json!({"name": "t", "args": {}}),
        ))
        .await;
    assert_eq!(r.status, StatusCode::OK);

    let mut reader = BufReader::new(stalled);
    let (status, head, _) = tokio::time::timeout(NO_HANG, read_response(&mut reader))
        .await
        .expect("a stalled body must not hold its connection")
        .expect("a 408 answer before the close");
    assert!(status.contains(" 408 "), "{status}");
    assert!(head.contains("connection: close"), "{head}");
    let mut rest = Vec::new();
    let n = tokio::time::timeout(NO_HANG, reader.read_to_end(&mut rest))
        .await
        .expect("closed after the 408");
    assert_eq!(n.unwrap_or(0), 0);
    srv.shutdown().await;
}

#[tokio::test]
async fn body_slower_than_the_minimum_rate_is_cut() {
    let srv = start_with(ConnLimits {
        body_timeout: Duration::from_secs(600),
        min_body_rate: 1000,
        ..ConnLimits::default()
    })
    .await;
    let full = raw_request(srv.addr, &[b' '; 100_000]);
    let cut = full.len() - 99_990;
    let stream = TcpStream::connect(srv.addr).await.unwrap();
    let (rd, mut wr) = stream.into_split();
    wr.write_all(&full[..cut]).await.unwrap();
    // One byte every 200 ms: 5 B/s, far below 1000 B/s.
    let trickle = tokio::spawn(async move {
        for b in &full[cut..] {
            if wr.write_all(std::slice::from_ref(b)).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    let mut reader = BufReader::new(rd);
    let (status, _, body) = tokio::time::timeout(NO_HANG, read_response(&mut reader))
        .await
        .expect("a trickling body must be cut")
        .expect("a 408 answer");
    assert!(status.contains(" 408 "), "{status}");
    assert!(String::from_utf8_lossy(&body).contains("PLUGINS_SERVER_BODY_MIN_RATE"));
    trickle.abort();
    srv.shutdown().await;
}

/// True when the server closed the connection without answering `request`.
async fn refused(addr: SocketAddr) -> bool {
    let Ok(mut s) = TcpStream::connect(addr).await else {
        return true;
    };
    let _ = s.write_all(&raw_request(addr, &echo_call(9))).await;
    let mut buf = [0u8; 16];
    match tokio::time::timeout(NO_HANG, s.read(&mut buf)).await {
        Err(_) => panic!("a connection over the cap must be closed, not left waiting"),
        Ok(Ok(0)) | Ok(Err(_)) => true,
        Ok(Ok(_)) => false,
    }
}

#[tokio::test]
async fn connections_over_the_cap_are_refused_at_accept() {
    let srv = start_with(ConnLimits {
        max_connections: 2,
        ..ConnLimits::default()
    })
    .await;
    let mut a = Conn::tcp(srv.addr).await;
    let mut b = Conn::tcp(srv.addr).await;
    for c in [&mut a, &mut b] {
        let r = c
            .rpc(invoke(
                1,
                "Echo",
                "tool_pre_invoke",
                json!({"name": "t", "args": {}}),
            ))
            .await;
        assert_eq!(r.status, StatusCode::OK);
    }
    assert!(refused(srv.addr).await, "a third connection was served");
    // The open ones keep working, and a slot freed is a slot usable again.
    let r = a
        .rpc(invoke(
            2,
            "Echo",
            "tool_pre_invoke",
            json!({"name": "t", "args": {}}),
        ))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    drop(b);
    let mut served = false;
    for _ in 0..100 {
        if !refused(srv.addr).await {
            served = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(served, "a freed slot was never given to a new connection");
    srv.shutdown().await;
}

/// 16 kept-alive connections calling back to back; shutdown in the middle. Every request that
/// was written gets an answer; the last answer of each connection says `connection: close`.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn drain_answers_every_call_sent_on_kept_alive_connections() {
    let srv = start_with(ConnLimits::default()).await;
    let addr = srv.addr;
    let mut clients = Vec::new();
    for c in 0..16 {
        clients.push(tokio::spawn(async move {
            let stream = TcpStream::connect(addr).await.unwrap();
            let (rd, mut wr) = stream.into_split();
            let mut rd = BufReader::new(rd);
            let (mut answered, mut lost, mut closed_cleanly) = (0u64, 0u64, false);
            for i in 0..1_000_000i64 {
                if wr
                    .write_all(&raw_request(addr, &echo_call(c * 1_000_000 + i)))
                    .await
                    .is_err()
                {
                    lost += 1;
                    break;
                }
                match read_response(&mut rd).await {
                    None => {
                        lost += 1;
                        break;
                    }
                    Some((status, head, _)) => {
                        assert!(status.contains(" 200 "), "{status}");
                        answered += 1;
                        if head.contains("connection: close") {
                            closed_cleanly = true;
                            break;
                        }
                    }
                }
            }
            (answered, lost, closed_cleanly)
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    srv.shutdown().await;
    let (mut answered, mut lost) = (0, 0);
    for c in clients {
        let (a, l, clean) = tokio::time::timeout(NO_HANG, c).await.unwrap().unwrap();
        answered += a;
        lost += l;
        assert!(
            clean,
            "a connection ended without a `connection: close` answer"
        );
    }
    assert!(answered > 16, "the load did not run ({answered} answers)");
    assert_eq!(
        lost, 0,
        "{lost} calls written but never answered ({answered} answered)"
    );
}

#[tokio::test]
async fn listener_refuses_new_connections_during_the_drain() {
    let srv = start_with(ConnLimits::default()).await;
    let addr = srv.addr;
    let mut busy = Conn::tcp(addr).await;
    // "Slow" answers after 500 ms: the drain waits for it.
    let call = tokio::spawn(async move {
        busy.rpc(invoke(
            1,
            "Slow",
            "tool_pre_invoke",
            json!({"name": "t", "args": {}}),
        ))
        .await
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let stop = tokio::spawn(srv.shutdown());
    tokio::time::sleep(Duration::from_millis(100)).await;
    let err = tokio::time::timeout(NO_HANG, TcpStream::connect(addr))
        .await
        .expect("connect must fail at once, not hang")
        .expect_err("a new connection was accepted during the drain");
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused, "{err}");
    let r = call.await.unwrap();
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.headers["connection"], "close");
    stop.await.unwrap();
}

/// Explicitly wrong media types are refused (415/406); missing headers are accepted (the
/// Python clients always send both, hand-written tools often none).
#[tokio::test]
async fn wrong_content_type_or_accept_is_refused_missing_is_accepted() {
    let srv = start_with(ConnLimits::default()).await;
    let body = echo_call(1);
    let mut c = Conn::tcp(srv.addr).await;
    let cases: [(&[(&str, &str)], StatusCode); 6] = [
        (
            &[("content-type", "text/plain")],
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (
            &[("content-type", "application/x-www-form-urlencoded")],
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (
            &[("accept", "text/event-stream")],
            StatusCode::NOT_ACCEPTABLE,
        ),
        (&[], StatusCode::OK),
        (
            &[
                ("accept", "*/*"),
                ("content-type", "application/json; charset=utf-8"),
            ],
            StatusCode::OK,
        ),
        (
            &[
                ("accept", "application/json, text/event-stream"),
                ("content-type", "application/json"),
            ],
            StatusCode::OK,
        ),
    ];
    for (headers, want) in cases {
        let r = c
            .send(http::Method::POST, "/mcp", headers, body.clone())
            .await
            .unwrap();
        assert_eq!(r.status, want, "{headers:?}");
        r.json();
    }
    srv.shutdown().await;
}

/// Reads until the server closes the connection; the bytes it sent before.
async fn until_closed(mut s: TcpStream) -> Vec<u8> {
    let mut got = Vec::new();
    tokio::time::timeout(NO_HANG, s.read_to_end(&mut got))
        .await
        .expect("the server must close the connection")
        .unwrap_or(0);
    got
}

#[tokio::test]
async fn header_read_timeout_closes_stalled_and_idle_connections_only() {
    let limit = Duration::from_millis(800);
    let srv = start_with(ConnLimits {
        header_read_timeout: limit,
        ..ConnLimits::default()
    })
    .await;
    // Half a request head, then nothing: closed without an answer, not before the limit.
    let start = tokio::time::Instant::now();
    let mut stalled = TcpStream::connect(srv.addr).await.unwrap();
    let full = raw_request(srv.addr, &echo_call(1));
    stalled.write_all(&full[..20]).await.unwrap();
    let idle = TcpStream::connect(srv.addr).await.unwrap();
    assert!(until_closed(stalled).await.is_empty());
    assert!(
        start.elapsed() >= limit,
        "closed after {:?}",
        start.elapsed()
    );
    // A connection that never sent anything goes the same way.
    assert!(until_closed(idle).await.is_empty());

    // Calls spaced below the limit keep a connection open well past it: the clock restarts
    // at each answer.
    let stream = TcpStream::connect(srv.addr).await.unwrap();
    let (rd, mut wr) = stream.into_split();
    let mut reader = BufReader::new(rd);
    let start = tokio::time::Instant::now();
    for id in 0..6 {
        wr.write_all(&raw_request(srv.addr, &echo_call(id)))
            .await
            .unwrap();
        let (status, _, _) = read_response(&mut reader)
            .await
            .expect("an answer on the kept-alive connection");
        assert!(status.contains(" 200 "), "{status}");
        tokio::time::sleep(limit / 2).await;
    }
    assert!(start.elapsed() > limit * 2);
    // Then idle: closed.
    let mut rest = Vec::new();
    tokio::time::timeout(NO_HANG, reader.read_to_end(&mut rest))
        .await
        .expect("an idle connection is closed after the limit")
        .unwrap_or(0);
    assert!(rest.is_empty());
    drop(wr);
    srv.shutdown().await;
}
