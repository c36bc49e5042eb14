//! The report's SVG charts: lines over time and latency bars, each with a y axis of
//! "nice" ticks (1, 2, 2.5 or 5 × a power of ten, from zero).
//!
//! Owns: chart markup. Must not: compute statistics (the summary did).

use std::fmt::Write as _;

use gossipper_engine::output::summary::Latency;

use super::{SeriesPoint, escape, num};

const W: f64 = 720.0;
const H: f64 = 220.0;
const PAD_L: f64 = 56.0;
const PAD_B: f64 = 28.0;
const PAD_T: f64 = 12.0;
const PAD_R: f64 = 16.0;

/// One series of a line chart: name, colour, value of a point.
type Line<'a> = (&'a str, &'a str, fn(&SeriesPoint) -> f64);

/// A "nice" axis from 0 to at least `max`: (top, step), about four steps.
pub(super) fn nice_scale(max: f64) -> (f64, f64) {
    if max.is_nan() || max <= 0.0 || max.is_infinite() {
        return (1.0, 0.25);
    }
    let raw = max / 4.0;
    let mag = 10f64.powf(raw.log10().floor());
    let norm = raw / mag;
    let step = mag
        * if norm <= 1.0 {
            1.0
        } else if norm <= 2.0 {
            2.0
        } else if norm <= 2.5 {
            2.5
        } else if norm <= 5.0 {
            5.0
        } else {
            10.0
        };
    let top = (max / step - 1e-9).ceil().max(1.0) * step;
    (top, step)
}

/// A tick label: whole numbers plain, others with as few decimals as the step needs.
fn tick(v: f64, step: f64) -> String {
    if step >= 1.0 {
        num(v, 0)
    } else {
        let d = (-step.log10()).ceil().max(1.0) as usize;
        num(v, d.min(4))
    }
}

/// Horizontal grid lines and their labels, from 0 to `top` every `step`.
fn y_axis(svg: &mut String, top: f64, step: f64, y: impl Fn(f64) -> f64) {
    let n = (top / step).round() as u32;
    for i in 0..=n {
        let v = step * f64::from(i);
        let yy = y(v);
        let _ = write!(
            svg,
            "<line x1=\"{PAD_L}\" x2=\"{}\" y1=\"{yy:.1}\" y2=\"{yy:.1}\" stroke=\"#e3e6ec\"/><text x=\"{}\" y=\"{:.1}\" font-size=\"11\" text-anchor=\"end\" fill=\"#5b6475\">{}</text>",
            W - PAD_R,
            PAD_L - 6.0,
            yy + 4.0,
            tick(v, step)
        );
    }
}

fn open_svg(svg: &mut String, title: &str) {
    let _ = write!(
        svg,
        "<svg width=\"{W}\" height=\"{H}\" viewBox=\"0 0 {W} {H}\" role=\"img\" aria-label=\"{}\">",
        escape(title)
    );
}

/// A line chart of several series over `t_s`, sharing one y axis from zero. Points
/// whose value is not finite (a percentile before the first response) are not drawn:
/// the line starts where the values do.
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
    let max = points
        .iter()
        .flat_map(|p| lines.iter().map(move |(_, _, f)| f(p)))
        .filter(|v| v.is_finite())
        .fold(0.0_f64, f64::max);
    let (top, step) = nice_scale(max);
    let (pw, ph) = (W - PAD_L - PAD_R, H - PAD_T - PAD_B);
    let x = |t: f64| PAD_L + pw * (t / t_max);
    let y = |v: f64| PAD_T + ph * (1.0 - v / top);
    open_svg(&mut svg, title);
    y_axis(&mut svg, top, step, y);
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
        let mut pen_down = false;
        for p in points {
            let v = f(p);
            if !v.is_finite() {
                pen_down = false;
                continue;
            }
            let _ = write!(
                d,
                "{}{:.1},{:.1}",
                if pen_down { " L" } else { " M" },
                x(p.t_s),
                y(v)
            );
            pen_down = true;
        }
        if !d.is_empty() {
            let _ = write!(
                svg,
                "<path d=\"{}\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\"/>",
                d.trim_start()
            );
        }
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

