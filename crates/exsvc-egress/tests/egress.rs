//! `Egress` over real sockets on 127.0.0.1 (docs/api.md §10.3).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use exsvc_domain::ports::{EgressError, OutboundBody};
use exsvc_egress::{CircuitState, EgressSettings};
use exsvc_testkit_net::{closed_port, Reply, TestCa, UpstreamServer};
use futures_util::StreamExt;

#[tokio::test]
async fn non_public_destinations_are_denied_without_a_connection() {
    let ca = TestCa::new();
    let upstream = UpstreamServer::https(&ca).await;
    let port = upstream.port();
    let (egress, registry) = egress(EgressSettings {
        extra_roots_pem: Some(ca.ca_pem().into_bytes()),
        ..EgressSettings::default()
    });
    for url in [
        format!("https://127.0.0.1:{port}/"),
        format!("https://localhost:{port}/"),
        format!("https://[::1]:{port}/"),
        format!("https://[::ffff:127.0.0.1]:{port}/"),
        format!("https://[64:ff9b::7f00:1]:{port}/"),
        format!("https://0x7f.1:{port}/"),
        "https://10.0.0.1/".to_owned(),
        "https://169.254.169.254/latest/meta-data/".to_owned(),
    ] {
        let error = send(&egress, request("GET", &url)).await.unwrap_err();
        assert!(
            matches!(error, EgressError::Denied { .. }),
            "{url}: {error:?}"
        );
        assert_eq!(error.proxy_status_type(), "destination_ip_prohibited");
    }
    assert_eq!(upstream.connections(), 0);
    assert_eq!(
        metric(
            &registry,
            "exsvc_egress_requests_total",
            &[("outcome", "denied")]
        ),
        8.0
    );
}

#[tokio::test]
async fn a_denial_names_the_host_but_never_the_url() {
    let (egress, _) = egress(EgressSettings::default());
    let error = send(
        &egress,
        request("GET", "https://127.0.0.1/p?api_key=CANARY-KEY"),
    )
    .await
    .unwrap_err();
    let text = format!("{error} {error:?}");
    assert!(text.contains("127.0.0.1"), "{text}");
    assert!(!text.contains("CANARY") && !text.contains("/p"), "{text}");
}

#[tokio::test]
async fn http_is_refused_unless_allowed() {
    let upstream = UpstreamServer::http().await;
    let (strict, _) = egress(EgressSettings {
        allow_cidrs: loopback(),
        ..EgressSettings::default()
    });
    let error = send(&strict, request("GET", &upstream.url("/")))
        .await
        .unwrap_err();
    assert!(matches!(error, EgressError::Denied { .. }), "{error:?}");
    assert_eq!(upstream.connections(), 0);

    let (lax, _) = egress(EgressSettings {
        allow_cidrs: loopback(),
        allow_http: true,
        ..EgressSettings::default()
    });
    let response = send(&lax, request("GET", &upstream.url("/")))
        .await
        .unwrap();
    assert_eq!(response.status, 200);
}

#[tokio::test]
async fn a_request_arrives_as_given() {
    let ca = TestCa::new();
    let upstream = UpstreamServer::https(&ca).await;
    upstream.push(Reply::json(201, &serde_json::json!({"ok": true})).header("x-up", "1"));
    let (egress, registry) = egress(settings(&ca));
    let mut request = request("PUT", &upstream.url("/v1/items/7?a=1&b=%20x"));
    request
        .headers
        .append("x-api-key", "secret-key".parse().unwrap());
    request.headers.append("x-dup", "one".parse().unwrap());
    request.headers.append("x-dup", "two".parse().unwrap());
    request
        .headers
        .append("content-type", "application/json".parse().unwrap());
    request.body = OutboundBody::Full(bytes::Bytes::from_static(b"{\"n\":1}"));
    let response = send(&egress, request).await.unwrap();
    assert_eq!(response.status, 201);
    assert_eq!(response.headers["x-up"], "1");
    assert_eq!(body_len(response).await, 11);
    let received = &upstream.requests()[0];
    assert_eq!(received.method, "PUT");
    assert_eq!(received.target, "/v1/items/7?a=1&b=%20x");
    assert_eq!(received.header("x-api-key"), Some("secret-key"));
    assert_eq!(received.header_all("x-dup"), ["one", "two"]);
    assert_eq!(received.header("content-length"), Some("7"));
    assert_eq!(received.body_text(), "{\"n\":1}");
    assert_eq!(
        metric(
            &registry,
            "exsvc_egress_requests_total",
            &[("outcome", "answered"), ("status_class", "2xx")]
        ),
        1.0
    );
    assert_eq!(
        metric(
            &registry,
            "exsvc_egress_request_duration_seconds_count",
            &[]
        ),
        1.0
    );
    let text = metrics_text(&registry);
    assert!(!text.contains("127.0.0.1") && !text.contains("secret-key"));
}

