//! `-media_srtp` in virtual time: two engines negotiate SDES through SIPp's keywords, a
//! WAV stream goes out as SRTP, is echoed as SRTP by the other side and comes back; RTCP
//! leaves as SRTCP; a wrong key or a bit flipped is counted and dropped; the policies
//! without SDES refuse or hold back media.

use super::*;
use crate::media::RTCP_INTERVAL;
use crate::media::srtp::{CHOOSE, REJECTED, SrtpPolicy};

/// Our SDP with `a=crypto` lines rendered from `e`'s keywords for `call` (our media on
/// `port`): `lines` are (tag keyword, suite keyword, key keyword) names.
fn crypto_sdp(e: &mut MediaEngine, call: u64, port: u16, lines: &[(&str, &str, &str)]) -> Vec<u8> {
    let mut out = format!(
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio {port} RTP/SAVP 0 101\r\n"
    )
    .into_bytes();
    for (tag, suite, key) in lines {
        out.extend_from_slice(b"a=crypto:");
        e.write_crypto_keyword(call, b"c", tag, &mut out);
        out.push(b' ');
        e.write_crypto_keyword(call, b"c", suite, &mut out);
        out.extend_from_slice(b" inline:");
        e.write_crypto_keyword(call, b"c", key, &mut out);
        out.extend_from_slice(b"\r\n");
    }
    out
}

fn sdes(rtcp: bool) -> MediaConfig {
    MediaConfig {
        srtp: SrtpPolicy::Sdes,
        rtcp_interval: rtcp.then_some(RTCP_INTERVAL),
        ..Default::default()
    }
}

const A_ADDR: &str = "127.0.0.1:4000";
const B_ADDR: &str = "127.0.0.1:5000";

/// A offers two lines (80 then 32), B answers the first; A streams 1 s of tone, B echoes.
fn negotiated(rtcp: bool) -> (MediaEngine, MediaEngine) {
    let t0 = crate::sim::epoch();
    let mut a = engine(t0, sdes(rtcp));
    let mut b = MediaEngine::new(t0, Arc::new(library()), sdes(rtcp), 99);
    let offer = crypto_sdp(
        &mut a,
        1,
        4000,
        &[
            (
                "cryptotag1audio",
                "cryptosuiteaescm128sha1801audio",
                "cryptokeyparams1audio",
            ),
            (
                "cryptotag2audio",
                "cryptosuiteaescm128sha1322audio",
                "cryptokeyparams2audio",
            ),
        ],
    );
    assert_eq!(b.handle_sip(1, b"c", &offer), None);
    let answer = crypto_sdp(
        &mut b,
        1,
        5000,
        &[(
            "cryptotag1audio",
            "cryptosuiteaescm128sha1801audio",
            "cryptokeyparams1audio",
        )],
    );
    assert_eq!(a.handle_sip(1, b"c", &answer), None);
    let text = String::from_utf8(offer).unwrap();
    assert!(
        text.contains("a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:")
            && text.contains("a=crypto:2 AES_CM_128_HMAC_SHA1_32 inline:"),
        "{text}"
    );
    (a, b)
}

/// Runs both engines for `ms`: A's packets go to B, B's (echoes, RTCP) back to A, each
/// delivered 1 ms later. Returns what A sent.
fn exchange(
    a: &mut MediaEngine,
    b: &mut MediaEngine,
    ms: u64,
    mut tamper: impl FnMut(&mut Vec<u8>),
) -> Vec<Vec<u8>> {
    let t0 = crate::sim::epoch();
    let mut sent_by_a = Vec::new();
    let wall = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    for i in 0..ms {
        let t = t0 + Duration::from_millis(i);
        for a_sends in [true, false] {
            let (from, to, src) = if a_sends {
                (&mut *a, &mut *b, A_ADDR)
            } else {
                (&mut *b, &mut *a, B_ADDR)
            };
            from.handle_timeout(t, wall);
            let mut tx = MediaTx::default();
            while from.poll_transmit(&mut tx) {
                for item in tx.items() {
                    let mut bytes = tx.bytes(item).to_vec();
                    if a_sends {
                        sent_by_a.push(bytes.clone());
                        tamper(&mut bytes);
                    }
                    to.handle_datagram(t, src.parse().unwrap(), &bytes);
                }
                tx.clear();
            }
        }
    }
    sent_by_a
}

