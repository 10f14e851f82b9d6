//! The Auth Manager's token forms over real HTTP (docs/security.md, "The Auth
//! Manager's token forms", "Which key checks a token"): each form is 200 on a
//! route it grants and 403 on one it does not; kids select their secret.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Test helpers fail the test loudly.

use exsvc_testkit::tokens::{
    auth_manager_secrets, now, sign, sign_with_kid, DEFAULT_KID_SECRET, SDK_AGENT_KID_SECRET,
    TEST_SECRET,
};
use exsvc_testkit::{TestApp, TestOptions};
use serde_json::{json, Value};

const ISSUERS: [&str; 2] = ["authsec-ai/auth-manager", "authsec-ai/user-flow"];

/// The Auth Manager's deployment: both kids, both issuers, audience `exsvc`,
/// and the unnamed test secret beside them.
async fn auth_manager_app() -> TestApp {
    TestApp::spawn_with(TestOptions {
        hmac_secrets: auth_manager_secrets(),
        issuers: ISSUERS.map(str::to_owned).to_vec(),
        audiences: vec!["exsvc".into()],
        ..TestOptions::default()
    })
    .await
}

fn claims(extra: Value) -> Value {
    let mut claims = json!({"iss": ISSUERS[0], "aud": "exsvc", "sub": "user-42",
                            "iat": now(), "exp": now() + 600});
    for (k, v) in extra.as_object().unwrap() {
        claims[k] = v.clone();
    }
    claims
}

/// Status of a listing (needs `read`) and of the audit trail (needs `audit`).
async fn read_and_audit(app: &TestApp, token: &str) -> (u16, u16) {
    let api = app.api(token);
    (
        api.list_services("").await.code(),
        api.audit("").await.code(),
    )
}

#[tokio::test]
async fn each_form_grants_what_it_names_and_nothing_more() {
    let app = auth_manager_app().await;
    let read_only = (200, 403);
    let audit_only = (403, 200);
    let cases = [
        (
            "scope string",
            json!({"tenant_id": "acme", "scope": "external-service:read billing:audit"}),
            read_only,
        ),
        (
            "scope array",
            json!({"workspace_id": "ws-7", "scope": ["external-service:read", "external-service:use"]}),
            read_only,
        ),
        (
            "scopes",
            json!({"tenant_id": "acme", "scopes": ["external-service:audit"]}),
            audit_only,
        ),
        (
            "permissions",
            json!({"tenant_id": "acme", "permissions": ["external-service:read"]}),
            read_only,
        ),
        (
            "perms.allow",
            json!({"tenant_id": "acme", "perms": {"allow": ["external-service:audit"]}}),
            audit_only,
        ),
        (
            "perms array",
            json!({"workspace_id": "ws-7", "perms": [{"r": "external-service", "a": ["read"]}, {"r": "billing", "a": ["audit"]}]}),
            read_only,
        ),
        (
            "*:read",
            json!({"tenant_id": "acme", "permissions": ["*:read"]}),
            read_only,
        ),
        (
            "r: *",
            json!({"tenant_id": "acme", "perms": [{"r": "*", "a": ["audit"]}]}),
            audit_only,
        ),
        (
            "external-service:*",
            json!({"tenant_id": "acme", "scope": "external-service:*"}),
            (200, 200),
        ),
        (
            "a: [*]",
            json!({"tenant_id": "acme", "perms": [{"r": "external-service", "a": ["*"]}]}),
            (200, 200),
        ),
        (
            "malformed perms",
            json!({"tenant_id": "acme", "perms": 7, "scope": "external-service:audit"}),
            audit_only,
        ),
    ];
    for (form, extra, expected) in cases {
        let token = sign_with_kid(DEFAULT_KID_SECRET, Some("default"), claims(extra));
        assert_eq!(read_and_audit(&app, &token).await, expected, "{form}");
    }
}

