//! HEP3 (the Homer Encapsulation Protocol, version 3): a copy of each SIP message, or RTCP
//! report, with its addresses and time, for a capture server such as Homer or heplify.
//!
//! Owns: the packet layout. A HEP3 packet is `"HEP3"`, its total length (u16), then
//! chunks of `vendor (u16) · type (u16) · length (u16, header included) · value`, all in
//! network byte order; vendor 0 is the generic chunk set used here. Must not: send
//! anything or read a clock (the shard loop hands in the wall time it read).

use std::net::{IpAddr, SocketAddr};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// Where and how to send HEP (`-hep_addr`, `-hep_capture_id`, `-hep_password`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HepConfig {
    /// The collector's UDP address.
    pub addr: SocketAddr,
    /// The capture agent id every packet carries.
    #[serde(default = "default_capture_id")]
    pub capture_id: u32,
    /// The collector's authentication key, sent in every packet when set.
    #[serde(default)]
    pub password: Option<String>,
    /// `-send_media_report`: copy every RTCP report sent and received (in clear, as HEP
    /// type 5, the Call-ID as correlation id).
    #[serde(default)]
    pub media_reports: bool,
    /// `-hep_homer_lake_rtcp`: RTCP reports go as Homer-Lake JSON (`homer_lake_json`)
    /// instead of the raw packet.
    #[serde(default)]
    pub homer_lake_json: bool,
}

/// The Go gossipper's default capture id.
pub const DEFAULT_CAPTURE_ID: u32 = 9999;

fn default_capture_id() -> u32 {
    DEFAULT_CAPTURE_ID
}

/// HEP's "protocol type" chunk: what the payload is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Payload {
    Sip = 1,
    Rtcp = 5,
}

/// The transport the captured packet travelled on (the "IP protocol id" chunk).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IpProto {
    Udp = 17,
    Tcp = 6,
}

/// One captured packet's description.
#[derive(Clone, Copy, Debug)]
pub struct Capture<'a> {
    pub src: SocketAddr,
    pub dst: SocketAddr,
    pub proto: IpProto,
    pub payload_type: Payload,
    pub time: SystemTime,
    pub capture_id: u32,
    pub password: Option<&'a [u8]>,
    /// Ties an RTCP report to its call (the Call-ID); empty for SIP, whose payload has it.
    pub correlation: &'a [u8],
}

/// Chunk types of the generic (vendor 0) set.
mod chunk {
    pub(super) const IP_FAMILY: u16 = 0x0001;
    pub(super) const IP_PROTO: u16 = 0x0002;
    pub(super) const IPV4_SRC: u16 = 0x0003;
    pub(super) const IPV4_DST: u16 = 0x0004;
    pub(super) const IPV6_SRC: u16 = 0x0005;
    pub(super) const IPV6_DST: u16 = 0x0006;
    pub(super) const SRC_PORT: u16 = 0x0007;
    pub(super) const DST_PORT: u16 = 0x0008;
    pub(super) const TIME_SEC: u16 = 0x0009;
    pub(super) const TIME_USEC: u16 = 0x000a;
    pub(super) const PROTO_TYPE: u16 = 0x000b;
    pub(super) const CAPTURE_ID: u16 = 0x000c;
    pub(super) const AUTH_KEY: u16 = 0x000e;
    pub(super) const PAYLOAD: u16 = 0x000f;
    pub(super) const CORRELATION: u16 = 0x0011;
}

/// The address family values of the IP family chunk (the socket API's AF_INET/AF_INET6).
const AF_INET: u8 = 2;
const AF_INET6: u8 = 10;

