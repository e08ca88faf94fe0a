//! Shared test helpers: a fake backend, a server on 127.0.0.1:0, and a plain hyper client.
#![allow(dead_code, clippy::unwrap_used)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use plugwire_mcp::{InvokeHookResponse, RawInvokeHookArgs, TextResultWriter};
use plugwire_server::{App, Backend, ConnLimits, HostPolicy};
use serde_json::{json, Value};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub mod logs;
pub mod pki;
pub mod raw_socket;
pub mod tls_ports;

// Not every test binary uses them.
#[allow(unused_imports)]
pub use logs::Logs;
#[allow(unused_imports)]
pub use pki::{certs, expired, gateway_with, tls11_client_hello, tls_client};
pub mod reload;

/// `server_settings` of plugin `alpha` of the certificates in `l`, on 127.0.0.1, with the given
/// `ssl_cert_reqs` (2: client certificate required).
pub fn server_yaml(
    l: &plugwire_certs::Layout,
    ssl_cert_reqs: i64,
) -> plugwire_framework::MCPServerConfig {
    use plugwire_framework::{MCPServerConfig, MCPServerTLSConfig, McpServerTlsKeys, TlsFiles};
    let p = l.plugin("alpha");
    MCPServerConfig {
        host: Some("127.0.0.1".into()),
        port: Some(8000),
        uds: None,
        tls: Some(MCPServerTLSConfig {
            files: TlsFiles {
                certfile: Some(p.cert.display().to_string()),
                keyfile: Some(p.key.display().to_string()),
                ca_bundle: Some(l.ca_cert().display().to_string()),
                ..Default::default()
            },
            own: McpServerTlsKeys {
                ssl_cert_reqs: Some(ssl_cert_reqs),
                ..Default::default()
            },
        }),
        limits: None,
    }
}

/// A backend with two configs and a few misbehaving plugins.
pub struct FakeBackend;

#[async_trait::async_trait]
impl Backend for FakeBackend {
    fn plugin_configs(&self) -> Vec<Value> {
        vec![
            json!({"name": "Echo", "kind": "fake.Echo", "hooks": ["tool_pre_invoke"]}),
            json!({"name": "Panic", "kind": "fake.Panic", "hooks": ["tool_pre_invoke"]}),
        ]
    }

    async fn invoke_hook(&self, args: RawInvokeHookArgs<'_>, out: &mut TextResultWriter) {
        let args = args.to_args().unwrap();
        let answer = match args.plugin_name.as_str() {
            "Panic" => panic!("boom from a plugin"),
            "Slow" => {
                tokio::time::sleep(Duration::from_millis(500)).await;
                InvokeHookResponse::success("Slow", json!({"continue_processing": true}), None)
            }
            "Echo" => InvokeHookResponse::success(
                "Echo",
                json!({"continue_processing": true, "modified_payload": args.payload}),
                None,
            ),
            other => InvokeHookResponse::failure_message(
                other,
                format!(
                    "Unable to find {} for plugin {other}.  Make sure the plugin is registered.",
                    args.hook_type
                ),
            ),
        };
        out.push_str(&answer.to_text());
    }
}

pub fn app(backend: Arc<dyn Backend>, max_body: usize, policy: HostPolicy) -> Arc<App> {
    Arc::new(App {
        backend,
        max_body_bytes: max_body,
        host_policy: policy,
    })
}

/// A running server; dropping `stop` (or sending) shuts it down.
pub struct TestServer {
    pub addr: SocketAddr,
    pub stop: Option<oneshot::Sender<()>>,
    pub handle: JoinHandle<()>,
}

impl TestServer {
    pub async fn shutdown(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        tokio::time::timeout(Duration::from_secs(20), self.handle)
            .await
            .expect("server did not stop")
            .unwrap();
    }
}

pub async fn start_plain(app: Arc<App>) -> TestServer {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    start_on(listener, app).await
}

pub async fn start_on(listener: TcpListener, app: Arc<App>) -> TestServer {
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = oneshot::channel::<()>();
    let handle = tokio::spawn(plugwire_server::serve_tcp(
        listener,
        app,
        None,
        ConnLimits::default(),
        async move {
            let _ = rx.await;
        },
    ));
    TestServer {
        addr,
        stop: Some(tx),
        handle,
    }
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", String::from_utf8_lossy(&self.body)))
    }

    /// The decoded `{plugin_name, result|error}` of a tools/call answer.
    pub fn hook_answer(&self) -> Value {
        let v = self.json();
        assert_eq!(v["result"]["isError"], false, "{v}");
        serde_json::from_str(v["result"]["content"][0]["text"].as_str().unwrap()).unwrap()
    }
}

