//! A shard's `-trace_msg` and `-trace_shortmsg` output: every SIP message it received
//! and sent, in the order of the turn (received first, then sent), appended to the files
//! the runner opened, one write per file per turn.
//!
//! Owns: the open files and the turn's formatted text, and the HEP export (`hep`), which
//! sees the same messages with their addresses. Must not: format anything itself
//! (`output::traces` has SIPp's framing, `output::hep` the HEP3 layout) or cost anything
//! when tracing is off.

use std::fs::File;
use std::io::Write as _;
use std::net::SocketAddr;
use std::time::SystemTime;

use super::capture::Captured;
use super::hep::HepSink;
use crate::call::TxQueue;
use crate::endpoint::Endpoint;
use crate::output::hep::IpProto;
pub(crate) use crate::output::traces::Direction;
use crate::output::traces::{msg_block, shortmsg_of};

/// Trace files a shard appends to (each opened by the runner; writes are whole blocks).
#[derive(Default)]
pub struct ShardTraces {
    pub messages: Option<File>,
    pub short_messages: Option<File>,
    pub hep: Option<HepSink>,
}

/// A shard's traces and the text of the current turn.
pub(crate) struct Traces {
    files: ShardTraces,
    /// `[transport]` as the trace titles name it.
    transport: &'static str,
    /// The shard's own SIP address (the source of what it sends, the destination of
    /// what it receives, as HEP records them) and the transport's IP protocol.
    local: SocketAddr,
    proto: IpProto,
    /// The first HEP drop's report, for the shard loop to turn into a run warning.
    warning: Option<String>,
    /// Any of the files or HEP is open, or the live capture is on.
    on: bool,
    files_on: bool,
    /// `gossipper server`'s live capture (`Control::capturing`, read once per turn):
    /// the messages kept until the next publish.
    capturing: bool,
    captured: Captured,
    full: Vec<u8>,
    short: String,
}

impl Traces {
    pub(crate) fn new(
        files: ShardTraces,
        transport: &'static str,
        local: SocketAddr,
        proto: IpProto,
    ) -> Traces {
        let files_on =
            files.messages.is_some() || files.short_messages.is_some() || files.hep.is_some();
        Traces {
            on: files_on,
            files_on,
            capturing: false,
            captured: Captured::default(),
            files,
            transport,
            local,
            proto,
            warning: None,
            full: Vec::new(),
            short: String::new(),
        }
    }

    /// A message received at `wall` from `peer`.
    #[inline]
    pub(crate) fn received(&mut self, wall: SystemTime, bytes: &[u8], peer: SocketAddr) {
        if self.on {
            self.add(wall, Direction::Received, bytes);
            self.hep(wall, peer, self.local, bytes);
            if self.capturing {
                let udp = self.proto == IpProto::Udp;
                self.captured
                    .push(wall, false, peer, self.local, udp, bytes);
            }
        }
    }

    /// Turns the live capture on or off (once per turn, from the run's control block).
    #[inline]
    pub(crate) fn set_capturing(&mut self, on: bool) {
        if on != self.capturing {
            self.capturing = on;
            self.on = self.files_on || on;
        }
    }

    /// Moves the messages captured since the last publish to `out` (the publish lock
    /// is held by the caller).
    pub(crate) fn hand_over(&mut self, out: &mut Captured) {
        if !self.captured.is_empty() {
            out.append(&mut self.captured);
        }
    }

    /// The messages of a batch sent at `wall`.
    pub(crate) fn sent(&mut self, wall: SystemTime, batch: &TxQueue) {
        if self.on {
            let udp = self.proto == IpProto::Udp;
            for t in &batch.items {
                self.add(wall, Direction::Sent, batch.bytes(t));
                self.hep(wall, self.local, t.dest, batch.bytes(t));
                if self.capturing {
                    self.captured
                        .push(wall, true, self.local, t.dest, udp, batch.bytes(t));
                }
            }
        }
    }

    fn hep(&mut self, wall: SystemTime, src: SocketAddr, dst: SocketAddr, bytes: &[u8]) {
        if let Some(h) = self.files.hep.as_mut()
            && let Some(w) = h.sip(wall, self.proto, src, dst, bytes)
        {
            self.warning = Some(w);
        }
    }

    /// Copies the endpoint's RTCP reports of this turn to HEP (`-send_media_report`);
    /// `media` is the shard's RTP socket address.
    pub(crate) fn reports(&mut self, wall: SystemTime, media: SocketAddr, ep: &mut Endpoint) {
        let Some(h) = self.files.hep.as_mut() else {
            return;
        };
        // A media socket bound to the wildcard sends from the SIP address's interface.
        let media = if media.ip().is_unspecified() {
            SocketAddr::new(self.local.ip(), media.port())
        } else {
            media
        };
        let warning = &mut self.warning;
        ep.drain_report_copies(&mut |c| {
            let (src, dst) = if c.sent {
                (media, c.peer)
            } else {
                (c.peer, media)
            };
            if let Some(w) = h.rtcp(wall, src, dst, c.call_id, c.report) {
                *warning = Some(w);
            }
        });
    }

    /// The first HEP drop's report, once.
    pub(crate) fn take_warning(&mut self) -> Option<String> {
        self.warning.take()
    }

    /// A 3PCC twin command received or sent at `wall` (-trace_msg only, titled as SIPp
    /// titles them: "TCP control message …"; SIPp writes no short line for them).
    pub(crate) fn control(&mut self, wall: SystemTime, dir: Direction, bytes: &[u8]) {
        if self.files.messages.is_some() {
            self.full
                .extend_from_slice(&msg_block(wall, "TCP control", dir, bytes));
        }
    }

    fn add(&mut self, wall: SystemTime, dir: Direction, bytes: &[u8]) {
        if self.files.messages.is_some() {
            self.full
                .extend_from_slice(&msg_block(wall, self.transport, dir, bytes));
        }
        if self.files.short_messages.is_some() {
            self.short.push_str(&shortmsg_of(wall, dir, bytes));
        }
    }

    /// Writes the turn's text (a failed write loses trace lines, never the run).
    pub(crate) fn flush(&mut self) {
        if !self.files_on {
            return;
        }
        if let Some(f) = self.files.messages.as_mut()
            && !self.full.is_empty()
        {
            let _ = f.write_all(&self.full);
        }
        if let Some(f) = self.files.short_messages.as_mut()
            && !self.short.is_empty()
        {
            let _ = f.write_all(self.short.as_bytes());
        }
        self.full.clear();
        self.short.clear();
    }
}
