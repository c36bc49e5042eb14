//! One outgoing RTP stream as a sans-IO state machine: what to send and when.
//!
//! Owns: SSRC, sequence number, timestamp and marker; the position in its source (a pcap
//! payload list, G.711 frames from a WAV, synthetic silence, or nothing but DTMF); loops;
//! pause, resume and stop; RFC 4733 DTMF events that replace audio frames while a key is
//! sent (same SSRC and sequence space). Must not: read a clock, touch a socket, allocate
//! per packet or panic. Driven by `scheduler` (or any caller) as:
//!
//! ```text
//! loop {
//!     while let Some(len) = stream.poll_transmit(now, &mut buf) { send(&buf[..len]) }
//!     sleep until stream.poll_timeout()  // None: paused, finished, or idle
//! }
//! ```
//!
//! Deadlines advance from the previous deadline, not from `now`, so a late poll does not
//! drift the stream; after a long stall (more than [`MAX_CATCH_UP`] behind) the missed
//! packets are skipped and counted rather than sent in a burst. Pcap payloads are sent
//! byte for byte with their original gaps, as SIPp's `play_pcap_audio` does; the other
//! sources are packetised here with a 12-byte header.

use std::sync::Arc;
use std::time::{Duration, Instant};

use thiserror::Error;

use crate::g711::G711Law;
use crate::pcap_source::PcapPayloads;
use crate::rtp::{RTP_HEADER_LEN, RtpHeader, RtpPacket, TelephoneEvent, dtmf_event_for};
use crate::wav_source::{AudioFrames, FRAME_SAMPLES};

/// Packet interval of the frame-clocked sources (WAV, silence, DTMF).
pub const PTIME: Duration = Duration::from_millis(20);
/// How far behind schedule a stream may fall before missed packets are skipped.
pub const MAX_CATCH_UP: Duration = Duration::from_millis(200);
/// Most DTMF keys that may wait in one stream's queue.
pub const MAX_DTMF_QUEUE: usize = 64;
/// Timestamp units per frame (8 kHz, 20 ms).
const TS_PER_FRAME: u32 = FRAME_SAMPLES as u32;

/// What a stream sends.
#[derive(Debug, Clone)]
pub enum StreamSource {
    /// Captured UDP payloads, sent as they are with their original gaps.
    Pcap(Arc<PcapPayloads>),
    /// Encoded frames (a WAV or an `rtp_stream` file), one per 20 ms.
    Frames(Arc<AudioFrames>),
    /// Codec silence, one frame per 20 ms, for `duration` or until stopped.
    Silence {
        /// The law whose silence code fills the frames.
        law: G711Law,
        /// Total length, or `None` for "until stopped".
        duration: Option<Duration>,
    },
    /// No audio: the stream sends only DTMF events, and idles between them.
    DtmfOnly,
}

/// How many times a source plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Loops {
    /// Play this many passes (0 behaves as 1, like SIPp).
    Count(u32),
    /// Play until stopped (SIPp's `-1`).
    Forever,
}

/// Fixed parameters of a stream, chosen by the caller (SSRC and initial values come from
/// the shard's seeded RNG).
#[derive(Debug, Clone, Copy)]
pub struct StreamConfig {
    /// Synchronisation source of generated packets.
    pub ssrc: u32,
    /// First sequence number.
    pub initial_sequence: u16,
    /// First timestamp.
    pub initial_timestamp: u32,
    /// Payload type of audio frames (ignored for pcap sources).
    pub payload_type: u8,
    /// Payload type of RFC 4733 events.
    pub dtmf_payload_type: u8,
    /// Passes over the source.
    pub loops: Loops,
}

impl StreamConfig {
    /// A config with the given SSRC and payload type, sequence and timestamp from 0,
    /// DTMF on PT 101, one pass.
    #[must_use]
    pub fn new(ssrc: u32, payload_type: u8) -> StreamConfig {
        StreamConfig {
            ssrc,
            initial_sequence: 0,
            initial_timestamp: 0,
            payload_type,
            dtmf_payload_type: 101,
            loops: Loops::Count(1),
        }
    }
}

