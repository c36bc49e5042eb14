//! `gossipper server`: the long-running mode (issue #18). One SIP engine that stays up
//! (the built-in `uas` unless `-sf`/`-sn` says otherwise) with the Go gossipper's v1
//! control API (`/api/v1`, `api`) beside it, which can replace its scenario live
//! (`scenario`) and start extra UAC engines in the same process (`clients`).
//!
//! Owns: the server command line (the root command's flags, read by `sipp`, plus
//! `-api_addr`, `-api_token`, `-ui_data_dir`, `-legacy_api_v1`,
//! `-scenario_history_keep` and `-config`), the API's listening socket and token,
//! opening the master's service on `-ui_data_dir` (its `/api/v2`, console and users,
//! answering every request the server does not answer itself), and starting the run
//! with the API as its sidecar. Must not: parse SIPp flags (`sipp` does), touch the
//! engine's shards (the API steers them through the run's control block, which every
//! shard reads once per loop turn) or run SIP itself.
//!
//! Modules: `api` (the API's routing and the v1 routes), `access` (who may call them;
//! the audit of changes), `scenario` (live replacement), `clients` (dynamic UAC
//! engines, also `-config`'s `clients[]`), `listeners` (`-config`'s extra SIP
//! listeners, each an engine), `feed` (an extra engine's statistics, trace and calls),
//! `transports` (listeners and clients on and off), `v2` (the live SIP trace and calls
//! catalogue routes, kept by `trace` and `calls`, exported by `pcap` and, zipped, by
//! `bundle`, persisted by `cdr` in `calls.sqlite`), `config` (the flat and composite JSON of `-config`),
//! `gateway` (`-config`'s REGISTER gateway accounts, each on one of the server's UDP
//! listeners). It
//! reuses the master's HTTP server (`service::http`: connection caps, request
//! deadlines), its listen-address forms and its constant-time secret comparison.

mod access;
mod api;
mod bundle;
mod calls;
mod cdr;
mod clients;
pub(crate) mod config;
mod feed;
mod gateway;
mod listeners;
mod live;
mod pcap;
mod scenario;
mod trace;
mod trace_ws;
mod transports;
mod v2;

use std::net::TcpListener;
use std::process::ExitCode;
use std::sync::Arc;

use crate::service::{self, Service, http, listen};
use crate::sipp::run::{Sidecar, Started};
use crate::sipp::{self, Exit, Parsed};
use gossipper_engine::runner::Tick;

/// `-api_addr` when not given (the Go gossipper's default).
const DEFAULT_API_ADDR: &str = ":8080";
/// Where the token is read when `-api_token` is not given.
const TOKEN_ENV: &str = "GOSSIPPER_API_TOKEN";
/// `-scenario_history_keep` when not given (`gossipper ui`'s default).
const DEFAULT_HISTORY_KEEP: usize = 20;
/// The longest token taken.
const MAX_TOKEN_LEN: usize = 256;

