//! The master's HTTP limits: how many connections are admitted (overall and per client
//! address), how long a request may take to arrive, how fast a body must come in and a
//! reply go out.
//!
//! Owns: the numbers, their defaults, the admission count and the deadline arithmetic,
//! all pure (no sockets, no clock: callers pass `now`), so each rule has a unit test.
//! Must not: read or write a socket (`conn` and `reply` apply the deadlines).
//!
//! Why admission is counted per connection: every admitted connection runs on a thread
//! of its own (`conn`), so capping connections caps threads. A slow client cannot hold
//! more than the per-address share, and every read and write has a deadline, so it
//! cannot hold even that share for long.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Most bytes of a request head (request line and headers), as hyper's default buffer.
pub(crate) const MAX_HEAD_BYTES: usize = 16 << 10;
/// Most header lines in a request head.
pub(crate) const MAX_HEADERS: usize = 100;
/// The slowest a body may arrive, or a reply be taken, on average (bytes per second):
/// a 16 MiB scenario has 10 s + 256 s.
pub(crate) const MIN_RATE: u64 = 64 << 10;
/// Requests served on one connection before it is closed (`Connection: close` on the
/// last reply), so no client keeps one thread forever however busy it is.
pub(crate) const MAX_REQUESTS_PER_CONNECTION: u32 = 1000;
/// An unread body at most this long is read and dropped after the reply, so the
/// connection can serve the next request; a longer one closes the connection.
pub(crate) const DRAIN_MAX: u64 = 64 << 10;
/// Closing with request bytes unread would reset the connection and could destroy the
/// reply before the client reads it, so the master first reads and drops what the client
/// still sends, for at most this long and this many bytes (a lingering close).
pub(crate) const LINGER_TIME: Duration = Duration::from_secs(2);
pub(crate) const LINGER_BYTES: u64 = 4 << 20;
/// Stack of a connection thread. Handlers are shallow (serde_json stops at 128 levels,
/// scenarios are validated by a bounded loader); a thread's stack is address space,
/// touched only as deep as it is used.
pub(crate) const STACK_SIZE: usize = 1 << 20;

/// The limits of one master, from `gossipper ui`'s flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limits {
    /// Connections served at once (each has a thread); more get 503.
    pub(crate) max_connections: usize,
    /// Connections from one client address (an IPv6 client: its /64); more get 503.
    pub(crate) max_per_client: usize,
    /// Time for a whole request head, counted from the connection's accept or from the
    /// first byte of a kept-alive connection's next request. Also the longest wait for
    /// one read or write, and the grace added to body and reply deadlines.
    pub(crate) request_timeout: Duration,
    /// How long a kept-alive connection may wait for its next request.
    pub(crate) idle_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_connections: 512,
            max_per_client: 64,
            request_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(15),
        }
    }
}

impl Limits {
    /// When a transfer of `len` bytes starting at `now` must be done: a body must have
    /// arrived, a reply must have been taken by the client (streams and WebSocket
    /// sessions are long-lived: only each of their writes is timed).
    pub(crate) fn deadline(&self, now: Instant, len: u64) -> Instant {
        // No panic for any u64: `len / MIN_RATE` seconds fits a Duration, and an Instant
        // too far ahead falls back to the grace alone (such a length is refused anyway).
        let slack = self.request_timeout + Duration::from_secs(len / MIN_RATE);
        now.checked_add(slack).unwrap_or(now + self.request_timeout)
    }

    /// When one read or write of a transfer due at `deadline` must be done: a client
    /// that sends or takes nothing for `request_timeout` is cut off even when the whole
    /// transfer has longer.
    pub(crate) fn step_deadline(&self, now: Instant, deadline: Instant) -> Instant {
        deadline.min(now + self.request_timeout)
    }
}

/// The timeout to set on a socket before a read or write that must end by `deadline`:
/// what is left, never zero (a zero timeout means "none" to the OS); `None` when the
/// deadline has passed.
pub(crate) fn io_timeout(now: Instant, deadline: Instant) -> Option<Duration> {
    let left = deadline.checked_duration_since(now)?;
    if left.is_zero() {
        return None;
    }
    Some(left.max(Duration::from_millis(1)))
}

/// Whose share a connection counts against: the address, except that an IPv4 client
/// seen through an IPv6 socket is its IPv4 address, and an IPv6 client is its /64 (one
/// host usually owns a whole /64 and could otherwise use a fresh address per connection).
pub(crate) fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

/// Why a connection was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Every slot is taken (`max_connections`).
    Full(usize),
    /// This client has its share (`max_per_client`).
    ClientFull(usize),
}

#[derive(Debug, Default)]
struct Counts {
    total: usize,
    per_client: HashMap<IpAddr, usize>,
}

/// The admission count: connections open now, overall and per client.
#[derive(Debug, Clone)]
pub(crate) struct Admission {
    max_connections: usize,
    max_per_client: usize,
    counts: Arc<Mutex<Counts>>,
}

impl Admission {
    pub(crate) fn new(limits: &Limits) -> Admission {
        Admission {
            max_connections: limits.max_connections,
            max_per_client: limits.max_per_client,
            counts: Arc::default(),
        }
    }

