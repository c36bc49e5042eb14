//! One call's WebRTC media: a wrapper owning one `str0m::Rtc` (ICE, DTLS-SRTP, RTP/RTCP),
//! fed datagrams and time, polled for datagrams, its next deadline and events.
//!
//! Owns: the `Rtc`, the SDP steps (offer/answer either way, trickle candidates), our ICE
//! and DTLS set-up timeouts, the audio send clock, the server-reflexive gathering of
//! [`ice_servers`], and the [`WebrtcStats`] of the call. Must not: read a clock, own a
//! socket, spawn anything, or panic on peer input — bad SDP, garbage, wrong keys or a
//! handshake that never ends fail this bridge with a [`WebrtcFailure`], nothing else.
//!
//! Driven by the shard's event loop, one bridge per call, on a UDP socket of its own or
//! one shared by many calls (`local_addr`; see [`WebrtcBridge::set_host`]). Contract, as for every state machine here (STYLE.md §3): make one
//! mutation (`handle_datagram`, `handle_timeout`, an SDP step, `send_audio`, `send_dtmf`,
//! `close`), then drain `poll_transmit` until `None`, then read `poll_timeout`, then
//! drain `poll_event`.
//!
//! ```text
//! // UAC                                          // UAS
//! let mut b = WebrtcBridge::new(now, cfg);         let mut b = WebrtcBridge::new(now, cfg);
//! let offer = b.create_offer(now)?;  // [webrtc_offer]
//!                                                  let answer = b.accept_offer(now, &offer)?; // [webrtc_answer]
//! b.accept_answer(now, &answer)?;    // 183 or 200
//! b.add_remote_candidates(now, later_sip_body);    // trickle, either side
//! loop {
//!     b.handle_datagram(now, src, dst, &buf[..n]) or b.handle_timeout(now);
//!     while let Some(t) = b.poll_transmit(&mut out) { socket.send_to(&out[..t.len], t.destination) }
//!     arm_timer(b.poll_timeout());
//!     while let Some(e) = b.poll_event() { … WebrtcEvent::Connected → start rtp_stream … }
//!     every 20 ms: b.send_audio(now, &frame)?;
//! }
//! record.webrtc = b.stats().clone();
//! ```
//!
//! Costs (reference/rust-deps.md): `Rtc` construction is ~1.5 ms, dominated by the DTLS
//! certificate unless one is shared through [`WebrtcConfig::dtls_cert`].

mod codec;
pub mod ice_servers;
mod stats;
#[cfg(test)]
mod tests;
pub mod turn;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use str0m::change::{SdpAnswer, SdpOffer, SdpPendingOffer};
use str0m::format::{Codec, FormatParams};
use str0m::media::{Direction, Frequency, MediaKind, Mid, Pt};
use str0m::net::{Protocol, Receive};
use str0m::rtp::{Extension, ExtensionMap, RtpWrite, SeqNo, Ssrc};
use str0m::{Candidate, Event, IceConnectionState, Input, Output, Rtc, RtcError};
use thiserror::Error;

pub use codec::{AudioCodec, OPUS_SILENCE_FRAME};
use codec::{clock_of, remote_audio_mid, remote_audio_pts};
pub use ice_servers::{
    IceServer, IceServerError, IceSettings, IceUrlScheme, StunGatherer, TurnCredentials,
    check_ice_settings,
};
pub use stats::{WebrtcFailure, WebrtcStats};
pub use str0m::config::DtlsCert;
use turn::{TurnClient, TurnEvent, TurnInput};

use crate::rtp::{TELEPHONE_EVENT_LEN, TelephoneEvent as Rfc4733Event, dtmf_event_for};

/// RFC 4733 telephone-event payload type we offer at 8 kHz.
pub const TELEPHONE_EVENT_PT: u8 = 101;
/// Inbound RTP datagrams in a row without one decrypted frame before we call the keys
/// wrong: 100 packets is 2 s of 20 ms audio, long past any reordering.
const UNDECRYPTABLE_STREAK: u32 = 100;
/// Payload types a bridge names the codec of (ours are four).
const MAX_PTS: usize = 8;
/// Between two RTCP reports of a call (see `WebrtcBridge::new`).
const RTCP_INTERVAL: Duration = Duration::from_secs(5);

/// What one bridge is set up with. Built once per call from the profile's `webrtc` row.
#[derive(Debug, Clone)]
pub struct WebrtcConfig {
    /// The call's UDP socket address: our one host candidate.
    pub local_addr: SocketAddr,
    /// Offer PCMA before PCMU, and send PCMA when the peer accepts both.
    pub prefers_pcma: bool,
    /// Offer and accept Opus (a browser prefers it).
    pub opus: bool,
    /// STUN servers, already resolved, for a server-reflexive candidate.
    pub stun_servers: Vec<SocketAddr>,
    /// A TURN server (resolved, UDP) and its credentials: the call allocates a relay
    /// there and offers it as a relay candidate ([`turn`]).
    pub turn: Option<(SocketAddr, TurnCredentials)>,
    /// ICE transport policy `relay`: no host or server-reflexive candidate, only the TURN
    /// relay; a failed allocation fails the call (`turn`).
    pub relay_only: bool,
    /// From negotiation to ICE connected.
    pub ice_timeout: Duration,
    /// From ICE connected to DTLS connected.
    pub dtls_timeout: Duration,
    /// A certificate shared by many calls (saves the per-call key generation).
    pub dtls_cert: Option<DtlsCert>,
    /// Randomness for STUN transaction ids (the shard's seeded RNG).
    pub seed: u64,
}

