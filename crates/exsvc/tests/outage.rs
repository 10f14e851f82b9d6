//! docs/api.md §9, database unreachable: the real binary on a PostgreSQL cluster of
//! the test's own, which the test stops and starts under it. Routes that need
//! the database answer 503 with `Retry-After` in bounded time, the others keep
//! working, and the service recovers by itself.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Test helpers fail the test loudly.

mod support;

use std::time::{Duration, Instant};

use exsvc_testkit::tokens::{admin, TEST_SECRET};
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};
use support::{Cluster, Scratch, Server};

const DB_TIMEOUT_MS: u64 = 1000;
/// docs/api.md §9: a 503 comes within `EXSVC_DB_TIMEOUT_MS` plus one second.
const ANSWER_WITHIN: Duration = Duration::from_millis(DB_TIMEOUT_MS + 1000);

async fn serve_on(cluster: &Cluster, dir: &Scratch) -> Server {
    let url = cluster.url();
    let timeout = DB_TIMEOUT_MS.to_string();
    Server::start(
        &dir.0,
        &[
            ("EXSVC_DATABASE_URL", url.as_str()),
            ("EXSVC_DB_TIMEOUT_MS", timeout.as_str()),
            ("EXSVC_DB_POOL_SIZE", "4"),
            ("EXSVC_JWT_SECRET", TEST_SECRET),
            ("EXSVC_RATE_LIMIT_PER_MINUTE", "1000000"),
        ],
    )
    .await
}

fn create_body(name: &str) -> Value {
    json!({"name": name, "type": "payment", "base_url": "https://api.example.com"})
}

async fn create(client: &Client, server: &Server, token: &str, name: &str) -> String {
    let response = client
        .post(server.url("/api/v1/services"))
        .bearer_auth(token)
        .json(&create_body(name))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    response.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// `n` GETs of `path` at once, so the pool opens several connections; returns
/// their statuses.
async fn burst(client: &Client, server: &Server, token: &str, path: &str, n: usize) -> Vec<u16> {
    let requests = (0..n).map(|_| client.get(server.url(path)).bearer_auth(token).send());
    futures_util::future::join_all(requests)
        .await
        .into_iter()
        .map(|r| r.unwrap().status().as_u16())
        .collect()
}

/// Sends `request`, asserts 503 `SERVICE_UNAVAILABLE` with `Retry-After` within
/// the bound, and returns how long it took.
async fn assert_unavailable(what: &str, request: reqwest::RequestBuilder) -> Duration {
    let started = Instant::now();
    let response = request.send().await.unwrap();
    let elapsed = started.elapsed();
    let status = response.status();
    let retry_after = response.headers().get("retry-after").cloned();
    let body = response.text().await.unwrap();
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{what}: {body}");
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["error"]["code"], "SERVICE_UNAVAILABLE", "{what}");
    let retry_after: u64 = retry_after
        .unwrap_or_else(|| panic!("{what}: no Retry-After"))
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry_after >= 1, "{what}");
    assert!(
        elapsed <= ANSWER_WITHIN,
        "{what} took {elapsed:?}, more than {ANSWER_WITHIN:?}"
    );
    elapsed
}