/// Writes one HEP3 packet for `payload` into `out` (cleared first). Returns false, leaving
/// `out` empty, when the packet would exceed HEP's 16-bit length.
pub fn encode(out: &mut Vec<u8>, c: &Capture<'_>, payload: &[u8]) -> bool {
    out.clear();
    out.extend_from_slice(b"HEP3\0\0");
    // A v4 peer of a v6 socket (or the reverse) is written as two v6 addresses.
    match (c.src.ip(), c.dst.ip()) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            put(out, chunk::IP_FAMILY, &[AF_INET]);
            put(out, chunk::IP_PROTO, &[c.proto as u8]);
            put(out, chunk::IPV4_SRC, &s.octets());
            put(out, chunk::IPV4_DST, &d.octets());
        }
        (s, d) => {
            put(out, chunk::IP_FAMILY, &[AF_INET6]);
            put(out, chunk::IP_PROTO, &[c.proto as u8]);
            put(out, chunk::IPV6_SRC, &v6(s));
            put(out, chunk::IPV6_DST, &v6(d));
        }
    }
    put(out, chunk::SRC_PORT, &c.src.port().to_be_bytes());
    put(out, chunk::DST_PORT, &c.dst.port().to_be_bytes());
    let since = c.time.duration_since(UNIX_EPOCH).unwrap_or_default();
    // HEP3's seconds field is 32 bits: good until 2106.
    put(
        out,
        chunk::TIME_SEC,
        &(since.as_secs() as u32).to_be_bytes(),
    );
    put(out, chunk::TIME_USEC, &since.subsec_micros().to_be_bytes());
    put(out, chunk::PROTO_TYPE, &[c.payload_type as u8]);
    put(out, chunk::CAPTURE_ID, &c.capture_id.to_be_bytes());
    if let Some(key) = c.password {
        put(out, chunk::AUTH_KEY, key);
    }
    if !c.correlation.is_empty() {
        put(out, chunk::CORRELATION, c.correlation);
    }
    put(out, chunk::PAYLOAD, payload);
    let Ok(total) = u16::try_from(out.len()) else {
        out.clear();
        return false;
    };
    out[4..6].copy_from_slice(&total.to_be_bytes());
    true
}

fn v6(ip: IpAddr) -> [u8; 16] {
    match ip {
        IpAddr::V4(a) => a.to_ipv6_mapped().octets(),
        IpAddr::V6(a) => a.octets(),
    }
}

/// Appends one vendor-0 chunk (a value too long for a chunk is caught by the caller's
/// total-length check, since the total then exceeds 65,535 too).
fn put(out: &mut Vec<u8>, kind: u16, value: &[u8]) {
    let len = (value.len() + 6).min(usize::from(u16::MAX)) as u16;
    out.extend_from_slice(&0u16.to_be_bytes());
    out.extend_from_slice(&kind.to_be_bytes());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(value);
}

