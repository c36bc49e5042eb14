//! The WebRTC calls of one shard, sans-IO: a `gossipper-media` [`WebrtcBridge`] per call
//! of a `<scenario webrtc="true">`, the UDP ports they use (a few shared by all calls,
//! see `webrtc/shared.rs`, or one per call when STUN or TURN servers are set), their audio
//! clock (a 1 ms grid), and the shard's WebRTC counters.
//!
//! Owns: the bridges by call number, which port each call has (the shell binds the
//! sockets and hands the ports in, as `-t un` does: `ports_wanted` / `supply`), the SDP
//! each call rendered (`[webrtc_offer]` / `[webrtc_answer]`, made once, so a
//! retransmission carries the same SDP), the remote SDP a call received before it
//! answered, one wake-up heap for every bridge deadline and audio frame, and the queue of
//! datagrams to send. Must not: read a clock, touch a socket or decide a call's fate: a
//! bridge that fails is reported through [`WebrtcCalls::poll_failed`] and the endpoint
//! fails the call.
//!
//! Drive (the `Endpoint` forwards each step), in this order:
//!
//! ```text
//! open(now, number, handle)           when a call of a WebRTC scenario is created
//! handle_sip(now, number, body)       every SIP message of the call: the answer (UAC,
//!                                     from a 183 or a 200), the offer (UAS, kept until
//!                                     [webrtc_answer]), trickle candidates later on
//! write_local_sdp(…)                  rendering [webrtc_offer] / [webrtc_answer]
//! handle_datagram(now, port, src, b)  a datagram on a socket (shared: routed to its call)
//! handle_timeout(now)                 bridge timers, and a 20 ms audio frame per
//!                                     connected call (a G.711 tone, or Opus silence)
//! poll_transmit / poll_failed / poll_closed_port / poll_timeout
//! end_call(now, number)               the call ended: its bridge closes (DTLS
//!                                     close_notify goes out), its port is given back,
//!                                     and its `WebrtcStats` go to call_records.jsonl
//! ```

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::Duration;
use std::time::Instant;

use gossipper_media::g711::G711Law;
use gossipper_media::webrtc::{
    AudioCodec, OPUS_SILENCE_FRAME, WebrtcBridge, WebrtcConfig, WebrtcEvent, WebrtcFailure,
    WebrtcStats,
};

use gossipper_media::quality::{self, Conditions};

use crate::endpoint::table::CallHandle;
use crate::stats::WebrtcCounters;
use crate::stats::media::CallMedia;

/// One audio frame every 20 ms.
const PTIME: Duration = Duration::from_millis(20);

/// How punctually audio frames left: counted when each frame is handed to the bridge (it
/// leaves in the same turn's send).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Schedule {
    pub frames: u64,
    pub within_1ms: u64,
    pub max_late_us: u64,
}

impl Schedule {
    fn note(&mut self, late: Duration) {
        self.frames += 1;
        if late <= Duration::from_millis(1) {
            self.within_1ms += 1;
        }
        self.max_late_us = self.max_late_us.max(late.as_micros() as u64);
    }
}
/// Frames a late turn may catch up on at once (past that, the schedule slips).
const MAX_CATCH_UP: u32 = 5;
/// Wake-ups handled per `handle_timeout`, so a storm cannot starve receiving.
const MAX_WAKES: usize = 100_000;

