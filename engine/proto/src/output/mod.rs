//! What a run reports, and the writers that put it into text: the run's description
//! (`run_info`), target against actual (`target`), the verdict (`verdict`), SIPp's
//! per-message table (`messages`); SIPp's screens (`screen`), `-trace_stat` and friends
//! (`csv`), `-trace_msg`/`-trace_shortmsg`/`-trace_err` (`traces`), `summary.json`
//! (`summary`), the worker's stats lines (`stats_line`), `call_records.jsonl`
//! (`call_record`), and the shared text forms (`format`).
//!
//! Owns: the exact text of every output. Must not: count (that is `stats`), read clocks
//! or write files: each writer returns text or writes into an `impl Write`, and the shell
//! (the runner's observers, the master's worker) puts it where it goes.

pub mod call_record;
pub mod csv;
pub mod format;
pub mod hep;
pub mod messages;
pub mod run_info;
pub mod screen;
pub mod stats_line;
pub mod summary;
pub mod target;
pub mod traces;
pub mod verdict;
