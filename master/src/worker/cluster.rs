//! One job on a Kubernetes cluster (issue 20, item 3): the spec's `kubernetes` makes
//! this worker the job's driver on the master's host. It creates a ConfigMap holding the
//! spec the pods run and an Indexed Job of `parallelism` pods (`crate::kube`), each
//! running segment `i/N` from `JOB_COMPLETION_INDEX`, all starting on one instant; the
//! pods post their lines to the master (`POST /jobs/{id}/worker-lines?index=i`), which
//! appends them to `workers/<i>/stats.jsonl`; this driver reads those files as they
//! grow and merges the workers' newest states exactly as the local fan-out does
//! (`fanout::take_line`, `fanout::merged`, `fanout::finish`).
//!
//! The job ends when every pod has posted its exit line, when the Job fails (its
//! status, read every [`STATUS_EVERY`]), when a pod has posted nothing well after the
//! start ([`SILENT_AFTER_MIN`]: it never ran), or on a stop: the Job (with its pods,
//! `propagationPolicy=Background`) and the ConfigMap are deleted, the pods' SIGTERM
//! makes them soft-quit and post their last lines, and after [`STOP_WAIT`] a pod that
//! said nothing more is counted as ended. The Job and ConfigMap are deleted at every
//! end. Must not: run SIP itself, or read a pod's files (only what it posted).

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use gossipper_engine::output::run_info::RunInfo;
use gossipper_engine::output::stats_line::PlanLine;
use gossipper_engine::runner;
use gossipper_engine::stats::ShardStats;

use super::fanout::{End, WORKERS_DIR, finish, merged, take_line};
use super::observer::{JobObserver, Lines};
use super::{fail, note, now_ms, run_error};
use crate::job::kube::{KubeSpec, MAX_MEDIA_BYTES, pod_spec};
use crate::job::line::WorkerLine;
use crate::job::spec::{JobFile, Run};
use crate::job::{exit, files};
use crate::kube::{Client, objects};
use crate::signals::SignalCounts;
use gossipper_engine::files::FileAccess;

/// How often the Job's status is read.
const STATUS_EVERY: Duration = Duration::from_secs(3);
/// How long pods have to post their last lines after a stop or a failed Job: a pod's
/// soft quit takes at most 4.5 s (`observer::HARD_QUIT_AFTER`), and all of it must fit
/// in the master's 10 s grace before it kills this driver.
const STOP_WAIT: Duration = Duration::from_secs(8);
/// A pod that has posted nothing this long after the common start (and at least the
/// start delay) is taken as never started (pending, an image that cannot be pulled).
const SILENT_AFTER_MIN: Duration = Duration::from_secs(10);
/// The longest line kept from a pod (the route bounds the body too).
const MAX_LINE: usize = 1 << 22;

/// One pod's line file as it grows.
struct Tail {
    path: PathBuf,
    offset: u64,
    partial: Vec<u8>,
}

impl Tail {
    /// The complete lines added since the last call.
    fn lines(&mut self) -> Vec<String> {
        let Ok(mut f) = File::open(&self.path) else {
            return Vec::new();
        };
        if f.seek(SeekFrom::Start(self.offset)).is_err() {
            return Vec::new();
        }
        let mut buf = Vec::new();
        let Ok(n) = f.take(1 << 24).read_to_end(&mut buf) else {
            return Vec::new();
        };
        self.offset += n as u64;
        self.partial.extend_from_slice(&buf);
        let mut out = Vec::new();
        while let Some(pos) = self.partial.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.partial.drain(..=pos).collect();
            out.push(String::from_utf8_lossy(&line).trim_end().to_string());
        }
        if self.partial.len() > MAX_LINE {
            self.partial.clear();
        }
        out
    }
}

/// Deletes the Job (and its pods) and the ConfigMap; failures are logged.
fn delete_all(client: &Client, paths: &objects::Paths) {
    for p in [&paths.job_delete, &paths.configmap] {
        match client.delete(p) {
            Ok(()) => note(format_args!("worker: deleted {p}")),
            Err(e) => eprintln!("worker: {e}"),
        }
    }
}

/// The media files the pods need, read from the master's data dir (the spec's file
/// rule root), each at most what a ConfigMap carries.
fn media_files(k: &KubeSpec, spec: &JobFile) -> Result<Vec<(String, Vec<u8>)>, String> {
    if k.media.is_empty() {
        return Ok(Vec::new());
    }
    let Run::Engine(job) = &spec.run else {
        return Ok(Vec::new());
    };
    let FileAccess::Confined(roots) = &job.file_access else {
        return Err("kubernetes: media files need a job of the master (its media library)".into());
    };
    let mut out = Vec::new();
    let mut total = 0u64;
    for rel in &k.media {
        let path = roots.data_dir.join(rel);
        let bytes = std::fs::File::open(&path)
            .and_then(|f| {
                let mut b = Vec::new();
                f.take(MAX_MEDIA_BYTES + 1).read_to_end(&mut b).map(|_| b)
            })
            .map_err(|e| format!("{}: {e}", path.display()))?;
        total += bytes.len() as u64;
        if total > MAX_MEDIA_BYTES {
            return Err(format!(
                "kubernetes: the media files take over {MAX_MEDIA_BYTES} bytes, more than a ConfigMap carries"
            ));
        }
        out.push((rel.clone(), bytes));
    }
    Ok(out)
}

