//! The raw Unix-socket protocol server: length-prefixed protobuf, no TLS, no HTTP.
//!
//! Each connection carries many request/answer pairs, strictly one at a time (the next request
//! is decoded only after the answer is written). A connection idle for [`RawSocketOptions::idle`]
//! (300 s, as upstream) is closed, as is one that sends an oversized or undecodable frame: its
//! stream can no longer be trusted, so it gets a log line and an EOF, and every other
//! connection keeps being served. Calls go to the same [`Backend`] as MCP and gRPC.
//!
//! Operations are the other listeners': at most `max_connections` open connections
//! (`PLUGINS_SERVER_MAX_CONNECTIONS`; one more is closed at accept, with the same rate-limited
//! WARN, listener `raw`), counted in the open-connections gauge (transport `raw`); and a
//! graceful drain on shutdown: the socket stops accepting at once, a request already read, or
//! arriving within [`DRAIN_IDLE_GRACE`] of the connection's last answer, is answered (the
//! protocol cannot tell a client "last answer", so a connection is closed only once it has been
//! quiet that long), and whatever is still open at the drain deadline
//! (`PLUGINS_SERVER_DRAIN_TIMEOUT`) is closed.
//!
//! Per connection, one task, one read buffer (a frame usually arrives whole in one read and is
//! decoded where it lies) and one answer buffer (header and body leave in one write), both
//! reused for every request; the socket is watched for reads only ([`ReadWatched`]).

use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use plugwire_grpc::convert;
use plugwire_grpc::frame::{self, Request, HEADER_LEN};
use plugwire_metrics::Transport;
use prost::Message;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::backend::{Backend, ProtoArgs};
use crate::error::ServerError;
use crate::grpc::accept::{Control, Gate};
use crate::limits::{DEFAULT_DRAIN_TIMEOUT, DEFAULT_MAX_CONNECTIONS, DRAIN_IDLE_GRACE};
use crate::listen::{ConnLimits, Refusals};
use crate::read_watched::ReadWatched;

/// The `listener` label of the raw socket's refusals and drain log lines.
const LISTENER: &str = "raw";

/// Read buffer per connection: a typical request (a few KiB) arrives in one read.
const READ_BUFFER: usize = 16 * 1024;

/// Limits of the raw-socket server.
#[derive(Debug, Clone, Copy)]
pub struct RawSocketOptions {
    /// Close a connection that sends nothing for this long (upstream: 300 s).
    pub idle: Duration,
    /// Connections served at once; one more is closed at accept (the listeners' shared cap).
    pub max_connections: usize,
    /// Longest shutdown waits for requests in progress before closing connections anyway.
    pub drain_timeout: Duration,
}

impl Default for RawSocketOptions {
    fn default() -> Self {
        Self {
            idle: Duration::from_secs(300),
            max_connections: DEFAULT_MAX_CONNECTIONS,
            drain_timeout: DEFAULT_DRAIN_TIMEOUT,
        }
    }
}

impl RawSocketOptions {
    /// The defaults with the listeners' shared cap and drain deadline (`PLUGINS_SERVER_*`).
    pub fn with_limits(limits: &ConnLimits) -> Self {
        Self {
            max_connections: limits.max_connections,
            drain_timeout: limits.drain_timeout,
            ..Self::default()
        }
    }
}

/// Binds a Unix socket at `path` with mode 0600: a stale socket file (nobody listening) is
/// replaced, a live one or a path that is not a socket is an error naming `origin` (the setting
/// the path came from). The caller removes the file when done ([`bind_unix_0600_owned`] does it
/// for you).
pub fn bind_unix_0600(path: &Path, origin: &str) -> Result<UnixListener, ServerError> {
    bind_unix_socket(path, origin, Some(0o600)).map(|(l, file)| {
        file.keep();
        l
    })
}

/// [`bind_unix_0600`], with the socket file as a [`SocketFile`] that removes it when dropped.
pub fn bind_unix_0600_owned(
    path: &Path,
    origin: &str,
) -> Result<(UnixListener, SocketFile), ServerError> {
    bind_unix_socket(path, origin, Some(0o600))
}

