//! The TURN client against a scripted server, on a virtual clock: every exchange of the
//! long-term credential mechanism, timers, relay and hostile input.

use super::*;

const USER: &str = "alice";
const PASS: &str = "s3cret";
const REALM: &[u8] = b"gossipper.test";

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn local() -> SocketAddr {
    addr("127.0.0.1:40000")
}

fn server() -> SocketAddr {
    addr("127.0.0.9:3478")
}

fn key() -> [u8; 16] {
    let mut h = Md5::new();
    h.update(format!(
        "{USER}:{}:{PASS}",
        std::str::from_utf8(REALM).unwrap()
    ));
    h.finalize().into()
}

fn client(now: Instant) -> TurnClient {
    let creds = TurnCredentials {
        username: USER.into(),
        password: PASS.into(),
        expires_at_unix: None,
    };
    TurnClient::new(now, local(), server(), &creds, 42)
}

/// The one datagram the client has to send.
fn sent(c: &mut TurnClient) -> Vec<u8> {
    let t = c.poll_transmit().expect("a datagram");
    assert_eq!((t.source, t.destination), (local(), server()));
    assert!(c.poll_transmit().is_none(), "one datagram only");
    t.contents.to_vec()
}

fn parse(req: &[u8]) -> Parsed<'_> {
    Parsed::parse(req).expect("well-formed STUN")
}

fn txid(req: &[u8]) -> [u8; 12] {
    parse(req).txid
}

/// An error response with REALM and NONCE.
fn error(method: u16, txid: [u8; 12], code: u16, nonce: &[u8]) -> Vec<u8> {
    let mut m = Message::new(method | ERROR, txid, 64);
    let mut v = vec![0, 0, (code / 100) as u8, (code % 100) as u8];
    v.extend_from_slice(b"reason here");
    m.attr(ATTR_ERROR_CODE, &v);
    m.attr(ATTR_REALM, REALM);
    m.attr(ATTR_NONCE, nonce);
    m.finish()
}

/// A success response signed with `key` (`None`: unsigned).
fn success(
    method: u16,
    txid: [u8; 12],
    lifetime: Option<u32>,
    relayed: Option<SocketAddr>,
    key: Option<[u8; 16]>,
) -> Vec<u8> {
    let mut m = Message::new(method | SUCCESS, txid, 96);
    if let Some(r) = relayed {
        m.xor_address(ATTR_XOR_RELAYED_ADDRESS, r);
        m.xor_address(ATTR_XOR_MAPPED_ADDRESS, addr("198.51.100.4:40000"));
    }
    if let Some(l) = lifetime {
        m.attr(ATTR_LIFETIME, &l.to_be_bytes());
    }
    if let Some(k) = key {
        m.integrity(&k);
    }
    m.finish()
}

fn relay() -> SocketAddr {
    addr("127.0.0.9:50000")
}

/// Drives a client to an allocation with `lifetime` seconds: 401, then success.
fn allocated(now: Instant, lifetime: u32) -> TurnClient {
    let mut c = client(now);
    assert_eq!(c.poll_timeout(), Some(now), "Allocate due at once");
    c.handle_timeout(now);
    let first = sent(&mut c);
    let p = parse(&first);
    assert_eq!(p.typ, ALLOCATE | REQUEST);
    assert!(
        p.integrity_at.is_none(),
        "first Allocate carries no credentials"
    );
    let unauth = error(ALLOCATE, p.txid, 401, b"n1");
    assert_eq!(c.handle_input(now, server(), &unauth), TurnInput::Handled);
    let second = sent(&mut c);
    let p2 = parse(&second);
    assert_ne!(p2.txid, p.txid, "a retry is a new transaction");
    assert!(
        p2.integrity_ok(&second, &key()),
        "signed with MD5(user:realm:pass)"
    );
    assert_eq!((p2.realm, p2.nonce), (Some(REALM), Some(&b"n1"[..])));
    let ok = success(
        ALLOCATE,
        p2.txid,
        Some(lifetime),
        Some(relay()),
        Some(key()),
    );
    assert_eq!(c.handle_input(now, server(), &ok), TurnInput::Handled);
    c
}

#[test]
fn allocate_answers_401_with_credentials_then_reports_the_relay() {
    let now = Instant::now();
    let mut c = allocated(now, 600);
    assert_eq!(
        c.poll_event(),
        Some(TurnEvent::Allocated {
            relayed: relay(),
            mapped: Some(addr("198.51.100.4:40000")),
            lifetime: Duration::from_secs(600),
        })
    );
    assert_eq!(c.relayed(), Some(relay()));
    assert!(c.poll_event().is_none());
}

