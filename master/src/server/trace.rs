//! The live SIP trace of `gossipper server` (`/api/v2/sip/trace`, reference §5.5): the
//! last [`RING`] SIP messages the engine sent and received, and, while debug capture is
//! on, the engine's debug records (a failed call's why, where and on what), as Records.
//!
//! Owns: the ring (filled on the runner thread from each tick's captured messages, read
//! by the API threads; one lock, taken once per tick and once per request), turning a
//! ring entry into a Record when a reader asks (first line, method, status, Call-ID),
//! filters, and the text export. Must not: touch the shards (they capture only while the
//! control block's `capturing` is on, and hand their messages over at their publish),
//! parse a message on the way in (most leave the ring unread), or write the pcap layout
//! (`pcap`).
//!
//! Memory: at most [`RING`] entries of at most 16 KiB of message each, in buffers the
//! entries reuse, so about 16 MiB at worst (plus a reply's Records while it is built);
//! the shards' own batches add at most 2 MiB per shard between two publishes
//! (`shard::capture`).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::SystemTime;

use serde::Serialize;

use gossipper_engine::shard::capture::{CapturedMsg, RAW_LIMIT};

use crate::service::timefmt::rfc3339;

/// Records the ring holds.
pub(super) const RING: usize = 1024;

/// One traced message (reference §5.5 Record, plus its addresses and transport).
#[derive(Clone, Debug, Serialize)]
pub(super) struct Record {
    pub(super) seq: u64,
    pub(super) ts: String,
    pub(super) kind: &'static str,
    /// `send` or `recv`.
    pub(super) dir: &'static str,
    /// The other side's address.
    pub(super) peer: String,
    pub(super) scenario: String,
    /// The first line.
    pub(super) summary: String,
    /// The request's method, or the method of a response's CSeq.
    pub(super) method: String,
    /// A response's status code (0 for a request).
    pub(super) status: u16,
    pub(super) call_id: String,
    pub(super) level: &'static str,
    /// The message, cut at 16 KiB (`raw_truncated` then says so), as text.
    #[serde(rename = "raw", serialize_with = "lossy")]
    pub(super) bytes: Box<[u8]>,
    pub(super) raw_truncated: bool,
    pub(super) size: usize,
    pub(super) src: String,
    pub(super) dst: String,
    /// `udp` or `tcp` (TCP, TLS and WebSocket).
    pub(super) transport: &'static str,
    #[serde(skip)]
    pub(super) wall: SystemTime,
    #[serde(skip)]
    pub(super) src_addr: SocketAddr,
    #[serde(skip)]
    pub(super) dst_addr: SocketAddr,
}

/// What a listing keeps.
#[derive(Default)]
pub(super) struct Filter {
    pub(super) since: u64,
    pub(super) call_id: Option<String>,
    pub(super) scenario: Option<String>,
}

impl Filter {
    fn keeps(&self, e: &Entry) -> bool {
        e.seq > self.since
            && self.scenario.as_deref().is_none_or(|s| &*e.scenario == s)
            && self.call_id.as_deref().is_none_or(|c| match &e.source {
                Source::Sip(_) => call_id_of(&e.bytes) == c,
                Source::Debug { call_id, .. } => &**call_id == c,
            })
    }
}

/// One message in the ring as captured, or one debug record: its bytes (the message,
/// or the debug line) and addresses, parsed into a [`Record`] only when a reader asks
/// for it.
struct Entry {
    seq: u64,
    source: Source,
    scenario: Arc<str>,
    /// The kept bytes (the buffer is reused when the entry leaves the ring).
    bytes: Vec<u8>,
}

/// What an entry is.
enum Source {
    Sip(CapturedMsg),
    /// A debug line of call `call_id`, noted at `wall`.
    Debug {
        wall: SystemTime,
        call_id: Box<str>,
    },
}

/// The ring and its sequence.
#[derive(Default)]
pub(super) struct Ring {
    entries: VecDeque<Entry>,
    /// The engines' scenario names seen (one shared copy each).
    names: Vec<Arc<str>>,
    /// The last sequence number given.
    last: u64,
    /// Messages the shards could not keep (their batch between two publishes was full).
    pub(super) dropped: u64,
    /// How many times the ring was cleared (the WebSocket tells its client).
    clears: u64,
}

