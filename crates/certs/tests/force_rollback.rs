//! Runs that fail part-way, and what interrupted runs leave behind: a failed `--force` keeps
//! every original file byte for byte (mode included), a failed `all` leaves the whole tree as it
//! was, an unwritable directory is refused before anything is generated, temporaries of dead
//! processes are reported by `check` and removed by the next run, plugin names and `--san DNS:`
//! follow one DNS-label rule, and an expired identity that is skipped says so.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Mutex;

use plugwire_certs::{
    check, issue, issue_all, CertsError, CheckOptions, Event, Expiry, Identity, Layout, Options,
    Request, Status,
};
use time::{Duration, OffsetDateTime};

fn force() -> Options {
    Options {
        force: true,
        ..Options::ecdsa()
    }
}

/// Every file under `dir` (hidden ones included) with its bytes and mode.
fn tree(dir: &Path) -> BTreeMap<String, (Vec<u8>, u32)> {
    common::files_under(dir)
        .into_iter()
        .map(|path| {
            let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o7777;
            let name = path.strip_prefix(dir).unwrap().display().to_string();
            (name, (fs::read(&path).unwrap(), mode))
        })
        .collect()
}

/// A non-empty directory where the file `path` was: renaming a file over it fails, so the run
/// fails at that file, after the files placed before it.
fn block_with_dir(path: &Path) {
    fs::remove_file(path).unwrap();
    fs::create_dir_all(path.join("keep")).unwrap();
}

/// Every progress event, as its Debug text.
#[derive(Default)]
struct Events(Mutex<Vec<String>>);

impl plugwire_certs::Progress for Events {
    fn event(&self, event: &Event<'_>) {
        self.0.lock().unwrap().push(format!("{event:?}"));
    }
}

impl Events {
    fn all(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }

    fn warnings(&self) -> Vec<String> {
        self.all()
            .into_iter()
            .filter(|e| e.starts_with("Warning"))
            .collect()
    }
}

/// A process number no process can have (process numbers are below pid_max).
fn dead_pid() -> u64 {
    fs::read_to_string("/proc/sys/kernel/pid_max")
        .expect("Linux /proc")
        .trim()
        .parse()
        .unwrap()
}

/// `plugin X --force` whose third file cannot be placed: the key and certificate it had already
/// replaced are put back exactly (content and the non-default mode), and the error names the OS
/// error and says the previous files were kept, without the writability hint.
#[test]
fn a_failed_plugin_force_keeps_the_old_key_and_certificate() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    issue_all(dir, &["p"], &Options::ecdsa()).unwrap();
    let p = Layout::new(dir).plugin("p");
    fs::set_permissions(&p.key, fs::Permissions::from_mode(0o640)).unwrap();
    block_with_dir(p.ca_copy.as_ref().unwrap());
    let before = tree(dir);

    let err = issue(dir, &Request::plugin("p"), &force(), &()).unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, CertsError::Replace { .. }), "{text}");
    assert!(
        text.contains("cannot replace") && text.contains("plugins/p/ca.crt"),
        "{text}"
    );
    assert!(text.contains("os error"), "the OS error is named: {text}");
    assert!(
        text.contains("nothing was changed")
            && text.contains("2 file(s) this run had already replaced were restored"),
        "{text}"
    );
    assert!(
        !text.contains("writable"),
        "not a permission problem: {text}"
    );
    assert_eq!(tree(dir), before, "every original file as it was");
}

/// `ca --force` failing on `ca.crt` after `ca.key` was replaced: the CA key survives.
#[test]
fn a_failed_ca_force_keeps_the_ca_key() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    issue_all(dir, &["p"], &Options::ecdsa()).unwrap();
    let layout = Layout::new(dir);
    let key = fs::read(layout.ca_key()).unwrap();
    block_with_dir(&layout.ca_cert());
    let before = tree(dir);

    let err = issue(dir, &Request::ca(), &force(), &()).unwrap_err();
    assert!(matches!(err, CertsError::Replace { .. }), "{err}");
    assert_eq!(
        fs::read(layout.ca_key()).unwrap(),
        key,
        "the CA key is kept"
    );
    assert_eq!(tree(dir), before);
}

