//! Two bridges connected in-process through a simulated clock and network. The driver
//! always takes the earliest pending thing — a datagram's arrival, a bridge's timeout,
//! an audio frame due — as str0m's own tests do, so nothing here sleeps or races.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::*;

const DELAY: Duration = Duration::from_millis(5);
const FRAME: Duration = Duration::from_millis(20);

/// A datagram filter: `false` drops it (index of the sending peer, bytes).
type Filter = fn(usize, &[u8]) -> bool;

struct Peer {
    bridge: WebrtcBridge,
    addr: SocketAddr,
    frames: Vec<MediaFrame>,
    connected_at: Option<Instant>,
    failed: Option<WebrtcFailure>,
    /// Audio frames still to send, and when the next is due.
    to_send: u32,
    next_send: Option<Instant>,
    payload: Vec<u8>,
}

struct Sim {
    now: Instant,
    peers: [Peer; 2],
    /// (arrival, to, from, bytes)
    wire: Vec<(Instant, usize, SocketAddr, Vec<u8>)>,
    filter: Filter,
    buf: Vec<u8>,
}

fn addr(i: usize) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 40_000 + 2 * i as u16))
}

fn peer(now: Instant, i: usize, tune: impl Fn(&mut WebrtcConfig)) -> Peer {
    let mut cfg = WebrtcConfig::new(addr(i));
    cfg.seed = i as u64;
    tune(&mut cfg);
    Peer {
        bridge: WebrtcBridge::new(now, cfg),
        addr: addr(i),
        frames: Vec::new(),
        connected_at: None,
        failed: None,
        to_send: 0,
        next_send: None,
        payload: vec![0xFF; 160],
    }
}

impl Sim {
    fn new(tune_a: impl Fn(&mut WebrtcConfig), tune_b: impl Fn(&mut WebrtcConfig)) -> Self {
        let now = Instant::now();
        let mut sim = Self {
            now,
            peers: [peer(now, 0, tune_a), peer(now, 1, tune_b)],
            wire: Vec::new(),
            filter: |_, _| true,
            buf: Vec::new(),
        };
        sim.flush(0);
        sim.flush(1);
        sim
    }

    /// UAC offer, UAS answer, UAC applies it; `edit` may rewrite the offer and the answer.
    fn negotiate(
        &mut self,
        edit_offer: impl Fn(String) -> String,
        edit_answer: impl Fn(String) -> String,
    ) -> Result<(), WebrtcError> {
        let now = self.now;
        let offer = edit_offer(self.peers[0].bridge.create_offer(now)?);
        assert!(offer.contains("UDP/TLS/RTP/SAVPF"), "{offer}");
        let answer = self.peers[1].bridge.accept_offer(now, &offer);
        if answer.is_err() {
            eprintln!(
                "offer failed: {:?}\n{offer}",
                self.peers[1].bridge.stats().failure_detail
            );
        }
        let answer = edit_answer(answer?);
        self.flush(1);
        let r = self.peers[0].bridge.accept_answer(now, &answer);
        self.flush(0);
        if r.is_err() {
            eprintln!(
                "answer failed: {:?}\n{answer}",
                self.peers[0].bridge.stats().failure_detail
            );
        }
        r
    }

    /// Moves a peer's datagrams onto the wire and its events into the peer.
    fn flush(&mut self, i: usize) {
        while let Some(t) = self.peers[i].bridge.poll_transmit(&mut self.buf) {
            assert_eq!(t.source, self.peers[i].addr);
            let bytes = self.buf[..t.len].to_vec();
            if let Some(to) = (0..2).find(|&j| self.peers[j].addr == t.destination)
                && (self.filter)(i, &bytes)
            {
                self.wire.push((self.now + DELAY, to, t.source, bytes));
            }
        }
        while let Some(e) = self.peers[i].bridge.poll_event() {
            let p = &mut self.peers[i];
            match e {
                WebrtcEvent::Connected => {
                    p.connected_at = Some(self.now);
                    if p.to_send > 0 {
                        p.next_send = Some(self.now);
                    }
                }
                WebrtcEvent::Media(f) => p.frames.push(f),
                WebrtcEvent::Failed(why) => p.failed = Some(why),
                WebrtcEvent::IceState(_) | WebrtcEvent::Closed => {}
            }
        }
    }

