//! `GET /api/v1/live`: a push-only WebSocket with the server's state every 750 ms
//! (reference §5.6): `{ts: unix ms, stats, control, transports}`, each the body the
//! matching GET route answers, so a client reads one shape either way.
//!
//! Owns: the subscriber loop, on the connection's own thread, ending when a send fails
//! (the client went away). Without an upgrade the route answers one frame as plain JSON
//! (for curl and health checks). Must not: read client frames or take a lock the shards
//! use (each frame reads what the GET routes read).

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use tungstenite::Message;
use tungstenite::protocol::{Role, WebSocket};

use super::api::{self, State};
use crate::service::http::{Incoming, Reply};

/// The Go gossipper's period.
const PERIOD: Duration = Duration::from_millis(750);

pub(super) fn live(state: &Arc<State>, inc: &Incoming<'_>) -> Reply {
    let accept = match inc.websocket_accept() {
        Ok(Some(accept)) => accept,
        Ok(None) => return api::json(200, &frame(state)),
        Err(e) => return api::error(400, e),
    };
    let state = Arc::clone(state);
    Reply::WebSocket {
        accept,
        session: Box::new(move |stream| {
            let mut ws = WebSocket::from_raw_socket(stream, Role::Server, None);
            loop {
                let text = frame(&state).to_string();
                if ws.send(Message::text(text)).is_err() {
                    return;
                }
                std::thread::sleep(PERIOD);
            }
        }),
    }
}

/// One frame: what `GET /stats`, `/control` and `/transports` answer now.
fn frame(state: &State) -> Value {
    let ts = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    json!({
        "ts": ts,
        "stats": body(api::stats(state)),
        "control": body(api::control_state(state)),
        "transports": body(super::transports::get(&state.server())),
    })
}

/// A JSON reply's body as a value (`null` for anything else, which the routes used
/// here never answer).
fn body(r: Reply) -> Value {
    match r {
        Reply::Json { body, .. } => serde_json::from_slice(&body).unwrap_or(Value::Null),
        _ => Value::Null,
    }
}
