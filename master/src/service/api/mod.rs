//! `/api/v2` and the root paths: routing, authentication of each call, and the [`Call`]
//! that handlers see (the request and reply types are the HTTP layer's, `http::message`).
//!
//! Owns: turning an [`Incoming`] request into a [`Reply`]. The route table (`routes`)
//! says, for every method and path, who may call it, whether a `?ticket=` may stand in
//! for the token, and how large its body may be; [`dispatch`] enforces all three (the
//! caller checked against their stored user row on every request) before a handler
//! runs, so handlers stay thin:
//! parse → store → typed reply. One module per resource. Must not: touch sockets
//! (`http` does) or SQL (`store` does).

mod audit;
mod builtin;
mod error;
mod events;
mod gateways;
mod health;
mod job_request;
mod jobs;
mod live;
mod loadtest;
mod media;
mod metrics;
mod openapi;
mod profiles;
mod reports;
mod routes;
mod scenario_import;
mod scenarios;
mod session;
mod settings;
mod tools;
mod users;
mod worker_lines;

use std::io::Read;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};

use serde::de::DeserializeOwned;

pub(crate) use super::http::{Incoming, Reply};
pub(crate) use error::ApiError;

use super::auth::{self, Grant, Principal, Throttle, Tickets, Tokens, Via};
use super::console;
use super::store::Store;
use super::store::audit::Actor;
use super::store::users::Role;
use super::supervisor::Supervisor;

/// Fixed runtime facts, shown by `/health` and `/settings`.
pub(crate) struct Config {
    pub(crate) data_dir: PathBuf,
    pub(crate) scenario_history_keep: usize,
    pub(crate) auth_enabled: bool,
    pub(crate) started_at: SystemTime,
    /// The scrape token of `--metrics-token-file`: opens `/metrics` only.
    pub(crate) metrics_token: Option<String>,
    /// `gossipper ui`, or `gossipper server -ui_data_dir` (and whether its v1 is on).
    pub(crate) mode: super::Mode,
}

/// Everything a handler may use. Shared by the request threads.
pub(crate) struct Ctx {
    pub(crate) store: Store,
    pub(crate) tokens: Tokens,
    pub(crate) tickets: Tickets,
    pub(crate) throttle: Throttle,
    /// Verified against when a login names an unknown user (equal timing).
    pub(crate) dummy_hash: String,
    pub(crate) config: Config,
    /// `(computed at, bytes)`: the data dir walk is cached for a few seconds.
    pub(crate) disk_usage: Mutex<Option<(Instant, u64)>>,
    /// Jobs: worker processes, their lines and their final state.
    pub(crate) supervisor: Arc<Supervisor>,
}

impl Ctx {
    /// Appends an audit row in its own transaction (for changes made to files).
    pub(crate) fn audit(
        &self,
        who: &Principal,
        action: &str,
        target: &str,
        payload: serde_json::Value,
    ) -> Result<(), ApiError> {
        let ts = super::timefmt::rfc3339(SystemTime::now());
        self.store
            .db
            .tx(|c| super::store::audit::append(c, &ts, actor(who), action, target, &payload))?;
        Ok(())
    }
}

/// The audit actor for a principal (user id 0 is the anonymous caller with auth off).
pub(crate) fn actor(who: &Principal) -> Actor<'_> {
    Actor {
        user_id: (who.user_id != 0).then_some(who.user_id),
        username: &who.username,
    }
}

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    Open,
    User,
    Admin,
}

/// Body size limits (gossipper-reference.md §5.5).
pub(crate) const SMALL_BODY: u64 = 64 << 10;
pub(crate) const JSON_BODY: u64 = 1 << 20;
pub(crate) const SCENARIO_BODY: u64 = 16 << 20;
pub(crate) const MEDIA_BODY: u64 = 256 << 20;
// The HTTP layer refuses larger bodies before any route sees them.
const _: () = assert!(MEDIA_BODY <= super::http::HARD_BODY_CAP);

/// One call being handled: path parameters, caller, body.
pub(crate) struct Call<'r, 'a> {
    params: Vec<(&'static str, String)>,
    inc: &'r mut Incoming<'a>,
    principal: Option<Principal>,
    body_limit: u64,
}

impl Call<'_, '_> {
    /// A path parameter named in the route pattern (empty if the route has none by that name).
    pub(crate) fn param(&self, name: &str) -> &str {
        self.params
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    }

    /// A query parameter, percent-decoded.
    pub(crate) fn query(&self, name: &str) -> Option<String> {
        query_param(self.inc.query, name)
    }

