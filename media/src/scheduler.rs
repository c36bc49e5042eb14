//! The per-shard RTP scheduler: every outgoing stream of a shard in one hashed timer
//! wheel, drained in batches. No task, thread or heap timer per stream.
//!
//! Owns: a slab of [`RtpStream`]s addressed by generation-checked [`StreamHandle`]s, a
//! wheel of `tick`-wide slots holding `(index, generation, tick)` entries, one reusable
//! send buffer, and the lateness counters that tell whether packets left on time.
//! Must not: read a clock, touch a socket, or allocate per packet (slot vectors keep their
//! capacity). Driven once per turn, in this order:
//!
//! ```text
//! scheduler.handle_timeout(now);                        // streams due at `now`
//! while let Some(t) = scheduler.poll_transmit(now, &mut buf) {
//!     batch.push(dest_of(t.stream), &buf[..t.len]);     // then sendmmsg
//! }
//! while let Some(ev) = scheduler.poll_event() { /* StreamFinished: tell the call */ }
//! arm the shard's timer for scheduler.poll_timeout()
//! ```
//!
//! An entry sits in the slot of `floor(deadline / tick)`; a poll fires every entry whose
//! exact deadline has passed, so a packet is never early and never held back by the
//! wheel's rounding (the current slot is re-scanned until its tick is over). Entries more
//! than one wheel turn ahead stay in their slot and are skipped until their turn.
//! Commands (pause, stop, …) re-arm instead of cancelling: a stale entry is recognised by
//! its generation or tick and dropped when its slot is visited (DESIGN "handles, not
//! references").

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use thiserror::Error;

use crate::stream::{RtpStream, SendStats, StreamError};

/// A packet [`RtpScheduler::poll_transmit`] wrote: which stream it belongs to and how
/// many bytes of the caller's buffer it fills.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transmit {
    /// The stream the packet belongs to.
    pub stream: StreamHandle,
    /// The packet's length: it is `buf[..len]` of the buffer given to `poll_transmit`.
    pub len: usize,
}

/// A stream taken off the wheel by `handle_timeout`, waiting for `poll_transmit`.
#[derive(Debug, Clone, Copy)]
struct Due {
    handle: StreamHandle,
    /// It had finished before this turn (so its finish is not reported again).
    was_finished: bool,
}

/// Default wheel resolution.
pub const DEFAULT_TICK: Duration = Duration::from_millis(1);
/// Default number of slots (power of two): 1024 ticks, about one second at 1 ms.
pub const DEFAULT_SLOTS: usize = 1024;

/// A stream in one scheduler. Stale handles (the stream was removed and the slot
/// reused) are refused, never confused with the new stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StreamHandle {
    index: u32,
    generation: u32,
}

impl StreamHandle {
    /// Slab index, for a caller's parallel table (unique among live streams).
    #[must_use]
    pub fn index(self) -> u32 {
        self.index
    }
}

/// A caller bug: the handle no longer names a stream, or the stream refused a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum SchedulerError {
    /// The stream was removed (or never existed here).
    #[error("unknown or stale stream handle")]
    UnknownStream,
    /// The stream refused the command.
    #[error(transparent)]
    Stream(#[from] StreamError),
}

/// What the scheduler reports besides packets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SchedulerEvent {
    /// The stream played to its end (not reported for `stop`). It stays until removed.
    StreamFinished(StreamHandle),
}

/// How late packets left, measured against the `now` given to `poll_transmit`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Lateness {
    /// Packets sent at most 1 ms after their deadline.
    pub within_1ms: u64,
    /// Packets sent 1–5 ms late.
    pub within_5ms: u64,
    /// Packets sent more than 5 ms late.
    pub later: u64,
    /// The worst lateness seen.
    pub max: Duration,
}

impl Lateness {
    fn record(&mut self, late: Duration) {
        if late <= Duration::from_millis(1) {
            self.within_1ms += 1;
        } else if late <= Duration::from_millis(5) {
            self.within_5ms += 1;
        } else {
            self.later += 1;
        }
        self.max = self.max.max(late);
    }

