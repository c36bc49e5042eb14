//! `/gateways`: REGISTER gateway profiles (spec §5.14) — CRUD, Arm and Originate.
//!
//! A profile is an account at a registrar. Arm starts a gateway job that keeps the
//! account registered from its UAS socket and answers the registrar's INVITEs with a UAS
//! scenario; Originate starts a gateway job that places calls through the registrar with
//! the account. Passwords are never returned (`***`); a PUT whose password is empty or
//! `***` keeps the stored one. Must not: resolve jobs (`resolve::gateway` does).

use serde::{Deserialize, Serialize};

use super::profiles::{self, Resource, listed};
use super::{ApiError, Call, Ctx, Reply};
use crate::service::host_ips::{self, HostIp};
use crate::service::paths::check_name;
use crate::service::resolve::request::{GatewayIntent, StartRequest};
use crate::service::store::jobs::{Job, ProfileKind};
use crate::service::store::profiles::{GatewayProfile, ProfileDir};

/// What a password reads as in every answer.
const MASK: &str = "***";

impl Resource for GatewayProfile {
    fn dir(ctx: &Ctx) -> &ProfileDir<Self> {
        &ctx.store.gateways
    }
    fn check(&mut self) -> Result<(), ApiError> {
        check(self)
    }
    fn set_id(&mut self, id: &str) {
        self.id = id.to_string();
    }
}

fn check(p: &mut GatewayProfile) -> Result<(), ApiError> {
    check_name(&p.id).map_err(|e| ApiError::field("id", e))?;
    p.normalize()
        .map_err(|(field, problem)| ApiError::field(field, problem))
}

/// The profile as answered: its password masked.
fn masked(mut p: GatewayProfile) -> GatewayProfile {
    if !p.password.is_empty() {
        p.password = MASK.into();
    }
    p
}

fn not_found(id: &str) -> ApiError {
    ApiError::NotFound(format!("gateway profile \"{id}\" not found"))
}

#[derive(Serialize)]
struct GatewayList {
    gateways: Vec<profiles::Listed<GatewayProfile>>,
}

/// `GET /gateways`.
pub(super) fn list(ctx: &Ctx, _call: &mut Call<'_, '_>) -> Result<Reply, ApiError> {
    let all = ctx.store.gateways.list().into_iter().map(masked).collect();
    let gateways = listed(ctx, ProfileKind::Gateway, all)?;
    Reply::ok(&GatewayList { gateways })
}

/// `GET /gateways/{id}`.
pub(super) fn get(ctx: &Ctx, call: &mut Call<'_, '_>) -> Result<Reply, ApiError> {
    let id = call.param("id");
    let p = ctx.store.gateways.get(id).ok_or_else(|| not_found(id))?;
    Reply::ok(&masked(p))
}

/// The profile the single-gateway aliases (`/gateway`, `/gateway/arm`,
/// `/gateway/originate`, the Go tool's API before it had several) act on: the first in id
/// order.
fn first_id(ctx: &Ctx) -> Option<String> {
    ctx.store.gateways.list().into_iter().map(|p| p.id).min()
}

fn no_profile() -> ApiError {
    ApiError::NotFound(
        "no gateway profile: create one with PUT /gateway or POST /gateways".to_string(),
    )
}

/// `GET /gateway`: the first profile (alias of `GET /gateways/{id}`).
pub(super) fn get_first(ctx: &Ctx, _call: &mut Call<'_, '_>) -> Result<Reply, ApiError> {
    let id = first_id(ctx).ok_or_else(no_profile)?;
    let p = ctx.store.gateways.get(&id).ok_or_else(|| not_found(&id))?;
    Reply::ok(&masked(p))
}

/// `PUT /gateway`: updates the first profile as `PUT /gateways/{id}` does; with none yet
/// it creates one (its `id` from the body, else `default`), as the single-gateway API
/// saved its one profile.
pub(super) fn put_first(ctx: &Ctx, call: &mut Call<'_, '_>) -> Result<Reply, ApiError> {
    match first_id(ctx) {
        Some(id) => update_id(ctx, call, id),
        None => {
            let mut p: GatewayProfile = call.json()?;
            if p.id.is_empty() {
                p.id = "default".into();
            }
            create_profile(ctx, call, p)
        }
    }
}

