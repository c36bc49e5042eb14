//! Per-call recording: decodes the G.711 audio of a call (PT 0 and 8) into PCM and writes
//! it as a WAV through hound, mono (one direction) or stereo duplex (left = sent, right =
//! received).
//!
//! Owns: placing each packet's samples by RTP timestamp, so reordering, loss and silence
//! suppression land in the right place (gaps stay silent). Each direction is anchored at
//! its first packet: sample position = (arrival of the first packet − recording start) in
//! samples + (timestamp − first timestamp); that lines the two directions up in wall time
//! and keeps each one sample-exact by its own clock. An SSRC change re-anchors.
//!
//! Peer input never fails: non-G.711 payloads (DTMF events, other codecs) and packets
//! that would land before the start or past the length cap are counted and skipped, so
//! memory is bounded by the cap, not by the peer. Must not read a clock or touch files:
//! the caller gives `now` and a `Write + Seek` at the end.

use std::io::{Seek, Write};
use std::time::{Duration, Instant};

use thiserror::Error;

use crate::g711::G711Law;
use crate::rtp::RtpPacket;

const SAMPLE_RATE: u32 = 8000;
/// Default length cap: 10 minutes per direction (9.6 MB of PCM each).
pub const DEFAULT_MAX_DURATION: Duration = Duration::from_secs(600);
/// Largest jump between consecutive packets that is trusted (a longer jump is counted as
/// `out_of_range` unless it is an SSRC change).
const MAX_JUMP_SAMPLES: i64 = 60 * SAMPLE_RATE as i64;

/// Which side of the call a packet belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Sent by us.
    Sent,
    /// Received from the peer.
    Received,
}

/// What the WAV holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordMode {
    /// One channel: the given direction.
    Mono(Direction),
    /// Two channels: left = sent, right = received.
    Duplex,
}

/// Writing the WAV failed.
#[derive(Debug, Error)]
#[error("writing the recording: {0}")]
pub struct RecordError(#[from] hound::Error);

/// Packets the recorder skipped, by reason.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RecordStats {
    /// Packets recorded.
    pub packets: u64,
    /// Payload types other than 0 and 8 (DTMF events, other codecs).
    pub not_g711: u64,
    /// Packets before the anchor, beyond the cap, or after an implausible jump.
    pub out_of_range: u64,
}

#[derive(Debug, Clone, Default)]
struct Track {
    pcm: Vec<i16>,
    /// (ssrc, first timestamp, sample position of the first timestamp, last position)
    anchor: Option<(u32, u32, i64, i64)>,
}

/// Recorder of one call. Feed every RTP packet of both directions; call `write_wav` at
/// the end of the call.
#[derive(Debug, Clone)]
pub struct CallRecorder {
    mode: RecordMode,
    start: Instant,
    max_samples: usize,
    sent: Track,
    received: Track,
    stats: RecordStats,
}

impl CallRecorder {
    /// A recorder starting at `now`, keeping at most `max_duration` per direction.
    #[must_use]
    pub fn new(now: Instant, mode: RecordMode, max_duration: Duration) -> CallRecorder {
        let max = max_duration
            .as_secs()
            .saturating_mul(u64::from(SAMPLE_RATE));
        CallRecorder {
            mode,
            start: now,
            max_samples: usize::try_from(max).unwrap_or(usize::MAX),
            sent: Track::default(),
            received: Track::default(),
            stats: RecordStats::default(),
        }
    }

    /// Skip counters.
    #[must_use]
    pub fn stats(&self) -> RecordStats {
        self.stats
    }

    /// Recorded length in samples of one direction.
    #[must_use]
    pub fn samples(&self, direction: Direction) -> usize {
        match direction {
            Direction::Sent => self.sent.pcm.len(),
            Direction::Received => self.received.pcm.len(),
        }
    }

    fn wants(&self, direction: Direction) -> bool {
        match self.mode {
            RecordMode::Mono(d) => d == direction,
            RecordMode::Duplex => true,
        }
    }

