//! One job on three worker processes (issue 20), against a real `gossipper ui` and a real
//! SIPp UAS: the job's summary adds up the three workers' own summaries, its p99 is the
//! p99 of one histogram built here from the workers' histograms (their `state` lines in
//! `workers/<i>/stats.jsonl`), no call number is used twice, and SIPp saw every call.
//! Then the same with each worker in its own network namespace (its own source address,
//! as three hosts would be): the test creates the namespaces and veth pairs and always
//! deletes them; it fails, saying why, when it cannot create them (it needs root). And two
//! copies of the SIPp-style command line with `-segment i/2` make one run of `-m 11`.

#![allow(clippy::unwrap_used)] // helpers outside #[test] fns: a failed unwrap is a failed test

mod api_support;
mod jobs_support;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use api_support::Master;
use gossipper_e2e::{Proc, StatCsv, peer_args, scratch_dir, sipp_bin};
use jobs_support::*;
use serde_json::{Value, json};

const WORKERS: usize = 3;
const CALLS: u64 = 60;

fn read_json(p: &Path) -> Value {
    let text = std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    serde_json::from_str(&text).unwrap()
}

/// The lines of a stats.jsonl.
fn lines(p: &Path) -> Vec<Value> {
    std::fs::read_to_string(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The response-time histogram (`[[lowest µs, count], …]`) of a worker's last state line.
fn last_histogram(stats: &[Value]) -> Vec<(u64, u64)> {
    let state = stats
        .iter()
        .rev()
        .find(|l| l["kind"] == "state")
        .expect("a segment's worker writes state lines");
    state["state"]["rtd"][0]["histogram"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| (b[0].as_u64().unwrap(), b[1].as_u64().unwrap()))
        .collect()
}

/// The p99 (ms) of one histogram: the lowest value of the bucket where the count
/// reaches ⌈0.99·n⌉.
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

/// A SIPp UAS on `ip:port` with its statistics CSV at `stat`.
fn uas(dir: &Path, ip: &str, port: u16, stat: &Path) -> Proc {
    let mut cmd = Command::new(sipp_bin());
    cmd.current_dir(dir)
        .args(["-sn", "uas", "-i", ip, "-p", &port.to_string()]);
    peer_args(&mut cmd, stat);
    let mut p = Proc::spawn("sipp-uas", &mut cmd);
    p.wait_bound(gossipper_e2e::Sock::Udp, port);
    p
}

/// Runs a job of [`CALLS`] calls on [`WORKERS`] workers and checks the merge; returns
/// each worker's Call-IDs.
fn run_and_check(m: &Master, tk: &str, body: Value) -> Vec<Vec<String>> {
    let r = m.json("POST", "/api/v2/jobs", Some(tk), &body);
    assert_eq!(r.status, 201, "{}", r.text());
    let id = r.json()["id"].as_str().unwrap().to_string();
    let j = wait_job(m, tk, &id, Duration::from_secs(90), finished);
    let dir = m.data_dir.join(format!("artifacts/jobs/{id}"));
    let log = |i: usize| {
        std::fs::read_to_string(dir.join(format!("workers/{i}/worker.log"))).unwrap_or_default()
    };
    assert_eq!(
        j["status"],
        "succeeded",
        "{j}\nworker.log:\n{}\nworker 0:\n{}",
        std::fs::read_to_string(dir.join("worker.log")).unwrap_or_default(),
        log(0)
    );
    let merged = read_json(&dir.join("summary.json"));
    let mut sum = BTreeMap::<&str, u64>::new();
    let mut all = BTreeMap::<u64, u64>::new();
    let mut call_ids = Vec::new();
    let mut numbers = Vec::new();
    for i in 0..WORKERS {
        let w = dir.join(format!("workers/{i}"));
        let s = read_json(&w.join("summary.json"));
        for k in [
            "total_calls",
            "success_calls",
            "failed_calls",
            "retransmits",
            "timeouts",
        ] {
            *sum.entry(k).or_default() += s[k].as_u64().unwrap();
        }
        assert_eq!(
            s["total_calls"].as_u64().unwrap(),
            CALLS / WORKERS as u64,
            "worker {i} made its share: {s}"
        );
        for (v, c) in last_histogram(&lines(&w.join("stats.jsonl"))) {
            *all.entry(v).or_default() += c;
        }
        let records = std::fs::read_to_string(w.join("call_records.jsonl")).unwrap();
        let mut ids = Vec::new();
        for l in records.lines() {
            let r: Value = serde_json::from_str(l).unwrap();
            numbers.push(r["call_number"].as_u64().unwrap());
            ids.push(r["call_id"].as_str().unwrap().to_string());
        }
        call_ids.push(ids);
    }
    for (k, v) in &sum {
        assert_eq!(
            merged[*k].as_u64().unwrap(),
            *v,
            "merged {k} is the workers' sum"
        );
    }
    assert_eq!(sum["total_calls"], CALLS);
    assert_eq!(sum["success_calls"], CALLS);
    numbers.sort_unstable();
    assert_eq!(
        numbers,
        (1..=CALLS).collect::<Vec<_>>(),
        "each call number once"
    );
    let flat: std::collections::HashSet<&String> = call_ids.iter().flatten().collect();
    assert_eq!(flat.len() as u64, CALLS, "Call-IDs distinct across workers");
    // Exact: the merged p99 is the p99 of one histogram of every call.
    assert_eq!(all.values().sum::<u64>(), CALLS);
    let want = p99_ms(&all);
    assert_eq!(
        merged["rtd"]["1"]["p99_ms"].as_f64().unwrap(),
        want,
        "summary p99"
    );
    let job_lines = lines(&dir.join("stats.jsonl"));
    let last = job_lines
        .iter()
        .rev()
        .find(|l| l["kind"] == "stats")
        .expect("the job's merged stats lines");
    assert_eq!(last["calls_created"], CALLS, "{last}");
    assert_eq!(last["response_time_p99_ms"].as_f64().unwrap(), want);
    assert!(
        job_lines.iter().all(|l| l["kind"] != "state"),
        "state lines stay in the workers' files"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("call_records.jsonl"))
            .unwrap()
            .lines()
            .count() as u64,
        CALLS
    );
    call_ids
}

fn uas_calls(stat: &Path) -> u64 {
    StatCsv::read(stat).last("SuccessfulCall(C)")
}

#[test]
fn a_job_on_three_workers_adds_up_to_one_run_exactly() {
    let dir = scratch_dir("jobs-workers-uas");
    let port = free_udp_port();
    let stat = dir.join("uas.csv");
    let server = uas(&dir, "127.0.0.1", port, &stat);
    let m = Master::start("jobs-workers");
    let tk = m.admin_token();
    let tk = tk.as_str();
    client_profile(&m, tk, "uac3", port, 30.0);
    // What cannot work is a 400 naming the field, and creates no job.
    for (body, field) in [
        (json!({"workers": 0}), "workers:"),
        (json!({"workers": 65}), "workers:"),
        (
            json!({"workers": 2, "worker_netns": ["a"]}),
            "worker_netns:",
        ),
        (
            json!({"workers": 4, "engine": {"total_calls": 3}}),
            "workers:",
        ),
    ] {
        let mut b = json!({"profile_id": "uac3", "profile_kind": "client"});
        for (k, v) in body.as_object().unwrap() {
            b[k] = v.clone();
        }
        let r = m.json("POST", "/api/v2/jobs", Some(tk), &b);
        assert_eq!(r.status, 400, "{b}: {}", r.text());
        assert!(r.error().starts_with(field), "{b}: {}", r.error());
    }
    // Namespaces are the machine's networks: an operator may not pick them.
    let op = m.user_token(tk, "op1", "operator");
    let r = m.json(
        "POST",
        "/api/v2/jobs",
        Some(&op),
        &json!({"profile_id": "uac3", "profile_kind": "client", "workers": 2,
                "worker_netns": ["n0", "n1"]}),
    );
    assert_eq!(r.status, 403, "{}", r.text());
    assert!(r.error().contains("worker_netns"), "{}", r.error());
    assert_eq!(m.get("/api/v2/jobs", Some(tk)).json()["total"], 0);
    // A worker that cannot start (no such namespace) fails the job, saying why.
    let r = m.json(
        "POST",
        "/api/v2/jobs",
        Some(tk),
        &json!({"profile_id": "uac3", "profile_kind": "client", "workers": 2,
                "worker_netns": ["gossipper-no-such-ns-0", "gossipper-no-such-ns-1"],
                "engine": {"total_calls": 4, "rate": 30, "shards": 1}}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let bad = r.json()["id"].as_str().unwrap().to_string();
    let j = wait_job(&m, tk, &bad, Duration::from_secs(30), finished);
    assert_eq!(j["status"], "failed", "{j}");
    let error = j["error"].as_str().unwrap();
    assert!(
        error.starts_with("worker 0") && error.contains("gossipper-no-such-ns-0"),
        "{error}"
    );

    let ids = run_and_check(
        &m,
        tk,
        json!({"profile_id": "uac3", "profile_kind": "client", "workers": WORKERS,
               "engine": {"total_calls": CALLS, "rate": 30, "shards": 1}}),
    );
    let pids: std::collections::HashSet<&str> = ids
        .iter()
        .flatten()
        .map(|c| c.split(['-', '@']).nth(1).unwrap())
        .collect();
    assert_eq!(pids.len(), WORKERS, "three processes: {pids:?}");
    let (_, out, err) = server.quit(Duration::from_secs(10));
    assert_eq!(uas_calls(&stat), CALLS, "SIPp saw every call\n{out}\n{err}");
}

#[test]
fn a_stopped_job_stops_each_of_its_workers_and_keeps_their_sum() {
    let dir = scratch_dir("jobs-workers-stop-uas");
    let port = free_udp_port();
    let stat = dir.join("uas.csv");
    let server = uas(&dir, "127.0.0.1", port, &stat);
    let m = Master::start("jobs-workers-stop");
    let tk = m.admin_token();
    let tk = tk.as_str();
    client_profile(&m, tk, "uacs", port, 20.0);
    // total_calls 0: until stopped.
    let r = m.json(
        "POST",
        "/api/v2/jobs",
        Some(tk),
        &json!({"profile_id": "uacs", "profile_kind": "client", "workers": WORKERS,
                "engine": {"total_calls": 0, "rate": 20, "shards": 1}}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let id = r.json()["id"].as_str().unwrap().to_string();
    wait_stats_lines(&m, &id, 2);
    let jdir = m.data_dir.join(format!("artifacts/jobs/{id}"));
    let pids: Vec<u64> = (0..WORKERS)
        .map(|i| {
            let first = lines(&jdir.join(format!("workers/{i}/stats.jsonl")))
                .into_iter()
                .find(|l| l["kind"] == "started")
                .expect("each worker started");
            first["pid"].as_u64().unwrap()
        })
        .collect();
    let live = m.get("/api/v2/live", Some(tk)).json();
    let row = live["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["id"] == id.as_str())
        .cloned()
        .unwrap();
    assert!(
        row["stats"]["calls_created"].as_u64().unwrap() > 0,
        "/live shows the merged line: {row}"
    );
    let r = m.req("POST", &format!("/api/v2/jobs/{id}/stop"), Some(tk), None);
    assert_eq!(r.status, 200, "{}", r.text());
    let j = wait_job(&m, tk, &id, Duration::from_secs(30), finished);
    assert_eq!(j["status"], "stopped", "{j}");
    for pid in &pids {
        assert!(!alive(*pid), "worker {pid} stopped with its job");
    }
    let merged = read_json(&jdir.join("summary.json"));
    let sum: u64 = (0..WORKERS)
        .map(|i| {
            read_json(&jdir.join(format!("workers/{i}/summary.json")))["total_calls"]
                .as_u64()
                .unwrap()
        })
        .sum();
    assert!(sum > 0);
    assert_eq!(merged["total_calls"].as_u64().unwrap(), sum, "{merged}");
    let created: Vec<u64> = lines(&jdir.join("stats.jsonl"))
        .iter()
        .filter(|l| l["kind"] == "stats")
        .map(|l| l["calls_created"].as_u64().unwrap())
        .collect();
    assert!(created.len() >= 2, "a merged line per second: {created:?}");
    assert!(created.windows(2).all(|w| w[0] <= w[1]), "{created:?}");
    assert_eq!(*created.last().unwrap(), sum);
    drop(server);
}

#[test]
fn two_sipp_style_copies_with_segments_make_one_run() {
    let dir = scratch_dir("segments-cli");
    let port = free_udp_port();
    let stat = dir.join("uas.csv");
    let server = uas(&dir, "127.0.0.1", port, &stat);
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let start = (now_ms + 1500).to_string();
    let copies: Vec<Proc> = (0..2)
        .map(|i| {
            let mut cmd = Command::new(gossipper_e2e::gossipper_bin());
            cmd.current_dir(&dir)
                .args([
                    "-sn",
                    "uac",
                    &format!("127.0.0.1:{port}"),
                    "-i",
                    "127.0.0.1",
                ])
                .args(["-m", "11", "-r", "20", "-shards", "1", "-nostdin"])
                .args(["-segment", &format!("{i}/2"), "-start_at", &start])
                .arg("-summary_json")
                .arg(dir.join(format!("s{i}.json")))
                .arg("-call_records_jsonl")
                .arg(dir.join(format!("r{i}.jsonl")));
            Proc::spawn(&format!("segment-{i}"), &mut cmd)
        })
        .collect();
    for c in copies {
        let (status, out, err) = c.wait(Duration::from_secs(30));
        assert!(status.success(), "{out}\n{err}");
    }
    let mut numbers = Vec::new();
    for (i, want) in [(0, 6), (1, 5)] {
        let s = read_json(&dir.join(format!("s{i}.json")));
        assert_eq!(s["total_calls"], want, "-m 11 over 2: 6 and 5");
        let mine: Vec<u64> = std::fs::read_to_string(dir.join(format!("r{i}.jsonl")))
            .unwrap()
            .lines()
            .map(|l| {
                serde_json::from_str::<Value>(l).unwrap()["call_number"]
                    .as_u64()
                    .unwrap()
            })
            .collect();
        assert!(
            mine.iter().all(|n| n % 2 == (i as u64 + 1) % 2),
            "interleaved: {mine:?}"
        );
        numbers.extend(mine);
    }
    numbers.sort_unstable();
    assert_eq!(numbers, (1..=11).collect::<Vec<u64>>());
    let (_, out, err) = server.quit(Duration::from_secs(10));
    assert_eq!(
        uas_calls(&stat),
        11,
        "SIPp saw one run's calls\n{out}\n{err}"
    );
}

/// Namespaces, each joined to the host by a veth pair (`10.<net>.<i>.2` inside,
/// `10.<net>.<i>.1` on the host, `net` from the test's pid so that two runs at once do
/// not share addresses); deleted when dropped.
struct Namespaces {
    names: Vec<String>,
    host_links: Vec<String>,
    net: u32,
}

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("cannot run ip: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

impl Namespaces {
    fn create(n: usize) -> Result<Namespaces, String> {
        let tag = std::process::id() % 100_000;
        let net = 200 + tag % 50;
        let mut ns = Namespaces {
            names: Vec::new(),
            host_links: Vec::new(),
            net,
        };
        for i in 0..n {
            let name = format!("gsp{tag}w{i}");
            let host = format!("gh{tag}w{i}");
            let inside = format!("gn{tag}w{i}");
            ip(&["netns", "add", &name])?;
            ns.names.push(name.clone());
            ip(&[
                "link", "add", &host, "type", "veth", "peer", "name", &inside,
            ])?;
            ns.host_links.push(host.clone());
            ip(&["link", "set", &inside, "netns", &name])?;
            ip(&["addr", "add", &format!("10.{net}.{i}.1/24"), "dev", &host])?;
            ip(&["link", "set", &host, "up"])?;
            let x = |args: &[&str]| {
                let mut all = vec!["netns", "exec", &name, "ip"];
                all.extend_from_slice(args);
                ip(&all)
            };
            x(&["addr", "add", &format!("10.{net}.{i}.2/24"), "dev", &inside])?;
            x(&["link", "set", &inside, "up"])?;
            x(&["link", "set", "lo", "up"])?;
            x(&["route", "add", "default", "via", &format!("10.{net}.{i}.1")])?;
        }
        Ok(ns)
    }
}

impl Drop for Namespaces {
    fn drop(&mut self) {
        // Deleting a namespace deletes the veth inside it, and so its host end; a pair
        // that never got into its namespace is deleted by its host end.
        for n in &self.names {
            if let Err(e) = ip(&["netns", "delete", n]) {
                eprintln!("cleanup: {e}");
            }
        }
        for l in &self.host_links {
            let _ = ip(&["link", "delete", l]);
        }
    }
}

#[test]
fn three_workers_in_three_network_namespaces_each_call_from_their_own_address() {
    let ns = match Namespaces::create(WORKERS) {
        Ok(ns) => ns,
        Err(e) => panic!(
            "cannot create the network namespaces this test needs (run it as root with iproute2): {e}"
        ),
    };
    let dir = scratch_dir("jobs-workers-netns-uas");
    let port = free_udp_port();
    let stat = dir.join("uas.csv");
    // The UAS on the host end of the first pair: the host answers every namespace
    // through its own pair.
    let host = format!("10.{}.0.1", ns.net);
    let server = uas(&dir, &host, port, &stat);
    let m = Master::start("jobs-workers-netns");
    let tk = m.admin_token();
    let tk = tk.as_str();
    // No local_ip: each worker takes its namespace's address.
    let r = m.json(
        "POST",
        "/api/v2/clients",
        Some(tk),
        &json!({"id": "uacns", "scenario_ref": "uac", "remote_ip": host,
                "remote_port": port, "rate": 30,
                "transports": [{"transport": "u1", "enabled": true}]}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let ids = run_and_check(
        &m,
        tk,
        json!({"profile_id": "uacns", "profile_kind": "client", "workers": WORKERS,
               "worker_netns": ns.names,
               "engine": {"total_calls": CALLS, "rate": 30, "shards": 1}}),
    );
    for (i, calls) in ids.iter().enumerate() {
        let want = format!("@10.{}.{i}.2", ns.net);
        assert!(
            calls.iter().all(|c| c.ends_with(&want)),
            "worker {i} calls from its namespace's address: {calls:?}"
        );
    }
    let (_, out, err) = server.quit(Duration::from_secs(10));
    assert_eq!(uas_calls(&stat), CALLS, "SIPp saw every call\n{out}\n{err}");
    drop(ns);
}
