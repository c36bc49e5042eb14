//! Connection threads kept for the next connection: a thread that has served one waits a
//! while for another instead of exiting, so a request on a new connection (a `curl`, a
//! script's POST) does not wait for a thread to be made.
//!
//! Why: making a thread costs about twenty system calls before its first read (the
//! stack's mapping, TLS, a signal stack, a malloc arena, the short slice), all of them
//! between the client's handshake and the handler. `gossipper server`'s control API has
//! to store a change within the pacer's 1 ms tick, on a CPU it may share with a busy
//! shard, so that path is kept short.
//!
//! Owns: the idle threads and the connections handed to them. Every connection handed
//! over has a thread: one is queued only while more threads are idle than connections
//! are queued, and an idle thread leaves only when none is queued, both under one lock.
//! Must not: admit or refuse (the acceptor does, and the connection's `Slot` travels
//! with its job).

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use super::limits::STACK_SIZE;
use super::slice;

/// One connection's work.
pub(super) type Job = Box<dyn FnOnce() + Send>;

/// Idle threads kept at most (more finish their connection and exit): enough for a
/// console's few parallel fetches, and each holds only its stack.
pub(super) const MAX_IDLE: usize = 4;
/// An idle thread waits this long for a connection, then exits.
pub(super) const IDLE_FOR: Duration = Duration::from_secs(30);
/// Idle threads that never time out, started with the pool: the first request after a
/// quiet spell (an operator's first control change of the day) finds one too. Measured:
/// with the pool starting empty, the one action of 18 that missed its pacer tick was each
/// run's first request (`perf/server_control.py`).
pub(super) const KEEP: usize = 1;

/// The threads that serve connections. See the module docs.
pub(super) struct Pool {
    shared: Arc<Shared>,
    rule: IdleRule,
}

/// How many idle threads stay, and for how long.
#[derive(Clone, Copy)]
struct IdleRule {
    max_idle: usize,
    idle_for: Duration,
    /// Idle threads that do not time out.
    keep: usize,
}

struct Shared {
    state: Mutex<State>,
    ready: Condvar,
}

#[derive(Default)]
struct State {
    /// Threads waiting for a job.
    idle: usize,
    /// Jobs handed over and not yet taken; never more than `idle`.
    queued: VecDeque<Job>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A job runs outside the lock, so a poisoned lock only means a panic between
        // two counter updates; the counts are still whole.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Pool {
    /// A pool keeping at most `max_idle` idle threads for `idle_for`, `keep` of them for
    /// good (started by [`Pool::prestart`]).
    pub(super) fn new(max_idle: usize, idle_for: Duration, keep: usize) -> Pool {
        Pool {
            shared: Arc::new(Shared {
                state: Mutex::new(State::default()),
                ready: Condvar::new(),
            }),
            rule: IdleRule {
                max_idle: max_idle.max(keep),
                idle_for,
                keep,
            },
        }
    }

    /// Starts the `keep` threads, idle from the start (an error: no thread could be
    /// made; connections then get threads as they come).
    pub(super) fn prestart(&self) -> std::io::Result<()> {
        for _ in 0..self.rule.keep {
            self.start(None)?;
        }
        Ok(())
    }

    /// Runs `job` on an idle thread, else on a new one (an error: no thread could be
    /// made, and `job` is dropped).
    pub(super) fn run(&self, job: Job) -> std::io::Result<()> {
        {
            let mut s = self.shared.lock();
            if s.idle > s.queued.len() {
                s.queued.push_back(job);
                self.shared.ready.notify_one();
                return Ok(());
            }
        }
        self.start(Some(job))
    }

    /// A new thread: `job` first, if any, then the queue.
    fn start(&self, job: Option<Job>) -> std::io::Result<()> {
        let shared = Arc::clone(&self.shared);
        let rule = self.rule;
        std::thread::Builder::new()
            .name("ui-conn".into())
            .stack_size(STACK_SIZE)
            .spawn(move || {
                slice::ask_short_slice();
                if let Some(job) = job {
                    job();
                }
                serve_queued(&shared, rule);
            })
            .map(drop)
    }

    /// Threads idle now.
    #[cfg(test)]
    fn idle(&self) -> usize {
        self.shared.lock().idle
    }
}

