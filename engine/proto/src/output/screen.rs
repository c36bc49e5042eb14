//! SIPp's text screens: the scenario screen (client and server variants), the statistics
//! screen and the repartition screens, laid out as SIPp 3.6.1 prints them at exit and into
//! `-trace_screen` (`reference/sipp.md` §4.2).
//!
//! Owns: the line layout (widths, arrows, 79-character cut). Must not: read clocks, track
//! state between calls or draw with curses; the shell passes the previous snapshot for
//! the periodic columns and prints the returned lines.
//!
//! Deliberate differences from SIPp, each a number SIPp 3.6.1 gets wrong:
//! - measured times carry microseconds (SIPp's are whole milliseconds, so its last three
//!   digits are always 000);
//! - "Call limit N hit, X s period" divides the period by 1000 (SIPp divides by 100, so a
//!   0.8 s period read "8.0 s");
//! - "Peak was N calls, after X s" gives the time of the peak (the shell passed 0 before);
//!   "X ms scheduler resolution" is the period over the engine's loop turns in it;
//! - SIPp's "N Running, N Paused, N Woken up" line counts its task queues, which this
//!   engine does not have: the line is left out rather than showing zeros;
//! - SIPp 3.6.1 prints the "open sockets" line twice when its RTP line has no period to
//!   divide by (a buffer reused by mistake); the second line here is SIPp's RTP line,
//!   "N Total RTP pckts sent … last period RTP rate (kB/s)", with RTP bytes (headers
//!   included) over the period's milliseconds.

use std::time::SystemTime;

use super::csv::{Moments, call_rate};
use super::format::{clip, date_time_tabbed, elapsed_ms, hhmmss_us, left_exact};
use super::run_info::{RunInfo, StepInfo, StepKind};
use crate::scenario::Role;
use crate::stats::{ShardStats, TimeStat};

/// SIPp's screen buffers hold 80 bytes: 79 characters and a NUL.
const WIDTH: usize = 79;
/// The statistics screen's buffer holds 255 characters.
const STATS_WIDTH: usize = 255;
/// Bytes of an RTP header without extensions (RFC 3550 §5.1), added to the payload
/// octets for the RTP line's rate.
const RTP_HEADER: u64 = 12;

const CROSS_LINE: &str =
    "-------------------------+---------------------------+--------------------------";

/// The state line under each screen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Footer {
    /// Traffic flowing: the key help (client) or "SIPp Server Mode" (server).
    Running,
    /// `p` pressed.
    Paused,
    /// `q` pressed or the call limit reached: waiting for calls to end.
    Quitting,
    /// The final screens printed at exit.
    Terminated,
}

/// Numbers the shell tracks that are not in `ShardStats`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LiveInfo {
    /// Socket receive errors.
    pub recv_errors: u64,
    /// Sends delayed by congestion (stream transports).
    pub congestions: u64,
    /// Loop turns of one shard during the period (the shell divides the shards' sum by
    /// their number); the screen shows period / turns in ms.
    pub scheduling_loops: u64,
    /// The last error's text without its timestamp (`Last Error:` line).
    pub last_error: Option<String>,
}

/// What one screen render needs.
#[derive(Clone, Copy, Debug)]
pub struct ScreenInput<'a> {
    /// The run's fixed facts.
    pub info: &'a RunInfo,
    /// The snapshot of the previous screen period (an empty `ShardStats` at first).
    pub prev: &'a ShardStats,
    /// The snapshot to show.
    pub cur: &'a ShardStats,
    /// When the previous period ended (SIPp's "Last Reset Time").
    pub period_start: SystemTime,
    /// Now.
    pub now: SystemTime,
    /// Shell-side numbers.
    pub live: &'a LiveInfo,
    /// The state line.
    pub footer: Footer,
}

fn push(lines: &mut Vec<String>, mut s: String) {
    clip(&mut s, WIDTH);
    lines.push(s);
}

/// The statistics screen's buffer is 256 bytes in SIPp 3.6.1: its lines run to 80.
fn push_wide(lines: &mut Vec<String>, mut s: String) {
    clip(&mut s, STATS_WIDTH);
    lines.push(s);
}

fn created(s: &ShardStats) -> u64 {
    s.counters.incoming_calls + s.counters.outgoing_calls
}

