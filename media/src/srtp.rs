//! SRTP and SRTCP (RFC 3711) for classic calls: AES_CM_128_HMAC_SHA1_80 and _32, master
//! keys from SDES `a=crypto` lines ([`sdes`]) or from a DTLS-SRTP export ([`crate::dtls_srtp`]).
//!
//! Owns: the session keys of one direction (derived once, key derivation rate 0), the
//! per-SSRC rollover counter and highest sequence (RFC 3711 §3.3.1), the 64-packet replay
//! window (§3.3.2), the outgoing SRTCP index and its E-bit (§3.4), and the key lifetime.
//! Must not: allocate per packet, read a clock, own a socket, or panic on any packet.
//! Packets are protected and unprotected in place in the caller's buffer.
//!
//! Driven by the call's media glue: one [`SrtpContext`] for what we send (our key) and one
//! for what we receive (the peer's key) — SDES gives each side its own key. Telling SRTP
//! from SRTCP on a muxed port is the caller's job (`rtp::looks_like_rtcp`, RFC 5761 §4).
//!
//! ```text
//! let mut tx = SrtpContext::new(SrtpSuite::AesCm128HmacSha1_80, &our_key);
//! let mut rx = SrtpContext::new(SrtpSuite::AesCm128HmacSha1_80, &their_key);
//! let n = tx.protect_rtp(&mut buf, rtp_len)?;        // buf needs rtp_len + suite.rtp_tag_len()
//! let plain_len = rx.unprotect_rtp(&mut datagram)?;  // Err: count it by kind, drop it
//! ```
//!
//! The crypto is aws-lc-rs, the backend str0m links for WebRTC, so the binary carries one
//! crypto stack. The AES key schedule and the HMAC key are built once per context.

pub mod gcm;
pub mod sdes;
#[cfg(test)]
mod tests;

use aws_lc_rs::cipher::{AES_128, EncryptingKey, EncryptionContext, UnboundCipherKey};
use aws_lc_rs::constant_time::verify_slices_are_equal;
use aws_lc_rs::hmac;
use aws_lc_rs::iv::FixedLength;
use thiserror::Error;

/// Length of an AES-128 master key.
pub const MASTER_KEY_LEN: usize = 16;
/// Length of a master salt (112 bits).
pub const MASTER_SALT_LEN: usize = 14;
/// The SRTCP trailer before the tag: E-bit and 31-bit index (RFC 3711 §3.4).
const SRTCP_INDEX_LEN: usize = 4;
/// HMAC-SHA1 session authentication key length (RFC 3711 §8.2: n_a = 160).
const AUTH_KEY_LEN: usize = 20;
/// Distinct SSRCs one context tracks at once. A call has one or two; a new SSRC past
/// this replaces the least recently used one (its replay state is forgotten).
const MAX_SSRCS: usize = 4;
/// Replay window width in packets (RFC 3711 §3.3.2 asks for at least 64).
const REPLAY_WINDOW: u64 = 64;

/// The two SDES/DTLS-SRTP suites classic SBCs offer (RFC 4568 §6.2, RFC 5764 §4.1.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SrtpSuite {
    /// AES-128 counter mode, HMAC-SHA1 with an 80-bit tag on RTP and RTCP.
    AesCm128HmacSha1_80,
    /// AES-128 counter mode, HMAC-SHA1 with a 32-bit tag on RTP (SRTCP keeps 80 bits,
    /// RFC 4568 §6.2.2).
    AesCm128HmacSha1_32,
    /// AEAD AES-128-GCM (RFC 7714), from DTLS-SRTP only (not in `ALL`: no SDES).
    AeadAes128Gcm,
    /// AEAD AES-256-GCM (RFC 7714), from DTLS-SRTP only.
    AeadAes256Gcm,
}

impl SrtpSuite {
    /// Every suite we support, in our order of preference.
    pub const ALL: [SrtpSuite; 2] = [Self::AesCm128HmacSha1_80, Self::AesCm128HmacSha1_32];

