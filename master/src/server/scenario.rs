//! The scenario routes of the v1 API (reference §5.13): `GET /scenario`, `PUT /scenario`
//! (`?apply=true`) and `POST /scenario/apply`, replacing the server's scenario while it
//! runs: the primary engine's and every extra `-config` listener's (they run the one
//! scenario of the server, each on its own transport).
//!
//! Owns: what the server runs now (its scenario and the view `GET` shows), reading and
//! checking a replacement, writing the `-sf` file. Must not: touch the shards: a checked
//! scenario goes to the run's control block (`Control::replace_scenario`), which every
//! shard reads once per loop turn; calls in flight finish on the scenario they started
//! on, new calls start on the new one, and `<init>` is not run again.
//!
//! A replacement is loaded exactly as a run's scenario is (`runner::load_replacement`:
//! the same loader, file rule and `-allow_exec`), must keep the running role (a UAS stays
//! a UAS: 409 otherwise), and may not bring media actions (the media library is loaded
//! once at start). Errors name the line and column (`request.xml:3:5: …`).

use std::io::{Read as _, Write as _};
use std::path::Path;
use std::sync::{Arc, Mutex};

use serde::Serialize;

use gossipper_engine::config::{JobSpec, ScenarioSource};
use gossipper_engine::runner::{self, RunError};
use gossipper_engine::scenario::{Role, Scenario, builtin};
use gossipper_engine::shard::Control;

use super::api::{error, json};
use crate::service::http::{Incoming, Reply};

/// The largest scenario taken or shown (the loader's own cap).
pub(super) const MAX_SCENARIO_BYTES: u64 = gossipper_engine::files::MAX_FILE_BYTES;
/// The name errors in a scenario sent in a request body are placed in.
const BODY_NAME: &str = "request.xml";

/// `GET /api/v1/scenario`.
#[derive(Clone, Serialize)]
pub(super) struct ScenarioView {
    scenario_file: String,
    scenario_name: String,
    xml: String,
    builtin: bool,
}

/// The reply of `PUT ?apply=true` and `POST /scenario/apply`.
#[derive(Serialize)]
struct Replaced {
    /// The `-sf` file now holds the new scenario.
    written: bool,
    /// The engine runs it for its new calls.
    applied: bool,
}

/// The primary engine's scenario, and what `GET` shows of it. Replacements go one at a
/// time, under this lock (never taken by the shards).
pub(super) struct Live {
    now: Mutex<Current>,
}

struct Current {
    scenario: Arc<Scenario>,
    view: ScenarioView,
}

impl Live {
    pub(super) fn new(source: &ScenarioSource, scenario: &Arc<Scenario>) -> Result<Live, String> {
        Ok(Live {
            now: Mutex::new(Current {
                scenario: Arc::clone(scenario),
                view: view_of(source)?,
            }),
        })
    }

    pub(super) fn view(&self) -> ScenarioView {
        self.lock().view.clone()
    }

