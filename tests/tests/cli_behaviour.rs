//! The legacy command line from the outside: exit codes, scenario errors with positions,
//! malformed datagrams counted without harm, `-sd`, health gates.

use std::net::UdpSocket;
use std::process::Command;
use std::time::Duration;

use gossipper_e2e::{Proc, Sock, free_port, gossipper_bin, run, scratch_dir, sipp_bin, tail};

/// Writes `xml` as `file` in a scratch dir, runs it as a client and returns its exit code
/// and stderr.
fn run_scenario_file(file: &str, xml: &str) -> (Option<i32>, String) {
    let dir = scratch_dir(file);
    let path = dir.join(file);
    std::fs::write(&path, xml).expect("write the scenario");
    let (status, _out, err) = run(
        file,
        Command::new(gossipper_bin())
            .arg("127.0.0.1:9")
            .arg("-sf")
            .arg(&path)
            .args(["-m", "1", "-nostdin"]),
        Duration::from_secs(20),
    );
    (status.code(), err)
}

#[test]
fn a_malformed_scenario_exits_255_naming_file_line_and_column() {
    let (code, err) = run_scenario_file(
        "bad.xml",
        "<?xml version=\"1.0\"?>\n<scenario name=\"bad\">\n  <send><![CDATA[OPTIONS sip:x SIP/2.0\n]]></send>\n  <frobnicate/>\n</scenario>\n",
    );
    assert_eq!(code, Some(255), "stderr: {err}");
    assert!(
        err.contains("bad.xml:5:"),
        "the error names file and line: {err}"
    );
    assert!(
        err.contains("frobnicate"),
        "the error names the element: {err}"
    );
}

#[test]
fn an_unknown_keyword_exits_255_with_its_position() {
    let (code, err) = run_scenario_file(
        "kw.xml",
        "<?xml version=\"1.0\"?>\n<scenario name=\"kw\">\n  <send><![CDATA[\nOPTIONS sip:[no_such_keyword] SIP/2.0\nCall-ID: [call_id]\n]]></send>\n</scenario>\n",
    );
    assert_eq!(code, Some(255), "stderr: {err}");
    assert!(err.contains("kw.xml:4:"), "{err}");
    assert!(err.contains("no_such_keyword"), "{err}");
}

