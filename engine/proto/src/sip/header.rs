//! Header names: the `HeaderName` enum, resolved once at parse time, with the compact
//! forms of RFC 3261 §7.3.3 and RFC 3515/3892/4028/6665.
//!
//! Owns: the name table (long and compact spellings, canonical text). Must not: allocate;
//! lookups are a length switch and one case-insensitive compare per candidate.

/// A header name known to the engine; any other name is `Other` and keeps its text as a
/// range in the message.
///
/// `Other` comes first: an empty header table is then all zero bytes, which the compiler
/// fills with one memset instead of a loop (the parser starts every message that way).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HeaderName {
    /// Any other name; look it up with `SipMessage::header_by_name`.
    Other,
    /// `Via` (compact `v`).
    Via,
    /// `From` (compact `f`).
    From,
    /// `To` (compact `t`).
    To,
    /// `Call-ID` (compact `i`).
    CallId,
    /// `CSeq`.
    CSeq,
    /// `Content-Length` (compact `l`).
    ContentLength,
    /// `Content-Type` (compact `c`).
    ContentType,
    /// `Contact` (compact `m`).
    Contact,
    /// `Record-Route`.
    RecordRoute,
    /// `Route`.
    Route,
    /// `Max-Forwards`.
    MaxForwards,
    /// `Expires`.
    Expires,
    /// `Event` (compact `o`, RFC 6665).
    Event,
    /// `Subject` (compact `s`).
    Subject,
    /// `Supported` (compact `k`).
    Supported,
    /// `Require`.
    Require,
    /// `Allow`.
    Allow,
    /// `Authorization`.
    Authorization,
    /// `Proxy-Authorization`.
    ProxyAuthorization,
    /// `WWW-Authenticate`.
    WwwAuthenticate,
    /// `Proxy-Authenticate`.
    ProxyAuthenticate,
    /// `User-Agent`.
    UserAgent,
    /// `Refer-To` (compact `r`, RFC 3515).
    ReferTo,
    /// `Referred-By` (compact `b`, RFC 3892).
    ReferredBy,
    /// `Session-Expires` (compact `x`, RFC 4028).
    SessionExpires,
    /// `Content-Encoding` (compact `e`).
    ContentEncoding,
    /// `Allow-Events` (compact `u`, RFC 6665).
    AllowEvents,
}

use HeaderName as H;

/// The one long name that can match a name of this length, first and last byte
/// (lowercased): the triple is unique among the names we know, so a lookup is one switch
/// and one case-insensitive compare.
fn candidate(len: usize, first: u8, last: u8) -> Option<(&'static [u8], HeaderName)> {
    Some(match (len, first, last) {
        (2, b't', b'o') => (b"to", H::To),
        (3, b'v', b'a') => (b"via", H::Via),
        (4, b'f', b'm') => (b"from", H::From),
        (4, b'c', b'q') => (b"cseq", H::CSeq),
        (5, b'r', b'e') => (b"route", H::Route),
        (5, b'e', b't') => (b"event", H::Event),
        (5, b'a', b'w') => (b"allow", H::Allow),
        (7, b'c', b'd') => (b"call-id", H::CallId),
        (7, b'c', b't') => (b"contact", H::Contact),
        (7, b'e', b's') => (b"expires", H::Expires),
        (7, b's', b't') => (b"subject", H::Subject),
        (7, b'r', b'e') => (b"require", H::Require),
        (8, b'r', b'o') => (b"refer-to", H::ReferTo),
        (9, b's', b'd') => (b"supported", H::Supported),
        (10, b'u', b't') => (b"user-agent", H::UserAgent),
        (11, b'r', b'y') => (b"referred-by", H::ReferredBy),
        (12, b'c', b'e') => (b"content-type", H::ContentType),
        (12, b'r', b'e') => (b"record-route", H::RecordRoute),
        (12, b'm', b's') => (b"max-forwards", H::MaxForwards),
        (12, b'a', b's') => (b"allow-events", H::AllowEvents),
        (13, b'a', b'n') => (b"authorization", H::Authorization),
        (14, b'c', b'h') => (b"content-length", H::ContentLength),
        (15, b's', b's') => (b"session-expires", H::SessionExpires),
        (16, b'w', b'e') => (b"www-authenticate", H::WwwAuthenticate),
        (16, b'c', b'g') => (b"content-encoding", H::ContentEncoding),
        (18, b'p', b'e') => (b"proxy-authenticate", H::ProxyAuthenticate),
        (19, b'p', b'n') => (b"proxy-authorization", H::ProxyAuthorization),
        _ => return None,
    })
}

