//! One shard's event loop: the only code that moves a shard's bytes and reads its clock.
//!
//! Owns: the shard's `Endpoint` (by value: nothing else holds it), its poller, its I/O
//! sources and its buffers. Must not: decide anything about SIP, calls or media (the
//! endpoint does), or wait anywhere but `Poller::wait`.
//!
//! Each turn, in this order (the endpoint's drive order, `endpoint` module docs):
//!
//! ```text
//! (now, wall) = clock()
//! input:    SIP datagrams (UDP socket, call sockets, the hand-off) or stream messages,
//!           RTP, and WebRTC call sockets → endpoint.handle_datagram / handle_rtp /
//!           handle_stream_event / handle_webrtc_datagram
//! (now, wall) = clock() again, so what fell due while reading goes this turn
//! sockets:  `-t un` and WebRTC call sockets the endpoint wants → handle_*_port
//! control:  the runner's rate, pause, accepting, quit and scenario → set_rate /
//!           set_paused / set_accepting / stop / abort_all / replace_scenario (a change
//!           wakes a sleeping shard at once: `wake`)
//! timers:   endpoint.handle_timeout(now, wall)
//! output:   poll_transmit → sendmmsg (UDP) or the connections (streams); poll_rtp_transmit
//!           → sendmmsg; poll_webrtc_transmit → the call sockets, then the ended calls'
//!           sockets close; poll_recording → WAV files; poll_event → the runner
//! publish:  a copy of the counters every 100 ms
//! wait:     until the earliest poll_timeout (endpoint, connections, parked datagrams),
//!           or input, as `wait::WaitPolicy` says
//! ```
//!
//! When the endpoint is done the loop drains: it keeps turning until the connections have
//! written everything (a second at most) and their peers closed them (`CLOSE_GRACE` at
//! most), then publishes for the last time and returns.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use super::handoff::Handoff;
use super::media_io::MediaIo;
use super::traces::Traces;
use super::twin_io::TwinIo;
use super::udp::{SipUdp, TwinPeer};
use super::wait::{self, Shape, Wait, WaitPolicy};
use super::webrtc_io::WebrtcIo;
use super::{Control, Published, ShardPlan, ShardSocket, clock, os};
use crate::call::{ShardEvent, TxQueue};
use crate::endpoint::{Endpoint, Event, Finished};
use crate::output::hep::IpProto;
use crate::poller::{Poller, Token};
use crate::transport::Streams;

const PUBLISH_EVERY: Duration = Duration::from_millis(100);
/// The longest a loop waits when nothing is due. An idle shard wakes 40 times a second,
/// not 1,000 (an idle uas spent 3.5 % of a core on 1 ms wake-ups). Control changes (a
/// new rate, pause, quit) do not wait for it: they wake the shard (`wake`).
const QUIET_SLEEP: Duration = Duration::from_millis(25);
/// How long a finished shard keeps its stream connections open for the peer to close:
/// SIPp fails the calls still on a connection that closes under them (FailedTcpClosed),
/// even calls that already ended for us and are only in SIPp's final `<timewait>`.
const CLOSE_GRACE: Duration = Duration::from_millis(500);
/// How long a finished shard waits for its connections (or parked datagrams) to be written.
const FLUSH_LIMIT: Duration = Duration::from_secs(1);
/// How often a draining shard looks at its connections while they still write.
const DRAIN_STEP: Duration = Duration::from_millis(1);
/// Descriptors reported per wait.
const EVENTS: usize = 512;

/// Runs the shard to its end. `Err` when it could not start (the runner reports it).
pub(super) fn run(plan: ShardPlan) -> Result<(), String> {
    Shard::new(plan)?.run();
    Ok(())
}

/// Where a shard's SIP goes.
enum Sip {
    Udp(SipUdp),
    Streams(Streams),
}

/// A finished shard writing out and waiting for its peers to close.
#[derive(Clone, Copy, Debug)]
struct Drain {
    since: Instant,
    /// Everything is written: the peers have `CLOSE_GRACE` from here to close.
    grace_from: Option<Instant>,
}

struct Shard {
    ep: Endpoint,
    poller: Poller,
    sip: Sip,
    media: Option<MediaIo>,
    webrtc: Option<WebrtcIo>,
    twin: Option<TwinIo>,
    handoff: Option<Handoff>,
    traces: Traces,
    control: Arc<Control>,
    published: Arc<Mutex<Published>>,
    /// The batch `poll_transmit` swaps into (reused).
    batch: TxQueue,
    waiting: WaitPolicy,
    rate_seen: f64,
    paused_seen: bool,
    accepting_seen: bool,
    /// The control block's scenario epoch this shard last took.
    scenario_seen: u64,
    last_publish: Instant,
    /// The previous turn's clock reading: no datagram is handled as received earlier.
    floor: Instant,
    /// Events and finished calls since the last publish.
    events: Vec<ShardEvent>,
    finished: Vec<Finished>,
    drain: Option<Drain>,
}

