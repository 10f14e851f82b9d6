//! Embedded migrations, applied at start and by `exsvc migrate`.

use diesel::sql_types::BigInt;
use diesel_async::{AsyncConnection, AsyncMigrationHarness, AsyncPgConnection, RunQueryDsl};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/postgres");

/// Serializes migrators: replicas starting together take turns.
const MIGRATION_LOCK_KEY: i64 = 0x6578_7376_635f_6d69; // "exsvc_mi"

#[derive(Debug, thiserror::Error)]
pub enum MigrationError {
    #[error("cannot connect to the database: {0}")]
    Connect(#[from] diesel::ConnectionError),
    #[error("database error while migrating: {0}")]
    Query(#[from] diesel::result::Error),
    #[error("a migration failed: {0}")]
    Migration(String),
}

/// Applies every pending migration and returns how many ran. Needs the
/// multi-threaded tokio runtime (the harness blocks in place).
///
/// # Errors
/// When the database is unreachable or a migration fails.
pub async fn run_migrations(database_url: &str) -> Result<usize, MigrationError> {
    let mut lock_conn = AsyncPgConnection::establish(database_url).await?;
    diesel::sql_query("SELECT pg_advisory_lock($1)")
        .bind::<BigInt, _>(MIGRATION_LOCK_KEY)
        .execute(&mut lock_conn)
        .await?;
    let conn = AsyncPgConnection::establish(database_url).await?;
    let result = tokio::task::block_in_place(|| {
        let mut harness = AsyncMigrationHarness::new(conn);
        harness
            .run_pending_migrations(MIGRATIONS)
            .map(|applied| applied.len())
            .map_err(|e| MigrationError::Migration(e.to_string()))
    });
    diesel::sql_query("SELECT pg_advisory_unlock($1)")
        .bind::<BigInt, _>(MIGRATION_LOCK_KEY)
        .execute(&mut lock_conn)
        .await?;
    result
}
