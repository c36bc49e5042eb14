//! WebRTC jobs through a real `gossipper ui` (issue 16): a server profile whose only
//! transport is a `webrtc` row (signalling over UDP on its address, `prefers_pcma`), and
//! a client profile with a SIP row next to a `webrtc` row; both resolve to the WebRTC
//! built-ins, and the client's calls set up ICE and DTLS-SRTP with the server's and
//! carry audio both ways, as their call_records.jsonl and summary.json show. A client
//! profile with ICE transport policy `relay` and a real coturn (REST credentials) calls
//! through the relay only; with a wrong secret its calls fail as `turn`. A profile asking
//! for TURN over TLS or TCP is refused when the profile is saved, naming the URL.

#![allow(clippy::unwrap_used)] // helpers outside #[test] fns: a failed unwrap is a failed test

mod api_support;
mod jobs_support;
mod turn_support;

use std::time::Duration;

use api_support::Master;
use gossipper_e2e::scratch_dir;
use jobs_support::*;
use serde_json::{Value, json};
use turn_support::{Coturn, SECRET};

fn records(m: &Master, tk: &str, id: &str) -> Vec<Value> {
    let cr = m.get(
        &format!("/api/v2/jobs/{id}/artifacts/call_records"),
        Some(tk),
    );
    assert_eq!(cr.status, 200, "{}", cr.text());
    cr.text()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The job's summary.json, once registered (a stopped worker writes it as it exits).
fn summary(m: &Master, tk: &str, id: &str) -> Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        let r = m.get(&format!("/api/v2/jobs/{id}/artifacts/summary"), Some(tk));
        if r.status == 200 {
            return r.json();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no summary for job {id}: {} {}",
            r.status,
            r.text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_webrtc_client_job_calls_a_webrtc_server_job() {
    let m = Master::start("jobs-webrtc");
    let tk = m.admin_token();
    let tk = tk.as_str();
    let port = free_udp_port();
    let r = m.json(
        "POST",
        "/api/v2/servers",
        Some(tk),
        &json!({"id": "wuas", "transports": [{"transport": "webrtc", "local_ip": "127.0.0.1",
                "local_port": port, "enabled": true, "prefers_pcma": true}]}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let r = m.json(
        "POST",
        "/api/v2/clients",
        Some(tk),
        &json!({"id": "wuac", "remote_ip": "127.0.0.1", "remote_port": port, "rate": 10.0,
                "transports": [{"transport": "u1", "local_ip": "127.0.0.1", "enabled": true},
                               {"transport": "webrtc", "local_ip": "127.0.0.1", "enabled": true,
                                "prefers_pcma": true}]}),
    );
    assert_eq!(r.status, 201, "{}", r.text());

    let r = m.req("POST", "/api/v2/servers/wuas/start", Some(tk), None);
    assert_eq!(r.status, 201, "{}", r.text());
    let server_id = r.json()["id"].as_str().unwrap().to_string();
    wait_job(&m, tk, &server_id, Duration::from_secs(30), running);
    wait_stats_line(&m, &server_id);

    let r = m.json(
        "POST",
        "/api/v2/clients/wuac/start",
        Some(tk),
        &json!({"engine": {"total_calls": 10, "call_duration_ms": 1200}}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let client_id = r.json()["id"].as_str().unwrap().to_string();
    let client = wait_job(&m, tk, &client_id, Duration::from_secs(60), finished);
    assert_eq!(client["status"], "succeeded", "{client}");

    let s = summary(&m, tk, &client_id);
    // The profile named no scenario: its webrtc row chose the WebRTC built-in.
    assert_eq!(s["scenario"]["name"], "WebRTC UAC", "{s}");
    assert_eq!(s["success_calls"], 10, "{s}");
    assert_eq!(s["webrtc"]["connected"], 10, "{s}");
    let recs = records(&m, tk, &client_id);
    assert_eq!(recs.len(), 10);
    for r in &recs {
        let w = &r["webrtc"];
        assert_eq!(r["success"], true, "{r}");
        assert_eq!(w["answer_accepted"], true, "{w}");
        assert!(w["dtls_connected_ms"].is_u64(), "{w}");
        // Both profiles prefer PCMA: the client offers it first and sends it.
        assert_eq!(w["codec"], "PCMA", "{w}");
        assert!(w["rtp_packets_sent"].as_u64().unwrap() > 0, "{w}");
        assert!(w["rtp_packets_received"].as_u64().unwrap() > 0, "{w}");
    }

    // The server's calls end when it stops; each answered and carried audio.
    let r = m.req("POST", "/api/v2/servers/wuas/stop", Some(tk), None);
    assert_eq!(r.status, 200, "{}", r.text());
    wait_job(&m, tk, &server_id, Duration::from_secs(30), finished);
    let s = summary(&m, tk, &server_id);
    assert_eq!(s["scenario"]["name"], "WebRTC UAS", "{s}");
    assert_eq!(s["webrtc"]["connected"], 10, "{s}");
    let recs = records(&m, tk, &server_id);
    assert_eq!(recs.len(), 10, "{recs:?}");
    for r in &recs {
        let w = &r["webrtc"];
        assert_eq!(w["answer_created"], true, "{w}");
        assert_eq!(w["codec"], "PCMA", "{w}");
        assert!(w["rtp_packets_received"].as_u64().unwrap() > 0, "{w}");
    }
}

#[test]
fn a_webrtc_row_asking_for_turn_over_tls_or_tcp_is_refused_naming_it() {
    let m = Master::start("jobs-webrtc-turn");
    let tk = m.admin_token();
    let tk = tk.as_str();
    for (url, says) in [
        (
            "turns:127.0.0.1:5349",
            "turns: (TURN over TLS) is not supported",
        ),
        (
            "turn:127.0.0.1:3478?transport=tcp",
            "TURN over TCP (?transport=tcp) is not supported",
        ),
    ] {
        let r = m.json(
            "POST",
            "/api/v2/servers",
            Some(tk),
            &json!({"id": "wturn", "transports": [{"transport": "webrtc", "local_ip": "127.0.0.1",
                    "local_port": free_udp_port(), "enabled": true,
                    "ice_servers": ["stun:127.0.0.1:3478", url], "ice_auth_secret": "k"}]}),
        );
        // Refused when the profile is saved, naming the row's field and the URL: nothing
        // is stored, so no job can start from it.
        assert_eq!(r.status, 400, "{}", r.text());
        let error = r.text();
        assert!(
            error.contains("transports[0].ice_servers[1]")
                && error.contains(url)
                && error.contains(says),
            "{error}"
        );
        let r = m.req("GET", "/api/v2/servers/wturn", Some(tk), None);
        assert_eq!(r.status, 404, "{}", r.text());
    }
}

/// A client profile whose webrtc row relays through `coturn` only, with coturn REST
/// credentials made from `secret`.
fn relay_client(m: &Master, tk: &str, id: &str, port: u16, coturn: &Coturn, secret: &str) {
    let r = m.json(
        "POST",
        "/api/v2/clients",
        Some(tk),
        &json!({"id": id, "remote_ip": "127.0.0.1", "remote_port": port, "rate": 10.0,
                "transports": [{"transport": "webrtc", "local_ip": "127.0.0.1", "enabled": true,
                                "ice_servers": [format!("turn:{}?transport=udp", coturn.addr)],
                                "ice_username": "loadtest", "ice_auth_secret": secret,
                                "ice_auth_ttl_sec": 3600, "ice_transport_policy": "relay"}]}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
}

#[test]
fn a_relay_only_webrtc_client_job_calls_through_a_real_coturn() {
    let dir = scratch_dir("jobs-webrtc-coturn");
    let coturn = Coturn::start(&dir, &["--use-auth-secret", "--static-auth-secret", SECRET]);
    let m = Master::start("jobs-webrtc-relay");
    let tk = m.admin_token();
    let tk = tk.as_str();
    let port = free_udp_port();
    let r = m.json(
        "POST",
        "/api/v2/servers",
        Some(tk),
        &json!({"id": "wuas", "transports": [{"transport": "webrtc", "local_ip": "127.0.0.1",
                "local_port": port, "enabled": true}]}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    relay_client(&m, tk, "wrelay", port, &coturn, SECRET);
    relay_client(&m, tk, "wbad", port, &coturn, "not-the-secret");

    let r = m.req("POST", "/api/v2/servers/wuas/start", Some(tk), None);
    assert_eq!(r.status, 201, "{}", r.text());
    let server_id = r.json()["id"].as_str().unwrap().to_string();
    wait_job(&m, tk, &server_id, Duration::from_secs(30), running);
    wait_stats_line(&m, &server_id);

    let r = m.json(
        "POST",
        "/api/v2/clients/wrelay/start",
        Some(tk),
        &json!({"engine": {"total_calls": 5, "call_duration_ms": 1500}}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let client_id = r.json()["id"].as_str().unwrap().to_string();
    let client = wait_job(&m, tk, &client_id, Duration::from_secs(60), finished);
    assert_eq!(client["status"], "succeeded", "{client}");
    let s = summary(&m, tk, &client_id);
    assert_eq!(s["success_calls"], 5, "{s}");
    assert_eq!(s["webrtc"]["connected"], 5, "{s}");
    let mut relays = Vec::new();
    for r in &records(&m, tk, &client_id) {
        let w = &r["webrtc"];
        assert_eq!(r["success"], true, "{r}");
        // The relay was the only candidate, and the selected pair is through it.
        assert_eq!(w["selected_kind"], "relay", "{w}");
        assert_eq!(w["local_candidates"], 1, "{w}");
        assert!(w["turn_relayed"].is_string(), "{w}");
        assert_eq!(w["selected_local"], w["turn_relayed"], "{w}");
        assert!(w["rtp_packets_sent"].as_u64().unwrap() > 0, "{w}");
        assert!(w["rtp_packets_received"].as_u64().unwrap() > 0, "{w}");
        relays.push(w["turn_relayed"].clone());
    }
    assert_eq!(relays.len(), 5);

    // The bad secret: coturn answers 401 and each call fails as `turn`, saying so.
    let r = m.json(
        "POST",
        "/api/v2/clients/wbad/start",
        Some(tk),
        &json!({"engine": {"total_calls": 2, "call_duration_ms": 1000}}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let bad_id = r.json()["id"].as_str().unwrap().to_string();
    wait_job(&m, tk, &bad_id, Duration::from_secs(60), finished);
    let s = summary(&m, tk, &bad_id);
    assert_eq!(s["webrtc"]["failures"]["turn"], 2, "{s}");
    for r in &records(&m, tk, &bad_id) {
        let w = &r["webrtc"];
        assert_eq!(r["success"], false, "{r}");
        assert_eq!(w["failure"], "turn", "{w}");
        let detail = w["failure_detail"].as_str().unwrap_or_default();
        assert!(detail.contains("credentials refused (401"), "{w}");
    }

    // The server's calls came from coturn's relayed addresses and carried audio.
    let r = m.req("POST", "/api/v2/servers/wuas/stop", Some(tk), None);
    assert_eq!(r.status, 200, "{}", r.text());
    wait_job(&m, tk, &server_id, Duration::from_secs(30), finished);
    let recs = records(&m, tk, &server_id);
    let relayed: Vec<_> = recs
        .iter()
        .filter(|r| relays.contains(&r["webrtc"]["selected_remote"]))
        .collect();
    assert_eq!(relayed.len(), 5, "{recs:?}");
    for r in relayed {
        let w = &r["webrtc"];
        assert_eq!(w["selected_kind"], "host", "{w}");
        assert!(w["rtp_packets_received"].as_u64().unwrap() > 0, "{w}");
    }

    // coturn's own log: five allocations of the REST user, each released.
    let log = coturn.log();
    let allocations = log
        .lines()
        .filter(|l| l.contains(":loadtest>: incoming packet ALLOCATE processed, success"))
        .count();
    assert_eq!(allocations, 5, "{log}");
    assert!(
        log.lines()
            .filter(|l| l.contains("closed (2nd stage)"))
            .count()
            >= 5,
        "{log}"
    );
}
