//! `SipMessage`: one parsed SIP request or response (RFC 3261 §7), borrowed from the
//! receive buffer.
//!
//! Owns: the start line and a fixed array of header ranges into the caller's buffer, plus
//! the Call-ID, CSeq and body located once at parse time. Must not: allocate, copy header
//! text, or trust a peer length (`Content-Length: 4294967295` is refused before it is used).
//! Driven by the shard (datagrams, framed stream messages); read by `call` and `scenario`.

use memchr::{memchr, memchr2, memrchr};

use super::header::HeaderName;
use super::scan::{self, DecimalError, Line};
use super::{MAX_HEADERS, ParseError};

/// A byte range `start..end` into the message buffer. `u32` keeps the header table small;
/// `parse` refuses buffers whose offsets do not fit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Span {
    pub(super) start: u32,
    pub(super) end: u32,
}

impl Span {
    fn new(start: usize, end: usize) -> Span {
        // `parse` checked that the buffer length fits in u32, so these never saturate; if
        // they did, `slice` would return an empty slice rather than panic.
        Span {
            start: u32::try_from(start).unwrap_or(u32::MAX),
            end: u32::try_from(end).unwrap_or(u32::MAX),
        }
    }

    fn slice(self, buf: &[u8]) -> &[u8] {
        buf.get(self.start as usize..self.end as usize)
            .unwrap_or(&[])
    }

    fn is_empty(self) -> bool {
        self.start >= self.end
    }
}

/// One header line: its resolved name, the name as written and the trimmed value (which
/// keeps any folded continuation lines inside it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct HeaderEntry {
    pub(super) name: HeaderName,
    pub(super) name_span: Span,
    pub(super) value: Span,
}

impl HeaderEntry {
    const EMPTY: HeaderEntry = HeaderEntry {
        name: HeaderName::Other,
        name_span: Span { start: 0, end: 0 },
        value: Span { start: 0, end: 0 },
    };
}

/// Slots in [`SipMessage`]'s per-name index: one per `HeaderName` (`Other` unused).
const NAMES: usize = HeaderName::ALL.len() + 1;
const _: () = assert!(NAMES <= 32, "`repeated` has one bit per name");

/// The bit of `name` in [`SipMessage`]'s `repeated` mask.
fn bit(name: HeaderName) -> u32 {
    1u32 << (name as u32)
}

/// What the start line says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum StartLine {
    /// `Method SP Request-URI SP SIP/2.0`; `lenient` when the line only parsed under
    /// SIPp's rules (see [`SipMessage::is_lenient`]).
    Request {
        method: Span,
        uri: Span,
        lenient: bool,
    },
    /// `SIP/2.0 SP Status-Code SP Reason-Phrase`.
    Response { status: u16, reason: Span },
}

/// The CSeq header (RFC 3261 §20.16): sequence number and method.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CSeq<'a> {
    /// The sequence number (RFC 3261 asks for < 2^31; any u32 is accepted).
    pub number: u32,
    /// The method, as written.
    pub method: &'a [u8],
}

/// A parsed SIP message borrowing its buffer: the start line and up to `MAX_HEADERS`
/// header ranges, with Call-ID, CSeq and the body located.
///
/// Built by [`SipMessage::parse`]; every accessor is a slice of [`SipMessage::raw`].
#[derive(Clone, Debug)]
pub struct SipMessage<'a> {
    buf: &'a [u8],
    first_line: Span,
    start: StartLine,
    headers: [HeaderEntry; MAX_HEADERS],
    header_count: usize,
    /// Per known name (`HeaderName as usize`): 1 + the table index of its first line, 0
    /// when it has none, so a lookup (`[last_Via:]`, Call-ID, a tag) does not walk the
    /// whole table.
    first: [u8; NAMES],
    /// Bit `HeaderName as usize` set when that name has more than one line (or, never in
    /// practice, when its index did not fit `first`): those are walked from the first.
    repeated: u32,
    call_id: Span,
    cseq_number: u32,
    cseq_method: Span,
    content_length: Option<usize>,
    body: Span,
}

