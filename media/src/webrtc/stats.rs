//! What one WebRTC call did, shaped for the `webrtc` block of `call_records.jsonl`, and
//! why it failed, as the causes summary.json counts.
//!
//! Owns: plain counters and timestamps (milliseconds since the bridge was created, so the
//! record needs no wall clock; the writer adds the call's start time). Must not: read a
//! clock or format on the hot path. Filled by [`super::WebrtcBridge`].

use std::net::SocketAddr;

use serde::Serialize;

/// Why a bridge failed. The names are the summary.json failure causes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WebrtcFailure {
    /// The remote SDP was unusable (no audio m-line, no common codec, not SAVPF …).
    RemoteSdp,
    /// The remote SDP carried no `a=fingerprint`, or a malformed one.
    MissingFingerprint,
    /// ICE found no working pair before the ICE timeout.
    IceTimeout,
    /// ICE connected but DTLS did not finish before the DTLS timeout.
    DtlsTimeout,
    /// The DTLS handshake failed (alert, bad record, unsupported profile).
    DtlsFailure,
    /// The peer's certificate does not match its `a=fingerprint`.
    FingerprintMismatch,
    /// Media arrives but none of it decrypts (wrong SRTP keys, or an unknown payload type).
    SrtpUndecryptable,
    /// The TURN allocation a relay-only call needs failed (refused credentials, an error
    /// response, no answer); the record's `turn_error` says which.
    Turn,
    /// Anything str0m reported that fits none of the above.
    Internal,
}

impl WebrtcFailure {
    /// The snake_case name used in records and summaries.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::RemoteSdp => "remote_sdp",
            Self::MissingFingerprint => "missing_fingerprint",
            Self::IceTimeout => "ice_timeout",
            Self::DtlsTimeout => "dtls_timeout",
            Self::DtlsFailure => "dtls_failure",
            Self::FingerprintMismatch => "fingerprint_mismatch",
            Self::SrtpUndecryptable => "srtp_undecryptable",
            Self::Turn => "turn",
            Self::Internal => "internal",
        }
    }
}

/// The `webrtc` block of one call record. Times are milliseconds since the bridge was
/// created; `None` means "never happened".
#[derive(Debug, Clone, Default, Serialize)]
pub struct WebrtcStats {
    /// The codec we send (`PCMU`, `PCMA`, `opus`), once negotiated.
    pub codec: Option<&'static str>,
    /// We made an SDP offer (UAC).
    pub offer_created: bool,
    /// We applied the peer's answer (UAC).
    pub answer_accepted: bool,
    /// We applied the peer's offer (UAS).
    pub offer_accepted: bool,
    /// We made an SDP answer (UAS).
    pub answer_created: bool,
    /// The last ICE connection state (`new`, `checking`, `connected`, `completed`, `disconnected`).
    pub ice_state: &'static str,
    /// ICE started checking.
    pub ice_checking_ms: Option<u64>,
    /// ICE found a working pair.
    pub ice_connected_ms: Option<u64>,
    /// ICE lost the pair (it may come back).
    pub ice_disconnected_ms: Option<u64>,
    /// DTLS finished and SRTP keys are in place.
    pub dtls_connected_ms: Option<u64>,
    /// The bridge failed.
    pub failed_ms: Option<u64>,
    /// The bridge closed (our close or the peer's close_notify).
    pub closed_ms: Option<u64>,
    /// Our side of the selected candidate pair.
    pub selected_local: Option<SocketAddr>,
    /// The peer's side of the selected candidate pair.
    pub selected_remote: Option<SocketAddr>,
    /// The kind of our side of the selected pair: `host`, `srflx`, `relay` (through the
    /// TURN server) or `prflx`.
    pub selected_kind: Option<&'static str>,
    /// The TURN server's relayed address for this call (our relay candidate).
    pub turn_relayed: Option<SocketAddr>,
    /// Why the TURN allocation failed or ended early (a call that is not relay-only goes on
    /// without it).
    pub turn_error: Option<String>,
    /// Local candidates put in our SDP (host and server-reflexive).
    pub local_candidates: u32,
    /// Remote candidates applied from later SIP bodies (trickle).
    pub remote_trickle_added: u32,
    /// Remote candidate lines we could not parse.
    pub remote_trickle_rejected: u32,
    /// SRTP and SRTCP datagrams we sent, and their bytes on the wire.
    pub srtp_packets_sent: u64,
    /// Bytes of `srtp_packets_sent`.
    pub srtp_bytes_sent: u64,
    /// SRTP and SRTCP datagrams that reached us (before decryption).
    pub srtp_packets_received: u64,
    /// Bytes of `srtp_packets_received`.
    pub srtp_bytes_received: u64,
    /// Audio frames we handed to str0m (RFC 4733 events not included).
    pub rtp_packets_sent: u64,
    /// Audio frames that decrypted and arrived (str0m's `MediaData`).
    pub rtp_packets_received: u64,
    /// RTP packets that came back with our own SSRC: our audio looped back by an echo
    /// behind a gateway (str0m drops them as ours, so they are counted here).
    pub rtp_echoed_received: u64,
    /// DTMF digits sent (RFC 4733).
    pub dtmf_sent: u32,
    /// Datagrams that were neither STUN, DTLS nor RTP/RTCP, dropped.
    pub garbage_datagrams: u64,
    /// Fraction lost from the peer's last RTCP report about our stream (0..1).
    pub fraction_lost: Option<f32>,
    /// Interarrival jitter of the stream we receive, in milliseconds (RFC 3550 §6.4.1).
    pub jitter_ms: Option<f64>,
    /// Round-trip time from RTCP or the ICE keepalives, in milliseconds.
    pub rtt_ms: Option<f64>,
    /// Why the bridge failed, if it did.
    pub failure: Option<WebrtcFailure>,
    /// str0m's words for the failure, for the record (never matched by tests or code).
    pub failure_detail: Option<String>,
}