#[test]
fn stale_nonce_is_retried_with_the_new_nonce() {
    let now = Instant::now();
    let mut c = client(now);
    c.handle_timeout(now);
    let a = sent(&mut c);
    let _ = c.handle_input(now, server(), &error(ALLOCATE, txid(&a), 401, b"n1"));
    let b = sent(&mut c);
    let _ = c.handle_input(now, server(), &error(ALLOCATE, txid(&b), 438, b"n2"));
    let d = sent(&mut c);
    assert_eq!(parse(&d).nonce, Some(&b"n2"[..]));
    assert!(parse(&d).integrity_ok(&d, &key()));
    let ok = success(ALLOCATE, txid(&d), Some(600), Some(relay()), Some(key()));
    let _ = c.handle_input(now, server(), &ok);
    assert!(matches!(c.poll_event(), Some(TurnEvent::Allocated { .. })));
}

#[test]
fn wrong_credentials_fail_with_401_named() {
    let now = Instant::now();
    let mut c = client(now);
    c.handle_timeout(now);
    let a = sent(&mut c);
    let _ = c.handle_input(now, server(), &error(ALLOCATE, txid(&a), 401, b"n1"));
    let b = sent(&mut c);
    // The same nonce again: our key was refused.
    let _ = c.handle_input(now, server(), &error(ALLOCATE, txid(&b), 401, b"n1"));
    assert!(c.poll_transmit().is_none());
    let Some(TurnEvent::Failed(e)) = c.poll_event() else {
        panic!("failed")
    };
    assert!(matches!(e, TurnError::Unauthorized { .. }), "{e}");
    assert!(e.to_string().contains("credentials refused (401"), "{e}");
    assert_eq!(c.poll_timeout(), None, "inert after failing");
}

#[test]
fn a_server_that_keeps_changing_nonces_is_not_followed_forever() {
    let now = Instant::now();
    let mut c = client(now);
    c.handle_timeout(now);
    let mut sends = 0;
    for n in 0..10u8 {
        let Some(t) = c.poll_transmit() else { break };
        sends += 1;
        let _ = c.handle_input(
            now,
            server(),
            &error(ALLOCATE, txid(&t.contents), 438, &[b'a' + n]),
        );
    }
    assert_eq!(sends, 1 + usize::from(MAX_AUTH_RETRIES));
    assert!(matches!(
        c.poll_event(),
        Some(TurnEvent::Failed(TurnError::Rejected { code: 438, .. }))
    ));
}

#[test]
fn other_error_responses_fail_the_allocation_with_their_code() {
    let now = Instant::now();
    let mut c = client(now);
    c.handle_timeout(now);
    let a = sent(&mut c);
    let _ = c.handle_input(now, server(), &error(ALLOCATE, txid(&a), 401, b"n1"));
    let b = sent(&mut c);
    let _ = c.handle_input(now, server(), &error(ALLOCATE, txid(&b), 486, b"n1"));
    let Some(TurnEvent::Failed(e)) = c.poll_event() else {
        panic!("failed")
    };
    assert_eq!(
        e.to_string(),
        "TURN server 127.0.0.9:3478: Allocate failed with 486 reason here"
    );
}

#[test]
fn unsigned_or_badly_signed_successes_are_ignored() {
    let now = Instant::now();
    let mut c = client(now);
    c.handle_timeout(now);
    let a = sent(&mut c);
    // Before any 401 we hold no key: an unsigned success proves nothing.
    let fake = success(ALLOCATE, txid(&a), Some(600), Some(relay()), None);
    assert_eq!(c.handle_input(now, server(), &fake), TurnInput::Handled);
    assert_eq!(c.relayed(), None);
    let _ = c.handle_input(now, server(), &error(ALLOCATE, txid(&a), 401, b"n1"));
    let b = sent(&mut c);
    let forged = success(ALLOCATE, txid(&b), Some(600), Some(relay()), Some([7; 16]));
    let _ = c.handle_input(now, server(), &forged);
    assert_eq!(c.relayed(), None);
    assert!(c.poll_event().is_none());
    // The genuine one still works: the transaction was kept.
    let ok = success(ALLOCATE, txid(&b), Some(600), Some(relay()), Some(key()));
    let _ = c.handle_input(now, server(), &ok);
    assert_eq!(c.relayed(), Some(relay()));
}

