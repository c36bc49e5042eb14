//! Fuzz property bodies for the SIP parser and the stream framer.
//!
//! Owns: the properties the fuzz targets in `engine/fuzz/` assert, kept here so that a
//! normal `#[test]` replays the checked-in corpus on every CI run (str0m keeps its fuzz
//! bodies in the library the same way). Must not: be used outside tests and fuzzing; it
//! allocates freely and panics when a property breaks, which is the point.
//! Compiled for `cfg(test)` and with the `fuzz` feature.
#![allow(clippy::indexing_slicing, clippy::unwrap_used)]

use super::{
    FramingError, HeaderName, SipMessage, frame_len, keepalive_len, param, split_comma_values,
    uri_of,
};

/// Limits tried against every input in [`sip_parse`].
const FRAME_LIMITS: [usize; 4] = [0, 1, 64, 65_536];

/// Property of target `sip_parse`: parsing any bytes never panics, and a message that
/// parses has every range inside the buffer, a body of exactly Content-Length bytes when
/// present, and gives the same start line, headers and body when re-parsed from `raw()`
/// and when re-serialised from its parts.
pub fn sip_parse(data: &[u8]) {
    for max in FRAME_LIMITS {
        if let Ok(Some(n)) = frame_len(data, max) {
            assert!(
                n <= data.len() && n <= max,
                "frame_len {n} beyond buffer or max"
            );
        }
    }
    assert!(keepalive_len(data) <= data.len());
    let Ok(msg) = SipMessage::parse(data) else {
        return;
    };
    check_message(&msg, data);

    let again = SipMessage::parse(msg.raw()).expect("raw() re-parses");
    assert_same(&msg, &again);

    let rebuilt = reserialize(&msg);
    let rebuilt_msg = SipMessage::parse(&rebuilt).expect("re-serialised message parses");
    assert_same(&msg, &rebuilt_msg);
}

/// Every property of one parsed message against the buffer it came from.
fn check_message(msg: &SipMessage<'_>, data: &[u8]) {
    if let Err(why) = msg.check_ranges() {
        panic!("range invariant broken: {why}");
    }
    assert!(std::ptr::eq(msg.raw(), data));
    let slices = [
        msg.first_line(),
        msg.call_id(),
        msg.cseq().method,
        msg.body(),
        msg.method().unwrap_or(data),
        msg.request_uri().unwrap_or(data),
        msg.reason().unwrap_or(data),
    ];
    for s in slices {
        assert!(within(data, s), "accessor slice outside the buffer");
    }
    assert_eq!(msg.is_request(), msg.method().is_some());
    assert_eq!(msg.is_request(), msg.request_uri().is_some());
    assert!(!msg.is_lenient() || msg.is_request());
    assert_eq!(msg.is_request(), msg.status().is_none());
    assert!(msg.status().is_none_or(|s| (100..=699).contains(&s)));
    assert!(!msg.call_id().is_empty());
    assert!(!msg.cseq().method.is_empty());
    assert!(msg.header_count() <= super::MAX_HEADERS);

    let body_start = msg.headers_end();
    assert!(body_start <= data.len());
    assert_eq!(
        msg.body().as_ptr() as usize,
        data.as_ptr() as usize + body_start,
        "body does not start at headers_end"
    );
    match msg.content_length() {
        Some(n) => assert_eq!(
            msg.body().len(),
            n,
            "body length differs from Content-Length"
        ),
        None => assert_eq!(body_start + msg.body().len(), data.len()),
    }

    for (kind, name, value) in msg.headers() {
        assert!(within(data, name) && within(data, value));
        assert!(!name.is_empty());
        assert_eq!(HeaderName::from_bytes(name), kind);
        assert!(msg.header_by_name(name).is_some());
        assert!(msg.header_values(name).any(|v| std::ptr::eq(v, value)));
        if kind != HeaderName::Other {
            let first = msg.headers().find(|h| h.0 == kind).map(|h| h.2);
            assert_eq!(msg.header(kind), first);
        }
        for piece in split_comma_values(value) {
            assert!(within(value, piece) && !piece.is_empty());
            assert!(within(value, uri_of(piece)));
        }
        for p in [&b"tag"[..], b"branch", b"expires", b"lr"] {
            if let Some(v) = param(value, p) {
                assert!(within(value, v), "param value outside the header value");
            }
        }
        assert!(within(value, uri_of(value)));
    }
}

