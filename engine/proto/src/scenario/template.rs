//! Message text → `Template` (literal byte runs and keyword slots), the way SIPp reads it.
//!
//! Owns: SIPp's CDATA clean-up (`clean_cdata` quirks included, so the bytes on the wire
//! match), `\xNN` escapes, LF → CRLF, `[keyword]` splitting, and the method / status of a
//! `<send>`. Must not: render anything (that is `call`), or know keyword names (that is
//! `keywords`). Driven by `loader` and `actions`.
//!
//! SIPp quirks kept on purpose (reference/sipp.md §2, regress #0034/#0337, and checked
//! against the 3.6.1 binary on the wire):
//! - leading blanks/LFs of the block and trailing blanks/LFs of the block go; then one
//!   space or tab is removed at each line start/end, repeatedly for spaces and then
//!   repeatedly for tabs, so `\t  x` keeps its two spaces;
//! - a message without an empty line gets `\n\n` appended;
//! - `<send>` only: if trailing LFs were removed and the text does not end in LF, one LF
//!   is put back (so a body ends in CRLF, and `Content-Length: [len]` counts it);
//! - `\x` followed by one or two hex digits is that byte, and SIPp then skips one more
//!   character (so `\x4|` is 0x04 and the `|` is gone; `\x|` drops the `|`).

use std::sync::Arc;

use super::ctx::Ctx;
use super::keywords;
use super::limits::work;
use super::model::{Segment, Template};

/// The text of a `<send>` (or `<DefaultMessage>`) CDATA after SIPp's clean-up.
pub(super) fn send_text(cdata: &str) -> String {
    let (mut msg, removed_lf) = clean_cdata(cdata);
    if removed_lf > 0 && !msg.ends_with('\n') {
        msg.push('\n');
    }
    msg
}

/// SIPp's `clean_cdata`: returns the cleaned text and how many trailing LFs were removed.
pub(super) fn clean_cdata(cdata: &str) -> (String, usize) {
    // XML line-end normalisation first (quick-xml leaves CR in CDATA).
    let normalised = cdata.replace("\r\n", "\n").replace('\r', "\n");
    let start = normalised.trim_start_matches([' ', '\t', '\n']);
    let body = start.trim_end_matches([' ', '\t', '\n']);
    let removed_lf = start[body.len()..].matches('\n').count();
    let mut msg = body.to_owned();
    if !msg.contains("\n\n") {
        msg.push_str("\n\n");
    }
    // SIPp replaces "\n " by "\n" until none is left, then " \n", "\n\t" and "\t\n" the
    // same way; each of those loops is one pass here.
    for (blank, after_lf) in [(' ', true), (' ', false), ('\t', true), ('\t', false)] {
        msg = strip_blank_runs(&msg, blank, after_lf);
    }
    (msg, removed_lf)
}

/// `text` without the runs of `blank` right after a line feed (`after_lf`) or right
/// before one: what replacing "\n" + blank (or blank + "\n") by "\n" until none is left
/// gives, in one pass instead of one pass per blank of the longest run.
fn strip_blank_runs(text: &str, blank: char, after_lf: bool) -> String {
    work::add(text.len());
    let mut out = String::with_capacity(text.len());
    let mut pending = 0usize;
    let mut after_newline = false;
    for c in text.chars() {
        if c == blank {
            if !after_lf {
                pending += 1;
            } else if !after_newline {
                out.push(c);
            }
            continue;
        }
        if c != '\n' {
            out.extend(std::iter::repeat_n(blank, pending));
        }
        pending = 0;
        after_newline = c == '\n';
        out.push(c);
    }
    out.extend(std::iter::repeat_n(blank, pending));
    out
}

