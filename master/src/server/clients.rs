//! Dynamic clients of `gossipper server` (reference §5.13, `/api/v1/clients`): extra UAC
//! engines started and stopped over the API, in the server's process.
//!
//! Owns: the list of dynamic engines (id, control block, statistics), turning a
//! run-profile JSON snippet into a run (the flat keys of `-config`, through the same
//! flag scanner and resolver as the command line), and starting each on a thread of its
//! own (its shards on theirs, as any run); its SIP and finished calls go to the
//! server's live trace and catalogue (`feed`). Must not: touch the primary engine, or
//! write files: a dynamic client has no screen and no trace files, so the keys that ask for
//! them are refused by name instead of being ignored.
//!
//! A client runs until its `-m` calls are done or `DELETE ?id=` stops it (no new calls,
//! the calls in flight end normally); it is listed, with its statistics, until deleted.
//! When the server ends, every client is stopped so (`stop_all`), its calls given a few
//! seconds to end.

use std::io::Read as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use serde::Serialize;
use serde_json::Value;

use gossipper_engine::config::JobSpec;
use gossipper_engine::output::run_info::RunInfo;
use gossipper_engine::output::summary::Summary;
use gossipper_engine::runner::{self, RunError};
use gossipper_engine::scenario::Role;
use gossipper_engine::shard::Control;

use super::api::{State, error, json};
use super::config;
use super::feed::Snapshot;
use crate::service::http::{Incoming, Reply};
use crate::sipp::{self, Parsed};

/// The largest snippet read.
const MAX_SNIPPET: u64 = 64 << 10;
/// The most dynamic clients listed at once.
const MAX_CLIENTS: usize = 64;

/// Keys a snippet may not hold (reference §5.13): they describe a server, not a client.
const FORBIDDEN: &[&str] = &[
    "aliases",
    "workloads",
    "server",
    "clients",
    "client",
    "listeners",
    "api_addr",
    "api_token",
    "ui_data_dir",
    "legacy_api_v1",
    "auth",
];

/// The run-profile keys a dynamic client takes; the other keys `-config` takes ask for
/// files or gates a dynamic client does not have yet.
const TAKEN: &[&str] = &[
    "scenario_file",
    "scenario_name",
    "service",
    "transport",
    "local_ip",
    "local_port",
    "remote_addr",
    "auth_username",
    "auth_password",
    "rate",
    "max_concurrent",
    "total_calls",
    "users",
    "sip_from",
    "sip_pai",
    "sip_provider",
    "injection_file",
    "ip_field",
    "role",
];

/// One dynamic engine.
struct Dynamic {
    id: String,
    control: Arc<Control>,
    info: RunInfo,
    spec: JobSpec,
    live: Arc<Mutex<Snapshot>>,
    ended: Arc<AtomicBool>,
}

/// The dynamic engines.
#[derive(Default)]
pub(super) struct Clients {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    next: u64,
    engines: Vec<Dynamic>,
}

/// `POST /clients` → 201.
#[derive(Serialize)]
struct Created {
    id: String,
    started: bool,
}

/// One row of `GET /clients`.
#[derive(Serialize)]
struct Row {
    id: String,
    scenario: String,
    remote: String,
    rate: f64,
    paused: bool,
    running: bool,
}

#[derive(Serialize)]
struct List {
    clients: Vec<Row>,
}

/// One engine's rate and pause (`GET /control` with dynamic clients).
#[derive(Serialize)]
pub(super) struct EngineControl {
    pub(super) id: String,
    pub(super) rate: f64,
    pub(super) paused: bool,
}

impl Clients {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Each engine's summary as of its last tick.
    pub(super) fn summaries(&self) -> Vec<(String, Summary)> {
        self.lock()
            .engines
            .iter()
            .map(|e| (e.id.clone(), Snapshot::summary(&e.live, &e.info, &e.spec)))
            .collect()
    }

    /// The control block of engine `id`.
    pub(super) fn control(&self, id: &str) -> Option<Arc<Control>> {
        self.lock()
            .engines
            .iter()
            .find(|e| e.id == id)
            .map(|e| Arc::clone(&e.control))
    }

    /// Every engine's control block, in creation order.
    pub(super) fn controls(&self) -> Vec<(String, Arc<Control>)> {
        self.lock()
            .engines
            .iter()
            .map(|e| (e.id.clone(), Arc::clone(&e.control)))
            .collect()
    }

