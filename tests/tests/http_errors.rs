//! Malformed requests of every kind answer in the error envelope (docs/api.md §3), with
//! an `X-Request-Id`, and never leak internals.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Test helpers fail the test loudly.

use actix_web::web;
use exsvc_testkit::app::service_body;
use exsvc_testkit::tokens::admin;
use exsvc_testkit::{TestApp, TestOptions};
use reqwest::StatusCode;
use serde_json::Value;

async fn envelope(response: reqwest::Response, status: StatusCode, code: &str) -> Value {
    assert_eq!(response.status(), status);
    assert!(
        response.headers().contains_key("x-request-id"),
        "no X-Request-Id"
    );
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json"),
        "not JSON"
    );
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(body["error"]["message"].is_string());
    assert!(body["error"]["details"].is_object());
    body
}

#[tokio::test]
async fn bad_bodies() {
    let app = TestApp::spawn().await;
    let token = admin("acme");
    let post = |content_type: Option<&'static str>, body: Vec<u8>| {
        let mut request = app
            .client
            .post(app.url("/api/v1/services"))
            .bearer_auth(&token)
            .body(body);
        if let Some(ct) = content_type {
            request = request.header("content-type", ct);
        }
        request.send()
    };
    for malformed in [
        &b"{"[..],
        b"{\"name\": }",
        b"nul",
        b"\xff\xfe",
        b"{\"a\":1}{",
    ] {
        envelope(
            post(Some("application/json"), malformed.to_vec())
                .await
                .unwrap(),
            StatusCode::BAD_REQUEST,
            "INVALID_JSON",
        )
        .await;
    }
    envelope(
        post(Some("application/json"), Vec::new()).await.unwrap(),
        StatusCode::BAD_REQUEST,
        "INVALID_JSON",
    )
    .await;
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    envelope(
        post(Some("application/json"), deep.into_bytes())
            .await
            .unwrap(),
        StatusCode::BAD_REQUEST,
        "INVALID_JSON",
    )
    .await;
    let not_object = envelope(
        post(Some("application/json"), b"[1,2]".to_vec())
            .await
            .unwrap(),
        StatusCode::BAD_REQUEST,
        "VALIDATION_ERROR",
    )
    .await;
    assert!(not_object["error"]["details"]["fields"]["body"].is_string());

    let json = serde_json::to_vec(&service_body("Stripe")).unwrap();
    for content_type in [
        None,
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        Some("application/merge-patch+json"),
    ] {
        envelope(
            post(content_type, json.clone()).await.unwrap(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UNSUPPORTED_MEDIA_TYPE",
        )
        .await;
    }
    // Parameters of the media type are fine.
    assert_eq!(
        post(Some("application/json; charset=utf-8"), json)
            .await
            .unwrap()
            .status(),
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn bodies_over_64_kib_are_413() {
    let app = TestApp::spawn().await;
    let token = admin("acme");
    let mut big = service_body("Big");
    big["description"] = Value::String("x".repeat(70 * 1024));
    let sized = app
        .client
        .post(app.url("/api/v1/services"))
        .bearer_auth(&token)
        .json(&big)
        .send()
        .await
        .unwrap();
    envelope(sized, StatusCode::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE").await;

    // Without a Content-Length (chunked), the limit still holds while reading.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        (0..80).map(|_| Ok(vec![b' '; 1024])).collect();
    let chunked = app
        .client
        .post(app.url("/api/v1/services"))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            chunks,
        )))
        .send()
        .await
        .unwrap();
    envelope(chunked, StatusCode::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE").await;
}

#[tokio::test]
async fn unknown_routes_and_wrong_methods() {
    let app = TestApp::spawn().await;
    let token = admin("acme");
    for path in [
        "/",
        "/api",
        "/api/v2/services",
        "/api/v1/services/a/b",
        "/api/v1/servicesx",
    ] {
        let response = app
            .client
            .get(app.url(path))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        envelope(response, StatusCode::NOT_FOUND, "NOT_FOUND").await;
    }
    let cases = [
        (reqwest::Method::PUT, "/api/v1/services", "GET, HEAD, POST"),
        (
            reqwest::Method::DELETE,
            "/api/v1/services",
            "GET, HEAD, POST",
        ),
        (
            reqwest::Method::POST,
            "/api/v1/services/abc",
            "GET, HEAD, PUT, PATCH, DELETE",
        ),
        (
            reqwest::Method::OPTIONS,
            "/api/v1/services/abc",
            "GET, HEAD, PUT, PATCH, DELETE",
        ),
    ];
    for (method, path, allow) in cases {
        let response = app
            .client
            .request(method.clone(), app.url(path))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.headers()["allow"], allow, "{method} {path}");
        envelope(
            response,
            StatusCode::METHOD_NOT_ALLOWED,
            "METHOD_NOT_ALLOWED",
        )
        .await;
    }
}

