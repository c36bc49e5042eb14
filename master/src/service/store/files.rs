//! Atomic file writes inside the data dir: temp file in `tmp/`, fsync, rename, fsync dir.
//!
//! Owns: the only way the store creates or replaces a file, so a crash leaves either the
//! old file or the new one, never half of one, and the modes of what the master creates:
//! files 0600 and directories 0700, whatever the umask (the data dir holds secrets and
//! is one service's; `gossipper ui` also sets its umask to 077, for SQLite and workers).
//! Temp files are named `.w-*` and removed on start by [`clean_stale_temps`]. Must not:
//! build paths from caller input (`paths` does).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::StoreError;
use crate::service::paths::Layout;

const TEMP_PREFIX: &str = ".w-";
static TEMP_SEQ: AtomicU64 = AtomicU64::new(0);

/// Mode of every file the master creates in the data dir.
pub(crate) const FILE_MODE: u32 = 0o600;
/// Mode of every directory the master creates in the data dir.
pub(crate) const DIR_MODE: u32 = 0o700;

/// Creates (or truncates) a file readable by the service's user only.
pub(crate) fn create_private(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(FILE_MODE)
        .open(path)
}

/// Creates a new file (failing if it exists) readable by the service's user only.
fn create_new_private(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(FILE_MODE)
        .open(path)
}

/// `mkdir -p` with mode 0700 for each directory it creates.
pub(crate) fn create_private_dir(path: &Path) -> io::Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(path)
}

/// A fresh, unique temp path in `tmp/` (same file system as every target).
pub(crate) fn temp_path(layout: &Layout) -> PathBuf {
    let n = TEMP_SEQ.fetch_add(1, Ordering::Relaxed);
    layout
        .dir("tmp")
        .join(format!("{TEMP_PREFIX}{}-{n}", std::process::id()))
}

