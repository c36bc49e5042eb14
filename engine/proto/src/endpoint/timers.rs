//! The timer wheel of one shard (issue #3: "a timer wheel per shard"): which call is due
//! next, in O(1) per timer instead of a heap's O(log n).
//!
//! Owns: one deadline per key (the call table's slot index) and the order they fall due
//! in. Must not: read a clock (it is given `Tick`s), know what a key stands for, or
//! allocate per timer. Driven by `table::CallTable`, which sets, cancels and pops.
//!
//! A hierarchical wheel, as in Linux and tokio: 8 levels of 64 slots, each level with a
//! `u64` bitmap of its non-empty slots. A level-0 slot spans 2^19 ns (≈ 0.52 ms) and each
//! level's slots are 64 times wider than the level below (33.5 ms, 2.1 s, 137 s,
//! 2.4 h, …; 8 levels cover every `u64` nanosecond). An entry sits at the level of the
//! highest bit in which its deadline differs from the wheel's clock, so every entry of a
//! lower level falls due before any entry of a higher one, and the earliest slot is the
//! first set bit of the lowest non-empty level. When the clock reaches a slot of a higher
//! level its entries move down (at most once per level: amortised O(1)). Entries keep
//! their exact deadline: those of a partly elapsed level-0 slot are compared with `now`
//! one by one, so none fires early and none is missed. That walk costs the slot's
//! entries (a few at 10,000 calls/s: a slot is 0.5 ms) and happens only when the slot's
//! earliest entry is due.
//!
//! Memory per held call is a budget: the lists are intrusive. Each key has one 16-byte
//! node (deadline, next, prev) in a `Vec` that grows with the call slab; a slot is only
//! a list head, so slots keep no spare capacity, and arming allocates nothing. A key
//! has one deadline at a time and cancelling is an O(1) unlink, so the table cancels an
//! ended call's timer rather than skipping it when it fires (STYLE.md §2 skips stale
//! entries because a heap cannot cancel; the call side is unchanged: calls still never
//! cancel, and an early `handle_timeout` stays harmless).

/// A deadline as nanoseconds after the call table's epoch (8 bytes instead of an
/// `Instant`'s 16).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Tick(u64);

impl Tick {
    /// The latest deadline the wheel holds (`u64::MAX` marks a node without a deadline).
    pub(crate) const MAX: Tick = Tick(u64::MAX - 1);

    /// `ns` nanoseconds after the epoch, kept at `Tick::MAX` beyond it.
    pub(crate) const fn from_nanos(ns: u64) -> Tick {
        if ns > Tick::MAX.0 {
            Tick::MAX
        } else {
            Tick(ns)
        }
    }

    pub(crate) const fn as_nanos(self) -> u64 {
        self.0
    }

    /// The first multiple of `grid` nanoseconds at or after this tick (`grid` > 0).
    pub(crate) const fn round_up(self, grid: u64) -> Tick {
        match self.0.checked_next_multiple_of(grid) {
            Some(ns) => Tick::from_nanos(ns),
            None => Tick::MAX,
        }
    }
}

/// log2 of the slots per level.
const SLOT_BITS: u32 = 6;
const SLOTS: usize = 1 << SLOT_BITS;
/// log2 of a level-0 slot's width in nanoseconds: 2^19 ns ≈ 0.52 ms.
const UNIT_BITS: u32 = 19;
/// Enough levels for every deadline below 2^64 ns: ⌈(64 − 19) / 6⌉.
const LEVELS: usize = (64 - UNIT_BITS).div_ceil(SLOT_BITS) as usize;
/// The list of due entries, after the `LEVELS × SLOTS` wheel slots.
const READY: usize = LEVELS * SLOTS;
/// "No node" in links and list heads.
const NIL: u32 = u32::MAX;
/// "No deadline" in nodes, "no entry" in list minima.
const NONE: u64 = u64::MAX;

/// One key's place in a list: 16 bytes per call slot, the whole cost of its timer.
#[derive(Clone, Copy)]
struct Node {
    /// Nanoseconds after the epoch, exact; `NONE` when the key has no timer.
    deadline: u64,
    next: u32,
    prev: u32,
}

const IDLE: Node = Node {
    deadline: NONE,
    next: NIL,
    prev: NIL,
};

