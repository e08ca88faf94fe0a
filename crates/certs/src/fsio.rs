//! Writing an identity's files so that a failure never leaves half of it behind: every file is
//! written to a temporary file in its own directory, synced, given its final mode, and only
//! then renamed into place.

use std::fs::{self, OpenOptions, Permissions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{CertsError, Result};

/// Mode of private keys and of `client.pem` (it contains the key).
pub const KEY_MODE: u32 = 0o600;
/// Mode of certificates.
pub const CERT_MODE: u32 = 0o644;

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

/// Creates `dir` and its parents (mode from the umask, as `mkdir -p`).
pub fn create_dir(dir: &Path) -> Result<()> {
    fs::create_dir_all(dir).map_err(|source| CertsError::Write {
        path: dir.to_path_buf(),
        source,
    })
}

/// Writes all `files` or none: temporaries first, then renames (or links, for `no_clobber`).
/// If one cannot be put in place, the files already placed by this call are removed again.
pub fn write_all_or_nothing(files: &[NewFile]) -> Result<()> {
    let mut temps: Vec<(PathBuf, &NewFile)> = Vec::with_capacity(files.len());
    for file in files {
        match write_temp(file) {
            Ok(tmp) => temps.push((tmp, file)),
            Err(err) => {
                for (tmp, _) in &temps {
                    let _ = fs::remove_file(tmp);
                }
                return Err(err);
            }
        }
    }
    let mut done: Vec<&Path> = Vec::new();
    for (index, (tmp, file)) in temps.iter().enumerate() {
        let placed = if file.no_clobber {
            // link(2) never replaces an existing name, unlike rename(2).
            fs::hard_link(tmp, &file.path).map(|()| {
                let _ = fs::remove_file(tmp);
            })
        } else {
            fs::rename(tmp, &file.path)
        };
        if let Err(source) = placed {
            for (tmp, _) in &temps[index..] {
                let _ = fs::remove_file(tmp);
            }
            for path in done {
                let _ = fs::remove_file(path);
            }
            if file.no_clobber && source.kind() == std::io::ErrorKind::AlreadyExists {
                return Err(CertsError::Appeared {
                    path: file.path.clone(),
                });
            }
            return Err(CertsError::Write {
                path: file.path.clone(),
                source,
            });
        }
        done.push(&file.path);
    }
    if let Some(dir) = files.first().and_then(|f| f.path.parent()) {
        // Make the renames durable; a failure here loses nothing that is not already on disk.
        if let Ok(handle) = fs::File::open(dir) {
            let _ = handle.sync_all();
        }
    }
    Ok(())
}

/// Writes one temporary file beside its target with the final mode (set explicitly, so the
/// umask cannot loosen or tighten it) and syncs it.
fn write_temp(file: &NewFile) -> Result<PathBuf> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let dir = file.path.parent().unwrap_or(Path::new("."));
    let name = file
        .path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(
        ".{name}.tmp-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let err = |source| CertsError::Write {
        path: file.path.clone(),
        source,
    };
    let result = (|| {
        // Created 0600 so a key is never readable by others, not even for an instant.
        let mut handle = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(KEY_MODE)
            .open(&tmp)?;
        handle.write_all(&file.contents)?;
        handle.set_permissions(Permissions::from_mode(file.mode))?;
        handle.sync_all()
    })();
    match result {
        Ok(()) => Ok(tmp),
        Err(source) => {
            let _ = fs::remove_file(&tmp);
            Err(err(source))
        }
    }
}

/// Reads a file, naming it in the error.
pub fn read(path: &Path) -> Result<Vec<u8>> {
    fs::read(path).map_err(|source| CertsError::Read {
        path: path.to_path_buf(),
        source,
    })
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
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["b.crt"], "a.key rolled back, no temporaries");
    }
}
