//! XML → `Scenario`: walks the element tree, builds commands, resolves labels and runs
//! SIPp's load-time checks.
//!
//! Owns: the element grammar (reference/sipp.md §2; an unknown element is an error, not
//! skipped), command attributes, label resolution, the client/server decision, and the
//! checks SIPp makes at load time (optional recv before send/pause/nop, timewait last,
//! transactions answered, variables referenced twice). Must not: read files (keywords
//! go through `LoadOptions::read_file`), read clocks or touch sockets.
//! Driven by `scenario::load`; helpers live in `dom`, `ctx`, `template`, `keywords`,
//! `actions`.

use std::collections::{HashMap, HashSet};

use super::actions::{self, JumpTable};
use super::ctx::{Ctx, parse_u64};
use super::dom::{self, Node, Source};
use super::error::ScenarioErrorKind;
use super::limits::{Limit, MAX_COMMANDS, work};
use super::model::{
    Command, CommandCommon, CommandKind, Optional, Pause, PauseDuration, Recv, RecvCmd, RecvMatch,
    Role, Scenario, Send, SendCmd, Template,
};
use super::template;
use super::{LoadOptions, ScenarioErrors};

/// Errors reported at most (SIPp stops at the first; we show a screenful).
const MAX_REPORTED: usize = 20;

pub(crate) fn load(
    bytes: &[u8],
    file_name: &str,
    opts: &LoadOptions<'_>,
) -> Result<Scenario, ScenarioErrors> {
    let src = Source::decode(bytes);
    let mut ctx = Ctx::new(&src, file_name, opts);
    let scenario = match dom::parse(&src.text) {
        Ok(root) => Some(build(&mut ctx, &root)),
        Err(e) => {
            let kind = match e.limit {
                Some(limit) => ScenarioErrorKind::Limit(limit),
                None => ScenarioErrorKind::Xml(e.message),
            };
            ctx.error(e.offset, kind);
            None
        }
    };
    match scenario {
        Some(s) if !ctx.has_errors() => Ok(s),
        _ => Err(ScenarioErrors(ctx.take_errors(MAX_REPORTED))),
    }
}

const COMMANDS: [&str; 8] = [
    "send", "recv", "pause", "timewait", "nop", "label", "sendCmd", "recvCmd",
];

/// Labels and SIPp message numbers of one program (main or `<init>`).
struct Program {
    labels: HashMap<String, usize>,
    message_to_command: Vec<usize>,
}

/// First pass: where every label and every SIPp-numbered message lands.
fn index_program(ctx: &mut Ctx<'_>, nodes: &[&Node]) -> Program {
    let mut labels = HashMap::new();
    let mut message_to_command = Vec::new();
    for (idx, n) in nodes.iter().enumerate() {
        if n.name == "label" {
            if let Some(id) = n.attr("id")
                && labels.insert(id.value.clone(), idx).is_some()
            {
                ctx.error(id.pos, ScenarioErrorKind::DuplicateLabel(id.value.clone()));
            }
        } else {
            message_to_command.push(idx);
        }
    }
    Program {
        labels,
        message_to_command,
    }
}

/// Load-time checks that depend on the order of commands.
#[derive(Default)]
struct Order {
    last_recv_optional: bool,
    timewait_at: Option<usize>,
    /// Every `start_txn`, in file order, with its offset (for the "never answered" check).
    started_txn: Vec<(String, usize)>,
    started_names: HashSet<String>,
    answered_txn: HashSet<String>,
}

impl Order {
    fn started(&self, txn: &str) -> bool {
        work::add(1);
        self.started_names.contains(txn)
    }
}

