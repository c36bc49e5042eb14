//! MediaEngine in virtual time: streams leave on schedule toward the SDP address, echoes
//! come back to their call, recordings match the source, bad input is counted.

use std::io::Cursor;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use gossipper_media::rtp::{RtpPacket, looks_like_rtcp};
use gossipper_media::{AudioFrames, G711Law, PcapPayloads};

use super::library::MediaLibrary;
use super::{MediaConfig, MediaEngine, START_DELAY};
use crate::call::ShardEvent;

const PEER: &str = "127.0.0.1:4000";

fn peer() -> SocketAddr {
    PEER.parse().unwrap()
}

fn sdp(port: u16) -> Vec<u8> {
    format!("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio {port} RTP/AVP 0 101\r\n").into_bytes()
}

fn tone() -> Vec<i16> {
    gossipper_media::tone::sine(440, 12_000, 8000, 80)
}

fn library() -> MediaLibrary {
    let mut lib = MediaLibrary::default();
    lib.insert_frames(
        "tone.wav",
        0,
        AudioFrames::from_pcm(G711Law::MuLaw, &tone()),
    );
    let rtp: Vec<Vec<u8>> = (0..10u16)
        .map(|i| {
            let mut p = vec![0x80, 8, 0, i as u8, 0, 0, 0, 0, 0xAA, 0xBB, 0xCC, 0xDD];
            p.extend_from_slice(&[0xD5; 160]);
            p
        })
        .collect();
    lib.insert_pcap(
        "a.pcap",
        PcapPayloads::from_parts(
            rtp.iter()
                .enumerate()
                .map(|(i, p)| (Duration::from_millis(20 * i as u64), &p[..])),
        ),
    );
    lib
}

fn engine(t0: Instant, cfg: MediaConfig) -> MediaEngine {
    MediaEngine::new(t0, Arc::new(library()), cfg, 7)
}

fn quiet() -> MediaConfig {
    MediaConfig {
        rtcp_interval: None,
        ..Default::default()
    }
}

/// Runs the engine from `from` to `to` in 1 ms steps; returns (time, dest, bytes).
fn run(e: &mut MediaEngine, from: Instant, to: Instant) -> Vec<(Instant, SocketAddr, Vec<u8>)> {
    let mut out = Vec::new();
    let mut t = from;
    while t <= to {
        e.handle_timeout(
            t,
            SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
        );
        let tx = e.tx_mut();
        for item in tx.items() {
            out.push((t, item.dest, tx.bytes(item).to_vec()));
        }
        tx.clear();
        t += Duration::from_millis(1);
    }
    out
}

#[test]
fn a_wav_stream_sends_one_packet_every_20_ms_to_the_sdp_address() {
    let t0 = Instant::now();
    let mut e = engine(t0, quiet());
    e.handle_sip(1, &sdp(4000));
    e.handle_command(t0, 1, b"c1", "rtp_stream", "tone.wav,1,0")
        .unwrap();
    let sent = run(&mut e, t0, t0 + Duration::from_millis(1100));
    assert_eq!(sent.len(), 50, "1 s of audio in 20 ms packets");
    assert!(sent.iter().all(|(_, d, _)| *d == peer()));
    assert_eq!(sent[0].0, t0 + START_DELAY);
    for w in sent.windows(2) {
        assert_eq!(w[1].0 - w[0].0, Duration::from_millis(20));
        let (a, b) = (
            RtpPacket::parse(&w[0].2).unwrap(),
            RtpPacket::parse(&w[1].2).unwrap(),
        );
        assert_eq!(b.header.sequence, a.header.sequence.wrapping_add(1));
        assert_eq!(b.header.timestamp, a.header.timestamp.wrapping_add(160));
        assert_eq!(a.header.payload_type, 0);
    }
    let s = e.stats();
    assert_eq!(s.rtp_packets_sent, 50);
    assert_eq!(s.sched_packets, 50);
    assert_eq!(s.sched_within_1ms, 50);
    let media = e.end_call(1).unwrap();
    assert_eq!(media.rtp_packets_sent, 50);
    assert_eq!(media.rtp_octets_sent, 50 * 160);
    assert_eq!(e.streams(), 0);
    assert_eq!(e.sessions(), 0);
}

