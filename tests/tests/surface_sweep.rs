//! The sweep of the whole surface (issue #19 item 7): nothing is accepted and then ignored
//! or refused later. Table-driven, against the real binary, SIPp and a real master:
//!
//! - **Flags**: every flag line `gossipper -h` prints, by its section. A flag of a working
//!   section is recognised with the arity its placeholders say (`-FLAG 1 … -sd uac`
//!   dumps, exit 99) and has a case in the unit table of resolved effects
//!   (`FLAG_CASES` in `master/src/sipp/tests.rs`, which `every_table_flag_has_a_case`
//!   and `every_flag_line_of_the_help_is_a_table_flag_with_its_placeholders` tie to the
//!   flag table); each "no effect" flag prints its warning when given; each rejected one
//!   exits 255 at once saying it is not supported, as do the unsupported `-t` modes.
//!   `gossipper server -h`'s own flags work there and are refused by the root naming
//!   the server.
//! - **Tools**: every entry of `GET /api/v2/tools`. An available one runs its
//!   `example_args` (adapted: a real job for `JOB_ID`, a capture uploaded as
//!   `media/pcap/call.pcap`, a socket of the test for `rtp_addr`, 300 ms) to a succeeded
//!   job with an artifact; an unavailable one answers 400 with its reason and makes no
//!   job. A second master without Chromium makes `summary-to-pdf` take that path.
//! - **Built-ins**: every name of the catalogue (`-sd`'s list). Each client built-in
//!   places one call to SIPp's or our matching server, each server built-in answers one,
//!   each side exiting 0 with one successful call and none failed; the 3PCC four run as
//!   one twin run, the WebRTC pair against each other, and `ooc_default`/`ooc_dummy`
//!   (run as `-sn` scenarios, `-oocsn` being refused) answer a request sent by the test.
//!   A catalogue name missing from the table fails the test.
//!
//! Every process is bounded (`-m 1`, `-timeout 60s`, waits with limits); traffic stays on
//! 127.0.0.1.

#![allow(clippy::unwrap_used)] // helpers outside #[test] fns: a failed unwrap is a failed test

mod api_support;
mod jobs_support;

use std::collections::BTreeSet;
use std::net::UdpSocket;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use api_support::Master;
use gossipper_e2e::{
    Proc, Sock, StatCsv, finish_pair, free_port, free_port_block, gossipper_bin, output, peer_args,
    scratch_dir, sipp_bin, tail,
};
use jobs_support::*;
use serde_json::{Value, json};

// ------------------------------------------------------------------------------------
// Flags

const IGNORED: &str = "Accepted for SIPp compatibility, no effect in gossipper";
const REJECTED: &str = "SIPp options gossipper does not support (rejected)";

/// One flag line of `-h`: its section, name (no dash) and placeholders.
struct HelpFlag {
    section: String,
    name: String,
    values: Vec<String>,
}

/// The flag lines of a `-h` text: the placeholders are the words before the first
/// double space (the help text starts there; a wide flag column has a line of its own).
fn help_flags(text: &str) -> Vec<HelpFlag> {
    let mut section = None;
    let mut out = Vec::new();
    for line in text.lines() {
        if let Some(title) = line.strip_prefix("*** ") {
            section = Some(title.trim_end_matches(':').to_string());
            continue;
        }
        let (Some(section), Some(rest)) = (&section, line.strip_prefix("   -")) else {
            continue;
        };
        let left = rest.split("  ").next().unwrap_or_default();
        let mut words = left.split_whitespace();
        out.push(HelpFlag {
            section: section.clone(),
            name: words.next().unwrap_or_default().to_string(),
            values: words.map(str::to_string).collect(),
        });
    }
    out
}

