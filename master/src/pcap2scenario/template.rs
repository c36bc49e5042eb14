//! One captured message rewritten as a `<send>` template of the side that sent it: SIPp
//! keywords in place of the captured addresses, tags, branch, Call-ID, CSeq, lengths and
//! SDP media addresses, as SIPp's own `uac.xml`/`uas.xml` write them.
//!
//! Owns: the rewriting rules per header (requests build their own Via/From/To/Call-ID/
//! CSeq; responses copy them from the request with `[last_X:]`), the SDP rules, and
//! escaping every literal `[` left as `\x5b`. Must not: decide what is sent or received
//! (the script does) or parse XML.

use gossipper_engine::sip::{self, HeaderName, SipMessage};

/// Whose scenario a template belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    Uac,
    Uas,
}

impl Side {
    /// The generated tag this side puts in its own From (requests) or To (responses).
    pub(crate) fn own_tag(self) -> &'static str {
        match self {
            Side::Uac => "[pid]SIPpTag00[call_number]",
            Side::Uas => "[pid]SIPpTag01[call_number]",
        }
    }
}

/// What the rewriting knows about the two parties.
#[derive(Debug, Clone, Default)]
pub(crate) struct Parties {
    /// `host:port` forms (`[v6]:port` for IPv6) each side was seen at: its socket, the
    /// sent-by of its Via, the host of its Contact.
    pub(crate) caller_addrs: Vec<String>,
    pub(crate) callee_addrs: Vec<String>,
    /// The user part of the first request's URI (replaced by `[service]` in the UAC).
    pub(crate) service_user: Option<String>,
}

/// How one sent message is to be written.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct SendHints {
    /// A response whose To gets this side's generated tag (the request had none).
    pub(crate) add_to_tag: bool,
    /// Authorization / Proxy-Authorization become `[authentication]` (after a challenge).
    pub(crate) authenticate: bool,
}

