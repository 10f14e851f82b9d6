//! Malformed requests of every kind answer in the error envelope (docs/api.md §3), with
//! an `X-Request-Id`, and never leak internals.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Test helpers fail the test loudly.

use actix_web::web;
use exsvc_testkit::app::service_body;
use exsvc_testkit::tokens::admin;
use exsvc_testkit::{TestApp, TestOptions};
use reqwest::Method;
use serde_json::Value;

#[tokio::test]
async fn bad_bodies() {
    let app = TestApp::spawn().await;
    let api = app.api(admin("acme"));
    let post = |content_type: Option<&'static str>, body: Vec<u8>| {
        let call = api.post("/api/v1/services");
        match content_type {
            Some(ct) => call.body(ct, body),
            None => call.raw(|b| b.body(body)),
        }
    };
    for malformed in [
        &b"{"[..],
        b"{\"name\": }",
        b"nul",
        b"\xff\xfe",
        b"{\"a\":1}{",
    ] {
        post(Some("application/json"), malformed.to_vec())
            .await
            .expect_error(400, "INVALID_JSON");
    }
    post(Some("application/json"), Vec::new())
        .await
        .expect_error(400, "INVALID_JSON");
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    post(Some("application/json"), deep.into_bytes())
        .await
        .expect_error(400, "INVALID_JSON");
    post(Some("application/json"), b"[1,2]".to_vec())
        .await
        .expect_invalid_field("body");

    let json = serde_json::to_vec(&service_body("Stripe")).unwrap();
    for content_type in [
        None,
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        Some("application/merge-patch+json"),
    ] {
        post(content_type, json.clone())
            .await
            .expect_error(415, "UNSUPPORTED_MEDIA_TYPE");
    }
    // Parameters of the media type are fine.
    post(Some("application/json; charset=utf-8"), json)
        .await
        .expect_status(201);
}

#[tokio::test]
async fn bodies_over_64_kib_are_413() {
    let app = TestApp::spawn().await;
    let api = app.api(admin("acme"));
    let mut big = service_body("Big");
    big["description"] = Value::String("x".repeat(70 * 1024));
    api.create_service(&big)
        .await
        .expect_error(413, "PAYLOAD_TOO_LARGE");

    // Without a Content-Length (chunked), the limit still holds while reading.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        (0..80).map(|_| Ok(vec![b' '; 1024])).collect();
    api.post("/api/v1/services")
        .body(
            "application/json",
            reqwest::Body::wrap_stream(futures_util::stream::iter(chunks)),
        )
        .await
        .expect_error(413, "PAYLOAD_TOO_LARGE");
}

#[tokio::test]
async fn unknown_routes_and_wrong_methods() {
    let app = TestApp::spawn().await;
    let api = app.api(admin("acme"));
    // `/` leads to the Swagger UI (openapi.rs); POST to it is no route.
    api.post("/").await.expect_error(404, "NOT_FOUND");
    for path in [
        "/index.html",
        "/api",
        "/api/v2/services",
        "/api/v1/services/a/b",
        "/api/v1/servicesx",
    ] {
        api.get(path).await.expect_error(404, "NOT_FOUND");
    }
    let cases = [
        (Method::PUT, "/api/v1/services", "GET, HEAD, POST"),
        (Method::DELETE, "/api/v1/services", "GET, HEAD, POST"),
        (
            Method::POST,
            "/api/v1/services/abc",
            "GET, HEAD, PUT, PATCH, DELETE",
        ),
        (
            Method::OPTIONS,
            "/api/v1/services/abc",
            "GET, HEAD, PUT, PATCH, DELETE",
        ),
    ];
    for (method, path, allow) in cases {
        let response = api.request(method.clone(), path).await;
        assert_eq!(response.header("allow"), Some(allow), "{method} {path}");
        response.expect_error(405, "METHOD_NOT_ALLOWED");
    }
}

/// `?actor=%00` was a 500 (PostgreSQL refuses NUL even in a comparison):
/// every query parameter of every route follows the same input rules.
#[tokio::test]
async fn control_characters_in_any_query_parameter_are_400() {
    let app = TestApp::spawn().await;
    let api = app.api(admin("acme"));
    let id = api.new_service(&service_body("Stripe")).await;
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
        api.get(&path).await.expect_invalid_field(parameter);
    }
}

#[tokio::test]
async fn an_id_that_is_not_a_uuid_is_not_found() {
    let app = TestApp::spawn().await;
    let error = app
        .api(admin("acme"))
        .get_service("abc123")
        .await
        .expect_error(404, "SERVICE_NOT_FOUND");
    assert_eq!(error["message"], "Service with ID 'abc123' not found");
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
        let response = app.anonymous().get("/test/panic").await;
        assert!(
            !response.text.contains("handler bug"),
            "the cause stays in the log"
        );
        response.expect_error(500, "INTERNAL_ERROR");
    }
    app.api(admin("acme"))
        .list_services("")
        .await
        .expect_status(200);
}

#[tokio::test]
async fn request_ids_are_echoed_or_generated() {
    let app = TestApp::spawn().await;
    let anonymous = app.anonymous();
    let echoed = anonymous
        .list_services("")
        .header("x-request-id", "trace-abc-123")
        .await;
    assert_eq!(echoed.must_header("x-request-id"), "trace-abc-123");
    // A hostile id is replaced, not reflected.
    let replaced = anonymous
        .list_services("")
        .header("x-request-id", "<script>")
        .await;
    assert_ne!(replaced.must_header("x-request-id"), "<script>");
    let ok = app.api(admin("acme")).list_services("").await;
    let generated = ok.must_header("x-request-id");
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
    app.anonymous().get("/healthz").await.expect_status(200);
    app.anonymous()
        .get("/readyz")
        .await
        .expect_error(503, "SERVICE_UNAVAILABLE");
    let api = app.api(admin("acme"));
    let requests = [
        api.list_services(""),
        api.create_service(&service_body("Stripe")),
    ];
    for request in requests {
        let response = request.await;
        assert!(response.must_header("retry-after").parse::<u32>().unwrap() >= 1);
        let body = response.expect_error(503, "SERVICE_UNAVAILABLE");
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
    let api = app.api(admin("acme"));
    let name = "Robert'); DROP TABLE services;--";
    let created = api
        .create_service(&service_body(name))
        .await
        .expect_status(201);
    assert_eq!(created.json()["name"], name);
    let listed = api.list_services("q=%27%29%3B").await.into_json();
    assert_eq!(listed["services"][0]["name"], name);
}
