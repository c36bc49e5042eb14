//! The REGISTER gateway's account on the shard that owns its Call-ID: the endpoint feeds
//! it the responses carrying that Call-ID, fires its timers, sends what it queues from
//! the shard's (UAS) socket, turns its reports into run events, and on stop sends the
//! `Expires: 0` before the shard may finish. A listener turned off
//! ([`Endpoint::set_accepting`]) removes the binding the same way, so the registrar
//! answers its callers at once instead of routing them to a listener that drops their
//! INVITEs; turned back on, it registers again.
//!
//! Owns: nothing but the glue; the protocol is `crate::register`. Must not: touch
//! sockets or the clock.

use std::time::Instant;

use super::Endpoint;
use crate::call::ShardEvent;
use crate::register::{RegisterEvent, Registration};
use crate::sip::SipMessage;

/// The account, whether it started, whether the listener's refusal took its binding
/// away, and whether the run's final `Expires: 0` went out.
pub(super) struct Gateway {
    reg: Registration,
    started: bool,
    off: bool,
    leaving: bool,
    buf: Vec<u8>,
}

/// What the account does to follow its listener (see [`Gateway::follow`]).
enum Follow {
    /// The listener takes calls: the first REGISTER.
    Start,
    /// The listener is on again: register again.
    Restart,
    /// The listener is off: remove the binding.
    Unregister,
}

impl Gateway {
    /// What the account must do for a listener that is `accepting` or not, if anything
    /// (nothing once the run is `stopping`: the final `Expires: 0` is its own step).
    fn follow(&self, accepting: bool, stopping: bool) -> Option<Follow> {
        match (stopping, accepting, self.started, self.off) {
            (true, ..) => None,
            (false, true, false, _) => Some(Follow::Start),
            (false, true, true, true) => Some(Follow::Restart),
            (false, false, true, false) => Some(Follow::Unregister),
            _ => None,
        }
    }
}

impl Endpoint {
    /// Gives this shard the gateway's account (the runner picks the shard that owns its
    /// Call-ID, so the registrar's answers arrive here). It registers at the next
    /// `handle_timeout`.
    pub fn set_registration(&mut self, reg: Registration) {
        self.gateway = Some(Box::new(Gateway {
            reg,
            started: false,
            off: false,
            leaving: false,
            buf: Vec::with_capacity(1024),
        }));
    }

    /// Whether the gateway's account is registered (`None`: no gateway on this shard).
    pub fn gateway_registered(&self) -> Option<bool> {
        self.gateway.as_ref().map(|g| g.reg.registered())
    }

    /// A response for the gateway's account: taken (true) or not its own (false).
    pub(super) fn gateway_takes(&mut self, now: Instant, msg: &SipMessage<'_>) -> bool {
        let Some(g) = self.gateway.as_mut() else {
            return false;
        };
        if msg.is_request() || msg.call_id() != g.reg.call_id().as_bytes() {
            return false;
        }
        g.reg.handle_response(now, msg);
        self.drain_gateway();
        true
    }

    /// Starts the account (once the listener takes calls), follows the listener off and
    /// on, fires its timers and, once the run stops, removes the binding.
    pub(super) fn gateway_timeout(&mut self, now: Instant) {
        let stopping = self.stopping;
        let accepting = !self.refusing;
        let Some(g) = self.gateway.as_mut() else {
            return;
        };
        match g.follow(accepting, stopping) {
            Some(Follow::Start) => {
                g.started = true;
                g.reg.start(now);
            }
            Some(Follow::Restart) => {
                g.off = false;
                g.reg.restart(now);
            }
            Some(Follow::Unregister) => {
                g.off = true;
                g.reg.unregister(now);
            }
            None => {}
        }
        if stopping && !g.leaving {
            g.leaving = true;
            g.reg.unregister(now);
        }
        g.reg.handle_timeout(now);
        self.drain_gateway();
    }

    /// The account's next deadline.
    pub(super) fn gateway_deadline(&self) -> Option<Instant> {
        let g = self.gateway.as_ref()?;
        let listener_changed = g.follow(!self.refusing, self.stopping).is_some();
        if self.stopping && !g.leaving || listener_changed {
            // The REGISTER or the Expires 0 goes out at the next turn.
            return Some(self.last_tick);
        }
        g.reg.poll_timeout()
    }

