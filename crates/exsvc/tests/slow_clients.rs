//! Slow and many clients against the real binary (docs/api.md §9): a body that
//! stops arriving is answered 408 and its connection closed, and neither slow
//! clients nor more connections than the file limit allows take the server down.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Test helpers fail the test loudly.

mod support;

use std::time::{Duration, Instant};

use support::{Scratch, Server};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const SLOW_CLIENTS: usize = 20;

/// Everything the server sends until it closes, or what came within `limit`.
async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> (String, bool) {
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    let deadline = Instant::now() + limit;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.read(&mut buffer)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return (String::from_utf8_lossy(&received).into(), true),
            Ok(Ok(n)) => received.extend_from_slice(&buffer[..n]),
            Err(_) => return (String::from_utf8_lossy(&received).into(), false),
        }
    }
}

async fn healthz(server: &Server) -> reqwest::StatusCode {
    reqwest::Client::new()
        .get(server.url("/healthz"))
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .expect("/healthz answers")
        .status()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_stops_arriving_is_408_and_the_connection_closed() {
    let dir = Scratch::new("exsvc-slow");
    let server = Server::start_with(
        &dir.0,
        &[
            ("EXSVC_BODY_TIMEOUT_MS", "1000"),
            ("EXSVC_MAX_CONNECTIONS", "60"),
        ],
        Some(128),
    )
    .await;
    let token = server.dev_token();
    let address = server.base.trim_start_matches("http://").to_owned();
    let started = Instant::now();
    let mut slow = Vec::new();
    for _ in 0..SLOW_CLIENTS {
        let mut stream = TcpStream::connect(&address).await.unwrap();
        let head = format!(
            "POST /api/v1/services HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {token}\r\n\
             Content-Type: application/json\r\nContent-Length: 60000\r\n\r\n{{"
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        slow.push(stream);
    }
    // While they hang, the server serves others.
    assert_eq!(healthz(&server).await, 200);
    for stream in &mut slow {
        let (answer, closed) = read_until_closed(stream, Duration::from_secs(10)).await;
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
        assert!(answer.contains("REQUEST_TIMEOUT"), "{answer}");
        assert!(
            answer.to_ascii_lowercase().contains("x-request-id"),
            "{answer}"
        );
        assert!(closed, "the connection is closed after the 408");
    }
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "answered within the body timeout, not the client's patience: {:?}",
        started.elapsed()
    );

    // A chunked body that stops, sent without a token (answered 401 at once,
    // then actix would go on reading it forever), and a second head dribbled
    // on a kept-alive connection (actix times only the first head): both
    // connections are closed within the message timeout.
    let mut chunked = TcpStream::connect(&address).await.unwrap();
    chunked
        .write_all(
            format!(
                "POST /api/v1/services HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\n\
                 Transfer-Encoding: chunked\r\n\r\n5\r\n{{\"a\":"
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    let mut second = TcpStream::connect(&address).await.unwrap();
    second
        .write_all(format!("GET /healthz HTTP/1.1\r\nHost: {address}\r\n\r\nGET /heal").as_bytes())
        .await
        .unwrap();
    let (answer, closed) = read_until_closed(&mut chunked, Duration::from_secs(15)).await;
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    assert!(closed, "the stalled chunked body's connection is closed");
    let (answer, closed) = read_until_closed(&mut second, Duration::from_secs(15)).await;
    assert!(
        answer.starts_with("HTTP/1.1 200"),
        "the first request is answered: {answer}"
    );
    assert!(closed, "the stalled second head's connection is closed");

    // More connections than the file limit (128) allows: the surplus waits for
    // a free slot instead of failing with EMFILE; the server lives on.
    let mut idle = Vec::new();
    for _ in 0..200 {
        if let Ok(Ok(stream)) =
            tokio::time::timeout(Duration::from_millis(200), TcpStream::connect(&address)).await
        {
            idle.push(stream);
        }
    }
    drop(idle);
    assert_eq!(healthz(&server).await, 200);
    let logs = server.stop().await;
    assert_eq!(logs.status.code(), Some(0), "{}", logs.output());
    assert!(
        !logs.output().contains("Too many open files"),
        "{}",
        logs.output()
    );
}
