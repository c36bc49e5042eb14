//! Simulation harness: shards in virtual time over a seeded, lossy in-memory network.
//!
//! Owns: a fixed epoch, N `Endpoint`s and a `SimNet` (delay, jitter, loss).
//! `step()` jumps to the earliest event of any endpoint or datagram; `run_until` fails
//! loudly instead of spinning. Every datagram is logged with its virtual time so tests
//! can assert on timer gaps. No sleeps, no sockets (STYLE.md §7).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::call::inject::InjectData;
use crate::call::{Env, TxQueue};
use crate::config::{DefaultBehaviors, RetransConfig, TransportMode};
use crate::endpoint::{Budget, Endpoint};
use crate::load::Pacer;
use crate::rng::Rng;
use crate::scenario::{LoadOptions, Scenario};

/// One logged datagram.
#[derive(Clone, Debug)]
pub struct Sent {
    pub at: Duration,
    pub from: SocketAddr,
    pub to: SocketAddr,
    pub first_line: String,
    pub call_id: String,
    pub dropped: bool,
    /// The datagram as sent.
    pub bytes: Vec<u8>,
}

/// Decides, per datagram, to lose it on purpose.
pub type DropRule = Box<dyn FnMut(&Sent) -> bool>;

/// A seeded network between endpoints.
pub struct SimNet {
    pub endpoints: Vec<Endpoint>,
    addrs: Vec<SocketAddr>,
    epoch: Instant,
    pub now: Instant,
    rng: Rng,
    pub loss: f64,
    pub delay: Duration,
    pub jitter: Duration,
    in_flight: BinaryHeap<Reverse<(Instant, u64, usize)>>,
    payloads: std::collections::HashMap<u64, (SocketAddr, Vec<u8>)>,
    seq: u64,
    pub log: Vec<Sent>,
    /// Record every datagram in `log` (off for allocation counting).
    pub log_enabled: bool,
    /// Drops the datagram when this returns true (`(from, to, first line)`), on top of
    /// random loss.
    pub drop_rule: Option<DropRule>,
    /// The reused batch endpoints' datagrams are polled into.
    batch: TxQueue,
    /// 3PCC: pairs of endpoints whose twin commands reach each other (`link_twins`).
    twins: Vec<(usize, usize)>,
    /// Twin commands on their way: (to, bytes as written, delimiter included).
    twin_queue: std::collections::VecDeque<(usize, Vec<u8>)>,
    /// Every twin command delivered: (from, to, bytes as written).
    pub twin_log: Vec<(usize, usize, Vec<u8>)>,
}

/// Loads a built-in scenario for tests.
pub fn builtin(name: &str) -> Arc<Scenario> {
    let b = crate::scenario::builtin::get(name).unwrap_or_else(|| panic!("no built-in {name}"));
    Arc::new(
        crate::scenario::load(b.xml.as_bytes(), name, &LoadOptions::default())
            .unwrap_or_else(|e| panic!("{e}")),
    )
}

/// Loads scenario XML text for tests.
pub fn scenario(xml: &str) -> Arc<Scenario> {
    Arc::new(
        crate::scenario::load(xml.as_bytes(), "test.xml", &LoadOptions::default())
            .unwrap_or_else(|e| panic!("{e}")),
    )
}

/// An `Env` for an endpoint at `local` talking to `remote`.
pub fn env(local: SocketAddr, remote: Option<SocketAddr>, start: Instant) -> Env {
    Env {
        local_ip: local.ip(),
        local_ip_text: local.ip().to_string(),
        local_port: local.port(),
        media_ip: local.ip(),
        media_ip_text: local.ip().to_string(),
        media_port: 6000,
        remote,
        remote_ip_text: remote.map(|r| r.ip().to_string()).unwrap_or_default(),
        send_to: None,
        remote_host: String::new(),
        transport: TransportMode::UdpShared,
        service: "service".into(),
        pid: 4242,
        start,
        default_pause_ms: 0,
        recv_timeout_ms: None,
        recv_bye_min_ms: None,
        set_vars: Vec::new(),
        retrans: RetransConfig::default(),
        behaviors: DefaultBehaviors::default(),
        base_cseq: 1,
        cid_str: "%u-%p@%s".into(),
        keys: Vec::new(),
        auth_username: "service".into(),
        auth_password: "password".into(),
        users: None,
        allow_exec_command: false,
        auto_answer: false,
        trace_rtt: false,
        twin_abort: false,
    }
}

