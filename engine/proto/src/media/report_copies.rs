//! Copies of the RTCP reports a shard sends and receives, in clear, for the HEP export
//! (`-send_media_report`): the shard loop drains them after each turn's sends.
//!
//! Owns: the queued copies and their call's Call-ID (HEP's correlation id, so a capture
//! server files each report under its call). Must not: cost anything when the export is
//! off (`MediaConfig::copy_reports`), or grow without bound: one turn's reports at most,
//! as the queue is drained every turn.

use std::net::SocketAddr;

/// One copied report, as the shard loop sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReportCopy<'a> {
    pub call_id: &'a [u8],
    /// Where a sent report went, or where a received one came from.
    pub peer: SocketAddr,
    pub sent: bool,
    pub report: &'a [u8],
}

/// One queued report: its fields, the byte strings as ranges of the queue's buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Queued {
    peer: SocketAddr,
    sent: bool,
    id: (usize, usize),
    report: (usize, usize),
}

/// The queue (reused turn after turn: no allocation once warm).
#[derive(Debug, Default)]
pub(super) struct ReportCopies {
    buf: Vec<u8>,
    items: Vec<Queued>,
}

/// Reports kept per turn at most (a peer flooding RTCP cannot grow the queue).
const MAX_PER_TURN: usize = 4096;

impl ReportCopies {
    pub(super) fn push(&mut self, call_id: &[u8], peer: SocketAddr, sent: bool, report: &[u8]) {
        if self.items.len() >= MAX_PER_TURN {
            return;
        }
        let id = (self.buf.len(), call_id.len());
        self.buf.extend_from_slice(call_id);
        let at = (self.buf.len(), report.len());
        self.buf.extend_from_slice(report);
        self.items.push(Queued {
            peer,
            sent,
            id,
            report: at,
        });
    }

    /// Hands every queued report to `f` and empties the queue.
    pub(super) fn drain(&mut self, f: &mut dyn FnMut(ReportCopy<'_>)) {
        for c in &self.items {
            let id = self.buf.get(c.id.0..c.id.0 + c.id.1).unwrap_or_default();
            let report = self
                .buf
                .get(c.report.0..c.report.0 + c.report.1)
                .unwrap_or_default();
            f(ReportCopy {
                call_id: id,
                peer: c.peer,
                sent: c.sent,
                report,
            });
        }
        self.items.clear();
        self.buf.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_come_out_in_order_with_their_call_and_the_queue_empties() {
        let mut q = ReportCopies::default();
        let a: SocketAddr = "127.0.0.1:4001".parse().unwrap();
        let b: SocketAddr = "127.0.0.1:4003".parse().unwrap();
        q.push(b"call-1", a, true, b"\x80\xc8sr");
        q.push(b"call-2", b, false, b"\x80\xc9rr");
        let mut out = Vec::new();
        q.drain(&mut |c| out.push((c.call_id.to_vec(), c.peer, c.sent, c.report.to_vec())));
        assert_eq!(
            out,
            [
                (b"call-1".to_vec(), a, true, b"\x80\xc8sr".to_vec()),
                (b"call-2".to_vec(), b, false, b"\x80\xc9rr".to_vec()),
            ]
        );
        let mut again = 0;
        q.drain(&mut |_| again += 1);
        assert_eq!(again, 0);
    }

    #[test]
    fn a_flood_is_capped_per_turn() {
        let mut q = ReportCopies::default();
        let a: SocketAddr = "127.0.0.1:4001".parse().unwrap();
        for _ in 0..MAX_PER_TURN + 10 {
            q.push(b"c", a, false, b"r");
        }
        let mut n = 0;
        q.drain(&mut |_| n += 1);
        assert_eq!(n, MAX_PER_TURN);
    }
}
