//! The worker's stdout line protocol: one JSON object per line, each with `kind`,
//! `job_id` and `ts` (Unix ms).
//!
//! Owns: [`WorkerLine`], the one type the worker writes and the supervisor reads, so the
//! two cannot drift:
//!
//! - `{"kind":"started","job_id","pid","ts"}` first;
//! - `{"kind":"plan","job_id","ts","scenario","messages","target"}` once the scenario is
//!   loaded (the numbers are the engine's `stats_line::PlanLine`);
//! - `{"kind":"stats","job_id","ts",…}` every `stats_interval_ms`, and once at the end
//!   (the engine's `stats_line::StatsLine`);
//! - `{"kind":"state","job_id","ts","state":{…}}` just before each stats line, from a
//!   worker that runs a segment (issue 20): its whole `ShardStats` (histograms as their
//!   buckets), which the worker that fanned the job out merges as shards merge;
//! - `{"kind":"error","job_id","error","ts"}` when the job cannot run;
//! - `{"kind":"exit","job_id","code","stopped","ts"[, "error"]}` last.
//!
//! A reader takes the defaults for a missing field (a line cut short, or a stand-in
//! worker in tests) and ignores a line that does not parse (the supervisor still copies
//! it into `stats.jsonl`). Must not: do I/O (the worker's `Lines` writes, the
//! supervisor's reader reads).

use gossipper_engine::output::stats_line::{PlanLine, StatsLine};
use serde::{Deserialize, Serialize};

/// One line of a worker's stdout.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum WorkerLine {
    /// The worker runs (its first line).
    Started {
        #[serde(default)]
        job_id: String,
        #[serde(default)]
        pid: u32,
        #[serde(default)]
        ts: u64,
    },
    /// What the run will do.
    Plan {
        #[serde(default)]
        job_id: String,
        #[serde(default)]
        ts: u64,
        #[serde(flatten)]
        plan: Box<PlanLine>,
    },
    /// The numbers so far.
    Stats {
        #[serde(default)]
        job_id: String,
        #[serde(default)]
        ts: u64,
        #[serde(flatten)]
        stats: Box<StatsLine>,
    },
    /// A segment's whole counts so far (see the module doc).
    State {
        #[serde(default)]
        job_id: String,
        #[serde(default)]
        ts: u64,
        /// A `gossipper_engine::stats::ShardStats`, read by the fan-out.
        state: serde_json::Value,
    },
    /// Why the job cannot run.
    Error {
        #[serde(default)]
        job_id: String,
        error: String,
        #[serde(default)]
        ts: u64,
    },
    /// The worker's last line: its exit code, whether it was stopped, and the sentence for
    /// the job's `error`.
    Exit {
        #[serde(default)]
        job_id: String,
        #[serde(default)]
        code: u8,
        #[serde(default)]
        stopped: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
        #[serde(default)]
        ts: u64,
    },
}

impl WorkerLine {
    /// The line's text, ending in `\n`.
    pub(crate) fn to_line(&self) -> String {
        // Strings, integers and finite-or-null floats: encoding cannot fail.
        let mut out = serde_json::to_string(self).expect("a worker line encodes");
        out.push('\n');
        out
    }

    /// Parses one line (without its `\n`); `None` for anything else.
    pub(crate) fn parse(line: &str) -> Option<WorkerLine> {
        serde_json::from_str(line).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gossipper_engine::stats::ShardStats;
    use std::time::Duration;

    #[test]
    fn every_kind_is_written_as_before_and_reads_back() {
        let started = WorkerLine::Started {
            job_id: "j".into(),
            pid: 7,
            ts: 1,
        };
        assert_eq!(
            started.to_line(),
            "{\"kind\":\"started\",\"job_id\":\"j\",\"pid\":7,\"ts\":1}\n"
        );
        let exit = WorkerLine::Exit {
            job_id: "j".into(),
            code: 2,
            stopped: false,
            error: Some("threshold failed".into()),
            ts: 9,
        };
        assert_eq!(
            exit.to_line(),
            "{\"kind\":\"exit\",\"job_id\":\"j\",\"code\":2,\"stopped\":false,\"error\":\"threshold failed\",\"ts\":9}\n"
        );
        let stats = ShardStats::new(1, 1, 0, &[10], &[10]);
        let line = WorkerLine::Stats {
            job_id: "j".into(),
            ts: 5,
            stats: Box::new(StatsLine::between(&stats, &stats, Duration::from_secs(1))),
        };
        let text = line.to_line();
        assert!(
            text.starts_with("{\"kind\":\"stats\",\"job_id\":\"j\",\"ts\":5,\"interval_ms\":1000,"),
            "{text}"
        );
        for l in [started, exit, line] {
            assert_eq!(WorkerLine::parse(l.to_line().trim_end()), Some(l));
        }
    }

    #[test]
    fn a_short_line_reads_with_defaults_and_junk_is_none() {
        assert_eq!(
            WorkerLine::parse(r#"{"kind":"exit","code":3,"ts":1}"#),
            Some(WorkerLine::Exit {
                job_id: String::new(),
                code: 3,
                stopped: false,
                error: None,
                ts: 1
            })
        );
        assert_eq!(WorkerLine::parse(r#"{"kind":"bogus"}"#), None);
        assert_eq!(WorkerLine::parse("engine exploded"), None);
    }
}
