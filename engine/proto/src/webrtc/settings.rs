//! What a shard's WebRTC calls are set up with: the address, codecs, ICE servers, TURN
//! credentials (coturn REST ones remade before they expire), timeouts, the shared DTLS
//! certificate, the socket limits and where recordings go. Fixed for the run; built by
//! the runtime from the job, read by `WebrtcCalls`.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use gossipper_media::webrtc::{DtlsCert, TurnCredentials};

/// What a shard's WebRTC calls are set up with, fixed for the run.
#[derive(Clone, Debug)]
pub struct WebrtcSettings {
    /// The address the call sockets are bound to: every call's host candidate.
    pub ip: IpAddr,
    /// Offer PCMA before PCMU and send PCMA when the peer takes both.
    pub prefers_pcma: bool,
    /// STUN servers (resolved), for a server-reflexive candidate.
    pub stun_servers: Vec<SocketAddr>,
    /// The TURN server every call allocates a relay candidate on, and its credentials.
    pub turn: Option<TurnSetup>,
    /// ICE transport policy `relay`: the TURN relay is a call's only candidate.
    pub relay_only: bool,
    pub ice_timeout: Duration,
    pub dtls_timeout: Duration,
    /// One certificate for the shard's calls (saves a key generation per call).
    pub dtls_cert: Option<DtlsCert>,
    /// Call sockets this shard may hold open.
    pub max_sockets: usize,
    /// Above 0: calls share at most this many sockets per shard (`shared`), routed by
    /// peer address and ICE ufrag; 0: a socket per call (what STUN and TURN gathering
    /// need: their servers answer every call from one address).
    pub shared_sockets: usize,
    /// Where `rtp_record` without a path writes `<call-id>.wav`.
    pub record_dir: std::path::PathBuf,
    /// What a relative `rtp_record` path is joined to (the file rule's write base).
    pub write_base: std::path::PathBuf,
    /// Record every call (`-record_wav_dir`, `-record_wav_duplex`) into `record_dir`.
    pub record_calls: crate::config::RecordCalls,
}

/// A TURN server (UDP, resolved) and the credentials calls use there.
#[derive(Clone, Debug)]
pub struct TurnSetup {
    pub server: SocketAddr,
    /// Static or inline credentials, or the REST ones made when the run began.
    pub credentials: TurnCredentials,
    /// coturn REST credentials are made anew, for the calls that start after that,
    /// min(60 s, TTL/4) before they expire.
    pub rest: Option<TurnRest>,
}

/// What remaking coturn REST credentials needs: the shared secret, the identity, the TTL,
/// and the wall clock of one instant (the library reads no clock: `now` is mapped onto
/// Unix time through it).
#[derive(Clone, Debug)]
pub struct TurnRest {
    pub secret: Vec<u8>,
    pub identity: String,
    pub ttl: Duration,
    pub anchor: Instant,
    pub anchor_unix: u64,
}

impl TurnSetup {
    /// The credentials for a call starting at `now`, REST ones remade when due.
    pub fn credentials_at(&mut self, now: Instant) -> &TurnCredentials {
        if let Some(r) = &self.rest {
            let now_unix = r
                .anchor_unix
                .saturating_add(now.saturating_duration_since(r.anchor).as_secs());
            if self
                .credentials
                .refresh_at_unix(r.ttl)
                .is_some_and(|at| now_unix >= at)
            {
                self.credentials = TurnCredentials::rest(&r.secret, &r.identity, now_unix, r.ttl);
            }
        }
        &self.credentials
    }
}
