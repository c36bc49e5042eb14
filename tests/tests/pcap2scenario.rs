//! `gossipper pcap2scenario` on real captures: each test records a SIPp-vs-SIPp call on
//! the loopback with `tcpdump` (Debian package tcpdump; started here, waited for until it
//! listens, stopped with SIGINT), converts it with the subcommand, then runs the
//! generated pair gossipper against gossipper, our UAS against SIPp running the generated
//! UAC, and SIPp's UAS against our UAC: one call each, zero failures on every side (each
//! side's -trace_stat CSV). Cases: UDP, TCP (`-t t1`), IPv6 recorded on `any` (Linux
//! cooked SLL2 frames), a digest challenge followed by a re-INVITE, and a call with RTP
//! both ways (split into per-direction captures). Bad
//! input gives a clear error and exit 1. Through a real `gossipper ui`: the capture
//! uploaded as pcap media, the `pcap2scenario` tool job, its artifacts, and
//! `POST /scenarios/import-from-pcap-job` storing the pair as scenarios that validate.
//!
//! tcpdump needs root or CAP_NET_RAW, as `scripts/test.sh` runs the suite.

#![allow(clippy::unwrap_used)] // helpers outside #[test] fns: a failed unwrap is a failed test

mod api_support;
mod jobs_support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use api_support::Master;
use jobs_support::{finished, wait_job};
use serde_json::json;

use gossipper_e2e::{
    Capture, Proc, Sock, finish_pair, free_port, gossipper_bin, output, peer_args, run,
    scratch_dir, sipp_bin,
};

/// The test scenarios SIPp plays for the digest + re-INVITE capture.
fn scenario(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios")
        .join(name)
}

/// One side of a call: the binary and its scenario arguments.
struct Side<'a> {
    bin: PathBuf,
    args: Vec<&'a str>,
}

fn sipp<'a>(args: &[&'a str]) -> Side<'a> {
    Side {
        bin: sipp_bin(),
        args: args.to_vec(),
    }
}

fn ours<'a>(args: &[&'a str]) -> Side<'a> {
    Side {
        bin: gossipper_bin(),
        args: args.to_vec(),
    }
}

/// Runs one call between `server` (on `sport`) and `client` in `dir`, with `transport`
/// (`u1` or `t1`); both must succeed with zero failed calls.
fn call(name: &str, dir: &Path, transport: &str, sport: u16, server: Side<'_>, client: Side<'_>) {
    call_on("127.0.0.1", name, dir, transport, sport, server, client);
}

/// `call` with both peers on `ip` (`::1` for IPv6).
fn call_on(
    ip: &str,
    name: &str,
    dir: &Path,
    transport: &str,
    sport: u16,
    server: Side<'_>,
    client: Side<'_>,
) {
    let cport = free_port();
    let s_csv = dir.join(format!("{name}.server.csv"));
    let c_csv = dir.join(format!("{name}.client.csv"));
    let mut scmd = Command::new(&server.bin);
    scmd.current_dir(dir)
        .args(&server.args)
        .args(["-t", transport, "-i", ip, "-p", &sport.to_string()])
        .args(["-m", "1"]);
    peer_args(&mut scmd, &s_csv);
    let mut s = Proc::spawn(&format!("{name} server"), &mut scmd);
    s.wait_bound(Sock::for_transport(transport), sport);
    let mut ccmd = Command::new(&client.bin);
    ccmd.current_dir(dir)
        .arg(match ip.contains(':') {
            true => format!("[{ip}]:{sport}"),
            false => format!("{ip}:{sport}"),
        })
        .args(&client.args)
        .args(["-t", transport, "-i", ip, "-p", &cport.to_string()])
        .args(["-m", "1"]);
    peer_args(&mut ccmd, &c_csv);
    let c = Proc::spawn(&format!("{name} client"), &mut ccmd);
    finish_pair(name, c, s, &c_csv, &s_csv, 1, Duration::from_secs(30));
}

