//! The caller's session: `POST /auth/login`, `POST /auth/ticket`, `GET /me`,
//! `POST /me/password`.
//!
//! Login runs exactly one argon2 verification whether or not the user exists, and a
//! client IP with 5 failures in the last minute gets 429 before any check.

use std::time::{Instant, SystemTime};

use serde::{Deserialize, Serialize};

use super::{ApiError, Call, Ctx, Reply, actor};
use crate::ui::auth::{self, MIN_PASSWORD_LEN, TICKET_TTL};
use crate::ui::store::{audit, users};
use crate::ui::timefmt;

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
    let ip = call.remote_ip();
    if ctx.throttle.is_blocked(ip, Instant::now()) {
        return Err(ApiError::TooManyRequests);
    }
    let req: LoginRequest = call.json()?;
    let found = ctx.store.db.read(|c| users::by_name(c, &req.username))?;
    // Always one verification, so an unknown name takes as long as a wrong password.
    let hash = found
        .as_ref()
        .map_or(ctx.dummy_hash.as_str(), |u| u.password_hash.as_str());
    let ok = auth::verify_password(hash, &req.password) && found.is_some();
    let Some(user) = found.filter(|_| ok).map(|u| u.user) else {
        ctx.throttle.record_failure(ip, Instant::now());
        return Err(ApiError::BadCredentials);
    };
    ctx.throttle.record_success(ip);
    let (token, expires_at) = ctx.tokens.issue(user.id, &user.username, user.role)?;
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

/// A single-use ticket for `?ticket=` (WebSocket upgrades, download links).
pub(super) fn ticket(ctx: &Ctx, call: &mut Call<'_, '_>) -> Result<Reply, ApiError> {
    let who = call.who()?.clone();
    let ticket = ctx.tickets.issue(who, Instant::now())?;
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
pub(super) struct StatusOk {
    pub(super) status: &'static str,
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
    ctx.store.db.tx(|c| {
        users::update(c, who.user_id, Some(&hash), None, &now)?;
        audit::append(
            c,
            &now,
            actor(&who),
            "user.password_change",
            &who.username,
            &serde_json::json!({}),
        )
    })?;
    Reply::ok(&StatusOk { status: "ok" })
}

/// Password policy: at least 8 characters, at most 1 KiB (argon2 input stays cheap).
pub(super) fn check_password(password: &str, field: &str) -> Result<(), ApiError> {
    if password.chars().count() < MIN_PASSWORD_LEN {
        return Err(ApiError::field(
            field,
            format!("must be at least {MIN_PASSWORD_LEN} characters"),
        ));
    }
    if password.len() > 1024 {
        return Err(ApiError::field(field, "must be at most 1024 bytes"));
    }
    Ok(())
}