/// `all --force` that fails on the last plugin: the CA, the gateway and the plugins replaced or
/// created before it are all taken back (a new plugin's directory too), so the tree is the old
/// one, and no identity is reported as written.
#[test]
fn a_late_failure_in_all_force_restores_every_identity_of_the_run() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    issue_all(dir, &["a", "b"], &Options::ecdsa()).unwrap();
    let layout = Layout::new(dir);
    block_with_dir(layout.plugin("b").ca_copy.as_ref().unwrap());
    let before = tree(dir);

    let events = Events::default();
    let err = issue(dir, &Request::all(&["a", "c", "b"]), &force(), &events).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("plugins/b/ca.crt"), "{text}");
    // CA 2 + gateway 4 + a 3 + b's key and certificate replaced; c's 3 created and removed.
    assert!(
        text.contains("the 11 file(s) this run had already replaced were restored")
            && text.contains("the 3 file(s) it had created were removed"),
        "{text}"
    );
    assert_eq!(
        tree(dir),
        before,
        "fully old: nothing replaced, no leftovers"
    );
    assert!(
        !layout.plugin("c").dir.exists(),
        "c's new directory removed"
    );
    let events = events.all();
    assert!(
        !events.iter().any(|e| e.starts_with("Written")),
        "{events:?}"
    );
}

/// `all --force` with a plugin directory that cannot take files is refused before any key is
/// generated or any file replaced, naming the directory. (A regular file where the directory
/// goes fails for root too; a read-only directory is tried when the tests run unprivileged.)
#[test]
fn an_unwritable_directory_is_refused_before_anything_is_generated_or_replaced() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    issue_all(dir, &["a", "b"], &Options::ecdsa()).unwrap();
    let layout = Layout::new(dir);
    let b = layout.plugin("b").dir;
    fs::remove_dir_all(&b).unwrap();
    fs::write(&b, b"not a directory").unwrap();
    let before = tree(dir);

    let events = Events::default();
    let err = issue(dir, &Request::all(&["a", "b"]), &force(), &events).unwrap_err();
    assert!(matches!(err, CertsError::NotWritable { .. }), "{err}");
    assert!(err.to_string().contains("plugins/b"), "{err}");
    assert!(err.to_string().contains("nothing was changed"), "{err}");
    assert_eq!(tree(dir), before);
    let events = events.all();
    assert!(
        !events.iter().any(|e| e.starts_with("KeygenStarted")),
        "refused before key generation: {events:?}"
    );

    // Read-only plugin directory: only meaningful without the privilege to ignore modes.
    fs::remove_file(&b).unwrap();
    issue(dir, &Request::plugin("b"), &Options::ecdsa(), &()).unwrap();
    fs::set_permissions(&b, fs::Permissions::from_mode(0o555)).unwrap();
    let privileged = fs::write(b.join("probe"), b"").is_ok();
    if privileged {
        fs::remove_file(b.join("probe")).unwrap();
    } else {
        let before = tree(dir);
        let err = issue(dir, &Request::all(&["a", "b"]), &force(), &()).unwrap_err();
        assert!(matches!(err, CertsError::NotWritable { .. }), "{err}");
        assert!(err.to_string().contains("plugins/b"), "{err}");
        assert_eq!(tree(dir), before);
    }
    fs::set_permissions(&b, fs::Permissions::from_mode(0o755)).unwrap();
}

