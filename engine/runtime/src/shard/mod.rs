//! A shard: one glommio executor pinned to one CPU, owning its socket (UDP) or its
//! stream connections (TCP and TLS polled by this loop: `transport::Polled`; WebSocket
//! with tasks: `transport::Streams`), its calls, its timers and its counters. Calls never move between shards. A `-t un` client shard also owns
//! one UDP socket per call (`udp_per_call`; the port bookkeeping is in `port_pool`).
//!
//! Owns: the I/O loop only — receive datagrams (or framed stream messages), feed
//! `ShardCore`, send what it queued, sleep until the next deadline, publish a copy of the
//! statistics every period. All protocol decisions are in `ShardCore` and `call`. The
//! clock is read in `clock()` only. The UDP path allocates nothing per datagram.

pub mod handoff;
pub mod media_io; // issue 8: RTP socket I/O
pub mod mmsg;
pub mod os;
pub mod udp_per_call;
pub mod wait;

use std::cell::RefCell;
use std::io::Write as _;
use std::net::SocketAddr;
use std::rc::{Rc, Weak};
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use glommio::{LocalExecutorBuilder, Placement};

use crate::call::{ShardEvent, TxQueue};
pub use crate::endpoint::{Budget, CallsOn, Finished, ShardCore};
use crate::stats::traces::{Direction, msg_block, shortmsg_line};
use crate::stats::{FailureReason, ShardStats};
use crate::transport::{Carried, Polled, StreamEvent, StreamHost, StreamPlan, Streams};

/// Run-wide control, written by the runner (keys, signals, limits) and read by every
/// shard once per loop turn. Atomics only: no lock on the hot path.
#[derive(Debug, Default)]
pub struct Control {
    /// 0 run, 1 soft quit (no new calls, drain), 2 hard quit (abort calls now).
    quit: AtomicU8,
    paused: AtomicBool,
    /// Total target rate in calls per second, as f64 bits.
    rate_bits: AtomicU64,
}

impl Control {
    pub fn new(rate_cps: f64) -> Control {
        let c = Control::default();
        c.set_rate(rate_cps);
        c
    }
    pub fn soft_quit(&self) {
        let _ = self
            .quit
            .compare_exchange(0, 1, Ordering::Relaxed, Ordering::Relaxed);
    }
    pub fn hard_quit(&self) {
        self.quit.store(2, Ordering::Relaxed);
    }
    pub fn quit_level(&self) -> u8 {
        self.quit.load(Ordering::Relaxed)
    }
    pub fn set_paused(&self, p: bool) {
        self.paused.store(p, Ordering::Relaxed);
    }
    pub fn paused(&self) -> bool {
        self.paused.load(Ordering::Relaxed)
    }
    pub fn set_rate(&self, cps: f64) {
        self.rate_bits
            .store(cps.max(0.0).to_bits(), Ordering::Relaxed);
    }
    pub fn rate(&self) -> f64 {
        f64::from_bits(self.rate_bits.load(Ordering::Relaxed))
    }
}

/// What a shard hands to the runner every period.
#[derive(Debug, Default)]
pub struct Published {
    pub stats: ShardStats,
    pub done: bool,
    pub finished: Vec<Finished>,
    pub events: Vec<ShardEvent>,
    /// Set when the executor could not start or the loop failed.
    pub error: Option<String>,
}

/// Trace files a shard appends to (each opened by the runner; writes are whole blocks).
#[derive(Default)]
pub struct ShardTraces {
    pub messages: Option<std::fs::File>,
    pub short_messages: Option<std::fs::File>,
}

/// The SIP socket(s) of a shard.
pub enum ShardSocket {
    /// One bound UDP socket.
    Udp(socket2::Socket),
    /// Stream connections (and a listener for servers).
    Stream(StreamPlan),
}

