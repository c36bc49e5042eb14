//! The REGISTER gateway's client side (spec §5.14): one account kept registered at a
//! registrar, from the UAS socket, so that the registrar's INVITEs reach the armed
//! scenario.
//!
//! Owns: one registration's state (Call-ID, CSeq, the binding's lifetime), its deadlines
//! (retransmit, refresh at 90 % of the granted Expires, retry after a failure, OPTIONS
//! keep-alives, the final `Expires: 0`) and the messages it sends. Digest answers come
//! from [`crate::call::digest`] (the `[authentication]` keyword's code), not a copy.
//! Must not: read a clock, touch a socket, or decide where inbound traffic goes (the
//! endpoint hands it the responses whose Call-ID is [`Registration::call_id`]).
//!
//! # Drive
//!
//! Commands: [`Registration::start`], [`Registration::unregister`]. Inputs:
//! [`Registration::handle_response`], [`Registration::handle_timeout`]. After each, drain
//! [`Registration::poll_transmit`] until `None`, then [`Registration::poll_event`] until
//! `None`, then ask [`Registration::poll_timeout`] when to come back.

#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::call::digest::{Answer, authorization_line};
use crate::sip::{HeaderName, SipMessage, param, split_comma_values, uri_of};

/// RFC 3261 T1 and T2: the non-INVITE retransmit interval starts at T1 and doubles up
/// to T2; Timer F (64·T1) ends the transaction.
const T1: Duration = Duration::from_millis(500);
const T2: Duration = Duration::from_secs(4);
const TIMER_F: Duration = Duration::from_secs(32);
/// The `Expires: 0` is given up sooner: it is sent while the job stops, and the
/// supervisor kills a worker 5 s after asking it to stop.
const UNREGISTER_GIVE_UP: Duration = Duration::from_secs(3);
/// The shortest wait before a refresh. §5.14's "at least every 5 s" is kept as a floor
/// that is lower than any grant a registrar gives in practice but still lets a lab's
/// short Expires (a few seconds) refresh before the binding lapses: 90 % of the grant,
/// never sooner than 1 s.
const MIN_REFRESH: Duration = Duration::from_secs(1);
/// The longest Expires a 423's Min-Expires may ask for (one day).
const MAX_EXPIRES_S: u32 = 86_400;
/// Challenges answered in a row before the credentials are called wrong (and 423s
/// followed in a row).
const MAX_CHALLENGES: u8 = 2;

/// One account to keep registered (a gateway profile, resolved).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisterSpec {
    /// The registrar (the profile's `addr`), where REGISTER and OPTIONS go.
    pub registrar: SocketAddr,
    /// The registrar's domain: Request-URI `sip:{domain}`, the AOR's host.
    pub domain: String,
    /// The AOR's user (`register_user`, else `username`).
    pub user: String,
    /// The Digest user name and password.
    pub auth_user: String,
    pub password: String,
    /// The Contact's address (`advertised_ip` and the UAS port or `contact_port`).
    pub contact: SocketAddr,
    /// The Expires asked for, seconds (`register_expires`, 300 by default).
    pub expires_s: u32,
    /// OPTIONS keep-alive period, seconds; 0: none.
    pub keepalive_s: u32,
    /// Wait after a failed attempt before the next one, seconds (15 in §5.14).
    pub retry_s: u32,
}

/// What the registration reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RegisterEvent {
    /// A 2xx granted the binding for `expires_s`.
    Registered { expires_s: u32 },
    /// An attempt failed: the final status (0 for a timeout) and why, in words.
    Failed { status: u16, reason: String },
    /// The `Expires: 0` was answered (or timed out: `confirmed` false); nothing more
    /// will be sent.
    Unregistered { confirmed: bool },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Not started.
    Idle,
    /// A REGISTER is in flight.
    Registering,
    /// Bound until the refresh.
    Registered,
    /// The last attempt failed; the next one is at `retry_at`.
    Waiting,
    /// The `Expires: 0` is in flight.
    Unregistering,
    /// Done: nothing more is sent.
    Done,
}

/// The deadlines, one slot each (STYLE.md §2).
#[derive(Clone, Copy, Debug)]
enum Timer {
    /// Retransmit the REGISTER in flight (Timer E).
    Retransmit,
    /// Give up on it (Timer F).
    Give,
    /// Refresh the binding, or retry after a failure.
    Next,
    /// Send an OPTIONS keep-alive.
    Keepalive,
}

