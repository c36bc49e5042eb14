//! A run's WebRTC settings (`<scenario webrtc="true">`): the job's `webrtc` block checked
//! and resolved once, before any shard starts.
//!
//! Owns: parsing the ICE server URLs (STUN only: TURN is refused, naming the URL, as
//! there is no TURN client yet), resolving their names, the one DTLS certificate every
//! call of the run shares, where recordings go, and refusing what means nothing for
//! WebRTC calls (`-rtp_echo`).
//! Must not: bind sockets (the shards do, per call) or run anything.

use std::net::{IpAddr, ToSocketAddrs};
use std::time::Duration;

use gossipper_media::webrtc::{IceServer, IceUrlScheme, generate_dtls_cert};

use crate::config::JobSpec;
use crate::runner::RunError;
use crate::webrtc::WebrtcSettings;

/// The settings shared by every shard (each shard's `max_sockets` is set by the runner).
pub(crate) fn settings(spec: &JobSpec, ip: IpAddr) -> Result<WebrtcSettings, RunError> {
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
    let mut stun_servers = Vec::new();
    for url in &spec.webrtc.ice_servers {
        let server = IceServer::parse(url).map_err(|e| RunError::Config(format!("webrtc: {e}")))?;
        if server.scheme != IceUrlScheme::Stun {
            return Err(RunError::Config(format!(
                "webrtc: ICE server {url}: TURN is not supported yet (no TURN client); use stun: servers"
            )));
        }
        let addr = (server.host.as_str(), server.port)
            .to_socket_addrs()
            .map_err(|e| RunError::Config(format!("webrtc: ICE server {url}: {e}")))?
            .find(|a| a.is_ipv4() == ip.is_ipv4())
            .ok_or_else(|| {
                RunError::Config(format!(
                    "webrtc: ICE server {url}: no address of the call sockets' family"
                ))
            })?;
        stun_servers.push(addr);
    }
    if spec.webrtc.ice_timeout_ms == 0 || spec.webrtc.dtls_timeout_ms == 0 {
        return Err(RunError::Config(
            "webrtc: ice_timeout_ms and dtls_timeout_ms must be above 0".into(),
        ));
    }
    Ok(WebrtcSettings {
        ip,
        prefers_pcma: spec.webrtc.prefers_pcma,
        stun_servers,
        ice_timeout: Duration::from_millis(spec.webrtc.ice_timeout_ms),
        dtls_timeout: Duration::from_millis(spec.webrtc.dtls_timeout_ms),
        dtls_cert: generate_dtls_cert(),
        max_sockets: 0,
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
