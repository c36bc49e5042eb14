//! The worker's view of a run: a stats line on stdout every `stats_interval_ms` (and to
//! the run's `/metrics` when the spec names a `trace.metrics_addr`), one call record per
//! finished call, engine warnings on stderr (`worker.log`), and the stop protocol.
//!
//! Owns: the JSON lines on stdout (through [`Lines`]) and the signals that steer the
//! run. SIGTERM (or SIGINT) asks for a soft quit: no new calls, open calls finish. A
//! second signal, or [`HARD_QUIT_AFTER`] without the run ending, is a hard quit, so the
//! worker still writes summary.json, call_records.jsonl and report.html well before the
//! master's SIGKILL. When stdout is gone (the master died), the worker soft-quits too.
//! Must not: decide the exit code (`mod.rs` does).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::time::{Duration, Instant, SystemTime};

use crate::report::SeriesPoint;
use gossipper_engine::call::ShardEvent;
use gossipper_engine::output::format::{date_time_spaced, unix_ms};
use gossipper_engine::output::stats_line::StatsLine;
use gossipper_engine::runner::{Observer, Tick};
use gossipper_engine::stats::ShardStats;

use crate::exporter::Exporter;
use crate::job::line::WorkerLine;

use super::note;
use crate::signals::SignalCounts;

/// How long a soft quit may take before the worker forces a hard one: long enough for
/// the built-in uas to finish its 4 s timewait, well inside the master's SIGKILL grace.
pub(crate) const HARD_QUIT_AFTER: Duration = Duration::from_millis(4500);

/// At most this many chart points are kept (older ones are thinned out by half).
const MAX_SERIES: usize = 2048;

/// stdout as a line sink: each line is written and flushed whole; after the first
/// failure (the master closed the pipe) lines are dropped and `gone` is set.
pub(crate) struct Lines {
    out: std::io::Stdout,
    gone: bool,
    /// A worker pod's copy of each line to the master (issue 20).
    poster: Option<super::post::Poster>,
}

impl Lines {
    pub(crate) fn stdout() -> Lines {
        Lines {
            out: std::io::stdout(),
            gone: false,
            poster: None,
        }
    }

    /// Also posts every line with `poster` (when there is one).
    pub(crate) fn posting(mut self, poster: Option<super::post::Poster>) -> Lines {
        self.poster = poster;
        self
    }

    /// A worker pod: posts its call records file to the master (before the exit line).
    pub(crate) fn post_records(&self, path: &std::path::Path) {
        if let Some(p) = &self.poster {
            p.post_records(path);
        }
    }

    /// Writes one line of the protocol.
    pub(crate) fn send(&mut self, line: &WorkerLine) {
        self.write(&line.to_line());
    }

    /// Writes one line (which must end in `\n`).
    fn write(&mut self, line: &str) {
        if let Some(p) = &self.poster {
            p.send(line);
        }
        if self.gone {
            return;
        }
        let mut out = self.out.lock();
        if out
            .write_all(line.as_bytes())
            .and_then(|()| out.flush())
            .is_err()
        {
            self.gone = true;
        }
    }

    pub(crate) fn gone(&self) -> bool {
        self.gone
    }
}

/// The observer of one job's run.
pub(crate) struct JobObserver {
    job_id: String,
    interval: Duration,
    pub(crate) lines: Lines,
    call_records: Option<BufWriter<File>>,
    signals: SignalCounts,
    prev: ShardStats,
    prev_at: Option<Instant>,
    next_at: Option<Instant>,
    started: Option<Instant>,
    pub(crate) series: Vec<SeriesPoint>,
    series_stride: usize,
    series_skip: usize,
    soft_quit_at: Option<Instant>,
    hard_quit: bool,
    /// A stop was asked (signal or lost master).
    pub(crate) stopped: bool,
    /// The last engine error or warning, for the exit line.
    pub(crate) last_error: Option<String>,
    /// `trace.metrics_addr`: the run's `/metrics`, refreshed with every stats line.
    exporter: Option<Exporter>,
    /// A segment's worker: a `state` line before each stats line (issue 20).
    pub(crate) send_state: bool,
}

impl JobObserver {
    pub(crate) fn new(
        job_id: &str,
        interval: Duration,
        lines: Lines,
        call_records: Option<File>,
        empty: ShardStats,
        signals: SignalCounts,
        exporter: Option<Exporter>,
    ) -> JobObserver {
        JobObserver {
            job_id: job_id.to_string(),
            interval,
            lines,
            call_records: call_records.map(BufWriter::new),
            signals,
            prev: empty,
            prev_at: None,
            next_at: None,
            started: None,
            series: Vec::new(),
            series_stride: 1,
            series_skip: 0,
            soft_quit_at: None,
            hard_quit: false,
            stopped: false,
            last_error: None,
            exporter,
            send_state: false,
        }
    }

    /// Sets the run's start (a fan-out, which has no run of its own to tick).
    pub(crate) fn start_at(&mut self, at: Instant) {
        self.started = Some(at);
        self.prev_at = Some(at);
    }

    /// SIGINT and SIGTERM received so far.
    pub(crate) fn stops(&self) -> usize {
        self.signals.stops()
    }

