//! Tests of the outgoing stream state machine, in virtual time.
use super::*;
use crate::rtp::RtpPacket;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Drives a stream in virtual time from `t0` to `t0 + until`, polling every `step`,
/// and returns (send time offset, bytes) for every packet.
fn drive(
    s: &mut RtpStream,
    t0: Instant,
    until: Duration,
    step: Duration,
) -> Vec<(Duration, Vec<u8>)> {
    let mut out = Vec::new();
    let mut buf = [0u8; 2048];
    let mut t = t0;
    while t <= t0 + until {
        while let Some(n) = s.poll_transmit(t, &mut buf) {
            out.push((t - t0, buf[..n].to_vec()));
        }
        t += step;
    }
    out
}

fn frames(n: usize) -> Arc<AudioFrames> {
    let pcm: Vec<i16> = (0..n * FRAME_SAMPLES).map(|i| (i % 1000) as i16).collect();
    Arc::new(AudioFrames::from_pcm(G711Law::MuLaw, &pcm))
}

#[test]
fn wav_frames_go_out_every_20ms_with_rising_sequence_and_timestamp() {
    let t0 = Instant::now();
    let mut cfg = StreamConfig::new(0xABCD, 0);
    cfg.initial_sequence = 65534;
    cfg.initial_timestamp = u32::MAX - 100;
    let mut s = RtpStream::new(t0, cfg, StreamSource::Frames(frames(3)));
    let sent = drive(&mut s, t0, ms(200), ms(1));
    assert_eq!(sent.len(), 3);
    for (i, (at, bytes)) in sent.iter().enumerate() {
        assert_eq!(*at, ms(20 * i as u64));
        let p = RtpPacket::parse(bytes).unwrap();
        assert_eq!(p.header.ssrc, 0xABCD);
        assert_eq!(p.header.sequence, 65534u16.wrapping_add(i as u16));
        assert_eq!(
            p.header.timestamp,
            (u32::MAX - 100).wrapping_add(160 * i as u32)
        );
        assert_eq!(p.header.marker, i == 0);
        assert_eq!(p.payload.len(), 160);
    }
    assert!(s.is_finished());
    assert_eq!(s.poll_timeout(), None);
    assert_eq!(s.stats().packets, 3);
    assert_eq!(s.stats().payload_octets, 480);
    // 40 ms after the last packet (due at 40 ms): 320 units later
    assert_eq!(
        s.rtp_timestamp_at(t0 + ms(80)),
        Some((u32::MAX - 100).wrapping_add(2 * 160 + 320))
    );
}

#[test]
fn loops_replay_the_source_and_forever_keeps_going() {
    let t0 = Instant::now();
    let mut cfg = StreamConfig::new(1, 0);
    cfg.loops = Loops::Count(3);
    let mut s = RtpStream::new(t0, cfg, StreamSource::Frames(frames(2)));
    assert_eq!(drive(&mut s, t0, ms(1000), ms(5)).len(), 6);
    cfg.loops = Loops::Forever;
    let mut s = RtpStream::new(t0, cfg, StreamSource::Frames(frames(2)));
    assert_eq!(drive(&mut s, t0, ms(999), ms(5)).len(), 50);
    assert!(!s.is_finished());
}

#[test]
fn pcap_payloads_are_sent_verbatim_with_their_original_gaps() {
    let t0 = Instant::now();
    let p = Arc::new(PcapPayloads::from_parts([
        (ms(0), &b"aaa"[..]),
        (ms(30), &b"bbb"[..]),
        (ms(35), &b"ccc"[..]),
    ]));
    let mut cfg = StreamConfig::new(1, 0);
    cfg.loops = Loops::Count(2);
    let mut s = RtpStream::new(t0, cfg, StreamSource::Pcap(p));
    assert_eq!(s.max_packet_len(), 3);
    let sent = drive(&mut s, t0, ms(500), ms(1));
    let got: Vec<_> = sent
        .iter()
        .map(|(at, b)| (at.as_millis(), b.clone()))
        .collect();
    // second pass starts one ptime after the last packet of the first
    assert_eq!(
        got,
        vec![
            (0, b"aaa".to_vec()),
            (30, b"bbb".to_vec()),
            (35, b"ccc".to_vec()),
            (55, b"aaa".to_vec()),
            (85, b"bbb".to_vec()),
            (90, b"ccc".to_vec()),
        ]
    );
    assert!(s.is_finished());
    assert_eq!(s.send_dtmf(t0, "1"), Err(StreamError::Finished));
}

