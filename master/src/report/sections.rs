//! The report's tables: the verdict, target against actual, the thresholds, and SIPp's
//! per-message table (with its arrows, as SIPp's scenario screen draws them).
//!
//! Owns: the markup of these sections. Must not: judge the run (summary.json's `verdict`
//! did); a summary without the revision-2 fields gets a line saying so.

use std::fmt::Write as _;

use gossipper_engine::output::messages::{Direction, RowKind};
use gossipper_engine::output::summary::Summary;
use gossipper_engine::output::verdict::VerdictStatus;
use gossipper_engine::scenario::Role;

use super::{escape, num, revision_2, role_name};

/// The verdict banner: PASS, FAIL or NO THRESHOLDS, with its reasons and notes.
pub(super) fn verdict(out: &mut String, d: &Summary) {
    if !revision_2(d) {
        // A summary older than revision 2: only the health gates were judged.
        let (cls, big) = match d.health.pass {
            Some(true) => ("pass", "PASS"),
            Some(false) => ("fail", "FAIL"),
            None => ("none", "NO THRESHOLDS"),
        };
        let _ = write!(
            out,
            "<div class=\"verdict {cls}\"><b class=\"{cls}\">{big}</b>health gates only (this summary predates thresholds)</div>"
        );
        return;
    }
    let v = &d.verdict;
    // `status` is summary.json's word for the verdict.
    let (status, cls, big, line) = match v.status {
        VerdictStatus::Pass => ("pass", "pass", "PASS", "every threshold held"),
        VerdictStatus::Fail => ("fail", "fail", "FAIL", ""),
        VerdictStatus::NoThresholds => (
            "no_thresholds",
            "none",
            "NO THRESHOLDS",
            "nothing was judged: set thresholds to get a pass or a fail",
        ),
    };
    let _ = write!(
        out,
        "<div class=\"verdict {cls}\" data-verdict=\"{status}\"><b class=\"{cls}\">{big}</b>{line}"
    );
    if !v.reasons.is_empty() || !v.notes.is_empty() {
        out.push_str("<ul>");
        for r in &v.reasons {
            let _ = write!(out, "<li>{}</li>", escape(r));
        }
        for n in &v.notes {
            let _ = write!(out, "<li class=\"meta\">{}</li>", escape(n));
        }
        out.push_str("</ul>");
    }
    out.push_str("</div>");
}

fn opt(v: Option<String>) -> String {
    v.unwrap_or_else(|| "–".into())
}

/// Target against actual, with the request facts the caller adds.
pub(super) fn target(out: &mut String, d: &Summary, request: &[(&str, String)]) {
    out.push_str("<h2>Target and actual</h2>");
    if !revision_2(d) {
        out.push_str("<p class=\"meta\">This summary predates the target/actual fields.</p>");
        return;
    }
    let (t, a) = (&d.target, &d.achieved);
    out.push_str("<table><tr><th></th><th class=\"l\">asked</th><th class=\"l\">actual</th></tr>");
    let window = a.window.as_ref().map_or_else(String::new, |w| {
        format!(
            " (from {} s to {} s: {})",
            num(w.from_s, 2),
            num(w.to_s, 2),
            w.description
        )
    });
    let rows: Vec<(&str, String, String)> = vec![
        (
            "rate (calls/s)",
            match (t.rate_cps, t.users) {
                (_, Some(u)) => format!("{u} users"),
                (Some(r), _) if t.rate_ramp => format!("{} (ramping)", num(r, 2)),
                (Some(r), _) => num(r, 2),
                _ => "– (answers calls)".into(),
            },
            format!("{}{window}", opt(a.rate_cps.map(|r| num(r, 2)))),
        ),
        (
            "calls",
            t.calls
                .map_or_else(|| "until stopped".into(), |c| c.to_string()),
            format!("{} created, {} finished", a.calls, a.calls_finished),
        ),
        (
            "concurrency",
            format!(
                "limit {}{}",
                t.concurrency,
                t.concurrency_needed
                    .filter(|n| *n > 0)
                    .map_or_else(String::new, |n| format!(" (rate × hold needs {n})"))
            ),
            format!(
                "peak {} after {} s{}",
                a.peak_concurrency,
                num(a.peak_at_s, 1),
                if a.limit_blocked_s > 0.0 {
                    format!(
                        "; the limit held calls back for {} s",
                        num(a.limit_blocked_s, 1)
                    )
                } else {
                    String::new()
                }
            ),
        ),
        (
            "hold (ms)",
            t.hold_ms
                .map_or_else(|| "set by the scenario".into(), |h| h.to_string()),
            opt(a
                .hold_ms
                .map(|h| format!("{} (mean call length)", num(h, 1)))),
        ),
    ];
    for (name, asked, actual) in rows {
        let _ = write!(
            out,
            "<tr><td>{name}</td><td class=\"l\">{}</td><td class=\"l\">{}</td></tr>",
            escape(&asked),
            escape(&actual)
        );
    }
    let mut facts: Vec<(&str, String)> = Vec::new();
    if !d.scenario.name.is_empty() {
        facts.push((
            "scenario",
            format!("{} ({})", d.scenario.name, role_name(t.role)),
        ));
    }
    if let Some(r) = &t.remote {
        facts.push(("target", format!("{r} over {}", t.transport)));
    }
    facts.extend(request.iter().map(|(k, v)| (*k, v.clone())));
    for (k, v) in facts {
        let _ = write!(
            out,
            "<tr><td>{}</td><td class=\"l\" colspan=\"2\">{}</td></tr>",
            escape(k),
            escape(&v)
        );
    }
    out.push_str("</table>");
}

