//! The server on loopback with a stand-in handler: framing, keep-alive, pipelining,
//! `100 Continue`, HEAD, panics, and replies not held by Nagle. No sleeps: every
//! exchange waits on the socket. (Deadlines and caps are pinned by `limits`' unit tests
//! and by the attacks in tests/tests/security_http.rs.)

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use super::*;

/// A server on a free port whose handler echoes the method, path and body length;
/// `/big` answers 8000 bytes, `/panic` panics, `/ignore` leaves the body unread.
fn server() -> String {
    let listener = bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let handler: Handler = Arc::new(|inc: &mut Incoming<'_>| match inc.path {
        "/big" => Reply::Json {
            status: 200,
            body: vec![b'x'; 8000],
        },
        "/panic" => panic!("a handler bug"),
        "/ignore" => Reply::Empty(204),
        _ => {
            let mut body = Vec::new();
            let read = inc.body.reader().read_to_end(&mut body);
            let text = format!(
                "{} {} {} {}",
                inc.method,
                inc.path,
                body.len(),
                read.is_ok()
            );
            Reply::Json {
                status: 200,
                body: text.into_bytes(),
            }
        }
    });
    std::thread::spawn(move || serve(listener, Limits::default(), handler));
    addr
}

fn connect(addr: &str) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s
}

/// Reads one reply with a Content-Length: (status, head, body).
fn reply(s: &mut TcpStream) -> (u16, String, Vec<u8>) {
    let mut raw = Vec::new();
    let mut byte = [0u8; 1];
    while !raw.ends_with(b"\r\n\r\n") {
        assert_eq!(s.read(&mut byte).unwrap(), 1, "closed in a head: {raw:?}");
        raw.push(byte[0]);
    }
    let head = String::from_utf8(raw).unwrap();
    let status = head[9..12].parse().unwrap();
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .map_or(0, |v| v.parse().unwrap());
    let mut body = vec![0u8; len];
    if !head.starts_with("HTTP/1.1 304") && !head.starts_with("HTTP/1.1 204") {
        s.read_exact(&mut body).unwrap();
    }
    (status, head, body)
}

fn closed(s: &mut TcpStream) -> bool {
    let mut rest = Vec::new();
    s.read_to_end(&mut rest).is_ok() && rest.is_empty()
}

#[test]
fn pipelined_requests_are_answered_in_order_on_one_connection() {
    let addr = server();
    let mut s = connect(&addr);
    s.write_all(
        b"POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhelloGET /b HTTP/1.1\r\nHost: h\r\n\r\nPOST /c HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nConnection: close\r\n\r\nxyz",
    )
    .unwrap();
    assert_eq!(reply(&mut s).2, b"POST /a 5 true");
    assert_eq!(reply(&mut s).2, b"GET /b 0 true");
    let (_, head, body) = reply(&mut s);
    assert_eq!(body, b"POST /c 3 true");
    assert!(head.contains("Connection: close\r\n"), "{head}");
    assert!(closed(&mut s), "Connection: close is honoured");
}

#[test]
fn a_small_unread_body_is_dropped_and_the_connection_goes_on() {
    let addr = server();
    let mut s = connect(&addr);
    s.write_all(b"POST /ignore HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\nabcdGET /after HTTP/1.1\r\nHost: h\r\n\r\n")
        .unwrap();
    assert_eq!(reply(&mut s).0, 204);
    assert_eq!(reply(&mut s).2, b"GET /after 0 true");
}

#[test]
fn a_client_expecting_100_continue_gets_it_when_the_body_is_read() {
    let addr = server();
    let mut s = connect(&addr);
    s.write_all(
        b"PUT /up HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n",
    )
    .unwrap();
    let mut interim = [0u8; 25];
    s.read_exact(&mut interim).unwrap();
    assert_eq!(&interim, b"HTTP/1.1 100 Continue\r\n\r\n");
    s.write_all(b"abc").unwrap();
    assert_eq!(reply(&mut s).2, b"PUT /up 3 true");
}

#[test]
fn protocol_refusals_are_json_and_close_the_connection() {
    let addr = server();
    for (req, status) in [
        (
            &b"POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"[..],
            411,
        ),
        (b"GET / HTTP/1.1\r\n\r\n", 400),
        (
            b"POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999999\r\n\r\n",
            413,
        ),
    ] {
        let mut s = connect(&addr);
        s.write_all(req).unwrap();
        let (got, head, body) = reply(&mut s);
        assert_eq!(got, status, "{head}");
        assert!(head.contains("Content-Type: application/json\r\n"));
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert!(v["error"].is_string());
        assert!(closed(&mut s));
    }
}

#[test]
fn head_gets_the_length_without_the_body_and_a_panic_costs_one_500() {
    let addr = server();
    let mut s = connect(&addr);
    s.write_all(b"HEAD /big HTTP/1.1\r\nHost: h\r\n\r\nGET /panic HTTP/1.1\r\nHost: h\r\n\r\nGET /z HTTP/1.1\r\nHost: h\r\n\r\n")
        .unwrap();
    let mut raw = Vec::new();
    let mut byte = [0u8; 1];
    while !raw.ends_with(b"\r\n\r\n") {
        s.read_exact(&mut byte).unwrap();
        raw.push(byte[0]);
    }
    assert!(
        String::from_utf8(raw)
            .unwrap()
            .contains("Content-Length: 8000\r\n")
    );
    assert_eq!(reply(&mut s).0, 500, "the panic is this request's 500");
    assert_eq!(
        reply(&mut s).2,
        b"GET /z 0 true",
        "the connection still serves"
    );
}

#[test]
fn replies_over_a_kilobyte_are_not_held_by_nagle() {
    let addr = server();
    let mut conn = connect(&addr);
    let started = std::time::Instant::now();
    for _ in 0..20 {
        conn.write_all(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        assert_eq!(reply(&mut conn).2.len(), 8000);
    }
    // 20 round trips of an 8 KB reply: with Nagle they would cost 20 × 40 ms.
    assert!(
        started.elapsed() < Duration::from_millis(400),
        "20 replies took {:?}",
        started.elapsed()
    );
}
