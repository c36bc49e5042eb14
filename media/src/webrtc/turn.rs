//! A sans-IO TURN client over UDP (RFC 8656, which obsoletes RFC 5766): one allocation on
//! one TURN server for one call socket, with the long-term credential mechanism.
//!
//! Owns: the STUN messages TURN needs (encoding, MESSAGE-INTEGRITY, a bounds-checked
//! reader), the Allocate exchange (401 → REALM/NONCE → authenticated retry, 438 stale
//! nonce → retry with the new nonce), Refresh before the lifetime ends, CreatePermission
//! per peer address (refreshed before its 300 s run out), Send and Data indications, and
//! Refresh with LIFETIME 0 on [`TurnClient::close`]. Must not: read a clock, resolve a
//! name, touch a socket, or panic on anything a server or an attacker sends.
//!
//! Contract (STYLE.md §3): one mutation (`handle_timeout`, `handle_input`,
//! `create_permission`, `send_to`, `close`), then drain `poll_transmit`, read
//! `poll_timeout`, drain `poll_event`. The first `handle_timeout` sends the Allocate.
//!
//! Not here: ChannelBind/ChannelData (Send/Data indications carry everything), TURN over
//! TCP or TLS (`?transport=tcp`, `turns:`), FINGERPRINT (optional, RFC 8489 §14.7), and
//! changing credentials inside one allocation (RFC 8656 §7.2 binds the username to it:
//! coturn REST credentials are made per call, valid beyond the call's end).

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use aws_lc_rs::hmac;
use md5::{Digest, Md5};
use str0m::net::{DatagramSend, Protocol, Transmit};
use thiserror::Error;

use super::ice_servers::TurnCredentials;

const MAGIC: u32 = 0x2112_A442;
const HEADER: usize = 20;

/// STUN methods (RFC 8656 §17).
const ALLOCATE: u16 = 0x003;
const REFRESH: u16 = 0x004;
const SEND: u16 = 0x006;
const DATA: u16 = 0x007;
const CREATE_PERMISSION: u16 = 0x008;
/// STUN classes, already in their bit positions (RFC 8489 §5).
const REQUEST: u16 = 0x0000;
const INDICATION: u16 = 0x0010;
const SUCCESS: u16 = 0x0100;
const ERROR: u16 = 0x0110;

/// Attribute types (RFC 8489 §18.3, RFC 8656 §18).
const ATTR_USERNAME: u16 = 0x0006;
const ATTR_MESSAGE_INTEGRITY: u16 = 0x0008;
const ATTR_ERROR_CODE: u16 = 0x0009;
const ATTR_LIFETIME: u16 = 0x000D;
const ATTR_XOR_PEER_ADDRESS: u16 = 0x0012;
const ATTR_DATA: u16 = 0x0013;
const ATTR_REALM: u16 = 0x0014;
const ATTR_NONCE: u16 = 0x0015;
const ATTR_XOR_RELAYED_ADDRESS: u16 = 0x0016;
const ATTR_REQUESTED_TRANSPORT: u16 = 0x0019;
const ATTR_XOR_MAPPED_ADDRESS: u16 = 0x0020;

/// The allocation lifetime we ask for (the server may grant less).
const REQUESTED_LIFETIME: Duration = Duration::from_secs(600);
/// A permission lasts 300 s (RFC 8656 §9); refreshed this long before.
const PERMISSION_LIFETIME: Duration = Duration::from_secs(300);
const PERMISSION_MARGIN: Duration = Duration::from_secs(60);
/// Request retransmits (RFC 8489 §6.2.1, shortened to fit ICE's 10 s): first wait,
/// doubled each time, this many sends, then one last wait.
const FIRST_RTO: Duration = Duration::from_millis(500);
const SENDS: u8 = 4;
/// 401/438 answers one transaction may get before it fails (a server that keeps asking).
const MAX_AUTH_RETRIES: u8 = 3;

