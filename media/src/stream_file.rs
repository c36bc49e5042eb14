//! Loader for SIPp's `rtp_stream="file,loops,payload_type"` audio files.
//!
//! SIPp sends such a file as raw codec bytes, skipping only a RIFF/WAVE header, in fixed
//! packets per payload type: PT 0, 8 and 9 → 160 bytes per 20 ms, PT 18 (G.729) → 20
//! bytes per 20 ms. We accept the same files and one more kind, gossipper's: a PCM WAV
//! (8 kHz mono, 8/16-bit) is encoded to the payload type's G.711 law instead of being
//! sent as linear bytes. An A-law or µ-law WAV must match the payload type.
//!
//! Owns: telling those cases apart and cutting the frames, once, at scenario load. Errors
//! name the file and the reason. Must not run on the shard or panic on any file.

use std::io::Read;
use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::g711::G711Law;
use crate::wav_source::{AudioFrames, WavErrorKind, read_wav};

/// Largest `rtp_stream` file accepted (about 55 minutes of G.711).
pub const MAX_STREAM_FILE_BYTES: u64 = 26 * 1024 * 1024;

/// An `rtp_stream` file that cannot be played, with its name.
#[derive(Debug, Error)]
#[error("{}: {kind}", file.display())]
pub struct StreamFileError {
    /// The file (or label) given by the caller.
    pub file: PathBuf,
    /// What is wrong with it.
    pub kind: StreamFileErrorKind,
}

