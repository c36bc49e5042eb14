//! A gate around password hashing: at most a few argon2 computations run at once.
//!
//! Owns: the count of hashings in progress. Each argon2id hash with the crate's default
//! parameters fills 19 MiB for ~50 ms; with one thread per connection (up to
//! `--max-connections`, 512 by default), unbounded concurrent logins could ask for
//! ~10 GiB. Through the gate the memory is `PERMITS × 19 MiB` whatever the load; the
//! others wait their turn, holding only their connection's slot. Must not: know what
//! is hashed (`auth` calls [`run`]).

use std::sync::{Condvar, Mutex};

/// Hashings at once: the CPU count (their speed is bound by it), at most 4.
fn permits() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().min(4))
}

static IN_USE: Mutex<usize> = Mutex::new(0);
static FREED: Condvar = Condvar::new();

/// Runs `f` once a permit is free, and gives it back when `f` returns or panics.
pub(crate) fn run<T>(f: impl FnOnce() -> T) -> T {
    let max = permits();
    {
        let mut n = IN_USE.lock().unwrap_or_else(|p| p.into_inner());
        while *n >= max {
            n = FREED.wait(n).unwrap_or_else(|p| p.into_inner());
        }
        *n += 1;
    }
    struct Permit;
    impl Drop for Permit {
        fn drop(&mut self) {
            let mut n = IN_USE.lock().unwrap_or_else(|p| p.into_inner());
            *n = n.saturating_sub(1);
            FREED.notify_one();
        }
    }
    let _permit = Permit;
    f()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn no_more_than_the_permits_run_at_once() {
        static RUNNING: AtomicUsize = AtomicUsize::new(0);
        static PEAK: AtomicUsize = AtomicUsize::new(0);
        let threads: Vec<_> = (0..16)
            .map(|_| {
                std::thread::spawn(|| {
                    run(|| {
                        let now = RUNNING.fetch_add(1, Ordering::SeqCst) + 1;
                        PEAK.fetch_max(now, Ordering::SeqCst);
                        // Enough work for the others to pile up at the gate.
                        let mut x = 0u64;
                        for i in 0..200_000u64 {
                            x = x.wrapping_mul(31).wrapping_add(i);
                        }
                        std::hint::black_box(x);
                        RUNNING.fetch_sub(1, Ordering::SeqCst);
                    })
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let peak = PEAK.load(Ordering::SeqCst);
        // (Other tests may hold permits now, so the count is not checked for zero here.)
        assert!(
            peak >= 1 && peak <= permits(),
            "peak {peak} > {}",
            permits()
        );
    }

    #[test]
    fn a_panic_gives_its_permit_back() {
        let r = std::panic::catch_unwind(|| run(|| panic!("boom")));
        assert!(r.is_err());
        // Every permit can still be taken at once.
        let all: Vec<_> = (0..permits())
            .map(|_| std::thread::spawn(|| run(|| 1)))
            .collect();
        assert_eq!(
            all.into_iter().map(|t| t.join().unwrap()).sum::<i32>() as usize,
            permits()
        );
    }
}
