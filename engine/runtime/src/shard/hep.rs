//! A shard's HEP3 export (`-hep_addr`): each SIP message it receives and sends, copied as
//! one UDP datagram to the collector.
//!
//! Owns: the shard's own socket to the collector and the packet buffer it reuses. Must
//! not: block or fail the run: the socket is non-blocking and a datagram the kernel will
//! not take is dropped and counted ("HEP never blocks", as the Go gossipper promises).

use std::net::{SocketAddr, UdpSocket};
use std::time::SystemTime;

use crate::output::hep::{Capture, HepConfig, IpProto, Payload, encode};

/// The shard's collector socket, opened by the runner.
pub struct HepSink {
    socket: UdpSocket,
    capture_id: u32,
    password: Option<Vec<u8>>,
    collector: SocketAddr,
    /// `-hep_homer_lake_rtcp`: reports as Homer-Lake JSON, not raw.
    homer_lake: bool,
    buf: Vec<u8>,
    /// Copies the kernel refused, or too large for HEP.
    pub(crate) dropped: u64,
    /// Whether the first drop was reported (one warning per shard, not one per packet).
    pub(crate) warned: bool,
}

impl HepSink {
    /// An unconnected socket: a connected one would report the ICMP errors of a collector
    /// that is down (or restarting) as failures of the next sends.
    pub fn open(cfg: &HepConfig) -> std::io::Result<HepSink> {
        let any: SocketAddr = if cfg.addr.is_ipv4() {
            "0.0.0.0:0".parse().expect("literal")
        } else {
            "[::]:0".parse().expect("literal")
        };
        let socket = UdpSocket::bind(any)?;
        socket.set_nonblocking(true)?;
        Ok(HepSink {
            socket,
            capture_id: cfg.capture_id,
            password: cfg.password.as_ref().map(|p| p.as_bytes().to_vec()),
            collector: cfg.addr,
            homer_lake: cfg.homer_lake_json,
            buf: Vec::with_capacity(2048),
            dropped: 0,
            warned: false,
        })
    }

    /// Copies one SIP message. Returns a warning on the first drop.
    pub(crate) fn sip(
        &mut self,
        wall: SystemTime,
        proto: IpProto,
        src: SocketAddr,
        dst: SocketAddr,
        bytes: &[u8],
    ) -> Option<String> {
        self.copy(wall, proto, Payload::Sip, src, dst, b"", bytes)
    }

    /// Copies one RTCP report of the call `call_id` (HEP's correlation id).
    pub(crate) fn rtcp(
        &mut self,
        wall: SystemTime,
        src: SocketAddr,
        dst: SocketAddr,
        call_id: &[u8],
        bytes: &[u8],
    ) -> Option<String> {
        if self.homer_lake {
            // Reports are a few a second per call: the JSON's allocation is not per packet
            // of media. One that is neither SR nor RR has no Homer-Lake form: not sent.
            let json = crate::output::hep::homer_lake_json(bytes)?;
            return self.copy(
                wall,
                IpProto::Udp,
                Payload::Rtcp,
                src,
                dst,
                call_id,
                json.as_bytes(),
            );
        }
        self.copy(wall, IpProto::Udp, Payload::Rtcp, src, dst, call_id, bytes)
    }

    #[allow(clippy::too_many_arguments)]
    fn copy(
        &mut self,
        wall: SystemTime,
        proto: IpProto,
        payload_type: Payload,
        src: SocketAddr,
        dst: SocketAddr,
        correlation: &[u8],
        bytes: &[u8],
    ) -> Option<String> {
        let c = Capture {
            src,
            dst,
            proto,
            payload_type,
            time: wall,
            capture_id: self.capture_id,
            password: self.password.as_deref(),
            correlation,
        };
        let why = if !encode(&mut self.buf, &c, bytes) {
            format!("a {}-byte message is too large for HEP", bytes.len())
        } else {
            match self.socket.send_to(&self.buf, self.collector) {
                Ok(_) => return None,
                Err(e) => e.to_string(),
            }
        };
        self.dropped += 1;
        if self.warned {
            return None;
        }
        self.warned = true;
        Some(format!(
            "HEP: a copy to {} was dropped ({why}); later drops are counted, not reported",
            self.collector
        ))
    }
}
