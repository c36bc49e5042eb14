//! `gossipper infindex FILE.csv FIELD [-out PATH]`: the key index of an injection file,
//! written as JSON (`FILE.csv.gossipper.idx.FIELD.json` beside the file by default, the
//! Go tool's name), and the core the `infindex` tool job runs.
//!
//! The index is the one a SIPp run builds in memory with `-infindex FILE FIELD`
//! (`call::inject::KeyIndex`): each key of field FIELD (numbered from 0) and the first
//! line holding it, numbered from 1 as `[fieldN line=…]` and `<lookup>` count. Must not:
//! run a scenario.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use gossipper_engine::call::inject::InjectFile;
use serde::Serialize;

use super::{Failure, run_cli};

/// Largest injection file indexed (the engine's cap for data files).
const MAX_CSV_BYTES: u64 = gossipper_engine::files::MAX_DATA_FILE_BYTES;

const USAGE: &str = "\
Usage: gossipper infindex FILE.csv FIELD [-out PATH]

Indexes an injection file (-inf format: SEQUENTIAL, RANDOM or USER on the first line,
then ;-separated fields) on field FIELD (numbered from 0) and writes the index as JSON:
{\"file\", \"field\", \"lines\", \"keys\": {KEY: LINE}, \"duplicates\": [KEY…]}, LINE numbered
from 1 as [fieldN line=…] and <lookup> count; a key on several lines maps to the first.

A SIPp run indexes in memory instead: -inf FILE.csv -infindex FILE.csv FIELD makes
<lookup assign_to=\"v\" file=\"FILE.csv\" key=\"…\"/> search that field.

Flags:
  -out PATH     where to write (default FILE.csv.gossipper.idx.FIELD.json beside the file)
  -h, --help    this help
";

/// The index file's default name for `csv` and `field`.
pub(crate) fn index_file_name(csv: &str, field: usize) -> String {
    format!("{csv}.gossipper.idx.{field}.json")
}

#[derive(Serialize)]
struct IndexJson<'a> {
    file: &'a str,
    field: usize,
    lines: usize,
    keys: serde_json::Map<String, serde_json::Value>,
    duplicates: Vec<String>,
}

/// What an index holds, for the caller's message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Indexed {
    pub(crate) lines: usize,
    pub(crate) keys: usize,
}

/// Indexes the injection file `bytes` (named `name`) on `field`; returns the JSON text.
pub(crate) fn index_json(
    name: &str,
    bytes: &[u8],
    field: usize,
) -> Result<(String, Indexed), String> {
    let mut f = InjectFile::parse(name, bytes).map_err(|e| e.to_string())?;
    f.set_index(field).map_err(|e| e.to_string())?;
    let mut keys = serde_json::Map::new();
    let mut duplicates = Vec::new();
    for row in &f.rows {
        let Some(k) = row.get(field) else { continue };
        let key = String::from_utf8_lossy(k).into_owned();
        let line = f.lookup(k).map_or(0, |l| l + 1);
        if keys.contains_key(&key) {
            if !duplicates.contains(&key) {
                duplicates.push(key);
            }
            continue;
        }
        keys.insert(key, serde_json::Value::from(line));
    }
    let indexed = Indexed {
        lines: f.rows.len(),
        keys: keys.len(),
    };
    let doc = IndexJson {
        file: name,
        field,
        lines: f.rows.len(),
        keys,
        duplicates,
    };
    let text = serde_json::to_string_pretty(&doc).map_err(|e| e.to_string())?;
    Ok((text, indexed))
}

/// A field number, as the command line or a tool argument gives it.
pub(crate) fn field_number(text: &str) -> Result<usize, String> {
    text.trim()
        .parse::<usize>()
        .map_err(|_| format!("field \"{text}\" is not a field number (0, 1, …)"))
}

/// Runs the subcommand; `args` follow `infindex`.
pub(crate) fn main(args: &[String]) -> ExitCode {
    run_cli("infindex", USAGE, args, &["out"], |p| {
        let [csv, field] = p.bare.as_slice() else {
            return Err(Failure::Usage(
                "expected FILE.csv FIELD (gossipper infindex users.csv 0; see -h)".into(),
            ));
        };
        let field = field_number(field).map_err(Failure::Usage)?;
        let bytes = read_regular(Path::new(csv)).map_err(Failure::Failed)?;
        let (json, n) = index_json(csv, &bytes, field).map_err(Failure::Failed)?;
        let out = p
            .get("out")
            .map_or_else(|| PathBuf::from(index_file_name(csv, field)), PathBuf::from);
        std::fs::write(&out, json)
            .map_err(|e| Failure::Failed(format!("{}: {e}", out.display())))?;
        println!(
            "{csv}: {} lines, {} keys on field {field}; wrote {}",
            n.lines,
            n.keys,
            out.display()
        );
        Ok(())
    })
}

/// Reads a regular file of at most the data-file cap.
fn read_regular(path: &Path) -> Result<Vec<u8>, String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if !meta.is_file() {
        return Err(format!("{}: not a regular file", path.display()));
    }
    if meta.len() > MAX_CSV_BYTES {
        return Err(format!(
            "{}: larger than {MAX_CSV_BYTES} bytes",
            path.display()
        ));
    }
    std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_index_maps_each_key_to_its_first_line_from_one() {
        let (json, n) =
            index_json("u.csv", b"SEQUENTIAL\nalice;1001\nbob;1002\nbob;1003\n", 0).unwrap();
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["keys"], serde_json::json!({"alice": 1, "bob": 2}));
        assert_eq!(v["duplicates"], serde_json::json!(["bob"]));
        assert_eq!((v["lines"].as_u64(), n.keys), (Some(3), 2));
        assert!(
            index_json("u.csv", b"SEQUENTIAL\na;b\n", 2)
                .unwrap_err()
                .contains("field 2")
        );
        assert!(index_json("u.csv", b"a;b\n", 0).is_err());
        assert_eq!(
            index_file_name("d/u.csv", 1),
            "d/u.csv.gossipper.idx.1.json"
        );
    }
}