#[test]
fn an_sdes_call_streams_and_echoes_srtp_both_ways() {
    let t0 = crate::sim::epoch();
    let (mut a, mut b) = negotiated(true);
    command(&mut a, t0, 1, b"c", "rtp_stream", "tone.wav,1,0").unwrap();
    command(&mut b, t0, 1, b"c", "rtp_echo", "startaudio").unwrap();
    let sent = exchange(&mut a, &mut b, 1300, |_| {});
    let rtp: Vec<&Vec<u8>> = sent.iter().filter(|p| !looks_like_rtcp(p)).collect();
    assert_eq!(rtp.len(), 50);
    // 12 header + 160 PCMU + the 10-byte tag of AES_CM_128_HMAC_SHA1_80.
    assert!(rtp.iter().all(|p| p.len() == 182), "SRTP sizes");
    let plain = tone();
    let first = RtpPacket::parse(rtp[0]).unwrap();
    let mut clear = [0u8; 160];
    G711Law::MuLaw.encode_slice(&plain[..160], &mut clear);
    assert_ne!(
        &first.payload[..160],
        &clear[..],
        "the payload is encrypted"
    );
    let srtcp = sent.iter().filter(|p| looks_like_rtcp(p)).count();
    assert!(srtcp >= 2, "SR every 500 ms, as SRTCP: {srtcp}");
    let (sa, sb) = (a.stats(), b.stats());
    assert_eq!(sb.rtp_packets_received, 50, "B decrypts every packet");
    assert_eq!(sa.rtp_packets_received, 50, "A decrypts every echo");
    assert!(sb.rtcp_packets_received >= 2 && sa.rtcp_packets_received >= 2);
    for s in [sa, sb] {
        assert_eq!(s.srtp_auth_failures, 0);
        assert_eq!(s.srtp_dropped, 0);
    }
    let media = a.end_call(1).unwrap().media;
    assert_eq!(
        (media.rtp_packets_sent, media.rtp_packets_received),
        (50, 50)
    );
}

#[test]
fn a_wrong_key_or_a_flipped_bit_is_counted_and_dropped() {
    let t0 = crate::sim::epoch();
    let (mut a, mut b) = negotiated(false);
    command(&mut a, t0, 1, b"c", "rtp_stream", "tone.wav,1,0").unwrap();
    let mut n = 0;
    exchange(&mut a, &mut b, 1100, |p| {
        n += 1;
        if n % 2 == 0 {
            let last = p.len() - 1;
            p[last] ^= 1;
        }
    });
    let s = b.stats();
    assert_eq!(s.srtp_auth_failures, 25);
    assert_eq!(
        s.rtp_packets_received, 25,
        "the untouched half still arrives"
    );

    // B believes a key A never sent: every packet fails, nothing else does.
    let (mut a, mut b) = negotiated(false);
    // Another shard's generator: another key.
    let mut other = MediaEngine::new(t0, Arc::new(library()), sdes(false), 1234);
    let wrong = crypto_sdp(
        &mut other,
        1,
        4000,
        &[(
            "cryptotag1audio",
            "cryptosuiteaescm128sha1801audio",
            "cryptokeyparams1audio",
        )],
    );
    assert_eq!(
        b.handle_sip(1, b"c", &wrong),
        None,
        "a re-offer with a new key"
    );
    command(&mut a, t0, 1, b"c", "rtp_stream", "tone.wav,1,0").unwrap();
    exchange(&mut a, &mut b, 1100, |_| {});
    let s = b.stats();
    assert_eq!((s.srtp_auth_failures, s.rtp_packets_received), (50, 0));
    assert!(b.end_call(1).is_some(), "the call still ends");
    // Garbage on the port: no panic, counted.
    let (_, mut b) = negotiated(false);
    for g in [
        &[][..],
        &[0x80][..],
        &[0x80; 11][..],
        &[0x80; 40][..],
        &[0xFF; 300][..],
    ] {
        b.handle_datagram(t0, A_ADDR.parse().unwrap(), g);
    }
    let s = b.stats();
    assert_eq!(s.rtp_packets_received, 0);
}

