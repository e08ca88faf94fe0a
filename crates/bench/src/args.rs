//! The benchmark's options (`run`, `render`) and the server kinds. Both the suite (which
//! measures) and the report (which the saved JSON is read back into) need them; keeping them
//! here means neither of those two modules imports the other's types in a circle.

use std::path::PathBuf;

/// Options of `plugwire-bench run`.
#[derive(Debug, Clone, clap::Args, serde::Serialize, serde::Deserialize)]
pub struct SuiteArgs {
    /// Where to write the report.
    #[arg(long, default_value = "docs/benchmarks.md")]
    pub out: PathBuf,
    /// The `plugwire` binary (release build).
    #[arg(long, default_value = "target/release/plugwire")]
    pub plugwire: PathBuf,
    /// Python of the interop venv (mcp-contextforge-gateway 1.0.0, with its gRPC and raw-socket
    /// runtimes and clients).
    #[arg(long, default_value = "target/interop-venv/bin/python")]
    pub python: PathBuf,
    /// scripts/bench (python/client.py, openssl-certs.sh, findings.md).
    #[arg(long, default_value = "scripts/bench")]
    pub scripts: PathBuf,
    /// The link order the release binary was built with (crates/cli/build.rs): the report says
    /// how many of its functions the binary still has.
    #[arg(long, default_value = "crates/cli/link-order.txt")]
    #[serde(default = "default_link_order")]
    pub link_order: PathBuf,
    /// The interop tests' directory: the Python runtime wrapper (pyruntime.py) and plugin
    /// modules (pyplugins/) are reused from there.
    #[arg(long, default_value = "tests/interop")]
    pub interop: PathBuf,
    /// Repetitions of every measurement; the report quotes medians.
    #[arg(long, default_value_t = 3)]
    pub runs: usize,
    /// Concurrency levels.
    #[arg(long, value_delimiter = ',', default_value = "1,16,64")]
    pub concurrency: Vec<usize>,
    /// Calls per run against the Rust servers.
    #[arg(long, default_value_t = 20_000)]
    pub calls_fast: usize,
    /// Calls per run against the Python runtime (Rust clients).
    #[arg(long, default_value_t = 2_000)]
    pub calls_slow: usize,
    /// Calls per run made by the Python client.
    #[arg(long, default_value_t = 1_000)]
    pub calls_python_client: usize,
    /// Calls (= new connections) per handshake run.
    #[arg(long, default_value_t = 600)]
    pub handshakes: usize,
    /// Concurrency of the handshake runs.
    #[arg(long, default_value_t = 4)]
    pub handshake_concurrency: usize,
    /// Key type of the certificates the servers use (`plugwire certs --key-type`).
    #[arg(long, default_value = "rsa4096")]
    pub key_type: String,
    /// Starts per server for the start-to-healthy figure.
    #[arg(long, default_value_t = 5)]
    pub starts: usize,
    /// Runs per tool and key type of the `certs all` timing (RSA-4096 uses at most 3).
    #[arg(long, default_value_t = 5)]
    pub cert_runs: usize,
    /// Skip the extra profiled run (`perf record` on plugwire serve and the limit at c=16).
    #[arg(long)]
    pub no_profile: bool,
    /// Fresh starts of `plugwire serve` for the first-call figure (first hook call after healthy
    /// against warm calls of the same process).
    #[arg(long, default_value_t = 5)]
    #[serde(default)]
    pub first_call_starts: usize,
    /// Longest timed run of the plugwire client, in seconds: past it the run stops taking new
    /// calls and reports those it made (a transport far slower than expected must not stall the
    /// suite).
    #[arg(long, default_value_t = 30)]
    #[serde(default)]
    pub max_run_secs: u64,
    /// Leave out the gRPC and raw-socket servers and pairs.
    #[arg(long)]
    #[serde(default)]
    pub no_transports: bool,
    /// Leave out everything that needs Python.
    #[arg(long)]
    pub no_python: bool,
    /// A few calls of everything (no Python, ECDSA only): checks the harness, numbers mean nothing.
    #[arg(long)]
    pub smoke: bool,
    /// Keep certificates and logs here instead of a temporary directory.
    #[arg(long)]
    pub work_dir: Option<PathBuf>,
    /// Where to keep every measurement as JSON (`plugwire-bench render` rewrites the report
    /// from it, e.g. after editing scripts/bench/findings.md).
    #[arg(long, default_value = "target/bench-results.json")]
    pub results: PathBuf,
    /// The command the user typed (e.g. `make bench`), printed beside this process's arguments.
    #[arg(long)]
    pub command: Option<String>,
}

impl SuiteArgs {
    pub(crate) fn apply_smoke(&mut self) {
        if self.smoke {
            self.no_python = true;
            self.no_profile = true;
            self.runs = 1;
            self.concurrency = vec![1, 4];
            self.calls_fast = 200;
            self.calls_slow = 50;
            self.calls_python_client = 50;
            self.handshakes = 20;
            self.starts = 1;
            self.first_call_starts = 2;
            self.cert_runs = 1;
            self.key_type = "ecdsa-p256".into();
        }
    }
}

