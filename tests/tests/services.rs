//! The service registry end to end: real HTTP against the app on a fresh
//! PostgreSQL database.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Test helpers fail the test loudly.

use std::collections::HashSet;

use exsvc_testkit::app::service_body;
use exsvc_testkit::tokens::{admin, with_permissions};
use exsvc_testkit::{Call, TestApp, TestOptions};
use reqwest::Method;
use serde_json::{json, Value};

#[tokio::test]
async fn crud_round_trip() {
    let app = TestApp::spawn().await;
    let api = app.api(admin("acme"));

    let created = api
        .create_service(&json!({
            "name": "  Stripe  ", "description": "Cards", "type": "payment", "status": "active",
            "base_url": "https://api.stripe.com/v1", "api_version": "2024-06-20",
            "metadata": {"team": "billing", "tier": 1}
        }))
        .await
        .expect_status(201);
    assert_eq!(created.etag(), "\"1\"");
    let service = created.json().clone();
    let id = created.id();
    assert_eq!(
        created.must_header("location"),
        format!("/api/v1/services/{id}")
    );
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

    let got = api.get_service(&id).await.expect_status(200);
    assert_eq!(got.etag(), "\"1\"");
    assert_eq!(got.json(), &service);

    let listed = api.list_services("").await.expect_status(200);
    assert_eq!(listed.json()["services"], json!([service]));
    assert_eq!(listed.json()["next_cursor"], Value::Null);

    // PUT replaces every writable field: omitted optional ones take their defaults.
    let replaced = api
        .replace_service(
            &id,
            &json!({"name": "Stripe EU", "type": "payment", "base_url": "https://api.stripe.eu"}),
        )
        .await
        .expect_status(200);
    assert_eq!(replaced.etag(), "\"2\"");
    let replaced = replaced.json();
    assert_eq!(replaced["version"], 2);
    assert_eq!(replaced["description"], "");
    assert_eq!(replaced["api_version"], Value::Null);
    assert_eq!(replaced["metadata"], json!({}));
    assert_eq!(replaced["created_at"], service["created_at"]);

    // PATCH is a JSON Merge Patch.
    let patched = api
        .merge_patch_service(
            &id,
            r#"{"status": "inactive", "metadata": {"a": {"b": 1}, "c": 2}}"#,
        )
        .await
        .expect_status(200)
        .into_json();
    assert_eq!(patched["status"], "inactive");
    assert_eq!(patched["name"], "Stripe EU");
    assert_eq!(patched["version"], 3);
    let patched = api
        .patch_service(
            &id,
            &json!({"metadata": {"a": {"b": null, "x": true}, "c": null}, "description": "d"}),
        )
        .await
        .into_json();
    assert_eq!(patched["metadata"], json!({"a": {"x": true}}));
    assert_eq!(patched["description"], "d");
    assert_eq!(patched["version"], 4);

    api.delete_service(&id).await.expect_status(204);
    let gone = api
        .get_service(&id)
        .await
        .expect_error(404, "SERVICE_NOT_FOUND");
    assert_eq!(gone["message"], format!("Service with ID '{id}' not found"));
    api.delete_service(&id).await.expect_status(404);
}

