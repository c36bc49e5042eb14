//! The checks every request that starts a job shares: its name and notes, its
//! thresholds, and (for load tests) that the scenario exists, loads and places calls.
//!
//! Owns: turning those problems into 400s that name the field at fault, before any job
//! row exists ("nothing accepted and then refused"). Must not: start anything (the
//! supervisor does) or hold a grammar (thresholds parse in the engine).

use gossipper_engine::config::JobSpec;
use gossipper_engine::runner::RunError;
use gossipper_engine::scenario::Role;
use gossipper_engine::stats::thresholds;

use super::ApiError;
use crate::job::spec::{MAX_WORKERS, Run, Workers};
use crate::service::resolve::ResolveError;
use crate::service::store::jobs::ProfileKind;
use crate::service::supervisor::{CheckError, Pending};

/// Longest job name, in characters.
pub(super) const MAX_NAME: usize = 200;
/// Longest job notes, in bytes.
pub(super) const MAX_NOTES: usize = 8192;

/// A job's name: one line of at most [`MAX_NAME`] characters, trimmed.
pub(super) fn name(v: &str) -> Result<String, ApiError> {
    let v = v.trim();
    if v.chars().count() > MAX_NAME {
        return Err(ApiError::field(
            "name",
            format!("is longer than {MAX_NAME} characters"),
        ));
    }
    if v.chars().any(char::is_control) {
        return Err(ApiError::field(
            "name",
            "must be one line without control characters",
        ));
    }
    Ok(v.to_string())
}

/// A job's notes: free text of at most [`MAX_NOTES`] bytes (line breaks allowed).
pub(super) fn notes(v: &str) -> Result<String, ApiError> {
    if v.len() > MAX_NOTES {
        return Err(ApiError::field(
            "notes",
            format!("is longer than {MAX_NOTES} bytes"),
        ));
    }
    if v.chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err(ApiError::field("notes", "contains control characters"));
    }
    Ok(v.to_string())
}

/// The most workers a job may ask: 4 per core, at most `job::spec::MAX_WORKERS`.
pub(super) fn max_workers() -> u32 {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    u32::try_from(cores.saturating_mul(4))
        .unwrap_or(u32::MAX)
        .min(MAX_WORKERS)
}

/// `workers` and `worker_netns` of a start request (issue 20): 1 to [`max_workers`], a
/// client (or gateway) job only, a namespace name per worker or none. What the run
/// cannot split (a `max_calls` under the count, one fixed port for all) is refused once
/// the job is resolved (`Workers::refusal`), naming the same fields.
pub(super) fn workers(
    count: Option<u32>,
    netns: Vec<String>,
    kind: ProfileKind,
) -> Result<Workers, ApiError> {
    let count = count.unwrap_or(1);
    let cap = max_workers();
    if count == 0 || count > cap {
        return Err(ApiError::field(
            "workers",
            format!("{count}: from 1 to {cap} (4 per core, at most {MAX_WORKERS})"),
        ));
    }
    if count > 1
        && matches!(
            kind,
            ProfileKind::Server | ProfileKind::Tool | ProfileKind::Gateway
        )
    {
        return Err(ApiError::field(
            "workers",
            format!("a {} job runs in one worker", kind.as_str()),
        ));
    }
    let w = Workers {
        count,
        netns,
        ..Workers::default()
    };
    if let Some(why) = w.refusal(&Run::Engine(Box::default())) {
        return Err(ApiError::BadRequest(why.named("workers", "worker_netns")));
    }
    Ok(w)
}

/// `kubernetes` of a start request (issue 20): a client job only, and its pod count is
/// `kubernetes.parallelism`, not `workers`. The rest is checked once the job is resolved
/// (`job::kube::plan`), naming the same field.
pub(super) fn kubernetes(
    k: Option<&crate::job::kube::KubeRequest>,
    workers: &Workers,
    kind: ProfileKind,
) -> Result<(), ApiError> {
    if k.is_none() {
        return Ok(());
    }
    if kind != ProfileKind::Client {
        return Err(ApiError::field(
            "kubernetes",
            format!("a {} job runs in the master's own worker", kind.as_str()),
        ));
    }
    if *workers != Workers::default() {
        return Err(ApiError::field(
            "kubernetes",
            "the pod count is kubernetes.parallelism; leave out workers and worker_netns",
        ));
    }
    Ok(())
}

