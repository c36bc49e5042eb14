//! What the master and its workers share: the resolved job spec (`spec`), the worker's
//! stdout lines (`line`), the Prometheus text made from those lines (`metrics`, served by
//! the master and by a run's `-metrics_addr`), the artifact file names of a job's folder
//! and the worker's exit codes.
//!
//! Owns: those shapes, names and numbers, so the supervisor (which writes the spec, lists
//! and serves the files and maps exit codes to job states) and the worker (which reads
//! the spec and writes the files) cannot drift. Must not: do I/O.

pub(crate) mod kube;
pub(crate) mod line;
pub(crate) mod metrics;
pub(crate) mod spec;

/// The worker's exit codes (the master maps them to job states).
pub(crate) mod exit {
    /// The run completed and every call succeeded (or the tool ran).
    pub(crate) const OK: u8 = 0;
    /// At least one call failed.
    pub(crate) const SOME_FAILED: u8 = 1;
    /// A threshold or a health gate failed, or the run missed its target.
    pub(crate) const HEALTH_GATE_FAILED: u8 = 2;
    /// A socket could not be bound.
    pub(crate) const BIND: u8 = 254;
    /// The spec, the configuration or the scenario is unusable.
    pub(crate) const FATAL: u8 = 255;
}

/// The artifact file names inside a job's folder.
pub(crate) mod files {
    pub(crate) const STATS: &str = "stats.jsonl";
    pub(crate) const LOG: &str = "worker.log";
    pub(crate) const SUMMARY: &str = "summary.json";
    pub(crate) const CALL_RECORDS: &str = "call_records.jsonl";
    pub(crate) const REPORT_HTML: &str = "report.html";
    pub(crate) const REPORT_PDF: &str = "report.pdf";
    /// What the `rtp_send` tool sent.
    pub(crate) const RTP_SEND: &str = "rtp_send.json";
    pub(crate) const RECORDINGS: &str = "recordings";
}
