//! JSON shapes against the real Python 1.0.0 captures (tests/fixtures/wire: the request
//! `arguments` and response text content of the captures in crates/mcp/tests/wire-samples),
//! and the 1.0.0 wire shapes (docs/decisions.md #7).

#![allow(clippy::unwrap_used)] // tests may unwrap (team rules)

use std::path::PathBuf;

use plugwire_framework::*;
use serde_json::{json, Value};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/wire")
}

fn read(path: &std::path::Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// (request arguments, response text JSON) pairs of every invoke_hook capture.
fn invoke_pairs() -> Vec<(String, Value, Value)> {
    let mut out = Vec::new();
    let mut names: Vec<_> = std::fs::read_dir(fixtures())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.contains("invoke_hook") && n.ends_with(".request.json"))
        .collect();
    names.sort();
    for n in names {
        let req = read(&fixtures().join(&n));
        let resp = read(&fixtures().join(n.replace(".request.json", ".response.json")));
        out.push((n, req, resp));
    }
    assert!(out.len() >= 10, "expected the captured invoke_hook calls");
    out
}

#[test]
fn request_payloads_and_contexts_round_trip_in_request_form() {
    let mut checked = 0;
    for (name, req, _) in invoke_pairs() {
        let hook: HookType = req["hook_type"].as_str().unwrap().parse().unwrap();
        let payload = HookPayload::from_json(hook, req["payload"].clone())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(payload.hook_type(), hook);
        if !name.contains("-curl-") {
            assert_eq!(payload.to_request_json(), req["payload"], "{name}");
        }
        if let Some(ctx) = req.get("context") {
            let c = PluginContext::from_json(ctx.clone()).unwrap();
            // curl captures are hand-written minimal contexts; the others are the Python client's.
            if !name.contains("-curl-") {
                assert_eq!(c.to_request_json(), *ctx, "{name}");
                checked += 1;
            }
        }
    }
    assert!(checked >= 7, "{checked}");
}

#[test]
fn response_results_contexts_and_errors_round_trip_in_response_form() {
    let (mut results, mut contexts, mut errors) = (0, 0, 0);
    for (name, req, resp) in invoke_pairs() {
        let hook: HookType = req["hook_type"].as_str().unwrap().parse().unwrap();
        if let Some(r) = resp.get("result") {
            let pr =
                PluginResult::from_json(hook, r.clone()).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(pr.to_json(), *r, "{name}");
            // Key order is part of the shape.
            let keys: Vec<_> = pr.to_json().as_object().unwrap().keys().cloned().collect();
            assert_eq!(
                keys,
                [
                    "continue_processing",
                    "modified_payload",
                    "violation",
                    "metadata",
                    "http_headers",
                    "retry_delay_ms"
                ]
            );
            results += 1;
        }
        if let Some(c) = resp.get("context") {
            let pc = PluginContext::from_json(c.clone()).unwrap();
            assert!(!pc.is_empty());
            assert_eq!(pc.to_json(), *c, "{name}");
            contexts += 1;
        }
        if let Some(e) = resp.get("error") {
            let m = PluginErrorModel::from_json(e.clone()).unwrap();
            assert_eq!(m.to_json(), *e, "{name}");
            errors += 1;
        }
    }
    assert!(
        results >= 7 && contexts >= 1 && errors >= 2,
        "{results} {contexts} {errors}"
    );
}

#[test]
fn unknown_plugin_error_text_matches_python() {
    for (name, req, resp) in invoke_pairs() {
        let Some(e) = resp.get("error") else { continue };
        let hook: HookType = req["hook_type"].as_str().unwrap().parse().unwrap();
        let ours = PluginError::unknown_plugin(req["plugin_name"].as_str().unwrap(), hook);
        assert_eq!(ours.model.to_json(), *e, "{name}");
    }
}

