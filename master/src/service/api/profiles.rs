//! `/servers` and `/clients`: UAS and UAC profile CRUD, with validation of every
//! TransportSpec row. Lists carry each profile's newest job as `runtime`; the start/stop
//! shortcuts live in `jobs`. One generic set of handlers serves both kinds (`Resource`).
//! Must not: start jobs or read profile files (the store's index does).

use std::net::IpAddr;
use std::time::SystemTime;

use gossipper_media::webrtc::{IceSettings, check_ice_settings};
use serde::Serialize;

use super::{ApiError, Call, Ctx, Reply};
use crate::service::paths::check_name;
use crate::service::store::jobs::ProfileKind;
use crate::service::store::profiles::{
    ClientProfile, Profile, ProfileDir, ServerProfile, TransportSpec,
};
use crate::service::timefmt;

/// Every transport code a profile row may name (ui-mode.md "Transports roadmap").
pub(crate) const TRANSPORTS: &[&str] = &[
    "u1", "un", "t1", "tn", "l1", "ln", "w1", "wn", "ws1", "wsn", "webrtc",
];

fn check_transports(rows: &[TransportSpec]) -> Result<(), ApiError> {
    for (i, t) in rows.iter().enumerate() {
        let field = |f: &str| format!("transports[{i}].{f}");
        if !TRANSPORTS.contains(&t.transport.as_str()) {
            return Err(ApiError::field(
                &field("transport"),
                format!(
                    "unknown transport \"{}\"; expected one of {}",
                    t.transport,
                    TRANSPORTS.join(", ")
                ),
            ));
        }
        if !t.local_ip.is_empty() && t.local_ip.parse::<IpAddr>().is_err() {
            return Err(ApiError::field(
                &field("local_ip"),
                format!("\"{}\" is not an IP address", t.local_ip),
            ));
        }
        let websocket = matches!(t.transport.as_str(), "w1" | "wn" | "ws1" | "wsn");
        if !t.ws_path.is_empty() && (!websocket || !t.ws_path.starts_with('/')) {
            return Err(ApiError::field(
                &field("ws_path"),
                "must start with / and is only for w1, wn, ws1, wsn",
            ));
        }
        let ice_set = !t.ice_servers.is_empty()
            || !t.ice_username.is_empty()
            || !t.ice_credential.is_empty()
            || !t.ice_auth_secret.is_empty()
            || !t.ice_transport_policy.is_empty();
        if t.transport != "webrtc" && ice_set {
            return Err(ApiError::field(
                &field("ice_servers"),
                "ICE settings are only for the webrtc transport",
            ));
        }
        let relay_only = match t.ice_transport_policy.as_str() {
            "" | "all" => false,
            "relay" => true,
            other => {
                return Err(ApiError::field(
                    &field("ice_transport_policy"),
                    format!("\"{other}\": expected all or relay"),
                ));
            }
        };
        if t.ice_auth_ttl_sec != 0 && t.ice_auth_ttl_sec < 60 {
            return Err(ApiError::field(
                &field("ice_auth_ttl_sec"),
                "must be 0 (86400) or at least 60",
            ));
        }
        // One TURN server over UDP with credentials; TURN over TLS or TCP is refused here,
        // when the profile is saved (the job's resolution refuses a stored one too).
        check_ice_settings(&IceSettings {
            urls: &t.ice_servers,
            username: &t.ice_username,
            credential: &t.ice_credential,
            auth_secret: &t.ice_auth_secret,
            relay_only,
        })
        .map_err(|(f, message)| ApiError::field(&field(&f), message))?;
    }
    Ok(())
}

fn check_common(id: &str, name: &mut String, rows: &[TransportSpec]) -> Result<(), ApiError> {
    check_name(id).map_err(|e| ApiError::field("id", e))?;
    if name.is_empty() {
        *name = id.to_string();
    }
    if name.len() > 200 {
        return Err(ApiError::field("name", "must be at most 200 bytes"));
    }
    check_transports(rows)
}

/// A server's enabled SIP rows are its listeners (one worker each); a `webrtc` row next
/// to several of them is refused by name (it would apply to one only).
fn check_listeners(rows: &[TransportSpec]) -> Result<(), ApiError> {
    let sip = rows
        .iter()
        .filter(|r| r.enabled && r.transport != "webrtc")
        .count();
    if sip > 1
        && let Some(i) = rows
            .iter()
            .position(|r| r.enabled && r.transport == "webrtc")
    {
        return Err(ApiError::field(
            &format!("transports[{i}].enabled"),
            "a webrtc row next to several SIP listeners is not supported (keep one SIP row)",
        ));
    }
    Ok(())
}

