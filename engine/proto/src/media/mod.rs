//! RTP media of one shard, sans-IO: the glue between the calls' media actions, the
//! `gossipper-media` state machines and the shard's RTP socket.
//!
//! Owns: one [`RtpScheduler`] for every outgoing stream of the shard (a timer wheel, no
//! task or timer per stream), the per-call media sessions (the peer's addresses from the
//! SDP of the call's SIP messages, an [`RtpReceiver`] with RFC 3550 loss and jitter, an
//! optional [`CallRecorder`], RTCP SR/RR every 500 ms, `rtpcheck`), the `-rtp_echo` echo,
//! the automatic recording of every call ([`RecordCalls`]) and the shard's media
//! counters. The scenario's media actions run in `actions`. Must not: read a clock, touch
//! a socket or a file: the endpoint gives `now` (and the wall clock for RTCP) and feeds
//! datagrams; the shell sends what [`MediaEngine::poll_transmit`] hands out and writes
//! the recordings of [`MediaEngine::poll_recording`].
//!
//! Drive loop (the `Endpoint` forwards each step), in this order:
//!
//! ```text
//! commands:  after each call step, its media actions (parsed when the scenario loaded)
//!            → handle_command; every SIP message of a call → handle_sip (SDP: c=, m=…)
//! receive:   handle_datagram(now, src, bytes) for each datagram on the media port
//! timers:    handle_timeout(now, wall)   — due packets, RTCP, rtpcheck timeouts,
//!                                          finished streams
//! output:    poll_transmit(&mut batch) → sendmmsg; poll_recording() → write the WAV,
//!            then note_recording(result); poll_warning() → the run's log
//! sleep:     until poll_timeout()
//! call end:  end_call(number) → the call's CallMedia for call_records.jsonl
//!            and the rtpcheck verdict (a failed one fails the call: FailureReason::RtpCheck)
//! ```
//!
//! The parts: `routing` (the peer's addresses from SDP, and which call a datagram belongs
//! to: SSRC, source address, latching), `actions` (the scenario's media commands),
//! `rtcp` (SR/RR), `rtpcheck` (the verdict), `session` (one call's media state), `sdp`,
//! `library` (the files, loaded once) and `tx` (the output queue).

mod actions;
mod dtls;
pub mod library;
mod report_copies;
pub use report_copies::ReportCopy;
mod routing;
mod rtcp;
mod rtpcheck;
pub mod sdp;
mod session;
pub mod srtp;
mod tx;

#[cfg(test)]
mod tests;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use gossipper_media::rtp::{RtpPacket, looks_like_rtcp};
use gossipper_media::stream::PTIME;
use gossipper_media::{
    CallRecorder, Conditions, Direction, Received, RtpEcho, RtpScheduler, RtpStream,
    SchedulerEvent, StreamConfig, StreamHandle, StreamSource, quality,
};

use self::library::MediaLibrary;
use self::session::Session;
use self::session::record_mode;
pub use self::srtp::SrtpPolicy;
pub use self::tx::{MediaTransmit, MediaTx};
pub use crate::config::RecordCalls;
use crate::scenario::media::PcapTarget;
use crate::stats::media::CallMedia;
use crate::stats::media::MediaStats;
use gossipper_media::srtp::SrtpError;

/// How long after the command a stream sends its first packet: the media loop picks
/// the new deadline up on its next turn instead of finding it already late.
pub const START_DELAY: Duration = Duration::from_millis(2);
/// RTCP report interval (gossipper sends an SR or RR every 500 ms).
pub const RTCP_INTERVAL: Duration = Duration::from_millis(500);
/// Shortest gap between two media turns: packets due within it leave together, so a
/// dense schedule costs one wake-up (and one sendmmsg) per 0.5 ms instead of one per
/// packet, and no packet waits more than this for its turn.
pub const TURN_INTERVAL: Duration = Duration::from_micros(500);
/// RFC 4733 payload type of our DTMF events (the built-in scenarios offer 101).
const DTMF_PAYLOAD_TYPE: u8 = 101;
/// Room left after each queued datagram for an SRTP tag, or an SRTCP index and tag
/// (20 bytes: AES-GCM's 16-byte tag and the index word).
const SRTP_ROOM: usize = 20;
/// Calls scanned when a packet from an unknown source looks for a call to latch to.
const LATCH_SCAN: usize = 64;

