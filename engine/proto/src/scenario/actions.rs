//! `<action>` children → `Action`s, with SIPp's attribute names.
//!
//! Owns: one function per action element, regexp compilation for `ereg` (POSIX ERE
//! semantics as SIPp uses them: `.` matches a newline, no implicit anchoring).
//! Must not: run actions (that is `call`). Labels for `jump` are resolved through the
//! table `loader` passes in.

use std::collections::HashMap;

use super::ctx::Ctx;
use super::dom::{Attr, Node};
use super::error::ScenarioErrorKind;
use super::model::{
    Action, Compare, Ereg, IntCmd, JumpTarget, MediaAction, Operand, SearchIn, StrOperand,
    Template, VarId,
};
use super::template;

/// What `jump value=` may refer to: labels, and SIPp message numbers (labels excluded).
pub(super) struct JumpTable<'t> {
    pub(super) labels: &'t HashMap<String, usize>,
    /// SIPp's message index → our command index.
    pub(super) message_to_command: &'t [usize],
}

/// Every action inside one `<action>` element.
pub(super) fn parse(
    ctx: &mut Ctx<'_>,
    action: &Node,
    jumps: &JumpTable<'_>,
    out: &mut Vec<Action>,
) {
    for node in &action.children {
        if let Some(a) = one(ctx, node, jumps, out) {
            out.push(a);
        }
    }
}

/// Parses one action; media `exec`s with several attributes push extra actions to `out`.
fn one(
    ctx: &mut Ctx<'_>,
    n: &Node,
    jumps: &JumpTable<'_>,
    out: &mut Vec<Action>,
) -> Option<Action> {
    Some(match n.name.as_str() {
        "ereg" => Action::Ereg(ereg(ctx, n)?),
        "log" => Action::Log(tmpl(ctx, n, "log", "message")?),
        "warning" => Action::Warning(tmpl(ctx, n, "warning", "message")?),
        "error" => Action::Error(tmpl(ctx, n, "error", "message")?),
        "exec" => return exec(ctx, n, out),
        "assign" => {
            let var = assign_to(ctx, n, "assign")?;
            match n.attr("value") {
                Some(_) => Action::Assign {
                    var,
                    value: ctx.f64_attr(n, "value")?,
                },
                None => Action::AssignVar {
                    var,
                    source: ctx.req_var(n, "assign", "variable")?,
                },
            }
        }
        "assignstr" => Action::AssignStr {
            var: assign_to(ctx, n, "assignstr")?,
            value: tmpl(ctx, n, "assignstr", "value")?,
        },
        "add" => Action::Add {
            var: assign_to(ctx, n, "add")?,
            operand: operand(ctx, n, "add")?,
        },
        "subtract" => Action::Subtract {
            var: assign_to(ctx, n, "subtract")?,
            operand: operand(ctx, n, "subtract")?,
        },
        "multiply" => Action::Multiply {
            var: assign_to(ctx, n, "multiply")?,
            operand: operand(ctx, n, "multiply")?,
        },
        "divide" => Action::Divide {
            var: assign_to(ctx, n, "divide")?,
            operand: operand(ctx, n, "divide")?,
        },
        "sample" => Action::Sample {
            var: assign_to(ctx, n, "sample")?,
            distribution: ctx.distribution(n, "sample")?,
        },
        "todouble" => Action::ToDouble {
            var: assign_to(ctx, n, "todouble")?,
            source: ctx.req_var(n, "todouble", "variable")?,
        },
        "test" => {
            let var = assign_to(ctx, n, "test")?;
            let left = ctx.req_var(n, "test", "variable")?;
            let compare = compare(ctx, n)?;
            let right = match n.attr("value") {
                Some(_) => Operand::Value(ctx.f64_attr(n, "value")?),
                None => Operand::Var(ctx.req_var(n, "test", "variable2")?),
            };
            Action::Test {
                var,
                left,
                compare,
                right,
            }
        }
        "strcmp" => {
            let var = assign_to(ctx, n, "strcmp")?;
            let left = ctx.req_var(n, "strcmp", "variable")?;
            let right = match n.attr("value") {
                Some(v) => StrOperand::Value(v.value.clone()),
                None => StrOperand::Var(ctx.req_var(n, "strcmp", "variable2")?),
            };
            Action::Strcmp { var, left, right }
        }
        "trim" => Action::Trim {
            var: assign_to(ctx, n, "trim")?,
        },
        "urlencode" => Action::UrlEncode {
            var: assign_to(ctx, n, "urlencode")?,
        },
        "urldecode" => Action::UrlDecode {
            var: assign_to(ctx, n, "urldecode")?,
        },
        "jump" => Action::Jump(jump(ctx, n, jumps)?),
        "gettimeofday" => {
            let attr = ctx.required(n, "gettimeofday", "assign_to")?;
            let vars = ctx.var_list(attr);
            let mut it = vars.into_iter();
            Action::GetTimeOfDay {
                sec: it.next()?,
                usec: it.next(),
            }
        }
        "lookup" => {
            let var = assign_to(ctx, n, "lookup")?;
            let file = ctx.required(n, "lookup", "file")?.value.clone();
            ctx.add_file(&file);
            Action::Lookup {
                var,
                file,
                key: tmpl(ctx, n, "lookup", "key")?,
            }
        }
        "insert" => {
            let file = ctx.required(n, "insert", "file")?.value.clone();
            ctx.add_file(&file);
            Action::Insert {
                file,
                value: tmpl(ctx, n, "insert", "value")?,
            }
        }
        "replace" => {
            let file = ctx.required(n, "replace", "file")?.value.clone();
            ctx.add_file(&file);
            Action::Replace {
                file,
                line: tmpl(ctx, n, "replace", "line")?,
                value: tmpl(ctx, n, "replace", "value")?,
            }
        }
        "setdest" => Action::SetDest {
            host: tmpl(ctx, n, "setdest", "host")?,
            port: tmpl(ctx, n, "setdest", "port")?,
            protocol: tmpl(ctx, n, "setdest", "protocol")?,
        },
        "verifyauth" => Action::VerifyAuth {
            var: assign_to(ctx, n, "verifyauth")?,
            username: tmpl(ctx, n, "verifyauth", "username")?,
            password: tmpl(ctx, n, "verifyauth", "password")?,
        },
        "closecon" => Action::CloseCon,
        "pauserestore" => Action::PauseRestore,
        other => {
            ctx.error(n.pos, ScenarioErrorKind::UnknownAction(other.to_owned()));
            return None;
        }
    })
}

