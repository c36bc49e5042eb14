//! The live SIP capture of `gossipper server` (its `/api/v2/sip/trace`): the SIP messages
//! a shard received and sent, with their addresses and times, kept in one buffer until
//! the shard's next publish hands them to the runner.
//!
//! Owns: [`Captured`], a batch of messages whose bytes share one arena (cleared, never
//! freed, so a shard in steady state does not allocate), bounded per batch in messages
//! and bytes, each message cut at [`RAW_LIMIT`]. Must not: lock, read a clock or decide
//! whether to capture (the shard reads `Control::capturing` once per turn).

use std::net::SocketAddr;
use std::time::SystemTime;

/// The longest part of a message kept (the rest is cut; `len` keeps the real size).
pub const RAW_LIMIT: usize = 16 << 10;
/// Messages one batch holds (more in one publish period are counted in `dropped`).
pub const BATCH_MESSAGES: usize = 1024;
/// Bytes one batch holds.
pub const BATCH_BYTES: usize = 2 << 20;

/// One captured message: where it went, when, and where its bytes are in the arena.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CapturedMsg {
    pub wall: SystemTime,
    /// We sent it (else we received it).
    pub sent: bool,
    pub src: SocketAddr,
    pub dst: SocketAddr,
    /// Carried over UDP (else a stream: TCP, TLS, WebSocket).
    pub udp: bool,
    /// The message's whole size (the kept bytes may be cut).
    pub len: usize,
    start: usize,
    end: usize,
}

/// A batch of captured messages.
#[derive(Debug, Default)]
pub struct Captured {
    msgs: Vec<CapturedMsg>,
    bytes: Vec<u8>,
    /// Messages not kept because the batch was full.
    pub dropped: u64,
}

impl Captured {
    /// Keeps one message (cut at [`RAW_LIMIT`]) unless the batch is full.
    pub fn push(
        &mut self,
        wall: SystemTime,
        sent: bool,
        src: SocketAddr,
        dst: SocketAddr,
        udp: bool,
        bytes: &[u8],
    ) {
        let kept = &bytes[..bytes.len().min(RAW_LIMIT)];
        if self.msgs.len() >= BATCH_MESSAGES || self.bytes.len() + kept.len() > BATCH_BYTES {
            self.dropped += 1;
            return;
        }
        let start = self.bytes.len();
        self.bytes.extend_from_slice(kept);
        self.msgs.push(CapturedMsg {
            wall,
            sent,
            src,
            dst,
            udp,
            len: bytes.len(),
            start,
            end: self.bytes.len(),
        });
    }

    /// Moves `other`'s messages to the end of this batch (kept within this batch's
    /// bounds), leaving `other` empty with its buffers.
    pub fn append(&mut self, other: &mut Captured) {
        if self.msgs.is_empty() {
            // Nothing to keep here: take `other`'s buffers, give it ours.
            let dropped = self.dropped;
            std::mem::swap(self, other);
            self.dropped += dropped;
            other.clear();
            return;
        }
        for (m, b) in other.iter() {
            if self.msgs.len() >= BATCH_MESSAGES || self.bytes.len() + b.len() > BATCH_BYTES {
                self.dropped += 1;
                continue;
            }
            let start = self.bytes.len();
            self.bytes.extend_from_slice(b);
            self.msgs.push(CapturedMsg {
                start,
                end: self.bytes.len(),
                ..*m
            });
        }
        self.dropped += other.dropped;
        other.clear();
    }

    /// The messages in the order kept, each with its (possibly cut) bytes.
    pub fn iter(&self) -> impl Iterator<Item = (&CapturedMsg, &[u8])> {
        self.msgs.iter().map(|m| (m, &self.bytes[m.start..m.end]))
    }

    pub fn len(&self) -> usize {
        self.msgs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.msgs.is_empty() && self.dropped == 0
    }

    /// Orders the messages by time (several shards' batches interleave).
    pub fn sort_by_time(&mut self) {
        self.msgs.sort_by_key(|m| m.wall);
    }

    /// Empties the batch, keeping its buffers.
    pub fn clear(&mut self) {
        self.msgs.clear();
        self.bytes.clear();
        self.dropped = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn addr(p: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], p))
    }

    #[test]
    fn messages_are_cut_bounded_and_moved_whole() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(10);
        let mut a = Captured::default();
        a.push(
            t0,
            true,
            addr(1),
            addr(2),
            true,
            b"INVITE sip:x SIP/2.0\r\n\r\n",
        );
        let big = vec![b'x'; RAW_LIMIT + 5];
        a.push(
            t0 - Duration::from_secs(1),
            false,
            addr(2),
            addr(1),
            true,
            &big,
        );
        let (m, b) = a.iter().nth(1).unwrap();
        assert_eq!((m.len, b.len()), (RAW_LIMIT + 5, RAW_LIMIT));
        a.sort_by_time();
        assert!(!a.iter().next().unwrap().0.sent);
        let mut whole = Captured::default();
        whole.push(t0, false, addr(3), addr(1), false, b"BYE");
        whole.append(&mut a);
        assert_eq!(whole.len(), 3);
        assert!(a.is_empty());
        assert_eq!(
            whole.iter().nth(2).unwrap().1,
            b"INVITE sip:x SIP/2.0\r\n\r\n"
        );
        for _ in 0..BATCH_MESSAGES {
            whole.push(t0, true, addr(1), addr(2), true, b"x");
        }
        assert_eq!(whole.len(), BATCH_MESSAGES);
        assert_eq!(whole.dropped, 3);
    }
}