impl Shard {
    fn new(plan: ShardPlan) -> Result<Shard, String> {
        let ShardPlan {
            socket,
            endpoint: mut ep,
            control,
            published,
            traces,
            media_socket,
            udp_per_call,
            udp_per_ip,
            handoff,
            webrtc_ip,
            twin,
            ..
        } = plan;
        let mut poller = Poller::new(EVENTS).map_err(|e| format!("cannot create epoll: {e}"))?;
        if let Some(fd) = control.wake_fd() {
            poller
                .watch_wake(fd)
                .map_err(|e| format!("cannot watch the control block: {e}"))?;
        }
        let registry = poller.registry().clone();
        let sip = match socket {
            ShardSocket::Udp(socket) => {
                let stamps = ep.is_client();
                if stamps {
                    // Framed clients read each datagram's arrival time from the kernel
                    // (`wait`); without it they would measure at the frame's end.
                    let _ = os::enable_receive_timestamps(std::os::fd::AsRawFd::as_raw_fd(&socket));
                }
                if let Some(s) = udp_per_call {
                    ep.enable_udp_per_call(s.max_sockets);
                }
                // The peer a connected twin serves (`udp` module): a client's remote; a
                // server shard's first caller unless shards share the port (hand-off).
                let env = ep.env();
                let twin_peer = match (ep.is_client(), env.send_to.or(env.remote)) {
                    (true, Some(peer)) => TwinPeer::At(peer),
                    (false, _) if handoff.is_none() => TwinPeer::FirstSender,
                    _ => TwinPeer::Never,
                };
                Sip::Udp(
                    SipUdp::new(
                        socket,
                        udp_per_call,
                        udp_per_ip,
                        registry.clone(),
                        twin_peer,
                        stamps,
                    )
                    .map_err(|e| format!("cannot watch the UDP socket: {e}"))?,
                )
            }
            ShardSocket::Stream(plan) => {
                let (now, _) = clock();
                Sip::Streams(
                    Streams::start(plan, registry.clone(), now)
                        .map_err(|e| format!("cannot set up the TCP/TLS sockets: {e}"))?,
                )
            }
        };
        let media = match media_socket {
            Some((rtp, rtcp)) => Some(
                MediaIo::new(rtp, rtcp, &registry)
                    .map_err(|e| format!("cannot watch the RTP and RTCP sockets: {e}"))?,
            ),
            None => None,
        };
        let webrtc = webrtc_ip.map(|ip| WebrtcIo::new(ip, registry.clone()));
        let twin = match twin {
            Some(t) => Some(
                TwinIo::new(t, registry.clone())
                    .map_err(|e| format!("cannot watch the 3PCC twin sockets: {e}"))?,
            ),
            None => None,
        };
        if let Some(h) = handoff.as_ref() {
            registry
                .add(h.fd(), Token::Handoff, crate::poller::READ)
                .map_err(|e| format!("cannot watch the hand-off: {e}"))?;
        }
        let env = ep.env();
        let proto = if env.transport.is_udp() {
            IpProto::Udp
        } else {
            IpProto::Tcp
        };
        let local = std::net::SocketAddr::new(env.local_ip, env.local_port);
        let traces = Traces::new(traces, env.transport.keyword(), local, proto);
        let (now, _) = clock();
        Ok(Shard {
            ep,
            poller,
            sip,
            media,
            webrtc,
            twin,
            handoff,
            traces,
            control,
            published,
            batch: TxQueue::default(),
            waiting: WaitPolicy,
            rate_seen: f64::NAN,
            paused_seen: false,
            accepting_seen: true,
            scenario_seen: 0,
            last_publish: now,
            floor: now,
            events: Vec::new(),
            finished: Vec::new(),
            drain: None,
        })
    }

    fn run(&mut self) {
        loop {
            let (now, wall) = clock();
            let got = self.receive(now, wall);
            self.floor = now;
            // Reading a burst takes a while (1,000 WebRTC calls: 50 datagrams a ms, a
            // few µs each): what fell due meanwhile (an audio frame) goes this turn.
            let (now, wall) = clock();
            if let Sip::Udp(u) = &mut self.sip {
                u.top_up(&mut self.ep, now);
            }
            if let Some(w) = self.webrtc.as_mut() {
                w.top_up(&mut self.ep, now);
            }
            self.steer(now, wall);
            self.ep.handle_timeout(now, wall);
            self.transmit(now, wall);
            self.collect_events();
            let over = self.drained(now);
            if over || now.duration_since(self.last_publish) >= PUBLISH_EVERY {
                self.last_publish = now;
                self.publish(over);
            }
            if over {
                return;
            }
            self.wait(got);
        }
    }