impl<'a> SipMessage<'a> {
    /// Parses one whole message (a datagram, or a stream frame cut by
    /// [`frame_len`](super::frame_len)).
    ///
    /// Leading CR/LF bytes (keepalives, RFC 3261 §7.5) are skipped. Lines may end in CRLF
    /// or bare LF; continuation lines (starting with SP or HTAB) extend the previous
    /// header's value. Call-ID and CSeq are required, other headers are optional. With a
    /// Content-Length the body is exactly that many bytes (trailing bytes are ignored);
    /// without one it is the rest of the buffer.
    #[inline]
    pub fn parse(buf: &'a [u8]) -> Result<SipMessage<'a>, ParseError> {
        let mut slot = None;
        Self::parse_into(buf, &mut slot)?;
        // `parse_into` filled the slot when it returned Ok.
        slot.ok_or(ParseError::Empty)
    }

    /// [`parse`](Self::parse) into `slot`, returning the message there. For the receive
    /// path: the message is ~1.4 KB (the header table) and is built where it stays, where
    /// returning it by value copied it once per message (or twice, moved out of the
    /// `Result`). After an error the slot holds nothing to read (it may be filled in
    /// part): use the returned message only.
    pub fn parse_into<'s>(
        buf: &'a [u8],
        slot: &'s mut Option<SipMessage<'a>>,
    ) -> Result<&'s SipMessage<'a>, ParseError> {
        if u32::try_from(buf.len()).is_err() {
            return Err(ParseError::TooLarge);
        }
        let begin = buf
            .iter()
            .position(|&b| b != b'\r' && b != b'\n')
            .ok_or(ParseError::Empty)?;
        let line = scan::next_line(buf, begin).ok_or(ParseError::BadStartLine)?;
        let start = parse_start_line(buf, line)?;

        let msg = slot.insert(SipMessage {
            buf,
            first_line: Span::new(line.start, line.end),
            start,
            headers: [HeaderEntry::EMPTY; MAX_HEADERS],
            header_count: 0,
            first: [0; NAMES],
            repeated: 0,
            call_id: Span::default(),
            cseq_number: 0,
            cseq_method: Span::default(),
            content_length: None,
            body: Span::default(),
        });
        msg.index(line.next)?;
        Ok(msg)
    }

    /// Indexes the headers from `pos` and locates Call-ID, CSeq and the body.
    fn index(&mut self, pos: usize) -> Result<(), ParseError> {
        let headers_end = self.parse_headers(pos)?;
        self.locate_required()?;
        self.locate_body(headers_end)
    }

    /// Fills the header table from `pos` up to the empty line; returns the offset after it.
    /// Notes each known name's first line (`first`, `repeated`).
    fn parse_headers(&mut self, mut pos: usize) -> Result<usize, ParseError> {
        let buf = self.buf;
        loop {
            let line = scan::next_line(buf, pos).ok_or(ParseError::Unterminated)?;
            if line.is_empty() {
                return Ok(line.next);
            }
            pos = line.next;
            let first = buf.get(line.start).copied().unwrap_or(b' ');
            if scan::is_wsp(first) {
                // Folded continuation (RFC 3261 §7.3.1): extend the previous value.
                let last = self
                    .header_count
                    .checked_sub(1)
                    .and_then(|i| self.headers.get_mut(i))
                    .ok_or(ParseError::BadHeader)?;
                let (s, e) = scan::trim_range(buf, line.start, line.end);
                if s < e {
                    if last.value.is_empty() {
                        last.value = Span::new(s, e);
                    } else {
                        last.value.end = Span::new(s, e).end;
                    }
                }
                continue;
            }
            let entry = parse_header_line(buf, line)?;
            let at = self.header_count;
            let slot = self.headers.get_mut(at).ok_or(ParseError::TooManyHeaders)?;
            *slot = entry;
            self.header_count += 1;
            if entry.name != HeaderName::Other {
                match (
                    self.first.get_mut(entry.name as usize),
                    u8::try_from(at + 1),
                ) {
                    (Some(f), Ok(i)) if *f == 0 => *f = i,
                    _ => self.repeated |= bit(entry.name),
                }
            }
        }
    }

