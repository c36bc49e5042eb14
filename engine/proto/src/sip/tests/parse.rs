//! Parsing whole messages: accessors, line ends, folding, Content-Length and errors.

use super::super::{CSeq, HeaderName, ParseError, SipMessage, param, uri_of};
use super::{SDP, UAC_BYE, UAC_INVITE, UAS_200_OK, request};

fn parse(bytes: &[u8]) -> SipMessage<'_> {
    SipMessage::parse(bytes).unwrap()
}

fn err(bytes: &[u8]) -> ParseError {
    SipMessage::parse(bytes).unwrap_err()
}

#[test]
fn sipp_uac_invite_every_accessor() {
    let m = parse(UAC_INVITE);
    assert_eq!(m.raw(), UAC_INVITE);
    assert_eq!(m.first_line(), b"INVITE sip:service@127.0.0.1:5060 SIP/2.0");
    assert!(m.is_request());
    assert_eq!(m.method(), Some(&b"INVITE"[..]));
    assert_eq!(m.request_uri(), Some(&b"sip:service@127.0.0.1:5060"[..]));
    assert_eq!(m.status(), None);
    assert_eq!(m.reason(), None);
    assert_eq!(m.call_id(), b"1-4242@127.0.0.1");
    assert_eq!(
        m.cseq(),
        CSeq {
            number: 1,
            method: b"INVITE"
        }
    );
    assert_eq!(m.content_length(), Some(129));
    assert_eq!(m.body(), SDP);
    assert_eq!(m.headers_end(), UAC_INVITE.len() - SDP.len());
    assert_eq!(m.header_count(), 10);

    let via = m.header(HeaderName::Via).unwrap();
    assert_eq!(via, b"SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-4242-1-0");
    assert_eq!(param(via, b"branch"), Some(&b"z9hG4bK-4242-1-0"[..]));
    let from = m.header(HeaderName::From).unwrap();
    assert_eq!(param(from, b"tag"), Some(&b"4242SIPpTag001"[..]));
    assert_eq!(uri_of(from), b"sip:sipp@127.0.0.1:5061");
    let to = m.header(HeaderName::To).unwrap();
    assert_eq!(param(to, b"tag"), None);
    assert_eq!(uri_of(to), b"sip:service@127.0.0.1:5060");
    assert_eq!(m.header(HeaderName::CallId), Some(&b"1-4242@127.0.0.1"[..]));
    assert_eq!(m.header(HeaderName::CSeq), Some(&b"1 INVITE"[..]));
    assert_eq!(
        m.header(HeaderName::Contact),
        Some(&b"sip:sipp@127.0.0.1:5061"[..])
    );
    assert_eq!(m.header(HeaderName::MaxForwards), Some(&b"70"[..]));
    assert_eq!(
        m.header(HeaderName::Subject),
        Some(&b"Performance Test"[..])
    );
    assert_eq!(
        m.header(HeaderName::ContentType),
        Some(&b"application/sdp"[..])
    );
    // Padding after the colon is not part of the value.
    assert_eq!(m.header(HeaderName::ContentLength), Some(&b"129"[..]));
    assert_eq!(m.header(HeaderName::RecordRoute), None);
    assert_eq!(m.header(HeaderName::Other), None);

    let names: Vec<(HeaderName, &[u8])> = m.headers().map(|(k, n, _)| (k, n)).collect();
    assert_eq!(
        names,
        vec![
            (HeaderName::Via, &b"Via"[..]),
            (HeaderName::From, b"From"),
            (HeaderName::To, b"To"),
            (HeaderName::CallId, b"Call-ID"),
            (HeaderName::CSeq, b"CSeq"),
            (HeaderName::Contact, b"Contact"),
            (HeaderName::MaxForwards, b"Max-Forwards"),
            (HeaderName::Subject, b"Subject"),
            (HeaderName::ContentType, b"Content-Type"),
            (HeaderName::ContentLength, b"Content-Length"),
        ]
    );
    assert_eq!(m.header_by_name(b"call-id"), Some(&b"1-4242@127.0.0.1"[..]));
    assert_eq!(m.header_by_name(b"i"), Some(&b"1-4242@127.0.0.1"[..]));
    assert_eq!(m.header_values(b"Via").count(), 1);
}