/// Why the allocation failed (the call record's reason).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TurnError {
    /// The server refused our credentials (401 after we sent them).
    #[error("TURN server {server}: credentials refused (401 {reason})")]
    Unauthorized {
        /// The TURN server.
        server: SocketAddr,
        /// Its reason phrase.
        reason: String,
    },
    /// Any other error response to Allocate or Refresh.
    #[error("TURN server {server}: {method} failed with {code} {reason}")]
    Rejected {
        /// The TURN server.
        server: SocketAddr,
        /// `Allocate` or `Refresh`.
        method: &'static str,
        /// The error code (300–699).
        code: u16,
        /// Its reason phrase.
        reason: String,
    },
    /// No answer after every retransmit.
    #[error("TURN server {server}: no answer to {method}")]
    Timeout {
        /// The TURN server.
        server: SocketAddr,
        /// `Allocate` or `Refresh`.
        method: &'static str,
    },
    /// A success response we cannot use (no relayed address, bad integrity).
    #[error("TURN server {server}: unusable {method} response ({what})")]
    BadResponse {
        /// The TURN server.
        server: SocketAddr,
        /// `Allocate` or `Refresh`.
        method: &'static str,
        /// What was wrong.
        what: &'static str,
    },
}

/// What the client tells its owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TurnEvent {
    /// The allocation exists: `relayed` is the relay candidate's address.
    Allocated {
        /// XOR-RELAYED-ADDRESS.
        relayed: SocketAddr,
        /// XOR-MAPPED-ADDRESS (our address as the server sees it), if given.
        mapped: Option<SocketAddr>,
        /// The lifetime the server granted.
        lifetime: Duration,
    },
    /// The server installed (or refreshed) a permission for this peer address.
    PermissionCreated(IpAddr),
    /// A CreatePermission was refused or went unanswered (the peer stays unreachable).
    PermissionFailed {
        /// The peer address.
        peer: IpAddr,
        /// The error code, or `None` for no answer.
        code: Option<u16>,
    },
    /// The allocation is gone: failed, or released by [`TurnClient::close`].
    Failed(TurnError),
    /// [`TurnClient::close`] finished (answered or timed out).
    Closed,
}

/// What [`TurnClient::handle_input`] made of a datagram.
#[derive(Debug, PartialEq, Eq)]
pub enum TurnInput<'a> {
    /// Not from our TURN server, or not STUN: someone else's (str0m's).
    NotOurs,
    /// A TURN message for us, handled (or dropped as malformed or stale).
    Handled,
    /// A Data indication: `payload` came from `peer` through the relay.
    Data {
        /// The peer (XOR-PEER-ADDRESS).
        peer: SocketAddr,
        /// The relayed bytes.
        payload: &'a [u8],
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Allocate,
    Refresh { lifetime: Duration },
    Permission(IpAddr),
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Allocate => "Allocate",
            Kind::Refresh { .. } => "Refresh",
            Kind::Permission(_) => "CreatePermission",
        }
    }
}

#[derive(Debug)]
struct Transaction {
    kind: Kind,
    txid: [u8; 12],
    sends: u8,
    auth_retries: u8,
    next_at: Instant,
    /// The encoded request, kept for retransmits.
    request: Vec<u8>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Nothing sent yet.
    Idle,
    Allocating,
    Allocated {
        relayed: SocketAddr,
        refresh_at: Instant,
    },
    /// `close` sent the LIFETIME 0 Refresh.
    Closing,
    /// Failed or closed: inert.
    Done,
}

#[derive(Debug)]
struct Permission {
    peer: IpAddr,
    /// When to send (again): `None` while a CreatePermission is outstanding.
    refresh_at: Option<Instant>,
}

/// One TURN allocation for one local socket.
#[derive(Debug)]
pub struct TurnClient {
    /// When it was made: the Allocate is due then.
    created: Instant,
    local: SocketAddr,
    server: SocketAddr,
    username: String,
    password: String,
    realm: Vec<u8>,
    nonce: Vec<u8>,
    /// MD5(username ":" realm ":" password), once the realm is known.
    key: Option<[u8; 16]>,
    state: State,
    txns: Vec<Transaction>,
    permissions: Vec<Permission>,
    out: VecDeque<Transmit>,
    events: VecDeque<TurnEvent>,
    rng: u64,
}

