//! The OAuth 2.0 token broker end to end (docs/api.md §10.1): the real app
//! and a real token endpoint on 127.0.0.1 over HTTPS.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Test helpers fail the test loudly.

use std::time::{Duration, Instant};

use exsvc_testkit::egress::LocalEgress;
use exsvc_testkit::net::{Reply, TokenAuth, TokenEndpoint, TokenEndpointConfig, UpstreamServer};
use exsvc_testkit::tokens::{admin, with_permissions};
use exsvc_testkit::{ApiClient, TestApp, TestOptions};
use reqwest::Method;
use serde_json::{json, Value};

const CANARY: &str = "CANARY-oauth-9e41b0-client-secret";

fn oauth(endpoint: &TokenEndpoint, method: &str) -> Value {
    json!({"auth_type": "oauth2_client_credentials", "credentials": {
        "client_id": "client-1",
        "client_secret": CANARY,
        "token_url": endpoint.url(),
        "scopes": ["charges:read", "charges:write"],
        "audience": "https://api.example.com",
        "token_auth_method": method,
    }})
}

fn endpoint_config(auth: TokenAuth) -> TokenEndpointConfig {
    TokenEndpointConfig {
        client_secret: CANARY.into(),
        auth,
        ..TokenEndpointConfig::default()
    }
}

async fn oauth_service(api: &ApiClient<'_>, base_url: &str, credential: &Value) -> String {
    let id = api
        .new_service(&json!({"name": format!("oauth-{}", uuid::Uuid::now_v7()), "type": "payment", "base_url": base_url}))
        .await;
    api.put_credentials(&id, credential)
        .await
        .expect_status(201);
    id
}

#[tokio::test]
async fn both_client_authentication_methods_get_a_token() {
    let egress = LocalEgress::new();
    let app = TestApp::spawn_with(egress.options()).await;
    let api = app.api(admin("acme"));
    for (auth, method) in [
        (TokenAuth::Basic, "client_secret_basic"),
        (TokenAuth::Post, "client_secret_post"),
    ] {
        let endpoint = TokenEndpoint::start(&egress.ca, endpoint_config(auth)).await;
        let id = oauth_service(&api, "https://api.example.com", &oauth(&endpoint, method)).await;
        let answer = api.service_token(&id).await.expect_status(200);
        assert_eq!(answer.header("cache-control"), Some("no-store"));
        let token = answer.json();
        assert_eq!(token["access_token"], "tok-1", "{method}");
        assert_eq!(token["token_type"], "Bearer");
        assert_eq!(token["cached"], false);
        assert!(token["expires_at"].is_string());
        assert!(!answer.text.contains(CANARY));
        let request = &endpoint.requests()[0];
        assert_eq!(request.form_value("grant_type"), Some("client_credentials"));
        assert_eq!(
            request.form_value("scope"),
            Some("charges:read charges:write")
        );
        assert_eq!(
            request.form_value("audience"),
            Some("https://api.example.com")
        );
        match auth {
            TokenAuth::Basic => {
                assert!(request
                    .authorization
                    .as_deref()
                    .unwrap()
                    .starts_with("Basic "));
                assert_eq!(request.form_value("client_secret"), None);
            }
            TokenAuth::Post => {
                assert_eq!(request.authorization, None);
                assert_eq!(request.form_value("client_secret"), Some(CANARY));
            }
        }
    }
}