    /// Finds Call-ID and CSeq (the first of each) and checks them.
    fn locate_required(&mut self) -> Result<(), ParseError> {
        let call_id = self
            .entry(HeaderName::CallId)
            .ok_or(ParseError::MissingHeader("Call-ID"))?
            .value;
        if call_id.is_empty() {
            return Err(ParseError::BadCallId);
        }
        self.call_id = call_id;
        let cseq = self
            .entry(HeaderName::CSeq)
            .ok_or(ParseError::MissingHeader("CSeq"))?
            .value;
        let (number, method) = parse_cseq(self.buf, cseq).ok_or(ParseError::BadCSeq)?;
        self.cseq_number = number;
        self.cseq_method = method;
        Ok(())
    }

    /// Applies Content-Length (every occurrence must agree) to place the body.
    fn locate_body(&mut self, headers_end: usize) -> Result<(), ParseError> {
        let mut length: Option<u64> = None;
        for e in self
            .lines_of(HeaderName::ContentLength)
            .iter()
            .filter(|e| e.name == HeaderName::ContentLength)
        {
            let n = scan::parse_decimal(e.value.slice(self.buf))
                .map_err(|_| ParseError::BadContentLength)?;
            if length.is_some_and(|l| l != n) {
                return Err(ParseError::BadContentLength);
            }
            length = Some(n);
        }
        let available = self.buf.len().saturating_sub(headers_end);
        let body_len = match length {
            None => available,
            Some(n) => {
                // A peer length is only compared, never used to size anything.
                let n = usize::try_from(n).map_err(|_| ParseError::BodyTooShort)?;
                if n > available {
                    return Err(ParseError::BodyTooShort);
                }
                self.content_length = Some(n);
                n
            }
        };
        self.body = Span::new(headers_end, headers_end + body_len);
        Ok(())
    }

    fn entries(&self) -> &[HeaderEntry] {
        self.headers.get(..self.header_count).unwrap_or(&[])
    }

    /// The table lines that may be called `name`: for a known name, from its first line
    /// on (just that line when it is the only one; none when absent); every line for
    /// `Other`. Filter on the name: a repeated name's range holds other names too.
    fn lines_of(&self, name: HeaderName) -> &[HeaderEntry] {
        if name == HeaderName::Other {
            return self.entries();
        }
        let first = usize::from(self.first.get(name as usize).copied().unwrap_or(0));
        let from = first.saturating_sub(1);
        let lines = match (first, self.repeated & bit(name) != 0) {
            (0, false) => None,
            (_, true) => self.entries().get(from..),
            (_, false) => self.entries().get(from..first),
        };
        lines.unwrap_or(&[])
    }

    fn entry(&self, name: HeaderName) -> Option<&HeaderEntry> {
        self.lines_of(name).iter().find(|e| e.name == name)
    }

