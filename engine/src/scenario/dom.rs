//! Scenario bytes → a small element tree with byte offsets, for the loader to walk.
//!
//! Owns: text decoding (UTF-8, else ISO-8859-1 byte → char; a UTF-8 BOM is dropped),
//! the quick-xml event loop, and offset → line:column conversion. Must not: know any
//! SIPp element (that is `loader`). Scenario files are small, so a tree costs nothing
//! and lets the loader look ahead (labels) without a second XML pass.

use quick_xml::events::{BytesStart, Event};

use super::model::Pos;

/// The decoded scenario text and where its lines start.
pub(super) struct Source {
    pub(super) text: String,
    /// The bytes were not UTF-8 and were read as ISO-8859-1: literal text must go back
    /// to single bytes on the wire, as SIPp sends the file's bytes unchanged.
    pub(super) latin1: bool,
    line_starts: Vec<usize>,
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
        Source {
            text,
            latin1,
            line_starts,
        }
    }

    /// 1-based line and column (in characters) of a byte offset into `text`.
    pub(super) fn pos(&self, offset: usize) -> Pos {
        let offset = offset.min(self.text.len());
        let line = self.line_starts.partition_point(|&s| s <= offset).max(1);
        let start = self.line_starts.get(line - 1).copied().unwrap_or(0);
        let column = self
            .text
            .get(start..offset)
            .map_or(offset - start, |s| s.chars().count())
            + 1;
        Pos {
            line: u32::try_from(line).unwrap_or(u32::MAX),
            column: u32::try_from(column).unwrap_or(u32::MAX),
        }
    }
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

/// A fatal XML syntax error: where, and what quick-xml (or we) said.
pub(super) struct XmlError {
    pub(super) offset: usize,
    pub(super) message: String,
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
    loop {
        let at = offset(reader.buffer_position());
        let event = reader.read_event().map_err(|e| XmlError {
            offset: offset(reader.error_position()),
            message: e.to_string(),
        })?;
        match event {
            Event::Start(e) => stack.push(element(text, &e, at)?),
            Event::Empty(e) => {
                let node = element(text, &e, at)?;
                attach(&mut stack, &mut root, node, at)?;
            }
            Event::End(_) => {
                let node = stack.pop().ok_or_else(|| XmlError {
                    offset: at,
                    message: "unexpected closing tag".into(),
                })?;
                attach(&mut stack, &mut root, node, at)?;
            }
            Event::CData(c) => {
                let content = c.into_inner().into_owned();
                match stack.last_mut() {
                    Some(parent) => parent.cdata.push((content, at + "<![CDATA[".len())),
                    None => {
                        return Err(XmlError {
                            offset: at,
                            message: "CDATA outside the root element".into(),
                        });
                    }
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
                            return Err(XmlError {
                                offset: at + skip,
                                message: "text outside the root element".into(),
                            });
                        }
                    }
                }
            }
            Event::GeneralRef(_) => match stack.last_mut() {
                Some(parent) => {
                    parent.text_at.get_or_insert(at);
                }
                None => {
                    return Err(XmlError {
                        offset: at,
                        message: "text outside the root element".into(),
                    });
                }
            },
            Event::Comment(_) | Event::Decl(_) | Event::PI(_) | Event::DocType(_) => {}
            Event::Eof => break,
        }
    }
    if let Some(open) = stack.last() {
        return Err(XmlError {
            offset: open.pos,
            message: format!("<{}> is never closed", open.name),
        });
    }
    root.ok_or(XmlError {
        offset: text.len(),
        message: "no root element".into(),
    })
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
        None => {
            return Err(XmlError {
                offset: at,
                message: "a second root element".into(),
            });
        }
    }
    Ok(())
}

fn element(text: &str, e: &BytesStart<'_>, at: usize) -> Result<Node, XmlError> {
    let name = e.name().as_ref().to_owned();
    // The attribute text follows `<` and the name inside the tag.
    let attrs_at = at + 1 + name.len();
    let raw = e.attributes_raw();
    let mut attrs = Vec::new();
    for a in e.attributes() {
        let a = a.map_err(|err| XmlError {
            offset: attrs_at,
            message: err.to_string(),
        })?;
        let key = a.key.as_ref().to_owned();
        let pos = attrs_at + find_attr(raw, &key).unwrap_or(0);
        let value = quick_xml::escape::unescape(&a.value)
            .map_err(|err| XmlError {
                offset: pos,
                message: err.to_string(),
            })?
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

/// Offset of `key=` inside the raw attribute text (for error positions only).
fn find_attr(raw: &str, key: &str) -> Option<usize> {
    raw.match_indices(key).map(|(i, _)| i).find(|&i| {
        let before_ok = raw[..i]
            .chars()
            .next_back()
            .is_none_or(|c| c.is_ascii_whitespace());
        let after = raw[i + key.len()..].trim_start();
        before_ok && after.starts_with('=')
    })
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
