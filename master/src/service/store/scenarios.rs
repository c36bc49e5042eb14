//! Stored scenarios: `scenarios/<id>.xml` + `<id>.json`, and their archived versions in
//! `scenarios/<id>.history/<ts>.xml` + `<ts>.json`.
//!
//! Owns: scenario files and an in-memory index of the metadata (loaded on start, updated
//! on every write), so listing 1,000 scenarios never touches the disk. Every update
//! archives the previous version first, then prunes the history to `history_keep`
//! (0 = unlimited). `GET /scenarios` is served from a cached JSON array of the index,
//! rebuilt on first use after a write (1,000 scenarios: ≈ 1 ms to clone and serialize on
//! every request otherwise). Must not: validate XML (the api asks the engine's loader).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, RwLock, RwLockWriteGuard};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use super::{StoreError, files};
use crate::service::paths::{Layout, Place};
use crate::service::timefmt;

/// The sidecar metadata of a scenario.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct ScenarioMeta {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) description: String,
    pub(crate) role: String,
    pub(crate) tags: Vec<String>,
    pub(crate) size_bytes: u64,
    pub(crate) created_at: String,
    pub(crate) updated_at: String,
}

/// One archived version.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct HistoryEntry {
    pub(crate) ts: String,
    pub(crate) timestamp: String,
    pub(crate) size_bytes: u64,
    pub(crate) meta: ScenarioMeta,
}

/// What a save does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Save {
    /// Stores a new scenario; `Conflict` if the id exists.
    New,
    /// Replaces an existing scenario, archiving the previous version first.
    Replace,
}

pub(crate) struct Scenarios {
    layout: Layout,
    history_keep: usize,
    index: RwLock<BTreeMap<String, ScenarioMeta>>,
    /// The index as one JSON array, id order; `None` after a write. Filled under the
    /// index's read lock and cleared under its write lock, so it never lags the index.
    list_json: Mutex<Option<Arc<Vec<u8>>>>,
}

impl Scenarios {
    pub(crate) fn load(layout: &Layout, history_keep: usize) -> Result<Scenarios, StoreError> {
        let index = files::load_index(
            &layout.dir("scenarios"),
            "scenario",
            |id| {
                // A meta without its XML is a leftover of an interrupted delete.
                let xml = layout.path(Place::ScenarioXml(id)).ok()?;
                xml.exists()
                    .then(|| layout.path(Place::ScenarioMeta(id)).ok())
                    .flatten()
            },
            |meta: &ScenarioMeta| meta.id.as_str(),
        )?;
        Ok(Scenarios {
            layout: layout.clone(),
            history_keep,
            index: RwLock::new(index),
            list_json: Mutex::new(None),
        })
    }

