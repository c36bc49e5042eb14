//! `GET /load-test` and `POST /load-test/run`: sipstress-style load jobs
//! (gossipper-reference.md §5.12).
//!
//! Owns: the wizard's request shape and its mapping to a client job. `director` is
//! `host[:port]` or `sip:[user@]host[:port]` (default port 5060; the user part becomes
//! the request-URI user, `[service]`). The wizard profile `_load_wizard` (u1 on
//! 0.0.0.0:0) is upserted so the console can show it, but every setting of the run also
//! travels as an engine override, so two wizard runs at once cannot read each other's
//! profile. Identity headers: the default scenario `invite_media` puts `sip_from` in
//! From, `sip_pai` in P-Asserted-Identity and `sip_provider` in X-Provider; a stored
//! scenario gets them as the keywords `[sip_from]`, `[sip_pai]`, `[sip_provider]`.
//! `total_calls: 0` runs until `POST /jobs/{id}/stop`.
//!
//! A run is checked whole before its job exists: an unknown scenario, one that answers
//! calls (a UAS) instead of placing them, a scenario that does not load, a malformed
//! threshold or one on a timer the scenario lacks, each is a 400 naming the field.
//! `max_concurrent` may be left out: the engine then uses SIPp's default (3 × rate ×
//! max(hold, 1 s)), which never throttles the rate asked for; the reply's `target` says
//! what the run will use (the resolved configuration the job's spec file holds). Must
//! not: resolve or start the job itself (the supervisor prepares and launches it).

use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use super::{ApiError, Call, Ctx, Reply};
use crate::service::resolve::request::EngineOverrides;
use crate::service::resolve::request::StartRequest;
use crate::service::store::StoreError;
use crate::service::store::jobs::{Job, JobStatus, ProfileKind};
use crate::service::store::profiles::{ClientProfile, TransportSpec};
use crate::service::timefmt;
use gossipper_engine::output::run_info::RunParams;

/// The wizard's client profile.
pub(crate) const WIZARD_PROFILE: &str = "_load_wizard";

#[derive(Serialize)]
struct Defaults {
    scenario_id: &'static str,
    total_calls: u64,
    rate: f64,
    /// `null`: computed (see `concurrency`).
    max_concurrent: Option<u64>,
    concurrency: &'static str,
    health_enabled: bool,
    health_min_success_ratio: f64,
    health_max_failed_calls: u64,
    soak: &'static str,
}

#[derive(Serialize)]
struct Lifecycle {
    start: &'static str,
    status: &'static str,
    stop: &'static str,
    events: &'static str,
}

#[derive(Serialize)]
struct Info {
    scenarios: Vec<&'static str>,
    defaults: Defaults,
    lifecycle: Lifecycle,
    identity_headers: &'static str,
    thresholds: &'static str,
}

const DEFAULTS: Defaults = Defaults {
    scenario_id: "invite_media",
    total_calls: 10,
    rate: 4.0,
    max_concurrent: None,
    concurrency: "left out: SIPp's default, 3 × rate × max(call_duration_ms, 1 s); a rate needs rate × hold calls open at once",
    health_enabled: true,
    health_min_success_ratio: 0.95,
    health_max_failed_calls: 0,
    soak: "total_calls = 0 runs until POST /api/v2/jobs/{id}/stop",
};

const THRESHOLDS: &str = "thresholds: a list of k6-style expressions, e.g. \"p99(response_time)<50ms\", \"rate>=95%\" (of the target rate), \"success_ratio>=99.5%\", \"failed_calls==0\", \"timeouts<=3\", \"retrans_ratio<1%\", \"rtp_loss<0.5%\", \"mos_min>=3.5\"; timers: response_time, call_length or an rtd name; p50, p90, p99.9, avg, min, max";