/// `PUT /gateway/arm`: arms the first profile.
pub(super) fn arm_first(ctx: &Ctx, call: &mut Call<'_, '_>) -> Result<Reply, ApiError> {
    let id = first_id(ctx).ok_or_else(no_profile)?;
    arm_id(ctx, call, id)
}

/// `POST /gateway/originate`: originates from the first profile.
pub(super) fn originate_first(ctx: &Ctx, call: &mut Call<'_, '_>) -> Result<Reply, ApiError> {
    let id = first_id(ctx).ok_or_else(no_profile)?;
    originate_id(ctx, call, id)
}

/// `POST /gateways`.
pub(super) fn create(ctx: &Ctx, call: &mut Call<'_, '_>) -> Result<Reply, ApiError> {
    let p: GatewayProfile = profiles::body_for(call, None)?;
    create_profile(ctx, call, p)
}

fn create_profile(
    ctx: &Ctx,
    call: &mut Call<'_, '_>,
    mut p: GatewayProfile,
) -> Result<Reply, ApiError> {
    if p.password == MASK {
        return Err(ApiError::field(
            "password",
            "\"***\" is the mask, not a password",
        ));
    }
    p.check()?;
    let p = ctx.store.gateways.create(p, &profiles::now())?;
    profiles::audit::<GatewayProfile>(ctx, call, "create", &p.id)?;
    Reply::json(201, &masked(p))
}

/// `PUT /gateways/{id}`: an empty or `***` password keeps the stored one.
pub(super) fn update(ctx: &Ctx, call: &mut Call<'_, '_>) -> Result<Reply, ApiError> {
    let id = call.param("id").to_string();
    update_id(ctx, call, id)
}

fn update_id(ctx: &Ctx, call: &mut Call<'_, '_>, id: String) -> Result<Reply, ApiError> {
    let mut p: GatewayProfile = profiles::body_for(call, Some(&id))?;
    if p.password.is_empty() || p.password == MASK {
        let old = ctx.store.gateways.get(&id).ok_or_else(|| not_found(&id))?;
        p.password = old.password;
    }
    p.check()?;
    let p = ctx.store.gateways.update(p, &profiles::now())?;
    profiles::audit::<GatewayProfile>(ctx, call, "update", &p.id)?;
    Reply::ok(&masked(p))
}