/// The charts over time: rates, calls, retransmissions and timeouts, response time.
pub(super) fn over_time(out: &mut String, series: &[SeriesPoint]) {
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
        "Retransmissions and timeouts per second",
        series,
        &[
            ("retransmissions/s", "#8e44ad", |p| p.retrans_per_s),
            ("timeouts/s", "#c62828", |p| p.timeouts_per_s),
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
}

/// A bucket label: `≤0.05`, `≤1`, `≤2000` (ms), or Go's label minus `le_`.
fn edge_label(ms: f64) -> String {
    if ms < 1.0 {
        format!("≤{}", num(ms, if ms < 0.1 { 2 } else { 1 }))
    } else {
        format!("≤{}", num(ms, 0))
    }
}

/// A bar chart of a latency's buckets: the 1-2-5 `distribution` when the summary has
/// one, else Go's fixed buckets.
pub(super) fn latency_distribution(title: &str, l: &Latency) -> String {
    let bars: Vec<(String, u64)> = if l.distribution.is_empty() {
        l.buckets
            .iter()
            .map(|b| (b.label.trim_start_matches("le_").to_string(), b.count))
            .collect()
    } else {
        l.distribution
            .iter()
            .map(|b| (edge_label(b.le_ms), b.count))
            .collect()
    };
    let mut svg = String::new();
    let _ = write!(svg, "<h2>{}</h2>", escape(title));
    if bars.is_empty() || l.count == 0 {
        svg.push_str("<p class=\"meta\">No values were measured.</p>");
        return svg;
    }
    let max = bars.iter().map(|b| b.1).max().unwrap_or(0) as f64;
    let (top, step) = nice_scale(max);
    let (pw, ph) = (W - PAD_L - PAD_R, H - PAD_T - PAD_B);
    let bw = pw / bars.len() as f64;
    let y = |v: f64| PAD_T + ph * (1.0 - v / top);
    open_svg(&mut svg, title);
    y_axis(&mut svg, top, step.max(1.0), y);
    for (i, (label, count)) in bars.iter().enumerate() {
        let h = ph * *count as f64 / top;
        let x0 = PAD_L + bw * i as f64;
        let _ = write!(
            svg,
            "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{h:.1}\" fill=\"#3b6fd8\"><title>{} ms: {count}</title></rect><text x=\"{:.1}\" y=\"{}\" font-size=\"10\" text-anchor=\"middle\" fill=\"#5b6475\">{}</text>",
            x0 + 2.0,
            PAD_T + ph - h,
            (bw - 4.0).max(1.0),
            escape(label),
            x0 + bw / 2.0,
            H - 10.0,
            escape(label),
        );
        if *count > 0 {
            let _ = write!(
                svg,
                "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"10\" text-anchor=\"middle\" fill=\"#1d2330\">{count}</text>",
                x0 + bw / 2.0,
                (PAD_T + ph - h - 3.0).max(10.0),
            );
        }
    }
    svg.push_str("</svg><div class=\"legend\">bucket upper edge in ms; count of values</div>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nice_scales_step_by_1_2_2_5_or_5() {
        assert_eq!(nice_scale(0.0), (1.0, 0.25));
        assert_eq!(nice_scale(7.0), (8.0, 2.0));
        assert_eq!(nice_scale(100.0), (100.0, 25.0));
        assert_eq!(nice_scale(1234.0), (1500.0, 500.0));
        let (top, step) = nice_scale(0.3);
        assert!((top - 0.3).abs() < 1e-12 && (step - 0.1).abs() < 1e-12);
        assert_eq!(tick(0.2, 0.1), "0.2");
        assert_eq!(tick(500.0, 250.0), "500");
    }

    #[test]
    fn labels_read_as_milliseconds() {
        assert_eq!(edge_label(0.05), "≤0.05");
        assert_eq!(edge_label(0.2), "≤0.2");
        assert_eq!(edge_label(2000.0), "≤2000");
    }
}
