//! RTCP (RFC 3550 §6) for the shard's calls: an SR (while we send RTP) or an RR every
//! report interval to the peer's RTP port + 1, as one compound packet with our SDES.
//!
//! Owns: nothing of its own; `MediaEngine` methods over each session's `rtcp_next` and
//! the engine's `rtcp_due` heap. Must not: read a clock (`now`, and the wall clock for
//! the NTP timestamp, come from `handle_timeout`). With SRTP the report leaves as SRTCP.

use std::cmp::Reverse;
use std::net::SocketAddr;
use std::time::{Instant, SystemTime};

use gossipper_media::rtcp_report::{ntp_from_unix, write_report};

use super::MediaEngine;

impl MediaEngine {
    pub(super) fn send_rtcp(&mut self, now: Instant, wall: SystemTime) {
        let Some(interval) = self.cfg.rtcp_interval else {
            return;
        };
        let ntp = ntp_from_unix(
            wall.duration_since(SystemTime::UNIX_EPOCH)
                .unwrap_or_default(),
        );
        while let Some(&Reverse((at, call))) = self.rtcp_due.peek() {
            if at > now {
                break;
            }
            self.rtcp_due.pop();
            let Some(s) = self.sessions.get_mut(&call) else {
                continue;
            };
            if s.rtcp_next != Some(at) {
                continue;
            }
            let next = at + interval;
            s.rtcp_next = Some(next);
            self.rtcp_due.push(Reverse((next, call)));
            let Some(audio) = s.remote.audio else {
                continue;
            };
            let dest = SocketAddr::new(audio.ip(), audio.port().wrapping_add(1));
            let sender = match (s.audio, s.audio_is_pcap) {
                (Some(h), false) => self.scheduler.stream(h),
                _ => None,
            };
            let sr = sender.is_some_and(|st| st.stats().packets > 0);
            if let Ok(n) = write_report(
                &mut self.scratch,
                now,
                ntp,
                s.ssrc,
                &self.cfg.cname,
                sender,
                Some(&mut s.receiver),
            ) && let Some(bytes) = self.scratch.get(..n)
            {
                if let Some(id) = s.call_id.as_deref() {
                    self.report_copies.push(id, dest, true, bytes);
                }
                let start = self.tx.push(dest, bytes);
                if !MediaEngine::protect_queued(&mut self.tx, &mut self.stats, Some(s), start, true)
                {
                    continue;
                }
                if sr {
                    s.rtcp_sender_reports += 1;
                    self.stats.rtcp_sender_reports += 1;
                } else {
                    self.stats.rtcp_receiver_reports += 1;
                }
            }
        }
    }
}
