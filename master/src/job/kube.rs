//! One job on a Kubernetes cluster (issue 20, item 3): what a job request asks
//! (`"kubernetes": {"image", "namespace", "parallelism"}`), what the master knows of its
//! cluster (`gossipper ui --kubernetes-api …`), the resolved [`KubeSpec`] in the job's
//! spec file, and the spec each worker pod runs (mounted from the job's ConfigMap).
//!
//! Owns: those shapes, their checks (a refusal names `kubernetes.<field>`), and the
//! rewriting of a job's spec for a pod (paths inside the pod, no fan-out, no cluster).
//! Must not: do I/O (`crate::kube` talks to the API server, `worker::cluster` drives it).

use std::path::PathBuf;

use gossipper_engine::config::ScenarioSource;
use gossipper_engine::files::{FileAccess, JobRoots};
use serde::{Deserialize, Serialize};

use super::spec::{JobFile, MAX_WORKERS, Run, Workers};

/// Where the ConfigMap is mounted in a worker pod (`spec.json` inside it).
pub(crate) const CONFIG_DIR: &str = "/config";
/// The pod's working directory (an `emptyDir`).
pub(crate) const WORK_DIR: &str = "/work";
/// The pod's artifacts folder, relative to [`WORK_DIR`].
pub(crate) const POD_ARTIFACTS: &str = "job";
/// The most bytes of media files a job's ConfigMap may carry (an object is at most
/// 1 MiB, and the spec shares it).
pub(crate) const MAX_MEDIA_BYTES: u64 = 768 << 10;
/// The environment variable naming where a worker posts its lines.
pub(crate) const ENV_LINES_URL: &str = "GOSSIPPER_LINES_URL";
/// The environment variable holding the job's token for that route.
pub(crate) const ENV_LINES_TOKEN: &str = "GOSSIPPER_LINES_TOKEN";

/// `kubernetes` in a job request.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct KubeRequest {
    /// The worker image (`gossipper` at `/usr/local/bin/gossipper`); empty: the
    /// master's `--kubernetes-image`.
    pub(crate) image: String,
    /// Empty: the master's namespace.
    pub(crate) namespace: String,
    /// Worker pods (the Indexed Job's `parallelism` and `completions`).
    pub(crate) parallelism: u32,
}

/// The master's cluster (`gossipper ui --kubernetes-*`).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Cluster {
    /// The API server's base URL (`https://10.96.0.1:443`).
    pub(crate) api: String,
    /// The bearer token file (the service account's); `None`: no token sent.
    pub(crate) token_file: Option<PathBuf>,
    /// The API server's CA (PEM); `None`: the WebPKI roots.
    pub(crate) ca_file: Option<PathBuf>,
    /// The namespace jobs run in unless they name one.
    pub(crate) namespace: String,
    /// The image unless a job names one.
    pub(crate) image: String,
    /// The master's base URL as pods reach it (`http://gossipper-master.ns.svc:8080`).
    pub(crate) callback: String,
    /// How long after the Job is created its pods start their calls (pods must be
    /// scheduled and pull the image by then).
    pub(crate) start_delay_ms: u64,
}

/// A job's cluster run, resolved into its spec file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct KubeSpec {
    pub(crate) api: String,
    #[serde(default)]
    pub(crate) token_file: Option<PathBuf>,
    #[serde(default)]
    pub(crate) ca_file: Option<PathBuf>,
    pub(crate) namespace: String,
    pub(crate) image: String,
    pub(crate) parallelism: u32,
    /// Where pods post their lines: `{callback}/api/v2/jobs/{id}/worker-lines`.
    pub(crate) lines_url: String,
    /// The job's token for that route (random, 32 bytes hex). The job's folder is
    /// private to the master; the token also sits in the Job's pod template.
    pub(crate) token: String,
    /// The pods' common start, this long after the Job is created.
    pub(crate) start_delay_ms: u64,
    /// The media library files the scenario names (`media/pcap/x.pcap`, relative to
    /// the data dir), shipped in the ConfigMap.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) media: Vec<String>,
}

