//! PCAP replay source: reads a capture into an in-memory list of UDP payloads with their
//! send offsets, as SIPp's `play_pcap_audio` / `play_pcap_video` do.
//!
//! Reads classic pcap and pcapng (the Wireshark default), as libpcap-based SIPp does.
//!
//! Owns: decoding the link layer (Ethernet with 802.1Q/802.1ad VLAN tags, Linux cooked
//! SLL and SLL2, raw IPv4/IPv6, BSD null/loopback), IPv4/IPv6 and UDP, and keeping the
//! original gaps between packets. IPv4 fragments and non-UDP packets are skipped and
//! counted. Errors say which file and why (not a pcap, unsupported link type, no UDP).
//!
//! Runs when a scenario loads (the caller gives a reader; `load_pcap` opens a path for
//! convenience), never on a shard's hot path. Must not panic on any bytes: every header
//! length is checked against the captured data.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use pcap_file::DataLink;
use pcap_file::pcap::PcapReader;
use pcap_file::pcapng::PcapNgReader;
use thiserror::Error;

/// Largest UDP payload kept (the IPv4 maximum); bigger claims are malformed.
const MAX_UDP_PAYLOAD: usize = 65_507;
/// Cap on the total payload bytes of one capture, so a huge file fails at load time.
pub const MAX_PCAP_PAYLOAD_BYTES: usize = 256 * 1024 * 1024;

/// A PCAP that cannot be used, with the file it came from.
#[derive(Debug, Error)]
#[error("{}: {kind}", file.display())]
pub struct PcapSourceError {
    /// The file (or label) given by the caller.
    pub file: PathBuf,
    /// What is wrong with it.
    pub kind: PcapErrorKind,
}

/// What is wrong with a PCAP.
#[derive(Debug, Error)]
pub enum PcapErrorKind {
    /// The file could not be opened or read.
    #[error("cannot read: {0}")]
    Io(#[source] std::io::Error),
    /// The global header is not a pcap header (bad magic, truncated, pcapng…).
    #[error("not a pcap file: {0}")]
    NotPcap(String),
    /// A packet record is corrupt (after `index` good records).
    #[error("corrupt packet record #{index}: {reason}")]
    CorruptRecord {
        /// 0-based index of the bad record.
        index: usize,
        /// pcap-file's description.
        reason: String,
    },
    /// The link type is not one we decode.
    #[error(
        "unsupported link type {0} (supported: Ethernet, Linux SLL, SLL2, raw IP, null/loopback)"
    )]
    UnsupportedLinkType(u32),
    /// No UDP packet in the whole capture.
    #[error(
        "no UDP packets ({records} records read; if its header names the wrong link type, -pcap-link TYPE forces one)"
    )]
    NoUdpPackets {
        /// How many records were read.
        records: usize,
    },
    /// No UDP packet once every frame is read as the link type `-pcap-link` forced.
    #[error(
        "no UDP packets when read as link type {link} (forced by -pcap-link; {records} records read): is that the capture's link type?"
    )]
    NoUdpPacketsAs {
        /// How many records were read.
        records: usize,
        /// The forced link type, as `-pcap-link` names it.
        link: String,
    },
    /// The capture holds more than [`MAX_PCAP_PAYLOAD_BYTES`] of UDP payload.
    #[error("more than {MAX_PCAP_PAYLOAD_BYTES} bytes of UDP payload")]
    TooLarge,
}

/// One UDP payload of the capture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PcapPacketRef {
    /// Time since the first UDP packet of the capture (never decreasing).
    pub offset: Duration,
    /// Original UDP source port.
    pub src_port: u16,
    /// Original UDP destination port.
    pub dst_port: u16,
    start: u32,
    len: u32,
}

/// Everything a replay needs: payloads in capture order, with offsets. Immutable after
/// loading; share it between calls behind an `Arc`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PcapPayloads {
    bytes: Vec<u8>,
    packets: Vec<PcapPacketRef>,
    skipped: SkipCounts,
}

