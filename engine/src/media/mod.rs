//! RTP media of one shard, sans-IO: the glue between the calls' media actions, the
//! `gossipper-media` state machines and the shard's RTP socket.
//!
//! Owns: one [`RtpScheduler`] for every outgoing stream of the shard (a timer wheel, no
//! task or timer per stream), the per-call media sessions (the peer's addresses from the
//! SDP of the call's SIP messages, an [`RtpReceiver`] with RFC 3550 loss and jitter, an
//! optional [`CallRecorder`], RTCP SR/RR every 500 ms, `rtpcheck`), the `-rtp_echo` echo,
//! and the shard's media counters. Must not: read a clock, touch a socket or a file: the
//! shard gives `now` (and the wall clock for RTCP), feeds datagrams, sends what is queued
//! in [`MediaEngine::tx_mut`] and writes the recordings it hands out.
//!
//! Drive loop (`shard::media_io`), in this order:
//!
//! ```text
//! commands:  ShardCore routes ShardEvent::Media after each call step → take_commands
//!            and every SIP message of a call → handle_sip (SDP: c=, m=audio/video/image)
//! receive:   handle_datagram(now, src, bytes) for each datagram on the media port
//! timers:    handle_timeout(now, wall)   — due packets, RTCP, finished streams
//! output:    send tx_mut() (sendmmsg), then clear it; write take_recordings()
//! sleep:     until poll_timeout()
//! call end:  end_call(now, number) → the call's CallMedia for call_records.jsonl
//! ```
//!
//! Demultiplexing: every stream we send carries its own SSRC (pcap replays are rewritten
//! to it; SIPp keeps the capture's, which makes concurrent replays indistinguishable), so
//! an echoed packet is matched to its call by SSRC. Other packets match by source address
//! (the SDP's `m=audio` address), or latch to the oldest call still waiting for media
//! from that IP (SIPp plays pcaps from its `-mp` port whatever its SDP says). Anything
//! else is counted as `rtp_unexpected_source` and dropped (or echoed with `-rtp_echo`).

pub mod command;
pub mod library;
pub mod sdp;

#[cfg(test)]
mod tests;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use gossipper_media::record::DEFAULT_MAX_DURATION;
use gossipper_media::rtcp_report::{ntp_from_unix, write_report};
use gossipper_media::rtp::{RtpPacket, looks_like_rtcp};
use gossipper_media::stream::PTIME;
use gossipper_media::{
    CallRecorder, Conditions, Direction, G711Law, Received, RecordMode, RtpEcho, RtpReceiver,
    RtpScheduler, RtpStream, SchedulerEvent, SourcePolicy, StreamConfig, StreamHandle,
    StreamSource, quality,
};

use self::command::{
    CheckDirection, EchoCommand, MediaCommand, PcapTarget, RecordSide, RtpCheck, StreamCommand,
};
use self::library::MediaLibrary;
use self::sdp::RemoteMedia;
use crate::call::ShardEvent;
use crate::stats::call_record::CallMedia;
use crate::stats::media::MediaStats;

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
/// Calls scanned when a packet from an unknown source looks for a call to latch to.
const LATCH_SCAN: usize = 64;

/// Settings of a shard's media, fixed for the run.
#[derive(Clone, Debug)]
pub struct MediaConfig {
    /// `-rtp_echo`: echo every datagram received on the media port to its source.
    pub echo_all: bool,
    /// Where `rtp_record` without a path writes `<call-id>.wav`.
    pub record_dir: PathBuf,
    /// RTCP report interval; `None`: no RTCP.
    pub rtcp_interval: Option<Duration>,
    /// Our RTCP CNAME.
    pub cname: Vec<u8>,
    /// Shortest gap between two turns (`TURN_INTERVAL`; zero: wake for every deadline).
    pub turn_interval: Duration,
}

impl Default for MediaConfig {
    fn default() -> Self {
        MediaConfig {
            echo_all: false,
            record_dir: PathBuf::from("recordings"),
            rtcp_interval: Some(RTCP_INTERVAL),
            cname: b"gossipper".to_vec(),
            turn_interval: TURN_INTERVAL,
        }
    }
}

/// One datagram to send: `len` bytes at `start` in the queue's buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MediaTransmit {
    pub dest: SocketAddr,
    start: usize,
    len: usize,
}