    /// True while the account still holds the shard open (its Expires 0 unanswered).
    pub(super) fn gateway_busy(&self) -> bool {
        self.gateway.as_ref().is_some_and(|g| !g.reg.done())
    }

    fn drain_gateway(&mut self) {
        let Some(g) = self.gateway.as_mut() else {
            return;
        };
        loop {
            g.buf.clear();
            let Some(dest) = g.reg.poll_transmit(&mut g.buf) else {
                break;
            };
            self.out.tx.flow = 0;
            self.out.tx.push(dest, &g.buf);
        }
        while let Some(e) = g.reg.poll_event() {
            let user = g.reg.user();
            self.out.events.push_back(match e {
                RegisterEvent::Registered { expires_s } => ShardEvent::Log(format!(
                    "gateway: \"{user}\" registered (Expires {expires_s} s)"
                )),
                RegisterEvent::Failed { status: _, reason } => ShardEvent::Error(format!(
                    "gateway: registration of \"{user}\" failed: {reason}; retrying"
                )),
                RegisterEvent::Unregistered { confirmed: true } => {
                    ShardEvent::Log(format!("gateway: \"{user}\" unregistered (Expires 0)"))
                }
                RegisterEvent::Unregistered { confirmed: false } => ShardEvent::Warning(format!(
                    "gateway: \"{user}\": the Expires 0 was not confirmed (no binding, or no answer)"
                )),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;
    use std::time::{Duration, SystemTime};

    use super::*;
    use crate::call::TxQueue;
    use crate::call::inject::InjectData;
    use crate::endpoint::{Budget, Event};
    use crate::load::Pacer;
    use crate::register::RegisterSpec;
    use crate::sim;

    const REGISTRAR: &str = "127.0.0.1:5080";

    fn sent(core: &mut Endpoint) -> Vec<(SocketAddr, String)> {
        let mut tx = TxQueue::default();
        let mut all = Vec::new();
        while core.poll_transmit(&mut tx) {
            for t in &tx.items {
                all.push((t.dest, String::from_utf8_lossy(tx.bytes(t)).into_owned()));
            }
            tx.clear();
        }
        all
    }

    fn ok_to(req: &str) -> Vec<u8> {
        let mut r = String::from("SIP/2.0 200 OK\r\n");
        for l in req.lines() {
            if ["Via:", "From:", "To:", "Call-ID:", "CSeq:"]
                .iter()
                .any(|h| l.starts_with(h))
            {
                r.push_str(l);
                r.push_str("\r\n");
            }
        }
        r.push_str("Expires: 60\r\nContent-Length: 0\r\n\r\n");
        r.into_bytes()
    }

    /// A uas shard on 127.0.0.1:5070 with alice's account (Expires 60) at REGISTRAR.
    fn shard_with_account(t0: Instant) -> Endpoint {
        let local: SocketAddr = "127.0.0.1:5070".parse().unwrap();
        let registrar: SocketAddr = REGISTRAR.parse().unwrap();
        let mut core = Endpoint::new(
            0,
            1,
            sim::builtin("uas"),
            sim::env(local, None, t0),
            7,
            InjectData::default(),
            Pacer::new(0.0, t0),
            Budget {
                remaining: None,
                limit: 10,
            },
        );
        core.set_registration(Registration::new(
            RegisterSpec {
                registrar,
                domain: "pbx.test".into(),
                user: "alice".into(),
                auth_user: "alice".into(),
                password: "pw".into(),
                contact: local,
                expires_s: 60,
                keepalive_s: 0,
                retry_s: 15,
            },
            1,
        ));
        core
    }

    #[test]
    fn the_shard_registers_routes_the_answers_and_waits_for_the_expires_0_to_finish() {
        let t0 = sim::epoch();
        let wall = SystemTime::UNIX_EPOCH;
        let registrar: SocketAddr = REGISTRAR.parse().unwrap();
        let mut core = shard_with_account(t0);
        assert_eq!(core.gateway_registered(), Some(false));
        core.handle_timeout(t0, wall);
        let out = sent(&mut core);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].0, registrar);
        assert!(out[0].1.starts_with("REGISTER sip:pbx.test SIP/2.0"));
        core.handle_datagram(t0, wall, &ok_to(&out[0].1), registrar);
        assert_eq!(core.gateway_registered(), Some(true));
        assert_eq!(core.live_calls(), 0, "the 200 made no call");
        let events: Vec<_> = std::iter::from_fn(|| core.poll_event()).collect();
        assert!(
            events.iter().any(|e| matches!(e, Event::Shard(ShardEvent::Log(t)) if t.contains("registered (Expires 60 s)"))),
            "{events:?}"
        );
        // The refresh is due at 54 s.
        assert_eq!(core.poll_timeout(), Some(t0 + Duration::from_secs(54)));

        // Stop: the Expires 0 goes out, and the shard is not done until it is answered.
        let t1 = t0 + Duration::from_secs(1);
        core.stop();
        assert!(!core.done());
        assert_eq!(core.poll_timeout(), Some(t0), "at once");
        core.handle_timeout(t1, wall);
        let out = sent(&mut core);
        assert_eq!(out.len(), 1);
        assert!(out[0].1.contains("\r\nExpires: 0\r\n"), "{}", out[0].1);
        assert!(!core.done());
        core.handle_datagram(t1, wall, &ok_to(&out[0].1), registrar);
        assert!(core.done());
    }

    #[test]
    fn a_listener_turned_off_removes_the_binding_and_turned_on_registers_again() {
        let t0 = sim::epoch();
        let wall = SystemTime::UNIX_EPOCH;
        let registrar: SocketAddr = REGISTRAR.parse().unwrap();
        let mut core = shard_with_account(t0);
        // Off before the first turn: nothing is registered until the listener is on.
        core.set_accepting(false, t0);
        core.handle_timeout(t0, wall);
        assert!(sent(&mut core).is_empty());
        core.set_accepting(true, t0);
        assert_eq!(core.poll_timeout(), Some(t0), "at once");
        core.handle_timeout(t0, wall);
        let out = sent(&mut core);
        assert_eq!(out.len(), 1);
        assert!(out[0].1.contains("\r\nExpires: 60\r\n"), "{}", out[0].1);
        core.handle_datagram(t0, wall, &ok_to(&out[0].1), registrar);
        assert_eq!(core.gateway_registered(), Some(true));

        // Off: the Expires 0 goes out at the next turn.
        let t1 = t0 + Duration::from_secs(1);
        core.set_accepting(false, t1);
        assert!(core.poll_timeout().is_some_and(|t| t <= t1));
        core.handle_timeout(t1, wall);
        let out = sent(&mut core);
        assert_eq!(out.len(), 1);
        assert!(out[0].1.contains("\r\nExpires: 0\r\n"), "{}", out[0].1);
        core.handle_datagram(t1, wall, &ok_to(&out[0].1), registrar);
        assert_eq!(core.gateway_registered(), Some(false));
        let _ = std::iter::from_fn(|| core.poll_event()).count();
        // Nothing more while off: no refresh, no retry.
        core.handle_timeout(t1 + Duration::from_secs(120), wall);
        assert!(sent(&mut core).is_empty());

        // On again: a new REGISTER from the same account.
        let t2 = t1 + Duration::from_secs(121);
        core.set_accepting(true, t2);
        core.handle_timeout(t2, wall);
        let out = sent(&mut core);
        assert_eq!(out.len(), 1);
        assert!(out[0].1.contains("\r\nExpires: 60\r\n"), "{}", out[0].1);
        core.handle_datagram(t2, wall, &ok_to(&out[0].1), registrar);
        assert_eq!(core.gateway_registered(), Some(true));
        let events: Vec<_> = std::iter::from_fn(|| core.poll_event()).collect();
        assert!(
            events.iter().any(|e| matches!(e, Event::Shard(ShardEvent::Log(t)) if t.contains("registered (Expires 60 s)"))),
            "{events:?}"
        );
    }
}
