//! The load generator: `c` workers, each owning one kept-alive HTTP/1.1 connection over mTLS
//! (or a new connection per call, to measure handshakes), sharing a fixed number of calls.
//! Every connection is opened by [`Target::connect`], which counts it.
//!
//! Each worker is its own pool slot: with `c` workers at most `c` connections are open, and a
//! connection the server closes is replaced (and counted) on the next call.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{ACCEPT, CONTENT_TYPE, HOST};
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use rustls::ClientConfig;
use rustls_pki_types::ServerName;
use serde_json::json;
use tokio::net::TcpStream;
use tokio::sync::Barrier;
use tokio_rustls::TlsConnector;

use crate::error::{BenchError, Result};
use crate::payload::{RequestTemplate, EXPECTED_MARKER};
use crate::procfs;
use crate::stats::quantile;

/// Where the calls go.
#[derive(Debug)]
pub struct Target {
    /// Socket address to connect to (the URL's host resolved once, so DNS is not measured).
    pub addr: SocketAddr,
    /// `Host` header and TLS server name (`localhost`: the Python client refuses `127.0.0.1`).
    pub host: String,
    /// Request path, `/mcp`.
    pub path: String,
    /// Client side of mTLS.
    pub tls: Arc<ClientConfig>,
    /// Connections opened through [`Target::connect`].
    connects: AtomicUsize,
}

/// `mcp-session-id` / `mcp-protocol-version` a stateful server (the Python runtime) issued.
#[derive(Debug, Default, Clone)]
pub struct Session {
    pub id: Option<String>,
    pub protocol_version: Option<String>,
}

type Sender = SendRequest<Full<Bytes>>;

impl Target {
    pub fn new(addr: SocketAddr, host: &str, path: &str, tls: Arc<ClientConfig>) -> Self {
        Self {
            addr,
            host: format!("{host}:{}", addr.port()),
            path: path.into(),
            tls,
            connects: AtomicUsize::new(0),
        }
    }

    /// Connections opened so far.
    pub fn connections(&self) -> usize {
        self.connects.load(Ordering::Relaxed)
    }

    /// TCP connect + TLS handshake + HTTP/1.1 handshake; counted.
    pub async fn connect(&self) -> Result<Sender> {
        self.connects.fetch_add(1, Ordering::Relaxed);
        let tcp = TcpStream::connect(self.addr).await?;
        tcp.set_nodelay(true)?;
        let name = self.host.rsplit_once(':').map_or(&*self.host, |(h, _)| h);
        let server_name = ServerName::try_from(name.to_string()).map_err(|e| BenchError::Run {
            what: "TLS".into(),
            reason: format!("server name {name:?}: {e}"),
        })?;
        let tls = TlsConnector::from(self.tls.clone())
            .connect(server_name, tcp)
            .await?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .map_err(http_err)?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(sender)
    }

    fn request(&self, session: &Session, body: Bytes) -> Result<Request<Full<Bytes>>> {
        let mut req = Request::post(&self.path)
            .header(HOST, &self.host)
            .header(CONTENT_TYPE, "application/json")
            .header(ACCEPT, "application/json, text/event-stream");
        if let Some(id) = &session.id {
            req = req.header("mcp-session-id", id);
        }
        if let Some(v) = &session.protocol_version {
            req = req.header("mcp-protocol-version", v);
        }
        req.body(Full::new(body)).map_err(|e| BenchError::Run {
            what: "request".into(),
            reason: e.to_string(),
        })
    }

    /// One request on `sender`, body read to its end (JSON or SSE).
    async fn exchange(
        &self,
        sender: &mut Sender,
        session: &Session,
        body: Bytes,
    ) -> Result<(StatusCode, http::HeaderMap, Bytes)> {
        sender.ready().await.map_err(http_err)?;
        let resp = sender
            .send_request(self.request(session, body)?)
            .await
            .map_err(http_err)?;
        let (parts, body) = resp.into_parts();
        let bytes = body.collect().await.map_err(http_err)?.to_bytes();
        Ok((parts.status, parts.headers, bytes))
    }

    /// A new connection (TCP + TLS + HTTP/1.1 handshake) and one hook call on it, each timed
    /// (the first-call figure). No MCP session: `plugwire serve` needs none.
    pub async fn fresh_call(&self, body: Bytes) -> Result<(Duration, Duration)> {
        let t0 = Instant::now();
        let mut sender = self.connect().await?;
        let connected = t0.elapsed();
        let t1 = Instant::now();
        let (status, _, bytes) = self
            .exchange(&mut sender, &Session::default(), body)
            .await?;
        let called = t1.elapsed();
        if !status.is_success() || !contains(&bytes, EXPECTED_MARKER) {
            return Err(BenchError::Run {
                what: "call".into(),
                reason: format!("HTTP {status}: {}", String::from_utf8_lossy(&bytes)),
            });
        }
        Ok((connected, called))
    }

