//! The UDP server hand-off: spreads one peer's calls over every shard.
//!
//! Server shards share one port (SO_REUSEPORT) and the kernel hashes each peer's 4-tuple
//! to one socket, so a single peer (one SIPp, one proxy) lands on one shard and the others
//! idle. With the hand-off, the shard that receives a datagram reads its Call-ID
//! ([`call_id_of`], no full parse) and, when a hash of it names another shard, copies the
//! datagram into that shard's batch. At the end of the turn each batch goes over a channel
//! and an eventfd wakes its shard, which handles the datagrams as if it had received them
//! and answers from its own socket (same port). Every message of a call therefore reaches
//! the same shard, whichever socket it came in on.
//!
//! Owns: routing by Call-ID, the outgoing batches of a turn, this shard's inbox and wake-up
//! fd, and the count of shards still running: a shard keeps forwarding until every shard
//! is done, or the calls it forwards for would starve. Cost: one copy and one Call-ID
//! scan per forwarded datagram, one channel send and one eventfd write per shard per turn.

use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};

pub use crate::endpoint::owner;
use crate::sip::call_id_of;

/// Datagrams for one shard, gathered during one turn.
#[derive(Default)]
pub struct Batch {
    bytes: Vec<u8>,
    /// `start..end` of each datagram in `bytes`, and who sent it.
    items: Vec<(usize, usize, SocketAddr)>,
}

struct Peer {
    tx: Sender<Batch>,
    wake: Arc<OwnedFd>,
}

/// One shard's end of the hand-off.
pub struct Handoff {
    me: usize,
    peers: Vec<Peer>,
    inbox: Receiver<Batch>,
    wake: Arc<OwnedFd>,
    /// Outgoing batches of this turn, by shard (ours stays empty).
    out: Vec<Batch>,
    /// Emptied batches kept for reuse (bounded), so a steady run stops allocating them.
    spare: Vec<Batch>,
    running: Arc<AtomicUsize>,
    counted_done: bool,
}

impl Handoff {
    /// One end per shard, connected to each other.
    pub fn set(shards: usize) -> io::Result<Vec<Handoff>> {
        let mut ends = Vec::with_capacity(shards);
        for _ in 0..shards {
            let (tx, rx) = channel();
            ends.push((tx, rx, Arc::new(eventfd()?)));
        }
        let running = Arc::new(AtomicUsize::new(shards));
        let peers: Vec<(Sender<Batch>, Arc<OwnedFd>)> = ends
            .iter()
            .map(|(tx, _, wake)| (tx.clone(), Arc::clone(wake)))
            .collect();
        Ok(ends
            .into_iter()
            .enumerate()
            .map(|(me, (_, inbox, wake))| Handoff {
                me,
                peers: peers
                    .iter()
                    .map(|(tx, wake)| Peer {
                        tx: tx.clone(),
                        wake: Arc::clone(wake),
                    })
                    .collect(),
                inbox,
                wake,
                out: (0..shards).map(|_| Batch::default()).collect(),
                spare: Vec::new(),
                running: Arc::clone(&running),
                counted_done: false,
            })
            .collect())
    }

    /// Takes the datagram for its owner when that is another shard (true), else leaves it
    /// to this shard (false; also for a datagram without a Call-ID, which the parser will
    /// count as malformed here).
    pub fn forward(&mut self, bytes: &[u8], src: SocketAddr) -> bool {
        let Some(call_id) = call_id_of(bytes) else {
            return false;
        };
        let to = owner(call_id, self.peers.len());
        if to == self.me {
            return false;
        }
        let Some(batch) = self.out.get_mut(to) else {
            return false;
        };
        let start = batch.bytes.len();
        batch.bytes.extend_from_slice(bytes);
        batch.items.push((start, batch.bytes.len(), src));
        true
    }

    /// Sends this turn's batches and wakes their shards.
    pub fn flush(&mut self) {
        for (to, slot) in self.out.iter_mut().enumerate() {
            if slot.items.is_empty() {
                continue;
            }
            let batch = std::mem::replace(slot, self.spare.pop().unwrap_or_default());
            if let Some(peer) = self.peers.get(to)
                && peer.tx.send(batch).is_ok()
            {
                signal(&peer.wake);
            }
        }
    }

    /// Hands every forwarded datagram waiting for this shard to `handle`; returns how many.
    pub fn receive(&mut self, mut handle: impl FnMut(&[u8], SocketAddr)) -> usize {
        clear(&self.wake);
        let mut n = 0;
        while let Ok(mut batch) = self.inbox.try_recv() {
            for &(start, end, src) in &batch.items {
                if let Some(bytes) = batch.bytes.get(start..end) {
                    handle(bytes, src);
                    n += 1;
                }
            }
            batch.bytes.clear();
            batch.items.clear();
            if self.spare.len() < 2 * self.peers.len() {
                self.spare.push(batch);
            }
        }
        n
    }

