//! The audio codecs the bridge speaks, and the two facts it reads straight from remote SDP
//! (str0m keeps them to itself): the audio `a=mid` and the peer's payload-type order.
//!
//! Owns: codec names, clocks and 20 ms frame sizes. Must not: keep state. Used by
//! [`super::WebrtcBridge`] when it picks the codec it sends.

use str0m::format::Codec;
use str0m::media::{Frequency, Mid, Pt};

/// The audio codecs the bridge speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AudioCodec {
    /// G.711 µ-law, 8 kHz, PT 0.
    Pcmu,
    /// G.711 A-law, 8 kHz, PT 8.
    Pcma,
    /// Opus, 48 kHz clock.
    Opus,
}

impl AudioCodec {
    /// The name as SDP writes it.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Pcmu => "PCMU",
            Self::Pcma => "PCMA",
            Self::Opus => "opus",
        }
    }

    /// RTP clock ticks in one 20 ms frame.
    pub const fn samples_per_20ms(self) -> u32 {
        match self {
            Self::Pcmu | Self::Pcma => 160,
            Self::Opus => 960,
        }
    }

    pub(super) fn from_str0m(c: Codec) -> Option<Self> {
        match c {
            Codec::PCMU => Some(Self::Pcmu),
            Codec::PCMA => Some(Self::Pcma),
            Codec::Opus => Some(Self::Opus),
            _ => None,
        }
    }
}

/// A 20 ms Opus packet of silence (TOC 0xF8: CELT fullband 20 ms, one frame), what the
/// synthetic source sends when Opus is negotiated; we have no Opus encoder.
pub const OPUS_SILENCE_FRAME: [u8; 3] = [0xF8, 0xFF, 0xFE];

pub(super) fn clock_of(codec: AudioCodec) -> Frequency {
    match codec {
        AudioCodec::Pcmu | AudioCodec::Pcma => Frequency::EIGHT_KHZ,
        AudioCodec::Opus => Frequency::FORTY_EIGHT_KHZ,
    }
}

/// The `a=mid` of the first `m=audio` section.
pub(super) fn remote_audio_mid(sdp: &str) -> Option<Mid> {
    let mut in_audio = false;
    for line in sdp.lines().map(str::trim) {
        if line.starts_with("m=") {
            in_audio = line.starts_with("m=audio ");
        } else if in_audio && let Some(mid) = line.strip_prefix("a=mid:") {
            return Some(Mid::from(mid));
        }
    }
    None
}

/// `sdp` with the legacy DTLS-SRTP protocols of `m=` lines (`RTP/SAVPF`, `RTP/SAVP`,
/// `UDP/TLS/RTP/SAVP`, as some gateways write them) spelled `UDP/TLS/RTP/SAVPF`, the only
/// form str0m parses. Other lines are untouched.
pub(super) fn normalize_proto(sdp: &str) -> String {
    let mut out = String::with_capacity(sdp.len() + 16);
    for line in sdp.split_inclusive('\n') {
        let mut parts = line.splitn(4, ' ');
        match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (
                Some(m),
                Some(port),
                Some("RTP/SAVPF" | "RTP/SAVP" | "UDP/TLS/RTP/SAVP"),
                Some(rest),
            ) if m.starts_with("m=") => {
                out.push_str(m);
                out.push(' ');
                out.push_str(port);
                out.push_str(" UDP/TLS/RTP/SAVPF ");
                out.push_str(rest);
            }
            _ => out.push_str(line),
        }
    }
    out
}

/// `sdp` with `a=group:BUNDLE <mid>` added before its first `m=` line when it has no
/// BUNDLE group (an answer to our one-m-line offer).
pub(super) fn ensure_bundle(sdp: &str, mid: &str) -> String {
    if sdp.lines().any(|l| l.starts_with("a=group:BUNDLE")) {
        return sdp.to_owned();
    }
    let Some(at) = sdp.find("\nm=").map(|p| p + 1) else {
        return sdp.to_owned();
    };
    let eol = if sdp.contains("\r\n") { "\r\n" } else { "\n" };
    format!("{}a=group:BUNDLE {mid}{eol}{}", &sdp[..at], &sdp[at..])
}

/// `sdp` with media id `from` renamed `to` in `a=mid:` and `a=group:BUNDLE` lines.
pub(super) fn rename_mid(sdp: &str, from: &str, to: &str) -> String {
    let mut out = String::with_capacity(sdp.len() + to.len());
    for line in sdp.split_inclusive('\n') {
        let body = line.trim_end_matches(['\r', '\n']);
        let end = &line[body.len()..];
        if body.strip_prefix("a=mid:") == Some(from) {
            out.push_str("a=mid:");
            out.push_str(to);
        } else if let Some(ids) = body.strip_prefix("a=group:BUNDLE") {
            out.push_str("a=group:BUNDLE");
            for id in ids.split_ascii_whitespace() {
                out.push(' ');
                out.push_str(if id == from { to } else { id });
            }
        } else {
            out.push_str(body);
        }
        out.push_str(end);
    }
    out
}

/// The payload types of the first `m=audio` line, in the order the SDP lists them.
pub(super) fn remote_audio_pts(sdp: &str) -> Option<impl Iterator<Item = Pt> + '_> {
    let line = sdp
        .lines()
        .find_map(|l| l.trim().strip_prefix("m=audio "))?;
    // m=audio <port> <proto> <fmt>...
    Some(
        line.split_ascii_whitespace()
            .skip(2)
            .filter_map(|f| f.parse::<u8>().ok())
            .map(Pt::from),
    )
}
