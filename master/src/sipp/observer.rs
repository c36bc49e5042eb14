//! The SIPp command line's observer: live screen, keys, periodic -trace_stat rows and
//! -stat_period lines, logs, call records and the -metrics_addr scrape, fed by the
//! runner's ticks.
//!
//! Owns: the trace files and the screen while the run goes. Must not: decide the exit
//! code or write the final screens and summary (`run` does at the end).

use std::fs::File;
use std::io::Write as _;
use std::time::{Duration, Instant, SystemTime};

use gossipper_engine::call::ShardEvent;
use gossipper_engine::config::JobSpec;
use gossipper_engine::output::csv;
use gossipper_engine::output::run_info::RunInfo;
use gossipper_engine::output::screen::{self, Footer, LiveInfo, Screen, ScreenInput};
use gossipper_engine::output::stats_line::StatsLine;
use gossipper_engine::runner::{Observer, RunReport, Tick};
use gossipper_engine::stats::ShardStats;

use super::control::{Keys, apply_signals};
use super::terminal;
use crate::exporter::Feed;
use crate::signals::SignalCounts;

fn create(path: &Option<std::path::PathBuf>) -> std::io::Result<Option<File>> {
    match path {
        Some(p) => File::create(p)
            .map(Some)
            .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", p.display()))),
        None => Ok(None),
    }
}

pub(super) struct SippObserver {
    info: RunInfo,
    delimiter: String,
    screen_file: Option<std::path::PathBuf>,
    rate_scale: f64,
    signals: SignalCounts,
    keys: Keys,
    tty: bool,
    stat_file: Option<File>,
    stat_prev: ShardStats,
    stat_prev_at: SystemTime,
    stat_period: Duration,
    stat_next: Option<Instant>,
    pub(super) screen_prev: ShardStats,
    pub(super) screen_prev_at: SystemTime,
    screen_next: Option<Instant>,
    screen: Screen,
    counts_file: Option<File>,
    /// -trace_rtt: lines are buffered and written every `rtt_freq` values, as SIPp does.
    rtt_file: Option<File>,
    rtt_buf: String,
    rtt_pending: u64,
    rtt_freq: u64,
    call_records: Option<File>,
    logs: Option<File>,
    errors: Option<File>,
    message_file: Option<File>,
    short_message_file: Option<File>,
    quit_presses: u32,
    pub(super) last_error: Option<String>,
    /// Shards of the run: the screen's scheduler resolution is per shard.
    shards: u64,
    /// -metrics_addr: the run's `/metrics`, refreshed every second.
    metrics: Option<Feed>,
    /// -stat_period: its period, when the next line is due and the numbers of the last.
    stat_line_period: Option<Duration>,
    stat_line_next: Option<Instant>,
    stat_line_prev: ShardStats,
}

impl SippObserver {
    pub(super) fn new(
        spec: &JobSpec,
        info: RunInfo,
        start: SystemTime,
        signals: SignalCounts,
        keys: Keys,
        shards: usize,
        metrics: Option<Feed>,
    ) -> std::io::Result<Self> {
        let empty = info.empty_stats();
        let t = &spec.trace;
        let mut stat_file = create(&t.stat_file)?;
        if let Some(f) = stat_file.as_mut() {
            f.write_all(csv::header(&info, &t.stat_delimiter).as_bytes())?;
        }
        let mut rtt_file = create(&t.rtt_file)?;
        if let Some(f) = rtt_file.as_mut() {
            f.write_all(csv::rtt_header(&t.stat_delimiter).as_bytes())?;
        }
        let mut counts_file = create(&t.counts_file)?;
        if let Some(f) = counts_file.as_mut() {
            f.write_all(csv::counts_header(&info, &t.stat_delimiter).as_bytes())?;
        }
        Ok(SippObserver {
            delimiter: t.stat_delimiter.clone(),
            screen_file: t.screen_file.clone(),
            rate_scale: 1.0,
            signals,
            keys,
            tty: terminal::stdout_is_tty() && !spec.background,
            stat_file,
            stat_prev: empty.clone(),
            stat_prev_at: start,
            stat_period: Duration::from_millis(t.stat_period_ms.max(1)),
            stat_next: None,
            stat_line_period: t.stat_line_period_ms.map(Duration::from_millis),
            stat_line_next: None,
            stat_line_prev: empty.clone(),
            screen_prev: empty,
            screen_prev_at: start,
            screen_next: None,
            screen: Screen::Scenario,
            counts_file,
            rtt_file,
            rtt_buf: String::new(),
            rtt_pending: 0,
            rtt_freq: t.rtt_freq.max(1),
            call_records: create(&t.call_records)?,
            logs: create(&t.log_file)?,
            errors: create(&t.error_file)?,
            message_file: create(&t.message_file)?,
            short_message_file: create(&t.shortmessage_file)?,
            quit_presses: 0,
            last_error: None,
            info,
            shards: shards.max(1) as u64,
            metrics,
        })
    }

