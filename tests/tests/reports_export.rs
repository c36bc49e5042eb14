//! `GET /api/v2/reports/export.zip?ids=` against a real `gossipper ui`: two client jobs
//! (built-in uac against a server job) finish; their export, read back by
//! `unzip -t`/`zipinfo`, holds `<job>/summary.json` and `<job>/report.html` for each, in
//! the order asked, byte for byte the job's own artifacts. Bad input is refused naming
//! it: no ids, an unknown job, a job named twice, more than 50 jobs, more than 64 MiB of
//! files (a sparse file stands in for a big summary), no token.

#![allow(clippy::unwrap_used)] // helpers outside #[test] fns: a failed unwrap is a failed test

mod api_support;
mod jobs_support;
mod zip_support;

use std::time::Duration;

use api_support::Master;
use jobs_support::*;
use serde_json::json;
use zip_support::{entry, names, unzip};

/// Starts a client job of `calls` calls and waits for it to succeed; its id.
fn client_job(m: &Master, tk: &str, calls: u64) -> String {
    let r = m.json(
        "POST",
        "/api/v2/clients/uac1/start",
        Some(tk),
        &json!({"engine": {"total_calls": calls, "max_concurrent": 10}}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let id = r.json()["id"].as_str().unwrap().to_string();
    let j = wait_job(m, tk, &id, Duration::from_secs(60), finished);
    assert_eq!(j["status"], "succeeded", "{j}");
    id
}

#[test]
fn the_reports_of_two_jobs_download_as_one_zip_with_a_folder_per_job() {
    let m = Master::start("reports-zip");
    let tk = m.admin_token();
    let tk = tk.as_str();
    let port = free_udp_port();
    server_profile(&m, tk, "uas1", port);
    client_profile(&m, tk, "uac1", port, 50.0);
    let r = m.req("POST", "/api/v2/servers/uas1/start", Some(tk), None);
    assert_eq!(r.status, 201, "{}", r.text());
    let server_id = r.json()["id"].as_str().unwrap().to_string();
    wait_job(&m, tk, &server_id, Duration::from_secs(30), running);
    wait_stats_line(&m, &server_id);
    let a = client_job(&m, tk, 10);
    let b = client_job(&m, tk, 20);

    // b first: the folders come in the order asked.
    let r = m.get(&format!("/api/v2/reports/export.zip?ids={b},{a}"), Some(tk));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("application/zip"));
    assert_eq!(
        r.header("content-disposition"),
        Some("attachment; filename=\"reports-2.zip\"")
    );
    let zip = unzip(&r.body, &m.data_dir, "reports");
    let want: Vec<String> = [&b, &a]
        .iter()
        .flat_map(|id| [format!("{id}/summary.json"), format!("{id}/report.html")])
        .collect();
    assert_eq!(names(&zip), want);
    for (id, calls) in [(&a, 10), (&b, 20)] {
        let own = m.get(&format!("/api/v2/jobs/{id}/artifacts/summary"), Some(tk));
        assert_eq!(own.status, 200);
        let summary = entry(&zip, &format!("{id}/summary.json"));
        assert_eq!(summary, own.body.as_slice(), "{id}'s summary.json");
        let s: serde_json::Value = serde_json::from_slice(summary).unwrap();
        assert_eq!(s["success_calls"], calls, "{s}");
        let html = m.get(
            &format!("/api/v2/jobs/{id}/artifacts/report_html"),
            Some(tk),
        );
        assert_eq!(html.status, 200);
        assert_eq!(
            entry(&zip, &format!("{id}/report.html")),
            html.body.as_slice(),
            "{id}'s report.html"
        );
    }

    // Refusals name what is wrong.
    let many: Vec<String> = (0..51).map(|i| format!("j{i}")).collect();
    for (query, status, named) in [
        (String::new(), 400, "ids"),
        ("ids=".to_string(), 400, "ids"),
        (format!("ids={a},nope"), 404, "nope"),
        (format!("ids={a},{b},{a}"), 400, "twice"),
        (format!("ids={}", many.join(",")), 413, "at most 50"),
        ("ids=../x".to_string(), 400, "ids"),
    ] {
        let r = m.get(&format!("/api/v2/reports/export.zip?{query}"), Some(tk));
        assert_eq!(r.status, status, "{query}: {}", r.text());
        assert!(r.error().contains(named), "{query}: {}", r.error());
    }
    let r = m.get(&format!("/api/v2/reports/export.zip?ids={a}"), None);
    assert_eq!(r.status, 401, "{}", r.text());

    // Past 64 MiB of files: refused before anything is read (the file is sparse).
    let big = m.data_dir.join(format!("artifacts/jobs/{a}/summary.json"));
    std::fs::OpenOptions::new()
        .write(true)
        .open(&big)
        .unwrap()
        .set_len(65 << 20)
        .unwrap();
    let r = m.get(&format!("/api/v2/reports/export.zip?ids={b},{a}"), Some(tk));
    assert_eq!(r.status, 413, "{}", r.text());
    assert!(
        r.error().contains("64 MiB") && r.error().contains(&a),
        "{}",
        r.error()
    );
    // The other job alone still exports.
    let r = m.get(&format!("/api/v2/reports/export.zip?ids={b}"), Some(tk));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(names(&unzip(&r.body, &m.data_dir, "one")).len(), 2);

    let r = m.req("POST", "/api/v2/servers/uas1/stop", Some(tk), None);
    assert_eq!(r.status, 200, "{}", r.text());
}