impl Ring {
    /// Adds one captured message (a copy of its bytes, into the buffer of the entry it
    /// pushes out once the ring is full: nothing is allocated in steady state).
    pub(super) fn push(&mut self, m: &CapturedMsg, bytes: &[u8], scenario: &str) {
        self.push_entry(Source::Sip(*m), bytes, scenario);
    }

    /// Adds one debug record: `line`, about call `call_id`, at `wall`.
    pub(super) fn push_debug(
        &mut self,
        wall: SystemTime,
        call_id: &str,
        line: &str,
        scenario: &str,
    ) {
        let source = Source::Debug {
            wall,
            call_id: call_id.into(),
        };
        self.push_entry(source, line.as_bytes(), scenario);
    }

    fn push_entry(&mut self, source: Source, bytes: &[u8], scenario: &str) {
        self.last += 1;
        let scenario = match self.names.iter().find(|n| &***n == scenario) {
            Some(n) => n.clone(),
            None => {
                let n: Arc<str> = scenario.into();
                self.names.push(n.clone());
                n
            }
        };
        let mut buf = if self.entries.len() == RING {
            self.entries
                .pop_front()
                .map(|e| e.bytes)
                .unwrap_or_default()
        } else {
            Vec::new()
        };
        buf.clear();
        buf.extend_from_slice(bytes);
        self.entries.push_back(Entry {
            seq: self.last,
            source,
            scenario,
            bytes: buf,
        });
    }

    /// Gives `n` sequence numbers to messages not kept (more came in one tick than the
    /// ring holds: the older ones would only be pushed out again).
    pub(super) fn skip(&mut self, n: u64) {
        self.last += n;
    }

    /// The last sequence number given (the `next` of a listing that found nothing new).
    pub(super) fn last(&self) -> u64 {
        self.last
    }

    /// Records after `f.since` that pass `f`, oldest first, at most `limit`.
    pub(super) fn list(&self, f: &Filter, limit: usize) -> Vec<Record> {
        self.entries
            .iter()
            .filter(|e| f.keeps(e))
            .take(limit)
            .map(record)
            .collect()
    }

    /// Every record of one call, oldest first.
    pub(super) fn of_call(&self, call_id: &str) -> Vec<Record> {
        let f = Filter {
            call_id: Some(call_id.to_owned()),
            ..Filter::default()
        };
        self.list(&f, usize::MAX)
    }

    /// Empties the ring (sequence numbers go on).
    pub(super) fn clear(&mut self) {
        self.entries.clear();
        self.clears += 1;
    }

    /// How many times the ring was cleared.
    pub(super) fn clears(&self) -> u64 {
        self.clears
    }
}

/// The Record of an entry.
fn record(e: &Entry) -> Record {
    let m = match &e.source {
        Source::Sip(m) => m,
        Source::Debug { wall, call_id } => {
            let line = String::from_utf8_lossy(&e.bytes);
            let mut r = debug_record(call_id, &e.scenario, &line, rfc3339(*wall));
            r.seq = e.seq;
            r.wall = *wall;
            return r;
        }
    };
    let bytes = &e.bytes[..];
    let text = String::from_utf8_lossy(bytes);
    let first = text.lines().next().unwrap_or("").trim_end();
    let (method, status) = if let Some(rest) = first.strip_prefix("SIP/2.0 ") {
        let code = rest.get(..3).and_then(|c| c.parse().ok()).unwrap_or(0);
        let cseq_method = header(&text, "cseq", None)
            .and_then(|v| v.split_whitespace().nth(1))
            .unwrap_or("");
        (cseq_method.to_owned(), code)
    } else {
        (first.split(' ').next().unwrap_or("").to_owned(), 0)
    };
    let peer = if m.sent { m.dst } else { m.src };
    Record {
        seq: e.seq,
        ts: rfc3339(m.wall),
        kind: "sip",
        dir: if m.sent { "send" } else { "recv" },
        peer: peer.to_string(),
        scenario: e.scenario.to_string(),
        summary: first.chars().take(200).collect(),
        method,
        status,
        call_id: header(&text, "call-id", Some("i")).unwrap_or("").to_owned(),
        level: "info",
        raw_truncated: m.len > RAW_LIMIT,
        size: m.len,
        src: m.src.to_string(),
        dst: m.dst.to_string(),
        transport: if m.udp { "udp" } else { "tcp" },
        wall: m.wall,
        src_addr: m.src,
        dst_addr: m.dst,
        bytes: bytes.into(),
    }
}

