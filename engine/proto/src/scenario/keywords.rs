//! `[keyword]` text → `Keyword`: SIPp's keyword table, offsets and parameterised forms.
//!
//! Owns: the list of built-in keyword names (src/message.cpp's table in SIPp, plus the
//! SRTP crypto names of RTPSTREAM builds) and the parameter syntax of `[fieldN …]`,
//! `[file name=…]`, `[fill …]`, `[authentication …]`. Must not: render values (that is
//! `call`). Reads `[file name=…]` through `LoadOptions::files` at load time: each name
//! once, at most `files::MAX_FILE_BYTES` each and `limits::MAX_FILE_CONTENT_BYTES` in all.
//!
//! Lookup order follows SIPp: a `+N`/`-N` offset is split off the name first (except for
//! `authentication` and `tdmmap`), then simple names, then prefixed forms, then `-key`
//! names; anything else is `UnknownKeyword`.

use std::sync::Arc;

use super::ctx::Ctx;
use super::error::ScenarioErrorKind;
use super::limits::{Limit, MAX_FILE_CONTENT_BYTES};
use super::model::{AuthParams, FieldLine, Keyword};
use crate::files::MAX_FILE_BYTES;

pub(super) fn parse(ctx: &mut Ctx<'_>, inner: &str, at: usize) -> Option<Keyword> {
    let (name, offset) = split_offset(inner);
    if let Some(kw) = webrtc(ctx, name, at) {
        return kw;
    }
    if let Some(kw) = simple(name, offset) {
        return Some(kw);
    }
    if is_crypto(name) {
        return Some(Keyword::Crypto {
            name: name.to_owned(),
            offset,
        });
    }
    if let Some(rest) = name.strip_prefix("field") {
        return field(ctx, rest, at);
    }
    if name.starts_with("file") {
        return file(ctx, name, at);
    }
    if let Some(var) = name.strip_prefix('$') {
        return ctx.var(var, at).map(Keyword::Var);
    }
    if name.starts_with("fill") {
        let text = param(name, "text=")
            .filter(|t| !t.is_empty())
            .unwrap_or_else(|| "X".to_owned());
        let var_name = param(name, "variable=").unwrap_or_default();
        return ctx
            .var(&var_name, at)
            .map(|variable| Keyword::Fill { variable, text });
    }
    if let Some(header) = name.strip_prefix("last_") {
        // SIPp copies the whole header line for `[last_Via]` and `[last_Via:]` alike.
        let name = header.strip_suffix(':').unwrap_or(header).trim();
        return Some(Keyword::LastHeader {
            name: name.to_owned(),
            kind: crate::sip::HeaderName::from_bytes(name.as_bytes()),
            value_only: false,
        });
    }
    if name.starts_with("authentication") {
        let aka = ["aka_K=", "aka_OP=", "aka_AMF="]
            .iter()
            .any(|p| param(name, p).is_some());
        return Some(Keyword::Authentication(AuthParams {
            username: param(name, "username=").filter(|u| !u.is_empty()),
            password: param(name, "password=").filter(|p| !p.is_empty()),
            aka,
        }));
    }
    for candidate in [inner, name] {
        if ctx.opts.keys.iter().any(|k| k == candidate) {
            ctx.add_generic_keyword(candidate);
            return Some(Keyword::Generic(candidate.to_owned()));
        }
    }
    ctx.error(at, ScenarioErrorKind::UnknownKeyword(inner.to_owned()));
    None
}

/// `[webrtc_offer]` / `[webrtc_answer]`, and the classic media keywords a WebRTC
/// scenario cannot use (its SDP comes from the bridge). `None`: not one of them;
/// `Some(None)`: refused (the error is recorded).
fn webrtc(ctx: &mut Ctx<'_>, name: &str, at: usize) -> Option<Option<Keyword>> {
    let kw = match name {
        "webrtc_offer" => Keyword::WebrtcOffer,
        "webrtc_answer" => Keyword::WebrtcAnswer,
        "media_port" | "auto_media_port" | "rtpstream_audio_port" | "rtpstream_video_port"
            if ctx.webrtc =>
        {
            ctx.error(
                at,
                ScenarioErrorKind::Invalid(format!(
                    "[{name}] cannot be used in a webrtc=\"true\" scenario: its media goes over \
                     the call's own ICE socket, described by [webrtc_offer] / [webrtc_answer]"
                )),
            );
            return Some(None);
        }
        _ => return None,
    };
    if !ctx.webrtc {
        ctx.error(
            at,
            ScenarioErrorKind::Invalid(format!("[{name}] needs <scenario webrtc=\"true\">")),
        );
        return Some(None);
    }
    Some(Some(kw))
}

