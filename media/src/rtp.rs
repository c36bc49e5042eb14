//! RTP and RTCP wire formats: the RTP fixed header (RFC 3550 §5.1), the telephone-event
//! payload (RFC 4733 §2.3, formerly RFC 2833) and RTCP sender and receiver reports with
//! their report blocks (RFC 3550 §6.4), plus SDES CNAME (§6.5) to make a compound packet.
//!
//! Owns: parsing borrowed bytes and writing into a caller's buffer. Must not: allocate,
//! keep state, or panic on any input; every length read from the wire is checked.
//! Parse errors are `Copy` with a static context so a bad packet costs nothing.
//! Used by `stream` (write), `receive` (parse), `record` and `echo`.

use thiserror::Error;

/// Length of the RTP fixed header without CSRCs.
pub const RTP_HEADER_LEN: usize = 12;

/// A malformed RTP or RTCP packet, or an output buffer too small for what was asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum RtpError {
    /// Fewer bytes than the structure needs.
    #[error("truncated {0}")]
    Truncated(&'static str),
    /// The version field is not 2.
    #[error("RTP version {0}, expected 2")]
    BadVersion(u8),
    /// A length or count field points outside the packet.
    #[error("bad length in {0}")]
    BadLength(&'static str),
    /// The caller's output buffer is too small (a caller bug, not peer input).
    #[error("output buffer too small for {0}")]
    BufferTooSmall(&'static str),
    /// More report blocks than the 5-bit count can carry (a caller bug).
    #[error("more than 31 report blocks")]
    TooManyReportBlocks,
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    let s = b.get(at..at + 2)?;
    Some(u16::from_be_bytes([s[0], s[1]]))
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at + 4)?;
    Some(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
}

fn put(out: &mut [u8], at: usize, bytes: &[u8], what: &'static str) -> Result<(), RtpError> {
    out.get_mut(at..at + bytes.len())
        .ok_or(RtpError::BufferTooSmall(what))?
        .copy_from_slice(bytes);
    Ok(())
}

/// The fields of an RTP fixed header that a sender chooses. Writing never emits CSRCs,
/// padding or a header extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RtpHeader {
    /// Marker bit (start of a talkspurt for audio, start of an event for RFC 4733).
    pub marker: bool,
    /// Payload type, 7 bits.
    pub payload_type: u8,
    /// Sequence number.
    pub sequence: u16,
    /// Media timestamp in clock-rate units.
    pub timestamp: u32,
    /// Synchronisation source.
    pub ssrc: u32,
}

impl RtpHeader {
    /// Writes the 12-byte header at the start of `out` and returns 12.
    pub fn write(&self, out: &mut [u8]) -> Result<usize, RtpError> {
        let head = out
            .get_mut(..RTP_HEADER_LEN)
            .ok_or(RtpError::BufferTooSmall("RTP header"))?;
        head[0] = 0x80;
        head[1] = (u8::from(self.marker) << 7) | (self.payload_type & 0x7F);
        head[2..4].copy_from_slice(&self.sequence.to_be_bytes());
        head[4..8].copy_from_slice(&self.timestamp.to_be_bytes());
        head[8..12].copy_from_slice(&self.ssrc.to_be_bytes());
        Ok(RTP_HEADER_LEN)
    }
}

/// A parsed RTP packet borrowing the datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpPacket<'a> {
    /// The fixed header fields.
    pub header: RtpHeader,
    /// Number of CSRC identifiers present.
    pub csrc_count: u8,
    /// Whether a header extension was present (it is skipped).
    pub has_extension: bool,
    /// The payload, with CSRCs, extension and padding removed.
    pub payload: &'a [u8],
}

