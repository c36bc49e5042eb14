//! A small SDP reader (RFC 4566): where the peer wants its RTP. Reads `c=` (session and
//! media level) and the ports of `m=audio`, `m=video` and `m=image`.
//!
//! Owns: finding the SDP in a SIP body (a plain `application/sdp` body, or the SDP part
//! of a `multipart/*` body, found by its `v=0` line) and turning it into socket addresses.
//! Must not: allocate, fail on any bytes, or resolve host names (an `IN IP4 name` that is
//! not an address is ignored, as if absent). Driven by `media::MediaEngine` for each SIP
//! message of a call with media.

use std::net::{IpAddr, SocketAddr};

/// The media addresses of one SDP. A port of 0 (a rejected stream) counts as absent.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RemoteMedia {
    /// `m=audio` port with its connection address.
    pub audio: Option<SocketAddr>,
    /// `m=video`.
    pub video: Option<SocketAddr>,
    /// `m=image` (T.38).
    pub image: Option<SocketAddr>,
}

impl RemoteMedia {
    /// True when no stream has an address.
    pub fn is_empty(&self) -> bool {
        self.audio.is_none() && self.video.is_none() && self.image.is_none()
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Audio,
    Video,
    Image,
    Other,
}

fn parse_connection(value: &[u8]) -> Option<IpAddr> {
    // c=IN IP4 192.0.2.1[/ttl[/n]]
    let text = std::str::from_utf8(value).ok()?;
    let mut parts = text.split_ascii_whitespace();
    if parts.next()? != "IN" {
        return None;
    }
    let _family = parts.next()?;
    let addr = parts.next()?;
    let addr = addr.split('/').next()?;
    addr.parse().ok()
}

fn parse_media(value: &[u8]) -> Option<(Kind, u16)> {
    // m=audio 49170[/2] RTP/AVP 0
    let text = std::str::from_utf8(value).ok()?;
    let mut parts = text.split_ascii_whitespace();
    let kind = match parts.next()? {
        "audio" => Kind::Audio,
        "video" => Kind::Video,
        "image" => Kind::Image,
        _ => Kind::Other,
    };
    let port = parts.next()?.split('/').next()?.parse().ok()?;
    Some((kind, port))
}

/// Reads the SDP in `body`. Returns `None` when the body holds no SDP.
pub fn read(body: &[u8]) -> Option<RemoteMedia> {
    let start = sdp_start(body)?;
    let sdp = body.get(start..)?;
    let mut session_c: Option<IpAddr> = None;
    // Streams seen: (kind, port, media-level c=).
    let mut streams: [(Kind, u16, Option<IpAddr>); 8] = [(Kind::Other, 0, None); 8];
    let mut count = 0usize;
    for line in sdp.split(|b| *b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        // The SDP of a multipart body ends at the next boundary.
        if line.starts_with(b"--") {
            break;
        }
        let Some((&key, rest)) = line.split_first() else {
            continue;
        };
        let Some(value) = rest.strip_prefix(b"=") else {
            continue;
        };
        match key {
            b'c' => {
                let ip = parse_connection(value);
                if count == 0 {
                    session_c = ip;
                } else if let Some(s) = streams.get_mut(count - 1) {
                    s.2 = ip;
                }
            }
            b'm' => {
                if let Some((kind, port)) = parse_media(value)
                    && let Some(slot) = streams.get_mut(count)
                {
                    *slot = (kind, port, None);
                    count += 1;
                }
            }
            _ => {}
        }
    }
    let mut out = RemoteMedia::default();
    for &(kind, port, c) in streams.iter().take(count) {
        let Some(ip) = c.or(session_c) else { continue };
        if port == 0 {
            continue;
        }
        let addr = Some(SocketAddr::new(ip, port));
        let slot = match kind {
            Kind::Audio => &mut out.audio,
            Kind::Video => &mut out.video,
            Kind::Image => &mut out.image,
            Kind::Other => continue,
        };
        // The first stream of each kind wins (RFC 3264 offers list the preferred first).
        if slot.is_none() {
            *slot = addr;
        }
    }
    Some(out)
}

/// What an SDP says about SRTP (`-media_srtp`, `-media_reject_srtp`): an `RTP/SAVP(F)`
/// or `UDP/TLS/…` profile, `a=crypto` lines (SDES) and an `a=fingerprint` (DTLS-SRTP).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SrtpHints {
    pub savp: bool,
    pub crypto: bool,
    pub fingerprint: bool,
}

impl SrtpHints {
    /// Any hint at all.
    pub fn any(&self) -> bool {
        self.savp || self.crypto || self.fingerprint
    }
}

