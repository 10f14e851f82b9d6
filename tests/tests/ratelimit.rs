//! Per-tenant rate limiting over real HTTP (docs/api.md §5), in-process and on Redis.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Test helpers fail the test loudly.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use exsvc_app::ratelimit::OnStoreError;
use exsvc_testkit::tokens::admin;
use exsvc_testkit::{TestApp, TestOptions};
use reqwest::{Response, StatusCode};
use serde_json::Value;

fn header(response: &Response, name: &str) -> String {
    response
        .headers()
        .get(name)
        .unwrap_or_else(|| panic!("no {name}"))
        .to_str()
        .unwrap()
        .to_owned()
}

fn number(response: &Response, name: &str) -> u64 {
    header(response, name).parse().unwrap()
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn unique_tenant(name: &str) -> String {
    format!("{name}-{}", uuid::Uuid::now_v7().simple())
}

async fn burst_then_refusal(app: &TestApp) {
    let tenant = unique_tenant("burst");
    let token = admin(&tenant);
    for expected in (0..5u64).rev() {
        let response = app.get(&token, "/api/v1/services").await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(number(&response, "x-ratelimit-limit"), 5);
        assert_eq!(number(&response, "x-ratelimit-remaining"), expected);
        let reset = number(&response, "x-ratelimit-reset");
        assert!(
            reset >= unix_now() && reset <= unix_now() + 61,
            "reset {reset}"
        );
        assert_eq!(
            header(&response, "ratelimit-policy"),
            "\"default\";q=5;w=60"
        );
        assert!(header(&response, "ratelimit").starts_with(&format!("\"default\";r={expected};t=")));
    }
    let refused = app.get(&token, "/api/v1/services").await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry = number(&refused, "retry-after");
    assert!((1..=12).contains(&retry), "Retry-After {retry}");
    assert_eq!(number(&refused, "x-ratelimit-remaining"), 0);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "RATE_LIMIT_EXCEEDED");
    // Another tenant is untouched.
    let other = app
        .get(&admin(&unique_tenant("other")), "/api/v1/services")
        .await;
    assert_eq!(other.status(), StatusCode::OK);
    assert_eq!(number(&other, "x-ratelimit-remaining"), 4);
}

