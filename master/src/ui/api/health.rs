//! `GET /health`, `GET /healthz`, `GET /auth/status`: liveness and auth mode (open).

use serde::Serialize;

use super::{ApiError, Call, Ctx, Reply};

fn auth_mode(ctx: &Ctx) -> &'static str {
    if ctx.config.auth_enabled {
        "internal"
    } else {
        "none"
    }
}

#[derive(Serialize)]
struct Health {
    status: &'static str,
    version: &'static str,
    auth: &'static str,
}

pub(super) fn health(ctx: &Ctx, _call: &mut Call<'_, '_>) -> Result<Reply, ApiError> {
    Reply::ok(&Health {
        status: "ok",
        version: env!("CARGO_PKG_VERSION"),
        auth: auth_mode(ctx),
    })
}

pub(super) fn healthz(_ctx: &Ctx, _call: &mut Call<'_, '_>) -> Result<Reply, ApiError> {
    Ok(Reply::Text {
        status: 200,
        body: "ok",
    })
}

#[derive(Serialize)]
struct AuthStatus {
    auth: &'static str,
}

pub(super) fn auth_status(ctx: &Ctx, _call: &mut Call<'_, '_>) -> Result<Reply, ApiError> {
    Reply::ok(&AuthStatus {
        auth: auth_mode(ctx),
    })
}
