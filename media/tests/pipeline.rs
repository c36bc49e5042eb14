//! The whole media path in virtual time, the way a shard will drive it: the checked-in
//! tone capture and WAV play through one scheduler, cross a seeded lossy, jittery
//! network, and land in a receiver and a duplex recorder; the E-model then rates the call.

use std::io::Cursor;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use gossipper_media::quality::{self, Codec, Conditions};
use gossipper_media::record::DEFAULT_MAX_DURATION;
use gossipper_media::rtp::RtpPacket;
use gossipper_media::{
    CallRecorder, Direction, G711Law, Received, RecordMode, RtpReceiver, RtpScheduler, RtpStream,
    SchedulerEvent, SourcePolicy, StreamConfig, StreamSource, load_pcap, load_wav,
};

fn assets() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/media")
}

#[test]
fn tone_capture_through_a_lossy_network_is_measured_recorded_and_rated() {
    let t0 = Instant::now();
    let pcap = Arc::new(load_pcap(&assets().join("g711a_tone.pcap")).unwrap());
    let wav = Arc::new(load_wav(&assets().join("tone_440_8k.wav"), G711Law::ALaw).unwrap());
    let mut sched = RtpScheduler::new(t0);
    let replay = sched.insert(RtpStream::new(
        t0,
        StreamConfig::new(1, 8),
        StreamSource::Pcap(pcap),
    ));
    let wav_stream = sched.insert(RtpStream::new(
        t0,
        StreamConfig::new(0x5157, 8),
        StreamSource::Frames(wav),
    ));

    // Network: drop every 25th packet of the replay (4 %), delay alternately 0 and 6 ms.
    let mut in_flight: Vec<(Instant, Vec<u8>)> = Vec::new();
    let mut sent_by_us: Vec<(Instant, Vec<u8>)> = Vec::new();
    let mut n_replay = 0u32;
    let mut finished = Vec::new();
    let mut buf = Vec::new();
    let mut t = t0;
    while t < t0 + Duration::from_secs(5) {
        sched.handle_timeout(t);
        while let Some(tx) = sched.poll_transmit(t, &mut buf) {
            let (h, bytes) = (tx.stream, &buf[..tx.len]);
            if h == replay {
                n_replay += 1;
                if !n_replay.is_multiple_of(25) {
                    let delay =
                        Duration::from_millis(if n_replay.is_multiple_of(2) { 6 } else { 0 });
                    in_flight.push((t + delay, bytes.to_vec()));
                }
            } else {
                sent_by_us.push((t, bytes.to_vec()));
            }
        }
        while let Some(SchedulerEvent::StreamFinished(h)) = sched.poll_event() {
            finished.push(h);
        }
        t = sched
            .poll_timeout()
            .unwrap_or(t + Duration::from_millis(10))
            .max(t + Duration::from_micros(100));
    }
    assert_eq!(n_replay, 200);
    assert_eq!(finished.len(), 2);
    assert!(finished.contains(&replay) && finished.contains(&wav_stream));

    in_flight.sort_by_key(|(at, _)| *at);
    let peer = SocketAddr::from(([127, 0, 0, 1], 6000));
    let mut rx = RtpReceiver::new(SourcePolicy::LatchFirst, 8000);
    let mut rec = CallRecorder::new(t0, RecordMode::Duplex, DEFAULT_MAX_DURATION);
    for (at, d) in &in_flight {
        match rx.handle_rtp(*at, peer, d) {
            Received::Accepted(p) | Received::Late(p) => {
                rec.handle_packet(*at, Direction::Received, &p)
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    for (at, d) in &sent_by_us {
        rec.handle_packet(*at, Direction::Sent, &RtpPacket::parse(d).unwrap());
    }

    let s = rx.stats();
    assert_eq!(s.packets, 192);
    // the 200th packet is dropped too, and nothing after it shows the loss
    assert_eq!(s.expected, 199);
    assert_eq!(s.lost, 7);
    // |D| is 6 ms (48 units) at almost every step, so J converges near 48.
    assert!((40..=48).contains(&s.jitter_ts), "{s:?}");

    let q = quality::estimate(&Conditions {
        codec: Codec::G711,
        one_way_delay: quality::mouth_to_ear_delay(
            None,
            Duration::from_micros(u64::from(s.jitter_ts) * 125),
            Duration::from_millis(20),
        ),
        loss_percent: s.loss_fraction() * 100.0,
        burst_ratio: 1.0,
    });
    // 7/199 ≈ 3.5 % random loss without PLC: Ie-eff = 95·3.5/(3.5+4.3) ≈ 42.7, so R ≈ 50
    // less a little delay impairment (about 30 ms mouth to ear).
    let loss_only = 93.2 - quality::ie_eff(Codec::G711, 700.0 / 199.0, 1.0);
    assert!(
        q.r < loss_only && q.r > loss_only - 1.5,
        "{q:?} vs {loss_only}"
    );
    assert!((2.4..2.7).contains(&q.mos), "{q:?}");

    let mut wav = Cursor::new(Vec::new());
    rec.write_wav(&mut wav).unwrap();
    let reader = hound::WavReader::new(Cursor::new(wav.into_inner())).unwrap();
    assert_eq!(reader.spec().channels, 2);
    // 4 s of tone on both sides (the last received packet lands ≤ 6 ms late)
    let frames = reader.duration();
    assert!((32_000..=32_100).contains(&frames), "{frames}");
}
