//! `gossipper server`: the long-running mode (issue #18). One SIP engine that stays up
//! (the built-in `uas` unless `-sf`/`-sn` says otherwise) with the Go gossipper's v1
//! control API (`/api/v1`, `api`) beside it, which can replace its scenario live
//! (`scenario`) and start extra UAC engines in the same process (`clients`).
//!
//! Owns: the server command line (the root command's flags, read by `sipp`, plus
//! `-api_addr`, `-api_token` and `-config`), the API's listening socket and token, and
//! starting the run with the API as its sidecar. Must not: parse SIPp flags (`sipp`
//! does), touch the engine's shards (the API steers them through the run's control
//! block, which every shard reads once per loop turn) or run SIP itself.
//!
//! Modules: `api` (the v1 routes), `scenario` (live replacement), `clients` (dynamic
//! UAC engines), `transports` (listener and clients on and off), `v2` (the live SIP
//! trace and calls catalogue routes, kept by `trace` and `calls`, exported by `pcap` and, zipped, by `bundle`), `config` (the flat JSON of `-config`, turned into flags). It reuses the
//! master's HTTP server (`service::http`: connection caps, request deadlines), its
//! listen-address forms and its constant-time secret comparison.

mod api;
mod bundle;
mod calls;
mod clients;
pub(crate) mod config;
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

use crate::service::{http, listen};
use crate::sipp::run::{Sidecar, Started};
use crate::sipp::{self, Exit, Parsed};
use gossipper_engine::runner::Tick;

/// `-api_addr` when not given (the Go gossipper's default).
const DEFAULT_API_ADDR: &str = ":8080";
/// Where the token is read when `-api_token` is not given.
const TOKEN_ENV: &str = "GOSSIPPER_API_TOKEN";
/// The longest token taken.
const MAX_TOKEN_LEN: usize = 256;

/// Entry point for `gossipper server …` (`args` without `server`).
pub(crate) fn main(args: &[String]) -> ExitCode {
    let args = match with_config(args) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("gossipper server: {e}");
            return Exit::Fatal.into();
        }
    };
    let (spec, flags) = match sipp::parse_server(&args) {
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
    if spec.background {
        // -bg: the same command again, detached; the API is bound by that process.
        return sipp::run::run(*spec);
    }
    let token = match token(flags.api_token, std::env::var(TOKEN_ENV).ok()) {
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
    let loopback = listener.local_addr().is_ok_and(|a| a.ip().is_loopback());
    if token.is_none() && !loopback {
        eprintln!(
            "gossipper server: -api_addr {addr_text} is not a loopback address: give -api_token (or {TOKEN_ENV}) so the control API is not open to the network"
        );
        return Exit::Fatal.into();
    }
    if token.is_none() {
        eprintln!(
            "gossipper server: WARNING: no -api_token: any local process may steer this server"
        );
    }
    let mut sidecar = ApiSidecar {
        listener: Some(listener),
        token,
        state: None,
    };
    let code = sipp::run::run_with(*spec, Some(&mut sidecar));
    if let Some(state) = &sidecar.state {
        state.stop_clients();
    }
    code
}

/// `args` with the flags of its `-config` file (if any) placed before them, so the
/// command line wins over the file.
fn with_config(args: &[String]) -> Result<Vec<String>, String> {
    let path = sipp::config_path(args).map_err(|e| e.to_string())?;
    let Some(path) = path else {
        return Ok(args.to_vec());
    };
    let mut out = config::flags_of_file(std::path::Path::new(&path))?;
    out.extend(args.iter().cloned());
    Ok(out)
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

/// The v1 API beside the run: bound before the run, serving once the run has started.
struct ApiSidecar {
    listener: Option<TcpListener>,
    token: Option<String>,
    state: Option<Arc<api::State>>,
}

impl Sidecar for ApiSidecar {
    fn start(&mut self, run: &Started<'_>) -> Result<(), String> {
        let listener = self
            .listener
            .take()
            .ok_or("the control API was started twice")?;
        let state = Arc::new(api::State::new(run, self.token.take())?);
        self.state = Some(Arc::clone(&state));
        if let Ok(a) = listener.local_addr() {
            eprintln!("gossipper server: control API on http://{a}/api/v1");
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