#[test]
fn sipp_uas_200_ok_with_sdp_every_accessor() {
    let m = parse(UAS_200_OK);
    assert_eq!(m.raw(), UAS_200_OK);
    assert_eq!(m.first_line(), b"SIP/2.0 200 OK");
    assert!(!m.is_request());
    assert_eq!(m.method(), None);
    assert_eq!(m.request_uri(), None);
    assert_eq!(m.status(), Some(200));
    assert_eq!(m.reason(), Some(&b"OK"[..]));
    assert_eq!(m.call_id(), b"1-4242@127.0.0.1");
    assert_eq!(m.cseq().number, 1);
    assert_eq!(m.cseq().method, b"INVITE");
    assert_eq!(m.content_length(), Some(129));
    assert_eq!(m.body(), SDP);
    assert_eq!(&UAS_200_OK[m.headers_end()..], SDP);
    assert_eq!(m.header_count(), 8);
    let to = m.header(HeaderName::To).unwrap();
    assert_eq!(param(to, b"tag"), Some(&b"777SIPpTag011"[..]));
    let contact = m.header(HeaderName::Contact).unwrap();
    assert_eq!(uri_of(contact), b"sip:127.0.0.1:5060;transport=UDP");
    assert_eq!(param(contact, b"transport"), None, "inside <...>");
    assert_eq!(m.header_by_name(b"m"), Some(contact));
    assert_eq!(
        m.header_by_name(b"CONTENT-TYPE"),
        Some(&b"application/sdp"[..])
    );
}

#[test]
fn bye_with_zero_content_length_has_empty_body() {
    let m = parse(UAC_BYE);
    assert_eq!(m.method(), Some(&b"BYE"[..]));
    assert_eq!(m.cseq().number, 2);
    assert_eq!(m.content_length(), Some(0));
    assert_eq!(m.body(), b"");
    assert_eq!(m.headers_end(), UAC_BYE.len());
}

#[test]
fn response_without_reason_phrase_has_empty_reason() {
    for raw in [
        &b"SIP/2.0 180\r\ni: a\r\nCSeq: 1 INVITE\r\n\r\n"[..],
        b"SIP/2.0 180 \r\ni: a\r\nCSeq: 1 INVITE\r\n\r\n",
    ] {
        let m = parse(raw);
        assert_eq!(m.status(), Some(180));
        assert_eq!(m.reason(), Some(&b""[..]));
    }
    let m = parse(b"SIP/2.0 486 Busy Here\r\ni: a\r\nCSeq: 1 INVITE\r\n\r\n");
    assert_eq!(m.reason(), Some(&b"Busy Here"[..]));
}

#[test]
fn compact_names_resolve_to_long_forms() {
    let raw = b"MESSAGE sip:x@y SIP/2.0\r\n\
v: SIP/2.0/UDP h;branch=z9hG4bK1\r\nf: <sip:a@b>;tag=1\r\nt: <sip:c@d>\r\ni: cid\r\n\
CSeq: 3 MESSAGE\r\nm: <sip:a@h>\r\nc: text/plain\r\nk: timer\r\ns: hi\r\no: presence\r\n\
r: <sip:z@q>\r\nb: <sip:a@b>\r\nx: 90\r\ne: gzip\r\nu: dialog\r\nl: 5\r\n\r\nhello";
    let m = parse(raw);
    let kinds: Vec<HeaderName> = m.headers().map(|h| h.0).collect();
    use HeaderName as H;
    assert_eq!(
        kinds,
        vec![
            H::Via,
            H::From,
            H::To,
            H::CallId,
            H::CSeq,
            H::Contact,
            H::ContentType,
            H::Supported,
            H::Subject,
            H::Event,
            H::ReferTo,
            H::ReferredBy,
            H::SessionExpires,
            H::ContentEncoding,
            H::AllowEvents,
            H::ContentLength,
        ]
    );
    assert_eq!(m.call_id(), b"cid");
    assert_eq!(m.body(), b"hello");
    assert_eq!(
        m.header_by_name(b"Via"),
        Some(&b"SIP/2.0/UDP h;branch=z9hG4bK1"[..])
    );
    assert_eq!(m.header_by_name(b"Session-Expires"), Some(&b"90"[..]));
    assert_eq!(m.header_by_name(b"allow-events"), Some(&b"dialog"[..]));
    assert_eq!(m.header(HeaderName::ContentEncoding), Some(&b"gzip"[..]));
}