fn rtd_marker(step: &StepInfo) -> String {
    match (step.start_rtd, step.stop_rtd) {
        (Some(n), _) => format!(" B-RTD{n} "),
        (None, Some(n)) => format!(" E-RTD{n} "),
        (None, None) => "        ".into(),
    }
}

/// One step's line on the scenario screen, or `None` when SIPp does not list it.
fn step_line(role: Role, step: &StepInfo, c: &crate::stats::StepCounters) -> Option<String> {
    let server = role == Role::Server;
    let l = &step.label;
    let line = match step.kind {
        StepKind::Label => return None,
        _ if step.hide => return None,
        StepKind::Send => {
            let head = if server {
                format!("  <---------- {l:<10} ")
            } else {
                format!("  {l:>10} ----------> ")
            };
            let counts = if step.retrans {
                format!(
                    "{:<9} {:<9} {:<9} {:<9} {:<9}",
                    c.messages, c.retrans, c.timeouts, "", ""
                )
            } else {
                format!(
                    "{:<9} {:<9} {:<9} {:<9} {:<9}",
                    c.messages, c.retrans, "", "", ""
                )
            };
            format!("{head}{}{counts}", rtd_marker(step))
        }
        StepKind::Recv => {
            let head = if server {
                format!("  ----------> {l:<10} ")
            } else {
                format!("  {l:>10} <---------- ")
            };
            format!(
                "{head}{}{:<9} {:<9} {:<9} {:<9} {:<9}",
                rtd_marker(step),
                c.messages,
                c.retrans,
                c.timeouts,
                c.unexpected,
                ""
            )
        }
        StepKind::Pause => {
            let len = l.len().max(9);
            let mut left = if server {
                format!(
                    "  [{l:>9}] Pause{}",
                    " ".repeat(23usize.saturating_sub(len))
                )
            } else {
                format!(
                    "       Pause [{l:>9}]{}",
                    " ".repeat(18usize.saturating_sub(len))
                )
            };
            clip(&mut left, 39);
            format!(
                "{left}{:<9}                     {:<9}",
                c.messages, c.unexpected
            )
        }
        StepKind::Nop => match &step.display {
            Some(d) => format!(" {d}"),
            None => "              [ NOP ]              ".into(),
        },
        StepKind::RecvCmd => format!(
            "    [ Received Command ]         {:<9} {:<9} {:<9} {:<9}",
            c.messages, "", "", ""
        ),
        StepKind::SendCmd => format!(
            "        [ Sent Command ]         {:<9} {:<9}           {:<9}",
            c.messages, "", ""
        ),
    };
    Some(line)
}

