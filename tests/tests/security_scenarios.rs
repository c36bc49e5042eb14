//! What an uploaded scenario may read, the scenario parser's limits, and the report-html
//! tool's paths, attacked as an operator would against a real `gossipper ui` (issue #14
//! items 1, 2, 5, 7 and 9). Each test checks that the attack fails and that nothing in
//! the data dir changed that should not have.

#![allow(clippy::unwrap_used)] // helpers outside #[test] fns: a failed unwrap is a failed test

mod api_support;
mod jobs_support;
mod security_support;

use std::time::Duration;

use api_support::{Master, Resp};
use jobs_support::{client_profile, finished, free_udp_port, wait_job};
use security_support::*;
use serde_json::json;

/// A client scenario whose INVITE carries `extra` in its body, then logs `log`.
fn scenario_with(extra: &str, actions: &str) -> String {
    format!(
        "<?xml version=\"1.0\"?>\n<scenario name=\"attack\">\n<send>\n<![CDATA[\n\
MESSAGE sip:x@[remote_ip]:[remote_port] SIP/2.0\n\
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]\n\
Call-ID: [call_id]\nCSeq: 1 MESSAGE\nContent-Length: [len]\n\n{extra}\n]]>\n</send>\n\
<recv response=\"200\"/>\n<nop><action>{actions}</action></nop>\n</scenario>\n"
    )
}

fn store_scenario(m: &Master, tk: &str, id: &str, xml: &str) -> Resp {
    m.json(
        "POST",
        "/api/v2/scenarios",
        Some(tk),
        &json!({"id": id, "name": id, "role": "client", "xml": xml}),
    )
}

fn start_job(m: &Master, tk: &str, scenario: &str) -> Resp {
    m.json(
        "POST",
        "/api/v2/jobs",
        Some(tk),
        &json!({"profile_id": "c1", "profile_kind": "client", "scenario_id": scenario,
                "engine": {"total_calls": 1}}),
    )
}

fn job_count(m: &Master, tk: &str) -> u64 {
    m.get("/api/v2/jobs", Some(tk)).json()["total"]
        .as_u64()
        .unwrap()
}

/// Master + admin token + a client profile `c1` toward a port nobody answers on.
fn setup(tag: &str) -> (Master, String) {
    let m = Master::start(tag);
    let tk = m.admin_token();
    client_profile(&m, &tk, "c1", free_udp_port(), 1.0);
    (m, tk)
}

/// Expects a 400 that names `needle` and a `file:line:column` position.
fn refused_naming(r: &Resp, needle: &str, at: &str) {
    assert_eq!(r.status, 400, "{}", r.text());
    let e = r.error();
    assert!(e.contains(needle), "{e}");
    assert!(e.contains(at), "expected position {at} in: {e}");
}

/// attack: an operator stores a scenario that reads a 0600 file by absolute path ([file name=/abs/secret]) and logs it, then runs it => 400 naming the path and its line:column at upload, and at job creation for such a scenario already on disk; no job is created and no file in the data dir receives the secret.
#[test]
fn an_absolute_file_name_is_refused_at_upload_and_at_job_creation() {
    let (m, tk) = setup("sec-abs");
    let secret = Secret::new("abs");
    let xml = scenario_with(
        &format!("[file name=\"{}\"]", secret.path.display()),
        "<log message=\"[last_message]\"/>",
    );
    let before = snapshot(&m.data_dir);
    let r = store_scenario(&m, &tk, "steal", &xml);
    refused_naming(&r, &secret.path.display().to_string(), "scenario.xml:11:1:");
    assert!(r.error().contains("absolute path"), "{}", r.error());
    snapshot(&m.data_dir).assert_same(&before, "refused upload");

    plant_scenario(&m, "steal", &xml);
    let before = snapshot(&m.data_dir);
    let r = start_job(&m, &tk, "steal");
    refused_naming(&r, &secret.path.display().to_string(), "steal.xml:11:1:");
    assert!(r.error().contains("[file]"), "{}", r.error());
    assert_eq!(job_count(&m, &tk), 0, "no job was created");
    snapshot(&m.data_dir).assert_same(&before, "refused job");
    assert_nowhere(&m.data_dir, &secret.text);
}

