//! Tests of the pcap loader: captures built in memory with pcap-file, every link type,
//! skip counters, errors naming the file, and garbage that must not panic.
use super::*;
use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};
use pcap_file::{Endianness, TsResolution};

fn ipv4_udp_packet(payload: &[u8], frag: u16, proto: u8) -> Vec<u8> {
    let total = 20 + 8 + payload.len();
    let mut ip = vec![0x45, 0];
    ip.extend_from_slice(&(total as u16).to_be_bytes());
    ip.extend_from_slice(&[0, 0]);
    ip.extend_from_slice(&frag.to_be_bytes());
    ip.extend_from_slice(&[64, proto, 0, 0, 127, 0, 0, 1, 127, 0, 0, 1]);
    ip.extend_from_slice(&6000u16.to_be_bytes());
    ip.extend_from_slice(&7000u16.to_be_bytes());
    ip.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    ip.extend_from_slice(&[0, 0]);
    ip.extend_from_slice(payload);
    ip
}

fn ipv6_udp_packet(payload: &[u8]) -> Vec<u8> {
    let mut ip = vec![0x60, 0, 0, 0];
    // a destination-options header (8 bytes) then UDP
    let plen = 8 + 8 + payload.len();
    ip.extend_from_slice(&(plen as u16).to_be_bytes());
    ip.extend_from_slice(&[60, 64]);
    ip.extend_from_slice(&[0; 32]);
    ip.extend_from_slice(&[17, 0, 1, 4, 0, 0, 0, 0]);
    ip.extend_from_slice(&1234u16.to_be_bytes());
    ip.extend_from_slice(&5678u16.to_be_bytes());
    ip.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    ip.extend_from_slice(&[0, 0]);
    ip.extend_from_slice(payload);
    ip
}

fn capture(link: DataLink, frames: &[(u64, Vec<u8>)]) -> Vec<u8> {
    let header = PcapHeader {
        datalink: link,
        endianness: Endianness::Little,
        ts_resolution: TsResolution::MicroSecond,
        ..Default::default()
    };
    let mut w = PcapWriter::with_header(Vec::new(), header).unwrap();
    for (ms, f) in frames {
        let ts = Duration::from_secs(1_700_000_000) + Duration::from_millis(*ms);
        w.write_packet(&PcapPacket::new(ts, f.len() as u32, f))
            .unwrap();
    }
    w.into_writer()
}

fn read(bytes: &[u8]) -> Result<PcapPayloads, PcapSourceError> {
    read_pcap(Path::new("test.pcap"), bytes)
}

fn eth(ethertype: u16, vlans: usize, l3: &[u8]) -> Vec<u8> {
    let mut f = vec![0u8; 12];
    for _ in 0..vlans {
        f.extend_from_slice(&[0x81, 0x00, 0x00, 0x05]);
    }
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(l3);
    f
}

#[test]
fn ethernet_capture_yields_payloads_with_original_gaps() {
    let frames = vec![
        (0, eth(0x0800, 0, &ipv4_udp_packet(b"one", 0, 17))),
        (20, eth(0x0800, 1, &ipv4_udp_packet(b"two", 0, 17))),
        (45, eth(0x86DD, 2, &ipv6_udp_packet(b"three"))),
    ];
    let p = read(&capture(DataLink::ETHERNET, &frames)).unwrap();
    let offs: Vec<_> = p.packets().iter().map(|x| x.offset.as_millis()).collect();
    assert_eq!(offs, vec![0, 20, 45]);
    let pl: Vec<_> = p.packets().iter().map(|x| p.payload(x).to_vec()).collect();
    assert_eq!(
        pl,
        vec![b"one".to_vec(), b"two".to_vec(), b"three".to_vec()]
    );
    assert_eq!(p.packets()[0].src_port, 6000);
    assert_eq!(p.packets()[2].dst_port, 5678);
    assert_eq!(p.duration(), Duration::from_millis(45));
    assert_eq!(p.max_payload_len(), 5);
}

