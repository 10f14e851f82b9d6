//! Authentication end to end: which tokens pass, and how refusals look.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Test helpers fail the test loudly.

use exsvc_testkit::tokens::{now, sign, sign_with};
use exsvc_testkit::TestApp;
use serde_json::{json, Value};

/// A listing sent with `authorization` (or none) is 401 with
/// `expected_www_authenticate`, in the envelope, and never echoes the token.
async fn refused(app: &TestApp, authorization: Option<&str>, expected_www_authenticate: &str) {
    let api = match authorization {
        Some(value) => app.api_with_authorization(value),
        None => app.anonymous(),
    };
    let response = api.list_services("").await;
    assert_eq!(
        response.header("www-authenticate"),
        Some(expected_www_authenticate),
        "{authorization:?}"
    );
    let error = response.expect_error(401, "UNAUTHORIZED");
    if let Some(value) = authorization {
        // The refused token is never echoed.
        let token = value.rsplit(' ').next().unwrap_or("");
        assert!(token.len() < 8 || !error.to_string().contains(token));
    }
}

#[tokio::test]
async fn missing_or_non_bearer_credentials_are_401_bearer() {
    let app = TestApp::spawn().await;
    for authorization in [
        None,
        Some("Basic dXNlcjpwYXNz"),
        Some("Bearer"),
        Some("Bearer   "),
        Some("Token abc"),
    ] {
        refused(&app, authorization, "Bearer").await;
    }
}

#[tokio::test]
async fn two_authorization_headers_are_401_invalid_request() {
    let app = TestApp::spawn().await;
    let valid = exsvc_testkit::tokens::admin("acme");
    // Even when both hold a valid token: which one counts would be a guess.
    for second in [valid.clone(), "garbage".to_owned()] {
        let response = app
            .api(&valid)
            .list_services("")
            .header("authorization", format!("Bearer {second}"))
            .await;
        assert_eq!(
            response.header("www-authenticate"),
            Some("Bearer error=\"invalid_request\"")
        );
        response.expect_error(401, "UNAUTHORIZED");
    }
}

#[tokio::test]
async fn invalid_tokens_are_401_invalid_token() {
    let app = TestApp::spawn().await;
    let valid = json!({"tenant_id": "acme", "sub": "u", "exp": now() + 600});
    let with = |key: &str, value: Value| {
        let mut claims = valid.clone();
        claims[key] = value;
        sign(claims)
    };
    let without = |key: &str| {
        let mut claims = valid.clone();
        claims.as_object_mut().unwrap().remove(key);
        sign(claims)
    };
    let good = sign(valid.clone());
    let (head, rest) = good.split_once('.').unwrap();
    let (payload, signature) = rest.split_once('.').unwrap();
    let tampered_payload = format!("{head}.{}.{signature}", payload.replace('A', "B"));
    let alg_none = {
        use base64::Engine;
        let b64 =
            |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
        format!(
            "{}.{}.",
            b64(&json!({"alg": "none", "typ": "JWT"})),
            b64(&valid)
        )
    };
    let other_secret = sign_with("another-secret-that-is-long-enough-xyz", valid.clone());
    let tokens = [
        "garbage".to_owned(),
        "a.b".to_owned(),
        "a.b.c.d".to_owned(),
        format!("{head}.{payload}."),
        format!("{head}.{payload}"),
        tampered_payload,
        alg_none,
        other_secret,
        without("exp"),
        with("exp", json!(now() - 3600)),
        with("exp", json!((now() + 600).to_string())),
        with("nbf", json!(now() + 3600)),
        without("tenant_id"),
        with("tenant_id", json!("")),
        with("tenant_id", json!(7)),
        with("tenant_id", json!("t".repeat(129))),
        with("tenant_id", json!("a\u{0}b")),
        // Invisible and bidi format characters: two tenants that look alike.
        with("tenant_id", json!("ac\u{202E}me")),
        with("tenant_id", json!("acme\u{200B}")),
        "x".repeat(16 * 1024),
    ];
    for token in tokens {
        refused(
            &app,
            Some(&format!("Bearer {token}")),
            "Bearer error=\"invalid_token\"",
        )
        .await;
    }
    // The scheme is case-insensitive, and a token within the leeway passes.
    app.api_with_authorization(format!(
        "bearer {}",
        sign(json!({"tenant_id": "acme", "exp": now() - 30, "roles": ["admin"]}))
    ))
    .list_services("")
    .await
    .expect_status(200);
}

#[tokio::test]
async fn every_permission_claim_form_is_honoured() {
    let app = TestApp::spawn().await;
    let base = || json!({"tenant_id": "acme", "sub": "u", "exp": now() + 600});
    let forms = [
        ("scopes", json!(["external-service:read"])),
        ("scope", json!("openid external-service:read")),
        ("permissions", json!(["external-service:read"])),
        ("perms", json!({"allow": ["external-service:read"]})),
        ("roles", json!(["admin"])),
        ("role", json!("super_admin")),
    ];
    for (claim, value) in forms {
        let mut claims = base();
        claims[claim] = value;
        let response = app.api(sign(claims)).list_services("").await;
        assert_eq!(response.code(), 200, "{claim}: {}", response.text);
    }
    app.api(sign(base()))
        .list_services("")
        .await
        .expect_error(403, "FORBIDDEN");
}

