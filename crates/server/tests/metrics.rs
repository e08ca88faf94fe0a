//! Metrics end to end: a known sequence of calls, then a scrape of `/metrics/prometheus`
//! (and `/metrics`) with exact counts per plugin, hook and outcome; TLS handshakes refused by
//! reason on real sockets; 503 when disabled; and every scrape parsed as exposition text.
//! Every test of this binary records into the process-wide registry, so each one uses its own
//! plugin names (or is the only one with TLS) and its counts stay exact.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use common::*;
use http::{Method, StatusCode};
use plugwire_mcp::{InvokeHookResponse, RawInvokeHookArgs, TextResultWriter};
use plugwire_metrics::ServerMetrics;
use plugwire_server::serve::{self, ServeOptions};
use plugwire_server::{observe, Backend, HostPolicy};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio_rustls::TlsConnector;

/// One plugin per outcome.
struct Outcomes;

#[async_trait::async_trait]
impl Backend for Outcomes {
    fn plugin_configs(&self) -> Vec<Value> {
        ["allow", "edit", "deny", "boom", "slow"]
            .iter()
            .map(|n| json!({"name": n, "hooks": ["tool_pre_invoke", "tool_post_invoke"]}))
            .collect()
    }

    async fn invoke_hook(&self, args: RawInvokeHookArgs<'_>, out: &mut TextResultWriter) {
        let args = args.to_args().unwrap();
        let result = |modified: Value, violation: Value| {
            json!({"continue_processing": violation.is_null(), "modified_payload": modified,
                   "violation": violation, "metadata": {}})
        };
        let name = args.plugin_name.as_str();
        let answer = match name {
            "allow" => InvokeHookResponse::success(name, result(Value::Null, Value::Null), None),
            "edit" => InvokeHookResponse::success(
                name,
                result(Value::Object(args.payload), Value::Null),
                None,
            ),
            "deny" => InvokeHookResponse::success(
                name,
                result(
                    Value::Null,
                    json!({"reason": "no", "description": "d", "code": "DENIED", "details": {}}),
                ),
                None,
            ),
            "slow" => InvokeHookResponse::failure_message(name, "Plugin slow exceeded 30s timeout"),
            _ => InvokeHookResponse::failure_message(name, "it broke"),
        };
        out.push_str(&answer.to_text());
    }
}

/// Samples of an exposition, keyed by `name{sorted labels}`; panics on any line that is not
/// valid text exposition (comment, or `name{labels} value`).
fn parse(text: &str) -> BTreeMap<String, f64> {
    assert!(text.ends_with("# EOF\n"), "no EOF marker: {text}");
    let mut samples = BTreeMap::new();
    for line in text.lines() {
        if let Some(c) = line.strip_prefix("# ") {
            let kind = c.split(' ').next().unwrap();
            assert!(
                ["HELP", "TYPE", "UNIT", "EOF"].contains(&kind),
                "bad comment: {line}"
            );
            continue;
        }
        let (series, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("no value: {line}"));
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            v => v.parse().unwrap_or_else(|_| panic!("bad value: {line}")),
        };
        let (name, labels) = match series.split_once('{') {
            None => (series, Vec::new()),
            Some((name, rest)) => {
                let body = rest
                    .strip_suffix('}')
                    .unwrap_or_else(|| panic!("bad labels: {line}"));
                let mut labels: Vec<String> = split_labels(body, line);
                labels.sort();
                (name, labels)
            }
        };
        assert!(
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "bad metric name: {line}"
        );
        let key = format!("{name}{{{}}}", labels.join(","));
        assert!(
            samples.insert(key, value).is_none(),
            "duplicate series: {line}"
        );
    }
    samples
}

fn split_labels(body: &str, line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = body;
    while !rest.is_empty() {
        let (key, after) = rest
            .split_once("=\"")
            .unwrap_or_else(|| panic!("bad label: {line}"));
        assert!(
            key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "bad label name: {line}"
        );
        let mut end = None;
        let bytes = after.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'\\' => i += 2,
                b'"' => {
                    end = Some(i);
                    break;
                }
                _ => i += 1,
            }
        }
        let end = end.unwrap_or_else(|| panic!("unterminated label: {line}"));
        out.push(format!("{key}={}", &after[..end]));
        rest = after[end + 1..]
            .strip_prefix(',')
            .unwrap_or(&after[end + 1..]);
    }
    out
}

fn get(samples: &BTreeMap<String, f64>, key: &str) -> f64 {
    *samples.get(key).unwrap_or_else(|| {
        panic!(
            "no series {key}; have:\n{}",
            samples.keys().cloned().collect::<Vec<_>>().join("\n")
        )
    })
}