/// Entry point for `gossipper server …` (`args` without `server`).
pub(crate) fn main(args: &[String]) -> ExitCode {
    let (args, composite) = match with_config(args) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("gossipper server: {e}");
            return Exit::Fatal.into();
        }
    };
    let (mut spec, flags) = match sipp::parse_server(&args) {
        Ok((Parsed::Run(spec), flags)) => (spec, flags),
        Ok((Parsed::Help | Parsed::Usage, _)) => {
            print!("{}", sipp::flags::server_usage());
            return ExitCode::SUCCESS;
        }
        Ok((Parsed::Version, _)) => {
            println!("{}", sipp::version_text());
            return ExitCode::SUCCESS;
        }
        Ok((Parsed::Dump(xml), _)) => {
            print!("{xml}");
            if !xml.ends_with('\n') {
                println!();
            }
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("gossipper server: {e}");
            return Exit::Fatal.into();
        }
    };
    // Every -config entry is checked before anything binds.
    let mut engines = match engines_of(&args, &composite) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("gossipper server: -config: {e}");
            return Exit::Fatal.into();
        }
    };
    let rows = composite.listeners.len();
    let mut listener_specs: Vec<&mut gossipper_engine::config::JobSpec> =
        engines.listeners.iter_mut().map(|l| &mut l.spec).collect();
    if let Err(e) = gateway::attach(&composite.gateways, &mut spec, &mut listener_specs, rows) {
        eprintln!("gossipper server: -config: {e}");
        return Exit::Fatal.into();
    }
    if spec.background {
        // -bg: the same command again, detached; the API is bound by that process.
        return sipp::run::run(*spec);
    }
    let token = match token(flags.api_token.clone(), std::env::var(TOKEN_ENV).ok()) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("gossipper server: {e}");
            return Exit::Fatal.into();
        }
    };
    let addr_text = flags.api_addr.as_deref().unwrap_or(DEFAULT_API_ADDR);
    let addr = match listen::parse_flag("-api_addr", addr_text) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("gossipper server: {e}");
            return Exit::Fatal.into();
        }
    };
    let listener = match TcpListener::bind(&addr) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("gossipper server: -api_addr {addr_text}: cannot listen on {addr}: {e}");
            return Exit::BindError.into();
        }
    };
    let (service, cdr) = match flags.ui_data_dir.as_deref() {
        Some(dir) => match open_service(dir, &flags, composite.auth.as_ref()) {
            Ok(s) => match cdr::Cdr::open(std::path::Path::new(dir)) {
                Ok(c) => (Some(s), Some(c)),
                Err(e) => {
                    eprintln!("gossipper server: -ui_data_dir {dir}: {e}");
                    return Exit::Fatal.into();
                }
            },
            Err(e) => {
                eprintln!("gossipper server: -ui_data_dir {dir}: {e:#}");
                return Exit::Fatal.into();
            }
        },
        None => {
            if composite.auth.is_some() {
                eprintln!(
                    "gossipper server: -config: auth needs ui_data_dir (the users live in its settings database)"
                );
                return Exit::Fatal.into();
            }
            if flags.scenario_history_keep.is_some() {
                eprintln!(
                    "gossipper server: -scenario_history_keep needs -ui_data_dir (it caps the scenario history of the /api/v2 data dir)"
                );
                return Exit::Fatal.into();
            }
            (None, None)
        }
    };
    let loopback = listener.local_addr().is_ok_and(|a| a.ip().is_loopback());
    // With -ui_data_dir the users' tokens guard the API.
    if token.is_none() && service.is_none() && !loopback {
        eprintln!(
            "gossipper server: -api_addr {addr_text} is not a loopback address: give -api_token (or {TOKEN_ENV}) so the control API is not open to the network"
        );
        return Exit::Fatal.into();
    }
    if token.is_none() && service.is_none() {
        eprintln!(
            "gossipper server: WARNING: no -api_token: any local process may steer this server"
        );
    }
    // Jobs the /api/v2 of -ui_data_dir started end with the server.
    let jobs = service.clone();
    let mut sidecar = ApiSidecar {
        listener: Some(listener),
        access: Some(api::Access {
            token,
            service,
            legacy_api_v1: v1_on(&flags),
            cdr,
        }),
        engines: Some(engines),
        state: None,
    };
    let code = sipp::run::run_with(*spec, Some(&mut sidecar));
    if let Some(state) = &sidecar.state {
        state.close();
    }
    if let Some(jobs) = jobs {
        let left = jobs.shutdown();
        if left > 0 {
            eprintln!(
                "gossipper server: {left} job(s) did not settle in time; the next start settles them"
            );
        }
    }
    code
}

/// `args` with the flags of its `-config` file (if any) placed before them, so the
/// command line wins over the file; and the file's extra listeners and clients.
fn with_config(args: &[String]) -> Result<(Vec<String>, config::Composite), String> {
    let path = sipp::config_path(args).map_err(|e| e.to_string())?;
    let Some(path) = path else {
        return Ok((args.to_vec(), config::Composite::default()));
    };
    let mut composite = config::composite_of_file(std::path::Path::new(&path))?;
    let mut out = std::mem::take(&mut composite.flags);
    out.extend(args.iter().cloned());
    Ok((out, composite))
}