    /// `initialize` + `notifications/initialized`, keeping whatever session the server issues
    /// (none from `plugwire serve`, one from the Python runtime).
    pub async fn open_session(&self) -> Result<Session> {
        let mut sender = self.connect().await?;
        let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {},
            "clientInfo": {"name": "plugwire-bench", "version": env!("CARGO_PKG_VERSION")}}});
        let (status, headers, body) = self
            .exchange(
                &mut sender,
                &Session::default(),
                Bytes::from(init.to_string()),
            )
            .await?;
        if !status.is_success() {
            return Err(BenchError::Run {
                what: format!("initialize at {}", self.host),
                reason: format!("HTTP {status}: {}", String::from_utf8_lossy(&body)),
            });
        }
        let text = String::from_utf8_lossy(&body);
        let version = text
            .split("\"protocolVersion\":\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .map(str::to_string);
        let session = Session {
            id: headers
                .get("mcp-session-id")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string),
            protocol_version: version,
        };
        let note = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        let (status, _, body) = self
            .exchange(&mut sender, &session, Bytes::from(note.to_string()))
            .await?;
        if !status.is_success() {
            return Err(BenchError::Run {
                what: format!("notifications/initialized at {}", self.host),
                reason: format!("HTTP {status}: {}", String::from_utf8_lossy(&body)),
            });
        }
        Ok(session)
    }
}

