//! What an extra engine of the server (an extra listener, a dynamic client) shows:
//! its newest merged statistics, and its SIP and finished calls handed to the server's
//! live trace and calls catalogue, as the primary engine's are.
//!
//! Owns: the engine's snapshot and the observer its runner calls every tick. Must not:
//! keep the server alive (it holds the server's state weakly: an engine still ending
//! after the server's state is gone shows nothing more).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::SystemTime;

use gossipper_engine::config::JobSpec;
use gossipper_engine::output::run_info::RunInfo;
use gossipper_engine::output::summary::{self, Summary};
use gossipper_engine::runner::{Observer, Prepared, Tick};
use gossipper_engine::scenario::Role;
use gossipper_engine::shard::Control;
use gossipper_engine::stats::ShardStats;

use super::api::State;

/// An engine's newest merged statistics.
pub(super) struct Snapshot {
    stats: ShardStats,
    shard_calls: Vec<u64>,
    at: SystemTime,
}

impl Snapshot {
    /// Nothing counted yet, as of `start`.
    pub(super) fn new(info: &RunInfo, start: SystemTime) -> Arc<Mutex<Snapshot>> {
        Arc::new(Mutex::new(Snapshot {
            stats: info.empty_stats(),
            shard_calls: Vec::new(),
            at: start,
        }))
    }

    /// The run's summary as of its last tick.
    pub(super) fn summary(live: &Mutex<Snapshot>, info: &RunInfo, spec: &JobSpec) -> Summary {
        let s = live.lock().unwrap_or_else(|p| p.into_inner());
        summary::of_run(info, spec, &s.stats, s.at, &s.shard_calls)
    }
}

/// An extra engine running on its own thread.
pub(super) struct Spawned {
    pub(super) info: RunInfo,
    pub(super) live: Arc<Mutex<Snapshot>>,
    pub(super) control: Arc<Control>,
    /// Set when its runner returned.
    pub(super) ended: Arc<AtomicBool>,
}

/// Runs `prepared` (of `spec`) on a thread named `thread`, fed to the server's state
/// like the primary engine (its capture switch as the server's); `what` names it in the
/// log when its run fails.
pub(super) fn spawn(
    prepared: Prepared,
    spec: &JobSpec,
    state: &Arc<State>,
    thread: String,
    what: &'static str,
) -> std::io::Result<Spawned> {
    let start = SystemTime::now();
    let info = RunInfo::of_run(
        &prepared.scenario,
        spec,
        prepared.local.port(),
        start,
        std::process::id(),
    );
    let live = Snapshot::new(&info, start);
    let control = prepared.control();
    control.set_capturing(state.control().capturing());
    let ended = Arc::new(AtomicBool::new(false));
    let mut feed = Feed {
        live: Arc::clone(&live),
        sink: Arc::downgrade(state),
        role: prepared.role,
        name: prepared.scenario.name.clone(),
    };
    let done = Arc::clone(&ended);
    std::thread::Builder::new().name(thread).spawn(move || {
        if let Err(e) = prepared.run(&mut feed) {
            eprintln!("gossipper server: {what} stopped: {e}");
        }
        done.store(true, Ordering::Relaxed);
    })?;
    Ok(Spawned {
        info,
        live,
        control,
        ended,
    })
}

/// The observer of an extra engine's runner.
pub(super) struct Feed {
    pub(super) live: Arc<Mutex<Snapshot>>,
    /// The server's state, the engine's role and scenario name.
    pub(super) sink: Weak<State>,
    pub(super) role: Role,
    pub(super) name: String,
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
        if let Some(state) = self.sink.upgrade() {
            state.record(tick, self.role, &self.name);
        }
    }

    fn wants_finished_calls(&self) -> bool {
        true
    }

    /// Its rows show each call's From, To, peer and SIP counts.
    fn wants_call_sip(&self) -> bool {
        true
    }
}