    /// The running scenario's name (what the live trace and the calls catalogue show).
    pub(super) fn name(&self) -> String {
        self.lock().view.scenario_name.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Current> {
        self.now.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The running scenario's name and text, read once at start (what the engine runs, even
/// if the file changes later).
fn view_of(source: &ScenarioSource) -> Result<ScenarioView, String> {
    Ok(match source {
        ScenarioSource::File(p) => {
            let mut xml = String::new();
            std::fs::File::open(p)
                .and_then(|f| f.take(MAX_SCENARIO_BYTES).read_to_string(&mut xml))
                .map_err(|e| format!("cannot read the scenario {}: {e}", p.display()))?;
            ScenarioView {
                scenario_file: p.display().to_string(),
                scenario_name: String::new(),
                xml,
                builtin: false,
            }
        }
        ScenarioSource::Builtin(n) => ScenarioView {
            scenario_file: String::new(),
            scenario_name: n.clone(),
            xml: builtin::get(n)
                .map(|b| b.xml.to_owned())
                .unwrap_or_default(),
            builtin: true,
        },
        ScenarioSource::Xml { name, text } => ScenarioView {
            scenario_file: String::new(),
            scenario_name: name.clone(),
            xml: String::from_utf8_lossy(text).into_owned(),
            builtin: false,
        },
    })
}

/// What the routes need from the run.
pub(super) struct Engine<'a> {
    pub(super) spec: &'a JobSpec,
    pub(super) control: &'a Control,
    pub(super) live: &'a Live,
    /// The extra listeners: a replacement reaches those running the server's scenario
    /// with the primary.
    pub(super) listeners: &'a [super::listeners::Listener],
}

/// `PUT /api/v1/scenario[?apply=true]`: the XML body is checked, written to the `-sf`
/// file (atomically), and with `apply=true` run for the new calls.
pub(super) fn put(e: &Engine<'_>, inc: &mut Incoming<'_>) -> Reply {
    let apply = match apply_flag(inc.query) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let file = match &e.spec.scenario {
        ScenarioSource::File(p) => Some(p.clone()),
        _ => None,
    };
    if file.is_none() && !apply {
        return error(
            409,
            "the server runs a built-in scenario, not a -sf file: there is nothing to write; add ?apply=true to run the XML",
        );
    }
    let body = match read_xml(inc) {
        Ok(b) => b,
        Err(r) => return r,
    };
    replace(e, body, file.as_deref(), apply)
}

/// `POST /api/v1/scenario/apply`: an XML body (`Content-Type: application/xml`), or
/// without a body the `-sf` file read again.
pub(super) fn apply(e: &Engine<'_>, inc: &mut Incoming<'_>) -> Reply {
    if inc.content_length.unwrap_or(0) == 0 {
        let ScenarioSource::File(_) = &e.spec.scenario else {
            return error(
                409,
                "no body and no -sf file to read again (the server runs a built-in scenario): send the scenario XML with Content-Type: application/xml",
            );
        };
        return reapply(e);
    }
    let body = match read_xml(inc) {
        Ok(b) => b,
        Err(r) => return r,
    };
    replace(e, body, None, true)
}

/// Checks `xml`, writes it to `file` (if any), and applies it when asked.
fn replace(e: &Engine<'_>, xml: Vec<u8>, file: Option<&Path>, apply: bool) -> Reply {
    let mut spec = e.spec.clone();
    spec.scenario = ScenarioSource::Xml {
        name: BODY_NAME.into(),
        text: xml.clone(),
    };
    let mut now = e.live.lock();
    let sc = match checked(e, &spec, &now.scenario) {
        Ok(sc) => sc,
        Err(r) => return r,
    };
    let written = match file {
        Some(path) => match write_atomically(path, &xml) {
            Ok(()) => true,
            Err(err) => {
                return error(
                    500,
                    &format!("cannot write {}: {err}; nothing changed", path.display()),
                );
            }
        },
        None => false,
    };
    // Without apply, the file is written for the next start or a bodiless
    // /scenario/apply; the engine runs on.
    if apply {
        install(e, &mut now, sc, &spec.scenario, file);
    }
    json(
        200,
        &Replaced {
            written,
            applied: apply,
        },
    )
}

/// Applies the `-sf` file, read again.
fn reapply(e: &Engine<'_>) -> Reply {
    let spec = e.spec;
    let mut now = e.live.lock();
    let sc = match checked(e, spec, &now.scenario) {
        Ok(sc) => sc,
        Err(r) => return r,
    };
    let file = match &spec.scenario {
        ScenarioSource::File(p) => Some(p.clone()),
        _ => None,
    };
    install(e, &mut now, sc, &spec.scenario, file.as_deref());
    json(
        200,
        &Replaced {
            written: false,
            applied: true,
        },
    )
}

/// The replacement `spec` names, loaded and checked against the running scenario.
fn checked(e: &Engine<'_>, spec: &JobSpec, running: &Scenario) -> Result<Scenario, Reply> {
    if e.control.quit_level() > 0 {
        return Err(error(409, "the run is stopping"));
    }
    let sc = runner::load_replacement(spec, running).map_err(|err| match err {
        RunError::Refused(m) => error(403, &m),
        other => error(400, &other.to_string()),
    })?;
    if sc.role != running.role {
        return Err(error(
            409,
            &format!(
                "scenario \"{}\" is a {} scenario and the running one a {} one: a live replacement keeps the role (restart the server to change it)",
                sc.name,
                role_name(sc.role),
                role_name(running.role)
            ),
        ));
    }
    Ok(sc)
}

/// Hands `sc` to the shards and shows it on `GET`.
fn install(
    e: &Engine<'_>,
    now: &mut Current,
    sc: Scenario,
    source: &ScenarioSource,
    file: Option<&Path>,
) {
    let sc = Arc::new(sc);
    e.control.replace_scenario(Arc::clone(&sc));
    for l in e.listeners.iter().filter(|l| !l.own_scenario) {
        l.control.replace_scenario(Arc::clone(&sc));
    }
    let mut view = view_of(source).unwrap_or_else(|_| now.view.clone());
    if let Some(p) = file {
        view.scenario_file = p.display().to_string();
        view.scenario_name = String::new();
    } else {
        view.scenario_name = sc.name.clone();
    }
    now.scenario = sc;
    now.view = view;
}

fn role_name(r: Role) -> &'static str {
    match r {
        Role::Client => "client (UAC)",
        Role::Server => "server (UAS)",
    }
}

/// `apply=`: `true`/`1` or `false`/`0`; absent is false.
fn apply_flag(query: &str) -> Result<bool, Reply> {
    let mut apply = false;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        if k != "apply" {
            return Err(error(
                400,
                &format!("unknown query parameter \"{k}\" (only apply= is taken)"),
            ));
        }
        apply = match v {
            "true" | "1" => true,
            "false" | "0" => false,
            _ => {
                return Err(error(400, &format!("apply={v} is not true or false")));
            }
        };
    }
    Ok(apply)
}

