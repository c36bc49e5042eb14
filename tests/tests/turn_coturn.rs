//! Our sans-IO TURN client (`gossipper_media::webrtc::turn`) against a real coturn
//! (`turnserver`, started here on 127.0.0.1): Allocate with long-term credentials, static
//! (`--user`) and coturn REST (`--use-auth-secret`), CreatePermission, data both ways
//! through the relay (Send and Data indications, checked by a plain UDP peer), Refresh
//! before the granted lifetime ends (coturn grants 6 s here and its nonces go stale after
//! 3 s, so the refresh also meets 438), Refresh with LIFETIME 0 at the end, and bad
//! credentials refused with 401. coturn's own log must show the session and its end.
//!
//! Then whole calls: our WebRTC bridge with ICE transport policy `relay` (no host
//! candidate; the TURN relay only) calls a bridge with a host candidate through coturn;
//! G.711 flows both ways over the relay and the selected pair is the relay one. Bad TURN
//! credentials fail such a call as `turn`, with coturn's 401 in the record. And the same
//! from the command line: `-sn webrtc_uac -ice_server turn:… -turn_user -turn_pass
//! -ice_relay_only` against `-sn webrtc_uas`, as two processes.

mod turn_support;

use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use gossipper_e2e::{Proc, Sock, finish_pair, free_port, gossipper_bin, peer_args, scratch_dir};
use gossipper_media::webrtc::turn::{TurnClient, TurnError, TurnEvent, TurnInput};
use gossipper_media::webrtc::{
    TurnCredentials, WebrtcBridge, WebrtcConfig, WebrtcEvent, WebrtcFailure,
};
use turn_support::{Coturn, SECRET};

/// Our side: a UDP socket and the TURN client on it; relayed payloads are collected.
struct Side {
    sock: UdpSocket,
    turn: TurnClient,
    events: Vec<TurnEvent>,
    data: Vec<(SocketAddr, Vec<u8>)>,
}

impl Side {
    fn new(server: SocketAddr, creds: &TurnCredentials) -> Side {
        let sock = UdpSocket::bind("127.0.0.1:0").expect("bind");
        let local = sock.local_addr().expect("local addr");
        let turn = TurnClient::new(Instant::now(), local, server, creds, 7);
        Side {
            sock,
            turn,
            events: Vec::new(),
            data: Vec::new(),
        }
    }

    /// Runs the client (sockets, timers) until `done` holds or `limit` passes.
    fn drive(&mut self, limit: Duration, mut done: impl FnMut(&Side) -> bool) {
        let end = Instant::now() + limit;
        let mut buf = [0u8; 2048];
        while !done(self) {
            let now = Instant::now();
            assert!(
                now < end,
                "TURN exchange unfinished; events: {:?}",
                self.events
            );
            self.turn.handle_timeout(now);
            self.flush();
            let wait = self
                .turn
                .poll_timeout()
                .map_or(Duration::from_millis(50), |t| {
                    t.saturating_duration_since(now)
                })
                .clamp(Duration::from_millis(1), Duration::from_millis(50));
            self.sock.set_read_timeout(Some(wait)).expect("timeout");
            if let Ok((n, from)) = self.sock.recv_from(&mut buf) {
                match self.turn.handle_input(Instant::now(), from, &buf[..n]) {
                    TurnInput::Data { peer, payload } => self.data.push((peer, payload.to_vec())),
                    TurnInput::Handled => {}
                    TurnInput::NotOurs => panic!("a datagram from {from} that is not TURN"),
                }
                self.flush();
            }
        }
    }

    fn flush(&mut self) {
        while let Some(t) = self.turn.poll_transmit() {
            self.sock
                .send_to(&t.contents, t.destination)
                .expect("send to coturn");
        }
        while let Some(e) = self.turn.poll_event() {
            self.events.push(e);
        }
    }

    fn allocated(&self) -> Option<SocketAddr> {
        self.events.iter().find_map(|e| match e {
            TurnEvent::Allocated { relayed, .. } => Some(*relayed),
            _ => None,
        })
    }
}

fn static_creds(password: &str) -> TurnCredentials {
    TurnCredentials {
        username: "alice".into(),
        password: password.into(),
        expires_at_unix: None,
    }
}

