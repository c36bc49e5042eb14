//! The receive buffer of one stream connection (TCP or TLS): bytes in, whole SIP
//! messages out, however the peer's bytes were split across reads.
//!
//! Owns: one growing-but-capped buffer and the read position in it. Must not: do I/O or
//! parse beyond framing (`sip::frame_len` finds the end of a message, the shard parses
//! it). Driven by a connection's reader task: `read_space` → read into it → `filled(n)` →
//! `next_frame` until `Ok(None)`. A `FramingError` means "close this connection".

use crate::sip::{self, FramingError};

/// Why a stream cannot go on; either way the connection closes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameError {
    /// A message over the limit (count `stream_too_large`).
    TooLarge,
    /// Bytes that are not a SIP message (count `connections_closed_bad_input`).
    BadInput,
}

impl From<FramingError> for FrameError {
    fn from(e: FramingError) -> FrameError {
        match e {
            FramingError::TooLarge => FrameError::TooLarge,
            _ => FrameError::BadInput,
        }
    }
}

/// A start line longer than this is not SIP (RFC 3261 has no limit; real ones are short).
const MAX_START_LINE: usize = 4096;

/// Whether the first line of `rest` can start a SIP message: decided as soon as the line
/// is complete (or too long), so garbage closes the connection at once instead of
/// filling the buffer up to the limit.
fn start_line_ok(rest: &[u8]) -> Result<(), FrameError> {
    let Some(end) = memchr::memchr(b'\n', rest) else {
        return if rest.len() > MAX_START_LINE {
            Err(FrameError::BadInput)
        } else {
            Ok(())
        };
    };
    let line = rest.get(..end).unwrap_or_default();
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line.starts_with(b"SIP/2.0 ") || line.ends_with(b" SIP/2.0") {
        Ok(())
    } else {
        Err(FrameError::BadInput)
    }
}

/// How much room each read gets at least.
const READ_CHUNK: usize = 16 << 10;

/// Buffered stream bytes and the position of the first unframed byte.
#[derive(Debug)]
pub struct StreamBuffer {
    /// `data[start..]` holds bytes not framed yet.
    data: Vec<u8>,
    start: usize,
    /// The longest message accepted (`FramingError::TooLarge` past it).
    max: usize,
    /// CR/LF bytes seen in a row between messages, across reads (RFC 5626 pings).
    crlf_run: usize,
    /// Double-CRLF pings seen and not yet taken by `take_pings`.
    pings: usize,
}

impl StreamBuffer {
    /// An empty buffer for messages of at most `max` bytes.
    pub fn new(max: usize) -> StreamBuffer {
        StreamBuffer {
            data: Vec::with_capacity(READ_CHUNK.min(max.max(1024))),
            start: 0,
            max,
            crlf_run: 0,
            pings: 0,
        }
    }

    /// How many keepalive pings (CRLFCRLF) arrived since the last call; each deserves a
    /// CRLF pong (RFC 5626 §4.4.1).
    pub fn take_pings(&mut self) -> usize {
        std::mem::take(&mut self.pings)
    }

    /// Bytes received but not yet returned as a message.
    pub fn pending(&self) -> usize {
        self.data.len() - self.start
    }

    /// True when only keepalive CR/LF bytes (or nothing) are pending: a close here loses
    /// no message.
    pub fn only_keepalives(&self) -> bool {
        self.data
            .get(self.start..)
            .is_none_or(|rest| sip::keepalive_len(rest) == rest.len())
    }

    /// Room to read into. Pair every call with `filled(n)`. Consumed bytes are dropped
    /// from the front first, so the buffer only grows while one message is incomplete,
    /// and never much past `max` (framing fails before).
    pub fn read_space(&mut self) -> &mut [u8] {
        if self.start > 0 {
            self.data.drain(..self.start);
            self.start = 0;
        }
        let end = self.data.len();
        self.data.resize(end + READ_CHUNK, 0);
        self.data.get_mut(end..).unwrap_or_default()
    }

    /// `n` bytes were read into the space `read_space` returned.
    pub fn filled(&mut self, n: usize) {
        let end = self.data.len() - READ_CHUNK + n.min(READ_CHUNK);
        self.data.truncate(end);
    }

    /// Appends bytes (tests, and callers that already hold a chunk).
    pub fn extend(&mut self, bytes: &[u8]) {
        if self.start > 0 && self.start == self.data.len() {
            self.data.clear();
            self.start = 0;
        }
        self.data.extend_from_slice(bytes);
    }

