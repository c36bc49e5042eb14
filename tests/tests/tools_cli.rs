//! The Go tool's small subcommands through the real binary (issue #19 item 3), each
//! checked by its effect: `-infindex` makes `<lookup>` find rows by the indexed field (a
//! test socket reads what the call sent), `gossipper infindex` writes the index,
//! `report-html` and `summary-to-pdf` turn a summary into a page and a PDF (read back
//! with `pdftotext`), `rtp_send` sends what a test socket counts (several streams,
//! continuous sequence numbers and timestamps). Every subcommand has `-h` and refuses an
//! unknown flag by name (exit 255).

#![allow(clippy::unwrap_used)] // helpers outside #[test] fns: a failed unwrap is a failed test

use std::collections::BTreeMap;
use std::net::UdpSocket;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use gossipper_e2e::{free_port, gossipper_bin, output, run, scratch_dir};

const USERS: &str = "SEQUENTIAL\nalice;1001;x\nbob;1002;y\ncarol;1003;z\n";

/// Looks up key 1002 and sends its line's fields 0 and 2 in `X-Found`.
const LOOKUP_XML: &str = r#"<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="lookup">
  <nop><action><lookup assign_to="line" file="users.csv" key="1002"/></action></nop>
  <send><![CDATA[
OPTIONS sip:[service]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:a@[local_ip]>;tag=[call_number]
To: <sip:b@[remote_ip]>
Call-ID: [call_id]
CSeq: 1 OPTIONS
X-Found: [field0 file="users.csv" line="[$line]"];[field2 file="users.csv" line="[$line]"]
Content-Length: 0

]]></send>
</scenario>
"#;

/// Runs the lookup scenario once with `extra` flags; returns the `X-Found` value the
/// test socket received.
fn lookup_run(dir: &Path, extra: &[&str]) -> String {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let port = sock.local_addr().unwrap().port();
    let (status, out, err) = run(
        "gossipper lookup",
        Command::new(gossipper_bin())
            .current_dir(dir)
            .arg(format!("127.0.0.1:{port}"))
            .args([
                "-sf",
                "lookup.xml",
                "-inf",
                "users.csv",
                "-m",
                "1",
                "-i",
                "127.0.0.1",
            ])
            .args(["-nostdin", "-timeout", "10s"])
            .args(extra),
        Duration::from_secs(30),
    );
    assert!(status.success(), "{status}: {out}\n{err}");
    let mut buf = [0u8; 4096];
    let n = sock.recv(&mut buf).expect("the call's OPTIONS");
    let text = String::from_utf8_lossy(&buf[..n]).into_owned();
    text.lines()
        .find_map(|l| l.strip_prefix("X-Found: "))
        .unwrap_or_else(|| panic!("no X-Found in {text}"))
        .trim()
        .to_string()
}

#[test]
fn infindex_makes_lookup_search_the_indexed_field() {
    let dir = scratch_dir("infindex-run");
    std::fs::write(dir.join("users.csv"), USERS).unwrap();
    std::fs::write(dir.join("lookup.xml"), LOOKUP_XML).unwrap();
    // Indexed on field 1, key 1002 is bob's line.
    assert_eq!(lookup_run(&dir, &["-infindex", "users.csv", "1"]), "bob;y");
    // Not indexed, the first field is searched: no "1002" there, the lookup gives -1 and
    // the first line is used.
    assert_eq!(lookup_run(&dir, &[]), "alice;x");
    // An index of a file the run does not inject, or on a field no line has, is refused
    // before any call, naming it.
    for (args, says) in [
        (
            ["-infindex", "other.csv", "1"],
            "-infindex other.csv 1: other.csv is not an injection file of this run",
        ),
        (
            ["-infindex", "users.csv", "7"],
            "users.csv: -infindex field 7: no line has that field",
        ),
    ] {
        let o = output(
            Command::new(gossipper_bin())
                .current_dir(&dir)
                .args([
                    "127.0.0.1:9",
                    "-sf",
                    "lookup.xml",
                    "-inf",
                    "users.csv",
                    "-m",
                    "1",
                ])
                .args(["-nostdin"])
                .args(args),
        );
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(255), "{err}");
        assert!(err.contains(says), "{err}");
    }
}

