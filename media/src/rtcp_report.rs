//! Builds our periodic RTCP compound packet: an SR (when we send) or an RR, with the
//! report block of what we receive, followed by SDES CNAME (RFC 3550 §6.1 requires it in
//! every compound packet).
//!
//! Owns: gathering the numbers from an [`RtpStream`] and an [`RtpReceiver`] and writing
//! them into the caller's buffer. Must not read a clock: the shard passes `now` and the
//! wall-clock time as an NTP timestamp ([`ntp_from_unix`] converts the `SystemTime` it
//! samples once per loop turn). The shard decides the interval (gossipper sends an SR
//! every 500 ms, see the product reference §4.1).

use std::time::{Duration, Instant};

use crate::receive::RtpReceiver;
use crate::rtp::{
    RtpError, SenderInfo, write_receiver_report, write_sdes_cname, write_sender_report,
};
use crate::stream::RtpStream;

/// Seconds from 1900-01-01 (NTP era 0) to 1970-01-01.
const NTP_UNIX_OFFSET: u64 = 2_208_988_800;

/// A 64-bit NTP timestamp from a time since the Unix epoch.
#[must_use]
pub fn ntp_from_unix(since_epoch: Duration) -> u64 {
    let secs = since_epoch.as_secs().wrapping_add(NTP_UNIX_OFFSET) & 0xFFFF_FFFF;
    let frac = (u64::from(since_epoch.subsec_nanos()) << 32) / 1_000_000_000;
    (secs << 32) | frac
}

/// Writes SR-or-RR + SDES into `out` and returns the length. An SR is written when
/// `sender` has sent at least one packet; the receiver (if any) contributes one report
/// block and learns the SR's timestamp for round-trip measurement.
pub fn write_report(
    out: &mut [u8],
    now: Instant,
    ntp_timestamp: u64,
    ssrc: u32,
    cname: &[u8],
    sender: Option<&RtpStream>,
    receiver: Option<&mut RtpReceiver>,
) -> Result<usize, RtpError> {
    let mut blocks = [Default::default(); 1];
    let (block, receiver) = match receiver {
        Some(r) => (r.report_block(now), Some(r)),
        None => (None, None),
    };
    let blocks: &[_] = match block {
        Some(b) => {
            blocks[0] = b;
            &blocks
        }
        None => &[],
    };
    let sending = sender.filter(|s| s.stats().packets > 0);
    let n = match sending {
        Some(s) => {
            let stats = s.stats();
            let info = SenderInfo {
                ntp_timestamp,
                rtp_timestamp: s.rtp_timestamp_at(now).unwrap_or(s.last_rtp_timestamp()),
                // The counters wrap at 2^32 on the wire (RFC 3550 §6.4.1).
                packet_count: (stats.packets & 0xFFFF_FFFF) as u32,
                octet_count: (stats.payload_octets & 0xFFFF_FFFF) as u32,
            };
            let n = write_sender_report(out, ssrc, &info, blocks)?;
            if let Some(r) = receiver {
                r.note_sender_report_sent(now, info.compact_ntp());
            }
            n
        }
        None => write_receiver_report(out, ssrc, blocks)?,
    };
    let rest = out
        .get_mut(n..)
        .ok_or(RtpError::BufferTooSmall("RTCP SDES"))?;
    Ok(n + write_sdes_cname(rest, ssrc, cname)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::g711::G711Law;
    use crate::receive::SourcePolicy;
    use crate::rtp::{RtcpPacket, RtpHeader, rtcp_packets, write_rtp};
    use crate::stream::{StreamConfig, StreamSource};
    use std::net::SocketAddr;

    #[test]
    fn ntp_conversion_matches_rfc_5905_epoch() {
        assert_eq!(ntp_from_unix(Duration::ZERO) >> 32, NTP_UNIX_OFFSET);
        assert_eq!(
            ntp_from_unix(Duration::from_millis(500)) & 0xFFFF_FFFF,
            1 << 31
        );
    }

    #[test]
    fn a_sending_stream_gets_an_sr_with_a_block_and_cname() {
        let t0 = Instant::now();
        let mut s = RtpStream::new(
            t0,
            StreamConfig::new(42, 0),
            StreamSource::Silence {
                law: G711Law::MuLaw,
                duration: None,
            },
        );
        let mut buf = [0u8; 256];
        for i in 0..5 {
            let _ = s.poll_transmit(t0 + Duration::from_millis(20 * i), &mut buf);
        }
        let mut r = RtpReceiver::new(SourcePolicy::Any, 8000);
        let mut pkt = [0u8; 200];
        let h = RtpHeader {
            ssrc: 9,
            ..Default::default()
        };
        let n = write_rtp(&h, &[0xFF; 160], &mut pkt).unwrap();
        let _ = r.handle_rtp(t0, SocketAddr::from(([127, 0, 0, 1], 1)), &pkt[..n]);
        let ntp = ntp_from_unix(Duration::from_secs(1_700_000_000));
        let len = write_report(
            &mut buf,
            t0 + Duration::from_millis(100),
            ntp,
            42,
            b"g@h",
            Some(&s),
            Some(&mut r),
        )
        .unwrap();
        let pkts: Vec<_> = rtcp_packets(&buf[..len]).collect::<Result<_, _>>().unwrap();
        let RtcpPacket::SenderReport { ssrc, info, blocks } = &pkts[0] else {
            panic!("expected SR first");
        };
        assert_eq!(*ssrc, 42);
        assert_eq!((info.packet_count, info.octet_count), (5, 800));
        assert_eq!(info.rtp_timestamp, 5 * 160); // 20 ms after the last packet's instant
        assert_eq!(blocks.clone().next().unwrap().ssrc, 9);
        assert!(matches!(pkts[1], RtcpPacket::Other { packet_type: 202 }));
        // without sending, an RR without blocks
        let len = write_report(&mut buf, t0, ntp, 42, b"g@h", None, None).unwrap();
        let first = rtcp_packets(&buf[..len]).next().unwrap().unwrap();
        assert!(matches!(first, RtcpPacket::ReceiverReport { ssrc: 42, .. }));
        assert!(write_report(&mut buf[..20], t0, ntp, 42, b"g@h", Some(&s), None).is_err());
    }
}
