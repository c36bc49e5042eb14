//! One job on a Kubernetes cluster (issue 20, item 3), without a cluster: a stand-in
//! API server (`kube_support`) plays the scripted conversation of
//! `tests/kubernetes/conversation.json` and checks every request the master makes (the
//! ConfigMap holding the pods' spec, the Indexed Job with its parallelism, labels, args
//! and downward-API index, the status reads, the DELETEs with propagationPolicy
//! Background); the test then plays the kubelet: it starts the three "pods" as real
//! `gossipper worker` processes from what the Job and ConfigMap say (with
//! `JOB_COMPLETION_INDEX=i`, the ConfigMap's spec.json as `/config/spec.json`, the
//! Service name resolved to the master's loopback address), and they post their lines
//! to the master, against a real SIPp UAS, and their call records at the end (the job's
//! call_records.jsonl holds every call once). The merged summary equals the sum of the
//! pods' own summaries and the p99 that of one histogram of every call. A second job,
//! stopped, makes the master delete the Job and the ConfigMap; the test passes the
//! deletion on to the pods as SIGTERM, as the kubelet would.
//!
//! Not covered (no cluster here): scheduling, image pulls, the real API server's
//! admission and RBAC, pod networking and DNS.

#![allow(clippy::unwrap_used)] // helpers outside #[test] fns: a failed unwrap is a failed test

mod api_support;
mod jobs_support;
mod kube_support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use api_support::Master;
use gossipper_e2e::{Proc, StatCsv, gossipper_bin, peer_args, scratch_dir, sipp_bin};
use jobs_support::*;
use kube_support::FakeApi;
use serde_json::{Value, json};

const PODS: usize = 3;
const CALLS: u64 = 60;
/// The master's Service as the pods know it (the test maps it to loopback).
const SERVICE: &str = "http://gossipper-master.load.svc:8080";

fn conversation() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("kubernetes/conversation.json")
}

fn read_json(p: &Path) -> Value {
    let text = std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    serde_json::from_str(&text).unwrap()
}