#[tokio::test]
async fn concurrent_calls_share_one_token_request_and_later_ones_are_cached() {
    let egress = LocalEgress::new();
    let endpoint = TokenEndpoint::start(
        &egress.ca,
        TokenEndpointConfig {
            delay: Duration::from_millis(300),
            ..endpoint_config(TokenAuth::Basic)
        },
    )
    .await;
    let app = TestApp::spawn_with(egress.options()).await;
    let api = app.api(admin("acme"));
    let id = oauth_service(
        &api,
        "https://api.example.com",
        &oauth(&endpoint, "client_secret_basic"),
    )
    .await;
    let calls = (0..50).map(|_| {
        let call = api.service_token(&id);
        async move { call.await }
    });
    let answers = futures_util::future::join_all(calls).await;
    for answer in answers {
        assert_eq!(answer.code(), 200, "{}", answer.text);
        assert_eq!(answer.json()["access_token"], "tok-1");
    }
    assert_eq!(
        endpoint.request_count(),
        1,
        "50 concurrent calls, one token request"
    );
    let again = api.service_token(&id).await.expect_status(200);
    assert_eq!(again.json()["cached"], true);
    assert_eq!(endpoint.request_count(), 1);
}

#[tokio::test]
async fn a_token_is_kept_until_30_seconds_before_it_expires() {
    let egress = LocalEgress::new();
    let endpoint = TokenEndpoint::start(
        &egress.ca,
        TokenEndpointConfig {
            expires_in: Some(32),
            ..endpoint_config(TokenAuth::Basic)
        },
    )
    .await;
    let app = TestApp::spawn_with(egress.options()).await;
    let api = app.api(admin("acme"));
    let id = oauth_service(
        &api,
        "https://api.example.com",
        &oauth(&endpoint, "client_secret_basic"),
    )
    .await;
    api.service_token(&id).await.expect_status(200);
    assert_eq!(api.service_token(&id).await.json()["cached"], true);
    // Two seconds of life left beyond the margin: then it is fetched anew.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let renewed = api.service_token(&id).await.expect_status(200);
    assert_eq!(renewed.json()["cached"], false);
    assert_eq!(renewed.json()["access_token"], "tok-2");
    // A token within the margin from the start is never cached.
    endpoint.set_expires_in(Some(20));
    let id = oauth_service(
        &api,
        "https://api.example.com",
        &oauth(&endpoint, "client_secret_basic"),
    )
    .await;
    api.service_token(&id).await.expect_status(200);
    assert_eq!(api.service_token(&id).await.json()["cached"], false);
}

#[tokio::test]
async fn a_new_credential_version_drops_the_cached_token() {
    let egress = LocalEgress::new();
    let endpoint = TokenEndpoint::start(&egress.ca, endpoint_config(TokenAuth::Basic)).await;
    let app = TestApp::spawn_with(egress.options()).await;
    let api = app.api(admin("acme"));
    let credential = oauth(&endpoint, "client_secret_basic");
    let id = oauth_service(&api, "https://api.example.com", &credential).await;
    api.service_token(&id).await.expect_status(200);
    assert_eq!(api.service_token(&id).await.json()["cached"], true);
    api.put_credentials(&id, &credential)
        .await
        .expect_status(200);
    let after = api.service_token(&id).await.expect_status(200);
    assert_eq!(after.json()["cached"], false);
    assert_eq!(endpoint.request_count(), 2);
    // Deleted: no token at all.
    api.delete_credentials(&id).await.expect_status(204);
    api.service_token(&id)
        .await
        .expect_error(404, "CREDENTIALS_NOT_FOUND");
    assert_eq!(endpoint.request_count(), 2);
}