fn assign_to(ctx: &mut Ctx<'_>, n: &Node, element: &'static str) -> Option<VarId> {
    let attr = ctx.required(n, element, "assign_to")?;
    if attr.value.contains(',') {
        ctx.invalid(n, attr, "this action assigns one variable");
        return None;
    }
    ctx.var(&attr.value, attr.pos)
}

fn operand(ctx: &mut Ctx<'_>, n: &Node, element: &'static str) -> Option<Operand> {
    match n.attr("value") {
        Some(_) => Some(Operand::Value(ctx.f64_attr(n, "value")?)),
        None => Some(Operand::Var(ctx.req_var(n, element, "variable")?)),
    }
}

/// An attribute whose value is a template (keywords allowed, no CDATA clean-up).
fn tmpl(
    ctx: &mut Ctx<'_>,
    n: &Node,
    element: &'static str,
    name: &'static str,
) -> Option<Template> {
    let attr = ctx.required(n, element, name)?;
    Some(template::compile(ctx, &attr.value, attr.pos, &attr.value))
}

fn compare(ctx: &mut Ctx<'_>, n: &Node) -> Option<Compare> {
    let attr = ctx.required(n, "test", "compare")?;
    Some(match attr.value.as_str() {
        "equal" => Compare::Equal,
        "not_equal" => Compare::NotEqual,
        "greater_than" => Compare::GreaterThan,
        "less_than" => Compare::LessThan,
        "greater_than_equal" => Compare::GreaterThanEqual,
        "less_than_equal" => Compare::LessThanEqual,
        _ => {
            ctx.invalid(n, attr, "expected equal, not_equal, greater_than, less_than, greater_than_equal or less_than_equal");
            return None;
        }
    })
}

fn ereg(ctx: &mut Ctx<'_>, n: &Node) -> Option<Ereg> {
    let source = ctx.required(n, "ereg", "regexp")?.value.clone();
    let case_indep = ctx.flag(n, "case_indep");
    let search_in = match n
        .attr("search_in")
        .map(|a| a.value.as_str())
        .unwrap_or("msg")
    {
        "msg" => SearchIn::Msg,
        "body" => SearchIn::Body,
        "hdr" => {
            let header = ctx.required(n, "ereg", "header")?;
            // SIPp writes `header="From:"` (sometimes "From: "); keep the bare name.
            let name = header.value.trim().trim_end_matches(':').trim_end();
            if name.is_empty() {
                ctx.invalid(n, header, "empty header name");
                return None;
            }
            SearchIn::Hdr(name.to_owned())
        }
        "var" => SearchIn::Var(ctx.req_var(n, "ereg", "variable")?),
        _ => {
            if let Some(attr) = n.attr("search_in") {
                ctx.invalid(n, attr, "expected msg, hdr, body or var");
            }
            return None;
        }
    };
    let occurrence = match ctx.u64_attr(n, "occurrence") {
        Some(0) | None => 1,
        Some(v) => u32::try_from(v).unwrap_or(u32::MAX),
    };
    let assign_to = match n.attr("assign_to") {
        Some(attr) => ctx.var_list(attr),
        None => Vec::new(),
    };
    let at = n.attr("regexp").map_or(n.pos, |a| a.pos);
    if !ctx.regex_allowed(&source, at) {
        return None;
    }
    let regex = match regex::bytes::RegexBuilder::new(&source)
        .case_insensitive(case_indep)
        .dot_matches_new_line(true)
        .unicode(false)
        .build()
    {
        Ok(re) => re,
        Err(e) => {
            ctx.error(at, ScenarioErrorKind::Regex(source, e.to_string()));
            return None;
        }
    };
    Some(Ereg {
        regex,
        source,
        search_in,
        check_it: ctx.flag(n, "check_it"),
        check_it_inverse: ctx.flag(n, "check_it_inverse"),
        assign_to,
        occurrence,
        case_indep,
        start_line: ctx.flag(n, "start_line"),
    })
}

