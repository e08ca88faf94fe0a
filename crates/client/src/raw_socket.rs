//! The raw Unix-socket transport: length-prefixed protobuf on a small pool of kept connections.
//!
//! One request at a time per connection (the protocol has no request ids), so concurrency
//! comes from the pool. Two things differ from upstream's client on purpose:
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
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
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

/// A framing or semaphore error as a typed cause.
fn frame_cause(e: impl std::error::Error + Send + Sync + 'static) -> Cause {
    Cause::Other(Box::new(e))
}

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
    /// Connections kept (and calls in flight) at most.
    pub pool_size: usize,
}

impl RawSocketOptions {
    /// Upstream's defaults for a path, with a pool of 4.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            reconnect_attempts: 3,
            reconnect_delay: Duration::from_millis(100),
            timeout: Duration::from_secs(30),
            pool_size: 4,
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
    retries: AtomicU64,
    connects: AtomicU64,
}

/// How far a failed exchange got, which decides whether it may be repeated.
enum Failure {
    NotSent(std::io::Error),
    Sent(std::io::Error),
    TimedOut,
    Protocol(frame::FrameError),
}

impl RawSocketClient {
    /// Prepares the pool; nothing is opened until the first call.
    pub fn new(plugin: &str, options: RawSocketOptions) -> Self {
        Self {
            plugin: plugin.to_string(),
            display: format!("unix://{}", options.path.display()),
            slots: Semaphore::new(options.pool_size.max(1)),
            options,
            idle: Mutex::new(Vec::new()),
            retries: AtomicU64::new(0),
            connects: AtomicU64::new(0),
        }
    }

    /// The endpoint, for messages.
    pub fn url(&self) -> &str {
        &self.display
    }

    /// Calls repeated after a failure (see the module doc).
    pub fn retries(&self) -> u64 {
        self.retries.load(Ordering::Relaxed)
    }

    /// Connections opened so far.
    pub fn connects(&self) -> u64 {
        self.connects.load(Ordering::Relaxed)
    }

    fn lost(&self, message: String, cause: impl Into<Cause>) -> ClientError {
        ClientError::lost(&self.plugin, &self.display, message, cause.into())
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
        let mut last = std::io::Error::other("no connection attempt was made");
        for attempt in 0..=self.options.reconnect_attempts {
            if attempt > 0 {
                tokio::time::sleep(self.options.reconnect_delay * attempt).await;
            }
            match UnixStream::connect(&self.options.path).await {
                Ok(c) => {
                    self.connects.fetch_add(1, Ordering::Relaxed);
                    return Ok(c);
                }
                Err(e) => last = e,
            }
        }
        let hint = format!("(after {} attempts)", self.options.reconnect_attempts + 1);
        Err(ClientError::connect(
            &self.plugin,
            &self.display,
            last,
            Some(hint),
        ))
    }

    async fn exchange_once(
        &self,
        conn: &mut UnixStream,
        request: &[u8],
    ) -> Result<Vec<u8>, Failure> {
        let work = async {
            conn.write_all(request).await.map_err(Failure::NotSent)?;
            let mut header = [0u8; HEADER_LEN];
            conn.read_exact(&mut header).await.map_err(Failure::Sent)?;
            let len = frame::body_len(header).map_err(Failure::Protocol)?;
            let mut body = vec![0u8; len];
            conn.read_exact(&mut body).await.map_err(Failure::Sent)?;
            Ok(body)
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
                Failure::NotSent(e) => (true, e),
                Failure::Sent(e) => (idempotent, e),
            };
            if retried || !safe {
                return Err(self.lost(format!("{method}: {message}"), message));
            }
            retried = true;
            self.retries.fetch_add(1, Ordering::Relaxed);
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
        args: &InvokeHookArgs,
    ) -> Result<InvokeHookResponse, ClientError> {
        let req = convert::args_to_request(args);
        let resp: pb::InvokeHookResponse = self.call("InvokeHook", &req, false).await?;
        Ok(convert::response_from_proto(&resp))
    }

    /// Closes the kept connections.
    pub fn close(&self) {
        if let Ok(mut idle) = self.idle.lock() {
            idle.clear();
        }
    }
}
