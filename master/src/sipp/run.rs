//! Runs a resolved `JobSpec` the way SIPp does: live screen, keys, signals, trace files,
//! final screens and SIPp's exit codes.
//!
//! Owns: presentation and the process edge of the SIPp command line. Must not: parse
//! flags (`resolve` does) or make protocol decisions (the engine does). Files are opened here
//! and written from the runner's ticks. `gossipper server` runs the same way with a
//! [`Sidecar`] (its control API) started once the run is bound and fed every tick.

use std::io::Write as _;
use std::process::ExitCode;

use gossipper_engine::config::JobSpec;
use gossipper_engine::output::run_info::RunInfo;
use gossipper_engine::output::screen::{self, Footer, Screen, ScreenInput};
use gossipper_engine::output::summary;
use gossipper_engine::runner::{self, Observer, RunEnd, RunError, Tick};
use gossipper_engine::scenario::Scenario;
use gossipper_engine::shard::Control;

use super::observer::SippObserver;
use super::{Exit, control, terminal};
use crate::exporter::{Exporter, Feed};

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

/// What a run started by `gossipper server` hands its control API once it is bound.
pub(crate) struct Started<'a> {
    pub(crate) spec: &'a JobSpec,
    pub(crate) info: &'a RunInfo,
    pub(crate) scenario: &'a std::sync::Arc<Scenario>,
    pub(crate) control: std::sync::Arc<Control>,
}

/// Something that runs beside a SIPp-style run (`gossipper server`'s control API): started
/// once the run is bound, before the first call, and shown every tick.
pub(crate) trait Sidecar {
    /// Starts it; an error ends the run before it starts, with SIPp's bind error code.
    fn start(&mut self, run: &Started<'_>) -> Result<(), String>;
    /// Sees the merged statistics every tick (about every 50 ms, on the runner thread).
    fn on_tick(&mut self, tick: &Tick<'_>);
    /// Whether `Tick::finished` should be filled for it.
    fn wants_finished_calls(&self) -> bool {
        false
    }
    /// Whether each finished call should carry its SIP (`Finished::sip`).
    fn wants_call_sip(&self) -> bool {
        false
    }
}

/// The SIPp observer with a sidecar fed from the same ticks.
struct WithSidecar<'a> {
    inner: &'a mut SippObserver,
    sidecar: &'a mut dyn Sidecar,
}

impl Observer for WithSidecar<'_> {
    fn on_tick(&mut self, tick: &Tick<'_>) {
        self.inner.on_tick(tick);
        self.sidecar.on_tick(tick);
    }
    fn wants_finished_calls(&self) -> bool {
        self.inner.wants_finished_calls() || self.sidecar.wants_finished_calls()
    }
    fn wants_call_sip(&self) -> bool {
        self.sidecar.wants_call_sip()
    }
    fn message_trace(&mut self) -> Option<std::fs::File> {
        self.inner.message_trace()
    }
    fn short_message_trace(&mut self) -> Option<std::fs::File> {
        self.inner.short_message_trace()
    }
}

/// Runs `spec` to the end and returns SIPp's exit code.
pub(crate) fn run(spec: JobSpec) -> ExitCode {
    run_with(spec, None)
}

