//! `record_wav` on a job: a server job (built-in uas) started with `record_wav: true`
//! records the audio each call receives into artifacts/jobs/<id>/recordings, and the
//! API lists and serves those WAV files; a duplex client job (built-in uac_pcap, which
//! plays G.711 audio) records what it sends and receives as a stereo file. Each file is
//! compared with the audio it must hold, sample for sample.

#![allow(clippy::unwrap_used)] // helpers outside #[test] fns: a failed unwrap is a failed test

mod api_support;
mod jobs_support;
mod media_support;

use std::time::Duration;

use api_support::Master;
use jobs_support::*;
use serde_json::{Value, json};

const CALLS: u64 = 3;

/// The recordings list of a job.
fn recordings(m: &Master, tk: &str, id: &str) -> Vec<Value> {
    let r = m.get(&format!("/api/v2/jobs/{id}/recordings"), Some(tk));
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["recordings"].as_array().unwrap().clone()
}

/// Downloads one recording: (channels, interleaved 16-bit samples).
fn download(m: &Master, tk: &str, id: &str, name: &str) -> (u16, Vec<i16>) {
    let r = m.get(&format!("/api/v2/jobs/{id}/recordings/{name}"), Some(tk));
    assert_eq!(r.status, 200, "{}", r.text());
    media_support::wav_bytes(&r.body, &format!("job {id} {name}"))
}

#[test]
fn record_wav_jobs_write_one_recording_per_call_and_serve_them() {
    let m = Master::start("jobs-rec");
    let tk = m.admin_token();
    let tk = tk.as_str();
    let port = free_udp_port();
    server_profile(&m, tk, "uas-rec", port);
    let r = m.json(
        "POST",
        "/api/v2/clients",
        Some(tk),
        &json!({"id": "uac-pcap", "scenario_ref": "uac_pcap", "remote_ip": "127.0.0.1",
                "remote_port": port, "rate": 10,
                "transports": [{"transport": "u1", "local_ip": "127.0.0.1", "enabled": true}]}),
    );
    assert_eq!(r.status, 201, "{}", r.text());

    let r = m.json(
        "POST",
        "/api/v2/servers/uas-rec/start",
        Some(tk),
        &json!({"record_wav": true}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let server_id = r.json()["id"].as_str().unwrap().to_string();
    wait_job(&m, tk, &server_id, Duration::from_secs(30), running);
    wait_stats_line(&m, &server_id);

    let r = m.json(
        "POST",
        "/api/v2/clients/uac-pcap/start",
        Some(tk),
        &json!({"record_wav_duplex": true, "engine": {"total_calls": CALLS, "max_concurrent": 3}}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let client_id = r.json()["id"].as_str().unwrap().to_string();
    let client = wait_job(&m, tk, &client_id, Duration::from_secs(90), finished);
    assert_eq!(client["status"], "succeeded", "{client}");

    // The server wrote each call's file when the call ended; stop it to end the job.
    let r = m.req("POST", "/api/v2/servers/uas-rec/stop", Some(tk), None);
    assert_eq!(r.status, 200, "{}", r.text());
    wait_job(&m, tk, &server_id, Duration::from_secs(30), finished);

    // What each file must hold: the tone uac_pcap plays (its DTMF events are not audio),
    // as the server received it and as the client sent it; the built-in uas sends no
    // media, so the client's received channel is silent. A packet the client skipped
    // (a stalled shard on a loaded machine) is a silent frame in both.
    let tone = media_support::tone_capture_pcm();
    let summary = m
        .get(
            &format!("/api/v2/jobs/{client_id}/artifacts/summary"),
            Some(tk),
        )
        .json();
    let skipped = summary["media"]["rtp_late_skipped"].as_u64().unwrap();
    for (id, channels) in [(&server_id, 1), (&client_id, 2)] {
        let list = recordings(&m, tk, id);
        assert_eq!(list.len() as u64, CALLS, "job {id}: {list:?}");
        for rec in &list {
            let name = rec["name"].as_str().unwrap();
            assert!(name.ends_with(".wav"), "{rec}");
            let (ch, samples) = download(&m, tk, id, name);
            assert_eq!(ch, channels, "job {id} {name}");
            let what = format!("job {id} {name}");
            let first = media_support::channel(&samples, ch, 0);
            media_support::assert_recording_is(&what, &first, &tone, skipped);
            if ch == 2 {
                let received = media_support::channel(&samples, ch, 1);
                assert!(
                    received.iter().all(|s| *s == 0),
                    "{what}: the uas sent no audio, yet the received channel has some"
                );
            }
        }
    }
}