/// One HTTP/1.1 connection driven by hyper's client.
pub struct Conn {
    sender: hyper::client::conn::http1::SendRequest<Full<Bytes>>,
    pub host: String,
}

impl Conn {
    pub async fn over<I>(io: I, host: &str) -> Conn
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
            .await
            .unwrap();
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Conn {
            sender,
            host: host.to_string(),
        }
    }

    pub async fn tcp(addr: SocketAddr) -> Conn {
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        Conn::over(tcp, &format!("localhost:{}", addr.port())).await
    }

    pub async fn send(
        &mut self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
    ) -> Result<Reply, hyper::Error> {
        let mut b = Request::builder()
            .method(method)
            .uri(path)
            .header("host", self.host.as_str());
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        let req = b.body(Full::new(body.into())).unwrap();
        self.sender.ready().await?;
        let resp = self.sender.send_request(req).await?;
        let (parts, body) = resp.into_parts();
        let body = body.collect().await?.to_bytes();
        Ok(Reply {
            status: parts.status,
            headers: parts.headers,
            body,
        })
    }

    pub async fn post(&mut self, body: impl Into<Bytes>) -> Reply {
        self.send(
            Method::POST,
            "/mcp",
            &[
                ("content-type", "application/json"),
                ("accept", "application/json, text/event-stream"),
            ],
            body,
        )
        .await
        .unwrap()
    }

    pub async fn rpc(&mut self, v: Value) -> Reply {
        self.post(serde_json::to_vec(&v).unwrap()).await
    }
}

pub fn invoke(id: i64, plugin: &str, hook: &str, payload: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {
        "name": "invoke_hook",
        "arguments": {"hook_type": hook, "plugin_name": plugin, "payload": payload,
            "context": {"state": {}, "global_context": {"request_id": format!("req-{id}"), "state": {}, "metadata": {}}, "metadata": {}}}
    }})
}

/// The plugin config of the wire captures' Python peer (crates/mcp/tests/wire-samples), with
/// the peer's kind names mapped to our built-ins, so answers can be compared byte for byte. The
/// captures come from a ContextForge 1.0.0 server, so the peer runs under the 1.0.x switch.
pub const PEER_YAML: &str = r#"
plugin_settings: {compat: "1.0"}
plugins:
  - name: ReplaceBadWordsPlugin
    kind: peer_plugins.SearchReplacePlugin
    description: "A plugin for finding and replacing words."
    author: "peer harness"
    version: "0.1.0"
    hooks: ["prompt_pre_fetch", "tool_pre_invoke", "tool_post_invoke"]
    tags: ["plugin", "transformer", "regex", "search-and-replace"]
    mode: enforce
    priority: 150
    config:
      words:
        - search: crap
          replace: crud
        - search: crud
          replace: yikes
  - name: DenyListPlugin
    kind: peer_plugins.DenyListPlugin
    description: "A plugin that implements a deny list filter."
    author: "peer harness"
    version: "0.1.0"
    hooks: ["prompt_pre_fetch", "tool_pre_invoke"]
    tags: ["plugin", "filter", "denylist"]
    mode: enforce
    priority: 100
    config:
      words:
        - innovative
        - groundbreaking
        - revolutionary
"#;

/// The framework's PluginManager over PEER_YAML, initialized.
pub async fn peer_backend() -> Arc<dyn Backend> {
    let env = plugwire_framework::EmptyEnv;
    let config = plugwire_framework::Config::load_str(PEER_YAML, "peer.yaml", &env).unwrap();
    let mut registry = plugwire_framework::PluginRegistry::new();
    plugwire_plugins::register_builtins(&mut registry);
    registry.register(&["peer_plugins.SearchReplacePlugin"], |c| {
        plugwire_plugins::SearchReplacePlugin::new(c)
            .map(|p| Arc::new(p) as Arc<dyn plugwire_framework::Plugin>)
    });
    registry.register(&["peer_plugins.DenyListPlugin"], |c| {
        plugwire_plugins::DenyListPlugin::new(c)
            .map(|p| Arc::new(p) as Arc<dyn plugwire_framework::Plugin>)
    });
    let manager = plugwire_server::build_manager(config, &registry, &env).unwrap();
    let manager = plugwire_server::initialize_manager(manager).await.unwrap();
    Arc::new(plugwire_server::ManagerBackend::new(manager))
}