impl TurnClient {
    /// A client of `server` for the socket bound at `local`; `seed` makes the transaction
    /// ids (the shard's seeded RNG, so runs replay).
    pub fn new(
        now: Instant,
        local: SocketAddr,
        server: SocketAddr,
        credentials: &TurnCredentials,
        seed: u64,
    ) -> Self {
        Self {
            created: now,
            local,
            server,
            username: credentials.username.clone(),
            password: credentials.password.clone(),
            realm: Vec::new(),
            nonce: Vec::new(),
            key: None,
            state: State::Idle,
            txns: Vec::new(),
            permissions: Vec::new(),
            out: VecDeque::new(),
            events: VecDeque::new(),
            rng: seed ^ 0x9E37_79B9_7F4A_7C15,
        }
    }

    /// The TURN server.
    pub fn server(&self) -> SocketAddr {
        self.server
    }

    /// The relayed address, while allocated.
    pub fn relayed(&self) -> Option<SocketAddr> {
        match self.state {
            State::Allocated { relayed, .. } => Some(relayed),
            _ => None,
        }
    }

    /// Whether `peer` has an installed permission.
    pub fn has_permission(&self, peer: IpAddr) -> bool {
        self.permissions
            .iter()
            .any(|p| p.peer == peer && p.refresh_at.is_some())
    }

