//! `report.html`: one self-contained page per run, written next to `summary.json` for
//! every job: the run's name and notes, its verdict, what was asked against what was
//! done, the thresholds, SIPp's per-message table, charts over time, latency tables and
//! distributions.
//!
//! Owns: the page's markup. Charts are inline SVG and the style is one inline `<style>`:
//! no script, no CDN, no external fetch, so the file opens offline and can be served
//! with `Content-Security-Policy: default-src 'none'`. Every text from the run is
//! HTML-escaped. Must not: read files or clocks; the caller passes the summary (the one
//! `summary::Summary` type: built in the worker, or read back from summary.json by the
//! `report-html` tool) and the per-interval points it saw.
//! Drawn by the worker at the end of a job and by its `report-html` tool; the engine
//! writes no HTML (it ends at `summary.json`).
//!
//! Submodules: `charts` (SVG line and bar charts with their axes), `sections` (the
//! verdict, target-against-actual, thresholds and per-message tables).

mod charts;
mod sections;

use std::fmt::Write as _;

use gossipper_engine::output::summary::{Latency, Summary};
use gossipper_engine::scenario::Role;

/// Whether `d` holds the revision-2 fields (verdict, target against actual); an older
/// summary.json read back has them at their defaults, which the page must not show as
/// facts.
fn revision_2(d: &Summary) -> bool {
    d.schema_revision >= 2
}

/// `client` or `server`, as summary.json writes it.
fn role_name(r: Role) -> &'static str {
    match r {
        Role::Client => "client",
        Role::Server => "server",
    }
}

/// A summary.json file, read back for a page (missing fields are zero, so a page can be
/// rebuilt from an old file; unknown ones are ignored).
pub(crate) fn read_summary(bytes: &[u8]) -> Result<Summary, serde_json::Error> {
    serde_json::from_slice(bytes)
}

/// One point of the charts over time (one worker stats line).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct SeriesPoint {
    /// Seconds since the run started.
    pub(crate) t_s: f64,
    /// Calls created per second over the interval.
    pub(crate) cps: f64,
    /// Calls alive.
    pub(crate) active: u64,
    /// Successful calls so far.
    pub(crate) succeeded: u64,
    /// Failed calls so far.
    pub(crate) failed: u64,
    /// Response time p50, ms (NaN before the first response: not drawn).
    pub(crate) p50_ms: f64,
    /// Response time p99, ms (NaN before the first response).
    pub(crate) p99_ms: f64,
    /// Retransmissions sent per second over the interval.
    pub(crate) retrans_per_s: f64,
    /// SIP timeouts per second over the interval.
    pub(crate) timeouts_per_s: f64,
}

/// What the page says about the job around the numbers: its title, the name and notes
/// the tester gave it, and request facts the summary does not hold (scenario id, …).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct ReportHead<'a> {
    /// The page title.
    pub(crate) title: &'a str,
    /// The job's name (empty: none).
    pub(crate) name: &'a str,
    /// The job's notes (empty: none).
    pub(crate) notes: &'a str,
    /// More request facts, shown with the target (label, value).
    pub(crate) request: &'a [(&'a str, String)],
}