/// Each threshold with what was measured.
pub(super) fn thresholds(out: &mut String, d: &Summary) {
    out.push_str("<h2>Thresholds</h2>");
    if d.thresholds.is_empty() {
        out.push_str("<p class=\"meta\">No thresholds were set for this run.</p>");
        return;
    }
    out.push_str("<table><tr><th class=\"l\">threshold</th><th>measured</th><th class=\"l\">result</th></tr>");
    for t in &d.thresholds {
        let decimals = if t.unit == "calls" { 0 } else { 2 };
        let measured = t.observed.map_or_else(
            || "not measured".into(),
            |o| format!("{} {}", num(o, decimals), t.unit),
        );
        let (cls, word) = if t.pass {
            ("pass", "pass")
        } else {
            ("fail", "FAIL")
        };
        let _ = write!(
            out,
            "<tr><td class=\"mono\">{}</td><td>{}</td><td class=\"l\"><b class=\"{cls}\">{word}</b> {}</td></tr>",
            escape(&t.threshold),
            escape(measured.trim_end()),
            escape(&t.text)
        );
    }
    out.push_str("</table>");
}

/// SIPp's per-message table: arrows point from the sender, as on SIPp's screen.
pub(super) fn messages(out: &mut String, d: &Summary) {
    out.push_str("<h2>Messages (SIPp's scenario screen)</h2>");
    if d.messages.is_empty() {
        out.push_str("<p class=\"meta\">This summary has no per-message table.</p>");
        return;
    }
    let server = d.scenario.role == Role::Server;
    out.push_str("<table><tr><th class=\"l\">step</th><th class=\"l\"></th><th>messages</th><th>retrans</th><th>timeout</th><th>unexpected</th></tr>");
    for m in &d.messages {
        let label = escape(&m.label);
        let step = match (m.direction, server) {
            (Some(Direction::Out), false) => format!("{label} <span class=\"arrow\">──▶</span>"),
            (Some(Direction::In), false) => format!("{label} <span class=\"arrow\">◀──</span>"),
            (Some(Direction::Out), true) => format!("<span class=\"arrow\">◀──</span> {label}"),
            (Some(Direction::In), true) => format!("<span class=\"arrow\">──▶</span> {label}"),
            _ if m.kind == RowKind::Pause => format!("pause [{label}]"),
            _ => format!("[{label}]"),
        };
        let mut marks = Vec::new();
        if let Some(n) = m.rtd_start {
            marks.push(format!("B-RTD{n}"));
        }
        if let Some(n) = m.rtd_stop {
            marks.push(format!("E-RTD{n}"));
        }
        if m.optional {
            marks.push("optional".into());
        }
        // Blank where SIPp shows no column for this kind of step.
        let (retrans, timeout, unexpected) = match m.kind {
            RowKind::Send => (
                m.retrans.to_string(),
                if m.retrans_timer {
                    m.timeouts.to_string()
                } else {
                    String::new()
                },
                String::new(),
            ),
            RowKind::Recv => (
                m.retrans.to_string(),
                m.timeouts.to_string(),
                m.unexpected.to_string(),
            ),
            RowKind::Pause => (String::new(), String::new(), m.unexpected.to_string()),
            _ => (String::new(), String::new(), String::new()),
        };
        let messages = if m.kind == RowKind::Nop {
            String::new()
        } else {
            m.messages.to_string()
        };
        let _ = write!(
            out,
            "<tr><td class=\"l mono\">{step}</td><td class=\"l meta\">{}</td><td>{messages}</td><td>{retrans}</td><td>{timeout}</td><td>{unexpected}</td></tr>",
            escape(&marks.join(" "))
        );
    }
    out.push_str("</table>");
}
