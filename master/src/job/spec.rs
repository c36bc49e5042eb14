//! The resolved job spec: what the master writes into a job's folder
//! (`artifacts/jobs/<id>/spec.json`) and `gossipper worker --spec` runs, exactly.
//!
//! Owns: the file's shape, its version, and the checks a worker makes before it runs one.
//! The master resolves a job once (profile, scenario, `[[media:…]]` names, overrides,
//! thresholds, seed) into this document, checks it, and writes it; the worker never
//! opens the master's store or reads a profile. Perf labs write one by hand for a
//! headless `gossipper worker --spec`. Must not: resolve anything (the master's
//! `service::resolve` does) or run anything (the worker does).
//!
//! The format (version 1), every key but `kind`, `version`, `job_id`, `artifacts_dir` and
//! `run` optional:
//!
//! ```json
//! {
//!   "kind": "gossipper_job_spec",
//!   "version": 1,
//!   "job_id": "nightly-1",
//!   "artifacts_dir": "/var/lib/gossipper/artifacts/jobs/nightly-1",
//!   "stats_interval_ms": 1000,
//!   "about": {"title": "nightly", "name": "", "notes": "", "profile_kind": "client",
//!             "scenario_id": "uac"},
//!   "run": {"engine": {"scenario": {"builtin": "uac"}, "remote": "10.0.0.5:5060",
//!                      "rate": 200, "max_calls": 10000, "thresholds": ["p99(response_time)<50ms"],
//!                      "file_access": "cwd"}}
//! }
//! ```
//!
//! `run` is either `{"engine": JobSpec}` (the engine's run configuration,
//! `gossipper_engine::config::JobSpec`: every field has SIPp's default, a transport is its
//! `-t` code, a threshold its text, `file_access` is `"cwd"`, `"no_files"` or
//! `{"confined": {"data_dir", "job_dir"}}`), or `{"tool": {"report_html": {"source":
//! {"data_dir", "job_dir"}, "out": "NAME.html"}}}`. A spec of another `kind` or `version`,
//! an unknown key anywhere, or an engine setting the worker does not run (the SIPp command
//! line's screen, keys, control socket, `-bg` and trace files) is refused with a message
//! naming it. The master writes `file_access: confined` to the job's own folder; a spec
//! that confines its job elsewhere than its `artifacts_dir` is refused.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use gossipper_engine::config::{JobSpec, TransportMode};
use gossipper_engine::files::{FileAccess, JobRoots};
use serde::{Deserialize, Serialize};

/// `kind` of every spec file.
pub(crate) const KIND: &str = "gossipper_job_spec";
/// The version this build writes and reads.
pub(crate) const VERSION: u32 = 1;
/// The smallest stats interval a spec may ask for (the runner ticks every 50 ms).
pub(crate) const MIN_STATS_INTERVAL_MS: u64 = 100;
/// The stats interval when a spec names none.
pub(crate) const DEFAULT_STATS_INTERVAL_MS: u64 = 1000;

fn default_interval() -> u64 {
    DEFAULT_STATS_INTERVAL_MS
}

/// One job, resolved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct JobFile {
    /// Always [`KIND`].
    pub(crate) kind: String,
    /// Always [`VERSION`].
    pub(crate) version: u32,
    /// The job's id (in every stdout line).
    pub(crate) job_id: String,
    /// Where the worker writes stats, summary, call records, report and recordings.
    pub(crate) artifacts_dir: PathBuf,
    /// How often the worker prints a stats line.
    #[serde(default = "default_interval")]
    pub(crate) stats_interval_ms: u64,
    /// What the job is called, for report.html and worker.log.
    #[serde(default)]
    pub(crate) about: About,
    /// issue 20: how many worker processes run the job, each its segment (`worker::fanout`).
    #[serde(default, skip_serializing_if = "Workers::is_one")]
    pub(crate) workers: Workers,
    /// issue 20: the job runs on a Kubernetes cluster as an Indexed Job
    /// (`worker::cluster`), each pod a segment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) kubernetes: Option<super::kube::KubeSpec>,
    /// What to run.
    pub(crate) run: Run,
}