/// What is wrong with an `rtp_stream` file.
#[derive(Debug, Error)]
pub enum StreamFileErrorKind {
    /// Could not be read.
    #[error("cannot read: {0}")]
    Io(#[source] std::io::Error),
    /// Payload type without a known packet size (SIPp knows 0, 8, 9 and 18).
    #[error("payload type {0} is not supported for rtp_stream files (use 0, 8, 9 or 18)")]
    UnsupportedPayloadType(u8),
    /// A PCM WAV needs a G.711 payload type to be encoded to.
    #[error("a PCM WAV can only be streamed as PCMU (0) or PCMA (8), not payload type {0}")]
    PcmNeedsG711(u8),
    /// A G.711 WAV of the other law.
    #[error("the WAV holds {wav}, but payload type {payload_type} was asked for")]
    LawMismatch {
        /// The law in the WAV.
        wav: &'static str,
        /// The payload type asked for.
        payload_type: u8,
    },
    /// The PCM WAV itself is unusable (rate, channels, …).
    #[error("{0}")]
    Wav(WavErrorKind),
    /// A RIFF file whose chunks are broken, or a WAV format we do not stream.
    #[error("bad WAV: {0}")]
    BadWav(&'static str),
    /// Shorter than one packet.
    #[error("shorter than one {0}-byte packet")]
    TooShort(usize),
    /// Larger than [`MAX_STREAM_FILE_BYTES`].
    #[error("larger than {MAX_STREAM_FILE_BYTES} bytes")]
    TooLarge,
}

/// Bytes per 20 ms packet for the payload types SIPp streams from files.
#[must_use]
pub fn packet_bytes(payload_type: u8) -> Option<usize> {
    match payload_type {
        0 | 8 | 9 => Some(160),
        18 => Some(20),
        _ => None,
    }
}

/// Opens and cuts an `rtp_stream` file (scenario-load time only).
pub fn load_stream_file(path: &Path, payload_type: u8) -> Result<AudioFrames, StreamFileError> {
    let file = std::fs::File::open(path).map_err(|e| StreamFileError {
        file: path.to_path_buf(),
        kind: StreamFileErrorKind::Io(e),
    })?;
    read_stream_file(path, file, payload_type)
}

/// Reads and cuts an `rtp_stream` file from `reader`; `file` names it in errors.
pub fn read_stream_file(
    file: &Path,
    reader: impl Read,
    payload_type: u8,
) -> Result<AudioFrames, StreamFileError> {
    let err = |kind| StreamFileError {
        file: file.to_path_buf(),
        kind,
    };
    let frame_len = packet_bytes(payload_type).ok_or(err(
        StreamFileErrorKind::UnsupportedPayloadType(payload_type),
    ))?;
    let mut bytes = Vec::new();
    reader
        .take(MAX_STREAM_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| err(StreamFileErrorKind::Io(e)))?;
    if bytes.len() as u64 > MAX_STREAM_FILE_BYTES {
        return Err(err(StreamFileErrorKind::TooLarge));
    }
    let data = match riff_wave(&bytes).map_err(|e| err(StreamFileErrorKind::BadWav(e)))? {
        None => bytes,
        Some(Wave { format_tag: 1, .. }) => {
            let law = G711Law::from_payload_type(payload_type)
                .ok_or(err(StreamFileErrorKind::PcmNeedsG711(payload_type)))?;
            return read_wav(file, &bytes[..], law)
                .map_err(|e| err(StreamFileErrorKind::Wav(e.kind)));
        }
        Some(Wave { format_tag, data }) => {
            let wav_law = match format_tag {
                6 => Some((G711Law::ALaw, "A-law")),
                7 => Some((G711Law::MuLaw, "µ-law")),
                _ => None,
            };
            if let Some((law, name)) = wav_law
                && law.payload_type() != payload_type
            {
                return Err(err(StreamFileErrorKind::LawMismatch {
                    wav: name,
                    payload_type,
                }));
            }
            // Other formats (G.722, G.729 in WAV…) go out raw, as SIPp sends them.
            data.to_vec()
        }
    };
    if data.len() < frame_len {
        return Err(err(StreamFileErrorKind::TooShort(frame_len)));
    }
    Ok(AudioFrames::from_encoded(payload_type, frame_len, data))
}

struct Wave<'a> {
    format_tag: u16,
    data: &'a [u8],
}

fn le16(b: &[u8], at: usize) -> Option<u16> {
    let s = b.get(at..at + 2)?;
    Some(u16::from_le_bytes([s[0], s[1]]))
}

fn le32(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at + 4)?;
    Some(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

/// `None` when the bytes are not RIFF/WAVE (raw codec bytes); otherwise the format tag
/// and the `data` chunk, walking the chunks with bounds checks.
fn riff_wave(b: &[u8]) -> Result<Option<Wave<'_>>, &'static str> {
    if b.get(0..4) != Some(b"RIFF") || b.get(8..12) != Some(b"WAVE") {
        return Ok(None);
    }
    let mut at = 12;
    let mut format_tag = None;
    while let (Some(id), Some(size)) = (b.get(at..at + 4), le32(b, at + 4)) {
        let body = at + 8;
        let size = size as usize;
        let end = body.checked_add(size).ok_or("chunk size overflows")?;
        match id {
            b"fmt " => format_tag = Some(le16(b, body).ok_or("truncated fmt chunk")?),
            b"data" => {
                let tag = format_tag.ok_or("data chunk before fmt chunk")?;
                // A data size past the end (streamed WAVs write 0 or -1) means "to the end".
                let data = b
                    .get(body..end.min(b.len()))
                    .ok_or("truncated data chunk")?;
                return Ok(Some(Wave {
                    format_tag: tag,
                    data,
                }));
            }
            _ => {}
        }
        // Chunks are padded to an even length.
        at = end.checked_add(size & 1).ok_or("chunk size overflows")?;
    }
    Err("no data chunk")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn riff(format_tag: u16, data: &[u8]) -> Vec<u8> {
        let mut fmt = Vec::new();
        fmt.extend_from_slice(&format_tag.to_le_bytes());
        fmt.extend_from_slice(&1u16.to_le_bytes()); // mono
        fmt.extend_from_slice(&8000u32.to_le_bytes());
        fmt.extend_from_slice(&8000u32.to_le_bytes());
        fmt.extend_from_slice(&1u16.to_le_bytes());
        fmt.extend_from_slice(&8u16.to_le_bytes());
        let mut b = b"RIFF\0\0\0\0WAVE".to_vec();
        b.extend_from_slice(b"LIST");
        b.extend_from_slice(&3u32.to_le_bytes());
        b.extend_from_slice(&[1, 2, 3, 0]); // odd chunk + pad byte
        b.extend_from_slice(b"fmt ");
        b.extend_from_slice(&(fmt.len() as u32).to_le_bytes());
        b.extend_from_slice(&fmt);
        b.extend_from_slice(b"data");
        b.extend_from_slice(&(data.len() as u32).to_le_bytes());
        b.extend_from_slice(data);
        b
    }

    fn read(bytes: &[u8], pt: u8) -> Result<AudioFrames, StreamFileError> {
        read_stream_file(Path::new("audio.wav"), bytes, pt)
    }

    #[test]
    fn raw_bytes_are_cut_into_sipp_packet_sizes() {
        let f = read(&[0x55; 500], 8).unwrap();
        assert_eq!((f.len(), f.frame_len(), f.payload_type()), (3, 160, 8));
        let f = read(&[1; 100], 18).unwrap();
        assert_eq!((f.len(), f.frame_len()), (5, 20));
        assert!(matches!(
            read(&[0; 100], 0).unwrap_err().kind,
            StreamFileErrorKind::TooShort(160)
        ));
        assert!(matches!(
            read(&[0; 1000], 96).unwrap_err().kind,
            StreamFileErrorKind::UnsupportedPayloadType(96)
        ));
    }

    #[test]
    fn g711_wavs_are_sent_as_they_are_and_must_match_the_payload_type() {
        let data: Vec<u8> = (0..320).map(|i| i as u8).collect();
        let f = read(&riff(6, &data), 8).unwrap();
        assert_eq!(f.frame(1).unwrap(), &data[160..]);
        let f = read(&riff(7, &data), 0).unwrap();
        assert_eq!(f.len(), 2);
        let e = read(&riff(6, &data), 0).unwrap_err();
        assert!(matches!(
            e.kind,
            StreamFileErrorKind::LawMismatch {
                payload_type: 0,
                ..
            }
        ));
        assert!(e.to_string().starts_with("audio.wav: "));
    }

    #[test]
    fn pcm_wavs_are_encoded_to_the_payload_types_law() {
        let mut cur = std::io::Cursor::new(Vec::new());
        crate::asset_gen::write_tone_wav(&mut cur).unwrap();
        let wav = cur.into_inner();
        let f = read(&wav, 0).unwrap();
        assert_eq!((f.len(), f.law()), (200, Some(G711Law::MuLaw)));
        assert!(matches!(
            read(&wav, 9).unwrap_err().kind,
            StreamFileErrorKind::PcmNeedsG711(9)
        ));
    }

    #[test]
    fn broken_riff_files_are_errors_not_panics() {
        let good = riff(6, &[0; 320]);
        assert!(read(&good[..20], 8).is_err());
        let mut huge = good.clone();
        huge[16..20].copy_from_slice(&u32::MAX.to_le_bytes()); // LIST chunk size
        assert!(matches!(
            read(&huge, 8).unwrap_err().kind,
            StreamFileErrorKind::BadWav(_)
        ));
        for n in 0..good.len() {
            let _ = read(&good[..n], 8);
        }
        let e = load_stream_file(Path::new("/nonexistent/a.raw"), 0).unwrap_err();
        assert!(matches!(e.kind, StreamFileErrorKind::Io(_)));
    }
}