/// The media library files `xml` names (`media/wav/NAME` or `media/pcap/NAME`, as the
/// `[[media:…]]` placeholders expand), each once, in order.
pub(crate) fn media_refs(xml: &[u8]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for kind in ["media/wav/", "media/pcap/"] {
        let k = kind.as_bytes();
        let mut at = 0;
        while let Some(pos) = xml[at..].windows(k.len()).position(|w| w == k) {
            let start = at + pos + k.len();
            let len = xml[start..]
                .iter()
                .take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
                .count();
            at = start + len;
            let name = String::from_utf8_lossy(&xml[start..start + len]).to_string();
            if len == 0 || name == "." || name == ".." {
                continue;
            }
            let rel = format!("{kind}{name}");
            if !out.contains(&rel) {
                out.push(rel);
            }
        }
    }
    out
}

/// The ConfigMap key of a media file (`media/pcap/x.pcap` → `media-pcap-x.pcap`).
pub(crate) fn media_key(rel: &str) -> String {
    rel.replace('/', "-")
}

/// A DNS-1123 label (a namespace name, and our object names).
fn dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// An image reference we pass on: printable, no spaces, bounded.
fn image_ref(s: &str) -> bool {
    !s.is_empty() && s.len() <= 512 && s.bytes().all(|b| b.is_ascii_graphic())
}

/// The name of job `id`'s Job and ConfigMap: `gossipper-<id>`, lower-cased, other
/// characters as `-`, cut to a DNS label.
pub(crate) fn object_name(id: &str) -> String {
    let mut s: String = format!("gossipper-{id}")
        .chars()
        .map(|c| match c.to_ascii_lowercase() {
            c @ ('a'..='z' | '0'..='9') => c,
            _ => '-',
        })
        .take(63)
        .collect();
    while s.ends_with('-') {
        s.pop();
    }
    s
}

/// The label value of job `id` (`gossipper.io/job-id`): at most 63 of `[A-Za-z0-9._-]`,
/// starting and ending alphanumeric; other characters become `_`.
pub(crate) fn label_value(id: &str) -> String {
    let s: String = id
        .chars()
        .map(|c| match c {
            'A'..='Z' | 'a'..='z' | '0'..='9' | '.' | '_' | '-' => c,
            _ => '_',
        })
        .take(63)
        .collect();
    s.trim_matches(|c: char| !c.is_ascii_alphanumeric())
        .to_string()
}

