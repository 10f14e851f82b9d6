//! The repository contract suite against PostgreSQL, each case on its own
//! database cloned from the migrated template.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Test helpers fail the test loudly.

use std::time::Duration;

use exsvc_store_postgres::{PgStore, PoolSettings};
use exsvc_testkit::contract::Stores;
use exsvc_testkit::TestDatabase;

async fn postgres() -> (Stores, TestDatabase) {
    let db = TestDatabase::new().await;
    let store = PgStore::connect(&PoolSettings {
        database_url: db.url.clone(),
        max_size: 8,
        timeout: Duration::from_secs(5),
    })
    .expect("pool");
    (Stores::of(store), db)
}

exsvc_testkit::service_repository_contract!(postgres());
