//! Headless Chromium's print-to-PDF: finding the browser and printing one HTML file.
//!
//! Owns: the browser's lookup (`CHROMIUM`, when set, is the only candidate; otherwise the
//! first of `chromium`, `chromium-browser`, `google-chrome`, `google-chrome-stable` on
//! `PATH`, the Go tool's list), one bounded run of it with a throw-away profile folder,
//! and the check that a PDF came out. Must not: render the report (`report`) or decide
//! where files may be written (the callers do).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The browsers tried on `PATH`, in order.
const CANDIDATES: &[&str] = &[
    "chromium",
    "chromium-browser",
    "google-chrome",
    "google-chrome-stable",
];

/// Longest a print may take.
const PRINT_TIMEOUT: Duration = Duration::from_secs(90);

/// The headless browser to print with, or why there is none (the text names what is
/// missing and how to provide it).
pub(crate) fn find_chromium() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("CHROMIUM").filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        return if is_executable(&p) {
            Ok(p)
        } else {
            Err(format!(
                "headless Chromium is missing: CHROMIUM={} is not an executable file",
                p.display()
            ))
        };
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for name in CANDIDATES {
        for dir in std::env::split_paths(&path) {
            let p = dir.join(name);
            if is_executable(&p) {
                return Ok(p);
            }
        }
    }
    Err(format!(
        "headless Chromium is missing: none of {} is on PATH (install Debian's chromium, or set CHROMIUM to the browser's path)",
        CANDIDATES.join(", ")
    ))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Prints `html` (a file) into `pdf` with `chromium`; the error carries the browser's
/// last words.
pub(crate) fn print_to_pdf(chromium: &Path, html: &Path, pdf: &Path) -> Result<(), String> {
    let html = std::path::absolute(html).map_err(|e| format!("{}: {e}", html.display()))?;
    let pdf = std::path::absolute(pdf).map_err(|e| format!("{}: {e}", pdf.display()))?;
    let nonce = std::time::SystemTime::UNIX_EPOCH
        .elapsed()
        .map_or(0, |d| d.subsec_nanos());
    let profile =
        std::env::temp_dir().join(format!("gossipper-chromium-{}-{nonce}", std::process::id()));
    std::fs::create_dir_all(&profile).map_err(|e| format!("{}: {e}", profile.display()))?;
    let log_path = profile.join("chromium.log");
    let result = run_browser(chromium, &html, &pdf, &profile, &log_path);
    let log = std::fs::read_to_string(&log_path).unwrap_or_default();
    let _ = std::fs::remove_dir_all(&profile);
    result.map_err(|e| {
        let last = log
            .lines()
            .rev()
            .find(|l| !l.contains("dbus") && !l.trim().is_empty())
            .unwrap_or("");
        format!(
            "{e} ({}{}{last})",
            chromium.display(),
            if last.is_empty() { "" } else { ": " }
        )
    })?;
    let head = std::fs::read(&pdf)
        .map(|b| b.get(..5).map(<[u8]>::to_vec).unwrap_or_default())
        .map_err(|e| format!("{}: {e}", pdf.display()))?;
    if head != b"%PDF-" {
        return Err(format!("{}: the browser wrote no PDF", pdf.display()));
    }
    Ok(())
}

fn run_browser(
    chromium: &Path,
    html: &Path,
    pdf: &Path,
    profile: &Path,
    log_path: &Path,
) -> Result<(), String> {
    let log =
        std::fs::File::create(log_path).map_err(|e| format!("{}: {e}", log_path.display()))?;
    let log2 = log.try_clone().map_err(|e| e.to_string())?;
    let mut cmd = Command::new(chromium);
    cmd.arg("--headless");
    // Chromium's sandbox cannot run as root; anyone else keeps it (/proc/self belongs to
    // the process's effective user).
    if std::fs::metadata("/proc/self").is_ok_and(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0) {
        cmd.arg("--no-sandbox");
    }
    let mut child = cmd
        .arg("--disable-gpu")
        .arg("--no-pdf-header-footer")
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--print-to-pdf={}", pdf.display()))
        .arg(format!("file://{}", html.display()))
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log2)
        .spawn()
        .map_err(|e| format!("cannot start the browser: {e}"))?;
    let deadline = Instant::now() + PRINT_TIMEOUT;
    loop {
        match child.try_wait() {
            Ok(Some(s)) if s.success() => return Ok(()),
            Ok(Some(s)) => return Err(format!("the browser failed ({s})")),
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "the browser did not finish within {} s",
                    PRINT_TIMEOUT.as_secs()
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(50)),
            Err(e) => return Err(format!("cannot wait for the browser: {e}")),
        }
    }
}
