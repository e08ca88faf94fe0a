//! Every sample config under plugins/ loads with the framework's loader; those whose enabled entries
//! are all built-ins also build a `PluginManager` with the built-in registry. Bad `config:` blocks
//! fail at load time with file, plugin and key named.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use plugwire_framework::{Config, PluginManager, PluginMode};

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            yaml_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "yaml" || x == "yml") {
            out.push(p);
        }
    }
}

#[tokio::test]
async fn every_sample_config_loads() {
    let mut files = Vec::new();
    yaml_files(&repo_root().join("plugins"), &mut files);
    files.sort();
    for required in ["test.yaml", "all-builtins.yaml", "upstream-shaped.yaml"] {
        assert!(
            files.iter().any(|f| f.file_name().unwrap() == required),
            "plugins/{required} is missing"
        );
    }
    let registry = plugwire_plugins::builtin_registry();
    let mut built = 0;
    for f in &files {
        let config = Config::load(f, &plugwire_framework::EmptyEnv)
            .unwrap_or_else(|e| panic!("{} does not load: {e}", f.display()));
        let enabled: Vec<_> = config
            .plugins
            .iter()
            .filter(|p| p.mode != PluginMode::Disabled)
            .collect();
        if enabled.iter().all(|p| registry.contains(&p.kind)) {
            let mut m = PluginManager::new(config.clone(), &registry)
                .unwrap_or_else(|e| panic!("{}: {e}", f.display()));
            m.initialize().await.unwrap();
            assert_eq!(m.plugin_names().len(), enabled.len(), "{}", f.display());
            built += 1;
        } else {
            // Gateway-side files: their entries are `external` (the client crate's kind).
            for p in enabled.iter().filter(|p| !registry.contains(&p.kind)) {
                assert_eq!(p.kind, "external", "{}: {}", f.display(), p.name);
            }
        }
    }
    assert!(built >= 3, "only {built} configs built a manager");
}

#[test]
fn all_builtins_uses_every_python_kind_path() {
    let config = Config::load(
        repo_root().join("plugins/all-builtins.yaml"),
        &plugwire_framework::EmptyEnv,
    )
    .unwrap();
    let kinds: Vec<&str> = config.plugins.iter().map(|p| p.kind.as_str()).collect();
    for (ks, _) in plugwire_plugins::builtins() {
        assert!(
            ks.iter().any(|k| kinds.contains(k) && k.contains('.')),
            "no entry uses a Python kind of {ks:?}"
        );
    }
}

#[tokio::test]
async fn upstream_shaped_config_loads_with_unimplemented_kinds_disabled() {
    let config = Config::load(
        repo_root().join("plugins/upstream-shaped.yaml"),
        &plugwire_framework::EmptyEnv,
    )
    .unwrap();
    assert_eq!(config.plugins.len(), 43);
    let registry = plugwire_plugins::builtin_registry();
    let unknown = config
        .plugins
        .iter()
        .filter(|p| !registry.contains(&p.kind))
        .count();
    assert!(unknown > 30, "only {unknown} unimplemented kinds");
    let m = PluginManager::new(config, &registry).unwrap();
    assert_eq!(m.plugin_names(), ["ReplaceBadWordsPlugin"]);
}

fn load_err(yaml: &str) -> String {
    let config = Config::load_str(yaml, "bad.yaml", &plugwire_framework::EmptyEnv).unwrap();
    PluginManager::new(config, &plugwire_plugins::builtin_registry())
        .unwrap_err()
        .to_string()
}

#[test]
fn a_regex_that_does_not_compile_names_file_plugin_and_key() {
    let e = load_err(
        r#"
plugins:
  - name: Scrub
    kind: plugins.regex_filter.search_replace.SearchReplacePlugin
    hooks: [tool_pre_invoke]
    config:
      words:
        - search: ok
          replace: fine
        - search: "(unclosed"
          replace: x
"#,
    );
    assert!(e.contains("bad.yaml"), "{e}");
    assert!(e.contains("Scrub"), "{e}");
    assert!(e.contains("words[1].search"), "{e}");
    assert!(e.contains("(unclosed"), "{e}");
}

#[test]
fn lookaround_is_refused_with_the_pattern_named() {
    let e = load_err(
        r#"
plugins:
  - name: Scrub
    kind: search_replace
    hooks: [tool_pre_invoke]
    config:
      words:
        - search: "foo(?=bar)"
          replace: x
"#,
    );
    assert!(
        e.contains("words[0].search") && e.contains("look-ahead"),
        "{e}"
    );
}

#[test]
fn bad_plugin_configs_name_the_key() {
    let cases = [
        ("search_replace", "{}", "`words`"),
        (
            "search_replace",
            "{words: [{search: a}]}",
            "words[0].replace",
        ),
        (
            "search_replace",
            r#"{words: [{search: "(a)", replace: '\2'}]}"#,
            "words[0].replace",
        ),
        ("deny_list", "{words: oops}", "`words`"),
        ("deny_list", "{words: [a, 3]}", "words[1]"),
        ("pii_filter", "{detect_ssn: maybe}", "detect_ssn"),
        (
            "pii_filter",
            "{default_mask_strategy: blur}",
            "default_mask_strategy",
        ),
        (
            "pii_filter",
            "{custom_patterns: [{type: nope, pattern: x}]}",
            "custom_patterns[0].type",
        ),
        (
            "pii_filter",
            "{custom_patterns: [{pattern: '(?<!a)b'}]}",
            "custom_patterns[0].pattern",
        ),
        (
            "pii_filter",
            "{whitelist_patterns: ['[']}",
            "whitelist_patterns[0]",
        ),
        ("output_length_guard", "{strategy: chop}", "strategy"),
        ("output_length_guard", "{max_chars: 0}", "max_chars"),
        (
            "output_length_guard",
            "{min_chars: 10, max_chars: 5}",
            "min_chars",
        ),
        (
            "url_reputation",
            "{blocked_domains: ['https://x.com/a']}",
            "blocked_domains[0]",
        ),
        (
            "url_reputation",
            "{entropy_threshold: -1}",
            "entropy_threshold",
        ),
    ];
    for (kind, cfg, key) in cases {
        let e = load_err(&format!(
            "plugins:\n  - name: P\n    kind: {kind}\n    hooks: [tool_pre_invoke]\n    config: {cfg}\n"
        ));
        assert!(e.contains(key) && e.contains("'P'"), "{kind} {cfg}: {e}");
    }
}

#[test]
fn lax_typing_accepts_quoted_values_as_python_does() {
    let config = Config::load_str(
        "plugins:\n  - name: P\n    kind: pii_filter\n    hooks: [tool_pre_invoke]\n    config: {block_on_detection: \"{{ env.BLOCK }}\", detect_ssn: 'false'}\n",
        "lax.yaml",
        &std::collections::HashMap::from([("BLOCK", "true")]),
    )
    .unwrap();
    let p = plugwire_plugins::PiiFilterPlugin::new(config.plugins[0].clone()).unwrap();
    assert!(p.settings().block_on_detection);
    assert!(!p.settings().detectors.ssn);
}