fn build(ctx: &mut Ctx<'_>, root: &Node) -> Scenario {
    if root.name != "scenario" {
        ctx.error(
            root.pos,
            ScenarioErrorKind::Invalid(format!(
                "the root element must be <scenario>, not <{}>",
                root.name
            )),
        );
    }
    let mut scenario = Scenario {
        name: root
            .attr("name")
            .map(|a| a.value.clone())
            .unwrap_or_default(),
        role: Role::Client,
        commands: Vec::new(),
        init: Vec::new(),
        variables: Vec::new(),
        globals: Vec::new(),
        user_vars: Vec::new(),
        rtd_names: Vec::new(),
        counter_names: Vec::new(),
        response_time_repartition: Vec::new(),
        call_length_repartition: Vec::new(),
        unexp_main: None,
        default_messages: Vec::new(),
        files_referenced: Vec::new(),
        generic_keywords: Vec::new(),
        webrtc: false,
    };
    if let Some(a) = root.attr("webrtc") {
        match a.value.as_str() {
            "true" => scenario.webrtc = true,
            "false" => {}
            _ => ctx.invalid(root, a, "expected true or false"),
        }
    }
    ctx.webrtc = scenario.webrtc;

    // Declarations first, so `<Global>` variables are known wherever they are used.
    for n in &root.children {
        match n.name.as_str() {
            "Global" | "User" | "Reference" => declare(ctx, n, &mut scenario),
            _ => {}
        }
    }

    let main: Vec<&Node> = root
        .children
        .iter()
        .filter(|n| COMMANDS.contains(&n.name.as_str()))
        .collect();
    if let Some(past) = past_command_cap(root, main.len()) {
        ctx.error(past, ScenarioErrorKind::Limit(Limit::Commands));
        return scenario;
    }
    let program = index_program(ctx, &main);
    let mut order = Order::default();
    for n in &root.children {
        match n.name.as_str() {
            name if COMMANDS.contains(&name) => {
                if let Some(cmd) = command(ctx, n, &program, &mut order) {
                    scenario.commands.push(cmd);
                } else {
                    // Keep indices aligned with the first pass even when a step is broken.
                    scenario.commands.push(Command {
                        kind: CommandKind::Nop,
                        common: CommandCommon::default(),
                        pos: ctx.src.pos(n.pos),
                    });
                }
            }
            "init" => scenario.init = init(ctx, n),
            "Global" | "User" | "Reference" => {}
            "DefaultMessage" => {
                let Some(id) = ctx
                    .required(n, "DefaultMessage", "id")
                    .map(|a| a.value.clone())
                else {
                    continue;
                };
                if let Some(t) = send_template(ctx, n, "DefaultMessage") {
                    scenario.default_messages.push((id, t));
                }
            }
            "ResponseTimeRepartition" => {
                scenario.response_time_repartition = repartition(ctx, n, "ResponseTimeRepartition")
            }
            "CallLengthRepartition" => {
                scenario.call_length_repartition = repartition(ctx, n, "CallLengthRepartition")
            }
            other => ctx.error(n.pos, ScenarioErrorKind::UnknownElement(other.to_owned())),
        }
    }
    if let Some(text_at) = root.text_at {
        ctx.error(
            text_at,
            ScenarioErrorKind::Invalid(
                "text outside any element; messages go in <![CDATA[…]]>".into(),
            ),
        );
    }
    if scenario.commands.is_empty() {
        ctx.error(
            root.pos,
            ScenarioErrorKind::Invalid("the scenario has no command".into()),
        );
    }
    for (name, at) in &order.started_txn {
        work::add(1);
        if !order.answered_txn.contains(name) {
            ctx.error(
                *at,
                ScenarioErrorKind::Invalid(format!(
                    "transaction \"{name}\" is started but no <recv response_txn> uses it"
                )),
            );
        }
    }

    scenario.role = role(&scenario.commands);
    scenario.unexp_main = program.labels.get("_unexp.main").copied();
    ctx.check_var_refs();
    scenario.variables = ctx.variable_names();
    scenario.rtd_names = ctx.rtd_names();
    scenario.counter_names = ctx.counter_names();
    scenario.generic_keywords = std::mem::take(&mut ctx.generic_keywords);
    scenario.files_referenced = std::mem::take(&mut ctx.files_referenced);
    scenario
}

