//! Hostile bytes through the public entry points: mutated and random datagrams into the
//! receiver, echo and RTP parser, mutated captures and WAVs into the loaders. Each case
//! asserts an invariant (every datagram is accounted for exactly once; loaders answer
//! with a value or an error naming the file), not merely "no panic". Seeded, so a failure
//! replays; the seed is printed in the assertion message.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use gossipper_media::g711::G711Law;
use gossipper_media::rtp::{RtpHeader, RtpPacket, looks_like_rtcp, write_rtp};
use gossipper_media::{Received, RtpEcho, RtpReceiver, SourcePolicy, read_pcap, read_wav};

/// xorshift64*: tiny, deterministic.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn mutate(rng: &mut Rng, base: &[u8]) -> Vec<u8> {
    let mut b = base.to_vec();
    match rng.below(4) {
        0 => {
            let n = rng.below(b.len() + 1);
            b.truncate(n);
        }
        1 => {
            for _ in 0..=rng.below(8) {
                if !b.is_empty() {
                    let i = rng.below(b.len());
                    b[i] = rng.next() as u8;
                }
            }
        }
        2 => {
            let extra = rng.below(64);
            b.extend((0..extra).map(|_| rng.next() as u8));
        }
        _ => {
            b = (0..rng.below(200)).map(|_| rng.next() as u8).collect();
        }
    }
    b
}

#[test]
fn every_hostile_datagram_is_counted_exactly_once() {
    const SEED: u64 = 0x5EED_0001;
    let mut rng = Rng(SEED);
    let t0 = Instant::now();
    let good_src = SocketAddr::from(([127, 0, 0, 1], 4000));
    let mut rx = RtpReceiver::new(SourcePolicy::Fixed(good_src), 8000);
    let mut rtcp_rx = RtpReceiver::new(SourcePolicy::Fixed(good_src), 8000);
    let mut echo = RtpEcho::new();
    let mut base = [0u8; 172];
    let mut rtp_datagrams = 0u64;
    let mut accepted = 0u64;
    for i in 0..20_000u32 {
        let h = RtpHeader {
            marker: false,
            payload_type: 0,
            sequence: i as u16,
            timestamp: i * 160,
            ssrc: 7,
        };
        let n = write_rtp(&h, &[0xFF; 160], &mut base).unwrap();
        let d = mutate(&mut rng, &base[..n]);
        let src = if rng.below(10) == 0 {
            SocketAddr::from(([10, 9, 8, 7], 4000))
        } else {
            good_src
        };
        let now = t0 + Duration::from_micros(u64::from(i) * 20_000 + rng.below(5000) as u64);
        let _ = RtpPacket::parse(&d);
        let _ = echo.handle_datagram(src, &d);
        if looks_like_rtcp(&d) {
            rtcp_rx.handle_rtcp(now, src, &d);
        } else {
            rtp_datagrams += 1;
            if matches!(
                rx.handle_rtp(now, src, &d),
                Received::Accepted(_) | Received::Late(_)
            ) {
                accepted += 1;
            }
        }
    }
    let s = rx.stats();
    assert_eq!(s.packets, accepted, "seed {SEED:#x}");
    assert_eq!(
        s.packets + s.bad_sequence + s.unexpected_source + s.malformed,
        rtp_datagrams,
        "seed {SEED:#x}: {s:?}"
    );
    assert!(
        s.expected >= s.packets - s.duplicate_or_late,
        "seed {SEED:#x}: {s:?}"
    );
    let e = echo.stats();
    assert_eq!(
        e.packets + e.dropped_invalid + e.dropped_paused,
        20_000,
        "seed {SEED:#x}"
    );
    assert!(
        s.packets > 5_000,
        "seed {SEED:#x}: too few good packets to mean anything"
    );
}

#[test]
fn mutated_captures_load_or_fail_with_the_file_name() {
    const SEED: u64 = 0x5EED_0002;
    let mut rng = Rng(SEED);
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/media");
    for name in ["g711a_tone.pcap", "dtmf_2833.pcap"] {
        let bytes = std::fs::read(dir.join(name)).unwrap();
        // Flip bytes mostly in the headers (first 200 bytes), where lengths live.
        for _ in 0..300 {
            let mut b = bytes.clone();
            for _ in 0..=rng.below(4) {
                let i = rng.below(200.min(b.len()));
                b[i] = rng.next() as u8;
            }
            if rng.below(3) == 0 {
                let n = rng.below(b.len());
                b.truncate(n);
            }
            match read_pcap(Path::new(name), &b[..]) {
                Ok(p) => {
                    assert!(!p.packets().is_empty(), "seed {SEED:#x}");
                    for w in p.packets().windows(2) {
                        assert!(w[0].offset <= w[1].offset, "seed {SEED:#x}");
                    }
                }
                Err(e) => assert_eq!(e.file, Path::new(name), "seed {SEED:#x}"),
            }
        }
    }
}

#[test]
fn mutated_wavs_load_or_fail_with_the_file_name() {
    const SEED: u64 = 0x5EED_0003;
    let mut rng = Rng(SEED);
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/media/tone_440_8k.wav");
    let bytes = std::fs::read(path).unwrap();
    for _ in 0..300 {
        let b = {
            let mut b = bytes.clone();
            for _ in 0..=rng.below(4) {
                let i = rng.below(64);
                b[i] = rng.next() as u8;
            }
            b
        };
        match read_wav(Path::new("x.wav"), &b[..], G711Law::MuLaw) {
            Ok(f) => assert!(!f.is_empty(), "seed {SEED:#x}"),
            Err(e) => assert_eq!(e.file, Path::new("x.wav"), "seed {SEED:#x}"),
        }
    }
}