    /// One step: the earliest arrival, timeout or frame due. False when nothing is pending.
    fn step(&mut self) -> bool {
        let arrival = self.wire.iter().map(|w| w.0).min();
        let timeouts = (0..2).filter_map(|i| self.peers[i].bridge.poll_timeout().map(|t| (t, i)));
        let sends = (0..2).filter_map(|i| self.peers[i].next_send.map(|t| (t, i)));
        let next_timer = timeouts.chain(sends).min();
        let Some(at) = [arrival, next_timer.map(|t| t.0)]
            .into_iter()
            .flatten()
            .min()
        else {
            return false;
        };
        self.now = self.now.max(at);
        let now = self.now;
        if arrival == Some(at) {
            let k = self
                .wire
                .iter()
                .position(|w| w.0 == at)
                .expect("the earliest exists");
            let (_, to, from, bytes) = self.wire.remove(k);
            let dst = self.peers[to].addr;
            self.peers[to]
                .bridge
                .handle_datagram(now, from, dst, &bytes);
            self.flush(to);
            return true;
        }
        let i = next_timer.expect("a timer is the earliest").1;
        let p = &mut self.peers[i];
        if p.next_send.is_some_and(|t| t <= now) {
            let mut payload = p.payload.clone();
            payload[0] = p.to_send as u8;
            p.bridge.send_audio(now, &payload).expect("connected");
            p.to_send -= 1;
            p.next_send = (p.to_send > 0).then_some(now + FRAME);
        } else {
            p.bridge.handle_timeout(now);
        }
        self.flush(i);
        true
    }

    /// Runs until `done` or `limit` of simulated time; panics past 200 000 steps.
    fn run(&mut self, limit: Duration, done: impl Fn(&Sim) -> bool) {
        let end = self.now + limit;
        for _ in 0..200_000 {
            if done(self) || self.now >= end || !self.step() {
                return;
            }
        }
        panic!("simulation did not settle in 200 000 steps");
    }

    fn connected(&self) -> bool {
        self.peers.iter().all(|p| p.connected_at.is_some())
    }
}

fn same<T>(s: T) -> T {
    s
}

fn exchange(sim: &mut Sim, frames: u32) {
    sim.negotiate(same, same).expect("negotiation");
    sim.run(Duration::from_secs(5), Sim::connected);
    assert!(
        sim.connected(),
        "ICE+DTLS: {:?} / {:?}",
        sim.peers[0].bridge.stats(),
        sim.peers[1].bridge.stats()
    );
    for p in &mut sim.peers {
        p.to_send = frames;
        p.next_send = Some(sim.now);
    }
    // Sending takes frames × 20 ms; then a quiet second lets every packet land and the
    // 1 s stats fire.
    sim.run(FRAME * frames + Duration::from_secs(2), |_| false);
}

#[test]
fn two_bridges_connect_and_exchange_pcmu_both_ways() {
    let mut sim = Sim::new(|_| {}, |_| {});
    exchange(&mut sim, 50);
    for (i, p) in sim.peers.iter().enumerate() {
        assert_eq!(p.failed, None);
        assert_eq!(p.bridge.send_codec(), Some(AudioCodec::Pcmu));
        assert_eq!(p.frames.len(), 50, "peer {i} received");
        assert!(
            p.frames
                .iter()
                .all(|f| f.codec == Some(AudioCodec::Pcmu) && f.pt == 0 && f.payload.len() == 160)
        );
        // Sent in order 50, 49, … 1 in the first byte; RTP time steps by 160.
        let firsts: Vec<u8> = p.frames.iter().map(|f| f.payload[0]).collect();
        assert_eq!(firsts, (1..=50).rev().collect::<Vec<u8>>());
        assert!(
            p.frames
                .windows(2)
                .all(|w| w[1].rtp_time == w[0].rtp_time + 160)
        );
        let s = p.bridge.stats();
        assert_eq!((s.rtp_packets_sent, s.rtp_packets_received), (50, 50));
        assert_eq!(s.codec, Some("PCMU"));
        assert!(
            s.srtp_packets_sent >= 50 && s.srtp_packets_received >= 50,
            "{s:?}"
        );
        assert!(s.srtp_bytes_sent >= 50 * (12 + 160 + 10));
        assert!(s.ice_connected_ms.is_some() && s.dtls_connected_ms.is_some());
        assert!(s.ice_connected_ms <= s.dtls_connected_ms);
        assert_eq!(s.selected_local, Some(p.addr));
        assert_eq!(s.selected_remote, Some(sim.peers[1 - i].addr));
        assert_eq!((s.garbage_datagrams, s.failure), (0, None));
    }
    let s = sim.peers[0].bridge.stats();
    assert!(s.offer_created && s.answer_accepted && !s.offer_accepted);
    let s = sim.peers[1].bridge.stats();
    assert!(s.offer_accepted && s.answer_created && !s.offer_created);
}