/// `gossipper pcap2scenario FILE -out DIR -sip-port PORT`; asserts success.
fn convert(pcap: &Path, out: &Path, sip_port: u16) -> String {
    let (status, stdout, stderr) = run(
        "pcap2scenario",
        Command::new(gossipper_bin())
            .arg("pcap2scenario")
            .arg(pcap)
            .arg("-out")
            .arg(out)
            .args(["-sip-port", &sip_port.to_string()]),
        Duration::from_secs(30),
    );
    assert!(
        status.success(),
        "pcap2scenario: {status}\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("wrote"), "{stdout}");
    stdout
}

/// Records one SIPp-vs-SIPp call (`server`/`client` scenario arguments) on `transport`
/// with tcpdump; returns the scratch folder, the capture and the server's port.
fn capture_call(
    name: &str,
    transport: &str,
    server: &[&str],
    client: &[&str],
) -> (PathBuf, PathBuf, u16) {
    let dir = scratch_dir(name);
    let sport = free_port();
    let proto = if transport == "t1" { "tcp" } else { "udp" };
    let cap = Capture::start(&dir, name, &format!("{proto} port {sport}"));
    call(
        &format!("{name}-capture"),
        &dir,
        transport,
        sport,
        sipp(server),
        sipp(client),
    );
    (dir, cap.stop(), sport)
}

/// Captures a call SIPp plays (`server`/`client` scenario arguments) on `transport`,
/// converts it, checks the captured values became keywords, and replays the generated
/// pair three ways. `extra_client` goes to every UAC run (`-au`/`-ap`).
fn capture_convert_replay(
    name: &str,
    transport: &str,
    server: &[&str],
    client: &[&str],
    extra_client: &[&str],
) -> PathBuf {
    let client_args: Vec<&str> = client.iter().chain(extra_client).copied().collect();
    let (dir, pcap, sport) = capture_call(name, transport, server, &client_args);
    let out = dir.join("out");
    convert(&pcap, &out, sport);
    check_keywords(&out, &pcap, sport);
    let uac = out.join("scenario_uac.xml");
    let uas = out.join("scenario_uas.xml");
    let (uac, uas) = (uac.to_str().expect("utf-8"), uas.to_str().expect("utf-8"));
    let uac_args: Vec<&str> = ["-sf", uac]
        .into_iter()
        .chain(extra_client.iter().copied())
        .collect();
    for (label, server_is_sipp, client_is_sipp) in [
        ("ours-vs-ours", false, false),
        ("ours-uas-vs-sipp-uac", false, true),
        ("sipp-uas-vs-ours-uac", true, false),
    ] {
        let server = Side {
            bin: if server_is_sipp {
                sipp_bin()
            } else {
                gossipper_bin()
            },
            args: vec!["-sf", uas],
        };
        let client = Side {
            bin: if client_is_sipp {
                sipp_bin()
            } else {
                gossipper_bin()
            },
            args: uac_args.clone(),
        };
        call(
            &format!("{name}-{label}"),
            &dir,
            transport,
            free_port(),
            server,
            client,
        );
    }
    out
}

/// The generated scenarios carry no captured Call-ID, port or tag, and use the keywords.
fn check_keywords(out: &Path, pcap: &Path, sport: u16) {
    let uac = std::fs::read_to_string(out.join("scenario_uac.xml")).expect("uac written");
    let uas = std::fs::read_to_string(out.join("scenario_uas.xml")).expect("uas written");
    let captured = String::from_utf8_lossy(&std::fs::read(pcap).expect("capture")).into_owned();
    let call_id = captured
        .split("Call-ID: ")
        .nth(1)
        .and_then(|r| r.split("\r\n").next())
        .expect("a Call-ID in the capture");
    for (what, xml) in [("uac", &uac), ("uas", &uas)] {
        let body = xml
            .split("-->")
            .nth(1)
            .expect("a scenario after the comment");
        assert!(
            !body.contains(call_id),
            "{what} keeps the captured Call-ID:\n{xml}"
        );
        assert!(
            !body.contains(&format!(":{sport}")),
            "{what} keeps the captured port {sport}:\n{xml}"
        );
        assert!(
            !body.contains("SIPpTag0") || body.contains("[pid]SIPpTag0"),
            "{what}"
        );
        for kw in ["[local_ip]", "[local_port]", "[len]"] {
            assert!(body.contains(kw), "{what} lacks {kw}:\n{xml}");
        }
    }
    for kw in [
        "[call_id]",
        "[branch]",
        "[cseq] INVITE",
        "[remote_port]",
        "tag=[pid]SIPpTag00[call_number]",
        "[peer_tag_param]",
        "m=audio [media_port]",
        "c=IN IP[media_ip_type] [media_ip]",
    ] {
        assert!(uac.contains(kw), "uac lacks {kw}:\n{uac}");
    }
    for kw in [
        "[last_Via:]",
        "[last_Call-ID:]",
        "[last_To:];tag=[pid]SIPpTag01[call_number]",
        "<recv request=\"INVITE\"/>",
    ] {
        assert!(uas.contains(kw), "uas lacks {kw}:\n{uas}");
    }
}

#[test]
fn a_udp_call_replays_ours_and_sipp_both_ways() {
    let out = capture_convert_replay("p2s-udp", "u1", &["-sn", "uas"], &["-sn", "uac"], &[]);
    let uac = std::fs::read_to_string(out.join("scenario_uac.xml")).expect("uac");
    assert!(uac.contains("<send retrans=\"500\">"), "{uac}");
    assert!(
        uac.contains("<recv response=\"180\" optional=\"true\"/>"),
        "{uac}"
    );
    assert!(!out.join("rtp_uac.pcap").exists(), "no RTP in this call");
}

/// SIPp's built-in `uas` without its closing 4 s `<timewait>`: over TCP the client closes
/// the connection when it is done, and SIPp counts a call still waiting then as failed.
fn sipp_uas_without_timewait() -> PathBuf {
    let dump = output(Command::new(sipp_bin()).args(["-sd", "uas"]));
    let xml: String = String::from_utf8_lossy(&dump.stdout)
        .lines()
        .filter(|l| !l.contains("<timewait"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert!(xml.contains("<scenario"), "sipp -sd uas: {xml}");
    let f = scratch_dir("p2s-tcp-uas").join("uas.xml");
    std::fs::write(&f, xml).expect("write uas.xml");
    f
}

#[test]
fn a_tcp_call_is_reassembled_and_replays_ours_and_sipp_both_ways() {
    let uas = sipp_uas_without_timewait();
    let uas = uas.to_str().expect("utf-8");
    let out = capture_convert_replay("p2s-tcp", "t1", &["-sf", uas], &["-sn", "uac"], &[]);
    let uac = std::fs::read_to_string(out.join("scenario_uac.xml")).expect("uac");
    assert!(uac.contains("over TCP"), "{uac}");
    assert!(
        !uac.contains("retrans="),
        "no retransmissions on TCP:\n{uac}"
    );
}

#[test]
fn an_ipv6_call_recorded_as_linux_cooked_frames_replays_ours_and_sipp_both_ways() {
    let name = "p2s-v6";
    let dir = scratch_dir(name);
    let sport = free_port();
    // `-i any` records Linux cooked (SLL2) frames instead of Ethernet.
    let cap = Capture::start_on("any", &dir, name, &format!("udp port {sport}"));
    let (server, client) = (["-sn", "uas"], ["-sn", "uac"]);
    call_on(
        "::1",
        &format!("{name}-capture"),
        &dir,
        "u1",
        sport,
        sipp(&server),
        sipp(&client),
    );
    let pcap = cap.stop();
    let out = dir.join("out");
    convert(&pcap, &out, sport);
    let uac = std::fs::read_to_string(out.join("scenario_uac.xml")).expect("uac");
    let body = uac.split("-->").nth(1).expect("scenario");
    assert!(!body.contains("::1"), "{uac}");
    assert!(uac.contains("from [::1]:"), "{uac}");
    let (uac, uas) = (out.join("scenario_uac.xml"), out.join("scenario_uas.xml"));
    let (uac, uas) = (uac.to_str().expect("utf-8"), uas.to_str().expect("utf-8"));
    for (label, server, client) in [
        ("ours-vs-ours", ours(&["-sf", uas]), ours(&["-sf", uac])),
        (
            "ours-uas-vs-sipp-uac",
            ours(&["-sf", uas]),
            sipp(&["-sf", uac]),
        ),
        (
            "sipp-uas-vs-ours-uac",
            sipp(&["-sf", uas]),
            ours(&["-sf", uac]),
        ),
    ] {
        call_on(
            "::1",
            &format!("{name}-{label}"),
            &dir,
            "u1",
            free_port(),
            server,
            client,
        );
    }
}

#[test]
fn a_digest_challenge_and_a_reinvite_replay_ours_and_sipp_both_ways() {
    let uas = scenario("pcap_auth_reinvite_uas.xml");
    let uac = scenario("pcap_auth_reinvite_uac.xml");
    let (uas, uac) = (uas.to_str().expect("utf-8"), uac.to_str().expect("utf-8"));
    let out = capture_convert_replay(
        "p2s-auth",
        "u1",
        &["-sf", uas],
        &["-sf", uac],
        &["-au", "alice", "-ap", "secret"],
    );
    let xml = std::fs::read_to_string(out.join("scenario_uac.xml")).expect("uac");
    assert!(
        xml.contains("<recv response=\"407\" auth=\"true\"/>"),
        "{xml}"
    );
    assert!(xml.contains("[authentication]"), "{xml}");
    assert!(!xml.contains("Proxy-Authorization"), "{xml}");
    // The ACK of the 407 shares the first INVITE's branch (two commands back).
    assert!(xml.contains("branch=[branch-2]"), "{xml}");
    assert!(xml.contains("-au USER -ap PASSWORD"), "{xml}");
    // Three INVITEs: the challenged one, the authenticated one, the re-INVITE.
    assert_eq!(xml.matches("CSeq: [cseq] INVITE").count(), 3, "{xml}");
    let uas = std::fs::read_to_string(out.join("scenario_uas.xml")).expect("uas");
    assert!(uas.contains("Proxy-Authenticate: Digest"), "{uas}");
}

#[test]
fn a_call_with_rtp_both_ways_splits_its_media_and_replays() {
    let name = "p2s-rtp";
    let dir = scratch_dir(name);
    // SIPp's uac_pcap plays pcap/g711a.pcap and pcap/dtmf_2833_1.pcap from its folder;
    // SIPp's uas echoes it back (-rtp_echo).
    let assets = Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/media");
    std::fs::create_dir_all(dir.join("pcap")).expect("pcap dir");
    std::fs::copy(assets.join("g711a_tone.pcap"), dir.join("pcap/g711a.pcap")).expect("copy");
    std::fs::copy(
        assets.join("dtmf_2833.pcap"),
        dir.join("pcap/dtmf_2833_1.pcap"),
    )
    .expect("copy");
    let sport = free_port();
    let (mp_uac, mp_uas) = (
        gossipper_e2e::free_port_block(8),
        gossipper_e2e::free_port_block(8),
    );
    let filter = format!(
        "udp port {sport} or udp portrange {}-{} or udp portrange {}-{}",
        mp_uac,
        mp_uac + 7,
        mp_uas,
        mp_uas + 7
    );
    let cap = Capture::start(&dir, name, &filter);
    let (a, b) = (mp_uas.to_string(), mp_uac.to_string());
    call(
        &format!("{name}-capture"),
        &dir,
        "u1",
        sport,
        sipp(&["-sn", "uas", "-rtp_echo", "-mp", &a]),
        sipp(&["-sn", "uac_pcap", "-mp", &b]),
    );
    let pcap = cap.stop();
    let out = dir.join("out");
    convert(&pcap, &out, sport);
    let count = |f: &str| {
        gossipper_media::load_pcap(&out.join(f))
            .unwrap_or_else(|e| panic!("{f}: {e}"))
            .packets()
            .len()
    };
    let (sent, echoed) = (count("rtp_uac.pcap"), count("rtp_uas.pcap"));
    // 200 tone packets plus the DTMF capture, each echoed.
    assert!(sent >= 200, "caller's RTP: {sent} packets");
    assert!(echoed >= 150, "callee's RTP: {echoed} packets");
    let uac = out.join("scenario_uac.xml");
    let uas = out.join("scenario_uas.xml");
    let (uac, uas) = (uac.to_str().expect("utf-8"), uas.to_str().expect("utf-8"));
    call(
        &format!("{name}-ours"),
        &dir,
        "u1",
        free_port(),
        ours(&["-sf", uas]),
        ours(&["-sf", uac]),
    );
    call(
        &format!("{name}-sipp-uac"),
        &dir,
        "u1",
        free_port(),
        ours(&["-sf", uas]),
        sipp(&["-sf", uac]),
    );
    call(
        &format!("{name}-sipp-uas"),
        &dir,
        "u1",
        free_port(),
        sipp(&["-sf", uas]),
        ours(&["-sf", uac]),
    );
}

#[test]
fn bad_input_is_a_clear_error_and_help_documents_the_flags() {
    let dir = scratch_dir("p2s-bad");
    let run_on = |bytes: &[u8], extra: &[&str]| {
        let f = dir.join("in.pcap");
        std::fs::write(&f, bytes).expect("write");
        let o = output(
            Command::new(gossipper_bin())
                .arg("pcap2scenario")
                .arg(&f)
                .arg("-out")
                .arg(dir.join("out"))
                .args(extra),
        );
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    let (code, err) = run_on(b"INVITE sip:x SIP/2.0\r\n\r\n", &[]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("not a pcap file"), "{err}");
    let (code, err) = run_on(b"", &[]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("shorter than a pcap header"), "{err}");
    // A valid capture header with a record cut short.
    let mut cut = vec![
        0xD4, 0xC3, 0xB2, 0xA1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0, 0, 1, 0, 0, 0,
    ];
    cut.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 100, 0, 0, 0, 100, 0, 0, 0, 1, 2, 3]);
    let (code, err) = run_on(&cut, &[]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("in.pcap"), "{err}");
    // A capture with no SIP: just its header.
    let (code, err) = run_on(&cut[..24], &[]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("no SIP message found"), "{err}");
    let (code, err) = run_on(&cut[..24], &["-pcap-link", "token-ring"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("-pcap-link"), "{err}");
    assert!(!dir.join("out").exists(), "nothing written on errors");
    let help = output(Command::new(gossipper_bin()).args(["pcap2scenario", "-h"]));
    assert!(help.status.success());
    let help = String::from_utf8_lossy(&help.stdout);
    for flag in [
        "-out DIR",
        "-sip-port N",
        "-pcap-link TYPE",
        "scenario_uac.xml",
        "scenario_uas.xml",
        "-au USER -ap PASSWORD",
    ] {
        assert!(help.contains(flag), "help lacks {flag}:\n{help}");
    }
}

#[test]
fn the_tool_job_converts_an_uploaded_capture_and_the_pair_imports_as_scenarios() {
    let (_dir, pcap, _) = capture_call("p2s-api", "u1", &["-sn", "uas"], &["-sn", "uac"]);
    let m = Master::start("p2s-api-master");
    let tk = m.admin_token();
    let tk = tk.as_str();
    let bytes = std::fs::read(&pcap).unwrap();
    let r = m.req("POST", "/api/v2/media/pcap/call", Some(tk), Some(&bytes));
    assert!(r.status == 200 || r.status == 201, "{}", r.text());
    let tools = m.get("/api/v2/tools", Some(tk)).json();
    let tool = tools["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == "pcap2scenario")
        .unwrap()
        .clone();
    assert_eq!(tool["available"], true, "{tool}");

    // Paths outside the media library and the job's own folder are refused; nothing runs.
    for (args, names) in [
        (json!({"pcap": "../settings.sqlite"}), "pcap"),
        (json!({"pcap": "/etc/passwd"}), "pcap"),
        (json!({"pcap": "media/wav/x.wav"}), "pcap"),
        (json!({"pcap": "artifacts/jobs/other/x.pcap"}), "pcap"),
        (
            json!({"pcap": "call", "out_dir": "../../scenarios"}),
            "out_dir",
        ),
        (json!({"pcap": "call", "sip_port": 70000}), "sip_port"),
        (
            json!({"pcap": "call", "pcap_link": "token-ring"}),
            "pcap_link",
        ),
    ] {
        let r = m.json(
            "POST",
            "/api/v2/tools/pcap2scenario/run",
            Some(tk),
            &json!({ "args": args }),
        );
        assert_eq!(r.status, 400, "{args}: {}", r.text());
        assert!(r.text().contains(names), "{args}: {}", r.text());
    }

    let r = m.json(
        "POST",
        "/api/v2/tools/pcap2scenario/run",
        Some(tk),
        &json!({"id": "p2s", "args": {"pcap": "media/pcap/call.pcap"}}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let j = wait_job(&m, tk, "p2s", Duration::from_secs(30), finished);
    assert_eq!(j["status"], "succeeded", "{j}");
    let detail = m.get("/api/v2/jobs/p2s", Some(tk)).json();
    let kinds: Vec<&str> = detail["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["kind"].as_str().unwrap())
        .collect();
    for k in ["scenario_uac", "scenario_uas"] {
        assert!(kinds.contains(&k), "{kinds:?}");
    }
    let uac = m.get("/api/v2/jobs/p2s/artifacts/scenario_uac", Some(tk));
    assert_eq!(uac.status, 200);
    assert!(uac.text().contains("[call_id]"), "{}", uac.text());
    assert!(
        m.data_dir
            .join("artifacts/jobs/p2s/scenarios/scenario_uas.xml")
            .is_file()
    );

    // Import: both roles, the UAS id defaulting to <id>_uas.
    let r = m.json(
        "POST",
        "/api/v2/scenarios/import-from-pcap-job",
        Some(tk),
        &json!({"job_id": "p2s", "which": "both", "scenario_id": "from-pcap"}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let body = r.json();
    assert_eq!(body["job_id"], "p2s");
    assert_eq!(body["out_dir"], "artifacts/jobs/p2s/scenarios");
    let imported: Vec<(String, String, String)> = body["imported"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["id"].as_str().unwrap().to_string(),
                i["role"].as_str().unwrap().to_string(),
                i["file"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        imported,
        [
            (
                "from-pcap".to_string(),
                "uac".to_string(),
                "artifacts/jobs/p2s/scenarios/scenario_uac.xml".to_string()
            ),
            (
                "from-pcap_uas".to_string(),
                "uas".to_string(),
                "artifacts/jobs/p2s/scenarios/scenario_uas.xml".to_string()
            ),
        ]
    );
    for id in ["from-pcap", "from-pcap_uas"] {
        let s = m.get(&format!("/api/v2/scenarios/{id}"), Some(tk));
        assert_eq!(s.status, 200, "{}", s.text());
        let xml = s.json()["xml"].as_str().unwrap().to_string();
        let check = m.json(
            "POST",
            "/api/v2/scenarios/check",
            Some(tk),
            &json!({"xml": xml}),
        );
        assert_eq!(check.status, 200, "{id}: {}", check.text());
    }
    // Importing again: the ids are taken.
    let r = m.json(
        "POST",
        "/api/v2/scenarios/import-from-pcap-job",
        Some(tk),
        &json!({"job_id": "p2s", "scenario_id": "from-pcap"}),
    );
    assert_eq!(r.status, 409, "{}", r.text());

    // A capture without SIP (the upload checks it is a capture): the job fails saying
    // why, and cannot be imported.
    let r = m.req(
        "POST",
        "/api/v2/media/pcap/junk",
        Some(tk),
        Some(&api_support::pcap_bytes()),
    );
    assert!(r.status == 200 || r.status == 201, "{}", r.text());
    let r = m.json(
        "POST",
        "/api/v2/tools/pcap2scenario/run",
        Some(tk),
        &json!({"id": "p2s-junk", "args": {"pcap": "junk"}}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let j = wait_job(&m, tk, "p2s-junk", Duration::from_secs(30), finished);
    assert_eq!(j["status"], "failed", "{j}");
    assert!(
        j["error"]
            .as_str()
            .unwrap()
            .contains("no SIP message found"),
        "{j}"
    );
    let r = m.json(
        "POST",
        "/api/v2/scenarios/import-from-pcap-job",
        Some(tk),
        &json!({"job_id": "p2s-junk", "scenario_id": "junk"}),
    );
    assert_eq!(r.status, 409, "{}", r.text());
    assert!(r.text().contains("has not succeeded"), "{}", r.text());
    // A job of another kind, and an unknown one.
    let r = m.json(
        "POST",
        "/api/v2/tools/report-html/run",
        Some(tk),
        &json!({"id": "html", "args": {"in": "p2s"}}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    wait_job(&m, tk, "html", Duration::from_secs(30), finished);
    let r = m.json(
        "POST",
        "/api/v2/scenarios/import-from-pcap-job",
        Some(tk),
        &json!({"job_id": "html", "scenario_id": "x"}),
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(
        r.text().contains("not a pcap2scenario tool job"),
        "{}",
        r.text()
    );
    let r = m.json(
        "POST",
        "/api/v2/scenarios/import-from-pcap-job",
        Some(tk),
        &json!({"job_id": "nope", "scenario_id": "x"}),
    );
    assert_eq!(r.status, 404, "{}", r.text());
}
