//! The v1 control API of `gossipper server` (reference §5.13): health, stats, the
//! running scenario and its live replacement, and live control of rate and pause.
//!
//! Owns: the routing of the API listener (`/api/v1`, the server's own `/api/v2` routes,
//! the rest to `-ui_data_dir`'s service), the `/api/v1` routes, request bodies and the
//! JSON shapes (who may call them: `access`). Must not: lock or call into the shards: a
//! control change is two atomic stores in the run's control block, which every shard
//! reads once per loop turn (so it takes effect within one pacer tick); the statistics come from the snapshot the
//! runner merges every tick (`publish`), behind a lock only this thread and the runner's
//! tick take.
//!
//! The scenario routes are in `scenario`, the dynamic clients in `clients`, listeners
//! and clients on and off in `transports`, the live WebSocket in `live`.

use std::io::Read as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use gossipper_engine::config::JobSpec;
use gossipper_engine::output::run_info::RunInfo;
use gossipper_engine::output::summary;
use gossipper_engine::runner::Tick;
use gossipper_engine::scenario::Role;
use gossipper_engine::shard::Control;
use gossipper_engine::shard::capture::Captured;
use gossipper_engine::stats::ShardStats;

use crate::service::Service;
use crate::service::auth::Throttle;
use crate::service::http::{Incoming, Reply, error_body};
use crate::sipp::run::Started;

use super::access::{self, admit, admit_v2, audit};
use super::calls::Catalogue;
use super::cdr::Cdr;
use super::listeners::{self, Listener};
use super::trace::{RING, Ring};
use super::{clients, scenario, transports, v2};

/// The one engine's id (the Go gossipper's name for the primary engine).
pub(super) const ENGINE_ID: &str = "primary";
/// The largest control body read.
const MAX_CONTROL_BODY: u64 = 64 << 10;
/// The highest rate taken, in calls per second.
const MAX_RATE_CPS: f64 = 1_000_000.0;
/// How long the dynamic clients' calls may take to end when the server ends.
const CLIENTS_GRACE: Duration = Duration::from_secs(5);
/// How callers are let in, and which APIs are on.
pub(super) struct Access {
    /// `-api_token`: opens `/api/v1` (and, without a service, `/api/v2`).
    pub(super) token: Option<String>,
    /// `-ui_data_dir`: the master's `/api/v2`, console and users; its tokens open
    /// `/api/v1` and the server's own `/api/v2` routes.
    pub(super) service: Option<Service>,
    /// `-legacy_api_v1` (default true, false with `-ui_data_dir`): whether `/api/v1` is served.
    pub(super) legacy_api_v1: bool,
    /// `-ui_data_dir`'s `calls.sqlite`: every finished call as a row.
    pub(super) cdr: Option<Cdr>,
}

/// What the API serves, shared by its connection threads.
pub(super) struct State {
    token: Option<String>,
    service: Option<Service>,
    legacy_api_v1: bool,
    throttle: Throttle,
    control: Arc<Control>,
    role: Role,
    info: RunInfo,
    spec: JobSpec,
    scenario: scenario::Live,
    clients: clients::Clients,
    live: Mutex<Live>,
    /// The live SIP trace and the calls catalogue (`/api/v2`), filled every tick.
    ring: Mutex<Ring>,
    catalogue: Mutex<Catalogue>,
    /// Debug capture (`PUT /sip/trace/capture`'s `app` and `level:"debug"`): failed
    /// calls' debug records go in the ring while both are on.
    app_capture: AtomicBool,
    debug_level: AtomicBool,
    cdr: Option<Cdr>,
    /// The extra listeners of `-config` (set once, right after the state is made).
    listeners: std::sync::OnceLock<Vec<Listener>>,
}

/// The newest merged statistics.
struct Live {
    stats: ShardStats,
    shard_calls: Vec<u64>,
    at: SystemTime,
}

/// `GET /api/v1/control` (and the reply of `POST`).
#[derive(Serialize)]
struct ControlState {
    rate: f64,
    paused: bool,
}