/// The most workers one job may fan out to (the master also caps it at 4 per core).
pub(crate) const MAX_WORKERS: u32 = 64;

/// One job on N worker processes (`"workers": {"count": 3, "netns": ["a", "b", "c"]}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct Workers {
    /// How many (1: the job runs in this process, as without the key).
    pub(crate) count: u32,
    /// The network namespace of each worker (`ip netns exec NAME`), one per worker, or
    /// none (all in the fan-out's namespace).
    pub(crate) netns: Vec<String>,
    /// A server with several listeners (a profile's enabled SIP rows): worker `i` runs
    /// the whole run on listener `i` instead of a segment of it (one per worker).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) listeners: Vec<Listener>,
    /// This worker is one of a fan-out's listeners: it prints a `state` line before each
    /// stats line, as a segment's worker does.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub(crate) listener_of_fanout: bool,
}

impl Default for Workers {
    fn default() -> Workers {
        Workers {
            count: 1,
            netns: Vec::new(),
            listeners: Vec::new(),
            listener_of_fanout: false,
        }
    }
}

/// One listener of a multi-listener server job: the signalling settings its worker runs
/// with (the rest of the run is the job's).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Listener {
    pub(crate) transport: TransportMode,
    #[serde(default)]
    pub(crate) local_ip: Option<IpAddr>,
    #[serde(default)]
    pub(crate) local_port: Option<u16>,
    #[serde(default)]
    pub(crate) ws_path: Option<String>,
    #[serde(default)]
    pub(crate) tls_cert: Option<PathBuf>,
    #[serde(default)]
    pub(crate) tls_key: Option<PathBuf>,
}

impl Listener {
    /// The listener `job` runs.
    pub(crate) fn of(job: &JobSpec) -> Listener {
        Listener {
            transport: job.transport,
            local_ip: job.local_ip,
            local_port: job.local_port,
            ws_path: job.ws_path.clone(),
            tls_cert: job.tls_cert.clone(),
            tls_key: job.tls_key.clone(),
        }
    }

    /// Makes `job` run this listener.
    pub(crate) fn apply(&self, job: &mut JobSpec) {
        job.transport = self.transport;
        job.local_ip = self.local_ip;
        job.local_port = self.local_port;
        job.ws_path.clone_from(&self.ws_path);
        job.tls_cert.clone_from(&self.tls_cert);
        job.tls_key.clone_from(&self.tls_key);
    }
}

impl Workers {
    fn is_one(&self) -> bool {
        *self == Workers::default()
    }

    /// Why these workers cannot run `run` (`None`: they can), as the problem with
    /// `count` or with `netns` (the spec names them `workers.count`/`workers.netns`, a
    /// job request `workers`/`worker_netns`).
    pub(crate) fn refusal(&self, run: &Run) -> Option<WorkersRefusal> {
        let count = |problem: String| WorkersRefusal {
            netns: false,
            problem,
        };
        let netns = |problem: String| WorkersRefusal {
            netns: true,
            problem,
        };
        if self.count == 0 || self.count > MAX_WORKERS {
            return Some(count(format!("{}: from 1 to {MAX_WORKERS}", self.count)));
        }
        if !self.netns.is_empty() && self.netns.len() != self.count as usize {
            return Some(netns(format!(
                "{} names for {} workers (one each, or none)",
                self.netns.len(),
                self.count
            )));
        }
        if let Some(bad) = self.netns.iter().find(|n| !netns_name(n)) {
            return Some(netns(format!(
                "\"{}\" is not a name of letters, digits, '-', '_' or '.'",
                bad.chars().take(64).collect::<String>()
            )));
        }
        if !self.listeners.is_empty() && self.listeners.len() != self.count as usize {
            return Some(count(format!(
                "{}: {} listeners, one worker each",
                self.count,
                self.listeners.len()
            )));
        }
        if self.count == 1 {
            return None;
        }
        let Run::Engine(job) = run else {
            return Some(count("a tool runs in one worker".into()));
        };
        if job.segment.is_some() {
            return Some(count("run.engine.segment is already a segment".into()));
        }
        if !self.listeners.is_empty() {
            // Each worker runs the whole run on its own listener: no segment arithmetic,
            // and each binds its own address.
            return None;
        }
        if let Some(field) = [
            ("max_calls", job.max_calls),
            ("users", job.users),
            ("call_limit", job.call_limit),
        ]
        .into_iter()
        .find_map(|(f, v)| v.filter(|v| *v < u64::from(self.count)).map(|_| f))
        {
            return Some(count(format!(
                "{}: run.engine.{field} is smaller than the workers",
                self.count
            )));
        }
        if self.netns.is_empty() {
            // One address for all: what only one process can bind.
            let fixed = [
                ("local_port", job.local_port.is_some()),
                ("media_port", job.media_port.is_some()),
                ("control_port", job.control_port.is_some()),
                ("trace.metrics_addr", job.trace.metrics_addr.is_some()),
            ];
            if let Some((f, _)) = fixed.iter().find(|(_, set)| *set) {
                return Some(count(format!(
                    "{}: run.engine.{f} is one address, which only one worker can bind (give each worker a network namespace)",
                    self.count
                )));
            }
        }
        None
    }
}

