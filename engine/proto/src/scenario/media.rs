//! The media verbs of `<exec …>` parsed into typed commands: SIPp's `play_pcap_audio`,
//! `play_pcap_video`, `play_pcap_image`, `rtp_stream`, `rtp_echo`, `rtpcheck`, and
//! gossipper's `send_dtmf` / `play_dtmf` and `rtp_record`.
//!
//! Owns: the argument grammar, parsed once when the scenario loads (the loader keeps the
//! typed command in `MediaAction::command`; a bad argument is an error naming the verb
//! and the reason when the run prepares its media). Calls hand the parsed command to the
//! media engine: nothing is parsed per call. Must not: touch files (the library loads
//! them).

use gossipper_media::Loops;

/// Which SDP stream a pcap replay goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PcapTarget {
    /// `play_pcap_audio`: the `m=audio` address.
    Audio,
    /// `play_pcap_video`: the `m=video` address.
    Video,
    /// `play_pcap_image`: the `m=image` address.
    Image,
}

/// What `rtp_stream=` asks for.
#[derive(Clone, Debug, PartialEq)]
pub enum StreamCommand {
    /// `file[,loops[,pt[,codec]]]`: play a raw codec file or a PCM WAV.
    File {
        file: String,
        loops: Loops,
        payload_type: u8,
    },
    /// `synthetic[,loops,pt,codec,freq_ms,dur_ms]` (and SIPp's `apattern`): codec silence.
    Synthetic {
        payload_type: u8,
        duration_ms: Option<u64>,
    },
    /// `pause`, `resume`, `stop`.
    Pause,
    Resume,
    Stop,
    /// `echo`: send every packet of this call back to its source.
    Echo,
}

/// What `rtp_echo=` asks for (SIPp `startaudio`, `pauseaudio`, …; the media word is
/// ignored: one port carries the call's RTP).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EchoCommand {
    Start,
    Stop,
}

/// Which packets `rtpcheck` counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CheckDirection {
    /// Sent or received.
    Any,
    Send,
    Recv,
    /// Both directions must reach the threshold.
    Both,
}

/// `rtpcheck`: at the end of the call (or after `timeout_ms`), at least `min_packets`
/// must have been counted in `direction`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RtpCheck {
    pub min_packets: u64,
    pub timeout_ms: Option<u64>,
    pub direction: CheckDirection,
}

impl RtpCheck {
    /// Whether `sent` and `received` packets meet the threshold.
    pub fn passes(&self, sent: u64, received: u64) -> bool {
        let n = self.min_packets;
        match self.direction {
            CheckDirection::Any => sent.max(received) >= n,
            CheckDirection::Send => sent >= n,
            CheckDirection::Recv => received >= n,
            CheckDirection::Both => sent >= n && received >= n,
        }
    }
}

impl MediaCommand {
    /// Whether a WebRTC call can run this command: DTMF (RFC 4733 through the bridge),
    /// `rtpcheck`, `rtp_record` (G.711 audio), a G.711 file or WAV (payload type 0 or 8;
    /// sent in the negotiated law), and starting, pausing, resuming or stopping the
    /// stream. Pcaps and echo cannot (yet).
    pub fn runs_over_webrtc(&self) -> bool {
        matches!(
            self,
            MediaCommand::SendDtmf(_)
                | MediaCommand::RtpCheck(_)
                | MediaCommand::RecordStart { .. }
                | MediaCommand::RecordStop
                | MediaCommand::Stream(
                    StreamCommand::Synthetic { .. }
                        | StreamCommand::Pause
                        | StreamCommand::Resume
                        | StreamCommand::Stop
                        | StreamCommand::File {
                            payload_type: 0 | 8,
                            ..
                        }
                )
        )
    }
}

