//! A SIPp server that rejects every INVITE with 486 (a scenario that then waits for the
//! ACK) against our built-in `uac`, which does not expect a 486: each call fails as an
//! unexpected message, and before it is aborted our uac ACKs the 486 (RFC 3261
//! §17.1.1.3, as SIPp's own abort does), so SIPp sees every ACK and ends cleanly
//! instead of retransmitting the 486 and failing each call on its ACK timeout. (`-nd`,
//! which sends no ACK and does not abort, is covered in virtual time:
//! `call::tests::an_unexpected_failure_to_the_invite_is_acked_before_the_abort_and_nd_sends_nothing`.)

use std::process::Command;
use std::time::Duration;

use gossipper_e2e::{free_port, gossipper_bin, run, scratch_dir, sipp_server, tail};

const CALLS: &str = "3";

const BUSY_UAS: &str = r#"<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="busy uas">
  <recv request="INVITE"/>
  <send><![CDATA[
SIP/2.0 486 Busy Here
[last_Via:]
[last_From:]
[last_To:];tag=[pid]B[call_number]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0

]]></send>
  <recv request="ACK" timeout="3000"/>
</scenario>
"#;

/// SIPp's busy UAS and our uac, `CALLS` calls: (our exit code, our output, SIPp's exit
/// code, its output).
fn round() -> (Option<i32>, String, Option<i32>, String) {
    let dir = scratch_dir("sipp-rejects");
    std::fs::write(dir.join("busy.xml"), BUSY_UAS).expect("write busy.xml");
    let (sipp, port) = sipp_server(
        "sipp busy uas",
        &dir,
        "20s",
        &["-sf", "busy.xml", "-m", CALLS],
    );
    let mut cmd = Command::new(gossipper_bin());
    cmd.current_dir(&dir)
        .args([
            "-sn",
            "uac",
            "-i",
            "127.0.0.1",
            "-p",
            &free_port().to_string(),
        ])
        .args(["-m", CALLS, "-r", "10", "-nostdin", "-timeout", "15s"])
        .arg(format!("127.0.0.1:{port}"));
    let (ours, out, err) = run("gossipper uac", &mut cmd, Duration::from_secs(30));
    let (theirs, sout, serr) = sipp.wait(Duration::from_secs(30));
    (
        ours.code(),
        format!("{}\n{}", tail(&out), tail(&err)),
        theirs.code(),
        format!("{}\n{}", tail(&sout), tail(&serr)),
    )
}

#[test]
fn an_unexpected_486_is_acked_before_the_call_is_aborted() {
    let (ours, out, theirs, sout) = round();
    // Our calls failed (SIPp's exit code 1: some calls failed) ...
    assert_eq!(ours, Some(1), "{out}");
    // Each as an unexpected message where the 100 was awaited (the screen's column).
    let row = out
        .lines()
        .find(|l| l.trim_start().starts_with("100 <"))
        .unwrap_or_default();
    assert_eq!(row.split_whitespace().last(), Some(CALLS), "{out}");
    // ... and SIPp received the ACK of every 486: all its calls succeeded.
    assert_eq!(theirs, Some(0), "sipp:\n{sout}\nours:\n{out}");
}
