//! What the master checks before it creates a job and forks its worker.
//!
//! Owns: the split between a request that is refused (400, no job is created: a file the
//! job's rule forbids, a scenario past the parser's limits, a shell command, a tool
//! argument naming another job's files) and a job that is created and fails at once (an
//! unknown profile, a missing file, a tool this build lacks). Runs the worker's own
//! `config::build` and `tools::check` and the engine's `runner::check`, so the worker,
//! which checks again, cannot disagree. Must not: write anything (the supervisor creates the job).

use gossipper_engine::runner::{self, RunError};
use gossipper_engine::scenario::{ScenarioErrorKind, ScenarioErrors};

use crate::service::resolve::request::WorkerSpec;
use crate::worker::tools::{self, ToolError};

/// Why a job may not start.
#[derive(Debug)]
pub(super) enum Precheck {
    /// The request is refused: answer 400, create nothing.
    Refused(String),
    /// The job is created and fails at once with this reason.
    CannotRun(String),
}

/// Checks `spec`; `job_exists` answers whether a job id names an existing job (tools
/// read other jobs' summaries).
pub(super) fn precheck(
    spec: &WorkerSpec,
    job_exists: &dyn Fn(&str) -> bool,
) -> Result<(), Precheck> {
    if spec.profile_kind == "tool" {
        return tools::check(&spec.profile_id, &spec.tool_args, &spec.job_id, job_exists).map_err(
            |e| match e {
                ToolError::BadArg { .. } => Precheck::Refused(e.to_string()),
                _ => Precheck::CannotRun(e.to_string()),
            },
        );
    }
    let built =
        crate::service::resolve::build(spec, 0).map_err(|e| Precheck::CannotRun(e.to_string()))?;
    runner::check(&built.job).map(drop).map_err(|e| match e {
        RunError::Scenario(errs) if refuses(&errs) => Precheck::Refused(text(&errs)),
        RunError::Scenario(errs) => Precheck::CannotRun(text(&errs)),
        RunError::Refused(_) | RunError::Threshold(_) => Precheck::Refused(e.to_string()),
        other => Precheck::CannotRun(other.to_string()),
    })
}

/// A file the rule forbids or a limit passed: the request itself is at fault.
fn refuses(errs: &ScenarioErrors) -> bool {
    errs.0.iter().any(|e| match &e.kind {
        ScenarioErrorKind::File { error, .. } => error.is_refusal(),
        ScenarioErrorKind::Limit(_) => true,
        _ => false,
    })
}

fn text(errs: &ScenarioErrors) -> String {
    if errs.0.is_empty() {
        return "the scenario could not be loaded".into();
    }
    errs.0
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}
