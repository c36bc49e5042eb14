//! The worker process: spawning `gossipper worker --spec` in its own process group,
//! signalling that group, and recognising our workers after a master restart.
//!
//! Owns: the only `unsafe` of the supervisor, [`signal_group`] (one `kill(2)` call).
//! Must not: touch the database or the job's files.

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// Starts the worker: stdin closed, stdout and stderr piped to the master (which copies
/// stderr into `worker.log`, up to a cap), in a new process group whose id is the
/// child's pid (so a stop reaches everything it started).
pub(super) fn spawn_worker(exe: &Path, spec: &Path) -> std::io::Result<Child> {
    Command::new(exe)
        .arg("worker")
        .arg("--spec")
        .arg(spec)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
}

/// A signal for a worker's process group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Sig {
    Term,
    Kill,
}

/// Sends `sig` to the process group `pgid`. Returns false if no such group exists.
#[allow(unsafe_code)]
pub(super) fn signal_group(pgid: u32, sig: Sig) -> bool {
    let Ok(pgid) = libc::pid_t::try_from(pgid) else {
        return false;
    };
    if pgid <= 1 {
        // kill(-1) and kill(0) would reach far more than one job.
        return false;
    }
    let signo = match sig {
        Sig::Term => libc::SIGTERM,
        Sig::Kill => libc::SIGKILL,
    };
    // SAFETY: kill(2) takes plain integers and touches no memory of ours; a negative pid
    // addresses exactly the process group `pgid` (> 1, checked above).
    unsafe { libc::kill(-pgid, signo) == 0 }
}

/// Whether `pid` is still a `gossipper worker` for `job_id` (read from
/// `/proc/<pid>/cmdline`: its spec is `artifacts/jobs/<job_id>/spec.json`, or
/// `tmp/spec-<job_id>.json` from a master before the spec moved into the job's folder),
/// so a restarted master never signals a recycled pid.
pub(super) fn is_worker_for(pid: u32, job_id: &str) -> bool {
    let Ok(raw) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    let args: Vec<&[u8]> = raw.split(|b| *b == 0).collect();
    let names = [
        format!("/artifacts/jobs/{job_id}/spec.json"),
        format!("/spec-{job_id}.json"),
    ];
    args.iter().any(|a| *a == b"worker")
        && args.iter().any(|a| {
            let a = String::from_utf8_lossy(a);
            names.iter().any(|n| a.ends_with(n.as_str()))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_to_signal_every_process() {
        assert!(!signal_group(0, Sig::Term));
        assert!(!signal_group(1, Sig::Term));
        assert!(!signal_group(u32::MAX, Sig::Term));
    }

    #[test]
    fn a_stopped_group_is_gone_and_an_unrelated_pid_is_not_our_worker() {
        let mut child = Command::new("sleep")
            .arg("30")
            .process_group(0)
            .spawn()
            .unwrap();
        let pid = child.id();
        assert!(!is_worker_for(pid, "j1"), "sleep is not a worker");
        assert!(signal_group(pid, Sig::Term));
        let status = child.wait().unwrap();
        assert!(!status.success());
        assert!(!is_worker_for(std::process::id(), "j1"));
    }
}
