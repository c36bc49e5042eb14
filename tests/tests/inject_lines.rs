//! `[fieldN line=L]` counts data lines as SIPp does: the same scenario and injection file,
//! run by SIPp and by us against a socket of this test, render the same values
//! (`line=0` is the first data line).

use std::net::UdpSocket;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use gossipper_e2e::{free_port, gossipper_bin, run, scratch_dir, sipp_bin, tail};

const SCENARIO: &str = r#"<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="lines">
  <send><![CDATA[
    OPTIONS sip:x@[remote_ip]:[remote_port] SIP/2.0
    Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
    From: <sip:a@[local_ip]>;tag=1
    To: <sip:x@[remote_ip]>
    Call-ID: [call_id]
    CSeq: 1 OPTIONS
    X-L0: [field0 line=0]
    X-L1: [field0 line=1]
    X-L2: [field1 line=2]
    Content-Length: 0
  ]]></send>
</scenario>
"#;

/// The X- headers of the one message `bin` sends to a socket of ours.
fn rendered(dir: &Path, bin: &Path) -> Vec<String> {
    let sock = UdpSocket::bind("127.0.0.1:0").expect("bind");
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let port = sock.local_addr().expect("addr").port();
    let (status, out, err) = run(
        "lines",
        Command::new(bin).current_dir(dir).args([
            "-sf",
            "s.xml",
            "-inf",
            "u.csv",
            &format!("127.0.0.1:{port}"),
            "-m",
            "1",
            "-i",
            "127.0.0.1",
            "-p",
            &free_port().to_string(),
            "-nostdin",
            "-timeout",
            "5s",
        ]),
        Duration::from_secs(20),
    );
    let mut buf = [0u8; 4096];
    let n = sock.recv(&mut buf).unwrap_or_else(|e| {
        panic!(
            "{}: nothing sent ({e}; exit {status:?})\n{}\n{}",
            bin.display(),
            tail(&out),
            tail(&err)
        )
    });
    String::from_utf8_lossy(&buf[..n])
        .lines()
        .filter(|l| l.starts_with("X-"))
        .map(str::to_owned)
        .collect()
}

#[test]
fn field_line_numbers_count_from_zero_as_in_sipp() {
    let dir = scratch_dir("inject-lines");
    std::fs::write(dir.join("s.xml"), SCENARIO).expect("write");
    std::fs::write(dir.join("u.csv"), "SEQUENTIAL\nalice;1\nbob;2\ncarol;3\n").expect("write");
    let theirs = rendered(&dir, &sipp_bin());
    let ours = rendered(&dir, &gossipper_bin());
    assert_eq!(theirs, ["X-L0: alice", "X-L1: bob", "X-L2: 3"], "SIPp");
    assert_eq!(ours, theirs, "gossipper renders what SIPp renders");
}
