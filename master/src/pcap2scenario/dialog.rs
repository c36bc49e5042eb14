//! The dialog a capture is converted from: the first Call-ID that starts with a request,
//! who called whom, and its messages without retransmissions.
//!
//! Owns: choosing the Call-ID (others are named in a note), the caller and callee
//! addresses (the first request's source and destination), and dropping a message that
//! repeats an earlier one of the same direction (same start line, CSeq, top Via branch
//! and To tag). Must not: rewrite messages.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::time::Duration;

use gossipper_engine::sip::{self, HeaderName, SipMessage};

use super::ConvertError;
use super::stream::Captured;

/// Call-IDs named in the note about the other calls of a capture.
const MAX_LISTED_CALLS: usize = 20;

/// One message of the dialog.
#[derive(Debug, Clone)]
pub(crate) struct Msg {
    pub(crate) ts: Duration,
    /// Sent by the caller (the UAC).
    pub(crate) from_caller: bool,
    pub(crate) bytes: Vec<u8>,
}

/// The dialog to replay.
#[derive(Debug, Clone)]
pub(crate) struct Dialog {
    pub(crate) call_id: String,
    pub(crate) caller: SocketAddr,
    pub(crate) callee: SocketAddr,
    pub(crate) tcp: bool,
    pub(crate) msgs: Vec<Msg>,
    pub(crate) retransmissions: usize,
}

/// Picks the first dialog of `msgs` (in capture order, which it sorts by timestamp).
pub(crate) fn first_dialog(
    mut msgs: Vec<Captured>,
    notes: &mut Vec<String>,
) -> Result<Dialog, ConvertError> {
    msgs.sort_by_key(|m| m.ts);
    let first = msgs
        .iter()
        .find(|m| SipMessage::parse(&m.bytes).is_ok_and(|s| s.is_request()))
        .ok_or(ConvertError::NoRequest)?;
    let call_id = SipMessage::parse(&first.bytes)
        .map(|m| m.call_id().to_vec())
        .unwrap_or_default();
    let (caller, callee, tcp) = (first.src, first.dst, first.tcp);
    let mut others: Vec<Vec<u8>> = Vec::new();
    let mut seen = HashSet::new();
    let mut dialog = Dialog {
        call_id: String::from_utf8_lossy(&call_id).into_owned(),
        caller,
        callee,
        tcp,
        msgs: Vec::new(),
        retransmissions: 0,
    };
    let mut strangers = 0usize;
    for m in &msgs {
        let Ok(parsed) = SipMessage::parse(&m.bytes) else {
            continue;
        };
        if parsed.call_id() != call_id.as_slice() {
            if !others.iter().any(|o| o == parsed.call_id()) {
                others.push(parsed.call_id().to_vec());
            }
            continue;
        }
        let from_caller = if m.src == caller {
            true
        } else if m.src == callee || m.dst == caller {
            false
        } else {
            strangers += 1;
            m.dst == callee
        };
        let key = (
            from_caller,
            parsed.first_line().to_vec(),
            parsed.header(HeaderName::CSeq).map(<[u8]>::to_vec),
            parsed
                .header(HeaderName::Via)
                .and_then(|v| sip::param(v, b"branch"))
                .map(<[u8]>::to_vec),
            parsed
                .header(HeaderName::To)
                .and_then(|v| sip::param(v, b"tag"))
                .map(<[u8]>::to_vec),
        );
        if !seen.insert(key) {
            dialog.retransmissions += 1;
            continue;
        }
        dialog.msgs.push(Msg {
            ts: m.ts,
            from_caller,
            bytes: m.bytes.clone(),
        });
    }
    if !others.is_empty() {
        let listed: Vec<String> = others
            .iter()
            .take(MAX_LISTED_CALLS)
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect();
        let more = others.len().saturating_sub(MAX_LISTED_CALLS);
        notes.push(format!(
            "only the first call (Call-ID {}) is converted; {} other Call-ID(s) in the capture: {}{}",
            dialog.call_id,
            others.len(),
            listed.join(", "),
            if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            }
        ));
    }
    if strangers > 0 {
        notes.push(format!(
            "{strangers} message(s) of the call came from neither {caller} nor {callee}; they are taken by their destination"
        ));
    }
    Ok(dialog)
}