/// The REGISTER loop of one account. See the module docs for the drive order.
pub struct Registration {
    spec: RegisterSpec,
    phase: Phase,
    call_id: String,
    from_tag: String,
    cseq: u32,
    /// The CSeq of the REGISTER in flight (responses to other ones are stale).
    in_flight: u32,
    /// Branch counter (a new branch per request, RFC 3261 §8.1.1.7).
    branch: u64,
    /// The request in flight, as sent (retransmitted as is).
    request: Vec<u8>,
    /// Its retransmit interval so far.
    interval: Duration,
    challenges: u8,
    timers: [Option<Instant>; 4],
    out: VecDeque<Vec<u8>>,
    events: VecDeque<RegisterEvent>,
    /// The Expires granted by the last 2xx.
    granted_s: u32,
    /// The Expires asked for: the spec's, raised by a 423's Min-Expires.
    ask_s: u32,
    /// 423 answers followed in this attempt.
    too_brief: u8,
}

impl Registration {
    /// A registration for `spec`; `seed` makes the Call-ID, tag and branches unique
    /// (the shard's RNG gives it).
    pub fn new(spec: RegisterSpec, seed: u64) -> Registration {
        let spec_expires = spec.expires_s;
        Registration {
            call_id: format!(
                "gw-{seed:016x}-{}@{}",
                spec.contact.port(),
                spec.contact.ip()
            ),
            from_tag: format!("{:08x}", seed.rotate_left(17) as u32),
            spec,
            phase: Phase::Idle,
            cseq: 0,
            in_flight: 0,
            branch: seed.rotate_left(29),
            request: Vec::new(),
            interval: T1,
            challenges: 0,
            timers: [None; 4],
            out: VecDeque::new(),
            events: VecDeque::new(),
            granted_s: 0,
            ask_s: spec_expires,
            too_brief: 0,
        }
    }

    /// The Call-ID every REGISTER and OPTIONS of this account carries: the endpoint
    /// routes responses with it here.
    pub fn call_id(&self) -> &str {
        &self.call_id
    }

    /// The AOR's user.
    pub fn user(&self) -> &str {
        &self.spec.user
    }

    /// Whether the binding is in place (the last REGISTER got a 2xx).
    pub fn registered(&self) -> bool {
        self.phase == Phase::Registered
    }

    /// The Expires the last 2xx granted, seconds (0 before one).
    pub fn granted_expires_s(&self) -> u32 {
        self.granted_s
    }

    /// Whether nothing more will be sent (the `Expires: 0` was answered or timed out).
    pub fn done(&self) -> bool {
        self.phase == Phase::Done
    }

    /// Sends the first REGISTER (a no-op once started).
    pub fn start(&mut self, now: Instant) {
        if self.phase == Phase::Idle {
            self.send_register(now, self.ask_s, None);
        }
    }

    /// Registers again after [`Registration::unregister`] (a listener turned back on):
    /// a new REGISTER on the same Call-ID with the next CSeq, so a late answer to the
    /// `Expires: 0` is stale. A no-op while registered or registering; from `Idle` it is
    /// [`Registration::start`].
    pub fn restart(&mut self, now: Instant) {
        if matches!(self.phase, Phase::Registered | Phase::Registering) {
            return;
        }
        self.timers = [None; 4];
        self.phase = Phase::Idle;
        self.challenges = 0;
        self.too_brief = 0;
        self.send_register(now, self.ask_s, None);
    }

    /// Removes the binding: a REGISTER with `Expires: 0` from the same Call-ID. Without
    /// a binding (never registered, or the last attempt failed) nothing is sent and
    /// `Unregistered { confirmed: false }` is reported.
    pub fn unregister(&mut self, now: Instant) {
        match self.phase {
            Phase::Unregistering | Phase::Done => {}
            Phase::Registered | Phase::Registering => {
                self.timers = [None; 4];
                self.phase = Phase::Unregistering;
                self.challenges = 0;
                self.send_register(now, 0, None);
            }
            Phase::Idle | Phase::Waiting => {
                self.timers = [None; 4];
                self.phase = Phase::Done;
                self.events
                    .push_back(RegisterEvent::Unregistered { confirmed: false });
            }
        }
    }