/// Every rule of docs/api.md §1.1; a refused body stores nothing.
#[tokio::test]
async fn every_validation_rule_is_enforced() {
    let app = TestApp::spawn().await;
    let api = app.api(admin("acme"));
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
        api.create_service(&request)
            .await
            .expect_invalid_field(field);
    }
    // Several problems are reported together.
    let error = api
        .create_service(&json!({"name": "", "type": "X", "id": "x", "extra": 1}))
        .await
        .expect_error(400, "VALIDATION_ERROR");
    let fields = error["details"]["fields"].as_object().unwrap();
    for field in ["name", "type", "base_url", "id", "extra"] {
        assert!(fields.contains_key(field), "{field} missing from {error}");
    }
    let listed = api.list_services("").await.expect_status(200);
    assert_eq!(listed.json()["services"], json!([]), "nothing was stored");

    // The same rules hold on PUT and PATCH, and a refused change changes nothing.
    let created = api
        .create_service(&service_body("Keep"))
        .await
        .expect_status(201);
    let id = created.id();
    api.replace_service(&id, &json!({"name": "Keep", "type": "payment"}))
        .await
        .expect_invalid_field("base_url");
    for patch in [
        json!({"version": 9}),
        json!({"name": null}),
        json!({"type": "BAD"}),
        json!({"nope": 1}),
        json!([1]),
    ] {
        api.patch_service(&id, &patch)
            .await
            .expect_error(400, "VALIDATION_ERROR");
    }
    let unchanged = api.get_service(&id).await.expect_status(200);
    assert_eq!(unchanged.json(), created.json());
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
    let created = app
        .api(admin("acme"))
        .create_service(&request)
        .await
        .expect_status(201);
    assert_eq!(created.json()["base_url"], "http://localhost:9000");
    // Allowed http, another scheme is told what it may be.
    request["base_url"] = json!("ftp://localhost:9000");
    let error = app
        .api(admin("acme"))
        .create_service(&request)
        .await
        .expect_invalid_field("base_url");
    assert_eq!(
        error["details"]["fields"]["base_url"],
        "must use http or https"
    );
}

/// A refused http URL says how a deployment allows it, on a create and on a
/// change; another scheme is only told to use https.
#[tokio::test]
async fn a_refused_http_base_url_names_the_setting_that_allows_it() {
    let app = TestApp::spawn().await;
    let api = app.api(admin("acme"));
    let hint = "must use https (http only when the server sets EXSVC_ALLOW_HTTP_BASE_URL=true)";
    let mut request = service_body("Local");
    request["base_url"] = json!("http://localhost:9000");
    let error = api
        .create_service(&request)
        .await
        .expect_invalid_field("base_url");
    assert_eq!(error["details"]["fields"]["base_url"], hint, "{error}");
    let id = api.new_service(&service_body("Remote")).await;
    let error = api
        .patch_service(&id, &json!({"base_url": "http://localhost:9000"}))
        .await
        .expect_invalid_field("base_url");
    assert_eq!(error["details"]["fields"]["base_url"], hint, "{error}");
    request["base_url"] = json!("ftp://localhost:9000");
    let error = api
        .create_service(&request)
        .await
        .expect_invalid_field("base_url");
    assert_eq!(error["details"]["fields"]["base_url"], "must use https");
}

#[tokio::test]
async fn names_are_unique_per_tenant_ignoring_case() {
    let app = TestApp::spawn().await;
    let acme = app.api(admin("acme"));
    acme.new_service(&service_body("Stripe")).await;
    for clash in ["Stripe", "STRIPE", " stripe "] {
        acme.create_service(&service_body(clash))
            .await
            .expect_error(409, "SERVICE_ALREADY_EXISTS");
    }
    // Another tenant may use the name.
    app.api(admin("globex"))
        .new_service(&service_body("stripe"))
        .await;
    // Renaming onto a taken name is refused too.
    let other = acme.new_service(&service_body("Adyen")).await;
    acme.patch_service(&other, &json!({"name": "stripe"}))
        .await
        .expect_status(409);
}

#[tokio::test]
async fn tenants_never_see_each_other() {
    let app = TestApp::spawn().await;
    let acme = app.api(admin("acme"));
    let globex = app.api(admin("globex"));
    let service = acme
        .create_service(&service_body("Stripe"))
        .await
        .expect_status(201)
        .into_json();
    let id = service["id"].as_str().unwrap();

    let attempts: [Call; 4] = [
        globex.get_service(id),
        globex.replace_service(id, &service_body("Hijack")),
        globex.patch_service(id, &json!({"name": "Hijack"})),
        globex.delete_service(id),
    ];
    for attempt in attempts {
        // Never 403: existence does not leak.
        attempt.await.expect_error(404, "SERVICE_NOT_FOUND");
    }
    let listed = globex.list_services("").await.expect_status(200);
    assert_eq!(listed.json()["services"], json!([]));
    let still = acme.get_service(id).await.expect_status(200);
    assert_eq!(still.json(), &service, "untouched by the other tenant");
}

