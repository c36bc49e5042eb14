//! Userland cost of a whole built-in uac + uas call pair in virtual time: both endpoints'
//! calls, timers and messages, and the simulated network, with no socket and no kernel
//! (perf/README.md, "Where the CPU goes": the userland share of CPU per call).
//!
//!   cargo run --release -p gossipper-perf --bin userland_cost [CALLS]
//!
//! Runs CALLS call pairs (20,000 by default) at 20,000 calls/s of virtual time and prints
//! the wall time per pair. Moved here from an `#[ignore]`d timing test of the engine.

use gossipper_perf::{call_pair, count_arg};

fn main() {
    let calls = count_arg(20_000);
    let started = std::time::Instant::now();
    let (_, ok) = call_pair(calls, 20_000.0, false);
    let el = started.elapsed();
    assert_eq!(ok, calls, "every call of a lossless pair succeeds");
    println!(
        "{:.2} µs per call pair (uac + uas + simulated network, {calls} calls)",
        el.as_secs_f64() * 1e6 / calls as f64
    );
}
