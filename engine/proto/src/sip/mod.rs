//! SIP message parsing (RFC 3261 §7): zero-copy, one pass, no allocation per message.
//!
//! Owns: turning received bytes into a [`SipMessage`] (start line + up to [`MAX_HEADERS`]
//! header ranges into the caller's buffer), stream framing ([`frame_len`],
//! [`keepalive_len`]) and the value helpers [`split_comma_values`], [`param`] and
//! [`uri_of`]. Must not: allocate per message or per header, copy header text, read
//! clocks or sockets, or panic on any input: every slice is taken with `.get()` and every
//! peer number with checked arithmetic. Driven by the shard, which parses each datagram
//! (or each frame cut from a stream) and routes it by Call-ID; `call` and `scenario` read
//! the result.
//!
//! ```
//! use gossipper_proto::sip::{HeaderName, SipMessage, param};
//!
//! let bytes = b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n\
//!               Call-ID: a@b\r\nCSeq: 1 INVITE\r\nl: 0\r\n\r\n";
//! let msg = SipMessage::parse(bytes)?;
//! assert_eq!(msg.status(), Some(200));
//! assert_eq!(msg.cseq().method, b"INVITE");
//! let via = msg.header(HeaderName::Via).unwrap_or_default();
//! assert_eq!(param(via, b"branch"), Some(&b"z9hG4bK1"[..]));
//! # Ok::<(), gossipper_proto::sip::ParseError>(())
//! ```
//!
//! Stream transports: drop [`keepalive_len`] bytes, then [`frame_len`] says whether a whole
//! message is buffered (`Ok(None)`: read more) and how long it is; parse exactly those
//! bytes and drain them.
#![warn(clippy::indexing_slicing, clippy::cast_possible_truncation)]

mod framing;
mod header;
mod message;
mod peek;
mod scan;
mod values;

#[cfg(any(test, feature = "fuzz"))]
pub mod fuzz;

#[cfg(test)]
mod tests;

pub use framing::{frame_len, keepalive_len};
pub use header::HeaderName;
pub use message::{CSeq, SipMessage};
pub use peek::call_id_of;
pub use values::{param, split_comma_values, uri_of};

/// Most header lines one message may carry; one more is [`ParseError::TooManyHeaders`].
pub const MAX_HEADERS: usize = 64;

/// Why bytes are not a SIP message (the "malformed" family: answer 400 when we are the UAS
/// and can, otherwise count `malformed` and drop). `Copy` with static context, so a bad
/// datagram costs no allocation. The `Display` text is not API: match on variants.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// No bytes, or only CR/LF (a keepalive).
    #[error("empty message")]
    Empty,
    /// The start line is neither `Method SP URI SP SIP/2.0` nor `SIP/2.0 SP code SP reason`.
    #[error("malformed start line")]
    BadStartLine,
    /// A response's status code is not three digits in 100..=699.
    #[error("malformed status code")]
    BadStatusCode,
    /// The SIP version is not `SIP/2.0`.
    #[error("unsupported SIP version")]
    BadVersion,
    /// More than [`MAX_HEADERS`] header lines.
    #[error("more than {MAX_HEADERS} headers")]
    TooManyHeaders,
    /// A header line without a colon or with an invalid name, or a continuation line with
    /// no header before it.
    #[error("malformed header line")]
    BadHeader,
    /// The header section is not closed by an empty line (truncated message).
    #[error("header section not terminated by an empty line")]
    Unterminated,
    /// A header needed to route the message (Call-ID or CSeq) is absent.
    #[error("missing {0} header")]
    MissingHeader(&'static str),
    /// The Call-ID header is empty.
    #[error("empty Call-ID")]
    BadCallId,
    /// The CSeq header is not `number SP method`, or the number exceeds 32 bits.
    #[error("malformed CSeq")]
    BadCSeq,
    /// Content-Length is not a decimal number, or repeated with different values.
    #[error("malformed Content-Length")]
    BadContentLength,
    /// Content-Length announces more body bytes than the datagram holds.
    #[error("body shorter than Content-Length")]
    BodyTooShort,
    /// The buffer is longer than offsets can address (4 GiB).
    #[error("message too large")]
    TooLarge,
}

/// Why a stream cannot be framed; every variant means "close the connection" (and count
/// `stream_too_large` or `malformed`). Not-enough-bytes is `Ok(None)`, not an error.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FramingError {
    /// The message is, or will be once complete, longer than the caller's `max`.
    #[error("stream message larger than the limit")]
    TooLarge,
    /// The header section has no Content-Length (mandatory on streams, RFC 3261 §18.3).
    #[error("stream message without Content-Length")]
    MissingContentLength,
    /// More than one Content-Length header.
    #[error("stream message with several Content-Length headers")]
    DuplicateContentLength,
    /// Content-Length is not a decimal number.
    #[error("malformed Content-Length")]
    BadContentLength,
    /// The buffer starts with CR or LF: the caller must drop [`keepalive_len`] bytes first.
    #[error("keepalive bytes not skipped before framing")]
    LeadingCrlf,
}
