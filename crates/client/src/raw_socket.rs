//! The raw Unix-socket transport: length-prefixed protobuf on a pool of kept connections.
//!
//! One request at a time per connection (the protocol has no request ids), so concurrency
//! comes from the pool: a connection is opened when every kept one is busy, up to
//! [`RawSocketOptions::pool_size`] calls in flight, and kept for the next call. A pool fixed at a
//! handful would queue a busy gateway's calls behind each other (measured: 4 connections at 16
//! concurrent calls cost the server half again as much CPU per call, its workers parking between
//! requests). Two things differ from upstream's client on purpose:
//! - a call that times out drops its connection: the late answer would otherwise be read as
//!   the answer to the next request on that stream;
//! - a kept connection is checked before use (a restarted server closed it; a closed socket
//!   reads EOF at once), so a restart costs a reconnect, not a failed call.
//!
//! Connecting retries `reconnect_attempts` times with `reconnect_delay × attempt` between tries.
//! A call that fails after connecting is retried once (counted) only where that is safe: config
//! reads always, a hook only when its request could not be written whole (the server cannot
//! have acted on half a frame).

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use plugwire_grpc::frame::{self, HEADER_LEN};
use plugwire_grpc::pb::cpex as pb;
use plugwire_grpc::{convert, structs};
use plugwire_mcp::{InvokeHookArgs, InvokeHookResponse};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;
use tokio::sync::Semaphore;

use crate::error::{Cause, ClientError};
use crate::metrics::TransportCounters;
use crate::ConnectionStats;

/// A framing or semaphore error as a typed cause.
fn frame_cause(e: impl std::error::Error + Send + Sync + 'static) -> Cause {
    Cause::Other(Box::new(e))
}

/// Calls in flight per plugin entry at most: `plugwire serve`'s connection cap is far above it, and
/// a gateway rarely has more hook calls in flight to one plugin.
pub const DEFAULT_POOL_SIZE: usize = 64;

/// The settings of a `unix_socket:` entry, plus the pool size.
#[derive(Debug, Clone)]
pub struct RawSocketOptions {
    /// The server's socket path.
    pub path: PathBuf,
    /// Extra connection attempts after the first (upstream default 3).
    pub reconnect_attempts: u32,
    /// Base delay between attempts, multiplied by the attempt number (upstream default 0.1 s).
    pub reconnect_delay: Duration,
    /// Per-call limit for writing the request and reading the answer (upstream default 30 s).
    pub timeout: Duration,
    /// Calls in flight (and so connections, opened only as concurrency needs them) at most.
    pub pool_size: usize,
}

impl RawSocketOptions {
    /// Upstream's defaults for a path, with at most [`DEFAULT_POOL_SIZE`] connections.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            reconnect_attempts: 3,
            reconnect_delay: Duration::from_millis(100),
            timeout: Duration::from_secs(30),
            pool_size: DEFAULT_POOL_SIZE,
        }
    }
}

/// A pool of raw-socket connections to one plugin server.
#[derive(Debug)]
pub struct RawSocketClient {
    plugin: String,
    display: String,
    options: RawSocketOptions,
    idle: Mutex<Vec<UnixStream>>,
    slots: Semaphore,
    counters: TransportCounters,
}

/// How far a failed exchange got, which decides whether it may be repeated.
enum Failure {
    NotSent(std::io::Error),
    Sent(std::io::Error),
    TimedOut,
    Protocol(frame::FrameError),
    /// Another transport's server answered (see [`other_server`]).
    OtherServer(&'static str),
}

/// What an answer that is not a raw-socket frame says about the server behind the path: the
/// MCP or the gRPC socket of a plugin server, given to a `unix_socket:` entry by mistake.
fn other_server(answer: &[u8]) -> Option<&'static str> {
    if answer.starts_with(b"HTTP/1.") {
        return Some(
            "the server answered HTTP/1.1: this socket serves MCP, which an `mcp:` entry with \
             `uds` calls; a `unix_socket:` entry needs the server's raw socket \
             (PLUGINS_UNIX_SOCKET_PATH)",
        );
    }
    // An HTTP/2 server's first frame: SETTINGS (type 4, no flags) on stream 0, its length a
    // multiple of 6 (one 6-byte entry per setting).
    let settings = |h: &[u8]| h[2].is_multiple_of(6) && h[3] == 4 && h[4] == 0 && h[5..9] == [0; 4];
    if answer.len() >= 9 && answer[..2] == [0, 0] && settings(answer) {
        return Some(
            "the server answered HTTP/2: this socket serves gRPC, which a `grpc:` entry with \
             `uds` calls; a `unix_socket:` entry needs the server's raw socket \
             (PLUGINS_UNIX_SOCKET_PATH)",
        );
    }
    None
}

