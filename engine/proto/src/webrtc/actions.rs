//! The scenario's media actions on a WebRTC call: RFC 4733 DTMF through the bridge,
//! `rtpcheck` on the bridge's audio counts, and `rtp_stream` starting, pausing, resuming
//! or stopping the synthetic tone. The loader refuses every other media action in a
//! `webrtc="true"` scenario (`MediaCommand::runs_over_webrtc`).
//!
//! Owns: these `WebrtcCalls` methods and the `rtpcheck` state of a call. Must not: read
//! a clock or send anything itself: DTMF keys are sent from `handle_timeout` through the
//! bridge, 100 ms each with 50 ms between them, once the call is connected.

use std::sync::Arc;
use std::time::{Duration, Instant};

use gossipper_media::g711::G711Law;
use gossipper_media::webrtc::{AudioCodec, WebrtcStats};
use gossipper_media::{AudioFrames, Loops};

use super::WebrtcCalls;
use gossipper_media::record::DEFAULT_MAX_DURATION;
use gossipper_media::{CallRecorder, Direction, RecordMode};

use crate::scenario::media::{MediaCommand, RecordSide, RtpCheck, StreamCommand};

/// How long each DTMF key lasts, and the gap before the next.
const DTMF_KEY: Duration = Duration::from_millis(100);
const DTMF_GAP: Duration = Duration::from_millis(50);

/// What a WebRTC call leaves when it ends.
#[derive(Debug)]
pub struct EndedWebrtc {
    /// The call record's `webrtc` block.
    pub stats: Box<WebrtcStats>,
    /// The call's `rtpcheck` failed (the call then fails: `FailureReason::RtpCheck`).
    pub rtpcheck_failed: bool,
    /// The call had an `rtpcheck`.
    pub checked: bool,
}

/// A call's `rtpcheck`: its threshold, when the verdict is due (`timeout_ms`), and the
/// verdict once taken.
#[derive(Clone, Copy, Debug)]
pub(super) struct Check {
    check: RtpCheck,
    deadline: Option<Instant>,
    verdict: Option<bool>,
}

impl Check {
    /// When the verdict is due, until it is taken.
    pub(super) fn due(&self) -> Option<Instant> {
        self.deadline.filter(|_| self.verdict.is_none())
    }
}

/// The largest file frame sent (a 20 ms G.711 frame is 160 bytes).
pub(super) const MAX_FRAME: usize = 1024;

/// `rtp_stream` of a G.711 file or WAV on a WebRTC call: the frames, where it is, and the
/// passes left.
#[derive(Debug)]
pub(super) struct FileSource {
    frames: Arc<AudioFrames>,
    next: usize,
    loops: Loops,
}

impl FileSource {
    /// Writes the next frame into `buf`, in the negotiated law (`codec`), and returns
    /// its length; `None` once the file has played its passes.
    pub(super) fn next_frame(
        &mut self,
        codec: Option<AudioCodec>,
        buf: &mut [u8],
    ) -> Option<usize> {
        if self.frames.frame(self.next).is_none() {
            self.next = 0;
            match &mut self.loops {
                Loops::Forever => {}
                Loops::Count(n) if *n > 1 => *n -= 1,
                Loops::Count(_) => return None,
            }
        }
        let frame = self.frames.frame(self.next)?;
        self.next += 1;
        let out = buf.get_mut(..frame.len())?;
        let want = match codec {
            Some(AudioCodec::Pcma) => Some(G711Law::ALaw),
            Some(AudioCodec::Pcmu) => Some(G711Law::MuLaw),
            _ => None,
        };
        match (self.frames.law(), want) {
            (Some(from), Some(to)) if from != to => {
                for (o, b) in out.iter_mut().zip(frame) {
                    *o = to.encode(from.decode(*b));
                }
            }
            _ => out.copy_from_slice(frame),
        }
        Some(frame.len())
    }
}

