//! The login throttle: failed logins counted per account and per client address over a
//! sliding window.
//!
//! Rule: a login is refused (429, before any password check) while the client's address
//! has [`Limits::per_ip`] failures in the window, whatever accounts they named, or while
//! the named account has [`Limits::per_user`] failures in the window, from any address.
//! A success forgives only the failures of *that* account from *that* address (a typo
//! before the right password), so an operator's own good logins never clear the guesses
//! it made at the admin password, and a user signing in never clears what an attacker
//! did elsewhere. IPv6 clients count per /64 (one host usually holds a whole /64).
//!
//! Owns: the failure records and the "retry after" answer. Must not: read a clock (the
//! caller passes `now`, so tests drive it), or touch the database.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Longest account name kept as a key (usernames are at most 64 characters; a longer
/// name cannot exist, and its key must not grow with the request body).
const MAX_USER_KEY: usize = 64;
/// Keys kept before expired ones are swept (the argon2 cost of each failure bounds how
/// fast new ones can come).
const SWEEP_AT: usize = 10_000;

/// How many failures each count allows within `window`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub(crate) per_ip: usize,
    pub(crate) per_user: usize,
    pub(crate) window: Duration,
}

impl Default for Limits {
    /// 5 failures per address and 20 per account per minute: a person who mistypes is
    /// never stopped, one address gets 5 guesses a minute, and guesses spread over many
    /// addresses get 20 a minute per account (locking an account out for everyone takes
    /// that many failures every minute, from at least 4 addresses).
    fn default() -> Limits {
        Limits {
            per_ip: 5,
            per_user: 20,
            window: Duration::from_secs(60),
        }
    }
}

/// A refused attempt: how long until the next one may be tried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Refused {
    pub(crate) retry_after: Duration,
}

/// A client address as counted: IPv4 as is (IPv4-mapped IPv6 too), IPv6 by /64.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum IpKey {
    V4(u32),
    V6Net(u64),
}

impl IpKey {
    fn of(ip: IpAddr) -> IpKey {
        match ip {
            IpAddr::V4(v4) => IpKey::V4(u32::from(v4)),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => IpKey::V4(u32::from(v4)),
                None => IpKey::V6Net((u128::from(v6) >> 64) as u64),
            },
        }
    }
}

/// Usernames are case-insensitive (the store's `COLLATE NOCASE`), so the key is too.
fn user_key(username: &str) -> Box<str> {
    let mut end = username.len().min(MAX_USER_KEY);
    while !username.is_char_boundary(end) {
        end -= 1;
    }
    username[..end].to_ascii_lowercase().into_boxed_str()
}

#[derive(Default)]
struct State {
    /// Per address: when each failure happened and which account it named.
    by_ip: HashMap<IpKey, VecDeque<(Instant, Box<str>)>>,
    /// Per account: when each failure happened and from which address.
    by_user: HashMap<Box<str>, VecDeque<(Instant, IpKey)>>,
}

/// Drops the failures older than the window from the front of a queue.
fn expire<T>(q: &mut VecDeque<(Instant, T)>, now: Instant, window: Duration) {
    while q
        .front()
        .is_some_and(|(t, _)| now.saturating_duration_since(*t) >= window)
    {
        q.pop_front();
    }
}

/// How long until a queue holds fewer than `limit` failures; zero if it already does.
fn wait_for<T>(
    q: &VecDeque<(Instant, T)>,
    limit: usize,
    now: Instant,
    window: Duration,
) -> Duration {
    if q.len() < limit {
        return Duration::ZERO;
    }
    // Once the (len - limit)th oldest failure ages out, one fewer than the limit remain.
    q.get(q.len() - limit).map_or(Duration::ZERO, |(t, _)| {
        (*t + window).saturating_duration_since(now)
    })
}

pub(crate) struct Throttle {
    limits: Limits,
    state: Mutex<State>,
}

