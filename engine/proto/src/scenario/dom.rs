//! Scenario bytes → a small element tree with byte offsets, for the loader to walk.
//!
//! Owns: text decoding (UTF-8, else ISO-8859-1 byte → char; a UTF-8 BOM is dropped),
//! the quick-xml event loop, offset → line:column conversion, and the grammar's size
//! limits (depth, elements, attributes: `limits`), checked before the tree grows past
//! them. Must not: know any SIPp element (that is `loader`). Scenario files are small,
//! so a tree costs little and lets the loader look ahead (labels) without a second XML
//! pass; the depth cap keeps every walk over it (and its `Drop`) shallow.
//!
//! Every step is linear in the input: a line:column lookup scans at most
//! [`CHECKPOINT`] bytes, and attribute positions come from one scan of the tag.

use quick_xml::events::{BytesStart, Event};

use super::limits::{Limit, MAX_ATTRIBUTES, MAX_DEPTH, MAX_ELEMENTS, work};
use super::model::Pos;

/// `Source` keeps the character count at every multiple of this many bytes, so turning
/// an offset into a column never counts a long line from its start.
const CHECKPOINT: usize = 64;

/// The decoded scenario text and where its lines start.
pub(super) struct Source {
    pub(super) text: String,
    /// The bytes were not UTF-8 and were read as ISO-8859-1: literal text must go back
    /// to single bytes on the wire, as SIPp sends the file's bytes unchanged.
    pub(super) latin1: bool,
    line_starts: Vec<usize>,
    /// Characters in `text[..i * CHECKPOINT]`, for every `i`.
    chars_before: Vec<usize>,
}

impl Source {
    pub(super) fn decode(bytes: &[u8]) -> Source {
        let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        let (text, latin1) = match std::str::from_utf8(bytes) {
            Ok(s) => (s.to_owned(), false),
            Err(_) => (bytes.iter().map(|&b| char::from(b)).collect(), true),
        };
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        let mut chars_before = Vec::with_capacity(text.len() / CHECKPOINT + 1);
        let mut total = 0;
        for block in text.as_bytes().chunks(CHECKPOINT) {
            chars_before.push(total);
            total += char_starts(block);
        }
        Source {
            text,
            latin1,
            line_starts,
            chars_before,
        }
    }

    /// Characters that start before byte `offset` (at most `CHECKPOINT` bytes counted).
    fn char_index(&self, offset: usize) -> usize {
        let block = offset / CHECKPOINT;
        let from = block * CHECKPOINT;
        let base = self.chars_before.get(block).copied().unwrap_or(0);
        let bytes = self.text.as_bytes().get(from..offset).unwrap_or(&[]);
        work::add(bytes.len());
        base + char_starts(bytes)
    }

    /// 1-based line and column (in characters) of a byte offset into `text`.
    pub(super) fn pos(&self, offset: usize) -> Pos {
        let offset = offset.min(self.text.len());
        let line = self.line_starts.partition_point(|&s| s <= offset).max(1);
        let start = self.line_starts.get(line - 1).copied().unwrap_or(0);
        let column = self.char_index(offset) - self.char_index(start) + 1;
        Pos {
            line: u32::try_from(line).unwrap_or(u32::MAX),
            column: u32::try_from(column).unwrap_or(u32::MAX),
        }
    }
}

/// Bytes of `b` that start a UTF-8 character (everything but continuation bytes).
fn char_starts(b: &[u8]) -> usize {
    b.iter().filter(|&&c| c & 0xC0 != 0x80).count()
}

/// One XML element.
#[derive(Debug, Default)]
pub(super) struct Node {
    pub(super) name: String,
    /// Offset of the `<`.
    pub(super) pos: usize,
    pub(super) attrs: Vec<Attr>,
    pub(super) children: Vec<Node>,
    /// `<![CDATA[…]]>` sections: content and the offset where the content starts.
    pub(super) cdata: Vec<(String, usize)>,
    /// Offset of the first non-blank character data outside CDATA, if any.
    pub(super) text_at: Option<usize>,
}

#[derive(Debug)]
pub(super) struct Attr {
    pub(super) name: String,
    /// With the XML entities (`&amp;`, `&#34;`…) resolved, whitespace kept as written.
    pub(super) value: String,
    pub(super) pos: usize,
}

