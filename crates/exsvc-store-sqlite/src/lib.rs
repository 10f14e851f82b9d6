//! The repository ports of exsvc on SQLite: the embedded default store, one file,
//! no server. diesel's SQLite connection runs behind diesel-async's
//! `SyncConnectionWrapper` (blocking work on tokio's blocking pool) in a
//! deadpool pool. Every connection is in WAL mode with a busy timeout, so
//! concurrent writers wait for each other instead of failing with "database is
//! locked".

mod errors;
mod migrate;
mod pool;
mod rows;
mod schema;
mod services;

pub use migrate::{run_migrations, MigrationError};
pub use pool::{database_path, PoolSettings, PoolStatus, SqliteStore};
