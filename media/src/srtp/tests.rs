//! SRTP tests: RFC 3711 Appendix B vectors, libsrtp's reference packets, round trips,
//! tampering, replay, rollover, lifetime and the `a=crypto` grammar.

use super::sdes::{CryptoAttribute, CryptoLineError};
use super::*;

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn array<const N: usize>(s: &str) -> [u8; N] {
    hex(s).try_into().unwrap()
}

/// RFC 3711 §B.3 (and libsrtp's test key).
fn rfc_master() -> MasterKey {
    MasterKey::new(
        array("E1F97A0D3E018BE0D64FA32C06DE4139"),
        array("0EC675AD498AFEEBB6960B3AABE6"),
    )
}

fn rtp_packet(seq: u16, ssrc: u32, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x80, 0x00];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&(u32::from(seq) * 160).to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend_from_slice(payload);
    p
}

fn protect(ctx: &mut SrtpContext, plain: &[u8]) -> Vec<u8> {
    let mut buf = plain.to_vec();
    buf.resize(plain.len() + 16, 0);
    let n = ctx.protect_rtp(&mut buf, plain.len()).unwrap();
    buf.truncate(n);
    buf
}

fn protect_rtcp(ctx: &mut SrtpContext, plain: &[u8]) -> Vec<u8> {
    let mut buf = plain.to_vec();
    buf.resize(plain.len() + 16, 0);
    let n = ctx.protect_rtcp(&mut buf, plain.len()).unwrap();
    buf.truncate(n);
    buf
}

#[test]
fn rfc3711_b2_aes_cm_keystream() {
    let key = ctr_key(&array("2B7E151628AED2A6ABF7158809CF4F3C"));
    let mut iv = [0u8; 16];
    iv[..14].copy_from_slice(&hex("F0F1F2F3F4F5F6F7F8F9FAFBFCFD"));
    // The RFC's segment is 65282 blocks; its last three blocks check the 16-bit carry.
    let mut stream = vec![0u8; 65282 * 16];
    aes_cm(&key, iv, &mut stream);
    assert_eq!(
        stream[..48],
        hex(
            "E03EAD0935C95E80E166B16DD92B4EB4 D23513162B02D0F72A43A2FE4A5F97AB
             41E95B3BB0A2E8DD477901E4FCA894C0"
        )[..]
    );
    assert_eq!(
        stream[0xFEFF * 16..],
        hex(
            "EC8CDF7398607CB0F2D21675EA9EA1E4 362B7C3C6773516318A077D7FC5073AE
             6A2CC3787889374FBEB4C81B17BA6C44"
        )[..]
    );
}

#[test]
fn rfc3711_b2_iv_is_the_shifted_salt_for_ssrc_and_index_zero() {
    let keys = SessionKeys::derive(&rfc_master(), 0);
    let mut want = [0u8; 16];
    want[..14].copy_from_slice(&keys.salt);
    assert_eq!(keys.iv(0, 0), want);
    // SSRC lands in bytes 4..8 and the 48-bit index in bytes 8..14.
    let iv = keys.iv(0x0102_0304, 0x0A0B_0C0D_0E0F);
    assert_eq!(
        iv[4..8],
        [
            0x01 ^ want[4],
            0x02 ^ want[5],
            0x03 ^ want[6],
            0x04 ^ want[7]
        ]
    );
    assert_eq!(iv[8] ^ want[8], 0x0A);
    assert_eq!(iv[13] ^ want[13], 0x0F);
    assert_eq!(iv[14..], [0, 0]);
}

#[test]
fn rfc3711_b3_key_derivation() {
    let master = rfc_master();
    let prf = ctr_key(&master.key);
    let mut enc = [0u8; 16];
    derive(&prf, &master.salt, LABEL_ENC, &mut enc);
    assert_eq!(enc.to_vec(), hex("C61E7A93744F39EE10734AFE3FF7A087"));
    let mut salt = [0u8; 14];
    derive(&prf, &master.salt, LABEL_SALT, &mut salt);
    assert_eq!(salt.to_vec(), hex("30CBBC08863D8C85D49DB34A9AE1"));
    // The RFC lists 94 bytes of auth keystream; we use the first 20.
    let mut auth = [0u8; 94];
    derive(&prf, &master.salt, LABEL_AUTH, &mut auth);
    assert_eq!(
        auth.to_vec(),
        hex(
            "CEBE321F6FF7716B6FD4AB49AF256A15 6D38BAA48F0A0ACF3C34E2359E6CDBCE
             E049646C43D9327AD175578EF7227098 6371C10C9A369AC2F94A8C5FBCDDDC25
             6D6E919A48B610EF17C2041E47403576 6B68642C59BBFC2F34DB60DBDFB2"
        )
    );
}

