//! Each built-in through the `Plugin` trait on realistic inputs: Unicode, nested tool arguments,
//! JSON inside strings, multi-MiB payloads, blocking codes and metadata.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use plugwire_framework::{
    GlobalContext, HookPayload, Plugin, PluginContext, PluginResult, PromptPosthookPayload,
    PromptPrehookPayload, ResourcePreFetchPayload,
};
use serde_json::{json, Value};

mod common;

use common::{out, plugin, tool_post, tool_pre};

async fn run(
    p: &Arc<dyn Plugin>,
    payload: impl Into<HookPayload>,
) -> (PluginResult, PluginContext) {
    common::try_run(p, payload).await.unwrap()
}

fn prompt_pre(args: &[(&str, &str)]) -> PromptPrehookPayload {
    PromptPrehookPayload {
        prompt_id: "greeting".into(),
        args: Some(
            args.iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        ),
    }
}

// ---------------------------------------------------------------- SearchReplacePlugin

fn bad_words() -> Arc<dyn Plugin> {
    plugin(
        "plugins.regex_filter.search_replace.SearchReplacePlugin",
        json!({"words": [
            {"search": "crap", "replace": "crud"},
            {"search": "crud", "replace": "yikes"},
            {"search": r"(?P<first>\w+)\s+Straße", "replace": r"\g<first>strasse"},
        ]}),
    )
}

#[tokio::test]
async fn search_replace_rewrites_rendered_prompt_text_and_skips_images() {
    let p = bad_words();
    let payload = PromptPosthookPayload {
        prompt_id: "p".into(),
        result: json!({"description": null, "messages": [
            {"role": "user", "content": {"type": "text", "text": "crap in der Haupt Straße"}},
            {"role": "assistant", "content": {"type": "image", "data": "crap==", "mimeType": "image/png"}},
        ]}),
    };
    let (r, _) = run(&p, payload).await;
    let v = out(&r);
    assert_eq!(
        v["result"]["messages"][0]["content"]["text"],
        "yikes in der Hauptstrasse"
    );
    assert_eq!(v["result"]["messages"][1]["content"]["data"], "crap==");
    assert_eq!(v["result"]["description"], Value::Null);
}

#[tokio::test]
async fn search_replace_touches_only_top_level_strings_like_python() {
    let p = bad_words();
    let (r, _) = run(
        &p,
        tool_pre(json!({"q": "crap 😀", "n": 3, "nested": {"q": "crap"}, "list": ["crap"], "none": null})),
    )
    .await;
    let v = out(&r);
    assert_eq!(v["args"]["q"], "yikes 😀");
    assert_eq!(v["args"]["nested"]["q"], "crap");
    assert_eq!(v["args"]["list"][0], "crap");
    assert_eq!(v["args"]["none"], Value::Null);

    // MCP content items are not top-level strings: Python leaves them, so do we.
    let result = json!({"content": [{"type": "text", "text": "crap"}], "isError": false});
    let (r, _) = run(&p, tool_post(result.clone())).await;
    assert_eq!(out(&r)["result"], result);
    let (r, _) = run(&p, tool_post(json!("crap output"))).await;
    assert_eq!(out(&r)["result"], "yikes output");
}

#[tokio::test]
async fn search_replace_passes_empty_args_without_a_payload() {
    let p = bad_words();
    let (r, _) = run(&p, tool_pre(json!({}))).await;
    assert!(r.continue_processing && r.modified_payload.is_none());
    let (r, _) = run(&p, tool_post(Value::Null)).await;
    assert!(r.modified_payload.is_none());
}

#[tokio::test]
async fn search_replace_handles_a_multi_mib_argument() {
    let p = bad_words();
    let unit = "Grüße — that was crap, really crap. ";
    let n = (5 << 20) / unit.len();
    let big = unit.repeat(n);
    let (r, _) = run(&p, tool_pre(json!({"text": big}))).await;
    let text = out(&r)["args"]["text"].as_str().unwrap().to_owned();
    assert_eq!(text.matches("yikes").count(), 2 * n);
    assert!(!text.contains("crap"));
}

// ---------------------------------------------------------------- DenyListPlugin

