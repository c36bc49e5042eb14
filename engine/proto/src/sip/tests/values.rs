//! Header value helpers: comma lists, parameters and name-addr URIs.

use super::super::{param, split_comma_values, uri_of};

fn split(v: &[u8]) -> Vec<&[u8]> {
    split_comma_values(v).collect()
}

#[test]
fn comma_split_ignores_commas_in_quotes_and_angle_brackets() {
    let v = br#""Doe, John" <sip:jd@a>;tag=1, <sip:r@b;x=1,2>;lr ,sip:e@f , "q\",<" <sip:g@h>"#;
    assert_eq!(
        split(v),
        vec![
            &br#""Doe, John" <sip:jd@a>;tag=1"#[..],
            b"<sip:r@b;x=1,2>;lr",
            b"sip:e@f",
            br#""q\",<" <sip:g@h>"#,
        ]
    );
}

#[test]
fn comma_split_skips_empty_pieces_and_handles_one_value() {
    assert_eq!(split(b" , a,, ,b , "), vec![&b"a"[..], b"b"]);
    assert_eq!(split(b"SIP/2.0/UDP h"), vec![&b"SIP/2.0/UDP h"[..]]);
    assert!(split(b"").is_empty());
    assert!(split(b" ,, ").is_empty());
    // An unclosed bracket swallows the rest rather than splitting inside it.
    assert_eq!(split(b"<sip:a,b"), vec![&b"<sip:a,b"[..]]);
}

#[test]
fn param_finds_tag_and_branch_case_insensitively() {
    let from = b"\"Alice\" <sip:alice@a.example;transport=tcp>;TAG=1928301774;x";
    assert_eq!(param(from, b"tag"), Some(&b"1928301774"[..]));
    assert_eq!(param(from, b"Tag"), Some(&b"1928301774"[..]));
    assert_eq!(
        param(from, b"transport"),
        None,
        "URI parameters are inside <...>"
    );
    assert_eq!(param(from, b"x"), Some(&b""[..]), "flag parameter");
    assert_eq!(param(from, b"ta"), None, "no prefix match");
    assert_eq!(param(from, b"tagx"), None);

    let via = b"SIP/2.0/UDP 10.0.0.1:5060 ; branch = z9hG4bK776 ;rport;received=1.2.3.4";
    assert_eq!(param(via, b"branch"), Some(&b"z9hG4bK776"[..]));
    assert_eq!(param(via, b"rport"), Some(&b""[..]));
    assert_eq!(param(via, b"received"), Some(&b"1.2.3.4"[..]));
    assert_eq!(param(via, b"maddr"), None);
}

#[test]
fn param_looks_only_at_the_first_comma_value_and_outside_quotes() {
    let vias = b"SIP/2.0/UDP a;branch=one, SIP/2.0/UDP b;branch=two;ttl=1";
    assert_eq!(param(vias, b"branch"), Some(&b"one"[..]));
    assert_eq!(param(vias, b"ttl"), None);
    let quoted = br#""x;tag=no" <sip:a>;tag=yes;q="a;b""#;
    assert_eq!(param(quoted, b"tag"), Some(&b"yes"[..]));
    assert_eq!(
        param(quoted, b"q"),
        Some(&br#""a;b""#[..]),
        "quoted value kept as written"
    );
    assert_eq!(param(b"", b"tag"), None);
    assert_eq!(param(b";", b""), Some(&b""[..]));
}

#[test]
fn uri_of_extracts_the_uri_from_name_addr_and_addr_spec() {
    assert_eq!(uri_of(br#""Bob" <sip:bob@x>;tag=1"#), b"sip:bob@x");
    assert_eq!(
        uri_of(b"Bob <sip:bob@x;transport=tcp>"),
        b"sip:bob@x;transport=tcp"
    );
    assert_eq!(uri_of(b"<sip:bob@x>"), b"sip:bob@x");
    assert_eq!(uri_of(b"  sip:bob@x;tag=1  "), b"sip:bob@x");
    assert_eq!(uri_of(b"sip:bob@x"), b"sip:bob@x");
    assert_eq!(uri_of(br#""a <b> c" <sip:real@y>"#), b"sip:real@y");
    assert_eq!(uri_of(b"<sip:unclosed@x"), b"sip:unclosed@x");
    assert_eq!(uri_of(b"*"), b"*");
    assert_eq!(uri_of(b""), b"");
    assert_eq!(
        uri_of(b"sip:a@b;x=<y>"),
        b"sip:a@b",
        "params of an addr-spec"
    );
}