#[tokio::test]
async fn a_host_name_resolving_to_an_allowed_address_is_reached() {
    let ca = TestCa::new();
    let upstream = UpstreamServer::https(&ca).await;
    let (egress, _) = egress(EgressSettings {
        allow_cidrs: vec!["127.0.0.0/8".parse().unwrap(), "::1/128".parse().unwrap()],
        ..settings(&ca)
    });
    let url = format!("https://localhost:{}/named", upstream.port());
    let response = send(&egress, request("GET", &url)).await.unwrap();
    assert_eq!(response.status, 200);
}

#[tokio::test]
async fn an_untrusted_certificate_is_a_tls_error() {
    let ca = TestCa::new();
    let upstream = UpstreamServer::untrusted().await;
    let (egress, registry) = egress(settings(&ca));
    let error = send(&egress, request("GET", &upstream.url("/")))
        .await
        .unwrap_err();
    assert_eq!(error, EgressError::Tls);
    assert_eq!(upstream.request_count(), 0);
    assert_eq!(
        metric(
            &registry,
            "exsvc_egress_requests_total",
            &[("outcome", "tls_error")]
        ),
        1.0
    );
}

#[tokio::test]
async fn a_closed_port_is_connection_refused_after_the_retries() {
    let ca = TestCa::new();
    let (egress, registry) = egress(settings(&ca));
    let url = format!("https://127.0.0.1:{}/", closed_port());
    let error = send(&egress, request("GET", &url)).await.unwrap_err();
    assert_eq!(error, EgressError::ConnectionRefused);
    assert_eq!(
        metric(
            &registry,
            "exsvc_egress_requests_total",
            &[("outcome", "connection_refused")]
        ),
        3.0,
        "1 + 2 retries"
    );
    // A POST is sent once.
    send(&egress, request("POST", &url)).await.unwrap_err();
    assert_eq!(
        metric(
            &registry,
            "exsvc_egress_requests_total",
            &[("outcome", "connection_refused")]
        ),
        4.0
    );
}

#[tokio::test]
async fn an_unresolvable_name_is_a_dns_error() {
    let ca = TestCa::new();
    let (egress, _) = egress(settings(&ca));
    let error = send(&egress, request("GET", "https://no-such-host.invalid/"))
        .await
        .unwrap_err();
    assert_eq!(error, EgressError::Dns);
}

#[tokio::test]
async fn a_hung_upstream_is_a_response_timeout_and_not_retried() {
    let ca = TestCa::new();
    let upstream = UpstreamServer::https(&ca).await;
    upstream.set_default(Reply::hang());
    let (egress, _) = egress(settings(&ca));
    let started = Instant::now();
    let error = send(&egress, request("GET", &upstream.url("/")))
        .await
        .unwrap_err();
    assert_eq!(error, EgressError::ResponseTimeout);
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(upstream.request_count(), 1, "never retried after a timeout");
}

#[tokio::test]
async fn slow_headers_within_the_timeout_are_waited_for() {
    let ca = TestCa::new();
    let upstream = UpstreamServer::https(&ca).await;
    upstream.push(Reply::status(200).after(Duration::from_millis(200)));
    let (egress, _) = egress(settings(&ca));
    let response = send(&egress, request("GET", &upstream.url("/")))
        .await
        .unwrap();
    assert_eq!(response.status, 200);
}

#[tokio::test]
async fn an_idempotent_request_is_retried_after_503s_and_a_post_is_not() {
    let ca = TestCa::new();
    let upstream = UpstreamServer::https(&ca).await;
    let (egress, _) = egress(EgressSettings {
        breaker_failures: 10,
        ..settings(&ca)
    });
    upstream.push_all([
        Reply::status(503),
        Reply::status(503),
        Reply::text(200, "ok"),
    ]);
    let response = send(&egress, request("GET", &upstream.url("/g")))
        .await
        .unwrap();
    assert_eq!(response.status, 200);
    assert_eq!(upstream.request_count(), 3);

    upstream.push_all([
        Reply::status(503),
        Reply::status(503),
        Reply::text(200, "ok"),
    ]);
    let response = send(
        &egress,
        with_body(request("POST", &upstream.url("/p")), "x"),
    )
    .await
    .unwrap();
    assert_eq!(response.status, 503);
    assert_eq!(upstream.request_count(), 4);
}

#[tokio::test]
async fn exhausted_retries_return_the_last_5xx_answer() {
    let ca = TestCa::new();
    let upstream = UpstreamServer::https(&ca).await;
    upstream.set_default(Reply::text(502, "bad gateway").header("x-n", "last"));
    let (egress, _) = egress(EgressSettings {
        breaker_failures: 10,
        ..settings(&ca)
    });
    let response = send(&egress, request("DELETE", &upstream.url("/d")))
        .await
        .unwrap();
    assert_eq!(response.status, 502);
    assert_eq!(body_len(response).await, 11);
    assert_eq!(upstream.request_count(), 3);
}

