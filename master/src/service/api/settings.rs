//! `GET /settings` (runtime info, disk use) and `POST /settings/rotate-jwt-secret` (admin).
//! Must not: ever put a secret in a reply.

use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use serde::Serialize;

use super::{ApiError, Call, Ctx, Reply, actor};
use crate::service::auth;
use crate::service::store::{audit, db, kv, users};
use crate::service::timefmt;

/// How long a disk-usage walk is reused.
const DISK_USAGE_TTL: Duration = Duration::from_secs(10);

#[derive(Serialize)]
struct Counts {
    scenarios: usize,
    servers: usize,
    clients: usize,
    users: i64,
}

#[derive(Serialize)]
struct SettingsReply {
    ui_data_dir: String,
    scenario_history_keep: usize,
    disk_usage_bytes: u64,
    version: &'static str,
    auth: &'static str,
    schema_version: i64,
    started_at: String,
    uptime_s: u64,
    counts: Counts,
    /// `"ui"` or `"server"` (as `/health` says).
    mode: &'static str,
    legacy_api_v1: bool,
}

fn dir_size(path: &Path, depth: u32) -> u64 {
    let Ok(entries) = std::fs::read_dir(path) else {
        return 0;
    };
    let mut total = 0;
    for entry in entries.flatten() {
        let Ok(md) = entry.metadata() else { continue };
        if md.is_dir() && depth < 16 {
            total += dir_size(&entry.path(), depth + 1);
        } else if md.is_file() {
            total += md.len();
        }
    }
    total
}

fn disk_usage(ctx: &Ctx) -> u64 {
    let mut cache = ctx.disk_usage.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((at, bytes)) = *cache
        && at.elapsed() < DISK_USAGE_TTL
    {
        return bytes;
    }
    let bytes = dir_size(ctx.store.layout.root(), 0);
    *cache = Some((Instant::now(), bytes));
    bytes
}

pub(super) fn get(ctx: &Ctx, _call: &mut Call<'_, '_>) -> Result<Reply, ApiError> {
    let users = ctx.store.db.read(users::count)?;
    let now = SystemTime::now();
    Reply::ok(&SettingsReply {
        ui_data_dir: ctx.config.data_dir.display().to_string(),
        scenario_history_keep: ctx.config.scenario_history_keep,
        disk_usage_bytes: disk_usage(ctx),
        version: env!("CARGO_PKG_VERSION"),
        auth: if ctx.config.auth_enabled {
            "internal"
        } else {
            "none"
        },
        schema_version: db::schema_version(),
        started_at: timefmt::rfc3339(ctx.config.started_at),
        uptime_s: now
            .duration_since(ctx.config.started_at)
            .unwrap_or_default()
            .as_secs(),
        counts: Counts {
            scenarios: ctx.store.scenarios.list().len(),
            servers: ctx.store.servers.list().len(),
            clients: ctx.store.clients.list().len(),
            users,
        },
        mode: ctx.config.mode.name(),
        legacy_api_v1: ctx.config.mode.legacy_api_v1(),
    })
}

/// The reply of a rotation. The secret itself never leaves the master: a reply can be
/// logged, cached or shown on a screen, and nothing needs it (the master signs tokens).
#[derive(Serialize)]
struct Rotated {
    status: &'static str,
    rotated_at: String,
    rotated_by: String,
    warning: &'static str,
}

/// New random secret, saved (so it survives restarts) and used at once: every token
/// and ticket issued before stops working, including the caller's. Audited as
/// `settings.rotate_jwt_secret`.
pub(super) fn rotate_jwt_secret(ctx: &Ctx, call: &mut Call<'_, '_>) -> Result<Reply, ApiError> {
    let secret = auth::random_hex(32).map_err(|e| ApiError::Internal(e.to_string()))?;
    let who = call.who()?;
    let now = timefmt::rfc3339(SystemTime::now());
    ctx.store.db.tx(|c| {
        kv::set(c, kv::JWT_SECRET, &secret)?;
        audit::append(
            c,
            &now,
            actor(who),
            "settings.rotate_jwt_secret",
            "jwt_secret",
            &serde_json::json!({}),
        )
    })?;
    ctx.tokens.rotate(&secret);
    ctx.tickets.clear();
    Reply::ok(&Rotated {
        status: "rotated",
        rotated_at: now,
        rotated_by: who.username.clone(),
        warning: "every token issued before is now invalid; sign in again",
    })
}