/// A UDP datagram carrying `payload` in a frame of `link` (IPv4, or IPv6 for that link).
fn udp_frame(link: DataLink, payload: &[u8]) -> Vec<u8> {
    let ip = ipv4_udp_packet(payload, 0, 17);
    let framed = |head: &[u8]| [head, &ip].concat();
    match link {
        DataLink::ETHERNET => eth(0x0800, 0, &ip),
        DataLink::LINUX_SLL => framed(&[&[0u8; 14][..], &[0x08, 0x00]].concat()),
        DataLink::LINUX_SLL2 => framed(&[&[0x08, 0x00][..], &[0u8; 18]].concat()),
        DataLink::IPV6 => ipv6_udp_packet(payload),
        DataLink::NULL => framed(&2u32.to_le_bytes()),
        DataLink::LOOP => framed(&2u32.to_be_bytes()),
        _ => ip,
    }
}

#[test]
fn cooked_raw_and_loopback_link_types_decode() {
    for link in [
        DataLink::LINUX_SLL,
        DataLink::LINUX_SLL2,
        DataLink::RAW,
        DataLink::IPV4,
        DataLink::IPV6,
        DataLink::NULL,
        DataLink::LOOP,
    ] {
        let frame = udp_frame(link, b"rtp");
        let p = read(&capture(link, &[(0, frame)])).unwrap_or_else(|e| panic!("{link:?}: {e}"));
        assert_eq!(p.payload(&p.packets()[0]), b"rtp", "{link:?}");
    }
}

#[test]
fn fragments_and_non_udp_are_counted_not_kept() {
    let frames = vec![
        (0, eth(0x0800, 0, &ipv4_udp_packet(b"frag", 0x2000, 17))),
        (1, eth(0x0800, 0, &ipv4_udp_packet(b"tcp", 0, 6))),
        (2, eth(0x0806, 0, &[0; 28])),
        (3, eth(0x0800, 0, &[0x45, 0, 0])),
        (4, eth(0x0800, 0, &ipv4_udp_packet(b"ok", 0, 17))),
    ];
    let p = read(&capture(DataLink::ETHERNET, &frames)).unwrap();
    assert_eq!(p.packets().len(), 1);
    let s = p.skipped();
    assert_eq!((s.fragments, s.not_udp, s.malformed), (1, 2, 1));
    // offsets start at the first UDP packet kept
    assert_eq!(p.packets()[0].offset, Duration::ZERO);
}

#[test]
fn snaplen_cut_datagram_is_counted_as_truncated() {
    let mut f = eth(0x0800, 0, &ipv4_udp_packet(&[1; 100], 0, 17));
    f.truncate(14 + 20 + 8 + 10);
    let frames = vec![(0, f), (5, eth(0x0800, 0, &ipv4_udp_packet(b"x", 0, 17)))];
    let p = read(&capture(DataLink::ETHERNET, &frames)).unwrap();
    assert_eq!(p.skipped().truncated, 1);
    assert_eq!(p.packets().len(), 1);
}

#[test]
fn errors_name_the_file_and_reason() {
    let e = read(b"this is not a capture at all").unwrap_err();
    assert_eq!(e.file, Path::new("test.pcap"));
    assert!(matches!(e.kind, PcapErrorKind::NotPcap(_)));
    assert!(e.to_string().starts_with("test.pcap: "));

    let e = read(&capture(DataLink::IEEE802_11, &[(0, vec![0; 40])])).unwrap_err();
    assert!(matches!(e.kind, PcapErrorKind::UnsupportedLinkType(105)));

    let e = read(&capture(
        DataLink::ETHERNET,
        &[(0, eth(0x0806, 0, &[0; 28]))],
    ))
    .unwrap_err();
    assert!(matches!(e.kind, PcapErrorKind::NoUdpPackets { records: 1 }));

    let mut cut = capture(
        DataLink::ETHERNET,
        &[(0, eth(0x0800, 0, &ipv4_udp_packet(b"a", 0, 17)))],
    );
    cut.truncate(cut.len() - 3);
    let e = read(&cut).unwrap_err();
    assert!(
        matches!(e.kind, PcapErrorKind::CorruptRecord { index: 0, .. }),
        "{e}"
    );

    let e = load_pcap(Path::new("/nonexistent/x.pcap")).unwrap_err();
    assert!(matches!(e.kind, PcapErrorKind::Io(_)));
    assert_eq!(e.file, Path::new("/nonexistent/x.pcap"));
}

