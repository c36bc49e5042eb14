//! Helpers shared by the media end-to-end tests: reading summary.json and call records,
//! media ports with room around them, the SIPp-style arguments both tools get, and reading
//! our recorder's WAV files.

#![allow(dead_code)] // each test file uses a different subset

use std::path::Path;
use std::process::Command;

use gossipper_e2e::{free_port_block, peer_args};

/// A JSON file, parsed (panics naming the file).
pub(crate) fn json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

/// A JSON-lines file (call_records.jsonl), one value per line.
pub(crate) fn records(path: &Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    text.lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

/// A media port whose next 15 neighbours are free and stay away from the other ports a
/// test hands out: RTCP +1, video +2 and its RTCP, our second shard +2, and SIPp's per-call ports
/// (`-mp`, then +4 for each further call: 3 calls reach +11).
pub(crate) fn media_port() -> u16 {
    free_port_block(16)
}

/// Arguments both tools get: address and port, no keyboard, a 60 s timeout, the
/// -trace_stat CSV at `stat` every second, and a control port on loopback.
pub(crate) fn common(cmd: &mut Command, port: u16, stat: &Path) {
    cmd.args(["-i", "127.0.0.1", "-p", &port.to_string()]);
    peer_args(cmd, stat);
}

/// The 16-bit PCM samples and channel count of a canonical WAV (our recorder's).
pub(crate) fn wav(path: &Path) -> (u16, Vec<i16>) {
    let b = std::fs::read(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    assert_eq!(&b[..4], b"RIFF", "{}", path.display());
    let channels = u16::from_le_bytes([b[22], b[23]]);
    let rate = u32::from_le_bytes([b[24], b[25], b[26], b[27]]);
    assert_eq!(rate, 8000, "{}", path.display());
    let data = b
        .windows(4)
        .position(|w| w == b"data")
        .expect("a data chunk")
        + 8;
    let samples = b[data..]
        .chunks_exact(2)
        .map(|c| i16::from_le_bytes([c[0], c[1]]))
        .collect();
    (channels, samples)
}

/// The 16-bit PCM samples of a canonical WAV (our recorder and our asset both write one).
pub(crate) fn wav_samples(path: &Path) -> Vec<i16> {
    wav(path).1
}

/// A client scenario for media tests: INVITE with `sdp_media` (the `m=`/`a=` lines, one
/// per line) after the usual session lines, ACK, a `<nop>` running `actions`, a 4.5 s
/// pause, BYE. `tag` tells the tests' From tags apart in traces.
pub(crate) fn media_uac_scenario(name: &str, tag: &str, sdp_media: &str, actions: &str) -> String {
    let request = |first_line: &str, cseq: &str, to_tag: &str| {
        format!(
            "    {first_line}\n\
             \x20   Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]\n\
             \x20   From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]{tag}[call_number]\n\
             \x20   To: [service] <sip:[service]@[remote_ip]:[remote_port]>{to_tag}\n\
             \x20   Call-ID: [call_id]\n\
             \x20   CSeq: {cseq}\n\
             \x20   Contact: sip:sipp@[local_ip]:[local_port]\n\
             \x20   Max-Forwards: 70\n"
        )
    };
    let uri = "sip:[service]@[remote_ip]:[remote_port] SIP/2.0";
    let media: String = sdp_media
        .lines()
        .map(|l| format!("    {}\n", l.trim()))
        .collect();
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<scenario name="{name}">
  <send retrans="500"><![CDATA[
{invite}    Content-Type: application/sdp
    Content-Length: [len]

    v=0
    o=user1 53655765 2353687637 IN IP[local_ip_type] [local_ip]
    s=-
    c=IN IP[media_ip_type] [media_ip]
    t=0 0
{media}  ]]></send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="200" rtd="true"/>
  <send><![CDATA[
{ack}    Content-Length: 0
  ]]></send>
  <nop>
    <action>
{actions}
    </action>
  </nop>
  <pause milliseconds="4500"/>
  <send retrans="500"><![CDATA[
{bye}    Content-Length: 0
  ]]></send>
  <recv response="200"/>
</scenario>
"#,
        invite = request(&format!("INVITE {uri}"), "1 INVITE", ""),
        ack = request(&format!("ACK {uri}"), "1 ACK", "[peer_tag_param]"),
        bye = request(&format!("BYE {uri}"), "2 BYE", "[peer_tag_param]"),
    )
}
