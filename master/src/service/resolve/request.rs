//! The worker spec file (gossipper-reference.md §5.7) and the engine overrides a job may
//! carry.
//!
//! Owns: the JSON shape the master writes to `tmp/spec-<job>.json` and `gossipper worker
//! --spec` reads. Both sides use these types, so they cannot drift. Unknown keys are
//! refused everywhere: a typo in an override is a 400 at `POST /jobs`, never a setting
//! that silently does nothing. Must not: touch files or resolve anything (`config` does).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// `{job_id, data_dir, profile_id, profile_kind, scenario_id, tool_args, artifacts_dir,
/// stats_interval_ms, record_wav, record_wav_duplex, engine, name, notes}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct WorkerSpec {
    pub(crate) job_id: String,
    pub(crate) data_dir: PathBuf,
    #[serde(default)]
    pub(crate) profile_id: String,
    /// `server`, `client`, `tool` (the tool id is `profile_id`) or `gateway`.
    pub(crate) profile_kind: String,
    #[serde(default)]
    pub(crate) scenario_id: String,
    #[serde(default)]
    pub(crate) tool_args: serde_json::Map<String, serde_json::Value>,
    pub(crate) artifacts_dir: PathBuf,
    #[serde(default = "default_interval")]
    pub(crate) stats_interval_ms: u64,
    #[serde(default)]
    pub(crate) record_wav: bool,
    #[serde(default)]
    pub(crate) record_wav_duplex: bool,
    #[serde(default)]
    pub(crate) engine: EngineOverrides,
    /// The job's name and notes as they were when it started (report.html shows them).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub(crate) name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub(crate) notes: String,
}

fn default_interval() -> u64 {
    1000
}

/// The smallest stats interval a spec may ask for (the runner ticks every 50 ms).
pub(crate) const MIN_STATS_INTERVAL_MS: u64 = 100;

/// Engine settings a job may override, applied after the profile. The first block is
/// the Go gossipper's list (§5.5); the last three are ours: the call hold time of the
/// built-in UAC (`-d`), the shard count and the RNG seed. `null` means "not given".
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct EngineOverrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) transport: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) local_ip: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) local_port: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) remote_host: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) remote_port: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) rate: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) max_concurrent: Option<u64>,
    /// 0 = run until stopped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) total_calls: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) global_timeout_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) sip_from: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) sip_pai: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) sip_provider: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) health_min_success_ratio: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) health_max_failed_calls: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) health_max_timeouts: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) auth_username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) auth_password: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) service: Option<String>,
    /// Pause of `<pause/>` without a duration (`-d`): the call hold time of `uac`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) call_duration_ms: Option<u64>,
    /// Engine shards (threads); default one per CPU.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) shards: Option<usize>,
    /// RNG seed, to replay a run; default random.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) seed: Option<u64>,
    /// k6-style thresholds (`p99(response_time)<50ms`, `rate>=95%`, …), each as written;
    /// the grammar is `gossipper_engine::stats::thresholds`'.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) thresholds: Option<Vec<String>>,
}

impl EngineOverrides {
    /// The overrides as stored in the job row's `args_json` (the password is masked).
    pub(crate) fn redacted(&self) -> EngineOverrides {
        let mut o = self.clone();
        if o.auth_password.is_some() {
            o.auth_password = Some("***".into());
        }
        o
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_override_key_is_refused() {
        let err = serde_json::from_str::<EngineOverrides>(r#"{"rate": 5, "rtae": 10}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("rtae"), "{err}");
    }

    #[test]
    fn nulls_mean_not_given_and_the_spec_round_trips() {
        let o: EngineOverrides =
            serde_json::from_str(r#"{"rate": null, "total_calls": 500}"#).unwrap();
        assert_eq!(o.rate, None);
        assert_eq!(o.total_calls, Some(500));
        let spec = WorkerSpec {
            job_id: "j1".into(),
            data_dir: "/d".into(),
            profile_id: "c1".into(),
            profile_kind: "client".into(),
            scenario_id: String::new(),
            tool_args: Default::default(),
            artifacts_dir: "/d/artifacts/jobs/j1".into(),
            stats_interval_ms: 1000,
            record_wav: false,
            record_wav_duplex: false,
            engine: o,
            name: "nightly".into(),
            notes: String::new(),
        };
        let text = serde_json::to_string(&spec).unwrap();
        assert_eq!(serde_json::from_str::<WorkerSpec>(&text).unwrap(), spec);
        let minimal: WorkerSpec = serde_json::from_str(
            r#"{"job_id":"j","data_dir":"/d","profile_kind":"server","artifacts_dir":"/a"}"#,
        )
        .unwrap();
        assert_eq!(minimal.stats_interval_ms, 1000);
    }

    #[test]
    fn the_password_never_reaches_the_job_row() {
        let o = EngineOverrides {
            auth_password: Some("secret".into()),
            ..Default::default()
        };
        assert_eq!(o.redacted().auth_password.as_deref(), Some("***"));
    }
}
