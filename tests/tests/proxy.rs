//! The credential-injecting proxy end to end (docs/api.md §10.2, §10.3): the
//! real app, a real HTTPS upstream on 127.0.0.1 with a CA made for the test,
//! nothing mocked.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Test helpers fail the test loudly.

use std::time::{Duration, Instant};

use exsvc_testkit::egress::LocalEgress;
use exsvc_testkit::net::{closed_port, Reply, UpstreamServer};
use exsvc_testkit::tokens::{admin, with_permissions};
use exsvc_testkit::{ApiClient, TestApp, TestOptions};
use reqwest::Method;
use serde_json::{json, Value};

const CANARY: &str = "CANARY-proxy-5d2c7a-secret";

/// A service at `base_url` with `credential`, created by the tenant's admin.
async fn service_at(api: &ApiClient<'_>, base_url: &str, credential: Value) -> String {
    let id = api
        .new_service(&json!({"name": format!("svc-{}", uuid::Uuid::now_v7()), "type": "payment", "base_url": base_url}))
        .await;
    api.put_credentials(&id, &credential)
        .await
        .expect_status(201);
    id
}

fn bearer(token: &str) -> Value {
    json!({"auth_type": "bearer", "credentials": {"token": token}})
}

#[tokio::test]
async fn each_auth_type_is_injected_where_it_belongs() {
    let egress = LocalEgress::new();
    let upstream = UpstreamServer::https(&egress.ca).await;
    let app = TestApp::spawn_with(egress.options()).await;
    let api = app.api(admin("acme"));
    let base = upstream.base_url();
    let cases = [
        (
            json!({"auth_type": "api_key", "credentials": {"key": "k-1"}}),
            ("x-api-key", "k-1"),
        ),
        (
            json!({"auth_type": "api_key", "credentials": {"key": "k-2", "header_name": "X-Token"}}),
            ("x-token", "k-2"),
        ),
        (
            json!({"auth_type": "basic", "credentials": {"username": "ada", "password": "p@ss:1"}}),
            ("authorization", "Basic YWRhOnBAc3M6MQ=="),
        ),
        (bearer("t-3"), ("authorization", "Bearer t-3")),
    ];
    for (n, (credential, (header, value))) in cases.into_iter().enumerate() {
        let id = service_at(&api, &base, credential).await;
        api.proxy(Method::GET, &id, "v1/ping")
            .await
            .expect_status(200);
        let seen = &upstream.requests()[n];
        assert_eq!(seen.header(header), Some(value), "{seen:?}");
        assert_eq!(seen.target, "/v1/ping");
    }
    // A query parameter key goes in the query, and wins over the caller's.
    let id = service_at(
        &api,
        &base,
        json!({"auth_type": "api_key", "credentials": {"key": "k&5", "query_param": "api_key"}}),
    )
    .await;
    api.proxy(Method::GET, &id, "q?api_key=mine&x=1")
        .await
        .expect_status(200);
    let seen = upstream.requests().pop().unwrap();
    assert_eq!(seen.target, "/q?x=1&api_key=k%265");
    assert_eq!(seen.header("x-api-key"), None);
}

