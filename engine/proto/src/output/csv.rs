//! SIPp's CSV statistics files: `-trace_stat` (the `_.csv` with 90-odd columns),
//! `-trace_counts` (one column per scenario step) and `-trace_rtt` (one line per response
//! time).
//!
//! Owns: the column names, their order and the value formats, which third-party scripts
//! read by position (SIPp's regress test github-#0152 reads fields 12 and 18). Must not:
//! read clocks or files; the shell passes the times and writes the returned text.
//!
//! Periodic `(P)` values are `cur - prev`, where `prev` is the snapshot of the previous
//! row, as SIPp resets its "periodic logging" counters at each row. The repartition
//! columns are cumulative, as in SIPp.

use std::time::SystemTime;

use super::format::{date_time_tabbed, elapsed_ms, g6, hhmmss, hhmmss_us};
use super::run_info::{RunInfo, StepKind};
use crate::stats::{Counters, ShardStats, TimeStat};

/// SIPp's default `-stat_delimiter`.
pub const DEFAULT_DELIMITER: &str = ";";

/// The 25 SIPp counters that follow `FailedCall` in the -trace_stat CSV, by column name
/// (without `(P)`/`(C)`), with their value in `c`.
pub fn failure_and_message_counters(c: &Counters) -> [(&'static str, u64); 25] {
    [
        ("FailedCannotSendMessage", c.failed_cannot_send_message),
        ("FailedMaxUDPRetrans", c.failed_max_udp_retrans),
        ("FailedTcpConnect", c.failed_tcp_connect),
        ("FailedTcpClosed", c.failed_tcp_closed),
        ("FailedUnexpectedMessage", c.failed_unexpected_message),
        ("FailedCallRejected", c.failed_call_rejected),
        ("FailedCmdNotSent", c.failed_cmd_not_sent),
        ("FailedRegexpDoesntMatch", c.failed_regexp_doesnt_match),
        ("FailedRegexpShouldntMatch", c.failed_regexp_shouldnt_match),
        ("FailedRegexpHdrNotFound", c.failed_regexp_hdr_not_found),
        ("FailedOutboundCongestion", c.failed_outbound_congestion),
        ("FailedTimeoutOnRecv", c.failed_timeout_on_recv),
        ("FailedTimeoutOnSend", c.failed_timeout_on_send),
        ("FailedTestDoesntMatch", c.failed_test_doesnt_match),
        ("FailedTestShouldntMatch", c.failed_test_shouldnt_match),
        ("FailedStrcmpDoesntMatch", c.failed_strcmp_doesnt_match),
        ("FailedStrcmpShouldntMatch", c.failed_strcmp_shouldnt_match),
        ("OutOfCallMsgs", c.out_of_call_msgs),
        ("DeadCallMsgs", c.dead_call_msgs),
        ("Retransmissions", c.retransmissions),
        ("AutoAnswered", c.auto_answered),
        ("Warnings", c.warnings),
        ("FatalErrors", c.fatal_errors),
        ("WatchdogMajor", c.watchdog_major),
        ("WatchdogMinor", c.watchdog_minor),
    ]
}

/// Every cumulative SIPp counter by its CSV name: the call counters, then
/// `failure_and_message_counters`. Used for the `sipp` blocks of summary.json and the
/// worker's stats lines.
pub fn sipp_counters(c: &Counters) -> Vec<(&'static str, u64)> {
    let mut v = vec![
        ("IncomingCall", c.incoming_calls),
        ("OutgoingCall", c.outgoing_calls),
        ("SuccessfulCall", c.successful_calls),
        ("FailedCall", c.failed_calls),
    ];
    v.extend(failure_and_message_counters(c));
    v
}

/// Count, sum and sum of squares of a `TimeStat`, which subtract (unlike min and max),
/// so a period's mean and deviation are the difference of two snapshots.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Moments {
    /// Number of values.
    pub count: u64,
    /// Sum in microseconds.
    pub sum_us: u64,
    /// Sum of squares in ms².
    pub sum_sq_ms: f64,
}

impl Moments {
    /// The moments of `t` (all zero for `None`).
    pub fn of(t: Option<&TimeStat>) -> Moments {
        t.map(|t| Moments {
            count: t.count,
            sum_us: t.sum_us,
            sum_sq_ms: t.sum_sq_ms,
        })
        .unwrap_or_default()
    }