/// Records that were read but not kept, by reason.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SkipCounts {
    /// IPv4 fragments or IPv6 fragment headers.
    pub fragments: u32,
    /// IP packets that are not UDP (TCP, ICMP…), or non-IP frames (ARP…).
    pub not_udp: u32,
    /// Frames too short for their headers, or whose lengths disagree.
    pub malformed: u32,
    /// UDP datagrams cut by the capture's snap length.
    pub truncated: u32,
}

impl PcapPayloads {
    /// The packets in send order.
    #[must_use]
    pub fn packets(&self) -> &[PcapPacketRef] {
        &self.packets
    }

    /// The payload bytes of one packet.
    #[must_use]
    pub fn payload(&self, packet: &PcapPacketRef) -> &[u8] {
        let start = packet.start as usize;
        self.bytes
            .get(start..start + packet.len as usize)
            .unwrap_or_default()
    }

    /// The offset of the last packet: the playing time of one pass.
    #[must_use]
    pub fn duration(&self) -> Duration {
        self.packets.last().map_or(Duration::ZERO, |p| p.offset)
    }

    /// The largest payload, for sizing send buffers.
    #[must_use]
    pub fn max_payload_len(&self) -> usize {
        self.packets
            .iter()
            .map(|p| p.len as usize)
            .max()
            .unwrap_or(0)
    }

    /// Records skipped while loading.
    #[must_use]
    pub fn skipped(&self) -> SkipCounts {
        self.skipped
    }

    /// Builds a payload list directly (tests and generated sources).
    #[must_use]
    pub fn from_parts<'a>(items: impl IntoIterator<Item = (Duration, &'a [u8])>) -> PcapPayloads {
        let mut out = PcapPayloads {
            bytes: Vec::new(),
            packets: Vec::new(),
            skipped: SkipCounts::default(),
        };
        for (offset, payload) in items {
            out.push(offset, 0, 0, payload);
        }
        out
    }

    fn push(&mut self, offset: Duration, src_port: u16, dst_port: u16, payload: &[u8]) {
        let offset = self.packets.last().map_or(offset, |p| offset.max(p.offset));
        // Both fit in u32: the total is capped at MAX_PCAP_PAYLOAD_BYTES by the loader.
        let start = u32::try_from(self.bytes.len()).unwrap_or(u32::MAX);
        let len = u32::try_from(payload.len()).unwrap_or(0);
        self.bytes.extend_from_slice(payload);
        self.packets.push(PcapPacketRef {
            offset,
            src_port,
            dst_port,
            start,
            len,
        });
    }
}

/// Opens and reads a pcap file (scenario-load time only).
pub fn load_pcap(path: &Path) -> Result<PcapPayloads, PcapSourceError> {
    let file = std::fs::File::open(path).map_err(|e| PcapSourceError {
        file: path.to_path_buf(),
        kind: PcapErrorKind::Io(e),
    })?;
    read_pcap(path, std::io::BufReader::new(file))
}

/// Reads a pcap (or pcapng) from `reader`; `file` names it in errors.
pub fn read_pcap(file: &Path, reader: impl Read) -> Result<PcapPayloads, PcapSourceError> {
    read_pcap_as(file, reader, None)
}

/// [`read_pcap`], every frame decoded as `link` instead of the capture's own link type
/// when `link` is given (`-pcap-link`).
pub fn read_pcap_as(
    file: &Path,
    mut reader: impl Read,
    link: Option<DataLink>,
) -> Result<PcapPayloads, PcapSourceError> {
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
    let mut c = Collector::default();
    read_records(magic, reader, &mut c, link).map_err(err)?;
    if c.out.packets.is_empty() {
        return Err(err(match link {
            Some(l) => PcapErrorKind::NoUdpPacketsAs {
                records: c.records,
                link: link_name(l),
            },
            None => PcapErrorKind::NoUdpPackets { records: c.records },
        }));
    }
    Ok(c.out)
}