#[tokio::test]
async fn deny_list_is_a_case_sensitive_substring_match() {
    let p = plugin(
        "deny_list",
        json!({"words": ["innovative", "bahnbrechend"]}),
    );
    let (r, _) = run(
        &p,
        prompt_pre(&[("a", "ok"), ("b", "wirklich bahnbrechende Idee")]),
    )
    .await;
    assert!(!r.continue_processing);
    let v = r.violation.unwrap();
    assert_eq!(v.code, "deny");
    assert_eq!(v.details.unwrap()["arg"], "b");
    let (r, _) = run(&p, prompt_pre(&[("a", "Innovative")])).await;
    assert!(r.continue_processing);
    assert_eq!(out(&r)["args"]["a"], "Innovative");
}

// ---------------------------------------------------------------- PIIFilterPlugin

#[tokio::test]
async fn pii_masks_nested_tool_args_and_json_inside_strings() {
    // The Python plugin's defaults record detection details (the cpex package's do not).
    let p = plugin(
        "plugins.pii_filter.pii_filter.PIIFilterPlugin",
        json!({"detect_phone": false}),
    );
    let args = json!({
        "customer": {
            "name": "Zoë Müller",
            "email": "zoe.mueller@example.de",
            "cards": ["4111-1111-1111-1111", "order 1234-5678-9012-3456"],
            "ssn": "123-45-6789",
        },
        "raw": "{\"note\": \"call from 10.1.2.3\", \"count\": 7}",
        "limit": 10,
    });
    let (r, c) = run(&p, tool_pre(args)).await;
    let v = out(&r);
    let a = &v["args"];
    assert_eq!(a["customer"]["name"], "Zoë Müller");
    assert_eq!(a["customer"]["email"], "z***r@example.de");
    assert_eq!(a["customer"]["cards"][0], "****-****-****-1111");
    // Not a valid card number: the Luhn check keeps it.
    assert_eq!(a["customer"]["cards"][1], "order 1234-5678-9012-3456");
    assert_eq!(a["customer"]["ssn"], "***-**-6789");
    assert_eq!(a["raw"], "{\"note\":\"call from [REDACTED]\",\"count\":7}");
    assert_eq!(a["limit"], 10);
    let d = &c.metadata["pii_detections"]["tool_pre_invoke"];
    assert_eq!(d["detected"], true);
    assert_eq!(d["total_count"], 4);
    assert_eq!(
        d["arguments"],
        json!([
            "args.customer.email",
            "args.customer.cards[0]",
            "args.customer.ssn",
            "args.raw(json).note"
        ])
    );
}

#[tokio::test]
async fn pii_blocks_with_the_python_codes() {
    let p = plugin("pii_filter", json!({"block_on_detection": true}));

    let (r, _) = run(
        &p,
        prompt_pre(&[("topic", "fine"), ("who", "mail bob@example.com")]),
    )
    .await;
    assert!(!r.continue_processing && r.modified_payload.is_none());
    let v = r.violation.unwrap();
    assert_eq!(v.code, "PII_DETECTED");
    assert_eq!(
        v.description,
        "Sensitive information detected in argument 'who'"
    );
    assert_eq!(
        Value::Object(v.details.unwrap()),
        json!({"field": "who", "types": ["email"], "count": 1})
    );

    let (r, _) = run(&p, tool_pre(json!({"x": {"y": ["SSN 123-45-6789"]}}))).await;
    let v = r.violation.unwrap();
    assert_eq!(v.code, "PII_DETECTED_IN_TOOL_ARGS");
    assert_eq!(
        Value::Object(v.details.unwrap()),
        json!({"detected_types": ["ssn"], "total_count": 1})
    );

    let (r, _) = run(&p, tool_post(json!("reach me at bob@example.com"))).await;
    let v = r.violation.unwrap();
    assert_eq!(v.code, "PII_DETECTED_IN_TOOL_RESULT");
    assert_eq!(v.description, "Detected email in tool output");
    assert_eq!(
        Value::Object(v.details.unwrap()),
        json!({"detected_types": ["email"], "count": 1})
    );

    let (r, _) = run(
        &p,
        tool_post(
            json!({"content": [{"type": "text", "text": "SSN 123-45-6789"}], "isError": false}),
        ),
    )
    .await;
    let v = r.violation.unwrap();
    assert_eq!(v.description, "Detected PII in nested tool result data");
    assert_eq!(v.details.unwrap()["total_count"], 1);
}