/// A client places its calls from one SIP row: a second enabled SIP row is refused by
/// name, never ignored. A `webrtc` row is not a SIP row of its own (it carries the
/// calls' media settings).
fn check_one_sip_row(rows: &[TransportSpec]) -> Result<(), ApiError> {
    let mut sip = rows
        .iter()
        .enumerate()
        .filter(|(_, r)| r.enabled && r.transport != "webrtc");
    if let (Some((first, _)), Some((second, _))) = (sip.next(), sip.next()) {
        return Err(ApiError::field(
            &format!("transports[{second}].enabled"),
            format!(
                "a client profile places its calls from one SIP row; transports[{first}] is already enabled (disable one)"
            ),
        ));
    }
    Ok(())
}

fn check_server(p: &mut ServerProfile) -> Result<(), ApiError> {
    check_common(&p.id, &mut p.name, &p.transports)?;
    check_listeners(&p.transports)?;
    p.source = "user".into();
    Ok(())
}

fn check_client(p: &mut ClientProfile) -> Result<(), ApiError> {
    check_common(&p.id, &mut p.name, &p.transports)?;
    check_one_sip_row(&p.transports)?;
    if !p.rate.is_finite() || p.rate < 0.0 {
        return Err(ApiError::field("rate", "must be a number ≥ 0"));
    }
    if p.remote_ip.len() > 253 || p.remote_ip.chars().any(|c| c.is_whitespace() || c == '/') {
        return Err(ApiError::field(
            "remote_ip",
            "must be an IP address or host name",
        ));
    }
    p.source = "user".into();
    Ok(())
}

/// What a profile row looks like in a list: the profile plus the runtime of its newest
/// job (`idle` when it never ran).
#[derive(Serialize)]
pub(super) struct Listed<T> {
    #[serde(flatten)]
    profile: T,
    runtime: Runtime,
}

#[derive(Serialize)]
struct Runtime {
    /// The newest job's status, or `idle`.
    status: &'static str,
    job_id: Option<String>,
    pid: Option<i64>,
    started_at: Option<String>,
    finished_at: Option<String>,
    exit_code: Option<i64>,
}

/// Every profile with its runtime, looked up in one database read (one lock, not one per
/// profile: under load each acquisition queues behind other requests).
pub(super) fn listed<T: Profile>(
    ctx: &Ctx,
    kind: ProfileKind,
    profiles: Vec<T>,
) -> Result<Vec<Listed<T>>, ApiError> {
    let newest = ctx.store.db.read(|c| {
        profiles
            .iter()
            .map(|p| crate::service::store::jobs::newest_for_profile(c, kind, p.id(), &[]))
            .collect::<Result<Vec<_>, _>>()
    })?;
    Ok(profiles
        .into_iter()
        .zip(newest)
        .map(|(profile, newest)| Listed {
            profile,
            runtime: runtime_of(newest),
        })
        .collect())
}

fn runtime_of(newest: Option<crate::service::store::jobs::Job>) -> Runtime {
    match newest {
        Some(j) => Runtime {
            status: j.status.as_str(),
            job_id: Some(j.id),
            pid: j.pid,
            started_at: j.started_at,
            finished_at: j.finished_at,
            exit_code: j.exit_code,
        },
        None => Runtime {
            status: "idle",
            job_id: None,
            pid: None,
            started_at: None,
            finished_at: None,
            exit_code: None,
        },
    }
}

#[derive(Serialize)]
struct ServerList {
    servers: Vec<Listed<ServerProfile>>,
}

#[derive(Serialize)]
struct ClientList {
    clients: Vec<Listed<ClientProfile>>,
}

/// What the handlers need of one profile type besides the store's `Profile`.
pub(super) trait Resource: Profile {
    /// Its directory in the store.
    fn dir(ctx: &Ctx) -> &ProfileDir<Self>;
    /// Checks a request body (and fills what the request may leave out).
    fn check(&mut self) -> Result<(), ApiError>;
    /// Sets the id a PUT path names.
    fn set_id(&mut self, id: &str);
}