    /// Writes a stats line for the interval ending at `now`.
    pub(crate) fn emit_stats(&mut self, cur: &ShardStats, now: Instant, wall: SystemTime) {
        let prev_at = self.prev_at.unwrap_or(now);
        let interval = now.saturating_duration_since(prev_at);
        let stats = StatsLine::between(&self.prev, cur, interval);
        if self.send_state {
            self.lines.send(&WorkerLine::State {
                job_id: self.job_id.clone(),
                ts: unix_ms(wall),
                // Plain numbers and vectors: encoding cannot fail.
                state: serde_json::to_value(cur).unwrap_or_default(),
            });
        }
        if let Some(e) = &self.exporter {
            e.publish(&stats);
        }
        self.lines.send(&WorkerLine::Stats {
            job_id: self.job_id.clone(),
            ts: unix_ms(wall),
            stats: Box::new(stats),
        });
        self.record_point(cur, interval, now);
        self.prev = cur.clone();
        self.prev_at = Some(now);
    }

    /// A point of report.html's charts from the interval `self.prev` → `cur`.
    fn record_point(&mut self, cur: &ShardStats, interval: Duration, now: Instant) {
        if self.series_skip > 0 {
            self.series_skip -= 1;
            return;
        }
        self.series_skip = self.series_stride - 1;
        let secs = interval.as_secs_f64();
        let per_s = |now: u64, before: u64| {
            if secs > 0.0 {
                now.saturating_sub(before) as f64 / secs
            } else {
                0.0
            }
        };
        let (c, p) = (&cur.counters, &self.prev.counters);
        // NaN until a response was timed: the chart starts where the values do.
        let q = |q: f64| {
            cur.rtd
                .first()
                .filter(|t| t.count > 0)
                .map_or(f64::NAN, |t| t.histogram.quantile(q) as f64 / 1000.0)
        };
        let t_s = self
            .started
            .map_or(0.0, |s| now.saturating_duration_since(s).as_secs_f64());
        self.series.push(SeriesPoint {
            t_s,
            cps: per_s(cur.calls_created(), self.prev.calls_created()),
            active: cur.current_calls,
            succeeded: c.successful_calls,
            failed: c.failed_calls,
            p50_ms: q(0.5),
            p99_ms: q(0.99),
            retrans_per_s: per_s(c.retransmissions, p.retransmissions),
            timeouts_per_s: per_s(c.timeouts, p.timeouts),
        });
        if self.series.len() >= MAX_SERIES {
            let mut keep = false;
            self.series.retain(|_| {
                keep = !keep;
                keep
            });
            self.series_stride *= 2;
        }
    }

    /// Flushes the call records.
    pub(crate) fn finish(&mut self) {
        if let Some(f) = self.call_records.as_mut()
            && let Err(e) = f.flush()
        {
            eprintln!("worker: writing call_records.jsonl: {e}");
        }
    }

    fn steer(&mut self, tick: &Tick<'_>) {
        let signals = self.signals.stops();
        let want_stop = signals > 0 || self.lines.gone();
        if want_stop && self.soft_quit_at.is_none() {
            self.stopped = true;
            self.soft_quit_at = Some(tick.now);
            tick.control.soft_quit();
            if self.lines.gone() {
                note(format_args!(
                    "worker: the master is gone (stdout closed); stopping"
                ));
            } else {
                note(format_args!(
                    "worker: stop requested; no new calls, letting open calls finish"
                ));
            }
        }
        if !self.hard_quit
            && (signals > 1
                || self
                    .soft_quit_at
                    .is_some_and(|t| tick.now.saturating_duration_since(t) >= HARD_QUIT_AFTER))
        {
            self.hard_quit = true;
            tick.control.hard_quit();
            note(format_args!(
                "worker: hard quit: aborting the calls still open"
            ));
        }
    }
}

impl Observer for JobObserver {
    fn on_tick(&mut self, tick: &Tick<'_>) {
        self.started.get_or_insert(tick.started);
        self.prev_at.get_or_insert(tick.started);
        self.steer(tick);
        let when = date_time_spaced(tick.wall);
        for e in tick.events {
            match e {
                ShardEvent::Warning(t) => note(format_args!("{when} warning: {t}")),
                ShardEvent::Error(t) => {
                    eprintln!("{when} error: {t}");
                    self.last_error = Some(t.clone());
                }
                ShardEvent::Log(t) => note(format_args!("{when} log: {t}")),
                _ => {}
            }
        }
        if let Some(f) = self.call_records.as_mut() {
            for fin in tick.finished {
                let line = fin.record_line();
                if f.write_all(line.as_bytes()).is_err() {
                    eprintln!("worker: cannot write call_records.jsonl; call records stop here");
                    self.call_records = None;
                    break;
                }
            }
        }
        let next = *self.next_at.get_or_insert(tick.started + self.interval);
        if tick.now >= next {
            // Skip missed intervals instead of bursting lines after a stall.
            let mut n = next + self.interval;
            while n <= tick.now {
                n += self.interval;
            }
            self.next_at = Some(n);
            self.emit_stats(tick.stats, tick.now, tick.wall);
        }
    }

    fn wants_finished_calls(&self) -> bool {
        self.call_records.is_some()
    }
}
