//! DTLS-SRTP of classic calls (`-media_srtp` with `a=fingerprint` and no `a=crypto`,
//! RFC 5763/5764, no ICE): the handshake runs on the shard's media port, toward the
//! peer's SDP audio address; its exported keys become the call's SRTP contexts.
//!
//! Owns: the shard's DTLS certificate (made on first use, shared by every call), the
//! calls whose handshake is starting or running, and the calls whose set-up failed
//! (the endpoint fails them, class `srtp`). Must not: read a clock or touch a socket.
//! Datagrams are told apart by their first byte (RFC 7983): DTLS goes to the call's
//! handshake, found by its source address (the SDP's, or latched). Until the keys are
//! there, the call's RTP is dropped both ways (counted in `srtp_dropped`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use gossipper_media::dtls_srtp::{Demux, DtlsIdentity, DtlsSrtp, DtlsSrtpEvent, demux};

use super::MediaEngine;

/// DTLS records kept for calls whose handshake has not started yet.
const MAX_EARLY_DTLS: usize = 16;

/// How long a DTLS-SRTP handshake may take.
pub(super) const DTLS_SETUP_TIMEOUT: Duration = Duration::from_secs(10);

impl MediaEngine {
    /// The shard's DTLS certificate, made on first use; `None` if that failed.
    fn dtls_identity(&mut self) -> Option<Arc<DtlsIdentity>> {
        if self.dtls_id.is_none() {
            match DtlsIdentity::generate() {
                Ok(id) => self.dtls_id = Some(Arc::new(id)),
                Err(e) => self.warnings.push_back(format!("DTLS-SRTP: {e}")),
            }
        }
        self.dtls_id.clone()
    }

    /// Writes `[srtp_fingerprint]` (our certificate's `sha-256 …`) or `[srtp_setup]` (our
    /// role) for call `call` into `out`; nothing without `-media_srtp`.
    pub fn write_dtls_keyword(
        &mut self,
        call: u64,
        call_id: &[u8],
        fingerprint: bool,
        out: &mut Vec<u8>,
    ) {
        if self.cfg.srtp != super::SrtpPolicy::Sdes {
            return;
        }
        if fingerprint {
            if let Some(id) = self.dtls_identity() {
                out.extend_from_slice(id.fingerprint().to_string().as_bytes());
            }
            return;
        }
        let s = self.session(call, call_id);
        let k = s.srtp.get_or_insert_with(Default::default);
        out.extend_from_slice(k.our_setup().as_str().as_bytes());
    }

    /// A call whose SDP negotiated DTLS-SRTP: its handshake starts at the next turn.
    pub(super) fn note_dtls_call(&mut self, call: u64, call_id: &[u8]) {
        if let Some(k) = self
            .sessions
            .get_mut(&call)
            .and_then(|s| s.srtp.as_deref_mut())
            && k.dtls_start.is_some()
        {
            if k.call_id.is_empty() {
                k.call_id = call_id.into();
            }
            if !self.dtls_calls.contains(&call) {
                self.dtls_calls.push(call);
            }
        }
    }

    /// Starts, times and drains the handshakes in progress (from `handle_timeout`).
    pub(super) fn drive_dtls(&mut self, now: Instant) {
        let id = if self.dtls_calls.is_empty() {
            None
        } else {
            self.dtls_identity()
        };
        let mut i = 0;
        while let Some(&call) = self.dtls_calls.get(i) {
            let done = self.drive_one(now, call, id.as_deref());
            if done {
                self.dtls_calls.swap_remove(i);
            } else {
                i += 1;
            }
        }
    }

