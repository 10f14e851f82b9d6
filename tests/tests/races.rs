//! Races: many clients at once on one name or one service. Uniqueness holds,
//! a stale `If-Match` loses, and no concurrent change is lost (docs/api.md §1.1, §2
//! "Concurrency"). Runs on PostgreSQL, or SQLite with `EXSVC_TEST_BACKEND=sqlite`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Test helpers fail the test loudly.

use std::sync::Arc;

use exsvc_testkit::app::service_body;
use exsvc_testkit::tokens::admin;
use exsvc_testkit::{ApiClient, Call, Reply, TestApp};
use serde_json::{json, Value};
use tokio::sync::Barrier;

/// Runs `n` calls on tasks of their own, released together by a barrier, and
/// returns each one's reply, whose body must be JSON (in the order of `i`).
async fn all_at_once(n: usize, call: impl Fn(usize) -> Call) -> Vec<Reply> {
    let barrier = Arc::new(Barrier::new(n));
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let barrier = barrier.clone();
            let send = call(i).send();
            tokio::spawn(async move {
                barrier.wait().await;
                let reply = send.await;
                reply.json();
                reply
            })
        })
        .collect();
    let mut results = Vec::with_capacity(n);
    for task in tasks {
        results.push(task.await.expect("request task"));
    }
    results
}

/// Exactly one answer is `winner`; every other one is the error `loser`, `code`.
/// Returns the winner's index.
fn assert_one_winner(results: &[Reply], winner: u16, loser: u16, code: &str) -> usize {
    let winners: Vec<usize> = (0..results.len())
        .filter(|&i| results[i].code() == winner)
        .collect();
    let texts: Vec<_> = results.iter().map(|r| (r.code(), &r.text)).collect();
    assert_eq!(winners.len(), 1, "exactly one {winner}: {texts:?}");
    for reply in results.iter().filter(|r| r.code() != winner) {
        reply.clone().expect_error(loser, code);
    }
    winners[0]
}

async fn services_named(api: &ApiClient<'_>, q: &str) -> Vec<Value> {
    let listed = api
        .list_services(&format!("limit=100&q={q}"))
        .await
        .expect_status(200);
    listed.json()["services"].as_array().unwrap().clone()
}

async fn update_events(api: &ApiClient<'_>, id: &str) -> usize {
    let events = api
        .audit(&format!("limit=100&action=service.update&service_id={id}"))
        .await
        .expect_status(200);
    events.json()["events"].as_array().unwrap().len()
}

/// 50 creations of one name at once: one 201, 49 × 409, one stored service.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_creates_of_one_name_make_exactly_one_service() {
    let app = TestApp::spawn().await;
    let api = app.api(admin("acme"));
    let results = all_at_once(50, |_| api.create_service(&service_body("Stripe"))).await;
    let winner = assert_one_winner(&results, 201, 409, "SERVICE_ALREADY_EXISTS");
    let listed = services_named(&api, "stripe").await;
    assert_eq!(listed, vec![results[winner].json().clone()]);
}

/// The same name in different cases at once: names are unique case-insensitively.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_creates_differing_only_in_case_make_exactly_one_service() {
    let app = TestApp::spawn().await;
    let api = app.api(admin("acme"));
    let spellings = ["Stripe", "STRIPE", "stripe", "sTrIpE", " Stripe "];
    let results = all_at_once(20, |i| {
        api.create_service(&service_body(spellings[i % spellings.len()]))
    })
    .await;
    assert_one_winner(&results, 201, 409, "SERVICE_ALREADY_EXISTS");
    assert_eq!(services_named(&api, "stripe").await.len(), 1);
}

/// 20 PATCHes under the same current ETag: one applies, 19 get 412 and change
/// nothing; the version moves once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_patches_under_one_etag_apply_exactly_once() {
    let app = TestApp::spawn().await;
    let api = app.api(admin("acme"));
    let id = api.new_service(&service_body("Stripe")).await;
    let results = all_at_once(20, |i| {
        api.patch_service(&id, &json!({"description": format!("writer {i}")}))
            .if_match("\"1\"")
    })
    .await;
    let winner = assert_one_winner(&results, 200, 412, "PRECONDITION_FAILED");
    let answered = results[winner].json();
    assert_eq!(answered["description"], format!("writer {winner}"));
    assert_eq!(answered["version"], 2);

    let stored = api.get_service(&id).await.expect_status(200);
    assert_eq!(stored.etag(), "\"2\"");
    assert_eq!(
        stored.json(),
        answered,
        "the stored service is the winner's"
    );
    assert_eq!(update_events(&api, &id).await, 1);
}

/// 40 merge patches at once without `If-Match`, each adding its own metadata
/// key: every one applies, none is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_patches_without_if_match_lose_no_update() {
    let app = TestApp::spawn().await;
    let api = app.api(admin("acme"));
    let id = api.new_service(&service_body("Stripe")).await;
    let results = all_at_once(40, |i| {
        api.merge_patch_service(
            &id,
            &json!({"metadata": {format!("key{i}"): i}}).to_string(),
        )
    })
    .await;
    let results: Vec<Reply> = results.into_iter().map(|r| r.expect_status(200)).collect();
    let versions: std::collections::BTreeSet<i64> = results
        .iter()
        .map(|r| r.json()["version"].as_i64().unwrap())
        .collect();
    assert_eq!(
        versions,
        (2..=41).collect(),
        "each patch made a version of its own"
    );

    let stored = api.get_service(&id).await.into_json();
    let expected: serde_json::Map<String, Value> =
        (0..40).map(|i| (format!("key{i}"), json!(i))).collect();
    assert_eq!(stored["metadata"], Value::Object(expected));
    assert_eq!(stored["version"], 41);
    assert_eq!(update_events(&api, &id).await, 40);
}