/// libsrtp's reference packet (test/srtp_driver.c): SSRC 0xCAFEBABE, seq 0x1234, 16 × 0xAB.
const LIBSRTP_PLAIN: &str = "800f1234decafbadcafebabe abababababababababababababababab";
const LIBSRTP_SRTP_80: &str =
    "800f1234decafbadcafebabe 4e55dc4ce79978d88ca4d215949d2402 b78d6acc99ea179b8dbb";

#[test]
fn protect_matches_the_libsrtp_reference_packet_for_both_suites() {
    let mut ctx = SrtpContext::new(SrtpSuite::AesCm128HmacSha1_80, &rfc_master());
    assert_eq!(protect(&mut ctx, &hex(LIBSRTP_PLAIN)), hex(LIBSRTP_SRTP_80));
    // _32 is the same HMAC truncated to 4 bytes.
    let mut ctx = SrtpContext::new(SrtpSuite::AesCm128HmacSha1_32, &rfc_master());
    let srtp = protect(&mut ctx, &hex(LIBSRTP_PLAIN));
    assert_eq!(srtp, hex(LIBSRTP_SRTP_80)[..hex(LIBSRTP_PLAIN).len() + 4]);
}

#[test]
fn unprotect_recovers_the_libsrtp_reference_packet() {
    let mut ctx = SrtpContext::new(SrtpSuite::AesCm128HmacSha1_80, &rfc_master());
    let mut buf = hex(LIBSRTP_SRTP_80);
    let n = ctx.unprotect_rtp(&mut buf).unwrap();
    assert_eq!(buf[..n], hex(LIBSRTP_PLAIN)[..]);
    assert_eq!(ctx.packets(), 1);
}

#[test]
fn srtcp_matches_the_libsrtp_reference_packet() {
    // libsrtp numbers its first SRTCP packet 1; RFC 3711 §3.4 starts at 0, so the
    // reference packet is our second.
    let plain = hex("81c8000bcafebabe abababababababababababababababab");
    let mut ctx = SrtpContext::new(SrtpSuite::AesCm128HmacSha1_80, &rfc_master());
    let first = protect_rtcp(&mut ctx, &plain);
    assert_eq!(first[first.len() - 14..first.len() - 10], [0x80, 0, 0, 0]);
    let srtcp = protect_rtcp(&mut ctx, &plain);
    assert_eq!(
        srtcp,
        hex("81c8000bcafebabe 7128035be487b9bdbef89041f977a5a8 80000001 993e08cd54d6c1230798")
    );
    // _32 keeps the 80-bit SRTCP tag (RFC 4568 §6.2.2).
    let mut ctx32 = SrtpContext::new(SrtpSuite::AesCm128HmacSha1_32, &rfc_master());
    let _ = protect_rtcp(&mut ctx32, &plain);
    assert_eq!(protect_rtcp(&mut ctx32, &plain), srtcp);

    let mut rx = SrtpContext::new(SrtpSuite::AesCm128HmacSha1_80, &rfc_master());
    let mut buf = srtcp.clone();
    let n = rx.unprotect_rtcp(&mut buf).unwrap();
    assert_eq!(buf[..n], plain[..]);
    let mut again = srtcp;
    assert_eq!(rx.unprotect_rtcp(&mut again), Err(SrtpError::Replayed));
}

#[test]
fn srtcp_without_the_e_bit_is_authenticated_but_not_decrypted() {
    let key = rfc_master();
    let rx_keys = SessionKeys::derive(&key, LABEL_RTCP);
    let mut pkt = hex("81c9000712345678 00112233445566778899aabbccddeeff");
    let len = pkt.len();
    pkt.extend_from_slice(&5u32.to_be_bytes()); // E = 0, index 5
    let tag = rx_keys.tag([&pkt, &[]]);
    pkt.extend_from_slice(&tag.as_ref()[..10]);
    let mut rx = SrtpContext::new(SrtpSuite::AesCm128HmacSha1_80, &key);
    let n = rx.unprotect_rtcp(&mut pkt).unwrap();
    assert_eq!(n, len);
    assert_eq!(
        pkt[..n],
        hex("81c9000712345678 00112233445566778899aabbccddeeff")[..]
    );
}