/// One media command.
#[derive(Clone, Debug, PartialEq)]
pub enum MediaCommand {
    PlayPcap {
        target: PcapTarget,
        file: String,
    },
    Stream(StreamCommand),
    Echo(EchoCommand),
    /// RFC 4733 keys.
    SendDtmf(String),
    /// `rtp_record="start[,path][,received|sent|duplex]"` (default: received, mono).
    RecordStart {
        path: Option<String>,
        side: RecordSide,
    },
    /// `rtp_record="stop"`: stop and write the file now.
    RecordStop,
    RtpCheck(RtpCheck),
}

impl MediaCommand {
    /// The file this command reads (`play_pcap_*`, an `rtp_stream` file) or writes (an
    /// `rtp_record` path), and whether it writes it.
    pub fn file(&self) -> Option<(&str, bool)> {
        match self {
            MediaCommand::PlayPcap { file, .. }
            | MediaCommand::Stream(StreamCommand::File { file, .. }) => Some((file, false)),
            MediaCommand::RecordStart {
                path: Some(path), ..
            } => Some((path, true)),
            _ => None,
        }
    }
}

/// What a recording holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordSide {
    /// Mono: what the peer sent us.
    Received,
    /// Mono: what we sent.
    Sent,
    /// Stereo: left = sent, right = received.
    Duplex,
}

/// The payload types `rtp_stream` files accept (SIPp's list).
fn payload_type(text: &str) -> Result<u8, String> {
    match text.trim().parse::<u8>() {
        Ok(pt) if pt < 128 => Ok(pt),
        _ => Err(format!(
            "payload type {text:?} is not a number from 0 to 127"
        )),
    }
}

fn loops(text: &str) -> Result<Loops, String> {
    match text.trim().parse::<i64>() {
        Ok(-1) => Ok(Loops::Forever),
        Ok(n) if (0..=i64::from(u32::MAX)).contains(&n) => {
            Ok(Loops::Count(u32::try_from(n).unwrap_or(u32::MAX)))
        }
        _ => Err(format!("loop count {text:?} is not -1 or a count")),
    }
}

fn stream(argument: &str) -> Result<StreamCommand, String> {
    let mut parts = argument.split(',').map(str::trim);
    let head = parts.next().unwrap_or("");
    match head {
        "pause" => return Ok(StreamCommand::Pause),
        "resume" => return Ok(StreamCommand::Resume),
        "stop" => return Ok(StreamCommand::Stop),
        "echo" => return Ok(StreamCommand::Echo),
        "" => {
            return Err("needs a file name or one of pause, resume, stop, echo, synthetic".into());
        }
        _ => {}
    }
    let rest: Vec<&str> = parts.collect();
    let loop_count = rest
        .first()
        .filter(|s| !s.is_empty())
        .map_or(Ok(Loops::Count(1)), |s| loops(s))?;
    let pt = rest
        .get(1)
        .filter(|s| !s.is_empty())
        .map_or(Ok(0), |s| payload_type(s))?;
    if head == "synthetic" || head == "apattern" {
        let duration_ms = match rest.get(4).filter(|s| !s.is_empty()) {
            Some(d) => Some(
                d.parse::<u64>()
                    .map_err(|_| format!("duration {d:?} is not a number of ms"))?,
            ),
            None => None,
        };
        if gossipper_media::G711Law::from_payload_type(pt).is_none() {
            return Err(format!(
                "synthetic streams are G.711: payload type 0 or 8, not {pt}"
            ));
        }
        let duration_ms = duration_ms.filter(|d| *d > 0);
        return Ok(StreamCommand::Synthetic {
            payload_type: pt,
            duration_ms,
        });
    }
    Ok(StreamCommand::File {
        file: head.to_string(),
        loops: loop_count,
        payload_type: pt,
    })
}