    /// `self - earlier`, never negative.
    pub fn since(self, earlier: Moments) -> Moments {
        Moments {
            count: self.count.saturating_sub(earlier.count),
            sum_us: self.sum_us.saturating_sub(earlier.sum_us),
            sum_sq_ms: (self.sum_sq_ms - earlier.sum_sq_ms).max(0.0),
        }
    }

    /// Mean in whole microseconds (0 when empty).
    pub fn mean_us(&self) -> u64 {
        self.sum_us.checked_div(self.count).unwrap_or(0)
    }

    /// Population standard deviation in whole microseconds, as SIPp's `computeStdev`
    /// (`sqrt(E[x²] - E[x]²)`), clamped at 0 where rounding makes the variance negative
    /// (SIPp prints garbage there).
    pub fn stdev_us(&self) -> u64 {
        if self.count == 0 {
            return 0;
        }
        let n = self.count as f64;
        let mean_ms = self.sum_us as f64 / 1000.0 / n;
        let var = (self.sum_sq_ms / n - mean_ms * mean_ms).max(0.0);
        // Finite and non-negative: the cast saturates, never wraps.
        (var.sqrt() * 1000.0) as u64
    }
}

/// SIPp's call-rate arithmetic: `1000 * (float)calls / (float)ms`, 0 for an empty span.
/// Kept in `f32` so the printed digits match SIPp's.
pub fn call_rate(calls: u64, ms: u64) -> f32 {
    if ms == 0 {
        0.0
    } else {
        1000.0 * calls as f32 / ms as f32
    }
}

fn repartition_header(out: &mut String, name: &str, edges: &[u64], d: &str) {
    let Some(last) = edges.last() else { return };
    out.push_str(name);
    out.push_str(d);
    for e in edges {
        out.push_str(&format!("{name}_<{e}{d}"));
    }
    out.push_str(&format!("{name}_>={last}{d}"));
}

fn repartition_values(out: &mut String, edges: &[u64], t: Option<&TimeStat>, d: &str) {
    if edges.is_empty() {
        return;
    }
    out.push_str(d); // the empty field under the repartition's name
    for i in 0..=edges.len() {
        let n = t.and_then(|t| t.repartition.get(i)).copied().unwrap_or(0);
        out.push_str(&n.to_string());
        out.push_str(d);
    }
}

/// The -trace_stat header row (ends in `\n`).
pub fn header(info: &RunInfo, d: &str) -> String {
    let mut out = String::with_capacity(4096);
    let mut col = |name: &str| {
        out.push_str(name);
        out.push_str(d);
    };
    for name in [
        "StartTime",
        "LastResetTime",
        "CurrentTime",
        "ElapsedTime(P)",
        "ElapsedTime(C)",
        "TargetRate",
    ] {
        col(name);
    }
    for name in ["CallRate", "IncomingCall", "OutgoingCall"] {
        col(&format!("{name}(P)"));
        col(&format!("{name}(C)"));
    }
    col("TotalCallCreated");
    col("CurrentCall");
    for name in ["SuccessfulCall", "FailedCall"] {
        col(&format!("{name}(P)"));
        col(&format!("{name}(C)"));
    }
    for (name, _) in failure_and_message_counters(&Counters::default()) {
        col(&format!("{name}(P)"));
        col(&format!("{name}(C)"));
    }
    for rtd in &info.rtd_names {
        col(&format!("ResponseTime{rtd}(P)"));
        col(&format!("ResponseTime{rtd}(C)"));
        col(&format!("ResponseTime{rtd}StDev(P)"));
        col(&format!("ResponseTime{rtd}StDev(C)"));
    }
    for name in [
        "CallLength(P)",
        "CallLength(C)",
        "CallLengthStDev(P)",
        "CallLengthStDev(C)",
    ] {
        col(name);
    }
    for i in 0..info.counter_names.len() {
        let name = info.counter_column(i);
        col(&format!("{name}(P)"));
        col(&format!("{name}(C)"));
    }
    for rtd in &info.rtd_names {
        repartition_header(
            &mut out,
            &format!("ResponseTimeRepartition{rtd}"),
            &info.rtd_edges_ms,
            d,
        );
    }
    repartition_header(
        &mut out,
        "CallLengthRepartition",
        &info.call_length_edges_ms,
        d,
    );
    out.push('\n');
    out
}

