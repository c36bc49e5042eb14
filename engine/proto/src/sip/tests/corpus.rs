//! Replays the checked-in fuzz seed corpora (`engine/fuzz/corpus/*`) through the same
//! property bodies the fuzz targets run, so every CI run exercises them.
//!
//! Files named `ok-*` in `sip_parse` must parse and files named `bad-*` must not; other
//! names (found by the fuzzer) only have to keep the properties.

use std::path::PathBuf;

use super::super::{SipMessage, fuzz};

#[allow(
    clippy::disallowed_methods,
    reason = "the checked-in fuzz corpus is test input on disk, read before any parsing"
)]
fn corpus(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target);
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&path).unwrap())
        })
        .collect();
    files.sort();
    files
}

#[test]
fn sip_parse_corpus_keeps_properties_and_expected_outcomes() {
    let files = corpus("sip_parse");
    assert!(
        files.len() >= 10,
        "seed corpus went missing: {} files",
        files.len()
    );
    let mut named = 0;
    for (name, bytes) in &files {
        fuzz::sip_parse(bytes);
        let result = SipMessage::parse(bytes);
        if name.starts_with("ok-") {
            assert!(result.is_ok(), "{name}: {result:?}");
            named += 1;
        } else if name.starts_with("bad-") {
            assert!(result.is_err(), "{name} parsed");
            named += 1;
        }
    }
    assert!(named >= 10);
}

#[test]
fn stream_frame_corpus_keeps_split_invariance() {
    let files = corpus("stream_frame");
    assert!(
        files.len() >= 3,
        "seed corpus went missing: {} files",
        files.len()
    );
    for (_, bytes) in &files {
        fuzz::stream_frame(bytes);
    }
}