/// An origin for virtual time. `Instant` has no constructor, so tests and simulations
/// read the clock once and only ever add to the reading; nothing compares it with the
/// wall. The one clock reading of this crate.
#[allow(
    clippy::disallowed_methods,
    reason = "an origin for virtual time in tests and simulations, never a measurement"
)]
pub fn epoch() -> Instant {
    Instant::now()
}

impl SimNet {
    pub fn new(seed: u64) -> SimNet {
        let epoch = epoch();
        SimNet {
            endpoints: Vec::new(),
            addrs: Vec::new(),
            epoch,
            now: epoch,
            rng: Rng::new(seed),
            loss: 0.0,
            delay: Duration::from_micros(200),
            jitter: Duration::ZERO,
            in_flight: BinaryHeap::new(),
            payloads: Default::default(),
            seq: 0,
            log: Vec::new(),
            log_enabled: true,
            drop_rule: None,
            batch: TxQueue::default(),
            twins: Vec::new(),
            twin_queue: Default::default(),
            twin_log: Vec::new(),
        }
    }

    /// 3PCC: the twin commands of `a` go to `b` and back (a lossless twin socket).
    pub fn link_twins(&mut self, a: usize, b: usize) {
        self.twins.push((a, b));
    }

    pub fn epoch(&self) -> Instant {
        self.epoch
    }

    /// Adds a client endpoint running `sc` toward `remote` (`rate` cps, `max` calls).
    pub fn add_client(
        &mut self,
        sc: Arc<Scenario>,
        local: SocketAddr,
        remote: SocketAddr,
        rate: f64,
        max: u64,
    ) -> usize {
        let e = env(local, Some(remote), self.epoch);
        self.add(
            Endpoint::new(
                self.endpoints.len(),
                1,
                sc,
                e,
                7,
                InjectData::default(),
                Pacer::new(rate, self.epoch),
                Budget {
                    remaining: Some(max),
                    limit: 10_000,
                },
            ),
            local,
        )
    }

    /// Adds a server endpoint running `sc` at `local`.
    pub fn add_server(&mut self, sc: Arc<Scenario>, local: SocketAddr) -> usize {
        let e = env(local, None, self.epoch);
        self.add(
            Endpoint::new(
                self.endpoints.len(),
                1,
                sc,
                e,
                11,
                InjectData::default(),
                Pacer::new(0.0, self.epoch),
                Budget {
                    remaining: None,
                    limit: 10_000,
                },
            ),
            local,
        )
    }

    /// Adds a prepared endpoint (tests that tune `Env`).
    pub fn add(&mut self, core: Endpoint, local: SocketAddr) -> usize {
        self.endpoints.push(core);
        self.addrs.push(local);
        self.endpoints.len() - 1
    }