/// Reads one answer frame and gives its body. Header and body usually arrive together, so one
/// read takes both (two exact reads cost a second syscall per call).
async fn read_answer(conn: &mut UnixStream) -> Result<Vec<u8>, Failure> {
    let mut buf = Vec::with_capacity(ANSWER_READ_HINT);
    let mut frame_len = None;
    let want = loop {
        if conn.read_buf(&mut buf).await.map_err(Failure::Sent)? == 0 {
            if let Some(server) = other_server(&buf) {
                return Err(Failure::OtherServer(server));
            }
            let eof = std::io::Error::from(std::io::ErrorKind::UnexpectedEof);
            return Err(Failure::Sent(eof));
        }
        if frame_len.is_none() && buf.len() >= HEADER_LEN {
            let mut header = [0u8; HEADER_LEN];
            header.copy_from_slice(&buf[..HEADER_LEN]);
            let len = frame::body_len(header).map_err(|e| match other_server(&buf) {
                Some(server) => Failure::OtherServer(server),
                None => Failure::Protocol(e),
            })?;
            let len = HEADER_LEN + len;
            buf.reserve(len.saturating_sub(buf.len()));
            frame_len = Some(len);
        }
        match frame_len {
            Some(len) if buf.len() >= len => break len,
            _ => {}
        }
    };
    if buf.len() > want {
        // One request is in flight, so the server has nothing more to say: bytes past the
        // answer mean the stream cannot be trusted.
        return Err(Failure::Sent(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "bytes after the answer frame",
        )));
    }
    buf.drain(..HEADER_LEN);
    Ok(buf)
}

/// The first read's capacity: a typical answer fits, a larger one grows the buffer once.
const ANSWER_READ_HINT: usize = 8 * 1024;

impl RawSocketClient {
    /// Prepares the pool; nothing is opened until the first call.
    pub fn new(plugin: &str, options: RawSocketOptions) -> Self {
        Self::with_stats(plugin, options, ConnectionStats::new())
    }

    /// [`RawSocketClient::new`], counting connections opened and request frames sent into
    /// `stats` (an [`crate::ExternalPlugin`] passes its `ClientOptions::stats`).
    pub fn with_stats(
        plugin: &str,
        options: RawSocketOptions,
        stats: Arc<ConnectionStats>,
    ) -> Self {
        Self {
            plugin: plugin.to_string(),
            display: format!("unix://{}", options.path.display()),
            slots: Semaphore::new(options.pool_size.max(1)),
            options,
            idle: Mutex::new(Vec::new()),
            counters: TransportCounters::new(plugin, "unix_socket", stats),
        }
    }

    /// The endpoint, for messages.
    pub fn url(&self) -> &str {
        &self.display
    }

    /// Calls repeated after a failure (see the module doc).
    pub fn retries(&self) -> u64 {
        self.counters.retries()
    }

    /// Connections opened so far.
    pub fn connects(&self) -> u64 {
        self.counters.connects()
    }

    fn lost(&self, message: String, cause: impl Into<Cause>) -> ClientError {
        ClientError::lost(&self.plugin, &self.display, message, cause.into())
    }

    /// Another transport's server behind the path: not a plugin server for this entry.
    fn not_plugin_server(&self, method: &str, server: &str) -> ClientError {
        let detail = format!("{method}: {server}");
        ClientError::not_plugin_server(&self.plugin, &self.display, detail, None)
    }