/// The media verbs `<exec>` hands to the media layer as they are.
const MEDIA_VERBS: [&str; 9] = [
    "play_pcap_audio",
    "play_pcap_video",
    "play_pcap_image",
    "rtp_stream",
    "rtp_echo",
    "play_dtmf",
    "rtpcheck",
    "rtp_record",
    "send_dtmf",
];

fn exec(ctx: &mut Ctx<'_>, n: &Node, out: &mut Vec<Action>) -> Option<Action> {
    let mut found = Vec::new();
    for attr in &n.attrs {
        let action = match attr.name.as_str() {
            "command" => {
                Action::ExecCommand(template::compile(ctx, &attr.value, attr.pos, &attr.value))
            }
            "int_cmd" => Action::IntCmd(match attr.value.as_str() {
                "stop_call" => IntCmd::StopCall,
                "stop_gracefully" => IntCmd::StopGracefully,
                "stop_now" => IntCmd::StopNow,
                _ => {
                    ctx.invalid(n, attr, "expected stop_call, stop_gracefully or stop_now");
                    continue;
                }
            }),
            verb if MEDIA_VERBS.contains(&verb)
                && ctx.webrtc
                && !super::media::parse(verb, &attr.value).is_ok_and(|c| c.runs_over_webrtc()) =>
            {
                ctx.error(
                    attr.pos,
                    ScenarioErrorKind::Invalid(format!(
                        "<exec {verb}=\"{}\"> cannot run on a WebRTC call (webrtc=\"true\"): its audio \
                         is DTLS-SRTP through the call's bridge, a G.711 tone (or Opus silence); \
                         send_dtmf, rtpcheck, rtp_stream of a G.711 file or WAV (payload type 0 or 8) \
                         and rtp_stream=\"synthetic|pause|resume|stop\" work there",
                        attr.value
                    )),
                );
                continue;
            }
            verb if MEDIA_VERBS.contains(&verb) => {
                let command = super::media::parse(verb, &attr.value);
                if let Ok(cmd) = &command {
                    check_media_file(ctx, verb, attr, cmd);
                }
                Action::Media(std::sync::Arc::new(MediaAction {
                    verb: verb.to_owned(),
                    argument: attr.value.clone(),
                    pos: ctx.src.pos(attr.pos),
                    command,
                }))
            }
            _ => {
                ctx.error(
                    attr.pos,
                    ScenarioErrorKind::UnknownAction(format!("exec {}", attr.name)),
                );
                continue;
            }
        };
        found.push(action);
    }
    if found.is_empty() && n.attrs.is_empty() {
        ctx.error(
            n.pos,
            ScenarioErrorKind::MissingAttribute {
                element: "exec",
                attribute: "command, int_cmd or a media verb",
            },
        );
    }
    let last = found.pop();
    out.extend(found);
    last
}

/// The file a media verb reads or writes must pass the run's file rule (a job of the
/// master: a relative name without `..`). Only the name is checked here; the media
/// library checks the file itself when the run is prepared. An argument that does not
/// parse is left to that step too, which names the verb and the reason.
fn check_media_file(ctx: &mut Ctx<'_>, verb: &str, attr: &Attr, cmd: &super::media::MediaCommand) {
    if let Some((file, _)) = cmd.file()
        && let Err(e) = ctx.opts.files.rule().check_name(std::path::Path::new(file))
    {
        ctx.error(
            attr.pos,
            ScenarioErrorKind::File {
                element: format!("<exec {verb}>"),
                name: file.to_owned(),
                error: e,
            },
        );
    }
}

fn jump(ctx: &mut Ctx<'_>, n: &Node, jumps: &JumpTable<'_>) -> Option<JumpTarget> {
    if let Some(attr) = n.attr("value") {
        let v = attr.value.trim();
        if let Some(&idx) = jumps.labels.get(v) {
            return Some(JumpTarget::Index(idx));
        }
        // SIPp numbers messages without labels; translate to our command index.
        return match super::ctx::parse_u64(v).and_then(|i| usize::try_from(i).ok()) {
            Some(sipp_index) => match jumps.message_to_command.get(sipp_index) {
                Some(&idx) => Some(JumpTarget::Index(idx)),
                None => {
                    ctx.invalid(n, attr, "no message with this index");
                    None
                }
            },
            None => {
                ctx.error(attr.pos, ScenarioErrorKind::UndefinedLabel(v.to_owned()));
                None
            }
        };
    }
    Some(JumpTarget::Var(ctx.req_var(n, "jump", "variable")?))
}