impl<'a> RtpPacket<'a> {
    /// Parses an RTP packet (RFC 3550 §5.1, §5.3.1). Lengths are checked against the
    /// datagram: a CSRC count, extension length or padding count that overruns it is an
    /// error, never a panic.
    pub fn parse(buf: &'a [u8]) -> Result<RtpPacket<'a>, RtpError> {
        if buf.len() < RTP_HEADER_LEN {
            return Err(RtpError::Truncated("RTP header"));
        }
        let b0 = buf[0];
        let version = b0 >> 6;
        if version != 2 {
            return Err(RtpError::BadVersion(version));
        }
        let padding = b0 & 0x20 != 0;
        let has_extension = b0 & 0x10 != 0;
        let csrc_count = b0 & 0x0F;
        let b1 = buf[1];
        let header = RtpHeader {
            marker: b1 & 0x80 != 0,
            payload_type: b1 & 0x7F,
            sequence: u16::from_be_bytes([buf[2], buf[3]]),
            timestamp: u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]),
            ssrc: u32::from_be_bytes([buf[8], buf[9], buf[10], buf[11]]),
        };
        let mut start = RTP_HEADER_LEN + 4 * usize::from(csrc_count);
        if start > buf.len() {
            return Err(RtpError::Truncated("RTP CSRC list"));
        }
        if has_extension {
            let words = be16(buf, start + 2).ok_or(RtpError::Truncated("RTP extension"))?;
            start += 4 + 4 * usize::from(words);
            if start > buf.len() {
                return Err(RtpError::BadLength("RTP extension"));
            }
        }
        let mut end = buf.len();
        if padding {
            let pad = usize::from(buf[end - 1]);
            if pad == 0 || pad > end - start {
                return Err(RtpError::BadLength("RTP padding"));
            }
            end -= pad;
        }
        Ok(RtpPacket {
            header,
            csrc_count,
            has_extension,
            payload: &buf[start..end],
        })
    }
}

/// Quick demultiplexing test (RFC 5761 §4): true when the second byte is an RTCP packet
/// type (192..=223) and the version is 2.
#[must_use]
pub fn looks_like_rtcp(buf: &[u8]) -> bool {
    matches!(buf, [b0, b1, ..] if b0 >> 6 == 2 && (192..=223).contains(b1))
}

/// Writes an RTP packet (header then payload) into `out`; returns the total length.
pub fn write_rtp(header: &RtpHeader, payload: &[u8], out: &mut [u8]) -> Result<usize, RtpError> {
    let n = header.write(out)?;
    put(out, n, payload, "RTP payload")?;
    Ok(n + payload.len())
}

// ---------------------------------------------------------------------------------------
// RFC 4733 telephone events

/// One RFC 4733 §2.3 telephone-event payload (4 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TelephoneEvent {
    /// Event code (0–9, 10 = `*`, 11 = `#`, 12–15 = A–D for DTMF).
    pub event: u8,
    /// End bit: set on the final packets of the event.
    pub end: bool,
    /// Power level in -dBm0, 0..=63.
    pub volume: u8,
    /// Duration so far, in timestamp units.
    pub duration: u16,
}

/// Length of a telephone-event payload.
pub const TELEPHONE_EVENT_LEN: usize = 4;

impl TelephoneEvent {
    /// Parses the first event of a payload (redundant events, if any, are ignored).
    pub fn parse(payload: &[u8]) -> Result<TelephoneEvent, RtpError> {
        let [event, flags, d0, d1, ..] = *payload else {
            return Err(RtpError::Truncated("telephone-event"));
        };
        Ok(TelephoneEvent {
            event,
            end: flags & 0x80 != 0,
            volume: flags & 0x3F,
            duration: u16::from_be_bytes([d0, d1]),
        })
    }

    /// Writes the 4-byte payload; returns 4.
    pub fn write(&self, out: &mut [u8]) -> Result<usize, RtpError> {
        let d = self.duration.to_be_bytes();
        put(
            out,
            0,
            &[
                self.event,
                (u8::from(self.end) << 7) | (self.volume & 0x3F),
                d[0],
                d[1],
            ],
            "telephone-event",
        )?;
        Ok(TELEPHONE_EVENT_LEN)
    }
}

/// The RFC 4733 event code of a DTMF key (`0-9 * # A-D`, letters in either case).
#[must_use]
pub fn dtmf_event_for(key: char) -> Option<u8> {
    match key {
        '0'..='9' => Some(key as u8 - b'0'),
        '*' => Some(10),
        '#' => Some(11),
        'A'..='D' => Some(key as u8 - b'A' + 12),
        'a'..='d' => Some(key as u8 - b'a' + 12),
        _ => None,
    }
}

