//! Requests the HTTP layer refuses, sent over raw sockets to the real binary
//! (docs/api.md §3): each answer carries the envelope with code `BAD_REQUEST`,
//! the right status and an `X-Request-Id`, and none is logged at ERROR.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Test helpers fail the test loudly.

mod support;

use std::time::{Duration, Instant};

use support::{Scratch, Server};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Sends `request` on a fresh connection; everything until the server closes.
async fn exchange(address: &str, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(address).await.unwrap();
    // A server may answer before the whole request is in: keep reading then.
    let _ = stream.write_all(request).await;
    let mut received = Vec::new();
    let mut buffer = [0u8; 8192];
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.read(&mut buffer)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
            Ok(Ok(n)) => received.extend_from_slice(&buffer[..n]),
        }
    }
    String::from_utf8_lossy(&received).into_owned()
}

fn head(request_line: &[u8], headers: &[u8]) -> Vec<u8> {
    // Closed after the answer, so that reading it ends there.
    [
        request_line,
        b"\r\nHost: localhost\r\nConnection: close\r\n",
        headers,
        b"\r\n",
    ]
    .concat()
}

fn cases() -> Vec<(&'static str, Vec<u8>, u16)> {
    let long = "a".repeat(40 * 1024);
    let many: Vec<String> = (0..10_000).map(|i| format!("p{i}=1")).collect();
    let huge = "a".repeat(200 * 1024);
    vec![
        (
            "a 40 KiB URI",
            head(format!("GET /api/v1/services?x={long} HTTP/1.1").as_bytes(), b""),
            414,
        ),
        (
            // Beyond the 64 KiB target the `http` crate holds, within actix's buffer.
            "a 100 KiB URI",
            head(
                format!("GET /api/v1/services?x={} HTTP/1.1", "a".repeat(100 * 1024)).as_bytes(),
                b"",
            ),
            414,
        ),
        (
            "a 40 KiB header",
            head(
                b"GET /api/v1/services HTTP/1.1",
                format!("X-Big: {long}\r\n").as_bytes(),
            ),
            431,
        ),
        (
            "a 200 KiB header (beyond actix's own buffer)",
            head(
                b"GET /api/v1/services HTTP/1.1",
                format!("X-Big: {huge}\r\n").as_bytes(),
            ),
            431,
        ),
        (
            "a 200 KiB request line",
            head(format!("GET /{huge} HTTP/1.1").as_bytes(), b""),
            414,
        ),
        (
            // 40 KiB: the count is refused, as it is checked before the length.
            "10,000 query parameters",
            head(
                format!("GET /api/v1/services?{} HTTP/1.1", vec!["a=1"; 10_000].join("&"))
                    .as_bytes(),
                b"",
            ),
            400,
        ),
        (
            // 78 KiB of them: beyond what the `http` crate holds, so too long.
            "10,000 longer query parameters",
            head(
                format!("GET /api/v1/services?{} HTTP/1.1", many.join("&")).as_bytes(),
                b"",
            ),
            414,
        ),
        (
            "101 query parameters",
            head(
                format!("GET /api/v1/services?{} HTTP/1.1", many[..101].join("&")).as_bytes(),
                b"",
            ),
            400,
        ),
        (
            "Content-Length: -1",
            head(
                b"POST /api/v1/services HTTP/1.1",
                b"Content-Type: application/json\r\nContent-Length: -1\r\n",
            ),
            400,
        ),
        (
            "both Content-Length and Transfer-Encoding",
            [
                head(
                    b"POST /api/v1/services HTTP/1.1",
                    b"Content-Type: application/json\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n",
                ),
                b"2\r\n{}\r\n0\r\n\r\n".to_vec(),
            ]
            .concat(),
            400,
        ),
        (
            "a percent-encoded non-UTF-8 path",
            head(b"GET /api/v1/services/%FF HTTP/1.1", b""),
            400,
        ),
        (
            "raw non-UTF-8 bytes in the path",
            head(b"GET /api/v1/services/\xff\xfe HTTP/1.1", b""),
            400,
        ),
        (
            "a bad request line",
            b"THIS IS NOT HTTP\r\n\r\n".to_vec(),
            400,
        ),
        (
            "97 headers (beyond actix's own count)",
            head(
                b"GET /api/v1/services HTTP/1.1",
                (0..97)
                    .map(|i| format!("X-H{i}: v\r\n"))
                    .collect::<String>()
                    .as_bytes(),
            ),
            431,
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_requests_get_the_envelope_and_a_request_id_and_no_error_log() {
    let dir = Scratch::new("exsvc-malformed");
    let server = Server::start(&dir.0, &[]).await;
    let address = server.base.trim_start_matches("http://").to_owned();
    let mut failures = Vec::new();
    for (name, request, status) in cases() {
        let answer = exchange(&address, &request).await;
        let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
        let lower = head.to_ascii_lowercase();
        let envelope: Option<serde_json::Value> = serde_json::from_str(body).ok();
        let ok = head.starts_with(&format!("HTTP/1.1 {status} "))
            && lower.contains("\r\nx-request-id: ")
            && lower.contains("\r\ncontent-type: application/json")
            && envelope.as_ref().is_some_and(|e| {
                e["error"]["code"] == "BAD_REQUEST"
                    && e["error"]["message"].is_string()
                    && e["error"]["details"].is_object()
            });
        if !ok {
            failures.push(format!(
                "{name}: expected {status} with the envelope, got {answer:?}"
            ));
        }
    }

    // A request on a connection before a malformed one is still answered, and
    // the malformed one after it too.
    let pipelined = [
        b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n".to_vec(),
        head(b"POST /api/v1/services HTTP/1.1", b"Content-Length: -1\r\n"),
    ]
    .concat();
    let answer = exchange(&address, &pipelined).await;
    if !(answer.starts_with("HTTP/1.1 200 ")
        && answer.matches("HTTP/1.1 ").count() == 2
        && answer.contains("HTTP/1.1 400 ")
        && answer.contains("\"BAD_REQUEST\""))
    {
        failures.push(format!("pipelined: {answer:?}"));
    }

    // A refusal of an authenticated request spends the tenant's budget, and
    // says so in the rate-limit headers like any other answer (docs/api.md §5).
    let token = server.dev_token();
    let many: Vec<String> = (0..101).map(|i| format!("p{i}=1")).collect();
    let answer = exchange(
        &address,
        &head(
            format!("GET /api/v1/services?{} HTTP/1.1", many.join("&")).as_bytes(),
            format!("Authorization: Bearer {token}\r\n").as_bytes(),
        ),
    )
    .await;
    let lower = answer.to_ascii_lowercase();
    if !(answer.starts_with("HTTP/1.1 400 ")
        && lower.contains("\r\nx-ratelimit-remaining: ")
        && lower.contains("\r\nratelimit-policy: "))
    {
        failures.push(format!(
            "an authenticated refusal carries the rate-limit headers: {answer:?}"
        ));
    }

    // The server still serves.
    let health = reqwest::get(server.url("/healthz")).await.unwrap();
    assert_eq!(health.status(), 200);

    tokio::time::sleep(Duration::from_millis(300)).await;
    let logs = server.logs();
    let errors: Vec<&str> = logs
        .lines()
        .filter(|l| l.contains("\"level\":\"ERROR\"") || l.contains(" ERROR "))
        .collect();
    if !errors.is_empty() {
        failures.push(format!("ERROR lines in the log: {errors:#?}"));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