/// Settings of a shard's media, fixed for the run.
#[derive(Clone, Debug)]
pub struct MediaConfig {
    /// `-rtp_echo`: echo every datagram received on the media port to its source.
    pub echo_all: bool,
    /// Where `rtp_record` without a path (and [`RecordCalls`]) writes `<call-id>.wav`.
    pub record_dir: PathBuf,
    /// What a relative `rtp_record` path is joined to: a job's own folder (the file rule,
    /// `files::FileAccess::write_base`), or empty for the working directory.
    pub write_base: PathBuf,
    /// Record every call automatically (`-record_wav_dir`, `-record_wav_duplex`).
    pub record_calls: RecordCalls,
    /// RTCP report interval; `None`: no RTCP.
    pub rtcp_interval: Option<Duration>,
    /// Our RTCP CNAME.
    pub cname: Vec<u8>,
    /// Shortest gap between two turns (`TURN_INTERVAL`; zero: wake for every deadline).
    pub turn_interval: Duration,
    /// `-media_srtp` / `-media_reject_srtp`.
    pub srtp: SrtpPolicy,
    /// `-send_media_report`: keep a clear copy of every RTCP report sent and received
    /// for the HEP export (`poll_report_copies`).
    pub copy_reports: bool,
}

impl Default for MediaConfig {
    fn default() -> Self {
        MediaConfig {
            echo_all: false,
            record_dir: PathBuf::from("recordings"),
            write_base: PathBuf::new(),
            record_calls: RecordCalls::Off,
            rtcp_interval: Some(RTCP_INTERVAL),
            cname: b"gossipper".to_vec(),
            turn_interval: TURN_INTERVAL,
            srtp: SrtpPolicy::Off,
            copy_reports: false,
        }
    }
}

/// A finished recording the shard should write.
#[derive(Debug)]
pub struct PendingRecording {
    pub path: PathBuf,
    pub recorder: Box<CallRecorder>,
}

/// Who a stream belongs to and where its packets go.
#[derive(Clone, Copy, Debug)]
struct Owner {
    call: u64,
    dest: SocketAddr,
    ssrc: u32,
    /// Pcap payloads carry the capture's SSRC: rewrite it to `ssrc`.
    rewrite_ssrc: bool,
    /// Feed sent packets to the call's recorder.
    record: bool,
    /// Which of the peer's addresses it follows when an SDP moves them.
    target: PcapTarget,
}

/// What `end_call` hands back about a call's media.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct EndedMedia {
    /// The call's media numbers (call_records.jsonl).
    pub media: CallMedia,
    /// The call had an `rtpcheck` and it failed: the call fails (`FailureReason::RtpCheck`).
    pub rtpcheck_failed: bool,
}

/// The media of one shard. See the module docs for the drive loop.
#[derive(Debug)]
pub struct MediaEngine {
    lib: Arc<MediaLibrary>,
    cfg: MediaConfig,
    scheduler: RtpScheduler,
    sessions: HashMap<u64, Session>,
    by_source: HashMap<SocketAddr, u64>,
    by_ssrc: HashMap<u32, u64>,
    /// The peer's streams by source and SSRC, once seen: several calls from one peer
    /// address (a load generator sending every call from one media socket) are told apart
    /// by their SSRCs. Keyed by source too: SIPp replays one capture, SSRC and all, for
    /// every call, each from its own port.
    by_peer_ssrc: HashMap<(SocketAddr, u32), u64>,
    /// Calls whose SDP named this address and which have no peer SSRC yet, oldest first:
    /// a new SSRC from the address belongs to the first of them.
    unbound: HashMap<SocketAddr, VecDeque<u64>>,
    /// Calls with an SDP address that have received nothing yet (for latching).
    awaiting: VecDeque<u64>,
    owners: Vec<Option<Owner>>,
    rtcp_due: BinaryHeap<Reverse<(Instant, u64)>>,
    /// `rtpcheck` timeouts: (deadline, call).
    checks_due: BinaryHeap<Reverse<(Instant, u64)>>,
    echo: RtpEcho,
    tx: MediaTx,
    recordings: VecDeque<PendingRecording>,
    warnings: VecDeque<String>,
    stats: MediaStats,
    rng: u64,
    scratch: Vec<u8>,
    /// The packet the scheduler writes, before it is queued for its destination.
    packet: Vec<u8>,
    /// When `handle_timeout` last ran (for `turn_interval`).
    last_turn: Option<Instant>,
    /// When the engine was made (a deadline "as soon as possible").
    epoch: Instant,
    /// DTLS-SRTP: the shard's certificate (made on first use), the calls whose
    /// handshake starts or runs, the calls whose set-up failed, and a datagram buffer.
    dtls_id: Option<Arc<gossipper_media::dtls_srtp::DtlsIdentity>>,
    dtls_calls: Vec<u64>,
    failed_calls: VecDeque<(Box<[u8]>, String)>,
    dtls_buf: Vec<u8>,
    /// DTLS records that arrived before their call's handshake started (a ClientHello
    /// overtaking the SDP answer), by source, replayed when it starts; a few at most.
    early_dtls: VecDeque<(SocketAddr, Vec<u8>)>,
    /// `copy_reports`: this turn's RTCP reports, for the HEP export.
    report_copies: report_copies::ReportCopies,
}

