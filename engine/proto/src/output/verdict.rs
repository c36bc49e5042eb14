//! The run's verdict: `pass` only when thresholds were set and every one held, `fail`
//! when one did not, when every call failed, or when the run did not reach its target
//! (fewer calls than asked for, or a rate well below the one asked for), and
//! `no_thresholds` otherwise. A run is never green by default.
//!
//! Owns: the rules and the sentences that explain them. Must not: compute the numbers
//! (`target`, `thresholds` and `summary` do) or decide exit codes (the binary does).

use serde::{Deserialize, Serialize};

use super::target::{Achieved, Target};
use crate::scenario::Role;
use crate::stats::thresholds::ThresholdResult;

/// The achieved rate may fall this far short of the target and still count as reached
/// (the pacer is exact; this covers rounding at the window's ends in short runs).
pub const RATE_TOLERANCE: f64 = 0.95;

/// The verdict itself, written `pass`, `fail` or `no_thresholds`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VerdictStatus {
    /// Thresholds were set and every one held.
    Pass,
    /// A threshold failed, every call failed, or the run missed its target.
    Fail,
    /// Nothing was judged.
    #[default]
    NoThresholds,
}

/// summary.json's `verdict`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Verdict {
    /// `pass`, `fail` or `no_thresholds`.
    pub status: VerdictStatus,
    /// Why it failed, one sentence each (empty unless `fail`).
    pub reasons: Vec<String>,
    /// Other things a tester should know (calls that failed in a run without
    /// thresholds, calls still open at the end).
    pub notes: Vec<String>,
    /// Whether the run did what it was asked (calls and rate); absent for a server.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_reached: Option<bool>,
}

/// What the verdict looks at.
#[derive(Clone, Copy, Debug)]
pub struct VerdictInput<'a> {
    pub target: &'a Target,
    pub achieved: &'a Achieved,
    /// Every threshold, the health gates included.
    pub thresholds: &'a [ThresholdResult],
    pub success_calls: u64,
    pub failed_calls: u64,
    /// Calls still open when the run ended.
    pub active_calls: u64,
}

fn num(v: f64) -> String {
    let s = format!("{v:.1}");
    s.strip_suffix(".0").map_or(s.clone(), str::to_string)
}

/// The achieved creation rate fell short of `want`: fewer calls were created over the
/// creation window than `RATE_TOLERANCE` of what the target rate would have created in
/// it, less one call. The one-call slack keeps a short run honest: 2 calls at 10 calls/s
/// created 105 ms apart (a few milliseconds of scheduling) is 9.5 calls/s by the
/// average, but only a twentieth of a call late; over a long window the slack vanishes.
fn rate_missed(want: f64, a: &Achieved) -> bool {
    let Some(w) = &a.window else {
        return false;
    };
    let span = (w.to_s - w.from_s).max(0.0);
    let due = want * span + 1.0;
    (a.calls as f64) < due * RATE_TOLERANCE - 1.0
}

/// Why the run fell short of its target, if it did (clients only).
fn target_misses(t: &Target, a: &Achieved) -> Vec<String> {
    let mut out = Vec::new();
    if a.calls == 0 {
        out.push("no call was placed".to_string());
        return out;
    }
    if let Some(want) = t.calls
        && a.calls < want
    {
        out.push(format!("created {} of the {want} calls asked for", a.calls));
    }
    if let (Some(want), Some(got), false) = (t.rate_cps, a.rate_cps, t.rate_ramp)
        && rate_missed(want, a)
    {
        let mut s = format!(
            "achieved {} calls/s of the {} asked for",
            num(got),
            num(want)
        );
        if a.limit_blocked_s > 0.0 {
            s.push_str(&format!(
                "; the concurrency limit of {} held calls back for {} s",
                t.concurrency,
                num(a.limit_blocked_s)
            ));
            if let Some(need) = t.concurrency_needed {
                s.push_str(&format!(
                    " (rate × hold needs about {need} calls open at once)"
                ));
            }
        }
        out.push(s);
    }
    out
}

