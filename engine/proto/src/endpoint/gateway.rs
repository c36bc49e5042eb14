//! The REGISTER gateway's account on the shard that owns its Call-ID: the endpoint feeds
//! it the responses carrying that Call-ID, fires its timers, sends what it queues from
//! the shard's (UAS) socket, turns its reports into run events, and on stop sends the
//! `Expires: 0` before the shard may finish.
//!
//! Owns: nothing but the glue; the protocol is `crate::register`. Must not: touch
//! sockets or the clock.

use std::time::Instant;

use super::Endpoint;
use crate::call::ShardEvent;
use crate::register::{RegisterEvent, Registration};
use crate::sip::SipMessage;

/// The account and whether its `Expires: 0` went out.
pub(super) struct Gateway {
    reg: Registration,
    started: bool,
    leaving: bool,
    buf: Vec<u8>,
}

impl Endpoint {
    /// Gives this shard the gateway's account (the runner picks the shard that owns its
    /// Call-ID, so the registrar's answers arrive here). It registers at the next
    /// `handle_timeout`.
    pub fn set_registration(&mut self, reg: Registration) {
        self.gateway = Some(Box::new(Gateway {
            reg,
            started: false,
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

    /// Starts the account, fires its timers and, once the run stops, removes the binding.
    pub(super) fn gateway_timeout(&mut self, now: Instant) {
        let stopping = self.stopping;
        let Some(g) = self.gateway.as_mut() else {
            return;
        };
        if !g.started && !stopping {
            g.started = true;
            g.reg.start(now);
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
        if self.stopping && !g.leaving {
            // The Expires 0 goes out at the next turn.
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
