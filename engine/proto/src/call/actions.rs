//! `<action>` children: ereg, arithmetic, tests, logs, jumps, lookups, auth checks.
//!
//! Owns: what each action does to a call's variables. Must not: send messages or read
//! clocks (gettimeofday reads `ShardCx::wall`). Run by `Call::complete_step`.

use super::vars::Value;
use super::{Call, ShardCx, ShardEvent, digest, render};
use crate::rng::Rng;
use crate::scenario::{
    Action, Compare, Distribution, Ereg, IntCmd, JumpTarget, Operand, SearchIn, StrOperand, VarId,
};
use crate::sip::SipMessage;
use crate::stats::FailureReason;

/// What the action list asks of the call.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ActionOutcome {
    Continue,
    Fail(FailureReason),
    Jump(usize),
    /// `int_cmd="stop_call"`.
    StopCall,
}

/// Draws one value from a SIPp distribution.
pub fn sample(d: &Distribution, rng: &mut Rng) -> f64 {
    match *d {
        Distribution::Fixed(v) => v,
        Distribution::Uniform { min, max } => min + (max - min) * rng.next_f64(),
        Distribution::Normal { mean, stdev } => mean + stdev * rng.normal(),
        Distribution::LogNormal { mean, stdev } => (mean + stdev * rng.normal()).exp(),
        Distribution::Exponential { mean } => -mean * (1.0 - rng.next_f64()).ln(),
        Distribution::Weibull { lambda, k } => {
            lambda * (-(1.0 - rng.next_f64()).ln()).powf(1.0 / k.max(f64::MIN_POSITIVE))
        }
        Distribution::Pareto { k, xm } => {
            xm / (1.0 - rng.next_f64()).powf(1.0 / k.max(f64::MIN_POSITIVE))
        }
        Distribution::GPareto {
            shape,
            scale,
            location,
        } => {
            let u = 1.0 - rng.next_f64();
            if shape == 0.0 {
                location - scale * u.ln()
            } else {
                location + scale * (u.powf(-shape) - 1.0) / shape
            }
        }
        Distribution::Gamma { k, theta } => {
            // Sum of exponentials for integer-ish k; good enough for pause lengths.
            let n = k.round().max(1.0) as u32;
            (0..n).map(|_| -theta * (1.0 - rng.next_f64()).ln()).sum()
        }
        Distribution::NegBin { p, n } => {
            let n = n.round().max(1.0) as u32;
            let mut failures = 0.0;
            let mut successes = 0;
            let p = p.clamp(1e-9, 1.0);
            while successes < n && failures < 1e6 {
                if rng.next_f64() < p {
                    successes += 1;
                } else {
                    failures += 1.0;
                }
            }
            failures
        }
    }
}

fn operand(call: &Call, o: &Operand, cx: &ShardCx<'_>) -> f64 {
    match o {
        Operand::Value(v) => *v,
        Operand::Var(v) => call.var(*v, cx).as_f64(),
    }
}

/// Runs `actions` in order; stops at the first that fails or jumps.
pub(super) fn run(call: &mut Call, actions: &[Action], cx: &mut ShardCx<'_>) -> ActionOutcome {
    let mut jump = None;
    for a in actions {
        match run_one(call, a, cx) {
            ActionOutcome::Continue => {}
            ActionOutcome::Jump(t) => jump = Some(t),
            other => return other,
        }
    }
    jump.map_or(ActionOutcome::Continue, ActionOutcome::Jump)
}

fn render_text(call: &Call, t: &crate::scenario::Template, cx: &mut ShardCx<'_>) -> Vec<u8> {
    let mut out = Vec::new();
    render::render(call, t, call.pc, call.started_at, cx, &mut out);
    out
}

