//! The store chosen by `EXSVC_DATABASE_URL`: PostgreSQL or the embedded SQLite.

use std::sync::Arc;
use std::time::Duration;

use exsvc_app::metrics::{PoolUsage, PoolUsageProbe};
use exsvc_domain::ports::Stores;
use exsvc_store_postgres::PgStore;
use exsvc_store_sqlite::SqliteStore;

use crate::config::Database;

/// Applies pending migrations; returns how many ran.
///
/// # Errors
/// When the database cannot be reached or a migration fails.
pub async fn migrate(database: &Database) -> Result<usize, String> {
    match database {
        Database::Postgres(url) => exsvc_store_postgres::run_migrations(url)
            .await
            .map_err(|e| e.to_string()),
        Database::Sqlite(path) => exsvc_store_sqlite::run_migrations(path)
            .await
            .map_err(|e| e.to_string()),
    }
}

/// The store through each of its ports, and a probe of its pool for metrics.
pub struct Store {
    pub ports: Stores,
    pub pool_usage: PoolUsageProbe,
}

/// Opens the pool of an already migrated database.
///
/// # Errors
/// When the pool cannot be built (no connection is opened yet).
pub fn open(database: &Database, max_size: usize, timeout: Duration) -> Result<Store, String> {
    match database {
        Database::Postgres(url) => {
            let store = PgStore::connect(&exsvc_store_postgres::PoolSettings {
                database_url: url.clone(),
                max_size,
                timeout,
            })
            .map_err(|e| e.to_string())?;
            Ok(Store {
                ports: Stores::of(store.clone()),
                pool_usage: Arc::new(move || {
                    let s = store.status();
                    PoolUsage::from_pool(s.max_size, s.size, s.available)
                }),
            })
        }
        Database::Sqlite(path) => {
            let store = SqliteStore::open(&exsvc_store_sqlite::PoolSettings {
                path: path.clone(),
                max_size,
                timeout,
            })
            .map_err(|e| e.to_string())?;
            Ok(Store {
                ports: Stores::of(store.clone()),
                pool_usage: Arc::new(move || {
                    let s = store.status();
                    PoolUsage::from_pool(s.max_size, s.size, s.available)
                }),
            })
        }
    }
}