#[tokio::test]
async fn a_streamed_body_is_sent_once() {
    let ca = TestCa::new();
    let upstream = UpstreamServer::https(&ca).await;
    upstream.set_default(Reply::status(503));
    let (egress, _) = egress(settings(&ca));
    let mut request = request("PUT", &upstream.url("/s"));
    let chunks = futures_util::stream::iter(
        [b"ab".as_slice(), b"cd".as_slice()].map(|c| Ok(bytes::Bytes::from_static(c))),
    );
    request.body = OutboundBody::Stream(Box::pin(chunks));
    let response = send(&egress, request).await.unwrap();
    assert_eq!(response.status, 503);
    assert_eq!(upstream.request_count(), 1);
    assert_eq!(upstream.requests()[0].body_text(), "abcd");
}

#[tokio::test]
async fn retry_after_is_honoured_and_a_long_one_ends_the_retries() {
    let ca = TestCa::new();
    let upstream = UpstreamServer::https(&ca).await;
    let (egress, _) = egress(EgressSettings {
        breaker_failures: 10,
        ..settings(&ca)
    });
    upstream.push_all([
        Reply::status(503).header("retry-after", "1"),
        Reply::status(200),
    ]);
    let started = Instant::now();
    let response = send(&egress, request("GET", &upstream.url("/")))
        .await
        .unwrap();
    assert_eq!(response.status, 200);
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );

    upstream.push_all([
        Reply::status(503).header("retry-after", "6"),
        Reply::status(200),
    ]);
    let started = Instant::now();
    let response = send(&egress, request("GET", &upstream.url("/")))
        .await
        .unwrap();
    assert_eq!(response.status, 503);
    assert_eq!(response.headers["retry-after"], "6");
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(upstream.request_count(), 3);
}

