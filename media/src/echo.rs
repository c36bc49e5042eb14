//! RTP echo (SIPp `-rtp_echo`, gossipper `rtp_stream="echo"`): every datagram received on
//! a call's media port goes back, byte for byte, to the address it came from.
//!
//! Owns: the decision to echo and the counters. It returns the destination; the caller
//! sends the very bytes it received (no copy). Must not parse more than it needs, touch a
//! socket or panic. Paused echo drops and counts. Each echoed packet counts as both sent
//! and received in the summary (the engine adds it to both).

use std::net::SocketAddr;

/// Largest datagram echoed (the IPv4 UDP maximum).
pub const MAX_ECHO_LEN: usize = 65_507;

/// Send the received datagram, unchanged, to `dest`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EchoTransmit {
    /// Where to send it: the datagram's source.
    pub dest: SocketAddr,
    /// How many bytes (the whole datagram).
    pub len: usize,
}

/// Echo counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EchoStats {
    /// Datagrams echoed.
    pub packets: u64,
    /// Bytes echoed.
    pub bytes: u64,
    /// Datagrams dropped while paused.
    pub dropped_paused: u64,
    /// Empty or oversized datagrams dropped.
    pub dropped_invalid: u64,
}

/// The echo of one media port.
#[derive(Debug, Clone, Default)]
pub struct RtpEcho {
    paused: bool,
    stats: EchoStats,
}

impl RtpEcho {
    /// An active echo.
    #[must_use]
    pub fn new() -> RtpEcho {
        RtpEcho::default()
    }

    /// Stops echoing until `resume` (SIPp `<rtp_echo>` pause).
    pub fn pause(&mut self) {
        self.paused = true;
    }

    /// Echoes again.
    pub fn resume(&mut self) {
        self.paused = false;
    }

    /// The counters.
    #[must_use]
    pub fn stats(&self) -> EchoStats {
        self.stats
    }

    /// Decides what to do with a datagram from `src`: `Some` means "send these same bytes
    /// back to `dest`".
    #[must_use]
    pub fn handle_datagram(&mut self, src: SocketAddr, datagram: &[u8]) -> Option<EchoTransmit> {
        if datagram.is_empty() || datagram.len() > MAX_ECHO_LEN || src.port() == 0 {
            self.stats.dropped_invalid += 1;
            return None;
        }
        if self.paused {
            self.stats.dropped_paused += 1;
            return None;
        }
        self.stats.packets += 1;
        self.stats.bytes += datagram.len() as u64;
        Some(EchoTransmit {
            dest: src,
            len: datagram.len(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datagrams_go_back_to_their_source_unchanged() {
        let mut e = RtpEcho::new();
        let src = SocketAddr::from(([192, 0, 2, 7], 40_000));
        let t = e.handle_datagram(src, b"any bytes at all").unwrap();
        assert_eq!(t, EchoTransmit { dest: src, len: 16 });
        let v6 = "[::1]:5004".parse().unwrap();
        assert_eq!(e.handle_datagram(v6, &[0x80; 172]).unwrap().dest, v6);
        assert_eq!(e.stats().packets, 2);
        assert_eq!(e.stats().bytes, 188);
    }

    #[test]
    fn paused_echo_and_invalid_datagrams_are_counted_drops() {
        let mut e = RtpEcho::new();
        let src = SocketAddr::from(([127, 0, 0, 1], 9));
        e.pause();
        assert!(e.handle_datagram(src, b"x").is_none());
        e.resume();
        assert!(e.handle_datagram(src, b"").is_none());
        assert!(e.handle_datagram(src, &vec![0; MAX_ECHO_LEN + 1]).is_none());
        assert!(
            e.handle_datagram(SocketAddr::from(([127, 0, 0, 1], 0)), b"x")
                .is_none()
        );
        assert!(e.handle_datagram(src, b"x").is_some());
        let s = e.stats();
        assert_eq!((s.packets, s.dropped_paused, s.dropped_invalid), (1, 1, 3));
    }
}