impl WebrtcConfig {
    /// Defaults: G.711 µ-law first, Opus accepted, 10 s for ICE and 10 s for DTLS.
    pub fn new(local_addr: SocketAddr) -> Self {
        Self {
            local_addr,
            prefers_pcma: false,
            opus: true,
            stun_servers: Vec::new(),
            turn: None,
            relay_only: false,
            ice_timeout: Duration::from_secs(10),
            dtls_timeout: Duration::from_secs(10),
            dtls_cert: None,
            seed: 0,
        }
    }
}

/// A fresh self-signed DTLS certificate to share among many bridges
/// ([`WebrtcConfig::dtls_cert`]). Reads the OS random source: the runtime calls it once
/// per run. `None` if the key could not be made (each bridge then makes its own).
pub fn generate_dtls_cert() -> Option<DtlsCert> {
    dimpl::certificate::generate_self_signed_certificate().ok()
}

/// A datagram to send; its bytes were written into the caller's buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transmit {
    /// Our address it leaves from (the call socket).
    pub source: SocketAddr,
    /// Where to send it.
    pub destination: SocketAddr,
    /// Bytes written at the start of the caller's buffer.
    pub len: usize,
}

/// One decrypted audio frame from the peer.
#[derive(Debug, Clone)]
pub struct MediaFrame {
    /// Its codec (`None`: a payload type we did not offer, e.g. telephone-event).
    pub codec: Option<AudioCodec>,
    /// RTP payload type.
    pub pt: u8,
    /// RTP timestamp, in the codec's clock.
    pub rtp_time: u64,
    /// The payload (str0m's buffer; no copy).
    pub payload: Arc<[u8]>,
}

/// What happened, in order.
#[derive(Debug, Clone)]
pub enum WebrtcEvent {
    /// ICE moved to a new state.
    IceState(IceConnectionState),
    /// ICE and DTLS are up: media can flow.
    Connected,
    /// A frame arrived.
    Media(MediaFrame),
    /// The bridge failed; it sends and accepts nothing more.
    Failed(WebrtcFailure),
    /// The bridge closed (ours or the peer's close_notify).
    Closed,
}

/// A call to the bridge that cannot be honoured now. Peer faults also fail the bridge
/// (see [`WebrtcEvent::Failed`]); the error tells the caller at once.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum WebrtcError {
    /// The SDP step does not fit the bridge's state (a caller bug).
    #[error("{0} is not possible now")]
    Misuse(&'static str),
    /// The bridge failed earlier or just now, for this reason.
    #[error("webrtc failed: {}", .0.as_str())]
    Failed(WebrtcFailure),
    /// Media cannot be sent before ICE and DTLS are up.
    #[error("not connected yet")]
    NotConnected,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    New,
    /// Our offer is out; waiting for the answer.
    Offered,
    /// Offer and answer are applied; ICE and DTLS run.
    Negotiated,
    Connected,
    Failed,
    Closed,
}

/// One call's WebRTC media over str0m. See the module doc for the drive loop.
pub struct WebrtcBridge {
    rtc: Rtc,
    phase: Phase,
    created_at: Instant,
    pending: Option<SdpPendingOffer>,
    mid: Option<Mid>,
    send: Option<(Pt, AudioCodec)>,
    tele_pt: Option<Pt>,
    /// The negotiated payload types and their codecs (`None`: telephone-event), to name
    /// the codec of a received packet (RTP mode: str0m hands us packets, not frames).
    /// Inline, as `own_ssrcs`: read per packet, a heap block of its own would be one
    /// more cache miss per packet at 1,000 calls.
    pts: [Option<(Pt, Option<AudioCodec>)>; MAX_PTS],
    /// Our send stream (str0m declared it from the SDP), looked up once.
    tx_ssrc: Option<Ssrc>,
    cfg: WebrtcConfig,
    /// Our RTP clock for the next audio frame.
    rtp_time: u64,
    /// The sequence number of our next RTP packet (extended; starts below 2^14, so
    /// the SRTP rollover counter starts at 0 as the peer assumes).
    seq: u64,
    /// The next audio packet starts a talkspurt (RTP marker bit).
    marker: bool,
    rtc_timeout: Option<Instant>,
    ice_deadline: Option<Instant>,
    dtls_deadline: Option<Instant>,
    stun: StunGatherer,
    turn: Option<TurnClient>,
    /// The TURN allocation's relayed address (our relay candidate's base).
    relayed: Option<SocketAddr>,
    /// The server-reflexive address, once learnt (to name the selected pair's kind).
    srflx: Option<SocketAddr>,
    transmits: VecDeque<str0m::net::Transmit>,
    events: VecDeque<WebrtcEvent>,
    undecryptable: u32,
    /// The SSRCs of the RTP we sent (read from the headers, which SRTP leaves clear).
    own_ssrcs: [Option<u32>; 8],
    stats: WebrtcStats,
}

impl std::fmt::Debug for WebrtcBridge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebrtcBridge")
            .field("phase", &self.phase)
            .field("local_addr", &self.cfg.local_addr)
            .finish_non_exhaustive()
    }
}