#[test]
fn prefers_pcma_sends_pcma_both_ways() {
    let mut sim = Sim::new(|c| c.prefers_pcma = true, |c| c.prefers_pcma = true);
    exchange(&mut sim, 30);
    for p in &sim.peers {
        assert_eq!(p.bridge.send_codec(), Some(AudioCodec::Pcma));
        assert_eq!(p.frames.len(), 30);
        assert!(
            p.frames
                .iter()
                .all(|f| f.codec == Some(AudioCodec::Pcma) && f.pt == 8)
        );
    }
}

#[test]
fn a_browser_style_offer_with_opus_first_makes_the_answerer_send_opus() {
    let mut sim = Sim::new(|_| {}, |_| {});
    sim.peers[1].payload = OPUS_SILENCE_FRAME.to_vec();
    // Put Opus first on the m-line, as a browser does.
    let opus_first = |offer: String| {
        let opus_pt = offer
            .lines()
            .find_map(|l| {
                l.strip_prefix("a=rtpmap:")
                    .filter(|r| r.contains("opus/48000"))
            })
            .and_then(|r| r.split(' ').next())
            .expect("opus offered")
            .to_owned();
        offer
            .lines()
            .map(|l| match l.strip_prefix("m=audio ") {
                Some(rest) => {
                    let mut f: Vec<&str> = rest.split(' ').collect();
                    f.retain(|x| *x != opus_pt);
                    f.insert(2, &opus_pt);
                    format!("m=audio {}\r\n", f.join(" "))
                }
                None => format!("{l}\r\n"),
            })
            .collect::<String>()
    };
    sim.negotiate(opus_first, same).expect("negotiation");
    sim.run(Duration::from_secs(5), Sim::connected);
    assert_eq!(sim.peers[1].bridge.send_codec(), Some(AudioCodec::Opus));
    for p in &mut sim.peers {
        p.to_send = 40;
        p.next_send = Some(sim.now);
    }
    sim.run(FRAME * 40 + Duration::from_secs(1), |_| false);
    let at_uac = &sim.peers[0].frames;
    assert_eq!(at_uac.len(), 40);
    assert!(
        at_uac
            .iter()
            .all(|f| f.codec == Some(AudioCodec::Opus) && f.payload.len() == 3)
    );
    assert!(
        at_uac
            .windows(2)
            .all(|w| w[1].rtp_time == w[0].rtp_time + 960)
    );
    assert_eq!(sim.peers[1].frames.len(), 40);
}

#[test]
fn dtmf_goes_out_as_telephone_events() {
    let mut sim = Sim::new(|_| {}, |_| {});
    exchange(&mut sim, 1);
    let now = sim.now;
    sim.peers[0]
        .bridge
        .send_dtmf(now, '5', Duration::from_millis(100))
        .expect("dtmf");
    assert_eq!(
        sim.peers[0]
            .bridge
            .send_dtmf(now, 'x', Duration::from_millis(100)),
        Err(WebrtcError::Misuse("a DTMF digit outside 0-9 * # A-D"))
    );
    sim.flush(0);
    sim.run(Duration::from_secs(1), |_| false);
    let events: Vec<&MediaFrame> = sim.peers[1]
        .frames
        .iter()
        .filter(|f| f.pt == TELEPHONE_EVENT_PT)
        .collect();
    assert!(!events.is_empty(), "telephone-event packets arrive");
    assert!(
        events
            .iter()
            .all(|f| f.codec.is_none() && f.payload.first() == Some(&5))
    );
    assert_eq!(sim.peers[0].bridge.stats().dtmf_sent, 1);
}

#[test]
fn trickled_candidates_are_applied_and_counted() {
    let mut sim = Sim::new(|_| {}, |_| {});
    let strip = |sdp: String| {
        sdp.lines()
            .filter(|l| !l.starts_with("a=candidate"))
            .map(|l| format!("{l}\r\n"))
            .collect::<String>()
    };
    sim.negotiate(strip, strip).expect("negotiation");
    let now = sim.now;
    let cand = format!(
        "a=candidate:1 1 udp 2130706431 127.0.0.1 {} typ host\r\na=candidate:garbage\r\n",
        addr(1).port()
    );
    assert_eq!(sim.peers[0].bridge.add_remote_candidates(now, &cand), 1);
    sim.flush(0);
    sim.run(Duration::from_secs(5), Sim::connected);
    assert!(sim.connected());
    let s = sim.peers[0].bridge.stats();
    assert_eq!((s.remote_trickle_added, s.remote_trickle_rejected), (1, 1));
}

