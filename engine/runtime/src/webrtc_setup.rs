//! A run's WebRTC settings (`<scenario webrtc="true">`): the job's `webrtc` block checked
//! and resolved once, before any shard starts.
//!
//! Owns: parsing the ICE server URLs (STUN, and one TURN server over UDP: `turns:` and
//! `?transport=tcp` are refused, naming the URL), choosing the TURN credentials (inline,
//! then coturn REST, then static), resolving names, the one DTLS certificate every
//! call of the run shares, where recordings go, and refusing what means nothing for
//! WebRTC calls (`-rtp_echo`).
//! Must not: bind sockets (the shards do, per call) or run anything.

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use gossipper_media::webrtc::{IceServer, IceUrlScheme, TurnCredentials, generate_dtls_cert};
use gossipper_proto::webrtc::{TurnRest, TurnSetup};

use crate::config::JobSpec;
use crate::runner::RunError;
use crate::webrtc::WebrtcSettings;

/// Shared WebRTC sockets a shard binds at most: 128 × 128 pairs between two gossipper
/// instances (see `gossipper_proto::webrtc`'s shared module).
const SHARED_SOCKETS: usize = 128;

/// The settings shared by every shard (each shard's `max_sockets` is set by the runner).
/// `clock` is the runner's reading of both clocks: REST credentials are made from it, and
/// remade later by mapping a call's `now` onto Unix time through it.
pub(crate) fn settings(
    spec: &JobSpec,
    ip: IpAddr,
    clock: (Instant, SystemTime),
) -> Result<WebrtcSettings, RunError> {
    if spec.rtp_echo {
        return Err(RunError::Config(
            "-rtp_echo cannot be used with a webrtc=\"true\" scenario: its media is DTLS-SRTP on each call's own socket".into(),
        ));
    }
    if ip.is_unspecified() {
        return Err(RunError::Config(format!(
            "webrtc: the call sockets need a concrete address for their ICE candidate, not {ip} (give -mi or -i)"
        )));
    }
    let w = &spec.webrtc;
    let mut stun_servers = Vec::new();
    let mut turn = None;
    for url in &w.ice_servers {
        let server = IceServer::parse(url).map_err(|e| RunError::Config(format!("webrtc: {e}")))?;
        match (server.scheme, server.tcp) {
            (IceUrlScheme::Stun, _) => stun_servers.push(resolve(url, &server, ip)?),
            (IceUrlScheme::Turns, _) => {
                return Err(RunError::Config(format!(
                    "webrtc: ICE server {url}: turns: (TURN over TLS) is not supported; use turn:host:port?transport=udp"
                )));
            }
            (IceUrlScheme::Turn, true) => {
                return Err(RunError::Config(format!(
                    "webrtc: ICE server {url}: TURN over TCP (?transport=tcp) is not supported; use ?transport=udp"
                )));
            }
            (IceUrlScheme::Turn, false) if turn.is_some() => {
                return Err(RunError::Config(format!(
                    "webrtc: ICE server {url}: only one TURN server is supported"
                )));
            }
            (IceUrlScheme::Turn, false) => turn = Some(turn_setup(url, &server, ip, w, clock)?),
        }
    }
    let has_credentials =
        !w.ice_username.is_empty() || !w.ice_credential.is_empty() || !w.ice_auth_secret.is_empty();
    if turn.is_none() && has_credentials {
        return Err(RunError::Config(
            "webrtc: ice_username, ice_credential and ice_auth_secret are TURN credentials, and no turn: ICE server is given".into(),
        ));
    }
    if w.relay_only && turn.is_none() {
        return Err(RunError::Config(
            "webrtc: ICE transport policy relay needs a turn: ICE server".into(),
        ));
    }
    if spec.webrtc.ice_timeout_ms == 0 || spec.webrtc.dtls_timeout_ms == 0 {
        return Err(RunError::Config(
            "webrtc: ice_timeout_ms and dtls_timeout_ms must be above 0".into(),
        ));
    }
    // Shared sockets unless a STUN or TURN server is set: their servers answer every
    // call from one address, so gathering needs a socket per call.
    let shared_sockets = if stun_servers.is_empty() && turn.is_none() {
        SHARED_SOCKETS
    } else {
        0
    };
    Ok(WebrtcSettings {
        ip,
        prefers_pcma: spec.webrtc.prefers_pcma,
        stun_servers,
        turn,
        relay_only: w.relay_only,
        ice_timeout: Duration::from_millis(spec.webrtc.ice_timeout_ms),
        dtls_timeout: Duration::from_millis(spec.webrtc.dtls_timeout_ms),
        dtls_cert: generate_dtls_cert(),
        max_sockets: 0,
        shared_sockets,
        // As for classic media: a job's own folder, or (SIPp's command line) relative to
        // the working directory.
        record_dir: match &spec.record_dir {
            Some(dir) => dir.clone(),
            None => spec
                .file_access
                .write_path(std::path::Path::new("recordings")),
        },
        write_base: spec.file_access.write_base(),
        record_calls: spec.record_calls,
    })
}

/// The first address of `server` in the call sockets' family.
fn resolve(url: &str, server: &IceServer, ip: IpAddr) -> Result<SocketAddr, RunError> {
    (server.host.as_str(), server.port)
        .to_socket_addrs()
        .map_err(|e| RunError::Config(format!("webrtc: ICE server {url}: {e}")))?
        .find(|a| a.is_ipv4() == ip.is_ipv4())
        .ok_or_else(|| {
            RunError::Config(format!(
                "webrtc: ICE server {url}: no address of the call sockets' family"
            ))
        })
}

/// A TURN server with its credentials: the URL's inline pair, else coturn REST from
/// `ice_auth_secret` (identity `ice_username`, or `gossipper`), else the static pair.
fn turn_setup(
    url: &str,
    server: &IceServer,
    ip: IpAddr,
    w: &gossipper_proto::config::WebrtcSpec,
    (anchor, wall): (Instant, SystemTime),
) -> Result<TurnSetup, RunError> {
    let addr = resolve(url, server, ip)?;
    let anchor_unix = wall.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let ttl = Duration::from_secs(u64::from(w.ice_auth_ttl_sec));
    let identity = if w.ice_username.is_empty() {
        "gossipper"
    } else {
        w.ice_username.as_str()
    };
    let rest = (!w.ice_auth_secret.is_empty() && server.inline.is_none()).then(|| TurnRest {
        secret: w.ice_auth_secret.as_bytes().to_vec(),
        identity: identity.to_owned(),
        ttl,
        anchor,
        anchor_unix,
    });
    if rest.is_some() && w.ice_auth_ttl_sec < 60 {
        return Err(RunError::Config(format!(
            "webrtc: ice_auth_ttl_sec {} is too short for TURN REST credentials (at least 60)",
            w.ice_auth_ttl_sec
        )));
    }
    let fixed = (!w.ice_username.is_empty() || !w.ice_credential.is_empty())
        .then_some((w.ice_username.as_str(), w.ice_credential.as_str()));
    let secret = rest
        .as_ref()
        .map(|r| (r.secret.as_slice(), r.identity.as_str(), ttl));
    let credentials = TurnCredentials::choose(server, secret, fixed, anchor_unix).ok_or_else(|| {
        RunError::Config(format!(
            "webrtc: ICE server {url}: TURN needs credentials (inline user:pass@, ice_auth_secret, or ice_username and ice_credential)"
        ))
    })?;
    Ok(TurnSetup {
        server: addr,
        credentials,
        rest,
    })
}
