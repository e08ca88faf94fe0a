//! MCP over stdio: newline-delimited JSON-RPC on stdin/stdout, for gateways that launch the
//! plugin server as a child process (`cmd: ["plugwire", "serve", "--stdio"]`).
//!
//! stdout carries only JSON-RPC lines (logs go to stderr, set up by the binary). Requests run
//! concurrently, each in its own task, so one slow plugin does not hold up the others; one
//! writer task serializes the answers. A line is answered as Streamable HTTP answers a body
//! (the one-pass `invoke_hook` decoding, else the generic dispatch), with the same bytes. A
//! line that is not JSON-RPC gets a JSON-RPC error
//! (there is no HTTP status here) and the loop goes on; a line over the size limit is skipped
//! to its end and answered with an error. EOF on stdin or `shutdown` stops reading; in-flight
//! requests are answered before returning, within `drain_timeout` (then they are abandoned).
//!
//! After `shutdown` a read of stdin may still be pending: `tokio::io::stdin()` reads on a
//! blocking thread that nothing can cancel, and a gateway may hold the pipe open for ever. The
//! caller must not wait for that thread: the binary ends its runtime with
//! `Runtime::shutdown_background` once this returns.

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use plugwire_mcp::{codes, parse_message, ErrorResponse};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use crate::backend::Backend;
use crate::dispatch;

/// One line read from the input.
enum Line {
    /// A complete line (without the newline).
    Full(Vec<u8>),
    /// A line longer than the limit (its bytes were discarded).
    TooLong,
}

/// Reads `\n`-terminated lines with a size cap, without ever buffering more than the cap.
async fn next_line<R: AsyncRead + Unpin>(
    reader: &mut BufReader<R>,
    max: usize,
) -> io::Result<Option<Line>> {
    let mut line = Vec::new();
    let mut too_long = false;
    let mut seen_any = false;
    loop {
        let buf = reader.fill_buf().await?;
        if buf.is_empty() {
            return Ok(match (seen_any, too_long) {
                (false, _) => None,
                (true, true) => Some(Line::TooLong),
                (true, false) => Some(Line::Full(line)),
            });
        }
        seen_any = true;
        let (chunk, used, done) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => (&buf[..i], i + 1, true),
            None => (buf, buf.len(), false),
        };
        if !too_long {
            if line.len() + chunk.len() > max {
                too_long = true;
                line = Vec::new();
            } else {
                line.extend_from_slice(chunk);
            }
        }
        reader.consume(used);
        if done {
            return Ok(Some(if too_long {
                Line::TooLong
            } else {
                Line::Full(line)
            }));
        }
    }
}

/// Serves JSON-RPC lines from `input` to `output` until EOF or `shutdown`.
pub async fn serve_stdio<R, W>(
    backend: Arc<dyn Backend>,
    input: R,
    output: W,
    max_line_bytes: usize,
    drain_timeout: Duration,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let (tx, mut rx) = mpsc::unbounded_channel::<Vec<u8>>();
    let mut writer = tokio::spawn(async move {
        let mut output = output;
        while let Some(mut line) = rx.recv().await {
            line.push(b'\n');
            output.write_all(&line).await?;
            output.flush().await?;
        }
        Ok::<_, io::Error>(())
    });

    let mut reader = BufReader::new(input);
    let mut tasks = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let line = tokio::select! {
            _ = &mut shutdown => break,
            line = next_line(&mut reader, max_line_bytes) => line?,
        };
        let bytes = match line {
            None => break,
            Some(Line::TooLong) => {
                send(
                    &tx,
                    &ErrorResponse::new(
                        None,
                        codes::INVALID_REQUEST,
                        format!("message longer than {max_line_bytes} bytes; raise PLUGINS_SERVER_MAX_BODY_BYTES (or --max-body-bytes)"),
                    ),
                );
                continue;
            }
            Some(Line::Full(b)) => b,
        };
        if bytes.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let backend = Arc::clone(&backend);
        let tx = tx.clone();
        tasks.spawn(async move {
            if let Some(answer) = answer_line(&backend, &bytes).await {
                // The writer only stops when stdout is gone; then there is nobody to answer.
                let _ = tx.send(answer);
            }
        });
        // Reap finished tasks so the set does not grow without bound.
        while tasks.try_join_next().is_some() {}
    }
    // One deadline for the whole drain: the calls in flight, then their answers on stdout.
    let deadline = tokio::time::Instant::now() + drain_timeout;
    let drained = tokio::time::timeout_at(deadline, async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            "stdio: requests still running after {}s; abandoning them",
            drain_timeout.as_secs_f64()
        );
        tasks.abort_all();
    }
    drop(tx);
    // A gateway that keeps stdout open without reading it would block the last write forever;
    // the answers that are ready get the rest of the deadline, and at least WRITER_GRACE.
    let writer_deadline = deadline.max(tokio::time::Instant::now() + WRITER_GRACE);
    match tokio::time::timeout_at(writer_deadline, &mut writer).await {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => Err(io::Error::other(format!("stdio writer task failed: {e}"))),
        Err(_) => {
            writer.abort();
            tracing::warn!("stdio: stdout is not being read; abandoning the unwritten answers");
            Ok(())
        }
    }
}

/// The least time the answers of a drain get to reach stdout, even when the calls took the
/// whole drain timeout.
const WRITER_GRACE: Duration = Duration::from_secs(1);

/// One line's answer, found as Streamable HTTP finds a body's: a `tools/call invoke_hook`
/// through the one-pass decoding (the same bytes, without a `Value` of the request), anything
/// else (a line that is not JSON-RPC included) through the generic dispatch. `None` for
/// notifications and responses.
async fn answer_line(backend: &Arc<dyn Backend>, line: &[u8]) -> Option<Vec<u8>> {
    if let Some(answer) = dispatch::answer_invoke_hook(backend, line).await {
        return Some(answer);
    }
    match parse_message(line) {
        Err(e) => Some(to_line(&e.to_response())),
        Ok(msg) => Some(to_line(&dispatch::handle_message(backend, msg).await?)),
    }
}

fn send<T: serde::Serialize>(tx: &mpsc::UnboundedSender<Vec<u8>>, v: &T) {
    // The writer only stops when stdout is gone; then there is nobody to answer.
    let _ = tx.send(to_line(v));
}

fn to_line<T: serde::Serialize>(v: &T) -> Vec<u8> {
    serde_json::to_vec(v).unwrap_or_else(|_| serde_json::to_vec(&Value::Null).unwrap_or_default())
}
