//! The scenario's media actions (`<exec play_pcap_audio=…>`, `rtp_stream`, `rtp_echo`,
//! `send_dtmf`, `rtp_record`, `rtpcheck`) run on a shard's `MediaEngine`.
//!
//! Owns: turning one parsed `MediaCommand` into streams, recordings and checks of its
//! call, and the reason a command cannot run (no SDP address, a file not loaded, nothing
//! to pause). Must not: read a clock or touch a socket or a file; `now` comes from the
//! call step that ran the action.

use std::cmp::Reverse;
use std::net::SocketAddr;

use std::sync::Arc;
use std::time::{Duration, Instant};

use gossipper_media::record::DEFAULT_MAX_DURATION;
use gossipper_media::{CallRecorder, Direction, G711Law, RecordMode, StreamSource};

use super::session::{CheckState, Recording};
use super::{DTMF_PAYLOAD_TYPE, MediaEngine, PendingRecording, START_DELAY};
use crate::scenario::media::{EchoCommand, MediaCommand, PcapTarget, RecordSide, StreamCommand};

impl MediaEngine {
    fn set_recording_flag(&mut self, call: u64, on: bool) {
        for o in self.owners.iter_mut().flatten() {
            if o.call == call {
                o.record = on;
            }
        }
    }

    /// Runs one media command of call `call` (parsed when the scenario loaded). The
    /// error says why it could not run; the caller counts it (`note_command_error`).
    pub fn handle_command(
        &mut self,
        now: Instant,
        call: u64,
        call_id: &[u8],
        cmd: &MediaCommand,
    ) -> Result<(), String> {
        let s = self.session(call, call_id);
        let remote = s.remote;
        let sends = matches!(
            cmd,
            MediaCommand::PlayPcap { .. }
                | MediaCommand::Stream(_)
                | MediaCommand::Echo(EchoCommand::Start)
                | MediaCommand::SendDtmf(_)
        );
        if sends && s.srtp_unanswered {
            return Err(super::srtp::CHOOSE.into());
        }
        let no_sdp = |what: &str| {
            format!("no {what} address: the call's SIP messages carried no SDP with m={what}")
        };
        match cmd {
            MediaCommand::PlayPcap { target, file } => {
                let target = *target;
                let (dest, what) = match target {
                    PcapTarget::Audio => (remote.audio, "audio"),
                    PcapTarget::Video => (remote.video, "video"),
                    PcapTarget::Image => (remote.image, "image"),
                };
                let dest = dest.ok_or_else(|| no_sdp(what))?;
                // A new replay replaces the one playing on the same stream, as in SIPp.
                let old = if target == PcapTarget::Audio {
                    s.audio
                } else {
                    s.video
                };
                let pcap = self
                    .lib
                    .pcap(file)
                    .ok_or_else(|| format!("{file} was not loaded with the scenario"))?;
                let source = StreamSource::Pcap(Arc::clone(pcap));
                if let Some(h) = old {
                    self.drop_stream(h);
                }
                let once = gossipper_media::Loops::Count(1);
                let (h, ssrc) = self.add_stream(now, call, dest, target, source, 0, once);
                let s = self.session(call, call_id);
                if target == PcapTarget::Audio {
                    s.audio = Some(h);
                    s.audio_is_pcap = true;
                    // RTCP speaks for the replayed audio too: the peer's report blocks
                    // about this stream's SSRC are the ones about us.
                    s.ssrc = ssrc;
                    s.receiver.set_local_ssrc(ssrc);
                } else {
                    s.video = Some(h);
                }
            }
            MediaCommand::Stream(sc) => self.stream_command(now, call, call_id, sc)?,
            MediaCommand::Echo(EchoCommand::Start) => s.echo = true,
            MediaCommand::Echo(EchoCommand::Stop) => s.echo = false,
            MediaCommand::SendDtmf(keys) => {
                let host = match (s.audio, s.audio_is_pcap) {
                    (Some(h), false) => Some(h),
                    _ => s.dtmf,
                };
                let host = match host {
                    Some(h) => h,
                    None => {
                        let dest = remote.audio.ok_or_else(|| no_sdp("audio"))?;
                        let (h, _) = self.add_stream(
                            now,
                            call,
                            dest,
                            PcapTarget::Audio,
                            StreamSource::DtmfOnly,
                            DTMF_PAYLOAD_TYPE,
                            gossipper_media::Loops::Count(1),
                        );
                        self.session(call, call_id).dtmf = Some(h);
                        h
                    }
                };
                self.scheduler
                    .send_dtmf(host, now + START_DELAY, keys)
                    .map_err(|e| e.to_string())?;
            }
            MediaCommand::RecordStart { path, side } => {
                let side = *side;
                let mode = match side {
                    RecordSide::Duplex => RecordMode::Duplex,
                    RecordSide::Sent => RecordMode::Mono(Direction::Sent),
                    RecordSide::Received => RecordMode::Mono(Direction::Received),
                };
                let path = match path {
                    Some(p) => self.cfg.write_base.join(p),
                    None => self.default_record_path(call_id),
                };
                let s = self.session(call, call_id);
                // The scenario takes over from the automatic recording (RecordCalls).
                s.auto_record = None;
                let old = s.recorder.take();
                s.recorder = Some(Box::new(Recording {
                    recorder: CallRecorder::new(now, mode, DEFAULT_MAX_DURATION),
                    path: path.clone(),
                    sent: side != RecordSide::Received,
                    automatic: false,
                }));
                if let Some(old) = old {
                    self.hand_out(*old, Some(&path));
                }
                self.set_recording_flag(call, side != RecordSide::Received);
            }
            MediaCommand::RecordStop => {
                s.auto_record = None;
                if let Some(old) = s.recorder.take() {
                    self.hand_out(*old, None);
                }
                self.set_recording_flag(call, false);
            }
            MediaCommand::RtpCheck(c) => {
                let check = CheckState::new(now, *c);
                s.check = Some(check);
                if let Some(at) = check.deadline {
                    self.checks_due.push(Reverse((at, call)));
                }
            }
        }
        Ok(())
    }