/// Everything a shard thread needs.
pub struct ShardPlan {
    pub cpu: Option<usize>,
    pub socket: ShardSocket,
    pub core: ShardCore,
    pub control: Arc<Control>,
    pub published: Arc<Mutex<Published>>,
    pub traces: ShardTraces,
    /// issue 8: this shard's RTP socket (`media_io`); `None` when the run has no media.
    pub media_socket: Option<socket2::Socket>,
    /// `-t un` clients: bind one more UDP socket per call (`udp_per_call`); the shard
    /// socket then carries only what belongs to no call.
    pub udp_per_call: Option<udp_per_call::Settings>,
    /// UDP servers with several shards: route each datagram to the shard that owns its
    /// call (`handoff`), so one peer's calls spread over every shard.
    pub handoff: Option<handoff::Handoff>,
}

/// The one place a shard reads the clocks (STYLE.md §1).
#[allow(clippy::disallowed_methods)]
fn clock() -> (Instant, SystemTime) {
    (Instant::now(), SystemTime::now())
}

/// Starts the shard on its own thread. The handle joins to `Ok(())` when the shard ran.
pub fn spawn(plan: ShardPlan) -> std::io::Result<std::thread::JoinHandle<()>> {
    let name = format!("gossipper-shard-{}", plan.core.index);
    std::thread::Builder::new()
        .name(name.clone())
        .spawn(move || {
            let published = Arc::clone(&plan.published);
            let placement = match plan.cpu {
                Some(cpu) => Placement::Fixed(cpu),
                None => Placement::Unbound,
            };
            let builder = LocalExecutorBuilder::new(placement)
                .name(&name)
                .io_memory(512 << 10);
            let result = builder.make().map(|ex| ex.run(shard_loop(plan)));
            if let Err(e) = result {
                let mut p = published.lock().unwrap_or_else(|e| e.into_inner());
                p.error = Some(format!("shard executor failed to start: {e}"));
                p.done = true;
            }
        })
}

const PUBLISH_EVERY: Duration = Duration::from_millis(100);
/// The longest the loop sleeps when its input does not wake it (WebSocket tasks, `-t un`).
const MAX_SLEEP: Duration = Duration::from_millis(1);
/// The longest a loop waiting for readiness sleeps: control changes (a new rate, pause,
/// quit) are seen within this. An idle shard wakes 40 times a second, not 1,000 (an idle
/// uas spent 3.5 % of a core on 1 ms wake-ups).
const QUIET_SLEEP: Duration = Duration::from_millis(25);

/// Where a shard's messages go.
enum Out {
    Udp(Rc<glommio::net::UdpSocket>),
    /// WebSocket: reader and writer tasks per connection.
    Stream(Rc<Streams>),
    /// TCP and TLS: nonblocking sockets this loop polls (`transport::polled`).
    Polled(Box<RefCell<Polled>>),
}