/// Rewrites `msg`, sent by `side`, into template text (lines separated by `\n`).
pub(crate) fn rewrite(
    side: Side,
    parties: &Parties,
    msg: &SipMessage<'_>,
    hints: SendHints,
) -> String {
    let (own, peer) = match side {
        Side::Uac => (&parties.caller_addrs, &parties.callee_addrs),
        Side::Uas => (&parties.callee_addrs, &parties.caller_addrs),
    };
    let subst = Subst { own, peer };
    let service = match side {
        Side::Uac => parties.service_user.as_deref(),
        Side::Uas => None,
    };
    let mut out = String::new();
    let request = msg.is_request();
    let head = msg.raw().get(..msg.headers_end()).unwrap_or_default();
    let head = String::from_utf8_lossy(head);
    let mut lines = unfold(&head).into_iter();
    let start = lines.next().unwrap_or_default();
    if request {
        // METHOD URI SIP/2.0
        let mut parts = start.splitn(3, ' ');
        let method = parts.next().unwrap_or_default();
        let uri = parts.next().unwrap_or_default();
        let version = parts.next().unwrap_or("SIP/2.0");
        out.push_str(&escape(method));
        out.push(' ');
        out.push_str(&with_service(&subst.apply(uri), service));
        out.push(' ');
        out.push_str(&escape(version));
    } else {
        out.push_str(&escape(&start));
    }
    out.push('\n');
    let method = msg.cseq().method;
    let mut via_done = false;
    let mut rr_done = false;
    for line in lines {
        if line.is_empty() {
            continue;
        }
        let Some((name, value)) = line.split_once(':') else {
            out.push_str(&escape(&line));
            out.push('\n');
            continue;
        };
        let value = value.trim();
        let kind = HeaderName::from_bytes(name.trim().as_bytes());
        let written = match (kind, request) {
            (HeaderName::Via, true) => (!std::mem::replace(&mut via_done, true)).then(|| {
                let rport = sip::param(value.as_bytes(), b"rport").is_some();
                format!(
                    "Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]{}",
                    if rport { ";rport" } else { "" }
                )
            }),
            (HeaderName::Via, false) => {
                (!std::mem::replace(&mut via_done, true)).then(|| "[last_Via:]".to_string())
            }
            (HeaderName::RecordRoute, false) => {
                (!std::mem::replace(&mut rr_done, true)).then(|| "[last_Record-Route:]".to_string())
            }
            (HeaderName::From, true) => {
                let (rest, tag) = split_tag(value);
                let tag = tag.map(|_| format!(";tag={}", side.own_tag()));
                Some(format!(
                    "From: {}{}",
                    subst.apply(&rest),
                    tag.unwrap_or_default()
                ))
            }
            (HeaderName::To, true) => {
                let (rest, tag) = split_tag(value);
                let peer_tag = if tag.is_some() {
                    "[peer_tag_param]"
                } else {
                    ""
                };
                Some(format!(
                    "To: {}{peer_tag}",
                    with_service(&subst.apply(&rest), service)
                ))
            }
            (HeaderName::From, false) => Some("[last_From:]".into()),
            (HeaderName::To, false) => Some(if hints.add_to_tag {
                format!("[last_To:];tag={}", side.own_tag())
            } else {
                "[last_To:]".into()
            }),
            (HeaderName::CallId, true) => Some("Call-ID: [call_id]".into()),
            (HeaderName::CallId, false) => Some("[last_Call-ID:]".into()),
            (HeaderName::CSeq, true) if method != b"CANCEL" => Some(format!(
                "CSeq: [cseq] {}",
                escape(&String::from_utf8_lossy(method))
            )),
            (HeaderName::CSeq, false) => Some("[last_CSeq:]".into()),
            (HeaderName::ContentLength, _) => Some("Content-Length: [len]".into()),
            (HeaderName::Contact, _) => {
                Some(format!("Contact: {}", transport_param(&subst.apply(value))))
            }
            (HeaderName::Authorization | HeaderName::ProxyAuthorization, true)
                if hints.authenticate =>
            {
                Some("[authentication]".into())
            }
            _ => Some(format!("{}: {}", escape(name.trim()), subst.apply(value))),
        };
        if let Some(w) = written {
            out.push_str(&w);
            out.push('\n');
        }
    }
    let body = msg.body();
    if !body.is_empty() {
        out.push('\n');
        let text = String::from_utf8_lossy(body);
        let sdp = msg
            .header(HeaderName::ContentType)
            .is_some_and(|t| t.to_ascii_lowercase().starts_with(b"application/sdp"))
            || text.starts_with("v=0");
        if sdp {
            out.push_str(&sdp_body(&text));
        } else {
            for line in text.lines() {
                out.push_str(&subst.apply(line.trim_end_matches('\r')));
                out.push('\n');
            }
        }
    }
    out
}

/// An SDP body with the media keywords in place of the captured addresses and ports:
/// `o=` gets `[local_ip]`, `c=` `[media_ip]`, the first `m=` `[media_port]` and the next
/// ones `[media_port+2]`, `[media_port+4]`…, `a=rtcp:` the port after its stream's.
fn sdp_body(text: &str) -> String {
    let mut out = String::new();
    let mut m_index: Option<i64> = None;
    for line in text.lines() {
        let line = line.trim_end_matches('\r');
        let port_kw = |base: i64| match base {
            0 => "[media_port]".to_string(),
            n => format!("[media_port+{n}]"),
        };
        let written = if let Some(v) = line.strip_prefix("o=") {
            let f: Vec<&str> = v.split_whitespace().collect();
            match f.as_slice() {
                [user, id, ver, "IN", _, _] => format!(
                    "o={} {id} {ver} IN IP[local_ip_type] [local_ip]",
                    escape(user)
                ),
                _ => escape(line),
            }
        } else if let Some(v) = line.strip_prefix("c=") {
            match v.split_whitespace().collect::<Vec<_>>().as_slice() {
                ["IN", _, _] => "c=IN IP[media_ip_type] [media_ip]".to_string(),
                _ => escape(line),
            }
        } else if let Some(v) = line.strip_prefix("m=") {
            let mut f = v.splitn(3, ' ');
            let (media, port, rest) = (
                f.next().unwrap_or_default(),
                f.next().unwrap_or_default(),
                f.next().unwrap_or_default(),
            );
            let n = m_index.map_or(0, |i| i + 1);
            m_index = Some(n);
            if port == "0" {
                escape(line)
            } else {
                format!("m={} {} {}", escape(media), port_kw(2 * n), escape(rest))
            }
        } else if let Some(v) = line.strip_prefix("a=rtcp:") {
            let n = m_index.unwrap_or(0);
            let tail = v
                .split_once(' ')
                .map_or(String::new(), |(_, t)| format!(" {}", escape(t)));
            let tail = if tail.contains(" IN ") {
                " IN IP[media_ip_type] [media_ip]".to_string()
            } else {
                tail
            };
            format!("a=rtcp:{}{tail}", port_kw(2 * n + 1))
        } else {
            escape(line)
        };
        out.push_str(&written);
        out.push('\n');
    }
    out
}