pub(super) fn info(_ctx: &Ctx, _call: &mut Call<'_, '_>) -> Result<Reply, ApiError> {
    let mut scenarios: Vec<&'static str> = crate::service::resolve::LOAD_SCENARIOS.to_vec();
    scenarios.push("uac");
    Reply::ok(&Info {
        scenarios,
        defaults: DEFAULTS,
        lifecycle: Lifecycle {
            start: "POST /api/v2/load-test/run",
            status: "GET /api/v2/jobs/{id}",
            stop: "POST /api/v2/jobs/{id}/stop",
            events: "GET /api/v2/jobs/{id}/events",
        },
        identity_headers: "invite_media sends sip_from as From, sip_pai as P-Asserted-Identity and sip_provider as X-Provider; stored scenarios can use the keywords [sip_from], [sip_pai], [sip_provider]",
        thresholds: THRESHOLDS,
    })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RunBody {
    #[serde(default)]
    id: Option<String>,
    director: String,
    #[serde(default)]
    scenario_id: Option<String>,
    total_calls: u64,
    rate: f64,
    #[serde(default)]
    max_concurrent: Option<u64>,
    #[serde(default)]
    run_timeout_ms: Option<u64>,
    #[serde(default)]
    sip_from: Option<String>,
    #[serde(default)]
    sip_pai: Option<String>,
    #[serde(default)]
    sip_provider: Option<String>,
    #[serde(default)]
    record_wav: bool,
    #[serde(default)]
    record_wav_duplex: bool,
    #[serde(default)]
    health_enabled: Option<bool>,
    #[serde(default)]
    health_min_success_ratio: Option<f64>,
    #[serde(default)]
    health_max_failed_calls: Option<u64>,
    /// Ours: the call hold time of the scenario's pause, ms.
    #[serde(default)]
    call_duration_ms: Option<u64>,
    /// Ours: k6-style thresholds (`p99(response_time)<50ms`, …).
    #[serde(default)]
    thresholds: Option<Vec<String>>,
    /// Ours: what the tester calls this run, and notes about it.
    #[serde(default)]
    name: String,
    #[serde(default)]
    notes: String,
}

/// A parsed director: user (for the request URI), host and port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Director {
    pub(crate) user: Option<String>,
    pub(crate) host: String,
    pub(crate) port: u16,
}

/// Parses `host[:port]`, `[v6]:port` or `sip:[user@]host[:port]`.
pub(crate) fn parse_director(s: &str) -> Result<Director, String> {
    let s = s.trim();
    let rest = s
        .strip_prefix("sip:")
        .or_else(|| s.strip_prefix("SIP:"))
        .unwrap_or(s);
    let rest = rest.split([';', '?']).next().unwrap_or("");
    let (user, hostport) = match rest.rsplit_once('@') {
        Some((u, h)) => (Some(u.to_string()), h),
        None => (None, rest),
    };
    if let Some(u) = &user
        && (u.is_empty()
            || u.chars()
                .any(|c| c.is_control() || c.is_whitespace() || matches!(c, '[' | ']' | '<' | '>')))
    {
        return Err(format!("bad user part \"{u}\""));
    }
    let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
        let (h, after) = v6.split_once(']').ok_or("unclosed [ in the host")?;
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p),
            None if after.is_empty() => None,
            None => return Err("junk after the IPv6 address".into()),
        };
        (h.to_string(), port)
    } else {
        match hostport.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), Some(p)),
            None => (hostport.to_string(), None),
        }
    };
    if host.is_empty()
        || host.len() > 253
        || host
            .chars()
            .any(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '_')))
    {
        return Err(format!("bad host \"{host}\""));
    }
    let port = match port {
        None => 5060,
        Some(p) => p
            .parse::<u16>()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| format!("bad port \"{p}\""))?,
    };
    Ok(Director { user, host, port })
}

