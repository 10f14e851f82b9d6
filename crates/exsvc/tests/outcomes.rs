//! The outcome writer against real stores: what is submitted ends up in the
//! events' `details`, on `flush` and when the last writer is dropped.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Test helpers fail the test loudly.

use std::sync::Arc;
use std::time::Duration;

use exsvc::outcomes::{OutcomeWriter, OutcomeWriterSettings};
use exsvc_domain::access::Reach;
use exsvc_domain::audit::{AuditAction, AuditEvent, AuditFilter, AuditQuery};
use exsvc_domain::ports::{AuditLog, OutcomeSink, UseOutcome};
use exsvc_domain::TenantId;
use exsvc_store_postgres::{PgStore, PoolSettings};
use exsvc_testkit::contract::audit;
use exsvc_testkit::sqlite::TestSqlite;
use exsvc_testkit::TestDatabase;
use serde_json::json;

async fn events(log: &dyn AuditLog) -> Vec<AuditEvent> {
    let query = AuditQuery {
        limit: 1000,
        after: None,
        filter: AuditFilter::default(),
        reach: Reach::Tenant,
    };
    log.list(&TenantId::parse("t1").unwrap(), &query)
        .await
        .unwrap()
}

fn outcome(event: &AuditEvent, status: u16) -> UseOutcome {
    UseOutcome {
        tenant: event.tenant_id.clone(),
        event_id: event.id,
        details: json!({
            "kind": "proxy", "method": "GET", "path": "/v1/x",
            "upstream_status": status, "latency_ms": 3
        }),
    }
}

async fn used_events(log: &dyn AuditLog, n: usize) -> Vec<AuditEvent> {
    let mut out = Vec::new();
    for _ in 0..n {
        let event = audit("t1", AuditAction::CredentialsUse);
        log.record(&event).await.unwrap();
        out.push(event);
    }
    out
}

fn assert_written(stored: &[AuditEvent], expected: &[UseOutcome]) {
    for outcome in expected {
        let event = stored.iter().find(|e| e.id == outcome.event_id).unwrap();
        assert_eq!(event.details.as_ref(), Some(&outcome.details));
    }
}

/// Submits 600 outcomes (more than two batches), flushes, then submits more and
/// drops the writer: the task writes those too before it ends.
async fn writes_on_flush_and_on_drop(log: Arc<dyn AuditLog>) {
    let used = used_events(&*log, 700).await;
    let (writer, handle) = OutcomeWriter::start(Arc::clone(&log), OutcomeWriterSettings::default());
    let sink: Arc<dyn OutcomeSink> = Arc::new(writer.clone());

    let first: Vec<UseOutcome> = used[..600].iter().map(|e| outcome(e, 200)).collect();
    for o in &first {
        sink.submit(o.clone());
    }
    writer.flush().await;
    assert_written(&events(&*log).await, &first);

    let rest: Vec<UseOutcome> = used[600..].iter().map(|e| outcome(e, 502)).collect();
    for o in &rest {
        sink.submit(o.clone());
    }
    drop(sink);
    drop(writer);
    tokio::time::timeout(Duration::from_secs(10), handle.finished())
        .await
        .expect("the task ends once the last writer is gone");
    let stored = events(&*log).await;
    assert_written(&stored, &first);
    assert_written(&stored, &rest);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_writes_on_flush_and_on_drop() {
    let db = TestSqlite::new().await;
    writes_on_flush_and_on_drop(Arc::new(db.store())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_writes_on_flush_and_on_drop() {
    let db = TestDatabase::new().await;
    let store = PgStore::connect(&PoolSettings {
        database_url: db.url.clone(),
        max_size: 4,
        timeout: Duration::from_secs(5),
    })
    .unwrap();
    writes_on_flush_and_on_drop(Arc::new(store)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_writes_what_is_queued() {
    let db = TestSqlite::new().await;
    let log: Arc<dyn AuditLog> = Arc::new(db.store());
    let used = used_events(&*log, 50).await;
    let (writer, handle) = OutcomeWriter::start(Arc::clone(&log), OutcomeWriterSettings::default());
    let outcomes: Vec<UseOutcome> = used.iter().map(|e| outcome(e, 204)).collect();
    for o in &outcomes {
        writer.submit(o.clone());
    }
    writer.close().await;
    assert_written(&events(&*log).await, &outcomes);
    assert_eq!(writer.written(), 50);
    handle.finished().await;
}