    /// The suite's name as written in `a=crypto` (RFC 4568 §6.2).
    pub const fn name(self) -> &'static str {
        match self {
            Self::AesCm128HmacSha1_80 => "AES_CM_128_HMAC_SHA1_80",
            Self::AesCm128HmacSha1_32 => "AES_CM_128_HMAC_SHA1_32",
            Self::AeadAes128Gcm => "AEAD_AES_128_GCM",
            Self::AeadAes256Gcm => "AEAD_AES_256_GCM",
        }
    }

    /// The suite named `name` (case-sensitive, as RFC 4568's grammar is), if we support it.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.name() == name)
    }

    /// Bytes the tag adds to an RTP packet.
    pub const fn rtp_tag_len(self) -> usize {
        match self {
            Self::AesCm128HmacSha1_80 => 10,
            Self::AesCm128HmacSha1_32 => 4,
            Self::AeadAes128Gcm | Self::AeadAes256Gcm => gcm::GCM_TAG_LEN,
        }
    }

    /// Bytes the tag adds to an RTCP packet (80 bits for both AES-CM suites).
    pub const fn rtcp_tag_len(self) -> usize {
        match self {
            Self::AeadAes128Gcm | Self::AeadAes256Gcm => gcm::GCM_TAG_LEN,
            _ => 10,
        }
    }

    /// Bytes protecting an RTCP packet adds: the E-bit/index word and the tag.
    pub const fn rtcp_overhead(self) -> usize {
        SRTCP_INDEX_LEN + self.rtcp_tag_len()
    }
}

/// A master key and master salt (30 bytes for the AES-128 suites).
///
/// `Debug` never prints the bytes, so a key cannot leak into a log line.
#[derive(Clone, PartialEq, Eq)]
pub struct MasterKey {
    key: [u8; MASTER_KEY_LEN],
    salt: [u8; MASTER_SALT_LEN],
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(..)")
    }
}

impl MasterKey {
    /// A key and salt given separately (DTLS-SRTP exports them apart, RFC 5764 §4.2).
    pub fn new(key: [u8; MASTER_KEY_LEN], salt: [u8; MASTER_SALT_LEN]) -> Self {
        Self { key, salt }
    }

    /// Key then salt, as SDES concatenates them. The caller brings the randomness (its
    /// seeded RNG, or a CSPRNG where the key must be secret).
    pub fn from_bytes(bytes: &[u8; MASTER_KEY_LEN + MASTER_SALT_LEN]) -> Self {
        let mut key = [0; MASTER_KEY_LEN];
        let mut salt = [0; MASTER_SALT_LEN];
        key.copy_from_slice(&bytes[..MASTER_KEY_LEN]);
        salt.copy_from_slice(&bytes[MASTER_KEY_LEN..]);
        Self { key, salt }
    }

    /// Key then salt, as SDES concatenates them.
    pub fn to_bytes(&self) -> [u8; MASTER_KEY_LEN + MASTER_SALT_LEN] {
        let mut out = [0; MASTER_KEY_LEN + MASTER_SALT_LEN];
        out[..MASTER_KEY_LEN].copy_from_slice(&self.key);
        out[MASTER_KEY_LEN..].copy_from_slice(&self.salt);
        out
    }
}