    /// Sends what is due: the Allocate at first, retransmits, Refresh and permission
    /// refreshes; gives up on transactions left unanswered.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.state == State::Idle {
            self.state = State::Allocating;
            self.start(now, Kind::Allocate);
        }
        // Retransmits and give-ups.
        let mut i = 0;
        while i < self.txns.len() {
            if now < self.txns[i].next_at {
                i += 1;
                continue;
            }
            if self.txns[i].sends >= SENDS {
                let t = self.txns.swap_remove(i);
                self.on_no_answer(t.kind);
                continue;
            }
            let t = &mut self.txns[i];
            t.sends += 1;
            t.next_at = now + FIRST_RTO * (1 << (t.sends - 1));
            let contents = t.request.clone();
            self.push(contents);
            i += 1;
        }
        if let State::Allocated { refresh_at, .. } = self.state
            && now >= refresh_at
            && !self.pending(|k| matches!(k, Kind::Refresh { .. }))
        {
            // Pending from now on: not sent again until it is answered or times out.
            self.start(
                now,
                Kind::Refresh {
                    lifetime: REQUESTED_LIFETIME,
                },
            );
        }
        if matches!(self.state, State::Allocated { .. }) {
            let due: Vec<IpAddr> = self
                .permissions
                .iter_mut()
                .filter(|p| p.refresh_at.is_some_and(|t| now >= t))
                .map(|p| {
                    p.refresh_at = None;
                    p.peer
                })
                .collect();
            for peer in due {
                self.start(now, Kind::Permission(peer));
            }
        }
    }

    /// Asks the server to let `peer` send to the relay (and us to it). Idempotent; sent
    /// once the allocation exists.
    pub fn create_permission(&mut self, now: Instant, peer: IpAddr) {
        if self.permissions.iter().any(|p| p.peer == peer) || self.state == State::Done {
            return;
        }
        let allocated = matches!(self.state, State::Allocated { .. });
        self.permissions.push(Permission {
            peer,
            // Not allocated yet: due at once when it is.
            refresh_at: (!allocated).then_some(now),
        });
        if allocated {
            self.start(now, Kind::Permission(peer));
        }
    }

    /// Wraps `payload` for `peer` in a Send indication to the server. Returns false (and
    /// sends nothing) while there is no allocation.
    pub fn send_to(&mut self, peer: SocketAddr, payload: &[u8]) -> bool {
        if !matches!(self.state, State::Allocated { .. }) {
            return false;
        }
        let txid = self.next_txid();
        let mut m = Message::new(SEND | INDICATION, txid, 36 + payload.len());
        m.xor_address(ATTR_XOR_PEER_ADDRESS, peer);
        m.attr(ATTR_DATA, payload);
        let contents = m.finish();
        self.push(contents);
        true
    }

    /// Releases the allocation (Refresh with LIFETIME 0); [`TurnEvent::Closed`] follows.
    pub fn close(&mut self, now: Instant) {
        match self.state {
            State::Allocated { .. } => {
                self.txns.clear();
                self.state = State::Closing;
                self.start(
                    now,
                    Kind::Refresh {
                        lifetime: Duration::ZERO,
                    },
                );
            }
            State::Closing | State::Done => {}
            State::Idle | State::Allocating => {
                // Nothing (known) to release.
                self.txns.clear();
                self.state = State::Done;
                self.events.push_back(TurnEvent::Closed);
            }
        }
    }

    /// Takes a datagram that arrived on the socket from `source`.
    pub fn handle_input<'a>(
        &mut self,
        now: Instant,
        source: SocketAddr,
        data: &'a [u8],
    ) -> TurnInput<'a> {
        if source != self.server {
            return TurnInput::NotOurs;
        }
        let Some(msg) = Parsed::parse(data) else {
            return TurnInput::NotOurs;
        };
        if msg.typ == DATA | INDICATION {
            return match (msg.peer, msg.data) {
                (Some(peer), Some(payload)) if self.relayed().is_some() => {
                    TurnInput::Data { peer, payload }
                }
                _ => TurnInput::Handled,
            };
        }
        let Some(i) = self.txns.iter().position(|t| t.txid == msg.txid) else {
            return TurnInput::Handled;
        };
        let kind = self.txns[i].kind;
        let class = msg.typ & 0x0110;
        let method = msg.typ & !0x0110;
        let expected = match kind {
            Kind::Allocate => ALLOCATE,
            Kind::Refresh { .. } => REFRESH,
            Kind::Permission(_) => CREATE_PERMISSION,
        };
        if method != expected || (class != SUCCESS && class != ERROR) {
            return TurnInput::Handled;
        }
        if class == SUCCESS {
            // A success must prove the server knows our key (RFC 8489 §9.2.5).
            if self.key.is_none_or(|k| !msg.integrity_ok(data, &k)) {
                return TurnInput::Handled;
            }
            self.txns.swap_remove(i);
            self.on_success(now, kind, &msg);
        } else {
            let code = msg.error_code.unwrap_or(0);
            let retries = self.txns[i].auth_retries;
            let authable = code == 401 || code == 438;
            let had_key = self.key.is_some();
            // 401 with our key already in use: the credentials are wrong.
            if authable
                && retries < MAX_AUTH_RETRIES
                && !(code == 401 && had_key && msg.nonce == Some(&self.nonce[..]))
                && let (Some(realm), Some(nonce)) = (msg.realm, msg.nonce)
            {
                self.set_realm_nonce(realm, nonce);
                let t = self.txns.swap_remove(i);
                self.restart(now, t.kind, t.auth_retries + 1);
                return TurnInput::Handled;
            }
            self.txns.swap_remove(i);
            let reason = msg.reason.to_owned();
            self.on_error(kind, code, reason);
        }
        TurnInput::Handled
    }

    /// The next datagram to send to the server.
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.out.pop_front()
    }

    /// The next event.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<TurnEvent> {
        self.events.pop_front()
    }

    /// When [`Self::handle_timeout`] is due next.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        let txn = self.txns.iter().map(|t| t.next_at).min();
        let (refresh, perms) = match self.state {
            State::Idle => return Some(self.created),
            // A Refresh in flight has its own retransmit timer.
            State::Allocated { refresh_at, .. } => (
                (!self.pending(|k| matches!(k, Kind::Refresh { .. }))).then_some(refresh_at),
                self.permissions.iter().filter_map(|p| p.refresh_at).min(),
            ),
            _ => (None, None),
        };
        [txn, refresh, perms].into_iter().flatten().min()
    }

    fn on_success(&mut self, now: Instant, kind: Kind, msg: &Parsed<'_>) {
        let server = self.server;
        let method = kind.name();
        match kind {
            Kind::Allocate => {
                let Some(relayed) = msg.relayed else {
                    return self.fail(TurnError::BadResponse {
                        server,
                        method,
                        what: "no XOR-RELAYED-ADDRESS",
                    });
                };
                let lifetime = msg.lifetime.unwrap_or(REQUESTED_LIFETIME);
                self.state = State::Allocated {
                    relayed,
                    refresh_at: now + refresh_after(lifetime),
                };
                self.events.push_back(TurnEvent::Allocated {
                    relayed,
                    mapped: msg.mapped,
                    lifetime,
                });
            }
            Kind::Refresh { lifetime } if lifetime.is_zero() => self.closed(),
            Kind::Refresh { .. } => {
                if let State::Allocated { relayed, .. } = self.state {
                    let lifetime = msg.lifetime.unwrap_or(REQUESTED_LIFETIME);
                    self.state = State::Allocated {
                        relayed,
                        refresh_at: now + refresh_after(lifetime),
                    };
                }
            }
            Kind::Permission(peer) => {
                if let Some(p) = self.permissions.iter_mut().find(|p| p.peer == peer) {
                    p.refresh_at = Some(now + PERMISSION_LIFETIME - PERMISSION_MARGIN);
                }
                self.events.push_back(TurnEvent::PermissionCreated(peer));
            }
        }
    }

    fn on_error(&mut self, kind: Kind, code: u16, reason: String) {
        let server = self.server;
        match kind {
            Kind::Permission(peer) => {
                self.permissions.retain(|p| p.peer != peer);
                self.events.push_back(TurnEvent::PermissionFailed {
                    peer,
                    code: Some(code),
                });
            }
            Kind::Refresh { lifetime } if lifetime.is_zero() => self.closed(),
            _ if code == 401 => self.fail(TurnError::Unauthorized { server, reason }),
            _ => self.fail(TurnError::Rejected {
                server,
                method: kind.name(),
                code,
                reason,
            }),
        }
    }

    fn on_no_answer(&mut self, kind: Kind) {
        let server = self.server;
        match kind {
            Kind::Permission(peer) => {
                self.permissions.retain(|p| p.peer != peer);
                self.events
                    .push_back(TurnEvent::PermissionFailed { peer, code: None });
            }
            Kind::Refresh { lifetime } if lifetime.is_zero() => self.closed(),
            _ => self.fail(TurnError::Timeout {
                server,
                method: kind.name(),
            }),
        }
    }

    fn fail(&mut self, e: TurnError) {
        self.state = State::Done;
        self.txns.clear();
        self.events.push_back(TurnEvent::Failed(e));
    }

    fn closed(&mut self) {
        self.state = State::Done;
        self.txns.clear();
        self.events.push_back(TurnEvent::Closed);
    }

    fn pending(&self, f: impl Fn(Kind) -> bool) -> bool {
        self.txns.iter().any(|t| f(t.kind))
    }

    fn set_realm_nonce(&mut self, realm: &[u8], nonce: &[u8]) {
        if realm != self.realm.as_slice() || self.key.is_none() {
            self.realm = realm.to_vec();
            let mut h = Md5::new();
            h.update(self.username.as_bytes());
            h.update(b":");
            h.update(realm);
            h.update(b":");
            h.update(self.password.as_bytes());
            self.key = Some(h.finalize().into());
        }
        self.nonce = nonce.to_vec();
    }

    fn start(&mut self, now: Instant, kind: Kind) {
        self.restart(now, kind, 0);
    }

    /// Encodes and sends a new transaction of `kind` (a fresh transaction id: a retry
    /// after 401/438 is a new request, RFC 8489 §9.2.3).
    fn restart(&mut self, now: Instant, kind: Kind, auth_retries: u8) {
        let txid = self.next_txid();
        let method = match kind {
            Kind::Allocate => ALLOCATE,
            Kind::Refresh { .. } => REFRESH,
            Kind::Permission(_) => CREATE_PERMISSION,
        };
        let mut m = Message::new(method | REQUEST, txid, 160);
        match kind {
            Kind::Allocate => {
                // REQUESTED-TRANSPORT: UDP (17), then three RFFU bytes.
                m.attr(ATTR_REQUESTED_TRANSPORT, &[17, 0, 0, 0]);
                m.attr(ATTR_LIFETIME, &secs(REQUESTED_LIFETIME).to_be_bytes());
            }
            Kind::Refresh { lifetime } => m.attr(ATTR_LIFETIME, &secs(lifetime).to_be_bytes()),
            Kind::Permission(ip) => m.xor_address(ATTR_XOR_PEER_ADDRESS, SocketAddr::new(ip, 0)),
        }
        if let Some(key) = self.key {
            m.attr(ATTR_USERNAME, self.username.as_bytes());
            m.attr(ATTR_REALM, &self.realm);
            m.attr(ATTR_NONCE, &self.nonce);
            m.integrity(&key);
        }
        let request = m.finish();
        self.push(request.clone());
        self.txns.push(Transaction {
            kind,
            txid,
            sends: 1,
            auth_retries,
            next_at: now + FIRST_RTO,
            request,
        });
    }

    fn push(&mut self, contents: Vec<u8>) {
        self.out.push_back(Transmit {
            proto: Protocol::Udp,
            source: self.local,
            destination: self.server,
            contents: DatagramSend::from(contents),
        });
    }

    fn next_txid(&mut self) -> [u8; 12] {
        let mut txid = [0u8; 12];
        for chunk in txid.chunks_mut(4) {
            // xorshift64*: enough to tell our transactions apart.
            self.rng ^= self.rng >> 12;
            self.rng ^= self.rng << 25;
            self.rng ^= self.rng >> 27;
            let v = self.rng.wrapping_mul(0x2545_F491_4F6C_DD1D).to_be_bytes();
            chunk.copy_from_slice(&v[..4]);
        }
        txid
    }
}