#[test]
fn an_echoed_wav_is_attributed_by_ssrc_and_its_recording_matches_the_source() {
    let t0 = Instant::now();
    let mut e = engine(t0, quiet());
    e.handle_sip(1, &sdp(4000));
    // A second call whose peer shares the address: echoes still find their own call.
    e.handle_sip(2, &sdp(4000));
    e.handle_command(t0, 1, b"c1@x", "rtp_record", "start")
        .unwrap();
    e.handle_command(t0, 1, b"c1@x", "rtp_stream", "tone.wav,1,0")
        .unwrap();
    let sent = run(&mut e, t0, t0 + Duration::from_millis(1100));
    for (t, dest, bytes) in &sent {
        e.handle_datagram(*t + Duration::from_millis(5), *dest, bytes);
    }
    let media = e.end_call(1).unwrap();
    assert_eq!(media.rtp_packets_received, 50);
    assert_eq!(media.rtp_packets_lost, 0);
    assert!(media.mos > 4.3, "clean echo: MOS {}", media.mos);
    assert_eq!(e.end_call(2).unwrap().rtp_packets_received, 0);
    let recs = e.take_recordings();
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0].path, std::path::Path::new("recordings/c1@x.wav"));
    let mut wav = Cursor::new(Vec::new());
    recs[0].recorder.write_wav(&mut wav).unwrap();
    wav.set_position(0);
    let got: Vec<i16> = hound_samples(wav);
    // The first packet left at START_DELAY and came back 5 ms later.
    let lead = (START_DELAY + Duration::from_millis(5)).as_millis() as usize * 8;
    assert!(got[..lead].iter().all(|s| *s == 0));
    let src = tone();
    assert_eq!(got.len(), lead + src.len());
    for (i, (a, b)) in src.iter().zip(&got[lead..]).enumerate() {
        let q = G711Law::MuLaw.decode(G711Law::MuLaw.encode(*a));
        assert_eq!(q, *b, "sample {i}: G.711 round trip of the source");
    }
}

fn hound_samples(wav: Cursor<Vec<u8>>) -> Vec<i16> {
    // A minimal RIFF reader: 44-byte canonical header written by hound, then i16 LE.
    let bytes = wav.into_inner();
    assert_eq!(&bytes[..4], b"RIFF");
    bytes[44..]
        .chunks_exact(2)
        .map(|c| i16::from_le_bytes([c[0], c[1]]))
        .collect()
}

#[test]
fn a_pcap_replay_gets_its_own_ssrc_and_a_new_replay_replaces_the_old() {
    let t0 = Instant::now();
    let mut e = engine(t0, quiet());
    e.handle_sip(1, &sdp(4000));
    e.handle_command(t0, 1, b"c", "play_pcap_audio", "a.pcap")
        .unwrap();
    let first = run(&mut e, t0, t0 + Duration::from_millis(50));
    assert_eq!(first.len(), 3);
    let ssrc = RtpPacket::parse(&first[0].2).unwrap().header.ssrc;
    assert_ne!(ssrc, 0xAABB_CCDD, "the capture's SSRC is replaced");
    assert_eq!(
        &first[0].2[12..],
        &[0xD5; 160][..],
        "payload bytes are the capture's"
    );
    let t1 = t0 + Duration::from_millis(51);
    e.handle_command(t1, 1, b"c", "play_pcap_audio", "a.pcap")
        .unwrap();
    let second = run(&mut e, t1, t1 + Duration::from_millis(300));
    assert_eq!(
        second.len(),
        10,
        "the old replay stopped, the new one plays all 10"
    );
    assert_ne!(RtpPacket::parse(&second[0].2).unwrap().header.ssrc, ssrc);
    assert_eq!(e.end_call(1).unwrap().rtp_packets_sent, 13);
}

