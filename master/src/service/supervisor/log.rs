//! `worker.log`: the worker's stderr, copied by the master up to a size cap.
//!
//! Owns: the cap. Up to `cap` bytes are written as they come; the write that reaches the
//! cap is cut there and followed by one line saying the log was truncated; everything
//! after is read and dropped, so the worker never blocks on a full pipe and a scenario
//! that logs without end cannot fill the disk. Must not: parse the log (it is free text)
//! or touch the job's row. Driven by the job's reader thread (one copier per job).

use std::io::{self, Read, Write};

/// Default cap per job (`gossipper ui --max-worker-log-bytes`).
pub(crate) const DEFAULT_MAX_LOG_BYTES: u64 = 64 << 20;

/// A writer that keeps the first `cap` bytes and then says, once, that it dropped the
/// rest.
pub(crate) struct CappedLog<W: Write> {
    out: W,
    cap: u64,
    written: u64,
    dropped: u64,
}

impl<W: Write> CappedLog<W> {
    pub(crate) fn new(out: W, cap: u64) -> CappedLog<W> {
        CappedLog {
            out,
            cap,
            written: 0,
            dropped: 0,
        }
    }

    /// Bytes past the cap that were dropped so far.
    pub(crate) fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Takes one chunk of the worker's output.
    pub(crate) fn handle_chunk(&mut self, chunk: &[u8]) -> io::Result<()> {
        let room = usize::try_from(self.cap - self.written).unwrap_or(usize::MAX);
        let (keep, drop) = chunk.split_at(chunk.len().min(room));
        if !keep.is_empty() {
            self.out.write_all(keep)?;
            self.written += keep.len() as u64;
        }
        if !drop.is_empty() {
            if self.dropped == 0 {
                let note = format!(
                    "\n[gossipper: worker.log reached its cap of {} bytes (gossipper ui --max-worker-log-bytes); the rest of the worker's output is dropped]\n",
                    self.cap
                );
                self.out.write_all(note.as_bytes())?;
            }
            self.dropped += drop.len() as u64;
        }
        Ok(())
    }
}

/// Copies `from` into `to` until end of stream, keeping at most `cap` bytes. Keeps
/// reading after a write error too (a full disk must not block the worker either).
/// Returns how many bytes were dropped.
pub(crate) fn copy_capped(mut from: impl Read, to: impl Write, cap: u64) -> u64 {
    let mut log = CappedLog::new(to, cap);
    let mut writable = true;
    let mut buf = vec![0u8; 64 << 10];
    loop {
        match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                if writable && let Err(e) = log.handle_chunk(&buf[..n]) {
                    eprintln!("gossipper ui: writing worker.log: {e}; the rest is dropped");
                    writable = false;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        }
    }
    log.dropped()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_first_cap_bytes_then_one_line_and_drops_the_rest() {
        let mut out = Vec::new();
        let mut log = CappedLog::new(&mut out, 10);
        log.handle_chunk(b"12345").unwrap();
        log.handle_chunk(b"67890abc").unwrap();
        log.handle_chunk(b"more and more").unwrap();
        assert_eq!(log.dropped(), 3 + 13);
        let text = String::from_utf8(out).unwrap();
        let (kept, note) = text.split_once('\n').unwrap();
        assert_eq!(kept, "1234567890");
        assert!(note.contains("cap of 10 bytes"), "{note}");
        assert_eq!(text.matches("[gossipper:").count(), 1, "said once");
    }

    #[test]
    fn under_the_cap_the_log_is_copied_whole() {
        let input = b"line one\nline two\n".repeat(100);
        let mut out = Vec::new();
        assert_eq!(copy_capped(&input[..], &mut out, 1 << 20), 0);
        assert_eq!(out, input);
    }

    #[test]
    fn a_huge_stream_is_read_to_its_end_and_the_output_stays_bounded() {
        // 64 MiB of input through a 4 KiB cap: every byte is consumed (the worker's
        // pipe never fills), and the output is the cap plus one line.
        let huge = std::io::repeat(b'x').take(64 << 20);
        let mut out = Vec::new();
        let dropped = copy_capped(huge, &mut out, 4096);
        assert_eq!(dropped, (64 << 20) - 4096);
        assert!(out.len() < 4096 + 200, "{}", out.len());
        assert!(out.ends_with(b"dropped]\n"));
    }
}