#[tokio::test]
async fn the_callers_credentials_and_hop_by_hop_headers_never_arrive() {
    let egress = LocalEgress::new();
    let upstream = UpstreamServer::https(&egress.ca).await;
    upstream.set_default(
        Reply::text(201, "made")
            .header("set-cookie", "upstream=1")
            .header("x-upstream", "yes")
            .header("connection", "x-hop")
            .header("x-hop", "1"),
    );
    let app = TestApp::spawn_with(egress.options()).await;
    let api = app.api(admin("acme"));
    let id = service_at(&api, &upstream.base_url(), bearer(CANARY)).await;
    let answer = api
        .proxy(Method::POST, &id, "charges")
        .header("cookie", "session=caller")
        .header("x-forwarded-for", "1.2.3.4")
        .header("forwarded", "for=1.2.3.4")
        .header("connection", "x-private")
        .header("x-private", "hop")
        .header("proxy-authorization", "Basic eDp5")
        .header("x-request-id", "req-proxy-1")
        .header("x-caller", "kept")
        .body("application/json", r#"{"amount":100}"#)
        .await
        .expect_status(201);
    assert_eq!(answer.text, "made");
    assert_eq!(answer.header("x-upstream"), Some("yes"));
    assert_eq!(answer.header("set-cookie"), None);
    assert_eq!(answer.header("x-hop"), None);
    assert_eq!(
        answer.header("proxy-status"),
        Some("exsvc; received-status=201")
    );
    assert!(!answer.text.contains(CANARY));
    let seen = upstream.requests().pop().unwrap();
    // The caller's JWT is not forwarded: the credential's token replaces it.
    assert_eq!(
        seen.header_all("authorization"),
        [format!("Bearer {CANARY}")]
    );
    for gone in [
        "cookie",
        "x-forwarded-for",
        "forwarded",
        "x-private",
        "proxy-authorization",
    ] {
        assert_eq!(seen.header(gone), None, "{gone} arrived: {seen:?}");
    }
    assert_eq!(seen.header("x-request-id"), Some("req-proxy-1"));
    assert_eq!(seen.header("x-caller"), Some("kept"));
    assert_eq!(seen.header("content-type"), Some("application/json"));
    assert_eq!(
        seen.header("host"),
        Some(format!("127.0.0.1:{}", upstream.port()).as_str())
    );
    assert_eq!(seen.body_text(), r#"{"amount":100}"#);
}

#[tokio::test]
async fn path_and_query_are_joined_to_a_base_url_with_a_path() {
    let egress = LocalEgress::new();
    let upstream = UpstreamServer::https(&egress.ca).await;
    let app = TestApp::spawn_with(egress.options()).await;
    let api = app.api(admin("acme"));
    let base = format!("{}/api%20v2/x?region=eu", upstream.base_url());
    let id = service_at(&api, &base, bearer("t")).await;
    api.proxy(Method::GET, &id, "items/a%2Fb/caf%C3%A9?q=a%20b&q=2")
        .await
        .expect_status(200);
    let seen = upstream.requests().pop().unwrap();
    assert_eq!(
        seen.target,
        "/api%20v2/x/items/a%2Fb/caf%C3%A9?region=eu&q=a%20b&q=2"
    );
    // A dot segment would leave the base path: refused, nothing sent. (Sent
    // over a raw socket: an HTTP client's URL parser would remove it first.)
    for path in [
        "a/../b",
        "a/%2e%2e/b",
        "%2E%2e",
        "./x",
        "a\\..\\..\\admin",
        "a%5c..%5C..%5cadmin",
    ] {
        let head = raw_get(&app, &format!("/api/v1/services/{id}/proxy/{path}")).await;
        assert!(head.starts_with("HTTP/1.1 400"), "{path}: {head}");
        assert!(head.contains("VALIDATION_ERROR"), "{path}: {head}");
    }
    assert_eq!(upstream.request_count(), 1);
}

/// A GET of `target` exactly as written, over a socket of its own; the answer
/// as text.
async fn raw_get(app: &TestApp, target: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let authority = app.address.trim_start_matches("http://");
    let mut socket = tokio::net::TcpStream::connect(authority).await.unwrap();
    let request = format!(
        "GET {target} HTTP/1.1\r\nHost: {authority}\r\nAuthorization: Bearer {}\r\nConnection: close\r\n\r\n",
        admin("acme")
    );
    socket.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    socket.read_to_end(&mut answer).await.unwrap();
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn a_redirect_is_passed_back_not_followed() {
    let egress = LocalEgress::new();
    let upstream = UpstreamServer::https(&egress.ca).await;
    upstream.push(Reply::redirect(302, "https://elsewhere.example/next"));
    let app = TestApp::spawn_with(egress.options()).await;
    let api = app.api(admin("acme"));
    let id = service_at(&api, &upstream.base_url(), bearer("t")).await;
    // Asked without following redirects itself, the caller sees the 302.
    let no_follow = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let answer = no_follow
        .get(app.url(&format!("/api/v1/services/{id}/proxy/start")))
        .bearer_auth(admin("acme"))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 302);
    assert_eq!(
        answer.headers()["location"],
        "https://elsewhere.example/next"
    );
    assert_eq!(
        answer.headers()["proxy-status"],
        "exsvc; received-status=302"
    );
    assert_eq!(upstream.request_count(), 1, "exsvc did not follow it");
}

#[tokio::test]
async fn an_upstream_error_passes_through_unchanged() {
    let egress = LocalEgress::new();
    let upstream = UpstreamServer::https(&egress.ca).await;
    upstream.set_default(
        Reply::text(404, "<html>no such charge</html>").header("content-type", "text/html"),
    );
    let app = TestApp::spawn_with(egress.options()).await;
    let api = app.api(admin("acme"));
    let id = service_at(&api, &upstream.base_url(), bearer("t")).await;
    let answer = api
        .proxy(Method::GET, &id, "charges/none")
        .await
        .expect_status(404);
    assert_eq!(answer.text, "<html>no such charge</html>");
    assert_eq!(
        answer.header("proxy-status"),
        Some("exsvc; received-status=404")
    );
}

#[tokio::test]
async fn a_large_body_streams_both_ways() {
    let egress = LocalEgress::new();
    let upstream = UpstreamServer::https(&egress.ca).await;
    let app = TestApp::spawn_with(egress.options()).await;
    let api = app.api(admin("acme"));
    let id = service_at(&api, &upstream.base_url(), bearer("t")).await;
    // 10 MiB up, the limit exactly.
    let upload = vec![7u8; 10 << 20];
    api.proxy(Method::PUT, &id, "blob")
        .body("application/octet-stream", upload.clone())
        .await
        .expect_status(200);
    let seen = upstream.requests().pop().unwrap();
    assert_eq!(seen.body_len, 10 << 20);
    use sha2::Digest;
    assert_eq!(seen.body_sha256, sha2::Sha256::digest(&upload).to_vec());
    // One byte more: 413, and nothing more arrives.
    let too_big = vec![7u8; (10 << 20) + 1];
    api.proxy(Method::PUT, &id, "blob")
        .body("application/octet-stream", too_big)
        .await
        .expect_error(413, "PAYLOAD_TOO_LARGE");
    assert_eq!(upstream.request_count(), 1);
    // 10 MiB down, byte for byte.
    upstream.push(Reply::stream_mib(10));
    let answer = app
        .client
        .get(app.url(&format!("/api/v1/services/{id}/proxy/download")))
        .bearer_auth(admin("acme"))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    let body = answer.bytes().await.unwrap();
    assert_eq!(body.len(), 10 << 20);
    assert!(body
        .iter()
        .enumerate()
        .all(|(k, b)| *b == exsvc_testkit::net::stream_byte(k as u64)));
}

#[tokio::test]
async fn a_custom_credential_cannot_be_proxied() {
    let egress = LocalEgress::new();
    let upstream = UpstreamServer::https(&egress.ca).await;
    let app = TestApp::spawn_with(egress.options()).await;
    let api = app.api(admin("acme"));
    let id = service_at(
        &api,
        &upstream.base_url(),
        json!({"auth_type": "custom", "credentials": {"anything": CANARY}}),
    )
    .await;
    let refusal = api.proxy(Method::GET, &id, "x").await;
    assert_eq!(refusal.header("proxy-status"), Some("exsvc"));
    refusal.expect_error(422, "UNSUPPORTED_AUTH_TYPE");
    assert_eq!(upstream.connections(), 0);
    // And a service without a credential is 404 CREDENTIALS_NOT_FOUND.
    let bare = api
        .new_service(&json!({"name": "bare", "type": "x", "base_url": upstream.base_url()}))
        .await;
    api.proxy(Method::GET, &bare, "x")
        .await
        .expect_error(404, "CREDENTIALS_NOT_FOUND");
}

#[tokio::test]
async fn private_destinations_are_refused_without_a_connection() {
    let egress = LocalEgress::new();
    let upstream = UpstreamServer::https(&egress.ca).await;
    let app = TestApp::spawn_with(egress.options_without_allow_list()).await;
    let api = app.api(admin("acme"));
    let port = upstream.port();
    for base in [
        format!("https://127.0.0.1:{port}"),
        format!("https://localhost:{port}"),
        format!("https://[::1]:{port}"),
        format!("https://[::ffff:127.0.0.1]:{port}"),
        format!("https://[::ffff:7f00:1]:{port}"),
        format!("https://[64:ff9b::7f00:1]:{port}"),
        "https://10.1.2.3".to_owned(),
        "https://169.254.169.254/latest/meta-data".to_owned(),
        "https://192.168.0.1".to_owned(),
    ] {
        let id = service_at(&api, &base, bearer(CANARY)).await;
        let refusal = api.proxy(Method::GET, &id, "x").await;
        assert_eq!(
            refusal.header("proxy-status"),
            Some("exsvc; error=destination_ip_prohibited"),
            "{base}"
        );
        let body = refusal.expect_error(403, "EGRESS_DENIED");
        assert!(!body.to_string().contains(CANARY));
    }
    assert_eq!(
        upstream.connections(),
        0,
        "a refused destination was contacted"
    );
}

#[tokio::test]
async fn an_untrusted_certificate_is_a_tls_error() {
    let egress = LocalEgress::new();
    let untrusted = UpstreamServer::untrusted().await;
    let app = TestApp::spawn_with(egress.options()).await;
    let api = app.api(admin("acme"));
    let id = service_at(&api, &untrusted.base_url(), bearer(CANARY)).await;
    let refusal = api.proxy(Method::GET, &id, "x").await;
    assert_eq!(
        refusal.header("proxy-status"),
        Some("exsvc; error=tls_certificate_error")
    );
    refusal.expect_error(502, "UPSTREAM_ERROR");
    assert_eq!(
        untrusted.request_count(),
        0,
        "no request went over an untrusted connection"
    );
}

#[tokio::test]
async fn a_closed_port_is_connection_refused() {
    let egress = LocalEgress::new();
    let app = TestApp::spawn_with(egress.options()).await;
    let api = app.api(admin("acme"));
    let id = service_at(
        &api,
        &format!("https://127.0.0.1:{}", closed_port()),
        bearer("t"),
    )
    .await;
    let refusal = api.proxy(Method::GET, &id, "x").await;
    assert_eq!(
        refusal.header("proxy-status"),
        Some("exsvc; error=connection_refused")
    );
    refusal.expect_error(502, "UPSTREAM_ERROR");
}

#[tokio::test]
async fn idempotent_requests_are_retried_after_503_and_posts_are_sent_once() {
    let egress = LocalEgress::new();
    let upstream = UpstreamServer::https(&egress.ca).await;
    let app = TestApp::spawn_with(egress.options()).await;
    let api = app.api(admin("acme"));
    let id = service_at(&api, &upstream.base_url(), bearer("t")).await;
    upstream.push_all([
        Reply::status(503),
        Reply::status(503),
        Reply::text(200, "ok"),
    ]);
    let answer = api
        .proxy(Method::GET, &id, "flaky")
        .await
        .expect_status(200);
    assert_eq!(answer.text, "ok");
    assert_eq!(upstream.request_count(), 3);

    upstream.push_all([
        Reply::status(503),
        Reply::status(503),
        Reply::text(200, "ok"),
    ]);
    api.proxy(Method::POST, &id, "flaky")
        .body("application/json", "{}")
        .await
        .expect_status(503);
    assert_eq!(upstream.request_count(), 4, "a POST is sent once");
}

#[tokio::test]
async fn a_hung_upstream_is_answered_504_within_the_timeout() {
    let egress = LocalEgress::new();
    let upstream = UpstreamServer::https(&egress.ca).await;
    upstream.set_default(Reply::hang());
    let app = TestApp::spawn_with(TestOptions {
        egress_response_timeout: Duration::from_secs(1),
        ..egress.options()
    })
    .await;
    let api = app.api(admin("acme"));
    let id = service_at(&api, &upstream.base_url(), bearer("t")).await;
    let started = Instant::now();
    let refusal = api.proxy(Method::GET, &id, "slow").await;
    let waited = started.elapsed();
    assert_eq!(
        refusal.header("proxy-status"),
        Some("exsvc; error=http_response_timeout")
    );
    refusal.expect_error(504, "UPSTREAM_TIMEOUT");
    assert!(waited < Duration::from_secs(2), "answered after {waited:?}");
    // Never retried after a timeout.
    assert_eq!(upstream.request_count(), 1);
}

#[tokio::test]
async fn five_failures_open_the_circuit_and_a_trial_closes_it() {
    let egress = LocalEgress::new();
    let upstream = UpstreamServer::https(&egress.ca).await;
    let app = TestApp::spawn_with(TestOptions {
        egress_retries: 0,
        egress_breaker_failures: 5,
        egress_breaker_open: Duration::from_secs(1),
        ..egress.options()
    })
    .await;
    let api = app.api(admin("acme"));
    let id = service_at(&api, &upstream.base_url(), bearer("t")).await;
    upstream.set_default(Reply::status(500));
    for _ in 0..5 {
        api.proxy(Method::GET, &id, "x").await.expect_status(500);
    }
    assert_eq!(upstream.request_count(), 5);
    let open = api.proxy(Method::GET, &id, "x").await;
    assert!(open.header("retry-after").is_some());
    assert_eq!(
        open.header("proxy-status"),
        Some("exsvc; error=destination_unavailable")
    );
    open.expect_error(503, "UPSTREAM_UNAVAILABLE");
    assert_eq!(
        upstream.request_count(),
        5,
        "an open circuit contacts nobody"
    );
    // Another service of the tenant has its own circuit.
    let other = service_at(&api, &upstream.base_url(), bearer("t")).await;
    upstream.set_default(Reply::text(200, "fine"));
    api.proxy(Method::GET, &other, "x").await.expect_status(200);
    // After the open time, one trial goes through; its success closes it.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    api.proxy(Method::GET, &id, "x").await.expect_status(200);
    api.proxy(Method::GET, &id, "x").await.expect_status(200);
    assert_eq!(upstream.request_count(), 8);
}

#[tokio::test]
async fn each_use_is_audited_with_its_outcome_and_use_does_not_reveal() {
    let egress = LocalEgress::new();
    let upstream = UpstreamServer::https(&egress.ca).await;
    upstream.set_default(Reply::text(202, "accepted"));
    let app = TestApp::spawn_with(egress.options()).await;
    let api = app.api(admin("acme"));
    let id = service_at(&api, &upstream.base_url(), bearer(CANARY)).await;
    let worker = app.api(with_permissions("acme", &["external-service:use"]));
    worker
        .proxy(Method::GET, &id, "a?secret=query")
        .await
        .expect_status(202);
    worker
        .proxy(Method::DELETE, &id, "b")
        .await
        .expect_status(202);
    // `use` proxies but does not reveal.
    worker.reveal(&id).await.expect_error(403, "FORBIDDEN");
    let events = api.completed_uses(&id, 2).await;
    let mut seen: Vec<(String, String, i64)> = events
        .iter()
        .map(|e| {
            assert_eq!(e["outcome"], "success");
            assert_eq!(e["credential_version"], 1);
            assert_eq!(e["details"]["kind"], "proxy");
            assert!(e["details"]["latency_ms"].as_i64().unwrap() >= 0);
            (
                e["details"]["method"].as_str().unwrap().to_owned(),
                e["details"]["path"].as_str().unwrap().to_owned(),
                e["details"]["upstream_status"].as_i64().unwrap(),
            )
        })
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        [
            ("DELETE".to_owned(), "/b".to_owned(), 202),
            ("GET".to_owned(), "/a".to_owned(), 202)
        ]
    );
    // A caller without `use` is refused, and the refusal recorded.
    app.api(with_permissions("acme", &["external-service:read"]))
        .proxy(Method::GET, &id, "a")
        .await
        .expect_error(403, "FORBIDDEN");
    let denied = api
        .audit(&format!("service_id={id}&action=credentials.use"))
        .await
        .into_json();
    assert!(denied["events"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["outcome"] == "denied"));
    // Another tenant's service does not exist for the caller.
    app.api(with_permissions("other", &["external-service:use"]))
        .proxy(Method::GET, &id, "a")
        .await
        .expect_error(404, "SERVICE_NOT_FOUND");
    // The secret is in no answer and no metric.
    let metrics = app.anonymous().get("/metrics").await.expect_status(200);
    assert!(!metrics.text.contains(CANARY));
    assert!(
        metrics.text.contains("exsvc_egress_requests_total"),
        "{}",
        metrics.text
    );
    let trail = api.audit("").await.expect_status(200);
    assert!(!trail.text.contains(CANARY));
    assert!(
        !trail.text.contains("secret=query"),
        "the query is not audited"
    );
}

#[tokio::test]
async fn head_keeps_the_upstreams_length_and_every_answer_names_exsvc() {
    let egress = LocalEgress::new();
    let upstream = UpstreamServer::https(&egress.ca).await;
    upstream.set_default(Reply::text(200, "twelve bytes"));
    let app = TestApp::spawn_with(egress.options()).await;
    let api = app.api(admin("acme"));
    let id = service_at(&api, &upstream.base_url(), bearer("t")).await;
    let head = app
        .client
        .head(app.url(&format!("/api/v1/services/{id}/proxy/doc")))
        .bearer_auth(admin("acme"))
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(head.headers()["content-length"], "12");
    assert_eq!(upstream.requests().pop().unwrap().method, "HEAD");
    upstream.push(Reply::status(204));
    let empty = api
        .proxy(Method::DELETE, &id, "doc")
        .await
        .expect_status(204);
    assert_eq!(
        empty.header("proxy-status"),
        Some("exsvc; received-status=204")
    );
    // Answers given before the proxy's handler runs carry it too.
    let unauthenticated = app.anonymous().proxy(Method::GET, &id, "doc").await;
    assert_eq!(unauthenticated.header("proxy-status"), Some("exsvc"));
    unauthenticated.expect_error(401, "UNAUTHORIZED");
    let not_allowed = api.proxy(Method::TRACE, &id, "doc").await;
    assert_eq!(not_allowed.header("proxy-status"), Some("exsvc"));
    not_allowed.expect_error(405, "METHOD_NOT_ALLOWED");
}

#[tokio::test]
async fn a_chunked_body_over_the_limit_is_413_and_does_not_count_against_the_upstream() {
    let egress = LocalEgress::new();
    let upstream = UpstreamServer::https(&egress.ca).await;
    let app = TestApp::spawn_with(TestOptions {
        proxy_max_body_bytes: 256 * 1024,
        egress_breaker_failures: 1,
        ..egress.options()
    })
    .await;
    let api = app.api(admin("acme"));
    let id = service_at(&api, &upstream.base_url(), bearer("t")).await;
    // No Content-Length: chunked, 64 KiB at a time, 512 KiB in all.
    let chunks = (0..8).map(|_| Ok::<_, std::io::Error>(vec![b'x'; 64 * 1024]));
    let body = reqwest::Body::wrap_stream(futures_util::stream::iter(chunks));
    api.proxy(Method::PUT, &id, "blob")
        .body("application/octet-stream", body)
        .await
        .expect_error(413, "PAYLOAD_TOO_LARGE");
    // The caller's body failed, not the upstream: its circuit stays closed.
    api.proxy(Method::GET, &id, "after")
        .await
        .expect_status(200);
}