#[test]
fn sd_dumps_a_builtin_that_loads_again_and_exits_99() {
    let dir = scratch_dir("sd");
    let out = Command::new(gossipper_bin())
        .args(["-sd", "uac"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(99));
    let xml = String::from_utf8(out.stdout).unwrap();
    assert!(
        xml.contains("<scenario")
            && xml.contains("INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0")
    );
    let f = dir.join("uac.xml");
    std::fs::write(&f, xml).unwrap();
    // The dumped file runs: against a closed port with -nr and a short recv timeout the
    // call fails (exit 1), which proves it loaded and ran.
    let (status, _o, err) = run(
        "gossipper -sf dumped uac",
        Command::new(gossipper_bin())
            .arg(format!("127.0.0.1:{}", free_port()))
            .arg("-sf")
            .arg(&f)
            .args([
                "-m",
                "1",
                "-nr",
                "-recv_timeout",
                "300",
                "-nostdin",
                "-i",
                "127.0.0.1",
                "-cp",
                &free_port().to_string(),
            ]),
        Duration::from_secs(20),
    );
    assert_eq!(status.code(), Some(1), "{err}");
}

#[test]
fn failed_calls_exit_1_and_a_failed_health_gate_exits_2() {
    let base = |extra: &[&str]| {
        let mut c = Command::new(gossipper_bin());
        c.arg(format!("127.0.0.1:{}", free_port()))
            .args([
                "-sn",
                "uac",
                "-m",
                "2",
                "-r",
                "10",
                "-nr",
                "-recv_timeout",
                "300",
                "-nostdin",
                "-i",
                "127.0.0.1",
            ])
            .args(["-cp", &free_port().to_string()])
            .args(extra);
        c
    };
    let (status, _o, err) = run("uac to nobody", &mut base(&[]), Duration::from_secs(20));
    assert_eq!(status.code(), Some(1), "{err}");
    let (status, _o, err) = run(
        "uac to nobody, gated",
        &mut base(&["-health_max_failed_calls", "0"]),
        Duration::from_secs(20),
    );
    assert_eq!(status.code(), Some(2), "{err}");
}

#[test]
fn malformed_datagrams_are_counted_and_calls_still_succeed() {
    let dir = scratch_dir("garbage");
    let port = free_port();
    let summary = dir.join("summary.json");
    let mut uas = Proc::spawn(
        "gossipper uas",
        Command::new(gossipper_bin())
            .args([
                "-sn",
                "uas",
                "-i",
                "127.0.0.1",
                "-p",
                &port.to_string(),
                "-m",
                "20",
                "-nostdin",
                "-timeout",
                "60s",
            ])
            .args(["-cp", &free_port().to_string(), "-summary_json"])
            .arg(&summary),
    );
    uas.wait_bound(Sock::Udp, port);
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    let junk: [&[u8]; 5] = [
        b"\x00\x01\x02garbage",
        b"INVITE\r\n\r\n",
        b"SIP/2.0 abc OK\r\nCall-ID: x\r\n\r\n",
        b"INVITE sip:a SIP/2.0\r\nContent-Length: 4294967295\r\nCall-ID: y\r\nCSeq: 1 INVITE\r\n\r\n",
        &[0xff; 1400],
    ];
    const SENT: u64 = 100;
    for _ in 0..SENT / junk.len() as u64 {
        for j in junk {
            s.send_to(j, ("127.0.0.1", port)).unwrap();
        }
    }
    let (cstatus, cout, cerr) = run(
        "sipp uac",
        Command::new(sipp_bin())
            .arg(format!("127.0.0.1:{port}"))
            .args([
                "-sn",
                "uac",
                "-i",
                "127.0.0.1",
                "-m",
                "20",
                "-r",
                "20",
                "-nostdin",
                "-timeout",
                "60s",
            ])
            .args(["-cp", &free_port().to_string()]),
        Duration::from_secs(60),
    );
    assert_eq!(cstatus.code(), Some(0), "{}\n{}", tail(&cout), tail(&cerr));
    let (status, _o, err) = uas.wait(Duration::from_secs(30));
    assert_eq!(status.code(), Some(0), "{err}");
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&summary).unwrap()).unwrap();
    assert_eq!(v["success_calls"], 20, "{v}");
    // Sent once the server was bound, on loopback: every junk datagram arrives, and each
    // is counted once (none is taken for a call, none is lost uncounted).
    assert_eq!(
        v["discards"]["malformed_messages"].as_u64(),
        Some(SENT),
        "{}",
        v["discards"]
    );
}