/// The DTMF key of an RFC 4733 event code, or `None` for non-DTMF events.
#[must_use]
pub fn dtmf_key_for(event: u8) -> Option<char> {
    match event {
        0..=9 => Some(char::from(b'0' + event)),
        10 => Some('*'),
        11 => Some('#'),
        12..=15 => Some(char::from(b'A' + event - 12)),
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------
// RTCP (RFC 3550 §6.4, §6.5)

/// RTCP packet type of a sender report.
pub const RTCP_SR: u8 = 200;
/// RTCP packet type of a receiver report.
pub const RTCP_RR: u8 = 201;
/// RTCP packet type of a source description.
pub const RTCP_SDES: u8 = 202;
/// RTCP packet type of a goodbye.
pub const RTCP_BYE: u8 = 203;

/// One reception report block (RFC 3550 §6.4.1), 24 bytes on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReportBlock {
    /// The source this block reports on.
    pub ssrc: u32,
    /// Fraction lost since the previous report, in 1/256 units.
    pub fraction_lost: u8,
    /// Cumulative number of packets lost (signed 24 bits: duplicates make it negative).
    pub cumulative_lost: i32,
    /// Extended highest sequence number received.
    pub highest_sequence: u32,
    /// Interarrival jitter in timestamp units.
    pub jitter: u32,
    /// Middle 32 bits of the NTP timestamp of the last SR received (LSR).
    pub last_sr: u32,
    /// Delay since that SR, in 1/65536 s (DLSR).
    pub delay_since_last_sr: u32,
}

/// Length of a report block on the wire.
pub const REPORT_BLOCK_LEN: usize = 24;

impl ReportBlock {
    fn parse(b: &[u8]) -> Option<ReportBlock> {
        let lost_word = be32(b, 4)?;
        // 24-bit two's complement: shift up then arithmetic-shift down to sign-extend.
        let cumulative_lost = ((lost_word << 8) as i32) >> 8;
        Some(ReportBlock {
            ssrc: be32(b, 0)?,
            fraction_lost: (lost_word >> 24) as u8,
            cumulative_lost,
            highest_sequence: be32(b, 8)?,
            jitter: be32(b, 12)?,
            last_sr: be32(b, 16)?,
            delay_since_last_sr: be32(b, 20)?,
        })
    }

    fn write(&self, out: &mut [u8], at: usize) -> Result<(), RtpError> {
        let lost = self.cumulative_lost.clamp(-0x80_0000, 0x7F_FFFF) as u32 & 0x00FF_FFFF;
        let lost_word = (u32::from(self.fraction_lost) << 24) | lost;
        let mut b = [0u8; REPORT_BLOCK_LEN];
        b[0..4].copy_from_slice(&self.ssrc.to_be_bytes());
        b[4..8].copy_from_slice(&lost_word.to_be_bytes());
        b[8..12].copy_from_slice(&self.highest_sequence.to_be_bytes());
        b[12..16].copy_from_slice(&self.jitter.to_be_bytes());
        b[16..20].copy_from_slice(&self.last_sr.to_be_bytes());
        b[20..24].copy_from_slice(&self.delay_since_last_sr.to_be_bytes());
        put(out, at, &b, "RTCP report block")
    }
}

/// The sender-information section of an SR (RFC 3550 §6.4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SenderInfo {
    /// 64-bit NTP timestamp (seconds since 1900 in the high half, fraction in the low).
    pub ntp_timestamp: u64,
    /// The RTP timestamp matching `ntp_timestamp`.
    pub rtp_timestamp: u32,
    /// Packets sent since the start.
    pub packet_count: u32,
    /// Payload octets sent since the start.
    pub octet_count: u32,
}

impl SenderInfo {
    /// The middle 32 bits of the NTP timestamp, as echoed in LSR.
    #[must_use]
    pub fn compact_ntp(&self) -> u32 {
        (self.ntp_timestamp >> 16) as u32
    }
}

/// Iterator over the report blocks of one SR or RR, borrowing the packet.
#[derive(Debug, Clone)]
pub struct ReportBlocks<'a> {
    rest: &'a [u8],
}