/// Temporary files of ours whose process is gone are listed by `check` (as a warning that does
/// not change the exit code) and removed by the next run, which says so; those of a running
/// process and files that only look similar are left alone.
#[test]
fn stale_temporary_files_are_reported_by_check_and_removed_by_the_next_run() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    issue_all(dir, &["p"], &Options::ecdsa()).unwrap();
    let (dead, live) = (dead_pid(), std::process::id());
    let stale_key = format!("ca/.ca.key.tmp-{dead}-0");
    let stale_crt = format!("plugins/p/.server.crt.tmp-{dead}-3");
    let running = format!("ca/.ca.crt.tmp-{live}-0");
    let lookalikes = [
        format!("ca/.notes.tmp-{dead}-0"),
        format!("ca/ca.key.tmp-{dead}-0"),
        "ca/.ca.key.tmp-x-0".to_string(),
    ];
    for name in [&stale_key, &stale_crt, &running]
        .into_iter()
        .chain(&lookalikes)
    {
        fs::write(dir.join(name), b"-----BEGIN PRIVATE KEY-----\n").unwrap();
    }

    let report = check(dir, &CheckOptions::default());
    assert_eq!(
        report.status,
        Status::Ok,
        "leftovers do not change the verdict"
    );
    assert_eq!(report.exit_code, 0);
    let listed: Vec<(String, Option<bool>)> = report
        .leftover_files
        .iter()
        .map(|f| {
            let rel = f.path.strip_prefix(dir).unwrap().display().to_string();
            (rel, f.process_running)
        })
        .collect();
    assert_eq!(
        listed,
        [
            (running.clone(), Some(true)),
            (stale_key.clone(), Some(false)),
            (stale_crt.clone(), Some(false)),
        ]
    );
    let text = report.to_text();
    assert!(
        text.contains(&stale_key) && text.contains("it may hold a private key"),
        "{text}"
    );

    let events = Events::default();
    issue(dir, &Request::plugin("p"), &Options::ecdsa(), &events).unwrap();
    let warnings = events.warnings();
    for stale in [&stale_key, &stale_crt] {
        assert!(!dir.join(stale).exists(), "{stale} removed");
        assert!(
            warnings
                .iter()
                .any(|w| w.contains("removed") && w.contains(stale.as_str())),
            "{warnings:?}"
        );
    }
    assert!(
        dir.join(&running).exists(),
        "a running process's file stays"
    );
    for other in &lookalikes {
        assert!(dir.join(other).exists(), "{other} is not ours");
    }
    let report = check(dir, &CheckOptions::default());
    assert_eq!(
        report.leftover_files.len(),
        1,
        "{:?}",
        report.leftover_files
    );
}

/// Backups a killed run left: one whose file is missing is put back (before the run would
/// refuse the identity as incomplete); one that is a second name of the file in place is
/// removed; one holding a different previous version is kept and the user told how to restore it.
#[test]
fn backups_left_by_a_killed_run_are_restored_removed_or_reported() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    issue_all(dir, &["p"], &Options::ecdsa()).unwrap();
    let layout = Layout::new(dir);
    let dead = dead_pid();
    let ca_key = fs::read(layout.ca_key()).unwrap();
    let moved = layout.ca_dir().join(format!(".ca.key.bak-{dead}-7"));
    fs::rename(layout.ca_key(), &moved).unwrap();
    let p = layout.plugin("p");
    let linked = p.dir.join(format!(".server.key.bak-{dead}-8"));
    fs::hard_link(&p.key, &linked).unwrap();
    let previous = p.dir.join(format!(".server.crt.bak-{dead}-9"));
    fs::write(&previous, b"the old certificate").unwrap();

    let events = Events::default();
    issue(dir, &Request::gateway(), &Options::ecdsa(), &events).unwrap();
    assert_eq!(fs::read(layout.ca_key()).unwrap(), ca_key, "put back");
    assert!(!moved.exists() && !linked.exists());
    assert!(previous.exists(), "a different previous version is kept");
    let warnings = events.warnings().join("\n");
    assert!(warnings.contains("restored"), "{warnings}");
    assert!(
        warnings.contains(&format!("mv {}", previous.display())),
        "{warnings}"
    );
}

