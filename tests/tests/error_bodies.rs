//! Every error code the API answers, as a client sees it: the status, the
//! headers that matter and the envelope (docs/api.md §3), compared with the
//! committed files in `tests/snapshots/error_bodies/`, one per case. Ids and
//! request ids are replaced by placeholders, so the files are the same on
//! PostgreSQL and on SQLite. `UPDATE_SNAPSHOTS=1` rewrites them (and removes
//! files of cases that are gone); review the diff.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Test helpers fail the test loudly.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use actix_web::web;
use exsvc_testkit::app::service_body;
use exsvc_testkit::snapshot;
use exsvc_testkit::tokens::{admin, with_permissions};
use exsvc_testkit::{Reply, TestApp, TestOptions};
use reqwest::Method;
use serde_json::{json, Value};

const RERUN: &str = "cargo nextest run -p exsvc-e2e --test error_bodies";

/// The headers a snapshot shows (the rate-limit headers change with every request).
const SHOWN_HEADERS: [&str; 5] = [
    "allow",
    "cache-control",
    "content-type",
    "retry-after",
    "www-authenticate",
];

fn snapshot_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("snapshots/error_bodies")
}

/// Replaces every UUID in `text` with `[uuid]`.
fn redact(text: &str) -> String {
    let uuid = regex::Regex::new(
        "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}",
    )
    .unwrap();
    uuid.replace_all(text, "[uuid]").into_owned()
}