/// The benchmark harness of reference/sipp.md §7.1, word for word with `sipp` replaced
/// by `gossipper` on both sides (smaller rate and count): it runs unchanged and leaves
/// SIPp's files where a script expects them.
#[test]
fn sipps_benchmark_harness_command_lines_run_unchanged() {
    let dir = scratch_dir("harness");
    let port = free_port();
    let g = gossipper_bin();
    let mut uas = Proc::spawn(
        "gossipper uas (harness flags)",
        Command::new(&g).current_dir(&dir).args([
            "-sn",
            "uas",
            "-t",
            "u1",
            "-i",
            "127.0.0.1",
            "-ci",
            "127.0.0.1",
            "-mi",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-nostdin",
            "-timeout",
            "60s",
            "-trace_stat",
            "-stf",
            "uas.csv",
            "-fd",
            "1",
            "-trace_screen",
            "-screen_file",
            "uas.screen",
            "-cp",
            &free_port().to_string(),
        ]),
    );
    uas.wait_bound(Sock::Udp, port);
    let (status, out, err) = run(
        "gossipper uac (harness flags)",
        Command::new(&g).current_dir(&dir).args([
            &format!("127.0.0.1:{port}"),
            "-sn",
            "uac",
            "-t",
            "u1",
            "-i",
            "127.0.0.1",
            "-ci",
            "127.0.0.1",
            "-mi",
            "127.0.0.1",
            "-p",
            &free_port().to_string(),
            "-r",
            "200",
            "-m",
            "600",
            "-l",
            "600",
            "-nostdin",
            "-timeout",
            "30s",
            "-trace_stat",
            "-stf",
            "uac.csv",
            "-fd",
            "1",
            "-trace_screen",
            "-screen_file",
            "uac.screen",
            "-cp",
            &free_port().to_string(),
        ]),
        Duration::from_secs(60),
    );
    assert_eq!(status.code(), Some(0), "{}\n{}", tail(&out), tail(&err));
    // The harness stops the server with SIGUSR1.
    let (sstatus, sout, serr) = uas.quit(Duration::from_secs(20));
    assert_eq!(sstatus.code(), Some(0), "{}\n{}", tail(&sout), tail(&serr));
    let csv = gossipper_e2e::StatCsv::read(&dir.join("uac.csv"));
    assert_eq!(csv.last("SuccessfulCall(C)"), 600);
    assert_eq!(csv.last("FailedCall(C)"), 0);
    // SIPp's own regress test reads fields 12 and 18 by position.
    assert_eq!(csv.header[11], "OutgoingCall(C)");
    assert_eq!(csv.header[17], "FailedCall(C)");
    assert!(
        csv.rows.len() >= 3,
        "a row per -fd period plus the final one"
    );
    let screen = std::fs::read_to_string(dir.join("uac.screen")).unwrap();
    assert!(screen.contains("INVITE ---------->"), "{screen}");
    let s = gossipper_e2e::StatCsv::read(&dir.join("uas.csv"));
    assert_eq!(s.last("SuccessfulCall(C)"), 600);
}

/// SIPp's trace flags write SIPp's files under SIPp's default names
/// (`<scenario>_<pid>_<suffix>`), with the content scripts grep for.
#[test]
fn trace_flags_write_sipps_files() {
    let dir = scratch_dir("traces");
    let port = free_port();
    let mut uas = Proc::spawn(
        "sipp uas",
        Command::new(sipp_bin())
            .current_dir(&dir)
            .args([
                "-sn",
                "uas",
                "-i",
                "127.0.0.1",
                "-p",
                &port.to_string(),
                "-m",
                "5",
                "-nostdin",
                "-timeout",
                "30s",
            ])
            .args(["-cp", &free_port().to_string()]),
    );
    uas.wait_bound(Sock::Udp, port);
    let (status, out, err) = run(
        "gossipper uac with traces",
        Command::new(gossipper_bin())
            .current_dir(&dir)
            .arg(format!("127.0.0.1:{port}"))
            .args([
                "-sn",
                "uac",
                "-i",
                "127.0.0.1",
                "-m",
                "5",
                "-r",
                "10",
                "-nostdin",
                "-timeout",
                "30s",
            ])
            .args([
                "-trace_msg",
                "-trace_shortmsg",
                "-trace_rtt",
                "-rtt_freq",
                "2",
                "-trace_counts",
                "-trace_stat",
            ])
            .args(["-trace_screen", "-cp", &free_port().to_string()]),
        Duration::from_secs(40),
    );
    assert_eq!(status.code(), Some(0), "{}\n{}", tail(&out), tail(&err));
    let _ = uas.wait(Duration::from_secs(20));
    let names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let find = |suffix: &str| {
        let n = names
            .iter()
            .find(|n| n.starts_with("uac_") && n.ends_with(suffix))
            .unwrap_or_else(|| panic!("no uac_<pid>{suffix} in {names:?}"));
        std::fs::read_to_string(dir.join(n)).unwrap()
    };
    let msgs = find("_messages.log");
    assert!(
        msgs.contains("UDP message sent") && msgs.contains("UDP message received"),
        "{msgs}"
    );
    assert_eq!(msgs.lines().filter(|l| l.starts_with("BYE ")).count(), 5);
    let short = find("_shortmessages.log");
    assert_eq!(
        short
            .lines()
            .filter(|l| l.contains("\tS\t") && l.contains("CSeq:1 INVITE"))
            .count(),
        5,
        "{short}"
    );
    let rtt = find("_rtt.csv");
    assert!(rtt.starts_with("Date_ms;response_time_ms;rtd_no"), "{rtt}");
    assert_eq!(
        rtt.lines().count(),
        1 + 5,
        "one response time per call: {rtt}"
    );
    let counts = find("_counts.csv");
    assert!(counts.contains("INVITE"), "{counts}");
    assert!(find("_.csv").contains("SuccessfulCall(C)"));
    assert!(find("_screen.log").contains("Statistics Screen"));
}

