//! SIPp's per-message table as data: one row per scenario step shown on SIPp's scenario
//! screen (direction, label, rtd marks) with its Messages / Retrans / Timeout /
//! Unexpected-Msg counts, for summary.json's `messages`, the worker's `plan` line and the
//! consoles that draw the table.
//!
//! Owns: the row shape. Must not: lay out text (`screen` does for the terminal) or read
//! clocks. Rows keep the command index, so a stats line's `steps` array (one entry per
//! command) maps onto them.

use serde::{Deserialize, Serialize};

use super::run_info::{RunInfo, StepInfo, StepKind};
use crate::stats::{ShardStats, StepCounters};

/// What a row is: `send`, `recv`, `pause`, `nop`, `send_cmd` or `recv_cmd`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RowKind {
    /// `<send>`.
    Send,
    /// `<recv>`.
    Recv,
    /// `<pause>` or `<timewait>`.
    Pause,
    /// `<nop>` (and what SIPp does not count as a message).
    #[default]
    Nop,
    /// `<sendCmd>` (3PCC).
    SendCmd,
    /// `<recvCmd>` (3PCC).
    RecvCmd,
}

/// Which way a message goes: `out` (we send it) or `in` (we receive it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// We receive it.
    In,
    /// We send it.
    Out,
}

/// One row of the table.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MessageRow {
    /// The scenario command index (the position in a stats line's `steps`).
    pub index: usize,
    /// `send`, `recv`, `pause`, `nop`, `send_cmd` or `recv_cmd`.
    pub kind: RowKind,
    /// What SIPp shows: a method, a status code, a pause length, a nop's `display`.
    pub label: String,
    /// `out` (we send it), `in` (we receive it), or absent (pause, nop).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub direction: Option<Direction>,
    /// `<recv optional="true">`.
    pub optional: bool,
    /// A `<send retrans=…>`: its Timeout column counts.
    pub retrans_timer: bool,
    /// `<timewait>`.
    pub timewait: bool,
    /// 1-based rtd this step starts (`B-RTDn`) / stops (`E-RTDn`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rtd_start: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rtd_stop: Option<u16>,
    /// Messages sent or received (calls that went through, for a pause).
    pub messages: u64,
    /// Retransmissions (sent for a send, received for a recv).
    pub retrans: u64,
    /// Timeouts.
    pub timeouts: u64,
    /// Unexpected messages while waiting here.
    pub unexpected: u64,
}

fn row_kind(k: StepKind) -> RowKind {
    match k {
        StepKind::Send => RowKind::Send,
        StepKind::Recv => RowKind::Recv,
        StepKind::Pause => RowKind::Pause,
        StepKind::Nop | StepKind::Label => RowKind::Nop,
        StepKind::SendCmd => RowKind::SendCmd,
        StepKind::RecvCmd => RowKind::RecvCmd,
    }
}

fn row(index: usize, s: &StepInfo, c: &StepCounters) -> MessageRow {
    let label = match (s.kind, &s.display) {
        (StepKind::Nop, Some(d)) => d.clone(),
        _ => s.label.clone(),
    };
    MessageRow {
        index,
        kind: row_kind(s.kind),
        label,
        direction: match s.kind {
            StepKind::Send | StepKind::SendCmd => Some(Direction::Out),
            StepKind::Recv | StepKind::RecvCmd => Some(Direction::In),
            _ => None,
        },
        optional: s.optional,
        retrans_timer: s.retrans,
        timewait: s.timewait,
        rtd_start: s.start_rtd,
        rtd_stop: s.stop_rtd,
        messages: c.messages,
        retrans: c.retrans,
        timeouts: c.timeouts,
        unexpected: c.unexpected,
    }
}

/// The rows SIPp's scenario screen lists, with the counts of `stats` (zeros without).
pub fn message_rows(info: &RunInfo, stats: Option<&ShardStats>) -> Vec<MessageRow> {
    let zero = StepCounters::default();
    info.steps
        .iter()
        .enumerate()
        .filter(|(_, s)| s.shown())
        .map(|(i, s)| {
            let c = stats.and_then(|st| st.steps.get(i)).unwrap_or(&zero);
            row(i, s, c)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::run_info::tests::uac_info;

    #[test]
    fn rows_follow_the_scenario_screen_with_their_counts() {
        let info = uac_info();
        let mut st = ShardStats::new(info.steps.len(), 1, 0, &[10], &[10]);
        st.steps[0] = StepCounters {
            messages: 20,
            retrans: 3,
            timeouts: 1,
            unexpected: 0,
        };
        st.steps[2].unexpected = 2;
        let rows = message_rows(&info, Some(&st));
        let labels: Vec<(RowKind, &str, Option<Direction>)> = rows
            .iter()
            .map(|r| (r.kind, r.label.as_str(), r.direction))
            .collect();
        let (send, recv, out, inn) = (RowKind::Send, RowKind::Recv, Direction::Out, Direction::In);
        assert_eq!(
            labels,
            [
                (send, "INVITE", Some(out)),
                (recv, "100", Some(inn)),
                (recv, "180", Some(inn)),
                (recv, "183", Some(inn)),
                (recv, "200", Some(inn)),
                (send, "ACK", Some(out)),
                (RowKind::Pause, "0ms", None),
                (send, "BYE", Some(out)),
                (recv, "200", Some(inn)),
            ]
        );
        assert_eq!(
            (rows[0].messages, rows[0].retrans, rows[0].timeouts),
            (20, 3, 1)
        );
        assert!(rows[0].retrans_timer && !rows[5].retrans_timer);
        assert_eq!(rows[2].unexpected, 2);
        assert_eq!(rows[4].rtd_stop, Some(1));
        assert!(rows[1].optional);
        assert_eq!(message_rows(&info, None)[0].messages, 0);
        let v = serde_json::to_value(&rows[6]).unwrap();
        assert!(v.get("direction").is_none(), "{v}");
        assert_eq!(v["kind"], "pause");
        assert_eq!(serde_json::to_value(&rows[0]).unwrap()["direction"], "out");
    }
}