fn run_one(call: &mut Call, a: &Action, cx: &mut ShardCx<'_>) -> ActionOutcome {
    match a {
        Action::Ereg(e) => return ereg(call, e, cx),
        Action::Log(t) => {
            let text = String::from_utf8_lossy(&render_text(call, t, cx)).into_owned();
            cx.out.events.push_back(ShardEvent::Log(text));
        }
        Action::Warning(t) => {
            let text = String::from_utf8_lossy(&render_text(call, t, cx)).into_owned();
            cx.shard.stats.counters.warnings += 1;
            cx.out.events.push_back(ShardEvent::Warning(text));
        }
        Action::Error(t) => {
            let text = String::from_utf8_lossy(&render_text(call, t, cx)).into_owned();
            cx.out.events.push_back(ShardEvent::Error(text));
            return ActionOutcome::Fail(FailureReason::ScenarioError);
        }
        Action::IntCmd(c) => match c {
            IntCmd::StopCall => return ActionOutcome::StopCall,
            IntCmd::StopGracefully => cx.out.events.push_back(ShardEvent::StopGracefully),
            IntCmd::StopNow => cx.out.events.push_back(ShardEvent::StopNow),
        },
        Action::ExecCommand(t) => {
            let cmd = String::from_utf8_lossy(&render_text(call, t, cx)).into_owned();
            if cx.run.env.allow_exec_command {
                cx.out.events.push_back(ShardEvent::Exec(cmd));
            } else {
                cx.shard.stats.counters.warnings += 1;
                cx.out.events.push_back(ShardEvent::Warning(format!(
                    "<exec command> refused (run with -allow_exec): {cmd}"
                )));
            }
        }
        Action::Media(m) => cx.out.media.push(std::sync::Arc::clone(m)),
        Action::Assign { var, value } => call.set_var(*var, Value::Double(*value), cx),
        Action::AssignVar { var, source } => {
            let v = call.var(*source, cx).clone();
            call.set_var(*var, v, cx);
        }
        Action::AssignStr { var, value } => {
            let v = render_text(call, value, cx);
            call.set_var(*var, Value::Str(v.into()), cx);
        }
        Action::Add { var, operand: o } => arith(call, *var, o, cx, |a, b| a + b),
        Action::Subtract { var, operand: o } => arith(call, *var, o, cx, |a, b| a - b),
        Action::Multiply { var, operand: o } => arith(call, *var, o, cx, |a, b| a * b),
        Action::Divide { var, operand: o } => {
            if operand(call, o, cx) == 0.0 {
                cx.shard.stats.counters.warnings += 1;
                cx.out.events.push_back(ShardEvent::Warning(
                    "divide action: division by zero".into(),
                ));
                return ActionOutcome::Fail(FailureReason::ScenarioError);
            }
            arith(call, *var, o, cx, |a, b| a / b)
        }
        Action::Sample { var, distribution } => {
            let v = sample(distribution, &mut cx.shard.rng);
            call.set_var(*var, Value::Double(v), cx);
        }
        Action::ToDouble { var, source } => {
            let v = call.var(*source, cx).as_f64();
            call.set_var(*var, Value::Double(v), cx);
        }
        Action::Test {
            var,
            left,
            compare,
            right,
        } => {
            let l = call.var(*left, cx).as_f64();
            let r = operand(call, right, cx);
            let b = match compare {
                Compare::Equal => l == r,
                Compare::NotEqual => l != r,
                Compare::GreaterThan => l > r,
                Compare::LessThan => l < r,
                Compare::GreaterThanEqual => l >= r,
                Compare::LessThanEqual => l <= r,
            };
            call.set_var(*var, Value::Bool(b), cx);
        }
        Action::Strcmp { var, left, right } => {
            let l = call.var(*left, cx).to_bytes();
            let r = match right {
                StrOperand::Value(s) => s.as_bytes().to_vec(),
                StrOperand::Var(v) => call.var(*v, cx).to_bytes(),
            };
            let c = match l.cmp(&r) {
                std::cmp::Ordering::Less => -1.0,
                std::cmp::Ordering::Equal => 0.0,
                std::cmp::Ordering::Greater => 1.0,
            };
            call.set_var(*var, Value::Double(c), cx);
        }
        Action::Trim { var } => {
            let v = call.var(*var, cx).to_bytes();
            let t = v.trim_ascii();
            call.set_var(*var, Value::Str(t.into()), cx);
        }
        Action::Jump(t) => {
            let target = match t {
                JumpTarget::Index(i) => *i,
                JumpTarget::Var(v) => call.var(*v, cx).as_f64().max(0.0) as usize,
            };
            return ActionOutcome::Jump(target);
        }
        Action::GetTimeOfDay { sec, usec } => {
            let d = cx
                .wall
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default();
            call.set_var(*sec, Value::Double(d.as_secs() as f64), cx);
            if let Some(u) = usec {
                call.set_var(*u, Value::Double(f64::from(d.subsec_micros())), cx);
            }
        }
        Action::Lookup { var, file, key } => {
            let key = render_text(call, key, cx);
            let line = cx
                .shard
                .inject
                .file(Some(file))
                .and_then(|f| f.lookup(&key));
            call.set_var(
                *var,
                // The data line from 0, as `line=` takes it; -1 when no line has the key.
                Value::Double(line.map_or(-1.0, |l| l as f64)),
                cx,
            );
        }
        Action::Insert { file, value } => {
            let v = render_text(call, value, cx);
            let row: Vec<Box<[u8]>> = v.split(|&b| b == b';').map(Box::from).collect();
            if let Some(f) = cx.shard.inject.files.iter_mut().find(|f| &f.name == file) {
                f.insert_row(row);
            }
        }
        Action::Replace { file, line, value } => {
            let l = String::from_utf8_lossy(&render_text(call, line, cx))
                .trim()
                .parse::<usize>()
                .unwrap_or(0);
            let v = render_text(call, value, cx);
            let row: Vec<Box<[u8]>> = v.split(|&b| b == b';').map(Box::from).collect();
            if let Some(f) = cx.shard.inject.files.iter_mut().find(|f| &f.name == file) {
                f.replace_row(l.saturating_sub(1), row);
            }
        }
        Action::SetDest {
            host,
            port,
            protocol,
        } => {
            let h = String::from_utf8_lossy(&render_text(call, host, cx))
                .trim()
                .to_string();
            let p = String::from_utf8_lossy(&render_text(call, port, cx))
                .trim()
                .parse::<u16>()
                .ok();
            let _ = render_text(call, protocol, cx);
            match (h.parse::<std::net::IpAddr>(), p) {
                (Ok(ip), Some(port)) => {
                    call.dest = super::layout::Peer::new(std::net::SocketAddr::new(ip, port))
                }
                _ => {
                    cx.shard.stats.counters.warnings += 1;
                    cx.out.events.push_back(ShardEvent::Warning(format!(
                        "setdest: cannot use {h}:{p:?}"
                    )));
                }
            }
        }
        Action::VerifyAuth {
            var,
            username,
            password,
        } => {
            let user = render_text(call, username, cx);
            let pass = render_text(call, password, cx);
            let ok = SipMessage::parse(call.last_recv(cx)).ok().is_some_and(|m| {
                let cred = m
                    .header_by_name(b"Authorization")
                    .or_else(|| m.header_by_name(b"Proxy-Authorization"));
                match (cred, m.method()) {
                    (Some(c), Some(method)) => digest::verify(c, method, &user, &pass),
                    _ => false,
                }
            });
            call.set_var(*var, Value::Bool(ok), cx);
        }
        Action::UrlEncode { var } => {
            let v = call.var(*var, cx).to_bytes();
            call.set_var(*var, Value::Str(url_encode(&v).into()), cx);
        }
        Action::UrlDecode { var } => {
            let v = call.var(*var, cx).to_bytes();
            call.set_var(*var, Value::Str(url_decode(&v).into()), cx);
        }
        Action::CloseCon | Action::PauseRestore => {}
        #[allow(unreachable_patterns)]
        _ => {}
    }
    ActionOutcome::Continue
}