/// The link-type names `-pcap-link` takes (besides `auto` and a DLT number).
pub const PCAP_LINK_NAMES: &str =
    "auto, ethernet, linux_sll, linux_sll2, raw, null, loop, ipv4, ipv6 or a DLT number";

/// `-pcap-link TYPE`: `auto` (or empty) keeps the capture's own link type (`None`); a
/// name or a DLT number forces one. An unknown name is an error listing the names.
pub fn parse_pcap_link(s: &str) -> Result<Option<DataLink>, String> {
    Ok(Some(match s.to_ascii_lowercase().as_str() {
        "" | "auto" => return Ok(None),
        "ethernet" | "en10mb" => DataLink::ETHERNET,
        "linux_sll" | "sll" => DataLink::LINUX_SLL,
        "linux_sll2" | "sll2" => DataLink::LINUX_SLL2,
        "raw" => DataLink::RAW,
        "null" => DataLink::NULL,
        "loop" => DataLink::LOOP,
        "ipv4" => DataLink::IPV4,
        "ipv6" => DataLink::IPV6,
        other => match other.parse::<u32>() {
            Ok(n) => DataLink::from(n),
            Err(_) => return Err(format!("unknown link type \"{s}\" ({PCAP_LINK_NAMES})")),
        },
    }))
}

/// A link type as `-pcap-link` names it (the DLT number for the others).
pub fn link_name(link: DataLink) -> String {
    match link {
        DataLink::ETHERNET => "ethernet".into(),
        DataLink::LINUX_SLL => "linux_sll".into(),
        DataLink::LINUX_SLL2 => "linux_sll2".into(),
        DataLink::RAW => "raw".into(),
        DataLink::NULL => "null".into(),
        DataLink::LOOP => "loop".into(),
        DataLink::IPV4 => "ipv4".into(),
        DataLink::IPV6 => "ipv6".into(),
        other => u32::from(other).to_string(),
    }
}

/// Section header block type, the same in either byte order.
const PCAPNG_MAGIC: [u8; 4] = [0x0A, 0x0D, 0x0D, 0x0A];

pub(crate) type LinkDecoder = fn(&[u8]) -> Frame<'_>;

pub(crate) fn link_decoder(link: DataLink) -> Result<LinkDecoder, PcapErrorKind> {
    Ok(match link {
        DataLink::ETHERNET => ethernet,
        DataLink::LINUX_SLL => linux_sll,
        DataLink::LINUX_SLL2 => linux_sll2,
        DataLink::RAW | DataLink::IPV4 | DataLink::IPV6 => raw_ip,
        DataLink::NULL | DataLink::LOOP => null_loopback,
        other => return Err(PcapErrorKind::UnsupportedLinkType(u32::from(other))),
    })
}

/// Accumulates kept payloads and skip counts over the records of either format.
struct Collector {
    out: PcapPayloads,
    first_ts: Option<Duration>,
    last_ts: Duration,
    records: usize,
}

impl Default for Collector {
    fn default() -> Collector {
        Collector {
            out: PcapPayloads {
                bytes: Vec::new(),
                packets: Vec::new(),
                skipped: SkipCounts::default(),
            },
            first_ts: None,
            last_ts: Duration::ZERO,
            records: 0,
        }
    }
}

