//! Resolves a job once: a start request (a profile, a scenario, the engine overrides, or
//! a tool and its arguments) becomes the job's spec file (`job::spec::JobFile`), which
//! the master checks and writes into the job's folder and the worker runs as it is.
//!
//! Owns: the mapping from profiles and overrides to engine settings (profile, then
//! scenario, then the overrides, gossipper-reference.md §5.7), the expansion of a stored
//! scenario's `[[media:…]]` names, the seed, the report's title and facts, and every
//! reason a job cannot be resolved (unknown profile or scenario, a missing media asset, a
//! value that makes no sense). The job's file rule is set here: it reads only its media
//! library and its own folder (`files::FileAccess::Confined`), whatever the scenario or
//! the profile names, and it never runs shell commands. Reads profiles and scenarios
//! through the store, once. Must not: bind sockets, run the engine, or write (the
//! supervisor checks and writes the spec; the worker runs it).

pub(crate) mod gateway;
mod invite_media;
mod media_refs;
pub(crate) mod request;
mod tool_runs;
pub(crate) mod tools;

pub(crate) use invite_media::{IDS as LOAD_SCENARIOS, check_identity_value, name_addr};

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};

use gossipper_engine::config::{JobSpec, ScenarioSource, TransportMode};
use gossipper_engine::files::{FileAccess, JobRoots};
use gossipper_engine::media::{RecordCalls, SrtpPolicy};
use gossipper_engine::scenario::builtin;
use gossipper_engine::stats::thresholds;
use gossipper_media::webrtc::{IceSettings, check_ice_settings};

use crate::job::files;
use crate::job::spec::{About, JobFile, Listener, Run, Workers};
use crate::service::paths::{Layout, Place};
use crate::service::store::files as store_files;
use crate::service::store::jobs::ProfileKind;
use crate::service::store::profiles::{ClientProfile, ServerProfile, TransportSpec};
use crate::service::store::{Store, StoreError};
use invite_media::Identity;
use media_refs::{MediaRefError, MediaRefKind};
use request::{EngineOverrides, StartRequest};
use tools::ToolError;

/// Why a job cannot be resolved.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ResolveError {
    #[error("{kind} profile \"{id}\" not found")]
    ProfileNotFound { kind: &'static str, id: String },
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("scenario \"{0}\" is neither a stored scenario nor a built-in")]
    UnknownScenario(String),
    #[error("scenario \"{id}\": {source}")]
    Media {
        id: String,
        #[source]
        source: MediaRefError,
    },
    #[error("{field}: {problem}")]
    BadValue { field: String, problem: String },
    #[error("{0}")]
    Unsupported(String),
    /// A request that cannot run as asked, refused (400) before any job exists.
    #[error("{field}: {problem}")]
    Refused { field: String, problem: String },
    #[error(transparent)]
    Tool(#[from] ToolError),
}

/// Where a job lives: its id and its folder (`artifacts/jobs/<id>/`).
#[derive(Debug, Clone)]
pub(crate) struct JobPlace {
    pub(crate) id: String,
    pub(crate) artifacts_dir: PathBuf,
}

/// Resolves `req` as job `place` into its spec file; `seed` is the run's seed unless the
/// overrides name one.
pub(crate) fn resolve(
    store: &Store,
    req: &StartRequest,
    place: &JobPlace,
    seed: u64,
) -> Result<JobFile, ResolveError> {
    let mut listeners = Vec::new();
    let (about, run) = if req.profile_kind == ProfileKind::Tool {
        let job_exists = |id: &str| {
            matches!(
                store.db.read(|c| crate::service::store::jobs::by_id(c, id)),
                Ok(Some(_))
            )
        };
        let (title, tool) = tools::resolve(
            &req.profile_id,
            &req.tool_args,
            &store.layout,
            &place.id,
            &job_exists,
        )?;
        let about = About {
            title,
            ..About::default()
        };
        (about, Run::Tool(tool))
    } else {
        let (job, scenario_id) = engine(store, req, place, seed)?;
        listeners = server_listeners(store, req, &job)?;
        let about = About {
            title: format!(
                "gossipper job {} — {} {scenario_id}",
                place.id,
                req.profile_kind.as_str()
            ),
            name: req.name.clone(),
            notes: req.notes.clone(),
            profile_kind: req.profile_kind.as_str().into(),
            scenario_id,
        };
        (about, Run::Engine(Box::new(job)))
    };
    let mut file = JobFile::new(&place.id, &place.artifacts_dir, about, run);
    if !listeners.is_empty() {
        file.workers = Workers {
            count: u32::try_from(listeners.len()).unwrap_or(u32::MAX),
            listeners,
            ..Workers::default()
        };
    }
    Ok(file)
}

