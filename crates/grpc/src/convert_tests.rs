use super::*;
use crate::structs;
use crate::test_support::obj as map;
use serde_json::json;

#[test]
fn context_round_trip_keeps_what_the_proto_carries() {
    let ctx = map(json!({
        "state": {"a": 1},
        "global_context": {
            "request_id": "r1", "user": {"email": "x@y"}, "tenant_id": null, "server_id": "s1",
            "user_context": {"user_id": "u"}, "content_type": "text/plain",
            "state": {"g": true}, "metadata": {"m": "v"}
        },
        "metadata": {"k": [1, 2]}
    }));
    let back = context_to_json(Some(&context_from_json(&ctx)));
    assert_eq!(
        Value::Object(back),
        json!({
            "state": {"a": 1},
            "global_context": {
                "request_id": "r1", "user": {"email": "x@y"}, "tenant_id": null,
                "server_id": "s1", "state": {"g": true}, "metadata": {"m": "v"}
            },
            "metadata": {"k": [1, 2]}
        })
    );
}

#[test]
fn string_user_and_empty_ids() {
    let ctx = map(json!({"global_context": {"request_id": "", "user": "alice"}}));
    let pb = context_from_json(&ctx);
    let g = pb.global_context.as_ref().unwrap();
    assert_eq!(g.user_value, Some(UserValue::UserString("alice".into())));
    let back = context_to_json(Some(&pb));
    assert_eq!(back["global_context"]["user"], json!("alice"));
    assert_eq!(back["global_context"]["request_id"], json!(""));
    assert_eq!(back["global_context"]["server_id"], Value::Null);
}

#[test]
fn request_needs_hook_and_plugin() {
    let mut req = pb::InvokeHookRequest::default();
    assert_eq!(request_to_args(&req).unwrap_err().field, "hook_type");
    req.hook_type = "tool_pre_invoke".into();
    let err = request_to_args(&req).unwrap_err();
    assert_eq!(
        err.to_string(),
        "InvokeHookRequest.plugin_name is required and was empty"
    );
    req.plugin_name = "P".into();
    let args = request_to_args(&req).unwrap();
    assert!(args.payload.is_empty());
    assert_eq!(args.context["global_context"]["request_id"], json!(""));
}

#[test]
fn success_answer_round_trip_with_denial_metadata() {
    let result = json!({
        "continue_processing": false, "modified_payload": null,
        "violation": {"reason": "r", "mcp_error_code": -32602}, "metadata": {"n": 3},
        "denial_metadata": {"score": 7, "ratio": 0.5, "hit": true, "bad key!": 1, "s": "x"}
    });
    let resp = InvokeHookResponse::success("P", result, Some(json!({"state": {"x": 1}})));
    let pb = response_to_proto(&resp);
    assert!(!pb
        .result
        .as_ref()
        .unwrap()
        .0
        .contains_key("denial_metadata"));
    assert_eq!(
        pb.result_base
            .as_ref()
            .unwrap()
            .denial_metadata
            .as_ref()
            .unwrap()
            .fields
            .len(),
        3
    );
    let back = response_from_proto(pb);
    let r = back.result.unwrap();
    assert_eq!(r["metadata"]["n"], json!(3));
    assert_eq!(r["violation"]["mcp_error_code"], json!(-32602));
    assert_eq!(
        r["denial_metadata"],
        json!({"hit": true, "ratio": 0.5, "score": 7})
    );
    assert_eq!(back.context.unwrap()["state"], json!({"x": 1}));
}

#[test]
fn too_many_denial_keys_give_an_empty_map() {
    let m: Map<String, Value> = (0..17).map(|i| (format!("k{i}"), json!(i))).collect();
    assert!(sanitize_denial_metadata(&m).fields.is_empty());
}

#[test]
fn error_answer_round_trip() {
    let resp = InvokeHookResponse::failure(
        "P",
        json!({"message": "boom", "plugin_name": "P", "code": "X", "details": {"a": 1}, "mcp_error_code": -32000}),
    );
    let pb = response_to_proto(&resp);
    assert!(pb.result.is_none());
    let back = response_from_proto(pb);
    assert_eq!(back.error, resp.error);
    assert!(back.result.is_none());
}

#[test]
fn empty_answer_is_an_error() {
    let back = response_from_proto(pb::InvokeHookResponse {
        plugin_name: "P".into(),
        ..Default::default()
    });
    assert!(back.error.unwrap()["message"]
        .as_str()
        .unwrap()
        .contains("neither"));
}

#[test]
fn config_answers() {
    assert!(!config_response(None).found);
    assert_eq!(config_from_response(&config_response(None)), None);
    let c = json!({"name": "P", "priority": 100});
    let back = config_from_response(&config_response(Some(&c))).unwrap();
    assert_eq!(back, c);
    assert!(back["priority"].is_i64());
    assert_eq!(configs_response(&[c.clone(), json!(1)]).configs.len(), 1);
}

#[test]
fn owned_conversions_give_the_same_messages() {
    let mut req = pb::InvokeHookRequest::default();
    assert_eq!(
        request_into_args(req.clone()).unwrap_err().field,
        "hook_type"
    );
    req.hook_type = "tool_pre_invoke".into();
    assert_eq!(
        request_into_args(req.clone()).unwrap_err().field,
        "plugin_name"
    );
    req.plugin_name = "P".into();
    req.payload = Some(structs::to_struct(&map(
        json!({"name": "t", "args": {"q": "x", "n": 3, "l": [1.5, null]}}),
    )));
    req.context = Some(context_from_json(&map(
        json!({"state": {"a": 1}, "global_context": {"request_id": "r", "user": "u"}}),
    )));
    let (a, b) = (
        request_to_args(&req).unwrap(),
        request_into_args(req).unwrap(),
    );
    assert_eq!(
        (a.hook_type, a.plugin_name, a.payload, a.context),
        (b.hook_type, b.plugin_name, b.payload, b.context)
    );
    for resp in [
        InvokeHookResponse::success(
            "P",
            json!({"continue_processing": true, "modified_payload": {"args": {"q": "y"}},
                   "denial_metadata": {"score": 7}}),
            Some(json!({"state": {"x": 1}})),
        ),
        InvokeHookResponse::failure("P", json!({"message": "boom", "code": "X"})),
    ] {
        assert_eq!(response_into_proto(resp.clone()), response_to_proto(&resp));
    }
}