    /// Stops every client when the server ends: no new calls, then `grace` for the calls
    /// in flight to end; past it, the calls left are aborted (SIPp's abort messages),
    /// with one more second to send them.
    pub(super) fn stop_all(&self, grace: std::time::Duration) {
        let engines: Vec<(Arc<Control>, Arc<AtomicBool>)> = self
            .lock()
            .engines
            .iter()
            .map(|e| (Arc::clone(&e.control), Arc::clone(&e.ended)))
            .collect();
        if engines.is_empty() {
            return;
        }
        let all_ended = || engines.iter().all(|(_, d)| d.load(Ordering::Relaxed));
        let wait = |limit: std::time::Duration| {
            let step = std::time::Duration::from_millis(50);
            let mut waited = std::time::Duration::ZERO;
            while !all_ended() && waited < limit {
                std::thread::sleep(step);
                waited += step;
            }
        };
        for (c, _) in &engines {
            c.soft_quit();
        }
        wait(grace);
        for (c, _) in &engines {
            c.hard_quit();
        }
        wait(std::time::Duration::from_secs(1));
    }

    pub(super) fn is_empty(&self) -> bool {
        self.lock().engines.is_empty()
    }
}

/// `GET /api/v1/clients`.
pub(super) fn list(clients: &Clients) -> Reply {
    let rows = clients
        .lock()
        .engines
        .iter()
        .map(|e| Row {
            id: e.id.clone(),
            scenario: e.info.scenario_name.clone(),
            remote: e.spec.remote.map(|r| r.to_string()).unwrap_or_default(),
            rate: e.control.rate(),
            paused: e.control.paused(),
            running: !e.ended.load(Ordering::Relaxed),
        })
        .collect();
    json(200, &List { clients: rows })
}

/// `POST /api/v1/clients`: a run-profile snippet → 201 `{id, started:true}`, the engine
/// bound and running.
pub(super) fn create(state: &Arc<State>, inc: &mut Incoming<'_>) -> Reply {
    let body = match read_body(inc) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let spec = match spec_of(&body) {
        Ok(s) => s,
        Err(e) => return error(400, &e),
    };
    match start(state, None, spec) {
        Ok(id) => json(201, &Created { id, started: true }),
        Err((status, m)) => error(status, &m),
    }
}

/// Starts a client (`id`, else the next `client-N` free) of the server `state` (its
/// SIP and finished calls go to the server's trace and catalogue): its id, or the
/// status and reason of the refusal.
pub(super) fn start(
    state: &Arc<State>,
    id: Option<String>,
    mut spec: JobSpec,
) -> Result<String, (u16, String)> {
    let clients = state.clients();
    let id = {
        let mut inner = clients.lock();
        if inner.engines.len() >= MAX_CLIENTS {
            return Err((
                409,
                format!("{MAX_CLIENTS} dynamic clients already: delete one first"),
            ));
        }
        let taken = |inner: &Inner, id: &str| inner.engines.iter().any(|e| e.id == id);
        match id {
            Some(id) if taken(&inner, &id) => {
                return Err((409, format!("a client \"{id}\" is listed already")));
            }
            Some(id) => id,
            None => loop {
                // Taken even if the client does not start: an id is never given twice.
                inner.next += 1;
                let id = format!("client-{}", inner.next);
                if !taken(&inner, &id) {
                    break id;
                }
            },
        }
    };
    // Every engine of the process numbers its calls from 1 with the same pid and IP:
    // the client's id in its Call-IDs keeps two engines' calls apart at a shared peer.
    spec.cid_str = match spec.cid_str.split_once('@') {
        Some((before, after)) => format!("{before}-{id}@{after}"),
        None => format!("{}-{id}", spec.cid_str),
    };
    let prepared = match runner::prepare(&spec) {
        Ok(p) => p,
        Err(RunError::Refused(m)) => return Err((403, m)),
        Err(RunError::Bind(m)) => return Err((409, m)),
        Err(e) => return Err((400, e.to_string())),
    };
    if prepared.role != Role::Client {
        return Err((
            400,
            format!(
                "scenario \"{}\" answers calls (a UAS): a dynamic client must place them (a UAC scenario)",
                prepared.scenario.name
            ),
        ));
    }
    let spawned = super::feed::spawn(prepared, &spec, state, format!("v1-{id}"), "dynamic client");
    let super::feed::Spawned {
        info,
        live,
        control,
        ended,
    } = match spawned {
        Ok(s) => s,
        Err(e) => return Err((500, format!("cannot start the client's thread: {e}"))),
    };
    eprintln!(
        "gossipper server: dynamic client {id} started ({} toward {})",
        info.scenario_name,
        spec.remote.map(|r| r.to_string()).unwrap_or_default()
    );
    clients.lock().engines.push(Dynamic {
        id: id.clone(),
        control,
        info,
        spec,
        live,
        ended,
    });
    Ok(id)
}

/// `DELETE /api/v1/clients?id=ID`: no new calls; the calls in flight end normally.
pub(super) fn delete(clients: &Clients, query: &str) -> Reply {
    let mut id = None;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("id", v)) if !v.is_empty() => id = Some(v),
            _ => {
                return error(
                    400,
                    &format!("query \"{pair}\": only id=<client id> is taken"),
                );
            }
        }
    }
    let Some(id) = id else {
        return error(
            400,
            "give the client to stop: DELETE /api/v1/clients?id=<id>",
        );
    };
    let mut inner = clients.lock();
    let Some(i) = inner.engines.iter().position(|e| e.id == id) else {
        return error(404, &format!("no dynamic client \"{id}\""));
    };
    let e = inner.engines.remove(i);
    e.control.soft_quit();
    eprintln!("gossipper server: dynamic client {id} stopped");
    json(200, &serde_json::json!({"id": e.id, "stopped": true}))
}

