//! What triggers a reload, how each one is logged, and the directory watcher that sees a file
//! change the moment it happens.
//!
//! Directories are watched, not files: Kubernetes updates a mounted Secret or ConfigMap by
//! writing a new hidden directory and renaming the `..data` symlink over the old one, so the
//! configured file's own inode never changes and a watch on it would see nothing. A watch on
//! its directory sees the rename. Whatever happens in a watched directory only *wakes* the
//! reloader, which then compares file contents, so unrelated files (editor swap files, other
//! keys of the Secret) cost one comparison and no reload.
//!
//! The plugins YAML (`plugwire serve --watch-config`) uses the same watcher and the same log
//! event, so an operator filters one event name for every reload.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use notify::{RecommendedWatcher, RecursiveMode, Watcher};
use tokio::sync::Notify;

/// How long to wait after the first event before re-reading: a rotation writes several files
/// (certificate, key) and an editor writes in several steps; re-reading at the first event
/// would often see half of it and log a spurious failure.
pub const SETTLE: Duration = Duration::from_millis(150);

/// Why a reload ran; a field of the reload log event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReloadTrigger {
    /// The operator sent SIGHUP.
    Signal,
    /// The directory watcher saw a change.
    Watch,
    /// The periodic poll (the fallback for file systems without change events).
    Poll,
    /// A direct call (embedding, tests).
    Call,
}

impl ReloadTrigger {
    /// The value of the `trigger` field.
    pub fn as_str(self) -> &'static str {
        match self {
            ReloadTrigger::Signal => "SIGHUP",
            ReloadTrigger::Watch => "watch",
            ReloadTrigger::Poll => "poll",
            ReloadTrigger::Call => "call",
        }
    }
}

impl fmt::Display for ReloadTrigger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The result of one reload attempt, as logged.
pub enum ReloadOutcome<'a> {
    /// The new material is in use.
    Reloaded,
    /// Asked for (SIGHUP) but the files are as they were.
    Unchanged,
    /// The new material does not build; the previous one stays in use.
    Failed(&'a dyn fmt::Display),
}

/// Logs one reload attempt as one structured event with the fields `what` (`tls`, `config`),
/// `file`, `trigger`, `result` (`reloaded`, `unchanged`, `failed`) and, on failure, `error`.
/// A failed plugins-config reload is an ERROR (the operator's change was refused); a failed
/// certificate reload a WARN (usually a rotation caught half-written, retried on the next
/// change).
pub fn log_reload(what: &'static str, file: &Path, trigger: ReloadTrigger, outcome: ReloadOutcome) {
    let file = file.display();
    match outcome {
        ReloadOutcome::Reloaded => {
            tracing::info!(what, %file, %trigger, result = "reloaded", "{what} reloaded from {file}");
        }
        ReloadOutcome::Unchanged => {
            tracing::info!(what, %file, %trigger, result = "unchanged", "{what} reload: {file} unchanged");
        }
        ReloadOutcome::Failed(error) if what == "config" => {
            tracing::error!(what, %file, %trigger, result = "failed", %error, "{what} reload from {file} failed; still serving the previous one");
        }
        ReloadOutcome::Failed(error) => {
            tracing::warn!(what, %file, %trigger, result = "failed", %error, "{what} reload from {file} failed; still serving the previous one");
        }
    }
}

/// Watches the directories of some files and wakes [`DirWatch::changed`] on any event there.
/// Dropping it stops the watch.
pub struct DirWatch {
    _watcher: RecommendedWatcher,
    wake: Arc<Notify>,
    dirs: Vec<PathBuf>,
}

impl fmt::Debug for DirWatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DirWatch")
            .field("dirs", &self.dirs)
            .finish()
    }
}

/// The directories to watch for `files`: each one's directory as configured (where a
/// Kubernetes `..data` swap happens) and, when the file is a symlink into another directory,
/// that directory too (where an in-place edit of the target happens).
fn dirs_of(files: &[&Path]) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = Vec::new();
    for f in files {
        let parent = |p: &Path| match p.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let mut found = vec![parent(f)];
        if let Ok(real) = std::fs::canonicalize(f) {
            found.push(parent(&real));
        }
        for d in found {
            if !dirs.contains(&d) {
                dirs.push(d);
            }
        }
    }
    dirs
}

impl DirWatch {
    /// Starts watching the directories of `files` (not recursively).
    pub fn new(files: &[&Path]) -> Result<Self, notify::Error> {
        let wake = Arc::new(Notify::new());
        let waker = Arc::clone(&wake);
        let mut watcher =
            notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
                // Access events (a read of a watched file, ours included) change nothing.
                if let Ok(e) = &event {
                    if matches!(e.kind, notify::EventKind::Access(_)) {
                        return;
                    }
                }
                // An error (e.g. the event queue overflowed) may hide a change: look anyway.
                waker.notify_one();
            })?;
        let dirs = dirs_of(files);
        for d in &dirs {
            watcher.watch(d, RecursiveMode::NonRecursive)?;
        }
        Ok(DirWatch {
            _watcher: watcher,
            wake,
            dirs,
        })
    }

    /// The watched directories.
    pub fn dirs(&self) -> &[PathBuf] {
        &self.dirs
    }

    /// Completes after something changed in a watched directory (events that arrived while
    /// nobody waited are kept as one wake-up), then [`SETTLE`] later.
    pub async fn changed(&self) {
        self.wake.notified().await;
        tokio::time::sleep(SETTLE).await;
    }
}