    /// The whole buffer the message was parsed from.
    pub fn raw(&self) -> &'a [u8] {
        self.buf
    }

    /// The start line without its line end.
    pub fn first_line(&self) -> &'a [u8] {
        self.first_line.slice(self.buf)
    }

    /// True for a request, false for a response.
    pub fn is_request(&self) -> bool {
        matches!(self.start, StartLine::Request { .. })
    }

    /// The method of a request (`INVITE`); `None` for a response.
    pub fn method(&self) -> Option<&'a [u8]> {
        match self.start {
            StartLine::Request { method, .. } => Some(method.slice(self.buf)),
            StartLine::Response { .. } => None,
        }
    }

    /// The Request-URI of a request (empty when [`is_lenient`](Self::is_lenient) because
    /// the peer sent none); `None` for a response.
    pub fn request_uri(&self) -> Option<&'a [u8]> {
        match self.start {
            StartLine::Request { uri, .. } => Some(uri.slice(self.buf)),
            StartLine::Response { .. } => None,
        }
    }

    /// True when the message parsed only because we accept what SIPp accepts beyond
    /// RFC 3261: a request line with an empty Request-URI (`ACK  SIP/2.0`, which SIPp
    /// 3.6.1 renders when `[next_url]` is empty after a 4xx) or with more than one space
    /// between its parts. Call-ID and CSeq are still required, so such a message can
    /// still be matched to its call; the endpoint counts it (`lenient_parses`).
    pub fn is_lenient(&self) -> bool {
        matches!(self.start, StartLine::Request { lenient: true, .. })
    }

    /// The status code of a response (100..=699); `None` for a request.
    pub fn status(&self) -> Option<u16> {
        match self.start {
            StartLine::Response { status, .. } => Some(status),
            StartLine::Request { .. } => None,
        }
    }

    /// The reason phrase of a response (may be empty); `None` for a request.
    pub fn reason(&self) -> Option<&'a [u8]> {
        match self.start {
            StartLine::Response { reason, .. } => Some(reason.slice(self.buf)),
            StartLine::Request { .. } => None,
        }
    }

    /// The first value of a known header, trimmed. `Other` finds nothing: use
    /// [`header_by_name`](Self::header_by_name) for names outside the enum.
    pub fn header(&self, name: HeaderName) -> Option<&'a [u8]> {
        if name == HeaderName::Other {
            return None;
        }
        self.entry(name).map(|e| e.value.slice(self.buf))
    }

    /// The first value of the header called `name`, case-insensitively; compact and long
    /// forms find each other (`"v"` finds `Via:`, `"Via"` finds `v:`).
    pub fn header_by_name(&self, name: &[u8]) -> Option<&'a [u8]> {
        self.header_values(name).next()
    }

    /// Every header in message order: resolved name, name as written, trimmed value.
    pub fn headers(&self) -> impl Iterator<Item = (HeaderName, &'a [u8], &'a [u8])> {
        let buf = self.buf;
        self.entries()
            .iter()
            .map(move |e| (e.name, e.name_span.slice(buf), e.value.slice(buf)))
    }

    /// Every value of the header called `name` (as for `header_by_name`), in message order
    /// and as written: comma-joined values are not split (see
    /// [`split_comma_values`](super::split_comma_values)).
    pub fn header_values(&self, name: &[u8]) -> impl Iterator<Item = &'a [u8]> {
        self.header_values_of(HeaderName::from_bytes(name), name)
    }

    /// [`header_values`](Self::header_values) for a caller that resolved `name` already:
    /// `kind` must be `HeaderName::from_bytes(name)` (a compiled `[last_*]` keyword keeps
    /// it, so a send does not look the name up again).
    pub fn header_values_of(
        &self,
        kind: HeaderName,
        name: &[u8],
    ) -> impl Iterator<Item = &'a [u8]> {
        let buf = self.buf;
        // By kind for known names (compact and long forms match each other), by text for
        // `Other`; this runs for every `[last_*]` of every send.
        self.lines_of(kind)
            .iter()
            .filter(move |e| {
                e.name == kind
                    && (kind != HeaderName::Other
                        || e.name_span.slice(buf).eq_ignore_ascii_case(name))
            })
            .map(move |e| e.value.slice(buf))
    }

    /// Number of header lines (continuations not counted).
    pub fn header_count(&self) -> usize {
        self.header_count
    }

    /// The Call-ID value (present and non-empty: `parse` checks it).
    pub fn call_id(&self) -> &'a [u8] {
        self.call_id.slice(self.buf)
    }

    /// The CSeq number and method (present and well-formed: `parse` checks it).
    pub fn cseq(&self) -> CSeq<'a> {
        CSeq {
            number: self.cseq_number,
            method: self.cseq_method.slice(self.buf),
        }
    }

    /// The Content-Length value, if the message had one.
    pub fn content_length(&self) -> Option<usize> {
        self.content_length
    }

    /// The body: Content-Length bytes after the header section, or all remaining bytes
    /// when there is no Content-Length.
    pub fn body(&self) -> &'a [u8] {
        self.body.slice(self.buf)
    }

    /// Offset in `raw()` of the first body byte (just after the empty line).
    pub fn headers_end(&self) -> usize {
        self.body.start as usize
    }

    /// Checks the internal ranges (for the fuzz properties): each lies inside the buffer,
    /// start line before headers, headers in order before the body.
    #[cfg(any(test, feature = "fuzz"))]
    pub(super) fn check_ranges(&self) -> Result<(), &'static str> {
        let len = self.buf.len();
        let inside = |s: Span| s.start <= s.end && (s.end as usize) <= len;
        let spans = [self.first_line, self.call_id, self.cseq_method, self.body];
        if !spans.iter().all(|&s| inside(s)) {
            return Err("fixed range outside the buffer");
        }
        let mut last_end = self.first_line.end;
        for e in self.entries() {
            if !inside(e.name_span) || !inside(e.value) {
                return Err("header range outside the buffer");
            }
            if e.name_span.start < last_end || e.value.start < e.name_span.end {
                return Err("header ranges out of order");
            }
            last_end = e.value.end.max(e.name_span.end);
        }
        if last_end > self.body.start {
            return Err("header range overlaps the body");
        }
        for name in HeaderName::ALL {
            let all = self.entries().iter().filter(|e| e.name == name).count();
            let indexed = self
                .lines_of(name)
                .iter()
                .filter(|e| e.name == name)
                .count();
            let first = self.entries().iter().find(|e| e.name == name);
            let same_first = match (self.entry(name), first) {
                (Some(a), Some(b)) => std::ptr::eq(a, b),
                (a, b) => a.is_none() && b.is_none(),
            };
            if all != indexed || !same_first {
                return Err("per-name index misses a line");
            }
        }
        match self.start {
            StartLine::Request { method, uri, .. } if !(inside(method) && inside(uri)) => {
                Err("request line range outside the buffer")
            }
            StartLine::Response { reason, .. } if !inside(reason) => {
                Err("reason range outside the buffer")
            }
            _ => Ok(()),
        }
    }
}

