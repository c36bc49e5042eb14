//! The SIP messages of a capture, in capture order: UDP datagrams taken whole, TCP
//! streams reassembled per direction and cut into messages by Content-Length (the
//! engine's stream framing).
//!
//! Owns: choosing which packets are SIP (`-sip-port`, or anything that parses as SIP when
//! it is 0), TCP sequence bookkeeping (retransmitted and overlapping segments trimmed,
//! out-of-order ones held until the gap fills, bounded), and notes on what was skipped.
//! Must not: pick a dialog or interpret messages beyond parsing them.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::time::Duration;

use gossipper_engine::sip::{self, SipMessage};
use gossipper_media::pcap_ip::{IpCapture, Transport};

/// Largest SIP message taken from a stream (the engine's default stream limit).
const MAX_STREAM_MESSAGE: usize = 64 * 1024;
/// Out-of-order bytes held per TCP direction while waiting for a gap to fill.
const MAX_PENDING: usize = 1024 * 1024;

/// One SIP message as captured.
#[derive(Debug, Clone)]
pub(crate) struct Captured {
    pub(crate) ts: Duration,
    pub(crate) src: SocketAddr,
    pub(crate) dst: SocketAddr,
    pub(crate) tcp: bool,
    pub(crate) bytes: Vec<u8>,
}

/// One direction of a TCP connection.
#[derive(Default)]
struct Flow {
    /// Sequence number of the first payload byte (after the SYN, or of the first segment).
    base: Option<u32>,
    /// Payload bytes taken so far (relative to `base`).
    taken: u32,
    buf: Vec<u8>,
    pending: BTreeMap<u32, Vec<u8>>,
    pending_bytes: usize,
    /// Not SIP, or broken framing: ignored from then on.
    dead: bool,
}

/// The SIP messages of `cap`; `sip_port` 0 takes any packet that parses as SIP.
/// `notes` receives one line per problem worth telling the user.
pub(crate) fn sip_messages(
    cap: &IpCapture,
    sip_port: u16,
    notes: &mut Vec<String>,
) -> Vec<Captured> {
    let mut out = Vec::new();
    let mut flows: HashMap<(SocketAddr, SocketAddr), Flow> = HashMap::new();
    let on_port = |src: SocketAddr, dst: SocketAddr| {
        sip_port == 0 || src.port() == sip_port || dst.port() == sip_port
    };
    for p in &cap.packets {
        if !on_port(p.src, p.dst) {
            continue;
        }
        match p.transport {
            Transport::Udp => {
                let data = &p.payload[sip::keepalive_len(&p.payload)..];
                if !data.is_empty() && SipMessage::parse(data).is_ok() {
                    out.push(Captured {
                        ts: p.ts,
                        src: p.src,
                        dst: p.dst,
                        tcp: false,
                        bytes: data.to_vec(),
                    });
                }
            }
            Transport::Tcp { seq, syn, .. } => {
                let flow = flows.entry((p.src, p.dst)).or_default();
                if flow.dead {
                    continue;
                }
                if syn {
                    *flow = Flow {
                        base: Some(seq.wrapping_add(1)),
                        ..Flow::default()
                    };
                    continue;
                }
                if p.payload.is_empty() {
                    continue;
                }
                let base = *flow.base.get_or_insert(seq);
                take(
                    flow,
                    seq.wrapping_sub(base),
                    &p.payload,
                    notes,
                    (p.src, p.dst),
                );
                frame(flow, p, notes, &mut out);
            }
        }
    }
    for ((src, dst), flow) in &flows {
        if !flow.dead && (!flow.pending.is_empty() || !flow.buf.is_empty()) {
            notes.push(format!(
                "TCP {src} -> {dst}: {} bytes at the end of the capture are not a whole SIP message (missing segments or a cut capture)",
                flow.buf.len() + flow.pending_bytes
            ));
        }
    }
    out
}

/// Appends the new part of a segment at relative offset `rel`, then any held segments
/// that now follow on.
fn take(
    flow: &mut Flow,
    rel: u32,
    payload: &[u8],
    notes: &mut Vec<String>,
    dir: (SocketAddr, SocketAddr),
) {
    let end = rel.wrapping_add(payload.len() as u32);
    // Wrapping comparisons (RFC 793 arithmetic): a segment wholly behind is a retransmission.
    if (end.wrapping_sub(flow.taken) as i32) <= 0 {
        return;
    }
    if (rel.wrapping_sub(flow.taken) as i32) > 0 {
        if flow.pending_bytes + payload.len() > MAX_PENDING {
            notes.push(format!(
                "TCP {} -> {}: more than {MAX_PENDING} bytes out of order; the rest of this direction is ignored",
                dir.0, dir.1
            ));
            flow.dead = true;
            return;
        }
        flow.pending_bytes += payload.len();
        flow.pending.insert(rel, payload.to_vec());
        return;
    }
    let skip = flow.taken.wrapping_sub(rel) as usize;
    flow.buf
        .extend_from_slice(payload.get(skip..).unwrap_or_default());
    flow.taken = end;
    while let Some((&r, _)) = flow.pending.first_key_value() {
        if (r.wrapping_sub(flow.taken) as i32) > 0 {
            break;
        }
        if let Some((r, seg)) = flow.pending.pop_first() {
            flow.pending_bytes -= seg.len();
            let seg_end = r.wrapping_add(seg.len() as u32);
            if (seg_end.wrapping_sub(flow.taken) as i32) > 0 {
                let skip = flow.taken.wrapping_sub(r) as usize;
                flow.buf
                    .extend_from_slice(seg.get(skip..).unwrap_or_default());
                flow.taken = seg_end;
            }
        }
    }
}

/// Cuts whole messages off the front of a flow's buffer; each is dated by the segment
/// that completed it.
fn frame(
    flow: &mut Flow,
    p: &gossipper_media::pcap_ip::IpPacket,
    notes: &mut Vec<String>,
    out: &mut Vec<Captured>,
) {
    loop {
        let skip = sip::keepalive_len(&flow.buf);
        flow.buf.drain(..skip);
        if flow.buf.is_empty() {
            return;
        }
        match sip::frame_len(&flow.buf, MAX_STREAM_MESSAGE) {
            Ok(None) => return,
            Ok(Some(n)) => {
                let bytes: Vec<u8> = flow.buf.drain(..n).collect();
                if SipMessage::parse(&bytes).is_ok() {
                    out.push(Captured {
                        ts: p.ts,
                        src: p.src,
                        dst: p.dst,
                        tcp: true,
                        bytes,
                    });
                } else {
                    flow.dead = true;
                    return;
                }
            }
            Err(e) => {
                // Not SIP at all (another protocol on the port) or broken framing.
                if looks_like_sip(&flow.buf) {
                    notes.push(format!(
                        "TCP {} -> {}: {e}; the rest of this direction is ignored",
                        p.src, p.dst
                    ));
                }
                flow.dead = true;
                flow.buf.clear();
                return;
            }
        }
    }
}

fn looks_like_sip(b: &[u8]) -> bool {
    let line = b.split(|&c| c == b'\n').next().unwrap_or_default();
    line.starts_with(b"SIP/2.0 ") || line.windows(8).any(|w| w == b" SIP/2.0")
}