#[test]
fn block_shape_of_1_0_0_has_null_metadata_and_echoed_payload() {
    let (_, req, resp) = invoke_pairs()
        .into_iter()
        .find(|(n, _, _)| n.starts_with("14-"))
        .unwrap();
    let r = PluginResult::from_json(HookType::PromptPreFetch, resp["result"].clone()).unwrap();
    assert!(!r.continue_processing);
    assert_eq!(r.metadata, None);
    assert_eq!(
        r.modified_payload.as_ref().unwrap().to_json(),
        req["payload"]
    );
    let v = r.violation.unwrap();
    assert_eq!(v.code, "deny");
    assert_eq!(v.plugin_name, None, "plugin_name is never on the wire");
    assert!(v.to_json().get("plugin_name").is_none());
    assert_eq!(v.to_json().as_object().unwrap().len(), 7);
}

#[test]
fn plugin_configs_round_trip_as_get_plugin_config_returns_them() {
    let mut n = 0;
    for entry in std::fs::read_dir(fixtures()).unwrap() {
        let p = entry.unwrap().path();
        let f = p.file_name().unwrap().to_string_lossy().to_string();
        if !(f.contains("get_plugin_config") && f.ends_with(".response.json")) {
            continue;
        }
        let v = read(&p);
        let items = match &v {
            Value::Array(a) => a.clone(),
            Value::Object(o) if o.contains_key("name") => vec![v.clone()],
            _ => continue,
        };
        for item in items {
            let c = PluginConfig::from_json(item.clone()).unwrap();
            assert!(c.is_set("config") && c.is_set("mode"));
            // A 1.0.0 answer has 16 keys; plugwire's model adds the three 1.1.0 keys with
            // their defaults and keeps every 1.0.0 value.
            let mut expected = item.clone();
            let m = expected.as_object_mut().unwrap();
            let on_error = if m["mode"] == "enforce_ignore_error" {
                "ignore"
            } else {
                "fail"
            };
            m.insert("on_error".into(), json!(on_error));
            m.insert("max_content_size".into(), json!(10_000_000));
            m.insert("capabilities".into(), json!([]));
            assert_eq!(c.to_json(), expected, "{f}");
            n += 1;
        }
    }
    assert!(n >= 3);
}