/// `POST /api/v1/control`: every field optional; unknown fields are refused.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ControlPatch {
    rate: Option<f64>,
    paused: Option<bool>,
    pause: Option<bool>,
    resume: Option<bool>,
    engine_id: Option<String>,
    id: Option<String>,
}

#[derive(Serialize)]
struct Health {
    status: &'static str,
}

#[derive(Serialize)]
struct AuthStatus {
    auth: &'static str,
}

impl State {
    /// The API of the run that just started.
    pub(super) fn new(run: &Started<'_>, access: Access) -> Result<State, String> {
        let scenario = scenario::Live::new(&run.spec.scenario, run.scenario)?;
        // SIP capture is on by default (reference §5.5); PUT /api/v2/sip/trace/capture
        // turns it off.
        run.control.set_capturing(true);
        Ok(State {
            token: access.token,
            service: access.service,
            legacy_api_v1: access.legacy_api_v1,
            throttle: Throttle::new(access::throttle_limits()),
            control: Arc::clone(&run.control),
            role: run.scenario.role,
            info: run.info.clone(),
            spec: run.spec.clone(),
            scenario,
            clients: clients::Clients::default(),
            live: Mutex::new(Live {
                stats: run.info.empty_stats(),
                shard_calls: Vec::new(),
                at: run.info.run.start,
            }),
            ring: Mutex::new(Ring::default()),
            catalogue: Mutex::new(Catalogue::default()),
            app_capture: AtomicBool::new(false),
            debug_level: AtomicBool::new(false),
            cdr: access.cdr,
            listeners: std::sync::OnceLock::new(),
        })
    }

    /// Whether `-ui_data_dir` mounted the service.
    pub(super) fn has_service(&self) -> bool {
        self.service.is_some()
    }

    /// `-ui_data_dir`'s service.
    pub(super) fn service(&self) -> Option<&Service> {
        self.service.as_ref()
    }

    /// `-api_token`.
    pub(super) fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    /// Failed token checks per client address.
    pub(super) fn throttle(&self) -> &Throttle {
        &self.throttle
    }

    pub(super) fn control(&self) -> &Control {
        &self.control
    }

