//! The server's extra SIP listeners (`-config`'s `listeners[]` after the first): each an
//! engine of its own in the server's process, running the primary engine's scenario
//! (or the row's own `scenario_name` / `scenario_file`) on its own transport, address
//! and port (the primary engine has the first row). A gateway account the row names
//! (`gateways[].listener`) is registered from its socket, so the registrar's INVITEs
//! for it reach this listener's scenario.
//!
//! Owns: starting them with the server (all bound before the API serves, or the server
//! does not start), their statistics, and their listener switch
//! (`/api/v1/transports` index 1, 2, …). Their SIP goes to the server's live trace and
//! their finished calls to its catalogue (and `calls.sqlite`), as the primary's do.
//! Must not: write files (no screen, no trace files, no summary: the primary engine's
//! own), or outlive the server (stopped with it).
//!
//! A live scenario replacement (`/api/v1/scenario`) reaches those running the server's
//! scenario with the primary engine: the same checked scenario, handed to each engine's
//! shards. A listener with a scenario of its own keeps it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gossipper_engine::config::{JobSpec, ScenarioSource};
use gossipper_engine::output::run_info::RunInfo;
use gossipper_engine::output::summary::Summary;
use gossipper_engine::runner;
use gossipper_engine::scenario::{Role, builtin};
use gossipper_engine::shard::Control;

use super::api::State;
use super::config::RowScenario;
use super::feed::Snapshot;

/// One extra listener's engine.
pub(super) struct Listener {
    /// `listener-1`, `listener-2`… (the index in `/api/v1/transports`).
    pub(super) id: String,
    pub(super) transport: String,
    pub(super) port: u16,
    pub(super) control: Arc<Control>,
    /// Runs the row's own scenario (a live replacement of the server's passes it by).
    pub(super) own_scenario: bool,
    info: RunInfo,
    spec: JobSpec,
    live: Arc<Mutex<Snapshot>>,
    ended: Arc<AtomicBool>,
}

/// One extra listener's resolved run.
pub(super) struct Run {
    pub(super) spec: JobSpec,
    /// The row gave its own scenario.
    pub(super) own_scenario: bool,
}

/// A row's own scenario as the engine takes it (a built-in's name checked here; a file
/// is read when the listener starts, as the server's `-sf` is). The error names the key.
pub(super) fn own_scenario(s: &RowScenario) -> Result<ScenarioSource, String> {
    match s {
        RowScenario::Name(n) => match builtin::get(n) {
            Some(b) => Ok(ScenarioSource::Builtin(b.id.into())),
            None => Err(format!(
                "scenario_name: \"{n}\" is not a built-in scenario (they are: {})",
                builtin::all()
                    .iter()
                    .map(|b| b.id)
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        },
        RowScenario::File(p) if p.is_file() => Ok(ScenarioSource::File(p.clone())),
        RowScenario::File(p) => Err(format!(
            "scenario_file: {} is not a file that can be read",
            p.display()
        )),
    }
}

/// The resolved run of each extra listener (the primary's spec with the row's
/// transport, address and port), writing no files, on one shard, without `-m`.
pub(super) fn quiet(mut spec: JobSpec) -> JobSpec {
    spec.trace = Default::default();
    spec.health = Default::default();
    spec.thresholds.clear();
    spec.record_dir = None;
    spec.background = false;
    spec.max_calls = None;
    // One shard each: they share the machine with the primary's.
    spec.shards = Some(1);
    spec
}

/// Starts every listener (`specs` from [`quiet`]), each on its own runner thread; the
/// first that cannot start stops those started and is the error.
pub(super) fn start(runs: Vec<Run>, state: &Arc<State>) -> Result<Vec<Listener>, String> {
    let mut out: Vec<Listener> = Vec::new();
    for (i, run) in runs.into_iter().enumerate() {
        let id = format!("listener-{}", i + 1);
        match start_one(&id, run, state) {
            Ok(l) => out.push(l),
            Err(e) => {
                stop_all(&out, Duration::from_secs(1));
                return Err(format!("listeners[{}]: {e}", i + 1));
            }
        }
    }
    Ok(out)
}

fn start_one(id: &str, run: Run, state: &Arc<State>) -> Result<Listener, String> {
    let Run { spec, own_scenario } = run;
    let prepared = runner::prepare(&spec).map_err(|e| e.to_string())?;
    if prepared.role != Role::Server {
        return Err(format!(
            "scenario \"{}\" places calls: a listener answers them (a UAS scenario)",
            prepared.scenario.name
        ));
    }
    let super::feed::Spawned {
        info,
        live,
        control,
        ended,
    } = super::feed::spawn(prepared, &spec, state, id.to_string(), "listener")
        .map_err(|e| format!("cannot start its thread: {e}"))?;
    let transport = info.run.transport.to_ascii_lowercase();
    let port = info.run.local_port;
    eprintln!("gossipper server: {id} listening on {transport} port {port}");
    Ok(Listener {
        id: id.to_string(),
        transport,
        port,
        control,
        own_scenario,
        info,
        spec,
        live,
        ended,
    })
}

impl Listener {
    /// Its summary as of its last tick.
    pub(super) fn summary(&self) -> Summary {
        Snapshot::summary(&self.live, &self.info, &self.spec)
    }
}

/// Stops every listener when the server ends: no new calls, `grace` for the calls in
/// flight, then the rest aborted.
pub(super) fn stop_all(listeners: &[Listener], grace: Duration) {
    if listeners.is_empty() {
        return;
    }
    let all_ended = || listeners.iter().all(|l| l.ended.load(Ordering::Relaxed));
    let wait = |limit: Duration| {
        let step = Duration::from_millis(50);
        let mut waited = Duration::ZERO;
        while !all_ended() && waited < limit {
            std::thread::sleep(step);
            waited += step;
        }
    };
    for l in listeners {
        l.control.soft_quit();
    }
    wait(grace);
    for l in listeners {
        l.control.hard_quit();
    }
    wait(Duration::from_secs(1));
}
