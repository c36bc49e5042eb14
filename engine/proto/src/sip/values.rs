//! Header value helpers: comma-separated lists, `;name=value` parameters and the URI inside
//! a name-addr (RFC 3261 §20, §25.1), all as sub-slices of the value they were given.
//!
//! Owns: quote- and bracket-aware scanning of one header value. Must not: allocate, unescape
//! or validate URIs (callers compare bytes). Used by `call` (tags, branches, route sets)
//! and `scenario` (`[last_*]`, `search_in=hdr`).

use memchr::{memchr, memchr2};

use super::scan::{Stops, find_top_level, trim_lws};

/// Splits a header value on commas that are not inside quotes or `<...>` (Via, Route,
/// Record-Route and Contact lists). Pieces are trimmed; empty pieces are skipped.
pub fn split_comma_values(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    CommaValues { rest: value }
}

/// Iterator behind [`split_comma_values`].
struct CommaValues<'v> {
    rest: &'v [u8],
}

impl<'v> Iterator for CommaValues<'v> {
    type Item = &'v [u8];

    fn next(&mut self) -> Option<&'v [u8]> {
        while !self.rest.is_empty() {
            let (piece, rest) = match find_top_level(self.rest, 0, Stops::Comma) {
                Some(i) => (
                    self.rest.get(..i).unwrap_or(&[]),
                    self.rest.get(i + 1..).unwrap_or(&[]),
                ),
                None => (self.rest, &[][..]),
            };
            self.rest = rest;
            let piece = trim_lws(piece);
            if !piece.is_empty() {
                return Some(piece);
            }
        }
        None
    }
}

/// Finds `;name=value` in a header value (a tag in To/From, a branch in Via): the name is
/// matched case-insensitively, only outside quotes and `<...>`, and only in the first
/// comma-separated value. The value is returned trimmed and as written (a quoted value
/// keeps its quotes); a flag parameter without `=` gives an empty slice.
pub fn param<'v>(value: &'v [u8], name: &[u8]) -> Option<&'v [u8]> {
    let mut sep = find_top_level(value, 0, Stops::SemicolonOrComma)?;
    // Each top-level `;` starts a parameter that ends at the next top-level `;` or `,`.
    while value.get(sep) == Some(&b';') {
        let start = sep + 1;
        let end = find_top_level(value, start, Stops::SemicolonOrComma).unwrap_or(value.len());
        if let Some(v) = match_param(value.get(start..end).unwrap_or(&[]), name) {
            return Some(v);
        }
        sep = end;
    }
    None
}

/// `name[=value]` → the value if the name matches.
fn match_param<'v>(segment: &'v [u8], name: &[u8]) -> Option<&'v [u8]> {
    let (pname, pvalue) = match memchr(b'=', segment) {
        Some(eq) => (
            segment.get(..eq).unwrap_or(&[]),
            segment.get(eq + 1..).unwrap_or(&[]),
        ),
        // A flag parameter: an empty value at the end of the segment, still inside it.
        None => (segment, segment.get(segment.len()..).unwrap_or(&[])),
    };
    trim_lws(pname)
        .eq_ignore_ascii_case(name)
        .then(|| trim_lws(pvalue))
}

/// The URI inside a name-addr (`"Bob" <sip:bob@x>;tag=1` → `sip:bob@x`), or the addr-spec
/// itself without header parameters (`sip:bob@x;tag=1` → `sip:bob@x`). Pass one value (see
/// [`split_comma_values`]); the result is trimmed.
pub fn uri_of(value: &[u8]) -> &[u8] {
    let value = trim_lws(value);
    match angle_start(value) {
        Some(lt) => {
            let inner = value.get(lt + 1..).unwrap_or(&[]);
            let end = memchr(b'>', inner).unwrap_or(inner.len());
            trim_lws(inner.get(..end).unwrap_or(&[]))
        }
        None => {
            let end = memchr2(b';', b',', value).unwrap_or(value.len());
            trim_lws(value.get(..end).unwrap_or(&[]))
        }
    }
}

/// Index of the first `<` outside a quoted display name.
fn angle_start(value: &[u8]) -> Option<usize> {
    let mut in_quote = false;
    let mut escaped = false;
    for (i, &b) in value.iter().enumerate() {
        if in_quote {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_quote = false;
            }
        } else if b == b'"' {
            in_quote = true;
        } else if b == b'<' {
            return Some(i);
        } else if b == b';' || b == b',' {
            // Header parameters of an addr-spec: no name-addr follows.
            return None;
        }
    }
    None
}
