//! The objects of a cluster job: the ConfigMap holding the pods' spec and the Indexed
//! Job that runs them, and the API paths of both.
//!
//! Owns: their shapes, from `k8s-openapi`'s types (serialized with their `apiVersion`
//! and `kind`). Each pod runs `gossipper worker --spec /config/spec.json --segments N
//! --start-at T` with `JOB_COMPLETION_INDEX` from the downward API, and posts its lines
//! to the master (`GOSSIPPER_LINES_URL`, `GOSSIPPER_LINES_TOKEN`). Must not: do I/O.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::batch::v1::{Job, JobSpec};
use k8s_openapi::api::core::v1::{
    ConfigMap, ConfigMapVolumeSource, Container, EmptyDirVolumeSource, EnvVar, EnvVarSource,
    KeyToPath, ObjectFieldSelector, PodSpec, PodTemplateSpec, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::job::kube::{
    CONFIG_DIR, ENV_LINES_TOKEN, ENV_LINES_URL, KubeSpec, WORK_DIR, label_value, media_key,
    object_name,
};

/// The label holding the job's id on every object (and pod) of a cluster job.
pub(crate) const JOB_LABEL: &str = "gossipper.io/job-id";
/// Where the image holds the binary.
pub(crate) const BINARY: &str = "/usr/local/bin/gossipper";

/// The API paths of job `id`'s objects in `ns`.
pub(crate) struct Paths {
    pub(crate) configmaps: String,
    pub(crate) configmap: String,
    pub(crate) jobs: String,
    pub(crate) job: String,
    /// The Job, deleted with its pods (`propagationPolicy=Background`).
    pub(crate) job_delete: String,
}

impl Paths {
    pub(crate) fn of(ns: &str, id: &str) -> Paths {
        let name = object_name(id);
        let configmaps = format!("/api/v1/namespaces/{ns}/configmaps");
        let jobs = format!("/apis/batch/v1/namespaces/{ns}/jobs");
        Paths {
            configmap: format!("{configmaps}/{name}"),
            job: format!("{jobs}/{name}"),
            job_delete: format!("{jobs}/{name}?propagationPolicy=Background"),
            configmaps,
            jobs,
        }
    }
}

fn meta(k: &KubeSpec, id: &str) -> ObjectMeta {
    ObjectMeta {
        name: Some(object_name(id)),
        namespace: Some(k.namespace.clone()),
        labels: Some(labels(id)),
        ..ObjectMeta::default()
    }
}

fn labels(id: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("app.kubernetes.io/name".into(), "gossipper-worker".into()),
        (JOB_LABEL.into(), label_value(id)),
    ])
}

/// The ConfigMap: `spec.json`, the spec every pod runs (the scenario inline in it), and
/// the media files it names (`media`: each file's path in `k.media` and its bytes).
pub(crate) fn config_map(
    k: &KubeSpec,
    id: &str,
    pod_spec_json: String,
    media: Vec<(String, Vec<u8>)>,
) -> ConfigMap {
    let binary: BTreeMap<String, ByteString> = media
        .into_iter()
        .map(|(rel, bytes)| (media_key(&rel), ByteString(bytes)))
        .collect();
    ConfigMap {
        metadata: meta(k, id),
        data: Some(BTreeMap::from([("spec.json".into(), pod_spec_json)])),
        binary_data: (!binary.is_empty()).then_some(binary),
        immutable: Some(true),
    }
}

/// The ConfigMap's files in the pod: `spec.json`, and each media file at its path under
/// the pod's media root (`/config/media/pcap/x.pcap`).
fn config_items(k: &KubeSpec) -> Vec<KeyToPath> {
    let item = |key: String, path: String| KeyToPath {
        key,
        path,
        ..KeyToPath::default()
    };
    std::iter::once(item("spec.json".into(), "spec.json".into()))
        .chain(k.media.iter().map(|m| item(media_key(m), m.clone())))
        .collect()
}

fn env(name: &str, value: &str) -> EnvVar {
    EnvVar {
        name: name.into(),
        value: Some(value.into()),
        ..EnvVar::default()
    }
}

