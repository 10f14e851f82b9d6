//! The proxy as deployed (docs/api.md §10.2): the real binary, its egress
//! settings from the environment, a local HTTPS upstream. A 10 MiB body each
//! way passes without the server holding it, and a canary secret reaches no
//! answer, log line or metric, even at debug level.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Test helpers fail the test loudly.

mod support;

use exsvc_testkit::net::{stream_byte, Reply, TestCa, UpstreamServer};
use futures_util::StreamExt;
use reqwest::Client;
use serde_json::{json, Value};
use support::{Scratch, Server};

const CANARY: &str = "CANARY-stream-41f0c2-secret";
const TEN_MIB: usize = 10 << 20;

/// The server's resident memory, peak and now, in KiB (/proc/PID/status).
fn memory_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .unwrap()
    };
    (field("VmHWM:"), field("VmRSS:"))
}

#[tokio::test]
async fn ten_mib_each_way_passes_without_the_server_holding_it() {
    let scratch = Scratch::new("proxy-stream");
    let ca = TestCa::new();
    let ca_file = scratch.0.join("egress-ca.pem");
    ca.write_pem(&ca_file);
    let upstream = UpstreamServer::https(&ca).await;
    let server = Server::start(
        &scratch.0,
        &[
            ("EXSVC_EGRESS_ALLOW_CIDRS", "127.0.0.0/8"),
            ("EXSVC_EGRESS_CA_FILE", ca_file.to_str().unwrap()),
            ("EXSVC_LOG", "debug"),
        ],
    )
    .await;
    let token = server.dev_token();
    let http = Client::new();
    let service: Value = http
        .post(server.url("/api/v1/services"))
        .bearer_auth(&token)
        .json(
            &json!({"name": "blobs", "type": "storage", "base_url": upstream.base_url(),
            "auth_type": "api_key", "credentials": {"key": CANARY, "query_param": "key"}}),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = service["id"].as_str().unwrap();
    let proxy = |path: &str| server.url(&format!("/api/v1/services/{id}/proxy/{path}"));
    // Warm up: the first request sets up pools and TLS.
    assert_eq!(
        http.get(proxy("warm"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let pid = server.pid();
    let (peak_before, _) = memory_kib(pid);

    let upload = vec![b'u'; TEN_MIB];
    let answer = http
        .put(proxy("up"))
        .bearer_auth(&token)
        .body(upload)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    assert_eq!(upstream.requests().last().unwrap().body_len, TEN_MIB as u64);

    upstream.push(Reply::stream_mib(10));
    let answer = http
        .get(proxy("down"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    let mut received = 0usize;
    let mut stream = answer.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.unwrap();
        for (k, byte) in chunk.iter().enumerate() {
            assert_eq!(*byte, stream_byte((received + k) as u64));
        }
        received += chunk.len();
    }
    assert_eq!(received, TEN_MIB);

    let (peak_after, _) = memory_kib(pid);
    let growth_mib = (peak_after.saturating_sub(peak_before)) as f64 / 1024.0;
    eprintln!(
        "peak memory: {peak_before} KiB before, {peak_after} KiB after ({growth_mib:.1} MiB)"
    );
    assert!(
        growth_mib < 5.0,
        "the server's peak memory grew by {growth_mib:.1} MiB for 10 MiB each way"
    );

    // The key went in the query, and nowhere it could be read back.
    let seen = upstream.requests();
    assert!(seen
        .iter()
        .all(|r| r.target.contains(&format!("key={CANARY}"))));
    let metrics = http
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!metrics.contains(CANARY));
    let audit = http
        .get(server.url("/api/v1/audit-events"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!audit.contains(CANARY));
    let exited = server.stop().await;
    let logs = exited.output();
    assert!(
        logs.contains("\"method\""),
        "the log has request lines: {logs}"
    );
    assert!(!logs.contains(CANARY), "the secret reached the log");
}