#[test]
fn pcapng_with_two_interfaces_and_nanosecond_resolution_reads() {
    use pcap_file::pcapng::blocks::enhanced_packet::EnhancedPacketBlock;
    use pcap_file::pcapng::blocks::interface_description::{
        InterfaceDescriptionBlock, InterfaceDescriptionOption,
    };
    use pcap_file::pcapng::{Block, PcapNgWriter};
    let mut w = PcapNgWriter::new(Vec::new()).unwrap();
    // interface 0: Ethernet, default microseconds; interface 1: raw IP, nanoseconds
    w.write_block(&Block::InterfaceDescription(
        InterfaceDescriptionBlock::new(DataLink::ETHERNET, 65535),
    ))
    .unwrap();
    let mut raw = InterfaceDescriptionBlock::new(DataLink::RAW, 65535);
    raw.options.push(InterfaceDescriptionOption::IfTsResol(9));
    w.write_block(&Block::InterfaceDescription(raw)).unwrap();
    let epb = |iface: u32, ticks: u64, data: Vec<u8>| {
        Block::EnhancedPacket(EnhancedPacketBlock {
            interface_id: iface,
            // pcap-file writes the raw tick count from as_nanos()
            timestamp: Duration::from_nanos(ticks),
            original_len: data.len() as u32,
            data: data.into(),
            options: vec![],
        })
    };
    let base_us = 1_700_000_000_000_000u64;
    w.write_block(&epb(
        0,
        base_us,
        eth(0x0800, 0, &ipv4_udp_packet(b"a", 0, 17)),
    ))
    .unwrap();
    w.write_block(&epb(
        1,
        (base_us + 20_000) * 1000,
        ipv4_udp_packet(b"b", 0, 17),
    ))
    .unwrap();
    w.write_block(&epb(
        0,
        base_us + 45_000,
        eth(0x0800, 0, &ipv4_udp_packet(b"c", 0, 17)),
    ))
    .unwrap();
    let p = read(&w.into_inner()).unwrap();
    let got: Vec<_> = p
        .packets()
        .iter()
        .map(|x| (x.offset.as_millis(), p.payload(x).to_vec()))
        .collect();
    assert_eq!(
        got,
        vec![(0, b"a".to_vec()), (20, b"b".to_vec()), (45, b"c".to_vec())]
    );
}

#[test]
fn a_file_shorter_than_a_header_is_not_a_pcap() {
    let e = read(b"ab").unwrap_err();
    assert!(matches!(e.kind, PcapErrorKind::NotPcap(_)));
}

#[test]
fn timestamps_going_backwards_do_not_reorder_offsets() {
    let frames = vec![
        (100, eth(0x0800, 0, &ipv4_udp_packet(b"a", 0, 17))),
        (50, eth(0x0800, 0, &ipv4_udp_packet(b"b", 0, 17))),
        (140, eth(0x0800, 0, &ipv4_udp_packet(b"c", 0, 17))),
    ];
    let p = read(&capture(DataLink::ETHERNET, &frames)).unwrap();
    let offs: Vec<_> = p.packets().iter().map(|x| x.offset.as_millis()).collect();
    assert_eq!(offs, vec![0, 0, 40]);
}

#[test]
fn garbage_frames_never_panic_and_a_valid_frame_among_them_is_kept() {
    let mut garbage = Vec::new();
    for len in 0..80usize {
        for fill in [0u8, 0x45, 0x60, 0xFF, 0x81] {
            let mut f = vec![fill; len];
            if len > 14 {
                f[12] = 0x08;
                f[13] = 0x00;
            }
            garbage.push((len as u64, f));
        }
    }
    for link in [
        DataLink::ETHERNET,
        DataLink::LINUX_SLL,
        DataLink::LINUX_SLL2,
        DataLink::RAW,
        DataLink::NULL,
    ] {
        // The one datagram of this link type sits in the middle of the garbage.
        let mut frames = garbage.clone();
        frames.insert(garbage.len() / 2, (40, udp_frame(link, b"z")));
        let p = read(&capture(link, &frames)).unwrap_or_else(|e| panic!("{link:?}: {e}"));
        let kept: Vec<&[u8]> = p.packets().iter().map(|x| p.payload(x)).collect();
        assert_eq!(kept, [b"z"], "{link:?}");
        // Every garbage record was counted under some reason: none vanished.
        let s = p.skipped();
        assert_eq!(
            u64::from(s.fragments + s.not_udp + s.malformed + s.truncated),
            garbage.len() as u64,
            "{link:?}: {s:?}"
        );
    }
}
