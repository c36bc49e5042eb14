//! Renders a compiled `Template` for one call into a reused buffer: literal runs are
//! copied, keyword slots filled, `[len]` patched once the body is known, and a line whose
//! `[last_*]` or `[routes]` keyword came out empty is dropped (SIPp does the same).
//!
//! Owns: keyword values. Must not: allocate per literal or keep state between messages.

use std::io::Write as _;
use std::time::Instant;

use super::{Call, ShardCx, digest};
use crate::output::format;
use crate::scenario::{FieldLine, Keyword, Segment, Template};
use crate::sip::SipMessage;

/// Formats `n` in decimal into `buf` without going through `fmt` (this runs for every
/// keyword of every message) and returns the digits.
fn format_num(n: i64, buf: &mut [u8; 24]) -> &[u8] {
    let mut v = n.unsigned_abs();
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    if n < 0 {
        i -= 1;
        buf[i] = b'-';
    }
    &buf[i..]
}

/// Appends `n` in decimal.
pub(crate) fn push_num(out: &mut Vec<u8>, n: i64) {
    let mut buf = [0u8; 24];
    out.extend_from_slice(format_num(n, &mut buf));
}

/// Renders `t` for `call` (step `index`) into `out` (appends).
pub(super) fn render(
    call: &Call,
    t: &Template,
    index: usize,
    now: Instant,
    cx: &mut ShardCx<'_>,
    out: &mut Vec<u8>,
) {
    let base = out.len();
    let mut len_slots = LenSlots::default();
    // When a keyword came out empty and wants its line gone: where that line starts.
    let mut drop_line_from: Option<usize> = None;
    // Parse the last message only when a keyword reads it (most sends of the built-ins do,
    // but requests like ACK and BYE often don't).
    let needs_last = super::plan::template_reads_last(t);
    let parsed;
    let last = match (needs_last, cx.current) {
        (false, _) => None,
        (true, Some(cur)) => Some(cur),
        (true, None) => {
            parsed = SipMessage::parse(call.stored_last_recv()).ok();
            parsed.as_ref()
        }
    };
    for seg in &t.segments {
        match seg {
            Segment::Literal(bytes) => {
                let mut bytes: &[u8] = bytes;
                if let Some(line_start) = drop_line_from.take() {
                    // Remove the rest of the dropped line, through its line end.
                    out.truncate(line_start);
                    match memchr::memchr(b'\n', bytes) {
                        Some(p) => bytes = bytes.get(p + 1..).unwrap_or(&[]),
                        None => bytes = &[],
                    }
                }
                out.extend_from_slice(bytes);
            }
            Segment::Keyword(k) => {
                let before = out.len();
                let drops_line = render_keyword(call, k, index, now, cx, last, out, &mut len_slots);
                if drops_line && out.len() == before {
                    let line_start = memchr::memrchr(b'\n', out.get(base..).unwrap_or(&[]))
                        .map_or(base, |p| base + p + 1);
                    // Only when the keyword is alone on its line so far (SIPp's rule).
                    if out
                        .get(line_start..)
                        .is_some_and(|l| l.iter().all(|c| *c == b' ' || *c == b'\t'))
                    {
                        drop_line_from = Some(line_start);
                    }
                }
            }
        }
    }
    if let Some(line_start) = drop_line_from {
        out.truncate(line_start);
    }
    if len_slots.count > 0 {
        patch_len(out, base, len_slots.as_slice());
    }
}

/// Where `[len]` slots were left, in a fixed array: a message has one or two, and
/// rendering must not allocate.
#[derive(Default)]
struct LenSlots {
    slots: [(usize, i64); 8],
    count: usize,
}

impl LenSlots {
    fn push(&mut self, slot: (usize, i64)) {
        if let Some(s) = self.slots.get_mut(self.count) {
            *s = slot;
            self.count += 1;
        }
    }

    fn as_slice(&self) -> &[(usize, i64)] {
        self.slots.get(..self.count).unwrap_or(&[])
    }
}

/// The blank line that ends a header section, searched with one searcher built once
/// (`memmem::find` built a new one for every message).
static CRLF_CRLF: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
    std::sync::LazyLock::new(|| memchr::memmem::Finder::new(b"\r\n\r\n"));

/// The length of what follows the first CRLF CRLF of `msg`, or (none) its first LF LF,
/// or 0.
fn body_len(msg: &[u8]) -> usize {
    match CRLF_CRLF.find(msg) {
        Some(p) => msg.len() - (p + 4),
        None => memchr::memmem::find(msg, b"\n\n").map_or(0, |p| msg.len() - (p + 2)),
    }
}