/// The SDP lines of `body`, CR stripped, up to a multipart boundary (empty without SDP).
fn sdp_lines(body: &[u8]) -> impl Iterator<Item = &[u8]> {
    let sdp = sdp_start(body)
        .and_then(|s| body.get(s..))
        .unwrap_or_default();
    sdp.split(|b| *b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .take_while(|l| !l.starts_with(b"--"))
}

/// The SRTP hints of the SDP in `body` (all false without SDP).
pub fn srtp_hints(body: &[u8]) -> SrtpHints {
    let mut h = SrtpHints::default();
    for line in sdp_lines(body) {
        if let Some(m) = line.strip_prefix(b"m=") {
            let proto = m.split(|b| *b == b' ').filter(|f| !f.is_empty()).nth(2);
            if proto.is_some_and(|p| memchr::memmem::find(p, b"SAVP").is_some()) {
                h.savp = true;
            }
        } else if line.starts_with(b"a=crypto:") {
            h.crypto = true;
        } else if line.starts_with(b"a=fingerprint:") {
            h.fingerprint = true;
        }
    }
    h
}

/// The values of the `a=<name>:` attributes of the SDP in `body`, session and media
/// level, in order; lines that are not UTF-8 are skipped.
pub fn attribute_lines<'a>(body: &'a [u8], name: &'a str) -> impl Iterator<Item = &'a str> {
    sdp_lines(body).filter_map(move |line| {
        let rest = line.strip_prefix(b"a=")?.strip_prefix(name.as_bytes())?;
        std::str::from_utf8(rest.strip_prefix(b":")?).ok()
    })
}

/// The `a=crypto` lines of the first `m=audio` section of the SDP in `body` (RFC 4568
/// puts them at media level), as text; lines that are not UTF-8 are skipped.
pub fn audio_crypto_lines(body: &[u8]) -> impl Iterator<Item = &str> {
    let mut in_audio = false;
    let mut seen_audio = false;
    sdp_lines(body).filter_map(move |line| {
        if let Some(m) = line.strip_prefix(b"m=") {
            in_audio = !seen_audio && m.starts_with(b"audio ");
            seen_audio |= in_audio;
            return None;
        }
        if in_audio && line.starts_with(b"a=crypto:") {
            return std::str::from_utf8(line).ok();
        }
        None
    })
}

/// Where the SDP starts: the body itself, or the first `v=0` line of a multipart body.
fn sdp_start(body: &[u8]) -> Option<usize> {
    if body.starts_with(b"v=") {
        return Some(0);
    }
    memchr::memmem::find_iter(body, b"\nv=0")
        .next()
        .map(|i| i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sa(s: &str) -> Option<SocketAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn session_connection_applies_to_every_stream() {
        let sdp = b"v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 192.0.2.5\r\nt=0 0\r\n\
m=audio 6000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\nm=video 6002 RTP/AVP 96\r\n";
        let m = read(sdp).unwrap();
        assert_eq!(m.audio, sa("192.0.2.5:6000"));
        assert_eq!(m.video, sa("192.0.2.5:6002"));
        assert_eq!(m.image, None);
    }

    #[test]
    fn media_level_connection_overrides_the_session_one() {
        let sdp = b"v=0\nc=IN IP4 192.0.2.5\nm=audio 7000 RTP/AVP 8\nc=IN IP6 ::1\nm=image 7002 udptl t38\n";
        let m = read(sdp).unwrap();
        assert_eq!(m.audio, sa("[::1]:7000"));
        assert_eq!(m.image, sa("192.0.2.5:7002"));
    }

    #[test]
    fn multipart_bodies_yield_their_sdp_part() {
        let body = b"--b\r\nContent-Type: application/sdp\r\n\r\nv=0\r\nc=IN IP4 127.0.0.1\r\nm=audio 4000 RTP/AVP 0\r\n--b\r\nContent-Type: application/pidf+xml\r\n\r\n<x/>\r\n--b--\r\n";
        assert_eq!(read(body).unwrap().audio, sa("127.0.0.1:4000"));
    }

    #[test]
    fn srtp_hints_and_the_audio_crypto_lines_are_found() {
        let sdp = b"v=0\r\nc=IN IP4 1.1.1.1\r\nm=audio 4000 RTP/SAVP 0\r\n\
a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:AAAA\r\na=crypto:2 X inline:B\r\n\
m=video 4002 RTP/SAVP 96\r\na=crypto:1 V inline:C\r\n";
        let h = srtp_hints(sdp);
        assert!(h.savp && h.crypto && !h.fingerprint && h.any());
        let lines: Vec<&str> = audio_crypto_lines(sdp).collect();
        assert_eq!(
            lines,
            [
                "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:AAAA",
                "a=crypto:2 X inline:B"
            ]
        );
        let dtls = b"v=0\nm=audio 9 UDP/TLS/RTP/SAVPF 0\na=fingerprint:sha-256 AB\n";
        let h = srtp_hints(dtls);
        assert!(h.savp && h.fingerprint && !h.crypto);
        assert!(!srtp_hints(b"v=0\nm=audio 4000 RTP/AVP 0\n").any());
        assert!(!srtp_hints(b"garbage").any());
    }

    #[test]
    fn rejected_streams_hostnames_and_garbage_are_absent_not_errors() {
        assert_eq!(
            read(b"v=0\nc=IN IP4 1.2.3.4\nm=audio 0 RTP/AVP 0\n")
                .unwrap()
                .audio,
            None
        );
        assert!(
            read(b"v=0\nc=IN IP4 host.example\nm=audio 5 RTP/AVP 0\n")
                .unwrap()
                .is_empty()
        );
        assert!(
            read(b"v=0\nm=audio 99999 RTP/AVP 0\nc=\xff\xfe\n")
                .unwrap()
                .is_empty()
        );
        assert_eq!(read(b"hello"), None);
        assert_eq!(read(b""), None);
        // Many m= lines: extra ones are ignored, never indexed out of bounds.
        let many = b"v=0\nc=IN IP4 1.1.1.1\n"
            .iter()
            .copied()
            .chain(b"m=audio 1 RTP/AVP 0\n".repeat(20))
            .collect::<Vec<u8>>();
        assert_eq!(read(&many).unwrap().audio, sa("1.1.1.1:1"));
    }
}
