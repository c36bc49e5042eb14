//! Tool jobs (`profile_kind: tool`, the tool id in `profile_id`): the catalogue that
//! `GET /tools` shows, and each tool's arguments resolved into what the worker runs
//! (`job::spec::ToolRun`; the worker's `tools` runs it).
//!
//! Owns: the tool table and each tool's arguments. A tool job reads only what its
//! arguments may name and writes only into its own artifacts folder: `report-html`'s
//! `in` names an existing job (its id, or the data-dir path of its `summary.json`, which
//! is read like every file a job reads: a regular file, no link out of that job's folder,
//! size-capped), and `out` a `NAME.html` file of the tool job's own folder (never another
//! job's files or a folder for a job id not yet used). `pcap2scenario`'s `pcap` is read
//! under the job's file rule (`media/pcap/NAME.pcap` of the media library, `NAME` alone
//! meaning that file, or a file of the tool job's own folder) and checked to exist now;
//! its `out_dir` is a folder of the tool job's own (default `scenarios`).
//! `summary-to-pdf`, `rtp_send` and `infindex` are checked by `tool_runs`. A tool this
//! machine cannot run (`summary-to-pdf` without headless Chromium) is listed
//! `available: false` with its `reason`, and a run is refused (400) before a job exists.
//! Must not: read or write a job's files (beyond checking that an input is there), or
//! start processes.

use gossipper_engine::files::{Disk, FileAccess, JobRoots, MAX_DATA_FILE_BYTES, ReadFiles};
use serde::Serialize;

use crate::job::spec::ToolRun;
use crate::service::paths::{Layout, PathError, Place, check_name};

/// One catalogue entry.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Tool {
    pub(crate) id: &'static str,
    pub(crate) title: &'static str,
    pub(crate) summary: &'static str,
    /// `{arg: "type — meaning"}`.
    pub(crate) args_schema: serde_json::Value,
    pub(crate) example_args: serde_json::Value,
    /// Whether this machine can run it.
    pub(crate) available: bool,
    /// Why not, when it cannot (what is missing).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) reason: Option<String>,
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
            reason: None,
        },
        Tool {
            id: "pcap2scenario",
            title: "PCAP to scenario",
            summary: "Turns the first call of a SIP capture (pcap/pcapng; UDP or TCP; IPv4 or IPv6) into a UAC and a UAS scenario with SIPp keywords, plus the call's RTP per direction; import them with POST /scenarios/import-from-pcap-job.",
            args_schema: json!({"pcap": "string, required — media/pcap/NAME.pcap from the media library (NAME alone means the same), or a file of this job's own folder", "out_dir": "string — a folder in this job's own artifacts folder (default scenarios; artifacts/jobs/THIS_JOB_ID/NAME is accepted too)", "sip_port": "integer — only packets from or to this port are SIP (default 0: anything that parses as SIP)", "pcap_link": "string — auto (default), ethernet, linux_sll, linux_sll2, raw, null, loop, ipv4, ipv6 or a DLT number"}),
            example_args: json!({"pcap": "media/pcap/call.pcap"}),
            available: true,
            reason: None,
        },
        Tool {
            id: "summary-to-pdf",
            title: "PDF report",
            summary: "Prints a job's report (the report.html of its summary.json) to report.pdf with headless Chromium; the page is kept as report.html.",
            args_schema: json!({"in": "string, required — a job id, or that job's summary path relative to the data dir: artifacts/jobs/JOB_ID/summary.json", "out": "string — NAME.pdf in this job's own artifacts folder (default report.pdf)"}),
            example_args: json!({"in": "artifacts/jobs/JOB_ID/summary.json"}),
            available: true,
            reason: None,
        },
        Tool {
            id: "rtp_send",
            title: "RTP sender",
            summary: "Sends G.711 RTP (codec silence) to an address without SIP: one stream or many (rtp_streams, each its own socket and SSRC, local ports stepping by 2 from rtp_port); writes rtp_send.json with what it sent.",
            args_schema: json!({"rtp_addr": "string, required — host:port", "rtp_codec": "string — PCMU (default) or PCMA", "rtp_pt": "integer — payload type (default 0 for PCMU, 8 for PCMA)", "rtp_freq_ms": "integer — packet interval, 10-100 ms (default 20)", "duration_ms": "integer, required — 1 to 3600000", "rtp_streams": "integer — 1 to 10000 (default 1)", "rtp_port": "integer — first local port (default 0: any)"}),
            example_args: json!({"rtp_addr": "127.0.0.1:40000", "duration_ms": 5000}),
            available: true,
            reason: None,
        },
        Tool {
            id: "infindex",
            title: "Injection file index",
            summary: "Indexes an injection CSV on one field (as -infindex does for <lookup>) and writes NAME.gossipper.idx.FIELD.json: each key and the first line holding it.",
            args_schema: json!({"csv": "string, required — artifacts/jobs/JOB_ID/NAME: a file of a job's folder", "field": "integer — the field, from 0 (default 0)"}),
            example_args: json!({"csv": "artifacts/jobs/JOB_ID/users.csv", "field": 0}),
            available: true,
            reason: None,
        },
    ]
    .into_iter()
    .map(|mut t| {
        if let Some(why) = super::tool_runs::unavailable(t.id) {
            t.available = false;
            t.reason = Some(why);
        }
        t
    })
    .collect()
}

