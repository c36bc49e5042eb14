//! `rtp_record` on a WebRTC call: the G.711 audio the call receives (and, when asked,
//! sends) into a `CallRecorder`, handed out as a WAV to write when the recording stops
//! or the call ends.
//!
//! Owns: the recording of each call and the queue of finished ones. Must not: write
//! files (the shell does, from `Endpoint::poll_recording`) or read a clock. Opus audio
//! is counted by the recorder as not G.711 and left out: there is no Opus decoder.

use std::path::PathBuf;
use std::time::Instant;

use gossipper_media::record::DEFAULT_MAX_DURATION;
use gossipper_media::rtp::{RtpHeader, RtpPacket};
use gossipper_media::webrtc::AudioCodec;
use gossipper_media::{CallRecorder, Direction, RecordMode};

use super::WebrtcSettings;
use crate::config::RecordCalls;
use crate::media::PendingRecording;

/// The recording of every call (`-record_wav_dir`): `<call-id>.wav` in the record
/// directory, from the call's start; `None` when off.
pub(super) fn automatic(now: Instant, s: &WebrtcSettings, call_id: &[u8]) -> Option<Recording> {
    let mode = match s.record_calls {
        RecordCalls::Off => return None,
        RecordCalls::Mono => RecordMode::Mono(Direction::Received),
        RecordCalls::Duplex => RecordMode::Duplex,
    };
    Some(Recording {
        recorder: Box::new(CallRecorder::new(now, mode, DEFAULT_MAX_DURATION)),
        path: s
            .record_dir
            .join(format!("{}.wav", crate::media::sanitize_call_id(call_id))),
        sent_ts: 0,
    })
}

/// A call's recording and where it goes.
#[derive(Debug)]
pub(super) struct Recording {
    pub(super) recorder: Box<CallRecorder>,
    pub(super) path: PathBuf,
    /// RTP clock of the next frame we send (the recorder places frames by it).
    pub(super) sent_ts: u32,
}

impl Recording {
    /// Records one frame seen in `direction`; `ts` is its RTP time (received), or the
    /// recording's own send clock (sent).
    pub(super) fn frame(
        &mut self,
        now: Instant,
        direction: Direction,
        codec: Option<AudioCodec>,
        ts: Option<u32>,
        payload: &[u8],
    ) {
        let payload_type = match codec {
            Some(AudioCodec::Pcmu) => 0,
            Some(AudioCodec::Pcma) => 8,
            // Counted as not G.711 by the recorder.
            _ => 111,
        };
        let timestamp = match direction {
            Direction::Sent => {
                let t = self.sent_ts;
                self.sent_ts = self.sent_ts.wrapping_add(payload.len() as u32);
                t
            }
            Direction::Received => ts.unwrap_or(0),
        };
        let pkt = RtpPacket {
            header: RtpHeader {
                marker: false,
                payload_type,
                sequence: 0,
                timestamp,
                // One track each way: the recorder follows one SSRC per direction.
                ssrc: match direction {
                    Direction::Sent => 1,
                    Direction::Received => 2,
                },
            },
            csrc_count: 0,
            has_extension: false,
            payload,
        };
        self.recorder.handle_packet(now, direction, &pkt);
    }

    pub(super) fn finish(self) -> PendingRecording {
        PendingRecording {
            path: self.path,
            recorder: self.recorder,
        }
    }
}
