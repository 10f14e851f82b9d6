//! docs/api.md §4.5: two replicas of the real binary on one PostgreSQL. A
//! binding made, changed or deleted on one takes effect on the other within
//! 2 s, although each decides from its own copy of the bindings.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Test helpers fail the test loudly.

mod support;

use std::time::{Duration, Instant};

use exsvc_testkit::tokens::{admin, client, TEST_SECRET};
use exsvc_testkit::TestDatabase;
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};
use support::{Scratch, Server};

const PROPAGATION_LIMIT: Duration = Duration::from_secs(2);

struct Api {
    http: Client,
}

impl Api {
    async fn send(
        &self,
        server: &Server,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self
            .http
            .request(method, server.url(path))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// How long until `path` answers `want` on `server` for `token`; panics
    /// past twice the limit.
    async fn time_until(
        &self,
        server: &Server,
        path: &str,
        token: &str,
        want: StatusCode,
    ) -> Duration {
        let started = Instant::now();
        loop {
            let (status, _) = self
                .send(server, reqwest::Method::GET, path, token, None)
                .await;
            if status == want {
                return started.elapsed();
            }
            assert!(
                started.elapsed() < 2 * PROPAGATION_LIMIT,
                "{path} still {status}, not {want}"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_binding_change_on_one_replica_holds_on_the_other_within_two_seconds() {
    let db = TestDatabase::empty().await;
    // One data directory: both replicas use the master key development mode keeps there.
    let dir = Scratch::new("exsvc-replicas");
    let vars = [
        ("EXSVC_DATABASE_URL", db.url.as_str()),
        ("EXSVC_JWT_SECRET", TEST_SECRET),
        ("EXSVC_RATE_LIMIT_PER_MINUTE", "10000000"),
    ];
    let a = Server::start(&dir.0, &vars).await;
    let b = Server::start(&dir.0, &vars).await;
    let api = Api {
        http: Client::new(),
    };
    let root = admin("acme");
    let post = reqwest::Method::POST;

    let (status, stripe) = api
        .send(
            &a,
            post.clone(),
            "/api/v1/services",
            &root,
            Some(json!({
                "name": "Stripe", "type": "payment", "base_url": "https://api.stripe.com",
                "auth_type": "api_key", "credentials": {"key": "sk_1"}
            })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let secret = format!(
        "/api/v1/services/{}/credentials",
        stripe["id"].as_str().unwrap()
    );
    let (status, _) = api
        .send(
            &a,
            post.clone(),
            "/api/v1/roles",
            &root,
            Some(json!({
                "name": "billing-reader",
                "permissions": ["external-service:read", "external-service:credentials"],
                "services": {"types": ["payment"]}
            })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let bind = |who: &str| json!({"role": "billing-reader", "subject": {"type": "client_id", "value": who}});
    let (status, binding) = api
        .send(
            &a,
            post.clone(),
            "/api/v1/role-bindings",
            &root,
            Some(bind("w1")),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);

    // B loads the tenant's bindings now and decides from its copy afterwards.
    let w1 = client("acme", "w1");
    let w2 = client("acme", "w2");
    assert_eq!(
        api.send(&b, reqwest::Method::GET, &secret, &w1, None)
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(
        api.send(&b, reqwest::Method::GET, &secret, &w2, None)
            .await
            .0,
        StatusCode::FORBIDDEN
    );

    // A binding made on A reaches B's copy.
    let (status, _) = api
        .send(
            &a,
            post.clone(),
            "/api/v1/role-bindings",
            &root,
            Some(bind("w2")),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let granted = api.time_until(&b, &secret, &w2, StatusCode::OK).await;

    // A binding deleted on A stops granting on B.
    let (status, _) = api
        .send(
            &a,
            reqwest::Method::DELETE,
            &format!("/api/v1/role-bindings/{}", binding["id"].as_str().unwrap()),
            &root,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let revoked = api
        .time_until(&b, &secret, &w1, StatusCode::FORBIDDEN)
        .await;

    // A role narrowed on A narrows on B: w2 keeps read, loses the secret.
    let (status, _) = api
        .send(
            &a,
            reqwest::Method::PUT,
            "/api/v1/roles/billing-reader",
            &root,
            Some(json!({
                "permissions": ["external-service:read"], "services": {"types": ["payment"]}
            })),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let narrowed = api
        .time_until(&b, &secret, &w2, StatusCode::FORBIDDEN)
        .await;
    println!("propagation to the other replica: grant {granted:?}, revoke {revoked:?}, narrow {narrowed:?}");
    for (what, took) in [
        ("grant", granted),
        ("revoke", revoked),
        ("narrow", narrowed),
    ] {
        assert!(took < PROPAGATION_LIMIT, "{what} took {took:?}");
    }
    a.stop().await;
    b.stop().await;
}