#[test]
fn rtp_echo_sends_each_datagram_back_and_counts_it_both_ways() {
    let t0 = Instant::now();
    let mut e = engine(
        t0,
        MediaConfig {
            echo_all: true,
            rtcp_interval: None,
            ..Default::default()
        },
    );
    let src: SocketAddr = "127.0.0.1:7000".parse().unwrap();
    let pkt = [0x80, 0, 0, 1, 0, 0, 0, 160, 1, 2, 3, 4, 0xFF, 0xFF];
    e.handle_datagram(t0, src, &pkt);
    e.handle_datagram(t0, src, b"");
    let tx = e.tx_mut();
    assert_eq!(tx.items().len(), 1);
    assert_eq!(tx.items()[0].dest, src);
    assert_eq!(tx.bytes(&tx.items()[0]), &pkt);
    let s = e.stats();
    assert_eq!(
        (
            s.rtp_packets_echoed,
            s.rtp_packets_sent,
            s.rtp_packets_received
        ),
        (1, 1, 1)
    );
}

#[test]
fn unexpected_sources_and_garbage_are_counted_and_dropped() {
    let t0 = Instant::now();
    let mut e = engine(t0, quiet());
    e.handle_sip(1, &sdp(4000));
    let stranger: SocketAddr = "192.0.2.9:5000".parse().unwrap();
    e.handle_datagram(t0, stranger, &[0x80, 0, 0, 1, 0, 0, 0, 0, 9, 9, 9, 9]);
    e.handle_datagram(t0, peer(), b"\x00garbage");
    e.handle_datagram(t0, peer(), &[]);
    let s = e.stats();
    assert_eq!(s.rtp_unexpected_source, 1);
    assert_eq!(s.rtp_malformed, 2);
    assert_eq!(s.rtp_packets_received, 0);
    assert!(e.tx_mut().is_empty());
}

#[test]
fn a_packet_from_another_port_of_the_sdp_ip_latches_to_the_waiting_call() {
    let t0 = Instant::now();
    let mut e = engine(t0, quiet());
    e.handle_sip(1, &sdp(4000));
    e.handle_sip(2, &sdp(4002));
    // SIPp plays pcaps from its -mp port whatever its SDP says.
    let src: SocketAddr = "127.0.0.1:6000".parse().unwrap();
    for seq in 0..3u8 {
        e.handle_datagram(t0, src, &[0x80, 8, 0, seq, 0, 0, 0, seq, 5, 5, 5, 5, 0xD5]);
    }
    assert_eq!(e.end_call(1).unwrap().rtp_packets_received, 3);
    assert_eq!(e.end_call(2).unwrap().rtp_packets_received, 0);
}

#[test]
fn loss_lowers_the_mos_estimate() {
    let t0 = Instant::now();
    let mut e = engine(t0, quiet());
    for call in [1, 2] {
        e.handle_sip(call, &sdp(4000 + call as u16 * 2));
    }
    for i in 0..200u16 {
        let at = t0 + Duration::from_millis(20 * u64::from(i));
        let ts = u32::from(i) * 160;
        for (call, ssrc) in [(1u64, 1u8), (2, 2)] {
            if call == 2 && i % 10 == 3 {
                continue; // 10 % loss
            }
            let mut p = vec![0x80, 0, (i >> 8) as u8, i as u8];
            p.extend_from_slice(&ts.to_be_bytes());
            p.extend_from_slice(&[0, 0, 0, ssrc]);
            p.extend_from_slice(&[0xFF; 160]);
            let src = SocketAddr::new(peer().ip(), 4000 + call as u16 * 2);
            e.handle_datagram(at, src, &p);
        }
    }
    let clean = e.end_call(1).unwrap();
    let lossy = e.end_call(2).unwrap();
    assert_eq!(clean.rtp_packets_lost, 0);
    assert_eq!(lossy.rtp_packets_lost, 20);
    assert!(clean.mos > 4.3, "{}", clean.mos);
    assert!(
        lossy.mos < clean.mos - 1.0,
        "10 % loss: {} vs {}",
        lossy.mos,
        clean.mos
    );
    let s = e.stats();
    assert_eq!(s.rtp_packets_lost, 20);
    assert_eq!(s.mos_count, 2);
}

