//! `gossipper server`'s ZIP downloads (issue #18 item 5), against real SIPp on loopback,
//! each read back by `unzip`/`zipinfo` and its pcap by `tshark -r`:
//!
//! - `GET /api/v2/sip/trace/export?format=zip`: `sip-trace.txt` equal to the text
//!   export and `sip-trace.pcap` whose packets carry every traced message's Call-ID in
//!   order; `scenario=` selects as it does for the other formats;
//! - `GET /api/v2/calls/{id}?format=zip` and `/calls/{id}/dump`: `call.json` equal to
//!   the call's JSON detail, `sip.txt` and `sip.pcap` holding that call's six messages
//!   and no other call's;
//! - bad input (an unknown format, an unknown parameter, an unknown call, no token)
//!   gets a 4xx naming it.
//!
//! Every wait has a deadline; every process is killed when its guard drops.

#![allow(clippy::unwrap_used)] // helpers outside #[test] fns: a failed unwrap is a failed test

mod api_support;
mod server_support;
mod zip_support;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use gossipper_e2e::{StatCsv, free_port, peer_args, sipp_bin};
use serde_json::Value;
use server_support::*;
use zip_support::{entry, names, pcap_call_ids, unzip};

/// Runs SIPp's `uac` for `calls` calls to the server; asserts they all passed.
fn sipp_calls(dir: &Path, port: u16, sip_port: u16, calls: u64) {
    let csv_path = dir.join("sipp.csv");
    let mut cmd = Command::new(sipp_bin());
    peer_args(&mut cmd, &csv_path)
        .args(["-sn", "uac", "-i", "127.0.0.1", "-p", &port.to_string()])
        .args(["-r", "10", "-m", &calls.to_string()])
        .arg(format!("127.0.0.1:{sip_port}"));
    let (status, _, _) = spawn_logged("sipp", &mut cmd, &csv_path).wait(Duration::from_secs(60));
    assert_eq!(status.code(), Some(0), "sipp:\n{}", logs(&csv_path));
    assert_eq!(
        StatCsv::read(&csv_path).last("SuccessfulCall(C)"),
        calls,
        "SIPp's successes"
    );
}

