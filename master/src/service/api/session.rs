//! The caller's session: `POST /auth/login`, `POST /auth/ticket`, `GET /me`,
//! `POST /me/password`.
//!
//! Login runs exactly one argon2 verification whether or not the user exists, and is
//! refused with 429 + `Retry-After` before any check while the throttle (auth::throttle:
//! failures per address and per account) says so. A password change moves the user's
//! token version on, which ends every earlier token and ticket; the caller gets a fresh
//! token in the reply. Must not: log or echo a password.

use std::time::{Instant, SystemTime};

use serde::{Deserialize, Serialize};

use super::{ApiError, Call, Ctx, Reply, actor};
use crate::service::auth::{self, Grant, TICKET_TTL, Via};
use crate::service::store::{audit, users};
use crate::service::timefmt;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginRequest {
    username: String,
    password: String,
}

#[derive(Serialize)]
struct LoginReply {
    token: String,
    expires_at: u64,
    token_type: &'static str,
    username: String,
    role: users::Role,
}

pub(super) fn login(ctx: &Ctx, call: &mut Call<'_, '_>) -> Result<Reply, ApiError> {
    if !ctx.config.auth_enabled {
        return Err(ApiError::NotFound("authentication is off".into()));
    }
    let req: LoginRequest = call.json()?;
    let ip = call.remote_ip();
    if let Err(refused) = ctx.throttle.check(ip, &req.username, Instant::now()) {
        // Whole seconds, rounded up, so a client waiting that long is let in.
        let secs =
            refused.retry_after.as_secs() + u64::from(refused.retry_after.subsec_nanos() > 0);
        return Err(ApiError::TooMany {
            message: format!(
                "too many failed logins for this account or from this address; try again in {secs} s"
            ),
            retry_after_s: Some(secs),
        });
    }
    let found = ctx.store.db.read(|c| users::by_name(c, &req.username))?;
    // Always one verification, so an unknown name takes as long as a wrong password.
    let hash = found
        .as_ref()
        .map_or(ctx.dummy_hash.as_str(), |u| u.password_hash.as_str());
    let ok = auth::verify_password(hash, &req.password) && found.is_some();
    let Some(found) = found.filter(|_| ok) else {
        ctx.throttle
            .record_failure(ip, &req.username, Instant::now());
        return Err(ApiError::BadCredentials);
    };
    ctx.throttle.record_success(ip, &req.username);
    let user = found.user;
    let (token, expires_at) = ctx
        .tokens
        .issue(user.id, &user.username, found.token_version)?;
    Reply::ok(&LoginReply {
        token,
        expires_at,
        token_type: "Bearer",
        username: user.username,
        role: user.role,
    })
}

#[derive(Serialize)]
struct TicketReply {
    ticket: String,
    expires_at: u64,
}

/// A single-use ticket for `?ticket=` (WebSocket upgrades, download links), bound to the
/// caller's user id and token version. Only a token mints one: the route takes no
/// ticket, and a ticket principal is refused here too.
pub(super) fn ticket(ctx: &Ctx, call: &mut Call<'_, '_>) -> Result<Reply, ApiError> {
    let who = call.who()?;
    if who.via == Via::Ticket {
        return Err(ApiError::TicketNotHere);
    }
    let grant = Grant {
        user_id: who.user_id,
        token_version: who.token_version,
        expires_at: who.expires_at,
        via: who.via,
    };
    let ticket = ctx.tickets.issue(grant, Instant::now())?;
    let expires_at = timefmt::unix_secs(SystemTime::now()) + TICKET_TTL.as_secs();
    Reply::ok(&TicketReply { ticket, expires_at })
}

#[derive(Serialize)]
struct MeReply<'a> {
    auth: &'static str,
    username: &'a str,
    user_id: i64,
    expires_at: u64,
    role: users::Role,
}

pub(super) fn me(ctx: &Ctx, call: &mut Call<'_, '_>) -> Result<Reply, ApiError> {
    let who = call.who()?;
    let auth = if ctx.config.auth_enabled {
        "internal"
    } else {
        "none"
    };
    Reply::ok(&MeReply {
        auth,
        username: &who.username,
        user_id: who.user_id,
        expires_at: who.expires_at,
        role: who.role,
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PasswordRequest {
    current_password: String,
    new_password: String,
}

#[derive(Serialize)]
struct PasswordChanged {
    status: &'static str,
    /// A fresh token: the change revoked every earlier one, the caller's included.
    token: String,
    expires_at: u64,
    token_type: &'static str,
}

pub(super) fn change_password(ctx: &Ctx, call: &mut Call<'_, '_>) -> Result<Reply, ApiError> {
    let req: PasswordRequest = call.json()?;
    let who = call.who()?.clone();
    check_password(&req.new_password, "new_password")?;
    let current = ctx
        .store
        .db
        .read(|c| users::by_id(c, who.user_id))?
        .ok_or_else(|| {
            ApiError::BadRequest("no stored user for this session (auth is off?)".into())
        })?;
    if !auth::verify_password(&current.password_hash, &req.current_password) {
        return Err(ApiError::field("current_password", "does not match"));
    }
    let hash = auth::hash_password(&req.new_password)?;
    let now = timefmt::rfc3339(SystemTime::now());
    let account = ctx.store.db.tx(|c| {
        users::update(c, who.user_id, Some(&hash), None, &now)?;
        audit::append(
            c,
            &now,
            actor(&who),
            "user.password_change",
            &who.username,
            &serde_json::json!({}),
        )?;
        users::account(c, who.user_id)
    })?;
    let account = account.ok_or(ApiError::Revoked)?;
    let (token, expires_at) =
        ctx.tokens
            .issue(who.user_id, &account.username, account.token_version)?;
    Reply::ok(&PasswordChanged {
        status: "ok",
        token,
        expires_at,
        token_type: "Bearer",
    })
}

/// Password policy (`auth::password_problem`), as a field error.
pub(super) fn check_password(password: &str, field: &str) -> Result<(), ApiError> {
    match crate::service::auth::password_problem(password) {
        Some(problem) => Err(ApiError::field(field, problem)),
        None => Ok(()),
    }
}