    pub(super) fn ring(&self) -> std::sync::MutexGuard<'_, Ring> {
        self.ring.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) fn catalogue(&self) -> std::sync::MutexGuard<'_, Catalogue> {
        self.catalogue.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) fn server(&self) -> transports::Server<'_> {
        transports::Server {
            role: self.role,
            transport: &self.info.run.transport,
            local_port: self.info.run.local_port,
            control: &self.control,
            clients: &self.clients,
            listeners: self.listeners(),
        }
    }

    fn engine(&self) -> scenario::Engine<'_> {
        scenario::Engine {
            spec: &self.spec,
            control: &self.control,
            live: &self.scenario,
            listeners: self.listeners(),
        }
    }

    /// The server is ending: stops the dynamic clients, then writes the call rows still
    /// queued for `calls.sqlite`.
    pub(super) fn close(&self) {
        self.clients.stop_all(CLIENTS_GRACE);
        listeners::stop_all(self.listeners(), CLIENTS_GRACE);
        if let Some(c) = &self.cdr {
            c.close();
        }
    }

    /// The extra listeners.
    pub(super) fn listeners(&self) -> &[Listener] {
        self.listeners.get().map_or(&[], Vec::as_slice)
    }

    /// Sets the extra listeners (once).
    pub(super) fn set_listeners(&self, l: Vec<Listener>) {
        let _ = self.listeners.set(l);
    }

    /// The clients started over the API or by `-config`.
    pub(super) fn clients(&self) -> &clients::Clients {
        &self.clients
    }

    /// SIP capture on or off, in every engine that feeds the trace.
    pub(super) fn set_capturing(&self, on: bool) {
        self.control.set_capturing(on);
        for l in self.listeners() {
            l.control.set_capturing(on);
        }
        for (_, c) in self.clients.controls() {
            c.set_capturing(on);
        }
    }

    /// Debug capture: `app` (`None`: unchanged) and the level (`Some(true)`: debug).
    pub(super) fn set_debug_capture(&self, app: Option<bool>, debug: Option<bool>) {
        if let Some(a) = app {
            self.app_capture.store(a, Ordering::Relaxed);
        }
        if let Some(d) = debug {
            self.debug_level.store(d, Ordering::Relaxed);
        }
    }

    /// (`app`, level is `debug`).
    pub(super) fn debug_capture(&self) -> (bool, bool) {
        (
            self.app_capture.load(Ordering::Relaxed),
            self.debug_level.load(Ordering::Relaxed),
        )
    }

    /// `calls.sqlite`, with `-ui_data_dir`.
    pub(super) fn cdr(&self) -> Option<&Cdr> {
        self.cdr.as_ref()
    }

    /// Takes the runner's newest merged statistics (runner thread, every tick).
    pub(super) fn publish(&self, tick: &Tick<'_>) {
        let mut live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        live.stats.clone_from(tick.stats);
        live.shard_calls.clear();
        live.shard_calls.extend_from_slice(tick.shard_calls);
        live.at = tick.wall;
        drop(live);
        self.record(tick, self.role, &self.scenario.name());
    }

    /// Puts a tick's captured SIP in the trace ring and its finished calls in the
    /// catalogue (every engine's ticks: the primary's, the extra listeners', the
    /// clients'; `role` and `name` are the engine's).
    pub(super) fn record(&self, tick: &Tick<'_>, role: Role, name: &str) {
        if !tick.captured.is_empty() {
            self.trace(tick.captured, name);
        }
        if !tick.finished.is_empty() && self.debug_capture() == (true, true) {
            self.debug(tick, name);
        }
        if !tick.finished.is_empty() {
            let rows =
                self.catalogue()
                    .add(tick.finished, role, name, tick.wall, self.cdr.is_some());
            if let Some(c) = &self.cdr {
                c.push(rows);
            }
        }
    }

    /// Puts the debug records of a tick's failed calls in the trace ring (debug capture
    /// on): one per failed call, at the tick's time.
    fn debug(&self, tick: &Tick<'_>, name: &str) {
        let mut ring = None;
        for f in tick.finished {
            let Some(line) = f.sip.as_deref().and_then(|s| s.failure.as_deref()) else {
                continue;
            };
            let ring = ring.get_or_insert_with(|| self.ring());
            ring.push_debug(tick.wall, &String::from_utf8_lossy(&f.call_id), line, name);
        }
    }

    /// Puts a tick's captured SIP in the trace ring.
    fn trace(&self, captured: &Captured, name: &str) {
        let mut ring = self.ring();
        // Only the newest RING messages of a tick can stay in the ring: the older ones
        // get their sequence numbers (a reader sees the gap) but are not copied.
        let skip = captured.len().saturating_sub(RING);
        ring.skip(skip as u64);
        for (m, bytes) in captured.iter().skip(skip) {
            ring.push(m, bytes, name);
        }
        ring.dropped += captured.dropped;
    }
}

/// The `/api/v2` routes the server answers itself (everything else under `/api/v2`
/// is the service's, when `-ui_data_dir` mounts it).
fn own_v2(route: &str) -> bool {
    route == "calls" || route.starts_with("calls/") || route.starts_with("sip/trace")
}