    /// Input: everything the sources have for the endpoint. Returns the SIP datagrams or
    /// messages received (the wait policy's measure of a busy turn).
    fn receive(&mut self, now: Instant, wall: SystemTime) -> usize {
        let Shard {
            ep,
            poller,
            sip,
            media,
            webrtc,
            twin,
            handoff,
            traces,
            floor,
            ..
        } = self;
        let mut got = match sip {
            Sip::Udp(u) => u.receive(ep, traces, poller, handoff.as_mut(), *floor, now, wall),
            Sip::Streams(s) => {
                let n = s.handle_io(now, poller.ready(), &mut |bytes, peer| {
                    traces.received(wall, bytes, peer);
                    ep.handle_datagram(now, wall, bytes, peer);
                });
                s.handle_idle(now, &|peer| ep.carries_live_calls(peer));
                while let Some(e) = s.poll_event() {
                    ep.handle_stream_event(now, e);
                }
                n
            }
        };
        if let Some(h) = handoff.as_mut() {
            // This turn's datagrams for other shards go now; theirs for us come in.
            h.flush();
            if poller.may_read(Token::Handoff) {
                got += h.receive(|bytes, from| {
                    traces.received(wall, bytes, from);
                    ep.handle_datagram(now, wall, bytes, from);
                });
            }
        }
        if let Some(m) = media.as_mut() {
            m.receive(ep, poller, now);
        }
        if let Some(w) = webrtc.as_mut() {
            w.receive(ep, poller, now, wall);
        }
        if let Some(t) = twin.as_mut() {
            t.receive(ep, poller, traces, now, wall);
        }
        got
    }

    /// The runner's steering: rate, pause, soft and hard quit.
    fn steer(&mut self, now: Instant, wall: SystemTime) {
        let c = &self.control;
        let quit = c.quit_level();
        let rate = c.rate() / self.ep.shards() as f64;
        if rate != self.rate_seen {
            self.ep.set_rate(rate, now);
            self.rate_seen = rate;
        }
        let paused = c.paused();
        if paused != self.paused_seen {
            self.ep.set_paused(paused, now);
            self.paused_seen = paused;
        }
        let accepting = c.accepting();
        if accepting != self.accepting_seen {
            self.ep.set_accepting(accepting, now);
            self.accepting_seen = accepting;
        }
        self.traces.set_capturing(c.capturing());
        let epoch = c.scenario_epoch();
        if epoch != self.scenario_seen {
            self.scenario_seen = epoch;
            if let Some(sc) = c.next_scenario()
                && let Err(e) = self.ep.replace_scenario(sc)
            {
                self.events.push(ShardEvent::Warning(format!(
                    "scenario not replaced on shard {}: {e}",
                    self.ep.index()
                )));
            }
        }
        if quit >= 1 {
            self.ep.stop();
        }
        if quit >= 2 {
            self.ep.abort_all(now, wall);
        }
    }

    /// Output: SIP to its sockets or connections, RTP, recordings, traces.
    fn transmit(&mut self, now: Instant, wall: SystemTime) {
        let Shard {
            ep,
            sip,
            media,
            webrtc,
            twin,
            traces,
            batch,
            ..
        } = self;
        // 3PCC commands first: a call that sent one may fail here (no twin), and its
        // abort messages then leave with this turn's batch.
        if let Some(t) = twin.as_mut() {
            t.send(ep, traces, now, wall);
        }
        let mut sent_any = false;
        while ep.poll_transmit(batch) {
            sent_any = true;
            traces.sent(wall, batch);
            match sip {
                Sip::Udp(u) => {
                    let lost = u.send(batch, now);
                    if lost > 0 {
                        ep.handle_send_failures(lost);
                    }
                }
                Sip::Streams(s) => s.send(now, batch),
            }
            batch.clear();
        }
        match sip {
            Sip::Udp(u) => {
                if !sent_any && u.poll_timeout().is_some_and(|at| at <= now) {
                    let lost = u.send(batch, now);
                    if lost > 0 {
                        ep.handle_send_failures(lost);
                    }
                }
                u.close_ended(ep);
            }
            Sip::Streams(s) => {
                s.flush();
                // Calls failed here queue into the endpoint's next batch.
                while let Some(e) = s.poll_event() {
                    ep.handle_stream_event(now, e);
                }
            }
        }
        if let Some(m) = media.as_mut() {
            m.send(ep);
            traces.reports(wall, m.local(), ep);
        }
        if let Some(w) = webrtc.as_mut() {
            w.send(ep);
        }
        traces.flush();
        if let Some(w) = traces.take_warning() {
            ep.warn(w);
        }
    }