pub(crate) fn sanitize_call_id(id: &[u8]) -> String {
    let s: String = id
        .iter()
        .map(|&b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b'@') {
                b as char
            } else {
                '_'
            }
        })
        .collect();
    if s.is_empty() { "call".into() } else { s }
}

impl MediaEngine {
    /// A shard's media, starting at `now`. `seed` feeds SSRCs and initial sequence numbers.
    pub fn new(now: Instant, lib: Arc<MediaLibrary>, cfg: MediaConfig, seed: u64) -> MediaEngine {
        MediaEngine {
            lib,
            cfg,
            scheduler: RtpScheduler::new(now),
            sessions: HashMap::new(),
            by_source: HashMap::new(),
            by_ssrc: HashMap::new(),
            by_peer_ssrc: HashMap::new(),
            unbound: HashMap::new(),
            awaiting: VecDeque::new(),
            owners: Vec::new(),
            rtcp_due: BinaryHeap::new(),
            checks_due: BinaryHeap::new(),
            echo: RtpEcho::new(),
            tx: MediaTx::default(),
            recordings: VecDeque::new(),
            warnings: VecDeque::new(),
            stats: MediaStats::default(),
            rng: seed ^ 0x6A09_E667_F3BC_C908,
            scratch: vec![0; 1500],
            packet: vec![0; 1500],
            last_turn: None,
            epoch: now,
            dtls_id: None,
            dtls_calls: Vec::new(),
            failed_calls: VecDeque::new(),
            dtls_buf: Vec::new(),
            early_dtls: VecDeque::new(),
            report_copies: report_copies::ReportCopies::default(),
        }
    }

