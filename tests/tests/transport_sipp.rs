//! Real SIPp as the peer over TCP, both directions, on 127.0.0.1: our UAC against
//! `sipp -sn uas -t t1|tn`, `sipp -sn uac -t t1|tn` against our UAS. Zero failed calls
//! and exit code 0 on both sides, read from each side's own -trace_stat CSV. Our side's
//! summary.json counts the connections in its `transport` block.

use std::process::Command;
use std::time::Duration;

use gossipper_e2e::{
    Proc, Sock, finish_pair, free_port, gossipper_bin, peer_args, scratch_dir, sipp_bin,
};

const CALLS: u64 = 40;

/// SIPp refuses `tn` when its default -max_socket (50000) exceeds the open-file limit.
fn max_socket(mode: &str) -> &'static [&'static str] {
    if mode == "tn" {
        &["-max_socket", "100"]
    } else {
        &[]
    }
}

/// SIPp's built-in uas ends with a 4 s `<timewait>`, and SIPp fails a call whose
/// connection closes during it (FailedTcpClosed). A `tn` client closes its connection
/// when its call ends, so SIPp's uas fails such calls even against SIPp's own `tn` uac.
/// Against a `tn` client we therefore run SIPp's uas without that timewait.
fn uas_args(dir: &std::path::Path, client_mode: &str) -> Vec<String> {
    if client_mode != "tn" {
        return vec!["-sn".into(), "uas".into()];
    }
    let out = Command::new(sipp_bin())
        .args(["-sd", "uas"])
        .output()
        .expect("sipp -sd uas");
    let xml = String::from_utf8_lossy(&out.stdout);
    assert!(
        xml.contains("<timewait milliseconds=\"4000\"/>"),
        "SIPp's uas changed:\n{xml}"
    );
    let path = dir.join("uas_no_timewait.xml");
    std::fs::write(&path, xml.replace("<timewait milliseconds=\"4000\"/>", ""))
        .expect("write scenario");
    vec!["-sf".into(), path.display().to_string()]
}

/// Starts the server side, runs the client to completion, waits for the server's `-m`.
fn pair(name: &str, server_is_sipp: bool, server_mode: &str, client_mode: &str) {
    let dir = scratch_dir(name);
    let uas = if server_is_sipp {
        uas_args(&dir, client_mode)
    } else {
        vec!["-sn".into(), "uas".into()]
    };
    let sport = free_port();
    let (sbin, cbin) = if server_is_sipp {
        (sipp_bin(), gossipper_bin())
    } else {
        (gossipper_bin(), sipp_bin())
    };
    let (s_csv, c_csv) = (dir.join("server.csv"), dir.join("client.csv"));
    let summary = dir.join("summary.json");
    let ours = |cmd: &mut Command, is_ours: bool| {
        if is_ours {
            cmd.arg("-summary_json").arg(&summary);
        }
    };
    let calls = CALLS.to_string();
    let mut scmd = Command::new(&sbin);
    scmd.current_dir(&dir)
        .args(&uas)
        .args([
            "-t",
            server_mode,
            "-i",
            "127.0.0.1",
            "-p",
            &sport.to_string(),
            "-m",
            &calls,
        ])
        .args(max_socket(server_mode));
    peer_args(&mut scmd, &s_csv);
    ours(&mut scmd, !server_is_sipp);
    let mut server = Proc::spawn(&format!("{name} server ({})", sbin.display()), &mut scmd);
    server.wait_bound(Sock::for_transport(server_mode), sport);
    let mut ccmd = Command::new(&cbin);
    ccmd.current_dir(&dir)
        .arg(format!("127.0.0.1:{sport}"))
        .args([
            "-sn",
            "uac",
            "-t",
            client_mode,
            "-i",
            "127.0.0.1",
            "-p",
            &free_port().to_string(),
        ])
        .args(["-m", &calls, "-r", "40"])
        .args(max_socket(client_mode));
    peer_args(&mut ccmd, &c_csv);
    ours(&mut ccmd, server_is_sipp);
    let client = Proc::spawn(&format!("{name} client ({})", cbin.display()), &mut ccmd);
    finish_pair(
        name,
        client,
        server,
        &c_csv,
        &s_csv,
        CALLS,
        Duration::from_secs(90),
    );
    let text = std::fs::read_to_string(&summary).expect("our summary.json");
    let v: serde_json::Value = serde_json::from_str(&text).expect("summary.json parses");
    let t = &v["transport"];
    // One connection for t1, one per call for tn, each way.
    let want = if client_mode == "tn" { CALLS } else { 1 };
    let (counted, other) = if server_is_sipp {
        ("connections_opened", "connections_accepted")
    } else {
        ("connections_accepted", "connections_opened")
    };
    assert_eq!(t[counted], want, "{name}: transport block {t}");
    assert_eq!(t[other], 0, "{name}: transport block {t}");
    for zero in [
        "connect_failures",
        "handshake_failures",
        "closed_bad_input",
        "stream_too_large",
        "calls_failed_closed",
        "calls_failed_connect",
    ] {
        assert_eq!(t[zero], 0, "{name}: {zero} in {t}");
    }
}

#[test]
fn our_uac_over_tcp_against_sipp_uas_t1() {
    pair("tcp-uac-t1-vs-sipp", true, "t1", "t1");
}

#[test]
fn sipp_uac_t1_against_our_uas() {
    pair("sipp-t1-vs-uas", false, "t1", "t1");
}

#[test]
fn our_uac_over_tcp_against_sipp_uas_tn() {
    pair("tcp-uac-tn-vs-sipp", true, "tn", "tn");
}

#[test]
fn sipp_uac_tn_against_our_uas() {
    pair("sipp-tn-vs-uas", false, "tn", "tn");
}
