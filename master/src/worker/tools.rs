//! Tool jobs (`profile_kind: tool`, the tool id in `profile_id`): the catalogue that
//! `GET /tools` shows and the tools a worker can run.
//!
//! Owns: the tool table and each tool's arguments. Paths in arguments are relative to
//! the data dir, each component checked like every other name (`[A-Za-z0-9._-]+`), so a
//! tool never reads or writes outside it. In this build `report-html` runs; the others
//! are listed as not available and their jobs fail at once saying so. Must not: start
//! processes.

use std::path::{Path, PathBuf};

use gossipper_engine::stats::report_html::{self, ReportData};
use serde::Serialize;

use crate::ui::paths::check_name;

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
            args_schema: json!({"in": "string, required — summary.json path relative to the data dir", "out": "string — output path relative to the data dir, under artifacts/ (default: this job's artifacts folder)"}),
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

/// Checks a tool id and its arguments (the master calls this before it forks).
pub(crate) fn check(
    id: &str,
    args: &serde_json::Map<String, serde_json::Value>,
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
    let input = str_arg(args, "in")?.ok_or(ToolError::BadArg {
        arg: "in",
        problem: "is required".into(),
    })?;
    let root = Path::new("/");
    safe_join(root, input, "in")?;
    if let Some(out) = str_arg(args, "out")? {
        if !out.starts_with("artifacts/") {
            return Err(ToolError::BadArg {
                arg: "out",
                problem: "must be under artifacts/".into(),
            });
        }
        safe_join(root, out, "out")?;
    }
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

/// Joins a `/`-separated relative path under `root`, every component checked.
pub(crate) fn safe_join(root: &Path, rel: &str, arg: &'static str) -> Result<PathBuf, ToolError> {
    let mut p = root.to_path_buf();
    for part in rel.split('/').filter(|s| !s.is_empty()) {
        check_name(part).map_err(|e| ToolError::BadArg {
            arg,
            problem: format!("\"{rel}\": {e}"),
        })?;
        p.push(part);
    }
    if p == root {
        return Err(ToolError::BadArg {
            arg,
            problem: "is empty".into(),
        });
    }
    Ok(p)
}

/// Runs a tool; returns the files it wrote.
pub(crate) fn run(
    id: &str,
    args: &serde_json::Map<String, serde_json::Value>,
    data_dir: &Path,
    artifacts_dir: &Path,
) -> Result<Vec<PathBuf>, ToolError> {
    check(id, args)?;
    let input = safe_join(data_dir, str_arg(args, "in")?.unwrap_or_default(), "in")?;
    let out = match str_arg(args, "out")? {
        Some(rel) => safe_join(data_dir, rel, "out")?,
        None => artifacts_dir.join("report.html"),
    };
    let bytes = std::fs::read(&input).map_err(|e| ToolError::Io {
        path: input.clone(),
        problem: e.to_string(),
    })?;
    let data = ReportData::from_json(&bytes).map_err(|e| ToolError::Io {
        path: input.clone(),
        problem: format!("not a summary.json: {e}"),
    })?;
    let title = format!("gossipper report — {}", input.display());
    let html = report_html::render(&title, &data, &[]);
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir).map_err(|e| ToolError::Io {
            path: dir.to_path_buf(),
            problem: e.to_string(),
        })?;
    }
    std::fs::write(&out, html).map_err(|e| ToolError::Io {
        path: out.clone(),
        problem: e.to_string(),
    })?;
    Ok(vec![out])
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn args(v: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn only_available_tools_with_valid_args_pass_the_check() {
        check(
            "report-html",
            &args(json!({"in": "artifacts/jobs/j/summary.json"})),
        )
        .unwrap();
        assert!(matches!(
            check("nope", &args(json!({}))),
            Err(ToolError::Unknown(_))
        ));
        assert!(matches!(
            check("pcap2scenario", &args(json!({"pcap": "x"}))),
            Err(ToolError::NotAvailable(_))
        ));
        assert!(matches!(
            check("report-html", &args(json!({}))),
            Err(ToolError::BadArg { .. })
        ));
        assert!(matches!(
            check("report-html", &args(json!({"in": 3}))),
            Err(ToolError::BadArg { .. })
        ));
        for bad in [
            json!({"in": "../x"}),
            json!({"in": "a", "out": "scenarios/x.xml"}),
            json!({"in": "a", "x": 1}),
        ] {
            assert!(check("report-html", &args(bad.clone())).is_err(), "{bad}");
        }
    }

    #[test]
    fn tool_paths_cannot_leave_the_data_dir() {
        let root = Path::new("/data");
        assert_eq!(
            safe_join(root, "a/b.json", "in").unwrap(),
            PathBuf::from("/data/a/b.json")
        );
        for bad in ["../etc/passwd", "a/../../x", "/", "a/./b"] {
            assert!(safe_join(root, bad, "in").is_err(), "{bad}");
        }
    }

    #[test]
    fn report_html_tool_writes_a_page_from_a_summary() {
        let dir = std::env::temp_dir().join(format!("gossipper-tool-{}", std::process::id()));
        let art = dir.join("artifacts/jobs/t1");
        std::fs::create_dir_all(&art).unwrap();
        std::fs::write(
            dir.join("artifacts/summary.json"),
            br#"{"total_calls":3,"success_calls":3}"#,
        )
        .unwrap();
        let out = run(
            "report-html",
            &args(json!({"in": "artifacts/summary.json"})),
            &dir,
            &art,
        )
        .unwrap();
        let html = std::fs::read_to_string(&out[0]).unwrap();
        assert!(html.contains("<svg") || html.contains("Not enough samples"));
        assert!(html.contains(">3<"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