    fn wall(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_795_679_526) + self.now.duration_since(self.epoch)
    }

    /// Moves queued datagrams of endpoint `i` onto the network.
    fn collect(&mut self, i: usize) {
        let from = self.addrs[i];
        let mut tx = std::mem::take(&mut self.batch);
        while self.endpoints[i].poll_transmit(&mut tx) {
            self.put_on_wire(from, &tx);
            tx.clear();
        }
        self.batch = tx;
        while let Some(cmd) = self.endpoints[i].poll_twin_transmit() {
            let to = self.twins.iter().find_map(|&(a, b)| {
                if a == i {
                    Some(b)
                } else if b == i {
                    Some(a)
                } else {
                    None
                }
            });
            if let Some(to) = to {
                self.twin_log.push((i, to, cmd.bytes.clone()));
                self.twin_queue.push_back((to, cmd.bytes));
            }
        }
    }

    /// Delivers the queued twin commands, each through a framer as a socket would.
    fn deliver_twin(&mut self, wall: SystemTime) {
        while let Some((to, bytes)) = self.twin_queue.pop_front() {
            let mut framer = crate::twin::Framer::default();
            framer.push(&bytes);
            while let Ok(Some(cmd)) = framer.next_command() {
                self.endpoints[to].handle_twin_command(self.now, wall, cmd);
            }
            self.collect(to);
        }
    }

    fn put_on_wire(&mut self, from: SocketAddr, tx: &TxQueue) {
        for t in &tx.items {
            let bytes = tx.bytes(t).to_vec();
            if !self.log_enabled && self.drop_rule.is_none() && self.loss == 0.0 {
                let Some(to) = self.addrs.iter().position(|a| *a == t.dest) else {
                    continue;
                };
                self.seq += 1;
                self.payloads.insert(self.seq, (from, bytes));
                self.in_flight
                    .push(Reverse((self.now + self.delay, self.seq, to)));
                continue;
            }
            let first_line = String::from_utf8_lossy(
                bytes
                    .split(|&b| b == b'\r' || b == b'\n')
                    .next()
                    .unwrap_or(&[]),
            )
            .into_owned();
            let call_id = crate::sip::SipMessage::parse(&bytes)
                .map(|m| String::from_utf8_lossy(m.call_id()).into_owned())
                .unwrap_or_default();
            let mut sent = Sent {
                at: self.now - self.epoch,
                from,
                to: t.dest,
                first_line,
                call_id,
                dropped: false,
                bytes: bytes.clone(),
            };
            let mut drop = self.loss > 0.0 && self.rng.next_f64() < self.loss;
            if let Some(rule) = self.drop_rule.as_mut() {
                drop |= rule(&sent);
            }
            sent.dropped = drop;
            self.log.push(sent);
            if drop {
                continue;
            }
            let Some(to) = self.addrs.iter().position(|a| *a == t.dest) else {
                continue;
            };
            let jitter = if self.jitter.is_zero() {
                Duration::ZERO
            } else {
                Duration::from_nanos(self.rng.below(self.jitter.as_nanos() as u64))
            };
            self.seq += 1;
            self.payloads.insert(self.seq, (from, bytes));
            self.in_flight
                .push(Reverse((self.now + self.delay + jitter, self.seq, to)));
        }
    }

    /// Runs the earliest pending event. Returns false when nothing is pending.
    pub fn step(&mut self) -> bool {
        let mut next: Option<Instant> = self.in_flight.peek().map(|Reverse((at, _, _))| *at);
        for e in &self.endpoints {
            if let Some(d) = e.poll_timeout() {
                next = Some(next.map_or(d, |n| n.min(d)));
            }
        }
        if !self.twin_queue.is_empty() {
            next = Some(self.now);
        }
        let Some(at) = next else { return false };
        if at > self.now {
            self.now = at;
        }
        let wall = self.wall();
        while let Some(Reverse((t, seq, to))) = self.in_flight.peek().copied() {
            if t > self.now {
                break;
            }
            self.in_flight.pop();
            if let Some((from, bytes)) = self.payloads.remove(&seq) {
                self.endpoints[to].handle_datagram(self.now, wall, &bytes, from);
                self.collect(to);
            }
        }
        self.deliver_twin(wall);
        for i in 0..self.endpoints.len() {
            self.endpoints[i].handle_timeout(self.now, wall);
            self.collect(i);
        }
        self.deliver_twin(wall);
        true
    }

    /// Steps until `done` holds; panics after `max_steps` with the virtual time reached.
    pub fn run_until(&mut self, max_steps: usize, mut done: impl FnMut(&SimNet) -> bool) {
        for _ in 0..max_steps {
            if done(self) {
                return;
            }
            if !self.step() {
                assert!(
                    done(self),
                    "simulation ran out of events at {:?}",
                    self.now - self.epoch
                );
                return;
            }
        }
        panic!(
            "simulation did not finish in {max_steps} steps (virtual time {:?})",
            self.now - self.epoch
        );
    }
}
