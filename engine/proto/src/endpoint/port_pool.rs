//! `-t un` for clients: which local UDP port (one socket each) every new call sends from
//! and receives on, as SIPp does (one socket per call; past `-max_socket`, calls share
//! the sockets already open, round-robin).
//!
//! Owns: the bookkeeping only — ports the shell bound and handed in (`supply`), how many
//! calls use each open port, and the ports whose last call ended (`poll_closed`). Must
//! not: create, bind or close sockets; the runtime's shard loop does, and the
//! `Endpoint` asks this pool for a port when it opens a call and gives it back when the
//! call ends.

use std::collections::{HashMap, VecDeque};

/// Per-call UDP ports of one shard.
#[derive(Debug)]
pub struct PortPool {
    /// This shard's share of `-max_socket` (at least 1).
    max: usize,
    /// Bound by the shell, not used by any call yet.
    free: Vec<u16>,
    /// Open ports and how many live calls use each (in round-robin order).
    open: Vec<(u16, u32)>,
    /// Port → position in `open`.
    index: HashMap<u16, usize>,
    /// Round-robin cursor once the cap is reached.
    next: usize,
    /// Ports whose last call ended since the shell last looked: it closes them.
    closed: VecDeque<u16>,
    /// Set when the shell could not bind another socket: from then on calls share the
    /// open sockets as if `-max_socket` were reached.
    exhausted: bool,
    /// The shard's own socket, used when no per-call socket could be bound at all.
    fallback: u16,
}

impl PortPool {
    pub fn new(max: usize, fallback: u16) -> PortPool {
        PortPool {
            max: max.max(1),
            free: Vec::new(),
            open: Vec::new(),
            index: HashMap::new(),
            next: 0,
            closed: VecDeque::new(),
            exhausted: false,
            fallback,
        }
    }

    /// How many more bound ports the shell should hand in so that `new_calls` calls can
    /// open now: never more than the cap leaves room for.
    #[must_use]
    pub fn wanted(&self, new_calls: usize) -> usize {
        if self.exhausted {
            return 0;
        }
        let room = self.max.saturating_sub(self.open.len());
        new_calls.min(room).saturating_sub(self.free.len())
    }

    /// The shell bound a socket on `port`.
    pub fn supply(&mut self, port: u16) {
        self.free.push(port);
    }

    /// The shell could not bind another socket: calls share the open ones from now on.
    pub fn bind_failed(&mut self) {
        self.exhausted = true;
    }

    /// The port for a new call. `None`: below the cap but no bound port is ready; the
    /// call must wait for the next turn (the shell binds more first).
    pub fn assign(&mut self) -> Option<u16> {
        if self.open.len() < self.max {
            if let Some(port) = self.free.pop() {
                self.index.insert(port, self.open.len());
                self.open.push((port, 1));
                return Some(port);
            }
            if !self.exhausted {
                return None;
            }
        }
        if self.open.is_empty() {
            return Some(self.fallback);
        }
        let i = self.next % self.open.len();
        self.next = i + 1;
        let slot = self.open.get_mut(i)?;
        slot.1 += 1;
        Some(slot.0)
    }

    /// A call that used `port` ended. When it was the port's last call, the port goes to
    /// `poll_closed`. Unknown ports (the fallback) are ignored.
    pub fn release(&mut self, port: u16) {
        let Some(&i) = self.index.get(&port) else {
            return;
        };
        let Some(slot) = self.open.get_mut(i) else {
            return;
        };
        slot.1 = slot.1.saturating_sub(1);
        if slot.1 > 0 {
            return;
        }
        self.open.swap_remove(i);
        self.index.remove(&port);
        if let Some(moved) = self.open.get(i) {
            self.index.insert(moved.0, i);
        }
        self.closed.push_back(port);
    }

    /// The next port to close (its last call ended), oldest first.
    #[must_use]
    pub fn poll_closed(&mut self) -> Option<u16> {
        self.closed.pop_front()
    }