#[tokio::test]
async fn paging_through_250_services_has_no_gap_and_no_duplicate() {
    let app = TestApp::spawn().await;
    let api = app.api(admin("acme"));
    for i in 0..250 {
        api.new_service(&service_body(&format!("service-{i:03}")))
            .await;
    }
    app.api(admin("globex"))
        .new_service(&service_body("not-mine"))
        .await;

    let first = api.list_services("").await.expect_status(200);
    assert_eq!(
        first.json()["services"].as_array().unwrap().len(),
        20,
        "default limit"
    );

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let query = match &cursor {
            None => "limit=100".to_owned(),
            Some(c) => format!("limit=100&cursor={c}"),
        };
        let page = api.list_services(&query).await.expect_status(200);
        let page = page.json();
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
    let api = app.api(admin("acme"));
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
        api.list_services(query)
            .await
            .expect_error(400, "VALIDATION_ERROR");
    }
    for cursor in ["garbage", "AAAA", "%C3%BF", "eyJpZCI6MX0"] {
        api.list_services(&format!("cursor={cursor}"))
            .await
            .expect_error(400, "INVALID_CURSOR");
    }
}

#[tokio::test]
async fn tampered_and_stale_cursors_are_400() {
    let app = TestApp::spawn().await;
    let api = app.api(admin("acme"));
    for name in ["one", "two", "three"] {
        api.new_service(&service_body(name)).await;
    }
    let page = api.list_services("limit=1").await.expect_status(200);
    let cursor = page.json()["next_cursor"].as_str().unwrap().to_owned();
    // The real cursor works.
    api.list_services(&format!("limit=1&cursor={cursor}"))
        .await
        .expect_status(200);

    // One character changed anywhere is refused.
    for at in [2, cursor.len() / 2, cursor.len() - 3] {
        let mut forged: Vec<char> = cursor.chars().collect();
        forged[at] = if forged[at] == 'A' { 'B' } else { 'A' };
        let forged: String = forged.into_iter().collect();
        api.list_services(&format!("limit=1&cursor={forged}"))
            .await
            .expect_error(400, "INVALID_CURSOR");
    }
    // A cursor continues only the listing it came from (same filters).
    api.list_services(&format!("limit=1&q=o&cursor={cursor}"))
        .await
        .expect_error(400, "INVALID_CURSOR");
}

/// Characters PostgreSQL cannot store are refused up front as 400, never a 500.
#[tokio::test]
async fn nul_and_control_characters_are_400_not_500() {
    let app = TestApp::spawn().await;
    let api = app.api(admin("acme"));
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
        api.create_service(&request)
            .await
            .expect_invalid_field(field);
    }
    // Line breaks and tabs are text.
    api.create_service(&with("description", json!("line one\nline two\ttab")))
        .await
        .expect_status(201);
    api.list_services("q=%00").await.expect_invalid_field("q");
}

