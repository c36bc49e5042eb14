//! SDES-SRTP of classic calls (`-media_srtp`, RFC 4568 `a=crypto` with RFC 3711 SRTP):
//! the keys a call offers, the suite and key the peer's SDP chose, and the two SRTP
//! contexts (ours for what we send, the peer's for what we receive).
//!
//! Owns: one [`CallSrtp`] per call with SRTP and the policy of the run ([`SrtpPolicy`]).
//! Must not: allocate per packet, read a clock or touch a socket. `MediaEngine` protects
//! each datagram it queues and unprotects each one it receives through these contexts,
//! in place; a packet that fails is counted (`srtp_auth_failures`, `srtp_dropped`) and
//! dropped, failing nothing else.
//!
//! Negotiation (SIPp's keywords): the scenario writes our `a=crypto` lines with
//! `[cryptotagNaudio] [cryptosuite…Naudio] inline:[cryptokeyparamsNaudio]` (N = 1 or 2);
//! key N is made for the call on first use. The peer's SDP gives its suite and key: when
//! we offered first, the tag it answers names the key we send with; when the peer
//! offered, we send with the first key our answer writes (key 1 if it writes none), in
//! the suite of the peer's first usable line. Keys come from the shard's seeded generator:
//! they are test keys, not secrets.

use gossipper_media::dtls_srtp::{DtlsSrtp, Fingerprint, SetupRole};
use gossipper_media::srtp::sdes::{CryptoAttribute, write_inline_key};
use gossipper_media::srtp::{MASTER_KEY_LEN, MASTER_SALT_LEN, MasterKey, SrtpContext, SrtpSuite};

use super::sdp::{self, SrtpHints};

/// What the run does with SRTP in the peer's SDP.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SrtpPolicy {
    /// Neither flag: an SDP that asks for SRTP makes `rtp_stream`, `rtp_echo` and pcap
    /// replays fail with a message naming both flags; plain RTP as before.
    #[default]
    Off,
    /// `-media_srtp`: SDES (`a=crypto`) is negotiated and every packet protected.
    Sdes,
    /// `-media_reject_srtp`: a call whose peer's SDP asks for SRTP fails.
    Reject,
}

/// Why a peer's SDP cannot be used; the call fails with it.
pub const REJECTED: &str = "the peer's SDP asks for SRTP and -media_reject_srtp is set";
pub const NO_CRYPTO: &str =
    "the peer's SDP has an RTP/SAVP stream without a usable a=crypto line (-media_srtp)";
pub const CHOOSE: &str =
    "the peer's SDP asks for SRTP: run with -media_srtp (SDES) or -media_reject_srtp";

/// A call's SRTP state.
#[derive(Debug, Default)]
pub(super) struct CallSrtp {
    /// Our master keys for `a=crypto` tags 1 and 2, made on first use.
    local: [Option<MasterKey>; 2],
    /// The key of our SDP the peer answered or our answer wrote first (0 or 1).
    tx_key: Option<usize>,
    /// We wrote a key before the peer's first `a=crypto` arrived: we offered.
    offered: bool,
    /// The suite the peer chose, once its SDP arrived.
    suite: Option<SrtpSuite>,
    /// The peer's line (to notice a re-INVITE that changes it).
    remote: Option<CryptoAttribute>,
    tx: Option<SrtpContext>,
    rx: Option<SrtpContext>,
    /// DTLS-SRTP: the `a=setup` role our SDP wrote (`actpass` when we offered).
    pub(super) setup: Option<SetupRole>,
    /// DTLS-SRTP: the peer's fingerprint and whether we are the DTLS client, until the
    /// media engine's next turn starts the handshake.
    pub(super) dtls_start: Option<(Fingerprint, bool)>,
    /// DTLS-SRTP: the peer's fingerprint the handshake runs (or ran) against.
    remote_fp: Option<Fingerprint>,
    /// DTLS-SRTP: the handshake, kept after it connects to answer a repeated last flight.
    pub(super) dtls: Option<Box<DtlsSrtp>>,
    /// The call's Call-ID, to fail it when its DTLS-SRTP set-up fails.
    pub(super) call_id: Box<[u8]>,
}

impl CallSrtp {
    /// Our key number `n` (1 or 2), made from `random` on first use: SIPp's
    /// `[cryptokeyparamsNaudio]`.
    pub(super) fn local_key(
        &mut self,
        n: usize,
        random: impl FnMut() -> u64,
    ) -> Option<&MasterKey> {
        let i = n.checked_sub(1).filter(|i| *i < 2)?;
        if self.remote.is_none() {
            self.offered = true;
        } else if self.tx_key.is_none() {
            // Answering: we send with the first key our answer writes.
            self.tx_key = Some(i);
        }
        let slot = self.local.get_mut(i)?;
        if slot.is_none() {
            *slot = Some(random_key(random));
        }
        slot.as_ref()
    }

