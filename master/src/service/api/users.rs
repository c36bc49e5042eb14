//! `/users` (admin): list, create, update (password and/or role), delete; one user read
//! by an admin or by that user. New users are operators unless a role is given; the last
//! admin cannot be deleted or demoted (409).
//! Must not: hash or compare passwords itself (`auth` does) or leak a hash in a reply.

use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use super::session::check_password;
use super::{ApiError, Call, Ctx, Reply, actor};
use crate::service::auth;
use crate::service::store::audit;
use crate::service::store::users::{self, Role, User};
use crate::service::timefmt;

#[derive(Serialize)]
struct UserList {
    users: Vec<User>,
}

pub(super) fn list(ctx: &Ctx, _call: &mut Call<'_, '_>) -> Result<Reply, ApiError> {
    Reply::ok(&UserList {
        users: ctx.store.db.read(users::list)?,
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateUser {
    username: String,
    password: String,
    #[serde(default)]
    role: Option<Role>,
}

/// Usernames (`auth::username_problem`), as a field error.
pub(super) fn check_username(name: &str) -> Result<(), ApiError> {
    match auth::username_problem(name) {
        Some(problem) => Err(ApiError::field("username", problem)),
        None => Ok(()),
    }
}

pub(super) fn create(ctx: &Ctx, call: &mut Call<'_, '_>) -> Result<Reply, ApiError> {
    let req: CreateUser = call.json()?;
    check_username(&req.username)?;
    check_password(&req.password, "password")?;
    let role = req.role.unwrap_or(Role::Operator);
    let hash = auth::hash_password(&req.password)?;
    let who = call.who()?;
    let now = timefmt::rfc3339(SystemTime::now());
    let user = ctx.store.db.tx(|c| {
        let user = users::create(c, &req.username, &hash, role, &now)?;
        audit::append(
            c,
            &now,
            actor(who),
            "user.create",
            &user.username,
            &serde_json::json!({"role": role}),
        )?;
        Ok(user)
    })?;
    Reply::json(201, &user)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateUser {
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    role: Option<Role>,
}

fn user_id(call: &Call<'_, '_>) -> Result<i64, ApiError> {
    let raw = call.param("id");
    raw.parse()
        .map_err(|_| ApiError::field("id", format!("\"{raw}\" is not a user id")))
}

/// `GET /users/{id}`: the user as the list shows it, to an admin or to the user itself
/// (403 for anyone else, before looking, so an operator cannot probe which ids exist);
/// 404 for an unknown id.
pub(super) fn get(ctx: &Ctx, call: &mut Call<'_, '_>) -> Result<Reply, ApiError> {
    let id = user_id(call)?;
    let who = call.who()?;
    if who.role != Role::Admin && who.user_id != id {
        return Err(ApiError::Forbidden(
            "only an admin or the user itself may read a user",
        ));
    }
    match ctx.store.db.read(|c| users::by_id(c, id))? {
        Some(u) => Reply::ok(&u.user),
        None => Err(ApiError::NotFound(format!("user {id} not found"))),
    }
}

pub(super) fn update(ctx: &Ctx, call: &mut Call<'_, '_>) -> Result<Reply, ApiError> {
    let id = user_id(call)?;
    let req: UpdateUser = call.json()?;
    let hash = match &req.password {
        Some(p) => {
            check_password(p, "password")?;
            Some(auth::hash_password(p)?)
        }
        None => None,
    };
    let who = call.who()?;
    let now = timefmt::rfc3339(SystemTime::now());
    let user = ctx.store.db.tx(|c| {
        let user = users::update(c, id, hash.as_deref(), req.role, &now)?;
        let payload = serde_json::json!({"role": req.role, "password_changed": hash.is_some()});
        audit::append(c, &now, actor(who), "user.update", &user.username, &payload)?;
        Ok(user)
    })?;
    Reply::ok(&user)
}

pub(super) fn delete(ctx: &Ctx, call: &mut Call<'_, '_>) -> Result<Reply, ApiError> {
    let id = user_id(call)?;
    let who = call.who()?;
    let now = timefmt::rfc3339(SystemTime::now());
    ctx.store.db.tx(|c| {
        let user = users::delete(c, id)?;
        audit::append(
            c,
            &now,
            actor(who),
            "user.delete",
            &user.username,
            &serde_json::json!({}),
        )
    })?;
    Ok(Reply::Empty(204))
}
