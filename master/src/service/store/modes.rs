//! The data dir's file modes: everything in it belongs to the service's user alone.
//!
//! Owns: the umask of `gossipper ui` (077: SQLite's `-wal`/`-shm` files and every file a
//! worker writes inherit it), and tightening a data dir made by an older binary, or by
//! hand, on start: the root and every directory under it 0700, every file 0600 (an owner
//! execute bit is kept). The JWT secret and the password hashes live in
//! `settings.sqlite` and its `-wal`; job logs and reports can hold what a scenario read;
//! nothing in the data dir is meant for other local users. Only what the layout owns is
//! walked (the root, `settings.sqlite*` and the trees of [`DIRS`]), so a data dir pointed
//! at a folder holding other things does not have those changed; symbolic links are
//! never followed. Must not: decide what to say (the caller prints the result once).

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::files::{DIR_MODE, FILE_MODE};
use crate::service::paths::DIRS;

/// Deepest level walked (the layout's deepest file is `artifacts/jobs/<id>/recordings/x`).
const MAX_DEPTH: u32 = 16;

/// Makes every file and directory this process (and its children) creates private to its
/// user, whatever the mode requested. Called once, first thing in `gossipper ui`.
#[allow(unsafe_code)]
pub(crate) fn restrict_umask() {
    // SAFETY: umask(2) takes and returns a plain integer, cannot fail, and touches no
    // memory of ours.
    unsafe {
        libc::umask(0o077);
    }
}

/// What [`tighten`] changed.
#[derive(Debug, Default)]
pub(crate) struct Tightened {
    /// Paths whose mode was narrowed.
    pub(crate) changed: Vec<PathBuf>,
    /// Paths whose mode could not be changed (e.g. owned by another user), with why.
    pub(crate) failed: Vec<(PathBuf, std::io::Error)>,
}

/// The mode a path gets when it lets others in: 0700 for a directory, the owner's bits
/// (at least read and write) for a file.
fn private_mode(mode: u32, is_dir: bool) -> u32 {
    if is_dir {
        DIR_MODE
    } else {
        (mode & 0o700) | FILE_MODE
    }
}

/// Narrows the modes of a settings database given with `--auth-sqlite` and of its
/// `-wal` and `-shm` files (regular files only) to the owner's.
pub(crate) fn tighten_db(db: &Path) -> Tightened {
    let mut out = Tightened::default();
    for suffix in ["", "-wal", "-shm"] {
        let mut name = db.as_os_str().to_owned();
        name.push(suffix);
        let path = std::path::PathBuf::from(name);
        if fs::symlink_metadata(&path).is_ok_and(|m| m.is_file()) {
            fix(&path, &mut out);
        }
    }
    out
}

/// Narrows the modes of `root`, its `settings.sqlite*` files and the layout's trees to
/// the owner's; returns what it changed. Regular files and directories only; links and
/// special files are left alone.
pub(crate) fn tighten(root: &Path) -> Tightened {
    let mut out = Tightened::default();
    fix(root, &mut out);
    if let Ok(entries) = fs::read_dir(root) {
        for entry in entries.flatten() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with("settings.sqlite") {
                let path = entry.path();
                if fs::symlink_metadata(&path).is_ok_and(|m| m.is_file()) {
                    fix(&path, &mut out);
                }
            }
        }
    }
    let mut tops: Vec<&str> = DIRS.iter().filter_map(|d| d.split('/').next()).collect();
    tops.dedup();
    for top in tops {
        let path = root.join(top);
        if fs::symlink_metadata(&path).is_ok_and(|m| m.is_dir()) {
            fix(&path, &mut out);
            walk(&path, 1, &mut out);
        }
    }
    out
}

fn walk(dir: &Path, depth: u32, out: &mut Tightened) {
    if depth >= MAX_DEPTH {
        return;
    }
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(md) = fs::symlink_metadata(&path) else {
            continue;
        };
        if md.is_dir() {
            fix(&path, out);
            walk(&path, depth + 1, out);
        } else if md.is_file() {
            fix(&path, out);
        }
    }
}

/// Narrows one path's mode if it lets anyone but the owner in.
fn fix(path: &Path, out: &mut Tightened) {
    let Ok(md) = fs::symlink_metadata(path) else {
        return;
    };
    if md.file_type().is_symlink() {
        return;
    }
    let mode = md.permissions().mode() & 0o7777;
    if mode & 0o077 == 0 {
        return;
    }
    let want = private_mode(mode, md.is_dir());
    match fs::set_permissions(path, fs::Permissions::from_mode(want)) {
        Ok(()) => out.changed.push(path.to_path_buf()),
        Err(e) => out.failed.push((path.to_path_buf(), e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::store::files::testdir::TestDir;

    fn mode(p: &Path) -> u32 {
        fs::symlink_metadata(p).unwrap().permissions().mode() & 0o777
    }

    fn set(p: &Path, m: u32) {
        fs::set_permissions(p, fs::Permissions::from_mode(m)).unwrap();
    }

    #[test]
    fn a_loose_data_dir_is_narrowed_to_the_owner_and_a_tight_one_is_left_alone() {
        let t = TestDir::new("modes-tighten");
        let root = t.layout.root().to_path_buf();
        let db = root.join("settings.sqlite");
        let wal = root.join("settings.sqlite-wal");
        let job = root.join("artifacts/jobs/j1");
        fs::create_dir_all(&job).unwrap();
        for (p, m) in [(&db, 0o644), (&wal, 0o664)] {
            fs::write(p, b"secret").unwrap();
            set(p, m);
        }
        let log = job.join("worker.log");
        fs::write(&log, b"x").unwrap();
        set(&log, 0o644);
        let script = root.join("tmp/run.sh");
        fs::write(&script, b"x").unwrap();
        set(&script, 0o755);
        for d in [&root, &job] {
            set(d, 0o755);
        }
        // A link out of the data dir is not followed: its target keeps its mode.
        let outside = std::env::temp_dir().join(format!("gossipper-modes-{}", std::process::id()));
        fs::write(&outside, b"x").unwrap();
        set(&outside, 0o644);
        std::os::unix::fs::symlink(&outside, root.join("tmp/link")).unwrap();

        // Not the layout's: left as it is.
        let other = root.join("notes.txt");
        fs::write(&other, b"x").unwrap();
        set(&other, 0o644);

        let done = tighten(&root);
        assert!(done.failed.is_empty(), "{:?}", done.failed);
        assert_eq!(mode(&root), 0o700);
        assert_eq!(mode(&job), 0o700);
        assert_eq!(mode(&db), 0o600);
        assert_eq!(mode(&wal), 0o600);
        assert_eq!(mode(&log), 0o600);
        assert_eq!(mode(&script), 0o700, "the owner's execute bit stays");
        assert_eq!(mode(&outside), 0o644, "links are not followed");
        assert_eq!(mode(&other), 0o644, "only the layout's files are touched");
        assert!(done.changed.contains(&db) && done.changed.contains(&root));
        assert!(tighten(&root).changed.is_empty(), "nothing left to narrow");
        fs::remove_file(&outside).unwrap();
    }
}
