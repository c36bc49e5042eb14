//! A request head (RFC 9112 §2–§3, §6–§9) from the bytes read so far, with httparse
//! doing the tokenising, and the framing rules the master holds requests to.
//!
//! Owns: turning bytes into a [`Head`] or a typed refusal, and deciding how the message
//! is framed (its `Content-Length`, whether the connection stays open, whether the client
//! waits for `100 Continue`). Pure: no socket, no clock. Must not: read the body, or
//! know any route (`conn` reads; the api routes).
//!
//! Strict by choice: a body needs one `Content-Length` (a `Transfer-Encoding` request is
//! refused with 411 rather than decoded: no client of the console or the API needs it,
//! and one framing rule leaves no request smuggling between two); an HTTP/1.1 request
//! needs exactly one `Host`; the head must fit [`MAX_HEAD_BYTES`] and [`MAX_HEADERS`].
//! Like mini-redis' framing, "not enough bytes yet" is `Ok(None)`, never an error.

use super::error::HttpError;
use super::limits::{MAX_HEAD_BYTES, MAX_HEADERS};

/// A parsed request head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Head {
    pub(crate) method: String,
    /// The request target's path (before `?`), as sent.
    pub(crate) path: String,
    /// After `?`, as sent (empty without one).
    pub(crate) query: String,
    /// Every header, its name in lower case, in the order sent.
    pub(crate) headers: Vec<(String, String)>,
    /// `None` without a `Content-Length` (no body); `u64::MAX` for a number that does
    /// not fit (refused as too large by the caller).
    pub(crate) content_length: Option<u64>,
    /// The client waits for `100 Continue` before it sends the body.
    pub(crate) expect_continue: bool,
    /// The client allows another request on this connection (HTTP/1.1 without
    /// `Connection: close`, or HTTP/1.0 with `Connection: keep-alive`).
    pub(crate) keep_alive: bool,
}

/// The head at the start of `buf` and its length in bytes, `Ok(None)` while it is
/// incomplete, or why it is refused.
pub(crate) fn parse(buf: &[u8]) -> Result<Option<(Head, usize)>, HttpError> {
    let too_large = HttpError::HeadTooLarge {
        bytes: MAX_HEAD_BYTES,
        headers: MAX_HEADERS,
    };
    let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut slots);
    let len = match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) if n <= MAX_HEAD_BYTES => n,
        Ok(httparse::Status::Complete(_)) => return Err(too_large),
        Ok(httparse::Status::Partial) if buf.len() >= MAX_HEAD_BYTES => return Err(too_large),
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(too_large),
        Err(httparse::Error::Version) => return Err(HttpError::Version),
        Err(e) => return Err(HttpError::Malformed(malformed(e))),
    };
    let (Some(method), Some(target), Some(version)) = (req.method, req.path, req.version) else {
        return Err(HttpError::Malformed("incomplete request line"));
    };
    if !target.starts_with('/') {
        return Err(HttpError::Malformed("the request target must be a path"));
    }
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let mut head = Head {
        method: method.to_string(),
        path: path.to_string(),
        query: query.to_string(),
        headers: Vec::with_capacity(req.headers.len()),
        content_length: None,
        expect_continue: false,
        keep_alive: version == 1,
    };
    let mut hosts = 0;
    for h in req.headers.iter() {
        let name = h.name.to_ascii_lowercase();
        let Ok(value) = std::str::from_utf8(h.value) else {
            return Err(bad(&name, "not UTF-8"));
        };
        let value = value.trim_matches([' ', '\t']);
        match name.as_str() {
            "content-length" => {
                if head.content_length.is_some() {
                    return Err(bad(&name, "given more than once"));
                }
                head.content_length =
                    Some(content_length(value).ok_or_else(|| bad(&name, "not a number"))?);
            }
            "transfer-encoding" => return Err(HttpError::LengthRequired),
            "expect" if value.eq_ignore_ascii_case("100-continue") => head.expect_continue = true,
            "expect" => return Err(HttpError::Expectation),
            "host" => hosts += 1,
            "connection" => {
                for token in value.split(',').map(str::trim) {
                    if token.eq_ignore_ascii_case("close") {
                        head.keep_alive = false;
                    } else if token.eq_ignore_ascii_case("keep-alive") && version == 0 {
                        head.keep_alive = true;
                    }
                }
            }
            _ => {}
        }
        head.headers.push((name, value.to_string()));
    }
    // RFC 9112 §3.2: a 1.1 request with no Host, or with several, is a 400.
    if version == 1 && hosts != 1 {
        return Err(bad("host", "an HTTP/1.1 request needs exactly one"));
    }
    // A `Connection: close` never meets a body still on its way: nothing to wait for.
    if head.content_length == Some(0) {
        head.expect_continue = false;
    }
    Ok(Some((head, len)))
}

/// `Content-Length`: digits only (no sign, no list); a number past `u64` is `u64::MAX`.
fn content_length(value: &str) -> Option<u64> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(value.parse::<u64>().unwrap_or(u64::MAX))
}