    fn stream_command(
        &mut self,
        now: Instant,
        call: u64,
        call_id: &[u8],
        sc: &StreamCommand,
    ) -> Result<(), String> {
        let s = self.session(call, call_id);
        let audio = s.audio;
        let dest = s.remote.audio;
        let need_audio = || "no rtp_stream is playing in this call".to_string();
        match *sc {
            StreamCommand::Pause => self
                .scheduler
                .pause(audio.ok_or_else(need_audio)?, now)
                .map_err(|e| e.to_string()),
            StreamCommand::Resume => self
                .scheduler
                .resume(audio.ok_or_else(need_audio)?, now)
                .map_err(|e| e.to_string()),
            StreamCommand::Stop => {
                if let Some(h) = audio {
                    self.drop_stream(h);
                }
                Ok(())
            }
            StreamCommand::Echo => {
                s.echo = true;
                Ok(())
            }
            StreamCommand::File {
                ref file,
                loops,
                payload_type,
            } => {
                let dest = dest.ok_or(
                    "no audio address: the call's SIP messages carried no SDP with m=audio",
                )?;
                let frames = self
                    .lib
                    .frames(file, payload_type)
                    .ok_or_else(|| format!("{file} was not loaded with the scenario"))?;
                let source = StreamSource::Frames(Arc::clone(frames));
                self.start_audio(now, call, dest, source, payload_type, loops);
                Ok(())
            }
            StreamCommand::Synthetic {
                payload_type,
                duration_ms,
            } => {
                let dest = dest.ok_or(
                    "no audio address: the call's SIP messages carried no SDP with m=audio",
                )?;
                let law = G711Law::from_payload_type(payload_type).unwrap_or(G711Law::MuLaw);
                let source = StreamSource::Silence {
                    law,
                    duration: duration_ms.map(Duration::from_millis),
                };
                self.start_audio(
                    now,
                    call,
                    dest,
                    source,
                    payload_type,
                    gossipper_media::Loops::Count(1),
                );
                Ok(())
            }
        }
    }

    fn start_audio(
        &mut self,
        now: Instant,
        call: u64,
        dest: SocketAddr,
        source: StreamSource,
        pt: u8,
        loops: gossipper_media::Loops,
    ) {
        if let Some(h) = self.sessions.get(&call).and_then(|s| s.audio) {
            self.drop_stream(h);
        }
        let (h, ssrc) = self.add_stream(now, call, dest, PcapTarget::Audio, source, pt, loops);
        if let Some(s) = self.sessions.get_mut(&call) {
            s.audio = Some(h);
            s.audio_is_pcap = false;
            // RTCP speaks for the generated audio stream.
            s.ssrc = ssrc;
            s.receiver.set_local_ssrc(ssrc);
        }
    }

    /// A recording ended (`rtp_record` stop or restart, or the call's end): hand it to the
    /// shard to write, unless it is the automatic one and `replaced_by` writes its file.
    pub(super) fn hand_out(&mut self, rec: Recording, replaced_by: Option<&std::path::Path>) {
        if rec.automatic && replaced_by == Some(rec.path.as_path()) {
            return;
        }
        self.recordings.push_back(PendingRecording {
            path: rec.path,
            recorder: Box::new(rec.recorder),
        });
    }
}
