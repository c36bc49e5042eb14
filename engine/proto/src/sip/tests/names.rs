//! `HeaderName`: long names, compact forms and canonical spellings.

use super::super::HeaderName;

#[test]
fn every_canonical_name_resolves_back_in_any_case() {
    for kind in HeaderName::ALL {
        let name = kind.canonical().unwrap();
        assert_eq!(HeaderName::from_bytes(name.as_bytes()), kind);
        assert_eq!(
            HeaderName::from_bytes(name.to_ascii_lowercase().as_bytes()),
            kind
        );
        assert_eq!(
            HeaderName::from_bytes(name.to_ascii_uppercase().as_bytes()),
            kind
        );
    }
    assert_eq!(HeaderName::Other.canonical(), None);
}

#[test]
fn compact_forms_map_to_their_long_names() {
    use HeaderName as H;
    let table = [
        ('i', H::CallId),
        ('m', H::Contact),
        ('e', H::ContentEncoding),
        ('l', H::ContentLength),
        ('c', H::ContentType),
        ('f', H::From),
        ('s', H::Subject),
        ('k', H::Supported),
        ('t', H::To),
        ('v', H::Via),
        ('o', H::Event),
        ('r', H::ReferTo),
        ('b', H::ReferredBy),
        ('x', H::SessionExpires),
        ('u', H::AllowEvents),
    ];
    for (c, kind) in table {
        assert_eq!(HeaderName::from_bytes(&[c as u8]), kind, "{c}");
        assert_eq!(
            HeaderName::from_bytes(&[c.to_ascii_uppercase() as u8]),
            kind,
            "{c}"
        );
        assert_eq!(kind.compact(), Some(c));
    }
    for kind in HeaderName::ALL {
        if let Some(c) = kind.compact() {
            assert!(table.contains(&(c, kind)));
        }
    }
    for c in [b'a', b'z', b'-', b'1', 0, 0xff] {
        assert_eq!(HeaderName::from_bytes(&[c]), H::Other);
    }
}

#[test]
fn unknown_and_near_miss_names_are_other() {
    for name in [
        &b""[..],
        b"X-Custom",
        b"Vias",
        b"Call_ID",
        b"CallID",
        b"Content-Lengt",
        b"Content-Length ",
        b"\xffia",
    ] {
        assert_eq!(HeaderName::from_bytes(name), HeaderName::Other, "{name:?}");
    }
}