/// `-inf` injection (SEQUENTIAL): each call takes the next row; SIPp, as the peer, logs
/// what arrived.
#[test]
fn injection_file_fields_reach_the_wire_in_order() {
    let dir = scratch_dir("inf");
    std::fs::write(
        dir.join("users.csv"),
        "SEQUENTIAL\n# user;number\nalice;1111\nbob;2222\ncarol;3333\n",
    )
    .unwrap();
    let scenario = r#"<?xml version="1.0"?>
<scenario name="inf uac">
  <send retrans="500"><![CDATA[
INVITE sip:[field1]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: "[field0]" <sip:[field0]@[local_ip]:[local_port]>;tag=[call_number]
To: <sip:[field1]@[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: 1 INVITE
Contact: <sip:[field0]@[local_ip]:[local_port]>
Content-Length: 0
]]></send>
  <recv response="180" optional="true"/>
  <recv response="200"/>
  <send><![CDATA[
ACK sip:[field1]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: "[field0]" <sip:[field0]@[local_ip]:[local_port]>;tag=[call_number]
To: <sip:[field1]@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: 1 ACK
Content-Length: 0
]]></send>
  <send retrans="500"><![CDATA[
BYE sip:[field1]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: "[field0]" <sip:[field0]@[local_ip]:[local_port]>;tag=[call_number]
To: <sip:[field1]@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: 2 BYE
Content-Length: 0
]]></send>
  <recv response="200"/>
</scenario>"#;
    std::fs::write(dir.join("inf.xml"), scenario).unwrap();
    let port = free_port();
    let mut uas = Proc::spawn(
        "sipp uas (traces)",
        Command::new(sipp_bin())
            .current_dir(&dir)
            .args([
                "-sn",
                "uas",
                "-i",
                "127.0.0.1",
                "-p",
                &port.to_string(),
                "-m",
                "3",
                "-nostdin",
                "-timeout",
                "30s",
            ])
            .args([
                "-trace_msg",
                "-message_file",
                "uas_messages.log",
                "-cp",
                &free_port().to_string(),
            ]),
    );
    uas.wait_bound(Sock::Udp, port);
    let (status, out, err) = run(
        "gossipper -inf",
        Command::new(gossipper_bin())
            .current_dir(&dir)
            .arg(format!("127.0.0.1:{port}"))
            .args([
                "-sf",
                "inf.xml",
                "-inf",
                "users.csv",
                "-i",
                "127.0.0.1",
                "-m",
                "3",
                "-r",
                "5",
                "-nostdin",
            ])
            // One shard, so the three calls leave in call-number order (with two shards,
            // calls 1 and 2 start at the same instant on different cores).
            .args(["-shards", "1"])
            .args(["-timeout", "30s", "-cp", &free_port().to_string()]),
        Duration::from_secs(40),
    );
    assert_eq!(status.code(), Some(0), "{}\n{}", tail(&out), tail(&err));
    let (sstatus, _o, serr) = uas.wait(Duration::from_secs(20));
    assert_eq!(sstatus.code(), Some(0), "{serr}");
    let log = std::fs::read_to_string(dir.join("uas_messages.log")).unwrap();
    let invites: Vec<&str> = log
        .lines()
        .filter(|l| l.starts_with("INVITE sip:"))
        .collect();
    assert_eq!(
        invites,
        vec![
            format!("INVITE sip:1111@127.0.0.1:{port} SIP/2.0"),
            format!("INVITE sip:2222@127.0.0.1:{port} SIP/2.0"),
            format!("INVITE sip:3333@127.0.0.1:{port} SIP/2.0"),
        ],
        "rows in order, one per call"
    );
    assert!(log.contains("From: \"bob\" <sip:bob@127.0.0.1:"), "{log}");
}