#[tokio::test]
async fn pii_masks_mcp_tool_results_and_rendered_prompts() {
    let p = plugin(
        "plugins.pii_filter.pii_filter.PIIFilterPlugin",
        json!({"redaction_text": "[PII]", "whitelist_patterns": ["support@example\\.com"]}),
    );
    let (r, c) = run(
        &p,
        tool_post(json!({
            "content": [{"type": "text", "text": "Kontakt: anna@example.org oder support@example.com"}],
            "structuredContent": {"ip": "192.168.0.10"},
            "isError": false,
        })),
    )
    .await;
    let v = out(&r);
    assert_eq!(
        v["result"]["content"][0]["text"],
        "Kontakt: a***a@example.org oder support@example.com"
    );
    assert_eq!(v["result"]["structuredContent"]["ip"], "[PII]");
    assert_eq!(c.metadata["pii_filter_stats"]["total_masked"], 2);

    let (r, c) = run(
        &p,
        PromptPosthookPayload {
            prompt_id: "p".into(),
            result: json!({"messages": [{"role": "user", "content": {"type": "text", "text": "DOB: 01/02/1990"}}]}),
        },
    )
    .await;
    assert_eq!(out(&r)["result"]["messages"][0]["content"]["text"], "[PII]");
    assert_eq!(
        c.metadata["pii_detections"]["post_fetch"]["messages"],
        json!(["message_user"])
    );
}

#[tokio::test]
async fn pii_clean_input_passes_without_payload() {
    let p = plugin("pii_filter", json!({}));
    let (r, c) = run(&p, tool_pre(json!({"q": "weather in Zürich"}))).await;
    assert!(r.continue_processing && r.modified_payload.is_none());
    assert!(c.metadata.get("pii_detections").is_none());
}

#[tokio::test]
async fn pii_masking_strategies_from_config() {
    let p = plugin(
        "pii_filter",
        json!({
            "default_mask_strategy": "hash",
            "custom_patterns": [
                {"type": "custom", "pattern": r"EMP-\d{6}", "description": "employee"},
                {"type": "custom", "pattern": r"TKT-\d{4}", "description": "ticket", "mask_strategy": "tokenize"},
                {"type": "custom", "pattern": r"DROPME", "description": "x", "mask_strategy": "remove"},
                {"type": "custom", "pattern": r"OFF-\d+", "description": "x", "enabled": false},
            ]
        }),
    );
    let (r, _) = run(
        &p,
        tool_pre(json!({"t": "EMP-123456 TKT-9999 DROPME OFF-1"})),
    )
    .await;
    let t = out(&r)["args"]["t"].as_str().unwrap().to_owned();
    let parts: Vec<&str> = t.split(' ').collect();
    assert!(
        parts[0].starts_with("[HASH:") && parts[0].len() == 15,
        "{t}"
    );
    assert!(parts[1].starts_with("[TOKEN:"), "{t}");
    assert_eq!(parts[2], "");
    assert_eq!(parts[3], "OFF-1");
    // Hashing is deterministic.
    let (r2, _) = run(&p, tool_pre(json!({"t": "EMP-123456"}))).await;
    assert_eq!(out(&r2)["args"]["t"], parts[0]);
}

#[tokio::test]
async fn pii_handles_multi_mib_payloads() {
    let p = plugin("pii_filter", json!({"detect_phone": false}));
    // ~6 MiB of mixed-script text with one email every line.
    let line = "Ünïcödé naïve café 東京 текст — contact jane.doe@example.com about it.\n";
    let n = (6 << 20) / line.len();
    let text = line.repeat(n);
    let (r, c) = run(&p, tool_post(json!({"body": text}))).await;
    let masked = out(&r)["result"]["body"].as_str().unwrap().to_owned();
    assert_eq!(masked.matches("j***e@example.com").count(), n);
    assert!(!masked.contains("jane.doe"));
    assert_eq!(
        c.metadata["pii_detections"]["tool_post_invoke"]["total_count"],
        n
    );

    // A wide nested structure: 100k records.
    let records: Vec<Value> = (0..100_000)
        .map(|i| json!({"id": i, "ssn": format!("{:03}-{:02}-{:04}", 100 + i % 800, 10 + i % 80, 1000 + i % 9000)}))
        .collect();
    let (r, _) = run(&p, tool_post(json!({"records": records}))).await;
    let v = out(&r);
    assert_eq!(v["result"]["records"][99_999]["ssn"], "***-**-1999");
    assert_eq!(v["result"]["records"][0]["id"], 0);
}

