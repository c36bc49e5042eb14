//! `/api/v1/transports` of `gossipper server` (reference §5.13): the primary engine's SIP
//! listener turned on and off, and dynamic clients accepting work or not.
//!
//! Owns: the route's body shapes and their checks. Must not: touch sockets or shards: a
//! change is one atomic store in the engine's control block (`Control::set_accepting`),
//! which every shard reads once per loop turn.
//!
//! A listener turned off keeps its socket (calls in flight go on, and the port stays
//! ours) but takes no new call: the first request of a new call is dropped and counted
//! as an out-of-call message, so the caller sees no answer, as from a closed port. A
//! client that does not accept places no new call (as if paused; its pause wish is kept
//! apart). The primary engine's listener is index 0; `-config`'s extra listeners
//! follow (1, 2, …).

use std::io::Read as _;

use serde::{Deserialize, Serialize};

use gossipper_engine::scenario::Role;
use gossipper_engine::shard::Control;

use super::api::{error, json};
use super::clients::Clients;
use super::listeners::Listener;
use crate::service::http::{Incoming, Reply};

/// The largest body read.
const MAX_BODY: u64 = 64 << 10;

/// What the routes need from the server.
pub(super) struct Server<'a> {
    pub(super) role: Role,
    pub(super) transport: &'a str,
    pub(super) local_port: u16,
    pub(super) control: &'a Control,
    pub(super) clients: &'a Clients,
    /// The extra listeners (index 1, 2, …).
    pub(super) listeners: &'a [Listener],
}

#[derive(Serialize)]
struct ListenerState {
    index: usize,
    enabled: bool,
    transport: String,
    port: u16,
}

#[derive(Serialize)]
struct ClientState {
    id: String,
    accepting: bool,
}

/// `GET /api/v1/transports`.
#[derive(Serialize)]
struct State {
    listeners: Vec<ListenerState>,
    clients: Vec<ClientState>,
}

/// `POST /api/v1/transports`: `{listeners:[{index,enabled}]}`, or the shorthand
/// `{index,enabled}`, and/or `clients:[{id,accepting}]`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Patch {
    listeners: Option<Vec<ListenerPatch>>,
    index: Option<usize>,
    enabled: Option<bool>,
    clients: Option<Vec<ClientPatch>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListenerPatch {
    index: usize,
    enabled: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClientPatch {
    id: String,
    accepting: bool,
}

/// `GET /api/v1/transports`. A server whose engine places calls has no listener.
pub(super) fn get(s: &Server<'_>) -> Reply {
    let listeners = if s.role == Role::Server {
        let mut rows = vec![ListenerState {
            index: 0,
            enabled: s.control.accepting(),
            transport: s.transport.to_ascii_lowercase(),
            port: s.local_port,
        }];
        rows.extend(s.listeners.iter().enumerate().map(|(i, l)| ListenerState {
            index: i + 1,
            enabled: l.control.accepting(),
            transport: l.transport.clone(),
            port: l.port,
        }));
        rows
    } else {
        Vec::new()
    };
    let clients = s
        .clients
        .controls()
        .into_iter()
        .map(|(id, c)| ClientState {
            id,
            accepting: c.accepting(),
        })
        .collect();
    json(200, &State { listeners, clients })
}

/// `POST /api/v1/transports`: the whole body is checked, then applied; the reply is the
/// new state (as `GET`).
pub(super) fn post(s: &Server<'_>, inc: &mut Incoming<'_>) -> Reply {
    let big = || error(413, "the body is larger than 64 KiB");
    if inc.content_length.is_some_and(|n| n > MAX_BODY) {
        return big();
    }
    let mut body = Vec::new();
    if let Err(e) = inc.body.reader().take(MAX_BODY + 1).read_to_end(&mut body) {
        return error(400, &format!("body: {e}"));
    }
    if body.len() as u64 > MAX_BODY {
        return big();
    }
    let patch: Patch = match serde_json::from_slice(&body) {
        Ok(p) => p,
        Err(e) => return error(400, &format!("invalid JSON body: {e}")),
    };
    let (listener, clients) = match check(s, patch) {
        Ok(c) => c,
        Err((status, m)) => return error(status, &m),
    };
    for (index, enabled) in listener {
        match index.checked_sub(1) {
            None => s.control.set_accepting(enabled),
            Some(i) => {
                if let Some(l) = s.listeners.get(i) {
                    l.control.set_accepting(enabled);
                }
            }
        }
    }
    for (c, accepting) in clients {
        c.set_accepting(accepting);
    }
    get(s)
}

type Checked = (Vec<(usize, bool)>, Vec<(std::sync::Arc<Control>, bool)>);

/// The changes a body asks for: each listener's wish (in order: the last given for an
/// index wins) and each client's, every index and id known.
fn check(s: &Server<'_>, p: Patch) -> Result<Checked, (u16, String)> {
    let bad = |m: String| (400, m);
    let mut wishes = p.listeners.unwrap_or_default();
    match (p.index, p.enabled) {
        (Some(index), Some(enabled)) => wishes.push(ListenerPatch { index, enabled }),
        (None, None) => {}
        _ => {
            return Err(bad("the shorthand needs both index and enabled".into()));
        }
    }
    let client_wishes = p.clients.unwrap_or_default();
    if wishes.is_empty() && client_wishes.is_empty() {
        return Err(bad(
            "nothing to change: give listeners[{index,enabled}], {index,enabled} or clients[{id,accepting}]".into(),
        ));
    }
    let mut listener = Vec::new();
    for w in &wishes {
        if w.index > s.listeners.len() {
            return Err(bad(format!(
                "no listener {}: this server's are 0 to {}",
                w.index,
                s.listeners.len()
            )));
        }
        if s.role == Role::Client {
            return Err((
                409,
                "engine \"primary\" places calls: it has no listener to turn off (pause it with /api/v1/control)".into(),
            ));
        }
        listener.push((w.index, w.enabled));
    }
    let mut clients = Vec::new();
    for w in client_wishes {
        let Some(c) = s.clients.control(&w.id) else {
            return Err(bad(format!(
                "no dynamic client \"{}\" (GET /api/v1/clients)",
                w.id
            )));
        };
        clients.push((c, w.accepting));
    }
    Ok((listener, clients))
}
