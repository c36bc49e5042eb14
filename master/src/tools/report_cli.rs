//! `gossipper report-html -in summary.json -out report.html` and
//! `gossipper summary-to-pdf -in summary.json|report.html -out report.pdf`: a run's page
//! (the one every job writes, `report`) from its summary.json, as HTML or printed to PDF
//! by headless Chromium (`pdf`).
//!
//! Owns: the two subcommands' flags and files. Must not: render (`report` does) or find
//! the browser (`pdf` does).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use super::{Failure, Parsed, pdf, run_cli};
use crate::report;

/// Largest summary.json or report.html read.
const MAX_INPUT_BYTES: u64 = 64 << 20;

const HTML_USAGE: &str = "\
Usage: gossipper report-html -in summary.json [-out report.html]

Writes one self-contained HTML page (inline style and SVG charts, no script, no
CDN) from a run's summary.json (-summary_json, or a job's artifact): totals, rates,
the verdict, SIPp's per-message table and the response-time tables.

Flags:
  -in FILE      the summary.json to read (required)
  -out FILE     the page to write (default report.html)
  -h, --help    this help
";

const PDF_USAGE: &str = "\
Usage: gossipper summary-to-pdf -in summary.json|report.html [-out report.pdf]

Prints a run's report to PDF with headless Chromium (--print-to-pdf). -in is a
summary.json (the page is rendered first, as report-html does) or an HTML page (the Go
tool's input, printed as it is). The browser is CHROMIUM when set, else the first of
chromium, chromium-browser, google-chrome, google-chrome-stable on PATH.

Flags:
  -in FILE      the summary.json or report.html to read (required)
  -out FILE     the PDF to write (default report.pdf)
  -h, --help    this help
";

/// `report-html`; `args` follow the subcommand.
pub(crate) fn html_main(args: &[String]) -> ExitCode {
    run_cli("report-html", HTML_USAGE, args, &["in", "out"], |p| {
        let (input, out) = in_out(&p, "report.html")?;
        let html = page_of(&input)?;
        std::fs::write(&out, html)
            .map_err(|e| Failure::Failed(format!("{}: {e}", out.display())))?;
        println!("wrote {}", out.display());
        Ok(())
    })
}

/// `summary-to-pdf`; `args` follow the subcommand.
pub(crate) fn pdf_main(args: &[String]) -> ExitCode {
    run_cli("summary-to-pdf", PDF_USAGE, args, &["in", "out"], |p| {
        let (input, out) = in_out(&p, "report.pdf")?;
        let chromium = pdf::find_chromium().map_err(Failure::Failed)?;
        let bytes = read_capped(&input)?;
        if looks_like_json(&bytes) {
            let html = page_of(&input)?;
            let tmp =
                std::env::temp_dir().join(format!("gossipper-report-{}.html", std::process::id()));
            std::fs::write(&tmp, html)
                .map_err(|e| Failure::Failed(format!("{}: {e}", tmp.display())))?;
            let r = pdf::print_to_pdf(&chromium, &tmp, &out);
            let _ = std::fs::remove_file(&tmp);
            r.map_err(Failure::Failed)?;
        } else {
            pdf::print_to_pdf(&chromium, &input, &out).map_err(Failure::Failed)?;
        }
        println!("wrote {}", out.display());
        Ok(())
    })
}

fn in_out(p: &Parsed, default_out: &str) -> Result<(PathBuf, PathBuf), Failure> {
    if let Some(extra) = p.bare.first() {
        return Err(Failure::Usage(format!(
            "unexpected argument \"{extra}\" (the input is -in FILE)"
        )));
    }
    let input = p
        .get("in")
        .ok_or_else(|| Failure::Usage("-in FILE is required (see -h)".into()))?;
    Ok((
        PathBuf::from(input),
        PathBuf::from(p.get("out").unwrap_or(default_out)),
    ))
}

fn looks_like_json(bytes: &[u8]) -> bool {
    bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{')
}

/// The page of the summary.json at `input`.
fn page_of(input: &Path) -> Result<String, Failure> {
    let bytes = read_capped(input)?;
    let data = report::read_summary(&bytes)
        .map_err(|e| Failure::Failed(format!("{}: not a summary.json: {e}", input.display())))?;
    let title = format!("gossipper report — {}", input.display());
    Ok(report::render(&title, &data, &[]))
}

fn read_capped(path: &Path) -> Result<Vec<u8>, Failure> {
    let fail = |e: String| Failure::Failed(format!("{}: {e}", path.display()));
    let meta = std::fs::metadata(path).map_err(|e| fail(e.to_string()))?;
    if !meta.is_file() {
        return Err(fail("not a regular file".into()));
    }
    if meta.len() > MAX_INPUT_BYTES {
        return Err(fail(format!("larger than {MAX_INPUT_BYTES} bytes")));
    }
    std::fs::read(path).map_err(|e| fail(e.to_string()))
}