    /// All packets counted.
    #[must_use]
    pub fn total(&self) -> u64 {
        self.within_1ms + self.within_5ms + self.later
    }
}

#[derive(Debug, Clone, Copy)]
struct WheelEntry {
    index: u32,
    generation: u32,
    tick: u64,
}

#[derive(Debug)]
struct Slot {
    generation: u32,
    stream: Option<RtpStream>,
    /// The tick and deadline of the one live wheel entry, if armed.
    armed: Option<(u64, Instant)>,
}

/// All outgoing RTP streams of one shard. See the module docs for the drive loop.
#[derive(Debug)]
pub struct RtpScheduler {
    epoch: Instant,
    tick_nanos: u64,
    wheel: Vec<Vec<WheelEntry>>,
    mask: u64,
    /// The lowest tick that may still hold due entries.
    cursor: u64,
    slab: Vec<Slot>,
    free: Vec<u32>,
    live: usize,
    /// Streams due now, in wheel order, until `poll_transmit` has taken their packets.
    due: VecDeque<Due>,
    events: VecDeque<SchedulerEvent>,
    lateness: Lateness,
    last_now: Instant,
}

impl RtpScheduler {
    /// A scheduler with the default 1 ms × 1024-slot wheel, starting at `now`.
    #[must_use]
    pub fn new(now: Instant) -> RtpScheduler {
        RtpScheduler::with_wheel(now, DEFAULT_TICK, DEFAULT_SLOTS)
    }

    /// A scheduler with a chosen tick (at least 1 µs) and slot count (rounded up to a
    /// power of two, at least 2).
    #[must_use]
    pub fn with_wheel(now: Instant, tick: Duration, slots: usize) -> RtpScheduler {
        let slots = slots.max(2).next_power_of_two();
        let tick_nanos = u64::try_from(tick.as_nanos())
            .unwrap_or(u64::MAX)
            .max(1_000);
        RtpScheduler {
            epoch: now,
            tick_nanos,
            wheel: (0..slots).map(|_| Vec::new()).collect(),
            mask: slots as u64 - 1,
            cursor: 0,
            slab: Vec::new(),
            free: Vec::new(),
            live: 0,
            due: VecDeque::new(),
            events: VecDeque::new(),
            lateness: Lateness::default(),
            last_now: now,
        }
    }

    /// Number of streams held (playing, paused or finished but not yet removed).
    #[must_use]
    pub fn len(&self) -> usize {
        self.live
    }

    /// True when no stream is held.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// Lateness counters since the start.
    #[must_use]
    pub fn lateness(&self) -> Lateness {
        self.lateness
    }

    fn tick_of(&self, at: Instant) -> u64 {
        let nanos = at.saturating_duration_since(self.epoch).as_nanos();
        u64::try_from(nanos).unwrap_or(u64::MAX) / self.tick_nanos
    }

    /// Adds a stream and returns its handle. Its first deadline is armed at once.
    pub fn insert(&mut self, stream: RtpStream) -> StreamHandle {
        let index = match self.free.pop() {
            Some(i) => i,
            None => {
                self.slab.push(Slot {
                    generation: 0,
                    stream: None,
                    armed: None,
                });
                // The slab would need 4 billion live streams to overflow u32.
                u32::try_from(self.slab.len() - 1).unwrap_or(u32::MAX)
            }
        };
        let Some(slot) = self.slab.get_mut(index as usize) else {
            // Only reachable past u32::MAX streams; the stream is dropped.
            return StreamHandle {
                index,
                generation: u32::MAX,
            };
        };
        slot.stream = Some(stream);
        slot.armed = None;
        self.live += 1;
        let h = StreamHandle {
            index,
            generation: slot.generation,
        };
        self.rearm(h);
        h
    }

    /// Removes a stream and returns it (with its final stats). Its handle becomes stale.
    pub fn remove(&mut self, h: StreamHandle) -> Option<RtpStream> {
        let slot = self.slab.get_mut(h.index as usize)?;
        if slot.generation != h.generation || slot.stream.is_none() {
            return None;
        }
        slot.generation = slot.generation.wrapping_add(1);
        slot.armed = None;
        self.live -= 1;
        self.free.push(h.index);
        slot.stream.take()
    }