fn rtpcheck(argument: &str) -> Result<RtpCheck, String> {
    let mut check = RtpCheck {
        min_packets: 1,
        timeout_ms: None,
        direction: CheckDirection::Any,
    };
    let argument = argument.trim();
    if let Ok(n) = argument.parse::<u64>() {
        check.min_packets = n;
        return Ok(check);
    }
    for item in argument.split([' ', ',', ';']).filter(|s| !s.is_empty()) {
        let (key, value) = item
            .split_once('=')
            .ok_or_else(|| format!("expected key=value, got {item:?}"))?;
        let number = || {
            value
                .parse::<u64>()
                .map_err(|_| format!("{key}={value:?} is not a number"))
        };
        match key {
            "min_packets" => check.min_packets = number()?,
            "timeout_ms" => check.timeout_ms = Some(number()?),
            "direction" => {
                check.direction = match value {
                    "any" => CheckDirection::Any,
                    "send" => CheckDirection::Send,
                    "recv" => CheckDirection::Recv,
                    "both" => CheckDirection::Both,
                    _ => {
                        return Err(format!(
                            "direction={value:?}: expected any, send, recv or both"
                        ));
                    }
                }
            }
            "bidirectional" => {
                if matches!(value, "true" | "1" | "yes") {
                    check.direction = CheckDirection::Both;
                }
            }
            _ => {
                return Err(format!(
                    "unknown key {key:?} (min_packets, timeout_ms, direction)"
                ));
            }
        }
    }
    Ok(check)
}

fn record(argument: &str) -> Result<MediaCommand, String> {
    let mut parts = argument.split(',').map(str::trim);
    match parts.next().unwrap_or("") {
        "stop" => Ok(MediaCommand::RecordStop),
        "start" | "" => {
            let mut path = None;
            let mut side = RecordSide::Received;
            for p in parts {
                match p {
                    "duplex" | "stereo" => side = RecordSide::Duplex,
                    "sent" => side = RecordSide::Sent,
                    "received" | "mono" | "" => {}
                    other => path = Some(other.to_string()),
                }
            }
            Ok(MediaCommand::RecordStart { path, side })
        }
        other => Err(format!(
            "expected start[,path][,duplex] or stop, got {other:?}"
        )),
    }
}