impl WebrtcBridge {
    /// A bridge for one call, with its host candidate in place and STUN gathering begun.
    pub fn new(now: Instant, cfg: WebrtcConfig) -> Self {
        let mut rc = Rtc::builder().clear_codecs();
        // The order we enable codecs is the order we offer them.
        let g711 = if cfg.prefers_pcma {
            [Codec::PCMA, Codec::PCMU]
        } else {
            [Codec::PCMU, Codec::PCMA]
        };
        for codec in g711 {
            rc = match codec {
                Codec::PCMA => rc.enable_pcma(true, false),
                _ => rc.enable_pcmu(true, false),
            };
        }
        rc = rc.enable_opus(cfg.opus, false);
        rc.codec_config().add_config(
            TELEPHONE_EVENT_PT.into(),
            None,
            Codec::Tele,
            Frequency::EIGHT_KHZ,
            None,
            FormatParams::default(),
        );
        if let Some(cert) = &cfg.dtls_cert {
            rc = rc.set_dtls_cert(cert.clone());
        }
        // Audio only, no bandwidth estimation: no transport-wide sequence numbers (TWCC)
        // nor absolute send time. With TWCC each side sent a feedback packet per call
        // every 50 ms, 20 SRTCP packets a second beside 50 of audio.
        let mut exts = ExtensionMap::empty();
        exts.set(1, Extension::AudioLevel);
        exts.set(4, Extension::RtpMid);
        rc = rc.set_extension_map(exts);
        // RTCP sender/receiver reports every 5 s (RFC 3550's minimum, str0m's default for
        // audio), not every second: str0m builds and parses each report through fixed
        // 31-entry lists (an SDES is ~30 KB moved around), ~60,000 instructions a report,
        // which at 1 s was 7 % of a call's userland work beside 50 packets a second of
        // audio (callgrind, perf/src/bin/webrtc_cost.rs). The loss and RTT of the call
        // record come from these reports: a call shorter than 5 s may lack them.
        // RTP mode: we write whole RTP packets and read them back, and str0m skips its
        // packetizer, depacketizer and frame buffers (a G.711 or Opus frame is one
        // packet, telephone-events are ours to build; see `send_audio`, `send_dtmf`).
        let mut rtc = rc
            .set_rtp_mode(true)
            .set_stats_interval(Some(Duration::from_secs(1)))
            .set_rtcp_report_interval_audio(RTCP_INTERVAL)
            .build(now);
        let mut stats = WebrtcStats {
            ice_state: "new",
            ..WebrtcStats::default()
        };
        // Port 0: a shared socket is picked later and named through `set_host`.
        if !cfg.relay_only
            && cfg.local_addr.port() != 0
            && let Ok(host) = Candidate::host(cfg.local_addr, "udp")
            && rtc.add_local_candidate(host).is_some()
        {
            stats.local_candidates += 1;
        }
        let stun_servers: &[SocketAddr] = if cfg.relay_only {
            &[]
        } else {
            &cfg.stun_servers
        };
        let stun = StunGatherer::new(cfg.local_addr, stun_servers, cfg.seed);
        let turn = cfg.turn.as_ref().map(|(server, creds)| {
            TurnClient::new(now, cfg.local_addr, *server, creds, cfg.seed ^ 0x7475_726E)
        });
        let mut bridge = Self {
            rtc,
            phase: Phase::New,
            created_at: now,
            pending: None,
            mid: None,
            send: None,
            tele_pt: None,
            pts: [None; MAX_PTS],
            tx_ssrc: None,
            seq: cfg.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 50,
            marker: true,
            cfg,
            rtp_time: 0,
            rtc_timeout: None,
            ice_deadline: None,
            dtls_deadline: None,
            stun,
            turn,
            relayed: None,
            srflx: None,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            undecryptable: 0,
            own_ssrcs: [None; 8],
            stats,
        };
        bridge.stun.handle_timeout(now);
        if let Some(t) = bridge.turn.as_mut() {
            t.handle_timeout(now);
        }
        if bridge.cfg.relay_only && bridge.turn.is_none() {
            bridge.fail(
                now,
                WebrtcFailure::Turn,
                "ICE transport policy relay without a TURN server".into(),
            );
        }
        bridge.drain(now);
        bridge
    }

    /// Names the socket of a bridge made with port 0 (a shared socket, chosen once the
    /// call knows its peer): its host candidate. Call before the SDP step; later calls,
    /// and calls on a bridge that has its address, are ignored.
    pub fn set_host(&mut self, local_addr: SocketAddr) {
        if self.cfg.local_addr.port() != 0 || self.phase != Phase::New {
            return;
        }
        self.cfg.local_addr = local_addr;
        if !self.cfg.relay_only
            && let Ok(host) = Candidate::host(local_addr, "udp")
            && self.rtc.add_local_candidate(host).is_some()
        {
            self.stats.local_candidates += 1;
        }
    }

    /// Our ICE username fragment: the first half of the USERNAME of every connectivity
    /// check the peer sends us (how a shared socket tells its calls apart).
    pub fn local_ufrag(&mut self) -> String {
        self.rtc.direct_api().local_ice_credentials().ufrag
    }

    // ---- getters ----------------------------------------------------------------------

    /// What the call did so far (the `webrtc` block of its record).
    pub fn stats(&self) -> &WebrtcStats {
        &self.stats
    }

    /// The codec we send, once negotiated.
    pub fn send_codec(&self) -> Option<AudioCodec> {
        self.send.map(|(_, c)| c)
    }

    /// ICE and DTLS are up.
    pub fn is_connected(&self) -> bool {
        self.phase == Phase::Connected
    }

    /// Why the bridge failed, if it did.
    pub fn failure(&self) -> Option<WebrtcFailure> {
        self.stats.failure
    }

