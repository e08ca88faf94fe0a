//! Servers under test as child processes: start, wait for `/health`, measure, stop.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::error::{BenchError, Result};

/// A loopback port `p` with `p + 1000` also free (both servers put plain `/health` there).
pub fn free_port_pair() -> Result<u16> {
    for _ in 0..200 {
        let l = TcpListener::bind("127.0.0.1:0")?;
        let p = l.local_addr()?.port();
        if p > 64000 {
            continue;
        }
        if TcpListener::bind(("127.0.0.1", p + 1000)).is_ok() {
            return Ok(p);
        }
    }
    Err(BenchError::Run {
        what: "port search".into(),
        reason: "no free port pair p, p+1000 on 127.0.0.1".into(),
    })
}

/// `GET /health` over plain HTTP/1.1; true when the answer is 200 and says healthy.
pub fn healthy(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(b"GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut text = String::new();
    let _ = s.read_to_string(&mut text);
    text.starts_with("HTTP/1.1 200") && text.contains("healthy")
}

/// When a just-started server counts as ready.
#[derive(Debug, Clone)]
pub enum Ready {
    /// `GET /health` on this plain-HTTP port answers 200 and says healthy.
    Health(u16),
    /// Its log (stdout and stderr) contains this line fragment.
    LogLine(&'static str),
}

impl Ready {
    fn reached(&self, log: &Path) -> bool {
        match self {
            Ready::Health(port) => healthy(*port),
            Ready::LogLine(needle) => std::fs::read_to_string(log)
                .map(|t| t.contains(needle))
                .unwrap_or(false),
        }
    }
}

/// Where the clients of a server connect, besides its MCP port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// The MCP port of [`Server::port`].
    Mcp,
    /// A TCP port of another transport (gRPC).
    Tcp(u16),
    /// A Unix socket (gRPC or the raw protocol).
    Unix(PathBuf),
}

/// A running server process.
#[derive(Debug)]
pub struct Server {
    pub name: String,
    pub child: Child,
    pub port: u16,
    pub log: PathBuf,
    /// From `spawn` to the first healthy answer.
    pub start_to_healthy: Option<Duration>,
    /// Where clients of its transport connect.
    pub endpoint: Endpoint,
}

impl Server {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Spawns `cmd` (stdout and stderr to `log`) and polls `ready` every millisecond until it
    /// is reached, the process exits or `timeout` passes.
    pub fn start(
        name: &str,
        mut cmd: Command,
        port: u16,
        ready: Ready,
        log: &Path,
        timeout: Duration,
    ) -> Result<Self> {
        let out = std::fs::File::create(log).map_err(|source| BenchError::Write {
            path: log.into(),
            source,
        })?;
        let err = out.try_clone()?;
        cmd.stdin(Stdio::null()).stdout(out).stderr(err);
        let t0 = Instant::now();
        let child = cmd.spawn().map_err(|source| BenchError::Spawn {
            what: format!("{name} ({cmd:?})"),
            source,
        })?;
        let mut server = Self {
            name: name.into(),
            child,
            port,
            log: log.into(),
            start_to_healthy: None,
            endpoint: Endpoint::Mcp,
        };
        loop {
            if ready.reached(log) {
                server.start_to_healthy = Some(t0.elapsed());
                return Ok(server);
            }
            let exited = matches!(server.child.try_wait(), Ok(Some(_)));
            if exited || t0.elapsed() > timeout {
                server.stop();
                return Err(BenchError::NotHealthy {
                    what: name.into(),
                    secs: timeout.as_secs(),
                    output: tail(log, 30),
                });
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// The limit server: our own binary, which prints `port N` once it listens.
    pub fn start_limit(exe: &Path, certs: &crate::tlsfiles::Identity) -> Result<Self> {
        let mut child = Command::new(exe)
            .args(["--threads", "2", "limit-server", "--ca"])
            .arg(&certs.ca)
            .arg("--cert")
            .arg(&certs.cert)
            .arg("--key")
            .arg(&certs.key)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|source| BenchError::Spawn {
                what: format!("limit server ({})", exe.display()),
                source,
            })?;
        let mut line = String::new();
        if let Some(out) = child.stdout.take() {
            let _ = BufReader::new(out).read_line(&mut line);
        }
        let port = line
            .trim()
            .strip_prefix("port ")
            .and_then(|p| p.parse().ok());
        let Some(port) = port else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(BenchError::Run {
                what: "limit server".into(),
                reason: format!("expected `port N` on its stdout, got {line:?}"),
            });
        };
        Ok(Self {
            name: "limit".into(),
            child,
            port,
            log: PathBuf::new(),
            start_to_healthy: None,
            endpoint: Endpoint::Mcp,
        })
    }

    /// SIGTERM, up to 5 s to exit, then SIGKILL.
    pub fn stop(&mut self) {
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            return;
        }
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status();
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(5) {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The last `n` lines of a log, for error messages.
pub fn tail(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