/// A server profile's listeners when it has several enabled SIP rows (none otherwise):
/// `job` (resolved on the first row) with each row's signalling settings. The job then
/// runs one worker per listener, each the whole run (`worker::fanout`).
fn server_listeners(
    store: &Store,
    req: &StartRequest,
    job: &JobSpec,
) -> Result<Vec<Listener>, ResolveError> {
    if req.profile_kind != ProfileKind::Server {
        return Ok(Vec::new());
    }
    let Some(p) = store.servers.get(&req.profile_id) else {
        return Ok(Vec::new());
    };
    let rows: Vec<(usize, &TransportSpec)> = p
        .transports
        .iter()
        .enumerate()
        .filter(|(_, r)| r.enabled && r.transport != "webrtc")
        .collect();
    if rows.len() < 2 {
        return Ok(Vec::new());
    }
    if let Some((i, _)) = p
        .transports
        .iter()
        .enumerate()
        .find(|(_, r)| r.enabled && r.transport == "webrtc")
    {
        return Err(ResolveError::Unsupported(format!(
            "transports[{i}].enabled: a webrtc row next to several SIP listeners is not supported (keep one SIP row)"
        )));
    }
    let o = &req.engine;
    for (field, set) in [
        ("engine.transport", o.transport.is_some()),
        ("engine.local_ip", o.local_ip.is_some()),
        ("engine.local_port", o.local_port.is_some()),
    ] {
        if set {
            return Err(ResolveError::Refused {
                field: field.into(),
                problem: "the profile has several listeners; each takes its transport and address from its row".into(),
            });
        }
    }
    let mut out = Vec::with_capacity(rows.len());
    for (i, row) in rows {
        let mut j = job.clone();
        apply_row(&mut j, Some(row)).map_err(|e| match e {
            ResolveError::BadValue { field, problem } => bad(
                field.replace("transports.", &format!("transports[{i}].")),
                problem,
            ),
            other => other,
        })?;
        out.push(Listener::of(&j));
    }
    Ok(out)
}

fn bad(field: impl Into<String>, problem: impl Into<String>) -> ResolveError {
    ResolveError::BadValue {
        field: field.into(),
        problem: problem.into(),
    }
}

/// The profile's SIP row: the first enabled one that is not WebRTC.
fn sip_row(rows: &[TransportSpec]) -> Option<&TransportSpec> {
    rows.iter().find(|r| r.enabled && r.transport != "webrtc")
}

/// The profile's WebRTC row: the first enabled one.
fn webrtc_row(rows: &[TransportSpec]) -> Option<&TransportSpec> {
    rows.iter().find(|r| r.enabled && r.transport == "webrtc")
}

/// Applies the profile's rows: the SIP row carries the signalling; a `webrtc` row makes
/// the job a WebRTC one (its calls' media: ICE servers, `prefers_pcma`, the address the
/// call sockets bind to). A `webrtc` row alone signals over UDP on its own address and
/// port. Returns whether the job is a WebRTC one.
fn apply_rows(
    job: &mut JobSpec,
    rows: &[TransportSpec],
    listeners: bool,
) -> Result<bool, ResolveError> {
    // A client profile saved before the one-row check: refused here too, never half-run.
    if !listeners
        && let Some(second) = rows
            .iter()
            .enumerate()
            .filter(|(_, r)| r.enabled && r.transport != "webrtc")
            .nth(1)
    {
        return Err(ResolveError::Unsupported(format!(
            "transports[{}].enabled: a client profile places its calls from one SIP row; several enabled SIP rows are not supported",
            second.0
        )));
    }
    let w = webrtc_row(rows);
    match (sip_row(rows), w) {
        (Some(sip), _) => apply_row(job, Some(sip))?,
        (None, Some(w)) => {
            job.transport = TransportMode::UdpShared;
            job.local_ip = parse_ip("transports.local_ip", &w.local_ip)?;
            job.local_port = (w.local_port != 0).then_some(w.local_port);
        }
        (None, None) => {}
    }
    let Some(w) = w else {
        return Ok(false);
    };
    let relay_only = match w.ice_transport_policy.as_str() {
        "" | "all" => false,
        "relay" => true,
        other => {
            return Err(ResolveError::Unsupported(format!(
                "transports.ice_transport_policy: \"{other}\": expected all or relay"
            )));
        }
    };
    check_ice_settings(&IceSettings {
        urls: &w.ice_servers,
        username: &w.ice_username,
        credential: &w.ice_credential,
        auth_secret: &w.ice_auth_secret,
        relay_only,
    })
    .map_err(|(field, m)| ResolveError::Unsupported(format!("transports.{field}: {m}")))?;
    job.webrtc.enabled = true;
    job.webrtc.ice_servers.clone_from(&w.ice_servers);
    job.webrtc.ice_username.clone_from(&w.ice_username);
    job.webrtc.ice_credential.clone_from(&w.ice_credential);
    job.webrtc.ice_auth_secret.clone_from(&w.ice_auth_secret);
    if w.ice_auth_ttl_sec != 0 {
        job.webrtc.ice_auth_ttl_sec = w.ice_auth_ttl_sec;
    }
    job.webrtc.relay_only = relay_only;
    job.webrtc.prefers_pcma = w.prefers_pcma;
    job.media_ip = parse_ip("transports.local_ip", &w.local_ip)?;
    Ok(true)
}