/// Writes `bytes` to `target` atomically.
pub(crate) fn write_atomic(layout: &Layout, target: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let tmp = temp_path(layout);
    let result = (|| {
        let mut f = create_new_private(&tmp).map_err(|e| StoreError::io(&tmp, e))?;
        f.write_all(bytes).map_err(|e| StoreError::io(&tmp, e))?;
        f.sync_all().map_err(|e| StoreError::io(&tmp, e))?;
        drop(f);
        commit(&tmp, target)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Moves a fully written and synced temp file into place, then syncs the directory.
pub(crate) fn commit(tmp: &Path, target: &Path) -> Result<(), StoreError> {
    if let Some(dir) = target.parent() {
        create_private_dir(dir).map_err(|e| StoreError::io(dir, e))?;
    }
    fs::rename(tmp, target).map_err(|e| StoreError::io(target, e))?;
    sync_dir(target)
}

fn sync_dir(target: &Path) -> Result<(), StoreError> {
    if let Some(dir) = target.parent() {
        // Directory fsync makes the rename durable; some file systems refuse it, which is
        // not worth failing a request over.
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

/// Reads a file; `Ok(None)` when it does not exist.
pub(crate) fn read_optional(path: &Path) -> Result<Option<Vec<u8>>, StoreError> {
    match fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(StoreError::io(path, e)),
    }
}

/// Reads and parses a JSON file; `Ok(None)` when it does not exist.
pub(crate) fn read_json<T: serde::de::DeserializeOwned>(
    path: &Path,
) -> Result<Option<T>, StoreError> {
    match read_optional(path)? {
        None => Ok(None),
        Some(b) => serde_json::from_slice(&b)
            .map(Some)
            .map_err(|source| StoreError::Json {
                path: path.to_path_buf(),
                source,
            }),
    }
}

/// The index of a directory of JSON records: every `<id>.json` in `dir` whose record
/// names that same id, keyed by id. `path` says where id's record is (`None`: skip it,
/// e.g. a scenario's metadata without its XML, left by an interrupted delete). A record
/// that cannot be read is left alone (never overwritten silently) and reported once as a
/// `what`; the rest of the store still opens.
pub(crate) fn load_index<T: serde::de::DeserializeOwned>(
    dir: &Path,
    what: &str,
    path: impl Fn(&str) -> Option<PathBuf>,
    id_of: impl Fn(&T) -> &str,
) -> Result<std::collections::BTreeMap<String, T>, StoreError> {
    let mut index = std::collections::BTreeMap::new();
    let entries = fs::read_dir(dir).map_err(|e| StoreError::io(dir, e))?;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(id) = name.strip_suffix(".json") else {
            continue;
        };
        let Some(record) = path(id) else {
            continue;
        };
        match read_json::<T>(&record) {
            Ok(Some(r)) if id_of(&r) == id => {
                index.insert(id.to_string(), r);
            }
            Ok(_) => {}
            Err(e) => eprintln!("gossipper ui: skipping {what}: {e}"),
        }
    }
    Ok(index)
}

/// Serializes and writes a JSON file atomically.
pub(crate) fn write_json<T: serde::Serialize>(
    layout: &Layout,
    path: &Path,
    value: &T,
) -> Result<(), StoreError> {
    let bytes = serde_json::to_vec_pretty(value).map_err(|source| StoreError::Json {
        path: path.to_path_buf(),
        source,
    })?;
    write_atomic(layout, path, &bytes)
}

/// Removes a file; `Ok(false)` when it did not exist.
pub(crate) fn remove(path: &Path) -> Result<bool, StoreError> {
    match fs::remove_file(path) {
        Ok(()) => {
            sync_dir(path)?;
            Ok(true)
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(StoreError::io(path, e)),
    }
}

/// Copies `reader` into a fresh temp file, refusing more than `limit` bytes.
/// Returns the temp path and the size; the caller validates, then [`commit`]s or removes it.
pub(crate) fn spool(
    layout: &Layout,
    reader: &mut dyn Read,
    limit: u64,
) -> Result<Spooled, SpoolError> {
    let tmp = temp_path(layout);
    let mut f = create_new_private(&tmp).map_err(|e| SpoolError::Store(StoreError::io(&tmp, e)))?;
    let mut guard = Spooled {
        path: tmp,
        size: 0,
        keep: false,
    };
    let mut limited = reader.take(limit + 1);
    let size = io::copy(&mut limited, &mut f).map_err(SpoolError::Read)?;
    if size > limit {
        return Err(SpoolError::TooLarge);
    }
    f.sync_all()
        .map_err(|e| SpoolError::Store(StoreError::io(&guard.path, e)))?;
    guard.size = size;
    Ok(guard)
}

/// A temp file from [`spool`]; removed on drop unless committed.
pub(crate) struct Spooled {
    pub(crate) path: PathBuf,
    pub(crate) size: u64,
    keep: bool,
}

impl Spooled {
    pub(crate) fn commit(mut self, target: &Path) -> Result<(), StoreError> {
        commit(&self.path, target)?;
        self.keep = true;
        Ok(())
    }
}

impl Drop for Spooled {
    fn drop(&mut self) {
        if !self.keep {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// Why spooling a body failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SpoolError {
    #[error("body is larger than the limit")]
    TooLarge,
    #[error("reading the body: {0}")]
    Read(io::Error),
    #[error(transparent)]
    Store(StoreError),
}

/// Removes temp files left by a crash (only ours: the `.w-` prefix).
pub(crate) fn clean_stale_temps(layout: &Layout) -> Result<(), StoreError> {
    let dir = layout.dir("tmp");
    let entries = fs::read_dir(&dir).map_err(|e| StoreError::io(&dir, e))?;
    for entry in entries.flatten() {
        if entry.file_name().to_string_lossy().starts_with(TEMP_PREFIX) {
            let _ = fs::remove_file(entry.path());
        }
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod testdir {
    //! A temp data dir for store tests, removed on drop.
    use std::path::PathBuf;
    use std::sync::atomic::{AtomicU32, Ordering};

    use crate::service::paths::{DIRS, Layout};

    pub(crate) struct TestDir {
        pub(crate) layout: Layout,
        root: PathBuf,
    }

    impl TestDir {
        pub(crate) fn new(tag: &str) -> TestDir {
            static N: AtomicU32 = AtomicU32::new(0);
            let root = std::env::temp_dir().join(format!(
                "gossipper-ui-unit-{tag}-{}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            ));
            let _ = std::fs::remove_dir_all(&root);
            let layout = Layout::new(&root);
            for d in DIRS {
                std::fs::create_dir_all(layout.dir(d)).unwrap();
            }
            TestDir { layout, root }
        }
    }

    impl Drop for TestDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.root);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testdir::TestDir;
    use super::*;

    fn temps(layout: &Layout) -> usize {
        fs::read_dir(layout.dir("tmp")).unwrap().count()
    }

    #[test]
    fn an_index_holds_the_records_that_name_their_own_id() {
        #[derive(serde::Deserialize)]
        struct Rec {
            id: String,
        }
        let t = TestDir::new("index");
        let dir = t.layout.dir("scenarios");
        fs::write(dir.join("a.json"), br#"{"id":"a"}"#).unwrap();
        fs::write(dir.join("b.json"), br#"{"id":"not-b"}"#).unwrap();
        fs::write(dir.join("c.json"), b"{broken").unwrap();
        fs::write(dir.join("d.json"), br#"{"id":"d"}"#).unwrap();
        fs::write(dir.join("e.txt"), br#"{"id":"e"}"#).unwrap();
        let index = load_index(
            &dir,
            "record",
            |id| (id != "d").then(|| dir.join(format!("{id}.json"))),
            |r: &Rec| r.id.as_str(),
        )
        .unwrap();
        let ids: Vec<&String> = index.keys().collect();
        assert_eq!(ids, ["a"]);
        assert_eq!(
            fs::read(dir.join("c.json")).unwrap(),
            b"{broken",
            "left alone"
        );
    }

    #[test]
    fn atomic_write_replaces_and_leaves_no_temp() {
        let t = TestDir::new("atomic");
        let target = t.layout.dir("scenarios").join("a.xml");
        write_atomic(&t.layout, &target, b"one").unwrap();
        write_atomic(&t.layout, &target, b"two").unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"two");
        assert_eq!(temps(&t.layout), 0);
    }

    #[test]
    fn files_and_directories_the_store_creates_are_private_whatever_the_umask() {
        use std::os::unix::fs::PermissionsExt;
        let t = TestDir::new("modes");
        let target = t.layout.dir("scenarios").join("new.history").join("a.xml");
        write_atomic(&t.layout, &target, b"x").unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&target), FILE_MODE);
        assert_eq!(mode(target.parent().unwrap()), DIR_MODE);
        let mut body: &[u8] = b"abc";
        let s = spool(&t.layout, &mut body, 10).unwrap();
        assert_eq!(mode(&s.path), FILE_MODE);
    }

    #[test]
    fn spool_refuses_oversize_bodies_and_cleans_up() {
        let t = TestDir::new("spool");
        let mut body: &[u8] = &[7u8; 100];
        assert!(matches!(
            spool(&t.layout, &mut body, 99),
            Err(SpoolError::TooLarge)
        ));
        assert_eq!(temps(&t.layout), 0);
        let mut body: &[u8] = &[7u8; 100];
        let s = spool(&t.layout, &mut body, 100).unwrap();
        assert_eq!(s.size, 100);
        drop(s);
        assert_eq!(temps(&t.layout), 0, "an uncommitted spool is removed");
    }

    #[test]
    fn stale_temps_are_cleaned_but_other_tmp_files_stay() {
        let t = TestDir::new("stale");
        fs::write(t.layout.dir("tmp").join(".w-1-1"), b"x").unwrap();
        fs::write(t.layout.dir("tmp").join("spec-1.json"), b"x").unwrap();
        clean_stale_temps(&t.layout).unwrap();
        assert_eq!(temps(&t.layout), 1);
    }
}
