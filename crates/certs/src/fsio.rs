//! Writing the tree so that a failure never leaves half of a run behind and never loses what was
//! there. Every file is written to a temporary file in its own directory (synced, given its final
//! mode), each existing file it replaces is kept as a backup (a hard link, or renamed aside), and
//! only then are the new files renamed into place. A [`Transaction`] spans a whole run (`all`
//! writes several identities): if any step fails, or the run is interrupted, every file the run
//! placed is taken back, every replaced file is restored from its backup (same inode: content,
//! mode and owner exactly as before), and the temporaries are removed. The backups are deleted
//! only when the whole run has succeeded.
//!
//! Side files are named `.<name>.tmp-<pid>-<n>` (temporaries, and `.plugwire-probe.tmp-…` for
//! the writability probe) and `.<name>.bak-<pid>-<n>` (backups), `<name>` being one of the file
//! names of the tree. `crate::leftovers` finds the ones a killed run left behind.

use std::fs::{self, OpenOptions, Permissions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};

use crate::error::{CertsError, Result};

/// Mode of private keys and of `client.pem` (it contains the key).
pub const KEY_MODE: u32 = 0o600;
/// Mode of certificates.
pub const CERT_MODE: u32 = 0o644;

/// The file names of the tree: the only names whose side files are recognised as ours.
pub(crate) const TREE_FILES: [&str; 8] = [
    "ca.key",
    "ca.crt",
    "ca.crl",
    "client.key",
    "client.crt",
    "client.pem",
    "server.key",
    "server.crt",
];
/// The name of the writability probe's temporary (`.plugwire-probe.tmp-<pid>-<n>`).
pub(crate) const PROBE: &str = "plugwire-probe";

/// One file to write.
#[derive(Debug)]
pub struct NewFile {
    pub path: PathBuf,
    pub contents: Vec<u8>,
    pub mode: u32,
    /// Fail instead of replacing a file that appeared since the caller looked (keys and
    /// certificates of new identities); otherwise an existing file is replaced atomically.
    pub no_clobber: bool,
}

