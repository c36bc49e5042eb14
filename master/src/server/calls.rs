//! The calls catalogue of `gossipper server` (`/api/v2/calls`, reference §5.5): the last
//! [`KEEP`] finished calls, in memory, as CallSummary rows.
//!
//! Owns: the catalogue and the row of a finished call, made from what the runner hands
//! every tick (`Tick::finished`: Call-ID, outcome, duration, media numbers, and the
//! call's SIP as the engine noted it at every step: From, To, peer, message counts, so
//! complete at any rate and with the capture off). Must not:
//! keep messages of its own (a call's detail reads the trace ring, so a call whose
//! messages have left the ring shows none) or persist anything (`cdr` writes the rows
//! `add` returns to `calls.sqlite`).

use std::collections::VecDeque;
use std::time::{Duration, SystemTime};

use serde::Serialize;

use gossipper_engine::call::Outcome;
use gossipper_engine::scenario::Role;
use gossipper_engine::shard::{CallSip, Finished};

use super::trace::Record;
use crate::service::timefmt::rfc3339;

/// Finished calls kept.
pub(super) const KEEP: usize = 200;

/// One finished call (reference §5.5 CallSummary). A failed call has one debug record
/// (`debug`: why, where, on what); RTP samples are not collected: `rtp_*` carry the
/// call's packet counters.
#[derive(Clone, Debug, Serialize)]
pub(super) struct CallSummary {
    pub(super) call_id: String,
    pub(super) scenario: String,
    pub(super) from: String,
    pub(super) to: String,
    pub(super) peer: String,
    pub(super) direction: &'static str,
    pub(super) state: &'static str,
    pub(super) result: &'static str,
    pub(super) error: String,
    pub(super) started_at: String,
    pub(super) ended_at: String,
    pub(super) duration_ms: u64,
    pub(super) sip_count: u64,
    pub(super) sip_send: u64,
    pub(super) sip_recv: u64,
    pub(super) debug_count: u64,
    pub(super) rtp_count: u64,
    pub(super) rtp_send: u64,
    pub(super) rtp_recv: u64,
    pub(super) rtp_bytes_send: u64,
    pub(super) rtp_bytes_recv: u64,
    pub(super) rtp_dest: String,
    pub(super) rtp_src: String,
    pub(super) payload_type: Option<u8>,
    pub(super) codec: String,
    /// Why the call failed, where and on what (the engine's debug line; in memory only:
    /// a row read back from `calls.sqlite` has none).
    #[serde(skip)]
    pub(super) debug: Option<String>,
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
    /// Books the calls that finished at `ended` (only the newest [`KEEP`] of them stay
    /// in memory). With `all`, returns the rows of every one of them (for `calls.sqlite`);
    /// else nothing.
    pub(super) fn add(
        &mut self,
        finished: &[Finished],
        role: Role,
        scenario: &str,
        ended: SystemTime,
        all: bool,
    ) -> Vec<CallSummary> {
        let first = if all {
            0
        } else {
            finished.len().saturating_sub(KEEP)
        };
        let rows: Vec<CallSummary> = finished[first..]
            .iter()
            .map(|f| summary(f, role, scenario, ended))
            .collect();
        let kept = rows.len().saturating_sub(KEEP);
        let push = |calls: &mut VecDeque<CallSummary>, row: CallSummary| {
            if calls.len() == KEEP {
                calls.pop_front();
            }
            calls.push_back(row);
        };
        if all {
            for row in &rows[kept..] {
                push(&mut self.calls, row.clone());
            }
            rows
        } else {
            for row in rows.into_iter().skip(kept) {
                push(&mut self.calls, row);
            }
            Vec::new()
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

/// The row of a finished call.
fn summary(f: &Finished, role: Role, scenario: &str, ended: SystemTime) -> CallSummary {
    let (state, result, error) = match f.outcome {
        Outcome::Success => ("ended", "success", String::new()),
        Outcome::Failed(r) => ("failed", "failed", format!("{r:?}")),
    };
    let started = ended
        .checked_sub(Duration::from_micros(f.duration_us))
        .unwrap_or(ended);
    let m = &f.media;
    let none = CallSip::default();
    let sip = f.sip.as_deref().unwrap_or(&none);
    CallSummary {
        call_id: String::from_utf8_lossy(&f.call_id).into_owned(),
        scenario: scenario.to_owned(),
        from: String::from_utf8_lossy(sip.from()).into_owned(),
        to: String::from_utf8_lossy(sip.to()).into_owned(),
        peer: sip.peer.map(|p| p.to_string()).unwrap_or_default(),
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
        sip_count: u64::from(sip.sent) + u64::from(sip.received),
        sip_send: u64::from(sip.sent),
        sip_recv: u64::from(sip.received),
        debug_count: u64::from(sip.failure.is_some()),
        rtp_count: m.rtp_packets_sent + m.rtp_packets_received,
        rtp_send: m.rtp_packets_sent,
        rtp_recv: m.rtp_packets_received,
        rtp_bytes_send: m.rtp_octets_sent,
        rtp_bytes_recv: 0,
        rtp_dest: String::new(),
        rtp_src: String::new(),
        payload_type: None,
        codec: String::new(),
        debug: sip.failure.clone(),
    }
}

#[cfg(test)]
impl CallSummary {
    /// A finished, successful inbound call of 2.5 s.
    pub(super) fn for_test(call_id: &str) -> CallSummary {
        let f = Finished {
            number: 1,
            call_id: call_id.as_bytes().into(),
            outcome: Outcome::Success,
            duration_us: 2_500_000,
            media: Default::default(),
            webrtc: None,
            sip: None,
        };
        summary(&f, Role::Server, "uas", SystemTime::UNIX_EPOCH)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gossipper_engine::stats::FailureReason;

    fn finished(id: &str, outcome: Outcome, sip: Option<CallSip>) -> Finished {
        Finished {
            number: 1,
            call_id: id.as_bytes().into(),
            outcome,
            duration_us: 2_500_000,
            media: Default::default(),
            webrtc: None,
            sip: sip.map(Box::new),
        }
    }

    #[test]
    fn a_finished_call_shows_the_sip_the_engine_noted() {
        let mut sip = CallSip::with_fields("<sip:u@x>;tag=1", "<sip:s@y>");
        sip.peer = Some("127.0.0.1:5070".parse().unwrap());
        (sip.sent, sip.received) = (3, 4);
        let mut c = Catalogue::default();
        let end = SystemTime::UNIX_EPOCH + Duration::from_secs(100);
        c.add(
            &[
                finished("a@x", Outcome::Success, Some(sip)),
                finished(
                    "b@x",
                    Outcome::Failed(FailureReason::TimeoutOnRecv),
                    Some({
                        let mut sip = CallSip::default();
                        sip.failure = Some("call failed: TimeoutOnRecv at element 2".into());
                        sip
                    }),
                ),
            ],
            Role::Server,
            "uas",
            end,
            false,
        );
        let list = c.list();
        assert_eq!(list.len(), 2);
        let a = c.get("a@x").unwrap();
        assert_eq!(
            (a.from.as_str(), a.to.as_str(), a.peer.as_str()),
            ("<sip:u@x>;tag=1", "<sip:s@y>", "127.0.0.1:5070")
        );
        assert_eq!((a.sip_count, a.sip_send, a.sip_recv), (7, 3, 4));
        assert_eq!((a.debug_count, a.debug.as_deref()), (0, None));
        assert_eq!(
            (a.state, a.result, a.direction),
            ("ended", "success", "inbound")
        );
        assert_eq!(a.started_at, "1970-01-01T00:01:37.5Z");
        let b = &list[0];
        assert_eq!(
            (b.call_id.as_str(), b.state, b.error.as_str(), b.sip_count),
            ("b@x", "failed", "TimeoutOnRecv", 0)
        );
        assert_eq!(b.debug_count, 1);
        assert_eq!(
            b.debug.as_deref(),
            Some("call failed: TimeoutOnRecv at element 2")
        );
        for i in 0..KEEP + 3 {
            c.add(
                &[finished(&i.to_string(), Outcome::Success, None)],
                Role::Client,
                "uac",
                end,
                false,
            );
        }
        assert_eq!(c.list().len(), KEEP);
        assert_eq!(c.list()[0].call_id, (KEEP + 2).to_string());
    }
}