/// Escapes text for HTML content and attribute values.
pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// A finite number with at most `d` decimals (non-finite values print as 0).
fn num(v: f64, d: usize) -> String {
    if v.is_finite() {
        format!("{v:.d$}")
    } else {
        "0".into()
    }
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:24px;color:#1d2330;background:#fff}\
h1{font-size:22px;margin:0 0 4px}h2{font-size:16px;margin:28px 0 8px}\
.meta{color:#5b6475;font-size:13px}.kpis{display:flex;flex-wrap:wrap;gap:12px;margin-top:16px}\
.kpi{border:1px solid #d9dde5;border-radius:6px;padding:10px 14px;min-width:120px}\
.kpi b{display:block;font-size:20px}.kpi span{font-size:12px;color:#5b6475}\
.pass{color:#1a7f37}.fail{color:#c62828}.none{color:#5b6475}table{border-collapse:collapse;font-size:13px}\
td,th{border:1px solid #d9dde5;padding:4px 8px;text-align:right}th{background:#f3f5f8}\
td:first-child,th:first-child{text-align:left}td.l,th.l{text-align:left}svg{background:#fafbfc;border:1px solid #d9dde5}\
.legend{font-size:12px;color:#5b6475}.verdict{border:1px solid #d9dde5;border-radius:6px;padding:12px 16px;margin-top:16px}\
.verdict b{font-size:20px;margin-right:10px}.verdict.pass{border-color:#1a7f37;background:#f1faf3}\
.verdict.fail{border-color:#c62828;background:#fdf2f2}.notes{white-space:pre-wrap;margin-top:8px}\
.mono{font-family:ui-monospace,monospace}.arrow{color:#5b6475}";

/// The whole page for a job, titled `title`.
pub(crate) fn render(title: &str, d: &Summary, series: &[SeriesPoint]) -> String {
    render_with(
        &ReportHead {
            title,
            ..Default::default()
        },
        d,
        series,
    )
}

/// The whole page, with the job's name, notes and request facts.
pub(crate) fn render_with(head: &ReportHead<'_>, d: &Summary, series: &[SeriesPoint]) -> String {
    let mut out = String::with_capacity(32 << 10);
    let _ = write!(
        out,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\"><title>{}</title><style>{STYLE}</style></head><body>",
        escape(head.title)
    );
    let _ = write!(out, "<h1>{}</h1>", escape(head.title));
    if !head.name.is_empty() {
        let _ = write!(out, "<div><b>{}</b></div>", escape(head.name));
    }
    let _ = write!(
        out,
        "<div class=\"meta\">{} · started {} · finished {} · {} s · seed {}</div>",
        escape(&d.tool_version),
        escape(&d.started_at),
        escape(&d.finished_at),
        num(d.duration_ms / 1000.0, 1),
        d.seed
    );
    if !head.notes.is_empty() {
        let _ = write!(out, "<div class=\"notes\">{}</div>", escape(head.notes));
    }
    sections::verdict(&mut out, d);
    sections::target(&mut out, d, head.request);
    kpis(&mut out, d);
    sections::thresholds(&mut out, d);
    if !d.health.reasons.is_empty() || !d.findings.is_empty() {
        out.push_str("<h2>Findings</h2><ul>");
        for line in d.health.reasons.iter().chain(&d.findings) {
            let _ = write!(out, "<li>{}</li>", escape(line));
        }
        out.push_str("</ul>");
    }
    sections::messages(&mut out, d);
    charts::over_time(&mut out, series);
    out.push_str("<h2>Latency (ms)</h2><table><tr><th></th><th>count</th><th>avg</th><th>min</th><th>p50</th><th>p90</th><th>p99</th><th>max</th></tr>");
    if d.rtd.len() > 1 {
        // Each timer of the scenario, as SIPp's rtd names them.
        for (name, l) in &d.rtd {
            latency_row(&mut out, &format!("response time {name}"), Some(l));
        }
    } else {
        latency_row(&mut out, "response time (first RTD)", d.invite_rtt.as_ref());
    }
    latency_row(&mut out, "call length", d.call_length.as_ref());
    out.push_str("</table>");
    if let Some(l) = &d.invite_rtt {
        out.push_str(&charts::latency_distribution(
            "Response time distribution",
            l,
        ));
    }
    if let Some(l) = &d.call_length {
        out.push_str(&charts::latency_distribution("Call length distribution", l));
    }
    if !d.failure_classes.is_empty() {
        out.push_str("<h2>Failures by class</h2><table><tr><th>class</th><th>calls</th></tr>");
        for (k, v) in &d.failure_classes {
            let _ = write!(out, "<tr><td>{}</td><td>{v}</td></tr>", escape(k));
        }
        out.push_str("</table>");
    }
    out.push_str("</body></html>\n");
    out
}

fn kpis(out: &mut String, d: &Summary) {
    let window_rate = d
        .achieved
        .rate_cps
        .filter(|_| revision_2(d))
        .map_or_else(|| "–".to_string(), |r| num(r, 1));
    out.push_str("<div class=\"kpis\">");
    for (v, label) in [
        (d.total_calls.to_string(), "calls created"),
        (d.success_calls.to_string(), "succeeded"),
        (d.failed_calls.to_string(), "failed"),
        (
            format!("{}%", num(d.success_ratio * 100.0, 1)),
            "success ratio",
        ),
        (window_rate, "calls/s (creation window)"),
        (num(d.calls_per_second, 1), "calls/s (whole run)"),
        (d.retransmits.to_string(), "retransmissions"),
        (d.timeouts.to_string(), "timeouts"),
        (d.active_calls.to_string(), "active at end"),
    ] {
        let _ = write!(
            out,
            "<div class=\"kpi\"><b>{}</b><span>{label}</span></div>",
            escape(&v)
        );
    }
    out.push_str("</div>");
}

fn latency_row(out: &mut String, name: &str, l: Option<&Latency>) {
    match l {
        Some(l) => {
            let _ = write!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(name),
                l.count,
                num(l.average_ms, 2),
                num(l.min_ms, 2),
                num(l.p50_ms, 2),
                num(l.p90_ms, 2),
                num(l.p99_ms, 2),
                num(l.max_ms, 2)
            );
        }
        None => {
            let _ = write!(
                out,
                "<tr><td>{}</td><td colspan=\"7\">not measured</td></tr>",
                escape(name)
            );
        }
    }
}

#[cfg(test)]
mod tests;
