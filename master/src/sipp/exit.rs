//! The SIPp command line's exit codes, in one table.
//!
//! Owns: the number behind each way a run can end. Must not: decide how a run ended (the
//! runner does) or print anything. SIPp's codes come from `sipp -h` (reference/sipp.md §3);
//! 2 is gossipper's health gate (spec/gossipper-reference.md §1.1).
//!
//! Checked against SIPp 3.6.1 itself: `-v`, `-sd` and no arguments exit 99;
//! `-timeout_error` exits 255. Two deliberate differences: SIPp 3.6.1 exits 1 when it
//! rejects a flag or a scenario at start-up (its `ERROR()` path), which a script cannot
//! tell from "a call failed"; we exit 255, the code SIPp documents for fatal errors. And
//! `-h` exits 0, not 99: asking for the help is not a failure.

use std::process::ExitCode;

/// How a run of the SIPp command line (or the command line itself) ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Exit {
    /// Every call succeeded.
    AllSucceeded,
    /// At least one call failed.
    SomeFailed,
    /// A `-health_*` gate failed (gossipper).
    HealthGateFailed,
    /// Stopped by an internal command (`q`, control socket, `-timeout` without error).
    InternalCommand,
    /// Normal exit without calls processed; also `-h`, `-v`, `-sd`.
    NoCallsProcessed,
    /// Fatal: bad flag, bad scenario, `-timeout_error` reached.
    Fatal,
    /// A socket could not be bound.
    BindError,
}

/// One row of the table.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ExitRow {
    pub(crate) exit: Exit,
    pub(crate) code: u8,
    pub(crate) meaning: &'static str,
}

/// Every exit code, in `-h` order.
pub(crate) const TABLE: &[ExitRow] = &[
    ExitRow {
        exit: Exit::AllSucceeded,
        code: 0,
        meaning: "all calls succeeded",
    },
    ExitRow {
        exit: Exit::SomeFailed,
        code: 1,
        meaning: "at least one call failed",
    },
    ExitRow {
        exit: Exit::HealthGateFailed,
        code: 2,
        meaning: "a -threshold or a -health_* gate failed",
    },
    ExitRow {
        exit: Exit::InternalCommand,
        code: 97,
        meaning: "exit on an internal command (calls may have run)",
    },
    ExitRow {
        exit: Exit::NoCallsProcessed,
        code: 99,
        meaning: "normal exit without calls processed (-v, -sd, no arguments); -h exits 0",
    },
    ExitRow {
        exit: Exit::BindError,
        code: 254,
        meaning: "fatal error binding a socket (SIPp's -2)",
    },
    ExitRow {
        exit: Exit::Fatal,
        code: 255,
        meaning: "fatal error: flag, scenario, -timeout_error (SIPp's -1)",
    },
];

impl Exit {
    /// The process exit status.
    pub(crate) fn code(self) -> u8 {
        TABLE
            .iter()
            .find(|r| r.exit == self)
            .map_or(255, |r| r.code)
    }
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> ExitCode {
        ExitCode::from(e.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_match_sipp_and_the_health_gate() {
        let expected = [
            (Exit::AllSucceeded, 0),
            (Exit::SomeFailed, 1),
            (Exit::HealthGateFailed, 2),
            (Exit::InternalCommand, 97),
            (Exit::NoCallsProcessed, 99),
            (Exit::BindError, 254), // SIPp's -2 as an unsigned byte
            (Exit::Fatal, 255),     // SIPp's -1
        ];
        for (exit, code) in expected {
            assert_eq!(exit.code(), code, "{exit:?}");
        }
        assert_eq!(TABLE.len(), expected.len(), "every row is pinned above");
    }

    #[test]
    fn every_exit_has_exactly_one_distinct_code() {
        for (i, a) in TABLE.iter().enumerate() {
            for b in &TABLE[i + 1..] {
                assert_ne!(a.exit, b.exit);
                assert_ne!(a.code, b.code);
            }
        }
    }
}
