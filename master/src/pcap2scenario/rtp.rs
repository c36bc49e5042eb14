//! The call's RTP, split by direction into two small captures (`rtp_uac.pcap`: what the
//! caller sent, `rtp_uas.pcap`: what the callee sent), for `play_pcap_audio`.
//!
//! Owns: finding each side's media address in its SDP (session or first audio `c=` and
//! the first `m=audio` port) and copying the UDP datagrams between those two addresses
//! into Ethernet/IP/UDP frames with their original timing. Must not: write files (the
//! caller does) or rewrite SIP.

use std::net::{IpAddr, SocketAddr};

use gossipper_engine::sip::SipMessage;
use gossipper_media::pcap_ip::{IpCapture, Transport};
use pcap_file::DataLink;
use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};

use super::dialog::Dialog;

/// The two directions' captures, when the call carried RTP.
#[derive(Debug, Clone, Default)]
pub(crate) struct MediaCaptures {
    pub(crate) uac: Option<Vec<u8>>,
    pub(crate) uas: Option<Vec<u8>>,
}

/// The first audio address each side announced, then the datagrams between them.
pub(crate) fn split(d: &Dialog, cap: &IpCapture) -> MediaCaptures {
    let mut caller = None;
    let mut callee = None;
    for m in &d.msgs {
        let Ok(msg) = SipMessage::parse(&m.bytes) else {
            continue;
        };
        let slot = if m.from_caller {
            &mut caller
        } else {
            &mut callee
        };
        if slot.is_none() {
            *slot = audio_addr(msg.body());
        }
    }
    let (Some(a), Some(b)) = (caller, callee) else {
        return MediaCaptures::default();
    };
    MediaCaptures {
        uac: write(cap, a, b),
        uas: write(cap, b, a),
    }
}

/// `c=` (the session's or the first one) and the first `m=audio` port.
fn audio_addr(body: &[u8]) -> Option<SocketAddr> {
    let text = std::str::from_utf8(body).ok()?;
    let mut ip: Option<IpAddr> = None;
    let mut port: Option<u16> = None;
    for line in text.lines() {
        let line = line.trim_end_matches('\r');
        if let Some(c) = line.strip_prefix("c=IN ")
            && ip.is_none()
        {
            ip = c.split_whitespace().nth(1).and_then(|a| a.parse().ok());
        } else if let Some(m) = line.strip_prefix("m=audio ")
            && port.is_none()
        {
            port = m.split_whitespace().next().and_then(|p| p.parse().ok());
        }
    }
    Some(SocketAddr::new(ip?, port.filter(|&p| p != 0)?))
}

/// The datagrams from `src` to `dst` as a pcap, or `None` when there are none.
fn write(cap: &IpCapture, src: SocketAddr, dst: SocketAddr) -> Option<Vec<u8>> {
    let header = PcapHeader {
        datalink: DataLink::ETHERNET,
        ..Default::default()
    };
    let mut w = PcapWriter::with_header(Vec::new(), header).ok()?;
    let mut any = false;
    for p in &cap.packets {
        if p.transport != Transport::Udp || p.src != src || p.dst != dst {
            continue;
        }
        let frame = frame(src, dst, &p.payload)?;
        let len = u32::try_from(frame.len()).ok()?;
        w.write_packet(&PcapPacket::new(p.ts, len, &frame)).ok()?;
        any = true;
    }
    any.then(|| w.into_writer())
}

/// Ethernet II + IPv4/IPv6 + UDP around `payload` (checksums left zero, as capture
/// offload often shows them; players do not check them).
fn frame(src: SocketAddr, dst: SocketAddr, payload: &[u8]) -> Option<Vec<u8>> {
    let udp_len = u16::try_from(8 + payload.len()).ok()?;
    let mut f = vec![0u8; 12];
    match (src.ip(), dst.ip()) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            f.extend_from_slice(&[0x08, 0x00]);
            let total = udp_len.checked_add(20)?;
            f.extend_from_slice(&[0x45, 0]);
            f.extend_from_slice(&total.to_be_bytes());
            f.extend_from_slice(&[0, 0, 0x40, 0, 64, 17, 0, 0]);
            f.extend_from_slice(&s.octets());
            f.extend_from_slice(&d.octets());
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            f.extend_from_slice(&[0x86, 0xDD]);
            f.extend_from_slice(&[0x60, 0, 0, 0]);
            f.extend_from_slice(&udp_len.to_be_bytes());
            f.extend_from_slice(&[17, 64]);
            f.extend_from_slice(&s.octets());
            f.extend_from_slice(&d.octets());
        }
        _ => return None,
    }
    f.extend_from_slice(&src.port().to_be_bytes());
    f.extend_from_slice(&dst.port().to_be_bytes());
    f.extend_from_slice(&udp_len.to_be_bytes());
    f.extend_from_slice(&[0, 0]);
    f.extend_from_slice(payload);
    Some(f)
}
