//! Signals counted for the run loops to read on their ticks: SIGINT and SIGTERM as one
//! count (each mode decides what the first means: the SIPp command line stops at once,
//! the worker drains first), SIGUSR1 and SIGUSR2 as pending flags. A mode may ask for the
//! second SIGINT/SIGTERM to end the process from the signal thread itself, so it works
//! even when the run loop is stuck writing its outputs.
//!
//! One thread waits in signal-hook's iterator (a blocking read of its self-pipe), so the
//! process wakes only when a signal arrives. A thread polling flags every 20 ms would wake
//! 50 times a second for nothing, and a wake-up costs 20–40 µs of CPU on a VM.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use signal_hook::consts::{SIGINT, SIGTERM, SIGUSR1, SIGUSR2};

#[derive(Default)]
struct Counts {
    stops: AtomicUsize,
    usr1: AtomicBool,
    usr2: AtomicBool,
}

/// What has arrived since [`SignalCounts::install`]; cheap to read on every tick.
pub(crate) struct SignalCounts {
    counts: Arc<Counts>,
}

impl SignalCounts {
    /// Installs the handlers and starts the waiting thread. A failure is printed with
    /// `who` and leaves the process with its default signal behaviour.
    pub(crate) fn install(who: &str) -> SignalCounts {
        Self::install_with(who, None)
    }

    /// As [`install`](Self::install); `on_second`, when given, runs on the signal thread
    /// at the second SIGINT/SIGTERM with that signal's number (to exit at once).
    pub(crate) fn install_with(who: &str, on_second: Option<fn(i32)>) -> SignalCounts {
        let counts = Arc::new(Counts::default());
        let iter = match signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGUSR1, SIGUSR2]) {
            Ok(iter) => iter,
            Err(e) => {
                eprintln!("{who}: cannot install signal handlers: {e}");
                return SignalCounts { counts };
            }
        };
        let shared = Arc::clone(&counts);
        let spawned = std::thread::Builder::new()
            .name(format!("{who}-signals"))
            .spawn(move || {
                let mut iter = iter;
                for sig in iter.forever() {
                    match sig {
                        SIGUSR1 => shared.usr1.store(true, Ordering::Relaxed),
                        SIGUSR2 => shared.usr2.store(true, Ordering::Relaxed),
                        other => {
                            let before = shared.stops.fetch_add(1, Ordering::Relaxed);
                            if before >= 1
                                && let Some(f) = on_second
                            {
                                f(other);
                            }
                        }
                    }
                }
            });
        if let Err(e) = spawned {
            eprintln!("{who}: cannot start the signal thread: {e}");
        }
        SignalCounts { counts }
    }

    /// SIGINT and SIGTERM received so far.
    pub(crate) fn stops(&self) -> usize {
        self.counts.stops.load(Ordering::Relaxed)
    }

    /// Whether SIGUSR1 arrived since the last call.
    pub(crate) fn take_usr1(&self) -> bool {
        self.counts.usr1.swap(false, Ordering::Relaxed)
    }

    /// Whether SIGUSR2 arrived since the last call.
    pub(crate) fn take_usr2(&self) -> bool {
        self.counts.usr2.swap(false, Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    /// Polls `done` for up to 5 s: the counting thread runs on its own schedule.
    fn eventually(done: impl Fn() -> bool) -> bool {
        let until = Instant::now() + Duration::from_secs(5);
        while Instant::now() < until {
            if done() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        false
    }

    #[test]
    fn signals_are_counted_and_taken_once() {
        let s = SignalCounts::install("test");
        signal_hook::low_level::raise(SIGUSR2).expect("raise SIGUSR2");
        assert!(eventually(|| s.counts.usr2.load(Ordering::Relaxed)));
        assert!(s.take_usr2(), "pending");
        assert!(!s.take_usr2(), "taken");
        assert!(!s.take_usr1(), "never sent");
        signal_hook::low_level::raise(SIGUSR1).expect("raise SIGUSR1");
        assert!(eventually(|| s.take_usr1()));
        signal_hook::low_level::raise(SIGTERM).expect("raise SIGTERM");
        assert!(eventually(|| s.stops() == 1));
        signal_hook::low_level::raise(SIGINT).expect("raise SIGINT");
        assert!(
            eventually(|| s.stops() == 2),
            "SIGINT and SIGTERM count together"
        );
    }
}
