//! Helpers shared by the media end-to-end tests: reading summary.json and call records,
//! media ports with room around them, the SIPp-style arguments both tools get, reading
//! our recorder's WAV files, and comparing a recording with the audio it must hold.

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
    wav_bytes(&b, &path.display().to_string())
}

/// `wav` of bytes already read (a download); `what` names them in failures.
pub(crate) fn wav_bytes(b: &[u8], what: &str) -> (u16, Vec<i16>) {
    assert_eq!(b.get(..4), Some(&b"RIFF"[..]), "{what} is not a WAV file");
    let channels = u16::from_le_bytes([b[22], b[23]]);
    let rate = u32::from_le_bytes([b[24], b[25], b[26], b[27]]);
    assert_eq!(rate, 8000, "{what}");
    assert_eq!(
        u16::from_le_bytes([b[34], b[35]]),
        16,
        "{what}: bits per sample"
    );
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

/// One channel of interleaved samples.
pub(crate) fn channel(samples: &[i16], channels: u16, which: usize) -> Vec<i16> {
    samples
        .chunks_exact(usize::from(channels))
        .map(|frame| frame[which])
        .collect()
}

/// The audio of the tone capture the built-in `uac_pcap` plays
/// (`assets/media/g711a_tone.pcap`: A-law RTP), decoded as a receiver decodes it.
pub(crate) fn tone_capture_pcm() -> Vec<i16> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/media/g711a_tone.pcap");
    let capture = gossipper_media::load_pcap(&path).unwrap_or_else(|e| panic!("{e}"));
    let mut pcm = Vec::new();
    for p in capture.packets() {
        let rtp = gossipper_media::rtp::RtpPacket::parse(capture.payload(p))
            .unwrap_or_else(|e| panic!("{}: a packet that is not RTP: {e:?}", path.display()));
        assert_eq!(rtp.header.payload_type, 8, "the tone is A-law");
        pcm.extend(
            rtp.payload
                .iter()
                .map(|c| gossipper_media::G711Law::ALaw.decode(*c)),
        );
    }
    pcm
}

/// Asserts that a recording holds `source` and nothing else: silence, then the source
/// sample for sample (it must start within the first second), then silence. A packet a
/// stalled sender skipped leaves a silent 20 ms frame (the recorder places audio by RTP
/// timestamp), so up to `skipped_packets` frames of the source may be silent instead.
pub(crate) fn assert_recording_is(what: &str, rec: &[i16], source: &[i16], skipped_packets: u64) {
    const FRAME: usize = 160;
    let head = source
        .get(..400)
        .expect("a source of more than 400 samples");
    let lead = (0..rec.len().min(8000))
        .find(|&k| rec.get(k..k + head.len()) == Some(head))
        .unwrap_or_else(|| panic!("{what}: the source does not start in the first second"));
    assert!(
        rec[..lead].iter().all(|s| *s == 0),
        "{what}: sound before the source"
    );
    let body = rec.get(lead..lead + source.len()).unwrap_or_else(|| {
        panic!(
            "{what}: {} samples after a {lead}-sample lead, the source has {}",
            rec.len() - lead,
            source.len()
        )
    });
    let mut silent_frames = 0u64;
    for (i, (got, want)) in body.chunks(FRAME).zip(source.chunks(FRAME)).enumerate() {
        if got == want {
            continue;
        }
        assert!(
            got.iter().all(|s| *s == 0),
            "{what}: frame {i} (sample {}) differs from the source",
            lead + i * FRAME
        );
        silent_frames += 1;
    }
    assert!(
        silent_frames <= skipped_packets,
        "{what}: {silent_frames} frames of the source are silent, {skipped_packets} packets were skipped"
    );
    assert!(
        rec[lead + source.len()..].iter().all(|s| *s == 0),
        "{what}: sound after the source"
    );
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
