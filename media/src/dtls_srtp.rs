//! DTLS-SRTP for classic calls (`-media_srtp` with `a=fingerprint` on `RTP/SAVP`, RFC 5763,
//! RFC 5764), without ICE: a DTLS 1.2 handshake on the RTP socket, the peer's certificate
//! checked against its fingerprint, then SRTP keys for [`crate::srtp`].
//!
//! Owns: one call's handshake (dimpl, the sans-IO DTLS str0m itself uses), the setup-role
//! rules (RFC 5763 §5, RFC 4145), `a=fingerprint` parse/format, the RFC 7983 first-byte
//! demultiplexer, the key export split (RFC 5764 §4.2) and a set-up timeout. Must not:
//! read a clock, own a socket, or panic on peer input: a bad record, a wrong certificate
//! or a handshake that never ends fail this call with a [`DtlsSrtpFailure`].
//!
//! Why not str0m: it answers only `UDP/TLS/RTP/SAVPF` and runs DTLS only after ICE
//! connects; SBCs and rtpengine offer `RTP/SAVP` + `a=fingerprint` with no ICE at all.
//!
//! Drive loop (the media port's datagrams go through [`demux`] first):
//!
//! ```text
//! let id = DtlsIdentity::generate()?;                       // once per shard, shared
//! // SDP: a=fingerprint:{id.fingerprint()} and a=setup:actpass (offer) or answer_role(..)
//! let mut d = DtlsSrtp::new(now, &id, role.is_active(), remote_fp, Duration::from_secs(10));
//! match demux(buf) { Demux::Dtls => d.handle_datagram(now, buf), Demux::Rtp => rx.unprotect_rtp(buf) … }
//! while let Some(n) = d.poll_transmit(&mut out) { send out[..n] to the peer's c=/m= address }
//! arm(d.poll_timeout());
//! while let Some(e) = d.poll_event() { DtlsSrtpEvent::Connected => { let (tx, rx) = d.take_srtp()?; … } }
//! ```
//!
//! Only SRTP_AES128_CM_HMAC_SHA1_80 keys are used: dimpl also offers the AEAD GCM profiles
//! in its ClientHello and cannot be told not to, so a peer that picks GCM fails the call as
//! [`DtlsSrtpFailure::UnsupportedProfile`] until `srtp` learns RFC 7714.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_lc_rs::digest;
use dimpl::{Config, Dtls, DtlsCertificate, Output, SrtpProfile};
use thiserror::Error;

use crate::srtp::{MASTER_KEY_LEN, MASTER_SALT_LEN, MasterKey, SrtpContext, SrtpSuite};

/// What the first byte of a datagram on a DTLS-SRTP media port says it is (RFC 7983 §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Demux {
    /// 0–3: STUN.
    Stun,
    /// 16–19: ZRTP.
    Zrtp,
    /// 20–63: DTLS.
    Dtls,
    /// 64–79: TURN channel data.
    TurnChannel,
    /// 128–191: RTP or RTCP (then `rtp::looks_like_rtcp`).
    Rtp,
    /// Anything else, or empty: drop and count.
    Unknown,
}

/// Classifies a datagram by its first byte (RFC 7983 §7).
pub fn demux(datagram: &[u8]) -> Demux {
    match datagram.first() {
        Some(0..=3) => Demux::Stun,
        Some(16..=19) => Demux::Zrtp,
        Some(20..=63) => Demux::Dtls,
        Some(64..=79) => Demux::TurnChannel,
        Some(128..=191) => Demux::Rtp,
        _ => Demux::Unknown,
    }
}

/// `a=setup` (RFC 4145 §4, RFC 5763 §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetupRole {
    /// We open the DTLS connection (DTLS client).
    Active,
    /// We wait for it (DTLS server).
    Passive,
    /// Offerer's "either": the answerer chooses.
    ActPass,
    /// No connection now.
    HoldConn,
}

impl SetupRole {
    /// Parses the attribute value (`active`, `passive`, `actpass`, `holdconn`).
    pub fn parse(value: &str) -> Option<Self> {
        match value.trim() {
            "active" => Some(Self::Active),
            "passive" => Some(Self::Passive),
            "actpass" => Some(Self::ActPass),
            "holdconn" => Some(Self::HoldConn),
            _ => None,
        }
    }