impl Node {
    pub(super) fn attr(&self, name: &str) -> Option<&Attr> {
        self.attrs.iter().find(|a| a.name == name)
    }
}

/// A fatal XML error: where, and what quick-xml (or we) said, or which limit was passed.
pub(super) struct XmlError {
    pub(super) offset: usize,
    pub(super) message: String,
    pub(super) limit: Option<Limit>,
}

impl XmlError {
    fn syntax(offset: usize, message: impl Into<String>) -> XmlError {
        XmlError {
            offset,
            message: message.into(),
            limit: None,
        }
    }

    fn limit(offset: usize, limit: Limit) -> XmlError {
        XmlError {
            offset,
            message: limit.to_string(),
            limit: Some(limit),
        }
    }
}

/// Parses the whole document and returns its root element.
pub(super) fn parse(text: &str) -> Result<Node, XmlError> {
    let mut reader = quick_xml::Reader::from_str(text);
    let config = reader.config_mut();
    config.trim_text(false);
    config.check_end_names = true;
    config.check_comments = false;
    let mut stack: Vec<Node> = Vec::new();
    let mut root: Option<Node> = None;
    let mut elements = 0usize;
    loop {
        let at = offset(reader.buffer_position());
        let event = reader
            .read_event()
            .map_err(|e| XmlError::syntax(offset(reader.error_position()), e.to_string()))?;
        work::add(1);
        if let Event::Start(_) | Event::Empty(_) = event {
            // Checked before the element is built: the tree never exceeds the caps.
            if stack.len() >= MAX_DEPTH {
                return Err(XmlError::limit(at, Limit::Depth));
            }
            elements += 1;
            if elements > MAX_ELEMENTS {
                return Err(XmlError::limit(at, Limit::Elements));
            }
        }
        match event {
            Event::Start(e) => stack.push(element(text, &e, at)?),
            Event::Empty(e) => {
                let node = element(text, &e, at)?;
                attach(&mut stack, &mut root, node, at)?;
            }
            Event::End(_) => {
                let node = stack
                    .pop()
                    .ok_or_else(|| XmlError::syntax(at, "unexpected closing tag"))?;
                attach(&mut stack, &mut root, node, at)?;
            }
            Event::CData(c) => {
                let content = c.into_inner().into_owned();
                match stack.last_mut() {
                    Some(parent) => parent.cdata.push((content, at + "<![CDATA[".len())),
                    None => return Err(XmlError::syntax(at, "CDATA outside the root element")),
                }
            }
            Event::Text(t) => {
                let raw = t.into_inner();
                if let Some(skip) = raw.find(|c: char| !c.is_ascii_whitespace()) {
                    match stack.last_mut() {
                        Some(parent) => {
                            parent.text_at.get_or_insert(at + skip);
                        }
                        None => {
                            return Err(XmlError::syntax(
                                at + skip,
                                "text outside the root element",
                            ));
                        }
                    }
                }
            }
            Event::GeneralRef(_) => match stack.last_mut() {
                Some(parent) => {
                    parent.text_at.get_or_insert(at);
                }
                None => return Err(XmlError::syntax(at, "text outside the root element")),
            },
            Event::Comment(_) | Event::Decl(_) | Event::PI(_) | Event::DocType(_) => {}
            Event::Eof => break,
        }
    }
    if let Some(open) = stack.last() {
        return Err(XmlError::syntax(
            open.pos,
            format!("<{}> is never closed", open.name),
        ));
    }
    root.ok_or_else(|| XmlError::syntax(text.len(), "no root element"))
}

fn offset(p: u64) -> usize {
    usize::try_from(p).unwrap_or(usize::MAX)
}

fn attach(
    stack: &mut [Node],
    root: &mut Option<Node>,
    node: Node,
    at: usize,
) -> Result<(), XmlError> {
    match stack.last_mut() {
        Some(parent) => parent.children.push(node),
        None if root.is_none() => *root = Some(node),
        None => return Err(XmlError::syntax(at, "a second root element")),
    }
    Ok(())
}

