//! SIPp's default behaviours for an aborted client call: a BYE when the INVITE was
//! answered with a 2xx, a CANCEL while it is still unanswered, an ACK for a failure
//! (3xx-6xx) no step expected (`-default_behaviors` `bye` and `cancel`, on unless `-nd`).
//!
//! Owns: deriving those requests from the ACK or INVITE the call already sent (so no
//! extra state is kept per call). Must not: send or count; the call queues the bytes.

use crate::sip::HeaderName;

/// Which request to derive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum AbortRequest {
    /// A BYE built from the ACK of the 2xx (same Request-URI, From, To, Call-ID, Route).
    Bye { cseq: u32 },
    /// A CANCEL built from the INVITE (RFC 3261 §9.1: same Request-URI, top Via, From,
    /// To, Call-ID, CSeq number).
    Cancel,
    /// The ACK of a non-2xx final response, built from the INVITE (RFC 3261 §17.1.1.3:
    /// its Request-URI, top Via and branch, From, Call-ID, Route, CSeq number) with the
    /// response's To.
    Ack,
}

/// Appends the ACK of a failure whose To is `to` (the response's value) to `out`;
/// false when `invite` is not our INVITE.
pub(super) fn derive_ack(invite: &[u8], to: &[u8], out: &mut Vec<u8>) -> bool {
    derive_with(invite, AbortRequest::Ack, b"", Some(to), out)
}

/// Appends the derived request to `out`; returns false when `src` is not a request of the
/// expected kind.
pub(super) fn derive(src: &[u8], kind: AbortRequest, branch: &[u8], out: &mut Vec<u8>) -> bool {
    derive_with(src, kind, branch, None, out)
}

/// As [`derive`]; `to`, when given, replaces the To header's value.
fn derive_with(
    src: &[u8],
    kind: AbortRequest,
    branch: &[u8],
    to: Option<&[u8]>,
    out: &mut Vec<u8>,
) -> bool {
    let mut lines = src
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    let Some(first) = lines.next() else {
        return false;
    };
    let (expected, method): (&[u8], &[u8]) = match kind {
        AbortRequest::Bye { .. } => (b"ACK ", b"BYE"),
        AbortRequest::Cancel => (b"INVITE ", b"CANCEL"),
        AbortRequest::Ack => (b"INVITE ", b"ACK"),
    };
    let Some(rest) = first.strip_prefix(expected) else {
        return false;
    };
    out.extend_from_slice(method);
    out.push(b' ');
    out.extend_from_slice(rest);
    out.extend_from_slice(b"\r\n");
    let mut via_seen = false;
    for line in lines {
        if line.is_empty() {
            break;
        }
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let name = HeaderName::from_bytes(line[..colon].trim_ascii());
        let value = line[colon + 1..].trim_ascii();
        match name {
            HeaderName::Via => {
                // One Via: the top one (CANCEL keeps its branch; a BYE is a new
                // transaction and gets a new one).
                if via_seen {
                    continue;
                }
                via_seen = true;
                match kind {
                    AbortRequest::Cancel | AbortRequest::Ack => push_line(out, b"Via", value),
                    AbortRequest::Bye { .. } => {
                        out.extend_from_slice(b"Via: ");
                        out.extend_from_slice(strip_branch(value));
                        out.extend_from_slice(b";branch=");
                        out.extend_from_slice(branch);
                        out.extend_from_slice(b"\r\n");
                    }
                }
            }
            HeaderName::CSeq => {
                let number = value.split(|&b| b == b' ').next().unwrap_or(b"1");
                out.extend_from_slice(b"CSeq: ");
                match kind {
                    AbortRequest::Cancel | AbortRequest::Ack => out.extend_from_slice(number),
                    AbortRequest::Bye { cseq } => {
                        out.extend_from_slice(cseq.to_string().as_bytes())
                    }
                }
                out.push(b' ');
                out.extend_from_slice(method);
                out.extend_from_slice(b"\r\n");
            }
            HeaderName::To if to.is_some() => {
                push_line(out, b"To", to.unwrap_or_default());
            }
            HeaderName::From
            | HeaderName::To
            | HeaderName::CallId
            | HeaderName::Route
            | HeaderName::MaxForwards => {
                out.extend_from_slice(line);
                out.extend_from_slice(b"\r\n");
            }
            _ => {}
        }
    }
    out.extend_from_slice(b"Content-Length: 0\r\n\r\n");
    true
}

