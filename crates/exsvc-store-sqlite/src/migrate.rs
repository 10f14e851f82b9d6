//! Embedded SQLite migrations, applied at start and by `exsvc migrate`.

use std::fs::{OpenOptions, Permissions};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::time::Duration;

use diesel::{Connection, SqliteConnection};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use crate::pool::connection_pragmas;

/// Migrations may wait this long for a writer of a running service.
const MIGRATION_BUSY_TIMEOUT: Duration = Duration::from_secs(30);

const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/sqlite");

#[derive(Debug, thiserror::Error)]
pub enum MigrationError {
    #[error("cannot open the SQLite database {path}: {reason}")]
    Open { path: String, reason: String },
    #[error("a migration failed: {0}")]
    Migration(String),
}

/// Applies every pending migration to the file at `path` (created with its
/// folder if missing, readable by its owner only) and returns how many ran.
/// Processes migrating the same file take turns on a lock file beside it.
///
/// # Errors
/// When the file cannot be opened or a migration fails.
pub async fn run_migrations(path: &Path) -> Result<usize, MigrationError> {
    let path = path.to_owned();
    let shown = path.display().to_string();
    tokio::task::spawn_blocking(move || {
        let open_error = |reason: String| MigrationError::Open {
            path: shown.clone(),
            reason,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| open_error(e.to_string()))?;
        }
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(path.with_extension("migrate-lock"))
            .map_err(|e| open_error(e.to_string()))?;
        lock.lock().map_err(|e| open_error(e.to_string()))?;
        let url = path
            .to_str()
            .ok_or_else(|| open_error("the path is not valid UTF-8".into()))?;
        let mut conn = SqliteConnection::establish(url).map_err(|e| open_error(e.to_string()))?;
        // The file will hold tenants' data: owner only.
        std::fs::set_permissions(&path, Permissions::from_mode(0o600))
            .map_err(|e| open_error(e.to_string()))?;
        // WAL is a property of the file: set once here, before the pool opens.
        diesel::connection::SimpleConnection::batch_execute(
            &mut conn,
            &connection_pragmas(MIGRATION_BUSY_TIMEOUT),
        )
        .map_err(|e| open_error(e.to_string()))?;
        let applied = conn
            .run_pending_migrations(MIGRATIONS)
            .map(|applied| applied.len())
            .map_err(|e| MigrationError::Migration(e.to_string()));
        drop(lock);
        applied
    })
    .await
    .map_err(|e| MigrationError::Migration(e.to_string()))?
}
