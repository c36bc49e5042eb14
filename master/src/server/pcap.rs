//! The pcap export of the live SIP trace (`/api/v2/sip/trace/export?format=pcap`): one
//! packet per traced message, with its real addresses and time, in a classic pcap file
//! of link type raw IP (101), which Wireshark and tshark open and dissect as SIP.
//!
//! Owns: the pcap framing and the IPv4/IPv6, UDP and TCP headers with their checksums.
//! Must not: read the ring (`trace` hands it the records). A message that went over UDP
//! is a UDP datagram; one that went over TCP, TLS or WebSocket is one TCP segment (PSH,
//! ACK) of its connection, whose sequence and acknowledgement numbers follow the bytes
//! written each way, so Wireshark follows the stream (no handshake is made up: the
//! capture starts mid-connection, as a capture often does). TLS and WebSocket messages
//! are written as the SIP text they carried, without the TLS records or WebSocket
//! frames. A message cut at 16 KiB is written cut.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::time::UNIX_EPOCH;

use super::trace::Record;

/// LINKTYPE_RAW: each packet starts with its IPv4 or IPv6 header.
const LINKTYPE_RAW: u32 = 101;
const SNAPLEN: u32 = 65_535;
const UDP: u8 = 17;
const TCP: u8 = 6;
const TTL: u8 = 64;
/// The first sequence number of each direction of a connection.
const FIRST_SEQ: u32 = 1;
/// TCP flags PSH and ACK.
const PSH_ACK: u8 = 0x18;

/// The pcap file of `records`.
pub(super) fn pcap(records: &[Record]) -> Vec<u8> {
    let mut out = Vec::with_capacity(24 + records.len() * 600);
    out.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&0i32.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&SNAPLEN.to_le_bytes());
    out.extend_from_slice(&LINKTYPE_RAW.to_le_bytes());
    // (from, to) → the next sequence number from `from`.
    let mut next_seq: HashMap<(SocketAddr, SocketAddr), u32> = HashMap::new();
    // Debug records are no packets: the text export carries them.
    for r in records.iter().filter(|r| r.kind == "sip") {
        let packet = if r.transport == "udp" {
            packet(r.src_addr, r.dst_addr, Layer4::Udp, &r.bytes)
        } else {
            let payload = &r.bytes[..r.bytes.len().min(MAX_PAYLOAD)];
            let seq = *next_seq
                .entry((r.src_addr, r.dst_addr))
                .or_insert(FIRST_SEQ);
            let ack = *next_seq
                .entry((r.dst_addr, r.src_addr))
                .or_insert(FIRST_SEQ);
            next_seq.insert(
                (r.src_addr, r.dst_addr),
                seq.wrapping_add(payload.len() as u32),
            );
            packet(r.src_addr, r.dst_addr, Layer4::Tcp { seq, ack }, payload)
        };
        let since = r.wall.duration_since(UNIX_EPOCH).unwrap_or_default();
        let secs = u32::try_from(since.as_secs()).unwrap_or(u32::MAX);
        let len = u32::try_from(packet.len()).unwrap_or(u32::MAX);
        out.extend_from_slice(&secs.to_le_bytes());
        out.extend_from_slice(&since.subsec_micros().to_le_bytes());
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&packet);
    }
    out
}

/// Payloads are at most 16 KiB (the ring's cut), far below the IP limit.
const MAX_PAYLOAD: usize = 60_000;

/// The transport header a packet carries.
#[derive(Debug, Clone, Copy)]
enum Layer4 {
    Udp,
    Tcp { seq: u32, ack: u32 },
}

