//! Side files a killed `plugwire certs` run left in the tree (temporaries `.<name>.tmp-<pid>-<n>`
//! and backups `.<name>.bak-<pid>-<n>`, see `crate::fsio`): [`leftovers`] lists them for
//! `check`, [`sweep`] cleans up after runs whose process is gone before a new run writes.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::fsio::{PROBE, TREE_FILES};
use crate::layout::Layout;

/// A side file of ours (temporary or backup), recognised by its exact name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SideFile {
    pub(crate) path: PathBuf,
    /// The file it is the temporary or backup of (the probe for probes).
    pub(crate) target: PathBuf,
    /// The process that wrote it.
    pub(crate) pid: u32,
    /// A backup (`.bak-`) rather than a temporary (`.tmp-`).
    pub(crate) backup: bool,
}

impl SideFile {
    /// Parses `.<name>.tmp-<pid>-<n>` / `.<name>.bak-<pid>-<n>` with `<name>` a file of the tree.
    fn parse(dir: &Path, file_name: &str) -> Option<Self> {
        let rest = file_name.strip_prefix('.')?;
        let (rest, counter) = rest.rsplit_once('-')?;
        let (rest, pid) = rest.rsplit_once('-')?;
        let (name, kind) = rest.rsplit_once('.')?;
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if !digits(counter) || !digits(pid) {
            return None;
        }
        let backup = match kind {
            "tmp" => false,
            "bak" => true,
            _ => return None,
        };
        if !(TREE_FILES.contains(&name) || (name == PROBE && !backup)) {
            return None;
        }
        Some(SideFile {
            path: dir.join(file_name),
            target: dir.join(name),
            pid: pid.parse().ok()?,
            backup,
        })
    }

    /// Whether its process still runs: `None` when that cannot be told (no `/proc`).
    pub(crate) fn process_running(&self) -> Option<bool> {
        if self.pid == std::process::id() {
            return Some(true);
        }
        if !Path::new("/proc/self").exists() {
            return None;
        }
        Some(Path::new("/proc").join(self.pid.to_string()).exists())
    }
}

/// Every side file of ours in the tree's directories (root, `ca/`, `gateway/`, `plugins/`,
/// `plugins/*/`), sorted by path.
pub(crate) fn leftovers(layout: &Layout) -> Vec<SideFile> {
    let mut dirs = vec![
        layout.root().to_path_buf(),
        layout.ca_dir(),
        layout.gateway().dir,
        layout.plugins_dir(),
    ];
    dirs.extend(
        layout
            .existing_plugins()
            .iter()
            .map(|name| layout.plugin(name).dir),
    );
    let mut found = Vec::new();
    for dir in dirs {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.filter_map(|e| e.ok()) {
            let is_file = entry.file_type().map(|t| t.is_file()).unwrap_or(false);
            let name = entry.file_name();
            if let (true, Some(name)) = (is_file, name.to_str()) {
                found.extend(SideFile::parse(&dir, name));
            }
        }
    }
    found.sort_by(|a, b| a.path.cmp(&b.path));
    found
}

/// Cleans up after runs that were killed (no process of that number runs any more): removes
/// their temporaries; puts a backup back whose file is missing (the run died between moving it
/// aside and placing the new one); removes a backup that is only a second name of the file in
/// place; keeps any other backup (the previous version of a file that was replaced) and says
/// how to restore it. Files of running processes are never touched. One sentence per file.
pub(crate) fn sweep(layout: &Layout) -> Vec<String> {
    let mut said = Vec::new();
    for side in leftovers(layout) {
        if side.process_running() != Some(false) {
            continue;
        }
        let (path, target, pid) = (side.path.display(), side.target.display(), side.pid);
        let gone = format!("left by an interrupted plugwire certs run (process {pid} is gone)");
        if !side.backup {
            said.push(match fs::remove_file(&side.path) {
                Ok(()) => format!("removed {path}, a temporary file {gone}"),
                Err(e) => format!("cannot remove {path}, a temporary file {gone}: {e}"),
            });
            continue;
        }
        let same = |a: &Path, b: &Path| match (fs::metadata(a), fs::metadata(b)) {
            (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
            _ => false,
        };
        if fs::symlink_metadata(&side.target).is_err() {
            said.push(match fs::rename(&side.path, &side.target) {
                Ok(()) => format!("restored {target} from {path}, {gone}"),
                Err(e) => format!(
                    "cannot restore {target} from {path} ({gone}): {e}; restore it with `mv {path} {target}`"
                ),
            });
        } else if same(&side.path, &side.target) {
            said.push(match fs::remove_file(&side.path) {
                Ok(()) => format!("removed {path}, an unused backup of {target} {gone}"),
                Err(e) => format!("cannot remove {path}, an unused backup {gone}: {e}"),
            });
        } else {
            said.push(format!(
                "{path} is the previous version of {target}, {gone} while replacing it: if {target} does not work, restore it with `mv {path} {target}`, otherwise delete {path}"
            ));
        }
    }
    said
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Only our exact side-file names are recognised.
    #[test]
    fn side_files_are_recognised_by_their_exact_name() {
        let dir = Path::new("/d");
        let tmp = SideFile::parse(dir, ".ca.key.tmp-123-4").unwrap();
        assert_eq!((tmp.pid, tmp.backup), (123, false));
        assert_eq!(tmp.target, Path::new("/d/ca.key"));
        assert!(SideFile::parse(dir, ".server.crt.bak-9-0").unwrap().backup);
        assert!(SideFile::parse(dir, ".plugwire-probe.tmp-9-0").is_some());
        for other in [
            "ca.key.tmp-1-0",
            ".ca.key.tmp-1",
            ".ca.key.tmp-x-0",
            ".ca.key.tmp-1-0x",
            ".notes.txt.tmp-1-0",
            ".ca.key.old-1-0",
            ".plugwire-probe.bak-1-0",
            ".ca.key.tmp--1-0",
        ] {
            assert_eq!(SideFile::parse(dir, other), None, "{other}");
        }
    }
}
