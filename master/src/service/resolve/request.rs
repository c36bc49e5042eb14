//! What a request to start a job carries: the profile (or tool), the scenario, and the
//! engine overrides (gossipper-reference.md §5.5).
//!
//! Owns: those shapes. Unknown override keys are refused: a typo in an override is a 400
//! at `POST /jobs`, never a setting that silently does nothing. Must not: touch files or
//! resolve anything (`super` does, once, into the job's spec file).

use serde::{Deserialize, Serialize};

use crate::service::store::jobs::ProfileKind;

/// What a caller asks the master to start: a profile (or a tool) and what to change.
/// Resolved once into the job's spec file (`super::resolve`).
#[derive(Debug, Clone)]
pub(crate) struct StartRequest {
    pub(crate) id: Option<String>,
    pub(crate) profile_id: String,
    pub(crate) profile_kind: ProfileKind,
    pub(crate) scenario_id: String,
    pub(crate) record_wav: bool,
    pub(crate) record_wav_duplex: bool,
    pub(crate) engine: EngineOverrides,
    pub(crate) tool_args: serde_json::Map<String, serde_json::Value>,
    pub(crate) created_by: String,
    /// The job's name and notes (`store::jobs::Job`), set by whoever starts it.
    pub(crate) name: String,
    pub(crate) notes: String,
    /// issue 20: how many worker processes run the job (each its segment) and the
    /// network namespace of each (`workers`, `worker_netns` in the request).
    pub(crate) workers: crate::job::spec::Workers,
    /// issue 20: run the job on the master's Kubernetes cluster (`kubernetes`).
    pub(crate) kubernetes: Option<crate::job::kube::KubeRequest>,
    /// A gateway job started by `/gateways/{id}/arm` or `/originate`: what its scenario
    /// must be (`None`: `POST /jobs`, where the scenario's role decides).
    pub(crate) gateway_intent: Option<GatewayIntent>,
}

/// What a gateway job was asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GatewayIntent {
    /// Receive the registrar's calls with a UAS scenario.
    Arm,
    /// Place calls through the registrar with a UAC scenario.
    Originate,
}

impl Default for StartRequest {
    /// A client job of no profile, asking for nothing (fill in what the request says).
    fn default() -> Self {
        StartRequest {
            id: None,
            profile_id: String::new(),
            profile_kind: ProfileKind::Client,
            scenario_id: String::new(),
            record_wav: false,
            record_wav_duplex: false,
            engine: EngineOverrides::default(),
            tool_args: serde_json::Map::new(),
            created_by: String::new(),
            name: String::new(),
            notes: String::new(),
            workers: crate::job::spec::Workers::default(),
            kubernetes: None,
            gateway_intent: None,
        }
    }
}

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
    fn nulls_mean_not_given() {
        let o: EngineOverrides =
            serde_json::from_str(r#"{"rate": null, "total_calls": 500}"#).unwrap();
        assert_eq!(o.rate, None);
        assert_eq!(o.total_calls, Some(500));
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