    /// The attribute value.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Passive => "passive",
            Self::ActPass => "actpass",
            Self::HoldConn => "holdconn",
        }
    }

    /// Our role when answering an offer with `offered`: RFC 5763 §5 has the answerer take
    /// `active` for `actpass` (so the handshake starts without waiting for the answer to
    /// arrive) and the opposite of a definite role. `None` for `holdconn`.
    pub const fn answer_to(offered: SetupRole) -> Option<SetupRole> {
        match offered {
            Self::ActPass | Self::Passive => Some(Self::Active),
            Self::Active => Some(Self::Passive),
            Self::HoldConn => None,
        }
    }

    /// Our role once the answer is known, when we offered `actpass`.
    pub const fn after_answer(answered: SetupRole) -> Option<SetupRole> {
        match answered {
            Self::Active => Some(Self::Passive),
            Self::Passive => Some(Self::Active),
            Self::ActPass | Self::HoldConn => None,
        }
    }

    /// Whether this role is the DTLS client.
    pub const fn is_active(self) -> bool {
        matches!(self, Self::Active)
    }
}

/// A SHA-256 certificate fingerprint (`a=fingerprint:sha-256 AB:CD:…`, RFC 8122 §5).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Fingerprint([u8; 32]);

impl std::fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Fingerprint({self})")
    }
}

/// Why an `a=fingerprint` value was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum FingerprintError {
    /// A hash other than sha-256 (sha-1 and sha-384 exist; we check only sha-256).
    #[error("a=fingerprint: only sha-256 is supported")]
    UnsupportedHash,
    /// Not 32 colon-separated hex bytes.
    #[error("a=fingerprint: the value must be 32 colon-separated hex bytes")]
    Malformed,
}

impl Fingerprint {
    /// The fingerprint of a DER certificate.
    pub fn of_der(der: &[u8]) -> Self {
        let d = digest::digest(&digest::SHA256, der);
        let mut out = [0u8; 32];
        out.copy_from_slice(d.as_ref());
        Self(out)
    }

    /// Parses `sha-256 AB:CD:…` (with or without `a=fingerprint:`; the hash name is
    /// case-insensitive, RFC 8122 §5).
    pub fn parse(value: &str) -> Result<Self, FingerprintError> {
        let v = value.trim();
        let v = v.strip_prefix("a=fingerprint:").unwrap_or(v);
        let (hash, hex) = v.split_once(' ').ok_or(FingerprintError::Malformed)?;
        if !hash.eq_ignore_ascii_case("sha-256") {
            return Err(FingerprintError::UnsupportedHash);
        }
        let mut out = [0u8; 32];
        let mut n = 0;
        for byte in hex.trim().split(':') {
            let slot = out.get_mut(n).ok_or(FingerprintError::Malformed)?;
            if byte.len() != 2 {
                return Err(FingerprintError::Malformed);
            }
            *slot = u8::from_str_radix(byte, 16).map_err(|_| FingerprintError::Malformed)?;
            n += 1;
        }
        if n != 32 {
            return Err(FingerprintError::Malformed);
        }
        Ok(Self(out))
    }
}

/// Writes `sha-256 AB:CD:…` (the attribute value).
impl std::fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("sha-256 ")?;
        for (i, b) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(":")?;
            }
            write!(f, "{b:02X}")?;
        }
        Ok(())
    }
}

/// Our certificate and its fingerprint; generate once and share across calls.
#[derive(Debug, Clone)]
pub struct DtlsIdentity {
    cert: DtlsCertificate,
    fingerprint: Fingerprint,
}

impl DtlsIdentity {
    /// A fresh self-signed ECDSA P-256 certificate.
    pub fn generate() -> Result<Self, DtlsSrtpFailure> {
        let cert = dimpl::certificate::generate_self_signed_certificate()
            .map_err(|_| DtlsSrtpFailure::Certificate)?;
        let fingerprint = Fingerprint::of_der(&cert.certificate);
        Ok(Self { cert, fingerprint })
    }

    /// What goes in our `a=fingerprint`.
    pub fn fingerprint(&self) -> Fingerprint {
        self.fingerprint
    }
}

/// Why a DTLS-SRTP set-up failed; names for the call record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum DtlsSrtpFailure {
    /// We could not make a certificate.
    #[error("certificate generation failed")]
    Certificate,
    /// The handshake failed (alert, bad record sequence, no common cipher).
    #[error("DTLS handshake failed")]
    Handshake,
    /// The handshake did not finish within the set-up timeout.
    #[error("DTLS handshake timed out")]
    Timeout,
    /// The peer's certificate does not match its `a=fingerprint`.
    #[error("peer certificate does not match a=fingerprint")]
    FingerprintMismatch,
    /// The peer chose an SRTP profile we do not implement (AEAD GCM).
    #[error("peer chose an SRTP profile other than AES128_CM_HMAC_SHA1_80")]
    UnsupportedProfile,
}

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DtlsSrtpEvent {
    /// The handshake finished, the certificate matched: take the SRTP contexts.
    Connected,
    /// The set-up failed; nothing more will be sent.
    Failed(DtlsSrtpFailure),
}