async fn shard_loop(plan: ShardPlan) {
    let ShardPlan {
        socket,
        core,
        control,
        published,
        traces,
        media_socket,
        udp_per_call,
        mut handoff,
        ..
    } = plan;
    let core = Rc::new(RefCell::new(core));
    let traces = Rc::new(RefCell::new(traces));
    {
        let mut c = core.borrow_mut();
        c.trace_rx = traces.borrow().messages.is_some() || traces.borrow().short_messages.is_some();
    }
    let out = match socket {
        ShardSocket::Udp(socket) => {
            if core.borrow().is_client() {
                // Framed clients read each datagram's arrival time from the kernel
                // (`wait`); without it they would measure at the frame's end.
                let _ = os::enable_receive_timestamps(std::os::fd::AsRawFd::as_raw_fd(&socket));
            }
            let sock = Rc::new(os::into_glommio_udp(socket));
            Out::Udp(sock)
        }
        ShardSocket::Stream(plan) if crate::transport::polled::applies(plan.settings.kind) => {
            match Polled::start(plan, clock().0) {
                Ok(p) => Out::Polled(Box::new(RefCell::new(p))),
                Err(e) => {
                    let mut p = published.lock().unwrap_or_else(|e| e.into_inner());
                    p.error = Some(format!("cannot set up the TCP/TLS sockets: {e}"));
                    p.done = true;
                    return;
                }
            }
        }
        ShardSocket::Stream(plan) => {
            let host = Rc::new(Host {
                core: Rc::clone(&core),
                traces: Rc::clone(&traces),
                streams: RefCell::new(Weak::new()),
            });
            let streams = Streams::start(
                plan,
                Rc::clone(&host) as Rc<dyn StreamHost>,
                os::into_glommio_tcp,
                os::into_glommio_listener,
            );
            *host.streams.borrow_mut() = Rc::downgrade(&streams);
            Out::Stream(streams)
        }
    };
    let mut media = media_socket.map(media_io::MediaIo::new); // issue 8: RTP socket
    if let (Out::Polled(p), Some(m)) = (&out, media.as_ref()) {
        // RTP wakes the loop's wait as TCP does.
        let _ = p.borrow().watch(m.fd());
    }
    // `-t un` (clients): per-call sockets, and the signal their receive tasks wake us by.
    let (mut per_call, woken) = match (&out, udp_per_call) {
        (Out::Udp(_), Some(settings)) => {
            let (s, w) = udp_per_call::CallSockets::new(Rc::clone(&core), settings);
            (Some(s), Some(w))
        }
        _ => (None, None),
    };

    let listening = usize::from(!core.borrow().is_client());
    let mut last_publish = clock().0;
    let mut rate_seen = f64::NAN;
    let mut paused_seen = false;
    let mut rx = mmsg::RecvBatch::default();
    let mut waiting = wait::WaitPolicy::default();
    // The clock reading of the previous turn: no datagram is handled as received earlier.
    let mut floor = clock().0;
    loop {
        let (now, wall) = clock();
        let quit = control.quit_level();
        // UDP: take every datagram waiting (bounded), one recvmmsg per batch.
        let drained = match &out {
            Out::Udp(sock) => {
                let at = Received { floor, now, wall };
                let mut n = drain_udp(sock, &mut rx, &core, handoff.as_mut(), at);
                if let Some(h) = handoff.as_mut() {
                    h.flush();
                    let mut c = core.borrow_mut();
                    n += h.receive(|bytes, from| c.handle_datagram(now, wall, bytes, from));
                }
                n
            }
            Out::Stream(_) => 0,
            Out::Polled(p) => polled_in(p, &core, now, wall),
        };
        floor = now;
        if let Some(pc) = per_call.as_mut() {
            pc.top_up(now);
        }
        let batch = {
            let mut c = core.borrow_mut();
            c.stats.scheduler_loops += 1;
            let rate = control.rate() / c.shards as f64;
            if rate != rate_seen {
                c.pacer.set_rate(rate, now);
                rate_seen = rate;
            }
            let paused = control.paused();
            if paused != paused_seen {
                c.pacer.set_paused(paused, now);
                paused_seen = paused;
            }
            if quit >= 1 {
                c.stopping = true;
            }
            if quit >= 2 {
                c.abort_all(now, wall);
            }
            c.handle_tick(now, wall);
            take_tx(&mut c)
        };
        if let Some(pc) = per_call.as_mut() {
            pc.take_ended();
        }
        match &out {
            Out::Udp(sock) => match per_call.as_mut() {
                None => flush(sock, &core, &traces, batch, wall).await,
                Some(pc) => {
                    flush_per_call(sock, pc, &core, &traces, batch, wall).await;
                    pc.close_ended();
                }
            },
            Out::Stream(streams) => send_stream(streams, &core, &traces, batch, wall),
            Out::Polled(p) => send_polled(p, &core, &traces, batch, now, wall),
        }
        if let Some(m) = media.as_mut() {
            m.turn(&core); // issue 8: RTP in and out, due packets
        }

        let done = core.borrow().done();
        // A server shard with the hand-off forwards for the others until all are done.
        let done = match handoff.as_mut() {
            Some(h) => h.all_done(done),
            None => done,
        };
        if done {
            media_io::finish(&core); // issue 8: last recordings and media counters
        }
        if done {
            // Stream writers run in their own tasks: let them put the last messages
            // (a final ACK or 200) on the wire before the executor goes away.
            match &out {
                Out::Stream(streams) => drain(streams).await,
                Out::Polled(p) => drain_polled(p, &core),
                Out::Udp(_) => {}
            }
        }
        if done || now.duration_since(last_publish) >= PUBLISH_EVERY {
            last_publish = now;
            let sockets = match &out {
                Out::Udp(_) => 1 + per_call.as_ref().map_or(0, |pc| pc.open_count()),
                // A server's listening socket counts too.
                Out::Stream(streams) => streams.open_connections() + listening,
                Out::Polled(p) => p.borrow().open_connections() + listening,
            } + usize::from(media.is_some());
            core.borrow_mut().stats.open_sockets = sockets as u64;
            publish(&core, &published, done);
        }
        if done {
            break;
        }
        let next = core.borrow().next_deadline();
        let (now, _) = clock();
        // A loop that sleeps in a readiness wait (UDP, TCP/TLS) wakes for input anyway and
        // needs a turn only for control changes; the others poll more often.
        let longest = match (&out, &woken) {
            (Out::Udp(_), None) | (Out::Polled(_), _) => QUIET_SLEEP,
            _ => MAX_SLEEP,
        };
        let sleep = match next {
            Some(d) if d > now => (d - now).min(longest),
            Some(_) => Duration::ZERO,
            None => longest,
        };
        if let Out::Polled(p) = &out {
            // TCP and TLS: as for UDP, one blocking wait (epoll) when quiet, and a short
            // pause when busy so the next turn reads and writes a batch.
            let mut p = p.borrow_mut();
            let sleep = match p.poll_timeout() {
                Some(d) => sleep.min(d.saturating_duration_since(now)),
                None => sleep,
            };
            if drained > 0 && !sleep.is_zero() {
                std::thread::sleep(sleep.min(STREAM_COALESCE));
                p.wait(Duration::ZERO);
            } else {
                p.wait(sleep);
            }
            continue;
        }
        if let Some(w) = woken.as_ref() {
            // `-t un`: a call socket's task fed the core: send its replies promptly.
            if let Out::Udp(sock) = &out
                && !sleep.is_zero()
            {
                let wait = std::pin::pin!(wait_readable(sock, sleep));
                let wake = std::pin::pin!(w.recv());
                let _ = futures_util::future::select(wait, wake).await;
            } else {
                glommio::yield_if_needed().await;
            }
            continue;
        }
        if let Out::Udp(sock) = &out {
            // Plain UDP: nothing else runs on this executor, so wait with one blocking
            // system call (see os::poll_readable for the measurement); `wait` decides
            // whether to wake for datagrams.
            // Not with media: RTP arrival times feed jitter and would be a frame late.
            let framed =
                rate_seen >= wait::FRAMED_RATE && media.is_none() && core.borrow().is_client();
            match waiting.next(framed, drained, sleep) {
                wait::Wait::Now => {}
                wait::Wait::Sleep(d) => std::thread::sleep(d),
                wait::Wait::Readable(sleep) => {
                    let mut fds = [std::os::fd::AsRawFd::as_raw_fd(&**sock), -1, -1];
                    let mut n = 1;
                    for fd in [
                        media.as_ref().map(|m| m.fd()),
                        handoff.as_ref().map(|h| h.fd()),
                    ]
                    .into_iter()
                    .flatten()
                    {
                        fds[n] = fd;
                        n += 1;
                    }
                    os::poll_readable(&fds[..n], sleep);
                }
            }
            continue;
        }
        // WebSocket: its reader and writer tasks run on this executor too.
        if sleep.is_zero() {
            glommio::yield_if_needed().await;
        } else {
            glommio::timer::sleep(sleep).await;
        }
    }
}