/// A WebRTC call's numbers in the shape of a classic call's `media` block (call records,
/// summary.json's media totals, `mos_min` thresholds): audio frames each way, the
/// jitter of what we received, and an E-model MOS from the RTCP loss the peer reported
/// about our stream, the RTT and that jitter (G.711 constants; Opus is rated as G.711).
/// Zeros for a call that received no audio.
pub fn call_media(s: &WebrtcStats) -> CallMedia {
    let jitter_ms = s.jitter_ms.unwrap_or(0.0);
    let (mos, r_factor) = if s.rtp_packets_received > 0 {
        let q = quality::estimate(&Conditions {
            one_way_delay: quality::mouth_to_ear_delay(
                s.rtt_ms
                    .map(|ms| Duration::from_secs_f64(ms.max(0.0) / 1000.0)),
                Duration::from_secs_f64(jitter_ms.max(0.0) / 1000.0),
                PTIME,
            ),
            loss_percent: f64::from(s.fraction_lost.unwrap_or(0.0)).clamp(0.0, 1.0) * 100.0,
            ..Default::default()
        });
        (q.mos, q.r)
    } else {
        (0.0, 0.0)
    };
    CallMedia {
        rtp_packets_sent: s.rtp_packets_sent,
        rtp_octets_sent: s.srtp_bytes_sent,
        rtp_packets_received: s.rtp_packets_received,
        jitter_ms,
        mos,
        r_factor,
        ..CallMedia::default()
    }
}

/// Which SDP a `<send>` renders.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SdpKind {
    Offer,
    Answer,
}

/// One datagram to send from a call socket: `len` bytes at `start` of `WebrtcTx::buf`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WebrtcTransmit {
    /// The local port of the call socket it leaves from.
    pub port: u16,
    pub dest: SocketAddr,
    pub start: usize,
    pub len: usize,
}

/// The datagrams of one turn, in one reused buffer.
#[derive(Debug, Default)]
pub struct WebrtcTx {
    pub buf: Vec<u8>,
    pub items: Vec<WebrtcTransmit>,
}

impl WebrtcTx {
    /// Moves the bridge's next datagram in (its bytes copied once, straight into `buf`),
    /// from `port`; returns its destination, `None` once the bridge has none.
    fn take(&mut self, bridge: &mut WebrtcBridge, port: u16) -> Option<SocketAddr> {
        let start = self.buf.len();
        let t = bridge.poll_transmit_append(&mut self.buf)?;
        self.items.push(WebrtcTransmit {
            port,
            dest: t.destination,
            start,
            len: t.len,
        });
        Some(t.destination)
    }