    /// The stream behind a handle, for its state and stats.
    #[must_use]
    pub fn stream(&self, h: StreamHandle) -> Option<&RtpStream> {
        let slot = self.slab.get(h.index as usize)?;
        if slot.generation != h.generation {
            return None;
        }
        slot.stream.as_ref()
    }

    /// The send counters of a stream.
    #[must_use]
    pub fn stats(&self, h: StreamHandle) -> Option<SendStats> {
        self.stream(h).map(RtpStream::stats)
    }

    fn with_stream<T>(
        &mut self,
        h: StreamHandle,
        f: impl FnOnce(&mut RtpStream) -> Result<T, StreamError>,
    ) -> Result<T, SchedulerError> {
        let slot = self
            .slab
            .get_mut(h.index as usize)
            .filter(|s| s.generation == h.generation)
            .ok_or(SchedulerError::UnknownStream)?;
        let stream = slot.stream.as_mut().ok_or(SchedulerError::UnknownStream)?;
        let r = f(stream)?;
        self.rearm(h);
        Ok(r)
    }

    /// Pauses a stream.
    pub fn pause(&mut self, h: StreamHandle, now: Instant) -> Result<(), SchedulerError> {
        self.with_stream(h, |s| {
            s.pause(now);
            Ok(())
        })
    }

    /// Resumes a paused stream.
    pub fn resume(&mut self, h: StreamHandle, now: Instant) -> Result<(), SchedulerError> {
        self.with_stream(h, |s| {
            s.resume(now);
            Ok(())
        })
    }

    /// Stops a stream (it stays until removed; no event is reported).
    pub fn stop(&mut self, h: StreamHandle) -> Result<(), SchedulerError> {
        self.with_stream(h, |s| {
            s.stop();
            Ok(())
        })
    }

    /// Queues DTMF keys on a stream.
    pub fn send_dtmf(
        &mut self,
        h: StreamHandle,
        now: Instant,
        keys: &str,
    ) -> Result<(), SchedulerError> {
        self.with_stream(h, |s| s.send_dtmf(now, keys))
    }

    /// Puts the stream's current deadline in the wheel, unless already armed for it.
    fn rearm(&mut self, h: StreamHandle) {
        let Some(slot) = self.slab.get(h.index as usize) else {
            return;
        };
        let deadline = slot.stream.as_ref().and_then(RtpStream::poll_timeout);
        let Some(deadline) = deadline else {
            if let Some(slot) = self.slab.get_mut(h.index as usize) {
                slot.armed = None;
            }
            return;
        };
        if slot.armed.is_some_and(|(_, d)| d == deadline) {
            return;
        }
        // Never file behind the cursor: those slots may not be visited again this turn.
        let tick = self.tick_of(deadline).max(self.cursor);
        if let Some(slot) = self.slab.get_mut(h.index as usize) {
            slot.armed = Some((tick, deadline));
        }
        // The mask keeps the index inside the wheel.
        if let Some(list) = self.wheel.get_mut((tick & self.mask) as usize) {
            list.push(WheelEntry {
                index: h.index,
                generation: h.generation,
                tick,
            });
        }
    }

    /// Takes every stream whose deadline has passed at `now` off the wheel; their
    /// packets come out of [`RtpScheduler::poll_transmit`], in deadline order per stream.
    pub fn handle_timeout(&mut self, now: Instant) {
        let now = now.max(self.last_now);
        self.last_now = now;
        let current = self.tick_of(now);
        if current < self.cursor {
            return;
        }
        let slots = self.mask + 1;
        let span = (current - self.cursor + 1).min(slots);
        // When the gap exceeds a turn, visit every slot once starting at the cursor.
        for t in self.cursor..self.cursor + span {
            self.take_due((t & self.mask) as usize, current, now);
        }
        self.cursor = current;
    }