/// An identity kept although its certificate has expired, or expires within the warning
/// window, says so on its "exists" event, with the command that renews it; a valid one does not.
#[test]
fn a_skipped_identity_that_expires_says_so_with_the_renew_command() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    issue(dir, &Request::ca(), &Options::ecdsa(), &()).unwrap();
    let now = OffsetDateTime::now_utc();
    let dated = |not_before: OffsetDateTime, days| Options {
        not_before: Some(not_before),
        days,
        ..Options::ecdsa()
    };
    issue(
        dir,
        &Request::plugin("old"),
        &dated(now - Duration::days(10), 5),
        &(),
    )
    .unwrap();
    issue(
        dir,
        &Request::plugin("soon"),
        &dated(now - Duration::days(1), 11),
        &(),
    )
    .unwrap();
    issue(dir, &Request::plugin("fresh"), &Options::ecdsa(), &()).unwrap();

    let seen = Mutex::new(Vec::<(Identity, String, Option<Expiry>)>::new());
    let progress = |e: &Event<'_>| {
        if let Event::Exists {
            identity,
            hint,
            expiry,
            ..
        } = e
        {
            seen.lock()
                .unwrap()
                .push(((*identity).clone(), hint.to_string(), *expiry));
        }
    };
    let request = Request::all(&["old", "soon", "fresh"]);
    issue(dir, &request, &Options::ecdsa(), &progress).unwrap();
    let seen = seen.into_inner().unwrap();
    let find = |name: &str| {
        seen.iter()
            .find(|(i, _, _)| *i == Identity::Plugin(name.into()))
            .unwrap()
            .clone()
    };
    let (_, hint, old) = find("old");
    let old = old.expect("expired");
    assert!(old.expired && old.days_left <= -4, "{old:?}");
    assert!(old.to_string().starts_with("expired on"), "{old}");
    assert!(hint.contains("plugwire certs plugin old --force"), "{hint}");
    let soon = find("soon").2.expect("expires within 30 days");
    assert!(
        !soon.expired && (8..=10).contains(&soon.days_left),
        "{soon:?}"
    );
    assert!(soon.to_string().starts_with("expires on"), "{soon}");
    assert_eq!(find("fresh").2, None);
    let ca = seen.iter().find(|(i, _, _)| *i == Identity::Ca).unwrap();
    assert_eq!(ca.2, None, "the CA is valid for 825 days");
}

/// Plugin names whose DNS SANs would be invalid are refused with the DNS-label rule named, as
/// `--san DNS:` values with such labels are; the names in use (CamelCase, `_`, `.`) still work.
#[test]
fn plugin_names_and_dns_sans_follow_one_label_rule() {
    let tmp = tempfile::tempdir().unwrap();
    for name in ["a..b", "x.", "-x", "x-", "a.-b"] {
        let err = issue(tmp.path(), &Request::plugin(name), &Options::ecdsa(), &()).unwrap_err();
        let text = err.to_string();
        assert!(
            matches!(err, CertsError::InvalidPluginName { .. }),
            "{name}: {text}"
        );
        assert!(
            text.contains("DNS label") && text.contains("not starting or ending with '-'"),
            "{name}: {text}"
        );
    }
    assert_eq!(fs::read_dir(tmp.path()).unwrap().count(), 0);
    for san in ["DNS:-bad", "DNS:bad-", "DNS:ok.-bad"] {
        let err = san.parse::<plugwire_certs::San>().unwrap_err().to_string();
        assert!(err.contains("starts or ends with '-'"), "{san}: {err}");
    }
    issue_all(
        tmp.path(),
        &["DenyListPlugin", "example-plugin-a", "my_plugin.v2", "_x"],
        &Options::ecdsa(),
    )
    .unwrap();
}