/// Why a tool job failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ToolError {
    #[error("unknown tool \"{0}\"")]
    Unknown(String),
    #[error("tool \"{id}\" cannot run on this machine: {reason}")]
    NotAvailable { id: String, reason: String },
    #[error("args.{arg}: {problem}")]
    BadArg { arg: &'static str, problem: String },
}

/// Checks a tool id and its arguments. `job_id` is the tool job's own id; `job_exists`
/// says whether an id names a job.
fn check(
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
        return Err(ToolError::NotAvailable {
            id: id.to_string(),
            reason: tool.reason.unwrap_or_default(),
        });
    }
    if id == "pcap2scenario" {
        return pcap_args(args, job_id).map(drop);
    }
    if id != "report-html" {
        // The others are checked whole by `tool_runs` in `resolve`.
        return Ok(());
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

/// `pcap2scenario`'s arguments, checked by name (the capture's presence is checked by
/// `resolve`, which knows the data dir).
struct PcapArgs {
    /// The capture's name under the job's file rule.
    pcap: String,
    out_dir: String,
    sip_port: u16,
    pcap_link: Option<String>,
}

fn pcap_args(
    args: &serde_json::Map<String, serde_json::Value>,
    job_id: &str,
) -> Result<PcapArgs, ToolError> {
    let allowed = ["pcap", "out_dir", "sip_port", "pcap_link"];
    if let Some(k) = args.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(ToolError::BadArg {
            arg: "?",
            problem: format!(
                "unknown argument \"{k}\" (pcap2scenario takes pcap, out_dir, sip_port, pcap_link)"
            ),
        });
    }
    let pcap = str_arg(args, "pcap")?.ok_or(ToolError::BadArg {
        arg: "pcap",
        problem: "is required: media/pcap/NAME.pcap (upload it with POST /media/pcap/NAME)".into(),
    })?;
    // A bare name is the media library's capture of that name.
    let pcap = if pcap.contains('/') {
        pcap.to_string()
    } else {
        let name = pcap.strip_suffix(".pcap").unwrap_or(pcap);
        format!("media/pcap/{name}.pcap")
    };
    let own = format!("artifacts/jobs/{job_id}/");
    let out_dir = str_arg(args, "out_dir")?.unwrap_or("scenarios");
    let out_name = out_dir.strip_prefix(own.as_str()).unwrap_or(out_dir);
    check_name(out_name).map_err(|e| ToolError::BadArg {
        arg: "out_dir",
        problem: format!(
            "\"{out_dir}\": {e}; a tool writes only into a folder of its own ({own}NAME)"
        ),
    })?;
    let sip_port = match args.get("sip_port") {
        None | Some(serde_json::Value::Null) => 0,
        Some(v) => v
            .as_u64()
            .and_then(|p| u16::try_from(p).ok())
            .ok_or(ToolError::BadArg {
                arg: "sip_port",
                problem: format!("{v} is not a port number (0-65535)"),
            })?,
    };
    let pcap_link = str_arg(args, "pcap_link")?.map(str::to_string);
    if let Some(l) = &pcap_link {
        crate::pcap2scenario::parse_link(l).map_err(|problem| ToolError::BadArg {
            arg: "pcap_link",
            problem,
        })?;
    }
    Ok(PcapArgs {
        pcap,
        out_dir: out_name.to_string(),
        sip_port,
        pcap_link,
    })
}