/// Writes the body length into every `[len]` slot, last slot first so offsets stay valid.
fn patch_len(out: &mut Vec<u8>, base: usize, slots: &[(usize, i64)]) {
    let body_len = body_len(out.get(base..).unwrap_or(&[]));
    for &(pos, offset) in slots.iter().rev() {
        // SIPp writes `[len]` right-aligned in five columns (`Content-Length:    32`).
        let mut buf = [0u8; 24];
        let digits = format_num(body_len as i64 + offset, &mut buf);
        let pad = 5usize.saturating_sub(digits.len());
        let mut field = [b' '; 32];
        let n = pad + digits.len();
        field[pad..n].copy_from_slice(digits);
        out.splice(pos..pos, field[..n].iter().copied());
    }
}

/// Appends the value of one keyword. Returns true when an empty value drops its line.
#[allow(clippy::too_many_arguments)]
fn render_keyword(
    call: &Call,
    k: &Keyword,
    index: usize,
    now: Instant,
    cx: &mut ShardCx<'_>,
    last: Option<&SipMessage<'_>>,
    out: &mut Vec<u8>,
    len_slots: &mut LenSlots,
) -> bool {
    let env = &cx.run.env;
    if let (Keyword::LocalPort(o), Some(port)) = (k, call.local_port()) {
        push_num(out, i64::from(port) + o);
        return false;
    }
    if matches!(k, Keyword::LocalIp | Keyword::LocalIpType)
        && let Some((ip, _)) = call.source_ip()
    {
        match k {
            Keyword::LocalIpType => out.push(if ip.is_ipv6() { b'6' } else { b'4' }),
            _ => {
                let _ = write!(out, "{ip}");
            }
        }
        return false;
    }
    if render_run_constant(k, env, out) {
        return false;
    }
    match k {
        Keyword::RemoteIp => push_ip(out, call.dest(), env),
        Keyword::RemoteHost => {
            if env.remote_host.is_empty() {
                push_ip(out, call.dest(), env)
            } else {
                out.extend_from_slice(env.remote_host.as_bytes())
            }
        }
        Keyword::RemotePort(o) => push_num(out, i64::from(call.dest().port()) + o),
        Keyword::Branch(o) => {
            out.extend_from_slice(b"z9hG4bK-");
            push_num(out, i64::from(env.pid));
            out.push(b'-');
            push_num(out, call.number as i64);
            out.push(b'-');
            push_num(out, index as i64 + o);
        }
        Keyword::CallId => out.extend_from_slice(call.call_id()),
        Keyword::Cseq(o) => push_num(out, i64::from(call.cseq) + o),
        Keyword::Len(o) => len_slots.push((out.len(), *o)),
        Keyword::CallNumber => push_num(out, call.number as i64),
        Keyword::DynamicId(o) => {
            cx.shard.dynamic_id += 1;
            push_num(out, cx.shard.dynamic_id as i64 + o)
        }
        Keyword::PeerTagParam => {
            if let Some(tag) = &call.peer_tag {
                out.extend_from_slice(b";tag=");
                out.extend_from_slice(tag.as_bytes());
            }
        }
        Keyword::MsgIndex => push_num(out, index as i64),
        Keyword::NextUrl => {
            if let Some(u) = call.next_url() {
                out.extend_from_slice(u);
            }
        }
        Keyword::Routes => {
            if let Some(r) = call.route_set() {
                out.extend_from_slice(b"Route: ");
                out.extend_from_slice(r);
            }
            return true;
        }
        Keyword::LastRequestUri => {
            if let Some(u) = last.and_then(|m| m.request_uri()) {
                out.extend_from_slice(u);
            }
        }
        Keyword::LastCseqNumber(o) => {
            if let Some(m) = last {
                push_num(out, i64::from(m.cseq().number) + o);
            }
        }
        Keyword::LastMessage => {
            if let Some(m) = last {
                out.extend_from_slice(m.raw());
            }
        }
        Keyword::LastHeader {
            name,
            kind,
            value_only,
        } => {
            if let Some(m) = last {
                let mut first = true;
                for v in m.header_values_of(*kind, name.as_bytes()) {
                    if !first {
                        out.extend_from_slice(b"\r\n");
                    }
                    first = false;
                    if !value_only {
                        out.extend_from_slice(name.as_bytes());
                        out.extend_from_slice(b": ");
                    }
                    out.extend_from_slice(v);
                }
            }
            return true;
        }
        Keyword::ClockTick(o) => push_num(
            out,
            now.saturating_duration_since(env.start).as_millis() as i64 + o,
        ),
        Keyword::Timestamp => out.extend_from_slice(format::date_time_spaced(cx.wall).as_bytes()),
        Keyword::Date => out.extend_from_slice(format::rfc1123(cx.wall).as_bytes()),
        Keyword::WebrtcOffer | Keyword::WebrtcAnswer => {
            let kind = match k {
                Keyword::WebrtcOffer => crate::webrtc::SdpKind::Offer,
                _ => crate::webrtc::SdpKind::Answer,
            };
            if let Some(w) = cx.webrtc.as_deref_mut() {
                w.write_local_sdp(now, call.number, kind, out);
            }
        }
        Keyword::Crypto { name, .. } => {
            if let Some(m) = cx.media.as_deref_mut() {
                m.write_crypto_keyword(call.number, call.call_id(), name, out);
            }
        }
        Keyword::SrtpFingerprint | Keyword::SrtpSetup => {
            if let Some(m) = cx.media.as_deref_mut() {
                let fingerprint = matches!(k, Keyword::SrtpFingerprint);
                m.write_dtls_keyword(call.number, call.call_id(), fingerprint, out);
            }
        }
        Keyword::Users => push_num(out, env.users.unwrap_or(0) as i64),
        Keyword::UserId => push_num(out, call.user_id() as i64),
        Keyword::Var(v) => call.var(*v, cx).render(out),
        Keyword::Field { n, file, line } => {
            // `line=` counts data lines from 0, as SIPp 3.6 does (`line=1` is the second).
            let row = match line {
                Some(FieldLine::Fixed(l)) => Some(*l as usize),
                Some(FieldLine::Var(v)) => Some(call.var(*v, cx).as_f64().max(0.0) as usize),
                None => None,
            };
            if let Some(f) = cx.shard.inject.file(file.as_deref()) {
                let row = row.unwrap_or_else(|| {
                    f.row_for(
                        call.number,
                        call.user_id(),
                        &mut crate::rng::Rng::new(call.number),
                    )
                });
                if let Some(v) = f.field(row, *n as usize) {
                    out.extend_from_slice(v);
                }
            }
        }
        Keyword::Fill { variable, text } => {
            let n = call.var(*variable, cx).as_f64().max(0.0) as usize;
            let t = text.as_bytes();
            if !t.is_empty() {
                for i in 0..n {
                    out.push(t[i % t.len()]);
                }
            }
        }
        Keyword::Authentication(p) => {
            let Some(m) = last else { return true };
            let (proxy, challenge) = match m.status() {
                Some(407) => (true, m.header_by_name(b"Proxy-Authenticate")),
                _ => (false, m.header_by_name(b"WWW-Authenticate")),
            };
            let Some(challenge) = challenge else {
                return true;
            };
            // The method and Request-URI of the message being rendered (its first line).
            let (method, uri) = request_line(out);
            let user = p.username.as_deref().unwrap_or(&env.auth_username);
            let pass = p.password.as_deref().unwrap_or(&env.auth_password);
            let cnonce = format!("{:08x}", cx.shard.rng.next_u64() as u32);
            let (method, uri) = (method.to_vec(), uri.to_vec());
            let answer = digest::Answer {
                user: user.as_bytes(),
                password: pass.as_bytes(),
                method: &method,
                uri: &uri,
                cnonce: &cnonce,
            };
            digest::authorization_line(proxy, challenge, &answer, out);
            return true;
        }
        #[allow(unreachable_patterns)]
        _ => {}
    }
    false
}

