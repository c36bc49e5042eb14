//! WAV playback source: reads a PCM WAV (8 kHz, mono, 8- or 16-bit) through hound and
//! encodes it to G.711 frames of 20 ms (160 bytes) for RTP payload type 0 or 8.
//!
//! Owns: validating the format and encoding once, at scenario load. Errors name the file
//! and the reason (wrong rate, stereo, float samples, empty…). Must not run on a shard's
//! hot path or panic on any file. The result is immutable; share it behind an `Arc`.

use std::io::Read;
use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::g711::G711Law;

/// Samples per 20 ms frame at 8 kHz.
pub const FRAME_SAMPLES: usize = 160;
/// The only sample rate accepted.
pub const WAV_SAMPLE_RATE: u32 = 8000;
/// Longest WAV accepted: one hour of audio (28.8 MB of G.711).
pub const MAX_WAV_SAMPLES: u32 = 3600 * WAV_SAMPLE_RATE;

/// A WAV that cannot be played, with the file it came from.
#[derive(Debug, Error)]
#[error("{}: {kind}", file.display())]
pub struct WavSourceError {
    /// The file (or label) given by the caller.
    pub file: PathBuf,
    /// What is wrong with it.
    pub kind: WavErrorKind,
}

/// What is wrong with a WAV.
#[derive(Debug, Error)]
pub enum WavErrorKind {
    /// The file could not be opened or read.
    #[error("cannot read: {0}")]
    Io(#[source] std::io::Error),
    /// Not a RIFF/WAVE file, or a corrupt one.
    #[error("not a valid WAV file: {0}")]
    NotWav(String),
    /// Sample rate other than 8000 Hz.
    #[error("sample rate is {0} Hz, expected 8000 Hz")]
    WrongRate(u32),
    /// More than one channel.
    #[error("{0} channels, expected mono")]
    NotMono(u16),
    /// Float samples or a bit depth other than 8 or 16.
    #[error("{0}, expected 8- or 16-bit integer PCM")]
    UnsupportedFormat(&'static str),
    /// No samples at all.
    #[error("no audio samples")]
    Empty,
    /// Longer than [`MAX_WAV_SAMPLES`].
    #[error("longer than one hour")]
    TooLong,
}

/// Encoded audio cut into 20 ms frames of `frame_len` bytes (160 for G.711); from PCM
/// the last frame is padded with silence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudioFrames {
    payload_type: u8,
    frame_len: usize,
    data: Vec<u8>,
}

impl AudioFrames {
    /// Encodes linear PCM (8 kHz mono) into G.711 frames.
    #[must_use]
    pub fn from_pcm(law: G711Law, pcm: &[i16]) -> AudioFrames {
        let frames = pcm.len().div_ceil(FRAME_SAMPLES);
        let mut data = vec![law.silence(); frames * FRAME_SAMPLES];
        law.encode_slice(pcm, &mut data);
        AudioFrames {
            payload_type: law.payload_type(),
            frame_len: FRAME_SAMPLES,
            data,
        }
    }

    /// Already-encoded bytes cut into frames of `frame_len` (at least 1); a short tail
    /// is dropped, as SIPp's `rtp_stream` sends only whole packets.
    #[must_use]
    pub fn from_encoded(payload_type: u8, frame_len: usize, mut data: Vec<u8>) -> AudioFrames {
        let frame_len = frame_len.max(1);
        data.truncate(data.len() / frame_len * frame_len);
        AudioFrames {
            payload_type,
            frame_len,
            data,
        }
    }

    /// The payload type the frames are encoded for.
    #[must_use]
    pub fn payload_type(&self) -> u8 {
        self.payload_type
    }

    /// The G.711 law, when the payload type is 0 or 8.
    #[must_use]
    pub fn law(&self) -> Option<G711Law> {
        G711Law::from_payload_type(self.payload_type)
    }

    /// Bytes per frame.
    #[must_use]
    pub fn frame_len(&self) -> usize {
        self.frame_len
    }

    /// Number of 20 ms frames.
    #[must_use]
    pub fn len(&self) -> usize {
        self.data.len() / self.frame_len
    }

    /// True when there is no frame.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.data.len() < self.frame_len
    }

    /// Frame `index`, or `None` past the end.
    #[must_use]
    pub fn frame(&self, index: usize) -> Option<&[u8]> {
        let start = index.checked_mul(self.frame_len)?;
        self.data.get(start..start + self.frame_len)
    }
}

/// Opens and encodes a WAV file (scenario-load time only).
pub fn load_wav(path: &Path, law: G711Law) -> Result<AudioFrames, WavSourceError> {
    let file = std::fs::File::open(path).map_err(|e| WavSourceError {
        file: path.to_path_buf(),
        kind: WavErrorKind::Io(e),
    })?;
    read_wav(path, std::io::BufReader::new(file), law)
}