/// Deadlines of keys `0..n`; see the module doc.
pub(crate) struct TimerWheel {
    /// By key.
    nodes: Vec<Node>,
    /// The first node of each list (wheel slots by `level * SLOTS + slot`, then `READY`).
    /// Lists are circular, so the head's `prev` is the tail: appending keeps arming
    /// order without a tail array.
    heads: Box<[u32]>,
    /// Per list: no later than its earliest deadline (`NONE` when empty). Exact, except
    /// that cancelling the earliest entry leaves the old figure until the list is next
    /// walked; that only makes `next_timer` early.
    mins: Box<[u64]>,
    /// Per level: bit `i` is set when slot `i` holds entries.
    occupied: [u64; LEVELS],
    /// The wheel's clock: the latest `now` seen by `pop_due`. Entries due by it are in
    /// `READY`; every other entry is due after it.
    elapsed: u64,
}

/// The level whose slots tell `t` apart from `elapsed`: the highest differing bit.
fn level_for(elapsed: u64, t: u64) -> usize {
    // Deadlines in the same level-1 block as the clock (differing in bits < 25) stay
    // at level 0.
    let diff = ((elapsed ^ t) >> UNIT_BITS) | (SLOTS as u64 - 1);
    ((63 - diff.leading_zeros()) / SLOT_BITS) as usize
}

/// log2 of the width of a slot at `level`, in nanoseconds.
fn shift(level: usize) -> u32 {
    UNIT_BITS + SLOT_BITS * level as u32
}

fn slot_of(t: u64, level: usize) -> usize {
    ((t >> shift(level)) as usize) & (SLOTS - 1)
}

/// Where slot `slot` of `level` starts, for a wheel whose clock is `elapsed`: in the
/// same block of `SLOTS` slots as the clock (entries are never placed behind it).
fn slot_start(elapsed: u64, level: usize, slot: usize) -> u64 {
    let s = shift(level);
    let block = s + SLOT_BITS;
    let base = if block >= 64 {
        0
    } else {
        elapsed >> block << block
    };
    base | ((slot as u64) << s)
}

impl TimerWheel {
    pub(crate) fn new() -> TimerWheel {
        TimerWheel {
            nodes: Vec::new(),
            heads: vec![NIL; READY + 1].into_boxed_slice(),
            mins: vec![NONE; READY + 1].into_boxed_slice(),
            occupied: [0; LEVELS],
            elapsed: 0,
        }
    }

    /// The deadline armed for `key`, if any.
    pub(crate) fn deadline(&self, key: u32) -> Option<Tick> {
        self.nodes
            .get(key as usize)
            .filter(|n| n.deadline != NONE)
            .map(|n| Tick(n.deadline))
    }

    /// Sets `key`'s one deadline to `at`, replacing any other. A deadline at or before
    /// the wheel's clock is due at once. O(1).
    pub(crate) fn set(&mut self, key: u32, at: Tick) {
        let k = key as usize;
        if k >= self.nodes.len() {
            // Grows with the call slab (amortised doubling), not per timer.
            self.nodes.resize(k + 1, IDLE);
        }
        self.cancel(key);
        self.nodes[k].deadline = at.0;
        let list = self.list_of(at.0);
        self.push_back(list, key);
    }

    /// Forgets `key`'s deadline, if any. O(1).
    pub(crate) fn cancel(&mut self, key: u32) {
        let Some(t) = self.deadline(key) else {
            return;
        };
        let list = self.list_of(t.0);
        self.unlink(list, key);
        self.nodes[key as usize].deadline = NONE;
    }

    /// No later than the earliest deadline. It is the exact earliest one unless the
    /// earliest entry of its slot was cancelled or moved since the slot was last walked;
    /// then it is earlier, though never before that slot's start (less than one slot of
    /// its level early), and the one early wake-up walks the slot and makes it exact.
    /// O(levels): a bitmap scan, no walk.
    #[must_use]
    pub(crate) fn next_timer(&self) -> Option<Tick> {
        if self.heads[READY] != NIL {
            return Some(Tick(self.mins[READY]));
        }
        let level = self.occupied.iter().position(|&bits| bits != 0)?;
        let slot = self.occupied[level].trailing_zeros() as usize;
        Some(Tick(self.mins[level * SLOTS + slot]))
    }

