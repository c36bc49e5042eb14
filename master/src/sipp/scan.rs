//! The scanner that fills `SippArgs` from `argv`.
//!
//! Owns: reading the arguments left to right by SIPp's own rules rather than clap's (clap
//! cannot parse single-dash long flags, reference/rust-deps.md): `-name` or `--name` is
//! looked up in `flags::FLAGS` and takes the next 0, 1 or 2 arguments as its values
//! (or, in Go's spelling, `-name=value`: the first value after the `=`);
//! anything not starting with `-` is the remote host; `-h`, `-v` and `-sd` act at once,
//! as in SIPp, so `gossipper -sd uac -bogus` still prints `uac`. Leading `sipp` tokens are
//! dropped (the Go gossipper accepts `gossipper sipp …`). Must not: interpret a value
//! (`resolve` does) or touch the environment.

use super::args::SippArgs;
use super::error::CliError;
use super::flags::{self, Group, Kind};
use super::units;

/// What the scan found.
#[derive(Debug, PartialEq)]
pub(crate) enum Scan {
    /// A run to resolve.
    Run(Box<SippArgs>),
    /// `-sd name`.
    Dump(String),
    Version,
    /// `-h` / `--help`.
    Help,
    /// No arguments at all (SIPp prints its usage and exits 99).
    Usage,
}

/// The binary's subcommands (`main` dispatches on them), refused after `sipp` as the Go
/// gossipper refuses them, plus those of the Go tool this build lacks.
const SUBCOMMANDS: &[&str] = &[
    "ui",
    "worker",
    "pcap2scenario",
    "server",
    "tui",
    "shell",
    "cli",
    "report-html",
    "summary-to-pdf",
    "infindex",
    "rtp_send",
    "auth",
];

/// Scans `args` (without the program name) left to right.
pub(crate) fn scan(args: &[String]) -> Result<Scan, CliError> {
    let start = args.iter().take_while(|a| a.as_str() == "sipp").count();
    let rest = args.get(start..).unwrap_or_default();
    if let Some(first) = rest.first().filter(|_| start > 0)
        && SUBCOMMANDS.contains(&first.as_str())
    {
        return Err(CliError::SubcommandAfterSipp(first.clone()));
    }
    if rest.is_empty() {
        // `sipp` alone prints its usage and exits 99.
        return Ok(Scan::Usage);
    }
    let mut out = SippArgs::default();
    let mut it = rest.iter();
    while let Some(arg) = it.next() {
        let Some(name) = flag_name(arg) else {
            out.remote = Some(arg.clone());
            continue;
        };
        // Go's `-name=value` spelling (the Go gossipper's flag syntax), for a name that
        // is not a flag as a whole.
        let (name, inline) = match (flags::lookup(name), name.split_once('=')) {
            (None, Some((n, v))) if flags::lookup(n).is_some() => (n, Some(v.to_owned())),
            _ => (name, None),
        };
        let Some(flag) = flags::lookup(name) else {
            return Err(CliError::UnknownFlag {
                arg: arg.clone(),
                suggestion: flags::closest(name),
            });
        };
        let mut inline = inline;
        let mut value = || match inline.take() {
            Some(v) => Ok(v),
            None => it
                .next()
                .cloned()
                .ok_or(CliError::MissingValue { flag: flag.name }),
        };
        match flag.kind {
            Kind::Help => return Ok(Scan::Help),
            Kind::Version => return Ok(Scan::Version),
            Kind::Dump => return Ok(Scan::Dump(value()?)),
            Kind::Unsupported { what, .. } => {
                return Err(CliError::Unsupported {
                    flag: flag.name,
                    what,
                });
            }
            Kind::Switch(set) => match inline.take() {
                None => set(&mut out),
                Some(v) if units::boolean(flag.name, &v)? => set(&mut out),
                Some(_) => {}
            },
            Kind::GoBool(set) => {
                let on = match inline.take() {
                    None => true,
                    Some(v) => units::boolean(flag.name, &v)?,
                };
                set(&mut out, on);
            }
            Kind::Value(set) => set(&mut out, value()?),
            Kind::Pair(set) => {
                let first = value()?;
                set(&mut out, first, value()?);
            }
        }
        if flag.group == Group::Ignored {
            out.ignored.push(flag.name);
        }
    }
    Ok(Scan::Run(Box::new(out)))
}

/// `-name` / `--name` → `name`; `None` for a bare argument. A lone `-` or `--` is a flag
/// with an empty name, which no table entry matches.
fn flag_name(arg: &str) -> Option<&str> {
    let rest = arg.strip_prefix('-')?;
    Some(rest.strip_prefix('-').unwrap_or(rest))
}