/// attack: an operator stores a scenario with <exec command="…"> (a shell command) and runs it => the job is refused with 400 before any worker is forked; shell commands need -allow_exec, a command-line flag no API request can set.
#[test]
fn shell_commands_are_refused_at_job_creation() {
    let (m, tk) = setup("sec-exec");
    let secret = Secret::new("exec");
    let stolen = m.data_dir.join("stolen.txt");
    let xml = scenario_with(
        "",
        &format!(
            "<exec command=\"cp {} {}\"/>",
            secret.path.display(),
            stolen.display()
        ),
    );
    assert_eq!(store_scenario(&m, &tk, "sh", &xml).status, 201);
    let before = snapshot(&m.data_dir);
    let r = start_job(&m, &tk, "sh");
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.error().contains("-allow_exec"), "{}", r.error());
    assert_eq!(job_count(&m, &tk), 0);
    snapshot(&m.data_dir).assert_same(&before, "exec command");
    assert!(!stolen.exists());
    assert_nowhere(&m.data_dir, &secret.text);
}

/// attack: a scenario reads the master's database by a relative name (../settings.sqlite, media/wav/../../settings.sqlite-wal, settings.sqlite-wal) => a name with ".." is a 400 at upload and at job creation, and settings.sqlite-wal names a file of the job's own folder, so the job fails at once with "No such file" and no database byte is read.
#[test]
fn relative_names_cannot_reach_the_database() {
    let (m, tk) = setup("sec-rel");
    assert!(m.data_dir.join("settings.sqlite").exists());
    for (i, name) in [
        "../settings.sqlite",
        "media/wav/../../settings.sqlite-wal",
        "../../settings.sqlite",
    ]
    .into_iter()
    .enumerate()
    {
        let id = format!("dd{i}");
        let xml = scenario_with(
            &format!("[file name=\"{name}\"]"),
            "<log message=\"[last_message]\"/>",
        );
        let before = snapshot(&m.data_dir);
        refused_naming(
            &store_scenario(&m, &tk, &id, &xml),
            name,
            "scenario.xml:11:1:",
        );
        snapshot(&m.data_dir).assert_same(&before, name);
        plant_scenario(&m, &id, &xml);
        let before = snapshot(&m.data_dir);
        let r = start_job(&m, &tk, &id);
        refused_naming(&r, name, &format!("{id}.xml:11:1:"));
        assert!(r.error().contains("\"..\""), "{}", r.error());
        snapshot(&m.data_dir).assert_same(&before, name);
    }
    assert_eq!(job_count(&m, &tk), 0);

    // Without "..", a name is a file of the job's own folder: not the database.
    let xml = scenario_with(
        "[file name=\"settings.sqlite-wal\"]",
        "<log message=\"[last_message]\"/>",
    );
    assert_eq!(store_scenario(&m, &tk, "wal", &xml).status, 201);
    let before = snapshot(&m.data_dir);
    let r = start_job(&m, &tk, "wal");
    assert_eq!(r.status, 201, "{}", r.text());
    let id = r.json()["id"].as_str().unwrap().to_string();
    let j = wait_job(&m, &tk, &id, Duration::from_secs(20), finished);
    assert_eq!(j["status"], "failed", "{j}");
    assert!(j["pid"].is_null(), "no worker was forked: {j}");
    let err = j["error"].as_str().unwrap();
    assert!(
        err.contains("settings.sqlite-wal") && err.contains("No such file"),
        "{err}"
    );
    assert!(
        !err.contains("SQLite"),
        "no database bytes in the error: {err}"
    );
    snapshot(&m.data_dir).assert_same(&before, "failed job");
}

