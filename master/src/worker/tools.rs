//! Runs a tool job as its spec resolved it (`job::spec::ToolRun`).
//!
//! Owns: reading the tool's input and writing its output. `report-html` reads the
//! `summary.json` of the job folder the spec names, as a job reads its own files (a
//! regular file, no link out of that folder, size-capped), and writes report.html (or the
//! `NAME.html` the spec names) into this job's own folder without following a link
//! planted at that name. `pcap2scenario` reads its capture under the job's file rule
//! (the media library or this job's folder; regular file, no link out, 256 MiB) and
//! writes scenario_uac.xml, scenario_uas.xml (and the RTP captures) into its `out_dir`
//! inside this job's folder, never through a link. `summary-to-pdf` writes report.html as
//! `report-html` does, then has headless Chromium print it into `NAME.pdf` (a link at
//! that name is refused). `rtp_send` sends for its duration (or until `stop`) and writes
//! rtp_send.json; `infindex` reads its CSV under the job's file rule and writes
//! `NAME.gossipper.idx.FIELD.json`. Must not: resolve arguments (the master did) or
//! start processes other than the browser.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use gossipper_engine::files::{Disk, FileAccess, MAX_DATA_FILE_BYTES, MAX_FILE_BYTES, ReadFiles};

use crate::job::files;
use crate::job::spec::{RtpSendRun, ToolRun};
use crate::pcap2scenario;
use crate::report;
use crate::tools::{infindex, pdf, rtp_send};

/// A tool that could not do its work, naming the file.
#[derive(Debug, thiserror::Error)]
#[error("{}: {problem}", .path.display())]
pub(crate) struct ToolFailed {
    path: PathBuf,
    problem: String,
}

