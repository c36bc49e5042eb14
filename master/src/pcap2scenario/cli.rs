//! `gossipper pcap2scenario FILE [-out DIR] [-sip-port N] [-pcap-link TYPE]`: reads a
//! capture, writes scenario_uac.xml and scenario_uas.xml (and rtp_uac.pcap / rtp_uas.pcap
//! when the call carried RTP) into DIR.
//!
//! Owns: the subcommand's flags, reading the file (a regular file, size-capped) and
//! writing the outputs. Must not: convert (the sans-IO `convert` does).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use gossipper_media::pcap_source::MAX_PCAP_PAYLOAD_BYTES;

use super::{Options, Output, RTP_UAC_FILE, RTP_UAS_FILE, UAC_FILE, UAS_FILE, convert, parse_link};

/// Largest capture file read (payload cap plus room for headers).
const MAX_CAPTURE_FILE: u64 = 2 * MAX_PCAP_PAYLOAD_BYTES as u64;

const USAGE: &str = "\
Usage: gossipper pcap2scenario FILE.pcap [-out DIR] [-sip-port N] [-pcap-link TYPE]

Turns the first SIP call of a capture (pcap or pcapng; Ethernet, Linux cooked SLL/SLL2,
raw IP, BSD null/loopback; IPv4 and IPv6; SIP over UDP, and over TCP reassembled per
direction) into a scenario pair that replays it with SIPp keywords in place of the
captured addresses, ports, tags, branches, Call-ID, CSeq, lengths and SDP media:

  DIR/scenario_uac.xml   the caller: sends what it sent, expects what it received
  DIR/scenario_uas.xml   the callee: the reverse
  DIR/rtp_uac.pcap       the caller's RTP, when there was any (for play_pcap_audio)
  DIR/rtp_uas.pcap       the callee's RTP, when there was any

Flags:
  -out DIR          where to write (default: the current directory; created if missing)
  -sip-port N       only packets from or to port N are SIP (default 0: anything that
                    parses as SIP)
  -pcap-link TYPE   read every frame as TYPE instead of the capture's link type: auto,
                    ethernet, linux_sll, linux_sll2, raw, null, loop, ipv4, ipv6 or a
                    DLT number (default auto)
  -h, --help        this help

Only the first call (Call-ID) is converted; the others are named in a note. A 401/407
answered with credentials becomes auth=\"true\" and [authentication]: run the UAC with
-au USER -ap PASSWORD. Retransmissions in the capture are dropped; 1xx responses are
optional in <recv>. Limits: see README (pcap2scenario).
";

struct Args {
    file: PathBuf,
    out: PathBuf,
    opts: Options,
}

fn parse(args: &[String]) -> Result<Option<Args>, String> {
    let mut file = None;
    let mut out = PathBuf::from(".");
    let mut opts = Options::default();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "-h" || a == "--help" || a == "-help" {
            return Ok(None);
        }
        if !a.starts_with('-') || a == "-" {
            if file.replace(PathBuf::from(a)).is_some() {
                return Err(format!("one capture file only (\"{a}\" is a second one)"));
            }
            continue;
        }
        let flag = a.trim_start_matches('-');
        let (name, inline) = match flag.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (flag, None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| it.next().cloned())
                .ok_or_else(|| format!("-{name} needs a value"))
        };
        match name {
            "out" => out = PathBuf::from(value()?),
            "sip-port" | "sip_port" => {
                let v = value()?;
                opts.sip_port = v
                    .parse()
                    .map_err(|_| format!("-sip-port: \"{v}\" is not a port number (0-65535)"))?;
            }
            "pcap-link" | "pcap_link" => {
                opts.link = parse_link(&value()?).map_err(|e| format!("-pcap-link: {e}"))?
            }
            _ => {
                return Err(format!(
                    "unknown flag \"{a}\" (see gossipper pcap2scenario -h)"
                ));
            }
        }
    }
    let file = file.ok_or("which capture? gossipper pcap2scenario FILE.pcap (see -h)")?;
    Ok(Some(Args { file, out, opts }))
}

/// Runs the subcommand; `args` follow `pcap2scenario`.
pub(crate) fn main(args: &[String]) -> ExitCode {
    let args = match parse(args) {
        Ok(Some(a)) => a,
        Ok(None) => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("gossipper pcap2scenario: {e}");
            return ExitCode::from(2);
        }
    };
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gossipper pcap2scenario: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> Result<(), String> {
    let name = args.file.display().to_string();
    let bytes = read_capture(&args.file)?;
    let out = convert(&name, &bytes, &args.opts).map_err(|e| e.to_string())?;
    let written = write_outputs(&args.out, &out)?;
    println!(
        "{name}: Call-ID {}, {} messages{}",
        out.call_id,
        out.messages,
        if out.needs_auth {
            " (the UAC answers a digest challenge: run it with -au USER -ap PASSWORD)"
        } else {
            ""
        }
    );
    for w in written {
        println!("wrote {}", w.display());
    }
    for n in &out.notes {
        eprintln!("note: {n}");
    }
    Ok(())
}

fn read_capture(path: &Path) -> Result<Vec<u8>, String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if !meta.is_file() {
        return Err(format!("{}: not a regular file", path.display()));
    }
    if meta.len() > MAX_CAPTURE_FILE {
        return Err(format!(
            "{}: larger than {MAX_CAPTURE_FILE} bytes",
            path.display()
        ));
    }
    std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))
}

/// Writes the scenarios (and RTP captures) into `dir`; returns the paths written.
pub(crate) fn write_outputs(dir: &Path, out: &Output) -> Result<Vec<PathBuf>, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut files: Vec<(&str, &[u8])> = vec![
        (UAC_FILE, out.uac_xml.as_bytes()),
        (UAS_FILE, out.uas_xml.as_bytes()),
    ];
    if let Some(r) = &out.rtp_uac {
        files.push((RTP_UAC_FILE, r));
    }
    if let Some(r) = &out.rtp_uas {
        files.push((RTP_UAS_FILE, r));
    }
    let mut written = Vec::new();
    for (name, bytes) in files {
        let path = dir.join(name);
        std::fs::write(&path, bytes).map_err(|e| format!("{}: {e}", path.display()))?;
        written.push(path);
    }
    Ok(written)
}
