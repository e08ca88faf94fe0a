//! Scaffolding shared by the CLI tests: the binary, a plugwire server in this process on
//! 127.0.0.1:0, `plugwire serve` as a child on a Unix socket (start-up wait, signals, one HTTP
//! request over the socket), and bounded waits. Each test binary uses a part of it.
#![allow(dead_code, clippy::unwrap_used)]

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use plugwire_framework::{Config, PluginManager};
use plugwire_server::{App, ConnLimits, HostPolicy, ManagerBackend};

pub mod transports;

/// The `plugwire` binary Cargo built for these tests.
pub const BIN: &str = env!("CARGO_BIN_EXE_plugwire");

/// How long a wait may last before the test fails: a guard against hangs, not a speed bound.
pub const NO_HANG: Duration = Duration::from_secs(30);

/// The SearchReplace entry of [`REPLACE_YAML`] and [`REPLACE_AND_DENY_YAML`], as a literal so
/// both constants are built from it at compile time.
macro_rules! replace_entry {
    () => {
        r#"
plugins:
  - name: ReplaceBadWordsPlugin
    kind: plugins.regex_filter.search_replace.SearchReplacePlugin
    hooks: [prompt_pre_fetch, tool_pre_invoke]
    mode: enforce
    priority: 150
    config:
      words:
        - search: crap
          replace: crud
"#
    };
}

/// One built-in plugin: `crap` → `crud` on prompts and tool calls.
pub const REPLACE_YAML: &str = replace_entry!();

/// Two built-in plugins: `crap` → `crud` on prompts and tool calls, and a deny-list that
/// blocks `innovative` in prompts.
pub const REPLACE_AND_DENY_YAML: &str = concat!(
    replace_entry!(),
    r#"  - name: DenyListPlugin
    kind: plugins.deny_filter.deny.DenyListPlugin
    hooks: [prompt_pre_fetch]
    mode: enforce
    priority: 100
    config:
      words: [innovative]
"#
);

/// The deny-list entry of [`DENY_YAML`] (blocks `innovative` in prompts and tool calls), as a
/// literal so other fixtures can `concat!` it after their own entries.
macro_rules! deny_entry {
    () => {
        r#"  - name: DenyListPlugin
    kind: plugins.deny_filter.deny.DenyListPlugin
    hooks: ["prompt_pre_fetch", "tool_pre_invoke"]
    config:
      words: [innovative]
"#
    };
}
// Each test binary includes this module; only some use the macro.
#[allow(unused_imports)]
pub(crate) use deny_entry;

/// One built-in plugin: a deny-list that blocks `innovative` in prompts and tool calls.
pub const DENY_YAML: &str = concat!("\nplugins:\n", deny_entry!());