#[test]
fn unanswered_allocate_retransmits_then_times_out() {
    let now = Instant::now();
    let mut c = client(now);
    let mut t = now;
    let mut sends = Vec::new();
    for _ in 0..20 {
        c.handle_timeout(t);
        while let Some(x) = c.poll_transmit() {
            sends.push((t - now, x.contents.to_vec()));
        }
        match c.poll_timeout() {
            Some(next) => t = next,
            None => break,
        }
    }
    let at: Vec<u64> = sends.iter().map(|(d, _)| d.as_millis() as u64).collect();
    assert_eq!(at, [0, 500, 1500, 3500]);
    assert!(sends.windows(2).all(|w| w[0].1 == w[1].1), "same request");
    assert_eq!(
        t - now,
        Duration::from_millis(7500),
        "given up after the last wait"
    );
    assert_eq!(
        c.poll_event(),
        Some(TurnEvent::Failed(TurnError::Timeout {
            server: server(),
            method: "Allocate"
        }))
    );
}

#[test]
fn refresh_is_sent_a_minute_before_the_lifetime_ends() {
    let now = Instant::now();
    let mut c = allocated(now, 600);
    let _ = c.poll_event();
    assert_eq!(c.poll_timeout(), Some(now + Duration::from_secs(540)));
    c.handle_timeout(now + Duration::from_secs(539));
    assert!(c.poll_transmit().is_none(), "not yet");
    let t = now + Duration::from_secs(540);
    c.handle_timeout(t);
    let r = sent(&mut c);
    let p = parse(&r);
    assert_eq!(p.typ, REFRESH | REQUEST);
    assert_eq!(p.lifetime, Some(REQUESTED_LIFETIME));
    // While it is in flight, only its retransmit is due (no busy loop on the past
    // refresh time), and a timeout then sends no second Refresh.
    assert_eq!(c.poll_timeout(), Some(t + FIRST_RTO));
    c.handle_timeout(t + Duration::from_millis(100));
    assert!(c.poll_transmit().is_none());
    assert!(p.integrity_ok(&r, &key()));
    // The server grants a short one: the next refresh is half-way through it.
    let ok = success(REFRESH, p.txid, Some(100), None, Some(key()));
    let _ = c.handle_input(t, server(), &ok);
    assert_eq!(c.poll_timeout(), Some(t + Duration::from_secs(50)));
    assert_eq!(c.relayed(), Some(relay()));
}

#[test]
fn refresh_438_is_retried_and_a_refused_refresh_fails_the_allocation() {
    let now = Instant::now();
    let mut c = allocated(now, 120);
    let _ = c.poll_event();
    let t = now + Duration::from_secs(60);
    c.handle_timeout(t);
    let r = sent(&mut c);
    let _ = c.handle_input(t, server(), &error(REFRESH, txid(&r), 438, b"n9"));
    let r2 = sent(&mut c);
    assert_eq!(parse(&r2).nonce, Some(&b"n9"[..]));
    let _ = c.handle_input(t, server(), &error(REFRESH, txid(&r2), 437, b"n9"));
    assert!(matches!(
        c.poll_event(),
        Some(TurnEvent::Failed(TurnError::Rejected {
            method: "Refresh",
            code: 437,
            ..
        }))
    ));
    assert_eq!(c.relayed(), None);
}

#[test]
fn permissions_wait_for_the_allocation_and_are_refreshed() {
    let now = Instant::now();
    let peer: IpAddr = "192.0.2.10".parse().unwrap();
    let mut c = client(now);
    c.create_permission(now, peer);
    c.handle_timeout(now);
    let a = sent(&mut c);
    assert_eq!(
        parse(&a).typ,
        ALLOCATE | REQUEST,
        "no permission before allocating"
    );
    let _ = c.handle_input(now, server(), &error(ALLOCATE, txid(&a), 401, b"n1"));
    let b = sent(&mut c);
    let ok = success(ALLOCATE, txid(&b), Some(600), Some(relay()), Some(key()));
    let _ = c.handle_input(now, server(), &ok);
    c.handle_timeout(now);
    let p = sent(&mut c);
    let pp = parse(&p);
    assert_eq!(pp.typ, CREATE_PERMISSION | REQUEST);
    assert_eq!(pp.peer.map(|a| a.ip()), Some(peer));
    assert!(pp.integrity_ok(&p, &key()));
    assert!(!c.has_permission(peer));
    let _ = c.handle_input(
        now,
        server(),
        &success(CREATE_PERMISSION, pp.txid, None, None, Some(key())),
    );
    assert!(c.has_permission(peer));
    let _ = c.poll_event();
    assert_eq!(c.poll_event(), Some(TurnEvent::PermissionCreated(peer)));
    // Idempotent.
    c.create_permission(now, peer);
    assert!(c.poll_transmit().is_none());
    // Refreshed at 240 s, before the server's 300 s end.
    assert_eq!(c.poll_timeout(), Some(now + Duration::from_secs(240)));
    c.handle_timeout(now + Duration::from_secs(240));
    let again = sent(&mut c);
    assert_eq!(parse(&again).typ, CREATE_PERMISSION | REQUEST);
    // A refusal drops it and says so.
    let _ = c.handle_input(
        now,
        server(),
        &error(CREATE_PERMISSION, txid(&again), 403, b"n1"),
    );
    assert_eq!(
        c.poll_event(),
        Some(TurnEvent::PermissionFailed {
            peer,
            code: Some(403)
        })
    );
    assert!(!c.has_permission(peer));
    assert!(c.relayed().is_some(), "the allocation survives");
}