/// Resolves `req` for `file` on `cluster`; an error names the request's field.
/// `size_of` gives the size of a media library file (`None`: missing).
pub(crate) fn plan(
    cluster: Option<&Cluster>,
    req: &KubeRequest,
    file: &JobFile,
    token: String,
    size_of: &dyn Fn(&str) -> Option<u64>,
) -> Result<KubeSpec, String> {
    let Some(cluster) = cluster else {
        return Err("kubernetes: this master has no cluster (start `gossipper ui` with --kubernetes-api and --kubernetes-callback)".into());
    };
    if req.parallelism < 1 || req.parallelism > MAX_WORKERS {
        return Err(format!(
            "kubernetes.parallelism: {}: from 1 to {MAX_WORKERS}",
            req.parallelism
        ));
    }
    let namespace = match req.namespace.as_str() {
        "" => cluster.namespace.clone(),
        n => n.to_string(),
    };
    if !dns_label(&namespace) {
        return Err(format!(
            "kubernetes.namespace: \"{}\" is not a DNS label",
            namespace.chars().take(80).collect::<String>()
        ));
    }
    let image = match req.image.as_str() {
        "" => cluster.image.clone(),
        i => i.to_string(),
    };
    if !image_ref(&image) {
        return Err(
            "kubernetes.image: missing (no --kubernetes-image either) or not an image reference"
                .into(),
        );
    }
    if file.workers != Workers::default() {
        return Err("kubernetes: a cluster job takes its worker count from kubernetes.parallelism, not workers".into());
    }
    let Run::Engine(job) = &file.run else {
        return Err("kubernetes: a tool runs in the master's own worker".into());
    };
    // What only the master's disk holds is not shipped to the pods yet.
    let files = [
        ("run.engine.inject_files", !job.inject_files.is_empty()),
        ("run.engine.inject_indexes", !job.inject_indexes.is_empty()),
        ("run.engine.tls_cert", job.tls_cert.is_some()),
        ("run.engine.tls_key", job.tls_key.is_some()),
        (
            "run.engine.scenario",
            matches!(job.scenario, ScenarioSource::File(_)),
        ),
    ];
    if let Some((f, _)) = files.iter().find(|(_, set)| *set) {
        return Err(format!(
            "kubernetes: {f} names a file on the master, which is not shipped to worker pods yet"
        ));
    }
    let by_segment = Workers {
        count: req.parallelism,
        ..Workers::default()
    };
    if req.parallelism > 1
        && let Some(why) = by_segment.refusal(&file.run)
    {
        // Each pod has its own address: only the split itself can be refused.
        if !why.problem.contains("only one worker can bind") {
            return Err(format!("kubernetes.parallelism: {}", why.problem));
        }
    }
    let media = match &job.scenario {
        ScenarioSource::Xml { text, .. } => media_refs(text),
        _ => Vec::new(),
    };
    let mut bytes = 0u64;
    for m in &media {
        let Some(n) = size_of(m) else {
            return Err(format!(
                "kubernetes: the scenario names {m}, which is not in the media library"
            ));
        };
        bytes += n;
    }
    if bytes > MAX_MEDIA_BYTES {
        return Err(format!(
            "kubernetes: the scenario's media files take {bytes} bytes; a ConfigMap carries at most {MAX_MEDIA_BYTES}"
        ));
    }
    let callback = cluster.callback.trim_end_matches('/');
    Ok(KubeSpec {
        api: cluster.api.clone(),
        token_file: cluster.token_file.clone(),
        ca_file: cluster.ca_file.clone(),
        namespace,
        image,
        parallelism: req.parallelism,
        lines_url: format!("{callback}/api/v2/jobs/{}/worker-lines", file.job_id),
        token,
        start_delay_ms: cluster.start_delay_ms,
        media,
    })
}

