//! The repository ports of exsvc on PostgreSQL, through diesel-async and a
//! deadpool pool. Driver errors are translated to `RepositoryError` here, at the
//! edge: a unique violation becomes `Duplicate`, a pool timeout `Unavailable`.

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

pub use migrate::{run_migrations, MigrationError};
pub use pool::{PgStore, PoolSettings, PoolStatus};