    /// Moves the endpoint's events out until the next publish.
    fn collect_events(&mut self) {
        while let Some(e) = self.ep.poll_event() {
            match e {
                Event::Shard(e) => self.events.push(e),
                Event::Finished(f) => self.finished.push(f),
            }
        }
    }

    /// True when the shard is done and has written out: time to stop.
    fn drained(&mut self, now: Instant) -> bool {
        let done = self.ep.done();
        // A server shard with the hand-off forwards for the others until all are done.
        let done = match self.handoff.as_mut() {
            Some(h) => h.all_done(done),
            None => done,
        };
        if !done {
            return false;
        }
        let d = self.drain.get_or_insert(Drain {
            since: now,
            grace_from: None,
        });
        let written = match &self.sip {
            Sip::Udp(u) => u.poll_timeout().is_none(),
            Sip::Streams(s) => s.idle(),
        } && !self.twin.as_ref().is_some_and(TwinIo::has_pending);
        if d.grace_from.is_none() {
            if !written && now.duration_since(d.since) < FLUSH_LIMIT {
                return false;
            }
            d.grace_from = Some(now);
        }
        match &self.sip {
            Sip::Udp(_) => true,
            Sip::Streams(s) => {
                s.open_connections() == 0
                    || d.grace_from
                        .is_some_and(|g| now.duration_since(g) >= CLOSE_GRACE)
            }
        }
    }

    /// Hands the runner a copy of the counters, and the events and finished calls since
    /// the last time.
    fn publish(&mut self, done: bool) {
        let sockets = match &self.sip {
            Sip::Udp(u) => u.open_sockets(),
            // A server's listening socket counts too.
            Sip::Streams(s) => s.open_connections() + usize::from(!self.ep.is_client()),
        } + usize::from(self.media.is_some())
            + self.webrtc.as_ref().map_or(0, WebrtcIo::open_sockets);
        let mut p = self.published.lock().unwrap_or_else(|e| e.into_inner());
        p.stats.clone_from(self.ep.stats());
        p.stats.open_sockets = sockets as u64;
        p.done = done;
        p.finished.append(&mut self.finished);
        p.events.append(&mut self.events);
        self.traces.hand_over(&mut p.captured);
    }

    /// The turn's one wait, until the earliest deadline or input.
    fn wait(&mut self, got: usize) {
        let (now, _) = clock();
        let mut next = self.ep.poll_timeout();
        let more = match &self.sip {
            Sip::Udp(u) => u.poll_timeout(),
            Sip::Streams(s) => s.poll_timeout(),
        };
        // Draining: look again soon while bytes wait, else when the grace ends.
        let draining = self.drain.map(|d| match d.grace_from {
            None => now + DRAIN_STEP,
            Some(g) => g + CLOSE_GRACE,
        });
        // Unwritten 3PCC commands: try again soon.
        let twin = self
            .twin
            .as_ref()
            .filter(|t| t.has_pending())
            .map(|_| now + DRAIN_STEP);
        for t in [more, draining, twin].into_iter().flatten() {
            next = Some(next.map_or(t, |n| n.min(t)));
        }
        let until = match next {
            Some(d) if d > now => (d - now).min(QUIET_SLEEP),
            Some(_) => Duration::ZERO,
            None => QUIET_SLEEP,
        };
        let shape = match &self.sip {
            Sip::Streams(_) => Shape::Streams,
            // Not with media: RTP arrival times feed jitter and would be a frame late.
            Sip::Udp(u)
                if self.rate_seen >= wait::FRAMED_RATE
                    && self.media.is_none()
                    && self.webrtc.is_none()
                    && self.ep.is_client()
                    && !u.has_call_sockets() =>
            {
                Shape::Framed
            }
            Sip::Udp(_) => Shape::Datagrams,
        };
        // The connected twin is read every turn and kept out of the epoll set.
        let beside = match &self.sip {
            Sip::Udp(u) => u.twin_fd(),
            Sip::Streams(_) => None,
        };
        self.poller.set_beside(beside);
        let mut wait = self.waiting.next(shape, got, until);
        if let Wait::Quiet(d) = wait
            && beside.is_none()
        {
            // No twin (it could not be opened): the peer's datagrams come to the shard
            // socket in the set, and a quiet wait would wake for each. Sleep blind.
            wait = Wait::Sleep(d);
        }
        self.poller.wait(wait);
        // Connections and call sockets are read on readiness: after a blind sleep, look.
        let on_readiness = self.webrtc.is_some()
            || self.twin.is_some()
            || match &self.sip {
                Sip::Streams(_) => true,
                Sip::Udp(u) => u.has_call_sockets(),
            };
        if on_readiness && !self.poller.readiness_known() {
            self.poller.look();
        }
    }
}