    pub fn clear(&mut self) {
        self.buf.clear();
        self.items.clear();
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The bytes of one queued datagram.
    pub fn bytes(&self, t: &WebrtcTransmit) -> &[u8] {
        self.buf.get(t.start..t.start + t.len).unwrap_or(&[])
    }
}

/// One call's bridge and what the endpoint needs around it.
struct Entry {
    bridge: WebrtcBridge,
    port: u16,
    handle: CallHandle,
    /// The SDP this call rendered (offer or answer), rendered again on retransmission.
    local_sdp: Option<String>,
    /// The peer's offer, received before `[webrtc_answer]` was rendered.
    remote_offer: Option<String>,
    /// When the next audio frame is due (from connected on).
    audio_at: Option<Instant>,
    /// The deadline pushed on the wake-up heap (older heap entries are stale).
    armed: Option<Instant>,
    /// ICE and DTLS are up.
    connected: bool,
    /// The tone plays (on from the start; `rtp_stream` pauses, resumes or stops it).
    tone: bool,
    /// `rtp_stream="synthetic,…,dur_ms"`: when the tone stops.
    tone_until: Option<Instant>,
    /// DTMF keys waiting to go (RFC 4733), and when the next one does.
    dtmf: VecDeque<char>,
    dtmf_at: Option<Instant>,
    /// The call's `rtpcheck`.
    check: Option<actions::Check>,
    /// `rtp_stream` of a file: what the call sends instead of the tone.
    source: Option<actions::FileSource>,
    /// `rtp_record`: the call's recording.
    recording: Option<record::Recording>,
    /// Shared sockets: the peer addresses routed to this call, and its ICE ufrag.
    peers: Vec<SocketAddr>,
    /// The destination of the call's last datagram, when it is in `peers`: the check
    /// per datagram stays in this entry, not in `peers`' heap block (a cache miss per
    /// SRTP packet at 1,000 calls, ~1 % of a side's CPU in perf).
    last_dest: Option<SocketAddr>,
    ufrag: Option<String>,
    /// Shared sockets: none fitted the offer; the call failed as `no_socket`.
    no_socket: bool,
}

/// The WebRTC side of one shard. See the module docs for the drive order.
pub struct WebrtcCalls {
    settings: WebrtcSettings,
    seed: u64,
    calls: HashMap<u64, Entry>,
    by_port: HashMap<u16, u64>,
    /// Bound by the shell, not used by a call yet.
    free: Vec<u16>,
    /// The shell could not bind another socket.
    exhausted: bool,
    closed: VecDeque<u16>,
    wake: BinaryHeap<Reverse<(Instant, u64)>>,
    failed: VecDeque<(CallHandle, WebrtcFailure)>,
    tx: WebrtcTx,
    /// A 1 kHz tone, one 20 ms frame in each G.711 law (it repeats exactly).
    pcmu: [u8; 160],
    pcma: [u8; 160],
    counters: WebrtcCounters,
    /// Audio frames sent and how late against their 20 ms schedule (the classic media's
    /// `scheduled_*` figures, for the ≥ 99 % within 1 ms goal).
    schedule: Schedule,
    /// Notes for the run's log (a DTMF key that could not go, a failed rtpcheck).
    warnings: VecDeque<String>,
    /// The scenario's media files (`rtp_stream` of a file), loaded once.
    library: Option<std::sync::Arc<crate::media::library::MediaLibrary>>,
    /// Finished recordings for the shell to write.
    recordings: VecDeque<crate::media::PendingRecording>,
    /// The shared sockets and their routes (`WebrtcSettings::shared_sockets` above 0).
    shared: Option<shared::SharedSockets>,
    /// The origin of the 1 ms grid audio frames are due on (the first call's start), so
    /// the frames of one millisecond leave in one turn and one sendmmsg per socket.
    grid: Option<Instant>,
}

impl std::fmt::Debug for WebrtcCalls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebrtcCalls")
            .field("calls", &self.calls.len())
            .field("free", &self.free.len())
            .finish_non_exhaustive()
    }
}

impl WebrtcCalls {
    /// A shard's WebRTC calls; `seed` feeds the bridges' STUN transaction ids.
    pub fn new(settings: WebrtcSettings, seed: u64) -> WebrtcCalls {
        let tone: Vec<i16> = (0..160)
            .map(|i| {
                let phase = (i % 8) as f64 / 8.0 * std::f64::consts::TAU;
                (phase.sin() * 8000.0) as i16
            })
            .collect();
        let mut pcmu = [0u8; 160];
        let mut pcma = [0u8; 160];
        G711Law::MuLaw.encode_slice(&tone, &mut pcmu);
        G711Law::ALaw.encode_slice(&tone, &mut pcma);
        let shared = (settings.shared_sockets > 0)
            .then(|| shared::SharedSockets::new(settings.shared_sockets));
        WebrtcCalls {
            settings,
            seed,
            calls: HashMap::new(),
            by_port: HashMap::new(),
            free: Vec::new(),
            exhausted: false,
            closed: VecDeque::new(),
            wake: BinaryHeap::new(),
            failed: VecDeque::new(),
            tx: WebrtcTx::default(),
            pcmu,
            pcma,
            counters: WebrtcCounters::default(),
            schedule: Schedule::default(),
            warnings: VecDeque::new(),
            library: None,
            recordings: VecDeque::new(),
            shared,
            grid: None,
        }
    }

    /// The scenario's media files, for `rtp_stream` of a file.
    pub fn set_library(&mut self, lib: std::sync::Arc<crate::media::library::MediaLibrary>) {
        self.library = Some(lib);
    }

    // ------------------------------------------------------------------ getters

    /// The WebRTC counters (merged into the shard's by the endpoint).
    pub fn counters(&self) -> &WebrtcCounters {
        &self.counters
    }

    /// Copies the shared sockets' collision count into the counters.
    fn sync_collisions(&mut self) {
        if let Some(s) = &self.shared {
            self.counters.route_collisions = s.collisions;
        }
    }