/// The offset of the first command past [`MAX_COMMANDS`] in file order (main program and
/// `<init>` together), if there is one. Checked before any command is built.
fn past_command_cap(root: &Node, main: usize) -> Option<usize> {
    let init = || root.children.iter().filter(|n| n.name == "init");
    if main + init().map(|n| n.children.len()).sum::<usize>() <= MAX_COMMANDS {
        return None;
    }
    let mut commands = root.children.iter().flat_map(|n| {
        let own = COMMANDS.contains(&n.name.as_str()).then_some(n);
        let inner = if n.name == "init" {
            &n.children[..]
        } else {
            &[]
        };
        own.into_iter().chain(inner)
    });
    commands.nth(MAX_COMMANDS).map(|n| n.pos)
}

/// Server when the first SIP/3PCC exchange of the main program is a receive (SIPp's
/// `computeSippMode`: labels, pauses and nops do not count).
fn role(commands: &[Command]) -> Role {
    for c in commands {
        match c.kind {
            CommandKind::Recv(_) | CommandKind::RecvCmd(_) => return Role::Server,
            CommandKind::Send(_) | CommandKind::SendCmd(_) => return Role::Client,
            _ => {}
        }
    }
    Role::Client
}

fn declare(ctx: &mut Ctx<'_>, n: &Node, scenario: &mut Scenario) {
    let element: &'static str = match n.name.as_str() {
        "Global" => "Global",
        "User" => "User",
        _ => "Reference",
    };
    let Some(attr) = ctx.required(n, element, "variables") else {
        return;
    };
    let mut at = attr.pos;
    for name in attr.value.split(',') {
        let id = match element {
            "Reference" => ctx.var(name, at),
            _ => ctx.declare_var(name, at),
        };
        match (element, id) {
            ("Global", Some(id)) => scenario.globals.push(id),
            ("User", Some(id)) => scenario.user_vars.push(id),
            _ => {}
        }
        at += name.len() + 1;
    }
}

fn init(ctx: &mut Ctx<'_>, n: &Node) -> Vec<Command> {
    let nodes: Vec<&Node> = n
        .children
        .iter()
        .filter(|c| match c.name.as_str() {
            "nop" | "label" => true,
            other => {
                ctx.error(
                    c.pos,
                    ScenarioErrorKind::Invalid(format!(
                        "<{other}> is not allowed in <init> (only <nop> and <label>)"
                    )),
                );
                false
            }
        })
        .collect();
    let program = index_program(ctx, &nodes);
    let mut order = Order::default();
    nodes
        .iter()
        .map(|c| {
            command(ctx, c, &program, &mut order).unwrap_or_else(|| Command {
                kind: CommandKind::Nop,
                common: CommandCommon::default(),
                pos: ctx.src.pos(c.pos),
            })
        })
        .collect()
}

fn repartition(ctx: &mut Ctx<'_>, n: &Node, element: &'static str) -> Vec<u64> {
    let Some(attr) = ctx.required(n, element, "value") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for part in attr
        .value
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        match parse_u64(part) {
            Some(v) => out.push(v),
            None => {
                ctx.invalid(n, attr, "expected a comma-separated list of milliseconds");
                return Vec::new();
            }
        }
    }
    out
}

/// The CDATA of `<send>` / `<DefaultMessage>`, cleaned as SIPp does and compiled.
fn send_template(ctx: &mut Ctx<'_>, n: &Node, element: &'static str) -> Option<Template> {
    let (raw, at) = cdata(ctx, n, element)?;
    let text = template::send_text(&raw);
    Some(template::compile(ctx, &text, at, &raw))
}