/// One call's DTLS-SRTP handshake. See the module doc.
pub struct DtlsSrtp {
    dtls: Dtls,
    active: bool,
    remote: Fingerprint,
    deadline: Option<Instant>,
    dtls_timeout: Option<Instant>,
    cert_ok: bool,
    /// dimpl said Connected; its keying material follows in the same drain.
    handshake_done: bool,
    keys: Option<(SrtpContext, SrtpContext)>,
    out: VecDeque<Vec<u8>>,
    events: VecDeque<DtlsSrtpEvent>,
    state: State,
    scratch: Vec<u8>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Handshaking,
    Connected,
    Failed,
}

impl std::fmt::Debug for DtlsSrtp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DtlsSrtp")
            .field("active", &self.active)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

impl DtlsSrtp {
    /// Starts the handshake: as the client (`active`) the ClientHello is ready at once.
    /// `setup_timeout` bounds the whole handshake.
    pub fn new(
        now: Instant,
        id: &DtlsIdentity,
        active: bool,
        remote: Fingerprint,
        setup_timeout: Duration,
    ) -> Self {
        let mut dtls = Dtls::new_12(Arc::new(Config::default()), id.cert.clone(), now);
        dtls.set_active(active);
        let mut me = Self {
            dtls,
            active,
            remote,
            deadline: Some(now + setup_timeout),
            dtls_timeout: None,
            cert_ok: false,
            handshake_done: false,
            keys: None,
            out: VecDeque::new(),
            events: VecDeque::new(),
            state: State::Handshaking,
            scratch: vec![0; 2048],
        };
        if active && me.dtls.handle_timeout(now).is_err() {
            me.fail(DtlsSrtpFailure::Handshake);
        }
        me.drain();
        me
    }

    /// A DTLS datagram (see [`demux`]) from the peer.
    pub fn handle_datagram(&mut self, now: Instant, data: &[u8]) {
        // After Connected the peer may still retransmit its last flight; dimpl answers it.
        if self.state == State::Failed {
            return;
        }
        if self.dtls.handle_timeout(now).is_err() || self.dtls.handle_packet(data).is_err() {
            self.fail(DtlsSrtpFailure::Handshake);
            return;
        }
        self.drain();
    }

    /// Retransmits and the set-up timeout.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.state != State::Handshaking {
            return;
        }
        if self.deadline.is_some_and(|d| now >= d) {
            self.fail(DtlsSrtpFailure::Timeout);
            return;
        }
        if self.dtls.handle_timeout(now).is_err() {
            self.fail(DtlsSrtpFailure::Handshake);
            return;
        }
        self.drain();
    }

    /// Our SRTP contexts (send, receive), once, after [`DtlsSrtpEvent::Connected`].
    pub fn take_srtp(&mut self) -> Option<(SrtpContext, SrtpContext)> {
        self.keys.take()
    }

    /// The next datagram to send, copied into `out`; returns its length.
    #[must_use]
    pub fn poll_transmit(&mut self, out: &mut Vec<u8>) -> Option<usize> {
        let d = self.out.pop_front()?;
        out.clear();
        out.extend_from_slice(&d);
        Some(d.len())
    }

    /// When to call `handle_timeout` next.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.state != State::Handshaking {
            return None;
        }
        [self.deadline, self.dtls_timeout]
            .into_iter()
            .flatten()
            .min()
    }

    /// The next event.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<DtlsSrtpEvent> {
        self.events.pop_front()
    }

    fn fail(&mut self, why: DtlsSrtpFailure) {
        if self.state != State::Failed {
            self.state = State::Failed;
            self.deadline = None;
            self.keys = None;
            self.out.clear();
            self.events.push_back(DtlsSrtpEvent::Failed(why));
        }
    }

    fn drain(&mut self) {
        // dimpl ends each drain with a Timeout; the cap guards only against a bug there.
        for _ in 0..1_000 {
            if self.state == State::Failed {
                return;
            }
            match self.dtls.poll_output(&mut self.scratch) {
                Output::Packet(p) => self.out.push_back(p.to_vec()),
                Output::BufferTooSmall { needed } => {
                    // A record larger than 64 KiB is no DTLS record we want to emit.
                    if needed > 65_536 {
                        self.fail(DtlsSrtpFailure::Handshake);
                        return;
                    }
                    self.scratch.resize(needed, 0);
                }
                Output::Timeout(t) => {
                    self.dtls_timeout = Some(t);
                    self.settle();
                    self.settle_end();
                    return;
                }
                Output::PeerCert(der) => {
                    if Fingerprint::of_der(der) == self.remote {
                        self.cert_ok = true;
                    } else {
                        self.fail(DtlsSrtpFailure::FingerprintMismatch);
                        return;
                    }
                }
                Output::KeyingMaterial(km, profile) => {
                    let keys = match profile {
                        SrtpProfile::AES128_CM_SHA1_80 => split_keys(&km, self.active),
                        SrtpProfile::AEAD_AES_128_GCM => {
                            split_gcm_keys(&km, self.active, SrtpSuite::AeadAes128Gcm, 16)
                        }
                        SrtpProfile::AEAD_AES_256_GCM => {
                            split_gcm_keys(&km, self.active, SrtpSuite::AeadAes256Gcm, 32)
                        }
                        #[allow(unreachable_patterns)]
                        _ => {
                            self.fail(DtlsSrtpFailure::UnsupportedProfile);
                            return;
                        }
                    };
                    match keys {
                        Some(keys) => {
                            self.keys = Some(keys);
                            self.settle();
                        }
                        None => {
                            self.fail(DtlsSrtpFailure::Handshake);
                            return;
                        }
                    }
                }
                Output::Connected => {
                    if !self.cert_ok {
                        self.fail(DtlsSrtpFailure::FingerprintMismatch);
                        return;
                    }
                    // dimpl emits Connected before the keying material: wait for it.
                    self.handshake_done = true;
                    self.settle();
                }
                Output::ApplicationData(_) | Output::CloseNotify => {}
                _ => {}
            }
        }
    }
}

