//! The media files a scenario plays, loaded once when the run is prepared and shared by
//! every shard (`Arc`): pcap captures for `play_pcap_*` and frames for `rtp_stream`.
//!
//! Owns: finding every media action of the compiled scenario, checking its argument, and
//! reading each file once. A missing or malformed file is an error here that names the
//! file, the verb, where the action is and the reason, never a failed call later. Files
//! are read (or, for the master's check before it forks, checked) through the caller's
//! function, which applies the run's file rule (`files::FileAccess`: relative to the
//! working directory on SIPp's command line). The built-in `uac_pcap` names SIPp's
//! `pcap/g711a.pcap` and `pcap/dtmf_2833_1.pcap`; we do not ship SIPp's files, so for
//! the built-in those two names map to our generated captures embedded in the binary
//! (`assets/media/`). Must not: run on a shard; the reader is passed in, so tests need no
//! files.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;

use gossipper_media::{
    AudioFrames, DataLink, PcapPayloads, read_pcap, read_pcap_as, read_stream_file,
};

use crate::files::{FileError, MAX_DATA_FILE_BYTES};
use crate::scenario::MediaAction;
use crate::scenario::media::{MediaCommand, StreamCommand};
use crate::scenario::{Action, Pos, Scenario};

/// Our G.711 A-law tone capture, standing in for SIPp's `pcap/g711a.pcap`.
const BUILTIN_TONE: &[u8] = include_bytes!("../../../../assets/media/g711a_tone.pcap");
/// Our RFC 2833 digit capture, standing in for SIPp's `pcap/dtmf_2833_1.pcap`.
const BUILTIN_DTMF: &[u8] = include_bytes!("../../../../assets/media/dtmf_2833.pcap");

/// The embedded capture for a name the built-in scenarios use.
fn builtin_pcap(name: &str) -> Option<&'static [u8]> {
    match name {
        "pcap/g711a.pcap" => Some(BUILTIN_TONE),
        "pcap/dtmf_2833_1.pcap" => Some(BUILTIN_DTMF),
        _ => None,
    }
}

/// A media action that cannot run: which verb, which argument, where, and why.
#[derive(Debug, thiserror::Error)]
#[error("<exec {verb}=\"{argument}\">: {reason}")]
pub struct MediaLoadError {
    pub verb: String,
    pub argument: String,
    /// Where the attribute is in the scenario file.
    pub pos: Pos,
    /// Names the file when a file is at fault.
    pub reason: String,
    /// The file rule forbids the file (as opposed to it being absent or malformed).
    pub refused: bool,
}

/// One file a media action needs.
struct Need<'a> {
    action: &'a MediaAction,
    cmd: &'a MediaCommand,
}

impl Need<'_> {
    /// Adds this action's file to the run's media total, refusing past
    /// [`MAX_DATA_FILE_BYTES`] (each action counts: a file streamed with two payload
    /// types is decoded twice).
    fn count(&self, total: &mut u64, bytes: u64) -> Result<(), MediaLoadError> {
        *total = total.saturating_add(bytes);
        if *total > MAX_DATA_FILE_BYTES {
            return Err(self.error(
                format!("the scenario's media files come to more than {MAX_DATA_FILE_BYTES} bytes in all"),
                true,
            ));
        }
        Ok(())
    }

    fn error(&self, reason: String, refused: bool) -> MediaLoadError {
        MediaLoadError {
            verb: self.action.verb.clone(),
            argument: self.action.argument.clone(),
            pos: self.action.pos,
            reason,
            refused,
        }
    }

    fn file_error(&self, file: &str, e: FileError) -> MediaLoadError {
        self.error(format!("\"{file}\": {e}"), e.is_refusal())
    }
}

/// Every file the scenario's media actions need, loaded.
#[derive(Debug, Default)]
pub struct MediaLibrary {
    pcaps: HashMap<String, Arc<PcapPayloads>>,
    frames: HashMap<(String, u8), Arc<AudioFrames>>,
}

/// Whether the scenario has any media action (a run without one binds no media port).
pub fn scenario_has_media(sc: &Scenario) -> bool {
    media_actions(sc).next().is_some()
}

