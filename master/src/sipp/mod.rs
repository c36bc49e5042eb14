//! The SIPp command line, whole: `gossipper [sipp flags] [host[:port]]`, from `argv` to
//! SIPp's exit code.
//!
//! Owns: turning `argv` into one validated `JobSpec` (STYLE.md §1 "One resolved config",
//! after ripgrep's lowargs → hiargs), printing `-h`, `-v` and `-sd`, printing a command-line
//! error once, the exit code table, and running the job as SIPp does (live screen, keys,
//! signals, trace files, final screens). Must not: make protocol decisions (the engine
//! does) or touch the master's data dir (`service`) or the worker's line protocol.
//!
//! Flow: `flags` (the table of every flag) drives the hand-written scanner in `scan`,
//! which fills the raw `SippArgs`; `resolve` applies SIPp's units, defaults and rules and
//! yields the `JobSpec` (`identity` writes `-sip_from`, `-sip_pai` and `-sip_provider`
//! into it); `main` prints and maps to `exit`; `run` runs it, with `observer`
//! (screens, CSV, traces), `control` (keys, control socket) and `terminal` (raw mode). A
//! hand parser rather than clap: SIPp's flags are single-dash long names (`-trace_stat`),
//! some take two values (`-key k v`), and `-h`/`-v`/`-sd` act as soon as they are seen,
//! none of which clap models.

mod args;
mod control;
mod error;
mod exit;
pub(crate) mod flags;
mod identity;
mod observer;
mod resolve;
pub(crate) mod run;
mod scan;
mod terminal;
mod units;

#[cfg(test)]
mod tests;

use std::process::ExitCode;

use gossipper_engine::config::JobSpec;
use gossipper_engine::scenario::builtin;

pub(crate) use error::CliError;
pub(crate) use exit::Exit;

/// What a SIPp command line asks for.
#[derive(Debug, PartialEq)]
pub(crate) enum Parsed {
    /// Run this job.
    Run(Box<JobSpec>),
    /// `-sd name`: the built-in scenario's XML, to print.
    Dump(String),
    /// `-v`.
    Version,
    /// `-h` or `--help` (exit 0).
    Help,
    /// No arguments at all: the usage, with SIPp's exit code 99.
    Usage,
}

/// Parses a SIPp command line (`args` without the program name).
pub(crate) fn parse(args: &[String]) -> Result<Parsed, CliError> {
    parse_with(args, &resolve::Env::current())
}

fn parse_with(args: &[String], env: &resolve::Env) -> Result<Parsed, CliError> {
    Ok(match scan::scan(args)? {
        scan::Scan::Help => Parsed::Help,
        scan::Scan::Usage => Parsed::Usage,
        scan::Scan::Version => Parsed::Version,
        scan::Scan::Dump(name) => match builtin::get(&name) {
            Some(b) => Parsed::Dump(b.xml.to_owned()),
            None => return Err(resolve::unknown_builtin("sd", &name)),
        },
        scan::Scan::Run(raw) => {
            if let Some(flag) = server_flag(&raw) {
                return Err(CliError::ServerOnly { flag });
            }
            for name in &raw.ignored {
                eprintln!(
                    "gossipper: -{name} has no effect in gossipper (accepted for SIPp compatibility)"
                );
            }
            Parsed::Run(Box::new(resolve::resolve(&raw, env)?))
        }
    })
}

/// `args` with the flags of their `-config` run profile (the flat object, or the alias
/// `-run-alias` names) placed first, so the command line wins; `None` when
/// `-list-aliases` printed the names and there is nothing to run.
fn with_run_profile(args: &[String]) -> Result<Option<Vec<String>>, String> {
    let scan::Scan::Run(raw) = scan::scan(args).map_err(|e| e.to_string())? else {
        return Ok(Some(args.to_vec()));
    };
    let Some(path) = raw.config.as_deref() else {
        for (flag, given) in [
            ("run-alias", raw.run_alias.is_some()),
            ("list-aliases", raw.list_aliases),
        ] {
            if given {
                return Err(format!("-{flag} needs -config FILE (the run-profile file)"));
            }
        }
        return Ok(Some(args.to_vec()));
    };
    let path = std::path::Path::new(path);
    if raw.list_aliases {
        for name in crate::server::config::alias_names(path)? {
            println!("{name}");
        }
        return Ok(None);
    }
    let mut out = crate::server::config::run_profile_flags(path, raw.run_alias.as_deref())?;
    out.extend(args.iter().cloned());
    Ok(Some(out))
}

/// The first `gossipper server` flag in `raw`, if any.
fn server_flag(raw: &args::SippArgs) -> Option<&'static str> {
    [
        ("api_addr", raw.api_addr.is_some()),
        ("api_token", raw.api_token.is_some()),
        ("ui_data_dir", raw.ui_data_dir.is_some()),
        ("legacy_api_v1", raw.legacy_api_v1.is_some()),
        ("scenario_history_keep", raw.scenario_history_keep.is_some()),
    ]
    .into_iter()
    .find_map(|(name, given)| given.then_some(name))
}