    /// Takes a slot for a connection from `ip`, or says which cap it hit. The slot is
    /// given back when the returned [`Slot`] is dropped (also when its thread panics).
    pub(crate) fn admit(&self, ip: IpAddr) -> Result<Slot, Refusal> {
        let key = client_key(ip);
        let mut c = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        if c.total >= self.max_connections {
            return Err(Refusal::Full(self.max_connections));
        }
        let mine = c.per_client.entry(key).or_insert(0);
        if *mine >= self.max_per_client {
            return Err(Refusal::ClientFull(self.max_per_client));
        }
        *mine += 1;
        c.total += 1;
        Ok(Slot {
            key,
            counts: Arc::clone(&self.counts),
        })
    }

    /// Connections open now (overall, and from `ip`'s client).
    #[cfg(test)]
    pub(crate) fn open(&self, ip: IpAddr) -> (usize, usize) {
        let c = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        let mine = c.per_client.get(&client_key(ip)).copied().unwrap_or(0);
        (c.total, mine)
    }
}

/// One admitted connection's place in the count.
#[derive(Debug)]
pub(crate) struct Slot {
    key: IpAddr,
    counts: Arc<Mutex<Counts>>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut c = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        c.total = c.total.saturating_sub(1);
        if let Some(mine) = c.per_client.get_mut(&self.key) {
            *mine = mine.saturating_sub(1);
            if *mine == 0 {
                // Keep the map as small as the set of clients connected now.
                c.per_client.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn ip(last: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(127, 0, 0, last))
    }

    fn admission(total: usize, per_client: usize) -> Admission {
        Admission::new(&Limits {
            max_connections: total,
            max_per_client: per_client,
            ..Limits::default()
        })
    }

    #[test]
    fn a_client_at_its_share_is_refused_while_others_are_admitted() {
        let a = admission(10, 2);
        let s1 = a.admit(ip(2)).unwrap();
        let _s2 = a.admit(ip(2)).unwrap();
        assert_eq!(a.admit(ip(2)).unwrap_err(), Refusal::ClientFull(2));
        let _other = a.admit(ip(3)).expect("another client still gets a slot");
        assert_eq!(a.open(ip(2)), (3, 2));
        drop(s1);
        assert_eq!(a.open(ip(2)), (2, 1));
        let _again = a
            .admit(ip(2))
            .expect("a closed connection gives its slot back");
    }

    #[test]
    fn the_global_cap_refuses_everyone_until_a_slot_is_given_back() {
        let a = admission(3, 2);
        let slots: Vec<Slot> = [2, 3, 4].iter().map(|&n| a.admit(ip(n)).unwrap()).collect();
        assert_eq!(a.admit(ip(5)).unwrap_err(), Refusal::Full(3));
        drop(slots);
        assert_eq!(a.open(ip(2)), (0, 0));
        assert!(
            a.counts.lock().unwrap().per_client.is_empty(),
            "no entry left behind"
        );
        assert!(a.admit(ip(5)).is_ok());
    }

    #[test]
    fn a_slot_is_given_back_when_its_thread_panics() {
        let a = admission(1, 1);
        let slot = a.admit(ip(2)).unwrap();
        let joined = std::thread::spawn(move || {
            let _slot = slot;
            panic!("handler bug");
        })
        .join();
        assert!(joined.is_err());
        assert_eq!(a.open(ip(2)), (0, 0));
    }

    #[test]
    fn ipv6_clients_share_their_slash_64_and_mapped_ipv4_is_ipv4() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(client_key(a), client_key(b));
        assert_ne!(client_key(a), client_key(c));
        let mapped: IpAddr = "::ffff:127.0.0.2".parse().unwrap();
        assert_eq!(client_key(mapped), ip(2));
        assert_eq!(client_key(ip(2)), ip(2));
    }

    #[test]
    fn deadlines_grow_with_the_length_at_the_minimum_rate() {
        let l = Limits::default();
        let t0 = Instant::now();
        assert_eq!(l.deadline(t0, 0), t0 + Duration::from_secs(10));
        assert_eq!(
            l.deadline(t0, 60_000),
            t0 + Duration::from_secs(10),
            "a small body has the grace only"
        );
        assert_eq!(l.deadline(t0, 16 << 20), t0 + Duration::from_secs(10 + 256));
        assert_eq!(
            l.deadline(t0, 256 << 20),
            t0 + Duration::from_secs(10 + 4096)
        );
        // Any declared length is safe to compute with (it is refused anyway).
        assert!(l.deadline(t0, u64::MAX) > t0);
    }

    #[test]
    fn io_timeouts_are_what_is_left_and_never_zero() {
        let l = Limits::default();
        let t0 = Instant::now();
        let s = Duration::from_secs;
        assert_eq!(io_timeout(t0, t0 + s(3)), Some(s(3)));
        assert_eq!(
            io_timeout(t0, t0 + Duration::from_micros(10)),
            Some(Duration::from_millis(1)),
            "never zero (no timeout at all to the OS)"
        );
        assert_eq!(io_timeout(t0 + s(1), t0), None, "passed");
        assert_eq!(io_timeout(t0, t0), None, "due now");
        assert_eq!(
            l.step_deadline(t0, t0 + s(300)),
            t0 + s(10),
            "one step waits 10 s at most"
        );
        assert_eq!(l.step_deadline(t0, t0 + s(3)), t0 + s(3));
    }
}