fn media_actions(sc: &Scenario) -> impl Iterator<Item = &MediaAction> {
    sc.commands
        .iter()
        .chain(&sc.init)
        .flat_map(|c| c.common.actions.iter())
        .filter_map(|a| match a {
            Action::Media(m) => Some(&**m),
            _ => None,
        })
}

/// Every media action of `sc` with a file to read, its argument parsed, each file once
/// (per payload type for `rtp_stream`). An argument that does not parse is an error.
fn needs(sc: &Scenario) -> Result<Vec<Need<'_>>, MediaLoadError> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for action in media_actions(sc) {
        let cmd = action.command.as_ref().map_err(|reason| MediaLoadError {
            verb: action.verb.clone(),
            argument: action.argument.clone(),
            pos: action.pos,
            reason: reason.clone(),
            refused: false,
        })?;
        let key = match cmd {
            MediaCommand::PlayPcap { file, .. } => (file.clone(), None),
            MediaCommand::Stream(StreamCommand::File {
                file, payload_type, ..
            }) => (file.clone(), Some(*payload_type)),
            _ => continue,
        };
        if seen.insert(key) {
            out.push(Need { action, cmd });
        }
    }
    Ok(out)
}

impl MediaLibrary {
    /// Checks every media action of `sc` and loads its files through `read`, each file
    /// read once and all of them together at most [`MAX_DATA_FILE_BYTES`]. `builtin`
    /// maps SIPp's pcap names of the built-in scenarios to our embedded captures.
    pub fn load(
        sc: &Scenario,
        builtin: bool,
        read: &dyn Fn(&Path) -> Result<Vec<u8>, FileError>,
    ) -> Result<MediaLibrary, MediaLoadError> {
        Self::load_as(sc, builtin, None, read)
    }