#[test]
fn without_sdes_an_srtp_offer_is_refused_or_holds_media_back() {
    let t0 = crate::sim::epoch();
    let mut offerer = engine(t0, sdes(false));
    let offer = crypto_sdp(
        &mut offerer,
        1,
        4000,
        &[(
            "cryptotag1audio",
            "cryptosuiteaescm128sha1801audio",
            "cryptokeyparams1audio",
        )],
    );
    let mut reject = engine(
        t0,
        MediaConfig {
            srtp: SrtpPolicy::Reject,
            ..quiet()
        },
    );
    assert_eq!(reject.handle_sip(1, b"c", &offer), Some(REJECTED.into()));
    let mut off = engine(t0, quiet());
    assert_eq!(off.handle_sip(1, b"c", &offer), None);
    assert_eq!(
        command(&mut off, t0, 1, b"c", "rtp_stream", "tone.wav,1,0"),
        Err(CHOOSE.into())
    );
    // Keywords write nothing without -media_srtp (the run refuses them when it loads).
    let mut out = Vec::new();
    off.write_crypto_keyword(1, b"c", "cryptokeyparams1audio", &mut out);
    assert!(out.is_empty());
    // A malformed fingerprint fails the call, named.
    let mut s = engine(t0, sdes(false));
    let dtls = b"v=0\r\nc=IN IP4 127.0.0.1\r\nm=audio 4000 UDP/TLS/RTP/SAVP 0\r\na=fingerprint:sha-256 AB:CD\r\n";
    assert!(
        s.handle_sip(1, b"c", dtls)
            .unwrap()
            .contains("a=fingerprint")
    );
}

/// Our SDP for DTLS-SRTP (`a=fingerprint:[srtp_fingerprint]`, `a=setup:[srtp_setup]`).
fn dtls_sdp(e: &mut MediaEngine, call: u64, port: u16) -> Vec<u8> {
    let mut out = format!(
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio {port} RTP/SAVP 0\r\na=fingerprint:"
    )
    .into_bytes();
    e.write_dtls_keyword(call, b"c", true, &mut out);
    out.extend_from_slice(b"\r\na=setup:");
    e.write_dtls_keyword(call, b"c", false, &mut out);
    out.extend_from_slice(b"\r\n");
    out
}

/// DTLS-SRTP without ICE on the media port: A offers actpass, B answers active and
/// opens the handshake; the exported keys (AES-GCM: dimpl's server picks it) protect the
/// tone, which B echoes back. Nothing leaves in the clear before the keys.
#[test]
fn a_dtls_srtp_call_handshakes_on_the_media_port_then_streams_srtp() {
    let t0 = crate::sim::epoch();
    let mut a = engine(t0, sdes(true));
    let mut b = MediaEngine::new(t0, Arc::new(library()), sdes(true), 99);
    let offer = dtls_sdp(&mut a, 1, 4000);
    let text = String::from_utf8(offer.clone()).unwrap();
    assert!(
        text.contains("a=setup:actpass") && text.contains("a=fingerprint:sha-256 "),
        "{text}"
    );
    assert_eq!(b.handle_sip(1, b"c", &offer), None);
    let answer = dtls_sdp(&mut b, 1, 5000);
    assert!(String::from_utf8_lossy(&answer).contains("a=setup:active"));
    assert_eq!(a.handle_sip(1, b"c", &answer), None);
    command(&mut a, t0, 1, b"c", "rtp_stream", "tone.wav,1,0").unwrap();
    command(&mut b, t0, 1, b"c", "rtp_echo", "startaudio").unwrap();
    let sent = exchange(&mut a, &mut b, 1300, |_| {});
    assert!(
        sent.iter().any(|p| p.first() == Some(&22)),
        "A's DTLS handshake records left by the media port"
    );
    let rtp: Vec<&Vec<u8>> = sent
        .iter()
        .filter(|p| p.first().is_some_and(|b| (128..192).contains(b)) && !looks_like_rtcp(p))
        .collect();
    assert!(
        rtp.len() >= 45,
        "the tone leaves once keyed: {} {:?} {:?} {:?}",
        rtp.len(),
        a.poll_failed_call(),
        b.poll_failed_call(),
        sent.iter()
            .map(|p| (p[0], p.len()))
            .take(12)
            .collect::<Vec<_>>()
    );
    assert!(
        rtp.iter().all(|p| p.len() == 188),
        "as SRTP with a 16-byte GCM tag"
    );
    assert_eq!(a.poll_failed_call(), None);
    assert_eq!(b.poll_failed_call(), None);
    let (sa, sb) = (a.stats(), b.stats());
    assert_eq!(
        sb.rtp_packets_received,
        rtp.len() as u64,
        "B decrypts what A sent"
    );
    assert_eq!(
        sa.rtp_packets_received,
        rtp.len() as u64,
        "A decrypts the echoes"
    );
    assert!(sb.rtcp_packets_received >= 2, "SRTCP: {sb:?}");
    for s in [sa, sb] {
        assert_eq!(s.srtp_auth_failures, 0);
    }
}

