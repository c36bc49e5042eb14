//! The ZIP downloads of `gossipper server`'s `/api/v2`: the live trace as text and pcap
//! together (`GET /sip/trace/export?format=zip`), and one call's dump (`GET
//! /calls/{call-id}?format=zip` or `/calls/{call-id}/dump`): its catalogue detail as
//! JSON, its SIP messages as text and pcap, and a failed call's debug record as text.
//!
//! Owns: the entries' names and the download's file name. Must not: read the ring or the
//! catalogue (`v2` hands it the records and the detail) or lay out ZIP, pcap or text
//! (`crate::zip`, `pcap`, `trace`).
//!
//! Memory: built in memory, at most [`CAP`] (plus the entries' own bytes while it is
//! built). The ring's worst case (1024 records of
//! 16 KiB) makes about 18 MiB of text and as much pcap before deflate, so the cap is
//! never met by what the ring holds; past it the request is refused (413) naming it.

use std::time::SystemTime;

use super::api::error;
use super::calls::CallDetail;
use super::trace::{Record, text};
use crate::service::http::Reply;
use crate::zip::Zip;

/// The largest ZIP built.
pub(super) const CAP: u64 = 64 << 20;
const ZIP: &str = "application/zip";

/// `sip-trace.zip`: `sip-trace.txt` and `sip-trace.pcap` of the same records.
pub(super) fn trace(records: &[Record], now: SystemTime) -> Reply {
    download(
        "sip-trace.zip".into(),
        &[
            ("sip-trace.txt", text(records)),
            ("sip-trace.pcap", super::pcap::pcap(records)),
        ],
        now,
    )
}

/// `call-<id>.zip`: `call.json` (the detail `GET /calls/{id}` answers), `sip.txt` and
/// `sip.pcap` (the call's messages still in the ring).
pub(super) fn call(detail: &CallDetail, now: SystemTime) -> Reply {
    let json = match serde_json::to_vec_pretty(detail) {
        Ok(j) => j,
        Err(e) => return error(500, &format!("call.json: {e}")),
    };
    let mut entries = vec![
        ("call.json", json),
        ("sip.txt", text(&detail.sip)),
        ("sip.pcap", super::pcap::pcap(&detail.sip)),
    ];
    // A failed call's debug record.
    if !detail.debug.is_empty() {
        entries.push(("debug.txt", text(&detail.debug)));
    }
    download(
        format!("call-{}.zip", file_safe(&detail.summary.call_id)),
        &entries,
        now,
    )
}

/// The ZIP of `entries` as a download, or a 413 naming the cap.
fn download(file_name: String, entries: &[(&str, Vec<u8>)], now: SystemTime) -> Reply {
    let mut z = Zip::new(CAP, now);
    for (name, data) in entries {
        if let Err(e) = z.add(name, data) {
            return error(413, &e.to_string());
        }
    }
    Reply::Download {
        content_type: ZIP,
        file_name,
        body: z.finish(),
    }
}

/// A Call-ID made safe for a file name and a quoted header value: letters, digits and
/// `-._@` kept, anything else `_`, at most 100 characters.
fn file_safe(id: &str) -> String {
    id.chars()
        .take(100)
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-._@".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn call_ids_become_safe_file_names() {
        assert_eq!(file_safe("1-2@127.0.0.1"), "1-2@127.0.0.1");
        assert_eq!(file_safe("a\"b/c\r\n"), "a_b_c__");
        assert_eq!(file_safe(&"x".repeat(300)).len(), 100);
    }
}