/// attack: a local user plants symbolic links in the media library pointing at a 0600 secret and at /dev/zero, and a scenario reads them through [file], [[media:…]] and play_pcap_audio => the job is refused with 400 naming the file and its line:column; nothing is read.
#[test]
fn links_out_of_the_media_library_are_refused() {
    let (m, tk) = setup("sec-link");
    let secret = Secret::new("link");
    std::os::unix::fs::symlink(&secret.path, m.data_dir.join("media/pcap/evil.pcap")).unwrap();
    std::os::unix::fs::symlink("/dev/zero", m.data_dir.join("media/wav/zero.wav")).unwrap();
    let cases = [
        (
            "f1",
            scenario_with(
                "[file name=\"media/pcap/evil.pcap\"]",
                "<log message=\"[last_message]\"/>",
            ),
            "media/pcap/evil.pcap",
            ":11:1:",
        ),
        (
            "f2",
            scenario_with("[file name=\"media/wav/zero.wav\"]", ""),
            "media/wav/zero.wav",
            ":11:1:",
        ),
        (
            "f3",
            scenario_with("", "<exec play_pcap_audio=\"[[media:pcap/evil]]\"/>"),
            "media/pcap/evil.pcap",
            ":15:20:",
        ),
        (
            "f4",
            scenario_with("", "<exec rtp_stream=\"media/wav/zero.wav,1,0\"/>"),
            "media/wav/zero.wav",
            ":15:20:",
        ),
    ];
    for (id, xml, name, at) in cases {
        assert_eq!(
            store_scenario(&m, &tk, id, &xml).status,
            201,
            "names pass at upload"
        );
        let before = snapshot(&m.data_dir);
        let r = start_job(&m, &tk, id);
        refused_naming(&r, name, at);
        assert!(r.error().contains("leads outside"), "{}", r.error());
        snapshot(&m.data_dir).assert_same(&before, id);
    }
    assert_eq!(job_count(&m, &tk), 0);
    assert_nowhere(&m.data_dir, &secret.text);
    assert!(healthz_within(&m, Duration::from_secs(1)));
}

/// attack: a scenario reads /dev/zero through [file name=/dev/zero] => 400 at upload (absolute path) and at job creation, answered without opening the device while /healthz keeps answering within 1 s.
#[test]
fn dev_zero_is_refused_unopened() {
    let (m, tk) = setup("sec-zero");
    let xml = scenario_with("[file name=\"/dev/zero\"]", "");
    refused_naming(
        &store_scenario(&m, &tk, "zero", &xml),
        "/dev/zero",
        ":11:1:",
    );
    plant_scenario(&m, "zero", &xml);
    let before = snapshot(&m.data_dir);
    let addr = m.addr.clone();
    let tk2 = tk.clone();
    let (r, took) = while_healthy(&m, Duration::from_secs(30), move || {
        let body = json!({"profile_id": "c1", "profile_kind": "client", "scenario_id": "zero"});
        api_support::http(
            &addr,
            "POST",
            "/api/v2/jobs",
            &[("Authorization".into(), format!("Bearer {tk2}"))],
            Some(body.to_string().as_bytes()),
        )
    });
    refused_naming(&r, "/dev/zero", ":11:1:");
    assert!(took < Duration::from_secs(30));
    snapshot(&m.data_dir).assert_same(&before, "/dev/zero");
    assert_eq!(job_count(&m, &tk), 0);
}

/// attack: a local user puts a FIFO in the media library and a scenario reads it with [file] and play_pcap_audio => refused with 400 ("FIFO, not a regular file") without opening it; /healthz answers within 1 s throughout.
#[test]
fn a_fifo_cannot_hang_the_master() {
    let (m, tk) = setup("sec-fifo");
    mkfifo(&m.data_dir.join("media/wav/pipe.wav"));
    mkfifo(&m.data_dir.join("media/pcap/pipe.pcap"));
    let cases = [
        (
            "p1",
            scenario_with("[file name=\"media/wav/pipe.wav\"]", ""),
            "media/wav/pipe.wav",
            ":11:1:",
        ),
        (
            "p2",
            scenario_with("", "<exec play_pcap_audio=\"media/pcap/pipe.pcap\"/>"),
            "media/pcap/pipe.pcap",
            ":15:20:",
        ),
    ];
    for (id, xml, name, at) in cases {
        assert_eq!(store_scenario(&m, &tk, id, &xml).status, 201);
        let before = snapshot(&m.data_dir);
        let (addr, tk2, id2) = (m.addr.clone(), tk.clone(), id.to_string());
        let (r, _) = while_healthy(&m, Duration::from_secs(30), move || {
            let body = json!({"profile_id": "c1", "profile_kind": "client", "scenario_id": id2});
            api_support::http(
                &addr,
                "POST",
                "/api/v2/jobs",
                &[("Authorization".into(), format!("Bearer {tk2}"))],
                Some(body.to_string().as_bytes()),
            )
        });
        refused_naming(&r, name, at);
        assert!(r.error().contains("FIFO"), "{}", r.error());
        snapshot(&m.data_dir).assert_same(&before, id);
    }
    assert_eq!(job_count(&m, &tk), 0);
}