    /// Pops one key whose deadline is at or before `now`, in slot order (arming order
    /// within a slot). A `now` older than the last one is taken as the last: time never
    /// moves back (STYLE.md §2).
    #[must_use]
    pub(crate) fn pop_due(&mut self, now: Tick) -> Option<u32> {
        if now.0 > self.elapsed {
            self.advance(now.0);
        }
        let key = self.heads[READY];
        if key == NIL {
            return None;
        }
        self.unlink(READY, key);
        self.nodes[key as usize].deadline = NONE;
        Some(key)
    }

    /// Moves the clock to `now`: walks every slot that starts by then, in time order,
    /// moving due entries to `READY` and the others down to the level their deadline
    /// now needs.
    fn advance(&mut self, now: u64) {
        while let Some(level) = self.occupied.iter().position(|&bits| bits != 0) {
            // The lowest non-empty level holds the earliest slot (module doc).
            let slot = self.occupied[level].trailing_zeros() as usize;
            let list = level * SLOTS + slot;
            let start = slot_start(self.elapsed, level, slot);
            // A level-0 slot is walked only when its earliest entry is due: this is
            // the partly elapsed slot, so every other slot starts after `now`.
            if start > now || (level == 0 && self.mins[list] > now) {
                break;
            }
            if level > 0 {
                // Lower levels are empty, higher ones start after this slot: the clock
                // may jump to its start, and its entries go below (or are due).
                debug_assert!(start > self.elapsed, "a slot behind the clock");
                self.elapsed = start;
            }
            let first = self.take(list);
            let mut key = first;
            loop {
                let next = self.nodes[key as usize].next;
                let t = self.nodes[key as usize].deadline;
                let to = if t <= now { READY } else { self.list_of(t) };
                self.push_back(to, key);
                if next == first {
                    break;
                }
                key = next;
            }
            if level == 0 && self.heads[list] != NIL {
                // Entries left in a level-0 slot are due after `now`, inside this slot.
                break;
            }
        }
        self.elapsed = now;
    }

    /// The list holding (or to hold) an entry due at `t`.
    fn list_of(&self, t: u64) -> usize {
        if t <= self.elapsed {
            READY
        } else {
            let level = level_for(self.elapsed, t);
            level * SLOTS + slot_of(t, level)
        }
    }

    fn push_back(&mut self, list: usize, key: u32) {
        let head = self.heads[list];
        if head == NIL {
            let n = &mut self.nodes[key as usize];
            n.next = key;
            n.prev = key;
            self.heads[list] = key;
            if list < READY {
                self.occupied[list / SLOTS] |= 1 << (list % SLOTS);
            }
        } else {
            let tail = self.nodes[head as usize].prev;
            let n = &mut self.nodes[key as usize];
            n.next = head;
            n.prev = tail;
            self.nodes[tail as usize].next = key;
            self.nodes[head as usize].prev = key;
        }
        let t = self.nodes[key as usize].deadline;
        self.mins[list] = self.mins[list].min(t);
    }

    fn unlink(&mut self, list: usize, key: u32) {
        let Node { next, prev, .. } = self.nodes[key as usize];
        if next == key {
            self.clear(list);
        } else {
            self.nodes[prev as usize].next = next;
            self.nodes[next as usize].prev = prev;
            if self.heads[list] == key {
                self.heads[list] = next;
            }
        }
    }

    /// Detaches a non-empty list whole and returns its first node; the ring stays
    /// linked, so the caller walks it by `next` back to that node.
    fn take(&mut self, list: usize) -> u32 {
        let first = self.heads[list];
        self.clear(list);
        first
    }