/// Parses the start line (RFC 3261 §7.1, §7.2).
fn parse_start_line(buf: &[u8], line: Line) -> Result<StartLine, ParseError> {
    let text = buf
        .get(line.start..line.end)
        .ok_or(ParseError::BadStartLine)?;
    let at = |i: usize| line.start + i;
    if text.len() >= 4
        && text
            .get(..4)
            .is_some_and(|p| p.eq_ignore_ascii_case(b"SIP/"))
    {
        let sp = memchr(b' ', text).ok_or(ParseError::BadStartLine)?;
        if !text.get(..sp).is_some_and(is_version) {
            return Err(ParseError::BadVersion);
        }
        let rest = text.get(sp + 1..).unwrap_or(&[]);
        let code = rest.get(..3).ok_or(ParseError::BadStatusCode)?;
        let status = scan::parse_decimal(code).map_err(|_| ParseError::BadStatusCode)?;
        let status = u16::try_from(status).map_err(|_| ParseError::BadStatusCode)?;
        if !(100..=699).contains(&status) {
            return Err(ParseError::BadStatusCode);
        }
        let reason = match rest.get(3) {
            None => Span::new(line.end, line.end),
            Some(b' ') => Span::new(at(sp + 5), line.end),
            Some(_) => return Err(ParseError::BadStatusCode),
        };
        return Ok(StartLine::Response { status, reason });
    }
    // `Method SP Request-URI SP SIP/2.0`. Like SIPp, runs of spaces are accepted between
    // the parts and the Request-URI may be empty (`ACK  SIP/2.0`); either marks the
    // message lenient. A space or tab inside the URI is still refused.
    let sp1 = memchr(b' ', text).ok_or(ParseError::BadStartLine)?;
    let sp2 = memrchr(b' ', text).ok_or(ParseError::BadStartLine)?;
    if sp1 == sp2 || !text.get(..sp1).is_some_and(scan::is_token) {
        return Err(ParseError::BadStartLine);
    }
    let between = text.get(sp1 + 1..sp2).unwrap_or(&[]);
    let lead = between.iter().take_while(|&&b| b == b' ').count();
    let trail = between
        .iter()
        .rev()
        .take_while(|&&b| b == b' ')
        .count()
        .min(between.len() - lead);
    let (uri_start, uri_end) = (sp1 + 1 + lead, sp2 - trail);
    let uri = text.get(uri_start..uri_end).unwrap_or(&[]);
    if memchr2(b' ', b'\t', uri).is_some() {
        return Err(ParseError::BadStartLine);
    }
    if !text.get(sp2 + 1..).is_some_and(is_version) {
        return Err(ParseError::BadVersion);
    }
    Ok(StartLine::Request {
        method: Span::new(line.start, at(sp1)),
        uri: Span::new(at(uri_start), at(uri_end)),
        lenient: uri.is_empty() || lead > 0 || trail > 0,
    })
}

