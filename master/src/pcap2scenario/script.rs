//! One side's scenario: what it sends (templates) and what it expects, in dialog order,
//! written as SIPp XML.
//!
//! Owns: the command list of the UAC (the caller's messages are sent, the callee's
//! expected) and of the UAS (the reverse), with SIPp's habits: 1xx optional in `<recv>`,
//! `auth="true"` on a 401/407 answered with credentials, `retrans="500"` on UDP requests
//! and on 2xx to INVITE, the ACK of a non-2xx on the INVITE's branch, and a `<pause>`
//! where the capture waited 200 ms or more before a send. Must not: rewrite message text
//! (the template does).

use std::fmt::Write as _;

use gossipper_engine::sip::{HeaderName, SipMessage};

use super::dialog::Dialog;
use super::template::{self, Parties, SendHints, Side};

/// A gap before a send shorter than this is not written as a pause.
const MIN_PAUSE_MS: u128 = 200;

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Cmd {
    Send {
        text: String,
        retrans: bool,
    },
    Recv {
        request: Option<String>,
        response: Option<u16>,
        optional: bool,
        auth: bool,
    },
    Pause(u128),
}

/// The commands of `side`'s scenario.
pub(crate) fn commands(d: &Dialog, side: Side, parties: &Parties) -> Vec<Cmd> {
    let mut cmds: Vec<Cmd> = Vec::new();
    let mut challenged = false;
    let mut last_invite_send: Option<usize> = None;
    let mut last_invite_final: Option<u16> = None;
    for (i, m) in d.msgs.iter().enumerate() {
        let Ok(msg) = SipMessage::parse(&m.bytes) else {
            continue;
        };
        let sent = m.from_caller == (side == Side::Uac);
        let cseq = msg.cseq();
        if !sent {
            if let Some(code) = msg.status() {
                if cseq.method == b"INVITE" && code >= 200 {
                    last_invite_final = Some(code);
                }
                if code == 401 || code == 407 {
                    challenged = true;
                }
            }
            cmds.push(Cmd::Recv {
                request: msg
                    .method()
                    .map(|b| String::from_utf8_lossy(b).into_owned()),
                response: msg.status(),
                optional: msg.status().is_some_and(|c| c < 200),
                auth: false,
            });
            continue;
        }
        if let Some(prev) = i.checked_sub(1).and_then(|p| d.msgs.get(p)) {
            let gap = m.ts.saturating_sub(prev.ts).as_millis();
            if gap >= MIN_PAUSE_MS {
                cmds.push(Cmd::Pause(gap));
            }
        }
        let method = msg.method().unwrap_or_default();
        let has_credentials = msg.header(HeaderName::Authorization).is_some()
            || msg.header(HeaderName::ProxyAuthorization).is_some();
        let authenticate = msg.is_request() && challenged && has_credentials;
        if authenticate {
            // The challenge this request answers is the last 401/407 expected.
            if let Some(Cmd::Recv { auth, .. }) = cmds.iter_mut().rev().find(|c| {
                matches!(
                    c,
                    Cmd::Recv {
                        response: Some(401 | 407),
                        ..
                    }
                )
            }) {
                *auth = true;
            }
        }
        let add_to_tag = !msg.is_request() && response_needs_tag(d, i, &msg);
        let hints = SendHints {
            add_to_tag,
            authenticate,
        };
        let mut text = template::rewrite(side, parties, &msg, hints);
        if method == b"ACK"
            && last_invite_final.is_some_and(|c| c >= 300)
            && let Some(at) = last_invite_send
        {
            // RFC 3261 §17.1.1.3: the ACK of a non-2xx is in the INVITE's transaction.
            let back = cmds.len() - at;
            text = text.replacen("branch=[branch]", &format!("branch=[branch-{back}]"), 1);
        }
        let retrans = !d.tcp
            && if msg.is_request() {
                method != b"ACK"
            } else {
                cseq.method == b"INVITE" && msg.status().is_some_and(|c| (200..300).contains(&c))
            };
        if method == b"INVITE" {
            last_invite_send = Some(cmds.len());
            last_invite_final = None;
        }
        cmds.push(Cmd::Send { text, retrans });
    }
    cmds
}

/// Whether the response at `i` carries a To tag its request (the latest request before it
/// with the same CSeq, from the other side) did not: the responder then adds its own.
fn response_needs_tag(d: &Dialog, i: usize, resp: &SipMessage<'_>) -> bool {
    let has_tag = |m: &SipMessage<'_>| {
        m.header(HeaderName::To)
            .and_then(|t| gossipper_engine::sip::param(t, b"tag"))
            .is_some()
    };
    if !has_tag(resp) {
        return false;
    }
    let from_caller = d.msgs.get(i).is_some_and(|m| m.from_caller);
    let want = resp.header(HeaderName::CSeq);
    d.msgs[..i]
        .iter()
        .rev()
        .filter(|m| m.from_caller != from_caller)
        .filter_map(|m| SipMessage::parse(&m.bytes).ok())
        .find(|m| m.is_request() && m.header(HeaderName::CSeq) == want)
        .is_some_and(|req| !has_tag(&req))
}

/// The scenario document. `about` lines go into the opening comment.
pub(crate) fn xml(name: &str, about: &[String], cmds: &[Cmd]) -> String {
    let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    x.push_str("<!DOCTYPE scenario SYSTEM \"sipp.dtd\">\n<!--\n");
    for line in about {
        let _ = writeln!(x, "  {}", comment_safe(line));
    }
    x.push_str("-->\n");
    let _ = writeln!(x, "<scenario name=\"{}\">", attr(name));
    for c in cmds {
        match c {
            Cmd::Send { text, retrans, .. } => {
                if *retrans {
                    x.push_str("  <send retrans=\"500\">\n");
                } else {
                    x.push_str("  <send>\n");
                }
                x.push_str("    <![CDATA[\n");
                for line in text.lines() {
                    if line.is_empty() {
                        x.push('\n');
                    } else {
                        let _ = writeln!(x, "      {}", line.replace("]]>", "]]]]><![CDATA[>"));
                    }
                }
                x.push_str("    ]]>\n  </send>\n");
            }
            Cmd::Recv {
                request,
                response,
                optional,
                auth,
            } => {
                x.push_str("  <recv");
                if let Some(r) = request {
                    let _ = write!(x, " request=\"{}\"", attr(r));
                }
                if let Some(r) = response {
                    let _ = write!(x, " response=\"{r}\"");
                }
                if *optional {
                    x.push_str(" optional=\"true\"");
                }
                if *auth {
                    x.push_str(" auth=\"true\"");
                }
                x.push_str("/>\n");
            }
            Cmd::Pause(ms) => {
                let _ = writeln!(x, "  <pause milliseconds=\"{ms}\"/>");
            }
        }
    }
    x.push_str("</scenario>\n");
    x
}

fn attr(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Text that can sit inside `<!-- -->`: no `--`, no control characters.
fn comment_safe(s: &str) -> String {
    let mut out: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    while out.contains("--") {
        out = out.replace("--", "- -");
    }
    out
}
