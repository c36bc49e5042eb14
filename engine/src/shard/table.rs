//! The call table of one shard: a slab of calls addressed by `CallHandle`, a Call-ID
//! index, the timer heap and the recently ended Call-IDs.
//!
//! Owns: where calls live. Must not: run calls or do I/O. Timer entries carry the
//! handle's generation; stale ones are skipped when they fire instead of being cancelled
//! (STYLE.md §2).
//!
//! Memory per held call is a budget (issue #3): a slot is 24 bytes and a timer entry 16
//! (deadlines are kept as nanoseconds after the table's epoch, not as 16-byte
//! `Instant`s), and the index keeps 64-bit hashes, not Call-IDs.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::hash::{BuildHasher, Hasher};
use std::time::{Duration, Instant};

use crate::call::Call;

/// A fast multiply-rotate hash for Call-IDs (SipHash showed up at 1.5 % of a call's
/// instructions). Keyed per table, so a peer cannot precompute colliding Call-IDs.
#[derive(Clone, Copy)]
pub struct CallIdHasher {
    h: u64,
}

const K: u64 = 0x517c_c1b7_2722_0a95;

impl Hasher for CallIdHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.h = (self.h.rotate_left(5) ^ u64::from_le_bytes(w)).wrapping_mul(K);
        }
        for &b in chunks.remainder() {
            self.h = (self.h.rotate_left(5) ^ u64::from(b)).wrapping_mul(K);
        }
    }
    fn write_u8(&mut self, b: u8) {
        self.h = (self.h.rotate_left(5) ^ u64::from(b)).wrapping_mul(K);
    }
    fn write_usize(&mut self, n: usize) {
        self.h = (self.h.rotate_left(5) ^ n as u64).wrapping_mul(K);
    }
    fn finish(&self) -> u64 {
        self.h
    }
}

/// Builds `CallIdHasher`s from one random key.
#[derive(Clone, Copy)]
pub struct CallIdHash {
    key: u64,
}

impl Default for CallIdHash {
    fn default() -> Self {
        // The address of a fresh stack value plus the hash of std's RandomState: a key
        // that differs per run without reading a clock.
        let rs = std::collections::hash_map::RandomState::new();
        CallIdHash {
            key: rs.hash_one(0x9e37_79b9_u64),
        }
    }
}

impl BuildHasher for CallIdHash {
    type Hasher = CallIdHasher;
    fn build_hasher(&self) -> CallIdHasher {
        CallIdHasher { h: self.key }
    }
}

/// A call's address in the slab; the generation stops a reused slot from getting a stale
/// timer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CallHandle {
    pub index: u32,
    pub generation: u32,
}

struct Slot {
    generation: u32,
    /// Boxed: the slab grows by doubling, and spare capacity of 8-byte pointers costs
    /// little next to spare capacity of 250-byte calls (memory per held call).
    call: Option<Box<Call>>,
    /// The earliest timer entry in the heap for this call (`Tick::NONE`: none), so the
    /// same deadline is not pushed again after every step.
    armed: Tick,
}

/// A deadline as nanoseconds after the table's epoch (8 bytes instead of an
/// `Instant`'s 16, for every slot and timer entry). One before the epoch is kept as the
/// epoch: rounded up, never down (STYLE.md §2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Tick(u64);

impl Tick {
    const NONE: Tick = Tick(u64::MAX);

    fn is_some(self) -> bool {
        self != Tick::NONE
    }
}

/// How long the Call-ID of an ended call is remembered (messages for it are "dead call
/// messages", not new calls). SIPp keeps them 33 s (`-deadcall_wait`); we keep fewer
/// seconds and a cap, so memory stays bounded at high rates.
const DEAD_CALL_WAIT: Duration = Duration::from_secs(5);
const DEAD_CALL_MAX: usize = 500_000;

/// The keys are already hashes: use them as they are.
#[derive(Clone, Copy, Default)]
pub struct NoHash;

/// Passes a `u64` key through.
#[derive(Default)]
pub struct PassThrough(u64);

impl Hasher for PassThrough {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

impl BuildHasher for NoHash {
    type Hasher = PassThrough;
    fn build_hasher(&self) -> PassThrough {
        PassThrough(0)
    }
}

pub struct CallTable {
    /// The origin of `Tick`s: no deadline comes before it (the run's start).
    epoch: Instant,
    slots: Vec<Slot>,
    free: Vec<u32>,
    /// Call-ID hash → handle; the call itself holds the Call-ID, compared on lookup, so
    /// the index keeps no copy. The rare second Call-ID with the same 64-bit hash goes
    /// to `collisions`.
    by_hash: HashMap<u64, CallHandle, NoHash>,
    collisions: HashMap<Box<[u8]>, CallHandle>,
    hasher: CallIdHash,
    timers: BinaryHeap<Reverse<(Tick, CallHandle)>>,
    /// Hashes of recently ended Call-IDs (a false "dead" match needs a 64-bit collision).
    dead: HashMap<u64, Instant, NoHash>,
    dead_order: VecDeque<(Instant, u64)>,
    live: usize,
}

impl CallTable {
    /// An empty table whose deadlines all come at or after `epoch`.
    pub fn new(epoch: Instant) -> CallTable {
        CallTable {
            epoch,
            slots: Vec::new(),
            free: Vec::new(),
            by_hash: HashMap::default(),
            collisions: HashMap::new(),
            hasher: CallIdHash::default(),
            timers: BinaryHeap::new(),
            dead: HashMap::default(),
            dead_order: VecDeque::new(),
            live: 0,
        }
    }

