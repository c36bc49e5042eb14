//! Starts a resolved legacy run: hands the `JobSpec` to the legacy runner (live screen,
//! traces, exit codes in `crate::legacy`).
//!
//! Owns: the hand-over only. Must not: parse flags.

use std::process::ExitCode;

use gossipper_engine::config::JobSpec;

/// Runs `spec` and returns SIPp's exit code for how it ended.
pub(crate) fn launch(spec: JobSpec) -> ExitCode {
    crate::legacy::run(spec)
}
