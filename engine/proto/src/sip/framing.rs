//! Stream framing for SIP over TCP/TLS (RFC 3261 §18.3): where does the next message end?
//!
//! Owns: finding the empty line and the single Content-Length of the message at the front
//! of a stream buffer. Must not: consume bytes (the caller drains `n` once a frame is
//! whole), skip keepalives itself (see [`keepalive_len`]), or let the buffer grow past
//! `max`. Driven by the shard's stream reader, as in mini-redis: `Ok(None)` = read more.

use super::FramingError;
use super::header::HeaderName;
use super::scan::{self, DecimalError};

/// How many leading CR and LF bytes (RFC 5626 keepalives: a `CRLFCRLF` ping or a `CRLF`
/// pong, RFC 3261 §7.5 stray CRLFs) to drop before calling [`frame_len`].
pub fn keepalive_len(buf: &[u8]) -> usize {
    buf.iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .unwrap_or(buf.len())
}

/// Length of the whole message at the start of `buf`: `Ok(Some(n))` when its `n` bytes
/// (headers, empty line, Content-Length body) are all there, `Ok(None)` when more bytes are
/// needed. Streams need exactly one Content-Length. A message that is or will be longer
/// than `max` bytes is `TooLarge`, decided as soon as it is certain and without waiting for
/// the bytes. The answer depends only on the bytes, never on how they were split.
pub fn frame_len(buf: &[u8], max: usize) -> Result<Option<usize>, FramingError> {
    if matches!(buf.first(), Some(b'\r' | b'\n')) {
        return Err(FramingError::LeadingCrlf);
    }
    // The header section must end within the first `max` bytes.
    let window = buf.get(..max).unwrap_or(buf);
    let mut pos = match scan::next_line(window, 0) {
        Some(start_line) => start_line.next,
        None => return need_more(buf, max),
    };
    let mut content_length: Option<u64> = None;
    let headers_end = loop {
        let Some(line) = scan::next_line(window, pos) else {
            return need_more(buf, max);
        };
        if line.is_empty() {
            break line.next;
        }
        pos = line.next;
        if let Some(n) = content_length_of(buf, line)? {
            if content_length.is_some() {
                return Err(FramingError::DuplicateContentLength);
            }
            content_length = Some(n);
        }
    };
    let body = content_length.ok_or(FramingError::MissingContentLength)?;
    let total = usize::try_from(body)
        .ok()
        .and_then(|b| headers_end.checked_add(b))
        .filter(|&t| t <= max)
        .ok_or(FramingError::TooLarge)?;
    Ok((total <= buf.len()).then_some(total))
}

/// No complete header section in the window: wait, unless the window is already full.
fn need_more(buf: &[u8], max: usize) -> Result<Option<usize>, FramingError> {
    if buf.len() >= max {
        Err(FramingError::TooLarge)
    } else {
        Ok(None)
    }
}

/// The value of a `Content-Length:` / `l:` line, or `None` for any other line (including
/// continuation lines and lines that `SipMessage::parse` would refuse).
fn content_length_of(buf: &[u8], line: scan::Line) -> Result<Option<u64>, FramingError> {
    let text = buf.get(line.start..line.end).unwrap_or(&[]);
    // Cheap filter first: only `Content-Length` and `l` can match.
    if !matches!(text.first(), Some(b'c' | b'C' | b'l' | b'L')) {
        return Ok(None);
    }
    let Some((name_len, colon)) = scan::split_header_line(text) else {
        return Ok(None);
    };
    let name = text.get(..name_len).unwrap_or(&[]);
    if HeaderName::from_bytes(name) != HeaderName::ContentLength {
        return Ok(None);
    }
    let (value_start, value_end) = scan::trim_range(buf, line.start + colon + 1, line.end);
    match scan::parse_decimal(buf.get(value_start..value_end).unwrap_or(&[])) {
        Ok(n) => Ok(Some(n)),
        Err(DecimalError::NotDigits) => Err(FramingError::BadContentLength),
        Err(DecimalError::Overflow) => Err(FramingError::TooLarge),
    }
}
