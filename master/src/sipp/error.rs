//! Errors of the SIPp command line: every one names the flag (or argument) at fault.
//!
//! Owns: the `CliError` kinds. Must not: print (`sipp::main` prints once) or pick exit codes
//! (every `CliError` is `Exit::Fatal`). Display text is not API: tests match variants.

use thiserror::Error;

/// The end of an unknown-flag message: a suggestion, then SIPp's pointer to `-h`.
fn did_you_mean(s: &Option<&'static str>) -> String {
    match s {
        Some(name) => format!(" Did you mean '-{name}'? Use 'gossipper -h' for details"),
        None => " Use 'gossipper -h' for details".to_string(),
    }
}

/// Why the command line was rejected.
#[derive(Debug, Error, PartialEq)]
pub(crate) enum CliError {
    /// A flag we do not know (SIPp's wording), with the closest known one when a typo
    /// is likely.
    #[error("Invalid argument: '{arg}'.{}", did_you_mean(.suggestion))]
    UnknownFlag {
        arg: String,
        suggestion: Option<&'static str>,
    },
    /// A subcommand after `sipp` (only SIPp's flags follow `sipp`).
    #[error(
        "'{0}' is a subcommand: run 'gossipper {0} …' without 'sipp' (only SIPp's flags follow 'sipp')"
    )]
    SubcommandAfterSipp(String),
    /// The command line ended before the flag's value(s).
    #[error("Missing argument for param '-{flag}'. Use 'gossipper -h' for details")]
    MissingValue { flag: &'static str },
    /// A value that does not parse as the flag's type.
    #[error("-{flag}, \"{value}\" is not {expected}")]
    BadValue {
        flag: &'static str,
        value: String,
        expected: &'static str,
    },
    /// A value that parses but is not allowed (out of range, inconsistent).
    #[error("-{flag}: {reason}")]
    Invalid { flag: &'static str, reason: String },
    /// Two flags that cannot be combined.
    #[error("-{flag} cannot be combined with -{other}")]
    Conflict {
        flag: &'static str,
        other: &'static str,
    },
    /// A SIPp feature gossipper does not have.
    #[error("-{flag}: {what} is not supported by gossipper")]
    Unsupported {
        flag: &'static str,
        what: &'static str,
    },
    /// `-sd` or `-sn` with a name that is not in the built-in catalogue.
    #[error("-{flag}: invalid default scenario name '{name}'; the built-in scenarios are: {known}")]
    UnknownBuiltin {
        flag: &'static str,
        name: String,
        known: String,
    },
    /// A flag of `gossipper server` given to the root command.
    #[error("-{flag} is a flag of gossipper server (see gossipper server -h)")]
    ServerOnly { flag: &'static str },
    /// The remote host (positional argument or `-rsa`) does not parse or resolve.
    #[error("{what} '{text}': {reason}")]
    BadAddress {
        what: &'static str,
        text: String,
        reason: String,
    },
}
