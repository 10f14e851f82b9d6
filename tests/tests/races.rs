//! Races: many clients at once on one name or one service. Uniqueness holds,
//! a stale `If-Match` loses, and no concurrent change is lost (docs/api.md §1.1, §2
//! "Concurrency"). Runs on PostgreSQL, or SQLite with `EXSVC_TEST_BACKEND=sqlite`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Test helpers fail the test loudly.

use std::future::Future;
use std::sync::Arc;

use exsvc_testkit::app::service_body;
use exsvc_testkit::tokens::admin;
use exsvc_testkit::TestApp;
use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio::sync::Barrier;

/// Runs `n` requests on tasks of their own, released together by a barrier, and
/// returns each one's status and JSON body (in the order of `i`).
async fn all_at_once<F, Fut>(n: usize, request: F) -> Vec<(StatusCode, Value)>
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = reqwest::Result<reqwest::Response>> + Send + 'static,
{
    let barrier = Arc::new(Barrier::new(n));
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let barrier = barrier.clone();
            let send = request(i);
            tokio::spawn(async move {
                barrier.wait().await;
                let response = send.await.expect("a response");
                let status = response.status();
                let text = response.text().await.expect("a complete body");
                let body = serde_json::from_str(&text)
                    .unwrap_or_else(|e| panic!("{status}: not JSON ({e}): {text}"));
                (status, body)
            })
        })
        .collect();
    let mut results = Vec::with_capacity(n);
    for task in tasks {
        results.push(task.await.expect("request task"));
    }
    results
}

fn count(results: &[(StatusCode, Value)], status: StatusCode) -> usize {
    results.iter().filter(|(s, _)| *s == status).count()
}

/// Every answer that is not `winner` is `loser` with the error `code`.
fn assert_one_winner(
    results: &[(StatusCode, Value)],
    winner: StatusCode,
    loser: StatusCode,
    code: &str,
) {
    assert_eq!(
        count(results, winner),
        1,
        "exactly one {winner}: {results:?}"
    );
    for (status, body) in results.iter().filter(|(s, _)| *s != winner) {
        assert_eq!(*status, loser, "{body}");
        assert_eq!(body["error"]["code"], code, "{body}");
    }
}

async fn services_named(app: &TestApp, token: &str, q: &str) -> Vec<Value> {
    let response = app
        .get(token, &format!("/api/v1/services?limit=100&q={q}"))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let listed: Value = response.json().await.unwrap();
    listed["services"].as_array().unwrap().clone()
}

async fn update_events(app: &TestApp, token: &str, id: &str) -> usize {
    let response = app
        .get(
            token,
            &format!("/api/v1/audit-events?limit=100&action=service.update&service_id={id}"),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let events: Value = response.json().await.unwrap();
    events["events"].as_array().unwrap().len()
}

/// 50 creations of one name at once: one 201, 49 × 409, one stored service.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_creates_of_one_name_make_exactly_one_service() {
    let app = TestApp::spawn().await;
    let token = admin("acme");
    let results = all_at_once(50, |_| {
        app.client
            .post(app.url("/api/v1/services"))
            .bearer_auth(&token)
            .json(&service_body("Stripe"))
            .send()
    })
    .await;
    assert_one_winner(
        &results,
        StatusCode::CREATED,
        StatusCode::CONFLICT,
        "SERVICE_ALREADY_EXISTS",
    );
    let (_, created) = results
        .iter()
        .find(|(s, _)| *s == StatusCode::CREATED)
        .unwrap();
    let listed = services_named(&app, &token, "stripe").await;
    assert_eq!(listed, vec![created.clone()]);
}

/// The same name in different cases at once: names are unique case-insensitively.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_creates_differing_only_in_case_make_exactly_one_service() {
    let app = TestApp::spawn().await;
    let token = admin("acme");
    let spellings = ["Stripe", "STRIPE", "stripe", "sTrIpE", " Stripe "];
    let results = all_at_once(20, |i| {
        app.client
            .post(app.url("/api/v1/services"))
            .bearer_auth(&token)
            .json(&service_body(spellings[i % spellings.len()]))
            .send()
    })
    .await;
    assert_one_winner(
        &results,
        StatusCode::CREATED,
        StatusCode::CONFLICT,
        "SERVICE_ALREADY_EXISTS",
    );
    assert_eq!(services_named(&app, &token, "stripe").await.len(), 1);
}

/// 20 PATCHes under the same current ETag: one applies, 19 get 412 and change
/// nothing; the version moves once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_patches_under_one_etag_apply_exactly_once() {
    let app = TestApp::spawn().await;
    let token = admin("acme");
    let service = app.create_ok(&token, &service_body("Stripe")).await;
    let id = service["id"].as_str().unwrap().to_owned();
    let url = app.url(&format!("/api/v1/services/{id}"));
    let results = all_at_once(20, |i| {
        app.client
            .patch(&url)
            .bearer_auth(&token)
            .header("if-match", "\"1\"")
            .json(&json!({"description": format!("writer {i}")}))
            .send()
    })
    .await;
    assert_one_winner(
        &results,
        StatusCode::OK,
        StatusCode::PRECONDITION_FAILED,
        "PRECONDITION_FAILED",
    );
    let winner = results
        .iter()
        .position(|(s, _)| *s == StatusCode::OK)
        .unwrap();
    let answered = &results[winner].1;
    assert_eq!(answered["description"], format!("writer {winner}"));
    assert_eq!(answered["version"], 2);

    let stored = app.get(&token, &format!("/api/v1/services/{id}")).await;
    assert_eq!(stored.headers()["etag"], "\"2\"");
    let stored: Value = stored.json().await.unwrap();
    assert_eq!(&stored, answered, "the stored service is the winner's");
    assert_eq!(update_events(&app, &token, &id).await, 1);
}

/// 40 merge patches at once without `If-Match`, each adding its own metadata
/// key: every one applies, none is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_patches_without_if_match_lose_no_update() {
    let app = TestApp::spawn().await;
    let token = admin("acme");
    let service = app.create_ok(&token, &service_body("Stripe")).await;
    let id = service["id"].as_str().unwrap().to_owned();
    let url = app.url(&format!("/api/v1/services/{id}"));
    let results = all_at_once(40, |i| {
        app.client
            .patch(&url)
            .bearer_auth(&token)
            .header("content-type", "application/merge-patch+json")
            .body(json!({"metadata": {format!("key{i}"): i}}).to_string())
            .send()
    })
    .await;
    for (status, body) in &results {
        assert_eq!(*status, StatusCode::OK, "{body}");
    }
    let versions: std::collections::BTreeSet<i64> = results
        .iter()
        .map(|(_, b)| b["version"].as_i64().unwrap())
        .collect();
    assert_eq!(
        versions,
        (2..=41).collect(),
        "each patch made a version of its own"
    );

    let stored: Value = app
        .get(&token, &format!("/api/v1/services/{id}"))
        .await
        .json()
        .await
        .unwrap();
    let expected: serde_json::Map<String, Value> =
        (0..40).map(|i| (format!("key{i}"), json!(i))).collect();
    assert_eq!(stored["metadata"], Value::Object(expected));
    assert_eq!(stored["version"], 41);
    assert_eq!(update_events(&app, &token, &id).await, 40);
}
