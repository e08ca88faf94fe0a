//! `plugwire_certs::interrupt()`, what the CLI's SIGINT/SIGTERM handler calls: it undoes the
//! files a run has written so far and stops the run. Alone in its test binary, because it acts
//! on every run of the process.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use plugwire_certs::{issue, issue_all, CertsError, Layout, Options, Request};

/// Files of ours that a run writes beside its targets (temporaries and backups).
fn side_files(dir: &Path) -> Vec<String> {
    common::files_under(dir)
        .into_iter()
        .filter(|path| {
            let name = path.file_name().unwrap().to_string_lossy();
            name.contains(".tmp-") || name.contains(".bak-")
        })
        .map(|path| path.display().to_string())
        .collect()
}

/// A run stopped in its write phase (it is reading an existing plugin's certificate, which is a
/// FIFO that nobody writes yet) after it created a new plugin: `interrupt()` removes that
/// plugin's files and directory, and the run, once it can go on, fails with `Interrupted`
/// instead of finishing.
#[test]
fn an_interrupt_in_the_write_phase_undoes_the_run_and_stops_it() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    issue_all(&dir, &["old"], &Options::ecdsa()).unwrap();
    let layout = Layout::new(&dir);
    let old = layout.plugin("old");
    let cert = fs::read(&old.cert).unwrap();
    fs::remove_file(&old.cert).unwrap();
    let mkfifo = Command::new("mkfifo").arg(&old.cert).status().unwrap();
    assert!(mkfifo.success());

    let run = {
        let dir = dir.clone();
        std::thread::spawn(move || {
            issue(&dir, &Request::all(&["new", "old"]), &Options::ecdsa(), &())
        })
    };
    // "new" is written first; then the run blocks opening "old"'s certificate.
    let new = layout.plugin("new");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !new.ca_copy.as_ref().unwrap().exists() {
        assert!(
            Instant::now() < deadline,
            "the run never wrote plugin 'new'"
        );
        std::thread::sleep(Duration::from_millis(5));
    }

    let undone = plugwire_certs::interrupt();
    assert_eq!(undone.removed, 3, "{undone:?}");
    assert!(undone.failures.is_empty(), "{undone:?}");
    assert!(
        !new.dir.exists(),
        "the new plugin's files and directory are gone"
    );

    // Let the run go on: it must not finish as if nothing happened.
    fs::write(&old.cert, &cert).unwrap();
    let result = run.join().unwrap();
    assert!(matches!(result, Err(CertsError::Interrupted)), "{result:?}");
    assert!(!new.dir.exists());
    assert!(side_files(&dir).is_empty(), "{:?}", side_files(&dir));
}
