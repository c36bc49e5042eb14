//! `GET /live`: a push-only WebSocket with job counts, the newest 200 jobs and each
//! running job's latest stats line, every `interval_ms` (250..60000, default 1000).
//!
//! Owns: the subscriber loop. Every frame is the full state, so clients need no resume
//! logic. Frames come from the supervisor's cached snapshot, so many subscribers cost
//! one database query per refresh, not one each. The loop runs on its own thread and
//! ends when a send fails (the client went away). Must not: read client frames (the
//! upgraded stream cannot be split; rust-deps.md).

use std::time::Duration;

use tungstenite::Message;
use tungstenite::protocol::{Role, WebSocket};

use super::{ApiError, Call, Ctx, Reply};

/// Snapshots older than this are rebuilt.
const SNAPSHOT_MAX_AGE: Duration = Duration::from_millis(200);

pub(super) fn live(ctx: &Ctx, call: &mut Call<'_, '_>) -> Result<Reply, ApiError> {
    let interval = call.query_u32("interval_ms", 1000, 60_000)?.max(250);
    let Some(accept) = call.websocket_accept()? else {
        // Without an upgrade: one frame as plain JSON (handy for curl and health checks).
        let frame = ctx.supervisor.live_frame(SNAPSHOT_MAX_AGE)?;
        return Ok(Reply::Json {
            status: 200,
            body: frame.as_bytes().to_vec(),
        });
    };
    let sup = std::sync::Arc::clone(&ctx.supervisor);
    Ok(Reply::WebSocket {
        accept,
        session: Box::new(move |stream| {
            let mut ws = WebSocket::from_raw_socket(stream, Role::Server, None);
            let period = Duration::from_millis(u64::from(interval));
            loop {
                let frame = match sup.live_frame(SNAPSHOT_MAX_AGE) {
                    Ok(f) => f,
                    Err(e) => {
                        eprintln!("gossipper ui: /live: {e}");
                        break;
                    }
                };
                if ws.send(Message::text(frame.as_str())).is_err() {
                    return;
                }
                std::thread::sleep(period);
            }
            let _ = ws.close(None);
            let _ = ws.flush();
        }),
    })
}
