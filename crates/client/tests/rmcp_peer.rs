//! Conformance: the plugwire client against a plugin server written with rmcp (a dev-dependency
//! only). rmcp's Streamable HTTP server is stateful by default: it issues `mcp-session-id` and
//! answers every POST as an SSE stream, like the Python runtime. The client must keep its
//! connections anyway (N calls at concurrency c open at most c connections).
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use hyper_util::rt::TokioIo;
use plugwire_client::{ClientOptions, ConnectionStats, ExternalPlugin};
use plugwire_framework::{
    GlobalContext, HookPayload, HookType, Plugin, PluginConfig, PluginContext,
};
use rmcp::{
    handler::server::{router::tool::ToolRouter, wrapper::Parameters},
    model::{ServerCapabilities, ServerConfig},
    schemars, tool, tool_handler, tool_router,
    transport::streamable_http_server::{
        session::local::LocalSessionManager, StreamableHttpServerConfig, StreamableHttpService,
    },
    ServerHandler,
};
use serde_json::{json, Map, Value};
use tower_service::Service;

#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
struct NameArgs {
    name: String,
}

#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
struct HookArgs {
    hook_type: String,
    plugin_name: String,
    payload: Map<String, Value>,
    context: Map<String, Value>,
}

#[derive(Debug, Clone)]
struct PluginPeer {
    tool_router: ToolRouter<Self>,
}

fn remote_config() -> Value {
    json!({"name": "RmcpFilter", "description": "rmcp peer", "author": "tests",
        "kind": "peer.RmcpFilter", "namespace": null, "version": "0.1",
        "hooks": ["tool_pre_invoke"], "tags": [], "mode": "enforce", "priority": 20,
        "conditions": [], "applied_to": null, "config": {"bad": "crap"}, "mcp": null,
        "grpc": null, "unix_socket": null})
}

#[tool_router]
impl PluginPeer {
    #[tool(description = "all configs")]
    fn get_plugin_configs(&self) -> String {
        json!([remote_config()]).to_string()
    }

    #[tool(description = "one config")]
    fn get_plugin_config(&self, Parameters(NameArgs { name }): Parameters<NameArgs>) -> String {
        if name.eq_ignore_ascii_case("RmcpFilter") {
            remote_config().to_string()
        } else {
            "{}".to_string()
        }
    }

    #[tool(description = "run a hook")]
    fn invoke_hook(&self, Parameters(args): Parameters<HookArgs>) -> String {
        if args.hook_type != "tool_pre_invoke" || args.plugin_name != "RmcpFilter" {
            return json!({"plugin_name": args.plugin_name, "error": {"message": "Unable to find hook",
                "plugin_name": args.plugin_name, "code": "", "details": {}, "mcp_error_code": -32603}})
            .to_string();
        }
        let mut payload = args.payload.clone();
        let text = payload
            .get("args")
            .map(Value::to_string)
            .unwrap_or_default();
        if text.contains("forbidden") {
            return json!({"plugin_name": "RmcpFilter", "result": {"continue_processing": false,
                "modified_payload": null, "violation": {"reason": "denied", "description": "forbidden word",
                "code": "DENIED", "details": {}, "mcp_error_code": null, "http_status_code": null,
                "http_headers": null}, "metadata": null, "http_headers": null, "retry_delay_ms": 0}})
            .to_string();
        }
        if let Some(Value::Object(a)) = payload.get_mut("args") {
            for v in a.values_mut() {
                if let Value::String(s) = v {
                    *s = s.replace("crap", "crud");
                }
            }
        }
        let mut context = args.context.clone();
        context.insert("state".into(), json!({"rmcp_seen": true}));
        json!({"plugin_name": "RmcpFilter", "result": {"continue_processing": true,
            "modified_payload": payload, "violation": null, "metadata": {}, "http_headers": null,
            "retry_delay_ms": 0}, "context": context})
        .to_string()
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for PluginPeer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
    }
}