/// Why workers cannot run a job: the problem with their count, or with their
/// namespaces.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct WorkersRefusal {
    /// The problem is with `netns` (else with `count`).
    pub(crate) netns: bool,
    pub(crate) problem: String,
}

impl WorkersRefusal {
    /// The text, naming the field with the names the caller used for it.
    pub(crate) fn named(&self, count: &str, netns: &str) -> String {
        let field = if self.netns { netns } else { count };
        format!("{field}: {}", self.problem)
    }
}

/// A network namespace name as `ip netns` takes it (no path).
fn netns_name(n: &str) -> bool {
    !n.is_empty()
        && n.len() <= 64
        && n != "."
        && n != ".."
        && n.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// What the job is called and what it was asked, around the numbers of report.html.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct About {
    /// The page title.
    pub(crate) title: String,
    /// The job's name as it was when it started (empty: none).
    pub(crate) name: String,
    /// The job's notes as they were when it started (empty: none).
    pub(crate) notes: String,
    /// The kind of profile the job started from (`server`, `client`; empty in a
    /// hand-written spec), for worker.log.
    pub(crate) profile_kind: String,
    /// The scenario id the job runs (shown with the target; empty: not said).
    pub(crate) scenario_id: String,
}

/// What a job runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub(crate) enum Run {
    /// A SIP run of the engine.
    Engine(Box<JobSpec>),
    /// A tool.
    Tool(ToolRun),
}

/// A tool, with its arguments resolved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub(crate) enum ToolRun {
    /// `report-html`: report.html from the `summary.json` of `source.job_dir` (read as a
    /// job reads its own files: no link out of that folder), written as `out` (a
    /// `NAME.html`) in this job's own folder.
    ReportHtml { source: JobRoots, out: String },
    /// `pcap2scenario`: converts `pcap` (a name read under the job's file rule, `files`:
    /// the media library or this job's own folder) into the scenario pair written into
    /// `out_dir`, a folder of this job's own.
    Pcap2Scenario {
        files: JobRoots,
        pcap: String,
        out_dir: String,
        sip_port: u16,
        pcap_link: Option<String>,
    },
    /// `summary-to-pdf`: report.html from the `summary.json` of `source.job_dir` (read as
    /// `ReportHtml` reads it), written into this job's folder, then printed by headless
    /// Chromium into `out` (a `NAME.pdf`) there.
    SummaryToPdf { source: JobRoots, out: String },
    /// `rtp_send`: the standalone sender, for a bounded time.
    RtpSend(RtpSendRun),
    /// `infindex`: the index of `csv` (a name read under `files`' rule: a file of that
    /// job's folder) on `field`, written as `csv.gossipper.idx.FIELD.json` into this
    /// job's own folder.
    Infindex {
        files: JobRoots,
        csv: String,
        field: usize,
    },
}