/// Start line, headers and body compare equal.
fn assert_same(a: &SipMessage<'_>, b: &SipMessage<'_>) {
    assert_eq!(a.first_line(), b.first_line());
    assert_eq!(a.method(), b.method());
    assert_eq!(a.request_uri(), b.request_uri());
    assert_eq!(a.is_lenient(), b.is_lenient());
    assert_eq!(a.status(), b.status());
    assert_eq!(a.reason(), b.reason());
    assert!(a.headers().eq(b.headers()), "headers differ after re-parse");
    assert_eq!(a.call_id(), b.call_id());
    assert_eq!(a.cseq(), b.cseq());
    assert_eq!(a.content_length(), b.content_length());
    assert_eq!(a.body(), b.body());
}

/// `first line CRLF (name ": " value CRLF)* CRLF body`.
fn reserialize(msg: &SipMessage<'_>) -> Vec<u8> {
    let mut out = Vec::with_capacity(msg.raw().len() + 2 * msg.header_count() + 4);
    out.extend_from_slice(msg.first_line());
    out.extend_from_slice(b"\r\n");
    for (_, name, value) in msg.headers() {
        out.extend_from_slice(name);
        out.extend_from_slice(b": ");
        out.extend_from_slice(value);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(msg.body());
    out
}

/// True if `inner` lies inside `outer` (an empty slice may sit at its end).
fn within(outer: &[u8], inner: &[u8]) -> bool {
    let o = outer.as_ptr() as usize;
    let i = inner.as_ptr() as usize;
    i >= o && i + inner.len() <= o + outer.len()
}

/// What a stream reader saw: each frame as (stream offset, length), then how it ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamOutcome {
    /// Frames in order, as (offset in the stream, length).
    pub frames: Vec<(usize, usize)>,
    /// `Ok(leftover bytes)` when the input ran out, or the framing error that stopped it.
    pub end: Result<usize, FramingError>,
}

/// Feeds `stream` to a reader in chunks cut at `cuts` (increasing offsets), the way the
/// shard does: append, drop keepalives, take every whole frame, wait for more.
pub fn frame_stream(stream: &[u8], cuts: &[usize], max: usize) -> StreamOutcome {
    let mut buf: Vec<u8> = Vec::new();
    let mut consumed = 0;
    let mut frames = Vec::new();
    let mut from = 0;
    let ends = cuts.iter().copied().chain(std::iter::once(stream.len()));
    for to in ends {
        let to = to.clamp(from, stream.len());
        buf.extend_from_slice(&stream[from..to]);
        from = to;
        loop {
            let k = keepalive_len(&buf);
            buf.drain(..k);
            consumed += k;
            match frame_len(&buf, max) {
                Ok(Some(n)) => {
                    assert!(n > 0 && n <= buf.len() && n <= max);
                    frames.push((consumed, n));
                    buf.drain(..n);
                    consumed += n;
                }
                Ok(None) => break,
                Err(e) => {
                    return StreamOutcome {
                        frames,
                        end: Err(e),
                    };
                }
            }
        }
    }
    StreamOutcome {
        frames,
        end: Ok(buf.len()),
    }
}

/// Property of target `stream_frame`: the frames (and the way the stream ends) are the same
/// whether the bytes arrive whole, byte by byte, split at any one position or in chunks of
/// a size picked by the input; and a frame that parses has exactly the frame's length.
/// Byte 0 picks the size limit, byte 1 the chunk size; the rest is the stream.
pub fn stream_frame(data: &[u8]) {
    let (Some(&limit), Some(&chunk)) = (data.first(), data.get(1)) else {
        return;
    };
    let max = 64 + usize::from(limit) * 16;
    let stream = &data[2..];
    let whole = frame_stream(stream, &[], max);

    let bytewise: Vec<usize> = (1..stream.len()).collect();
    assert_eq!(
        frame_stream(stream, &bytewise, max),
        whole,
        "byte-by-byte differs"
    );

    let step = usize::from(chunk % 31) + 2;
    let chunked: Vec<usize> = (1..stream.len()).filter(|i| i % step == 0).collect();
    assert_eq!(
        frame_stream(stream, &chunked, max),
        whole,
        "chunks of {step} differ"
    );

    // Every single split point (bounded so one input stays fast).
    for cut in 1..stream.len().min(2048) {
        assert_eq!(
            frame_stream(stream, &[cut], max),
            whole,
            "split at {cut} differs"
        );
    }

    for &(at, n) in &whole.frames {
        let frame = &stream[at..at + n];
        if let Ok(msg) = SipMessage::parse(frame) {
            assert_eq!(
                msg.headers_end() + msg.content_length().expect("framed => Content-Length"),
                n,
                "parse and frame_len disagree on the message length"
            );
        }
    }
}