/// Appends `k`'s value when it is the same for every call of the shard (it reads only the
/// run's `Env`) and returns true; returns false, appending nothing, for the others.
/// `[local_port]` counts as constant here: a call with a port of its own (`-t un`) is
/// handled before this is asked.
fn render_run_constant(k: &Keyword, env: &super::Env, out: &mut Vec<u8>) -> bool {
    match k {
        Keyword::Service => out.extend_from_slice(env.service.as_bytes()),
        Keyword::LocalIp | Keyword::ServerIp => out.extend_from_slice(env.local_ip_text.as_bytes()),
        Keyword::LocalIpType => out.push(if env.local_ip.is_ipv6() { b'6' } else { b'4' }),
        Keyword::LocalPort(o) => push_num(out, i64::from(env.local_port) + o),
        Keyword::MediaIp => out.extend_from_slice(env.media_ip_text.as_bytes()),
        Keyword::MediaIpType => out.push(if env.media_ip.is_ipv6() { b'6' } else { b'4' }),
        Keyword::MediaPort(o) | Keyword::AutoMediaPort(o) | Keyword::RtpstreamAudioPort(o) => {
            push_num(out, i64::from(env.media_port) + o)
        }
        Keyword::RtpstreamVideoPort(o) => push_num(out, i64::from(env.media_port) + 2 + o),
        Keyword::Transport => out.extend_from_slice(env.transport.keyword().as_bytes()),
        Keyword::Pid => push_num(out, i64::from(env.pid)),
        Keyword::SippVersion => {
            out.extend_from_slice(concat!("gossipper ", env!("CARGO_PKG_VERSION")).as_bytes())
        }
        Keyword::TdmMap => out.extend_from_slice(b"0.0.0/0"),
        Keyword::File(bytes) => out.extend_from_slice(bytes),
        Keyword::Generic(name) => {
            if let Some((_, v)) = env.keys.iter().find(|(k, _)| k == name) {
                out.extend_from_slice(v.as_bytes());
            }
        }
        _ => return false,
    }
    true
}