/// A caller bug: the command does not apply to this stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum StreamError {
    /// A DTMF key outside `0-9 * # A-D`.
    #[error("invalid DTMF key {0:?}")]
    InvalidDtmfKey(char),
    /// More than [`MAX_DTMF_QUEUE`] keys waiting.
    #[error("DTMF queue full")]
    DtmfQueueFull,
    /// Pcap payloads carry their own RTP headers; DTMF cannot be mixed into them.
    #[error("DTMF cannot be mixed into a pcap replay; use a DtmfOnly stream")]
    DtmfOnPcap,
    /// The stream was stopped or has finished.
    #[error("stream finished")]
    Finished,
}

/// Running state of a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamState {
    /// Sending on schedule (or idle, for a DtmfOnly stream with nothing queued).
    Playing,
    /// Paused by a command; resumes where it left off.
    Paused,
    /// Stopped by a command or played to the end.
    Finished,
}

/// Counters of what a stream sent, for RTCP SR and the summary.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SendStats {
    /// RTP packets sent.
    pub packets: u64,
    /// Payload octets sent (RFC 3550 sender octet count: no headers).
    pub payload_octets: u64,
    /// Bytes handed to the socket (headers included).
    pub bytes: u64,
    /// Packets skipped because the stream fell more than [`MAX_CATCH_UP`] behind.
    pub late_skipped: u64,
    /// Packets dropped because the caller's buffer was too small (a caller bug).
    pub oversize_skipped: u64,
    /// DTMF keys completed.
    pub dtmf_keys: u64,
}

/// Progress through one DTMF key: slots 0..updates are updates, then 3 end packets,
/// then the inter-key gap.
#[derive(Debug, Clone, Copy)]
struct DtmfTone {
    event: u8,
    start_ts: u32,
    slot: u16,
}

/// Queued keys and the key being sent.
#[derive(Debug, Clone)]
struct DtmfState {
    queue: [u8; MAX_DTMF_QUEUE],
    head: usize,
    len: usize,
    tone: Option<DtmfTone>,
}

impl Default for DtmfState {
    fn default() -> DtmfState {
        DtmfState {
            queue: [0; MAX_DTMF_QUEUE],
            head: 0,
            len: 0,
            tone: None,
        }
    }
}

const DTMF_UPDATES: u16 = 5; // 100 ms
const DTMF_ENDS: u16 = 3; // RFC 4733 §2.5.1.4
const DTMF_GAP: u16 = 5; // 100 ms between keys
const DTMF_VOLUME: u8 = 10;

/// An outgoing RTP stream. See the module docs for the drive loop.
#[derive(Debug)]
pub struct RtpStream {
    config: StreamConfig,
    source: StreamSource,
    state: StreamState,
    /// Deadline of the next packet when playing; `None` when idle (DtmfOnly, no keys).
    next_at: Option<Instant>,
    /// Time left until `next_at` when paused.
    paused_remaining: Option<Duration>,
    /// Index of the next item (pcap packet or frame) in the current pass.
    index: usize,
    /// Completed passes.
    passes: u32,
    sequence: u16,
    timestamp: u32,
    marker_pending: bool,
    /// DTMF is rare: its queue lives behind a box, allocated on the first `send_dtmf`.
    dtmf: Option<Box<DtmfState>>,
    last_now: Option<Instant>,
    last_rtp_timestamp: u32,
    /// Deadline of the last packet sent (its media instant).
    last_sent_at: Option<Instant>,
    stats: SendStats,
    /// Packet interval of a `Silence` source, ms (20 unless `with_silence_ptime`; a u8
    /// keeps the stream within its size budget).
    silence_ptime_ms: u8,
}