/// The engines `-config` adds, resolved and checked before anything is bound.
struct Engines {
    /// Each extra listener's run.
    listeners: Vec<listeners::Run>,
    /// Each client's id (if given) and run.
    clients: Vec<(Option<String>, gossipper_engine::config::JobSpec)>,
}

/// Resolves the extra listeners (the server's command line with the row's `-t`, `-i`
/// and `-p` last, so they win; the row's own scenario, if it has one) and the clients
/// (a dynamic client's checks), naming the entry at fault.
fn engines_of(args: &[String], c: &config::Composite) -> Result<Engines, String> {
    let mut listeners = Vec::new();
    for (i, row) in c.listeners.iter().enumerate() {
        let mut a = args.to_vec();
        a.extend(["-t".into(), row.transport.clone()]);
        if let Some(ip) = &row.local_ip {
            a.extend(["-i".into(), ip.clone()]);
        }
        a.extend(["-p".into(), row.local_port.clone()]);
        let mut spec = match sipp::parse_server(&a) {
            Ok((Parsed::Run(spec), _)) => listeners::quiet(*spec),
            Ok(_) => return Err(format!("listeners[{}]: describes no run", i + 1)),
            Err(e) => return Err(format!("listeners[{}]: {e}", i + 1)),
        };
        if let Some(own) = &row.scenario {
            spec.scenario =
                listeners::own_scenario(own).map_err(|e| format!("listeners[{}].{e}", i + 1))?;
        }
        listeners.push(listeners::Run {
            spec,
            own_scenario: row.scenario.is_some(),
        });
    }
    let mut clients = Vec::new();
    for def in &c.clients {
        let spec = clients::spec_of_map(&def.snippet, &c.dir)
            .map_err(|e| format!("{}: {e}", def.place))?;
        clients.push((def.id.clone(), spec));
    }
    Ok(Engines { listeners, clients })
}

/// The API token: the flag, else the environment; printable ASCII without spaces (it
/// travels in an `Authorization: Bearer` header), 1 to [`MAX_TOKEN_LEN`] characters.
fn token(flag: Option<String>, env: Option<String>) -> Result<Option<String>, String> {
    let (given, source) = match (flag, env.filter(|e| !e.is_empty())) {
        (Some(f), _) => (f, "-api_token"),
        (None, Some(e)) => (e, TOKEN_ENV),
        (None, None) => return Ok(None),
    };
    if given.is_empty() || given.len() > MAX_TOKEN_LEN {
        return Err(format!(
            "{source} must be 1 to {MAX_TOKEN_LEN} characters (found {})",
            given.len()
        ));
    }
    if !given.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(format!(
            "{source} must be printable ASCII without spaces (it is sent in an Authorization header)"
        ));
    }
    Ok(Some(given))
}

/// `-ui_data_dir DIR`: the master's service on the data dir, its users guarding the
/// API (the master's defaults for what only `gossipper ui` flags set).
/// `auth` (from `-config`) names the settings database and the JWT secret.
fn open_service(
    dir: &str,
    flags: &sipp::ServerFlags,
    auth: Option<&config::AuthConf>,
) -> anyhow::Result<Service> {
    let keep = match flags.scenario_history_keep.as_deref() {
        None => DEFAULT_HISTORY_KEEP,
        Some(n) => n.parse::<usize>().map_err(|_| {
            anyhow::anyhow!("-scenario_history_keep {n}: not a whole number from 0")
        })?,
    };
    if dir.is_empty() {
        anyhow::bail!("an empty path");
    }
    let jwt_secret = auth.and_then(|a| a.jwt_secret.clone()).or_else(|| {
        std::env::var("GOSSIPPER_JWT_SECRET")
            .ok()
            .filter(|s| !s.is_empty())
    });
    if let Some(s) = &jwt_secret
        && s.len() < service::auth::MIN_SECRET_LEN
    {
        anyhow::bail!(
            "the JWT secret (auth.jwt_secret or GOSSIPPER_JWT_SECRET) must be at least {} characters",
            service::auth::MIN_SECRET_LEN
        );
    }
    Service::open(service::Options {
        data_dir: dir.into(),
        auth_sqlite: auth.and_then(|a| a.sqlite_path.clone()),
        scenario_history_keep: keep,
        jwt_secret,
        metrics_token: None,
        auth_enabled: true,
        limits: service::supervisor::Limits::default(),
        media_quota: service::store::media::Quota::default(),
        kube: None,
        mode: service::Mode::Server {
            legacy_api_v1: v1_on(flags),
        },
        log_name: "gossipper server",
    })
}

