//! What the statistics writers need to know about a run besides its numbers: the
//! scenario's steps as SIPp displays them, rtd and counter names, repartition edges and
//! the run's fixed parameters (rate, transport, remote, start time, pid).
//!
//! Owns: `RunInfo`, built once per run from the compiled `Scenario` and a few run values.
//! Must not: read clocks (the start time is passed in) or hold live numbers (those are
//! in `ShardStats`). Read by `csv`, `screen`, `summary` and the trace helpers.

use std::time::SystemTime;

use super::format::time_string;
use crate::scenario::{
    Command, CommandKind, Distribution, Optional, PauseDuration, RecvMatch, Role, Scenario,
};

/// SIPp's message kinds, as the scenario screen and -trace_counts tell them apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StepKind {
    /// `<send>`: a request or a response we send.
    Send,
    /// `<recv>`.
    Recv,
    /// `<pause>` or `<timewait>`.
    Pause,
    /// `<nop>`.
    Nop,
    /// `<label>`: not a message in SIPp; never shown, never numbered.
    Label,
    /// `<sendCmd>` (3PCC).
    SendCmd,
    /// `<recvCmd>` (3PCC).
    RecvCmd,
}

/// One scenario command as the writers show it. Same index as `Scenario::commands` and
/// `ShardStats::steps`.
#[derive(Clone, Debug, PartialEq)]
pub struct StepInfo {
    /// What kind of command this is.
    pub kind: StepKind,
    /// SIPp's message index, used in -trace_counts column names (`3_ACK_Sent`). SIPp does
    /// not count labels as messages, so this skips them; `None` for a label.
    pub sipp_index: Option<usize>,
    /// The text SIPp shows: a method (`INVITE`), a status code (`180`), the regexp of a
    /// `regexp_match` recv, or a pause duration (`0ms`, `12.3s`, `10ms/20ms`, `$var`).
    pub label: String,
    /// `<send>` with `retrans=`: SIPp adds a Timeout column (screen and counts).
    pub retrans: bool,
    /// `<recv optional=…>`.
    pub optional: bool,
    /// `<timewait>` (a pause).
    pub timewait: bool,
    /// 1-based number of the first rtd this step starts (`B-RTD1`).
    pub start_rtd: Option<u16>,
    /// 1-based number of the first rtd this step stops (`E-RTD1`).
    pub stop_rtd: Option<u16>,
    /// `crlf="true"`: a blank screen line after this step.
    pub crlf: bool,
    /// `display="…"`: shown instead of `[ NOP ]` for a nop.
    pub display: Option<String>,
    /// `hide="true"`: not on the screen, not in -trace_counts.
    pub hide: bool,
}

impl StepInfo {
    /// Whether SIPp lists this step on the screen and in -trace_counts.
    pub fn shown(&self) -> bool {
        !self.hide && self.kind != StepKind::Label
    }
}

/// The run values that do not come from the scenario.
#[derive(Clone, Debug, PartialEq)]
pub struct RunParams {
    /// Transport as SIPp prints it: `UDP`, `TCP`, `TLS`, `SCTP`, `WS`.
    pub transport: String,
    /// The remote as `ip:port` (client scenarios); empty for a server.
    pub remote: String,
    /// The local SIP port.
    pub local_port: u16,
    /// `-r`: calls per `rate_period_ms`.
    pub rate: f64,
    /// `-rp` in ms.
    pub rate_period_ms: u64,
    /// `-users`: the screen and CSV show users instead of the rate.
    pub users: Option<u64>,
    /// `-l`: the open-calls limit shown as `(limit N)`.
    pub call_limit: u64,
    /// `-m`: stop after this many calls.
    pub max_calls: Option<u64>,
    /// `-d`: the default pause, shown as the call "length" and for `<pause/>`.
    pub default_pause_ms: u64,
    /// `-rate_increase`: the rate moves during the run.
    pub rate_ramp: bool,
    /// When the run started (sampled once by the shell).
    pub start: SystemTime,
    /// Our process id (file names, `[pid]`).
    pub pid: u32,
}