/// Why a packet was not protected or not accepted. `Copy` with static context, so a
/// hostile packet costs no allocation. Each kind deserves its own counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum SrtpError {
    /// Fewer bytes than the structure needs.
    #[error("truncated {0}")]
    Truncated(&'static str),
    /// The version field is not 2: not RTP/RTCP at all.
    #[error("version {0}, expected 2")]
    BadVersion(u8),
    /// The authentication tag does not match: wrong key, tampering or garbage.
    #[error("authentication tag mismatch")]
    AuthFailed,
    /// This packet index was already accepted (RFC 3711 §3.3.2).
    #[error("replayed packet")]
    Replayed,
    /// The packet index lies behind the replay window.
    #[error("packet index behind the replay window")]
    TooOld,
    /// The master key has protected as many packets as its `a=crypto` lifetime allows.
    #[error("master key lifetime exhausted")]
    KeyExpired,
    /// The caller's buffer has no room for the tag (a caller bug).
    #[error("buffer too small for {0}")]
    BufferTooSmall(&'static str),
}

/// Session keys of one kind (RTP or RTCP), derived from the master key (RFC 3711 §4.3).
struct SessionKeys {
    enc: EncryptingKey,
    salt: [u8; MASTER_SALT_LEN],
    auth: hmac::Key,
}

/// RFC 3711 §4.3.3 labels; the RTCP ones are the RTP ones plus 3.
const LABEL_ENC: u8 = 0;
const LABEL_AUTH: u8 = 1;
const LABEL_SALT: u8 = 2;
const LABEL_RTCP: u8 = 3;

/// AES-128 in counter mode with a 16-byte initial counter block: AES-CM of RFC 3711 §4.1.1
/// (the whole block counts up, mod 2^128). Applies the keystream to `data` in place.
fn aes_cm(key: &EncryptingKey, iv: [u8; 16], data: &mut [u8]) {
    if data.is_empty() {
        return;
    }
    // Cannot fail: CTR accepts any length and the context is a 16-byte counter block.
    let _ = key
        .less_safe_encrypt(data, EncryptionContext::Iv128(FixedLength::from(iv)))
        .expect("AES-CTR with a 128-bit counter block accepts any length");
}

fn ctr_key(key: &[u8; MASTER_KEY_LEN]) -> EncryptingKey {
    let unbound = UnboundCipherKey::new(&AES_128, key).expect("a 16-byte key is an AES-128 key");
    EncryptingKey::ctr(unbound).expect("AES-128 supports CTR")
}

/// The key derivation PRF with a key derivation rate of 0 (RFC 3711 §4.3.1, §4.3.3):
/// x = (label << 48) XOR master_salt, and `out` = AES-CM keystream from x * 2^16.
fn derive(master: &EncryptingKey, salt: &[u8; MASTER_SALT_LEN], label: u8, out: &mut [u8]) {
    let mut iv = [0u8; 16];
    iv[..MASTER_SALT_LEN].copy_from_slice(salt);
    // key_id = label || r (48 bits, zero with KDR 0) is 56 bits, right-aligned in the salt.
    iv[MASTER_SALT_LEN - 7] ^= label;
    out.fill(0);
    aes_cm(master, iv, out);
}

impl SessionKeys {
    fn derive(master: &MasterKey, label_base: u8) -> Self {
        let prf = ctr_key(&master.key);
        let mut enc = [0u8; MASTER_KEY_LEN];
        let mut auth = [0u8; AUTH_KEY_LEN];
        let mut salt = [0u8; MASTER_SALT_LEN];
        derive(&prf, &master.salt, label_base + LABEL_ENC, &mut enc);
        derive(&prf, &master.salt, label_base + LABEL_AUTH, &mut auth);
        derive(&prf, &master.salt, label_base + LABEL_SALT, &mut salt);
        Self {
            enc: ctr_key(&enc),
            salt,
            auth: hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, &auth),
        }
    }

    /// IV = (k_s * 2^16) XOR (SSRC * 2^64) XOR (i * 2^16) (RFC 3711 §4.1.1), where `index`
    /// is the 48-bit SRTP packet index or the 31-bit SRTCP index.
    fn iv(&self, ssrc: u32, index: u64) -> [u8; 16] {
        let mut iv = [0u8; 16];
        iv[..MASTER_SALT_LEN].copy_from_slice(&self.salt);
        for (b, s) in iv[4..8].iter_mut().zip(ssrc.to_be_bytes()) {
            *b ^= s;
        }
        // The low 48 bits of the index land in bytes 8..14.
        for (b, s) in iv[8..14].iter_mut().zip(&index.to_be_bytes()[2..]) {
            *b ^= s;
        }
        iv
    }

    /// HMAC-SHA1 over `parts`, concatenated.
    fn tag(&self, parts: [&[u8]; 2]) -> hmac::Tag {
        let mut ctx = hmac::Context::with_key(&self.auth);
        for p in parts {
            ctx.update(p);
        }
        ctx.sign()
    }
}

/// A 64-packet sliding window over packet indices (RFC 3711 §3.3.2).
#[derive(Clone, Copy, Default)]
struct ReplayWindow {
    /// Highest index accepted; meaningless until `seen`.
    top: u64,
    /// Bit d set: index `top - d` was accepted.
    bits: u64,
    seen: bool,
}