fn http_err(e: impl std::fmt::Display) -> BenchError {
    BenchError::Run {
        what: "HTTP".into(),
        reason: e.to_string(),
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// How to drive one measurement.
#[derive(Debug, Clone)]
pub struct LoadSpec {
    /// Workers (and at most this many open connections).
    pub concurrency: usize,
    /// Timed calls, shared by all workers.
    pub calls: usize,
    /// Open a new connection (full TLS handshake) for every call.
    pub new_connection_per_call: bool,
    /// Untimed calls per worker before the clock starts (opens the kept-alive connections).
    pub warmup_per_worker: usize,
}

/// What one measurement saw.
#[derive(Debug, Clone)]
pub struct LoadResult {
    pub concurrency: usize,
    pub calls: usize,
    pub errors: usize,
    pub first_error: Option<String>,
    /// Timed calls answered as expected: `ok + errors == calls` (a call is never uncounted).
    pub ok: usize,
    /// Failed timed calls by cause: `connect: ...` never reached the server (refused, TLS
    /// handshake), `call: ...` was written and got no (good) answer.
    pub causes: BTreeMap<String, usize>,
    pub elapsed: Duration,
    /// Sorted latencies of the successful timed calls.
    pub latencies: Vec<Duration>,
    /// Connections the connector opened, warm-up and session set-up included.
    pub connections: usize,
    /// Server CPU (user + system) during the timed calls, when a server pid was given.
    pub server_cpu: Option<Duration>,
    /// CPU of this process during the timed calls (the load generator's cost).
    pub client_cpu: Option<Duration>,
}

impl LoadResult {
    pub fn calls_per_sec(&self) -> f64 {
        (self.calls - self.errors) as f64 / self.elapsed.as_secs_f64()
    }
    pub fn p50(&self) -> Duration {
        quantile(&self.latencies, 0.50)
    }
    pub fn p99(&self) -> Duration {
        quantile(&self.latencies, 0.99)
    }
    pub fn server_cpu_per_call(&self) -> Option<Duration> {
        self.server_cpu
            .map(|c| c / u32::try_from(self.calls.max(1)).unwrap_or(u32::MAX))
    }
}

struct Shared {
    target: Arc<Target>,
    session: Session,
    template: RequestTemplate,
    next_call: AtomicUsize,
    next_id: AtomicU64,
    spec: LoadSpec,
    barrier: Barrier,
}

struct WorkerOut {
    latencies: Vec<Duration>,
    errors: usize,
    first_error: Option<String>,
    causes: BTreeMap<String, usize>,
}

/// The cause of a failed call, short enough to count by (the text up to its first detail).
fn cause(stage: &str, e: &BenchError) -> String {
    let text = e.to_string();
    let short: String = text.chars().take(70).collect();
    format!("{stage}: {short}")
}

impl Shared {
    async fn call(
        &self,
        conn: &mut Option<Sender>,
    ) -> std::result::Result<(), (String, BenchError)> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let body = self.template.with_id(id);
        let reuse = !self.spec.new_connection_per_call;
        let mut sender = match conn.take() {
            Some(s) if reuse && !s.is_closed() => s,
            _ => self
                .target
                .connect()
                .await
                .map_err(|e| (cause("connect", &e), e))?,
        };
        if reuse && sender.ready().await.is_err() {
            // Closed by the server after its last answer (`connection: close`, a drain): the
            // request was never written, so a new connection is what any pool does.
            sender = self
                .target
                .connect()
                .await
                .map_err(|e| (cause("connect", &e), e))?;
        }
        let (status, _, bytes) = self
            .target
            .exchange(&mut sender, &self.session, body)
            .await
            .map_err(|e| (cause("call", &e), e))?;
        if reuse {
            *conn = Some(sender);
        }
        if !status.is_success() {
            return Err((
                format!("call: HTTP {status}"),
                BenchError::Run {
                    what: "call".into(),
                    reason: format!("HTTP {status}: {}", String::from_utf8_lossy(&bytes)),
                },
            ));
        }
        if !contains(&bytes, EXPECTED_MARKER) {
            return Err((
                "call: unexpected answer".into(),
                BenchError::Run {
                    what: "call".into(),
                    reason: format!("unexpected answer: {}", String::from_utf8_lossy(&bytes)),
                },
            ));
        }
        Ok(())
    }

    async fn worker(self: Arc<Self>) -> WorkerOut {
        let mut out = WorkerOut {
            latencies: Vec::with_capacity(self.spec.calls / self.spec.concurrency + 1),
            errors: 0,
            first_error: None,
            causes: BTreeMap::new(),
        };
        let mut conn = None;
        for _ in 0..self.spec.warmup_per_worker {
            if let Err((_, e)) = self.call(&mut conn).await {
                out.first_error.get_or_insert(format!("warm-up: {e}"));
            }
        }
        self.barrier.wait().await;
        while self.next_call.fetch_add(1, Ordering::Relaxed) < self.spec.calls {
            let t0 = Instant::now();
            match self.call(&mut conn).await {
                Ok(()) => out.latencies.push(t0.elapsed()),
                Err((cause, e)) => {
                    out.errors += 1;
                    *out.causes.entry(cause).or_default() += 1;
                    out.first_error.get_or_insert(e.to_string());
                }
            }
        }
        out
    }
}

/// Runs `spec` against `target`; `server_pid` is sampled for CPU just around the timed calls.
pub async fn run(
    target: Arc<Target>,
    session: Session,
    template: RequestTemplate,
    spec: LoadSpec,
    server_pid: Option<u32>,
) -> LoadResult {
    let before_conns = target.connections();
    let shared = Arc::new(Shared {
        target: target.clone(),
        session,
        template,
        next_call: AtomicUsize::new(0),
        next_id: AtomicU64::new(1),
        barrier: Barrier::new(spec.concurrency + 1),
        spec: spec.clone(),
    });
    let handles: Vec<_> = (0..spec.concurrency)
        .map(|_| tokio::spawn(shared.clone().worker()))
        .collect();
    shared.barrier.wait().await;
    let cpu0 = server_pid.map(procfs::CpuReading::of);
    let me0 = procfs::CpuReading::of(std::process::id());
    let t0 = Instant::now();
    let mut latencies = Vec::with_capacity(spec.calls);
    let mut errors = 0;
    let mut first_error = None;
    let mut causes = BTreeMap::new();
    for h in handles {
        match h.await {
            Ok(out) => {
                latencies.extend(out.latencies);
                errors += out.errors;
                for (c, n) in out.causes {
                    *causes.entry(c).or_default() += n;
                }
                if first_error.is_none() {
                    first_error = out.first_error;
                }
            }
            Err(e) => {
                errors += 1;
                *causes.entry("worker panicked".to_string()).or_default() += 1;
                first_error.get_or_insert(format!("worker panicked: {e}"));
            }
        }
    }
    let elapsed = t0.elapsed();
    let server_cpu = match (cpu0, server_pid) {
        (Some(a), Some(pid)) => procfs::CpuReading::of(pid).since(&a),
        _ => None,
    };
    let client_cpu = procfs::CpuReading::of(std::process::id()).since(&me0);
    latencies.sort_unstable();
    LoadResult {
        concurrency: spec.concurrency,
        calls: spec.calls,
        errors,
        first_error,
        ok: latencies.len(),
        causes,
        elapsed,
        latencies,
        connections: target.connections() - before_conns,
        server_cpu,
        client_cpu,
    }
}