#[tokio::test]
async fn listing_filters() {
    let app = TestApp::spawn().await;
    let api = app.api(admin("acme"));
    api.new_service(
        &json!({"name": "Mailgun", "type": "mail", "base_url": "https://api.mailgun.net"}),
    )
    .await;
    api.new_service(&json!({"name": "Stripe", "type": "payment", "status": "inactive", "base_url": "https://api.stripe.com"})).await;
    api.new_service(
        &json!({"name": "OpenAI", "type": "llm", "base_url": "https://api.openai.com"}),
    )
    .await;
    let names = |query: &'static str| {
        let api = &api;
        async move {
            let page = api.list_services(query).await.expect_status(200);
            page.json()["services"]
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
    let api = app.api(admin("acme"));
    let id = api.new_service(&service_body("Stripe")).await;

    let put = |tag: &str| {
        api.replace_service(&id, &service_body("Stripe v2"))
            .if_match(tag)
    };
    let first = put("\"1\"").await.expect_status(200);
    assert_eq!(first.etag(), "\"2\"");
    put("\"1\"").await.expect_error(412, "PRECONDITION_FAILED");

    api.patch_service(&id, &json!({"description": "x"}))
        .if_match("\"1\"")
        .await
        .expect_status(412);
    api.delete_service(&id)
        .if_match("\"1\"")
        .await
        .expect_status(412);
    // Weak tags never match.
    api.patch_service(&id, &json!({"description": "x"}))
        .if_match("W/\"2\"")
        .await
        .expect_status(412);

    let current = api.get_service(&id).await.expect_status(200).into_json();
    assert_eq!(current["version"], 2);
    assert_eq!(current["name"], "Stripe v2");
    assert_eq!(current["description"], "", "nothing changed");

    api.patch_service(&id, &json!({"description": "y"}))
        .if_match("*")
        .await
        .expect_status(200);
    api.patch_service(&id, &json!({"description": "z"}))
        .if_match("\"1\", \"3\"")
        .await
        .expect_status(200);
    api.delete_service(&id)
        .if_match("\"4\"")
        .await
        .expect_status(204);
}

/// `If-Match: 5` means `"5"`: a version number without its quotes is the same
/// entity tag, on PUT, PATCH and DELETE, alone or in a list; anything else
/// unquoted still matches nothing.
#[tokio::test]
async fn an_unquoted_version_in_if_match_is_its_entity_tag() {
    let app = TestApp::spawn().await;
    let api = app.api(admin("acme"));
    let id = api.new_service(&service_body("Stripe")).await;

    let replaced = api
        .replace_service(&id, &service_body("Stripe v2"))
        .if_match("1")
        .await
        .expect_status(200);
    assert_eq!(replaced.etag(), "\"2\"");
    api.replace_service(&id, &service_body("Stripe v3"))
        .if_match("1")
        .await
        .expect_error(412, "PRECONDITION_FAILED");
    let patched = api
        .patch_service(&id, &json!({"description": "x"}))
        .if_match(" 2 ")
        .await
        .expect_status(200);
    assert_eq!(patched.etag(), "\"3\"");
    api.patch_service(&id, &json!({"description": "y"}))
        .if_match("1, 3")
        .await
        .expect_status(200);
    for not_a_version in ["+4", "W/4", "4x", "04.0", "\"4"] {
        api.delete_service(&id)
            .if_match(not_a_version)
            .await
            .expect_error(412, "PRECONDITION_FAILED");
    }
    api.delete_service(&id)
        .if_match("4")
        .await
        .expect_status(204);
}

#[tokio::test]
async fn base_path_prefixes_every_route() {
    let app = TestApp::spawn_with(TestOptions {
        base_path: "/exsvc".into(),
        ..TestOptions::default()
    })
    .await;
    let api = app.api(admin("acme"));
    let created = api
        .create_service(&service_body("Stripe"))
        .await
        .expect_status(201);
    let location = created.must_header("location");
    assert!(
        location.starts_with("/exsvc/api/v1/services/"),
        "{location}"
    );
    let root = app.address.trim_end_matches("/exsvc").to_owned();
    api.request_url(Method::GET, format!("{root}/api/v1/services"))
        .await
        .expect_error(404, "NOT_FOUND");
    let docs = app
        .anonymous()
        .get("/api-docs/openapi.json")
        .await
        .expect_status(200);
    assert_eq!(docs.json()["servers"][0]["url"], "/exsvc");
}

#[tokio::test]
async fn permissions_are_checked_per_action() {
    let app = TestApp::spawn().await;
    let service = app
        .api(admin("acme"))
        .create_service(&service_body("Stripe"))
        .await
        .expect_status(201)
        .into_json();
    let id = service["id"].as_str().unwrap();
    let reader = app.api(with_permissions("acme", &["external-service:read"]));
    reader.get_service(id).await.expect_status(200);
    let refusals = [
        (
            reader.create_service(&service_body("X")),
            "external-service:create",
        ),
        (
            reader.replace_service(id, &service_body("X")),
            "external-service:update",
        ),
        (
            reader.patch_service(id, &json!({})),
            "external-service:update",
        ),
        (reader.delete_service(id), "external-service:delete"),
        (
            app.api(with_permissions("acme", &["external-service:create"]))
                .get_service(id),
            "external-service:read",
        ),
        (
            app.api(with_permissions("acme", &[])).list_services(""),
            "external-service:read",
        ),
    ];
    for (request, required) in refusals {
        let response = request.await;
        assert_eq!(
            response.header("www-authenticate"),
            Some("Bearer error=\"insufficient_scope\""),
            "{required}"
        );
        let error = response.expect_error(403, "FORBIDDEN");
        assert_eq!(error["details"]["required"], required);
    }
    let still = reader.get_service(id).await.expect_status(200);
    assert_eq!(still.json(), &service);
}

/// A number at the edge of f64 once made every later read of the tenant's
/// services a 500 on PostgreSQL (its jsonb gives the number back as 309 digits).
#[tokio::test]
async fn extreme_numbers_in_metadata_read_back_and_never_break_the_listing() {
    let app = TestApp::spawn().await;
    let api = app.api(admin("acme"));
    let mut request = service_body("Huge");
    request["metadata"] = json!({"x": 1.797_693_134_862_315_7e308, "tiny": 5e-324});
    let id = api.new_service(&request).await;
    let patched = api
        .merge_patch_service(&id, r#"{"metadata":{"y":-1.7976931348623157e308}}"#)
        .await
        .expect_status(200);
    let expected = json!({"x": f64::MAX, "tiny": 5e-324, "y": f64::MIN});
    assert_eq!(patched.json()["metadata"], expected);
    let read = api.get_service(&id).await.expect_status(200);
    assert_eq!(read.json()["metadata"], expected);
    let listing = api.list_services("").await.expect_status(200);
    assert_eq!(listing.json()["services"][0]["metadata"], expected);
    let versions = api.versions(&id).await;
    assert_ne!(versions.code(), 500, "{}", versions.text);
}

/// Names that look like another (a zero-width space) or show reversed (a
/// right-to-left override) are refused.
#[tokio::test]
async fn names_with_invisible_or_bidi_characters_are_400() {
    let app = TestApp::spawn().await;
    let api = app.api(admin("acme"));
    api.new_service(&service_body("Stripe")).await;
    for name in [
        "Stripe\u{200B}",
        "\u{202E}epirtS",
        "St\u{2066}ripe",
        "\u{FEFF}Stripe",
    ] {
        api.create_service(&service_body(name))
            .await
            .expect_invalid_field("name");
    }
}

/// Tenant B's cursor used by tenant A answered 200 `[]`: a cursor is bound to
/// its tenant and its listing (that it hides its position is a unit test of
/// `pagination`).
#[tokio::test]
async fn a_cursor_of_another_tenant_is_400_invalid_cursor() {
    let app = TestApp::spawn().await;
    let (a, b) = (app.api(admin("tenant-a")), app.api(admin("tenant-b")));
    for n in 0..3 {
        b.new_service(&service_body(&format!("svc-{n}"))).await;
    }
    let page = b.list_services("limit=1").await.expect_status(200);
    let services_cursor = page.json()["next_cursor"].as_str().unwrap().to_owned();
    let events = b.audit("limit=1").await.expect_status(200);
    let audit_cursor = events.json()["next_cursor"].as_str().unwrap().to_owned();
    // The owner pages on with them.
    b.list_services(&format!("limit=1&cursor={services_cursor}"))
        .await
        .expect_status(200);
    for refused in [
        a.list_services(&format!("limit=1&cursor={services_cursor}")),
        a.audit(&format!("limit=1&cursor={audit_cursor}")),
        // Nor does a cursor of one listing continue the other.
        b.audit(&format!("limit=1&cursor={services_cursor}")),
    ] {
        refused.await.expect_error(400, "INVALID_CURSOR");
    }
}
