//! Helpers for the `jobs_*` end-to-end tests: profiles on free loopback ports, waiting
//! for job states with a deadline, a WebSocket client, and process checks.

#![allow(dead_code)] // each test file uses a different subset
#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

use std::net::{TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tungstenite::client::IntoClientRequest;

use crate::api_support::Master;

/// A UDP port free on 127.0.0.1 right now.
pub(crate) fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A server profile: built-in uas, u1 on 127.0.0.1:`port`.
pub(crate) fn server_profile(m: &Master, tk: &str, id: &str, port: u16) {
    let r = m.json(
        "POST",
        "/api/v2/servers",
        Some(tk),
        &json!({"id": id, "scenario_ref": "uas",
                "transports": [{"transport": "u1", "local_ip": "127.0.0.1", "local_port": port, "enabled": true}]}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
}

/// A client profile: built-in uac toward 127.0.0.1:`port`.
pub(crate) fn client_profile(m: &Master, tk: &str, id: &str, port: u16, rate: f64) {
    let r = m.json(
        "POST",
        "/api/v2/clients",
        Some(tk),
        &json!({"id": id, "scenario_ref": "uac", "remote_ip": "127.0.0.1", "remote_port": port, "rate": rate,
                "transports": [{"transport": "u1", "local_ip": "127.0.0.1", "enabled": true}]}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
}

pub(crate) fn job(m: &Master, tk: &str, id: &str) -> Value {
    let r = m.get(&format!("/api/v2/jobs/{id}"), Some(tk));
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["job"].clone()
}

/// Polls the job until `pred` holds (panics with the job and the master log after
/// `timeout`).
pub(crate) fn wait_job(
    m: &Master,
    tk: &str,
    id: &str,
    timeout: Duration,
    pred: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + timeout;
    loop {
        let j = job(m, tk, id);
        if pred(&j) {
            return j;
        }
        if Instant::now() > deadline {
            let log =
                std::fs::read_to_string(m.data_dir.join(format!("artifacts/jobs/{id}/worker.log")))
                    .unwrap_or_default();
            panic!(
                "job {id} not as expected after {timeout:?}: {j}\nworker.log:\n{log}\nmaster log:\n{}",
                m.log_text()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Stops job `id` (`POST /api/v2/jobs/{id}/stop`: 200) and waits up to `within` for it to
/// finish; returns the finished job.
pub(crate) fn stop_job(m: &Master, tk: &str, id: &str, within: Duration) -> Value {
    let r = m.req("POST", &format!("/api/v2/jobs/{id}/stop"), Some(tk), None);
    assert_eq!(r.status, 200, "stop {id}: {}", r.text());
    wait_job(m, tk, id, within, finished)
}

pub(crate) fn finished(j: &Value) -> bool {
    j["finished_at"].is_string()
}

pub(crate) fn running(j: &Value) -> bool {
    j["status"] == "running"
}

/// Waits until the running job has written at least one stats line (its sockets are
/// bound and calls can come in).
pub(crate) fn wait_stats_line(m: &Master, id: &str) {
    wait_stats_lines(m, id, 1);
}

/// Waits until the running job has written `n` stats lines (`n` stats periods).
pub(crate) fn wait_stats_lines(m: &Master, id: &str, n: usize) {
    let path = m.data_dir.join(format!("artifacts/jobs/{id}/stats.jsonl"));
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        if text.matches("\"kind\":\"stats\"").count() >= n {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "fewer than {n} stats lines from {id}:\n{text}\n{}",
            m.log_text()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Whether a process exists.
pub(crate) fn alive(pid: u64) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .unwrap_or_default()
            .contains(") Z ")
}

pub(crate) type Ws = tungstenite::WebSocket<TcpStream>;

/// Opens a WebSocket to `path` with a Bearer token.
pub(crate) fn ws_connect(m: &Master, path: &str, tk: &str) -> Ws {
    let stream = TcpStream::connect(&m.addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut req = format!("ws://{}{}", m.addr, path)
        .into_client_request()
        .unwrap();
    req.headers_mut()
        .insert("Authorization", format!("Bearer {tk}").parse().unwrap());
    let (ws, resp) = tungstenite::client(req, stream).unwrap();
    assert_eq!(resp.status().as_u16(), 101);
    ws
}

/// The next text frame, parsed; `None` when the server closed the socket.
pub(crate) fn ws_next(ws: &mut Ws) -> Option<Value> {
    loop {
        match ws.read() {
            Ok(tungstenite::Message::Text(t)) => {
                return Some(serde_json::from_str(t.as_str()).unwrap());
            }
            Ok(tungstenite::Message::Close(_)) | Err(_) => return None,
            Ok(_) => continue,
        }
    }
}

/// The JSON lines of a job's stats.jsonl.
pub(crate) fn stats_lines(m: &Master, id: &str) -> Vec<Value> {
    std::fs::read_to_string(m.data_dir.join(format!("artifacts/jobs/{id}/stats.jsonl")))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}