    /// A numeric query parameter with a default and a cap; a non-number is a 400.
    pub(crate) fn query_u32(&self, name: &str, default: u32, max: u32) -> Result<u32, ApiError> {
        match self.query(name) {
            None => Ok(default),
            Some(v) => v.parse::<u32>().map(|n| n.min(max)).map_err(|_| {
                ApiError::field(name, format!("\"{v}\" is not a non-negative integer"))
            }),
        }
    }

    /// The caller. Routes other than `Open` always have one (dispatch checked).
    pub(crate) fn who(&self) -> Result<&Principal, ApiError> {
        self.principal.as_ref().ok_or(ApiError::Unauthorized)
    }

    pub(crate) fn remote_ip(&self) -> IpAddr {
        self.inc.remote_ip
    }

    /// A request header (name in lower case).
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.inc.header(name)
    }

    /// For a WebSocket upgrade request, the `Sec-WebSocket-Accept` value; `None` for a
    /// plain request. A broken handshake is a 400 (the HTTP layer checks nothing itself).
    pub(crate) fn websocket_accept(&self) -> Result<Option<String>, ApiError> {
        self.inc
            .websocket_accept()
            .map_err(|e| ApiError::BadRequest(e.into()))
    }

    pub(crate) fn body_limit(&self) -> u64 {
        self.body_limit
    }

    /// Refuses a body whose declared length is over the route's limit, before reading it.
    pub(crate) fn check_declared_length(&self) -> Result<(), ApiError> {
        match self.inc.content_length {
            Some(n) if n > self.body_limit => Err(ApiError::TooLarge(self.body_limit)),
            _ => Ok(()),
        }
    }

    /// The body length the client declared (`Content-Length`), if any.
    pub(crate) fn declared_length(&self) -> Option<u64> {
        self.inc.content_length
    }

    /// The raw body reader (check the declared length first).
    pub(crate) fn body_reader(&mut self) -> &mut dyn Read {
        self.inc.body.reader()
    }

    /// Reads the whole body, at most the route's limit.
    pub(crate) fn body_bytes(&mut self) -> Result<Vec<u8>, ApiError> {
        self.check_declared_length()?;
        let limit = self.body_limit;
        let mut buf = Vec::new();
        self.inc
            .body
            .reader()
            .take(limit + 1)
            .read_to_end(&mut buf)
            .map_err(|e| ApiError::BadRequest(format!("body: {e}")))?;
        if buf.len() as u64 > limit {
            return Err(ApiError::TooLarge(limit));
        }
        Ok(buf)
    }

    /// Reads and decodes a JSON body (unknown fields are refused by the target types).
    pub(crate) fn json<T: DeserializeOwned>(&mut self) -> Result<T, ApiError> {
        let bytes = self.body_bytes()?;
        serde_json::from_slice(&bytes)
            .map_err(|e| ApiError::BadRequest(format!("invalid JSON body: {e}")))
    }
}