/// Shortest packet interval of a silence stream (`with_silence_ptime`).
pub const MIN_SILENCE_PTIME: Duration = Duration::from_millis(10);
/// Longest packet interval of a silence stream (`with_silence_ptime`).
pub const MAX_SILENCE_PTIME: Duration = Duration::from_millis(100);

/// Samples of the longest silence frame (8 kHz G.711).
const MAX_SILENCE_SAMPLES: usize = 800;

impl RtpStream {
    /// A stream that sends its first packet at `now`.
    #[must_use]
    pub fn new(now: Instant, config: StreamConfig, source: StreamSource) -> RtpStream {
        let idle = matches!(source, StreamSource::DtmfOnly);
        let empty = match &source {
            StreamSource::Pcap(p) => p.packets().is_empty(),
            StreamSource::Frames(f) => f.is_empty(),
            StreamSource::Silence { duration, .. } => duration.is_some_and(|d| d < PTIME),
            StreamSource::DtmfOnly => false,
        };
        RtpStream {
            config,
            source,
            state: if empty {
                StreamState::Finished
            } else {
                StreamState::Playing
            },
            next_at: if idle || empty { None } else { Some(now) },
            paused_remaining: None,
            index: 0,
            passes: 0,
            sequence: config.initial_sequence,
            timestamp: config.initial_timestamp,
            marker_pending: true,
            dtmf: None,
            last_now: Some(now),
            last_rtp_timestamp: config.initial_timestamp,
            last_sent_at: None,
            stats: SendStats::default(),
            silence_ptime_ms: PTIME.as_millis() as u8,
        }
    }

    /// A `Silence` stream sending one packet every `ptime` (whole milliseconds, clamped
    /// to 10–100 ms; 8 samples and timestamp units per millisecond) instead of every
    /// 20 ms: the standalone sender's `-rtp_freq_ms`. Other sources keep 20 ms.
    #[must_use]
    pub fn with_silence_ptime(mut self, ptime: Duration) -> RtpStream {
        let ms = ptime
            .clamp(MIN_SILENCE_PTIME, MAX_SILENCE_PTIME)
            .as_millis();
        self.silence_ptime_ms = u8::try_from(ms).unwrap_or(u8::MAX);
        self
    }

    /// The packet interval and timestamp step of this stream's frames.
    fn frame_step(&self) -> (Duration, u32) {
        match self.source {
            StreamSource::Silence { .. } => {
                let ms = u32::from(self.silence_ptime_ms);
                (Duration::from_millis(u64::from(ms)), ms * 8)
            }
            _ => (PTIME, TS_PER_FRAME),
        }
    }

    /// Current state.
    #[must_use]
    pub fn state(&self) -> StreamState {
        self.state
    }

    /// True once stopped or played out.
    #[must_use]
    pub fn is_finished(&self) -> bool {
        self.state == StreamState::Finished
    }

    /// What was sent so far.
    #[must_use]
    pub fn stats(&self) -> SendStats {
        self.stats
    }

    /// The SSRC of generated packets.
    #[must_use]
    pub fn ssrc(&self) -> u32 {
        self.config.ssrc
    }

    /// The RTP timestamp of the last packet sent (for RTCP SR).
    #[must_use]
    pub fn last_rtp_timestamp(&self) -> u32 {
        self.last_rtp_timestamp
    }

    /// The RTP timestamp matching `now` for an RTCP SR: the last packet's timestamp plus
    /// the time since that packet was due, at 8 kHz. `None` before the first packet.
    #[must_use]
    pub fn rtp_timestamp_at(&self, now: Instant) -> Option<u32> {
        let at = self.last_sent_at?;
        let units = now.saturating_duration_since(at).as_nanos() * 8000 / 1_000_000_000;
        Some(
            self.last_rtp_timestamp
                .wrapping_add((units & 0xFFFF_FFFF) as u32),
        )
    }

