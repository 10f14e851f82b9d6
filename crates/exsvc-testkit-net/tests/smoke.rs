//! The test peers answer what they are told, over real TLS.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use exsvc_testkit_net::{
    closed_port, Reply, TestCa, TokenAuth, TokenEndpoint, TokenEndpointConfig, UpstreamServer,
};

fn client(ca: &TestCa) -> reqwest::Client {
    reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(ca.ca_pem().as_bytes()).unwrap())
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

#[tokio::test]
async fn upstream_records_requests_and_follows_its_script() {
    let ca = TestCa::new();
    let upstream = UpstreamServer::https(&ca).await;
    upstream.push_all([Reply::status(503), Reply::status(503)]);
    upstream.push(Reply::json(200, &serde_json::json!({"ok": true})));
    let client = client(&ca);
    let mut statuses = Vec::new();
    for _ in 0..3 {
        let response = client
            .get(upstream.url("/a/b?x=1&x=2"))
            .header("x-dup", "one")
            .header("x-dup", "two")
            .send()
            .await
            .unwrap();
        statuses.push(response.status().as_u16());
    }
    assert_eq!(statuses, [503, 503, 200]);
    let requests = upstream.requests();
    assert_eq!(requests.len(), 3);
    assert_eq!(requests[0].method, "GET");
    assert_eq!(requests[0].target, "/a/b?x=1&x=2");
    assert_eq!(requests[0].header_all("X-Dup"), ["one", "two"]);
    assert_eq!(upstream.connections(), 1, "keep-alive");
    // The default once the script is spent.
    let response = client.get(upstream.url("/")).send().await.unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn localhost_and_ipv6_names_are_in_the_certificate() {
    let ca = TestCa::new();
    let upstream = UpstreamServer::https(&ca).await;
    let client = client(&ca);
    let url = format!("https://localhost:{}/", upstream.port());
    assert_eq!(client.get(url).send().await.unwrap().status(), 200);
}

#[tokio::test]
async fn an_untrusted_server_fails_the_handshake_but_counts_the_connection() {
    let ca = TestCa::new();
    let upstream = UpstreamServer::untrusted().await;
    let result = client(&ca).get(upstream.url("/")).send().await;
    assert!(result.is_err());
    assert_eq!(upstream.connections(), 1);
    assert_eq!(upstream.request_count(), 0);
}

#[tokio::test]
async fn streams_redirects_echo_hang_and_delay() {
    let ca = TestCa::new();
    let upstream = UpstreamServer::https(&ca).await;
    let client = client(&ca);

    upstream.push(Reply::stream_mib(3));
    let body = client
        .get(upstream.url("/big"))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(body.len(), 3 << 20);
    assert!(body
        .iter()
        .enumerate()
        .all(|(k, b)| *b == exsvc_testkit_net::stream_byte(k as u64)));

    upstream.push(Reply::redirect(302, "https://example.com/"));
    let response = client.get(upstream.url("/r")).send().await.unwrap();
    assert_eq!(response.status(), 302);
    assert_eq!(response.headers()["location"], "https://example.com/");

    upstream.push(Reply::echo());
    let response = client
        .post(upstream.url("/e?q"))
        .body("hello")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-echo-target"], "/e?q");
    assert_eq!(response.text().await.unwrap(), "hello");

    upstream.push(Reply::status(204).after(Duration::from_millis(200)));
    let started = std::time::Instant::now();
    let response = client.get(upstream.url("/slow")).send().await.unwrap();
    assert_eq!(response.status(), 204);
    assert!(started.elapsed() >= Duration::from_millis(200));

    upstream.push(Reply::hang());
    let hung = tokio::time::timeout(
        Duration::from_millis(300),
        client.get(upstream.url("/hang")).send(),
    )
    .await;
    assert!(hung.is_err(), "a hung upstream never answers");
    assert_eq!(upstream.requests().last().unwrap().target, "/hang");
}

#[tokio::test]
async fn plain_http_and_a_closed_port() {
    let upstream = UpstreamServer::http().await;
    let client = reqwest::Client::new();
    assert!(upstream.base_url().starts_with("http://127.0.0.1:"));
    assert_eq!(
        client.get(upstream.url("/")).send().await.unwrap().status(),
        200
    );
    let closed = format!("http://127.0.0.1:{}/", closed_port());
    assert!(client.get(closed).send().await.unwrap_err().is_connect());
}

#[tokio::test]
async fn token_endpoint_checks_both_client_authentications() {
    let ca = TestCa::new();
    let client = client(&ca);
    let endpoint = TokenEndpoint::start(
        &ca,
        TokenEndpointConfig {
            client_id: "id:1".into(),
            client_secret: "p@ss word".into(),
            ..TokenEndpointConfig::default()
        },
    )
    .await;
    // Basic: the form-urlencoded id and secret (RFC 6749 §2.3.1).
    let response = client
        .post(endpoint.url())
        .basic_auth("id%3A1", Some("p%40ss+word"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials&scope=a+b")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let token: serde_json::Value = response.json().await.unwrap();
    assert_eq!(token["access_token"], "tok-1");
    assert_eq!(token["expires_in"], 3600);
    assert_eq!(token["scope"], "a b");
    assert_eq!(endpoint.requests()[0].form_value("scope"), Some("a b"));

    let response = client
        .post(endpoint.url())
        .basic_auth("id%3A1", Some("wrong"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(
        response.json::<serde_json::Value>().await.unwrap()["error"],
        "invalid_client"
    );

    endpoint.configure(|c| c.auth = TokenAuth::Post);
    let response = client
        .post(endpoint.url())
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials&client_id=id%3A1&client_secret=p%40ss+word")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.json::<serde_json::Value>().await.unwrap()["access_token"],
        "tok-2"
    );

    endpoint.fail_next(503, r#"{"error":"temporarily_unavailable"}"#);
    let response = client
        .post(endpoint.url())
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials&client_id=id%3A1&client_secret=p%40ss+word")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    assert_eq!(endpoint.request_count(), 4);
}
