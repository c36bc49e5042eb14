//! The one rule for every file a run reads or writes because a scenario, a job or a
//! profile names it: `[file name=…]`, the files of `play_pcap_*` and `rtp_stream`,
//! `rtp_record` paths, `-inf` files, TLS certificates and keys, and `-sf` itself.
//!
//! Owns: [`FileAccess`], the policy a run carries in its `JobSpec`, its name checks and
//! [`FileAccess::locate`] (where a name leads), all without touching the file system, and
//! [`ReadFiles`], the seam through which the sans-IO loaders get bytes. Reading (the
//! checks below) is the runtime's (`gossipper_engine::files`). The policies:
//! - `Cwd` — SIPp's command line, a trusted single-user run: a name is a path as SIPp
//!   reads it (relative to the working directory, absolute allowed).
//! - `Confined` — a job of the master (`gossipper worker --spec`, and the master's check
//!   before it forks one): a name is a relative path without `..`. `media/wav/NAME` and
//!   `media/pcap/NAME` are files of the media library; any other name is a file in the
//!   job's own folder (where `rtp_record` writes too). A symbolic link may not lead out
//!   of those folders: the real path is checked, and the file is opened without following
//!   a link.
//! - `NamesOnly` — the master storing a scenario: names are checked as `Confined` checks
//!   them; nothing is read (the files are read when a job runs).
//! - `NoFiles` — built-in scenarios and simulations: every read is refused.
//!
//! Every read (by the runtime) takes regular files only: the metadata is checked before the file is
//! opened (a FIFO, a device, a directory or a socket is refused unopened), the file is
//! opened non-blocking (a FIFO swapped in after the check cannot hang the thread), and
//! checked again once open (it must be the file that was checked). Every read is capped
//! ([`MAX_FILE_BYTES`], or [`MAX_DATA_FILE_BYTES`] for media and injection files), so
//! neither `/dev/zero` nor a huge file can exhaust memory. Must not: know what a file
//! means (callers parse it).

use std::path::{Component, Path, PathBuf};

/// Largest file a scenario puts into messages (`[file name=…]`), a TLS certificate or
/// key, or a scenario read from disk.
pub const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;
/// Largest media file (`play_pcap_*`, `rtp_stream`) or injection CSV: the media
/// library's upload limit.
pub const MAX_DATA_FILE_BYTES: u64 = 256 * 1024 * 1024;

/// Where the files a run names may come from (in a spec file: `"cwd"`, `"no_files"`,
/// `"names_only"` or `{"confined": {"data_dir": …, "job_dir": …}}`).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum FileAccess {
    /// Nothing may be read (built-ins, simulations, tests).
    #[default]
    NoFiles,
    /// SIPp's command line: paths relative to the working directory, absolute allowed.
    Cwd,
    /// A job of the master: its media library and its own folder only.
    Confined(JobRoots),
    /// Names are checked as `Confined` checks them; nothing is read (a read gives no
    /// bytes).
    NamesOnly,
}

/// The folders a job of the master may read.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobRoots {
    /// The master's data dir: `media/wav/` and `media/pcap/` inside it are readable.
    pub data_dir: PathBuf,
    /// The job's own folder (`artifacts/jobs/<id>/`): readable, and where it writes.
    pub job_dir: PathBuf,
}

/// Why a file may not be read. The messages leave out the name: callers say which.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FileError {
    #[error("the name is empty")]
    Empty,
    #[error(
        "an absolute path is not allowed: a job reads only media/wav/NAME, media/pcap/NAME and files of its own folder"
    )]
    Absolute,
    #[error("\"..\" is not allowed in a path")]
    ParentDir,
    #[error("the name is not UTF-8")]
    NotUtf8,
    #[error("leads outside the job's media library and folder")]
    Escapes,
    #[error("is a {0}, not a regular file")]
    NotRegular(&'static str),
    #[error("is larger than {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("changed while it was being opened")]
    Changed,
    #[error("no file may be read here")]
    NoFiles,
    /// The file system said no (not found, permission denied…).
    #[error("{0}")]
    Io(String),
}

impl FileError {
    /// Whether the name or the file breaks the rule (the master answers 400), rather
    /// than the file being absent or unreadable.
    pub fn is_refusal(&self) -> bool {
        !matches!(self, FileError::Io(_) | FileError::NoFiles)
    }
}

impl FileAccess {
    /// Checks a name without touching the file system (`Confined` and `NamesOnly`: a
    /// relative path without `..`).
    pub fn check_name(&self, name: &Path) -> Result<(), FileError> {
        match self {
            FileAccess::NoFiles => Ok(()),
            FileAccess::Cwd => match name.as_os_str().is_empty() {
                true => Err(FileError::Empty),
                false => Ok(()),
            },
            FileAccess::Confined(_) | FileAccess::NamesOnly => relative_parts(name).map(drop),
        }
    }

    /// Where a file the run writes goes (`rtp_record`): `Confined` writes into the job's
    /// folder (the name was checked when the scenario loaded); the others write where the
    /// name says.
    pub fn write_path(&self, name: &Path) -> PathBuf {
        self.write_base().join(name)
    }

    /// The folder relative names written by the run are joined to (empty: the working
    /// directory).
    pub fn write_base(&self) -> PathBuf {
        match self {
            FileAccess::Confined(roots) => roots.job_dir.clone(),
            _ => PathBuf::new(),
        }
    }