    /// A response whose Call-ID is [`Registration::call_id`].
    pub fn handle_response(&mut self, now: Instant, msg: &SipMessage<'_>) {
        let Some(status) = msg.status() else { return };
        let cseq = msg.cseq();
        if !cseq.method.eq_ignore_ascii_case(b"REGISTER") || cseq.number != self.in_flight {
            return; // an OPTIONS answer, or a stale REGISTER's
        }
        if status < 200 || !matches!(self.phase, Phase::Registering | Phase::Unregistering) {
            return;
        }
        self.timers[Timer::Retransmit as usize] = None;
        self.timers[Timer::Give as usize] = None;
        let unregistering = self.phase == Phase::Unregistering;
        if status == 401 || status == 407 {
            let header = if status == 401 {
                HeaderName::WwwAuthenticate
            } else {
                HeaderName::ProxyAuthenticate
            };
            if let Some(challenge) = msg.header(header)
                && self.challenges < MAX_CHALLENGES
            {
                self.challenges += 1;
                let expires = if unregistering { 0 } else { self.ask_s };
                self.send_register(now, expires, Some((status == 407, challenge)));
                return;
            }
            let reason = if self.challenges > 0 {
                format!(
                    "{status} after answering the challenge: the registrar refused user \"{}\"'s password",
                    self.spec.auth_user
                )
            } else {
                format!("{status} without a Digest challenge")
            };
            return self.fail(now, status, reason);
        }
        // 423 Interval Too Brief (RFC 3261 §10.3 step 7): ask again for its Min-Expires.
        if status == 423 && !unregistering {
            let min = msg
                .header_by_name(b"Min-Expires")
                .and_then(parse_u32)
                .filter(|m| *m > self.ask_s && *m <= MAX_EXPIRES_S);
            if let Some(min) = min
                && self.too_brief < MAX_CHALLENGES
            {
                self.too_brief += 1;
                self.ask_s = min;
                self.challenges = 0;
                self.send_register(now, min, None);
                return;
            }
        }
        if unregistering {
            self.phase = Phase::Done;
            self.events.push_back(RegisterEvent::Unregistered {
                confirmed: (200..300).contains(&status),
            });
            return;
        }
        if !(200..300).contains(&status) {
            let reason = String::from_utf8_lossy(msg.reason().unwrap_or(b"")).into_owned();
            return self.fail(now, status, format!("{status} {reason}"));
        }
        let granted = self.granted_expires(msg);
        self.granted_s = granted;
        self.phase = Phase::Registered;
        self.challenges = 0;
        // Refresh at 90 % of the grant (never sooner than MIN_REFRESH after it).
        let refresh = Duration::from_millis(u64::from(granted) * 900).max(MIN_REFRESH);
        self.timers[Timer::Next as usize] = Some(now + refresh);
        if self.spec.keepalive_s > 0 && self.timers[Timer::Keepalive as usize].is_none() {
            self.timers[Timer::Keepalive as usize] =
                Some(now + Duration::from_secs(u64::from(self.spec.keepalive_s)));
        }
        self.events
            .push_back(RegisterEvent::Registered { expires_s: granted });
    }