    /// The largest datagram this stream can produce: size the send buffer with it.
    #[must_use]
    pub fn max_packet_len(&self) -> usize {
        match &self.source {
            StreamSource::Pcap(p) => p.max_payload_len(),
            StreamSource::Frames(f) => RTP_HEADER_LEN + f.frame_len().max(FRAME_SAMPLES),
            StreamSource::Silence { .. } => RTP_HEADER_LEN + self.frame_step().1 as usize,
            _ => RTP_HEADER_LEN + FRAME_SAMPLES,
        }
    }

    /// Deadline of the next packet, or `None` when paused, finished or idle.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            StreamState::Playing => self.next_at,
            _ => None,
        }
    }

    /// Pauses the stream; the position is kept (SIPp `rtp_stream="pause"`).
    pub fn pause(&mut self, now: Instant) {
        let now = self.observe(now);
        if self.state == StreamState::Playing {
            self.paused_remaining = self.next_at.map(|at| at.saturating_duration_since(now));
            self.state = StreamState::Paused;
        }
    }

    /// Resumes a paused stream (SIPp `rtp_stream="resume"`). The timestamp jumps by the
    /// paused time, as a real sampling clock would, and the next packet carries the marker.
    pub fn resume(&mut self, now: Instant) {
        let now = self.observe(now);
        if self.state != StreamState::Paused {
            return;
        }
        self.state = StreamState::Playing;
        if let Some(remaining) = self.paused_remaining.take() {
            let next = now + remaining;
            if let Some(old) = self.next_at {
                let paused = next.saturating_duration_since(old);
                let (ptime, step) = self.frame_step();
                let frames = paused.as_micros() / ptime.as_micros();
                let frames = u32::try_from(frames).unwrap_or(u32::MAX);
                self.timestamp = self.timestamp.wrapping_add(frames.wrapping_mul(step));
            }
            self.next_at = Some(next);
            self.marker_pending = true;
        }
    }

    /// Stops the stream for good (SIPp `rtp_stream="stop"`).
    pub fn stop(&mut self) {
        self.state = StreamState::Finished;
        self.next_at = None;
        self.dtmf = None;
    }

    /// Queues RFC 4733 DTMF keys (`send_dtmf`): each key sends 100 ms of event updates,
    /// three end packets and a 100 ms gap, replacing audio frames meanwhile.
    pub fn send_dtmf(&mut self, now: Instant, keys: &str) -> Result<(), StreamError> {
        let now = self.observe(now);
        if self.is_finished() {
            return Err(StreamError::Finished);
        }
        if matches!(self.source, StreamSource::Pcap(_)) {
            return Err(StreamError::DtmfOnPcap);
        }
        let mut events = [0u8; MAX_DTMF_QUEUE];
        let mut n = 0;
        for k in keys.chars() {
            let e = dtmf_event_for(k).ok_or(StreamError::InvalidDtmfKey(k))?;
            if self.dtmf.as_ref().map_or(0, |d| d.len) + n >= MAX_DTMF_QUEUE {
                return Err(StreamError::DtmfQueueFull);
            }
            events[n] = e;
            n += 1;
        }
        for &e in &events[..n] {
            let d = self.dtmf.get_or_insert_with(Default::default);
            let tail = (d.head + d.len) % MAX_DTMF_QUEUE;
            d.queue[tail] = e;
            d.len += 1;
        }
        if self.next_at.is_none() && self.state == StreamState::Playing && n > 0 {
            self.next_at = Some(now);
        }
        Ok(())
    }

    /// Time never moves back: an older `now` is treated as the latest one seen.
    fn observe(&mut self, now: Instant) -> Instant {
        let now = match self.last_now {
            Some(last) if now < last => last,
            _ => now,
        };
        self.last_now = Some(now);
        now
    }

    /// Writes the next due packet into `out` and returns its length, or `None` when
    /// nothing is due at `now`. Call until `None`, then wait for [`Self::poll_timeout`].
    #[must_use]
    pub fn poll_transmit(&mut self, now: Instant, out: &mut [u8]) -> Option<usize> {
        let now = self.observe(now);
        loop {
            if self.state != StreamState::Playing {
                return None;
            }
            let due = self.next_at?;
            if due > now {
                return None;
            }
            let late = now.duration_since(due) > MAX_CATCH_UP;
            if late {
                self.stats.late_skipped += 1;
            }
            match self.emit(due, out, late) {
                Emit::Sent(n) => {
                    self.last_sent_at = Some(due);
                    return Some(n);
                }
                Emit::Skipped => continue,
            }
        }
    }

    /// Produces (or skips, when `skip`) the packet due at `due` and advances the schedule.
    fn emit(&mut self, due: Instant, out: &mut [u8], skip: bool) -> Emit {
        // DTMF replaces the audio slot when a key is active or queued.
        if !matches!(self.source, StreamSource::Pcap(_))
            && self
                .dtmf
                .as_ref()
                .is_some_and(|d| d.tone.is_some() || d.len > 0)
        {
            return self.emit_dtmf(due, out, skip);
        }
        match &self.source {
            StreamSource::Pcap(p) => {
                let p = Arc::clone(p);
                let Some(pkt) = p.packets().get(self.index).copied() else {
                    self.finish();
                    return Emit::Skipped;
                };
                let payload = p.payload(&pkt);
                let result = if skip {
                    Emit::Skipped
                } else if let Some(dst) = out.get_mut(..payload.len()) {
                    dst.copy_from_slice(payload);
                    if let Ok(rtp) = RtpPacket::parse(payload) {
                        self.last_rtp_timestamp = rtp.header.timestamp;
                        self.stats.payload_octets += rtp.payload.len() as u64;
                    }
                    self.count_sent(payload.len());
                    Emit::Sent(payload.len())
                } else {
                    self.stats.oversize_skipped += 1;
                    Emit::Skipped
                };
                self.index += 1;
                let gap = match p.packets().get(self.index) {
                    Some(next) => next.offset.saturating_sub(pkt.offset),
                    None => {
                        self.index = 0;
                        self.end_pass();
                        PTIME
                    }
                };
                self.advance(due, gap);
                result
            }
            StreamSource::Frames(f) => {
                let f = Arc::clone(f);
                let result = match f.frame(self.index) {
                    Some(frame) if !skip => self.write_audio(frame, out),
                    _ => Emit::Skipped,
                };
                self.index += 1;
                if self.index >= f.len() {
                    self.index = 0;
                    self.end_pass();
                }
                self.timestamp = self.timestamp.wrapping_add(TS_PER_FRAME);
                self.advance(due, PTIME);
                result
            }
            StreamSource::Silence { law, duration } => {
                let (law, duration) = (*law, *duration);
                let (ptime, step) = self.frame_step();
                let result = if skip {
                    Emit::Skipped
                } else {
                    let frame = [law.silence(); MAX_SILENCE_SAMPLES];
                    let n = (step as usize).min(MAX_SILENCE_SAMPLES);
                    self.write_audio(&frame[..n], out)
                };
                self.index += 1;
                if duration
                    .is_some_and(|d| ptime * u32::try_from(self.index).unwrap_or(u32::MAX) >= d)
                {
                    self.finish();
                }
                self.timestamp = self.timestamp.wrapping_add(step);
                self.advance(due, ptime);
                result
            }
            StreamSource::DtmfOnly => {
                // Nothing queued: go idle until the next send_dtmf.
                self.next_at = None;
                Emit::Skipped
            }
        }
    }

    fn emit_dtmf(&mut self, due: Instant, out: &mut [u8], skip: bool) -> Emit {
        let timestamp = self.timestamp;
        let Some(d) = self.dtmf.as_mut() else {
            return Emit::Skipped;
        };
        let tone = match d.tone {
            Some(t) => t,
            None => {
                let event = d.queue[d.head];
                d.head = (d.head + 1) % MAX_DTMF_QUEUE;
                d.len = d.len.saturating_sub(1);
                let t = DtmfTone {
                    event,
                    start_ts: timestamp,
                    slot: 0,
                };
                d.tone = Some(t);
                t
            }
        };
        let result = if tone.slot < DTMF_UPDATES + DTMF_ENDS && !skip {
            let end = tone.slot >= DTMF_UPDATES;
            let ev = TelephoneEvent {
                event: tone.event,
                end,
                volume: DTMF_VOLUME,
                // slot < 8, so this is at most 5 * 160 = 800.
                duration: (tone.slot.min(DTMF_UPDATES - 1) + 1) * TS_PER_FRAME as u16,
            };
            let mut body = [0u8; 4];
            let _ = ev.write(&mut body); // a 4-byte buffer always fits
            let header = RtpHeader {
                marker: tone.slot == 0,
                payload_type: self.config.dtmf_payload_type,
                sequence: self.sequence,
                timestamp: tone.start_ts,
                ssrc: self.config.ssrc,
            };
            self.write_packet(&header, &body, out)
        } else if tone.slot < DTMF_UPDATES + DTMF_ENDS + DTMF_GAP
            && !matches!(self.source, StreamSource::DtmfOnly)
            && !skip
        {
            // Inter-key gap: the audio source sends silence-equivalent slots of its own.
            let law =
                G711Law::from_payload_type(self.config.payload_type).unwrap_or(G711Law::MuLaw);
            self.write_audio(&[law.silence(); FRAME_SAMPLES], out)
        } else {
            Emit::Skipped
        };
        let next_slot = tone.slot + 1;
        let mut idle = false;
        if let Some(d) = self.dtmf.as_mut() {
            if next_slot >= DTMF_UPDATES + DTMF_ENDS + DTMF_GAP {
                d.tone = None;
                self.stats.dtmf_keys += 1;
            } else {
                d.tone = Some(DtmfTone {
                    slot: next_slot,
                    ..tone
                });
            }
            idle = d.tone.is_none() && d.len == 0;
        }
        self.timestamp = self.timestamp.wrapping_add(TS_PER_FRAME);
        if idle && matches!(self.source, StreamSource::DtmfOnly) {
            self.next_at = None;
        } else {
            self.advance(due, PTIME);
        }
        result
    }

    fn write_audio(&mut self, payload: &[u8], out: &mut [u8]) -> Emit {
        let header = RtpHeader {
            marker: self.marker_pending,
            payload_type: self.config.payload_type,
            sequence: self.sequence,
            timestamp: self.timestamp,
            ssrc: self.config.ssrc,
        };
        let r = self.write_packet(&header, payload, out);
        if matches!(r, Emit::Sent(_)) {
            self.marker_pending = false;
        }
        r
    }

    fn write_packet(&mut self, header: &RtpHeader, payload: &[u8], out: &mut [u8]) -> Emit {
        match crate::rtp::write_rtp(header, payload, out) {
            Ok(n) => {
                self.sequence = self.sequence.wrapping_add(1);
                self.last_rtp_timestamp = header.timestamp;
                self.stats.payload_octets += payload.len() as u64;
                self.count_sent(n);
                Emit::Sent(n)
            }
            Err(_) => {
                self.stats.oversize_skipped += 1;
                Emit::Skipped
            }
        }
    }

    fn count_sent(&mut self, bytes: usize) {
        self.stats.packets += 1;
        self.stats.bytes += bytes as u64;
    }

    fn advance(&mut self, due: Instant, gap: Duration) {
        if self.state == StreamState::Playing {
            self.next_at = Some(due + gap);
        }
    }

    fn end_pass(&mut self) {
        self.passes = self.passes.saturating_add(1);
        if let Loops::Count(n) = self.config.loops
            && self.passes >= n.max(1)
        {
            self.finish();
        }
    }

    fn finish(&mut self) {
        // Keys still queued are dropped with the stream, as when SIPp's stream ends.
        self.state = StreamState::Finished;
        self.next_at = None;
    }
}

enum Emit {
    Sent(usize),
    Skipped,
}

#[cfg(test)]
mod tests;
