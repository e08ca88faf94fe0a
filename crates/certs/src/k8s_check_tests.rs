use std::os::unix::fs::symlink;

use super::*;
use crate::{issue_all, Layout, Options};

/// Lays `cert`, `key`, `ca` out as the kubelet mounts a Secret: the files are symlinks to
/// `..data/<file>`, `..data` a symlink to a timestamped directory.
fn mount(secret: &Path, cert: &Path, key: &Path, ca: &Path) {
    let data = secret.join("..2026_01_01_00_00_00.1");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::copy(cert, data.join(K8S_CERT)).unwrap();
    std::fs::copy(key, data.join(K8S_KEY)).unwrap();
    std::fs::copy(ca, data.join(K8S_CA)).unwrap();
    symlink("..2026_01_01_00_00_00.1", secret.join("..data")).unwrap();
    for file in [K8S_CERT, K8S_KEY, K8S_CA] {
        symlink(format!("..data/{file}"), secret.join(file)).unwrap();
    }
}

fn tree(options: &Options) -> (tempfile::TempDir, Layout) {
    let dir = tempfile::tempdir().unwrap();
    issue_all(dir.path().join("local"), &["alpha"], options).unwrap();
    let layout = Layout::new(dir.path().join("local"));
    (dir, layout)
}

#[test]
fn mounted_gateway_and_plugin_secrets_pass_with_roles() {
    let (dir, layout) = tree(&Options::ecdsa());
    let mounts = dir.path().join("secrets");
    let gw = layout.gateway();
    let alpha = layout.plugin("alpha");
    mount(
        &mounts.join("mcp-gateway-client-tls"),
        &gw.cert,
        &gw.key,
        &layout.ca_cert(),
    );
    mount(
        &mounts.join("mcp-plugin-alpha-tls"),
        &alpha.cert,
        &alpha.key,
        &layout.ca_cert(),
    );
    let report = check_k8s(&mounts, &CheckOptions::default());
    assert_eq!(report.exit_code, 0, "{}", report.to_text());
    let roles: Vec<(&str, Option<&str>)> = report
        .certificates
        .iter()
        .map(|c| (c.role, c.name.as_deref()))
        .collect();
    assert_eq!(
        roles,
        [
            ("gateway", Some("mcp-gateway-client-tls")),
            ("ca", Some("mcp-gateway-client-tls")),
            ("plugin", Some("mcp-plugin-alpha-tls")),
            ("ca", Some("mcp-plugin-alpha-tls")),
        ]
    );
    // One mounted Secret can be checked on its own too.
    let one = check_k8s(
        &mounts.join("mcp-plugin-alpha-tls"),
        &CheckOptions::default(),
    );
    assert_eq!(one.exit_code, 0);
    assert_eq!(one.certificates.len(), 2);
}

#[test]
fn foreign_ca_and_wrong_key_are_errors() {
    let (dir, layout) = tree(&Options::ecdsa());
    let (_other_dir, other) = tree(&Options::ecdsa());
    let alpha = layout.plugin("alpha");
    let foreign = dir.path().join("foreign");
    mount(&foreign, &alpha.cert, &alpha.key, &other.ca_cert());
    let report = check_k8s(&foreign, &CheckOptions::default());
    assert_eq!(report.exit_code, 2);
    assert!(
        report.certificates[0].problems[0].contains("not issued by the CA"),
        "{:?}",
        report.certificates[0].problems
    );

    let wrong_key = dir.path().join("wrong-key");
    mount(
        &wrong_key,
        &alpha.cert,
        &layout.gateway().key,
        &layout.ca_cert(),
    );
    let report = check_k8s(&wrong_key, &CheckOptions::default());
    assert_eq!(report.exit_code, 2);
    assert!(
        report.to_text().contains("does not belong"),
        "{}",
        report.to_text()
    );
}

#[test]
fn expiring_soon_is_a_warning_and_missing_files_are_errors() {
    let options = Options {
        days: 10,
        ..Options::ecdsa()
    };
    let (dir, layout) = tree(&options);
    let alpha = layout.plugin("alpha");
    let soon = dir.path().join("soon");
    mount(&soon, &alpha.cert, &alpha.key, &layout.ca_cert());
    let report = check_k8s(&soon, &CheckOptions::default());
    assert_eq!(report.exit_code, 1, "{}", report.to_text());
    assert!(matches!(report.certificates[0].days_remaining, Some(8..=9)));

    let empty = dir.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let report = check_k8s(&empty, &CheckOptions::default());
    assert_eq!(report.exit_code, 2);
    assert!(report.certificates[0].problems[0].contains("--k8s-dir"));

    std::fs::remove_file(soon.join("..data").join(K8S_KEY)).unwrap();
    let report = check_k8s(&soon, &CheckOptions::default());
    assert_eq!(report.exit_code, 2);
    assert!(
        report.to_text().contains("tls.key is missing"),
        "{}",
        report.to_text()
    );
}