/// The first SR or RR of an RTCP compound packet as Homer-Lake's JSON (the form the Go
/// gossipper sends with `-hep_homer_lake_rtcp`): `type`, `ssrc`, `report_count`,
/// `report_blocks` and, for an SR, `sender_information` (the NTP timestamp as strings).
/// `None` when the packet holds neither.
pub fn homer_lake_json(report: &[u8]) -> Option<String> {
    use gossipper_media::rtp::{RtcpPacket, rtcp_packets};
    let block = |b: gossipper_media::rtp::ReportBlock| {
        serde_json::json!({
            "source_ssrc": b.ssrc,
            "fraction_lost": b.fraction_lost,
            "packets_lost": b.cumulative_lost,
            "highest_seq_no": b.highest_sequence,
            "ia_jitter": b.jitter,
            "lsr": b.last_sr,
            "dlsr": b.delay_since_last_sr,
        })
    };
    for pkt in rtcp_packets(report) {
        let value = match pkt.ok()? {
            RtcpPacket::SenderReport { ssrc, info, blocks } => {
                let blocks: Vec<_> = blocks.map(block).collect();
                serde_json::json!({
                    "type": 200,
                    "ssrc": ssrc,
                    "report_count": blocks.len(),
                    "report_blocks": blocks,
                    "sender_information": {
                        "ntp_timestamp_sec": (info.ntp_timestamp >> 32).to_string(),
                        "ntp_timestamp_usec": (((info.ntp_timestamp & 0xFFFF_FFFF) * 1_000_000) >> 32).to_string(),
                        "rtp_timestamp": info.rtp_timestamp,
                        "packets": info.packet_count,
                        "octets": info.octet_count,
                    },
                })
            }
            RtcpPacket::ReceiverReport { ssrc, blocks } => {
                let blocks: Vec<_> = blocks.map(block).collect();
                serde_json::json!({
                    "type": 201,
                    "ssrc": ssrc,
                    "report_count": blocks.len(),
                    "report_blocks": blocks,
                })
            }
            _ => continue,
        };
        return Some(value.to_string());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// The chunks of a packet as (type, value), checking the framing on the way.
    fn chunks(p: &[u8]) -> Vec<(u16, Vec<u8>)> {
        assert_eq!(&p[..4], b"HEP3");
        assert_eq!(usize::from(u16::from_be_bytes([p[4], p[5]])), p.len());
        let mut out = Vec::new();
        let mut at = 6;
        while at < p.len() {
            assert_eq!(u16::from_be_bytes([p[at], p[at + 1]]), 0, "vendor");
            let kind = u16::from_be_bytes([p[at + 2], p[at + 3]]);
            let len = usize::from(u16::from_be_bytes([p[at + 4], p[at + 5]]));
            assert!(len >= 6 && at + len <= p.len(), "chunk length");
            out.push((kind, p[at + 6..at + len].to_vec()));
            at += len;
        }
        out
    }

    fn capture(src: &str, dst: &str) -> Capture<'static> {
        Capture {
            src: src.parse().unwrap(),
            dst: dst.parse().unwrap(),
            proto: IpProto::Udp,
            payload_type: Payload::Sip,
            time: UNIX_EPOCH + Duration::new(1_796_000_000, 123_456_789),
            capture_id: 2001,
            password: None,
            correlation: b"",
        }
    }

    #[test]
    fn a_v4_sip_packet_has_every_chunk_in_network_order() {
        let mut out = Vec::new();
        let msg = b"OPTIONS sip:a SIP/2.0\r\n\r\n";
        assert!(encode(
            &mut out,
            &capture("127.0.0.1:5060", "10.1.2.3:5070"),
            msg
        ));
        let c = chunks(&out);
        let get = |k: u16| c.iter().find(|(t, _)| *t == k).map(|(_, v)| v.clone());
        assert_eq!(get(chunk::IP_FAMILY), Some(vec![2]));
        assert_eq!(get(chunk::IP_PROTO), Some(vec![17]));
        assert_eq!(get(chunk::IPV4_SRC), Some(vec![127, 0, 0, 1]));
        assert_eq!(get(chunk::IPV4_DST), Some(vec![10, 1, 2, 3]));
        assert_eq!(get(chunk::SRC_PORT), Some(5060u16.to_be_bytes().to_vec()));
        assert_eq!(get(chunk::DST_PORT), Some(5070u16.to_be_bytes().to_vec()));
        assert_eq!(
            get(chunk::TIME_SEC),
            Some(1_796_000_000u32.to_be_bytes().to_vec())
        );
        assert_eq!(
            get(chunk::TIME_USEC),
            Some(123_456u32.to_be_bytes().to_vec())
        );
        assert_eq!(get(chunk::PROTO_TYPE), Some(vec![1]));
        assert_eq!(get(chunk::CAPTURE_ID), Some(2001u32.to_be_bytes().to_vec()));
        assert_eq!(get(chunk::PAYLOAD), Some(msg.to_vec()));
        assert_eq!(get(chunk::AUTH_KEY), None);
        assert_eq!(get(chunk::CORRELATION), None);
    }

    #[test]
    fn v6_and_mixed_families_are_written_as_v6() {
        let mut out = Vec::new();
        let mut c = capture("[::1]:5060", "127.0.0.1:5070");
        c.proto = IpProto::Tcp;
        c.payload_type = Payload::Rtcp;
        c.password = Some(b"secret");
        c.correlation = b"1-42@127.0.0.1";
        assert!(encode(&mut out, &c, b"\x80\xc8\0\x06"));
        let ch = chunks(&out);
        let get = |k: u16| ch.iter().find(|(t, _)| *t == k).map(|(_, v)| v.clone());
        assert_eq!(get(chunk::IP_FAMILY), Some(vec![10]));
        assert_eq!(get(chunk::IP_PROTO), Some(vec![6]));
        assert_eq!(
            get(chunk::IPV6_SRC),
            Some(std::net::Ipv6Addr::LOCALHOST.octets().to_vec())
        );
        assert_eq!(
            get(chunk::IPV6_DST),
            Some(
                std::net::Ipv4Addr::LOCALHOST
                    .to_ipv6_mapped()
                    .octets()
                    .to_vec()
            )
        );
        assert_eq!(get(chunk::PROTO_TYPE), Some(vec![5]));
        assert_eq!(get(chunk::AUTH_KEY), Some(b"secret".to_vec()));
        assert_eq!(get(chunk::CORRELATION), Some(b"1-42@127.0.0.1".to_vec()));
    }

    #[test]
    fn homer_lake_json_carries_the_report_and_its_blocks() {
        // An SR (PT 200, one block) then an SDES, as our reports are sent.
        let mut sr = vec![0x81, 200, 0, 12];
        sr.extend_from_slice(&0x1111_2222u32.to_be_bytes()); // sender SSRC
        sr.extend_from_slice(&((3_900_000_000u64 << 32) | (1u64 << 31)).to_be_bytes()); // NTP .5 s
        sr.extend_from_slice(&160u32.to_be_bytes()); // RTP timestamp
        sr.extend_from_slice(&50u32.to_be_bytes()); // packets
        sr.extend_from_slice(&8000u32.to_be_bytes()); // octets
        sr.extend_from_slice(&0x3333_4444u32.to_be_bytes()); // block: source
        sr.extend_from_slice(&[64, 0, 0, 2]); // fraction 64/256, 2 lost
        sr.extend_from_slice(&1000u32.to_be_bytes());
        sr.extend_from_slice(&7u32.to_be_bytes()); // jitter
        sr.extend_from_slice(&[0; 8]);
        sr.extend_from_slice(&[0x81, 202, 0, 1, 0, 0, 0, 1]);
        let v: serde_json::Value = serde_json::from_str(&homer_lake_json(&sr).unwrap()).unwrap();
        assert_eq!(v["type"], 200);
        assert_eq!(v["ssrc"], 0x1111_2222u32);
        assert_eq!(v["report_count"], 1);
        assert_eq!(v["report_blocks"][0]["source_ssrc"], 0x3333_4444u32);
        assert_eq!(v["report_blocks"][0]["fraction_lost"], 64);
        assert_eq!(v["report_blocks"][0]["packets_lost"], 2);
        assert_eq!(v["report_blocks"][0]["ia_jitter"], 7);
        let si = &v["sender_information"];
        assert_eq!(si["ntp_timestamp_sec"], "3900000000");
        assert_eq!(si["ntp_timestamp_usec"], "500000");
        assert_eq!(
            (si["packets"].clone(), si["octets"].clone()),
            (50.into(), 8000.into())
        );
        // An RR has no sender information; garbage has no form.
        let rr = [0x80, 201, 0, 1, 0, 0, 0, 9];
        let v: serde_json::Value = serde_json::from_str(&homer_lake_json(&rr).unwrap()).unwrap();
        assert_eq!(
            (v["type"].clone(), v["report_count"].clone()),
            (201.into(), 0.into())
        );
        assert!(v.get("sender_information").is_none());
        assert!(homer_lake_json(b"\x80\xca\0\x01abcd").is_none());
        assert!(homer_lake_json(b"xx").is_none());
    }

    #[test]
    fn a_payload_too_big_for_hep_is_refused_and_leaves_nothing() {
        let mut out = vec![1, 2, 3];
        let big = vec![b'x'; 65_530];
        assert!(!encode(
            &mut out,
            &capture("127.0.0.1:1", "127.0.0.1:2"),
            &big
        ));
        assert!(out.is_empty());
        // The buffer is reused for the next packet.
        assert!(encode(
            &mut out,
            &capture("127.0.0.1:1", "127.0.0.1:2"),
            b"x"
        ));
    }
}