    /// Ports in use by at least one call.
    pub fn open_count(&self) -> usize {
        self.open.len()
    }

    /// Bound ports not yet used.
    pub fn free_count(&self) -> usize {
        self.free.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_call_gets_its_own_port_and_the_port_closes_when_the_call_ends() {
        let mut p = PortPool::new(100, 5060);
        assert_eq!(p.wanted(3), 3);
        for port in [4001, 4002, 4003] {
            p.supply(port);
        }
        assert_eq!(p.wanted(3), 0);
        let a = p.assign().unwrap();
        let b = p.assign().unwrap();
        let c = p.assign().unwrap();
        let mut ports = vec![a, b, c];
        ports.sort_unstable();
        assert_eq!(ports, vec![4001, 4002, 4003]);
        assert_eq!(p.open_count(), 3);
        p.release(b);
        let mut closed = Vec::new();
        closed.extend(std::iter::from_fn(|| p.poll_closed()));
        assert_eq!(closed, vec![b]);
        assert_eq!(p.open_count(), 2);
        // The others are still open and close on their own release.
        p.release(a);
        p.release(c);
        closed.extend(std::iter::from_fn(|| p.poll_closed()));
        assert_eq!(closed.len(), 3);
        assert_eq!(p.open_count(), 0);
    }

    #[test]
    fn a_call_waits_when_no_bound_port_is_ready_below_the_cap() {
        let mut p = PortPool::new(10, 5060);
        assert_eq!(p.assign(), None);
        p.supply(4001);
        assert_eq!(p.assign(), Some(4001));
        assert_eq!(p.assign(), None);
    }

    #[test]
    fn at_the_cap_calls_share_open_ports_round_robin_and_close_after_the_last() {
        let mut p = PortPool::new(2, 5060);
        assert_eq!(p.wanted(5), 2);
        p.supply(4001);
        p.supply(4002);
        let first: Vec<u16> = (0..6).map(|_| p.assign().unwrap()).collect();
        let distinct: std::collections::BTreeSet<u16> = first.iter().copied().collect();
        assert_eq!(distinct.len(), 2, "{first:?}");
        // Round-robin: the four extra calls are spread two and two.
        let on_first = first.iter().filter(|&&x| x == first[0]).count();
        assert_eq!(on_first, 3, "{first:?}");
        assert_eq!(p.wanted(5), 0, "no room under the cap");
        let mut closed = Vec::new();
        for port in &first[..5] {
            p.release(*port);
        }
        closed.extend(std::iter::from_fn(|| p.poll_closed()));
        assert_eq!(closed.len(), 1, "one port still has a call");
        p.release(first[5]);
        closed.extend(std::iter::from_fn(|| p.poll_closed()));
        assert_eq!(closed.len(), 2);
        assert_eq!(p.wanted(1), 1, "room again after closing");
    }

    #[test]
    fn after_a_bind_failure_calls_share_open_ports_or_use_the_shard_socket() {
        let mut p = PortPool::new(100, 5060);
        p.bind_failed();
        assert_eq!(p.wanted(4), 0);
        assert_eq!(
            p.assign(),
            Some(5060),
            "nothing open: the shard's own socket"
        );
        p.release(5060);
        let mut closed = Vec::new();
        closed.extend(std::iter::from_fn(|| p.poll_closed()));
        assert!(closed.is_empty(), "the shard socket is never closed");
        let mut p = PortPool::new(100, 5060);
        p.supply(4001);
        assert_eq!(p.assign(), Some(4001));
        p.bind_failed();
        assert_eq!(p.assign(), Some(4001));
        assert_eq!(p.free_count(), 0);
    }

    #[test]
    fn releasing_unknown_or_twice_is_harmless() {
        let mut p = PortPool::new(3, 5060);
        p.supply(4001);
        let a = p.assign().unwrap();
        p.release(a);
        p.release(a);
        p.release(9999);
        let mut closed = Vec::new();
        closed.extend(std::iter::from_fn(|| p.poll_closed()));
        assert_eq!(closed, vec![a]);
    }
}
