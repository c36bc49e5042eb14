//! The REGISTER loop in virtual time against a scripted registrar: Digest, the granted
//! Expires, refresh at 90 %, retry after a failure, keep-alives and the final Expires 0.

use std::time::{Duration, Instant};

use super::*;
use crate::call::digest::verify;

fn spec() -> RegisterSpec {
    RegisterSpec {
        registrar: "127.0.0.1:5060".parse().unwrap(),
        domain: "example.test".into(),
        user: "alice".into(),
        auth_user: "alice".into(),
        password: "secret".into(),
        contact: "127.0.0.1:5070".parse().unwrap(),
        expires_s: 4,
        keepalive_s: 0,
        retry_s: 15,
    }
}

/// Drains what the registration sends.
fn sent(r: &mut Registration) -> Vec<String> {
    let mut v = Vec::new();
    let mut buf = Vec::new();
    while let Some(to) = r.poll_transmit(&mut buf) {
        assert_eq!(to, "127.0.0.1:5060".parse().unwrap());
        v.push(String::from_utf8(std::mem::take(&mut buf)).unwrap());
    }
    v
}

fn events(r: &mut Registration) -> Vec<RegisterEvent> {
    std::iter::from_fn(|| r.poll_event()).collect()
}

fn header<'a>(m: &'a str, name: &str) -> Option<&'a str> {
    m.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(": ")))
}

/// A response to `req` with `extra` header lines.
fn answer(req: &str, status: &str, extra: &str) -> Vec<u8> {
    let mut r = format!("SIP/2.0 {status}\r\n");
    for h in ["Via", "From", "To", "Call-ID", "CSeq"] {
        r.push_str(&format!("{h}: {}\r\n", header(req, h).unwrap()));
    }
    r.push_str(extra);
    r.push_str("Content-Length: 0\r\n\r\n");
    r.into_bytes()
}

const CHALLENGE: &str =
    "WWW-Authenticate: Digest realm=\"example.test\", nonce=\"abc123\", qop=\"auth\"\r\n";

/// The registrar's side: challenge a REGISTER without credentials, accept one whose
/// credentials check out against `password`, granting `grant` seconds.
fn registrar(req: &str, password: &str, grant: u32) -> Vec<u8> {
    match header(req, "Authorization") {
        None => answer(req, "401 Unauthorized", CHALLENGE),
        Some(creds) if verify(creds.as_bytes(), b"REGISTER", b"alice", password.as_bytes()) => {
            let contact = header(req, "Contact").unwrap();
            answer(
                req,
                "200 OK",
                &format!("Contact: {contact};expires={grant}\r\n"),
            )
        }
        Some(_) => answer(req, "403 Forbidden", ""),
    }
}

fn feed(r: &mut Registration, now: Instant, bytes: &[u8]) {
    let msg = SipMessage::parse(bytes).unwrap();
    assert_eq!(msg.call_id(), r.call_id().as_bytes());
    r.handle_response(now, &msg);
}

/// Registers with the Digest dance at `now`; returns the 200's Expires.
fn register(r: &mut Registration, now: Instant, password: &str, grant: u32) {
    let first = sent(r);
    assert_eq!(first.len(), 1, "{first:?}");
    feed(r, now, &registrar(&first[0], password, grant));
    let second = sent(r);
    assert_eq!(second.len(), 1, "{second:?}");
    assert!(header(&second[0], "Authorization").is_some());
    feed(r, now, &registrar(&second[0], password, grant));
}

#[test]
fn digest_then_the_granted_expires_and_a_refresh_at_90_percent() {
    let t0 = crate::sim::epoch();
    let mut r = Registration::new(spec(), 7);
    r.start(t0);
    register(&mut r, t0, "secret", 4);
    assert!(r.registered());
    assert_eq!(events(&mut r), [RegisterEvent::Registered { expires_s: 4 }]);
    // 90 % of 4 s.
    assert_eq!(r.poll_timeout(), Some(t0 + Duration::from_millis(3600)));
    r.handle_timeout(t0 + Duration::from_millis(3599));
    assert!(sent(&mut r).is_empty());
    let t1 = t0 + Duration::from_millis(3600);
    r.handle_timeout(t1);
    let refresh = sent(&mut r);
    assert_eq!(refresh.len(), 1);
    assert_eq!(header(&refresh[0], "Call-ID"), Some(r.call_id()));
    assert_eq!(header(&refresh[0], "Expires"), Some("4"));
    assert!(refresh[0].starts_with("REGISTER sip:example.test SIP/2.0\r\n"));
    assert_eq!(
        header(&refresh[0], "Contact"),
        Some("<sip:alice@127.0.0.1:5070>")
    );
    // The refresh is challenged again and answered.
    feed(&mut r, t1, &registrar(&refresh[0], "secret", 30));
    let again = sent(&mut r);
    feed(&mut r, t1, &registrar(&again[0], "secret", 30));
    assert_eq!(
        events(&mut r),
        [RegisterEvent::Registered { expires_s: 30 }]
    );
    assert_eq!(r.poll_timeout(), Some(t1 + Duration::from_secs(27)));
}