/// Answers one request: `/api/v1`, the server's own `/api/v2` routes (live trace,
/// calls), then, with `-ui_data_dir`, the service (the rest of `/api/v2`, the
/// console, `/healthz`, `/metrics`).
pub(super) fn dispatch(state: &Arc<State>, inc: &mut Incoming<'_>) -> Reply {
    if let Some(route) = inc.path.strip_prefix("/api/v1/") {
        if !state.legacy_api_v1 {
            return error(
                404,
                &format!(
                    "no route /api/v1/{route}: the v1 API is off (-legacy_api_v1=false, the default with -ui_data_dir; -legacy_api_v1=true turns it on); use /api/v2"
                ),
            );
        }
        return v1(state, inc, route);
    }
    if let Some(route) = inc.path.strip_prefix("/api/v2/")
        && own_v2(route)
    {
        // A browser opens the trace's WebSocket and its export by URL.
        let by_url = matches!(route, "sip/trace/ws" | "sip/trace/export");
        if let Some(refusal) = admit_v2(state, inc, by_url) {
            return refusal;
        }
        return v2::dispatch(state, inc, route);
    }
    if let Some(service) = &state.service {
        return service.dispatch(inc);
    }
    error(
        404,
        "not found: gossipper server serves /api/v1/*, /api/v2/sip/trace* and /api/v2/calls* (the rest of /api/v2 and the console need -ui_data_dir)",
    )
}

/// `/api/v1/{route}`.
fn v1(state: &Arc<State>, inc: &mut Incoming<'_>, route: &str) -> Reply {
    let method = inc.method;
    // The Go gossipper leaves these two open: a console asks them before it has a token.
    match (method, route) {
        ("GET", "auth/status") => {
            let auth = match (&state.service, &state.token) {
                (Some(s), _) if s.auth_enabled() => "internal",
                (_, Some(_)) => "token",
                _ => "none",
            };
            return json(200, &AuthStatus { auth });
        }
        ("POST", "auth/login") => {
            return match &state.service {
                // The same login as /api/v2/auth/login: same throttle, same audit.
                Some(s) => s.dispatch_as(inc, "/auth/login"),
                None => error(
                    404,
                    "internal auth is not enabled (gossipper server takes -api_token; users need -ui_data_dir)",
                ),
            };
        }
        _ => {}
    }
    let who = match admit(state, inc, route == "live", Instant::now()) {
        Ok(who) => who,
        Err(refusal) => return refusal,
    };
    let query = inc.query.to_string();
    let reply = match (method, route) {
        ("GET", "health") => json(200, &Health { status: "ok" }),
        ("GET", "stats") => stats(state),
        ("GET", "scenario") => json(200, &state.scenario.view()),
        ("GET", "control") => control_state(state),
        ("POST", "control") => post_control(state, inc),
        ("PUT", "scenario") => scenario::put(&state.engine(), inc),
        ("POST", "scenario/apply") => scenario::apply(&state.engine(), inc),
        ("GET", "transports") => transports::get(&state.server()),
        ("POST", "transports") => transports::post(&state.server(), inc),
        ("GET", "clients") => clients::list(&state.clients),
        ("POST", "clients") => clients::create(state, inc),
        ("DELETE", "clients") => clients::delete(&state.clients, inc.query),
        ("GET", "live") => super::live::live(state, inc),
        (
            _,
            "health" | "stats" | "scenario" | "control" | "scenario/apply" | "transports"
            | "clients" | "live" | "auth/status" | "auth/login",
        ) => error(405, &format!("{method} is not allowed on /api/v1/{route}")),
        _ => error(404, &format!("no route /api/v1/{route}")),
    };
    audit(state, who.as_ref(), method, route, &query, &reply);
    reply
}

/// `GET /api/v1/stats`: the run's summary (the `summary.json` shape) as of the last tick;
/// with dynamic clients or extra listeners, `{multi:true, engines:[{id, stats}],
/// dynamic_client_ids}` (the listeners' engines after the primary).
pub(super) fn stats(state: &State) -> Reply {
    let s = {
        let live = state.live.lock().unwrap_or_else(|p| p.into_inner());
        summary::of_run(
            &state.info,
            &state.spec,
            &live.stats,
            live.at,
            &live.shard_calls,
        )
    };
    let primary = summary::to_json(&s);
    if state.clients.is_empty() && state.listeners().is_empty() {
        return Reply::Json {
            status: 200,
            body: primary.into_bytes(),
        };
    }
    let as_value = |text: &str| serde_json::from_str::<Value>(text).unwrap_or(Value::Null);
    let mut engines = vec![json!({"id": ENGINE_ID, "stats": as_value(&primary)})];
    for l in state.listeners() {
        engines.push(json!({"id": l.id, "stats": as_value(&summary::to_json(&l.summary()))}));
    }
    let mut ids = Vec::new();
    for (id, sum) in state.clients.summaries() {
        engines.push(json!({"id": id, "stats": as_value(&summary::to_json(&sum))}));
        ids.push(id);
    }
    json(
        200,
        &json!({"multi": true, "engines": engines, "dynamic_client_ids": ids}),
    )
}

