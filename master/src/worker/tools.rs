//! Runs a tool job as its spec resolved it (`job::spec::ToolRun`).
//!
//! Owns: reading the tool's input and writing its output. `report-html` reads the
//! `summary.json` of the job folder the spec names, as a job reads its own files (a
//! regular file, no link out of that folder, size-capped), and writes report.html (or the
//! `NAME.html` the spec names) into this job's own folder without following a link
//! planted at that name. Must not: resolve arguments (the master did) or start processes.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use gossipper_engine::files::{Disk, FileAccess, MAX_FILE_BYTES, ReadFiles};

use crate::job::files;
use crate::job::spec::ToolRun;
use crate::report;

/// A tool that could not do its work, naming the file.
#[derive(Debug, thiserror::Error)]
#[error("{}: {problem}", .path.display())]
pub(crate) struct ToolFailed {
    path: PathBuf,
    problem: String,
}

/// Runs `tool`, titled `title`, writing into `artifacts_dir`; returns the files it wrote.
pub(crate) fn run(
    tool: &ToolRun,
    title: &str,
    artifacts_dir: &Path,
) -> Result<Vec<PathBuf>, ToolFailed> {
    let ToolRun::ReportHtml { source, out } = tool;
    let input = source.job_dir.join(files::SUMMARY);
    let failed = |path: &Path, problem: String| ToolFailed {
        path: path.to_path_buf(),
        problem,
    };
    // Read as a job reads its own files: that job's folder is the only root.
    let rule = FileAccess::Confined(source.clone());
    let bytes = Disk(&rule)
        .read(Path::new(files::SUMMARY), MAX_FILE_BYTES)
        .map_err(|e| failed(&input, e.to_string()))?;
    let data = report::read_summary(&bytes)
        .map_err(|e| failed(&input, format!("not a summary.json: {e}")))?;
    let html = report::render(title, &data, &[]);
    let out = artifacts_dir.join(out);
    // The worker made its own folder; a link planted at the name is not followed.
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&out)
        .and_then(|mut f| f.write_all(html.as_bytes()))
        .map_err(|e| failed(&out, e.to_string()))?;
    Ok(vec![out])
}

#[cfg(test)]
mod tests {
    use super::*;
    use gossipper_engine::files::JobRoots;

    fn report_of(dir: &Path, job: &str, out: &str) -> ToolRun {
        ToolRun::ReportHtml {
            source: JobRoots {
                data_dir: dir.to_path_buf(),
                job_dir: dir.join("artifacts/jobs").join(job),
            },
            out: out.into(),
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
        let out = run(&report_of(&dir, "j", "report.html"), "job j", &art).unwrap();
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
        let e = run(&report_of(&dir, "j", "linked.html"), "job j", &art);
        assert!(e.is_err(), "{e:?}");
        assert_eq!(std::fs::read(&target).unwrap(), b"keep");
        // A summary that is a link out of its job's folder is not read.
        std::fs::create_dir_all(dir.join("artifacts/jobs/k")).unwrap();
        std::os::unix::fs::symlink(&target, dir.join("artifacts/jobs/k/summary.json")).unwrap();
        let e = run(&report_of(&dir, "k", "report.html"), "job k", &art);
        assert!(
            e.as_ref()
                .is_err_and(|e| e.path.ends_with("artifacts/jobs/k/summary.json")),
            "{e:?}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
