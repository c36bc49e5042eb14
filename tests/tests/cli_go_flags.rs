//! The Go gossipper's command-line flags (issue #19), each checked by its effect through
//! the real binary against a real peer: `-timeout_global`, `-pause_ms`,
//! `-recv_timeout_ms`, `-stat_period`, `-summary_html`, `-sip_from`/`-sip_pai`/
//! `-sip_provider`/`-sip_extra_header` (seen by a SIPp UAS), `-tls_skip_verify`, and `worker --quiet`.

use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use gossipper_e2e::{Proc, Sock, free_port, gossipper_bin, run, scratch_dir, sipp_server, tail};
use gossipper_engine::transport::tls::self_signed;

/// SIPp's built-in UAS on a free port, answering every call, for at most 60 s.
fn sipp_uas(dir: &Path, extra: &[&str]) -> (Proc, u16) {
    sipp_server("sipp uas", dir, "60s", &[&["-sn", "uas"], extra].concat())
}

/// Our client against `127.0.0.1:port` with `args`, no keyboard, a free control port.
fn client(dir: &Path, port: u16, args: &[&str]) -> Command {
    let mut cmd = Command::new(gossipper_bin());
    cmd.current_dir(dir)
        .arg(format!("127.0.0.1:{port}"))
        .args([
            "-i",
            "127.0.0.1",
            "-nostdin",
            "-cp",
            &free_port().to_string(),
        ])
        .args(args);
    cmd
}

