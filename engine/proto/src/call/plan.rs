//! What a compiled scenario lets each call forget: facts derived once per run from the
//! program, so that an idle call keeps only what a later step will read (issue: ≤ 1 KiB
//! per idle call).
//!
//! Owns: the analysis. Must not: hold per-call state. Built by the shard from the
//! `Scenario` and lent to calls through `ShardCx`.

use crate::scenario::{
    Action, Command, CommandKind, FieldLine, Keyword, Optional, Scenario, SearchIn, Segment,
    Template,
};

/// Per-run facts about the program.
#[derive(Clone, Debug, Default)]
pub struct Plan {
    /// `keep_last_recv[pc]`: while a call waits at `pc`, may a step read the last
    /// received message before another received message replaces it?
    keep_last_recv: Vec<bool>,
    /// `rerenders[i]`: the send at step `i` puts the same bytes on the wire whenever a
    /// call renders it again later (given the `[cseq]` it had), so the ACK it sends is
    /// rendered again for a repeated 2xx instead of being kept (RFC 3261 §13.2.2.4).
    rerenders: Vec<bool>,
    /// Whether any recv is `optional="global"` (else the global search is skipped).
    pub has_global_recv: bool,
    /// `sends[i]`: the send at step `i` with this shard's run constants folded into its
    /// literals (`render::fold_run_constants`); empty until `fold_sends` runs.
    sends: Vec<Option<Template>>,
}

/// Whether rendering `t` reads the last message received (its last-message keywords,
/// and the authentication keyword).
pub(super) fn template_reads_last(t: &Template) -> bool {
    t.segments.iter().any(|s| {
        matches!(
            s,
            Segment::Keyword(
                Keyword::LastHeader { .. }
                    | Keyword::LastRequestUri
                    | Keyword::LastCseqNumber(_)
                    | Keyword::LastMessage
                    | Keyword::Authentication(_)
            )
        )
    })
}

fn action_reads_last(a: &Action) -> bool {
    match a {
        Action::Ereg(e) => !matches!(e.search_in, SearchIn::Var(_)),
        Action::VerifyAuth { .. } => true,
        Action::Log(t) | Action::Warning(t) | Action::Error(t) | Action::ExecCommand(t) => {
            template_reads_last(t)
        }
        Action::AssignStr { value, .. } | Action::Insert { value, .. } => {
            template_reads_last(value)
        }
        Action::Lookup { key, .. } => template_reads_last(key),
        Action::Replace { line, value, .. } => {
            template_reads_last(line) || template_reads_last(value)
        }
        Action::SetDest {
            host,
            port,
            protocol,
        } => {
            template_reads_last(host) || template_reads_last(port) || template_reads_last(protocol)
        }
        _ => false,
    }
}

/// Whether running `cmd` (not as a recv that just stored a new message) reads the stored
/// last message.
fn command_reads_last(cmd: &Command) -> bool {
    let own = match &cmd.kind {
        CommandKind::Send(s) => template_reads_last(&s.template),
        CommandKind::SendCmd(c) => template_reads_last(&c.template),
        _ => false,
    };
    let actions = !matches!(cmd.kind, CommandKind::Recv(_))
        && cmd.common.actions.iter().any(action_reads_last);
    own || actions
}

fn has_action_jump(cmd: &Command) -> bool {
    cmd.common
        .actions
        .iter()
        .any(|a| matches!(a, Action::Jump(_)))
}