#[test]
fn round_trip_across_the_sequence_rollover() {
    for suite in SrtpSuite::ALL {
        let key = MasterKey::from_bytes(&[7; 30]);
        let mut tx = SrtpContext::new(suite, &key);
        let mut rx = SrtpContext::new(suite, &key);
        let mut seq = 65_500u16;
        for i in 0..200u32 {
            let payload = [i as u8; 160];
            let plain = rtp_packet(seq, 0x1122_3344, &payload);
            let mut buf = protect(&mut tx, &plain);
            assert_eq!(buf.len(), plain.len() + suite.rtp_tag_len());
            assert_ne!(buf[12..172], payload[..], "payload must be encrypted");
            let n = rx.unprotect_rtp(&mut buf).unwrap();
            assert_eq!(buf[..n], plain[..], "packet {i} of {suite:?}");
            seq = seq.wrapping_add(1);
        }
        // Both sides moved the ROC to 1 at the wrap.
        let slot = rx.find(0x1122_3344).unwrap();
        assert_eq!(
            (rx.ssrcs[slot].roc, rx.ssrcs[slot].s_l),
            (1, seq.wrapping_sub(1))
        );
        assert_eq!(rx.packets(), 200);
    }
}

#[test]
fn a_reordered_packet_from_before_the_wrap_still_decrypts() {
    let key = MasterKey::from_bytes(&[3; 30]);
    let mut tx = SrtpContext::new(SrtpSuite::AesCm128HmacSha1_80, &key);
    let mut rx = SrtpContext::new(SrtpSuite::AesCm128HmacSha1_80, &key);
    let mut first = protect(&mut tx, &rtp_packet(65_534, 9, b"first"));
    let mut late = protect(&mut tx, &rtp_packet(65_535, 9, b"late"));
    let mut after = protect(&mut tx, &rtp_packet(0, 9, b"after"));
    // rx sees 65534, then 0 (ROC moves to 1), then the late 65535 (ROC 0 again).
    assert!(rx.unprotect_rtp(&mut first).is_ok());
    let n = rx.unprotect_rtp(&mut after).unwrap();
    assert_eq!(&after[12..n], b"after");
    let n = rx.unprotect_rtp(&mut late).unwrap();
    assert_eq!(&late[12..n], b"late");
}

#[test]
fn a_tampered_packet_fails_authentication_and_changes_nothing() {
    let key = MasterKey::from_bytes(&[9; 30]);
    let mut tx = SrtpContext::new(SrtpSuite::AesCm128HmacSha1_80, &key);
    let mut rx = SrtpContext::new(SrtpSuite::AesCm128HmacSha1_80, &key);
    let good = protect(&mut tx, &rtp_packet(100, 5, &[1; 160]));
    for at in [1, 3, 11, 12, 100, good.len() - 1] {
        let mut bad = good.clone();
        bad[at] ^= 0x01;
        assert_eq!(
            rx.unprotect_rtp(&mut bad),
            Err(SrtpError::AuthFailed),
            "byte {at}"
        );
    }
    assert_eq!(rx.packets(), 0);
    assert!(
        rx.find(5).is_none(),
        "a forged packet must not create SSRC state"
    );
    let mut ok = good.clone();
    assert!(rx.unprotect_rtp(&mut ok).is_ok());
}

#[test]
fn the_wrong_key_fails_authentication() {
    let mut tx = SrtpContext::new(
        SrtpSuite::AesCm128HmacSha1_80,
        &MasterKey::from_bytes(&[1; 30]),
    );
    let mut rx = SrtpContext::new(
        SrtpSuite::AesCm128HmacSha1_80,
        &MasterKey::from_bytes(&[2; 30]),
    );
    let mut pkt = protect(&mut tx, &rtp_packet(1, 5, &[0; 160]));
    assert_eq!(rx.unprotect_rtp(&mut pkt), Err(SrtpError::AuthFailed));
    let mut rtcp = protect_rtcp(
        &mut tx,
        &hex("80c8000600000005 00000000000000000000000000000000 0000000000000000"),
    );
    assert_eq!(rx.unprotect_rtcp(&mut rtcp), Err(SrtpError::AuthFailed));
}

