//! Shared helpers of the stream transport tests: gossipper runs in-process (so a test can
//! read every counter and warning), and specs for a UAC or UAS on 127.0.0.1.

#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;

use gossipper_engine::call::ShardEvent;
use gossipper_engine::config::{JobSpec, ScenarioSource, TransportMode};
use gossipper_engine::runner::{self, Observer, RunReport, Tick};
use gossipper_engine::stats::Counters;

/// What an in-process run ended with.
#[derive(Debug)]
pub struct Outcome {
    pub counters: Counters,
    pub warnings: Vec<String>,
}

#[derive(Default)]
struct Collect {
    warnings: Vec<String>,
    /// Calls alive in the run at the last tick, for a test to wait on.
    live_calls: Arc<AtomicU64>,
}

impl Observer for Collect {
    fn on_tick(&mut self, tick: &Tick<'_>) {
        self.live_calls
            .store(tick.stats.current_calls, Ordering::Relaxed);
        for e in tick.events {
            if let ShardEvent::Warning(t) | ShardEvent::Error(t) = e {
                self.warnings.push(t.clone());
            }
        }
    }
}

pub fn mode(code: &str) -> TransportMode {
    TransportMode::parse(code).expect("transport code")
}

/// A one-shard spec on 127.0.0.1 for built-in scenario `scn`.
pub fn spec(scn: &str, transport: &str, local_port: u16, remote: Option<SocketAddr>) -> JobSpec {
    JobSpec {
        scenario: ScenarioSource::Builtin(scn.into()),
        transport: mode(transport),
        local_ip: Some("127.0.0.1".parse().expect("ip")),
        local_port: Some(local_port),
        remote,
        remote_host: remote.map(|r| r.to_string()),
        shards: Some(1),
        rate: 20.0,
        global_timeout_ms: Some(60_000),
        ..JobSpec::default()
    }
}

/// Binds now (so a client can connect right after) and runs on a thread.
pub fn start(spec: JobSpec) -> JoinHandle<Outcome> {
    start_watched(spec).0
}

/// `start`, plus the number of calls the run holds right now (updated every tick,
/// about 50 ms), for a test that must act while calls are in progress.
pub fn start_watched(spec: JobSpec) -> (JoinHandle<Outcome>, Arc<AtomicU64>) {
    let prepared =
        runner::prepare(&spec).unwrap_or_else(|e| panic!("prepare {:?}: {e}", spec.transport));
    let live_calls = Arc::new(AtomicU64::new(0));
    let watched = Arc::clone(&live_calls);
    let handle = std::thread::spawn(move || {
        let mut obs = Collect {
            live_calls: watched,
            ..Collect::default()
        };
        let report: RunReport = prepared.run(&mut obs).expect("run");
        Outcome {
            counters: report.stats.counters,
            warnings: obs.warnings,
        }
    });
    (handle, live_calls)
}

/// Joins a run started by `start`.
pub fn finish(h: JoinHandle<Outcome>) -> Outcome {
    h.join().expect("run thread")
}
