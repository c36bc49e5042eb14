//! The arguments of the tool jobs beyond report-html and pcap2scenario: `summary-to-pdf
//! {in, out?}`, `rtp_send {rtp_addr, rtp_codec?, rtp_pt?, rtp_freq_ms?, duration_ms,
//! rtp_streams?, rtp_port?}` and `infindex {csv, field?}`, checked into what the worker
//! runs (`job::spec::ToolRun`), and whether this machine can run them.
//!
//! Owns: those checks. `summary-to-pdf` reads a job's summary as `report-html` does and
//! needs headless Chromium: without one, the tool is listed not available with the
//! reason and a run is refused (400) before a job exists. `rtp_send` needs a duration
//! (1 ms to 1 h), so a tool job always ends; a stop ends it sooner. `infindex`'s `csv` is
//! a file of an existing job's folder (`artifacts/jobs/JOB_ID/NAME`), read under that
//! job's rule, checked to exist now. Must not: read more than that check, or start
//! processes.

use gossipper_engine::files::{Disk, FileAccess, JobRoots, MAX_DATA_FILE_BYTES, ReadFiles};

use super::tools::{ToolError, input_job, str_arg};
use crate::job::spec::{RtpSendRun, ToolRun};
use crate::service::paths::{Layout, Place, check_name};
use crate::tools::{infindex, pdf, rtp_send};

type Args = serde_json::Map<String, serde_json::Value>;

/// Longest `rtp_send` tool job, ms.
const MAX_RTP_DURATION_MS: u64 = 3_600_000;

/// Why `id` cannot run on this machine, or `None` when it can.
pub(crate) fn unavailable(id: &str) -> Option<String> {
    match id {
        "summary-to-pdf" => pdf::find_chromium().err(),
        _ => None,
    }
}

fn unknown_args(id: &str, args: &Args, allowed: &[&str]) -> Result<(), ToolError> {
    match args.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(ToolError::BadArg {
            arg: "?",
            problem: format!(
                "unknown argument \"{k}\" ({id} takes {})",
                allowed.join(", ")
            ),
        }),
        None => Ok(()),
    }
}

fn roots(layout: &Layout, job: &str, arg: &'static str) -> Result<JobRoots, ToolError> {
    Ok(JobRoots {
        data_dir: layout.root().to_path_buf(),
        job_dir: layout
            .path(Place::JobArtifacts(job))
            .map_err(|e| ToolError::BadArg {
                arg,
                problem: e.to_string(),
            })?,
    })
}

/// `summary-to-pdf`: `in` names an existing job (as report-html's), `out` a `NAME.pdf` of
/// this job's own folder (default report.pdf).
pub(crate) fn summary_to_pdf(
    args: &Args,
    layout: &Layout,
    job_id: &str,
    job_exists: &dyn Fn(&str) -> bool,
) -> Result<(String, ToolRun), ToolError> {
    unknown_args("summary-to-pdf", args, &["in", "out"])?;
    let source = input_job(args)?;
    if !job_exists(source) {
        return Err(ToolError::BadArg {
            arg: "in",
            problem: format!("no job \"{source}\""),
        });
    }
    let out = match str_arg(args, "out")? {
        None => crate::job::files::REPORT_PDF.to_string(),
        Some(out) => {
            let own = format!("artifacts/jobs/{job_id}/");
            let name = out.strip_prefix(own.as_str()).unwrap_or(out);
            let bad = |problem: String| ToolError::BadArg {
                arg: "out",
                problem: format!(
                    "\"{out}\": {problem}; a tool writes only NAME.pdf in its own folder ({own}NAME.pdf)"
                ),
            };
            check_name(name).map_err(|e| bad(e.to_string()))?;
            if !name.ends_with(".pdf") || name == ".pdf" {
                return Err(bad("must end in .pdf".into()));
            }
            name.to_string()
        }
    };
    let run = ToolRun::SummaryToPdf {
        source: roots(layout, source, "in")?,
        out,
    };
    Ok((format!("gossipper report — job {source}"), run))
}