fn calls(plugin: &str, hook: &str, outcome: &str) -> String {
    format!("plugwire_hook_calls_total{{hook={hook},outcome={outcome},plugin={plugin}}}")
}

async fn scrape(addr: std::net::SocketAddr, path: &str) -> BTreeMap<String, f64> {
    let mut c = Conn::tcp(addr).await;
    let r = c.send(Method::GET, path, &[], "").await.unwrap();
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        r.headers["content-type"],
        plugwire_metrics::expose::CONTENT_TYPE
    );
    parse(std::str::from_utf8(&r.body).unwrap())
}

#[tokio::test]
async fn scrape_after_known_calls_counts_each_plugin_hook_and_outcome() {
    let backend = observe::metered(Outcomes);
    let srv = start_plain(app(backend, 1 << 20, HostPolicy::new(true, &[]))).await;
    let mut c = Conn::tcp(srv.addr).await;
    let sequence = [
        ("allow", "tool_pre_invoke", 3),
        ("allow", "tool_post_invoke", 1),
        ("edit", "tool_pre_invoke", 2),
        ("deny", "tool_pre_invoke", 2),
        ("boom", "tool_pre_invoke", 1),
        ("slow", "tool_pre_invoke", 1),
        ("ghost", "tool_pre_invoke", 1),
    ];
    let mut id = 0;
    for (plugin, hook, n) in sequence {
        for _ in 0..n {
            id += 1;
            let payload = json!({"name": "t", "args": {"q": "x"}});
            let r = c.rpc(invoke(id, plugin, hook, payload)).await;
            assert_eq!(r.status, StatusCode::OK);
        }
    }
    let s = scrape(srv.addr, "/metrics/prometheus").await;
    let pre = "tool_pre_invoke";
    assert_eq!(get(&s, &calls("allow", pre, "continue")), 3.0);
    assert_eq!(
        get(&s, &calls("allow", "tool_post_invoke", "continue")),
        1.0
    );
    assert_eq!(get(&s, &calls("allow", pre, "violation")), 0.0);
    assert_eq!(get(&s, &calls("edit", pre, "modified")), 2.0);
    assert_eq!(get(&s, &calls("edit", pre, "continue")), 0.0);
    assert_eq!(get(&s, &calls("deny", pre, "violation")), 2.0);
    assert_eq!(get(&s, &calls("boom", pre, "error")), 1.0);
    assert_eq!(get(&s, &calls("slow", pre, "timeout")), 1.0);
    assert_eq!(get(&s, &calls("slow", pre, "error")), 0.0);
    assert_eq!(get(&s, &calls("ghost", pre, "error")), 1.0);
    // Configured pairs exist at zero before their first call.
    assert_eq!(
        get(&s, &calls("deny", "tool_post_invoke", "violation")),
        0.0
    );
    assert_eq!(
        get(
            &s,
            "plugwire_hook_violations_total{code=DENIED,hook=tool_pre_invoke,plugin=deny}"
        ),
        2.0
    );
    assert_eq!(
        get(
            &s,
            "plugwire_hook_duration_seconds_count{hook=tool_pre_invoke,plugin=allow}"
        ),
        3.0
    );
    assert_eq!(
        get(
            &s,
            "plugwire_hook_duration_seconds_bucket{hook=tool_pre_invoke,le=+Inf,plugin=edit}"
        ),
        2.0
    );
    // This test's own connections are open while it scrapes.
    assert!(get(&s, "plugwire_open_connections{transport=http}") >= 1.0);
    // `/metrics` is the same exposition.
    let again = scrape(srv.addr, "/metrics").await;
    assert_eq!(get(&again, &calls("allow", pre, "continue")), 3.0);
    srv.shutdown().await;
}

#[tokio::test]
async fn real_plugins_through_the_manager_are_classified() {
    let backend = observe::metered_arc(peer_backend().await);
    let srv = start_plain(app(backend, 1 << 20, HostPolicy::new(true, &[]))).await;
    let mut c = Conn::tcp(srv.addr).await;
    let prompt = |text: &str| json!({"prompt_id": "p", "name": "p", "args": {"text": text}});
    let tool = |text: &str| json!({"name": "t", "args": {"text": text}});
    let cases = [
        (
            "DenyListPlugin",
            "prompt_pre_fetch",
            prompt("an innovative idea"),
        ),
        ("DenyListPlugin", "prompt_pre_fetch", prompt("a plain idea")),
        (
            "ReplaceBadWordsPlugin",
            "tool_pre_invoke",
            tool("what crap"),
        ),
        ("ReplaceBadWordsPlugin", "tool_pre_invoke", tool("all fine")),
    ];
    for (i, (plugin, hook, payload)) in cases.into_iter().enumerate() {
        let r = c.rpc(invoke(i as i64 + 1, plugin, hook, payload)).await;
        assert_eq!(r.status, StatusCode::OK);
    }
    let s = scrape(srv.addr, "/metrics/prometheus").await;
    // These two plugins (like their Python originals) hand the payload back even when they
    // change nothing, and the wire cannot tell: both passes count as "modified".
    let deny = |o| get(&s, &calls("DenyListPlugin", "prompt_pre_fetch", o));
    assert_eq!(
        (
            deny("violation"),
            deny("modified"),
            deny("continue"),
            deny("error")
        ),
        (1.0, 1.0, 0.0, 0.0)
    );
    let replace = |o| get(&s, &calls("ReplaceBadWordsPlugin", "tool_pre_invoke", o));
    assert_eq!(
        (replace("modified"), replace("continue"), replace("error")),
        (2.0, 0.0, 0.0)
    );
    let codes: Vec<&String> = s
        .keys()
        .filter(|k| {
            k.starts_with("plugwire_hook_violations_total{") && k.contains("plugin=DenyListPlugin")
        })
        .collect();
    assert_eq!(codes.len(), 1, "{codes:?}");
    srv.shutdown().await;
}

