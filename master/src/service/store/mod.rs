//! The master's store: `settings.sqlite` plus the file trees of the data-dir layout.
//!
//! Owns: everything written under `--data-dir`. SQL lives in `db` and the table modules
//! (`users`, `audit`, `kv`, `jobs`); profiles, scenarios and media are files written
//! atomically by `files`. Must not: know about HTTP, tokens or roles (the api layer does).

pub(crate) mod audit;
pub(crate) mod db;
pub(crate) mod files;
pub(crate) mod jobs;
pub(crate) mod kv;
pub(crate) mod media;
pub(crate) mod modes;
pub(crate) mod profiles;
pub(crate) mod scenarios;
pub(crate) mod users;

use std::path::{Path, PathBuf};

use super::paths::{DIRS, Layout, PathError};

/// Everything that can go wrong in the store, each saying where.
#[derive(Debug, thiserror::Error)]
pub(crate) enum StoreError {
    #[error("settings database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: invalid JSON: {source}")]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("{0}")]
    BadName(#[from] PathError),
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0} already exists")]
    Conflict(String),
    #[error("the last admin cannot be deleted or demoted")]
    LastAdmin,
    #[error("settings database schema version {found} is newer than this binary ({known})")]
    SchemaTooNew { found: i64, known: i64 },
}

impl StoreError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        StoreError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// The opened store: database plus file collections with their in-memory indexes.
pub(crate) struct Store {
    pub(crate) layout: Layout,
    pub(crate) db: db::Db,
    pub(crate) servers: profiles::ProfileDir<profiles::ServerProfile>,
    pub(crate) clients: profiles::ProfileDir<profiles::ClientProfile>,
    pub(crate) gateways: profiles::ProfileDir<profiles::GatewayProfile>,
    pub(crate) scenarios: scenarios::Scenarios,
    pub(crate) media: media::Media,
}

impl Store {
    /// Creates the layout if missing, opens (and migrates) the database, loads the indexes.
    pub(crate) fn open(layout: Layout, scenario_history_keep: usize) -> Result<Store, StoreError> {
        for dir in DIRS {
            let p = layout.dir(dir);
            files::create_private_dir(&p).map_err(|e| StoreError::io(&p, e))?;
        }
        files::clean_stale_temps(&layout)?;
        let db = db::Db::open(&layout)?;
        Ok(Store {
            servers: profiles::ProfileDir::load(&layout, profiles::Kind::Server)?,
            clients: profiles::ProfileDir::load(&layout, profiles::Kind::Client)?,
            gateways: profiles::ProfileDir::load(&layout, profiles::Kind::Gateway)?,
            scenarios: scenarios::Scenarios::load(&layout, scenario_history_keep)?,
            media: media::Media::new(&layout),
            db,
            layout,
        })
    }
}