#[test]
fn header_by_name_finds_compact_and_long_forms_both_ways() {
    let long = request("Via: SIP/2.0/UDP a\r\n", "");
    let short = request("v: SIP/2.0/UDP a\r\n", "");
    for raw in [&long, &short] {
        let m = parse(raw);
        for q in [&b"Via"[..], b"v", b"V", b"VIA", b"via"] {
            assert_eq!(m.header_by_name(q), Some(&b"SIP/2.0/UDP a"[..]), "{q:?}");
        }
    }
}

#[test]
fn unknown_headers_are_found_by_name_case_insensitively() {
    let raw = request("X-Custom: one\r\nx-custom: two\r\nX-Other: three\r\n", "");
    let m = parse(&raw);
    assert_eq!(m.header_by_name(b"X-CUSTOM"), Some(&b"one"[..]));
    let all: Vec<&[u8]> = m.header_values(b"x-custom").collect();
    assert_eq!(all, vec![&b"one"[..], b"two"]);
    assert_eq!(m.header_by_name(b"X-Missing"), None);
    assert_eq!(
        m.header(HeaderName::Other),
        None,
        "Other is looked up by name"
    );
    // A known name never matches an unknown header of a similar spelling, and vice versa.
    assert_eq!(m.header_by_name(b"Call-ID"), Some(&b"c1"[..]));
    assert_eq!(m.header_values(b"X").count(), 0);
}

#[test]
fn repeated_and_comma_joined_headers_are_kept_as_written_in_order() {
    let raw = request(
        "Via: SIP/2.0/UDP p1;branch=z9hG4bKa, SIP/2.0/UDP p2;branch=z9hG4bKb\r\n\
         Route: <sip:r1;lr>\r\nVia: SIP/2.0/TCP p3;branch=z9hG4bKc\r\nv: SIP/2.0/UDP p4\r\n",
        "",
    );
    let m = parse(&raw);
    let vias: Vec<&[u8]> = m.header_values(b"Via").collect();
    assert_eq!(
        vias,
        vec![
            &b"SIP/2.0/UDP p1;branch=z9hG4bKa, SIP/2.0/UDP p2;branch=z9hG4bKb"[..],
            b"SIP/2.0/TCP p3;branch=z9hG4bKc",
            b"SIP/2.0/UDP p4",
        ]
    );
    assert_eq!(m.header(HeaderName::Via), Some(vias[0]));
    let split: Vec<&[u8]> = vias
        .iter()
        .flat_map(|v| super::super::split_comma_values(v))
        .collect();
    assert_eq!(split.len(), 4);
    assert_eq!(param(split[1], b"branch"), Some(&b"z9hG4bKb"[..]));
    // Order of the whole list is message order.
    let order: Vec<HeaderName> = m.headers().map(|h| h.0).collect();
    use HeaderName as H;
    assert_eq!(
        order,
        vec![H::CallId, H::CSeq, H::Via, H::Route, H::Via, H::Via]
    );
}

#[test]
fn folded_header_value_is_one_range_including_the_fold() {
    let raw = request(
        "Subject: I know you're there,\r\n   pick up the phone\r\n\t and talk to me!\r\nX-A: b\r\n",
        "",
    );
    let m = parse(&raw);
    assert_eq!(
        m.header(HeaderName::Subject),
        Some(&b"I know you're there,\r\n   pick up the phone\r\n\t and talk to me!"[..])
    );
    assert_eq!(m.header_by_name(b"X-A"), Some(&b"b"[..]));
    assert_eq!(m.header_count(), 4);
}

#[test]
fn folded_value_can_start_on_the_continuation_line() {
    let raw = request("Subject:\r\n  late value  \r\n", "");
    assert_eq!(
        parse(&raw).header(HeaderName::Subject),
        Some(&b"late value"[..])
    );
    let raw = request("Subject: x\r\n   \r\n", "");
    assert_eq!(parse(&raw).header(HeaderName::Subject), Some(&b"x"[..]));
}

#[test]
fn folded_call_id_and_cseq_are_read_through_the_fold() {
    let m = parse(b"ACK sip:a@b SIP/2.0\r\nCSeq: 5\r\n ACK\r\nCall-ID: x\r\n\r\n");
    assert_eq!(m.cseq().number, 5);
    assert_eq!(m.cseq().method, b"ACK");
}

