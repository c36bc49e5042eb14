//! Which connection a message goes to, and what losing a connection means for calls: the
//! rules of the shard's connection table (`streams::Streams`, for TCP, TLS and
//! WebSocket), apart from its I/O.
//!
//! Owns: connection ids and what routing needs to know of each connection (its peer,
//! whether it is per call or was accepted, the flows on it), the peer and flow maps, and
//! the `-max_socket` / `-max_reconnect` counts. Must not: touch a socket, a task or a
//! clock; the tables do the I/O and tell [`Routes`] what happened. Its answers are plain
//! values ([`Route`], [`Carried`], the id of a connection to close).
//!
//! Drive: a table asks [`Routes::route`] for each message and opens the connection when
//! told to; registers what it opens by itself ([`Routes::accept`], [`Routes::adopt`]);
//! hands each ended flow to [`Routes::end_flow`] and closes what it returns; and hands each
//! connection that ended to [`Routes::close`], which says which calls it carried (or
//! [`Routes::forget`], when it never served anything).
//!
//! The rules: a server answers on the connection its peer opened (every accepted
//! connection has its own peer address). A shared client (`t1`, `l1`, `w1`, `ws1`) has one
//! connection to the remote; opening it again after it was lost is a reconnection, which
//! `-max_reconnect` limits (and `-reconnect_sleep` delays). A per-call client (`tn`, `ln`,
//! `wn`, `wsn`) opens a connection per flow (call) and closes it when the flow ends; past
//! `-max_socket` open connections, new flows take turns on the open ones.

use std::collections::HashMap;
use std::net::SocketAddr;

use super::StreamSettings;
use crate::endpoint::{Carried, StreamEvent};

/// Where one message goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Route {
    /// On connection `id`, which is open or opening.
    Existing(u64),
    /// On a new connection `id` to the destination, which the table opens now;
    /// `reconnect`: a shared connection opened again (after `-reconnect_sleep`).
    Open { id: u64, reconnect: bool },
    /// Nowhere: no connection, and none may be opened (`-max_reconnect` used up, or
    /// `-max_socket` reached with none open). The message is not sent.
    Refused,
}

/// What routing knows of one connection.
#[derive(Debug)]
struct Link {
    peer: SocketAddr,
    /// Opened for calls' flows (client side of tn, ln, wn, wsn).
    per_call: bool,
    /// A peer opened it (to a server, or to a client's listener).
    accepted: bool,
    /// We close it on purpose (its last call ended): losing it fails nothing.
    wanted_close: bool,
    /// Flows (calls) routed to it (per-call connections).
    flows: Vec<u64>,
}

impl Link {
    fn new(peer: SocketAddr, per_call: bool, accepted: bool) -> Link {
        Link {
            peer,
            per_call,
            accepted,
            wanted_close: false,
            flows: Vec::new(),
        }
    }
}

/// The settings the rules read (from `StreamSettings`).
#[derive(Clone, Copy, Debug)]
struct Policy {
    per_call: bool,
    server: bool,
    max_sockets: Option<usize>,
    max_reconnect: Option<u32>,
    reconnect_close: bool,
}

/// The routing side of one shard's connection table.
#[derive(Debug)]
pub(crate) struct Routes {
    policy: Policy,
    links: HashMap<u64, Link>,
    next_id: u64,
    by_peer: HashMap<SocketAddr, u64>,
    by_flow: HashMap<u64, u64>,
    per_call_open: usize,
    /// Reconnections of shared client connections so far.
    reconnects: u32,
    /// Peers a shared connection was ever opened to (the next open is a reconnection).
    opened_before: Vec<SocketAddr>,
    round_robin: usize,
}

impl Routes {
    pub(crate) fn new(settings: &StreamSettings) -> Routes {
        Routes {
            policy: Policy {
                per_call: settings.per_call,
                server: settings.server,
                max_sockets: settings.max_sockets,
                max_reconnect: settings.max_reconnect,
                reconnect_close: settings.reconnect_close,
            },
            links: HashMap::new(),
            next_id: 0,
            by_peer: HashMap::new(),
            by_flow: HashMap::new(),
            per_call_open: 0,
            reconnects: 0,
            opened_before: Vec::new(),
            round_robin: 0,
        }
    }

    /// Registers a connection `peer` opened to us: messages to `peer` go on it. Returns its
    /// id (ids count up from 1).
    pub(crate) fn accept(&mut self, peer: SocketAddr) -> u64 {
        let id = self.insert(Link::new(peer, false, true));
        self.by_peer.insert(peer, id);
        id
    }

    /// Registers the shared client connection opened while preparing the run: messages to
    /// `peer` go on it, and opening another one to `peer` is a reconnection.
    pub(crate) fn adopt(&mut self, peer: SocketAddr) -> u64 {
        let id = self.insert(Link::new(peer, false, false));
        self.opened_before.push(peer);
        self.by_peer.insert(peer, id);
        id
    }

