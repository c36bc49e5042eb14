//! `call_records.jsonl`: one JSON line per finished call (schema
//! `gossipper_call_record_v1`, `spec/gossipper-reference.md` §5.9).
//!
//! Owns: the record's field names. The `media` object keeps the Go gossipper's PascalCase
//! keys (`RTPPacketsSent`, …) because outside importers read exactly those. Must not: do
//! I/O; the shell appends the returned line.

use serde::Serialize;

use gossipper_media::webrtc::WebrtcStats;

use crate::stats::media::CallMedia;

/// The schema this module writes.
pub const SCHEMA_VERSION: &str = "gossipper_call_record_v1";

/// One finished call.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct CallRecord<'a> {
    /// Always `gossipper_call_record_v1`.
    pub schema_version: &'static str,
    /// The SIP Call-ID.
    pub call_id: &'a str,
    /// `[call_number]`, from 1.
    pub call_number: u64,
    /// Whether the call ended successfully.
    pub success: bool,
    /// Call length in whole ms.
    pub duration_ms: u64,
    /// Why it failed; empty on success.
    pub error: &'a str,
    /// Media counters.
    pub media: CallMedia,
    /// The WebRTC bridge of a `webrtc="true"` call: SDP steps, ICE and DTLS times (ms
    /// since the bridge was made), the selected pair, SRTP packets and bytes each way,
    /// the failure cause if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webrtc: Option<&'a WebrtcStats>,
}

/// The JSON line of one finished call, ending in `\n`.
pub fn call_record_line(
    call_id: &str,
    call_number: u64,
    success: bool,
    duration_ms: u64,
    error: &str,
    media: CallMedia,
    webrtc: Option<&WebrtcStats>,
) -> String {
    let rec = CallRecord {
        schema_version: SCHEMA_VERSION,
        call_id,
        call_number,
        success,
        duration_ms,
        error,
        media,
        webrtc,
    };
    // A struct of strings, integers and booleans cannot fail to serialise.
    let mut line = serde_json::to_string(&rec).expect("call record serialises");
    line.push('\n');
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn call_record_has_the_go_shape_with_pascal_case_media() {
        let line = call_record_line(
            "1-42@127.0.0.1",
            1,
            true,
            300_277,
            "",
            CallMedia::default(),
            None,
        );
        assert!(line.ends_with('\n'));
        assert_eq!(line.matches('\n').count(), 1);
        assert_eq!(
            line,
            "{\"schema_version\":\"gossipper_call_record_v1\",\"call_id\":\"1-42@127.0.0.1\",\"call_number\":1,\"success\":true,\"duration_ms\":300277,\"error\":\"\",\"media\":{\"RTPPacketsSent\":0,\"RTPOctetsSent\":0,\"RTPPacketsReceived\":0,\"RTCPSenderReports\":0,\"RTPPacketsLost\":0,\"JitterMs\":0.0,\"JitterPeakTs\":0,\"MOS\":0.0,\"RFactor\":0.0}}\n"
        );
    }

    #[test]
    fn errors_and_odd_call_ids_are_escaped() {
        let line = call_record_line(
            "a\"b\nc",
            2,
            false,
            0,
            "timeout on \"ACK\"",
            CallMedia::default(),
            None,
        );
        let v: serde_json::Value = serde_json::from_str(line.trim_end()).unwrap();
        assert_eq!(v["call_id"], "a\"b\nc");
        assert_eq!(v["error"], "timeout on \"ACK\"");
        assert_eq!(v["success"], false);
    }
}
