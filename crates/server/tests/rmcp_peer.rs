//! rmcp's Streamable HTTP client (a dev-dependency conformance peer, never a product
//! dependency) against plugwire's server: handshake, tools, hooks, and a server restart under
//! a live client (statelessness, docs/decisions.md #11).
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use plugwire_server::{HostPolicy, DEFAULT_MAX_BODY_BYTES};
use rmcp::model::CallToolRequestParams;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::ServiceExt;
use serde_json::{json, Map, Value};

fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => panic!("not an object"),
    }
}

fn first_text(r: &rmcp::model::CallToolResult) -> String {
    r.content[0].as_text().unwrap().text.clone()
}

fn hook_args(plugin: &str, hook: &str, payload: Value) -> Map<String, Value> {
    obj(
        json!({"hook_type": hook, "plugin_name": plugin, "payload": payload,
        "context": {"state": {}, "global_context": {"request_id": "rmcp-1", "state": {}, "metadata": {}}, "metadata": {}}}),
    )
}

#[tokio::test]
async fn rmcp_client_lists_tools_fetches_configs_and_invokes_hooks() {
    let backend = peer_backend().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let srv = start_on(
        listener,
        app(
            backend.clone(),
            DEFAULT_MAX_BODY_BYTES,
            HostPolicy::new(true, &[]),
        ),
    )
    .await;

    let transport =
        StreamableHttpClientTransport::from_uri(format!("http://localhost:{}/mcp", addr.port()));
    let client = ().serve(transport).await.unwrap();
    let info = client.peer_info().unwrap();
    assert_eq!(info.server_info.as_ref().unwrap().name, "MCP Plugin Server");

    let tools = client.list_tools(None).await.unwrap();
    let names: Vec<_> = tools.tools.iter().map(|t| t.name.to_string()).collect();
    assert_eq!(
        names,
        ["get_plugin_configs", "get_plugin_config", "invoke_hook"]
    );

    let r = client
        .call_tool(
            CallToolRequestParams::new("get_plugin_config")
                .with_arguments(obj(json!({"name": "denylistplugin"}))),
        )
        .await
        .unwrap();
    let cfg: Value = serde_json::from_str(&first_text(&r)).unwrap();
    assert_eq!(cfg["name"], "DenyListPlugin");
    assert_eq!(cfg["config"]["words"][0], "innovative");

    let r = client
        .call_tool(CallToolRequestParams::new("get_plugin_configs").with_arguments(Map::new()))
        .await
        .unwrap();
    assert_eq!(
        r.structured_content.unwrap()["result"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    let r = client
        .call_tool(
            CallToolRequestParams::new("invoke_hook").with_arguments(hook_args(
                "ReplaceBadWordsPlugin",
                "tool_pre_invoke",
                json!({"name": "echo", "args": {"text": "crap happens"}}),
            )),
        )
        .await
        .unwrap();
    let a: Value = serde_json::from_str(&first_text(&r)).unwrap();
    assert_eq!(
        a["result"]["modified_payload"]["args"]["text"],
        "yikes happens"
    );

    let r = client
        .call_tool(
            CallToolRequestParams::new("invoke_hook").with_arguments(hook_args(
                "DenyListPlugin",
                "prompt_pre_fetch",
                json!({"prompt_id": "p", "args": {"user": "a revolutionary idea"}}),
            )),
        )
        .await
        .unwrap();
    let a: Value = serde_json::from_str(&first_text(&r)).unwrap();
    assert_eq!(a["result"]["continue_processing"], false);
    assert_eq!(a["result"]["violation"]["code"], "deny");

    // Restart the server on the same port under the live client: the next call succeeds.
    srv.shutdown().await;
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    let srv = start_on(
        listener,
        app(
            peer_backend().await,
            DEFAULT_MAX_BODY_BYTES,
            HostPolicy::new(true, &[]),
        ),
    )
    .await;
    let r = client
        .call_tool(
            CallToolRequestParams::new("invoke_hook").with_arguments(hook_args(
                "ReplaceBadWordsPlugin",
                "prompt_pre_fetch",
                json!({"prompt_id": "p", "args": {"user": "crud"}}),
            )),
        )
        .await
        .unwrap();
    let a: Value = serde_json::from_str(&first_text(&r)).unwrap();
    assert_eq!(a["result"]["modified_payload"]["args"]["user"], "yikes");

    // Errors stay inside results for rmcp too.
    let r = client
        .call_tool(
            CallToolRequestParams::new("invoke_hook").with_arguments(hook_args(
                "NoSuchPlugin",
                "tool_pre_invoke",
                json!({"name": "x"}),
            )),
        )
        .await
        .unwrap();
    assert_ne!(r.is_error, Some(true));
    let a: Value = serde_json::from_str(&first_text(&r)).unwrap();
    assert!(a["error"]["message"]
        .as_str()
        .unwrap()
        .contains("NoSuchPlugin"));

    client.cancel().await.unwrap();
    srv.shutdown().await;
}
