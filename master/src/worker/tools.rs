//! Tool jobs (`profile_kind: tool`, the tool id in `profile_id`): the catalogue that
//! `GET /tools` shows and the tools a worker can run.
//!
//! Owns: the tool table and each tool's arguments. A tool job reads only what its
//! arguments may name and writes only into its own artifacts folder: `report-html`'s
//! `in` names an existing job (its id, or the data-dir path of its `summary.json`, which
//! is read like every file a job reads: a regular file, no link out of that job's folder,
//! size-capped), and `out` a `NAME.html` file of the tool job's own folder (never another
//! job's files or a folder for a job id not yet used). In this build `report-html` runs;
//! the others are listed as not available and their jobs fail at once saying so. Must
//! not: start processes.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::report::{self, ReportData};
use gossipper_engine::files::{Disk, FileAccess, JobRoots, MAX_FILE_BYTES, ReadFiles};
use serde::Serialize;

use crate::service::paths::{Layout, Place, check_name};

/// One catalogue entry.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Tool {
    pub(crate) id: &'static str,
    pub(crate) title: &'static str,
    pub(crate) summary: &'static str,
    /// `{arg: "type — meaning"}`.
    pub(crate) args_schema: serde_json::Value,
    pub(crate) example_args: serde_json::Value,
    /// Whether this build can run it.
    pub(crate) available: bool,
}

/// The catalogue, in display order.
pub(crate) fn catalogue() -> Vec<Tool> {
    use serde_json::json;
    vec![
        Tool {
            id: "report-html",
            title: "HTML report",
            summary: "Builds a self-contained report.html (totals, rates, response-time charts) from a summary.json.",
            args_schema: json!({"in": "string, required — a job id, or that job's summary path relative to the data dir: artifacts/jobs/JOB_ID/summary.json", "out": "string — NAME.html in this job's own artifacts folder (default report.html; artifacts/jobs/THIS_JOB_ID/NAME.html is accepted too)"}),
            example_args: json!({"in": "artifacts/jobs/JOB_ID/summary.json"}),
            available: true,
        },
        Tool {
            id: "pcap2scenario",
            title: "PCAP to scenario",
            summary: "Turns a SIP capture into a UAC and a UAS scenario.",
            args_schema: json!({"pcap": "string, required — media/pcap/NAME.pcap", "out_dir": "string", "sip_port": "integer", "pcap_link": "string"}),
            example_args: json!({"pcap": "media/pcap/call.pcap"}),
            available: false,
        },
        Tool {
            id: "summary-to-pdf",
            title: "PDF report",
            summary: "Renders a summary.json as a PDF.",
            args_schema: json!({"in": "string, required", "out": "string"}),
            example_args: json!({"in": "artifacts/jobs/JOB_ID/summary.json"}),
            available: false,
        },
        Tool {
            id: "rtp_send",
            title: "RTP sender",
            summary: "Sends an RTP stream to an address.",
            args_schema: json!({"rtp_addr": "string, required — host:port", "rtp_codec": "string", "rtp_freq_ms": "integer", "duration_ms": "integer"}),
            example_args: json!({"rtp_addr": "127.0.0.1:40000", "duration_ms": 5000}),
            available: false,
        },
        Tool {
            id: "infindex",
            title: "Injection file index",
            summary: "Builds an index of an injection CSV on one field.",
            args_schema: json!({"csv": "string, required", "field": "integer"}),
            example_args: json!({"csv": "media/users.csv", "field": 0}),
            available: false,
        },
    ]
}

/// Why a tool job failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ToolError {
    #[error("unknown tool \"{0}\"")]
    Unknown(String),
    #[error("tool \"{0}\" is not available in this build")]
    NotAvailable(String),
    #[error("args.{arg}: {problem}")]
    BadArg { arg: &'static str, problem: String },
    #[error("{path}: {problem}")]
    Io { path: PathBuf, problem: String },
}

/// Checks a tool id and its arguments (the master calls this before it forks; the worker
/// again). `job_id` is the tool job's own id; `job_exists` says whether an id names a
/// job.
pub(crate) fn check(
    id: &str,
    args: &serde_json::Map<String, serde_json::Value>,
    job_id: &str,
    job_exists: &dyn Fn(&str) -> bool,
) -> Result<(), ToolError> {
    let tool = catalogue()
        .into_iter()
        .find(|t| t.id == id)
        .ok_or_else(|| ToolError::Unknown(id.to_string()))?;
    if !tool.available {
        return Err(ToolError::NotAvailable(id.to_string()));
    }
    let allowed = ["in", "out"];
    if let Some(k) = args.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(ToolError::BadArg {
            arg: "?",
            problem: format!("unknown argument \"{k}\" (report-html takes in, out)"),
        });
    }
    let source = input_job(args)?;
    if !job_exists(source) {
        return Err(ToolError::BadArg {
            arg: "in",
            problem: format!("no job \"{source}\""),
        });
    }
    output_name(args, job_id)?;
    Ok(())
}

