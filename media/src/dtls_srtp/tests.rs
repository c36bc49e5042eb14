//! Two DTLS-SRTP endpoints through a simulated clock and network (earliest event first),
//! then SRTP both ways with the exported keys; and the ways a set-up fails.

use std::time::{Duration, Instant};

use super::*;

const DELAY: Duration = Duration::from_millis(5);
const SETUP: Duration = Duration::from_secs(10);

struct Pair {
    now: Instant,
    ends: [DtlsSrtp; 2],
    wire: Vec<(Instant, usize, Vec<u8>)>,
    events: [Vec<DtlsSrtpEvent>; 2],
    drop_all: bool,
}

impl Pair {
    fn new(
        fingerprints: impl Fn(&DtlsIdentity, &DtlsIdentity) -> (Fingerprint, Fingerprint),
    ) -> Self {
        let now = Instant::now();
        let (a, b) = (
            DtlsIdentity::generate().unwrap(),
            DtlsIdentity::generate().unwrap(),
        );
        let (fp_of_b, fp_of_a) = fingerprints(&a, &b);
        // a offered actpass, b answered active (RFC 5763 §5): b is the client.
        let role_b = SetupRole::answer_to(SetupRole::ActPass).unwrap();
        let role_a = SetupRole::after_answer(role_b).unwrap();
        let ends = [
            DtlsSrtp::new(now, &a, role_a.is_active(), fp_of_b, SETUP),
            DtlsSrtp::new(now, &b, role_b.is_active(), fp_of_a, SETUP),
        ];
        let mut p = Self {
            now,
            ends,
            wire: Vec::new(),
            events: [Vec::new(), Vec::new()],
            drop_all: false,
        };
        p.flush(0);
        p.flush(1);
        p
    }

    fn flush(&mut self, i: usize) {
        let mut out = Vec::new();
        while let Some(n) = self.ends[i].poll_transmit(&mut out) {
            assert_eq!(demux(&out[..n]), Demux::Dtls);
            if !self.drop_all {
                self.wire.push((self.now + DELAY, 1 - i, out[..n].to_vec()));
            }
        }
        while let Some(e) = self.ends[i].poll_event() {
            self.events[i].push(e);
        }
    }

    fn run(&mut self, limit: Duration) {
        let end = self.now + limit;
        for _ in 0..100_000 {
            let arrival = self.wire.iter().map(|w| w.0).min();
            let timer = (0..2)
                .filter_map(|i| self.ends[i].poll_timeout().map(|t| (t, i)))
                .min();
            let Some(at) = [arrival, timer.map(|t| t.0)].into_iter().flatten().min() else {
                return;
            };
            if at > end {
                return;
            }
            self.now = self.now.max(at);
            if arrival == Some(at) {
                let k = self.wire.iter().position(|w| w.0 == at).unwrap();
                let (_, to, bytes) = self.wire.remove(k);
                self.ends[to].handle_datagram(self.now, &bytes);
                self.flush(to);
            } else {
                let i = timer.unwrap().1;
                self.ends[i].handle_timeout(self.now);
                self.flush(i);
            }
        }
        panic!("did not settle");
    }
}

fn honest(a: &DtlsIdentity, b: &DtlsIdentity) -> (Fingerprint, Fingerprint) {
    (b.fingerprint(), a.fingerprint())
}

#[test]
fn handshake_without_ice_completes_with_gcm_keys_that_work_both_ways() {
    // Both ends run dimpl, whose server picks AEAD AES-256-GCM (RFC 7714): the handshake
    // and the certificate check complete (dimpl says Connected before it hands out the
    // keying material), and each end's send keys are the other's receive keys.
    let mut p = Pair::new(honest);
    p.run(Duration::from_secs(15));
    assert_eq!(
        p.events,
        [
            vec![DtlsSrtpEvent::Connected],
            vec![DtlsSrtpEvent::Connected]
        ]
    );
    assert!(
        p.ends.iter().all(|e| e.cert_ok),
        "both certificates checked"
    );
    let (mut a_tx, mut a_rx) = p.ends[0].take_srtp().expect("keys");
    let (mut b_tx, mut b_rx) = p.ends[1].take_srtp().expect("keys");
    assert_eq!(a_tx.suite(), SrtpSuite::AeadAes256Gcm);
    for (tx, rx) in [(&mut a_tx, &mut b_rx), (&mut b_tx, &mut a_rx)] {
        let mut pkt = vec![0x80, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 0, 9];
        pkt.extend_from_slice(&[0x5A; 160]);
        pkt.resize(pkt.len() + 16, 0);
        let n = tx.protect_rtp(&mut pkt, 172).unwrap();
        assert_eq!(rx.unprotect_rtp(&mut pkt[..n]).unwrap(), 172);
        assert_eq!(&pkt[12..172], &[0x5A; 160][..]);
    }
}