fn gossipper(args: &[&str]) -> (Option<i32>, String, String) {
    let out = output(Command::new(gossipper_bin()).args(args));
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn every_flag_of_the_help_is_recognised_warned_about_or_refused() {
    let (code, help, _) = gossipper(&["-h"]);
    assert_eq!(code, Some(0));
    let flags = help_flags(&help);
    assert!(flags.len() > 150, "{} flag lines in -h", flags.len());
    let cases = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../master/src/sipp/tests.rs"),
    )
    .unwrap();
    let dir = scratch_dir("sweep-flags");
    let profile = dir.join("profile.json");
    std::fs::write(&profile, r#"{"aliases": {"one": {"rate": 7}}}"#).unwrap();
    let profile = profile.to_str().unwrap();
    let mut checked = BTreeSet::new();
    for f in &flags {
        let dashed = format!("-{}", f.name);
        let mut args: Vec<&str> = vec![&dashed];
        args.extend(f.values.iter().map(|_| "1"));
        let what = format!("{dashed} ({})", f.section);
        match (f.section.as_str(), f.name.as_str()) {
            (IGNORED, _) => {
                // The warning comes before anything runs (the unknown built-in stops it).
                args.extend(["-sn", "no-such-builtin"]);
                let (code, _, err) = gossipper(&args);
                assert_eq!(code, Some(255), "{what}: {err}");
                assert!(
                    err.contains(&format!(
                        "gossipper: {dashed} has no effect in gossipper (accepted for SIPp compatibility)"
                    )),
                    "{what} warns: {err}"
                );
            }
            (REJECTED, _) => {
                let (code, _, err) = gossipper(&args);
                assert_eq!(code, Some(255), "{what}: {err}");
                assert!(
                    err.starts_with(&format!("gossipper: {dashed}: "))
                        && err.contains("is not supported by gossipper"),
                    "{what} refused by name: {err}"
                );
            }
            (_, "h" | "help") => {
                let (code, out, _) = gossipper(&[&dashed]);
                assert_eq!((code, out.as_str()), (Some(0), help.as_str()), "{what}");
            }
            (_, "v" | "version") => {
                let (code, out, _) = gossipper(&[&dashed]);
                assert_eq!(code, Some(99), "{what}");
                assert!(out.starts_with("gossipper "), "{what}: {out}");
            }
            (_, "sd") => {
                let (code, out, _) = gossipper(&["-sd", "uac"]);
                assert_eq!(code, Some(99), "{what}");
                assert!(out.contains("<scenario"), "{what}: {out}");
            }
            // Read before the rest of the command line (the run profile): their own
            // behaviour, on a profile file of one alias.
            (_, "config" | "list-aliases") => {
                let (code, out, err) = gossipper(&["-config", profile, "-list-aliases"]);
                assert_eq!((code, out.trim()), (Some(0), "one"), "{what}: {err}");
            }
            (_, "run-alias") => {
                let (code, _, err) = gossipper(&["-config", profile, "-run-alias", "two"]);
                assert_eq!(code, Some(255), "{what}");
                assert!(
                    err.contains("-run-alias two: no such alias"),
                    "{what}: {err}"
                );
            }
            _ => {
                args.extend(["-sd", "uac"]);
                let (code, out, err) = gossipper(&args);
                assert_eq!(
                    code,
                    Some(99),
                    "{what} is recognised with {} value(s): {err}",
                    f.values.len()
                );
                assert!(out.contains("<scenario"), "{what}");
                assert!(
                    cases.contains(&format!("\"{dashed}\"")),
                    "{what} has no case in FLAG_CASES (master/src/sipp/tests.rs) checking its effect"
                );
            }
        }
        assert!(checked.insert(f.name.clone()), "-{} listed twice", f.name);
    }
    for section in [IGNORED, REJECTED] {
        assert!(
            flags.iter().any(|f| f.section == section),
            "no flag under {section}"
        );
    }
    // The transports -t names as unsupported say so at start.
    for (mode, what) in [
        ("s1", "SCTP"),
        ("sn", "SCTP"),
        ("c1", "SigComp"),
        ("cn", "SigComp"),
    ] {
        let (code, _, err) = gossipper(&["-t", mode, "127.0.0.1:5060", "-m", "1"]);
        assert_eq!(code, Some(255), "-t {mode}: {err}");
        assert!(
            err.contains("-t: ") && err.contains(what) && err.contains("not supported"),
            "-t {mode}: {err}"
        );
    }
}

/// `gossipper server -h`: the root's flags plus its own section. Each flag of that
/// section works on the server (its effect: `server_v1.rs`, `server_v2.rs`) and is
/// refused by the root, naming the server.
#[test]
fn every_server_only_flag_is_refused_by_the_root_naming_the_server() {
    let (code, root_help, _) = gossipper(&["-h"]);
    assert_eq!(code, Some(0));
    let (code, help, _) = gossipper(&["server", "-h"]);
    assert_eq!(code, Some(0));
    let root: BTreeSet<String> = help_flags(&root_help).into_iter().map(|f| f.name).collect();
    let server = help_flags(&help);
    let own: Vec<&HelpFlag> = server
        .iter()
        .filter(|f| f.section.starts_with("Server mode"))
        .collect();
    assert!(own.len() >= 2, "the server's own section");
    for f in &server {
        assert!(
            f.section.starts_with("Server mode") || root.contains(&f.name),
            "-{} is in server -h but not in -h",
            f.name
        );
    }
    for f in own {
        let dashed = format!("-{}", f.name);
        let mut args: Vec<&str> = vec![&dashed];
        args.extend(f.values.iter().map(|_| "1"));
        args.extend(["127.0.0.1", "-m", "1"]);
        let (code, _, err) = gossipper(&args);
        assert_eq!(code, Some(255), "{dashed}: {err}");
        assert!(
            err.contains(&format!("{dashed} is a flag of gossipper server")),
            "{dashed}: {err}"
        );
    }
}

// ------------------------------------------------------------------------------------
// Tools

/// A SIP call as raw-IP frames (LINKTYPE_RAW): INVITE, 200, ACK, BYE, 200 between
/// 127.0.0.1:5061 and 127.0.0.1:5060, a classic little-endian pcap.
fn sip_capture() -> Vec<u8> {
    let (caller, callee) = (5061u16, 5060u16);
    // Responses carry the request's Via (the caller's); each transaction its branch.
    let head = |first: &str, from_caller: bool, cseq: &str, to_tag: bool| {
        format!(
            "{first}\r\nVia: SIP/2.0/UDP 127.0.0.1:{caller};branch=z9hG4bK-sweep-{}\r\n\
             From: <sip:alice@127.0.0.1:{caller}>;tag=a1\r\n\
             To: <sip:service@127.0.0.1:{callee}>{}\r\nCall-ID: sweep-call-1\r\n\
             CSeq: {cseq}\r\nContact: <sip:x@127.0.0.1:{}>\r\nMax-Forwards: 70\r\n\
             Content-Length: 0\r\n\r\n",
            cseq.replace(' ', "-"),
            if to_tag { ";tag=b1" } else { "" },
            if from_caller { caller } else { callee },
        )
    };
    let msgs = [
        (
            true,
            head(
                "INVITE sip:service@127.0.0.1:5060 SIP/2.0",
                true,
                "1 INVITE",
                false,
            ),
        ),
        (false, head("SIP/2.0 200 OK", false, "1 INVITE", true)),
        (
            true,
            head("ACK sip:x@127.0.0.1:5060 SIP/2.0", true, "1 ACK", true),
        ),
        (
            true,
            head("BYE sip:x@127.0.0.1:5060 SIP/2.0", true, "2 BYE", true),
        ),
        (false, head("SIP/2.0 200 OK", false, "2 BYE", true)),
    ];
    let mut out = Vec::new();
    out.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&[0; 8]);
    out.extend_from_slice(&65_535u32.to_le_bytes());
    out.extend_from_slice(&101u32.to_le_bytes());
    for (i, (from_caller, sip)) in msgs.iter().enumerate() {
        let (sport, dport) = if *from_caller {
            (caller, callee)
        } else {
            (callee, caller)
        };
        let udp_len = 8 + sip.len();
        let ip_len = 20 + udp_len;
        let mut frame = vec![
            0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 17, 0, 0, 127, 0, 0, 1, 127, 0, 0, 1,
        ];
        frame[2..4].copy_from_slice(&(ip_len as u16).to_be_bytes());
        frame.extend_from_slice(&sport.to_be_bytes());
        frame.extend_from_slice(&dport.to_be_bytes());
        frame.extend_from_slice(&(udp_len as u16).to_be_bytes());
        frame.extend_from_slice(&[0, 0]);
        frame.extend_from_slice(sip.as_bytes());
        out.extend_from_slice(&1_700_000_000u32.to_le_bytes());
        out.extend_from_slice(&(i as u32 * 10_000).to_le_bytes());
        out.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        out.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        out.extend_from_slice(&frame);
    }
    out
}

