//! `proto: STDIO`: the plugin server is a child process; its stdin/stdout carry one JSON-RPC
//! message per line, its stderr is passed through to ours (its logs).
//!
//! The child is started by the handshake and restarted by the session layer after it dies (a
//! crash is the stdio form of a server restart).

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;

use plugwire_mcp::{parse_message, Message, ParseError, RequestId};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::sync::{oneshot, Mutex};

use crate::connector::ConnectionStats;
use crate::error::{Cause, ClientError};

/// How to start the child.
#[derive(Debug, Clone)]
pub(crate) struct StdioSpec {
    pub(crate) program: String,
    pub(crate) args: Vec<String>,
    /// Added to (and overriding) the gateway's own environment, as the Python client does.
    pub(crate) env: Vec<(String, String)>,
    pub(crate) cwd: Option<PathBuf>,
}

impl StdioSpec {
    /// `script` → interpreter by extension (`.py` → python3, `.sh` → sh, else run it directly);
    /// `cmd` → argv as given.
    pub(crate) fn from_script(script: &str) -> Self {
        let (program, args) = if script.ends_with(".py") {
            ("python3".to_string(), vec![script.to_string()])
        } else if script.ends_with(".sh") {
            ("sh".to_string(), vec![script.to_string()])
        } else {
            (script.to_string(), Vec::new())
        };
        Self {
            program,
            args,
            env: Vec::new(),
            cwd: None,
        }
    }

    /// For error messages: the command line.
    pub(crate) fn describe(&self) -> String {
        let mut s = format!("stdio:{}", self.program);
        for a in &self.args {
            s.push(' ');
            s.push_str(a);
        }
        s
    }
}

/// Callers waiting for an answer; `closed` once the reader ended (no answer will ever come).
#[derive(Default)]
struct PendingMap {
    waiting: HashMap<RequestId, oneshot::Sender<Message>>,
    closed: bool,
}

type Pending = Arc<std::sync::Mutex<PendingMap>>;

struct Running {
    child: Child,
    stdin: ChildStdin,
    pending: Pending,
}

/// One child process speaking JSON-RPC over stdio.
pub(crate) struct StdioTransport {
    plugin: String,
    spec: StdioSpec,
    display: String,
    running: Mutex<Option<Running>>,
    stats: Arc<ConnectionStats>,
    max_line: usize,
}

impl StdioTransport {
    pub(crate) fn new(
        plugin: String,
        spec: StdioSpec,
        stats: Arc<ConnectionStats>,
        max_line: usize,
    ) -> Self {
        let display = spec.describe();
        Self {
            plugin,
            spec,
            display,
            running: Mutex::new(None),
            stats,
            max_line,
        }
    }

    pub(crate) fn display(&self) -> &str {
        &self.display
    }

    fn lost(&self, message: impl Into<String>) -> ClientError {
        self.lost_by(message, None)
    }

    fn lost_by(&self, message: impl Into<String>, cause: impl Into<Option<Cause>>) -> ClientError {
        ClientError::lost(&self.plugin, &self.display, message, cause)
    }

    fn spawn(&self) -> Result<Running, ClientError> {
        let mut cmd = Command::new(&self.spec.program);
        cmd.args(&self.spec.args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        for (k, v) in &self.spec.env {
            cmd.env(k, v);
        }
        if let Some(cwd) = &self.spec.cwd {
            cmd.current_dir(cwd);
        }
        let mut child = cmd
            .spawn()
            .map_err(|e| ClientError::spawn(&self.plugin, &self.display, e))?;
        self.stats.count_connection();
        crate::metrics::child_started(&self.plugin);
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err(self.lost("the child process has no stdin/stdout pipes"));
        };
        let pending: Pending = Arc::default();
        tokio::spawn(read_loop(
            stdout,
            pending.clone(),
            self.max_line,
            self.plugin.clone(),
        ));
        Ok(Running {
            child,
            stdin,
            pending,
        })
    }

