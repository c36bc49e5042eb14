//! The media engine's output queue: datagrams to send, in one reused buffer.
//!
//! Owns: the bytes and destinations queued during one media turn. Must not: send them
//! (the runtime's `shard::media_io` does, with sendmmsg) or grow per packet beyond the turn's bytes.

use std::net::SocketAddr;

/// One datagram to send: `len` bytes at `start` in the queue's buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MediaTransmit {
    pub dest: SocketAddr,
    start: usize,
    len: usize,
}

/// Outgoing media datagrams, in one reused buffer.
#[derive(Debug, Default)]
pub struct MediaTx {
    buf: Vec<u8>,
    items: Vec<MediaTransmit>,
}

impl MediaTx {
    /// Queues `bytes` for `dest`; returns where they start in the buffer.
    pub(super) fn push(&mut self, dest: SocketAddr, bytes: &[u8]) -> usize {
        let start = self.buf.len();
        self.buf.extend_from_slice(bytes);
        self.items.push(MediaTransmit {
            dest,
            start,
            len: bytes.len(),
        });
        start
    }

    /// The queued bytes from `start` on, to patch a datagram just pushed.
    pub(super) fn bytes_mut(&mut self, start: usize, len: usize) -> Option<&mut [u8]> {
        self.buf.get_mut(start..start + len)
    }

    /// The queued datagrams.
    pub fn items(&self) -> &[MediaTransmit] {
        &self.items
    }

    /// The bytes of one queued datagram.
    pub fn bytes(&self, t: &MediaTransmit) -> &[u8] {
        self.buf.get(t.start..t.start + t.len).unwrap_or(&[])
    }

    /// Forgets every queued datagram (keeps the capacity).
    pub fn clear(&mut self) {
        self.buf.clear();
        self.items.clear();
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}