    /// Where the file `name` is under this rule, without touching the file system: the
    /// path to open and, when confined, the folders its real path must lie in; `None`
    /// when nothing is to be read (`NamesOnly`, after the name passed).
    pub fn locate(&self, name: &Path) -> Result<Option<Located>, FileError> {
        match self {
            FileAccess::NoFiles => Err(FileError::NoFiles),
            FileAccess::NamesOnly => relative_parts(name).map(|_| None),
            FileAccess::Cwd => {
                self.check_name(name)?;
                Ok(Some(Located {
                    path: name.to_path_buf(),
                    roots: Vec::new(),
                }))
            }
            FileAccess::Confined(roots) => {
                let parts = relative_parts(name)?;
                let wav = roots.data_dir.join("media/wav");
                let pcap = roots.data_dir.join("media/pcap");
                let (base, rest) = match parts.as_slice() {
                    ["media", "wav", rest @ ..] if !rest.is_empty() => (&wav, rest),
                    ["media", "pcap", rest @ ..] if !rest.is_empty() => (&pcap, rest),
                    _ => (&roots.job_dir, &parts[..]),
                };
                let path = rest.iter().fold(base.clone(), |p, part| p.join(part));
                Ok(Some(Located {
                    path,
                    roots: vec![wav, pcap, roots.job_dir.clone()],
                }))
            }
        }
    }
}

/// The parts of a relative name without `..` (`.` parts are dropped).
fn relative_parts(name: &Path) -> Result<Vec<&str>, FileError> {
    let mut parts = Vec::new();
    for c in name.components() {
        match c {
            Component::Normal(p) => parts.push(p.to_str().ok_or(FileError::NotUtf8)?),
            Component::CurDir => {}
            Component::ParentDir => return Err(FileError::ParentDir),
            Component::RootDir | Component::Prefix(_) => return Err(FileError::Absolute),
        }
    }
    if parts.is_empty() {
        return Err(FileError::Empty);
    }
    Ok(parts)
}

/// A file located by [`FileAccess::locate`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Located {
    /// The path to open.
    pub path: PathBuf,
    /// When confined: the folders the file's real path must lie in (empty: anywhere).
    pub roots: Vec<PathBuf>,
}

/// How the sans-IO parts (the scenario loader, the media library) get the files a run
/// names: the rule to check names against, and reads under it. The runtime reads the
/// disk (`gossipper_engine::files::Disk`); [`NO_FILES`] and [`NAMES_ONLY`] read nothing.
pub trait ReadFiles {
    /// The rule every name is checked against.
    fn rule(&self) -> &FileAccess;
    /// Reads the whole file `name` under the rule, at most `limit` bytes.
    fn read(&self, name: &Path, limit: u64) -> Result<Vec<u8>, FileError>;
    /// Everything a read checks, except reading (the name, where it leads, the file's
    /// type and size); returns the size.
    fn check(&self, name: &Path, limit: u64) -> Result<u64, FileError>;
}

/// The rules that need no disk: `NoFiles` refuses every read, `NamesOnly` checks each
/// name and reads nothing (a read gives no bytes). Only [`NO_FILES`] and [`NAMES_ONLY`]
/// exist, so a rule that must read cannot end up here by mistake.
#[derive(Debug)]
pub struct Unread(FileAccess);

/// A reader that reads nothing, for defaults (built-ins, simulations, tests).
pub static NO_FILES: Unread = Unread(FileAccess::NoFiles);
/// Names are checked as a job's are; nothing is read (the master storing a scenario).
pub static NAMES_ONLY: Unread = Unread(FileAccess::NamesOnly);

impl ReadFiles for Unread {
    fn rule(&self) -> &FileAccess {
        &self.0
    }

    fn read(&self, name: &Path, _limit: u64) -> Result<Vec<u8>, FileError> {
        match self.0.locate(name)? {
            None => Ok(Vec::new()),
            Some(_) => Err(FileError::NoFiles),
        }
    }

    fn check(&self, name: &Path, _limit: u64) -> Result<u64, FileError> {
        match self.0.locate(name)? {
            None => Ok(0),
            Some(_) => Err(FileError::NoFiles),
        }
    }
}

/// Files held in memory under a rule, for tests and simulations: names are checked and
/// located as the disk reader does; a located name not held here is "not found".
#[cfg(any(test, feature = "sim"))]
#[derive(Debug, Default)]
pub struct MemFiles {
    rule: FileAccess,
    files: std::collections::HashMap<PathBuf, Vec<u8>>,
}

#[cfg(any(test, feature = "sim"))]
impl MemFiles {
    /// No files yet, under `rule`.
    pub fn new(rule: FileAccess) -> MemFiles {
        MemFiles {
            rule,
            files: Default::default(),
        }
    }

    /// Holds `bytes` as the file at `path` (where `locate` leads a name).
    pub fn with(mut self, path: impl Into<PathBuf>, bytes: &[u8]) -> MemFiles {
        self.files.insert(path.into(), bytes.to_vec());
        self
    }

    fn find(&self, name: &Path, limit: u64) -> Result<Option<&[u8]>, FileError> {
        let Some(at) = self.rule.locate(name)? else {
            return Ok(None);
        };
        let bytes = self
            .files
            .get(&at.path)
            .ok_or_else(|| FileError::Io("No such file or directory (os error 2)".into()))?;
        if bytes.len() as u64 > limit {
            return Err(FileError::TooLarge { limit });
        }
        Ok(Some(bytes))
    }
}

#[cfg(any(test, feature = "sim"))]
impl ReadFiles for MemFiles {
    fn rule(&self) -> &FileAccess {
        &self.rule
    }

    fn read(&self, name: &Path, limit: u64) -> Result<Vec<u8>, FileError> {
        Ok(self
            .find(name, limit)?
            .map(<[u8]>::to_vec)
            .unwrap_or_default())
    }

    fn check(&self, name: &Path, limit: u64) -> Result<u64, FileError> {
        Ok(self.find(name, limit)?.map_or(0, |b| b.len() as u64))
    }
}