/// The `rtp_send` tool's settings (checked by the master as the subcommand checks them).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RtpSendRun {
    pub(crate) rtp_addr: String,
    pub(crate) rtp_codec: String,
    pub(crate) rtp_pt: u8,
    pub(crate) rtp_freq_ms: u64,
    pub(crate) duration_ms: u64,
    pub(crate) rtp_streams: u32,
    pub(crate) rtp_port: u16,
}

/// Why a spec file cannot be run.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SpecError {
    #[error("invalid spec: {0}")]
    Json(#[from] serde_json::Error),
    #[error("\"kind\" is missing: a spec starts with \"kind\": \"{KIND}\", \"version\": {VERSION}")]
    NoKind,
    #[error("\"kind\" is \"{0}\", not \"{KIND}\"")]
    Kind(String),
    #[error("\"version\" is missing: this build reads version {VERSION}")]
    NoVersion,
    #[error("version {0} is not supported: this build reads version {VERSION}")]
    Version(u64),
    #[error("stats_interval_ms must be at least {MIN_STATS_INTERVAL_MS}")]
    Interval,
    #[error(
        "run.engine sets what a worker does not run (the SIPp command line's): {}",
        .0.join(", ")
    )]
    NotForWorker(Vec<&'static str>),
    #[error(
        "run.engine.file_access confines the job to {}, not to its artifacts_dir {}",
        .confined.display(),
        .artifacts.display()
    )]
    Confinement {
        confined: PathBuf,
        artifacts: PathBuf,
    },
    #[error("{0}")]
    Workers(String),
    #[error("run.tool.report_html.out \"{0}\": a tool writes only NAME.html into its own folder")]
    ToolOut(String),
    #[error(
        "run.tool.pcap2scenario.out_dir \"{0}\": a tool writes only into a folder of its own folder"
    )]
    ToolOutDir(String),
    #[error("run.tool.{field} \"{value}\": a tool names only plain files of its folders")]
    ToolName { field: &'static str, value: String },
}

/// The two keys read before the rest, so a newer spec gets "version N is not supported"
/// rather than a complaint about a key this build does not know.
#[derive(Deserialize)]
struct Header {
    kind: Option<String>,
    version: Option<u64>,
}

impl JobFile {
    /// A version-1 spec.
    pub(crate) fn new(job_id: &str, artifacts_dir: &Path, about: About, run: Run) -> JobFile {
        JobFile {
            kind: KIND.into(),
            version: VERSION,
            job_id: job_id.into(),
            artifacts_dir: artifacts_dir.into(),
            stats_interval_ms: DEFAULT_STATS_INTERVAL_MS,
            about,
            workers: Workers::default(),
            kubernetes: None,
            run,
        }
    }

    /// Reads and checks a spec file's bytes.
    pub(crate) fn parse(bytes: &[u8]) -> Result<JobFile, SpecError> {
        let header: Header = serde_json::from_slice(bytes)?;
        match header.kind.as_deref() {
            None => return Err(SpecError::NoKind),
            Some(KIND) => {}
            Some(other) => return Err(SpecError::Kind(other.chars().take(80).collect())),
        }
        match header.version {
            None => return Err(SpecError::NoVersion),
            Some(v) if v == u64::from(VERSION) => {}
            Some(v) => return Err(SpecError::Version(v)),
        }
        let file: JobFile = serde_json::from_slice(bytes)?;
        file.check()?;
        Ok(file)
    }

    /// The file's text (pretty, as the master writes it).
    pub(crate) fn to_json(&self) -> Result<Vec<u8>, serde_json::Error> {
        let mut out = serde_json::to_vec_pretty(self)?;
        out.push(b'\n');
        Ok(out)
    }

