//! A capture read down to its UDP datagrams and TCP segments, with their IP addresses and
//! ports, for tools that look at signalling (pcap2scenario) rather than replay media.
//!
//! Owns: IPv4/IPv6 (extension headers walked, fragments skipped and counted), UDP and TCP
//! headers, and a cap on the payload kept. The link layer and the pcap/pcapng record walk
//! are `pcap_source`'s, so both read exactly the same link types. Must not: reassemble
//! streams or interpret payloads (the caller does), or panic on any bytes: every length is
//! checked against the captured data.

use std::io::Read;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use pcap_file::DataLink;

use crate::pcap_source::{
    Frame, FrameSink, MAX_PCAP_PAYLOAD_BYTES, PcapErrorKind, PcapSourceError, SkipCounts, be16,
    read_records,
};

/// The transport header of a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// A UDP datagram.
    Udp,
    /// A TCP segment: its sequence number and the SYN, FIN and RST flags.
    Tcp {
        /// Sequence number of the first payload byte (of the SYN itself when `syn`).
        seq: u32,
        /// SYN flag.
        syn: bool,
        /// FIN flag.
        fin: bool,
        /// RST flag.
        rst: bool,
    },
}

/// One UDP datagram or TCP segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpPacket {
    /// Capture timestamp, relative to the first record.
    pub ts: Duration,
    /// Source address and port.
    pub src: SocketAddr,
    /// Destination address and port.
    pub dst: SocketAddr,
    /// UDP or TCP (with its header fields).
    pub transport: Transport,
    /// The transport payload as captured.
    pub payload: Vec<u8>,
}

/// Every UDP datagram and TCP segment of a capture, in capture order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IpCapture {
    /// The packets.
    pub packets: Vec<IpPacket>,
    /// Records read.
    pub records: usize,
    /// Records not kept, by reason (`not_udp` counts packets that are neither UDP nor TCP).
    pub skipped: SkipCounts,
}

/// Reads a pcap or pcapng from `reader` down to UDP and TCP; `file` names it in errors.
/// `link` forces the link type instead of the one the capture declares (`-pcap-link`).
pub fn read_ip_packets(
    file: &Path,
    mut reader: impl Read,
    link: Option<DataLink>,
) -> Result<IpCapture, PcapSourceError> {
    let err = |kind| PcapSourceError {
        file: file.to_path_buf(),
        kind,
    };
    let mut magic = [0u8; 4];
    reader.read_exact(&mut magic).map_err(|e| match e.kind() {
        std::io::ErrorKind::UnexpectedEof => {
            err(PcapErrorKind::NotPcap("shorter than a pcap header".into()))
        }
        _ => err(PcapErrorKind::Io(e)),
    })?;
    let reader = std::io::Cursor::new(magic).chain(reader);
    let mut sink = Sink::default();
    read_records(magic, reader, &mut sink, link).map_err(err)?;
    Ok(sink.out)
}

#[derive(Default)]
struct Sink {
    out: IpCapture,
    first_ts: Option<Duration>,
    last_ts: Duration,
    bytes: usize,
}

impl FrameSink for Sink {
    fn records(&self) -> usize {
        self.out.records
    }

    fn last_ts(&self) -> Duration {
        self.last_ts
    }

    fn record(&mut self, timestamp: Duration, frame: Frame<'_>) -> Result<(), PcapErrorKind> {
        self.out.records += 1;
        self.last_ts = timestamp;
        let skipped = &mut self.out.skipped;
        let ip = match frame {
            Frame::Ip(ip) => ip,
            Frame::NotIp => {
                skipped.not_udp += 1;
                return Ok(());
            }
            Frame::Malformed => {
                skipped.malformed += 1;
                return Ok(());
            }
        };
        match decode(ip) {
            Decoded::Packet {
                src,
                dst,
                transport,
                payload,
            } => {
                self.bytes += payload.len();
                if self.bytes > MAX_PCAP_PAYLOAD_BYTES {
                    return Err(PcapErrorKind::TooLarge);
                }
                let first = *self.first_ts.get_or_insert(timestamp);
                self.out.packets.push(IpPacket {
                    ts: timestamp.saturating_sub(first),
                    src,
                    dst,
                    transport,
                    payload: payload.to_vec(),
                });
            }
            Decoded::Fragment => skipped.fragments += 1,
            Decoded::Other => skipped.not_udp += 1,
            Decoded::Malformed => skipped.malformed += 1,
            Decoded::Truncated => skipped.truncated += 1,
        }
        Ok(())
    }
}

enum Decoded<'a> {
    Packet {
        src: SocketAddr,
        dst: SocketAddr,
        transport: Transport,
        payload: &'a [u8],
    },
    Fragment,
    Other,
    Malformed,
    Truncated,
}

const IPPROTO_TCP: u8 = 6;
const IPPROTO_UDP: u8 = 17;