    /// A kept connection that is still open, or a new one.
    async fn checkout(&self) -> Result<UnixStream, ClientError> {
        loop {
            let kept = self.idle.lock().map(|mut v| v.pop()).unwrap_or(None);
            let Some(conn) = kept else { break };
            let mut probe = [0u8; 1];
            // Idle, a live connection has nothing to read; EOF or stray bytes mean it is unusable.
            if matches!(conn.try_read(&mut probe), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
            {
                return Ok(conn);
            }
        }
        let connected = crate::retry::linear(
            self.options.reconnect_attempts,
            self.options.reconnect_delay,
            || UnixStream::connect(&self.options.path),
            |_| true,
            |_, _| {},
        )
        .await;
        match connected {
            Ok(c) => {
                self.counters.connection_opened();
                Ok(c)
            }
            Err((last, attempts)) => {
                use crate::unix_hint::{attempts_and_hint, unix_connect_hint, Served};
                let why = unix_connect_hint(&self.options.path, last.kind(), Served::Raw);
                let hint = attempts_and_hint(attempts, why);
                Err(ClientError::connect(
                    &self.plugin,
                    &self.display,
                    last,
                    Some(hint),
                ))
            }
        }
    }

    async fn exchange_once(
        &self,
        conn: &mut UnixStream,
        request: &[u8],
    ) -> Result<Vec<u8>, Failure> {
        self.counters.request_sent();
        let work = async {
            conn.write_all(request).await.map_err(Failure::NotSent)?;
            read_answer(conn).await
        };
        tokio::time::timeout(self.options.timeout, work)
            .await
            .unwrap_or(Err(Failure::TimedOut))
    }

    async fn call<Resp: prost::Message + Default>(
        &self,
        method: &'static str,
        request: &impl prost::Message,
        idempotent: bool,
    ) -> Result<Resp, ClientError> {
        let frame = frame::encode(request)
            .map_err(|e| self.lost(format!("{method}: {e}"), frame_cause(e)))?;
        let _slot = self
            .slots
            .acquire()
            .await
            .map_err(|e| self.lost(e.to_string(), frame_cause(e)))?;
        let mut retried = false;
        loop {
            let mut conn = self.checkout().await?;
            let failure = match self.exchange_once(&mut conn, &frame).await {
                Ok(body) => {
                    let resp = frame::decode::<Resp>(&body, method)
                        .map_err(|e| self.lost(format!("{method}: {e}"), frame_cause(e)))?;
                    if let Ok(mut idle) = self.idle.lock() {
                        idle.push(conn);
                    }
                    return Ok(resp);
                }
                // The connection is dropped on every failure: its stream position is unknown.
                Err(f) => f,
            };
            let (safe, message) = match failure {
                Failure::TimedOut => {
                    let timeout = self.options.timeout;
                    return Err(ClientError::timeout(
                        &self.plugin,
                        &self.display,
                        method,
                        timeout,
                    ));
                }
                Failure::Protocol(e) => {
                    return Err(self.lost(format!("{method}: {e}"), frame_cause(e)))
                }
                Failure::OtherServer(server) => {
                    return Err(self.not_plugin_server(method, server));
                }
                Failure::NotSent(e) => (true, e),
                Failure::Sent(e) => (idempotent, e),
            };
            if retried || !safe {
                return Err(self.lost(format!("{method}: {message}"), message));
            }
            retried = true;
            self.counters.retry();
            tracing::debug!(plugin = %self.plugin, "raw socket {method} failed ({message}), retrying once");
        }
    }

    /// `GetPluginConfig`: the server's entry as JSON, `None` when it has no such plugin.
    pub async fn get_plugin_config(&self, name: &str) -> Result<Option<Value>, ClientError> {
        let req = pb::GetPluginConfigRequest { name: name.into() };
        let resp: pb::GetPluginConfigResponse = self.call("GetPluginConfig", &req, true).await?;
        Ok(convert::config_from_response(&resp))
    }

    /// `GetPluginConfigs`: every entry of the server.
    pub async fn get_plugin_configs(&self) -> Result<Vec<Value>, ClientError> {
        let resp: pb::GetPluginConfigsResponse = self
            .call("GetPluginConfigs", &pb::GetPluginConfigsRequest {}, true)
            .await?;
        Ok(resp
            .configs
            .iter()
            .map(|c| Value::Object(structs::from_struct(c)))
            .collect())
    }

    /// `InvokeHook`, answered in the MCP answer's shape.
    pub async fn invoke_hook(
        &self,
        args: InvokeHookArgs,
    ) -> Result<InvokeHookResponse, ClientError> {
        let req = convert::args_to_request(args);
        let resp: pb::InvokeHookResponse = self.call("InvokeHook", &req, false).await?;
        Ok(convert::response_from_proto(resp))
    }

    /// Closes the kept connections.
    pub fn close(&self) {
        if let Ok(mut idle) = self.idle.lock() {
            idle.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use tokio::net::UnixListener;

    fn frame_of(body: &[u8]) -> Vec<u8> {
        let mut f = u32::try_from(body.len()).unwrap().to_be_bytes().to_vec();
        f.extend_from_slice(body);
        f
    }

    #[test]
    fn another_transports_server_is_recognised_by_its_first_bytes() {
        let mcp = other_server(b"HTTP/1.1 400 Bad Request\r\n");
        assert!(mcp.is_some_and(|m| m.contains("serves MCP")));
        // An HTTP/2 server's SETTINGS frame (18 bytes of settings, type 4, stream 0).
        let settings = [0, 0, 18, 4, 0, 0, 0, 0, 0, 0, 3];
        let grpc = other_server(&settings);
        assert!(grpc.is_some_and(|m| m.contains("serves gRPC")));
        // A raw-socket frame, and a SETTINGS header cut short, are not.
        assert_eq!(other_server(&frame_of(b"\x0a\x01x")), None);
        assert_eq!(other_server(&settings[..8]), None);
    }

    #[tokio::test]
    async fn an_answer_split_across_reads_is_put_back_together() {
        let (mut client, mut server) = UnixStream::pair().unwrap();
        let body: Vec<u8> = (0..20_000u32).map(|i| (i % 251) as u8).collect();
        let frame = frame_of(&body);
        let writer = tokio::spawn(async move {
            for chunk in [&frame[..2], &frame[2..9], &frame[9..]] {
                server.write_all(chunk).await.unwrap();
                server.flush().await.unwrap();
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            server
        });
        let got = read_answer(&mut client).await.ok().unwrap();
        assert_eq!(got, body);
        drop(writer.await.unwrap());
    }

    #[tokio::test]
    async fn an_empty_answer_and_bytes_after_an_answer() {
        let (mut client, mut server) = UnixStream::pair().unwrap();
        server.write_all(&frame_of(b"")).await.unwrap();
        assert_eq!(read_answer(&mut client).await.ok().unwrap(), b"");
        let mut two = frame_of(b"ab");
        two.extend_from_slice(&frame_of(b"c"));
        server.write_all(&two).await.unwrap();
        match read_answer(&mut client).await {
            Err(Failure::Sent(e)) => assert_eq!(e.kind(), std::io::ErrorKind::InvalidData),
            _ => panic!("bytes after the answer must fail the exchange"),
        }
        drop(server);
        assert!(matches!(
            read_answer(&mut client).await,
            Err(Failure::Sent(_))
        ));
    }

    /// A server that answers nothing until `n` connections each sent a request: a client that
    /// cannot have `n` calls in flight never gets an answer.
    async fn answers_after(listener: UnixListener, n: usize) {
        let mut held = Vec::new();
        while held.len() < n {
            let (mut conn, _) = listener.accept().await.unwrap();
            let mut header = [0u8; HEADER_LEN];
            conn.read_exact(&mut header).await.unwrap();
            let mut body = vec![0u8; frame::body_len(header).unwrap()];
            conn.read_exact(&mut body).await.unwrap();
            held.push(conn);
        }
        for mut conn in held {
            conn.write_all(&frame_of(b"")).await.unwrap();
        }
    }

    #[tokio::test]
    async fn concurrent_calls_open_connections_beyond_a_handful_up_to_the_pool_size() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("raw.sock");
        let server = tokio::spawn(answers_after(UnixListener::bind(&path).unwrap(), 12));
        let client = std::sync::Arc::new(RawSocketClient::new("P", RawSocketOptions::new(&path)));
        let calls: Vec<_> = (0..12)
            .map(|_| {
                let c = std::sync::Arc::clone(&client);
                tokio::spawn(async move { c.get_plugin_configs().await })
            })
            .collect();
        for call in calls {
            let answer = tokio::time::timeout(Duration::from_secs(10), call).await;
            assert!(answer.unwrap().unwrap().unwrap().is_empty());
        }
        assert_eq!(client.connects(), 12);
        server.await.unwrap();

        let capped = RawSocketOptions {
            pool_size: 2,
            ..RawSocketOptions::new(&path)
        };
        std::fs::remove_file(&path).unwrap();
        let server = tokio::spawn(answers_after(UnixListener::bind(&path).unwrap(), 3));
        let client = std::sync::Arc::new(RawSocketClient::new("P", capped));
        let calls: Vec<_> = (0..3)
            .map(|_| {
                let c = std::sync::Arc::clone(&client);
                tokio::spawn(async move { c.get_plugin_configs().await })
            })
            .collect();
        for _ in 0..500 {
            if client.connects() == 2 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(client.connects(), 2, "the third call waits for a slot");
        server.abort();
        for call in calls {
            call.abort();
        }
    }
}