async fn wait_ready(client: &Client, server: &Server, within: Duration) -> Duration {
    let started = Instant::now();
    loop {
        let ready = client.get(server.url("/readyz")).send().await.unwrap();
        if ready.status() == StatusCode::OK {
            return started.elapsed();
        }
        assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(
            started.elapsed() < within,
            "not ready {within:?} after the database came back"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The database stops (every connection killed, new ones refused) while the
/// service runs with idle connections in its pool: every route that needs it
/// answers 503 in bounded time, the rest keep working; when it is back the
/// service resumes without a restart and nothing stored is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_down_then_back_503_then_recovery() {
    let cluster = Cluster::start();
    let dir = Scratch::new("exsvc-outage");
    let server = serve_on(&cluster, &dir).await;
    let client = Client::new();
    let token = admin("acme");
    let id = create(&client, &server, &token, "Stripe").await;
    let path = format!("/api/v1/services/{id}");
    assert!(burst(&client, &server, &token, &path, 8)
        .await
        .iter()
        .all(|s| *s == 200));

    cluster.down("immediate");
    // A token is verified without the database; the caller's role bindings
    // come from the replica's copy, trusted for 1.5 s after its last poll
    // (docs/operations.md), so this is asked first, within that window.
    let whoami = client
        .get(server.url("/debug/auth"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        whoami.status(),
        StatusCode::OK,
        "authentication needs no database"
    );

    // Twice each: first on the pool's dead connections, then on refused new ones.
    for round in 0..2 {
        assert_unavailable(
            &format!("GET by id, round {round}"),
            client.get(server.url(&path)).bearer_auth(&token),
        )
        .await;
        assert_unavailable(
            &format!("list, round {round}"),
            client
                .get(server.url("/api/v1/services"))
                .bearer_auth(&token),
        )
        .await;
        assert_unavailable(
            &format!("POST, round {round}"),
            client
                .post(server.url("/api/v1/services"))
                .bearer_auth(&token)
                .json(&create_body(&format!("During outage {round}"))),
        )
        .await;
        assert_unavailable(
            &format!("PATCH, round {round}"),
            client
                .patch(server.url(&path))
                .bearer_auth(&token)
                .json(&json!({"description": "lost"})),
        )
        .await;
        assert_unavailable(
            &format!("/readyz, round {round}"),
            client.get(server.url("/readyz")),
        )
        .await;
    }
    // Many at once: each still answers in bounded time.
    let started = Instant::now();
    let statuses = burst(&client, &server, &token, &path, 16).await;
    assert!(statuses.iter().all(|s| *s == 503), "{statuses:?}");
    assert!(
        started.elapsed() <= ANSWER_WITHIN,
        "{:?}",
        started.elapsed()
    );
    // What does not need the database keeps working.
    for route in ["/healthz", "/api-docs/openapi.json", "/metrics"] {
        let response = client.get(server.url(route)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{route}");
    }

    cluster.up();
    wait_ready(&client, &server, Duration::from_secs(15)).await;
    let got = client
        .get(server.url(&path))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(got.status(), StatusCode::OK);
    let got: Value = got.json().await.unwrap();
    assert_eq!(got["name"], "Stripe");
    assert_eq!(
        got["description"], "",
        "the PATCH answered 503 changed nothing"
    );
    create(&client, &server, &token, "After the outage").await;
    let statuses = burst(&client, &server, &token, &path, 8).await;
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    let listed: Value = client
        .get(server.url("/api/v1/services"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let names: Vec<&str> = listed["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["After the outage", "Stripe"],
        "no POST answered 503 was stored"
    );

    let exited = server.stop().await;
    let (status, logs) = (exited.status, exited.output());
    assert_eq!(status.code(), Some(0), "{logs}");
    assert!(!logs.contains("panicked"), "{logs}");
}

/// The database restarts between two requests: the pool's idle connections are
/// all dead, and nobody has asked since. The next requests must not fail with a
/// 500 (nor a 503): a dead idle connection is thrown away, not used.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_pooled_connections_killed_by_a_restart_are_replaced() {
    let cluster = Cluster::start();
    let dir = Scratch::new("exsvc-outage");
    let server = serve_on(&cluster, &dir).await;
    let client = Client::new();
    let token = admin("acme");
    let id = create(&client, &server, &token, "Stripe").await;
    let path = format!("/api/v1/services/{id}");
    assert!(burst(&client, &server, &token, &path, 8)
        .await
        .iter()
        .all(|s| *s == 200));

    cluster.down("immediate");
    cluster.up();

    let statuses = burst(&client, &server, &token, &path, 8).await;
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    create(&client, &server, &token, "After the restart").await;
    let patched = client
        .patch(server.url(&path))
        .bearer_auth(&token)
        .json(&json!({"description": "after"}))
        .send()
        .await
        .unwrap();
    assert_eq!(patched.status(), StatusCode::OK);

    let exited = server.stop().await;
    let (status, logs) = (exited.status, exited.output());
    assert_eq!(status.code(), Some(0), "{logs}");
}

/// A fast stop ends every session, and the server says why on the queries in
/// flight ("terminating connection due to administrator command", an error
/// diesel has no kind for): those requests answer 503 like the rest of the
/// outage, never 500, and the service recovers when the database is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queries_in_flight_when_the_database_shuts_down_answer_503_not_500() {
    let cluster = Cluster::start();
    let dir = Scratch::new("exsvc-outage");
    let server = serve_on(&cluster, &dir).await;
    let client = Client::new();
    let token = admin("acme");
    let id = create(&client, &server, &token, "Stripe").await;
    let path = format!("/api/v1/services/{id}");
    // A fast stop this time (the server ends every session, telling the client
    // why) while queries are in flight on several connections.
    let loops: Vec<_> = (0..4)
        .map(|_| {
            let client = client.clone();
            let token = token.clone();
            let url = server.url(&path);
            tokio::spawn(async move {
                let mut statuses = Vec::new();
                let started = Instant::now();
                while started.elapsed() < Duration::from_secs(6) {
                    let response = client.get(&url).bearer_auth(&token).send().await.unwrap();
                    statuses.push(response.status().as_u16());
                }
                statuses
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    cluster.down("fast");
    tokio::time::sleep(Duration::from_millis(1000)).await;
    cluster.up();
    let mut outage_seen = false;
    for statuses in futures_util::future::join_all(loops).await {
        let statuses = statuses.unwrap();
        let summary = runs(&statuses);
        assert!(
            statuses.iter().all(|s| *s == 200 || *s == 503),
            "only 200 or 503 across a restart: {summary}; the log says: {}",
            errors_logged(&server)
        );
        assert_eq!(statuses.last(), Some(&200), "recovered: {summary}");
        outage_seen |= statuses.contains(&503);
    }
    assert!(outage_seen, "the outage was seen");

    let exited = server.stop().await;
    let (status, logs) = (exited.status, exited.output());
    assert_eq!(status.code(), Some(0), "{logs}");
}

/// The database hangs (its processes stopped): the pool's connections stay
/// open and new ones are accepted by the kernel, but nothing answers. This is
/// where the timeout does the work: each request answers 503 within
/// `EXSVC_DB_TIMEOUT_MS` + 1 s, never hangs; after the thaw the service
/// resumes by itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_database_answers_503_within_the_timeout_then_recovers() {
    let cluster = Cluster::start();
    let dir = Scratch::new("exsvc-outage");
    let server = serve_on(&cluster, &dir).await;
    let client = Client::new();
    let token = admin("acme");
    let id = create(&client, &server, &token, "Stripe").await;
    let path = format!("/api/v1/services/{id}");
    assert!(burst(&client, &server, &token, &path, 8)
        .await
        .iter()
        .all(|s| *s == 200));

    cluster.freeze();
    let mut slowest = Duration::ZERO;
    for round in 0..2 {
        for (what, request) in [
            (
                "GET by id",
                client.get(server.url(&path)).bearer_auth(&token),
            ),
            (
                "POST",
                client
                    .post(server.url("/api/v1/services"))
                    .bearer_auth(&token)
                    .json(&create_body(&format!("Hung {round}"))),
            ),
            ("/readyz", client.get(server.url("/readyz"))),
        ] {
            let elapsed = assert_unavailable(&format!("{what}, round {round}"), request).await;
            slowest = slowest.max(elapsed);
        }
    }
    // Waiting is what the timeout is for: the answers did wait for it.
    assert!(
        slowest >= Duration::from_millis(DB_TIMEOUT_MS / 2),
        "a hung database was noticed in {slowest:?}: not a timeout"
    );
    let started = Instant::now();
    let statuses = burst(&client, &server, &token, &path, 12).await;
    assert!(statuses.iter().all(|s| *s == 503), "{statuses:?}");
    assert!(
        started.elapsed() <= ANSWER_WITHIN,
        "{:?}",
        started.elapsed()
    );
    for route in ["/healthz", "/api-docs/openapi.json"] {
        let started = Instant::now();
        let response = client.get(server.url(route)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{route}");
        assert!(started.elapsed() < Duration::from_millis(500), "{route}");
    }

    cluster.thaw();
    wait_ready(&client, &server, Duration::from_secs(15)).await;
    let statuses = burst(&client, &server, &token, &path, 8).await;
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    create(&client, &server, &token, "After the thaw").await;
    let exited = server.stop().await;
    let (status, logs) = (exited.status, exited.output());
    assert_eq!(status.code(), Some(0), "{logs}");
    assert!(
        !logs.contains("\"status\":500"),
        "{}",
        errors_logged_in(&logs)
    );
}

/// Statuses as runs: "200×312, 503×20, 200×400".
fn runs(statuses: &[u16]) -> String {
    let mut out: Vec<(u16, usize)> = Vec::new();
    for status in statuses {
        match out.last_mut() {
            Some((last, n)) if last == status => *n += 1,
            _ => out.push((*status, 1)),
        }
    }
    out.iter()
        .map(|(s, n)| format!("{s}×{n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn errors_logged(server: &Server) -> String {
    errors_logged_in(&server.logs())
}

fn errors_logged_in(logs: &str) -> String {
    logs.lines()
        .filter(|l| l.contains("ERROR") || l.contains("\"status\":500"))
        .collect::<Vec<_>>()
        .join("\n")
}