/// `DELETE /gateways/{id}`.
pub(super) fn delete(ctx: &Ctx, call: &mut Call<'_, '_>) -> Result<Reply, ApiError> {
    profiles::delete::<GatewayProfile>(ctx, call)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ArmBody {
    scenario_id: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OriginateBody {
    scenario_id: String,
    to: String,
    #[serde(default)]
    total_calls: Option<u64>,
}

#[derive(Serialize)]
struct Started {
    job_id: String,
    job: Job,
}

/// Saves what was armed or originated, then starts the gateway job.
fn start(
    ctx: &Ctx,
    call: &mut Call<'_, '_>,
    mut p: GatewayProfile,
    intent: GatewayIntent,
    scenario_id: String,
) -> Result<Reply, ApiError> {
    if scenario_id.is_empty() {
        return Err(ApiError::field("scenario_id", "names the scenario to run"));
    }
    check_name(&scenario_id).map_err(|e| ApiError::field("scenario_id", e))?;
    let id = p.id.clone();
    match intent {
        GatewayIntent::Arm => p.armed_scenario_id.clone_from(&scenario_id),
        GatewayIntent::Originate => p.originate_scenario_id.clone_from(&scenario_id),
    }
    // Checked as a PUT would be, then kept, so the console shows what runs.
    p.check()?;
    ctx.store.gateways.update(p, &profiles::now())?;
    let req = StartRequest {
        profile_id: id.clone(),
        profile_kind: ProfileKind::Gateway,
        scenario_id,
        created_by: call.who()?.username.clone(),
        kubernetes: None,
        gateway_intent: Some(intent),
        ..StartRequest::default()
    };
    let job = super::jobs::start_job(ctx, req)?;
    let verb = match intent {
        GatewayIntent::Arm => "arm",
        GatewayIntent::Originate => "originate",
    };
    ctx.audit(
        call.who()?,
        &format!("gateway.{verb}"),
        &id,
        serde_json::json!({"job_id": job.id, "scenario_id": job.scenario_id}),
    )?;
    Reply::json(
        201,
        &Started {
            job_id: job.id.clone(),
            job,
        },
    )
}

/// `PUT /gateways/{id}/arm {scenario_id}`: a gateway job answering the registrar's
/// INVITEs with that UAS scenario (and registering when the profile says so).
pub(super) fn arm(ctx: &Ctx, call: &mut Call<'_, '_>) -> Result<Reply, ApiError> {
    let id = call.param("id").to_string();
    arm_id(ctx, call, id)
}

fn arm_id(ctx: &Ctx, call: &mut Call<'_, '_>, id: String) -> Result<Reply, ApiError> {
    let p = ctx.store.gateways.get(&id).ok_or_else(|| not_found(&id))?;
    let body: ArmBody = call.json()?;
    start(ctx, call, p, GatewayIntent::Arm, body.scenario_id)
}

/// `POST /gateways/{id}/originate {scenario_id, to, total_calls?}`: a gateway job
/// calling `to` through the registrar with the account.
pub(super) fn originate(ctx: &Ctx, call: &mut Call<'_, '_>) -> Result<Reply, ApiError> {
    let id = call.param("id").to_string();
    originate_id(ctx, call, id)
}

fn originate_id(ctx: &Ctx, call: &mut Call<'_, '_>, id: String) -> Result<Reply, ApiError> {
    let mut p = ctx.store.gateways.get(&id).ok_or_else(|| not_found(&id))?;
    let body: OriginateBody = call.json()?;
    if body.to.is_empty() {
        return Err(ApiError::field("to", "names the callee (a user or number)"));
    }
    p.originate_to = body.to;
    p.originate_calls = body.total_calls.unwrap_or(1).max(1);
    start(ctx, call, p, GatewayIntent::Originate, body.scenario_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile() -> GatewayProfile {
        GatewayProfile {
            id: "g1".into(),
            domain: "pbx.test".into(),
            username: "alice".into(),
            ..GatewayProfile::default()
        }
    }

    #[test]
    fn bad_profiles_are_refused_naming_the_field() {
        let cases = [
            (
                GatewayProfile {
                    transport: "tcp".into(),
                    ..profile()
                },
                "transport",
            ),
            (
                GatewayProfile {
                    domain: String::new(),
                    ..profile()
                },
                "domain",
            ),
            (
                GatewayProfile {
                    username: String::new(),
                    ..profile()
                },
                "username",
            ),
            (
                GatewayProfile {
                    advertised_ip: "nope".into(),
                    ..profile()
                },
                "advertised_ip",
            ),
            (
                GatewayProfile {
                    keepalive_seconds: -2,
                    ..profile()
                },
                "keepalive_seconds",
            ),
            (
                GatewayProfile {
                    addr: "a b".into(),
                    ..profile()
                },
                "addr",
            ),
            (
                GatewayProfile {
                    password: "x\r\nVia: y".into(),
                    ..profile()
                },
                "password",
            ),
        ];
        for (mut p, field) in cases {
            match check(&mut p) {
                Err(ApiError::BadRequest(m)) => {
                    assert!(m.starts_with(&format!("{field}:")), "{field}: {m}")
                }
                other => panic!("{field}: expected a 400, got {other:?}"),
            }
        }
        let mut ok = profile();
        check(&mut ok).unwrap();
        assert_eq!((ok.name.as_str(), ok.register_expires), ("g1", 300));
    }

    #[test]
    fn the_password_is_masked_in_answers() {
        let p = GatewayProfile {
            password: "secret".into(),
            ..profile()
        };
        assert_eq!(masked(p).password, MASK);
        assert_eq!(masked(profile()).password, "");
    }
}

/// `GET /gateway/ips`.
#[derive(Serialize)]
struct Ips {
    /// Non-loopback IPv4, then global IPv6, then loopback.
    ips: Vec<HostIp>,
    /// The first non-loopback IPv4 (else the first address): what Autodiscover fills in.
    suggested: Option<String>,
}

/// `GET /gateway/ips`: the host's interface addresses for a profile's advertised IP
/// (the console's Autodiscover button). No public address is looked up.
pub(super) fn ips(_ctx: &Ctx, _call: &mut Call<'_, '_>) -> Result<Reply, ApiError> {
    let ips = host_ips::list()
        .map_err(|e| ApiError::Internal(format!("listing the host's interfaces: {e}")))?;
    let suggested = ips
        .iter()
        .find(|h| !h.loopback && h.ip.is_ipv4())
        .or(ips.first())
        .map(|h| h.ip.to_string());
    Reply::ok(&Ips { ips, suggested })
}