/// A peer whose certificate does not match its `a=fingerprint`: the handshake fails,
/// the call is handed back to fail, and no RTP leaves.
#[test]
fn a_dtls_fingerprint_mismatch_fails_the_call() {
    let t0 = crate::sim::epoch();
    let mut a = engine(t0, sdes(false));
    let mut b = MediaEngine::new(t0, Arc::new(library()), sdes(false), 99);
    let offer = dtls_sdp(&mut a, 1, 4000);
    assert_eq!(b.handle_sip(1, b"c", &offer), None);
    let answer = dtls_sdp(&mut b, 1, 5000);
    // A believes another certificate.
    let mut other = MediaEngine::new(t0, Arc::new(library()), sdes(false), 5);
    let forged = dtls_sdp(&mut other, 1, 5000);
    let fp = |sdp: &[u8]| {
        String::from_utf8_lossy(sdp)
            .lines()
            .find(|l| l.starts_with("a=fingerprint:"))
            .unwrap()
            .to_owned()
    };
    let answer = String::from_utf8_lossy(&answer).replace(&fp(&answer), &fp(&forged));
    assert_eq!(a.handle_sip(1, b"c", answer.as_bytes()), None);
    command(&mut a, t0, 1, b"c", "rtp_stream", "tone.wav,1,0").unwrap();
    let sent = exchange(&mut a, &mut b, 600, |_| {});
    assert!(
        sent.iter()
            .all(|p| !p.first().is_some_and(|b| (128..192).contains(b))),
        "no RTP in the clear"
    );
    let (id, why) = a.poll_failed_call().expect("A fails the call");
    assert_eq!(&*id, b"c");
    assert!(why.contains("fingerprint"), "{why}");
}

/// Answering, SIPp's tag and suite keywords echo the offer's line we took (RFC 4568
/// §7.1.2): an SBC's offer whose first usable line is tag 7, _32.
#[test]
fn an_answer_echoes_the_tag_and_suite_of_the_line_taken() {
    let t0 = crate::sim::epoch();
    let mut b = engine(t0, sdes(false));
    let offer = b"v=0\r\nc=IN IP4 127.0.0.1\r\nm=audio 4000 RTP/SAVP 0\r\n\
a=crypto:3 AEAD_AES_256_GCM inline:AAAA\r\n\
a=crypto:7 AES_CM_128_HMAC_SHA1_32 inline:QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNk\r\n";
    assert_eq!(b.handle_sip(1, b"c", offer), None);
    let answer = crypto_sdp(
        &mut b,
        1,
        5000,
        &[(
            "cryptotag1audio",
            "cryptosuiteaescm128sha1801audio",
            "cryptokeyparams1audio",
        )],
    );
    let text = String::from_utf8(answer).unwrap();
    assert!(
        text.contains("a=crypto:7 AES_CM_128_HMAC_SHA1_32 inline:"),
        "{text}"
    );
}