impl RunParams {
    /// The run values of `spec`, bound on `local_port`, started at `start`.
    pub fn of(
        spec: &crate::config::JobSpec,
        local_port: u16,
        start: SystemTime,
        pid: u32,
    ) -> RunParams {
        let rate_cps = spec.rate_cps();
        RunParams {
            transport: spec.transport.keyword().to_string(),
            remote: spec.remote.map(|r| r.to_string()).unwrap_or_default(),
            local_port,
            rate: spec.rate,
            rate_period_ms: spec.rate_period_ms,
            users: spec.users,
            call_limit: spec.call_limit.unwrap_or_else(|| {
                crate::load::default_call_limit(rate_cps, spec.default_pause_ms)
            }),
            max_calls: spec.max_calls,
            default_pause_ms: spec.default_pause_ms,
            rate_ramp: spec.rate_increase.is_some(),
            start,
            pid,
        }
    }
}

impl Default for RunParams {
    fn default() -> Self {
        RunParams {
            transport: "UDP".into(),
            remote: String::new(),
            local_port: 5060,
            rate: 10.0,
            rate_period_ms: 1000,
            users: None,
            call_limit: 0,
            max_calls: None,
            default_pause_ms: 0,
            rate_ramp: false,
            start: SystemTime::UNIX_EPOCH,
            pid: 0,
        }
    }
}

/// Everything the writers need besides the numbers.
#[derive(Clone, Debug, PartialEq)]
pub struct RunInfo {
    /// `<scenario name=…>`.
    pub scenario_name: String,
    /// Client (starts calls) or server (answers them).
    pub role: Role,
    /// One entry per scenario command.
    pub steps: Vec<StepInfo>,
    /// Response-time names, indexed like `ShardStats::rtd`.
    pub rtd_names: Vec<String>,
    /// Scenario counter names, indexed like `ShardStats::generic_counters`.
    pub counter_names: Vec<String>,
    /// Response-time repartition edges in ms.
    pub rtd_edges_ms: Vec<u64>,
    /// Call-length repartition edges in ms.
    pub call_length_edges_ms: Vec<u64>,
    /// A `<pause/>` without a duration holds each call for `-d` (the built-in uac's
    /// hold time).
    pub uses_default_pause: bool,
    /// The run values.
    pub run: RunParams,
}

impl RunInfo {
    /// The writers' view of a run of `spec` playing `sc`, bound on `local_port`, started
    /// at `start` by process `pid`: what the SIPp command line and the worker both build.
    pub fn of_run(
        sc: &Scenario,
        spec: &crate::config::JobSpec,
        local_port: u16,
        start: SystemTime,
        pid: u32,
    ) -> RunInfo {
        RunInfo::new(sc, RunParams::of(spec, local_port, start, pid))
    }

    /// Builds the writers' view of a compiled scenario and the run's values.
    pub fn new(sc: &Scenario, run: RunParams) -> RunInfo {
        let mut next_index = 0usize;
        let mut hide_rest = false;
        let steps = sc
            .commands
            .iter()
            .map(|c| {
                let sipp_index = if matches!(c.kind, CommandKind::Label(_)) {
                    None
                } else {
                    next_index += 1;
                    Some(next_index - 1)
                };
                // `hiderest="true"` hides this step and every later one.
                hide_rest |= c.common.hiderest;
                let mut s = step_info(sc, c, sipp_index, run.default_pause_ms);
                s.hide |= hide_rest;
                s
            })
            .collect();
        RunInfo {
            scenario_name: sc.name.clone(),
            role: sc.role,
            steps,
            rtd_names: sc.rtd_names.clone(),
            counter_names: sc.counter_names.clone(),
            rtd_edges_ms: sc.response_time_repartition.clone(),
            call_length_edges_ms: sc.call_length_repartition.clone(),
            uses_default_pause: sc.commands.iter().any(|c| {
                matches!(&c.kind, CommandKind::Pause(p) if matches!(p.duration, PauseDuration::Default))
            }),
            run,
        }
    }

    /// Statistics with nothing counted yet, shaped for this run's scenario.
    pub fn empty_stats(&self) -> crate::stats::ShardStats {
        crate::stats::ShardStats::new(
            self.steps.len(),
            self.rtd_names.len(),
            self.counter_names.len(),
            &self.rtd_edges_ms,
            &self.call_length_edges_ms,
        )
    }

    /// The target rate in calls per second (`-r` over `-rp`).
    pub fn rate_cps(&self) -> f64 {
        crate::load::rate_cps(self.run.rate, self.run.rate_period_ms)
    }