impl Resource for ServerProfile {
    fn dir(ctx: &Ctx) -> &ProfileDir<Self> {
        &ctx.store.servers
    }
    fn check(&mut self) -> Result<(), ApiError> {
        check_server(self)
    }
    fn set_id(&mut self, id: &str) {
        self.id = id.to_string();
    }
}

impl Resource for ClientProfile {
    fn dir(ctx: &Ctx) -> &ProfileDir<Self> {
        &ctx.store.clients
    }
    fn check(&mut self) -> Result<(), ApiError> {
        check_client(self)
    }
    fn set_id(&mut self, id: &str) {
        self.id = id.to_string();
    }
}

pub(super) fn audit<T: Resource>(
    ctx: &Ctx,
    call: &Call<'_, '_>,
    verb: &str,
    id: &str,
) -> Result<(), ApiError> {
    let action = format!("{}.{verb}", T::dir(ctx).kind().as_str());
    ctx.audit(call.who()?, &action, id, serde_json::json!({}))
}

pub(super) fn now() -> String {
    timefmt::rfc3339(SystemTime::now())
}

/// Reads the body and, on PUT, makes sure a given `id` matches the path.
pub(super) fn body_for<T: Resource>(
    call: &mut Call<'_, '_>,
    path_id: Option<&str>,
) -> Result<T, ApiError> {
    let mut p: T = call.json()?;
    if let Some(path_id) = path_id {
        if p.id().is_empty() {
            p.set_id(path_id);
        } else if p.id() != path_id {
            return Err(ApiError::field(
                "id",
                format!("\"{}\" does not match the path id \"{path_id}\"", p.id()),
            ));
        }
    }
    Ok(p)
}

pub(super) fn list_servers(ctx: &Ctx, _call: &mut Call<'_, '_>) -> Result<Reply, ApiError> {
    let servers = listed(ctx, ProfileKind::Server, ctx.store.servers.list())?;
    Reply::ok(&ServerList { servers })
}

pub(super) fn list_clients(ctx: &Ctx, _call: &mut Call<'_, '_>) -> Result<Reply, ApiError> {
    let clients = listed(ctx, ProfileKind::Client, ctx.store.clients.list())?;
    Reply::ok(&ClientList { clients })
}

/// `GET /servers/{id}`, `GET /clients/{id}`.
pub(super) fn get<T: Resource>(ctx: &Ctx, call: &mut Call<'_, '_>) -> Result<Reply, ApiError> {
    let id = call.param("id");
    let dir = T::dir(ctx);
    let p = dir.get(id).ok_or_else(|| {
        ApiError::NotFound(format!(
            "{} profile \"{id}\" not found",
            dir.kind().as_str()
        ))
    })?;
    Reply::ok(&p)
}

/// `POST /servers`, `POST /clients`.
pub(super) fn create<T: Resource>(ctx: &Ctx, call: &mut Call<'_, '_>) -> Result<Reply, ApiError> {
    let mut p: T = body_for(call, None)?;
    p.check()?;
    let p = T::dir(ctx).create(p, &now())?;
    audit::<T>(ctx, call, "create", p.id())?;
    Reply::json(201, &p)
}

/// `PUT /servers/{id}`, `PUT /clients/{id}`.
pub(super) fn update<T: Resource>(ctx: &Ctx, call: &mut Call<'_, '_>) -> Result<Reply, ApiError> {
    let id = call.param("id").to_string();
    let mut p: T = body_for(call, Some(&id))?;
    p.check()?;
    let p = T::dir(ctx).update(p, &now())?;
    audit::<T>(ctx, call, "update", p.id())?;
    Reply::ok(&p)
}