impl ReplayWindow {
    fn check(&self, index: u64) -> Result<(), SrtpError> {
        if !self.seen || index > self.top {
            return Ok(());
        }
        let behind = self.top - index;
        if behind >= REPLAY_WINDOW {
            Err(SrtpError::TooOld)
        } else if self.bits & (1 << behind) != 0 {
            Err(SrtpError::Replayed)
        } else {
            Ok(())
        }
    }

    /// Records `index`, which `check` accepted.
    fn accept(&mut self, index: u64) {
        if !self.seen {
            *self = Self {
                top: index,
                bits: 1,
                seen: true,
            };
        } else if index > self.top {
            let ahead = index - self.top;
            self.bits = if ahead >= REPLAY_WINDOW {
                0
            } else {
                self.bits << ahead
            };
            self.bits |= 1;
            self.top = index;
        } else {
            self.bits |= 1 << (self.top - index);
        }
    }
}

/// What one context knows about one SSRC.
#[derive(Clone, Copy, Default)]
struct SsrcState {
    ssrc: u32,
    /// Rollover counter and highest sequence number (s_l) of RFC 3711 §3.3.1.
    roc: u32,
    s_l: u16,
    rtp: ReplayWindow,
    rtcp: ReplayWindow,
    /// When this slot was last used, in context-local ticks (LRU replacement).
    used: u64,
    live: bool,
    /// An RTP packet of this SSRC was seen, so `roc` and `s_l` mean something.
    rtp_seen: bool,
}

impl SsrcState {
    fn fresh(ssrc: u32) -> Self {
        Self {
            ssrc,
            live: true,
            ..Self::default()
        }
    }

    /// Before the first RTP packet of an SSRC, s_l starts at its sequence with ROC 0
    /// (RFC 3711 §3.3.1); an SSRC first seen in RTCP has no RTP state yet.
    fn start_rtp(&mut self, seq: u16) {
        if !self.rtp_seen {
            self.roc = 0;
            self.s_l = seq;
            self.rtp_seen = true;
        }
    }

    /// The rollover counter `seq` most likely belongs to (RFC 3711 Appendix A).
    fn guess_roc(&self, seq: u16) -> u32 {
        if self.s_l < 0x8000 {
            if seq > self.s_l && seq - self.s_l > 0x8000 {
                self.roc.wrapping_sub(1)
            } else {
                self.roc
            }
        } else if self.s_l - 0x8000 > seq {
            self.roc.wrapping_add(1)
        } else {
            self.roc
        }
    }

    /// Moves s_l and the ROC forward once a packet at (v, seq) is accepted.
    fn advance(&mut self, v: u32, seq: u16) {
        if v == self.roc.wrapping_add(1) {
            self.roc = v;
            self.s_l = seq;
        } else if v == self.roc && seq > self.s_l {
            self.s_l = seq;
        }
    }
}

fn index_of(roc: u32, seq: u16) -> u64 {
    (u64::from(roc) << 16) | u64::from(seq)
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    let s = b.get(at..at + 2)?;
    Some(u16::from_be_bytes([s[0], s[1]]))
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at + 4)?;
    Some(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
}

impl SrtpContext {
    /// SRTCP under AES-GCM (RFC 7714 §9): header, ciphertext, tag, E-bit/index. Only
    /// encrypted SRTCP (E set) is accepted.
    fn unprotect_rtcp_gcm(&mut self, buf: &mut [u8]) -> Result<usize, SrtpError> {
        let n = buf.len();
        if n < 8 + gcm::GCM_TAG_LEN + SRTCP_INDEX_LEN {
            return Err(SrtpError::Truncated("SRTCP packet"));
        }
        if buf[0] >> 6 != 2 {
            return Err(SrtpError::BadVersion(buf[0] >> 6));
        }
        let ssrc = be32(buf, 4).ok_or(SrtpError::Truncated("RTCP header"))?;
        let word = be32(buf, n - SRTCP_INDEX_LEN).ok_or(SrtpError::Truncated("SRTCP index"))?;
        if word & 0x8000_0000 == 0 {
            return Err(SrtpError::AuthFailed);
        }
        let index = u64::from(word & 0x7FFF_FFFF);
        let known = self.find(ssrc);
        let state = known.map_or_else(|| SsrcState::fresh(ssrc), |i| self.ssrcs[i]);
        state.rtcp.check(index)?;
        let g = self.gcm.as_deref().ok_or(SrtpError::AuthFailed)?;
        let len = g.open_rtcp(buf, ssrc, word)?;
        let slot = known.unwrap_or_else(|| self.insert(state));
        self.touch(slot);
        self.ssrcs[slot].rtcp.accept(index);
        self.packets += 1;
        Ok(len)
    }
}