#[tokio::test]
async fn token_endpoint_errors_are_502_with_the_oauth_error_and_slowness_is_504() {
    let egress = LocalEgress::new();
    let endpoint = TokenEndpoint::start(
        &egress.ca,
        TokenEndpointConfig {
            client_secret: "not-the-stored-one".into(),
            mismatch_status: 401,
            ..endpoint_config(TokenAuth::Basic)
        },
    )
    .await;
    let app = TestApp::spawn_with(TestOptions {
        egress_response_timeout: Duration::from_secs(1),
        ..egress.options()
    })
    .await;
    let api = app.api(admin("acme"));
    let id = oauth_service(
        &api,
        "https://api.example.com",
        &oauth(&endpoint, "client_secret_basic"),
    )
    .await;
    let refusal = api.service_token(&id).await;
    assert!(!refusal.text.contains(CANARY));
    let body = refusal.expect_error(502, "UPSTREAM_ERROR");
    assert_eq!(body["details"]["upstream_status"], 401, "{body}");
    assert_eq!(body["details"]["oauth_error"], "invalid_client");

    endpoint.configure(|c| {
        c.client_secret = CANARY.into();
        c.delay = Duration::from_secs(3);
    });
    let started = Instant::now();
    api.service_token(&id)
        .await
        .expect_error(504, "UPSTREAM_TIMEOUT");
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn the_proxy_sends_a_brokered_token_and_refreshes_it_once_after_a_401() {
    let egress = LocalEgress::new();
    let endpoint = TokenEndpoint::start(&egress.ca, endpoint_config(TokenAuth::Post)).await;
    let upstream = UpstreamServer::https(&egress.ca).await;
    let app = TestApp::spawn_with(egress.options()).await;
    let api = app.api(admin("acme"));
    let id = oauth_service(
        &api,
        &upstream.base_url(),
        &oauth(&endpoint, "client_secret_post"),
    )
    .await;
    api.proxy(Method::GET, &id, "me").await.expect_status(200);
    assert_eq!(
        upstream.requests()[0].header("authorization"),
        Some("Bearer tok-1")
    );
    // The upstream no longer takes tok-1: one new token, one retry.
    upstream.push_all([Reply::status(401), Reply::text(200, "again")]);
    let answer = api.proxy(Method::GET, &id, "me").await.expect_status(200);
    assert_eq!(answer.text, "again");
    let seen = upstream.requests();
    assert_eq!(seen.len(), 3);
    assert_eq!(seen[1].header("authorization"), Some("Bearer tok-1"));
    assert_eq!(seen[2].header("authorization"), Some("Bearer tok-2"));
    assert_eq!(endpoint.request_count(), 2);
    // A 401 that stays a 401 is passed back after the one retry.
    upstream.push_all([Reply::status(401), Reply::status(401)]);
    api.proxy(Method::GET, &id, "me").await.expect_status(401);
    assert_eq!(upstream.request_count(), 5);
}

#[tokio::test]
async fn each_broker_call_is_audited_and_use_is_enough() {
    let egress = LocalEgress::new();
    let endpoint = TokenEndpoint::start(&egress.ca, endpoint_config(TokenAuth::Basic)).await;
    let app = TestApp::spawn_with(egress.options()).await;
    let api = app.api(admin("acme"));
    let id = oauth_service(
        &api,
        "https://api.example.com",
        &oauth(&endpoint, "client_secret_basic"),
    )
    .await;
    let worker = app.api(with_permissions("acme", &["external-service:use"]));
    worker.service_token(&id).await.expect_status(200);
    worker.service_token(&id).await.expect_status(200);
    worker.reveal(&id).await.expect_error(403, "FORBIDDEN");
    // A bearer credential has no token to broker.
    let plain = api
        .new_service(&json!({"name": "plain", "type": "x", "base_url": "https://api.example.com"}))
        .await;
    api.put_credentials(
        &plain,
        &json!({"auth_type": "bearer", "credentials": {"token": "t"}}),
    )
    .await
    .expect_status(201);
    worker
        .service_token(&plain)
        .await
        .expect_error(422, "UNSUPPORTED_AUTH_TYPE");
    let events = api.completed_uses(&id, 2).await;
    let mut statuses: Vec<Value> = events
        .iter()
        .map(|e| {
            assert_eq!(e["details"]["kind"], "token");
            e["details"]["upstream_status"].clone()
        })
        .collect();
    statuses.sort_by_key(|s| s.is_null());
    // The first call asked the endpoint (200); the cached one asked nobody.
    assert_eq!(statuses, [json!(200), Value::Null]);
    let trail = api.audit("").await;
    assert!(!trail.text.contains(CANARY));
}
