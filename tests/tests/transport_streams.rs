//! Stream transports end to end, gossipper against gossipper in one process (so every
//! counter is visible): each of t1 tn l1 ln w1 wn ws1 wsn completes its calls, per-call
//! modes open one connection per call (capped by -max_socket), and bad input on one
//! connection (garbage, an oversized message, a half-sent message, a failed TLS
//! handshake) closes only that connection, is counted, and leaves the calls alone. A
//! connection that closes under calls still in progress fails them as FailedTcpClosed
//! (a server's calls too), but never calls only waiting out their final `<timewait>`.
//! A call held in silence longer than the server's idle timeout keeps its connection.

mod transport_common;

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::process::Command;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use gossipper_e2e::{Proc, free_port, gossipper_bin};
use transport_common::{Outcome, finish, spec, start, start_watched};

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// Our UAS over `server_mode`, our UAC over `client_mode`, `calls` calls; both sides
/// must succeed every call.
fn pair(
    server_mode: &str,
    client_mode: &str,
    calls: u64,
    tune: impl FnOnce(&mut gossipper_engine::config::JobSpec),
) -> (Outcome, Outcome) {
    let port = free_port();
    let mut s = spec("uas", server_mode, port, None);
    s.max_calls = Some(calls);
    let server = start(s);
    let mut c = spec("uac", client_mode, 0, Some(addr(port)));
    c.max_calls = Some(calls);
    c.rate = 50.0;
    tune(&mut c);
    let client = finish(start(c));
    let server = finish(server);
    assert_eq!(
        client.counters.successful_calls, calls,
        "client over {client_mode}: {client:?}"
    );
    assert_eq!(
        client.counters.failed_calls, 0,
        "client over {client_mode}: {client:?}"
    );
    assert_eq!(
        server.counters.successful_calls, calls,
        "server over {server_mode}: {server:?}"
    );
    assert_eq!(
        server.counters.failed_calls, 0,
        "server over {server_mode}: {server:?}"
    );
    (server, client)
}

#[test]
fn t1_carries_every_call_on_one_connection() {
    let (server, client) = pair("t1", "t1", 20, |_| {});
    assert_eq!(client.counters.connections_opened, 1);
    assert_eq!(server.counters.connections_accepted, 1);
}

#[test]
fn tn_opens_one_connection_per_call() {
    let (server, client) = pair("t1", "tn", 12, |_| {});
    assert_eq!(client.counters.connections_opened, 12);
    assert_eq!(server.counters.connections_accepted, 12);
}

#[test]
fn max_socket_makes_overlapping_calls_share_connections() {
    // Every call pauses 1 s, so all 10 overlap; only 2 connections may be open.
    let (_, client) = pair("t1", "tn", 10, |c| {
        c.max_sockets = Some(2);
        c.default_pause_ms = 1000;
        c.rate = 100.0;
    });
    assert_eq!(client.counters.connections_opened, 2);
}

#[test]
fn l1_completes_calls_over_tls_and_the_server_says_its_certificate_is_generated() {
    let (server, client) = pair("l1", "l1", 10, |_| {});
    assert_eq!(client.counters.connections_opened, 1);
    assert!(
        server.warnings.iter().any(|w| w.contains("self-signed")),
        "{:?}",
        server.warnings
    );
}

#[test]
fn ln_opens_one_tls_connection_per_call() {
    let (_, client) = pair("l1", "ln", 8, |_| {});
    assert_eq!(client.counters.connections_opened, 8);
}

#[test]
fn w1_completes_calls_over_websocket() {
    let (server, client) = pair("w1", "w1", 10, |c| c.ws_path = Some("/sip".into()));
    assert_eq!(client.counters.connections_opened, 1);
    assert_eq!(server.counters.connections_accepted, 1);
}

#[test]
fn wn_opens_one_websocket_per_call() {
    let (_, client) = pair("w1", "wn", 6, |_| {});
    assert_eq!(client.counters.connections_opened, 6);
}

#[test]
fn ws1_completes_calls_over_secure_websocket() {
    let (_, client) = pair("ws1", "ws1", 10, |_| {});
    assert_eq!(client.counters.connections_opened, 1);
}

#[test]
fn wsn_opens_one_secure_websocket_per_call() {
    let (_, client) = pair("ws1", "wsn", 6, |_| {});
    assert_eq!(client.counters.connections_opened, 6);
}