fn str_arg<'a>(
    args: &'a serde_json::Map<String, serde_json::Value>,
    arg: &'static str,
) -> Result<Option<&'a str>, ToolError> {
    match args.get(arg) {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(s)) => Ok(Some(s.as_str())),
        Some(_) => Err(ToolError::BadArg {
            arg,
            problem: "must be a string".into(),
        }),
    }
}

/// The job whose summary `in` names: `JOB_ID` or `artifacts/jobs/JOB_ID/summary.json`.
fn input_job(args: &serde_json::Map<String, serde_json::Value>) -> Result<&str, ToolError> {
    let input = str_arg(args, "in")?.ok_or(ToolError::BadArg {
        arg: "in",
        problem: "is required".into(),
    })?;
    let job = input
        .strip_prefix("artifacts/jobs/")
        .and_then(|rest| rest.strip_suffix("/summary.json"))
        .unwrap_or(input);
    check_name(job).map_err(|e| ToolError::BadArg {
        arg: "in",
        problem: format!(
            "\"{input}\": expected a job id or artifacts/jobs/JOB_ID/summary.json ({e})"
        ),
    })?;
    Ok(job)
}

/// The file name `out` asks for in the tool job's own folder (default `report.html`):
/// `NAME.html`, or `artifacts/jobs/<job_id>/NAME.html`.
fn output_name<'a>(
    args: &'a serde_json::Map<String, serde_json::Value>,
    job_id: &str,
) -> Result<&'a str, ToolError> {
    let Some(out) = str_arg(args, "out")? else {
        return Ok(crate::job::files::REPORT_HTML);
    };
    let own = format!("artifacts/jobs/{job_id}/");
    let name = out.strip_prefix(own.as_str()).unwrap_or(out);
    let bad = |problem: String| ToolError::BadArg {
        arg: "out",
        problem: format!(
            "\"{out}\": {problem}; a tool writes only NAME.html in its own folder ({own}NAME.html)"
        ),
    };
    check_name(name).map_err(|e| bad(e.to_string()))?;
    if !name.ends_with(".html") || name == ".html" {
        return Err(bad("must end in .html".into()));
    }
    Ok(name)
}