impl Iterator for ReportBlocks<'_> {
    type Item = ReportBlock;
    fn next(&mut self) -> Option<ReportBlock> {
        let (block, rest) = self.rest.split_at_checked(REPORT_BLOCK_LEN)?;
        self.rest = rest;
        ReportBlock::parse(block)
    }
}

/// One packet of an RTCP compound packet.
#[derive(Debug, Clone)]
pub enum RtcpPacket<'a> {
    /// A sender report.
    SenderReport {
        /// The sender's SSRC.
        ssrc: u32,
        /// Its sender information.
        info: SenderInfo,
        /// Its report blocks.
        blocks: ReportBlocks<'a>,
    },
    /// A receiver report.
    ReceiverReport {
        /// The reporter's SSRC.
        ssrc: u32,
        /// Its report blocks.
        blocks: ReportBlocks<'a>,
    },
    /// Any other packet type (SDES, BYE, APP, feedback…), skipped by length.
    Other {
        /// The RTCP packet type.
        packet_type: u8,
    },
}

/// Iterator over the packets of an RTCP compound packet. Yields `Err` once and then stops
/// when a length field overruns the datagram.
#[derive(Debug, Clone)]
pub struct RtcpPackets<'a> {
    rest: &'a [u8],
}

/// Iterates the packets of an RTCP compound datagram.
#[must_use]
pub fn rtcp_packets(buf: &[u8]) -> RtcpPackets<'_> {
    RtcpPackets { rest: buf }
}

impl<'a> Iterator for RtcpPackets<'a> {
    type Item = Result<RtcpPacket<'a>, RtpError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let r = self.parse_one();
        if r.is_err() {
            self.rest = &[];
        }
        Some(r)
    }
}

impl<'a> RtcpPackets<'a> {
    fn parse_one(&mut self) -> Result<RtcpPacket<'a>, RtpError> {
        let buf = self.rest;
        let (Some(&b0), Some(&packet_type), Some(words)) = (buf.first(), buf.get(1), be16(buf, 2))
        else {
            return Err(RtpError::Truncated("RTCP header"));
        };
        if b0 >> 6 != 2 {
            return Err(RtpError::BadVersion(b0 >> 6));
        }
        let len = 4 * (usize::from(words) + 1);
        let (pkt, rest) = buf
            .split_at_checked(len)
            .ok_or(RtpError::BadLength("RTCP packet"))?;
        self.rest = rest;
        let count = usize::from(b0 & 0x1F);
        // Padding (P bit) only lengthens the tail; blocks are bounded by the count below.
        match packet_type {
            RTCP_SR => {
                let ssrc = be32(pkt, 4).ok_or(RtpError::Truncated("RTCP SR"))?;
                let info = SenderInfo {
                    ntp_timestamp: (u64::from(be32(pkt, 8).ok_or(RtpError::Truncated("RTCP SR"))?)
                        << 32)
                        | u64::from(be32(pkt, 12).ok_or(RtpError::Truncated("RTCP SR"))?),
                    rtp_timestamp: be32(pkt, 16).ok_or(RtpError::Truncated("RTCP SR"))?,
                    packet_count: be32(pkt, 20).ok_or(RtpError::Truncated("RTCP SR"))?,
                    octet_count: be32(pkt, 24).ok_or(RtpError::Truncated("RTCP SR"))?,
                };
                let blocks = pkt
                    .get(28..28 + count * REPORT_BLOCK_LEN)
                    .ok_or(RtpError::BadLength("RTCP SR report count"))?;
                Ok(RtcpPacket::SenderReport {
                    ssrc,
                    info,
                    blocks: ReportBlocks { rest: blocks },
                })
            }
            RTCP_RR => {
                let ssrc = be32(pkt, 4).ok_or(RtpError::Truncated("RTCP RR"))?;
                let blocks = pkt
                    .get(8..8 + count * REPORT_BLOCK_LEN)
                    .ok_or(RtpError::BadLength("RTCP RR report count"))?;
                Ok(RtcpPacket::ReceiverReport {
                    ssrc,
                    blocks: ReportBlocks { rest: blocks },
                })
            }
            other => Ok(RtcpPacket::Other { packet_type: other }),
        }
    }
}