// ---------------------------------------------------------------- OutputLengthGuardPlugin

#[tokio::test]
async fn output_guard_truncates_mcp_text_content() {
    let p = plugin(
        "plugins.output_length_guard.output_length_guard.OutputLengthGuardPlugin",
        json!({"max_chars": 10, "ellipsis": "…"}),
    );
    let (r, _) = run(
        &p,
        tool_post(json!({"content": [
            {"type": "text", "text": "Grüße aus München!"},
            {"type": "image", "data": "AAAA"},
            {"type": "text", "text": "12345678901234567890"},
        ], "isError": false})),
    )
    .await;
    let v = out(&r);
    assert_eq!(v["result"]["content"][0]["text"], "Grüße aus…");
    assert_eq!(v["result"]["content"][1]["data"], "AAAA");
    // Numbers are never cut.
    assert_eq!(v["result"]["content"][2]["text"], "12345678901234567890");
    assert_eq!(r.metadata.unwrap()["items_modified"], true);
}

#[tokio::test]
async fn output_guard_regenerates_content_from_structured_content() {
    let p = plugin(
        "output_length_guard",
        json!({"max_chars": 5, "ellipsis": ""}),
    );
    let (r, _) = run(
        &p,
        tool_post(json!({
            "content": [{"type": "text", "text": "{\"result\": [\"abcdefgh\", \"ok\"]}"}],
            "structuredContent": {"result": ["abcdefgh", "ok"]},
            "isError": false
        })),
    )
    .await;
    let v = out(&r);
    assert_eq!(
        v["result"]["structuredContent"],
        json!({"result": ["abcde", "ok"]})
    );
    assert_eq!(
        v["result"]["content"],
        json!([{"type": "text", "text": "[\"abcde\",\"ok\"]"}])
    );
}

#[tokio::test]
async fn output_guard_blocks_out_of_bounds_output() {
    let p = plugin(
        "output_length_guard",
        json!({"min_chars": 3, "max_chars": 8, "strategy": "block"}),
    );
    let (r, _) = run(&p, tool_post(json!("hi"))).await;
    let v = r.violation.unwrap();
    assert_eq!(v.code, "OUTPUT_LENGTH_VIOLATION");
    assert_eq!(v.http_status_code, Some(422));
    assert_eq!(v.mcp_error_code, Some(-32000));
    assert_eq!(v.description, "Result length 2 not in [3, 8]");
    let (r, _) = run(&p, tool_post(json!("in range"))).await;
    assert!(r.continue_processing);
}

#[tokio::test]
async fn output_guard_counts_tokens_and_handles_multi_mib_output() {
    let p = plugin(
        "output_length_guard",
        json!({"limit_mode": "token", "max_tokens": 1000, "chars_per_token": 4, "ellipsis": "[…]"}),
    );
    let big = "ž".repeat(3 << 20);
    let (r, _) = run(&p, tool_post(json!({"text": big, "other": 1}))).await;
    let v = out(&r);
    let t = v["result"]["text"].as_str().unwrap();
    assert_eq!(t.chars().count(), 4000);
    assert!(t.ends_with("[…]"));
    assert_eq!(v["result"]["other"], 1);
    assert_eq!(r.metadata.unwrap()["original_length"], 3 << 20);
}

// ---------------------------------------------------------------- URLReputationPlugin

fn fetch(uri: &str) -> ResourcePreFetchPayload {
    ResourcePreFetchPayload {
        uri: uri.into(),
        metadata: None,
    }
}

