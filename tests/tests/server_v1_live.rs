//! `gossipper server`'s live changes over the v1 API (issue #18), against real SIPp on
//! loopback:
//!
//! - a UAS server whose scenario is replaced over the API while SIPp's calls are in
//!   flight: none fails, the calls in flight finish on the old scenario and the new
//!   calls run the new one (seen in SIPp's message log); a scenario of the wrong role,
//!   malformed XML, a shell command without `-allow_exec`, a wrong content type or
//!   query get a 4xx and change nothing;
//! - a dynamic client added over the API (a UAC engine in the server's process) calls a
//!   SIPp UAS, shows in the multi-engine stats and control, does not call while it does
//!   not accept, and stops when deleted or when the server quits (SIPp sees its calls,
//!   all successful, then no more); an unknown engine id, a malformed snippet, a
//!   forbidden key or a UAS snippet get a 4xx and change nothing;
//! - a UAS listener turned off and on over the API while SIPp calls: no call is taken
//!   while off (SIPp retransmits), the calls resume when it is back on and none fails;
//!   an unknown listener index or client id, or an empty body, gets a 400 and changes
//!   nothing.
//!
//! Every wait has a deadline; every process is killed when its guard drops.

#![allow(clippy::unwrap_used)] // helpers outside #[test] fns: a failed unwrap is a failed test

mod api_support;
mod server_support;

use std::process::Command;
use std::time::Duration;

use api_support::{Resp, http};
use gossipper_e2e::{Sock, StatCsv, free_port, peer_args, sipp_bin, tail};
use serde_json::Value;
use server_support::*;

/// The built-in uas, as the server's `-sf` file starts with.
const UAS_XML: &str = include_str!("../../assets/scenarios/uas.xml");

/// The uas whose every reply carries `X-Version: 2`.
fn uas_v2() -> String {
    let contact = "Contact: <sip:[local_ip]:[local_port];transport=[transport]>";
    let v2 = UAS_XML
        .replace(contact, &format!("{contact}\n    X-Version: 2"))
        .replace("Basic UAS responder", "UAS v2");
    assert_eq!(v2.matches("X-Version: 2").count(), 3);
    v2
}

/// A request with the token and a content type.
fn send_xml(api: &str, method: &str, path: &str, ctype: &str, body: &str) -> Resp {
    let headers = vec![
        ("Authorization".to_string(), bearer()),
        ("Content-Type".to_string(), ctype.to_string()),
    ];
    http(api, method, path, &headers, Some(body.as_bytes()))
}

/// Per Call-ID, whether each message SIPp received carried `X-Version: 2` (from its
/// `-trace_msg` log).
fn marks_by_call(log: &str) -> std::collections::BTreeMap<String, Vec<bool>> {
    let mut out: std::collections::BTreeMap<String, Vec<bool>> = Default::default();
    for entry in log.split("-----------------------------------------------") {
        if !entry.contains("message received") {
            continue;
        }
        let call_id = entry.lines().find_map(|l| {
            let (name, value) = l.split_once(':')?;
            matches!(name.trim().to_ascii_lowercase().as_str(), "call-id" | "i")
                .then(|| value.trim().to_string())
        });
        if let Some(id) = call_id {
            out.entry(id)
                .or_default()
                .push(entry.contains("X-Version: 2"));
        }
    }
    out
}

