//! Generators for the media assets shipped in `assets/media/`: a G.711 A-law 440 Hz tone
//! capture, an RFC 4733 (RFC 2833) DTMF capture and a PCM WAV prompt, all written by our
//! own code so the project carries no third-party audio. `examples/gen_assets.rs` writes
//! them; a test regenerates them and checks they are byte-identical to the checked-in
//! files, so they stay reproducible. Tests also generate, at run time, the tone under
//! other link layers (Linux cooked SLL, raw IP) and a video-like capture
//! ([`write_tone_pcap_as`], [`write_video_pcap`]).
//!
//! Owns: building RTP packets, wrapping them in link-layer/IPv4/UDP frames (with correct
//! IP and UDP checksums) and writing a classic pcap through pcap-file. Writes to any
//! `Write`; never opens files, never reads a clock (timestamps start at a fixed epoch).

use std::io::{Seek, Write};
use std::time::Duration;

use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};
use pcap_file::{DataLink, Endianness, TsResolution};

use crate::g711::G711Law;
use crate::rtp::{RtpHeader, TelephoneEvent, dtmf_event_for, write_rtp};
use crate::tone;
use crate::wav_source::FRAME_SAMPLES;

/// File name of the tone capture.
pub const TONE_PCAP: &str = "g711a_tone.pcap";
/// File name of the DTMF capture.
pub const DTMF_PCAP: &str = "dtmf_2833.pcap";
/// File name of the WAV prompt.
pub const TONE_WAV: &str = "tone_440_8k.wav";

/// Fixed capture epoch: 2024-01-01T00:00:00Z.
const EPOCH: Duration = Duration::from_secs(1_704_067_200);
/// Source and destination of every generated datagram (127.0.0.1 both ways).
const SRC_PORT: u16 = 6000;
const DST_PORT: u16 = 6002;
/// Tone: 440 Hz for 4 s at about -10 dBm0 with 10 ms fades.
const TONE_HZ: u32 = 440;
const TONE_AMPLITUDE: i16 = 8000;
const TONE_SECONDS: usize = 4;
/// DTMF payload type (the usual dynamic choice) and timing: 100 ms per key, 100 ms gap.
pub const DTMF_PAYLOAD_TYPE: u8 = 101;
/// Keys in the DTMF capture.
pub const DTMF_KEYS: &str = "1234";
const DTMF_PACKETS_PER_KEY: u16 = 5;
const DTMF_GAP_PACKETS: u32 = 5;
const DTMF_VOLUME: u8 = 10;

/// RTP payload type of the video capture (a dynamic one, as H.264 offers use).
pub const VIDEO_PAYLOAD_TYPE: u8 = 96;
/// Video capture timing: 25 frames/s on the 90 kHz video clock, one packet per frame.
const VIDEO_FRAME_MS: u64 = 40;
const VIDEO_TS_STEP: u32 = 3600;
/// Bytes of each video packet's payload.
const VIDEO_PAYLOAD_BYTES: usize = 600;

/// A pcap-file or I/O error while writing an asset.
pub type GenResult = Result<(), pcap_file::PcapError>;

/// The link layer a generated capture is written with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Link {
    /// Ethernet II (what the checked-in assets use).
    Ethernet,
    /// Linux cooked capture v1 (`tcpdump -i any`).
    LinuxSll,
    /// Raw IP, no link header (LINKTYPE_RAW).
    RawIp,
}

impl Link {
    fn datalink(self) -> DataLink {
        match self {
            Link::Ethernet => DataLink::ETHERNET,
            Link::LinuxSll => DataLink::LINUX_SLL,
            Link::RawIp => DataLink::RAW,
        }
    }

    /// The bytes before the IPv4 header.
    fn header(self) -> &'static [u8] {
        match self {
            Link::Ethernet => &[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x08, 0x00],
            // Packet type 0 (to us), ARPHRD_LOOPBACK (772), a 6-byte address padded to
            // 8, protocol IPv4.
            Link::LinuxSll => &[0, 0, 3, 4, 0, 6, 0, 0, 0, 0, 0, 0, 0, 0, 0x08, 0x00],
            Link::RawIp => &[],
        }
    }
}