fn parse_ip(field: &str, v: &str) -> Result<Option<IpAddr>, ResolveError> {
    if v.is_empty() {
        return Ok(None);
    }
    let ip: IpAddr = v
        .parse()
        .map_err(|_| bad(field, format!("\"{v}\" is not an IP address")))?;
    // The wildcard means "any interface": let the engine pick the address it advertises.
    Ok((!ip.is_unspecified()).then_some(ip))
}

fn resolve_host(host: &str, port: u16) -> Result<SocketAddr, ResolveError> {
    let addrs: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|e| bad("remote_host", format!("cannot resolve \"{host}\": {e}")))?
        .collect();
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or(addrs.first())
        .copied()
        .ok_or_else(|| bad("remote_host", format!("\"{host}\" has no address")))
}

fn apply_row(job: &mut JobSpec, row: Option<&TransportSpec>) -> Result<(), ResolveError> {
    let Some(row) = row else { return Ok(()) };
    job.transport = TransportMode::parse(&row.transport).ok_or_else(|| {
        bad(
            "transports.transport",
            format!("unknown transport \"{}\"", row.transport),
        )
    })?;
    job.local_ip = parse_ip("transports.local_ip", &row.local_ip)?;
    job.local_port = (row.local_port != 0).then_some(row.local_port);
    if !row.ws_path.is_empty() {
        job.ws_path = Some(row.ws_path.clone());
    }
    if !row.tls_cert_file.is_empty() {
        job.tls_cert = Some(PathBuf::from(&row.tls_cert_file));
    }
    if !row.tls_key_file.is_empty() {
        job.tls_key = Some(PathBuf::from(&row.tls_key_file));
    }
    Ok(())
}

/// Where the scenario text comes from, with `[[media:…]]` expanded for stored ones (to
/// `media/wav/NAME.wav` or `media/pcap/NAME.pcap`, names the job's file rule reads from
/// the media library).
fn scenario_source(
    store: &Store,
    id: &str,
    ident: &Identity,
) -> Result<ScenarioSource, ResolveError> {
    let layout = &store.layout;
    // The file, not the store's index: a scenario put on disk by hand is run too (and
    // checked like every other).
    let stored = layout
        .path(Place::ScenarioXml(id))
        .map_err(|e| bad("scenario_id", e.to_string()))?;
    if let Some(bytes) = store_files::read_optional(&stored)? {
        let text = String::from_utf8_lossy(&bytes);
        let mut found: HashMap<(MediaRefKind, String), Option<PathBuf>> = HashMap::new();
        let expanded = media_refs::expand(&text, |kind, name| {
            found
                .entry((kind, name.to_string()))
                .or_insert_with(|| media_path(layout, kind, name))
                .clone()
        })
        .map_err(|source| ResolveError::Media {
            id: id.to_string(),
            source,
        })?;
        return Ok(ScenarioSource::Xml {
            name: format!("{id}.xml"),
            text: expanded.into_bytes(),
        });
    }
    if let Some(xml) = invite_media::xml(id, ident) {
        return Ok(ScenarioSource::Xml {
            name: format!("{id}.xml"),
            text: xml.into_bytes(),
        });
    }
    if builtin::get(id).is_some() {
        return Ok(ScenarioSource::Builtin(id.to_string()));
    }
    Err(ResolveError::UnknownScenario(id.to_string()))
}

/// The job-relative name of a library asset (`media/wav/NAME.wav`), if it exists (`ring`
/// and `ring.wav` both work).
fn media_path(layout: &Layout, kind: MediaRefKind, name: &str) -> Option<PathBuf> {
    let (dir, ext) = match kind {
        MediaRefKind::Wav => ("media/wav", ".wav"),
        MediaRefKind::Pcap => ("media/pcap", ".pcap"),
    };
    let name = name
        .strip_suffix(ext)
        .filter(|s| !s.is_empty())
        .unwrap_or(name);
    let place = match kind {
        MediaRefKind::Wav => Place::Wav(name),
        MediaRefKind::Pcap => Place::Pcap(name),
    };
    if !layout.path(place).ok()?.is_file() {
        return None;
    }
    Some(Path::new(dir).join(format!("{name}{ext}")))
}

