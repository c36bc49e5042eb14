//! What the master checks before it creates a job and forks its worker: the job resolved
//! once (`resolve`), and the engine's own check of that resolved configuration.
//!
//! Owns: [`CheckError`], every reason a job may not start, typed, and the split between a
//! request that is refused (400, no job is created: a file the job's rule forbids, a
//! scenario past the parser's limits, a shell command, a threshold on a timer the
//! scenario lacks, a tool this build cannot run, a tool argument naming another job's
//! files or a missing capture) and a job that is created and fails at once (an unknown
//! profile, a missing file). The
//! configuration checked here is the one the supervisor writes into the job's spec file,
//! so the worker runs exactly what was checked. Must not: write anything (the supervisor
//! creates the job).

use gossipper_engine::runner::{self, RunError};
use gossipper_engine::scenario::{Role, ScenarioErrorKind, ScenarioErrors};

use crate::job::spec::{JobFile, Run, Workers};
use crate::service::resolve::tools::ToolError;
use crate::service::resolve::{self, JobPlace, ResolveError, request::StartRequest};
use crate::service::store::Store;

/// Why a job may not start.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CheckError {
    /// The request does not resolve (unknown profile or scenario, a bad value, a tool
    /// argument).
    #[error(transparent)]
    Resolve(#[from] ResolveError),
    /// The scenario does not load.
    #[error("{}", scenario_text(.0))]
    Scenario(ScenarioErrors),
    /// The engine's check of the resolved configuration failed otherwise.
    #[error(transparent)]
    Run(RunError),
    /// The workers asked cannot run this job (issue 20): the text names the request's
    /// field (`workers`, `worker_netns`).
    #[error("{0}")]
    Workers(String),
}

impl CheckError {
    /// Whether the request itself is at fault (answer 400, create nothing) rather than
    /// the job failing at once.
    pub(crate) fn refuses(&self) -> bool {
        match self {
            CheckError::Resolve(ResolveError::Tool(
                ToolError::BadArg { .. } | ToolError::NotAvailable { .. },
            )) => true,
            // Something this build does not do (several SIP listeners in one job, …):
            // refused by name, never a job that fails at once.
            CheckError::Resolve(ResolveError::Unsupported(_) | ResolveError::Refused { .. }) => {
                true
            }
            CheckError::Resolve(_) => false,
            CheckError::Scenario(errs) => errs.0.iter().any(|e| match &e.kind {
                ScenarioErrorKind::File { error, .. } => error.is_refusal(),
                ScenarioErrorKind::Limit(_) => true,
                _ => false,
            }),
            CheckError::Run(e) => matches!(e, RunError::Refused(_) | RunError::Threshold(_)),
            CheckError::Workers(_) => true,
        }
    }
}

impl From<RunError> for CheckError {
    fn from(e: RunError) -> Self {
        match e {
            RunError::Scenario(errs) => CheckError::Scenario(errs),
            other => CheckError::Run(other),
        }
    }
}

fn scenario_text(errs: &ScenarioErrors) -> String {
    if errs.0.is_empty() {
        return "the scenario could not be loaded".into();
    }
    errs.0
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// A job resolved and checked: its spec file, and for an engine run the scenario's role
/// (a load test refuses a scenario that answers calls).
pub(crate) struct Checked {
    pub(crate) file: JobFile,
    pub(crate) role: Option<Role>,
}

/// Resolves `req` as job `place` with `seed`, then checks what it resolved to: the
/// scenario loads (its `[file name=…]`s read under the job's rule), runs no shell
/// command and has the timers its thresholds name, and every file the job names passes
/// the rule.
pub(super) fn precheck(
    store: &Store,
    req: &StartRequest,
    place: &JobPlace,
    seed: u64,
) -> Result<Checked, CheckError> {
    let mut file = resolve::resolve(store, req, place, seed)?;
    if file.workers.listeners.is_empty() {
        if let Some(why) = req.workers.refusal(&file.run) {
            return Err(CheckError::Workers(why.named("workers", "worker_netns")));
        }
        file.workers = req.workers.clone();
    } else if req.workers != Workers::default() {
        return Err(CheckError::Workers(
            "workers: a server profile with several listeners runs one worker per listener".into(),
        ));
    } else if let Some(why) = file.workers.refusal(&file.run) {
        return Err(CheckError::Workers(why.named("workers", "worker_netns")));
    }
    let role = match &file.run {
        Run::Engine(job) => Some(runner::check(job)?),
        Run::Tool(_) => None,
    };
    // Every listener's settings are checked as the first one's (a TLS row's files).
    if let Run::Engine(job) = &file.run {
        for l in file.workers.listeners.iter().skip(1) {
            let mut j = (**job).clone();
            l.apply(&mut j);
            runner::check(&j)?;
        }
    }
    Ok(Checked { file, role })
}