/// Refresh this long after a grant: a minute before the end, or half-way for short ones.
fn refresh_after(lifetime: Duration) -> Duration {
    lifetime
        .saturating_sub(Duration::from_secs(60))
        .max(lifetime / 2)
}

fn secs(d: Duration) -> u32 {
    u32::try_from(d.as_secs()).unwrap_or(u32::MAX)
}

/// A STUN message being written.
struct Message {
    buf: Vec<u8>,
}

impl Message {
    fn new(typ: u16, txid: [u8; 12], capacity: usize) -> Self {
        let mut buf = Vec::with_capacity(HEADER + capacity);
        buf.extend_from_slice(&typ.to_be_bytes());
        buf.extend_from_slice(&[0, 0]);
        buf.extend_from_slice(&MAGIC.to_be_bytes());
        buf.extend_from_slice(&txid);
        Self { buf }
    }

    fn set_len(&mut self, len: usize) {
        let len = u16::try_from(len).unwrap_or(u16::MAX).to_be_bytes();
        self.buf[2..4].copy_from_slice(&len);
    }

    fn attr(&mut self, typ: u16, value: &[u8]) {
        let len = u16::try_from(value.len()).unwrap_or(u16::MAX);
        self.buf.extend_from_slice(&typ.to_be_bytes());
        self.buf.extend_from_slice(&len.to_be_bytes());
        self.buf
            .extend_from_slice(&value[..usize::from(len).min(value.len())]);
        while !self.buf.len().is_multiple_of(4) {
            self.buf.push(0);
        }
    }