#[test]
fn a_uas_scenario_replaced_live_keeps_the_calls_in_flight_and_refuses_bad_input() {
    const CALLS: u64 = 60;
    let dir = memory_scratch("server-v1-replace");
    let sf = dir.join("uas.xml");
    std::fs::write(&sf, UAS_XML).unwrap();
    let sip_port = free_port();
    let api = format!("127.0.0.1:{}", free_port());
    let mut server = start_server(
        "gossipper server (-sf)",
        sip_port,
        &api,
        &dir.join("server.csv"),
        &["-sf", sf.to_str().unwrap()],
    );
    server.wait_bound(Sock::Udp, sip_port);
    let first = get(&api, "/api/v1/scenario");
    assert_eq!(first["scenario_file"], sf.to_str().unwrap(), "{first:#}");
    assert_eq!(first["builtin"], false);

    // Bad input: a 4xx naming the problem, and nothing changes (neither what runs nor
    // the -sf file).
    let uac = include_str!("../../assets/scenarios/uac.xml");
    let broken = "<scenario name=\"x\">\n  <recv request=\"INVITE\"/>\n  <send>\n</scenario>\n";
    let exec = "<scenario name=\"e\">\n  <recv request=\"INVITE\"><action><exec command=\"true\"/></action></recv>\n</scenario>\n";
    for (method, path, ctype, body, status, says) in [
        (
            "PUT",
            "/api/v1/scenario?apply=true",
            "application/xml",
            uac,
            409,
            "role",
        ),
        (
            "POST",
            "/api/v1/scenario/apply",
            "application/xml",
            uac,
            409,
            "role",
        ),
        (
            "PUT",
            "/api/v1/scenario?apply=true",
            "application/xml",
            broken,
            400,
            "request.xml:4:1:",
        ),
        (
            "PUT",
            "/api/v1/scenario?apply=true",
            "text/xml",
            exec,
            403,
            "-allow_exec",
        ),
        (
            "PUT",
            "/api/v1/scenario",
            "application/xml",
            "",
            400,
            "empty",
        ),
        (
            "PUT",
            "/api/v1/scenario?apply=maybe",
            "application/xml",
            UAS_XML,
            400,
            "apply=maybe",
        ),
        (
            "PUT",
            "/api/v1/scenario?force=1",
            "application/xml",
            UAS_XML,
            400,
            "force",
        ),
        (
            "POST",
            "/api/v1/scenario/apply",
            "application/json",
            "{}",
            415,
            "application/xml",
        ),
    ] {
        let r = send_xml(&api, method, path, ctype, body);
        assert_eq!(r.status, status, "{method} {path}: {}", r.text());
        assert!(r.error().contains(says), "{method} {path}: {}", r.text());
        assert_eq!(
            get(&api, "/api/v1/scenario"),
            first,
            "after {method} {path}"
        );
        assert_eq!(std::fs::read_to_string(&sf).unwrap(), UAS_XML);
    }

    // SIPp calls at 15/s and holds each call 2 s: about 30 in flight at any time.
    let sipp_csv = dir.join("sipp.csv");
    let sipp_log = dir.join("sipp_messages.log");
    let mut cmd = Command::new(sipp_bin());
    peer_args(&mut cmd, &sipp_csv)
        .args(["-sn", "uac", "-i", "127.0.0.1"])
        .args(["-p", &free_port().to_string()])
        .args(["-r", "15", "-d", "2000", "-m", &CALLS.to_string()])
        .args(["-trace_msg", "-message_file", sipp_log.to_str().unwrap()])
        .arg(format!("127.0.0.1:{sip_port}"));
    let sipp = spawn_logged("sipp uac", &mut cmd, &sipp_csv);

    // Replaced once a third of the calls are placed, with calls in flight.
    let at = stats_until(&api, Duration::from_secs(30), |s| {
        n(s, "total_calls") >= CALLS / 3 && n(s, "active_calls") >= 5
    });
    let v2 = uas_v2();
    let r = send_xml(
        &api,
        "PUT",
        "/api/v1/scenario?apply=true",
        "application/xml",
        &v2,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.json(),
        serde_json::json!({"written": true, "applied": true})
    );
    let after = get(&api, "/api/v1/scenario");
    assert_eq!(after["xml"], v2.as_str(), "GET shows the new scenario");
    assert_eq!(after["scenario_file"], sf.to_str().unwrap());
    assert_eq!(std::fs::read_to_string(&sf).unwrap(), v2, "-sf written");

    let (status, _, _) = sipp.wait(Duration::from_secs(90));
    assert_eq!(status.code(), Some(0), "sipp uac:\n{}", logs(&sipp_csv));
    let csv = StatCsv::read(&sipp_csv);
    assert_eq!(csv.last("SuccessfulCall(C)"), CALLS, "SIPp's successes");
    assert_eq!(csv.last("FailedCall(C)"), 0, "SIPp's failures");

    // Each call ran on one scenario only: those in flight at the swap on the old one to
    // their end (their BYE answered after it, unmarked), the later ones on the new one.
    let marks = marks_by_call(&std::fs::read_to_string(&sipp_log).unwrap());
    assert_eq!(marks.len() as u64, CALLS, "calls in SIPp's message log");
    let old = marks.values().filter(|m| m.iter().all(|x| !x)).count() as u64;
    let new = marks.values().filter(|m| m.iter().all(|x| *x)).count() as u64;
    eprintln!(
        "replaced after {} calls ({} in flight): {old} calls on the old scenario, {new} on the new one",
        n(&at, "total_calls"),
        n(&at, "active_calls")
    );
    assert_eq!(old + new, CALLS, "a call mixed both scenarios: {marks:?}");
    assert!(
        old >= n(&at, "total_calls") && new >= CALLS / 3,
        "{old} calls on the old scenario, {new} on the new one (swap after {})",
        n(&at, "total_calls")
    );

    // Our side agrees: every call answered, none failed.
    let s = stats_until(&api, Duration::from_secs(60), |s| {
        n(s, "success_calls") + n(s, "failed_calls") >= CALLS && n(s, "active_calls") == 0
    });
    assert_eq!(
        (n(&s, "success_calls"), n(&s, "failed_calls")),
        (CALLS, 0),
        "{s:#}"
    );

    // Without a body, /scenario/apply reads the -sf file again.
    let r = call(
        &api,
        "POST",
        "/api/v1/scenario/apply",
        Some(&bearer()),
        None,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.json(),
        serde_json::json!({"written": false, "applied": true})
    );
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_dynamic_client_calls_sipp_until_deleted_and_bad_snippets_change_nothing() {
    let dir = memory_scratch("server-v1-clients");
    let sipp_port = free_port();
    let sipp_csv = dir.join("sipp.csv");
    let mut cmd = Command::new(sipp_bin());
    peer_args(&mut cmd, &sipp_csv).args([
        "-sn",
        "uas",
        "-i",
        "127.0.0.1",
        "-p",
        &sipp_port.to_string(),
    ]);
    let mut sipp = spawn_logged("sipp uas", &mut cmd, &sipp_csv);
    sipp.wait_bound(Sock::Udp, sipp_port);

    let api = format!("127.0.0.1:{}", free_port());
    let server = start_server(
        "gossipper server",
        free_port(),
        &api,
        &dir.join("server.csv"),
        &["-sn", "uas"],
    );
    let post = |body: &str| call(&api, "POST", "/api/v1/clients", Some(&bearer()), Some(body));
    let none = serde_json::json!({"clients": []});
    assert_eq!(get(&api, "/api/v1/clients"), none);

    // Bad snippets: a 4xx naming the problem, no client started.
    let remote = format!("127.0.0.1:{sipp_port}");
    for (body, status, says) in [
        ("{\"remote_addr\":".to_string(), 400, "invalid JSON"),
        ("[1,2]".to_string(), 400, "JSON object"),
        (
            format!(r#"{{"remote_addr":"{remote}","api_token":"x"}}"#),
            400,
            "\"api_token\" is forbidden",
        ),
        (
            format!(r#"{{"remote_addr":"{remote}","listeners":[]}}"#),
            400,
            "\"listeners\" is forbidden",
        ),
        (
            format!(r#"{{"remote_addr":"{remote}","summary_json":"s.json"}}"#),
            400,
            "\"summary_json\"",
        ),
        (
            format!(r#"{{"remote_addr":"{remote}","rate":"fast"}}"#),
            400,
            "fast",
        ),
        (r#"{"rate":2}"#.to_string(), 400, "remote_addr"),
        (
            format!(r#"{{"remote_addr":"{remote}","scenario_name":"uas"}}"#),
            400,
            "UAC",
        ),
    ] {
        let r = post(&body);
        assert_eq!(r.status, status, "POST clients {body}: {}", r.text());
        assert!(
            r.error().contains(says),
            "POST clients {body}: {}",
            r.text()
        );
        assert_eq!(get(&api, "/api/v1/clients"), none, "after {body}");
    }
    let single = get(&api, "/api/v1/stats");
    assert_eq!(
        single["schema_version"], "gossipper_summary_v1",
        "one engine: a bare summary"
    );

    // A client at 10 calls/s toward SIPp.
    let r = post(&format!(
        r#"{{"remote_addr":"{remote}","scenario_name":"uac","local_ip":"127.0.0.1","rate":10}}"#
    ));
    assert_eq!(r.status, 201, "{}", r.text());
    let id = r.json()["id"].as_str().unwrap().to_string();
    assert_eq!(r.json(), serde_json::json!({"id": id, "started": true}));
    let listed = get(&api, "/api/v1/clients");
    assert_eq!(listed["clients"][0]["id"], id.as_str(), "{listed:#}");
    assert_eq!(listed["clients"][0]["running"], true, "{listed:#}");

    // Stats and control now list both engines.
    let engine = |s: &Value, id: &str| -> Value {
        s["engines"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["id"] == id)
            .unwrap_or_else(|| panic!("no engine {id}: {s:#}"))
            .clone()
    };
    let s = stats_until(&api, Duration::from_secs(30), |s| {
        s["multi"] == true && n(&engine(s, &id)["stats"], "success_calls") >= 10
    });
    assert_eq!(s["dynamic_client_ids"], serde_json::json!([id]), "{s:#}");
    assert_eq!(
        n(&engine(&s, "primary")["stats"], "total_calls"),
        0,
        "{s:#}"
    );
    assert_eq!(n(&engine(&s, &id)["stats"], "failed_calls"), 0, "{s:#}");

    let before = get(&api, "/api/v1/control");
    assert_eq!(before["multi"], true, "{before:#}");
    assert_eq!(engine(&before, &id)["rate"], 10.0, "{before:#}");
    for (body, status) in [
        (r#"{"rate":3,"engine_id":"client-99"}"#.to_string(), 400),
        (
            format!(r#"{{"rate":3,"engine_id":"{id}","id":"primary"}}"#),
            400,
        ),
        (r#"{"rate":3,"engine_id":"primary"}"#.to_string(), 409),
    ] {
        let r = post_control(&api, &body);
        assert_eq!(r.status, status, "POST control {body}: {}", r.text());
        assert_eq!(get(&api, "/api/v1/control"), before, "after {body}");
    }
    // Without an engine id: every engine that places calls (the UAS places none).
    let r = post_control(&api, r#"{"rate":12}"#);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(engine(&r.json(), &id)["rate"], 12.0, "{}", r.text());
    assert_eq!(
        engine(&r.json(), "primary")["rate"],
        before["engines"][0]["rate"]
    );

    // Not accepting: the client places no call until it accepts again.
    let transports = |body: &str| {
        call(
            &api,
            "POST",
            "/api/v1/transports",
            Some(&bearer()),
            Some(body),
        )
    };
    let r = transports(&format!(
        r#"{{"clients":[{{"id":"{id}","accepting":false}}]}}"#
    ));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["clients"][0]["accepting"], false, "{}", r.text());
    let placed = |s: &Value| n(&engine(s, &id)["stats"], "total_calls");
    let quiet = quiet_window(&api, Duration::from_secs(20), 1200.0, |s| {
        let st = engine(s, &id)["stats"].clone();
        (st["duration_ms"].as_f64().unwrap(), n(&st, "total_calls"))
    });
    if let Err(e) = quiet {
        panic!("calls placed while not accepting: {e}");
    }
    let b = get(&api, "/api/v1/stats");
    let r = transports(&format!(
        r#"{{"clients":[{{"id":"{id}","accepting":true}}]}}"#
    ));
    assert_eq!(r.status, 200, "{}", r.text());
    stats_until(&api, Duration::from_secs(10), |s| placed(s) > placed(&b));

    // Deleted: no new calls; its calls in flight end; the server is single again.
    let r = call(
        &api,
        "DELETE",
        "/api/v1/clients?id=nope",
        Some(&bearer()),
        None,
    );
    assert_eq!(r.status, 404, "{}", r.text());
    let r = call(&api, "DELETE", "/api/v1/clients", Some(&bearer()), None);
    assert_eq!(r.status, 400, "{}", r.text());
    let last = get(&api, "/api/v1/stats");
    let placed_before = n(&engine(&last, &id)["stats"], "total_calls");
    let r = call(
        &api,
        "DELETE",
        &format!("/api/v1/clients?id={id}"),
        Some(&bearer()),
        None,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(get(&api, "/api/v1/clients"), none);
    let after = get(&api, "/api/v1/stats");
    assert_eq!(after["schema_version"], "gossipper_summary_v1", "{after:#}");

    // A second client, still calling when the server is told to quit: it is stopped
    // with the server, its calls ended, and the server exits.
    let r = post(&format!(
        r#"{{"remote_addr":"{remote}","scenario_name":"uac","local_ip":"127.0.0.1","rate":10}}"#
    ));
    assert_eq!(r.status, 201, "{}", r.text());
    let second = r.json()["id"].as_str().unwrap().to_string();
    assert_ne!(second, id, "ids are not reused");
    stats_until(&api, Duration::from_secs(30), |s| {
        s["multi"] == true && n(&engine(s, &second)["stats"], "success_calls") >= 5
    });
    let (_, _, _) = server.quit(Duration::from_secs(30));
    let err = std::fs::read_to_string(dir.join("server.err")).unwrap_or_default();
    assert!(
        err.contains(&format!("dynamic client {second} started")),
        "server stderr:\n{}",
        tail(&err)
    );

    // SIPp saw the clients' calls, none failed, then no more (after its 4 s timewaits).
    std::thread::sleep(Duration::from_secs(5));
    let (status, _, _) = sipp.quit(Duration::from_secs(30));
    assert_eq!(status.code(), Some(0), "sipp uas:\n{}", logs(&sipp_csv));
    let csv = StatCsv::read(&sipp_csv);
    let got = csv.last("SuccessfulCall(C)");
    assert!(
        got >= placed_before.max(10),
        "SIPp answered {got}, we placed {placed_before}+"
    );
    assert_eq!(csv.last("FailedCall(C)"), 0, "SIPp's failures");
    let periods = sipp_periods(&csv);
    let quiet: Vec<_> = periods.iter().rev().take_while(|p| p.1 == 0).collect();
    assert!(
        quiet.iter().map(|p| p.0).sum::<f64>() >= 1.5,
        "SIPp still got calls after the delete: {periods:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_uas_listener_turned_off_takes_no_call_until_turned_on_again() {
    const CALLS: u64 = 50;
    let dir = memory_scratch("server-v1-listener");
    let sip_port = free_port();
    let api = format!("127.0.0.1:{}", free_port());
    let server = start_server(
        "gossipper server",
        sip_port,
        &api,
        &dir.join("server.csv"),
        &["-sn", "uas"],
    );
    let post = |body: &str| {
        call(
            &api,
            "POST",
            "/api/v1/transports",
            Some(&bearer()),
            Some(body),
        )
    };
    let first = get(&api, "/api/v1/transports");
    assert_eq!(
        first,
        serde_json::json!({
            "listeners": [{"index": 0, "enabled": true, "transport": "udp", "port": sip_port}],
            "clients": [],
        })
    );
    for (body, says) in [
        (r#"{"index":1,"enabled":false}"#, "no listener 1"),
        (
            r#"{"listeners":[{"index":0,"enabled":false},{"index":3,"enabled":true}]}"#,
            "no listener 3",
        ),
        (
            r#"{"clients":[{"id":"client-7","accepting":false}]}"#,
            "client-7",
        ),
        (r#"{"index":0}"#, "both index and enabled"),
        (r#"{}"#, "nothing to change"),
        (r#"{"index":0,"enabled":"no"}"#, "invalid JSON"),
        (r#"{"index":0,"enabled":false,"port":5}"#, "port"),
    ] {
        let r = post(body);
        assert_eq!(r.status, 400, "POST transports {body}: {}", r.text());
        assert!(
            r.error().contains(says),
            "POST transports {body}: {}",
            r.text()
        );
        assert_eq!(get(&api, "/api/v1/transports"), first, "after {body}");
    }

    // SIPp calls at 10/s.
    let sipp_csv = dir.join("sipp.csv");
    let mut cmd = Command::new(sipp_bin());
    peer_args(&mut cmd, &sipp_csv)
        .args(["-sn", "uac", "-i", "127.0.0.1"])
        .args(["-p", &free_port().to_string()])
        .args(["-r", "10", "-m", &CALLS.to_string()])
        .arg(format!("127.0.0.1:{sip_port}"));
    let sipp = spawn_logged("sipp uac", &mut cmd, &sipp_csv);
    stats_until(&api, Duration::from_secs(30), |s| n(s, "total_calls") >= 10);

    // Off: no call is taken for 1.5 s of the run's clock, while SIPp keeps sending.
    let r = post(r#"{"index":0,"enabled":false}"#);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["listeners"][0]["enabled"], false, "{}", r.text());
    let quiet = quiet_window(&api, Duration::from_secs(20), 1500.0, |s| {
        (s["duration_ms"].as_f64().unwrap(), n(s, "total_calls"))
    });
    // Quiet while SIPp still had calls to place: not merely the end of its -m.
    let taken = quiet.unwrap_or_else(|e| panic!("calls taken while the listener was off: {e}"));
    assert!(taken + 10 <= CALLS, "{taken} calls taken before the pause");

    // On again: SIPp's retransmitted INVITEs and its new calls are answered.
    let r = post(r#"{"listeners":[{"index":0,"enabled":true}]}"#);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["listeners"][0]["enabled"], true);
    let (status, _, _) = sipp.wait(Duration::from_secs(90));
    assert_eq!(status.code(), Some(0), "sipp uac:\n{}", logs(&sipp_csv));
    let csv = StatCsv::read(&sipp_csv);
    assert_eq!(csv.last("SuccessfulCall(C)"), CALLS, "SIPp's successes");
    assert_eq!(csv.last("FailedCall(C)"), 0, "SIPp's failures");
    assert!(
        csv.last("Retransmissions(C)") > 0,
        "SIPp retransmitted nothing: the listener never looked off"
    );
    let s = stats_until(&api, Duration::from_secs(60), |s| {
        n(s, "success_calls") >= CALLS && n(s, "active_calls") == 0
    });
    assert_eq!(
        (n(&s, "total_calls"), n(&s, "failed_calls")),
        (CALLS, 0),
        "{s:#}"
    );
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}