/// Which process plays which server. Each kind speaks one transport, so a pair's kind says
/// both the server and how its clients reach it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Kind {
    Limit,
    /// `plugwire serve`, MCP over HTTP with mTLS, metrics on (the default).
    Plugwire,
    /// The ContextForge 1.0.0 MCP runtime.
    Python,
    /// `plugwire serve` with `ENABLE_METRICS=false`: the baseline of the metrics cost.
    PlugwireNoMetrics,
    /// `plugwire serve --transport http,grpc`, gRPC over TCP with mTLS.
    PlugwireGrpc,
    /// `plugwire serve --transport http,grpc`, gRPC over a Unix socket.
    PlugwireGrpcUds,
    /// `plugwire serve --transport http,unix`, the raw Unix-socket protocol.
    PlugwireUnix,
    /// The ContextForge 1.0.0 gRPC runtime (mTLS).
    PythonGrpc,
    /// The ContextForge 1.0.0 gRPC runtime on a Unix socket (`PLUGINS_GRPC_SERVER_UDS`).
    PythonGrpcUds,
    /// The ContextForge 1.0.0 raw Unix-socket runtime.
    PythonUnix,
}

/// How a client reaches a server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// MCP streamable HTTP over TLS (mTLS).
    Mcp,
    /// gRPC over TCP with mTLS.
    GrpcTls,
    /// gRPC over a Unix socket (no TLS).
    GrpcUds,
    /// 4-byte length + protobuf over a Unix socket.
    Raw,
}

impl Transport {
    pub fn label(self) -> &'static str {
        match self {
            Transport::Mcp => "MCP/HTTP mTLS",
            Transport::GrpcTls => "gRPC mTLS",
            Transport::GrpcUds => "gRPC UDS",
            Transport::Raw => "raw socket",
        }
    }
}

impl Kind {
    pub fn label(self) -> &'static str {
        match self {
            Kind::Limit => "limit (rustls, fixed answer)",
            Kind::Plugwire => "plugwire serve",
            Kind::Python => "Python runtime 1.0.0",
            Kind::PlugwireNoMetrics => "plugwire serve, ENABLE_METRICS=false",
            Kind::PlugwireGrpc => "plugwire serve, gRPC mTLS",
            Kind::PlugwireGrpcUds => "plugwire serve, gRPC UDS",
            Kind::PlugwireUnix => "plugwire serve, raw socket",
            Kind::PythonGrpc => "Python gRPC runtime 1.0.0",
            Kind::PythonGrpcUds => "Python gRPC runtime 1.0.0, UDS",
            Kind::PythonUnix => "Python raw-socket runtime 1.0.0",
        }
    }

    pub fn transport(self) -> Transport {
        match self {
            Kind::Limit | Kind::Plugwire | Kind::Python | Kind::PlugwireNoMetrics => Transport::Mcp,
            Kind::PlugwireGrpc | Kind::PythonGrpc => Transport::GrpcTls,
            Kind::PlugwireGrpcUds | Kind::PythonGrpcUds => Transport::GrpcUds,
            Kind::PlugwireUnix | Kind::PythonUnix => Transport::Raw,
        }
    }

    /// A Python process (slower: fewer calls per run, fewer starts).
    pub fn is_python(self) -> bool {
        matches!(
            self,
            Kind::Python | Kind::PythonGrpc | Kind::PythonGrpcUds | Kind::PythonUnix
        )
    }

    /// Whether the Python gateway client is measured against this server (every transport,
    /// gRPC on a Unix socket included: plugwire repairs the `:authority` grpc-python sends
    /// there).
    pub fn python_client_pair(self) -> bool {
        !matches!(self, Kind::Limit | Kind::PlugwireNoMetrics)
    }

    /// Whether the plugwire gateway client is measured against this server.
    pub fn plugwire_client_pair(self) -> bool {
        !matches!(
            self,
            Kind::Limit
                | Kind::PlugwireNoMetrics
                | Kind::PythonGrpc
                | Kind::PythonGrpcUds
                | Kind::PythonUnix
        )
    }

    /// The Python server of the same transport, the reference of the `× Python` column.
    pub fn python_peer(self) -> Kind {
        match self.transport() {
            Transport::GrpcTls => Kind::PythonGrpc,
            Transport::GrpcUds => Kind::PythonGrpcUds,
            Transport::Raw => Kind::PythonUnix,
            Transport::Mcp => Kind::Python,
        }
    }

    /// The servers of the first benchmark (MCP only): the load generator, handshakes, perf.
    pub fn is_mcp_core(self) -> bool {
        matches!(self, Kind::Limit | Kind::Plugwire | Kind::Python)
    }
}

/// Options of `plugwire-bench render`.
#[derive(Debug, Clone, clap::Args)]
pub struct RenderArgs {
    /// The JSON a `run` saved.
    #[arg(long, default_value = "target/bench-results.json")]
    pub results: PathBuf,
    #[arg(long, default_value = "docs/benchmarks.md")]
    pub out: PathBuf,
    /// scripts/bench, for findings.md.
    #[arg(long, default_value = "scripts/bench")]
    pub scripts: PathBuf,
}

/// Reports saved before `--link-order` existed read back with its default.
fn default_link_order() -> PathBuf {
    PathBuf::from("crates/cli/link-order.txt")
}