/// A debug record (`kind:"app"`, `dir:"app"`, `level:"debug"`; no addresses): `line`
/// about call `call_id` of `scenario`, at `ts` (`seq` 0: a call's detail builds these
/// from its catalogue row, not from the ring).
pub(super) fn debug_record(call_id: &str, scenario: &str, line: &str, ts: String) -> Record {
    let none = SocketAddr::from(([0, 0, 0, 0], 0));
    Record {
        seq: 0,
        ts,
        kind: "app",
        dir: "app",
        peer: String::new(),
        scenario: scenario.to_owned(),
        summary: line.chars().take(200).collect(),
        method: String::new(),
        status: 0,
        call_id: call_id.to_owned(),
        level: "debug",
        bytes: line.as_bytes().into(),
        raw_truncated: false,
        size: line.len(),
        src: String::new(),
        dst: String::new(),
        transport: "",
        wall: SystemTime::UNIX_EPOCH,
        src_addr: none,
        dst_addr: none,
    }
}

/// A message's Call-ID as its Record shows it (empty for none).
fn call_id_of(bytes: &[u8]) -> std::borrow::Cow<'_, str> {
    let text = String::from_utf8_lossy(bytes);
    match text {
        std::borrow::Cow::Borrowed(t) => {
            std::borrow::Cow::Borrowed(header(t, "call-id", Some("i")).unwrap_or(""))
        }
        std::borrow::Cow::Owned(t) => {
            std::borrow::Cow::Owned(header(&t, "call-id", Some("i")).unwrap_or("").to_owned())
        }
    }
}

/// The first value of header `name` (or its compact form), trimmed; headers end at the
/// first empty line.
fn header<'a>(text: &'a str, name: &str, compact: Option<&str>) -> Option<&'a str> {
    text.lines()
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .find_map(|l| {
            let (n, v) = l.split_once(':')?;
            let n = n.trim();
            (n.eq_ignore_ascii_case(name) || compact.is_some_and(|c| n.eq_ignore_ascii_case(c)))
                .then(|| v.trim())
        })
}

fn lossy<S: serde::Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&String::from_utf8_lossy(bytes))
}

