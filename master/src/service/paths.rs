//! The data-dir layout and the one function that builds paths inside it.
//!
//! Owns: every path under `--data-dir` (ui-mode.md "Data layout"). Every path the master
//! touches is built by [`Layout::path`], which joins fixed directory names with at most one
//! caller-supplied name that must match `[A-Za-z0-9._-]+`, is not `.` or `..`, and so can
//! never leave the data dir. Must not: read or write files (the store does that).

use std::path::{Path, PathBuf};

/// Why a name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum PathError {
    #[error("name is empty")]
    Empty,
    #[error("name is longer than {MAX_NAME_LEN} characters")]
    TooLong,
    #[error("name \"{0}\" is reserved")]
    Reserved(String),
    #[error("name contains {0:?}; allowed are A-Z a-z 0-9 . _ -")]
    BadChar(char),
}

/// Longest id or name we accept (file systems allow 255 bytes; leave room for suffixes).
pub(crate) const MAX_NAME_LEN: usize = 128;

/// Checks one id or name: `[A-Za-z0-9._-]+`, not `.` / `..`, at most [`MAX_NAME_LEN`].
pub(crate) fn check_name(name: &str) -> Result<(), PathError> {
    if name.is_empty() {
        return Err(PathError::Empty);
    }
    if name.len() > MAX_NAME_LEN {
        return Err(PathError::TooLong);
    }
    if name == "." || name == ".." {
        return Err(PathError::Reserved(name.to_string()));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Err(PathError::BadChar(c));
    }
    Ok(())
}

