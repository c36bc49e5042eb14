//! The API side of issue 17 against a real `gossipper ui` and real SIPp: a load test is
//! checked whole before its job exists (400 naming the field), `max_concurrent` is
//! computed when left out, thresholds and the verdict land in summary.json (revision 2)
//! and decide the job's state, a run where every call failed is never green, jobs carry
//! names and notes, and the smaller answers (default password, scenario check, media
//! format) say what is true.

#![allow(clippy::unwrap_used)] // helpers outside #[test] fns: a failed unwrap is a failed test

mod api_support;
mod jobs_support;

use std::time::Duration;

use api_support::Master;
use gossipper_e2e::{Proc, scratch_dir, sipp_server};
use jobs_support::*;
use serde_json::{Value, json};

/// SIPp as the UAS on a free loopback port, bound before this returns.
fn sipp_uas(name: &str, extra: &[&str]) -> (Proc, u16) {
    sipp_server(name, &scratch_dir(name), "120s", extra)
}

fn run(m: &Master, tk: &str, body: Value) -> (u16, Value) {
    let r = m.json("POST", "/api/v2/load-test/run", Some(tk), &body);
    let v = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
    (r.status, v)
}

fn summary(m: &Master, tk: &str, id: &str) -> Value {
    m.get(&format!("/api/v2/jobs/{id}/artifacts/summary"), Some(tk))
        .json()
}

#[test]
fn a_load_test_is_checked_whole_before_its_job_exists() {
    let m = Master::start("trust-check");
    let tk = m.admin_token();
    let tk = tk.as_str();
    let info = m.get("/api/v2/load-test", Some(tk)).json();
    assert!(
        info["defaults"]["max_concurrent"].is_null(),
        "no silent default of 2: {}",
        info["defaults"]
    );
    let base = json!({"director": "127.0.0.1:5999", "total_calls": 5, "rate": 5});
    let with = |extra: Value| {
        let mut b = base.clone();
        for (k, v) in extra.as_object().unwrap() {
            b[k] = v.clone();
        }
        b
    };
    for (body, words) in [
        (
            with(json!({"scenario_id": "no_such_scenario"})),
            vec![
                "scenario_id",
                "\"no_such_scenario\" is neither a stored scenario nor a built-in",
            ],
        ),
        (
            with(json!({"scenario_id": "uas"})),
            vec!["scenario_id", "\"uas\" answers calls (a UAS scenario)"],
        ),
        (
            with(json!({"thresholds": ["p99(response_time)<5Oms"]})),
            vec!["thresholds[0]", "\"Oms\""],
        ),
        (
            with(json!({"scenario_id": "uac", "thresholds": ["failed_calls==0", "p99(bye)<5ms"]})),
            vec!["thresholds", "no response time \"bye\""],
        ),
        (
            with(json!({"name": "two\nlines"})),
            vec!["name", "one line"],
        ),
        (with(json!({"max_concurrent": 0})), vec!["max_concurrent"]),
    ] {
        let (status, v) = run(&m, tk, body.clone());
        assert_eq!(status, 400, "{body}: {v}");
        let e = v["error"].as_str().unwrap();
        for w in words {
            assert!(e.contains(w), "{body}: {e} lacks {w}");
        }
    }
    let jobs = m.get("/api/v2/jobs", Some(tk)).json();
    assert_eq!(jobs["total"], 0, "no job was created: {jobs}");
}