/// The clocks of one drain: each datagram is handled at its kernel receive time when the
/// socket has them (framed clients), kept within `floor..=now` and in order.
struct Received {
    /// The previous turn's clock reading.
    floor: Instant,
    now: Instant,
    wall: SystemTime,
}

impl Received {
    /// Every datagram handled at `now` (a socket without receive timestamps).
    fn at_once(now: Instant, wall: SystemTime) -> Received {
        Received {
            floor: now,
            now,
            wall,
        }
    }

    /// The instant and wall time to handle a datagram stamped `stamp` at; moves `floor`
    /// up so the next datagram is never handled as received earlier.
    fn at(&mut self, stamp: Option<SystemTime>) -> (Instant, SystemTime) {
        let Some(stamp) = stamp else {
            return (self.now, self.wall);
        };
        let ago = self.wall.duration_since(stamp).unwrap_or_default();
        let at = self
            .now
            .checked_sub(ago)
            .unwrap_or(self.now)
            .max(self.floor)
            .min(self.now); // not clamp(): that would panic if floor were after now
        self.floor = at;
        (
            at,
            self.wall.checked_sub(self.now - at).unwrap_or(self.wall),
        )
    }
}

/// Receives every waiting datagram (up to MAX_DRAIN batches) into the core.
fn drain_udp(
    sock: &glommio::net::UdpSocket,
    rx: &mut mmsg::RecvBatch,
    core: &Rc<RefCell<ShardCore>>,
    mut handoff: Option<&mut handoff::Handoff>,
    mut at: Received,
) -> usize {
    let fd = std::os::fd::AsRawFd::as_raw_fd(sock);
    let mut c = core.borrow_mut();
    let mut drained = 0;
    for _ in 0..MAX_DRAIN {
        match rx.recv(fd) {
            Ok(0) | Err(_) => break,
            Ok(k) => {
                drained += k;
                for i in 0..k {
                    if let Some((bytes, from)) = rx.get(i) {
                        if let Some(h) = handoff.as_deref_mut()
                            && h.forward(bytes, from)
                        {
                            continue;
                        }
                        let (now, wall) = at.at(rx.received_at(i));
                        c.handle_datagram(now, wall, bytes, from);
                    }
                }
                // A short batch emptied the socket: skip the recvmmsg that would say so.
                if k < mmsg::BATCH {
                    break;
                }
            }
        }
    }
    drained
}