fn checksum(words: &[u8], mut sum: u32) -> u16 {
    let mut chunks = words.chunks_exact(2);
    for c in &mut chunks {
        sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [last] = chunks.remainder() {
        sum += u32::from(*last) << 8;
    }
    while sum > 0xFFFF {
        sum = (sum & 0xFFFF) + (sum >> 16);
    }
    !(sum as u16)
}

/// Ethernet II + IPv4 + UDP around `payload`, 127.0.0.1:SRC_PORT → 127.0.0.1:DST_PORT.
#[cfg(test)]
fn udp_frame(payload: &[u8], ip_id: u16) -> Vec<u8> {
    link_frame(Link::Ethernet, payload, ip_id)
}

/// `link`'s header + IPv4 + UDP around `payload`, 127.0.0.1:SRC_PORT → 127.0.0.1:DST_PORT.
fn link_frame(link: Link, payload: &[u8], ip_id: u16) -> Vec<u8> {
    let udp_len = (8 + payload.len()) as u16;
    let total = 20 + udp_len;
    let mut f = Vec::with_capacity(link.header().len() + usize::from(total));
    f.extend_from_slice(link.header());
    let mut ip = [0u8; 20];
    ip[0] = 0x45;
    ip[2..4].copy_from_slice(&total.to_be_bytes());
    ip[4..6].copy_from_slice(&ip_id.to_be_bytes());
    ip[6] = 0x40; // don't fragment
    ip[8] = 64;
    ip[9] = 17;
    ip[12..16].copy_from_slice(&[127, 0, 0, 1]);
    ip[16..20].copy_from_slice(&[127, 0, 0, 1]);
    let c = checksum(&ip, 0);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    f.extend_from_slice(&ip);
    let mut udp = Vec::with_capacity(usize::from(udp_len));
    udp.extend_from_slice(&SRC_PORT.to_be_bytes());
    udp.extend_from_slice(&DST_PORT.to_be_bytes());
    udp.extend_from_slice(&udp_len.to_be_bytes());
    udp.extend_from_slice(&[0, 0]);
    udp.extend_from_slice(payload);
    // Pseudo-header: source, destination, protocol, UDP length.
    let pseudo = 0x7F00u32 + 0x0001 + 0x7F00 + 0x0001 + 17 + u32::from(udp_len);
    let mut c = checksum(&udp, pseudo);
    if c == 0 {
        c = 0xFFFF;
    }
    udp[6..8].copy_from_slice(&c.to_be_bytes());
    f.extend_from_slice(&udp);
    f
}

fn writer<W: Write>(out: W, link: Link) -> Result<PcapWriter<W>, pcap_file::PcapError> {
    PcapWriter::with_header(
        out,
        PcapHeader {
            version_major: 2,
            version_minor: 4,
            ts_correction: 0,
            ts_accuracy: 0,
            snaplen: 65535,
            datalink: link.datalink(),
            ts_resolution: TsResolution::MicroSecond,
            endianness: Endianness::Little,
        },
    )
}

fn write_frame<W: Write>(
    w: &mut PcapWriter<W>,
    link: Link,
    at: Duration,
    payload: &[u8],
    ip_id: u16,
) -> GenResult {
    let frame = link_frame(link, payload, ip_id);
    // Frames are at most a few hundred bytes.
    let len = u32::try_from(frame.len()).unwrap_or(u32::MAX);
    w.write_packet(&PcapPacket::new(EPOCH + at, len, &frame))?;
    Ok(())
}

/// The tone's PCM samples (also used for the WAV asset).
#[must_use]
pub fn tone_pcm() -> Vec<i16> {
    tone::sine(TONE_HZ, TONE_AMPLITUDE, TONE_SECONDS * 8000, 80)
}

/// Writes the 4 s, 440 Hz, A-law (PT 8), 20 ms-per-packet tone capture.
pub fn write_tone_pcap(out: impl Write) -> GenResult {
    write_tone_pcap_as(out, Link::Ethernet)
}

/// The tone capture of [`write_tone_pcap`] with another link layer (same 200 packets).
pub fn write_tone_pcap_as(out: impl Write, link: Link) -> GenResult {
    let mut w = writer(out, link)?;
    let pcm = tone_pcm();
    let mut payload = [0u8; FRAME_SAMPLES];
    let mut pkt = [0u8; 12 + FRAME_SAMPLES];
    for (i, chunk) in pcm.chunks(FRAME_SAMPLES).enumerate() {
        payload.fill(G711Law::ALaw.silence());
        G711Law::ALaw.encode_slice(chunk, &mut payload);
        let i16_ = i as u16; // 200 packets
        let header = RtpHeader {
            marker: i == 0,
            payload_type: G711Law::ALaw.payload_type(),
            sequence: 1000 + i16_,
            timestamp: (i * FRAME_SAMPLES) as u32,
            ssrc: 0x676F_7331,
        };
        let n = write_rtp(&header, &payload, &mut pkt)
            .map_err(|_| pcap_file::PcapError::InvalidField("rtp"))?;
        write_frame(
            &mut w,
            link,
            Duration::from_millis(20 * i as u64),
            &pkt[..n],
            i16_,
        )?;
    }
    Ok(())
}

/// Writes a video-like capture: `frames` RTP packets of payload type
/// [`VIDEO_PAYLOAD_TYPE`], one 600-byte packet per frame at 25 frames/s on the 90 kHz
/// clock, the marker set on each (every frame fits one packet). The payload is a
/// deterministic pattern, not a decodable picture: replays and echoes only count packets.
pub fn write_video_pcap(out: impl Write, link: Link, frames: u16) -> GenResult {
    let mut w = writer(out, link)?;
    let mut payload = [0u8; VIDEO_PAYLOAD_BYTES];
    let mut pkt = [0u8; 12 + VIDEO_PAYLOAD_BYTES];
    for i in 0..frames {
        // An IDR slice NAL header every 25 frames, non-IDR slices between.
        payload[0] = if i % 25 == 0 { 0x65 } else { 0x41 };
        for (k, b) in payload.iter_mut().enumerate().skip(1) {
            *b = (k as u16).wrapping_add(i) as u8;
        }
        let header = RtpHeader {
            marker: true,
            payload_type: VIDEO_PAYLOAD_TYPE,
            sequence: 3000u16.wrapping_add(i),
            timestamp: u32::from(i) * VIDEO_TS_STEP,
            ssrc: 0x676F_7333,
        };
        let n = write_rtp(&header, &payload, &mut pkt)
            .map_err(|_| pcap_file::PcapError::InvalidField("rtp"))?;
        let at = Duration::from_millis(VIDEO_FRAME_MS * u64::from(i));
        write_frame(&mut w, link, at, &pkt[..n], i)?;
    }
    Ok(())
}

/// Writes the RFC 4733 capture of [`DTMF_KEYS`]: per key, five 20 ms updates (100 ms)
/// then the end packet three times (RFC 4733 §2.5.1.4), one packet per 20 ms, then
/// 100 ms of nothing: keys start 260 ms apart.
pub fn write_dtmf_pcap(out: impl Write) -> GenResult {
    let mut w = writer(out, Link::Ethernet)?;
    let mut seq: u16 = 2000;
    let mut slot: u32 = 0; // 20 ms slots since the start
    let mut pkt = [0u8; 16];
    for key in DTMF_KEYS.chars() {
        let event = dtmf_event_for(key).ok_or(pcap_file::PcapError::InvalidField("dtmf key"))?;
        let start_ts = slot * FRAME_SAMPLES as u32;
        let updates = (1..=DTMF_PACKETS_PER_KEY).map(|n| (n, false));
        let ends = std::iter::repeat_n((DTMF_PACKETS_PER_KEY, true), 3);
        for (k, (n, end)) in updates.chain(ends).enumerate() {
            let header = RtpHeader {
                marker: k == 0,
                payload_type: DTMF_PAYLOAD_TYPE,
                sequence: seq,
                timestamp: start_ts,
                ssrc: 0x676F_7332,
            };
            let ev = TelephoneEvent {
                event,
                end,
                volume: DTMF_VOLUME,
                duration: n * FRAME_SAMPLES as u16,
            };
            let mut body = [0u8; 4];
            ev.write(&mut body)
                .map_err(|_| pcap_file::PcapError::InvalidField("event"))?;
            let len = write_rtp(&header, &body, &mut pkt)
                .map_err(|_| pcap_file::PcapError::InvalidField("rtp"))?;
            // One packet per 20 ms: five updates, then the three end packets.
            let at = Duration::from_millis(u64::from(slot + k as u32) * 20);
            write_frame(&mut w, Link::Ethernet, at, &pkt[..len], seq)?;
            seq = seq.wrapping_add(1);
        }
        slot += u32::from(DTMF_PACKETS_PER_KEY) + 3 + DTMF_GAP_PACKETS;
    }
    Ok(())
}

/// Writes the tone as an 8 kHz mono 16-bit WAV (a WAV-playback prompt).
pub fn write_tone_wav(out: impl Write + Seek) -> Result<(), hound::Error> {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 8000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::new(out, spec)?;
    for s in tone_pcm() {
        w.write_sample(s)?;
    }
    w.finalize()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pcap_source::read_pcap;
    use crate::rtp::RtpPacket;
    use crate::wav_source::read_wav;
    use std::path::{Path, PathBuf};

    fn assets_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/media")
    }

    fn generated() -> [(&'static str, Vec<u8>); 3] {
        let mut tone = Vec::new();
        write_tone_pcap(&mut tone).unwrap();
        let mut dtmf = Vec::new();
        write_dtmf_pcap(&mut dtmf).unwrap();
        let mut wav = std::io::Cursor::new(Vec::new());
        write_tone_wav(&mut wav).unwrap();
        [
            (TONE_PCAP, tone),
            (DTMF_PCAP, dtmf),
            (TONE_WAV, wav.into_inner()),
        ]
    }

    #[test]
    fn checked_in_assets_are_byte_identical_to_a_fresh_generation() {
        for (name, bytes) in generated() {
            let path = assets_dir().join(name);
            let on_disk = std::fs::read(&path).unwrap_or_else(|e| {
                panic!(
                    "{}: {e} (run `cargo run -p gossipper-media --example gen_assets`)",
                    path.display()
                )
            });
            assert!(
                on_disk == bytes,
                "{name} differs from a fresh generation; rerun the gen_assets example"
            );
        }
    }

    #[test]
    fn tone_pcap_reads_back_as_200_alaw_packets_20ms_apart() {
        let [(_, tone), ..] = generated();
        let p = read_pcap(Path::new(TONE_PCAP), &tone[..]).unwrap();
        assert_eq!(p.packets().len(), 200);
        for (i, pk) in p.packets().iter().enumerate() {
            assert_eq!(pk.offset, Duration::from_millis(20 * i as u64));
            let rtp = RtpPacket::parse(p.payload(pk)).unwrap();
            assert_eq!(rtp.header.payload_type, 8);
            assert_eq!(rtp.header.sequence, 1000 + i as u16);
            assert_eq!(rtp.header.timestamp, 160 * i as u32);
            assert_eq!(rtp.payload.len(), 160);
            assert_eq!(rtp.header.marker, i == 0);
        }
    }

    #[test]
    fn dtmf_pcap_carries_each_key_with_three_end_packets() {
        let [_, (_, dtmf), _] = generated();
        let p = read_pcap(Path::new(DTMF_PCAP), &dtmf[..]).unwrap();
        assert_eq!(p.packets().len(), 4 * 8);
        let mut keys = String::new();
        for pk in p.packets() {
            let rtp = RtpPacket::parse(p.payload(pk)).unwrap();
            assert_eq!(rtp.header.payload_type, DTMF_PAYLOAD_TYPE);
            let ev = TelephoneEvent::parse(rtp.payload).unwrap();
            if rtp.header.marker {
                keys.push(crate::rtp::dtmf_key_for(ev.event).unwrap());
                assert_eq!(ev.duration, 160);
            }
            assert!(ev.duration <= 800);
        }
        assert_eq!(keys, DTMF_KEYS);
        let ends = p
            .packets()
            .iter()
            .filter(|pk| TelephoneEvent::parse(&p.payload(pk)[12..]).unwrap().end)
            .count();
        assert_eq!(ends, 12);
        // one packet per 20 ms and the keys are 260 ms apart
        assert_eq!(p.packets()[7].offset, Duration::from_millis(140));
        assert_eq!(p.packets()[8].offset, Duration::from_millis(260));
    }

    #[test]
    fn wav_asset_encodes_to_the_tone_frames() {
        let [.., (_, wav)] = generated();
        let f = read_wav(Path::new(TONE_WAV), &wav[..], G711Law::ALaw).unwrap();
        assert_eq!(f.len(), 200);
    }

    #[test]
    fn the_tone_reads_back_the_same_under_every_link_layer() {
        let [(_, ethernet), ..] = generated();
        let want = read_pcap(Path::new("eth"), &ethernet[..]).unwrap();
        for link in [Link::LinuxSll, Link::RawIp] {
            let mut bytes = Vec::new();
            write_tone_pcap_as(&mut bytes, link).unwrap();
            let got = read_pcap(Path::new("other"), &bytes[..]).unwrap();
            assert_eq!(got, want, "{link:?}");
        }
    }

    #[test]
    fn the_video_capture_is_one_marked_packet_per_40_ms_frame() {
        for link in [Link::Ethernet, Link::LinuxSll, Link::RawIp] {
            let mut bytes = Vec::new();
            write_video_pcap(&mut bytes, link, 50).unwrap();
            let p = read_pcap(Path::new("video"), &bytes[..]).unwrap();
            assert_eq!(p.packets().len(), 50, "{link:?}");
            for (i, pk) in p.packets().iter().enumerate() {
                assert_eq!(pk.offset, Duration::from_millis(40 * i as u64));
                let rtp = RtpPacket::parse(p.payload(pk)).unwrap();
                assert_eq!(rtp.header.payload_type, VIDEO_PAYLOAD_TYPE);
                assert_eq!(rtp.header.timestamp, 3600 * i as u32);
                assert!(rtp.header.marker);
                assert_eq!(rtp.payload.len(), VIDEO_PAYLOAD_BYTES);
            }
        }
    }

    #[test]
    fn udp_frames_carry_valid_ip_and_udp_checksums() {
        let f = udp_frame(b"hello", 7);
        assert_eq!(checksum(&f[14..34], 0), 0);
        let udp = &f[34..];
        let pseudo = 0x7F00u32 + 1 + 0x7F00 + 1 + 17 + udp.len() as u32;
        assert_eq!(checksum(udp, pseudo), 0);
    }
}
