//! The service registry end to end: real HTTP against the app on a fresh
//! PostgreSQL database.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Test helpers fail the test loudly.

use std::collections::HashSet;

use exsvc_testkit::app::service_body;
use exsvc_testkit::tokens::{admin, with_permissions};
use exsvc_testkit::{TestApp, TestOptions};
use reqwest::StatusCode;
use serde_json::{json, Value};

async fn body(response: reqwest::Response) -> Value {
    response.json().await.expect("json body")
}

fn etag(response: &reqwest::Response) -> String {
    response.headers()["etag"].to_str().unwrap().to_owned()
}

#[tokio::test]
async fn crud_round_trip() {
    let app = TestApp::spawn().await;
    let token = admin("acme");

    let created = app
        .create(
            &token,
            &json!({
                "name": "  Stripe  ", "description": "Cards", "type": "payment", "status": "active",
                "base_url": "https://api.stripe.com/v1", "api_version": "2024-06-20",
                "metadata": {"team": "billing", "tier": 1}
            }),
        )
        .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    assert_eq!(etag(&created), "\"1\"");
    let location = created.headers()["location"].to_str().unwrap().to_owned();
    let service = body(created).await;
    let id = service["id"].as_str().unwrap().to_owned();
    assert_eq!(location, format!("/api/v1/services/{id}"));
    assert_eq!(uuid::Uuid::parse_str(&id).unwrap().get_version_num(), 7);
    assert_eq!(service["name"], "Stripe", "the name is trimmed");
    assert_eq!(service["tenant_id"], "acme");
    assert_eq!(service["version"], 1);
    assert_eq!(service["metadata"], json!({"team": "billing", "tier": 1}));
    assert_eq!(service["auth_type"], Value::Null);
    assert_eq!(service["credential_expires_at"], Value::Null);
    // RFC 3339 UTC with microseconds: 2026-11-28T00:31:23.372905Z
    let created_at = service["created_at"].as_str().unwrap();
    assert_eq!(created_at.len(), 27, "{created_at}");
    assert!(
        created_at.ends_with('Z') && created_at.as_bytes()[19] == b'.',
        "{created_at}"
    );
    assert_eq!(service["created_at"], service["updated_at"]);

    let got = app.get(&token, &format!("/api/v1/services/{id}")).await;
    assert_eq!(got.status(), StatusCode::OK);
    assert_eq!(etag(&got), "\"1\"");
    assert_eq!(body(got).await, service);

    let listed = body(app.get(&token, "/api/v1/services").await).await;
    assert_eq!(listed["services"], json!([service]));
    assert_eq!(listed["next_cursor"], Value::Null);

    // PUT replaces every writable field: omitted optional ones take their defaults.
    let replaced = app
        .client
        .put(app.url(&format!("/api/v1/services/{id}")))
        .bearer_auth(&token)
        .json(&json!({"name": "Stripe EU", "type": "payment", "base_url": "https://api.stripe.eu"}))
        .send()
        .await
        .unwrap();
    assert_eq!(replaced.status(), StatusCode::OK);
    assert_eq!(etag(&replaced), "\"2\"");
    let replaced = body(replaced).await;
    assert_eq!(replaced["version"], 2);
    assert_eq!(replaced["description"], "");
    assert_eq!(replaced["api_version"], Value::Null);
    assert_eq!(replaced["metadata"], json!({}));
    assert_eq!(replaced["created_at"], service["created_at"]);

    // PATCH is a JSON Merge Patch.
    let patched = app
        .client
        .patch(app.url(&format!("/api/v1/services/{id}")))
        .bearer_auth(&token)
        .header("content-type", "application/merge-patch+json")
        .body(r#"{"status": "inactive", "metadata": {"a": {"b": 1}, "c": 2}}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(patched.status(), StatusCode::OK);
    let patched = body(patched).await;
    assert_eq!(patched["status"], "inactive");
    assert_eq!(patched["name"], "Stripe EU");
    assert_eq!(patched["version"], 3);
    let patched = app
        .client
        .patch(app.url(&format!("/api/v1/services/{id}")))
        .bearer_auth(&token)
        .json(&json!({"metadata": {"a": {"b": null, "x": true}, "c": null}, "description": "d"}))
        .send()
        .await
        .unwrap();
    let patched = body(patched).await;
    assert_eq!(patched["metadata"], json!({"a": {"x": true}}));
    assert_eq!(patched["description"], "d");
    assert_eq!(patched["version"], 4);

    let deleted = app
        .client
        .delete(app.url(&format!("/api/v1/services/{id}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    let gone = app.get(&token, &format!("/api/v1/services/{id}")).await;
    assert_eq!(gone.status(), StatusCode::NOT_FOUND);
    let gone = body(gone).await;
    assert_eq!(gone["error"]["code"], "SERVICE_NOT_FOUND");
    assert_eq!(
        gone["error"]["message"],
        format!("Service with ID '{id}' not found")
    );
    let again = app
        .client
        .delete(app.url(&format!("/api/v1/services/{id}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::NOT_FOUND);
}

/// Every rule of docs/api.md §1.1; a refused body stores nothing.
#[tokio::test]
async fn every_validation_rule_is_enforced() {
    let app = TestApp::spawn().await;
    let token = admin("acme");
    let with = |field: &str, value: Value| {
        let mut b = service_body("Valid");
        b[field] = value;
        b
    };
    let without = |field: &str| {
        let mut b = service_body("Valid");
        b.as_object_mut().unwrap().remove(field);
        b
    };
    let cases: Vec<(Value, &str)> = vec![
        (without("name"), "name"),
        (with("name", json!("")), "name"),
        (with("name", json!("   ")), "name"),
        (with("name", json!("n".repeat(101))), "name"),
        (with("name", json!(42)), "name"),
        (with("description", json!("d".repeat(1001))), "description"),
        (with("description", json!(["d"])), "description"),
        (without("type"), "type"),
        (with("type", json!("")), "type"),
        (with("type", json!("Payment")), "type"),
        (with("type", json!("pay ment")), "type"),
        (with("type", json!("t".repeat(51))), "type"),
        (with("status", json!("enabled")), "status"),
        (without("base_url"), "base_url"),
        (
            with("base_url", json!("http://api.example.com")),
            "base_url",
        ),
        (with("base_url", json!("ftp://api.example.com")), "base_url"),
        (with("base_url", json!("/relative/path")), "base_url"),
        (
            with("base_url", json!("https://user:pass@api.example.com")),
            "base_url",
        ),
        (
            with("base_url", json!("https://api.example.com/#fragment")),
            "base_url",
        ),
        (
            with(
                "base_url",
                json!(format!("https://a.com/{}", "p".repeat(2040))),
            ),
            "base_url",
        ),
        (with("api_version", json!("v".repeat(33))), "api_version"),
        (with("metadata", json!([1, 2])), "metadata"),
        (with("metadata", json!("text")), "metadata"),
        (
            with("metadata", json!({"blob": "x".repeat(16 * 1024)})),
            "metadata",
        ),
        (
            with("id", json!("0190b6d2-7d7e-7c4a-9a8e-4a4d2f0c1b2a")),
            "id",
        ),
        (with("tenant_id", json!("other")), "tenant_id"),
        (with("version", json!(7)), "version"),
        (
            with("created_at", json!("2020-01-01T00:00:00Z")),
            "created_at",
        ),
        (
            with("updated_at", json!("2020-01-01T00:00:00Z")),
            "updated_at",
        ),
        // A credential given with a create needs both parts.
        (with("auth_type", json!("bearer")), "credentials"),
        (
            with("credential_expires_at", json!(null)),
            "credential_expires_at",
        ),
        (with("colour", json!("red")), "colour"),
    ];
    for (request, field) in cases {
        let response = app.create(&token, &request).await;
        assert_eq!(
            response.status(),
            StatusCode::BAD_REQUEST,
            "{field}: {request}"
        );
        let error = body(response).await;
        assert_eq!(error["error"]["code"], "VALIDATION_ERROR", "{field}");
        assert!(
            error["error"]["details"]["fields"][field].is_string(),
            "{field} not named in {error}"
        );
    }
    // Several problems are reported together.
    let error = body(
        app.create(
            &token,
            &json!({"name": "", "type": "X", "id": "x", "extra": 1}),
        )
        .await,
    )
    .await;
    let fields = error["error"]["details"]["fields"].as_object().unwrap();
    for field in ["name", "type", "base_url", "id", "extra"] {
        assert!(fields.contains_key(field), "{field} missing from {error}");
    }
    let listed = body(app.get(&token, "/api/v1/services").await).await;
    assert_eq!(listed["services"], json!([]), "nothing was stored");

    // The same rules hold on PUT and PATCH, and a refused change changes nothing.
    let created = app.create_ok(&token, &service_body("Keep")).await;
    let url = app.url(&format!(
        "/api/v1/services/{}",
        created["id"].as_str().unwrap()
    ));
    let put = app
        .client
        .put(&url)
        .bearer_auth(&token)
        .json(&json!({"name": "Keep", "type": "payment"}))
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), StatusCode::BAD_REQUEST);
    assert!(body(put).await["error"]["details"]["fields"]["base_url"].is_string());
    for patch in [
        json!({"version": 9}),
        json!({"name": null}),
        json!({"type": "BAD"}),
        json!({"nope": 1}),
        json!([1]),
    ] {
        let response = app
            .client
            .patch(&url)
            .bearer_auth(&token)
            .json(&patch)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{patch}");
        assert_eq!(body(response).await["error"]["code"], "VALIDATION_ERROR");
    }
    let unchanged = body(
        app.client
            .get(&url)
            .bearer_auth(&token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(unchanged, created);
}

#[tokio::test]
async fn http_base_urls_only_when_allowed() {
    let app = TestApp::spawn_with(TestOptions {
        allow_http_base_url: true,
        ..TestOptions::default()
    })
    .await;
    let mut request = service_body("Local");
    request["base_url"] = json!("http://localhost:9000");
    let created = app.create_ok(&admin("acme"), &request).await;
    assert_eq!(created["base_url"], "http://localhost:9000");
}

#[tokio::test]
async fn names_are_unique_per_tenant_ignoring_case() {
    let app = TestApp::spawn().await;
    let acme = admin("acme");
    app.create_ok(&acme, &service_body("Stripe")).await;
    for clash in ["Stripe", "STRIPE", " stripe "] {
        let response = app.create(&acme, &service_body(clash)).await;
        assert_eq!(response.status(), StatusCode::CONFLICT, "{clash}");
        assert_eq!(
            body(response).await["error"]["code"],
            "SERVICE_ALREADY_EXISTS"
        );
    }
    // Another tenant may use the name.
    app.create_ok(&admin("globex"), &service_body("stripe"))
        .await;
    // Renaming onto a taken name is refused too.
    let other = app.create_ok(&acme, &service_body("Adyen")).await;
    let url = app.url(&format!(
        "/api/v1/services/{}",
        other["id"].as_str().unwrap()
    ));
    let response = app
        .client
        .patch(&url)
        .bearer_auth(&acme)
        .json(&json!({"name": "stripe"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CONFLICT);
}

#[tokio::test]
async fn tenants_never_see_each_other() {
    let app = TestApp::spawn().await;
    let acme = admin("acme");
    let globex = admin("globex");
    let service = app.create_ok(&acme, &service_body("Stripe")).await;
    let url = app.url(&format!(
        "/api/v1/services/{}",
        service["id"].as_str().unwrap()
    ));

    let attempts = [
        app.client.get(&url).bearer_auth(&globex),
        app.client
            .put(&url)
            .bearer_auth(&globex)
            .json(&service_body("Hijack")),
        app.client
            .patch(&url)
            .bearer_auth(&globex)
            .json(&json!({"name": "Hijack"})),
        app.client.delete(&url).bearer_auth(&globex),
    ];
    for attempt in attempts {
        let response = attempt.send().await.unwrap();
        assert_eq!(
            response.status(),
            StatusCode::NOT_FOUND,
            "never 403: existence does not leak"
        );
        assert_eq!(body(response).await["error"]["code"], "SERVICE_NOT_FOUND");
    }
    let listed = body(app.get(&globex, "/api/v1/services").await).await;
    assert_eq!(listed["services"], json!([]));
    let still = body(
        app.client
            .get(&url)
            .bearer_auth(&acme)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(still, service, "untouched by the other tenant");
}

#[tokio::test]
async fn paging_through_250_services_has_no_gap_and_no_duplicate() {
    let app = TestApp::spawn().await;
    let token = admin("acme");
    for i in 0..250 {
        app.create_ok(&token, &service_body(&format!("service-{i:03}")))
            .await;
    }
    app.create_ok(&admin("globex"), &service_body("not-mine"))
        .await;

    let first = body(app.get(&token, "/api/v1/services").await).await;
    assert_eq!(
        first["services"].as_array().unwrap().len(),
        20,
        "default limit"
    );

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &cursor {
            None => "/api/v1/services?limit=100".to_owned(),
            Some(c) => format!("/api/v1/services?limit=100&cursor={c}"),
        };
        let page = body(app.get(&token, &path).await).await;
        pages += 1;
        for s in page["services"].as_array().unwrap() {
            seen.push((
                s["created_at"].as_str().unwrap().to_owned(),
                s["id"].as_str().unwrap().to_owned(),
                s["name"].as_str().unwrap().to_owned(),
            ));
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen.len(), 250);
    let unique: HashSet<_> = seen.iter().map(|s| s.1.clone()).collect();
    assert_eq!(unique.len(), 250, "no duplicate");
    assert!(seen.iter().all(|s| s.2 != "not-mine"));
    // Newest first, then id: timestamps share a format, so strings compare in order.
    let mut sorted = seen.clone();
    sorted.sort_by(|a, b| (&b.0, &b.1).cmp(&(&a.0, &a.1)));
    assert_eq!(seen, sorted);
    assert_eq!(seen[0].2, "service-249");
    assert_eq!(seen[249].2, "service-000");
}

#[tokio::test]
async fn bad_listing_parameters_are_400() {
    let app = TestApp::spawn().await;
    let token = admin("acme");
    for query in [
        "limit=0",
        "limit=101",
        "limit=ten",
        "limit=-5",
        "limit=",
        "type=Bad%20Type",
        "status=on",
        "unknown=1",
        "limit=5&limit=6",
    ] {
        let response = app.get(&token, &format!("/api/v1/services?{query}")).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{query}");
        assert_eq!(
            body(response).await["error"]["code"],
            "VALIDATION_ERROR",
            "{query}"
        );
    }
    for cursor in ["garbage", "AAAA", "%C3%BF", "eyJpZCI6MX0"] {
        let response = app
            .get(&token, &format!("/api/v1/services?cursor={cursor}"))
            .await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{cursor}");
        assert_eq!(
            body(response).await["error"]["code"],
            "INVALID_CURSOR",
            "{cursor}"
        );
    }
}

#[tokio::test]
async fn tampered_and_stale_cursors_are_400() {
    let app = TestApp::spawn().await;
    let token = admin("acme");
    for name in ["one", "two", "three"] {
        app.create_ok(&token, &service_body(name)).await;
    }
    let page = body(app.get(&token, "/api/v1/services?limit=1").await).await;
    let cursor = page["next_cursor"].as_str().unwrap().to_owned();
    let next = app
        .get(&token, &format!("/api/v1/services?limit=1&cursor={cursor}"))
        .await;
    assert_eq!(next.status(), StatusCode::OK, "the real cursor works");

    // One character changed anywhere is refused.
    for at in [2, cursor.len() / 2, cursor.len() - 3] {
        let mut forged: Vec<char> = cursor.chars().collect();
        forged[at] = if forged[at] == 'A' { 'B' } else { 'A' };
        let forged: String = forged.into_iter().collect();
        let response = app
            .get(&token, &format!("/api/v1/services?limit=1&cursor={forged}"))
            .await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{forged}");
        assert_eq!(body(response).await["error"]["code"], "INVALID_CURSOR");
    }
    // A cursor continues only the listing it came from (same filters).
    let stale = app
        .get(
            &token,
            &format!("/api/v1/services?limit=1&q=o&cursor={cursor}"),
        )
        .await;
    assert_eq!(stale.status(), StatusCode::BAD_REQUEST);
    assert_eq!(body(stale).await["error"]["code"], "INVALID_CURSOR");
}

/// Characters PostgreSQL cannot store are refused up front as 400, never a 500.
#[tokio::test]
async fn nul_and_control_characters_are_400_not_500() {
    let app = TestApp::spawn().await;
    let token = admin("acme");
    let with = |field: &str, value: Value| {
        let mut b = service_body("Valid");
        b[field] = value;
        b
    };
    for (request, field) in [
        (with("name", json!("a\u{0}b")), "name"),
        (with("description", json!("a\u{0}b")), "description"),
        (with("api_version", json!("v\u{0}")), "api_version"),
        (with("metadata", json!({"k\u{0}": 1})), "metadata"),
        (with("metadata", json!({"k": ["\u{0}"]})), "metadata"),
        (
            with("base_url", json!("https://a.example/\u{0}")),
            "base_url",
        ),
    ] {
        let response = app.create(&token, &request).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{field}");
        assert!(
            body(response).await["error"]["details"]["fields"][field].is_string(),
            "{field}"
        );
    }
    let multiline = app
        .create(
            &token,
            &with("description", json!("line one\nline two\ttab")),
        )
        .await;
    assert_eq!(
        multiline.status(),
        StatusCode::CREATED,
        "line breaks and tabs are text"
    );
    let response = app.get(&token, "/api/v1/services?q=%00").await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(body(response).await["error"]["details"]["fields"]["q"].is_string());
}

#[tokio::test]
async fn listing_filters() {
    let app = TestApp::spawn().await;
    let token = admin("acme");
    app.create_ok(
        &token,
        &json!({"name": "Mailgun", "type": "mail", "base_url": "https://api.mailgun.net"}),
    )
    .await;
    app.create_ok(&token, &json!({"name": "Stripe", "type": "payment", "status": "inactive", "base_url": "https://api.stripe.com"})).await;
    app.create_ok(
        &token,
        &json!({"name": "OpenAI", "type": "llm", "base_url": "https://api.openai.com"}),
    )
    .await;
    let names = |query: &'static str| {
        let app = &app;
        let token = &token;
        async move {
            let page = body(app.get(token, &format!("/api/v1/services?{query}")).await).await;
            page["services"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s["name"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(names("type=mail").await, ["Mailgun"]);
    assert_eq!(names("status=inactive").await, ["Stripe"]);
    assert_eq!(names("status=active").await, ["OpenAI", "Mailgun"]);
    assert_eq!(names("q=AI").await, ["OpenAI", "Mailgun"]);
    assert_eq!(names("q=gun&type=mail&status=active").await, ["Mailgun"]);
    assert!(names("q=%25").await.is_empty(), "% is matched literally");
}

#[tokio::test]
async fn if_match_guards_every_change() {
    let app = TestApp::spawn().await;
    let token = admin("acme");
    let service = app.create_ok(&token, &service_body("Stripe")).await;
    let url = app.url(&format!(
        "/api/v1/services/{}",
        service["id"].as_str().unwrap()
    ));

    let put = |tag: &str| {
        app.client
            .put(&url)
            .bearer_auth(&token)
            .header("if-match", tag)
            .json(&service_body("Stripe v2"))
            .send()
    };
    let first = put("\"1\"").await.unwrap();
    assert_eq!(first.status(), StatusCode::OK);
    assert_eq!(etag(&first), "\"2\"");
    let stale = put("\"1\"").await.unwrap();
    assert_eq!(stale.status(), StatusCode::PRECONDITION_FAILED);
    assert_eq!(body(stale).await["error"]["code"], "PRECONDITION_FAILED");

    let patch = app
        .client
        .patch(&url)
        .bearer_auth(&token)
        .header("if-match", "\"1\"")
        .json(&json!({"description": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(patch.status(), StatusCode::PRECONDITION_FAILED);
    let delete = app
        .client
        .delete(&url)
        .bearer_auth(&token)
        .header("if-match", "\"1\"")
        .send()
        .await
        .unwrap();
    assert_eq!(delete.status(), StatusCode::PRECONDITION_FAILED);
    let weak = app
        .client
        .patch(&url)
        .bearer_auth(&token)
        .header("if-match", "W/\"2\"")
        .json(&json!({"description": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        weak.status(),
        StatusCode::PRECONDITION_FAILED,
        "weak tags never match"
    );

    let current = body(
        app.client
            .get(&url)
            .bearer_auth(&token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(current["version"], 2);
    assert_eq!(current["name"], "Stripe v2");
    assert_eq!(current["description"], "", "nothing changed");

    let any = app
        .client
        .patch(&url)
        .bearer_auth(&token)
        .header("if-match", "*")
        .json(&json!({"description": "y"}))
        .send()
        .await
        .unwrap();
    assert_eq!(any.status(), StatusCode::OK);
    let list = app
        .client
        .patch(&url)
        .bearer_auth(&token)
        .header("if-match", "\"1\", \"3\"")
        .json(&json!({"description": "z"}))
        .send()
        .await
        .unwrap();
    assert_eq!(list.status(), StatusCode::OK);
    let delete = app
        .client
        .delete(&url)
        .bearer_auth(&token)
        .header("if-match", "\"4\"")
        .send()
        .await
        .unwrap();
    assert_eq!(delete.status(), StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn base_path_prefixes_every_route() {
    let app = TestApp::spawn_with(TestOptions {
        base_path: "/exsvc".into(),
        ..TestOptions::default()
    })
    .await;
    let token = admin("acme");
    let created = app.create(&token, &service_body("Stripe")).await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let location = created.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        location.starts_with("/exsvc/api/v1/services/"),
        "{location}"
    );
    let root = app.address.trim_end_matches("/exsvc").to_owned();
    let unprefixed = app
        .client
        .get(format!("{root}/api/v1/services"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(unprefixed.status(), StatusCode::NOT_FOUND);
    assert_eq!(body(unprefixed).await["error"]["code"], "NOT_FOUND");
    let docs = app
        .client
        .get(app.url("/api-docs/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(docs.status(), StatusCode::OK);
    assert_eq!(body(docs).await["servers"][0]["url"], "/exsvc");
}

#[tokio::test]
async fn permissions_are_checked_per_action() {
    let app = TestApp::spawn().await;
    let service = app.create_ok(&admin("acme"), &service_body("Stripe")).await;
    let url = app.url(&format!(
        "/api/v1/services/{}",
        service["id"].as_str().unwrap()
    ));
    let reader = with_permissions("acme", &["external-service:read"]);
    assert_eq!(
        app.client
            .get(&url)
            .bearer_auth(&reader)
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    let refusals = [
        (
            app.client
                .post(app.url("/api/v1/services"))
                .bearer_auth(&reader)
                .json(&service_body("X")),
            "external-service:create",
        ),
        (
            app.client
                .put(&url)
                .bearer_auth(&reader)
                .json(&service_body("X")),
            "external-service:update",
        ),
        (
            app.client.patch(&url).bearer_auth(&reader).json(&json!({})),
            "external-service:update",
        ),
        (
            app.client.delete(&url).bearer_auth(&reader),
            "external-service:delete",
        ),
        (
            app.client
                .get(&url)
                .bearer_auth(with_permissions("acme", &["external-service:create"])),
            "external-service:read",
        ),
        (
            app.client
                .get(app.url("/api/v1/services"))
                .bearer_auth(with_permissions("acme", &[])),
            "external-service:read",
        ),
    ];
    for (request, required) in refusals {
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{required}");
        assert_eq!(
            response.headers()["www-authenticate"],
            "Bearer error=\"insufficient_scope\""
        );
        let error = body(response).await;
        assert_eq!(error["error"]["code"], "FORBIDDEN");
        assert_eq!(error["error"]["details"]["required"], required);
    }
    let still = body(
        app.client
            .get(&url)
            .bearer_auth(&reader)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(still, service);
}

/// A number at the edge of f64 once made every later read of the tenant's
/// services a 500 on PostgreSQL (its jsonb gives the number back as 309 digits).
#[tokio::test]
async fn extreme_numbers_in_metadata_read_back_and_never_break_the_listing() {
    let app = TestApp::spawn().await;
    let token = admin("acme");
    let mut request = service_body("Huge");
    request["metadata"] = json!({"x": 1.797_693_134_862_315_7e308, "tiny": 5e-324});
    let created = app.create_ok(&token, &request).await;
    let id = created["id"].as_str().unwrap().to_owned();
    let patched = app
        .client
        .patch(app.url(&format!("/api/v1/services/{id}")))
        .bearer_auth(&token)
        .header("content-type", "application/merge-patch+json")
        .body(r#"{"metadata":{"y":-1.7976931348623157e308}}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(patched.status(), StatusCode::OK);
    let expected = json!({"x": f64::MAX, "tiny": 5e-324, "y": f64::MIN});
    assert_eq!(body(patched).await["metadata"], expected);
    let read = app.get(&token, &format!("/api/v1/services/{id}")).await;
    assert_eq!(read.status(), StatusCode::OK);
    assert_eq!(body(read).await["metadata"], expected);
    let listing = app.get(&token, "/api/v1/services").await;
    assert_eq!(listing.status(), StatusCode::OK);
    assert_eq!(body(listing).await["services"][0]["metadata"], expected);
    let versions = app
        .get(
            &token,
            &format!("/api/v1/services/{id}/credentials/versions"),
        )
        .await;
    assert_ne!(versions.status(), StatusCode::INTERNAL_SERVER_ERROR);
}

/// Names that look like another (a zero-width space) or show reversed (a
/// right-to-left override) are refused.
#[tokio::test]
async fn names_with_invisible_or_bidi_characters_are_400() {
    let app = TestApp::spawn().await;
    let token = admin("acme");
    app.create_ok(&token, &service_body("Stripe")).await;
    for name in [
        "Stripe\u{200B}",
        "\u{202E}epirtS",
        "St\u{2066}ripe",
        "\u{FEFF}Stripe",
    ] {
        let response = app.create(&token, &service_body(name)).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{name:?}");
        let error = body(response).await;
        assert!(
            error["error"]["details"]["fields"]["name"].is_string(),
            "{error}"
        );
    }
}

/// Tenant B's cursor used by tenant A answered 200 `[]`: a cursor is bound to
/// its tenant and its listing (that it hides its position is a unit test of
/// `pagination`).
#[tokio::test]
async fn a_cursor_of_another_tenant_is_400_invalid_cursor() {
    let app = TestApp::spawn().await;
    let (a, b) = (admin("tenant-a"), admin("tenant-b"));
    for n in 0..3 {
        app.create_ok(&b, &service_body(&format!("svc-{n}"))).await;
    }
    let page = body(app.get(&b, "/api/v1/services?limit=1").await).await;
    let services_cursor = page["next_cursor"].as_str().unwrap().to_owned();
    let events = body(app.get(&b, "/api/v1/audit-events?limit=1").await).await;
    let audit_cursor = events["next_cursor"].as_str().unwrap().to_owned();
    // The owner pages on with them.
    let own = app
        .get(
            &b,
            &format!("/api/v1/services?limit=1&cursor={services_cursor}"),
        )
        .await;
    assert_eq!(own.status(), StatusCode::OK);
    for path in [
        format!("/api/v1/services?limit=1&cursor={services_cursor}"),
        format!("/api/v1/audit-events?limit=1&cursor={audit_cursor}"),
        // Nor does a cursor of one listing continue the other.
        format!("/api/v1/audit-events?limit=1&cursor={services_cursor}"),
    ] {
        let token =
            if path.contains("audit-events?limit=1&cursor=") && path.ends_with(&services_cursor) {
                &b
            } else {
                &a
            };
        let response = app.get(token, &path).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{path}");
        assert_eq!(body(response).await["error"]["code"], "INVALID_CURSOR");
    }
}
