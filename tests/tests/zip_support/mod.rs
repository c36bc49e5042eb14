//! Reading the ZIP downloads in the end-to-end tests with the system's own tools, not
//! with our writer: `unzip -tq` checks every entry's CRC, `zipinfo -1` lists the names
//! in order, `unzip -p` gives each entry's bytes; and `tshark -r` reads a pcap entry.

#![allow(dead_code)] // each test file uses a different subset
#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

use std::path::{Path, PathBuf};
use std::process::Command;

/// The entries of `bytes`, in archive order, as (name, contents). `dir` gets the file.
pub(crate) fn unzip(bytes: &[u8], dir: &Path, tag: &str) -> Vec<(String, Vec<u8>)> {
    let path = dir.join(format!("{tag}.zip"));
    std::fs::write(&path, bytes).unwrap();
    let test = Command::new("unzip")
        .arg("-tq")
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        test.status.success(),
        "unzip -t {tag}: {}{}",
        String::from_utf8_lossy(&test.stdout),
        String::from_utf8_lossy(&test.stderr)
    );
    let list = Command::new("zipinfo")
        .arg("-1")
        .arg(&path)
        .output()
        .unwrap();
    assert!(list.status.success(), "zipinfo {tag}");
    String::from_utf8(list.stdout)
        .unwrap()
        .lines()
        .map(|name| {
            let out = Command::new("unzip")
                .arg("-p")
                .arg(&path)
                .arg(name)
                .output()
                .unwrap();
            assert!(out.status.success(), "unzip -p {tag} {name}");
            (name.to_string(), out.stdout)
        })
        .collect()
}

/// The names of `entries`.
pub(crate) fn names(entries: &[(String, Vec<u8>)]) -> Vec<&str> {
    entries.iter().map(|(n, _)| n.as_str()).collect()
}

/// The contents of the entry `name` (panics naming what is there when absent).
pub(crate) fn entry<'a>(entries: &'a [(String, Vec<u8>)], name: &str) -> &'a [u8] {
    entries
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, b)| b.as_slice())
        .unwrap_or_else(|| panic!("no entry {name} in {:?}", names(entries)))
}

/// The Call-ID of each packet of a pcap, as `tshark -r` dissects it (SIP on `sip_port`).
pub(crate) fn pcap_call_ids(pcap: &[u8], dir: &Path, tag: &str, sip_port: u16) -> Vec<String> {
    let path: PathBuf = dir.join(format!("{tag}.pcap"));
    std::fs::write(&path, pcap).unwrap();
    let out = Command::new("tshark")
        .arg("-r")
        .arg(&path)
        .args(["-d", &format!("udp.port=={sip_port},sip")])
        .args(["-T", "fields", "-e", "sip.Call-ID"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "tshark {tag}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}