/// attack: an operator uploads scenarios nested 60,000 and 1,000,000 elements deep => 400 naming the first element past depth 64 by line:column; the master stays up.
#[test]
fn deep_nesting_is_refused_with_a_position() {
    let m = Master::start("sec-deep");
    let tk = m.admin_token();
    let before = snapshot(&m.data_dir);
    // One element per line: element 65 is on line 65.
    let per_line = format!(
        "<scenario>\n{}{}</scenario>",
        "<a>\n".repeat(59_999),
        "</a>".repeat(59_999)
    );
    let r = store_scenario(&m, &tk, "deep1", &per_line);
    refused_naming(&r, "nest deeper than 64", "scenario.xml:65:1:");
    // One line: element 65 starts at column 10 + 3 * 63 + 1.
    let one_line = format!(
        "<scenario>{}{}</scenario>",
        "<a>".repeat(999_999),
        "</a>".repeat(999_999)
    );
    let r = store_scenario(&m, &tk, "deep2", &one_line);
    refused_naming(&r, "nest deeper than 64", "scenario.xml:1:200:");
    assert!(
        healthz_within(&m, Duration::from_secs(1)),
        "{}",
        m.log_text()
    );
    assert_eq!(m.get("/api/v2/scenarios", Some(&tk)).status, 200);
    snapshot(&m.data_dir).assert_same(&before, "deep scenarios");
}

/// attack: an operator uploads 16 MiB scenarios (2.8 million <nop/>s; a message of 16 MiB of blanks, the quadratic case of SIPp's clean-up) => the first is refused with 400 at the element cap, the second validates and is stored, each in seconds (debug build; under 1 s in release), while /healthz answers within 1 s.
#[test]
fn sixteen_mib_scenarios_validate_in_linear_time() {
    let m = Master::start("sec-big");
    let tk = m.admin_token();
    let limit = 16 << 20;
    let frame = |xml_len: usize| limit - 100 - xml_len;
    let head = "<scenario name=\"big\">";
    let nops = format!(
        "{head}{}</scenario>",
        "<nop/>".repeat(frame(head.len() + 11) / 6)
    );
    let cdata_head = "<scenario name=\"big\"><send><![CDATA[\nOPTIONS sip:x SIP/2.0\n";
    let cdata_tail = "x\n\n]]></send><recv response=\"200\"/></scenario>";
    // Spaces (a tab would double in JSON): SIPp's "\n " clean-up used to rescan the text
    // once per blank of the run.
    let blanks = format!(
        "{cdata_head}{}{cdata_tail}",
        " ".repeat(frame(cdata_head.len() + cdata_tail.len() + 8))
    );
    let before = snapshot(&m.data_dir);
    for (id, xml, status) in [("nops", nops, 400), ("blanks", blanks, 201)] {
        let body = json!({"id": id, "name": id, "role": "client", "xml": xml}).to_string();
        assert!(
            body.len() <= limit && body.len() > limit - 1000,
            "{}",
            body.len()
        );
        let (addr, tk2) = (m.addr.clone(), tk.clone());
        let (r, took) = while_healthy(&m, Duration::from_secs(60), move || {
            api_support::http(
                &addr,
                "POST",
                "/api/v2/scenarios",
                &[("Authorization".into(), format!("Bearer {tk2}"))],
                Some(body.as_bytes()),
            )
        });
        eprintln!("{id}: {} in {took:?}", r.status);
        assert_eq!(
            r.status,
            status,
            "{id}: {}",
            r.text().chars().take(300).collect::<String>()
        );
        if status == 400 {
            refused_naming(&r, "more than 100000 elements", "scenario.xml:1:");
        }
    }
    // Only the valid one was stored.
    let after = snapshot(&m.data_dir);
    let added: Vec<&String> = after
        .0
        .keys()
        .filter(|k| !before.0.contains_key(*k))
        .collect();
    assert!(
        added.iter().all(|k| k.starts_with("scenarios/blanks")),
        "{added:?}"
    );
    assert!(
        added.iter().any(|k| *k == "scenarios/blanks.xml"),
        "{added:?}"
    );
}

fn run_tool(m: &Master, tk: &str, id: Option<&str>, args: serde_json::Value) -> Resp {
    let mut body = json!({"args": args});
    if let Some(id) = id {
        body["id"] = json!(id);
    }
    m.json("POST", "/api/v2/tools/report-html/run", Some(tk), &body)
}

