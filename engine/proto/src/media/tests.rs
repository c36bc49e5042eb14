//! MediaEngine in virtual time: streams leave on schedule toward the SDP address, echoes
//! come back to their call, recordings match the source, bad input is counted.

use std::io::Cursor;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use gossipper_media::rtp::{RtpPacket, looks_like_rtcp};
use gossipper_media::{AudioFrames, G711Law, PcapPayloads};

use super::library::MediaLibrary;
use super::{MediaConfig, MediaEngine, MediaTx, START_DELAY};

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
        let mut tx = MediaTx::default();
        while e.poll_transmit(&mut tx) {
            for item in tx.items() {
                out.push((t, item.dest, tx.bytes(item).to_vec()));
            }
            tx.clear();
        }
        t += Duration::from_millis(1);
    }
    out
}

#[test]
fn a_wav_stream_sends_one_packet_every_20_ms_to_the_sdp_address() {
    let t0 = crate::sim::epoch();
    let mut e = engine(t0, quiet());
    e.handle_sip(1, b"c", &sdp(4000));
    command(&mut e, t0, 1, b"c1", "rtp_stream", "tone.wav,1,0").unwrap();
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
    let media = e.end_call(1).unwrap().media;
    assert_eq!(media.rtp_packets_sent, 50);
    assert_eq!(media.rtp_octets_sent, 50 * 160);
    assert_eq!(e.streams(), 0);
    assert_eq!(e.sessions(), 0);
}

#[test]
fn an_echoed_wav_is_attributed_by_ssrc_and_its_recording_matches_the_source() {
    let t0 = crate::sim::epoch();
    let mut e = engine(t0, quiet());
    e.handle_sip(1, b"c", &sdp(4000));
    // A second call whose peer shares the address: echoes still find their own call.
    e.handle_sip(2, b"c", &sdp(4000));
    command(&mut e, t0, 1, b"c1@x", "rtp_record", "start").unwrap();
    command(&mut e, t0, 1, b"c1@x", "rtp_stream", "tone.wav,1,0").unwrap();
    let sent = run(&mut e, t0, t0 + Duration::from_millis(1100));
    for (t, dest, bytes) in &sent {
        e.handle_datagram(*t + Duration::from_millis(5), *dest, bytes);
    }
    let media = e.end_call(1).unwrap().media;
    assert_eq!(media.rtp_packets_received, 50);
    assert_eq!(media.rtp_packets_lost, 0);
    assert!(media.mos > 4.3, "clean echo: MOS {}", media.mos);
    assert_eq!(e.end_call(2).unwrap().media.rtp_packets_received, 0);
    let recs: Vec<_> = std::iter::from_fn(|| e.poll_recording()).collect();
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
    let t0 = crate::sim::epoch();
    let mut e = engine(t0, quiet());
    e.handle_sip(1, b"c", &sdp(4000));
    command(&mut e, t0, 1, b"c", "play_pcap_audio", "a.pcap").unwrap();
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
    command(&mut e, t1, 1, b"c", "play_pcap_audio", "a.pcap").unwrap();
    let second = run(&mut e, t1, t1 + Duration::from_millis(300));
    assert_eq!(
        second.len(),
        10,
        "the old replay stopped, the new one plays all 10"
    );
    assert_ne!(RtpPacket::parse(&second[0].2).unwrap().header.ssrc, ssrc);
    assert_eq!(e.end_call(1).unwrap().media.rtp_packets_sent, 13);
}

#[test]
fn rtp_echo_sends_each_datagram_back_and_counts_it_both_ways() {
    let t0 = crate::sim::epoch();
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
    let mut tx = MediaTx::default();
    assert!(e.poll_transmit(&mut tx));
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
    let t0 = crate::sim::epoch();
    let mut e = engine(t0, quiet());
    e.handle_sip(1, b"c", &sdp(4000));
    let stranger: SocketAddr = "192.0.2.9:5000".parse().unwrap();
    e.handle_datagram(t0, stranger, &[0x80, 0, 0, 1, 0, 0, 0, 0, 9, 9, 9, 9]);
    e.handle_datagram(t0, peer(), b"\x00garbage");
    e.handle_datagram(t0, peer(), &[]);
    let s = e.stats();
    assert_eq!(s.rtp_unexpected_source, 1);
    assert_eq!(s.rtp_malformed, 2);
    assert_eq!(s.rtp_packets_received, 0);
    assert!(!e.poll_transmit(&mut MediaTx::default()));
}