/// `cseq+1` → ("cseq", 1). Only the name part (before a space) is searched, and only a
/// sign followed by digits up to the end of the name counts.
fn split_offset(inner: &str) -> (&str, i64) {
    if inner.starts_with("authentication") || inner.starts_with("tdmmap") {
        return (inner, 0);
    }
    let name_len = inner.find(' ').unwrap_or(inner.len());
    let name = &inner[..name_len];
    let Some(sign_at) = name.find(['+', '-']) else {
        return (inner, 0);
    };
    let digits = &name[sign_at + 1..];
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) || name_len != inner.len() {
        return (inner, 0);
    }
    let value: i64 = digits.parse().unwrap_or(i64::MAX);
    let offset = if name.as_bytes().get(sign_at) == Some(&b'-') {
        -value
    } else {
        value
    };
    (&name[..sign_at], offset)
}

fn simple(name: &str, n: i64) -> Option<Keyword> {
    use Keyword as K;
    Some(match name {
        "service" => K::Service,
        "remote_ip" => K::RemoteIp,
        "remote_host" => K::RemoteHost,
        "remote_port" => K::RemotePort(n),
        "local_ip" => K::LocalIp,
        "local_ip_type" => K::LocalIpType,
        "local_port" => K::LocalPort(n),
        "server_ip" => K::ServerIp,
        "media_ip" => K::MediaIp,
        "media_ip_type" => K::MediaIpType,
        "media_port" => K::MediaPort(n),
        "auto_media_port" => K::AutoMediaPort(n),
        "rtpstream_audio_port" => K::RtpstreamAudioPort(n),
        "rtpstream_video_port" => K::RtpstreamVideoPort(n),
        "transport" => K::Transport,
        "branch" => K::Branch(n),
        "call_id" => K::CallId,
        "cseq" => K::Cseq(n),
        "len" => K::Len(n),
        "call_number" => K::CallNumber,
        "dynamic_id" => K::DynamicId(n),
        "pid" => K::Pid,
        "peer_tag_param" => K::PeerTagParam,
        "msg_index" => K::MsgIndex,
        "next_url" => K::NextUrl,
        "routes" => K::Routes,
        "last_Request_URI" => K::LastRequestUri,
        "last_cseq_number" => K::LastCseqNumber(n),
        "last_message" => K::LastMessage,
        "clock_tick" => K::ClockTick(n),
        "timestamp" => K::Timestamp,
        "date" => K::Date,
        "srtp_fingerprint" => K::SrtpFingerprint,
        "srtp_setup" => K::SrtpSetup,
        "users" => K::Users,
        "userid" => K::UserId,
        "sipp_version" => K::SippVersion,
        "tdmmap" => K::TdmMap,
        _ => return None,
    })
}

/// The SRTP keywords of SIPp's RTPSTREAM builds: `cryptotag{1,2}{audio,video}`,
/// `cryptokeyparams…`, `cryptosuite<suite>{1,2}{audio,video}`, `ue<suite>{1,2}{…}`.
fn is_crypto(name: &str) -> bool {
    let Some(stem) = name
        .strip_suffix("audio")
        .or_else(|| name.strip_suffix("video"))
    else {
        return false;
    };
    let Some(stem) = stem.strip_suffix('1').or_else(|| stem.strip_suffix('2')) else {
        return false;
    };
    const SUITES: [&str; 8] = [
        "aescm128sha180",
        "aescm128sha132",
        "aescm192sha180",
        "aescm192sha132",
        "aescm256sha180",
        "aescm256sha132",
        "nullsha180",
        "nullsha132",
    ];
    match stem {
        "cryptotag" | "cryptokeyparams" => true,
        _ => {
            if let Some(suite) = stem.strip_prefix("cryptosuite") {
                SUITES.contains(&suite)
            } else if let Some(suite) = stem.strip_prefix("ue") {
                suite == "aescm128sha180" || suite == "aescm128sha132"
            } else {
                false
            }
        }
    }
}

fn field(ctx: &mut Ctx<'_>, rest: &str, at: usize) -> Option<Keyword> {
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    let Ok(n) = digits.parse::<u32>() else {
        ctx.error(
            at,
            ScenarioErrorKind::UnknownKeyword(format!("field{rest}")),
        );
        return None;
    };
    let file = param(rest, "file=").filter(|f| !f.is_empty());
    if let Some(f) = &file {
        ctx.add_file(f);
    }
    let line = match param(rest, "line=").filter(|l| !l.is_empty()) {
        None => None,
        Some(l) => match l
            .strip_prefix("[$")
            .and_then(|v| v.strip_suffix(']'))
            .or_else(|| l.strip_prefix('$'))
        {
            Some(var) => Some(FieldLine::Var(ctx.var(var, at)?)),
            None => match l.trim().parse::<u32>() {
                Ok(v) => Some(FieldLine::Fixed(v)),
                Err(_) => {
                    ctx.error(
                        at,
                        ScenarioErrorKind::Invalid(format!(
                            "[field{n}] has an invalid line=\"{l}\""
                        )),
                    );
                    return None;
                }
            },
        },
    };
    Some(Keyword::Field { n, file, line })
}