#[test]
fn data_goes_out_in_send_indications_and_comes_back_from_data_indications() {
    let now = Instant::now();
    let peer = addr("192.0.2.10:6000");
    let mut c = client(now);
    assert!(!c.send_to(peer, b"x"), "nothing to send through yet");
    let mut c = allocated(now, 600);
    assert!(c.send_to(peer, b"hello"));
    let s = sent(&mut c);
    let p = parse(&s);
    assert_eq!(p.typ, SEND | INDICATION);
    assert_eq!((p.peer, p.data), (Some(peer), Some(&b"hello"[..])));
    // From the server: unwrapped.
    let mut m = Message::new(DATA | INDICATION, [5; 12], 64);
    m.xor_address(ATTR_XOR_PEER_ADDRESS, peer);
    m.attr(ATTR_DATA, b"world!");
    let d = m.finish();
    assert_eq!(
        c.handle_input(now, server(), &d),
        TurnInput::Data {
            peer,
            payload: b"world!"
        }
    );
    // The same bytes from anyone else are not ours; nor is a non-STUN datagram.
    assert_eq!(c.handle_input(now, peer, &d), TurnInput::NotOurs);
    assert_eq!(
        c.handle_input(now, server(), &[0x80, 0, 0, 0]),
        TurnInput::NotOurs
    );
}

#[test]
fn close_sends_lifetime_zero_and_ends() {
    let now = Instant::now();
    let mut c = allocated(now, 600);
    let _ = c.poll_event();
    c.close(now);
    let r = sent(&mut c);
    let p = parse(&r);
    assert_eq!(
        (p.typ, p.lifetime),
        (REFRESH | REQUEST, Some(Duration::ZERO))
    );
    let _ = c.handle_input(
        now,
        server(),
        &success(REFRESH, p.txid, Some(0), None, Some(key())),
    );
    assert_eq!(c.poll_event(), Some(TurnEvent::Closed));
    assert_eq!(c.poll_timeout(), None);
    assert!(!c.send_to(addr("192.0.2.1:1"), b"x"));
    // Unanswered close ends too, after the retransmits.
    let mut c = allocated(now, 600);
    let _ = c.poll_event();
    c.close(now);
    let mut t = now;
    for _ in 0..10 {
        c.handle_timeout(t);
        while c.poll_transmit().is_some() {}
        match c.poll_timeout() {
            Some(n) => t = n,
            None => break,
        }
    }
    assert_eq!(c.poll_event(), Some(TurnEvent::Closed));
}

#[test]
fn hostile_input_never_panics_and_never_allocates() {
    let now = Instant::now();
    let mut c = client(now);
    c.handle_timeout(now);
    let a = sent(&mut c);
    let good = error(ALLOCATE, txid(&a), 401, b"n1");
    let signed = success(ALLOCATE, txid(&a), Some(600), Some(relay()), Some(key()));
    // Every truncation and every single-byte corruption of real answers.
    for msg in [&good, &signed] {
        for n in 0..msg.len() {
            let _ = c.handle_input(now, server(), &msg[..n]);
        }
        for i in 0..msg.len() {
            let mut m = msg.clone();
            m[i] ^= 0xA5;
            let _ = Parsed::parse(&m).map(|p| p.integrity_ok(&m, &key()));
        }
    }
    // Random datagrams with the STUN header shape.
    let mut x = 0x1234_5678_9ABC_DEF0u64;
    for _ in 0..2000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let len = (x % 64) as usize;
        let mut m = vec![0u8; HEADER + len];
        for (i, b) in m.iter_mut().enumerate() {
            *b = (x.rotate_left(i as u32 * 7) & 0xFF) as u8;
        }
        m[0] &= 0x3F;
        m[2..4].copy_from_slice(&(len as u16).to_be_bytes());
        m[4..8].copy_from_slice(&MAGIC.to_be_bytes());
        let _ = c.handle_input(now, server(), &m);
    }
    assert_eq!(c.relayed(), None);
}
