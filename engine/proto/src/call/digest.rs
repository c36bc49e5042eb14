//! HTTP Digest authentication for SIP (RFC 2617 / RFC 7616 / RFC 3261 §22): the
//! `[authentication]` keyword (answering a 401/407) and the `verifyauth` action.
//!
//! Owns: parsing a challenge or credentials and computing the response. Must not:
//! render messages or keep state; the caller passes the challenge and the request line.

use md5::{Digest as _, Md5};
use sha2::Sha256;

/// The hash a challenge asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algorithm {
    Md5,
    Sha256,
}

/// Lowercase hex of H(data) for `alg`.
fn hash_hex(alg: Algorithm, parts: &[&[u8]]) -> String {
    let bytes: Vec<u8> = match alg {
        Algorithm::Md5 => {
            let mut h = Md5::new();
            for p in parts {
                h.update(p);
            }
            h.finalize().to_vec()
        }
        Algorithm::Sha256 => {
            let mut h = Sha256::new();
            for p in parts {
                h.update(p);
            }
            h.finalize().to_vec()
        }
    };
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(b"0123456789abcdef"[usize::from(b >> 4)]));
        s.push(char::from(b"0123456789abcdef"[usize::from(b & 15)]));
    }
    s
}

/// Finds `name=value` or `name="value"` in a Digest parameter list (case-insensitive name).
pub fn digest_param<'a>(header_value: &'a [u8], name: &str) -> Option<&'a [u8]> {
    let mut rest = header_value;
    // Skip the scheme ("Digest ").
    if rest.len() >= 6 && rest[..6].eq_ignore_ascii_case(b"digest") {
        rest = &rest[6..];
    }
    loop {
        // Trim separators.
        while let Some((&c, tail)) = rest.split_first() {
            if c == b',' || c == b' ' || c == b'\t' || c == b'\r' || c == b'\n' {
                rest = tail;
            } else {
                break;
            }
        }
        if rest.is_empty() {
            return None;
        }
        let eq = rest.iter().position(|&c| c == b'=')?;
        let key = trim(&rest[..eq]);
        rest = &rest[eq + 1..];
        let value;
        if rest.first() == Some(&b'"') {
            let end = rest[1..].iter().position(|&c| c == b'"').map(|p| p + 1)?;
            value = &rest[1..end];
            rest = &rest[end + 1..];
        } else {
            let end = rest.iter().position(|&c| c == b',').unwrap_or(rest.len());
            value = trim(&rest[..end]);
            rest = &rest[end..];
        }
        if key.eq_ignore_ascii_case(name.as_bytes()) {
            return Some(value);
        }
    }
}

fn trim(s: &[u8]) -> &[u8] {
    let start = s
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(s.len());
    let end = s
        .iter()
        .rposition(|c| !c.is_ascii_whitespace())
        .map_or(start, |e| e + 1);
    &s[start..end.max(start)]
}

fn algorithm_of(challenge: &[u8]) -> Algorithm {
    match digest_param(challenge, "algorithm") {
        Some(a) if a.eq_ignore_ascii_case(b"SHA-256") => Algorithm::Sha256,
        _ => Algorithm::Md5,
    }
}

fn qop_auth(challenge: &[u8]) -> bool {
    digest_param(challenge, "qop").is_some_and(|q| {
        q.split(|&c| c == b',')
            .any(|t| trim(t).eq_ignore_ascii_case(b"auth"))
    })
}

/// The response value: H(HA1:nonce[:nc:cnonce:qop]:HA2), with RFC 2617's argument
/// order (one argument per term of the formula).
#[allow(clippy::too_many_arguments)]
pub fn response(
    alg: Algorithm,
    user: &[u8],
    realm: &[u8],
    password: &[u8],
    method: &[u8],
    uri: &[u8],
    nonce: &[u8],
    qop: Option<(&[u8], &[u8], &[u8])>,
) -> String {
    let ha1 = hash_hex(alg, &[user, b":", realm, b":", password]);
    let ha2 = hash_hex(alg, &[method, b":", uri]);
    match qop {
        Some((nc, cnonce, qop)) => hash_hex(
            alg,
            &[
                ha1.as_bytes(),
                b":",
                nonce,
                b":",
                nc,
                b":",
                cnonce,
                b":",
                qop,
                b":",
                ha2.as_bytes(),
            ],
        ),
        None => hash_hex(alg, &[ha1.as_bytes(), b":", nonce, b":", ha2.as_bytes()]),
    }
}

/// What an answer to a challenge is computed over.
#[derive(Clone, Copy, Debug)]
pub struct Answer<'a> {
    pub user: &'a [u8],
    pub password: &'a [u8],
    /// Method and Request-URI of the request being authorised.
    pub method: &'a [u8],
    pub uri: &'a [u8],
    pub cnonce: &'a str,
}