/// For each payload type: a minimal valid object plus the optional fields with a sample value.
/// (hook, minimal payload, [(optional field, sample value)])
type OptionalCase = (HookType, Value, Vec<(&'static str, Value)>);

fn optional_fields() -> Vec<OptionalCase> {
    vec![
        (
            HookType::PromptPreFetch,
            json!({"prompt_id": "p"}),
            vec![("args", json!({"a": "b"}))],
        ),
        (
            HookType::ToolPreInvoke,
            json!({"name": "t"}),
            vec![
                ("args", json!({"x": null, "y": {"z": null}})),
                ("headers", json!({"h": "v"})),
            ],
        ),
        (
            HookType::ResourcePreFetch,
            json!({"uri": "file:///a"}),
            vec![("metadata", json!({"k": 1}))],
        ),
        (
            HookType::AgentPreInvoke,
            json!({"agent_id": "a", "messages": []}),
            vec![
                ("tools", json!(["t1"])),
                ("headers", json!({"h": "v"})),
                ("model", json!("m")),
                ("system_prompt", json!("s")),
                ("parameters", json!({"temperature": 0.5})),
            ],
        ),
        (
            HookType::AgentPostInvoke,
            json!({"agent_id": "a", "messages": [{"role": "user", "content": null}]}),
            vec![("tool_calls", json!([{"id": "1"}]))],
        ),
        (
            HookType::HttpPreRequest,
            json!({"path": "/", "method": "GET", "headers": {}}),
            vec![
                ("client_host", json!("10.0.0.1")),
                ("client_port", json!(5000)),
            ],
        ),
        (
            HookType::HttpPostRequest,
            json!({"path": "/", "method": "GET", "headers": {"a": "b"}}),
            vec![
                ("client_host", json!("h")),
                ("client_port", json!(1)),
                ("response_headers", json!({"c": "d"})),
                ("status_code", json!(200)),
            ],
        ),
        (
            HookType::HttpAuthResolveUser,
            json!({"headers": {}}),
            vec![
                ("credentials", json!({"token": "x"})),
                ("client_host", json!("h")),
                ("client_port", json!(1)),
            ],
        ),
        (
            HookType::HttpAuthCheckPermission,
            json!({"user_email": "a@b", "permission": "tools.read"}),
            vec![
                ("resource_type", json!("tool")),
                ("team_id", json!("t")),
                ("auth_method", json!("jwt")),
                ("client_host", json!("h")),
                ("user_agent", json!("ua")),
            ],
        ),
    ]
}

/// Fields that are `Optional[...] = {}` in Python: absent echoes `{}`, null echoes null.
const EMPTY_MAP_DEFAULT: &[&str] = &["args", "metadata", "parameters"];

#[test]
fn every_optional_payload_field_decodes_from_absent_null_and_value() {
    for (hook, base, fields) in optional_fields() {
        for (field, sample) in fields {
            // absent
            let p = HookPayload::from_json(hook, base.clone()).unwrap();
            let resp = p.to_json();
            let expect_absent = if EMPTY_MAP_DEFAULT.contains(&field) {
                json!({})
            } else {
                Value::Null
            };
            assert_eq!(resp[field], expect_absent, "{hook}.{field} absent");
            // null
            let mut with_null = base.clone();
            with_null[field] = Value::Null;
            let p = HookPayload::from_json(hook, with_null)
                .unwrap_or_else(|e| panic!("{hook}.{field}=null: {e}"));
            assert_eq!(
                p.to_json()[field],
                Value::Null,
                "{hook}.{field} null echoes null"
            );
            assert!(
                p.to_request_json().get(field).is_none(),
                "{hook}.{field}: requests omit None"
            );
            // value
            let mut with_value = base.clone();
            with_value[field] = sample.clone();
            let p = HookPayload::from_json(hook, with_value).unwrap();
            assert_eq!(
                p.to_json()[field],
                sample,
                "{hook}.{field} value kept (nulls inside too)"
            );
            assert_eq!(p.to_request_json()[field], sample);
        }
    }
}

#[test]
fn required_but_nullable_fields_are_always_sent() {
    for (hook, key, base) in [
        (
            HookType::ToolPostInvoke,
            "result",
            json!({"name": "t", "result": null}),
        ),
        (
            HookType::PromptPostFetch,
            "result",
            json!({"prompt_id": "p", "result": null}),
        ),
        (
            HookType::ResourcePostFetch,
            "content",
            json!({"uri": "u", "content": null}),
        ),
    ] {
        let p = HookPayload::from_json(hook, base.clone()).unwrap();
        assert_eq!(p.to_request_json(), base, "{hook}");
        // A missing one is treated as null (more lenient than Python).
        let mut missing = base.clone();
        missing.as_object_mut().unwrap().remove(key);
        let p = HookPayload::from_json(hook, missing).unwrap();
        assert_eq!(p.to_request_json(), base);
    }
    let agent = json!({"agent_id": "a", "messages": []});
    let p = HookPayload::from_json(HookType::AgentPostInvoke, agent.clone()).unwrap();
    assert_eq!(p.to_request_json(), agent);
}

#[test]
fn free_form_values_keep_nested_nulls_and_unknown_keys_are_dropped() {
    let v = json!({
        "name": "get_weather",
        "result": {"content": [{"type": "text", "text": "Sunny", "annotations": null, "_meta": null}],
                   "isError": false, "structuredContent": null, "_meta": null},
        "extra_key": 1
    });
    let p = HookPayload::from_json(HookType::ToolPostInvoke, v.clone()).unwrap();
    let mut expected = v.clone();
    expected.as_object_mut().unwrap().remove("extra_key");
    assert_eq!(p.to_json(), expected);
    assert_eq!(p.to_request_json(), expected);
}

#[test]
fn bad_payloads_give_typed_errors() {
    let cases = [
        (
            HookType::PromptPreFetch,
            json!({"prompt_id": "p", "args": {"n": 3}}),
            "string",
        ),
        (HookType::ToolPreInvoke, json!({"args": {}}), "name"),
        (HookType::ToolPreInvoke, json!({"name": 5}), "string"),
        (
            HookType::AgentPreInvoke,
            json!({"agent_id": "a"}),
            "messages",
        ),
        (
            HookType::HttpPreRequest,
            json!({"path": "/", "method": "GET"}),
            "headers",
        ),
        (
            HookType::HttpAuthCheckPermission,
            json!({"user_email": "a"}),
            "permission",
        ),
        (
            HookType::ResourcePreFetch,
            json!("not an object"),
            "ResourcePreFetchPayload",
        ),
    ];
    for (hook, v, needle) in cases {
        let e = HookPayload::from_json(hook, v).unwrap_err();
        assert!(e.to_string().contains(needle), "{hook}: {e}");
    }
    let e = PluginContext::from_json(json!({"state": {}})).unwrap_err();
    assert!(e.to_string().contains("global_context"), "{e}");
    let e = PluginContext::from_json(json!({"global_context": {}})).unwrap_err();
    assert!(e.to_string().contains("request_id"), "{e}");
    let e = PluginResult::from_json(HookType::ToolPreInvoke, json!({"modified_payload": {}}))
        .unwrap_err();
    assert!(e.to_string().contains("name"), "{e}");
}

#[test]
fn result_optional_fields_decode_from_absent_null_and_value() {
    // b896 shape: 4 keys.
    let r = PluginResult::from_json(
        HookType::ToolPreInvoke,
        json!({"continue_processing": true, "modified_payload": null, "violation": null, "metadata": {}}),
    )
    .unwrap();
    assert_eq!(r, PluginResult::pass());
    let r = PluginResult::from_json(HookType::ToolPreInvoke, json!({})).unwrap();
    assert_eq!(r.to_json(), PluginResult::pass().to_json());
    let r = PluginResult::from_json(
        HookType::ToolPreInvoke,
        json!({"metadata": null, "http_headers": {"x": "y"}, "retry_delay_ms": 250}),
    )
    .unwrap();
    assert_eq!(r.metadata, None);
    assert_eq!(r.http_headers.unwrap()["x"], "y");
    assert_eq!(r.retry_delay_ms, 250);

    let full = json!({"reason": "r", "description": "d", "code": "c", "details": {"a": null},
                      "mcp_error_code": -32001, "http_status_code": 429, "http_headers": {"Retry-After": "1"}});
    assert_eq!(
        PluginViolation::from_json(full.clone()).unwrap().to_json(),
        full
    );
    let min = PluginViolation::from_json(json!({"reason": "r", "description": "d", "code": "c"}))
        .unwrap();
    assert_eq!(
        min.to_json(),
        json!({"reason": "r", "description": "d", "code": "c", "details": {},
        "mcp_error_code": null, "http_status_code": null, "http_headers": null})
    );
    let nulls = PluginViolation::from_json(json!({"reason": "r", "description": "d", "code": "c",
        "details": null, "mcp_error_code": null, "http_status_code": null, "http_headers": null}))
    .unwrap();
    assert_eq!(nulls.details, None);
    assert!(PluginViolation::from_json(json!({"reason": "r", "code": "c"})).is_err());

    let e = PluginErrorModel::from_json(json!({"message": "m", "plugin_name": "p"})).unwrap();
    assert_eq!(
        e.to_json(),
        json!({"message": "m", "plugin_name": "p", "code": "", "details": {}, "mcp_error_code": -32603})
    );
    let e = PluginErrorModel::from_json(
        json!({"message": "m", "plugin_name": "p", "code": null, "details": null}),
    )
    .unwrap();
    assert_eq!(e.code, None);
    assert_eq!(e.details, None);
}

#[test]
fn cross_typed_http_results_decode_as_their_result_types() {
    let r = PluginResult::from_json(
        HookType::HttpPreRequest,
        json!({"modified_payload": {"x-a": "1"}}),
    )
    .unwrap();
    assert_eq!(
        r.modified_payload.as_ref().unwrap().to_json(),
        json!({"x-a": "1"})
    );
    assert!(r.modified_payload.unwrap().is_result_only());
    let r = PluginResult::from_json(
        HookType::HttpAuthResolveUser,
        json!({"modified_payload": {"email": "a", "x": null}}),
    )
    .unwrap();
    assert_eq!(
        r.to_json()["modified_payload"],
        json!({"email": "a", "x": null})
    );
    let r = PluginResult::from_json(
        HookType::HttpAuthCheckPermission,
        json!({"modified_payload": {"granted": true}}),
    )
    .unwrap();
    assert_eq!(
        r.to_json()["modified_payload"],
        json!({"granted": true, "reason": null})
    );
}

#[test]
fn global_context_nullability_and_request_form() {
    let full = json!({
        "request_id": "r", "user": {"email": "a@b", "full_name": null}, "user_context": {
            "user_id": "u", "email": null, "full_name": null, "is_admin": false, "groups": [], "roles": ["r"],
            "team_id": null, "teams": null, "department": null, "attributes": {}, "auth_method": null,
            "authenticated_at": "2026-01-01T00:00:00Z", "service_account": null, "delegation_chain": []},
        "tenant_id": null, "server_id": "s", "content_type": "application/json", "state": {"k": null}, "metadata": {}
    });
    let g = GlobalContext::from_json(full.clone()).unwrap();
    assert_eq!(g.to_json(), full);
    let req = g.to_request_json();
    assert!(req.get("tenant_id").is_none());
    assert_eq!(
        req["user"],
        json!({"email": "a@b", "full_name": null}),
        "user dict keeps nulls"
    );
    assert!(req["user_context"].get("email").is_none());
    assert_eq!(req["state"], json!({"k": null}));
    let min = GlobalContext::from_json(json!({"request_id": "r"})).unwrap();
    assert_eq!(min, GlobalContext::new("r"));
    let mut ctx = PluginContext::new(min);
    assert!(ctx.is_empty());
    ctx.global_context.state.insert("a".into(), json!(1));
    assert!(!ctx.is_empty());
}

#[test]
fn hook_names_parse_and_unknown_ones_list_the_twelve() {
    for h in HookType::ALL {
        assert_eq!(h.as_str().parse::<HookType>().unwrap(), h);
        assert_eq!(serde_json::to_value(h).unwrap(), json!(h.as_str()));
    }
    let e = "tool_pre_invok"
        .parse::<HookType>()
        .unwrap_err()
        .to_string();
    for h in HookType::ALL {
        assert!(e.contains(h.as_str()), "{e}");
    }
}

// ---------------------------------------------------------------- cpex's newer hooks

/// Payloads of cpex's hooks as a Python peer encodes them (every field, secrets redacted).
fn cpex_samples() -> Vec<(HookType, Value)> {
    let message = json!({
        "message": {
            "schema_version": "2.0",
            "role": "assistant",
            "content": [
                {"content_type": "text", "text": "Let me look that up."},
                {"content_type": "tool_call", "content": {"tool_call_id": "tc_001",
                 "name": "get_weather", "arguments": {"city": "London", "days": null}}}
            ],
            "channel": "final"
        },
        "hook": "tool_pre_invoke"
    });
    let mut v = vec![
        (
            HookType::IdentityResolve,
            json!({"raw_token": "**********", "source": "mtls",
                   "headers": {"authorization": "Bearer x", "x-b": "2"},
                   "client_host": "10.0.0.7", "client_port": 51234}),
        ),
        (
            HookType::TokenDelegate,
            json!({"target_name": "get_compensation", "target_type": "tool",
                   "target_audience": "https://hr.example.com", "required_permissions": ["read:comp"],
                   "trust_domain": "example.com", "auth_enforced_by": "target",
                   "route_attenuation": {"capabilities": ["read:comp"],
                     "resource_template": "hr://employees/{{ args.id }}", "actions": ["read"],
                     "ttl_seconds": 60},
                   "bearer_token": "**********"}),
        ),
    ];
    for h in HookType::ALL.into_iter().filter(|h| h.is_message_hook()) {
        v.push((h, message.clone()));
    }
    v
}

#[test]
fn cpex_payloads_round_trip_value_for_value() {
    let samples = cpex_samples();
    assert_eq!(samples.len(), 11);
    for (hook, wire) in samples {
        let p = HookPayload::from_json(hook, wire.clone()).unwrap();
        assert_eq!(p.hook_type(), hook);
        assert_eq!(p.to_json(), wire, "{hook}");
        assert_eq!(
            HookPayload::from_json(hook, p.to_json()).unwrap(),
            p,
            "{hook}"
        );
        // The result type of the message hooks is the payload itself.
        if hook.is_message_hook() {
            let r = ModifiedPayload::from_json(hook, wire.clone()).unwrap();
            assert_eq!(r, ModifiedPayload::Payload(p.clone()));
            assert_eq!(
                r.as_payload().unwrap().as_message().unwrap().message.role,
                Role::Assistant
            );
        }
    }
    // Defaults fill in as cpex's models do; the response form then shows them.
    let p = HookPayload::from_json(HookType::IdentityResolve, json!({"raw_token": "t"})).unwrap();
    assert_eq!(
        p.to_json(),
        json!({"raw_token": "**********", "source": "bearer", "headers": {},
               "client_host": null, "client_port": null})
    );
    assert_eq!(
        p.to_request_json(),
        json!({"raw_token": "**********", "source": "bearer", "headers": {}})
    );
    let p =
        HookPayload::from_json(HookType::Evaluate, json!({"message": {"role": "user"}})).unwrap();
    assert_eq!(
        p.to_json(),
        json!({"message": {"schema_version": "2.0", "role": "user", "content": [],
               "channel": null}, "hook": "evaluate"})
    );
}

#[test]
fn cpex_results_round_trip_and_decode_as_their_own_types() {
    let identity = json!({"subject": {"id": "alice@corp.com", "type": "user", "roles": ["a"]},
        "delegation": null, "rejected": false, "reject_status": 401, "reject_reason": "",
        "raw_claims": {"sub": "alice", "exp": 1}});
    let r = ModifiedPayload::from_json(HookType::IdentityResolve, identity.clone()).unwrap();
    assert!(matches!(&r, ModifiedPayload::IdentityResult(i) if !i.rejected));
    assert!(r.is_result_only());
    assert_eq!(r.hook_type(), HookType::IdentityResolve);
    assert_eq!(r.to_json(), identity);
    let delegation = json!({"delegated_token": "eyJ.delegated", "delegation_update": {"chain": [],
        "depth": 1, "origin_subject_id": "alice", "actor_subject_id": "svc", "delegated": true,
        "age_seconds": 0.5}, "forwarded_headers": {"Authorization": "Bearer eyJ.delegated"},
        "cache_key": "k", "cache_ttl": 30});
    let r = ModifiedPayload::from_json(HookType::TokenDelegate, delegation.clone()).unwrap();
    assert!(matches!(&r, ModifiedPayload::DelegationResult(_)));
    assert_eq!(r.to_json(), delegation);
    // A whole PluginResult carrying them, as a server answers.
    let wire = json!({"continue_processing": true, "modified_payload": identity,
        "violation": null, "metadata": {}, "http_headers": null, "retry_delay_ms": 0});
    let res = PluginResult::from_json(HookType::IdentityResolve, wire.clone()).unwrap();
    assert_eq!(res.to_json(), wire);
    // An empty result gets cpex's defaults (an empty DelegationExtension included).
    let r = ModifiedPayload::from_json(HookType::TokenDelegate, json!({})).unwrap();
    assert_eq!(r.to_json()["delegation_update"]["depth"], 0);
    assert_eq!(r.to_json()["delegation_update"]["chain"], json!([]));
    let r = ModifiedPayload::from_json(HookType::IdentityResolve, json!({})).unwrap();
    assert_eq!(r.to_json()["reject_status"], 401);
}

#[test]
fn secrets_never_leave_in_clear_and_bad_messages_are_refused() {
    let p = IdentityPayload {
        raw_token: SecretStr::new("eyJhbGciOi.real"),
        source: "bearer".into(),
        headers: Default::default(),
        client_host: None,
        client_port: None,
    };
    assert_eq!(p.raw_token.expose_secret(), "eyJhbGciOi.real");
    let wire = HookPayload::from(p.clone()).to_json();
    assert_eq!(wire["raw_token"], "**********");
    assert!(!format!("{p:?}").contains("real"), "Debug shows the secret");
    let back = HookPayload::from_json(HookType::IdentityResolve, wire).unwrap();
    assert!(matches!(back, HookPayload::IdentityResolve(b) if b.raw_token.is_redacted()));
    // An empty secret stays empty, as pydantic prints it.
    let d = DelegationPayload {
        target_name: "t".into(),
        target_type: "tool".into(),
        target_audience: None,
        required_permissions: vec![],
        trust_domain: None,
        auth_enforced_by: "caller".into(),
        route_attenuation: None,
        bearer_token: Some(SecretStr::new("")),
    };
    assert_eq!(HookPayload::from(d).to_json()["bearer_token"], "");

    // Message forbids unknown keys and knows its roles; errors name the model and the field.
    let e = HookPayload::from_json(
        HookType::CmfLlmInput,
        json!({"message": {"role": "user", "extensions": {}}}),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("MessagePayload") && e.contains("extensions"),
        "{e}"
    );
    let e = HookPayload::from_json(HookType::CmfLlmInput, json!({"message": {"role": "robot"}}))
        .unwrap_err()
        .to_string();
    assert!(e.contains("robot"), "{e}");
    let e = HookPayload::from_json(HookType::TokenDelegate, json!({}))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("DelegationPayload") && e.contains("target_name"),
        "{e}"
    );
}

/// A repeated member keeps its last occurrence, as Python's `json` and a `Value` do, even when
/// the first occurrence would not decode (found by fuzzing the server's request path: the text
/// decoder refused what the `Value` path accepted).
#[test]
fn a_repeated_member_decoded_from_text_keeps_the_last_even_after_an_invalid_first() {
    let text = r#"{"state": {}, "global_context": {"user": "a"},
        "global_context": {"request_id": "r2"}, "metadata": {}}"#;
    let from_text = PluginContext::from_json_str(text).unwrap();
    let from_value = PluginContext::from_json(serde_json::from_str(text).unwrap()).unwrap();
    assert_eq!(from_text, from_value);
    assert_eq!(from_text.global_context.request_id, "r2");
    // And the other way round: a valid first occurrence replaced by an invalid one is refused,
    // with the `Value` path's message.
    let text = r#"{"global_context": {"request_id": "r1"}, "global_context": {"user": "a"}}"#;
    let e = PluginContext::from_json_str(text).unwrap_err().to_string();
    let v = PluginContext::from_json(serde_json::from_str(text).unwrap()).unwrap_err();
    assert_eq!(e, v.to_string());
    assert!(e.contains("request_id"), "{e}");
}