/// What `gossipper server` reads besides the run: its control API's address and token,
/// and the `/api/v2` data dir.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct ServerFlags {
    pub(crate) api_addr: Option<String>,
    pub(crate) api_token: Option<String>,
    pub(crate) ui_data_dir: Option<String>,
    pub(crate) legacy_api_v1: Option<bool>,
    pub(crate) scenario_history_keep: Option<String>,
}

/// The `-config` file named on a `gossipper server` command line, if any (the server
/// turns it into flags placed before the command line, then calls [`parse_server`]).
pub(crate) fn config_path(args: &[String]) -> Result<Option<String>, CliError> {
    Ok(match scan::scan(args)? {
        scan::Scan::Run(raw) => raw.config,
        _ => None,
    })
}

/// Parses `gossipper server`'s command line (the arguments after `server`): the root
/// command's flags plus its own. Without `-sf` or `-sn` the scenario is the built-in
/// `uas`; no argument at all runs that default rather than printing the usage.
pub(crate) fn parse_server(args: &[String]) -> Result<(Parsed, ServerFlags), CliError> {
    parse_server_with(args, &resolve::Env::current())
}

fn parse_server_with(
    args: &[String],
    env: &resolve::Env,
) -> Result<(Parsed, ServerFlags), CliError> {
    let mut raw = match scan::scan(args)? {
        scan::Scan::Run(raw) => raw,
        scan::Scan::Usage => Box::default(),
        scan::Scan::Help => return Ok((Parsed::Help, ServerFlags::default())),
        scan::Scan::Version => return Ok((Parsed::Version, ServerFlags::default())),
        scan::Scan::Dump(name) => {
            return match builtin::get(&name) {
                Some(b) => Ok((Parsed::Dump(b.xml.to_owned()), ServerFlags::default())),
                None => Err(resolve::unknown_builtin("sd", &name)),
            };
        }
    };
    // The server's -config is one flat profile (`server::config`); aliases are the root
    // command's.
    for (flag, given) in [
        ("run-alias", raw.run_alias.is_some()),
        ("list-aliases", raw.list_aliases),
    ] {
        if given {
            return Err(CliError::Invalid {
                flag,
                reason: "gossipper server -config takes one flat profile; run an alias with the root command (gossipper -config FILE -run-alias NAME)".into(),
            });
        }
    }
    if raw.sf.is_none() && raw.sn.is_none() {
        raw.sn = Some("uas".into());
    }
    for name in &raw.ignored {
        eprintln!(
            "gossipper server: -{name} has no effect in gossipper (accepted for SIPp compatibility)"
        );
    }
    let flags = ServerFlags {
        api_addr: raw.api_addr.take(),
        api_token: raw.api_token.take(),
        ui_data_dir: raw.ui_data_dir.take(),
        legacy_api_v1: raw.legacy_api_v1.take(),
        scenario_history_keep: raw.scenario_history_keep.take(),
    };
    Ok((Parsed::Run(Box::new(resolve::resolve(&raw, env)?)), flags))
}

/// The `-v` text. Contains "SIPp v3.6.1-compatible": SIPp's regress suite greps `SIPp v`.
pub(crate) fn version_text() -> String {
    format!(
        "gossipper {} (SIPp-compatible: SIPp v3.6.1 command line)\n\
         SIPp v3.6.1-compatible SIP traffic generator. Run 'gossipper -h' for the options.",
        env!("CARGO_PKG_VERSION")
    )
}

/// Entry point for every invocation that is not `ui` or `worker`.
pub(crate) fn main(args: &[String]) -> ExitCode {
    let args = match with_run_profile(args) {
        Ok(Some(a)) => a,
        Ok(None) => return ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gossipper: {e}");
            return Exit::Fatal.into();
        }
    };
    match parse(&args) {
        Ok(Parsed::Run(spec)) => run::run(*spec),
        Ok(Parsed::Dump(xml)) => {
            print!("{xml}");
            if !xml.ends_with('\n') {
                println!();
            }
            Exit::NoCallsProcessed.into()
        }
        Ok(Parsed::Version) => {
            println!("{}", version_text());
            Exit::NoCallsProcessed.into()
        }
        // -h asked for the help: a success (SIPp exits 99, which scripts read as an
        // error; no arguments at all keeps SIPp's 99).
        Ok(Parsed::Help) => {
            print!("{}", flags::usage());
            ExitCode::SUCCESS
        }
        Ok(Parsed::Usage) => {
            print!("{}", flags::usage());
            Exit::NoCallsProcessed.into()
        }
        Err(e) => {
            eprintln!("gossipper: {e}");
            Exit::Fatal.into()
        }
    }
}