fn identity(o: &EngineOverrides) -> Result<Identity, ResolveError> {
    let check = |field: &str, v: &Option<String>| -> Result<Option<String>, ResolveError> {
        match v.as_deref() {
            None | Some("") => Ok(None),
            Some(s) => check_identity_value(s)
                .map(|()| Some(s.to_string()))
                .map_err(|p| bad(field, p)),
        }
    };
    Ok(Identity {
        from: check("engine.sip_from", &o.sip_from)?,
        pai: check("engine.sip_pai", &o.sip_pai)?,
        provider: check("engine.sip_provider", &o.sip_provider)?,
    })
}

/// Applies the overrides, last (§5.7 step 7).
fn apply_overrides(
    job: &mut JobSpec,
    o: &EngineOverrides,
    ident: &Identity,
) -> Result<(), ResolveError> {
    if let Some(t) = &o.transport {
        job.transport = TransportMode::parse(t)
            .ok_or_else(|| bad("engine.transport", format!("unknown transport \"{t}\"")))?;
    }
    if let Some(ip) = &o.local_ip {
        job.local_ip = parse_ip("engine.local_ip", ip)?;
    }
    if let Some(p) = o.local_port {
        job.local_port = (p != 0).then_some(p);
    }
    if let Some(r) = o.rate {
        if !r.is_finite() || r <= 0.0 {
            return Err(bad("engine.rate", "must be a number > 0"));
        }
        job.rate = r;
    }
    if let Some(m) = o.max_concurrent {
        job.call_limit = (m != 0).then_some(m);
    }
    if let Some(n) = o.total_calls {
        job.max_calls = (n != 0).then_some(n);
    }
    if let Some(t) = o.global_timeout_ms {
        job.global_timeout_ms = (t != 0).then_some(t);
    }
    if let Some(r) = o.health_min_success_ratio {
        if !(0.0..=1.0).contains(&r) {
            return Err(bad(
                "engine.health_min_success_ratio",
                "must be between 0 and 1",
            ));
        }
        job.health.min_success_ratio = Some(r);
    }
    if let Some(n) = o.health_max_failed_calls {
        job.health.max_failed_calls = Some(n);
    }
    if let Some(n) = o.health_max_timeouts {
        job.health.max_timeouts = Some(n);
    }
    if let Some(u) = o.auth_username.as_ref().filter(|s| !s.is_empty()) {
        job.auth_username = Some(u.clone());
    }
    if let Some(p) = o.auth_password.as_ref().filter(|s| !s.is_empty()) {
        job.auth_password = Some(p.clone());
    }
    if let Some(s) = o.service.as_ref().filter(|s| !s.is_empty()) {
        if s.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(bad(
                "engine.service",
                "must not contain spaces or control characters",
            ));
        }
        job.service = s.clone();
    }
    if let Some(d) = o.call_duration_ms {
        job.default_pause_ms = d;
    }
    if let Some(n) = o.shards {
        if !(1..=64).contains(&n) {
            return Err(bad("engine.shards", "must be between 1 and 64"));
        }
        job.shards = Some(n);
    }
    if let Some(s) = o.seed {
        job.seed = s;
    }
    for (i, text) in o.thresholds.iter().flatten().enumerate() {
        let parsed = thresholds::parse_list(text)
            .map_err(|e| bad(format!("engine.thresholds[{i}]"), e.to_string()))?;
        job.thresholds.extend(parsed);
    }
    // Identity headers also reach stored scenarios as -key values: [sip_from], [sip_pai],
    // [sip_provider].
    for (k, v) in [
        ("sip_from", &ident.from),
        ("sip_pai", &ident.pai),
        ("sip_provider", &ident.provider),
    ] {
        if let Some(v) = v {
            job.keys.push((k.to_string(), v.clone()));
        }
    }
    Ok(())
}