/// Percent-decodes one query parameter (`+` is a space).
pub(crate) fn query_param(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (k == name).then(|| percent_decode(v))
    })
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        let hex = |j: usize| b.get(j).and_then(|c| (*c as char).to_digit(16));
        match c {
            b'%' => match (hex(i + 1), hex(i + 2)) {
                (Some(h), Some(l)) => {
                    // Two hex digits make at most 0xff.
                    out.push((h * 16 + l) as u8);
                    i += 3;
                    continue;
                }
                _ => out.push(c),
            },
            b'+' => out.push(b' '),
            _ => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Handles one request: root paths, then `/api/v2`, then the console.
pub(crate) fn dispatch(ctx: &Ctx, inc: &mut Incoming<'_>) -> Reply {
    if inc.path == "/healthz" {
        return Reply::Text {
            status: 200,
            body: "ok",
        };
    }
    // Where Prometheus looks by default: the same route as /api/v2/metrics.
    if inc.path == "/metrics" {
        return match api(ctx, inc, "/metrics") {
            Ok(reply) => reply,
            Err(e) => e.reply(),
        };
    }
    if let Some(rest) = inc.path.strip_prefix("/api/v2")
        && (rest.is_empty() || rest.starts_with('/'))
    {
        let rest = rest.to_string();
        return match api(ctx, inc, &rest) {
            Ok(reply) => reply,
            Err(e) => e.reply(),
        };
    }
    if let Some(reply) = console::serve(inc) {
        return reply;
    }
    ApiError::NotFound(format!("no such page: {}", inc.path)).reply()
}

/// Answers one request as the `/api/v2` route `path`, whatever path it came on.
pub(crate) fn dispatch_as(ctx: &Ctx, inc: &mut Incoming<'_>, path: &str) -> Reply {
    match api(ctx, inc, path) {
        Ok(reply) => reply,
        Err(e) => e.reply(),
    }
}

/// Authenticates a request to a user route served outside the route table
/// (`gossipper server`'s own `/api/v2` routes and `/api/v1`): the caller, or the
/// refusal.
pub(crate) fn admit_user(ctx: &Ctx, inc: &Incoming<'_>, ticket: bool) -> Result<Principal, Reply> {
    let gate = Gate {
        access: Access::User,
        ticket,
        scrape: false,
    };
    match authenticate(ctx, inc, gate) {
        Ok(Some(p)) => Ok(p),
        Ok(None) => Err(ApiError::Unauthorized.reply()),
        Err(e) => Err(e.reply()),
    }
}

fn api(ctx: &Ctx, inc: &mut Incoming<'_>, path: &str) -> Result<Reply, ApiError> {
    let (route, params) = routes::find(inc.method, path)?;
    if inc
        .header("upgrade")
        .is_some_and(|u| u.eq_ignore_ascii_case("websocket"))
        && !same_origin(inc)
    {
        return Err(ApiError::Forbidden("cross-origin WebSocket refused"));
    }
    let gate = Gate {
        access: route.access,
        ticket: route.ticket,
        scrape: route.scrape,
    };
    let principal = authenticate(ctx, inc, gate)?;
    let mut call = Call {
        params,
        inc,
        principal,
        body_limit: route.body_limit,
    };
    (route.handler)(ctx, &mut call)
}

/// WebSocket upgrades must come from our own page: no `Origin`, or one naming our host.
pub(crate) fn same_origin(inc: &Incoming<'_>) -> bool {
    let Some(origin) = inc.header("origin") else {
        return true;
    };
    let Some(host) = inc.header("host") else {
        return false;
    };
    let origin_host = origin.split_once("://").map(|(_, h)| h).unwrap_or("");
    origin_host.eq_ignore_ascii_case(host)
}

/// Finds the caller: `Authorization: Bearer <jwt>`, or `?ticket=` (single use) on the
/// routes that take one, checked against the user's stored row (existence, token
/// version, current role) and then against the route's access. With auth off everyone is
/// the anonymous admin. Open routes are not authenticated at all. On a route the scrape
/// token opens, a bearer equal to it (compared in constant time) passes with no
/// principal (the handler needs none).
///
/// Cost per authenticated request: one HMAC check and one primary-key read of the
/// `users` row on a read-only WAL connection.
/// What a route asks of its caller (the fields of [`routes::Route`] that
/// [`authenticate`] reads).
#[derive(Clone, Copy)]
struct Gate {
    access: Access,
    ticket: bool,
    scrape: bool,
}

fn authenticate(ctx: &Ctx, inc: &Incoming<'_>, route: Gate) -> Result<Option<Principal>, ApiError> {
    if !ctx.config.auth_enabled {
        return Ok(Some(Principal {
            user_id: 0,
            username: "anonymous".into(),
            role: Role::Admin,
            token_version: 0,
            expires_at: 0,
            via: Via::Anonymous,
        }));
    }
    if route.access == Access::Open {
        return Ok(None);
    }
    let bearer = inc.header("authorization").and_then(|h| {
        let (scheme, token) = h.split_once(' ')?;
        scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
    });
    if route.scrape
        && let (Some(given), Some(want)) = (bearer, ctx.config.metrics_token.as_deref())
        && auth::same_secret(given.as_bytes(), want.as_bytes())
    {
        return Ok(None);
    }
    let grant: Grant = match (bearer, query_param(inc.query, "ticket")) {
        (Some(token), _) => ctx.tokens.verify(token).ok_or(ApiError::Unauthorized)?,
        (None, Some(ticket)) => {
            // Redeemed (so burnt) even on a route it does not open: a ticket seen in the
            // wrong place has leaked.
            let grant = ctx.tickets.redeem(&ticket, Instant::now());
            if !route.ticket {
                return Err(ApiError::TicketNotHere);
            }
            grant.ok_or(ApiError::Unauthorized)?
        }
        (None, None) => return Err(ApiError::Unauthorized),
    };
    let account = ctx
        .store
        .db
        .read(|c| super::store::users::account(c, grant.user_id))?;
    let principal = auth::admit(grant, account).map_err(|_| ApiError::Revoked)?;
    if route.access == Access::Admin && principal.role != Role::Admin {
        return Err(ApiError::Forbidden("admin role required"));
    }
    Ok(Some(principal))
}

#[cfg(test)]
mod tests;
