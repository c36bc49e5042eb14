//! The checks every request that starts a job shares: its name and notes, its
//! thresholds, and (for load tests) that the scenario exists, loads and places calls.
//!
//! Owns: turning those problems into 400s that name the field at fault, before any job
//! row exists ("nothing accepted and then refused"). Must not: start anything (the
//! supervisor does) or hold a grammar (thresholds parse in the engine).

use gossipper_engine::config::JobSpec;
use gossipper_engine::runner::{self, RunError};
use gossipper_engine::scenario::Role;
use gossipper_engine::stats::thresholds;

use super::{ApiError, Ctx};
use crate::service::resolve::ConfigError;
use crate::service::supervisor::StartRequest;

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

/// Builds and checks a client job as the master's precheck does (the worker's
/// `config::build`, the engine's `runner::check`), answering 400 for every reason it
/// could not run: an unknown scenario (named), one that answers calls instead of placing
/// them, a scenario that does not load, a threshold on a timer it lacks. Returns the
/// engine settings the run will use.
pub(super) fn check_load_test(ctx: &Ctx, req: &StartRequest) -> Result<JobSpec, ApiError> {
    let root = ctx.store.layout.root();
    let spec = req.worker_spec("_check", root, &root.join("artifacts/jobs/_check"), 1000);
    let built = crate::service::resolve::build(&spec, 0).map_err(|e| match e {
        ConfigError::UnknownScenario(id) => ApiError::field(
            "scenario_id",
            format!("\"{id}\" is neither a stored scenario nor a built-in one"),
        ),
        other => ApiError::BadRequest(other.to_string()),
    })?;
    let role = runner::check(&built.job).map_err(|e| match e {
        RunError::Scenario(errs) => {
            let text: Vec<String> = errs.0.iter().map(ToString::to_string).collect();
            ApiError::field(
                "scenario_id",
                format!(
                    "\"{}\" does not load: {}",
                    built.scenario_id,
                    text.join("; ")
                ),
            )
        }
        e @ RunError::Threshold(_) => ApiError::field("thresholds", e),
        other => ApiError::BadRequest(other.to_string()),
    })?;
    if role != Role::Client {
        return Err(ApiError::field(
            "scenario_id",
            format!(
                "\"{}\" answers calls (a UAS scenario); a load test needs a scenario that places them, such as uac or invite_media",
                built.scenario_id
            ),
        ));
    }
    Ok(built.job)
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