#[test]
fn a_load_test_reports_target_against_actual_thresholds_and_a_pass_verdict() {
    let (_uas, port) = sipp_uas("trust-uas", &["-sn", "uas"]);
    let m = Master::start("trust-pass");
    let tk = m.admin_token();
    let tk = tk.as_str();
    let (status, v) = run(
        &m,
        tk,
        json!({"director": format!("127.0.0.1:{port}"), "scenario_id": "uac", "total_calls": 20,
               "rate": 20, "call_duration_ms": 500, "health_enabled": false,
               "thresholds": ["p99(response_time)<5s", "rate>=90%", "success_ratio>=100%"],
               "name": "baseline", "notes": "first run"}),
    );
    assert_eq!(status, 202, "{v}");
    // Left out, the concurrency is SIPp's default, 3 × rate × max(hold, 1 s), which
    // rate × hold (10) fits in.
    assert_eq!(v["target"]["concurrency"], 60, "{v}");
    assert_eq!(v["target"]["concurrency_needed"], 10);
    assert_eq!(v["target"]["rate_cps"], 20.0);
    assert_eq!(v["job"]["name"], "baseline");
    assert_eq!(v["job"]["notes"], "first run");
    let id = v["job"]["id"].as_str().unwrap().to_string();
    let j = wait_job(&m, tk, &id, Duration::from_secs(60), finished);
    assert_eq!(j["status"], "succeeded", "{j}");

    let s = summary(&m, tk, &id);
    assert_eq!(s["schema_version"], "gossipper_summary_v1");
    assert_eq!(s["schema_revision"], 2);
    assert_eq!(s["scenario"]["role"], "client");
    assert_eq!(s["target"]["calls"], 20);
    assert_eq!(s["target"]["hold_ms"], 500);
    assert_eq!(s["target"]["concurrency"], 60);
    let rate = s["achieved"]["rate_cps"].as_f64().unwrap();
    // 19 gaps of 50 ms: one late pacer frame on a busy machine moves it by ~1 cps, while
    // the hold tail that this window leaves out would give ~13 cps.
    assert!(
        (rate - 20.0).abs() < 2.0,
        "the creation-window rate is the rate asked: {rate}"
    );
    let whole = s["calls_per_second"].as_f64().unwrap();
    assert!(
        whole < rate,
        "the whole-run average ({whole}) includes the hold tail"
    );
    assert_eq!(s["verdict"]["status"], "pass", "{}", s["verdict"]);
    assert_eq!(s["verdict"]["target_reached"], true);
    let th: Vec<(&str, bool)> = s["thresholds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["threshold"].as_str().unwrap(),
                t["pass"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        th,
        [
            ("p99(response_time)<5s", true),
            ("rate>=90%", true),
            ("success_ratio>=100%", true)
        ]
    );
    assert!(s["health"]["pass"].is_null(), "no gates: {}", s["health"]);
    let invite = &s["messages"][0];
    assert_eq!(
        (invite["label"].as_str(), invite["direction"].as_str()),
        (Some("INVITE"), Some("out"))
    );
    assert_eq!(invite["messages"], 20);

    // The stats stream: a plan line, then lines with the per-message counts.
    let lines = stats_lines(&m, &id);
    let kinds: Vec<&str> = lines.iter().filter_map(|l| l["kind"].as_str()).collect();
    let plan = kinds
        .iter()
        .position(|k| *k == "plan")
        .expect("a plan line");
    let first_stats = kinds
        .iter()
        .position(|k| *k == "stats")
        .expect("stats lines");
    assert!(plan < first_stats, "{kinds:?}");
    let p = &lines[plan];
    assert_eq!(p["target"]["rate_cps"], 20.0);
    assert_eq!(p["messages"][0]["label"], "INVITE");
    let last = lines.iter().rev().find(|l| l["kind"] == "stats").unwrap();
    let idx = p["messages"][0]["index"].as_u64().unwrap() as usize;
    assert_eq!(last["steps"][idx][0], 20, "{}", last["steps"]);
    assert!(last["retransmissions"].is_u64() && last["timeouts"].is_u64());

    // Names and notes: listed, edited, refused when bad.
    let list = m.get("/api/v2/jobs", Some(tk)).json();
    let row = list["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["id"] == id.as_str())
        .unwrap();
    assert_eq!(row["name"], "baseline");
    let r = m.json(
        "PATCH",
        &format!("/api/v2/jobs/{id}"),
        Some(tk),
        &json!({"notes": "SBC 4.2"}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        (r.json()["name"].as_str(), r.json()["notes"].as_str()),
        (Some("baseline"), Some("SBC 4.2"))
    );
    let r = m.json(
        "PATCH",
        &format!("/api/v2/jobs/{id}"),
        Some(tk),
        &json!({"name": "a\u{0007}"}),
    );
    assert_eq!(r.status, 400, "{}", r.text());
    let r = m.json(
        "PATCH",
        "/api/v2/jobs/j-nope",
        Some(tk),
        &json!({"name": "x"}),
    );
    assert_eq!(r.status, 404);
    let html = m
        .get(
            &format!("/api/v2/jobs/{id}/artifacts/report_html"),
            Some(tk),
        )
        .text();
    for needle in [
        "baseline",
        "first run",
        "data-verdict=\"pass\"",
        "Target and actual",
        "INVITE",
    ] {
        assert!(html.contains(needle), "report.html lacks {needle}");
    }
}

#[test]
fn a_run_where_every_call_failed_is_never_green() {
    let dir = scratch_dir("trust-busy-xml");
    let xml = dir.join("busy.xml");
    std::fs::write(&xml, api_support::BUSY_UAS_XML).unwrap();
    let (_uas, port) = sipp_uas("trust-busy", &["-sf", xml.to_str().unwrap()]);
    let m = Master::start("trust-busy");
    let tk = m.admin_token();
    let tk = tk.as_str();
    let director = format!("127.0.0.1:{port}");
    let (status, v) = run(
        &m,
        tk,
        json!({"director": director, "scenario_id": "uac", "total_calls": 3, "rate": 10, "health_enabled": false}),
    );
    assert_eq!(status, 202, "{v}");
    let id = v["job"]["id"].as_str().unwrap().to_string();
    let j = wait_job(&m, tk, &id, Duration::from_secs(60), finished);
    assert_eq!(j["status"], "failed", "{j}");
    assert_eq!(j["error"], "3 of 3 calls failed");
    let s = summary(&m, tk, &id);
    assert!(
        s["health"]["pass"].is_null(),
        "nothing judged is not a pass: {}",
        s["health"]
    );
    assert_eq!(s["verdict"]["status"], "fail");
    assert_eq!(s["verdict"]["reasons"][0], "every call failed (3 of 3)");

    // With gates lax enough to pass, it still is not green.
    let (_, v) = run(
        &m,
        tk,
        json!({"director": director, "scenario_id": "uac", "total_calls": 3, "rate": 10,
               "health_enabled": true, "health_min_success_ratio": 0.0, "health_max_failed_calls": 100}),
    );
    let id = v["job"]["id"].as_str().unwrap().to_string();
    wait_job(&m, tk, &id, Duration::from_secs(60), finished);
    let s = summary(&m, tk, &id);
    assert_eq!(s["health"]["pass"], false, "{}", s["health"]);
    assert_eq!(s["health"]["reasons"][0], "every call failed (3)");
    assert_eq!(s["verdict"]["status"], "fail");
}

#[test]
fn the_default_password_is_named_until_it_is_changed() {
    let m = Master::start("trust-default-pw");
    let st = m.get("/api/v2/auth/status", None).json();
    assert_eq!(st["default_password"]["username"], "admin", "{st}");
    let tk = m.admin_token();
    let r = m.json(
        "POST",
        "/api/v2/me/password",
        Some(&tk),
        &json!({"current_password": "sipcapture", "new_password": "another-pass-1"}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(m.get("/api/v2/auth/status", None).json()["default_password"].is_null());

    let m = Master::start_with(
        "trust-env-pw",
        &[],
        &[("GOSSIPPER_BOOTSTRAP_PASSWORD", "from-the-env-1")],
    );
    let st = m.get("/api/v2/auth/status", None).json();
    assert!(
        st["default_password"].is_null(),
        "a password from the environment is not the default: {st}"
    );
}

#[test]
fn the_scenario_check_stores_nothing_and_wavs_are_listed_with_their_format() {
    let m = Master::start("trust-check-media");
    let tk = m.admin_token();
    let tk = tk.as_str();
    let r = m.json(
        "POST",
        "/api/v2/scenarios/check",
        Some(tk),
        &json!({"xml": api_support::VALID_XML}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["ok"], true);
    let bad = api_support::VALID_XML.replace("<recv response=\"200\"/>", "<frobnicate/>");
    let r = m.json(
        "POST",
        "/api/v2/scenarios/check",
        Some(tk),
        &json!({"xml": bad}),
    );
    assert_eq!(r.status, 400);
    let e = r.error();
    assert!(
        e.starts_with("scenario.xml:") && e.contains("frobnicate"),
        "{e}"
    );
    assert_eq!(
        m.get("/api/v2/scenarios", Some(tk)).json()["scenarios"]
            .as_array()
            .unwrap()
            .len(),
        0,
        "a check stores nothing"
    );

    let wav = |rate: u32, channels: u16, frames: u32| {
        let data = frames * u32::from(channels) * 2;
        let mut v = Vec::new();
        v.extend_from_slice(b"RIFF");
        v.extend_from_slice(&(36 + data).to_le_bytes());
        v.extend_from_slice(b"WAVEfmt ");
        v.extend_from_slice(&16u32.to_le_bytes());
        v.extend_from_slice(&1u16.to_le_bytes());
        v.extend_from_slice(&channels.to_le_bytes());
        v.extend_from_slice(&rate.to_le_bytes());
        v.extend_from_slice(&(rate * u32::from(channels) * 2).to_le_bytes());
        v.extend_from_slice(&(channels * 2).to_le_bytes());
        v.extend_from_slice(&16u16.to_le_bytes());
        v.extend_from_slice(b"data");
        v.extend_from_slice(&data.to_le_bytes());
        v.extend(std::iter::repeat_n(0u8, data as usize));
        v
    };
    let r = m.req(
        "POST",
        "/api/v2/media/wav/music",
        Some(tk),
        Some(&wav(44_100, 2, 44_100)),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let a = r.json();
    assert_eq!(a["audio"]["sample_rate"], 44_100);
    assert_eq!(a["audio"]["channels"], 2);
    assert_eq!(a["audio"]["duration_ms"], 1000);
    assert!(
        a["warning"]
            .as_str()
            .unwrap()
            .starts_with("44100 Hz, 2 channels: "),
        "{a}"
    );
    let r = m.req(
        "POST",
        "/api/v2/media/wav/prompt",
        Some(tk),
        Some(&wav(8000, 1, 4000)),
    );
    assert_eq!(r.status, 201);
    assert!(r.json().get("warning").is_none(), "{}", r.text());
    let list = m.get("/api/v2/media/wav", Some(tk)).json();
    let names: Vec<(&str, bool)> = list["media"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| (x["name"].as_str().unwrap(), x.get("warning").is_some()))
        .collect();
    assert_eq!(names, [("music", true), ("prompt", false)]);
}