#[test]
fn the_expires_header_counts_when_the_contact_has_none() {
    let t0 = crate::sim::epoch();
    let mut r = Registration::new(spec(), 1);
    r.start(t0);
    let req = sent(&mut r).remove(0);
    feed(&mut r, t0, &answer(&req, "200 OK", "Expires: 120\r\n"));
    assert_eq!(
        events(&mut r),
        [RegisterEvent::Registered { expires_s: 120 }]
    );
    assert_eq!(r.poll_timeout(), Some(t0 + Duration::from_secs(108)));
}

#[test]
fn a_wrong_password_fails_by_name_and_retries_after_the_backoff() {
    let t0 = crate::sim::epoch();
    let mut r = Registration::new(spec(), 2);
    r.start(t0);
    let req = sent(&mut r).remove(0);
    feed(&mut r, t0, &registrar(&req, "other", 4));
    let with_creds = sent(&mut r).remove(0);
    // A registrar that challenges again (Kamailio answers 401 to bad credentials).
    feed(
        &mut r,
        t0,
        &answer(&with_creds, "401 Unauthorized", CHALLENGE),
    );
    let third = sent(&mut r).remove(0);
    feed(&mut r, t0, &answer(&third, "401 Unauthorized", CHALLENGE));
    let ev = events(&mut r);
    match ev.as_slice() {
        [
            RegisterEvent::Failed {
                status: 401,
                reason,
            },
        ] => {
            assert!(reason.contains("password"), "{reason}");
            assert!(reason.contains("alice"), "{reason}");
        }
        other => panic!("expected one failure, got {other:?}"),
    }
    assert!(!r.registered());
    assert!(sent(&mut r).is_empty());
    assert_eq!(r.poll_timeout(), Some(t0 + Duration::from_secs(15)));
    r.handle_timeout(t0 + Duration::from_secs(15));
    let retry = sent(&mut r);
    assert_eq!(retry.len(), 1);
    assert!(header(&retry[0], "Authorization").is_none());
}

#[test]
fn a_403_fails_at_once() {
    let t0 = crate::sim::epoch();
    let mut r = Registration::new(spec(), 3);
    r.start(t0);
    let req = sent(&mut r).remove(0);
    feed(&mut r, t0, &answer(&req, "403 Forbidden", ""));
    assert_eq!(
        events(&mut r),
        [RegisterEvent::Failed {
            status: 403,
            reason: "403 Forbidden".into()
        }]
    );
}

#[test]
fn silence_retransmits_from_t1_doubling_to_t2_then_gives_up_at_timer_f() {
    let t0 = crate::sim::epoch();
    let mut r = Registration::new(spec(), 4);
    r.start(t0);
    let first = sent(&mut r).remove(0);
    let mut gaps = Vec::new();
    let mut last = t0;
    while let Some(at) = r.poll_timeout() {
        if at >= t0 + Duration::from_secs(32) {
            break;
        }
        r.handle_timeout(at);
        let s = sent(&mut r);
        assert_eq!(
            s,
            std::slice::from_ref(&first),
            "a retransmission is the same bytes"
        );
        gaps.push((at - last).as_millis());
        last = at;
    }
    assert_eq!(&gaps[..5], [500, 1000, 2000, 4000, 4000]);
    r.handle_timeout(t0 + Duration::from_secs(32));
    match events(&mut r).as_slice() {
        [RegisterEvent::Failed { status: 0, reason }] => assert!(reason.contains("no answer")),
        other => panic!("{other:?}"),
    }
}

#[test]
fn keepalives_every_period_while_registered() {
    let t0 = crate::sim::epoch();
    let mut r = Registration::new(
        RegisterSpec {
            keepalive_s: 20,
            expires_s: 300,
            ..spec()
        },
        5,
    );
    r.start(t0);
    register(&mut r, t0, "secret", 300);
    let _ = events(&mut r);
    assert_eq!(r.poll_timeout(), Some(t0 + Duration::from_secs(20)));
    r.handle_timeout(t0 + Duration::from_secs(20));
    let ka = sent(&mut r);
    assert_eq!(ka.len(), 1);
    assert!(ka[0].starts_with("OPTIONS sip:example.test SIP/2.0\r\n"));
    assert_eq!(header(&ka[0], "Call-ID"), Some(r.call_id()));
    // Its answer is not a REGISTER's and changes nothing.
    feed(&mut r, t0, &answer(&ka[0], "200 OK", ""));
    assert!(events(&mut r).is_empty());
    assert!(r.registered());
    assert_eq!(r.poll_timeout(), Some(t0 + Duration::from_secs(40)));
}