/// Parses one `<exec verb="argument">`. The error says what is wrong with the argument.
pub fn parse(verb: &str, argument: &str) -> Result<MediaCommand, String> {
    let file = || {
        let f = argument.trim();
        if f.is_empty() {
            Err("needs a pcap file name".to_string())
        } else {
            Ok(f.to_string())
        }
    };
    Ok(match verb {
        "play_pcap_audio" => MediaCommand::PlayPcap {
            target: PcapTarget::Audio,
            file: file()?,
        },
        "play_pcap_video" => MediaCommand::PlayPcap {
            target: PcapTarget::Video,
            file: file()?,
        },
        "play_pcap_image" => MediaCommand::PlayPcap {
            target: PcapTarget::Image,
            file: file()?,
        },
        "rtp_stream" => MediaCommand::Stream(stream(argument)?),
        "rtp_echo" => {
            let a = argument.trim().to_ascii_lowercase();
            if a.starts_with("stop") || a.starts_with("pause") {
                MediaCommand::Echo(EchoCommand::Stop)
            } else {
                MediaCommand::Echo(EchoCommand::Start)
            }
        }
        "send_dtmf" | "play_dtmf" => {
            let keys = argument.trim();
            if keys.is_empty() {
                return Err("needs DTMF keys (0-9 * # A-D)".into());
            }
            if let Some(bad) = keys
                .chars()
                .find(|c| gossipper_media::rtp::dtmf_event_for(*c).is_none())
            {
                return Err(format!("{bad:?} is not a DTMF key (0-9 * # A-D)"));
            }
            MediaCommand::SendDtmf(keys.to_string())
        }
        "rtp_record" => record(argument)?,
        "rtpcheck" => MediaCommand::RtpCheck(rtpcheck(argument)?),
        _ => return Err(format!("unknown media verb {verb}")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rtp_stream_takes_sipp_file_loops_and_payload_type() {
        assert_eq!(
            parse("rtp_stream", "audio.wav,-1,8").unwrap(),
            MediaCommand::Stream(StreamCommand::File {
                file: "audio.wav".into(),
                loops: Loops::Forever,
                payload_type: 8
            })
        );
        assert_eq!(
            parse("rtp_stream", "x.raw").unwrap(),
            MediaCommand::Stream(StreamCommand::File {
                file: "x.raw".into(),
                loops: Loops::Count(1),
                payload_type: 0
            })
        );
        assert_eq!(
            parse("rtp_stream", "pause").unwrap(),
            MediaCommand::Stream(StreamCommand::Pause)
        );
        assert_eq!(
            parse("rtp_stream", "echo").unwrap(),
            MediaCommand::Stream(StreamCommand::Echo)
        );
        assert_eq!(
            parse("rtp_stream", "synthetic,1,8,PCMA,20,3000").unwrap(),
            MediaCommand::Stream(StreamCommand::Synthetic {
                payload_type: 8,
                duration_ms: Some(3000)
            })
        );
        assert!(parse("rtp_stream", "f.raw,often").is_err());
        assert!(parse("rtp_stream", "f.raw,1,300").is_err());
        assert!(parse("rtp_stream", "synthetic,1,18").is_err());
        assert!(parse("rtp_stream", "").is_err());
    }

    #[test]
    fn rtpcheck_accepts_a_bare_count_or_keys() {
        let c = |a| match parse("rtpcheck", a).unwrap() {
            MediaCommand::RtpCheck(c) => c,
            other => panic!("{other:?}"),
        };
        assert_eq!(c("50").min_packets, 50);
        let k = c("min_packets=10 timeout_ms=3000 direction=both");
        assert_eq!(
            (k.min_packets, k.timeout_ms, k.direction),
            (10, Some(3000), CheckDirection::Both)
        );
        assert_eq!(c("bidirectional=true").direction, CheckDirection::Both);
        assert!(parse("rtpcheck", "direction=sideways").is_err());
        assert!(parse("rtpcheck", "speed=3").is_err());
    }

    #[test]
    fn dtmf_record_echo_and_pcap_verbs() {
        assert_eq!(
            parse("send_dtmf", "12#").unwrap(),
            MediaCommand::SendDtmf("12#".into())
        );
        assert!(parse("send_dtmf", "1x").is_err());
        assert!(parse("play_dtmf", "").is_err());
        assert_eq!(
            parse("rtp_record", "start,out.wav,duplex").unwrap(),
            MediaCommand::RecordStart {
                path: Some("out.wav".into()),
                side: RecordSide::Duplex
            }
        );
        assert_eq!(
            parse("rtp_record", "start").unwrap(),
            MediaCommand::RecordStart {
                path: None,
                side: RecordSide::Received
            }
        );
        assert_eq!(
            parse("rtp_record", "start,sent").unwrap(),
            MediaCommand::RecordStart {
                path: None,
                side: RecordSide::Sent
            }
        );
        assert_eq!(
            parse("rtp_record", "stop").unwrap(),
            MediaCommand::RecordStop
        );
        assert!(parse("rtp_record", "rewind").is_err());
        assert_eq!(
            parse("rtp_echo", "pauseaudio").unwrap(),
            MediaCommand::Echo(EchoCommand::Stop)
        );
        assert_eq!(
            parse("rtp_echo", "startaudio,PCMU/8000").unwrap(),
            MediaCommand::Echo(EchoCommand::Start)
        );
        assert_eq!(
            parse("play_pcap_video", " v.pcap ").unwrap(),
            MediaCommand::PlayPcap {
                target: PcapTarget::Video,
                file: "v.pcap".into()
            }
        );
        assert!(parse("play_pcap_audio", "").is_err());
        assert!(parse("teleport", "x").is_err());
    }
}