/// Reads and encodes a WAV from `reader`; `file` names it in errors.
pub fn read_wav(
    file: &Path,
    reader: impl Read,
    law: G711Law,
) -> Result<AudioFrames, WavSourceError> {
    let err = |kind| WavSourceError {
        file: file.to_path_buf(),
        kind,
    };
    let hound_err = |e: hound::Error| match e {
        hound::Error::IoError(io) => err(WavErrorKind::Io(io)),
        other => err(WavErrorKind::NotWav(other.to_string())),
    };
    let mut wav = hound::WavReader::new(reader).map_err(hound_err)?;
    let spec = wav.spec();
    if spec.sample_rate != WAV_SAMPLE_RATE {
        return Err(err(WavErrorKind::WrongRate(spec.sample_rate)));
    }
    if spec.channels != 1 {
        return Err(err(WavErrorKind::NotMono(spec.channels)));
    }
    let shift = match (spec.sample_format, spec.bits_per_sample) {
        (hound::SampleFormat::Int, 16) => 0,
        // hound returns 8-bit samples re-centred to -128..=127.
        (hound::SampleFormat::Int, 8) => 8,
        (hound::SampleFormat::Float, _) => {
            return Err(err(WavErrorKind::UnsupportedFormat("float samples")));
        }
        (hound::SampleFormat::Int, 24) => {
            return Err(err(WavErrorKind::UnsupportedFormat("24-bit samples")));
        }
        (hound::SampleFormat::Int, 32) => {
            return Err(err(WavErrorKind::UnsupportedFormat("32-bit samples")));
        }
        (hound::SampleFormat::Int, _) => {
            return Err(err(WavErrorKind::UnsupportedFormat("odd bit depth")));
        }
    };
    if wav.len() > MAX_WAV_SAMPLES {
        return Err(err(WavErrorKind::TooLong));
    }
    // wav.len() is bounded above, so this reservation is at most 57.6 MB.
    let mut pcm = Vec::with_capacity(wav.len() as usize);
    for s in wav.samples::<i16>() {
        let s = s.map_err(hound_err)?;
        pcm.push(s << shift);
    }
    if pcm.is_empty() {
        return Err(err(WavErrorKind::Empty));
    }
    Ok(AudioFrames::from_pcm(law, &pcm))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn wav(rate: u32, channels: u16, bits: u16, float: bool, samples: &[i32]) -> Vec<u8> {
        let spec = hound::WavSpec {
            channels,
            sample_rate: rate,
            bits_per_sample: bits,
            sample_format: if float {
                hound::SampleFormat::Float
            } else {
                hound::SampleFormat::Int
            },
        };
        let mut cur = Cursor::new(Vec::new());
        let mut w = hound::WavWriter::new(&mut cur, spec).unwrap();
        for &s in samples {
            if float {
                w.write_sample(s as f32 / 32768.0).unwrap();
            } else if bits == 8 {
                w.write_sample(s as i8).unwrap();
            } else {
                w.write_sample(s as i16).unwrap();
            }
        }
        w.finalize().unwrap();
        cur.into_inner()
    }

    fn read(bytes: &[u8], law: G711Law) -> Result<AudioFrames, WavSourceError> {
        read_wav(Path::new("prompt.wav"), bytes, law)
    }

    #[test]
    fn pcm16_mono_8k_encodes_into_padded_20ms_frames() {
        let samples: Vec<i32> = (0..400).map(|i| (i * 50) - 10_000).collect();
        let f = read(&wav(8000, 1, 16, false, &samples), G711Law::ALaw).unwrap();
        assert_eq!(f.len(), 3);
        assert_eq!(f.law(), Some(G711Law::ALaw));
        assert_eq!((f.payload_type(), f.frame_len()), (8, 160));
        let first = f.frame(0).unwrap();
        assert_eq!(first.len(), FRAME_SAMPLES);
        assert_eq!(first[0], G711Law::ALaw.encode(-10_000));
        let last = f.frame(2).unwrap();
        assert_eq!(last[79], G711Law::ALaw.encode(((399 * 50) - 10_000) as i16));
        assert!(last[80..].iter().all(|&b| b == G711Law::ALaw.silence()));
        assert!(f.frame(3).is_none());
    }

    #[test]
    fn pcm8_is_scaled_to_16_bits() {
        let f = read(&wav(8000, 1, 8, false, &[100, -100, 0]), G711Law::MuLaw).unwrap();
        let fr = f.frame(0).unwrap();
        assert_eq!(fr[0], G711Law::MuLaw.encode(100 << 8));
        assert_eq!(fr[1], G711Law::MuLaw.encode(-100 << 8));
        assert_eq!(fr[2], G711Law::MuLaw.silence());
    }

    #[test]
    fn wrong_rate_stereo_float_and_empty_are_errors_naming_the_file() {
        type Check = fn(&WavErrorKind) -> bool;
        let cases: Vec<(Vec<u8>, Check)> = vec![
            (wav(16000, 1, 16, false, &[1]), |k| {
                matches!(k, WavErrorKind::WrongRate(16000))
            }),
            (wav(8000, 2, 16, false, &[1, 1]), |k| {
                matches!(k, WavErrorKind::NotMono(2))
            }),
            (wav(8000, 1, 32, true, &[1]), |k| {
                matches!(k, WavErrorKind::UnsupportedFormat(_))
            }),
            (wav(8000, 1, 24, false, &[1]), |k| {
                matches!(k, WavErrorKind::UnsupportedFormat(_))
            }),
            (wav(8000, 1, 16, false, &[]), |k| {
                matches!(k, WavErrorKind::Empty)
            }),
            (b"RIFF....garbage".to_vec(), |k| {
                matches!(k, WavErrorKind::NotWav(_) | WavErrorKind::Io(_))
            }),
        ];
        for (bytes, is) in cases {
            let e = read(&bytes, G711Law::MuLaw).unwrap_err();
            assert!(is(&e.kind), "{e}");
            assert_eq!(e.file, Path::new("prompt.wav"));
            assert!(e.to_string().starts_with("prompt.wav: "));
        }
        let e = load_wav(Path::new("/nonexistent/p.wav"), G711Law::ALaw).unwrap_err();
        assert!(matches!(e.kind, WavErrorKind::Io(_)));
    }

    #[test]
    fn truncated_data_is_an_error_not_a_panic() {
        let mut b = wav(8000, 1, 16, false, &[5; 1000]);
        b.truncate(b.len() - 501);
        assert!(read(&b, G711Law::MuLaw).is_err());
        for n in 0..60 {
            let _ = read(&b[..n.min(b.len())], G711Law::ALaw);
        }
    }
}
