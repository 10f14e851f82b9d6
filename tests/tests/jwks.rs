//! Keys from the Auth Manager's JWKS, end to end against a local JWKS endpoint.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Test helpers fail the test loudly.

use std::time::{Duration, Instant};

use exsvc_auth::Algorithm;
use exsvc_testkit::jwks_server::JwksServer;
use exsvc_testkit::keys::{header, jwks, EC256, RSA, RSA2};
use exsvc_testkit::tokens::now;
use exsvc_testkit::{TestApp, TestOptions};
use reqwest::StatusCode;
use serde_json::{json, Value};

fn claims() -> Value {
    json!({"tenant_id": "acme", "sub": "svc", "exp": now() + 600, "roles": ["admin"], "jti": uuid::Uuid::now_v7().to_string()})
}

/// An app that trusts only the JWKS at `server` (no HMAC secret, no PEM keys).
async fn app(server: &JwksServer) -> TestApp {
    TestApp::spawn_with(TestOptions {
        hmac: false,
        jwks_url: Some(server.url.clone()),
        ..TestOptions::default()
    })
    .await
}

async fn status(app: &TestApp, token: &str) -> StatusCode {
    app.api(token).list_services("").await.status
}

#[tokio::test]
async fn keys_from_the_jwks_verify_and_a_new_key_is_accepted_without_restart() {
    let server = JwksServer::start(jwks(vec![
        RSA.jwk(Algorithm::RS256, "k1"),
        EC256.jwk(Algorithm::ES256, "k2"),
    ]))
    .await;
    let app = app(&server).await;
    assert_eq!(
        status(
            &app,
            &RSA.sign(&header(Algorithm::RS256, Some("k1")), &claims())
        )
        .await,
        StatusCode::OK
    );
    assert_eq!(
        status(
            &app,
            &EC256.sign(&header(Algorithm::ES256, Some("k2")), &claims())
        )
        .await,
        StatusCode::OK
    );
    // A key used with another kid's entry, or with an algorithm its entry does not name, fails.
    assert_eq!(
        status(
            &app,
            &RSA.sign(&header(Algorithm::RS256, Some("k2")), &claims())
        )
        .await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        status(
            &app,
            &RSA.sign(&header(Algorithm::PS256, Some("k1")), &claims())
        )
        .await,
        StatusCode::UNAUTHORIZED
    );

    // The Auth Manager rotates in a new key.
    server.set_document(jwks(vec![
        RSA.jwk(Algorithm::RS256, "k1"),
        RSA2.jwk(Algorithm::RS256, "k3"),
    ]));
    let token = RSA2.sign(&header(Algorithm::RS256, Some("k3")), &claims());
    let started = Instant::now();
    loop {
        match status(&app, &token).await {
            StatusCode::OK => break,
            StatusCode::UNAUTHORIZED => {
                assert!(
                    started.elapsed() < Duration::from_secs(10),
                    "the new key was never picked up"
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            other => panic!("unexpected {other}"),
        }
    }
}

#[tokio::test]
async fn a_burst_of_unknown_kids_does_not_hammer_the_endpoint() {
    let server = JwksServer::start(jwks(vec![RSA.jwk(Algorithm::RS256, "k1")])).await;
    let app = app(&server).await;
    let before = server.hits();
    let started = Instant::now();
    for i in 0..100 {
        let token = RSA2.sign(
            &header(Algorithm::RS256, Some(&format!("unknown-{i}"))),
            &claims(),
        );
        assert_eq!(status(&app, &token).await, StatusCode::UNAUTHORIZED);
    }
    let elapsed = started.elapsed();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let fetches = server.hits() - before;
    // The test server allows one refresh per 500 ms (production: 30 s).
    let allowed = 1 + (elapsed.as_millis() / 500) as usize;
    assert!(
        fetches <= allowed,
        "{fetches} fetches in {elapsed:?} for 100 unknown kids"
    );
}

#[tokio::test]
async fn hostile_kid_values_are_refused_and_never_used_as_paths() {
    let server = JwksServer::start(jwks(vec![RSA.jwk(Algorithm::RS256, "k1")])).await;
    let app = app(&server).await;
    for kid in [
        "../../../../etc/passwd",
        "/dev/zero",
        "' OR '1'='1' --",
        "$(touch /tmp/pwned)",
        "`id`",
        "",
        "unknown",
        "k1\u{0}",
        &"k".repeat(4096),
    ] {
        // Signed by the trusted key, but naming a kid the JWKS does not have.
        let token = RSA.sign(&header(Algorithm::RS256, Some(kid)), &claims());
        let response = app.api(&token).list_services("").await;
        assert_eq!(response.code(), 401, "kid {kid:?}");
        response.expect_error(401, "UNAUTHORIZED");
    }
    assert!(!std::path::Path::new("/tmp/pwned").exists());
}

#[tokio::test]
async fn cached_keys_keep_working_while_the_endpoint_is_down() {
    let server = JwksServer::start(jwks(vec![RSA.jwk(Algorithm::RS256, "k1")])).await;
    let app = app(&server).await;
    assert_eq!(
        status(
            &app,
            &RSA.sign(&header(Algorithm::RS256, Some("k1")), &claims())
        )
        .await,
        StatusCode::OK
    );
    server.set_down(true);
    // Unknown kids make the server try the endpoint, which fails.
    for i in 0..3 {
        let unknown = RSA2.sign(
            &header(Algorithm::RS256, Some(&format!("new-{i}"))),
            &claims(),
        );
        assert_eq!(status(&app, &unknown).await, StatusCode::UNAUTHORIZED);
        tokio::time::sleep(Duration::from_millis(600)).await;
    }
    assert!(server.hits() >= 2, "the refreshes were attempted");
    // New tokens (not in the token cache) signed with the known key still pass.
    for _ in 0..3 {
        assert_eq!(
            status(
                &app,
                &RSA.sign(&header(Algorithm::RS256, Some("k1")), &claims())
            )
            .await,
            StatusCode::OK
        );
    }
}

#[tokio::test]
async fn symmetric_keys_in_a_jwks_are_ignored() {
    // An "oct" key in the JWKS must not turn into an HMAC secret.
    let secret = "a-shared-secret-published-by-mistake-32b";
    let oct = json!({"kty": "oct", "kid": "hmac", "k": base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, secret)});
    let server = JwksServer::start(json!({"keys": [oct]})).await;
    let app = app(&server).await;
    let token = jsonwebtoken::encode(
        &header(Algorithm::HS256, Some("hmac")),
        &claims(),
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap();
    assert_eq!(status(&app, &token).await, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_cached_token_stops_working_when_its_key_is_removed_or_replaced() {
    let server = JwksServer::start(jwks(vec![RSA.jwk(Algorithm::RS256, "k1")])).await;
    let app = app(&server).await;
    let token = RSA.sign(&header(Algorithm::RS256, Some("k1")), &claims());
    assert_eq!(status(&app, &token).await, StatusCode::OK);
    assert_eq!(status(&app, &token).await, StatusCode::OK, "now cached");

    // The Auth Manager replaces the compromised key, keeping its kid.
    server.set_document(jwks(vec![RSA2.jwk(Algorithm::RS256, "k1")]));
    // An unknown kid makes the server look at the JWKS again.
    let started = Instant::now();
    loop {
        let probe = RSA2.sign(&header(Algorithm::RS256, Some("probe")), &claims());
        assert_eq!(status(&app, &probe).await, StatusCode::UNAUTHORIZED);
        if status(&app, &token).await == StatusCode::UNAUTHORIZED {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the old key's token is still accepted"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        status(
            &app,
            &RSA2.sign(&header(Algorithm::RS256, Some("k1")), &claims())
        )
        .await,
        StatusCode::OK
    );
}