fn scenario_body(i: &ScreenInput<'_>, lines: &mut Vec<String>) {
    let info = i.info;
    let run = &info.run;
    let total = created(i.cur);
    let clock_ms = elapsed_ms(run.start, i.now);
    let total_time = format!("{:>6}.{:02} s", clock_ms / 1000, clock_ms % 1000 / 10);
    match info.role {
        Role::Server => {
            push(lines, "  Port   Total-time  Total-calls  Transport".into());
            push(
                lines,
                format!(
                    "  {:<5} {total_time}     {total:>8}  {}",
                    run.local_port, run.transport
                ),
            );
        }
        Role::Client => {
            let remote = format!("{}({})", run.remote, run.transport);
            match run.users {
                Some(users) => {
                    push(
                        lines,
                        "  Users (length)   Port   Total-time  Total-calls  Remote-host".into(),
                    );
                    push(
                        lines,
                        format!(
                            "  {users} ({} ms)   {:<5} {total_time}     {total:>8}  {remote}",
                            run.default_pause_ms, run.local_port
                        ),
                    );
                }
                None => {
                    push(
                        lines,
                        "  Call rate (length)   Port   Total-time  Total-calls  Remote-host".into(),
                    );
                    push(
                        lines,
                        format!(
                            "  {:3.1}({} ms)/{:5.3}s   {:<5} {total_time}     {total:>8}  {remote}",
                            run.rate,
                            run.default_pause_ms,
                            run.rate_period_ms as f64 / 1000.0,
                            run.local_port
                        ),
                    );
                }
            }
        }
    }
    lines.push(String::new());

    let period_ms = elapsed_ms(i.period_start, i.now);
    let left = match run.max_calls {
        Some(m) if total >= m => {
            format!(
                "Call limit {m} hit, {:.1} s period ",
                period_ms as f64 / 1000.0
            )
        }
        _ => format!(
            "{} new calls during {}.{:03} s period",
            total.saturating_sub(created(i.prev)),
            period_ms / 1000,
            period_ms % 1000
        ),
    };
    let right = format!(
        "{} ms scheduler resolution",
        period_ms / i.live.scheduling_loops.max(1)
    );
    push(
        lines,
        format!("  {}  {}", left_exact(&left, 38), left_exact(&right, 37)),
    );

    let calls = match info.role {
        Role::Server => format!("{} calls", i.cur.current_calls),
        Role::Client => format!("{} calls (limit {})", i.cur.current_calls, run.call_limit),
    };
    push(
        lines,
        format!(
            "  {calls:<38}  Peak was {} calls, after {} s",
            i.cur.peak_calls,
            i.cur.peak_at_us / 1_000_000
        ),
    );
    let dead = format!(
        "{} dead call msg (discarded)",
        i.cur.counters.dead_call_msgs
    );
    match info.role {
        Role::Client => push(
            lines,
            format!(
                "  {dead:<38}  {} out-of-call msg (discarded)",
                i.cur.counters.out_of_call_msgs
            ),
        ),
        Role::Server => push(lines, format!("  {dead:<38}")),
    }
    let sockets = format!("{} open sockets", i.cur.open_sockets);
    push(
        lines,
        format!(
            "  {sockets:<38}  {}/{}/{} {} errors (send/recv/cong)",
            i.cur.counters.send_errors, i.live.recv_errors, i.live.congestions, run.transport
        ),
    );
    let rtp_bytes =
        |s: &ShardStats| s.media.rtp_octets_sent + RTP_HEADER * s.media.rtp_packets_sent;
    let period_bytes = rtp_bytes(i.cur).saturating_sub(rtp_bytes(i.prev));
    let rate = if period_ms > 0 {
        period_bytes as f64 / period_ms as f64
    } else {
        0.0
    };
    let rtp = format!("{} Total RTP pckts sent ", i.cur.media.rtp_packets_sent);
    push(
        lines,
        format!("  {rtp:<38}  {rate:.3} last period RTP rate (kB/s)"),
    );
    lines.push(String::new());
    push(
        lines,
        "                                 Messages  Retrans   Timeout   Unexpected-Msg".into(),
    );
    let empty = crate::stats::StepCounters::default();
    for (n, step) in info.steps.iter().enumerate() {
        let c = i.cur.steps.get(n).unwrap_or(&empty);
        if let Some(line) = step_line(info.role, step, c) {
            push(lines, line);
            if step.crlf {
                lines.push(String::new());
            }
        }
    }
}

fn txt_col(lines: &mut Vec<String>, name: &str, p: &str, c: &str) {
    push_wide(
        lines,
        format!(
            "  {} | {} | {} ",
            left_exact(name, 22),
            left_exact(p, 25),
            left_exact(c, 24)
        ),
    );
}

fn two_values(lines: &mut Vec<String>, name: &str, p: u64, c: u64) {
    push_wide(
        lines,
        format!(
            "  {} | {p:>8}                  | {c:>8}                 ",
            left_exact(name, 22)
        ),
    );
}