    fn xor_address(&mut self, typ: u16, addr: SocketAddr) {
        let port = (addr.port() ^ (MAGIC >> 16) as u16).to_be_bytes();
        let mut v = [0u8; 20];
        v[2..4].copy_from_slice(&port);
        let mask: [u8; 16] = {
            let mut m = [0u8; 16];
            m[..4].copy_from_slice(&MAGIC.to_be_bytes());
            m[4..].copy_from_slice(&self.buf[8..20]);
            m
        };
        match addr.ip() {
            IpAddr::V4(ip) => {
                v[1] = 0x01;
                for (i, b) in ip.octets().iter().enumerate() {
                    v[4 + i] = b ^ mask[i];
                }
                self.attr(typ, &v[..8]);
            }
            IpAddr::V6(ip) => {
                v[1] = 0x02;
                for (i, b) in ip.octets().iter().enumerate() {
                    v[4 + i] = b ^ mask[i];
                }
                self.attr(typ, &v);
            }
        }
    }

    /// MESSAGE-INTEGRITY over everything so far, the length counting the attribute itself.
    fn integrity(&mut self, key: &[u8]) {
        self.set_len(self.buf.len() - HEADER + 24);
        let tag = hmac_sha1(key, &self.buf);
        self.attr(ATTR_MESSAGE_INTEGRITY, &tag);
    }

    fn finish(mut self) -> Vec<u8> {
        self.set_len(self.buf.len() - HEADER);
        self.buf
    }
}

fn hmac_sha1(key: &[u8], data: &[u8]) -> [u8; 20] {
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, key);
    let tag = hmac::sign(&key, data);
    let mut out = [0u8; 20];
    out.copy_from_slice(&tag.as_ref()[..20]);
    out
}