fn element(text: &str, e: &BytesStart<'_>, at: usize) -> Result<Node, XmlError> {
    let name = e.name().as_ref().to_owned();
    // The attribute text follows `<` and the name inside the tag.
    let attrs_at = at + 1 + name.len();
    let raw = e.attributes_raw();
    let mut names_at = AttrNames { raw, at: 0 };
    let mut attrs = Vec::new();
    for a in e.attributes() {
        let a = a.map_err(|err| XmlError::syntax(attrs_at, err.to_string()))?;
        let pos = attrs_at + names_at.next().unwrap_or(0);
        // Checked before quick-xml compares this name with every earlier one.
        if attrs.len() >= MAX_ATTRIBUTES {
            return Err(XmlError::limit(pos, Limit::Attributes));
        }
        let key = a.key.as_ref().to_owned();
        let value = quick_xml::escape::unescape(&a.value)
            .map_err(|err| XmlError::syntax(pos, err.to_string()))?
            .into_owned();
        attrs.push(Attr {
            name: key,
            value,
            pos,
        });
    }
    debug_assert!(text.get(at..).is_some_and(|t| t.starts_with('<')));
    Ok(Node {
        name,
        pos: at,
        attrs,
        ..Node::default()
    })
}

/// The offsets of the attribute names in a tag's raw attribute text, in order (for error
/// positions): one forward scan over `name = "value"` pairs, which quick-xml has already
/// checked, so the whole tag costs one pass however many attributes it has.
struct AttrNames<'a> {
    raw: &'a str,
    at: usize,
}

impl Iterator for AttrNames<'_> {
    type Item = usize;

    fn next(&mut self) -> Option<usize> {
        let bytes = self.raw.as_bytes();
        let skip_blank = |mut i: usize| {
            while bytes.get(i).is_some_and(u8::is_ascii_whitespace) {
                i += 1;
            }
            i
        };
        let start = skip_blank(self.at);
        let mut i = start;
        while bytes
            .get(i)
            .is_some_and(|b| *b != b'=' && !b.is_ascii_whitespace())
        {
            i += 1;
        }
        if i == start {
            return None;
        }
        i = skip_blank(i);
        if bytes.get(i) == Some(&b'=') {
            i = skip_blank(i + 1);
            if let Some(&quote) = bytes.get(i).filter(|b| matches!(b, b'"' | b'\'')) {
                i += 1;
                while bytes.get(i).is_some_and(|b| *b != quote) {
                    i += 1;
                }
                i += 1;
            }
        }
        work::add(i - self.at);
        self.at = i;
        Some(start)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latin1_bytes_are_read_as_chars() {
        let src = Source::decode(b"<a>\xE9</a>");
        assert!(src.latin1);
        assert_eq!(src.text, "<a>\u{e9}</a>");
    }

    #[test]
    fn bom_is_dropped_and_utf8_kept() {
        let src = Source::decode("\u{feff}<a>é</a>".as_bytes());
        assert!(!src.latin1);
        assert_eq!(src.text, "<a>é</a>");
    }

    #[test]
    fn positions_count_lines_and_characters() {
        let src = Source::decode("ab\néé<x\n".as_bytes());
        assert_eq!(src.pos(0), Pos { line: 1, column: 1 });
        assert_eq!(src.pos(3), Pos { line: 2, column: 1 });
        let lt = src.text.find('<').expect("present");
        assert_eq!(src.pos(lt), Pos { line: 2, column: 3 });
    }

    #[test]
    fn tree_keeps_cdata_attributes_and_offsets() {
        let text = "<?xml version=\"1.0\"?>\n<s name=\"a &amp; b\">\n <send x=\"1\"><![CDATA[hi]]></send>\n</s>";
        let root = parse(text).map_err(|e| e.message).expect("parses");
        assert_eq!(root.name, "s");
        assert_eq!(root.attr("name").map(|a| a.value.as_str()), Some("a & b"));
        let send = &root.children[0];
        assert_eq!(&text[send.pos..send.pos + 5], "<send");
        assert_eq!(&text[send.attrs[0].pos..send.attrs[0].pos + 1], "x");
        assert_eq!(send.cdata[0].0, "hi");
        assert_eq!(&text[send.cdata[0].1..send.cdata[0].1 + 2], "hi");
    }

    #[test]
    fn unclosed_and_mismatched_tags_fail_with_an_offset() {
        let text = "<s>\n  <recv>\n</s>";
        let err = parse(text).expect_err("fails");
        assert!(err.offset <= text.len());
        let err = parse("<s>\n<recv response=\"200\">\n").expect_err("fails");
        assert_eq!(err.offset, 4);
    }
}
