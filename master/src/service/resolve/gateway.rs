//! A gateway job (`profile_kind: gateway`, spec §5.14) resolved from its profile: armed
//! with a UAS scenario it is a UDP UAS that keeps the profile's account registered from
//! its socket (the engine's `register`); given a UAC scenario it originates calls
//! through the registrar with the account's credentials.
//!
//! Owns: the mapping from a `GatewayProfile` to engine settings. Must not: load the
//! profile (the caller does) or start anything.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use gossipper_engine::config::{JobSpec, ScenarioSource, TransportMode};
use gossipper_engine::register::RegisterSpec;
use gossipper_engine::runner;
use gossipper_engine::scenario::Role;

use super::request::GatewayIntent;
use super::{ResolveError, bad, parse_ip, resolve_host};

fn refused(field: &str, problem: impl Into<String>) -> ResolveError {
    ResolveError::Refused {
        field: field.into(),
        problem: problem.into(),
    }
}
use crate::service::store::profiles::GatewayProfile;

/// §5.14: retry every 15 s after a failed REGISTER.
const RETRY_S: u32 = 15;

/// The registrar: `addr` as `host[:port]` (5060 by default), else the domain.
pub(super) fn registrar(p: &GatewayProfile) -> Result<(String, SocketAddr), ResolveError> {
    let text = if p.addr.is_empty() {
        &p.domain
    } else {
        &p.addr
    };
    let (host, port) = match text.rsplit_once(':') {
        Some((h, port)) if !h.contains(':') => (
            h,
            port.parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| {
                    bad(
                        "addr",
                        format!("\"{text}\": the port is not a number 1-65535"),
                    )
                })?,
        ),
        _ => (text.as_str(), 5060),
    };
    if host.is_empty() {
        return Err(bad(
            "addr",
            "the gateway profile names no registrar (addr or domain)",
        ));
    }
    let addr = resolve_host(host, port).map_err(|e| match e {
        ResolveError::BadValue { problem, .. } => bad("addr", problem),
        other => other,
    })?;
    Ok((host.to_string(), addr))
}

/// Fills `job` for gateway profile `p` running `source`. Returns the scenario's role as
/// far as it loads (a scenario that does not load is left to the job's check, which
/// names its error).
pub(super) fn apply(
    job: &mut JobSpec,
    p: &GatewayProfile,
    source: &ScenarioSource,
    intent: Option<GatewayIntent>,
) -> Result<(), ResolveError> {
    if !p.enabled {
        return Err(refused(
            "enabled",
            format!("gateway profile \"{}\" is disabled", p.id),
        ));
    }
    if !p.transport.is_empty() && !p.transport.eq_ignore_ascii_case("udp") {
        return Err(ResolveError::Unsupported(format!(
            "transport: \"{}\": the REGISTER gateway runs over udp only",
            p.transport
        )));
    }
    let (_, registrar) = registrar(p)?;
    let probe = JobSpec {
        scenario: source.clone(),
        ..job.clone()
    };
    // A scenario that does not load is left to the job's check, which names its error.
    let loaded = runner::check(&probe).ok();
    match (intent, loaded) {
        (Some(GatewayIntent::Arm), Some(Role::Client)) => {
            return Err(refused(
                "scenario_id",
                "arm needs a UAS scenario (one that answers calls); this one places them: use originate",
            ));
        }
        (Some(GatewayIntent::Originate), Some(Role::Server)) => {
            return Err(refused(
                "scenario_id",
                "originate refuses a UAS scenario (one that answers calls); use arm",
            ));
        }
        _ => {}
    }
    let role = loaded.unwrap_or(Role::Server);
    job.transport = TransportMode::UdpShared;
    if role == Role::Client {
        // Originate: calls to `originate_to` (or the request's `engine.service`) through
        // the registrar, answering its challenges with the account.
        job.remote = Some(registrar);
        job.remote_host = Some(p.domain.clone());
        if p.originate_to.is_empty() {
            return Err(refused("originate_to", "originate needs a callee (to)"));
        }
        job.service = p.originate_to.clone();
        job.auth_username = Some(p.username.clone());
        job.auth_password = Some(p.password.clone());
        job.max_calls = Some(p.originate_calls.max(1));
        return Ok(());
    }
    job.local_ip = parse_ip("local_ip", &p.local_ip)?;
    // 0 binds any free port (the Contact then names the bound one); left unset, a UAS
    // would take the SIP default 5060, which another gateway or a PBX on the host holds.
    job.local_port = Some(p.contact_port);
    if !p.register {
        return Ok(());
    }
    job.register = Some(register_spec(p)?);
    Ok(())
}