/// What each tool needs from the test to run its `example_args`.
struct ToolBed {
    /// A finished job (its summary.json, and the users.csv the test writes there).
    job: String,
    /// Where `rtp_send` sends.
    rtp: UdpSocket,
}

/// A tool's `example_args`, adapted to what exists in the master's data dir. A tool not
/// named here fails the sweep: a new tool needs its adaptation.
fn adapt(id: &str, example: &Value, bed: &ToolBed) -> Value {
    let mut args = example.as_object().unwrap().clone();
    for v in args.values_mut() {
        if let Some(s) = v.as_str() {
            *v = json!(s.replace("JOB_ID", &bed.job));
        }
    }
    match id {
        "report-html" | "summary-to-pdf" | "infindex" | "pcap2scenario" => {}
        "rtp_send" => {
            args.insert(
                "rtp_addr".into(),
                json!(bed.rtp.local_addr().unwrap().to_string()),
            );
            args.insert("duration_ms".into(), json!(300));
        }
        other => panic!("tool {other}: the sweep does not know how to run it; add it to adapt()"),
    }
    Value::Object(args)
}

/// A finished client job of 3 calls against a server job of the same master.
fn finished_job(m: &Master, tk: &str) -> String {
    let port = free_udp_port();
    server_profile(m, tk, "uas1", port);
    let r = m.json(
        "POST",
        "/api/v2/servers/uas1/start",
        Some(tk),
        &json!({"engine": {"shards": 1}}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let server = r.json()["id"].as_str().unwrap().to_string();
    wait_job(m, tk, &server, Duration::from_secs(30), running);
    wait_stats_line(m, &server);
    client_profile(m, tk, "uac1", port, 50.0);
    let r = m.json(
        "POST",
        "/api/v2/jobs",
        Some(tk),
        &json!({"profile_id": "uac1", "profile_kind": "client",
                "engine": {"total_calls": 3, "rate": 50, "shards": 1}}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let client = r.json()["id"].as_str().unwrap().to_string();
    let j = wait_job(m, tk, &client, Duration::from_secs(60), finished);
    assert_eq!(j["status"], "succeeded", "{j}");
    let r = m.req(
        "POST",
        &format!("/api/v2/jobs/{server}/stop"),
        Some(tk),
        None,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    wait_job(m, tk, &server, Duration::from_secs(20), finished);
    client
}

/// Runs every tool of the master's catalogue as the module doc says; returns the ids
/// that ran and those refused.
fn sweep_tools(m: &Master) -> (Vec<String>, Vec<String>) {
    let tk = m.admin_token();
    let tk = tk.as_str();
    let job = finished_job(m, tk);
    std::fs::write(
        m.data_dir.join(format!("artifacts/jobs/{job}/users.csv")),
        "SEQUENTIAL\nalice;1001\nbob;1002\n",
    )
    .unwrap();
    let r = m.req(
        "POST",
        "/api/v2/media/pcap/call",
        Some(tk),
        Some(&sip_capture()),
    );
    assert!(r.status == 200 || r.status == 201, "{}", r.text());
    let rtp = UdpSocket::bind("127.0.0.1:0").unwrap();
    rtp.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let bed = ToolBed { job, rtp };
    let tools = m.get("/api/v2/tools", Some(tk)).json();
    let (mut ran, mut refused) = (Vec::new(), Vec::new());
    for t in tools["tools"].as_array().unwrap() {
        let id = t["id"].as_str().unwrap();
        let args = adapt(id, &t["example_args"], &bed);
        let jobs_before = m.get("/api/v2/jobs", Some(tk)).json();
        let r = m.json(
            "POST",
            &format!("/api/v2/tools/{id}/run"),
            Some(tk),
            &json!({ "args": args }),
        );
        if t["available"] == false {
            let reason = t["reason"].as_str().unwrap_or_default();
            assert!(
                !reason.is_empty(),
                "{id}: unavailable without a reason: {t}"
            );
            assert_eq!(r.status, 400, "{id}: {}", r.text());
            assert_eq!(
                r.error(),
                format!("tool \"{id}\" cannot run on this machine: {reason}")
            );
            assert_eq!(
                m.get("/api/v2/jobs", Some(tk)).json(),
                jobs_before,
                "{id}: no job was made"
            );
            refused.push(id.to_string());
            continue;
        }
        assert_eq!(t["available"], true, "{t}");
        assert_eq!(r.status, 201, "{id} {args}: {}", r.text());
        let job_id = r.json()["job"]["id"].as_str().unwrap().to_string();
        let j = wait_job(m, tk, &job_id, Duration::from_secs(120), finished);
        assert_eq!(j["status"], "succeeded", "{id} {args}: {j}");
        let detail = m.get(&format!("/api/v2/jobs/{job_id}"), Some(tk)).json();
        let artifacts = detail["artifacts"].as_array().cloned().unwrap_or_default();
        assert!(
            !artifacts.is_empty(),
            "{id}: the job wrote what it is for: {detail}"
        );
        if id == "rtp_send" {
            let mut buf = [0u8; 2048];
            let n = bed
                .rtp
                .recv(&mut buf)
                .expect("rtp_send's packets reach the test");
            assert_eq!(n, 12 + 160, "a 20 ms G.711 packet");
            while bed.rtp.recv(&mut buf).is_ok() {}
        }
        ran.push(id.to_string());
    }
    (ran, refused)
}

#[test]
fn every_tool_runs_its_example_or_is_refused_with_its_reason() {
    let all: BTreeSet<&str> = [
        "report-html",
        "pcap2scenario",
        "summary-to-pdf",
        "rtp_send",
        "infindex",
    ]
    .into();
    let m = Master::start("sweep-tools");
    let (ran, refused) = sweep_tools(&m);
    let seen: BTreeSet<&str> = ran.iter().chain(&refused).map(String::as_str).collect();
    assert_eq!(seen, all, "the catalogue");
    drop(m);
    // Without Chromium: summary-to-pdf is refused with its reason, the others still run.
    let m = Master::start_with(
        "sweep-tools-nochrome",
        &[],
        &[("CHROMIUM", "/nonexistent/chromium")],
    );
    let (ran, refused) = sweep_tools(&m);
    assert_eq!(refused, ["summary-to-pdf"], "ran: {ran:?}");
    assert_eq!(ran.len(), all.len() - 1, "{ran:?}");
}

// ------------------------------------------------------------------------------------
// Built-ins

/// Who plays the other side of a built-in.
#[derive(Clone, Copy, Debug)]
enum Peer {
    Sipp(&'static str),
    Ours(&'static str),
}

/// How the sweep runs one built-in.
#[derive(Clone, Copy, Debug)]
enum How {
    /// Ours places one call to the peer's server.
    Client(Peer),
    /// Ours answers one call of the peer's client.
    Server(Peer),
    /// The four 3PCC built-ins, ours, in one twin run (SIPp's pairing).
    ThreePcc,
    /// Ours as `-sn` answers one request the test sends (method, whether a 200 comes
    /// back): the out-of-call built-ins, `-oocsn` being refused.
    Request(&'static str, bool),
}

/// Every built-in of the catalogue and how it runs.
const BUILTINS: &[(&str, How)] = &[
    ("uac", How::Client(Peer::Sipp("uas"))),
    ("regexp", How::Client(Peer::Sipp("uas"))),
    ("branchc", How::Client(Peer::Sipp("branchs"))),
    ("uac_pcap", How::Client(Peer::Sipp("uas"))),
    ("webrtc_uac", How::Client(Peer::Ours("webrtc_uas"))),
    ("uas", How::Server(Peer::Sipp("uac"))),
    ("branchs", How::Server(Peer::Sipp("branchc"))),
    ("webrtc_uas", How::Server(Peer::Ours("webrtc_uac"))),
    ("3pcc-C-A", How::ThreePcc),
    ("3pcc-C-B", How::ThreePcc),
    ("3pcc-A", How::ThreePcc),
    ("3pcc-B", How::ThreePcc),
    ("ooc_default", How::Request("MESSAGE", true)),
    ("ooc_dummy", How::Request("DUMMY", false)),
];

/// One process of a built-in run: `bin` in `dir` on `port`, one call, a media port of
/// its own, its statistics CSV.
fn side(
    name: &str,
    bin: &Path,
    dir: &Path,
    port: u16,
    args: &[String],
) -> (Proc, std::path::PathBuf) {
    let csv = dir.join(format!("{name}.csv"));
    let mut cmd = Command::new(bin);
    cmd.current_dir(dir)
        .args(args)
        .args(["-i", "127.0.0.1", "-p", &port.to_string(), "-m", "1"])
        .args(["-mp", &free_port_block(16).to_string()]);
    peer_args(&mut cmd, &csv);
    (
        Proc::spawn(&format!("{name} ({})", bin.display()), &mut cmd),
        csv,
    )
}

fn peer_bin(p: Peer) -> (std::path::PathBuf, &'static str) {
    match p {
        Peer::Sipp(s) => (sipp_bin(), s),
        Peer::Ours(s) => (gossipper_bin(), s),
    }
}

fn strings(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| s.to_string()).collect()
}

/// Server `(bin, scenario)` bound first, then client `(bin, scenario)`; one call each.
fn pair(name: &str, server: (&Path, &str), client: (&Path, &str)) {
    let dir = scratch_dir(&format!("sweep-{name}"));
    let sport = free_port();
    let (mut s, s_csv) = side(
        "server",
        server.0,
        &dir,
        sport,
        &strings(&["-sn", server.1]),
    );
    s.wait_bound(Sock::Udp, sport);
    let (c, c_csv) = side(
        "client",
        client.0,
        &dir,
        free_port(),
        &strings(&["-sn", client.1, &format!("127.0.0.1:{sport}"), "-r", "10"]),
    );
    finish_pair(name, c, s, &c_csv, &s_csv, 1, Duration::from_secs(60));
}

fn three_pcc() {
    let dir = scratch_dir("sweep-3pcc");
    let bin = gossipper_bin();
    let mut sides = Vec::new();
    let mut leg = |name: &str, scenario: &str| {
        let port = free_port();
        let (mut p, csv) = side(name, &bin, &dir, port, &strings(&["-sn", scenario]));
        p.wait_bound(Sock::Udp, port);
        sides.push((name.to_string(), p, csv));
        port
    };
    let a_port = leg("leg-a", "3pcc-A");
    let b_port = leg("leg-b", "3pcc-B");
    let twin = format!("127.0.0.1:{}", free_port());
    let twin_port: u16 = twin.rsplit(':').next().unwrap().parse().unwrap();
    let (mut cb, cb_csv) = side(
        "controller-b",
        &bin,
        &dir,
        free_port(),
        &strings(&[
            "-sn",
            "3pcc-C-B",
            &format!("127.0.0.1:{b_port}"),
            "-3pcc",
            &twin,
        ]),
    );
    cb.wait_bound(Sock::TcpListen, twin_port);
    let (ca, ca_csv) = side(
        "controller-a",
        &bin,
        &dir,
        free_port(),
        &strings(&[
            "-sn",
            "3pcc-C-A",
            &format!("127.0.0.1:{a_port}"),
            "-3pcc",
            &twin,
            "-r",
            "10",
        ]),
    );
    sides.insert(0, ("controller-b".into(), cb, cb_csv));
    sides.insert(0, ("controller-a".into(), ca, ca_csv));
    for (name, p, csv) in sides {
        let (status, out, err) = p.wait(Duration::from_secs(60));
        assert_eq!(
            status.code(),
            Some(0),
            "3pcc {name}\n{}\n{}",
            tail(&out),
            tail(&err)
        );
        let c = StatCsv::read(&csv);
        assert_eq!(
            (c.last("SuccessfulCall(C)"), c.last("FailedCall(C)")),
            (1, 0),
            "3pcc {name}"
        );
    }
}

/// Ours runs `scenario` for one call, started by a `method` request the test sends;
/// `answered`: whether it answers 200.
fn request(scenario: &str, method: &str, answered: bool) {
    let dir = scratch_dir(&format!("sweep-{scenario}"));
    let port = free_port();
    let (mut p, csv) = side(
        scenario,
        &gossipper_bin(),
        &dir,
        port,
        &strings(&["-sn", scenario]),
    );
    p.wait_bound(Sock::Udp, port);
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let me = sock.local_addr().unwrap();
    let msg = format!(
        "{method} sip:service@127.0.0.1:{port} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {me};branch=z9hG4bK-sweep-{scenario}\r\n\
         From: <sip:sweep@{me}>;tag=sw1\r\nTo: <sip:service@127.0.0.1:{port}>\r\n\
         Call-ID: sweep-{scenario}@127.0.0.1\r\nCSeq: 1 {method}\r\nMax-Forwards: 70\r\n\
         Content-Length: 0\r\n\r\n"
    );
    sock.send_to(msg.as_bytes(), ("127.0.0.1", port)).unwrap();
    let mut buf = [0u8; 4096];
    let got = sock
        .recv(&mut buf)
        .ok()
        .map(|n| String::from_utf8_lossy(&buf[..n]).into_owned());
    if answered {
        let got = got.unwrap_or_default();
        assert!(
            got.starts_with("SIP/2.0 200 OK") && got.contains(&format!("CSeq: 1 {method}")),
            "{scenario} answers {method}: {got}"
        );
    } else {
        assert_eq!(got, None, "{scenario} sends nothing back");
    }
    let (status, out, err) = p.wait(Duration::from_secs(30));
    assert_eq!(
        status.code(),
        Some(0),
        "{scenario}\n{}\n{}",
        tail(&out),
        tail(&err)
    );
    let c = StatCsv::read(&csv);
    assert_eq!(
        (c.last("SuccessfulCall(C)"), c.last("FailedCall(C)")),
        (1, 0),
        "{scenario}"
    );
}

#[test]
fn every_builtin_places_or_answers_one_call() {
    let (_, _, err) = gossipper(&["-sd", "no-such-builtin"]);
    let listed: BTreeSet<&str> = err
        .split("the built-in scenarios are: ")
        .nth(1)
        .unwrap_or_else(|| panic!("{err}"))
        .trim()
        .split(", ")
        .collect();
    let table: BTreeSet<&str> = BUILTINS.iter().map(|(n, _)| *n).collect();
    assert_eq!(listed, table, "every built-in of the catalogue is swept");
    let ours = gossipper_bin();
    let mut three_pcc_done = false;
    for (name, how) in BUILTINS {
        match *how {
            How::Client(peer) => {
                let (bin, scenario) = peer_bin(peer);
                pair(name, (&bin, scenario), (&ours, name));
            }
            How::Server(peer) => {
                let (bin, scenario) = peer_bin(peer);
                pair(name, (&ours, name), (&bin, scenario));
            }
            How::ThreePcc => {
                if !three_pcc_done {
                    three_pcc();
                    three_pcc_done = true;
                }
            }
            How::Request(method, answered) => request(name, method, answered),
        }
    }
}