fn cdata(ctx: &mut Ctx<'_>, n: &Node, element: &'static str) -> Option<(String, usize)> {
    if n.cdata.is_empty() {
        ctx.error(
            n.text_at.unwrap_or(n.pos),
            ScenarioErrorKind::Invalid(format!(
                "<{element}> needs its message in a <![CDATA[…]]> section"
            )),
        );
        return None;
    }
    let at = n.cdata.first().map_or(n.pos, |c| c.1);
    Some((n.cdata.iter().map(|c| c.0.as_str()).collect(), at))
}

fn command(ctx: &mut Ctx<'_>, n: &Node, program: &Program, order: &mut Order) -> Option<Command> {
    work::add(1);
    let pos = ctx.src.pos(n.pos);
    let is_label = n.name == "label";
    if let Some(tw) = order.timewait_at
        && !is_label
        && tw != n.pos
    {
        ctx.error(
            n.pos,
            ScenarioErrorKind::Invalid(
                "<timewait> must be the last message of the scenario".into(),
            ),
        );
    }
    if matches!(
        n.name.as_str(),
        "send" | "pause" | "timewait" | "nop" | "sendCmd"
    ) {
        if order.last_recv_optional {
            ctx.error(
                n.pos,
                ScenarioErrorKind::Invalid(format!(
                    "an optional <recv> comes right before <{}>: at least one <recv> before it must be mandatory",
                    n.name
                )),
            );
        }
        order.last_recv_optional = false;
    }
    let common = common(ctx, n, program, is_label);
    let kind = match n.name.as_str() {
        "send" => CommandKind::Send(send(ctx, n, order)?),
        "recv" => {
            let recv = recv(ctx, n, order)?;
            order.last_recv_optional = recv.optional != Optional::No;
            CommandKind::Recv(recv)
        }
        "pause" => CommandKind::Pause(pause(ctx, n, false)),
        "timewait" => {
            order.timewait_at = Some(n.pos);
            if n.attr("next").is_some() || n.attr("ontimeout").is_some() {
                ctx.error(
                    n.pos,
                    ScenarioErrorKind::Invalid("<timewait> cannot have next= or ontimeout=".into()),
                );
            }
            CommandKind::Pause(pause(ctx, n, true))
        }
        "nop" => CommandKind::Nop,
        "label" => CommandKind::Label(ctx.required(n, "label", "id")?.value.clone()),
        "sendCmd" => {
            let (raw, at) = cdata(ctx, n, "sendCmd")?;
            let (text, _) = template::clean_cdata(&raw);
            CommandKind::SendCmd(SendCmd {
                template: template::compile(ctx, &text, at, &raw),
                dest: n.attr("dest").map(|a| a.value.clone()),
            })
        }
        _ => {
            order.last_recv_optional = false;
            CommandKind::RecvCmd(RecvCmd {
                src: n.attr("src").map(|a| a.value.clone()),
            })
        }
    };
    Some(Command { kind, common, pos })
}

