//! `gossipper server`'s live SIP trace and calls catalogue (issue #18 item 5), against
//! real SIPp on loopback:
//!
//! - SIPp's `uac` calls a `-sn uas` server: `/api/v2/sip/trace` lists each call's
//!   INVITE, 180, 200, ACK, BYE, 200 with the right directions, peer and Call-ID;
//!   `call_id=` and `scenario=` filter; `since=`/`next` page; the pcap export, read by
//!   `tshark -r`, shows the same messages with their real addresses; the text export
//!   has them too (the ZIP of both: `server_zip.rs`); clear empties the ring;
//! - the WebSocket (`/sip/trace/ws`) sends the backlog after `since`, then a frame when
//!   the ring is cleared, when capture changes and when new messages come;
//! - capture off: SIPp keeps calling and nothing new is recorded (the calls still reach
//!   the catalogue); capture on again records again;
//! - `/api/v2/calls` lists SIPp's calls (ended, success, inbound, 6 SIP messages) and
//!   `/api/v2/calls/{id}` returns the call's messages;
//! - over TCP (`-t t1` both sides), records say `tcp` and carry the connection's
//!   addresses; the pcap holds every message as a TCP segment of that connection,
//!   which tshark dissects as SIP with no TCP analysis warning (sequence and
//!   acknowledgement numbers follow the bytes each way);
//! - SIPp at 3,000 calls/s against a one-shard server overflows the capture (a shard
//!   keeps 1024 messages per 100 ms, about 1,700 calls/s), yet every catalogued call
//!   shows its From, To, peer and all its SIP messages (the engine notes them);
//! - a call that fails (the server's uac against SIPp answering 486) has a debug record
//!   saying why, where and on what: in `/api/v2/calls/{id}` always, in the trace (and
//!   its text export, not its pcap) while debug capture is on (`app:true`,
//!   `level:"debug"`), filtered by Call-ID like SIP records;
//! - bad input (limit over 500, an unknown export format, an unknown parameter, RTP
//!   capture, an unknown level, no token) gets a 4xx naming the field.
//!
//! Every wait has a deadline; every process is killed when its guard drops.

#![allow(clippy::unwrap_used)] // helpers outside #[test] fns: a failed unwrap is a failed test

mod api_support;
mod server_support;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use gossipper_e2e::{StatCsv, free_port, peer_args, sipp_bin};
use serde_json::Value;
use server_support::*;

/// What each call of SIPp's `uac` against the built-in `uas` looks like from the server.
const LADDER: [(&str, &str, u64); 6] = [
    ("recv", "INVITE", 0),
    ("send", "INVITE", 180),
    ("send", "INVITE", 200),
    ("recv", "ACK", 0),
    ("recv", "BYE", 0),
    ("send", "BYE", 200),
];

/// Runs SIPp's `uac` for `calls` calls from `port` to the server; asserts they all passed.
fn sipp_calls(dir: &Path, name: &str, port: u16, sip_port: u16, calls: u64) {
    let csv_path = dir.join(format!("{name}.csv"));
    let mut cmd = Command::new(sipp_bin());
    peer_args(&mut cmd, &csv_path)
        .args(["-sn", "uac", "-i", "127.0.0.1", "-p", &port.to_string()])
        .args(["-r", "10", "-m", &calls.to_string()])
        .arg(format!("127.0.0.1:{sip_port}"));
    let (status, _, _) = spawn_logged(name, &mut cmd, &csv_path).wait(Duration::from_secs(60));
    assert_eq!(status.code(), Some(0), "{name}:\n{}", logs(&csv_path));
    let csv = StatCsv::read(&csv_path);
    assert_eq!(csv.last("SuccessfulCall(C)"), calls, "{name}'s successes");
}

/// The trace's messages (one page of at most 500).
fn trace(api: &str, query: &str) -> Value {
    get(api, &format!("/api/v2/sip/trace?limit=500{query}"))
}

