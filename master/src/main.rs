//! The `gossipper` binary: one executable, four ways in, one folder each.
//!
//! - `gossipper [sipp flags] host[:port]`: the SIPp-compatible one-shot run (`sipp`);
//! - `gossipper worker --spec spec.json`: one resolved job, for the master or headless
//!   (`worker`);
//! - `gossipper ui --data-dir D --listen ADDR`: the master (`service`: console,
//!   /api/v2, store, auth, the job supervisor);
//! - `gossipper pcap2scenario FILE.pcap`: a capture to a UAC/UAS scenario pair
//!   (`pcap2scenario`, also run by the worker as a tool job).
//! - `gossipper infindex|report-html|summary-to-pdf|rtp_send|auth user-add …`: the Go
//!   tool's small subcommands (`tools`, whose cores the worker also runs as tool jobs);
//! - `gossipper server [sipp flags] -api_addr ADDR -api_token T`: a SIP endpoint that
//!   stays up, steered over the v1 control API (`server`, which runs `sipp`'s run with
//!   its API beside it and reuses `service`'s HTTP server).
//!
//! Shared by them: `job` (the resolved job spec, the worker's line protocol, artifact
//! names and exit codes, between `service` and `worker`), `report` (report.html),
//! `exporter` (a run's own `/metrics` listener, `-metrics_addr`), `signals` and `zip` (the
//! ZIP downloads' writer). `worker` and `sipp` never reach into `service`, nor `service` into them.
//! `main` only dispatches on the first argument; each mode prints its own errors once
//! and maps them to an exit code.

mod exporter;
mod job;
mod kube;
mod pcap2scenario;
mod report;
mod server;
mod service;
mod signals;
mod sipp;
mod tools;
mod worker;
mod zip;

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("ui") => service::main(&args[1..]),
        Some("worker") => worker::main(&args[1..]),
        Some("pcap2scenario") => pcap2scenario::cli::main(&args[1..]),
        Some("server") => server::main(&args[1..]),
        Some("infindex") => tools::infindex::main(&args[1..]),
        Some("report-html") => tools::report_cli::html_main(&args[1..]),
        Some("summary-to-pdf") => tools::report_cli::pdf_main(&args[1..]),
        Some("rtp_send") => tools::rtp_send::main(&args[1..]),
        Some("auth") => tools::auth_cli::main(&args[1..]),
        _ => sipp::main(&args),
    }
}