#[test]
fn continuation_before_any_header_is_bad_header() {
    assert_eq!(
        err(b"OPTIONS sip:a SIP/2.0\r\n folded\r\n\r\n"),
        ParseError::BadHeader
    );
}

#[test]
fn bare_lf_line_ends_parse_like_crlf() {
    let crlf = UAC_INVITE;
    let lf: Vec<u8> = String::from_utf8(crlf.to_vec())
        .unwrap()
        .replace("\r\n", "\n")
        .replace("Content-Length:   129", "Content-Length:   122")
        .into_bytes();
    let a = parse(crlf);
    let b = parse(&lf);
    assert_eq!(a.first_line(), b.first_line());
    assert!(
        a.headers()
            .filter(|h| h.0 != HeaderName::ContentLength)
            .eq(b.headers().filter(|h| h.0 != HeaderName::ContentLength))
    );
    assert_eq!(b.body().len(), 122);
    assert_eq!(b.body(), &lf[lf.len() - 122..]);
}

#[test]
fn mixed_line_ends_and_leading_crlf_are_tolerated() {
    let m = parse(b"\r\n\r\nOPTIONS sip:a SIP/2.0\nCall-ID: z\r\nCSeq: 1 OPTIONS\n\r\nbody");
    assert_eq!(m.first_line(), b"OPTIONS sip:a SIP/2.0");
    assert_eq!(m.call_id(), b"z");
    assert_eq!(m.body(), b"body");
    assert_eq!(m.content_length(), None);
}

#[test]
fn empty_or_keepalive_only_is_empty() {
    for raw in [&b""[..], b"\r\n", b"\r\n\r\n", b"\n\n\n"] {
        assert_eq!(err(raw), ParseError::Empty, "{raw:?}");
    }
}

#[test]
fn body_is_exactly_content_length_bytes_and_extra_bytes_are_ignored() {
    let raw = request("Content-Length: 3\r\n", "abcdef");
    let m = parse(&raw);
    assert_eq!(m.body(), b"abc");
    assert_eq!(m.content_length(), Some(3));
    let raw = request("l: 0\r\n", "trailing junk");
    assert_eq!(parse(&raw).body(), b"");
}

#[test]
fn without_content_length_the_body_is_the_rest_of_the_datagram() {
    let raw = request("", "rest of it");
    let m = parse(&raw);
    assert_eq!(m.content_length(), None);
    assert_eq!(m.body(), b"rest of it");
}

#[test]
fn content_length_beyond_the_datagram_is_body_too_short() {
    assert_eq!(
        err(&request("Content-Length: 7\r\n", "abcdef")),
        ParseError::BodyTooShort
    );
    // A peer length is compared, never allocated.
    assert_eq!(
        err(&request("Content-Length: 4294967295\r\n", "")),
        ParseError::BodyTooShort
    );
    assert_eq!(
        err(&request("Content-Length: 18446744073709551615\r\n", "x")),
        ParseError::BodyTooShort
    );
}

#[test]
fn malformed_content_length_is_refused() {
    for v in [
        "",
        "abc",
        "-1",
        "+5",
        "1 2",
        "0x10",
        "99999999999999999999999",
    ] {
        let raw = request(&format!("Content-Length: {v}\r\n"), "");
        assert_eq!(err(&raw), ParseError::BadContentLength, "value {v:?}");
    }
}

#[test]
fn the_first_call_id_and_cseq_count_and_a_folded_content_length_is_read_through_the_fold() {
    let raw = request(
        "i: second\r\nCSeq: 9 BYE\r\nContent-Length:\r\n 2\r\n",
        "ab",
    );
    let m = parse(&raw);
    assert_eq!(m.call_id(), b"c1");
    assert_eq!((m.cseq().number, m.cseq().method), (7, &b"OPTIONS"[..]));
    assert_eq!((m.content_length(), m.body()), (Some(2), &b"ab"[..]));
    // Three Content-Lengths: each is checked, in order.
    let third = request("l: 2\r\nContent-Length: 2\r\nl: x\r\n", "ab");
    assert_eq!(err(&third), ParseError::BadContentLength);
}

#[test]
fn parse_into_gives_what_parse_gives() {
    for raw in [
        UAC_INVITE,
        UAC_BYE,
        UAS_200_OK,
        b"OPTIONS sip:a SIP/2.0\r\n\r\n",
    ] {
        let mut slot = None;
        let into = SipMessage::parse_into(raw, &mut slot).map(|m| m.headers().count());
        assert_eq!(into, SipMessage::parse(raw).map(|m| m.headers().count()));
    }
}