#[tokio::test]
async fn url_reputation_blocks_domains_patterns_and_plain_http() {
    let p = plugin(
        "cpex_url_reputation.URLReputationPlugin",
        json!({
            "blocked_domains": ["Malicious.Example.com"],
            "blocked_patterns": ["/wp-admin"],
            "whitelist_domains": ["intranet.example.org"],
        }),
    );
    let (r, _) = run(&p, fetch("https://cdn.malicious.example.com./x.js")).await;
    let v = r.violation.unwrap();
    assert_eq!(v.code, "URL_REPUTATION_BLOCK");
    assert_eq!(v.reason, "Blocked domain");
    assert_eq!(v.description, "Domain cdn.malicious.example.com is blocked");
    assert_eq!(v.details.unwrap()["domain"], "cdn.malicious.example.com");

    let (r, _) = run(&p, fetch("https://blog.example.net/wp-admin/login")).await;
    assert_eq!(
        r.violation.unwrap().description,
        "URL matches blocked pattern: /wp-admin"
    );

    let (r, _) = run(&p, fetch("http://docs.example.net/")).await;
    assert_eq!(r.violation.unwrap().reason, "Insecure URL");

    for ok in [
        "https://notmalicious.example.com/",
        "http://intranet.example.org/page",
        "file:///srv/readme.md",
        "https://例え.jp/",
    ] {
        let (r, _) = run(&p, fetch(ok)).await;
        assert!(r.continue_processing && r.violation.is_none(), "{ok}");
    }
}

#[tokio::test]
async fn url_reputation_heuristics_are_opt_in() {
    let p = plugin(
        "url_reputation",
        json!({"use_heuristic_check": true, "block_non_secure_http": false}),
    );
    let (r, _) = run(&p, fetch("https://x7k2qz9v4mwp8r.com/")).await;
    assert_eq!(r.violation.unwrap().reason, "Suspicious domain");
    let (r, _) = run(&p, fetch("https://pаypal.com/")).await; // Cyrillic "а"
    assert!(r.violation.unwrap().description.contains("non-ASCII"));
    let (r, _) = run(&p, fetch("http://wikipedia.org/")).await;
    assert!(r.violation.is_none());
}

// ---------------------------------------------------------------- the chain

#[tokio::test]
async fn all_builtins_chain_in_priority_order() {
    use plugwire_framework::{Config, PluginManager};
    let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../plugins/all-builtins.yaml");
    let config = Config::load(path, &plugwire_framework::EmptyEnv).unwrap();
    let mut m = PluginManager::new(config, &plugwire_plugins::builtin_registry()).unwrap();
    m.initialize().await.unwrap();
    let mut global = GlobalContext::new("req-9");
    // PII (50) masks first, then ReplaceBadWords (150) rewrites.
    let out = m
        .invoke_hook(
            tool_pre(json!({"q": "crap, mail it to ann@internal.example or ann@example.net"}))
                .into(),
            &mut global,
            None,
        )
        .await
        .unwrap();
    let v = out.result.modified_payload.unwrap().to_json();
    // The custom rule then rewrites what is left of the internal address.
    assert_eq!(
        v["args"]["q"],
        "yikes, mail it to a***n@example.com or a***n@example.net"
    );
}

#[tokio::test]
async fn pii_detection_details_can_be_turned_off() {
    let p = plugin(
        "pii_filter",
        json!({"include_detection_details": "false", "log_detections": false}),
    );
    let (r, c) = run(&p, tool_pre(json!({"to": "eve@example.com"}))).await;
    assert_eq!(out(&r)["args"]["to"], "e***e@example.com");
    assert!(c.metadata.get("pii_detections").is_none());
}

#[tokio::test]
async fn url_reputation_allowed_patterns_win_over_blocks() {
    let p = plugin(
        "url_reputation",
        json!({"blocked_domains": ["example.com"], "allowed_patterns": ["/public/"]}),
    );
    let (r, _) = run(&p, fetch("https://example.com/public/readme")).await;
    assert!(r.violation.is_none());
    let (r, _) = run(&p, fetch("https://example.com/private/x")).await;
    assert_eq!(r.violation.unwrap().reason, "Blocked domain");
}