/// One -trace_stat data row (ends in `\n`). `prev` is the snapshot taken for the previous
/// row (an empty `ShardStats` for the first), `period_start` the time of that row.
pub fn row(
    info: &RunInfo,
    prev: &ShardStats,
    cur: &ShardStats,
    period_start: SystemTime,
    now: SystemTime,
    d: &str,
) -> String {
    let mut out = String::with_capacity(1024);
    let mut field = |v: &str| {
        out.push_str(v);
        out.push_str(d);
    };
    let (p, c) = (&prev.counters, &cur.counters);
    let local_ms = elapsed_ms(period_start, now);
    let global_ms = elapsed_ms(info.run.start, now);
    field(&date_time_tabbed(info.run.start));
    field(&date_time_tabbed(period_start));
    field(&date_time_tabbed(now));
    field(&hhmmss(local_ms));
    field(&hhmmss(global_ms));
    match info.run.users {
        Some(u) => field(&u.to_string()),
        None => field(&g6(info.run.rate)),
    }
    let created_c = c.incoming_calls + c.outgoing_calls;
    let created_p = created_c.saturating_sub(p.incoming_calls + p.outgoing_calls);
    field(&g6(f64::from(call_rate(created_p, local_ms))));
    field(&g6(f64::from(call_rate(created_c, global_ms))));
    let pair = |field: &mut dyn FnMut(&str), cur: u64, prev: u64| {
        field(&cur.saturating_sub(prev).to_string());
        field(&cur.to_string());
    };
    pair(&mut field, c.incoming_calls, p.incoming_calls);
    pair(&mut field, c.outgoing_calls, p.outgoing_calls);
    field(&created_c.to_string());
    field(&cur.current_calls.to_string());
    pair(&mut field, c.successful_calls, p.successful_calls);
    pair(&mut field, c.failed_calls, p.failed_calls);
    for ((_, cv), (_, pv)) in failure_and_message_counters(c)
        .into_iter()
        .zip(failure_and_message_counters(p))
    {
        pair(&mut field, cv, pv);
    }
    for i in 0..info.rtd_names.len() {
        let cm = Moments::of(cur.rtd.get(i));
        let pm = cm.since(Moments::of(prev.rtd.get(i)));
        field(&hhmmss_us(pm.mean_us()));
        field(&hhmmss_us(cm.mean_us()));
        field(&hhmmss_us(pm.stdev_us()));
        field(&hhmmss_us(cm.stdev_us()));
    }
    let cm = Moments::of(Some(&cur.call_length));
    let pm = cm.since(Moments::of(Some(&prev.call_length)));
    field(&hhmmss_us(pm.mean_us()));
    field(&hhmmss_us(cm.mean_us()));
    field(&hhmmss_us(pm.stdev_us()));
    field(&hhmmss_us(cm.stdev_us()));
    for i in 0..info.counter_names.len() {
        let cv = cur.generic_counters.get(i).copied().unwrap_or(0);
        let pv = prev.generic_counters.get(i).copied().unwrap_or(0);
        pair(&mut field, cv, pv);
    }
    for i in 0..info.rtd_names.len() {
        repartition_values(&mut out, &info.rtd_edges_ms, cur.rtd.get(i), d);
    }
    repartition_values(
        &mut out,
        &info.call_length_edges_ms,
        Some(&cur.call_length),
        d,
    );
    out.push('\n');
    out
}

/// The -trace_counts header row: `CurrentTime;ElapsedTime;0_INVITE_Sent;…` (ends in
/// `\n`). Hidden steps and labels have no columns. A nop gets `Pause` columns, as in
/// SIPp (its `pause_variable` of -1 counts as a pause there).
pub fn counts_header(info: &RunInfo, d: &str) -> String {
    let mut out = format!("CurrentTime{d}ElapsedTime{d}");
    for s in info.steps.iter().filter(|s| s.shown()) {
        let i = s.sipp_index.unwrap_or(0);
        let names: &[&str] = match s.kind {
            StepKind::Send if s.retrans => &["Sent", "Retrans", "Timeout"],
            StepKind::Send => &["Sent", "Retrans"],
            StepKind::Recv => &["Recv", "Retrans", "Timeout", "Unexp"],
            StepKind::Pause | StepKind::Nop => &["Sessions", "Unexp"],
            StepKind::SendCmd => {
                out.push_str(&format!("{i}_SendCmd{d}"));
                continue;
            }
            StepKind::RecvCmd => {
                out.push_str(&format!("{i}_RecvCmd{d}{i}_RecvCmd_Timeout{d}"));
                continue;
            }
            StepKind::Label => continue,
        };
        let label = match s.kind {
            StepKind::Pause | StepKind::Nop => "Pause",
            _ => s.label.as_str(),
        };
        for n in names {
            out.push_str(&format!("{i}_{label}_{n}{d}"));
        }
    }
    out.push('\n');
    out
}