/// Waits until a datagram can be read or `timeout` passes. A peek consumes nothing, so
/// dropping it when the timer wins loses no datagram.
async fn wait_readable(sock: &glommio::net::UdpSocket, timeout: Duration) {
    let mut probe = [0u8; 1];
    let peek = std::pin::pin!(sock.peek_from(&mut probe));
    let sleep = std::pin::pin!(glommio::timer::sleep(timeout));
    let _ = futures_util::future::select(peek, sleep).await;
}

/// recvmmsg batches drained per wake-up before timers run again.
const MAX_DRAIN: usize = 8;

/// Waits (at most a second) until every stream connection wrote what it was given, then
/// gives peers up to `CLOSE_GRACE` to close first: SIPp fails the calls still on a
/// connection that closes under them (FailedTcpClosed), even calls that already ended
/// for us and are only in SIPp's final `<timewait>`.
async fn drain(streams: &Streams) {
    for _ in 0..1000 {
        if streams.idle() {
            break;
        }
        glommio::timer::sleep(Duration::from_millis(1)).await;
    }
    let grace_ms = CLOSE_GRACE.as_millis() as u64;
    for _ in 0..grace_ms {
        if streams.open_connections() == 0 {
            return;
        }
        glommio::timer::sleep(Duration::from_millis(1)).await;
    }
}

/// How long a finished shard keeps its stream connections open for the peer to close.
const CLOSE_GRACE: Duration = Duration::from_millis(500);

/// `wait::COALESCE` for polled TCP and TLS. Longer than UDP's: TCP loses nothing while bytes
/// wait in the socket (flow control), where a UDP receive buffer overflows. Measured at
/// 10,000 calls/s over t1 (uac+uas, perf/README.md): 200 µs gave 16/19 µs of CPU per
/// call and a 0.56 ms INVITE→200 time, 500 µs 13/14 µs and 0.75 ms (SIPp: 3 ms).
const STREAM_COALESCE: Duration = Duration::from_micros(500);

/// TCP and TLS (polled): accepts, reads and delivers every ready message to the core,
/// closes idle accepted connections (the core says which carry live calls), then counts
/// what happened to connections. Returns the messages delivered.
fn polled_in(
    p: &RefCell<Polled>,
    core: &Rc<RefCell<ShardCore>>,
    now: Instant,
    wall: SystemTime,
) -> usize {
    let mut p = p.borrow_mut();
    let n = {
        let mut c = core.borrow_mut();
        let n = p.handle_io(now, &mut |bytes, peer| {
            c.handle_datagram(now, wall, bytes, peer)
        });
        p.handle_idle(now, &|peer| c.carries_live_calls(peer));
        n
    };
    polled_events(&mut p, core);
    n
}