/// Header lines with folded continuations joined (RFC 3261 §7.3.1).
fn unfold(head: &str) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for raw in head.split('\n') {
        let line = raw.trim_end_matches('\r');
        if (line.starts_with(' ') || line.starts_with('\t')) && !lines.is_empty() {
            if let Some(last) = lines.last_mut() {
                last.push(' ');
                last.push_str(line.trim());
            }
        } else {
            lines.push(line.to_string());
        }
    }
    lines
}

/// A value without its `;tag=` parameter, and the tag.
fn split_tag(value: &str) -> (String, Option<String>) {
    let tag = sip::param(value.as_bytes(), b"tag").map(|t| String::from_utf8_lossy(t).into_owned());
    let Some(tag) = tag else {
        return (value.to_string(), None);
    };
    // The parameter sits after the URI: after the last '>' when there is one.
    let from = value.rfind('>').unwrap_or(0);
    let lower = value.to_ascii_lowercase();
    let Some(at) = lower[from..].find(";tag=").map(|i| i + from) else {
        return (value.to_string(), Some(tag));
    };
    let after = at + ";tag=".len();
    let end = value[after..].find(';').map_or(value.len(), |i| after + i);
    let mut rest = value[..at].trim_end().to_string();
    rest.push_str(&value[end..]);
    (rest, Some(tag))
}

/// `sip:USER@` → `sip:[service]@` when USER is the captured service user.
fn with_service(text: &str, service: Option<&str>) -> String {
    let Some(user) = service.filter(|u| !u.is_empty()) else {
        return text.to_string();
    };
    let mut out = text.to_string();
    for scheme in ["sip:", "sips:"] {
        out = out.replace(&format!("{scheme}{user}@"), &format!("{scheme}[service]@"));
    }
    out
}

/// `transport=udp|tcp` (any case) → `transport=[transport]`.
fn transport_param(v: &str) -> String {
    let lower = v.to_ascii_lowercase();
    for t in ["transport=udp", "transport=tcp"] {
        if let Some(at) = lower.find(t) {
            return format!("{}transport=[transport]{}", &v[..at], &v[at + t.len()..]);
        }
    }
    v.to_string()
}

/// Replaces the parties' captured `host:port`s with keywords and escapes every other `[`.
struct Subst<'a> {
    own: &'a [String],
    peer: &'a [String],
}

impl Subst<'_> {
    fn apply(&self, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        let mut i = 0;
        'scan: while i < text.len() {
            let rest = &text[i..];
            for (list, kw) in [
                (self.own, "[local_ip]:[local_port]"),
                (self.peer, "[remote_ip]:[remote_port]"),
            ] {
                for a in list {
                    if rest.starts_with(a.as_str())
                        && !rest[a.len()..].starts_with(|c: char| c.is_ascii_digit())
                    {
                        out.push_str(kw);
                        i += a.len();
                        continue 'scan;
                    }
                }
            }
            let c = rest.chars().next().unwrap_or(' ');
            if c == '[' {
                out.push_str("\\x5b");
            } else {
                out.push(c);
            }
            i += c.len_utf8();
        }
        out
    }
}

/// Literal text: every `[` written `\x5b` so it is not read as a keyword.
pub(crate) fn escape(text: &str) -> String {
    text.replace('[', "\\x5b")
}