/// One -trace_counts data row: the time, the elapsed time since the start, then the
/// cumulative per-step counters (ends in `\n`).
pub fn counts_row(info: &RunInfo, cur: &ShardStats, now: SystemTime, d: &str) -> String {
    let mut out = format!(
        "{}{d}{}{d}",
        date_time_tabbed(now),
        hhmmss_us(elapsed_ms(info.run.start, now).saturating_mul(1000))
    );
    for (i, s) in info.steps.iter().enumerate() {
        if !s.shown() {
            continue;
        }
        let c = cur.steps.get(i).copied().unwrap_or_default();
        let values: &[u64] = match s.kind {
            StepKind::Send if s.retrans => &[c.messages, c.retrans, c.timeouts],
            StepKind::Send => &[c.messages, c.retrans],
            StepKind::Recv => &[c.messages, c.retrans, c.timeouts, c.unexpected],
            StepKind::Pause => &[c.messages, c.unexpected],
            // SIPp never counts sessions on a nop: the column always reads 0.
            StepKind::Nop => &[0, c.unexpected],
            StepKind::SendCmd => &[c.messages],
            StepKind::RecvCmd => &[c.messages, c.timeouts],
            StepKind::Label => &[],
        };
        for v in values {
            out.push_str(&v.to_string());
            out.push_str(d);
        }
    }
    out.push('\n');
    out
}

/// The -trace_rtt header: `Date_ms;response_time_ms;rtd_no` (ends in `\n`).
pub fn rtt_header(d: &str) -> String {
    format!("Date_ms{d}response_time_ms{d}rtd_no\n")
}