/// `name` equals `lower` (an all-lowercase ASCII pattern) ignoring ASCII case, eight bytes
/// at a time (this runs once per header line on the hot path). Words may overlap; no
/// padding, so no byte-by-byte copies.
#[inline]
pub(super) fn eq_lowercase(lower: &[u8], name: &[u8]) -> bool {
    let n = name.len();
    if n != lower.len() {
        return false;
    }
    let same = |i: usize| match (word8(name, i), word8(lower, i)) {
        (Some(a), Some(b)) => to_lower8(a) == b,
        _ => false,
    };
    match n {
        0..2 => name.eq_ignore_ascii_case(lower),
        2..4 => match (word2x2(name), word2x2(lower)) {
            (Some(a), Some(b)) => to_lower8(a) == b,
            _ => false,
        },
        4..8 => match (word4x2(name), word4x2(lower)) {
            (Some(a), Some(b)) => to_lower8(a) == b,
            _ => false,
        },
        _ => (0..n - 8).step_by(8).all(same) && same(n - 8),
    }
}

/// Eight bytes at `at`, little-endian.
fn word8(s: &[u8], at: usize) -> Option<u64> {
    s.get(at..)?
        .first_chunk::<8>()
        .map(|c| u64::from_le_bytes(*c))
}

/// For 4..8 bytes: the first four and the last four (overlapping) in one word.
fn word4x2(s: &[u8]) -> Option<u64> {
    let head = s.first_chunk::<4>()?;
    let tail = s.last_chunk::<4>()?;
    Some(u64::from(u32::from_le_bytes(*head)) | u64::from(u32::from_le_bytes(*tail)) << 32)
}

/// For 2..4 bytes: the first two and the last two (overlapping) in one word.
fn word2x2(s: &[u8]) -> Option<u64> {
    let head = s.first_chunk::<2>()?;
    let tail = s.last_chunk::<2>()?;
    Some(u64::from(u16::from_le_bytes(*head)) | u64::from(u16::from_le_bytes(*tail)) << 16)
}

/// ASCII-lowercases eight packed bytes (SWAR): a byte in `A..=Z` gets bit 5 set; every
/// other byte, non-ASCII included, is unchanged. No carry crosses bytes: each lane adds at
/// most 0x3f to a value of at most 0x7f.
fn to_lower8(x: u64) -> u64 {
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let h = x & LOW7;
    let at_least_a = h + 0x3f3f_3f3f_3f3f_3f3f; // lane >= 0x41 sets bit 7
    let beyond_z = h + 0x2525_2525_2525_2525; // lane >= 0x5b sets bit 7
    let upper = at_least_a & !beyond_z & !x & HIGH;
    x | (upper >> 2)
}

impl HeaderName {
    /// Resolves a header name as written, case-insensitively; compact forms map to their
    /// long names (`v` → `Via`, `i` → `Call-ID`, ...). Unknown names give `Other`.
    pub fn from_bytes(name: &[u8]) -> HeaderName {
        match name {
            [] => H::Other,
            [c] => Self::from_compact(*c),
            [first, .., last] => candidate(
                name.len(),
                first.to_ascii_lowercase(),
                last.to_ascii_lowercase(),
            )
            .filter(|(lower, _)| eq_lowercase(lower, name))
            .map_or(H::Other, |(_, kind)| kind),
        }
    }

    /// The long name for a one-letter compact form (RFC 3261 §7.3.3 and extensions).
    fn from_compact(c: u8) -> HeaderName {
        match c.to_ascii_lowercase() {
            b'i' => H::CallId,
            b'm' => H::Contact,
            b'e' => H::ContentEncoding,
            b'l' => H::ContentLength,
            b'c' => H::ContentType,
            b'f' => H::From,
            b's' => H::Subject,
            b'k' => H::Supported,
            b't' => H::To,
            b'v' => H::Via,
            b'o' => H::Event,
            b'r' => H::ReferTo,
            b'b' => H::ReferredBy,
            b'x' => H::SessionExpires,
            b'u' => H::AllowEvents,
            _ => H::Other,
        }
    }