    /// SIPp's CSV column name for scenario counter `i`: the name itself, or
    /// `GenericCounterN` when the name is all digits.
    pub fn counter_column(&self, i: usize) -> String {
        let name = self.counter_names.get(i).map(String::as_str).unwrap_or("");
        if !name.is_empty() && name.bytes().all(|b| b.is_ascii_digit()) {
            format!("GenericCounter{name}")
        } else {
            name.to_string()
        }
    }
}

fn rtd_number(ids: &[crate::scenario::RtdId]) -> Option<u16> {
    ids.first().map(|r| r.0.saturating_add(1))
}

fn step_info(
    sc: &Scenario,
    c: &Command,
    sipp_index: Option<usize>,
    default_pause_ms: u64,
) -> StepInfo {
    let mut s = StepInfo {
        kind: StepKind::Nop,
        sipp_index,
        label: String::new(),
        retrans: false,
        optional: false,
        timewait: false,
        start_rtd: rtd_number(&c.common.start_rtd),
        stop_rtd: rtd_number(&c.common.rtd),
        crlf: c.common.crlf,
        display: c.common.display.clone(),
        hide: c.common.hide,
    };
    match &c.kind {
        CommandKind::Send(send) => {
            s.kind = StepKind::Send;
            s.retrans = send.retrans_ms.is_some();
            s.label = match (&send.method, send.status) {
                (Some(m), _) => m.clone(),
                (None, Some(code)) => code.to_string(),
                (None, None) => String::new(),
            };
        }
        CommandKind::Recv(recv) => {
            s.kind = StepKind::Recv;
            s.optional = recv.optional != Optional::No;
            s.label = match &recv.matcher {
                RecvMatch::Response(code) => code.to_string(),
                RecvMatch::Request(m) => m.clone(),
                RecvMatch::Regex { re, .. } => re.as_str().to_string(),
            };
        }
        CommandKind::Pause(p) => {
            s.kind = StepKind::Pause;
            s.timewait = p.timewait;
            s.label = pause_label(sc, &p.duration, default_pause_ms);
        }
        CommandKind::Nop => s.kind = StepKind::Nop,
        CommandKind::Label(id) => {
            s.kind = StepKind::Label;
            s.label = id.clone();
        }
        CommandKind::SendCmd(_) => s.kind = StepKind::SendCmd,
        CommandKind::RecvCmd(_) => s.kind = StepKind::RecvCmd,
    }
    s
}

