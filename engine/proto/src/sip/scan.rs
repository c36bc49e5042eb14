//! Byte-level helpers shared by the parser and the stream framer: line splitting (CRLF or
//! bare LF), whitespace trimming, token checks and bounded decimal parsing.
//!
//! Owns: nothing but pure functions over `&[u8]`. Must not: allocate or panic on any input.
//! Every index it returns lies inside the slice it was given.

use memchr::{memchr, memchr2};

/// One line of a message: `start..end` is the content without its line end, `next` is the
/// offset of the byte after the LF.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Line {
    pub(super) start: usize,
    pub(super) end: usize,
    pub(super) next: usize,
}

impl Line {
    /// True for the empty line that ends the header section.
    pub(super) fn is_empty(&self) -> bool {
        self.start == self.end
    }
}

/// The line that starts at `pos`, or `None` when no LF follows `pos` yet.
///
/// Both CRLF and bare LF end a line (SIPp tolerates LF, so do we); one CR before the LF is
/// not part of the line.
pub(super) fn next_line(buf: &[u8], pos: usize) -> Option<Line> {
    let rest = buf.get(pos..)?;
    let lf = pos + memchr(b'\n', rest)?;
    let end = if lf > pos && buf.get(lf - 1) == Some(&b'\r') {
        lf - 1
    } else {
        lf
    };
    Some(Line {
        start: pos,
        end,
        next: lf + 1,
    })
}

/// SP or HTAB: the whitespace allowed around header values (RFC 3261 §25.1 `WSP`).
pub(super) fn is_wsp(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// SP, HTAB, CR or LF: whitespace inside a folded value.
pub(super) fn is_lws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// `start..end` of `buf` with `WSP` removed on both sides.
pub(super) fn trim_range(buf: &[u8], mut start: usize, mut end: usize) -> (usize, usize) {
    while start < end && buf.get(start).copied().is_some_and(is_wsp) {
        start += 1;
    }
    while end > start && buf.get(end - 1).copied().is_some_and(is_wsp) {
        end -= 1;
    }
    (start, end)
}

/// `s` without leading and trailing linear whitespace (SP, HTAB, CR, LF).
pub(super) fn trim_lws(s: &[u8]) -> &[u8] {
    let start = s.iter().position(|&b| !is_lws(b)).unwrap_or(s.len());
    let end = s.iter().rposition(|&b| !is_lws(b)).map_or(start, |i| i + 1);
    s.get(start..end).unwrap_or(&[])
}

/// RFC 3261 §25.1 `token` characters: alphanumerics and `-.!%*_+`'~`.
// Built at compile time: `i < 256` bounds the index and makes `i as u8` exact.
#[allow(clippy::indexing_slicing, clippy::cast_possible_truncation)]
const TOKEN: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        t[i] = b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'.' | b'!' | b'%' | b'*' | b'_' | b'+' | b'`' | b'\'' | b'~'
            );
        i += 1;
    }
    t
};

fn is_token_byte(b: u8) -> bool {
    TOKEN.get(usize::from(b)).copied().unwrap_or(false)
}

/// True if `s` is a non-empty RFC 3261 `token` (method names, header names).
pub(super) fn is_token(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(|&b| is_token_byte(b))
}

/// Splits a header line `token *WSP ":" value` (RFC 3261 §7.3.1, `HCOLON`): returns the
/// name length and the offset of the colon, or `None` if the line is not a header line.
/// One pass over the name, no search for the colon.
pub(super) fn split_header_line(text: &[u8]) -> Option<(usize, usize)> {
    let name_len = text.iter().position(|&b| !is_token_byte(b))?;
    if name_len == 0 {
        return None;
    }
    let colon = name_len + text.get(name_len..)?.iter().position(|&b| !is_wsp(b))?;
    (text.get(colon) == Some(&b':')).then_some((name_len, colon))
}