    /// The next whole message, consumed from the buffer; `Ok(None)` when more bytes are
    /// needed. Keepalive CR/LF bytes between messages are skipped.
    pub fn next_frame(&mut self) -> Result<Option<&[u8]>, FrameError> {
        let rest = self.data.get(self.start..).unwrap_or_default();
        let skip = sip::keepalive_len(rest);
        // RFC 5626 §4.4.1: a CRLFCRLF ping between messages wants a CRLF pong.
        if skip > 0 {
            self.crlf_run += skip;
            if self.crlf_run >= 4 {
                self.pings += 1;
                self.crlf_run = 0;
            }
        }
        self.start += skip;
        let rest = rest.get(skip..).unwrap_or_default();
        if rest.is_empty() {
            return Ok(None);
        }
        self.crlf_run = 0;
        start_line_ok(rest)?;
        match sip::frame_len(rest, self.max)? {
            Some(n) => {
                let at = self.start;
                self.start += n;
                Ok(self.data.get(at..at + n))
            }
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(i: usize, body: &str) -> Vec<u8> {
        format!(
            "OPTIONS sip:a@b SIP/2.0\r\nCall-ID: c{i}\r\nCSeq: {i} OPTIONS\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .into_bytes()
    }

    /// Three messages (one with a body, keepalives in between) as one stream.
    fn stream() -> (Vec<u8>, Vec<Vec<u8>>) {
        let msgs = vec![
            msg(1, ""),
            msg(2, "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\n"),
            msg(3, "x"),
        ];
        let mut s = Vec::new();
        s.extend_from_slice(&msgs[0]);
        s.extend_from_slice(b"\r\n\r\n");
        s.extend_from_slice(&msgs[1]);
        s.extend_from_slice(&msgs[2]);
        s.extend_from_slice(b"\r\n");
        (s, msgs)
    }

    /// Feeds `chunks` one after the other, draining frames after each.
    fn frames_of(chunks: &[&[u8]], max: usize) -> Result<Vec<Vec<u8>>, FrameError> {
        let mut b = StreamBuffer::new(max);
        let mut out = Vec::new();
        for c in chunks {
            b.extend(c);
            while let Some(f) = b.next_frame()? {
                out.push(f.to_vec());
            }
        }
        Ok(out)
    }

    #[test]
    fn three_messages_fed_whole_come_out_whole() {
        let (s, msgs) = stream();
        assert_eq!(frames_of(&[&s], 4096), Ok(msgs));
    }

    #[test]
    fn three_messages_fed_byte_by_byte_come_out_identical() {
        let (s, msgs) = stream();
        let chunks: Vec<&[u8]> = s.chunks(1).collect();
        assert_eq!(frames_of(&chunks, 4096), Ok(msgs));
    }

    #[test]
    fn three_messages_split_at_every_position_come_out_identical() {
        let (s, msgs) = stream();
        for i in 0..=s.len() {
            let (a, b) = s.split_at(i);
            assert_eq!(frames_of(&[a, b], 4096), Ok(msgs.clone()), "split at {i}");
            for j in i..=s.len() {
                let (b1, b2) = b.split_at(j - i);
                assert_eq!(
                    frames_of(&[a, b1, b2], 4096),
                    Ok(msgs.clone()),
                    "split at {i} and {j}"
                );
            }
        }
    }

    #[test]
    fn read_space_and_filled_frame_like_extend() {
        let (s, msgs) = stream();
        for step in [1, 7, 100, s.len()] {
            let mut b = StreamBuffer::new(4096);
            let mut out = Vec::new();
            for c in s.chunks(step) {
                let space = b.read_space();
                space[..c.len()].copy_from_slice(c);
                b.filled(c.len());
                while let Some(f) = b.next_frame().expect("frames") {
                    out.push(f.to_vec());
                }
            }
            assert_eq!(out, msgs, "step {step}");
            assert!(b.only_keepalives());
        }
    }

    #[test]
    fn a_message_over_the_limit_is_too_large_before_its_body_arrives() {
        let big = format!(
            "MESSAGE sip:a@b SIP/2.0\r\nCall-ID: x\r\nCSeq: 1 MESSAGE\r\nContent-Length: {}\r\n\r\n",
            1 << 20
        );
        assert_eq!(
            frames_of(&[big.as_bytes()], 4096),
            Err(FrameError::TooLarge)
        );
    }

    #[test]
    fn endless_headers_are_too_large_once_the_limit_is_reached() {
        let mut b = StreamBuffer::new(256);
        b.extend(b"INVITE sip:a@b SIP/2.0\r\n");
        let mut result = Ok(None);
        for _ in 0..100 {
            b.extend(b"X-Filler: aaaaaaaaaaaaaaaa\r\n");
            result = b.next_frame().map(|f| f.map(<[u8]>::to_vec));
            if result.is_err() {
                break;
            }
        }
        assert_eq!(result, Err(FrameError::TooLarge));
    }

    #[test]
    fn garbage_is_bad_input_as_soon_as_its_first_line_ends() {
        assert_eq!(
            frames_of(&[b"hello there\r\n"], 4096),
            Err(FrameError::BadInput)
        );
        assert_eq!(
            frames_of(&[&[0xffu8; 5000]], 65536),
            Err(FrameError::BadInput)
        );
    }

    #[test]
    fn a_sip_message_without_content_length_is_bad_input() {
        assert_eq!(
            frames_of(&[b"OPTIONS sip:a SIP/2.0\r\nCall-ID: x\r\n\r\n"], 4096),
            Err(FrameError::BadInput)
        );
    }

    #[test]
    fn a_double_crlf_ping_is_counted_however_it_is_split() {
        let (s, msgs) = stream();
        let mut b = StreamBuffer::new(4096);
        let mut out = Vec::new();
        for c in s.chunks(1) {
            b.extend(c);
            while let Some(f) = b.next_frame().expect("frames") {
                out.push(f.to_vec());
            }
        }
        assert_eq!(out, msgs);
        // One CRLFCRLF between the first two messages; the lone CRLF at the end is a pong.
        assert_eq!(b.take_pings(), 1);
        assert_eq!(b.take_pings(), 0);
    }

    #[test]
    fn a_partial_message_stays_pending() {
        let (s, _) = stream();
        let mut b = StreamBuffer::new(4096);
        b.extend(&s[..20]);
        assert_eq!(b.next_frame(), Ok(None));
        assert_eq!(b.pending(), 20);
        assert!(!b.only_keepalives());
    }
}