#[test]
fn repeated_content_length_must_agree() {
    let same = request("Content-Length: 2\r\nl: 2\r\n", "ab");
    assert_eq!(parse(&same).body(), b"ab");
    let differ = request("Content-Length: 2\r\nl: 1\r\n", "ab");
    assert_eq!(err(&differ), ParseError::BadContentLength);
}

#[test]
fn call_id_and_cseq_are_required() {
    assert_eq!(
        err(b"OPTIONS sip:a SIP/2.0\r\nCSeq: 1 OPTIONS\r\n\r\n"),
        ParseError::MissingHeader("Call-ID")
    );
    assert_eq!(
        err(b"OPTIONS sip:a SIP/2.0\r\nCall-ID: a\r\n\r\n"),
        ParseError::MissingHeader("CSeq")
    );
    assert_eq!(
        err(b"OPTIONS sip:a SIP/2.0\r\nCall-ID:  \r\nCSeq: 1 OPTIONS\r\n\r\n"),
        ParseError::BadCallId
    );
    // Everything else is optional.
    let m = parse(b"OPTIONS sip:a SIP/2.0\r\nCall-ID: a\r\nCSeq: 1 OPTIONS\r\n\r\n");
    assert_eq!(m.header(HeaderName::Via), None);
    assert_eq!(m.header(HeaderName::From), None);
}

#[test]
fn malformed_cseq_is_refused() {
    for v in [
        "",
        "INVITE",
        "1",
        "1INVITE",
        "abc INVITE",
        "4294967296 INVITE",
        "1 INVITE extra",
        "1 INV@TE",
    ] {
        let raw = format!("OPTIONS sip:a SIP/2.0\r\nCall-ID: a\r\nCSeq: {v}\r\n\r\n");
        assert_eq!(err(raw.as_bytes()), ParseError::BadCSeq, "CSeq {v:?}");
    }
    let m = parse(b"OPTIONS sip:a SIP/2.0\r\nCall-ID: a\r\nCSeq: 4294967295\t  INFO\r\n\r\n");
    assert_eq!(m.cseq().number, u32::MAX);
    assert_eq!(m.cseq().method, b"INFO");
}

#[test]
fn malformed_start_lines_are_typed() {
    let tail = "\r\nCall-ID: a\r\nCSeq: 1 X\r\n\r\n";
    let cases = [
        ("INVITE sip:a SIP/3.0", ParseError::BadVersion),
        ("INVITE sip:a HTTP/1.1", ParseError::BadVersion),
        ("HTTP/1.1 200 OK", ParseError::BadStartLine),
        ("GET / HTTP/1.1", ParseError::BadVersion),
        ("SIP/2.1 200 OK", ParseError::BadVersion),
        ("SIP/2.0 20 OK", ParseError::BadStatusCode),
        ("SIP/2.0 2000 OK", ParseError::BadStatusCode),
        ("SIP/2.0 099 Low", ParseError::BadStatusCode),
        ("SIP/2.0 700 High", ParseError::BadStatusCode),
        ("SIP/2.0 2x0 OK", ParseError::BadStatusCode),
        ("SIP/2.0", ParseError::BadStartLine),
        ("INVITE", ParseError::BadStartLine),
        ("INVITE SIP/2.0", ParseError::BadStartLine),
        ("INVITE sip:a b SIP/2.0", ParseError::BadStartLine),
        ("INV:TE sip:a SIP/2.0", ParseError::BadStartLine),
        (" INVITE sip:a SIP/2.0", ParseError::BadStartLine),
    ];
    for (line, want) in cases {
        let raw = format!("{line}{tail}");
        assert_eq!(err(raw.as_bytes()), want, "start line {line:?}");
    }
    // The version is case-insensitive.
    assert_eq!(
        parse(format!("SIP/2.0 100 Trying{tail}").as_bytes()).status(),
        Some(100)
    );
    assert!(parse(format!("invite sip:a sip/2.0{tail}").as_bytes()).is_request());
}