fn push_line(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// The Via value up to its `;branch=…` parameter (parameters after the branch are
/// dropped: a new branch is appended).
fn strip_branch(via: &[u8]) -> &[u8] {
    let lower = via.to_ascii_lowercase();
    match memchr::memmem::find(&lower, b";branch=") {
        Some(p) => via.get(..p).unwrap_or(via),
        None => via,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::SipMessage;

    const INVITE: &[u8] = b"INVITE sip:svc@10.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.2:5061;branch=z9hG4bK-1-1-0\r\nFrom: a <sip:a@10.0.0.2>;tag=1\r\nTo: b <sip:b@10.0.0.1>\r\nCall-ID: 1-1@10.0.0.2\r\nCSeq: 1 INVITE\r\nContact: <sip:a@10.0.0.2>\r\nMax-Forwards: 70\r\nContent-Type: application/sdp\r\nContent-Length: 3\r\n\r\nv=0";
    const ACK: &[u8] = b"ACK sip:b@10.0.0.9:5080 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.2:5061;branch=z9hG4bK-1-1-5\r\nFrom: a <sip:a@10.0.0.2>;tag=1\r\nTo: b <sip:b@10.0.0.1>;tag=99\r\nCall-ID: 1-1@10.0.0.2\r\nCSeq: 1 ACK\r\nRoute: <sip:proxy;lr>\r\nContent-Length: 0\r\n\r\n";

    #[test]
    fn cancel_keeps_the_invites_uri_top_via_and_cseq_number() {
        let mut out = Vec::new();
        assert!(derive(INVITE, AbortRequest::Cancel, b"unused", &mut out));
        let m = SipMessage::parse(&out).unwrap();
        assert_eq!(m.method(), Some(&b"CANCEL"[..]));
        assert_eq!(m.request_uri(), Some(&b"sip:svc@10.0.0.1:5060"[..]));
        assert_eq!(m.cseq().number, 1);
        assert_eq!(m.cseq().method, b"CANCEL");
        assert_eq!(
            m.header(HeaderName::Via),
            Some(&b"SIP/2.0/UDP 10.0.0.2:5061;branch=z9hG4bK-1-1-0"[..])
        );
        assert_eq!(m.body(), b"");
    }

    #[test]
    fn bye_follows_the_ack_with_a_new_branch_and_the_next_cseq() {
        let mut out = Vec::new();
        assert!(derive(
            ACK,
            AbortRequest::Bye { cseq: 2 },
            b"z9hG4bK-abort",
            &mut out
        ));
        let m = SipMessage::parse(&out).unwrap();
        assert_eq!(m.method(), Some(&b"BYE"[..]));
        assert_eq!(m.request_uri(), Some(&b"sip:b@10.0.0.9:5080"[..]));
        assert_eq!(m.cseq().number, 2);
        assert_eq!(
            m.header(HeaderName::To),
            Some(&b"b <sip:b@10.0.0.1>;tag=99"[..])
        );
        assert_eq!(
            m.header(HeaderName::Via),
            Some(&b"SIP/2.0/UDP 10.0.0.2:5061;branch=z9hG4bK-abort"[..])
        );
        assert_eq!(m.header(HeaderName::Route), Some(&b"<sip:proxy;lr>"[..]));
    }

    #[test]
    fn the_ack_of_a_failure_keeps_the_invites_branch_and_takes_the_responses_to() {
        let mut out = Vec::new();
        assert!(derive_ack(INVITE, b"b <sip:b@10.0.0.1>;tag=486x", &mut out));
        let m = SipMessage::parse(&out).unwrap();
        assert_eq!(m.method(), Some(&b"ACK"[..]));
        assert_eq!(m.request_uri(), Some(&b"sip:svc@10.0.0.1:5060"[..]));
        assert_eq!((m.cseq().number, m.cseq().method), (1, &b"ACK"[..]));
        assert_eq!(
            m.header(HeaderName::Via),
            Some(&b"SIP/2.0/UDP 10.0.0.2:5061;branch=z9hG4bK-1-1-0"[..])
        );
        assert_eq!(
            m.header(HeaderName::To),
            Some(&b"b <sip:b@10.0.0.1>;tag=486x"[..])
        );
        assert_eq!(
            m.header(HeaderName::From),
            Some(&b"a <sip:a@10.0.0.2>;tag=1"[..])
        );
        assert_eq!(m.header(HeaderName::ContentType), None);
        assert_eq!(m.body(), b"");
        assert!(!derive_ack(ACK, b"x", &mut Vec::new()));
    }

    #[test]
    fn the_wrong_source_derives_nothing() {
        let mut out = Vec::new();
        assert!(!derive(ACK, AbortRequest::Cancel, b"x", &mut out));
        assert!(!derive(
            INVITE,
            AbortRequest::Bye { cseq: 2 },
            b"x",
            &mut out
        ));
    }
}