/// One call held 3 s in silence (`-d 3000`) by our UAC over `mode` against our UAS with
/// a 1 s idle timeout: the connection carries a live call, so it is not idle, and the
/// call succeeds on both sides.
fn held_call_outlives_the_idle_timeout(mode: &str) {
    let port = free_port();
    let mut s = spec("uas", mode, port, None);
    s.max_calls = Some(1);
    s.stream_idle_timeout_ms = Some(1000);
    let server = start(s);
    let mut c = spec("uac", mode, 0, Some(addr(port)));
    c.max_calls = Some(1);
    c.default_pause_ms = 3000;
    let started = Instant::now();
    let client = finish(start(c));
    let held = started.elapsed();
    assert!(
        held >= Duration::from_secs(3),
        "over {mode} the client ended after {held:?}, before its 3 s pause did"
    );
    let server = finish(server);
    for (side, out) in [("client", &client), ("server", &server)] {
        let n = &out.counters;
        assert_eq!(n.successful_calls, 1, "{side} over {mode}: {out:?}");
        assert_eq!(n.failed_calls, 0, "{side} over {mode}: {out:?}");
        assert_eq!(n.failed_tcp_closed, 0, "{side} over {mode}: {out:?}");
    }
    // Once the server's call only waits out its timewait, a connection the client
    // leaves open may be closed for idleness: that is the rule, and fails nothing.
    assert!(server.counters.stream_idle_closed <= 1, "{server:?}");
}

#[test]
fn a_call_held_past_the_idle_timeout_keeps_its_tls_connection() {
    held_call_outlives_the_idle_timeout("l1");
}

#[test]
fn a_call_held_past_the_idle_timeout_keeps_its_websocket() {
    held_call_outlives_the_idle_timeout("w1");
}

#[test]
fn a_call_held_past_the_idle_timeout_keeps_its_secure_websocket() {
    held_call_outlives_the_idle_timeout("ws1");
}

/// Connects to `port`, writes `bytes` (then half-closes when asked) and returns true
/// when the server closed the connection within 5 s.
fn closed_after(port: u16, bytes: &[u8], half_close: bool) -> (bool, SocketAddr) {
    let mut s = TcpStream::connect(addr(port)).expect("connect");
    let local = s.local_addr().expect("local addr");
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let _ = s.write_all(bytes);
    if half_close {
        let _ = s.shutdown(Shutdown::Write);
    }
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return (true, local),
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return (true, local),
            Err(_) => return (false, local),
        }
    }
}

#[test]
fn garbage_on_a_connection_closes_only_that_connection() {
    let port = free_port();
    let mut s = spec("uas", "t1", port, None);
    s.max_calls = Some(30);
    let server = start(s);
    let mut c = spec("uac", "t1", 0, Some(addr(port)));
    c.max_calls = Some(30);
    c.rate = 30.0;
    let client = start(c);

    let (closed, _) = closed_after(
        port,
        b"\x16\x03\x01\x02\x00 this is not SIP at all\r\n\r\n",
        false,
    );
    assert!(closed, "garbage must close its connection");
    let oversized = b"MESSAGE sip:a@127.0.0.1 SIP/2.0\r\nCall-ID: big\r\nCSeq: 1 MESSAGE\r\nContent-Length: 9999999\r\n\r\n";
    let (closed, _) = closed_after(port, oversized, false);
    assert!(closed, "an oversized message must close its connection");
    let (closed, _) = closed_after(
        port,
        b"OPTIONS sip:a@127.0.0.1 SIP/2.0\r\nCall-ID: half\r\nCSe",
        true,
    );
    assert!(
        closed,
        "a half-sent message and a half-close must close the connection"
    );

    let client = finish(client);
    let server = finish(server);
    assert_eq!(client.counters.successful_calls, 30, "{client:?}");
    assert_eq!(client.counters.failed_calls, 0, "{client:?}");
    assert_eq!(server.counters.successful_calls, 30, "{server:?}");
    assert_eq!(server.counters.failed_calls, 0, "{server:?}");
    assert_eq!(
        server.counters.connections_closed_bad_input, 2,
        "garbage and the half-sent message"
    );
    assert_eq!(server.counters.stream_too_large, 1);
    assert_eq!(server.counters.connections_accepted, 4);
}

#[test]
fn a_failed_tls_handshake_is_reported_with_the_peer_address() {
    let port = free_port();
    let mut s = spec("uas", "l1", port, None);
    s.global_timeout_ms = Some(1500);
    let server = start(s);
    let (closed, local) = closed_after(port, b"this is not a TLS client hello\r\n\r\n", false);
    assert!(closed, "a failed handshake must close the connection");
    let out = finish(server);
    assert_eq!(out.counters.tls_handshake_failures, 1, "{out:?}");
    let peer = local.to_string();
    assert!(
        out.warnings.iter().any(|w| w.contains(&peer)),
        "no warning names {peer}: {:?}",
        out.warnings
    );
}