fn arith(
    call: &mut Call,
    var: VarId,
    o: &Operand,
    cx: &mut ShardCx<'_>,
    f: impl Fn(f64, f64) -> f64,
) {
    let a = call.var(var, cx).as_f64();
    let b = operand(call, o, cx);
    call.set_var(var, Value::Double(f(a, b)), cx);
}

/// The text an ereg searches, or `None` when a named header is missing.
fn search_text(call: &Call, e: &Ereg, cx: &ShardCx<'_>) -> Option<Vec<u8>> {
    // A `<recvCmd>`'s actions read the command, as SIPp's do.
    if let Some(c) = &cx.command {
        return match &e.search_in {
            SearchIn::Var(v) => Some(call.var(*v, cx).to_bytes()),
            SearchIn::Msg => Some(c.text().to_vec()),
            SearchIn::Body => Some(c.body().to_vec()),
            SearchIn::Hdr(name) => {
                let occurrence = e.occurrence.max(1) as usize;
                c.header_nth(name.trim_end_matches(':').trim().as_bytes(), occurrence - 1)
                    .map(<[u8]>::to_vec)
            }
        };
    }
    match &e.search_in {
        SearchIn::Var(v) => Some(call.var(*v, cx).to_bytes()),
        SearchIn::Msg => Some(call.last_recv(cx).to_vec()),
        SearchIn::Body => match cx.current {
            Some(m) => Some(m.body().to_vec()),
            None => SipMessage::parse(call.stored_last_recv())
                .ok()
                .map(|m| m.body().to_vec()),
        },
        SearchIn::Hdr(name) => {
            let parsed;
            let m = match cx.current {
                Some(m) => m,
                None => {
                    parsed = SipMessage::parse(call.stored_last_recv()).ok()?;
                    &parsed
                }
            };
            let occurrence = e.occurrence.max(1) as usize;
            let v = m
                .header_values(name.trim_end_matches(':').trim().as_bytes())
                .nth(occurrence - 1)?;
            Some(v.to_vec())
        }
    }
}

