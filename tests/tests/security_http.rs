//! Attacks on the master's HTTP layer and on SIP stream connections, each performed
//! against a real process on loopback (`gossipper ui`, or `gossipper -sn uas -t t1`):
//! slow bodies, slow header trickles, a client over its connection share, a flood over
//! the global cap, a client that never reads, a 10 TB declaration, and SIP connections
//! that send nothing or half a message (even under a live call). Each test checks that
//! the attack fails, that the service still answers while it is on (a real SIPp call
//! held in silence past the idle timeout keeps its connection), and that nothing in the
//! data dir changed.
//!
//! Attackers bind their sockets to 127.0.0.2 and up, so that the master sees them as
//! other clients than the probes from 127.0.0.1. The line above each `#[test]`,
//! `/// attack: … => …`, feeds README's security table.

mod api_support;

use std::collections::BTreeMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant, SystemTime};

use api_support::{Master, wav_bytes};
use gossipper_e2e::{
    Proc, StatCsv, free_port, gossipper_bin, peer_args, scratch_dir, sipp_bin, tail,
};
use socket2::{Domain, Socket, Type};

/// A login declaring a 60,000-byte body, of which it sends one byte.
const SLOW_LOGIN: &[u8] = b"POST /api/v2/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 60000\r\n\r\n{";
/// How long a probe may take while an attack is on.
const PROBE_LIMIT: Duration = Duration::from_secs(1);

/// 127.0.0.`n`.
fn loopback(n: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, n))
}

/// A TCP connection to `addr` from 127.0.0.`from`; `rcvbuf` fixes the receive buffer
/// (and so the window the server may fill) before connecting.
fn connect_from(from: u8, addr: &str, rcvbuf: Option<usize>) -> TcpStream {
    let dest: SocketAddr = addr.parse().expect("master address");
    let s = Socket::new(Domain::IPV4, Type::STREAM, None).expect("socket");
    if let Some(n) = rcvbuf {
        s.set_recv_buffer_size(n).expect("SO_RCVBUF");
    }
    s.bind(&SocketAddr::new(loopback(from), 0).into())
        .expect("bind a loopback source address");
    s.connect_timeout(&dest.into(), Duration::from_secs(5))
        .expect("connect");
    s.into()
}

/// One `Connection: close` request from 127.0.0.`from`, answered in full within
/// `limit`: the status and the body, or what went wrong.
fn exchange(
    addr: &str,
    from: u8,
    request: &str,
    limit: Duration,
) -> Result<(u16, Vec<u8>), String> {
    let until = Instant::now() + limit;
    let mut s = connect_from(from, addr, None);
    s.write_all(request.as_bytes())
        .map_err(|e| format!("send: {e}"))?;
    let mut got = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(format!(
                "no whole reply within {limit:?}: {:?}",
                String::from_utf8_lossy(&got)
            ));
        }
        s.set_read_timeout(Some(left)).expect("timeout");
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) => {
                return Err(format!(
                    "read: {e} after {:?}",
                    String::from_utf8_lossy(&got)
                ));
            }
        }
    }
    let split = got
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| format!("no head in {:?}", String::from_utf8_lossy(&got)))?;
    let status = std::str::from_utf8(&got[9..12])
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or("no status")?;
    Ok((status, got[split + 4..].to_vec()))
}

/// `GET /healthz` from 127.0.0.`from` within [`PROBE_LIMIT`]: its status.
fn healthz(addr: &str, from: u8) -> Result<u16, String> {
    let req = format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    let (status, body) = exchange(addr, from, &req, PROBE_LIMIT)?;
    if status == 200 && body != b"ok" {
        return Err(format!("healthz body {:?}", String::from_utf8_lossy(&body)));
    }
    Ok(status)
}

/// Asserts `/healthz` from 127.0.0.1 answers 200 within [`PROBE_LIMIT`].
fn assert_served(addr: &str, what: &str) {
    assert_eq!(
        healthz(addr, 1),
        Ok(200),
        "{what}: /healthz must answer within {PROBE_LIMIT:?}"
    );
}