    /// What a worker checks besides the shape.
    pub(crate) fn check(&self) -> Result<(), SpecError> {
        if self.stats_interval_ms < MIN_STATS_INTERVAL_MS {
            return Err(SpecError::Interval);
        }
        if let Some(why) = self.workers.refusal(&self.run) {
            return Err(SpecError::Workers(
                why.named("workers.count", "workers.netns"),
            ));
        }
        if let Some(k) = &self.kubernetes
            && (self.workers != Workers::default()
                || k.parallelism == 0
                || k.parallelism > MAX_WORKERS
                || !matches!(self.run, Run::Engine(_)))
        {
            return Err(SpecError::Workers(
                "kubernetes: an engine run of 1 to 64 pods (kubernetes.parallelism), without workers".into(),
            ));
        }
        match &self.run {
            Run::Engine(job) => {
                let ignored = not_for_worker(job);
                if !ignored.is_empty() {
                    return Err(SpecError::NotForWorker(ignored));
                }
                if let FileAccess::Confined(roots) = &job.file_access
                    && roots.job_dir != self.artifacts_dir
                {
                    return Err(SpecError::Confinement {
                        confined: roots.job_dir.clone(),
                        artifacts: self.artifacts_dir.clone(),
                    });
                }
                Ok(())
            }
            Run::Tool(ToolRun::SummaryToPdf { out, .. }) => {
                let plain = !out.contains('/') && out.len() > ".pdf".len();
                match plain && out.ends_with(".pdf") {
                    true => Ok(()),
                    false => Err(SpecError::ToolName {
                        field: "summary_to_pdf.out",
                        value: out.chars().take(80).collect(),
                    }),
                }
            }
            Run::Tool(ToolRun::RtpSend(_)) => Ok(()),
            Run::Tool(ToolRun::Infindex { csv, .. }) => {
                if csv.is_empty() || csv.contains('/') || csv == ".." {
                    return Err(SpecError::ToolName {
                        field: "infindex.csv",
                        value: csv.chars().take(80).collect(),
                    });
                }
                Ok(())
            }
            Run::Tool(ToolRun::ReportHtml { out, .. }) => {
                let plain = !out.contains('/') && out != ".." && out.len() > ".html".len();
                match plain && out.ends_with(".html") {
                    true => Ok(()),
                    false => Err(SpecError::ToolOut(out.chars().take(80).collect())),
                }
            }
            Run::Tool(ToolRun::Pcap2Scenario { files, out_dir, .. }) => {
                let plain = !out_dir.is_empty()
                    && !out_dir.contains('/')
                    && out_dir != ".."
                    && out_dir != ".";
                if !plain {
                    return Err(SpecError::ToolOutDir(out_dir.chars().take(80).collect()));
                }
                if files.job_dir != self.artifacts_dir {
                    return Err(SpecError::Confinement {
                        confined: files.job_dir.clone(),
                        artifacts: self.artifacts_dir.clone(),
                    });
                }
                Ok(())
            }
        }
    }
}

