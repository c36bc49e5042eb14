//! Who may call `gossipper server`'s API, and the record of what they changed.
//!
//! Owns: the bearer checks of `/api/v1` (the `-api_token`, compared in constant time;
//! with `-ui_data_dir`, a user's JWT or ticket too), their per-address throttle, the
//! check of the server's own `/api/v2` routes (the service's users), and the audit rows
//! of v1 changes. Must not: answer a route (`api`, `v2` do) or keep users (the service
//! does).

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::service::Principal;
use crate::service::auth::{ThrottleLimits, same_secret};
use crate::service::http::{Incoming, Reply, error_body};

use super::api::{State, error};

/// The throttle's account name for the one token.
const TOKEN_KEY: &str = "-api_token";

/// Failed token checks allowed per client address (an IPv6 client: its /64) within the
/// window, the master's login rule. There is no per-account count: the token has no
/// account, and a global count would let anyone lock the operator out.
pub(super) fn throttle_limits() -> ThrottleLimits {
    ThrottleLimits {
        per_user: usize::MAX,
        ..ThrottleLimits::default()
    }
}

/// With `-ui_data_dir`, a change made over v1 is an audit row (`v1.control`,
/// `v1.scenario.put`, `v1.scenario.apply`, `v1.transports`, `v1.client.create`,
/// `v1.client.delete`), its payload the reply (the new state), as the master's own
/// changes are.
pub(super) fn audit(
    state: &State,
    who: Option<&Principal>,
    method: &str,
    route: &str,
    query: &str,
    reply: &Reply,
) {
    let Some(service) = state.service() else {
        return;
    };
    let Reply::Json { status, body } = reply else {
        return;
    };
    if !(200..300).contains(status) {
        return;
    }
    let action = match (method, route) {
        ("POST", "control") => "v1.control",
        ("PUT", "scenario") => "v1.scenario.put",
        ("POST", "scenario/apply") => "v1.scenario.apply",
        ("POST", "transports") => "v1.transports",
        ("POST", "clients") => "v1.client.create",
        ("DELETE", "clients") => "v1.client.delete",
        _ => return,
    };
    let target = if query.is_empty() {
        format!("/api/v1/{route}")
    } else {
        format!("/api/v1/{route}?{query}")
    };
    let payload = serde_json::from_slice::<Value>(body).unwrap_or(Value::Null);
    service.audit(who, action, &target, &payload);
}

/// The server's own `/api/v2` routes: with `-ui_data_dir`, a user of the service (the
/// v2 token, or a `?ticket=` on the routes a browser opens by URL); without, as v1.
pub(super) fn admit_v2(state: &State, inc: &Incoming<'_>, by_url: bool) -> Option<Reply> {
    match state.service() {
        Some(s) => s.admit(inc, by_url).err(),
        None => admit(state, inc, false, Instant::now()).err(),
    }
}

/// `Ok` when the request may go on (with the user, when a user's token let it in);
/// else its refusal: 429 while its address has failed too often (checked before the
/// token, so guesses cost nothing more), 401 (a failure counted) without the right
/// token. With `-ui_data_dir`, a user's token (or, where `by_url`, a ticket) is the
/// right token too.
pub(super) fn admit(
    state: &State,
    inc: &Incoming<'_>,
    by_url: bool,
    now: Instant,
) -> Result<Option<Principal>, Reply> {
    // Without -api_token or users every caller is let in.
    if state.token().is_none() && state.service().is_none_or(|s| !s.auth_enabled()) {
        return Ok(None);
    }
    if let Err(r) = state.throttle().check(inc.remote_ip, TOKEN_KEY, now) {
        return Err(Reply::RetryLater {
            body: error_body(
                "too many requests without the right token from this address; retry later",
            ),
            retry_after_s: ceil_secs(r.retry_after).max(1),
        });
    }
    if authorized(state, inc) {
        return Ok(None);
    }
    if let Some(s) = state.service()
        && let Ok(p) = s.admit(inc, by_url)
    {
        return Ok(Some(p));
    }
    state
        .throttle()
        .record_failure(inc.remote_ip, TOKEN_KEY, now);
    Err(error(401, "unauthorized"))
}

/// Whole seconds, rounded up (a client waiting `Retry-After` must not come back early).
fn ceil_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

/// Whether the request carries the `-api_token` (`Authorization: Bearer TOKEN`),
/// compared in constant time.
fn authorized(state: &State, inc: &Incoming<'_>) -> bool {
    let Some(want) = state.token() else {
        return false;
    };
    let given = inc.header("authorization").and_then(|h| {
        let (scheme, token) = h.split_once(' ')?;
        scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
    });
    given.is_some_and(|g| same_secret(g.as_bytes(), want.as_bytes()))
}