/// Each threshold parses; the error names its position (`thresholds[1]`).
pub(super) fn check_thresholds(list: Option<&[String]>, field: &str) -> Result<(), ApiError> {
    for (i, text) in list.unwrap_or_default().iter().enumerate() {
        let parsed = thresholds::parse_list(text)
            .map_err(|e| ApiError::field(&format!("{field}[{i}]"), e))?;
        if parsed.is_empty() {
            return Err(ApiError::field(&format!("{field}[{i}]"), "is empty"));
        }
    }
    Ok(())
}

/// A load test's check: the job resolved and checked (`Supervisor::prepare`), answering
/// 400 for every reason it could not run: an unknown scenario (named), one that answers
/// calls instead of placing them, a scenario that does not load, a threshold on a timer
/// it lacks. Returns the engine settings the run will use (the ones its spec file holds).
pub(super) fn check_load_test<'p>(
    pending: &'p Pending<'_>,
    scenario_id: &str,
) -> Result<&'p JobSpec, ApiError> {
    let checked = pending.checked.as_ref().map_err(|e| match e {
        CheckError::Resolve(ResolveError::UnknownScenario(id)) => ApiError::field(
            "scenario_id",
            format!("\"{id}\" is neither a stored scenario nor a built-in one"),
        ),
        CheckError::Scenario(_) => ApiError::field(
            "scenario_id",
            format!("\"{scenario_id}\" does not load: {e}"),
        ),
        CheckError::Run(e @ RunError::Threshold(_)) => ApiError::field("thresholds", e),
        other => ApiError::BadRequest(other.to_string()),
    })?;
    let (Run::Engine(job), Some(role)) = (&checked.file.run, checked.role) else {
        return Err(ApiError::BadRequest("a load test runs the engine".into()));
    };
    if role != Role::Client {
        return Err(ApiError::field(
            "scenario_id",
            format!(
                "\"{scenario_id}\" answers calls (a UAS scenario); a load test needs a scenario that places them, such as uac or invite_media"
            ),
        ));
    }
    Ok(job)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_one_trimmed_line_and_notes_may_span_lines() {
        assert_eq!(name("  nightly 100 cps ").unwrap(), "nightly 100 cps");
        assert!(name("a\nb").is_err());
        assert!(name(&"x".repeat(MAX_NAME + 1)).is_err());
        assert_eq!(notes("SBC 4.2\nTLS off").unwrap(), "SBC 4.2\nTLS off");
        assert!(notes("bell\u{7}").is_err());
    }

    #[test]
    fn a_bad_threshold_names_its_position() {
        let list = vec!["failed_calls==0".to_string(), "p99(rt<5".to_string()];
        let e = check_thresholds(Some(&list), "thresholds").unwrap_err();
        assert_eq!(e.status(), 400);
        assert!(e.to_string().starts_with("thresholds[1]: "), "{e}");
        assert!(check_thresholds(None, "thresholds").is_ok());
    }
}

#[cfg(test)]
mod worker_tests {
    use super::*;

    fn refused(count: Option<u32>, netns: &[&str], kind: ProfileKind) -> String {
        let netns = netns.iter().map(|n| n.to_string()).collect();
        match workers(count, netns, kind) {
            Err(ApiError::BadRequest(m)) => m,
            other => panic!("not a 400: {other:?}"),
        }
    }

    #[test]
    fn workers_that_cannot_work_are_400_naming_the_field() {
        assert_eq!(
            workers(None, Vec::new(), ProfileKind::Client)
                .unwrap()
                .count,
            1
        );
        assert_eq!(
            workers(Some(2), Vec::new(), ProfileKind::Client)
                .unwrap()
                .count,
            2
        );
        assert!(refused(Some(0), &[], ProfileKind::Client).starts_with("workers: 0"));
        let over = max_workers() + 1;
        assert!(refused(Some(over), &[], ProfileKind::Client).starts_with("workers: "));
        assert!(refused(Some(2), &[], ProfileKind::Server).starts_with("workers: a server"));
        assert!(refused(Some(2), &["a"], ProfileKind::Client).starts_with("worker_netns: "));
        assert!(refused(Some(2), &["a", "b/c"], ProfileKind::Client).starts_with("worker_netns: "));
        assert!(max_workers() >= 4 && max_workers() <= MAX_WORKERS);
    }
}
