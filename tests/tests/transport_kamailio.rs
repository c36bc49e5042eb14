//! A real Kamailio proxy between two gossipper processes on 127.0.0.1: our UAC over TLS,
//! WSS, WS and TCP → Kamailio → our UAS over UDP, and the reverse (our UAC over UDP →
//! Kamailio → our UAS over TLS, Kamailio opening the TLS connection). Zero failed calls
//! on both sides, read from each side's -trace_stat CSV. Kamailio must be installed
//! (scripts/test.sh installs it); a missing Kamailio fails these tests.

#[path = "../kamailio/mod.rs"]
mod kamailio;

use std::process::Command;
use std::time::Duration;

use gossipper_e2e::{Proc, Sock, StatCsv, free_port, gossipper_bin, peer_args, scratch_dir, tail};
use kamailio::{Kamailio, Legs};

const CALLS: u64 = 20;

/// One side of a call path: our address, `CALLS` calls, the arguments every peer gets
/// (`peer_args`, statistics CSV at `csv`), then `args`.
fn gossipper(dir: &std::path::Path, name: &str, csv: &std::path::Path, args: &[String]) -> Proc {
    let mut cmd = Command::new(gossipper_bin());
    cmd.current_dir(dir)
        .args(["-i", "127.0.0.1", "-m", &CALLS.to_string()]);
    peer_args(&mut cmd, csv).args(args);
    Proc::spawn(name, &mut cmd)
}

/// Our UAS over `uas_mode` behind Kamailio, our UAC over `uac_mode` calling Kamailio.
fn through_kamailio(name: &str, uac_mode: &str, uas_mode: &str) {
    let dir = scratch_dir(name);
    let uas_port = free_port();
    let uas_uri = format!(
        "sip:127.0.0.1:{uas_port};transport={}",
        uri_transport(uas_mode)
    );
    let legs = if uas_mode == "u1" {
        Legs {
            uas_uri,
            stream_uri: "sip:127.0.0.1:9;transport=udp".into(),
        }
    } else {
        Legs {
            uas_uri: "sip:127.0.0.1:9;transport=udp".into(),
            stream_uri: uas_uri,
        }
    };
    let k = Kamailio::start(&dir, &legs);
    let proxy_port = match uac_mode {
        "u1" => k.udp_port,
        "t1" | "w1" => k.tcp_port,
        _ => k.tls_port,
    };
    let (s_csv, c_csv) = (dir.join("server.csv"), dir.join("client.csv"));
    let sargs: Vec<String> = ["-sn", "uas", "-t", uas_mode, "-p", &uas_port.to_string()]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let mut server = gossipper(&dir, &format!("{name} uas"), &s_csv, &sargs);
    server.wait_bound(Sock::for_transport(uas_mode), uas_port);
    let mut cargs: Vec<String> = vec![format!("127.0.0.1:{proxy_port}")];
    cargs.extend(
        ["-sn", "uac", "-t", uac_mode, "-r", "20"]
            .iter()
            .map(|s| s.to_string()),
    );
    let trace = dir.join("uac_messages.log");
    cargs.extend([
        "-trace_msg".to_string(),
        "-message_file".into(),
        trace.display().to_string(),
    ]);
    let (cstatus, cout, cerr) =
        gossipper(&dir, &format!("{name} uac"), &c_csv, &cargs).wait(Duration::from_secs(90));
    let (sstatus, sout, serr) = server.wait(Duration::from_secs(30));
    let klog = k.log_tail();
    assert_eq!(
        cstatus.code(),
        Some(0),
        "uac exit\nstdout:\n{}\nstderr:\n{}\nkamailio:\n{klog}",
        tail(&cout),
        tail(&cerr)
    );
    assert_eq!(
        sstatus.code(),
        Some(0),
        "uas exit\nstdout:\n{}\nstderr:\n{}\nkamailio:\n{klog}",
        tail(&sout),
        tail(&serr)
    );
    let c = StatCsv::read(&c_csv);
    assert_eq!(c.last("SuccessfulCall(C)"), CALLS, "uac successes");
    assert_eq!(c.last("FailedCall(C)"), 0, "uac failures");
    let s = StatCsv::read(&s_csv);
    assert_eq!(s.last("SuccessfulCall(C)"), CALLS, "uas successes");
    assert_eq!(s.last("FailedCall(C)"), 0, "uas failures");
    // The calls went through the proxy, over the transport asked for.
    let messages = std::fs::read_to_string(&trace).unwrap_or_default();
    assert!(
        messages.contains("Record-Route:"),
        "no Record-Route from Kamailio in the UAC's trace"
    );
    let keyword = match uac_mode {
        "t1" => "TCP",
        "l1" => "TLS",
        "w1" => "WS",
        "ws1" => "WSS",
        _ => "UDP",
    };
    assert!(
        messages.contains(&format!("{keyword} message sent")),
        "the UAC did not send over {keyword}"
    );
}

fn uri_transport(mode: &str) -> &'static str {
    match mode {
        "t1" | "tn" => "tcp",
        "l1" | "ln" => "tls",
        _ => "udp",
    }
}

#[test]
fn uac_over_tls_through_kamailio_to_udp_uas() {
    through_kamailio("kam-tls-uac", "l1", "u1");
}

#[test]
fn uac_over_wss_through_kamailio_to_udp_uas() {
    through_kamailio("kam-wss-uac", "ws1", "u1");
}

#[test]
fn uac_over_ws_through_kamailio_to_udp_uas() {
    through_kamailio("kam-ws-uac", "w1", "u1");
}

#[test]
fn uac_over_tcp_through_kamailio_to_udp_uas() {
    through_kamailio("kam-tcp-uac", "t1", "u1");
}

#[test]
fn udp_uac_through_kamailio_to_uas_over_tls() {
    through_kamailio("kam-tls-uas", "u1", "l1");
}

#[test]
fn udp_uac_through_kamailio_to_uas_over_tcp() {
    through_kamailio("kam-tcp-uas", "u1", "t1");
}