/// `rtp_send`: the sender's settings, checked as the subcommand checks them.
pub(crate) fn rtp_send(args: &Args) -> Result<(String, ToolRun), ToolError> {
    let allowed = [
        "rtp_addr",
        "rtp_codec",
        "rtp_pt",
        "rtp_freq_ms",
        "duration_ms",
        "rtp_streams",
        "rtp_port",
    ];
    unknown_args("rtp_send", args, &allowed)?;
    // Numbers may come as JSON numbers or strings; the plan reads text.
    let mut text = std::collections::HashMap::new();
    for k in allowed {
        match args.get(k) {
            None | Some(serde_json::Value::Null) => {}
            Some(serde_json::Value::String(s)) => {
                text.insert(k, s.clone());
            }
            Some(serde_json::Value::Number(n)) => {
                text.insert(k, n.to_string());
            }
            Some(_) => {
                return Err(ToolError::BadArg {
                    arg: k,
                    problem: "must be a string or a number".into(),
                });
            }
        }
    }
    let duration = text.get("duration_ms").ok_or(ToolError::BadArg {
        arg: "duration_ms",
        problem: format!("is required (1 to {MAX_RTP_DURATION_MS} ms): a tool job must end"),
    })?;
    let ms = duration
        .parse::<u64>()
        .ok()
        .filter(|d| (1..=MAX_RTP_DURATION_MS).contains(d))
        .ok_or(ToolError::BadArg {
            arg: "duration_ms",
            problem: format!("\"{duration}\": a whole number from 1 to {MAX_RTP_DURATION_MS}"),
        })?;
    let get = |k: &str| text.get(k).map(String::as_str);
    let t = rtp_send::PlanText {
        addr: get("rtp_addr"),
        codec: get("rtp_codec"),
        pt: get("rtp_pt"),
        freq_ms: get("rtp_freq_ms"),
        dur_ms: get("duration_ms"),
        streams: get("rtp_streams"),
        port: get("rtp_port"),
    };
    let plan = rtp_send::plan(&t).map_err(|(arg, problem)| ToolError::BadArg {
        arg: match arg {
            "rtp_dur" => "duration_ms",
            other => other,
        },
        problem,
    })?;
    let title = format!(
        "rtp_send — {} stream(s) to {} for {ms} ms",
        plan.streams, plan.dest
    );
    let run = ToolRun::RtpSend(RtpSendRun {
        rtp_addr: plan.dest.to_string(),
        rtp_codec: get("rtp_codec").unwrap_or("PCMU").to_string(),
        rtp_pt: plan.payload_type,
        rtp_freq_ms: plan.interval.as_millis() as u64,
        duration_ms: ms,
        rtp_streams: plan.streams,
        rtp_port: plan.first_port,
    });
    Ok((title, run))
}