#[tokio::test]
async fn the_breaker_opens_rejects_without_a_connection_and_a_trial_closes_it() {
    let ca = TestCa::new();
    let upstream = UpstreamServer::https(&ca).await;
    let (egress, registry) = egress(EgressSettings {
        retries: 0,
        ..settings(&ca)
    });
    let key = circuit();
    upstream.set_default(Reply::status(500));
    for _ in 0..3 {
        let response = send(&egress, request_on(key.clone(), "GET", &upstream.url("/")))
            .await
            .unwrap();
        assert_eq!(response.status, 500);
    }
    assert!(matches!(
        egress.circuit_state(&key),
        CircuitState::Open { .. }
    ));
    assert_eq!(metric(&registry, "exsvc_egress_open_circuits", &[]), 1.0);
    let connections = upstream.connections();
    let requests = upstream.request_count();
    let error = send(&egress, request_on(key.clone(), "GET", &upstream.url("/")))
        .await
        .unwrap_err();
    let EgressError::CircuitOpen { retry_after } = error else {
        panic!("{error:?}");
    };
    assert!(retry_after <= Duration::from_secs(1) && retry_after > Duration::ZERO);
    assert_eq!(upstream.connections(), connections);
    assert_eq!(upstream.request_count(), requests);
    assert_eq!(
        metric(
            &registry,
            "exsvc_egress_requests_total",
            &[("outcome", "circuit_open")]
        ),
        1.0
    );
    // Another service's circuit is not affected.
    let other = send(&egress, request("GET", &upstream.url("/")))
        .await
        .unwrap();
    assert_eq!(other.status, 500);

    tokio::time::sleep(retry_after + Duration::from_millis(50)).await;
    upstream.set_default(Reply::status(200).after(Duration::from_millis(200)));
    let trial = {
        let egress = egress.clone();
        let request = request_on(key.clone(), "GET", &upstream.url("/"));
        tokio::spawn(async move { send(&egress, request).await.map(|r| r.status) })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    // While the trial runs, the others are still refused.
    let error = send(&egress, request_on(key.clone(), "GET", &upstream.url("/")))
        .await
        .unwrap_err();
    assert!(
        matches!(error, EgressError::CircuitOpen { .. }),
        "{error:?}"
    );
    assert_eq!(trial.await.unwrap().unwrap(), 200);
    assert_eq!(
        egress.circuit_state(&key),
        CircuitState::Closed { failures: 0 }
    );
    assert_eq!(metric(&registry, "exsvc_egress_open_circuits", &[]), 0.0);
    let response = send(&egress, request_on(key, "GET", &upstream.url("/")))
        .await
        .unwrap();
    assert_eq!(response.status, 200);
}

#[tokio::test]
async fn a_failed_trial_opens_the_circuit_again() {
    let ca = TestCa::new();
    let (egress, _) = egress(EgressSettings {
        retries: 0,
        breaker_open: Duration::from_millis(200),
        ..settings(&ca)
    });
    let key = circuit();
    let url = format!("https://127.0.0.1:{}/", closed_port());
    for _ in 0..3 {
        let error = send(&egress, request_on(key.clone(), "GET", &url))
            .await
            .unwrap_err();
        assert_eq!(error, EgressError::ConnectionRefused);
    }
    assert!(matches!(
        send(&egress, request_on(key.clone(), "GET", &url)).await,
        Err(EgressError::CircuitOpen { .. })
    ));
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert_eq!(
        send(&egress, request_on(key.clone(), "GET", &url))
            .await
            .unwrap_err(),
        EgressError::ConnectionRefused
    );
    assert!(matches!(
        egress.circuit_state(&key),
        CircuitState::Open { .. }
    ));
}

#[tokio::test]
async fn denied_requests_do_not_count_for_the_breaker() {
    let (egress, _) = egress(EgressSettings {
        breaker_failures: 1,
        ..EgressSettings::default()
    });
    let key = circuit();
    for _ in 0..3 {
        let error = send(&egress, request_on(key.clone(), "GET", "https://10.0.0.1/"))
            .await
            .unwrap_err();
        assert!(matches!(error, EgressError::Denied { .. }));
    }
    assert_eq!(
        egress.circuit_state(&key),
        CircuitState::Closed { failures: 0 }
    );
}

#[tokio::test]
async fn a_redirect_is_returned_not_followed() {
    let ca = TestCa::new();
    let upstream = UpstreamServer::https(&ca).await;
    upstream.push(Reply::redirect(302, &upstream.url("/elsewhere")));
    let (egress, _) = egress(settings(&ca));
    let response = send(&egress, request("GET", &upstream.url("/start")))
        .await
        .unwrap();
    assert_eq!(response.status, 302);
    assert_eq!(
        response.headers["location"],
        upstream.url("/elsewhere").as_str()
    );
    assert_eq!(upstream.request_count(), 1);
}

#[tokio::test]
async fn a_10_mib_body_streams_through() {
    let ca = TestCa::new();
    let upstream = UpstreamServer::https(&ca).await;
    upstream.push(Reply::stream_mib(10));
    let (egress, _) = egress(settings(&ca));
    let started = Instant::now();
    let response = send(&egress, request("GET", &upstream.url("/big")))
        .await
        .unwrap();
    assert_eq!(response.status, 200);
    // The headers came before the body was made: nothing waited for 10 MiB.
    let mut body = response.body;
    let mut len = 0u64;
    let mut chunks = 0;
    let mut largest = 0;
    while let Some(chunk) = body.next().await {
        let chunk = chunk.unwrap();
        assert!(chunk
            .iter()
            .enumerate()
            .all(|(i, b)| *b == exsvc_testkit_net::stream_byte(len + i as u64)));
        largest = largest.max(chunk.len());
        len += chunk.len() as u64;
        chunks += 1;
    }
    assert_eq!(len, 10 << 20);
    assert!(
        chunks > 10 && largest <= 1 << 20,
        "{chunks} chunks, largest {largest}"
    );
    assert!(started.elapsed() < Duration::from_secs(20));
}

#[tokio::test]
async fn a_bad_ca_file_is_a_setup_error() {
    let registry = prometheus::Registry::new();
    let error = exsvc_egress::Egress::new(
        EgressSettings {
            extra_roots_pem: Some(b"not a pem".to_vec()),
            ..EgressSettings::default()
        },
        &registry,
    )
    .unwrap_err();
    assert!(
        matches!(error, exsvc_egress::EgressSetupError::CaPem(_)),
        "{error}"
    );
}

#[tokio::test]
async fn a_handshake_that_never_ends_is_a_connect_timeout_and_not_retried() {
    // Accepts TCP, never speaks TLS: the connect timeout covers the handshake.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = accepted.clone();
    let server = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            held.push(stream);
        }
    });
    let ca = TestCa::new();
    let (egress, _) = egress(EgressSettings {
        connect_timeout: Duration::from_millis(200),
        retries: 1,
        ..settings(&ca)
    });
    let started = Instant::now();
    let error = send(
        &egress,
        request("GET", &format!("https://127.0.0.1:{port}/")),
    )
    .await
    .unwrap_err();
    assert_eq!(error, EgressError::ConnectTimeout);
    assert_eq!(error.proxy_status_type(), "connection_timeout");
    assert_eq!(
        accepted.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "a timed-out attempt is not retried"
    );
    assert!(started.elapsed() < Duration::from_secs(1));
    server.abort();
}