    fn tick(&self, at: Instant) -> Tick {
        let ns = at.saturating_duration_since(self.epoch).as_nanos();
        Tick(u64::try_from(ns).unwrap_or(u64::MAX - 1).min(u64::MAX - 1))
    }

    fn instant(&self, t: Tick) -> Instant {
        self.epoch + Duration::from_nanos(t.0)
    }

    pub fn len(&self) -> usize {
        self.live
    }

    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// Inserts a call under its Call-ID.
    pub fn insert(&mut self, call: Call) -> CallHandle {
        let key = self.hasher.hash_one(call.call_id());
        let collides = self.by_hash.contains_key(&key);
        let id: Option<Box<[u8]>> = collides.then(|| call.call_id().into());
        let handle = match self.free.pop() {
            Some(index) => {
                let slot = &mut self.slots[index as usize];
                slot.generation = slot.generation.wrapping_add(1);
                slot.call = Some(Box::new(call));
                slot.armed = Tick::NONE;
                CallHandle {
                    index,
                    generation: slot.generation,
                }
            }
            None => {
                let index = self.slots.len() as u32;
                self.slots.push(Slot {
                    generation: 0,
                    call: Some(Box::new(call)),
                    armed: Tick::NONE,
                });
                CallHandle {
                    index,
                    generation: 0,
                }
            }
        };
        match id {
            Some(id) => {
                self.collisions.insert(id, handle);
            }
            None => {
                self.by_hash.insert(key, handle);
            }
        }
        self.live += 1;
        handle
    }

    pub fn find(&self, call_id: &[u8]) -> Option<CallHandle> {
        let key = self.hasher.hash_one(call_id);
        if let Some(&h) = self.by_hash.get(&key)
            && self.call(h).is_some_and(|c| c.call_id() == call_id)
        {
            return Some(h);
        }
        if self.collisions.is_empty() {
            None
        } else {
            self.collisions.get(call_id).copied()
        }
    }

    fn call(&self, h: CallHandle) -> Option<&Call> {
        let slot = self.slots.get(h.index as usize)?;
        if slot.generation != h.generation {
            return None;
        }
        slot.call.as_deref()
    }

    pub fn get_mut(&mut self, h: CallHandle) -> Option<&mut Call> {
        let slot = self.slots.get_mut(h.index as usize)?;
        if slot.generation != h.generation {
            return None;
        }
        slot.call.as_deref_mut()
    }

    /// Removes a call and remembers its Call-ID as dead until `now + DEAD_CALL_WAIT`.
    pub fn remove(&mut self, h: CallHandle, now: Instant) -> Option<Call> {
        let slot = self.slots.get_mut(h.index as usize)?;
        if slot.generation != h.generation {
            return None;
        }
        let call = *slot.call.take()?;
        self.free.push(h.index);
        self.live -= 1;
        let id = call.call_id();
        let key = self.hasher.hash_one(id);
        if self.by_hash.get(&key) == Some(&h) {
            self.by_hash.remove(&key);
        } else {
            self.collisions.remove(id);
        }
        if self.dead.len() < DEAD_CALL_MAX {
            self.dead.insert(key, now + DEAD_CALL_WAIT);
            self.dead_order.push_back((now + DEAD_CALL_WAIT, key));
        }
        Some(call)
    }

    pub fn is_dead(&self, call_id: &[u8]) -> bool {
        !self.dead.is_empty() && self.dead.contains_key(&self.hasher.hash_one(call_id))
    }

    /// Forgets dead Call-IDs whose wait is over.
    pub fn expire_dead(&mut self, now: Instant) {
        while let Some((at, _)) = self.dead_order.front() {
            if *at > now {
                break;
            }
            if let Some((at, key)) = self.dead_order.pop_front()
                && self.dead.get(&key) == Some(&at)
            {
                self.dead.remove(&key);
            }
        }
    }

    /// Arms a timer for `h` at `at`. Several entries per call are fine: the call decides
    /// what is due when it runs.
    pub fn arm(&mut self, h: CallHandle, at: Instant) {
        // Rounded up to whole nanoseconds after the epoch (`Instant`s are no finer here).
        let at = self.tick(at);
        if let Some(slot) = self.slots.get_mut(h.index as usize)
            && slot.generation == h.generation
        {
            if slot.armed.is_some() && slot.armed <= at {
                return;
            }
            slot.armed = at;
        }
        self.timers.push(Reverse((at, h)));
    }

    /// The earliest armed timer.
    pub fn next_timer(&self) -> Option<Instant> {
        self.timers.peek().map(|Reverse((at, _))| self.instant(*at))
    }

    /// Pops one timer due at `now`.
    pub fn pop_due(&mut self, now: Instant) -> Option<CallHandle> {
        let now = self.tick(now);
        match self.timers.peek() {
            Some(Reverse((at, _))) if *at <= now => {
                let Reverse((at, h)) = self.timers.pop()?;
                if let Some(slot) = self.slots.get_mut(h.index as usize)
                    && slot.armed == at
                {
                    slot.armed = Tick::NONE;
                }
                Some(h)
            }
            _ => None,
        }
    }

    /// Every live call's handle (for aborting them all).
    pub fn handles(&self) -> Vec<CallHandle> {
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.call.is_some())
            .map(|(i, s)| CallHandle {
                index: i as u32,
                generation: s.generation,
            })
            .collect()
    }
}