    /// The peer's SDP `body` (with `hints` already read) under `-media_srtp`: takes its
    /// first usable `a=crypto` line of `m=audio`. `Err` names why the call cannot go on.
    pub(super) fn negotiate(
        &mut self,
        body: &[u8],
        hints: SrtpHints,
        random: impl FnMut() -> u64,
    ) -> Result<(), String> {
        if !hints.crypto {
            return if hints.fingerprint {
                self.negotiate_dtls(body)
            } else {
                Err(NO_CRYPTO.into())
            };
        }
        let attr = CryptoAttribute::first_supported(sdp::audio_crypto_lines(body))
            .map_err(|e| format!("{NO_CRYPTO}: {e}"))?;
        if self.remote.as_ref() == Some(&attr) {
            return Ok(());
        }
        let first = self.remote.is_none();
        self.rx = Some(SrtpContext::new(attr.suite, &attr.key).with_lifetime(attr.lifetime));
        if first && self.offered {
            // The answer's tag names the line of ours it took.
            let i = usize::try_from(attr.tag).unwrap_or(0).saturating_sub(1);
            self.tx_key = Some(i.min(1));
        }
        if self.suite != Some(attr.suite) {
            // A new suite (or the first): our context is built again at the next send.
            self.tx = None;
        }
        self.suite = Some(attr.suite);
        self.remote = Some(attr);
        // Key 1 exists even when the scenario writes none of our keywords (we then send
        // with a key the peer cannot know: its auth failures say so).
        if self.local[0].is_none() {
            self.local[0] = Some(random_key(random));
        }
        Ok(())
    }

    /// DTLS-SRTP (`a=fingerprint`, no `a=crypto`): the peer's fingerprint and our role
    /// (RFC 5763 §5); the handshake starts at the media engine's next turn. The same
    /// fingerprint again (a re-INVITE) changes nothing.
    fn negotiate_dtls(&mut self, body: &[u8]) -> Result<(), String> {
        let attr = |name: &str| {
            sdp::attribute_lines(body, name)
                .next()
                .map(|v| v.trim().to_owned())
        };
        let fp = attr("fingerprint").unwrap_or_default();
        let fp = Fingerprint::parse(&fp).map_err(|e| format!("a=fingerprint: {e}"))?;
        if self.remote_fp == Some(fp) {
            return Ok(());
        }
        let peer = match attr("setup") {
            Some(v) => SetupRole::parse(&v).ok_or_else(|| format!("a=setup:{v} is not a role"))?,
            // RFC 4145 §4: an answer without a=setup is active; an offer, actpass here.
            None if self.setup == Some(SetupRole::ActPass) => SetupRole::Active,
            None => SetupRole::ActPass,
        };
        let ours = match self.setup {
            Some(SetupRole::ActPass) => SetupRole::after_answer(peer),
            _ => SetupRole::answer_to(peer),
        }
        .ok_or_else(|| format!("a=setup:{} leaves no DTLS role for us", peer.as_str()))?;
        self.setup = Some(ours);
        self.remote_fp = Some(fp);
        self.dtls_start = Some((fp, ours.is_active()));
        self.dtls = None;
        Ok(())
    }

    /// Our `a=setup` role: `actpass` when we write it first (we offer).
    pub(super) fn our_setup(&mut self) -> SetupRole {
        *self.setup.get_or_insert(SetupRole::ActPass)
    }

    /// The SRTP contexts a DTLS-SRTP handshake exported: packets flow from now on.
    pub(super) fn set_keys(&mut self, tx: SrtpContext, rx: SrtpContext) {
        self.suite = Some(tx.suite());
        self.tx = Some(tx);
        self.rx = Some(rx);
    }

    /// DTLS-SRTP was negotiated and its keys are not there yet: packets wait (dropped).
    pub(super) fn waiting(&self) -> bool {
        self.suite.is_none() && (self.dtls_start.is_some() || self.dtls.is_some())
    }

    /// When we answer an SDES offer: the tag and suite of the offer's line we took.
    pub(super) fn answered_line(&self) -> Option<(u32, SrtpSuite)> {
        let r = self.remote.as_ref().filter(|_| !self.offered)?;
        Some((r.tag, r.suite))
    }

