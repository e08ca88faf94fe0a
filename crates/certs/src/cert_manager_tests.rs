use super::*;

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn with_ns(ns: &str) -> CertManagerOptions {
    CertManagerOptions {
        namespace: Some(ns.to_string()),
        ..CertManagerOptions::default()
    }
}

fn certificates(resources: &[Value]) -> Vec<&Value> {
    resources
        .iter()
        .filter(|r| r["kind"] == "Certificate")
        .collect()
}

#[test]
fn service_names_are_dns_labels() {
    assert_eq!(
        plugin_service_name("ReplaceBadWordsPlugin").unwrap(),
        "mcp-plugin-replacebadwordsplugin"
    );
    assert_eq!(plugin_service_name("a_b.c").unwrap(), "mcp-plugin-a-b-c");
    assert_eq!(
        plugin_secret_name("DenyListPlugin").unwrap(),
        "mcp-plugin-denylistplugin-tls"
    );
    let err = plugin_service_name("a b").unwrap_err().to_string();
    assert!(err.contains("\"a b\""), "{err}");
    let long = "x".repeat(53);
    assert!(plugin_service_name(&long).is_err());
}

#[test]
fn chain_then_one_certificate_per_plugin_in_order() {
    let plugins = names(&["ReplaceBadWordsPlugin", "DenyListPlugin"]);
    let resources = cert_manager_resources(&plugins, &with_ns("mcp")).unwrap();
    let kinds: Vec<(&str, &str)> = resources
        .iter()
        .map(|r| {
            (
                r["kind"].as_str().unwrap(),
                r["metadata"]["name"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            ("Issuer", BOOTSTRAP_ISSUER),
            ("Certificate", CA_CERTIFICATE),
            ("Issuer", DEFAULT_ISSUER),
            ("Certificate", GATEWAY_CERTIFICATE),
            ("Certificate", "mcp-plugin-replacebadwordsplugin"),
            ("Certificate", "mcp-plugin-denylistplugin"),
        ]
    );
    for r in &resources {
        assert_eq!(r["metadata"]["namespace"], "mcp");
        assert_eq!(r["apiVersion"], "cert-manager.io/v1");
    }
    // The CA is self-signed by the bootstrap issuer; the CA issuer uses the CA's secret.
    assert_eq!(resources[0]["spec"], json!({ "selfSigned": {} }));
    assert_eq!(resources[1]["spec"]["isCA"], true);
    assert_eq!(resources[1]["spec"]["issuerRef"]["name"], BOOTSTRAP_ISSUER);
    assert_eq!(
        resources[1]["spec"]["privateKey"]["rotationPolicy"],
        "Never"
    );
    assert_eq!(resources[2]["spec"]["ca"]["secretName"], CA_CERTIFICATE);
    assert_eq!(resources[1]["spec"]["secretName"], CA_CERTIFICATE);
}

#[test]
fn plugin_certificates_serve_every_name_the_gateway_may_use() {
    let resources =
        cert_manager_resources(&names(&["DenyListPlugin"]), &with_ns("plugins")).unwrap();
    let plugin = &resources[4];
    let spec = &plugin["spec"];
    assert_eq!(spec["commonName"], "mcp-plugin-DenyListPlugin");
    assert_eq!(spec["secretName"], "mcp-plugin-denylistplugin-tls");
    assert_eq!(spec["usages"], json!(["server auth", "digital signature"]));
    assert_eq!(spec["issuerRef"]["name"], DEFAULT_ISSUER);
    assert_eq!(
        spec["dnsNames"],
        json!([
            "DenyListPlugin",
            "mcp-plugin-DenyListPlugin",
            "localhost",
            "mcp-plugin-denylistplugin.plugins",
            "mcp-plugin-denylistplugin.plugins.svc",
            "mcp-plugin-denylistplugin.plugins.svc.cluster.local",
        ]),
        "the lower-case service name equals mcp-plugin-<name> ignoring case, so it appears once"
    );
    assert_eq!(
        plugin["metadata"]["annotations"]["plugwire.dev/plugin-name"],
        "DenyListPlugin"
    );
}

#[test]
fn leaves_are_short_lived_rotated_and_pkcs8() {
    let resources = cert_manager_resources(&names(&["a"]), &CertManagerOptions::default()).unwrap();
    for cert in &certificates(&resources)[1..] {
        let spec = &cert["spec"];
        assert_eq!(spec["duration"], "2160h");
        assert_eq!(spec["renewBefore"], "720h");
        assert_eq!(
            spec["privateKey"],
            json!({"algorithm": "RSA", "size": 4096, "encoding": "PKCS8", "rotationPolicy": "Always"})
        );
    }
    let gateway = &resources[3]["spec"];
    assert_eq!(
        gateway["usages"],
        json!(["client auth", "digital signature"])
    );
    assert!(gateway.get("uris").is_none());
    assert!(gateway.get("dnsNames").is_none());
    assert!(resources[0]["metadata"].get("namespace").is_none());
    // Without a namespace only the short service name is added.
    assert_eq!(
        resources[4]["spec"]["dnsNames"],
        json!(["a", "mcp-plugin-a", "localhost"])
    );
}

#[test]
fn options_change_key_issuer_window_and_gateway_uri() {
    let options = CertManagerOptions {
        issuer: "corp-ca".into(),
        key_type: KeyType::EcdsaP256,
        gateway_uri: Some("spiffe://cluster.local/ns/mcp/sa/gateway".into()),
        days: 30,
        renew_days: 10,
        ..CertManagerOptions::default()
    };
    let resources = cert_manager_resources(&names(&["p"]), &options).unwrap();
    assert_eq!(resources[2]["metadata"]["name"], "corp-ca");
    let gateway = &resources[3]["spec"];
    assert_eq!(
        gateway["uris"],
        json!(["spiffe://cluster.local/ns/mcp/sa/gateway"])
    );
    assert_eq!(gateway["issuerRef"]["name"], "corp-ca");
    assert_eq!(gateway["duration"], "720h");
    assert_eq!(gateway["renewBefore"], "240h");
    assert_eq!(gateway["privateKey"]["algorithm"], "ECDSA");
    assert_eq!(gateway["privateKey"]["size"], 256);
    assert_eq!(resources[4]["spec"]["issuerRef"]["name"], "corp-ca");
}

#[test]
fn bad_options_name_the_option() {
    let cases: [(CertManagerOptions, &str); 5] = [
        (with_ns("Bad_NS"), "--namespace"),
        (
            CertManagerOptions {
                issuer: "UPPER".into(),
                ..CertManagerOptions::default()
            },
            "--issuer",
        ),
        (
            CertManagerOptions {
                renew_days: 90,
                ..CertManagerOptions::default()
            },
            "--renew-days",
        ),
        (
            CertManagerOptions {
                renew_days: 0,
                ..CertManagerOptions::default()
            },
            "--renew-days",
        ),
        (
            CertManagerOptions {
                gateway_uri: Some("no scheme".into()),
                ..CertManagerOptions::default()
            },
            "--gateway-uri",
        ),
    ];
    for (options, expected) in cases {
        let err = cert_manager_resources(&[], &options)
            .unwrap_err()
            .to_string();
        assert!(err.contains(expected), "{options:?}: {err}");
    }
}

#[test]
fn yaml_is_a_stream_of_the_same_resources() {
    let plugins = names(&["x", "y"]);
    let options = with_ns("mcp");
    let text = cert_manager_yaml(&plugins, &options).unwrap();
    assert!(text.starts_with("# Generated by `plugwire certs cert-manager`"));
    let docs: Vec<Value> = text
        .split("\n---\n")
        .skip(1)
        .map(|doc| yaml_serde::from_str(doc).unwrap())
        .collect();
    assert_eq!(
        docs,
        cert_manager_resources(&plugins, &options).unwrap(),
        "{text}"
    );
}
