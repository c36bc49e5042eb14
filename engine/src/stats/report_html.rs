//! `report.html`: one self-contained page per run (totals, health, rates over time and
//! response-time charts), written next to `summary.json` for every job.
//!
//! Owns: the page's markup. Charts are inline SVG and the style is one inline `<style>`:
//! no script, no CDN, no external fetch, so the file opens offline and can be served
//! with `Content-Security-Policy: default-src 'none'`. Every text from the run is
//! HTML-escaped. Must not: read files or clocks; the caller passes the summary (typed, or
//! as summary.json bytes for the `report-html` tool) and the per-interval points it saw.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Deserialize;

use super::summary::Summary;

/// One latency bucket as summary.json holds it.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct BucketView {
    /// `le_10ms` … `gt_5000ms`.
    pub label: String,
    /// Values in the bucket.
    pub count: u64,
}

/// The part of a latency object the page shows.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct LatencyView {
    /// Number of values.
    pub count: u64,
    /// Mean, ms.
    pub average_ms: f64,
    /// Minimum, ms.
    pub min_ms: f64,
    /// Maximum, ms.
    pub max_ms: f64,
    /// Median, ms.
    pub p50_ms: f64,
    /// 90th percentile, ms.
    pub p90_ms: f64,
    /// 99th percentile, ms.
    pub p99_ms: f64,
    /// Go's fixed buckets.
    pub buckets: Vec<BucketView>,
}

/// The health block.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct HealthView {
    /// Whether any gate was configured.
    pub active: bool,
    /// Whether every gate passed.
    pub pass: bool,
    /// Failed gates.
    pub reasons: Vec<String>,
}

/// What the page shows of a summary: read from summary.json (missing fields are zero),
/// so a page can be rebuilt from an old file.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct ReportData {
    /// `Gossipper X.Y.Z`.
    pub tool_version: String,
    /// RFC 3339.
    pub started_at: String,
    /// RFC 3339.
    pub finished_at: String,
    /// Run length, ms.
    pub duration_ms: f64,
    /// Calls created.
    pub total_calls: u64,
    /// Successful calls.
    pub success_calls: u64,
    /// Failed calls.
    pub failed_calls: u64,
    /// Calls alive at the end.
    pub active_calls: u64,
    /// Successful over created.
    pub success_ratio: f64,
    /// Average creation rate.
    pub calls_per_second: f64,
    /// Retransmissions sent.
    pub retransmits: u64,
    /// SIP timeouts.
    pub timeouts: u64,
    /// Call lengths.
    pub call_length: Option<LatencyView>,
    /// First response time.
    pub invite_rtt: Option<LatencyView>,
    /// Failed calls by class.
    pub failure_classes: BTreeMap<String, u64>,
    /// Health verdict.
    pub health: HealthView,
    /// Plain-language lines.
    pub findings: Vec<String>,
    /// RNG seed.
    pub seed: u64,
}

impl ReportData {
    /// The view of a summary built in this process.
    pub fn from_summary(s: &Summary) -> ReportData {
        // A Summary always serialises, and its fields are a superset of this view.
        serde_json::to_value(s)
            .ok()
            .and_then(|v| serde_json::from_value(v).ok())
            .unwrap_or_default()
    }

    /// The view of a summary.json file.
    pub fn from_json(bytes: &[u8]) -> Result<ReportData, serde_json::Error> {
        serde_json::from_slice(bytes)
    }
}

/// One point of the rates chart (one worker stats line).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct SeriesPoint {
    /// Seconds since the run started.
    pub t_s: f64,
    /// Calls created per second over the interval.
    pub cps: f64,
    /// Calls alive.
    pub active: u64,
    /// Successful calls so far.
    pub succeeded: u64,
    /// Failed calls so far.
    pub failed: u64,
    /// Response time p50, ms.
    pub p50_ms: f64,
    /// Response time p99, ms.
    pub p99_ms: f64,
}