pub(super) fn str_arg<'a>(
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
pub(super) fn input_job(
    args: &serde_json::Map<String, serde_json::Value>,
) -> Result<&str, ToolError> {
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

/// Resolves a tool job: checks the tool and its arguments (the caller answers 400 for a
/// `BadArg`) and returns the report's title and what the worker runs. `job_id` is the
/// tool job's own id; `job_exists` says whether an id names a job.
pub(crate) fn resolve(
    id: &str,
    args: &serde_json::Map<String, serde_json::Value>,
    layout: &Layout,
    job_id: &str,
    job_exists: &dyn Fn(&str) -> bool,
) -> Result<(String, ToolRun), ToolError> {
    check(id, args, job_id, job_exists)?;
    match id {
        "pcap2scenario" => return pcap_run(args, layout, job_id),
        "summary-to-pdf" => {
            return super::tool_runs::summary_to_pdf(args, layout, job_id, job_exists);
        }
        "rtp_send" => return super::tool_runs::rtp_send(args),
        "infindex" => return super::tool_runs::infindex(args, layout, job_exists),
        _ => {}
    }
    let source = input_job(args)?;
    let bad_in = |e: PathError| ToolError::BadArg {
        arg: "in",
        problem: e.to_string(),
    };
    let run = ToolRun::ReportHtml {
        source: JobRoots {
            data_dir: layout.root().to_path_buf(),
            job_dir: layout.path(Place::JobArtifacts(source)).map_err(bad_in)?,
        },
        out: output_name(args, job_id)?.to_string(),
    };
    Ok((format!("gossipper report — job {source}"), run))
}

/// `pcap2scenario`: the capture must be readable under the job's rule now (400 naming
/// it otherwise, no job created).
fn pcap_run(
    args: &serde_json::Map<String, serde_json::Value>,
    layout: &Layout,
    job_id: &str,
) -> Result<(String, ToolRun), ToolError> {
    let a = pcap_args(args, job_id)?;
    let roots = JobRoots {
        data_dir: layout.root().to_path_buf(),
        job_dir: layout
            .path(Place::JobArtifacts(job_id))
            .map_err(|e| ToolError::BadArg {
                arg: "id",
                problem: e.to_string(),
            })?,
    };
    let rule = FileAccess::Confined(roots.clone());
    Disk(&rule)
        .check(std::path::Path::new(&a.pcap), MAX_DATA_FILE_BYTES)
        .map_err(|e| ToolError::BadArg {
            arg: "pcap",
            problem: format!("{}: {e}", a.pcap),
        })?;
    let title = format!("pcap2scenario — {}", a.pcap);
    Ok((
        title,
        ToolRun::Pcap2Scenario {
            files: roots,
            pcap: a.pcap,
            out_dir: a.out_dir,
            sip_port: a.sip_port,
            pcap_link: a.pcap_link,
        },
    ))
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
            check("nope", &args(json!({"in": "x"})), "t1", &known),
            Err(ToolError::Unknown(_))
        ));
        check("pcap2scenario", &args(json!({"pcap": "x"})), "t1", &known).unwrap();
        for bad in [
            json!({}),
            json!({"pcap": "x", "out_dir": "../t2"}),
            json!({"pcap": "x", "out_dir": "artifacts/jobs/t2/scenarios"}),
            json!({"pcap": "x", "sip_port": 70000}),
            json!({"pcap": "x", "sip_port": "5060"}),
            json!({"pcap": "x", "pcap_link": "token-ring"}),
            json!({"pcap": "x", "in": "j"}),
        ] {
            assert!(
                matches!(
                    check("pcap2scenario", &args(bad.clone()), "t1", &known),
                    Err(ToolError::BadArg { .. })
                ),
                "{bad}"
            );
        }
        let a = pcap_args(
            &args(json!({"pcap": "call", "out_dir": "artifacts/jobs/t1/mine", "sip_port": 5060})),
            "t1",
        )
        .unwrap();
        assert_eq!(
            (a.pcap.as_str(), a.out_dir.as_str(), a.sip_port),
            ("media/pcap/call.pcap", "mine", 5060)
        );
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
}