    /// The context that protects what we send, once the peer's SDP chose a suite.
    pub(super) fn tx(&mut self) -> Option<&mut SrtpContext> {
        if self.tx.is_none() {
            let suite = self.suite?;
            let key = self.local.get(self.tx_key.unwrap_or(0))?.as_ref()?;
            self.tx = Some(SrtpContext::new(suite, key));
        }
        self.tx.as_mut()
    }

    /// The context that unprotects what the peer sends, once its SDP arrived.
    pub(super) fn rx(&mut self) -> Option<&mut SrtpContext> {
        self.rx.as_mut()
    }

    /// Both contexts are ready: packets of this call are SRTP.
    pub(super) fn active(&self) -> bool {
        self.suite.is_some()
    }
}

impl super::MediaEngine {
    /// The SRTP side of a SIP message of call `call`: what the run's policy says about
    /// the SRTP its SDP asks for. `Some(reason)`: the call must fail.
    pub(super) fn srtp_sdp(&mut self, call: u64, call_id: &[u8], body: &[u8]) -> Option<String> {
        let hints = sdp::srtp_hints(body);
        if !hints.any() {
            return None;
        }
        match self.cfg.srtp {
            SrtpPolicy::Off => {
                self.session(call, call_id).srtp_unanswered = true;
                None
            }
            SrtpPolicy::Reject => Some(REJECTED.into()),
            SrtpPolicy::Sdes => {
                let mut srtp = self.session(call, call_id).srtp.take().unwrap_or_default();
                let r = srtp.negotiate(body, hints, || self.next_random());
                self.session(call, call_id).srtp = Some(srtp);
                self.note_dtls_call(call, call_id);
                r.err()
            }
        }
    }

    /// Writes SIPp's SRTP keyword `name` for call `call` into `out` (`-media_srtp`): a
    /// tag, a suite name, or the base64 of our key N. Nothing for the others (the run
    /// refused them when it loaded) or without `-media_srtp`.
    pub fn write_crypto_keyword(
        &mut self,
        call: u64,
        call_id: &[u8],
        name: &str,
        out: &mut Vec<u8>,
    ) {
        if self.cfg.srtp != SrtpPolicy::Sdes {
            return;
        }
        // Answering, the line echoes the tag and suite of the offer's line we took
        // (RFC 4568 §7.1.2), whatever the keyword's own number or suite says.
        let answered = self
            .sessions
            .get(&call)
            .and_then(|s| s.srtp.as_deref())
            .and_then(CallSrtp::answered_line);
        match CryptoKeyword::parse(name) {
            Some(CryptoKeyword::Tag(_)) if let Some((tag, _)) = answered => {
                out.extend_from_slice(tag.to_string().as_bytes())
            }
            Some(CryptoKeyword::Suite(_)) if let Some((_, suite)) = answered => {
                out.extend_from_slice(suite.name().as_bytes())
            }
            Some(CryptoKeyword::Tag(n)) => out.push(b'0' + n as u8),
            Some(CryptoKeyword::Suite(s)) => out.extend_from_slice(s.name().as_bytes()),
            Some(CryptoKeyword::Key(n)) => {
                let mut srtp = self.session(call, call_id).srtp.take().unwrap_or_default();
                if let Some(k) = srtp.local_key(n, || self.next_random()) {
                    write_inline_key(k, out);
                }
                self.session(call, call_id).srtp = Some(srtp);
            }
            None => {}
        }
    }
}

fn random_key(mut random: impl FnMut() -> u64) -> MasterKey {
    let mut bytes = [0u8; MASTER_KEY_LEN + MASTER_SALT_LEN];
    for chunk in bytes.chunks_mut(8) {
        let r = random().to_le_bytes();
        chunk.copy_from_slice(&r[..chunk.len()]);
    }
    MasterKey::from_bytes(&bytes)
}

/// The value of SIPp's SRTP keyword `name` for the audio stream (`cryptotag1audio`,
/// `cryptosuiteaescm128sha1801audio`, `cryptokeyparams2audio`): `Tag(n)`, `Suite(s)` or
/// `Key(n)`; `None` for the keywords gossipper does not fill (video, other suites,
/// `ue…`), which a run with `-media_srtp` refuses when it loads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CryptoKeyword {
    Tag(usize),
    Suite(SrtpSuite),
    Key(usize),
}