/// A place in the layout. The variants are the only directories the master writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Place<'a> {
    /// `settings.sqlite`
    SettingsDb,
    /// `profiles/servers/<id>.json`
    ServerProfile(&'a str),
    /// `profiles/clients/<id>.json`
    ClientProfile(&'a str),
    /// `profiles/gateways/<id>.json`
    GatewayProfile(&'a str),
    /// `scenarios/<id>.xml`
    ScenarioXml(&'a str),
    /// `scenarios/<id>.json`
    ScenarioMeta(&'a str),
    /// `scenarios/<id>.history/`
    ScenarioHistoryDir(&'a str),
    /// `scenarios/<id>.history/<ts>.xml` (the id is checked too)
    ScenarioHistoryXml(&'a str, &'a str),
    /// `scenarios/<id>.history/<ts>.json`
    ScenarioHistoryMeta(&'a str, &'a str),
    /// `media/wav/<name>.wav`
    Wav(&'a str),
    /// `media/pcap/<name>.pcap`
    Pcap(&'a str),
    /// `artifacts/jobs/<job-id>/`
    JobArtifacts(&'a str),
    /// `artifacts/jobs/<job-id>/spec.json`: the job, resolved, as its worker runs it.
    JobSpec(&'a str),
    /// `tmp/<name>`
    Tmp(&'a str),
}

/// The fixed directories, created on start.
pub(crate) const DIRS: &[&str] = &[
    "profiles/servers",
    "profiles/clients",
    "profiles/gateways",
    "scenarios",
    "media/wav",
    "media/pcap",
    "artifacts/jobs",
    "tmp",
];

/// The data dir. Cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    root: PathBuf,
    /// `--auth-sqlite`: the settings database somewhere else than `settings.sqlite` in
    /// the root (checked by [`settings_db_path`]).
    settings_db: Option<PathBuf>,
}

/// `--auth-sqlite FILE` (the Go tool's flag): where the settings database (users, the
/// JWT secret, settings, jobs and the audit log: one SQLite file) lives instead of
/// `<data-dir>/settings.sqlite`. Returns the absolute path, its folder created (private)
/// when missing. Refused, naming the path: a directory, or a file inside one of the data
/// dir's trees (`profiles`, `scenarios`, `media`, `artifacts`, `tmp`), which the API
/// lists and serves. `data_dir` must exist.
pub(crate) fn settings_db_path(data_dir: &Path, given: &Path) -> Result<PathBuf, String> {
    let shown = given.display();
    let abs = std::path::absolute(given).map_err(|e| format!("--auth-sqlite {shown}: {e}"))?;
    let (Some(parent), Some(name)) = (abs.parent(), abs.file_name()) else {
        return Err(format!("--auth-sqlite {shown}: not a file path"));
    };
    if abs.is_dir() {
        return Err(format!(
            "--auth-sqlite {shown} is a directory (it names the SQLite file, e.g. {}/settings.sqlite)",
            shown
        ));
    }
    super::store::files::create_private_dir(parent)
        .map_err(|e| format!("--auth-sqlite {shown}: creating {}: {e}", parent.display()))?;
    let parent = parent
        .canonicalize()
        .map_err(|e| format!("--auth-sqlite {shown}: {}: {e}", parent.display()))?;
    let root = data_dir
        .canonicalize()
        .map_err(|e| format!("{}: {e}", data_dir.display()))?;
    let path = parent.join(name);
    for top in DIRS.iter().filter_map(|d| d.split('/').next()) {
        if path.starts_with(root.join(top)) {
            return Err(format!(
                "--auth-sqlite {shown} is inside the data dir's {top}/ tree, which the API lists and serves: keep the settings database (it holds the password hashes and the JWT secret) out of it"
            ));
        }
    }
    Ok(path)
}

impl Layout {
    pub(crate) fn new(root: impl Into<PathBuf>) -> Self {
        Layout {
            root: root.into(),
            settings_db: None,
        }
    }

    /// This layout with the settings database at `path` (from [`settings_db_path`]).
    pub(crate) fn with_settings_db(mut self, path: PathBuf) -> Self {
        self.settings_db = Some(path);
        self
    }

    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    /// A fixed directory from [`DIRS`] (no caller input).
    pub(crate) fn dir(&self, fixed: &'static str) -> PathBuf {
        debug_assert!(DIRS.contains(&fixed), "{fixed} is not a layout directory");
        self.root.join(fixed)
    }

    /// The one path builder: every caller-supplied part is checked by [`check_name`].
    pub(crate) fn path(&self, place: Place<'_>) -> Result<PathBuf, PathError> {
        let (dir, name, suffix): (&str, Option<&str>, &str) = match place {
            Place::SettingsDb => match &self.settings_db {
                Some(path) => return Ok(path.clone()),
                None => ("", None, "settings.sqlite"),
            },
            Place::ServerProfile(id) => ("profiles/servers", Some(id), ".json"),
            Place::ClientProfile(id) => ("profiles/clients", Some(id), ".json"),
            Place::GatewayProfile(id) => ("profiles/gateways", Some(id), ".json"),
            Place::ScenarioXml(id) => ("scenarios", Some(id), ".xml"),
            Place::ScenarioMeta(id) => ("scenarios", Some(id), ".json"),
            Place::ScenarioHistoryDir(id) => ("scenarios", Some(id), ".history"),
            Place::ScenarioHistoryXml(id, ts) | Place::ScenarioHistoryMeta(id, ts) => {
                check_name(id)?;
                check_name(ts)?;
                let ext = if matches!(place, Place::ScenarioHistoryXml(..)) {
                    "xml"
                } else {
                    "json"
                };
                return Ok(self
                    .root
                    .join("scenarios")
                    .join(format!("{id}.history"))
                    .join(format!("{ts}.{ext}")));
            }
            Place::Wav(name) => ("media/wav", Some(name), ".wav"),
            Place::Pcap(name) => ("media/pcap", Some(name), ".pcap"),
            Place::JobArtifacts(id) => ("artifacts/jobs", Some(id), ""),
            Place::JobSpec(id) => {
                check_name(id)?;
                return Ok(self.root.join("artifacts/jobs").join(id).join("spec.json"));
            }
            Place::Tmp(name) => ("tmp", Some(name), ""),
        };
        let mut path = if dir.is_empty() {
            self.root.clone()
        } else {
            self.root.join(dir)
        };
        match name {
            Some(name) => {
                check_name(name)?;
                path.push(format!("{name}{suffix}"));
            }
            None => path.push(suffix),
        }
        Ok(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_plain_ids_and_names() {
        for ok in ["uac", "a.b-c_d", "X9", "...a", "a..b", "v1.2.3"] {
            assert_eq!(check_name(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn refuses_traversal_separators_and_reserved_names() {
        assert_eq!(check_name(""), Err(PathError::Empty));
        assert!(matches!(check_name("."), Err(PathError::Reserved(_))));
        assert!(matches!(check_name(".."), Err(PathError::Reserved(_))));
        for bad in [
            "../x", "a/b", "a\\b", "/etc", "a b", "a\0b", "é", "a%2e", "~",
        ] {
            assert!(
                matches!(check_name(bad), Err(PathError::BadChar(_))),
                "{bad}"
            );
        }
        assert_eq!(check_name(&"a".repeat(129)), Err(PathError::TooLong));
    }

    #[test]
    fn every_built_path_stays_inside_the_data_dir() {
        let layout = Layout::new("/data");
        let places = [
            Place::ServerProfile("s1"),
            Place::ClientProfile("c1"),
            Place::GatewayProfile("g1"),
            Place::ScenarioXml("uac"),
            Place::ScenarioMeta("uac"),
            Place::ScenarioHistoryDir("uac"),
            Place::ScenarioHistoryXml("uac", "20250101T000000Z"),
            Place::ScenarioHistoryMeta("uac", "20250101T000000Z"),
            Place::Wav("ring"),
            Place::Pcap("dtmf"),
            Place::JobArtifacts("job-1"),
            Place::Tmp("spec-1.json"),
            Place::SettingsDb,
        ];
        for place in places {
            let p = layout.path(place).unwrap();
            assert!(p.starts_with("/data"), "{p:?}");
            assert!(
                p.components()
                    .all(|c| !matches!(c, std::path::Component::ParentDir)),
                "{p:?}"
            );
        }
        assert_eq!(
            layout.path(Place::ScenarioXml("uac")).unwrap(),
            PathBuf::from("/data/scenarios/uac.xml")
        );
        assert_eq!(
            layout
                .path(Place::ScenarioHistoryMeta("uac", "t1"))
                .unwrap(),
            PathBuf::from("/data/scenarios/uac.history/t1.json")
        );
    }

    #[test]
    fn every_place_checks_its_names() {
        let layout = Layout::new("/data");
        assert!(layout.path(Place::ServerProfile("..")).is_err());
        assert!(layout.path(Place::Wav("../../etc/passwd")).is_err());
        assert!(
            layout
                .path(Place::ScenarioHistoryXml("ok", "../x"))
                .is_err()
        );
        assert!(layout.path(Place::ScenarioHistoryXml("..", "ok")).is_err());
        assert!(layout.path(Place::JobArtifacts("a/b")).is_err());
        assert!(layout.path(Place::Tmp(".")).is_err());
    }
}