    fn write_index(&self) -> RwLockWriteGuard<'_, BTreeMap<String, ScenarioMeta>> {
        // Entries are replaced whole; a panic elsewhere cannot leave the map torn.
        let guard = self.index.write().unwrap_or_else(|p| p.into_inner());
        *self.list_json.lock().unwrap_or_else(|p| p.into_inner()) = None;
        guard
    }

    /// Every scenario's metadata as a JSON array (what `GET /scenarios` lists), cached
    /// until the next write.
    pub(crate) fn list_json(&self) -> Result<Arc<Vec<u8>>, StoreError> {
        let index = self.index.read().unwrap_or_else(|p| p.into_inner());
        // A poisoned cache is at worst `None` or a complete array: both are safe to use.
        let mut cached = self.list_json.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(body) = cached.as_ref() {
            return Ok(Arc::clone(body));
        }
        let metas: Vec<&ScenarioMeta> = index.values().collect();
        let body = Arc::new(
            serde_json::to_vec(&metas).map_err(|source| StoreError::Json {
                path: self.layout.dir("scenarios"),
                source,
            })?,
        );
        *cached = Some(Arc::clone(&body));
        Ok(body)
    }

    pub(crate) fn list(&self) -> Vec<ScenarioMeta> {
        self.index
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect()
    }

    pub(crate) fn meta(&self, id: &str) -> Option<ScenarioMeta> {
        self.index
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
            .cloned()
    }

    pub(crate) fn get(&self, id: &str) -> Result<(ScenarioMeta, String), StoreError> {
        let meta = self.meta(id).ok_or_else(|| not_found(id))?;
        let path = self.layout.path(Place::ScenarioXml(id))?;
        let xml = files::read_optional(&path)?.ok_or_else(|| not_found(id))?;
        Ok((meta, String::from_utf8_lossy(&xml).into_owned()))
    }

    /// Stores a scenario, new or replacing one (see [`Save`]).
    pub(crate) fn save(
        &self,
        mut meta: ScenarioMeta,
        xml: &str,
        now: SystemTime,
        how: Save,
    ) -> Result<ScenarioMeta, StoreError> {
        let (xml_path, meta_path) = self.paths(&meta.id)?;
        let mut index = self.write_index();
        let stamp = timefmt::rfc3339(now);
        match how {
            Save::New => {
                if index.contains_key(&meta.id) {
                    return Err(StoreError::Conflict(format!("scenario \"{}\"", meta.id)));
                }
                meta.created_at = stamp.clone();
                // Stale history of an earlier scenario with this id would be confusing.
                let hist = self.layout.path(Place::ScenarioHistoryDir(&meta.id))?;
                let _ = std::fs::remove_dir_all(&hist);
            }
            Save::Replace => {
                let old = index
                    .get(&meta.id)
                    .cloned()
                    .ok_or_else(|| not_found(&meta.id))?;
                let old_xml = files::read_optional(&xml_path)?.unwrap_or_default();
                self.archive(&old, &old_xml, now)?;
                meta.created_at = old.created_at;
            }
        }
        meta.updated_at = stamp;
        meta.size_bytes = xml.len() as u64;
        files::write_atomic(&self.layout, &xml_path, xml.as_bytes())?;
        files::write_json(&self.layout, &meta_path, &meta)?;
        index.insert(meta.id.clone(), meta.clone());
        drop(index);
        if how == Save::Replace {
            self.prune(&meta.id)?;
        }
        Ok(meta)
    }

    /// Deletes a scenario and its history.
    pub(crate) fn delete(&self, id: &str) -> Result<(), StoreError> {
        let (xml_path, meta_path) = self.paths(id)?;
        let hist = self.layout.path(Place::ScenarioHistoryDir(id))?;
        let mut index = self.write_index();
        if index.remove(id).is_none() {
            return Err(not_found(id));
        }
        // Meta first: a crash after it leaves an XML the index ignores, never a dangling meta.
        files::remove(&meta_path)?;
        files::remove(&xml_path)?;
        match std::fs::remove_dir_all(&hist) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(StoreError::io(&hist, e)),
        }
    }

    fn paths(&self, id: &str) -> Result<(std::path::PathBuf, std::path::PathBuf), StoreError> {
        Ok((
            self.layout.path(Place::ScenarioXml(id))?,
            self.layout.path(Place::ScenarioMeta(id))?,
        ))
    }

    fn archive(
        &self,
        meta: &ScenarioMeta,
        xml: &[u8],
        now: SystemTime,
    ) -> Result<String, StoreError> {
        let mut at = now;
        // Two updates in the same nanosecond (or a clock step back) must not overwrite.
        let ts = loop {
            let ts = timefmt::compact(at);
            if !self
                .layout
                .path(Place::ScenarioHistoryXml(&meta.id, &ts))?
                .exists()
            {
                break ts;
            }
            at += Duration::from_nanos(1);
        };
        files::write_atomic(
            &self.layout,
            &self.layout.path(Place::ScenarioHistoryXml(&meta.id, &ts))?,
            xml,
        )?;
        files::write_json(
            &self.layout,
            &self
                .layout
                .path(Place::ScenarioHistoryMeta(&meta.id, &ts))?,
            meta,
        )?;
        Ok(ts)
    }

    fn prune(&self, id: &str) -> Result<(), StoreError> {
        if self.history_keep == 0 {
            return Ok(());
        }
        let stamps = self.history_stamps(id)?;
        let excess = stamps.len().saturating_sub(self.history_keep);
        for ts in stamps.iter().take(excess) {
            files::remove(&self.layout.path(Place::ScenarioHistoryXml(id, ts))?)?;
            files::remove(&self.layout.path(Place::ScenarioHistoryMeta(id, ts))?)?;
        }
        Ok(())
    }

    /// The archived version stamps of a scenario, oldest first.
    fn history_stamps(&self, id: &str) -> Result<Vec<String>, StoreError> {
        let dir = self.layout.path(Place::ScenarioHistoryDir(id))?;
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(StoreError::io(&dir, e)),
        };
        let mut stamps: Vec<String> = entries
            .flatten()
            .filter_map(|e| {
                e.file_name()
                    .to_string_lossy()
                    .strip_suffix(".xml")
                    .map(str::to_string)
            })
            .filter(|ts| timefmt::compact_to_rfc3339(ts).is_some())
            .collect();
        stamps.sort();
        Ok(stamps)
    }

    /// The archived versions, newest first.
    pub(crate) fn history(&self, id: &str) -> Result<Vec<HistoryEntry>, StoreError> {
        if self.meta(id).is_none() {
            return Err(not_found(id));
        }
        let mut out = Vec::new();
        for ts in self.history_stamps(id)?.into_iter().rev() {
            let xml_path = self.layout.path(Place::ScenarioHistoryXml(id, &ts))?;
            let size_bytes = std::fs::metadata(&xml_path).map(|m| m.len()).unwrap_or(0);
            let meta = files::read_json(&self.layout.path(Place::ScenarioHistoryMeta(id, &ts))?)?
                .unwrap_or_default();
            let timestamp = timefmt::compact_to_rfc3339(&ts).unwrap_or_default();
            out.push(HistoryEntry {
                ts,
                timestamp,
                size_bytes,
                meta,
            });
        }
        Ok(out)
    }

    /// One archived version: its metadata and XML.
    pub(crate) fn history_get(
        &self,
        id: &str,
        ts: &str,
    ) -> Result<(ScenarioMeta, String), StoreError> {
        let xml_path = self.layout.path(Place::ScenarioHistoryXml(id, ts))?;
        let xml = files::read_optional(&xml_path)?.ok_or_else(|| version_not_found(id, ts))?;
        let meta = files::read_json(&self.layout.path(Place::ScenarioHistoryMeta(id, ts))?)?
            .unwrap_or_default();
        Ok((meta, String::from_utf8_lossy(&xml).into_owned()))
    }

    pub(crate) fn history_delete(&self, id: &str, ts: &str) -> Result<(), StoreError> {
        let _guard = self.write_index();
        let removed = files::remove(&self.layout.path(Place::ScenarioHistoryXml(id, ts))?)?;
        files::remove(&self.layout.path(Place::ScenarioHistoryMeta(id, ts))?)?;
        if removed {
            Ok(())
        } else {
            Err(version_not_found(id, ts))
        }
    }
}