fn common(ctx: &mut Ctx<'_>, n: &Node, program: &Program, is_label: bool) -> CommandCommon {
    let mut c = CommandCommon {
        next: label_ref(ctx, n, "next", program),
        test: ctx.var_attr(n, "test"),
        chance: None,
        condexec: ctx.var_attr(n, "condexec"),
        condexec_inverse: ctx.flag(n, "condexec_inverse"),
        ontimeout: label_ref(ctx, n, "ontimeout", program),
        start_rtd: n
            .attr("start_rtd")
            .map(|a| ctx.rtds(&a.value, a.pos))
            .unwrap_or_default(),
        rtd: n
            .attr("rtd")
            .map(|a| ctx.rtds(&a.value, a.pos))
            .unwrap_or_default(),
        repeat_rtd: ctx.flag(n, "repeat_rtd"),
        counter: n.attr("counter").and_then(|a| ctx.counter(&a.value, a.pos)),
        crlf: ctx.flag(n, "crlf"),
        display: n.attr("display").map(|a| a.value.clone()),
        hide: ctx.flag(n, "hide"),
        hiderest: ctx.flag(n, "hiderest"),
        lost_percent: ctx.f64_attr(n, "lost"),
        actions: Vec::new(),
    };
    if let Some(p) = ctx.f64_attr(n, "chance") {
        if (0.0..=1.0).contains(&p) {
            c.chance = Some(p);
        } else if let Some(attr) = n.attr("chance") {
            ctx.invalid(n, attr, "a probability between 0 and 1");
        }
    }
    if let (Some(lost), Some(attr)) = (c.lost_percent, n.attr("lost"))
        && !(0.0..=100.0).contains(&lost)
    {
        ctx.invalid(n, attr, "a percentage between 0 and 100");
    }
    if c.repeat_rtd && c.rtd.is_empty() {
        ctx.error(
            n.pos,
            ScenarioErrorKind::Invalid("repeat_rtd needs rtd= on the same element".into()),
        );
    }
    let jumps = JumpTable {
        labels: &program.labels,
        message_to_command: &program.message_to_command,
    };
    for child in &n.children {
        match child.name.as_str() {
            "action" if !is_label => actions::parse(ctx, child, &jumps, &mut c.actions),
            other => ctx.error(
                child.pos,
                ScenarioErrorKind::UnknownElement(format!("{other} (inside <{}>)", n.name)),
            ),
        }
    }
    c
}

fn label_ref(ctx: &mut Ctx<'_>, n: &Node, name: &str, program: &Program) -> Option<usize> {
    let attr = n.attr(name)?;
    match program.labels.get(attr.value.as_str()) {
        Some(&idx) => Some(idx),
        None => {
            ctx.error(
                attr.pos,
                ScenarioErrorKind::UndefinedLabel(attr.value.clone()),
            );
            None
        }
    }
}

fn send(ctx: &mut Ctx<'_>, n: &Node, order: &mut Order) -> Option<Send> {
    let template = send_template(ctx, n, "send")?;
    let (method, status) = template::start_line(&template);
    if let Some(code) = status
        && !(100..700).contains(&code)
    {
        ctx.error(
            n.pos,
            ScenarioErrorKind::Invalid(format!("response code {code} is outside 100..699")),
        );
    }
    let start_txn = n.attr("start_txn").map(|a| a.value.clone());
    let ack_txn = n.attr("ack_txn").map(|a| a.value.clone());
    if status.is_some() && (start_txn.is_some() || ack_txn.is_some()) {
        ctx.error(
            n.pos,
            ScenarioErrorKind::Invalid("a response cannot use start_txn or ack_txn".into()),
        );
    }
    if let Some(t) = &start_txn {
        order.started_txn.push((t.clone(), n.pos));
        order.started_names.insert(t.clone());
    }
    if let Some(t) = &ack_txn
        && !order.started(t)
    {
        ctx.error(
            n.pos,
            ScenarioErrorKind::Invalid(format!(
                "ack_txn=\"{t}\" names no transaction started before"
            )),
        );
    }
    Some(Send {
        template,
        retrans_ms: ctx.u64_attr(n, "retrans"),
        timeout_ms: ctx.u64_attr(n, "timeout"),
        start_txn,
        ack_txn,
        method,
        status,
    })
}

