//! Runs a resolved `JobSpec` the way SIPp does: live screen, keys, signals, trace files,
//! final screens and SIPp's exit codes.
//!
//! Owns: presentation and the process edge of the legacy command line. Must not: parse
//! flags (`cli` does) or make protocol decisions (the engine does). Files are opened here
//! and written from the runner's ticks.

mod control;
mod observer;
mod terminal;

use std::io::Write as _;
use std::process::ExitCode;

use gossipper_engine::config::JobSpec;
use gossipper_engine::runner::{self, RunEnd, RunError};
use gossipper_engine::stats::report::{RunInfo, RunParams};
use gossipper_engine::stats::screen::{self, Footer, LiveInfo, Screen, ScreenInput};
use gossipper_engine::stats::summary::{self, HealthFacts, SummaryInput};

use crate::cli::Exit;
use observer::LegacyObserver;

/// `-bg`: starts this same command again without `-bg`, detached from the terminal, and
/// prints its PID as SIPp does ("Background mode - PID=[N]").
fn respawn_in_background() -> ExitCode {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "-bg" && a != "--bg")
        .collect();
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => {
            eprintln!("gossipper: -bg: cannot find my own executable: {e}");
            return Exit::Fatal.into();
        }
    };
    let child = std::process::Command::new(exe)
        .args(&args)
        .arg("-nostdin")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
    match child {
        Ok(c) => {
            println!("Background mode - PID=[{}]", c.id());
            Exit::AllSucceeded.into()
        }
        Err(e) => {
            eprintln!("gossipper: -bg: cannot start: {e}");
            Exit::Fatal.into()
        }
    }
}

/// Runs `spec` to the end and returns SIPp's exit code.
pub(crate) fn run(spec: JobSpec) -> ExitCode {
    if spec.background {
        return respawn_in_background();
    }
    let prepared = match runner::prepare(&spec) {
        Ok(p) => p,
        Err(e) => return report_error(&e).into(),
    };
    let pid = std::process::id();
    let start = std::time::SystemTime::now();
    let rate_cps = spec.rate * 1000.0 / spec.rate_period_ms.max(1) as f64;
    let info = RunInfo::new(
        &prepared.scenario,
        RunParams {
            transport: spec.transport.keyword().to_string(),
            remote: spec.remote.map(|r| r.to_string()).unwrap_or_default(),
            local_port: prepared.local.port(),
            rate: spec.rate,
            rate_period_ms: spec.rate_period_ms,
            users: spec.users,
            call_limit: spec.call_limit.unwrap_or_else(|| {
                gossipper_engine::load::default_call_limit(rate_cps, spec.default_pause_ms)
            }),
            max_calls: spec.max_calls,
            default_pause_ms: spec.default_pause_ms,
            start,
            pid,
        },
    );
    let control = prepared.control();
    let signals = crate::signals::SignalCounts::install("gossipper");
    let keys = control::Keys::start(&spec, control);
    let mut obs = match LegacyObserver::new(&spec, info.clone(), start, signals, keys) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("gossipper: {e}");
            return Exit::Fatal.into();
        }
    };
    let report = match prepared.run(&mut obs) {
        Ok(r) => r,
        Err(e) => return report_error(&e).into(),
    };
    obs.finish(&report);

    // Final screens on stdout, as SIPp prints them at exit.
    let live = LiveInfo {
        last_error: obs.last_error.clone(),
        ..Default::default()
    };
    let empty = obs.screen_prev.clone();
    let input = ScreenInput {
        info: &info,
        prev: &empty,
        cur: &report.stats,
        period_start: obs.screen_prev_at,
        now: report.finished_at,
        live: &live,
        footer: Footer::Terminated,
    };
    if !spec.background {
        let text = screen::closing_screens(Screen::Scenario, &input);
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(text.as_bytes());
        let _ = out.flush();
    }
    if let Some(path) = &spec.trace.screen_file {
        let _ = std::fs::write(path, screen::trace_screen(&input));
    }
    let gates = spec.health;
    let health = summary::evaluate_health(&gates, &HealthFacts::of(&report.stats));
    if let Some(path) = &spec.trace.summary_json {
        let s = summary::summary(&SummaryInput {
            info: &info,
            stats: &report.stats,
            finished_at: report.finished_at,
            tool_version: summary::TOOL_VERSION,
            seed: spec.seed,
            gates: &gates,
            media: report.stats.media.summary(),
            shard_calls: &report.shard_calls,
        });
        if let Err(e) = std::fs::write(path, summary::to_json(&s)) {
            eprintln!("gossipper: cannot write {}: {e}", path.display());
        }
    }
    let c = &report.stats.counters;
    let code = match report.end {
        RunEnd::StoppedNow => Exit::InternalCommand,
        RunEnd::TimedOut if spec.timeout_error => Exit::Fatal,
        _ if health.active && !health.pass => Exit::HealthGateFailed,
        _ if c.failed_calls > 0 => Exit::SomeFailed,
        _ if c.successful_calls == 0 => Exit::NoCallsProcessed,
        _ => Exit::AllSucceeded,
    };
    code.into()
}

/// Prints a start-up error once and returns its exit code.
fn report_error(e: &RunError) -> Exit {
    match e {
        RunError::Scenario(errs) => {
            for err in &errs.0 {
                eprintln!("{err}");
            }
            if errs.0.is_empty() {
                eprintln!("gossipper: the scenario could not be loaded");
            }
            Exit::Fatal
        }
        RunError::Bind(m) => {
            eprintln!("gossipper: {m}");
            Exit::BindError
        }
        RunError::Config(m) | RunError::Refused(m) | RunError::Io(m) => {
            eprintln!("gossipper: {m}");
            Exit::Fatal
        }
    }
}
