//! `-t ui` (issue #19 item 4): each client call leaves from the IP address of its `-inf`
//! row (`-ip_field`), as SIPp's "one socket per IP address" does. Our client calls SIPp's
//! UAS from 127.0.0.2, .3 and .4 (every 127/8 address is the loopback's); tcpdump records
//! the SIP port and tshark says, per INVITE, which address it came from and what its Via
//! says. Bad setups are refused before any call, naming what is wrong.

#![allow(clippy::unwrap_used)] // helpers outside #[test] fns: a failed unwrap is a failed test

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use gossipper_e2e::{
    Capture, free_port, gossipper_bin, output, run, scratch_dir, sipp_server, tail,
};

const ROWS: [&str; 3] = ["127.0.0.2", "127.0.0.3", "127.0.0.4"];
const CALLS: usize = 6;

#[test]
fn each_call_leaves_from_its_rows_address_and_says_so_in_its_via() {
    let dir = scratch_dir("udp-per-ip");
    let mut csv = String::from("SEQUENTIAL\n");
    for (i, ip) in ROWS.iter().enumerate() {
        csv.push_str(&format!("user{i};{ip}\n"));
    }
    std::fs::write(dir.join("ips.csv"), csv).unwrap();
    let (uas, uas_port) = sipp_server("sipp uas", &dir, "60s", &["-sn", "uas"]);
    let cap = Capture::start(&dir, "ui", &format!("udp port {uas_port}"));
    let our_port = free_port();
    let (status, out, err) = run(
        "gossipper -t ui",
        Command::new(gossipper_bin()).current_dir(&dir).args([
            &format!("127.0.0.1:{uas_port}"),
            "-sn",
            "uac",
            "-t",
            "ui",
            "-inf",
            "ips.csv",
            "-ip_field",
            "1",
            "-i",
            "127.0.0.1",
            "-p",
            &our_port.to_string(),
            "-m",
            &CALLS.to_string(),
            "-r",
            "20",
            "-nostdin",
            "-cp",
            &free_port().to_string(),
            "-summary_json",
            "s.json",
        ]),
        Duration::from_secs(40),
    );
    assert_eq!(status.code(), Some(0), "{}\n{}", tail(&out), tail(&err));
    let pcap = cap.stop();
    drop(uas);
    let s: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("s.json")).unwrap()).unwrap();
    assert_eq!(s["success_calls"], CALLS as u64, "{s}");

    let out = output(Command::new("tshark").arg("-r").arg(&pcap).args([
        "-Y",
        "sip.Method == \"INVITE\"",
        "-T",
        "fields",
        "-E",
        "separator=|",
        "-e",
        "ip.src",
        "-e",
        "udp.srcport",
        "-e",
        "sip.Call-ID",
        "-e",
        "sip.Via",
    ]));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    // First INVITE of each call (SIPp answers at once: no retransmission expected, but
    // one would repeat the same line).
    let mut by_call: BTreeMap<u64, (String, String, String)> = BTreeMap::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split('|').collect();
        assert_eq!(f.len(), 4, "{line}");
        // Call-IDs are `N-pid@ip`: N is the call number.
        let n: u64 = f[2].split('-').next().unwrap().parse().unwrap();
        by_call
            .entry(n)
            .or_insert((f[0].to_owned(), f[1].to_owned(), f[3].to_owned()));
    }
    assert_eq!(by_call.len(), CALLS, "INVITEs seen: {text}");
    for (n, (src, port, via)) in &by_call {
        let want = ROWS[(*n as usize - 1) % ROWS.len()];
        assert_eq!(src, want, "call {n} left from its row's address: {text}");
        assert_eq!(
            port,
            &our_port.to_string(),
            "call {n}: the -p port on every address"
        );
        assert!(
            via.contains(&format!("{want}:{our_port}")),
            "call {n}: Via names the address it left from: {via}"
        );
    }
}

#[test]
fn ui_setups_that_cannot_work_are_refused_before_any_call() {
    let dir = scratch_dir("udp-per-ip-bad");
    std::fs::write(dir.join("bad.csv"), "SEQUENTIAL\n127.0.0.2\nnot-an-ip\n").unwrap();
    for (args, words) in [
        // Without an injection file there is no address to take.
        (&["-sn", "uac", "-t", "ui"][..], &["-t ui", "-inf"][..]),
        // A row that is not an address: its line and value.
        (
            &["-sn", "uac", "-t", "ui", "-inf", "bad.csv"][..],
            &["data line 2", "not-an-ip"][..],
        ),
        // A server answers from the address it is called on.
        (&["-sn", "uas", "-t", "ui"][..], &["-t ui", "u1"][..]),
        // -ip_field means nothing without -t ui.
        (&["-sn", "uac", "-ip_field", "1"][..], &["-ip_field"][..]),
    ] {
        let out = output(
            Command::new(gossipper_bin())
                .current_dir(&dir)
                .args(["127.0.0.1:5999", "-i", "127.0.0.1", "-m", "1", "-nostdin"])
                .args(args),
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} ran: {err}");
        for w in words {
            assert!(err.contains(w), "{args:?}: {w:?} not in {err}");
        }
    }
}
