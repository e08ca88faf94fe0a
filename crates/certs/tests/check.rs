//! `check` verdicts and exit codes on real trees: fine, soon-expiring, expired, not yet valid,
//! foreign issuer, and the key/copy problems that would break a handshake.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;

use plugwire_certs::{check, issue, issue_all, CheckOptions, Layout, Options, Request, Status};
use time::{Duration, OffsetDateTime};

fn opts(warn_days: u32) -> CheckOptions {
    CheckOptions {
        warn_days,
        now: None,
    }
}

fn problems(report: &plugwire_certs::CheckReport) -> String {
    report
        .certificates
        .iter()
        .flat_map(|c| {
            c.problems
                .iter()
                .map(move |p| format!("{}: {p}", c.path.display()))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn a_fresh_tree_is_fine() {
    let tmp = tempfile::tempdir().unwrap();
    issue_all(tmp.path(), &["b", "a"], &Options::ecdsa()).unwrap();
    let report = check(tmp.path(), &opts(30));
    assert_eq!(report.exit_code, 0, "{}", problems(&report));
    let roles: Vec<_> = report
        .certificates
        .iter()
        .map(|c| c.name.clone().unwrap_or(c.role.to_string()))
        .collect();
    assert_eq!(roles, ["ca", "gateway", "a", "b"]);
    for cert in &report.certificates {
        assert_eq!(cert.status, Status::Ok);
        assert!(matches!(cert.days_remaining, Some(824 | 825)), "{cert:?}");
        assert!(cert.subject.as_deref().unwrap().starts_with("CN="));
    }
    let json = report.to_json();
    assert_eq!(json["exit_code"], 0);
    assert_eq!(json["certificates"][2]["name"], "a");
    assert_eq!(json["certificates"][0]["status"], "ok");
    assert!(
        report.to_text().contains("824 days left") || report.to_text().contains("825 days left")
    );
}

#[test]
fn soon_expiring_is_a_warning() {
    let tmp = tempfile::tempdir().unwrap();
    issue_all(
        tmp.path(),
        &["p"],
        &Options {
            days: 10,
            ..Options::ecdsa()
        },
    )
    .unwrap();
    let report = check(tmp.path(), &opts(30));
    assert_eq!(report.status, Status::Warning);
    assert_eq!(report.exit_code, 1);
    assert!(
        problems(&report).contains("within the 30-day warning window"),
        "{}",
        problems(&report)
    );
    // Outside a smaller window it is fine again.
    assert_eq!(check(tmp.path(), &opts(5)).exit_code, 0);
}

#[test]
fn expired_and_not_yet_valid_are_errors() {
    let tmp = tempfile::tempdir().unwrap();
    issue_all(tmp.path(), &["fresh"], &Options::ecdsa()).unwrap();
    let past = Options {
        days: 10,
        not_before: Some(OffsetDateTime::now_utc() - Duration::days(20)),
        ..Options::ecdsa()
    };
    issue(tmp.path(), &Request::plugin("old"), &past, &()).unwrap();
    let report = check(tmp.path(), &opts(30));
    assert_eq!(report.exit_code, 2);
    let old = report
        .certificates
        .iter()
        .find(|c| c.name.as_deref() == Some("old"))
        .unwrap();
    assert_eq!(old.status, Status::Error);
    assert!(old.days_remaining.unwrap() < 0);
    assert!(old.problems[0].contains("expired on"), "{:?}", old.problems);
    let fresh = report
        .certificates
        .iter()
        .find(|c| c.name.as_deref() == Some("fresh"))
        .unwrap();
    assert_eq!(fresh.status, Status::Ok);

    let future = Options {
        not_before: Some(OffsetDateTime::now_utc() + Duration::days(2)),
        ..Options::ecdsa()
    };
    let tmp2 = tempfile::tempdir().unwrap();
    issue_all(tmp2.path(), &["p"], &future).unwrap();
    let report = check(tmp2.path(), &opts(30));
    assert_eq!(report.exit_code, 2);
    assert!(
        problems(&report).contains("not valid yet"),
        "{}",
        problems(&report)
    );
}

#[test]
fn a_certificate_from_another_ca_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let (ours, theirs) = (tmp.path().join("ours"), tmp.path().join("theirs"));
    issue_all(&ours, &["p"], &Options::ecdsa()).unwrap();
    issue_all(&theirs, &["x"], &Options::ecdsa()).unwrap();
    let src = Layout::new(&theirs).plugin("x");
    let dst = Layout::new(&ours).plugin("x");
    fs::create_dir_all(&dst.dir).unwrap();
    for (a, b) in [
        (&src.cert, &dst.cert),
        (&src.key, &dst.key),
        (src.ca_copy.as_ref().unwrap(), dst.ca_copy.as_ref().unwrap()),
    ] {
        fs::copy(a, b).unwrap();
    }
    let report = check(&ours, &opts(30));
    assert_eq!(report.exit_code, 2);
    let x = report
        .certificates
        .iter()
        .find(|c| c.name.as_deref() == Some("x"))
        .unwrap();
    assert!(
        x.problems
            .iter()
            .any(|p| p.contains("not issued by the CA")),
        "{:?}",
        x.problems
    );
    assert!(
        x.problems.iter().any(|p| p.contains("ca.crt differs")),
        "{:?}",
        x.problems
    );
    let p = report
        .certificates
        .iter()
        .find(|c| c.name.as_deref() == Some("p"))
        .unwrap();
    assert_eq!(p.status, Status::Ok);
}

#[test]
fn key_problems_and_missing_material_are_errors() {
    let tmp = tempfile::tempdir().unwrap();
    issue_all(tmp.path(), &["a", "b"], &Options::ecdsa()).unwrap();
    let layout = Layout::new(tmp.path());
    fs::copy(layout.plugin("b").key, layout.plugin("a").key).unwrap();
    fs::remove_file(layout.gateway().key).unwrap();
    let text = problems(&check(tmp.path(), &opts(30)));
    assert!(
        text.contains("server.key does not belong to this certificate"),
        "{text}"
    );
    assert!(text.contains("client.key is missing"), "{text}");

    // Nothing at all: the CA and gateway are reported missing, exit 2.
    let empty = tempfile::tempdir().unwrap();
    let report = check(&empty.path().join("nope"), &opts(30));
    assert_eq!(report.exit_code, 2);
    assert_eq!(report.certificates.len(), 2);

    // Garbage instead of a certificate.
    fs::write(layout.plugin("b").cert, "not a certificate").unwrap();
    let report = check(tmp.path(), &opts(30));
    let b = report
        .certificates
        .iter()
        .find(|c| c.name.as_deref() == Some("b"))
        .unwrap();
    assert!(b.problems[0].contains("unreadable"), "{:?}", b.problems);
}
