//! The cpex package kinds of the built-ins (ContextForge 1.1.0's `cpex-*` wheels): every kind loads
//! with the package's full default config, behaves as the built-in where the package does, follows
//! the package where it differs, and refuses what we do not implement with the key named.

#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use plugwire_framework::{Config, PluginManager};
use plugwire_plugins::cpex::{OUTPUT_LENGTH_GUARD_KINDS, PII_KINDS, URL_REPUTATION_KINDS};
use serde_json::{json, Value};

mod common;

use common::{build, out, plugin, tool_post, tool_pre, try_run as run};

fn sample() -> Config {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../plugins/cpex-builtins.yaml");
    Config::load(path, &plugwire_framework::EmptyEnv).unwrap()
}

fn build_err(kind: &str, config: Value) -> String {
    match build(kind, config) {
        Ok(_) => panic!("{kind} built"),
        Err(e) => e.to_string(),
    }
}

#[tokio::test]
async fn every_cpex_kind_loads_with_the_full_default_config() {
    let config = sample();
    let kinds: Vec<&str> = config.plugins.iter().map(|p| p.kind.as_str()).collect();
    assert_eq!(
        kinds,
        [
            PII_KINDS[0],
            URL_REPUTATION_KINDS[0],
            OUTPUT_LENGTH_GUARD_KINDS[0]
        ]
    );
    let registry = plugwire_plugins::builtin_registry();
    let mut m = PluginManager::new(config.clone(), &registry).unwrap();
    m.initialize().await.unwrap();
    assert_eq!(m.plugin_names().len(), 3);
    // The short kinds take the same entries.
    for (entry, short) in config.plugins.iter().zip([
        PII_KINDS[1],
        URL_REPUTATION_KINDS[1],
        OUTPUT_LENGTH_GUARD_KINDS[1],
    ]) {
        let mut e = entry.clone();
        e.kind = short.into();
        registry
            .create(e)
            .unwrap()
            .unwrap_or_else(|err| panic!("{short}: {err}"));
    }
}

#[tokio::test]
async fn cpex_kinds_behave_as_the_builtins() {
    let explicit = json!({"log_detections": true, "include_detection_details": true});
    let args = json!({"customer": {"email": "zoe@example.de", "ssn": "123-45-6789",
                      "card": "4111-1111-1111-1111"}, "note": "call 10.1.2.3"});
    let (want, want_ctx) = run(
        &plugin("pii_filter", explicit.clone()),
        tool_pre(args.clone()),
    )
    .await
    .unwrap();
    for kind in PII_KINDS {
        let (got, ctx) = run(&plugin(kind, explicit.clone()), tool_pre(args.clone()))
            .await
            .unwrap();
        assert_eq!(out(&got), out(&want), "{kind}");
        assert_ne!(out(&got)["args"], args, "{kind} masked nothing");
        assert_eq!(ctx.metadata, want_ctx.metadata, "{kind}");
    }

    let url = json!({"blocked_domains": ["malicious.example.com"]});
    let fetch = |uri: &str| plugwire_framework::ResourcePreFetchPayload {
        uri: uri.into(),
        metadata: None,
    };
    for kind in URL_REPUTATION_KINDS {
        let p = plugin(kind, url.clone());
        let (r, _) = run(&p, fetch("https://a.malicious.example.com/x"))
            .await
            .unwrap();
        assert_eq!(r.violation.unwrap().code, "URL_REPUTATION_BLOCK", "{kind}");
        let (r, _) = run(&p, fetch("https://example.org/x")).await.unwrap();
        assert!(r.continue_processing, "{kind}");
    }

    let olg = json!({"max_chars": 12, "strategy": "truncate"});
    let text = json!("The quick brown fox jumps over the lazy dog");
    let (want, _) = run(
        &plugin("output_length_guard", olg.clone()),
        tool_post(text.clone()),
    )
    .await
    .unwrap();
    assert_eq!(out(&want)["result"], "The quick b…");
    for kind in OUTPUT_LENGTH_GUARD_KINDS {
        let (got, _) = run(&plugin(kind, olg.clone()), tool_post(text.clone()))
            .await
            .unwrap();
        assert_eq!(out(&got), out(&want), "{kind}");
    }
}

