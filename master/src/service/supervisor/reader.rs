//! What a job's reader thread reads: the worker's stdout lines, how it ended, and the
//! files it left.
//!
//! Owns: the line protocol's side effects on the running job (stats kept, errors
//! remembered; the lines are `job::line::WorkerLine`, typed), the mapping of an exit
//! status to a final state, and the list of artifact files. Must not: write the job's row or free its place (the supervisor settles the
//! job, in one transaction, with what these return).

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, ExitStatus};
use std::sync::Arc;

use super::{MAX_LINE, RunningJob, lock};
use crate::job::files;
use crate::job::line::WorkerLine;
use crate::pcap2scenario;
use crate::service::store::jobs::JobStatus;

/// The worker process's pipes and the log file its stderr is copied into.
pub(super) struct Pipes {
    pub(super) child: Child,
    pub(super) stdout: std::process::ChildStdout,
    pub(super) stderr: std::process::ChildStderr,
    pub(super) log: std::fs::File,
}

/// Reads the worker's JSON lines until end of stream: each is published (to
/// `stats.jsonl` and subscribers); `stats`, `error` and `exit` lines are remembered.
/// A line longer than [`MAX_LINE`] is dropped whole (a cut line is not JSON, and would
/// break every reader of `stats.jsonl`), said in the master's log, and the next line is
/// read as usual. Returns the `exit` line's error, if any.
pub(super) fn read_lines(job: &RunningJob, stdout: std::process::ChildStdout) -> Option<String> {
    let mut reader = BufReader::new(stdout);
    let mut buf = Vec::with_capacity(4096);
    let mut exit_error: Option<String> = None;
    loop {
        buf.clear();
        match (&mut reader).take(MAX_LINE).read_until(b'\n', &mut buf) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => {
                eprintln!("gossipper ui: job {}: reading the worker: {e}", job.id);
                break;
            }
        }
        if buf.last() != Some(&b'\n') && buf.len() as u64 >= MAX_LINE {
            let dropped = buf.len() as u64 + skip_line(&mut reader);
            eprintln!(
                "gossipper ui: job {}: dropped a worker output line of {dropped} bytes (over {MAX_LINE})",
                job.id
            );
            continue;
        }
        let line = String::from_utf8_lossy(&buf);
        let line = line.trim_end_matches(['\n', '\r']);
        if line.is_empty() {
            continue;
        }
        job.hub.publish(line);
        match WorkerLine::parse(line) {
            Some(stats @ WorkerLine::Stats { .. }) => {
                *lock(&job.latest_stats) = Some(Arc::new(stats));
            }
            Some(WorkerLine::Error { error, .. }) => *lock(&job.error) = Some(error),
            Some(WorkerLine::Exit { error, .. }) => exit_error = error,
            Some(
                WorkerLine::Started { .. } | WorkerLine::Plan { .. } | WorkerLine::State { .. },
            )
            | None => {}
        }
    }
    exit_error
}

/// Discards input up to and including the next newline (or the end), without keeping
/// it; returns how many bytes went.
fn skip_line(reader: &mut impl BufRead) -> u64 {
    let mut skipped = 0u64;
    loop {
        let (used, done) = match reader.fill_buf() {
            Ok([]) | Err(_) => return skipped,
            Ok(chunk) => match chunk.iter().position(|c| *c == b'\n') {
                Some(i) => (i + 1, true),
                None => (chunk.len(), false),
            },
        };
        reader.consume(used);
        skipped += used as u64;
        if done {
            return skipped;
        }
    }
}

/// The final (state, exit code, error text) of a reaped worker. A job asked to stop ends
/// `stopped` whatever this says (the row's `stopping` mark wins in `jobs::finish`). A
/// worker that reported an error (an `error` line, or an `exit` line with an error) has
/// failed even if it exited 0: its error is never dropped for a green row.
pub(super) fn outcome(
    status: &std::io::Result<ExitStatus>,
    error: Option<String>,
    stop_requested: bool,
) -> (JobStatus, Option<i64>, String) {
    use std::os::unix::process::ExitStatusExt;
    let ending = match status {
        Ok(s) if s.success() => match error {
            None => return (JobStatus::Succeeded, Some(0), String::new()),
            Some(_) => Ending::Code(0),
        },
        Ok(s) => match (s.code(), s.signal()) {
            (Some(c), _) => Ending::Code(c),
            (None, Some(sig)) => Ending::Signal(sig),
            _ => Ending::Unknown,
        },
        Err(e) => Ending::Unreaped(e.to_string()),
    };
    let code = match ending {
        Ending::Code(c) => Some(i64::from(c)),
        _ => None,
    };
    let text = match (error, &ending) {
        // What the worker said is the better sentence.
        (Some(e), _) => e,
        // A worker killed after a stop (SIGKILL once the grace ran out): say why.
        (None, Ending::Signal(sig)) if stop_requested => {
            format!("stopped; worker killed by signal {sig} after the grace period")
        }
        (None, ending) => ending.to_string(),
    };
    (JobStatus::Failed, code, text)
}

