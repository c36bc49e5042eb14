//! Target against actual: what a run was asked to do (rate, calls, concurrency, hold)
//! and what it did, averaged over the window in which calls were created, not over the
//! whole run (whose tail holds the last calls without creating any).
//!
//! Owns: `target` and `achieved` of summary.json and the worker's `plan` line, and the
//! concurrency a rate and a hold need. Must not: read clocks (the caller passes the run's
//! length) or judge the run (`verdict` does).

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use super::run_info::RunInfo;
use crate::scenario::Role;
use crate::stats::ShardStats;

/// What the run was asked to do.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Target {
    /// `client` (places calls) or `server` (answers them).
    pub role: Role,
    /// Where calls go (`ip:port`); absent for a server.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remote: Option<String>,
    /// `UDP`, `TCP`, `TLS`, `WS`, `WSS`.
    pub transport: String,
    /// Calls per second asked for; absent for a server and with `-users`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_cps: Option<f64>,
    /// The rate changes during the run (`-rate_increase`): not judged.
    pub rate_ramp: bool,
    /// `-users`: calls kept running instead of a rate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub users: Option<u64>,
    /// Calls asked for (`-m`, `total_calls`); absent: until stopped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub calls: Option<u64>,
    /// The concurrency limit (`-l`, `max_concurrent`).
    pub concurrency: u64,
    /// Calls the rate and the hold keep open at once (rate × hold), when both are known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub concurrency_needed: Option<u64>,
    /// The call hold time (`-d`, `call_duration_ms`) when the scenario uses it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hold_ms: Option<u64>,
}

/// The window averages are taken over.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Window {
    /// Seconds after the start when the first call was created.
    pub from_s: f64,
    /// Seconds after the start when the last call was created.
    pub to_s: f64,
    /// In words, for people reading the file.
    pub description: Cow<'static, str>,
}

/// What the run did.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Achieved {
    /// Calls created.
    pub calls: u64,
    /// Calls that ended (succeeded or failed).
    pub calls_finished: u64,
    /// Calls created per second over `window` (absent under two calls).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_cps: Option<f64>,
    /// The creation window.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub window: Option<Window>,
    /// Most calls open at once, and when (seconds after the start).
    pub peak_concurrency: u64,
    pub peak_at_s: f64,
    /// Mean length of the calls that succeeded, ms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hold_ms: Option<f64>,
    /// How long the concurrency limit held back calls the rate asked for, seconds.
    pub limit_blocked_s: f64,
}

impl Default for Target {
    /// A client asked for nothing (what a summary without the field reads as).
    fn default() -> Self {
        Target {
            role: Role::Client,
            remote: None,
            transport: String::new(),
            rate_cps: None,
            rate_ramp: false,
            users: None,
            calls: None,
            concurrency: 0,
            concurrency_needed: None,
            hold_ms: None,
        }
    }
}

/// Calls a rate and a hold time keep open at once: rate × hold.
pub fn concurrency_needed(rate_cps: f64, hold_ms: u64) -> u64 {
    (rate_cps.max(0.0) * hold_ms as f64 / 1000.0).ceil() as u64
}

/// The concurrency limit to ask for: rate × hold plus a margin of a fifth and five calls
/// (for set-up and tear-down, which the hold does not count). The console's wizard uses
/// the same formula.
pub fn concurrency_suggested(rate_cps: f64, hold_ms: u64) -> u64 {
    (concurrency_needed(rate_cps, hold_ms) as f64 * 1.2).ceil() as u64 + 5
}

impl Target {
    /// The target of a run.
    pub fn of(info: &RunInfo) -> Target {
        let run = &info.run;
        let client = info.role == Role::Client;
        let rate = (client && run.users.is_none()).then(|| info.rate_cps());
        let hold_ms = (client && info.uses_default_pause).then_some(run.default_pause_ms);
        Target {
            role: info.role,
            remote: (client && !run.remote.is_empty()).then(|| run.remote.clone()),
            transport: run.transport.clone(),
            rate_cps: rate,
            rate_ramp: run.rate_ramp,
            users: run.users,
            calls: run.max_calls,
            concurrency: run.call_limit,
            concurrency_needed: rate.zip(hold_ms).map(|(r, h)| concurrency_needed(r, h)),
            hold_ms,
        }
    }
}

fn secs(us: u64) -> f64 {
    us as f64 / 1e6
}

impl Achieved {
    /// What `stats` shows the run did.
    pub fn of(stats: &ShardStats) -> Achieved {
        let c = &stats.counters;
        let calls = stats.calls_created();
        let window = stats
            .first_call_us
            .zip(stats.last_call_us)
            .map(|(a, b)| Window {
                from_s: secs(a),
                to_s: secs(b),
                description: "from the first call created to the last".into(),
            });
        let rate_cps = match (&window, calls) {
            (Some(w), n) if n >= 2 && w.to_s > w.from_s => {
                Some((n - 1) as f64 / (w.to_s - w.from_s))
            }
            _ => None,
        };
        Achieved {
            calls,
            calls_finished: c.successful_calls + c.failed_calls,
            rate_cps,
            window,
            peak_concurrency: stats.peak_calls,
            peak_at_s: secs(stats.peak_at_us),
            hold_ms: (stats.call_length.count > 0).then(|| stats.call_length.mean_us() / 1000.0),
            limit_blocked_s: secs(stats.limit_blocked_us),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::run_info::tests::uac_info;

    #[test]
    fn the_rate_is_averaged_over_the_creation_window() {
        let mut st = ShardStats::new(0, 0, 0, &[], &[]);
        for k in 0..1000u64 {
            // 100 calls/s from 0.5 s on; the run then holds them for 2 s more.
            st.counters.outgoing_calls += 1;
            st.current_calls += 1;
            st.note_call_created(500_000 + k * 10_000);
        }
        let a = Achieved::of(&st);
        let rate = a.rate_cps.unwrap();
        assert!((rate - 100.0).abs() < 1e-9, "{rate}");
        let w = a.window.unwrap();
        assert_eq!((w.from_s, w.to_s), (0.5, 10.49));
        assert_eq!(a.peak_concurrency, 1000);
        assert_eq!(a.peak_at_s, 10.49);
    }

    #[test]
    fn one_call_has_no_rate() {
        let mut st = ShardStats::new(0, 0, 0, &[], &[]);
        st.counters.outgoing_calls = 1;
        st.note_call_created(7);
        assert_eq!(Achieved::of(&st).rate_cps, None);
        assert_eq!(Achieved::of(&ShardStats::default()).window, None);
    }

    #[test]
    fn the_target_names_rate_calls_concurrency_and_hold() {
        let mut info = uac_info();
        info.uses_default_pause = true;
        info.run.default_pause_ms = 2000;
        info.run.rate = 100.0;
        let t = Target::of(&info);
        assert_eq!(t.rate_cps, Some(100.0));
        assert_eq!(t.calls, Some(20));
        assert_eq!(t.concurrency, 30);
        assert_eq!(t.hold_ms, Some(2000));
        assert_eq!(t.concurrency_needed, Some(200));
        assert_eq!(t.remote.as_deref(), Some("127.0.0.1:15060"));
        info.role = Role::Server;
        let t = Target::of(&info);
        assert_eq!((t.role, t.rate_cps, t.hold_ms), (Role::Server, None, None));
    }

    #[test]
    fn suggested_concurrency_adds_a_margin() {
        assert_eq!(concurrency_needed(100.0, 2000), 200);
        assert_eq!(concurrency_suggested(100.0, 2000), 245);
        assert_eq!(concurrency_suggested(10.0, 0), 5);
    }
}
