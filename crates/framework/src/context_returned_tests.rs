//! `ReturnedContext::from_json_str` against the full decode, `PluginContext::from_json_str`.
#![allow(clippy::unwrap_used)]

use super::*;
use serde_json::json;

/// A returned context with every member of the global context and of its user set.
fn full_text() -> String {
    json!({
        "state": {"seen": [1, {"a": null}], "e": "\u{e9}\"\n"},
        "global_context": {
            "request_id": "req-1",
            "user": {"email": null, "n": -1.5e3, "big": 18446744073709551615u64, "l": [true]},
            "user_context": {
                "user_id": "u", "email": "u@x", "full_name": null, "is_admin": true,
                "groups": ["g"], "roles": null, "team_id": "t", "teams": ["t", "t2"],
                "department": "d", "attributes": {"k": {"x": [1, 2]}}, "auth_method": "jwt",
                "authenticated_at": "2026-01-01T00:00:00Z", "service_account": null,
                "delegation_chain": ["a", "b"]
            },
            "tenant_id": "ten", "server_id": null, "content_type": "application/json",
            "state": {"g": 3},
            "metadata": {"m": {"deep": [[[]]]}}
        },
        "metadata": {"pm": 1},
        "extra": {"ignored": true}
    })
    .to_string()
}

/// Both decodes of `text`: the same acceptance, the same maps, the same error.
fn same_as_full(text: &str) -> bool {
    let lite = ReturnedContext::from_json_str(text);
    let full = PluginContext::from_json_str(text);
    match (&lite, &full) {
        (Ok(l), Ok(f)) => {
            assert_eq!(l.state, f.state, "{text}");
            assert_eq!(l.metadata, f.metadata, "{text}");
            assert_eq!(l.global_state, f.global_context.state, "{text}");
            true
        }
        (Err(l), Err(f)) => {
            assert_eq!(l.to_string(), f.to_string(), "{text}");
            false
        }
        _ => panic!("lite {lite:?} / full {full:?} on {text}"),
    }
}

#[test]
fn accepted_contexts_give_the_full_decodes_maps() {
    let accepted = [
        full_text(),
        r#"{"global_context": {"request_id": "r"}}"#.to_string(),
        r#"{"state": null, "global_context": {"request_id": "r", "state": null,
            "metadata": null, "user": null, "user_context": null}, "metadata": null}"#
            .to_string(),
        // serde's derived structs read an array of their members in order.
        r#"[{"a": 1}, ["r", "u", null, null, null, null, {"g": 1}], {"m": 2}]"#.to_string(),
        r#"{"global_context": {"request_id": "r", "user_context": ["u"]}}"#.to_string(),
        // A repeated member: the last one counts (the duplicate falls back to a `Value`).
        r#"{"state": {"a": 1}, "global_context": {"request_id": "r"}, "state": {"b": 2}}"#
            .to_string(),
        r#"{"global_context": {"request_id": "r", "state": {"x": 1}, "state": {"y": 2},
            "metadata": {"k": 1, "k": 2}}}"#
            .to_string(),
        // `Value` reads an object led by serde_json's raw-value marker as the text it holds.
        r#"{"global_context": {"request_id": "r",
            "user": {"$serde_json::private::RawValue": "[1, {\"a\": 2}]"}}}"#
            .to_string(),
        r#"{"global_context": {"request_id": "r\ud83d\ude00", "user": "\u00e9"}}"#.to_string(),
    ];
    for text in &accepted {
        assert!(same_as_full(text), "accepted: {text}");
    }
    let r = ReturnedContext::from_json_str(&full_text()).unwrap();
    assert_eq!(r.global_state["g"], 3);
    assert_eq!(r.metadata["pm"], 1);
}