fn file(ctx: &mut Ctx<'_>, name: &str, at: usize) -> Option<Keyword> {
    let Some(file_name) = param(name, "name=").filter(|f| !f.is_empty()) else {
        ctx.error(
            at,
            ScenarioErrorKind::Invalid("[file] needs name=\"…\"".into()),
        );
        return None;
    };
    let read = match ctx.files_read.get(&file_name) {
        Some(done) => done.clone(),
        None => {
            let read = ctx
                .opts
                .files
                .read(std::path::Path::new(&file_name), MAX_FILE_BYTES)
                .map(Arc::<[u8]>::from);
            ctx.file_bytes += read.as_ref().map_or(0, |b| b.len());
            ctx.files_read.insert(file_name.clone(), read.clone());
            if ctx.file_bytes > MAX_FILE_CONTENT_BYTES {
                ctx.error(at, ScenarioErrorKind::Limit(Limit::FileContent));
                return None;
            }
            read
        }
    };
    match read {
        Ok(bytes) => Some(Keyword::File(bytes)),
        Err(e) => {
            ctx.error(
                at,
                ScenarioErrorKind::File {
                    element: "[file]".into(),
                    name: file_name,
                    error: e,
                },
            );
            None
        }
    }
}

/// A keyword parameter `param=value`, `param="quoted"` (backslash escapes) or
/// `param=0x5B07` (hex bytes), found at the start of a word.
fn param(keyword: &str, param: &str) -> Option<String> {
    let start = keyword
        .match_indices(param)
        .map(|(i, _)| i)
        .find(|&i| i == 0 || keyword[..i].ends_with(|c: char| c.is_ascii_whitespace()))?;
    let value = &keyword[start + param.len()..];
    if let Some(hex) = value.strip_prefix("0x") {
        let digits: Vec<u8> = hex.bytes().take_while(u8::is_ascii_hexdigit).collect();
        let bytes: Vec<u8> = digits
            .chunks(2)
            .filter_map(|pair| {
                std::str::from_utf8(pair)
                    .ok()
                    .and_then(|s| u8::from_str_radix(s, 16).ok())
            })
            .collect();
        return Some(String::from_utf8_lossy(&bytes).into_owned());
    }
    if let Some(quoted) = value.strip_prefix('"') {
        let mut out = String::new();
        let mut chars = quoted.chars();
        while let Some(c) = chars.next() {
            match c {
                '"' => break,
                '\\' => match chars.next() {
                    Some(n) => out.push(n),
                    None => break,
                },
                c => out.push(c),
            }
        }
        return Some(out);
    }
    Some(
        value
            .chars()
            .take_while(|&c| c != ']' && c.is_ascii_graphic())
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_split_only_at_the_end_of_the_name() {
        assert_eq!(split_offset("cseq+1"), ("cseq", 1));
        assert_eq!(split_offset("branch-5"), ("branch", -5));
        assert_eq!(split_offset("last_Call-ID:"), ("last_Call-ID:", 0));
        assert_eq!(
            split_offset("field0 file=\"a-1.csv\""),
            ("field0 file=\"a-1.csv\"", 0)
        );
        assert_eq!(
            split_offset("authentication username=a-1"),
            ("authentication username=a-1", 0)
        );
    }

    #[test]
    fn crypto_names_are_recognised() {
        assert!(is_crypto("cryptotag1audio"));
        assert!(is_crypto("cryptosuiteaescm128sha1801video"));
        assert!(is_crypto("ueaescm128sha1322audio"));
        assert!(is_crypto("cryptokeyparams2video"));
        assert!(!is_crypto("cryptosuitefoo1audio"));
        assert!(!is_crypto("cryptotag3audio"));
    }

    #[test]
    fn params_read_bare_quoted_and_hex_values() {
        assert_eq!(
            param("authentication username=joe password=\"a b\"", "password=").as_deref(),
            Some("a b")
        );
        assert_eq!(
            param("authentication username=joe password=x", "username=").as_deref(),
            Some("joe")
        );
        assert_eq!(
            param("fill variable=v text=0x4142", "text=").as_deref(),
            Some("AB")
        );
        assert_eq!(param("field1 file=a.csv", "line="), None);
    }
}