/// What the record walker feeds: each record's timestamp and link-decoded frame.
pub(crate) trait FrameSink {
    /// Records handed over so far (for error messages).
    fn records(&self) -> usize;
    /// The timestamp of the last record (a pcapng simple packet has none of its own).
    fn last_ts(&self) -> Duration;
    /// One record.
    fn record(&mut self, timestamp: Duration, frame: Frame<'_>) -> Result<(), PcapErrorKind>;
}

fn corrupt(sink: &dyn FrameSink, e: &pcap_file::PcapError) -> PcapErrorKind {
    PcapErrorKind::CorruptRecord {
        index: sink.records(),
        reason: e.to_string(),
    }
}

/// Walks the records of a classic pcap or a pcapng (told apart by `magic`, the first four
/// bytes, which `reader` still yields), decoding each frame by its interface's link type
/// or by `link` when the caller forces one.
pub(crate) fn read_records(
    magic: [u8; 4],
    reader: impl Read,
    sink: &mut dyn FrameSink,
    link: Option<DataLink>,
) -> Result<(), PcapErrorKind> {
    if magic == PCAPNG_MAGIC {
        read_pcapng(reader, sink, link)
    } else {
        read_classic(reader, sink, link)
    }
}

impl FrameSink for Collector {
    fn records(&self) -> usize {
        self.records
    }

    fn last_ts(&self) -> Duration {
        self.last_ts
    }

    fn record(&mut self, timestamp: Duration, frame: Frame<'_>) -> Result<(), PcapErrorKind> {
        self.records += 1;
        self.last_ts = timestamp;
        let udp = match frame {
            Frame::Ip(ip) => ip_udp(ip),
            Frame::NotIp => Decoded::NotUdp,
            Frame::Malformed => Decoded::Malformed,
        };
        let out = &mut self.out;
        match udp {
            Decoded::Udp {
                src_port,
                dst_port,
                payload,
            } => {
                if out.bytes.len() + payload.len() > MAX_PCAP_PAYLOAD_BYTES {
                    return Err(PcapErrorKind::TooLarge);
                }
                let first = *self.first_ts.get_or_insert(timestamp);
                out.push(timestamp.saturating_sub(first), src_port, dst_port, payload);
            }
            Decoded::Fragment => out.skipped.fragments += 1,
            Decoded::NotUdp => out.skipped.not_udp += 1,
            Decoded::Malformed => out.skipped.malformed += 1,
            Decoded::Truncated => out.skipped.truncated += 1,
        }
        Ok(())
    }
}

fn read_classic(
    reader: impl Read,
    c: &mut dyn FrameSink,
    link: Option<DataLink>,
) -> Result<(), PcapErrorKind> {
    let mut reader = PcapReader::new(reader).map_err(|e| PcapErrorKind::NotPcap(e.to_string()))?;
    let decode = link_decoder(link.unwrap_or(reader.header().datalink))?;
    while let Some(pkt) = reader.next_packet() {
        let pkt = pkt.map_err(|e| corrupt(c, &e))?;
        c.record(pkt.timestamp, decode(&pkt.data))?;
    }
    Ok(())
}

/// pcapng: each interface has its own link type and timestamp resolution. pcap-file 2.0
/// hands back the raw 64-bit timestamp as if it were nanoseconds, so it is rescaled by
/// the interface's `if_tsresol` (default 10^-6, pcapng §4.2).
fn read_pcapng(
    reader: impl Read,
    c: &mut dyn FrameSink,
    link: Option<DataLink>,
) -> Result<(), PcapErrorKind> {
    use pcap_file::pcapng::Block;
    use pcap_file::pcapng::blocks::interface_description::InterfaceDescriptionOption;

    let mut reader =
        PcapNgReader::new(reader).map_err(|e| PcapErrorKind::NotPcap(e.to_string()))?;
    // (decoder, ticks per second) per interface, in declaration order.
    let mut interfaces: Vec<(LinkDecoder, u128)> = Vec::new();
    while let Some(block) = reader.next_block() {
        let block = block.map_err(|e| corrupt(c, &e))?;
        match block {
            Block::SectionHeader(_) => interfaces.clear(),
            Block::InterfaceDescription(idb) => {
                let decode = link_decoder(link.unwrap_or(idb.linktype))?;
                let mut per_sec: u128 = 1_000_000;
                for opt in &idb.options {
                    if let InterfaceDescriptionOption::IfTsResol(r) = opt {
                        let exp = u32::from(r & 0x7F).min(30);
                        per_sec = if r & 0x80 == 0 {
                            10u128.pow(exp)
                        } else {
                            1u128 << exp
                        };
                    }
                }
                interfaces.push((decode, per_sec.max(1)));
            }
            Block::EnhancedPacket(epb) => {
                let Some(&(decode, per_sec)) = interfaces.get(epb.interface_id as usize) else {
                    return Err(PcapErrorKind::CorruptRecord {
                        index: c.records(),
                        reason: format!("packet on undeclared interface {}", epb.interface_id),
                    });
                };
                let ticks = epb.timestamp.as_nanos();
                let nanos = ticks.saturating_mul(1_000_000_000) / per_sec;
                let ts = Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX));
                c.record(ts, decode(&epb.data))?;
            }
            Block::SimplePacket(spb) => {
                // No timestamp: it goes out with the previous packet. Interface 0.
                let Some(&(decode, _)) = interfaces.first() else {
                    return Err(PcapErrorKind::CorruptRecord {
                        index: c.records(),
                        reason: "packet before any interface".into(),
                    });
                };
                let ts = c.last_ts();
                c.record(ts, decode(&spb.data))?;
            }
            _ => {}
        }
    }
    Ok(())
}

