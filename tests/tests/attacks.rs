//! The attack matrix (issue 4): tokens minted here, sent to the real server over
//! HTTP. Each must be refused with 401 in the envelope, never a 500, and none
//! may make the server reach out anywhere.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Test helpers fail the test loudly.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use exsvc_auth::Algorithm;
use exsvc_testkit::jwks_server::CountingListener;
use exsvc_testkit::keys::{header, EC256, ED25519, RSA, RSA2};
use exsvc_testkit::tokens::{now, sign, TEST_SECRET};
use exsvc_testkit::{TestApp, TestOptions};
use jsonwebtoken::{encode, EncodingKey};
use reqwest::StatusCode;
use serde_json::{json, Value};

fn claims() -> Value {
    json!({"tenant_id": "acme", "sub": "mallory", "exp": now() + 600, "roles": ["admin"]})
}

fn b64(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
}

/// The app trusting the test HMAC secret and the RSA, EC P-256 and Ed25519 keys.
async fn app() -> TestApp {
    TestApp::spawn_with(TestOptions {
        public_keys: vec![
            RSA.verification_key(),
            EC256.verification_key(),
            ED25519.verification_key(),
        ],
        ..TestOptions::default()
    })
    .await
}

async fn status(app: &TestApp, token: &str) -> (StatusCode, Value) {
    let response = app.api(token).list_services("").await;
    let body = serde_json::from_str(&response.text).unwrap_or(Value::Null);
    (response.status, body)
}

async fn assert_refused(app: &TestApp, token: &str, what: &str) {
    let response = app.api(token).list_services("").await;
    assert_eq!(response.code(), 401, "{what} was not refused");
    assert_eq!(
        response.header("www-authenticate"),
        Some("Bearer error=\"invalid_token\""),
        "{what}"
    );
    response.expect_error(401, "UNAUTHORIZED");
}

#[tokio::test]
async fn the_valid_tokens_of_every_family_pass() {
    let app = app().await;
    for (alg, key) in [
        (Algorithm::RS256, RSA),
        (Algorithm::PS384, RSA),
        (Algorithm::ES256, EC256),
        (Algorithm::EdDSA, ED25519),
    ] {
        let (code, body) = status(&app, &key.sign(&header(alg, None), &claims())).await;
        assert_eq!(code, StatusCode::OK, "{alg:?}: {body}");
    }
    assert_eq!(
        status(&app, &sign(claims())).await.0,
        StatusCode::OK,
        "HS256"
    );
}

#[tokio::test]
async fn alg_none_in_every_casing() {
    let app = app().await;
    for alg in ["none", "None", "NONE", "nOnE"] {
        let head = b64(&json!({"alg": alg, "typ": "JWT"}));
        let body = b64(&claims());
        assert_refused(&app, &format!("{head}.{body}."), alg).await;
        assert_refused(&app, &format!("{head}.{body}"), alg).await;
        // A none header over a real signature.
        let real = sign(claims());
        let signature = real.rsplit('.').next().unwrap();
        assert_refused(&app, &format!("{head}.{body}.{signature}"), alg).await;
    }
}

#[tokio::test]
async fn stripped_truncated_or_altered_signatures() {
    let app = app().await;
    for token in [
        sign(claims()),
        RSA.sign(&header(Algorithm::RS256, None), &claims()),
        EC256.sign(&header(Algorithm::ES256, None), &claims()),
    ] {
        let (head, rest) = token.split_once('.').unwrap();
        let (payload, signature) = rest.split_once('.').unwrap();
        assert_refused(&app, &format!("{head}.{payload}."), "stripped signature").await;
        assert_refused(
            &app,
            &format!("{head}.{payload}.{}", &signature[..signature.len() / 2]),
            "truncated signature",
        )
        .await;
        let mut altered: Vec<char> = signature.chars().collect();
        altered[3] = if altered[3] == 'A' { 'B' } else { 'A' };
        assert_refused(
            &app,
            &format!(
                "{head}.{payload}.{}",
                altered.into_iter().collect::<String>()
            ),
            "altered signature",
        )
        .await;
        // Another payload under the old signature: tenant switched, admin kept.
        let mut forged = claims();
        forged["tenant_id"] = json!("victim");
        assert_refused(
            &app,
            &format!("{head}.{}.{signature}", b64(&forged)),
            "payload altered under the old signature",
        )
        .await;
    }
}

