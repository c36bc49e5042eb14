//! The media library: `media/wav/<name>.wav` and `media/pcap/<name>.pcap`.
//!
//! Owns: storing uploads (spooled to `tmp/`, checked with hound or pcap-file, then renamed
//! into place, so a bad or cut-off upload never becomes a library file), the library's
//! quota (file count and total bytes over both kinds, checked before the body is read
//! when its length is declared, and again under a lock just before the rename, so
//! concurrent uploads cannot overshoot it together), listing (a WAV with its sample
//! rate, channels, sample size and length, and a warning when the engine cannot play
//! it: it plays 8 kHz mono 8- or 16-bit PCM), locating and deleting
//! assets. Must not: know about HTTP.

use std::fs::File;
use std::io::{BufReader, Read, Seek};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::SystemTime;

use serde::Serialize;

use super::{StoreError, files};
use crate::service::paths::{Layout, Place};
use crate::service::timefmt;

/// The two libraries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MediaKind {
    Wav,
    Pcap,
}

impl MediaKind {
    pub(crate) fn parse(s: &str) -> Option<MediaKind> {
        match s {
            "wav" => Some(MediaKind::Wav),
            "pcap" => Some(MediaKind::Pcap),
            _ => None,
        }
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            MediaKind::Wav => "wav",
            MediaKind::Pcap => "pcap",
        }
    }

    pub(crate) fn content_type(self) -> &'static str {
        match self {
            MediaKind::Wav => "audio/wav",
            MediaKind::Pcap => "application/vnd.tcpdump.pcap",
        }
    }

    fn dir(self) -> &'static str {
        match self {
            MediaKind::Wav => "media/wav",
            MediaKind::Pcap => "media/pcap",
        }
    }

    fn ext(self) -> &'static str {
        match self {
            MediaKind::Wav => ".wav",
            MediaKind::Pcap => ".pcap",
        }
    }
}

/// One asset as listed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct MediaAsset {
    pub(crate) kind: &'static str,
    pub(crate) name: String,
    pub(crate) size_bytes: u64,
    pub(crate) mod_time: String,
    /// A WAV's format (absent for a pcap, or a WAV whose header no longer reads).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) audio: Option<AudioInfo>,
    /// Why scenarios cannot play this file as it is, if they cannot.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) warning: Option<String>,
}

/// A WAV's format.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub(crate) struct AudioInfo {
    pub(crate) sample_rate: u32,
    pub(crate) channels: u16,
    pub(crate) bits_per_sample: u16,
    /// Whole milliseconds of audio.
    pub(crate) duration_ms: u64,
}

/// What the engine plays (`gossipper_media::wav_source`): 8 kHz, mono, 8- or 16-bit PCM.
fn playable(a: &AudioInfo, float: bool) -> Option<String> {
    let mut wrong = Vec::new();
    if a.sample_rate != 8000 {
        wrong.push(format!("{} Hz", a.sample_rate));
    }
    if a.channels != 1 {
        wrong.push(format!("{} channels", a.channels));
    }
    if float || !matches!(a.bits_per_sample, 8 | 16) {
        wrong.push(format!(
            "{}-bit {}",
            a.bits_per_sample,
            if float { "float" } else { "PCM" }
        ));
    }
    (!wrong.is_empty()).then(|| {
        format!(
            "{}: scenarios play 8 kHz mono 8- or 16-bit PCM only; convert it first, e.g. sox in.wav -r 8000 -c 1 -b 16 out.wav",
            wrong.join(", ")
        )
    })
}

/// A WAV's format and the warning it deserves; `None` when its header does not read.
fn wav_info(path: &std::path::Path) -> Option<(AudioInfo, Option<String>)> {
    let r = hound::WavReader::open(path).ok()?;
    let spec = r.spec();
    let frames = u64::from(r.duration());
    let info = AudioInfo {
        sample_rate: spec.sample_rate,
        channels: spec.channels,
        bits_per_sample: spec.bits_per_sample,
        duration_ms: if spec.sample_rate > 0 {
            frames * 1000 / u64::from(spec.sample_rate)
        } else {
            0
        },
    };
    let float = spec.sample_format == hound::SampleFormat::Float;
    Some((info, playable(&info, float)))
}