/// An IP packet holding one UDP datagram or TCP segment from `src` to `dst` (IPv6 when
/// either side is).
fn packet(src: SocketAddr, dst: SocketAddr, l4: Layer4, payload: &[u8]) -> Vec<u8> {
    let payload = &payload[..payload.len().min(MAX_PAYLOAD)];
    let (proto, header_len) = match l4 {
        Layer4::Udp => (UDP, 8),
        Layer4::Tcp { .. } => (TCP, 20),
    };
    let l4_len = (header_len + payload.len()) as u16;
    let (s, d) = (src.ip().to_canonical(), dst.ip().to_canonical());
    let mut p = Vec::with_capacity(48 + payload.len());
    let pseudo: Vec<u8>;
    match (s, d) {
        (IpAddr::V4(s4), IpAddr::V4(d4)) => {
            let total = 20 + l4_len;
            let mut h = [0u8; 20];
            h[0] = 0x45;
            h[2..4].copy_from_slice(&total.to_be_bytes());
            h[6] = 0x40; // don't fragment
            h[8] = TTL;
            h[9] = proto;
            h[12..16].copy_from_slice(&s4.octets());
            h[16..20].copy_from_slice(&d4.octets());
            let sum = checksum(&[&h]);
            h[10..12].copy_from_slice(&sum.to_be_bytes());
            p.extend_from_slice(&h);
            pseudo = [
                &s4.octets()[..],
                &d4.octets(),
                &[0, proto],
                &l4_len.to_be_bytes(),
            ]
            .concat();
        }
        _ => {
            let v6 = |ip: IpAddr| match ip {
                IpAddr::V4(a) => a.to_ipv6_mapped(),
                IpAddr::V6(a) => a,
            };
            let (s6, d6): (Ipv6Addr, Ipv6Addr) = (v6(s), v6(d));
            p.extend_from_slice(&0x6000_0000u32.to_be_bytes());
            p.extend_from_slice(&l4_len.to_be_bytes());
            p.push(proto);
            p.push(TTL);
            p.extend_from_slice(&s6.octets());
            p.extend_from_slice(&d6.octets());
            pseudo = [
                &s6.octets()[..],
                &d6.octets(),
                &u32::from(l4_len).to_be_bytes(),
                &[0, 0, 0, proto],
            ]
            .concat();
        }
    }
    let mut h = [0u8; 20];
    h[0..2].copy_from_slice(&src.port().to_be_bytes());
    h[2..4].copy_from_slice(&dst.port().to_be_bytes());
    match l4 {
        Layer4::Udp => {
            h[4..6].copy_from_slice(&l4_len.to_be_bytes());
            let sum = match checksum(&[&pseudo, &h[..8], payload]) {
                // 0 means "no checksum" in UDP; all ones is the same sum.
                0 => 0xffff,
                s => s,
            };
            h[6..8].copy_from_slice(&sum.to_be_bytes());
        }
        Layer4::Tcp { seq, ack } => {
            h[4..8].copy_from_slice(&seq.to_be_bytes());
            h[8..12].copy_from_slice(&ack.to_be_bytes());
            h[12] = 5 << 4; // 20-byte header, no options
            h[13] = PSH_ACK;
            h[14..16].copy_from_slice(&u16::MAX.to_be_bytes()); // window
            let sum = checksum(&[&pseudo, &h, payload]);
            h[16..18].copy_from_slice(&sum.to_be_bytes());
        }
    }
    p.extend_from_slice(&h[..header_len]);
    p.extend_from_slice(payload);
    p
}

/// The Internet checksum (RFC 1071) of the parts, read as one byte string.
fn checksum(parts: &[&[u8]]) -> u16 {
    let mut sum: u32 = 0;
    let mut odd: Option<u8> = None;
    for part in parts {
        for &b in *part {
            match odd.take() {
                Some(hi) => sum += u32::from(u16::from_be_bytes([hi, b])),
                None => odd = Some(b),
            }
        }
    }
    if let Some(hi) = odd {
        sum += u32::from(u16::from_be_bytes([hi, 0]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ipv4_packet_has_valid_checksums() {
        let p = packet(
            "127.0.0.1:5060".parse().unwrap(),
            "127.0.0.2:5070".parse().unwrap(),
            Layer4::Udp,
            b"OPTIONS sip:x SIP/2.0\r\n\r\n",
        );
        assert_eq!(p.len(), 20 + 8 + 25);
        assert_eq!(checksum(&[&p[..20]]), 0);
        let pseudo = [&p[12..20], &[0, UDP], &p[24..26]].concat();
        assert_eq!(checksum(&[&pseudo, &p[20..]]), 0);
        assert_eq!(u16::from_be_bytes([p[20], p[21]]), 5060);
    }

    #[test]
    fn an_ipv6_packet_is_written_when_a_side_is_ipv6() {
        let p = packet(
            "[::1]:5060".parse().unwrap(),
            "127.0.0.1:5070".parse().unwrap(),
            Layer4::Udp,
            b"x",
        );
        assert_eq!(p[0] >> 4, 6);
        assert_eq!(p.len(), 40 + 8 + 1);
    }

    #[test]
    fn a_tcp_segment_has_valid_checksums_and_its_numbers() {
        let body = b"SIP/2.0 200 OK\r\n\r\n";
        let p = packet(
            "127.0.0.1:5060".parse().unwrap(),
            "127.0.0.2:40000".parse().unwrap(),
            Layer4::Tcp { seq: 7, ack: 9 },
            body,
        );
        assert_eq!(p.len(), 20 + 20 + body.len());
        assert_eq!(p[9], TCP);
        assert_eq!(checksum(&[&p[..20]]), 0);
        let tcp_len = (20 + body.len()) as u16;
        let pseudo = [&p[12..20], &[0, TCP], &tcp_len.to_be_bytes()].concat();
        assert_eq!(checksum(&[&pseudo, &p[20..]]), 0);
        assert_eq!(u32::from_be_bytes([p[24], p[25], p[26], p[27]]), 7);
        assert_eq!(u32::from_be_bytes([p[28], p[29], p[30], p[31]]), 9);
        assert_eq!(p[33], PSH_ACK);
    }
}