    fn clear(&mut self, list: usize) {
        self.heads[list] = NIL;
        self.mins[list] = NONE;
        if list < READY {
            self.occupied[list / SLOTS] &= !(1 << (list % SLOTS));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;

    use super::*;

    const MS: u64 = 1_000_000;
    const S: u64 = 1_000 * MS;

    impl TimerWheel {
        /// Every structural invariant: links, list placement, minima, bitmaps.
        fn check(&self) {
            let mut listed = 0;
            for list in 0..=READY {
                let head = self.heads[list];
                if list < READY {
                    let bit = self.occupied[list / SLOTS] >> (list % SLOTS) & 1;
                    assert_eq!(bit == 1, head != NIL, "bitmap of list {list}");
                }
                if head == NIL {
                    assert_eq!(self.mins[list], NONE, "min of empty list {list}");
                    continue;
                }
                let mut key = head;
                loop {
                    let n = self.nodes[key as usize];
                    assert_ne!(n.deadline, NONE);
                    assert_eq!(self.list_of(n.deadline), list, "key {key} misplaced");
                    assert!(self.mins[list] <= n.deadline, "min of list {list}");
                    assert_eq!(self.nodes[n.next as usize].prev, key);
                    listed += 1;
                    key = n.next;
                    if key == head {
                        break;
                    }
                }
            }
            let armed = self.nodes.iter().filter(|n| n.deadline != NONE).count();
            assert_eq!(listed, armed);
        }

        fn drain(&mut self, now: u64) -> Vec<u32> {
            std::iter::from_fn(|| self.pop_due(Tick(now))).collect()
        }
    }

    #[test]
    fn near_and_far_deadlines_fire_exactly_at_their_time() {
        let deadlines = [
            1,
            100_000,
            MS,
            40 * MS,
            500 * MS,
            2 * S + 7,
            32 * S,
            60 * S,
            600 * S,
            3 * 3600 * S,
            10 * 86_400 * S,
            Tick::MAX.0,
        ];
        let mut w = TimerWheel::new();
        for (key, &t) in deadlines.iter().enumerate().rev() {
            w.set(key as u32, Tick(t));
        }
        w.check();
        for (key, &t) in deadlines.iter().enumerate() {
            // Nothing was cancelled: the next deadline is exact.
            assert_eq!(w.next_timer(), Some(Tick(t)));
            assert_eq!(w.drain(t - 1), Vec::<u32>::new(), "early at {t}");
            w.check();
            assert_eq!(w.drain(t), vec![key as u32], "at {t}");
            w.check();
        }
        assert_eq!(w.next_timer(), None);
    }

    #[test]
    fn equal_deadlines_fire_together_in_arming_order() {
        let mut w = TimerWheel::new();
        let t = 3 * S + 123;
        for key in 0..100 {
            w.set(key, Tick(t));
        }
        assert_eq!(w.next_timer(), Some(Tick(t)));
        assert!(w.drain(t - 1).is_empty());
        assert_eq!(w.drain(t), (0..100).collect::<Vec<_>>());
        assert_eq!(w.next_timer(), None);
    }

    #[test]
    fn arming_in_the_past_fires_at_once() {
        let mut w = TimerWheel::new();
        assert!(w.drain(10 * S).is_empty());
        w.set(7, Tick(5 * S));
        w.set(8, Tick(10 * S));
        w.set(9, Tick(10 * S + 1));
        assert_eq!(w.next_timer(), Some(Tick(5 * S)));
        w.check();
        // An older `now` is taken as the latest one.
        assert_eq!(w.drain(S), vec![7, 8]);
        assert_eq!(w.next_timer(), Some(Tick(10 * S + 1)));
    }

    #[test]
    fn moving_and_cancelling_keep_one_deadline_per_key() {
        let mut w = TimerWheel::new();
        w.set(1, Tick(500 * MS));
        w.set(2, Tick(700 * MS));
        w.set(1, Tick(32 * S));
        assert_eq!(w.deadline(1), Some(Tick(32 * S)));
        w.cancel(2);
        w.cancel(2);
        assert_eq!(w.deadline(2), None);
        w.check();
        // The cancelled entry leaves an early (never late) next deadline.
        assert!(w.next_timer().is_some_and(|t| t <= Tick(32 * S)));
        assert!(w.drain(32 * S - 1).is_empty());
        assert_eq!(w.next_timer(), Some(Tick(32 * S)));
        assert_eq!(w.drain(32 * S), vec![1]);
    }

    #[test]
    fn entries_cross_level_boundaries_after_a_long_idle() {
        let mut w = TimerWheel::new();
        // The clock sits just before a level-3 boundary (2^37 ns): a deadline a few
        // nanoseconds later differs from it in a level-3 bit.
        let edge = 1u64 << 37;
        assert!(w.drain(edge - 3).is_empty());
        let deadlines = [
            edge - 2,
            edge,
            edge + 5,
            edge + (1 << 19),
            edge + (1 << 25) - 1,
            edge + (1 << 31) + 1,
            edge + (1 << 43),
            edge << 8,
        ];
        for (key, &t) in deadlines.iter().enumerate() {
            w.set(key as u32, Tick(t));
        }
        w.check();
        assert_eq!(w.next_timer(), Some(Tick(edge - 2)));
        assert_eq!(w.drain(edge - 2), vec![0]);
        assert_eq!(w.next_timer(), Some(Tick(edge)));
        assert_eq!(w.drain(edge + 4), vec![1]);
        assert_eq!(w.next_timer(), Some(Tick(edge + 5)));
        w.check();
        // A long idle: one `now` past most deadlines, which fire in time order.
        assert_eq!(w.drain(edge + (1 << 43)), vec![2, 3, 4, 5, 6]);
        w.check();
        assert_eq!(w.next_timer(), Some(Tick(edge << 8)));
        assert!(w.drain((edge << 8) - 1).is_empty());
        assert_eq!(w.drain(u64::MAX), vec![7]);
        w.check();
    }

    /// splitmix64: a seeded, dependency-free random source for the test.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        }

        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }

        /// A span from nanoseconds to weeks, mostly around the call timers' scale.
        fn span(&mut self) -> u64 {
            match self.below(10) {
                0 => self.below(1 << 19),
                1..=3 => self.below(100 * MS),
                4..=6 => self.below(2 * S),
                7 => self.below(64 * S),
                8 => self.below(3_600 * S),
                _ => self.below(1 << 50),
            }
        }
    }

