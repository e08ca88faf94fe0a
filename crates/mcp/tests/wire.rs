//! The MCP types against real captures of the Python 1.0.0 pair (kept in
//! `tests/wire-samples/`).

#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use plugwire_mcp::plugin_tools::{self, plugin_config_result, plugin_configs_result};
use plugwire_mcp::*;
use serde_json::Value;

fn sample_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/wire-samples")
}

fn read(name: &str) -> Value {
    let text = std::fs::read_to_string(sample_dir().join(name)).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn samples(suffix: &str) -> Vec<(String, Value)> {
    let mut out: Vec<_> = std::fs::read_dir(sample_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(suffix))
        .map(|n| {
            let v = read(&n);
            (n, v)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    assert!(!out.is_empty());
    out
}

fn result_of(response: &Value) -> CallToolResult {
    serde_json::from_value(response["result"].clone()).unwrap()
}

#[test]
fn every_request_sample_parses_as_the_right_message_kind() {
    for (name, v) in samples(".request.json") {
        let body = serde_json::to_vec(&v).unwrap();
        let msg = parse_message(&body).unwrap_or_else(|e| panic!("{name}: {e}"));
        match msg {
            Message::Notification(n) => {
                assert!(name.contains("notifications"), "{name}");
                assert_eq!(n.method, methods::INITIALIZED);
            }
            Message::Request(r) => {
                assert!(!name.contains("notifications"), "{name}");
                assert_eq!(serde_json::to_value(&r.id).unwrap(), v["id"]);
            }
            other => panic!("{name}: {other:?}"),
        }
    }
}

#[test]
fn initialize_answer_matches_python_except_version() {
    let req = read("01-initialize.request.json");
    let params: InitializeParams = serde_json::from_value(req["params"].clone()).unwrap();
    assert_eq!(params.protocol_version, "2025-11-25");
    assert_eq!(params.client_info.unwrap().name, "mcp");

    let ours = InitializeResult::plugin_server(&params.protocol_version, "1.27.0");
    let theirs = read("01-initialize.response.json")["result"].clone();
    assert_eq!(serde_json::to_value(&ours).unwrap(), theirs);
    // And the client side decodes the Python answer.
    let decoded: InitializeResult = serde_json::from_value(theirs).unwrap();
    assert_eq!(decoded.version().unwrap(), ProtocolVersion::V2025_11_25);
}

#[test]
fn tools_list_schemas_match_fastmcp() {
    let theirs: ListToolsResult =
        serde_json::from_value(read("04-tools_list.response.json")["result"].clone()).unwrap();
    let ours = plugin_tools::list_tools_result();
    assert_eq!(theirs.tools.len(), ours.tools.len());
    for (t, o) in theirs.tools.iter().zip(&ours.tools) {
        assert_eq!(t.name, o.name);
        assert_eq!(t.input_schema, o.input_schema, "{}", t.name);
        assert_eq!(t.output_schema, o.output_schema, "{}", t.name);
    }
}

#[test]
fn get_plugin_config_text_is_byte_identical() {
    for n in [
        "05-tools_call-get_plugin_config.response.json",
        "10-tools_call-get_plugin_config.response.json",
    ] {
        let theirs = result_of(&read(n));
        let text = theirs.texts().next().unwrap();
        let config: Value = serde_json::from_str(text).unwrap();
        let ours = plugin_config_result(Some(&config));
        assert_eq!(ours, theirs, "{n}");
        // And the client reads the config back out of their answer.
        let decoded = plugin_config_from_result(&theirs).unwrap().unwrap();
        assert_eq!(Value::Object(decoded), config, "{n}");
    }
    let unknown = result_of(&read("26-curl-tools_call-get_plugin_config.response.json"));
    assert_eq!(plugin_config_result(None), unknown);
    assert_eq!(plugin_config_from_result(&unknown), Ok(None));
}

#[test]
fn get_plugin_configs_packs_like_fastmcp() {
    let theirs = result_of(&read("11-tools_call-get_plugin_configs.response.json"));
    let list = theirs.structured_content.as_ref().unwrap()["result"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(plugin_configs_result(list), theirs);
}

#[test]
fn invoke_hook_requests_and_answers_round_trip() {
    for (name, req) in samples(".request.json") {
        if !name.contains("invoke_hook") || name.starts_with("25-") {
            continue;
        }
        let params: CallToolParams = serde_json::from_value(req["params"].clone()).unwrap();
        assert_eq!(params.name, INVOKE_HOOK);
        let args = InvokeHookArgs::from_arguments(params.arguments.as_ref().unwrap())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(args.hook_type, req["params"]["arguments"]["hook_type"]);

        let resp_name = name.replace(".request.json", ".response.json");
        let theirs = result_of(&read(&resp_name));
        assert!(!theirs.is_error);
        let decoded = InvokeHookResponse::from_result(&theirs).unwrap();
        assert_eq!(decoded.plugin_name, args.plugin_name);
        assert!(
            decoded.result.is_some() != decoded.error.is_some(),
            "{resp_name}"
        );
        // Re-encoding gives the exact bytes the Python runtime sent.
        assert_eq!(decoded.to_result(), theirs, "{resp_name}");
    }
}

#[test]
fn missing_argument_and_unknown_tool_match_fastmcp() {
    let req =
        read("25-curl-tools_call-invoke_hook-tool_pre_invoke-ReplaceBadWordsPlugin.request.json");
    let params: CallToolParams = serde_json::from_value(req["params"].clone()).unwrap();
    let err = InvokeHookArgs::from_arguments(params.arguments.as_ref().unwrap()).unwrap_err();
    let theirs = result_of(&read(
        "25-curl-tools_call-invoke_hook-tool_pre_invoke-ReplaceBadWordsPlugin.response.json",
    ));
    assert!(theirs.is_error);
    let their_text = theirs.texts().next().unwrap();
    let ours = err.to_result();
    assert!(ours.is_error);
    // Same first lines (pydantic adds the input value and a help URL after the type).
    let ours_text = ours.texts().next().unwrap().to_string();
    let prefix = "Error executing tool invoke_hook: 1 validation error for invoke_hookArguments\ncontext\n  Field required [type=missing";
    assert!(their_text.starts_with(prefix));
    assert!(ours_text.starts_with(prefix), "{ours_text}");

    let theirs = result_of(&read("27-curl-tools_call-no_such_tool.response.json"));
    assert_eq!(plugin_tools::unknown_tool("no_such_tool"), theirs);
}

#[test]
fn python_error_response_decodes() {
    let v = read("28-curl-tools_list.response.json");
    let body = serde_json::to_vec(&v).unwrap();
    let Message::Error(e) = parse_message(&body).unwrap() else {
        panic!("not an error")
    };
    assert_eq!(e.error.code, codes::INVALID_REQUEST);
    assert_eq!(e.id, Some(RequestId::from("server-error")));
}