    /// Where a message to `dest` of `flow` (the call number; 0: none) goes. `usable(id)`
    /// tells whether connection `id` still takes messages (it is not closing). A new
    /// connection is registered here already; the caller opens it.
    pub(crate) fn route(
        &mut self,
        dest: SocketAddr,
        flow: u64,
        usable: impl Fn(u64) -> bool,
    ) -> Route {
        let p = self.policy;
        if p.per_call && !p.server && flow != 0 {
            if let Some(id) = self.by_flow.get(&flow).copied().filter(|id| usable(*id)) {
                return Route::Existing(id);
            }
            let at_limit = p
                .max_sockets
                .is_some_and(|m| self.per_call_open >= m.max(1));
            let (id, route) = if at_limit {
                let Some(id) = self.shared_per_call(&usable) else {
                    return Route::Refused;
                };
                (id, Route::Existing(id))
            } else {
                let id = self.insert(Link::new(dest, true, false));
                (
                    id,
                    Route::Open {
                        id,
                        reconnect: false,
                    },
                )
            };
            if let Some(link) = self.links.get_mut(&id) {
                link.flows.push(flow);
            }
            self.by_flow.insert(flow, id);
            return route;
        }
        if let Some(id) = self.by_peer.get(&dest).copied().filter(|id| usable(*id)) {
            return Route::Existing(id);
        }
        // A shared connection that was open before is a reconnection (-max_reconnect).
        let again = self.opened_before.contains(&dest);
        if again {
            if !p.server && !self.may_reconnect() {
                return Route::Refused;
            }
            self.reconnects += 1;
        } else {
            self.opened_before.push(dest);
        }
        let id = self.insert(Link::new(dest, false, false));
        self.by_peer.insert(dest, id);
        Route::Open {
            id,
            reconnect: again && !p.server,
        }
    }

    /// A call's flow ended. Returns the connection to close on purpose: a per-call one
    /// whose last flow this was (losing it then fails nothing).
    #[must_use]
    pub(crate) fn end_flow(&mut self, flow: u64) -> Option<u64> {
        let id = self.by_flow.remove(&flow)?;
        let link = self.links.get_mut(&id)?;
        link.flows.retain(|f| *f != flow);
        if link.flows.is_empty() && link.per_call {
            link.wanted_close = true;
            return Some(id);
        }
        None
    }

    /// Connection `id` ended; `opened`: it got through its handshakes. Returns the calls
    /// that still needed it and so fail (SIPp's `close_calls`), if any.
    #[must_use]
    pub(crate) fn close(&mut self, id: u64, opened: bool) -> Option<Carried> {
        let link = self.remove(id)?;
        if link.wanted_close {
            return None;
        }
        let p = self.policy;
        // A server's connection, or one a peer opened to a client: the calls with that
        // peer.
        if p.server || link.accepted {
            // A handshake that failed carried no call.
            return opened.then_some(Carried::Peer);
        }
        if link.per_call {
            return (!link.flows.is_empty()).then_some(Carried::Flows(link.flows));
        }
        // Without -reconnect_close the calls wait for the next send to reconnect; when
        // that cannot happen (a reconnection failed, or none is left) they fail now
        // instead of waiting for their timeouts.
        (p.reconnect_close || !opened || !self.may_reconnect()).then_some(Carried::All)
    }

    /// Connection `id` is gone without having served anything (it could not be set up).
    pub(crate) fn forget(&mut self, id: u64) {
        self.remove(id);
    }

    fn insert(&mut self, link: Link) -> u64 {
        self.next_id += 1;
        let id = self.next_id;
        if link.per_call {
            self.per_call_open += 1;
        }
        self.links.insert(id, link);
        id
    }

    /// Takes connection `id` out of every map.
    fn remove(&mut self, id: u64) -> Option<Link> {
        let link = self.links.remove(&id)?;
        if self.by_peer.get(&link.peer) == Some(&id) {
            self.by_peer.remove(&link.peer);
        }
        for f in &link.flows {
            if self.by_flow.get(f) == Some(&id) {
                self.by_flow.remove(f);
            }
        }
        if link.per_call {
            self.per_call_open = self.per_call_open.saturating_sub(1);
        }
        Some(link)
    }

    /// True while -max_reconnect allows another reconnection.
    fn may_reconnect(&self) -> bool {
        self.policy
            .max_reconnect
            .is_none_or(|m| self.reconnects < m)
    }

    /// `-max_socket` reached: the next usable per-call connection, in turn (by id).
    fn shared_per_call(&mut self, usable: &impl Fn(u64) -> bool) -> Option<u64> {
        let mut open: Vec<u64> = self
            .links
            .iter()
            .filter(|(id, l)| l.per_call && usable(**id))
            .map(|(id, _)| *id)
            .collect();
        if open.is_empty() {
            return None;
        }
        open.sort_unstable();
        let pick = open.get(self.round_robin % open.len()).copied();
        self.round_robin = self.round_robin.wrapping_add(1);
        pick
    }
}

/// The flows of one `send` whose messages found no connection: those calls cannot go on,
/// and fail as if their connection never opened.
#[derive(Debug, Default)]
pub(crate) struct Unroutable {
    flows: Vec<u64>,
    peer: Option<SocketAddr>,
}

impl Unroutable {
    /// A message to `dest` of `flow` was refused ([`Route::Refused`]).
    pub(crate) fn add(&mut self, dest: SocketAddr, flow: u64) {
        if flow != 0 && !self.flows.contains(&flow) {
            self.flows.push(flow);
        }
        self.peer = Some(dest);
    }

    /// The event that fails those calls, if any message had a flow.
    #[must_use]
    pub(crate) fn into_lost(self) -> Option<StreamEvent> {
        let peer = self.peer?;
        if self.flows.is_empty() {
            return None;
        }
        Some(StreamEvent::Lost {
            peer,
            carried: Carried::Flows(self.flows),
            opened: false,
        })
    }
}

#[cfg(test)]
mod tests;
