//! `record_wav` on a job: a server job (built-in uas) started with `record_wav: true`
//! records the audio each call receives into artifacts/jobs/<id>/recordings, and the
//! API lists and serves those WAV files; a duplex client job (built-in uac_pcap, which
//! plays G.711 audio) records what it sends and receives as a stereo file.

#![allow(clippy::unwrap_used)] // helpers outside #[test] fns: a failed unwrap is a failed test

mod api_support;
mod jobs_support;

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

/// Downloads one recording and reads its WAV header: (channels, sample rate, samples).
fn download(m: &Master, tk: &str, id: &str, name: &str) -> (u16, u32, u32) {
    let r = m.get(&format!("/api/v2/jobs/{id}/recordings/{name}"), Some(tk));
    assert_eq!(r.status, 200, "{}", r.text());
    wav_shape(&r.body).unwrap_or_else(|| panic!("{name} is not a PCM WAV file"))
}

/// RIFF/WAVE with a `fmt ` and a `data` chunk: channels, rate, samples per channel.
fn wav_shape(b: &[u8]) -> Option<(u16, u32, u32)> {
    let u16_at = |i: usize| Some(u16::from_le_bytes(b.get(i..i + 2)?.try_into().ok()?));
    let u32_at = |i: usize| Some(u32::from_le_bytes(b.get(i..i + 4)?.try_into().ok()?));
    if b.get(0..4)? != b"RIFF" || b.get(8..12)? != b"WAVE" {
        return None;
    }
    let (mut pos, mut fmt) = (12, None);
    while pos + 8 <= b.len() {
        let (id, len) = (b.get(pos..pos + 4)?, u32_at(pos + 4)? as usize);
        match id {
            b"fmt " => fmt = Some((u16_at(pos + 10)?, u32_at(pos + 12)?, u16_at(pos + 20)?)),
            b"data" => {
                let (channels, rate, block_align) = fmt?;
                return Some((
                    channels,
                    rate,
                    (len / usize::from(block_align.max(1))) as u32,
                ));
            }
            _ => {}
        }
        pos += 8 + len + (len & 1);
    }
    None
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

    for (id, channels) in [(&server_id, 1), (&client_id, 2)] {
        let list = recordings(&m, tk, id);
        assert_eq!(list.len() as u64, CALLS, "job {id}: {list:?}");
        for rec in &list {
            let name = rec["name"].as_str().unwrap();
            assert!(name.ends_with(".wav"), "{rec}");
            let (ch, rate, samples) = download(&m, tk, id, name);
            assert_eq!((ch, rate), (channels, 8000), "job {id} {name}");
            // uac_pcap plays seconds of audio; over half a second shows the stream was
            // recorded, not just opened.
            assert!(samples > 4000, "job {id} {name}: {samples} samples");
        }
    }
}
