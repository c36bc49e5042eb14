//! The ZIP downloads of `gossipper server`'s `/api/v2`: the live trace as text and pcap
//! together (`GET /sip/trace/export?format=zip`), and one call's dump (`GET
//! /calls/{call-id}?format=zip` or `/calls/{call-id}/dump`): its catalogue detail as
//! JSON, and its SIP messages as text and pcap.
//!
//! Owns: the entries' names and the download's file name. Must not: read the ring or the
//! catalogue (`v2` hands it the records and the detail) or lay out ZIP, pcap or text
//! (`crate::zip`, `pcap`, `trace`).
//!
//! Memory: built in memory, at most [`CAP`]. The ring's worst case (1024 records of
//! 16 KiB) makes about 18 MiB of text and as much pcap before deflate, so the cap is
//! never met by what the ring holds; past it the request is refused (413) naming it.

use std::time::SystemTime;

use super::calls::CallDetail;
use super::trace::{Record, text};
use crate::service::http::Reply;
use crate::zip::Zip;

/// The largest ZIP built.
pub(super) const CAP: u64 = 64 << 20;
const ZIP: &str = "application/zip";

/// `sip-trace.zip`: `sip-trace.txt` and `sip-trace.pcap` of the same records.
pub(super) fn trace(records: &[Record], now: SystemTime) -> Result<Reply, String> {
    let mut z = Zip::new(CAP, now);
    z.add("sip-trace.txt", &text(records))
        .map_err(|e| e.to_string())?;
    z.add("sip-trace.pcap", &super::pcap::pcap(records))
        .map_err(|e| e.to_string())?;
    Ok(Reply::Download {
        content_type: ZIP,
        file_name: "sip-trace.zip".into(),
        body: z.finish(),
    })
}

/// `call-<id>.zip`: `call.json` (the detail `GET /calls/{id}` answers), `sip.txt` and
/// `sip.pcap` (the call's messages still in the ring).
pub(super) fn call(detail: &CallDetail, now: SystemTime) -> Result<Reply, String> {
    let json = serde_json::to_vec_pretty(detail).map_err(|e| format!("call.json: {e}"))?;
    let mut z = Zip::new(CAP, now);
    for (name, data) in [
        ("call.json", json),
        ("sip.txt", text(&detail.sip)),
        ("sip.pcap", super::pcap::pcap(&detail.sip)),
    ] {
        z.add(name, &data).map_err(|e| e.to_string())?;
    }
    Ok(Reply::Download {
        content_type: ZIP,
        file_name: format!("call-{}.zip", file_safe(&detail.summary.call_id)),
        body: z.finish(),
    })
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