fn upsert_wizard(ctx: &Ctx, d: &Director, body: &RunBody) -> Result<(), ApiError> {
    let now = timefmt::rfc3339(SystemTime::now());
    let p = ClientProfile {
        id: WIZARD_PROFILE.into(),
        name: "Load test wizard".into(),
        description: "Written by POST /load-test/run; every run also passes its settings as engine overrides.".into(),
        transports: vec![TransportSpec {
            transport: "u1".into(),
            local_ip: "0.0.0.0".into(),
            local_port: 0,
            enabled: true,
            ..Default::default()
        }],
        remote_ip: d.host.clone(),
        remote_port: d.port,
        rate: body.rate,
        max_concurrent: body
            .max_concurrent
            .map_or(0, |m| u32::try_from(m).unwrap_or(u32::MAX)),
        duration_ms: body.run_timeout_ms.unwrap_or(0),
        source: "wizard".into(),
        ..Default::default()
    };
    match ctx.store.clients.update(p.clone(), &now) {
        Ok(_) => Ok(()),
        Err(StoreError::NotFound(_)) => match ctx.store.clients.create(p, &now) {
            // Another run created it in between: fine, the overrides carry the settings.
            Ok(_) | Err(StoreError::Conflict(_)) => Ok(()),
            Err(e) => Err(e.into()),
        },
        Err(e) => Err(e.into()),
    }
}

#[derive(Serialize)]
struct Accepted {
    job: Job,
    #[serde(rename = "async")]
    is_async: bool,
    message: String,
    /// What the run will do: rate, calls, concurrency (the computed one when
    /// `max_concurrent` was left out), hold.
    target: RunTarget,
}

/// The load a run was given, as the engine will apply it.
#[derive(Serialize)]
struct RunTarget {
    rate_cps: f64,
    calls: Option<u64>,
    concurrency: u64,
    concurrency_needed: Option<u64>,
    hold_ms: Option<u64>,
}

pub(super) fn run(ctx: &Ctx, call: &mut Call<'_, '_>) -> Result<Reply, ApiError> {
    let body: RunBody = call.json()?;
    let d = parse_director(&body.director).map_err(|e| ApiError::field("director", e))?;
    if !body.rate.is_finite() || body.rate <= 0.0 {
        return Err(ApiError::field("rate", "must be a number > 0"));
    }
    if body.max_concurrent == Some(0) {
        return Err(ApiError::field(
            "max_concurrent",
            "must be > 0 (leave it out for the computed default)",
        ));
    }
    let name = super::job_request::name(&body.name)?;
    let notes = super::job_request::notes(&body.notes)?;
    super::job_request::check_thresholds(body.thresholds.as_deref(), "thresholds")?;
    for (field, v) in [
        ("sip_from", &body.sip_from),
        ("sip_pai", &body.sip_pai),
        ("sip_provider", &body.sip_provider),
    ] {
        if let Some(v) = v.as_deref().filter(|v| !v.is_empty()) {
            crate::service::resolve::check_identity_value(v)
                .map_err(|p| ApiError::field(field, p))?;
        }
    }
    if let Some(r) = body.health_min_success_ratio
        && !(0.0..=1.0).contains(&r)
    {
        return Err(ApiError::field(
            "health_min_success_ratio",
            "must be between 0 and 1",
        ));
    }
    let health = body.health_enabled.unwrap_or(DEFAULTS.health_enabled);
    let engine = EngineOverrides {
        remote_host: Some(d.host.clone()),
        remote_port: Some(d.port),
        rate: Some(body.rate),
        max_concurrent: body.max_concurrent,
        total_calls: Some(body.total_calls),
        global_timeout_ms: body.run_timeout_ms,
        sip_from: body.sip_from.clone().filter(|s| !s.is_empty()),
        sip_pai: body.sip_pai.clone().filter(|s| !s.is_empty()),
        sip_provider: body.sip_provider.clone().filter(|s| !s.is_empty()),
        service: d.user.clone(),
        health_min_success_ratio: health.then(|| {
            body.health_min_success_ratio
                .unwrap_or(DEFAULTS.health_min_success_ratio)
        }),
        health_max_failed_calls: health.then(|| {
            body.health_max_failed_calls
                .unwrap_or(DEFAULTS.health_max_failed_calls)
        }),
        call_duration_ms: body.call_duration_ms,
        thresholds: body.thresholds.clone().filter(|t| !t.is_empty()),
        ..Default::default()
    };
    let who = call.who()?.username.clone();
    let req = StartRequest {
        id: body.id.clone(),
        profile_id: WIZARD_PROFILE.into(),
        profile_kind: ProfileKind::Client,
        scenario_id: body
            .scenario_id
            .clone()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| DEFAULTS.scenario_id.into()),
        record_wav: body.record_wav,
        record_wav_duplex: body.record_wav_duplex,
        engine,
        tool_args: Default::default(),
        created_by: who,
        name,
        notes,
        // The wizard runs one worker; `POST /jobs` takes `workers`.
        workers: Default::default(),
        kubernetes: None,
        gateway_intent: None,
    };
    // The wizard profile must exist for the job to resolve.
    upsert_wizard(ctx, &d, &body)?;
    let scenario_id = req.scenario_id.clone();
    let pending = ctx.supervisor.prepare(&ctx.store, req)?;
    let target = run_target(super::job_request::check_load_test(&pending, &scenario_id)?);
    let job = ctx.supervisor.launch(pending)?;
    ctx.audit(
        call.who()?,
        "loadtest.run",
        &job.id,
        serde_json::json!({"director": body.director, "total_calls": body.total_calls, "rate": body.rate}),
    )?;
    let message = if job.status == JobStatus::Failed {
        format!("the load test could not start: {}", job.error)
    } else if body.total_calls == 0 {
        format!(
            "soak test started toward {}:{}; stop it with POST /api/v2/jobs/{}/stop",
            d.host, d.port, job.id
        )
    } else {
        format!(
            "load test of {} calls started toward {}:{}",
            body.total_calls, d.host, d.port
        )
    };
    Reply::json(
        202,
        &Accepted {
            job,
            is_async: true,
            message,
            target,
        },
    )
}

