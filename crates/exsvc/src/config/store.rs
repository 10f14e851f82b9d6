//! The database: which one, and how much of it a replica may hold and wait for.

use std::path::PathBuf;
use std::time::Duration;

use super::core::{bounded, settings, Settings};
use super::ConfigError;

settings! {
    /// `sqlite://PATH` or a `postgres://` / `postgresql://` URL.
    DATABASE_URL = "sqlite://data/exsvc.db";
    /// Database connections per replica.
    DB_POOL_SIZE = "16";
    /// Milliseconds to wait for a connection and for each operation.
    DB_TIMEOUT_MS = "3000";
}

/// The embedded store, relative to the working directory.
pub const DEFAULT_DATABASE_URL: &str = DATABASE_URL.default_text();

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Database {
    Postgres(String),
    Sqlite(PathBuf),
}

#[derive(Debug)]
pub struct Store {
    pub database: Database,
    /// `EXSVC_DATABASE_URL` was not set: the embedded default is in use.
    pub defaulted: bool,
    pub pool_size: usize,
    pub timeout: Duration,
}

pub(super) fn read(settings: &Settings) -> Result<Store, ConfigError> {
    Ok(Store {
        pool_size: settings.read(DB_POOL_SIZE, bounded(1..=1000, "a number"))?,
        timeout: Duration::from_millis(settings.read(
            DB_TIMEOUT_MS,
            bounded(1..=600_000, "a number of milliseconds"),
        )?),
        database: database(settings)?,
        defaulted: !settings.is_set(DATABASE_URL),
    })
}

/// The database alone: all that `exsvc migrate` and `exsvc keys rewrap` need.
pub(super) fn database(settings: &Settings) -> Result<Database, ConfigError> {
    settings.read(DATABASE_URL, |url| {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            url::Url::parse(url).map_err(|_| "is not a valid postgres:// URL")?;
            return Ok(Database::Postgres(url.to_owned()));
        }
        if url.starts_with("sqlite://") {
            return exsvc_store_sqlite::database_path(url)
                .map(Database::Sqlite)
                .ok_or_else(|| "sqlite:// needs a file path, e.g. sqlite://data/exsvc.db".into());
        }
        Err("must start with postgres:// or sqlite://".into())
    })
}