    /// The screen's numbers that are not in the statistics, for the period from the
    /// last screen to `cur`.
    pub(super) fn live_info(&self, cur: &ShardStats) -> LiveInfo {
        let loops = cur
            .scheduler_loops
            .saturating_sub(self.screen_prev.scheduler_loops);
        LiveInfo {
            last_error: self.last_error.clone(),
            scheduling_loops: loops / self.shards,
            ..Default::default()
        }
    }

    fn screen_input<'a>(
        &'a self,
        cur: &'a ShardStats,
        now: SystemTime,
        live: &'a LiveInfo,
        footer: Footer,
    ) -> ScreenInput<'a> {
        ScreenInput {
            info: &self.info,
            prev: &self.screen_prev,
            cur,
            period_start: self.screen_prev_at,
            now,
            live,
            footer,
        }
    }

    fn handle_key(&mut self, k: u8, tick: &Tick<'_>) {
        let c = tick.control;
        let step = self.rate_scale;
        match k {
            b'+' => c.set_rate(c.rate() + step),
            b'-' => c.set_rate((c.rate() - step).max(0.0)),
            b'*' => c.set_rate(c.rate() + 10.0 * step),
            b'/' => c.set_rate((c.rate() - 10.0 * step).max(0.0)),
            b'p' => c.set_paused(!c.paused()),
            b'q' => {
                self.quit_presses += 1;
                if self.quit_presses > 1 {
                    c.hard_quit()
                } else {
                    c.soft_quit()
                }
            }
            b'Q' => c.hard_quit(),
            b'1' => self.screen = Screen::Scenario,
            b'2' => self.screen = Screen::Statistics,
            b'3' => self.screen = Screen::Repartition,
            b'6'..=b'9' => self.screen = Screen::RtdRepartition(usize::from(k - b'5')),
            _ => {}
        }
    }

    fn write_events(&mut self, events: &[ShardEvent], wall: SystemTime) {
        let when = gossipper_engine::output::format::date_time_spaced(wall);
        for e in events {
            match e {
                ShardEvent::Log(t) => {
                    if let Some(f) = self.logs.as_mut() {
                        let _ = writeln!(f, "{t}");
                    }
                }
                ShardEvent::Rtt { rtd, us } if self.rtt_file.is_some() => {
                    let line =
                        csv::rtt_line(&self.info, wall, usize::from(*rtd), *us, &self.delimiter);
                    self.rtt_buf.push_str(&line);
                    self.rtt_pending += 1;
                    if self.rtt_pending >= self.rtt_freq {
                        self.flush_rtt();
                    }
                }
                ShardEvent::Warning(t) | ShardEvent::Error(t) => {
                    self.last_error = Some(t.clone());
                    if let Some(f) = self.errors.as_mut() {
                        let _ = writeln!(f, "{when}: {t}");
                    }
                }
                _ => {}
            }
        }
    }

    /// -stat_period: one summary line on stderr when one is due.
    fn stat_line(&mut self, tick: &Tick<'_>) {
        let Some(period) = self.stat_line_period else {
            return;
        };
        let next = *self.stat_line_next.get_or_insert(tick.started + period);
        if tick.now < next {
            return;
        }
        self.stat_line_next = Some(next + period);
        let line = StatsLine::between(&self.stat_line_prev, tick.stats, period);
        let elapsed = tick.now.saturating_duration_since(tick.started);
        eprintln!("{}", stat_line_text(elapsed, &line));
        self.stat_line_prev = tick.stats.clone();
    }

    fn flush_rtt(&mut self) {
        if let Some(f) = self.rtt_file.as_mut() {
            let _ = f.write_all(self.rtt_buf.as_bytes());
        }
        self.rtt_buf.clear();
        self.rtt_pending = 0;
    }

    /// Writes the last -trace_stat, -trace_counts and -trace_rtt rows.
    pub(super) fn finish(&mut self, report: &RunReport) {
        self.flush_rtt();
        if let Some(f) = self.stat_file.as_mut() {
            let row = csv::row(
                &self.info,
                &self.stat_prev,
                &report.stats,
                self.stat_prev_at,
                report.finished_at,
                &self.delimiter,
            );
            let _ = f.write_all(row.as_bytes());
        }
        if let Some(f) = self.counts_file.as_mut() {
            let _ = f.write_all(
                csv::counts_row(
                    &self.info,
                    &report.stats,
                    report.finished_at,
                    &self.delimiter,
                )
                .as_bytes(),
            );
        }
        if self.tty {
            // Leave the live screen.
            print!("\x1b[2J\x1b[H");
        }
    }
}

