//! `GET /metrics` (also `/api/v2/metrics`): the master's Prometheus scrape target.
//!
//! Owns: which jobs are shown and with which labels: every state's job count, and each
//! job with a worker, labelled `job_id`, `job_name` (empty when unnamed), `kind`
//! (`server`, `client`) and `scenario`, with the numbers of its newest stats line
//! (`job::metrics` writes the text). Open to a user's token and to the scrape token of
//! `gossipper ui --metrics-token-file` (the route table's `scrape` flag; `dispatch`
//! checks it). Must not: read files or walk stats.jsonl (the supervisor keeps each job's
//! newest line in memory).

use super::{ApiError, Call, Ctx, Reply};
use crate::job::line::WorkerLine;
use crate::job::metrics::{CONTENT_TYPE, Exposition, RunMetrics};

pub(super) fn metrics(ctx: &Ctx, _call: &mut Call<'_, '_>) -> Result<Reply, ApiError> {
    let view = ctx.supervisor.metrics_view()?;
    let runs: Vec<RunMetrics<'_>> = view
        .running
        .iter()
        .filter_map(|(job, line)| match &**line {
            WorkerLine::Stats { stats, .. } => Some(RunMetrics {
                labels: vec![
                    ("job_id", job.id.clone()),
                    ("job_name", job.name.clone()),
                    ("kind", job.profile_kind.as_str().to_string()),
                    ("scenario", job.scenario_id.clone()),
                ],
                stats,
            }),
            _ => None,
        })
        .collect();
    let mut text = Exposition::new();
    text.jobs_by_status(&view.by_status);
    text.runs(&runs);
    Ok(Reply::Generated {
        content_type: CONTENT_TYPE,
        body: text.finish().into_bytes(),
    })
}