    fn take_due(&mut self, wheel_index: usize, current: u64, now: Instant) {
        let Some(list) = self.wheel.get_mut(wheel_index) else {
            return;
        };
        let mut list = std::mem::take(list);
        let mut keep = 0;
        for j in 0..list.len() {
            let e = list[j];
            let Some(slot) = self.slab.get_mut(e.index as usize) else {
                continue;
            };
            let live =
                slot.generation == e.generation && slot.armed.is_some_and(|(t, _)| t == e.tick);
            if !live {
                continue; // stale: removed, re-armed elsewhere, paused or stopped
            }
            let deadline = slot.armed.map_or(now, |(_, d)| d);
            if e.tick > current || deadline > now {
                list[keep] = e;
                keep += 1;
                continue;
            }
            slot.armed = None;
            self.due.push_back(Due {
                handle: StreamHandle {
                    index: e.index,
                    generation: e.generation,
                },
                was_finished: slot.stream.as_ref().is_some_and(RtpStream::is_finished),
            });
        }
        list.truncate(keep);
        if let Some(slot_list) = self.wheel.get_mut(wheel_index) {
            // Entries re-armed into this same slot while it was out (a later turn).
            list.append(slot_list);
            *slot_list = list;
        }
    }

    /// The next packet due by `now`, written into `out` (grown to the stream's largest
    /// packet if needed): its stream and length. `None` when every due stream has sent
    /// what it owed; those streams are back on the wheel for their next deadline.
    #[must_use]
    pub fn poll_transmit(&mut self, now: Instant, out: &mut Vec<u8>) -> Option<Transmit> {
        let now = now.max(self.last_now);
        while let Some(&d) = self.due.front() {
            let h = d.handle;
            let stream = self
                .slab
                .get_mut(h.index as usize)
                .filter(|s| s.generation == h.generation)
                .and_then(|s| s.stream.as_mut());
            let Some(stream) = stream else {
                // Removed since it was due.
                self.due.pop_front();
                continue;
            };
            if let Some(due_at) = stream.poll_timeout().filter(|t| *t <= now) {
                let need = stream.max_packet_len();
                if out.len() < need {
                    out.resize(need, 0);
                }
                if let Some(len) = stream.poll_transmit(now, out) {
                    self.lateness.record(now.saturating_duration_since(due_at));
                    return Some(Transmit { stream: h, len });
                }
            }
            let finished = stream.is_finished();
            self.due.pop_front();
            if !d.was_finished && finished {
                self.events.push_back(SchedulerEvent::StreamFinished(h));
            }
            self.rearm(h);
        }
        None
    }

    /// The earliest time worth polling again, or `None` when nothing is armed. For the
    /// current tick this is the exact earliest deadline; further ahead it is the start of
    /// the first non-empty slot (which may hold only stale entries: waking early is
    /// harmless, the wheel never wakes late).
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        let slots = self.mask + 1;
        let current = self.wheel.get((self.cursor & self.mask) as usize)?;
        let exact = current
            .iter()
            .filter(|e| e.tick <= self.cursor)
            .filter_map(|e| {
                let slot = self.slab.get(e.index as usize)?;
                match slot.armed {
                    Some((t, d)) if slot.generation == e.generation && t == e.tick => Some(d),
                    _ => None,
                }
            })
            .min();
        if exact.is_some() {
            return exact;
        }
        let tick_start =
            |tick: u64| self.epoch + Duration::from_nanos(tick.saturating_mul(self.tick_nanos));
        for t in self.cursor + 1..self.cursor + slots {
            let list = self.wheel.get((t & self.mask) as usize)?;
            if list.iter().any(|e| e.tick <= t) {
                return Some(tick_start(t));
            }
        }
        // Only entries more than one turn ahead remain.
        self.wheel
            .iter()
            .flatten()
            .map(|e| e.tick)
            .min()
            .map(tick_start)
    }

    /// The next event (streams that finished by themselves).
    #[must_use]
    pub fn poll_event(&mut self) -> Option<SchedulerEvent> {
        self.events.pop_front()
    }
}

#[cfg(test)]
mod tests;
