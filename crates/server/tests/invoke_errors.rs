//! Every class of bad `invoke_hook` input, answered byte for byte as recorded.
//!
//! `invoke-errors/answers.json` holds the answers the generic (`serde_json::Value`) path gave
//! before the server had a single hook entry point, captured from that code. The typed
//! decoders must word every error exactly as it did, in the same order of checks (hook name,
//! then context, then plugin, then payload), and take a repeated member as JSON objects do
//! (the last one wins). Each body is answered the way Streamable HTTP answers it (the one-pass
//! decoding, else the generic dispatch) and the way stdio answers it, over a real
//! `plugwire serve --stdio` loop.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;

use plugwire_mcp::{parse_message, Message};
use plugwire_server::backend::{ProtoAnswer, ProtoArgs};
use plugwire_server::{dispatch, Backend};
use serde_json::{json, Map, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use common::{invoke, peer_backend};

/// One bad (or borderline) input per line: the class, then the request body.
fn cases() -> Vec<(&'static str, Vec<u8>)> {
    let with = |id: i64, plugin: &str, hook: &str, payload: Value, edit: fn(&mut Value)| {
        let mut v = invoke(id, plugin, hook, payload);
        edit(&mut v["params"]["arguments"]);
        serde_json::to_vec(&v).unwrap()
    };
    let keep: fn(&mut Value) = |_| {};
    let rbw = "ReplaceBadWordsPlugin";
    let deny = "DenyListPlugin";
    let pre = "tool_pre_invoke";
    let raw = |s: &str| s.as_bytes().to_vec();
    vec![
        (
            "unknown plugin",
            with(1, "NoSuch", pre, json!({"name": "t"}), keep),
        ),
        (
            "unknown hook",
            with(2, deny, "no_such_hook", json!({}), keep),
        ),
        (
            "hook the plugin lacks",
            with(3, deny, "resource_pre_fetch", json!({"uri": "x"}), keep),
        ),
        (
            "hook name of the wrong case",
            with(4, deny, "Tool_Pre_Invoke", json!({"name": "t"}), keep),
        ),
        ("payload an array", with(5, rbw, pre, json!([1]), keep)),
        ("payload a string", with(6, rbw, pre, json!("x"), keep)),
        ("payload null", with(7, rbw, pre, Value::Null, keep)),
        (
            "payload missing a required field",
            with(8, rbw, pre, json!({"args": {}}), keep),
        ),
        (
            "payload field of the wrong type",
            with(9, rbw, pre, json!({"name": "t", "args": 5}), keep),
        ),
        (
            "payload name of the wrong type",
            with(10, rbw, pre, json!({"name": 5}), keep),
        ),
        (
            "payload nested field of the wrong type",
            with(
                11,
                rbw,
                "prompt_pre_fetch",
                json!({"prompt_id": "p", "args": {"text": 5}}),
                keep,
            ),
        ),
        (
            "payload headers of the wrong type",
            with(
                12,
                rbw,
                pre,
                json!({"name": "t", "headers": {"a": 5}}),
                keep,
            ),
        ),
        (
            "payload float where a string is expected",
            with(13, rbw, pre, json!({"name": 1.5}), keep),
        ),
        (
            "payload empty object",
            with(14, rbw, "tool_post_invoke", json!({}), keep),
        ),
        (
            "invalid payload, unknown plugin",
            with(15, "NoSuch", pre, json!({"args": 5}), keep),
        ),
        (
            "invalid payload, hook the plugin lacks",
            with(16, deny, "resource_pre_fetch", json!({"uri": 5}), keep),
        ),
        (
            "unknown hook, invalid context",
            with(17, deny, "nope", json!({}), |a| {
                a["context"] = json!({"global_context": 5})
            }),
        ),
        (
            "invalid context, unknown plugin, invalid payload",
            with(18, "NoSuch", pre, json!({"args": 5}), |a| {
                a["context"] = json!({"global_context": {"request_id": 5}})
            }),
        ),
        (
            "context an array",
            with(19, deny, pre, json!({"name": "t"}), |a| {
                a["context"] = json!([])
            }),
        ),
        (
            "context missing global_context",
            with(20, deny, pre, json!({"name": "t"}), |a| {
                a["context"] = json!({})
            }),
        ),
        (
            "context global_context of the wrong type",
            with(21, deny, pre, json!({"name": "t"}), |a| {
                a["context"] = json!({"global_context": "g"})
            }),
        ),
        (
            "context request_id of the wrong type",
            with(22, deny, pre, json!({"name": "t"}), |a| {
                a["context"] = json!({"global_context": {"request_id": 5}})
            }),
        ),
        (
            "context state of the wrong type",
            with(23, deny, pre, json!({"name": "t"}), |a| {
                a["context"] = json!({"state": 5, "global_context": {"request_id": "r"}})
            }),
        ),
        (
            "context user_context of the wrong type",
            with(
                24,
                deny,
                pre,
                json!({"name": "t"}),
                |a| {
                    a["context"] = json!({"global_context": {"request_id": "r", "user_context": 5}})
                },
            ),
        ),
        (
            "context null state and unknown members",
            with(
                25,
                deny,
                pre,
                json!({"name": "t"}),
                |a| a["context"] = json!({"state": null, "zz": 1, "global_context": {"request_id": "r", "metadata": null}}),
            ),
        ),
        (
            "hook_type missing",
            with(26, deny, pre, json!({"name": "t"}), |a| {
                a.as_object_mut().unwrap().remove("hook_type");
            }),
        ),
        (
            "plugin_name not a string, context missing",
            with(27, deny, pre, json!({"name": "t"}), |a| {
                a["plugin_name"] = json!(5);
                a.as_object_mut().unwrap().remove("context");
            }),
        ),
        (
            "extra payload members are ignored",
            with(
                28,
                rbw,
                pre,
                json!({"name": "t", "zz": [1], "args": {"q": "crap"}}),
                keep,
            ),
        ),
        (
            "blocked (the 1.0.0 enforce echo)",
            with(
                29,
                deny,
                "prompt_pre_fetch",
                json!({"prompt_id": "p", "args": {"text": "so innovative"}}),
                keep,
            ),
        ),
        (
            "bad JSON",
            raw(r#"{"jsonrpc":"2.0","id":30,"method":"tools/call","params":{"#),
        ),
        (
            "lone surrogate in the payload",
            raw(
                r#"{"jsonrpc":"2.0","id":31,"method":"tools/call","params":{"name":"invoke_hook","arguments":{"hook_type":"tool_pre_invoke","plugin_name":"DenyListPlugin","payload":{"name":"\ud800"},"context":{"global_context":{"request_id":"r"}}}}}"#,
            ),
        ),
        (
            "duplicate payload members (the last one wins)",
            raw(
                r#"{"jsonrpc":"2.0","id":32,"method":"tools/call","params":{"name":"invoke_hook","arguments":{"hook_type":"tool_pre_invoke","plugin_name":"ReplaceBadWordsPlugin","payload":{"name":"a","args":{"q":"x","q":"crap"},"name":"b"},"context":{"global_context":{"request_id":"r"}}}}}"#,
            ),
        ),
        (
            "duplicate payload member whose last value is of the wrong type",
            raw(
                r#"{"jsonrpc":"2.0","id":33,"method":"tools/call","params":{"name":"invoke_hook","arguments":{"hook_type":"tool_pre_invoke","plugin_name":"ReplaceBadWordsPlugin","payload":{"name":"a","name":5},"context":{"global_context":{"request_id":"r"}}}}}"#,
            ),
        ),
        (
            "duplicate context members",
            raw(
                r#"{"jsonrpc":"2.0","id":34,"method":"tools/call","params":{"name":"invoke_hook","arguments":{"hook_type":"tool_pre_invoke","plugin_name":"DenyListPlugin","payload":{"name":"t"},"context":{"global_context":{"request_id":"a","request_id":"b","state":{"k":1}},"state":{"s":2}}}}}"#,
            ),
        ),
        (
            "duplicate context member whose last value is of the wrong type",
            raw(
                r#"{"jsonrpc":"2.0","id":35,"method":"tools/call","params":{"name":"invoke_hook","arguments":{"hook_type":"tool_pre_invoke","plugin_name":"DenyListPlugin","payload":{"name":"t"},"context":{"global_context":{"request_id":"a","request_id":true}}}}}"#,
            ),
        ),
        (
            "duplicate envelope members (not the one-pass decoding's)",
            raw(
                r#"{"jsonrpc":"2.0","id":36,"id":37,"method":"tools/call","params":{"name":"invoke_hook","arguments":{"hook_type":"tool_pre_invoke","plugin_name":"ReplaceBadWordsPlugin","payload":{"name":"t","args":{"q":"crap"}},"context":{"global_context":{"request_id":"r"}}}}}"#,
            ),
        ),
        (
            "duplicate envelope members and an invalid payload",
            raw(
                r#"{"jsonrpc":"2.0","id":38,"method":"tools/call","params":{"name":"invoke_hook","name":"invoke_hook","arguments":{"hook_type":"tool_pre_invoke","plugin_name":"ReplaceBadWordsPlugin","payload":{"args":[]},"context":{"global_context":{"request_id":"r"}}}}}"#,
            ),
        ),
    ]
}

/// The answer of the generic dispatch: what stdio sent for every line before it took the
/// one-pass decoding.
async fn generic(backend: &Arc<dyn Backend>, body: &[u8]) -> Vec<u8> {
    match parse_message(body) {
        Ok(msg @ Message::Request(_)) => {
            let answer = dispatch::handle_message(backend, msg).await.unwrap();
            serde_json::to_vec(&answer).unwrap()
        }
        Ok(other) => panic!("not a request: {other:?}"),
        Err(e) => serde_json::to_vec(&e.to_response()).unwrap(),
    }
}

/// Streamable HTTP's order: the one-pass decoding, else the generic dispatch.
async fn over_http(backend: &Arc<dyn Backend>, body: &[u8]) -> Vec<u8> {
    match dispatch::answer_invoke_hook(backend, body).await {
        Some(answer) => answer,
        None => generic(backend, body).await,
    }
}

fn expected() -> Map<String, Value> {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/invoke-errors/answers.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[tokio::test]
async fn every_bad_input_class_gets_the_recorded_answer_over_http_dispatch() {
    let backend = peer_backend().await;
    let expected = expected();
    let cases = cases();
    assert_eq!(expected.len(), cases.len(), "one recorded answer per case");
    let mut typed = 0;
    for (name, body) in cases {
        let want = expected[name].as_str().unwrap();
        typed += usize::from(
            dispatch::answer_invoke_hook(&backend, &body)
                .await
                .is_some(),
        );
        let http = over_http(&backend, &body).await;
        assert_eq!(String::from_utf8_lossy(&http), want, "{name} (HTTP)");
        let generic = generic(&backend, &body).await;
        assert_eq!(String::from_utf8_lossy(&generic), want, "{name} (generic)");
    }
    // Every case but the argument errors, the unparsable bodies and the repeated envelope
    // members is answered by the typed decoders.
    assert_eq!(typed, 27);
}

#[tokio::test]
async fn every_bad_input_class_gets_the_recorded_answer_over_stdio() {
    let (mut client_write, server_read) = tokio::io::duplex(1 << 20);
    let (server_write, client_read) = tokio::io::duplex(1 << 20);
    let server = tokio::spawn(plugwire_server::serve_stdio(
        peer_backend().await,
        server_read,
        server_write,
        1 << 20,
        std::time::Duration::from_secs(5),
        std::future::pending(),
    ));
    let mut lines = BufReader::new(client_read).lines();
    let expected = expected();
    for (name, mut body) in cases() {
        body.push(b'\n');
        client_write.write_all(&body).await.unwrap();
        let answer = lines.next_line().await.unwrap().unwrap();
        assert_eq!(answer, expected[name].as_str().unwrap(), "{name} (stdio)");
    }
    drop(client_write);
    server.await.unwrap().unwrap();
}

/// A backend that only reads text: the default `invoke_hook_json` (arguments rendered as text,
/// the answer read back).
struct TextOnly(Arc<dyn Backend>);

#[async_trait::async_trait]
impl Backend for TextOnly {
    fn plugin_configs(&self) -> Vec<Value> {
        self.0.plugin_configs()
    }

    async fn invoke_hook(
        &self,
        args: plugwire_mcp::RawInvokeHookArgs<'_>,
        out: &mut plugwire_mcp::TextResultWriter,
    ) {
        self.0.invoke_hook(args, out).await;
    }
}

/// The entry of the transports holding JSON values (gRPC, the raw socket): every case whose
/// arguments are well-formed gets, as a value, the answer whose text was recorded, both from
/// the manager's own decoding and through the text fallback other backends use; and as proto
/// bytes, the same answer encoded.
#[tokio::test]
async fn every_bad_input_class_gets_the_recorded_answer_as_json_values() {
    let backend = peer_backend().await;
    let text_only: Arc<dyn Backend> = Arc::new(TextOnly(Arc::clone(&backend)));
    let expected = expected();
    let mut checked = 0;
    for (name, body) in cases() {
        let Ok(request) = serde_json::from_slice::<Value>(&body) else {
            continue;
        };
        let Some(arguments) = request["params"]["arguments"].as_object() else {
            continue;
        };
        let Ok(args) = plugwire_mcp::InvokeHookArgs::from_arguments(arguments) else {
            continue;
        };
        let recorded: Value = serde_json::from_str(expected[name].as_str().unwrap()).unwrap();
        let want = recorded["result"]["content"][0]["text"].as_str().unwrap();
        let typed = dispatch::invoke_hook_args(backend.as_ref(), args.clone()).await;
        assert_eq!(typed.to_text(), want, "{name} (JSON values)");
        // The proto entry (the context as a proto message carries it, which irons out the
        // JSON context's own errors): the bytes of the answer the JSON entry gives.
        let proto_args = ProtoArgs {
            hook_type: args.hook_type.clone(),
            plugin_name: args.plugin_name.clone(),
            payload: args.payload.clone(),
            context: Some(Box::new(plugwire_grpc::convert::context_from_json(
                &args.context,
            ))),
        };
        let via_json =
            dispatch::invoke_hook_args(backend.as_ref(), proto_args.clone().into_json_args());
        let want_proto = ProtoAnswer::from_response(via_json.await);
        let proto = dispatch::invoke_hook_proto(backend.as_ref(), proto_args).await;
        assert_eq!(proto, want_proto, "{name} (proto)");
        let through_text = dispatch::invoke_hook_args(text_only.as_ref(), args).await;
        assert_eq!(through_text.to_text(), want, "{name} (text fallback)");
        checked += 1;
    }
    // All but the six argument errors and the two bodies that are not JSON (the lone
    // surrogate too).
    assert_eq!(checked, 29);
}