/// The text export: each message under a line with its time, direction and addresses.
pub(super) fn text(records: &[Record]) -> Vec<u8> {
    let mut out = Vec::new();
    for r in records {
        if r.kind != "sip" {
            out.extend_from_slice(
                format!(
                    "----- {} {} {} {} -----\n",
                    r.ts, r.level, r.kind, r.call_id
                )
                .as_bytes(),
            );
            out.extend_from_slice(&r.bytes);
            out.extend_from_slice(b"\n\n");
            continue;
        }
        let arrow = if r.dir == "send" { "sent" } else { "received" };
        out.extend_from_slice(
            format!(
                "----- {} {} {} {} -> {} ({} bytes) -----\n",
                r.ts, arrow, r.transport, r.src, r.dst, r.size
            )
            .as_bytes(),
        );
        out.extend_from_slice(&r.bytes);
        if !r.bytes.ends_with(b"\n") {
            out.push(b'\n');
        }
        out.push(b'\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use gossipper_engine::shard::capture::Captured;

    fn captured(msgs: &[(bool, &str)]) -> Captured {
        let mut c = Captured::default();
        let a: SocketAddr = "127.0.0.1:5060".parse().unwrap();
        let b: SocketAddr = "127.0.0.1:5070".parse().unwrap();
        for (sent, m) in msgs {
            let (s, d) = if *sent { (a, b) } else { (b, a) };
            c.push(SystemTime::UNIX_EPOCH, *sent, s, d, true, m.as_bytes());
        }
        c
    }

    #[test]
    fn records_name_method_status_call_id_and_peer() {
        let c = captured(&[
            (
                false,
                "INVITE sip:a@x SIP/2.0\r\ni: abc\r\nCSeq: 1 INVITE\r\n\r\n",
            ),
            (
                true,
                "SIP/2.0 180 Ringing\r\nCall-ID:  abc \r\nCSeq: 1 INVITE\r\n\r\n",
            ),
            (false, "garbage"),
        ]);
        let mut ring = Ring::default();
        for (m, b) in c.iter() {
            ring.push(m, b, "uas");
        }
        let all = ring.list(&Filter::default(), 10);
        assert_eq!(all.len(), 3);
        assert_eq!((all[0].method.as_str(), all[0].status), ("INVITE", 0));
        assert_eq!(
            (all[0].dir, all[0].peer.as_str()),
            ("recv", "127.0.0.1:5070")
        );
        assert_eq!((all[1].method.as_str(), all[1].status), ("INVITE", 180));
        assert_eq!(all[1].call_id, "abc");
        assert_eq!(
            (all[1].dir, all[1].peer.as_str()),
            ("send", "127.0.0.1:5070")
        );
        assert_eq!(
            (all[2].method.as_str(), all[2].call_id.as_str()),
            ("garbage", "")
        );
        let f = Filter {
            call_id: Some("abc".into()),
            since: 1,
            ..Filter::default()
        };
        assert_eq!(ring.list(&f, 10).len(), 1);
        ring.clear();
        assert!(ring.list(&Filter::default(), 10).is_empty());
        assert_eq!(ring.last(), 3);
    }

    #[test]
    fn debug_records_share_the_ring_filter_by_call_id_and_export_as_text_only() {
        let c = captured(&[(
            false,
            "INVITE sip:a@x SIP/2.0\r\nCall-ID: abc\r\nCSeq: 1 INVITE\r\n\r\n",
        )]);
        let mut ring = Ring::default();
        let (m, b) = c.iter().next().unwrap();
        ring.push(m, b, "uac");
        let at = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(60);
        ring.push_debug(at, "abc", "call failed: TimeoutOnRecv at element 2", "uac");
        ring.push_debug(at, "other", "call failed: UnexpectedMessage", "uac");
        let of_abc = ring.of_call("abc");
        assert_eq!(of_abc.len(), 2);
        let d = &of_abc[1];
        assert_eq!(
            (d.seq, d.kind, d.dir, d.level, d.call_id.as_str()),
            (2, "app", "app", "debug", "abc")
        );
        assert_eq!(d.summary, "call failed: TimeoutOnRecv at element 2");
        assert_eq!(d.ts, "1970-01-01T00:01:00Z");
        let text = String::from_utf8(text(&of_abc)).unwrap();
        assert!(
            text.contains("----- 1970-01-01T00:01:00Z debug app abc -----\ncall failed: TimeoutOnRecv at element 2\n"),
            "{text}"
        );
        let only_sip = crate::server::pcap::pcap(&of_abc);
        let one = crate::server::pcap::pcap(&of_abc[..1]);
        assert_eq!(only_sip, one, "a debug record is no packet");
    }

    #[test]
    fn the_ring_keeps_the_newest() {
        let c = captured(&[(false, "OPTIONS sip:x SIP/2.0\r\n\r\n")]);
        let (m, b) = c.iter().next().unwrap();
        let mut ring = Ring::default();
        for _ in 0..RING + 5 {
            ring.push(m, b, "uas");
        }
        let all = ring.list(&Filter::default(), usize::MAX);
        assert_eq!(all.len(), RING);
        assert_eq!(all[0].seq, 6);
        ring.skip(10);
        ring.push(m, b, "uas");
        assert_eq!(ring.last(), RING as u64 + 16);
    }
}