/// The network-layer bytes of a frame.
pub(crate) enum Frame<'a> {
    Ip(&'a [u8]),
    NotIp,
    Malformed,
}

enum Decoded<'a> {
    Udp {
        src_port: u16,
        dst_port: u16,
        payload: &'a [u8],
    },
    Fragment,
    NotUdp,
    Malformed,
    Truncated,
}

const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86DD;
const ETHERTYPE_VLAN: u16 = 0x8100;
const ETHERTYPE_QINQ: u16 = 0x88A8;
const ETHERTYPE_QINQ_OLD: u16 = 0x9100;

pub(crate) fn be16(b: &[u8], at: usize) -> Option<u16> {
    let s = b.get(at..at + 2)?;
    Some(u16::from_be_bytes([s[0], s[1]]))
}

fn by_ethertype(ethertype: u16, rest: &[u8]) -> Frame<'_> {
    match ethertype {
        ETHERTYPE_IPV4 | ETHERTYPE_IPV6 => Frame::Ip(rest),
        _ => Frame::NotIp,
    }
}

/// Ethernet II with any number of 802.1Q / 802.1ad tags.
fn ethernet(b: &[u8]) -> Frame<'_> {
    let mut at = 12;
    loop {
        let Some(t) = be16(b, at) else {
            return Frame::Malformed;
        };
        match t {
            ETHERTYPE_VLAN | ETHERTYPE_QINQ | ETHERTYPE_QINQ_OLD => at += 4,
            _ => return by_ethertype(t, b.get(at + 2..).unwrap_or_default()),
        }
    }
}

/// Linux cooked capture v1: 16-byte header, protocol in the last two bytes.
fn linux_sll(b: &[u8]) -> Frame<'_> {
    match (be16(b, 14), b.get(16..)) {
        (Some(t), Some(rest)) => by_ethertype(t, rest),
        _ => Frame::Malformed,
    }
}

/// Linux cooked capture v2: 20-byte header, protocol in the first two bytes.
fn linux_sll2(b: &[u8]) -> Frame<'_> {
    match (be16(b, 0), b.get(20..)) {
        (Some(t), Some(rest)) => by_ethertype(t, rest),
        _ => Frame::Malformed,
    }
}

fn raw_ip(b: &[u8]) -> Frame<'_> {
    Frame::Ip(b)
}