/// The engine settings of a server or client job, and the scenario id it runs. `seed`
/// is used when the overrides name none.
fn engine(
    store: &Store,
    spec: &StartRequest,
    place: &JobPlace,
    seed: u64,
) -> Result<(JobSpec, String), ResolveError> {
    let o = &spec.engine;
    let ident = identity(o)?;
    let mut job = JobSpec {
        seed,
        file_access: FileAccess::Confined(JobRoots {
            data_dir: store.layout.root().to_path_buf(),
            job_dir: place.artifacts_dir.clone(),
        }),
        ..JobSpec::default()
    };
    let not_found = |kind: &'static str| ResolveError::ProfileNotFound {
        kind,
        id: spec.profile_id.clone(),
    };
    let (default_scenario, scenario_ref) = match spec.profile_kind {
        ProfileKind::Server => {
            let p: ServerProfile = store
                .servers
                .get(&spec.profile_id)
                .ok_or_else(|| not_found("server"))?;
            let webrtc = apply_rows(&mut job, &p.transports, true)?;
            if p.max_concurrent > 0 {
                job.call_limit = Some(u64::from(p.max_concurrent));
            }
            (if webrtc { "webrtc_uas" } else { "uas" }, p.scenario_ref)
        }
        ProfileKind::Client => {
            let p: ClientProfile = store
                .clients
                .get(&spec.profile_id)
                .ok_or_else(|| not_found("client"))?;
            let webrtc = apply_rows(&mut job, &p.transports, false)?;
            if p.rate > 0.0 {
                job.rate = p.rate;
            }
            if p.max_concurrent > 0 {
                job.call_limit = Some(u64::from(p.max_concurrent));
            }
            if p.duration_ms > 0 {
                job.global_timeout_ms = Some(p.duration_ms);
            }
            let host = o
                .remote_host
                .clone()
                .filter(|h| !h.is_empty())
                .unwrap_or(p.remote_ip);
            let port = o
                .remote_port
                .filter(|p| *p != 0)
                .unwrap_or(if p.remote_port != 0 {
                    p.remote_port
                } else {
                    5060
                });
            if host.is_empty() {
                return Err(bad(
                    "remote_ip",
                    "the client profile names no remote host; set remote_ip or pass engine.remote_host",
                ));
            }
            job.remote = Some(resolve_host(&host, port)?);
            job.remote_host = Some(host);
            (if webrtc { "webrtc_uac" } else { "uac" }, p.scenario_ref)
        }
        ProfileKind::Gateway => {
            let p = store
                .gateways
                .get(&spec.profile_id)
                .ok_or_else(|| not_found("gateway"))?;
            if spec.scenario_id.is_empty() {
                return Err(bad("scenario_id", "a gateway job needs a scenario"));
            }
            let source = scenario_source(store, &spec.scenario_id, &ident)?;
            gateway::apply(&mut job, &p, &source, spec.gateway_intent)?;
            ("uas", String::new())
        }
        ProfileKind::Tool => {
            return Err(bad("profile_kind", "a tool job runs no scenario"));
        }
    };
    let scenario_id = [spec.scenario_id.as_str(), scenario_ref.as_str()]
        .into_iter()
        .find(|s| !s.is_empty())
        .unwrap_or(default_scenario)
        .to_string();
    job.scenario = scenario_source(store, &scenario_id, &ident)?;
    // A built-in is known here; a stored scenario is checked when the job is (the
    // engine refuses a webrtc job whose scenario is not a WebRTC one, naming it).
    if let ScenarioSource::Builtin(id) = &job.scenario
        && job.webrtc.enabled
        && !id.starts_with("webrtc_")
    {
        return Err(bad(
            "scenario_id",
            format!(
                "the profile has a webrtc transport, but built-in \"{id}\" is not a WebRTC scenario (use webrtc_uac or webrtc_uas)"
            ),
        ));
    }
    // The load-test variants' own settings (see `invite_media`); the job's overrides
    // below still win for the hold time.
    if invite_media::needs_srtp(&scenario_id) {
        job.media_srtp = SrtpPolicy::Sdes;
    }
    if scenario_id == "invite_media_scale" {
        job.default_pause_ms = invite_media::SCALE_HOLD_MS;
    }
    apply_overrides(&mut job, o, &ident)?;
    // record_wav / record_wav_duplex: every call's audio into the job's recordings folder.
    job.record_calls = match (spec.record_wav_duplex, spec.record_wav) {
        (true, _) => RecordCalls::Duplex,
        (false, true) => RecordCalls::Mono,
        (false, false) => RecordCalls::Off,
    };
    if job.record_calls != RecordCalls::Off {
        job.record_dir = Some(place.artifacts_dir.join(files::RECORDINGS));
    }
    // A server job given no remote stays a UAS; a client override of the remote applies
    // only to clients (handled above).
    Ok((job, scenario_id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::store::files::testdir::TestDir;
    use crate::service::store::scenarios::{Save, ScenarioMeta};

    /// A data dir with its store; profiles and scenarios go in through the store.
    struct Fix {
        dir: TestDir,
        store: Store,
    }

    /// What `engine` resolved.
    #[derive(Debug)]
    struct Built {
        job: JobSpec,
        scenario_id: String,
    }

    impl Fix {
        fn new(tag: &str) -> Fix {
            let dir = TestDir::new(tag);
            let store = Store::open(dir.layout.clone(), 5).unwrap();
            Fix { dir, store }
        }

        fn server(&self, p: &ServerProfile) {
            self.store.servers.create(p.clone(), "t").unwrap();
        }

        fn client(&self, p: &ClientProfile) {
            self.store.clients.create(p.clone(), "t").unwrap();
        }

        fn artifacts(&self) -> PathBuf {
            self.dir.layout.root().join("artifacts/jobs/j1")
        }

        fn build(&self, req: &StartRequest, seed: u64) -> Result<Built, ResolveError> {
            let place = JobPlace {
                id: "j1".into(),
                artifacts_dir: self.artifacts(),
            };
            let (job, scenario_id) = engine(&self.store, req, &place, seed)?;
            Ok(Built { job, scenario_id })
        }
    }

    fn spec(_: &Fix, kind: &str, profile: &str) -> StartRequest {
        StartRequest {
            profile_id: profile.into(),
            profile_kind: ProfileKind::parse(kind).expect("a profile kind"),
            ..StartRequest::default()
        }
    }

    fn row(transport: &str, ip: &str, port: u16) -> TransportSpec {
        TransportSpec {
            transport: transport.into(),
            local_ip: ip.into(),
            local_port: port,
            enabled: true,
            ..Default::default()
        }
    }

    #[test]
    fn a_server_profile_becomes_a_uas_on_its_address() {
        let t = Fix::new("cfg-server");
        let p = ServerProfile {
            id: "s1".into(),
            transports: vec![row("u1", "127.0.0.1", 5099)],
            ..Default::default()
        };
        t.server(&p);
        let b = t.build(&spec(&t, "server", "s1"), 7).unwrap();
        assert_eq!(b.scenario_id, "uas");
        assert_eq!(b.job.scenario, ScenarioSource::Builtin("uas".into()));
        assert_eq!(b.job.local_ip, Some("127.0.0.1".parse().unwrap()));
        assert_eq!(b.job.local_port, Some(5099));
        assert_eq!(b.job.seed, 7);
    }

    #[test]
    fn a_job_reads_only_its_own_roots_and_never_runs_shell_commands() {
        let t = Fix::new("cfg-files");
        let p = ServerProfile {
            id: "s1".into(),
            transports: vec![row("u1", "127.0.0.1", 5099)],
            ..Default::default()
        };
        t.server(&p);
        let s = spec(&t, "server", "s1");
        let b = t.build(&s, 1).unwrap();
        assert_eq!(
            b.job.file_access,
            FileAccess::Confined(JobRoots {
                data_dir: t.dir.layout.root().to_path_buf(),
                job_dir: t.artifacts(),
            })
        );
        // Only SIPp's -allow_exec sets it; a request has no such field.
        assert!(!b.job.allow_exec_command);
        let with_exec = r#"{"allow_exec_command":true}"#;
        assert!(serde_json::from_str::<EngineOverrides>(with_exec).is_err());
    }

    #[test]
    fn record_wav_records_every_call_into_the_jobs_recordings_folder() {
        let t = Fix::new("cfg-record");
        let p = ServerProfile {
            id: "s1".into(),
            transports: vec![row("u1", "127.0.0.1", 5099)],
            ..Default::default()
        };
        t.server(&p);
        let mut s = spec(&t, "server", "s1");
        let b = t.build(&s, 1).unwrap();
        assert_eq!(
            (b.job.record_calls, b.job.record_dir),
            (RecordCalls::Off, None)
        );
        s.record_wav = true;
        let b = t.build(&s, 1).unwrap();
        assert_eq!(b.job.record_calls, RecordCalls::Mono);
        assert_eq!(b.job.record_dir, Some(t.artifacts().join("recordings")));
        s.record_wav_duplex = true;
        assert_eq!(
            t.build(&s, 1).unwrap().job.record_calls,
            RecordCalls::Duplex
        );
    }

    #[test]
    fn a_client_profile_gets_remote_rate_and_overrides_last() {
        let t = Fix::new("cfg-client");
        let p = ClientProfile {
            id: "c1".into(),
            transports: vec![row("u1", "0.0.0.0", 0)],
            remote_ip: "127.0.0.1".into(),
            remote_port: 5099,
            rate: 50.0,
            max_concurrent: 10,
            duration_ms: 60_000,
            ..Default::default()
        };
        t.client(&p);
        let mut s = spec(&t, "client", "c1");
        s.engine.total_calls = Some(500);
        s.engine.rate = Some(200.0);
        s.engine.health_min_success_ratio = Some(0.9);
        s.engine.sip_pai = Some("sip:+1555@x".into());
        let b = t.build(&s, 1).unwrap();
        assert_eq!(b.scenario_id, "uac");
        assert_eq!(b.job.remote, Some("127.0.0.1:5099".parse().unwrap()));
        assert_eq!(b.job.local_ip, None, "0.0.0.0 lets the engine pick");
        assert_eq!(b.job.rate, 200.0);
        assert_eq!(b.job.call_limit, Some(10));
        assert_eq!(b.job.max_calls, Some(500));
        assert_eq!(b.job.global_timeout_ms, Some(60_000));
        assert_eq!(b.job.health.min_success_ratio, Some(0.9));
        assert!(
            b.job
                .keys
                .contains(&("sip_pai".into(), "sip:+1555@x".into()))
        );
    }

    #[test]
    fn what_cannot_run_is_an_error_before_any_call() {
        let t = Fix::new("cfg-bad");
        assert!(matches!(
            t.build(&spec(&t, "server", "nope"), 0),
            Err(ResolveError::ProfileNotFound { .. })
        ));
        let p = ClientProfile {
            id: "c1".into(),
            remote_ip: "127.0.0.1".into(),
            ..Default::default()
        };
        t.client(&p);
        let mut s = spec(&t, "client", "c1");
        s.scenario_id = "no-such-scenario".into();
        assert!(matches!(
            t.build(&s, 0),
            Err(ResolveError::UnknownScenario(_))
        ));
        let mut s = spec(&t, "client", "c1");
        s.engine.transport = Some("carrier-pigeon".into());
        assert!(matches!(t.build(&s, 0), Err(ResolveError::BadValue { .. })));
        let mut s = spec(&t, "client", "c1");
        s.engine.rate = Some(-1.0);
        assert!(matches!(t.build(&s, 0), Err(ResolveError::BadValue { .. })));
        let mut s = spec(&t, "client", "c1");
        s.engine.sip_from = Some("a\r\nb".into());
        assert!(matches!(t.build(&s, 0), Err(ResolveError::BadValue { .. })));
        let s = spec(&t, "gateway", "g");
        assert!(matches!(
            t.build(&s, 0),
            Err(ResolveError::ProfileNotFound {
                kind: "gateway",
                ..
            })
        ));
    }

    #[test]
    fn stored_scenarios_have_media_expanded_and_missing_media_fails() {
        let t = Fix::new("cfg-media");
        let p = ServerProfile {
            id: "s1".into(),
            scenario_ref: "mine".into(),
            ..Default::default()
        };
        t.server(&p);
        let meta = ScenarioMeta {
            id: "mine".into(),
            ..ScenarioMeta::default()
        };
        let xml = "<scenario>[[media:wav/ring]]</scenario>";
        let now = std::time::SystemTime::now();
        t.store.scenarios.save(meta, xml, now, Save::New).unwrap();
        let err = t.build(&spec(&t, "server", "s1"), 0).unwrap_err();
        assert!(matches!(err, ResolveError::Media { .. }), "{err}");
        let wav = t.dir.layout.path(Place::Wav("ring")).unwrap();
        std::fs::create_dir_all(wav.parent().unwrap()).unwrap();
        std::fs::write(&wav, b"RIFF").unwrap();
        let b = t.build(&spec(&t, "server", "s1"), 0).unwrap();
        match b.job.scenario {
            ScenarioSource::Xml { text, .. } => {
                let text = String::from_utf8(text).unwrap();
                assert_eq!(text, "<scenario>media/wav/ring.wav</scenario>");
            }
            other => panic!("{other:?}"),
        }
    }

    fn webrtc(ip: &str, port: u16, ice: &[&str], pcma: bool) -> TransportSpec {
        TransportSpec {
            ice_servers: ice.iter().map(|s| s.to_string()).collect(),
            prefers_pcma: pcma,
            ..row("webrtc", ip, port)
        }
    }

    #[test]
    fn a_webrtc_only_server_profile_answers_webrtc_calls_signalled_over_udp() {
        let t = Fix::new("cfg-webrtc");
        let p = ServerProfile {
            id: "s1".into(),
            transports: vec![webrtc("127.0.0.1", 5070, &["stun:127.0.0.1:3478"], true)],
            ..Default::default()
        };
        t.server(&p);
        let b = t.build(&spec(&t, "server", "s1"), 0).unwrap();
        assert_eq!(b.scenario_id, "webrtc_uas");
        assert_eq!(b.job.scenario, ScenarioSource::Builtin("webrtc_uas".into()));
        assert_eq!(b.job.transport, TransportMode::UdpShared);
        assert_eq!(b.job.local_port, Some(5070));
        assert_eq!(b.job.media_ip, Some("127.0.0.1".parse().unwrap()));
        let w = &b.job.webrtc;
        assert!(w.enabled && w.prefers_pcma);
        assert_eq!(w.ice_servers, ["stun:127.0.0.1:3478"]);
        assert!(!w.relay_only);
    }

    #[test]
    fn a_webrtc_row_with_turn_passes_its_credentials_and_policy_to_the_job() {
        let t = Fix::new("cfg-webrtc-turn");
        let p = ServerProfile {
            id: "s1".into(),
            transports: vec![TransportSpec {
                ice_username: "alice".into(),
                ice_credential: "pw".into(),
                ice_auth_secret: "k".into(),
                ice_auth_ttl_sec: 600,
                ice_transport_policy: "relay".into(),
                ..webrtc(
                    "127.0.0.1",
                    5070,
                    &["turn:127.0.0.1:3478?transport=udp"],
                    false,
                )
            }],
            ..Default::default()
        };
        t.server(&p);
        let b = t.build(&spec(&t, "server", "s1"), 0).unwrap();
        let w = &b.job.webrtc;
        assert_eq!(w.ice_servers, ["turn:127.0.0.1:3478?transport=udp"]);
        assert_eq!(
            (
                w.ice_username.as_str(),
                w.ice_credential.as_str(),
                w.ice_auth_secret.as_str()
            ),
            ("alice", "pw", "k")
        );
        assert_eq!((w.ice_auth_ttl_sec, w.relay_only), (600, true));
    }

    #[test]
    fn a_webrtc_row_next_to_a_sip_row_is_honoured() {
        let t = Fix::new("cfg-webrtc-sip");
        let p = ClientProfile {
            id: "c1".into(),
            remote_ip: "127.0.0.1".into(),
            transports: vec![row("t1", "127.0.0.1", 0), webrtc("", 0, &[], false)],
            ..Default::default()
        };
        t.client(&p);
        let b = t.build(&spec(&t, "client", "c1"), 0).unwrap();
        // Signalling from the SIP row, media from the webrtc row.
        assert_eq!(b.scenario_id, "webrtc_uac");
        assert_eq!(b.job.transport, TransportMode::parse("t1").unwrap());
        assert!(b.job.webrtc.enabled && !b.job.webrtc.prefers_pcma);
        // Without the webrtc row, the same profile runs classic calls.
        let p = ClientProfile {
            id: "c2".into(),
            remote_ip: "127.0.0.1".into(),
            transports: vec![row("t1", "127.0.0.1", 0)],
            ..Default::default()
        };
        t.client(&p);
        let b = t.build(&spec(&t, "client", "c2"), 0).unwrap();
        assert_eq!(b.scenario_id, "uac");
        assert!(!b.job.webrtc.enabled);
    }

    #[test]
    fn what_a_webrtc_row_cannot_do_yet_is_refused_naming_it() {
        let t = Fix::new("cfg-webrtc-refused");
        let turn = ServerProfile {
            id: "s1".into(),
            transports: vec![TransportSpec {
                ice_auth_secret: "k".into(),
                ..webrtc("", 0, &["turns:127.0.0.1:5349"], false)
            }],
            ..Default::default()
        };
        t.server(&turn);
        let err = t.build(&spec(&t, "server", "s1"), 0).unwrap_err();
        assert!(
            err.to_string()
                .contains("\"turns:127.0.0.1:5349\": turns: (TURN over TLS) is not supported"),
            "{err}"
        );
        let creds = ServerProfile {
            id: "s2".into(),
            transports: vec![TransportSpec {
                ice_username: "u".into(),
                ..webrtc("", 0, &[], false)
            }],
            ..Default::default()
        };
        t.server(&creds);
        let err = t.build(&spec(&t, "server", "s2"), 0).unwrap_err();
        assert!(err.to_string().contains("ice_username"), "{err}");
        let classic = ServerProfile {
            id: "s3".into(),
            scenario_ref: "uas".into(),
            transports: vec![webrtc("", 0, &[], false)],
            ..Default::default()
        };
        t.server(&classic);
        let err = t.build(&spec(&t, "server", "s3"), 0).unwrap_err();
        assert!(
            err.to_string().contains("\"uas\" is not a WebRTC scenario"),
            "{err}"
        );
    }
}