#[test]
fn disabled_metrics_answer_503_with_contextforge_body() {
    let off: &'static ServerMetrics = Box::leak(Box::new(ServerMetrics::new(false)));
    let r = plugwire_server::metrics_route::answer(off, &Method::GET);
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.headers()["content-type"], "application/json");
    let body = futures::executor::block_on(http_body_util::BodyExt::collect(r.into_body()))
        .unwrap()
        .to_bytes();
    assert_eq!(&body[..], br#"{"error": "Metrics collection is disabled"}"#);
    // Nothing is recorded either.
    off.hook_call(
        "p",
        "h",
        plugwire_metrics::Outcome::Continue,
        None,
        Default::default(),
    );
    assert_eq!(
        off.calls()
            .calls("p", "h", plugwire_metrics::Outcome::Continue),
        0
    );
    let on = ServerMetrics::new(true);
    let r = plugwire_server::metrics_route::answer(&on, &Method::POST);
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
}

// ---- TLS: handshakes by result -------------------------------------------------------------

/// Handshake, then one request so that a refusal sent after the client's Finished is seen.
async fn attempt(addr: std::net::SocketAddr, c: &TlsConnector) -> bool {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let Ok(tls) = c.connect(name, tcp).await else {
        return false;
    };
    let mut conn = Conn::over(tls, &format!("localhost:{}", addr.port())).await;
    conn.send(Method::GET, "/health", &[], "").await.is_ok()
}