/// The first `:` of `s`, eight bytes at a time (SWAR): a header name is a few bytes, where
/// a byte loop or `memchr`'s set-up costs more than the search.
pub(super) fn find_colon(s: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    const COLONS: u64 = 0x3a3a_3a3a_3a3a_3a3a;
    let mut at = 0;
    while let Some(chunk) = s.get(at..).and_then(<[u8]>::first_chunk::<8>) {
        // A lane is zero where the byte is `:`; the lowest flagged lane is exact (a borrow
        // only flags lanes above a zero one), and little-endian puts it first.
        let w = u64::from_le_bytes(*chunk) ^ COLONS;
        let zero = w.wrapping_sub(ONES) & !w & HIGH;
        if zero != 0 {
            return Some(at + (zero.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    s.get(at..)?.iter().position(|&b| b == b':').map(|p| at + p)
}

/// Why a decimal number was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum DecimalError {
    /// Empty, or a byte that is not an ASCII digit.
    NotDigits,
    /// More than `u64` can hold: the number is absurd, whatever it means.
    Overflow,
}

/// Parses ASCII digits with checked arithmetic; no sign, no whitespace.
pub(super) fn parse_decimal(s: &[u8]) -> Result<u64, DecimalError> {
    if s.is_empty() {
        return Err(DecimalError::NotDigits);
    }
    let mut n: u64 = 0;
    for &b in s {
        if !b.is_ascii_digit() {
            return Err(DecimalError::NotDigits);
        }
        n = n
            .checked_mul(10)
            .and_then(|n| n.checked_add(u64::from(b - b'0')))
            .ok_or(DecimalError::Overflow)?;
    }
    Ok(n)
}

/// Byte classes for [`find_top_level`]: which separators end the search.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Stops {
    /// `,` only (splitting a list).
    Comma,
    /// `;` or `,` (walking parameters of one list element).
    SemicolonOrComma,
}

// Built at compile time from byte literals, which always index inside the table.
#[allow(clippy::indexing_slicing)]
/// Per byte: 1 = `,`, 2 = `;`, 4 = `"` or `<` (a nested section starts).
const CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    t[b',' as usize] = 1;
    t[b';' as usize] = 2;
    t[b'"' as usize] = 4;
    t[b'<' as usize] = 4;
    t
};

/// Index of the first separator at or after `from` that lies outside `"..."` (with `\`
/// escapes) and `<...>`. An unclosed quote or bracket hides the rest of the value.
pub(super) fn find_top_level(s: &[u8], from: usize, stops: Stops) -> Option<usize> {
    let wanted = match stops {
        Stops::Comma => 1 | 4,
        Stops::SemicolonOrComma => 1 | 2 | 4,
    };
    let mut i = from;
    loop {
        let rest = s.get(i..)?;
        i += rest
            .iter()
            .position(|&b| CLASS.get(usize::from(b)).is_some_and(|c| c & wanted != 0))?;
        match s.get(i)? {
            b'"' => i = i + 1 + quoted_len(s.get(i + 1..)?)?,
            b'<' => i = i + 1 + memchr(b'>', s.get(i + 1..)?)? + 1,
            _ => return Some(i),
        }
    }
}

/// Length of a quoted string's rest up to and including its closing quote, or `None` if
/// it is never closed. `q` starts just after the opening quote.
fn quoted_len(q: &[u8]) -> Option<usize> {
    let mut i = 0;
    loop {
        i += memchr2(b'"', b'\\', q.get(i..)?)?;
        if q.get(i) == Some(&b'"') {
            return Some(i + 1);
        }
        i += 2; // a backslash escapes the next byte
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::find_colon;

    /// The SWAR search agrees with a byte loop for every colon position, with bytes that
    /// differ from `:` by one bit around it and a second colon after it.
    #[test]
    fn find_colon_agrees_with_a_byte_search() {
        let near = [
            0x3b, 0x38, 0xba, 0x3e, 0x32, 0x2a, 0x1a, 0x7a, 0x39, 0x00, 0xff, b' ',
        ];
        for len in 0..40 {
            for fill in near {
                let mut s = vec![fill; len];
                assert_eq!(find_colon(&s), None);
                for at in 0..len {
                    s[at] = b':';
                    if at + 3 < len {
                        s[at + 3] = b':';
                    }
                    assert_eq!(find_colon(&s), s.iter().position(|&b| b == b':'), "{s:?}");
                    s.iter_mut().for_each(|b| *b = fill);
                }
            }
        }
    }
}
