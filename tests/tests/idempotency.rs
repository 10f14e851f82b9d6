//! `Idempotency-Key` on POST /api/v1/services and PUT …/credentials (docs/api.md §2),
//! end to end on the store `EXSVC_TEST_BACKEND` names.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Test helpers fail the test loudly.

use exsvc_testkit::app::service_body;
use exsvc_testkit::tokens::{admin, with_permissions};
use exsvc_testkit::TestApp;
use futures_util::future::join_all;
use reqwest::StatusCode;
use serde_json::{json, Value};

async fn post_keyed(app: &TestApp, token: &str, key: &str, body: &str) -> reqwest::Response {
    app.client
        .post(app.url("/api/v1/services"))
        .bearer_auth(token)
        .header("Idempotency-Key", key)
        .header("Content-Type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .unwrap()
}

async fn put_keyed(
    app: &TestApp,
    token: &str,
    key: &str,
    id: &str,
    body: &Value,
) -> reqwest::Response {
    app.client
        .put(app.url(&format!("/api/v1/services/{id}/credentials")))
        .bearer_auth(token)
        .header("Idempotency-Key", key)
        .json(body)
        .send()
        .await
        .unwrap()
}

async fn count_services(app: &TestApp, token: &str) -> usize {
    let page: Value = app
        .get(token, "/api/v1/services?limit=100")
        .await
        .json()
        .await
        .unwrap();
    page["services"].as_array().unwrap().len()
}

async fn audit_actions(app: &TestApp, token: &str) -> Vec<String> {
    let page: Value = app
        .get(token, "/api/v1/audit-events?limit=100")
        .await
        .json()
        .await
        .unwrap();
    page["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_owned())
        .collect()
}

fn header(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_owned())
}

#[tokio::test]
async fn a_retried_create_replays_the_first_response_and_writes_nothing() {
    let app = TestApp::spawn().await;
    let token = admin("acme");
    let body = r#"{"name": "Stripe", "type": "payment", "base_url": "https://api.stripe.com"}"#;

    let first = post_keyed(&app, &token, "create-1", body).await;
    assert_eq!(first.status(), StatusCode::CREATED);
    assert_eq!(header(&first, "idempotent-replayed"), None);
    let (location, etag) = (header(&first, "location"), header(&first, "etag"));
    let first_body = first.text().await.unwrap();

    // The same JSON written differently is the same request.
    let same = r#"{"base_url":"https://api.stripe.com","type":"payment","name":"Stripe"}"#;
    for retry_body in [body, same] {
        let retry = post_keyed(&app, &token, "create-1", retry_body).await;
        assert_eq!(retry.status(), StatusCode::CREATED);
        assert_eq!(
            header(&retry, "idempotent-replayed").as_deref(),
            Some("true")
        );
        assert_eq!(header(&retry, "location"), location);
        assert_eq!(header(&retry, "etag"), etag);
        assert_eq!(
            header(&retry, "content-type").as_deref(),
            Some("application/json")
        );
        assert!(header(&retry, "x-request-id").is_some());
        assert_eq!(retry.text().await.unwrap(), first_body);
    }
    assert_eq!(count_services(&app, &token).await, 1);
    assert_eq!(audit_actions(&app, &token).await, ["service.create"]);

    // Another body under the used key: refused, nothing written.
    let other = post_keyed(&app, &token, "create-1", &service_body("Adyen").to_string()).await;
    assert_eq!(other.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let error: Value = other.json().await.unwrap();
    assert_eq!(error["error"]["code"], "IDEMPOTENCY_KEY_REUSED");
    assert_eq!(count_services(&app, &token).await, 1);

    // Without a key, or with another one, a create is a create (here: a 409).
    let again = post_keyed(&app, &token, "create-2", body).await;
    assert_eq!(again.status(), StatusCode::CONFLICT);
}

#[tokio::test]
async fn keys_belong_to_one_tenant() {
    let app = TestApp::spawn().await;
    let body = service_body("Stripe").to_string();
    let acme = post_keyed(&app, &admin("acme"), "shared-key", &body).await;
    let globex = post_keyed(&app, &admin("globex"), "shared-key", &body).await;
    assert_eq!(acme.status(), StatusCode::CREATED);
    assert_eq!(globex.status(), StatusCode::CREATED);
    assert_eq!(header(&globex, "idempotent-replayed"), None);
    let (a, g): (Value, Value) = (acme.json().await.unwrap(), globex.json().await.unwrap());
    assert_ne!(a["id"], g["id"]);
    assert_eq!(g["tenant_id"], "globex");
}

#[tokio::test]
async fn a_failed_write_frees_its_key() {
    let app = TestApp::spawn().await;
    let token = admin("acme");
    let bad = json!({"name": "Stripe", "type": "payment", "base_url": "ftp://nope"});
    let refused = post_keyed(&app, &token, "k", &bad.to_string()).await;
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    // The refusal wrote nothing, so the corrected request runs under the key.
    let fixed = post_keyed(&app, &token, "k", &service_body("Stripe").to_string()).await;
    assert_eq!(fixed.status(), StatusCode::CREATED);
    assert_eq!(header(&fixed, "idempotent-replayed"), None);
}

#[tokio::test]
async fn a_caller_who_may_not_write_gets_a_refusal_not_a_replay() {
    let app = TestApp::spawn().await;
    let body = service_body("Stripe").to_string();
    let created = post_keyed(&app, &admin("acme"), "k", &body).await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let reader = with_permissions("acme", &["external-service:read"]);
    let refused = post_keyed(&app, &reader, "k", &body).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn bad_keys_are_validation_errors() {
    let app = TestApp::spawn().await;
    let token = admin("acme");
    let body = service_body("Stripe").to_string();
    for key in ["", &"k".repeat(256), "has space"] {
        let response = post_keyed(&app, &token, key, &body).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{key:?}");
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["error"]["code"], "VALIDATION_ERROR");
        assert!(error["error"]["details"]["fields"]["Idempotency-Key"].is_string());
    }
    let twice = app
        .client
        .post(app.url("/api/v1/services"))
        .bearer_auth(&token)
        .header("Idempotency-Key", "a")
        .header("Idempotency-Key", "b")
        .json(&service_body("Stripe"))
        .send()
        .await
        .unwrap();
    assert_eq!(twice.status(), StatusCode::BAD_REQUEST);
    let not_ascii = app
        .client
        .post(app.url("/api/v1/services"))
        .bearer_auth(&token)
        .header(
            "Idempotency-Key",
            reqwest::header::HeaderValue::from_bytes(b"caf\xe9").unwrap(),
        )
        .json(&service_body("Stripe"))
        .send()
        .await
        .unwrap();
    assert_eq!(not_ascii.status(), StatusCode::BAD_REQUEST);
    assert_eq!(count_services(&app, &token).await, 0);
    // The longest key is fine.
    let longest = post_keyed(&app, &token, &"k".repeat(255), &body).await;
    assert_eq!(longest.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn concurrent_retries_of_one_create_write_once() {
    let app = TestApp::spawn().await;
    let token = admin("acme");
    let body = service_body("Stripe").to_string();
    let responses = join_all((0..12).map(|_| post_keyed(&app, &token, "burst", &body))).await;
    let mut ids = std::collections::HashSet::new();
    for response in responses {
        match response.status() {
            StatusCode::CREATED => {
                let service: Value = response.json().await.unwrap();
                ids.insert(service["id"].as_str().unwrap().to_owned());
            }
            StatusCode::CONFLICT => {
                assert!(header(&response, "retry-after").is_some());
                let error: Value = response.json().await.unwrap();
                assert_eq!(error["error"]["code"], "IDEMPOTENCY_KEY_IN_USE");
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(ids.len(), 1, "every 201 is the one service");
    assert_eq!(count_services(&app, &token).await, 1);
}

#[tokio::test]
async fn a_retried_credential_put_stores_one_version() {
    let app = TestApp::spawn().await;
    let token = admin("acme");
    let id = app.create_ok(&token, &service_body("Stripe")).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let credential = json!({"auth_type": "api_key", "credentials": {"key": "sk_live_1"}});
    let first = put_keyed(&app, &token, "rotate-1", &id, &credential).await;
    assert_eq!(first.status(), StatusCode::CREATED);
    let first_body = first.text().await.unwrap();
    let retry = put_keyed(&app, &token, "rotate-1", &id, &credential).await;
    assert_eq!(retry.status(), StatusCode::CREATED);
    assert_eq!(
        header(&retry, "idempotent-replayed").as_deref(),
        Some("true")
    );
    assert_eq!(header(&retry, "cache-control").as_deref(), Some("no-store"));
    assert_eq!(retry.text().await.unwrap(), first_body);

    let versions: Value = app
        .get(
            &token,
            &format!("/api/v1/services/{id}/credentials/versions"),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        versions["versions"].as_array().unwrap().len(),
        1,
        "{versions}"
    );

    // Another secret under the key, or the key on another service: refused.
    let other_secret = json!({"auth_type": "api_key", "credentials": {"key": "sk_live_2"}});
    let reused = put_keyed(&app, &token, "rotate-1", &id, &other_secret).await;
    assert_eq!(reused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let other_id = app.create_ok(&token, &service_body("Adyen")).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let elsewhere = put_keyed(&app, &token, "rotate-1", &other_id, &credential).await;
    assert_eq!(elsewhere.status(), StatusCode::UNPROCESSABLE_ENTITY);
    // The key of a create is not a key of a credential write either.
    let created = post_keyed(
        &app,
        &token,
        "create-x",
        &service_body("Mailgun").to_string(),
    )
    .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let crossed = put_keyed(&app, &token, "create-x", &id, &credential).await;
    assert_eq!(crossed.status(), StatusCode::UNPROCESSABLE_ENTITY);

    // The secret is still version 1's.
    let shown: Value = app
        .get(&token, &format!("/api/v1/services/{id}/credentials"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(shown["version"], 1);
    assert_eq!(shown["credentials"]["key"], "sk_live_1");
}