#[test]
fn a_packet_from_another_port_of_the_sdp_ip_latches_to_the_waiting_call() {
    let t0 = crate::sim::epoch();
    let mut e = engine(t0, quiet());
    e.handle_sip(1, b"c", &sdp(4000));
    e.handle_sip(2, b"c", &sdp(4002));
    // SIPp plays pcaps from its -mp port whatever its SDP says.
    let src: SocketAddr = "127.0.0.1:6000".parse().unwrap();
    for seq in 0..3u8 {
        e.handle_datagram(t0, src, &[0x80, 8, 0, seq, 0, 0, 0, seq, 5, 5, 5, 5, 0xD5]);
    }
    assert_eq!(e.end_call(1).unwrap().media.rtp_packets_received, 3);
    assert_eq!(e.end_call(2).unwrap().media.rtp_packets_received, 0);
}

#[test]
fn loss_lowers_the_mos_estimate() {
    let t0 = crate::sim::epoch();
    let mut e = engine(t0, quiet());
    for call in [1, 2] {
        e.handle_sip(call, b"c", &sdp(4000 + call as u16 * 2));
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
    let clean = e.end_call(1).unwrap().media;
    let lossy = e.end_call(2).unwrap().media;
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
    let t0 = crate::sim::epoch();
    let mut e = engine(t0, MediaConfig::default());
    e.handle_sip(1, b"c", &sdp(4000));
    command(&mut e, t0, 1, b"c", "rtp_stream", "tone.wav,-1,0").unwrap();
    let sent = run(&mut e, t0, t0 + Duration::from_millis(1001));
    let rtcp: Vec<_> = sent.iter().filter(|(_, _, b)| looks_like_rtcp(b)).collect();
    assert_eq!(rtcp.len(), 2, "at 500 ms and 1000 ms");
    assert!(rtcp.iter().all(|(_, d, _)| d.port() == 4001));
    assert_eq!(rtcp[0].2[1], 200, "an SR: we are sending");
    assert_eq!(e.stats().rtcp_sender_reports, 2);
}

#[test]
fn report_copies_for_hep_carry_the_call_id_and_both_directions() {
    let t0 = crate::sim::epoch();
    let mut e = engine(
        t0,
        MediaConfig {
            copy_reports: true,
            ..MediaConfig::default()
        },
    );
    e.handle_sip(1, b"call-one", &sdp(4000));
    command(&mut e, t0, 1, b"call-one", "rtp_stream", "tone.wav,-1,0").unwrap();
    let sent = run(&mut e, t0, t0 + Duration::from_millis(501));
    let sr: Vec<_> = sent.iter().filter(|(_, _, b)| looks_like_rtcp(b)).collect();
    assert_eq!(sr.len(), 1);
    // The peer's own report, from its RTCP port.
    let mut rr = sr[0].2.clone();
    rr[1] = 201;
    let from = SocketAddr::new(peer().ip(), 4001);
    e.handle_datagram(t0 + Duration::from_millis(502), from, &rr);
    let mut copies = Vec::new();
    e.drain_report_copies(&mut |c| {
        copies.push((c.call_id.to_vec(), c.peer, c.sent, c.report.to_vec()))
    });
    assert_eq!(
        copies,
        [
            (b"call-one".to_vec(), sr[0].1, true, sr[0].2.clone()),
            (b"call-one".to_vec(), from, false, rr),
        ]
    );
    // Without the setting nothing is kept.
    let mut off = engine(t0, MediaConfig::default());
    off.handle_sip(1, b"c", &sdp(4000));
    command(&mut off, t0, 1, b"c", "rtp_stream", "tone.wav,-1,0").unwrap();
    let _ = run(&mut off, t0, t0 + Duration::from_millis(501));
    let mut n = 0;
    off.drain_report_copies(&mut |_| n += 1);
    assert_eq!(n, 0);
}

#[test]
fn a_report_reaches_the_call_it_speaks_about_when_calls_share_the_peer_address() {
    let t0 = crate::sim::epoch();
    let mut e = engine(
        t0,
        MediaConfig {
            copy_reports: true,
            ..MediaConfig::default()
        },
    );
    // Two calls to the same peer address (a load generator's one media port).
    for (call, id) in [(1, &b"one"[..]), (2, &b"two"[..])] {
        e.handle_sip(call, id, &sdp(4000));
        command(&mut e, t0, call, id, "rtp_stream", "tone.wav,-1,0").unwrap();
    }
    let sent = run(&mut e, t0, t0 + Duration::from_millis(40));
    let ssrcs: Vec<u32> = sent
        .iter()
        .filter(|(_, _, b)| !looks_like_rtcp(b))
        .map(|(_, _, b)| u32::from_be_bytes([b[8], b[9], b[10], b[11]]))
        .collect();
    let second = *ssrcs.iter().find(|s| **s != ssrcs[0]).expect("two streams");
    // The peer's RR from its RTCP port, one block about the second call's stream.
    let mut rr = vec![0x81, 201, 0, 7];
    rr.extend_from_slice(&0xABCD_0001u32.to_be_bytes());
    rr.extend_from_slice(&second.to_be_bytes());
    rr.extend_from_slice(&[0; 20]);
    let from = SocketAddr::new(peer().ip(), 4001);
    for _ in 0..2 {
        e.handle_datagram(t0 + Duration::from_millis(41), from, &rr);
    }
    let mut owners = Vec::new();
    e.drain_report_copies(&mut |c| owners.push(c.call_id.to_vec()));
    assert_eq!(
        owners,
        [b"two".to_vec(), b"two".to_vec()],
        "by block, then by sender"
    );
}

#[test]
fn dtmf_without_an_audio_stream_uses_payload_type_101() {
    let t0 = crate::sim::epoch();
    let mut e = engine(t0, quiet());
    e.handle_sip(1, b"c", &sdp(4000));
    command(&mut e, t0, 1, b"c", "send_dtmf", "1").unwrap();
    let sent = run(&mut e, t0, t0 + Duration::from_millis(400));
    assert!(sent.len() >= 8, "{} packets", sent.len());
    let p = RtpPacket::parse(&sent[0].2).unwrap();
    assert_eq!(p.header.payload_type, 101);
    assert_eq!(p.payload[0], 1, "event 1");
}

#[test]
fn a_command_that_cannot_run_says_why_and_a_failed_rtpcheck_fails_the_call() {
    let t0 = crate::sim::epoch();
    let mut e = engine(t0, quiet());
    let e1 = command(&mut e, t0, 1, b"c", "play_pcap_audio", "a.pcap").unwrap_err();
    assert!(e1.contains("m=audio"), "{e1}");
    command(&mut e, t0, 1, b"c", "rtpcheck", "5").unwrap();
    // rtpcheck=5 with nothing sent or received fails at the end of the call.
    assert!(e.end_call(1).unwrap().rtpcheck_failed);
    assert_eq!(e.stats().rtpcheck_failed, 1);
    assert_eq!(std::iter::from_fn(|| e.poll_warning()).count(), 1);
}

#[test]
fn pause_and_resume_hold_the_stream() {
    let t0 = crate::sim::epoch();
    let mut e = engine(t0, quiet());
    e.handle_sip(1, b"c", &sdp(4000));
    command(&mut e, t0, 1, b"c", "rtp_stream", "tone.wav,1,0").unwrap();
    let a = run(&mut e, t0, t0 + Duration::from_millis(99));
    command(
        &mut e,
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
    command(
        &mut e,
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
        command(&mut e, t0, 9, b"x", "rtp_stream", "pause").is_err(),
        "nothing to pause"
    );
}

fn sdp_av(ip: &str, audio: u16, video: u16) -> Vec<u8> {
    format!("v=0\r\no=- 1 2 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\nm=audio {audio} RTP/AVP 0 101\r\nm=video {video} RTP/AVP 96\r\n").into_bytes()
}

/// A packet of call `ssrc` as the peer would send it.
fn rtp(seq: u16, ssrc: u32) -> Vec<u8> {
    let mut p = vec![0x80, 0, (seq >> 8) as u8, seq as u8];
    p.extend_from_slice(&(u32::from(seq) * 160).to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend_from_slice(&[0xFF; 160]);
    p
}

#[test]
fn rtpcheck_without_timeout_takes_its_verdict_when_the_call_ends() {
    let t0 = crate::sim::epoch();
    let mut e = engine(t0, quiet());
    for call in [1, 2] {
        e.handle_sip(call, b"c", &sdp(4000 + call as u16 * 2));
        command(&mut e, t0, call, b"c", "rtp_stream", "tone.wav,1,0").unwrap();
    }
    // 1 s of tone is 50 packets: call 1 asks for 40, call 2 for 60.
    command(
        &mut e,
        t0,
        1,
        b"c",
        "rtpcheck",
        "min_packets=40 direction=send",
    )
    .unwrap();
    command(
        &mut e,
        t0,
        2,
        b"c",
        "rtpcheck",
        "min_packets=60 direction=send",
    )
    .unwrap();
    run(&mut e, t0, t0 + Duration::from_millis(1100));
    assert!(e.poll_warning().is_none(), "no verdict before the end");
    assert!(!e.end_call(1).unwrap().rtpcheck_failed);
    assert!(e.end_call(2).unwrap().rtpcheck_failed);
    let s = e.stats();
    assert_eq!((s.rtpcheck_passed, s.rtpcheck_failed), (1, 1));
    assert_eq!(std::iter::from_fn(|| e.poll_warning()).count(), 1);
}

#[test]
fn rtpcheck_timeout_fails_at_the_deadline_even_if_packets_come_later() {
    let t0 = crate::sim::epoch();
    let mut e = engine(t0, quiet());
    e.handle_sip(1, b"c", &sdp(4000));
    e.handle_sip(2, b"c", &sdp(4002));
    command(
        &mut e,
        t0,
        1,
        b"c",
        "rtpcheck",
        "min_packets=10 timeout_ms=300 direction=recv",
    )
    .unwrap();
    command(
        &mut e,
        t0,
        2,
        b"c",
        "rtpcheck",
        "min_packets=10 timeout_ms=300 direction=recv",
    )
    .unwrap();
    let deadline = t0 + Duration::from_millis(300);
    assert_eq!(e.poll_timeout(), Some(deadline), "the shard wakes for it");
    // Call 1 gets 20 packets in time; call 2 gets its 20 only after the timeout.
    let src1 = SocketAddr::new(peer().ip(), 4002 - 2);
    let src2 = SocketAddr::new(peer().ip(), 4002);
    for i in 0..20u16 {
        e.handle_datagram(
            t0 + Duration::from_millis(10 * u64::from(i)),
            src1,
            &rtp(i, 11),
        );
    }
    e.handle_timeout(deadline - Duration::from_millis(1), SystemTime::UNIX_EPOCH);
    assert!(
        e.poll_warning().is_none(),
        "the timeout has not expired yet"
    );
    e.handle_timeout(deadline, SystemTime::UNIX_EPOCH);
    let w: Vec<String> = std::iter::from_fn(|| e.poll_warning()).collect();
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(w[0].starts_with("call 2: rtpcheck failed"), "{w:?}");
    assert_eq!(e.poll_timeout(), None, "nothing left to wake for");
    for i in 0..20u16 {
        e.handle_datagram(
            deadline + Duration::from_millis(10 * u64::from(i)),
            src2,
            &rtp(i, 22),
        );
    }
    assert!(!e.end_call(1).unwrap().rtpcheck_failed);
    let late = e.end_call(2).unwrap();
    assert_eq!(late.media.rtp_packets_received, 20);
    assert!(
        late.rtpcheck_failed,
        "counted too late: the timeout had expired"
    );
    assert!(e.poll_warning().is_none(), "one warning per verdict");
}

#[test]
fn a_reinvite_moving_the_media_retargets_the_streams_playing() {
    let t0 = crate::sim::epoch();
    let mut e = engine(t0, quiet());
    e.handle_sip(1, b"c", &sdp_av("127.0.0.1", 4000, 4010));
    command(&mut e, t0, 1, b"c", "rtp_stream", "tone.wav,1,0").unwrap();
    command(&mut e, t0, 1, b"c", "play_pcap_video", "a.pcap").unwrap();
    command(&mut e, t0, 1, b"c", "send_dtmf", "1").unwrap();
    let before = run(&mut e, t0, t0 + Duration::from_millis(99));
    let moved_at = t0 + Duration::from_millis(100);
    // The re-INVITE (or UPDATE) moves both streams to another host.
    e.handle_sip(1, b"c", &sdp_av("127.0.0.2", 5000, 5010));
    let after = run(&mut e, moved_at, t0 + Duration::from_millis(400));
    let old_a: SocketAddr = "127.0.0.1:4000".parse().unwrap();
    let old_v: SocketAddr = "127.0.0.1:4010".parse().unwrap();
    let new_a: SocketAddr = "127.0.0.2:5000".parse().unwrap();
    let new_v: SocketAddr = "127.0.0.2:5010".parse().unwrap();
    let to = |v: &[(Instant, SocketAddr, Vec<u8>)], d: SocketAddr| {
        v.iter().filter(|(_, dest, _)| *dest == d).count()
    };
    assert!(
        to(&before, old_a) >= 5 && to(&before, old_v) == 5,
        "{before:?}"
    );
    assert_eq!(
        to(&after, old_a) + to(&after, old_v),
        0,
        "nothing to the old host"
    );
    assert_eq!(to(&after, new_v), 5, "the rest of the video replay");
    let dtmf_after = after
        .iter()
        .filter(|(_, d, b)| *d == new_a && RtpPacket::parse(b).unwrap().header.payload_type == 101)
        .count();
    assert!(dtmf_after > 0, "the DTMF still sounding moved too");
    // 300 ms of the tone stream (its DTMF events take some of its 20 ms slots).
    assert_eq!(to(&after, new_a), 15, "the tone moved");
    // Packets from the new address reach the call, and the echo follows its source.
    command(&mut e, moved_at, 1, b"c", "rtp_echo", "startaudio").unwrap();
    e.handle_datagram(moved_at, new_a, &rtp(1, 77));
    let mut tx = MediaTx::default();
    assert!(e.poll_transmit(&mut tx));
    assert_eq!(tx.items().len(), 1);
    assert_eq!(tx.items()[0].dest, new_a);
    tx.clear();
    assert_eq!(e.stats().rtp_unexpected_source, 0);
    assert_eq!(e.end_call(1).unwrap().media.rtp_packets_received, 1);
}

#[test]
fn after_a_move_the_call_latches_to_a_new_source_of_the_new_host() {
    let t0 = crate::sim::epoch();
    let mut e = engine(t0, quiet());
    e.handle_sip(1, b"c", &sdp(4000));
    // SIPp-style: media from another port of the SDP host latches.
    let first: SocketAddr = "127.0.0.1:6000".parse().unwrap();
    e.handle_datagram(t0, first, &rtp(0, 1));
    e.handle_sip(1, b"c", &sdp_av("127.0.0.2", 5000, 0));
    let second: SocketAddr = "127.0.0.2:6000".parse().unwrap();
    e.handle_datagram(t0, second, &rtp(0, 2));
    e.handle_datagram(t0, first, &rtp(1, 1));
    let s = e.stats();
    assert_eq!(s.rtp_unexpected_source, 1, "the old latch is forgotten");
    assert_eq!(e.end_call(1).unwrap().media.rtp_packets_received, 2);
}

fn recording_config(mode: super::RecordCalls) -> MediaConfig {
    MediaConfig {
        record_calls: mode,
        record_dir: "recs".into(),
        ..quiet()
    }
}

#[test]
fn record_calls_mono_writes_each_call_with_rtp_from_its_first_packet() {
    let t0 = crate::sim::epoch();
    let mut e = engine(t0, recording_config(super::RecordCalls::Mono));
    e.handle_sip(1, b"call/1@host", &sdp(4000));
    e.handle_sip(2, b"silent", &sdp(4002));
    // 100 ms after the SDP the peer starts talking: 10 packets, 20 ms apart.
    let start = t0 + Duration::from_millis(100);
    for i in 0..10u16 {
        e.handle_datagram(
            start + Duration::from_millis(20 * u64::from(i)),
            peer(),
            &rtp(i, 5),
        );
    }
    e.end_call(1).unwrap();
    e.end_call(2).unwrap();
    let recs: Vec<_> = std::iter::from_fn(|| e.poll_recording()).collect();
    assert_eq!(recs.len(), 1, "a call without RTP writes no file");
    assert_eq!(recs[0].path, std::path::Path::new("recs/call_1@host.wav"));
    let mut wav = Cursor::new(Vec::new());
    recs[0].recorder.write_wav(&mut wav).unwrap();
    wav.set_position(0);
    let got = hound_samples(wav);
    assert_eq!(got.len(), 10 * 160, "starts at the first packet, mono");
}

#[test]
fn record_calls_duplex_records_what_we_send_and_an_rtp_record_takes_over() {
    let t0 = crate::sim::epoch();
    let mut e = engine(t0, recording_config(super::RecordCalls::Duplex));
    e.handle_sip(1, b"c1", &sdp(4000));
    command(&mut e, t0, 1, b"c1", "rtp_stream", "tone.wav,1,0").unwrap();
    let sent = run(&mut e, t0, t0 + Duration::from_millis(1100));
    for (t, dest, bytes) in &sent {
        e.handle_datagram(*t + Duration::from_millis(5), *dest, bytes);
    }
    e.end_call(1).unwrap();
    let recs: Vec<_> = std::iter::from_fn(|| e.poll_recording()).collect();
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0].path, std::path::Path::new("recs/c1.wav"));
    let r = &recs[0].recorder;
    use gossipper_media::Direction;
    assert_eq!(
        r.samples(Direction::Sent),
        8000,
        "1 s sent, from the first packet"
    );
    assert_eq!(
        r.samples(Direction::Received),
        8000 + 40,
        "echoed 5 ms later"
    );

    // An rtp_record of the scenario replaces the automatic recording of its call.
    e.handle_sip(2, b"c2", &sdp(4002));
    command(&mut e, t0, 2, b"c2", "rtp_record", "start,mine.wav").unwrap();
    e.handle_datagram(t0, SocketAddr::new(peer().ip(), 4002), &rtp(0, 9));
    e.end_call(2).unwrap();
    let recs: Vec<_> = std::iter::from_fn(|| e.poll_recording()).collect();
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0].path, std::path::Path::new("mine.wav"));
}