fn bad(name: &str, problem: &'static str) -> HttpError {
    // Header names are tokens (httparse checked them); keep an echo short.
    let name: String = name.chars().take(64).collect();
    HttpError::BadHeader { name, problem }
}

fn malformed(e: httparse::Error) -> &'static str {
    match e {
        httparse::Error::HeaderName => "invalid byte in a header name",
        httparse::Error::HeaderValue => "invalid byte in a header value",
        httparse::Error::NewLine => "invalid line ending",
        httparse::Error::Token => "invalid method or request target",
        _ => "invalid request line",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GET: &[u8] = b"GET /api/v2/health?x=1&y HTTP/1.1\r\nHost: h\r\nX-A:  b \r\n\r\n";

    fn head(bytes: &[u8]) -> Head {
        parse(bytes).unwrap().unwrap().0
    }

    fn refused(bytes: &[u8]) -> u16 {
        parse(bytes).unwrap_err().status()
    }

    #[test]
    fn a_request_parses_into_path_query_and_lower_case_headers() {
        let (h, n) = parse(GET).unwrap().unwrap();
        assert_eq!(n, GET.len());
        assert_eq!(
            (h.method.as_str(), h.path.as_str()),
            ("GET", "/api/v2/health")
        );
        assert_eq!(h.query, "x=1&y");
        assert_eq!(h.headers[1], ("x-a".to_string(), "b".to_string()));
        assert_eq!(h.content_length, None);
        assert!(h.keep_alive && !h.expect_continue);
    }

    #[test]
    fn every_prefix_is_incomplete_and_what_follows_the_head_is_left() {
        for cut in 0..GET.len() {
            assert_eq!(parse(&GET[..cut]), Ok(None), "cut at {cut}");
        }
        let mut two = GET.to_vec();
        two.extend_from_slice(b"POST / HTTP/1.1\r\n");
        assert_eq!(
            parse(&two).unwrap().unwrap().1,
            GET.len(),
            "pipelined bytes stay"
        );
    }

    #[test]
    fn framing_headers_decide_the_body_and_the_connection() {
        let h = head(b"POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 42\r\nExpect: 100-Continue\r\nConnection: Close\r\n\r\n");
        assert_eq!(h.content_length, Some(42));
        assert!(h.expect_continue && !h.keep_alive);
        let h10 = head(b"GET / HTTP/1.0\r\n\r\n");
        assert!(
            !h10.keep_alive,
            "HTTP/1.0 closes by default and needs no Host"
        );
        assert!(head(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").keep_alive);
        let huge =
            head(b"PUT /x HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999999999999999\r\n\r\n");
        assert_eq!(
            huge.content_length,
            Some(u64::MAX),
            "refused later as too large"
        );
    }

    #[test]
    fn ambiguous_or_unsupported_framing_is_refused() {
        let h = "Host: h\r\n";
        let req = |extra: &str| format!("POST /x HTTP/1.1\r\n{h}{extra}\r\n").into_bytes();
        assert_eq!(refused(&req("Transfer-Encoding: chunked\r\n")), 411);
        assert_eq!(
            refused(&req("Content-Length: 5\r\nContent-Length: 5\r\n")),
            400
        );
        for bad in ["-1", "+5", "5, 5", "0x10", "", "1 2"] {
            assert_eq!(
                refused(&req(&format!("Content-Length: {bad}\r\n"))),
                400,
                "{bad:?}"
            );
        }
        assert_eq!(refused(&req("Expect: something\r\n")), 417);
        assert_eq!(refused(b"GET / HTTP/1.1\r\n\r\n"), 400, "no Host");
        assert_eq!(
            refused(b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"),
            400
        );
        assert_eq!(refused(b"GET / HTTP/2.0\r\nHost: a\r\n\r\n"), 505);
        assert_eq!(refused(b"GET http://x/ HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
        assert_eq!(refused(b"GET / HTTP/1.1\r\nHost: \xff\r\n\r\n"), 400);
        assert_eq!(refused(b"GET / HTTP/1.1\r\nBad Name: x\r\n\r\n"), 400);
        assert_eq!(
            refused(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"),
            400,
            "TLS"
        );
    }

    #[test]
    fn heads_over_the_caps_are_431_even_before_they_end() {
        let mut many = b"GET / HTTP/1.1\r\nHost: h\r\n".to_vec();
        for i in 0..MAX_HEADERS {
            many.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
        }
        assert_eq!(
            refused(&many),
            431,
            "one header too many, head not finished"
        );
        let mut long = b"GET / HTTP/1.1\r\nHost: h\r\nX-Long: ".to_vec();
        long.resize(MAX_HEAD_BYTES, b'a');
        assert_eq!(refused(&long), 431);
        long.truncate(MAX_HEAD_BYTES - 1);
        assert_eq!(
            parse(&long),
            Ok(None),
            "one byte under the cap is still coming"
        );
    }
}