impl CryptoKeyword {
    pub fn parse(name: &str) -> Option<CryptoKeyword> {
        let stem = name.strip_suffix("audio")?;
        let (stem, n) = match stem.as_bytes().last()? {
            b'1' => (stem.get(..stem.len() - 1)?, 1),
            b'2' => (stem.get(..stem.len() - 1)?, 2),
            _ => return None,
        };
        match stem {
            "cryptotag" => Some(CryptoKeyword::Tag(n)),
            "cryptokeyparams" => Some(CryptoKeyword::Key(n)),
            "cryptosuiteaescm128sha180" => {
                Some(CryptoKeyword::Suite(SrtpSuite::AesCm128HmacSha1_80))
            }
            "cryptosuiteaescm128sha132" => {
                Some(CryptoKeyword::Suite(SrtpSuite::AesCm128HmacSha1_32))
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counter() -> impl FnMut() -> u64 {
        let mut n = 0u64;
        move || {
            n += 1;
            n.wrapping_mul(0x9E37_79B9_7F4A_7C15)
        }
    }

    fn line(tag: u32, suite: SrtpSuite, key: &MasterKey) -> String {
        CryptoAttribute {
            tag,
            suite,
            key: key.clone(),
            lifetime: None,
        }
        .to_string()
    }

    fn sdp(lines: &[String]) -> Vec<u8> {
        let mut s = String::from("v=0\r\nc=IN IP4 127.0.0.1\r\nm=audio 4000 RTP/SAVP 0\r\n");
        for l in lines {
            s.push_str(l);
            s.push_str("\r\n");
        }
        s.into_bytes()
    }

    #[test]
    fn keywords_parse_to_what_they_fill() {
        assert_eq!(
            CryptoKeyword::parse("cryptotag2audio"),
            Some(CryptoKeyword::Tag(2))
        );
        assert_eq!(
            CryptoKeyword::parse("cryptosuiteaescm128sha1322audio"),
            Some(CryptoKeyword::Suite(SrtpSuite::AesCm128HmacSha1_32))
        );
        assert_eq!(
            CryptoKeyword::parse("cryptokeyparams1audio"),
            Some(CryptoKeyword::Key(1))
        );
        assert_eq!(CryptoKeyword::parse("cryptosuitenullsha1801audio"), None);
        assert_eq!(CryptoKeyword::parse("cryptotag1video"), None);
        assert_eq!(CryptoKeyword::parse("ueaescm128sha1801audio"), None);
    }

    /// An offerer with two lines and an answerer that takes the second: each sends with
    /// the key the other decrypts with.
    #[test]
    fn offer_and_answer_agree_on_keys_and_suite() {
        let (mut a, mut b) = (CallSrtp::default(), CallSrtp::default());
        let k1 = a.local_key(1, counter()).unwrap().clone();
        let k2 = a.local_key(2, counter()).unwrap().clone();
        let offer = sdp(&[
            "a=crypto:1 AES_CM_128_HMAC_SHA1_FOO inline:x".into(),
            line(2, SrtpSuite::AesCm128HmacSha1_32, &k2),
        ]);
        let _ = k1;
        b.negotiate(&offer, sdp::srtp_hints(&offer), counter())
            .unwrap();
        let kb = b.local_key(1, counter()).unwrap().clone();
        let answer = sdp(&[line(2, SrtpSuite::AesCm128HmacSha1_32, &kb)]);
        a.negotiate(&answer, sdp::srtp_hints(&answer), counter())
            .unwrap();
        fn roundtrip(tx: &mut CallSrtp, rx: &mut CallSrtp) {
            let mut buf = [0u8; 64];
            buf[0] = 0x80;
            buf[8..12].copy_from_slice(&7u32.to_be_bytes());
            let n = tx.tx().unwrap().protect_rtp(&mut buf, 20).unwrap();
            assert_eq!(n, 24, "the _32 suite adds 4 bytes");
            assert_eq!(rx.rx().unwrap().unprotect_rtp(&mut buf[..n]).unwrap(), 20);
        }
        roundtrip(&mut a, &mut b);
        roundtrip(&mut b, &mut a);
    }

    #[test]
    fn unusable_sdp_names_why() {
        let mut s = CallSrtp::default();
        let dtls = b"v=0\nm=audio 9 UDP/TLS/RTP/SAVP 0\na=fingerprint:sha-256 AA\n";
        let e = s
            .negotiate(dtls, sdp::srtp_hints(dtls), counter())
            .unwrap_err();
        assert!(
            e.starts_with("a=fingerprint"),
            "a malformed fingerprint: {e}"
        );
        let null = b"v=0\nm=audio 9 RTP/SAVP 0\na=crypto:1 NULL_HMAC_SHA1_80 inline:AA\n";
        let e = s
            .negotiate(null, sdp::srtp_hints(null), counter())
            .unwrap_err();
        assert!(e.contains("NULL_HMAC_SHA1_80"), "{e}");
        assert!(!s.active());
    }
}