fn read_body(inc: &mut Incoming<'_>) -> Result<Vec<u8>, Reply> {
    let big = || error(413, "the snippet is larger than 64 KiB");
    if inc.content_length.is_some_and(|n| n > MAX_SNIPPET) {
        return Err(big());
    }
    let mut body = Vec::new();
    inc.body
        .reader()
        .take(MAX_SNIPPET + 1)
        .read_to_end(&mut body)
        .map_err(|e| error(400, &format!("body: {e}")))?;
    if body.len() as u64 > MAX_SNIPPET {
        return Err(big());
    }
    Ok(body)
}

/// The run a snippet describes: a JSON object of run-profile keys, checked key by key
/// (forbidden, not taken, unknown: each refused by name), then the flags they stand for
/// resolved as the command line's. A dynamic client runs on one shard (it shares the
/// machine with the server's).
fn spec_of(body: &[u8]) -> Result<JobSpec, String> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| format!("invalid JSON body: {e}"))?;
    let Value::Object(map) = &value else {
        return Err("the body must be one JSON object of run-profile keys".into());
    };
    spec_of_map(map, std::path::Path::new(""))
}

/// The run of one snippet (`-config`'s `clients[]` entries too: relative paths from
/// `dir`, the file's folder).
pub(super) fn spec_of_map(
    map: &serde_json::Map<String, Value>,
    dir: &std::path::Path,
) -> Result<JobSpec, String> {
    if let Some(k) = map.keys().find(|k| FORBIDDEN.contains(&k.as_str())) {
        return Err(format!(
            "key \"{k}\" is forbidden in a dynamic client (forbidden: {})",
            FORBIDDEN.join(", ")
        ));
    }
    if let Some(k) = map.keys().find(|k| !TAKEN.contains(&k.as_str())) {
        return Err(format!(
            "key \"{k}\" is not taken by a dynamic client (a dynamic client writes no files and has no health gates; the keys taken: {})",
            TAKEN.join(", ")
        ));
    }
    if let Some(role) = map.get("role")
        && !matches!(role.as_str(), Some("client" | "uac" | "load"))
    {
        return Err(format!(
            "role: {role} is not a client role (a dynamic client is one: client, uac or load)"
        ));
    }
    if !map.contains_key("remote_addr") {
        return Err("key \"remote_addr\" is missing: a client needs a peer to call".into());
    }
    let flags = config::flags_of_object(map, dir)?;
    match sipp::parse(&flags) {
        Ok(Parsed::Run(spec)) => {
            let mut spec = *spec;
            spec.shards.get_or_insert(1);
            Ok(spec)
        }
        Ok(_) => Err("the snippet describes no run".into()),
        Err(e) => Err(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forbidden_and_untaken_keys_are_refused_by_name() {
        for key in FORBIDDEN {
            let body = format!(r#"{{"remote_addr":"127.0.0.1:5060","{key}":1}}"#);
            let e = spec_of(body.as_bytes()).unwrap_err();
            assert!(e.contains(&format!("\"{key}\" is forbidden")), "{e}");
        }
        let e = spec_of(br#"{"remote_addr":"127.0.0.1:5060","summary_json":"x"}"#).unwrap_err();
        assert!(e.contains("\"summary_json\" is not taken"), "{e}");
        let e = spec_of(br#"{"remote_addr":"127.0.0.1:5060","speed":3}"#).unwrap_err();
        assert!(e.contains("\"speed\""), "{e}");
        let e = spec_of(br#"{"remote_addr":"127.0.0.1:5060","role":"server"}"#).unwrap_err();
        assert!(e.starts_with("role:"), "{e}");
        let e = spec_of(br#"{"rate":3}"#).unwrap_err();
        assert!(e.contains("remote_addr"), "{e}");
        assert!(spec_of(b"[1]").is_err());
        assert!(spec_of(b"{").is_err());
        let e = spec_of(br#"{"remote_addr":"127.0.0.1:5060","rate":"fast"}"#).unwrap_err();
        assert!(e.contains("fast") || e.contains("-r"), "{e}");
    }

    #[test]
    fn a_snippet_becomes_a_one_shard_client_run() {
        let spec = spec_of(
            br#"{"remote_addr":"127.0.0.1:5070","scenario_name":"uac","rate":4,"total_calls":9}"#,
        )
        .unwrap();
        assert_eq!(spec.remote, Some("127.0.0.1:5070".parse().unwrap()));
        assert_eq!(spec.rate, 4.0);
        assert_eq!(spec.max_calls, Some(9));
        assert_eq!(spec.shards, Some(1));
    }
}
