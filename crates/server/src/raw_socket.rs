//! The raw Unix-socket protocol server: length-prefixed protobuf, no TLS, no HTTP.
//!
//! Each connection carries many request/answer pairs, strictly one at a time (the next request
//! is read only after the answer is written). A connection idle for [`RawSocketOptions::idle`]
//! (300 s, as upstream) is closed, as is one that sends an oversized or undecodable frame: its
//! stream can no longer be trusted, so it gets a log line and an EOF, and every other
//! connection keeps being served. Calls go to the same [`Backend`] as MCP and gRPC.

use std::future::Future;
use std::io;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use plugwire_grpc::convert;
use plugwire_grpc::frame::{self, Request, HEADER_LEN};
use prost::Message;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{watch, Semaphore};

use crate::backend::Backend;
use crate::error::ServerError;

/// Limits of the raw-socket server.
#[derive(Debug, Clone, Copy)]
pub struct RawSocketOptions {
    /// Close a connection that sends nothing for this long (upstream: 300 s).
    pub idle: Duration,
    /// Connections served at once; further clients wait in the accept queue (mini-redis).
    pub max_connections: usize,
}

impl Default for RawSocketOptions {
    fn default() -> Self {
        Self {
            idle: Duration::from_secs(300),
            max_connections: 1024,
        }
    }
}

/// Binds a Unix socket at `path` with mode 0600: a stale socket file (nobody listening) is
/// replaced, a live one or a path that is not a socket is an error naming `origin` (the setting
/// the path came from).
pub fn bind_unix_0600(path: &Path, origin: &str) -> Result<UnixListener, ServerError> {
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        if !meta.file_type().is_socket() {
            return Err(ServerError::UdsNotSocket {
                path: path.to_path_buf(),
                origin: origin.to_string(),
            });
        }
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            return Err(ServerError::UdsInUse {
                path: path.to_path_buf(),
                origin: origin.to_string(),
            });
        }
        let _ = std::fs::remove_file(path);
    }
    let err = |e: io::Error| ServerError::UdsBind {
        path: path.to_path_buf(),
        origin: origin.to_string(),
        source: e,
    };
    let std = std::os::unix::net::UnixListener::bind(path).map_err(err)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(err)?;
    std.set_nonblocking(true).map_err(err)?;
    UnixListener::from_std(std).map_err(err)
}

/// Serves the raw protocol until `shutdown` completes; then stops accepting and closes every
/// connection between requests (a request in progress is answered first).
pub async fn run(
    listener: UnixListener,
    backend: Arc<dyn Backend>,
    options: RawSocketOptions,
    shutdown: impl Future<Output = ()>,
) {
    let limit = Arc::new(Semaphore::new(options.max_connections.max(1)));
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            _ = &mut shutdown => break,
            p = Arc::clone(&limit).acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
        };
        let stream = tokio::select! {
            _ = &mut shutdown => break,
            r = listener.accept() => match r {
                Ok((s, _)) => s,
                Err(e) => {
                    tracing::warn!("raw socket accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let backend = Arc::clone(&backend);
        let stop = stop_rx.clone();
        tokio::spawn(async move {
            if let Err(e) = connection(stream, backend, options.idle, stop).await {
                tracing::warn!("raw socket connection closed: {e}");
            }
            drop(permit);
        });
    }
    let _ = stop_tx.send(true);
}

/// Why a connection was closed by us.
#[derive(Debug, thiserror::Error)]
enum ConnError {
    #[error("{0}")]
    Frame(#[from] frame::FrameError),
    #[error("I/O error: {0}")]
    Io(#[from] io::Error),
}

async fn connection(
    mut stream: UnixStream,
    backend: Arc<dyn Backend>,
    idle: Duration,
    mut stop: watch::Receiver<bool>,
) -> Result<(), ConnError> {
    let mut body = Vec::new();
    loop {
        let mut header = [0u8; HEADER_LEN];
        let read = tokio::select! {
            _ = stop.wait_for(|s| *s) => return Ok(()),
            r = tokio::time::timeout(idle, stream.read_exact(&mut header)) => r,
        };
        match read {
            Err(_) => {
                tracing::debug!(
                    "raw socket connection idle for {}s, closing",
                    idle.as_secs()
                );
                return Ok(());
            }
            Ok(Err(e)) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(()),
            Ok(r) => r?,
        };
        let len = frame::body_len(header)?;
        body.resize(len, 0);
        match tokio::time::timeout(idle, stream.read_exact(&mut body)).await {
            Err(_) => return Ok(()),
            Ok(r) => r?,
        };
        let answer = answer(&body, backend.as_ref()).await?;
        stream.write_all(&answer).await?;
    }
}

/// One request body → one whole answer frame.
async fn answer(body: &[u8], backend: &dyn Backend) -> Result<Vec<u8>, frame::FrameError> {
    match frame::sniff(body)? {
        Request::InvokeHook(req) => {
            let proto = match convert::request_to_args(&req) {
                Ok(args) => convert::response_to_proto(
                    &crate::dispatch::invoke_hook_args(backend, &args).await,
                ),
                // `sniff` only returns requests with both names set.
                Err(e) => error_answer(&req.plugin_name, e.to_string()),
            };
            encode(&proto)
        }
        Request::GetPluginConfig(req) => encode(&convert::config_response(
            backend.plugin_config(&req.name).as_ref(),
        )),
        Request::GetPluginConfigs => encode(&convert::configs_response(&backend.plugin_configs())),
        Request::Unknown => encode(&frame::unknown_message_response()),
    }
}

fn error_answer(plugin: &str, message: String) -> plugwire_grpc::pb::cpex::InvokeHookResponse {
    let mut r = frame::unknown_message_response();
    r.plugin_name = plugin.to_string();
    if let Some(e) = r.error.as_mut() {
        e.message = message;
        e.code = "INVALID_REQUEST".into();
    }
    r
}

/// An answer too large for a frame becomes an error answer saying so, rather than a closed
/// connection the client would retry into the same wall.
fn encode(msg: &impl Message) -> Result<Vec<u8>, frame::FrameError> {
    match frame::encode(msg) {
        Ok(f) => Ok(f),
        Err(e) => frame::encode(&error_answer("", format!("answer not sent: {e}"))),
    }
}