/// BSD null (host byte order) and OpenBSD loopback (network order): a 4-byte address
/// family. AF_INET is 2 everywhere; AF_INET6 is 10, 24, 28 or 30 depending on the OS.
/// Either order is accepted by looking at which half holds the value.
fn null_loopback(b: &[u8]) -> Frame<'_> {
    let Some(head) = b.get(..4) else {
        return Frame::Malformed;
    };
    let le = u32::from_le_bytes([head[0], head[1], head[2], head[3]]);
    let be = u32::from_be_bytes([head[0], head[1], head[2], head[3]]);
    let family = if le <= 0xFFFF { le } else { be };
    match family {
        2 | 10 | 24 | 28 | 30 => Frame::Ip(b.get(4..).unwrap_or_default()),
        _ => Frame::NotIp,
    }
}

const IPPROTO_UDP: u8 = 17;

/// IPv4 or IPv6 header(s), then UDP.
fn ip_udp(ip: &[u8]) -> Decoded<'_> {
    match ip.first().map(|b| b >> 4) {
        Some(4) => ipv4_udp(ip),
        Some(6) => ipv6_udp(ip),
        _ => Decoded::Malformed,
    }
}

fn ipv4_udp(ip: &[u8]) -> Decoded<'_> {
    let (Some(&b0), Some(total), Some(frag), Some(&proto)) =
        (ip.first(), be16(ip, 2), be16(ip, 6), ip.get(9))
    else {
        return Decoded::Malformed;
    };
    let ihl = usize::from(b0 & 0x0F) * 4;
    let total = usize::from(total);
    if ihl < 20 || total < ihl {
        return Decoded::Malformed;
    }
    // More-fragments flag or a non-zero offset: part of a fragmented datagram.
    if frag & 0x3FFF != 0 {
        return Decoded::Fragment;
    }
    if proto != IPPROTO_UDP {
        return Decoded::NotUdp;
    }
    // Ethernet may pad short frames: the IP total length is the real end.
    let end = total.min(ip.len());
    let Some(l4) = ip.get(ihl..end) else {
        return Decoded::Malformed;
    };
    udp(l4, total > ip.len())
}

fn ipv6_udp(ip: &[u8]) -> Decoded<'_> {
    let (Some(payload_len), Some(&first_next)) = (be16(ip, 4), ip.get(6)) else {
        return Decoded::Malformed;
    };
    let end = 40 + usize::from(payload_len);
    let cut = end > ip.len();
    let Some(mut rest) = ip.get(40..end.min(ip.len())) else {
        return Decoded::Malformed;
    };
    let mut next = first_next;
    // Walk at most 8 extension headers (hop-by-hop, routing, destination options).
    for _ in 0..8 {
        match next {
            IPPROTO_UDP => return udp(rest, cut),
            44 => return Decoded::Fragment,
            0 | 43 | 60 => {
                let (Some(&n), Some(&len8)) = (rest.first(), rest.get(1)) else {
                    return Decoded::Malformed;
                };
                let Some(r) = rest.get(8 + usize::from(len8) * 8..) else {
                    return Decoded::Malformed;
                };
                next = n;
                rest = r;
            }
            _ => return Decoded::NotUdp,
        }
    }
    Decoded::NotUdp
}

/// UDP header and payload; `ip_cut` says the IP packet itself was cut by the snap length.
fn udp(l4: &[u8], ip_cut: bool) -> Decoded<'_> {
    let (Some(src_port), Some(dst_port), Some(len)) = (be16(l4, 0), be16(l4, 2), be16(l4, 4))
    else {
        return if ip_cut {
            Decoded::Truncated
        } else {
            Decoded::Malformed
        };
    };
    let len = usize::from(len);
    if len < 8 || len - 8 > MAX_UDP_PAYLOAD {
        return Decoded::Malformed;
    }
    match l4.get(8..len) {
        Some(payload) => Decoded::Udp {
            src_port,
            dst_port,
            payload,
        },
        None if ip_cut => Decoded::Truncated,
        None => Decoded::Malformed,
    }
}

#[cfg(test)]
mod tests;