/// Length of the RTP header with its CSRCs and extension: where encryption starts.
fn rtp_header_len(pkt: &[u8]) -> Result<usize, SrtpError> {
    let b0 = *pkt.first().ok_or(SrtpError::Truncated("RTP header"))?;
    if b0 >> 6 != 2 {
        return Err(SrtpError::BadVersion(b0 >> 6));
    }
    let mut len = 12 + 4 * usize::from(b0 & 0x0F);
    if b0 & 0x10 != 0 {
        let words = be16(pkt, len + 2).ok_or(SrtpError::Truncated("RTP header extension"))?;
        len += 4 + 4 * usize::from(words);
    }
    if len > pkt.len() {
        return Err(SrtpError::Truncated("RTP header"));
    }
    Ok(len)
}

/// One direction of SRTP/SRTCP under one master key. See the module doc.
pub struct SrtpContext {
    suite: SrtpSuite,
    rtp: SessionKeys,
    rtcp: SessionKeys,
    ssrcs: [SsrcState; MAX_SSRCS],
    tick: u64,
    /// Index for the next SRTCP packet we protect (31 bits, RFC 3711 §3.4).
    srtcp_index: u32,
    /// Packets processed under this key, against `lifetime`.
    packets: u64,
    lifetime: Option<u64>,
    /// The AES-GCM keys of the RFC 7714 suites (then `rtp`/`rtcp` are unused).
    gcm: Option<Box<gcm::GcmKeys>>,
}

impl std::fmt::Debug for SrtpContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SrtpContext")
            .field("suite", &self.suite)
            .field("srtcp_index", &self.srtcp_index)
            .field("packets", &self.packets)
            .finish_non_exhaustive()
    }
}

impl SrtpContext {
    /// Derives the session keys (about 8 AES blocks and two key schedules; done once per
    /// call direction, never per packet).
    pub fn new(suite: SrtpSuite, master: &MasterKey) -> Self {
        Self {
            suite,
            rtp: SessionKeys::derive(master, 0),
            rtcp: SessionKeys::derive(master, LABEL_RTCP),
            ssrcs: [SsrcState::default(); MAX_SSRCS],
            tick: 0,
            srtcp_index: 0,
            packets: 0,
            lifetime: None,
            gcm: None,
        }
    }

    /// An AES-GCM context (RFC 7714) from a DTLS-SRTP export: a 16-byte (`AeadAes128Gcm`)
    /// or 32-byte (`AeadAes256Gcm`) master key and a 12-byte salt. `None` for a key of
    /// the wrong length or an AES-CM suite.
    pub fn new_gcm(suite: SrtpSuite, key: &[u8], salt: &[u8; gcm::GCM_SALT_LEN]) -> Option<Self> {
        let want = match suite {
            SrtpSuite::AeadAes128Gcm => 16,
            SrtpSuite::AeadAes256Gcm => 32,
            _ => return None,
        };
        if key.len() != want {
            return None;
        }
        let keys = gcm::GcmKeys::derive(key, salt)?;
        // The AES-CM keys are not used; derived from zeros to keep one context type.
        let mut me = Self::new(
            suite,
            &MasterKey::new([0; MASTER_KEY_LEN], [0; MASTER_SALT_LEN]),
        );
        me.gcm = Some(Box::new(keys));
        Some(me)
    }

    /// Caps the packets (SRTP and SRTCP together) this key may process: the `a=crypto`
    /// lifetime (RFC 4568 §6.1). Past it, every call returns [`SrtpError::KeyExpired`].
    pub fn with_lifetime(mut self, packets: Option<u64>) -> Self {
        self.lifetime = packets;
        self
    }

    /// The suite this context runs.
    pub fn suite(&self) -> SrtpSuite {
        self.suite
    }

    /// Packets this context has protected or accepted.
    pub fn packets(&self) -> u64 {
        self.packets
    }

    fn spend(&mut self) -> Result<(), SrtpError> {
        if self.lifetime.is_some_and(|max| self.packets >= max) {
            return Err(SrtpError::KeyExpired);
        }
        Ok(())
    }

