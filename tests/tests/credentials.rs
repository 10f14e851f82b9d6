//! The credential vault end to end: real HTTP, a fresh database, the real
//! envelope cipher.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Test helpers fail the test loudly.

use std::process::Command;

use base64::Engine;
use exsvc_testkit::app::{service_body, Backend};
use exsvc_testkit::tokens::{admin, with_permissions};
use exsvc_testkit::{ApiClient, Call, TestApp, TestOptions};
use serde_json::{json, Value};

const CANARY: &str = "CANARY-7b1e9f-secret-value";

/// A PUT with an `Idempotency-Key`, whose record must not keep the secret either.
fn put_keyed(api: &ApiClient<'_>, id: &str, credential: &Value) -> Call {
    api.put_credentials(id, credential)
        .idempotency_key(&format!("canary-{id}"))
}

#[tokio::test]
async fn a_credential_lives_through_versions_and_dies_with_delete() {
    let app = TestApp::spawn_with(TestOptions {
        max_credential_versions: 3,
        ..TestOptions::default()
    })
    .await;
    let api = app.api(admin("acme"));
    // Created together with its service.
    let mut request = service_body("Stripe");
    request["auth_type"] = json!("bearer");
    request["credentials"] = json!({"token": "tok-1"});
    let service = api.create_service(&request).await.expect_status(201);
    let id = service.id();
    assert_eq!(service.json()["auth_type"], "bearer");
    assert!(
        !service.text.contains("tok-1"),
        "the secret is not in the service"
    );

    let first = api.reveal(&id).await.expect_status(200);
    assert_eq!(first.header("cache-control"), Some("no-store"));
    let first = first.json();
    assert_eq!(first["credentials"], json!({"token": "tok-1"}));
    assert_eq!(first["version"], 1);
    assert_eq!(first["service_name"], "Stripe");
    assert_eq!(first["base_url"], "https://api.example.com/v1");
    assert!(first["retrieved_at"].is_string());

    // New versions: 200 with metadata only; the current one and 3 earlier
    // ones are kept (EXSVC_CREDENTIAL_MAX_VERSIONS counts the earlier ones).
    for n in 2..=5 {
        let meta = api
            .put_credentials(&id, &json!({"auth_type": "api_key", "credentials": {"key": format!("key-{n}")}, "expires_at": "2030-01-01T00:00:00Z"}))
            .await
            .expect_status(200);
        let meta = meta.json();
        assert_eq!(meta["version"], n);
        assert_eq!(meta["auth_type"], "api_key");
        assert!(
            meta.get("credentials").is_none() && !meta.to_string().contains("key-"),
            "metadata only"
        );
    }
    let current = api.reveal(&id).await.into_json();
    assert_eq!(
        current["credentials"],
        json!({"key": "key-5", "header_name": "X-API-Key"})
    );
    assert_eq!(current["expires_at"], "2030-01-01T00:00:00.000000Z");
    let old = api.reveal_version(&id, 2).await.into_json();
    assert_eq!(old["credentials"]["key"], "key-2");
    // Version 1 was pruned.
    api.reveal_version(&id, 1)
        .await
        .expect_error(404, "CREDENTIALS_NOT_FOUND");
    api.reveal_version(&id, "zero").await.expect_status(400);

    let versions = api.versions(&id).await.expect_status(200);
    let listed: Vec<(i64, bool)> = versions.json()["versions"]
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
    assert!(!versions.text.contains("key-"));

    // The service shows the current credential; the expiry filter finds it.
    let shown = api.get_service(&id).await.into_json();
    assert_eq!(shown["auth_type"], "api_key");
    assert_eq!(
        shown["credential_expires_at"],
        "2030-01-01T00:00:00.000000Z"
    );
    let expiring = api
        .list_services("credential_expires_before=2031-01-01T00:00:00Z")
        .await
        .into_json();
    assert_eq!(expiring["services"].as_array().unwrap().len(), 1);
    let not_yet = api
        .list_services("credential_expires_before=2029-01-01T00:00:00Z")
        .await
        .into_json();
    assert!(not_yet["services"].as_array().unwrap().is_empty());

    api.delete_credentials(&id).await.expect_status(204);
    api.reveal(&id)
        .await
        .expect_error(404, "CREDENTIALS_NOT_FOUND");
    // The versions went with the credential.
    let versions = api.versions(&id).await.expect_status(200);
    assert_eq!(versions.json(), &json!({"versions": []}));
    assert_eq!(api.get_service(&id).await.json()["auth_type"], Value::Null);
    // Deleting again is safe: nothing is left, so the outcome already holds.
    api.delete_credentials(&id).await.expect_status(204);
    // After destruction the next credential is a first one again.
    api.put_credentials(
        &id,
        &json!({"auth_type": "bearer", "credentials": {"token": "t"}}),
    )
    .await
    .expect_status(201);
}

#[tokio::test]
async fn typed_validation() {
    let app = TestApp::spawn().await;
    let api = app.api(admin("acme"));
    let id = api.new_service(&service_body("Stripe")).await;
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
            // A misplaced key is not named: its name could be a secret.
            json!({"auth_type": "bearer", "credentials": {"token": "t"}, "CANARY-key": "red"}),
            "body",
        ),
    ];
    for (request, field) in cases {
        let error = api
            .put_credentials(&id, &request)
            .await
            .expect_invalid_field(field);
        assert!(!error.to_string().contains("CANARY"), "echoed: {error}");
    }
    // Nothing was stored.
    api.reveal(&id).await.expect_status(404);
    // The service's own body refuses auth_type outside a create.
    api.patch_service(&id, &json!({"auth_type": "bearer"}))
        .await
        .expect_status(400);
}

