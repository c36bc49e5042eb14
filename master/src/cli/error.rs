//! Errors of the legacy command line: every one names the flag (or argument) at fault.
//!
//! Owns: the `CliError` kinds. Must not: print (`cli::main` prints once) or pick exit codes
//! (every `CliError` is `Exit::Fatal`). Display text is not API: tests match variants.

use thiserror::Error;

/// Why the command line was rejected.
#[derive(Debug, Error, PartialEq)]
pub(crate) enum CliError {
    /// A flag we do not know (SIPp's wording).
    #[error("Invalid argument: '{arg}'. Use 'gossipper -h' for details")]
    UnknownFlag { arg: String },
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
    /// `-sd` with a name that is not in the built-in catalogue.
    #[error("-sd: invalid default scenario name '{name}'")]
    UnknownBuiltin { name: String },
    /// The remote host (positional argument or `-rsa`) does not parse or resolve.
    #[error("{what} '{text}': {reason}")]
    BadAddress {
        what: &'static str,
        text: String,
        reason: String,
    },
}