/// TCP and TLS (polled): queues the batch on its connections and writes them (one write
/// per connection), then writes traces.
fn send_polled(
    p: &RefCell<Polled>,
    core: &Rc<RefCell<ShardCore>>,
    traces: &Rc<RefCell<ShardTraces>>,
    batch: TxQueue,
    now: Instant,
    wall: SystemTime,
) {
    let mut p = p.borrow_mut();
    if !batch.items.is_empty() || !batch.ended_flows.is_empty() {
        p.send(now, &batch);
    }
    p.flush();
    finish_batch(core, traces, batch, wall, 0);
    // After the batch went back to the core: calls failed here queue into the core's
    // next batch.
    polled_events(&mut p, core);
}

fn polled_events(p: &mut Polled, core: &Rc<RefCell<ShardCore>>) {
    while let Some(e) = p.poll_event() {
        let _ = stream_event(core, e);
    }
}

/// `drain` for polled TCP and TLS: writes what is queued (a second at most), then gives
/// peers `CLOSE_GRACE` to close first, still reading (late messages are counted).
fn drain_polled(p: &RefCell<Polled>, core: &Rc<RefCell<ShardCore>>) {
    let (start, _) = clock();
    let step = Duration::from_millis(1);
    let mut grace_from = None;
    loop {
        let (now, wall) = clock();
        let mut pp = p.borrow_mut();
        pp.flush();
        let limit = match grace_from {
            None if pp.idle() || now.duration_since(start) >= Duration::from_secs(1) => {
                grace_from = Some(now);
                continue;
            }
            None => step,
            Some(from) => {
                let left = CLOSE_GRACE.saturating_sub(now.duration_since(from));
                if pp.open_connections() == 0 || left.is_zero() {
                    return;
                }
                left
            }
        };
        pp.wait(limit);
        drop(pp);
        polled_in(p, core, now, wall);
    }
}

fn take_tx(c: &mut ShardCore) -> TxQueue {
    std::mem::take(&mut c.tx)
}

/// Sends every queued datagram, writes traces, and gives the buffers back to the core.
async fn flush(
    sock: &glommio::net::UdpSocket,
    core: &Rc<RefCell<ShardCore>>,
    traces: &Rc<RefCell<ShardTraces>>,
    batch: TxQueue,
    wall: SystemTime,
) {
    let mut errors = 0u64;
    // One sendmmsg for the whole turn; what the socket would not take now goes through
    // glommio, which waits for room.
    let fd = std::os::fd::AsRawFd::as_raw_fd(sock);
    let items: Vec<(&[u8], SocketAddr)> = batch
        .items
        .iter()
        .map(|t| (batch.bytes(t), t.dest))
        .collect();
    let sent = mmsg::send_batch(fd, &items).unwrap_or_default();
    for (bytes, dest) in items.iter().skip(sent) {
        if sock.send_to(bytes, *dest).await.is_err() {
            errors += 1;
        }
    }
    drop(items);
    finish_batch(core, traces, batch, wall, errors);
}

/// `-t un`: sends each datagram from the socket of the call that queued it (the shard's
/// socket for the rest), one sendmmsg per socket and run of datagrams.
async fn flush_per_call(
    main: &glommio::net::UdpSocket,
    sockets: &udp_per_call::CallSockets,
    core: &Rc<RefCell<ShardCore>>,
    traces: &Rc<RefCell<ShardTraces>>,
    batch: TxQueue,
    wall: SystemTime,
) {
    let mut errors = 0u64;
    let mut order: Vec<&crate::call::Transmit> = batch.items.iter().collect();
    // Stable: a call's datagrams keep their order.
    order.sort_by_key(|t| t.flow);
    for run in order.chunk_by(|a, b| a.flow == b.flow) {
        let Some(first) = run.first() else { continue };
        let sock: &glommio::net::UdpSocket = match sockets.socket(first.flow) {
            Some(s) => s,
            None => main,
        };
        let fd = std::os::fd::AsRawFd::as_raw_fd(sock);
        let items: Vec<(&[u8], SocketAddr)> =
            run.iter().map(|t| (batch.bytes(t), t.dest)).collect();
        let sent = mmsg::send_batch(fd, &items).unwrap_or_default();
        for (bytes, dest) in items.iter().skip(sent) {
            if sock.send_to(bytes, *dest).await.is_err() {
                errors += 1;
            }
        }
    }
    drop(order);
    finish_batch(core, traces, batch, wall, errors);
}