/// Outgoing media datagrams, in one reused buffer.
#[derive(Debug, Default)]
pub struct MediaTx {
    buf: Vec<u8>,
    items: Vec<MediaTransmit>,
}

impl MediaTx {
    fn push(&mut self, dest: SocketAddr, bytes: &[u8]) -> usize {
        let start = self.buf.len();
        self.buf.extend_from_slice(bytes);
        self.items.push(MediaTransmit {
            dest,
            start,
            len: bytes.len(),
        });
        start
    }

    /// The queued datagrams.
    pub fn items(&self) -> &[MediaTransmit] {
        &self.items
    }

    /// The bytes of one queued datagram.
    pub fn bytes(&self, t: &MediaTransmit) -> &[u8] {
        self.buf.get(t.start..t.start + t.len).unwrap_or(&[])
    }

    /// Forgets every queued datagram (keeps the capacity).
    pub fn clear(&mut self) {
        self.buf.clear();
        self.items.clear();
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
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
}

#[derive(Debug)]
struct Session {
    remote: RemoteMedia,
    latched: Option<SocketAddr>,
    audio: Option<StreamHandle>,
    audio_is_pcap: bool,
    video: Option<StreamHandle>,
    dtmf: Option<StreamHandle>,
    receiver: RtpReceiver,
    /// The recorder, its file, and whether it records what we send.
    recorder: Option<Box<(CallRecorder, PathBuf, bool)>>,
    echo: bool,
    /// Our RTCP SSRC (and the SSRC of the first generated stream).
    ssrc: u32,
    /// SSRCs of every stream this call sent (routes echoes until the call ends).
    ssrcs: Vec<u32>,
    sent_packets: u64,
    sent_octets: u64,
    rtcp_sender_reports: u64,
    rtcp_next: Option<Instant>,
    check: Option<RtpCheck>,
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
    /// Calls with an SDP address that have received nothing yet (for latching).
    awaiting: VecDeque<u64>,
    owners: Vec<Option<Owner>>,
    rtcp_due: BinaryHeap<Reverse<(Instant, u64)>>,
    echo: RtpEcho,
    tx: MediaTx,
    recordings: Vec<PendingRecording>,
    warnings: Vec<String>,
    stats: MediaStats,
    rng: u64,
    scratch: Vec<u8>,
    /// When `handle_timeout` last ran (for `turn_interval`).
    last_turn: Option<Instant>,
}

fn sanitize_call_id(id: &[u8]) -> String {
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
            awaiting: VecDeque::new(),
            owners: Vec::new(),
            rtcp_due: BinaryHeap::new(),
            echo: RtpEcho::new(),
            tx: MediaTx::default(),
            recordings: Vec::new(),
            warnings: Vec::new(),
            stats: MediaStats::default(),
            rng: seed ^ 0x6A09_E667_F3BC_C908,
            scratch: vec![0; 1500],
            last_turn: None,
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

    /// Datagrams waiting to be sent.
    pub fn tx_mut(&mut self) -> &mut MediaTx {
        &mut self.tx
    }

    /// Counts a failed receive (an ICMP error reported on the socket, for instance).
    pub fn note_receive_error(&mut self) {
        self.stats.rtp_receive_errors += 1;
    }

    /// Counts datagrams the socket refused.
    pub fn note_send_errors(&mut self, n: u64) {
        self.stats.rtp_send_errors += n;
    }

    /// Recordings to write (the call ended or `rtp_record="stop"`).
    pub fn take_recordings(&mut self) -> Vec<PendingRecording> {
        std::mem::take(&mut self.recordings)
    }

    /// Books the outcome of writing a recording (a failure becomes a warning).
    pub fn note_recording(&mut self, result: Result<(), String>) {
        match result {
            Ok(()) => self.stats.recordings_written += 1,
            Err(e) => {
                self.stats.recording_errors += 1;
                self.warnings.push(e);
            }
        }
    }

    /// Warnings for the run's log (bad commands, missing SDP).
    pub fn take_warnings(&mut self) -> Vec<String> {
        std::mem::take(&mut self.warnings)
    }

    /// The earliest instant worth waking for (a packet or an RTCP report), never sooner
    /// than `turn_interval` after the last turn.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        let rtcp = self.rtcp_due.peek().map(|Reverse((at, _))| *at);
        let next = match (self.scheduler.poll_timeout(), rtcp) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }?;
        Some(match self.last_turn {
            Some(last) => next.max(last + self.cfg.turn_interval),
            None => next,
        })
    }

    fn session(&mut self, call: u64) -> &mut Session {
        if !self.sessions.contains_key(&call) {
            let ssrc = self.new_ssrc();
            let mut receiver = RtpReceiver::new(SourcePolicy::Any, 8000);
            receiver.set_local_ssrc(ssrc);
            self.sessions.insert(
                call,
                Session {
                    remote: RemoteMedia::default(),
                    latched: None,
                    audio: None,
                    audio_is_pcap: false,
                    video: None,
                    dtmf: None,
                    receiver,
                    recorder: None,
                    echo: false,
                    ssrc,
                    ssrcs: Vec::new(),
                    sent_packets: 0,
                    sent_octets: 0,
                    rtcp_sender_reports: 0,
                    rtcp_next: None,
                    check: None,
                },
            );
        }
        // Inserted just above when absent.
        self.sessions.get_mut(&call).expect("session exists")
    }

    /// A SIP message of call `call` passed by: learn the peer's media addresses from its
    /// SDP, if it has one.
    pub fn handle_sip(&mut self, call: u64, body: &[u8]) {
        if body.is_empty() {
            return;
        }
        let Some(remote) = sdp::read(body) else {
            return;
        };
        if remote.is_empty() {
            return;
        }
        let s = self.session(call);
        let old = std::mem::replace(&mut s.remote, remote);
        let waiting = s.latched.is_none() && s.receiver.stats().packets == 0;
        if let Some(a) = old.audio
            && self.by_source.get(&a) == Some(&call)
        {
            self.by_source.remove(&a);
        }
        if let Some(a) = remote.audio {
            self.by_source.insert(a, call);
            if waiting && old.audio.is_none() {
                self.awaiting.push_back(call);
            }
        }
    }

    /// Routes the `ShardEvent::Media` events queued from index `from` on (one call step's)
    /// to this engine; other events stay. Bad commands become warnings.
    pub fn take_commands(
        &mut self,
        now: Instant,
        call_id: &[u8],
        events: &mut Vec<ShardEvent>,
        from: usize,
    ) {
        let mut i = from;
        while i < events.len() {
            if !matches!(events.get(i), Some(ShardEvent::Media { .. })) {
                i += 1;
                continue;
            }
            if let ShardEvent::Media {
                call_number,
                verb,
                argument,
            } = events.remove(i)
                && let Err(reason) =
                    self.handle_command(now, call_number, call_id, &verb, &argument)
            {
                self.stats.command_errors += 1;
                events.insert(
                    i,
                    ShardEvent::Warning(format!(
                        "call {call_number}: <exec {verb}=\"{argument}\">: {reason}"
                    )),
                );
                i += 1;
            }
        }
    }

    fn add_stream(
        &mut self,
        now: Instant,
        call: u64,
        dest: SocketAddr,
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
        let record = self
            .sessions
            .get(&call)
            .and_then(|s| s.recorder.as_ref())
            .is_some_and(|r| r.2);
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

    fn set_recording_flag(&mut self, call: u64, on: bool) {
        for o in self.owners.iter_mut().flatten() {
            if o.call == call {
                o.record = on;
            }
        }
    }

    /// Runs one media command of call `call`. The error says why it could not run.
    pub fn handle_command(
        &mut self,
        now: Instant,
        call: u64,
        call_id: &[u8],
        verb: &str,
        argument: &str,
    ) -> Result<(), String> {
        let cmd = command::parse(verb, argument)?;
        let s = self.session(call);
        let remote = s.remote;
        let no_sdp = |what: &str| {
            format!("no {what} address: the call's SIP messages carried no SDP with m={what}")
        };
        match cmd {
            MediaCommand::PlayPcap { target, file } => {
                let (dest, what) = match target {
                    PcapTarget::Audio => (remote.audio, "audio"),
                    PcapTarget::Video => (remote.video, "video"),
                    PcapTarget::Image => (remote.image, "image"),
                };
                let dest = dest.ok_or_else(|| no_sdp(what))?;
                // A new replay replaces the one playing on the same stream, as in SIPp.
                let old = if target == PcapTarget::Audio {
                    s.audio
                } else {
                    s.video
                };
                let pcap = self
                    .lib
                    .pcap(&file)
                    .ok_or_else(|| format!("{file} was not loaded with the scenario"))?;
                let source = StreamSource::Pcap(Arc::clone(pcap));
                if let Some(h) = old {
                    self.drop_stream(h);
                }
                let (h, _) =
                    self.add_stream(now, call, dest, source, 0, gossipper_media::Loops::Count(1));
                let s = self.session(call);
                if target == PcapTarget::Audio {
                    s.audio = Some(h);
                    s.audio_is_pcap = true;
                } else {
                    s.video = Some(h);
                }
            }
            MediaCommand::Stream(sc) => self.stream_command(now, call, sc)?,
            MediaCommand::Echo(EchoCommand::Start) => s.echo = true,
            MediaCommand::Echo(EchoCommand::Stop) => s.echo = false,
            MediaCommand::SendDtmf(keys) => {
                let host = match (s.audio, s.audio_is_pcap) {
                    (Some(h), false) => Some(h),
                    _ => s.dtmf,
                };
                let host = match host {
                    Some(h) => h,
                    None => {
                        let dest = remote.audio.ok_or_else(|| no_sdp("audio"))?;
                        let (h, _) = self.add_stream(
                            now,
                            call,
                            dest,
                            StreamSource::DtmfOnly,
                            DTMF_PAYLOAD_TYPE,
                            gossipper_media::Loops::Count(1),
                        );
                        self.session(call).dtmf = Some(h);
                        h
                    }
                };
                self.scheduler
                    .send_dtmf(host, now + START_DELAY, &keys)
                    .map_err(|e| e.to_string())?;
            }
            MediaCommand::RecordStart { path, side } => {
                let mode = match side {
                    RecordSide::Duplex => RecordMode::Duplex,
                    RecordSide::Sent => RecordMode::Mono(Direction::Sent),
                    RecordSide::Received => RecordMode::Mono(Direction::Received),
                };
                let path = match path {
                    Some(p) => PathBuf::from(p),
                    None => self
                        .cfg
                        .record_dir
                        .join(format!("{}.wav", sanitize_call_id(call_id))),
                };
                let s = self.session(call);
                if let Some(old) = s.recorder.take() {
                    let (recorder, path, _) = *old;
                    self.recordings.push(PendingRecording {
                        path,
                        recorder: Box::new(recorder),
                    });
                }
                let s = self.session(call);
                s.recorder = Some(Box::new((
                    CallRecorder::new(now, mode, DEFAULT_MAX_DURATION),
                    path,
                    side != RecordSide::Received,
                )));
                self.set_recording_flag(call, side != RecordSide::Received);
            }
            MediaCommand::RecordStop => {
                if let Some(old) = s.recorder.take() {
                    let (recorder, path, _) = *old;
                    self.recordings.push(PendingRecording {
                        path,
                        recorder: Box::new(recorder),
                    });
                }
                self.set_recording_flag(call, false);
            }
            MediaCommand::RtpCheck(c) => s.check = Some(c),
        }
        Ok(())
    }

    fn stream_command(&mut self, now: Instant, call: u64, sc: StreamCommand) -> Result<(), String> {
        let s = self.session(call);
        let audio = s.audio;
        let dest = s.remote.audio;
        let need_audio = || "no rtp_stream is playing in this call".to_string();
        match sc {
            StreamCommand::Pause => self
                .scheduler
                .pause(audio.ok_or_else(need_audio)?, now)
                .map_err(|e| e.to_string()),
            StreamCommand::Resume => self
                .scheduler
                .resume(audio.ok_or_else(need_audio)?, now)
                .map_err(|e| e.to_string()),
            StreamCommand::Stop => {
                if let Some(h) = audio {
                    self.drop_stream(h);
                }
                Ok(())
            }
            StreamCommand::Echo => {
                s.echo = true;
                Ok(())
            }
            StreamCommand::File {
                file,
                loops,
                payload_type,
            } => {
                let dest = dest.ok_or(
                    "no audio address: the call's SIP messages carried no SDP with m=audio",
                )?;
                let frames = self
                    .lib
                    .frames(&file, payload_type)
                    .ok_or_else(|| format!("{file} was not loaded with the scenario"))?;
                let source = StreamSource::Frames(Arc::clone(frames));
                self.start_audio(now, call, dest, source, payload_type, loops);
                Ok(())
            }
            StreamCommand::Synthetic {
                payload_type,
                duration_ms,
            } => {
                let dest = dest.ok_or(
                    "no audio address: the call's SIP messages carried no SDP with m=audio",
                )?;
                let law = G711Law::from_payload_type(payload_type).unwrap_or(G711Law::MuLaw);
                let source = StreamSource::Silence {
                    law,
                    duration: duration_ms.map(Duration::from_millis),
                };
                self.start_audio(
                    now,
                    call,
                    dest,
                    source,
                    payload_type,
                    gossipper_media::Loops::Count(1),
                );
                Ok(())
            }
        }
    }

    fn start_audio(
        &mut self,
        now: Instant,
        call: u64,
        dest: SocketAddr,
        source: StreamSource,
        pt: u8,
        loops: gossipper_media::Loops,
    ) {
        if let Some(h) = self.session(call).audio {
            self.drop_stream(h);
        }
        let (h, ssrc) = self.add_stream(now, call, dest, source, pt, loops);
        let s = self.session(call);
        s.audio = Some(h);
        s.audio_is_pcap = false;
        // RTCP speaks for the generated audio stream.
        s.ssrc = ssrc;
        s.receiver.set_local_ssrc(ssrc);
    }

    /// Finds the call a datagram from `src` belongs to.
    fn route(&mut self, src: SocketAddr, bytes: &[u8]) -> Option<u64> {
        // Our own SSRC coming back (an echo): the surest match.
        if !looks_like_rtcp(bytes)
            && let Some(ssrc) = bytes.get(8..12)
            && let Some(&call) = self
                .by_ssrc
                .get(&u32::from_be_bytes([ssrc[0], ssrc[1], ssrc[2], ssrc[3]]))
        {
            return Some(call);
        }
        if let Some(&call) = self.by_source.get(&src) {
            return Some(call);
        }
        // RTCP usually comes from the RTP port + 1.
        if looks_like_rtcp(bytes)
            && let Some(&call) = self
                .by_source
                .get(&SocketAddr::new(src.ip(), src.port().wrapping_sub(1)))
        {
            return Some(call);
        }
        self.latch(src)
    }

    /// Symmetric-RTP latching: the oldest call waiting for media from this IP adopts `src`.
    fn latch(&mut self, src: SocketAddr) -> Option<u64> {
        let mut found = None;
        let mut i = 0;
        while i < self.awaiting.len().min(LATCH_SCAN) {
            let Some(&call) = self.awaiting.get(i) else {
                break;
            };
            let waiting = self
                .sessions
                .get(&call)
                .filter(|s| s.latched.is_none() && s.receiver.stats().packets == 0);
            match waiting {
                None => {
                    self.awaiting.remove(i);
                }
                Some(s) if s.remote.audio.is_some_and(|a| a.ip() == src.ip()) => {
                    found = Some(call);
                    self.awaiting.remove(i);
                    break;
                }
                Some(_) => i += 1,
            }
        }
        let call = found?;
        if let Some(s) = self.sessions.get_mut(&call) {
            s.latched = Some(src);
        }
        self.by_source.insert(src, call);
        Some(call)
    }

    /// A datagram arrived on the media port from `src`.
    pub fn handle_datagram(&mut self, now: Instant, src: SocketAddr, bytes: &[u8]) {
        let call = self.route(src, bytes);
        let rtcp = looks_like_rtcp(bytes);
        let mut echo = self.cfg.echo_all;
        let mut counted = false;
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
            } else {
                match s.receiver.handle_rtp(now, src, bytes) {
                    Received::Accepted(p) | Received::Late(p) => {
                        self.stats.rtp_packets_received += 1;
                        counted = true;
                        if let Some(r) = s.recorder.as_mut() {
                            r.0.handle_packet(now, Direction::Received, &p);
                        }
                    }
                    Received::Malformed => self.stats.rtp_malformed += 1,
                    Received::BadSequence | Received::UnexpectedSource => counted = true,
                }
            }
            if echo {
                s.sent_packets += 1;
                s.sent_octets += bytes.len().saturating_sub(12) as u64;
            }
        }
        if echo && self.echo.handle_datagram(src, bytes).is_some() {
            self.tx.push(src, bytes);
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
        let MediaEngine {
            scheduler,
            owners,
            tx,
            stats,
            sessions,
            ..
        } = self;
        scheduler.poll_due(now, &mut |h, bytes| {
            let Some(Some(o)) = owners.get(h.index() as usize) else {
                return;
            };
            let start = tx.push(o.dest, bytes);
            if o.rewrite_ssrc
                && bytes.len() >= 12
                && bytes.first().is_some_and(|b| b >> 6 == 2)
                && let Some(dst) = tx.buf.get_mut(start + 8..start + 12)
            {
                dst.copy_from_slice(&o.ssrc.to_be_bytes());
            }
            stats.rtp_packets_sent += 1;
            stats.rtp_octets_sent += bytes.len().saturating_sub(12) as u64;
            if o.record
                && let Some(s) = sessions.get_mut(&o.call)
                && let Some(r) = s.recorder.as_mut()
                && let Ok(p) = RtpPacket::parse(bytes)
            {
                r.0.handle_packet(now, Direction::Sent, &p);
            }
        });
        while let Some(SchedulerEvent::StreamFinished(h)) = self.scheduler.poll_event() {
            self.drop_stream(h);
        }
        self.send_rtcp(now, wall);
    }

    fn send_rtcp(&mut self, now: Instant, wall: SystemTime) {
        let Some(interval) = self.cfg.rtcp_interval else {
            return;
        };
        let ntp = ntp_from_unix(
            wall.duration_since(SystemTime::UNIX_EPOCH)
                .unwrap_or_default(),
        );
        while let Some(&Reverse((at, call))) = self.rtcp_due.peek() {
            if at > now {
                break;
            }
            self.rtcp_due.pop();
            let Some(s) = self.sessions.get_mut(&call) else {
                continue;
            };
            if s.rtcp_next != Some(at) {
                continue;
            }
            let next = at + interval;
            s.rtcp_next = Some(next);
            self.rtcp_due.push(Reverse((next, call)));
            let Some(audio) = s.remote.audio else {
                continue;
            };
            let dest = SocketAddr::new(audio.ip(), audio.port().wrapping_add(1));
            let sender = match (s.audio, s.audio_is_pcap) {
                (Some(h), false) => self.scheduler.stream(h),
                _ => None,
            };
            let sr = sender.is_some_and(|st| st.stats().packets > 0);
            if let Ok(n) = write_report(
                &mut self.scratch,
                now,
                ntp,
                s.ssrc,
                &self.cfg.cname,
                sender,
                Some(&mut s.receiver),
            ) && let Some(bytes) = self.scratch.get(..n)
            {
                self.tx.push(dest, bytes);
                if sr {
                    s.rtcp_sender_reports += 1;
                    self.stats.rtcp_sender_reports += 1;
                } else {
                    self.stats.rtcp_receiver_reports += 1;
                }
            }
        }
    }

    /// Call `call` ended: stops its streams, hands out its recording and returns its
    /// media numbers (`None` for a call that had no media).
    pub fn end_call(&mut self, call: u64) -> Option<CallMedia> {
        let s = self.sessions.get(&call)?;
        let handles = [s.audio, s.video, s.dtmf];
        for h in handles.into_iter().flatten() {
            self.drop_stream(h);
        }
        let mut s = self.sessions.remove(&call)?;
        for ssrc in &s.ssrcs {
            if self.by_ssrc.get(ssrc) == Some(&call) {
                self.by_ssrc.remove(ssrc);
            }
        }
        for addr in [s.remote.audio, s.latched].into_iter().flatten() {
            if self.by_source.get(&addr) == Some(&call) {
                self.by_source.remove(&addr);
            }
        }
        if let Some(rec) = s.recorder.take() {
            let (recorder, path, _) = *rec;
            self.recordings.push(PendingRecording {
                path,
                recorder: Box::new(recorder),
            });
        }
        let r = s.receiver.stats();
        if let Some(c) = s.check {
            let (sent, recv) = (s.sent_packets, r.packets);
            let n = c.min_packets;
            let ok = match c.direction {
                CheckDirection::Any => sent.max(recv) >= n,
                CheckDirection::Send => sent >= n,
                CheckDirection::Recv => recv >= n,
                CheckDirection::Both => sent >= n && recv >= n,
            };
            if ok {
                self.stats.rtpcheck_passed += 1;
            } else {
                self.stats.rtpcheck_failed += 1;
                self.warnings.push(format!(
                    "call {call}: rtpcheck failed: {sent} RTP packets sent, {recv} received, {n} required ({:?})",
                    c.direction
                ));
            }
        }
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
        Some(media)
    }

    /// Ends every call's media (hard quit).
    pub fn end_all(&mut self) {
        let calls: Vec<u64> = self.sessions.keys().copied().collect();
        for c in calls {
            let _ = self.end_call(c);
        }
    }
}