    /// Writes one message; for a request waits for the response with its id.
    pub(crate) async fn send(
        &self,
        method: &str,
        message: &Message,
    ) -> Result<Option<Message>, ClientError> {
        let id = match message {
            Message::Request(r) => Some(r.id.clone()),
            _ => None,
        };
        let mut line = serde_json::to_vec(&message.to_value())
            .map_err(|e| self.lost_by(e.to_string(), Cause::from(e)))?;
        line.push(b'\n');
        let receiver = {
            let mut guard = self.running.lock().await;
            if guard.is_none() {
                // Started only here, from a fresh handshake (after `reset`): a child that died is
                // reported as lost so that the session re-initializes the new one.
                *guard = Some(self.spawn()?);
            }
            let Some(running) = guard.as_mut() else {
                return Err(self.lost("the child process is not running"));
            };
            if let Ok(Some(status)) = running.child.try_wait() {
                return Err(self.lost(format!(
                    "{method}: the plugin server process exited ({status})"
                )));
            }
            let receiver = match id {
                None => None,
                Some(id) => {
                    let (tx, rx) = oneshot::channel();
                    let registered = match running.pending.lock() {
                        Ok(mut p) if !p.closed => {
                            p.waiting.insert(id, tx);
                            true
                        }
                        _ => false,
                    };
                    if !registered {
                        return Err(self.lost(format!(
                            "{method}: the plugin server process closed its stdout (exited?)"
                        )));
                    }
                    Some(rx)
                }
            };
            self.stats.count_request();
            if let Err(e) = running.stdin.write_all(&line).await {
                let message = format!("{method}: cannot write to the child: {e}");
                return Err(self.lost_by(message, Cause::from(e)));
            }
            let _ = running.stdin.flush().await;
            receiver
        };
        match receiver {
            None => Ok(None),
            Some(rx) => match rx.await {
                Ok(v) => Ok(Some(v)),
                Err(_) => {
                    // The reader ended: the child exited or wrote something unusable.
                    Err(self.lost(format!(
                        "{method}: the plugin server process exited or closed stdout before answering"
                    )))
                }
            },
        }
    }

    /// Stops the child (the next call starts a fresh one).
    pub(crate) async fn reset(&self) {
        let running = self.running.lock().await.take();
        if let Some(mut r) = running {
            // Closing stdin is the polite stop (EOF ends a stdio server); kill if it lingers.
            drop(r.stdin);
            let waited =
                tokio::time::timeout(std::time::Duration::from_secs(2), r.child.wait()).await;
            if waited.is_err() {
                let _ = r.child.start_kill();
                let _ = r.child.wait().await;
            }
        }
    }
}

/// Reads lines from the child, hands each response to the waiting caller; ends on EOF, on a line
/// over the limit, or on a read error (dropping every pending sender, which fails those calls).
async fn read_loop(stdout: ChildStdout, pending: Pending, max_line: usize, plugin: String) {
    let mut reader = BufReader::new(stdout);
    let mut line = Vec::new();
    loop {
        line.clear();
        let mut limited = (&mut reader).take(max_line as u64 + 1);
        match limited.read_until(b'\n', &mut line).await {
            Ok(0) => break,
            Ok(_) if line.len() > max_line => {
                tracing::error!(plugin = %plugin, "stdio plugin server wrote a line over {max_line} bytes; dropping the child");
                break;
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(plugin = %plugin, "reading the stdio plugin server failed: {e}");
                break;
            }
        }
        let text = String::from_utf8_lossy(&line);
        let text = text.trim();
        if text.is_empty() {
            continue;
        }
        let message = match parse_message(text.as_bytes()) {
            Ok(m) => m,
            Err(ParseError::NotJson(_)) => {
                tracing::warn!(plugin = %plugin, "stdio plugin server wrote a non-JSON line to stdout (logs belong on stderr): {:.120}", text);
                continue;
            }
            // JSON but not a JSON-RPC message: nobody waits for it.
            Err(_) => continue,
        };
        if let Some(id) = message.response_id() {
            let sender = pending.lock().ok().and_then(|mut p| p.waiting.remove(id));
            if let Some(tx) = sender {
                let _ = tx.send(message);
            }
        }
    }
    if let Ok(mut p) = pending.lock() {
        p.closed = true;
        p.waiting.clear();
    }
}