/// What the server did with an attacking connection by `until`: the status of the
/// reply it sent (if any), and whether it closed the connection.
fn outcome(s: &mut TcpStream, until: Instant) -> (Option<u16>, bool) {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let closed = loop {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break false;
        }
        s.set_read_timeout(Some(left)).expect("timeout");
        match s.read(&mut buf) {
            Ok(0) => break true,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => break true,
        }
    };
    let status = got
        .get(9..12)
        .and_then(|b| std::str::from_utf8(b).ok())
        .and_then(|s| s.parse().ok());
    (status, closed)
}

/// True while the server has neither answered nor closed `s`.
fn still_held(s: &TcpStream) -> bool {
    s.set_nonblocking(true).expect("nonblocking");
    let mut b = [0u8; 1];
    let held = matches!(s.peek(&mut b), Err(e) if e.kind() == ErrorKind::WouldBlock);
    s.set_nonblocking(false).expect("blocking");
    held
}

/// Every file and directory under `dir` with its size and modification time, except
/// the SQLite WAL and shared-memory files, which SQLite touches on reads.
fn snapshot(dir: &Path) -> BTreeMap<String, (u64, SystemTime)> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, (u64, SystemTime)>) {
        for e in std::fs::read_dir(dir).expect("read data dir").flatten() {
            let p = e.path();
            let name = p
                .strip_prefix(root)
                .expect("under root")
                .display()
                .to_string();
            if name.ends_with("settings.sqlite-wal") || name.ends_with("settings.sqlite-shm") {
                continue;
            }
            let meta = e.metadata().expect("metadata");
            out.insert(name, (meta.len(), meta.modified().expect("mtime")));
            if meta.is_dir() {
                walk(root, &p, out);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// Holds `n` slow-body connections from four client addresses while probing, then
/// checks each gets 408 and is closed, and that nothing was written.
fn slow_bodies(tag: &str, n: usize) {
    let m = Master::start_with(tag, &["--request-timeout", "4"], &[]);
    let before = snapshot(&m.data_dir);
    let mut conns: Vec<TcpStream> = (0..n)
        .map(|i| {
            let mut s = connect_from(10 + (i % 4) as u8, &m.addr, None);
            s.write_all(SLOW_LOGIN).expect("send the head and one byte");
            s
        })
        .collect();
    for _ in 0..3 {
        assert_served(&m.addr, &format!("{n} slow bodies"));
    }
    assert!(
        conns.iter().all(still_held),
        "the probes ran while every slow body was still held"
    );
    let until = Instant::now() + Duration::from_secs(4 + 4);
    for (i, s) in conns.iter_mut().enumerate() {
        assert_eq!(outcome(s, until), (Some(408), true), "slow body {i}");
    }
    assert_served(&m.addr, "after the attack");
    assert_eq!(snapshot(&m.data_dir), before, "the data dir changed");
}

/// attack: 8 connections declare a 60,000-byte login body and send one byte of it => /healthz answers within 1 s throughout, and each slow connection gets 408 and is closed when its body deadline passes.
#[test]
fn eight_slow_bodies_get_408_and_the_service_answers() {
    slow_bodies("slow-body-8", 8);
}

/// attack: 200 connections from four addresses declare a 60,000-byte login body and send one byte of it => /healthz answers within 1 s throughout, and each slow connection gets 408 and is closed when its body deadline passes.
#[test]
fn two_hundred_slow_bodies_get_408_and_the_service_answers() {
    slow_bodies("slow-body-200", 200);
}

/// attack: 50 connections send a request head one byte every 200 ms and never finish it => /healthz answers within 1 s throughout, and each trickling connection gets 408 and is closed when its 2 s head deadline passes.
#[test]
fn slow_header_trickles_get_408_at_the_head_deadline() {
    let m = Master::start_with("slow-head", &["--request-timeout", "2"], &[]);
    let before = snapshot(&m.data_dir);
    struct Trickle {
        s: TcpStream,
        opened: Instant,
        answer: Option<u16>,
        ended: Option<Instant>,
    }
    let mut conns: Vec<Trickle> = (0..50)
        .map(|i| {
            let mut s = connect_from(20 + (i % 4) as u8, &m.addr, None);
            s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Trickle: ")
                .expect("head start");
            s.set_nonblocking(true).expect("nonblocking");
            Trickle {
                s,
                opened: Instant::now(),
                answer: None,
                ended: None,
            }
        })
        .collect();
    let mut probed = false;
    // 30 rounds of 200 ms: 6 s, three times the head deadline.
    for round in 0..30 {
        for c in conns.iter_mut().filter(|c| c.ended.is_none()) {
            let mut buf = [0u8; 512];
            match c.s.read(&mut buf) {
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    // Still waiting for the head: one more byte.
                    let _ = c.s.write(b"a");
                }
                Ok(n) if n >= 12 => {
                    c.answer = std::str::from_utf8(&buf[9..12])
                        .ok()
                        .and_then(|s| s.parse().ok());
                    c.ended = Some(Instant::now());
                }
                _ => c.ended = Some(Instant::now()),
            }
        }
        if round == 3 {
            assert_served(&m.addr, "50 header trickles");
            assert!(
                conns.iter().all(|c| c.ended.is_none()),
                "the probe ran while every trickle was still held"
            );
            probed = true;
        }
        if conns.iter().all(|c| c.ended.is_some()) {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(probed);
    for (i, c) in conns.iter().enumerate() {
        let ended = c
            .ended
            .unwrap_or_else(|| panic!("trickle {i} still open after 6 s"));
        assert_eq!(c.answer, Some(408), "trickle {i}");
        let held = ended - c.opened;
        assert!(
            held < Duration::from_millis(3500),
            "trickle {i} held for {held:?} with a 2 s head deadline"
        );
    }
    assert_served(&m.addr, "after the attack");
    assert_eq!(snapshot(&m.data_dir), before, "the data dir changed");
}

/// attack: one client address opens more connections than its share (4 here) and holds them with slow bodies => its connection over the share gets a JSON 503 within 1 s, and clients from other addresses are served within 1 s.
#[test]
fn a_client_over_its_share_gets_503_and_others_are_served() {
    let m = Master::start_with(
        "per-ip",
        &["--max-connections-per-ip", "4", "--request-timeout", "10"],
        &[],
    );
    let before = snapshot(&m.data_dir);
    let held: Vec<TcpStream> = (0..4)
        .map(|_| {
            let mut s = connect_from(2, &m.addr, None);
            s.write_all(SLOW_LOGIN).expect("send");
            s
        })
        .collect();
    let over = healthz(&m.addr, 2);
    assert_eq!(over, Ok(503), "the fifth connection from 127.0.0.2");
    let req = format!(
        "GET /healthz HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
        m.addr
    );
    let (_, body) = exchange(&m.addr, 2, &req, PROBE_LIMIT).expect("503 in time");
    let err: serde_json::Value = serde_json::from_slice(&body).expect("a JSON body");
    assert!(err["error"].is_string(), "{err}");
    assert_eq!(healthz(&m.addr, 3), Ok(200), "127.0.0.3 is another client");
    assert_served(&m.addr, "one address at its share");
    assert!(held.iter().all(still_held), "the four stay admitted");
    assert_eq!(snapshot(&m.data_dir), before, "the data dir changed");
}

/// attack: slow-body connections take every connection slot of the master (6 here) => new clients get a 503 within 1 s, never a hang, and the service answers again once the slow connections time out.
#[test]
fn a_flood_over_the_global_cap_gets_503_until_the_slots_free() {
    let m = Master::start_with(
        "global-cap",
        &["--max-connections", "6", "--request-timeout", "3"],
        &[],
    );
    let before = snapshot(&m.data_dir);
    let mut held: Vec<TcpStream> = (0..6)
        .map(|i| {
            let mut s = connect_from(30 + i, &m.addr, None);
            s.write_all(SLOW_LOGIN).expect("send");
            s
        })
        .collect();
    assert_eq!(healthz(&m.addr, 1), Ok(503), "every slot is taken");
    assert!(held.iter().all(still_held));
    let until = Instant::now() + Duration::from_secs(3 + 4);
    for (i, s) in held.iter_mut().enumerate() {
        assert_eq!(outcome(s, until), (Some(408), true), "slow body {i}");
    }
    // A slot is given back as its thread ends, just after the close the client saw.
    let back = (0..20).any(|_| {
        healthz(&m.addr, 1) == Ok(200) || {
            std::thread::sleep(Duration::from_millis(100));
            false
        }
    });
    assert!(
        back,
        "the service answers once the slow connections timed out"
    );
    assert_eq!(snapshot(&m.data_dir), before, "the data dir changed");
}

/// attack: 8 clients request a 16 MiB media download and never read the reply => /healthz answers within 1 s throughout, and the master gives up on each download once the socket stops taking bytes for its write timeout, which frees the client's connection share.
#[test]
fn clients_that_never_read_a_download_are_cut_off() {
    let m = Master::start_with(
        "never-read",
        &["--request-timeout", "2", "--max-connections-per-ip", "8"],
        &[],
    );
    let token = m.admin_token();
    // A 16 MiB WAV: more than a blocked client's window and the master's send buffer
    // (net.ipv4.tcp_wmem allows 4 MiB).
    let mut wav = wav_bytes();
    let samples = 8 << 20;
    wav[4..8].copy_from_slice(&(36 + 2 * samples as u32).to_le_bytes());
    wav[40..44].copy_from_slice(&(2 * samples as u32).to_le_bytes());
    wav.truncate(44);
    wav.resize(44 + 2 * samples, 0);
    let size = wav.len();
    let up = m.req("POST", "/api/v2/media/wav/big", Some(&token), Some(&wav));
    assert_eq!(up.status, 201, "{}", up.text());
    let before = snapshot(&m.data_dir);
    let request = format!(
        "GET /api/v2/media/wav/big HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\r\n"
    );
    let mut conns: Vec<TcpStream> = (0..8)
        .map(|_| {
            let mut s = connect_from(2, &m.addr, Some(4096));
            s.write_all(request.as_bytes()).expect("send");
            s
        })
        .collect();
    assert_eq!(
        healthz(&m.addr, 2),
        Ok(503),
        "the 8 downloads hold 127.0.0.2's share"
    );
    assert_served(&m.addr, "8 downloads nobody reads");
    // The kernel grows the master's send buffer for a while (each growth is progress),
    // then the writes stall and time out: the threads end and the share frees.
    let started = Instant::now();
    let mut freed = false;
    while !freed && started.elapsed() < Duration::from_secs(40) {
        assert_served(&m.addr, "8 downloads nobody reads, while they last");
        freed = healthz(&m.addr, 2) == Ok(200);
        if !freed {
            std::thread::sleep(Duration::from_millis(500));
        }
    }
    assert!(freed, "the master still holds the downloads after 40 s");
    for (i, s) in conns.iter_mut().enumerate() {
        let mut got = 0usize;
        let mut buf = vec![0u8; 1 << 16];
        s.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        let ended = loop {
            match s.read(&mut buf) {
                Ok(0) => break true,
                Ok(n) => got += n,
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    break false;
                }
                Err(_) => break true,
            }
        };
        assert!(
            ended,
            "download {i}: the master must have closed it (got {got})"
        );
        assert!(
            got < size,
            "download {i}: got all {got} bytes; the master should have given up"
        );
    }
    assert_served(&m.addr, "after the attack");
    assert_eq!(snapshot(&m.data_dir), before, "the data dir changed");
}

/// attack: a request declares a 10 TB body => 413 within 1 s without reading or allocating the body, the connection is closed, and the service still answers.
#[test]
fn a_declared_ten_terabyte_body_is_refused_at_once() {
    let m = Master::start("ten-tb");
    let token = m.admin_token();
    let before = snapshot(&m.data_dir);
    let mut s = connect_from(2, &m.addr, None);
    let started = Instant::now();
    s.write_all(
        format!(
            "POST /api/v2/media/wav/huge HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nContent-Length: 10000000000000\r\n\r\nRIFF"
        )
        .as_bytes(),
    )
    .expect("send");
    let mut head = [0u8; 12];
    s.set_read_timeout(Some(PROBE_LIMIT)).expect("timeout");
    s.read_exact(&mut head).expect("a reply within 1 s");
    assert_eq!(&head[9..12], b"413", "{:?}", String::from_utf8_lossy(&head));
    assert!(started.elapsed() < PROBE_LIMIT);
    // The master lingers up to 2 s for bytes in flight, then closes.
    let (_, closed) = outcome(&mut s, Instant::now() + Duration::from_secs(4));
    assert!(closed, "the connection is closed after the refusal");
    assert_served(&m.addr, "after a 10 TB declaration");
    assert_eq!(snapshot(&m.data_dir), before, "the data dir changed");
}

/// A TCP connection to 127.0.0.1:`port` once something listens there (at most 20 s).
fn connect_when_listening(port: u16) -> TcpStream {
    let started = Instant::now();
    loop {
        match TcpStream::connect(("127.0.0.1", port)) {
            Ok(s) => return s,
            Err(_) if started.elapsed() < Duration::from_secs(20) => {
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(e) => panic!("nothing listens on TCP {port} after 20 s: {e}"),
        }
    }
}

/// `gossipper -sn uas -t <mode>` on 127.0.0.1:`port` with `-stream_idle_timeout idle`,
/// run in `dir`, its summary in `dir/summary.json`. With `stat`, it also writes SIPp's
/// statistics CSV there (`peer_args`).
fn sip_uas(dir: &Path, mode: &str, port: u16, idle: &str, stat: Option<&Path>) -> Command {
    let mut cmd = Command::new(gossipper_bin());
    cmd.current_dir(dir)
        .args(["-sn", "uas", "-t", mode, "-i", "127.0.0.1"])
        .args(["-p", &port.to_string(), "-stream_idle_timeout", idle])
        .arg("-summary_json")
        .arg(dir.join("summary.json"));
    match stat {
        Some(stat) => {
            peer_args(&mut cmd, stat);
        }
        None => {
            cmd.args(["-nostdin", "-timeout", "60s", "-ci", "127.0.0.1", "-cp"])
                .arg(free_port().to_string());
        }
    }
    cmd
}

/// The transport block of `dir/summary.json` (written when the uas exits).
fn transport_summary(dir: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(dir.join("summary.json")).expect("summary.json");
    let v: serde_json::Value = serde_json::from_str(&text).expect("summary parses");
    v["transport"].clone()
}

/// Waits (at most until `until`) for the peer to close `c`; asserts it did, between
/// `min` and `max` after `since`.
fn assert_closed_within(
    name: &str,
    c: &mut TcpStream,
    since: Instant,
    min: Duration,
    max: Duration,
) {
    let (_, closed) = outcome(c, since + max + Duration::from_secs(2));
    let held = since.elapsed();
    assert!(closed, "{name}: still open after {held:?}");
    assert!(
        held >= min && held < max,
        "{name}: closed after {held:?}, not within [{min:?}, {max:?})"
    );
}

/// attack: SIP peers open TCP connections to a uas and send nothing, or half a message, then wait => each connection is closed once it has sent no whole message for the idle timeout (3 s here) and counted in stream_idle_closed, while a real SIPp client's calls over TCP succeed meanwhile.
#[test]
fn sip_tcp_connections_sending_nothing_or_half_a_message_are_closed_when_idle() {
    let dir = scratch_dir("sip-idle-uas");
    let sipp_dir = scratch_dir("sip-idle-sipp");
    let port = free_port();
    let uas = Proc::spawn("gossipper uas", &mut sip_uas(&dir, "t1", port, "3s", None));
    // The first connection that gets in is the silent attacker.
    let mut silent = connect_when_listening(port);
    let silent_at = Instant::now();
    let mut half = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    half.write_all(b"INVITE sip:service@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:5999;branch=z9hG4bK-half\r\nMax-Forwards: 70\r\n")
        .expect("half a message");
    let half_at = Instant::now();
    let before = snapshot(&dir);

    // Meanwhile a real client's calls go through.
    let stat = sipp_dir.join("uac.csv");
    let mut sipp = Command::new(sipp_bin());
    sipp.current_dir(&sipp_dir)
        .arg(format!("127.0.0.1:{port}"))
        .args(["-sn", "uac", "-t", "t1", "-i", "127.0.0.1"])
        .args(["-p", &free_port().to_string(), "-m", "5", "-r", "10"]);
    peer_args(&mut sipp, &stat);
    let (status, out, err) = Proc::spawn("sipp uac", &mut sipp).wait(Duration::from_secs(60));
    assert_eq!(status.code(), Some(0), "SIPp uac:\n{out}\n{err}");
    let csv = StatCsv::read(&stat);
    assert_eq!(csv.last("SuccessfulCall(C)"), 5);
    assert!(
        still_held(&silent) && still_held(&half),
        "the calls ran while both attackers were still connected (idle timeout 3 s)"
    );

    for (name, c, since) in [
        ("silent", &mut silent, silent_at),
        ("half", &mut half, half_at),
    ] {
        let (min, max) = (Duration::from_millis(2900), Duration::from_secs(6));
        assert_closed_within(name, c, since, min, max);
    }
    assert_eq!(
        snapshot(&dir),
        before,
        "the uas wrote something during the attack"
    );
    let (status, out, err) = uas.quit(Duration::from_secs(30));
    assert!(status.success(), "uas exit {status:?}\n{out}\n{err}");
    let t = transport_summary(&dir);
    assert_eq!(t["stream_idle_closed"], 2, "{t}");
    assert_eq!(
        t["closed_bad_input"], 0,
        "half a message is idle, not bad input: {t}"
    );
    assert_eq!(t["connections_accepted"], 3, "{t}");
}

/// attack: SIP-over-WebSocket peers connect to a uas and either never finish the upgrade or finish it and then send nothing => each connection is closed (the upgrade by the 10 s handshake timeout, the silent session after the 2 s idle timeout, counted in stream_idle_closed).
#[test]
fn sip_websocket_connections_that_stay_silent_are_closed() {
    let dir = scratch_dir("sip-idle-ws");
    let port = free_port();
    let uas = Proc::spawn(
        "gossipper uas (ws)",
        &mut sip_uas(&dir, "w1", port, "2s", None),
    );
    // Never finishes its upgrade request.
    let mut stalled = connect_when_listening(port);
    stalled
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n")
        .expect("half an upgrade");
    let stalled_at = Instant::now();
    let before = snapshot(&dir);
    // Finishes the upgrade (the service answers while the stalled one holds on), then
    // says nothing.
    let mut ws = sip_websocket(port);
    let silent_at = Instant::now();
    ws.get_mut()
        .set_read_timeout(Some(Duration::from_secs(8)))
        .expect("timeout");
    let ended = loop {
        match ws.read() {
            Ok(tungstenite::Message::Close(_)) | Err(_) => break silent_at.elapsed(),
            Ok(_) => {}
        }
    };
    assert!(
        ended >= Duration::from_millis(1900) && ended < Duration::from_secs(6),
        "silent session closed after {ended:?} with a 2 s idle timeout"
    );
    let (_, closed) = outcome(&mut stalled, stalled_at + Duration::from_secs(14));
    assert!(
        closed,
        "the stalled upgrade is closed by the handshake timeout"
    );
    assert_eq!(
        snapshot(&dir),
        before,
        "the uas wrote something during the attack"
    );
    let (status, out, err) = uas.quit(Duration::from_secs(30));
    // 99: SIPp's "normal exit without calls processed".
    assert_eq!(status.code(), Some(99), "uas exit\n{out}\n{err}");
    let t = transport_summary(&dir);
    assert_eq!(t["stream_idle_closed"], 1, "{t}");
    assert_eq!(t["handshake_failures"], 1, "the stalled upgrade: {t}");
}

/// A SIP-over-WebSocket session with the uas on `port` (subprotocol `sip`), its reads
/// bounded by 8 s.
fn sip_websocket(port: u16) -> tungstenite::WebSocket<TcpStream> {
    use tungstenite::client::IntoClientRequest;
    let tcp = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    let mut req = format!("ws://127.0.0.1:{port}/")
        .into_client_request()
        .expect("request");
    req.headers_mut()
        .insert("Sec-WebSocket-Protocol", "sip".parse().expect("header"));
    let (ws, _) = tungstenite::client::client(req, tcp).expect("WebSocket upgrade");
    ws.get_ref()
        .set_read_timeout(Some(Duration::from_secs(8)))
        .expect("timeout");
    ws
}

/// attack: a peer opens a SIP TCP connection to a uas and stays silent while a real SIPp client (-t t1) holds its call 5 s without a message, longer than the 2 s idle timeout => the silent connection is closed after 2-4 s and counted in stream_idle_closed, and the held call completes with no failed call on either side: a connection that carries a live call is not idle.
#[test]
fn a_sip_tcp_call_held_in_silence_past_the_idle_timeout_completes_while_a_silent_peer_is_closed() {
    let dir = scratch_dir("sip-held-uas");
    let sipp_dir = scratch_dir("sip-held-sipp");
    let port = free_port();
    let uas_stat = sipp_dir.join("uas.csv");
    let mut cmd = sip_uas(&dir, "t1", port, "2", Some(&uas_stat));
    let uas = Proc::spawn("gossipper uas", cmd.args(["-m", "1"]));
    let mut silent = connect_when_listening(port);
    let silent_at = Instant::now();
    let before = snapshot(&dir);

    let uac_stat = sipp_dir.join("uac.csv");
    let mut sipp = Command::new(sipp_bin());
    sipp.current_dir(&sipp_dir)
        .arg(format!("127.0.0.1:{port}"))
        .args(["-sn", "uac", "-t", "t1", "-i", "127.0.0.1"])
        .args(["-p", &free_port().to_string(), "-m", "1", "-d", "5000"]);
    peer_args(&mut sipp, &uac_stat);
    let sipp_at = Instant::now();
    let sipp = Proc::spawn("sipp uac -d 5000", &mut sipp);

    let (min, max) = (Duration::from_millis(1900), Duration::from_secs(4));
    assert_closed_within("silent", &mut silent, silent_at, min, max);
    let (status, out, err) = sipp.wait(Duration::from_secs(60));
    let held = sipp_at.elapsed();
    assert_eq!(
        status.code(),
        Some(0),
        "SIPp uac:\n{}\n{}",
        tail(&out),
        tail(&err)
    );
    assert!(
        held >= Duration::from_secs(5),
        "the call was held {held:?}, not past the idle timeout"
    );
    let (status, out, err) = uas.wait(Duration::from_secs(30));
    assert_eq!(
        status.code(),
        Some(0),
        "uas:\n{}\n{}",
        tail(&out),
        tail(&err)
    );
    for (side, stat) in [("uac", &uac_stat), ("uas", &uas_stat)] {
        let csv = StatCsv::read(stat);
        assert_eq!(csv.last("SuccessfulCall(C)"), 1, "{side}");
        assert_eq!(csv.last("FailedCall(C)"), 0, "{side}");
    }
    let t = transport_summary(&dir);
    assert_eq!(t["stream_idle_closed"], 1, "only the silent peer: {t}");
    assert_eq!(t["connections_accepted"], 2, "{t}");
    assert_eq!(t["calls_failed_closed"], 0, "{t}");
    // summary.json is written at exit; nothing else during the run.
    let mut after = snapshot(&dir);
    after.remove("summary.json");
    assert_eq!(after, before, "the uas wrote something during the attack");
}

/// An INVITE from `local` to the uas on `port` (Call-ID `id`), its Via naming `transport`.
fn invite(id: &str, transport: &str, local: SocketAddr, port: u16) -> String {
    format!(
        "INVITE sip:service@127.0.0.1:{port} SIP/2.0\r\n\
         Via: SIP/2.0/{transport} {local};branch=z9hG4bK-{id}\r\n\
         From: <sip:a@{local}>;tag=a-{id}\r\n\
         To: <sip:service@127.0.0.1:{port}>\r\n\
         Call-ID: {id}\r\n\
         CSeq: 1 INVITE\r\n\
         Contact: <sip:a@{local};transport={transport}>\r\n\
         Max-Forwards: 70\r\n\
         Content-Length: 0\r\n\r\n"
    )
}

/// The end of a half-message attack: the uas counted one idle close and failed the
/// call of the attacker as FailedTcpClosed.
fn assert_half_message_attack_counted(
    uas: Proc,
    dir: &Path,
    before: &BTreeMap<String, (u64, SystemTime)>,
) {
    assert_eq!(
        &snapshot(dir),
        before,
        "the uas wrote something during the attack"
    );
    let (status, out, err) = uas.quit(Duration::from_secs(30));
    // 1: SIPp's "at least one call failed".
    assert_eq!(status.code(), Some(1), "uas exit\n{out}\n{err}");
    let t = transport_summary(dir);
    assert_eq!(t["stream_idle_closed"], 1, "{t}");
    assert_eq!(t["closed_bad_input"], 0, "{t}");
    assert_eq!(
        t["calls_failed_closed"], 1,
        "its call fails as the connection goes: {t}"
    );
}

/// attack: a SIP peer starts a call over TCP with a whole INVITE, then sends half of its next message and stops => the connection is closed 2-4 s later (idle timeout 2 s) although its call is live: a half-sent message is not a dialog; counted in stream_idle_closed, the call fails as FailedTcpClosed.
#[test]
fn a_sip_tcp_connection_with_a_live_call_and_half_a_message_is_closed() {
    let dir = scratch_dir("sip-half-call-tcp");
    let port = free_port();
    let uas = Proc::spawn("gossipper uas", &mut sip_uas(&dir, "t1", port, "2", None));
    let mut c = connect_when_listening(port);
    let local = c.local_addr().expect("local addr");
    let before = snapshot(&dir);
    c.write_all(invite("held", "TCP", local, port).as_bytes())
        .expect("INVITE");
    // The call is up once the uas answers (its 200 waits for an ACK that never comes).
    c.set_read_timeout(Some(Duration::from_secs(8)))
        .expect("timeout");
    let mut got = String::new();
    let mut buf = [0u8; 4096];
    for _ in 0..100 {
        if got.contains("SIP/2.0 200") {
            break;
        }
        let k = c.read(&mut buf).expect("the uas answers");
        assert!(k > 0, "closed before answering:\n{got}");
        got.push_str(&String::from_utf8_lossy(&buf[..k]));
    }
    assert!(got.contains("SIP/2.0 200"), "{got}");
    c.write_all(b"ACK sip:service@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP ")
        .expect("half an ACK");
    let half_at = Instant::now();
    let (min, max) = (Duration::from_millis(1900), Duration::from_secs(4));
    assert_closed_within("half", &mut c, half_at, min, max);
    assert_half_message_attack_counted(uas, &dir, &before);
}

/// attack: a SIP-over-WebSocket peer starts a call with a whole INVITE, then sends half of a WebSocket frame and stops => the connection is closed 2-4 s later (idle timeout 2 s) although its call is live; counted in stream_idle_closed, the call fails as FailedTcpClosed.
#[test]
fn a_sip_websocket_with_a_live_call_and_half_a_frame_is_closed() {
    let dir = scratch_dir("sip-half-call-ws");
    let port = free_port();
    let uas = Proc::spawn(
        "gossipper uas (ws)",
        &mut sip_uas(&dir, "w1", port, "2", None),
    );
    drop(connect_when_listening(port));
    let mut ws = sip_websocket(port);
    let local = ws.get_ref().local_addr().expect("local addr");
    let before = snapshot(&dir);
    ws.send(tungstenite::Message::text(invite(
        "held", "WS", local, port,
    )))
    .expect("INVITE");
    let mut answered = false;
    for _ in 0..10 {
        let m = ws.read().expect("the uas answers");
        if m.to_text().is_ok_and(|t| t.starts_with("SIP/2.0 200")) {
            answered = true;
            break;
        }
    }
    assert!(answered, "the uas answered 200");
    // A masked text frame announcing 256 bytes, with 10 of them.
    let mut half = vec![0x81, 0xFE, 0x01, 0x00, 1, 2, 3, 4];
    half.extend_from_slice(b"ACK sip:se");
    ws.get_mut().write_all(&half).expect("half a frame");
    let half_at = Instant::now();
    let (min, max) = (Duration::from_millis(1900), Duration::from_secs(4));
    assert_closed_within("half", ws.get_mut(), half_at, min, max);
    assert_half_message_attack_counted(uas, &dir, &before);
}