impl Plan {
    pub fn new(sc: &Scenario) -> Plan {
        let n = sc.commands.len();
        // Jumps computed at run time (action jumps, _unexp.main) can land anywhere: keep
        // everything then.
        let dynamic = sc.unexp_main.is_some() || sc.commands.iter().any(has_action_jump);
        let keep_last_recv = (0..n)
            .map(|pc| dynamic || reads_before_overwrite(sc, pc))
            .collect();
        let has_global_recv = sc
            .commands
            .iter()
            .any(|c| matches!(&c.kind, CommandKind::Recv(r) if r.optional == Optional::Global));
        let dest_stable = !sc.commands.iter().any(|c| {
            c.common
                .actions
                .iter()
                .any(|a| matches!(a, Action::SetDest { .. }))
        });
        let rerenders = (0..n)
            .map(|i| match sc.commands.get(i).map(|c| &c.kind) {
                Some(CommandKind::Send(s)) => {
                    // The route set changes only at a recv with rrs="true".
                    let routes_stable = !reachable_from(sc, i + 1, dynamic)
                        .iter()
                        .zip(&sc.commands)
                        .any(|(r, c)| *r && matches!(&c.kind, CommandKind::Recv(r) if r.rrs));
                    s.template.segments.iter().all(|seg| match seg {
                        Segment::Literal(_) => true,
                        Segment::Keyword(k) => keyword_is_stable(k, routes_stable, dest_stable),
                    })
                }
                _ => false,
            })
            .collect();
        Plan {
            keep_last_recv,
            rerenders,
            has_global_recv,
            sends: Vec::new(),
        }
    }

    /// Folds this shard's run constants into every send's template, once, when the shard
    /// is set up (`per_call_ports`: calls may get local ports of their own, `-t un`).
    pub fn fold_sends(&mut self, sc: &Scenario, env: &super::Env, per_call_ports: bool) {
        self.sends = sc
            .commands
            .iter()
            .map(|c| match &c.kind {
                CommandKind::Send(s) => Some(super::render::fold_run_constants(
                    &s.template,
                    env,
                    per_call_ports,
                )),
                _ => None,
            })
            .collect();
    }

    /// The send at step `i` as `fold_sends` left it, or `original` before it ran.
    pub fn send_template<'a>(&'a self, i: usize, original: &'a Template) -> &'a Template {
        match self.sends.get(i) {
            Some(Some(t)) => t,
            _ => original,
        }
    }

    /// See `rerenders`; false for an index it does not know.
    pub fn rerenders(&self, pc: usize) -> bool {
        self.rerenders.get(pc).copied().unwrap_or(false)
    }

    /// See `keep_last_recv`; true for an index it does not know.
    pub fn keep_last_recv(&self, pc: usize) -> bool {
        self.keep_last_recv.get(pc).copied().unwrap_or(true)
    }
}

/// Whether a keyword renders the same value for a call every time. `routes_stable`: no
/// later step changes the route set; `dest_stable`: no step changes the peer. The peer's
/// tag counts as stable: it names the dialog (RFC 3261 §12), and a repeated 2xx is
/// absorbed without changing it.
fn keyword_is_stable(k: &Keyword, routes_stable: bool, dest_stable: bool) -> bool {
    match k {
        Keyword::Service
        | Keyword::LocalIp
        | Keyword::LocalIpType
        | Keyword::LocalPort(_)
        | Keyword::ServerIp
        | Keyword::MediaIp
        | Keyword::MediaIpType
        | Keyword::MediaPort(_)
        | Keyword::AutoMediaPort(_)
        | Keyword::RtpstreamAudioPort(_)
        | Keyword::RtpstreamVideoPort(_)
        | Keyword::Transport
        | Keyword::Branch(_)
        | Keyword::CallId
        | Keyword::Cseq(_)
        | Keyword::Len(_)
        | Keyword::CallNumber
        | Keyword::Pid
        | Keyword::PeerTagParam
        | Keyword::MsgIndex
        | Keyword::Users
        | Keyword::UserId
        | Keyword::SippVersion
        | Keyword::TdmMap
        | Keyword::File(_)
        | Keyword::Generic(_)
        | Keyword::Crypto { .. }
        // Made once per call and kept: a retransmission carries the same SDP.
        | Keyword::WebrtcOffer
        | Keyword::WebrtcAnswer
        | Keyword::SrtpFingerprint
        | Keyword::SrtpSetup => true,
        Keyword::RemoteIp | Keyword::RemoteHost | Keyword::RemotePort(_) => dest_stable,
        Keyword::NextUrl | Keyword::Routes => routes_stable,
        Keyword::Field { line, .. } => !matches!(line, Some(FieldLine::Var(_))),
        Keyword::DynamicId(_)
        | Keyword::LastRequestUri
        | Keyword::LastCseqNumber(_)
        | Keyword::LastMessage
        | Keyword::LastHeader { .. }
        | Keyword::ClockTick(_)
        | Keyword::Timestamp
        | Keyword::Date
        | Keyword::Var(_)
        | Keyword::Fill { .. }
        | Keyword::Authentication(_) => false,
    }
}

