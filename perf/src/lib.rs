//! Shared pieces of the Rust benchmarks in `src/bin/` (the Python and shell harnesses
//! beside this crate drive the built binary instead).
//!
//! Owns: the built-in uac → uas call pair in virtual time (gossipper-proto's `SimNet`, no
//! sockets) that `userland_cost` times and `parse_speed` takes its messages from, and
//! the best-of-N timing loop both use. Must not: assert on speed (the figures are for
//! perf/README.md, measured on a quiet machine in release).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use gossipper_proto::sim::{self, SimNet};

/// A built-in uac (at `rate` calls/s, `calls` calls) against a built-in uas on a
/// lossless simulated network, run until every call has ended; the number of calls
/// that succeeded comes back with the net. `log` keeps every datagram in `SimNet::log`
/// (it parses and copies each one again: off when timing).
pub fn call_pair(calls: u64, rate: f64, log: bool) -> (SimNet, u64) {
    let addr = |port: u16| SocketAddr::from(([127, 0, 0, 1], port));
    let mut net = SimNet::new(9);
    net.log_enabled = log;
    let uas = net.add_server(sim::builtin("uas"), addr(5060));
    let uac = net.add_client(sim::builtin("uac"), addr(5061), addr(5060), rate, calls);
    // Bounded: ~2,500 steps per call is far beyond what a lossless pair takes.
    let steps = usize::try_from(calls.saturating_mul(2_500)).unwrap_or(usize::MAX);
    net.run_until(steps, |n| {
        n.endpoints[uac].done() && n.endpoints[uas].live_calls() == 0
    });
    let ok = net.endpoints[uac].stats().counters.successful_calls;
    (net, ok)
}

/// The shortest of `batches` runs of `f`: the one least disturbed by whatever else the
/// machine runs.
pub fn best_of(batches: u32, mut f: impl FnMut()) -> Duration {
    (0..batches.max(1))
        .map(|_| {
            let started = Instant::now();
            f();
            started.elapsed()
        })
        .min()
        .unwrap_or_default()
}

/// The first command-line argument as a count, or `default`.
pub fn count_arg(default: u64) -> u64 {
    std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(default)
}