fn decode(ip: &[u8]) -> Decoded<'_> {
    let layer = match ip.first().map(|b| b >> 4) {
        Some(4) => ipv4(ip),
        Some(6) => ipv6(ip),
        _ => return Decoded::Malformed,
    };
    let (src, dst, proto, l4, cut) = match layer {
        Ok(l) => l,
        Err(d) => return d,
    };
    let ports = (be16(l4, 0), be16(l4, 2));
    let (Some(sp), Some(dp)) = ports else {
        return if cut {
            Decoded::Truncated
        } else {
            Decoded::Malformed
        };
    };
    let src = SocketAddr::new(src, sp);
    let dst = SocketAddr::new(dst, dp);
    match proto {
        IPPROTO_UDP => {
            let Some(len) = be16(l4, 4).map(usize::from) else {
                return Decoded::Malformed;
            };
            if len < 8 {
                return Decoded::Malformed;
            }
            match l4.get(8..len) {
                Some(payload) => Decoded::Packet {
                    src,
                    dst,
                    transport: Transport::Udp,
                    payload,
                },
                None if cut => Decoded::Truncated,
                None => Decoded::Malformed,
            }
        }
        IPPROTO_TCP => {
            let (Some(s), Some(&off), Some(&flags)) = (l4.get(4..8), l4.get(12), l4.get(13)) else {
                return if cut {
                    Decoded::Truncated
                } else {
                    Decoded::Malformed
                };
            };
            let header = usize::from(off >> 4) * 4;
            if header < 20 {
                return Decoded::Malformed;
            }
            if cut {
                // A segment cut by the snap length would leave a hole in the stream.
                return Decoded::Truncated;
            }
            let Some(payload) = l4.get(header..) else {
                return Decoded::Malformed;
            };
            Decoded::Packet {
                src,
                dst,
                transport: Transport::Tcp {
                    seq: u32::from_be_bytes([s[0], s[1], s[2], s[3]]),
                    syn: flags & 0x02 != 0,
                    fin: flags & 0x01 != 0,
                    rst: flags & 0x04 != 0,
                },
                payload,
            }
        }
        _ => Decoded::Other,
    }
}

/// (source, destination, protocol, transport bytes, cut by the snap length)
type Layer<'a> = (IpAddr, IpAddr, u8, &'a [u8], bool);

fn ipv4(ip: &[u8]) -> Result<Layer<'_>, Decoded<'_>> {
    let (Some(&b0), Some(total), Some(frag), Some(&proto), Some(s), Some(d)) = (
        ip.first(),
        be16(ip, 2),
        be16(ip, 6),
        ip.get(9),
        ip.get(12..16),
        ip.get(16..20),
    ) else {
        return Err(Decoded::Malformed);
    };
    let ihl = usize::from(b0 & 0x0F) * 4;
    let total = usize::from(total);
    if ihl < 20 || total < ihl {
        return Err(Decoded::Malformed);
    }
    if frag & 0x3FFF != 0 {
        return Err(Decoded::Fragment);
    }
    // Ethernet may pad short frames: the IP total length is the real end.
    let Some(l4) = ip.get(ihl..total.min(ip.len())) else {
        return Err(Decoded::Malformed);
    };
    let src = IpAddr::V4(Ipv4Addr::new(s[0], s[1], s[2], s[3]));
    let dst = IpAddr::V4(Ipv4Addr::new(d[0], d[1], d[2], d[3]));
    Ok((src, dst, proto, l4, total > ip.len()))
}

fn ipv6(ip: &[u8]) -> Result<Layer<'_>, Decoded<'_>> {
    let (Some(payload_len), Some(&first_next), Some(s), Some(d)) =
        (be16(ip, 4), ip.get(6), ip.get(8..24), ip.get(24..40))
    else {
        return Err(Decoded::Malformed);
    };
    let addr = |b: &[u8]| {
        let mut a = [0u8; 16];
        a.copy_from_slice(b);
        IpAddr::V6(Ipv6Addr::from(a))
    };
    let end = 40 + usize::from(payload_len);
    let cut = end > ip.len();
    let Some(mut rest) = ip.get(40..end.min(ip.len())) else {
        return Err(Decoded::Malformed);
    };
    let mut next = first_next;
    // At most 8 extension headers (hop-by-hop, routing, destination options).
    for _ in 0..8 {
        match next {
            IPPROTO_UDP | IPPROTO_TCP => return Ok((addr(s), addr(d), next, rest, cut)),
            44 => return Err(Decoded::Fragment),
            0 | 43 | 60 => {
                let (Some(&n), Some(&len8)) = (rest.first(), rest.get(1)) else {
                    return Err(Decoded::Malformed);
                };
                let Some(r) = rest.get(8 + usize::from(len8) * 8..) else {
                    return Err(Decoded::Malformed);
                };
                next = n;
                rest = r;
            }
            _ => return Err(Decoded::Other),
        }
    }
    Err(Decoded::Other)
}