/// A plugwire MCP server in this process (built-in plugins of `yaml`), on 127.0.0.1:0.
pub struct InProcessServer {
    pub port: u16,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl InProcessServer {
    pub async fn start(yaml: &str) -> Self {
        let config = Config::load_str(yaml, "server.yaml", &plugwire_framework::EmptyEnv).unwrap();
        let mut manager =
            PluginManager::new(config, &plugwire_plugins::builtin_registry()).unwrap();
        manager.initialize().await.unwrap();
        let app = Arc::new(App {
            backend: Arc::new(ManagerBackend::new(Arc::new(manager))),
            max_body_bytes: plugwire_server::DEFAULT_MAX_BODY_BYTES,
            host_policy: HostPolicy::new(true, &[]),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let limits = ConnLimits {
            drain_timeout: Duration::from_millis(200),
            ..ConnLimits::default()
        };
        let task = tokio::spawn(async move {
            plugwire_server::serve_tcp(listener, app, None, limits, async {
                let _ = rx.await;
            })
            .await;
        });
        InProcessServer {
            port,
            stop: Some(tx),
            task,
        }
    }

    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        let _ = self.task.await;
    }
}

/// `plugwire serve` with an empty environment: only what the test sets, no `PLUGINS_*` from
/// the developer's shell.
pub fn serve_cmd() -> Command {
    let mut c = Command::new(BIN);
    c.env_clear();
    c.arg("serve");
    c
}

/// Waits until the server's socket `path` exists; fails with the child's stderr (when piped)
/// if it exits first.
pub fn wait_for_socket(path: &Path, child: &mut Child) {
    let start = Instant::now();
    while !path.exists() {
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            if let Some(mut stderr) = child.stderr.take() {
                let _ = stderr.read_to_string(&mut err);
            }
            panic!("server exited early ({status}): {err}");
        }
        assert!(start.elapsed() < NO_HANG, "socket never appeared");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `plugwire serve --config CFG` on the Unix socket `sock` with `extra` environment (stdout
/// dropped, stderr piped), once the socket exists.
pub fn serve_on_socket(cfg: &Path, sock: &Path, extra: &[(&str, &str)]) -> KillOnDrop {
    let child = serve_cmd()
        .arg("--config")
        .arg(cfg)
        .env("PLUGINS_SERVER_UDS", sock)
        .envs(extra.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut child = KillOnDrop::new(child);
    wait_for_socket(sock, &mut child);
    child
}

/// [`serve_on_socket`] with `yaml` written to `DIR/plugins.yaml`, on `DIR/p.sock`: the child
/// and its socket.
pub fn serve_yaml_in(dir: &Path, yaml: &str, extra: &[(&str, &str)]) -> (KillOnDrop, PathBuf) {
    let sock = dir.join("p.sock");
    let cfg = dir.join("plugins.yaml");
    std::fs::write(&cfg, yaml).unwrap();
    let child = serve_on_socket(&cfg, &sock, extra);
    (child, sock)
}

/// A child killed and reaped when dropped, so that a failed assertion does not leave the
/// server it runs behind. A test that stops it itself signals it and waits through the guard
/// (or takes the child out with [`KillOnDrop::into_inner`]); the kill then finds nothing to do.
pub struct KillOnDrop(Option<Child>);

impl KillOnDrop {
    pub fn new(child: Child) -> Self {
        Self(Some(child))
    }

    /// The child, no longer killed on drop (to wait for its output by value).
    pub fn into_inner(mut self) -> Child {
        self.0
            .take()
            .expect("the child is present until into_inner")
    }
}

impl From<Child> for KillOnDrop {
    fn from(child: Child) -> Self {
        Self::new(child)
    }
}

impl std::ops::Deref for KillOnDrop {
    type Target = Child;
    fn deref(&self) -> &Child {
        self.0
            .as_ref()
            .expect("the child is present until into_inner")
    }
}

impl std::ops::DerefMut for KillOnDrop {
    fn deref_mut(&mut self) -> &mut Child {
        self.0
            .as_mut()
            .expect("the child is present until into_inner")
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Waits for the child with a generous bound (kills it and fails when it hangs).
pub fn wait_bounded(child: impl Into<KillOnDrop>) -> Output {
    let mut child = child.into();
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        // The guard kills it when this fails.
        assert!(start.elapsed() <= NO_HANG, "plugwire serve did not exit");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.into_inner().wait_with_output().unwrap()
}

/// Sends `sig` (`-TERM`, `-HUP`, `-INT`) to the child.
pub fn signal(child: &Child, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
}

/// One HTTP/1.1 request over the Unix socket: (status line, body), or the I/O error.
pub fn uds_request(
    sock: &Path,
    method: &str,
    path: &str,
    body: &str,
) -> std::io::Result<(String, String)> {
    let mut s = UnixStream::connect(sock)?;
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    let status = out.lines().next().unwrap_or("").to_string();
    let body = out.split("\r\n\r\n").nth(1).unwrap_or("").to_string();
    Ok((status, body))
}

/// Polls `cond` until it holds; fails naming `what` after [`NO_HANG`].
pub fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < NO_HANG, "never happened: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}
