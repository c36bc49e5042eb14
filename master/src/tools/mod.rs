//! The small subcommands of the Go tool beside the SIPp command line: `infindex`,
//! `report-html`, `summary-to-pdf`, `rtp_send` and `auth user-add`/`auth user-del`, each a
//! file here with its own `-h`; the worker runs the same cores as tool jobs.
//!
//! Owns: the subcommands' flag reading ([`parse_flags`]: `-name value`, `--name value`
//! or `-name=value`; an unknown flag is refused, naming it) and their exit codes (0 done,
//! 1 the work failed, 255 a bad command line, as the SIPp command line). Must not: reach
//! into `service` beyond the store and auth rules `auth_cli` reuses.

pub(crate) mod auth_cli;
pub(crate) mod infindex;
pub(crate) mod pdf;
pub(crate) mod report_cli;
pub(crate) mod rtp_send;

use std::collections::HashMap;
use std::process::ExitCode;

/// Exit code of a bad command line (SIPp's and ours).
pub(crate) const EXIT_USAGE: u8 = 255;

/// What a subcommand's command line held: flag values by name, and the bare arguments.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Parsed {
    pub(crate) values: HashMap<&'static str, String>,
    pub(crate) bare: Vec<String>,
}

impl Parsed {
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }
}

/// Reads `args` against `known` flag names (each takes one value); `Ok(None)` for `-h`.
pub(crate) fn parse_flags(
    cmd: &str,
    args: &[String],
    known: &[&'static str],
) -> Result<Option<Parsed>, String> {
    let mut out = Parsed::default();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if matches!(a.as_str(), "-h" | "--help" | "-help") {
            return Ok(None);
        }
        let Some(flag) = a.strip_prefix('-').filter(|f| !f.is_empty()) else {
            out.bare.push(a.clone());
            continue;
        };
        let flag = flag.strip_prefix('-').unwrap_or(flag);
        let (name, inline) = match flag.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (flag, None),
        };
        let Some(&name) = known.iter().find(|k| **k == name) else {
            return Err(format!("unknown flag \"{a}\" (see gossipper {cmd} -h)"));
        };
        let value = match inline {
            Some(v) => v,
            None => it.next().cloned().ok_or(format!("-{name} needs a value"))?,
        };
        out.values.insert(name, value);
    }
    Ok(Some(out))
}

/// Runs a subcommand body: prints `usage` for `-h`, a command-line error once (exit 255),
/// a failure once (exit 1).
pub(crate) fn run_cli(
    cmd: &str,
    usage: &str,
    args: &[String],
    known: &[&'static str],
    body: impl FnOnce(Parsed) -> Result<(), Failure>,
) -> ExitCode {
    let parsed = match parse_flags(cmd, args, known) {
        Ok(Some(p)) => p,
        Ok(None) => {
            print!("{usage}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("gossipper {cmd}: {e}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    match body(parsed) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(e)) => {
            eprintln!("gossipper {cmd}: {e}");
            ExitCode::from(EXIT_USAGE)
        }
        Err(Failure::Failed(e)) => {
            eprintln!("gossipper {cmd}: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Why a subcommand stopped.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The command line is wrong (exit 255).
    Usage(String),
    /// The work failed (exit 1).
    Failed(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn flags_take_one_value_in_each_spelling_and_unknown_ones_are_named() {
        let p = parse_flags(
            "t",
            &s(&["a.csv", "-in", "x", "--out=y", "1"]),
            &["in", "out"],
        )
        .unwrap()
        .unwrap();
        assert_eq!((p.get("in"), p.get("out")), (Some("x"), Some("y")));
        assert_eq!(p.bare, ["a.csv", "1"]);
        assert_eq!(
            parse_flags("t", &s(&["-x", "-h"]), &["in"]).unwrap_err(),
            "unknown flag \"-x\" (see gossipper t -h)"
        );
        assert_eq!(
            parse_flags("t", &s(&["-in"]), &["in"]).unwrap_err(),
            "-in needs a value"
        );
        assert_eq!(parse_flags("t", &s(&["-h", "-x"]), &["in"]).unwrap(), None);
    }
}