    /// The slot tracking `ssrc`, if any.
    fn find(&self, ssrc: u32) -> Option<usize> {
        self.ssrcs.iter().position(|s| s.live && s.ssrc == ssrc)
    }

    /// Puts `state` in a free slot, or over the least recently used one.
    fn insert(&mut self, state: SsrcState) -> usize {
        let slot = self
            .ssrcs
            .iter()
            .enumerate()
            .min_by_key(|(_, s)| (s.live, s.used))
            .map_or(0, |(i, _)| i);
        self.ssrcs[slot] = state;
        slot
    }

    fn touch(&mut self, slot: usize) {
        self.tick += 1;
        self.ssrcs[slot].used = self.tick;
    }

    /// Encrypts and authenticates the RTP packet in `buf[..len]` in place and appends the
    /// tag; returns the SRTP length (`len + suite.rtp_tag_len()`, which `buf` must hold).
    pub fn protect_rtp(&mut self, buf: &mut [u8], len: usize) -> Result<usize, SrtpError> {
        self.spend()?;
        let tag_len = self.suite.rtp_tag_len();
        let pkt = buf
            .get(..len)
            .ok_or(SrtpError::BufferTooSmall("RTP packet"))?;
        let header = rtp_header_len(pkt)?;
        let seq = be16(pkt, 2).ok_or(SrtpError::Truncated("RTP header"))?;
        let ssrc = be32(pkt, 8).ok_or(SrtpError::Truncated("RTP header"))?;
        if buf.len() < len + tag_len {
            return Err(SrtpError::BufferTooSmall("SRTP tag"));
        }
        let slot = match self.find(ssrc) {
            Some(slot) => slot,
            None => self.insert(SsrcState::fresh(ssrc)),
        };
        self.touch(slot);
        let state = &mut self.ssrcs[slot];
        state.start_rtp(seq);
        let roc = state.guess_roc(seq);
        state.advance(roc, seq);
        if let Some(g) = self.gcm.as_deref() {
            let n = g.seal_rtp(buf, header, len, ssrc, roc, seq)?;
            self.packets += 1;
            return Ok(n);
        }
        let iv = self.rtp.iv(ssrc, index_of(roc, seq));
        aes_cm(&self.rtp.enc, iv, &mut buf[header..len]);
        let tag = self.rtp.tag([&buf[..len], &roc.to_be_bytes()]);
        buf[len..len + tag_len].copy_from_slice(&tag.as_ref()[..tag_len]);
        self.packets += 1;
        Ok(len + tag_len)
    }

    /// Checks the tag and the replay window of the SRTP packet filling `buf`, then decrypts
    /// it in place; returns the RTP length (the tag is left behind it). A packet that fails
    /// changes no state, so a forged packet cannot move the ROC or the window.
    pub fn unprotect_rtp(&mut self, buf: &mut [u8]) -> Result<usize, SrtpError> {
        self.spend()?;
        let tag_len = self.suite.rtp_tag_len();
        let len = buf
            .len()
            .checked_sub(tag_len)
            .ok_or(SrtpError::Truncated("SRTP tag"))?;
        let (pkt, tag) = buf.split_at_mut(len);
        let header = rtp_header_len(pkt)?;
        let seq = be16(pkt, 2).ok_or(SrtpError::Truncated("RTP header"))?;
        let ssrc = be32(pkt, 8).ok_or(SrtpError::Truncated("RTP header"))?;
        let known = self.find(ssrc);
        let mut state = known.map_or_else(|| SsrcState::fresh(ssrc), |i| self.ssrcs[i]);
        state.start_rtp(seq);
        let roc = state.guess_roc(seq);
        let index = index_of(roc, seq);
        state.rtp.check(index)?;
        if let Some(g) = self.gcm.as_deref() {
            g.open_rtp(buf, header, ssrc, roc, seq)?;
        } else {
            let want = self.rtp.tag([pkt, &roc.to_be_bytes()]);
            verify_slices_are_equal(&want.as_ref()[..tag_len], tag)
                .map_err(|_| SrtpError::AuthFailed)?;
            aes_cm(&self.rtp.enc, self.rtp.iv(ssrc, index), &mut pkt[header..]);
        }
        let slot = known.unwrap_or_else(|| self.insert(state));
        self.touch(slot);
        let state = &mut self.ssrcs[slot];
        state.start_rtp(seq);
        state.advance(roc, seq);
        state.rtp.accept(index);
        self.packets += 1;
        Ok(len)
    }