/// How a worker that did not succeed ended.
#[derive(Debug, thiserror::Error)]
enum Ending {
    #[error("worker exited with code {0}")]
    Code(i32),
    #[error("worker killed by signal {0}")]
    Signal(i32),
    #[error("worker ended")]
    Unknown,
    #[error("cannot reap the worker: {0}")]
    Unreaped(String),
}

/// One file a job left, to be registered as an artifact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Found {
    pub(super) kind: &'static str,
    pub(super) path: String,
    pub(super) size_bytes: u64,
}

/// The files a job left: stats, log, summary, call records, report, recordings.
pub(super) fn collect_artifacts(dir: &Path) -> Vec<Found> {
    let fixed = [
        ("stats", files::STATS),
        ("log", files::LOG),
        ("summary", files::SUMMARY),
        ("call_records", files::CALL_RECORDS),
        ("report_html", files::REPORT_HTML),
        ("report_pdf", files::REPORT_PDF),
        ("rtp_send", files::RTP_SEND),
    ];
    let mut found = Vec::new();
    for (kind, name) in fixed {
        let p = dir.join(name);
        if let Ok(m) = std::fs::metadata(&p)
            && m.is_file()
        {
            found.push(Found {
                kind,
                path: p.display().to_string(),
                size_bytes: m.len(),
            });
        }
    }
    // pcap2scenario's outputs, one folder down (`scenarios/` by default), each its own
    // kind so `GET /jobs/{id}/artifacts/{kind}` serves it.
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_name() == files::RECORDINGS || !e.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            for (kind, name) in [
                ("scenario_uac", pcap2scenario::UAC_FILE),
                ("scenario_uas", pcap2scenario::UAS_FILE),
                ("rtp_uac", pcap2scenario::RTP_UAC_FILE),
                ("rtp_uas", pcap2scenario::RTP_UAS_FILE),
            ] {
                let p = e.path().join(name);
                if let Ok(m) = std::fs::symlink_metadata(&p)
                    && m.is_file()
                {
                    found.push(Found {
                        kind,
                        path: p.display().to_string(),
                        size_bytes: m.len(),
                    });
                }
            }
        }
    }
    // infindex's output: `NAME.gossipper.idx.FIELD.json` in the folder itself.
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let name = e.file_name();
            let name = name.to_string_lossy();
            if name.contains(".gossipper.idx.")
                && name.ends_with(".json")
                && let Ok(m) = std::fs::symlink_metadata(e.path())
                && m.is_file()
            {
                found.push(Found {
                    kind: "infindex",
                    path: e.path().display().to_string(),
                    size_bytes: m.len(),
                });
            }
        }
    }
    if let Ok(entries) = std::fs::read_dir(dir.join(files::RECORDINGS)) {
        for e in entries.flatten() {
            let p = e.path();
            if p.extension().is_some_and(|x| x == "wav")
                && let Ok(m) = e.metadata()
            {
                found.push(Found {
                    kind: "recording",
                    path: p.display().to_string(),
                    size_bytes: m.len(),
                });
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt;

    #[test]
    fn an_exit_status_maps_to_a_final_state_and_a_stop_explains_a_kill() {
        let ok = Ok(ExitStatus::from_raw(0));
        assert_eq!(
            outcome(&ok, None, false),
            (JobStatus::Succeeded, Some(0), String::new())
        );
        let code3 = Ok(ExitStatus::from_raw(3 << 8));
        assert_eq!(
            outcome(&code3, Some("boom".into()), false),
            (JobStatus::Failed, Some(3), "boom".to_string())
        );
        assert_eq!(
            outcome(&ok, Some("shard 0: socket closed".into()), false),
            (
                JobStatus::Failed,
                Some(0),
                "shard 0: socket closed".to_string()
            ),
            "an error line is not lost behind exit code 0"
        );
        let killed = Ok(ExitStatus::from_raw(9));
        assert_eq!(outcome(&killed, None, false).2, "worker killed by signal 9");
        assert_eq!(
            outcome(&killed, None, true).2,
            "stopped; worker killed by signal 9 after the grace period"
        );
    }
}