/// Hands the batch to the stream connections (never waits), then writes traces.
fn send_stream(
    streams: &Streams,
    core: &Rc<RefCell<ShardCore>>,
    traces: &Rc<RefCell<ShardTraces>>,
    batch: TxQueue,
    wall: SystemTime,
) {
    if !batch.items.is_empty() || !batch.ended_flows.is_empty() {
        streams.send(&batch);
    }
    finish_batch(core, traces, batch, wall, 0);
}

/// One -trace_shortmsg line for a message (Call-ID, CSeq and first line).
fn short_line(wall: SystemTime, dir: Direction, bytes: &[u8]) -> String {
    match crate::sip::SipMessage::parse(bytes) {
        Ok(m) => {
            let cseq = m.cseq();
            let cseq = format!("{} {}", cseq.number, String::from_utf8_lossy(cseq.method));
            shortmsg_line(
                wall,
                dir,
                &String::from_utf8_lossy(m.call_id()),
                &cseq,
                &String::from_utf8_lossy(m.first_line()),
            )
        }
        Err(_) => shortmsg_line(wall, dir, "", "", "(malformed)"),
    }
}

/// Writes -trace_msg blocks, counts send errors and gives the buffers back to the core.
fn finish_batch(
    core: &Rc<RefCell<ShardCore>>,
    traces: &Rc<RefCell<ShardTraces>>,
    mut batch: TxQueue,
    wall: SystemTime,
    errors: u64,
) {
    {
        let mut tr = traces.borrow_mut();
        let tr = &mut *tr;
        if tr.messages.is_some() || tr.short_messages.is_some() {
            let mut full = Vec::new();
            let mut short = String::new();
            let mut c = core.borrow_mut();
            let transport = c.env.transport.keyword();
            let rx = std::mem::take(&mut c.rx_log);
            let sent = batch
                .items
                .iter()
                .map(|t| (Direction::Sent, batch.bytes(t)));
            let received = rx.iter().map(|(_, b)| (Direction::Received, &b[..]));
            for (dir, bytes) in received.chain(sent) {
                if tr.messages.is_some() {
                    full.extend_from_slice(&msg_block(wall, transport, dir, bytes));
                }
                if tr.short_messages.is_some() {
                    short.push_str(&short_line(wall, dir, bytes));
                }
            }
            if let Some(f) = tr.messages.as_mut() {
                let _ = f.write_all(&full);
            }
            if let Some(f) = tr.short_messages.as_mut() {
                let _ = f.write_all(short.as_bytes());
            }
        }
    }
    let mut c = core.borrow_mut();
    c.stats.counters.send_errors += errors;
    batch.clear();
    if c.tx.is_empty() {
        c.tx = batch;
    }
}

/// The shard as the stream transport sees it: messages go to the core, events to the
/// counters (and warnings that name the peer and the reason).
struct Host {
    core: Rc<RefCell<ShardCore>>,
    traces: Rc<RefCell<ShardTraces>>,
    streams: RefCell<Weak<Streams>>,
}

impl StreamHost for Host {
    fn on_message(&self, bytes: &[u8], peer: SocketAddr) {
        let (now, wall) = clock();
        self.core
            .borrow_mut()
            .handle_datagram(now, wall, bytes, peer);
    }

    fn on_batch_end(&self) {
        let (now, wall) = clock();
        let batch = {
            let mut c = self.core.borrow_mut();
            c.handle_tick(now, wall);
            take_tx(&mut c)
        };
        let streams = self.streams.borrow().upgrade();
        match streams {
            Some(s) => send_stream(&s, &self.core, &self.traces, batch, wall),
            None => finish_batch(&self.core, &self.traces, batch, wall, 0),
        }
    }

    fn carries_live_calls(&self, peer: SocketAddr) -> bool {
        self.core.borrow().carries_live_calls(peer)
    }

