//! `GET /health`, `GET /healthz`, `GET /auth/status`: liveness and auth mode (open).
//!
//! `/auth/status` also names the account still using the built-in default password of
//! a fresh install (`default_password: {"username": …}`, else `null`): the sign-in page
//! shows the default only while it works, and the console asks that user to change it.
//! It tells nobody more than the sign-in page has always shown. Must not: need a token.

use serde::Serialize;

use super::{ApiError, Call, Ctx, Reply};
use crate::service::store::{kv, users};

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
    /// `"ui"` (`gossipper ui`) or `"server"` (`gossipper server -ui_data_dir`: the live
    /// SIP trace, calls and v1 pages apply).
    mode: &'static str,
    /// Whether `/api/v1` is served beside `/api/v2` (only ever true in server mode).
    legacy_api_v1: bool,
}

pub(super) fn health(ctx: &Ctx, _call: &mut Call<'_, '_>) -> Result<Reply, ApiError> {
    Reply::ok(&Health {
        status: "ok",
        version: env!("CARGO_PKG_VERSION"),
        auth: auth_mode(ctx),
        mode: ctx.config.mode.name(),
        legacy_api_v1: ctx.config.mode.legacy_api_v1(),
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
    default_password: Option<DefaultPassword>,
}

#[derive(Serialize)]
struct DefaultPassword {
    username: String,
}

pub(super) fn auth_status(ctx: &Ctx, _call: &mut Call<'_, '_>) -> Result<Reply, ApiError> {
    let default_password = if ctx.config.auth_enabled {
        ctx.store.db.read(|c| {
            Ok(match kv::default_password_user(c)? {
                Some(id) => users::by_id(c, id)?.map(|u| DefaultPassword {
                    username: u.user.username,
                }),
                None => None,
            })
        })?
    } else {
        None
    };
    Reply::ok(&AuthStatus {
        auth: auth_mode(ctx),
        default_password,
    })
}