/// Allocate, permit a plain UDP peer, relay both ways, outlive two lifetimes by
/// refreshing, release; coturn's log shows each step.
fn allocation_relays_and_refreshes(coturn: &Coturn, creds: &TurnCredentials, user: &str) {
    let mut side = Side::new(coturn.addr, creds);
    side.drive(Duration::from_secs(5), |s| s.allocated().is_some());
    let relayed = side.allocated().expect("allocated");
    assert_eq!(
        relayed.ip(),
        coturn.addr.ip(),
        "relayed on coturn's relay address"
    );
    assert_eq!(side.turn.relayed(), Some(relayed));

    let peer = UdpSocket::bind("127.0.0.1:0").expect("peer bind");
    peer.set_read_timeout(Some(Duration::from_secs(2)))
        .expect("peer timeout");
    let peer_addr = peer.local_addr().expect("peer addr");
    side.turn.create_permission(Instant::now(), peer_addr.ip());
    side.drive(Duration::from_secs(5), |s| {
        s.events
            .contains(&TurnEvent::PermissionCreated(peer_addr.ip()))
    });

    // Keep the allocation past 2 × its 6 s lifetime, relaying both ways each second.
    let start = Instant::now();
    let mut rounds = 0u32;
    while start.elapsed() < Duration::from_secs(13) {
        rounds += 1;
        let ping = format!("ping {rounds}");
        assert!(side.turn.send_to(peer_addr, ping.as_bytes()));
        side.flush();
        let mut buf = [0u8; 256];
        let (n, from) = peer
            .recv_from(&mut buf)
            .unwrap_or_else(|e| panic!("round {rounds}: nothing relayed to the peer: {e}"));
        assert_eq!(
            (&buf[..n], from),
            (ping.as_bytes(), relayed),
            "round {rounds}"
        );
        let pong = format!("pong {rounds}");
        peer.send_to(pong.as_bytes(), relayed).expect("peer send");
        let want = side.data.len() + 1;
        side.drive(Duration::from_secs(2), |s| s.data.len() >= want);
        assert_eq!(
            side.data.last().expect("relayed data"),
            &(peer_addr, pong.clone().into_bytes()),
            "round {rounds}"
        );
        let pause = Instant::now() + Duration::from_secs(1);
        side.drive(Duration::from_secs(2), |_| Instant::now() >= pause);
    }
    assert!(rounds >= 10, "{rounds} rounds");
    assert!(
        !side
            .events
            .iter()
            .any(|e| matches!(e, TurnEvent::Failed(_))),
        "{:?}",
        side.events
    );

    side.turn.close(Instant::now());
    side.drive(Duration::from_secs(5), |s| {
        s.events.contains(&TurnEvent::Closed)
    });
    assert_eq!(side.turn.relayed(), None);

    // coturn saw it all: the user, the allocation, refreshes (two lifetimes), permission,
    // and the release.
    let end = Instant::now() + Duration::from_secs(3);
    loop {
        let log = coturn.log();
        let ok = |what: &str| {
            log.lines()
                .any(|l| l.contains(&format!("user <{user}>")) && l.contains(what))
        };
        let refreshes = log
            .lines()
            .filter(|l| l.contains("REFRESH processed, success"))
            .count();
        // Nonces go stale after 3 s, so at least one refresh met 438 and was retried.
        if ok("ALLOCATE processed, success")
            && ok("CREATE_PERMISSION processed, success")
            && ok("error 438: Stale nonce")
            && refreshes >= 3
            && log.contains("closed")
        {
            break;
        }
        assert!(
            Instant::now() < end,
            "coturn's log lacks the allocation, {refreshes} refreshes:\n{log}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn static_user_allocates_relays_refreshes_and_releases() {
    let dir = scratch_dir("turn-static");
    let coturn = Coturn::start(&dir, &["--lt-cred-mech", "--user", "alice:wonder"]);
    allocation_relays_and_refreshes(&coturn, &static_creds("wonder"), "alice");
}

#[test]
fn rest_credentials_allocate_relay_and_refresh() {
    let dir = scratch_dir("turn-rest");
    let coturn = Coturn::start(&dir, &["--use-auth-secret", "--static-auth-secret", SECRET]);
    let now_unix = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let creds = TurnCredentials::rest(
        SECRET.as_bytes(),
        "gossipper",
        now_unix,
        Duration::from_secs(3600),
    );
    let user = creds.username.clone();
    allocation_relays_and_refreshes(&coturn, &creds, &user);
}

#[test]
fn bad_credentials_fail_with_401() {
    let dir = scratch_dir("turn-bad");
    let coturn = Coturn::start(&dir, &["--lt-cred-mech", "--user", "alice:wonder"]);
    let mut side = Side::new(coturn.addr, &static_creds("wrong"));
    side.drive(Duration::from_secs(5), |s| {
        s.events.iter().any(|e| matches!(e, TurnEvent::Failed(_)))
    });
    let Some(TurnEvent::Failed(e)) = side.events.first() else {
        panic!("{:?}", side.events)
    };
    assert!(matches!(e, TurnError::Unauthorized { .. }), "{e}");
    assert!(e.to_string().contains("credentials refused (401"), "{e}");
    assert_eq!(side.turn.relayed(), None);
    // An expired REST credential is refused the same way.
    let dir = scratch_dir("turn-expired");
    let coturn = Coturn::start(&dir, &["--use-auth-secret", "--static-auth-secret", SECRET]);
    let stale = TurnCredentials::rest(
        SECRET.as_bytes(),
        "gossipper",
        1_000,
        Duration::from_secs(60),
    );
    let mut side = Side::new(coturn.addr, &stale);
    side.drive(Duration::from_secs(5), |s| {
        s.events.iter().any(|e| matches!(e, TurnEvent::Failed(_)))
    });
    assert!(
        matches!(
            side.events.first(),
            Some(TurnEvent::Failed(TurnError::Unauthorized { .. }))
        ),
        "{:?}",
        side.events
    );
}

/// One call's bridge on a real UDP socket.
struct Call {
    sock: UdpSocket,
    bridge: WebrtcBridge,
    connected: bool,
    failed: Option<WebrtcFailure>,
    frames: u32,
    sent: u32,
    next_frame: Option<Instant>,
}

impl Call {
    fn new(tune: impl FnOnce(&mut WebrtcConfig)) -> Call {
        let sock = UdpSocket::bind("127.0.0.1:0").expect("bind call socket");
        sock.set_nonblocking(true).expect("nonblocking");
        let mut cfg = WebrtcConfig::new(sock.local_addr().expect("local addr"));
        tune(&mut cfg);
        Call {
            bridge: WebrtcBridge::new(Instant::now(), cfg),
            sock,
            connected: false,
            failed: None,
            frames: 0,
            sent: 0,
            next_frame: None,
        }
    }

    /// Timers, the socket, audio every 20 ms (at most `frames`), then flush.
    fn step(&mut self, frames: u32, buf: &mut [u8], out: &mut Vec<u8>) {
        let now = Instant::now();
        if self.bridge.poll_timeout().is_some_and(|t| t <= now) {
            self.bridge.handle_timeout(now);
        }
        let local = self.sock.local_addr().expect("local addr");
        while let Ok((n, from)) = self.sock.recv_from(buf) {
            self.bridge
                .handle_datagram(Instant::now(), from, local, &buf[..n]);
        }
        if self.connected && self.sent < frames && self.next_frame.is_none_or(|t| t <= now) {
            if self.bridge.send_audio(now, &[0xFF; 160]).is_ok() {
                self.sent += 1;
            }
            self.next_frame = Some(now + Duration::from_millis(20));
        }
        while let Some(t) = self.bridge.poll_transmit(out) {
            let _ = self.sock.send_to(&out[..t.len], t.destination);
        }
        while let Some(e) = self.bridge.poll_event() {
            match e {
                WebrtcEvent::Connected => self.connected = true,
                WebrtcEvent::Media(_) => self.frames += 1,
                WebrtcEvent::Failed(f) => self.failed = Some(f),
                _ => {}
            }
        }
    }
}

/// Our UAC bridge (relay only, through coturn) calls our UAS bridge (host candidate
/// only): offer/answer in process, every datagram on real loopback sockets.
fn relayed_call(coturn: &Coturn, creds: TurnCredentials, frames: u32) -> (Call, Call) {
    let mut uac = Call::new(|c| {
        c.turn = Some((coturn.addr, creds));
        c.relay_only = true;
    });
    let mut uas = Call::new(|_| {});
    let now = Instant::now();
    let offer = uac.bridge.create_offer(now).expect("offer");
    assert!(
        !offer.contains("typ host"),
        "a relay-only offer names no host candidate:\n{offer}"
    );
    let answer = uas.bridge.accept_offer(now, &offer).expect("answer");
    uac.bridge
        .accept_answer(now, &answer)
        .expect("answer applies");
    let (mut buf, mut out) = (vec![0u8; 2048], Vec::new());
    let end = Instant::now() + Duration::from_secs(15);
    while Instant::now() < end
        && uac.failed.is_none()
        && uas.failed.is_none()
        && (uac.frames < frames || uas.frames < frames)
    {
        uac.step(frames, &mut buf, &mut out);
        uas.step(frames, &mut buf, &mut out);
        std::thread::sleep(Duration::from_millis(1));
    }
    (uac, uas)
}

#[test]
fn a_relay_only_webrtc_call_carries_audio_both_ways_through_coturn() {
    let dir = scratch_dir("turn-call");
    let coturn = Coturn::start(&dir, &["--lt-cred-mech", "--user", "alice:wonder"]);
    let (mut uac, uas) = relayed_call(&coturn, static_creds("wonder"), 100);
    let (a, b) = (uac.bridge.stats().clone(), uas.bridge.stats().clone());
    assert_eq!((uac.failed, uas.failed), (None, None), "{a:?}\n{b:?}");
    assert!(
        uac.frames >= 100 && uas.frames >= 100,
        "frames {} / {}",
        uac.frames,
        uas.frames
    );
    let relayed = a.turn_relayed.expect("a relay was allocated");
    assert_eq!(a.selected_kind, Some("relay"), "{a:?}");
    assert_eq!(a.selected_local, Some(relayed));
    assert_eq!(a.local_candidates, 1, "the relay candidate only");
    // The UAS saw the call come from coturn's relay.
    assert_eq!(b.selected_remote, Some(relayed), "{b:?}");
    assert!(a.srtp_packets_received >= 100 && b.srtp_packets_received >= 100);
    // Hanging up releases the allocation.
    uac.bridge.close(Instant::now());
    let mut out = Vec::new();
    while let Some(t) = uac.bridge.poll_transmit(&mut out) {
        let _ = uac.sock.send_to(&out[..t.len], t.destination);
    }
    let end = Instant::now() + Duration::from_secs(3);
    loop {
        let log = coturn.log();
        if log.contains("user <alice>: incoming packet SEND") || log.contains("closed") {
            let peer_ok = log.contains("CREATE_PERMISSION processed, success");
            let released = log.contains("closed");
            if peer_ok && released {
                break;
            }
        }
        assert!(
            Instant::now() < end,
            "coturn's log lacks the relayed call:\n{log}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_relay_only_call_with_bad_turn_credentials_fails_as_turn() {
    let dir = scratch_dir("turn-call-bad");
    let coturn = Coturn::start(&dir, &["--lt-cred-mech", "--user", "alice:wonder"]);
    let (uac, _uas) = relayed_call(&coturn, static_creds("wrong"), 10);
    assert_eq!(uac.failed, Some(WebrtcFailure::Turn));
    let s = uac.bridge.stats();
    let detail = s.failure_detail.as_deref().unwrap_or_default();
    assert!(detail.contains("credentials refused (401"), "{detail}");
    assert_eq!(s.turn_error.as_deref(), Some(detail));
    assert_eq!(s.turn_relayed, None);
}

fn read_records(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("record {l}: {e}")))
        .collect()
}

#[test]
fn the_command_line_webrtc_uac_relays_through_coturn_with_turn_flags() {
    let dir = scratch_dir("turn-cli");
    let coturn = Coturn::start(&dir, &["--lt-cred-mech", "--user", "alice:wonder"]);
    let sport = free_port();
    let mut scmd = Command::new(gossipper_bin());
    scmd.current_dir(&dir)
        .args(["-sn", "webrtc_uas", "-t", "u1", "-i", "127.0.0.1"])
        .args(["-p", &sport.to_string(), "-m", "3"])
        .arg("-call_records_jsonl")
        .arg(dir.join("server.jsonl"));
    peer_args(&mut scmd, &dir.join("server.csv"));
    let mut server = Proc::spawn("webrtc_uas", &mut scmd);
    server.wait_bound(Sock::Udp, sport);
    let mut ccmd = Command::new(gossipper_bin());
    ccmd.current_dir(&dir)
        .arg(format!("127.0.0.1:{sport}"))
        .args(["-sn", "webrtc_uac", "-t", "u1", "-i", "127.0.0.1"])
        .args(["-m", "3", "-r", "3", "-d", "1500"])
        .args([
            "-ice_server",
            &format!("turn:{}?transport=udp", coturn.addr),
        ])
        .args([
            "-turn_user",
            "alice",
            "-turn_pass",
            "wonder",
            "-ice_relay_only",
        ])
        .arg("-call_records_jsonl")
        .arg(dir.join("client.jsonl"));
    peer_args(&mut ccmd, &dir.join("client.csv"));
    let client = Proc::spawn("webrtc_uac", &mut ccmd);
    finish_pair(
        "turn-cli",
        client,
        server,
        &dir.join("client.csv"),
        &dir.join("server.csv"),
        3,
        Duration::from_secs(60),
    );
    let client = read_records(&dir.join("client.jsonl"));
    assert_eq!(client.len(), 3);
    let mut relays = Vec::new();
    for r in &client {
        let w = &r["webrtc"];
        assert_eq!(w["selected_kind"], "relay", "{w}");
        assert_eq!(w["selected_local"], w["turn_relayed"], "{w}");
        assert!(w["rtp_packets_received"].as_u64().unwrap_or(0) > 0, "{w}");
        relays.push(w["turn_relayed"].clone());
    }
    let server = read_records(&dir.join("server.jsonl"));
    assert_eq!(server.len(), 3);
    for r in &server {
        let w = &r["webrtc"];
        assert!(relays.contains(&w["selected_remote"]), "{w}");
        assert!(w["rtp_packets_received"].as_u64().unwrap_or(0) > 0, "{w}");
    }
    let log = coturn.log();
    let allocations = log
        .lines()
        .filter(|l| l.contains("user <alice>: incoming packet ALLOCATE processed, success"))
        .count();
    assert_eq!(allocations, 3, "{log}");
}