#[test]
fn replay_window_refuses_duplicates_and_packets_64_behind() {
    let key = MasterKey::from_bytes(&[4; 30]);
    let mut tx = SrtpContext::new(SrtpSuite::AesCm128HmacSha1_32, &key);
    let mut rx = SrtpContext::new(SrtpSuite::AesCm128HmacSha1_32, &key);
    let packets: Vec<Vec<u8>> = (0..100u16)
        .map(|s| protect(&mut tx, &rtp_packet(s, 1, &[0; 20])))
        .collect();
    let mut p10 = packets[10].clone();
    assert!(rx.unprotect_rtp(&mut p10).is_ok());
    let mut p10 = packets[10].clone();
    assert_eq!(rx.unprotect_rtp(&mut p10), Err(SrtpError::Replayed));
    let mut p99 = packets[99].clone();
    assert!(rx.unprotect_rtp(&mut p99).is_ok());
    // 99 - 36 = 63: still inside the window; 99 - 35 = 64: behind it.
    let mut p36 = packets[36].clone();
    assert!(rx.unprotect_rtp(&mut p36).is_ok());
    let mut p35 = packets[35].clone();
    assert_eq!(rx.unprotect_rtp(&mut p35), Err(SrtpError::TooOld));
    let mut p10 = packets[10].clone();
    assert_eq!(rx.unprotect_rtp(&mut p10), Err(SrtpError::TooOld));
}

#[test]
fn the_key_lifetime_is_enforced() {
    let key = MasterKey::from_bytes(&[5; 30]);
    let mut tx = SrtpContext::new(SrtpSuite::AesCm128HmacSha1_80, &key).with_lifetime(Some(2));
    let mut buf = rtp_packet(1, 1, &[0; 10]);
    let len = buf.len();
    buf.resize(len + 10, 0);
    assert!(tx.protect_rtp(&mut buf, len).is_ok());
    assert!(tx.protect_rtp(&mut buf, len).is_ok());
    assert_eq!(tx.protect_rtp(&mut buf, len), Err(SrtpError::KeyExpired));
}

#[test]
fn hostile_bytes_are_errors_never_panics() {
    let key = MasterKey::from_bytes(&[6; 30]);
    let mut rx = SrtpContext::new(SrtpSuite::AesCm128HmacSha1_80, &key);
    let mut seed = 0x1234_5678u32;
    for len in 0..300 {
        let mut junk: Vec<u8> = (0..len)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 17;
                seed ^= seed << 5;
                seed as u8
            })
            .collect();
        let mut junk2 = junk.clone();
        assert!(rx.unprotect_rtp(&mut junk).is_err());
        assert!(rx.unprotect_rtcp(&mut junk2).is_err());
    }
    // Headers whose CSRC count or extension length point past the end.
    let mut csrc = hex("8f00000100000000000000010000000000000000000000");
    assert!(matches!(
        rx.unprotect_rtp(&mut csrc),
        Err(SrtpError::Truncated(_))
    ));
    let mut ext = hex("9000000100000000000000010000ffff00000000000000000000");
    assert!(matches!(
        rx.unprotect_rtp(&mut ext),
        Err(SrtpError::Truncated(_))
    ));
    // Protect refuses a buffer without room for the tag, and non-RTP.
    let mut tx = SrtpContext::new(SrtpSuite::AesCm128HmacSha1_80, &key);
    let mut tight = rtp_packet(1, 1, &[0; 4]);
    let len = tight.len();
    assert_eq!(
        tx.protect_rtp(&mut tight, len),
        Err(SrtpError::BufferTooSmall("SRTP tag"))
    );
    let mut v1 = vec![0x40; 40];
    assert_eq!(tx.protect_rtp(&mut v1, 20), Err(SrtpError::BadVersion(1)));
    assert_eq!(
        tx.protect_rtp(&mut v1, 60),
        Err(SrtpError::BufferTooSmall("RTP packet"))
    );
}

#[test]
fn header_extensions_and_csrcs_stay_in_the_clear() {
    let key = MasterKey::from_bytes(&[8; 30]);
    let mut tx = SrtpContext::new(SrtpSuite::AesCm128HmacSha1_80, &key);
    let mut rx = SrtpContext::new(SrtpSuite::AesCm128HmacSha1_80, &key);
    // CC = 1, X = 1 with one extension word, then 4 payload bytes.
    let plain = hex("91000007 00000000 00000042 0000aaaa bede0001 11223344 deadbeef");
    let srtp = protect(&mut tx, &plain);
    assert_eq!(srtp[..24], plain[..24]);
    assert_ne!(srtp[24..28], plain[24..28]);
    let mut buf = srtp;
    let n = rx.unprotect_rtp(&mut buf).unwrap();
    assert_eq!(buf[..n], plain[..]);
}