/// The -stat_period line: `gossipper: 12.0 s: 120 calls (118 ok, 2 failed, 5 open),
/// 10.0 calls/s, 3 retransmissions, 1 timeouts, response time p50 1.2 ms p99 4.0 ms`.
pub(super) fn stat_line_text(elapsed: Duration, l: &StatsLine) -> String {
    let ms = |v: Option<f64>| v.map_or_else(|| "-".to_string(), |v| format!("{v:.1} ms"));
    format!(
        "gossipper: {:.1} s: {} calls ({} ok, {} failed, {} open), {:.1} calls/s, \
         {} retransmissions, {} timeouts, response time p50 {} p99 {}",
        elapsed.as_secs_f64(),
        l.calls_created,
        l.calls_succeeded,
        l.calls_failed,
        l.calls_active,
        l.cps,
        l.retransmissions,
        l.timeouts,
        ms(l.response_time_p50_ms),
        ms(l.response_time_p99_ms),
    )
}

impl Observer for SippObserver {
    fn on_tick(&mut self, tick: &Tick<'_>) {
        if apply_signals(&self.signals, tick.control)
            && let Some(path) = &self.screen_file
        {
            let live = self.live_info(tick.stats);
            let text = screen::trace_screen(&self.screen_input(
                tick.stats,
                tick.wall,
                &live,
                Footer::Running,
            ));
            let _ = std::fs::write(path, text);
        }
        for k in self.keys.drain() {
            self.handle_key(k, tick);
        }
        self.write_events(tick.events, tick.wall);
        if let Some(m) = self.metrics.as_mut() {
            m.on_tick(tick.stats, tick.started, tick.now);
        }
        self.stat_line(tick);
        if let Some(f) = self.call_records.as_mut() {
            for fin in tick.finished {
                let line = fin.record_line();
                let _ = f.write_all(line.as_bytes());
            }
        }
        let next = *self
            .stat_next
            .get_or_insert(tick.started + self.stat_period);
        if tick.now >= next {
            self.stat_next = Some(next + self.stat_period);
            if let Some(f) = self.stat_file.as_mut() {
                let row = csv::row(
                    &self.info,
                    &self.stat_prev,
                    tick.stats,
                    self.stat_prev_at,
                    tick.wall,
                    &self.delimiter,
                );
                let _ = f.write_all(row.as_bytes());
                self.stat_prev = tick.stats.clone();
                self.stat_prev_at = tick.wall;
            }
        }
        let next_screen = *self
            .screen_next
            .get_or_insert(tick.started + Duration::from_secs(1));
        if tick.now >= next_screen {
            self.screen_next = Some(next_screen + Duration::from_secs(1));
            if self.tty {
                let footer = match (tick.control.quit_level(), tick.control.paused()) {
                    (q, _) if q > 0 => Footer::Quitting,
                    (_, true) => Footer::Paused,
                    _ => Footer::Running,
                };
                let live = self.live_info(tick.stats);
                let lines = screen::screen_lines(
                    self.screen,
                    &self.screen_input(tick.stats, tick.wall, &live, footer),
                );
                let mut out = std::io::stdout().lock();
                let _ = write!(
                    out,
                    "\x1b[2J\x1b[H{}",
                    screen::to_text(&lines).replace('\n', "\r\n")
                );
                let _ = out.flush();
            }
            self.screen_prev = tick.stats.clone();
            self.screen_prev_at = tick.wall;
        }
    }

    fn wants_finished_calls(&self) -> bool {
        self.call_records.is_some()
    }

    fn message_trace(&mut self) -> Option<File> {
        self.message_file.take()
    }

    fn short_message_trace(&mut self) -> Option<File> {
        self.short_message_file.take()
    }
}