fn json(path: &Path) -> serde_json::Value {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn timeout_global_ends_a_longer_run_with_sipps_timeout_exit_codes() {
    let dir = scratch_dir("go-timeout-global");
    let (_uas, port) = sipp_uas(&dir, &[]);
    // 1000 calls at 5 calls/s would take 200 s; -timeout_global 2 stops new calls after
    // 2 s and lets the open ones finish, as SIPp's -timeout does: exit 0, none failed.
    let started = Instant::now();
    let (status, out, err) = run(
        "timeout_global",
        client(&dir, port, &["-sn", "uac", "-m", "1000", "-r", "5"]).args([
            "-timeout_global",
            "2",
            "-summary_json",
            "s.json",
        ]),
        Duration::from_secs(40),
    );
    let took = started.elapsed();
    assert_eq!(status.code(), Some(0), "{}\n{}", tail(&out), tail(&err));
    assert!(took < Duration::from_secs(10), "took {took:?}");
    let s = json(&dir.join("s.json"));
    let total = s["total_calls"].as_u64().unwrap();
    assert!(
        (5..=20).contains(&total),
        "{total} calls in about 2 s at 5/s"
    );
    assert_eq!(s["failed_calls"], 0, "{s}");
    // With -timeout_error, reaching it is fatal (255), as in SIPp.
    let (status, out, err) = run(
        "timeout_global with -timeout_error",
        client(&dir, port, &["-sn", "uac", "-m", "1000", "-r", "5"]).args([
            "-timeout_global",
            "1",
            "-timeout_error",
        ]),
        Duration::from_secs(40),
    );
    assert_eq!(status.code(), Some(255), "{}\n{}", tail(&out), tail(&err));
}

#[test]
fn pause_ms_is_the_length_of_a_pause_without_one() {
    let dir = scratch_dir("go-pause-ms");
    let (_uas, port) = sipp_uas(&dir, &[]);
    // The built-in uac holds each call with a bare <pause/> (SIPp's -d, default 0).
    let (status, out, err) = run(
        "pause_ms",
        client(&dir, port, &["-sn", "uac", "-m", "2", "-r", "10"]).args([
            "-pause_ms",
            "1200",
            "-summary_json",
            "s.json",
        ]),
        Duration::from_secs(40),
    );
    assert_eq!(status.code(), Some(0), "{}\n{}", tail(&out), tail(&err));
    let s = json(&dir.join("s.json"));
    assert_eq!(s["success_calls"], 2, "{s}");
    let held = s["average_call_latency_ms"].as_f64().unwrap();
    assert!((1200.0..3000.0).contains(&held), "calls lasted {held} ms");
}

#[test]
fn recv_timeout_ms_fails_a_call_left_unanswered() {
    let dir = scratch_dir("go-recv-timeout");
    // A peer that reads nothing and answers nothing.
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let started = Instant::now();
    let (status, out, err) = run(
        "recv_timeout_ms",
        client(&dir, port, &["-sn", "uac", "-m", "1"]).args([
            "-recv_timeout_ms",
            "400",
            "-summary_json",
            "s.json",
        ]),
        Duration::from_secs(40),
    );
    let took = started.elapsed();
    assert_eq!(status.code(), Some(1), "{}\n{}", tail(&out), tail(&err));
    // Without it the INVITE would retransmit for Timer B (32 s) before failing.
    assert!(took < Duration::from_secs(8), "took {took:?}");
    let s = json(&dir.join("s.json"));
    assert_eq!(s["sipp"]["FailedTimeoutOnRecv"], 1, "{s}");
}

/// SIPp's `-set name value`: the `<Global>` variable starts with that value in every call
/// (a SIPp UAS's trace shows it on each request); a name the scenario does not declare
/// `<Global>` is refused before any call.
#[test]
fn set_gives_a_global_variable_its_value_and_an_undeclared_name_is_refused() {
    let dir = scratch_dir("sipp-set");
    let (status, uac, err) = run(
        "-sd uac",
        &mut client(&dir, 9, &["-sd", "uac"]),
        Duration::from_secs(10),
    );
    assert_eq!(status.code(), Some(99), "{err}");
    let xml = uac
        .replacen(
            "<scenario name=\"Basic Sipstone UAC\">",
            "<scenario name=\"Basic Sipstone UAC\">\n<Global variables=\"who\"/>",
            1,
        )
        .replace(
            "    Max-Forwards: 70\n",
            "    Max-Forwards: 70\n    X-Who: [$who]\n",
        );
    assert_eq!(xml.matches("X-Who").count(), 3, "{xml}");
    std::fs::write(dir.join("uac_who.xml"), xml).unwrap();
    let trace = dir.join("uas_messages.log");
    let trace_arg = trace.display().to_string();
    let (uas, port) = sipp_uas(
        &dir,
        &["-m", "1", "-trace_msg", "-message_file", &trace_arg],
    );
    let (status, out, err) = run(
        "-set who",
        client(&dir, port, &["-sf", "uac_who.xml", "-m", "1"]).args(["-set", "who", "alice-7"]),
        Duration::from_secs(40),
    );
    assert_eq!(status.code(), Some(0), "{}\n{}", tail(&out), tail(&err));
    let (status, _, uerr) = uas.wait(Duration::from_secs(30));
    assert_eq!(status.code(), Some(0), "sipp uas: {}", tail(&uerr));
    let seen = std::fs::read_to_string(&trace).expect("SIPp's message trace");
    assert_eq!(seen.matches("X-Who: alice-7\r\n").count(), 3, "{seen}");
    let (status, _, err) = run(
        "-set undeclared",
        client(&dir, port, &["-sf", "uac_who.xml", "-m", "1"]).args(["-set", "whom", "x"]),
        Duration::from_secs(20),
    );
    assert_eq!(status.code(), Some(255), "{err}");
    assert!(
        err.contains("-set whom: ") && err.contains("(its globals: who)"),
        "{err}"
    );
}

/// Our built-in uas with `-recv_timeout 500ms` answers `sipp -sn uac -d 1500` (its BYE
/// comes 1.5 s after the ACK): the mandatory `recv BYE` times out and fails the call,
/// unless `-recv_bye_timeout_ms 4000` makes it wait at least that long.
fn uas_against_a_late_bye(name: &str, extra: &[&str]) -> (Option<i32>, serde_json::Value) {
    let dir = scratch_dir(name);
    let port = free_port();
    let mut ours = Command::new(gossipper_bin());
    ours.current_dir(&dir)
        .args(["-sn", "uas", "-i", "127.0.0.1", "-p", &port.to_string()])
        .args(["-m", "1", "-nostdin", "-cp", &free_port().to_string()])
        .args(["-recv_timeout", "500ms", "-timeout", "30s"])
        .args(["-summary_json", "s.json"])
        .args(extra);
    let mut server = Proc::spawn(name, &mut ours);
    server.wait_bound(Sock::Udp, port);
    let mut sipp = Command::new(gossipper_e2e::sipp_bin());
    sipp.current_dir(&dir)
        .arg(format!("127.0.0.1:{port}"))
        .args(["-sn", "uac", "-d", "1500", "-m", "1", "-i", "127.0.0.1"])
        .args([
            "-nostdin",
            "-timeout",
            "30s",
            "-cp",
            &free_port().to_string(),
        ]);
    let _client = Proc::spawn("sipp uac -d 1500", &mut sipp);
    let (status, out, err) = server.wait(Duration::from_secs(40));
    let s = json(&dir.join("s.json"));
    assert_eq!(s["total_calls"], 1, "{s}\n{}\n{}", tail(&out), tail(&err));
    (status.code(), s)
}

#[test]
fn recv_bye_timeout_ms_lets_a_mandatory_bye_wait_past_recv_timeout() {
    let (code, s) = uas_against_a_late_bye("go-recv-bye-none", &[]);
    assert_eq!(code, Some(1), "{s}");
    assert_eq!(s["sipp"]["FailedTimeoutOnRecv"], 1, "{s}");
    let (code, s) = uas_against_a_late_bye("go-recv-bye", &["-recv_bye_timeout_ms", "4000"]);
    assert_eq!(code, Some(0), "{s}");
    assert_eq!(s["success_calls"], 1, "{s}");
    assert_eq!(s["failed_calls"], 0, "{s}");
}

#[test]
fn stat_period_prints_a_summary_line_every_period_and_summary_html_writes_the_report() {
    let dir = scratch_dir("go-stat-period");
    let (_uas, port) = sipp_uas(&dir, &[]);
    let html = dir.join("report.html");
    let (status, out, err) = run(
        "stat_period",
        client(&dir, port, &["-sn", "uac", "-m", "12", "-r", "5"])
            .args(["-stat_period", "500ms", "-summary_html"])
            .arg(&html),
        Duration::from_secs(40),
    );
    assert_eq!(status.code(), Some(0), "{}\n{}", tail(&out), tail(&err));
    // About 2.4 s at one line per 0.5 s, calls counted up as they go.
    let created: Vec<u64> = err
        .lines()
        .filter(|l| l.starts_with("gossipper: ") && l.contains(" calls ("))
        .map(|l| {
            let after = l.split(" s: ").nth(1).unwrap_or_else(|| panic!("{l}"));
            after.split(' ').next().unwrap().parse().unwrap()
        })
        .collect();
    assert!(created.len() >= 3, "stat lines: {err}");
    assert!(created.windows(2).all(|w| w[0] <= w[1]), "{created:?}");
    assert!(*created.last().unwrap() >= 5, "{created:?}");
    // The report: one self-contained page with this run's numbers.
    let page = std::fs::read_to_string(&html).expect("report.html written");
    assert!(page.starts_with("<!DOCTYPE html>"), "{}", &page[..100]);
    assert!(page.contains("<b>12</b><span>calls created"), "{page}");
    assert!(page.contains("<b>12</b><span>succeeded"), "{page}");
    assert!(!page.contains("<script"), "no script in the report");
}

#[test]
fn sip_from_pai_and_provider_reach_a_sipp_uas() {
    let dir = scratch_dir("go-identity");
    let trace = dir.join("uas_messages.log");
    let trace_arg = trace.display().to_string();
    let (uas, port) = sipp_uas(
        &dir,
        &["-m", "2", "-trace_msg", "-message_file", &trace_arg],
    );
    let (status, out, err) = run(
        "sip identity",
        client(&dir, port, &["-sn", "uac", "-m", "2", "-r", "10"]).args([
            "-sip_from",
            "\"Trunk A\" <sip:+4930123@trunk.example>",
            "-sip_pai",
            "sip:+4930999@trunk.example",
            "-sip_provider",
            "acme-carrier",
            "-sip_extra_header",
            "X-Trunk-Group: tg7",
            "-sip_extra_header",
            "X-Billing:  b-42",
        ]),
        Duration::from_secs(40),
    );
    assert_eq!(status.code(), Some(0), "{}\n{}", tail(&out), tail(&err));
    let (status, _, uerr) = uas.wait(Duration::from_secs(30));
    assert_eq!(status.code(), Some(0), "sipp uas: {}", tail(&uerr));
    let seen = std::fs::read_to_string(&trace).expect("SIPp's message trace");
    let invites: Vec<&str> = seen
        .split("\nINVITE sip:")
        .skip(1)
        .map(|m| m.split("\r\n\r\n").next().unwrap_or(m))
        .collect();
    assert_eq!(invites.len(), 2, "{seen}");
    for inv in invites {
        assert!(
            inv.contains("From: \"Trunk A\" <sip:+4930123@trunk.example>;tag="),
            "{inv}"
        );
        assert!(
            inv.contains("P-Asserted-Identity: <sip:+4930999@trunk.example>"),
            "{inv}"
        );
        assert!(inv.contains("X-Provider: acme-carrier"), "{inv}");
        assert!(inv.contains("X-Trunk-Group: tg7\r\n"), "{inv}");
        assert!(inv.contains("X-Billing: b-42\r\n"), "{inv}");
    }
    // The BYE keeps the dialog's From (same tag) and carries no PAI.
    let bye = seen.split("\nBYE sip:").nth(1).expect("a BYE in the trace");
    let bye = bye.split("\r\n\r\n").next().unwrap_or(bye);
    assert!(
        bye.contains("From: \"Trunk A\" <sip:+4930123@trunk.example>;tag="),
        "{bye}"
    );
    assert!(!bye.contains("P-Asserted-Identity"), "{bye}");
    assert!(!bye.contains("X-Trunk-Group"), "{bye}");
}

/// A self-signed certificate for `names`, written as `<stem>-cert.pem` / `-key.pem`.
fn certificate(dir: &Path, stem: &str, names: &[&str]) -> (PathBuf, PathBuf) {
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let c = self_signed(&names).expect("a certificate");
    let cert = dir.join(format!("{stem}-cert.pem"));
    let key = dir.join(format!("{stem}-key.pem"));
    std::fs::write(&cert, c.cert_pem).expect("write the certificate");
    std::fs::write(&key, c.key_pem).expect("write the key");
    (cert, key)
}

#[test]
fn tls_skip_verify_accepts_a_certificate_that_verification_refuses() {
    let dir = scratch_dir("go-tls-skip-verify");
    // The server's certificate names another host: verification must refuse it.
    let (cert, key) = certificate(&dir, "server", &["sip.other.invalid"]);
    let port = free_port();
    let mut scmd = Command::new(gossipper_bin());
    scmd.current_dir(&dir)
        .args([
            "-sn",
            "uas",
            "-t",
            "l1",
            "-i",
            "127.0.0.1",
            "-p",
            &port.to_string(),
        ])
        .args([
            "-nostdin",
            "-timeout",
            "60s",
            "-cp",
            &free_port().to_string(),
        ])
        .arg("-tls_cert")
        .arg(&cert)
        .arg("-tls_key")
        .arg(&key);
    let mut server = Proc::spawn("tls uas", &mut scmd);
    server.wait_bound(Sock::TcpListen, port);

    let (status, out, err) = run(
        "tls_skip_verify",
        client(
            &dir,
            port,
            &["-sn", "uac", "-t", "l1", "-m", "3", "-r", "10"],
        )
        .args(["-tls_skip_verify", "-summary_json", "skip.json"]),
        Duration::from_secs(40),
    );
    assert_eq!(status.code(), Some(0), "{}\n{}", tail(&out), tail(&err));
    assert_eq!(json(&dir.join("skip.json"))["success_calls"], 3);

    // Insisting on verification against that same certificate: the name does not match,
    // the handshake is refused and no call goes through.
    let (status, out, err) = run(
        "tls_skip_verify=false",
        client(
            &dir,
            port,
            &["-sn", "uac", "-t", "l1", "-m", "2", "-r", "10"],
        )
        .args(["-tls_skip_verify=false", "-timeout", "10s"])
        .args(["-summary_json", "verify.json", "-tls_ca"])
        .arg(&cert),
        Duration::from_secs(60),
    );
    assert_ne!(status.code(), Some(0), "{}\n{}", tail(&out), tail(&err));
    let v = json(&dir.join("verify.json"));
    assert_eq!(v["success_calls"], 0, "{v}");
    assert!(
        v["transport"]["handshake_failures"].as_u64() > Some(0),
        "{v}"
    );
}

/// A hand-written worker spec placing `calls` calls against `port`.
fn worker_spec(dir: &Path, port: u16, id: &str) -> PathBuf {
    let spec = serde_json::json!({
        "kind": "gossipper_job_spec",
        "version": 1,
        "job_id": id,
        "artifacts_dir": dir.join(id),
        "stats_interval_ms": 200,
        "run": {"engine": {
            "scenario": {"builtin": "uac"},
            "remote": format!("127.0.0.1:{port}"),
            "local_ip": "127.0.0.1",
            "rate": 20,
            "max_calls": 3,
            "shards": 1
        }}
    });
    let path = dir.join(format!("{id}.json"));
    std::fs::write(&path, spec.to_string()).expect("write the spec");
    path
}

#[test]
fn worker_quiet_keeps_stderr_to_errors_and_stdout_unchanged() {
    let dir = scratch_dir("go-worker-quiet");
    let (_uas, port) = sipp_uas(&dir, &[]);
    let mut runs = Vec::new();
    for (id, quiet) in [("loud", false), ("quiet", true)] {
        let spec = worker_spec(&dir, port, id);
        let mut cmd = Command::new(gossipper_bin());
        cmd.arg("worker");
        if quiet {
            cmd.arg("--quiet");
        }
        cmd.arg("--spec").arg(&spec);
        let (status, out, err) = run(id, &mut cmd, Duration::from_secs(40));
        assert_eq!(
            status.code(),
            Some(0),
            "{id}: {}\n{}",
            tail(&out),
            tail(&err)
        );
        let kinds: Vec<String> = out
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["kind"].to_string())
            .collect();
        assert!(kinds.len() >= 4, "{id}: {out}");
        assert_eq!(json(&dir.join(id).join("summary.json"))["success_calls"], 3);
        runs.push((kinds, err));
    }
    let (loud_kinds, loud_err) = &runs[0];
    let (quiet_kinds, quiet_err) = &runs[1];
    assert!(loud_err.contains("worker: job loud"), "{loud_err}");
    assert!(loud_err.contains("worker: done: 3 calls"), "{loud_err}");
    assert_eq!(quiet_err.trim(), "", "--quiet printed: {quiet_err}");
    assert_eq!(loud_kinds.first(), quiet_kinds.first());
    assert_eq!(loud_kinds.last(), quiet_kinds.last());
    // A spec that cannot run still says why on stderr under --quiet.
    let bad = dir.join("bad.json");
    std::fs::write(&bad, r#"{"kind":"gossipper_job_spec","version":7}"#).unwrap();
    let (status, _, err) = run(
        "quiet refused",
        Command::new(gossipper_bin()).args(["worker", "--quiet", "--spec", bad.to_str().unwrap()]),
        Duration::from_secs(20),
    );
    assert_eq!(status.code(), Some(255));
    assert!(err.contains("version 7 is not supported"), "{err}");
}

#[test]
fn a_run_profile_alias_runs_its_calls_and_the_list_names_each_alias() {
    let dir = scratch_dir("go-run-alias");
    let (_uas, port) = sipp_uas(&dir, &[]);
    std::fs::write(
        dir.join("profiles.json"),
        format!(
            r#"{{"aliases": {{
                "smoke": {{"scenario_name": "uac", "remote_addr": "127.0.0.1:{port}",
                           "total_calls": 3, "rate": 10, "summary_json": "smoke.json"}},
                "soak": {{"scenario_name": "uac", "remote_addr": "127.0.0.1:{port}",
                          "total_calls": 0}}
            }}}}"#
        ),
    )
    .unwrap();
    let mut list = Command::new(gossipper_bin());
    list.current_dir(&dir)
        .args(["-config", "profiles.json", "-list-aliases"]);
    let (status, out, err) = run("-list-aliases", &mut list, Duration::from_secs(10));
    assert_eq!(status.code(), Some(0), "{err}");
    assert_eq!(out.lines().collect::<Vec<_>>(), ["smoke", "soak"]);
    // The alias's keys become flags; -m on the command line would win, none is given.
    let mut cmd = Command::new(gossipper_bin());
    cmd.current_dir(&dir).args([
        "-config",
        "profiles.json",
        "-run-alias",
        "smoke",
        "-i",
        "127.0.0.1",
        "-nostdin",
        "-cp",
        &free_port().to_string(),
    ]);
    let (status, out, err) = run("-run-alias smoke", &mut cmd, Duration::from_secs(40));
    assert_eq!(status.code(), Some(0), "{}\n{}", tail(&out), tail(&err));
    let s = json(&dir.join("smoke.json"));
    assert_eq!(s["success_calls"], 3, "{s}");
    // An alias the file lacks is refused, naming the ones it has.
    let mut bad = Command::new(gossipper_bin());
    bad.current_dir(&dir)
        .args(["-config", "profiles.json", "-run-alias", "nope"]);
    let (status, _, err) = run("-run-alias nope", &mut bad, Duration::from_secs(10));
    assert_eq!(status.code(), Some(255), "{err}");
    assert!(err.contains("nope") && err.contains("smoke, soak"), "{err}");
}