fn ereg(call: &mut Call, e: &Ereg, cx: &mut ShardCx<'_>) -> ActionOutcome {
    let Some(text) = search_text(call, e, cx) else {
        if e.check_it {
            return ActionOutcome::Fail(FailureReason::RegexpHdrNotFound);
        }
        return ActionOutcome::Continue;
    };
    match e.regex.captures(&text) {
        Some(caps) => {
            for (i, var) in e.assign_to.iter().enumerate() {
                let v: Box<[u8]> = caps
                    .get(i)
                    .map_or_else(|| Box::from(&b""[..]), |m| Box::from(m.as_bytes()));
                call.set_var(*var, Value::Str(v), cx);
            }
            if e.check_it_inverse {
                return ActionOutcome::Fail(FailureReason::RegexpShouldntMatch);
            }
        }
        None => {
            if e.check_it {
                return ActionOutcome::Fail(FailureReason::RegexpDoesntMatch);
            }
        }
    }
    ActionOutcome::Continue
}

fn url_encode(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    for &b in s {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b);
        } else {
            out.push(b'%');
            out.push(b"0123456789ABCDEF"[usize::from(b >> 4)]);
            out.push(b"0123456789ABCDEF"[usize::from(b & 15)]);
        }
    }
    out
}

fn url_decode(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        match (s[i], s.get(i + 1..i + 3)) {
            (b'%', Some(h)) if h.iter().all(u8::is_ascii_hexdigit) => {
                let v = std::str::from_utf8(h)
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .unwrap_or(b'?');
                out.push(v);
                i += 3;
            }
            (b'+', _) => {
                out.push(b' ');
                i += 1;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_round_trip() {
        let s = b"sip:alice@example.com;tag=1 2";
        assert_eq!(url_decode(&url_encode(s)), s.to_vec());
    }

    #[test]
    fn uniform_sample_stays_in_range() {
        let mut rng = Rng::new(7);
        for _ in 0..1000 {
            let v = sample(
                &Distribution::Uniform {
                    min: 10.0,
                    max: 20.0,
                },
                &mut rng,
            );
            assert!((10.0..20.0).contains(&v));
        }
    }
}