    /// Frames sent, those within 1 ms of their schedule, and the worst lateness (µs).
    pub fn schedule(&self) -> Schedule {
        self.schedule
    }

    /// Calls with a bridge.
    pub fn live(&self) -> usize {
        self.calls.len()
    }

    /// Call sockets open (used or spare; shared ones once each).
    pub fn open_sockets(&self) -> usize {
        match &self.shared {
            Some(s) => s.open(),
            None => self.by_port.len() + self.free.len(),
        }
    }

    /// Whether calls share sockets (`WebrtcSettings::shared_sockets`).
    pub fn is_shared(&self) -> bool {
        self.shared.is_some()
    }

    /// Shared sockets: learnt pairs another live call already owned (datagrams astray).
    pub fn route_collisions(&self) -> u64 {
        self.shared.as_ref().map_or(0, |s| s.collisions)
    }

    /// How many more bound ports the shell should hand in so that `new_calls` calls can
    /// open: never past `max_sockets`.
    #[must_use]
    pub fn ports_wanted(&self, new_calls: usize) -> usize {
        if self.exhausted {
            return 0;
        }
        if let Some(s) = &self.shared {
            // The pool grows with the live calls, whatever is due.
            let room = self.settings.max_sockets.saturating_sub(s.open());
            return s.wanted(self.calls.len()).min(room);
        }
        let room = self
            .settings
            .max_sockets
            .saturating_sub(self.by_port.len() + self.free.len());
        new_calls.saturating_sub(self.free.len()).min(room)
    }

    /// `ports_wanted` for a server with `waiting` first requests held for a socket: with
    /// shared sockets, one more per held offer (each found every socket reserved for its
    /// peer: live calls, or the 2 s quarantine of ended ones), so it can take a fresh one.
    #[must_use]
    pub fn ports_wanted_answering(&self, waiting: usize) -> usize {
        match &self.shared {
            Some(s) if !self.exhausted => {
                let room = self
                    .settings
                    .max_sockets
                    .min(s.cap())
                    .saturating_sub(s.open());
                s.wanted(self.calls.len()).max(waiting).min(room)
            }
            _ => self.ports_wanted(1 + waiting),
        }
    }

    /// Whether a new call can have its socket now.
    pub fn has_free_port(&self) -> bool {
        match &self.shared {
            // Any shared socket takes an offer; an answer takes the spare the pool keeps
            // (see `shared::SharedSockets::wanted`) or a socket where its peer is new.
            Some(s) => s.open() > 0,
            None => !self.free.is_empty(),
        }
    }

    /// Whether a call whose first request carries `body` (an offer, or nothing) can have
    /// its socket now: a free one, or, shared, one where none of the offer's candidate
    /// addresses is already a peer.
    pub fn can_take_offer(&self, now: Instant, body: &[u8]) -> bool {
        match &self.shared {
            Some(s) => {
                let peers = std::str::from_utf8(body)
                    .map(shared::candidate_addrs)
                    .unwrap_or_default();
                s.fits(now, &peers)
            }
            None => !self.free.is_empty(),
        }
    }

    /// Whether the shell may still bind another call socket (below `max_sockets`, and
    /// no bind has failed). When not, a call without a free socket fails (`no_socket`)
    /// instead of waiting.
    pub fn can_bind_more(&self) -> bool {
        if let Some(s) = &self.shared {
            // Any socket below the caps can still be bound for an offer that fits none.
            return !self.exhausted && s.open() < self.settings.max_sockets.min(s.cap());
        }
        self.ports_wanted(self.free.len() + 1) > 0
    }

    // ------------------------------------------------------------------ sockets

    /// The shell bound a call socket on `port`.
    pub fn supply(&mut self, port: u16) {
        match self.shared.as_mut() {
            Some(s) => s.supply(port),
            None => self.free.push(port),
        }
    }

    /// The shell could not bind another call socket.
    pub fn bind_failed(&mut self) {
        self.exhausted = true;
    }

