//! Helpers for the security end-to-end tests: a data-dir snapshot to prove an attack
//! changed nothing, a secret file outside the data dir, planting files the way a local
//! user (or an older version) could, and a `/healthz` probe with a deadline.

#![allow(dead_code)] // each test uses a different subset
#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

use std::collections::BTreeMap;
use std::hash::{DefaultHasher, Hasher};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::api_support::Master;

/// What one path in the data dir is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Entry {
    File { size: u64, hash: u64 },
    Dir,
    Link(PathBuf),
    Special,
}

/// Every path under a data dir with its type, size and content hash. SQLite's files are
/// left out (their -wal/-shm churn on every read); what the database holds is checked
/// through the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Snapshot(pub(crate) BTreeMap<String, Entry>);

pub(crate) fn snapshot(root: &Path) -> Snapshot {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Entry>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir).unwrap().flatten().collect();
        entries.sort_by_key(|e| e.path());
        for e in entries {
            let p = e.path();
            let rel = p.strip_prefix(root).unwrap().display().to_string();
            if rel.starts_with("settings.sqlite") {
                continue;
            }
            let meta = std::fs::symlink_metadata(&p).unwrap();
            let t = meta.file_type();
            let entry = if t.is_symlink() {
                Entry::Link(std::fs::read_link(&p).unwrap())
            } else if t.is_dir() {
                walk(root, &p, out);
                Entry::Dir
            } else if t.is_file() {
                let bytes = std::fs::read(&p).unwrap();
                let mut h = DefaultHasher::new();
                h.write(&bytes);
                Entry::File {
                    size: meta.len(),
                    hash: h.finish(),
                }
            } else {
                assert!(t.is_fifo() || t.is_socket() || t.is_char_device(), "{rel}");
                Entry::Special
            };
            out.insert(rel, entry);
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    Snapshot(out)
}

impl Snapshot {
    /// Panics with every path that appeared, disappeared or changed.
    pub(crate) fn assert_same(&self, after: &Snapshot, what: &str) {
        let mut diff = Vec::new();
        for (k, v) in &self.0 {
            match after.0.get(k) {
                None => diff.push(format!("removed {k}")),
                Some(w) if w != v => diff.push(format!("changed {k}: {v:?} -> {w:?}")),
                _ => {}
            }
        }
        for k in after.0.keys().filter(|k| !self.0.contains_key(*k)) {
            diff.push(format!("added {k}"));
        }
        assert!(
            diff.is_empty(),
            "{what}: the data dir changed:\n{}",
            diff.join("\n")
        );
    }
}

/// A file outside the data dir, mode 0600, holding a unique secret; removed on drop.
pub(crate) struct Secret {
    pub(crate) dir: PathBuf,
    pub(crate) path: PathBuf,
    pub(crate) text: String,
}

impl Secret {
    pub(crate) fn new(tag: &str) -> Secret {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let dir =
            std::env::temp_dir().join(format!("gossipper-secret-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("secret.txt");
        let text = format!("TOP-SECRET-{tag}-{nanos}");
        std::fs::write(&path, &text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        Secret { dir, path, text }
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Panics if any file under `root` (the database included) contains `needle`.
pub(crate) fn assert_nowhere(root: &Path, needle: &str) {
    fn walk(dir: &Path, needle: &[u8], hits: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            let t = std::fs::symlink_metadata(&p).unwrap().file_type();
            if t.is_dir() {
                walk(&p, needle, hits);
            } else if t.is_file() {
                let bytes = std::fs::read(&p).unwrap();
                if bytes.windows(needle.len()).any(|w| w == needle) {
                    hits.push(p);
                }
            }
        }
    }
    let mut hits = Vec::new();
    walk(root, needle.as_bytes(), &mut hits);
    assert!(hits.is_empty(), "{needle:?} found in {hits:?}");
}

/// Writes a scenario straight into the data dir, as one stored before upload-time checks
/// existed (the API refuses it now).
pub(crate) fn plant_scenario(m: &Master, id: &str, xml: &str) {
    std::fs::write(m.data_dir.join(format!("scenarios/{id}.xml")), xml).unwrap();
}

pub(crate) fn mkfifo(p: &Path) {
    let ok = std::process::Command::new("mkfifo")
        .arg(p)
        .status()
        .unwrap()
        .success();
    assert!(ok, "mkfifo {}", p.display());
}

/// Whether `GET /healthz` answers 200 within `limit`.
pub(crate) fn healthz_within(m: &Master, limit: Duration) -> bool {
    let t0 = Instant::now();
    let Ok(mut s) = TcpStream::connect(&m.addr) else {
        return false;
    };
    s.set_read_timeout(Some(limit)).unwrap();
    let req = format!(
        "GET /healthz HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
        m.addr
    );
    if s.write_all(req.as_bytes()).is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    let ok = s.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.1 200");
    ok && t0.elapsed() < limit
}

/// Runs `work` on a thread and probes `/healthz` every 100 ms while it runs: every probe
/// must answer within 1 s. Returns `work`'s result and how long it took (at most
/// `limit`, else panics).
pub(crate) fn while_healthy<T: Send + 'static>(
    m: &Master,
    limit: Duration,
    work: impl FnOnce() -> T + Send + 'static,
) -> (T, Duration) {
    let t0 = Instant::now();
    let handle = std::thread::spawn(work);
    let mut probes = 0;
    while !handle.is_finished() {
        assert!(t0.elapsed() < limit, "no answer within {limit:?}");
        assert!(
            healthz_within(m, Duration::from_secs(1)),
            "/healthz did not answer within 1 s while the request ran\n{}",
            m.log_text()
        );
        probes += 1;
        std::thread::sleep(Duration::from_millis(100));
    }
    let took = t0.elapsed();
    let out = handle.join().unwrap();
    assert!(
        healthz_within(m, Duration::from_secs(1)),
        "after {probes} probes"
    );
    (out, took)
}