#[test]
fn ssrcs_past_the_table_replace_the_least_recently_used() {
    let key = MasterKey::from_bytes(&[2; 30]);
    let mut tx = SrtpContext::new(SrtpSuite::AesCm128HmacSha1_80, &key);
    let mut rx = SrtpContext::new(SrtpSuite::AesCm128HmacSha1_80, &key);
    for ssrc in 1..=6u32 {
        let mut p = protect(&mut tx, &rtp_packet(10, ssrc, &[0; 8]));
        assert!(rx.unprotect_rtp(&mut p).is_ok(), "ssrc {ssrc}");
    }
    assert!(rx.find(1).is_none() && rx.find(2).is_none());
    assert!((3..=6).all(|s| rx.find(s).is_some()));
}

// ---- a=crypto --------------------------------------------------------------------------

const RFC4568_KEY: &str = "WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz";

#[test]
fn crypto_line_parses_rfc4568_example_and_formats_back() {
    let line = format!("a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{RFC4568_KEY}|2^20\r\n");
    let attr = CryptoAttribute::parse(&line).unwrap();
    assert_eq!(attr.tag, 1);
    assert_eq!(attr.suite, SrtpSuite::AesCm128HmacSha1_80);
    assert_eq!(attr.lifetime, Some(1 << 20));
    assert_eq!(&attr.key.to_bytes()[..5], b"YS___");
    assert_eq!(attr.to_string(), line.trim_end());
    // Without prefix, decimal lifetime, _32, and the harmless session params.
    let attr = CryptoAttribute::parse(&format!(
        "7 AES_CM_128_HMAC_SHA1_32 inline:{RFC4568_KEY}|1000 KDR=0 WSH=128"
    ))
    .unwrap();
    assert_eq!(
        (attr.tag, attr.suite, attr.lifetime),
        (7, SrtpSuite::AesCm128HmacSha1_32, Some(1000))
    );
    assert_eq!(
        attr.to_string(),
        format!("a=crypto:7 AES_CM_128_HMAC_SHA1_32 inline:{RFC4568_KEY}|1000")
    );
}

#[test]
fn crypto_line_refusals_name_the_reason() {
    use CryptoLineError as E;
    let k = RFC4568_KEY;
    let cases: Vec<(String, E)> = vec![
        ("a=crypto:".into(), E::Missing("tag")),
        (
            "a=crypto:x AES_CM_128_HMAC_SHA1_80 inline:k".into(),
            E::BadTag,
        ),
        (
            "a=crypto:1234567890 AES_CM_128_HMAC_SHA1_80 inline:k".into(),
            E::BadTag,
        ),
        ("a=crypto:1".into(), E::Missing("crypto suite")),
        (
            format!("a=crypto:1 AES_256_CM_HMAC_SHA1_80 inline:{k}"),
            E::UnsupportedSuite("AES_256_CM_HMAC_SHA1_80".into()),
        ),
        (
            "a=crypto:1 AES_CM_128_HMAC_SHA1_80".into(),
            E::Missing("key parameters"),
        ),
        (
            format!("a=crypto:1 AES_CM_128_HMAC_SHA1_80 uri:{k}"),
            E::NotInline,
        ),
        (
            "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:c2hvcnQ=".into(),
            E::BadKey,
        ),
        (
            "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:!!!!".into(),
            E::BadKey,
        ),
        (
            format!("a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{k}AAAA"),
            E::BadKey,
        ),
        (
            format!("a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{k}|2^20|1:4"),
            E::MkiUnsupported,
        ),
        (
            format!("a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{k}|2^99"),
            E::BadLifetime,
        ),
        (
            format!("a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{k}|0"),
            E::BadLifetime,
        ),
        (
            format!("a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{k}|2^20|2^10"),
            E::BadLifetime,
        ),
        (
            format!("a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{k};inline:{k}"),
            E::SeveralKeys,
        ),
        (
            format!("a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{k} UNENCRYPTED_SRTP"),
            E::UnsupportedSessionParam("UNENCRYPTED_SRTP".into()),
        ),
        (
            format!("a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{k} KDR=1"),
            E::UnsupportedSessionParam("KDR=1".into()),
        ),
    ];
    for (line, want) in cases {
        assert_eq!(CryptoAttribute::parse(&line), Err(want), "{line}");
    }
}

