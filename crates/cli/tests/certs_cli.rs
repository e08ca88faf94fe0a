//! `plugwire certs ...` as a user runs it: config handling, fallback, refusals before anything
//! is written, idempotency, --force, --san, and `check`'s exit codes and JSON.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::process::{Command, Output};

use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};

/// Runs the binary in `cwd` (so the default config path is relative to it).
fn plugwire(cwd: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_plugwire"))
        .current_dir(cwd)
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn dirs(path: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(path)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let rel = path.strip_prefix(dir).unwrap().display().to_string();
                out.insert(rel, fs::read(&path).unwrap());
            }
        }
    }
    out
}

const ECDSA: [&str; 2] = ["--key-type", "ecdsa-p256"];

fn all(cwd: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["certs", "all", "--dir", "out"];
    args.extend(ECDSA);
    args.extend(extra);
    plugwire(cwd, &args)
}

#[test]
fn all_reads_the_external_plugins_of_the_config_in_file_order() {
    let tmp = tempfile::tempdir().unwrap();
    fs::write(
        tmp.path().join("cfg.yaml"),
        "plugins:\n\
         \x20 - name: Zeta\n    kind: external\n    mcp: {proto: STREAMABLEHTTP, url: 'https://zeta:8000/mcp'}\n\
         \x20 - name: Local\n    kind: plugins.regex_filter.search_replace.SearchReplacePlugin\n\
         \x20 - name: Alpha\n    kind: external\n\
         \x20 - name: mid.plugin_1\n    kind: external\n\
         plugin_settings: {plugin_timeout: 30}\n",
    )
    .unwrap();
    let out = all(tmp.path(), &["--config", "cfg.yaml"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        dirs(&tmp.path().join("out/plugins")),
        ["Alpha", "Zeta", "mid.plugin_1"]
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let (z, a, m) = (
        stdout.find("Plugin 'Zeta'").unwrap(),
        stdout.find("Plugin 'Alpha'").unwrap(),
        stdout.find("Plugin 'mid.plugin_1'").unwrap(),
    );
    assert!(z < a && a < m, "file order: {stdout}");
    assert_eq!(dirs(&tmp.path().join("out")), ["ca", "gateway", "plugins"]);
}

#[test]
fn without_the_default_config_all_creates_the_two_examples() {
    let tmp = tempfile::tempdir().unwrap();
    let out = all(tmp.path(), &[]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("plugins/external/config.yaml not found"));
    assert_eq!(
        dirs(&tmp.path().join("out/plugins")),
        ["example-plugin-a", "example-plugin-b"]
    );

    // With the default file present, it is used.
    let cwd = tempfile::tempdir().unwrap();
    fs::create_dir_all(cwd.path().join("plugins/external")).unwrap();
    fs::write(
        cwd.path().join("plugins/external/config.yaml"),
        "plugins:\n  - {name: DenyListPlugin, kind: external}\n",
    )
    .unwrap();
    let out = all(cwd.path(), &[]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(dirs(&cwd.path().join("out/plugins")), ["DenyListPlugin"]);
}

#[test]
fn config_errors_name_the_file_and_write_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let cases: [(&str, Option<&str>, &str); 3] = [
        ("missing.yaml", None, "does not exist"),
        (
            "broken.yaml",
            Some("plugins: [\n  - name: a\n"),
            "not valid YAML",
        ),
        (
            "noname.yaml",
            Some("plugins:\n  - {name: ok, kind: external}\n  - {kind: external}\n"),
            "plugins[1] (kind: external) has no `name`",
        ),
    ];
    for (file, contents, expected) in cases {
        if let Some(contents) = contents {
            fs::write(tmp.path().join(file), contents).unwrap();
        }
        let out = all(tmp.path(), &["--config", file]);
        assert_eq!(out.status.code(), Some(1), "{file}: {}", text(&out));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains(file) && stderr.contains(expected),
            "{file}: {stderr}"
        );
        assert!(!tmp.path().join("out").exists(), "{file}: nothing written");
    }
}

#[test]
fn a_second_run_changes_no_byte_and_force_replaces() {
    let tmp = tempfile::tempdir().unwrap();
    assert!(all(tmp.path(), &[]).status.success());
    let first = snapshot(&tmp.path().join("out"));
    assert_eq!(first.len(), 2 + 4 + 2 * 3);
    let out = all(tmp.path(), &[]);
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("Existing gateway found") && stdout.contains("--force"),
        "{stdout}"
    );
    assert_eq!(snapshot(&tmp.path().join("out")), first);

    let out = all(tmp.path(), &["--force"]);
    assert!(out.status.success(), "{}", text(&out));
    let replaced = snapshot(&tmp.path().join("out"));
    assert_eq!(replaced.len(), first.len());
    for (file, bytes) in &first {
        assert_ne!(&replaced[file], bytes, "{file} replaced");
    }
    let out = plugwire(tmp.path(), &["certs", "check", "--dir", "out"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

#[test]
fn bad_names_and_options_are_refused_before_anything_is_written() {
    let tmp = tempfile::tempdir().unwrap();
    for name in ["a b", "../escape", "a/b", "$HOME", "..", ".x"] {
        let out = plugwire(
            tmp.path(),
            &[
                "certs",
                "plugin",
                name,
                "--dir",
                "out",
                "--key-type",
                "ecdsa-p256",
            ],
        );
        assert_eq!(out.status.code(), Some(1), "{name}: {}", text(&out));
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("invalid plugin name"),
            "{}",
            text(&out)
        );
        assert!(!tmp.path().join("out").exists(), "{name}");
    }
    // Names whose DNS SANs would be invalid; `--` so that clap takes `-x` as the name.
    for name in ["a..b", "x.", "-x"] {
        let out = plugwire(
            tmp.path(),
            &[
                "certs", "plugin", "--dir", "out", ECDSA[0], ECDSA[1], "--", name,
            ],
        );
        assert_eq!(out.status.code(), Some(1), "{name}: {}", text(&out));
        assert!(
            text(&out).contains("invalid plugin name") && text(&out).contains("DNS label"),
            "{}",
            text(&out)
        );
        assert!(!tmp.path().join("out").exists(), "{name}");
    }
    for args in [
        vec!["certs", "plugin", "p", "--dir", "out", "--san", "DNS:-bad"],
        vec![
            "certs",
            "plugin",
            "p",
            "--dir",
            "out",
            "--san",
            "IP:not-an-ip",
        ],
        vec!["certs", "all", "--dir", "out", "--key-type", "dsa"],
        vec!["certs", "ca", "--dir", "out", "--days", "0"],
        vec!["certs", "gateway", "--dir", "out", "--san", "DNS:x"],
    ] {
        let out = plugwire(tmp.path(), &args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out));
        assert!(!tmp.path().join("out").exists(), "{args:?}");
    }
}

#[test]
fn plugin_creates_the_ca_first_and_carries_extra_sans() {
    let tmp = tempfile::tempdir().unwrap();
    let out = plugwire(
        tmp.path(),
        &[
            "certs",
            "plugin",
            "p",
            "--dir",
            "out",
            "--key-type",
            "ecdsa-p256",
            "--san",
            "IP:127.0.0.1",
            "--san",
            "DNS:p.plugins.svc",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("No CA in out/ca: creating it first"));
    assert!(!tmp.path().join("out/gateway").exists());
    let pem = fs::read(tmp.path().join("out/plugins/p/server.crt")).unwrap();
    let (_, block) = x509_parser::pem::parse_x509_pem(&pem).unwrap();
    let (_, cert) = X509Certificate::from_der(&block.contents).unwrap();
    let sans: Vec<String> = cert
        .subject_alternative_name()
        .unwrap()
        .unwrap()
        .value
        .general_names
        .iter()
        .map(|n| match n {
            GeneralName::DNSName(d) => format!("DNS:{d}"),
            GeneralName::IPAddress(b) => format!("IP:{b:?}"),
            other => format!("{other:?}"),
        })
        .collect();
    assert_eq!(
        sans,
        [
            "DNS:p",
            "DNS:mcp-plugin-p",
            "DNS:localhost",
            "IP:[127, 0, 0, 1]",
            "DNS:p.plugins.svc"
        ]
    );

    // The gateway subcommand then reuses that CA.
    let out = plugwire(
        tmp.path(),
        &[
            "certs",
            "gateway",
            "--dir",
            "out",
            "--key-type",
            "ecdsa-p256",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(!String::from_utf8_lossy(&out.stdout).contains("No CA"));
    let verify = Command::new("openssl")
        .current_dir(tmp.path())
        .args([
            "verify",
            "-CAfile",
            "out/ca/ca.crt",
            "out/gateway/client.crt",
            "out/plugins/p/server.crt",
        ])
        .output()
        .unwrap();
    assert!(verify.status.success(), "{}", text(&verify));
}

#[test]
fn check_exit_codes() {
    let tmp = tempfile::tempdir().unwrap();
    let check = |dir: &str, extra: &[&str]| {
        let mut args = vec!["certs", "check", "--dir", dir];
        args.extend(extra);
        plugwire(tmp.path(), &args)
    };

    // Fine.
    assert!(plugwire(
        tmp.path(),
        &["certs", "all", "--dir", "fine", "--key-type", "ecdsa-p256"]
    )
    .status
    .success());
    let out = check("fine", &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("days left"));

    // Soon expiring: --days 10 with --warn-days 30.
    assert!(plugwire(
        tmp.path(),
        &[
            "certs",
            "all",
            "--dir",
            "soon",
            "--key-type",
            "ecdsa-p256",
            "--days",
            "10"
        ]
    )
    .status
    .success());
    let out = check("soon", &["--warn-days", "30"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert_eq!(check("soon", &["--warn-days", "5"]).status.code(), Some(0));

    // Expired: made through the library with a past validity window.
    let past = plugwire_certs::Options {
        days: 5,
        not_before: Some(time::OffsetDateTime::now_utc() - time::Duration::days(30)),
        ..plugwire_certs::Options::ecdsa()
    };
    plugwire_certs::issue_all(tmp.path().join("expired"), &["p"], &past).unwrap();
    let out = check("expired", &["--json"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["exit_code"], 2);
    assert_eq!(json["status"], "error");
    assert!(json["certificates"][2]["days_remaining"].as_i64().unwrap() < 0);
    assert!(json["certificates"][2]["problems"][0]
        .as_str()
        .unwrap()
        .contains("expired"));

    // Foreign issuer: a plugin directory copied from another tree.
    fs::create_dir_all(tmp.path().join("fine/plugins/intruder")).unwrap();
    for file in ["server.crt", "server.key", "ca.crt"] {
        fs::copy(
            tmp.path().join("soon/plugins/example-plugin-a").join(file),
            tmp.path().join("fine/plugins/intruder").join(file),
        )
        .unwrap();
    }
    let out = check("fine", &[]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("not issued by the CA"),
        "{}",
        text(&out)
    );
}

#[test]
fn gateway_uri_san_and_revoke_from_the_command_line() {
    let tmp = tempfile::tempdir().unwrap();
    let spiffe = "spiffe://cluster.local/ns/gw/sa/gateway";
    let out = plugwire(
        tmp.path(),
        &[
            "certs",
            "gateway",
            "--dir",
            "c",
            ECDSA[0],
            ECDSA[1],
            "--uri-san",
            spiffe,
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let pem = fs::read(tmp.path().join("c/gateway/client.crt")).unwrap();
    let (_, block) = x509_parser::pem::parse_x509_pem(&pem).unwrap();
    let (_, cert) = X509Certificate::from_der(&block.contents).unwrap();
    let san = cert.subject_alternative_name().unwrap().unwrap();
    assert!(san
        .value
        .general_names
        .iter()
        .any(|n| matches!(n, GeneralName::URI(u) if *u == spiffe)));

    let bad = plugwire(
        tmp.path(),
        &["certs", "gateway", "--dir", "d", "--uri-san", "spiffe://"],
    );
    assert_eq!(bad.status.code(), Some(1), "{}", text(&bad));
    assert!(
        text(&bad).contains("--san \"URI:spiffe://\""),
        "{}",
        text(&bad)
    );

    let out = plugwire(tmp.path(), &["certs", "revoke", "gateway", "--dir", "c"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("Revoked") && text(&out).contains("ca.crl"),
        "{}",
        text(&out)
    );
    assert!(fs::read_to_string(tmp.path().join("c/ca/ca.crl"))
        .unwrap()
        .starts_with("-----BEGIN X509 CRL-----"));
    let check = plugwire(tmp.path(), &["certs", "check", "--dir", "c"]);
    assert_eq!(check.status.code(), Some(2), "{}", text(&check));
    assert!(text(&check).contains("revoked"), "{}", text(&check));

    let missing = plugwire(tmp.path(), &["certs", "revoke", "nope", "--dir", "c"]);
    assert_eq!(missing.status.code(), Some(1), "{}", text(&missing));
}

/// The tester's `plugin X --force` whose `ca.crt` cannot be replaced: exit 1, the OS error and
/// "nothing was changed" in the message (no writability hint), the old key and certificate
/// byte for byte.
#[test]
fn a_failed_force_names_the_os_error_and_keeps_the_old_files() {
    let tmp = tempfile::tempdir().unwrap();
    assert!(all(tmp.path(), &[]).status.success());
    let plugin = tmp.path().join("out/plugins/example-plugin-a");
    fs::remove_file(plugin.join("ca.crt")).unwrap();
    fs::create_dir_all(plugin.join("ca.crt/keep")).unwrap();
    let before = snapshot(&tmp.path().join("out"));
    let out = plugwire(
        tmp.path(),
        &[
            "certs",
            "plugin",
            "example-plugin-a",
            "--dir",
            "out",
            ECDSA[0],
            ECDSA[1],
            "--force",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cannot replace")
            && stderr.contains("os error")
            && stderr.contains("nothing was changed"),
        "{stderr}"
    );
    assert!(!stderr.contains("writable"), "{stderr}");
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("replaced"),
        "no identity is reported as replaced: {}",
        text(&out)
    );
    assert_eq!(snapshot(&tmp.path().join("out")), before);
}

/// A temporary file of a dead process: `check` lists it (stdout and JSON) and keeps exit 0; the
/// next writing run removes it and says so on stderr.
#[test]
fn a_stale_temporary_file_is_reported_by_check_and_removed_by_the_next_run() {
    let tmp = tempfile::tempdir().unwrap();
    assert!(all(tmp.path(), &[]).status.success());
    let pid_max = fs::read_to_string("/proc/sys/kernel/pid_max").unwrap();
    let name = format!("out/ca/.ca.key.tmp-{}-0", pid_max.trim());
    let stale = tmp.path().join(&name);
    fs::write(&stale, b"-----BEGIN PRIVATE KEY-----\n").unwrap();

    let out = plugwire(tmp.path(), &["certs", "check", "--dir", "out"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&name) && stdout.contains("may hold a private key"),
        "{stdout}"
    );
    let out = plugwire(tmp.path(), &["certs", "check", "--dir", "out", "--json"]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["exit_code"], 0);
    assert_eq!(json["leftover_files"][0]["path"], name.as_str());
    assert_eq!(json["leftover_files"][0]["process_running"], false);

    let out = plugwire(
        tmp.path(),
        &["certs", "gateway", "--dir", "out", ECDSA[0], ECDSA[1]],
    );
    assert!(out.status.success(), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("removed {name}")),
        "{}",
        text(&out)
    );
    assert!(!stale.exists());
}

/// Re-running `plugin X` on an expired identity keeps it, but the skip line says it expired and
/// how to renew it.
#[test]
fn an_expired_identity_is_skipped_with_its_expiry_and_the_renew_command() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("out");
    plugwire_certs::issue(
        &dir,
        &plugwire_certs::Request::ca(),
        &plugwire_certs::Options::ecdsa(),
        &(),
    )
    .unwrap();
    let past = plugwire_certs::Options {
        days: 5,
        not_before: Some(time::OffsetDateTime::now_utc() - time::Duration::days(30)),
        ..plugwire_certs::Options::ecdsa()
    };
    plugwire_certs::issue(&dir, &plugwire_certs::Request::plugin("old"), &past, &()).unwrap();
    let out = plugwire(
        tmp.path(),
        &["certs", "plugin", "old", "--dir", "out", ECDSA[0], ECDSA[1]],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .find(|l| l.contains("Existing plugin 'old'"))
        .unwrap_or_else(|| panic!("{}", text(&out)));
    assert!(
        line.contains("skipping")
            && line.contains("expired on")
            && line.contains("25 days ago")
            && line.contains("renew it with plugwire certs plugin old --force --dir out"),
        "{line}"
    );
}

/// SIGINT while an RSA run generates its keys: the handler exits 130 with a message, and
/// nothing (no temporary file, no directory) is left.
#[test]
fn sigint_during_a_run_exits_130_and_leaves_nothing() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;

    let tmp = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_plugwire"))
        .current_dir(tmp.path())
        .args(["certs", "all", "--dir", "out", "--key-type", "rsa4096"])
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut seen = String::new();
    while !seen.contains("Generating") {
        let mut line = String::new();
        assert_ne!(stdout.read_line(&mut line).unwrap(), 0, "{seen}");
        seen.push_str(&line);
    }
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{seen}\n{stderr}");
    assert!(stderr.contains("interrupted by SIGINT"), "{stderr}");
    assert!(!tmp.path().join("out").exists(), "nothing written");
}