/// Creates the ConfigMap and the Job; a failure deletes what was created.
fn create_all(
    client: &Client,
    k: &KubeSpec,
    spec: &JobFile,
    paths: &objects::Paths,
    start_at: u64,
) -> Result<(), String> {
    let pod = pod_spec(spec)
        .to_json()
        .map_err(|e| format!("cannot encode the pods' spec: {e}"))?;
    let pod = String::from_utf8(pod).map_err(|e| format!("the pods' spec: {e}"))?;
    let media = media_files(k, spec)?;
    let cm = serde_json::to_value(objects::config_map(k, &spec.job_id, pod, media))
        .map_err(|e| format!("cannot encode the ConfigMap: {e}"))?;
    client.create(&paths.configmaps, &cm)?;
    let job = serde_json::to_value(objects::job(k, &spec.job_id, start_at))
        .map_err(|e| format!("cannot encode the Job: {e}"));
    if let Err(e) = job.and_then(|j| client.create(&paths.jobs, &j)) {
        if let Err(d) = client.delete(&paths.configmap) {
            eprintln!("worker: {d}");
        }
        return Err(e);
    }
    Ok(())
}

/// Runs the job on the cluster; the exit code.
pub(super) fn run(spec: &JobFile, k: &KubeSpec, mut lines: Lines) -> u8 {
    let job_id = spec.job_id.as_str();
    let signals = SignalCounts::install("worker");
    lines.send(&WorkerLine::Started {
        job_id: job_id.into(),
        pid: std::process::id(),
        ts: now_ms(),
    });
    let Run::Engine(job) = &spec.run else {
        return fail(
            &mut lines,
            job_id,
            "kubernetes: a tool runs in one worker",
            exit::FATAL,
        );
    };
    let scenario = match runner::load_scenario(job) {
        Ok(s) => s,
        Err(e) => {
            let (msg, code) = run_error(&e);
            eprintln!("worker: {msg}");
            return fail(&mut lines, job_id, &msg, code);
        }
    };
    let n = k.parallelism as usize;
    let start_at = job
        .start_at_unix_ms
        .unwrap_or_else(|| now_ms() + k.start_delay_ms);
    let Some(start_wall) = SystemTime::UNIX_EPOCH.checked_add(Duration::from_millis(start_at))
    else {
        let msg = format!("run.engine.start_at_unix_ms {start_at} is out of range");
        return fail(&mut lines, job_id, &msg, exit::FATAL);
    };
    let mut whole = (**job).clone();
    whole.start_at_unix_ms = Some(start_at);
    let info = RunInfo::of_run(&scenario, &whole, 0, start_wall, std::process::id());
    lines.send(&WorkerLine::Plan {
        job_id: job_id.into(),
        ts: now_ms(),
        plan: Box::new(PlanLine::of(&info)),
    });
    let mut dirs = Vec::with_capacity(n);
    let mut tails = Vec::with_capacity(n);
    for i in 0..n {
        let dir = spec.artifacts_dir.join(WORKERS_DIR).join(i.to_string());
        let path = dir.join(files::STATS);
        if let Err(e) = std::fs::create_dir_all(&dir).and_then(|()| File::create(&path)) {
            let msg = format!("{}: {e}", path.display());
            return fail(&mut lines, job_id, &msg, exit::FATAL);
        }
        tails.push(Tail {
            path,
            offset: 0,
            partial: Vec::new(),
        });
        dirs.push(dir);
    }
    let client = match Client::new(k) {
        Ok(c) => c,
        Err(e) => return fail(&mut lines, job_id, &e, exit::FATAL),
    };
    let paths = objects::Paths::of(&k.namespace, job_id);
    if let Err(e) = create_all(&client, k, spec, &paths, start_at) {
        eprintln!("worker: {e}");
        return fail(&mut lines, job_id, &e, exit::FATAL);
    }
    note(format_args!(
        "worker: job {job_id}: Job {} in namespace {} ({n} pods of {}), calls from {start_at} (Unix ms)",
        paths.job, k.namespace, k.image
    ));

    let empty = info.empty_stats();
    let interval = Duration::from_millis(spec.stats_interval_ms);
    let mut obs = JobObserver::new(job_id, interval, lines, None, empty.clone(), signals, None);
    let start_instant = Instant::now()
        + start_wall
            .duration_since(SystemTime::now())
            .unwrap_or_default();
    obs.start_at(start_instant);
    let mut states: Vec<Option<ShardStats>> = vec![None; n];
    let mut ends: Vec<End> = vec![End::default(); n];
    let mut next_line = start_instant + interval;
    let silent_at = start_instant + Duration::from_millis(k.start_delay_ms).max(SILENT_AFTER_MIN);
    let mut heard = vec![false; n];
    let mut next_status = Instant::now() + STATUS_EVERY;
    let mut give_up_at: Option<Instant> = None;
    let mut deleted = false;
    let mut broken = false;
    let mut stops_passed = 0;
    while ends.iter().any(|e| e.code.is_none()) {
        std::thread::sleep(Duration::from_millis(100));
        for (i, t) in tails.iter_mut().enumerate() {
            for text in t.lines() {
                heard[i] = true;
                if let Some(line) = WorkerLine::parse(&text) {
                    take_line(i, line, &mut states, &mut ends, &mut obs);
                }
            }
        }
        let now = Instant::now();
        let mut end_now = false;
        let stops = obs.stops();
        if stops > stops_passed {
            stops_passed = stops;
            obs.stopped = true;
            note(format_args!("worker: stop requested; deleting the Job"));
            end_now = true;
        }
        if !broken && ends.iter().any(End::broken) {
            broken = true;
            note(format_args!(
                "worker: a worker pod cannot run; deleting the Job"
            ));
            end_now = true;
        }
        if !deleted && now >= silent_at {
            let silent: Vec<String> = (0..n)
                .filter(|i| !heard[*i])
                .map(|i| i.to_string())
                .collect();
            if !silent.is_empty() {
                let msg = format!(
                    "worker pod(s) {} posted nothing {} s after the start: not running (pending, an image that cannot be pulled, or the master's callback URL unreachable; see kubectl describe pod -l {}={})",
                    silent.join(", "),
                    (silent_at - start_instant).as_secs(),
                    objects::JOB_LABEL,
                    crate::job::kube::label_value(job_id),
                );
                eprintln!("worker: {msg}");
                for i in (0..n).filter(|i| !heard[*i]) {
                    ends[i] = End {
                        code: Some(exit::FATAL),
                        stopped: false,
                        error: Some(msg.clone()),
                    };
                }
                obs.last_error = Some(msg);
                end_now = true;
            }
        }
        if !deleted && now >= next_status {
            next_status = now + STATUS_EVERY;
            match client.get(&paths.job) {
                Ok(a) if a.status == 200 => {
                    if let Some(why) = objects::failed(&a.body) {
                        let msg = format!("the Job failed: {why}");
                        eprintln!("worker: {msg}");
                        obs.last_error = Some(msg);
                        end_now = true;
                    }
                }
                Ok(a) if a.status == 404 => {
                    obs.last_error = Some("the Job was deleted from the cluster".into());
                    end_now = true;
                }
                Ok(a) => eprintln!("worker: GET {}: {}", paths.job, a.status),
                Err(e) => eprintln!("worker: {e}"),
            }
        }
        if end_now && !deleted {
            deleted = true;
            delete_all(&client, &paths);
            give_up_at = Some(now + STOP_WAIT);
        }
        if give_up_at.is_some_and(|g| now >= g) {
            // Why the Job ended, when the cluster said (a Failed condition).
            let why = obs
                .last_error
                .as_ref()
                .map(|e| format!(" ({e})"))
                .unwrap_or_default();
            for (i, e) in ends.iter_mut().enumerate() {
                if e.code.is_none() {
                    *e = End {
                        code: Some(exit::FATAL),
                        stopped: obs.stopped,
                        error: Some(format!("worker {i}: its pod posted no exit line{why}")),
                    };
                }
            }
        }
        if now >= next_line {
            while next_line <= now {
                next_line += interval;
            }
            if states.iter().any(Option::is_some) {
                obs.emit_stats(&merged(&states, &empty), now, SystemTime::now());
            }
        }
    }
    if !deleted {
        delete_all(&client, &paths);
    }
    let finished_at = SystemTime::now();
    let total = merged(&states, &empty);
    obs.emit_stats(&total, Instant::now(), finished_at);
    obs.finish();
    // The pods' own summaries stay in the pods: each one's calls from its last state.
    let calls: Vec<u64> = states
        .iter()
        .map(|s| {
            s.as_ref()
                .map_or(0, |s| s.counters.outgoing_calls + s.counters.incoming_calls)
        })
        .collect();
    finish(
        spec,
        job,
        &info,
        &total,
        &dirs,
        Some(&calls),
        &ends,
        obs,
        finished_at,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tail_gives_whole_lines_as_they_come() {
        let dir = std::env::temp_dir().join(format!("gossipper-tail-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("s.jsonl");
        std::fs::write(&path, "a\nb").unwrap();
        let mut t = Tail {
            path: path.clone(),
            offset: 0,
            partial: Vec::new(),
        };
        assert_eq!(t.lines(), vec!["a".to_string()]);
        std::fs::write(&path, "a\nbc\nd\n").unwrap();
        assert_eq!(t.lines(), vec!["bc".to_string(), "d".to_string()]);
        assert!(t.lines().is_empty());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