#[test]
fn rtcp_goes_to_the_rtp_port_plus_one_every_interval() {
    let t0 = Instant::now();
    let mut e = engine(t0, MediaConfig::default());
    e.handle_sip(1, &sdp(4000));
    e.handle_command(t0, 1, b"c", "rtp_stream", "tone.wav,-1,0")
        .unwrap();
    let sent = run(&mut e, t0, t0 + Duration::from_millis(1001));
    let rtcp: Vec<_> = sent.iter().filter(|(_, _, b)| looks_like_rtcp(b)).collect();
    assert_eq!(rtcp.len(), 2, "at 500 ms and 1000 ms");
    assert!(rtcp.iter().all(|(_, d, _)| d.port() == 4001));
    assert_eq!(rtcp[0].2[1], 200, "an SR: we are sending");
    assert_eq!(e.stats().rtcp_sender_reports, 2);
}

#[test]
fn dtmf_without_an_audio_stream_uses_payload_type_101() {
    let t0 = Instant::now();
    let mut e = engine(t0, quiet());
    e.handle_sip(1, &sdp(4000));
    e.handle_command(t0, 1, b"c", "send_dtmf", "1").unwrap();
    let sent = run(&mut e, t0, t0 + Duration::from_millis(400));
    assert!(sent.len() >= 8, "{} packets", sent.len());
    let p = RtpPacket::parse(&sent[0].2).unwrap();
    assert_eq!(p.header.payload_type, 101);
    assert_eq!(p.payload[0], 1, "event 1");
}

#[test]
fn commands_that_cannot_run_become_warnings_and_other_events_stay() {
    let t0 = Instant::now();
    let mut e = engine(t0, quiet());
    let mut events = vec![
        ShardEvent::Log("before".into()),
        ShardEvent::Media {
            call_number: 1,
            verb: "play_pcap_audio".into(),
            argument: "a.pcap".into(),
        },
        ShardEvent::Log("after".into()),
        ShardEvent::Media {
            call_number: 1,
            verb: "rtpcheck".into(),
            argument: "5".into(),
        },
    ];
    e.take_commands(t0, b"c", &mut events, 1);
    assert_eq!(events.len(), 3);
    assert_eq!(events[0], ShardEvent::Log("before".into()));
    assert!(matches!(&events[1], ShardEvent::Warning(w) if w.contains("m=audio")));
    assert_eq!(events[2], ShardEvent::Log("after".into()));
    assert_eq!(e.stats().command_errors, 1);
    // rtpcheck=5 with nothing sent or received fails at the end of the call.
    e.end_call(1).unwrap();
    assert_eq!(e.stats().rtpcheck_failed, 1);
    assert_eq!(e.take_warnings().len(), 1);
}

#[test]
fn pause_and_resume_hold_the_stream() {
    let t0 = Instant::now();
    let mut e = engine(t0, quiet());
    e.handle_sip(1, &sdp(4000));
    e.handle_command(t0, 1, b"c", "rtp_stream", "tone.wav,1,0")
        .unwrap();
    let a = run(&mut e, t0, t0 + Duration::from_millis(99));
    e.handle_command(
        t0 + Duration::from_millis(100),
        1,
        b"c",
        "rtp_stream",
        "pause",
    )
    .unwrap();
    let b = run(
        &mut e,
        t0 + Duration::from_millis(100),
        t0 + Duration::from_millis(499),
    );
    e.handle_command(
        t0 + Duration::from_millis(500),
        1,
        b"c",
        "rtp_stream",
        "resume",
    )
    .unwrap();
    let c = run(
        &mut e,
        t0 + Duration::from_millis(500),
        t0 + Duration::from_millis(2000),
    );
    assert_eq!(a.len(), 5);
    assert!(b.is_empty());
    assert_eq!(a.len() + c.len(), 50, "the whole file still plays");
    assert!(
        e.handle_command(t0, 9, b"x", "rtp_stream", "pause")
            .is_err(),
        "nothing to pause"
    );
}