/// The Indexed Job: N pods, each its segment, all starting at `start_at` (Unix ms).
pub(crate) fn job(k: &KubeSpec, id: &str, start_at: u64) -> Job {
    let n = i32::try_from(k.parallelism).unwrap_or(1);
    let index = EnvVar {
        name: "JOB_COMPLETION_INDEX".into(),
        value_from: Some(EnvVarSource {
            field_ref: Some(ObjectFieldSelector {
                field_path: "metadata.annotations['batch.kubernetes.io/job-completion-index']"
                    .into(),
                ..ObjectFieldSelector::default()
            }),
            ..EnvVarSource::default()
        }),
        ..EnvVar::default()
    };
    let container = Container {
        name: "worker".into(),
        image: Some(k.image.clone()),
        command: Some(vec![BINARY.into()]),
        args: Some(vec![
            "worker".into(),
            "--spec".into(),
            format!("{CONFIG_DIR}/spec.json"),
            "--segments".into(),
            k.parallelism.to_string(),
            "--start-at".into(),
            start_at.to_string(),
        ]),
        env: Some(vec![
            index,
            env(ENV_LINES_URL, &k.lines_url),
            env(ENV_LINES_TOKEN, &k.token),
        ]),
        working_dir: Some(WORK_DIR.into()),
        volume_mounts: Some(vec![
            VolumeMount {
                name: "config".into(),
                mount_path: CONFIG_DIR.into(),
                read_only: Some(true),
                ..VolumeMount::default()
            },
            VolumeMount {
                name: "work".into(),
                mount_path: WORK_DIR.into(),
                ..VolumeMount::default()
            },
        ]),
        ..Container::default()
    };
    let pod = PodSpec {
        containers: vec![container],
        restart_policy: Some("Never".into()),
        // A pod's SIGTERM is a soft quit; it posts its exit line well inside this.
        termination_grace_period_seconds: Some(15),
        volumes: Some(vec![
            Volume {
                name: "config".into(),
                config_map: Some(ConfigMapVolumeSource {
                    name: object_name(id),
                    items: Some(config_items(k)),
                    ..ConfigMapVolumeSource::default()
                }),
                ..Volume::default()
            },
            Volume {
                name: "work".into(),
                empty_dir: Some(EmptyDirVolumeSource::default()),
                ..Volume::default()
            },
        ]),
        ..PodSpec::default()
    };
    Job {
        metadata: meta(k, id),
        spec: Some(JobSpec {
            completion_mode: Some("Indexed".into()),
            completions: Some(n),
            parallelism: Some(n),
            // A pod run again would count its segment twice: a failure fails the job.
            backoff_limit: Some(0),
            ttl_seconds_after_finished: Some(3600),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels(id)),
                    ..ObjectMeta::default()
                }),
                spec: Some(pod),
            },
            ..JobSpec::default()
        }),
        ..Job::default()
    }
}

/// What a Job's status says of its end: `Some(message)` once it failed.
pub(crate) fn failed(job: &serde_json::Value) -> Option<String> {
    let status = job.get("status")?;
    let conds = status.get("conditions").and_then(|c| c.as_array());
    if let Some(c) = conds.into_iter().flatten().find(|c| {
        c.get("type").and_then(|t| t.as_str()) == Some("Failed")
            && c.get("status").and_then(|t| t.as_str()) == Some("True")
    }) {
        let text = |k: &str| c.get(k).and_then(|v| v.as_str()).unwrap_or("").to_string();
        return Some(format!("{}: {}", text("reason"), text("message")));
    }
    match status.get("failed").and_then(serde_json::Value::as_u64) {
        Some(n) if n > 0 => Some(format!("{n} worker pod(s) failed")),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> KubeSpec {
        KubeSpec {
            api: "https://k".into(),
            token_file: None,
            ca_file: None,
            namespace: "load".into(),
            image: "gossipper:dev".into(),
            parallelism: 3,
            lines_url: "http://m/api/v2/jobs/J1/worker-lines".into(),
            token: "tok".into(),
            start_delay_ms: 1000,
            media: vec!["media/pcap/a.pcap".into()],
        }
    }

    #[test]
    fn media_files_ride_in_the_config_map_at_their_library_paths() {
        let k = spec();
        let cm = serde_json::to_value(config_map(
            &k,
            "J1",
            "{}".into(),
            vec![("media/pcap/a.pcap".into(), vec![1, 2, 3])],
        ))
        .unwrap();
        assert_eq!(cm["binaryData"]["media-pcap-a.pcap"], "AQID");
        assert_eq!(cm["data"]["spec.json"], "{}");
        let v = serde_json::to_value(job(&k, "J1", 1)).unwrap();
        let items = &v["spec"]["template"]["spec"]["volumes"][0]["configMap"]["items"];
        assert_eq!(
            items,
            &serde_json::json!([{"key": "spec.json", "path": "spec.json"},
                                {"key": "media-pcap-a.pcap", "path": "media/pcap/a.pcap"}])
        );
    }

    #[test]
    fn the_job_is_indexed_with_the_count_and_the_label() {
        let v = serde_json::to_value(job(&spec(), "J1", 42)).unwrap();
        assert_eq!(v["apiVersion"], "batch/v1");
        assert_eq!(v["kind"], "Job");
        assert_eq!(v["metadata"]["name"], "gossipper-j1");
        assert_eq!(v["metadata"]["labels"][JOB_LABEL], "J1");
        assert_eq!(v["spec"]["completionMode"], "Indexed");
        assert_eq!(v["spec"]["parallelism"], 3);
        assert_eq!(v["spec"]["completions"], 3);
        let c = &v["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(c["args"][2], "/config/spec.json");
        assert_eq!(c["args"][6], "42");
        assert_eq!(c["env"][0]["name"], "JOB_COMPLETION_INDEX");
    }

    #[test]
    fn a_failed_condition_is_read() {
        let v = serde_json::json!({"status": {"conditions": [
            {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded", "message": "x"}]}});
        assert_eq!(failed(&v).as_deref(), Some("BackoffLimitExceeded: x"));
        assert_eq!(failed(&serde_json::json!({"status": {"active": 3}})), None);
    }
}