fn run_target(job: &gossipper_engine::config::JobSpec) -> RunTarget {
    let p = RunParams::of(job, 0, SystemTime::UNIX_EPOCH, 0);
    let rate = job.rate_cps();
    RunTarget {
        rate_cps: rate,
        calls: job.max_calls,
        concurrency: p.call_limit,
        concurrency_needed: Some(gossipper_engine::output::target::concurrency_needed(
            rate,
            job.default_pause_ms,
        )),
        hold_ms: Some(job.default_pause_ms),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(user: Option<&str>, host: &str, port: u16) -> Director {
        Director {
            user: user.map(str::to_string),
            host: host.into(),
            port,
        }
    }

    #[test]
    fn directors_in_every_accepted_form() {
        assert_eq!(
            parse_director("10.0.0.1").unwrap(),
            d(None, "10.0.0.1", 5060)
        );
        assert_eq!(
            parse_director("pbx.example.com:5080").unwrap(),
            d(None, "pbx.example.com", 5080)
        );
        assert_eq!(
            parse_director("sip:10.0.0.1").unwrap(),
            d(None, "10.0.0.1", 5060)
        );
        assert_eq!(
            parse_director("sip:bob@10.0.0.1:5062").unwrap(),
            d(Some("bob"), "10.0.0.1", 5062)
        );
        assert_eq!(
            parse_director("sip:+15550100@sbc;transport=udp").unwrap(),
            d(Some("+15550100"), "sbc", 5060)
        );
        assert_eq!(parse_director("[::1]:5070").unwrap(), d(None, "::1", 5070));
    }

    #[test]
    fn bad_directors_say_why() {
        for bad in [
            "",
            "sip:",
            "host:0",
            "host:99999",
            "host:x",
            "a b",
            "sip:@h",
            "[::1",
            "h/x",
            "sip:a b@h",
        ] {
            assert!(parse_director(bad).is_err(), "{bad}");
        }
    }
}