#[tokio::test]
async fn tls_handshakes_are_counted_by_result() {
    let dir = tempfile::tempdir().unwrap();
    let l = certs(dir.path());
    let env: HashMap<&str, &str> = HashMap::new();
    let prepared = serve::prepare(Some(&server_yaml(&l, 2)), &env).unwrap();
    observe::server_started("http", prepared.settings.tls.as_ref());
    let (bound, addr, health_addr) = tls_ports::bind_mcp(&prepared).await;
    let (tx, rx) = oneshot::channel::<()>();
    let backend: Arc<dyn Backend> = Arc::new(FakeBackend);
    let handle = tokio::spawn(async move {
        bound
            .serve(backend, &ServeOptions::default(), async move {
                let _ = rx.await;
            })
            .await
    });

    let gw = l.gateway();
    let ok = tls_client(&l.ca_cert(), Some((&gw.cert, &gw.key)), b"");
    assert!(attempt(addr, &ok).await);
    assert!(attempt(addr, &ok).await);
    assert!(!attempt(addr, &tls_client(&l.ca_cert(), None, b"")).await);
    let other_dir = tempfile::tempdir().unwrap();
    let og = certs(other_dir.path()).gateway();
    assert!(
        !attempt(
            addr,
            &tls_client(&l.ca_cert(), Some((&og.cert, &og.key)), b"")
        )
        .await
    );
    let exp_dir = tempfile::tempdir().unwrap();
    let exp = gateway_with(&l, exp_dir.path(), &expired()).gateway();
    assert!(
        !attempt(
            addr,
            &tls_client(&l.ca_cert(), Some((&exp.cert, &exp.key)), b"")
        )
        .await
    );
    let p = l.plugin("alpha");
    assert!(
        !attempt(
            addr,
            &tls_client(&l.ca_cert(), Some((&p.cert, &p.key)), b"")
        )
        .await
    );
    let mut tls11 = TcpStream::connect(addr).await.unwrap();
    tls11.write_all(&tls11_client_hello()).await.unwrap();
    let mut refused = Vec::new();
    tls11.read_to_end(&mut refused).await.unwrap();
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(b"GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    tcp.read_to_end(&mut buf).await.unwrap();

    // Scraped on the plain health port, which needs no certificate. The client can see a
    // refusal before the server's task has counted it: wait until all 8 are in.
    let mut s = scrape(health_addr, "/metrics/prometheus").await;
    for _ in 0..200 {
        let total: f64 = s
            .iter()
            .filter(|(k, _)| k.starts_with("plugwire_tls_handshakes_total{"))
            .map(|(_, v)| v)
            .sum();
        if total >= 8.0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        s = scrape(health_addr, "/metrics/prometheus").await;
    }
    let hs = |r: &str| {
        get(
            &s,
            &format!("plugwire_tls_handshakes_total{{listener=main,result={r}}}"),
        )
    };
    let results = [
        "accepted",
        "no_cert",
        "unknown_ca",
        "expired",
        "wrong_eku",
        "policy",
        "protocol_version",
        "other",
    ];
    let counts: Vec<(&str, f64)> = results.iter().map(|r| (*r, hs(r))).collect();
    let expected = [2.0, 1.0, 1.0, 1.0, 1.0, 0.0, 1.0, 1.0];
    let want: Vec<(&str, f64)> = results.iter().copied().zip(expected).collect();
    assert_eq!(counts, want);
    assert_eq!(
        get(
            &s,
            "plugin_info{server_name=MCP Plugin Server,ssl_enabled=true,transport=http}"
        ),
        1.0
    );
    assert_eq!(get(&s, "plugwire_config_generation{}"), 1.0);
    assert_eq!(get(&s, "plugwire_config_last_reload_success{}"), 1.0);
    let server_cert = format!(
        "plugwire_certificate_expiry_seconds{{path={},role=server}}",
        p.cert.display()
    );
    let left = get(&s, &server_cert);
    assert!(left > 86_400.0 && left < 3.0 * 366.0 * 86_400.0, "{left}");
    let ca = format!(
        "plugwire_certificate_expiry_seconds{{path={},role=ca}}",
        l.ca_cert().display()
    );
    assert!(
        get(&s, &ca) > left - 1.0,
        "the CA outlives the server certificate"
    );

    let _ = tx.send(());
    handle.await.unwrap();
}

/// A plugin that always fails: with `on_error: disable` its first error takes it out.
struct Flaky(plugwire_framework::PluginConfig);

#[async_trait::async_trait]
impl plugwire_framework::Plugin for Flaky {
    fn config(&self) -> &plugwire_framework::PluginConfig {
        &self.0
    }

    async fn tool_pre_invoke(
        &self,
        _payload: plugwire_framework::ToolPreInvokePayload,
        _ctx: &mut plugwire_framework::PluginContext,
    ) -> Result<plugwire_framework::PluginResult, plugwire_framework::PluginError> {
        Err(plugwire_framework::PluginError::plugin(
            &self.0.name,
            "boom",
        ))
    }
}

#[tokio::test]
async fn a_plugin_disabled_by_on_error_shows_in_metrics_and_health() {
    const YAML: &str = "plugins:\n  - name: Flaky\n    kind: test.Flaky\n    hooks: [tool_pre_invoke]\n    mode: sequential\n    on_error: disable\n";
    let env = plugwire_framework::EmptyEnv;
    let config = plugwire_framework::Config::load_str(YAML, "flaky.yaml", &env).unwrap();
    let mut registry = plugwire_framework::PluginRegistry::new();
    registry.register(&["test.Flaky"], |c| {
        Ok(Arc::new(Flaky(c)) as Arc<dyn plugwire_framework::Plugin>)
    });
    let manager = plugwire_server::build_manager(config, &registry, &env).unwrap();
    let manager = plugwire_server::initialize_manager(manager).await.unwrap();
    let backend = observe::metered_arc(Arc::new(plugwire_server::ManagerBackend::new(manager)));
    let srv = start_plain(app(backend, 1 << 20, HostPolicy::new(true, &[]))).await;
    let mut c = Conn::tcp(srv.addr).await;
    let before = c.send(Method::GET, "/health", &[], "").await.unwrap();
    assert!(!String::from_utf8_lossy(&before.body).contains("Flaky"));
    let payload = json!({"name": "t", "args": {"text": "x"}});
    let r = c.rpc(invoke(1, "Flaky", "tool_pre_invoke", payload)).await;
    assert_eq!(r.status, StatusCode::OK);
    let s = scrape(srv.addr, "/metrics/prometheus").await;
    assert_eq!(get(&s, "plugwire_plugin_disabled{plugin=Flaky}"), 1.0);
    let health = c.send(Method::GET, "/health", &[], "").await.unwrap();
    let body: Value = serde_json::from_slice(&health.body).unwrap();
    assert_eq!(body["runtime_disabled"], json!(["Flaky"]), "{body}");
    srv.shutdown().await;
}