fn recv(ctx: &mut Ctx<'_>, n: &Node, order: &mut Order) -> Option<Recv> {
    let regexp_match = ctx.flag(n, "regexp_match");
    let matcher = match (n.attr("request"), n.attr("response")) {
        (Some(_), Some(_)) => {
            ctx.error(
                n.pos,
                ScenarioErrorKind::Invalid("<recv> takes request= or response=, not both".into()),
            );
            return None;
        }
        (None, None) => {
            ctx.error(
                n.pos,
                ScenarioErrorKind::MissingAttribute {
                    element: "recv",
                    attribute: "request or response",
                },
            );
            return None;
        }
        (Some(a), None) | (None, Some(a)) if regexp_match => {
            if !ctx.regex_allowed(&a.value, a.pos) {
                return None;
            }
            match regex::Regex::new(&a.value) {
                Ok(re) => RecvMatch::Regex {
                    request: a.name == "request",
                    re,
                },
                Err(e) => {
                    ctx.error(
                        a.pos,
                        ScenarioErrorKind::Regex(a.value.clone(), e.to_string()),
                    );
                    return None;
                }
            }
        }
        (Some(a), None) => RecvMatch::Request(a.value.trim().to_owned()),
        (None, Some(a)) => match a.value.trim().parse::<u16>() {
            Ok(code) if (100..700).contains(&code) => RecvMatch::Response(code),
            _ => {
                ctx.invalid(n, a, "a status code 100..699 (or regexp_match=\"true\")");
                return None;
            }
        },
    };
    let optional = match n.attr("optional").map(|a| (a, a.value.as_str())) {
        None | Some((_, "false")) => Optional::No,
        Some((_, "true")) => Optional::Yes,
        Some((_, "global")) => Optional::Global,
        Some((a, _)) => {
            ctx.invalid(n, a, "expected true, false or global");
            Optional::No
        }
    };
    if n.attr("advance_state").is_some() && optional == Optional::No {
        ctx.error(
            n.pos,
            ScenarioErrorKind::Invalid(
                "advance_state is only allowed on an optional <recv>".into(),
            ),
        );
    }
    let response_txn = n.attr("response_txn").map(|a| a.value.clone());
    if let Some(t) = &response_txn {
        if !order.started(t) {
            ctx.error(
                n.pos,
                ScenarioErrorKind::Invalid(format!(
                    "response_txn=\"{t}\" names no transaction started before"
                )),
            );
        }
        order.answered_txn.insert(t.clone());
    }
    Some(Recv {
        matcher,
        optional,
        timeout_ms: ctx.u64_attr(n, "timeout"),
        rrs: ctx.flag(n, "rrs"),
        auth: ctx.flag(n, "auth"),
        response_txn,
        advance_state: ctx.bool_attr(n, "advance_state").unwrap_or(true),
    })
}

fn pause(ctx: &mut Ctx<'_>, n: &Node, timewait: bool) -> Pause {
    let element: &'static str = if timewait { "timewait" } else { "pause" };
    let sanity_check = ctx.bool_attr(n, "sanity_check").unwrap_or(true);
    let duration = if n.attr("variable").is_some() {
        ctx.var_attr(n, "variable")
            .map_or(PauseDuration::Default, PauseDuration::Variable)
    } else if n.attr("distribution").is_some() {
        ctx.distribution(n, element)
            .map_or(PauseDuration::Default, PauseDuration::Distribution)
    } else if let Some(ms) = n.attr("milliseconds") {
        match parse_u64(&ms.value) {
            Some(v) => PauseDuration::Fixed(v),
            None => match ctx.f64_attr(n, "milliseconds") {
                Some(f) if f >= 0.0 => {
                    PauseDuration::Distribution(super::model::Distribution::Fixed(f))
                }
                Some(_) => {
                    ctx.invalid(n, ms, "a pause cannot be negative");
                    PauseDuration::Default
                }
                None => PauseDuration::Default,
            },
        }
    } else if n.attr("min").is_some() || n.attr("max").is_some() {
        // SIPp's old short form: `min=` / `max=` is a uniform distribution.
        match (
            ctx.req_f64(n, element, "min"),
            ctx.req_f64(n, element, "max"),
        ) {
            (Some(min), Some(max)) => {
                PauseDuration::Distribution(super::model::Distribution::Uniform { min, max })
            }
            _ => PauseDuration::Default,
        }
    } else {
        PauseDuration::Default
    };
    Pause {
        duration,
        timewait,
        sanity_check,
    }
}