fn statistics_body(i: &ScreenInput<'_>, lines: &mut Vec<String>) {
    let (prev, cur, info) = (i.prev, i.cur, i.info);
    let local_ms = elapsed_ms(i.period_start, i.now);
    let global_ms = elapsed_ms(info.run.start, i.now);
    for (name, t) in [
        ("Start Time", info.run.start),
        ("Last Reset Time", i.period_start),
        ("Current Time", i.now),
    ] {
        push_wide(
            lines,
            format!(
                "  {} | {} ",
                left_exact(name, 22),
                left_exact(&date_time_tabbed(t), 52)
            ),
        );
    }
    lines.push(CROSS_LINE.into());
    lines.push("  Counter Name           | Periodic value            | Cumulative value".into());
    lines.push(CROSS_LINE.into());
    txt_col(
        lines,
        "Elapsed Time",
        &hhmmss_us(local_ms * 1000),
        &hhmmss_us(global_ms * 1000),
    );
    let rate_p = call_rate(created(cur).saturating_sub(created(prev)), local_ms);
    let rate_c = call_rate(created(cur), global_ms);
    push_wide(
        lines,
        format!(
            "  {} | {rate_p:8.3} cps              | {rate_c:8.3} cps             ",
            left_exact("Call Rate", 22)
        ),
    );
    lines.push(CROSS_LINE.into());
    let (pc, cc) = (&prev.counters, &cur.counters);
    two_values(
        lines,
        "Incoming calls created",
        cc.incoming_calls.saturating_sub(pc.incoming_calls),
        cc.incoming_calls,
    );
    two_values(
        lines,
        "Outgoing calls created",
        cc.outgoing_calls.saturating_sub(pc.outgoing_calls),
        cc.outgoing_calls,
    );
    push_wide(
        lines,
        format!(
            "  {} |                           | {:>8}                 ",
            left_exact("Total Calls created", 22),
            created(cur)
        ),
    );
    push_wide(
        lines,
        format!(
            "  {} | {:>8}                  |                          ",
            left_exact("Current Calls", 22),
            cur.current_calls
        ),
    );
    if !info.counter_names.is_empty() {
        lines.push(CROSS_LINE.into());
    }
    for (n, name) in info.counter_names.iter().enumerate() {
        let c = cur.generic_counters.get(n).copied().unwrap_or(0);
        let p = prev.generic_counters.get(n).copied().unwrap_or(0);
        two_values(lines, &format!("Counter {name}"), c.saturating_sub(p), c);
    }
    lines.push(CROSS_LINE.into());
    two_values(
        lines,
        "Successful call",
        cc.successful_calls.saturating_sub(pc.successful_calls),
        cc.successful_calls,
    );
    two_values(
        lines,
        "Failed call",
        cc.failed_calls.saturating_sub(pc.failed_calls),
        cc.failed_calls,
    );
    lines.push(CROSS_LINE.into());
    let mean_pair = |c: Option<&TimeStat>, p: Option<&TimeStat>| {
        let cm = Moments::of(c);
        (
            hhmmss_us(cm.since(Moments::of(p)).mean_us()),
            hhmmss_us(cm.mean_us()),
        )
    };
    for (n, name) in info.rtd_names.iter().enumerate() {
        let (p, c) = mean_pair(cur.rtd.get(n), prev.rtd.get(n));
        txt_col(lines, &format!("Response Time {name}"), &p, &c);
    }
    let (p, c) = mean_pair(Some(&cur.call_length), Some(&prev.call_length));
    txt_col(lines, "Call Length", &p, &c);
}

fn info_line(lines: &mut Vec<String>, text: &str) {
    push(lines, format!("  {}", left_exact(text, 77)));
}

fn repartition_lines(lines: &mut Vec<String>, edges: &[u64], t: Option<&TimeStat>) {
    let Some(&last) = edges.last() else {
        info_line(lines, "  <No repartion defined>");
        return;
    };
    let count = |k: usize| t.and_then(|t| t.repartition.get(k)).copied().unwrap_or(0);
    let mut low = 0;
    for (k, &e) in edges.iter().enumerate() {
        push(
            lines,
            format!("    {low:>10} ms <= n < {e:>10} ms : {:>10}", count(k)),
        );
        low = e;
    }
    push(
        lines,
        format!(
            "    {:14} n >= {last:>10} ms : {:>10}",
            "",
            count(edges.len())
        ),
    );
}

/// The body of repartition screen `which` (1-based rtd number): that rtd's buckets, and
/// for the first screen the call-length buckets too.
fn repartition_body(info: &RunInfo, cur: &ShardStats, which: usize, lines: &mut Vec<String>) {
    let Some(name) = which.checked_sub(1).and_then(|k| info.rtd_names.get(k)) else {
        info_line(lines, "  <No repartion defined>");
        return;
    };
    info_line(lines, &format!("Average Response Time Repartition {name}"));
    repartition_lines(lines, &info.rtd_edges_ms, cur.rtd.get(which - 1));
    if which == 1 {
        info_line(lines, "Average Call Length Repartition");
        repartition_lines(lines, &info.call_length_edges_ms, Some(&cur.call_length));
    }
}