    // ------------------------------------------------------------------ calls

    /// A call of the WebRTC scenario was created: it takes a socket and gets its bridge.
    /// `false` when no socket is free (the call cannot carry WebRTC media).
    pub fn open(&mut self, now: Instant, number: u64, call_id: &[u8], handle: CallHandle) -> bool {
        self.grid.get_or_insert(now);
        // A shared socket is picked at the SDP step (port 0 until then).
        let port = match &self.shared {
            Some(s) if s.open() > 0 => Some(0),
            Some(_) => None,
            None => self.free.pop(),
        };
        let Some(port) = port else {
            self.counters.no_socket += 1;
            return false;
        };
        let turn = self
            .settings
            .turn
            .as_mut()
            .map(|t| (t.server, t.credentials_at(now).clone()));
        let s = &self.settings;
        let mut cfg = WebrtcConfig::new(SocketAddr::new(s.ip, port));
        cfg.turn = turn;
        cfg.relay_only = s.relay_only;
        cfg.prefers_pcma = s.prefers_pcma;
        cfg.stun_servers.clone_from(&s.stun_servers);
        cfg.ice_timeout = s.ice_timeout;
        cfg.dtls_timeout = s.dtls_timeout;
        cfg.dtls_cert.clone_from(&s.dtls_cert);
        cfg.seed = self.seed ^ number.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let bridge = WebrtcBridge::new(now, cfg);
        let recording = record::automatic(now, s, call_id);
        if self.shared.is_none() {
            self.by_port.insert(port, number);
        }
        self.calls.insert(
            number,
            Entry {
                bridge,
                port,
                handle,
                local_sdp: None,
                remote_offer: None,
                audio_at: None,
                armed: None,
                connected: false,
                tone: true,
                tone_until: None,
                dtmf: VecDeque::new(),
                dtmf_at: None,
                check: None,
                source: None,
                recording,
                peers: Vec::new(),
                last_dest: None,
                ufrag: None,
                no_socket: false,
            },
        );
        self.counters.calls += 1;
        self.after(now, number);
        true
    }

    /// A SIP message of call `number` arrived with `body`: the answer to our offer, the
    /// peer's offer (kept for `[webrtc_answer]`), or trickle candidates.
    pub fn handle_sip(&mut self, now: Instant, number: u64, body: &[u8]) {
        let Some(e) = self.calls.get_mut(&number) else {
            return;
        };
        if body.is_empty() {
            return;
        }
        let Ok(text) = std::str::from_utf8(body) else {
            return;
        };
        let st = e.bridge.stats();
        let is_sdp = text.trim_start().starts_with("v=0");
        if st.offer_created && !st.answer_accepted {
            if is_sdp {
                // A bad answer fails the bridge; `after` reports it.
                let _ = e.bridge.accept_answer(now, text);
            } else {
                e.bridge.add_remote_candidates(now, text);
            }
        } else if st.answer_accepted || st.answer_created {
            e.bridge.add_remote_candidates(now, text);
        } else if is_sdp {
            e.remote_offer = Some(text.to_owned());
            if self.shared.is_some() {
                // The socket is taken now, where the offer's address is new (the
                // endpoint checked `can_take_offer` just before).
                self.pick_shared_socket(now, number, SdpKind::Answer);
            }
        } else if let Some(offer) = e.remote_offer.as_mut() {
            // Trickle before our answer: the candidates join the offer.
            for line in text
                .lines()
                .filter(|l| l.trim().starts_with("a=candidate:"))
            {
                offer.push_str(line.trim());
                offer.push_str("\r\n");
            }
        }
        self.after(now, number);
    }

