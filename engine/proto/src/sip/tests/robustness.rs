//! Hostile input: truncation at every offset, random bytes and mutated messages never
//! panic and always satisfy the fuzz properties; plus a release-mode timing loop.

use super::super::fuzz;
use super::super::{ParseError, SipMessage};
use super::{UAC_BYE, UAC_INVITE, UAS_200_OK, request};

/// xorshift64*: a seeded generator, so a failure can be replayed from the printed seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[test]
fn truncation_at_every_offset_never_panics_and_never_yields_a_short_body() {
    for msg in [UAC_INVITE, UAS_200_OK, UAC_BYE] {
        for cut in 0..msg.len() {
            let prefix = &msg[..cut];
            fuzz::sip_parse(prefix);
            // Every message here has a Content-Length, so no strict prefix is whole.
            assert!(SipMessage::parse(prefix).is_err(), "prefix of {cut} parsed");
        }
        fuzz::sip_parse(msg);
    }
    // Without Content-Length, any cut after the empty line is a (shorter) valid message.
    let raw = request("", "body bytes");
    let head = raw.len() - "body bytes".len();
    for cut in 0..=raw.len() {
        let got = SipMessage::parse(&raw[..cut]);
        assert_eq!(got.is_ok(), cut >= head, "cut {cut}: {got:?}");
    }
}

#[test]
fn random_bytes_never_panic() {
    let seed = 0x5eed_0001;
    let mut rng = Rng(seed);
    let alphabet = b"\r\n :;,<>\"\\\tSIP/2.0 INVITE Call-ID CSeq l i v 0123456789";
    for round in 0..3000 {
        let len = rng.below(300);
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                if round % 2 == 0 {
                    rng.next() as u8
                } else {
                    alphabet[rng.below(alphabet.len())]
                }
            })
            .collect();
        fuzz::sip_parse(&bytes);
        let mut framed = vec![rng.next() as u8, rng.next() as u8];
        framed.extend_from_slice(&bytes[..bytes.len().min(120)]);
        fuzz::stream_frame(&framed);
    }
}

#[test]
fn mutated_messages_keep_every_property() {
    let seed = 0x5eed_0002;
    let mut rng = Rng(seed);
    let interesting = [
        b'\r', b'\n', b' ', b'\t', b':', b';', b',', b'<', b'>', b'"', 0, 0xff,
    ];
    let mut parsed = 0;
    for round in 0..4000 {
        let base = [UAC_INVITE, UAS_200_OK, UAC_BYE][round % 3];
        let mut m = base.to_vec();
        for _ in 0..1 + rng.below(4) {
            let at = rng.below(m.len());
            match rng.below(4) {
                0 => m[at] = interesting[rng.below(interesting.len())],
                1 => m[at] ^= 1 << rng.below(8),
                2 => {
                    m.remove(at);
                }
                _ => m.insert(at, interesting[rng.below(interesting.len())]),
            }
        }
        fuzz::sip_parse(&m);
        parsed += usize::from(SipMessage::parse(&m).is_ok());
    }
    // The mutations must leave enough messages intact for the properties to be exercised.
    assert!(
        parsed > 400,
        "only {parsed} of 4000 mutants parsed (seed {seed:#x})"
    );
}

#[test]
fn huge_content_length_costs_nothing() {
    let raw = request("Content-Length: 4294967295\r\n", "");
    assert_eq!(
        SipMessage::parse(&raw).unwrap_err(),
        ParseError::BodyTooShort
    );
}