/// `DELETE /servers/{id}`, `DELETE /clients/{id}`.
pub(super) fn delete<T: Resource>(ctx: &Ctx, call: &mut Call<'_, '_>) -> Result<Reply, ApiError> {
    let id = call.param("id").to_string();
    T::dir(ctx).delete(&id)?;
    audit::<T>(ctx, call, "delete", &id)?;
    Ok(Reply::Empty(204))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(transport: &str) -> TransportSpec {
        TransportSpec {
            transport: transport.into(),
            enabled: true,
            ..Default::default()
        }
    }

    #[test]
    fn every_transport_code_is_accepted() {
        let rows: Vec<_> = TRANSPORTS.iter().map(|t| row(t)).collect();
        check_transports(&rows).unwrap();
    }

    #[test]
    fn a_server_takes_several_listeners_but_no_webrtc_row_beside_them() {
        check_listeners(&[row("u1"), row("t1"), row("ws1")]).unwrap();
        check_listeners(&[row("u1"), row("webrtc")]).unwrap();
        match check_listeners(&[row("u1"), row("t1"), row("webrtc")]) {
            Err(ApiError::BadRequest(m)) => assert!(m.starts_with("transports[2].enabled:"), "{m}"),
            other => panic!("expected a 400, got {other:?}"),
        }
    }

    #[test]
    fn a_client_with_a_second_enabled_sip_row_is_refused_by_name() {
        let mut off = row("t1");
        off.enabled = false;
        check_one_sip_row(&[row("u1"), off, row("webrtc")]).unwrap();
        match check_one_sip_row(&[row("u1"), row("webrtc"), row("t1")]) {
            Err(ApiError::BadRequest(m)) => {
                assert!(m.starts_with("transports[2].enabled:"), "{m}");
                assert!(m.contains("transports[0]"), "{m}");
            }
            other => panic!("expected a 400, got {other:?}"),
        }
    }

    #[test]
    fn bad_rows_are_refused_naming_the_field() {
        let cases = [
            (row("udp"), "transports[0].transport"),
            (
                TransportSpec {
                    local_ip: "300.1.1.1".into(),
                    ..row("u1")
                },
                "transports[0].local_ip",
            ),
            (
                TransportSpec {
                    ws_path: "/sip".into(),
                    ..row("u1")
                },
                "transports[0].ws_path",
            ),
            (
                TransportSpec {
                    ice_servers: vec!["stun:x".into()],
                    ..row("u1")
                },
                "transports[0].ice_servers",
            ),
            (
                TransportSpec {
                    ice_servers: vec!["http://x".into()],
                    ..row("webrtc")
                },
                "transports[0].ice_servers[0]",
            ),
            (
                TransportSpec {
                    ice_servers: vec!["turns:relay.example".into()],
                    ice_auth_secret: "k".into(),
                    ..row("webrtc")
                },
                "transports[0].ice_servers[0]: \"turns:relay.example\": turns: (TURN over TLS)",
            ),
            (
                TransportSpec {
                    ice_servers: vec!["turn:relay.example?transport=tcp".into()],
                    ice_auth_secret: "k".into(),
                    ..row("webrtc")
                },
                "transports[0].ice_servers[0]: \"turn:relay.example?transport=tcp\": TURN over TCP",
            ),
            (
                TransportSpec {
                    ice_servers: vec!["turn:relay.example".into()],
                    ..row("webrtc")
                },
                "transports[0].ice_servers: the turn: server needs credentials",
            ),
            (
                TransportSpec {
                    ice_transport_policy: "relay".into(),
                    ..row("webrtc")
                },
                "transports[0].ice_transport_policy",
            ),
            (
                TransportSpec {
                    ice_transport_policy: "srflx".into(),
                    ..row("webrtc")
                },
                "transports[0].ice_transport_policy",
            ),
            (
                TransportSpec {
                    ice_transport_policy: "relay".into(),
                    ..row("u1")
                },
                "transports[0].ice_servers",
            ),
        ];
        for (r, field) in cases {
            match check_transports(&[r]) {
                Err(ApiError::BadRequest(msg)) => assert!(msg.starts_with(field), "{msg}"),
                other => panic!("{field}: {other:?}"),
            }
        }
    }

    #[test]
    fn a_webrtc_row_takes_one_udp_turn_server_with_credentials() {
        let ok = [
            TransportSpec {
                ice_servers: vec!["stun:a".into(), "turn:b:3478?transport=udp".into()],
                ice_username: "u".into(),
                ice_credential: "p".into(),
                ice_transport_policy: "relay".into(),
                ..row("webrtc")
            },
            TransportSpec {
                ice_servers: vec!["turn:b".into()],
                ice_auth_secret: "k".into(),
                ice_auth_ttl_sec: 600,
                ..row("webrtc")
            },
        ];
        for r in ok {
            check_transports(std::slice::from_ref(&r)).unwrap_or_else(|e| panic!("{r:?}: {e:?}"));
        }
    }

    #[test]
    fn client_rate_must_be_finite_and_non_negative() {
        let mut p = ClientProfile {
            id: "c".into(),
            rate: f64::NAN,
            ..Default::default()
        };
        assert!(check_client(&mut p).is_err());
        p.rate = 10.0;
        check_client(&mut p).unwrap();
        assert_eq!(p.name, "c", "name defaults to the id");
    }
}