/// Reads a file, naming it in the error.
pub fn read(path: &Path) -> Result<Vec<u8>> {
    fs::read(path).map_err(|source| CertsError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// Writes all `files` or none, on their own (a one-step run, e.g. the CRL).
pub fn write_all_or_nothing(files: &[NewFile]) -> Result<()> {
    let tx = Transaction::new();
    match tx.write(files) {
        Ok(()) => {
            tx.commit();
            Ok(())
        }
        Err(err) => Err(tx.rollback(err).0),
    }
}

/// `.<name>.<kind>-<pid>-<n>` beside `target`, unique within this process.
fn side_path(target: &Path, kind: &str) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let dir = target.parent().unwrap_or(Path::new("."));
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    dir.join(format!(
        ".{name}.{kind}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ))
}

/// What a run did, in order, so that it can be undone in reverse.
#[derive(Debug)]
enum Step {
    /// A directory this run created (removed again if empty).
    Dir(PathBuf),
    /// A temporary file (removed; gone already once it was renamed into place).
    Temp(PathBuf),
    /// The previous version of `target`, kept at `path`: a hard link (`moved: false`, `target`
    /// still names the same file until a new one is placed) or the file itself renamed aside.
    Backup {
        target: PathBuf,
        path: PathBuf,
        moved: bool,
        replaced: bool,
    },
    /// A new file placed where none was (removed on rollback); a replaced file is undone by its
    /// `Backup`.
    Created(PathBuf),
}

#[derive(Debug, Default)]
struct Journal {
    steps: Vec<Step>,
    /// Directories whose entries changed, synced on commit.
    dirs: Vec<PathBuf>,
    /// Set by [`interrupt`]: the run was undone and must not write again.
    aborted: bool,
}

/// Every transaction of this process that is not finished, for [`interrupt`].
static ACTIVE: Mutex<Vec<Weak<Mutex<Journal>>>> = Mutex::new(Vec::new());

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What a rollback did.
#[derive(Debug, Default, Clone)]
pub struct Undone {
    /// Replaced files put back from their backups.
    pub restored: usize,
    /// Files created by the run and removed again (temporaries not counted).
    pub removed: usize,
    /// Temporary files removed.
    pub temporaries: usize,
    /// What could not be undone, one sentence each (with the command that finishes the job).
    pub failures: Vec<String>,
}

impl Undone {
    /// "nothing was changed: …", for error messages.
    pub fn summary(&self) -> String {
        if !self.failures.is_empty() {
            return format!(
                "restoring the previous files failed: {}",
                self.failures.join("; ")
            );
        }
        let mut done = Vec::new();
        if self.restored > 0 {
            done.push(format!(
                "the {} file(s) this run had already replaced were restored",
                self.restored
            ));
        }
        if self.removed > 0 {
            done.push(format!(
                "the {} file(s) it had created were removed",
                self.removed
            ));
        }
        if done.is_empty() {
            "nothing was changed: the previous files were kept as they were".into()
        } else {
            format!(
                "nothing was changed: {}; the previous files are as they were",
                done.join(" and ")
            )
        }
    }

    fn add(&mut self, other: Undone) {
        self.restored += other.restored;
        self.removed += other.removed;
        self.temporaries += other.temporaries;
        self.failures.extend(other.failures);
    }
}

/// Undoes `steps` in reverse order.
fn undo(steps: Vec<Step>) -> Undone {
    let mut undone = Undone::default();
    for step in steps.into_iter().rev() {
        match step {
            Step::Temp(path) => match fs::remove_file(&path) {
                Ok(()) => undone.temporaries += 1,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => undone.failures.push(format!(
                    "cannot remove the temporary file {}: {e}; delete it",
                    path.display()
                )),
            },
            Step::Created(path) => match fs::remove_file(&path) {
                Ok(()) => undone.removed += 1,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => undone.failures.push(format!(
                    "cannot remove {} (created by this run): {e}",
                    path.display()
                )),
            },
            Step::Backup {
                target,
                path,
                moved,
                replaced,
            } => {
                if replaced || moved {
                    match fs::rename(&path, &target) {
                        Ok(()) => undone.restored += usize::from(replaced),
                        Err(e) => undone.failures.push(format!(
                            "cannot restore {} from {}: {e}; restore it with `mv {} {}`",
                            target.display(),
                            path.display(),
                            path.display(),
                            target.display()
                        )),
                    }
                } else if let Err(e) = fs::remove_file(&path) {
                    // A hard link to the file that is still in place: nothing is lost.
                    undone.failures.push(format!(
                        "cannot remove the backup {} (a second name of {}): {e}; delete it",
                        path.display(),
                        target.display()
                    ));
                }
            }
            Step::Dir(dir) => {
                // Only if empty: a directory holding anything else is left alone.
                let _ = fs::remove_dir(&dir);
            }
        }
    }
    undone
}

/// The writes of one run. Dropping it without [`commit`](Self::commit) undoes them.
#[derive(Debug)]
pub(crate) struct Transaction {
    journal: Arc<Mutex<Journal>>,
}

impl Transaction {
    pub(crate) fn new() -> Self {
        let journal = Arc::new(Mutex::new(Journal::default()));
        let mut active = lock(&ACTIVE);
        active.retain(|w| w.strong_count() > 0);
        active.push(Arc::downgrade(&journal));
        Self { journal }
    }

    /// The journal, refusing further writes once the run was interrupted.
    fn open(&self) -> Result<MutexGuard<'_, Journal>> {
        let journal = lock(&self.journal);
        if journal.aborted {
            return Err(CertsError::Interrupted);
        }
        Ok(journal)
    }

    /// Creates `dir` and its parents (mode from the umask, as `mkdir -p`); the ones created are
    /// removed again on rollback if they are empty.
    pub(crate) fn create_dir(&self, dir: &Path) -> Result<()> {
        let mut journal = self.open()?;
        let mut missing = Vec::new();
        let mut at = Some(dir);
        while let Some(d) = at.filter(|d| !d.as_os_str().is_empty() && !d.exists()) {
            missing.push(d.to_path_buf());
            at = d.parent();
        }
        fs::create_dir_all(dir).map_err(|source| CertsError::Write {
            path: dir.to_path_buf(),
            source,
        })?;
        journal
            .steps
            .extend(missing.into_iter().rev().map(Step::Dir));
        Ok(())
    }

    /// Writes all `files` (one identity): temporaries, then a backup of every file that is
    /// replaced, then the renames. On an error the caller rolls the whole run back.
    pub(crate) fn write(&self, files: &[NewFile]) -> Result<()> {
        let mut journal = self.open()?;
        let journal = &mut *journal;
        let mut temps = Vec::with_capacity(files.len());
        for file in files {
            let tmp = side_path(&file.path, "tmp");
            journal.steps.push(Step::Temp(tmp.clone()));
            write_temp(file, &tmp)?;
            temps.push(tmp);
        }
        for file in files.iter().filter(|f| !f.no_clobber) {
            backup(file, &mut journal.steps)?;
        }
        for (tmp, file) in temps.iter().zip(files) {
            place(tmp, file, &mut journal.steps)?;
            if let Some(dir) = file.path.parent() {
                if !journal.dirs.iter().any(|d| d == dir) {
                    journal.dirs.push(dir.to_path_buf());
                }
            }
        }
        Ok(())
    }

    /// `Err(Interrupted)` once [`interrupt`] undid this run (it may have been waiting outside
    /// a write, e.g. reading a file, when the signal came).
    pub(crate) fn check_not_interrupted(&self) -> Result<()> {
        self.open().map(drop)
    }

    /// Makes the run final: deletes the backups and syncs the directories. Returns what could
    /// not be cleaned up (the new files are in place either way).
    pub(crate) fn commit(self) -> Vec<String> {
        let mut journal = lock(&self.journal);
        let mut problems = Vec::new();
        for step in std::mem::take(&mut journal.steps) {
            let leftover = match step {
                Step::Backup { path, .. } | Step::Temp(path) => path,
                Step::Dir(_) | Step::Created(_) => continue,
            };
            match fs::remove_file(&leftover) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => problems.push(format!(
                    "cannot remove {} (the previous version of a replaced file): {e}; delete it",
                    leftover.display()
                )),
            }
        }
        for dir in std::mem::take(&mut journal.dirs) {
            // Make the renames durable; a failure here loses nothing that is not on disk.
            if let Ok(handle) = fs::File::open(&dir) {
                let _ = handle.sync_all();
            }
        }
        problems
    }

    /// Undoes the run after `err`; a [`CertsError::Replace`] learns what was restored.
    pub(crate) fn rollback(self, err: CertsError) -> (CertsError, Undone) {
        let undone = {
            let mut journal = lock(&self.journal);
            let steps = std::mem::take(&mut journal.steps);
            undo(steps)
        };
        let err = match err {
            CertsError::Replace { path, source, .. } => CertsError::Replace {
                path,
                source,
                kept: undone.summary(),
            },
            other => other,
        };
        (err, undone)
    }
}

impl Drop for Transaction {
    fn drop(&mut self) {
        // Not committed (an early return or a panic): undo whatever is still recorded.
        let steps = std::mem::take(&mut lock(&self.journal).steps);
        let _ = undo(steps);
    }
}

/// Undoes every unfinished write of this process (for a SIGINT/SIGTERM handler, which then
/// exits): temporaries removed, replaced files restored, created files removed. The runs
/// concerned fail with [`CertsError::Interrupted`] if they try to write again.
pub fn interrupt() -> Undone {
    let journals: Vec<Arc<Mutex<Journal>>> =
        lock(&ACTIVE).iter().filter_map(Weak::upgrade).collect();
    let mut undone = Undone::default();
    for journal in journals {
        let mut journal = lock(&journal);
        journal.aborted = true;
        let steps = std::mem::take(&mut journal.steps);
        undone.add(undo(steps));
    }
    undone
}

/// Checks that files can be created in `dir` (or, if it does not exist yet, in the nearest
/// existing ancestor) by creating and removing a probe file.
pub(crate) fn probe(dir: &Path) -> Result<()> {
    let not_writable = |source: io::Error| CertsError::NotWritable {
        dir: dir.to_path_buf(),
        source,
    };
    let mut existing = dir;
    while !existing.as_os_str().is_empty() && fs::symlink_metadata(existing).is_err() {
        match existing.parent() {
            Some(parent) => existing = parent,
            None => break,
        }
    }
    if existing.as_os_str().is_empty() {
        existing = Path::new(".");
    }
    if !existing.is_dir() {
        return Err(not_writable(io::Error::new(
            io::ErrorKind::NotADirectory,
            format!("{} is not a directory", existing.display()),
        )));
    }
    let probe = side_path(&existing.join(PROBE), "tmp");
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(KEY_MODE)
        .open(&probe)
        .map_err(not_writable)?;
    fs::remove_file(&probe).map_err(not_writable)
}

/// Writes one temporary file with the final mode (set explicitly, so the umask cannot loosen or
/// tighten it) and syncs it.
fn write_temp(file: &NewFile, tmp: &Path) -> Result<()> {
    let result = (|| {
        // Created 0600 so a key is never readable by others, not even for an instant.
        let mut handle = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(KEY_MODE)
            .open(tmp)?;
        handle.write_all(&file.contents)?;
        handle.set_permissions(Permissions::from_mode(file.mode))?;
        handle.sync_all()
    })();
    result.map_err(|source| CertsError::Write {
        path: file.path.clone(),
        source,
    })
}

/// Keeps the file `file` replaces: a hard link (the name keeps pointing at it until the new file
/// is placed), or, where links are refused, the file renamed aside. A directory is not backed up:
/// renaming a file over it fails, and the run is rolled back.
fn backup(file: &NewFile, steps: &mut Vec<Step>) -> Result<()> {
    let replace_err = |source| CertsError::Replace {
        path: file.path.clone(),
        source,
        kept: String::new(),
    };
    match fs::symlink_metadata(&file.path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(replace_err(e)),
        Ok(meta) if meta.is_dir() => return Ok(()),
        Ok(_) => {}
    }
    let path = side_path(&file.path, "bak");
    let moved = match fs::hard_link(&file.path, &path) {
        Ok(()) => false,
        Err(_) => {
            fs::rename(&file.path, &path).map_err(replace_err)?;
            true
        }
    };
    steps.push(Step::Backup {
        target: file.path.clone(),
        path,
        moved,
        replaced: false,
    });
    Ok(())
}

/// Puts one temporary in place: rename(2) over a replaced file, link(2) for a new one (it never
/// replaces a file that appeared meanwhile).
fn place(tmp: &Path, file: &NewFile, steps: &mut Vec<Step>) -> Result<()> {
    if file.no_clobber {
        match fs::hard_link(tmp, &file.path) {
            Ok(()) => {
                steps.push(Step::Created(file.path.clone()));
                let _ = fs::remove_file(tmp);
                Ok(())
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Err(CertsError::Appeared {
                path: file.path.clone(),
            }),
            Err(source) => Err(CertsError::Write {
                path: file.path.clone(),
                source,
            }),
        }
    } else {
        let existed = steps.iter_mut().rev().find_map(|s| match s {
            Step::Backup {
                target, replaced, ..
            } if target == &file.path && !*replaced => Some(replaced),
            _ => None,
        });
        let had_backup = existed.is_some();
        fs::rename(tmp, &file.path).map_err(|source| CertsError::Replace {
            path: file.path.clone(),
            source,
            kept: String::new(),
        })?;
        if let Some(replaced) = existed {
            *replaced = true;
        }
        if !had_backup {
            steps.push(Step::Created(file.path.clone()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new_file(path: PathBuf, contents: &[u8], mode: u32, no_clobber: bool) -> NewFile {
        NewFile {
            path,
            contents: contents.to_vec(),
            mode,
            no_clobber,
        }
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn writes_with_exact_modes_and_leaves_no_temporaries() {
        let dir = tempfile::tempdir().unwrap();
        let files = [
            new_file(dir.path().join("a.key"), b"k", KEY_MODE, true),
            new_file(dir.path().join("a.crt"), b"c", CERT_MODE, false),
        ];
        write_all_or_nothing(&files).unwrap();
        let mode = |p: &str| {
            fs::metadata(dir.path().join(p))
                .unwrap()
                .permissions()
                .mode()
                & 0o777
        };
        assert_eq!(mode("a.key"), 0o600);
        assert_eq!(mode("a.crt"), 0o644);
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 2);
    }

    #[test]
    fn a_failing_file_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let files = [
            new_file(dir.path().join("a.key"), b"k", KEY_MODE, true),
            new_file(dir.path().join("missing/a.crt"), b"c", CERT_MODE, false),
        ];
        let err = write_all_or_nothing(&files).unwrap_err();
        assert!(err.to_string().contains("missing/a.crt"), "{err}");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn no_clobber_refuses_a_file_that_appeared_and_rolls_back() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("b.crt"), b"someone else's").unwrap();
        let files = [
            new_file(dir.path().join("a.key"), b"k", KEY_MODE, true),
            new_file(dir.path().join("b.crt"), b"c", CERT_MODE, true),
        ];
        let err = write_all_or_nothing(&files).unwrap_err();
        assert!(matches!(err, CertsError::Appeared { .. }), "{err}");
        assert!(err.to_string().contains("b.crt"), "{err}");
        assert_eq!(
            fs::read(dir.path().join("b.crt")).unwrap(),
            b"someone else's"
        );
        assert_eq!(names(dir.path()), ["b.crt"], "a.key rolled back");
    }

    /// A replacement that fails on its last file puts the files it had already replaced back:
    /// same content, same mode, and no temporaries or backups remain.
    #[test]
    fn a_failed_replacement_restores_the_replaced_files() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("server.key");
        fs::write(&key, b"old key").unwrap();
        fs::set_permissions(&key, Permissions::from_mode(0o640)).unwrap();
        // A non-empty directory where the last file goes: rename(2) over it fails.
        fs::create_dir_all(dir.path().join("ca.crt/inside")).unwrap();
        let files = [
            new_file(key.clone(), b"new key", KEY_MODE, false),
            new_file(dir.path().join("ca.crt"), b"c", CERT_MODE, false),
        ];
        let err = write_all_or_nothing(&files).unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, CertsError::Replace { .. }), "{text}");
        assert!(
            text.contains("ca.crt") && text.contains("os error"),
            "{text}"
        );
        assert!(text.contains("were restored"), "{text}");
        assert_eq!(fs::read(&key).unwrap(), b"old key");
        assert_eq!(
            fs::metadata(&key).unwrap().permissions().mode() & 0o777,
            0o640
        );
        assert_eq!(names(dir.path()), ["ca.crt", "server.key"]);
    }
}