    /// Renders the call's SDP (`[webrtc_offer]` or `[webrtc_answer]`) into `out`, making
    /// it the first time. Nothing is written when it cannot be made (no bridge, no offer
    /// to answer, a bad offer): the bridge failure is reported by `poll_failed`.
    pub fn write_local_sdp(&mut self, now: Instant, number: u64, kind: SdpKind, out: &mut Vec<u8>) {
        if self.shared.is_some() {
            self.pick_shared_socket(now, number, kind);
        }
        let Some(e) = self.calls.get_mut(&number) else {
            return;
        };
        if e.local_sdp.is_none() && (e.port != 0 || self.shared.is_none()) {
            let made = match kind {
                SdpKind::Offer => e.bridge.create_offer(now).ok(),
                SdpKind::Answer => match e.remote_offer.take() {
                    Some(offer) => e.bridge.accept_offer(now, &offer).ok(),
                    None => None,
                },
            };
            e.local_sdp = made;
        }
        if let Some(sdp) = &e.local_sdp {
            // The template's own line end follows the keyword.
            out.extend_from_slice(sdp.trim_end_matches(['\r', '\n']).as_bytes());
        } else if kind == SdpKind::Answer && e.bridge.failure().is_none() && !e.no_socket {
            // `[webrtc_answer]` before any offer arrived: nothing to answer.
            let h = e.handle;
            self.failed.push_back((h, WebrtcFailure::RemoteSdp));
        }
        self.after(now, number);
    }

    /// A datagram arrived on the call socket bound to `port`.
    pub fn handle_datagram(&mut self, now: Instant, port: u16, src: SocketAddr, bytes: &[u8]) {
        if let Some(s) = self.shared.as_mut() {
            let Some(number) = s.route(port, src, bytes) else {
                self.counters.stray_datagrams += 1;
                return;
            };
            let ip = self.settings.ip;
            // A check from an address not routed yet (peer-reflexive) is learnt when the
            // bridge answers it (`after`), so one that fails its integrity check is not.
            if let Some(e) = self.calls.get_mut(&number)
                && e.port == port
            {
                e.bridge
                    .handle_datagram(now, src, SocketAddr::new(ip, port), bytes);
            } else {
                self.counters.stray_datagrams += 1;
            }
            self.after(now, number);
            return;
        }
        let Some(&number) = self.by_port.get(&port) else {
            self.counters.stray_datagrams += 1;
            return;
        };
        let ip = self.settings.ip;
        if let Some(e) = self.calls.get_mut(&number) {
            e.bridge
                .handle_datagram(now, src, SocketAddr::new(ip, port), bytes);
        }
        self.after(now, number);
    }

    /// Runs due bridge timers and sends due audio frames.
    pub fn handle_timeout(&mut self, now: Instant) {
        if let Some(s) = self.shared.as_mut() {
            s.sweep(now);
        }
        self.sync_collisions();
        for _ in 0..MAX_WAKES {
            match self.wake.peek() {
                Some(Reverse((at, _))) if *at <= now => {}
                _ => break,
            }
            let Some(Reverse((at, number))) = self.wake.pop() else {
                break;
            };
            let Some(e) = self.calls.get_mut(&number) else {
                continue;
            };
            if e.armed != Some(at) {
                continue;
            }
            e.armed = None;
            if e.bridge.poll_timeout().is_some_and(|d| d <= now) {
                e.bridge.handle_timeout(now);
            }
            self.send_audio(now, number);
            self.send_dtmf(now, number);
            self.check_timeout(now, number);
            self.after(now, number);
        }
    }