/// A Unix socket file this process created by binding it. Dropping it removes the file, unless
/// the path holds another file by then (say, the socket of a server started after this one
/// closed its listener): a process removes only what it created. A start-up that fails after
/// binding drops it, so no socket file of the failed process remains.
#[derive(Debug)]
pub struct SocketFile {
    path: PathBuf,
    /// Device and inode of the file bound; `None` when disarmed (or not readable after bind).
    id: Option<(u64, u64)>,
}

impl SocketFile {
    fn created(path: &Path) -> Self {
        SocketFile {
            path: path.to_path_buf(),
            id: file_id(path),
        }
    }

    /// The socket's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Leaves the file in place when dropped.
    pub fn keep(mut self) {
        self.id = None;
    }
}

impl Drop for SocketFile {
    fn drop(&mut self) {
        if self.id.is_some() && file_id(&self.path) == self.id {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

fn file_id(path: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::symlink_metadata(path)
        .ok()
        .map(|m| (m.dev(), m.ino()))
}

/// Whether a Unix socket can be bound at `path` as it stands: `Ok(false)` when nothing is
/// there, `Ok(true)` for a stale socket file (nobody listening), which binding replaces. A live
/// socket is [`ServerError::UdsInUse`], any other file (a directory, a regular file, a symlink)
/// [`ServerError::UdsNotSocket`]; both name `origin`. Start-up runs it for every socket before
/// binding any; binding runs it again.
pub fn check_unix_socket_path(path: &Path, origin: &str) -> Result<bool, ServerError> {
    use std::os::unix::fs::FileTypeExt;
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return Ok(false);
    };
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
    Ok(true)
}

/// Binds a Unix socket at `path` as [`bind_unix_0600`] does, with `mode` if given (else the
/// process's umask decides). A failure after the socket file exists removes it again.
pub(crate) fn bind_unix_socket(
    path: &Path,
    origin: &str,
    mode: Option<u32>,
) -> Result<(UnixListener, SocketFile), ServerError> {
    use std::os::unix::fs::PermissionsExt;
    if check_unix_socket_path(path, origin)? {
        let _ = std::fs::remove_file(path);
    }
    let err = |e: io::Error| ServerError::UdsBind {
        path: path.to_path_buf(),
        origin: origin.to_string(),
        source: e,
    };
    let std = std::os::unix::net::UnixListener::bind(path).map_err(err)?;
    // From here on, an error drops `file`, which removes the socket file just created.
    let file = SocketFile::created(path);
    if let Some(mode) = mode {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(err)?;
    }
    std.set_nonblocking(true).map_err(err)?;
    let listener = UnixListener::from_std(std).map_err(err)?;
    Ok((listener, file))
}

/// Serves the raw protocol until `shutdown` completes, then drains (see the module doc) and
/// returns once every connection is closed.
pub async fn run(
    listener: UnixListener,
    backend: Arc<dyn Backend>,
    options: RawSocketOptions,
    shutdown: impl Future<Output = ()>,
) {
    let limits = ConnLimits {
        max_connections: options.max_connections,
        drain_timeout: options.drain_timeout,
        ..ConnLimits::default()
    };
    let control = Control::labelled(&limits, LISTENER, Transport::Raw);
    let serving = serve(listener, backend, options.idle, control.gate());
    let _ = control
        .run(
            async {
                serving.await;
                Ok::<(), std::convert::Infallible>(())
            },
            shutdown,
        )
        .await;
}

/// Accepts until the drain starts (dropping the listener then, so new clients are refused),
/// then waits for the connections.
async fn serve(listener: UnixListener, backend: Arc<dyn Backend>, idle: Duration, gate: Gate) {
    let mut conns = JoinSet::new();
    let mut refusals = Refusals::default();
    loop {
        let stream = tokio::select! {
            () = gate.stopping() => break,
            Some(_) = conns.join_next(), if !conns.is_empty() => continue,
            r = listener.accept() => match r {
                Ok((s, _)) => s,
                Err(e) => {
                    tracing::warn!("raw socket accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Some(slot) = gate.admit(&mut refusals) else {
            continue;
        };
        let conn = match Conn::new(stream, Arc::clone(&backend), idle, &gate) {
            Ok(conn) => conn,
            Err(e) => {
                tracing::warn!("raw socket connection not served: {e}");
                continue;
            }
        };
        conns.spawn(async move {
            if let Err(e) = conn.serve().await {
                tracing::warn!("raw socket connection closed: {e}");
            }
            drop(slot);
        });
    }
    drop(listener);
    while conns.join_next().await.is_some() {}
}

/// Why a connection was closed by us.
#[derive(Debug, thiserror::Error)]
enum ConnError {
    #[error("{0}")]
    Frame(#[from] frame::FrameError),
    /// The first bytes were an HTTP request line or the HTTP/2 preface.
    #[error(
        "the client sent HTTP ({0:?}...): this socket serves `unix_socket:` entries; an MCP or \
         gRPC client belongs on the server's MCP or gRPC socket"
    )]
    HttpClient(String),
    #[error("I/O error: {0}")]
    Io(#[from] io::Error),
}

/// A frame header that cannot be served: an HTTP client's first bytes (`POST`, `GET `, the
/// HTTP/2 preface's `PRI `) are named as such, since their "length" is always too large.
fn http_client(header: [u8; HEADER_LEN], e: frame::FrameError) -> ConnError {
    match &header {
        b"POST" | b"GET " | b"PRI " | b"HEAD" | b"PUT " => {
            ConnError::HttpClient(String::from_utf8_lossy(&header).into_owned())
        }
        _ => ConnError::Frame(e),
    }
}

/// One connection: its stream, reused buffers and view of the drain.
struct Conn {
    stream: ReadWatched,
    backend: Arc<dyn Backend>,
    idle: Duration,
    draining: watch::Receiver<bool>,
    closed: watch::Receiver<bool>,
    /// Bytes read and not yet consumed are `input[..filled]`; the frame being answered is
    /// `input[..frame_end]` (so a pipelined next request already read stays behind it).
    input: Vec<u8>,
    filled: usize,
    frame_end: usize,
    answer: Vec<u8>,
}

impl Conn {
    fn new(
        stream: UnixStream,
        backend: Arc<dyn Backend>,
        idle: Duration,
        gate: &Gate,
    ) -> io::Result<Self> {
        let (draining, closed) = gate.signals();
        Ok(Conn {
            stream: ReadWatched::new(stream)?,
            backend,
            idle,
            draining,
            closed,
            input: vec![0; READ_BUFFER],
            filled: 0,
            frame_end: 0,
            answer: Vec::new(),
        })
    }

    /// Request after request until EOF, idle, a bad frame, or the drain closes it.
    async fn serve(mut self) -> Result<(), ConnError> {
        let mut closed = self.closed.clone();
        tokio::select! {
            r = self.exchanges() => r,
            _ = closed.wait_for(|c| *c) => Ok(()),
        }
    }

    async fn exchanges(&mut self) -> Result<(), ConnError> {
        // One timer per connection, re-armed per request (not one per read).
        let quiet = tokio::time::sleep(self.idle);
        tokio::pin!(quiet);
        loop {
            let Some(header) = self.next_header(quiet.as_mut()).await? else {
                return Ok(());
            };
            let end = HEADER_LEN + frame::body_len(header).map_err(|e| http_client(header, e))?;
            if self.input.len() < end {
                self.input.resize(end, 0);
            }
            quiet.as_mut().reset(Instant::now() + self.idle);
            while self.filled < end {
                tokio::select! {
                    r = self.stream.read(&mut self.input[self.filled..end]) => match r? {
                        0 => return Err(io::Error::from(io::ErrorKind::UnexpectedEof).into()),
                        n => self.filled += n,
                    },
                    () = quiet.as_mut() => return Ok(()),
                }
            }
            self.frame_end = end;
            let body = &self.input[HEADER_LEN..end];
            answer(body, self.backend.as_ref(), &mut self.answer).await?;
            self.stream.write_all(&self.answer).await?;
        }
    }

    /// Drops the frame just answered, keeping any bytes read past it; a buffer grown for a
    /// large frame goes back to its usual size.
    fn consume_frame(&mut self) {
        if self.frame_end > 0 {
            self.input.copy_within(self.frame_end..self.filled, 0);
            self.filled -= self.frame_end;
            self.frame_end = 0;
            if self.input.len() > READ_BUFFER && self.filled <= READ_BUFFER {
                self.input.truncate(READ_BUFFER);
                self.input.shrink_to_fit();
            }
        }
    }

    /// The next request's header, or `None` to close quietly: EOF, idle for `idle` (or, once
    /// the drain has started, for [`DRAIN_IDLE_GRACE`]). Reads are cancel-safe one by one, so
    /// a drain starting mid-header loses no byte.
    async fn next_header(
        &mut self,
        mut quiet: std::pin::Pin<&mut tokio::time::Sleep>,
    ) -> Result<Option<[u8; HEADER_LEN]>, ConnError> {
        self.consume_frame();
        let mut draining = *self.draining.borrow();
        let grace = |now: Instant| now + DRAIN_IDLE_GRACE;
        let now = Instant::now();
        quiet.as_mut().reset(if draining {
            grace(now)
        } else {
            now + self.idle
        });
        while self.filled < HEADER_LEN {
            tokio::select! {
                _ = self.draining.wait_for(|d| *d), if !draining => {
                    draining = true;
                    let g = grace(Instant::now());
                    if g < quiet.deadline() {
                        quiet.as_mut().reset(g);
                    }
                }
                () = quiet.as_mut() => {
                    if !draining {
                        tracing::debug!("raw socket connection idle for {}s, closing", self.idle.as_secs());
                    }
                    return Ok(None);
                }
                r = self.stream.read(&mut self.input[self.filled..]) => match r? {
                    0 => return Ok(None),
                    n => self.filled += n,
                },
            }
        }
        let mut header = [0u8; HEADER_LEN];
        header.copy_from_slice(&self.input[..HEADER_LEN]);
        Ok(Some(header))
    }
}

/// One request body → one whole answer frame, in `out`.
async fn answer(
    body: &[u8],
    backend: &dyn Backend,
    out: &mut Vec<u8>,
) -> Result<(), frame::FrameError> {
    match frame::sniff(body)? {
        Request::InvokeHook(req) => {
            // `sniff` only returns requests with both names set, so this error cannot happen;
            // it is answered anyway rather than trusted away.
            let plugin = req.plugin_name.clone();
            match ProtoArgs::from_request(*req) {
                Ok(args) => {
                    let answer = crate::dispatch::invoke_hook_proto(backend, args).await;
                    encode(&answer.message, out)
                }
                Err(e) => encode(&error_answer(&plugin, e.to_string()), out),
            }
        }
        Request::GetPluginConfig(req) => encode(
            &convert::config_response(backend.plugin_config(&req.name).as_ref()),
            out,
        ),
        Request::GetPluginConfigs => {
            encode(&convert::configs_response(&backend.plugin_configs()), out)
        }
        Request::Unknown => encode(&frame::unknown_message_response(), out),
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
fn encode(msg: &impl Message, out: &mut Vec<u8>) -> Result<(), frame::FrameError> {
    match frame::encode_into(msg, out) {
        Ok(()) => Ok(()),
        Err(e) => frame::encode_into(&error_answer("", format!("answer not sent: {e}")), out),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_http_clients_first_bytes_are_named() {
        let too_large = frame::FrameError::TooLarge { len: u64::MAX };
        for first in [b"POST", b"GET ", b"PRI "] {
            let e = http_client(*first, frame::FrameError::TooLarge { len: u64::MAX });
            assert!(matches!(e, ConnError::HttpClient(_)), "{e}");
        }
        let e = http_client([0x7f, 0, 0, 0], too_large);
        assert!(matches!(e, ConnError::Frame(_)), "{e}");
    }
}
