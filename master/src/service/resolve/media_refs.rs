//! `[[media:wav/NAME]]` and `[[media:pcap/NAME]]` placeholders in stored scenarios
//! (ui-mode.md "Scenarios + media linkage"): rewritten to the asset's path before the
//! scenario is parsed (a job-relative `media/wav/NAME.wav`, which the job's file rule
//! reads from the media library; not an absolute path, which the rule refuses).
//!
//! Owns: finding placeholders and checking their names (`[A-Za-z0-9._-]+`, never `.` or
//! `..`). Every placeholder must name an existing asset: a missing one is an error
//! before any call is placed. Must not: build paths itself (the caller's resolver uses
//! the one safe path builder).

use std::path::PathBuf;

use crate::service::paths::{PathError, check_name};

const OPEN: &str = "[[media:";
const CLOSE: &str = "]]";

/// Why a placeholder cannot be expanded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum MediaRefError {
    #[error("line {line}: \"[[media:\" without a closing \"]]\"")]
    Unterminated { line: usize },
    #[error("line {line}: [[media:{inner}]]: expected wav/NAME or pcap/NAME")]
    BadKind { line: usize, inner: String },
    #[error("line {line}: [[media:{kind}/{name}]]: {problem}")]
    BadName {
        line: usize,
        kind: &'static str,
        name: String,
        problem: PathError,
    },
    #[error("line {line}: [[media:{kind}/{name}]]: no such {kind} asset in the media library")]
    Missing {
        line: usize,
        kind: &'static str,
        name: String,
    },
}

/// A media library kind, as placeholders name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum MediaRefKind {
    Wav,
    Pcap,
}

impl MediaRefKind {
    fn as_str(self) -> &'static str {
        match self {
            MediaRefKind::Wav => "wav",
            MediaRefKind::Pcap => "pcap",
        }
    }
}

/// Replaces every placeholder in `xml` with `resolve(kind, name)`; `resolve` returns
/// `None` for a missing asset. Names are checked before `resolve` sees them. One pass:
/// line numbers are counted as the text goes by.
pub(crate) fn expand(
    xml: &str,
    mut resolve: impl FnMut(MediaRefKind, &str) -> Option<PathBuf>,
) -> Result<String, MediaRefError> {
    let mut out = String::with_capacity(xml.len());
    let mut rest = xml;
    let mut line = 1usize;
    while let Some(start) = rest.find(OPEN) {
        line += rest[..start].matches('\n').count();
        out.push_str(&rest[..start]);
        let after = &rest[start + OPEN.len()..];
        let end = after
            .find(CLOSE)
            .ok_or(MediaRefError::Unterminated { line })?;
        let inner = &after[..end];
        let (kind, name) = match inner.split_once('/') {
            Some(("wav", n)) => (MediaRefKind::Wav, n),
            Some(("pcap", n)) => (MediaRefKind::Pcap, n),
            _ => {
                return Err(MediaRefError::BadKind {
                    line,
                    inner: inner.chars().take(80).collect(),
                });
            }
        };
        check_name(name).map_err(|problem| MediaRefError::BadName {
            line,
            kind: kind.as_str(),
            name: name.chars().take(80).collect(),
            problem,
        })?;
        let path = resolve(kind, name).ok_or_else(|| MediaRefError::Missing {
            line,
            kind: kind.as_str(),
            name: name.to_string(),
        })?;
        out.push_str(&path.display().to_string());
        let skip = start + OPEN.len() + end + CLOSE.len();
        line += rest[start..skip].matches('\n').count();
        rest = &rest[skip..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lib(kind: MediaRefKind, name: &str) -> Option<PathBuf> {
        match (kind, name) {
            (MediaRefKind::Wav, "ring") => Some("/data/media/wav/ring.wav".into()),
            (MediaRefKind::Pcap, "dtmf") => Some("/data/media/pcap/dtmf.pcap".into()),
            _ => None,
        }
    }

    #[test]
    fn placeholders_become_absolute_paths() {
        let xml = "<a>[[media:wav/ring]]</a>\na=PCAP:[[media:pcap/dtmf]] x";
        assert_eq!(
            expand(xml, lib).unwrap(),
            "<a>/data/media/wav/ring.wav</a>\na=PCAP:/data/media/pcap/dtmf.pcap x"
        );
        assert_eq!(expand("no refs", lib).unwrap(), "no refs");
    }

    #[test]
    fn a_missing_asset_names_the_line_and_the_asset() {
        let err = expand("a\nb [[media:wav/nope]]", lib).unwrap_err();
        assert_eq!(
            err,
            MediaRefError::Missing {
                line: 2,
                kind: "wav",
                name: "nope".into()
            }
        );
        // Lines are counted across earlier placeholders too.
        let err = expand(
            "[[media:wav/ring]]\n[[media:pcap/dtmf]]\n\n[[media:wav/x]]",
            lib,
        );
        assert_eq!(
            err.unwrap_err(),
            MediaRefError::Missing {
                line: 4,
                kind: "wav",
                name: "x".into()
            }
        );
    }

    #[test]
    fn traversal_and_odd_names_are_refused_before_lookup() {
        let never = |_: MediaRefKind, _: &str| -> Option<PathBuf> { panic!("resolver called") };
        for bad in [
            "[[media:wav/../../etc/passwd]]",
            "[[media:wav/..]]",
            "[[media:pcap/a b]]",
            "[[media:wav/]]",
        ] {
            assert!(
                matches!(expand(bad, never), Err(MediaRefError::BadName { .. })),
                "{bad}"
            );
        }
        assert!(matches!(
            expand("[[media:mp3/x]]", never),
            Err(MediaRefError::BadKind { .. })
        ));
        assert!(matches!(
            expand("[[media:wav/x", never),
            Err(MediaRefError::Unterminated { line: 1 })
        ));
    }
}