    /// [`MediaLibrary::load`], every `play_pcap_*` capture read from a file decoded as
    /// `pcap_link` (`-pcap-link`, a DLT number) instead of its own link type when given.
    /// The embedded captures of the built-ins keep theirs (they are ours, Ethernet).
    pub fn load_as(
        sc: &Scenario,
        builtin: bool,
        pcap_link: Option<u32>,
        read: &dyn Fn(&Path) -> Result<Vec<u8>, FileError>,
    ) -> Result<MediaLibrary, MediaLoadError> {
        let link = pcap_link.map(DataLink::from);
        let mut lib = MediaLibrary::default();
        let mut read_once: HashMap<String, Arc<Vec<u8>>> = HashMap::new();
        let mut total = 0u64;
        let mut read = |need: &Need<'_>, file: &str| -> Result<Arc<Vec<u8>>, MediaLoadError> {
            let bytes = match read_once.get(file) {
                Some(b) => Arc::clone(b),
                None => {
                    let b = Arc::new(read(Path::new(file)).map_err(|e| need.file_error(file, e))?);
                    read_once.insert(file.to_string(), Arc::clone(&b));
                    b
                }
            };
            need.count(&mut total, bytes.len() as u64)?;
            Ok(bytes)
        };
        for need in needs(sc)? {
            let err = |e: &dyn std::fmt::Display| need.error(e.to_string(), false);
            match need.cmd {
                MediaCommand::PlayPcap { file, .. } => {
                    let path = Path::new(file);
                    let payloads = match builtin.then(|| builtin_pcap(file)).flatten() {
                        Some(bytes) => read_pcap(path, bytes),
                        None => read_pcap_as(path, &read(&need, file)?[..], link),
                    }
                    .map_err(|e| err(&e))?;
                    lib.pcaps.insert(file.clone(), Arc::new(payloads));
                }
                MediaCommand::Stream(StreamCommand::File {
                    file, payload_type, ..
                }) => {
                    let path = Path::new(file);
                    let bytes = read(&need, file)?;
                    let frames =
                        read_stream_file(path, &bytes[..], *payload_type).map_err(|e| err(&e))?;
                    lib.frames
                        .insert((file.clone(), *payload_type), Arc::new(frames));
                }
                _ => {}
            }
        }
        Ok(lib)
    }

    /// What `load` checks before reading: every argument parses, every file passes
    /// `check` (the run's file rule, on the file's metadata; it returns the size) and the
    /// sizes stay within the total. The master runs this before it forks a worker,
    /// without reading any media.
    pub fn check(
        sc: &Scenario,
        builtin: bool,
        check: &dyn Fn(&Path) -> Result<u64, FileError>,
    ) -> Result<(), MediaLoadError> {
        let mut total = 0u64;
        for need in needs(sc)? {
            if let Some((file, _)) = need.cmd.file()
                && !(builtin && builtin_pcap(file).is_some())
            {
                let size = check(Path::new(file)).map_err(|e| need.file_error(file, e))?;
                need.count(&mut total, size)?;
            }
        }
        Ok(())
    }

    /// A loaded capture.
    pub fn pcap(&self, file: &str) -> Option<&Arc<PcapPayloads>> {
        self.pcaps.get(file)
    }

    /// Loaded frames of an `rtp_stream` file for a payload type.
    pub fn frames(&self, file: &str, payload_type: u8) -> Option<&Arc<AudioFrames>> {
        self.frames.get(&(file.to_string(), payload_type))
    }

    /// Adds frames under a name (tests and generated sources).
    pub fn insert_frames(&mut self, file: &str, payload_type: u8, frames: AudioFrames) {
        self.frames
            .insert((file.to_string(), payload_type), Arc::new(frames));
    }

    /// Adds a capture under a name (tests and generated sources).
    pub fn insert_pcap(&mut self, file: &str, payloads: PcapPayloads) {
        self.pcaps.insert(file.to_string(), Arc::new(payloads));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::{LoadOptions, load};

    fn scenario(actions: &str) -> Scenario {
        let xml = format!(
            "<scenario><send><![CDATA[\nINVITE sip:x SIP/2.0\nContent-Length: 0\n\n]]></send>\
             <nop><action>{actions}</action></nop></scenario>"
        );
        load(xml.as_bytes(), "t.xml", &LoadOptions::default()).unwrap()
    }

    fn no_files(p: &Path) -> Result<Vec<u8>, FileError> {
        Err(FileError::Io(format!("{} not found", p.display())))
    }

    #[test]
    fn builtin_names_map_to_embedded_captures() {
        let sc = scenario(
            r#"<exec play_pcap_audio="pcap/g711a.pcap"/><exec play_pcap_audio="pcap/dtmf_2833_1.pcap"/>"#,
        );
        assert!(scenario_has_media(&sc));
        let lib = MediaLibrary::load(&sc, true, &no_files).unwrap();
        assert!(lib.pcap("pcap/g711a.pcap").unwrap().packets().len() > 100);
        assert!(
            !lib.pcap("pcap/dtmf_2833_1.pcap")
                .unwrap()
                .packets()
                .is_empty()
        );
    }

    #[test]
    fn a_user_scenario_reads_from_the_working_directory_and_names_a_missing_file() {
        let sc = scenario(r#"<exec play_pcap_audio="pcap/g711a.pcap"/>"#);
        let e = MediaLibrary::load(&sc, false, &no_files).unwrap_err();
        assert_eq!(e.verb, "play_pcap_audio");
        assert!(e.reason.contains("pcap/g711a.pcap"), "{e}");
        let ok = MediaLibrary::load(&sc, false, &|p: &Path| {
            assert_eq!(p, Path::new("pcap/g711a.pcap"));
            Ok(BUILTIN_TONE.to_vec())
        });
        assert!(ok.is_ok());
    }

    #[test]
    fn the_check_names_the_refused_action_and_skips_embedded_captures() {
        let sc =
            scenario(r#"<exec play_pcap_audio="pcap/g711a.pcap"/><exec rtp_stream="x.wav,1,0"/>"#);
        let refuse = |p: &Path| {
            assert_eq!(p, Path::new("x.wav"), "only files not embedded are checked");
            Err(FileError::Escapes)
        };
        let e = MediaLibrary::check(&sc, true, &refuse).unwrap_err();
        assert!(e.refused && e.verb == "rtp_stream", "{e:?}");
        assert!(e.reason.contains("\"x.wav\""), "{e}");
        // The position of the rtp_stream attribute in the test scenario.
        assert_eq!((e.pos.line, e.pos.column), (5, 71), "{e:?}");
        assert!(MediaLibrary::check(&sc, false, &|_: &Path| Ok(1)).is_ok());
        // Sizes add up per action, so one huge file streamed twice is refused too.
        let sc = scenario(r#"<exec rtp_stream="x.wav,1,0"/><exec rtp_stream="x.wav,1,8"/>"#);
        let half = MAX_DATA_FILE_BYTES / 2 + 1;
        let e = MediaLibrary::check(&sc, false, &|_: &Path| Ok(half)).unwrap_err();
        assert!(e.refused && e.argument == "x.wav,1,8", "{e:?}");
    }

    #[test]
    fn pcap_link_decodes_a_mislabelled_capture_and_names_the_file_when_wrong() {
        let sc = scenario(r#"<exec play_pcap_audio="tone.pcap"/>"#);
        // Our Ethernet tone capture whose header claims raw IP (DLT 101, little-endian).
        let mut mislabelled = BUILTIN_TONE.to_vec();
        mislabelled[20..24].copy_from_slice(&101u32.to_le_bytes());
        let read = |_: &Path| Ok(mislabelled.clone());
        let e = MediaLibrary::load(&sc, false, &read).unwrap_err();
        assert!(
            e.reason.contains("tone.pcap") && e.reason.contains("no UDP"),
            "{e}"
        );
        let lib = MediaLibrary::load_as(&sc, false, Some(1), &read).unwrap();
        assert_eq!(lib.pcap("tone.pcap").unwrap().packets().len(), 200);
        // The right capture forced to a wrong link type fails, naming the file and flag.
        let good = |_: &Path| Ok(BUILTIN_TONE.to_vec());
        let e = MediaLibrary::load_as(&sc, false, Some(113), &good).unwrap_err();
        assert!(
            e.reason.contains("tone.pcap") && e.reason.contains("linux_sll (forced by -pcap-link"),
            "{e}"
        );
        // The built-in names keep their embedded captures' own link type.
        let sc = scenario(r#"<exec play_pcap_audio="pcap/g711a.pcap"/>"#);
        assert!(MediaLibrary::load_as(&sc, true, Some(113), &no_files).is_ok());
    }

    #[test]
    fn a_pcm_wav_streams_as_20_ms_g711_frames() {
        let sc = scenario(r#"<exec rtp_stream="tone.wav,-1,0"/>"#);
        let wav = include_bytes!("../../../../assets/media/tone_440_8k.wav");
        let lib = MediaLibrary::load(&sc, false, &|_: &Path| Ok(wav.to_vec())).unwrap();
        let frames = lib.frames("tone.wav", 0).unwrap();
        assert_eq!(frames.len(), 200, "4 s at 8 kHz in 160-sample frames");
        assert_eq!(frames.payload_type(), 0);
    }

    #[test]
    fn malformed_files_and_arguments_fail_at_load_with_the_reason() {
        let sc = scenario(r#"<exec play_pcap_audio="bad.pcap"/>"#);
        let e =
            MediaLibrary::load(&sc, false, &|_: &Path| Ok(b"not a capture".to_vec())).unwrap_err();
        assert!(e.reason.contains("bad.pcap"), "{e}");
        let sc = scenario(r#"<exec rtp_stream="tone.wav,1,8"/>"#);
        let e = MediaLibrary::load(&sc, false, &|_: &Path| {
            Ok(b"RIFF\x04\x00\x00\x00WAVE".to_vec())
        })
        .unwrap_err();
        assert!(e.reason.contains("tone.wav"), "{e}");
        let sc = scenario(r#"<exec rtp_stream="tone.wav,sometimes"/>"#);
        assert!(MediaLibrary::load(&sc, false, &no_files).is_err());
        let sc = scenario(r#"<exec rtp_stream="pause"/><exec rtpcheck="5"/>"#);
        assert!(MediaLibrary::load(&sc, false, &no_files).is_ok());
    }
}