#[test]
fn late_polls_catch_up_without_drift() {
    let t0 = Instant::now();
    let mut s = RtpStream::new(
        t0,
        StreamConfig::new(1, 8),
        StreamSource::Silence {
            law: G711Law::ALaw,
            duration: None,
        },
    );
    let mut buf = [0u8; 200];
    // Poll only at 0, 55 ms and 100 ms: packets due at 0 | 20, 40 | 60, 80, 100.
    let mut counts = Vec::new();
    for t in [0, 55, 100] {
        let mut n = 0;
        while s.poll_transmit(t0 + ms(t), &mut buf).is_some() {
            n += 1;
        }
        counts.push(n);
    }
    assert_eq!(counts, vec![1, 2, 3]);
    assert_eq!(s.poll_timeout(), Some(t0 + ms(120)));
    let p = RtpPacket::parse(&buf[..172]).unwrap();
    assert_eq!(p.payload, &[0xD5; 160][..]);
}

#[test]
fn a_long_stall_skips_missed_packets_and_counts_them() {
    let t0 = Instant::now();
    let mut s = RtpStream::new(
        t0,
        StreamConfig::new(1, 0),
        StreamSource::Silence {
            law: G711Law::MuLaw,
            duration: None,
        },
    );
    let mut buf = [0u8; 200];
    assert!(s.poll_transmit(t0, &mut buf).is_some());
    let mut n = 0;
    while s.poll_transmit(t0 + ms(1000), &mut buf).is_some() {
        n += 1;
    }
    // Only packets at most 200 ms late are sent: 800..=1000 ms.
    assert_eq!(n, 11);
    assert_eq!(s.stats().late_skipped, 39);
    let p = RtpPacket::parse(&buf[..172]).unwrap();
    assert_eq!(p.header.timestamp, 50 * 160);
}

#[test]
fn silence_with_a_duration_ends_by_itself() {
    let t0 = Instant::now();
    let mut s = RtpStream::new(
        t0,
        StreamConfig::new(1, 0),
        StreamSource::Silence {
            law: G711Law::MuLaw,
            duration: Some(ms(100)),
        },
    );
    assert_eq!(drive(&mut s, t0, ms(300), ms(1)).len(), 5);
    assert!(s.is_finished());
}

#[test]
fn pause_holds_the_position_and_resume_jumps_the_timestamp() {
    let t0 = Instant::now();
    let mut s = RtpStream::new(
        t0,
        StreamConfig::new(1, 0),
        StreamSource::Frames(frames(10)),
    );
    let mut buf = [0u8; 200];
    assert!(s.poll_transmit(t0, &mut buf).is_some());
    s.pause(t0 + ms(5));
    assert_eq!(s.poll_timeout(), None);
    assert_eq!(s.state(), StreamState::Paused);
    assert!(s.poll_transmit(t0 + ms(500), &mut buf).is_none());
    s.resume(t0 + ms(1005));
    // 15 ms were left before the pause; the deadline keeps them.
    assert_eq!(s.poll_timeout(), Some(t0 + ms(1020)));
    let n = s.poll_transmit(t0 + ms(1020), &mut buf).unwrap();
    let p = RtpPacket::parse(&buf[..n]).unwrap();
    assert_eq!(p.header.sequence, 1);
    assert!(p.header.marker);
    // paused for 1000 ms = 50 frames, plus the one frame already sent
    assert_eq!(p.header.timestamp, 160 + 50 * 160);
    s.stop();
    assert!(s.is_finished());
    assert!(s.poll_transmit(t0 + ms(2000), &mut buf).is_none());
}