fn lines(p: &Path) -> Vec<Value> {
    std::fs::read_to_string(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// A SIPp UAS on 127.0.0.1:`port`.
fn uas(dir: &Path, port: u16, stat: &Path) -> Proc {
    let mut cmd = Command::new(sipp_bin());
    cmd.current_dir(dir)
        .args(["-sn", "uas", "-i", "127.0.0.1", "-p", &port.to_string()]);
    peer_args(&mut cmd, stat);
    let mut p = Proc::spawn("sipp-uas", &mut cmd);
    p.wait_bound(gossipper_e2e::Sock::Udp, port);
    p
}

/// A master whose cluster is the fake API server.
fn master(tag: &str, api: &FakeApi) -> Master {
    let dir = scratch_dir(&format!("{tag}-sa"));
    let token = dir.join("token");
    std::fs::write(&token, format!("{}\n", api.token)).unwrap();
    Master::start_with(
        tag,
        &[
            "--kubernetes-api",
            &api.url,
            "--kubernetes-token-file",
            token.to_str().unwrap(),
            "--kubernetes-namespace",
            "load",
            "--kubernetes-image",
            "gossipper:test",
            "--kubernetes-callback",
            SERVICE,
            "--kubernetes-start-delay-ms",
            "1500",
        ],
        &[],
    )
}

/// Waits until the fake server has seen the Job created; the ConfigMap's and the Job's
/// bodies.
fn created(api: &FakeApi) -> (Value, Value) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let seen = api.seen();
        let cm = seen.iter().find(|s| s.path.ends_with("/configmaps"));
        let job = seen.iter().find(|s| s.path.ends_with("/jobs"));
        if let (Some(cm), Some(job)) = (cm, job) {
            return (cm.body.clone(), job.body.clone());
        }
        assert!(Instant::now() < deadline, "no Job created: {seen:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The kubelet's part: starts pod `i` of `job` (its container's command, args and env)
/// with the ConfigMap's files under `root/pod-i/config` and its working dir
/// `root/pod-i/work`, the Service resolved to `master`.
fn start_pod(root: &Path, i: usize, cm: &Value, job: &Value, master: &str) -> Child {
    let pod = root.join(format!("pod-{i}"));
    let config = pod.join("config");
    let work = pod.join("work");
    std::fs::create_dir_all(&config).unwrap();
    std::fs::create_dir_all(&work).unwrap();
    // The ConfigMap volume projects the keys its items name, at their paths.
    assert!(cm.get("binaryData").is_none(), "no media in these jobs");
    let volume = &job["spec"]["template"]["spec"]["volumes"][0]["configMap"];
    for item in volume["items"].as_array().unwrap() {
        let value = cm["data"][item["key"].as_str().unwrap()].as_str().unwrap();
        std::fs::write(config.join(item["path"].as_str().unwrap()), value).unwrap();
    }
    let c = &job["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(c["command"][0], "/usr/local/bin/gossipper");
    let args: Vec<String> = c["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            let a = a.as_str().unwrap();
            match a.strip_prefix("/config/") {
                Some(rest) => config.join(rest).display().to_string(),
                None => a.to_string(),
            }
        })
        .collect();
    let mut cmd = Command::new(gossipper_bin());
    cmd.args(&args)
        .current_dir(&work)
        .env("JOB_COMPLETION_INDEX", i.to_string())
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(pod.join("stdout")).unwrap())
        .stderr(std::fs::File::create(pod.join("stderr")).unwrap());
    for e in c["env"].as_array().unwrap() {
        if let Some(v) = e["value"].as_str() {
            cmd.env(
                e["name"].as_str().unwrap(),
                v.replace(SERVICE, &format!("http://{master}")),
            );
        }
    }
    cmd.spawn().unwrap()
}

/// Waits for each pod to exit (at most `limit`); their exit codes.
fn wait_pods(pods: &mut [Child], limit: Duration) -> Vec<i32> {
    let deadline = Instant::now() + limit;
    pods.iter_mut()
        .map(|p| {
            loop {
                if let Some(s) = p.try_wait().unwrap() {
                    break s.code().unwrap_or(-1);
                }
                if Instant::now() > deadline {
                    let _ = p.kill();
                    let _ = p.wait();
                    panic!("a pod did not exit within {limit:?}");
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        })
        .collect()
}

/// Waits until the fake server has seen `n` DELETEs.
fn wait_deletes(api: &FakeApi, n: usize, m: &Master) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let d: Vec<String> = api
            .seen()
            .into_iter()
            .filter(|s| s.method == "DELETE")
            .map(|s| s.path)
            .collect();
        if d.len() >= n {
            return d;
        }
        assert!(
            Instant::now() < deadline,
            "DELETEs seen: {d:?}\n{}",
            m.log_text()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn p99_ms(buckets: &BTreeMap<u64, u64>) -> f64 {
    let n: u64 = buckets.values().sum();
    let target = ((0.99 * n as f64).ceil() as u64).max(1);
    let mut seen = 0;
    for (&v, &c) in buckets {
        seen += c;
        if seen >= target {
            return v as f64 / 1000.0;
        }
    }
    panic!("an empty histogram")
}

fn pod_log(root: &Path, i: usize) -> String {
    std::fs::read_to_string(root.join(format!("pod-{i}/stderr"))).unwrap_or_default()
}

#[test]
fn a_cluster_job_runs_as_an_indexed_job_and_its_pods_add_up() {
    let dir = scratch_dir("jobs-kube");
    let port = free_udp_port();
    let stat = dir.join("uas.csv");
    let server = uas(&dir, port, &stat);
    let id = "kjob1";
    let api = FakeApi::start(&conversation(), "gossipper-kjob1", id);
    let m = master("jobs-kube", &api);
    let tk = m.admin_token();
    let tk = tk.as_str();
    client_profile(&m, tk, "uack", port, 30.0);
    // What cannot run is a 400 naming the field, and creates no job.
    for (extra, field) in [
        (
            json!({"kubernetes": {"parallelism": 0}}),
            "kubernetes.parallelism:",
        ),
        (
            json!({"kubernetes": {"parallelism": 2, "namespace": "Bad_NS"}}),
            "kubernetes.namespace:",
        ),
        (
            json!({"kubernetes": {"parallelism": 2}, "workers": 2}),
            "kubernetes:",
        ),
        (
            json!({"kubernetes": {"parallelism": 2, "replicas": 2}}),
            "invalid JSON body",
        ),
        (
            json!({"kubernetes": {"parallelism": 4}, "engine": {"total_calls": 3}}),
            "kubernetes.parallelism:",
        ),
    ] {
        let mut b = json!({"profile_id": "uack", "profile_kind": "client"});
        for (k, v) in extra.as_object().unwrap() {
            b[k] = v.clone();
        }
        let r = m.json("POST", "/api/v2/jobs", Some(tk), &b);
        assert_eq!(r.status, 400, "{b}: {}", r.text());
        assert!(r.error().starts_with(field), "{b}: {}", r.error());
    }
    assert_eq!(m.get("/api/v2/jobs", Some(tk)).json()["total"], 0);
    assert!(api.seen().is_empty(), "a refused job makes no API call");

    let r = m.json(
        "POST",
        "/api/v2/jobs",
        Some(tk),
        &json!({"id": id, "profile_id": "uack", "profile_kind": "client",
                "kubernetes": {"parallelism": PODS},
                "engine": {"total_calls": CALLS, "rate": 30, "shards": 1}}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let (cm, job) = created(&api);
    // What the master sends is valid against the API's own schemas (strict: no field
    // the API does not know).
    let objects: Vec<PathBuf> = [("configmap.json", &cm), ("job.json", &job)]
        .into_iter()
        .map(|(name, v)| {
            let p = dir.join(name);
            std::fs::write(&p, v.to_string()).unwrap();
            p
        })
        .collect();
    let (ok, text) = kube_support::validate(&objects);
    assert!(ok, "{text}");
    assert_eq!(text.matches(" passed for resource ").count(), 2, "{text}");
    // The ConfigMap holds the spec every pod runs: the whole run, no cluster in it.
    let pod_spec: Value = serde_json::from_str(cm["data"]["spec.json"].as_str().unwrap()).unwrap();
    assert_eq!(pod_spec["job_id"], id);
    assert_eq!(pod_spec["artifacts_dir"], "job");
    assert!(pod_spec.get("kubernetes").is_none(), "{pod_spec}");
    assert_eq!(pod_spec["run"]["engine"]["max_calls"], CALLS);
    // The token posts lines for this job only, and only with the right index.
    let token = job["spec"]["template"]["spec"]["containers"][0]["env"][2]["value"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(token.len(), 64);
    let post = |tok: &str, index: &str, body: &[u8]| {
        api_support::http(
            &m.addr,
            "POST",
            &format!("/api/v2/jobs/{id}/worker-lines?index={index}"),
            &[("Authorization".into(), format!("Bearer {tok}"))],
            Some(body),
        )
    };
    assert_eq!(post("wrong", "0", b"").status, 401);
    assert_eq!(
        post(tk, "0", b"").status,
        401,
        "a user's token is not the job's"
    );
    let r = post(&token, "3", b"");
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.error().starts_with("index:"), "{}", r.error());
    let r = post(&token, "0", b"{\"kind\":\"started\"}\nnot json\n");
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.error().starts_with("line 2:"), "{}", r.error());
    // Call records: the same token and index, one JSON object per line.
    let post_records = |tok: &str, index: &str, body: &[u8]| {
        api_support::http(
            &m.addr,
            "POST",
            &format!("/api/v2/jobs/{id}/worker-records?index={index}"),
            &[("Authorization".into(), format!("Bearer {tok}"))],
            Some(body),
        )
    };
    assert_eq!(post_records(tk, "0", b"{}\n").status, 401);
    let r = post_records(&token, "7", b"{}\n");
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.error().starts_with("index:"), "{}", r.error());
    let r = post_records(&token, "1", b"{\"call_id\":\"x\"}\n[1,2]\n");
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.error().starts_with("line 2:"), "{}", r.error());

    let root = dir.join("pods");
    let mut pods: Vec<Child> = (0..PODS)
        .map(|i| start_pod(&root, i, &cm, &job, &m.addr))
        .collect();
    let codes = wait_pods(&mut pods, Duration::from_secs(60));
    let j = wait_job(&m, tk, id, Duration::from_secs(60), finished);
    let jdir = m.data_dir.join(format!("artifacts/jobs/{id}"));
    assert_eq!(
        j["status"],
        "succeeded",
        "{j}\nworker.log:\n{}\npod 0:\n{}",
        std::fs::read_to_string(jdir.join("worker.log")).unwrap_or_default(),
        pod_log(&root, 0)
    );
    assert_eq!(codes, vec![0; PODS], "pod 0:\n{}", pod_log(&root, 0));
    // The merged summary is the sum of the pods' own, and its p99 that of one histogram.
    let merged = read_json(&jdir.join("summary.json"));
    let mut all = BTreeMap::<u64, u64>::new();
    let mut sum = BTreeMap::<&str, u64>::new();
    for i in 0..PODS {
        let s = read_json(&root.join(format!("pod-{i}/work/job/summary.json")));
        for k in [
            "total_calls",
            "success_calls",
            "failed_calls",
            "retransmits",
        ] {
            *sum.entry(k).or_default() += s[k].as_u64().unwrap();
        }
        assert_eq!(
            s["total_calls"].as_u64().unwrap(),
            CALLS / PODS as u64,
            "pod {i}: {s}"
        );
        // What the pod posted is what it printed, in the master's workers/<i>/.
        let posted = lines(&jdir.join(format!("workers/{i}/stats.jsonl")));
        let printed = lines(&root.join(format!("pod-{i}/stdout")));
        assert_eq!(posted, printed, "pod {i}'s lines reached the master whole");
        let state = posted.iter().rev().find(|l| l["kind"] == "state").unwrap();
        for b in state["state"]["rtd"][0]["histogram"].as_array().unwrap() {
            *all.entry(b[0].as_u64().unwrap()).or_default() += b[1].as_u64().unwrap();
        }
    }
    assert_eq!(sum["total_calls"], CALLS);
    assert_eq!(sum["success_calls"], CALLS);
    assert_eq!(
        merged["shard_calls"],
        json!([20, 20, 20]),
        "each pod's calls"
    );
    for (k, v) in &sum {
        assert_eq!(merged[*k].as_u64().unwrap(), *v, "merged {k}: {merged}");
    }
    assert_eq!(all.values().sum::<u64>(), CALLS);
    assert_eq!(merged["rtd"]["1"]["p99_ms"].as_f64().unwrap(), p99_ms(&all));
    // Every pod posted its call records before its exit line: the job's call_records.jsonl
    // holds one record per call, each Call-ID once, the same as the pods' own files.
    let records = lines(&jdir.join("call_records.jsonl"));
    let mut ids: Vec<String> = records
        .iter()
        .map(|r| r["call_id"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(records.len() as u64, CALLS, "one record per call");
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len() as u64, CALLS, "distinct Call-IDs");
    assert!(
        ids.iter().all(|i| !i.is_empty()),
        "every record names its call"
    );
    let mut in_pods = 0;
    for i in 0..PODS {
        in_pods += lines(&root.join(format!("pod-{i}/work/job/call_records.jsonl"))).len();
    }
    assert_eq!(in_pods as u64, CALLS, "the pods' own files");
    let last = lines(&jdir.join("stats.jsonl"))
        .into_iter()
        .rev()
        .find(|l| l["kind"] == "stats")
        .unwrap();
    assert_eq!(last["calls_created"], CALLS, "{last}");
    let (_, out, err) = server.quit(Duration::from_secs(10));
    assert_eq!(
        StatCsv::read(&stat).last("SuccessfulCall(C)"),
        CALLS,
        "SIPp answered every call\n{out}\n{err}"
    );
    // The end deletes the Job (with its pods) and the ConfigMap.
    let deletes = wait_deletes(&api, 2, &m);
    assert_eq!(
        deletes,
        [
            "/apis/batch/v1/namespaces/load/jobs/gossipper-kjob1?propagationPolicy=Background",
            "/api/v1/namespaces/load/configmaps/gossipper-kjob1"
        ]
    );
    assert!(api.done(), "every step of the conversation was played");
    assert_eq!(api.failures(), Vec::<String>::new());
    // The job is over: its token posts nothing more.
    assert_eq!(post(&token, "0", b"").status, 409);
    assert_eq!(post_records(&token, "0", b"{}\n").status, 409);
}

#[test]
fn stopping_a_cluster_job_deletes_its_job_and_config_map() {
    let dir = scratch_dir("jobs-kube-stop");
    let port = free_udp_port();
    let stat = dir.join("uas.csv");
    let _server = uas(&dir, port, &stat);
    let id = "kjob2";
    let api = FakeApi::start(&conversation(), "gossipper-kjob2", id);
    let m = master("jobs-kube-stop", &api);
    let tk = m.admin_token();
    let tk = tk.as_str();
    client_profile(&m, tk, "uacks", port, 20.0);
    // total_calls 0: until stopped.
    let r = m.json(
        "POST",
        "/api/v2/jobs",
        Some(tk),
        &json!({"id": id, "profile_id": "uacks", "profile_kind": "client",
                "kubernetes": {"parallelism": PODS},
                "engine": {"total_calls": 0, "rate": 21, "shards": 1}}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let (cm, job) = created(&api);
    let root = dir.join("pods");
    let mut pods: Vec<Child> = (0..PODS)
        .map(|i| start_pod(&root, i, &cm, &job, &m.addr))
        .collect();
    wait_stats_lines(&m, id, 3);
    let r = m.req("POST", &format!("/api/v2/jobs/{id}/stop"), Some(tk), None);
    assert_eq!(r.status, 200, "{}", r.text());
    let deletes = wait_deletes(&api, 2, &m);
    assert_eq!(
        deletes,
        [
            "/apis/batch/v1/namespaces/load/jobs/gossipper-kjob2?propagationPolicy=Background",
            "/api/v1/namespaces/load/configmaps/gossipper-kjob2"
        ]
    );
    // The kubelet's part: the Job's deletion reaches each pod as SIGTERM.
    for p in &pods {
        let ok = Command::new("kill")
            .args(["-TERM", &p.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok);
    }
    wait_pods(&mut pods, Duration::from_secs(20));
    let j = wait_job(&m, tk, id, Duration::from_secs(40), finished);
    assert_eq!(j["status"], "stopped", "{j}\npod 0:\n{}", pod_log(&root, 0));
    let jdir = m.data_dir.join(format!("artifacts/jobs/{id}"));
    let merged = read_json(&jdir.join("summary.json"));
    let sum: u64 = (0..PODS)
        .map(|i| {
            read_json(&root.join(format!("pod-{i}/work/job/summary.json")))["total_calls"]
                .as_u64()
                .unwrap()
        })
        .sum();
    assert!(sum > 0, "the pods placed calls before the stop");
    assert_eq!(merged["total_calls"].as_u64().unwrap(), sum, "{merged}");
    assert!(api.done());
    assert_eq!(api.failures(), Vec::<String>::new());
}

#[test]
fn a_pod_that_never_runs_fails_the_job_and_the_objects_are_deleted() {
    let dir = scratch_dir("jobs-kube-silent");
    let port = free_udp_port();
    let stat = dir.join("uas.csv");
    let _server = uas(&dir, port, &stat);
    let id = "kjob3";
    let api = FakeApi::start(&conversation(), "gossipper-kjob3", id);
    let m = master("jobs-kube-silent", &api);
    let tk = m.admin_token();
    let tk = tk.as_str();
    client_profile(&m, tk, "uackp", port, 30.0);
    let r = m.json(
        "POST",
        "/api/v2/jobs",
        Some(tk),
        &json!({"id": id, "profile_id": "uackp", "profile_kind": "client",
                "kubernetes": {"parallelism": PODS},
                "engine": {"total_calls": 30, "rate": 30, "shards": 1}}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let (cm, job) = created(&api);
    // Pod 2 stays pending (say, its image cannot be pulled): only 0 and 1 run.
    let root = dir.join("pods");
    let mut pods: Vec<Child> = (0..2)
        .map(|i| start_pod(&root, i, &cm, &job, &m.addr))
        .collect();
    assert_eq!(wait_pods(&mut pods, Duration::from_secs(30)), [0, 0]);
    let j = wait_job(&m, tk, id, Duration::from_secs(40), finished);
    assert_eq!(j["status"], "failed", "{j}");
    let error = j["error"].as_str().unwrap();
    assert!(
        error.starts_with("worker pod(s) 2 posted nothing 10 s after the start"),
        "{error}"
    );
    let deletes = wait_deletes(&api, 2, &m);
    assert!(deletes[0].contains("/jobs/gossipper-kjob3?propagationPolicy=Background"));
    assert!(api.done());
    assert_eq!(api.failures(), Vec::<String>::new());
}

#[test]
fn a_job_the_cluster_reports_failed_ends_failed_saying_why() {
    let id = "kjob4";
    // The status read answers what the Job controller says once its backoff limit is
    // spent (a pod that exited non-zero, say).
    let api = FakeApi::start_with(&conversation(), "gossipper-kjob4", id, |doc| {
        let get = doc["steps"]
            .as_array_mut()
            .unwrap()
            .iter_mut()
            .find(|s| s["method"] == "GET")
            .unwrap();
        get["answer"]["status"] = json!({
            "failed": 1, "startTime": "2026-12-07T12:00:01Z",
            "conditions": [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded",
                            "message": "Job has reached the specified backoff limit"}]});
    });
    let m = master("jobs-kube-failed", &api);
    let tk = m.admin_token();
    let tk = tk.as_str();
    client_profile(&m, tk, "uackf", free_udp_port(), 30.0);
    let r = m.json(
        "POST",
        "/api/v2/jobs",
        Some(tk),
        &json!({"id": id, "profile_id": "uackf", "profile_kind": "client",
                "kubernetes": {"parallelism": PODS},
                "engine": {"total_calls": 30, "rate": 30, "shards": 1}}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let j = wait_job(&m, tk, id, Duration::from_secs(40), finished);
    assert_eq!(j["status"], "failed", "{j}");
    let error = j["error"].as_str().unwrap();
    assert!(
        error.contains(
            "the Job failed: BackoffLimitExceeded: Job has reached the specified backoff limit"
        ),
        "{error}"
    );
    let deletes = wait_deletes(&api, 2, &m);
    assert!(
        deletes[1].ends_with("/configmaps/gossipper-kjob4"),
        "{deletes:?}"
    );
    assert!(api.done());
    assert_eq!(api.failures(), Vec::<String>::new());
}