fn redact_value(value: &Value) -> Value {
    match value {
        Value::String(s) => Value::String(redact(s)),
        Value::Array(items) => Value::Array(items.iter().map(redact_value).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (redact(k), redact_value(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// The snapshot text of one answer to `request` (a description such as
/// `GET /api/v1/services?limit=0`), written as HTTP shows it: the request, the
/// status line, the headers that matter, a blank line, the body.
fn render(request: &str, reply: &Reply) -> String {
    let mut text = format!("{}\n{}\n", redact(request), reply.status);
    for name in SHOWN_HEADERS {
        if let Some(value) = reply.header(name) {
            let value = match (name, reply.code()) {
                // The seconds left in the window: any whole number from 1 up.
                ("retry-after", 429) => {
                    let seconds: u64 = value.parse().expect("Retry-After in seconds");
                    assert!(seconds >= 1, "Retry-After {seconds}");
                    "[seconds]"
                }
                _ => value,
            };
            text += &format!("{name}: {value}\n");
        }
    }
    // Checked by expect_error already; shown so a snapshot says it is there.
    text += "x-request-id: [request-id]\n\n";
    text += &serde_json::to_string_pretty(&redact_value(reply.json())).unwrap();
    text + "\n"
}

/// Collects the cases and compares them all, then reports every difference.
struct Snapshots {
    seen: BTreeSet<String>,
    failures: Vec<String>,
}

impl Snapshots {
    fn new() -> Self {
        Self {
            seen: BTreeSet::new(),
            failures: Vec::new(),
        }
    }

    /// `reply` must be the error `status`/`code`; its snapshot is `name`.
    #[track_caller]
    fn check(&mut self, name: &str, request: &str, reply: Reply, status: u16, code: &str) {
        assert!(self.seen.insert(name.to_owned()), "two cases named {name}");
        reply.clone().expect_error(status, code);
        let text = render(request, &reply);
        let path = snapshot_dir().join(format!("{name}.txt"));
        if let Err(difference) = snapshot::check(&path, &text) {
            self.failures.push(difference);
        }
    }

    /// Fails with every difference, and with files no case wrote.
    fn finish(self) {
        let mut failures = self.failures;
        let dir = snapshot_dir();
        for entry in std::fs::read_dir(&dir).into_iter().flatten() {
            let path = entry.unwrap().path();
            let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
            if !self.seen.contains(&stem) {
                if snapshot::updating() {
                    std::fs::remove_file(&path).unwrap();
                } else {
                    failures.push(format!("{} belongs to no case", path.display()));
                }
            }
        }
        assert!(
            failures.is_empty(),
            "{}\nIf the changes are intended, rewrite the snapshots and review their diff:\n  \
             UPDATE_SNAPSHOTS=1 {RERUN}",
            failures.join("\n\n")
        );
    }
}

fn panicking_route(config: &mut web::ServiceConfig) {
    async fn boom() -> &'static str {
        panic!("a handler bug")
    }
    config.route("/test/panic", web::get().to(boom));
}

#[tokio::test]
async fn every_error_code_answers_as_its_snapshot() {
    let mut snapshots = Snapshots::new();
    let app = TestApp::spawn_with(TestOptions {
        extra_routes: panicking_route,
        ..TestOptions::default()
    })
    .await;
    let api = app.api(admin("acme"));
    let stripe = api.new_service(&service_body("Stripe")).await;

    // VALIDATION_ERROR: a body with several problems, a credential, a
    // parameter, a body that is not an object, a header.
    snapshots.check(
        "validation_error_create",
        r#"POST /api/v1/services {"name": "", "type": "X", "id": "x", "extra": 1}"#,
        api.create_service(&json!({"name": "", "type": "X", "id": "x", "extra": 1}))
            .await,
        400,
        "VALIDATION_ERROR",
    );
    snapshots.check(
        "validation_error_credentials",
        "PUT /api/v1/services/{id}/credentials with an unknown key and a bad expires_at",
        api.put_credentials(
            &stripe,
            &json!({"auth_type": "api_key", "credentials": {"key": "k", "sk_live_CANARY": "x"}, "expires_at": "tomorrow"}),
        )
        .await,
        400,
        "VALIDATION_ERROR",
    );
    snapshots.check(
        "validation_error_query",
        "GET /api/v1/services?limit=0&status=on",
        api.list_services("limit=0&status=on").await,
        400,
        "VALIDATION_ERROR",
    );
    snapshots.check(
        "validation_error_not_an_object",
        "POST /api/v1/services [1,2]",
        api.post("/api/v1/services")
            .body("application/json", "[1,2]")
            .await,
        400,
        "VALIDATION_ERROR",
    );
    snapshots.check(
        "validation_error_idempotency_key",
        "POST /api/v1/services, Idempotency-Key: has space",
        api.create_service(&service_body("Keyed"))
            .idempotency_key("has space")
            .await,
        400,
        "VALIDATION_ERROR",
    );
    snapshots.check(
        "invalid_json",
        "POST /api/v1/services {",
        api.post("/api/v1/services")
            .body("application/json", "{")
            .await,
        400,
        "INVALID_JSON",
    );
    snapshots.check(
        "invalid_cursor",
        "GET /api/v1/services?cursor=garbage",
        api.list_services("cursor=garbage").await,
        400,
        "INVALID_CURSOR",
    );
    snapshots.check(
        "bad_request_query_parameters",
        "GET /api/v1/services with 101 query parameters",
        api.list_services(&vec!["a=1"; 101].join("&")).await,
        400,
        "BAD_REQUEST",
    );
    snapshots.check(
        "bad_request_uri_too_long",
        "GET /api/v1/services?q=<9 KiB>",
        api.list_services(&format!("q={}", "a".repeat(9 * 1024)))
            .await,
        414,
        "BAD_REQUEST",
    );
    snapshots.check(
        "bad_request_header_too_large",
        "GET /api/v1/services, X-Big: <40 KiB>",
        api.list_services("")
            .header("x-big", "a".repeat(40 * 1024))
            .await,
        431,
        "BAD_REQUEST",
    );

    // UNAUTHORIZED, in its three WWW-Authenticate forms.
    snapshots.check(
        "unauthorized_missing_token",
        "GET /api/v1/services without Authorization",
        app.anonymous().list_services("").await,
        401,
        "UNAUTHORIZED",
    );
    snapshots.check(
        "unauthorized_invalid_token",
        "GET /api/v1/services, Authorization: Bearer garbage",
        app.api("garbage").list_services("").await,
        401,
        "UNAUTHORIZED",
    );
    snapshots.check(
        "unauthorized_two_authorization_headers",
        "GET /api/v1/services with two Authorization headers",
        api.list_services("")
            .header("authorization", "Bearer garbage")
            .await,
        401,
        "UNAUTHORIZED",
    );
    snapshots.check(
        "forbidden",
        "POST /api/v1/services as a reader",
        app.api(with_permissions("acme", &["external-service:read"]))
            .create_service(&service_body("X"))
            .await,
        403,
        "FORBIDDEN",
    );

    snapshots.check(
        "service_not_found",
        "GET /api/v1/services/{uuid}",
        api.get_service(&uuid::Uuid::now_v7().to_string()).await,
        404,
        "SERVICE_NOT_FOUND",
    );
    snapshots.check(
        "service_not_found_not_a_uuid",
        "GET /api/v1/services/abc123",
        api.get_service("abc123").await,
        404,
        "SERVICE_NOT_FOUND",
    );
    snapshots.check(
        "credentials_not_found",
        "GET /api/v1/services/{id}/credentials",
        api.reveal(&stripe).await,
        404,
        "CREDENTIALS_NOT_FOUND",
    );
    snapshots.check(
        "not_found_route",
        "GET /api/v2/services",
        api.get("/api/v2/services").await,
        404,
        "NOT_FOUND",
    );
    snapshots.check(
        "method_not_allowed",
        "DELETE /api/v1/services",
        api.request(Method::DELETE, "/api/v1/services").await,
        405,
        "METHOD_NOT_ALLOWED",
    );
    snapshots.check(
        "service_already_exists",
        "POST /api/v1/services (a taken name, in other case)",
        api.create_service(&service_body("STRIPE")).await,
        409,
        "SERVICE_ALREADY_EXISTS",
    );
    snapshots.check(
        "precondition_failed",
        "PATCH /api/v1/services/{id}, If-Match: \"9\"",
        api.patch_service(&stripe, &json!({"description": "x"}))
            .if_match("\"9\"")
            .await,
        412,
        "PRECONDITION_FAILED",
    );
    let mut big = service_body("Big");
    big["description"] = Value::String("x".repeat(70 * 1024));
    snapshots.check(
        "payload_too_large",
        "POST /api/v1/services of 70 KiB",
        api.create_service(&big).await,
        413,
        "PAYLOAD_TOO_LARGE",
    );
    snapshots.check(
        "unsupported_media_type",
        "POST /api/v1/services as text/plain",
        api.post("/api/v1/services")
            .body("text/plain", service_body("Text").to_string())
            .await,
        415,
        "UNSUPPORTED_MEDIA_TYPE",
    );
    api.create_service(&service_body("Keyed"))
        .idempotency_key("once")
        .await
        .expect_status(201);
    snapshots.check(
        "idempotency_key_reused",
        "POST /api/v1/services, Idempotency-Key: once (another body)",
        api.create_service(&service_body("Other"))
            .idempotency_key("once")
            .await,
        422,
        "IDEMPOTENCY_KEY_REUSED",
    );
    snapshots.check(
        "internal_error",
        "GET /test/panic (a handler that panics)",
        app.anonymous().get("/test/panic").await,
        500,
        "INTERNAL_ERROR",
    );

    let limited = TestApp::spawn_with(TestOptions {
        rate_limit_per_minute: 1,
        ..TestOptions::default()
    })
    .await;
    let spender = limited.api(admin("acme"));
    spender.list_services("").await.expect_status(200);
    snapshots.check(
        "rate_limit_exceeded",
        "GET /api/v1/services over a budget of 1 a minute",
        spender.list_services("").await,
        429,
        "RATE_LIMIT_EXCEEDED",
    );

    let down = TestApp::spawn_with(TestOptions {
        database_url: Some("postgres://postgres@127.0.0.1:1/nowhere".into()),
        ..TestOptions::default()
    })
    .await;
    snapshots.check(
        "service_unavailable",
        "GET /api/v1/services with the database down",
        down.api(admin("acme")).list_services("").await,
        503,
        "SERVICE_UNAVAILABLE",
    );

    snapshots.finish();
}