/// The engine settings only the SIPp command line acts on (its screen, keys, control
/// socket, `-bg` and trace files), named as in the spec, that `job` sets.
pub(crate) fn not_for_worker(job: &JobSpec) -> Vec<&'static str> {
    let d = JobSpec::default();
    let t = &job.trace;
    [
        ("background", job.background),
        ("control_ip", job.control_ip.is_some()),
        ("control_port", job.control_port.is_some()),
        (
            "screen_refresh_ms",
            job.screen_refresh_ms != d.screen_refresh_ms,
        ),
        ("rate_scale", job.rate_scale != d.rate_scale),
        ("trace.stat_file", t.stat_file.is_some()),
        ("trace.message_file", t.message_file.is_some()),
        ("trace.shortmessage_file", t.shortmessage_file.is_some()),
        ("trace.error_file", t.error_file.is_some()),
        ("trace.screen_file", t.screen_file.is_some()),
        ("trace.rtt_file", t.rtt_file.is_some()),
        ("trace.counts_file", t.counts_file.is_some()),
        ("trace.log_file", t.log_file.is_some()),
        ("trace.error_codes_file", t.error_codes_file.is_some()),
        ("trace.calldebug_file", t.calldebug_file.is_some()),
        ("trace.summary_json", t.summary_json.is_some()),
        ("trace.call_records", t.call_records.is_some()),
        ("trace.summary_html", t.summary_html.is_some()),
        ("trace.stat_line_period_ms", t.stat_line_period_ms.is_some()),
    ]
    .into_iter()
    .filter_map(|(name, set)| set.then_some(name))
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use gossipper_engine::config::ScenarioSource;

    fn engine_file() -> JobFile {
        let job = JobSpec {
            scenario: ScenarioSource::Builtin("uac".into()),
            rate: 200.0,
            file_access: FileAccess::Confined(JobRoots {
                data_dir: "/d".into(),
                job_dir: "/d/artifacts/jobs/j1".into(),
            }),
            ..JobSpec::default()
        };
        JobFile::new(
            "j1",
            Path::new("/d/artifacts/jobs/j1"),
            About {
                title: "t".into(),
                ..About::default()
            },
            Run::Engine(Box::new(job)),
        )
    }

    #[test]
    fn a_spec_round_trips_and_is_checked() {
        let f = engine_file();
        let text = f.to_json().unwrap();
        assert_eq!(JobFile::parse(&text).unwrap(), f);
        let tool = JobFile::new(
            "t1",
            Path::new("/d/artifacts/jobs/t1"),
            About::default(),
            Run::Tool(ToolRun::ReportHtml {
                source: JobRoots {
                    data_dir: "/d".into(),
                    job_dir: "/d/artifacts/jobs/j1".into(),
                },
                out: "report.html".into(),
            }),
        );
        assert_eq!(JobFile::parse(&tool.to_json().unwrap()).unwrap(), tool);
    }

    #[test]
    fn a_hand_written_spec_needs_only_the_header_and_the_run() {
        let f = JobFile::parse(
            br#"{"kind":"gossipper_job_spec","version":1,"job_id":"lab","artifacts_dir":"/tmp/lab",
                "run":{"engine":{"scenario":{"builtin":"uac"},"remote":"127.0.0.1:5060","max_calls":10}}}"#,
        )
        .unwrap();
        assert_eq!(f.stats_interval_ms, DEFAULT_STATS_INTERVAL_MS);
        let Run::Engine(job) = f.run else {
            panic!("an engine run")
        };
        assert_eq!(job.max_calls, Some(10));
        assert_eq!(job.rate, JobSpec::default().rate);
    }

    #[test]
    fn other_kinds_versions_and_unknown_keys_are_refused_by_name() {
        let err = |text: &str| JobFile::parse(text.as_bytes()).unwrap_err();
        assert!(matches!(err(r#"{"job_id":"j"}"#), SpecError::NoKind));
        assert!(matches!(err(r#"{"kind":"x","version":1}"#), SpecError::Kind(k) if k == "x"));
        assert!(matches!(
            err(r#"{"kind":"gossipper_job_spec"}"#),
            SpecError::NoVersion
        ));
        // A newer version is named as such, whatever keys it brings.
        assert!(matches!(
            err(r#"{"kind":"gossipper_job_spec","version":2,"new_key":1}"#),
            SpecError::Version(2)
        ));
        let e = err(
            r#"{"kind":"gossipper_job_spec","version":1,"job_id":"j","artifacts_dir":"/a","bogus":1,"run":{"engine":{}}}"#,
        );
        assert!(e.to_string().contains("unknown field `bogus`"), "{e}");
        let e = err(
            r#"{"kind":"gossipper_job_spec","version":1,"job_id":"j","artifacts_dir":"/a","run":{"engine":{"rtae":5}}}"#,
        );
        assert!(e.to_string().contains("unknown field `rtae`"), "{e}");
        // The old (unversioned) spec of the master that read profiles itself.
        let e = err(
            r#"{"job_id":"j1","data_dir":"/d","profile_kind":"server","artifacts_dir":"/d/artifacts/jobs/j1"}"#,
        );
        assert!(matches!(e, SpecError::NoKind), "{e}");
    }

    #[test]
    fn what_a_worker_does_not_run_is_refused_not_ignored() {
        let mut f = engine_file();
        let Run::Engine(job) = &mut f.run else {
            unreachable!()
        };
        job.background = true;
        job.trace.stat_file = Some("x.csv".into());
        let e = f.check().unwrap_err();
        assert!(
            matches!(&e, SpecError::NotForWorker(names) if names == &["background", "trace.stat_file"]),
            "{e}"
        );
        let mut f = engine_file();
        f.artifacts_dir = "/d/artifacts/jobs/other".into();
        assert!(matches!(f.check(), Err(SpecError::Confinement { .. })));
        let mut f = engine_file();
        f.stats_interval_ms = 1;
        assert!(matches!(f.check(), Err(SpecError::Interval)));
    }

    #[test]
    fn listeners_run_one_worker_each_on_their_own_addresses() {
        let mut f = engine_file();
        let Run::Engine(job) = &mut f.run else {
            unreachable!()
        };
        job.local_port = Some(5060);
        let l = |port| Listener {
            transport: TransportMode::UdpShared,
            local_ip: None,
            local_port: Some(port),
            ws_path: None,
            tls_cert: None,
            tls_key: None,
        };
        f.workers = Workers {
            count: 2,
            netns: Vec::new(),
            listeners: vec![l(5060), l(5062)],
            ..Workers::default()
        };
        assert!(f.check().is_ok(), "fixed ports are each listener's own");
        f.workers.count = 3;
        assert!(
            f.check()
                .err()
                .is_some_and(|e| e.to_string().contains("2 listeners, one worker each"))
        );
        let Run::Engine(job) = &f.run else {
            unreachable!()
        };
        let mut j = (**job).clone();
        l(5062).apply(&mut j);
        assert_eq!(j.local_port, Some(5062));
    }

    #[test]
    fn workers_that_cannot_split_the_run_are_refused_by_field() {
        let with = |count, netns: &[&str], edit: &dyn Fn(&mut JobSpec)| {
            let mut f = engine_file();
            let Run::Engine(job) = &mut f.run else {
                unreachable!()
            };
            edit(job);
            f.workers = Workers {
                count,
                netns: netns.iter().map(|n| n.to_string()).collect(),
                ..Workers::default()
            };
            f.check().err().map(|e| e.to_string())
        };
        let none = |_: &mut JobSpec| {};
        assert_eq!(with(3, &[], &none), None);
        assert_eq!(with(3, &["a", "b", "c"], &none), None);
        let e = |count, netns: &[&str], edit: &dyn Fn(&mut JobSpec), want: &str| {
            let got = with(count, netns, edit).unwrap_or_default();
            assert!(got.contains(want), "{got} lacks {want}");
        };
        e(0, &[], &none, "workers.count: 0");
        e(65, &[], &none, "workers.count: 65");
        e(2, &["a"], &none, "workers.netns: 1 names");
        e(2, &["a", "../x"], &none, "workers.netns: \"../x\"");
        e(4, &[], &|j| j.max_calls = Some(3), "run.engine.max_calls");
        e(
            2,
            &[],
            &|j| j.local_port = Some(5070),
            "run.engine.local_port",
        );
        assert_eq!(with(2, &["a", "b"], &|j| j.local_port = Some(5070)), None);
        let text = engine_file().to_json().unwrap();
        assert!(
            !String::from_utf8(text).unwrap().contains("workers"),
            "one worker is not written"
        );
    }

    #[test]
    fn a_tool_writes_only_a_plain_html_name() {
        for bad in ["../x.html", "sub/x.html", ".html", "x.txt", "/tmp/x.html"] {
            let f = JobFile::new(
                "t",
                Path::new("/a"),
                About::default(),
                Run::Tool(ToolRun::ReportHtml {
                    source: JobRoots {
                        data_dir: "/d".into(),
                        job_dir: "/d/artifacts/jobs/j".into(),
                    },
                    out: bad.into(),
                }),
            );
            assert!(matches!(f.check(), Err(SpecError::ToolOut(_))), "{bad}");
        }
    }
}
