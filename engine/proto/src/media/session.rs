//! The media state of one call inside a shard's `MediaEngine`: the peer's addresses, the
//! streams it plays, its receiver, its recording and its `rtpcheck`.
//!
//! Owns: per-call bookkeeping and the small decisions that need nothing but the call
//! (when the automatic recording starts, whether a call still waits for media to latch
//! to, an `rtpcheck` verdict). Must not: read a clock, touch the scheduler or a socket;
//! `MediaEngine` (in `media::mod`) drives it and passes `now`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use gossipper_media::record::DEFAULT_MAX_DURATION;
use gossipper_media::{
    CallRecorder, Direction, RecordMode, RtpReceiver, SourcePolicy, StreamHandle,
};

use super::sdp::RemoteMedia;
use super::srtp::CallSrtp;
use crate::config::RecordCalls;
use crate::scenario::media::RtpCheck;

/// The recorder mode of every call's automatic recording, `None` when off.
pub(super) fn record_mode(r: RecordCalls) -> Option<RecordMode> {
    match r {
        RecordCalls::Off => None,
        RecordCalls::Mono => Some(RecordMode::Mono(Direction::Received)),
        RecordCalls::Duplex => Some(RecordMode::Duplex),
    }
}

/// A running recording of a call.
#[derive(Debug)]
pub(super) struct Recording {
    pub(super) recorder: CallRecorder,
    pub(super) path: PathBuf,
    /// It records what we send (duplex or mono-sent), so sent packets are fed to it.
    pub(super) sent: bool,
    /// Started by `RecordCalls`, not by an `rtp_record` action.
    pub(super) automatic: bool,
}

/// An `rtpcheck` of the call and, once known, its verdict.
#[derive(Clone, Copy, Debug)]
pub(super) struct CheckState {
    pub(super) check: RtpCheck,
    /// `timeout_ms` after the action: the verdict is taken then.
    pub(super) deadline: Option<Instant>,
    /// `Some(passed)` once taken (at the deadline, else when the call ends).
    pub(super) verdict: Option<bool>,
}

impl CheckState {
    pub(super) fn new(now: Instant, check: RtpCheck) -> CheckState {
        CheckState {
            check,
            deadline: check.timeout_ms.map(|ms| now + Duration::from_millis(ms)),
            verdict: None,
        }
    }

    /// Whether `sent` and `received` packets meet the threshold.
    pub(super) fn passes(&self, sent: u64, received: u64) -> bool {
        self.check.passes(sent, received)
    }
}

/// One call's media.
#[derive(Debug)]
pub(super) struct Session {
    pub(super) remote: RemoteMedia,
    pub(super) latched: Option<SocketAddr>,
    pub(super) audio: Option<StreamHandle>,
    pub(super) audio_is_pcap: bool,
    /// The `play_pcap_video` or `play_pcap_image` replay.
    pub(super) video: Option<StreamHandle>,
    pub(super) dtmf: Option<StreamHandle>,
    pub(super) receiver: RtpReceiver,
    pub(super) recorder: Option<Box<Recording>>,
    /// The automatic recording's file, until the first RTP packet starts it.
    pub(super) auto_record: Option<Box<PathBuf>>,
    pub(super) echo: bool,
    /// `-media_srtp`: the call's SDES keys and contexts, once a keyword or an SDP made them.
    pub(super) srtp: Option<Box<CallSrtp>>,
    /// Without an SRTP flag: the peer's SDP asked for SRTP, so media cannot start.
    pub(super) srtp_unanswered: bool,
    /// Our RTCP SSRC (and the SSRC of the first generated stream).
    pub(super) ssrc: u32,
    /// SSRCs of every stream this call sent (routes echoes until the call ends).
    pub(super) ssrcs: Vec<u32>,
    /// The peer's streams (source, SSRC) bound to this call (`MediaEngine::by_peer_ssrc`).
    pub(super) peer_ssrcs: Vec<(SocketAddr, u32)>,
    pub(super) sent_packets: u64,
    pub(super) sent_octets: u64,
    pub(super) rtcp_sender_reports: u64,
    pub(super) rtcp_next: Option<Instant>,
    pub(super) check: Option<CheckState>,
    /// Packets received when the peer's audio address last changed: a call waits for
    /// media (and may latch to a new source) until it receives more.
    pub(super) received_at_move: u64,
    /// The call's Call-ID, kept only when RTCP reports are copied for HEP (their
    /// correlation id).
    pub(super) call_id: Option<Box<[u8]>>,
}