    fn on_event(&self, event: StreamEvent) {
        if stream_event(&self.core, event) {
            // Ending calls may queue messages and close flows: send them now.
            self.on_batch_end();
        }
    }
}

/// Counts a stream event (warnings name the peer and the reason), or fails the calls of
/// a lost connection. True when calls ended (their last messages wait in the core).
fn stream_event(core: &RefCell<ShardCore>, event: StreamEvent) -> bool {
    if let StreamEvent::Lost {
        peer,
        carried,
        opened,
    } = event
    {
        let reason = if opened {
            FailureReason::TcpClosed
        } else {
            FailureReason::TcpConnect
        };
        let (now, _) = clock();
        let mut c = core.borrow_mut();
        match carried {
            Carried::All => c.fail_calls(now, CallsOn::All, reason),
            Carried::Peer => c.fail_calls(now, CallsOn::Peer(peer), reason),
            Carried::Flows(flows) => {
                for f in flows {
                    c.fail_calls(now, CallsOn::Flow(f), reason);
                }
            }
        }
        return true;
    }
    let mut c = core.borrow_mut();
    let n = &mut c.stats.counters;
    let warning = match event {
        StreamEvent::Opened { .. } => {
            n.connections_opened += 1;
            None
        }
        StreamEvent::Accepted { .. } => {
            n.connections_accepted += 1;
            None
        }
        StreamEvent::ConnectFailed { peer, reason } => {
            n.connect_failures += 1;
            Some(format!("cannot connect to {peer}: {reason}"))
        }
        StreamEvent::HandshakeFailed { peer, reason } => {
            n.tls_handshake_failures += 1;
            Some(format!(
                "{} handshake with {peer} failed: {reason}",
                c.env.transport.keyword()
            ))
        }
        StreamEvent::TooLarge { .. } => {
            n.stream_too_large += 1;
            None
        }
        StreamEvent::BadInput { .. } => {
            n.connections_closed_bad_input += 1;
            None
        }
        StreamEvent::IdleClosed { .. } => {
            n.stream_idle_closed += 1;
            None
        }
        StreamEvent::SendFailed { messages, .. } => {
            n.send_errors += messages;
            None
        }
        StreamEvent::Lost { .. } => None,
    };
    if let Some(w) = warning {
        c.events.push(ShardEvent::Warning(w));
    }
    false
}

fn publish(core: &Rc<RefCell<ShardCore>>, published: &Arc<Mutex<Published>>, done: bool) {
    let mut c = core.borrow_mut();
    let mut p = published.lock().unwrap_or_else(|e| e.into_inner());
    p.stats.clone_from(&c.stats);
    p.done = done;
    p.finished.append(&mut c.finished);
    p.events.append(&mut c.events);
}

/// Creates a UDP socket bound to `addr` with the buffer sizes asked for. `reuse_port`
/// lets several shards share one port (server scenarios).
pub fn udp_socket(
    addr: SocketAddr,
    reuse_port: bool,
    buff_size: usize,
) -> std::io::Result<socket2::Socket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let s = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if reuse_port {
        s.set_reuse_port(true)?;
    }
    let _ = s.set_recv_buffer_size(buff_size);
    let _ = s.set_send_buffer_size(buff_size);
    s.set_nonblocking(true)?;
    s.bind(&addr.into())?;
    Ok(s)
}

#[cfg(test)]
mod received_tests {
    use super::*;

    #[test]
    fn datagrams_are_handled_at_their_arrival_within_the_turn_and_in_order() {
        let floor = Instant::now();
        let now = floor + Duration::from_millis(1);
        let wall = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
        let mut r = Received { floor, now, wall };
        let ms = Duration::from_micros;
        // Arrived 300 µs before the drain.
        assert_eq!(r.at(Some(wall - ms(300))), (now - ms(300), wall - ms(300)));
        // Stamped before the previous turn: not earlier than what was handled already.
        assert_eq!(r.at(Some(wall - ms(5_000))).0, now - ms(300));
        // A stamp from the future (clock stepped) is handled now.
        assert_eq!(r.at(Some(wall + ms(50))), (now, wall));
        // No stamp: now.
        assert_eq!(Received::at_once(now, wall).at(None), (now, wall));
    }
}