#[test]
fn infindex_subcommand_writes_each_key_and_its_first_line() {
    let dir = scratch_dir("infindex-cli");
    std::fs::write(dir.join("users.csv"), format!("{USERS}dave;1002;w\n")).unwrap();
    let o = output(Command::new(gossipper_bin()).current_dir(&dir).args([
        "infindex",
        "users.csv",
        "1",
    ]));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let idx: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("users.csv.gossipper.idx.1.json")).unwrap())
            .unwrap();
    assert_eq!(
        idx["keys"],
        serde_json::json!({"1001": 1, "1002": 2, "1003": 3})
    );
    assert_eq!(idx["duplicates"], serde_json::json!(["1002"]));
    assert_eq!(idx["lines"], 4);
    let o = output(Command::new(gossipper_bin()).current_dir(&dir).args([
        "infindex",
        "users.csv",
        "9",
    ]));
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("field 9"));
}

fn summary(dir: &Path) -> std::path::PathBuf {
    let p = dir.join("summary.json");
    std::fs::write(
        &p,
        r#"{"total_calls":4242,"success_calls":4187,"failed_calls":55}"#,
    )
    .unwrap();
    p
}

#[test]
fn report_html_and_summary_to_pdf_carry_the_summarys_numbers() {
    let dir = scratch_dir("report-cli");
    summary(&dir);
    let o = output(Command::new(gossipper_bin()).current_dir(&dir).args([
        "report-html",
        "-in",
        "summary.json",
        "-out",
        "r.html",
    ]));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let html = std::fs::read_to_string(dir.join("r.html")).unwrap();
    for n in [">4242<", ">4187<", ">55<"] {
        assert!(html.contains(n), "{n} in the page");
    }
    // From the summary, and from the page (the Go tool's input).
    for input in ["summary.json", "r.html"] {
        let _ = std::fs::remove_file(dir.join("r.pdf"));
        let (status, out, err) = run(
            "summary-to-pdf",
            Command::new(gossipper_bin()).current_dir(&dir).args([
                "summary-to-pdf",
                "-in",
                input,
                "-out",
                "r.pdf",
            ]),
            Duration::from_secs(120),
        );
        assert!(status.success(), "{input}: {out}\n{err}");
        let text = output(Command::new("pdftotext").arg(dir.join("r.pdf")).arg("-"));
        assert!(text.status.success(), "pdftotext reads the PDF");
        let text = String::from_utf8_lossy(&text.stdout);
        for n in ["4242", "4187", "55", "calls created", "succeeded"] {
            assert!(text.contains(n), "{input}: {n} in the PDF text:\n{text}");
        }
    }
    // Without a browser, it says what is missing (exit 1) and writes nothing.
    let o = output(
        Command::new(gossipper_bin())
            .current_dir(&dir)
            .env("CHROMIUM", "/nonexistent/chromium")
            .args(["summary-to-pdf", "-in", "summary.json", "-out", "none.pdf"]),
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains(
            "headless Chromium is missing: CHROMIUM=/nonexistent/chromium is not an executable file"
        ),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(!dir.join("none.pdf").exists());
}

/// One received RTP packet: (source port, ssrc, sequence, timestamp, payload type,
/// payload length).
type Pkt = (u16, u32, u16, u32, u8, usize);

fn receive_rtp(sock: &UdpSocket, quiet: Duration, limit: Duration) -> Vec<Pkt> {
    sock.set_read_timeout(Some(quiet)).unwrap();
    let start = Instant::now();
    let mut got = Vec::new();
    let mut buf = [0u8; 2048];
    while start.elapsed() < limit {
        let Ok((n, from)) = sock.recv_from(&mut buf) else {
            if !got.is_empty() {
                break;
            }
            continue;
        };
        assert!(n >= 12 && buf[0] >> 6 == 2, "an RTP v2 packet");
        got.push((
            from.port(),
            u32::from_be_bytes([buf[8], buf[9], buf[10], buf[11]]),
            u16::from_be_bytes([buf[2], buf[3]]),
            u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]),
            buf[1] & 0x7f,
            n - 12,
        ));
    }
    got
}