/// A received STUN message, the attributes TURN uses picked out; every length checked.
#[derive(Debug, Default)]
struct Parsed<'a> {
    typ: u16,
    txid: [u8; 12],
    /// Offset of MESSAGE-INTEGRITY, if present.
    integrity_at: Option<usize>,
    error_code: Option<u16>,
    reason: &'a str,
    realm: Option<&'a [u8]>,
    nonce: Option<&'a [u8]>,
    relayed: Option<SocketAddr>,
    mapped: Option<SocketAddr>,
    peer: Option<SocketAddr>,
    data: Option<&'a [u8]>,
    lifetime: Option<Duration>,
}

impl<'a> Parsed<'a> {
    fn parse(data: &'a [u8]) -> Option<Self> {
        let head = data.get(..HEADER)?;
        let typ = u16::from_be_bytes([head[0], head[1]]);
        let len = usize::from(u16::from_be_bytes([head[2], head[3]]));
        if typ & 0xC000 != 0 || head[4..8] != MAGIC.to_be_bytes() || data.len() != HEADER + len {
            return None;
        }
        let mut p = Parsed {
            typ,
            ..Parsed::default()
        };
        p.txid.copy_from_slice(&head[8..20]);
        let xor = &data[4..20];
        let mut at = HEADER;
        while at + 4 <= data.len() {
            let atyp = u16::from_be_bytes([data[at], data[at + 1]]);
            let alen = usize::from(u16::from_be_bytes([data[at + 2], data[at + 3]]));
            let v = data.get(at + 4..at + 4 + alen)?;
            if p.integrity_at.is_some() {
                // Only FINGERPRINT may follow MESSAGE-INTEGRITY; the rest is ignored.
                break;
            }
            match atyp {
                ATTR_MESSAGE_INTEGRITY if alen == 20 => p.integrity_at = Some(at),
                ATTR_ERROR_CODE if alen >= 4 => {
                    let class = u16::from(v[2] & 0x07);
                    p.error_code = Some(class * 100 + u16::from(v[3]));
                    p.reason = std::str::from_utf8(&v[4..]).unwrap_or("");
                }
                ATTR_REALM => p.realm = Some(v),
                ATTR_NONCE => p.nonce = Some(v),
                ATTR_XOR_RELAYED_ADDRESS => p.relayed = read_xor_address(v, xor),
                ATTR_XOR_MAPPED_ADDRESS => p.mapped = read_xor_address(v, xor),
                ATTR_XOR_PEER_ADDRESS => p.peer = read_xor_address(v, xor),
                ATTR_DATA => p.data = Some(v),
                ATTR_LIFETIME if alen == 4 => {
                    p.lifetime = Some(Duration::from_secs(u64::from(u32::from_be_bytes([
                        v[0], v[1], v[2], v[3],
                    ]))));
                }
                _ => {}
            }
            at += (4 + alen).next_multiple_of(4);
        }
        Some(p)
    }

    fn integrity_ok(&self, data: &[u8], key: &[u8]) -> bool {
        let Some(at) = self.integrity_at else {
            return false;
        };
        let Some(tag) = data.get(at + 4..at + 24) else {
            return false;
        };
        let mut head = [0u8; HEADER];
        head.copy_from_slice(&data[..HEADER]);
        let len = u16::try_from(at - HEADER + 24).unwrap_or(u16::MAX);
        head[2..4].copy_from_slice(&len.to_be_bytes());
        let hkey = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, key);
        let mut ctx = hmac::Context::with_key(&hkey);
        ctx.update(&head);
        ctx.update(&data[HEADER..at]);
        let mine = ctx.sign();
        // Constant time is not needed against a server, but costs nothing.
        mine.as_ref().len() == 20
            && aws_lc_rs::constant_time::verify_slices_are_equal(mine.as_ref(), tag).is_ok()
    }
}

fn read_xor_address(v: &[u8], xor: &[u8]) -> Option<SocketAddr> {
    let port = u16::from_be_bytes([*v.get(2)? ^ xor[0], *v.get(3)? ^ xor[1]]);
    match *v.get(1)? {
        0x01 if v.len() >= 8 => {
            let a: [u8; 4] = std::array::from_fn(|i| v[4 + i] ^ xor[i]);
            Some(SocketAddr::from((a, port)))
        }
        0x02 if v.len() >= 20 => {
            let a: [u8; 16] = std::array::from_fn(|i| v[4 + i] ^ xor[i]);
            Some(SocketAddr::from((a, port)))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests;