#[tokio::test]
async fn rs256_to_hs256_confusion_with_the_public_key_as_secret() {
    // Only the RSA public key is trusted: no HMAC at all.
    let app = TestApp::spawn_with(TestOptions {
        hmac: false,
        public_keys: vec![RSA.verification_key()],
        ..TestOptions::default()
    })
    .await;
    let confused = encode(
        &header(Algorithm::HS256, None),
        &claims(),
        &EncodingKey::from_secret(&RSA.public_pem()),
    )
    .unwrap();
    assert_refused(&app, &confused, "HS256 signed with the RSA public key").await;
    // An HS256 token with a secret the server never had, where only asymmetric keys are configured.
    assert_refused(
        &app,
        &sign(claims()),
        "HS256 where only asymmetric keys are configured",
    )
    .await;
    // With an HMAC secret configured too, the public key is still not the secret.
    let both = app_with_rsa_and_hmac().await;
    assert_refused(&both, &confused, "HS256 signed with the RSA public key").await;
    // The real RS256 token passes.
    assert_eq!(
        status(&app, &RSA.sign(&header(Algorithm::RS256, None), &claims()))
            .await
            .0,
        StatusCode::OK
    );
}

async fn app_with_rsa_and_hmac() -> TestApp {
    TestApp::spawn_with(TestOptions {
        public_keys: vec![RSA.verification_key()],
        ..TestOptions::default()
    })
    .await
}

#[tokio::test]
async fn an_es256_signature_of_zero_bytes() {
    let app = app().await;
    let head = b64(&json!({"alg": "ES256", "typ": "JWT"}));
    let zeros = URL_SAFE_NO_PAD.encode([0u8; 64]);
    assert_refused(
        &app,
        &format!("{head}.{}.{zeros}", b64(&claims())),
        "ES256 all-zero signature",
    )
    .await;
    let ed_zeros = URL_SAFE_NO_PAD.encode([0u8; 64]);
    let ed_head = b64(&json!({"alg": "EdDSA", "typ": "JWT"}));
    assert_refused(
        &app,
        &format!("{ed_head}.{}.{ed_zeros}", b64(&claims())),
        "EdDSA all-zero signature",
    )
    .await;
}

