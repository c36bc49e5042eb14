//! Our sans-IO TURN client (`gossipper_media::webrtc::turn`) against a real coturn
//! (`turnserver`, started here on 127.0.0.1): Allocate with long-term credentials, static
//! (`--user`) and coturn REST (`--use-auth-secret`), CreatePermission, data both ways
//! through the relay (Send and Data indications, checked by a plain UDP peer), Refresh
//! before the granted lifetime ends (coturn grants 6 s here and its nonces go stale after
//! 3 s, so the refresh also meets 438), Refresh with LIFETIME 0 at the end, and bad
//! credentials refused with 401. coturn's own log must show the session and its end.

use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use gossipper_e2e::{Proc, Sock, free_port_block, scratch_dir};
use gossipper_media::webrtc::TurnCredentials;
use gossipper_media::webrtc::turn::{TurnClient, TurnError, TurnEvent, TurnInput};

const REALM: &str = "gossipper.test";
const SECRET: &str = "north-wind";

/// A coturn on 127.0.0.1 with its own config, database, pid and log files in `dir`.
struct Coturn {
    _proc: Proc,
    addr: SocketAddr,
    log: PathBuf,
}

impl Coturn {
    fn start(dir: &Path, auth: &[&str]) -> Coturn {
        let port = free_port_block(2);
        let relay = free_port_block(16);
        // An empty config: Debian's /etc/turnserver.conf sends the log to syslog.
        let conf = dir.join("turnserver.conf");
        std::fs::write(&conf, "").expect("write turnserver.conf");
        let log = dir.join("turn.log");
        let mut cmd = Command::new("turnserver");
        cmd.current_dir(dir)
            .arg("-c")
            .arg(&conf)
            .args(["--listening-ip", "127.0.0.1", "--relay-ip", "127.0.0.1"])
            .args(["--listening-port", &port.to_string()])
            .args(["--min-port", &relay.to_string()])
            .args(["--max-port", &(relay + 15).to_string()])
            .args(["--realm", REALM, "--fingerprint"])
            .args(["--no-cli", "--no-tls", "--no-dtls", "--no-tcp-relay"])
            .arg("--allow-loopback-peers")
            .arg("--max-allocate-lifetime=6")
            .arg("--stale-nonce=3")
            .arg("--userdb")
            .arg(dir.join("turndb"))
            .arg("--pidfile")
            .arg(dir.join("turnserver.pid"))
            .arg("--log-file")
            .arg(&log)
            .args(["--simple-log", "--no-stdout-log", "--verbose"])
            .args(auth);
        let mut proc = Proc::spawn("turnserver", &mut cmd);
        proc.wait_bound(Sock::Udp, port);
        Coturn {
            _proc: proc,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            log,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

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
