//! SIPp's message and error traces: `-trace_msg` blocks, `-trace_shortmsg` lines and
//! `-trace_err` entries (`reference/sipp.md` §4.1).
//!
//! Owns: the exact framing SIPp writes around each message, which SIPp's regress tests
//! grep (`message received`, `^BYE`). Must not: read clocks or write files; the shell
//! passes the wall time and appends the returned bytes.
//!
//! Deliberate difference: SIPp 3.6.1 writes `-trace_err` entries without a line end, so
//! consecutive errors run together on one line; ours end each entry with `\n`.

use std::time::SystemTime;

use super::format::{date_time_spaced, date_time_tabbed};

/// Which way a traced message went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// We sent it.
    Sent,
    /// We received it.
    Received,
}

/// The line that opens every -trace_msg block (47 dashes, a space, the time), with its
/// `\n`.
pub fn msg_separator(now: SystemTime) -> String {
    format!(
        "----------------------------------------------- {}\n",
        date_time_spaced(now)
    )
}

/// The block's second line and the blank line after it: `UDP message sent (514 bytes):`
/// or `UDP message received [313] bytes :`.
pub fn msg_title(transport: &str, dir: Direction, len: usize) -> String {
    match dir {
        Direction::Sent => format!("{transport} message sent ({len} bytes):\n\n"),
        Direction::Received => format!("{transport} message received [{len}] bytes :\n\n"),
    }
}

/// A whole -trace_msg block: separator, title, the message bytes as they went on the
/// wire, and one `\n`.
pub fn msg_block(now: SystemTime, transport: &str, dir: Direction, msg: &[u8]) -> Vec<u8> {
    let sep = msg_separator(now);
    let title = msg_title(transport, dir, msg.len());
    let mut out = Vec::with_capacity(sep.len() + title.len() + msg.len() + 1);
    out.extend_from_slice(sep.as_bytes());
    out.extend_from_slice(title.as_bytes());
    out.extend_from_slice(msg);
    out.push(b'\n');
    out
}

/// One -trace_shortmsg line: `date<TAB>time<TAB>epoch<TAB>S|R<TAB>call-id<TAB>CSeq:1
/// INVITE<TAB>first line`. `cseq` is the CSeq header value (`1 INVITE`) and `first_line`
/// the start line without its CRLF.
pub fn shortmsg_line(
    now: SystemTime,
    dir: Direction,
    call_id: &str,
    cseq: &str,
    first_line: &str,
) -> String {
    let d = match dir {
        Direction::Sent => 'S',
        Direction::Received => 'R',
    };
    format!(
        "{}\t{d}\t{call_id}\tCSeq:{cseq}\t{first_line}\n",
        date_time_tabbed(now)
    )
}

/// The -trace_shortmsg line of a message as it went on the wire: its Call-ID, CSeq and
/// first line read from the bytes (a message that does not parse says so).
pub fn shortmsg_of(now: SystemTime, dir: Direction, msg: &[u8]) -> String {
    match crate::sip::SipMessage::parse(msg) {
        Ok(m) => {
            let cseq = m.cseq();
            let cseq = format!("{} {}", cseq.number, String::from_utf8_lossy(cseq.method));
            shortmsg_line(
                now,
                dir,
                &String::from_utf8_lossy(m.call_id()),
                &cseq,
                &String::from_utf8_lossy(m.first_line()),
            )
        }
        Err(_) => shortmsg_line(now, dir, "", "", "(malformed)"),
    }
}

/// The first line of a -trace_err file.
pub const ERROR_LOG_HEADER: &str = "The following events occurred:\n";

/// One -trace_err entry: `date<TAB>time<TAB>epoch: message`, ending in `\n`.
pub fn error_line(now: SystemTime, msg: &str) -> String {
    format!("{}: {msg}\n", date_time_tabbed(now))
}

/// The first line of a SIP message (up to CR or LF), for -trace_shortmsg.
pub fn first_line(msg: &[u8]) -> &[u8] {
    let end = msg
        .iter()
        .position(|&b| b == b'\r' || b == b'\n')
        .unwrap_or(msg.len());
    msg.get(..end).unwrap_or(msg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    fn at(s: u64, us: u32) -> SystemTime {
        UNIX_EPOCH + Duration::new(s, us * 1000)
    }

    #[test]
    fn msg_blocks_match_sipp_message_file() {
        // Framing copied from SIPp 3.6.1's -message_file of a uac run.
        let sent = msg_block(
            at(1_795_686_419, 592_695),
            "UDP",
            Direction::Sent,
            b"INVITE sip:x SIP/2.0\r\n\r\n",
        );
        assert_eq!(
            String::from_utf8(sent).unwrap(),
            "----------------------------------------------- 2026-11-26 09:46:59.592695\nUDP message sent (24 bytes):\n\nINVITE sip:x SIP/2.0\r\n\r\n\n"
        );
        let recv = msg_block(
            at(1_795_686_419, 592_882),
            "UDP",
            Direction::Received,
            b"SIP/2.0 180 Ringing\r\n\r\n",
        );
        assert!(
            String::from_utf8(recv)
                .unwrap()
                .contains("\nUDP message received [23] bytes :\n\nSIP/2.0 180 Ringing")
        );
    }

    #[test]
    fn shortmsg_line_matches_sipp() {
        let line = shortmsg_line(
            at(1_795_686_419, 592_695),
            Direction::Sent,
            "1-9777@127.0.0.1",
            "1 INVITE",
            "INVITE sip:service@127.0.0.1:15060 SIP/2.0",
        );
        assert_eq!(
            line,
            "2026-11-26\t09:46:59.592695\t1795686419.592695\tS\t1-9777@127.0.0.1\tCSeq:1 INVITE\tINVITE sip:service@127.0.0.1:15060 SIP/2.0\n"
        );
    }

    #[test]
    fn error_entries_have_sipp_timestamps_and_end_lines() {
        assert_eq!(ERROR_LOG_HEADER, "The following events occurred:\n");
        assert_eq!(
            error_line(
                at(1_795_686_525, 779_499),
                "Call-Id: 1-10573@127.0.0.1, receive timeout"
            ),
            "2026-11-26\t09:48:45.779499\t1795686525.779499: Call-Id: 1-10573@127.0.0.1, receive timeout\n"
        );
    }

    #[test]
    fn first_line_stops_at_the_line_end() {
        assert_eq!(
            first_line(b"SIP/2.0 200 OK\r\nVia: x\r\n"),
            b"SIP/2.0 200 OK"
        );
        assert_eq!(first_line(b"no newline"), b"no newline");
        assert_eq!(first_line(b""), b"");
    }
}