/// A thread's life after its first job: wait for the next, run it, until `idle_for`
/// passes with nothing to do while more than `keep` threads wait (itself included), or
/// until `max_idle` others are already waiting.
fn serve_queued(shared: &Shared, rule: IdleRule) {
    let mut s = shared.lock();
    loop {
        if s.idle >= rule.max_idle {
            return;
        }
        s.idle += 1;
        let job = loop {
            if let Some(job) = s.queued.pop_front() {
                break job;
            }
            let (guard, waited) = shared
                .ready
                .wait_timeout(s, rule.idle_for)
                .unwrap_or_else(|p| p.into_inner());
            s = guard;
            if waited.timed_out() && s.queued.is_empty() && s.idle > rule.keep {
                s.idle -= 1;
                return;
            }
        };
        s.idle -= 1;
        drop(s);
        job();
        s = shared.lock();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;
    use std::thread::ThreadId;
    use std::time::Instant;

    use super::*;

    fn wait_idle(pool: &Pool, n: usize) {
        let start = Instant::now();
        while pool.idle() != n {
            assert!(
                start.elapsed() < Duration::from_secs(5),
                "idle {} != {n}",
                pool.idle()
            );
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    #[test]
    fn a_thread_that_served_one_job_serves_the_next() {
        let pool = Pool::new(MAX_IDLE, IDLE_FOR, 0);
        let (tx, rx) = mpsc::channel::<ThreadId>();
        let mut ids = Vec::new();
        for _ in 0..5 {
            let tx = tx.clone();
            pool.run(Box::new(move || {
                tx.send(std::thread::current().id()).unwrap()
            }))
            .unwrap();
            ids.push(rx.recv_timeout(Duration::from_secs(5)).unwrap());
            wait_idle(&pool, 1);
        }
        assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
    }

    #[test]
    fn busy_threads_get_company_and_only_max_idle_stay() {
        let pool = Pool::new(2, IDLE_FOR, 0);
        let (started_tx, started) = mpsc::channel::<ThreadId>();
        let (release_tx, release) = mpsc::channel::<()>();
        let release = Arc::new(Mutex::new(release));
        for _ in 0..3 {
            let (started_tx, release) = (started_tx.clone(), Arc::clone(&release));
            pool.run(Box::new(move || {
                started_tx.send(std::thread::current().id()).unwrap();
                let _ = release.lock().unwrap().recv_timeout(Duration::from_secs(5));
            }))
            .unwrap();
        }
        // Three jobs at once ran on three threads.
        let mut ids: Vec<ThreadId> = (0..3)
            .map(|_| started.recv_timeout(Duration::from_secs(5)).unwrap())
            .collect();
        ids.sort_by_key(|id| format!("{id:?}"));
        ids.dedup();
        assert_eq!(ids.len(), 3);
        for _ in 0..3 {
            release_tx.send(()).unwrap();
        }
        // Two stay idle, the third exits.
        wait_idle(&pool, 2);
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(pool.idle(), 2);
    }

    #[test]
    fn an_idle_thread_leaves_after_idle_for() {
        let pool = Pool::new(MAX_IDLE, Duration::from_millis(30), 0);
        let (tx, rx) = mpsc::channel::<()>();
        pool.run(Box::new(move || tx.send(()).unwrap())).unwrap();
        rx.recv_timeout(Duration::from_secs(5)).unwrap();
        wait_idle(&pool, 1);
        wait_idle(&pool, 0);
        // And the next job still runs (on a new thread).
        let (tx, rx) = mpsc::channel::<()>();
        pool.run(Box::new(move || tx.send(()).unwrap())).unwrap();
        rx.recv_timeout(Duration::from_secs(5)).unwrap();
    }

    #[test]
    fn kept_threads_wait_from_the_start_and_do_not_time_out() {
        let pool = Pool::new(MAX_IDLE, Duration::from_millis(10), 1);
        assert_eq!(pool.idle(), 0);
        pool.prestart().unwrap();
        wait_idle(&pool, 1);
        // A busy spell leaves two idle; the extra one times out, the kept one stays.
        let (started_tx, started) = mpsc::channel::<()>();
        let (release_tx, release) = mpsc::channel::<()>();
        let release = Arc::new(Mutex::new(release));
        for _ in 0..2 {
            let (started_tx, release) = (started_tx.clone(), Arc::clone(&release));
            pool.run(Box::new(move || {
                started_tx.send(()).unwrap();
                let _ = release.lock().unwrap().recv_timeout(Duration::from_secs(5));
            }))
            .unwrap();
        }
        for _ in 0..2 {
            started.recv_timeout(Duration::from_secs(5)).unwrap();
        }
        release_tx.send(()).unwrap();
        release_tx.send(()).unwrap();
        wait_idle(&pool, 1);
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(pool.idle(), 1);
    }
}