// ---- bad input ----------------------------------------------------------------------------

#[test]
fn garbage_datagrams_are_counted_and_do_not_stop_the_call() {
    let mut sim = Sim::new(|_| {}, |_| {});
    sim.negotiate(same, same).expect("negotiation");
    let now = sim.now;
    for junk in [
        &b""[..],
        &[0u8; 1][..],
        &[0xFF; 300][..],
        b"INVITE sip:x SIP/2.0\r\n\r\n",
    ] {
        sim.peers[1]
            .bridge
            .handle_datagram(now, addr(0), addr(1), junk);
    }
    sim.flush(1);
    sim.run(Duration::from_secs(5), Sim::connected);
    assert!(sim.connected());
    assert_eq!(sim.peers[1].bridge.stats().garbage_datagrams, 4);
}

#[test]
fn srtp_that_never_decrypts_fails_only_that_bridge() {
    let mut sim = Sim::new(|_| {}, |_| {});
    sim.negotiate(same, same).expect("negotiation");
    sim.run(Duration::from_secs(5), Sim::connected);
    // RTP-shaped packets under keys nobody has, from the peer's own address.
    let now = sim.now;
    for seq in 0..UNDECRYPTABLE_STREAK as u16 {
        let mut pkt = vec![0x80, 0x00];
        pkt.extend_from_slice(&seq.to_be_bytes());
        pkt.extend_from_slice(&[0x11; 8]);
        pkt.extend_from_slice(&[0x5A; 170]);
        sim.peers[1]
            .bridge
            .handle_datagram(now, addr(0), addr(1), &pkt);
    }
    sim.flush(1);
    assert_eq!(sim.peers[1].failed, Some(WebrtcFailure::SrtpUndecryptable));
    assert_eq!(sim.peers[1].bridge.stats().rtp_packets_received, 0);
    assert_eq!(sim.peers[0].failed, None);
    assert_eq!(
        sim.peers[1].bridge.send_audio(now, &[0; 160]),
        Err(WebrtcError::Failed(WebrtcFailure::SrtpUndecryptable))
    );
}

fn replace_fingerprint(sdp: String, with: &str) -> String {
    sdp.lines()
        .map(|l| {
            if l.starts_with("a=fingerprint:") {
                format!("{with}\r\n")
            } else {
                format!("{l}\r\n")
            }
        })
        .collect()
}

#[test]
fn a_malformed_or_missing_fingerprint_fails_at_the_answer() {
    for bad in [
        "a=fingerprint:sha-256 ZZ:not:hex",
        "a=fingerprint:",
        "a=x-nothing",
    ] {
        let mut sim = Sim::new(|_| {}, |_| {});
        let r = sim.negotiate(same, |a| replace_fingerprint(a, bad));
        let why = sim.peers[0].bridge.failure();
        assert!(
            matches!(
                why,
                Some(WebrtcFailure::RemoteSdp | WebrtcFailure::MissingFingerprint)
            ),
            "{bad}: {why:?}"
        );
        assert_eq!(r, Err(WebrtcError::Failed(why.expect("failed"))));
        assert!(sim.peers[0].bridge.stats().failure_detail.is_some());
    }
}

#[test]
fn a_fingerprint_that_does_not_match_the_certificate_fails_the_call() {
    let mut sim = Sim::new(|_| {}, |_| {});
    let other = ["00"; 32].join(":");
    sim.negotiate(same, |a| {
        replace_fingerprint(a, &format!("a=fingerprint:sha-256 {other}"))
    })
    .expect("negotiation");
    sim.run(Duration::from_secs(15), |s| s.peers[0].failed.is_some());
    assert_eq!(
        sim.peers[0].failed,
        Some(WebrtcFailure::FingerprintMismatch)
    );
    assert!(sim.peers[0].bridge.stats().dtls_connected_ms.is_none());
}