/// `GET /api/v1/control`: `{rate, paused}` for the one engine; with dynamic clients,
/// `{multi:true, engines:[{id, rate, paused}]}`.
pub(super) fn control_state(state: &State) -> Reply {
    if state.clients.is_empty() && state.listeners().is_empty() {
        return json(
            200,
            &ControlState {
                rate: state.control.rate(),
                paused: state.control.paused(),
            },
        );
    }
    let mut engines = vec![clients::EngineControl {
        id: ENGINE_ID.into(),
        rate: state.control.rate(),
        paused: state.control.paused(),
    }];
    for l in state.listeners() {
        engines.push(clients::EngineControl {
            id: l.id.clone(),
            rate: l.control.rate(),
            paused: l.control.paused(),
        });
    }
    for (id, c) in state.clients.controls() {
        engines.push(clients::EngineControl {
            id,
            rate: c.rate(),
            paused: c.paused(),
        });
    }
    json(200, &json!({"multi": true, "engines": engines}))
}

/// `POST /api/v1/control`: checks the whole body first, then changes rate and pause of
/// the engine named, or of every engine that places calls.
fn post_control(state: &State, inc: &mut Incoming<'_>) -> Reply {
    if inc.content_length.is_some_and(|n| n > MAX_CONTROL_BODY) {
        return error(413, "the control body is larger than 64 KiB");
    }
    let mut body = Vec::new();
    if let Err(e) = inc
        .body
        .reader()
        .take(MAX_CONTROL_BODY + 1)
        .read_to_end(&mut body)
    {
        return error(400, &format!("body: {e}"));
    }
    if body.len() as u64 > MAX_CONTROL_BODY {
        return error(413, "the control body is larger than 64 KiB");
    }
    let patch: ControlPatch = match serde_json::from_slice(&body) {
        Ok(p) => p,
        Err(e) => return error(400, &format!("invalid JSON body: {e}")),
    };
    let listener = |id: &str| state.listeners().iter().any(|l| l.id == id);
    let known = |id: &str| id == ENGINE_ID || listener(id) || state.clients.control(id).is_some();
    let change = match check(&patch, &known) {
        Ok(c) => c,
        Err(e) => return error(400, &e),
    };
    let server_refusal = || {
        error(
            409,
            &format!(
                "engine \"{ENGINE_ID}\" runs a server (UAS) scenario: it answers calls and places none, so rate and pause do not apply; steer the callers (a dynamic client), or run a client scenario"
            ),
        )
    };
    let targets: Vec<Arc<Control>> = match change.engine.as_deref() {
        Some(ENGINE_ID) if state.role == Role::Server => return server_refusal(),
        Some(id) if listener(id) => {
            return error(
                409,
                &format!(
                    "engine \"{id}\" is a listener: it answers calls and places none, so rate and pause do not apply"
                ),
            );
        }
        Some(ENGINE_ID) => vec![Arc::clone(&state.control)],
        Some(id) => state.clients.control(id).into_iter().collect(),
        None => {
            let mut all: Vec<Arc<Control>> = state
                .clients
                .controls()
                .into_iter()
                .map(|(_, c)| c)
                .collect();
            if state.role == Role::Client {
                all.insert(0, Arc::clone(&state.control));
            }
            if all.is_empty() {
                return server_refusal();
            }
            all
        }
    };
    if targets.is_empty() {
        return error(404, "the engine was deleted meanwhile");
    }
    if targets.iter().any(|c| c.quit_level() > 0) {
        return error(409, "the run is stopping");
    }
    for c in &targets {
        if let Some(rate) = change.rate {
            c.set_rate(rate);
        }
        if let Some(paused) = change.paused {
            c.set_paused(paused);
        }
    }
    control_state(state)
}