    fn ms(&self, now: Instant) -> Option<u64> {
        Some(
            u64::try_from(now.saturating_duration_since(self.created_at).as_millis())
                .unwrap_or(u64::MAX),
        )
    }

    fn check_usable(&self) -> Result<(), WebrtcError> {
        match self.stats.failure {
            Some(f) => Err(WebrtcError::Failed(f)),
            None if self.phase == Phase::Closed => Err(WebrtcError::Misuse("a closed bridge")),
            None => Ok(()),
        }
    }

    // ---- SDP steps ----------------------------------------------------------------------

    /// UAC: our `UDP/TLS/RTP/SAVPF` audio offer, with our candidates. We are the ICE
    /// controlling side and offer `a=setup:actpass`.
    pub fn create_offer(&mut self, now: Instant) -> Result<String, WebrtcError> {
        self.check_usable()?;
        if self.phase != Phase::New {
            return Err(WebrtcError::Misuse("create_offer after negotiation began"));
        }
        let mut api = self.rtc.sdp_api();
        let mid = api.add_media(MediaKind::Audio, Direction::SendRecv, None, None, None);
        let (offer, pending) = api.apply().ok_or(WebrtcError::Misuse("an empty offer"))?;
        self.mid = Some(mid);
        self.pending = Some(pending);
        self.phase = Phase::Offered;
        self.stats.offer_created = true;
        let sdp = offer.to_sdp_string();
        self.drain(now);
        Ok(sdp)
    }

    /// UAC: applies the answer from a 183 or a 200. A second answer (the 200 after a 183)
    /// only adds the candidates it carries.
    pub fn accept_answer(&mut self, now: Instant, sdp: &str) -> Result<(), WebrtcError> {
        self.check_usable()?;
        match self.phase {
            Phase::Offered => {}
            Phase::Negotiated | Phase::Connected => {
                self.add_remote_candidates(now, sdp);
                return Ok(());
            }
            _ => return Err(WebrtcError::Misuse("accept_answer without an offer")),
        }
        // Gateways answer in older forms str0m does not parse: `RTP/SAVPF` for
        // `UDP/TLS/RTP/SAVPF`, a mid of their own where RFC 8843 wants ours echoed, no
        // BUNDLE group for our one audio m-line.
        let mut fixed = codec::normalize_proto(sdp);
        if let Some(ours) = self.mid
            && fixed.matches("\nm=").count() == 1
        {
            let ours = ours.to_string();
            if let Some(theirs) = codec::remote_audio_mid(&fixed)
                && *theirs != *ours
            {
                fixed = codec::rename_mid(&fixed, &theirs.to_string(), &ours);
            }
            fixed = codec::ensure_bundle(&fixed, &ours);
        }
        let sdp = fixed.as_str();
        let answer = match SdpAnswer::from_sdp_string(sdp) {
            Ok(a) => a,
            Err(e) => return Err(self.fail_sdp(now, &e.to_string())),
        };
        let pending = self
            .pending
            .take()
            .ok_or(WebrtcError::Misuse("accept_answer twice"))?;
        if let Err(e) = self.rtc.sdp_api().accept_answer(pending, answer) {
            return Err(self.fail_rtc(now, e));
        }
        self.stats.answer_accepted = true;
        self.negotiated(now, sdp)
    }

    /// UAS: applies the peer's offer and returns our answer.
    pub fn accept_offer(&mut self, now: Instant, sdp: &str) -> Result<String, WebrtcError> {
        self.check_usable()?;
        if self.phase != Phase::New {
            return Err(WebrtcError::Misuse("accept_offer after negotiation began"));
        }
        let fixed = codec::normalize_proto(sdp);
        let sdp = fixed.as_str();
        let offer = match SdpOffer::from_sdp_string(sdp) {
            Ok(o) => o,
            Err(e) => return Err(self.fail_sdp(now, &e.to_string())),
        };
        let answer = match self.rtc.sdp_api().accept_offer(offer) {
            Ok(a) => a,
            Err(e) => return Err(self.fail_rtc(now, e)),
        };
        self.stats.offer_accepted = true;
        self.stats.answer_created = true;
        // str0m announces the answerer's media (MediaAdded) only once connected; the mid
        // is the offer's.
        self.mid = remote_audio_mid(sdp).filter(|m| self.rtc.media(*m).is_some());
        self.negotiated(now, sdp)?;
        Ok(answer.to_sdp_string())
    }

    /// Both sides: the remote description is applied. Picks the send codec and starts the
    /// ICE clock.
    fn negotiated(&mut self, now: Instant, remote_sdp: &str) -> Result<(), WebrtcError> {
        self.phase = Phase::Negotiated;
        self.drain(now);
        let Some(mid) = self.mid else {
            return Err(self.fail_sdp(now, "no audio m-line"));
        };
        // What str0m's frame writer offers as `payload_params`: our codecs the peer took.
        let negotiated: Vec<(Pt, Codec)> = match self.rtc.media(mid) {
            Some(m) => self
                .rtc
                .codec_config()
                .params()
                .iter()
                .filter(|p| m.remote_pts().contains(&p.pt()))
                .map(|p| (p.pt(), p.spec().codec))
                .collect(),
            None => Vec::new(),
        };
        // Our codec config has four (PCMU, PCMA, Opus, telephone-event).
        for (slot, (pt, c)) in self.pts.iter_mut().zip(&negotiated) {
            *slot = Some((*pt, AudioCodec::from_str0m(*c)));
        }
        self.tele_pt = negotiated
            .iter()
            .find(|(_, c)| *c == Codec::Tele)
            .map(|(pt, _)| *pt);
        match self.choose_send_codec(&negotiated, remote_sdp) {
            Some(send) => {
                self.send = Some(send);
                self.stats.codec = Some(send.1.name());
            }
            None => return Err(self.fail_sdp(now, "no common audio codec")),
        }
        self.ice_deadline = Some(now + self.cfg.ice_timeout);
        self.drain(now);
        Ok(())
    }