/// One -trace_rtt line: when the value was recorded (ms since the run started), the
/// response time in ms and the rtd's name, e.g. `204.001;0.412;1` (ends in `\n`).
pub fn rtt_line(info: &RunInfo, at: SystemTime, rtd: usize, rtt_us: u64, d: &str) -> String {
    let since = at.duration_since(info.run.start).unwrap_or_default();
    let date_ms = since.as_secs_f64() * 1000.0;
    let name = info.rtd_names.get(rtd).map(String::as_str).unwrap_or("");
    format!(
        "{}{d}{}{d}{name}\n",
        g6(date_ms),
        g6(rtt_us as f64 / 1000.0)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::run_info::tests::{uac_info, uas_info};
    use crate::stats::StepCounters;
    use std::time::Duration;

    /// The header SIPp 3.6.1 wrote for `sipp -sn uac … -trace_stat` (copied from a real
    /// run on this machine; a format fact).
    const SIPP_UAC_HEADER: &str = "StartTime;LastResetTime;CurrentTime;ElapsedTime(P);ElapsedTime(C);TargetRate;CallRate(P);CallRate(C);IncomingCall(P);IncomingCall(C);OutgoingCall(P);OutgoingCall(C);TotalCallCreated;CurrentCall;SuccessfulCall(P);SuccessfulCall(C);FailedCall(P);FailedCall(C);FailedCannotSendMessage(P);FailedCannotSendMessage(C);FailedMaxUDPRetrans(P);FailedMaxUDPRetrans(C);FailedTcpConnect(P);FailedTcpConnect(C);FailedTcpClosed(P);FailedTcpClosed(C);FailedUnexpectedMessage(P);FailedUnexpectedMessage(C);FailedCallRejected(P);FailedCallRejected(C);FailedCmdNotSent(P);FailedCmdNotSent(C);FailedRegexpDoesntMatch(P);FailedRegexpDoesntMatch(C);FailedRegexpShouldntMatch(P);FailedRegexpShouldntMatch(C);FailedRegexpHdrNotFound(P);FailedRegexpHdrNotFound(C);FailedOutboundCongestion(P);FailedOutboundCongestion(C);FailedTimeoutOnRecv(P);FailedTimeoutOnRecv(C);FailedTimeoutOnSend(P);FailedTimeoutOnSend(C);FailedTestDoesntMatch(P);FailedTestDoesntMatch(C);FailedTestShouldntMatch(P);FailedTestShouldntMatch(C);FailedStrcmpDoesntMatch(P);FailedStrcmpDoesntMatch(C);FailedStrcmpShouldntMatch(P);FailedStrcmpShouldntMatch(C);OutOfCallMsgs(P);OutOfCallMsgs(C);DeadCallMsgs(P);DeadCallMsgs(C);Retransmissions(P);Retransmissions(C);AutoAnswered(P);AutoAnswered(C);Warnings(P);Warnings(C);FatalErrors(P);FatalErrors(C);WatchdogMajor(P);WatchdogMajor(C);WatchdogMinor(P);WatchdogMinor(C);ResponseTime1(P);ResponseTime1(C);ResponseTime1StDev(P);ResponseTime1StDev(C);CallLength(P);CallLength(C);CallLengthStDev(P);CallLengthStDev(C);ResponseTimeRepartition1;ResponseTimeRepartition1_<10;ResponseTimeRepartition1_<20;ResponseTimeRepartition1_<30;ResponseTimeRepartition1_<40;ResponseTimeRepartition1_<50;ResponseTimeRepartition1_<100;ResponseTimeRepartition1_<150;ResponseTimeRepartition1_<200;ResponseTimeRepartition1_>=200;CallLengthRepartition;CallLengthRepartition_<10;CallLengthRepartition_<50;CallLengthRepartition_<100;CallLengthRepartition_<500;CallLengthRepartition_<1000;CallLengthRepartition_<5000;CallLengthRepartition_<10000;CallLengthRepartition_>=10000;\n";

    /// The tail of SIPp 3.6.1's header for a scenario with `rtd="a"`, `counter="okc"`,
    /// `ResponseTimeRepartition value="10, 20"` and `CallLengthRepartition value="10"`.
    const SIPP_CUSTOM_TAIL: &str = "WatchdogMinor(C);ResponseTimea(P);ResponseTimea(C);ResponseTimeaStDev(P);ResponseTimeaStDev(C);CallLength(P);CallLength(C);CallLengthStDev(P);CallLengthStDev(C);okc(P);okc(C);ResponseTimeRepartitiona;ResponseTimeRepartitiona_<10;ResponseTimeRepartitiona_<20;ResponseTimeRepartitiona_>=20;CallLengthRepartition;CallLengthRepartition_<10;CallLengthRepartition_>=10;\n";

    fn at(s: u64, us: u32) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::new(s, us * 1000)
    }

    #[test]
    fn stat_header_matches_sipp_uac_header_byte_for_byte() {
        assert_eq!(header(&uac_info(), ";"), SIPP_UAC_HEADER);
    }

    #[test]
    fn stat_header_names_rtds_counters_and_custom_edges_like_sipp() {
        let mut info = uac_info();
        info.rtd_names = vec!["a".into()];
        info.counter_names = vec!["okc".into()];
        info.rtd_edges_ms = vec![10, 20];
        info.call_length_edges_ms = vec![10];
        assert!(header(&info, ";").ends_with(SIPP_CUSTOM_TAIL));
    }

    #[test]
    fn sipp_regress_positions_12_and_18_are_outgoing_and_failed_calls() {
        let h = header(&uac_info(), ";");
        let cols: Vec<&str> = h.split(';').collect();
        assert_eq!(cols[11], "OutgoingCall(C)");
        assert_eq!(cols[17], "FailedCall(C)");
    }

    #[test]
    fn first_row_of_an_idle_run_matches_sipp() {
        // SIPp 3.6.1 wrote this row right after start (times copied from that run).
        let info = uac_info();
        let s = info.empty_stats();
        let start = info.run.start;
        let r = row(&info, &s, &s, start, at(1_795_686_419, 488_326), ";");
        let expected = "2026-11-26\t09:46:59.487723\t1795686419.487723;2026-11-26\t09:46:59.487723\t1795686419.487723;2026-11-26\t09:46:59.488326\t1795686419.488326;00:00:00;00:00:00;10;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;0;00:00:00:000000;00:00:00:000000;00:00:00:000000;00:00:00:000000;00:00:00:000000;00:00:00:000000;00:00:00:000000;00:00:00:000000;;0;0;0;0;0;0;0;0;0;;0;0;0;0;0;0;0;0;\n";
        assert_eq!(r, expected);
    }

    #[test]
    fn row_has_as_many_fields_as_the_header() {
        let mut info = uac_info();
        info.counter_names = vec!["okc".into()];
        let s = info.empty_stats();
        let h = header(&info, ";");
        let r = row(&info, &s, &s, info.run.start, info.run.start, ";");
        assert_eq!(h.split(';').count(), r.split(';').count());
    }

    #[test]
    fn periodic_columns_are_the_difference_of_two_snapshots() {
        let info = uac_info();
        let start = info.run.start;
        let mut prev = info.empty_stats();
        prev.counters.outgoing_calls = 9;
        prev.counters.successful_calls = 9;
        prev.rtd[0].record(2_000);
        let mut cur = prev.clone();
        cur.counters.outgoing_calls = 20;
        cur.counters.successful_calls = 19;
        cur.counters.retransmissions = 3;
        cur.current_calls = 1;
        cur.rtd[0].record(4_000);
        cur.rtd[0].record(6_000);
        let t1 = start + Duration::from_millis(1_004);
        let t2 = start + Duration::from_millis(2_007);
        let r = row(&info, &prev, &cur, t1, t2, ";");
        let f: Vec<&str> = r.trim_end().split(';').collect();
        let h = header(&info, ";");
        let col = |name: &str| h.split(';').position(|c| c == name).unwrap();
        assert_eq!(f[col("ElapsedTime(P)")], "00:00:01");
        assert_eq!(f[col("ElapsedTime(C)")], "00:00:02");
        assert_eq!(f[col("OutgoingCall(P)")], "11");
        assert_eq!(f[col("OutgoingCall(C)")], "20");
        assert_eq!(f[col("TotalCallCreated")], "20");
        assert_eq!(f[col("CurrentCall")], "1");
        assert_eq!(f[col("SuccessfulCall(P)")], "10");
        assert_eq!(f[col("SuccessfulCall(C)")], "19");
        assert_eq!(f[col("Retransmissions(P)")], "3");
        // 11 calls in 1003 ms, 20 calls in 2007 ms, printed as C++ prints a float.
        assert_eq!(f[col("CallRate(P)")], "10.9671");
        assert_eq!(f[col("CallRate(C)")], "9.96512");
        // Periodic: values 4 ms and 6 ms; cumulative: 2, 4, 6 ms.
        assert_eq!(f[col("ResponseTime1(P)")], "00:00:00:005000");
        assert_eq!(f[col("ResponseTime1(C)")], "00:00:00:004000");
        assert_eq!(f[col("ResponseTime1StDev(P)")], "00:00:00:001000");
        assert_eq!(f[col("ResponseTime1StDev(C)")], "00:00:00:001632");
        // Repartition columns are cumulative: all three values are below 10 ms.
        assert_eq!(f[col("ResponseTimeRepartition1_<10")], "3");
        assert_eq!(f[col("ResponseTimeRepartition1")], "");
    }

    #[test]
    fn users_mode_prints_users_as_target_rate() {
        let mut info = uac_info();
        info.run.users = Some(50);
        let s = info.empty_stats();
        let r = row(&info, &s, &s, info.run.start, info.run.start, ";");
        assert_eq!(r.split(';').nth(5), Some("50"));
    }

    #[test]
    fn counts_headers_match_sipp_uac_and_uas() {
        assert_eq!(
            counts_header(&uac_info(), ";"),
            "CurrentTime;ElapsedTime;0_INVITE_Sent;0_INVITE_Retrans;0_INVITE_Timeout;1_100_Recv;1_100_Retrans;1_100_Timeout;1_100_Unexp;2_180_Recv;2_180_Retrans;2_180_Timeout;2_180_Unexp;3_183_Recv;3_183_Retrans;3_183_Timeout;3_183_Unexp;4_200_Recv;4_200_Retrans;4_200_Timeout;4_200_Unexp;5_ACK_Sent;5_ACK_Retrans;6_Pause_Sessions;6_Pause_Unexp;7_BYE_Sent;7_BYE_Retrans;7_BYE_Timeout;8_200_Recv;8_200_Retrans;8_200_Timeout;8_200_Unexp;\n"
        );
        assert_eq!(
            counts_header(&uas_info(), ";"),
            "CurrentTime;ElapsedTime;0_INVITE_Recv;0_INVITE_Retrans;0_INVITE_Timeout;0_INVITE_Unexp;1_180_Sent;1_180_Retrans;2_200_Sent;2_200_Retrans;2_200_Timeout;3_ACK_Recv;3_ACK_Retrans;3_ACK_Timeout;3_ACK_Unexp;4_BYE_Recv;4_BYE_Retrans;4_BYE_Timeout;4_BYE_Unexp;5_200_Sent;5_200_Retrans;6_Pause_Sessions;6_Pause_Unexp;\n"
        );
    }

    #[test]
    fn counts_row_matches_sipp_final_uac_row() {
        let info = uac_info();
        let mut s = info.empty_stats();
        for (i, st) in s.steps.iter_mut().enumerate() {
            if ![1, 3].contains(&i) {
                *st = StepCounters {
                    messages: 20,
                    ..Default::default()
                };
            }
        }
        let now = at(1_795_686_421, 500_185);
        assert_eq!(
            counts_row(&info, &s, now, ";"),
            "2026-11-26\t09:47:01.500185\t1795686421.500185;00:00:02:012000;20;0;0;0;0;0;0;20;0;0;0;0;0;0;0;20;0;0;0;20;0;20;0;20;0;0;20;0;0;0;\n"
        );
    }

    #[test]
    fn hidden_steps_and_labels_have_no_count_columns() {
        let mut info = uac_info();
        info.steps[1].hide = true;
        info.steps[2].kind = StepKind::Label;
        info.steps[2].sipp_index = None;
        info.steps[3].kind = StepKind::Nop;
        let h = counts_header(&info, ";");
        assert!(!h.contains("_100_"));
        assert!(!h.contains("_180_"));
        assert!(h.contains("3_Pause_Sessions;3_Pause_Unexp;4_200_Recv"));
        let s = info.empty_stats();
        let r = counts_row(&info, &s, info.run.start, ";");
        assert_eq!(h.split(';').count(), r.split(';').count());
    }

    #[test]
    fn rtt_lines_match_sipp_format() {
        let mut info = uac_info();
        info.rtd_names = vec!["a".into()];
        assert_eq!(rtt_header(";"), "Date_ms;response_time_ms;rtd_no\n");
        let at = info.run.start + Duration::from_micros(204_001);
        assert_eq!(rtt_line(&info, at, 0, 0, ";"), "204.001;0;a\n");
        assert_eq!(rtt_line(&info, at, 0, 1_412, ";"), "204.001;1.412;a\n");
    }

    #[test]
    fn moments_never_go_negative() {
        let a = Moments {
            count: 1,
            sum_us: 5,
            sum_sq_ms: 1.0,
        };
        let b = Moments {
            count: 2,
            sum_us: 9,
            sum_sq_ms: 2.0,
        };
        assert_eq!(a.since(b), Moments::default());
        assert_eq!(Moments::default().stdev_us(), 0);
        assert_eq!(Moments::default().mean_us(), 0);
    }
}

#[cfg(test)]
mod builtin_tests {
    //! The same goldens, but from the built-in scenarios as our loader compiles them.
    use super::*;
    use crate::output::run_info::RunParams;

    fn loaded(id: &str) -> Option<RunInfo> {
        let b = crate::scenario::builtin::get(id)?;
        let sc = crate::scenario::load(b.xml.as_bytes(), id, &Default::default()).ok()?;
        Some(RunInfo::new(&sc, RunParams::default()))
    }

    #[test]
    fn builtin_uac_and_uas_give_sipps_headers() {
        let (Some(uac), Some(uas)) = (loaded("uac"), loaded("uas")) else {
            panic!("the built-in uac and uas must load");
        };
        assert_eq!(
            header(&uac, ";"),
            header(&crate::output::run_info::tests::uac_info(), ";")
        );
        assert_eq!(
            counts_header(&uac, ";"),
            counts_header(&crate::output::run_info::tests::uac_info(), ";")
        );
        assert_eq!(
            counts_header(&uas, ";"),
            counts_header(&crate::output::run_info::tests::uas_info(), ";")
        );
    }
}