/// `SIP/2.0`, case-insensitively (RFC 3261 §7.1 makes the version string case-insensitive).
fn is_version(v: &[u8]) -> bool {
    super::header::eq_lowercase(b"sip/2.0", v)
}

/// One `name: value` line (not a continuation).
fn parse_header_line(buf: &[u8], line: Line) -> Result<HeaderEntry, ParseError> {
    let text = buf.get(line.start..line.end).ok_or(ParseError::BadHeader)?;
    let (name_len, colon, name) = match known_name(text) {
        Some(known) => known,
        None => {
            let (name_len, colon) = scan::split_header_line(text).ok_or(ParseError::BadHeader)?;
            // The token before the colon resolved to no known name (`known_name`).
            (name_len, colon, HeaderName::Other)
        }
    };
    let (value_start, value_end) = scan::trim_range(buf, line.start + colon + 1, line.end);
    Ok(HeaderEntry {
        name,
        name_span: Span::new(line.start, line.start + name_len),
        value: Span::new(value_start, value_end),
    })
}

/// A header line whose name the enum knows: (name length, colon offset, name). The text
/// before the first colon, less trailing `WSP`, equals a known name ignoring case, so it
/// is a token and the line is what `split_header_line` accepts, with the same lengths:
/// the byte-by-byte token scan is skipped for the common names. `None` for anything else
/// (unknown or invalid names, no colon): the caller runs the full check.
fn known_name(text: &[u8]) -> Option<(usize, usize, HeaderName)> {
    let colon = scan::find_colon(text)?;
    let mut name_len = colon;
    while name_len > 0 && text.get(name_len - 1).copied().is_some_and(scan::is_wsp) {
        name_len -= 1;
    }
    let name = HeaderName::from_bytes(text.get(..name_len)?);
    (name != HeaderName::Other).then_some((name_len, colon, name))
}

/// `CSeq: 1*DIGIT LWS Method` → (number, method range).
fn parse_cseq(buf: &[u8], value: Span) -> Option<(u32, Span)> {
    let text = value.slice(buf);
    let digits = text.iter().position(|&b| !b.is_ascii_digit())?;
    let number = match scan::parse_decimal(text.get(..digits)?) {
        Ok(n) => u32::try_from(n).ok()?,
        Err(DecimalError::NotDigits | DecimalError::Overflow) => return None,
    };
    let gap = text.get(digits..)?;
    let ws = gap.iter().position(|&b| !scan::is_lws(b))?;
    if ws == 0 {
        return None;
    }
    let method_start = digits + ws;
    let method = text.get(method_start..)?;
    if !scan::is_token(method) {
        return None;
    }
    let base = value.start as usize;
    Some((number, Span::new(base + method_start, base + text.len())))
}
