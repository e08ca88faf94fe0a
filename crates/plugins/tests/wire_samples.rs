//! The built-ins against the real captures of the Python plugin server (captures 12-18 and 23
//! of crates/mcp/tests/wire-samples, copied into tests/fixtures/wire): plugins/test.yaml loaded
//! with the framework's loader, each
//! captured `invoke_hook` request run through `PluginManager::invoke_plugin` (what
//! `plugwire serve` does), and the result (and context, when the capture has one) compared with
//! the captured answer, JSON value for value.

#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use plugwire_framework::{Config, HookType, PluginContext, PluginManager};
use serde_json::Value;

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The capture whose file name starts with `prefix` and ends with `suffix`.
fn fixture(prefix: &str, suffix: &str) -> Value {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/wire");
    let entry = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(prefix) && n.ends_with(suffix))
        })
        .unwrap_or_else(|| panic!("no fixture {prefix}*{suffix}"));
    serde_json::from_str(&std::fs::read_to_string(entry).unwrap()).unwrap()
}

async fn manager() -> PluginManager {
    // The captures come from a ContextForge 1.0.0 server: replay them under the 1.0.x switch.
    let era = std::collections::HashMap::from([(plugwire_framework::PLUGINS_COMPAT, "1.0")]);
    let config = Config::load(repo_root().join("plugins/test.yaml"), &era).unwrap();
    let mut m = PluginManager::new(config, &plugwire_plugins::builtin_registry()).unwrap();
    m.initialize().await.unwrap();
    m
}

/// Run the capture `n` and return (our answer, the Python answer), both as the `invoke_hook` text JSON.
async fn replay(m: &PluginManager, n: &str) -> (Value, Value) {
    let req = fixture(&format!("{n}-"), ".request.json");
    let req_name = req["params"]["arguments"]["plugin_name"]
        .as_str()
        .unwrap()
        .to_owned();
    let resp = fixture(&format!("{n}-"), ".response.json");
    let python: Value =
        serde_json::from_str(resp["result"]["content"][0]["text"].as_str().unwrap()).unwrap();

    let args = &req["params"]["arguments"];
    let hook: HookType = args["hook_type"].as_str().unwrap().parse().unwrap();
    let ctx = PluginContext::from_json(args["context"].clone()).unwrap();
    let mut ours = serde_json::Map::new();
    ours.insert("plugin_name".into(), Value::String(req_name.clone()));
    match m
        .invoke_plugin(&req_name, hook, &args["payload"].to_string(), ctx)
        .await
    {
        Ok((result, ctx)) => {
            ours.insert("result".into(), result.to_json());
            if python.get("context").is_some() {
                ours.insert("context".into(), ctx.to_json());
            }
        }
        Err(e) => {
            ours.insert("error".into(), e.model.to_json());
        }
    }
    (Value::Object(ours), python)
}

#[tokio::test]
async fn deny_list_passes_a_clean_prompt_and_echoes_it() {
    let m = manager().await;
    let (ours, python) = replay(&m, "12").await;
    assert_eq!(ours, python);
}

#[tokio::test]
async fn replace_bad_words_rewrites_prompt_args_in_rule_order() {
    let m = manager().await;
    let (ours, python) = replay(&m, "13").await;
    assert_eq!(ours, python);
    assert_eq!(
        ours["result"]["modified_payload"]["args"]["user"],
        "what a yikes day"
    );
}

#[tokio::test]
async fn deny_list_blocks_a_prompt_with_the_python_violation() {
    let m = manager().await;
    let (ours, python) = replay(&m, "14").await;
    assert_eq!(ours, python);
    assert_eq!(ours["result"]["violation"]["code"], "deny");
    assert_eq!(ours["result"]["metadata"], Value::Null);
}

#[tokio::test]
async fn deny_list_passes_a_clean_tool_call_and_records_its_state() {
    let m = manager().await;
    let (ours, python) = replay(&m, "15").await;
    assert_eq!(ours, python);
    assert_eq!(ours["context"]["state"]["deny_checked"], true);
}

#[tokio::test]
async fn replace_bad_words_rewrites_top_level_tool_args_only_strings() {
    let m = manager().await;
    let (ours, python) = replay(&m, "16").await;
    assert_eq!(ours, python);
}

#[tokio::test]
async fn deny_list_blocks_a_tool_call_naming_the_argument() {
    let m = manager().await;
    let (ours, python) = replay(&m, "17").await;
    assert_eq!(ours, python);
    assert_eq!(ours["result"]["violation"]["details"]["arg"], "text");
    // The capture has no `context`: the blocked call left the plugin's context empty.
    let req = fixture("17-", ".request.json");
    let args = &req["params"]["arguments"];
    let (_, ctx) = m
        .invoke_plugin(
            "DenyListPlugin",
            HookType::ToolPreInvoke,
            &args["payload"].to_string(),
            PluginContext::from_json(args["context"].clone()).unwrap(),
        )
        .await
        .unwrap();
    assert!(ctx.is_empty());
}

#[tokio::test]
async fn replace_bad_words_rewrites_top_level_result_strings() {
    let m = manager().await;
    let (ours, python) = replay(&m, "18").await;
    assert_eq!(ours, python);
}

#[tokio::test]
async fn deny_list_has_no_tool_post_invoke_hook() {
    let m = manager().await;
    let (ours, python) = replay(&m, "23").await;
    assert_eq!(ours, python);
}
