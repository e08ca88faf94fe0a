//! The one-pass request form (`write_request_json`) writes exactly the bytes of the `Value`
//! request form (`to_request_json`, then compact serialization), which is what the client sent
//! before and what the Python client's captures pin.

#![allow(clippy::unwrap_used)] // tests may unwrap (team rules)

use std::path::PathBuf;

use plugwire_framework::*;
use serde_json::{json, Value};

fn same_bytes_payload(p: &HookPayload, what: &str) {
    let mut out = b"prefix".to_vec();
    p.write_request_json(&mut out).unwrap();
    let old = serde_json::to_vec(&p.to_request_json()).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out[6..]),
        String::from_utf8_lossy(&old),
        "{what}"
    );
    assert_eq!(&out[..6], b"prefix", "{what}: appends");
}

fn same_bytes_context(c: &PluginContext, what: &str) {
    let mut out = Vec::new();
    c.write_request_json(&mut out).unwrap();
    let old = serde_json::to_vec(&c.to_request_json()).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out),
        String::from_utf8_lossy(&old),
        "{what}"
    );
}

#[test]
fn captured_requests_write_the_same_bytes() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/wire");
    let mut checked = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if !(name.contains("invoke_hook") && name.ends_with(".request.json")) {
            continue;
        }
        let req: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let hook: HookType = req["hook_type"].as_str().unwrap().parse().unwrap();
        let payload = HookPayload::from_json(hook, req["payload"].clone()).unwrap();
        same_bytes_payload(&payload, &name);
        if let Some(ctx) = req.get("context") {
            same_bytes_context(&PluginContext::from_json(ctx.clone()).unwrap(), &name);
        }
        checked += 1;
    }
    assert!(checked >= 10, "{checked}");
}

#[test]
fn nulls_are_dropped_where_the_value_form_drops_them() {
    let cases = [
        // None model fields dropped; nulls inside free-form args kept; escapes and numbers.
        (
            HookType::ToolPreInvoke,
            json!({"name": "t\"é\u{1}", "args": {"z": null, "a": [null, {"b": null}], "f": 1.5e300, "n": -3},
                   "headers": null}),
        ),
        // Required-but-nullable members are always sent.
        (
            HookType::ToolPostInvoke,
            json!({"name": "t", "result": null}),
        ),
        (
            HookType::AgentPostInvoke,
            json!({"agent_id": "a", "messages": []}),
        ),
        (
            HookType::AgentPreInvoke,
            json!({"agent_id": "a", "messages": [{"role": "user", "content": null}], "tools": null,
                   "headers": {}, "model": null, "system_prompt": "s", "parameters": {"t": null}}),
        ),
        (
            HookType::ResourcePostFetch,
            json!({"uri": "file:///x", "content": null}),
        ),
        (
            HookType::PromptPreFetch,
            json!({"prompt_id": "p", "args": {}}),
        ),
        (
            HookType::HttpAuthResolveUser,
            json!({"credentials": {"raw_token": "x", "source": null}, "headers": {}, "client_host": null}),
        ),
        (HookType::Evaluate, json!({"message": {"role": "user"}})),
    ];
    for (hook, v) in cases {
        let p = HookPayload::from_json(hook, v.clone()).unwrap();
        same_bytes_payload(&p, &format!("{hook}: {v}"));
    }
    // A resolved user is a result-only form (never sent as a hook input): a free-form dict
    // whose nulls are data.
    let r = PluginResult::from_json(
        HookType::HttpAuthResolveUser,
        json!({"modified_payload": {"email": null, "id": "u", "nested": {"x": null}}}),
    )
    .unwrap();
    let user = r.modified_payload.unwrap();
    assert!(user.is_result_only());
    assert!(user.to_json().to_string().contains("\"email\":null"));
}

#[test]
fn contexts_strip_the_global_context_and_its_user_context_only() {
    let full = json!({
        "request_id": "r", "user": {"email": "a@b", "full_name": null}, "user_context": {
            "user_id": "u", "email": null, "full_name": null, "is_admin": false, "groups": [], "roles": ["r"],
            "team_id": null, "teams": null, "department": null, "attributes": {"a": null}, "auth_method": null,
            "authenticated_at": "2026-01-01T00:00:00Z", "service_account": null, "delegation_chain": []},
        "tenant_id": null, "server_id": "s", "content_type": null, "state": {"k": null}, "metadata": {"m": null}
    });
    let mut ctx = PluginContext::new(GlobalContext::from_json(full).unwrap());
    ctx.set_state("s", json!({"user_context": null, "x": null}));
    ctx.metadata.insert("global_context".into(), Value::Null);
    same_bytes_context(&ctx, "full");
    let mut out = Vec::new();
    ctx.write_request_json(&mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(
        !text.contains("tenant_id") && !text.contains("department"),
        "{text}"
    );
    assert!(
        text.contains("\"full_name\":null"),
        "the user dict keeps nulls: {text}"
    );
    // Minimal contexts: nothing but empty maps and the id.
    same_bytes_context(&PluginContext::new(GlobalContext::new("r")), "minimal");
    let mut user_string = GlobalContext::new("r");
    user_string.user = Some(json!("alice"));
    same_bytes_context(&PluginContext::new(user_string), "user as a string");
}