    /// The wheel against a sorted reference (a heap with lazy deletion), with a clock
    /// advancing in random steps and keys set, moved and cancelled at random.
    #[test]
    fn wheel_matches_a_sorted_reference() {
        for seed in 1..=6u64 {
            let mut rng = Rng(seed);
            let mut w = TimerWheel::new();
            let keys = 1 + rng.below(3000) as u32;
            let mut current = vec![NONE; keys as usize];
            let mut heap: BinaryHeap<Reverse<(u64, u32)>> = BinaryHeap::new();
            let mut now = rng.below(1 << 40);
            let mut popped = 0u64;
            for round in 0..20_000 {
                for _ in 0..rng.below(40) {
                    let key = rng.below(u64::from(keys)) as u32;
                    match rng.below(8) {
                        0 => {
                            w.cancel(key);
                            current[key as usize] = NONE;
                        }
                        r => {
                            let t = match r {
                                // In the past, or now.
                                1 => now.saturating_sub(rng.span()),
                                // Equal to another live deadline.
                                2 => heap.peek().map_or(now, |Reverse((t, _))| *t),
                                _ => now.saturating_add(rng.span()).min(Tick::MAX.0),
                            };
                            w.set(key, Tick(t));
                            current[key as usize] = t;
                            heap.push(Reverse((t, key)));
                        }
                    }
                }
                // The reference's earliest live deadline.
                while let Some(&Reverse((t, key))) = heap.peek() {
                    if current[key as usize] == t {
                        break;
                    }
                    heap.pop();
                }
                let earliest = heap.peek().map(|Reverse((t, _))| *t);
                let next = w.next_timer().map(Tick::as_nanos);
                assert_eq!(
                    next.is_some(),
                    earliest.is_some(),
                    "seed {seed} round {round}"
                );
                assert!(
                    next <= earliest,
                    "seed {seed} round {round}: {next:?} > {earliest:?}"
                );
                now = match rng.below(10) {
                    0 => now,
                    1..=6 => now + rng.below(2 * MS),
                    7 | 8 => now + rng.below(S),
                    // Sometimes straight to the next deadline, as the shard sleeps.
                    _ => next.map_or(now, |t| t.max(now)),
                };
                // Pop what is due, each checked against the reference; sometimes only
                // part of it, leaving the rest for the next round.
                let limit = if rng.below(4) == 0 {
                    rng.below(5)
                } else {
                    u64::MAX
                };
                let mut n = 0;
                while n < limit {
                    let Some(key) = w.pop_due(Tick(now)) else {
                        break;
                    };
                    let t = current[key as usize];
                    assert!(
                        t <= now,
                        "seed {seed} round {round}: key {key} due {t} > {now}"
                    );
                    current[key as usize] = NONE;
                    n += 1;
                }
                popped += n;
                if n < limit {
                    // Drained: the reference's earliest live deadline is after `now`.
                    while let Some(&Reverse((t, key))) = heap.peek() {
                        if current[key as usize] == t {
                            assert!(t > now, "seed {seed} round {round}: key {key} not popped");
                            break;
                        }
                        heap.pop();
                    }
                }
                if round % 64 == 0 {
                    w.check();
                }
            }
            w.check();
            assert!(popped > 10_000, "seed {seed}: only {popped} popped");
        }
    }
}