    /// The due audio frames of call `number`.
    fn send_audio(&mut self, now: Instant, number: u64) {
        let Some(e) = self.calls.get_mut(&number) else {
            return;
        };
        let Some(mut at) = e.audio_at else {
            return;
        };
        if e.tone_until.is_some_and(|u| now >= u) {
            e.tone = false;
            e.tone_until = None;
            e.audio_at = None;
            return;
        }
        let codec = e.bridge.send_codec();
        let tone: &[u8] = match codec {
            Some(AudioCodec::Pcmu) => &self.pcmu,
            Some(AudioCodec::Pcma) => &self.pcma,
            Some(AudioCodec::Opus) => &OPUS_SILENCE_FRAME,
            None => return,
        };
        if codec == Some(AudioCodec::Opus) && e.source.take().is_some() {
            self.warnings.push_back(format!(
                "call {number}: rtp_stream: the peer took Opus; a G.711 file cannot be sent, the call sends Opus silence"
            ));
        }
        let mut sent = 0;
        let mut buf = [0u8; actions::MAX_FRAME];
        while at <= now && sent < MAX_CATCH_UP {
            let frame = match e.source.as_mut() {
                Some(src) => match src.next_frame(codec, &mut buf) {
                    Some(n) => &buf[..n],
                    None => {
                        // The file ended (its loops done): the stream stops, as in SIPp.
                        e.source = None;
                        e.tone = false;
                        e.audio_at = None;
                        return;
                    }
                },
                None => tone,
            };
            if e.bridge.send_audio(now, frame).is_err() {
                e.audio_at = None;
                return;
            }
            self.schedule.note(now.saturating_duration_since(at));
            if let Some(r) = e.recording.as_mut() {
                r.frame(now, gossipper_media::Direction::Sent, codec, None, frame);
            }
            at += PTIME;
            sent += 1;
        }
        if at <= now {
            // Too far behind: the schedule slips rather than bursting.
            at = now + PTIME;
        }
        e.audio_at = Some(at);
    }

    /// After any input of call `number`: its datagrams out, its events read, its next
    /// wake-up armed.
    fn after(&mut self, now: Instant, number: u64) {
        let Some(e) = self.calls.get_mut(&number) else {
            return;
        };
        while let Some(dest) = self.tx.take(&mut e.bridge, e.port) {
            if e.last_dest == Some(dest) {
                continue;
            }
            let mut known = e.peers.contains(&dest);
            if let Some(s) = self.shared.as_mut()
                && !known
                && e.peers.len() < shared::MAX_ROUTES
                && s.learn(number, e.port, dest)
            {
                e.peers.push(dest);
                known = true;
            }
            if known {
                e.last_dest = Some(dest);
            }
        }
        while let Some(ev) = e.bridge.poll_event() {
            match ev {
                WebrtcEvent::Connected => {
                    self.counters.connected += 1;
                    e.connected = true;
                    if e.tone {
                        e.audio_at = Some(on_grid(self.grid, now));
                    }
                    if !e.dtmf.is_empty() {
                        e.dtmf_at = Some(now);
                    }
                }
                WebrtcEvent::Failed(why) => {
                    e.audio_at = None;
                    e.dtmf_at = None;
                    self.failed.push_back((e.handle, why));
                }
                WebrtcEvent::Closed => {
                    e.audio_at = None;
                    e.dtmf_at = None;
                }
                WebrtcEvent::Media(f) => {
                    if let Some(r) = e.recording.as_mut() {
                        let ts = u32::try_from(f.rtp_time & u64::from(u32::MAX)).ok();
                        r.frame(
                            now,
                            gossipper_media::Direction::Received,
                            f.codec,
                            ts,
                            &f.payload,
                        );
                    }
                }
                WebrtcEvent::IceState(_) => {}
            }
        }
        let next = [
            e.bridge.poll_timeout(),
            e.audio_at,
            e.dtmf_at,
            e.check.as_ref().and_then(actions::Check::due),
        ]
        .into_iter()
        .flatten()
        .min();
        if let Some(d) = next
            && e.armed.is_none_or(|a| d < a || a <= now)
        {
            e.armed = Some(d);
            self.wake.push(Reverse((d, number)));
        }
    }

    /// The call is hanging up (a BYE or CANCEL came): its media stops and its bridge
    /// closes; the socket stays until the call ends (a late datagram finds it).
    pub fn close_media(&mut self, now: Instant, number: u64) {
        let Some(e) = self.calls.get_mut(&number) else {
            return;
        };
        e.audio_at = None;
        e.dtmf_at = None;
        e.bridge.close(now);
        self.after(now, number);
    }