    /// The canonical spelling (`"Via"`, `"Call-ID"`, `"WWW-Authenticate"`); `None` for
    /// `Other`.
    pub fn canonical(self) -> Option<&'static str> {
        Some(match self {
            H::Via => "Via",
            H::From => "From",
            H::To => "To",
            H::CallId => "Call-ID",
            H::CSeq => "CSeq",
            H::ContentLength => "Content-Length",
            H::ContentType => "Content-Type",
            H::Contact => "Contact",
            H::RecordRoute => "Record-Route",
            H::Route => "Route",
            H::MaxForwards => "Max-Forwards",
            H::Expires => "Expires",
            H::Event => "Event",
            H::Subject => "Subject",
            H::Supported => "Supported",
            H::Require => "Require",
            H::Allow => "Allow",
            H::Authorization => "Authorization",
            H::ProxyAuthorization => "Proxy-Authorization",
            H::WwwAuthenticate => "WWW-Authenticate",
            H::ProxyAuthenticate => "Proxy-Authenticate",
            H::UserAgent => "User-Agent",
            H::ReferTo => "Refer-To",
            H::ReferredBy => "Referred-By",
            H::SessionExpires => "Session-Expires",
            H::ContentEncoding => "Content-Encoding",
            H::AllowEvents => "Allow-Events",
            H::Other => return None,
        })
    }

    /// The one-letter compact form, if the name has one (`Via` → `'v'`).
    pub fn compact(self) -> Option<char> {
        Some(match self {
            H::CallId => 'i',
            H::Contact => 'm',
            H::ContentEncoding => 'e',
            H::ContentLength => 'l',
            H::ContentType => 'c',
            H::From => 'f',
            H::Subject => 's',
            H::Supported => 'k',
            H::To => 't',
            H::Via => 'v',
            H::Event => 'o',
            H::ReferTo => 'r',
            H::ReferredBy => 'b',
            H::SessionExpires => 'x',
            H::AllowEvents => 'u',
            _ => return None,
        })
    }

    /// Every named variant (not `Other`), for tables and tests.
    pub const ALL: [HeaderName; 27] = [
        H::Via,
        H::From,
        H::To,
        H::CallId,
        H::CSeq,
        H::ContentLength,
        H::ContentType,
        H::Contact,
        H::RecordRoute,
        H::Route,
        H::MaxForwards,
        H::Expires,
        H::Event,
        H::Subject,
        H::Supported,
        H::Require,
        H::Allow,
        H::Authorization,
        H::ProxyAuthorization,
        H::WwwAuthenticate,
        H::ProxyAuthenticate,
        H::UserAgent,
        H::ReferTo,
        H::ReferredBy,
        H::SessionExpires,
        H::ContentEncoding,
        H::AllowEvents,
    ];
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::{eq_lowercase, to_lower8};

    #[test]
    fn swar_lowercase_matches_ascii_lowercase_for_every_byte_in_every_lane() {
        for b in 0..=255u8 {
            for lane in 0..8 {
                let mut word = [b'x'; 8];
                word[lane] = b;
                let mut want = word;
                want.iter_mut().for_each(|c| *c = c.to_ascii_lowercase());
                let got = to_lower8(u64::from_le_bytes(word)).to_le_bytes();
                assert_eq!(got, want, "byte {b:#x} in lane {lane}");
            }
        }
    }

    #[test]
    fn eq_lowercase_agrees_with_eq_ignore_ascii_case() {
        assert!(eq_lowercase(b"proxy-authorization", b"Proxy-Authorization"));
        assert!(eq_lowercase(b"call-id", b"CALL-ID"));
        for pattern in [
            &b"m"[..],
            b"to",
            b"via",
            b"cseq",
            b"route",
            b"call-id",
            b"refer-to",
            b"supported",
            b"content-length",
            b"www-authenticate",
            b"proxy-authorization",
            b"sip/2.0",
        ] {
            for i in 0..pattern.len() {
                for b in 0..=255u8 {
                    let mut name = pattern.to_vec();
                    name[i] = b;
                    assert_eq!(
                        eq_lowercase(pattern, &name),
                        pattern.eq_ignore_ascii_case(&name),
                        "byte {b:#x} at {i} of {pattern:?}"
                    );
                }
            }
            assert!(!eq_lowercase(pattern, &pattern[1..]));
        }
        assert!(eq_lowercase(b"", b""));
    }
}