fn messages(v: &Value) -> &Vec<Value> {
    v["messages"].as_array().unwrap()
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

/// The trace's messages grouped by Call-ID, each as (dir, method, status).
fn ladders(msgs: &[Value]) -> BTreeMap<String, Vec<(String, String, u64)>> {
    let mut by_call: BTreeMap<String, Vec<(String, String, u64)>> = BTreeMap::new();
    for m in msgs {
        by_call
            .entry(m["call_id"].as_str().unwrap().to_string())
            .or_default()
            .push((
                m["dir"].as_str().unwrap().to_string(),
                m["method"].as_str().unwrap().to_string(),
                m["status"].as_u64().unwrap(),
            ));
    }
    by_call
}

fn is_ladder(steps: &[(String, String, u64)]) -> bool {
    steps.len() == LADDER.len()
        && steps
            .iter()
            .zip(LADDER)
            .all(|((d, m, s), (d2, m2, s2))| d == d2 && m == m2 && *s == s2)
}

type Ws = tungstenite::WebSocket<std::net::TcpStream>;

/// A client of `/api/v2/sip/trace/ws?query`.
fn trace_ws(api: &str, query: &str) -> Ws {
    use tungstenite::client::IntoClientRequest;
    let mut req = format!("ws://{api}/api/v2/sip/trace/ws?{query}")
        .into_client_request()
        .unwrap();
    req.headers_mut()
        .insert("Authorization", bearer().parse().unwrap());
    let stream = std::net::TcpStream::connect(api).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let (ws, resp) = tungstenite::client(req, stream).unwrap();
    assert_eq!(resp.status().as_u16(), 101);
    ws
}

/// The next text frame (pings skipped).
fn read_frame(ws: &mut Ws) -> Value {
    loop {
        let msg = ws.read().unwrap();
        if msg.is_text() {
            return serde_json::from_str(msg.to_text().unwrap()).unwrap();
        }
    }
}

#[test]
fn the_server_traces_sipps_calls_exports_them_and_catalogues_them() {
    const CALLS: u64 = 4;
    let dir = memory_scratch("server-trace");
    let sip_port = free_port();
    let sipp_port = free_port();
    let api = format!("127.0.0.1:{}", free_port());
    let server = start_server(
        "gossipper server",
        sip_port,
        &api,
        &dir.join("server.csv"),
        &["-sn", "uas"],
    );
    let capture = get(&api, "/api/v2/sip/trace/capture");
    assert_eq!(
        capture,
        serde_json::json!({"sip": true, "app": false, "rtp": false, "level": "info"})
    );
    assert!(messages(&trace(&api, "")).is_empty());

    // SIPp calls; every call's six messages are traced, in order, with SIPp as the peer.
    sipp_calls(&dir, "sipp-1", sipp_port, sip_port, CALLS);
    let all = until(&api, "/api/v2/sip/trace?limit=500", |v| {
        ladders(messages(v))
            .values()
            .filter(|l| is_ladder(l))
            .count()
            == CALLS as usize
    });
    let msgs = messages(&all);
    assert_eq!(msgs.len(), 6 * CALLS as usize, "{all:#}");
    let sipp = format!("127.0.0.1:{sipp_port}");
    let ours = format!("127.0.0.1:{sip_port}");
    for m in msgs {
        assert_eq!(m["kind"], "sip", "{m}");
        assert_eq!(m["peer"], sipp.as_str(), "{m}");
        assert_eq!(m["scenario"], "uas", "{m}");
        assert_eq!(m["transport"], "udp", "{m}");
        let (src, dst) = if m["dir"] == "send" {
            (&ours, &sipp)
        } else {
            (&sipp, &ours)
        };
        assert_eq!(
            (m["src"].as_str(), m["dst"].as_str()),
            (Some(src.as_str()), Some(dst.as_str())),
            "{m}"
        );
        let raw = m["raw"].as_str().unwrap();
        assert!(raw.starts_with(m["summary"].as_str().unwrap()), "{m}");
        assert!(raw.contains(m["call_id"].as_str().unwrap()), "{m}");
    }
    let seqs: Vec<u64> = msgs.iter().map(|m| m["seq"].as_u64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    assert_eq!(all["next"].as_u64(), seqs.last().copied());
    let call_ids: Vec<String> = ladders(msgs).into_keys().collect();

    // Filters and paging.
    let one = trace(
        &api,
        &format!("&call_id={}", call_ids[0].replace('@', "%40")),
    );
    assert!(is_ladder(&ladders(messages(&one))[&call_ids[0]]), "{one:#}");
    assert_eq!(messages(&one).len(), 6);
    assert_eq!(messages(&trace(&api, "&scenario=uas")).len(), msgs.len());
    assert!(messages(&trace(&api, "&scenario=other")).is_empty());
    let page = get(&api, "/api/v2/sip/trace?limit=5");
    assert_eq!(messages(&page).len(), 5);
    assert_eq!(page["next"].as_u64(), Some(seqs[4]));
    let rest = trace(&api, &format!("&since={}", seqs[4]));
    assert_eq!(messages(&rest).len(), msgs.len() - 5);
    assert_eq!(messages(&rest)[0]["seq"].as_u64(), Some(seqs[5]));

    // The pcap export, as tshark reads it.
    let r = call(
        &api,
        "GET",
        "/api/v2/sip/trace/export?format=pcap",
        Some(&bearer()),
        None,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let pcap = dir.join("trace.pcap");
    std::fs::write(&pcap, &r.body).unwrap();
    let out = Command::new("tshark")
        .arg("-r")
        .arg(&pcap)
        .args(["-d", &format!("udp.port=={sip_port},sip")])
        .args(["-T", "fields", "-E", "separator=|"])
        .args([
            "-e",
            "ip.src",
            "-e",
            "udp.srcport",
            "-e",
            "ip.dst",
            "-e",
            "udp.dstport",
        ])
        .args([
            "-e",
            "sip.Method",
            "-e",
            "sip.Status-Code",
            "-e",
            "sip.Call-ID",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "tshark: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), msgs.len(), "{text}");
    for (line, m) in lines.iter().zip(msgs) {
        let f: Vec<&str> = line.split('|').collect();
        let (src, dst) = if m["dir"] == "send" {
            (sip_port, sipp_port)
        } else {
            (sipp_port, sip_port)
        };
        assert_eq!(
            f[..4],
            ["127.0.0.1", &src.to_string(), "127.0.0.1", &dst.to_string()],
            "{line}"
        );
        let status = m["status"].as_u64().unwrap();
        if status == 0 {
            assert_eq!(f[4], m["method"].as_str().unwrap(), "{line}");
        } else {
            assert_eq!(f[5], status.to_string(), "{line}");
        }
        assert_eq!(f[6], m["call_id"].as_str().unwrap(), "{line}");
    }
    let r = call(
        &api,
        "GET",
        "/api/v2/sip/trace/export?format=text",
        Some(&bearer()),
        None,
    );
    assert_eq!(r.status, 200);
    let text = r.text();
    assert_eq!(
        text.matches("INVITE sip:").count(),
        CALLS as usize,
        "{text}"
    );
    assert!(
        text.contains(&format!("received udp {sipp} -> {ours}")),
        "{text}"
    );

    // The calls catalogue (the built-in uas ends a call after 4 s of timewait).
    let calls = until(&api, "/api/v2/calls", |v| {
        v["calls"].as_array().unwrap().len() == CALLS as usize
    });
    for c in calls["calls"].as_array().unwrap() {
        assert!(
            call_ids.contains(&c["call_id"].as_str().unwrap().to_string()),
            "{c}"
        );
        assert_eq!(
            (&c["state"], &c["result"], &c["direction"]),
            (&"ended".into(), &"success".into(), &"inbound".into()),
            "{c}"
        );
        assert_eq!(
            (c["sip_count"].as_u64(), c["sip_send"].as_u64()),
            (Some(6), Some(3)),
            "{c}"
        );
        assert_eq!(c["peer"], sipp.as_str(), "{c}");
        assert_eq!(c["scenario"], "uas", "{c}");
        assert!(c["from"].as_str().unwrap().contains("sipp"), "{c}");
    }
    let id = &call_ids[1];
    let detail = get(&api, &format!("/api/v2/calls/{}", id.replace('@', "%40")));
    assert_eq!(detail["call_id"], id.as_str());
    let sip: Vec<Value> = detail["sip"].as_array().unwrap().clone();
    assert!(is_ladder(&ladders(&sip)[id]), "{detail:#}");
    let r = call(
        &api,
        "GET",
        "/api/v2/calls/no-such-call",
        Some(&bearer()),
        None,
    );
    assert_eq!(r.status, 404, "{}", r.text());

    // The WebSocket: the backlog first, then a frame for each change.
    let mut ws = trace_ws(&api, &format!("since={}", seqs[1]));
    let backlog = read_frame(&mut ws);
    assert_eq!(messages(&backlog).len(), msgs.len() - 2, "{backlog:#}");
    assert_eq!(backlog["next"].as_u64(), seqs.last().copied());
    assert_eq!(backlog["capture"]["sip"], true);

    // Clear, then capture off: SIPp calls again and nothing is recorded.
    let r = call(
        &api,
        "POST",
        "/api/v2/sip/trace/clear",
        Some(&bearer()),
        None,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["cleared"], true);
    assert!(messages(&trace(&api, "")).is_empty());
    let frame = read_frame(&mut ws);
    assert_eq!(
        (&frame["cleared"], messages(&frame).len()),
        (&true.into(), 0),
        "{frame}"
    );
    let r = call(
        &api,
        "PUT",
        "/api/v2/sip/trace/capture",
        Some(&bearer()),
        Some(r#"{"sip":false}"#),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["sip"], false);
    let frame = read_frame(&mut ws);
    assert_eq!(frame["capture"]["sip"], false, "{frame}");
    sipp_calls(&dir, "sipp-2", free_port(), sip_port, 3);
    until(&api, "/api/v2/calls", |v| {
        v["calls"].as_array().unwrap().len() == CALLS as usize + 3
    });
    let after = trace(&api, "");
    assert!(messages(&after).is_empty(), "{after:#}");
    assert_eq!(after["capture"]["sip"], false);

    // On again: recorded again, and pushed on the WebSocket (its next frame is the
    // capture change: nothing came while capture was off).
    let r = call(
        &api,
        "PUT",
        "/api/v2/sip/trace/capture",
        Some(&bearer()),
        Some(r#"{"sip":true}"#),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let frame = read_frame(&mut ws);
    assert_eq!(
        (&frame["capture"]["sip"], messages(&frame).len()),
        (&true.into(), 0),
        "{frame}"
    );
    sipp_calls(&dir, "sipp-3", free_port(), sip_port, 1);
    until(&api, "/api/v2/sip/trace?limit=500", |v| {
        ladders(messages(v)).values().any(|l| is_ladder(l))
    });
    let mut pushed = Vec::new();
    while pushed.len() < LADDER.len() {
        let frame = read_frame(&mut ws);
        assert!(!messages(&frame).is_empty(), "an empty frame: {frame}");
        pushed.extend(messages(&frame).iter().cloned());
    }
    assert!(
        ladders(&pushed).values().all(|l| is_ladder(l)),
        "{pushed:#?}"
    );
    drop(ws);
    let r = call(&api, "GET", "/api/v2/sip/trace/ws", Some(&bearer()), None);
    assert_eq!(r.status, 400, "{}", r.text());

    // Bad input names the field; nothing changes.
    for (method, path, body, field) in [
        ("GET", "/api/v2/sip/trace?limit=501", None, "limit"),
        ("GET", "/api/v2/sip/trace?limit=0", None, "limit"),
        ("GET", "/api/v2/sip/trace?since=x", None, "since"),
        ("GET", "/api/v2/sip/trace?callid=1", None, "callid"),
        ("GET", "/api/v2/sip/trace/export?format=tar", None, "format"),
        (
            "PUT",
            "/api/v2/sip/trace/capture",
            Some(r#"{"rtp":true}"#),
            "rtp",
        ),
        (
            "PUT",
            "/api/v2/sip/trace/capture",
            Some(r#"{"level":"trace"}"#),
            "level",
        ),
        (
            "PUT",
            "/api/v2/sip/trace/capture",
            Some(r#"{"app":"yes"}"#),
            "app",
        ),
        (
            "PUT",
            "/api/v2/sip/trace/capture",
            Some(r#"{"sip":1}"#),
            "sip",
        ),
        (
            "PUT",
            "/api/v2/sip/trace/capture",
            Some(r#"{"video":true}"#),
            "video",
        ),
    ] {
        let r = call(&api, method, path, Some(&bearer()), body);
        assert_eq!(r.status, 400, "{method} {path} {body:?}: {}", r.text());
        assert!(r.error().contains(field), "{method} {path}: {}", r.error());
    }
    assert_eq!(get(&api, "/api/v2/sip/trace/capture")["sip"], true);
    let r = call(&api, "GET", "/api/v2/sip/trace", None, None);
    assert_eq!(r.status, 401, "{}", r.text());
    let r = call(&api, "DELETE", "/api/v2/calls", Some(&bearer()), None);
    assert_eq!(r.status, 405, "{}", r.text());
    let r = call(&api, "GET", "/api/v2/jobs", Some(&bearer()), None);
    assert_eq!(r.status, 404, "{}", r.text());

    // Clearing the catalogue.
    let r = call(&api, "POST", "/api/v2/calls/clear", Some(&bearer()), None);
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(
        get(&api, "/api/v2/calls")["calls"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn messages_over_tcp_are_traced_with_the_connections_addresses() {
    const CALLS: u64 = 2;
    let dir = memory_scratch("server-trace-tcp");
    let sip_port = free_port();
    let api = format!("127.0.0.1:{}", free_port());
    // No -sn: the built-in uas.
    let mut server = start_server(
        "gossipper server (t1)",
        sip_port,
        &api,
        &dir.join("server.csv"),
        &["-t", "t1"],
    );
    server.wait_bound(gossipper_e2e::Sock::TcpListen, sip_port);
    let csv_path = dir.join("sipp.csv");
    let mut cmd = Command::new(sipp_bin());
    peer_args(&mut cmd, &csv_path)
        .args(["-sn", "uac", "-t", "t1", "-i", "127.0.0.1"])
        .args(["-p", &free_port().to_string()])
        .args(["-r", "10", "-m", &CALLS.to_string()])
        .arg(format!("127.0.0.1:{sip_port}"));
    let (status, _, _) = spawn_logged("sipp t1", &mut cmd, &csv_path).wait(Duration::from_secs(60));
    assert_eq!(status.code(), Some(0), "sipp t1:\n{}", logs(&csv_path));
    let all = until(&api, "/api/v2/sip/trace?limit=500", |v| {
        ladders(messages(v))
            .values()
            .filter(|l| is_ladder(l))
            .count()
            == CALLS as usize
    });
    let msgs = messages(&all);
    assert_eq!(msgs.len(), 6 * CALLS as usize, "{all:#}");
    let ours = format!("127.0.0.1:{sip_port}");
    let peer = msgs[0]["peer"].as_str().unwrap().to_string();
    assert!(peer.starts_with("127.0.0.1:") && peer != ours, "{peer}");
    for m in msgs {
        assert_eq!(m["transport"], "tcp", "{m}");
        // One connection carries every call.
        assert_eq!(m["peer"], peer.as_str(), "{m}");
        let (src, dst) = if m["dir"] == "send" {
            (&ours, &peer)
        } else {
            (&peer, &ours)
        };
        assert_eq!(
            (m["src"].as_str(), m["dst"].as_str()),
            (Some(src.as_str()), Some(dst.as_str())),
            "{m}"
        );
    }
    // The pcap writes them as TCP segments of the connection, which tshark dissects as
    // SIP, in order, with no TCP analysis warning (lost segment, out of order, ACK of
    // unseen data...).
    let r = call(
        &api,
        "GET",
        "/api/v2/sip/trace/export?format=pcap",
        Some(&bearer()),
        None,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let pcap = dir.join("trace.pcap");
    std::fs::write(&pcap, &r.body).unwrap();
    let tshark = |extra: &[&str]| {
        let out = Command::new("tshark")
            .arg("-r")
            .arg(&pcap)
            .args(["-d", &format!("tcp.port=={sip_port},sip")])
            .args(extra)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "tshark: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let rows = tshark(&["-T", "fields", "-e", "ip.proto", "-e", "sip.Call-ID"]);
    let mut ids = Vec::new();
    for row in rows.lines() {
        let (proto, id) = row.split_once('\t').unwrap();
        assert_eq!(proto, "6", "a TCP segment: {row}");
        ids.push(id.to_string());
    }
    let want: Vec<String> = msgs
        .iter()
        .map(|m| m["call_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids, want);
    let warned = tshark(&[
        "-Y",
        "tcp.analysis.flags",
        "-T",
        "fields",
        "-e",
        "frame.number",
    ]);
    assert_eq!(warned.trim(), "", "segments tshark's TCP analysis flags");
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn catalogued_calls_are_complete_when_the_capture_overflows() {
    const CALLS: u64 = 6000;
    let dir = memory_scratch("server-trace-rate");
    let sip_port = free_port();
    let sipp_port = free_port();
    let api = format!("127.0.0.1:{}", free_port());
    let server = start_server(
        "gossipper server (rate)",
        sip_port,
        &api,
        &dir.join("server.csv"),
        &["-sn", "uas", "-shards", "1"],
    );
    // 3,000 calls/s for 2 s: any 200 consecutive calls hold some that the capture
    // dropped (a 100 ms period brings about 300 calls, 1,800 messages; 1024 are kept).
    let csv_path = dir.join("sipp.csv");
    let mut cmd = Command::new(sipp_bin());
    peer_args(&mut cmd, &csv_path)
        .args([
            "-sn",
            "uac",
            "-i",
            "127.0.0.1",
            "-p",
            &sipp_port.to_string(),
        ])
        .args(["-r", "3000", "-m", &CALLS.to_string()])
        .arg(format!("127.0.0.1:{sip_port}"));
    let (status, _, _) =
        spawn_logged("sipp 3000", &mut cmd, &csv_path).wait(Duration::from_secs(90));
    assert_eq!(status.code(), Some(0), "sipp:\n{}", logs(&csv_path));
    let t = get(&api, "/api/v2/sip/trace?limit=1");
    assert!(n(&t, "dropped") > 0, "the capture kept everything: {t:#}");
    // The uas's timewait (4 s) ends the last calls.
    stats_until(&api, Duration::from_secs(60), |s| {
        n(s, "success_calls") >= CALLS && n(s, "active_calls") == 0
    });
    let calls = get(&api, "/api/v2/calls?limit=1000");
    let rows = calls["calls"].as_array().unwrap();
    assert_eq!(rows.len(), 200, "{calls:#}");
    let sipp = format!("127.0.0.1:{sipp_port}");
    for c in rows {
        // Six messages, more if one was retransmitted on the busy machine.
        let (count, send, recv) = (n(c, "sip_count"), n(c, "sip_send"), n(c, "sip_recv"));
        assert!(send >= 3 && recv >= 3 && count == send + recv, "{c}");
        assert_eq!(c["peer"], sipp.as_str(), "{c}");
        assert!(c["from"].as_str().unwrap().contains("sipp"), "{c}");
        assert!(c["to"].as_str().unwrap().contains("service"), "{c}");
    }
    let exact = rows.iter().filter(|c| n(c, "sip_count") == 6).count();
    assert!(exact > 100, "{exact} of 200 calls without a retransmission");
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

/// SIPp answering every INVITE with 486 (and ending its call there).
const BUSY: &str = r#"<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="busy">
  <recv request="INVITE"/>
  <send><![CDATA[
SIP/2.0 486 Busy Here
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0

]]></send>
</scenario>
"#;

#[test]
fn a_failed_call_has_a_debug_record_in_its_detail_and_in_the_trace() {
    let dir = memory_scratch("server-trace-debug");
    let busy = dir.join("busy.xml");
    std::fs::write(&busy, BUSY).unwrap();
    let sipp_port = free_port();
    let sipp_csv = dir.join("sipp.csv");
    let mut cmd = Command::new(sipp_bin());
    peer_args(&mut cmd, &sipp_csv).arg("-sf").arg(&busy).args([
        "-i",
        "127.0.0.1",
        "-p",
        &sipp_port.to_string(),
    ]);
    let mut sipp = spawn_logged("sipp busy", &mut cmd, &sipp_csv);
    sipp.wait_bound(gossipper_e2e::Sock::Udp, sipp_port);
    let api = format!("127.0.0.1:{}", free_port());
    let remote = format!("127.0.0.1:{sipp_port}");
    let server = start_server(
        "gossipper server (uac, debug)",
        free_port(),
        &api,
        &dir.join("server.csv"),
        &["-sn", "uac", &remote, "-r", "5", "-m", "1000"],
    );
    let on = call(
        &api,
        "PUT",
        "/api/v2/sip/trace/capture",
        Some(&bearer()),
        Some(r#"{"app":true,"level":"debug"}"#),
    );
    assert_eq!(on.status, 200, "{}", on.text());
    assert_eq!(
        on.json(),
        serde_json::json!({"sip": true, "app": true, "rtp": false, "level": "debug"})
    );

    // Two calls that failed with debug capture on.
    let seen = n(&get(&api, "/api/v1/stats"), "failed_calls");
    stats_until(&api, Duration::from_secs(30), |s| {
        n(s, "failed_calls") >= seen + 2
    });
    let calls = get(&api, "/api/v2/calls");
    let row = &calls["calls"][0];
    assert_eq!(
        (&row["state"], &row["error"], &row["debug_count"]),
        (&"failed".into(), &"UnexpectedMessage".into(), &1.into()),
        "{row}"
    );
    let id = row["call_id"].as_str().unwrap().to_owned();
    let why_prefix = "call failed: UnexpectedMessage at element 1 (<recv response=\"100\">, line ";
    let why_suffix = ", on \"SIP/2.0 486 Busy Here\"";
    let is_why = |r: &Value| {
        let s = r["summary"].as_str().unwrap_or("");
        r["kind"] == "app"
            && r["level"] == "debug"
            && r["call_id"] == id.as_str()
            && s.starts_with(why_prefix)
            && s.ends_with(why_suffix)
    };
    let detail = get(&api, &format!("/api/v2/calls/{}", id.replace('@', "%40")));
    let debug = detail["debug"].as_array().unwrap();
    assert!(debug.len() == 1 && is_why(&debug[0]), "{detail:#}");
    let sip = detail["sip"].as_array().unwrap();
    assert!(sip.iter().all(|r| r["kind"] == "sip"), "{detail:#}");

    // In the trace: filtered by Call-ID with the call's SIP (INVITE, 486, ACK or not).
    let q = format!(
        "/api/v2/sip/trace?limit=500&call_id={}",
        id.replace('@', "%40")
    );
    let t = until(&api, &q, |v| messages(v).iter().any(is_why));
    let msgs = messages(&t);
    assert!(msgs.iter().all(|r| r["call_id"] == id.as_str()), "{t:#}");
    assert!(
        msgs.iter()
            .any(|r| r["kind"] == "sip" && r["status"] == 486),
        "{t:#}"
    );
    let r = call(
        &api,
        "GET",
        &format!(
            "/api/v2/sip/trace/export?format=text&call_id={}",
            id.replace('@', "%40")
        ),
        Some(&bearer()),
        None,
    );
    assert_eq!(r.status, 200);
    let text = r.text();
    assert!(
        text.contains(&format!(" debug app {id} -----\n{why_prefix}")),
        "{text}"
    );

    // Debug capture off: later failures leave no debug record in the trace, but their
    // rows still carry theirs.
    let off = call(
        &api,
        "PUT",
        "/api/v2/sip/trace/capture",
        Some(&bearer()),
        Some(r#"{"app":false,"level":"info"}"#),
    );
    assert_eq!(off.status, 200, "{}", off.text());
    let now = get(&api, "/api/v2/sip/trace?limit=500");
    let last = messages(&now)
        .iter()
        .filter_map(|r| r["seq"].as_u64())
        .max()
        .unwrap();
    let seen = n(&get(&api, "/api/v1/stats"), "failed_calls");
    stats_until(&api, Duration::from_secs(30), |s| {
        n(s, "failed_calls") >= seen + 3
    });
    let later = get(&api, &format!("/api/v2/sip/trace?limit=500&since={last}"));
    assert!(
        !messages(&later).is_empty() && messages(&later).iter().all(|r| r["kind"] == "sip"),
        "{later:#}"
    );
    let newest = &get(&api, "/api/v2/calls")["calls"][0];
    assert_eq!(newest["debug_count"], 1, "{newest}");
    drop(server);
    drop(sipp);
    let _ = std::fs::remove_dir_all(&dir);
}