/// `t` with the keywords that are the same for every call of this shard
/// ([`render_run_constant`]) written into its literal runs, adjacent runs merged: the
/// built-in uac's INVITE goes from 49 segments to 17, and each segment is a branch and a
/// copy on every send. Rendering the result gives the same bytes as rendering `t`, with
/// two exceptions kept out: `[local_port]`, `[local_ip]` and `[local_ip_type]` when calls
/// may get sockets of their own (`per_call_ports`: `-t un`, `-t ui`), and any constant after a keyword that may drop its line
/// (`[last_*]`, `[routes]`, `[authentication]`) on the same line, because a dropped line
/// is cut at the next literal's line end.
pub(crate) fn fold_run_constants(t: &Template, env: &super::Env, per_call_ports: bool) -> Template {
    let mut segments = Vec::with_capacity(t.segments.len());
    let mut run: Vec<u8> = Vec::new();
    let mut dropper_on_line = false;
    for seg in &t.segments {
        match seg {
            Segment::Literal(bytes) => {
                if bytes.contains(&b'\n') {
                    dropper_on_line = false;
                }
                run.extend_from_slice(bytes);
            }
            Segment::Keyword(k) => {
                // A socket of its own per call (`-t un`, `-t ui`): its port and address
                // are not run constants.
                let own_port = per_call_ports
                    && matches!(
                        k,
                        Keyword::LocalPort(_) | Keyword::LocalIp | Keyword::LocalIpType
                    );
                let foldable = !dropper_on_line && !own_port;
                if foldable && render_run_constant(k, env, &mut run) {
                    continue;
                }
                if matches!(
                    k,
                    Keyword::LastHeader { .. } | Keyword::Routes | Keyword::Authentication(_)
                ) {
                    dropper_on_line = true;
                }
                if !run.is_empty() {
                    segments.push(Segment::Literal(std::mem::take(&mut run).into()));
                }
                segments.push(seg.clone());
            }
        }
    }
    if !run.is_empty() {
        segments.push(Segment::Literal(run.into()));
    }
    Template { segments }
}

/// The method and Request-URI of the (partly rendered) message in `out`.
fn request_line(out: &[u8]) -> (&[u8], &[u8]) {
    // The message being rendered starts after the last blank line of earlier messages;
    // the render buffer holds one message, so its first line is the request line.
    let end = memchr::memchr(b'\n', out).unwrap_or(out.len());
    let line = out.get(..end).unwrap_or(&[]);
    let mut parts = line.split(|&c| c == b' ');
    let method = parts.next().unwrap_or(&[]);
    let uri = parts.next().unwrap_or(&[]);
    (method, uri)
}

/// The peer's address: the run's remote text when the call talks to it (the common
/// case, formatted once per run), else formatted now.
fn push_ip(out: &mut Vec<u8>, dest: std::net::SocketAddr, env: &super::Env) {
    if env.remote == Some(dest) {
        out.extend_from_slice(env.remote_ip_text.as_bytes());
    } else {
        let _ = write!(out, "{}", dest.ip());
    }
}

#[cfg(test)]
mod tests {
    use super::body_len;

    /// The searcher built once agrees with `memmem::find` of CRLF CRLF, then LF LF.
    #[test]
    fn body_len_finds_the_first_blank_line_as_memmem_does() {
        let reference = |m: &[u8]| match memchr::memmem::find(m, b"\r\n\r\n") {
            Some(p) => m.len() - (p + 4),
            None => memchr::memmem::find(m, b"\n\n").map_or(0, |p| m.len() - (p + 2)),
        };
        let cases: [&[u8]; 10] = [
            b"",
            b"\n",
            b"\n\n",
            b"\r\n\r\n",
            b"A\r\nB: 1\r\n\r\nbody",
            b"A\nB: 1\n\nbody\r\n\r\nmore",
            b"A\r\n\r\nx\n\ny",
            b"\r\n\r\r\n\r\n",
            b"no blank line\r\n",
            b"A\n\r\n\r\nb",
        ];
        for m in cases {
            assert_eq!(
                body_len(m),
                reference(m),
                "{:?}",
                String::from_utf8_lossy(m)
            );
        }
        // Every arrangement of CR, LF and x up to five bytes.
        for n in 0..=5u32 {
            for code in 0..3u32.pow(n) {
                let m: Vec<u8> = (0..n)
                    .map(|i| [b'\r', b'\n', b'x'][(code / 3u32.pow(i) % 3) as usize])
                    .collect();
                assert_eq!(body_len(&m), reference(&m), "{m:?}");
            }
        }
    }
}