fn not_found(id: &str) -> StoreError {
    StoreError::NotFound(format!("scenario \"{id}\""))
}

fn version_not_found(id: &str, ts: &str) -> StoreError {
    StoreError::NotFound(format!("version \"{ts}\" of scenario \"{id}\""))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::store::files::testdir::TestDir;
    use std::time::UNIX_EPOCH;

    fn meta(id: &str, name: &str) -> ScenarioMeta {
        ScenarioMeta {
            id: id.into(),
            name: name.into(),
            ..Default::default()
        }
    }

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn updates_archive_the_previous_version_and_prune_to_keep() {
        let t = TestDir::new("scen-hist");
        let s = Scenarios::load(&t.layout, 2).unwrap();
        s.save(meta("uac", "v1"), "<x>1</x>", at(1), Save::New)
            .unwrap();
        s.save(meta("uac", "v2"), "<x>2</x>", at(2), Save::Replace)
            .unwrap();
        s.save(meta("uac", "v3"), "<x>3</x>", at(3), Save::Replace)
            .unwrap();
        s.save(meta("uac", "v4"), "<x>4</x>", at(4), Save::Replace)
            .unwrap();
        let h = s.history("uac").unwrap();
        assert_eq!(
            h.iter().map(|e| e.meta.name.as_str()).collect::<Vec<_>>(),
            ["v3", "v2"]
        );
        let (old_meta, old_xml) = s.history_get("uac", &h[1].ts).unwrap();
        assert_eq!(
            (old_meta.name.as_str(), old_xml.as_str()),
            ("v2", "<x>2</x>")
        );
        assert_eq!(s.get("uac").unwrap().1, "<x>4</x>");
        s.history_delete("uac", &h[1].ts).unwrap();
        assert!(matches!(
            s.history_delete("uac", &h[1].ts),
            Err(StoreError::NotFound(_))
        ));
        assert_eq!(s.history("uac").unwrap().len(), 1);
    }

    #[test]
    fn the_cached_list_follows_every_create_update_and_delete() {
        let t = TestDir::new("scen-list-json");
        let s = Scenarios::load(&t.layout, 0).unwrap();
        let listed = |s: &Scenarios| -> Vec<ScenarioMeta> {
            serde_json::from_slice(&s.list_json().unwrap()).unwrap()
        };
        assert!(listed(&s).is_empty());
        s.save(meta("b", "B"), "<b/>", at(1), Save::New).unwrap();
        s.save(meta("a", "A"), "<a/>", at(2), Save::New).unwrap();
        assert_eq!(listed(&s), s.list());
        assert_eq!(
            listed(&s).iter().map(|m| m.id.as_str()).collect::<Vec<_>>(),
            ["a", "b"]
        );
        // Served twice without a write: the same cached bytes.
        assert!(Arc::ptr_eq(
            &s.list_json().unwrap(),
            &s.list_json().unwrap()
        ));
        s.save(meta("a", "A2"), "<a2/>", at(3), Save::Replace)
            .unwrap();
        assert_eq!(listed(&s)[0].name, "A2");
        s.delete("b").unwrap();
        assert_eq!(listed(&s), s.list());
        assert_eq!(listed(&s).len(), 1);
    }

    #[test]
    fn same_instant_updates_do_not_overwrite_history() {
        let t = TestDir::new("scen-same");
        let s = Scenarios::load(&t.layout, 0).unwrap();
        s.save(meta("a", "v1"), "1", at(5), Save::New).unwrap();
        for i in 2..6 {
            s.save(meta("a", &format!("v{i}")), "x", at(5), Save::Replace)
                .unwrap();
        }
        assert_eq!(s.history("a").unwrap().len(), 4);
    }

    #[test]
    fn scenarios_survive_reload_and_delete_removes_history() {
        let t = TestDir::new("scen-reload");
        {
            let s = Scenarios::load(&t.layout, 0).unwrap();
            s.save(meta("a", "A"), "<a/>", at(1), Save::New).unwrap();
            s.save(meta("a", "A2"), "<a2/>", at(2), Save::Replace)
                .unwrap();
            assert!(matches!(
                s.save(meta("a", "A"), "", at(3), Save::New),
                Err(StoreError::Conflict(_))
            ));
        }
        let s = Scenarios::load(&t.layout, 0).unwrap();
        assert_eq!(s.list().len(), 1);
        assert_eq!(s.get("a").unwrap().0.name, "A2");
        assert_eq!(s.history("a").unwrap().len(), 1);
        s.delete("a").unwrap();
        assert!(
            !t.layout
                .path(Place::ScenarioHistoryDir("a"))
                .unwrap()
                .exists()
        );
        assert!(Scenarios::load(&t.layout, 0).unwrap().list().is_empty());
    }
}