    /// Records one packet seen at `now` in `direction`.
    pub fn handle_packet(&mut self, now: Instant, direction: Direction, pkt: &RtpPacket<'_>) {
        if !self.wants(direction) {
            return;
        }
        let Some(law) = G711Law::from_payload_type(pkt.header.payload_type) else {
            self.stats.not_g711 += 1;
            return;
        };
        let arrival = now.saturating_duration_since(self.start).as_nanos()
            * u128::from(SAMPLE_RATE)
            / 1_000_000_000;
        let arrival = i64::try_from(arrival).unwrap_or(i64::MAX);
        let h = pkt.header;
        let track = match direction {
            Direction::Sent => &mut self.sent,
            Direction::Received => &mut self.received,
        };
        let (ssrc, first_ts, base, last) = match track.anchor {
            Some(a) if a.0 == h.ssrc => a,
            _ => (
                h.ssrc,
                h.timestamp,
                arrival.max(track.pcm.len() as i64),
                arrival,
            ),
        };
        // Wrapping difference: handles timestamp wrap and modest reordering.
        let pos = base + i64::from(h.timestamp.wrapping_sub(first_ts) as i32);
        let end = pos + pkt.payload.len() as i64;
        if pos < 0 || end > self.max_samples as i64 || (pos - last).abs() > MAX_JUMP_SAMPLES {
            self.stats.out_of_range += 1;
            return;
        }
        track.anchor = Some((ssrc, first_ts, base, pos));
        // pos and end are within 0..=max_samples, checked above.
        let (pos, end) = (pos as usize, end as usize);
        if track.pcm.len() < end {
            track.pcm.resize(end, 0);
        }
        if let Some(dst) = track.pcm.get_mut(pos..end) {
            law.decode_slice(pkt.payload, dst);
        }
        self.stats.packets += 1;
    }