/// Groups packets by SSRC and checks each stream: `count` packets from one port,
/// sequence +1 and timestamp +`step` each time, payload type `pt`, `step` bytes.
fn check_streams(got: &[Pkt], streams: usize, count: usize, step: u32, pt: u8) -> Vec<u16> {
    let mut by_ssrc: BTreeMap<u32, Vec<Pkt>> = BTreeMap::new();
    for p in got {
        by_ssrc.entry(p.1).or_default().push(*p);
    }
    assert_eq!(by_ssrc.len(), streams, "distinct SSRCs");
    let mut ports = Vec::new();
    for (ssrc, pkts) in &by_ssrc {
        assert_eq!(pkts.len(), count, "stream {ssrc:08x}");
        for w in pkts.windows(2) {
            assert_eq!(w[1].0, w[0].0, "one source port per stream");
            assert_eq!(w[1].2, w[0].2.wrapping_add(1), "sequence continuous");
            assert_eq!(w[1].3, w[0].3.wrapping_add(step), "timestamp continuous");
        }
        assert!(pkts.iter().all(|p| p.4 == pt && p.5 == step as usize));
        ports.push(pkts[0].0);
    }
    ports.sort_unstable();
    ports
}

#[test]
fn rtp_send_sends_continuous_streams_each_with_its_own_ssrc_and_port() {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = sock.local_addr().unwrap();
    let first = free_port();
    let first = first - first % 2;
    let child = Command::new(gossipper_bin())
        .args([
            "rtp_send",
            "-rtp_addr",
            &addr.to_string(),
            "-rtp_codec",
            "PCMA",
        ])
        .args(["-rtp_freq_ms", "30", "-rtp_dur", "600", "-rtp_streams", "3"])
        .args(["-rtp_port", &first.to_string()])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let got = receive_rtp(&sock, Duration::from_secs(2), Duration::from_secs(20));
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    // 600 ms at one packet per 30 ms: 20 packets of 240 A-law samples per stream.
    let ports = check_streams(&got, 3, 20, 240, 8);
    assert_eq!(
        ports,
        [first, first + 2, first + 4],
        "local ports step by 2"
    );
    assert!(
        stdout.contains("3 stream(s)") && stdout.contains("60 packets"),
        "{stdout}"
    );
}

#[test]
fn every_subcommand_has_help_and_refuses_an_unknown_flag_by_name() {
    for cmd in [
        &["infindex"][..],
        &["report-html"],
        &["summary-to-pdf"],
        &["rtp_send"],
        &["auth", "user-add"],
    ] {
        let o = output(Command::new(gossipper_bin()).args(cmd).arg("-h"));
        assert!(o.status.success(), "{cmd:?} -h");
        let usage = String::from_utf8_lossy(&o.stdout);
        assert!(
            usage.starts_with(&format!("Usage: gossipper {}", cmd.join(" "))),
            "{usage}"
        );
        let o = output(
            Command::new(gossipper_bin())
                .args(cmd)
                .arg("-frobnicate")
                .arg("1"),
        );
        assert_eq!(o.status.code(), Some(255), "{cmd:?}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains("unknown flag \"-frobnicate\""),
            "{cmd:?}: {err}"
        );
    }
    // After `sipp`, these are refused as the Go tool refuses its subcommands.
    let o = output(Command::new(gossipper_bin()).args(["sipp", "rtp_send"]));
    assert_eq!(o.status.code(), Some(255));
}
