//! A shard's `-trace_msg` and `-trace_shortmsg` output: every SIP message it received
//! and sent, in the order of the turn (received first, then sent), appended to the files
//! the runner opened, one write per file per turn.
//!
//! Owns: the open files and the turn's formatted text. Must not: format anything itself
//! (`output::traces` has SIPp's framing) or cost anything when tracing is off.

use std::fs::File;
use std::io::Write as _;
use std::time::SystemTime;

use crate::call::TxQueue;
use crate::output::traces::{Direction, msg_block, shortmsg_of};

/// Trace files a shard appends to (each opened by the runner; writes are whole blocks).
#[derive(Default)]
pub struct ShardTraces {
    pub messages: Option<File>,
    pub short_messages: Option<File>,
}

/// A shard's traces and the text of the current turn.
pub(crate) struct Traces {
    files: ShardTraces,
    /// `[transport]` as the trace titles name it.
    transport: &'static str,
    on: bool,
    full: Vec<u8>,
    short: String,
}

impl Traces {
    pub(crate) fn new(files: ShardTraces, transport: &'static str) -> Traces {
        Traces {
            on: files.messages.is_some() || files.short_messages.is_some(),
            files,
            transport,
            full: Vec::new(),
            short: String::new(),
        }
    }

    /// A message received at `wall`.
    #[inline]
    pub(crate) fn received(&mut self, wall: SystemTime, bytes: &[u8]) {
        if self.on {
            self.add(wall, Direction::Received, bytes);
        }
    }

    /// The messages of a batch sent at `wall`.
    pub(crate) fn sent(&mut self, wall: SystemTime, batch: &TxQueue) {
        if self.on {
            for t in &batch.items {
                self.add(wall, Direction::Sent, batch.bytes(t));
            }
        }
    }

    fn add(&mut self, wall: SystemTime, dir: Direction, bytes: &[u8]) {
        if self.files.messages.is_some() {
            self.full
                .extend_from_slice(&msg_block(wall, self.transport, dir, bytes));
        }
        if self.files.short_messages.is_some() {
            self.short.push_str(&shortmsg_of(wall, dir, bytes));
        }
    }

    /// Writes the turn's text (a failed write loses trace lines, never the run).
    pub(crate) fn flush(&mut self) {
        if !self.on {
            return;
        }
        if let Some(f) = self.files.messages.as_mut()
            && !self.full.is_empty()
        {
            let _ = f.write_all(&self.full);
        }
        if let Some(f) = self.files.short_messages.as_mut()
            && !self.short.is_empty()
        {
            let _ = f.write_all(self.short.as_bytes());
        }
        self.full.clear();
        self.short.clear();
    }
}