/// Runs `tool`, titled `title`, writing into `artifacts_dir`; returns the files it wrote.
/// `stop` says when a stop was asked (read by the tools that last).
pub(crate) fn run(
    tool: &ToolRun,
    title: &str,
    artifacts_dir: &Path,
    stop: &dyn Fn() -> bool,
) -> Result<Vec<PathBuf>, ToolFailed> {
    let failed = |path: &Path, problem: String| ToolFailed {
        path: path.to_path_buf(),
        problem,
    };
    let (source, out) = match tool {
        ToolRun::ReportHtml { source, out } => (source, out),
        ToolRun::SummaryToPdf { source, out } => {
            let html = run(
                &ToolRun::ReportHtml {
                    source: source.clone(),
                    out: files::REPORT_HTML.to_string(),
                },
                title,
                artifacts_dir,
                stop,
            )?;
            let pdf_path = artifacts_dir.join(out);
            if std::fs::symlink_metadata(&pdf_path).is_ok_and(|m| !m.is_file()) {
                return Err(failed(&pdf_path, "exists and is not a regular file".into()));
            }
            let chromium = pdf::find_chromium().map_err(|e| failed(&pdf_path, e))?;
            let html_path = html.first().cloned().unwrap_or_default();
            pdf::print_to_pdf(&chromium, &html_path, &pdf_path)
                .map_err(|e| failed(&pdf_path, e))?;
            return Ok(vec![html_path, pdf_path]);
        }
        ToolRun::RtpSend(r) => return send_rtp(r, artifacts_dir, stop),
        ToolRun::Infindex {
            files: roots,
            csv,
            field,
        } => {
            let rule = FileAccess::Confined(roots.clone());
            let name = Path::new(csv.as_str());
            let bytes = Disk(&rule)
                .read(name, MAX_DATA_FILE_BYTES)
                .map_err(|e| failed(name, e.to_string()))?;
            let (json, n) =
                infindex::index_json(csv, &bytes, *field).map_err(|e| failed(name, e))?;
            let out = artifacts_dir.join(infindex::index_file_name(csv, *field));
            write_own(&out, json.as_bytes()).map_err(|e| failed(&out, e))?;
            eprintln!(
                "worker: {csv}: {} lines, {} keys on field {field}",
                n.lines, n.keys
            );
            return Ok(vec![out]);
        }
        ToolRun::Pcap2Scenario {
            files,
            pcap,
            out_dir,
            sip_port,
            pcap_link,
        } => {
            let rule = FileAccess::Confined(files.clone());
            let name = Path::new(pcap.as_str());
            let bytes = Disk(&rule)
                .read(name, MAX_DATA_FILE_BYTES)
                .map_err(|e| failed(name, e.to_string()))?;
            let link = match pcap_link {
                Some(l) => pcap2scenario::parse_link(l).map_err(|e| failed(name, e))?,
                None => None,
            };
            let opts = pcap2scenario::Options {
                sip_port: *sip_port,
                link,
            };
            let out = pcap2scenario::convert(pcap, &bytes, &opts)
                .map_err(|e| failed(name, e.to_string()))?;
            for n in &out.notes {
                eprintln!("worker: note: {n}");
            }
            return write_scenarios(&artifacts_dir.join(out_dir), &out)
                .map_err(|(p, e)| failed(&p, e));
        }
    };
    let input = source.job_dir.join(files::SUMMARY);
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

/// Writes `bytes` as a new file of this job's own folder, not through a link.
fn write_own(path: &Path, bytes: &[u8]) -> Result<(), String> {
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .and_then(|mut f| f.write_all(bytes))
        .map_err(|e| e.to_string())
}

/// `rtp_send`: sends, then writes what it sent into rtp_send.json.
fn send_rtp(
    r: &RtpSendRun,
    artifacts_dir: &Path,
    stop: &dyn Fn() -> bool,
) -> Result<Vec<PathBuf>, ToolFailed> {
    let out = artifacts_dir.join(files::RTP_SEND);
    let failed = |problem: String| ToolFailed {
        path: out.clone(),
        problem,
    };
    let (pt, freq, dur, streams, port) = (
        r.rtp_pt.to_string(),
        r.rtp_freq_ms.to_string(),
        r.duration_ms.to_string(),
        r.rtp_streams.to_string(),
        r.rtp_port.to_string(),
    );
    let plan = rtp_send::plan(&rtp_send::PlanText {
        addr: Some(&r.rtp_addr),
        codec: Some(&r.rtp_codec),
        pt: Some(&pt),
        freq_ms: Some(&freq),
        dur_ms: Some(&dur),
        streams: Some(&streams),
        port: Some(&port),
    })
    .map_err(|(f, e)| failed(format!("{f}: {e}")))?;
    let sent = rtp_send::send(&plan, stop).map_err(failed)?;
    eprintln!(
        "worker: rtp_send: {} stream(s) to {}: {} packets, {} bytes, {} send errors",
        sent.streams, plan.dest, sent.packets, sent.bytes, sent.send_errors
    );
    let json = serde_json::to_vec_pretty(&sent).map_err(|e| failed(e.to_string()))?;
    write_own(&out, &json).map_err(failed)?;
    Ok(vec![out])
}

/// Writes the converter's files into `dir` (made here, inside the job's own folder; a
/// link planted at the folder or at a file name is not followed).
fn write_scenarios(
    dir: &Path,
    out: &pcap2scenario::Output,
) -> Result<Vec<PathBuf>, (PathBuf, String)> {
    match std::fs::symlink_metadata(dir) {
        Ok(m) if !m.is_dir() => return Err((dir.to_path_buf(), "is not a folder".into())),
        Ok(_) => {}
        Err(_) => std::fs::create_dir(dir).map_err(|e| (dir.to_path_buf(), e.to_string()))?,
    }
    let mut files: Vec<(&str, &[u8])> = vec![
        (pcap2scenario::UAC_FILE, out.uac_xml.as_bytes()),
        (pcap2scenario::UAS_FILE, out.uas_xml.as_bytes()),
    ];
    if let Some(r) = &out.rtp_uac {
        files.push((pcap2scenario::RTP_UAC_FILE, r));
    }
    if let Some(r) = &out.rtp_uas {
        files.push((pcap2scenario::RTP_UAS_FILE, r));
    }
    let mut written = Vec::new();
    for (name, bytes) in files {
        let path = dir.join(name);
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&path)
            .and_then(|mut f| f.write_all(bytes))
            .map_err(|e| (path.clone(), e.to_string()))?;
        written.push(path);
    }
    Ok(written)
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
        let out = run(&report_of(&dir, "j", "report.html"), "job j", &art, &|| {
            false
        })
        .unwrap();
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
        let e = run(&report_of(&dir, "j", "linked.html"), "job j", &art, &|| {
            false
        });
        assert!(e.is_err(), "{e:?}");
        assert_eq!(std::fs::read(&target).unwrap(), b"keep");
        // A summary that is a link out of its job's folder is not read.
        std::fs::create_dir_all(dir.join("artifacts/jobs/k")).unwrap();
        std::os::unix::fs::symlink(&target, dir.join("artifacts/jobs/k/summary.json")).unwrap();
        let e = run(&report_of(&dir, "k", "report.html"), "job k", &art, &|| {
            false
        });
        assert!(
            e.as_ref()
                .is_err_and(|e| e.path.ends_with("artifacts/jobs/k/summary.json")),
            "{e:?}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn pcap2scenario_tool_reads_the_media_library_and_writes_only_its_own_folder() {
        let dir = std::env::temp_dir().join(format!("gossipper-p2s-tool-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let art = dir.join("artifacts/jobs/t1");
        std::fs::create_dir_all(&art).unwrap();
        std::fs::create_dir_all(dir.join("media/pcap")).unwrap();
        std::fs::write(
            dir.join("media/pcap/call.pcap"),
            crate::pcap2scenario::tests::sample_capture(),
        )
        .unwrap();
        let tool = |pcap: &str| ToolRun::Pcap2Scenario {
            files: JobRoots {
                data_dir: dir.clone(),
                job_dir: art.clone(),
            },
            pcap: pcap.into(),
            out_dir: "scenarios".into(),
            sip_port: 0,
            pcap_link: None,
        };
        let out = run(&tool("media/pcap/call.pcap"), "t", &art, &|| false).unwrap();
        assert_eq!(
            out,
            vec![
                art.join("scenarios/scenario_uac.xml"),
                art.join("scenarios/scenario_uas.xml")
            ]
        );
        let uac = std::fs::read_to_string(&out[0]).unwrap();
        assert!(uac.contains("Call-ID: [call_id]"), "{uac}");
        // A capture that is a link out of the media library is not read.
        let secret = dir.join("secret.pcap");
        std::fs::write(&secret, crate::pcap2scenario::tests::sample_capture()).unwrap();
        std::os::unix::fs::symlink(&secret, dir.join("media/pcap/link.pcap")).unwrap();
        let e = run(&tool("media/pcap/link.pcap"), "t", &art, &|| false).unwrap_err();
        assert!(e.path.ends_with("media/pcap/link.pcap"), "{e}");
        // A link planted at an output name is not followed.
        let target = dir.join("target");
        std::fs::write(&target, b"keep").unwrap();
        std::fs::remove_file(art.join("scenarios/scenario_uas.xml")).unwrap();
        std::os::unix::fs::symlink(&target, art.join("scenarios/scenario_uas.xml")).unwrap();
        assert!(run(&tool("media/pcap/call.pcap"), "t", &art, &|| false).is_err());
        assert_eq!(std::fs::read(&target).unwrap(), b"keep");
        // Not a capture: the error names the file.
        std::fs::write(dir.join("media/pcap/junk.pcap"), b"junk").unwrap();
        let e = run(&tool("media/pcap/junk.pcap"), "t", &art, &|| false).unwrap_err();
        assert!(e.to_string().contains("not a pcap"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