fn write_rtcp_header(
    out: &mut [u8],
    at: usize,
    count: usize,
    pt: u8,
    len: usize,
) -> Result<(), RtpError> {
    let count = u8::try_from(count)
        .ok()
        .filter(|c| *c <= 31)
        .ok_or(RtpError::TooManyReportBlocks)?;
    // len is a multiple of 4 and bounded by the caller's buffer, checked before this call.
    let words = u16::try_from(len / 4 - 1).map_err(|_| RtpError::BufferTooSmall("RTCP length"))?;
    let w = words.to_be_bytes();
    put(out, at, &[0x80 | count, pt, w[0], w[1]], "RTCP header")
}

/// Writes an SR with up to 31 report blocks at the start of `out`; returns its length.
pub fn write_sender_report(
    out: &mut [u8],
    ssrc: u32,
    info: &SenderInfo,
    blocks: &[ReportBlock],
) -> Result<usize, RtpError> {
    let len = 28 + REPORT_BLOCK_LEN * blocks.len();
    if out.len() < len {
        return Err(RtpError::BufferTooSmall("RTCP SR"));
    }
    write_rtcp_header(out, 0, blocks.len(), RTCP_SR, len)?;
    put(out, 4, &ssrc.to_be_bytes(), "RTCP SR")?;
    put(out, 8, &info.ntp_timestamp.to_be_bytes(), "RTCP SR")?;
    put(out, 16, &info.rtp_timestamp.to_be_bytes(), "RTCP SR")?;
    put(out, 20, &info.packet_count.to_be_bytes(), "RTCP SR")?;
    put(out, 24, &info.octet_count.to_be_bytes(), "RTCP SR")?;
    for (i, b) in blocks.iter().enumerate() {
        b.write(out, 28 + i * REPORT_BLOCK_LEN)?;
    }
    Ok(len)
}

/// Writes an RR with up to 31 report blocks at the start of `out`; returns its length.
pub fn write_receiver_report(
    out: &mut [u8],
    ssrc: u32,
    blocks: &[ReportBlock],
) -> Result<usize, RtpError> {
    let len = 8 + REPORT_BLOCK_LEN * blocks.len();
    if out.len() < len {
        return Err(RtpError::BufferTooSmall("RTCP RR"));
    }
    write_rtcp_header(out, 0, blocks.len(), RTCP_RR, len)?;
    put(out, 4, &ssrc.to_be_bytes(), "RTCP RR")?;
    for (i, b) in blocks.iter().enumerate() {
        b.write(out, 8 + i * REPORT_BLOCK_LEN)?;
    }
    Ok(len)
}