/// Serves the rmcp service on 127.0.0.1:0 with plain hyper; returns the port and the task.
async fn start_rmcp() -> (u16, tokio::task::JoinHandle<()>) {
    let service: StreamableHttpService<PluginPeer, LocalSessionManager> =
        StreamableHttpService::new(
            || {
                Ok(PluginPeer {
                    tool_router: PluginPeer::tool_router(),
                })
            },
            Default::default(),
            StreamableHttpServerConfig::default().with_sse_keep_alive(None),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                break;
            };
            let service = service.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req| {
                    let mut service = service.clone();
                    async move { service.call(req).await }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tcp), svc)
                    .await;
            });
        }
    });
    (port, task)
}

fn entry(port: u16) -> PluginConfig {
    PluginConfig::from_json(
        json!({"name": "RmcpFilter", "kind": "external", "priority": 5,
        "mcp": {"proto": "STREAMABLEHTTP", "url": format!("http://127.0.0.1:{port}/mcp")}}),
    )
    .unwrap()
}

fn tool_payload(q: &str) -> HookPayload {
    HookPayload::from_json(
        HookType::ToolPreInvoke,
        json!({"name": "search", "args": {"q": q}}),
    )
    .unwrap()
}

#[tokio::test]
async fn rmcp_sse_server_keeps_connections_and_results_decode() {
    let (port, server) = start_rmcp().await;
    let stats = ConnectionStats::new();
    let options = ClientOptions {
        stats: stats.clone(),
        ..ClientOptions::default()
    };
    let plugin = Arc::new(ExternalPlugin::new(entry(port), &options).unwrap());
    plugin.initialize().await.unwrap();

    // Merge: local priority wins, remote hooks/config come through.
    assert_eq!(plugin.config().priority, 5);
    assert_eq!(plugin.config().hooks, vec![HookType::ToolPreInvoke]);
    let info = plugin.session().expect("an MCP plugin").server_info().await;
    assert!(info.tools.iter().any(|t| t == "invoke_hook"));
    // rmcp is stateful: it issued a session id, which the client keeps and sends.
    assert!(plugin
        .session()
        .expect("an MCP plugin")
        .session_id()
        .is_some());

    let mut ctx = PluginContext::new(GlobalContext::new("req-1"));
    let result = plugin.invoke(tool_payload("crap"), &mut ctx).await.unwrap();
    assert!(result.continue_processing);
    let modified = result.modified_payload.unwrap().to_json();
    assert_eq!(modified["args"]["q"], "crud");
    assert_eq!(ctx.state["rmcp_seen"], true);

    let blocked = plugin
        .invoke(tool_payload("forbidden"), &mut ctx)
        .await
        .unwrap();
    assert!(!blocked.continue_processing);
    assert_eq!(blocked.violation.unwrap().code, "DENIED");

    // 40 calls at concurrency 4: at most 4 more connections (the handshake used one).
    let before = stats.connections_opened();
    let mut tasks = Vec::new();
    for worker in 0..4 {
        let plugin = plugin.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..10 {
                let mut ctx = PluginContext::new(GlobalContext::new(format!("r-{worker}-{i}")));
                let r = plugin.invoke(tool_payload("crap"), &mut ctx).await.unwrap();
                assert_eq!(r.modified_payload.unwrap().to_json()["args"]["q"], "crud");
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let opened = stats.connections_opened();
    assert!(opened >= 1);
    assert!(
        opened - before <= 4 && opened <= 5,
        "40 calls at concurrency 4 opened {} connections (total {opened})",
        opened - before
    );
    plugin.shutdown().await;
    server.abort();
}

#[tokio::test]
async fn unknown_plugin_name_is_a_typed_initialize_error() {
    let (port, server) = start_rmcp().await;
    let mut cfg = entry(port);
    cfg.name = "NoSuchPlugin".into();
    let plugin = ExternalPlugin::new(cfg, &ClientOptions::default()).unwrap();
    let err = plugin.initialize().await.unwrap_err();
    assert!(err.message().contains("NoSuchPlugin"), "{}", err.message());
    assert!(
        err.message().contains(&format!("127.0.0.1:{port}")),
        "{}",
        err.message()
    );
    server.abort();
}
