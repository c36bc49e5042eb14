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