#[tokio::test]
async fn key_location_headers_are_never_fetched() {
    let app = app().await;
    let listener = CountingListener::start().await;
    // Signed with a key the server does not trust, pointing at where to find it.
    let mut jku = header(Algorithm::RS256, Some("attacker"));
    jku.jku = Some(listener.url.clone());
    let mut x5u = header(Algorithm::RS256, Some("attacker"));
    x5u.x5u = Some(listener.url.clone());
    let mut embedded = header(Algorithm::RS256, Some("attacker"));
    embedded.jwk = Some(RSA2.jwk(Algorithm::RS256, "attacker"));
    for (what, h) in [("jku", jku), ("x5u", x5u), ("embedded jwk", embedded)] {
        assert_refused(&app, &RSA2.sign(&h, &claims()), what).await;
    }
    // Even signed with a trusted key, such headers are refused.
    let mut trusted_jku = header(Algorithm::RS256, None);
    trusted_jku.jku = Some(listener.url.clone());
    let mut trusted_x5u = header(Algorithm::RS256, None);
    trusted_x5u.x5u = Some(listener.url.clone());
    let mut trusted_jwk = header(Algorithm::RS256, None);
    trusted_jwk.jwk = Some(RSA.jwk(Algorithm::RS256, "self"));
    let mut trusted_x5c = header(Algorithm::RS256, None);
    trusted_x5c.x5c = Some(vec!["MIIB".into()]);
    let mut trusted_crit = header(Algorithm::RS256, None);
    trusted_crit.crit = Some(vec!["exp".into()]);
    for (what, h) in [
        ("jku", trusted_jku),
        ("x5u", trusted_x5u),
        ("jwk", trusted_jwk),
        ("x5c", trusted_x5c),
        ("crit", trusted_crit),
    ] {
        assert_refused(
            &app,
            &RSA.sign(&h, &claims()),
            &format!("{what} with a trusted signature"),
        )
        .await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(
        listener.connections(),
        0,
        "the server reached out to a URL in a token"
    );
}

#[tokio::test]
async fn time_claims() {
    let app = app().await;
    let with = |key: &str, value: Value| {
        let mut c = claims();
        c[key] = value;
        sign(c)
    };
    let mut no_exp = claims();
    no_exp.as_object_mut().unwrap().remove("exp");
    assert_refused(&app, &sign(no_exp), "no exp").await;
    assert_refused(
        &app,
        &with("exp", json!(now() - 3600)),
        "expired beyond the leeway",
    )
    .await;
    assert_refused(
        &app,
        &with("exp", json!((now() + 600).to_string())),
        "string exp",
    )
    .await;
    assert_refused(&app, &with("exp", json!(null)), "null exp").await;
    assert_refused(&app, &with("nbf", json!(now() + 3600)), "future nbf").await;
    assert_refused(&app, &with("nbf", json!("soon")), "string nbf").await;
    assert_eq!(
        status(&app, &with("exp", json!(now() - 30))).await.0,
        StatusCode::OK,
        "expired within the leeway"
    );
    assert_eq!(
        status(&app, &with("nbf", json!(now() + 30))).await.0,
        StatusCode::OK,
        "nbf within the leeway"
    );
}

#[tokio::test]
async fn issuer_and_audience_when_configured() {
    let app = TestApp::spawn_with(TestOptions {
        issuers: vec!["https://auth.example".into()],
        audiences: vec!["exsvc".into()],
        ..TestOptions::default()
    })
    .await;
    let with = |iss: Option<&str>, aud: Option<Value>| {
        let mut c = claims();
        if let Some(iss) = iss {
            c["iss"] = json!(iss);
        }
        if let Some(aud) = aud {
            c["aud"] = aud;
        }
        sign(c)
    };
    assert_eq!(
        status(
            &app,
            &with(Some("https://auth.example"), Some(json!("exsvc")))
        )
        .await
        .0,
        StatusCode::OK
    );
    assert_eq!(
        status(
            &app,
            &with(
                Some("https://auth.example"),
                Some(json!(["other", "exsvc"]))
            )
        )
        .await
        .0,
        StatusCode::OK
    );
    for (what, token) in [
        (
            "wrong iss",
            with(Some("https://evil.example"), Some(json!("exsvc"))),
        ),
        ("missing iss", with(None, Some(json!("exsvc")))),
        (
            "wrong aud",
            with(Some("https://auth.example"), Some(json!("other"))),
        ),
        ("missing aud", with(Some("https://auth.example"), None)),
    ] {
        assert_refused(&app, &token, what).await;
    }
}

#[tokio::test]
async fn malformed_tokens() {
    let app = app().await;
    let good = sign(claims());
    let (head, rest) = good.split_once('.').unwrap();
    let (payload, signature) = rest.split_once('.').unwrap();
    let cases = [
        ("two segments", format!("{head}.{payload}")),
        ("four segments", format!("{good}.{signature}")),
        ("bad base64", format!("{head}.{payload}!!.{signature}")),
        (
            "non-JSON header",
            format!(
                "{}.{payload}.{signature}",
                URL_SAFE_NO_PAD.encode("not json")
            ),
        ),
        (
            "non-JSON payload",
            format!("{head}.{}.{signature}", URL_SAFE_NO_PAD.encode("not json")),
        ),
        (
            "JSON array payload",
            format!("{head}.{}.{signature}", URL_SAFE_NO_PAD.encode("[1,2]")),
        ),
        (
            "16 KB",
            format!("{head}.{}.{signature}", "A".repeat(16 * 1024)),
        ),
        ("empty segments", "..".to_owned()),
    ];
    for (what, token) in cases {
        assert_refused(&app, &token, what).await;
    }
    // The secret itself as a token.
    assert_refused(&app, TEST_SECRET, "the secret").await;
}