/// The wire samples (requests and Python's responses), by file name.
pub fn wire_sample(name: &str) -> Value {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../mcp/tests/wire-samples");
    let text = std::fs::read_to_string(dir.join(name)).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// The sample pairs whose `result` plugwire must reproduce exactly (every tools/call the
/// Python gateway and curl made, except the deliberately malformed ones).
pub fn replay_pairs() -> Vec<(String, Value, Value)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../mcp/tests/wire-samples");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.contains("tools_call") && n.ends_with(".request.json"))
        // 25: pydantic's validation text (input value, help URL) is not reproduced verbatim;
        // http_rules checks its first lines.
        .filter(|n| !n.starts_with("25-"))
        .collect();
    names.sort();
    assert_eq!(names.len(), 14, "{names:?}");
    names
        .into_iter()
        .map(|n| {
            let resp = n.replace(".request.json", ".response.json");
            (n.clone(), wire_sample(&n), wire_sample(&resp))
        })
        .collect()
}

/// Asserts our answer to a replayed request equals Python's, explaining the first difference.
pub fn assert_same_answer(name: &str, ours: &Value, theirs: &Value) {
    assert_eq!(ours["id"], theirs["id"], "{name}: id");
    if name.contains("get_plugin_config") {
        return assert_same_config_answer(name, ours, theirs);
    }
    if ours["result"] != theirs["result"] {
        let o = ours["result"]["content"][0]["text"].as_str().unwrap_or("");
        let t = theirs["result"]["content"][0]["text"]
            .as_str()
            .unwrap_or("");
        panic!("{name}: answer differs\n--- ours ---\n{o}\n--- python ---\n{t}\n--- full ours ---\n{ours}");
    }
}

/// A config answer carries, beside every 1.0.0 key with Python's value, the three keys of
/// ContextForge 1.1.0 (`on_error` explicit, `max_content_size`, `capabilities`), which a 1.0.0
/// gateway ignores; the rest of the envelope is the same.
fn assert_same_config_answer(name: &str, ours: &Value, theirs: &Value) {
    let text = |v: &Value| -> Value {
        serde_json::from_str(v["result"]["content"][0]["text"].as_str().unwrap()).unwrap()
    };
    let add = |c: &mut Value| {
        let m = c.as_object_mut().unwrap();
        if m.is_empty() {
            return; // `{}`: no such plugin
        }
        let on_error = if m.get("mode") == Some(&json!("enforce_ignore_error")) {
            "ignore"
        } else {
            "fail"
        };
        m.insert("on_error".into(), json!(on_error));
        m.insert("max_content_size".into(), json!(10_000_000));
        m.insert("capabilities".into(), json!([]));
    };
    let mut expected = text(theirs);
    match &mut expected {
        Value::Array(items) => items.iter_mut().for_each(add),
        other => add(other),
    }
    assert_eq!(text(ours), expected, "{name}: config answer");
    let (mut o, mut t) = (ours["result"].clone(), theirs["result"].clone());
    // One text item per config: each is Python's plus the three keys.
    let n = t["content"].as_array().map_or(0, Vec::len);
    for i in 0..n {
        let parse = |v: &Value| -> Value { serde_json::from_str(v.as_str().unwrap()).unwrap() };
        let mut want = parse(&t["content"][i]["text"]);
        add(&mut want);
        assert_eq!(
            parse(&o["content"][i]["text"]),
            want,
            "{name}: text item {i}"
        );
        o["content"][i]["text"] = Value::Null;
        t["content"][i]["text"] = Value::Null;
    }
    if t.get("structuredContent").is_some() {
        let mut list = t["structuredContent"]["result"].clone();
        list.as_array_mut().unwrap().iter_mut().for_each(add);
        assert_eq!(
            o["structuredContent"]["result"], list,
            "{name}: structuredContent"
        );
        o.as_object_mut().unwrap().remove("structuredContent");
        t.as_object_mut().unwrap().remove("structuredContent");
    }
    assert_eq!(o, t, "{name}: envelope");
}
