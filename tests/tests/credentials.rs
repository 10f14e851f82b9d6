//! The credential vault end to end: real HTTP, a fresh database, the real
//! envelope cipher.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Test helpers fail the test loudly.

use std::process::Command;

use base64::Engine;
use exsvc_testkit::app::{service_body, Backend};
use exsvc_testkit::tokens::{admin, with_permissions};
use exsvc_testkit::{TestApp, TestOptions};
use reqwest::StatusCode;
use serde_json::{json, Value};

const CANARY: &str = "CANARY-7b1e9f-secret-value";

async fn body(response: reqwest::Response) -> Value {
    response.json().await.expect("json body")
}

async fn put(app: &TestApp, token: &str, id: &str, credential: &Value) -> reqwest::Response {
    app.client
        .put(app.url(&format!("/api/v1/services/{id}/credentials")))
        .bearer_auth(token)
        .json(credential)
        .send()
        .await
        .unwrap()
}

/// A PUT with an `Idempotency-Key`, whose record must not keep the secret either.
async fn put_keyed(app: &TestApp, token: &str, id: &str, credential: &Value) -> reqwest::Response {
    app.client
        .put(app.url(&format!("/api/v1/services/{id}/credentials")))
        .bearer_auth(token)
        .header("Idempotency-Key", format!("canary-{id}"))
        .json(credential)
        .send()
        .await
        .unwrap()
}

async fn reveal(app: &TestApp, token: &str, id: &str, query: &str) -> reqwest::Response {
    app.get(token, &format!("/api/v1/services/{id}/credentials{query}"))
        .await
}

