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

    /// Rewrites the datagram queued last (at `start`) in place with `f(buf, len)`, where
    /// `buf` has `room` spare bytes after its `len`; `f` returns the new length (an SRTP
    /// tag added). On `Err` the datagram is taken back. Grows the buffer only up to the
    /// turn's bytes, like `push`.
    pub(super) fn protect_last<E>(
        &mut self,
        start: usize,
        room: usize,
        f: impl FnOnce(&mut [u8], usize) -> Result<usize, E>,
    ) -> Result<(), E> {
        let Some(item) = self.items.last_mut().filter(|i| i.start == start) else {
            return Ok(());
        };
        let len = item.len;
        self.buf.resize(start + len + room, 0);
        let result = match self.buf.get_mut(start..) {
            Some(b) => f(b, len),
            None => Ok(len),
        };
        match result {
            Ok(n) => {
                let n = n.min(len + room);
                item.len = n;
                self.buf.truncate(start + n);
                Ok(())
            }
            Err(e) => {
                self.items.pop();
                self.buf.truncate(start);
                Err(e)
            }
        }
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