    /// The call ended: its bridge closes (the close goes out with the next transmit),
    /// its port goes to `poll_closed_port`, and its stats are returned for its record.
    /// A failure of the bridge counts under its cause here, once per call.
    pub fn end_call(&mut self, now: Instant, number: u64) -> Option<EndedWebrtc> {
        let mut e = self.calls.remove(&number)?;
        let rtpcheck_failed = self.final_verdict(number, &mut e);
        if let Some(r) = e.recording.take() {
            self.recordings.push_back(r.finish());
        }
        e.bridge.close(now);
        while self.tx.take(&mut e.bridge, e.port).is_some() {}
        match self.shared.as_mut() {
            Some(s) => {
                if e.port != 0 {
                    s.release(now, number, e.port, &e.peers, e.ufrag.as_deref());
                }
            }
            None => {
                self.by_port.remove(&e.port);
                self.closed.push_back(e.port);
            }
        }
        let stats = e.bridge.stats();
        if let Some(why) = stats.failure {
            self.count_failure(why);
        }
        Some(EndedWebrtc {
            stats: Box::new(stats.clone()),
            rtpcheck_failed,
            checked: e.check.is_some(),
        })
    }

    fn count_failure(&mut self, why: WebrtcFailure) {
        let c = &mut self.counters;
        let slot = match why {
            WebrtcFailure::RemoteSdp => &mut c.failed_remote_sdp,
            WebrtcFailure::MissingFingerprint => &mut c.failed_missing_fingerprint,
            WebrtcFailure::IceTimeout => &mut c.failed_ice_timeout,
            WebrtcFailure::DtlsTimeout => &mut c.failed_dtls_timeout,
            WebrtcFailure::DtlsFailure => &mut c.failed_dtls_failure,
            WebrtcFailure::FingerprintMismatch => &mut c.failed_fingerprint_mismatch,
            WebrtcFailure::SrtpUndecryptable => &mut c.failed_srtp_undecryptable,
            WebrtcFailure::Turn => &mut c.failed_turn,
            WebrtcFailure::Internal => &mut c.failed_internal,
        };
        *slot += 1;
    }

    // ------------------------------------------------------------------ outputs

    /// Moves the queued datagrams into `out` (empty; the buffers are swapped). `false`
    /// when none is queued.
    #[must_use]
    pub fn poll_transmit(&mut self, out: &mut WebrtcTx) -> bool {
        if self.tx.is_empty() {
            return false;
        }
        debug_assert!(out.is_empty(), "poll_transmit wants an empty queue");
        std::mem::swap(&mut self.tx, out);
        true
    }

    /// A finished recording (`rtp_record`) to write as a WAV.
    #[must_use]
    pub fn poll_recording(&mut self) -> Option<crate::media::PendingRecording> {
        self.recordings.pop_front()
    }

    /// A note for the run's log.
    #[must_use]
    pub fn poll_warning(&mut self) -> Option<String> {
        self.warnings.pop_front()
    }

    /// A call whose bridge failed (the endpoint fails the call).
    #[must_use]
    pub fn poll_failed(&mut self) -> Option<(CallHandle, WebrtcFailure)> {
        self.failed.pop_front()
    }

    /// A port whose call ended; the shell closes its socket (after this turn's sends).
    #[must_use]
    pub fn poll_closed_port(&mut self) -> Option<u16> {
        self.closed.pop_front()
    }

    /// The next bridge deadline or audio frame.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.wake.peek().map(|Reverse((at, _))| *at)
    }
}

/// The first instant of the 1 ms grid at or after `now` (`now` without a grid).
fn on_grid(grid: Option<Instant>, now: Instant) -> Instant {
    let Some(origin) = grid else {
        return now;
    };
    let since = now.saturating_duration_since(origin);
    let ms = since.as_nanos().div_ceil(1_000_000);
    origin + Duration::from_nanos(u64::try_from(ms * 1_000_000).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests;

mod actions;
mod record;
mod settings;
mod shared;
pub use actions::EndedWebrtc;
pub use settings::{TurnRest, TurnSetup, WebrtcSettings};