/// A job row with a finished-looking artifacts folder (summary.json, worker.log).
fn victim_job(m: &Master, tk: &str) -> String {
    let r = m.json(
        "POST",
        "/api/v2/jobs",
        Some(tk),
        &json!({"id": "victim", "profile_id": "c1", "profile_kind": "client",
                "engine": {"transport": "carrier-pigeon"}}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let dir = m.data_dir.join("artifacts/jobs/victim");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("summary.json"),
        br#"{"total_calls":7,"success_calls":7}"#,
    )
    .unwrap();
    std::fs::write(dir.join("worker.log"), b"worker: done\n").unwrap();
    "victim".into()
}

/// attack: an operator runs report-html with out= another job's summary.json or report.html, or a future job id's folder => 400 naming the argument; the other job's files are byte-identical and no folder is created.
#[test]
fn report_html_cannot_write_other_jobs_artifacts() {
    let (m, tk) = setup("sec-tool-out");
    let victim = victim_job(&m, &tk);
    let jobs_before = job_count(&m, &tk);
    for out in [
        format!("artifacts/jobs/{victim}/summary.json"),
        format!("artifacts/jobs/{victim}/report.html"),
        "artifacts/jobs/future-job-1/report.html".to_string(),
        "artifacts/jobs/future-job-1/summary.json".to_string(),
        "scenarios/x.xml".to_string(),
        "../outside.html".to_string(),
        "summary.json".to_string(),
    ] {
        let before = snapshot(&m.data_dir);
        let r = run_tool(&m, &tk, Some("t-out"), json!({"in": victim, "out": out}));
        assert_eq!(r.status, 400, "{out}: {}", r.text());
        assert!(r.error().contains("args.out"), "{}", r.error());
        snapshot(&m.data_dir).assert_same(&before, &out);
    }
    assert!(!m.data_dir.join("artifacts/jobs/future-job-1").exists());
    assert_eq!(job_count(&m, &tk), jobs_before, "no tool job was created");
    // Naming the victim as the tool job's own id is a conflict, not a way in.
    let before = snapshot(&m.data_dir);
    let r = run_tool(
        &m,
        &tk,
        Some(&victim),
        json!({"in": victim, "out": "summary.html"}),
    );
    assert_eq!(r.status, 409, "{}", r.text());
    snapshot(&m.data_dir).assert_same(&before, "taken id");
}

/// attack: an operator runs report-html with in= a path outside any job's summary (../settings.sqlite, another job's worker.log, a job that does not exist) => 400 naming the argument, nothing created; reading an existing job's summary by id works and writes only into the tool job's own folder.
#[test]
fn report_html_reads_only_a_jobs_summary() {
    let (m, tk) = setup("sec-tool-in");
    let victim = victim_job(&m, &tk);
    for input in [
        "artifacts/jobs/victim/../../settings.sqlite".to_string(),
        "../settings.sqlite".to_string(),
        format!("artifacts/jobs/{victim}/worker.log"),
        "settings.sqlite".to_string(),
        "no-such-job".to_string(),
        "/etc/passwd".to_string(),
    ] {
        let before = snapshot(&m.data_dir);
        let r = run_tool(&m, &tk, None, json!({"in": input}));
        assert_eq!(r.status, 400, "{input}: {}", r.text());
        assert!(r.error().contains("args.in"), "{}", r.error());
        snapshot(&m.data_dir).assert_same(&before, &input);
    }
    // The allowed use: a job's summary by id, or by its documented path.
    let victim_files = snapshot(&m.data_dir.join("artifacts/jobs/victim"));
    for (id, input) in [
        ("t1", victim.clone()),
        ("t2", format!("artifacts/jobs/{victim}/summary.json")),
    ] {
        let r = run_tool(&m, &tk, Some(id), json!({"in": input, "out": "mine.html"}));
        assert_eq!(r.status, 201, "{}", r.text());
        let j = wait_job(&m, &tk, id, Duration::from_secs(30), finished);
        assert_eq!(j["status"], "succeeded", "{j}");
        let html =
            std::fs::read_to_string(m.data_dir.join(format!("artifacts/jobs/{id}/mine.html")))
                .unwrap();
        assert!(html.contains(">7<"), "the victim's summary was read");
    }
    snapshot(&m.data_dir.join("artifacts/jobs/victim")).assert_same(&victim_files, "victim");
}