#[tokio::test]
async fn debug_auth_shows_what_the_server_understood() {
    let app = TestApp::spawn().await;
    let token = sign(json!({
        "tenant_id": "acme", "sub": "user-1", "client_id": "cli", "exp": now() + 600, "iat": now(),
        "iss": "https://auth.example", "aud": ["exsvc"], "scope": "external-service:update external-service:read",
        "roles": ["viewer"], "custom": {"team": "billing"}
    }));
    let response = app.api(&token).debug_auth().await.expect_status(200);
    assert_eq!(
        response.header("cache-control"),
        Some("no-store"),
        "the claims must not be cached"
    );
    let signature = token.rsplit('.').next().unwrap();
    assert!(
        !response.text.contains(signature) && !response.text.contains(&token),
        "the raw token or its signature leaked"
    );
    let body = response.json();
    assert_eq!(body["tenant_id"], "acme");
    assert_eq!(body["actor"], "user-1");
    assert_eq!(body["client_id"], "cli");
    assert_eq!(
        body["permissions"],
        json!(["external-service:read", "external-service:update"])
    );
    assert_eq!(body["roles"], json!(["viewer"]));
    assert_eq!(body["token"]["alg"], "HS256");
    assert_eq!(body["token"]["kid"], Value::Null);
    assert_eq!(body["token"]["issuer"], "https://auth.example");
    assert_eq!(body["token"]["audience"], json!(["exsvc"]));
    assert!(body["token"]["expires_at"].as_str().unwrap().ends_with('Z'));
    assert!(body["token"]["issued_at"].is_string());
    assert_eq!(body["token"]["not_before"], Value::Null);
    assert_eq!(body["claims"]["custom"], json!({"team": "billing"}));

    // Any valid token may call it; an invalid one may not.
    let bare = sign(json!({"tenant_id": "acme", "exp": now() + 600}));
    let body = app.api(&bare).debug_auth().await.expect_status(200);
    assert_eq!(body.json()["permissions"], json!([]));
    assert_eq!(body.json()["actor"], "unknown");
    app.anonymous()
        .debug_auth()
        .await
        .expect_error(401, "UNAUTHORIZED");

    // An admin's effective permissions are all of them, sorted by name.
    let admin = sign(json!({"tenant_id": "acme", "exp": now() + 600, "roles": ["admin"]}));
    let body = app.api(&admin).debug_auth().await.into_json();
    let permissions: Vec<&str> = body["permissions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    let mut sorted = permissions.clone();
    sorted.sort_unstable();
    assert_eq!(permissions.len(), 8);
    assert_eq!(permissions, sorted);
}

#[tokio::test]
async fn debug_endpoints_can_be_turned_off() {
    let app = TestApp::spawn_with(exsvc_testkit::TestOptions {
        debug_endpoints: false,
        ..Default::default()
    })
    .await;
    let token = sign(json!({"tenant_id": "acme", "exp": now() + 600}));
    app.api(&token)
        .debug_auth()
        .await
        .expect_error(404, "NOT_FOUND");
}

/// docs/api.md §3: a caller without the permission is refused before anything
/// of the request is read, whatever its body, query, key or path hold.
#[tokio::test]
async fn a_missing_permission_is_403_whatever_the_request_holds() {
    let app = TestApp::spawn().await;
    let id = app
        .api(exsvc_testkit::tokens::admin("acme"))
        .new_service(
            &json!({"name": "Stripe", "type": "payment", "base_url": "https://api.stripe.com"}),
        )
        .await;
    let reader = app.api(exsvc_testkit::tokens::with_permissions(
        "acme",
        &["external-service:read"],
    ));
    let auditor = app.api(exsvc_testkit::tokens::with_permissions(
        "acme",
        &["external-service:audit"],
    ));
    let not_an_object = json!([1, 2]);
    let bad_key = "k".repeat(300);
    let cases = vec![
        (
            "create: no object, a bad key",
            reader
                .create_service(&not_an_object)
                .idempotency_key(&bad_key),
            "external-service:create",
        ),
        (
            "create: text/plain",
            reader.post("/api/v1/services").body("text/plain", "x"),
            "external-service:create",
        ),
        (
            "replace: no object, a malformed id",
            reader.replace_service("nope", &not_an_object),
            "external-service:update",
        ),
        (
            "patch: no object",
            reader.patch_service(&id, &json!(1)),
            "external-service:update",
        ),
        (
            "delete: a malformed id",
            reader.delete_service("nope"),
            "external-service:delete",
        ),
        (
            "store a credential: no object, a bad key",
            reader
                .put_credentials(&id, &not_an_object)
                .idempotency_key(&bad_key),
            "external-service:update",
        ),
        (
            "destroy credentials: a malformed id",
            reader.delete_credentials("nope"),
            "external-service:update",
        ),
        (
            "reveal: a bad version, a malformed id",
            reader.reveal_version("nope", "x"),
            "external-service:credentials",
        ),
        (
            "list: unknown and bad parameters",
            auditor.list_services("bogus=1&limit=0"),
            "external-service:read",
        ),
        (
            "get: a malformed id",
            auditor.get_service("nope"),
            "external-service:read",
        ),
        (
            "versions: a malformed id",
            auditor.versions("nope"),
            "external-service:read",
        ),
        (
            "audit: unknown and bad parameters",
            reader.audit("since=x&bogus=1"),
            "external-service:audit",
        ),
    ];
    for (what, call, permission) in cases {
        let error = call.await.expect_error(403, "FORBIDDEN");
        assert_eq!(error["details"]["required"], permission, "{what}");
    }
}