    /// One call's handshake: start, time, send, events. `true` when it needs no more
    /// turns (connected, failed, or the call is gone).
    fn drive_one(&mut self, now: Instant, call: u64, id: Option<&DtlsIdentity>) -> bool {
        let Some(s) = self.sessions.get_mut(&call) else {
            return true;
        };
        let dest = s.remote.audio;
        let Some(k) = s.srtp.as_deref_mut() else {
            return true;
        };
        if let Some((fp, active)) = k.dtls_start.take() {
            let Some(id) = id else {
                self.failed_calls
                    .push_back((k.call_id.clone(), "DTLS-SRTP: no certificate".into()));
                return true;
            };
            let mut d = Box::new(DtlsSrtp::new(now, id, active, fp, DTLS_SETUP_TIMEOUT));
            // A record that overtook the SDP (the peer's ClientHello) goes in now instead
            // of waiting a second for the peer to repeat it.
            if let Some(dest) = dest
                && let Some(i) = self.early_dtls.iter().position(|(src, _)| *src == dest)
                && let Some((_, early)) = self.early_dtls.remove(i)
            {
                d.handle_datagram(now, &early);
            }
            k.dtls = Some(d);
        }
        let Some(d) = k.dtls.as_deref_mut() else {
            return true;
        };
        if d.poll_timeout().is_some_and(|t| t <= now) {
            d.handle_timeout(now);
        }
        while let Some(n) = d.poll_transmit(&mut self.dtls_buf) {
            if let (Some(dest), Some(bytes)) = (dest, self.dtls_buf.get(..n)) {
                self.tx.push(dest, bytes);
            }
        }
        let mut done = false;
        let mut keys = None;
        let mut failed = None;
        while let Some(ev) = d.poll_event() {
            done = true;
            match ev {
                DtlsSrtpEvent::Connected => keys = d.take_srtp(),
                DtlsSrtpEvent::Failed(why) => failed = Some(why),
            }
        }
        if let Some((tx, rx)) = keys {
            k.set_keys(tx, rx);
        }
        if let Some(why) = failed {
            self.failed_calls
                .push_back((k.call_id.clone(), format!("DTLS-SRTP: {why}")));
        }
        done
    }

    /// The earliest handshake deadline (a handshake to start counts as now-ish).
    pub(super) fn dtls_timeout(&self) -> Option<Instant> {
        self.dtls_calls
            .iter()
            .filter_map(|c| self.sessions.get(c)?.srtp.as_deref())
            .filter_map(|k| {
                if k.dtls_start.is_some() {
                    Some(self.epoch)
                } else {
                    k.dtls.as_deref()?.poll_timeout()
                }
            })
            .min()
    }

    /// A DTLS datagram (RFC 7983) for the call at `src`: `true` when it was one (handled
    /// or counted), `false` for anything else.
    pub(super) fn dtls_datagram(
        &mut self,
        now: Instant,
        src: std::net::SocketAddr,
        bytes: &[u8],
    ) -> bool {
        if demux(bytes) != Demux::Dtls {
            return false;
        }
        let call = match self.by_source.get(&src) {
            Some(&c) => Some(c),
            None => self.latch(src),
        };
        let d = call
            .and_then(|c| self.sessions.get_mut(&c))
            .and_then(|s| s.srtp.as_deref_mut())
            .and_then(|k| k.dtls.as_deref_mut());
        let Some(d) = d else {
            // No handshake yet (the peer's ClientHello overtook its SDP): kept for when it
            // starts; the oldest kept one goes when more than a few wait.
            if self.early_dtls.len() >= MAX_EARLY_DTLS {
                self.early_dtls.pop_front();
                self.stats.rtp_unexpected_source += 1;
            }
            self.early_dtls.push_back((src, bytes.to_vec()));
            return true;
        };
        d.handle_datagram(now, bytes);
        if let Some(c) = call
            && !self.dtls_calls.contains(&c)
        {
            // Connected already: answers to a repeated last flight still go out.
            while let Some(n) = d.poll_transmit(&mut self.dtls_buf) {
                if let Some(b) = self.dtls_buf.get(..n) {
                    self.tx.push(src, b);
                }
            }
        }
        true
    }

    /// A call whose SRTP set-up failed (its Call-ID and why): the endpoint fails it.
    #[must_use]
    pub fn poll_failed_call(&mut self) -> Option<(Box<[u8]>, String)> {
        self.failed_calls.pop_front()
    }
}
