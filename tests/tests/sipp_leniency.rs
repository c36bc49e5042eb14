//! Messages SIPp sends that RFC 3261 refuses, taken as SIPp's own UAS takes them (issue
//! #19): real SIPp as the client, our UAS on 127.0.0.1, scenarios written by the test.

use std::process::Command;
use std::time::Duration;

use gossipper_e2e::{
    Proc, Sock, StatCsv, finish_pair, free_port, gossipper_bin, peer_args, scratch_dir, sipp_bin,
};

const CALLS: u64 = 10;

/// Answers every INVITE with 404 (no Contact, so SIPp's `[next_url]` stays empty) and
/// waits for the ACK.
const UAS_404: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<scenario name="uas 404">
  <recv request="INVITE"/>
  <send><![CDATA[
SIP/2.0 404 Not Found
[last_Via:]
[last_From:]
[last_To:];tag=[pid]uas[call_number]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0
]]></send>
  <recv request="ACK"/>
</scenario>
"#;

/// SIPp's client: INVITE, expects the 404, then renders `ACK [next_url] SIP/2.0`, which
/// SIPp 3.6.1 sends as `ACK  SIP/2.0` (empty Request-URI) since the 404 had no Contact.
const UAC_404: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<scenario name="uac 404 ack with next_url">
  <send><![CDATA[
INVITE sip:nobody@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:nobody@[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: 1 INVITE
Contact: sip:sipp@[local_ip]:[local_port]
Max-Forwards: 70
Content-Length: 0
]]></send>
  <recv response="100" optional="true"/>
  <recv response="404"/>
  <send><![CDATA[
ACK [next_url] SIP/2.0
[last_Via:]
[last_From:]
[last_To:]
Call-ID: [call_id]
CSeq: 1 ACK
Max-Forwards: 70
Content-Length: 0
]]></send>
</scenario>
"#;

#[test]
fn sipp_ack_with_an_empty_request_uri_completes_the_call_on_our_uas() {
    let dir = scratch_dir("lenient-ack");
    std::fs::write(dir.join("uas.xml"), UAS_404).expect("write uas.xml");
    std::fs::write(dir.join("uac.xml"), UAC_404).expect("write uac.xml");
    let sport = free_port();
    let cport = free_port();
    let s_csv = dir.join("server.csv");
    let c_csv = dir.join("client.csv");
    let summary = dir.join("server.json");
    let msgs = dir.join("client_messages.log");

    let mut scmd = Command::new(gossipper_bin());
    scmd.current_dir(&dir).args([
        "-sf",
        "uas.xml",
        "-i",
        "127.0.0.1",
        "-p",
        &sport.to_string(),
        "-m",
        &CALLS.to_string(),
        "-summary_json",
    ]);
    scmd.arg(&summary);
    peer_args(&mut scmd, &s_csv);
    let mut server = Proc::spawn("lenient-ack server (gossipper)", &mut scmd);
    server.wait_bound(Sock::Udp, sport);

    let mut ccmd = Command::new(sipp_bin());
    ccmd.current_dir(&dir)
        .arg(format!("127.0.0.1:{sport}"))
        .args([
            "-sf",
            "uac.xml",
            "-i",
            "127.0.0.1",
            "-p",
            &cport.to_string(),
        ])
        .args(["-m", &CALLS.to_string(), "-r", "10", "-trace_msg"])
        .arg("-message_file")
        .arg(&msgs);
    peer_args(&mut ccmd, &c_csv);
    let client = Proc::spawn("lenient-ack client (sipp)", &mut ccmd);
    finish_pair(
        "lenient-ack",
        client,
        server,
        &c_csv,
        &s_csv,
        CALLS,
        Duration::from_secs(60),
    );

    // SIPp really sent the RFC-breaking line (else this test proves nothing).
    let sent = std::fs::read_to_string(&msgs).expect("SIPp's message trace");
    assert_eq!(
        sent.matches("\nACK  SIP/2.0").count() as u64,
        CALLS,
        "SIPp should send one `ACK  SIP/2.0` per call; trace:\n{}",
        &sent[..sent.len().min(2000)]
    );
    // Our UAS matched each ACK to its call: no 404 sent twice, each ACK counted lenient.
    let s = StatCsv::read(&s_csv);
    assert_eq!(s.last("Retransmissions(C)"), 0, "404 retransmitted");
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&summary).expect("server summary.json"))
            .expect("summary.json parses");
    assert_eq!(v["discards"]["lenient_parses"].as_u64(), Some(CALLS), "{v}");
    assert_eq!(v["discards"]["malformed_messages"].as_u64(), Some(0), "{v}");
}
