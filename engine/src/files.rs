//! The one rule for every file a run reads or writes because a scenario, a job or a
//! profile names it: `[file name=…]`, the files of `play_pcap_*` and `rtp_stream`,
//! `rtp_record` paths, `-inf` files, TLS certificates and keys, and `-sf` itself.
//!
//! Owns: [`FileAccess`], the policy a run carries in its `JobSpec`, and the only code that
//! opens those files. The policies:
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
//! Every read takes regular files only: the metadata is checked before the file is
//! opened (a FIFO, a device, a directory or a socket is refused unopened), the file is
//! opened non-blocking (a FIFO swapped in after the check cannot hang the thread), and
//! checked again once open (it must be the file that was checked). Every read is capped
//! ([`MAX_FILE_BYTES`], or [`MAX_DATA_FILE_BYTES`] for media and injection files), so
//! neither `/dev/zero` nor a huge file can exhaust memory. Must not: know what a file
//! means (callers parse it).

use std::fs::{File, Metadata, OpenOptions};
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Component, Path, PathBuf};

/// Largest file a scenario puts into messages (`[file name=…]`), a TLS certificate or
/// key, or a scenario read from disk.
pub const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;
/// Largest media file (`play_pcap_*`, `rtp_stream`) or injection CSV: the media
/// library's upload limit.
pub const MAX_DATA_FILE_BYTES: u64 = 256 * 1024 * 1024;

/// A policy that reads nothing, for defaults.
pub static NO_FILES: FileAccess = FileAccess::NoFiles;

/// Where the files a run names may come from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
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
#[derive(Clone, Debug, PartialEq, Eq)]
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

fn io(e: std::io::Error) -> FileError {
    FileError::Io(e.to_string())
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

    /// Everything a read checks, except reading: the name, where it leads, and the
    /// file's type and size (its metadata; the file is not opened). Returns the size.
    pub fn check(&self, name: &Path, limit: u64) -> Result<u64, FileError> {
        match self.locate(name)? {
            None => Ok(0),
            Some((path, roots)) => checked_metadata(&path, &roots, limit).map(|(_, m)| m.len()),
        }
    }

    /// Reads a whole file, at most `limit` bytes.
    pub fn read(&self, name: &Path, limit: u64) -> Result<Vec<u8>, FileError> {
        let Some((path, roots)) = self.locate(name)? else {
            return Ok(Vec::new());
        };
        let (path, before) = checked_metadata(&path, &roots, limit)?;
        let mut opts = OpenOptions::new();
        opts.read(true);
        // Non-blocking: opening a FIFO swapped in after the check returns at once.
        let mut flags = libc::O_NONBLOCK | libc::O_CLOEXEC;
        if !roots.is_empty() {
            // The path is already real: a link appearing now is not followed.
            flags |= libc::O_NOFOLLOW;
        }
        opts.custom_flags(flags);
        let mut file: File = opts.open(&path).map_err(io)?;
        let after = file.metadata().map_err(io)?;
        regular_within(&after, limit)?;
        if (before.dev(), before.ino()) != (after.dev(), after.ino()) {
            return Err(FileError::Changed);
        }
        let mut bytes = Vec::new();
        file.by_ref()
            .take(limit.saturating_add(1))
            .read_to_end(&mut bytes)
            .map_err(io)?;
        if bytes.len() as u64 > limit {
            return Err(FileError::TooLarge { limit });
        }
        Ok(bytes)
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

    /// The path to open and, when confined, the folders its real path must lie in;
    /// `None` when nothing is to be read (`NamesOnly`, after the name passed).
    fn locate(&self, name: &Path) -> Result<Option<(PathBuf, Vec<PathBuf>)>, FileError> {
        match self {
            FileAccess::NoFiles => Err(FileError::NoFiles),
            FileAccess::NamesOnly => relative_parts(name).map(|_| None),
            FileAccess::Cwd => {
                self.check_name(name)?;
                Ok(Some((name.to_path_buf(), Vec::new())))
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
                Ok(Some((path, vec![wav, pcap, roots.job_dir.clone()])))
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

/// The path to open (its real path when confined to `roots`) and its metadata, checked:
/// inside one of `roots` (when there are any), a regular file, at most `limit` bytes.
/// Nothing is opened.
fn checked_metadata(
    path: &Path,
    roots: &[PathBuf],
    limit: u64,
) -> Result<(PathBuf, Metadata), FileError> {
    let path = if roots.is_empty() {
        path.to_path_buf()
    } else {
        let real = std::fs::canonicalize(path).map_err(io)?;
        let inside = roots.iter().any(|root| {
            std::fs::canonicalize(root).is_ok_and(|r| real.starts_with(&r) && real != r)
        });
        if !inside {
            return Err(FileError::Escapes);
        }
        real
    };
    let meta = std::fs::metadata(&path).map_err(io)?;
    regular_within(&meta, limit)?;
    Ok((path, meta))
}

fn regular_within(meta: &Metadata, limit: u64) -> Result<(), FileError> {
    let t = meta.file_type();
    if !t.is_file() {
        return Err(FileError::NotRegular(if t.is_dir() {
            "directory"
        } else if t.is_fifo() {
            "FIFO"
        } else if t.is_char_device() {
            "character device"
        } else if t.is_block_device() {
            "block device"
        } else if t.is_socket() {
            "socket"
        } else {
            "special file"
        }));
    }
    if meta.len() > limit {
        return Err(FileError::TooLarge { limit });
    }
    Ok(())
}

#[cfg(test)]
mod tests;