#[cfg(test)]
mod tests {
    use super::*;
    use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};

    fn capture(link: DataLink, frames: &[Vec<u8>]) -> Vec<u8> {
        let header = PcapHeader {
            datalink: link,
            ..Default::default()
        };
        let mut w = PcapWriter::with_header(Vec::new(), header).unwrap();
        for (i, f) in frames.iter().enumerate() {
            let ts = Duration::from_millis(i as u64 * 10);
            w.write_packet(&PcapPacket::new(ts, f.len() as u32, f))
                .unwrap();
        }
        w.into_writer()
    }

    fn ipv4(proto: u8, l4: &[u8]) -> Vec<u8> {
        let total = (20 + l4.len()) as u16;
        let mut ip = vec![0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, proto, 0, 0];
        ip[2..4].copy_from_slice(&total.to_be_bytes());
        ip.extend_from_slice(&[10, 0, 0, 1, 10, 0, 0, 2]);
        ip.extend_from_slice(l4);
        ip
    }

    fn ipv6(proto: u8, l4: &[u8]) -> Vec<u8> {
        let mut ip = vec![0x60, 0, 0, 0];
        ip.extend_from_slice(&(l4.len() as u16).to_be_bytes());
        ip.extend_from_slice(&[proto, 64]);
        ip.extend_from_slice(&Ipv6Addr::LOCALHOST.octets());
        ip.extend_from_slice(&Ipv6Addr::LOCALHOST.octets());
        ip.extend_from_slice(l4);
        ip
    }

    fn udp(payload: &[u8]) -> Vec<u8> {
        let mut u = vec![0x13, 0xC4, 0x13, 0xC5];
        u.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
        u.extend_from_slice(&[0, 0]);
        u.extend_from_slice(payload);
        u
    }

    fn tcp(seq: u32, flags: u8, payload: &[u8]) -> Vec<u8> {
        let mut t = vec![0x13, 0xC4, 0x9C, 0x40];
        t.extend_from_slice(&seq.to_be_bytes());
        t.extend_from_slice(&[0, 0, 0, 0, 0x50, flags, 0xFF, 0xFF, 0, 0, 0, 0]);
        t.extend_from_slice(payload);
        t
    }

    #[test]
    fn udp_and_tcp_over_ipv4_and_ipv6_keep_addresses_ports_and_tcp_fields() {
        let mut eth = vec![0u8; 12];
        eth.extend_from_slice(&[0x08, 0x00]);
        eth.extend_from_slice(&ipv4(17, &udp(b"hello")));
        let frames = [
            eth,
            ipv4(6, &tcp(1000, 0x18, b"world")),
            ipv6(17, &udp(b"six")),
            ipv4(1, &[0; 8]),
        ];
        let bytes = capture(DataLink::RAW, &frames[1..]);
        let c = read_ip_packets(Path::new("t"), bytes.as_slice(), None).unwrap();
        assert_eq!(c.records, 3);
        assert_eq!(c.skipped.not_udp, 1);
        assert_eq!(c.packets.len(), 2);
        assert_eq!(c.packets[0].payload, b"world");
        assert_eq!(
            c.packets[0].transport,
            Transport::Tcp {
                seq: 1000,
                syn: false,
                fin: false,
                rst: false
            }
        );
        assert_eq!(c.packets[0].src, "10.0.0.1:5060".parse().unwrap());
        assert_eq!(c.packets[0].dst, "10.0.0.2:40000".parse().unwrap());
        assert_eq!(c.packets[1].src, "[::1]:5060".parse().unwrap());
        assert_eq!(c.packets[1].ts, Duration::from_millis(10));
        // The link type given by the caller wins over the declared one.
        let eth_only = capture(DataLink::RAW, &frames[..1]);
        let forced = read_ip_packets(
            Path::new("t"),
            eth_only.as_slice(),
            Some(DataLink::ETHERNET),
        )
        .unwrap();
        assert_eq!(forced.packets[0].payload, b"hello");
        assert_eq!(forced.packets[0].transport, Transport::Udp);
    }

    #[test]
    fn hostile_bytes_are_errors_or_skips_never_panics() {
        let e = read_ip_packets(Path::new("t"), &b"abc"[..], None).unwrap_err();
        assert!(e.to_string().contains("not a pcap"), "{e}");
        let e = read_ip_packets(Path::new("t"), &b"not a capture at all"[..], None).unwrap_err();
        assert!(e.to_string().contains("not a pcap"), "{e}");
        let good = capture(DataLink::RAW, &[ipv4(17, &udp(b"x"))]);
        for cut in 0..good.len() {
            let _ = read_ip_packets(Path::new("t"), &good[..cut], None);
        }
        let mut junk = vec![ipv4(17, &udp(b"x"))];
        for n in 0..40 {
            junk.push(ipv4(6, &tcp(0, 0x02, &[])).into_iter().take(n).collect());
            junk.push(ipv6(17, &udp(b"y")).into_iter().take(n).collect());
        }
        let c = read_ip_packets(
            Path::new("t"),
            capture(DataLink::RAW, &junk).as_slice(),
            None,
        )
        .unwrap();
        assert_eq!(c.records, junk.len());
    }
}