#[test]
fn refused_contexts_are_refused_with_the_full_decodes_error() {
    let deep = format!("{}{}", "[".repeat(130), "]".repeat(130));
    let refused = [
        "5".to_string(),
        "null".to_string(),
        r#"{"state": {}}"#.to_string(),
        r#"{"global_context": null}"#.to_string(),
        r#"{"global_context": {}}"#.to_string(),
        r#"{"global_context": {"request_id": 7}}"#.to_string(),
        r#"{"global_context": {"request_id": "r", "tenant_id": 1}}"#.to_string(),
        r#"{"global_context": {"request_id": "r", "content_type": ["x"]}}"#.to_string(),
        r#"{"global_context": {"request_id": "r", "metadata": []}}"#.to_string(),
        r#"{"global_context": {"request_id": "r", "metadata": {"k": 1e400}}}"#.to_string(),
        r#"{"global_context": {"request_id": "r", "user": [1, 2e999]}}"#.to_string(),
        r#"{"global_context": {"request_id": "r", "user_context": {}}}"#.to_string(),
        r#"{"global_context": {"request_id": "r", "user_context": {"user_id": "u",
            "is_admin": "yes"}}}"#
            .to_string(),
        r#"{"global_context": {"request_id": "r", "user_context": {"user_id": "u",
            "groups": ["g", 1]}}}"#
            .to_string(),
        r#"{"global_context": {"request_id": "r", "user_context": {"user_id": "u",
            "teams": "t"}}}"#
            .to_string(),
        r#"{"global_context": {"request_id": "r", "user_context": {"user_id": "u",
            "attributes": [1]}}}"#
            .to_string(),
        r#"{"global_context": {"request_id": "r", "user_context": {"user_id": "u",
            "delegation_chain": [null]}}}"#
            .to_string(),
        // Escapes: a lone surrogate in a string the full decode builds (skipping would not see it).
        r#"{"global_context": {"request_id": "\ud800"}}"#.to_string(),
        r#"{"global_context": {"request_id": "r", "user": "\udc00x"}}"#.to_string(),
        r#"{"global_context": {"request_id": "r", "metadata": {"\ud800": 1}}}"#.to_string(),
        r#"{"global_context": {"request_id": "r", "user_context": {"user_id": "u",
            "attributes": {"a": ["\ud834"]}}}}"#
            .to_string(),
        // Nesting deeper than serde_json's limit, in a value the full decode builds.
        format!(r#"{{"global_context": {{"request_id": "r", "user": {deep}}}}}"#),
        format!(r#"{{"global_context": {{"request_id": "r", "metadata": {{"d": {deep}}}}}}}"#),
        // The raw-value marker: its member must hold a string of JSON text.
        r#"{"global_context": {"request_id": "r",
            "user": {"$serde_json::private::RawValue": 1}}}"#
            .to_string(),
        r#"{"global_context": {"request_id": "r",
            "user": {"$serde_json::private::RawValue": "[1,"}}}"#
            .to_string(),
        r#"{"global_context": {"request_id": "r",
            "user": {"$serde_json::private::RawValue": "1", "b": 2}}}"#
            .to_string(),
        // Arrays of members: too short, or a member of the wrong type.
        r#"[{}]"#.to_string(),
        r#"[{}, [5]]"#.to_string(),
        r#"[{}, ["r", null, null, 3]]"#.to_string(),
        // A repeated member whose last value is refused.
        r#"{"global_context": {"request_id": "r"}, "global_context": 5}"#.to_string(),
        r#"{"global_context": {"request_id": "r", "request_id": 5}}"#.to_string(),
        // A wrong value met before its repeat is refused on the spot.
        r#"{"global_context": 5, "global_context": {"request_id": "r"}}"#.to_string(),
        r#"{"global_context": {"request_id": "r"}} x"#.to_string(),
    ];
    for text in &refused {
        assert!(!same_as_full(text), "refused: {text}");
    }
}

/// Every one-byte change of a full context (and every cut of it) is accepted or refused by both
/// decodes alike: no member of the full decode is checked less.
#[test]
fn each_one_byte_change_is_judged_as_the_full_decode_judges_it() {
    let base = full_text();
    let bytes = base.as_bytes();
    let (mut accepted, mut refused) = (0, 0);
    for i in 0..bytes.len() {
        for b in [b'1', b'"', b'n', b'[', b'{', b'\\', b',', b'}', b' '] {
            let mut changed = bytes.to_vec();
            changed[i] = b;
            let Ok(text) = String::from_utf8(changed) else {
                continue;
            };
            if same_as_full(&text) {
                accepted += 1;
            } else {
                refused += 1;
            }
        }
        if let Some(cut) = base.get(..i) {
            assert!(!same_as_full(cut));
        }
    }
    // Both kinds were exercised.
    assert!(accepted > 100 && refused > 100, "{accepted} / {refused}");
}

#[test]
fn applying_keeps_the_callers_global_context() {
    let mut g = crate::GlobalContext::new("mine");
    g.metadata.insert("keep".into(), json!(1));
    g.state.insert("old".into(), json!(1));
    let mut ctx = PluginContext::new(g);
    ReturnedContext::from_json_str(&full_text())
        .unwrap()
        .apply_to(&mut ctx);
    assert_eq!(ctx.global_context.request_id, "mine");
    assert_eq!(ctx.global_context.metadata["keep"], 1);
    assert_eq!(
        ctx.global_context.state,
        *json!({"g": 3}).as_object().unwrap()
    );
    assert_eq!(ctx.state["seen"], json!([1, {"a": null}]));
    assert_eq!(ctx.metadata, *json!({"pm": 1}).as_object().unwrap());
}