    /// Encrypts the RTCP compound packet in `buf[..len]` after its first 8 bytes, appends
    /// E-bit + SRTCP index and the tag; returns the SRTCP length (`len +
    /// suite.rtcp_overhead()`, which `buf` must hold).
    pub fn protect_rtcp(&mut self, buf: &mut [u8], len: usize) -> Result<usize, SrtpError> {
        self.spend()?;
        let pkt = buf
            .get(..len)
            .ok_or(SrtpError::BufferTooSmall("RTCP packet"))?;
        let b0 = *pkt.first().ok_or(SrtpError::Truncated("RTCP header"))?;
        if b0 >> 6 != 2 {
            return Err(SrtpError::BadVersion(b0 >> 6));
        }
        let ssrc = be32(pkt, 4).ok_or(SrtpError::Truncated("RTCP header"))?;
        let total = len + self.suite.rtcp_overhead();
        if buf.len() < total {
            return Err(SrtpError::BufferTooSmall("SRTCP trailer"));
        }
        let index = self.srtcp_index;
        self.srtcp_index = (index + 1) & 0x7FFF_FFFF;
        if let Some(g) = self.gcm.as_deref() {
            let n = g.seal_rtcp(buf, len, ssrc, index | 0x8000_0000)?;
            self.packets += 1;
            return Ok(n);
        }
        aes_cm(
            &self.rtcp.enc,
            self.rtcp.iv(ssrc, u64::from(index)),
            &mut buf[8..len],
        );
        let trailer = len + SRTCP_INDEX_LEN;
        buf[len..trailer].copy_from_slice(&(index | 0x8000_0000).to_be_bytes());
        let tag = self.rtcp.tag([&buf[..trailer], &[]]);
        let tag_len = self.suite.rtcp_tag_len();
        buf[trailer..total].copy_from_slice(&tag.as_ref()[..tag_len]);
        self.packets += 1;
        Ok(total)
    }

    /// Checks the tag and the replay window of the SRTCP packet filling `buf`, then
    /// decrypts it in place if its E-bit says it is encrypted; returns the RTCP length.
    pub fn unprotect_rtcp(&mut self, buf: &mut [u8]) -> Result<usize, SrtpError> {
        self.spend()?;
        if self.gcm.is_some() {
            return self.unprotect_rtcp_gcm(buf);
        }
        let tag_len = self.suite.rtcp_tag_len();
        let authed = buf
            .len()
            .checked_sub(tag_len)
            .filter(|&n| n >= 8 + SRTCP_INDEX_LEN)
            .ok_or(SrtpError::Truncated("SRTCP packet"))?;
        let len = authed - SRTCP_INDEX_LEN;
        let (pkt, tag) = buf.split_at_mut(authed);
        if pkt[0] >> 6 != 2 {
            return Err(SrtpError::BadVersion(pkt[0] >> 6));
        }
        let ssrc = be32(pkt, 4).ok_or(SrtpError::Truncated("RTCP header"))?;
        let word = be32(pkt, len).ok_or(SrtpError::Truncated("SRTCP index"))?;
        let (encrypted, index) = (word & 0x8000_0000 != 0, u64::from(word & 0x7FFF_FFFF));
        let known = self.find(ssrc);
        let state = known.map_or_else(|| SsrcState::fresh(ssrc), |i| self.ssrcs[i]);
        state.rtcp.check(index)?;
        let want = self.rtcp.tag([pkt, &[]]);
        verify_slices_are_equal(&want.as_ref()[..tag_len], tag)
            .map_err(|_| SrtpError::AuthFailed)?;
        if encrypted {
            aes_cm(&self.rtcp.enc, self.rtcp.iv(ssrc, index), &mut pkt[8..len]);
        }
        let slot = known.unwrap_or_else(|| self.insert(state));
        self.touch(slot);
        self.ssrcs[slot].rtcp.accept(index);
        self.packets += 1;
        Ok(len)
    }
}