impl DtlsSrtp {
    /// Once the handshake is done: connected when the keys are there; a drain that ends
    /// without them means no SRTP profile we use was agreed.
    fn settle(&mut self) {
        if !self.handshake_done || self.state != State::Handshaking {
            return;
        }
        if self.keys.is_some() {
            self.state = State::Connected;
            self.deadline = None;
            self.events.push_back(DtlsSrtpEvent::Connected);
        }
    }

    /// After a drain: a finished handshake without keys agreed no profile we use.
    fn settle_end(&mut self) {
        if self.handshake_done && self.state == State::Handshaking && self.keys.is_none() {
            self.fail(DtlsSrtpFailure::UnsupportedProfile);
        }
    }
}

/// RFC 5764 §4.2: client key, server key, client salt, server salt. The client sends
/// under the client's key. Returns (our send context, our receive context).
fn split_keys(km: &[u8], active: bool) -> Option<(SrtpContext, SrtpContext)> {
    const K: usize = MASTER_KEY_LEN;
    const S: usize = MASTER_SALT_LEN;
    if km.len() != 2 * (K + S) {
        return None;
    }
    let key = |at: usize| -> [u8; K] { km[at..at + K].try_into().expect("length checked above") };
    let salt = |at: usize| -> [u8; S] { km[at..at + S].try_into().expect("length checked above") };
    let client = MasterKey::new(key(0), salt(2 * K));
    let server = MasterKey::new(key(K), salt(2 * K + S));
    let suite = SrtpSuite::AesCm128HmacSha1_80;
    let (ours, theirs) = if active {
        (client, server)
    } else {
        (server, client)
    };
    Some((
        SrtpContext::new(suite, &ours),
        SrtpContext::new(suite, &theirs),
    ))
}

/// RFC 7714 §12 for the AES-GCM profiles: client key, server key (`key_len` each),
/// client salt, server salt (12 bytes each).
fn split_gcm_keys(
    km: &[u8],
    active: bool,
    suite: SrtpSuite,
    key_len: usize,
) -> Option<(SrtpContext, SrtpContext)> {
    const S: usize = crate::srtp::gcm::GCM_SALT_LEN;
    if km.len() != 2 * (key_len + S) {
        return None;
    }
    let salt = |at: usize| -> Option<[u8; S]> { km.get(at..at + S)?.try_into().ok() };
    let client = (km.get(..key_len)?, salt(2 * key_len)?);
    let server = (km.get(key_len..2 * key_len)?, salt(2 * key_len + S)?);
    let (ours, theirs) = if active {
        (client, server)
    } else {
        (server, client)
    };
    Some((
        SrtpContext::new_gcm(suite, ours.0, &ours.1)?,
        SrtpContext::new_gcm(suite, theirs.0, &theirs.1)?,
    ))
}

#[cfg(test)]
mod tests;