    /// The fd that becomes readable when a batch arrives (wait on it with the socket).
    pub fn fd(&self) -> RawFd {
        self.wake.as_raw_fd()
    }

    /// Records whether this shard has nothing left to do; true once every shard has.
    /// A done shard is done for good (a stopping server opens no call).
    pub fn all_done(&mut self, done: bool) -> bool {
        if done && !self.counted_done {
            self.counted_done = true;
            self.running.fetch_sub(1, Ordering::AcqRel);
        }
        self.running.load(Ordering::Acquire) == 0
    }
}

/// A shard that ends without saying it is done (its executor failed to start, its loop
/// returned early, a panic) must not keep the others forwarding for it forever.
impl Drop for Handoff {
    fn drop(&mut self) {
        self.all_done(true);
    }
}

#[allow(unsafe_code)]
fn eventfd() -> io::Result<OwnedFd> {
    // SAFETY: eventfd takes no pointers; a non-negative result is a new fd we own.
    let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just created and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

#[allow(unsafe_code)]
fn signal(fd: &OwnedFd) {
    let one: u64 = 1;
    // SAFETY: writes 8 bytes from a live u64 to an eventfd; a full counter (EAGAIN) means
    // the shard is already woken, so the result is not needed.
    unsafe {
        libc::write(fd.as_raw_fd(), (&raw const one).cast(), 8);
    }
}

#[allow(unsafe_code)]
fn clear(fd: &OwnedFd) {
    let mut n: u64 = 0;
    // SAFETY: reads at most 8 bytes into a live u64; EAGAIN (not signalled) is fine.
    unsafe {
        libc::read(fd.as_raw_fd(), (&raw mut n).cast(), 8);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invite(call_id: &str) -> Vec<u8> {
        format!("INVITE sip:a@b SIP/2.0\r\nCall-ID: {call_id}\r\nCSeq: 1 INVITE\r\n\r\n")
            .into_bytes()
    }

    #[test]
    fn every_datagram_reaches_the_owner_of_its_call_in_order() {
        let mut ends = Handoff::set(2).unwrap();
        let src: SocketAddr = "127.0.0.1:5061".parse().unwrap();
        // Everything arrives at shard 0, as one peer's datagrams do.
        let ids: Vec<String> = (0..200).map(|i| format!("{i}-call@host")).collect();
        let mut kept = Vec::new();
        for id in &ids {
            for _ in 0..2 {
                if !ends[0].forward(&invite(id), src) {
                    kept.push(id.clone());
                }
            }
        }
        ends[0].flush();
        let mut got = Vec::new();
        let n = ends[1].receive(|bytes, from| {
            assert_eq!(from, src);
            got.push(String::from_utf8_lossy(call_id_of(bytes).unwrap()).into_owned());
        });
        assert_eq!(n, got.len());
        // Both shards get a fair share, each message of a call on its owner only.
        assert!(
            kept.len() > 140 && got.len() > 140,
            "{} / {}",
            kept.len(),
            got.len()
        );
        assert_eq!(kept.len() + got.len(), 400);
        for id in &kept {
            assert_eq!(owner(id.as_bytes(), 2), 0);
        }
        for id in &got {
            assert_eq!(owner(id.as_bytes(), 2), 1);
        }
        let in_order: Vec<&String> = ids.iter().filter(|i| owner(i.as_bytes(), 2) == 1).collect();
        let deduped: Vec<&String> = got.iter().step_by(2).collect();
        assert_eq!(deduped, in_order);
        // Nothing more is waiting; a garbage datagram stays where it came in.
        assert_eq!(ends[1].receive(|_, _| {}), 0);
        assert!(!ends[0].forward(b"garbage", src));
    }

    #[test]
    fn all_done_only_when_every_shard_is() {
        let mut ends = Handoff::set(2).unwrap();
        assert!(!ends[0].all_done(true));
        assert!(!ends[0].all_done(true), "counted once");
        assert!(!ends[1].all_done(false));
        assert!(ends[1].all_done(true));
        assert!(ends[0].all_done(true));
    }

    #[test]
    fn a_shard_that_goes_away_counts_as_done() {
        let mut ends = Handoff::set(3).unwrap();
        let dropped = ends.pop();
        drop(dropped);
        assert!(!ends[0].all_done(true));
        assert!(ends[1].all_done(true));
    }
}