/// `infindex`: `csv` is `artifacts/jobs/JOB_ID/NAME` of an existing job (readable now
/// under that job's rule); `field` a field number (default 0).
pub(crate) fn infindex(
    args: &Args,
    layout: &Layout,
    job_exists: &dyn Fn(&str) -> bool,
) -> Result<(String, ToolRun), ToolError> {
    unknown_args("infindex", args, &["csv", "field"])?;
    let csv = str_arg(args, "csv")?.ok_or(ToolError::BadArg {
        arg: "csv",
        problem: "is required: artifacts/jobs/JOB_ID/NAME.csv".into(),
    })?;
    let bad = |problem: String| ToolError::BadArg {
        arg: "csv",
        problem: format!("\"{csv}\": {problem}"),
    };
    let (job, name) = csv
        .strip_prefix("artifacts/jobs/")
        .and_then(|r| r.split_once('/'))
        .ok_or_else(|| {
            bad("expected artifacts/jobs/JOB_ID/NAME (a file of a job's folder)".into())
        })?;
    check_name(job).map_err(|e| bad(e.to_string()))?;
    check_name(name).map_err(|e| bad(e.to_string()))?;
    if !job_exists(job) {
        return Err(bad(format!("no job \"{job}\"")));
    }
    let field = match args.get("field") {
        None | Some(serde_json::Value::Null) => 0,
        Some(v) => v
            .as_u64()
            .map(|f| f as usize)
            .or_else(|| v.as_str().and_then(|s| infindex::field_number(s).ok()))
            .ok_or(ToolError::BadArg {
                arg: "field",
                problem: format!("{v} is not a field number (0, 1, …)"),
            })?,
    };
    let files = roots(layout, job, "csv")?;
    Disk(&FileAccess::Confined(files.clone()))
        .check(std::path::Path::new(name), MAX_DATA_FILE_BYTES)
        .map_err(|e| bad(e.to_string()))?;
    let title = format!("infindex — {csv} on field {field}");
    Ok((
        title,
        ToolRun::Infindex {
            files,
            csv: name.to_string(),
            field,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn args(v: serde_json::Value) -> Args {
        v.as_object().unwrap().clone()
    }

    fn bad_arg(r: Result<(String, ToolRun), ToolError>) -> &'static str {
        match r {
            Err(ToolError::BadArg { arg, .. }) => arg,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    fn known(id: &str) -> bool {
        id == "j"
    }

    #[test]
    fn infindex_reads_only_a_file_of_an_existing_jobs_folder() {
        let dir = std::env::temp_dir().join(format!("gossipper-idx-args-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let job = dir.join("artifacts/jobs/j");
        std::fs::create_dir_all(job.join("sub")).unwrap();
        std::fs::write(job.join("u.csv"), "SEQUENTIAL\na;1\n").unwrap();
        std::fs::write(dir.join("settings.sqlite"), "secret").unwrap();
        std::os::unix::fs::symlink(dir.join("settings.sqlite"), job.join("link.csv")).unwrap();
        let layout = Layout::new(&dir);
        let (_, run) = infindex(
            &args(json!({"csv": "artifacts/jobs/j/u.csv", "field": 1})),
            &layout,
            &known,
        )
        .unwrap();
        assert!(matches!(run, ToolRun::Infindex { ref csv, field: 1, .. } if csv == "u.csv"));
        for csv in [
            "../x.csv",
            "/etc/passwd",
            "media/pcap/x.pcap",
            "artifacts/jobs/j/../../settings.sqlite",
            "artifacts/jobs/nojob/u.csv",
            "artifacts/jobs/j/sub/u.csv",
            "artifacts/jobs/j/missing.csv",
            "artifacts/jobs/j/link.csv",
        ] {
            assert_eq!(
                bad_arg(infindex(&args(json!({"csv": csv})), &layout, &known)),
                "csv",
                "{csv}"
            );
        }
        let a = args(json!({"csv": "artifacts/jobs/j/u.csv", "field": "x"}));
        assert_eq!(bad_arg(infindex(&a, &layout, &known)), "field");
        let a = args(json!({"csv": "artifacts/jobs/j/u.csv", "extra": 1}));
        assert_eq!(bad_arg(infindex(&a, &layout, &known)), "?");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn rtp_send_must_end_and_is_checked_as_the_subcommand_is() {
        let (_, run) = rtp_send(&args(
            json!({"rtp_addr": "127.0.0.1:4000", "duration_ms": 500,
            "rtp_codec": "PCMA", "rtp_streams": "4", "rtp_port": 30000}),
        ))
        .unwrap();
        let ToolRun::RtpSend(r) = run else {
            panic!("{run:?}")
        };
        assert_eq!(
            (
                r.rtp_pt,
                r.rtp_streams,
                r.rtp_port,
                r.duration_ms,
                r.rtp_freq_ms
            ),
            (8, 4, 30000, 500, 20)
        );
        for (a, arg) in [
            (json!({"rtp_addr": "127.0.0.1:4000"}), "duration_ms"),
            (
                json!({"rtp_addr": "127.0.0.1:4000", "duration_ms": 0}),
                "duration_ms",
            ),
            (
                json!({"rtp_addr": "127.0.0.1:4000", "duration_ms": 3_600_001}),
                "duration_ms",
            ),
            (json!({"rtp_addr": "nowhere", "duration_ms": 5}), "rtp_addr"),
            (
                json!({"rtp_addr": "127.0.0.1:4000", "duration_ms": 5, "rtp_codec": "opus"}),
                "rtp_codec",
            ),
            (
                json!({"rtp_addr": "127.0.0.1:4000", "duration_ms": 5, "rtp_streams": [1]}),
                "rtp_streams",
            ),
            (
                json!({"rtp_addr": "127.0.0.1:4000", "duration_ms": 5, "rtp_dur": 1}),
                "?",
            ),
        ] {
            assert_eq!(bad_arg(rtp_send(&args(a.clone()))), arg, "{a}");
        }
    }

    #[test]
    fn summary_to_pdf_writes_only_a_pdf_of_its_own_folder() {
        let layout = Layout::new("/data");
        let ok = |out: &str| {
            summary_to_pdf(&args(json!({"in": "j", "out": out})), &layout, "t1", &known)
        };
        assert!(
            matches!(ok("mine.pdf"), Ok((_, ToolRun::SummaryToPdf { ref out, .. })) if out == "mine.pdf")
        );
        assert!(ok("artifacts/jobs/t1/mine.pdf").is_ok());
        for out in [
            "../x.pdf",
            "x.html",
            ".pdf",
            "artifacts/jobs/j/x.pdf",
            "/tmp/x.pdf",
            "sub/x.pdf",
        ] {
            assert_eq!(bad_arg(ok(out)), "out", "{out}");
        }
        let missing = summary_to_pdf(&args(json!({"in": "nope"})), &layout, "t1", &known);
        assert_eq!(bad_arg(missing), "in");
    }
}