/// The v1 API beside the run: bound before the run, serving once the run has started.
struct ApiSidecar {
    listener: Option<TcpListener>,
    access: Option<api::Access>,
    engines: Option<Engines>,
    state: Option<Arc<api::State>>,
}

impl Sidecar for ApiSidecar {
    fn start(&mut self, run: &Started<'_>) -> Result<(), String> {
        let listener = self
            .listener
            .take()
            .ok_or("the control API was started twice")?;
        let access = self
            .access
            .take()
            .ok_or("the control API was started twice")?;
        let state = Arc::new(api::State::new(run, access)?);
        self.state = Some(Arc::clone(&state));
        // -config's engines start before the API serves; one that cannot start ends
        // the server (main stops those already started).
        let engines = self
            .engines
            .take()
            .ok_or("the control API was started twice")?;
        if !engines.listeners.is_empty() {
            if run.scenario.role != gossipper_engine::scenario::Role::Server {
                return Err(format!(
                    "-config: listeners: scenario \"{}\" places calls; extra listeners need a server (UAS) scenario",
                    run.scenario.name
                ));
            }
            let l =
                listeners::start(engines.listeners, &state).map_err(|e| format!("-config: {e}"))?;
            state.set_listeners(l);
        }
        for (i, (id, spec)) in engines.clients.into_iter().enumerate() {
            let id = clients::start(&state, id, spec)
                .map_err(|(_, e)| format!("-config: client {}: {e}", i + 1))?;
            eprintln!("gossipper server: client {id} started from -config");
        }
        if let Ok(a) = listener.local_addr() {
            eprintln!("gossipper server: control API on http://{a}/api/v1");
            if state.has_service() {
                eprintln!("gossipper server: console and /api/v2 on http://{a}/");
            }
        }
        let handler: http::Handler =
            Arc::new(move |inc: &mut http::Incoming<'_>| api::dispatch(&state, inc));
        std::thread::Builder::new()
            .name("api-v1".into())
            .spawn(move || http::serve(listener, http::Limits::default(), handler))
            .map_err(|e| format!("cannot start the control API thread: {e}"))?;
        Ok(())
    }

    fn on_tick(&mut self, tick: &Tick<'_>) {
        if let Some(s) = &self.state {
            s.publish(tick);
        }
    }

    /// The calls catalogue (`/api/v2/calls`) is made of the finished calls.
    fn wants_finished_calls(&self) -> bool {
        true
    }

    /// Its rows show each call's From, To, peer and SIP counts.
    fn wants_call_sip(&self) -> bool {
        true
    }
}

/// Whether `/api/v1` is served: `-legacy_api_v1` when given; else on, except with
/// `-ui_data_dir`, where v2 takes over and v1 must be asked for (the Go tool's rule).
fn v1_on(flags: &sipp::ServerFlags) -> bool {
    flags.legacy_api_v1.unwrap_or(flags.ui_data_dir.is_none())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_comes_from_the_flag_then_the_environment() {
        assert_eq!(token(None, None).unwrap(), None);
        assert_eq!(token(None, Some(String::new())).unwrap(), None);
        assert_eq!(
            token(Some("a".into()), Some("b".into()))
                .unwrap()
                .as_deref(),
            Some("a")
        );
        assert_eq!(token(None, Some("b".into())).unwrap().as_deref(), Some("b"));
    }

    #[test]
    fn a_token_that_cannot_travel_in_a_header_is_refused() {
        for bad in [
            "",
            "with space",
            "tab\there",
            "é",
            &"x".repeat(MAX_TOKEN_LEN + 1),
        ] {
            assert!(token(Some(bad.into()), None).is_err(), "{bad:?}");
        }
    }
}
