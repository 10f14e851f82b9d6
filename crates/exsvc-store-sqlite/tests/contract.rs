//! The repository contract suite against SQLite, each case on its own file.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Test helpers fail the test loudly.

use exsvc_testkit::contract::Stores;
use exsvc_testkit::sqlite::TestSqlite;

async fn sqlite() -> (Stores, TestSqlite) {
    let db = TestSqlite::new().await;
    (Stores::of(db.store()), db)
}

exsvc_testkit::service_repository_contract!(sqlite());