/// SIPp's pause description (`timeDescr`), cut to 23 characters as SIPp does.
fn pause_label(sc: &Scenario, d: &PauseDuration, default_pause_ms: u64) -> String {
    let t = |v: f64| time_string(v);
    let mut out = match d {
        PauseDuration::Default => t(default_pause_ms as f64),
        PauseDuration::Fixed(ms) => t(*ms as f64),
        PauseDuration::Variable(v) => {
            let name = sc
                .variables
                .get(usize::from(v.0))
                .map(String::as_str)
                .unwrap_or("?");
            format!("${name}")
        }
        PauseDuration::Distribution(dist) => match dist {
            Distribution::Fixed(v) => t(*v),
            Distribution::Uniform { min, max } => format!("{}/{}", t(*min), t(*max)),
            Distribution::Normal { mean, stdev } => format!("N({},{})", t(*mean), t(*stdev)),
            Distribution::LogNormal { mean, stdev } => format!("LN({},{})", t(*mean), t(*stdev)),
            Distribution::Exponential { mean } => format!("Exp({})", t(*mean)),
            Distribution::Weibull { lambda, k } => format!("Wb({},{})", t(*lambda), t(*k)),
            Distribution::Pareto { k, xm } => format!("P({},{})", t(*k), t(*xm)),
            Distribution::GPareto {
                shape,
                scale,
                location,
            } => {
                format!("P({},{},{})", t(*shape), t(*scale), t(*location))
            }
            Distribution::Gamma { k, theta } => format!("G({},{})", t(*k), t(*theta)),
            Distribution::NegBin { p, n } => format!("NB({},{})", t(*p), t(*n)),
        },
    };
    super::format::clip(&mut out, 23);
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn step(kind: StepKind, idx: usize, label: &str) -> StepInfo {
        StepInfo {
            kind,
            sipp_index: Some(idx),
            label: label.into(),
            retrans: false,
            optional: false,
            timewait: false,
            start_rtd: None,
            stop_rtd: None,
            crlf: false,
            display: None,
            hide: false,
        }
    }

    /// The built-in `uac` as SIPp 3.6.1 shows it, for the writers' tests.
    pub(crate) fn uac_info() -> RunInfo {
        let mut invite = step(StepKind::Send, 0, "INVITE");
        invite.retrans = true;
        let mut r100 = step(StepKind::Recv, 1, "100");
        r100.optional = true;
        let mut r180 = step(StepKind::Recv, 2, "180");
        r180.optional = true;
        let mut r183 = step(StepKind::Recv, 3, "183");
        r183.optional = true;
        let mut r200 = step(StepKind::Recv, 4, "200");
        r200.stop_rtd = Some(1);
        let ack = step(StepKind::Send, 5, "ACK");
        let pause = step(StepKind::Pause, 6, "0ms");
        let mut bye = step(StepKind::Send, 7, "BYE");
        bye.retrans = true;
        let mut r200b = step(StepKind::Recv, 8, "200");
        r200b.crlf = true;
        RunInfo {
            scenario_name: "Basic Sipstone UAC".into(),
            role: Role::Client,
            steps: vec![invite, r100, r180, r183, r200, ack, pause, bye, r200b],
            rtd_names: vec!["1".into()],
            counter_names: vec![],
            rtd_edges_ms: vec![10, 20, 30, 40, 50, 100, 150, 200],
            call_length_edges_ms: vec![10, 50, 100, 500, 1000, 5000, 10000],
            uses_default_pause: false,
            run: RunParams {
                transport: "UDP".into(),
                remote: "127.0.0.1:15060".into(),
                local_port: 15061,
                rate: 10.0,
                rate_period_ms: 1000,
                users: None,
                call_limit: 30,
                max_calls: Some(20),
                default_pause_ms: 0,
                rate_ramp: false,
                start: SystemTime::UNIX_EPOCH
                    + std::time::Duration::new(1_795_686_419, 487_723_000),
                pid: 9777,
            },
        }
    }

    /// The built-in `uas` as SIPp 3.6.1 shows it.
    pub(crate) fn uas_info() -> RunInfo {
        let mut inv = step(StepKind::Recv, 0, "INVITE");
        inv.crlf = true;
        let r180 = step(StepKind::Send, 1, "180");
        let mut r200 = step(StepKind::Send, 2, "200");
        r200.retrans = true;
        let mut ack = step(StepKind::Recv, 3, "ACK");
        ack.optional = true;
        ack.stop_rtd = Some(1);
        ack.crlf = true;
        let bye = step(StepKind::Recv, 4, "BYE");
        let ok = step(StepKind::Send, 5, "200");
        let mut tw = step(StepKind::Pause, 6, "4000ms");
        tw.timewait = true;
        let mut info = uac_info();
        info.scenario_name = "Basic UAS responder".into();
        info.role = Role::Server;
        info.steps = vec![inv, r180, r200, ack, bye, ok, tw];
        info.run.remote = String::new();
        info.run.local_port = 15060;
        info
    }

    #[test]
    fn numeric_counter_names_get_the_generic_prefix() {
        let mut info = uac_info();
        info.counter_names = vec!["okc".into(), "7".into()];
        assert_eq!(info.counter_column(0), "okc");
        assert_eq!(info.counter_column(1), "GenericCounter7");
    }

    #[test]
    fn rate_cps_divides_by_the_period() {
        let mut info = uac_info();
        info.run.rate = 5.0;
        info.run.rate_period_ms = 500;
        assert_eq!(info.rate_cps(), 10.0);
    }

    fn cmd(kind: CommandKind) -> Command {
        Command {
            kind,
            common: Default::default(),
            pos: Default::default(),
        }
    }

    fn send(method: Option<&str>, status: Option<u16>, retrans: Option<u64>) -> CommandKind {
        CommandKind::Send(crate::scenario::Send {
            template: Default::default(),
            retrans_ms: retrans,
            timeout_ms: None,
            start_txn: None,
            ack_txn: None,
            method: method.map(str::to_string),
            status,
        })
    }

    fn recv(m: RecvMatch) -> CommandKind {
        CommandKind::Recv(crate::scenario::Recv {
            matcher: m,
            optional: Optional::No,
            timeout_ms: None,
            rrs: false,
            auth: false,
            response_txn: None,
            advance_state: true,
        })
    }

    fn pause(d: PauseDuration) -> CommandKind {
        CommandKind::Pause(crate::scenario::Pause {
            duration: d,
            timewait: false,
            sanity_check: true,
        })
    }

    fn scenario(commands: Vec<Command>) -> Scenario {
        Scenario {
            name: "tst".into(),
            role: Role::Client,
            commands,
            init: vec![],
            variables: vec!["wait".into()],
            globals: vec![],
            user_vars: vec![],
            rtd_names: vec!["a".into()],
            counter_names: vec!["okc".into()],
            response_time_repartition: vec![10, 20],
            call_length_repartition: vec![10],
            unexp_main: None,
            default_messages: vec![],
            files_referenced: vec![],
            generic_keywords: vec![],
            webrtc: false,
        }
    }

    #[test]
    fn steps_take_sipp_labels_and_indices_skip_labels() {
        let mut options = cmd(send(Some("OPTIONS"), None, Some(500)));
        options.common.start_rtd = vec![crate::scenario::RtdId(0)];
        let mut ok = cmd(recv(RecvMatch::Response(200)));
        ok.common.rtd = vec![crate::scenario::RtdId(0)];
        let mut nop = cmd(CommandKind::Nop);
        nop.common.display = Some("hello".into());
        let sc = scenario(vec![
            nop,
            options,
            ok,
            cmd(CommandKind::Label("x".into())),
            cmd(pause(PauseDuration::Fixed(12_345))),
            cmd(pause(PauseDuration::Distribution(Distribution::Uniform {
                min: 10.0,
                max: 20.0,
            }))),
            cmd(pause(PauseDuration::Default)),
            cmd(pause(PauseDuration::Variable(crate::scenario::VarId(0)))),
            cmd(send(None, Some(180), None)),
        ]);
        let run = RunParams {
            default_pause_ms: 4000,
            ..RunParams::default()
        };
        let info = RunInfo::new(&sc, run);
        let idx: Vec<Option<usize>> = info.steps.iter().map(|s| s.sipp_index).collect();
        assert_eq!(
            idx,
            [
                Some(0),
                Some(1),
                Some(2),
                None,
                Some(3),
                Some(4),
                Some(5),
                Some(6),
                Some(7)
            ]
        );
        let labels: Vec<&str> = info.steps.iter().map(|s| s.label.as_str()).collect();
        assert_eq!(
            labels,
            [
                "",
                "OPTIONS",
                "200",
                "x",
                "12.3s",
                "10ms/20ms",
                "4000ms",
                "$wait",
                "180"
            ]
        );
        assert_eq!(info.steps[1].start_rtd, Some(1));
        assert_eq!(info.steps[2].stop_rtd, Some(1));
        assert!(info.steps[1].retrans);
        assert!(!info.steps[8].retrans);
        assert!(!info.steps[3].shown());
        assert_eq!(info.steps[0].display.as_deref(), Some("hello"));
        assert_eq!(info.counter_names, ["okc"]);
        assert_eq!(info.rtd_edges_ms, [10, 20]);
    }

    #[test]
    fn hiderest_hides_the_step_and_all_later_ones() {
        let mut second = cmd(CommandKind::Nop);
        second.common.hiderest = true;
        let sc = scenario(vec![cmd(CommandKind::Nop), second, cmd(CommandKind::Nop)]);
        let info = RunInfo::new(&sc, RunParams::default());
        let hidden: Vec<bool> = info.steps.iter().map(|s| s.hide).collect();
        assert_eq!(hidden, [false, true, true]);
    }

    #[test]
    fn builtin_uac_maps_to_sipp_step_labels() {
        // The built-ins are the reference SIPp prints; one that does not load is a failure.
        let b = crate::scenario::builtin::get("uac").expect("the built-in uac exists");
        let sc = crate::scenario::load(b.xml.as_bytes(), "uac", &Default::default())
            .unwrap_or_else(|e| panic!("the built-in uac loads: {e}"));
        let info = RunInfo::new(&sc, RunParams::default());
        let labels: Vec<&str> = info
            .steps
            .iter()
            .filter(|s| s.shown())
            .map(|s| s.label.as_str())
            .collect();
        assert_eq!(
            labels,
            [
                "INVITE", "100", "180", "183", "200", "ACK", "0ms", "BYE", "200"
            ]
        );
    }
}
