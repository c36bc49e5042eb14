//! The Call-ID of a datagram without a full parse: what a shard needs to know before it
//! decides which shard a message belongs to (the UDP server hand-off, the runtime's `shard::handoff`).
//!
//! It reads header lines until it meets `Call-ID` or its compact form `i`, and returns the
//! trimmed value of the first line only (a folded Call-ID is routed by its first line; the
//! owner's full parse still sees the whole value). Must not allocate or panic.

use super::header::HeaderName;
use super::scan::{next_line, split_header_line, trim_range};

/// The Call-ID value of `bytes`, or `None` when no Call-ID line comes before the blank line.
pub fn call_id_of(bytes: &[u8]) -> Option<&[u8]> {
    // The start line is never a header.
    let mut pos = next_line(bytes, 0)?.next;
    loop {
        let line = next_line(bytes, pos)?;
        if line.is_empty() {
            return None;
        }
        let text = bytes.get(line.start..line.end)?;
        if let Some((name_len, colon)) = split_header_line(text)
            && HeaderName::from_bytes(text.get(..name_len)?) == HeaderName::CallId
        {
            let (s, e) = trim_range(text, colon + 1, text.len());
            return text.get(s..e);
        }
        pos = line.next;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::SipMessage;

    #[test]
    fn agrees_with_the_full_parser() {
        let messages: [&[u8]; 4] = [
            b"INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h\r\nCall-ID: 1-2@h\r\nCSeq: 1 INVITE\r\n\r\n",
            b"SIP/2.0 200 OK\r\ni:   x y  \r\nCSeq: 1 BYE\r\nl: 0\r\n\r\n",
            b"ACK sip:a@b SIP/2.0\ncall-id:\tlf-only\nCSeq: 1 ACK\n\n",
            b"BYE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h\r\nCALL-ID : spaced\r\nCSeq: 2 BYE\r\n\r\n",
        ];
        for m in messages {
            let full = SipMessage::parse(m).map(|p| p.call_id().to_vec()).ok();
            assert_eq!(
                call_id_of(m).map(<[u8]>::to_vec),
                full,
                "{}",
                String::from_utf8_lossy(m)
            );
        }
    }

    #[test]
    fn none_without_a_call_id_or_on_truncation() {
        assert_eq!(
            call_id_of(b"INVITE sip:a@b SIP/2.0\r\nCSeq: 1 INVITE\r\n\r\nCall-ID: body\r\n"),
            None
        );
        assert_eq!(call_id_of(b"INVITE sip:a@b SIP/2.0\r\nCall-"), None);
        assert_eq!(call_id_of(b""), None);
        assert_eq!(call_id_of(b"\r\n\r\n"), None);
    }
}
