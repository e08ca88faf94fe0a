//! The hot path (`dispatch::answer_invoke_hook`) against the generic one (`parse_message` +
//! `handle_message`): for every request it takes, the answer must be the same bytes.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;

use plugwire_mcp::{parse_message, Message};
use plugwire_server::{dispatch, Backend};
use serde_json::{json, Value};

use common::{invoke, peer_backend, wire_sample};

async fn generic(backend: &Arc<dyn Backend>, body: &[u8]) -> Vec<u8> {
    let msg: Message = parse_message(body).expect("JSON-RPC");
    let answer = dispatch::handle_message(backend, msg)
        .await
        .expect("request");
    serde_json::to_vec(&answer).unwrap()
}

/// Every wire sample that is a `tools/call`, malformed ones included.
fn sample_bodies() -> Vec<(String, Vec<u8>)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../mcp/tests/wire-samples");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.contains("tools_call") && n.ends_with(".request.json"))
        .collect();
    names.sort();
    names
        .into_iter()
        .map(|n| {
            let body = serde_json::to_vec(&wire_sample(&n)).unwrap();
            (n, body)
        })
        .collect()
}

fn crafted_bodies() -> Vec<(String, Vec<u8>)> {
    let ctx_with_state = json!({"state": {"k": [1, 2]}, "global_context": {"request_id": "r",
        "user": {"id": "u", "nested": null}, "state": {"g": true}, "metadata": {}}, "metadata": {"m": 1.5}});
    let mut cases: Vec<(String, Value)> = vec![
        (
            "rewritten".into(),
            invoke(
                1,
                "ReplaceBadWordsPlugin",
                "tool_pre_invoke",
                json!({"name": "t", "args": {"q": "crap \"quoted\" \u{e9} \u{1F600}", "n": 1, "x": null}, "headers": {"a": "b"}}),
            ),
        ),
        (
            "blocked".into(),
            invoke(
                2,
                "DenyListPlugin",
                "prompt_pre_fetch",
                json!({"prompt_id": "p", "args": {"text": "this is innovative"}}),
            ),
        ),
        (
            "unknown plugin".into(),
            invoke(3, "NoSuch", "tool_pre_invoke", json!({"name": "t"})),
        ),
        (
            "unknown hook".into(),
            invoke(4, "DenyListPlugin", "no_such_hook", json!({})),
        ),
        (
            "hook the plugin lacks".into(),
            invoke(
                5,
                "DenyListPlugin",
                "resource_pre_fetch",
                json!({"uri": "x"}),
            ),
        ),
        (
            "invalid payload".into(),
            invoke(
                6,
                "ReplaceBadWordsPlugin",
                "tool_pre_invoke",
                json!({"args": 5}),
            ),
        ),
        (
            "invalid payload, unknown plugin".into(),
            invoke(7, "NoSuch", "tool_pre_invoke", json!({"args": 5})),
        ),
        (
            "string id".into(),
            invoke(
                8,
                "ReplaceBadWordsPlugin",
                "tool_post_invoke",
                json!({"name": "t", "result": {"content": [{"type": "text", "text": "crap"}]}}),
            ),
        ),
    ];
    cases[7].1["id"] = json!("id-\"8\"");
    let mut with_ctx = invoke(
        9,
        "DenyListPlugin",
        "tool_pre_invoke",
        json!({"name": "t", "args": {"a": "fine"}}),
    );
    with_ctx["params"]["arguments"]["context"] = ctx_with_state;
    cases.push(("context with state".into(), with_ctx));
    let mut bad_ctx = invoke(
        10,
        "DenyListPlugin",
        "tool_pre_invoke",
        json!({"name": "t"}),
    );
    bad_ctx["params"]["arguments"]["context"] = json!({"global_context": {"request_id": 5}});
    cases.push(("invalid context".into(), bad_ctx));
    let mut out: Vec<(String, Vec<u8>)> = cases
        .into_iter()
        .map(|(n, v)| (n, serde_json::to_vec(&v).unwrap()))
        .collect();
    // Duplicate payload keys: both paths keep the last value at the first position.
    // The payload before the hook's name: the one-read decoding cannot take it, the hot path
    // still does.
    out.push(("payload first".into(), br#"{"jsonrpc":"2.0","id":12,"method":"tools/call","params":{"name":"invoke_hook","arguments":{"payload":{"name":"a","args":{"q":"crap"}},"hook_type":"tool_pre_invoke","plugin_name":"ReplaceBadWordsPlugin","context":{"global_context":{"request_id":"r"}}}}}"#.to_vec()));
    out.push(("duplicate keys".into(), br#"{"jsonrpc":"2.0","id":11,"method":"tools/call","params":{"name":"invoke_hook","arguments":{"hook_type":"tool_pre_invoke","plugin_name":"ReplaceBadWordsPlugin","payload":{"name":"a","args":{"q":"x","q":"crap"},"name":"b"},"context":{"global_context":{"request_id":"r"}}}}}"#.to_vec()));
    out
}

#[tokio::test]
async fn hot_path_answers_equal_the_generic_path_byte_for_byte() {
    let backend = peer_backend().await;
    let (mut fast_taken, mut one_read) = (0, Vec::new());
    for (name, body) in sample_bodies().into_iter().chain(crafted_bodies()) {
        let slow = generic(&backend, &body).await;
        if backend.decode_call(&body).is_some() {
            one_read.push(name.clone());
        }
        match dispatch::answer_invoke_hook(&backend, &body).await {
            Some(fast) => {
                fast_taken += 1;
                assert_eq!(
                    String::from_utf8_lossy(&fast),
                    String::from_utf8_lossy(&slow),
                    "{name}"
                );
            }
            None => {
                let v: Value = serde_json::from_slice(&body).unwrap();
                // 25 lacks `context`: the generic path words that error.
                assert!(
                    v["params"]["name"] != "invoke_hook" || name.starts_with("25-"),
                    "{name}: a well-formed invoke_hook call should take the hot path"
                );
            }
        }
    }
    // 9 well-formed invoke_hook samples + 12 crafted; if the hot path were never taken this
    // would fail.
    assert_eq!(fast_taken, 21);
    // Of those, the ones whose payload and context decode (and whose hook exists) were
    // decoded in one read; the others went through the two-pass read, with the same answers.
    println!("decoded in one read: {one_read:?}");
    for crafted in ["rewritten", "blocked", "unknown plugin", "string id"] {
        assert!(one_read.iter().any(|n| n == crafted), "{crafted}");
    }
    for two_pass in [
        "unknown hook",
        "invalid payload",
        "invalid context",
        "payload first",
    ] {
        assert!(!one_read.iter().any(|n| n == two_pass), "{two_pass}");
    }
}