impl Throttle {
    pub(crate) fn new(limits: Limits) -> Throttle {
        Throttle {
            limits,
            state: Mutex::new(State::default()),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // Plain queues behind the lock; a panic elsewhere cannot leave them torn.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether `username` may be tried from `ip` now; if not, how long to wait.
    pub(crate) fn check(&self, ip: IpAddr, username: &str, now: Instant) -> Result<(), Refused> {
        let Limits {
            per_ip,
            per_user,
            window,
        } = self.limits;
        let mut st = self.state();
        let mut wait = Duration::ZERO;
        if let Some(q) = st.by_ip.get_mut(&IpKey::of(ip)) {
            expire(q, now, window);
            wait = wait.max(wait_for(q, per_ip, now, window));
        }
        if let Some(q) = st.by_user.get_mut(&user_key(username)) {
            expire(q, now, window);
            wait = wait.max(wait_for(q, per_user, now, window));
        }
        if wait.is_zero() {
            Ok(())
        } else {
            Err(Refused { retry_after: wait })
        }
    }

    /// Counts a failed login of `username` from `ip` against both.
    pub(crate) fn record_failure(&self, ip: IpAddr, username: &str, now: Instant) {
        let window = self.limits.window;
        let (ip, user) = (IpKey::of(ip), user_key(username));
        let mut st = self.state();
        if st.by_ip.len() + st.by_user.len() > SWEEP_AT {
            let fresh = |t: &Instant| now.saturating_duration_since(*t) < window;
            st.by_ip
                .retain(|_, q| q.back().is_some_and(|(t, _)| fresh(t)));
            st.by_user
                .retain(|_, q| q.back().is_some_and(|(t, _)| fresh(t)));
        }
        st.by_ip
            .entry(ip)
            .or_default()
            .push_back((now, user.clone()));
        st.by_user.entry(user).or_default().push_back((now, ip));
    }

    /// A successful login of `username` from `ip`: forgets the failures of exactly this
    /// account from exactly this address, and nothing else.
    pub(crate) fn record_success(&self, ip: IpAddr, username: &str) {
        let (ip, user) = (IpKey::of(ip), user_key(username));
        let mut st = self.state();
        if let Some(q) = st.by_ip.get_mut(&ip) {
            q.retain(|(_, u)| *u != user);
            if q.is_empty() {
                st.by_ip.remove(&ip);
            }
        }
        if let Some(q) = st.by_user.get_mut(&user) {
            q.retain(|(_, i)| *i != ip);
            if q.is_empty() {
                st.by_user.remove(&user);
            }
        }
    }

    #[cfg(test)]
    fn keys(&self) -> usize {
        let st = self.state();
        st.by_ip.len() + st.by_user.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: Duration = Duration::from_secs(60);

    fn limits() -> Limits {
        Limits {
            per_ip: 5,
            per_user: 20,
            window: MIN,
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn an_address_is_refused_after_its_failures_until_the_oldest_ages_out() {
        let th = Throttle::new(limits());
        let (a, t0) = (ip("10.0.0.1"), Instant::now());
        for i in 0..5 {
            let now = t0 + secs(i);
            assert_eq!(th.check(a, "admin", now), Ok(()), "attempt {i}");
            th.record_failure(a, "admin", now);
        }
        // Failures at t0..t0+4: the first ages out at t0+60.
        assert_eq!(
            th.check(a, "admin", t0 + secs(10)),
            Err(Refused {
                retry_after: secs(50)
            })
        );
        assert_eq!(th.check(ip("10.0.0.2"), "admin", t0 + secs(10)), Ok(()));
        assert_eq!(th.check(a, "admin", t0 + secs(60)), Ok(()));
    }

    #[test]
    fn good_logins_of_one_account_never_clear_guesses_at_another() {
        // The attack of issue #14 item 6: an operator interleaves its own successful
        // logins with guesses of the admin password, from one address.
        let th = Throttle::new(limits());
        let (a, t0) = (ip("192.0.2.7"), Instant::now());
        let mut guesses = 0;
        for i in 0..50u64 {
            let now = t0 + Duration::from_millis(10 * i);
            // The operator's own good login, whenever the address is not refused.
            if th.check(a, "op", now).is_ok() {
                th.record_success(a, "op");
            }
            if th.check(a, "admin", now).is_err() {
                break;
            }
            th.record_failure(a, "admin", now);
            guesses += 1;
        }
        assert_eq!(
            guesses, 5,
            "5 guesses, as if the good logins were not there"
        );
        let now = t0 + secs(1);
        assert!(th.check(a, "admin", now).is_err());
        assert!(
            th.check(a, "op", now).is_err(),
            "the address is refused as a whole"
        );
        // A success of the *same* account from the same address (a typo, then the
        // right password) does forgive its own failures.
        th.record_success(a, "admin");
        assert_eq!(th.check(a, "admin", now), Ok(()));
    }

    #[test]
    fn a_user_signing_in_elsewhere_never_clears_an_attackers_failures() {
        let th = Throttle::new(limits());
        let t0 = Instant::now();
        // 20 addresses, one guess each at admin: the account is now refused everywhere.
        for i in 0..20u8 {
            let a = ip(&format!("198.51.100.{i}"));
            assert_eq!(th.check(a, "admin", t0), Ok(()));
            th.record_failure(a, "Admin", t0);
        }
        let fresh = ip("203.0.113.1");
        assert!(
            th.check(fresh, "ADMIN", t0).is_err(),
            "per account, any case"
        );
        assert_eq!(th.check(fresh, "op", t0), Ok(()), "other accounts are free");
        // The real admin cannot sign in either, and an operator's success from one of
        // the attacking addresses clears nothing of admin's count.
        th.record_success(ip("198.51.100.3"), "op");
        assert_eq!(
            th.check(fresh, "admin", t0 + secs(1)),
            Err(Refused {
                retry_after: secs(59)
            })
        );
        // admin's own success from one address forgives only that address's failure.
        th.record_success(ip("198.51.100.3"), "admin");
        assert_eq!(th.check(fresh, "admin", t0 + secs(1)), Ok(()));
        th.record_failure(fresh, "admin", t0 + secs(1));
        assert!(th.check(fresh, "admin", t0 + secs(1)).is_err());
    }

    #[test]
    fn ipv6_clients_count_per_64_and_mapped_ipv4_as_ipv4() {
        let th = Throttle::new(limits());
        let t0 = Instant::now();
        for i in 0..5 {
            th.record_failure(ip(&format!("2001:db8:1:2::{i}")), &format!("u{i}"), t0);
        }
        assert!(th.check(ip("2001:db8:1:2:ffff::9"), "x", t0).is_err());
        assert_eq!(th.check(ip("2001:db8:1:3::1"), "x", t0), Ok(()));
        for _ in 0..5 {
            th.record_failure(ip("::ffff:10.1.1.1"), "x", t0);
        }
        assert!(th.check(ip("10.1.1.1"), "y", t0).is_err());
    }

    #[test]
    fn long_names_share_a_bounded_key_and_expired_keys_are_swept() {
        let th = Throttle::new(limits());
        let t0 = Instant::now();
        let long = "é".repeat(1000);
        assert!(user_key(&long).len() <= MAX_USER_KEY);
        for i in 0..(SWEEP_AT as u32) {
            th.record_failure(IpAddr::from(i.to_be_bytes()), &format!("u{i}"), t0);
        }
        assert!(th.keys() > SWEEP_AT);
        th.record_failure(ip("10.9.9.9"), "late", t0 + MIN);
        assert_eq!(th.keys(), 2, "only the fresh failure's keys remain");
    }
}