/// Runs a tool; returns the files it wrote.
pub(crate) fn run(
    id: &str,
    args: &serde_json::Map<String, serde_json::Value>,
    data_dir: &Path,
    artifacts_dir: &Path,
    job_id: &str,
) -> Result<Vec<PathBuf>, ToolError> {
    // The summary is read below, and fails if that job has no folder.
    check(id, args, job_id, &|_| true)?;
    let source = input_job(args)?;
    let source_dir = Layout::new(data_dir)
        .path(Place::JobArtifacts(source))
        .map_err(|e| ToolError::BadArg {
            arg: "in",
            problem: e.to_string(),
        })?;
    let input = source_dir.join(crate::job::files::SUMMARY);
    // Read as a job reads its own files: that job's folder is the only root.
    let files = FileAccess::Confined(JobRoots {
        data_dir: data_dir.to_path_buf(),
        job_dir: source_dir,
    });
    let bytes = Disk(&files)
        .read(Path::new(crate::job::files::SUMMARY), MAX_FILE_BYTES)
        .map_err(|e| ToolError::Io {
            path: input.clone(),
            problem: e.to_string(),
        })?;
    let data = ReportData::from_json(&bytes).map_err(|e| ToolError::Io {
        path: input.clone(),
        problem: format!("not a summary.json: {e}"),
    })?;
    let title = format!("gossipper report — job {source}");
    let html = report::render(&title, &data, &[]);
    let out = artifacts_dir.join(output_name(args, job_id)?);
    let io = |e: std::io::Error| ToolError::Io {
        path: out.clone(),
        problem: e.to_string(),
    };
    // The worker made its own folder; a link planted at the name is not followed.
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&out)
        .map_err(io)?;
    file.write_all(html.as_bytes()).map_err(io)?;
    Ok(vec![out])
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn args(v: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
        v.as_object().unwrap().clone()
    }

    fn known(id: &str) -> bool {
        id == "j"
    }

    #[test]
    fn only_available_tools_with_valid_args_pass_the_check() {
        for ok in [
            json!({"in": "artifacts/jobs/j/summary.json"}),
            json!({"in": "j", "out": "mine.html"}),
            json!({"in": "j", "out": "artifacts/jobs/t1/mine.html"}),
        ] {
            check("report-html", &args(ok.clone()), "t1", &known)
                .unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        assert!(matches!(
            check("nope", &args(json!({})), "t1", &known),
            Err(ToolError::Unknown(_))
        ));
        assert!(matches!(
            check("pcap2scenario", &args(json!({"pcap": "x"})), "t1", &known),
            Err(ToolError::NotAvailable(_))
        ));
        for bad in [
            json!({}),
            json!({"in": 3}),
            json!({"in": "j", "x": 1}),
            json!({"in": "missing"}),
        ] {
            assert!(
                matches!(
                    check("report-html", &args(bad.clone()), "t1", &known),
                    Err(ToolError::BadArg { .. })
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn in_names_an_existing_job_and_out_only_this_jobs_folder() {
        let refused = |a: serde_json::Value| {
            matches!(
                check("report-html", &args(a), "t1", &known),
                Err(ToolError::BadArg { .. })
            )
        };
        for bad_in in [
            "../x",
            "artifacts/jobs/j/../../settings.sqlite",
            "artifacts/jobs/j/worker.log",
            "scenarios/x.xml",
            "/etc/passwd",
            "artifacts/summary.json",
        ] {
            assert!(refused(json!({"in": bad_in})), "in {bad_in}");
        }
        for bad_out in [
            "artifacts/jobs/j/summary.json",
            "artifacts/jobs/j/report.html",
            "artifacts/jobs/future-job/report.html",
            "artifacts/jobs/t1/summary.json",
            "artifacts/jobs/t1/sub/x.html",
            "../t2/x.html",
            "summary.json",
            "worker.log",
            "scenarios/x.xml",
            "/tmp/x.html",
            ".html",
        ] {
            assert!(refused(json!({"in": "j", "out": bad_out})), "out {bad_out}");
        }
    }

    #[test]
    fn report_html_tool_writes_a_page_from_a_summary_into_its_own_folder() {
        let dir = std::env::temp_dir().join(format!("gossipper-tool-{}", std::process::id()));
        let art = dir.join("artifacts/jobs/t1");
        std::fs::create_dir_all(&art).unwrap();
        std::fs::create_dir_all(dir.join("artifacts/jobs/j")).unwrap();
        std::fs::write(
            dir.join("artifacts/jobs/j/summary.json"),
            br#"{"total_calls":3,"success_calls":3,"invite_rtt":{"count":3,"buckets":[{"label":"le_10ms","count":3}]}}"#,
        )
        .unwrap();
        let out = run("report-html", &args(json!({"in": "j"})), &dir, &art, "t1").unwrap();
        assert_eq!(out, vec![art.join("report.html")]);
        let html = std::fs::read_to_string(&out[0]).unwrap();
        // A summary has no stats series: the charts over time say so, and the one chart
        // a summary feeds, the response-time distribution, is drawn.
        assert!(html.contains("Not enough samples"));
        assert!(html.contains("<h2>Response time distribution</h2><svg"));
        assert_eq!(html.matches("<svg").count(), 1, "{html}");
        assert!(html.contains(">3<"));
        // A link planted at the output name is not followed.
        let target = dir.join("target");
        std::fs::write(&target, b"keep").unwrap();
        std::os::unix::fs::symlink(&target, art.join("linked.html")).unwrap();
        let e = run(
            "report-html",
            &args(json!({"in": "j", "out": "linked.html"})),
            &dir,
            &art,
            "t1",
        );
        assert!(matches!(e, Err(ToolError::Io { .. })), "{e:?}");
        assert_eq!(std::fs::read(&target).unwrap(), b"keep");
        // A summary that is a link out of its job's folder is not read.
        std::fs::create_dir_all(dir.join("artifacts/jobs/k")).unwrap();
        std::os::unix::fs::symlink(&target, dir.join("artifacts/jobs/k/summary.json")).unwrap();
        let e = run("report-html", &args(json!({"in": "k"})), &dir, &art, "t1");
        assert!(matches!(e, Err(ToolError::Io { .. })), "{e:?}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