/// Unknown routes and wrong methods used to skip the budget: a caller could
/// probe without limit and never see its headers.
#[tokio::test]
async fn unknown_routes_and_wrong_methods_spend_the_budget() {
    let app = TestApp::spawn_with(TestOptions {
        rate_limit_per_minute: 3,
        ..TestOptions::default()
    })
    .await;
    let token = admin(&unique_tenant("probe"));
    let unknown = app.get(&token, "/api/v1/nothing-here").await;
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    assert_eq!(number(&unknown, "x-ratelimit-remaining"), 2);
    let wrong_method = app
        .client
        .delete(app.url("/api/v1/services"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_method.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(header(&wrong_method, "allow"), "GET, HEAD, POST");
    assert_eq!(number(&wrong_method, "x-ratelimit-remaining"), 1);
    let head = app
        .client
        .head(app.url("/api/v1/services"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), StatusCode::OK, "HEAD is served where GET is");
    assert_eq!(number(&head, "x-ratelimit-remaining"), 0);
    let refused = app.get(&token, "/api/v1/nothing-here").await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(number(&refused, "retry-after") >= 1);
}

#[tokio::test]
async fn a_burst_up_to_the_limit_then_429_per_tenant() {
    let app = TestApp::spawn_with(TestOptions {
        rate_limit_per_minute: 5,
        ..TestOptions::default()
    })
    .await;
    burst_then_refusal(&app).await;
}

#[tokio::test]
async fn the_same_semantics_on_redis() {
    let app = TestApp::spawn_with(TestOptions {
        rate_limit_per_minute: 5,
        redis_url: Some("redis://127.0.0.1:6379".into()),
        ..TestOptions::default()
    })
    .await;
    burst_then_refusal(&app).await;
}

#[tokio::test]
async fn retry_after_is_honoured() {
    // 60 a minute: one a second.
    let app = TestApp::spawn_with(TestOptions {
        rate_limit_per_minute: 60,
        ..TestOptions::default()
    })
    .await;
    let token = admin(&unique_tenant("retry"));
    let mut refused = None;
    for _ in 0..61 {
        let response = app.get(&token, "/api/v1/services").await;
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            refused = Some(response);
            break;
        }
    }
    let refused = refused.expect("the 61st request is refused");
    let retry = number(&refused, "retry-after");
    assert!((1..=2).contains(&retry), "{retry}");
    tokio::time::sleep(Duration::from_secs(retry)).await;
    assert_eq!(
        app.get(&token, "/api/v1/services").await.status(),
        StatusCode::OK,
        "a retry after Retry-After passes"
    );
}

#[tokio::test]
async fn errors_after_authentication_carry_the_headers_too() {
    let app = TestApp::spawn_with(TestOptions {
        rate_limit_per_minute: 50,
        ..TestOptions::default()
    })
    .await;
    let token = admin(&unique_tenant("errors"));
    let missing = app
        .get(
            &token,
            &format!("/api/v1/services/{}", uuid::Uuid::now_v7()),
        )
        .await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert_eq!(number(&missing, "x-ratelimit-remaining"), 49);
    let invalid = app
        .client
        .post(app.url("/api/v1/services"))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body("{")
        .send()
        .await
        .unwrap();
    assert_eq!(invalid.status(), StatusCode::BAD_REQUEST);
    assert_eq!(number(&invalid, "x-ratelimit-remaining"), 48);
}

#[tokio::test]
async fn requests_without_a_valid_token_have_their_own_budget() {
    let app = TestApp::spawn_with(TestOptions {
        rate_limit_per_minute: 3,
        rate_limit_unauthenticated_per_minute: 3,
        ..TestOptions::default()
    })
    .await;
    for _ in 0..3 {
        let response = app
            .client
            .get(app.url("/api/v1/services"))
            .bearer_auth("not-a-token")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    let refused = app
        .client
        .get(app.url("/api/v1/services"))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    // Tenants do not pay for the anonymous traffic of their address.
    let token = admin(&unique_tenant("separate"));
    for _ in 0..3 {
        assert_eq!(
            app.get(&token, "/api/v1/services").await.status(),
            StatusCode::OK
        );
    }
    assert_eq!(
        app.get(&token, "/api/v1/services").await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test]
async fn health_metrics_and_docs_are_never_limited() {
    let app = TestApp::spawn_with(TestOptions {
        rate_limit_per_minute: 1,
        rate_limit_unauthenticated_per_minute: 1,
        ..TestOptions::default()
    })
    .await;
    let token = admin(&unique_tenant("spent"));
    app.get(&token, "/api/v1/services").await;
    assert_eq!(
        app.get(&token, "/api/v1/services").await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    for _ in 0..20 {
        for path in [
            "/healthz",
            "/readyz",
            "/metrics",
            "/api-docs/openapi.json",
            "/swagger-ui/",
        ] {
            let response = app.client.get(app.url(path)).send().await.unwrap();
            assert_eq!(response.status(), StatusCode::OK, "{path}");
            assert!(
                response.headers().get("x-ratelimit-limit").is_none(),
                "{path}"
            );
        }
    }
    let metrics = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("exsvc_rate_limit_refusals_total{scope=\"tenant\"} 1"),
        "{metrics}"
    );
    let doc: Value = app
        .client
        .get(app.url("/api-docs/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let get = &doc["paths"]["/api/v1/services"]["get"]["responses"];
    assert!(get["429"]["headers"]["Retry-After"].is_object());
    assert!(get["200"]["headers"]["X-RateLimit-Remaining"].is_object());
    assert!(doc["paths"]["/healthz"]["get"]["responses"]["429"].is_null());
}

#[tokio::test]
async fn when_the_store_fails_the_policy_decides() {
    for (policy, expected) in [
        (OnStoreError::Allow, StatusCode::OK),
        (OnStoreError::Deny, StatusCode::TOO_MANY_REQUESTS),
    ] {
        let app = TestApp::spawn_with(TestOptions {
            failing_rate_limit_store: true,
            rate_limit_on_store_error: policy,
            ..TestOptions::default()
        })
        .await;
        let response = app.get(&admin("acme"), "/api/v1/services").await;
        assert_eq!(response.status(), expected, "{policy:?}");
        let metrics = app
            .client
            .get(app.url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            metrics.contains("exsvc_rate_limit_store_errors_total 1"),
            "{metrics}"
        );
    }
}

/// A body error never jumps ahead of authentication or the budget, even when the
/// budget lives in Redis (a network round trip): 401 and 429 come first.
#[tokio::test]
async fn authentication_and_the_budget_come_before_body_errors() {
    let app = TestApp::spawn_with(TestOptions {
        rate_limit_per_minute: 1,
        redis_url: Some("redis://127.0.0.1:6379".into()),
        ..TestOptions::default()
    })
    .await;
    let post = |token: Option<String>| {
        let mut request = app
            .client
            .post(app.url("/api/v1/services"))
            .header("content-type", "text/plain")
            .body("{");
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send()
    };
    assert_eq!(post(None).await.unwrap().status(), StatusCode::UNAUTHORIZED);
    let token = admin(&unique_tenant("ordering"));
    let first = post(Some(token.clone())).await.unwrap();
    assert_eq!(first.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(
        number(&first, "x-ratelimit-remaining"),
        0,
        "the failed request spent its budget"
    );
    assert_eq!(
        post(Some(token)).await.unwrap().status(),
        StatusCode::TOO_MANY_REQUESTS
    );
}

/// Behind a trusted load balancer, anonymous clients are told apart by
/// `X-Forwarded-For`; from anyone else the header is ignored.
#[tokio::test]
async fn clients_behind_a_trusted_proxy_have_budgets_of_their_own() {
    let anonymous = |app: &TestApp, client: &'static str| {
        app.client
            .get(app.url("/api/v1/services"))
            .header("x-forwarded-for", client)
            .send()
    };
    let behind = TestApp::spawn_with(TestOptions {
        rate_limit_unauthenticated_per_minute: 1,
        trusted_proxies: vec![exsvc_app::ratelimit::IpNetwork::parse("127.0.0.1").unwrap()],
        ..TestOptions::default()
    })
    .await;
    assert_eq!(
        anonymous(&behind, "203.0.113.1").await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        anonymous(&behind, "203.0.113.1").await.unwrap().status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        anonymous(&behind, "203.0.113.2").await.unwrap().status(),
        StatusCode::UNAUTHORIZED,
        "another client"
    );

    let direct = TestApp::spawn_with(TestOptions {
        rate_limit_unauthenticated_per_minute: 1,
        ..TestOptions::default()
    })
    .await;
    assert_eq!(
        anonymous(&direct, "203.0.113.1").await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        anonymous(&direct, "203.0.113.2").await.unwrap().status(),
        StatusCode::TOO_MANY_REQUESTS,
        "the header is not trusted"
    );
}
