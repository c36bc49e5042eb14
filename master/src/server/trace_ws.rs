//! `GET /api/v2/sip/trace/ws` (reference §5.6): the live SIP trace over a WebSocket. The
//! first frame holds the backlog after `since`; later frames come when new records
//! arrive, when the ring is cleared (`cleared:true`) or when the capture settings change.
//! Each frame is `{messages:[Record], next, capture}` (what `GET /sip/trace` answers).
//!
//! Owns: the subscriber loop, on the connection's own thread: it looks at the ring every
//! [`POLL`] (one short lock), sends at most 500 records per frame, and a ping after
//! [`IDLE_PING`] without a frame, so a client that went away ends the loop at the next
//! failed send. Must not: read client frames or hold the ring's lock while sending.
//! Without an upgrade the route answers 400.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use tungstenite::Message;
use tungstenite::protocol::{Role, WebSocket};

use super::api::{State, error};
use super::trace::Filter;
use super::v2;
use crate::service::http::{Incoming, Reply};

const POLL: Duration = Duration::from_millis(200);
const IDLE_PING: Duration = Duration::from_secs(10);
const PAGE: usize = 500;

pub(super) fn trace_ws(state: &Arc<State>, inc: &Incoming<'_>) -> Reply {
    // With -ui_data_dir a browser opens it with a single-use `ticket` (checked, and
    // spent, before this route runs).
    let known: &[&str] = if state.takes_tickets() {
        &["since", "call_id", "scenario", "ticket"]
    } else {
        &["since", "call_id", "scenario"]
    };
    if let Err(r) = v2::only(inc.query, known) {
        return r;
    }
    let filter = match v2::filter(inc.query) {
        Ok(f) => f,
        Err(r) => return r,
    };
    let accept = match inc.websocket_accept() {
        Ok(Some(accept)) => accept,
        Ok(None) => {
            return error(
                400,
                "/api/v2/sip/trace/ws is a WebSocket (Upgrade: websocket); GET /api/v2/sip/trace polls",
            );
        }
        Err(e) => return error(400, e),
    };
    let state = Arc::clone(state);
    Reply::WebSocket {
        accept,
        session: Box::new(move |stream| {
            let mut ws = WebSocket::from_raw_socket(stream, Role::Server, None);
            follow(&state, filter, &mut |frame| {
                let msg = match frame {
                    Some(text) => Message::text(text),
                    None => Message::Ping(Vec::new().into()),
                };
                ws.send(msg).is_ok()
            });
        }),
    }
}

/// Sends frames (`Some`) and idle pings (`None`) until `send` fails.
fn follow(state: &State, mut f: Filter, send: &mut dyn FnMut(Option<String>) -> bool) {
    let mut first = true;
    let mut clears = state.ring().clears();
    let mut capture = state.control().capturing();
    let mut last_sent = Instant::now();
    loop {
        let (messages, next, cleared) = {
            let ring = state.ring();
            let cleared = ring.clears() != clears;
            clears = ring.clears();
            let messages = ring.list(&f, PAGE);
            let next = messages.last().map_or(ring.last().max(f.since), |r| r.seq);
            (messages, next, cleared)
        };
        let now_capture = state.control().capturing();
        let changed = now_capture != capture;
        capture = now_capture;
        if first || cleared || changed || !messages.is_empty() {
            let full = messages.len() == PAGE;
            let mut frame = json!({
                "messages": messages,
                "next": next,
                "capture": v2::capture(state),
            });
            if cleared {
                frame["cleared"] = true.into();
            }
            if !send(Some(frame.to_string())) {
                return;
            }
            f.since = next;
            first = false;
            last_sent = Instant::now();
            if full {
                continue;
            }
        } else if last_sent.elapsed() >= IDLE_PING {
            if !send(None) {
                return;
            }
            last_sent = Instant::now();
        }
        std::thread::sleep(POLL);
    }
}
