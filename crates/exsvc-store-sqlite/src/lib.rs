//! The repository ports of exsvc on SQLite: the embedded default store, one file,
//! no server. diesel's SQLite connection runs behind diesel-async's
//! `SyncConnectionWrapper` (blocking work on tokio's blocking pool) in a
//! deadpool pool. Every connection is in WAL mode with a busy timeout, so
//! concurrent writers wait for each other instead of failing with "database is
//! locked"; every multi-statement write runs in a `BEGIN IMMEDIATE` transaction
//! (see `tx`), so it waits for the write lock up front instead of failing when
//! it upgrades from reading.

mod access;
mod audit;
mod credentials;
mod errors;
mod idempotency;
mod migrate;
mod pool;
mod reach;
mod rows;
mod schema;
mod services;
mod tx;

pub use migrate::{run_migrations, MigrationError};
pub use pool::{database_path, PoolSettings, PoolStatus, SqliteStore};