#[tokio::test]
async fn kids_select_their_secret() {
    let app = auth_manager_app().await;
    let body = || claims(json!({"tenant_id": "acme", "scope": "external-service:read"}));
    let cases = [
        (
            "sdk-agent with its secret",
            SDK_AGENT_KID_SECRET,
            Some("sdk-agent"),
            200,
        ),
        (
            "default with its secret",
            DEFAULT_KID_SECRET,
            Some("default"),
            200,
        ),
        (
            "default signed by sdk-agent's secret",
            SDK_AGENT_KID_SECRET,
            Some("default"),
            401,
        ),
        (
            "sdk-agent signed by the unnamed secret",
            TEST_SECRET,
            Some("sdk-agent"),
            401,
        ),
        (
            "no kid, sdk-agent's secret",
            SDK_AGENT_KID_SECRET,
            None,
            200,
        ),
        ("no kid, the unnamed secret", TEST_SECRET, None, 200),
        (
            "unknown kid, the unnamed secret",
            TEST_SECRET,
            Some("legacy"),
            200,
        ),
        (
            "unknown kid, a named secret",
            DEFAULT_KID_SECRET,
            Some("legacy"),
            401,
        ),
    ];
    for (case, secret, kid, expected) in cases {
        let token = sign_with_kid(secret, kid, body());
        let response = app.api(&token).list_services("").await;
        assert_eq!(response.code(), expected, "{case}");
        if expected == 401 {
            assert_eq!(
                response.header("www-authenticate"),
                Some("Bearer error=\"invalid_token\""),
                "{case}"
            );
        }
    }
    // /debug/auth shows the kid, the issuer and the audience as sent.
    let token = sign_with_kid(
        SDK_AGENT_KID_SECRET,
        Some("sdk-agent"),
        claims(
            json!({"workspace_id": "ws-7", "client_id": "sdk-1", "iss": ISSUERS[1], "aud": ["exsvc", "billing"]}),
        ),
    );
    let debug = app
        .api(&token)
        .debug_auth()
        .await
        .expect_status(200)
        .into_json();
    assert_eq!(debug["token"]["kid"], "sdk-agent");
    assert_eq!(debug["token"]["issuer"], ISSUERS[1]);
    assert_eq!(debug["token"]["audience"], json!(["exsvc", "billing"]));
    assert_eq!(debug["tenant_id"], "ws-7");
    assert_eq!(debug["actor"], "user-42");
    assert_eq!(debug["client_id"], "sdk-1");
}

#[tokio::test]
async fn issuers_lifetime_and_headers() {
    let app = auth_manager_app().await;
    let token = |extra: Value| {
        let mut extra = extra;
        extra["tenant_id"] = json!("acme");
        extra["scope"] = json!("external-service:read");
        sign_with_kid(DEFAULT_KID_SECRET, Some("default"), claims(extra))
    };
    for issuer in ISSUERS {
        assert_eq!(
            app.api(token(json!({"iss": issuer})))
                .list_services("")
                .await
                .code(),
            200,
            "{issuer}"
        );
    }
    let cases = [
        ("a third issuer", json!({"iss": "authsec-ai/other"})),
        ("another audience", json!({"aud": "billing"})),
        ("expired", json!({"exp": now() - 3600})),
        ("beyond the max TTL", json!({"exp": now() + 40 * 86_400})),
        ("not yet valid", json!({"nbf": now() + 3600})),
    ];
    for (case, extra) in cases {
        assert_eq!(
            app.api(token(extra)).list_services("").await.code(),
            401,
            "{case}"
        );
    }
    // Within the default 31 days.
    assert_eq!(
        app.api(token(json!({"exp": now() + 30 * 86_400})))
            .list_services("")
            .await
            .code(),
        200
    );
    let valid = token(json!({}));
    let twice = app
        .api(&valid)
        .list_services("")
        .header("authorization", format!("Bearer {valid}"))
        .await;
    assert_eq!(
        twice.header("www-authenticate"),
        Some("Bearer error=\"invalid_request\"")
    );
    twice.expect_error(401, "UNAUTHORIZED");
    // The unnamed test secret's own tokens (no kid) keep working beside the kids.
    let legacy = sign(claims(
        json!({"tenant_id": "acme", "scope": "external-service:read"}),
    ));
    assert_eq!(app.api(legacy).list_services("").await.code(), 200);
}