#[tokio::test]
async fn cpex_pii_follows_the_package_where_it_differs() {
    let args = json!({"email": "zoe@example.de", "key": "AKIAIOSFODNN7EXAMPLE"});
    // Package defaults: no detection details in the context, no AWS-key detector.
    let (r, ctx) = run(&plugin(PII_KINDS[0], json!({})), tool_pre(args.clone()))
        .await
        .unwrap();
    assert_ne!(out(&r)["args"]["email"], "zoe@example.de");
    assert_eq!(out(&r)["args"]["key"], "AKIAIOSFODNN7EXAMPLE");
    assert!(ctx.metadata.get("pii_detections").is_none());
    let (r, ctx) = run(&plugin("pii_filter", json!({})), tool_pre(args))
        .await
        .unwrap();
    assert_ne!(out(&r)["args"]["key"], "AKIAIOSFODNN7EXAMPLE");
    assert!(ctx.metadata.get("pii_detections").is_some());

    // An unknown masking strategy is `redact` in the package, an error in Python.
    let odd = json!({"default_mask_strategy": "scramble"});
    plugin(PII_KINDS[1], odd.clone());
    assert!(build_err("pii_filter", odd).contains("default_mask_strategy"));

    // The package needs a description on a custom pattern.
    let e = build_err(
        PII_KINDS[0],
        json!({"custom_patterns": [{"pattern": "EMP-\\d{6}"}]}),
    );
    assert!(e.contains("custom_patterns[0].description"), "{e}");

    // Input limits fail the call with the package's message.
    let p = plugin(PII_KINDS[0], json!({"max_text_bytes": 8}));
    let e = run(&p, tool_pre(json!({"a": "123456789"})))
        .await
        .unwrap_err();
    assert_eq!(
        e.message(),
        "Input exceeds maximum supported size of 8 bytes"
    );
    run(&p, tool_pre(json!({"a": "12345678"}))).await.unwrap();
    let p = plugin(PII_KINDS[0], json!({"max_nested_depth": 1}));
    let e = run(&p, tool_post(json!({"a": {"b": "x"}})))
        .await
        .unwrap_err();
    assert_eq!(e.message(), "Nested data exceeds maximum depth of 1");
    let p = plugin(PII_KINDS[0], json!({"max_collection_items": 2}));
    let e = run(&p, tool_pre(json!({"a": "1", "b": "2", "c": "3"})))
        .await
        .unwrap_err();
    assert_eq!(
        e.message(),
        "Nested mapping exceeds maximum size of 2 items"
    );
    // The Python kinds accept the keys without enforcing them.
    let p = plugin("pii_filter", json!({"max_text_bytes": 8}));
    run(&p, tool_pre(json!({"a": "123456789"}))).await.unwrap();
}

#[tokio::test]
async fn cpex_output_length_guard_follows_the_package_where_it_differs() {
    let nested = (0..15).fold(json!({"value": "leaf"}), |v, _| json!({"child": v}));
    let result = json!({"content": [{"type": "text", "text": "x"}], "structuredContent": nested});
    let block = json!({"max_chars": 10000, "strategy": "block", "max_recursion_depth": 10});
    let (r, _) = run(
        &plugin(OUTPUT_LENGTH_GUARD_KINDS[0], block),
        tool_post(result.clone()),
    )
    .await
    .unwrap();
    let v = r.violation.unwrap();
    assert_eq!(v.code, "STRUCTURE_DEPTH_VIOLATION");
    assert_eq!(v.details.unwrap()["max_depth"], 10);
    let wide = json!({"content": [], "structuredContent": {"items": vec!["a"; 11]}});
    let small = json!({"max_chars": 100, "strategy": "block", "max_structure_size": 10});
    let (r, _) = run(
        &plugin(OUTPUT_LENGTH_GUARD_KINDS[1], small),
        tool_post(wide),
    )
    .await
    .unwrap();
    assert_eq!(r.violation.unwrap().code, "STRUCTURE_SIZE_VIOLATION");
    // The Python kind has no structure limits.
    let python = json!({"max_chars": 10000, "strategy": "block", "max_recursion_depth": 10});
    let (r, _) = run(&plugin("output_length_guard", python), tool_post(result))
        .await
        .unwrap();
    assert!(r.continue_processing);

    let tokens = json!({"limit_mode": "token", "max_tokens": 2, "strategy": "block"});
    let long = json!("far more than eight characters");
    let (r, _) = run(
        &plugin(OUTPUT_LENGTH_GUARD_KINDS[0], tokens.clone()),
        tool_post(long.clone()),
    )
    .await
    .unwrap();
    assert_eq!(r.violation.unwrap().code, "OUTPUT_TOKEN_VIOLATION");
    let (r, _) = run(&plugin("output_length_guard", tokens), tool_post(long))
        .await
        .unwrap();
    assert_eq!(r.violation.unwrap().code, "OUTPUT_LENGTH_VIOLATION");

    // 0 disables a maximum in the package; Python refuses it.
    plugin(OUTPUT_LENGTH_GUARD_KINDS[0], json!({"max_chars": 0}));
    assert!(build_err("output_length_guard", json!({"max_chars": 0})).contains("max_chars"));
}

#[test]
fn unimplemented_or_out_of_range_keys_fail_with_their_name() {
    let olg = OUTPUT_LENGTH_GUARD_KINDS[0];
    let e = build_err(olg, json!({"max_text_length": 5000}));
    assert!(
        e.contains("`max_text_length`") && e.contains("does not implement"),
        "{e}"
    );
    for (kind, key, value) in [
        (olg, "chars_per_token", json!(11)),
        (olg, "max_structure_size", json!(9)),
        (olg, "max_recursion_depth", json!(1001)),
        (PII_KINDS[0], "max_text_bytes", json!(0)),
        (PII_KINDS[1], "max_nested_depth", json!(1001)),
        (PII_KINDS[0], "max_collection_items", json!(1_000_001)),
    ] {
        let e = build_err(kind, json!({ key: value }));
        assert!(e.contains(&format!("`{key}`")), "{kind} {key}: {e}");
    }
}

#[test]
fn builtins_do_not_claim_cpex_hooks() {
    for hook in [
        "identity_resolve",
        "token_delegate",
        "evaluate",
        "cmf.tool_pre_invoke",
    ] {
        let yaml = format!(
            "plugins: [{{name: G, kind: {}, hooks: [tool_post_invoke, \"{hook}\"]}}]",
            OUTPUT_LENGTH_GUARD_KINDS[0]
        );
        let config = Config::load_str(&yaml, "cpex.yaml", &plugwire_framework::EmptyEnv).unwrap();
        let e = PluginManager::new(config, &plugwire_plugins::builtin_registry())
            .unwrap_err()
            .to_string();
        assert!(e.contains(&format!("`{hook}`")) && e.contains("G"), "{e}");
    }
}