    /// The peer's first audio codec that we also negotiated (a browser lists Opus first),
    /// except that `prefers_pcma` turns a PCMU choice into PCMA when both are there.
    fn choose_send_codec(
        &self,
        negotiated: &[(Pt, Codec)],
        remote_sdp: &str,
    ) -> Option<(Pt, AudioCodec)> {
        let find = |want: AudioCodec| {
            negotiated
                .iter()
                .find(|(_, c)| AudioCodec::from_str0m(*c) == Some(want))
                .map(|(pt, _)| (*pt, want))
        };
        let remote_order = remote_audio_pts(remote_sdp);
        let first = remote_order
            .into_iter()
            .flatten()
            .find_map(|pt| {
                negotiated
                    .iter()
                    .find(|(p, _)| *p == pt)
                    .and_then(|(p, c)| Some((*p, AudioCodec::from_str0m(*c)?)))
            })
            .or_else(|| {
                negotiated
                    .iter()
                    .find_map(|(p, c)| Some((*p, AudioCodec::from_str0m(*c)?)))
            })?;
        if self.cfg.prefers_pcma && first.1 == AudioCodec::Pcmu {
            return find(AudioCodec::Pcma).or(Some(first));
        }
        Some(first)
    }

    /// Applies `a=candidate` lines (trickle ICE, RFC 8840) from a later SIP body, or from a
    /// repeated answer. Returns how many were added; bad lines are counted, not fatal.
    pub fn add_remote_candidates(&mut self, now: Instant, body: &str) -> u32 {
        if self.check_usable().is_err() {
            return 0;
        }
        let mut added = 0;
        for line in body.lines() {
            let line = line.trim();
            let Some(cand) = line
                .strip_prefix("a=")
                .filter(|l| l.starts_with("candidate:"))
            else {
                continue;
            };
            match Candidate::from_sdp_string(cand) {
                Ok(c) => {
                    self.rtc.add_remote_candidate(c);
                    added += 1;
                }
                Err(_) => self.stats.remote_trickle_rejected += 1,
            }
        }
        self.stats.remote_trickle_added += added;
        self.drain(now);
        added
    }

    // ---- inputs -------------------------------------------------------------------------

