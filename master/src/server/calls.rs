//! The calls catalogue of `gossipper server` (`/api/v2/calls`, reference §5.5): the last
//! [`KEEP`] finished calls, in memory, as CallSummary rows.
//!
//! Owns: the catalogue and the row of a finished call, made from what the runner hands
//! every tick (`Tick::finished`: Call-ID, outcome, duration, media numbers) and from
//! the live trace's records of that Call-ID (From, To, peer, SIP counts). Must not:
//! keep messages of its own (a call's detail reads the trace ring, so a call whose
//! messages have left the ring shows none) or persist anything (no SQLite yet).

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, SystemTime};

use serde::Serialize;

use gossipper_engine::call::Outcome;
use gossipper_engine::scenario::Role;
use gossipper_engine::shard::Finished;

use super::trace::{Record, Ring};
use crate::service::timefmt::rfc3339;

/// Finished calls kept.
pub(super) const KEEP: usize = 200;

/// One finished call (reference §5.5 CallSummary). Debug and RTP samples are not
/// collected: their counts are 0, and `rtp_*` carry the call's packet counters.
#[derive(Clone, Debug, Serialize)]
pub(super) struct CallSummary {
    pub(super) call_id: String,
    scenario: String,
    from: String,
    to: String,
    peer: String,
    direction: &'static str,
    state: &'static str,
    result: &'static str,
    error: String,
    started_at: String,
    ended_at: String,
    duration_ms: u64,
    sip_count: u64,
    sip_send: u64,
    sip_recv: u64,
    debug_count: u64,
    rtp_count: u64,
    rtp_send: u64,
    rtp_recv: u64,
    rtp_bytes_send: u64,
    rtp_bytes_recv: u64,
    rtp_dest: String,
    rtp_src: String,
    payload_type: Option<u8>,
    codec: String,
}

/// CallSummary plus the call's SIP records (reference §5.5 CallDetail).
#[derive(Serialize)]
pub(super) struct CallDetail {
    #[serde(flatten)]
    pub(super) summary: CallSummary,
    pub(super) sip: Vec<Record>,
    pub(super) debug: Vec<Record>,
    pub(super) rtp: Vec<serde_json::Value>,
}

/// The catalogue, newest last.
#[derive(Default)]
pub(super) struct Catalogue {
    calls: VecDeque<CallSummary>,
}

impl Catalogue {
    /// Books the calls that finished at `ended` (only the newest [`KEEP`] of them matter).
    pub(super) fn add(
        &mut self,
        finished: &[Finished],
        ring: &Ring,
        role: Role,
        scenario: &str,
        ended: SystemTime,
    ) {
        let newest = &finished[finished.len().saturating_sub(KEEP)..];
        if newest.is_empty() {
            return;
        }
        let mut rows: Vec<CallSummary> = newest
            .iter()
            .map(|f| summary(f, role, scenario, ended))
            .collect();
        let mut by_id: HashMap<&str, usize> = HashMap::with_capacity(rows.len());
        for (i, r) in rows.iter().enumerate() {
            by_id.insert(r.call_id.as_str(), i);
        }
        let mut seen: Vec<SipSeen> = vec![SipSeen::default(); rows.len()];
        for rec in ring.records() {
            if let Some(&i) = by_id.get(rec.call_id.as_str()) {
                seen[i].add(rec);
            }
        }
        for (row, s) in rows.iter_mut().zip(seen) {
            row.from = s.from;
            row.to = s.to;
            row.peer = s.peer;
            row.sip_send = s.send;
            row.sip_recv = s.recv;
            row.sip_count = s.send + s.recv;
        }
        for row in rows {
            if self.calls.len() == KEEP {
                self.calls.pop_front();
            }
            self.calls.push_back(row);
        }
    }

    /// Newest first.
    pub(super) fn list(&self) -> Vec<CallSummary> {
        self.calls.iter().rev().cloned().collect()
    }

    /// The newest call with this Call-ID.
    pub(super) fn get(&self, call_id: &str) -> Option<CallSummary> {
        self.calls
            .iter()
            .rev()
            .find(|c| c.call_id == call_id)
            .cloned()
    }

    pub(super) fn clear(&mut self) {
        self.calls.clear();
    }
}

/// What the trace shows of one call.
#[derive(Clone, Default)]
struct SipSeen {
    from: String,
    to: String,
    peer: String,
    send: u64,
    recv: u64,
}

impl SipSeen {
    fn add(&mut self, r: &Record) {
        if self.send + self.recv == 0 {
            self.from.clone_from(&r.from);
            self.to.clone_from(&r.to);
            self.peer.clone_from(&r.peer);
        }
        if r.dir == "send" {
            self.send += 1;
        } else {
            self.recv += 1;
        }
    }
}

/// The row of a finished call (SIP fields filled from the trace by `add`).
fn summary(f: &Finished, role: Role, scenario: &str, ended: SystemTime) -> CallSummary {
    let (state, result, error) = match f.outcome {
        Outcome::Success => ("ended", "success", String::new()),
        Outcome::Failed(r) => ("failed", "failed", format!("{r:?}")),
    };
    let started = ended
        .checked_sub(Duration::from_micros(f.duration_us))
        .unwrap_or(ended);
    let m = &f.media;
    CallSummary {
        call_id: String::from_utf8_lossy(&f.call_id).into_owned(),
        scenario: scenario.to_owned(),
        from: String::new(),
        to: String::new(),
        peer: String::new(),
        direction: match role {
            Role::Server => "inbound",
            Role::Client => "outbound",
        },
        state,
        result,
        error,
        started_at: rfc3339(started),
        ended_at: rfc3339(ended),
        duration_ms: f.duration_us / 1000,
        sip_count: 0,
        sip_send: 0,
        sip_recv: 0,
        debug_count: 0,
        rtp_count: m.rtp_packets_sent + m.rtp_packets_received,
        rtp_send: m.rtp_packets_sent,
        rtp_recv: m.rtp_packets_received,
        rtp_bytes_send: m.rtp_octets_sent,
        rtp_bytes_recv: 0,
        rtp_dest: String::new(),
        rtp_src: String::new(),
        payload_type: None,
        codec: String::new(),
    }
}