impl WebrtcCalls {
    /// Runs one media action of call `number`. `Err`: why it cannot run (the endpoint
    /// logs it, naming the call and the action).
    pub fn handle_command(
        &mut self,
        now: Instant,
        number: u64,
        call_id: &[u8],
        cmd: &MediaCommand,
    ) -> Result<(), String> {
        let Some(e) = self.calls.get_mut(&number) else {
            return Err("the call has no WebRTC media".into());
        };
        match cmd {
            MediaCommand::SendDtmf(keys) => {
                e.dtmf.extend(keys.chars());
                if e.connected && e.dtmf_at.is_none() {
                    e.dtmf_at = Some(now);
                }
            }
            MediaCommand::RtpCheck(check) => {
                e.check = Some(Check {
                    check: *check,
                    deadline: check.timeout_ms.map(|ms| now + Duration::from_millis(ms)),
                    verdict: None,
                });
            }
            MediaCommand::Stream(StreamCommand::Synthetic { duration_ms, .. }) => {
                e.tone = true;
                e.tone_until = duration_ms.map(|ms| now + Duration::from_millis(ms));
                if e.connected && e.audio_at.is_none() {
                    e.audio_at = Some(super::on_grid(self.grid, now));
                }
            }
            MediaCommand::Stream(StreamCommand::Resume) => {
                e.tone = true;
                if e.connected && e.audio_at.is_none() {
                    e.audio_at = Some(super::on_grid(self.grid, now));
                }
            }
            MediaCommand::Stream(StreamCommand::Pause) => {
                e.tone = false;
                e.tone_until = None;
                e.audio_at = None;
            }
            MediaCommand::Stream(StreamCommand::Stop) => {
                e.tone = false;
                e.tone_until = None;
                e.audio_at = None;
                e.source = None;
            }
            MediaCommand::Stream(StreamCommand::File {
                file,
                loops,
                payload_type,
            }) => {
                let frames = self
                    .library
                    .as_ref()
                    .and_then(|l| l.frames(file, *payload_type))
                    .ok_or_else(|| format!("{file} was not loaded"))?;
                if frames.law().is_none() || frames.frame_len() > MAX_FRAME {
                    return Err(format!(
                        "{file}: only G.711 (payload type 0 or 8) goes over WebRTC"
                    ));
                }
                if e.bridge.send_codec() == Some(AudioCodec::Opus) {
                    return Err("the peer took Opus; a G.711 file cannot be sent".into());
                }
                e.source = Some(FileSource {
                    frames: Arc::clone(frames),
                    next: 0,
                    loops: *loops,
                });
                e.tone = true;
                e.tone_until = None;
                if e.connected && e.audio_at.is_none() {
                    e.audio_at = Some(super::on_grid(self.grid, now));
                }
            }
            MediaCommand::RecordStart { path, side } => {
                let mode = match side {
                    RecordSide::Duplex => RecordMode::Duplex,
                    RecordSide::Sent => RecordMode::Mono(Direction::Sent),
                    RecordSide::Received => RecordMode::Mono(Direction::Received),
                };
                let path = match path {
                    Some(p) => self.settings.write_base.join(p),
                    None => self
                        .settings
                        .record_dir
                        .join(format!("{}.wav", crate::media::sanitize_call_id(call_id))),
                };
                let new = super::record::Recording {
                    recorder: Box::new(CallRecorder::new(now, mode, DEFAULT_MAX_DURATION)),
                    path,
                    sent_ts: 0,
                };
                if let Some(old) = e.recording.replace(new) {
                    self.recordings.push_back(old.finish());
                }
            }
            MediaCommand::RecordStop => {
                if let Some(old) = e.recording.take() {
                    self.recordings.push_back(old.finish());
                }
            }
            _ => return Err("cannot run on a WebRTC call".into()),
        }
        self.after(now, number);
        Ok(())
    }

    /// Sends call `number`'s next DTMF key when it is due.
    pub(super) fn send_dtmf(&mut self, now: Instant, number: u64) {
        let Some(e) = self.calls.get_mut(&number) else {
            return;
        };
        if e.dtmf_at.is_none_or(|at| at > now) {
            return;
        }
        e.dtmf_at = None;
        let Some(key) = e.dtmf.pop_front() else {
            return;
        };
        if let Err(why) = e.bridge.send_dtmf(now, key, DTMF_KEY) {
            self.warnings
                .push_back(format!("call {number}: DTMF key {key:?} not sent: {why}"));
        }
        if !e.dtmf.is_empty() {
            e.dtmf_at = Some(now + DTMF_KEY + DTMF_GAP);
        }
    }

    /// Takes call `number`'s `rtpcheck` verdict when its timeout has expired.
    pub(super) fn check_timeout(&mut self, now: Instant, number: u64) {
        let Some(e) = self.calls.get_mut(&number) else {
            return;
        };
        if e.check.and_then(|c| c.due()).is_some_and(|d| d <= now) {
            let s = e.bridge.stats();
            let (sent, received) = (s.rtp_packets_sent, s.rtp_packets_received);
            self.verdict(number, sent, received, true);
        }
    }

    /// The call ends: its `rtpcheck` verdict, taken now if its timeout never came.
    /// Returns whether it failed.
    pub(super) fn final_verdict(&mut self, number: u64, e: &mut super::Entry) -> bool {
        let Some(c) = e.check.as_mut() else {
            return false;
        };
        if c.verdict.is_none() {
            let s = e.bridge.stats();
            let passed = c.check.passes(s.rtp_packets_sent, s.rtp_packets_received);
            c.verdict = Some(passed);
            if !passed {
                self.warn_check(number, &c.check, s, false);
            }
        }
        c.verdict == Some(false)
    }

    fn verdict(&mut self, number: u64, sent: u64, received: u64, timed_out: bool) {
        let Some(e) = self.calls.get_mut(&number) else {
            return;
        };
        let Some(c) = e.check.as_mut() else {
            return;
        };
        let passed = c.check.passes(sent, received);
        c.verdict = Some(passed);
        if !passed {
            let check = c.check;
            let stats = e.bridge.stats().clone();
            self.warn_check(number, &check, &stats, timed_out);
        }
    }

    fn warn_check(&mut self, number: u64, c: &RtpCheck, s: &WebrtcStats, timed_out: bool) {
        let when = if timed_out {
            "when its timeout expired"
        } else {
            "at the end of the call"
        };
        self.warnings.push_back(format!(
            "call {number}: rtpcheck failed {when}: {} audio frames sent, {} received, {} required ({:?})",
            s.rtp_packets_sent, s.rtp_packets_received, c.min_packets, c.direction
        ));
    }
}