/// Writes an SDES packet with one chunk holding a CNAME item (RFC 3550 §6.5.1), padded to
/// a 32-bit boundary; returns its length. A CNAME longer than 255 bytes is cut.
pub fn write_sdes_cname(out: &mut [u8], ssrc: u32, cname: &[u8]) -> Result<usize, RtpError> {
    let cname = cname.get(..255).unwrap_or(cname);
    // header 4 + ssrc 4 + type 1 + len 1 + text + at least one null, rounded up to 4.
    let len = (4 + 4 + 2 + cname.len() + 1).div_ceil(4) * 4;
    let tail = out
        .get_mut(..len)
        .ok_or(RtpError::BufferTooSmall("RTCP SDES"))?;
    tail.fill(0);
    write_rtcp_header(out, 0, 1, RTCP_SDES, len)?;
    put(out, 4, &ssrc.to_be_bytes(), "RTCP SDES")?;
    // cname.len() <= 255 by the cut above.
    put(out, 8, &[1, cname.len() as u8], "RTCP SDES")?;
    put(out, 10, cname, "RTCP SDES")?;
    Ok(len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rtp_header_round_trips_through_write_and_parse() {
        let h = RtpHeader {
            marker: true,
            payload_type: 8,
            sequence: 0xBEEF,
            timestamp: 0xDEAD_BEEF,
            ssrc: 0x1234_5678,
        };
        let mut buf = [0u8; 64];
        let n = write_rtp(&h, &[1, 2, 3], &mut buf).unwrap();
        assert_eq!(n, 15);
        assert_eq!(buf[0], 0x80);
        assert_eq!(buf[1], 0x88);
        let p = RtpPacket::parse(&buf[..n]).unwrap();
        assert_eq!(p.header, h);
        assert_eq!(p.payload, &[1, 2, 3]);
    }

    #[test]
    fn rtp_parse_skips_csrcs_extension_and_padding() {
        let mut b = vec![0x80 | 0x20 | 0x10 | 2, 0];
        b.extend_from_slice(&[0; 10]);
        b.extend_from_slice(&[0xAA; 8]); // two CSRCs
        b.extend_from_slice(&[0xBE, 0xDE, 0, 1, 9, 9, 9, 9]); // one-word extension
        b.extend_from_slice(&[7, 7]); // payload
        b.extend_from_slice(&[0, 0, 3]); // padding of 3
        let p = RtpPacket::parse(&b).unwrap();
        assert_eq!(p.csrc_count, 2);
        assert!(p.has_extension);
        assert_eq!(p.payload, &[7, 7]);
    }

    #[test]
    fn rtp_parse_rejects_lengths_that_overrun() {
        assert_eq!(
            RtpPacket::parse(&[0x80; 11]),
            Err(RtpError::Truncated("RTP header"))
        );
        assert_eq!(RtpPacket::parse(&[0x40; 12]), Err(RtpError::BadVersion(1)));
        let mut b = [0u8; 12];
        b[0] = 0x8F; // 15 CSRCs, none present
        assert!(matches!(RtpPacket::parse(&b), Err(RtpError::Truncated(_))));
        b[0] = 0x90; // extension, header missing
        assert!(RtpPacket::parse(&b).is_err());
        let mut p = [0u8; 13];
        p[0] = 0xA0;
        p[12] = 200; // padding longer than the packet
        assert_eq!(
            RtpPacket::parse(&p),
            Err(RtpError::BadLength("RTP padding"))
        );
        p[12] = 0;
        assert_eq!(
            RtpPacket::parse(&p),
            Err(RtpError::BadLength("RTP padding"))
        );
    }

    #[test]
    fn rtp_parse_never_panics_on_short_garbage() {
        for len in 0..40 {
            for fill in [0x00u8, 0x80, 0xBF, 0xFF, 0x9F] {
                let b = vec![fill; len];
                let _ = RtpPacket::parse(&b);
                for p in rtcp_packets(&b) {
                    let _ = p.map(|p| match p {
                        RtcpPacket::SenderReport { blocks, .. }
                        | RtcpPacket::ReceiverReport { blocks, .. } => blocks.count(),
                        RtcpPacket::Other { .. } => 0,
                    });
                }
                let _ = TelephoneEvent::parse(&b);
            }
        }
    }

    #[test]
    fn write_refuses_a_small_buffer() {
        let mut small = [0u8; 11];
        assert!(RtpHeader::default().write(&mut small).is_err());
        let mut buf = [0u8; 14];
        assert!(write_rtp(&RtpHeader::default(), &[0; 3], &mut buf).is_err());
    }

    #[test]
    fn telephone_event_round_trips() {
        let e = TelephoneEvent {
            event: 11,
            end: true,
            volume: 10,
            duration: 800,
        };
        let mut b = [0u8; 4];
        e.write(&mut b).unwrap();
        assert_eq!(b, [11, 0x8A, 0x03, 0x20]);
        assert_eq!(TelephoneEvent::parse(&b).unwrap(), e);
        assert!(TelephoneEvent::parse(&b[..3]).is_err());
    }

    #[test]
    fn dtmf_keys_map_to_rfc_4733_events_and_back() {
        for (k, e) in [
            ('0', 0),
            ('9', 9),
            ('*', 10),
            ('#', 11),
            ('A', 12),
            ('d', 15),
        ] {
            assert_eq!(dtmf_event_for(k), Some(e));
        }
        assert_eq!(dtmf_event_for('x'), None);
        for e in 0..16 {
            let k = dtmf_key_for(e).unwrap();
            assert_eq!(dtmf_event_for(k), Some(e));
        }
        assert_eq!(dtmf_key_for(16), None);
    }

    fn block(n: u32) -> ReportBlock {
        ReportBlock {
            ssrc: n,
            fraction_lost: 25,
            cumulative_lost: -3,
            highest_sequence: 70_000 + n,
            jitter: 42,
            last_sr: 0x1111_2222,
            delay_since_last_sr: 65536,
        }
    }

    #[test]
    fn compound_sr_sdes_rr_parses_back_with_report_blocks() {
        let mut buf = [0u8; 512];
        let info = SenderInfo {
            ntp_timestamp: 0x0102_0304_0506_0708,
            rtp_timestamp: 160,
            packet_count: 50,
            octet_count: 8000,
        };
        let mut n = write_sender_report(&mut buf, 7, &info, &[block(1), block(2)]).unwrap();
        assert_eq!(n, 28 + 48);
        n += write_sdes_cname(&mut buf[n..], 7, b"gossipper@127.0.0.1").unwrap();
        assert_eq!(n % 4, 0);
        n += write_receiver_report(&mut buf[n..], 9, &[block(3)]).unwrap();
        let pkts: Vec<_> = rtcp_packets(&buf[..n]).collect::<Result<_, _>>().unwrap();
        assert_eq!(pkts.len(), 3);
        match &pkts[0] {
            RtcpPacket::SenderReport {
                ssrc,
                info: i,
                blocks,
            } => {
                assert_eq!(*ssrc, 7);
                assert_eq!(*i, info);
                assert_eq!(i.compact_ntp(), 0x0304_0506);
                let bs: Vec<_> = blocks.clone().collect();
                assert_eq!(bs, vec![block(1), block(2)]);
            }
            other => panic!("expected SR, got {other:?}"),
        }
        assert!(matches!(
            pkts[1],
            RtcpPacket::Other {
                packet_type: RTCP_SDES
            }
        ));
        match &pkts[2] {
            RtcpPacket::ReceiverReport { ssrc, blocks } => {
                assert_eq!(*ssrc, 9);
                assert_eq!(blocks.clone().collect::<Vec<_>>(), vec![block(3)]);
            }
            other => panic!("expected RR, got {other:?}"),
        }
        assert!(looks_like_rtcp(&buf[..n]));
        let mut rtp = [0u8; 12];
        RtpHeader {
            payload_type: 0,
            ..Default::default()
        }
        .write(&mut rtp)
        .unwrap();
        assert!(!looks_like_rtcp(&rtp));
    }

    #[test]
    fn rtcp_report_count_beyond_length_is_an_error_not_a_panic() {
        let mut buf = [0u8; 64];
        let n = write_receiver_report(&mut buf, 1, &[block(1)]).unwrap();
        buf[0] = 0x80 | 5; // claims 5 blocks, holds 1
        let r: Vec<_> = rtcp_packets(&buf[..n]).collect();
        assert_eq!(r.len(), 1);
        assert!(r[0].is_err());
        buf[0] = 0x81;
        buf[3] = 200; // length beyond the datagram
        assert!(rtcp_packets(&buf[..n]).next().unwrap().is_err());
    }

    #[test]
    fn cumulative_lost_is_sign_extended_and_clamped() {
        let mut b = block(1);
        b.cumulative_lost = 10_000_000; // beyond 24 bits
        let mut buf = [0u8; 64];
        let n = write_receiver_report(&mut buf, 1, &[b]).unwrap();
        let Some(Ok(RtcpPacket::ReceiverReport { mut blocks, .. })) =
            rtcp_packets(&buf[..n]).next()
        else {
            panic!("expected RR");
        };
        assert_eq!(blocks.next().unwrap().cumulative_lost, 0x7F_FFFF);
    }

    #[test]
    fn more_than_31_blocks_is_refused() {
        let mut buf = [0u8; 2048];
        let blocks = [block(0); 32];
        assert_eq!(
            write_receiver_report(&mut buf, 1, &blocks),
            Err(RtpError::TooManyReportBlocks)
        );
    }
}