#[test]
fn a_websocket_upgrade_without_the_sip_subprotocol_is_refused() {
    let port = free_port();
    let mut s = spec("uas", "w1", port, None);
    s.global_timeout_ms = Some(1500);
    let server = start(s);
    let upgrade =
        b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    let mut sock = TcpStream::connect(addr(port)).expect("connect");
    sock.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    sock.write_all(upgrade).expect("write");
    let mut answer = Vec::new();
    let _ = sock.read_to_end(&mut answer);
    assert!(
        answer.starts_with(b"HTTP/1.1 400"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
    let out = finish(server);
    assert_eq!(out.counters.tls_handshake_failures, 1, "{out:?}");
}

#[test]
fn a_t1_client_with_nobody_listening_does_not_start() {
    let port = free_port();
    let c = spec("uac", "t1", 0, Some(addr(port)));
    let result = gossipper_engine::runner::prepare(&c);
    assert!(
        matches!(result, Err(gossipper_engine::runner::RunError::Bind(_))),
        "a refused connection must stop the run before it starts"
    );
}

#[test]
fn tn_calls_whose_connection_is_refused_fail_as_tcp_connect() {
    let port = free_port();
    let mut c = spec("uac", "tn", 0, Some(addr(port)));
    c.max_calls = Some(3);
    let out = finish(start(c));
    assert_eq!(out.counters.failed_calls, 3, "{out:?}");
    assert_eq!(out.counters.failed_tcp_connect, 3, "{out:?}");
    assert_eq!(out.counters.connect_failures, 3, "{out:?}");
}

#[test]
fn a_shared_connection_closed_by_the_peer_fails_its_calls_as_tcp_closed() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("listen");
    let port = listener.local_addr().expect("addr").port();
    let peer = std::thread::spawn(move || {
        // Take the INVITE, then hang up without answering.
        let (mut s, _) = listener.accept().expect("accept");
        let mut buf = [0u8; 4096];
        let _ = s.read(&mut buf);
    });
    let mut c = spec("uac", "t1", 0, Some(addr(port)));
    c.max_calls = Some(1);
    let out = finish(start(c));
    peer.join().expect("peer");
    assert_eq!(out.counters.failed_calls, 1, "{out:?}");
    assert_eq!(out.counters.failed_tcp_closed, 1, "{out:?}");
}

#[test]
fn a_crlf_keepalive_ping_gets_a_crlf_pong_and_keeps_the_connection() {
    let port = free_port();
    let mut s = spec("uas", "t1", port, None);
    s.global_timeout_ms = Some(1500);
    let server = start(s);
    let mut sock = TcpStream::connect(addr(port)).expect("connect");
    sock.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    for _ in 0..2 {
        sock.write_all(b"\r\n\r\n").expect("ping");
        let mut pong = [0u8; 2];
        sock.read_exact(&mut pong).expect("pong");
        assert_eq!(&pong, b"\r\n");
    }
    drop(sock);
    let out = finish(server);
    assert_eq!(out.counters.connections_closed_bad_input, 0, "{out:?}");
}

/// An INVITE (CSeq 1) or an in-dialog `method` (CSeq 1 ACK, 2 BYE) of call `id`, as a
/// TCP client at `local` sends it to our UAS on `port`.
fn request(method: &str, id: &str, local: SocketAddr, port: u16) -> Vec<u8> {
    let cseq = if method == "BYE" { 2 } else { 1 };
    format!(
        "{method} sip:service@127.0.0.1:{port} SIP/2.0\r\n\
Via: SIP/2.0/TCP {local};branch=z9hG4bK-{id}-{method}\r\n\
From: sipp <sip:sipp@{local}>;tag={id}\r\n\
To: service <sip:service@127.0.0.1:{port}>\r\n\
Call-ID: {id}\r\n\
CSeq: {cseq} {method}\r\n\
Contact: <sip:sipp@{local};transport=tcp>\r\n\
Max-Forwards: 70\r\n\
Content-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

/// Reads from `s` into `got` until `needle` occurs `n` times (5 s at most).
fn read_until(s: &mut TcpStream, got: &mut String, needle: &str, n: usize) {
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let mut buf = [0u8; 4096];
    while got.matches(needle).count() < n {
        let k = s.read(&mut buf).expect("read from our UAS");
        assert!(k > 0, "our UAS closed the connection; got so far:\n{got}");
        got.push_str(&String::from_utf8_lossy(&buf[..k]));
    }
}

#[test]
fn a_server_fails_the_calls_of_a_closed_connection_but_not_those_in_timewait() {
    let port = free_port();
    let mut s = spec("uas", "t1", port, None);
    s.max_calls = Some(2);
    let started = Instant::now();
    let server = start(s);
    let mut c = TcpStream::connect(addr(port)).expect("connect");
    let local = c.local_addr().expect("local addr");
    let mut got = String::new();
    // Call "done" completes: it is then only in the UAS's 4 s <timewait>.
    c.write_all(&request("INVITE", "done", local, port))
        .expect("write");
    read_until(&mut c, &mut got, "SIP/2.0 200", 1);
    c.write_all(&request("ACK", "done", local, port))
        .expect("write");
    c.write_all(&request("BYE", "done", local, port))
        .expect("write");
    read_until(&mut c, &mut got, "SIP/2.0 200", 2);
    // Call "cut" is answered, and the UAS waits for its ACK when the connection goes.
    c.write_all(&request("INVITE", "cut", local, port))
        .expect("write");
    read_until(&mut c, &mut got, "SIP/2.0 200", 3);
    drop(c);
    let out = finish(server);
    assert_eq!(out.counters.failed_tcp_closed, 1, "{out:?}");
    assert_eq!(out.counters.failed_calls, 1, "{out:?}");
    assert_eq!(out.counters.successful_calls, 1, "{out:?}");
    // Nothing waited for a timeout: the run ended with the <timewait> (4 s).
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "took {:?}",
        started.elapsed()
    );
}

#[test]
fn a_killed_t1_client_fails_its_calls_on_the_server_at_once() {
    killed_client_fails_its_calls_on_the_server("t1");
}

#[test]
fn a_killed_l1_client_fails_its_calls_on_the_server_at_once() {
    killed_client_fails_its_calls_on_the_server("l1");
}

/// A `mode` client (our binary) holding calls in their pause is killed: the server
/// fails each of those calls as TCP closed, none waits for a timeout.
fn killed_client_fails_its_calls_on_the_server(mode: &str) {
    const HELD: u64 = 5;
    let port = free_port();
    let mut s = spec("uas", mode, port, None);
    // Long enough for every held call to time out if the close were not noticed.
    s.global_timeout_ms = Some(8_000);
    let (server, held) = start_watched(s);
    let dir = gossipper_e2e::scratch_dir(&format!("killed-{mode}-client"));
    let mut cmd = Command::new(gossipper_bin());
    cmd.current_dir(&dir).args([
        &format!("127.0.0.1:{port}"),
        "-sn",
        "uac",
        "-t",
        mode,
        "-i",
        "127.0.0.1",
        "-r",
        "20",
        "-d",
        "20000",
        "-m",
        "1000",
        "-nostdin",
        "-timeout",
        "30s",
    ]);
    let mut client = Proc::spawn(&format!("{mode} uac (killed mid-call)"), &mut cmd);
    // Killed once the server holds calls in their pause (20 s: none ends by itself).
    let deadline = Instant::now() + Duration::from_secs(20);
    while held.load(Ordering::Relaxed) < HELD {
        assert!(
            client.child.try_wait().expect("try_wait").is_none(),
            "the {mode} client exited before the server held {HELD} calls"
        );
        assert!(
            Instant::now() < deadline,
            "the server never held {HELD} calls"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    client.child.kill().expect("kill the client");
    let _ = client.child.wait();
    let out = finish(server);
    assert!(out.counters.incoming_calls >= HELD, "{out:?}");
    // Every call was held in its pause: each fails as TCP closed, none at the timeout.
    assert_eq!(
        out.counters.failed_tcp_closed, out.counters.incoming_calls,
        "{out:?}"
    );
    assert_eq!(
        out.counters.failed_calls, out.counters.incoming_calls,
        "{out:?}"
    );
}

#[test]
fn without_reconnect_close_a_t1_client_fails_its_calls_once_no_reconnection_is_left() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("listen");
    let port = listener.local_addr().expect("addr").port();
    let peer = std::thread::spawn(move || {
        // Take the first INVITE, then hang up without answering.
        let (mut s, _) = listener.accept().expect("accept");
        let mut buf = [0u8; 4096];
        let _ = s.read(&mut buf);
    });
    let mut c = spec("uac", "t1", 0, Some(addr(port)));
    c.max_calls = Some(3);
    c.reconnect_close = false;
    c.max_reconnect = Some(0);
    let started = Instant::now();
    let out = finish(start(c));
    peer.join().expect("peer");
    let n = &out.counters;
    assert_eq!(n.failed_calls, 3, "{out:?}");
    // The calls sent on the connection before it went fail as closed, the later ones
    // find no connection.
    assert!(n.failed_tcp_closed >= 1, "{out:?}");
    assert_eq!(n.failed_tcp_closed + n.failed_tcp_connect, 3, "{out:?}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
}