/// The library's limits, over both kinds together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Quota {
    pub(crate) max_files: usize,
    pub(crate) max_bytes: u64,
}

impl Default for Quota {
    /// 1,000 files and 4 GiB (`gossipper ui --media-max-files / --media-max-bytes`).
    fn default() -> Quota {
        Quota {
            max_files: 1000,
            max_bytes: 4 << 30,
        }
    }
}

/// Why an upload was refused.
#[derive(Debug, thiserror::Error)]
pub(crate) enum UploadError {
    #[error(
        "the media library is full: it holds {files} of at most {max} files; delete some first"
    )]
    TooManyFiles { files: usize, max: usize },
    #[error(
        "the media library is full: {used} of {max} bytes are used and this upload needs {size} more; delete some first"
    )]
    OverQuota { used: u64, size: u64, max: u64 },
    #[error("body is larger than {0} bytes")]
    TooLarge(u64),
    #[error("body is empty")]
    Empty,
    #[error("not a valid {kind} file: {reason}")]
    Invalid { kind: &'static str, reason: String },
    #[error("reading the body: {0}")]
    Read(std::io::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub(crate) struct Media {
    layout: Layout,
    quota: Quota,
    /// Held from the final quota check to the rename of an upload.
    commit_lock: Mutex<()>,
}

/// What the library holds now, apart from one name (an upload replacing it frees it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Usage {
    files: usize,
    bytes: u64,
}

impl Media {
    pub(crate) fn new(layout: &Layout) -> Media {
        Media {
            layout: layout.clone(),
            quota: Quota::default(),
            commit_lock: Mutex::new(()),
        }
    }

    pub(crate) fn set_quota(&mut self, quota: Quota) {
        self.quota = quota;
    }

    /// Files and bytes of both libraries, leaving out `except` (the file an upload would
    /// replace).
    fn usage(&self, except: &std::path::Path) -> Result<Usage, StoreError> {
        let mut usage = Usage { files: 0, bytes: 0 };
        for kind in [MediaKind::Wav, MediaKind::Pcap] {
            for asset in self.list(kind)? {
                let path = self.layout.path(Self::place(kind, &asset.name))?;
                if path != except {
                    usage.files += 1;
                    usage.bytes += asset.size_bytes;
                }
            }
        }
        Ok(usage)
    }

    /// Whether `size` more bytes in one more file (unless it replaces `target`) fit.
    fn check_quota(&self, target: &std::path::Path, size: u64) -> Result<(), UploadError> {
        let usage = self.usage(target)?;
        if usage.files >= self.quota.max_files {
            return Err(UploadError::TooManyFiles {
                files: usage.files,
                max: self.quota.max_files,
            });
        }
        if usage.bytes.saturating_add(size) > self.quota.max_bytes {
            return Err(UploadError::OverQuota {
                used: usage.bytes,
                size,
                max: self.quota.max_bytes,
            });
        }
        Ok(())
    }

    /// The stored name for an upload: the URL name without a repeated extension
    /// (`ring.wav` and `ring` both become `ring`, referenced as `[[media:wav/ring]]`).
    pub(crate) fn normalize(kind: MediaKind, name: &str) -> &str {
        name.strip_suffix(kind.ext())
            .filter(|s| !s.is_empty())
            .unwrap_or(name)
    }

    fn place(kind: MediaKind, name: &str) -> Place<'_> {
        match kind {
            MediaKind::Wav => Place::Wav(name),
            MediaKind::Pcap => Place::Pcap(name),
        }
    }

    /// The file of an existing asset.
    pub(crate) fn locate(&self, kind: MediaKind, name: &str) -> Result<PathBuf, StoreError> {
        let name = Self::normalize(kind, name);
        let path = self.layout.path(Self::place(kind, name))?;
        if path.is_file() {
            Ok(path)
        } else {
            Err(StoreError::NotFound(format!(
                "{} \"{name}\"",
                kind.as_str()
            )))
        }
    }

    /// Every asset of a kind, by name. (A directory listing: the library is small and
    /// this keeps it right even if an admin copies files in by hand.)
    pub(crate) fn list(&self, kind: MediaKind) -> Result<Vec<MediaAsset>, StoreError> {
        let dir = self.layout.dir(kind.dir());
        let entries = std::fs::read_dir(&dir).map_err(|e| StoreError::io(&dir, e))?;
        let mut out = Vec::new();
        for entry in entries.flatten() {
            let file_name = entry.file_name().to_string_lossy().into_owned();
            let Some(name) = file_name.strip_suffix(kind.ext()) else {
                continue;
            };
            let Ok(md) = entry.metadata() else { continue };
            if !md.is_file() {
                continue;
            }
            let (audio, warning) = match kind {
                MediaKind::Wav => {
                    wav_info(&entry.path()).map_or((None, None), |(a, w)| (Some(a), w))
                }
                MediaKind::Pcap => (None, None),
            };
            out.push(MediaAsset {
                kind: kind.as_str(),
                name: name.to_string(),
                size_bytes: md.len(),
                mod_time: timefmt::rfc3339(md.modified().unwrap_or(SystemTime::UNIX_EPOCH)),
                audio,
                warning,
            });
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Stores an upload: check the quota against the declared length, spool (≤ `limit`
    /// bytes), check the format, check the quota again with the real size, rename into
    /// place.
    pub(crate) fn upload(
        &self,
        kind: MediaKind,
        name: &str,
        body: &mut dyn Read,
        limit: u64,
        declared_len: Option<u64>,
    ) -> Result<MediaAsset, UploadError> {
        let name = Self::normalize(kind, name);
        let target = self
            .layout
            .path(Self::place(kind, name))
            .map_err(StoreError::from)?;
        self.check_quota(&target, declared_len.unwrap_or(0).min(limit))?;
        let spooled = files::spool(&self.layout, body, limit).map_err(|e| match e {
            files::SpoolError::TooLarge => UploadError::TooLarge(limit),
            files::SpoolError::Read(e) => UploadError::Read(e),
            files::SpoolError::Store(e) => UploadError::Store(e),
        })?;
        if spooled.size == 0 {
            return Err(UploadError::Empty);
        }
        let f = File::open(&spooled.path).map_err(|e| StoreError::io(&spooled.path, e))?;
        let check = match kind {
            MediaKind::Wav => check_wav(f, spooled.size),
            MediaKind::Pcap => check_pcap(f),
        };
        check.map_err(|reason| UploadError::Invalid {
            kind: kind.as_str(),
            reason,
        })?;
        let size_bytes = spooled.size;
        {
            let _one_at_a_time = self.commit_lock.lock().unwrap_or_else(|p| p.into_inner());
            self.check_quota(&target, size_bytes)?;
            spooled.commit(&target)?;
        }
        let (audio, warning) = match kind {
            MediaKind::Wav => wav_info(&target).map_or((None, None), |(a, w)| (Some(a), w)),
            MediaKind::Pcap => (None, None),
        };
        Ok(MediaAsset {
            kind: kind.as_str(),
            name: name.to_string(),
            size_bytes,
            mod_time: timefmt::rfc3339(SystemTime::now()),
            audio,
            warning,
        })
    }

    pub(crate) fn delete(&self, kind: MediaKind, name: &str) -> Result<(), StoreError> {
        let path = self.locate(kind, name)?;
        files::remove(&path)?;
        Ok(())
    }
}

/// A WAV must have a header hound accepts and as many data bytes as it declares.
fn check_wav(f: File, file_size: u64) -> Result<(), String> {
    let reader = hound::WavReader::new(BufReader::new(f)).map_err(|e| e.to_string())?;
    let spec = reader.spec();
    if spec.channels == 0 || spec.sample_rate == 0 {
        return Err(format!(
            "{} channels at {} Hz",
            spec.channels, spec.sample_rate
        ));
    }
    let bytes_per_sample = u64::from(spec.bits_per_sample).div_ceil(8);
    let data_bytes = u64::from(reader.len()) * bytes_per_sample;
    // hound stops at the start of the data chunk: that is where the samples begin.
    let data_start = reader
        .into_inner()
        .stream_position()
        .map_err(|e| e.to_string())?;
    if data_start + data_bytes > file_size {
        return Err(format!(
            "declares {data_bytes} bytes of samples but only {} follow the header",
            file_size - data_start.min(file_size)
        ));
    }
    Ok(())
}

/// A PCAP (or pcapng) must parse to the end, every packet whole.
fn check_pcap(f: File) -> Result<(), String> {
    let mut head = [0u8; 4];
    let mut buf = BufReader::new(f);
    buf.read_exact(&mut head)
        .map_err(|_| "shorter than a pcap header".to_string())?;
    let chained = std::io::Cursor::new(head).chain(buf);
    if head == [0x0a, 0x0d, 0x0d, 0x0a] {
        let mut r = pcap_file::pcapng::PcapNgReader::new(chained).map_err(|e| e.to_string())?;
        while let Some(block) = r.next_block() {
            block.map_err(|e| e.to_string())?;
        }
    } else {
        let mut r = pcap_file::pcap::PcapReader::new(chained).map_err(|e| e.to_string())?;
        let mut n = 0u64;
        while let Some(packet) = r.next_packet() {
            packet.map_err(|e| format!("packet {}: {e}", n + 1))?;
            n += 1;
        }
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod samples {
    //! Small valid media files for tests.

    pub(crate) fn wav() -> Vec<u8> {
        let mut out = std::io::Cursor::new(Vec::new());
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: 8000,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut w = hound::WavWriter::new(&mut out, spec).unwrap();
        for i in 0..800 {
            w.write_sample((i % 100) as i16).unwrap();
        }
        w.finalize().unwrap();
        out.into_inner()
    }

    pub(crate) fn pcap() -> Vec<u8> {
        use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};
        let mut w = PcapWriter::with_header(Vec::new(), PcapHeader::default()).unwrap();
        let data = [0u8; 60];
        w.write_packet(&PcapPacket::new(
            std::time::Duration::from_secs(1),
            60,
            &data,
        ))
        .unwrap();
        w.into_writer()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::store::files::testdir::TestDir;

    #[test]
    fn valid_uploads_are_stored_and_listed() {
        let t = TestDir::new("media-ok");
        let m = Media::new(&t.layout);
        let wav = samples::wav();
        let a = m
            .upload(MediaKind::Wav, "ring.wav", &mut &wav[..], 1 << 20, None)
            .unwrap();
        assert_eq!(a.name, "ring");
        m.upload(
            MediaKind::Pcap,
            "dtmf",
            &mut &samples::pcap()[..],
            1 << 20,
            None,
        )
        .unwrap();
        assert_eq!(
            m.list(MediaKind::Wav).unwrap()[0].size_bytes,
            wav.len() as u64
        );
        assert_eq!(
            std::fs::read(m.locate(MediaKind::Wav, "ring").unwrap()).unwrap(),
            wav
        );
        m.delete(MediaKind::Pcap, "dtmf").unwrap();
        assert!(m.list(MediaKind::Pcap).unwrap().is_empty());
    }

    fn wav_of(rate: u32, channels: u16, samples: u32) -> Vec<u8> {
        let mut out = std::io::Cursor::new(Vec::new());
        let spec = hound::WavSpec {
            channels,
            sample_rate: rate,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut w = hound::WavWriter::new(&mut out, spec).unwrap();
        for i in 0..samples * u32::from(channels) {
            w.write_sample((i % 100) as i16).unwrap();
        }
        w.finalize().unwrap();
        out.into_inner()
    }

    #[test]
    fn a_wav_is_listed_with_its_format_and_a_warning_when_unplayable() {
        let t = TestDir::new("media-info");
        let m = Media::new(&t.layout);
        let ok = m
            .upload(
                MediaKind::Wav,
                "prompt",
                &mut &wav_of(8000, 1, 4000)[..],
                1 << 20,
                None,
            )
            .unwrap();
        assert_eq!(
            ok.audio,
            Some(AudioInfo {
                sample_rate: 8000,
                channels: 1,
                bits_per_sample: 16,
                duration_ms: 500
            })
        );
        assert_eq!(ok.warning, None);
        let hifi = m
            .upload(
                MediaKind::Wav,
                "music",
                &mut &wav_of(44_100, 2, 44_100)[..],
                1 << 20,
                None,
            )
            .unwrap();
        assert_eq!(hifi.audio.unwrap().duration_ms, 1000);
        let w = hifi.warning.unwrap();
        assert!(w.starts_with("44100 Hz, 2 channels: "), "{w}");
        let listed = m.list(MediaKind::Wav).unwrap();
        assert_eq!(listed.len(), 2);
        assert!(
            listed[0].warning.is_some() && listed[1].warning.is_none(),
            "{listed:?}"
        );
        m.upload(
            MediaKind::Pcap,
            "p",
            &mut &samples::pcap()[..],
            1 << 20,
            None,
        )
        .unwrap();
        assert_eq!(m.list(MediaKind::Pcap).unwrap()[0].audio, None);
    }

    #[test]
    fn invalid_truncated_or_oversize_uploads_write_nothing() {
        let t = TestDir::new("media-bad");
        let m = Media::new(&t.layout);
        let wav = samples::wav();
        let pcap = samples::pcap();
        let cases: [(MediaKind, &[u8], u64); 5] = [
            (MediaKind::Wav, b"RIFF....not a wave", 1 << 20),
            (MediaKind::Wav, &wav[..wav.len() - 2], 1 << 20),
            (MediaKind::Wav, &wav, 10),
            (MediaKind::Pcap, &pcap[..pcap.len() - 10], 1 << 20),
            (MediaKind::Pcap, b"", 1 << 20),
        ];
        for (kind, body, limit) in cases {
            let mut r = body;
            assert!(
                m.upload(kind, "x", &mut r, limit, None).is_err(),
                "{kind:?} {} bytes",
                body.len()
            );
        }
        assert!(m.list(MediaKind::Wav).unwrap().is_empty());
        assert!(m.list(MediaKind::Pcap).unwrap().is_empty());
        assert_eq!(std::fs::read_dir(t.layout.dir("tmp")).unwrap().count(), 0);
        assert!(matches!(
            m.upload(MediaKind::Wav, "../x", &mut &wav[..], 1 << 20, None),
            Err(UploadError::Store(StoreError::BadName(_)))
        ));
    }

    #[test]
    fn the_quota_counts_both_kinds_refuses_before_reading_and_lets_a_replacement_through() {
        let t = TestDir::new("media-quota");
        let mut m = Media::new(&t.layout);
        let wav = samples::wav();
        let pcap = samples::pcap();
        let size = wav.len() as u64;
        m.set_quota(Quota {
            max_files: 2,
            max_bytes: 2 * size + pcap.len() as u64,
        });
        m.upload(MediaKind::Wav, "a", &mut &wav[..], 1 << 20, None)
            .unwrap();
        m.upload(MediaKind::Pcap, "p", &mut &pcap[..], 1 << 20, None)
            .unwrap();
        assert!(matches!(
            m.upload(MediaKind::Wav, "b", &mut &wav[..], 1 << 20, None),
            Err(UploadError::TooManyFiles { files: 2, max: 2 })
        ));
        // Replacing a file of the library does not count as one more.
        m.upload(MediaKind::Wav, "a", &mut &wav[..], 1 << 20, None)
            .unwrap();
        m.set_quota(Quota {
            max_files: 10,
            max_bytes: 2 * size + pcap.len() as u64 - 1,
        });
        assert!(matches!(
            m.upload(MediaKind::Wav, "b", &mut &wav[..], 1 << 20, None),
            Err(UploadError::OverQuota { .. })
        ));
        // A declared length over the quota is refused before a byte is read.
        let mut unread: &[u8] = &wav;
        assert!(matches!(
            m.upload(MediaKind::Wav, "b", &mut unread, 1 << 20, Some(1 << 19)),
            Err(UploadError::OverQuota { size, .. }) if size == 1 << 19
        ));
        assert_eq!(unread.len(), wav.len(), "the body was not read");
        assert_eq!(
            m.list(MediaKind::Wav).unwrap().len() + m.list(MediaKind::Pcap).unwrap().len(),
            2
        );
        assert_eq!(std::fs::read_dir(t.layout.dir("tmp")).unwrap().count(), 0);
    }
}