#[test]
fn exported_keys_split_per_rfc5764_and_work_both_ways() {
    // client key | server key | client salt | server salt, as a TLS exporter lays them out.
    let km: Vec<u8> = (0..60u8).collect();
    let (mut a_tx, mut a_rx) = split_keys(&km, true).unwrap();
    let (mut b_tx, mut b_rx) = split_keys(&km, false).unwrap();
    assert!(split_keys(&km[..59], true).is_none());
    for (tx, rx) in [(&mut a_tx, &mut b_rx), (&mut b_tx, &mut a_rx)] {
        for seq in 0..20u16 {
            let mut pkt = vec![0x80, 0x00];
            pkt.extend_from_slice(&seq.to_be_bytes());
            pkt.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 7]);
            pkt.extend_from_slice(&[0xD5; 160]);
            let len = pkt.len();
            pkt.resize(len + 10, 0);
            let n = tx.protect_rtp(&mut pkt, len).unwrap();
            assert_eq!(demux(&pkt[..n]), Demux::Rtp);
            assert_eq!(rx.unprotect_rtp(&mut pkt[..n]), Ok(len));
        }
        assert_eq!(rx.packets(), 20);
    }
    // Our own send key does not open what we send: the directions differ.
    let mut pkt = vec![
        0x80, 0, 0, 99, 0, 0, 0, 0, 0, 0, 0, 7, 1, 2, 3, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    ];
    let n = a_tx.protect_rtp(&mut pkt, 16).unwrap();
    assert_eq!(
        a_rx.unprotect_rtp(&mut pkt[..n]),
        Err(crate::srtp::SrtpError::AuthFailed)
    );
}

#[test]
fn a_certificate_that_does_not_match_the_fingerprint_fails_the_call() {
    let other = DtlsIdentity::generate().unwrap();
    let mut p = Pair::new(|a, _b| (other.fingerprint(), a.fingerprint()));
    p.run(Duration::from_secs(15));
    assert!(
        p.events[0].contains(&DtlsSrtpEvent::Failed(DtlsSrtpFailure::FingerprintMismatch)),
        "{:?}",
        p.events
    );
    assert!(p.ends[0].take_srtp().is_none());
    assert!(!p.events[1].contains(&DtlsSrtpEvent::Connected) || p.events[1].len() == 1);
}

#[test]
fn a_handshake_that_never_finishes_times_out() {
    let mut p = Pair::new(honest);
    p.drop_all = true;
    p.wire.clear();
    p.run(Duration::from_secs(60));
    for e in &p.events {
        assert_eq!(e, &vec![DtlsSrtpEvent::Failed(DtlsSrtpFailure::Timeout)]);
    }
    assert!(p.ends.iter().all(|e| e.poll_timeout().is_none()));
}

#[test]
fn garbage_records_never_panic() {
    let mut p = Pair::new(honest);
    let now = p.now;
    let mut seed = 7u32;
    for len in 0..200 {
        let mut junk: Vec<u8> = (0..len)
            .map(|_| {
                seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                (seed >> 16) as u8
            })
            .collect();
        if let Some(b) = junk.first_mut() {
            *b = 22; // a DTLS handshake record type, so it reaches the record layer
        }
        p.ends[0].handle_datagram(now, &junk);
    }
    p.flush(0);
    // dimpl drops noise; either the call survives and connects, or it fails with a reason.
    p.run(Duration::from_secs(15));
    assert_eq!(p.events[0].len(), 1, "{:?}", p.events[0]);
}

#[test]
fn setup_roles_follow_rfc5763() {
    assert_eq!(
        SetupRole::answer_to(SetupRole::ActPass),
        Some(SetupRole::Active)
    );
    assert_eq!(
        SetupRole::answer_to(SetupRole::Active),
        Some(SetupRole::Passive)
    );
    assert_eq!(
        SetupRole::answer_to(SetupRole::Passive),
        Some(SetupRole::Active)
    );
    assert_eq!(SetupRole::answer_to(SetupRole::HoldConn), None);
    assert_eq!(
        SetupRole::after_answer(SetupRole::Active),
        Some(SetupRole::Passive)
    );
    assert_eq!(SetupRole::after_answer(SetupRole::ActPass), None);
    for r in [
        SetupRole::Active,
        SetupRole::Passive,
        SetupRole::ActPass,
        SetupRole::HoldConn,
    ] {
        assert_eq!(SetupRole::parse(r.as_str()), Some(r));
    }
    assert_eq!(SetupRole::parse("sideways"), None);
}

#[test]
fn fingerprints_parse_format_and_refuse_by_kind() {
    let id = DtlsIdentity::generate().unwrap();
    let text = id.fingerprint().to_string();
    assert_eq!(Fingerprint::parse(&text), Ok(id.fingerprint()));
    assert_eq!(
        Fingerprint::parse(&format!(
            "a=fingerprint:{}",
            text.replace("sha-256", "SHA-256")
        )),
        Ok(id.fingerprint())
    );
    let hex31 = ["AB"; 31].join(":");
    let hex33 = ["AB"; 33].join(":");
    for (bad, want) in [
        (format!("sha-1 {hex31}"), FingerprintError::UnsupportedHash),
        ("sha-256".to_owned(), FingerprintError::Malformed),
        (format!("sha-256 {hex31}"), FingerprintError::Malformed),
        (format!("sha-256 {hex33}"), FingerprintError::Malformed),
        (format!("sha-256 {hex31}:G0"), FingerprintError::Malformed),
        (format!("sha-256 {hex31}:ABC"), FingerprintError::Malformed),
    ] {
        assert_eq!(Fingerprint::parse(&bad), Err(want), "{bad}");
    }
}

#[test]
fn rfc7983_first_byte_demultiplexing() {
    let cases: [(&[u8], Demux); 8] = [
        (&[0x00, 0x01], Demux::Stun),
        (&[3], Demux::Stun),
        (&[17], Demux::Zrtp),
        (&[22, 0xFE, 0xFD], Demux::Dtls),
        (&[64], Demux::TurnChannel),
        (&[0x80, 0x00], Demux::Rtp),
        (&[0x81, 0xC8], Demux::Rtp),
        (&[], Demux::Unknown),
    ];
    for (d, want) in cases {
        assert_eq!(demux(d), want, "{d:?}");
    }
    assert_eq!(demux(&[200]), Demux::Unknown);
}