/// Which screen to draw.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Screen {
    /// Key 1: the scenario steps and their counters.
    Scenario,
    /// Key 2: the statistics table.
    Statistics,
    /// Key 3: the first response-time and the call-length repartition.
    Repartition,
    /// Keys 6–9: repartition of rtd N (1-based).
    RtdRepartition(usize),
}

fn footer_line(role: Role, footer: Footer) -> &'static str {
    match footer {
        Footer::Terminated => {
            "------------------------------ Test Terminated --------------------------------"
        }
        Footer::Quitting => {
            "------- Waiting for active calls to end. Press [q] again to force exit. -------"
        }
        Footer::Paused => {
            "----------------- Traffic Paused - Press [p] again to resume ------------------"
        }
        Footer::Running => match role {
            Role::Client => {
                "------ [+|-|*|/]: Adjust rate ---- [q]: Soft exit ---- [p]: Pause traffic -----"
            }
            Role::Server => {
                "------------------------------ SIPp Server Mode -------------------------------"
            }
        },
    }
}

/// One whole screen as lines: title, body, the `Last Error:` line (not on the final
/// screens) and the state line.
pub fn screen_lines(which: Screen, i: &ScreenInput<'_>) -> Vec<String> {
    let mut lines = Vec::with_capacity(48);
    match which {
        Screen::Scenario => {
            lines.push(
                "------------------------------ Scenario Screen -------- [1-9]: Change Screen --"
                    .into(),
            );
            scenario_body(i, &mut lines);
        }
        Screen::Statistics => {
            lines.push(
                "----------------------------- Statistics Screen ------- [1-9]: Change Screen --"
                    .into(),
            );
            statistics_body(i, &mut lines);
        }
        Screen::Repartition => {
            lines.push(
                "---------------------------- Repartition Screen ------- [1-9]: Change Screen --"
                    .into(),
            );
            repartition_body(i.info, i.cur, 1, &mut lines);
        }
        Screen::RtdRepartition(n) => {
            lines.push(format!(
                "--------------------------- Repartition {n} Screen ------ [1-9]: Change Screen --"
            ));
            repartition_body(i.info, i.cur, n, &mut lines);
        }
    }
    if i.footer != Footer::Terminated
        && let Some(err) = i.live.last_error.as_deref().filter(|e| !e.is_empty())
    {
        let err = err.trim_start();
        let line = if err.len() > 60 {
            let mut cut = err.to_string();
            clip(&mut cut, 60);
            format!("Last Error: {cut}...")
        } else {
            format!("Last Error: {err}")
        };
        push(&mut lines, line);
    }
    lines.push(footer_line(i.info.role, i.footer).into());
    lines
}

/// Joins lines with `\n`, ending in `\n`.
pub fn to_text(lines: &[String]) -> String {
    let mut out = String::with_capacity(lines.iter().map(|l| l.len() + 1).sum());
    for l in lines {
        out.push_str(l);
        out.push('\n');
    }
    out
}

/// The `-trace_screen` file: the scenario, statistics and repartition screens, then one
/// repartition screen per further rtd, each with its state line.
pub fn trace_screen(i: &ScreenInput<'_>) -> String {
    let mut lines = screen_lines(Screen::Scenario, i);
    lines.extend(screen_lines(Screen::Statistics, i));
    lines.extend(screen_lines(Screen::Repartition, i));
    for n in 2..=i.info.rtd_names.len() {
        lines.extend(screen_lines(Screen::RtdRepartition(n), i));
    }
    to_text(&lines)
}

/// What SIPp prints on stdout at exit: the screen on display with "Test Terminated",
/// then the statistics screen unless that was the one on display.
pub fn closing_screens(displayed: Screen, i: &ScreenInput<'_>) -> String {
    let last = ScreenInput {
        footer: Footer::Terminated,
        ..*i
    };
    let mut lines = screen_lines(displayed, &last);
    if displayed != Screen::Statistics {
        lines.extend(screen_lines(Screen::Statistics, &last));
    }
    to_text(&lines)
}

#[cfg(test)]
mod tests;