#[tokio::test]
async fn a_credential_lives_through_versions_and_dies_with_delete() {
    let app = TestApp::spawn_with(TestOptions {
        max_credential_versions: 3,
        ..TestOptions::default()
    })
    .await;
    let token = admin("acme");
    // Created together with its service.
    let mut request = service_body("Stripe");
    request["auth_type"] = json!("bearer");
    request["credentials"] = json!({"token": "tok-1"});
    let service = app.create_ok(&token, &request).await;
    let id = service["id"].as_str().unwrap().to_owned();
    assert_eq!(service["auth_type"], "bearer");
    assert!(
        !service.to_string().contains("tok-1"),
        "the secret is not in the service"
    );

    let first = reveal(&app, &token, &id, "").await;
    assert_eq!(first.status(), StatusCode::OK);
    assert_eq!(first.headers()["cache-control"], "no-store");
    let first = body(first).await;
    assert_eq!(first["credentials"], json!({"token": "tok-1"}));
    assert_eq!(first["version"], 1);
    assert_eq!(first["service_name"], "Stripe");
    assert_eq!(first["base_url"], "https://api.example.com/v1");
    assert!(first["retrieved_at"].is_string());

    // New versions: 200 with metadata only; the current one and 3 earlier
    // ones are kept (EXSVC_CREDENTIAL_MAX_VERSIONS counts the earlier ones).
    for n in 2..=5 {
        let response = put(&app, &token, &id, &json!({"auth_type": "api_key", "credentials": {"key": format!("key-{n}")}, "expires_at": "2030-01-01T00:00:00Z"})).await;
        assert_eq!(response.status(), StatusCode::OK);
        let meta = body(response).await;
        assert_eq!(meta["version"], n);
        assert_eq!(meta["auth_type"], "api_key");
        assert!(
            meta.get("credentials").is_none() && !meta.to_string().contains("key-"),
            "metadata only"
        );
    }
    let current = body(reveal(&app, &token, &id, "").await).await;
    assert_eq!(
        current["credentials"],
        json!({"key": "key-5", "header_name": "X-API-Key"})
    );
    assert_eq!(current["expires_at"], "2030-01-01T00:00:00.000000Z");
    let old = body(reveal(&app, &token, &id, "?version=2").await).await;
    assert_eq!(old["credentials"]["key"], "key-2");
    let pruned = reveal(&app, &token, &id, "?version=1").await;
    assert_eq!(pruned.status(), StatusCode::NOT_FOUND);
    assert_eq!(body(pruned).await["error"]["code"], "CREDENTIALS_NOT_FOUND");
    let bad = reveal(&app, &token, &id, "?version=zero").await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);

    let versions = body(
        app.get(
            &token,
            &format!("/api/v1/services/{id}/credentials/versions"),
        )
        .await,
    )
    .await;
    let listed: Vec<(i64, bool)> = versions["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["version"].as_i64().unwrap(),
                v["current"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(listed, [(5, true), (4, false), (3, false), (2, false)]);
    assert!(!versions.to_string().contains("key-"));

    // The service shows the current credential; the expiry filter finds it.
    let shown = body(app.get(&token, &format!("/api/v1/services/{id}")).await).await;
    assert_eq!(shown["auth_type"], "api_key");
    assert_eq!(
        shown["credential_expires_at"],
        "2030-01-01T00:00:00.000000Z"
    );
    let expiring = body(
        app.get(
            &token,
            "/api/v1/services?credential_expires_before=2031-01-01T00:00:00Z",
        )
        .await,
    )
    .await;
    assert_eq!(expiring["services"].as_array().unwrap().len(), 1);
    let not_yet = body(
        app.get(
            &token,
            "/api/v1/services?credential_expires_before=2029-01-01T00:00:00Z",
        )
        .await,
    )
    .await;
    assert!(not_yet["services"].as_array().unwrap().is_empty());

    let deleted = app
        .client
        .delete(app.url(&format!("/api/v1/services/{id}/credentials")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    let gone = reveal(&app, &token, &id, "").await;
    assert_eq!(body(gone).await["error"]["code"], "CREDENTIALS_NOT_FOUND");
    // The versions went with the credential.
    let versions = app
        .get(
            &token,
            &format!("/api/v1/services/{id}/credentials/versions"),
        )
        .await;
    assert_eq!(versions.status(), StatusCode::OK);
    assert_eq!(body(versions).await, json!({"versions": []}));
    assert_eq!(
        body(app.get(&token, &format!("/api/v1/services/{id}")).await).await["auth_type"],
        Value::Null
    );
    // Deleting again is safe: nothing is left, so the outcome already holds.
    let repeated = app
        .client
        .delete(app.url(&format!("/api/v1/services/{id}/credentials")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(repeated.status(), StatusCode::NO_CONTENT);
    // After destruction the next credential is a first one again.
    let again = put(
        &app,
        &token,
        &id,
        &json!({"auth_type": "bearer", "credentials": {"token": "t"}}),
    )
    .await;
    assert_eq!(again.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn typed_validation() {
    let app = TestApp::spawn().await;
    let token = admin("acme");
    let id = app.create_ok(&token, &service_body("Stripe")).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let cases = [
        (
            json!({"auth_type": "magic", "credentials": {}}),
            "auth_type",
        ),
        (
            json!({"auth_type": "api_key", "credentials": {}}),
            "credentials.key",
        ),
        (
            json!({"auth_type": "api_key", "credentials": {"key": ""}}),
            "credentials.key",
        ),
        // An unknown key is never named: it may be a secret in the wrong place.
        (
            json!({"auth_type": "api_key", "credentials": {"key": "k", "sk_live_CANARY": "x"}}),
            "credentials",
        ),
        (
            json!({"auth_type": "api_key", "credentials": {"key": "k", "header_name": "X-API-Key\r\nEvil: 1"}}),
            "credentials.header_name",
        ),
        (
            json!({"auth_type": "api_key", "credentials": {"key": "k", "header_name": "X\u{0}Y"}}),
            "credentials.header_name",
        ),
        (
            json!({"auth_type": "api_key", "credentials": {"key": "k", "header_name": ""}}),
            "credentials.header_name",
        ),
        (
            json!({"auth_type": "api_key", "credentials": {"key": "k", "header_name": "X API Key"}}),
            "credentials.header_name",
        ),
        (
            json!({"auth_type": "api_key", "credentials": {"key": "k", "header_name": "x".repeat(10_000)}}),
            "credentials.header_name",
        ),
        (
            json!({"auth_type": "api_key", "credentials": {"key": "k", "header_name": "Host"}}),
            "credentials.header_name",
        ),
        (
            json!({"auth_type": "api_key", "credentials": {"key": "k", "query_param": "a&b=c"}}),
            "credentials.query_param",
        ),
        (
            json!({"auth_type": "basic", "credentials": {"username": "u"}}),
            "credentials.password",
        ),
        (
            json!({"auth_type": "bearer", "credentials": {"token": 42}}),
            "credentials.token",
        ),
        (
            json!({"auth_type": "oauth2_client_credentials", "credentials": {"client_id": "c", "client_secret": "s", "token_url": "http://auth.example/token"}}),
            "credentials.token_url",
        ),
        (
            json!({"auth_type": "custom", "credentials": "not an object"}),
            "credentials",
        ),
        (
            json!({"auth_type": "bearer", "credentials": {"token": "t"}, "expires_at": "tomorrow"}),
            "expires_at",
        ),
        (
            json!({"auth_type": "bearer", "credentials": {"token": "t"}, "colour": "red"}),
            "colour",
        ),
    ];
    for (request, field) in cases {
        let response = put(&app, &token, &id, &request).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{request}");
        let error = body(response).await;
        assert!(
            error["error"]["details"]["fields"][field].is_string(),
            "{field} not named: {error}"
        );
        assert!(!error.to_string().contains("CANARY"), "echoed: {error}");
    }
    assert_eq!(
        reveal(&app, &token, &id, "").await.status(),
        StatusCode::NOT_FOUND,
        "nothing was stored"
    );
    // The service's own body refuses auth_type outside a create.
    let patch = app
        .client
        .patch(app.url(&format!("/api/v1/services/{id}")))
        .bearer_auth(&token)
        .json(&json!({"auth_type": "bearer"}))
        .send()
        .await
        .unwrap();
    assert_eq!(patch.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn permissions_tenancy_and_the_audit_trail() {
    let app = TestApp::spawn().await;
    let token = admin("acme");
    let id = app.create_ok(&token, &service_body("Stripe")).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        put(
            &app,
            &token,
            &id,
            &json!({"auth_type": "bearer", "credentials": {"token": CANARY}})
        )
        .await
        .status(),
        StatusCode::CREATED
    );

    // Another tenant: 404, never the secret.
    let other = reveal(&app, &admin("globex"), &id, "").await;
    assert_eq!(other.status(), StatusCode::NOT_FOUND);
    assert_eq!(body(other).await["error"]["code"], "SERVICE_NOT_FOUND");
    assert_eq!(
        put(
            &app,
            &admin("globex"),
            &id,
            &json!({"auth_type": "bearer", "credentials": {"token": "x"}})
        )
        .await
        .status(),
        StatusCode::NOT_FOUND
    );

    // Reading needs external-service:credentials; a refusal is recorded as denied.
    let reader = with_permissions(
        "acme",
        &["external-service:read", "external-service:update"],
    );
    let refused = reveal(&app, &reader, &id, "").await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        body(refused).await["error"]["details"]["required"],
        "external-service:credentials"
    );
    let allowed = reveal(
        &app,
        &with_permissions("acme", &["external-service:credentials"]),
        &id,
        "",
    )
    .await;
    assert_eq!(allowed.status(), StatusCode::OK);

    // The audit trail needs external-service:audit.
    assert_eq!(
        app.get(&reader, "/api/v1/audit-events").await.status(),
        StatusCode::FORBIDDEN
    );
    let auditor = with_permissions("acme", &["external-service:audit"]);
    let events = body(app.get(&auditor, "/api/v1/audit-events").await).await;
    let seen: Vec<(String, String)> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap().to_owned(),
                e["outcome"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("credentials.read".to_owned(), "success".to_owned()),
            ("credentials.read".to_owned(), "denied".to_owned()),
            ("credentials.write".to_owned(), "success".to_owned()),
            ("service.create".to_owned(), "success".to_owned()),
        ]
    );
    let event = &events["events"][0];
    assert_eq!(event["service_id"], id.as_str());
    assert_eq!(event["credential_version"], 1);
    assert_eq!(event["actor"], "tester");
    assert_eq!(event["tenant_id"], "acme");
    assert!(event["request_id"].is_string());
    assert!(!events.to_string().contains(CANARY));
    // Filters and pages.
    let reads = body(
        app.get(
            &auditor,
            "/api/v1/audit-events?action=credentials.read&limit=1",
        )
        .await,
    )
    .await;
    assert_eq!(reads["events"].as_array().unwrap().len(), 1);
    let cursor = reads["next_cursor"].as_str().unwrap().to_owned();
    let next = body(
        app.get(
            &auditor,
            &format!("/api/v1/audit-events?action=credentials.read&limit=1&cursor={cursor}"),
        )
        .await,
    )
    .await;
    assert_eq!(next["events"][0]["outcome"], "denied");
    assert_eq!(next["next_cursor"], Value::Null);
    let stale = app
        .get(
            &auditor,
            &format!("/api/v1/audit-events?action=service.create&limit=1&cursor={cursor}"),
        )
        .await;
    assert_eq!(stale.status(), StatusCode::BAD_REQUEST);
    for bad in [
        "action=service.read",
        "service_id=x",
        "since=yesterday",
        "limit=0",
        "colour=red",
    ] {
        assert_eq!(
            app.get(&auditor, &format!("/api/v1/audit-events?{bad}"))
                .await
                .status(),
            StatusCode::BAD_REQUEST,
            "{bad}"
        );
    }
    let by_actor = body(app.get(&auditor, "/api/v1/audit-events?actor=nobody").await).await;
    assert_eq!(by_actor["events"], json!([]));
    // Another tenant's trail is empty.
    let theirs = body(
        app.get(
            &with_permissions("globex", &["external-service:audit"]),
            "/api/v1/audit-events",
        )
        .await,
    )
    .await;
    assert_eq!(theirs["events"], json!([]));
}

fn postgres_url(app: &TestApp) -> Option<String> {
    match &app.backend {
        Backend::Postgres(db) => Some(db.url.clone()),
        Backend::Sqlite(_) => None,
    }
}

fn psql(url: &str, sql: &str) {
    let status = Command::new("psql")
        .args(["-q", "-v", "ON_ERROR_STOP=1", url, "-c", sql])
        .status()
        .expect("psql");
    assert!(status.success(), "{sql}");
}

/// The canary is in no response but a credential read, and in no form in a dump
/// of the database.
#[tokio::test]
async fn the_secret_is_nowhere_but_in_a_credential_read() {
    let app = TestApp::spawn().await;
    let Some(url) = postgres_url(&app) else {
        return check_sqlite_file(&app).await;
    };
    let token = admin("acme");
    let mut request = service_body("Stripe");
    request["auth_type"] = json!("basic");
    request["credentials"] = json!({"username": "svc", "password": CANARY});
    // Under an Idempotency-Key, so the dump covers what a keyed create keeps.
    let created = app
        .client
        .post(app.url("/api/v1/services"))
        .bearer_auth(&token)
        .header("Idempotency-Key", "canary-create")
        .json(&request)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!created.contains(CANARY));
    let id = serde_json::from_str::<Value>(&created).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let texts = [
        put_keyed(
            &app,
            &token,
            &id,
            &json!({"auth_type": "custom", "credentials": {"nested": {"value": CANARY}}}),
        )
        .await
        .text()
        .await
        .unwrap(),
        app.get(&token, &format!("/api/v1/services/{id}"))
            .await
            .text()
            .await
            .unwrap(),
        app.get(&token, "/api/v1/services")
            .await
            .text()
            .await
            .unwrap(),
        app.get(
            &token,
            &format!("/api/v1/services/{id}/credentials/versions"),
        )
        .await
        .text()
        .await
        .unwrap(),
        app.get(&token, "/api/v1/audit-events")
            .await
            .text()
            .await
            .unwrap(),
    ];
    for text in &texts {
        assert!(!text.contains(CANARY), "leaked: {text}");
    }
    assert!(reveal(&app, &token, &id, "?version=1")
        .await
        .text()
        .await
        .unwrap()
        .contains(CANARY));

    let dump = Command::new("pg_dump")
        .args(["--data-only", &url])
        .output()
        .expect("pg_dump");
    assert!(
        dump.status.success(),
        "{}",
        String::from_utf8_lossy(&dump.stderr)
    );
    let dump = String::from_utf8_lossy(&dump.stdout).to_lowercase();
    assert!(
        dump.contains("credentials") && dump.contains("idempotency_keys"),
        "the dump has the credentials and idempotency tables"
    );
    let hex: String = CANARY.bytes().map(|b| format!("{b:02x}")).collect();
    for form in [
        CANARY.to_lowercase(),
        hex,
        base64::engine::general_purpose::STANDARD
            .encode(CANARY)
            .to_lowercase(),
        base64::engine::general_purpose::STANDARD
            .encode(format!("\"{CANARY}\""))
            .to_lowercase(),
    ] {
        assert!(!dump.contains(&form), "the canary is in the dump as {form}");
    }
}

async fn check_sqlite_file(app: &TestApp) {
    let Backend::Sqlite(db) = &app.backend else {
        return;
    };
    let token = admin("acme");
    let id = app.create_ok(&token, &service_body("Stripe")).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    put_keyed(
        app,
        &token,
        &id,
        &json!({"auth_type": "bearer", "credentials": {"token": CANARY}}),
    )
    .await;
    assert!(reveal(app, &token, &id, "")
        .await
        .text()
        .await
        .unwrap()
        .contains(CANARY));
    let bytes = std::fs::read(&db.path).unwrap();
    let wal = std::fs::read(db.path.with_extension("db-wal")).unwrap_or_default();
    for file in [bytes, wal] {
        assert!(
            !file.windows(CANARY.len()).any(|w| w == CANARY.as_bytes()),
            "the canary is in the SQLite files"
        );
    }
}

/// Copies the stored ciphertext of `from`'s credential onto `to`'s, in SQL.
fn copy_ciphertext(app: &TestApp, from: &str, to: &str) {
    let sql = format!(
        "UPDATE credentials SET ciphertext = (SELECT ciphertext FROM credentials WHERE service_id = '{from}') WHERE service_id = '{to}'"
    );
    match &app.backend {
        Backend::Postgres(db) => psql(&db.url, &sql),
        Backend::Sqlite(db) => {
            use diesel::connection::SimpleConnection;
            use diesel::Connection;
            let mut conn = diesel::SqliteConnection::establish(db.path.to_str().unwrap()).unwrap();
            conn.batch_execute(&format!("PRAGMA busy_timeout = 5000; {sql};"))
                .unwrap();
        }
    }
}

/// A ciphertext copied onto another service's row does not open there: 500 in
/// the envelope, no plaintext, and the server keeps serving. On both stores.
#[tokio::test]
async fn a_ciphertext_moved_to_another_row_does_not_decrypt() {
    let app = TestApp::spawn().await;
    let token = admin("acme");
    let victim = app.create_ok(&token, &service_body("Victim")).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let thief = app.create_ok(&token, &service_body("Thief")).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    put(
        &app,
        &token,
        &victim,
        &json!({"auth_type": "bearer", "credentials": {"token": CANARY}}),
    )
    .await;
    put(
        &app,
        &token,
        &thief,
        &json!({"auth_type": "bearer", "credentials": {"token": "mine"}}),
    )
    .await;
    copy_ciphertext(&app, &victim, &thief);
    let response = reveal(&app, &token, &thief, "").await;
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let text = response.text().await.unwrap();
    assert!(
        text.contains("INTERNAL_ERROR") && !text.contains(CANARY) && !text.contains("mine"),
        "{text}"
    );
    // The server is fine, and the victim's own credential still opens.
    let own = body(reveal(&app, &token, &victim, "").await).await;
    assert_eq!(own["credentials"]["token"], CANARY);
}