    /// Writes the recording as an 8 kHz 16-bit WAV.
    pub fn write_wav<W: Write + Seek>(&self, out: W) -> Result<(), RecordError> {
        let channels = match self.mode {
            RecordMode::Mono(_) => 1,
            RecordMode::Duplex => 2,
        };
        let spec = hound::WavSpec {
            channels,
            sample_rate: SAMPLE_RATE,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut w = hound::WavWriter::new(out, spec)?;
        match self.mode {
            RecordMode::Mono(d) => {
                let track = if d == Direction::Sent {
                    &self.sent
                } else {
                    &self.received
                };
                let mut s = w.get_i16_writer(u32::try_from(track.pcm.len()).unwrap_or(u32::MAX));
                for &v in &track.pcm {
                    s.write_sample(v);
                }
                s.flush()?;
            }
            RecordMode::Duplex => {
                let len = self.sent.pcm.len().max(self.received.pcm.len());
                let mut s = w.get_i16_writer(u32::try_from(len * 2).unwrap_or(u32::MAX));
                for i in 0..len {
                    s.write_sample(self.sent.pcm.get(i).copied().unwrap_or(0));
                    s.write_sample(self.received.pcm.get(i).copied().unwrap_or(0));
                }
                s.flush()?;
            }
        }
        w.finalize()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rtp::RtpHeader;
    use std::io::Cursor;

    fn packet(pt: u8, ts: u32, ssrc: u32, payload: &[u8]) -> RtpPacket<'_> {
        RtpPacket {
            header: RtpHeader {
                marker: false,
                payload_type: pt,
                sequence: 0,
                timestamp: ts,
                ssrc,
            },
            csrc_count: 0,
            has_extension: false,
            payload,
        }
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn read_back(r: &CallRecorder) -> (hound::WavSpec, Vec<i16>) {
        let mut c = Cursor::new(Vec::new());
        r.write_wav(&mut c).unwrap();
        let mut rd = hound::WavReader::new(Cursor::new(c.into_inner())).unwrap();
        let spec = rd.spec();
        (spec, rd.samples::<i16>().map(Result::unwrap).collect())
    }

    #[test]
    fn mono_recording_places_packets_by_timestamp_and_fills_gaps_with_silence() {
        let t0 = Instant::now();
        let mut r = CallRecorder::new(
            t0,
            RecordMode::Mono(Direction::Received),
            DEFAULT_MAX_DURATION,
        );
        let loud = [G711Law::MuLaw.encode(1000); 160];
        // packet 0 at ts 5000, packet 2 before packet 1 (reordered), packet 3 lost
        r.handle_packet(t0, Direction::Received, &packet(0, 5000, 1, &loud));
        r.handle_packet(t0 + ms(40), Direction::Received, &packet(0, 5320, 1, &loud));
        r.handle_packet(t0 + ms(41), Direction::Received, &packet(0, 5160, 1, &loud));
        r.handle_packet(t0 + ms(80), Direction::Received, &packet(0, 5640, 1, &loud));
        r.handle_packet(t0, Direction::Sent, &packet(0, 0, 2, &loud)); // not recorded in this mode
        let (spec, pcm) = read_back(&r);
        assert_eq!(
            (spec.channels, spec.sample_rate, spec.bits_per_sample),
            (1, 8000, 16)
        );
        assert_eq!(pcm.len(), 800);
        let v = G711Law::MuLaw.decode(G711Law::MuLaw.encode(1000));
        assert!(pcm[..480].iter().all(|&s| s == v));
        assert!(pcm[480..640].iter().all(|&s| s == 0));
        assert!(pcm[640..].iter().all(|&s| s == v));
        assert_eq!(r.stats().packets, 4);
    }

    #[test]
    fn duplex_puts_sent_left_and_received_right_aligned_by_arrival() {
        let t0 = Instant::now();
        let mut r = CallRecorder::new(t0, RecordMode::Duplex, DEFAULT_MAX_DURATION);
        let a = [G711Law::ALaw.encode(-3000); 160];
        let u = [G711Law::MuLaw.encode(7000); 160];
        r.handle_packet(t0, Direction::Sent, &packet(8, 123_456, 1, &a));
        // the peer's first packet arrives 10 ms later (80 samples) with its own clock
        r.handle_packet(t0 + ms(10), Direction::Received, &packet(0, 9, 2, &u));
        let (spec, pcm) = read_back(&r);
        assert_eq!(spec.channels, 2);
        let left: Vec<_> = pcm.iter().step_by(2).copied().collect();
        let right: Vec<_> = pcm.iter().skip(1).step_by(2).copied().collect();
        assert_eq!(left.len(), 240);
        assert!(left[..160].iter().all(|&s| s == G711Law::ALaw.decode(a[0])));
        assert!(left[160..].iter().all(|&s| s == 0));
        assert!(right[..80].iter().all(|&s| s == 0));
        assert!(
            right[80..]
                .iter()
                .all(|&s| s == G711Law::MuLaw.decode(u[0]))
        );
    }

    #[test]
    fn dtmf_far_jumps_and_the_cap_are_counted_not_recorded() {
        let t0 = Instant::now();
        let mut r = CallRecorder::new(
            t0,
            RecordMode::Mono(Direction::Received),
            Duration::from_secs(1),
        );
        let p = [0xFFu8; 160];
        r.handle_packet(t0, Direction::Received, &packet(101, 0, 1, &[1, 2, 3, 4]));
        r.handle_packet(t0, Direction::Received, &packet(0, 0, 1, &p));
        r.handle_packet(t0, Direction::Received, &packet(0, 8000 * 3600, 1, &p)); // far jump
        r.handle_packet(t0, Direction::Received, &packet(0, 7900, 1, &p)); // past the 1 s cap
        r.handle_packet(
            t0,
            Direction::Received,
            &packet(0, 0u32.wrapping_sub(320), 1, &p),
        ); // before start
        let s = r.stats();
        assert_eq!((s.packets, s.not_g711, s.out_of_range), (1, 1, 3));
        assert_eq!(r.samples(Direction::Received), 160);
    }

    #[test]
    fn an_ssrc_change_reanchors_at_the_arrival_time() {
        let t0 = Instant::now();
        let mut r = CallRecorder::new(
            t0,
            RecordMode::Mono(Direction::Received),
            DEFAULT_MAX_DURATION,
        );
        let p = [0x00u8; 160];
        r.handle_packet(t0, Direction::Received, &packet(0, 1000, 1, &p));
        r.handle_packet(t0 + ms(100), Direction::Received, &packet(0, 77, 2, &p));
        assert_eq!(r.samples(Direction::Received), 800 + 160);
    }
}