    /// A datagram arrived on the call's socket. Garbage is counted and dropped.
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        source: SocketAddr,
        destination: SocketAddr,
        data: &[u8],
    ) {
        if self.check_usable().is_err() {
            return;
        }
        if self.stun.handle_response(now, source, data) {
            if let Some(srflx) = self.stun.take_mapped() {
                self.add_srflx(srflx);
            }
            self.drain(now);
            return;
        }
        if let Some(turn) = self.turn.as_mut() {
            match turn.handle_input(now, source, data) {
                TurnInput::NotOurs => {}
                TurnInput::Handled => {
                    self.drain(now);
                    return;
                }
                TurnInput::Data { peer, payload } => {
                    // From the peer through the relay: str0m sees it arrive on the relay
                    // candidate.
                    if let Some(relayed) = self.relayed {
                        self.receive(now, peer, relayed, payload);
                    }
                    return;
                }
            }
        }
        self.receive(now, source, destination, data);
    }

    /// A datagram for str0m (straight from the socket, or unwrapped from the relay).
    fn receive(&mut self, now: Instant, source: SocketAddr, destination: SocketAddr, data: &[u8]) {
        let Ok(recv) = Receive::new(Protocol::Udp, source, destination, data) else {
            self.stats.garbage_datagrams += 1;
            return;
        };
        if let Some(&b0) = data.first()
            && (128..192).contains(&b0)
        {
            self.stats.srtp_packets_received += 1;
            self.stats.srtp_bytes_received += data.len() as u64;
            let is_rtcp = data.get(1).is_some_and(|b| (192..=223).contains(b));
            if !is_rtcp && rtp_ssrc(data).is_some_and(|s| self.own_ssrcs.contains(&Some(s))) {
                // Our own stream, echoed back: it decrypts, but str0m drops it as ours.
                self.stats.rtp_echoed_received += 1;
            } else if !is_rtcp && self.phase == Phase::Connected {
                self.undecryptable += 1;
            }
        }
        if let Err(e) = self.rtc.handle_input(Input::Receive(now, recv)) {
            self.fail_rtc(now, e);
            return;
        }
        self.drain(now);
        if self.undecryptable >= UNDECRYPTABLE_STREAK {
            self.fail(
                now,
                WebrtcFailure::SrtpUndecryptable,
                "no inbound RTP packet decrypted".into(),
            );
        }
    }

    /// Time passed: str0m's timers, STUN retransmits, and our set-up timeouts.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.check_usable().is_err() {
            return;
        }
        if self.ice_deadline.is_some_and(|d| now >= d) {
            self.fail(
                now,
                WebrtcFailure::IceTimeout,
                "ICE found no working pair".into(),
            );
            return;
        }
        if self.dtls_deadline.is_some_and(|d| now >= d) {
            self.fail(
                now,
                WebrtcFailure::DtlsTimeout,
                "DTLS handshake did not finish".into(),
            );
            return;
        }
        self.stun.handle_timeout(now);
        if let Some(t) = self.turn.as_mut() {
            t.handle_timeout(now);
        }
        if let Err(e) = self.rtc.handle_input(Input::Timeout(now)) {
            self.fail_rtc(now, e);
            return;
        }
        self.drain(now);
    }

    // ---- commands -----------------------------------------------------------------------

    /// Sends one 20 ms audio frame in the negotiated codec (160 bytes of G.711, or an Opus
    /// packet such as [`OPUS_SILENCE_FRAME`]).
    pub fn send_audio(&mut self, now: Instant, payload: &[u8]) -> Result<(), WebrtcError> {
        self.check_usable()?;
        let (pt, codec, _) = self.sendable()?;
        let marker = std::mem::take(&mut self.marker);
        self.write_rtp(now, pt, marker, payload)?;
        self.rtp_time += u64::from(codec.samples_per_20ms());
        self.stats.rtp_packets_sent += 1;
        self.packetize(now)
    }

    /// Queues one RTP packet of ours (the next sequence number, our RTP clock) on the
    /// send stream str0m declared for the audio m-line.
    fn write_rtp(
        &mut self,
        now: Instant,
        pt: Pt,
        marker: bool,
        payload: &[u8],
    ) -> Result<(), WebrtcError> {
        let (_, _, mid) = self.sendable()?;
        let mut api = self.rtc.direct_api();
        let ssrc = match self.tx_ssrc {
            Some(s) => s,
            None => {
                let s = api
                    .stream_tx_by_mid(mid, None)
                    .ok_or(WebrtcError::NotConnected)?
                    .ssrc();
                self.tx_ssrc = Some(s);
                s
            }
        };
        let stream = api.stream_tx(&ssrc).ok_or(WebrtcError::NotConnected)?;
        // The RTP timestamp is the clock's low 32 bits (it wraps, as RFC 3550 wants).
        let time = (self.rtp_time & u64::from(u32::MAX)) as u32;
        stream
            .write_rtp(RtpWrite::new(pt, SeqNo::from(self.seq), time, now, payload).marker(marker));
        self.seq += 1;
        Ok(())
    }

    /// str0m sends a written RTP packet only on its next timeout (it stamps the queued
    /// packets then, and asks for one at once): run it now, so the packet's SRTP is out
    /// of this one drain instead of a second wake-up and drain of the call (one str0m
    /// poll cycle per frame, not two).
    fn packetize(&mut self, now: Instant) -> Result<(), WebrtcError> {
        if let Err(e) = self.rtc.handle_input(Input::Timeout(now)) {
            return Err(self.fail_rtc(now, e));
        }
        self.drain(now);
        Ok(())
    }

    /// Sends one RFC 4733 DTMF digit (`0-9 * # A-D`) lasting `duration`, as the negotiated
    /// telephone-event packets. Refused if the peer did not accept telephone-event.
    pub fn send_dtmf(
        &mut self,
        now: Instant,
        digit: char,
        duration: Duration,
    ) -> Result<(), WebrtcError> {
        self.check_usable()?;
        let (_, codec, _) = self.sendable()?;
        let Some(event) = dtmf_event_for(digit).filter(|_| !digit.is_ascii_lowercase()) else {
            return Err(WebrtcError::Misuse("a DTMF digit outside 0-9 * # A-D"));
        };
        let Some(tele_pt) = self.tele_pt.filter(|_| codec != AudioCodec::Opus) else {
            // Our telephone-event is 8 kHz only; Opus runs a 48 kHz clock.
            return Err(WebrtcError::Misuse(
                "DTMF without a negotiated 8 kHz telephone-event",
            ));
        };
        // One packet per key, its end bit set and the whole duration in it (what
        // str0m's frame writer sent), at the audio clock's current time.
        let units = duration.as_millis().saturating_mul(8);
        let tone = Rfc4733Event {
            event,
            end: true,
            volume: 10,
            duration: u16::try_from(units).unwrap_or(u16::MAX),
        };
        let mut payload = [0u8; TELEPHONE_EVENT_LEN];
        if tone.write(&mut payload).is_err() {
            return Err(WebrtcError::Misuse("a telephone-event payload"));
        }
        self.write_rtp(now, tele_pt, true, &payload)?;
        // The audio after the event starts a new talkspurt.
        self.marker = true;
        self.stats.dtmf_sent += 1;
        self.packetize(now)
    }

    fn sendable(&self) -> Result<(Pt, AudioCodec, Mid), WebrtcError> {
        match (self.phase, self.send, self.mid) {
            (Phase::Connected, Some((pt, codec)), Some(mid)) => Ok((pt, codec, mid)),
            _ => Err(WebrtcError::NotConnected),
        }
    }

    /// Ends the call's media: RTCP BYE and DTLS close_notify go out through `poll_transmit`.
    pub fn close(&mut self, now: Instant) {
        if matches!(self.phase, Phase::Closed | Phase::Failed) {
            return;
        }
        let _ = self.rtc.close();
        self.drain(now);
        self.release_turn(now);
        self.closed(now);
    }

    /// Ends the TURN allocation (Refresh with LIFETIME 0) once nothing more is relayed.
    fn release_turn(&mut self, now: Instant) {
        if let Some(t) = self.turn.as_mut() {
            t.close(now);
            while let Some(x) = t.poll_transmit() {
                self.transmits.push_back(x);
            }
        }
        self.relayed = None;
    }

    fn closed(&mut self, now: Instant) {
        if self.phase != Phase::Closed {
            self.phase = Phase::Closed;
            self.stats.closed_ms = self.ms(now);
            self.ice_deadline = None;
            self.dtls_deadline = None;
            self.events.push_back(WebrtcEvent::Closed);
        }
    }

    // ---- outputs ------------------------------------------------------------------------

    /// The next datagram to send, copied into `out` (cleared first).
    #[must_use]
    pub fn poll_transmit(&mut self, out: &mut Vec<u8>) -> Option<Transmit> {
        out.clear();
        self.poll_transmit_append(out)
    }

    /// The next datagram to send, appended to `out` (its `len` bytes are the tail): a
    /// caller that batches a turn's datagrams in one buffer copies each once.
    #[must_use]
    pub fn poll_transmit_append(&mut self, out: &mut Vec<u8>) -> Option<Transmit> {
        let t = self.transmits.pop_front()?;
        out.extend_from_slice(&t.contents);
        Some(Transmit {
            source: t.source,
            destination: t.destination,
            len: t.contents.len(),
        })
    }

    /// When to call `handle_timeout` next.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        if matches!(self.phase, Phase::Failed | Phase::Closed) {
            return None;
        }
        [
            self.rtc_timeout,
            self.ice_deadline,
            self.dtls_deadline,
            self.stun.poll_timeout(),
            self.turn.as_ref().and_then(TurnClient::poll_timeout),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// The next event.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<WebrtcEvent> {
        self.events.pop_front()
    }

    // ---- str0m output -------------------------------------------------------------------

    /// Drains str0m until it names its next timeout; also moves STUN requests out.
    fn drain(&mut self, now: Instant) {
        while let Some(t) = self.stun.poll_transmit() {
            self.transmits.push_back(t);
        }
        self.poll_turn(now);
        // str0m ends every drain with a Timeout; the cap only guards against a bug there.
        for _ in 0..100_000 {
            if !self.rtc.is_alive() {
                self.rtc_timeout = None;
                break;
            }
            match self.rtc.poll_output() {
                Ok(Output::Timeout(t)) => {
                    self.rtc_timeout = Some(t);
                    break;
                }
                Ok(Output::Transmit(t)) => {
                    if let Some(&b0) = t.contents.first()
                        && (128..192).contains(&b0)
                    {
                        self.stats.srtp_packets_sent += 1;
                        self.stats.srtp_bytes_sent += t.contents.len() as u64;
                        let is_rtcp = t.contents.get(1).is_some_and(|b| (192..=223).contains(b));
                        if let Some(s) = rtp_ssrc(&t.contents).filter(|_| !is_rtcp)
                            && !self.own_ssrcs.contains(&Some(s))
                            && let Some(free) = self.own_ssrcs.iter_mut().find(|o| o.is_none())
                        {
                            *free = Some(s);
                        }
                    }
                    if self.relayed.is_some_and(|r| r == t.source)
                        && let Some(turn) = self.turn.as_mut()
                    {
                        // Sent from the relay candidate: a Send indication to the server.
                        turn.create_permission(now, t.destination.ip());
                        turn.send_to(t.destination, &t.contents);
                    } else {
                        self.transmits.push_back(t);
                    }
                }
                Ok(Output::Event(e)) => self.handle_event(now, e),
                Err(e) => {
                    self.fail_rtc(now, e);
                    break;
                }
            }
            if matches!(self.phase, Phase::Failed) {
                break;
            }
        }
        self.poll_turn(now);
    }

    /// Moves the TURN client's datagrams out and acts on its events: a relay candidate
    /// once allocated; a failure that fails a relay-only call.
    fn poll_turn(&mut self, now: Instant) {
        let Some(turn) = self.turn.as_mut() else {
            return;
        };
        while let Some(x) = turn.poll_transmit() {
            self.transmits.push_back(x);
        }
        while let Some(e) = self.turn.as_mut().and_then(TurnClient::poll_event) {
            match e {
                TurnEvent::Allocated { relayed, .. } => {
                    if let Ok(c) = Candidate::relayed(relayed, self.cfg.local_addr, "udp")
                        && self.rtc.add_local_candidate(c).is_some()
                    {
                        self.stats.local_candidates += 1;
                        self.relayed = Some(relayed);
                        self.stats.turn_relayed = Some(relayed);
                    }
                }
                TurnEvent::Failed(err) => {
                    let detail = err.to_string();
                    self.relayed = None;
                    self.stats.turn_error = Some(detail.clone());
                    if self.cfg.relay_only && self.phase != Phase::Closed {
                        self.fail(now, WebrtcFailure::Turn, detail);
                    }
                }
                TurnEvent::PermissionCreated(_)
                | TurnEvent::PermissionFailed { .. }
                | TurnEvent::Closed => {}
            }
        }
    }

    fn handle_event(&mut self, now: Instant, e: Event) {
        match e {
            Event::IceConnectionStateChange(s) => {
                self.stats.ice_state = ice_state_name(s);
                match s {
                    IceConnectionState::Checking => {
                        self.stats
                            .ice_checking_ms
                            .get_or_insert(self.ms(now).unwrap_or(0));
                    }
                    IceConnectionState::Connected | IceConnectionState::Completed => {
                        if self.stats.ice_connected_ms.is_none() {
                            self.stats.ice_connected_ms = self.ms(now);
                            self.ice_deadline = None;
                            if self.phase != Phase::Connected {
                                self.dtls_deadline = Some(now + self.cfg.dtls_timeout);
                            }
                        }
                    }
                    IceConnectionState::Disconnected => {
                        self.stats.ice_disconnected_ms = self.ms(now)
                    }
                    IceConnectionState::New => {}
                }
                self.events.push_back(WebrtcEvent::IceState(s));
            }
            Event::Connected => {
                self.phase = Phase::Connected;
                self.stats.dtls_connected_ms = self.ms(now);
                self.dtls_deadline = None;
                self.ice_deadline = None;
                self.events.push_back(WebrtcEvent::Connected);
            }
            Event::MediaAdded(m) if m.kind == MediaKind::Audio && self.mid.is_none() => {
                self.mid = Some(m.mid);
            }
            Event::RtpPacket(p) => {
                self.undecryptable = 0;
                self.stats.rtp_packets_received += 1;
                let pt = p.header.payload_type;
                let codec = self
                    .pts
                    .iter()
                    .flatten()
                    .find(|(p, _)| *p == pt)
                    .and_then(|(_, c)| *c);
                self.events.push_back(WebrtcEvent::Media(MediaFrame {
                    codec,
                    pt: *pt,
                    rtp_time: p.time.numer(),
                    payload: p.payload,
                }));
            }
            Event::PeerStats(s) => {
                if let Some(pair) = s.selected_candidate_pair {
                    let local = pair.local.addr;
                    self.stats.selected_kind = Some(if Some(local) == self.relayed {
                        "relay"
                    } else if local == self.cfg.local_addr {
                        "host"
                    } else if Some(local) == self.srflx {
                        "srflx"
                    } else {
                        "prflx"
                    });
                    self.stats.selected_local = Some(local);
                    self.stats.selected_remote = Some(pair.remote.addr);
                    if let Some(rtt) = pair.current_round_trip_time {
                        self.stats.rtt_ms = Some(rtt.as_secs_f64() * 1000.0);
                    }
                }
            }
            Event::MediaIngressStats(s) => {
                if let Some((_, codec)) = self.send {
                    let hz = f64::from(clock_of(codec).get());
                    self.stats.jitter_ms = Some(f64::from(s.jitter) * 1000.0 / hz);
                }
            }
            Event::MediaEgressStats(s) => {
                if s.loss.is_some() {
                    self.stats.fraction_lost = s.loss;
                }
                if let Some(rtt) = s.rtt {
                    self.stats.rtt_ms = Some(rtt.as_secs_f64() * 1000.0);
                }
            }
            Event::Closed => self.closed(now),
            _ => {}
        }
    }

    // ---- failure ------------------------------------------------------------------------

    fn fail(&mut self, now: Instant, why: WebrtcFailure, detail: String) -> WebrtcError {
        if self.stats.failure.is_none() {
            self.stats.failure = Some(why);
            self.stats.failure_detail = Some(detail);
            self.stats.failed_ms = self.ms(now);
            self.phase = Phase::Failed;
            self.ice_deadline = None;
            self.dtls_deadline = None;
            self.rtc.disconnect();
            self.release_turn(now);
            self.events.push_back(WebrtcEvent::Failed(why));
        }
        WebrtcError::Failed(self.stats.failure.unwrap_or(why))
    }

    fn fail_sdp(&mut self, now: Instant, detail: &str) -> WebrtcError {
        self.fail(now, WebrtcFailure::RemoteSdp, detail.to_owned())
    }

    /// Sorts str0m's error into our causes. str0m reports a fingerprint problem only as
    /// `RemoteSdp` text, so that one case reads the text.
    fn fail_rtc(&mut self, now: Instant, e: RtcError) -> WebrtcError {
        let detail = e.to_string();
        let why = match &e {
            RtcError::RemoteSdp(s) if s.contains("fingerprint no match") => {
                WebrtcFailure::FingerprintMismatch
            }
            RtcError::RemoteSdp(s) if s.contains("fingerprint") => {
                WebrtcFailure::MissingFingerprint
            }
            RtcError::RemoteSdp(_) | RtcError::Sdp(_) => WebrtcFailure::RemoteSdp,
            RtcError::Dtls(_) => WebrtcFailure::DtlsFailure,
            _ => WebrtcFailure::Internal,
        };
        self.fail(now, why, detail)
    }

    fn add_srflx(&mut self, mapped: SocketAddr) {
        if mapped == self.cfg.local_addr {
            return;
        }
        self.srflx = Some(mapped);
        if let Ok(c) = Candidate::server_reflexive(mapped, self.cfg.local_addr, "udp")
            && self.rtc.add_local_candidate(c).is_some()
        {
            self.stats.local_candidates += 1;
        }
    }
}

/// The SSRC of an RTP packet (bytes 8..12, clear in SRTP).
fn rtp_ssrc(data: &[u8]) -> Option<u32> {
    let b: [u8; 4] = data.get(8..12)?.try_into().ok()?;
    Some(u32::from_be_bytes(b))
}

fn ice_state_name(s: IceConnectionState) -> &'static str {
    match s {
        IceConnectionState::New => "new",
        IceConnectionState::Checking => "checking",
        IceConnectionState::Connected => "connected",
        IceConnectionState::Completed => "completed",
        IceConnectionState::Disconnected => "disconnected",
    }
}
