//! `Idempotency-Key` on POST /api/v1/services and PUT …/credentials (docs/api.md §2),
//! end to end on the store `EXSVC_TEST_BACKEND` names.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Test helpers fail the test loudly.

use exsvc_testkit::app::service_body;
use exsvc_testkit::tokens::{admin, with_permissions};
use exsvc_testkit::{ApiClient, Call, TestApp};
use futures_util::future::join_all;
use serde_json::{json, Value};

/// A create under `key`, its body sent as written.
fn post_keyed(api: &ApiClient<'_>, key: &str, body: &str) -> Call {
    api.post("/api/v1/services")
        .idempotency_key(key)
        .body("application/json", body.to_owned())
}

/// A credential write under `key`.
fn put_keyed(api: &ApiClient<'_>, key: &str, id: &str, body: &Value) -> Call {
    api.put_credentials(id, body).idempotency_key(key)
}

async fn count_services(api: &ApiClient<'_>) -> usize {
    let page = api.list_services("limit=100").await.into_json();
    page["services"].as_array().unwrap().len()
}

async fn audit_actions(api: &ApiClient<'_>) -> Vec<String> {
    let page = api.audit("limit=100").await.into_json();
    page["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_retried_create_replays_the_first_response_and_writes_nothing() {
    let app = TestApp::spawn().await;
    let api = app.api(admin("acme"));
    let body = r#"{"name": "Stripe", "type": "payment", "base_url": "https://api.stripe.com"}"#;

    let first = post_keyed(&api, "create-1", body).await.expect_status(201);
    assert_eq!(first.header("idempotent-replayed"), None);

    // The same JSON written differently is the same request.
    let same = r#"{"base_url":"https://api.stripe.com","type":"payment","name":"Stripe"}"#;
    for retry_body in [body, same] {
        let retry = post_keyed(&api, "create-1", retry_body)
            .await
            .expect_status(201);
        assert_eq!(retry.header("idempotent-replayed"), Some("true"));
        assert_eq!(retry.header("location"), first.header("location"));
        assert_eq!(retry.header("etag"), first.header("etag"));
        assert_eq!(retry.header("content-type"), Some("application/json"));
        assert!(retry.header("x-request-id").is_some());
        assert_eq!(retry.text, first.text);
    }
    assert_eq!(count_services(&api).await, 1);
    assert_eq!(audit_actions(&api).await, ["service.create"]);

    // Another body under the used key: refused, nothing written.
    post_keyed(&api, "create-1", &service_body("Adyen").to_string())
        .await
        .expect_error(422, "IDEMPOTENCY_KEY_REUSED");
    assert_eq!(count_services(&api).await, 1);

    // Without a key, or with another one, a create is a create (here: a 409).
    post_keyed(&api, "create-2", body).await.expect_status(409);
}

#[tokio::test]
async fn keys_belong_to_one_tenant() {
    let app = TestApp::spawn().await;
    let body = service_body("Stripe").to_string();
    let acme = post_keyed(&app.api(admin("acme")), "shared-key", &body)
        .await
        .expect_status(201);
    let globex = post_keyed(&app.api(admin("globex")), "shared-key", &body)
        .await
        .expect_status(201);
    assert_eq!(globex.header("idempotent-replayed"), None);
    assert_ne!(acme.json()["id"], globex.json()["id"]);
    assert_eq!(globex.json()["tenant_id"], "globex");
}

#[tokio::test]
async fn a_failed_write_frees_its_key() {
    let app = TestApp::spawn().await;
    let api = app.api(admin("acme"));
    let bad = json!({"name": "Stripe", "type": "payment", "base_url": "ftp://nope"});
    post_keyed(&api, "k", &bad.to_string())
        .await
        .expect_status(400);
    // The refusal wrote nothing, so the corrected request runs under the key.
    let fixed = post_keyed(&api, "k", &service_body("Stripe").to_string())
        .await
        .expect_status(201);
    assert_eq!(fixed.header("idempotent-replayed"), None);
}

#[tokio::test]
async fn a_caller_who_may_not_write_gets_a_refusal_not_a_replay() {
    let app = TestApp::spawn().await;
    let body = service_body("Stripe").to_string();
    post_keyed(&app.api(admin("acme")), "k", &body)
        .await
        .expect_status(201);
    let reader = app.api(with_permissions("acme", &["external-service:read"]));
    post_keyed(&reader, "k", &body)
        .await
        .expect_error(403, "FORBIDDEN");
}

#[tokio::test]
async fn bad_keys_are_validation_errors() {
    let app = TestApp::spawn().await;
    let api = app.api(admin("acme"));
    let body = service_body("Stripe").to_string();
    for key in ["", &"k".repeat(256), "has space"] {
        post_keyed(&api, key, &body)
            .await
            .expect_invalid_field("Idempotency-Key");
    }
    api.create_service(&service_body("Stripe"))
        .idempotency_key("a")
        .idempotency_key("b")
        .await
        .expect_status(400);
    // Not ASCII: a header value reqwest sends only from bytes.
    api.create_service(&service_body("Stripe"))
        .raw(|b| {
            b.header(
                "Idempotency-Key",
                reqwest::header::HeaderValue::from_bytes(b"caf\xe9").unwrap(),
            )
        })
        .await
        .expect_status(400);
    assert_eq!(count_services(&api).await, 0);
    // The longest key is fine.
    post_keyed(&api, &"k".repeat(255), &body)
        .await
        .expect_status(201);
}

#[tokio::test]
async fn concurrent_retries_of_one_create_write_once() {
    let app = TestApp::spawn().await;
    let api = app.api(admin("acme"));
    let body = service_body("Stripe").to_string();
    let responses = join_all((0..12).map(|_| post_keyed(&api, "burst", &body).send())).await;
    let mut ids = std::collections::HashSet::new();
    for response in responses {
        match response.code() {
            201 => {
                ids.insert(response.id());
            }
            409 => {
                assert!(response.header("retry-after").is_some());
                response.expect_error(409, "IDEMPOTENCY_KEY_IN_USE");
            }
            other => panic!("unexpected {other}: {}", response.text),
        }
    }
    assert_eq!(ids.len(), 1, "every 201 is the one service");
    assert_eq!(count_services(&api).await, 1);
}

#[tokio::test]
async fn a_retried_credential_put_stores_one_version() {
    let app = TestApp::spawn().await;
    let api = app.api(admin("acme"));
    let id = api.new_service(&service_body("Stripe")).await;
    let credential = json!({"auth_type": "api_key", "credentials": {"key": "sk_live_1"}});
    let first = put_keyed(&api, "rotate-1", &id, &credential)
        .await
        .expect_status(201);
    let retry = put_keyed(&api, "rotate-1", &id, &credential)
        .await
        .expect_status(201);
    assert_eq!(retry.header("idempotent-replayed"), Some("true"));
    assert_eq!(retry.header("cache-control"), Some("no-store"));
    assert_eq!(retry.text, first.text);

    let versions = api.versions(&id).await.into_json();
    assert_eq!(
        versions["versions"].as_array().unwrap().len(),
        1,
        "{versions}"
    );

    // Another secret under the key, or the key on another service: refused.
    let other_secret = json!({"auth_type": "api_key", "credentials": {"key": "sk_live_2"}});
    put_keyed(&api, "rotate-1", &id, &other_secret)
        .await
        .expect_error(422, "IDEMPOTENCY_KEY_REUSED");
    let other_id = api.new_service(&service_body("Adyen")).await;
    put_keyed(&api, "rotate-1", &other_id, &credential)
        .await
        .expect_error(422, "IDEMPOTENCY_KEY_REUSED");
    // The key of a create is not a key of a credential write either.
    post_keyed(&api, "create-x", &service_body("Mailgun").to_string())
        .await
        .expect_status(201);
    put_keyed(&api, "create-x", &id, &credential)
        .await
        .expect_error(422, "IDEMPOTENCY_KEY_REUSED");

    // The secret is still version 1's.
    let shown = api.reveal(&id).await.into_json();
    assert_eq!(shown["version"], 1);
    assert_eq!(shown["credentials"]["key"], "sk_live_1");
}