#[test]
fn first_supported_skips_lines_we_cannot_use() {
    let lines = [
        format!("a=crypto:1 AEAD_AES_256_GCM inline:{RFC4568_KEY}"),
        format!("a=crypto:2 AES_CM_128_HMAC_SHA1_32 inline:{RFC4568_KEY}"),
    ];
    let attr = CryptoAttribute::first_supported(lines.iter().map(String::as_str)).unwrap();
    assert_eq!(attr.tag, 2);
    let none = CryptoAttribute::first_supported(lines[..1].iter().map(String::as_str));
    assert!(matches!(none, Err(CryptoLineError::UnsupportedSuite(_))));
    assert_eq!(
        CryptoAttribute::first_supported([]),
        Err(CryptoLineError::Missing("a=crypto line"))
    );
}

#[test]
fn sdes_keys_from_both_lines_make_a_working_pair() {
    // Each side sends under the key in its own a=crypto line.
    let ours = CryptoAttribute {
        tag: 1,
        suite: SrtpSuite::AesCm128HmacSha1_80,
        key: MasterKey::from_bytes(&[0x42; 30]),
        lifetime: None,
    };
    let seen_by_peer = CryptoAttribute::parse(&ours.to_string()).unwrap();
    assert_eq!(seen_by_peer, ours);
    let mut tx = SrtpContext::new(ours.suite, &ours.key);
    let mut rx = SrtpContext::new(seen_by_peer.suite, &seen_by_peer.key);
    let mut p = protect(&mut tx, &rtp_packet(1, 1, &[0x55; 160]));
    assert!(rx.unprotect_rtp(&mut p).is_ok());
}

/// RFC 7714 AES-GCM (DTLS-SRTP only): RTP and SRTCP round trips for both key sizes, a
/// flipped bit fails authentication, a replay is refused.
#[test]
fn aes_gcm_contexts_round_trip_and_authenticate() {
    for (suite, key_len) in [
        (SrtpSuite::AeadAes128Gcm, 16usize),
        (SrtpSuite::AeadAes256Gcm, 32),
    ] {
        let key: Vec<u8> = (0..key_len as u8).collect();
        let salt = [7u8; 12];
        let mut tx = SrtpContext::new_gcm(suite, &key, &salt).unwrap();
        let mut rx = SrtpContext::new_gcm(suite, &key, &salt).unwrap();
        let mut other = SrtpContext::new_gcm(suite, &key, &[8u8; 12]).unwrap();
        assert!(SrtpContext::new_gcm(suite, &key[..8], &salt).is_none());
        let mut buf = [0u8; 256];
        buf[0] = 0x80;
        buf[2..4].copy_from_slice(&5u16.to_be_bytes());
        buf[8..12].copy_from_slice(&0xABCD_u32.to_be_bytes());
        buf[12..172].fill(0x55);
        let n = tx.protect_rtp(&mut buf, 172).unwrap();
        assert_eq!(n, 188, "16-byte tag");
        assert_ne!(&buf[12..172], &[0x55; 160][..], "encrypted");
        let mut wrong = buf;
        assert_eq!(
            other.unprotect_rtp(&mut wrong[..n]),
            Err(SrtpError::AuthFailed)
        );
        let mut copy = buf;
        assert_eq!(rx.unprotect_rtp(&mut buf[..n]).unwrap(), 172);
        assert_eq!(&buf[12..172], &[0x55; 160][..]);
        assert_eq!(rx.unprotect_rtp(&mut copy[..n]), Err(SrtpError::Replayed));
        // SRTCP: header, ciphertext, tag, E-bit/index.
        let mut r = [0u8; 128];
        r[0] = 0x80;
        r[1] = 201;
        r[4..8].copy_from_slice(&0xABCD_u32.to_be_bytes());
        r[8..32].fill(0x33);
        let n = tx.protect_rtcp(&mut r, 32).unwrap();
        assert_eq!(n, 32 + 16 + 4);
        assert_eq!(r[n - 4] & 0x80, 0x80, "E bit last");
        let mut flipped = r;
        flipped[10] ^= 1;
        assert_eq!(
            rx.unprotect_rtcp(&mut flipped[..n]),
            Err(SrtpError::AuthFailed)
        );
        assert_eq!(rx.unprotect_rtcp(&mut r[..n]).unwrap(), 32);
        assert_eq!(&r[8..32], &[0x33; 24][..]);
    }
}