/// Escapes text for HTML content and attribute values.
pub fn escape(s: &str) -> String {
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
.pass{color:#1a7f37}.fail{color:#c62828}table{border-collapse:collapse;font-size:13px}\
td,th{border:1px solid #d9dde5;padding:4px 8px;text-align:right}th{background:#f3f5f8}\
td:first-child,th:first-child{text-align:left}svg{background:#fafbfc;border:1px solid #d9dde5}\
.legend{font-size:12px;color:#5b6475}";

const W: f64 = 720.0;
const H: f64 = 220.0;
const PAD_L: f64 = 56.0;
const PAD_B: f64 = 28.0;
const PAD_T: f64 = 12.0;
const PAD_R: f64 = 16.0;

/// One series of a line chart: name, colour, value of a point.
type Line<'a> = (&'a str, &'a str, fn(&SeriesPoint) -> f64);

/// A line chart of several series over `t_s`, each with its own colour, sharing one y
/// axis starting at zero.
fn line_chart(title: &str, points: &[SeriesPoint], lines: &[Line<'_>]) -> String {
    let mut svg = String::new();
    let _ = write!(svg, "<h2>{}</h2>", escape(title));
    if points.len() < 2 {
        svg.push_str("<p class=\"meta\">Not enough samples for a chart (the run was shorter than two stats intervals).</p>");
        return svg;
    }
    let t_max = points
        .iter()
        .map(|p| p.t_s)
        .fold(0.0_f64, f64::max)
        .max(1e-9);
    let y_max = points
        .iter()
        .flat_map(|p| lines.iter().map(move |(_, _, f)| f(p)))
        .filter(|v| v.is_finite())
        .fold(0.0_f64, f64::max)
        .max(1.0);
    let (pw, ph) = (W - PAD_L - PAD_R, H - PAD_T - PAD_B);
    let x = |t: f64| PAD_L + pw * (t / t_max);
    let y = |v: f64| PAD_T + ph * (1.0 - (if v.is_finite() { v } else { 0.0 }) / y_max);
    let _ = write!(
        svg,
        "<svg width=\"{W}\" height=\"{H}\" viewBox=\"0 0 {W} {H}\" role=\"img\" aria-label=\"{}\">",
        escape(title)
    );
    for i in 0..=4 {
        let v = y_max * f64::from(i) / 4.0;
        let yy = y(v);
        let _ = write!(
            svg,
            "<line x1=\"{PAD_L}\" x2=\"{}\" y1=\"{yy:.1}\" y2=\"{yy:.1}\" stroke=\"#e3e6ec\"/><text x=\"{}\" y=\"{:.1}\" font-size=\"11\" text-anchor=\"end\" fill=\"#5b6475\">{}</text>",
            W - PAD_R,
            PAD_L - 6.0,
            yy + 4.0,
            num(v, if y_max < 10.0 { 1 } else { 0 })
        );
    }
    let _ = write!(
        svg,
        "<text x=\"{PAD_L}\" y=\"{}\" font-size=\"11\" fill=\"#5b6475\">0 s</text><text x=\"{}\" y=\"{}\" font-size=\"11\" text-anchor=\"end\" fill=\"#5b6475\">{} s</text>",
        H - 8.0,
        W - PAD_R,
        H - 8.0,
        num(t_max, 0)
    );
    for (_, colour, f) in lines {
        let mut d = String::new();
        for (i, p) in points.iter().enumerate() {
            let _ = write!(
                d,
                "{}{:.1},{:.1}",
                if i == 0 { "M" } else { " L" },
                x(p.t_s),
                y(f(p))
            );
        }
        let _ = write!(
            svg,
            "<path d=\"{d}\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\"/>"
        );
    }
    svg.push_str("</svg><div class=\"legend\">");
    for (name, colour, _) in lines {
        let _ = write!(
            svg,
            "<span style=\"color:{colour}\">&#9632;</span> {} &nbsp; ",
            escape(name)
        );
    }
    svg.push_str("</div>");
    svg
}

/// A bar chart of latency buckets.
fn bucket_chart(title: &str, l: &LatencyView) -> String {
    let mut svg = String::new();
    let _ = write!(svg, "<h2>{}</h2>", escape(title));
    if l.buckets.is_empty() || l.count == 0 {
        svg.push_str("<p class=\"meta\">No values were measured.</p>");
        return svg;
    }
    let max = l.buckets.iter().map(|b| b.count).max().unwrap_or(0).max(1) as f64;
    let (pw, ph) = (W - PAD_L - PAD_R, H - PAD_T - PAD_B);
    let n = l.buckets.len() as f64;
    let bw = pw / n;
    let _ = write!(
        svg,
        "<svg width=\"{W}\" height=\"{H}\" viewBox=\"0 0 {W} {H}\" role=\"img\" aria-label=\"{}\">",
        escape(title)
    );
    for (i, b) in l.buckets.iter().enumerate() {
        let h = ph * b.count as f64 / max;
        let x0 = PAD_L + bw * i as f64;
        let _ = write!(
            svg,
            "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{h:.1}\" fill=\"#3b6fd8\"><title>{}: {}</title></rect><text x=\"{:.1}\" y=\"{}\" font-size=\"10\" text-anchor=\"middle\" fill=\"#5b6475\">{}</text><text x=\"{:.1}\" y=\"{:.1}\" font-size=\"10\" text-anchor=\"middle\" fill=\"#1d2330\">{}</text>",
            x0 + 2.0,
            PAD_T + ph - h,
            (bw - 4.0).max(1.0),
            escape(&b.label),
            b.count,
            x0 + bw / 2.0,
            H - 10.0,
            escape(b.label.trim_start_matches("le_")),
            x0 + bw / 2.0,
            (PAD_T + ph - h - 3.0).max(10.0),
            b.count
        );
    }
    svg.push_str("</svg>");
    svg
}

fn latency_row(out: &mut String, name: &str, l: &Option<LatencyView>) {
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

/// The whole page for a job.
pub fn render(title: &str, d: &ReportData, series: &[SeriesPoint]) -> String {
    let mut out = String::with_capacity(16 << 10);
    let _ = write!(
        out,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\"><title>{}</title><style>{STYLE}</style></head><body>",
        escape(title)
    );
    let _ = write!(
        out,
        "<h1>{}</h1><div class=\"meta\">{} · started {} · finished {} · {} s · seed {}</div>",
        escape(title),
        escape(&d.tool_version),
        escape(&d.started_at),
        escape(&d.finished_at),
        num(d.duration_ms / 1000.0, 1),
        d.seed
    );
    let health = if !d.health.active {
        "<b>—</b><span>health gates: none</span>".to_string()
    } else if d.health.pass {
        "<b class=\"pass\">PASS</b><span>health gates</span>".to_string()
    } else {
        "<b class=\"fail\">FAIL</b><span>health gates</span>".to_string()
    };
    out.push_str("<div class=\"kpis\">");
    for (v, label) in [
        (d.total_calls.to_string(), "calls created"),
        (d.success_calls.to_string(), "succeeded"),
        (d.failed_calls.to_string(), "failed"),
        (
            format!("{}%", num(d.success_ratio * 100.0, 1)),
            "success ratio",
        ),
        (num(d.calls_per_second, 1), "calls/s (average)"),
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
    let _ = write!(out, "<div class=\"kpi\">{health}</div></div>");
    if !d.health.reasons.is_empty() || !d.findings.is_empty() {
        out.push_str("<h2>Findings</h2><ul>");
        for line in d.health.reasons.iter().chain(&d.findings) {
            let _ = write!(out, "<li>{}</li>", escape(line));
        }
        out.push_str("</ul>");
    }
    out.push_str(&line_chart(
        "Rates",
        series,
        &[
            ("calls/s", "#3b6fd8", |p| p.cps),
            ("active calls", "#e08a1e", |p| p.active as f64),
        ],
    ));
    out.push_str(&line_chart(
        "Calls over time",
        series,
        &[
            ("succeeded", "#1a7f37", |p| p.succeeded as f64),
            ("failed", "#c62828", |p| p.failed as f64),
        ],
    ));
    out.push_str(&line_chart(
        "Response time over time (ms, cumulative percentiles)",
        series,
        &[
            ("p50", "#3b6fd8", |p| p.p50_ms),
            ("p99", "#8e44ad", |p| p.p99_ms),
        ],
    ));
    out.push_str("<h2>Latency (ms)</h2><table><tr><th></th><th>count</th><th>avg</th><th>min</th><th>p50</th><th>p90</th><th>p99</th><th>max</th></tr>");
    latency_row(&mut out, "response time (first RTD)", &d.invite_rtt);
    latency_row(&mut out, "call length", &d.call_length);
    out.push_str("</table>");
    if let Some(l) = &d.invite_rtt {
        out.push_str(&bucket_chart("Response time distribution", l));
    }
    if let Some(l) = &d.call_length {
        out.push_str(&bucket_chart("Call length distribution", l));
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

#[cfg(test)]
mod tests {
    use super::*;

    fn data() -> ReportData {
        ReportData {
            tool_version: "Gossipper 0.1.0".into(),
            total_calls: 500,
            success_calls: 499,
            failed_calls: 1,
            success_ratio: 0.998,
            invite_rtt: Some(LatencyView {
                count: 500,
                p50_ms: 1.5,
                buckets: vec![
                    BucketView {
                        label: "le_10ms".into(),
                        count: 490,
                    },
                    BucketView {
                        label: "gt_5000ms".into(),
                        count: 10,
                    },
                ],
                ..Default::default()
            }),
            failure_classes: [("timeout".to_string(), 1)].into_iter().collect(),
            findings: vec!["<script>alert(1)</script>".into()],
            ..Default::default()
        }
    }

    fn series() -> Vec<SeriesPoint> {
        (0..5)
            .map(|i| SeriesPoint {
                t_s: f64::from(i),
                cps: 100.0,
                active: 3,
                succeeded: 100 * i as u64,
                ..Default::default()
            })
            .collect()
    }

    #[test]
    fn the_page_is_self_contained_and_has_totals_and_charts() {
        let html = render("job-1", &data(), &series());
        assert!(html.starts_with("<!DOCTYPE html>"));
        for needle in [
            "<svg",
            ">500<",
            ">499<",
            "Rates",
            "Response time distribution",
            "timeout",
        ] {
            assert!(html.contains(needle), "missing {needle}");
        }
        for external in [
            "<script", "src=", "href=", "@import", "url(", "http:", "https:",
        ] {
            assert!(
                !html.contains(external),
                "page must not load anything: {external}"
            );
        }
    }

    #[test]
    fn run_text_is_escaped() {
        let html = render("<b>x</b>", &data(), &[]);
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(html.contains("&lt;b&gt;x&lt;/b&gt;"));
        assert!(!html.contains("<script>"));
    }

    #[test]
    fn a_short_run_gets_a_note_instead_of_an_empty_chart() {
        let html = render("j", &ReportData::default(), &[SeriesPoint::default()]);
        assert!(html.contains("Not enough samples"));
        assert!(html.contains("No values") || !html.contains("Response time distribution"));
    }

    #[test]
    fn the_view_reads_a_summary_json_and_ignores_unknown_fields() {
        let d = ReportData::from_json(br#"{"total_calls":7,"success_calls":7,"extra":{"x":1},"invite_rtt":{"count":7,"p99_ms":3.5}}"#).unwrap();
        assert_eq!(d.total_calls, 7);
        assert_eq!(d.invite_rtt.unwrap().p99_ms, 3.5);
        assert!(ReportData::from_json(b"not json").is_err());
    }

    #[test]
    fn non_finite_numbers_never_reach_the_markup() {
        let d = ReportData {
            calls_per_second: f64::NAN,
            success_ratio: f64::INFINITY,
            ..Default::default()
        };
        let pts = [
            SeriesPoint {
                cps: f64::NAN,
                ..Default::default()
            },
            SeriesPoint {
                t_s: 1.0,
                ..Default::default()
            },
        ];
        let html = render("j", &d, &pts);
        assert!(!html.contains("NaN") && !html.contains("inf"));
    }
}