#[test]
fn request_lines_sipp_accepts_parse_as_lenient() {
    let tail = "\r\nCall-ID: a\r\nCSeq: 1 ACK\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n\r\n";
    // SIPp 3.6.1 renders `ACK [next_url] SIP/2.0` with an empty [next_url] after a 4xx.
    for (line, uri) in [
        ("ACK  SIP/2.0", ""),
        ("ACK   SIP/2.0", ""),
        ("INVITE  sip:a SIP/2.0", "sip:a"),
        ("INVITE sip:a  SIP/2.0", "sip:a"),
    ] {
        let raw = format!("{line}{tail}");
        let m = parse(raw.as_bytes());
        assert!(m.is_lenient(), "{line:?} should be lenient");
        assert_eq!(
            m.method(),
            Some(&line.as_bytes()[..line.find(' ').unwrap()])
        );
        assert_eq!(m.request_uri(), Some(uri.as_bytes()), "{line:?}");
        // Still matchable to its call.
        assert_eq!(m.call_id(), b"a");
        assert_eq!(m.cseq().method, b"ACK");
    }
    // RFC 3261 lines and responses are not lenient.
    assert!(!parse(format!("ACK sip:a SIP/2.0{tail}").as_bytes()).is_lenient());
    assert!(!parse(format!("SIP/2.0 404 Not Found{tail}").as_bytes()).is_lenient());
    // What cannot be read as method, URI and version is still refused.
    for line in [
        "ACK SIP/2.0",
        "ACK sip:a b SIP/2.0",
        "ACK sip:\ta SIP/2.0",
        "ACK  ",
    ] {
        let raw = format!("{line}{tail}");
        assert!(
            SipMessage::parse(raw.as_bytes()).is_err(),
            "{line:?} parsed"
        );
    }
}

#[test]
fn malformed_header_lines_are_bad_header() {
    for line in [
        "NoColonHere",
        "Bad Name: x",
        ": novalue",
        "X\x01: y",
        "Via\r: x",
    ] {
        let raw = request(&format!("{line}\r\n"), "");
        assert_eq!(err(&raw), ParseError::BadHeader, "line {line:?}");
    }
    // Whitespace before the colon is allowed (RFC 3261 HCOLON), and so is an empty value.
    let raw = request("Via \t: SIP/2.0/UDP h\r\nX-Empty:\r\n", "");
    let m = parse(&raw);
    assert_eq!(m.header(HeaderName::Via), Some(&b"SIP/2.0/UDP h"[..]));
    assert_eq!(m.header_by_name(b"X-Empty"), Some(&b""[..]));
}

#[test]
fn header_section_without_empty_line_is_unterminated() {
    assert_eq!(
        err(b"OPTIONS sip:a SIP/2.0\r\nCall-ID: a\r\nCSeq: 1 OPTIONS\r\n"),
        ParseError::Unterminated
    );
    assert_eq!(
        err(b"OPTIONS sip:a SIP/2.0\r\nCall-ID: a"),
        ParseError::Unterminated
    );
    assert_eq!(err(b"OPTIONS sip:a SIP/2.0"), ParseError::BadStartLine);
}

#[test]
fn at_most_max_headers_are_accepted() {
    let with = |n: usize| {
        let extra: String = (0..n - 2).map(|i| format!("X-H{i}: {i}\r\n")).collect();
        request(&extra, "")
    };
    let full = with(super::super::MAX_HEADERS);
    let m = parse(&full);
    assert_eq!(m.header_count(), super::super::MAX_HEADERS);
    assert_eq!(m.header_by_name(b"x-h61"), Some(&b"61"[..]));
    assert_eq!(
        err(&with(super::super::MAX_HEADERS + 1)),
        ParseError::TooManyHeaders
    );
    // Continuation lines do not count as headers.
    let mut folded = full.clone();
    let at = folded.len() - 2;
    folded.splice(at..at, b" more\r\n\tand more\r\n".iter().copied());
    assert_eq!(parse(&folded).header_count(), super::super::MAX_HEADERS);
}

#[test]
fn header_names_are_case_insensitive() {
    let m = parse(
        b"BYE sip:a SIP/2.0\r\ncall-id: q\r\nCSEQ: 9 BYE\r\nVIA: v\r\ncontent-length: 0\r\n\r\n",
    );
    assert_eq!(m.call_id(), b"q");
    assert_eq!(m.cseq().number, 9);
    assert_eq!(m.header(HeaderName::Via), Some(&b"v"[..]));
    assert_eq!(
        m.headers().nth(2).map(|h| h.1),
        Some(&b"VIA"[..]),
        "name as written"
    );
    assert_eq!(m.content_length(), Some(0));
}