#[test]
fn a_dtls_handshake_that_never_finishes_times_out() {
    let mut sim = Sim::new(|_| {}, |_| {});
    // Drop DTLS records (first byte 20..=63, RFC 7983) both ways; ICE still works.
    sim.filter = |_, b| !b.first().is_some_and(|x| (20..=63).contains(x));
    sim.negotiate(same, same).expect("negotiation");
    sim.run(Duration::from_secs(30), |s| {
        s.peers.iter().all(|p| p.failed.is_some())
    });
    for p in &sim.peers {
        assert_eq!(p.failed, Some(WebrtcFailure::DtlsTimeout));
        let s = p.bridge.stats();
        assert!(s.ice_connected_ms.is_some());
        let took = s.failed_ms.unwrap() - s.ice_connected_ms.unwrap();
        assert!((10_000..10_100).contains(&took), "{took} ms");
    }
}

#[test]
fn ice_that_never_connects_times_out() {
    let mut sim = Sim::new(|_| {}, |_| {});
    sim.filter = |_, _| false;
    sim.negotiate(same, same).expect("negotiation");
    sim.run(Duration::from_secs(30), |s| {
        s.peers.iter().all(|p| p.failed.is_some())
    });
    for p in &sim.peers {
        assert_eq!(p.failed, Some(WebrtcFailure::IceTimeout));
        assert!(
            p.bridge.poll_timeout().is_none(),
            "a failed bridge arms no timer"
        );
    }
}

#[test]
fn sdp_steps_out_of_order_are_misuse() {
    let now = Instant::now();
    let mut b = WebrtcBridge::new(now, WebrtcConfig::new(addr(0)));
    assert!(matches!(
        b.accept_answer(now, "v=0"),
        Err(WebrtcError::Misuse(_))
    ));
    assert_eq!(b.send_audio(now, &[0; 160]), Err(WebrtcError::NotConnected));
    let _ = b.create_offer(now).expect("offer");
    assert!(matches!(b.create_offer(now), Err(WebrtcError::Misuse(_))));
    assert!(matches!(
        b.accept_offer(now, "v=0"),
        Err(WebrtcError::Misuse(_))
    ));
    // A classic RTP/AVP answer is not WebRTC: the bridge fails with a reason.
    let r = b.accept_answer(now, "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n");
    assert!(matches!(r, Err(WebrtcError::Failed(_))), "{r:?}");
}

#[test]
fn close_sends_goodbyes_and_stops() {
    let mut sim = Sim::new(|_| {}, |_| {});
    exchange(&mut sim, 5);
    let now = sim.now;
    sim.peers[0].bridge.close(now);
    let mut out = Vec::new();
    let mut sent = 0;
    while sim.peers[0].bridge.poll_transmit(&mut out).is_some() {
        sent += 1;
    }
    assert!(sent >= 1, "BYE / close_notify go out");
    assert!(sim.peers[0].bridge.stats().closed_ms.is_some());
    assert_eq!(
        sim.peers[0].bridge.send_audio(now, &[0; 160]),
        Err(WebrtcError::Misuse("a closed bridge"))
    );
}

#[test]
fn a_stun_answer_adds_a_server_reflexive_candidate() {
    let now = Instant::now();
    let server: SocketAddr = "127.0.0.9:3478".parse().unwrap();
    let mut cfg = WebrtcConfig::new(addr(0));
    cfg.stun_servers = vec![server];
    let mut b = WebrtcBridge::new(now, cfg);
    let mut out = Vec::new();
    let mut request = None;
    while let Some(t) = b.poll_transmit(&mut out) {
        if t.destination == server {
            request = Some(out[..t.len].to_vec());
        }
    }
    let request = request.expect("a Binding request to the STUN server");
    assert_eq!(request.len(), 20);
    // XOR-MAPPED-ADDRESS 198.51.100.2:50000.
    let mut resp = vec![0x01, 0x01, 0x00, 0x0C, 0x21, 0x12, 0xA4, 0x42];
    resp.extend_from_slice(&request[8..20]);
    resp.extend_from_slice(&[0x00, 0x20, 0x00, 0x08, 0x00, 0x01]);
    resp.extend_from_slice(&(50_000u16 ^ 0x2112).to_be_bytes());
    resp.extend_from_slice(&(u32::from_be_bytes([198, 51, 100, 2]) ^ 0x2112_A442).to_be_bytes());
    b.handle_datagram(now, server, addr(0), &resp);
    assert_eq!(b.stats().local_candidates, 2);
    assert_eq!(b.stats().garbage_datagrams, 0);
    let offer = b.create_offer(now).expect("offer");
    assert!(offer.contains("198.51.100.2 50000 typ srflx"), "{offer}");
}