#[test]
fn calls_sharing_one_peer_address_are_told_apart_by_their_ssrcs() {
    // A load generator sends every call's RTP from one media socket: the three SDPs name
    // the same address, and only the SSRC says which call a packet belongs to.
    let t0 = crate::sim::epoch();
    let mut e = engine(t0, quiet());
    for call in 1..=3u64 {
        e.handle_sip(call, format!("c{call}").as_bytes(), &sdp(4000));
    }
    // The calls start talking in the order they were set up, then interleave.
    let ssrc = |call: u64| 0x1000 + call as u32;
    let mut at = t0;
    for seq in 0..20u16 {
        for call in 1..=3u64 {
            if u64::from(seq) >= (call - 1) * 2 {
                at += Duration::from_millis(5);
                e.handle_datagram(at, peer(), &rtp(seq, ssrc(call)));
            }
        }
    }
    let received: Vec<u64> = (1..=3)
        .map(|c| e.end_call(c).unwrap().media.rtp_packets_received)
        .collect();
    assert_eq!(received, vec![20, 18, 16]);
}

#[test]
fn calls_replaying_one_capture_from_their_own_ports_keep_their_packets() {
    // SIPp's uac_pcap: every call replays the same capture (same SSRC), each call from
    // the port its SDP names.
    let t0 = crate::sim::epoch();
    let mut e = engine(t0, quiet());
    let from = |port: u16| SocketAddr::from(([127, 0, 0, 1], port));
    e.handle_sip(1, b"c1", &sdp(4000));
    e.handle_sip(2, b"c2", &sdp(4004));
    let mut at = t0;
    for seq in 0..10u16 {
        for port in [4000, 4004] {
            at += Duration::from_millis(5);
            e.handle_datagram(at, from(port), &rtp(seq, 0xDEE0_EE8F));
        }
    }
    for call in [1, 2] {
        assert_eq!(e.end_call(call).unwrap().media.rtp_packets_received, 10);
    }
}

#[test]
fn calls_that_never_get_a_stream_leave_no_queue_behind() {
    let t0 = crate::sim::epoch();
    let mut e = engine(t0, quiet());
    for call in 1..=1000u64 {
        e.handle_sip(call, b"c", &sdp(4000));
        if call > 10 {
            e.end_call(call - 10);
        }
    }
    assert!(e.unbound.values().map(|q| q.len()).sum::<usize>() <= 10);
    for call in 991..=1000 {
        e.end_call(call);
    }
    assert!(e.unbound.is_empty());
}

/// Runs the media action `verb="argument"` as a call step does: parsed first, as the
/// scenario loader parses it.
fn command(
    e: &mut MediaEngine,
    now: Instant,
    call: u64,
    call_id: &[u8],
    verb: &str,
    argument: &str,
) -> Result<(), String> {
    let cmd = crate::scenario::media::parse(verb, argument)?;
    e.handle_command(now, call, call_id, &cmd)
}

mod srtp;