/// What a valid control body changes.
#[derive(Debug, PartialEq)]
struct Change {
    /// The engine named (`None`: all).
    engine: Option<String>,
    rate: Option<f64>,
    paused: Option<bool>,
}

/// Validates a control body: a known engine, a finite rate in range, pause wishes that
/// agree, and at least one change.
fn check(p: &ControlPatch, known: &dyn Fn(&str) -> bool) -> Result<Change, String> {
    for (field, id) in [("engine_id", &p.engine_id), ("id", &p.id)] {
        if let Some(id) = id
            && !known(id)
        {
            return Err(format!(
                "unknown {field} \"{id}\": the engines are \"{ENGINE_ID}\", the extra listeners and the dynamic clients (GET /api/v1/clients)"
            ));
        }
    }
    if let (Some(a), Some(b)) = (&p.engine_id, &p.id)
        && a != b
    {
        return Err(format!(
            "engine_id \"{a}\" and id \"{b}\" name different engines"
        ));
    }
    if let Some(r) = p.rate
        && !(r.is_finite() && (0.0..=MAX_RATE_CPS).contains(&r))
    {
        return Err(format!(
            "rate {r} is not a number of calls per second from 0 to {MAX_RATE_CPS}"
        ));
    }
    let wishes = [
        ("paused", p.paused),
        ("pause", p.pause),
        ("resume", p.resume.map(|r| !r)),
    ];
    let mut paused: Option<(&str, bool)> = None;
    for (field, wish) in wishes {
        let Some(w) = wish else { continue };
        match paused {
            Some((other, v)) if v != w => {
                return Err(format!("{field} contradicts {other}"));
            }
            _ => paused = Some((field, w)),
        }
    }
    if p.rate.is_none() && paused.is_none() {
        return Err("nothing to change: give rate, paused, pause or resume".into());
    }
    Ok(Change {
        engine: p.engine_id.clone().or_else(|| p.id.clone()),
        rate: p.rate,
        paused: paused.map(|(_, v)| v),
    })
}

pub(super) fn json<T: Serialize>(status: u16, value: &T) -> Reply {
    match serde_json::to_vec(value) {
        Ok(body) => Reply::Json { status, body },
        Err(_) => error(500, "internal error: reply not encodable"),
    }
}

pub(super) fn error(status: u16, text: &str) -> Reply {
    Reply::Json {
        status,
        body: error_body(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn patch(json: &str) -> Result<Change, String> {
        let p: ControlPatch = serde_json::from_str(json).map_err(|e| e.to_string())?;
        check(&p, &|id| id == ENGINE_ID)
    }

    #[test]
    fn control_bodies_that_change_something_are_taken() {
        assert_eq!(
            patch(r#"{"rate":12.5}"#).unwrap(),
            Change {
                engine: None,
                rate: Some(12.5),
                paused: None
            }
        );
        assert_eq!(patch(r#"{"pause":true}"#).unwrap().paused, Some(true));
        assert_eq!(patch(r#"{"resume":true}"#).unwrap().paused, Some(false));
        assert_eq!(
            patch(r#"{"paused":false,"resume":true,"engine_id":"primary"}"#)
                .unwrap()
                .paused,
            Some(false)
        );
    }

    #[test]
    fn bad_control_bodies_are_refused() {
        for bad in [
            r#"{}"#,
            r#"{"rate":-1}"#,
            r#"{"rate":1e9}"#,
            r#"{"rate":"fast"}"#,
            r#"{"pause":true,"resume":true}"#,
            r#"{"paused":true,"pause":false}"#,
            r#"{"rate":1,"engine_id":"side"}"#,
            r#"{"rate":1,"id":"x"}"#,
            r#"{"rate":1,"speed":2}"#,
            r#"{"rate":1"#,
        ] {
            assert!(patch(bad).is_err(), "{bad}");
        }
    }
}