    /// splitmix64: SSRCs and initial values (RFC 3550 §8.1 wants them random).
    fn next_random(&mut self) -> u64 {
        self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn new_ssrc(&mut self) -> u32 {
        loop {
            let s = (self.next_random() >> 32) as u32;
            if s != 0 && !self.by_ssrc.contains_key(&s) {
                return s;
            }
        }
    }

    /// The shard's media counters (the scheduler's lateness included).
    pub fn stats(&self) -> MediaStats {
        let mut s = self.stats;
        let l = self.scheduler.lateness();
        s.sched_within_1ms = l.within_1ms;
        s.sched_packets = l.total();
        s.sched_max_late_us = u64::try_from(l.max.as_micros()).unwrap_or(u64::MAX);
        s
    }

    /// Calls with a media session now.
    pub fn sessions(&self) -> usize {
        self.sessions.len()
    }

    /// Streams in the scheduler now.
    pub fn streams(&self) -> usize {
        self.scheduler.len()
    }

    /// Moves every queued datagram into `out` (empty; the buffers are swapped). `false`
    /// when none is queued.
    #[must_use]
    pub fn poll_transmit(&mut self, out: &mut MediaTx) -> bool {
        if self.tx.is_empty() {
            return false;
        }
        debug_assert!(out.is_empty(), "poll_transmit wants an empty queue");
        std::mem::swap(&mut self.tx, out);
        true
    }

    /// Counts a failed receive (an ICMP error reported on the socket, for instance).
    pub fn note_receive_error(&mut self) {
        self.stats.rtp_receive_errors += 1;
    }

    /// Counts a media command that could not run (the caller reports why).
    pub fn note_command_error(&mut self) {
        self.stats.command_errors += 1;
    }

    /// Counts datagrams the socket refused.
    pub fn note_send_errors(&mut self, n: u64) {
        self.stats.rtp_send_errors += n;
    }

    /// A recording to write (its call ended or `rtp_record="stop"`); report the result
    /// with `note_recording`.
    #[must_use]
    pub fn poll_recording(&mut self) -> Option<PendingRecording> {
        self.recordings.pop_front()
    }

    /// Books the outcome of writing a recording (a failure becomes a warning).
    pub fn note_recording(&mut self, result: Result<(), String>) {
        match result {
            Ok(()) => self.stats.recordings_written += 1,
            Err(e) => {
                self.stats.recording_errors += 1;
                self.warnings.push_back(e);
            }
        }
    }

    /// `copy_reports`: hands this turn's RTCP reports, in clear, to `f` and forgets them.
    pub fn drain_report_copies(&mut self, f: &mut dyn FnMut(ReportCopy<'_>)) {
        self.report_copies.drain(f);
    }

    /// The next warning for the run's log (a failed rtpcheck, a recording not written).
    #[must_use]
    pub fn poll_warning(&mut self) -> Option<String> {
        self.warnings.pop_front()
    }

    /// The earliest instant worth waking for (a packet, an RTCP report or an `rtpcheck`
    /// timeout), never sooner than `turn_interval` after the last turn.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        let rtcp = self.rtcp_due.peek().map(|Reverse((at, _))| *at);
        let check = self.checks_due.peek().map(|Reverse((at, _))| *at);
        let next = [
            self.scheduler.poll_timeout(),
            rtcp,
            check,
            self.dtls_timeout(),
        ]
        .into_iter()
        .flatten()
        .min()?;
        Some(match self.last_turn {
            Some(last) => next.max(last + self.cfg.turn_interval),
            None => next,
        })
    }

    /// Call `call`'s session, opened on first use (`call_id` names its recording).
    fn session(&mut self, call: u64, call_id: &[u8]) -> &mut Session {
        if !self.sessions.contains_key(&call) {
            let ssrc = self.new_ssrc();
            let auto_record = (self.cfg.record_calls != RecordCalls::Off)
                .then(|| self.default_record_path(call_id));
            let mut s = Session::new(ssrc, auto_record);
            if self.cfg.copy_reports {
                s.call_id = Some(call_id.into());
            }
            self.sessions.insert(call, s);
        }
        // Inserted just above when absent.
        self.sessions.get_mut(&call).expect("session exists")
    }

    /// `<record_dir>/<sanitised call-id>.wav`.
    fn default_record_path(&self, call_id: &[u8]) -> PathBuf {
        self.cfg
            .record_dir
            .join(format!("{}.wav", sanitize_call_id(call_id)))
    }

    #[allow(clippy::too_many_arguments)]
    fn add_stream(
        &mut self,
        now: Instant,
        call: u64,
        dest: SocketAddr,
        target: PcapTarget,
        source: StreamSource,
        pt: u8,
        loops: gossipper_media::Loops,
    ) -> (StreamHandle, u32) {
        let rewrite_ssrc = matches!(source, StreamSource::Pcap(_));
        let ssrc = self.new_ssrc();
        let r = self.next_random();
        let mut cfg = StreamConfig::new(ssrc, pt);
        cfg.initial_sequence = (r & 0xFFFF) as u16;
        cfg.initial_timestamp = (r >> 32) as u32;
        cfg.dtmf_payload_type = DTMF_PAYLOAD_TYPE;
        cfg.loops = loops;
        let h = self
            .scheduler
            .insert(RtpStream::new(now + START_DELAY, cfg, source));
        // Sent packets go to the recorder only when it records them (mono-received does not).
        let record = self.sessions.get(&call).is_some_and(Session::records_sent);
        let i = h.index() as usize;
        if self.owners.len() <= i {
            self.owners.resize(i + 1, None);
        }
        if let Some(slot) = self.owners.get_mut(i) {
            *slot = Some(Owner {
                call,
                dest,
                ssrc,
                rewrite_ssrc,
                record,
                target,
            });
        }
        self.by_ssrc.insert(ssrc, call);
        if let Some(s) = self.sessions.get_mut(&call) {
            s.ssrcs.push(ssrc);
        }
        if let Some(interval) = self.cfg.rtcp_interval
            && let Some(s) = self.sessions.get_mut(&call)
            && s.rtcp_next.is_none()
        {
            let at = now + interval;
            s.rtcp_next = Some(at);
            self.rtcp_due.push(Reverse((at, call)));
        }
        (h, ssrc)
    }

    /// Removes a stream and books what it sent to its call.
    fn drop_stream(&mut self, h: StreamHandle) {
        let Some(stream) = self.scheduler.remove(h) else {
            return;
        };
        self.stats.rtp_late_skipped += stream.stats().late_skipped;
        let owner = self
            .owners
            .get_mut(h.index() as usize)
            .and_then(Option::take);
        // The SSRC stays routed until the call ends: echoes of the last packets are late.
        if let Some(o) = owner
            && let Some(s) = self.sessions.get_mut(&o.call)
        {
            let st = stream.stats();
            s.sent_packets += st.packets;
            s.sent_octets += st.payload_octets;
            for slot in [&mut s.audio, &mut s.video, &mut s.dtmf] {
                if *slot == Some(h) {
                    *slot = None;
                }
            }
        }
    }

    /// A datagram arrived on the media port from `src`. On a call with SRTP it is
    /// unprotected first (a copy in the engine's scratch buffer); one that fails is
    /// counted and dropped.
    pub fn handle_datagram(&mut self, now: Instant, src: SocketAddr, bytes: &[u8]) {
        if self.cfg.srtp == SrtpPolicy::Sdes && self.dtls_datagram(now, src, bytes) {
            return;
        }
        let call = self.route(src, bytes);
        if call.is_none() && self.cfg.srtp == SrtpPolicy::Sdes && looks_like_rtcp(bytes) {
            let mut plain = std::mem::take(&mut self.scratch);
            if let Some((owner, n)) = self.srtcp_owner(src, bytes, &mut plain) {
                if let Some(p) = plain.get(..n) {
                    self.handle_plain(now, src, Some(owner), p, Some(owner));
                }
            } else {
                // No call's key opens it: a stray report, or garbage.
                self.stats.rtp_unexpected_source += 1;
            }
            self.scratch = plain;
            return;
        }
        let srtp = call
            .and_then(|c| self.sessions.get(&c))
            .and_then(|s| s.srtp.as_deref());
        if srtp.is_some_and(|k| k.waiting()) {
            // DTLS-SRTP keys not there yet.
            self.stats.srtp_dropped += 1;
            return;
        }
        if !srtp.is_some_and(|k| k.active()) {
            self.handle_plain(now, src, call, bytes, None);
            return;
        }
        let mut plain = std::mem::take(&mut self.scratch);
        let rtcp = looks_like_rtcp(bytes);
        let result = match (
            plain.get_mut(..bytes.len()),
            call.and_then(|c| self.sessions.get_mut(&c)),
        ) {
            (Some(buf), Some(s)) => {
                buf.copy_from_slice(bytes);
                match s.srtp.as_deref_mut().and_then(|k| k.rx()) {
                    Some(rx) if rtcp => rx.unprotect_rtcp(buf),
                    Some(rx) => rx.unprotect_rtp(buf),
                    None => Err(SrtpError::Truncated("SRTP context")),
                }
            }
            _ => Err(SrtpError::Truncated("datagram")),
        };
        match result {
            Ok(n) => {
                if let Some(p) = plain.get(..n) {
                    self.handle_plain(now, src, call, p, call);
                }
            }
            Err(SrtpError::AuthFailed) => self.stats.srtp_auth_failures += 1,
            Err(_) => self.stats.srtp_dropped += 1,
        }
        self.scratch = plain;
    }

    /// Protects the datagram just queued (at `start`) with the call's SRTP context, if
    /// it has one; a packet that cannot be protected is taken back (`false`).
    fn protect_queued(
        tx: &mut MediaTx,
        stats: &mut MediaStats,
        s: Option<&mut Session>,
        start: usize,
        rtcp: bool,
    ) -> bool {
        let Some(k) = s.and_then(|s| s.srtp.as_deref_mut()) else {
            return true;
        };
        if k.waiting() {
            // DTLS-SRTP keys not there yet: nothing leaves in the clear.
            let _ = tx.protect_last(start, 0, |_, _| Err(()));
            stats.srtp_dropped += 1;
            return false;
        }
        let Some(ctx) = Some(k).filter(|k| k.active()).and_then(|k| k.tx()) else {
            return true;
        };
        if tx
            .protect_last(start, SRTP_ROOM, |buf, len| {
                if rtcp {
                    ctx.protect_rtcp(buf, len)
                } else {
                    ctx.protect_rtp(buf, len)
                }
            })
            .is_err()
        {
            stats.srtp_dropped += 1;
            return false;
        }
        true
    }

    /// A datagram in the clear (received so, or just unprotected): counted, recorded,
    /// echoed. `srtp_call`: the SRTP call it was unprotected for (its echo is protected
    /// again with our key).
    fn handle_plain(
        &mut self,
        now: Instant,
        src: SocketAddr,
        call: Option<u64>,
        bytes: &[u8],
        srtp_call: Option<u64>,
    ) {
        let rtcp = looks_like_rtcp(bytes);
        let mut echo = self.cfg.echo_all;
        let mut counted = false;
        let auto_mode = record_mode(self.cfg.record_calls);
        if let Some(s) = call.and_then(|c| self.sessions.get_mut(&c)) {
            echo |= s.echo;
            // A call that only receives still reports (RR) what it gets.
            if let Some(interval) = self.cfg.rtcp_interval
                && s.rtcp_next.is_none()
                && let Some(c) = call
            {
                let at = now + interval;
                s.rtcp_next = Some(at);
                self.rtcp_due.push(Reverse((at, c)));
            }
            if rtcp {
                s.receiver.handle_rtcp(now, src, bytes);
                self.stats.rtcp_packets_received += 1;
                counted = true;
                if let Some(id) = s.call_id.as_deref() {
                    self.report_copies.push(id, src, false, bytes);
                }
            } else {
                match s.receiver.handle_rtp(now, src, bytes) {
                    Received::Accepted(p) | Received::Late(p) => {
                        self.stats.rtp_packets_received += 1;
                        counted = true;
                        if let Some(r) = s.recorder_at(now, auto_mode) {
                            r.recorder.handle_packet(now, Direction::Received, &p);
                            // The echo sends this very packet back: it is what we send.
                            if echo && r.sent {
                                r.recorder.handle_packet(now, Direction::Sent, &p);
                            }
                        }
                    }
                    Received::Malformed => self.stats.rtp_malformed += 1,
                    Received::BadSequence | Received::UnexpectedSource => counted = true,
                }
            }
            if echo && !rtcp {
                s.sent_packets += 1;
                s.sent_octets += bytes.len().saturating_sub(12) as u64;
            }
        }
        // RTCP is never echoed: a report reflected back speaks for the wrong party (SIPp's
        // echo does not read the RTCP port either).
        if echo && !rtcp && self.echo.handle_datagram(src, bytes).is_some() {
            let start = self.tx.push(src, bytes);
            if let Some(c) = srtp_call {
                Self::protect_queued(
                    &mut self.tx,
                    &mut self.stats,
                    self.sessions.get_mut(&c),
                    start,
                    rtcp,
                );
            }
            self.stats.rtp_packets_echoed += 1;
            self.stats.rtp_packets_sent += 1;
            self.stats.rtp_octets_sent += bytes.len().saturating_sub(12) as u64;
            if !counted && call.is_none() {
                // An echoed packet counts as both sent and received.
                self.stats.rtp_packets_received += 1;
                counted = true;
            }
        }
        if !counted && call.is_none() {
            self.stats.rtp_unexpected_source += 1;
        }
    }

    /// Sends what is due at `now`: packets, RTCP reports; books finished streams.
    pub fn handle_timeout(&mut self, now: Instant, wall: SystemTime) {
        self.last_turn = Some(now);
        self.drive_dtls(now);
        let auto_mode = record_mode(self.cfg.record_calls);
        self.scheduler.handle_timeout(now);
        let MediaEngine {
            scheduler,
            owners,
            tx,
            stats,
            sessions,
            packet,
            ..
        } = self;
        while let Some(t) = scheduler.poll_transmit(now, packet) {
            let (h, bytes) = (t.stream, packet.get(..t.len).unwrap_or_default());
            let Some(Some(o)) = owners.get_mut(h.index() as usize) else {
                continue;
            };
            let start = tx.push(o.dest, bytes);
            if o.rewrite_ssrc
                && bytes.len() >= 12
                && bytes.first().is_some_and(|b| b >> 6 == 2)
                && let Some(dst) = tx.bytes_mut(start + 8, 4)
            {
                dst.copy_from_slice(&o.ssrc.to_be_bytes());
            }
            if !Self::protect_queued(tx, stats, sessions.get_mut(&o.call), start, false) {
                continue;
            }
            stats.rtp_packets_sent += 1;
            stats.rtp_octets_sent += bytes.len().saturating_sub(12) as u64;
            if o.record
                && let Some(s) = sessions.get_mut(&o.call)
            {
                match s.recorder_at(now, auto_mode) {
                    Some(r) if r.sent => {
                        if let Ok(p) = RtpPacket::parse(bytes) {
                            r.recorder.handle_packet(now, Direction::Sent, &p);
                        }
                    }
                    // A mono-received recording (started by this packet) wants no more.
                    _ => o.record = false,
                }
            }
        }
        while let Some(SchedulerEvent::StreamFinished(h)) = self.scheduler.poll_event() {
            self.drop_stream(h);
        }
        self.check_timeouts(now);
        self.send_rtcp(now, wall);
    }

    /// Call `call` ended: stops its streams, hands out its recording, takes its rtpcheck
    /// verdict if still open, and returns its media numbers (`None` for a call that had no
    /// media).
    pub fn end_call(&mut self, call: u64) -> Option<EndedMedia> {
        let s = self.sessions.get(&call)?;
        let handles = [s.audio, s.video, s.dtmf];
        for h in handles.into_iter().flatten() {
            self.drop_stream(h);
        }
        if let Some(s) = self.sessions.get(&call) {
            let (sent, received) = self.packet_counts(s);
            self.take_verdict(call, sent, received);
        }
        let mut s = self.sessions.remove(&call)?;
        for ssrc in &s.ssrcs {
            if self.by_ssrc.get(ssrc) == Some(&call) {
                self.by_ssrc.remove(ssrc);
            }
        }
        for key in &s.peer_ssrcs {
            if self.by_peer_ssrc.get(key) == Some(&call) {
                self.by_peer_ssrc.remove(key);
            }
        }
        if let Some(a) = s.remote.audio {
            self.prune_unbound(a);
        }
        for addr in [s.remote.audio, s.latched].into_iter().flatten() {
            if self.by_source.get(&addr) == Some(&call) {
                self.by_source.remove(&addr);
            }
        }
        if let Some(rec) = s.recorder.take() {
            self.hand_out(*rec, None);
        }
        let r = s.receiver.stats();
        let rtpcheck_failed = match s.check.and_then(|c| c.verdict) {
            Some(true) => {
                self.stats.rtpcheck_passed += 1;
                false
            }
            Some(false) => {
                self.stats.rtpcheck_failed += 1;
                true
            }
            None => false,
        };
        let jitter = Duration::from_secs_f64(f64::from(r.jitter_ts) / 8000.0);
        // The E-model sees the peak jitter: a jitter buffer is sized for the worst seen.
        let peak = Duration::from_secs_f64(f64::from(r.jitter_peak_ts) / 8000.0);
        let (mos, r_factor) = if r.packets > 0 {
            let q = quality::estimate(&Conditions {
                one_way_delay: quality::mouth_to_ear_delay(r.rtt, peak, PTIME),
                loss_percent: r.loss_fraction() * 100.0,
                ..Default::default()
            });
            (q.mos, q.r)
        } else {
            (0.0, 0.0)
        };
        let media = CallMedia {
            rtp_packets_sent: s.sent_packets,
            rtp_octets_sent: s.sent_octets,
            rtp_packets_received: r.packets,
            rtcp_sender_reports: s.rtcp_sender_reports,
            rtp_packets_lost: u64::try_from(r.lost.max(0)).unwrap_or(0),
            jitter_ms: jitter.as_secs_f64() * 1000.0,
            jitter_peak_ts: r.jitter_peak_ts,
            mos,
            r_factor,
        };
        self.stats.add_call(&media);
        self.stats.rtcp_reception_reports += r.rtcp_reception_reports;
        self.stats.rtcp_max_fraction_lost = self
            .stats
            .rtcp_max_fraction_lost
            .max(r.remote_max_fraction_lost);
        self.stats.rtcp_max_jitter_ts = self.stats.rtcp_max_jitter_ts.max(r.remote_max_jitter_ts);
        self.stats.rtp_recv_jitter_peak_ts =
            self.stats.rtp_recv_jitter_peak_ts.max(r.jitter_peak_ts);
        Some(EndedMedia {
            media,
            rtpcheck_failed,
        })
    }

    /// Ends every call's media (hard quit).
    pub fn end_all(&mut self) {
        let calls: Vec<u64> = self.sessions.keys().copied().collect();
        for c in calls {
            let _ = self.end_call(c);
        }
    }
}
