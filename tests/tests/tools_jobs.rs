//! The tool jobs and `gossipper auth user-add` against a real `gossipper ui` (issue #19
//! item 3): `summary-to-pdf` prints a real job's report into a `report_pdf` artifact
//! (read back with `pdftotext`), `rtp_send` sends what a test socket counts, `infindex`
//! indexes a CSV of a job's folder; without Chromium the PDF tool is listed not available
//! with the reason and a run is refused with 400 before any job exists; a user written by
//! `auth user-add` logs in over HTTP, before and after a restart.

#![allow(clippy::unwrap_used)] // helpers outside #[test] fns: a failed unwrap is a failed test

mod api_support;
mod jobs_support;

use std::collections::BTreeSet;
use std::net::UdpSocket;
use std::process::Command;
use std::time::Duration;

use api_support::{Master, binary};
use jobs_support::*;
use serde_json::json;

fn tool_entry(m: &Master, tk: &str, id: &str) -> serde_json::Value {
    let tools = m.get("/api/v2/tools", Some(tk)).json();
    tools["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == id)
        .cloned()
        .unwrap_or_else(|| panic!("{id} in {tools}"))
}

fn run_tool(m: &Master, tk: &str, id: &str, args: serde_json::Value) -> String {
    let r = m.json(
        "POST",
        &format!("/api/v2/tools/{id}/run"),
        Some(tk),
        &json!({ "args": args }),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let job_id = r.json()["job"]["id"].as_str().unwrap().to_string();
    let j = wait_job(m, tk, &job_id, Duration::from_secs(120), finished);
    assert_eq!(j["status"], "succeeded", "{j}");
    job_id
}

#[test]
fn pdf_rtp_and_index_tools_run_as_jobs() {
    let m = Master::start("tools-jobs");
    let tk = m.admin_token();
    let tk = tk.as_str();
    for id in ["summary-to-pdf", "rtp_send", "infindex", "report-html"] {
        let t = tool_entry(&m, tk, id);
        assert_eq!(t["available"], true, "{t}");
    }
    // A real job's summary: 37 calls against our UAS.
    let port = free_udp_port();
    server_profile(&m, tk, "uas1", port);
    let r = m.json(
        "POST",
        "/api/v2/servers/uas1/start",
        Some(tk),
        &json!({"engine": {"shards": 1}}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let server = r.json()["id"].as_str().unwrap().to_string();
    wait_job(&m, tk, &server, Duration::from_secs(30), running);
    wait_stats_line(&m, &server);
    client_profile(&m, tk, "uac1", port, 50.0);
    let r = m.json(
        "POST",
        "/api/v2/jobs",
        Some(tk),
        &json!({"profile_id": "uac1", "profile_kind": "client",
                "engine": {"total_calls": 37, "rate": 50, "shards": 1}}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let client = r.json()["id"].as_str().unwrap().to_string();
    let j = wait_job(&m, tk, &client, Duration::from_secs(60), finished);
    assert_eq!(j["status"], "succeeded", "{j}");

    // summary-to-pdf: the report as PDF, its numbers in the text.
    let pdf_job = run_tool(&m, tk, "summary-to-pdf", json!({"in": client}));
    let pdf = m.get(
        &format!("/api/v2/jobs/{pdf_job}/artifacts/report_pdf"),
        Some(tk),
    );
    assert_eq!(pdf.status, 200, "{}", pdf.text());
    assert_eq!(pdf.header("content-type"), Some("application/pdf"));
    let file = m.data_dir.join("fetched.pdf");
    std::fs::write(&file, &pdf.body).unwrap();
    let text = Command::new("pdftotext")
        .arg(&file)
        .arg("-")
        .output()
        .unwrap();
    assert!(text.status.success(), "pdftotext reads it");
    let text = String::from_utf8_lossy(&text.stdout);
    // (pdftotext may drop a hyphen of the id: its last part is checked.)
    let id_tail = client.rsplit('-').next().unwrap();
    for s in [
        "37",
        "calls created",
        "succeeded",
        "gossipper report — job",
        id_tail,
    ] {
        assert!(text.contains(s), "{s} in the PDF:\n{text}");
    }
    // An output name outside its folder is refused before a job exists.
    let r = m.json(
        "POST",
        "/api/v2/tools/summary-to-pdf/run",
        Some(tk),
        &json!({"id": "pdf-bad", "args": {"in": client, "out": "../x.pdf"}}),
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(
        r.error().starts_with("args.out: \"../x.pdf\""),
        "{}",
        r.error()
    );

    // rtp_send: two streams for 400 ms, counted here.
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let dest = sock.local_addr().unwrap().to_string();
    let rtp_job = run_tool(
        &m,
        tk,
        "rtp_send",
        json!({"rtp_addr": dest, "duration_ms": 400, "rtp_streams": 2}),
    );
    let mut buf = [0u8; 2048];
    let mut ssrcs = BTreeSet::new();
    let mut packets = 0u64;
    while let Ok(n) = sock.recv(&mut buf) {
        assert!(n == 12 + 160 && buf[1] & 0x7f == 0, "PCMU, 20 ms");
        ssrcs.insert(u32::from_be_bytes([buf[8], buf[9], buf[10], buf[11]]));
        packets += 1;
    }
    assert_eq!(
        (ssrcs.len(), packets),
        (2, 40),
        "2 streams × 400 ms / 20 ms"
    );
    let sent = m
        .get(
            &format!("/api/v2/jobs/{rtp_job}/artifacts/rtp_send"),
            Some(tk),
        )
        .json();
    assert_eq!(sent["packets"], 40, "{sent}");
    let listed: BTreeSet<u32> = sent["ssrcs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_u64().unwrap() as u32)
        .collect();
    assert_eq!(listed, ssrcs);
    // A stop ends a long one early: the job is stopped, and says what it sent.
    let r = m.json(
        "POST",
        "/api/v2/tools/rtp_send/run",
        Some(tk),
        &json!({"args": {"rtp_addr": dest, "duration_ms": 60000}}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let long = r.json()["job"]["id"].as_str().unwrap().to_string();
    wait_job(&m, tk, &long, Duration::from_secs(30), running);
    assert!(sock.recv(&mut buf).is_ok(), "it sends");
    let r = m.req("POST", &format!("/api/v2/jobs/{long}/stop"), Some(tk), None);
    assert_eq!(r.status, 200, "{}", r.text());
    let j = wait_job(&m, tk, &long, Duration::from_secs(20), finished);
    assert_eq!(j["status"], "stopped", "{j}");
    let sent = m
        .get(&format!("/api/v2/jobs/{long}/artifacts/rtp_send"), Some(tk))
        .json();
    assert_eq!(sent["stopped"], true, "{sent}");
    let packets = sent["packets"].as_u64().unwrap();
    assert!((1..3000).contains(&packets), "{sent}");
    // A tool job must end: no duration, no job.
    let r = m.json(
        "POST",
        "/api/v2/tools/rtp_send/run",
        Some(tk),
        &json!({"id": "rtp-forever", "args": {"rtp_addr": dest}}),
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(
        r.error().starts_with("args.duration_ms: is required"),
        "{}",
        r.error()
    );

    // infindex: a CSV of the client job's folder, indexed on field 1.
    std::fs::write(
        m.data_dir
            .join(format!("artifacts/jobs/{client}/users.csv")),
        "SEQUENTIAL\nalice;1001\nbob;1002\n",
    )
    .unwrap();
    let idx_job = run_tool(
        &m,
        tk,
        "infindex",
        json!({"csv": format!("artifacts/jobs/{client}/users.csv"), "field": 1}),
    );
    let idx = m
        .get(
            &format!("/api/v2/jobs/{idx_job}/artifacts/infindex"),
            Some(tk),
        )
        .json();
    assert_eq!(idx["keys"], json!({"1001": 1, "1002": 2}), "{idx}");
    let r = m.json(
        "POST",
        "/api/v2/tools/infindex/run",
        Some(tk),
        &json!({"id": "idx-missing", "args": {"csv": format!("artifacts/jobs/{client}/none.csv")}}),
    );
    assert_eq!(r.status, 400, "{}", r.text());
    for id in ["pdf-bad", "rtp-forever", "idx-missing"] {
        assert_eq!(m.get(&format!("/api/v2/jobs/{id}"), Some(tk)).status, 404);
    }

    m.req(
        "POST",
        &format!("/api/v2/jobs/{server}/stop"),
        Some(tk),
        None,
    );
    wait_job(&m, tk, &server, Duration::from_secs(20), finished);
}

#[test]
fn without_chromium_the_pdf_tool_is_refused_before_a_job_and_auth_user_add_writes_users() {
    let mut m = Master::start_with(
        "tools-nochrome",
        &[],
        &[("CHROMIUM", "/nonexistent/chromium")],
    );
    let tk = m.admin_token();
    let t = tool_entry(&m, &tk, "summary-to-pdf");
    assert_eq!(t["available"], false, "{t}");
    let why =
        "headless Chromium is missing: CHROMIUM=/nonexistent/chromium is not an executable file";
    assert_eq!(t["reason"], why, "{t}");
    let before = m.get("/api/v2/jobs", Some(&tk)).json();
    let r = m.json(
        "POST",
        "/api/v2/tools/summary-to-pdf/run",
        Some(&tk),
        &json!({"id": "pdf-none", "args": {"in": "whatever"}}),
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(
        r.error(),
        format!("tool \"summary-to-pdf\" cannot run on this machine: {why}")
    );
    assert_eq!(m.get("/api/v2/jobs/pdf-none", Some(&tk)).status, 404);
    assert_eq!(
        m.get("/api/v2/jobs", Some(&tk)).json(),
        before,
        "no job was made"
    );

    // auth user-add writes into the running master's data dir; the user logs in.
    let add = |args: &[&str]| {
        Command::new(binary())
            .args(["auth", "user-add", "--data-dir"])
            .arg(&m.data_dir)
            .args(args)
            .output()
            .unwrap()
    };
    let o = add(&["-username", "carol", "-password", "carol-pass-1"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("created user \"carol\" (operator)"));
    let carol = m.login("carol", "carol-pass-1");
    let me = m.get("/api/v2/me", Some(&carol)).json();
    assert_eq!(me["role"], "operator", "{me}");
    // The API's rules: a short password, a bad name, an unknown role are refused (255).
    for (args, says) in [
        (
            &["-username", "dave", "-password", "short"][..],
            "-password: must be at least 8 characters",
        ),
        (
            &["-username", "da ve", "-password", "long-enough"],
            "-username: must be 1 to 64 characters",
        ),
        (
            &[
                "-username",
                "dave",
                "-password",
                "long-enough",
                "-role",
                "root",
            ],
            "-role: \"root\" is not admin or operator",
        ),
    ] {
        let o = add(args);
        assert_eq!(o.status.code(), Some(255), "{args:?}");
        assert!(
            String::from_utf8_lossy(&o.stderr).contains(says),
            "{args:?}"
        );
    }
    // An existing user gets the new password (and role); the last admin is never demoted.
    let o = add(&[
        "-username",
        "carol",
        "-password",
        "carol-pass-2",
        "-role",
        "admin",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = add(&[
        "-username",
        "admin",
        "-password",
        "whatever-1",
        "-role",
        "operator",
    ]);
    assert!(
        o.status.success(),
        "two admins now: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let o = add(&[
        "-username",
        "carol",
        "-password",
        "carol-pass-3",
        "-role",
        "operator",
    ]);
    assert_eq!(o.status.code(), Some(1), "carol is the last admin");
    m.restart();
    let carol = m.login("carol", "carol-pass-2");
    assert_eq!(m.get("/api/v2/me", Some(&carol)).json()["role"], "admin");
    let r = m.json(
        "POST",
        "/api/v2/auth/login",
        None,
        &json!({"username": "carol", "password": "carol-pass-1"}),
    );
    assert_eq!(r.status, 401, "the old password no longer works");
    let audit = m.get("/api/v2/audit", Some(&carol));
    assert!(
        audit.text().contains("user.create") && audit.text().contains("cli"),
        "{}",
        audit.text()
    );
}