/// The account's REGISTER loop (`p.register` is the caller's to check): the registrar,
/// the AOR, the Digest credentials, the Contact (its port 0: the bound UAS port), the
/// Expires asked for, the keep-alive and the retry after a failure. Also what a
/// `gossipper server -config` file's `gateway{}` becomes on the server's UDP listener.
pub(crate) fn register_spec(p: &GatewayProfile) -> Result<RegisterSpec, ResolveError> {
    let (_, registrar) = registrar(p)?;
    let advertised = parse_ip("advertised_ip", &p.advertised_ip)?;
    let user = if p.register_user.is_empty() {
        &p.username
    } else {
        &p.register_user
    };
    if user.is_empty() || p.domain.is_empty() {
        return Err(bad(
            if p.domain.is_empty() {
                "domain"
            } else {
                "username"
            },
            "a gateway that registers needs a domain and a username (or register_user)",
        ));
    }
    Ok(RegisterSpec {
        registrar,
        domain: p.domain.clone(),
        user: user.clone(),
        auth_user: if p.username.is_empty() {
            user.clone()
        } else {
            p.username.clone()
        },
        password: p.password.clone(),
        contact: SocketAddr::new(advertised.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)), 0),
        expires_s: if p.register_expires == 0 {
            300
        } else {
            p.register_expires
        },
        keepalive_s: u32::try_from(p.keepalive_seconds).unwrap_or(0),
        retry_s: RETRY_S,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile() -> GatewayProfile {
        GatewayProfile {
            id: "g1".into(),
            domain: "pbx.test".into(),
            addr: "127.0.0.1:5080".into(),
            username: "alice".into(),
            password: "pw".into(),
            originate_to: "bob".into(),
            contact_port: 5090,
            ..GatewayProfile::default()
        }
    }

    #[test]
    fn contact_port_0_binds_any_free_port_not_the_sip_default() {
        let mut job = JobSpec::default();
        let p = GatewayProfile {
            contact_port: 0,
            ..profile()
        };
        apply(&mut job, &p, &ScenarioSource::Builtin("uas".into()), None).unwrap();
        assert_eq!(job.local_port, Some(0));
    }

    #[test]
    fn armed_with_a_uas_it_registers_from_its_udp_socket() {
        let mut job = JobSpec::default();
        apply(
            &mut job,
            &profile(),
            &ScenarioSource::Builtin("uas".into()),
            None,
        )
        .unwrap();
        assert_eq!(job.transport, TransportMode::UdpShared);
        assert_eq!(job.local_port, Some(5090));
        assert_eq!(job.remote, None);
        let r = job.register.expect("a register block");
        assert_eq!(r.registrar, "127.0.0.1:5080".parse().unwrap());
        assert_eq!((r.domain.as_str(), r.user.as_str()), ("pbx.test", "alice"));
        assert_eq!((r.expires_s, r.keepalive_s, r.retry_s), (300, 20, 15));
        assert!(r.contact.ip().is_unspecified(), "filled in by the runner");
    }

    #[test]
    fn given_a_uac_it_originates_through_the_registrar_with_the_account() {
        let mut job = JobSpec::default();
        apply(
            &mut job,
            &profile(),
            &ScenarioSource::Builtin("uac".into()),
            None,
        )
        .unwrap();
        assert_eq!(job.remote, Some("127.0.0.1:5080".parse().unwrap()));
        assert_eq!(job.service, "bob");
        assert_eq!(job.auth_username.as_deref(), Some("alice"));
        assert_eq!(job.auth_password.as_deref(), Some("pw"));
        assert_eq!(job.max_calls, Some(1));
        assert!(job.register.is_none());
    }

    #[test]
    fn what_it_cannot_do_is_refused_by_field() {
        let mut job = JobSpec::default();
        let uas = ScenarioSource::Builtin("uas".into());
        let tcp = GatewayProfile {
            transport: "tcp".into(),
            ..profile()
        };
        assert!(matches!(
            apply(&mut job, &tcp, &uas, None),
            Err(ResolveError::Unsupported(m)) if m.starts_with("transport:")
        ));
        let off = GatewayProfile {
            enabled: false,
            ..profile()
        };
        assert!(matches!(
            apply(&mut job, &off, &uas, None),
            Err(ResolveError::Refused { field, .. }) if field == "enabled"
        ));
        let uac = ScenarioSource::Builtin("uac".into());
        assert!(matches!(
            apply(&mut job, &profile(), &uac, Some(GatewayIntent::Arm)),
            Err(ResolveError::Refused { field, .. }) if field == "scenario_id"
        ));
        assert!(matches!(
            apply(&mut job, &profile(), &uas, Some(GatewayIntent::Originate)),
            Err(ResolveError::Refused { field, .. }) if field == "scenario_id"
        ));
        let bad_port = GatewayProfile {
            addr: "127.0.0.1:0".into(),
            ..profile()
        };
        assert!(matches!(
            apply(&mut job, &bad_port, &uas, None),
            Err(ResolveError::BadValue { field, .. }) if field == "addr"
        ));
    }
}
