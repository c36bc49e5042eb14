//! Reading the files a run names, under the run's rule (`gossipper_proto::files`, whose
//! types are re-exported here): the only code that opens them.
//!
//! Owns: [`Disk`], the [`ReadFiles`] the runner, the TLS setup and the master hand to the
//! sans-IO loaders. Every read takes regular files only: the metadata is checked before
//! the file is opened (a FIFO, a device, a directory or a socket is refused unopened), the
//! file is opened non-blocking (a FIFO swapped in after the check cannot hang the thread),
//! and checked again once open (it must be the file that was checked). Every read is
//! capped, so neither `/dev/zero` nor a huge file can exhaust memory. Must not: know what a
//! file means (callers parse it), or decide where a name leads (`FileAccess::locate`).

use std::fs::{File, Metadata, OpenOptions};
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

pub use gossipper_proto::files::*;

/// Reads files from the disk under a rule.
#[derive(Clone, Copy, Debug)]
pub struct Disk<'a>(pub &'a FileAccess);

impl ReadFiles for Disk<'_> {
    fn rule(&self) -> &FileAccess {
        self.0
    }

    fn check(&self, name: &Path, limit: u64) -> Result<u64, FileError> {
        match self.0.locate(name)? {
            None => Ok(0),
            Some(at) => checked_metadata(&at.path, &at.roots, limit).map(|(_, m)| m.len()),
        }
    }

    fn read(&self, name: &Path, limit: u64) -> Result<Vec<u8>, FileError> {
        let Some(Located { path, roots }) = self.0.locate(name)? else {
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
}

fn io(e: std::io::Error) -> FileError {
    FileError::Io(e.to_string())
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
