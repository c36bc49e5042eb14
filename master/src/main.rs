//! The `gossipper` binary: one executable, three ways in.
//!
//! - `gossipper [sipp flags] host[:port]`: the legacy, SIPp-compatible one-shot run;
//! - `gossipper worker --spec job.json`: one job for the master;
//! - `gossipper ui --data-dir D --listen ADDR`: the master (console + /api/v2).
//!
//! `main` only dispatches on the first argument; each mode prints its own errors once
//! and maps them to an exit code.

mod job;
mod report;
mod service;
mod signals;
mod sipp;
mod worker;

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("ui") => service::main(&args[1..]),
        Some("worker") => worker::main(&args[1..]),
        _ => sipp::main(&args),
    }
}
