//! A fresh SQLite database file per test, migrated, removed with its folder
//! when dropped.

use std::path::PathBuf;
use std::time::Duration;

use exsvc_store_sqlite::{PoolSettings, SqliteStore};

pub struct TestSqlite {
    dir: PathBuf,
    pub path: PathBuf,
}

impl TestSqlite {
    pub async fn new() -> Self {
        let dir =
            std::env::temp_dir().join(format!("exsvc-test-{}", uuid::Uuid::now_v7().simple()));
        let path = dir.join("exsvc.db");
        exsvc_store_sqlite::run_migrations(&path)
            .await
            .expect("migrate SQLite");
        Self { dir, path }
    }

    pub fn url(&self) -> String {
        format!("sqlite://{}", self.path.display())
    }

    /// The store with the production defaults' timeout (3 s).
    pub fn store(&self) -> SqliteStore {
        SqliteStore::open(&PoolSettings {
            path: self.path.clone(),
            max_size: 8,
            timeout: Duration::from_millis(3000),
        })
        .expect("open SQLite")
    }
}

impl Drop for TestSqlite {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