/// Builds the `Authorization:` / `Proxy-Authorization:` header line (without CRLF) that
/// answers `challenge` (the WWW-Authenticate or Proxy-Authenticate value).
pub fn authorization_line(proxy: bool, challenge: &[u8], a: &Answer<'_>, out: &mut Vec<u8>) {
    let Answer {
        user,
        password,
        method,
        uri,
        cnonce,
    } = *a;
    let alg = algorithm_of(challenge);
    let realm = digest_param(challenge, "realm").unwrap_or(b"");
    let nonce = digest_param(challenge, "nonce").unwrap_or(b"");
    let opaque = digest_param(challenge, "opaque");
    let use_qop = qop_auth(challenge);
    let nc = b"00000001";
    let resp = response(
        alg,
        user,
        realm,
        password,
        method,
        uri,
        nonce,
        use_qop.then_some((&nc[..], cnonce.as_bytes(), &b"auth"[..])),
    );
    out.extend_from_slice(if proxy {
        b"Proxy-Authorization: Digest "
    } else {
        b"Authorization: Digest "
    });
    for (i, (k, v)) in [("username", user), ("realm", realm)].iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(k.as_bytes());
        out.extend_from_slice(b"=\"");
        out.extend_from_slice(v);
        out.push(b'"');
    }
    if use_qop {
        out.extend_from_slice(b",cnonce=\"");
        out.extend_from_slice(cnonce.as_bytes());
        out.extend_from_slice(b"\",nc=");
        out.extend_from_slice(nc);
        out.extend_from_slice(b",qop=auth");
    }
    out.extend_from_slice(b",uri=\"");
    out.extend_from_slice(uri);
    out.extend_from_slice(b"\",nonce=\"");
    out.extend_from_slice(nonce);
    out.extend_from_slice(b"\",response=\"");
    out.extend_from_slice(resp.as_bytes());
    out.extend_from_slice(b"\",algorithm=");
    out.extend_from_slice(if alg == Algorithm::Sha256 {
        b"SHA-256"
    } else {
        b"MD5"
    });
    if let Some(o) = opaque {
        out.extend_from_slice(b",opaque=\"");
        out.extend_from_slice(o);
        out.push(b'"');
    }
}

/// Checks credentials (an Authorization header value) sent with `method` against
/// `user`/`password` (the `verifyauth` action).
pub fn verify(credentials: &[u8], method: &[u8], user: &[u8], password: &[u8]) -> bool {
    let Some(got_user) = digest_param(credentials, "username") else {
        return false;
    };
    if got_user != user {
        return false;
    }
    let alg = algorithm_of(credentials);
    let realm = digest_param(credentials, "realm").unwrap_or(b"");
    let nonce = digest_param(credentials, "nonce").unwrap_or(b"");
    let uri = digest_param(credentials, "uri").unwrap_or(b"");
    let Some(given) = digest_param(credentials, "response") else {
        return false;
    };
    let qop = digest_param(credentials, "qop").map(|q| {
        (
            digest_param(credentials, "nc").unwrap_or(b""),
            digest_param(credentials, "cnonce").unwrap_or(b""),
            q,
        )
    });
    let expected = response(alg, user, realm, password, method, uri, nonce, qop);
    expected.as_bytes().eq_ignore_ascii_case(given)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc2617_example_response() {
        // RFC 2617 §3.5: Mufasa / Circle Of Life.
        let r = response(
            Algorithm::Md5,
            b"Mufasa",
            b"testrealm@host.com",
            b"Circle Of Life",
            b"GET",
            b"/dir/index.html",
            b"dcd98b7102dd2f0e8b11d0f600bfb0c093",
            Some((b"00000001", b"0a4f113b", b"auth")),
        );
        assert_eq!(r, "6629fae49393a05397450978507c4ef1");
    }

    #[test]
    fn authorization_line_verifies() {
        let challenge =
            br#"Digest realm="sip.example", nonce="abc123", qop="auth", algorithm=SHA-256"#;
        let mut out = Vec::new();
        let a = Answer {
            user: b"alice",
            password: b"secret",
            method: b"REGISTER",
            uri: b"sip:sip.example",
            cnonce: "c0ffee",
        };
        authorization_line(false, challenge, &a, &mut out);
        let line = String::from_utf8(out.clone()).unwrap();
        assert!(
            line.starts_with("Authorization: Digest username=\"alice\""),
            "{line}"
        );
        let value = &out[b"Authorization: ".len()..];
        assert!(verify(value, b"REGISTER", b"alice", b"secret"));
        assert!(!verify(value, b"REGISTER", b"alice", b"wrong"));
    }
}