#[test]
fn unregister_sends_expires_zero_on_the_same_call_id() {
    let t0 = crate::sim::epoch();
    let mut r = Registration::new(spec(), 6);
    r.start(t0);
    register(&mut r, t0, "secret", 4);
    let _ = events(&mut r);
    let t1 = t0 + Duration::from_secs(1);
    r.unregister(t1);
    let bye = sent(&mut r);
    assert_eq!(bye.len(), 1);
    assert_eq!(header(&bye[0], "Expires"), Some("0"));
    assert_eq!(header(&bye[0], "Call-ID"), Some(r.call_id()));
    // Challenged, answered with Expires 0 still.
    feed(&mut r, t1, &registrar(&bye[0], "secret", 0));
    let creds = sent(&mut r).remove(0);
    assert_eq!(header(&creds, "Expires"), Some("0"));
    feed(&mut r, t1, &answer(&creds, "200 OK", ""));
    assert_eq!(
        events(&mut r),
        [RegisterEvent::Unregistered { confirmed: true }]
    );
    assert!(r.done());
    assert_eq!(r.poll_timeout(), None);
}

#[test]
fn restart_after_unregister_registers_again_on_the_same_call_id() {
    let t0 = crate::sim::epoch();
    let mut r = Registration::new(spec(), 10);
    r.start(t0);
    register(&mut r, t0, "secret", 4);
    let _ = events(&mut r);
    let t1 = t0 + Duration::from_secs(1);
    r.unregister(t1);
    let bye = sent(&mut r).remove(0);
    // Turned back on before the Expires 0 was answered: a new REGISTER, next CSeq.
    r.restart(t1);
    assert!(!r.done());
    let again = sent(&mut r);
    assert_eq!(again.len(), 1, "{again:?}");
    assert_eq!(header(&again[0], "Expires"), Some("4"));
    assert_eq!(header(&again[0], "Call-ID"), Some(r.call_id()));
    assert_eq!(header(&again[0], "CSeq"), Some("4 REGISTER"), "{again:?}");
    // The late answer to the Expires 0 is stale; the new REGISTER's binds.
    feed(&mut r, t1, &answer(&bye, "200 OK", ""));
    assert!(events(&mut r).is_empty());
    feed(&mut r, t1, &registrar(&again[0], "secret", 4));
    let creds = sent(&mut r).remove(0);
    feed(&mut r, t1, &registrar(&creds, "secret", 4));
    assert!(r.registered());
    assert_eq!(events(&mut r), [RegisterEvent::Registered { expires_s: 4 }]);
    // A second restart while registered sends nothing.
    r.restart(t1);
    assert!(sent(&mut r).is_empty());

    // After a confirmed Expires 0 (done), it registers again too.
    r.unregister(t1);
    let bye = sent(&mut r).remove(0);
    feed(&mut r, t1, &registrar(&bye, "secret", 0));
    let creds = sent(&mut r).remove(0);
    feed(&mut r, t1, &answer(&creds, "200 OK", ""));
    assert!(r.done());
    let _ = events(&mut r);
    r.restart(t1);
    assert_eq!(sent(&mut r).len(), 1);
    assert!(!r.done());
}

#[test]
fn unregister_without_a_binding_sends_nothing() {
    let t0 = crate::sim::epoch();
    let mut r = Registration::new(spec(), 8);
    r.unregister(t0);
    assert!(sent(&mut r).is_empty());
    assert_eq!(
        events(&mut r),
        [RegisterEvent::Unregistered { confirmed: false }]
    );
    assert!(r.done());
}

#[test]
fn stale_and_foreign_responses_are_ignored() {
    let t0 = crate::sim::epoch();
    let mut r = Registration::new(spec(), 9);
    r.start(t0);
    let req = sent(&mut r).remove(0);
    let stale = String::from_utf8(answer(&req, "200 OK", ""))
        .unwrap()
        .replace("CSeq: 1 ", "CSeq: 99 ");
    feed(&mut r, t0, stale.as_bytes());
    let provisional = answer(&req, "100 Trying", "");
    feed(&mut r, t0, &provisional);
    assert!(events(&mut r).is_empty());
    assert!(!r.registered());
}

#[test]
fn a_423_is_answered_with_its_min_expires_and_refreshes_keep_it() {
    let t0 = crate::sim::epoch();
    let mut r = Registration::new(spec(), 10);
    r.start(t0);
    let req = sent(&mut r).remove(0);
    assert_eq!(header(&req, "Expires"), Some("4"));
    feed(
        &mut r,
        t0,
        &answer(&req, "423 Interval Too Brief", "Min-Expires: 60\r\n"),
    );
    let again = sent(&mut r);
    assert_eq!(again.len(), 1);
    assert_eq!(header(&again[0], "Expires"), Some("60"));
    assert!(events(&mut r).is_empty(), "not a failure");
    feed(&mut r, t0, &answer(&again[0], "200 OK", ""));
    assert_eq!(
        events(&mut r),
        [RegisterEvent::Registered { expires_s: 60 }]
    );
    r.handle_timeout(t0 + Duration::from_secs(54));
    let refresh = sent(&mut r);
    assert_eq!(header(&refresh[0], "Expires"), Some("60"));
    // A Min-Expires that does not raise the ask (or is absurd) fails the attempt.
    feed(
        &mut r,
        t0 + Duration::from_secs(54),
        &answer(&refresh[0], "423 Interval Too Brief", "Min-Expires: 30\r\n"),
    );
    match events(&mut r).as_slice() {
        [RegisterEvent::Failed { status: 423, .. }] => {}
        other => panic!("{other:?}"),
    }
}