#[test]
fn dtmf_replaces_audio_with_rfc_4733_events_then_audio_continues() {
    let t0 = Instant::now();
    let mut s = RtpStream::new(
        t0,
        StreamConfig::new(7, 0),
        StreamSource::Silence {
            law: G711Law::MuLaw,
            duration: None,
        },
    );
    let mut buf = [0u8; 200];
    assert!(s.poll_transmit(t0, &mut buf).is_some());
    s.send_dtmf(t0 + ms(1), "5#").unwrap();
    let sent = drive(&mut s, t0 + ms(20), ms(26 * 20 + 19), ms(20));
    assert_eq!(sent.len(), 27);
    let parsed: Vec<_> = sent
        .iter()
        .map(|(_, b)| RtpPacket::parse(b).unwrap())
        .collect();
    let ev: Vec<_> = parsed
        .iter()
        .filter(|p| p.header.payload_type == 101)
        .map(|p| {
            (
                p.header.marker,
                p.header.timestamp,
                TelephoneEvent::parse(p.payload).unwrap(),
            )
        })
        .collect();
    assert_eq!(ev.len(), 16);
    assert_eq!(ev[0].2.event, 5);
    assert!(ev[0].0 && !ev[1].0);
    assert_eq!(ev[0].1, 160);
    assert!(ev.iter().take(8).all(|e| e.1 == 160));
    assert_eq!(ev[4].2.duration, 800);
    assert!(ev[5].2.end && ev[6].2.end && ev[7].2.end && !ev[4].2.end);
    assert_eq!(ev[8].2.event, 11);
    assert_eq!(ev[8].1, 160 + 13 * 160);
    // sequence numbers stay contiguous across audio and events
    for (i, p) in parsed.iter().enumerate() {
        assert_eq!(p.header.sequence, 1 + i as u16);
    }
    assert_eq!(s.stats().dtmf_keys, 2);
    assert_eq!(parsed.last().unwrap().header.payload_type, 0);
}

#[test]
fn dtmf_only_stream_idles_between_keys() {
    let t0 = Instant::now();
    let mut s = RtpStream::new(t0, StreamConfig::new(7, 0), StreamSource::DtmfOnly);
    assert_eq!(s.poll_timeout(), None);
    s.send_dtmf(t0 + ms(10), "1").unwrap();
    assert_eq!(s.poll_timeout(), Some(t0 + ms(10)));
    let sent = drive(&mut s, t0 + ms(10), ms(1000), ms(1));
    assert_eq!(sent.len(), 8);
    assert_eq!(s.poll_timeout(), None);
    assert!(!s.is_finished());
    assert_eq!(s.send_dtmf(t0, "x"), Err(StreamError::InvalidDtmfKey('x')));
    let many: String = std::iter::repeat_n('1', MAX_DTMF_QUEUE + 1).collect();
    assert_eq!(s.send_dtmf(t0, &many), Err(StreamError::DtmfQueueFull));
}

#[test]
fn a_small_buffer_skips_the_packet_and_counts_it() {
    let t0 = Instant::now();
    let mut s = RtpStream::new(t0, StreamConfig::new(1, 0), StreamSource::Frames(frames(2)));
    let mut small = [0u8; 50];
    assert!(s.poll_transmit(t0, &mut small).is_none());
    assert_eq!(s.stats().oversize_skipped, 1);
    assert_eq!(s.poll_timeout(), Some(t0 + ms(20)));
}

#[test]
fn time_going_backwards_is_ignored() {
    let t0 = Instant::now();
    let mut s = RtpStream::new(
        t0 + ms(100),
        StreamConfig::new(1, 0),
        StreamSource::Frames(frames(5)),
    );
    let mut buf = [0u8; 200];
    assert!(s.poll_transmit(t0 + ms(100), &mut buf).is_some());
    assert!(s.poll_transmit(t0, &mut buf).is_none());
    s.pause(t0);
    s.resume(t0 + ms(110));
    assert_eq!(s.poll_timeout(), Some(t0 + ms(130)));
}

#[test]
fn stream_size_stays_within_its_budget() {
    // 10,000 streams per shard: the budget is 200 bytes each (2 MB per shard; 192 today).
    let size = std::mem::size_of::<RtpStream>();
    assert!(size <= 200, "RtpStream grew to {size} bytes");
    eprintln!("RtpStream: {size} bytes");
}

#[test]
fn a_silence_stream_with_another_ptime_paces_and_stamps_by_it() {
    let t0 = Instant::now();
    let source = StreamSource::Silence {
        law: G711Law::ALaw,
        duration: Some(ms(300)),
    };
    let mut s = RtpStream::new(t0, StreamConfig::new(7, 8), source).with_silence_ptime(ms(30));
    assert_eq!(s.max_packet_len(), 12 + 240);
    let pkts = drive(&mut s, t0, ms(400), ms(1));
    assert_eq!(pkts.len(), 10, "300 ms at one packet per 30 ms");
    for (i, (at, bytes)) in pkts.iter().enumerate() {
        let p = RtpPacket::parse(bytes).unwrap();
        assert_eq!(*at, ms(30 * i as u64));
        assert_eq!(p.header.timestamp, 240 * i as u32);
        assert_eq!(p.header.sequence, i as u16);
        assert_eq!(p.payload.len(), 240);
    }
    assert!(s.is_finished());
}