#[tokio::test]
async fn permissions_tenancy_and_the_audit_trail() {
    let app = TestApp::spawn().await;
    let api = app.api(admin("acme"));
    let id = api.new_service(&service_body("Stripe")).await;
    api.put_credentials(
        &id,
        &json!({"auth_type": "bearer", "credentials": {"token": CANARY}}),
    )
    .await
    .expect_status(201);

    // Another tenant: 404, never the secret.
    let globex = app.api(admin("globex"));
    globex
        .reveal(&id)
        .await
        .expect_error(404, "SERVICE_NOT_FOUND");
    globex
        .put_credentials(
            &id,
            &json!({"auth_type": "bearer", "credentials": {"token": "x"}}),
        )
        .await
        .expect_status(404);

    // Reading needs external-service:credentials; a refusal is recorded as denied.
    let reader = app.api(with_permissions(
        "acme",
        &["external-service:read", "external-service:update"],
    ));
    let refused = reader.reveal(&id).await.expect_error(403, "FORBIDDEN");
    assert_eq!(
        refused["details"]["required"],
        "external-service:credentials"
    );
    app.api(with_permissions("acme", &["external-service:credentials"]))
        .reveal(&id)
        .await
        .expect_status(200);

    // The audit trail needs external-service:audit.
    reader.audit("").await.expect_status(403);
    let auditor = app.api(with_permissions("acme", &["external-service:audit"]));
    let events = auditor.audit("").await.expect_status(200);
    let seen: Vec<(String, String)> = events.json()["events"]
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
    let event = &events.json()["events"][0];
    assert_eq!(event["service_id"], id.as_str());
    assert_eq!(event["credential_version"], 1);
    assert_eq!(event["actor"], "tester");
    assert_eq!(event["tenant_id"], "acme");
    assert!(event["request_id"].is_string());
    assert!(!events.text.contains(CANARY));
    // Filters and pages.
    let reads = auditor
        .audit("action=credentials.read&limit=1")
        .await
        .into_json();
    assert_eq!(reads["events"].as_array().unwrap().len(), 1);
    let cursor = reads["next_cursor"].as_str().unwrap().to_owned();
    let next = auditor
        .audit(&format!("action=credentials.read&limit=1&cursor={cursor}"))
        .await
        .into_json();
    assert_eq!(next["events"][0]["outcome"], "denied");
    assert_eq!(next["next_cursor"], Value::Null);
    auditor
        .audit(&format!("action=service.create&limit=1&cursor={cursor}"))
        .await
        .expect_status(400);
    for bad in [
        "action=service.read",
        "service_id=x",
        "since=yesterday",
        "limit=0",
        "colour=red",
    ] {
        auditor.audit(bad).await.expect_status(400);
    }
    let by_actor = auditor.audit("actor=nobody").await.into_json();
    assert_eq!(by_actor["events"], json!([]));
    // Another tenant's trail is empty.
    let theirs = app
        .api(with_permissions("globex", &["external-service:audit"]))
        .audit("")
        .await
        .into_json();
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
    let api = app.api(admin("acme"));
    let mut request = service_body("Stripe");
    request["auth_type"] = json!("basic");
    request["credentials"] = json!({"username": "svc", "password": CANARY});
    // Under an Idempotency-Key, so the dump covers what a keyed create keeps.
    let created = api
        .create_service(&request)
        .idempotency_key("canary-create")
        .await;
    assert!(!created.text.contains(CANARY));
    let id = created.id();
    let replies = [
        put_keyed(
            &api,
            &id,
            &json!({"auth_type": "custom", "credentials": {"nested": {"value": CANARY}}}),
        )
        .await,
        api.get_service(&id).await,
        api.list_services("").await,
        api.versions(&id).await,
        api.audit("").await,
    ];
    for reply in &replies {
        assert!(!reply.text.contains(CANARY), "leaked: {}", reply.text);
    }
    assert!(api.reveal_version(&id, 1).await.text.contains(CANARY));
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
    let api = app.api(admin("acme"));
    let id = api.new_service(&service_body("Stripe")).await;
    put_keyed(
        &api,
        &id,
        &json!({"auth_type": "bearer", "credentials": {"token": CANARY}}),
    )
    .await;
    assert!(api.reveal(&id).await.text.contains(CANARY));
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
    let api = app.api(admin("acme"));
    let victim = api.new_service(&service_body("Victim")).await;
    let thief = api.new_service(&service_body("Thief")).await;
    api.put_credentials(
        &victim,
        &json!({"auth_type": "bearer", "credentials": {"token": CANARY}}),
    )
    .await;
    api.put_credentials(
        &thief,
        &json!({"auth_type": "bearer", "credentials": {"token": "mine"}}),
    )
    .await;
    copy_ciphertext(&app, &victim, &thief);
    let response = api.reveal(&thief).await.expect_status(500);
    let text = &response.text;
    assert!(
        text.contains("INTERNAL_ERROR") && !text.contains(CANARY) && !text.contains("mine"),
        "{text}"
    );
    // The server is fine, and the victim's own credential still opens.
    let own = api.reveal(&victim).await.into_json();
    assert_eq!(own["credentials"]["token"], CANARY);
}

/// docs/api.md §3: after the permission, a path id that is no id is 404,
/// before the body is looked at, as on every route.
#[tokio::test]
async fn a_malformed_id_is_404_before_the_body() {
    let app = TestApp::spawn().await;
    app.api(admin("acme"))
        .put_credentials("nope", &json!([1]))
        .await
        .expect_error(404, "SERVICE_NOT_FOUND");
}