/// Runs `spec` to the end with `sidecar` beside it (if any) and returns SIPp's exit code.
pub(crate) fn run_with(spec: JobSpec, mut sidecar: Option<&mut dyn Sidecar>) -> ExitCode {
    if spec.background {
        return respawn_in_background();
    }
    let prepared = match runner::prepare(&spec) {
        Ok(p) => p,
        Err(e) => return report_error(&e).into(),
    };
    let start = std::time::SystemTime::now();
    let info = RunInfo::of_run(
        &prepared.scenario,
        &spec,
        prepared.local.port(),
        start,
        std::process::id(),
    );
    let metrics = match spec.trace.metrics_addr {
        Some(addr) => match start_metrics(addr, &info) {
            Ok(feed) => Some(feed),
            Err(e) => {
                eprintln!("gossipper: -metrics_addr {addr}: cannot listen: {e}");
                return Exit::BindError.into();
            }
        },
        None => None,
    };
    let control = prepared.control();
    if let Some(side) = sidecar.as_deref_mut() {
        let started = Started {
            spec: &spec,
            info: &info,
            scenario: &prepared.scenario,
            control: std::sync::Arc::clone(&control),
        };
        if let Err(e) = side.start(&started) {
            eprintln!("gossipper: {e}");
            return Exit::BindError.into();
        }
    }
    let signals = crate::signals::SignalCounts::install_with("gossipper", Some(exit_at_once));
    let keys = control::Keys::start(&spec, control);
    let shards = prepared.shards;
    let mut obs =
        match SippObserver::new(&spec, info.clone(), start, signals, keys, shards, metrics) {
            Ok(o) => o,
            Err(e) => {
                eprintln!("gossipper: {e}");
                return Exit::Fatal.into();
            }
        };
    let ran = match sidecar {
        Some(sidecar) => prepared.run(&mut WithSidecar {
            inner: &mut obs,
            sidecar,
        }),
        None => prepared.run(&mut obs),
    };
    let report = match ran {
        Ok(r) => r,
        Err(e) => return report_error(&e).into(),
    };
    obs.finish(&report);

    // Final screens on stdout, as SIPp prints them at exit.
    let live = obs.live_info(&report.stats);
    let input = ScreenInput {
        info: &info,
        prev: &obs.screen_prev,
        cur: &report.stats,
        period_start: obs.screen_prev_at,
        now: report.finished_at,
        live: &live,
        footer: Footer::Terminated,
    };
    let text = screen::closing_screens(Screen::Scenario, &input);
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
    drop(out);
    if let Some(path) = &spec.trace.screen_file {
        let _ = std::fs::write(path, screen::trace_screen(&input));
    }
    // The summary decides exit code 2 (its thresholds include the -health_* gates), so it
    // is built even when -summary_json does not ask for the file.
    let s = summary::of_run(
        &info,
        &spec,
        &report.stats,
        report.finished_at,
        &report.shard_calls,
    );
    if let Some(path) = &spec.trace.summary_json
        && let Err(e) = std::fs::write(path, summary::to_json(&s))
    {
        eprintln!("gossipper: cannot write {}: {e}", path.display());
    }
    if let Some(path) = &spec.trace.summary_html {
        let title = format!("gossipper: {}", info.scenario_name);
        let html = crate::report::render(&title, &s, &[]);
        if let Err(e) = std::fs::write(path, html) {
            eprintln!("gossipper: cannot write {}: {e}", path.display());
        }
    }
    let threshold_failed = s.thresholds.iter().any(|t| !t.pass);
    for t in s.thresholds.iter().filter(|t| !t.pass) {
        eprintln!("gossipper: threshold failed: {}", t.text);
    }
    let c = &report.stats.counters;
    let code = match report.end {
        RunEnd::StoppedNow => Exit::InternalCommand,
        RunEnd::TimedOut if spec.timeout_error => Exit::Fatal,
        _ if threshold_failed => Exit::HealthGateFailed,
        _ if c.failed_calls > 0 => Exit::SomeFailed,
        _ if c.successful_calls == 0 => Exit::NoCallsProcessed,
        _ => Exit::AllSucceeded,
    };
    code.into()
}

/// The run's `/metrics` listener, its samples labelled with the scenario and its role.
fn start_metrics(addr: std::net::SocketAddr, info: &RunInfo) -> std::io::Result<Feed> {
    let role = match info.role {
        gossipper_engine::scenario::Role::Client => "client",
        gossipper_engine::scenario::Role::Server => "server",
    };
    let labels = vec![
        ("scenario", info.scenario_name.clone()),
        ("role", role.to_string()),
    ];
    let exporter = Exporter::start(addr, labels)?;
    Ok(Feed::new(exporter, info.empty_stats()))
}

/// A second SIGINT or SIGTERM: the terminal back as it was, then the signal's default
/// action (the process ends at once, as if no handler were installed).
fn exit_at_once(signal: i32) {
    terminal::restore();
    let _ = signal_hook::low_level::emulate_default_handler(signal);
    // Not reached for INT and TERM, whose default action ends the process.
    std::process::exit(128 + signal);
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
        RunError::Config(_) | RunError::Refused(_) | RunError::Threshold(_) | RunError::Io(_) => {
            eprintln!("gossipper: {e}");
            Exit::Fatal
        }
    }
}
