//! The repository contract suite against SQLite, each case on its own file.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Test helpers fail the test loudly.

use std::sync::Arc;

use exsvc_domain::ports::ServiceRepository;
use exsvc_testkit::sqlite::TestSqlite;

async fn sqlite() -> (Arc<dyn ServiceRepository>, TestSqlite) {
    let db = TestSqlite::new().await;
    (Arc::new(db.store()), db)
}

exsvc_testkit::service_repository_contract!(sqlite());