/// `?actor=%00` was a 500 (PostgreSQL refuses NUL even in a comparison):
/// every query parameter of every route follows the same input rules.
#[tokio::test]
async fn control_characters_in_any_query_parameter_are_400() {
    let app = TestApp::spawn().await;
    let token = admin("acme");
    let id = app.create_ok(&token, &service_body("Stripe")).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for (path, parameter) in [
        ("/api/v1/audit-events?actor=%00".to_owned(), "actor"),
        ("/api/v1/audit-events?actor=a%0Ab".to_owned(), "actor"),
        ("/api/v1/audit-events?cursor=%00".to_owned(), "cursor"),
        ("/api/v1/services?q=%00".to_owned(), "q"),
        ("/api/v1/services?cursor=%7F".to_owned(), "cursor"),
        ("/api/v1/services?type=%00".to_owned(), "type"),
        (
            format!("/api/v1/services/{id}/credentials?version=%00"),
            "version",
        ),
    ] {
        let response = app.get(&token, &path).await;
        let body = envelope(response, StatusCode::BAD_REQUEST, "VALIDATION_ERROR").await;
        assert!(
            body["error"]["details"]["fields"][parameter].is_string(),
            "{path}: {body}"
        );
    }
}

#[tokio::test]
async fn an_id_that_is_not_a_uuid_is_not_found() {
    let app = TestApp::spawn().await;
    let response = app.get(&admin("acme"), "/api/v1/services/abc123").await;
    let body = envelope(response, StatusCode::NOT_FOUND, "SERVICE_NOT_FOUND").await;
    assert_eq!(
        body["error"]["message"],
        "Service with ID 'abc123' not found"
    );
}

fn panicking_route(config: &mut web::ServiceConfig) {
    async fn boom() -> &'static str {
        panic!("a handler bug")
    }
    config.route("/test/panic", web::get().to(boom));
}

#[tokio::test]
async fn a_panic_is_a_500_envelope_and_the_server_keeps_serving() {
    let app = TestApp::spawn_with(TestOptions {
        extra_routes: panicking_route,
        ..TestOptions::default()
    })
    .await;
    for _ in 0..3 {
        let response = app.client.get(app.url("/test/panic")).send().await.unwrap();
        let body = envelope(
            response,
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL_ERROR",
        )
        .await;
        assert!(
            !body.to_string().contains("handler bug"),
            "the cause stays in the log"
        );
    }
    let after = app.get(&admin("acme"), "/api/v1/services").await;
    assert_eq!(after.status(), StatusCode::OK);
}

#[tokio::test]
async fn request_ids_are_echoed_or_generated() {
    let app = TestApp::spawn().await;
    let echoed = app
        .client
        .get(app.url("/api/v1/services"))
        .header("x-request-id", "trace-abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(echoed.headers()["x-request-id"], "trace-abc-123");
    // A hostile id is replaced, not reflected.
    let replaced = app
        .client
        .get(app.url("/api/v1/services"))
        .header("x-request-id", "<script>")
        .send()
        .await
        .unwrap();
    assert_ne!(replaced.headers()["x-request-id"], "<script>");
    let ok = app.get(&admin("acme"), "/api/v1/services").await;
    let generated = ok.headers()["x-request-id"].to_str().unwrap();
    assert!(uuid::Uuid::parse_str(generated).is_ok());
}

/// A database that cannot be reached is 503 with Retry-After, never a driver
/// message; readiness says so while liveness stays 200.
#[tokio::test]
async fn an_unreachable_database_is_503_without_internals() {
    let app = TestApp::spawn_with(TestOptions {
        database_url: Some("postgres://postgres@127.0.0.1:1/nowhere".into()),
        ..TestOptions::default()
    })
    .await;
    let health = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    envelope(
        ready,
        StatusCode::SERVICE_UNAVAILABLE,
        "SERVICE_UNAVAILABLE",
    )
    .await;
    let token = admin("acme");
    let requests = [
        app.client
            .get(app.url("/api/v1/services"))
            .bearer_auth(&token),
        app.client
            .post(app.url("/api/v1/services"))
            .bearer_auth(&token)
            .json(&service_body("Stripe")),
    ];
    for request in requests {
        let response = request.send().await.unwrap();
        assert!(
            response.headers()["retry-after"]
                .to_str()
                .unwrap()
                .parse::<u32>()
                .unwrap()
                >= 1
        );
        let body = envelope(
            response,
            StatusCode::SERVICE_UNAVAILABLE,
            "SERVICE_UNAVAILABLE",
        )
        .await;
        let text = body.to_string().to_lowercase();
        for leak in [
            "postgres",
            "connection refused",
            "127.0.0.1",
            "sql",
            "error occurred while",
        ] {
            assert!(!text.contains(leak), "{leak} leaked: {body}");
        }
    }
}

#[tokio::test]
async fn sql_looking_input_is_just_data() {
    let app = TestApp::spawn().await;
    let token = admin("acme");
    let name = "Robert'); DROP TABLE services;--";
    let created = app.create_ok(&token, &service_body(name)).await;
    assert_eq!(created["name"], name);
    let listed: Value = app
        .get(&token, "/api/v1/services?q=%27%29%3B")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["services"][0]["name"], name);
}