/// The steps a call may run from `start` on (every step when jumps are computed at run
/// time).
fn reachable_from(sc: &Scenario, start: usize, dynamic: bool) -> Vec<bool> {
    let n = sc.commands.len();
    if dynamic {
        return vec![true; n];
    }
    let mut seen = vec![false; n];
    let mut stack = vec![start];
    while let Some(pc) = stack.pop() {
        let Some(cmd) = sc.commands.get(pc) else {
            continue;
        };
        if std::mem::replace(&mut seen[pc], true) {
            continue;
        }
        stack.push(pc + 1);
        stack.extend(cmd.common.next);
        stack.extend(cmd.common.ontimeout);
    }
    seen
}

/// Walks every path from `start` until a mandatory recv (which replaces the message) and
/// reports whether a step on the way reads the stored message.
fn reads_before_overwrite(sc: &Scenario, start: usize) -> bool {
    let mut stack = vec![start];
    let mut seen = vec![false; sc.commands.len() + 1];
    while let Some(mut pc) = stack.pop() {
        while let Some(cmd) = sc.commands.get(pc) {
            if std::mem::replace(&mut seen[pc], true) {
                break;
            }
            if command_reads_last(cmd) {
                return true;
            }
            if let Some(t) = cmd.common.ontimeout {
                stack.push(t);
            }
            if let Some(t) = cmd.common.next {
                stack.push(t);
            }
            if let CommandKind::Recv(r) = &cmd.kind
                && r.optional == Optional::No
            {
                break;
            }
            pc += 1;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn builtin(name: &str) -> Scenario {
        let b = crate::scenario::builtin::get(name).unwrap();
        crate::scenario::load(b.xml.as_bytes(), name, &Default::default()).unwrap()
    }

    #[test]
    fn uac_forgets_the_200_while_it_pauses() {
        let p = Plan::new(&builtin("uac"));
        // 0 INVITE, 1-3 optional provisionals, 4 200, 5 ACK, 6 pause, 7 BYE, 8 200.
        assert!(!p.keep_last_recv(6), "the BYE reads no [last_*] keyword");
    }

    #[test]
    fn uas_keeps_the_invite_until_its_answers_are_rendered() {
        let p = Plan::new(&builtin("uas"));
        // 0 recv INVITE, 1 send 180 ([last_Via:] …).
        assert!(p.keep_last_recv(1));
        // Waiting for BYE at 4: the 200 to BYE reads the BYE, which replaces the ACK.
        assert!(!p.keep_last_recv(4));
    }

    #[test]
    fn the_uac_ack_is_rendered_again_instead_of_kept() {
        let p = Plan::new(&builtin("uac"));
        assert!(p.rerenders(5), "the ACK reads only stable keywords");
        let p = Plan::new(&builtin("uas"));
        assert!(!p.rerenders(1), "the 180 reads [last_*] keywords");
    }

    #[test]
    fn an_ack_reading_a_variable_or_a_later_route_set_is_kept() {
        let sc = builtin("regexp");
        let p = Plan::new(&sc);
        let ack = sc
            .commands
            .iter()
            .position(
                |c| matches!(&c.kind, CommandKind::Send(s) if s.method.as_deref() == Some("ACK")),
            )
            .expect("regexp sends an ACK");
        assert!(!p.rerenders(ack), "its ACK echoes regexp captures");
    }
}