    /// Fires the due deadlines (harmless early or twice).
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.due(now, Timer::Give) {
            let unregistering = self.phase == Phase::Unregistering;
            self.timers[Timer::Retransmit as usize] = None;
            if unregistering {
                self.phase = Phase::Done;
                self.events
                    .push_back(RegisterEvent::Unregistered { confirmed: false });
            } else {
                self.fail(
                    now,
                    0,
                    "no answer from the registrar (Timer F, 32 s)".into(),
                );
            }
            return;
        }
        if self.due(now, Timer::Retransmit) {
            self.out.push_back(self.request.clone());
            self.interval = (self.interval * 2).min(T2);
            self.timers[Timer::Retransmit as usize] = Some(now + self.interval);
        }
        if self.due(now, Timer::Next) && matches!(self.phase, Phase::Registered | Phase::Waiting) {
            self.challenges = 0;
            self.too_brief = 0;
            self.send_register(now, self.ask_s, None);
        }
        if self.due(now, Timer::Keepalive) {
            if matches!(self.phase, Phase::Registered | Phase::Registering) {
                self.send_options();
            }
            if self.phase != Phase::Unregistering && self.phase != Phase::Done {
                self.timers[Timer::Keepalive as usize] =
                    Some(now + Duration::from_secs(u64::from(self.spec.keepalive_s)));
            }
        }
    }

    fn due(&mut self, now: Instant, t: Timer) -> bool {
        match self.timers[t as usize] {
            Some(at) if at <= now => {
                self.timers[t as usize] = None;
                true
            }
            _ => false,
        }
    }

    /// The next deadline.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.iter().flatten().min().copied()
    }

    /// The next datagram to send, written into `out`; returns where it goes.
    #[must_use]
    pub fn poll_transmit(&mut self, out: &mut Vec<u8>) -> Option<SocketAddr> {
        let bytes = self.out.pop_front()?;
        out.extend_from_slice(&bytes);
        Some(self.spec.registrar)
    }

    /// The next thing to report.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<RegisterEvent> {
        self.events.pop_front()
    }

    fn fail(&mut self, now: Instant, status: u16, reason: String) {
        self.phase = Phase::Waiting;
        self.challenges = 0;
        self.timers[Timer::Next as usize] =
            Some(now + Duration::from_secs(u64::from(self.spec.retry_s.max(1))));
        self.events
            .push_back(RegisterEvent::Failed { status, reason });
    }

    /// The Expires a 2xx grants: our Contact's `expires` parameter, else the Expires
    /// header, else what was asked (RFC 3261 §10.2.4).
    fn granted_expires(&self, msg: &SipMessage<'_>) -> u32 {
        let ours = self.contact_uri();
        let from_contact = msg
            .header_values(b"Contact")
            .chain(msg.header_values(b"m"))
            .flat_map(split_comma_values)
            .find(|c| {
                let uri = uri_of(c);
                uri.len() >= ours.len() && uri[..ours.len()].eq_ignore_ascii_case(ours.as_bytes())
            })
            .and_then(|c| param(c, b"expires"))
            .and_then(parse_u32);
        from_contact
            .or_else(|| msg.header(HeaderName::Expires).and_then(parse_u32))
            .unwrap_or(self.ask_s)
    }

    fn contact_uri(&self) -> String {
        format!("sip:{}@{}", self.spec.user, self.spec.contact)
    }

    /// Builds and queues a REGISTER (a new CSeq and branch), answering `challenge` when
    /// given, and arms its retransmit and give-up timers.
    fn send_register(&mut self, now: Instant, expires_s: u32, challenge: Option<(bool, &[u8])>) {
        if self.phase != Phase::Unregistering {
            self.phase = Phase::Registering;
        }
        self.cseq += 1;
        self.in_flight = self.cseq;
        let uri = format!("sip:{}", self.spec.domain);
        let mut m = self.head("REGISTER", &uri);
        let _ = write!(
            m,
            "Contact: <{}>\r\nExpires: {expires_s}\r\n",
            self.contact_uri()
        );
        if let Some((proxy, challenge)) = challenge {
            let mut line = Vec::new();
            let cnonce = format!("{:08x}", self.branch as u32);
            authorization_line(
                proxy,
                challenge,
                &Answer {
                    user: self.spec.auth_user.as_bytes(),
                    password: self.spec.password.as_bytes(),
                    method: b"REGISTER",
                    uri: uri.as_bytes(),
                    cnonce: &cnonce,
                },
                &mut line,
            );
            m.push_str(&String::from_utf8_lossy(&line));
            m.push_str("\r\n");
        }
        m.push_str("Content-Length: 0\r\n\r\n");
        self.request = m.into_bytes();
        self.out.push_back(self.request.clone());
        self.interval = T1;
        self.timers[Timer::Retransmit as usize] = Some(now + T1);
        let give_up = if self.phase == Phase::Unregistering {
            UNREGISTER_GIVE_UP
        } else {
            TIMER_F
        };
        self.timers[Timer::Give as usize] = Some(now + give_up);
    }

    /// An OPTIONS keep-alive to the registrar (its answer is not awaited).
    fn send_options(&mut self) {
        self.cseq += 1;
        let uri = format!("sip:{}", self.spec.domain);
        let mut m = self.head("OPTIONS", &uri);
        m.push_str("Content-Length: 0\r\n\r\n");
        self.out.push_back(m.into_bytes());
    }

    /// Request line and the headers every request shares.
    fn head(&mut self, method: &str, uri: &str) -> String {
        self.branch = self.branch.wrapping_add(1);
        let aor = format!("sip:{}@{}", self.spec.user, self.spec.domain);
        let mut m = String::with_capacity(512);
        let _ = write!(
            m,
            "{method} {uri} SIP/2.0\r\n\
             Via: SIP/2.0/UDP {contact};branch=z9hG4bK-gw{branch:x};rport\r\n\
             Max-Forwards: 70\r\n\
             From: <{aor}>;tag={tag}\r\n\
             To: <{aor}>\r\n\
             Call-ID: {call_id}\r\n\
             CSeq: {cseq} {method}\r\n\
             User-Agent: gossipper\r\n",
            contact = self.spec.contact,
            branch = self.branch,
            tag = self.from_tag,
            call_id = self.call_id,
            cseq = self.cseq,
        );
        m
    }
}

fn parse_u32(v: &[u8]) -> Option<u32> {
    std::str::from_utf8(v).ok()?.trim().parse().ok()
}