impl Session {
    pub(super) fn new(ssrc: u32, auto_record: Option<PathBuf>) -> Session {
        let mut receiver = RtpReceiver::new(SourcePolicy::Any, 8000);
        receiver.set_local_ssrc(ssrc);
        Session {
            remote: RemoteMedia::default(),
            latched: None,
            audio: None,
            audio_is_pcap: false,
            video: None,
            dtmf: None,
            receiver,
            recorder: None,
            auto_record: auto_record.map(Box::new),
            echo: false,
            srtp: None,
            srtp_unanswered: false,
            ssrc,
            ssrcs: Vec::new(),
            peer_ssrcs: Vec::new(),
            sent_packets: 0,
            sent_octets: 0,
            rtcp_sender_reports: 0,
            rtcp_next: None,
            check: None,
            received_at_move: 0,
            call_id: None,
        }
    }

    /// No source adopted, and nothing received since the peer's address last changed.
    pub(super) fn waiting_for_media(&self) -> bool {
        self.latched.is_none() && self.receiver.stats().packets == self.received_at_move
    }

    /// Sent packets go to the recorder: it records them, or the automatic recording has
    /// not started yet (the first packet either way starts it).
    pub(super) fn records_sent(&self) -> bool {
        match &self.recorder {
            Some(r) => r.sent,
            None => self.auto_record.is_some(),
        }
    }

    /// The recorder, after starting the automatic recording (in `mode`) at `now` if this
    /// is the call's first RTP packet.
    pub(super) fn recorder_at(
        &mut self,
        now: Instant,
        mode: Option<RecordMode>,
    ) -> Option<&mut Recording> {
        if self.recorder.is_none()
            && let Some(mode) = mode
            && let Some(path) = self.auto_record.take()
        {
            self.recorder = Some(Box::new(Recording {
                recorder: CallRecorder::new(now, mode, DEFAULT_MAX_DURATION),
                path: *path,
                sent: mode != RecordMode::Mono(Direction::Received),
                automatic: true,
            }));
        }
        self.recorder.as_deref_mut()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::media::CheckDirection;

    fn check(min: u64, direction: CheckDirection) -> CheckState {
        CheckState::new(
            crate::sim::epoch(),
            RtpCheck {
                min_packets: min,
                timeout_ms: None,
                direction,
            },
        )
    }

    #[test]
    fn rtpcheck_directions_count_their_side() {
        assert!(check(5, CheckDirection::Any).passes(0, 5));
        assert!(check(5, CheckDirection::Any).passes(5, 0));
        assert!(!check(5, CheckDirection::Send).passes(4, 100));
        assert!(check(5, CheckDirection::Recv).passes(0, 5));
        assert!(!check(5, CheckDirection::Both).passes(5, 4));
        assert!(check(5, CheckDirection::Both).passes(5, 5));
    }

    #[test]
    fn the_automatic_recording_starts_once_at_the_first_packet() {
        let t0 = crate::sim::epoch();
        let mut s = Session::new(1, Some(PathBuf::from("r/c.wav")));
        assert!(s.records_sent(), "the first sent packet starts it");
        assert!(s.recorder_at(t0, None).is_none(), "off: never starts");
        let r = s
            .recorder_at(t0, record_mode(RecordCalls::Mono))
            .expect("started");
        assert!(r.automatic && !r.sent);
        assert_eq!(r.path, PathBuf::from("r/c.wav"));
        assert!(!s.records_sent(), "mono records what we receive");
        assert!(s.auto_record.is_none());
        let mut d = Session::new(1, Some(PathBuf::from("d.wav")));
        assert!(
            d.recorder_at(t0, record_mode(RecordCalls::Duplex))
                .unwrap()
                .sent
        );
        let mut none = Session::new(1, None);
        assert!(!none.records_sent());
        assert!(
            none.recorder_at(t0, record_mode(RecordCalls::Duplex))
                .is_none()
        );
    }
}