/// Judges a run.
pub fn verdict(i: &VerdictInput<'_>) -> Verdict {
    let mut reasons: Vec<String> = i
        .thresholds
        .iter()
        .filter(|t| !t.pass)
        .map(|t| t.text.clone())
        .collect();
    let mut notes = Vec::new();
    let finished = i.success_calls + i.failed_calls;
    if i.success_calls == 0 && i.failed_calls > 0 {
        reasons.push(format!(
            "every call failed ({} of {finished})",
            i.failed_calls
        ));
    } else if i.failed_calls > 0 && i.thresholds.is_empty() {
        notes.push(format!("{} of {finished} calls failed", i.failed_calls));
    }
    let target_reached = (i.target.role == Role::Client).then(|| {
        let misses = target_misses(i.target, i.achieved);
        let reached = misses.is_empty();
        reasons.extend(
            misses
                .into_iter()
                .map(|m| format!("target not reached: {m}")),
        );
        reached
    });
    if i.active_calls > 0 {
        notes.push(format!(
            "{} calls were still open when the run ended",
            i.active_calls
        ));
    }
    let status = if !reasons.is_empty() {
        VerdictStatus::Fail
    } else if i.thresholds.is_empty() {
        VerdictStatus::NoThresholds
    } else {
        VerdictStatus::Pass
    };
    Verdict {
        status,
        reasons,
        notes,
        target_reached,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::target::Window;

    fn target() -> Target {
        Target {
            role: Role::Client,
            remote: Some("127.0.0.1:5060".into()),
            transport: "UDP".into(),
            rate_cps: Some(100.0),
            rate_ramp: false,
            users: None,
            calls: Some(1000),
            concurrency: 2,
            concurrency_needed: Some(200),
            hold_ms: Some(2000),
        }
    }

    /// A run that created `calls` at an even `rate`.
    fn achieved(calls: u64, rate: f64, blocked: f64) -> Achieved {
        Achieved {
            calls,
            calls_finished: calls,
            rate_cps: Some(rate),
            window: Some(Window {
                from_s: 0.0,
                to_s: calls.saturating_sub(1) as f64 / rate,
                description: "".into(),
            }),
            peak_concurrency: 2,
            peak_at_s: 1.0,
            hold_ms: Some(2000.0),
            limit_blocked_s: blocked,
        }
    }

    fn pass(text: &str, ok: bool) -> ThresholdResult {
        ThresholdResult {
            threshold: text.into(),
            observed: Some(1.0),
            limit: 1.0,
            unit: "".into(),
            pass: ok,
            text: format!("{text} said"),
        }
    }

    fn input<'a>(
        t: &'a Target,
        a: &'a Achieved,
        th: &'a [ThresholdResult],
        ok: u64,
        failed: u64,
    ) -> VerdictInput<'a> {
        VerdictInput {
            target: t,
            achieved: a,
            thresholds: th,
            success_calls: ok,
            failed_calls: failed,
            active_calls: 0,
        }
    }

    #[test]
    fn without_thresholds_a_good_run_is_not_a_pass() {
        let (t, a) = (target(), achieved(1000, 100.0, 0.0));
        let v = verdict(&input(&t, &a, &[], 1000, 0));
        assert_eq!(v.status, VerdictStatus::NoThresholds);
        assert_eq!(v.target_reached, Some(true));
        assert!(v.reasons.is_empty());
    }

    #[test]
    fn thresholds_that_hold_pass_and_one_that_fails_fails() {
        let (t, a) = (target(), achieved(1000, 99.0, 0.0));
        let ok = [pass("a", true), pass("b", true)];
        assert_eq!(
            verdict(&input(&t, &a, &ok, 1000, 0)).status,
            VerdictStatus::Pass
        );
        let bad = [pass("a", true), pass("b", false)];
        let v = verdict(&input(&t, &a, &bad, 1000, 0));
        assert_eq!(v.status, VerdictStatus::Fail);
        assert_eq!(v.reasons, ["b said"]);
    }

    #[test]
    fn a_run_where_every_call_failed_is_never_green() {
        let (t, a) = (target(), achieved(1000, 100.0, 0.0));
        let v = verdict(&input(&t, &a, &[], 0, 1000));
        assert_eq!(v.status, VerdictStatus::Fail);
        assert_eq!(v.reasons, ["every call failed (1000 of 1000)"]);
        // Not even when the only threshold is one that happens to hold.
        let lax = [pass("failed_calls<=5000", true)];
        assert_eq!(
            verdict(&input(&t, &a, &lax, 0, 1000)).status,
            VerdictStatus::Fail
        );
    }

    #[test]
    fn a_throttled_or_stopped_run_says_it_missed_its_target() {
        let (t, a) = (target(), achieved(16, 2.0, 7.5));
        let v = verdict(&input(&t, &a, &[pass("x", true)], 16, 0));
        assert_eq!(v.status, VerdictStatus::Fail);
        assert_eq!(v.target_reached, Some(false));
        assert_eq!(
            v.reasons,
            [
                "target not reached: created 16 of the 1000 calls asked for",
                "target not reached: achieved 2 calls/s of the 100 asked for; the concurrency \
                 limit of 2 held calls back for 7.5 s (rate × hold needs about 200 calls open at once)"
            ]
        );
    }

    #[test]
    fn a_rate_within_tolerance_or_a_ramp_counts_as_reached() {
        let mut t = target();
        let a = achieved(1000, 96.0, 0.0);
        assert_eq!(
            verdict(&input(&t, &a, &[], 1000, 0)).target_reached,
            Some(true)
        );
        t.rate_ramp = true;
        let slow = achieved(1000, 10.0, 0.0);
        assert_eq!(
            verdict(&input(&t, &slow, &[], 1000, 0)).target_reached,
            Some(true)
        );
    }

    #[test]
    fn a_short_run_is_allowed_one_calls_worth_of_lateness() {
        let mut t = target();
        t.rate_cps = Some(10.0);
        t.calls = Some(2);
        // 2 calls 105 ms apart: 9.5 calls/s by the average, a twentieth of a call late.
        let a = achieved(2, 1.0 / 0.105, 0.0);
        assert_eq!(
            verdict(&input(&t, &a, &[], 2, 0)).target_reached,
            Some(true)
        );
        // 2 calls 300 ms apart: two calls late.
        let slow = achieved(2, 1.0 / 0.3, 0.0);
        assert_eq!(
            verdict(&input(&t, &slow, &[], 2, 0)).target_reached,
            Some(false)
        );
        // Over 1,000 calls the slack is a tenth of a percent: 94 calls/s still misses.
        t.rate_cps = Some(100.0);
        t.calls = Some(1000);
        let long = achieved(1000, 94.0, 0.0);
        assert_eq!(
            verdict(&input(&t, &long, &[], 1000, 0)).target_reached,
            Some(false)
        );
    }

    #[test]
    fn a_server_has_no_target_and_failures_become_notes() {
        let mut t = target();
        t.role = Role::Server;
        let a = achieved(10, 1.0, 0.0);
        let v = verdict(&input(&t, &a, &[], 8, 2));
        assert_eq!(v.status, VerdictStatus::NoThresholds);
        assert_eq!(v.target_reached, None);
        assert_eq!(v.notes, ["2 of 10 calls failed"]);
    }
}
