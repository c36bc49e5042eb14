//! The call table of one shard: a slab of calls addressed by `CallHandle`, a Call-ID
//! index, the timer wheel (`timers`) and the recently ended Call-IDs.
//!
//! Owns: where calls live. Must not: run calls or do I/O. A call has one timer, keyed
//! by its slot: after every step the shard sets it to the call's next deadline (or
//! cancels it), and removing the call cancels it, so no timer fires for nothing and a
//! reused slot never gets a stale one. An early `handle_timeout` is still harmless
//! (STYLE.md §2).
//!
//! Memory per held call is a budget (issue #3): a slot is 16 bytes and its timer node
//! 16 (deadlines are kept as nanoseconds after the table's epoch, not as 16-byte
//! `Instant`s), and the index keeps 64-bit hashes, not Call-IDs.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::time::{Duration, Instant};

use super::dead_calls::DeadCalls;
use super::timers::{Tick, TimerWheel};
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
    /// The scenario version the call started on (`Endpoint::replace_scenario`); it sits
    /// in the slot's padding, so a slot stays 16 bytes.
    version: u32,
    /// Boxed: the slab grows by doubling, and spare capacity of 8-byte pointers costs
    /// little next to spare capacity of 250-byte calls (memory per held call).
    call: Option<Box<Call>>,
}

/// The step lazy deadlines are rounded up to (`set_timer`): 2^24 ns ≈ 16.8 ms, so a
/// 4 s timewait ends at most 0.4 % late and timewaits wake a shard at most 60 times a
/// second whatever the call rate.
pub const LAZY_GRID: u64 = 1 << 24;

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
    /// One deadline per slot index, for the slots holding a call.
    timers: TimerWheel,
    /// Hashes of recently ended Call-IDs (a false "dead" match needs a 64-bit collision).
    dead: DeadCalls,
    live: usize,
    /// The scenario version new calls are tagged with.
    version: u32,
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
            timers: TimerWheel::new(),
            dead: DeadCalls::new(epoch),
            live: 0,
            version: 0,
        }
    }

    /// `at` as a `Tick`: whole nanoseconds after the epoch (`Instant`s are no finer
    /// here). One before the epoch is kept as the epoch: rounded up, never down
    /// (STYLE.md §2); one past `Tick::MAX` (584 years) as that.
    fn tick(&self, at: Instant) -> Tick {
        let ns = at.saturating_duration_since(self.epoch).as_nanos();
        Tick::from_nanos(u64::try_from(ns).unwrap_or(u64::MAX))
    }

    fn instant(&self, t: Tick) -> Instant {
        self.epoch + Duration::from_nanos(t.as_nanos())
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
                slot.version = self.version;
                CallHandle {
                    index,
                    generation: slot.generation,
                }
            }
            None => {
                let index = self.slots.len() as u32;
                self.slots.push(Slot {
                    generation: 0,
                    version: self.version,
                    call: Some(Box::new(call)),
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

    /// Tags the calls inserted from now on with scenario version `v`.
    pub fn set_version(&mut self, v: u32) {
        self.version = v;
    }

    /// The scenario version call `h` started on (`None`: no such call).
    pub fn version_of(&self, h: CallHandle) -> Option<u32> {
        let slot = self.slots.get(h.index as usize)?;
        (slot.generation == h.generation && slot.call.is_some()).then_some(slot.version)
    }

    /// Every live call with the scenario version it started on, in slot order.
    pub fn iter_versioned(&self) -> impl Iterator<Item = (&Call, u32)> {
        self.slots
            .iter()
            .filter_map(|s| s.call.as_deref().map(|c| (c, s.version)))
    }

    pub fn find(&self, call_id: &[u8]) -> Option<CallHandle> {
        let key = self.hasher.hash_one(call_id);
        if let Some(&h) = self.by_hash.get(&key)
            && self.get(h).is_some_and(|c| c.call_id() == call_id)
        {
            return Some(h);
        }
        if self.collisions.is_empty() {
            None
        } else {
            self.collisions.get(call_id).copied()
        }
    }

    pub fn get(&self, h: CallHandle) -> Option<&Call> {
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

    /// Removes a call, cancels its timer and remembers its Call-ID as dead for at least
    /// `dead_calls::WAIT`. The call stays in its box: moving it out would copy it.
    pub fn remove(&mut self, h: CallHandle, now: Instant) -> Option<Box<Call>> {
        let slot = self.slots.get_mut(h.index as usize)?;
        if slot.generation != h.generation {
            return None;
        }
        let call = slot.call.take()?;
        self.timers.cancel(h.index);
        self.free.push(h.index);
        self.live -= 1;
        let id = call.call_id();
        let key = self.hasher.hash_one(id);
        if self.by_hash.get(&key) == Some(&h) {
            self.by_hash.remove(&key);
        } else {
            self.collisions.remove(id);
        }
        self.dead.insert(key, now);
        Some(call)
    }

    pub fn is_dead(&self, call_id: &[u8]) -> bool {
        !self.dead.is_empty() && self.dead.contains(self.hasher.hash_one(call_id))
    }

    /// Forgets dead Call-IDs whose wait is over.
    pub fn expire_dead(&mut self, now: Instant) {
        self.dead.expire(now);
    }

    /// Sets call `h`'s one timer to `at` (its `Call::deadline` after a step), moving it
    /// earlier or later, or cancels it (`None`). Exact, not "earliest wins": a timer the
    /// call no longer needs (a retransmission after the answer came) would otherwise
    /// wake the shard for nothing — at 10,000 calls/s, thousands of wake-ups a second.
    /// A stale handle is ignored.
    ///
    /// A `lazy` deadline (the end of a `<timewait>`) is moved up to the next multiple of
    /// [`LAZY_GRID`] after the table's epoch, so the calls ending in one grid step end in
    /// one loop turn: at 10,000 calls/s the uas's timewaits otherwise end at a thousand
    /// scattered instants a second, each a wake-up of its own.
    pub fn set_timer(&mut self, h: CallHandle, at: Option<Instant>, lazy: bool) {
        let live = self
            .slots
            .get(h.index as usize)
            .is_some_and(|s| s.generation == h.generation && s.call.is_some());
        if !live {
            return;
        }
        match at {
            Some(at) => {
                let mut at = self.tick(at);
                if lazy {
                    at = at.round_up(LAZY_GRID);
                }
                if self.timers.deadline(h.index) != Some(at) {
                    self.timers.set(h.index, at);
                }
            }
            None => self.timers.cancel(h.index),
        }
    }

    /// No later than the earliest armed timer, so the shard never sleeps past one. It
    /// is exact, except after the earliest timer of a wheel slot was cancelled or moved:
    /// then it is early by less than that slot's width (0.5 ms near, 2.1 s for a timer
    /// 2–137 s away), and costs one idle loop turn (`TimerWheel::next_timer`).
    pub fn next_timer(&self) -> Option<Instant> {
        self.timers.next_timer().map(|t| self.instant(t))
    }

    /// Pops one call whose timer is due at `now`. Each armed timer fires once.
    pub fn pop_due(&mut self, now: Instant) -> Option<CallHandle> {
        let index = self.timers.pop_due(self.tick(now))?;
        // Removing a call cancels its timer: the slot holds the call that armed it.
        let slot = self.slots.get(index as usize)?;
        Some(CallHandle {
            index,
            generation: slot.generation,
        })
    }

    /// Every live call, in slot order.
    pub fn iter(&self) -> impl Iterator<Item = &Call> {
        self.slots.iter().filter_map(|s| s.call.as_deref())
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