/// The XML body: an XML (or unlabelled) content type, at most [`MAX_SCENARIO_BYTES`].
fn read_xml(inc: &mut Incoming<'_>) -> Result<Vec<u8>, Reply> {
    if let Some(ct) = inc.header("content-type") {
        let mime = ct
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        if !matches!(mime.as_str(), "application/xml" | "text/xml") {
            return Err(error(
                415,
                &format!("Content-Type {mime} is not a scenario: send application/xml"),
            ));
        }
    }
    if inc.content_length.is_some_and(|n| n > MAX_SCENARIO_BYTES) {
        return Err(too_large());
    }
    let mut body = Vec::new();
    inc.body
        .reader()
        .take(MAX_SCENARIO_BYTES + 1)
        .read_to_end(&mut body)
        .map_err(|err| error(400, &format!("body: {err}")))?;
    if body.len() as u64 > MAX_SCENARIO_BYTES {
        return Err(too_large());
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(error(400, "the body is empty: send the scenario XML"));
    }
    Ok(body)
}

fn too_large() -> Reply {
    error(
        413,
        &format!(
            "the scenario is larger than {} MiB",
            MAX_SCENARIO_BYTES >> 20
        ),
    )
}

/// Writes `bytes` to `path` through a temporary file in the same folder and a rename, so
/// a reader sees the old file or the new one, never half of one.
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp_name = format!(".{name}.gossipper-{}.tmp", std::process::id());
    let tmp = match dir {
        Some(d) => d.join(tmp_name),
        None => Path::new(&tmp_name).to_path_buf(),
    };
    let written = std::fs::File::create(&tmp).and_then(|mut f| {
        f.write_all(bytes)?;
        f.sync_all()
    });
    if let Err(e) = written.and_then(|()| std::fs::rename(&tmp, path)) {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apply_takes_true_or_false_and_nothing_else() {
        assert!(!apply_flag("").ok().unwrap());
        assert!(apply_flag("apply=true").ok().unwrap());
        assert!(apply_flag("apply=1").ok().unwrap());
        assert!(!apply_flag("apply=false").ok().unwrap());
        assert!(apply_flag("apply=yes").is_err());
        assert!(apply_flag("apply=true&force=1").is_err());
    }

    #[test]
    fn an_atomic_write_replaces_the_file_and_leaves_no_temporary() {
        let dir = std::env::temp_dir().join(format!("gossipper-sc-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("uas.xml");
        std::fs::write(&f, "old").unwrap();
        write_atomically(&f, b"new").unwrap();
        assert_eq!(std::fs::read_to_string(&f).unwrap(), "new");
        let left: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
        assert_eq!(left.len(), 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
