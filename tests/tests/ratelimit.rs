//! Per-tenant rate limiting over real HTTP (docs/api.md §5), in-process and on Redis.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Test helpers fail the test loudly.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use exsvc_app::ratelimit::OnStoreError;
use exsvc_testkit::tokens::admin;
use exsvc_testkit::{Reply, TestApp, TestOptions};
use reqwest::Method;

fn header(response: &Reply, name: &str) -> String {
    response.must_header(name).to_owned()
}

fn number(response: &Reply, name: &str) -> u64 {
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
    let api = app.api(admin(&tenant));
    for expected in (0..5u64).rev() {
        let response = api.list_services("").await.expect_status(200);
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
    let refused = api.list_services("").await;
    let retry = number(&refused, "retry-after");
    assert!((1..=12).contains(&retry), "Retry-After {retry}");
    assert_eq!(number(&refused, "x-ratelimit-remaining"), 0);
    refused.expect_error(429, "RATE_LIMIT_EXCEEDED");
    // Another tenant is untouched.
    let other = app
        .api(admin(&unique_tenant("other")))
        .list_services("")
        .await
        .expect_status(200);
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
    let api = app.api(admin(&unique_tenant("probe")));
    let unknown = api.get("/api/v1/nothing-here").await.expect_status(404);
    assert_eq!(number(&unknown, "x-ratelimit-remaining"), 2);
    let wrong_method = api.delete("/api/v1/services").await.expect_status(405);
    assert_eq!(header(&wrong_method, "allow"), "GET, HEAD, POST");
    assert_eq!(number(&wrong_method, "x-ratelimit-remaining"), 1);
    // HEAD is served where GET is.
    let head = api
        .request(Method::HEAD, "/api/v1/services")
        .await
        .expect_status(200);
    assert_eq!(number(&head, "x-ratelimit-remaining"), 0);
    let refused = api.get("/api/v1/nothing-here").await.expect_status(429);
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
    let api = app.api(admin(&unique_tenant("retry")));
    let mut refused = None;
    for _ in 0..61 {
        let response = api.list_services("").await;
        if response.code() == 429 {
            refused = Some(response);
            break;
        }
    }
    let refused = refused.expect("the 61st request is refused");
    let retry = number(&refused, "retry-after");
    assert!((1..=2).contains(&retry), "{retry}");
    tokio::time::sleep(Duration::from_secs(retry)).await;
    // A retry after Retry-After passes.
    api.list_services("").await.expect_status(200);
}

#[tokio::test]
async fn errors_after_authentication_carry_the_headers_too() {
    let app = TestApp::spawn_with(TestOptions {
        rate_limit_per_minute: 50,
        ..TestOptions::default()
    })
    .await;
    let api = app.api(admin(&unique_tenant("errors")));
    let missing = api
        .get_service(&uuid::Uuid::now_v7().to_string())
        .await
        .expect_status(404);
    assert_eq!(number(&missing, "x-ratelimit-remaining"), 49);
    let invalid = api
        .post("/api/v1/services")
        .body("application/json", "{")
        .await
        .expect_status(400);
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
        app.api("not-a-token")
            .list_services("")
            .await
            .expect_status(401);
    }
    app.anonymous().list_services("").await.expect_status(429);
    // Tenants do not pay for the anonymous traffic of their address.
    let api = app.api(admin(&unique_tenant("separate")));
    for _ in 0..3 {
        api.list_services("").await.expect_status(200);
    }
    api.list_services("").await.expect_status(429);
}

#[tokio::test]
async fn health_metrics_and_docs_are_never_limited() {
    let app = TestApp::spawn_with(TestOptions {
        rate_limit_per_minute: 1,
        rate_limit_unauthenticated_per_minute: 1,
        ..TestOptions::default()
    })
    .await;
    let api = app.api(admin(&unique_tenant("spent")));
    api.list_services("").await;
    api.list_services("").await.expect_status(429);
    for _ in 0..20 {
        for path in [
            "/healthz",
            "/readyz",
            "/metrics",
            "/api-docs/openapi.json",
            "/swagger-ui/",
        ] {
            let response = app.anonymous().get(path).await.expect_status(200);
            assert!(response.header("x-ratelimit-limit").is_none(), "{path}");
        }
    }
    let metrics = app.anonymous().get("/metrics").await.text;
    assert!(
        metrics.contains("exsvc_rate_limit_refusals_total{scope=\"tenant\"} 1"),
        "{metrics}"
    );
    let doc = app
        .anonymous()
        .get("/api-docs/openapi.json")
        .await
        .into_json();
    let get = &doc["paths"]["/api/v1/services"]["get"]["responses"];
    assert!(get["429"]["headers"]["Retry-After"].is_object());
    assert!(get["200"]["headers"]["X-RateLimit-Remaining"].is_object());
    assert!(doc["paths"]["/healthz"]["get"]["responses"]["429"].is_null());
}

#[tokio::test]
async fn when_the_store_fails_the_policy_decides() {
    for (policy, expected) in [(OnStoreError::Allow, 200), (OnStoreError::Deny, 429)] {
        let app = TestApp::spawn_with(TestOptions {
            failing_rate_limit_store: true,
            rate_limit_on_store_error: policy,
            ..TestOptions::default()
        })
        .await;
        let response = app.api(admin("acme")).list_services("").await;
        assert_eq!(response.code(), expected, "{policy:?}");
        let metrics = app.anonymous().get("/metrics").await.text;
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
        let api = match token {
            Some(token) => app.api(token),
            None => app.anonymous(),
        };
        api.post("/api/v1/services").body("text/plain", "{")
    };
    post(None).await.expect_status(401);
    let token = admin(&unique_tenant("ordering"));
    let first = post(Some(token.clone())).await.expect_status(415);
    assert_eq!(
        number(&first, "x-ratelimit-remaining"),
        0,
        "the failed request spent its budget"
    );
    post(Some(token)).await.expect_status(429);
}

/// Behind a trusted load balancer, anonymous clients are told apart by
/// `X-Forwarded-For`; from anyone else the header is ignored.
#[tokio::test]
async fn clients_behind_a_trusted_proxy_have_budgets_of_their_own() {
    let anonymous = |app: &TestApp, client: &'static str| {
        let status = app
            .anonymous()
            .list_services("")
            .header("x-forwarded-for", client)
            .send();
        async move { status.await.code() }
    };
    let behind = TestApp::spawn_with(TestOptions {
        rate_limit_unauthenticated_per_minute: 1,
        trusted_proxies: vec![exsvc_app::ratelimit::IpNetwork::parse("127.0.0.1").unwrap()],
        ..TestOptions::default()
    })
    .await;
    assert_eq!(anonymous(&behind, "203.0.113.1").await, 401);
    assert_eq!(anonymous(&behind, "203.0.113.1").await, 429);
    assert_eq!(
        anonymous(&behind, "203.0.113.2").await,
        401,
        "another client"
    );

    let direct = TestApp::spawn_with(TestOptions {
        rate_limit_unauthenticated_per_minute: 1,
        ..TestOptions::default()
    })
    .await;
    assert_eq!(anonymous(&direct, "203.0.113.1").await, 401);
    assert_eq!(
        anonymous(&direct, "203.0.113.2").await,
        429,
        "the header is not trusted"
    );
}