/// Polls `path` until `ok` holds (at most 20 s).
fn until(api: &str, path: &str, ok: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let v = get(api, path);
        if ok(&v) {
            return v;
        }
        assert!(Instant::now() < deadline, "{path} never matched: {v:#}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A 200 ZIP download saved as `file`: its entries.
fn download(api: &str, path: &str, file: &str, dir: &Path, tag: &str) -> Vec<(String, Vec<u8>)> {
    let r = call(api, "GET", path, Some(&bearer()), None);
    assert_eq!(r.status, 200, "GET {path}: {}", r.text());
    assert_eq!(r.header("content-type"), Some("application/zip"), "{path}");
    assert_eq!(
        r.header("content-disposition"),
        Some(format!("attachment; filename=\"{file}\"").as_str()),
        "{path}"
    );
    unzip(&r.body, dir, tag)
}

#[test]
fn the_trace_and_each_call_download_as_zips_that_unzip_and_tshark_read() {
    const CALLS: u64 = 3;
    let dir = memory_scratch("server-zip");
    let sip_port = free_port();
    let api = format!("127.0.0.1:{}", free_port());
    let server = start_server(
        "gossipper server",
        sip_port,
        &api,
        &dir.join("server.csv"),
        &["-sn", "uas"],
    );
    sipp_calls(&dir, free_port(), sip_port, CALLS);
    // Every call finished (the built-in uas ends a call after 4 s of timewait) and traced.
    until(&api, "/api/v2/calls", |v| {
        v["calls"].as_array().unwrap().len() == CALLS as usize
    });
    let all = get(&api, "/api/v2/sip/trace?limit=500");
    let msgs = all["messages"].as_array().unwrap();
    assert_eq!(msgs.len(), 6 * CALLS as usize, "{all:#}");
    let in_order: Vec<String> = msgs
        .iter()
        .map(|m| m["call_id"].as_str().unwrap().to_string())
        .collect();
    let mut call_ids = in_order.clone();
    call_ids.sort();
    call_ids.dedup();
    assert_eq!(call_ids.len(), CALLS as usize, "{call_ids:?}");

    // The trace: the text export and a pcap of the same records.
    let zip = download(
        &api,
        "/api/v2/sip/trace/export?format=zip",
        "sip-trace.zip",
        &dir,
        "trace",
    );
    assert_eq!(names(&zip), ["sip-trace.txt", "sip-trace.pcap"]);
    let text = call(
        &api,
        "GET",
        "/api/v2/sip/trace/export?format=text",
        Some(&bearer()),
        None,
    );
    assert_eq!(text.status, 200);
    assert_eq!(entry(&zip, "sip-trace.txt"), text.body.as_slice());
    let txt = String::from_utf8(entry(&zip, "sip-trace.txt").to_vec()).unwrap();
    for id in &call_ids {
        assert_eq!(
            txt.matches(&format!("Call-ID: {id}\r\n")).count(),
            6,
            "{id} in {txt}"
        );
    }
    assert_eq!(
        pcap_call_ids(entry(&zip, "sip-trace.pcap"), &dir, "trace", sip_port),
        in_order
    );
    // scenario= selects for the ZIP as for the other formats.
    let same = download(
        &api,
        "/api/v2/sip/trace/export?format=zip&scenario=uas",
        "sip-trace.zip",
        &dir,
        "trace-uas",
    );
    assert_eq!(entry(&same, "sip-trace.txt"), text.body.as_slice());
    let none = download(
        &api,
        "/api/v2/sip/trace/export?format=zip&scenario=other",
        "sip-trace.zip",
        &dir,
        "trace-other",
    );
    assert!(entry(&none, "sip-trace.txt").is_empty());
    assert!(pcap_call_ids(entry(&none, "sip-trace.pcap"), &dir, "none", sip_port).is_empty());

    // One call: its JSON detail, and its six messages as text and pcap, by either URL.
    let id = &call_ids[1];
    let enc = id.replace('@', "%40");
    let detail = get(&api, &format!("/api/v2/calls/{enc}"));
    assert_eq!(detail["call_id"], id.as_str());
    for (n, path) in [
        format!("/api/v2/calls/{enc}?format=zip"),
        format!("/api/v2/calls/{enc}/dump"),
    ]
    .iter()
    .enumerate()
    {
        let zip = download(
            &api,
            path,
            &format!("call-{id}.zip"),
            &dir,
            &format!("call-{n}"),
        );
        assert_eq!(names(&zip), ["call.json", "sip.txt", "sip.pcap"], "{path}");
        let json: Value = serde_json::from_slice(entry(&zip, "call.json")).unwrap();
        assert_eq!(json, detail, "{path}");
        assert_eq!(json["sip"].as_array().unwrap().len(), 6, "{json:#}");
        let txt = String::from_utf8(entry(&zip, "sip.txt").to_vec()).unwrap();
        assert_eq!(txt.matches("\n-----").count() + 1, 6, "{txt}");
        for other in &call_ids {
            let want = if other == id { 6 } else { 0 };
            assert_eq!(
                txt.matches(&format!("Call-ID: {other}\r\n")).count(),
                want,
                "{path}: {txt}"
            );
        }
        assert_eq!(
            pcap_call_ids(
                entry(&zip, "sip.pcap"),
                &dir,
                &format!("call-{n}"),
                sip_port
            ),
            vec![id.clone(); 6],
            "{path}"
        );
    }

    // Bad input names what is wrong.
    for (path, status, named) in [
        (
            "/api/v2/sip/trace/export?format=tar".to_string(),
            400,
            "format",
        ),
        (format!("/api/v2/calls/{enc}?format=tar"), 400, "format"),
        (format!("/api/v2/calls/{enc}?zip=1"), 400, "zip"),
        (
            "/api/v2/calls/no-such-call/dump".to_string(),
            404,
            "no-such-call",
        ),
        (
            "/api/v2/calls/no-such-call?format=zip".to_string(),
            404,
            "no-such-call",
        ),
    ] {
        let r = call(&api, "GET", &path, Some(&bearer()), None);
        assert_eq!(r.status, status, "{path}: {}", r.text());
        assert!(r.error().contains(named), "{path}: {}", r.error());
    }
    let r = call(
        &api,
        "GET",
        "/api/v2/sip/trace/export?format=zip",
        None,
        None,
    );
    assert_eq!(r.status, 401, "{}", r.text());
    let r = call(
        &api,
        "GET",
        &format!("/api/v2/calls/{enc}/dump"),
        None,
        None,
    );
    assert_eq!(r.status, 401, "{}", r.text());
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}