/// The spec every pod of `file` runs (the Indexed Job gives each its segment): the
/// same run, its files in the pod (`job/` in the working directory, the ConfigMap as the
/// media root), no fan-out, no cluster.
pub(crate) fn pod_spec(file: &JobFile) -> JobFile {
    let mut out = file.clone();
    out.kubernetes = None;
    out.workers = Workers::default();
    out.artifacts_dir = PathBuf::from(POD_ARTIFACTS);
    if let Run::Engine(job) = &mut out.run {
        if let Some(rec) = &job.record_dir
            && let Ok(rel) = rec.strip_prefix(&file.artifacts_dir)
        {
            job.record_dir = Some(PathBuf::from(POD_ARTIFACTS).join(rel));
        }
        if matches!(job.file_access, FileAccess::Confined(_)) {
            job.file_access = FileAccess::Confined(JobRoots {
                data_dir: PathBuf::from(CONFIG_DIR),
                job_dir: PathBuf::from(POD_ARTIFACTS),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::spec::About;
    use gossipper_engine::config::JobSpec;
    use std::path::Path;

    fn cluster() -> Cluster {
        Cluster {
            api: "https://10.96.0.1:443".into(),
            token_file: None,
            ca_file: None,
            namespace: "load".into(),
            image: "gossipper:dev".into(),
            callback: "http://master:8080/".into(),
            start_delay_ms: 20_000,
        }
    }

    fn file(max_calls: u64) -> JobFile {
        let job = JobSpec {
            max_calls: Some(max_calls),
            file_access: FileAccess::Confined(JobRoots {
                data_dir: "/d".into(),
                job_dir: "/d/artifacts/jobs/j1".into(),
            }),
            record_dir: Some("/d/artifacts/jobs/j1/recordings".into()),
            ..JobSpec::default()
        };
        JobFile::new(
            "j1",
            Path::new("/d/artifacts/jobs/j1"),
            About::default(),
            Run::Engine(Box::new(job)),
        )
    }

    fn req(n: u32) -> KubeRequest {
        KubeRequest {
            parallelism: n,
            ..KubeRequest::default()
        }
    }

    #[test]
    fn a_request_resolves_on_the_masters_cluster() {
        let k = plan(Some(&cluster()), &req(3), &file(9), "t".into(), &|_| {
            Some(1)
        })
        .unwrap();
        assert_eq!(k.namespace, "load");
        assert_eq!(k.image, "gossipper:dev");
        assert_eq!(k.parallelism, 3);
        assert_eq!(
            k.lines_url,
            "http://master:8080/api/v2/jobs/j1/worker-lines"
        );
    }

    #[test]
    fn what_cannot_run_is_refused_by_field() {
        let c = cluster();
        let e = |r: KubeRequest, f: JobFile, c: Option<&Cluster>| {
            plan(c, &r, &f, String::new(), &|_| Some(1)).unwrap_err()
        };
        assert!(e(req(2), file(9), None).starts_with("kubernetes: this master has no cluster"));
        assert!(e(req(0), file(9), Some(&c)).starts_with("kubernetes.parallelism: 0"));
        assert!(e(req(65), file(99), Some(&c)).starts_with("kubernetes.parallelism: 65"));
        assert!(e(req(3), file(2), Some(&c)).starts_with("kubernetes.parallelism: "));
        let bad_ns = KubeRequest {
            namespace: "Load_1".into(),
            ..req(2)
        };
        assert!(e(bad_ns, file(9), Some(&c)).starts_with("kubernetes.namespace: "));
        let mut f = file(9);
        if let Run::Engine(j) = &mut f.run {
            j.inject_files.push("/d/media/users.csv".into());
        }
        assert!(e(req(2), f, Some(&c)).contains("run.engine.inject_files"));
        let mut f = file(9);
        f.workers.count = 2;
        assert!(e(req(2), f, Some(&c)).contains("not workers"));
    }

    #[test]
    fn a_pod_runs_the_same_run_in_its_own_folders() {
        let mut f = file(9);
        f.kubernetes = Some(plan(Some(&cluster()), &req(3), &f, "t".into(), &|_| Some(1)).unwrap());
        let p = pod_spec(&f);
        assert_eq!(p.kubernetes, None);
        assert_eq!(p.artifacts_dir, Path::new("job"));
        let Run::Engine(j) = &p.run else {
            panic!("an engine run")
        };
        assert_eq!(j.max_calls, Some(9), "the pod divides the whole itself");
        assert_eq!(j.record_dir.as_deref(), Some(Path::new("job/recordings")));
        assert!(p.check().is_ok(), "{:?}", p.check());
    }

    #[test]
    fn the_media_a_scenario_names_are_found_and_checked() {
        let xml = br#"<exec play_pcap_audio="media/pcap/g711a.pcap"/><exec rtp_stream="media/wav/hello.wav,-1"/>
            <exec play_pcap_audio="media/pcap/g711a.pcap"/><x a="media/pcap/"/><y b="media/wav/../x"/>"#;
        assert_eq!(
            media_refs(xml),
            ["media/wav/hello.wav", "media/pcap/g711a.pcap"]
        );
        assert_eq!(media_key("media/pcap/g711a.pcap"), "media-pcap-g711a.pcap");
        let mut f = file(9);
        if let Run::Engine(j) = &mut f.run {
            j.scenario = ScenarioSource::Xml {
                name: "s.xml".into(),
                text: xml.to_vec(),
            };
        }
        let c = cluster();
        let k = plan(Some(&c), &req(2), &f, String::new(), &|_| Some(10)).unwrap();
        assert_eq!(k.media.len(), 2);
        let missing = plan(Some(&c), &req(2), &f, String::new(), &|m| {
            (!m.ends_with(".wav")).then_some(10)
        });
        assert!(missing.unwrap_err().contains("media/wav/hello.wav"));
        let big = plan(Some(&c), &req(2), &f, String::new(), &|_| {
            Some(MAX_MEDIA_BYTES)
        });
        assert!(big.unwrap_err().contains("at most"));
    }

    #[test]
    fn object_names_and_labels_are_what_the_api_server_takes() {
        assert_eq!(object_name("Job_1.x"), "gossipper-job-1-x");
        assert!(dns_label(&object_name(&"a".repeat(200))));
        assert_eq!(label_value("-a b-"), "a_b");
    }
}