/// Compiles message text into a template. `at` is the file offset used for errors, and
/// `raw` the text as written in the file, used to point errors at the keyword itself.
pub(super) fn compile(ctx: &mut Ctx<'_>, text: &str, at: usize, raw: &str) -> Template {
    let latin1 = ctx.src.latin1;
    let mut segments = Vec::new();
    let mut lit: Vec<u8> = Vec::new();
    let mut rest = text;
    work::add(text.len());
    // Where in `raw` to look for the next keyword (they come in file order); `None` once
    // one was not found verbatim, so no search rescans the text.
    let mut raw_from = Some(0);
    while let Some(c) = rest.chars().next() {
        if let Some(after) = rest.strip_prefix("\\x") {
            let mut chars = after.chars();
            let first = chars.next();
            match first.and_then(|c| c.to_digit(16)) {
                Some(hi) => {
                    let second = chars.next();
                    let byte = match second.and_then(|c| c.to_digit(16)) {
                        Some(lo) => hi * 16 + lo,
                        None => hi,
                    };
                    lit.push(u8::try_from(byte).unwrap_or(0));
                    rest = chars.as_str();
                }
                None => {
                    // SIPp skips the character after a bare `\x`.
                    rest = chars.as_str();
                }
            }
            continue;
        }
        match c {
            '\n' => lit.extend_from_slice(b"\r\n"),
            '[' => {
                let inner_and_rest = &rest[1..];
                match closing_bracket(inner_and_rest) {
                    Some(end) if end > 0 => {
                        let inner = &inner_and_rest[..end];
                        if !lit.is_empty() {
                            segments.push(Segment::Literal(Arc::from(std::mem::take(&mut lit))));
                        }
                        let found = raw_from.and_then(|from| keyword_offset(raw, inner, from));
                        raw_from = found.map(|o| o + 1 + inner.len());
                        let kw_at = found.map_or(at, |o| at + o);
                        if let Some(kw) = keywords::parse(ctx, inner, kw_at) {
                            segments.push(Segment::Keyword(kw));
                        }
                        rest = &inner_and_rest[end + 1..];
                        continue;
                    }
                    _ => {
                        let kw_at = raw.find('[').map_or(at, |o| at + o);
                        let line = rest.lines().next().unwrap_or("");
                        ctx.error(
                            kw_at,
                            super::ScenarioErrorKind::Invalid(format!(
                                "unterminated or empty [keyword] in \"{line}\" (write a literal [ as \\x5b)"
                            )),
                        );
                        return Template { segments };
                    }
                }
            }
            c if latin1 && u32::from(c) < 0x100 => {
                lit.push(u8::try_from(u32::from(c)).unwrap_or(b'?'))
            }
            c => {
                let mut buf = [0u8; 4];
                lit.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
        rest = &rest[c.len_utf8()..];
    }
    if !lit.is_empty() {
        segments.push(Segment::Literal(Arc::from(lit)));
    }
    Template { segments }
}

/// Index of the `]` closing a keyword whose text starts at `s`, skipping quoted strings
/// and nested brackets (`[field0 line="[$x]"]` style).
fn closing_bracket(s: &str) -> Option<usize> {
    let mut depth = 0usize;
    let mut in_quote = false;
    let mut escaped = false;
    for (i, b) in s.bytes().enumerate() {
        if in_quote {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_quote = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_quote = true,
            b'[' => depth += 1,
            b']' if depth == 0 => return Some(i),
            b']' => depth -= 1,
            _ => {}
        }
    }
    None
}

/// Where `[inner` first sits in the raw text at or after `from`, for error positions.
/// (`str::find` with a string needle is linear in the text searched.)
fn keyword_offset(raw: &str, inner: &str, from: usize) -> Option<usize> {
    let tail = raw.get(from..)?;
    let needle = format!("[{inner}");
    let found = tail.find(&needle);
    work::add(found.map_or(tail.len(), |i| i + needle.len()));
    found.map(|i| from + i)
}

/// The request method or response status from the template's first literal:
/// `INVITE sip:…` → ("INVITE", None); `SIP/2.0 200 OK` → (None, 200). `None, None`
/// when the first line starts with a keyword.
pub(super) fn start_line(t: &Template) -> (Option<String>, Option<u16>) {
    let Some(Segment::Literal(first)) = t.segments.first() else {
        return (None, None);
    };
    let line = first
        .split(|&b| b == b'\r' || b == b'\n')
        .next()
        .unwrap_or(&[]);
    let line = String::from_utf8_lossy(line);
    let line = line.trim_start();
    let Some((word, rest)) = line.split_once(' ') else {
        return (None, None);
    };
    if word == "SIP/2.0" {
        let code: String = rest
            .trim_start()
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        (None, code.parse().ok())
    } else {
        (Some(word.to_owned()), None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_cdata_strips_block_and_line_blanks() {
        let (msg, removed) = clean_cdata("\n\n   INVITE x SIP/2.0\n   A: 1  \n\n   body\n\n   ");
        assert_eq!(msg, "INVITE x SIP/2.0\nA: 1\n\nbody");
        assert_eq!(removed, 2);
    }

    #[test]
    fn clean_cdata_keeps_spaces_after_a_tab_like_sipp() {
        let (msg, _) = clean_cdata("a\n\t  b\n\nc");
        assert_eq!(msg, "a\n  b\n\nc");
    }

    #[test]
    fn message_without_empty_line_gets_one() {
        assert_eq!(
            send_text("  OPTIONS x SIP/2.0\n  A: 1\n  "),
            "OPTIONS x SIP/2.0\nA: 1\n\n"
        );
    }

    #[test]
    fn body_gets_its_last_line_end_back() {
        assert_eq!(
            send_text("M x SIP/2.0\nContent-Length: 5\n\nhello\n   "),
            "M x SIP/2.0\nContent-Length: 5\n\nhello\n"
        );
        // Nothing was removed at the end: nothing is added (SIPp sends "hello" bare).
        assert_eq!(send_text("M x SIP/2.0\n\nhello"), "M x SIP/2.0\n\nhello");
    }

    #[test]
    fn crlf_files_are_normalised() {
        assert_eq!(
            send_text("A x SIP/2.0\r\nB: 1\r\n\r\n"),
            "A x SIP/2.0\nB: 1\n\n"
        );
    }

    /// SIPp's clean-up as written in SIPp: replace until no occurrence is left.
    fn clean_by_replacing(mut msg: String) -> String {
        for (from, to) in [("\n ", "\n"), (" \n", "\n"), ("\n\t", "\n"), ("\t\n", "\n")] {
            while msg.contains(from) {
                msg = msg.replace(from, to);
            }
        }
        msg
    }

    #[test]
    fn one_pass_strip_equals_replacing_until_none_is_left() {
        let blanks = [" ", "\t", "\n", "x", "  ", "\t ", " \t"];
        // Every string of up to 5 pieces over the alphabet: runs, mixes, edges.
        let mut cases = vec![String::new()];
        for _ in 0..5 {
            let longer: Vec<String> = cases
                .iter()
                .flat_map(|c| blanks.iter().map(move |b| format!("{c}{b}")))
                .collect();
            cases.extend(longer);
        }
        assert!(cases.len() > 10_000);
        for case in cases {
            let mut one_pass = case.clone();
            for (blank, after_lf) in [(' ', true), (' ', false), ('\t', true), ('\t', false)] {
                one_pass = strip_blank_runs(&one_pass, blank, after_lf);
            }
            assert_eq!(one_pass, clean_by_replacing(case.clone()), "{case:?}");
        }
    }

    #[test]
    fn closing_bracket_skips_quotes_and_nesting() {
        assert_eq!(closing_bracket("a]"), Some(1));
        assert_eq!(closing_bracket("f x=\"]\"]"), Some(7));
        assert_eq!(closing_bracket("f line=[$x]]"), Some(11));
        assert_eq!(closing_bracket("open"), None);
    }
}
