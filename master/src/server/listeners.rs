//! The server's extra SIP listeners (`-config`'s `listeners[]` after the first): each an
//! engine of its own in the server's process, running the primary engine's scenario on
//! its own transport, address and port (the primary engine has the first row).
//!
//! Owns: starting them with the server (all bound before the API serves, or the server
//! does not start), their statistics, and their listener switch
//! (`/api/v1/transports` index 1, 2, …). Their SIP goes to the server's live trace and
//! their finished calls to its catalogue (and `calls.sqlite`), as the primary's do.
//! Must not: write files (no screen, no trace files, no summary: the primary engine's
//! own), or outlive the server (stopped with it).
//!
//! They keep the scenario they started with: a live scenario replacement
//! (`/api/v1/scenario`) reaches the primary engine only.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, SystemTime};

use gossipper_engine::config::JobSpec;
use gossipper_engine::output::run_info::RunInfo;
use gossipper_engine::output::summary::{self, Summary};
use gossipper_engine::runner::{self, Observer, Tick};
use gossipper_engine::scenario::Role;
use gossipper_engine::shard::Control;
use gossipper_engine::stats::ShardStats;

use super::api::State;

/// One extra listener's engine.
pub(super) struct Listener {
    /// `listener-1`, `listener-2`… (the index in `/api/v1/transports`).
    pub(super) id: String,
    pub(super) transport: String,
    pub(super) port: u16,
    pub(super) control: Arc<Control>,
    info: RunInfo,
    spec: JobSpec,
    live: Arc<Mutex<Snapshot>>,
    ended: Arc<AtomicBool>,
}

struct Snapshot {
    stats: ShardStats,
    shard_calls: Vec<u64>,
    at: SystemTime,
}

/// Feeds a listener's ticks into its snapshot, and its SIP and finished calls into the
/// server's trace and catalogue.
struct Feed {
    live: Arc<Mutex<Snapshot>>,
    state: Weak<State>,
    name: String,
}

impl Observer for Feed {
    fn on_tick(&mut self, tick: &Tick<'_>) {
        {
            let mut s = self.live.lock().unwrap_or_else(|p| p.into_inner());
            s.stats.clone_from(tick.stats);
            s.shard_calls.clear();
            s.shard_calls.extend_from_slice(tick.shard_calls);
            s.at = tick.wall;
        }
        if let Some(state) = self.state.upgrade() {
            state.record(tick, &self.name);
        }
    }

    fn wants_finished_calls(&self) -> bool {
        true
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
pub(super) fn start(specs: Vec<JobSpec>, state: &Arc<State>) -> Result<Vec<Listener>, String> {
    let mut out: Vec<Listener> = Vec::new();
    for (i, spec) in specs.into_iter().enumerate() {
        let id = format!("listener-{}", i + 1);
        match start_one(&id, spec, state) {
            Ok(l) => out.push(l),
            Err(e) => {
                stop_all(&out, Duration::from_secs(1));
                return Err(format!("listeners[{}]: {e}", i + 1));
            }
        }
    }
    Ok(out)
}

fn start_one(id: &str, spec: JobSpec, state: &Arc<State>) -> Result<Listener, String> {
    let prepared = runner::prepare(&spec).map_err(|e| e.to_string())?;
    if prepared.role != Role::Server {
        return Err(format!(
            "scenario \"{}\" places calls: a listener answers them (a UAS scenario)",
            prepared.scenario.name
        ));
    }
    let start = SystemTime::now();
    let info = RunInfo::of_run(
        &prepared.scenario,
        &spec,
        prepared.local.port(),
        start,
        std::process::id(),
    );
    let live = Arc::new(Mutex::new(Snapshot {
        stats: info.empty_stats(),
        shard_calls: Vec::new(),
        at: start,
    }));
    let control = prepared.control();
    control.set_capturing(state.control().capturing());
    let ended = Arc::new(AtomicBool::new(false));
    let mut feed = Feed {
        live: Arc::clone(&live),
        state: Arc::downgrade(state),
        name: prepared.scenario.name.clone(),
    };
    let done = Arc::clone(&ended);
    std::thread::Builder::new()
        .name(id.to_string())
        .spawn(move || {
            if let Err(e) = prepared.run(&mut feed) {
                eprintln!("gossipper server: listener stopped: {e}");
            }
            done.store(true, Ordering::Relaxed);
        })
        .map_err(|e| format!("cannot start its thread: {e}"))?;
    let transport = info.run.transport.to_ascii_lowercase();
    let port = info.run.local_port;
    eprintln!("gossipper server: {id} listening on {transport} port {port}");
    Ok(Listener {
        id: id.to_string(),
        transport,
        port,
        control,
        info,
        spec,
        live,
        ended,
    })
}

impl Listener {
    /// Its summary as of its last tick.
    pub(super) fn summary(&self) -> Summary {
        let s = self.live.lock().unwrap_or_else(|p| p.into_inner());
        summary::of_run(&self.info, &self.spec, &s.stats, s.at, &s.shard_calls)
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
